// The ClickHouse harness itself (clickhouse.mjs), and what the audit sink relies on in the packaged
// ClickHouse 18.16: a day-partitioned ReplacingMergeTree, JSONEachRow in and out, dedupe on read with FINAL,
// retention by dropping a day's partition (18.16 has no TTL clause). Checks of the harness, not of the product.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startClickHouse } from './clickhouse.mjs';

// Partitioned by UTC day (explicit 'UTC': the server's timezone must not move a row to another day);
// ReplacingMergeTree collapses rows with the same sorting key, and a retried event repeats tenant, at_ms
// and id, keeping the one with the highest stored_at_ms. Collapsing happens at background merges, so
// reads that must not see a retry's duplicate say FINAL.
const DDL = `CREATE TABLE audit_events (
    id String, at_ms Int64, stored_at_ms Int64, tenant String, seq UInt64, kind String, outcome String,
    code String, actor_kind String, actor_id String, request_id String, region String, source String,
    subject String, resource String, permission String, revision Nullable(UInt64), zookie String,
    consistency String, tier String, latency_us Nullable(UInt64), detail String, hash String
) ENGINE = ReplacingMergeTree(stored_at_ms)
PARTITION BY toYYYYMMDD(toDateTime(intDiv(at_ms, 1000), 'UTC'))
ORDER BY (tenant, at_ms, id)`;

const DAY = 86_400_000;
const event = (id, atMs, extra = {}) => ({
  id, at_ms: atMs, stored_at_ms: atMs + 5, tenant: 'acme', seq: 1, kind: 'check', outcome: 'allow', code: '',
  actor_kind: 'service', actor_id: 'svc', request_id: `req-${id}`, region: 'a', source: 'edge', subject: 'user:1',
  resource: 'doc:1', permission: 'view', revision: 42, zookie: 'z', consistency: 'minimize_latency', tier: 'edge',
  latency_us: 137, detail: '{"note":"ünïcødé \\"quoted\\""}', hash: `h-${id}`, ...extra,
});
const jsonLines = (rows) => rows.map((r) => JSON.stringify(r)).join('\n');

describe('a throwaway ClickHouse', () => {
  let ch;
  before(async () => {
    ch = await startClickHouse();
    await ch.query(DDL);
  });
  after(async () => { await ch?.stop(); });

  const insert = (rows) => ch.query('INSERT INTO audit_events FORMAT JSONEachRow', { data: jsonLines(rows) });
  // 64-bit integers come back as JSON strings unless told otherwise.
  const select = async (sql) => (await ch.query(`${sql} FORMAT JSONEachRow`, { settings: { output_format_json_quote_64bit_integers: 0 } }))
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));

  it('answers over HTTP', async () => {
    assert.match(await ch.query('SELECT version()'), /^\d+\.\d+/);
  });

  it('stores JSONEachRow rows and reads them back, nulls included', async () => {
    const t0 = Date.UTC(2024, 0, 1, 12);
    const a = event('e1', t0);
    const b = event('e2', t0 + DAY, { seq: 2, outcome: 'deny', code: 'no_permission', revision: null, latency_us: null });
    await insert([a, b]);
    assert.deepEqual(await select('SELECT * FROM audit_events ORDER BY at_ms'), [a, b]);
    assert.deepEqual(
      (await select("SELECT partition FROM system.parts WHERE table = 'audit_events' AND active ORDER BY partition")).map((p) => p.partition),
      ['20240101', '20240102']);
  });

  it('a retried batch is stored twice, and FINAL reads one copy', async () => {
    const t0 = Date.UTC(2024, 0, 1, 12);
    await insert([event('e1', t0, { stored_at_ms: t0 + 9 })]);
    assert.equal((await select('SELECT count() AS n FROM audit_events'))[0].n, 3);
    const final = await select('SELECT id, stored_at_ms FROM audit_events FINAL ORDER BY at_ms');
    assert.deepEqual(final, [{ id: 'e1', stored_at_ms: t0 + 9 }, { id: 'e2', stored_at_ms: t0 + DAY + 5 }]);
  });

  it('retention drops a whole day', async () => {
    await ch.query('ALTER TABLE audit_events DROP PARTITION 20240101');
    assert.deepEqual(await select('SELECT id FROM audit_events'), [{ id: 'e2' }]);
  });
});
