// scripts/bench audit: what the audit trail costs and how fast it answers, each beside a peer in one run.
// - The edge: an isolate-hit /v1/check on an edge that records events (AUDIT on) beside one that does not
//   (AUDIT = "off"), the same origin, requests interleaved one by one; wall-clock p50/p90 and the ratio.
// - Ingest: the origin (release, SQLite) storing batches of 1000 edge events over its HTTP API (one
//   sender, then four), beside ClickHouse (Debian's 18.16) taking the same events as JSONEachRow.
// - Queries over BENCH_AUDIT_EVENTS events (10 million unless set): the newest page, a rare subject, one
//   kind, the statistics of the last hour and of the day, p50 of 20 runs each, beside the same questions
//   to ClickHouse over the same events.
// Nothing here asserts a time.
import { getToken, startEdge, startOrigin } from '../blackbox/harness.mjs';
import { startClickHouse } from '../blackbox/clickhouse.mjs';
import { median, pct } from './stats.mjs';

const EVENTS = Number(process.env.BENCH_AUDIT_EVENTS ?? 10_000_000);
const BATCH = 1000;
const now = () => performance.now();
const hex = (n) => n.toString(16).padStart(32, '0');

const SCHEMA = `definition user {}
definition client {}
definition doc {
    relation viewer: user | client
    permission view = viewer
}
`;

/** Synthetic edge events `i0..i0+n` of tenant `bench`, spread over the last 24 hours. */
function events(i0, n, base) {
  const out = [];
  for (let i = i0; i < i0 + n; i++) {
    const r = i % 100;
    const kind = r < 90 ? 'check.decision' : r < 95 ? 'token.issued' : r < 99 ? 'token.verify_failed' : 'token.refused';
    const decision = kind === 'check.decision';
    out.push({
      id: hex(i + 1), at_ms: base - 86_400_000 + Math.floor((i / EVENTS) * 86_400_000), tenant: 'bench', kind,
      outcome: decision ? (r % 10 === 0 ? 'denied' : 'allowed') : kind === 'token.issued' ? 'success' : 'failure',
      code: kind === 'token.refused' ? 'invalid_client' : kind === 'token.verify_failed' ? 'expired' : '',
      actor: { kind: 'client', id: `c${i % 50}` }, request_id: `r${i}`, region: 'local', source: 'edge',
      subject: decision ? `user:u${i % 100_000}` : '', resource: decision ? `doc:d${i % 10_000}` : '',
      permission: decision ? 'view' : '', revision: decision ? 2 : undefined,
      consistency: decision ? 'minimize_latency' : '', tier: decision ? ['isolate', 'kv', 'origin'][i % 3] : '',
      latency_us: decision ? 50 + (i % 3) * 900 + (i % 7) * 13 : undefined,
      // Explained already: the bench measures storing, not the origin's reason paths.
      detail: decision && r % 10 === 0 ? { why: { allowed: false, relationships: [], reason: 'no viewer' } } : {},
    });
  }
  return out;
}

const row = (e, seq) => JSON.stringify({
  tenant: e.tenant, seq, id: e.id, at_ms: e.at_ms, stored_at_ms: e.at_ms, kind: e.kind, outcome: e.outcome, code: e.code,
  actor_kind: e.actor.kind, actor_id: e.actor.id, request_id: e.request_id, region: e.region, source: e.source,
  subject: e.subject, resource: e.resource, permission: e.permission, revision: e.revision ?? null, zookie: '',
  consistency: e.consistency, tier: e.tier, latency_us: e.latency_us ?? null, detail: JSON.stringify(e.detail), hash: '',
});

async function edgeCost(origin) {
  const service = { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' };
  await fetch(`${origin.url}/v1/tenants/bench/schema`, { method: 'PUT', headers: service, body: SCHEMA });
  const client = await origin.createClient({ tenant: 'bench', scopes: ['authz:check'] });
  await fetch(`${origin.url}/v1/tenants/bench/relationships/write`, {
    method: 'POST', headers: service,
    body: JSON.stringify({ updates: [{ operation: 'touch', relationship: `doc:d1#viewer@client:${client.client_id}` }] }),
  });
  const on = await startEdge({ origin });
  const off = await startEdge({ origin, vars: { AUDIT: 'off' } });
  try {
    const setups = [];
    for (const [name, edge] of [['events', on], ['no events', off]]) {
      const token = (await getToken(edge, client)).access_token;
      const body = JSON.stringify({ resource: 'doc:d1', permission: 'view', subject: `client:${client.client_id}` });
      const ask = async () => {
        const t0 = now();
        const r = await fetch(`${edge.url}/v1/check`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
        await r.arrayBuffer();
        return { ms: now() - t0, tier: r.headers.get('tessera-cache') };
      };
      for (let i = 0; i < 50; i++) await ask();
      setups.push({ name, ask, ms: [], other: 0 });
    }
    const ROUNDS = Number(process.env.BENCH_AUDIT_ROUNDS ?? 2000);
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of i % 2 ? setups : [...setups].reverse()) {
        const { ms, tier } = await s.ask();
        if (tier === 'isolate') s.ms.push(ms); else s.other++;
      }
    }
    console.log('\n### The edge: an isolate-hit check with and without audit events\n');
    console.log('| edge | isolate hits | p50 ms | p90 ms | p99 ms |');
    console.log('|---|---:|---:|---:|---:|');
    for (const s of setups) console.log(`| ${s.name} | ${s.ms.length} | ${median(s.ms).toFixed(3)} | ${pct(s.ms, 90).toFixed(3)} | ${pct(s.ms, 99).toFixed(3)} |`);
    const [a, b] = setups;
    console.log(`\np50 with events / without: **${(median(a.ms) / median(b.ms)).toFixed(3)}×**, p90 ${(pct(a.ms, 90) / pct(b.ms, 90)).toFixed(3)}×`);
  } finally {
    await on.stop();
    await off.stop();
  }
}

let retried = 0;

async function ingest(origin, clickhouse, base) {
  // A batch refused with a 5xx is sent again, as the edge's queue consumer does (counted: SQLite answers
  // `database is locked` to a sender that waited 5 s for the write lock).
  const post = async (batch) => {
    for (let attempt = 1; ; attempt++) {
      const r = await fetch(`${origin.url}/internal/v1/audit/events`, {
        method: 'POST', headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ events: batch }),
      });
      const body = await r.json();
      if (r.status >= 500 && attempt < 10) {
        retried++;
        await new Promise((res) => setTimeout(res, 200 * attempt));
        continue;
      }
      if (r.status !== 200 || body.stored + body.duplicates !== batch.length) {
        throw new Error(`ingest: ${r.status} ${JSON.stringify(body).slice(0, 300)}\n${origin.proc.logs().slice(-2000)}`);
      }
      return;
    }
  };
  await clickhouse.query(`CREATE TABLE audit_events (
    tenant String, seq UInt64, id String, at_ms Int64, stored_at_ms Int64, kind String, outcome String,
    code String, actor_kind String, actor_id String, request_id String, region String, source String,
    subject String, resource String, permission String, revision Nullable(UInt64), zookie String,
    consistency String, tier String, latency_us Nullable(UInt64), detail String, hash String
  ) ENGINE = ReplacingMergeTree(stored_at_ms) PARTITION BY toYYYYMMDD(toDateTime(intDiv(at_ms, 1000), 'UTC')) ORDER BY (tenant, seq)`);
  const rate = { tessera: [], clickhouse: [] };
  let next = 0;
  const phase = async (n, senders) => {
    const t0 = now();
    const start = next;
    next += n;
    let cursor = start;
    const worker = async () => {
      for (;;) {
        const i = cursor;
        if (i >= start + n) return;
        cursor += BATCH;
        await post(events(i, Math.min(BATCH, start + n - i), base));
      }
    };
    await Promise.all(Array.from({ length: senders }, worker));
    return n / ((now() - t0) / 1000);
  };
  const chPhase = async (from, n) => {
    const t0 = now();
    for (let i = from; i < from + n; i += 50_000) {
      const k = Math.min(50_000, from + n - i);
      const lines = events(i, k, base).map((e, j) => row(e, i + j + 1)).join('\n');
      await clickhouse.query('INSERT INTO audit_events FORMAT JSONEachRow', { data: lines });
    }
    return n / ((now() - t0) / 1000);
  };
  const WARM = Math.min(200_000, EVENTS / 4);
  const one = await phase(WARM, 1);
  const four = await phase(WARM, 4);
  const chRate = await chPhase(0, 2 * WARM);
  console.log('\n### Ingest: events stored per second\n');
  console.log('| store | senders | events/s |');
  console.log('|---|---:|---:|');
  console.log(`| Tessera origin (SQLite, HTTP batches of ${BATCH}) | 1 | ${Math.round(one)} |`);
  console.log(`| Tessera origin (SQLite, HTTP batches of ${BATCH}) | 4 | ${Math.round(four)} |`);
  console.log(`| ClickHouse 18.16 (JSONEachRow, 50,000 a batch) | 1 | ${Math.round(chRate)} |`);
  console.log(`\nTessera / ClickHouse: **${(Math.max(one, four) / chRate).toFixed(3)}×** (batches sent again after a 5xx so far: ${retried})`);
  // The rest, to reach EVENTS in both.
  const t0 = now();
  const rest = EVENTS - next;
  if (rest > 0) {
    const filled = await phase(rest, 4);
    await chPhase(2 * WARM, rest);
    console.log(`\n(filled to ${EVENTS} events: the origin at ${Math.round(filled)} events/s, ${((now() - t0) / 1000).toFixed(0)} s in all; batches sent again after a 5xx: ${retried})`);
  }
}

async function queries(origin, clickhouse, base) {
  const get = async (path) => {
    const r = await fetch(`${origin.url}/v1/tenants/bench/${path}`, { headers: { authorization: `Bearer ${origin.serviceToken}` } });
    const body = await r.text();
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${body.slice(0, 300)}`);
    return body;
  };
  const hour = base - 3_600_000;
  const day = base - 86_400_000 + 1000;
  const cases = [
    ['the newest page (100)', () => get('audit?limit=100'),
      () => clickhouse.query("SELECT * FROM audit_events WHERE tenant = 'bench' ORDER BY seq DESC LIMIT 100 FORMAT JSONEachRow")],
    ['a rare subject (100 of ~90 records)', () => get('audit?limit=100&subject=user:u4242'),
      () => clickhouse.query("SELECT * FROM audit_events WHERE tenant = 'bench' AND subject = 'user:u4242' ORDER BY seq DESC LIMIT 100 FORMAT JSONEachRow")],
    ['one kind, 1% of records (100)', () => get('audit?limit=100&kind=token.refused'),
      () => clickhouse.query("SELECT * FROM audit_events WHERE tenant = 'bench' AND kind = 'token.refused' ORDER BY seq DESC LIMIT 100 FORMAT JSONEachRow")],
    ['statistics of the last hour', () => get(`audit/stats?from=${hour}&to=${base}`),
      () => clickhouse.query(`SELECT intDiv(at_ms, 60000) AS m, kind, outcome, count() FROM audit_events WHERE tenant = 'bench' AND at_ms >= ${hour} AND at_ms < ${base} GROUP BY m, kind, outcome FORMAT JSONEachRow`)
        .then(() => clickhouse.query(`SELECT tier, quantiles(0.5, 0.9, 0.99)(latency_us) FROM audit_events WHERE tenant = 'bench' AND kind = 'check.decision' AND at_ms >= ${hour} AND at_ms < ${base} GROUP BY tier FORMAT JSONEachRow`))],
    ['statistics of the day', () => get(`audit/stats?from=${day}&to=${base}`),
      () => clickhouse.query(`SELECT intDiv(at_ms, 60000) AS m, kind, outcome, count() FROM audit_events WHERE tenant = 'bench' AND at_ms >= ${day} AND at_ms < ${base} GROUP BY m, kind, outcome FORMAT JSONEachRow`)
        .then(() => clickhouse.query(`SELECT tier, quantiles(0.5, 0.9, 0.99)(latency_us) FROM audit_events WHERE tenant = 'bench' AND kind = 'check.decision' AND at_ms >= ${day} AND at_ms < ${base} GROUP BY tier FORMAT JSONEachRow`))],
  ];
  console.log(`\n### Queries over ${EVENTS.toLocaleString('en')} events (p50 of 20, ms)\n`);
  console.log('| question | Tessera origin (SQLite) | ClickHouse 18.16 | Tessera / ClickHouse |');
  console.log('|---|---:|---:|---:|');
  for (const [name, ours, theirs] of cases) {
    const a = [];
    const b = [];
    await ours();
    await theirs();
    for (let i = 0; i < 20; i++) {
      let t0 = now(); await ours(); a.push(now() - t0);
      t0 = now(); await theirs(); b.push(now() - t0);
    }
    console.log(`| ${name} | ${median(a).toFixed(1)} | ${median(b).toFixed(1)} | ${(median(a) / median(b)).toFixed(2)}× |`);
  }
}

const origin = await startOrigin({ args: ['--audit-explain-allowed', '0'] });
const clickhouse = await startClickHouse();
try {
  await edgeCost(origin);
  const base = Date.now();
  await ingest(origin, clickhouse, base);
  await queries(origin, clickhouse, base);
} finally {
  await clickhouse.stop();
  await origin.stop();
}
