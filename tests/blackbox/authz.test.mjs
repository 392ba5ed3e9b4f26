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

// Regression: a chain of about 37 arrows (expand 33, lookup subjects 36, explain 31) overflowed the stack
// of the thread the engine ran on and aborted the whole origin, below the depth limit of 50. A chain of
// `limit` arrows must be answered by every operation, over HTTP and in the CLI; `limit + 1` is
// `422 depth_exceeded`, and the origin lives on.
describe('the depth limit is reachable, and refused past it, without a crash', () => {
  /** `t0 -next-> t1 -> ... -> tN`, `tN#view@user:ann`: `t0:x#view` follows N arrows, each step a union of
   * a relation and an arrow (the shape of SpiceDB's `viewer + parent->view`). */
  const chainSchema = (n) => {
    const defs = ['definition user {}', `definition t${n} {\n  relation view: user\n}`];
    for (let i = n - 1; i >= 0; i--) {
      defs.push(`definition t${i} {\n  relation next: t${i + 1}\n  relation viewer: user\n  permission view = viewer + next->view\n}`);
    }
    return defs.join('\n');
  };
  const chainRelationships = (n) => [
    ...Array.from({ length: n }, (_, i) => `t${i}:x#next@t${i + 1}:x`),
    `t${n}:x#view@user:ann`,
  ];

  const setup = async (origin, tenant, n) => {
    const auth = { authorization: `Bearer ${origin.serviceToken}` };
    const s = await fetch(`${origin.url}/v1/tenants/${tenant}/schema`, { method: 'PUT', headers: auth, body: chainSchema(n) });
    assert.equal(s.status, 200, await s.text());
    const updates = chainRelationships(n).map((relationship) => ({ operation: 'create', relationship }));
    const w = await fetch(`${origin.url}/v1/tenants/${tenant}/relationships/write`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ updates }) });
    assert.equal(w.status, 200, await w.text());
  };

  const operations = [
    ['check', '/check', { resource: 't0:x', permission: 'view', subject: 'user:ann' }, (b) => b.allowed === true],
    ['explain', '/check', { resource: 't0:x', permission: 'view', subject: 'user:ann', explain: true }, (b) => b.allowed === true],
    ['expand', '/expand', { resource: 't0:x', permission: 'view' }, (b) => JSON.stringify(b.tree).includes('user:ann')],
    ['lookup resources', '/lookup/resources', { resource_type: 't0', permission: 'view', subject: 'user:ann' }, (b) => b.resources.includes('x')],
    ['lookup subjects', '/lookup/subjects', { resource: 't0:x', permission: 'view', subject_type: 'user' }, (b) => b.subjects.includes('ann')],
    ['bulk check', '/check/bulk', { items: [{ resource: 't0:x', permission: 'view', subject: 'user:ann' }] }, (b) => b.results[0].allowed === true],
  ];

  const call = async (origin, tenant, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/${tenant}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, consistency: 'fully_consistent' }),
    });
    return { status: r.status, body: await r.json() };
  };

  const cliOps = [
    ['check', 't0:x', 'view', 'user:ann'],
    ['check', '--explain', 't0:x', 'view', 'user:ann'],
    ['expand', 't0:x', 'view'],
    ['lookup-resources', 't0', 'view', 'user:ann'],
    ['lookup-subjects', 't0:x', 'view', 'user'],
  ];

  const exercise = async (origin, limit, cliArgs = []) => {
    await setup(origin, 'at', limit);
    await setup(origin, 'past', limit + 1);
    for (const [name, path, body, granted] of operations) {
      const at = await call(origin, 'at', path, body);
      assert.equal(at.status, 200, `${name} at ${limit}: ${JSON.stringify(at.body)}`);
      assert.ok(granted(at.body), `${name} at ${limit}: ${JSON.stringify(at.body)}`);
      const past = await call(origin, 'past', path, body);
      if (name === 'bulk check') {
        assert.equal(past.status, 200, JSON.stringify(past.body));
        assert.equal(past.body.results[0].error, 'depth_exceeded', JSON.stringify(past.body));
      } else {
        assert.equal(past.status, 422, `${name} past ${limit}: ${JSON.stringify(past.body)}`);
        assert.equal(past.body.error, 'depth_exceeded', `${name} past ${limit}: ${JSON.stringify(past.body)}`);
      }
    }
    assert.equal(origin.proc.exitCode, null, 'the origin is still running');
    assert.equal((await fetch(`${origin.url}/healthz`)).status, 200);
    for (const args of cliOps) {
      // The CLI prints an expand tree indented: at 150 steps that is more than the harness buffers.
      if (args[0] === 'expand' && limit > 50) continue;
      const at = await origin.cli(['authz', '--tenant', 'at', ...cliArgs, ...args]);
      assert.match(at.stdout, /true|user:ann|t0:x|"leaf"/, `${args.join(' ')} at ${limit}`);
      await assert.rejects(origin.cli(['authz', '--tenant', 'past', ...cliArgs, ...args]), /more than \d+ nested steps/, `${args.join(' ')} past ${limit}`);
    }
  };

  it('at the default limit of 50', async () => {
    const origin = await startOrigin();
    try {
      await exercise(origin, 50);
    } finally {
      await origin.stop();
    }
  });

  it('at a raised limit (--max-depth 150)', async () => {
    const origin = await startOrigin({ args: ['--max-depth', '150'] });
    try {
      await exercise(origin, 150, ['--max-depth', '150']);
    } finally {
      await origin.stop();
    }
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
