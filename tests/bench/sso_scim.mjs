// scripts/bench sso (SCIM half): the origin (release build, SQLite on disk, over HTTP on loopback) beside
// scim2-server (PyPI, the reference SCIM server the black-box tests compare lists with; in memory, its own
// threaded WSGI server) on the same users, in one run. Prints Markdown tables for docs/BENCHMARKS.md.
// Nothing here asserts a time.
//
// Data (generated, the same every run): BENCH_SCIM_USERS users (100,000 by default), each with a userName,
// a name, a work email, a title (`<one of 8 titles> L<i mod 97>`, so `title co "…"` matches ~1/776 of
// them) and an Enterprise department. The origin is seeded by SCIM POSTs over HTTP, several in flight at
// once (BENCH_SCIM_SEED_CONCURRENCY, 8), each a durable SQLite commit (synchronous=FULL). scim2-server is
// seeded in its own process before it serves (tests/bench/scim_reference_server.py: the two calls its
// `POST /Users` makes, without HTTP), since 100,000 POSTs over HTTP take it many minutes (~140/s here). The
// two seedings run at the same time (one core each), and their times are printed.
//
// Measured, one request at a time on one connection per server, ours and theirs interleaved:
// - `filter=userName eq "…"` (a random existing user): pushed down to an index by both;
// - `filter=title co "…"&count=20`: no index can answer it, so each server reads every user;
// - a group PATCH adding 10,000 members in one request, then one removing a single member.
// BENCH_SCIM_SAMPLES (300) requests per filter; on the full-scan filter each server stops early once it has
// spent BENCH_SCIM_SCAN_SECONDS (20) answering, and the table says how many requests it answered.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin, startScimReference } from '../blackbox/harness.mjs';

const N = Number(process.env.BENCH_SCIM_USERS ?? 100_000);
const SAMPLES = Number(process.env.BENCH_SCIM_SAMPLES ?? 300);
const SCAN_BUDGET_MS = 1000 * Number(process.env.BENCH_SCIM_SCAN_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_SCIM_SEED_CONCURRENCY ?? 8);
const MEMBERS = Math.min(10_000, N);
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCHEMA = 'definition user {}\n\ndefinition group {\n    relation member: user\n}\n';
const TITLES = ['Engineer', 'Staff Engineer', 'Manager', 'Director', 'Analyst', 'Designer', 'Recruiter', 'Counsel'];

let seed = 7;
const rand = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
const userName = (i) => `user${String(i).padStart(6, '0')}`;
const user = (i) => ({
  schemas: [CORE, ENTERPRISE],
  userName: userName(i),
  name: { givenName: `Given${i % 1000}`, familyName: `Family${Math.floor(i / 1000)}` },
  emails: [{ value: `${userName(i)}@example.com`, type: 'work', primary: true }],
  title: `${TITLES[i % 8]} L${i % 97}`,
  active: i % 10 !== 0,
  [ENTERPRISE]: { department: `Dept ${i % 50}`, employeeNumber: String(i) },
});

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const ms = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function client(base, token) {
  return async (method, path, body) => {
    const t0 = performance.now();
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    const elapsed = performance.now() - t0;
    if (r.status >= 300) throw new Error(`${method} ${base}${path}: ${r.status} ${text.slice(0, 300)}`);
    return { elapsed, body: text ? JSON.parse(text) : null };
  };
}

/** POST every user, `CONCURRENCY` in flight; returns [ids by index, seconds]. */
async function seedUsers(req) {
  const ids = new Array(N);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      const i = next++;
      ids[i] = (await req('POST', '/Users', user(i))).body.id;
    }
  }));
  return [ids, (performance.now() - t0) / 1000];
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-scim-'));
let origin, reference, referenceReady;
try {
  writeFileSync(join(dir, 'users.jsonl'), Array.from({ length: N }, (_, i) => JSON.stringify(user(i))).join('\n') + '\n');
  origin = await startOrigin();
  const token = JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--json'])).stdout).token;
  const schema = await fetch(`${origin.url}/v1/tenants/acme/schema`, { method: 'PUT', headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' }, body: SCHEMA });
  if (schema.status !== 200) throw new Error(`PUT schema: ${schema.status}`);
  const ours = client(`${origin.url}/scim/v2/acme`, token);
  console.error(`seeding ${N} users: the origin by SCIM POSTs (${CONCURRENCY} in flight), scim2-server in its process, at once…`);
  const t0 = performance.now();
  referenceReady = startScimReference({ seed: { users: join(dir, 'users.jsonl'), ids: join(dir, 'ids.txt') } })
    .then((r) => { reference = r; return (performance.now() - t0) / 1000; });
  const [ourIds, ourSeed] = await seedUsers(ours);
  console.error(`  origin: ${ourSeed.toFixed(1)} s`);
  const theirSeed = await referenceReady;
  console.error(`  scim2-server: ${theirSeed.toFixed(1)} s (with its start)`);
  const theirIds = readFileSync(join(dir, 'ids.txt'), 'utf8').trim().split('\n');
  const theirs = client(reference.url, reference.token);

  // Filters, interleaved; each answer checked against the data.
  const rows = [];
  const measure = async (label, make, check, budgetMs = Infinity) => {
    const a = [], b = [];
    const spent = [0, 0];
    for (let k = 0; k < 3; k++) { const p = make(); await ours('GET', p); await theirs('GET', p); } // warm-up
    for (let k = 0; k < SAMPLES && (spent[0] < budgetMs || spent[1] < budgetMs); k++) {
      const p = make();
      for (const [side, req, xs] of [[0, ours, a], [1, theirs, b]]) {
        if (spent[side] >= budgetMs) continue;
        const x = await req('GET', p);
        check(x.body, p);
        xs.push(x.elapsed);
        spent[side] += x.elapsed;
      }
    }
    rows.push({ label, a, b });
  };
  await measure('`userName eq "…"` (an index answers it)', () => `/Users?filter=${encodeURIComponent(`userName eq "${userName(rand(N))}"`)}`,
    (body) => { if (body.totalResults !== 1) throw new Error(`userName eq: ${body.totalResults} results`); });
  const expectCo = (t, l) => { let c = 0; for (let i = 0; i < N; i++) if (i % 8 === t && i % 97 === l) c++; return c; };
  let lastCo;
  await measure('`title co "…"`, count=20 (no index: every user read)', () => {
    const t = rand(8), l = rand(97);
    lastCo = expectCo(t, l);
    return `/Users?count=20&filter=${encodeURIComponent(`title co "${TITLES[t].toLowerCase()} l${l}"`)}`;
  }, (body, p) => {
    // `co "engineer l4"` also matches "Staff Engineer L4", "Engineer L40".."L49": count only that it is at least the exact ones.
    if (body.totalResults < lastCo || body.Resources.length !== Math.min(20, body.totalResults)) throw new Error(`${p}: ${body.totalResults} results, want ≥ ${lastCo}`);
  }, SCAN_BUDGET_MS);

  // Group PATCH: 10,000 members in one request, then remove one.
  const groupRuns = [];
  for (let rep = 0; rep < 3; rep++) {
    const run = {};
    for (const [side, req, ids] of [['ours', ours, ourIds], ['theirs', theirs, theirIds]]) {
      const g = (await req('POST', '/Groups', { schemas: [GROUP], displayName: `bench group ${rep}` })).body;
      const members = ids.slice(0, MEMBERS).map((value) => ({ value }));
      const add = await req('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: members }] });
      const remove = await req('PATCH', `/Groups/${g.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: `members[value eq "${ids[rand(MEMBERS)]}"]` }] });
      const after = (await req('GET', `/Groups/${g.id}`)).body;
      if (after.members?.length !== MEMBERS - 1) throw new Error(`${side}: the group has ${after.members?.length} members, want ${MEMBERS - 1}`);
      run[side] = { add: add.elapsed, remove: remove.elapsed };
      await req('DELETE', `/Groups/${g.id}`);
    }
    groupRuns.push(run);
  }

  console.log(`\n| SCIM, ${N.toLocaleString('en')} users (ms, over HTTP, one connection) | Tessera origin (SQLite) | scim2-server 0.8.3 (memory) | ratio (scim2-server ÷ origin, p50) |\n|---|---|---|---|`);
  console.log(`| seeding (s): origin by SCIM POSTs over HTTP, ${CONCURRENCY} in flight; scim2-server in its process, no HTTP | ${ourSeed.toFixed(1)} (${Math.round(N / ourSeed)}/s) | ${theirSeed.toFixed(1)} (${Math.round(N / theirSeed)}/s, with its start) | — |`);
  for (const { label, a, b } of rows) {
    const n = (xs) => (xs.length < SAMPLES ? ` (${xs.length} requests)` : '');
    console.log(`| ${label} | p50 ${ms(quantile(a, 0.5))} / p99 ${ms(quantile(a, 0.99))}${n(a)} | p50 ${ms(quantile(b, 0.5))} / p99 ${ms(quantile(b, 0.99))}${n(b)} | ${(quantile(b, 0.5) / quantile(a, 0.5)).toFixed(1)}× |`);
  }
  const med = (side, op) => quantile(groupRuns.map((r) => r[side][op]), 0.5);
  console.log(`| group PATCH adding ${MEMBERS.toLocaleString('en')} members (median of 3) | ${ms(med('ours', 'add'))} | ${ms(med('theirs', 'add'))} | ${(med('theirs', 'add') / med('ours', 'add')).toFixed(1)}× |`);
  console.log(`| then a PATCH removing one of them (median of 3) | ${ms(med('ours', 'remove'))} | ${ms(med('theirs', 'remove'))} | ${(med('theirs', 'remove') / med('ours', 'remove')).toFixed(1)}× |`);
} finally {
  await referenceReady?.catch(() => {});
  await reference?.stop();
  await origin?.stop();
  rmSync(dir, { recursive: true, force: true });
}
