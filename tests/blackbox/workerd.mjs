// The edge Worker in plain workerd (npm `workerd`, the runtime Cloudflare runs in production), without
// wrangler or miniflare: a workerd config written here binds what wrangler.toml declares. The Durable
// Objects keep their SQLite storage on disk; each KV namespace is a small in-memory KV service (the
// protocol workerd speaks to a KV binding: GET/PUT/DELETE on the key, GET / to list). No Queue is bound, so
// the edge sends audit events to the origin itself (its documented fallback). Used by the wall-clock
// benchmark (tests/bench/edge_wallclock.mjs), where wrangler's local proxy would add its own milliseconds.
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { root, freePort, spawnLogged, waitFor, edgeVars } from './harness.mjs';

const workerdBin = join(root, 'node_modules', 'workerd', 'bin', 'workerd');

/** Must match wrangler.toml's `[[kv_namespaces]]` and `[durable_objects]`. */
const KV_BINDINGS = ['CLIENTS', 'DECISIONS'];
const DURABLE_OBJECTS = { KEY_RING: 'KeyRingObject', TENANT_HEAD: 'TenantHeadObject', CEREMONIES: 'CeremonyObject' };

// The KV service: values (with their expiry) in a Map. Keys arrive URL-encoded in the path.
const KV_SERVICE = `
const store = new Map();
const live = (key) => {
  const e = store.get(key);
  if (e && e.expires !== null && e.expires <= Date.now()) { store.delete(key); return undefined; }
  return e;
};
export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    if (request.method === 'GET' && key === '') {
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Number(url.searchParams.get('key_count_limit') ?? 1000);
      const names = [...store.keys()].filter((k) => k.startsWith(prefix) && live(k)).sort().slice(0, limit);
      return Response.json({ keys: names.map((name) => ({ name })), list_complete: true });
    }
    if (request.method === 'GET') {
      const e = live(key);
      return e ? new Response(e.value) : new Response(null, { status: 404 });
    }
    if (request.method === 'PUT') {
      const ttl = url.searchParams.get('expiration_ttl');
      const at = url.searchParams.get('expiration');
      const expires = ttl ? Date.now() + Number(ttl) * 1000 : at ? Number(at) * 1000 : null;
      store.set(key, { value: await request.arrayBuffer(), expires });
      return new Response(null);
    }
    if (request.method === 'DELETE') {
      store.delete(key);
      return new Response(null);
    }
    return new Response('unsupported KV operation', { status: 400 });
  },
};
`;

const capnpString = (s) => JSON.stringify(String(s));

/**
 * Starts the edge build `build` (a directory under edge/, as for `startEdge`) in plain workerd against
 * `origin`, on a free loopback port; resolves once `/healthz` answers 200. `stop()` ends workerd and
 * removes its state. `inspectorPort` opens V8's inspector there (for CPU profiles of the isolate).
 */
export async function startEdgeInWorkerd({ origin, vars = {}, bootstrapJwk, build = 'build', inspectorPort } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-workerd-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const adminToken = randomBytes(24).toString('base64url');
  const text = {
    ...edgeVars({ issuer, origin, vars }),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
    ORIGIN_SERVICE_TOKEN: origin.serviceToken,
    ADMIN_TOKEN: adminToken,
  };
  let proc;
  // The config holds this run's secrets: whatever fails below, the directory goes.
  try {
    if (bootstrapJwk) text.BOOTSTRAP_SIGNING_KEY = JSON.stringify(bootstrapJwk);
    writeFileSync(join(dir, 'kv.js'), KV_SERVICE);
    mkdirSync(join(dir, 'durable-objects'));
    // workerd embeds files from beside its config only.
    const edgeDir = join(root, 'edge', build);
    for (const f of ['index.js', 'index_bg.wasm']) copyFileSync(join(edgeDir, f), join(dir, f));
    const bindings = [
      ...Object.entries(text).map(([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`),
      ...KV_BINDINGS.map((name) => `(name = ${capnpString(name)}, kvNamespace = "kv-${name.toLowerCase()}")`),
      ...Object.entries(DURABLE_OBJECTS).map(([name, cls]) => `(name = ${capnpString(name)}, durableObjectNamespace = ${capnpString(cls)})`),
    ];
    const kvServices = KV_BINDINGS.map((name) => `(name = "kv-${name.toLowerCase()}", worker = (
        modules = [(name = "kv.js", esModule = embed "kv.js")],
        compatibilityDate = "2026-07-01"))`);
    const config = `using Workerd = import "/workerd/workerd.capnp";
  const config :Workerd.Config = (
    services = [
      (name = "edge", worker = .edge),
      (name = "do-storage", disk = (path = ${capnpString(join(dir, 'durable-objects'))}, writable = true)),
      (name = "internet", network = (allow = ["public", "private", "local"])),
      ${kvServices.join(',\n    ')},
    ],
    sockets = [(name = "http", address = ${capnpString(`127.0.0.1:${port}`)}, http = (), service = "edge")],
  );
  const edge :Workerd.Worker = (
    modules = [
      (name = "index.js", esModule = embed "index.js"),
      (name = "index_bg.wasm", wasm = embed "index_bg.wasm"),
    ],
    compatibilityDate = "2026-07-01",
    bindings = [
      ${bindings.join(',\n    ')},
    ],
    durableObjectNamespaces = [
      ${Object.values(DURABLE_OBJECTS).map((cls) => `(className = ${capnpString(cls)}, uniqueKey = ${capnpString(`tessera-${cls}`)}, enableSql = true)`).join(',\n    ')},
    ],
    durableObjectStorage = (localDisk = "do-storage"),
    globalOutbound = "internet",
  );
  `;
    writeFileSync(join(dir, 'edge.capnp'), config);
    const inspector = inspectorPort ? [`--inspector-addr=127.0.0.1:${inspectorPort}`] : [];
    proc = spawnLogged(workerdBin, ['serve', join(dir, 'edge.capnp'), ...inspector], { cwd: dir });
    await waitFor(`${issuer}/healthz`, proc, 'edge (plain workerd)', 60_000);
  } catch (e) {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url: issuer, issuer, adminToken, proc, dir,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A one-module JavaScript Worker (`modulePath`, already bundled) in plain workerd on a free loopback port,
 * with `text` bindings; resolves once `GET /` answers at all. The peers of the wall-clock benchmark.
 */
export async function startScriptInWorkerd({ modulePath, text = {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-workerd-js-'));
  const port = await freePort();
  copyFileSync(modulePath, join(dir, 'worker.js'));
  const bindings = Object.entries(text).map(([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`);
  writeFileSync(join(dir, 'worker.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = (
    modules = [(name = "worker.js", esModule = embed "worker.js")],
    compatibilityDate = "2026-07-01",
    bindings = [${bindings.join(', ')}],
  ))],
  sockets = [(name = "http", address = ${capnpString(`127.0.0.1:${port}`)}, http = (), service = "main")],
);
`);
  const proc = spawnLogged(workerdBin, ['serve', join(dir, 'worker.capnp')], { cwd: dir });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/`, proc, 'worker (plain workerd)', 60_000, true);
  } catch (e) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    url, proc,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
