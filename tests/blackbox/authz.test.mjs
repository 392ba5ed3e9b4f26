// The authorization store through the real origin binary: the zed-like CLI and the HTTP API agree, and
// zookies give read-your-writes.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOrigin } from './harness.mjs';

const SCHEMA = `definition user {}
definition group {
    relation member: user | group#member
}
definition folder {
    relation parent: folder
    relation viewer: user | group#member
    permission view = viewer + parent->view
}
definition doc {
    relation parent: folder
    relation viewer: user | user:*
    relation banned: user
    permission view = viewer + parent->view - banned
}
`;

describe('authorization at the origin', () => {
  let origin, dir;
  before(async () => {
    origin = await startOrigin();
    dir = mkdtempSync(join(tmpdir(), 'tessera-authz-'));
    writeFileSync(join(dir, 'schema.zed'), SCHEMA);
  });
  after(async () => {
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const api = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const cli = async (...args) => (await origin.cli(['authz', '--tenant', 'acme', ...args])).stdout.trim();

  it('the CLI writes a schema and relationships, and checks through folders and groups', async () => {
    assert.match(await cli('schema', 'write', join(dir, 'schema.zed')), /^schema written at revision 1$/);
    assert.match(await cli('schema', 'read'), /definition doc/);
    await cli('relationship', 'create', 'doc:plan#parent@folder:eng', 'folder:eng#viewer@group:staff#member', 'group:staff#member@user:ann');
    assert.equal(await cli('check', 'doc:plan', 'view', 'user:ann'), 'true');
    assert.equal(await cli('check', 'doc:plan', 'view', 'user:bob'), 'false');
    assert.deepEqual((await cli('relationship', 'read', 'folder')).split('\n'), ['folder:eng#viewer@group:staff#member']);
    assert.equal(await cli('lookup-resources', 'doc', 'view', 'user:ann'), 'doc:plan');
    assert.equal(await cli('lookup-subjects', 'doc:plan', 'view', 'user'), 'user:ann');
    assert.equal(await cli('lookup-subjects', 'folder:eng', 'view', 'group#member'), 'group:staff#member');
    assert.match(await cli('expand', 'doc:plan', 'view'), /"folder:eng"/);
    await assert.rejects(cli('relationship', 'create', 'doc:plan#view@user:bob'), /no relation `view`/);
    await assert.rejects(cli('check', 'doc:plan', 'edit', 'user:ann'), /no relation or permission `edit`/);
  });

  it('the HTTP API sees the same data and honours zookies', async () => {
    const c = await api('POST', '/check', { resource: 'doc:plan', permission: 'view', subject: 'user:ann', consistency: 'fully_consistent' });
    assert.equal(c.status, 200);
    assert.equal(c.body.allowed, true);
    const w = await api('POST', '/relationships/write', { updates: [{ operation: 'touch', relationship: 'doc:plan#banned@user:ann' }] });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    const after = await api('POST', '/check', { resource: 'doc:plan', permission: 'view', subject: 'user:ann', consistency: { at_least_as_fresh: w.body.zookie } });
    assert.equal(after.body.allowed, false, 'read-your-writes with the zookie');
    const before = await api('POST', '/check', { resource: 'doc:plan', permission: 'view', subject: 'user:ann', consistency: { at_exact_snapshot: c.body.zookie } });
    assert.equal(before.body.allowed, true, 'the older snapshot is stable');
    assert.equal(await cli('check', 'doc:plan', 'view', 'user:ann', '--revision', String(c.body.revision)), 'true');
    const watch = await fetch(`${origin.url}/v1/tenants/acme/watch?since=${c.body.zookie}`, { headers: { authorization: `Bearer ${origin.serviceToken}` } });
    assert.deepEqual((await watch.json()).changes.map((x) => x.relationship), ['doc:plan#banned@user:ann']);
    const bad = await api('POST', '/check', '{"resource": 5}');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_request');
  });
});

// Regression: SpiceDB's `publicwithexclusion`: lookup subjects answered `["*"]` although check denies the
// banned; the wildcard carries its exclusions, over HTTP and in the CLI.
describe('lookup subjects through a wildcard with exclusions', () => {
  let origin;
  before(async () => { origin = await startOrigin(); });
  after(async () => { await origin?.stop(); });

  it('lists the excluded with the wildcard', async () => {
    const auth = { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' };
    const schema = 'definition user {}\ndefinition doc {\n  relation viewer: user:* | user\n  relation banned: user\n  permission view = viewer - banned\n}';
    assert.equal((await fetch(`${origin.url}/v1/tenants/pub/schema`, { method: 'PUT', headers: auth, body: schema })).status, 200);
    const updates = ['doc:1#viewer@user:*', 'doc:1#banned@user:bob'].map((relationship) => ({ operation: 'create', relationship }));
    assert.equal((await fetch(`${origin.url}/v1/tenants/pub/relationships/write`, { method: 'POST', headers: auth, body: JSON.stringify({ updates }) })).status, 200);
    const r = await fetch(`${origin.url}/v1/tenants/pub/lookup/subjects`, { method: 'POST', headers: auth, body: JSON.stringify({ resource: 'doc:1', permission: 'view', subject_type: 'user', consistency: 'fully_consistent' }) });
    const b = await r.json();
    assert.deepEqual([b.subjects, b.excluded], [['*'], ['bob']], JSON.stringify(b));
    const { stdout } = await origin.cli(['authz', '--tenant', 'pub', 'lookup-subjects', 'doc:1', 'view', 'user']);
    assert.equal(stdout.trim(), 'user:* - {user:bob}');
  });

  it('answers an oversized schema with the JSON error', async () => {
    const r = await fetch(`${origin.url}/v1/tenants/pub/schema`, { method: 'PUT', headers: { authorization: `Bearer ${origin.serviceToken}` }, body: 'x'.repeat(3 * 1024 * 1024) });
    assert.equal(r.status, 413);
    assert.equal((await r.json()).error, 'body_too_large');
  });
});
