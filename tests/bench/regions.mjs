// scripts/bench regions: two regions on this machine with 40 ms of round trip injected between them (20 ms
// each way, by delay proxies on every cross-region link: region b's origin → region a, the replication
// stream, the edge → region a), measured from an edge in region b, beside the single-origin setup (the
// same edge configuration with one origin, in region a, across the same 40 ms) in the same run:
// - check p50/p99 for an isolate hit, a KV hit, an answer from region b's origin (a cache miss, at b's
//   replica head) and a forced primary answer (`fully_consistent`);
// - write-then-read-your-write from region b (a write sent to b's origin, then a check at its zookie);
// - failover under synchronous replication: the primary killed (kill -9) during a stream of writes, the
//   standby promoted with scripts/pg-failover; time until writes are accepted again, and acknowledged
//   writes lost (counted).
// Nothing here asserts a time.
import { getToken, startEdge } from '../blackbox/harness.mjs';
import { startDelayProxy, startPgCluster, startTwoRegions } from '../blackbox/regions.mjs';
import { median, pct } from './stats.mjs';

const ONE_WAY_MS = 20;
const SCHEMA = `definition user {}
definition team {
    relation member: user
}
definition doc {
    relation viewer: user | team#member
    permission view = viewer
}
`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function latencies() {
  const cluster = await startPgCluster();
  const stops = [() => cluster.stop()];
  try {
    const r = await startTwoRegions(cluster, { tick: 250, maxLag: 5000, replayWait: 250, forwardTimeout: 5000 });
    stops.push(() => r.stop());
    const edgeToA = await startDelayProxy({ target: { host: '127.0.0.1', port: r.a.port } });
    stops.push(() => edgeToA.stop());
    for (const p of [r.toA, cluster.replicationProxy, edgeToA]) p.setDelay(ONE_WAY_MS);
    const vars = { BENCH_ROUTES: 'danger-enabled', CHECK_MAX_STALENESS_MS: '5000', CHECK_HEAD_REFRESH_MS: '1000' };
    const regional = await startEdge({
      origin: r.b, build: 'build-bench',
      vars: { ...vars, ORIGINS: JSON.stringify({ regions: { a: edgeToA.url, b: r.b.url }, prefer: { default: ['b', 'a'] } }) },
    });
    stops.push(() => regional.stop());
    // The single-origin setup: the same edge, its one origin in region a, 40 ms away.
    const single = await startEdge({ origin: { url: edgeToA.url, serviceToken: r.serviceToken }, build: 'build-bench', vars });
    stops.push(() => single.stop());

    const service = { authorization: `Bearer ${r.serviceToken}`, 'content-type': 'application/json' };
    await fetch(`${r.a.url}/v1/tenants/bench/schema`, { method: 'PUT', headers: service, body: SCHEMA });
    const rels = ['doc:d1#viewer@team:t1#member', 'team:t1#member@user:u1'];
    await fetch(`${r.a.url}/v1/tenants/bench/relationships/write`, {
      method: 'POST', headers: service, body: JSON.stringify({ updates: rels.map((relationship) => ({ operation: 'touch', relationship })) }),
    });
    const client = await r.a.createClient({ tenant: 'bench', scopes: ['authz:check'] });
    await cluster.waitForReplay();

    // The two setups are measured interleaved, request by request, so that machine drift hits both alike.
    const setups = [];
    for (const [edge, origin] of [[regional, r.b], [single, { url: edgeToA.url }]]) {
      const { access_token: token } = await getToken(edge, client);
      setups.push({ edge, origin, token });
    }
    const check = async ({ edge, token }, body, want) => {
      const res = await fetch(`${edge.url}/v1/check`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const j = await res.json();
      if (res.status !== 200 || (want !== undefined && j.allowed !== want)) throw new Error(`check ${res.status} ${JSON.stringify(j)}`);
      return res.headers.get('tessera-region');
    };
    const q = { resource: 'doc:d1', permission: 'view', subject: 'user:u1' };
    const out = [{}, {}];
    const both = async (key, k, fn) => {
      for (let w = 0; w < 20; w++) for (const n of [0, 1]) await fn(setups[n], -1 - w, n); // warm up
      out[0][key] = [];
      out[1][key] = [];
      for (let i = 0; i < k; i++) {
        // Which goes first alternates, so that neither always follows the other.
        for (const n of i % 2 ? [1, 0] : [0, 1]) {
          const t0 = performance.now();
          await fn(setups[n], i, n);
          out[n][key].push(performance.now() - t0);
        }
      }
    };
    await both('isolate', 1000, (s) => check(s, q, true));
    await both('kv', 300, async ({ edge }) => {
      const res = await fetch(`${edge.url}/__bench/check?tenant=bench&mode=kv&n=1`, { method: 'POST', body: JSON.stringify(q) });
      const j = await res.json();
      if (j.sources[0] !== 'kv') throw new Error(JSON.stringify(j));
    });
    // A different subject each time: never cached, so the edge asks its nearest origin.
    const regionsOf = [new Set(), new Set()];
    await both('origin', 300, async (s, i, n) => { regionsOf[n].add(await check(s, { ...q, subject: `user:miss${n}x${i}` }, false)); });
    out[0].originRegions = [...regionsOf[0]].join(', ');
    const primaryOf = [new Set(), new Set()];
    await both('primary', 300, async (s, i, n) => { primaryOf[n].add(await check(s, { ...q, consistency: 'fully_consistent' }, true)); });
    out[0].primaryRegions = [...primaryOf[0]].join(', ');
    // Write in region b (or to the single origin), then read it back at its zookie through the edge.
    await both('ryw', 100, async (s, i, n) => {
      const w = await fetch(`${s.origin.url}/v1/tenants/bench/relationships/write`, {
        method: 'POST', headers: service,
        body: JSON.stringify({ updates: [{ operation: 'touch', relationship: `doc:w${n}x${i}#viewer@user:u1` }] }),
      });
      const { zookie } = await w.json();
      await check(s, { resource: `doc:w${n}x${i}`, permission: 'view', subject: 'user:u1', consistency: { at_least_as_fresh: zookie } }, true);
    });
    const [regionB, singleA] = out;
    return { regionB, singleA };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

async function failover() {
  const cluster = await startPgCluster({ synchronous: true });
  const stops = [() => cluster.stop()];
  try {
    const r = await startTwoRegions(cluster, { tick: 100, maxLag: 5000, replayWait: 250, forwardTimeout: 2000 });
    stops.push(() => r.stop());
    for (const p of [r.toA, cluster.replicationProxy]) p.setDelay(ONE_WAY_MS);
    await r.at.a('PUT', '/v1/tenants/bench/schema', SCHEMA, { 'content-type': 'text/plain' });
    const acked = [];
    let n = 0;
    let stop = false;
    let killedAt = 0;
    let firstAfter = 0;
    const backAt = {};
    const writer = async (name) => {
      while (!stop) {
        const id = `${name}${n++}`;
        const sentAt = performance.now();
        const w = await r.at[name]('POST', '/v1/tenants/bench/relationships/write', { updates: [{ operation: 'create', relationship: `doc:f#viewer@user:${id}` }] }).catch(() => null);
        if (w?.status === 200) {
          acked.push(id);
          // The first write sent after the kill that was accepted: writes are back.
          if (killedAt && sentAt > killedAt) {
            if (!firstAfter) firstAfter = performance.now();
            backAt[name] ??= performance.now() - killedAt;
          }
        } else {
          await sleep(10);
        }
      }
    };
    const writers = [writer('a'), writer('b')];
    await sleep(2000);
    const before = acked.length;
    killedAt = performance.now();
    await cluster.killPrimary();
    await cluster.promoteStandby();
    const promotedAt = performance.now();
    while (!(backAt.a && backAt.b) && performance.now() - killedAt < 30_000) await sleep(5);
    const resumed = acked.length;
    await sleep(1000);
    stop = true;
    await Promise.all(writers);
    const read = await r.at.b('POST', '/v1/tenants/bench/relationships/read', { filter: { resource_type: 'doc' }, consistency: 'fully_consistent' });
    const stored = new Set(read.body.relationships.map((x) => x.split('@user:')[1]));
    return {
      before,
      afterResume: acked.length - resumed,
      acked: acked.length,
      lost: acked.filter((id) => !stored.has(id)).length,
      promoteMs: promotedAt - killedAt,
      writesBackMs: firstAfter ? firstAfter - killedAt : NaN,
      backA: backAt.a ?? NaN,
      backB: backAt.b ?? NaN,
    };
  } finally {
    for (const s of stops.reverse()) await s().catch(() => {});
  }
}

const { regionB, singleA } = await latencies();
const fo = await failover();
const f = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const row = (name, key) => `| ${name} | ${f(median(regionB[key]))} | ${f(pct(regionB[key], 99))} | ${f(median(singleA[key]))} | ${f(pct(singleA[key], 99))} | ${(median(regionB[key]) / median(singleA[key])).toFixed(2)}× |`;
console.log(`
${ONE_WAY_MS * 2} ms round trip between the regions (${ONE_WAY_MS} ms each way on every cross-region link). Wall time over
HTTP from node on this machine, one connection, sequential (ms).

| from the edge in region b | two regions p50 | p99 | single origin in a p50 | p99 | two ÷ single (p50) |
|---|---|---|---|---|---|
${row('isolate hit', 'isolate')}
${row('KV hit (bench route)', 'kv')}
${row(`cache miss: the nearest origin's answer (two regions: computed in ${regionB.originRegions})`, 'origin')}
${row(`\`fully_consistent\`: the primary's answer (computed in ${regionB.primaryRegions})`, 'primary')}
${row('write in region b, then check at its zookie', 'ryw')}

Failover under synchronous replication (remote_apply), writers in both regions: ${fo.before} writes acknowledged in
the 2 s before kill -9 of the primary; scripts/pg-failover done ${f(fo.promoteMs)} ms after the kill; the first
write sent after the kill accepted ${f(fo.writesBackMs)} ms after it (through region b's origin, the new
primary: ${f(fo.backB)} ms; through region a's, whose database died: ${f(fo.backA)} ms; ${fo.afterResume} more in the
next second);
${fo.acked} acknowledged in all, **${fo.lost} lost**.
`);
