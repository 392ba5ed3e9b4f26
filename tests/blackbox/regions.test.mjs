// Origins in two regions over real PostgreSQL streaming replication (issue 12): region `a` runs on the
// primary, region `b` on a hot standby; `b` reaches `a` through a proxy that can delay or partition the
// link. Reads are answered in `b` from its replica, writes and reads that need more than it has replayed go
// to `a`, every answer says where it was computed, and a primary lost under synchronous replication loses
// no acknowledged write.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { getToken, startEdge } from './harness.mjs';
import { startPgCluster, startTwoRegions } from './regions.mjs';

const SCHEMA = `definition user {}
definition doc {
    relation viewer: user
    permission view = viewer
}
`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const TICK = 100;
const MAX_LAG = 1500;
const startRegions = (cluster) => startTwoRegions(cluster, { tick: TICK, maxLag: MAX_LAG });

const write = (rel, operation = 'touch') => ({ updates: [{ operation, relationship: rel }] });
const check = (subject, consistency) => ({ resource: 'doc:plan', permission: 'view', subject, ...(consistency ? { consistency } : {}) });

describe('two regions on a streaming replica', () => {
  let cluster, r;
  before(async () => {
    cluster = await startPgCluster();
    r = await startRegions(cluster);
  });
  after(async () => {
    await r?.stop();
    await cluster?.stop();
  });

  it('reports each region, its role, its lag and where writes go', async () => {
    const a = await r.status('a');
    assert.equal(a.region, 'a');
    assert.equal(a.role, 'primary');
    assert.equal(a.lag_ms, 0);
    assert.equal(a.primary_region, 'a');
    assert.ok(a.timeline >= 1);
    const b = await r.status('b');
    assert.equal(b.role, 'replica');
    assert.equal(b.primary_region, 'a');
    assert.equal(b.max_lag_ms, MAX_LAG);
    assert.deepEqual(b.peers.map((p) => [p.region, p.status?.role]), [['a', 'primary']]);
    const unauthenticated = await fetch(`${r.b.url}/v1/regions`);
    assert.equal(unauthenticated.status, 401);
    const metrics = await fetch(`${r.b.url}/metrics`, { headers: { authorization: `Bearer ${r.serviceToken}` } });
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /^tessera_region_role\{region="b",role="replica"\} 1$/m);
    assert.match(text, /^tessera_region_lag_milliseconds\{region="b"\} \d+$/m);
    assert.match(text, /^tessera_region_requests_total\{region="b",outcome="answered_here"\} \d+$/m);
    assert.equal((await fetch(`${r.b.url}/metrics`)).status, 401);
  });

  it('a write in region b lands on the primary, and b reads its own write through the zookie', async () => {
    const schema = await r.at.b('PUT', '/v1/tenants/acme/schema', SCHEMA, { 'content-type': 'text/plain' });
    assert.equal(schema.status, 200, JSON.stringify(schema.body));
    assert.equal(schema.region, 'a');
    assert.equal(schema.via, 'b');
    const w = await r.at.b('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:ann'));
    assert.equal(w.status, 200, JSON.stringify(w.body));
    assert.equal(w.region, 'a');
    const c = await r.at.b('POST', '/v1/tenants/acme/check', check('user:ann', { at_least_as_fresh: w.body.zookie }));
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.allowed, true);
    assert.equal(c.region, 'b', 'the replica replayed the write within the wait: answered in b');
    assert.ok(c.body.revision >= w.body.revision);
    // Visible in b within the bound without any zookie, too.
    const head = await r.status('b', 'acme');
    assert.ok(head.tenant.revision >= w.body.revision);
  });

  it('checks in region b are answered there without a request to region a', async () => {
    const beforeA = (await r.status('a')).counters;
    const before = beforeA.answered_here;
    const beforeB = (await r.status('b')).counters;
    for (let i = 0; i < 20; i++) {
      const c = await r.at.b('POST', '/v1/tenants/acme/check', check(i % 2 ? 'user:ann' : 'user:bob'));
      assert.equal(c.status, 200);
      assert.equal(c.body.allowed, i % 2 === 1);
      assert.equal(c.region, 'b');
      assert.equal(c.via, null);
    }
    const bulk = await r.at.b('POST', '/v1/tenants/acme/check/bulk', { items: [check('user:ann'), check('user:bob')] });
    assert.deepEqual(bulk.body.results.map((x) => x.allowed), [true, false]);
    assert.equal(bulk.region, 'b');
    const lookup = await r.at.b('POST', '/v1/tenants/acme/lookup/resources', { resource_type: 'doc', permission: 'view', subject: 'user:ann' });
    assert.deepEqual(lookup.body.resources, ['plan']);
    assert.equal(lookup.region, 'b');
    assert.equal((await r.at.b('GET', '/v1/tenants/acme/head')).region, 'b');
    assert.equal((await r.status('a')).counters.answered_here, before, 'region a answered nothing');
    // The decisions b answered are recorded where the trail is written: b's origin sends its audit
    // events to the primary region in batches, apart from the answers (counted as audit batches).
    let batches = 0;
    for (let i = 0; i < 50 && batches <= beforeA.audit_batches; i++) {
      await new Promise((res) => setTimeout(res, 100));
      batches = (await r.status('a')).counters.audit_batches;
    }
    assert.ok(batches > beforeA.audit_batches, 'b sent its audit events to a');
    const afterB = (await r.status('b')).counters;
    assert.equal(afterB.answered_here - beforeB.answered_here, 23);
    assert.equal(afterB.forwarded_to_primary + afterB.forwarded_fresh_reads + afterB.forwarded_stale_reads,
      beforeB.forwarded_to_primary + beforeB.forwarded_fresh_reads + beforeB.forwarded_stale_reads);
  });

  it('a replica makes nobody without the service credential wait or forward', async () => {
    const before = (await r.status('b')).counters;
    for (const [method, path] of [['POST', '/v1/tenants/acme/relationships/write'], ['POST', '/v1/tenants/acme/check'], ['GET', '/internal/v1/tenants/acme/sessions/x']]) {
      const res = await fetch(`${r.b.url}${path}`, { method, headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' }, body: method === 'POST' ? JSON.stringify(check('user:ann', 'fully_consistent')) : undefined });
      assert.equal(res.status, 401, path);
      assert.equal((await res.json()).error, 'unauthorized');
    }
    const after = (await r.status('b')).counters;
    assert.equal(after.forwarded_to_primary, before.forwarded_to_primary);
    assert.equal(after.forwarded_fresh_reads, before.forwarded_fresh_reads);
  });

  it('fully_consistent is computed in the primary region, and says so', async () => {
    const c = await r.at.b('POST', '/v1/tenants/acme/check', check('user:ann', 'fully_consistent'));
    assert.equal(c.status, 200);
    assert.equal(c.body.allowed, true);
    assert.equal(c.region, 'a');
    assert.equal(c.via, 'b');
  });

  it('with replay paused: a newer zookie is forwarded, minimize_latency is served within the bound, past it never stale', async () => {
    await cluster.pauseReplay();
    try {
      const w = await r.at.a('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:cat'));
      assert.equal(w.status, 200);
      // Within the bound the replica answers minimize_latency itself, from what it has replayed (not cat's
      // write): an old answer, but one its lag bound allows.
      const within = await r.at.b('POST', '/v1/tenants/acme/check', check('user:cat'));
      assert.equal(within.status, 200);
      assert.equal(within.region, 'b');
      assert.equal(within.body.allowed, false);
      const fresh = await r.at.b('POST', '/v1/tenants/acme/check', check('user:cat', { at_least_as_fresh: w.body.zookie }));
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.allowed, true, 'the answer at the zookie sees the write');
      assert.equal(fresh.region, 'a', 'the replica had not replayed it: computed in the primary region');
      // Past the bound it stops: the read goes to the primary region.
      await r.waitFor('b', (s) => s.lag_ms === null || s.lag_ms > MAX_LAG, 'b past its bound');
      const past = await r.at.b('POST', '/v1/tenants/acme/check', check('user:cat'));
      assert.equal(past.status, 200);
      assert.equal(past.region, 'a');
      assert.equal(past.body.allowed, true);
      assert.ok((await r.status('b')).counters.forwarded_stale_reads >= 1);
      // Past the bound with the primary region cut off: a clear refusal, not an old answer.
      r.toA.blackhole(true);
      try {
        const refused = await r.at.b('POST', '/v1/tenants/acme/check', check('user:cat'));
        assert.equal(refused.status, 503);
        assert.ok(['replica_stale', 'primary_unavailable'].includes(refused.body.error), JSON.stringify(refused.body));
      } finally {
        r.toA.blackhole(false);
      }
    } finally {
      await cluster.resumeReplay();
    }
    await r.waitFor('b', (s) => s.lag_ms !== null && s.lag_ms < MAX_LAG && s.primary_region === 'a', 'b caught up');
    const caught = await r.at.b('POST', '/v1/tenants/acme/check', check('user:cat'));
    assert.equal(caught.region, 'b');
    assert.equal(caught.body.allowed, true);
  });

  it('a partition between the regions: writes in b get a clear 503, reads stay in b within the bound', async () => {
    r.toA.blackhole(true);
    cluster.replicationProxy.blackhole(true);
    try {
      const read = await r.at.b('POST', '/v1/tenants/acme/check', check('user:ann'));
      assert.equal(read.status, 200);
      assert.equal(read.region, 'b');
      const w = await r.at.b('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:dan'));
      assert.equal(w.status, 503);
      assert.equal(w.body.error, 'primary_unavailable');
      assert.ok(['unknown', 'no'].includes(w.applied), `Tessera-Write-Applied: ${w.applied}`);
    } finally {
      r.toA.blackhole(false);
      cluster.replicationProxy.blackhole(false);
    }
    await r.waitFor('b', (s) => s.lag_ms !== null && s.lag_ms < MAX_LAG && s.primary_region === 'a', 'b reconnected');
  });
});

describe('the edge in region b', () => {
  let cluster, r, edge, token;
  const SCHEMA_WITH_CLIENTS = `${SCHEMA}definition client {}
definition org {
    relation member: client
    permission view = member
}
`;
  const edgeCheck = async (body) => {
    const res = await fetch(`${edge.url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json(), region: res.headers.get('tessera-region'), cache: res.headers.get('tessera-cache') };
  };
  before(async () => {
    cluster = await startPgCluster();
    r = await startRegions(cluster);
    assert.equal((await r.at.a('PUT', '/v1/tenants/acme/schema', SCHEMA, { 'content-type': 'text/plain' })).status, 200);
    const client = await r.a.createClient({ tenant: 'acme', scopes: ['authz:check'] });
    const w = await r.at.a('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:ann'));
    assert.equal(w.status, 200);
    await cluster.waitForReplay();
    // Region b is this edge's nearest (EDGE_LOCATION stands in for request.cf); a is next.
    const origins = { regions: { a: r.toA.url, b: r.b.url }, prefer: { default: ['a', 'b'], FRA: ['b', 'a'] }, timeout_ms: 2000 };
    edge = await startEdge({ origin: r.b, vars: { ORIGINS: JSON.stringify(origins), EDGE_LOCATION: 'FRA', CHECK_MAX_STALENESS_MS: '3000', CHECK_HEAD_REFRESH_MS: '500' } });
    token = (await getToken(edge, client)).access_token;
  });
  after(async () => {
    await edge?.stop();
    await r?.stop();
    await cluster?.stop();
  });

  it('answers checks from region b without a request to region a', async () => {
    const before = (await r.status('a')).counters.answered_here;
    const first = await edgeCheck(check('user:ann'));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.allowed, true);
    assert.equal(first.cache, 'origin');
    assert.equal(first.region, 'b', 'a cache miss is answered at region b\'s replica head');
    const denied = await edgeCheck(check('user:bob'));
    assert.equal(denied.body.allowed, false);
    assert.equal(denied.region, 'b');
    for (let i = 0; i < 5; i++) assert.equal((await edgeCheck(check('user:ann'))).body.allowed, true);
    assert.equal((await r.status('a')).counters.answered_here, before, 'region a answered none of them');
  });

  it('reads its own write through a zookie in region b', async () => {
    const w = await r.at.a('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:eve'));
    const c = await edgeCheck(check('user:eve', { at_least_as_fresh: w.body.zookie }));
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.allowed, true);
    assert.ok(['b', 'a'].includes(c.region));
    assert.ok(c.body.revision >= w.body.revision);
  });

  it('fails over to region a when region b\'s origin is killed', async () => {
    await r.b.kill();
    const c = await edgeCheck(check('user:ann', 'fully_consistent'));
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.allowed, true);
    assert.equal(c.region, 'a');
    // Again, with b's breaker counting: still answered, by a.
    for (let i = 0; i < 4; i++) {
      const again = await edgeCheck(check('user:bob', 'fully_consistent'));
      assert.equal(again.status, 200);
      assert.equal(again.region, 'a');
    }
  });
});

describe('losing the primary under synchronous replication', () => {
  let cluster, r;
  before(async () => {
    cluster = await startPgCluster({ synchronous: true });
    r = await startRegions(cluster);
  });
  after(async () => {
    await r?.stop();
    await cluster?.stop();
  });

  it('kill -9 the primary during acknowledged writes, promote the standby: none lost, writes resume, origins follow', async () => {
    assert.equal((await r.at.a('PUT', '/v1/tenants/acme/schema', SCHEMA, { 'content-type': 'text/plain' })).status, 200);
    const acknowledged = [];
    let stop = false;
    let n = 0;
    // One writer through each region, as the edge's traffic would be.
    const writer = async (name) => {
      while (!stop) {
        const id = `${name}${n++}`;
        const w = await r.at[name]('POST', '/v1/tenants/acme/relationships/write', write(`doc:plan#viewer@user:${id}`, 'create')).catch(() => null);
        if (w?.status === 200) acknowledged.push(id);
        else await sleep(20);
      }
    };
    const writers = [writer('a'), writer('b')];
    await sleep(700);
    await cluster.killPrimary();
    const killedAt = Date.now();
    const ackedBeforeKill = acknowledged.length;
    await sleep(300);
    await cluster.promoteStandby();
    // Every origin follows the new primary without a restart: b writes locally, a (its database gone)
    // sends writes to b.
    await r.waitFor('b', (s) => s.role === 'primary' && s.primary_region === 'b', 'b is the primary');
    await r.waitFor('a', (s) => s.primary_region === 'b', 'a follows b');
    const resumedFrom = acknowledged.length;
    const deadline = Date.now() + 10_000;
    while (acknowledged.length < resumedFrom + 10 && Date.now() < deadline) await sleep(50);
    stop = true;
    await Promise.all(writers);
    assert.ok(ackedBeforeKill > 0, 'writes were acknowledged before the kill');
    assert.ok(acknowledged.length >= resumedFrom + 10, `writes resumed after the failover (${Date.now() - killedAt} ms)`);
    // Count: every acknowledged write is on the new primary.
    const read = await r.at.b('POST', '/v1/tenants/acme/relationships/read', { filter: { resource_type: 'doc' }, consistency: 'fully_consistent' });
    assert.equal(read.status, 200, JSON.stringify(read.body));
    const stored = new Set(read.body.relationships.map((x) => (typeof x === 'string' ? x : x.relationship)).map((x) => x.split('@user:')[1]));
    const lost = acknowledged.filter((id) => !stored.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged writes lost`);
    console.log(`failover: ${ackedBeforeKill} writes acknowledged before the kill, ${acknowledged.length} in all, none lost`);
    // Writes sent to a, whose database is gone, are answered by b.
    const viaA = await r.at.a('POST', '/v1/tenants/acme/relationships/write', write('doc:plan#viewer@user:late'));
    assert.equal(viaA.status, 200);
    assert.equal(viaA.region, 'b');
  });
});
