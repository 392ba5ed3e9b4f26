// OpenFGA's ABAC (conditions) tests (third-party data, read from ../shared/vectors/openfga; never copied
// here) through the import path, twice: through the authorization core's probe
// (crates/authz/examples/authz_probe.rs), and through the real origin binary over HTTP
// (PUT /schema/openfga, relationships written in their text form with the condition as caveat and
// context, checks and lookup/resources with `context`). Each stage's DSL model is turned into JSON by
// OpenFGA's own @openfga/syntax-transformer, imported (conditions become caveats), its tuples written
// with their conditions, and every check and list-objects assertion asked with its context.
//
// Adaptations, all counted and printed:
// - OpenFGA answers a check whose conditions lack context with error 2000; Tessera answers
//   "conditional" naming the missing parameters. An assertion expecting 2000 passes on either an error
//   or a conditional answer (for list-objects: on any conditional object).
// - List-users assertions are not asked: Tessera's lookup_subjects takes no caveat context yet.
// - Each stage starts a fresh store holding the earlier stages' tuples that are valid under its model
//   (OpenFGA keeps them all and ignores the invalid ones, which a later model may make valid again).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fga from '@openfga/syntax-transformer';
import YAML from 'yaml';
import { root, startOrigin } from './harness.mjs';
import { startProbe } from './probe.mjs';

const vectors = process.env.TESSERA_VECTORS_DIR ?? resolve(root, '..', 'shared', 'vectors');
const suite = join(vectors, 'openfga', 'abac_tests.yaml');
const present = existsSync(suite);
const probeBin = process.env.TESSERA_AUTHZ_PROBE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'examples', 'authz_probe');

const skip = present ? false : `SKIPPED: ${suite} is absent (third-party vectors live outside the repo)`;
const key = (t) => `${t.object}#${t.relation}@${t.user}`;

/**
 * Run every test of the suite against `backend`: `model(where, model)` starts a fresh store with that
 * model, `tuples(list)` writes OpenFGA tuples (true if taken), `check(a)` answers
 * `{result: 'has'|'no'|'conditional'}` or `{error}`, `list(request, context)` answers
 * `{objects: [ids], conditional: [ids]}` or `{error}`.
 */
async function runSuite(backend, name) {
  const { tests } = YAML.parse(readFileSync(suite, 'utf8'));
  const tally = { check: 0, list: 0, conditionalFor2000: 0, listUsersLeftOut: 0, carriedDropped: 0 };
  const failures = [];
  for (const [ti, test] of tests.entries()) {
    let carried = [];
    for (const [si, stage] of test.stages.entries()) {
      const where = `${test.name}[${si}]`;
      const model = fga.transformer.transformDSLToJSONObject(stage.model);
      await backend.model(`${ti}_${si}`, where, model);
      const mine = stage.tuples ?? [];
      // Every earlier tuple stays in OpenFGA's store, ignored while the model makes it invalid.
      carried = carried.filter((t) => !mine.some((m) => key(m) === key(t)));
      for (const t of carried) {
        if (!(await backend.tuples([t]))) tally.carriedDropped++;
      }
      if (mine.length) assert.ok(await backend.tuples(mine), `${where}: tuples refused`);
      carried = [...carried, ...mine];
      for (const a of stage.checkAssertions ?? []) {
        const got = await backend.check(a);
        let ok;
        if (a.errorCode !== undefined) {
          ok = got.error !== undefined || got.result === 'conditional';
          if (got.result === 'conditional') tally.conditionalFor2000++;
        } else {
          ok = got.result === (a.expectation ? 'has' : 'no');
        }
        tally.check++;
        if (!ok) failures.push(`${where} check ${key(a.tuple)} ${JSON.stringify(a.context ?? {})}: wanted ${a.errorCode ?? a.expectation}, got ${JSON.stringify(got)}`);
      }
      for (const a of stage.listObjectsAssertions ?? []) {
        const context = a.context ?? a.request.context ?? {};
        const got = await backend.list(a.request, context);
        let ok;
        if (a.errorCode !== undefined) {
          ok = got.error !== undefined || (got.conditional ?? []).length > 0;
          if (!got.error) tally.conditionalFor2000++;
        } else {
          const want = [...(a.expectation ?? [])].sort();
          ok = got.objects !== undefined && JSON.stringify(got.objects.map((id) => `${a.request.type}:${id}`).sort()) === JSON.stringify(want);
        }
        tally.list++;
        if (!ok) failures.push(`${where} list ${a.request.type}#${a.request.relation}@${a.request.user} ${JSON.stringify(context)}: wanted ${a.errorCode ?? JSON.stringify(a.expectation ?? [])}, got ${JSON.stringify(got)}`);
      }
      tally.listUsersLeftOut += (stage.listUsersAssertions ?? []).length;
    }
  }
  console.log(`# OpenFGA ABAC through ${name}: ${JSON.stringify(tally)}; ${failures.length} failed`);
  assert.deepEqual(failures, []);
  assert.ok(tally.check > 50 && tally.list > 20, JSON.stringify(tally));
}

describe('OpenFGA ABAC (conditions) tests through the core\'s OpenFGA import', { skip }, () => {
  let probe;
  before(() => { probe = startProbe(probeBin, 'authz probe', 'scripts/test builds it; or set TESSERA_AUTHZ_PROBE'); });
  after(() => probe?.stop());

  it('passes every check and list-objects assertion', async () => {
    await runSuite({
      model: async (_, where, model) => assert.deepEqual(await probe.ask({ cmd: 'model', model }), { ok: true }, `${where}: import failed`),
      tuples: async (tuples) => (await probe.ask({ cmd: 'tuples', tuples })).ok === true,
      check: (a) => probe.ask({
        cmd: 'check', object: a.tuple.object, relation: a.tuple.relation, user: a.tuple.user,
        context: a.context ?? {}, contextual: a.contextualTuples ?? [],
      }),
      list: (q, context) => probe.ask({ cmd: 'list_objects', type: q.type, relation: q.relation, user: q.user, context }),
    }, 'the core');
  });
});

describe('OpenFGA ABAC (conditions) tests through the origin\'s OpenFGA import', { skip }, () => {
  let origin;
  before(async () => { origin = await startOrigin(); });
  after(async () => { await origin?.stop(); });

  it('passes every check and list-objects assertion over HTTP, as the core does', async () => {
    let tenant;
    const api = async (method, path, body) => {
      const r = await fetch(`${origin.url}/v1/tenants/${tenant}${path}`, {
        method,
        headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const answer = { status: r.status, body: await r.json().catch(() => null) };
      // An error the suite expects must come as a client error, never a server one.
      assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${JSON.stringify(answer.body)}`);
      return answer;
    };
    // An OpenFGA tuple in Tessera's text form: the condition is the caveat, its context the stored one.
    const text = (t) => key(t) + (t.condition
      ? `[${t.condition.name}${t.condition.context ? `:${JSON.stringify(t.condition.context)}` : ''}]`
      : '');
    await runSuite({
      // A fresh tenant per stage: the origin refuses a schema that would orphan stored relationships.
      model: async (id, where, model) => {
        tenant = `abac_${id}`;
        const r = await api('PUT', '/schema/openfga', model);
        assert.equal(r.status, 200, `${where}: import failed: ${JSON.stringify(r.body)}`);
      },
      tuples: async (tuples) => (await api('POST', '/relationships/write', {
        updates: tuples.map((t) => ({ operation: 'touch', relationship: text(t) })),
      })).status === 200,
      check: async (a) => {
        const r = await api('POST', '/check', {
          resource: a.tuple.object, permission: a.tuple.relation, subject: a.tuple.user,
          consistency: 'fully_consistent', context: a.context ?? {},
          context_relationships: (a.contextualTuples ?? []).map(text),
        });
        if (r.status !== 200) return { error: r.body?.error ?? r.status, status: r.status };
        return { result: r.body.conditional ? 'conditional' : r.body.allowed ? 'has' : 'no', missing: r.body.missing };
      },
      list: async (q, context) => {
        const objects = [], conditional = [];
        let cursor;
        do {
          const r = await api('POST', '/lookup/resources', {
            resource_type: q.type, permission: q.relation, subject: q.user, limit: 1000, cursor,
            consistency: 'fully_consistent', context,
          });
          if (r.status !== 200) return { error: r.body?.error ?? r.status, status: r.status };
          objects.push(...r.body.resources);
          conditional.push(...(r.body.conditional ?? []).map((c) => c.id));
          cursor = r.body.cursor;
        } while (cursor);
        return { objects, conditional };
      },
    }, 'the origin');
  });
});
