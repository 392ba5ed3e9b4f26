// scripts/bench wallclock: round trips over loopback to the production edge build in plain workerd (no
// wrangler proxy), p50/p90/p99 per request, beside a node-jose verification endpoint in the same workerd
// binary and beside the same edge under `wrangler dev`. One request at a time, targets interleaved request
// by request so that the machine's drift hits all alike. Nothing here asserts a time.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startOrigin, startEdge, newPrivateJwk, getToken, root } from '../blackbox/harness.mjs';
import { startEdgeInWorkerd, startScriptInWorkerd } from '../blackbox/workerd.mjs';
import { pct } from './stats.mjs';

const N = Number(process.env.BENCH_REQUESTS ?? 3000);
const AUDIENCE = 'https://api.tessera.test';
const SCHEMA = 'definition client {}\ndefinition doc {\n    relation viewer: client\n    permission view = viewer\n}\n';

const origin = await startOrigin();
const stops = [() => origin.stop()];
const tmp = mkdtempSync(join(tmpdir(), 'tessera-wallclock-'));
try {
  const admin = (path, method, body) => fetch(`${origin.url}/v1/tenants/bench${path}`, {
    method, headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' }, body,
  });
  if ((await admin('/schema', 'PUT', SCHEMA)).status !== 200) throw new Error('schema refused');
  const client = await origin.createClient({ tenant: 'bench', scopes: ['authz:check'] });
  const write = await admin('/relationships/write', 'POST', JSON.stringify({
    updates: [{ operation: 'create', relationship: `doc:plan#viewer@client:${client.client_id}` }],
  }));
  if (write.status !== 200) throw new Error(`write refused: ${await write.text()}`);

  const jwk = newPrivateJwk();
  // Audit off: the events' delivery runs after the answer, and without a Queue binding it would go
  // straight to the origin from this same isolate.
  const plain = await startEdgeInWorkerd({ origin, bootstrapJwk: jwk, vars: { AUDIT: 'off' } });
  stops.push(() => plain.stop());
  const proxied = await startEdge({ origin, bootstrapJwk: jwk, vars: { AUDIT: 'off' } });
  stops.push(() => proxied.stop());
  const bundle = join(tmp, 'jose-endpoint.js');
  execFileSync(join(root, 'node_modules', '.bin', 'esbuild'), [join(root, 'tests', 'bench', 'jose-endpoint.mjs'),
    '--bundle', '--format=esm', '--platform=neutral', '--main-fields=module,main', `--outfile=${bundle}`, '--log-level=warning']);
  const peer = await startScriptInWorkerd({
    modulePath: bundle,
    text: { JWK: JSON.stringify({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }), ISSUER: plain.issuer, AUDIENCE },
  });
  stops.push(() => peer.stop());

  // Fresh tokens, each verified once by the edge and once by the peer: a full verification every time.
  const tokens = [];
  for (let i = 0; i < N; i++) tokens.push((await getToken(plain, client)).access_token);
  const checkToken = (await getToken(plain, client)).access_token;
  const memoToken = tokens[0];
  // The other edge has another issuer (its own port): its tokens come from itself.
  const proxiedToken = (await getToken(proxied, client)).access_token;

  const post = (url, body, token) => fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const check = { resource: 'doc:plan', permission: 'view', subject: `client:${client.client_id}` };
  const targets = [
    { name: 'plain workerd: edge `GET /healthz` (no work)', go: () => fetch(`${plain.url}/healthz`) },
    { name: 'plain workerd: edge `/v1/tokens/verify`, a new token each time (full verify)', go: (i) => post(`${plain.url}/v1/tokens/verify`, { token: tokens[i] }) },
    { name: 'plain workerd: node jose endpoint, the same new tokens (full verify)', go: (i) => post(peer.url, { token: tokens[i] }) },
    { name: 'plain workerd: edge `/v1/tokens/verify`, one token again (memoised)', go: () => post(`${plain.url}/v1/tokens/verify`, { token: memoToken }) },
    { name: 'plain workerd: edge `/v1/check`, isolate hit', go: () => post(`${plain.url}/v1/check`, check, checkToken) },
    { name: 'wrangler dev: edge `/v1/tokens/verify`, one token again (memoised)', go: () => post(`${proxied.url}/v1/tokens/verify`, { token: proxiedToken }) },
    { name: 'wrangler dev: edge `/v1/check`, isolate hit', go: () => post(`${proxied.url}/v1/check`, check, proxiedToken) },
  ];
  const expectOk = async (t, r) => {
    const body = await r.text();
    if (r.status !== 200) throw new Error(`${t.name}: ${r.status} ${body}`);
    if (body.startsWith('{')) {
      const j = JSON.parse(body);
      if (j.valid === false || j.allowed === false) throw new Error(`${t.name}: ${body}`);
    }
  };
  // Warm up: JIT, the key ring, the first check through the origin into the isolate's memory.
  for (const t of targets) for (let i = 0; i < 50; i++) await expectOk(t, await t.go(N - 1 - i));
  const times = targets.map(() => []);
  for (let i = 0; i < N - 50; i++) {
    for (const [j, t] of targets.entries()) {
      const t0 = performance.now();
      const r = await t.go(i);
      await expectOk(t, r);
      times[j].push(performance.now() - t0);
    }
  }
  const jose = pct(times[2], 50);
  console.log(`\n${N - 50} requests per target, one at a time over loopback, interleaved (ms):\n`);
  console.log('| request | p50 | p90 | p99 | p50 ÷ jose endpoint |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [j, t] of targets.entries()) {
    const f = (p) => pct(times[j], p).toFixed(3);
    console.log(`| ${t.name} | ${f(50)} | ${f(90)} | ${f(99)} | ${(pct(times[j], 50) / jose).toFixed(2)}× |`);
  }
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
}
