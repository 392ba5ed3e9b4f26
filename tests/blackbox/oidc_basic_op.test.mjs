// The OpenID Foundation's Basic OP certification plan (oidcc-basic-certification-test-plan), ported as
// black-box tests: the conformance suite cannot run offline here, so each of its published test modules
// is one test below, named as the plan names it, with openid-client as the relying party and a person
// signing in through Chromium's virtual authenticator on the real login page.
//
// Modules for what this provider does not offer are checked for the answer the plan accepts: `email`,
// `address` and `phone` scopes are left out of the grant (not in `scopes_supported`); request objects are
// refused as unsupported; the `claims` parameter is ignored. The "30 seconds" code-reuse module is run
// without its wait (a replay revokes at once; the Rust suite covers expiry).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { startOrigin, startEdge } from './harness.mjs';
import { insecure, atHash, startRelyingParty, newPerson, authorization, answer, exchange } from './oidc_rp.mjs';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('OpenID Foundation Basic OP plan', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, browser, rp, person, client, postClient, config, postConfig, jwks, redirect_uri;

  /** Validate an ID token as the suite does: ES256 by a published key, `iss`, `aud`, times, `nonce`. */
  async function validIdToken(tokens, a) {
    const header = decodeProtectedHeader(tokens.id_token);
    assert.equal(header.alg, 'ES256');
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: edge.url, audience: client.client_id });
    if (a?.nonce) assert.equal(payload.nonce, a.nonce);
    else assert.equal(payload.nonce, undefined);
    assert.equal(typeof payload.auth_time, 'number');
    assert.equal(payload.at_hash, atHash(tokens.access_token));
    return payload;
  }

  /** Authorize in the browser (signed in already) and exchange: tokens and the ID token's claims. */
  async function signInQuietly(a, cfg = config) {
    const landing = await person.visit(a.url.href);
    const tokens = await exchange(cfg, a, landing);
    return { tokens, claims: await validIdToken(tokens, a) };
  }

  /** Authorize where the person must sign in again on the login page. */
  async function signInAgain(a, atLoginPage = async () => {}) {
    const n = rp.landings.length;
    const loginPage = person.page.waitForRequest(/\/login\?authorize=/);
    await person.page.goto(a.url.href);
    await atLoginPage(new URL((await loginPage).url()).searchParams.get('authorize'));
    // The page offers the passkey in autofill, which the virtual authenticator may take at once (and
    // then the browser may be at the relying party already).
    for (let i = 0; i < 40 && rp.landings.length === n; i++) await sleep(100);
    if (rp.landings.length === n) {
      await person.page.fill('#signin-username', 'basic');
      await person.page.click('#signin');
    }
    const tokens = await exchange(config, a, await person.landed(n));
    return { tokens, claims: await validIdToken(tokens, a) };
  }

  /** The authorization endpoint's answer to `query` (the browser's cookie), not followed. */
  async function authorize(query) {
    return fetch(`${edge.url}/oauth2/authorize?${new URLSearchParams(query)}`, { redirect: 'manual', headers: { cookie: await person.cookie() } });
  }

  before(async () => {
    rp = await startRelyingParty();
    redirect_uri = `${rp.url}/cb`;
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'basic' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    client = await origin.createClient({ tenant: 'basic', scopes: [], audiences: [], firstParty: true, name: 'Basic RP', redirectUris: [redirect_uri] });
    postClient = await origin.createClient({ tenant: 'basic', scopes: [], audiences: [], firstParty: true, name: 'Post RP', redirectUris: [redirect_uri] });
    config = await oidc.discovery(new URL(edge.url), client.client_id, client.client_secret, oidc.ClientSecretBasic(client.client_secret), insecure);
    postConfig = await oidc.discovery(new URL(edge.url), postClient.client_id, postClient.client_secret, oidc.ClientSecretPost(postClient.client_secret), insecure);
    jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    person = await newPerson(browser, rp, edge);
    // The person signs up on the login page once; every module below starts signed in.
    await person.page.goto(`${edge.url}/login`);
    await person.page.fill('#signup-username', 'basic');
    await person.page.fill('#signup-display', 'Basic Person');
    await person.page.click('#signup');
    await person.page.waitForSelector('#signed-in:not([hidden])');
  });
  after(async () => {
    rp?.close();
    await browser?.close();
    await edge?.stop();
    await origin?.stop();
  });

  it('oidcc-discovery-endpoint-verification', async () => {
    const m = config.serverMetadata();
    assert.equal(m.issuer, edge.url);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) assert.ok(m[k].startsWith(`${edge.url}/`), k);
    assert.ok(m.response_types_supported.includes('code'));
    assert.ok(m.subject_types_supported.includes('public'));
    assert.ok(m.id_token_signing_alg_values_supported.includes('ES256'));
    assert.ok(m.scopes_supported.includes('openid'));
    for (const s of ['email', 'address', 'phone']) assert.ok(!m.scopes_supported.includes(s), s);
    const keys = await (await fetch(m.jwks_uri)).json();
    assert.ok(keys.keys.length >= 1 && keys.keys.every((k) => k.kty === 'EC' && k.crv === 'P-256' && k.kid && !k.d));
  });

  it('oidcc-server', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid' });
    const { tokens, claims } = await signInQuietly(a);
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
  });

  it('oidcc-idtoken-signature', async () => {
    const { tokens } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    const { kid } = decodeProtectedHeader(tokens.id_token);
    const keys = await (await fetch(config.serverMetadata().jwks_uri)).json();
    assert.ok(keys.keys.some((k) => k.kid === kid));
    // Changed by one character, it no longer verifies.
    const [h, p, s] = tokens.id_token.split('.');
    const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    await assert.rejects(jwtVerify(flipped, jwks, { issuer: edge.url }));
  });

  it('oidcc-response-type-missing', async () => {
    const r = await authorize({ client_id: client.client_id, redirect_uri, scope: 'openid', state: 'rt' });
    const to = new URL(r.headers.get('location'));
    assert.equal(to.searchParams.get('error'), 'invalid_request');
    assert.equal(to.searchParams.get('state'), 'rt');
  });

  it('oidcc-userinfo-get', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    const r = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal((await r.json()).sub, claims.sub);
  });

  it('oidcc-userinfo-post-header', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    const r = await fetch(config.serverMetadata().userinfo_endpoint, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal((await r.json()).sub, claims.sub);
  });

  it('oidcc-userinfo-post-body', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    const r = await fetch(config.serverMetadata().userinfo_endpoint, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: tokens.access_token }),
    });
    assert.equal((await r.json()).sub, claims.sub);
  });

  it('oidcc-ensure-request-without-nonce-succeeds-for-code-flow', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid', nonce: null });
    const { claims } = await signInQuietly(a);
    assert.equal(claims.nonce, undefined);
  });

  it('oidcc-scope-profile', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid profile' }));
    assert.equal(claims.preferred_username, 'basic');
    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.deepEqual(info, { sub: claims.sub, name: 'Basic Person', preferred_username: 'basic' });
  });

  for (const scope of ['email', 'address', 'phone']) {
    it(`oidcc-scope-${scope} (not supported: left out of the grant)`, async () => {
      const { tokens } = await signInQuietly(await authorization(config, { redirect_uri, scope: `openid ${scope}` }));
      assert.equal(tokens.scope, 'openid');
    });
  }

  it('oidcc-scope-all (the supported ones granted, the rest left out)', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid profile email address phone' }));
    assert.equal(tokens.scope, 'openid profile');
    assert.equal(claims.name, 'Basic Person');
  });

  it('oidcc-ensure-other-scope-order-succeeds', async () => {
    const { tokens } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'profile openid' }));
    assert.equal(tokens.scope, 'profile openid');
  });

  for (const display of ['page', 'popup']) {
    it(`oidcc-display-${display}`, async () => {
      await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { display } }));
    });
  }

  it('oidcc-prompt-login', async () => {
    const first = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    await sleep(1100);
    const again = await signInAgain(await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'login' } }));
    assert.ok(again.claims.auth_time > first.claims.auth_time, 'the person authenticated again');
    assert.equal(again.claims.sub, first.claims.sub);
  });

  it('oidcc-prompt-none-not-logged-in', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'none' } });
    const r = await fetch(a.url, { redirect: 'manual' });
    const got = new URL(r.headers.get('location')).searchParams;
    assert.equal(got.get('error'), 'login_required');
    assert.equal(got.get('state'), a.state);
  });

  it('oidcc-prompt-none-logged-in', async () => {
    await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'none' } }));
  });

  it('oidcc-max-age-1', async () => {
    const before = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    await sleep(2100);
    const after = await signInAgain(await authorization(config, { redirect_uri, scope: 'openid', extra: { max_age: '1' } }));
    assert.ok(after.claims.auth_time > before.claims.auth_time);
  });

  it('oidcc-max-age-10000', async () => {
    const { claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { max_age: '10000' } }));
    assert.ok(Math.floor(Date.now() / 1000) - claims.auth_time <= 10000);
  });

  it('oidcc-ensure-request-with-unknown-parameter-succeeds', async () => {
    await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { extra_parameter: 'tessera' } }));
  });

  it('oidcc-id-token-hint', async () => {
    const first = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
    const hinted = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'none', id_token_hint: first.tokens.id_token } }));
    assert.equal(hinted.claims.sub, first.claims.sub);
    // A hint that is not ours is refused.
    const a = await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'none', id_token_hint: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' } });
    assert.equal(answer(await person.visit(a.url.href)).get('error'), 'invalid_request');
  });

  it('oidcc-login-hint', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid', extra: { prompt: 'login', login_hint: 'basic' } });
    await signInAgain(a, async (request) => {
      // What the login page is told to prefill.
      const r = await fetch(`${edge.url}/v1/authorize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request }) });
      const asked = await r.json();
      assert.equal(asked.need, 'login');
      assert.equal(asked.login_hint, 'basic');
    });
  });

  for (const param of ['ui_locales', 'claims_locales']) {
    it(`oidcc-${param.replace('_', '-')}`, async () => {
      await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { [param]: 'se' } }));
    });
  }

  it('oidcc-ensure-request-with-acr-values-succeeds', async () => {
    const { claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { acr_values: 'phr 1 2' } }));
    assert.equal(claims.acr, 'phr');
  });

  it('oidcc-codereuse', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid' });
    const landing = await person.visit(a.url.href);
    await exchange(config, a, landing);
    await assert.rejects(exchange(config, a, landing), (e) => e.error === 'invalid_grant');
  });

  it('oidcc-codereuse-30seconds (without the wait: the replay revokes the first tokens)', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid' });
    const landing = await person.visit(a.url.href);
    const tokens = await exchange(config, a, landing);
    await assert.rejects(exchange(config, a, landing), (e) => e.error === 'invalid_grant');
    const r = await fetch(config.serverMetadata().userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(r.status, 401);
  });

  it('oidcc-ensure-registered-redirect-uri', async () => {
    const r = await authorize({ client_id: client.client_id, redirect_uri: `${rp.url}/not-registered`, response_type: 'code', scope: 'openid' });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('location'), null);
  });

  it('oidcc-ensure-redirect-uri-in-authorization-request', async () => {
    const r = await authorize({ client_id: client.client_id, response_type: 'code', scope: 'openid' });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('location'), null);
  });

  it('oidcc-server-client-secret-post', async () => {
    const a = await authorization(postConfig, { redirect_uri, scope: 'openid' });
    const tokens = await exchange(postConfig, a, await person.visit(a.url.href));
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: edge.url, audience: postClient.client_id });
    assert.equal(payload.nonce, a.nonce);
  });

  it('oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported', async () => {
    const request = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ client_id: client.client_id, scope: 'openid' })).toString('base64url')}.`;
    const a = await authorization(config, { redirect_uri, scope: 'openid', extra: { request } });
    assert.equal(answer(await person.visit(a.url.href)).get('error'), 'request_not_supported');
  });

  it('oidcc-ensure-request-object-with-redirect-uri (rejected as unsupported)', async () => {
    const request = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ redirect_uri })).toString('base64url')}.`;
    const a = await authorization(config, { redirect_uri, scope: 'openid', extra: { request } });
    assert.equal(answer(await person.visit(a.url.href)).get('error'), 'request_not_supported');
  });

  it('oidcc-claims-essential (the claims parameter is not supported: ignored)', async () => {
    assert.equal(config.serverMetadata().claims_parameter_supported, false);
    const claims = JSON.stringify({ userinfo: { name: { essential: true } } });
    await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid', extra: { claims } }));
  });

  it('oidcc-refresh-token', async () => {
    const { tokens, claims } = await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid offline_access' }));
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token);
    const info = await oidc.fetchUserInfo(config, refreshed.access_token, claims.sub);
    assert.equal(info.sub, claims.sub);
  });

  it('oidcc-ensure-request-with-valid-pkce-succeeds', async () => {
    await signInQuietly(await authorization(config, { redirect_uri, scope: 'openid' }));
  });

  it('oidcc-ensure-post-request-succeeds', async () => {
    const a = await authorization(config, { redirect_uri, scope: 'openid' });
    const n = rp.landings.length;
    // A form the browser posts to the authorization endpoint (OIDC Core §3.1.2.1 allows POST).
    await person.page.setContent(`<form method="post" action="${config.serverMetadata().authorization_endpoint}">${
      [...a.url.searchParams].map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`).join('')
    }</form>`);
    await person.page.evaluate(() => document.forms[0].submit());
    const tokens = await exchange(config, a, await person.landed(n));
    await validIdToken(tokens, a);
  });
});
