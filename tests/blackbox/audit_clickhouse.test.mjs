// The audit trail's ClickHouse sink against a real ClickHouse server (Debian's clickhouse-server, started
// here on a free port): the origin records while ClickHouse is not up yet, retries, and once it is, the
// table holds exactly the origin's records (same ids, seqs and chain hashes). Records sent again (the
// origin's export mark lost) are removed as copies: at least once, seen once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startOrigin, freePort, python, run, waitForLog } from './harness.mjs';
import { startClickHouse } from './clickhouse.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the ClickHouse audit sink', () => {
  let origin, clickhouse, port;
  const admin = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const originRecords = async () => {
    const r = await admin('GET', '/audit?limit=1000');
    assert.equal(r.status, 200);
    return r.body.events.reverse();
  };
  const exported = async (final = true) => {
    const text = await clickhouse.query(
      `SELECT tenant, seq, id, kind, outcome, hash, detail FROM audit_events ${final ? 'FINAL' : ''} WHERE tenant = 'acme' ORDER BY seq FORMAT JSONEachRow`,
      { settings: { output_format_json_quote_64bit_integers: '0' } },
    );
    return text.trim() ? text.trim().split('\n').map((l) => JSON.parse(l)) : [];
  };
  const caughtUp = async (want) => {
    let rows = [];
    for (let i = 0; i < 200 && rows.length < want; i++) {
      await sleep(200);
      // Until the exporter's next try the table may not exist yet.
      rows = await exported().catch((e) => { if (/doesn't exist/.test(e.message)) return []; throw e; });
    }
    return rows;
  };

  before(async () => {
    port = await freePort();
    origin = await startOrigin({ args: ['--clickhouse-url', `http://127.0.0.1:${port}`] });
  });
  after(async () => {
    await origin?.stop();
    await clickhouse?.stop();
  });

  it('exports every record once ClickHouse is up, with the chain hashes, and removes copies sent again', async () => {
    assert.equal((await admin('PUT', '/schema', 'definition user {}\ndefinition doc {\n    relation viewer: user\n    permission view = viewer\n}\n')).status, 200);
    assert.equal((await admin('POST', '/relationships/write', { updates: [{ operation: 'touch', relationship: 'doc:a#viewer@user:ann' }] })).status, 200);
    for (const subject of ['user:ann', 'user:bob', 'user:cy']) {
      assert.equal((await admin('POST', '/check', { resource: 'doc:a', permission: 'view', subject })).status, 200);
    }
    // ClickHouse is not there yet: the exporter fails and keeps trying.
    await waitForLog(origin.proc, /audit export to ClickHouse failed/, 15_000);
    clickhouse = await startClickHouse({ httpPort: port });
    let records = await originRecords();
    assert.equal(records.length, 5);
    let rows = await caughtUp(records.length);
    const same = (rs, es) => assert.deepEqual(
      rs.map((r) => [r.seq, r.id, r.kind, r.outcome, r.hash]),
      es.map((e) => [e.seq, e.id, e.kind, e.outcome, e.hash]),
    );
    same(rows, records);
    // The detail travels as JSON text: a denial's reason path is there.
    const denied = rows.find((r) => r.outcome === 'denied');
    assert.equal(JSON.parse(denied.detail).why.allowed, false);
    const ddl = await clickhouse.query('SHOW CREATE TABLE audit_events');
    assert.match(ddl, /ReplacingMergeTree/);
    assert.match(ddl, /PARTITION BY toYYYYMMDD/);

    // New records follow.
    assert.equal((await admin('POST', '/check', { resource: 'doc:a', permission: 'view', subject: 'user:ann' })).status, 200);
    for (let i = 0; i < 50 && records.length < 6; i++) {
      await sleep(100);
      records = await originRecords();
    }
    assert.equal(records.length, 6);
    rows = await caughtUp(records.length);
    same(rows, records);

    // The export mark lost (as if the origin died after an insert, before it moved the mark): everything
    // is sent again, and ClickHouse still shows each record once.
    // Merges stopped, so that the copies stay visible until FINAL removes them at read time.
    await clickhouse.query('SYSTEM STOP MERGES audit_events');
    await origin.kill();
    const db = join(origin.dir, 'origin.sqlite3');
    await run(python, ['-c', `import sqlite3; c = sqlite3.connect(${JSON.stringify(db)}); c.execute("UPDATE audit_exports SET seq = 0"); c.commit()`]);
    await origin.restart();
    for (let i = 0; i < 100 && (await exported(false)).length < 2 * records.length; i++) await sleep(200);
    assert.equal((await exported(false)).length, 2 * records.length, 'the records were sent again');
    same(await exported(true), records);
  });
});
