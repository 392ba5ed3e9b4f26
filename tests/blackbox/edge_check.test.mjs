// Permission checks at the edge: the real Worker in workerd in front of the real origin binary. Read-your-
// writes with zookies, the staleness bound of minimize_latency, tenant isolation of the cache, roles in
// tokens, every bad request, and what happens when the origin is killed mid-run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken } from './harness.mjs';

// Short bounds keep the test quick; the defaults (5 s / 1 s) behave the same way, only slower.
const BOUND_MS = 3000;
const REFRESH_MS = 500;

const SCHEMA = `definition user {}
definition client {}
definition org {
    relation admin: user | client
    relation member: user | client
    permission manage = admin
    permission view = member + admin
}
definition doc {
    relation org: org
    relation viewer: user | client
    permission view = viewer + org->view
}
`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('permission checks at the edge', () => {
  let origin, edge, acme, acmePlain, globex, acmeToken, plainToken, globexToken;

  const admin = async (tenant, method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/${tenant}${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const write = async (tenant, operation, ...relationships) => {
    const r = await admin(tenant, 'POST', '/relationships/write', {
      updates: relationships.map((relationship) => ({ operation, relationship })),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.zookie;
  };
  const post = async (path, token, body, raw = false) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${edge.url}${path}`, { method: 'POST', headers, body: raw ? body : JSON.stringify(body) });
    return { status: r.status, body: await r.json(), source: r.headers.get('tessera-cache'), headers: r.headers };
  };
  /** A new tenant with `schema`, and an access token of a client of it that may check. */
  const tenantWith = async (tenant, schema) => {
    const r = await admin(tenant, 'PUT', '/schema', schema);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const client = await origin.createClient({ tenant, scopes: ['authz:check'] });
    return (await getToken(edge, client)).access_token;
  };
  const check = (token, resource, permission, subject, consistency) =>
    post('/v1/check', token, consistency === undefined ? { resource, permission, subject } : { resource, permission, subject, consistency });

  before(async () => {
    origin = await startOrigin();
    for (const t of ['acme', 'globex']) {
      const r = await admin(t, 'PUT', '/schema', SCHEMA);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    // Roles are named before any client's record reaches the edge's cache.
    const roles = await admin('acme', 'PUT', '/token-roles', { roles: ['org:acme#manage', 'org:acme#view', 'org:acme#manage'] });
    assert.deepEqual(roles, { status: 200, body: { roles: ['org:acme#manage', 'org:acme#view'] } });
    acme = await origin.createClient({ tenant: 'acme', scopes: ['authz:check'] });
    acmePlain = await origin.createClient({ tenant: 'acme', scopes: ['read'] });
    globex = await origin.createClient({ tenant: 'globex', scopes: ['authz:check'] });
    await write('acme', 'create', `org:acme#admin@client:${acme.client_id}`, `org:acme#member@client:${acmePlain.client_id}`);
    // The bench build (edge/build-bench): its `/__bench/check` route empties isolate memory to reach KV.
    edge = await startEdge({
      origin,
      build: 'build-bench',
      vars: { CHECK_MAX_STALENESS_MS: String(BOUND_MS), CHECK_HEAD_REFRESH_MS: String(REFRESH_MS), BENCH_ROUTES: 'danger-enabled' },
    });
    acmeToken = (await getToken(edge, acme)).access_token;
    plainToken = (await getToken(edge, acmePlain)).access_token;
    globexToken = (await getToken(edge, globex)).access_token;
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('puts the tenant roles a client holds into its token, checked at issue time', async () => {
    const claims = jose.decodeJwt(acmeToken);
    assert.deepEqual(claims.roles, ['org:acme#manage', 'org:acme#view']);
    assert.deepEqual(jose.decodeJwt(plainToken).roles, ['org:acme#view']);
    // A tenant that names no roles gets no claim at all.
    assert.equal('roles' in jose.decodeJwt(globexToken), false);
    // Roles must name something the schema has.
    for (const [roles, msg] of [
      [['org:acme'], /type:id#permission/],
      [['org:acme#fly'], /no `fly` on type `org`/],
      [['planet:earth#view'], /no `view` on type `planet`/],
      [['org:a b#view'], /type:id#permission/],
    ]) {
      const r = await admin('acme', 'PUT', '/token-roles', { roles });
      assert.equal(r.status, 400, JSON.stringify(roles));
      assert.equal(r.body.error, 'invalid_role');
      assert.match(r.body.message, msg);
    }
    const many = Array.from({ length: 33 }, (_, i) => `org:o${i}#view`);
    assert.equal((await admin('acme', 'PUT', '/token-roles', { roles: many })).status, 400);
    assert.deepEqual((await admin('acme', 'GET', '/token-roles')).body.roles, ['org:acme#manage', 'org:acme#view']);
  });

  it('gives read-your-writes with the zookie, and stays within the staleness bound without one', async () => {
    const q = ['doc:ryw', 'view', 'user:ann'];
    const before = await check(acmeToken, ...q);
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.equal(before.body.allowed, false);

    const created = await write('acme', 'create', 'doc:ryw#viewer@user:ann');
    const afterWrite = await check(acmeToken, ...q, { at_least_as_fresh: created });
    assert.equal(afterWrite.status, 200);
    assert.equal(afterWrite.body.allowed, true, 'the very next check with the zookie sees the write');
    assert.equal(afterWrite.body.cached, false);
    assert.equal(afterWrite.source, 'origin');
    // Asked again: the same answer, now from the isolate's memory.
    const again = await check(acmeToken, ...q, { at_least_as_fresh: created });
    assert.deepEqual([again.body.allowed, again.body.cached, again.source, again.body.staleness_ms], [true, true, 'isolate', 0]);
    assert.equal(again.body.zookie, afterWrite.body.zookie);

    const deleted = await write('acme', 'delete', 'doc:ryw#viewer@user:ann');
    const afterDelete = await check(acmeToken, ...q, { at_least_as_fresh: deleted });
    assert.equal(afterDelete.body.allowed, false, 'the delete is seen at once with its zookie');
    assert.equal(afterDelete.body.cached, false);
    assert.ok(afterDelete.body.revision > afterWrite.body.revision);

    // minimize_latency may lag, but never by more than the bound, and says how far it may be behind.
    const deletedAt = Date.now();
    const seen = [];
    while (Date.now() - deletedAt < BOUND_MS + 1000) {
      const r = await check(acmeToken, 'doc:ryw', 'view', 'user:ann', 'minimize_latency');
      assert.equal(r.status, 200);
      assert.ok(r.body.staleness_ms <= BOUND_MS, `staleness ${r.body.staleness_ms}`);
      assert.equal(r.body.stale, false);
      seen.push(r.body.allowed);
      await sleep(100);
    }
    // Past the bound every answer has caught up with the delete.
    const late = await check(acmeToken, 'doc:ryw', 'view', 'user:ann');
    assert.equal(late.body.allowed, false);
    assert.ok(late.body.revision >= afterDelete.body.revision);
    assert.equal(seen.at(-1), false);
  });

  it('answers fully_consistent at the origin every time, and bulk checks at one revision', async () => {
    await write('acme', 'touch', 'doc:fc#viewer@user:bea');
    for (let i = 0; i < 2; i++) {
      const r = await check(acmeToken, 'doc:fc', 'view', 'user:bea', 'fully_consistent');
      assert.deepEqual([r.status, r.body.allowed, r.body.cached, r.source, r.body.staleness_ms], [200, true, false, 'origin', 0]);
    }
    const items = [
      { resource: 'doc:fc', permission: 'view', subject: 'user:bea' },
      { resource: 'doc:fc', permission: 'view', subject: 'user:cyd' },
      { resource: 'doc:fc', permission: 'fly', subject: 'user:bea' },
      { resource: 'org:acme', permission: 'manage', subject: `client:${acme.client_id}` },
    ];
    const first = await post('/v1/check/bulk', acmeToken, { items, consistency: 'fully_consistent' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body.results.map((r) => r.allowed ?? r.error), [true, false, 'unknown_permission', true]);
    assert.equal(first.body.cached, false);
    // Without the unanswerable item the same batch comes from the cache, at the same revision.
    const ok = items.filter((i) => i.permission !== 'fly');
    await post('/v1/check/bulk', acmeToken, { items: ok, consistency: { at_least_as_fresh: first.body.zookie } });
    const cached = await post('/v1/check/bulk', acmeToken, { items: ok, consistency: { at_least_as_fresh: first.body.zookie } });
    assert.deepEqual(cached.body.results.map((r) => r.allowed), [true, false, true]);
    assert.equal(cached.body.cached, true);
    assert.equal(cached.source, 'isolate');
  });

  it('answers caveated checks: conditional without context (never cached), decided with it (at the origin)', async () => {
    const token = await tenantWith('initech', `caveat on_day(day string, allowed list<string>) { day in allowed }
definition user {}
definition doc { relation viewer: user | user with on_day
    permission view = viewer }`);
    const z = await write('initech', 'touch', 'doc:c#viewer@user:ann[on_day:{"allowed":["mon"]}]', 'doc:c#viewer@user:bob');
    const ask = (subject, context, consistency = { at_least_as_fresh: z }) =>
      post('/v1/check', token, { resource: 'doc:c', permission: 'view', subject, consistency, ...(context ? { context } : {}) });
    for (let i = 0; i < 2; i++) {
      const c = await ask('user:ann');
      assert.equal(c.status, 200, JSON.stringify(c.body));
      assert.deepEqual([c.body.allowed, c.body.conditional, c.body.missing, c.source], [false, true, ['day'], 'origin'], `round ${i}`);
      for (const [day, allowed] of [['mon', true], ['tue', false]]) {
        const d = await ask('user:ann', { day });
        assert.deepEqual([d.status, d.body.allowed, 'conditional' in d.body, d.source], [200, allowed, false, 'origin'], `${day}, round ${i}`);
      }
    }
    // A plain answer in the same tenant is cached as ever.
    await ask('user:bob');
    const bob = await ask('user:bob');
    assert.deepEqual([bob.body.allowed, bob.source], [true, 'isolate']);
    // The origin's refusal of the context comes through with its code.
    const bad = await ask('user:ann', { day: 7 });
    assert.deepEqual([bad.status, bad.body.error], [400, 'caveat_context_invalid'], JSON.stringify(bad.body));
    const notObject = await ask('user:ann', ['day']);
    assert.equal(notObject.status, 400, JSON.stringify(notObject.body));
    // Bulk: one context for every item, each its own answer.
    const bulk = await post('/v1/check/bulk', token, {
      items: ['user:ann', 'user:bob', 'user:cyd'].map((subject) => ({ resource: 'doc:c', permission: 'view', subject })),
      context: { allowed: ['mon'] },
    });
    assert.equal(bulk.status, 200, JSON.stringify(bulk.body));
    assert.deepEqual(bulk.body.results, [{ allowed: false, conditional: true, missing: ['day'] }, { allowed: true }, { allowed: false }]);
  });

  it('answers a check resting on an expiring relationship with valid_until, never from a cache, and no once it passes', async () => {
    const token = await tenantWith('hooli', `use expiration
definition user {}
definition doc { relation viewer: user | user with expiration
    permission view = viewer }`);
    const until = new Date(Date.now() + 3000).toISOString();
    const z = await write('hooli', 'touch', `doc:e#viewer@user:ann[expiration:${until}]`, 'doc:f#viewer@user:bob');
    const ask = (resource, subject) =>
      post('/v1/check', token, { resource, permission: 'view', subject, consistency: { at_least_as_fresh: z } });
    for (let i = 0; i < 2; i++) {
      const a = await ask('doc:e', 'user:ann');
      assert.deepEqual([a.status, a.body.allowed, Date.parse(a.body.valid_until), a.source], [200, true, Date.parse(until), 'origin'], `round ${i}: ${JSON.stringify(a.body)}`);
    }
    await ask('doc:f', 'user:bob');
    const bob = await ask('doc:f', 'user:bob');
    assert.deepEqual([bob.body.allowed, 'valid_until' in bob.body, bob.source], [true, false, 'isolate']);
    const bulk = await post('/v1/check/bulk', token, {
      items: [{ resource: 'doc:e', permission: 'view', subject: 'user:ann' }],
      consistency: { at_least_as_fresh: z },
    });
    assert.equal(bulk.status, 200, JSON.stringify(bulk.body));
    assert.equal(Date.parse(bulk.body.results[0].valid_until), Date.parse(until), JSON.stringify(bulk.body));
    while (Date.now() <= Date.parse(until)) await sleep(100);
    const gone = await ask('doc:e', 'user:ann');
    assert.deepEqual([gone.status, gone.body.allowed, 'valid_until' in gone.body], [200, false, false], JSON.stringify(gone.body));
  });

  it('keeps tenants apart: the same question in two tenants has two answers', async () => {
    await write('acme', 'touch', 'doc:same#viewer@user:dan');
    const zg = await write('globex', 'touch', 'doc:same#viewer@user:eve');
    for (let round = 0; round < 3; round++) {
      const a = await check(acmeToken, 'doc:same', 'view', 'user:dan', 'fully_consistent');
      const g = await check(globexToken, 'doc:same', 'view', 'user:dan', { at_least_as_fresh: zg });
      assert.equal(a.body.allowed, true);
      assert.equal(g.body.allowed, false, `round ${round}: globex must not see acme's answer`);
      const a2 = await check(acmeToken, 'doc:same', 'view', 'user:eve');
      const g2 = await check(globexToken, 'doc:same', 'view', 'user:eve');
      assert.deepEqual([a2.body.allowed, g2.body.allowed], [false, true]);
    }
    // A zookie from another tenant is refused by the origin when the edge has to ask it.
    const za = await write('acme', 'touch', 'doc:same#viewer@user:fay');
    const cross = await check(globexToken, 'doc:same', 'view', 'user:fay', { at_least_as_fresh: za });
    if (cross.status !== 200) {
      assert.equal(cross.status, 400);
      assert.equal(cross.body.error, 'zookie_invalid');
    } else {
      // The globex head was already past acme's revision number: the zookie asked for nothing new.
      assert.equal(cross.body.allowed, false);
    }
  });

  it('serves KV answers to an isolate that has not seen the question', async () => {
    const z = await write('acme', 'touch', 'doc:kv#viewer@user:gus');
    const fresh = await check(acmeToken, 'doc:kv', 'view', 'user:gus', { at_least_as_fresh: z });
    assert.equal(fresh.body.allowed, true);
    // The KV write happens after the response; give it a moment, then ask with isolate memory emptied.
    let r;
    for (let i = 0; i < 20; i++) {
      r = await fetch(`${edge.url}/__bench/check?n=1&tenant=acme&mode=kv`, {
        method: 'POST', body: JSON.stringify({ resource: 'doc:kv', permission: 'view', subject: 'user:gus' }),
      }).then((x) => x.json());
      if (r.sources?.[0] === 'kv') break;
      await sleep(100);
    }
    assert.deepEqual(r, { n: 1, allowed: 1, sources: ['kv'] });
  });

  it('refuses bad requests with clear codes', async () => {
    const q = { resource: 'doc:1', permission: 'view', subject: 'user:ann' };
    const anon = await post('/v1/check', null, q);
    assert.equal(anon.status, 401);
    assert.equal(anon.body.error, 'unauthorized');
    assert.match(anon.headers.get('www-authenticate'), /^Bearer/);
    // A forged or expired token looks exactly like no token.
    const forged = acmeToken.slice(0, -4) + (acmeToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const bad = await post('/v1/check', forged, q);
    assert.deepEqual([bad.status, bad.body], [401, anon.body]);
    // A token without `authz:check` may ask only about itself.
    const self = await check(plainToken, 'org:acme', 'view', `client:${acmePlain.client_id}`);
    assert.deepEqual([self.status, self.body.allowed], [200, true]);
    const nosy = await check(plainToken, 'org:acme', 'view', 'user:ann');
    assert.equal(nosy.status, 403);
    assert.equal(nosy.body.error, 'forbidden_subject');
    const nosyBulk = await post('/v1/check/bulk', plainToken, {
      items: [{ resource: 'org:acme', permission: 'view', subject: `client:${acmePlain.client_id}` }, q],
    });
    assert.equal(nosyBulk.status, 403);

    const cases = [
      ['not json', 'invalid_request', true],
      [{ resource: 'doc:1', permission: 'view' }, 'invalid_request'],
      [{ ...q, extra: 1 }, 'invalid_request'],
      [{ ...q, resource: 'doc' }, 'relationship_syntax'],
      [{ ...q, subject: 'user:ann@x' }, 'relationship_syntax'],
      [{ ...q, permission: 'vi-ew' }, 'invalid_permission'],
      [{ ...q, permission: 'fly' }, 'unknown_permission'],
      [{ ...q, resource: 'planet:x' }, 'unknown_type'],
      [{ ...q, consistency: 'sometimes' }, 'invalid_request'],
      [{ ...q, consistency: { at_least_as_fresh: 'not-a-zookie' } }, 'zookie_malformed'],
      [{ ...q, consistency: { at_least_as_fresh: 'tz1_AAAA' } }, 'zookie_malformed'],
      // A well-formed zookie the origin never issued, for a revision the edge has not seen: the origin refuses it.
      [{ ...q, consistency: { at_least_as_fresh: 'tz1_' + Buffer.alloc(24, 0x7f).toString('base64url') } }, 'zookie_invalid'],
    ];
    for (const [body, code, raw] of cases) {
      const r = await post('/v1/check', acmeToken, raw ? body : body, raw);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, code, JSON.stringify(body));
      assert.ok(r.body.message.length > 0);
    }
    const big = await post('/v1/check', acmeToken, JSON.stringify({ ...q, pad: 'x'.repeat(70_000) }), true);
    assert.equal(big.status, 413);
    for (const items of [[], Array.from({ length: 101 }, () => q)]) {
      const r = await post('/v1/check/bulk', acmeToken, { items });
      assert.equal(r.status, 400);
      assert.match(r.body.message, /1 to 100 items/);
    }
    const get = await fetch(`${edge.url}/v1/check`);
    assert.equal(get.status, 405);
  });

  // Last: it kills the origin.
  it('when the origin dies: cached minimize_latency within the bound marked stale, everything else 503', async () => {
    const z = await write('acme', 'touch', 'doc:down#viewer@user:hal');
    const warm = await check(acmeToken, 'doc:down', 'view', 'user:hal', { at_least_as_fresh: z });
    assert.equal(warm.body.allowed, true);
    const cachedAt = await check(acmeToken, 'doc:down', 'view', 'user:hal');
    assert.equal(cachedAt.body.cached, true);

    await origin.kill();
    const killedAt = Date.now();

    const full = await check(acmeToken, 'doc:down', 'view', 'user:hal', 'fully_consistent');
    assert.equal(full.status, 503);
    assert.equal(full.body.error, 'consistency_unavailable');
    // A zookie the cache already meets is still answered; one beyond what the edge has seen is not.
    const met = await check(acmeToken, 'doc:down', 'view', 'user:hal', { at_least_as_fresh: z });
    assert.deepEqual([met.status, met.body.allowed, met.body.cached], [200, true, true]);
    const beyond = 'tz1_' + Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 1, 0, 0]), Buffer.alloc(16)]).toString('base64url');
    const unmet = await check(acmeToken, 'doc:down', 'view', 'user:hal', { at_least_as_fresh: beyond });
    assert.equal(unmet.status, 503);
    assert.equal(unmet.body.error, 'consistency_unavailable');
    // A question the cache never saw cannot be answered without the origin.
    const unseen = await check(acmeToken, 'doc:down', 'view', 'user:ivy');
    assert.equal(unseen.status, 503);
    assert.equal(unseen.body.error, 'consistency_unavailable');

    // The cached answer keeps coming, marked stale once the edge has failed to confirm the head, until
    // the bound runs out; then a clear refusal, never a guess.
    let sawStale = false;
    let refusedAt = null;
    while (Date.now() - killedAt < BOUND_MS + 3000) {
      const r = await check(acmeToken, 'doc:down', 'view', 'user:hal');
      if (r.status === 200) {
        assert.equal(refusedAt, null, 'no answer after the first refusal');
        assert.equal(r.body.allowed, true);
        assert.ok(r.body.staleness_ms <= BOUND_MS);
        sawStale ||= r.body.stale;
      } else {
        assert.equal(r.status, 503);
        assert.equal(r.body.error, 'consistency_unavailable');
        assert.match(r.body.message, /staleness bound/);
        refusedAt ??= Date.now();
      }
      await sleep(100);
    }
    assert.ok(sawStale, 'answers served while the origin was down said they were stale');
    assert.ok(refusedAt !== null, 'after the bound, minimize_latency refused');

    // The origin comes back: fresh answers again.
    await origin.restart();
    const back = await check(acmeToken, 'doc:down', 'view', 'user:hal');
    assert.deepEqual([back.status, back.body.allowed, back.body.stale], [200, true, false]);
  });
});
