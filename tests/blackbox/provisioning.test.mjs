// Deprovisioning and SCIM tokens, from outside: a person signs up with a passkey through the real Worker;
// an operator deactivates them with the origin's CLI (what SCIM's `active: false` will do); their access token
// introspects inactive at once, their refresh token is refused, they cannot sign in until reactivated — and a
// deactivation racing eight sign-ins leaves no live session behind. SCIM bearer tokens are created, listed
// and revoked by the CLI, which never shows a token twice; the SCIM discovery documents are read by
// scim2-client, and every request without the tenant's live token is refused in RFC 7644's shape.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startEdge, python, run, root } from './harness.mjs';
import { join } from 'node:path';
import { people } from './people.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';
const subject = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).sub;

describe('deprovisioning and SCIM tokens', () => {
  let origin, edge, client, p;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme' } });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    p = people(edge, client);
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('a deactivated user loses every session at once and cannot sign in until reactivated', async () => {
    const { device, tokens } = await p.signUp('dana');
    const second = await p.signIn(device, 'dana');
    assert.equal(second.status, 200, JSON.stringify(second.body));
    const userId = subject(tokens.access_token);
    assert.equal((await p.introspect(tokens.access_token)).active, true);

    const off = await origin.cli(['users', 'deactivate', '--tenant', 'acme', userId]);
    assert.match(off.stdout, new RegExp(`deactivated ${userId}: 2 session\\(s\\) ended`));
    for (const t of [tokens, second.body]) {
      const seen = await p.introspect(t.access_token);
      assert.deepEqual([seen.active, seen.inactive_reason], [false, 'session_revoked']);
      const r = await p.refresh(t.refresh_token);
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_grant']);
    }
    // Sign-in fails exactly as for a passkey the edge has never seen.
    const refused = await p.signIn(device, 'dana');
    const stranger = await p.signIn(new SoftAuthenticator(), undefined).catch(() => null);
    assert.deepEqual([refused.status, refused.body.error], [400, 'passkey_refused']);
    if (stranger) assert.deepEqual([stranger.status, stranger.body.error], [400, 'passkey_refused']);

    const on = await origin.cli(['users', 'activate', '--tenant', 'acme', userId]);
    assert.match(on.stdout, new RegExp(`activated ${userId}`));
    const back = await p.signIn(device, 'dana');
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal((await p.introspect(back.body.access_token)).active, true);
    // Sessions ended by the deactivation stay ended.
    assert.equal((await p.introspect(tokens.access_token)).active, false);
  });

  it('a deactivation racing eight sign-ins leaves no live session', async () => {
    const { device, tokens } = await p.signUp('racer');
    const userId = subject(tokens.access_token);
    const signIns = Array.from({ length: 8 }, () => p.signIn(device, 'racer'));
    const off = origin.cli(['users', 'deactivate', '--tenant', 'acme', userId]);
    const results = await Promise.all(signIns);
    await off;
    assert.ok(results.every((r) => r.status === 200 || r.status === 400), JSON.stringify(results.map((r) => r.body)));
    // A sign-in the deactivation overtook is refused like any other failed check.
    for (const r of results.filter((r) => r.status === 400)) assert.equal(r.body.error, 'passkey_refused');
    for (const r of results.filter((r) => r.status === 200)) {
      assert.equal((await p.introspect(r.body.access_token)).active, false, 'a session created during the deactivation survived it');
      assert.equal((await p.refresh(r.body.refresh_token)).status, 400);
    }
  });

  it('refuses to deactivate a user that does not exist, and says so', async () => {
    await assert.rejects(origin.cli(['users', 'deactivate', '--tenant', 'acme', 'no-such-user']), (e) => {
      assert.match(e.stderr, /no user `no-such-user` in tenant `acme`/);
      return true;
    });
    // User ids are base64url: one may start with `-`, which is an id, not an option.
    await assert.rejects(origin.cli(['users', 'deactivate', '--tenant', 'acme', '-rjx4xfVJeSGk16YbPfFaw']), (e) => {
      assert.match(e.stderr, /no user `-rjx4xfVJeSGk16YbPfFaw` in tenant `acme`/);
      return true;
    });
    await assert.rejects(origin.cli(['users', 'deactivate', '--tenant', 'Not A Tenant', 'x']), (e) => {
      assert.match(e.stderr, /tenant/);
      return true;
    });
  });

  it('creates SCIM tokens shown once, lists them without the secret, and revokes them once', async () => {
    const { stdout } = await origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--label', 'Entra ID', '--json']);
    const created = JSON.parse(stdout);
    assert.match(created.token, /^tsc_[A-Za-z0-9_-]{43}$/);
    assert.match(created.token_id, /^st_[A-Za-z0-9_-]{12}$/);
    assert.equal(created.tenant, 'acme');
    const other = JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', 'globex', '--json'])).stdout);
    assert.notEqual(other.token, created.token);

    const listed = (await origin.cli(['scim', 'token', 'list', '--tenant', 'acme'])).stdout;
    assert.match(listed, new RegExp(`^${created.token_id}\\tacme\\tactive\\tEntra ID$`, 'm'));
    assert.ok(!listed.includes(created.token), 'a listing never shows a token');
    assert.ok(!listed.includes(other.token_id), 'a tenant listing shows that tenant only');

    assert.match((await origin.cli(['scim', 'token', 'revoke', created.token_id])).stdout, /revoked/);
    assert.match((await origin.cli(['scim', 'token', 'list'])).stdout, new RegExp(`^${created.token_id}\\tacme\\trevoked`, 'm'));
    await assert.rejects(origin.cli(['scim', 'token', 'revoke', created.token_id]), /no live token/);
    await assert.rejects(origin.cli(['scim', 'token', 'create', '--tenant', 'acme', '--label', 'bad\nlabel']), /control characters/);
  });

  describe('SCIM discovery and bearer tokens', () => {
    let acme, globex;
    const scim = (tenant, path, token) => fetch(`${origin.url}/scim/v2/${tenant}${path}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    }).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.json() }));
    const token = async (tenant) => JSON.parse((await origin.cli(['scim', 'token', 'create', '--tenant', tenant, '--json'])).stdout);

    before(async () => {
      acme = await token('acme');
      globex = await token('globex');
    });

    it('refuses a missing, malformed, foreign or revoked token alike, in the SCIM error shape', async () => {
      const revoked = await token('acme');
      await origin.cli(['scim', 'token', 'revoke', revoked.token_id]);
      for (const presented of [undefined, 'nonsense', `${acme.token}x`, globex.token, revoked.token, origin.serviceToken]) {
        const r = await scim('acme', '/ServiceProviderConfig', presented);
        assert.equal(r.status, 401, `${presented}: ${JSON.stringify(r.body)}`);
        assert.equal(r.headers.get('content-type'), 'application/scim+json');
        assert.match(r.headers.get('www-authenticate'), /^Bearer realm="tessera-scim"/);
        assert.deepEqual(r.body, {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
          status: '401',
          detail: 'a valid SCIM bearer token for this tenant is required',
        });
      }
      // The token's own tenant only, also for paths that do not exist.
      assert.equal((await scim('globex', '/Users', acme.token)).status, 401);
      assert.equal((await scim('acme', '/NoSuchThing', undefined)).status, 401);
    });

    it('serves the discovery documents, which scim2-client reads as a coherent service', async () => {
      const config = await scim('acme', '/ServiceProviderConfig', acme.token);
      assert.equal(config.status, 200);
      assert.equal(config.headers.get('content-type'), 'application/scim+json');
      assert.deepEqual(config.body.schemas, ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
      assert.equal(config.body.patch.supported, true);
      const types = await scim('acme', '/ResourceTypes', acme.token);
      assert.deepEqual(types.body.Resources.map((t) => t.id).sort(), ['Group', 'User']);
      assert.equal(types.body.Resources.find((t) => t.id === 'User').meta.location, `${origin.url}/scim/v2/acme/ResourceTypes/User`);
      assert.equal((await scim('acme', '/ResourceTypes/User', acme.token)).body.endpoint, '/Users');
      const schemas = await scim('acme', '/Schemas', acme.token);
      const ids = schemas.body.Resources.map((x) => x.id).sort();
      assert.deepEqual(ids, [
        'urn:ietf:params:scim:schemas:core:2.0:Group',
        'urn:ietf:params:scim:schemas:core:2.0:User',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
      ]);
      const user = await scim('acme', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User', acme.token);
      assert.ok(user.body.attributes.some((a) => a.name === 'userName' && a.uniqueness === 'server'), JSON.stringify(user.body).slice(0, 300));
      for (const missing of ['/Schemas/urn:nope', '/ResourceTypes/Printer', '/NoSuchThing']) {
        const r = await scim('acme', missing, acme.token);
        assert.equal(r.status, 404, missing);
        assert.deepEqual([r.body.schemas, r.body.status], [['urn:ietf:params:scim:api:messages:2.0:Error'], '404']);
      }

      const { stdout } = await run(python, [join(root, 'tests', 'blackbox', 'scim_discover.py'), `${origin.url}/scim/v2/acme`, acme.token]);
      const seen = JSON.parse(stdout.trim().split('\n').pop());
      assert.equal(seen.patch, true);
      assert.equal(seen.filter, true);
      assert.equal(seen.max_results, 200);
      assert.deepEqual(seen.resource_types, ['Group', 'User']);
      assert.ok(seen.models.includes('Group') && seen.models.some((m) => m.startsWith('User')), JSON.stringify(seen.models));
    });
  });
});
