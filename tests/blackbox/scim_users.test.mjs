// SCIM Users from outside, against the real origin binary over HTTP (SQLite): creation, reads, replace,
// PATCH (with the vendors' quirks), delete, lists (filter, sort, pages, projection, .search), ETags, every
// refusal in RFC 7644's shape; the atomic properties under concurrency (one of eight creations of a name,
// one of eight PATCHes naming a version); deprovisioning through SCIM ends the sessions of a person who
// signed up with a passkey at the real edge; and two clients nobody here wrote (scim2-client, and
// scim2-tester's User checks) drive the same endpoints.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startOrigin, startEdge, python, run, root } from './harness.mjs';
import { people } from './people.mjs';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const AUD = 'https://api.tessera.test';
const subject = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).sub;

describe('SCIM Users', () => {
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
  const refused = (r, status, scimType) => {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.headers.get('content-type'), 'application/scim+json');
    assert.deepEqual(r.body.schemas, [ERROR]);
    assert.equal(r.body.status, String(status));
    assert.equal(r.body.scimType, scimType, JSON.stringify(r.body));
  };
  const patchOp = (...ops) => ({ schemas: [PATCH], Operations: ops });

  before(async () => {
    origin = await startOrigin();
    token = JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--json'])).stdout).token;
    base = `${origin.url}/scim/v2/acme`;
  });
  after(async () => {
    await origin?.stop();
  });

  it('creates a user: 201, Location, ETag, meta; reads it back; 404 in SCIM shape', async () => {
    const r = await req('POST', '/Users', {
      schemas: [CORE, ENTERPRISE], userName: 'bjensen', externalId: 'ext-bj', name: { givenName: 'Barbara' },
      emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
      [ENTERPRISE]: { department: 'R&D', manager: { value: 'boss', displayName: 'ignored' } },
      password: 'never stored', id: 'ignored', meta: { version: 'ignored' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(r.headers.get('location'), `${base}/Users/${r.body.id}`);
    assert.equal(r.headers.get('etag'), 'W/"1"');
    assert.deepEqual(r.body.schemas, [CORE, ENTERPRISE]);
    assert.equal(r.body.password, undefined);
    assert.deepEqual(r.body[ENTERPRISE], { department: 'R&D', manager: { value: 'boss' } });
    assert.deepEqual([r.body.meta.resourceType, r.body.meta.location, r.body.meta.version], ['User', `${base}/Users/${r.body.id}`, 'W/"1"']);
    assert.match(r.body.meta.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const got = await req('GET', `/Users/${r.body.id}`);
    assert.deepEqual([got.status, got.body], [200, r.body]);
    refused(await req('GET', '/Users/no-such-user'), 404, undefined);
  });

  it('refuses bad bodies with a stable scimType, and stores nothing', async () => {
    const cases = [
      ['{"userName":', 400, 'invalidSyntax'],
      ['[1,2]', 400, 'invalidSyntax'],
      [{ schemas: 'nope', userName: 'x1' }, 400, 'invalidSyntax'],
      [{ schemas: ['urn:nope'], userName: 'x2' }, 400, 'invalidValue'],
      [{ displayName: 'no name' }, 400, 'invalidValue'],
      [{ userName: 5 }, 400, 'invalidValue'],
      [{ userName: ' padded' }, 400, 'invalidValue'],
      [{ userName: 'x'.repeat(65) }, 400, 'invalidValue'],
      [{ userName: 'x3', active: 'maybe' }, 400, 'invalidValue'],
      [{ userName: 'x4', emails: [{ value: 5 }] }, 400, 'invalidValue'],
      [{ userName: 'x5', noSuchAttribute: 1 }, 400, 'invalidValue'],
      [{ userName: 'x6', externalId: '' }, 400, 'invalidValue'],
    ];
    for (const [body, status, scimType] of cases) refused(await req('POST', '/Users', body), status, scimType);
    const wrongType = await req('POST', '/Users', '{"userName":"x7"}', { 'content-type': 'text/plain' });
    refused(wrongType, 415, undefined);
    const huge = await req('POST', '/Users', JSON.stringify({ userName: 'x8', title: 'x'.repeat(3 * 1024 * 1024) }));
    refused(huge, 413, undefined);
    // application/json is SCIM too.
    const plain = await req('POST', '/Users', { userName: 'plain-json' }, { 'content-type': 'application/json' });
    assert.equal(plain.status, 201);
    const all = await req('GET', '/Users?filter=userName%20sw%20%22x%22');
    assert.equal(all.body.totalResults, 0, 'a refused body stored nothing');
    refused(await req('DELETE', '/Users'), 405, undefined);
  });

  it('eight concurrent creations of one userName (in any case): exactly one 201, seven 409 uniqueness', async () => {
    const names = ['racer', 'Racer', 'RACER', 'racer', 'rAcer', 'racer', 'Racer', 'racer'];
    const rs = await Promise.all(names.map((userName) => req('POST', '/Users', { userName })));
    assert.equal(rs.filter((r) => r.status === 201).length, 1, JSON.stringify(rs.map((r) => r.status)));
    for (const r of rs.filter((r) => r.status !== 201)) refused(r, 409, 'uniqueness');
    const ext = await Promise.all(Array.from({ length: 8 }, (_, i) => req('POST', '/Users', { userName: `ext-${i}`, externalId: 'same' })));
    assert.equal(ext.filter((r) => r.status === 201).length, 1);
    for (const r of ext.filter((r) => r.status !== 201)) refused(r, 409, 'uniqueness');
  });

  it('ETags: If-None-Match 304, If-Match 412 when stale, and eight PATCHes naming one version: one wins', async () => {
    const { body: u } = await req('POST', '/Users', { userName: 'etag-user' });
    const notModified = await fetch(`${base}/Users/${u.id}`, { headers: { authorization: `Bearer ${token}`, 'if-none-match': 'W/"1"' } });
    assert.deepEqual([notModified.status, notModified.headers.get('etag')], [304, 'W/"1"']);
    assert.equal((await req('GET', `/Users/${u.id}`, undefined, { 'if-none-match': 'W/"7"' })).status, 200);

    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => req('PATCH', `/Users/${u.id}`,
      patchOp({ op: 'replace', path: 'displayName', value: `writer ${i}` }), { 'if-match': 'W/"1"' })));
    assert.equal(rs.filter((r) => r.status === 200).length, 1, JSON.stringify(rs.map((r) => r.status)));
    for (const r of rs.filter((r) => r.status !== 200)) refused(r, 412, undefined);
    const now = await req('GET', `/Users/${u.id}`);
    assert.equal(now.headers.get('etag'), 'W/"2"');
    refused(await req('PUT', `/Users/${u.id}`, { userName: 'etag-user' }, { 'if-match': 'W/"1"' }), 412, undefined);
    refused(await req('DELETE', `/Users/${u.id}`, undefined, { 'if-match': 'W/"1"' }), 412, undefined);
    const put = await req('PUT', `/Users/${u.id}`, { userName: 'etag-user', title: 'Boss' }, { 'if-match': 'W/"2"' });
    assert.deepEqual([put.status, put.headers.get('etag'), put.body.title], [200, 'W/"3"', 'Boss']);
    // A PATCH that changes nothing keeps the version.
    const same = await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'title', value: 'Boss' }));
    assert.equal(same.headers.get('etag'), 'W/"3"');
    const cfg = await req('GET', '/ServiceProviderConfig');
    assert.equal(cfg.body.etag.supported, true);
  });

  it('PUT replaces (read-only ignored, absent attributes cleared); PATCH takes Entra ID and Okta shapes', async () => {
    const { body: u } = await req('POST', '/Users', { userName: 'put-user', title: 'T', nickName: 'N', emails: [{ value: 'a@x', type: 'work' }] });
    const put = await req('PUT', `/Users/${u.id}`, { id: 'other', meta: {}, groups: [], userName: 'put-user', nickName: 'M' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual([put.body.id, put.body.nickName, put.body.title, put.body.emails], [u.id, 'M', undefined, undefined]);
    // Entra ID: capitalised op, "False" as a string, a path-less value keyed by a path; Okta: a value filter.
    const entra = await req('PATCH', `/Users/${u.id}`, patchOp(
      { op: 'Replace', path: 'active', value: 'False' },
      { op: 'Add', value: { 'name.givenName': 'Gina', [`${ENTERPRISE}:department`]: 'Ops' } },
      { op: 'add', path: 'emails[type eq "work"].value', value: 'gina@example.com' },
    ));
    assert.equal(entra.status, 200, JSON.stringify(entra.body));
    assert.deepEqual([entra.body.active, entra.body.name, entra.body[ENTERPRISE], entra.body.emails],
      [false, { givenName: 'Gina' }, { department: 'Ops' }, [{ type: 'work', value: 'gina@example.com' }]]);
    assert.deepEqual(entra.body.schemas, [CORE, ENTERPRISE]);
    refused(await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'id', value: 'x' })), 400, 'mutability');
    refused(await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'remove', path: 'userName' })), 400, 'invalidValue');
    refused(await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'emails[type eq', value: 1 })), 400, 'invalidFilter');
    refused(await req('PATCH', `/Users/${u.id}`, { Operations: [] }), 400, 'invalidSyntax');
    refused(await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'userName', value: 'RACER' })), 409, 'uniqueness');
    refused(await req('PATCH', '/Users/nobody', patchOp({ op: 'replace', path: 'title', value: 'x' })), 404, undefined);
  });

  it('lists: filter (pushed down or not), sort, pages clamped to the maximum, projection, .search', async () => {
    for (const [userName, title] of [['list-c', 'Zed'], ['list-a', 'Alpha'], ['list-b', 'Mid']]) {
      assert.equal((await req('POST', '/Users', { userName, title, externalId: `ext-${userName}` })).status, 201);
    }
    const q = (s) => req('GET', `/Users?${s}`);
    const byName = await q('filter=' + encodeURIComponent('userName eq "LIST-A"'));
    assert.deepEqual(byName.body.Resources.map((r) => r.userName), ['list-a']);
    const byExt = await q('filter=' + encodeURIComponent('externalId eq "ext-list-b" and title eq "Mid"'));
    assert.deepEqual(byExt.body.Resources.map((r) => r.userName), ['list-b']);
    assert.equal((await q('filter=' + encodeURIComponent('externalId eq "EXT-LIST-B"'))).body.totalResults, 0, 'externalId is caseExact');
    const sorted = await q('filter=' + encodeURIComponent('userName sw "list-"') + '&sortBy=title&sortOrder=descending&attributes=userName,title');
    assert.deepEqual(sorted.body.Resources, [
      { id: sorted.body.Resources[0].id, schemas: [CORE], userName: 'list-c', title: 'Zed' },
      { id: sorted.body.Resources[1].id, schemas: [CORE], userName: 'list-b', title: 'Mid' },
      { id: sorted.body.Resources[2].id, schemas: [CORE], userName: 'list-a', title: 'Alpha' },
    ]);
    const page = await q('filter=' + encodeURIComponent('userName sw "list-"') + '&sortBy=userName&startIndex=2&count=1&excludedAttributes=meta');
    assert.deepEqual([page.body.totalResults, page.body.startIndex, page.body.itemsPerPage], [3, 2, 1]);
    assert.deepEqual([page.body.Resources[0].userName, page.body.Resources[0].meta], ['list-b', undefined]);
    const clamped = await q('count=100000');
    assert.ok(clamped.body.itemsPerPage <= 200);
    const zero = await q('count=0');
    assert.deepEqual([zero.body.itemsPerPage, zero.body.Resources], [0, []]);
    refused(await q('filter=' + encodeURIComponent('userName eq')), 400, 'invalidFilter');
    refused(await q('filter=' + encodeURIComponent('password eq "x"')), 400, 'invalidFilter');
    refused(await q('sortBy=nope'), 400, 'invalidPath');
    refused(await q('count=ten'), 400, 'invalidValue');
    const search = await req('POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'title pr and userName sw "list-"', sortBy: 'userName', attributes: ['userName'], startIndex: 1, count: 2,
    });
    assert.deepEqual([search.status, search.body.totalResults, search.body.Resources.map((r) => r.userName)], [200, 3, ['list-a', 'list-b']]);
    refused(await req('POST', '/Users/.search', { count: 'two' }), 400, 'invalidValue');
  });

  // Found by a security review: on SQLite only ASCII case was folded, so `ÄLICE` and `älice` (or the
  // Kelvin sign's `Kim` and `kim`) were two users, and a filter's answer depended on whether it was pushed
  // down. Names fold by Unicode's rules, in one place, on both databases.
  it('userName uniqueness and filters fold case by Unicode rules, pushed down or not', async () => {
    assert.equal((await req('POST', '/Users', { schemas: [CORE], userName: 'ÄLICE' })).status, 201);
    refused(await req('POST', '/Users', { schemas: [CORE], userName: 'älice' }), 409, 'uniqueness');
    assert.equal((await req('POST', '/Users', { schemas: [CORE], userName: '\u212Aim' })).status, 201);
    refused(await req('POST', '/Users', { schemas: [CORE], userName: 'kim' }), 409, 'uniqueness');
    const count = async (filter) =>
      (await req('GET', `/Users?filter=${encodeURIComponent(filter)}`)).body.totalResults;
    assert.equal(await count('userName eq "kim"'), 1);
    assert.equal(await count('userName eq "kim" or userName eq "nobody"'), 1);
    assert.equal(await count('userName eq "älice"'), 1);
    assert.equal(await count('userName eq "älice" or userName eq "nobody"'), 1);
  });

  // Found by a security review: a PUT or PATCH that leaves `active` out reactivated a user an operator had
  // deactivated, so the deprovisioning undid itself on the identity provider's next sync. An operator's
  // deactivation is a hold that no SCIM write lifts; only `users activate` does.
  it("an operator's deactivation holds through any SCIM write until the operator lifts it", async () => {
    const { body: u } = await req('POST', '/Users', { schemas: [CORE], userName: 'dora', displayName: 'Dora' });
    await origin.cli(['users', 'deactivate', '--tenant', 'acme', u.id]);
    assert.equal((await req('GET', `/Users/${u.id}`)).body.active, false);
    const put = await req('PUT', `/Users/${u.id}`, { schemas: [CORE], userName: 'dora', displayName: 'Dora D.' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.active, false);
    assert.equal((await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'remove', path: 'active' }))).body.active, false);
    assert.equal((await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'active', value: true }))).body.active, false);
    await origin.cli(['users', 'activate', '--tenant', 'acme', u.id]);
    assert.notEqual((await req('GET', `/Users/${u.id}`)).body.active, false);
    // Without a hold, SCIM's own `active` decides (an unassigned `active` is active).
    assert.equal((await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'replace', path: 'active', value: false }))).body.active, false);
    assert.notEqual((await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'remove', path: 'active' }))).body.active, false);
  });

  // Found by a security review: one PATCH adding tens of thousands of values held SQLite's lock for a
  // minute and other tenants' writes failed. Values per attribute and stored bytes per user are bounded.
  it('bounds what one user can hold: values per attribute, and bytes of attributes', async () => {
    const { body: u } = await req('POST', '/Users', { schemas: [CORE], userName: 'hoarder' });
    const emails = (n, from = 0) => Array.from({ length: n }, (_, i) => ({ value: `h${from + i}@example.com` }));
    refused(await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'add', path: 'emails', value: emails(1_001) })), 400, 'invalidValue');
    const big = await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'add', path: 'emails', value: emails(1_000).map((e) => ({ ...e, display: 'x'.repeat(100) })) }));
    refused(big, 400, 'invalidValue');
    assert.match(big.body.detail, /at most 65536 bytes/);
    const ok = await req('PATCH', `/Users/${u.id}`, patchOp({ op: 'add', path: 'emails', value: emails(500) }));
    assert.equal(ok.status, 200, JSON.stringify(ok.body).slice(0, 300));
    assert.equal(ok.body.emails.length, 500);
    const ops = Array.from({ length: 1_001 }, () => ({ op: 'replace', path: 'displayName', value: 'x' }));
    refused(await req('PATCH', `/Users/${u.id}`, patchOp(...ops)), 400, 'invalidSyntax');
    // Nothing of a refused PATCH was kept.
    assert.equal((await req('GET', `/Users/${u.id}`)).body.emails.length, 500);
  });

  it('DELETE: 204, then 404; the name is free again', async () => {
    const { body: u } = await req('POST', '/Users', { userName: 'gone' });
    const del = await req('DELETE', `/Users/${u.id}`, undefined, { 'if-match': 'W/"1"' });
    assert.equal(del.status, 204);
    refused(await req('GET', `/Users/${u.id}`), 404, undefined);
    refused(await req('DELETE', `/Users/${u.id}`), 404, undefined);
    assert.equal((await req('POST', '/Users', { userName: 'gone' })).status, 201);
  });

  it('scim2-client creates, reads, queries, patches, replaces and deletes a user', async () => {
    const { stdout } = await run(python, [join(root, 'tests', 'blackbox', 'scim_users.py'), 'client', base, token]);
    const seen = JSON.parse(stdout.trim().split('\n').pop());
    assert.equal(seen.created.user_name, 'scim2-client-user');
    assert.equal(seen.created.version, 'W/"1"');
    assert.deepEqual(seen.filtered, [seen.created.id]);
    assert.deepEqual(seen.searched, ['scim2-client-user']);
    assert.deepEqual([seen.patched, seen.replaced, seen.version_after], ['Patched Name', 'Replaced Name', 'W/"3"']);
    assert.equal(seen.after_delete, 'NotFoundException');
  });

  it("scim2-tester's User checks all pass", async () => {
    const r = await run(python, [join(root, 'tests', 'blackbox', 'scim_users.py'), 'tester', base, token]).catch((e) => e);
    const results = JSON.parse(r.stdout.trim().split('\n').pop());
    const failed = results.filter((x) => !['SUCCESS', 'SKIPPED'].includes(x.status));
    assert.deepEqual(failed, []);
    assert.ok(results.filter((x) => x.type === 'User').length >= 20, `${results.length} results`);
  });
});

describe('SCIM deprovisioning ends passkey sessions', () => {
  let origin, edge, p, token, base;
  const req = (method, path, body) => fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body: body && JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: r.status === 204 ? null : await r.json() }));
  const active = (value) => ({ schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value }] });

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme' } });
    const client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    p = people(edge, client);
    token = JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--json'])).stdout).token;
    base = `${origin.url}/scim/v2/acme`;
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('PATCH active:false revokes the sessions at once; active:true lets them sign in; DELETE ends them too', async () => {
    const { device, tokens } = await p.signUp('erin');
    const id = subject(tokens.access_token);
    const listed = await req('GET', `/Users?filter=${encodeURIComponent('userName eq "Erin"')}`);
    assert.deepEqual(listed.body.Resources.map((r) => r.id), [id], 'the passkey user is a SCIM user');
    assert.equal((await p.introspect(tokens.access_token)).active, true);

    const off = await req('PATCH', `/Users/${id}`, active(false));
    assert.deepEqual([off.status, off.body.active], [200, false]);
    const seen = await p.introspect(tokens.access_token);
    assert.deepEqual([seen.active, seen.inactive_reason], [false, 'session_revoked']);
    const r = await p.refresh(tokens.refresh_token);
    assert.deepEqual([r.status, r.body.error], [400, 'invalid_grant']);
    assert.equal((await p.signIn(device, 'erin')).status, 400);

    const on = await req('PATCH', `/Users/${id}`, active('True'));
    assert.deepEqual([on.status, on.body.active], [200, true]);
    const back = await p.signIn(device, 'erin');
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal((await p.introspect(back.body.access_token)).active, true);

    assert.equal((await req('DELETE', `/Users/${id}`)).status, 204);
    assert.equal((await p.introspect(back.body.access_token)).active, false);
    assert.equal((await p.refresh(back.body.refresh_token)).status, 400);
    assert.equal((await p.signIn(device, 'erin')).status, 400, 'the passkey went with the user');
  });
});
