// SCIM Groups from outside, against the real origin binary over HTTP (SQLite): CRUD, lists, refusals by
// scimType; members are relationships in the tenant's store, visible through the origin's authz API
// (`POST /v1/tenants/{tenant}/check`) at the zookie the SCIM write answered; a user's delete ends its
// memberships; a 10,000-member PATCH and the removal of one member; concurrent PATCHes (different
// members all land, the same If-Match: one wins); scim2-client creates and patches a group.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startOrigin, python, run, root } from './harness.mjs';

const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCHEMA = 'definition user {}\n\ndefinition group {\n    relation member: user\n}\n';

describe('SCIM Groups', () => {
  let origin, token, base;
  const req = async (method, path, body, headers = {}) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  };
  const authz = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  /** Whether `user` is a member of `group` through the authz API, at least as fresh as `zookie`. */
  const member = async (group, user, zookie) => {
    const r = await authz('POST', '/check', {
      resource: `group:${group}`, permission: 'member', subject: `user:${user}`,
      consistency: { at_least_as_fresh: zookie },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.allowed;
  };
  const refused = (r, status, scimType) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.headers.get('content-type'), 'application/scim+json');
    assert.deepEqual(r.body.schemas, [ERROR]);
    assert.equal(r.body.scimType, scimType, JSON.stringify(r.body));
  };
  const patchOp = (...ops) => ({ schemas: [PATCH], Operations: ops });
  const newUser = async (userName) => {
    const r = await req('POST', '/Users', { userName });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const newGroup = async (displayName, members = []) => {
    const r = await req('POST', '/Groups', { schemas: [GROUP], displayName, members: members.map((value) => ({ value })) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r;
  };

  before(async () => {
    origin = await startOrigin();
    token = JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--json'])).stdout).token;
    base = `${origin.url}/scim/v2/acme`;
    assert.equal((await authz('PUT', '/schema', SCHEMA)).status, 200);
  });
  after(async () => {
    await origin?.stop();
  });

  it('creates, reads, replaces and deletes a group; members visible through check at the zookie', async () => {
    const ann = await newUser('g-ann');
    const bob = await newUser('g-bob');
    const r = await newGroup('Engineering', [ann]);
    const id = r.body.id;
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(r.headers.get('location'), `${base}/Groups/${id}`);
    assert.equal(r.headers.get('etag'), 'W/"1"');
    assert.deepEqual(r.body.schemas, [GROUP]);
    assert.deepEqual(r.body.members, [{ value: ann, $ref: `${base}/Users/${ann}`, display: 'g-ann', type: 'User' }]);
    assert.equal(r.body.meta.resourceType, 'Group');
    const z1 = r.headers.get('tessera-zookie');
    assert.ok(z1);
    assert.equal(await member(id, ann, z1), true);
    assert.equal(await member(id, bob, z1), false);

    const got = await req('GET', `/Groups/${id}`);
    assert.deepEqual([got.status, got.body], [200, r.body]);
    const lean = await req('GET', `/Groups/${id}?excludedAttributes=members`);
    assert.equal(lean.body.members, undefined);
    assert.equal(lean.body.displayName, 'Engineering');
    assert.equal((await req('GET', `/Groups/${id}`, undefined, { 'if-none-match': 'W/"1"' })).status, 304);

    const put = await req('PUT', `/Groups/${id}`, { schemas: [GROUP], displayName: 'Eng', externalId: 'ext-eng', members: [{ value: bob }] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.headers.get('etag'), 'W/"2"');
    assert.deepEqual(put.body.members.map((m) => m.value), [bob]);
    const z2 = put.headers.get('tessera-zookie');
    assert.equal(await member(id, ann, z2), false);
    assert.equal(await member(id, bob, z2), true);
    refused(await req('PUT', `/Groups/${id}`, { displayName: 'x' }, { 'if-match': 'W/"1"' }), 412, undefined);

    const del = await req('DELETE', `/Groups/${id}`);
    assert.equal(del.status, 204);
    assert.equal(await member(id, bob, del.headers.get('tessera-zookie')), false);
    refused(await req('GET', `/Groups/${id}`), 404, undefined);
    refused(await req('DELETE', `/Groups/${id}`), 404, undefined);
  });

  it('refuses bad groups by scimType and writes nothing', async () => {
    const ann = await newUser('r-ann');
    const cases = [
      ['{"displayName":', 400, 'invalidSyntax'],
      [{ schemas: ['urn:nope'], displayName: 'x' }, 400, 'invalidSyntax'],
      [{ members: [] }, 400, 'invalidValue'],
      [{ displayName: 5 }, 400, 'invalidValue'],
      [{ displayName: 'x', colour: 'red' }, 400, 'invalidValue'],
      [{ displayName: 'x', members: [{ value: ann }, { value: 'nobody' }] }, 400, 'invalidValue'],
      [{ displayName: 'x', members: [{ value: ann, type: 'Group' }] }, 400, 'invalidValue'],
      [{ displayName: 'x', members: [{ display: 'no value' }] }, 400, 'invalidValue'],
    ];
    for (const [body, status, scimType] of cases) {
      refused(await req('POST', '/Groups', body), status, scimType);
    }
    await newGroup('Unique', []).then(async (r) => {
      await req('PATCH', `/Groups/${r.body.id}`, patchOp({ op: 'replace', path: 'externalId', value: 'ext-u' }));
    });
    refused(await req('POST', '/Groups', { displayName: 'Other', externalId: 'ext-u' }), 409, 'uniqueness');
    const all = await req('GET', '/Groups?filter=' + encodeURIComponent('displayName eq "x"'));
    assert.equal(all.body.totalResults, 0);
    const g = (await newGroup('Patched')).body.id;
    refused(await req('PATCH', `/Groups/${g}`, patchOp({ op: 'add', path: 'members', value: [{ value: 'nobody' }] })), 400, 'invalidValue');
    refused(await req('PATCH', `/Groups/${g}`, patchOp({ op: 'add', path: 'members', value: [{ value: ann, type: 'Group' }] })), 400, 'invalidValue');
    refused(await req('PATCH', `/Groups/${g}`, patchOp({ op: 'remove', path: 'members[display co "x"]' })), 400, 'invalidPath');
    refused(await req('PATCH', `/Groups/${g}`, patchOp({ op: 'remove', path: 'displayName' })), 400, 'invalidValue');
    const after = await req('GET', `/Groups/${g}`);
    assert.equal(after.body.members, undefined);
    assert.equal(after.body.meta.version, 'W/"1"');
  });

  it('lists with filter, sort, paging, projection and .search', async () => {
    const u = await newUser('l-ann');
    for (const n of ['List C', 'List A', 'List B']) await newGroup(n, n === 'List A' ? [u] : []);
    const list = await req('GET', '/Groups?filter=' + encodeURIComponent('displayName sw "List"') + '&sortBy=displayName&count=2&attributes=displayName');
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.equal(list.body.totalResults, 3);
    assert.deepEqual(list.body.Resources.map((g) => g.displayName), ['List A', 'List B']);
    assert.equal(list.body.Resources[0].members, undefined);
    const eq = await req('GET', '/Groups?filter=' + encodeURIComponent('displayName eq "list a"'));
    assert.deepEqual(eq.body.Resources.map((g) => [g.displayName, g.members.map((m) => m.value)]), [['List A', [u]]]);
    const byMember = await req('GET', '/Groups?filter=' + encodeURIComponent(`members[value eq "${u}"]`) + '&excludedAttributes=members');
    assert.deepEqual(byMember.body.Resources.map((g) => [g.displayName, g.members]), [['List A', undefined]]);
    const s = await req('POST', '/Groups/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: `id eq "${eq.body.Resources[0].id}"`, attributes: ['displayName'],
    });
    assert.deepEqual(s.body.Resources.map((g) => g.displayName), ['List A']);
  });

  it("a user's delete ends its memberships", async () => {
    const ann = await newUser('d-ann');
    const g = await newGroup('Deleting', [ann]);
    assert.equal(await member(g.body.id, ann, g.headers.get('tessera-zookie')), true);
    assert.equal((await req('DELETE', `/Users/${ann}`)).status, 204);
    const head = await authz('POST', '/check', { resource: `group:${g.body.id}`, permission: 'member', subject: `user:${ann}`, consistency: 'fully_consistent' });
    assert.equal(head.body.allowed, false);
    assert.equal((await req('GET', `/Groups/${g.body.id}`)).body.members, undefined);
  });

  it('adds 10,000 members in one PATCH, then removes one by touching only it', async (t) => {
    const ids = [];
    // Users come through SCIM, 50 at a time.
    for (let i = 0; i < 10_000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => newUser(`big-${i + j}`)));
      ids.push(...batch);
    }
    const g = (await newGroup('Big')).body.id;
    const tAdd = Date.now();
    const add = await req('PATCH', `/Groups/${g}`, patchOp({ op: 'add', path: 'members', value: ids.map((value) => ({ value })) }));
    t.diagnostic(`adding 10,000 members took ${Date.now() - tAdd} ms`);
    assert.equal(add.status, 204, JSON.stringify(add.body));
    const z = add.headers.get('tessera-zookie');
    assert.equal(await member(g, ids[0], z), true);
    assert.equal(await member(g, ids[9_999], z), true);
    const lean = await req('GET', `/Groups/${g}?excludedAttributes=members`);
    assert.equal(lean.body.members, undefined);
    const full = await req('GET', `/Groups/${g}?attributes=members`);
    assert.equal(full.body.members.length, 10_000);
    const t0 = Date.now();
    const rm = await req('PATCH', `/Groups/${g}`, patchOp({ op: 'remove', path: `members[value eq "${ids[5]}"]` }));
    const took = Date.now() - t0;
    assert.equal(rm.status, 204);
    const z2 = rm.headers.get('tessera-zookie');
    assert.equal(await member(g, ids[5], z2), false);
    assert.equal(await member(g, ids[6], z2), true);
    t.diagnostic(`removing one member of 10,000 took ${took} ms`);
    assert.ok(took < 2_000, `removing one member of 10,000 took ${took} ms`);
    const after = await req('GET', `/Groups/${g}?attributes=members`);
    assert.equal(after.body.members.length, 9_999);
  });

  it('eight concurrent PATCHes adding different members all land; eight with one If-Match: one wins', async () => {
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => newUser(`c-${i}`)));
    const g = (await newGroup('Concurrent')).body.id;
    const adds = await Promise.all(users.map((u) => req('PATCH', `/Groups/${g}`, patchOp({ op: 'add', path: 'members', value: [{ value: u }] }))));
    assert.deepEqual(adds.map((r) => r.status), Array(8).fill(204));
    const got = await req('GET', `/Groups/${g}`);
    assert.deepEqual(got.body.members.map((m) => m.value).sort(), [...users].sort());
    assert.equal(got.body.meta.version, 'W/"9"');
    const named = await Promise.all(users.map((_, i) => req('PATCH', `/Groups/${g}`,
      patchOp({ op: 'replace', path: 'displayName', value: `Winner ${i}` }), { 'if-match': 'W/"9"' })));
    assert.deepEqual(named.map((r) => r.status).sort(), [204, ...Array(7).fill(412)]);
    assert.equal((await req('GET', `/Groups/${g}`)).body.meta.version, 'W/"10"');
  });

  it('scim2-client creates a group with members and patches it', async () => {
    const ann = await newUser('py-ann');
    const bob = await newUser('py-bob');
    const { stdout } = await run(python, [join(root, 'tests', 'blackbox', 'scim_groups.py'), base, token, ann, bob]);
    const seen = JSON.parse(stdout);
    assert.deepEqual(seen.created, [ann]);
    assert.deepEqual(seen.patched.sort(), [bob].sort());
    assert.equal(seen.display, 'py group');
  });
});
