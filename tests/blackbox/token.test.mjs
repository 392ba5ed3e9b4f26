// Client credentials end to end: register at the origin, get a token at the edge, verify it with clients
// nobody here wrote (node jose, PyJWT), introspect it; then every endpoint's bad requests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken, verifyAtEdge, introspect, basic, python, run } from './harness.mjs';

const AUD = 'https://api.tessera.test';

describe('client credentials at the edge', () => {
  let origin, edge, client, other;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read', 'write'], audiences: [AUD, 'https://other.test'], ttl: 600 });
    other = await origin.createClient({ tenant: 'globex', scopes: ['read'], audiences: [AUD] });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('serves discovery metadata and a cacheable JWKS', async () => {
    const meta = await (await fetch(`${edge.url}/.well-known/openid-configuration`)).json();
    assert.equal(meta.issuer, edge.issuer);
    assert.equal(meta.jwks_uri, `${edge.issuer}/.well-known/jwks.json`);
    assert.equal(meta.token_endpoint, `${edge.issuer}/oauth2/token`);
    assert.equal(meta.introspection_endpoint, `${edge.issuer}/oauth2/introspect`);
    assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
    // `none`: public clients (PKCE) name themselves at the token endpoint.
    assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'none']);
    const r = await fetch(`${edge.url}/.well-known/jwks.json`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('cache-control'), /max-age=300/);
    const jwks = await r.json();
    assert.equal(jwks.keys.length, 1);
    const [k] = jwks.keys;
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    assert.equal(k.alg, 'ES256');
    // kid is the RFC 7638 thumbprint, as node jose computes it.
    assert.equal(k.kid, await jose.calculateJwkThumbprint(k, 'sha256'));
  });

  it('issues an RFC 9068 token that node jose verifies from the JWKS URL', async () => {
    const t = await getToken(edge, client, { scope: 'read' });
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.expires_in, 600);
    assert.equal(t.scope, 'read');
    const jwks = jose.createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jose.jwtVerify(t.access_token, jwks, {
      issuer: edge.issuer, audience: AUD, algorithms: ['ES256'], typ: 'at+jwt', requiredClaims: ['exp', 'iat', 'jti', 'sub'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(payload.sub, client.client_id);
    assert.equal(payload.client_id, client.client_id);
    assert.equal(payload.tid, 'acme');
    assert.equal(payload.scope, 'read');
    assert.equal(payload.exp - payload.iat, 600);
    assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/);
  });

  it('issues a token that PyJWT verifies', async () => {
    const t = await getToken(edge, client);
    const { stdout } = await run(python, [new URL('./pyjwt_verify.py', import.meta.url).pathname,
      `${edge.url}/.well-known/jwks.json`, edge.issuer, AUD, t.access_token]);
    const { claims, header } = JSON.parse(stdout);
    assert.equal(header.alg, 'ES256');
    assert.equal(claims.tid, 'acme');
    assert.equal(claims.scope, 'read write', 'all granted scopes when none are asked');
  });

  it('verifies and introspects its own tokens', async () => {
    const t = await getToken(edge, client, { resource: 'https://other.test' });
    const v = await verifyAtEdge(edge, t.access_token, 'https://other.test');
    assert.equal(v.status, 200);
    assert.equal(v.body.valid, true);
    assert.equal(v.body.claims.aud, 'https://other.test');
    const again = await verifyAtEdge(edge, t.access_token, 'https://other.test');
    assert.deepEqual(again.body, v.body, 'a memoised verification answers the same');
    const wrongAud = await verifyAtEdge(edge, t.access_token);
    assert.equal(wrongAud.status, 401);
    assert.equal(wrongAud.body.error, 'wrong_audience', 'memoised tokens still get their claims checked');
    const i = await introspect(edge, client, t.access_token);
    assert.equal(i.status, 200);
    assert.equal(i.body.active, true);
    assert.equal(i.body.client_id, client.client_id);
    assert.equal(i.body.token_type, 'Bearer');
    // Another tenant's client may not learn about this token.
    const foreign = await introspect(edge, other, t.access_token);
    assert.deepEqual(foreign.body, { active: false, inactive_reason: 'wrong_tenant' });
  });

  it('accepts client_secret_post', async () => {
    const r = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret }),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
  });

  const tokenRequest = (body, headers = {}) => fetch(`${edge.url}/oauth2/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body,
  });

  it('refuses every client authentication failure with the same answer', async () => {
    const cases = [
      ['wrong secret', basic(client.client_id, client.client_secret + 'x')],
      ['unknown client', basic('tc_doesnotexist', client.client_secret)],
      ['malformed basic', 'Basic %%%'],
      ['bearer scheme', 'Bearer abc'],
    ];
    const bodies = [];
    for (const [what, auth] of cases) {
      const r = await tokenRequest('grant_type=client_credentials', { authorization: auth });
      assert.equal(r.status, 401, what);
      assert.match(r.headers.get('www-authenticate'), /^Basic/, what);
      bodies.push(await r.json());
    }
    const none = await tokenRequest('grant_type=client_credentials');
    assert.equal(none.status, 401);
    bodies.push(await none.json());
    for (const b of bodies) assert.deepEqual(b, { error: 'invalid_client', error_description: 'client authentication failed' });
  });

  it('refuses a disabled client', async () => {
    const c = await origin.createClient({ tenant: 'acme', scopes: ['read'] });
    await origin.cli(['clients', 'disable', c.client_id]);
    // A fresh record: this client was never cached at the edge.
    const r = await tokenRequest('grant_type=client_credentials', { authorization: basic(c.client_id, c.client_secret) });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'invalid_client');
  });

  it('refuses bad token requests with RFC 6749 errors', async () => {
    const auth = { authorization: basic(client.client_id, client.client_secret) };
    const expect = async (body, headers, status, error) => {
      const r = await tokenRequest(body, headers);
      const j = await r.json();
      assert.equal(r.status, status, `${body}: ${JSON.stringify(j)}`);
      assert.equal(j.error, error, body);
      assert.ok(j.error_description, 'every error says why');
    };
    await expect('', auth, 400, 'invalid_request');
    await expect('grant_type=password&username=a&password=b', auth, 400, 'unsupported_grant_type');
    // A client of another tenant than the login page's signs nobody in here.
    await expect('grant_type=authorization_code&code=x', auth, 400, 'unauthorized_client');
    await expect('grant_type=client_credentials&scope=admin', auth, 400, 'invalid_scope');
    await expect('grant_type=client_credentials&scope=read%20admin', auth, 400, 'invalid_scope');
    await expect('grant_type=client_credentials&resource=https://evil.test', auth, 400, 'invalid_target');
    await expect('grant_type=client_credentials&resource=a&audience=b', auth, 400, 'invalid_request');
    await expect('grant_type=client_credentials&grant_type=client_credentials', auth, 400, 'invalid_request');
    await expect(`grant_type=client_credentials&client_id=${client.client_id}&client_secret=${client.client_secret}`, auth, 400, 'invalid_request');
    const json = await fetch(`${edge.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '{"grant_type":"client_credentials"}' });
    assert.equal(json.status, 400);
    assert.equal((await json.json()).error, 'invalid_request');
  });

  it('refuses bad requests to every other endpoint with clear errors', async () => {
    const get = await fetch(`${edge.url}/oauth2/token`);
    assert.equal(get.status, 405);
    assert.equal((await get.json()).error, 'invalid_request');
    const postJwks = await fetch(`${edge.url}/.well-known/jwks.json`, { method: 'POST' });
    assert.equal(postJwks.status, 405);
    assert.equal((await postJwks.json()).error, 'method_not_allowed');
    const missing = await fetch(`${edge.url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await missing.json()).error, 'not_found');
    for (const body of ['not json', '{}', '{"token": 5}', '{"token":"a.b.c","extra":1}', '[]']) {
      const r = await fetch(`${edge.url}/v1/tokens/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      assert.equal(r.status, 400, body);
      const j = await r.json();
      assert.equal(j.error, 'invalid_request', body);
      assert.ok(j.message.length > 0);
    }
    const big = await fetch(`${edge.url}/v1/tokens/verify`, { method: 'POST', body: JSON.stringify({ token: 'a'.repeat(20000) }) });
    assert.equal(big.status, 413);
    const noToken = await fetch(`${edge.url}/oauth2/introspect`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) }, body: '',
    });
    assert.equal(noToken.status, 400);
    assert.equal((await noToken.json()).error, 'invalid_request');
    const unauth = await fetch(`${edge.url}/oauth2/introspect`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=x' });
    assert.equal(unauth.status, 401);
    assert.equal((await unauth.json()).error, 'invalid_client');
    for (const [method, path] of [['GET', '/admin/keys'], ['POST', '/admin/keys/rotate']]) {
      const r = await fetch(`${edge.url}${path}`, { method, headers: { authorization: 'Bearer wrong' } });
      assert.equal(r.status, 401, path);
      assert.equal((await r.json()).error, 'unauthorized');
    }
  });

  it('refuses bad requests at the origin', async () => {
    const noAuth = await fetch(`${origin.url}/internal/v1/clients/${client.client_id}`);
    assert.equal(noAuth.status, 401);
    const wrong = await fetch(`${origin.url}/internal/v1/clients/${client.client_id}`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal((await wrong.json()).error, 'unauthorized');
    const unknown = await fetch(`${origin.url}/internal/v1/clients/tc_nope`, { headers: { authorization: `Bearer ${origin.serviceToken}` } });
    assert.equal(unknown.status, 404);
    assert.equal((await unknown.json()).error, 'client_not_found');
    const rec = await (await fetch(`${origin.url}/internal/v1/clients/${client.client_id}`, { headers: { authorization: `Bearer ${origin.serviceToken}` } })).json();
    assert.match(rec.secret_hash, /^\$argon2id\$/, 'only a slow hash is stored');
    assert.ok(!JSON.stringify(rec).includes(client.client_secret));
    await assert.rejects(origin.createClient({ tenant: 'Bad Tenant' }), /tenant/);
    await assert.rejects(origin.createClient({ ttl: 5 }), /ttl/);
  });
});
