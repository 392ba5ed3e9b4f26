// The multi-region harness itself (regions.mjs): replication, paused replay, zero-loss commits across a
// partition, the delay proxy's latency, and failover. Checks of the harness, not of the product.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startPgCluster, startDelayProxy } from './regions.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('asynchronous primary and standby', () => {
  let cluster;
  before(async () => {
    cluster = await startPgCluster();
    await cluster.psql('primary', 'CREATE TABLE t (id int PRIMARY KEY)');
  });
  after(async () => { await cluster?.stop(); });

  it('a row inserted on the primary appears on the standby', async () => {
    await cluster.psql('primary', 'INSERT INTO t VALUES (1)');
    await cluster.waitForReplay();
    assert.equal(await cluster.psql('standby', 'SELECT id FROM t'), '1');
  });

  it('a paused standby receives a row but shows it only once replay resumes', async () => {
    await cluster.pauseReplay();
    await cluster.psql('primary', 'INSERT INTO t VALUES (2)');
    const lsn = await cluster.psql('primary', 'SELECT pg_current_wal_lsn()');
    // Received but not applied: it is the pause that holds the row back, not a slow link.
    for (let i = 0; await cluster.psql('standby', `SELECT pg_last_wal_receive_lsn() >= '${lsn}'::pg_lsn`) !== 't'; i++) {
      assert.ok(i < 100, 'the standby did not receive the WAL within 10 s');
      await sleep(100);
    }
    assert.equal(await cluster.psql('standby', 'SELECT count(*) FROM t'), '1');
    await cluster.resumeReplay();
    await cluster.waitForReplay();
    assert.equal(await cluster.psql('standby', 'SELECT count(*) FROM t'), '2');
  });

  it('after the primary is killed, the promoted standby takes writes', async () => {
    await cluster.killPrimary();
    await cluster.promoteStandby();
    assert.equal(await cluster.psql('standby', 'SELECT pg_is_in_recovery()'), 'f');
    await cluster.psql('standby', 'INSERT INTO t VALUES (3)');
    assert.equal(await cluster.psql('standby', 'SELECT count(*) FROM t'), '3');
  });
});

describe('synchronous (zero-loss) primary and standby', () => {
  let cluster;
  before(async () => {
    cluster = await startPgCluster({ synchronous: true });
    await cluster.psql('primary', 'CREATE TABLE t (id int PRIMARY KEY)');
  });
  after(async () => {
    cluster?.replicationProxy.blackhole(false);
    await cluster?.stop();
  });

  it('a commit does not return while replication is cut, and does once it heals', async () => {
    cluster.replicationProxy.blackhole(true);
    let done = false;
    const commit = cluster.psql('primary', 'INSERT INTO t VALUES (1)').finally(() => { done = true; });
    await sleep(1500);
    assert.equal(done, false, 'the commit returned although the standby could not have applied it');
    cluster.replicationProxy.blackhole(false);
    await commit;
    // remote_apply: once the commit returned, the standby shows the row without waiting.
    assert.equal(await cluster.psql('standby', 'SELECT id FROM t'), '1');
  });
});

describe('delay proxy', () => {
  let echo, proxy;
  before(async () => {
    echo = createServer((req, res) => req.pipe(res));
    await new Promise((r) => echo.listen(0, '127.0.0.1', r));
    proxy = await startDelayProxy({ target: { host: '127.0.0.1', port: echo.address().port } });
  });
  after(async () => {
    await proxy?.stop();
    echo?.closeAllConnections();
    await new Promise((r) => (echo ? echo.close(r) : r()));
  });

  it('passes bytes both ways and counts them', async () => {
    const r = await fetch(proxy.url, { method: 'POST', body: 'hello' });
    assert.equal(await r.text(), 'hello');
    assert.ok(proxy.connections >= 1);
    assert.ok(proxy.bytesUp > 5 && proxy.bytesDown > 5, `${proxy.bytesUp} up, ${proxy.bytesDown} down`);
    proxy.reset();
    assert.equal(proxy.connections + proxy.bytesUp + proxy.bytesDown, 0);
  });

  it('a one-way delay of 50 ms costs a round trip at least 100 ms', async () => {
    proxy.setDelay(50);
    const t0 = performance.now();
    const r = await fetch(proxy.url, { method: 'POST', body: 'ping' });
    assert.equal(await r.text(), 'ping');
    const ms = performance.now() - t0;
    proxy.setDelay(0);
    assert.ok(ms >= 100, `round trip took ${ms.toFixed(1)} ms`);
  });
});
