// The edge as an OpenID Connect provider, driven by relying parties nobody here wrote: openid-client (npm)
// and Authlib (PyPI), with a person signing in through Chromium's virtual authenticator on the real login
// page, against the real Worker in workerd and the real origin. Every negative gets its RFC's error code.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startOrigin, startEdge, run, python, root } from './harness.mjs';
import { insecure, atHash, startRelyingParty, newPerson, authorization, answer as params, answerRequest as landingRequest, totp } from './oidc_rp.mjs';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

describe('OpenID Connect provider', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, browser, spa, app, spaConfig, appConfig, rp, RP, spaRedirect, appRedirect;
  // One person's browser, signed in as the tests go (see oidc_rp.mjs).
  let person, landings;

  /** GET the authorization endpoint with this browser's cookie, not following the redirect. */
  async function authorizeWithCookie(p, query) {
    const r = await fetch(`${edge.url}/oauth2/authorize?${new URLSearchParams(query)}`, { redirect: 'manual', headers: { cookie: await p.cookie() } });
    return r;
  }

  before(async () => {
    rp = await startRelyingParty();
    RP = rp.url;
    landings = rp.landings;
    spaRedirect = `${RP}/spa/cb`;
    appRedirect = `${RP}/app/cb`;
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'web' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    spa = await origin.createClient({
      tenant: 'web', scopes: ['notes:read'], audiences: [], publicClient: true, firstParty: true, name: 'Notes',
      redirectUris: [spaRedirect], postLogoutRedirectUris: [`${RP}/spa/bye`],
    });
    app = await origin.createClient({
      tenant: 'web', scopes: ['notes:read'], audiences: ['https://notes.example'], name: 'Acme Notes',
      redirectUris: [appRedirect, `${RP}/authlib/cb`],
    });
    spaConfig = await oidc.discovery(new URL(edge.url), spa.client_id, undefined, oidc.None(), insecure);
    appConfig = await oidc.discovery(new URL(edge.url), app.client_id, app.client_secret, oidc.ClientSecretBasic(app.client_secret), insecure);
    person = await newPerson(browser, rp, edge);
  });
  after(async () => {
    rp?.close();
    await browser?.close();
    await edge?.stop();
    await origin?.stop();
  });

  it('discovery is true: every advertised endpoint answers, and only code flow with S256 is offered', async () => {
    const meta = await (await fetch(`${edge.url}/.well-known/openid-configuration`)).json();
    assert.equal(meta.issuer, edge.url);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    const rfc8414 = await (await fetch(`${edge.url}/.well-known/oauth-authorization-server`)).json();
    assert.deepEqual(rfc8414, meta);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      assert.ok(meta[key].startsWith(edge.url), key);
      const r = await fetch(meta[key], { redirect: 'manual' });
      assert.notEqual(r.status, 404, `${key} ${meta[key]}`);
    }
    assert.equal(spaConfig.serverMetadata().userinfo_endpoint, meta.userinfo_endpoint);
  });

  it('a first-party public client signs a new person in (PKCE, nonce, id_token, userinfo), then again with prompt=none', async () => {
    const { page, landed } = person;
    const a = await authorization(spaConfig, { redirect_uri: spaRedirect, scope: 'openid profile offline_access notes:read' });
    const first = landings.length;
    await page.goto(a.url.href);
    await page.waitForURL(/\/login\?authorize=/);
    await page.waitForSelector('#authorize-banner:not([hidden])');
    assert.equal(await page.textContent('#authorize-client'), 'Notes');
    await page.fill('#signup-username', 'olivia');
    await page.fill('#signup-display', 'Olivia Tester');
    await page.click('#signup');
    const landing = await landed(first);
    const back = new URL(landing.url);
    assert.equal(back.origin + back.pathname, spaRedirect);
    assert.equal(back.searchParams.get('iss'), edge.url);
    const tokens = await oidc.authorizationCodeGrant(spaConfig, back, { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce, idTokenExpected: true });
    const claims = tokens.claims();
    assert.equal(claims.iss, edge.url);
    assert.equal(claims.aud, spa.client_id);
    assert.equal(claims.azp, spa.client_id);
    assert.equal(claims.nonce, a.nonce);
    assert.equal(claims.acr, 'phr');
    assert.ok(claims.amr.includes('hwk'));
    assert.equal(typeof claims.auth_time, 'number');
    assert.equal(claims.at_hash, atHash(tokens.access_token));
    assert.equal(claims.preferred_username, 'olivia');
    assert.equal(claims.name, 'Olivia Tester');
    assert.equal(tokens.scope, 'openid profile offline_access notes:read');
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    // The access token is the edge's RFC 9068 token, for this client.
    const jwks = createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: edge.url, typ: 'at+jwt' });
    assert.equal(payload.client_id, spa.client_id);
    assert.equal(payload.sub, claims.sub);
    // An ID token is not an access token, nor the other way round.
    const asAccess = await fetch(`${edge.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.id_token}` } });
    assert.equal(asAccess.status, 401);
    const info = await oidc.fetchUserInfo(spaConfig, tokens.access_token, claims.sub);
    assert.deepEqual(info, { sub: claims.sub, name: 'Olivia Tester', preferred_username: 'olivia' });
    // An application's token is for the application's audience (here none: the userinfo endpoint's),
    // never the login page's: it cannot add a passkey, enrol an app, step up or sign anyone out.
    assert.equal(payload.aud, `${edge.url}/oauth2/userinfo`);
    for (const path of ['/v1/passkeys/register/options', '/v1/totp/enroll', '/v1/totp/verify', '/v1/sessions/logout-all', '/v1/consents']) {
      const r = await fetch(`${edge.url}${path}`, {
        method: path === '/v1/consents' ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/json' },
        body: path === '/v1/consents' ? undefined : JSON.stringify(path.includes('totp/verify') ? { code: '123456' } : {}),
      });
      assert.equal(r.status, 401, `${path} took an application's token`);
    }

    // Single sign-on: the browser is signed in, the client is first-party: no page at all.
    const again = await authorization(spaConfig, { redirect_uri: spaRedirect, extra: { prompt: 'none' } });
    const before = landings.length;
    await page.goto(again.url.href);
    const second = await landed(before);
    const t2 = await oidc.authorizationCodeGrant(spaConfig, new URL(second.url), { pkceCodeVerifier: again.verifier, expectedState: again.state, expectedNonce: again.nonce, idTokenExpected: true });
    assert.equal(t2.claims().sub, claims.sub);
    assert.equal(t2.claims().sid, claims.sid, 'one browser session');
    assert.equal(t2.refresh_token, undefined, 'no offline_access, no refresh token');

    // Refresh: rotated; the spent one presented again ends the grant.
    const r1 = await oidc.refreshTokenGrant(spaConfig, tokens.refresh_token);
    assert.ok(r1.access_token && r1.refresh_token && r1.refresh_token !== tokens.refresh_token);
    assert.equal(r1.scope, 'openid profile offline_access notes:read');
    await assert.rejects(oidc.refreshTokenGrant(spaConfig, tokens.refresh_token), (e) => e.error === 'invalid_grant');
    await assert.rejects(oidc.refreshTokenGrant(spaConfig, r1.refresh_token), (e) => e.error === 'invalid_grant');
    // Another client cannot spend this client's refresh token.
    const third = await authorization(spaConfig, { redirect_uri: spaRedirect, scope: 'openid offline_access', extra: { prompt: 'none' } });
    const n = landings.length;
    await page.goto(third.url.href);
    const t3 = await oidc.authorizationCodeGrant(spaConfig, new URL((await landed(n)).url), { pkceCodeVerifier: third.verifier, expectedState: third.state, expectedNonce: third.nonce });
    await assert.rejects(oidc.refreshTokenGrant(appConfig, t3.refresh_token), (e) => e.error === 'invalid_grant');
    const still = await oidc.refreshTokenGrant(spaConfig, t3.refresh_token);
    // RFC 7009: revoking the refresh token ends its family.
    await oidc.tokenRevocation(spaConfig, still.refresh_token);
    await assert.rejects(oidc.refreshTokenGrant(spaConfig, still.refresh_token), (e) => e.error === 'invalid_grant');
    const revokedInfo = await fetch(`${edge.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${still.access_token}` } });
    assert.equal(revokedInfo.status, 401);
    assert.match(revokedInfo.headers.get('www-authenticate'), /invalid_token/);
  });

  it('a third-party confidential client: consent_required, deny, allow (form_post), remembered, withdrawn', async () => {
    const { page, landed } = person;
    // Not yet consented: prompt=none answers consent_required.
    const none = await authorization(appConfig, { redirect_uri: appRedirect, extra: { prompt: 'none' } });
    let n = landings.length;
    await page.goto(none.url.href);
    let got = params(await landed(n));
    assert.equal(got.get('error'), 'consent_required');
    assert.equal(got.get('state'), none.state);

    // The consent screen names the client and what it asks; declining answers access_denied.
    const denied = await authorization(appConfig, { redirect_uri: appRedirect, scope: 'openid profile notes:read' });
    n = landings.length;
    await page.goto(denied.url.href);
    await page.waitForSelector('#consent:not([hidden])');
    assert.equal(await page.textContent('#consent-client'), 'Acme Notes');
    const asked = await page.$$eval('#consent-scopes li', (items) => items.map((i) => i.textContent));
    assert.deepEqual(asked, ['See your name and username', 'Use “notes:read”']);
    await page.click('#consent-deny');
    got = params(await landed(n));
    assert.equal(got.get('error'), 'access_denied');
    assert.equal(got.get('state'), denied.state);

    // Allowed, with the answer posted (response_mode=form_post).
    const allowed = await authorization(appConfig, { redirect_uri: appRedirect, scope: 'openid profile notes:read', extra: { response_mode: 'form_post' } });
    n = landings.length;
    await page.goto(allowed.url.href);
    await page.waitForSelector('#consent:not([hidden])');
    await page.click('#consent-allow');
    const posted = await landed(n);
    assert.equal(posted.method, 'POST');
    const tokens = await oidc.authorizationCodeGrant(appConfig, landingRequest(posted), { pkceCodeVerifier: allowed.verifier, expectedState: allowed.state, expectedNonce: allowed.nonce, idTokenExpected: true });
    assert.equal(tokens.claims().aud, app.client_id);
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`)), { issuer: edge.url, audience: 'https://notes.example' });
    assert.equal(payload.scope, 'openid profile notes:read');

    // Remembered: the next sign-in asks nothing.
    const remembered = await authorization(appConfig, { redirect_uri: appRedirect, scope: 'openid notes:read', extra: { prompt: 'none' } });
    n = landings.length;
    await page.goto(remembered.url.href);
    const quiet = await landed(n);
    assert.ok(params(quiet).get('code'), quiet.url);
    const t2 = await oidc.authorizationCodeGrant(appConfig, new URL(quiet.url), { pkceCodeVerifier: remembered.verifier, expectedState: remembered.state, expectedNonce: remembered.nonce });

    // Withdrawn from the person's account: the application's sessions end, and it must ask again.
    const bearer = { authorization: `Bearer ${(await person.signInOnLoginPage('olivia')).access_token}` };
    const list = await (await fetch(`${edge.url}/v1/consents`, { headers: bearer })).json();
    assert.deepEqual(list.consents.map((c) => [c.client_id, c.name, c.scopes]), [[app.client_id, 'Acme Notes', ['profile', 'notes:read']]]);
    const withdrawn = await fetch(`${edge.url}/v1/consents/revoke`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ client_id: app.client_id }) });
    assert.equal(withdrawn.status, 200);
    assert.ok((await withdrawn.json()).sessions_ended >= 2);
    const ended = await fetch(`${edge.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${t2.access_token}` } });
    assert.equal(ended.status, 401);
    const after = await authorization(appConfig, { redirect_uri: appRedirect, extra: { prompt: 'none' } });
    n = landings.length;
    await page.goto(after.url.href);
    assert.equal(params(await landed(n)).get('error'), 'consent_required');
  });

  it('Authlib, as another relying party, signs the same person in and revokes its token', async () => {
    const { page, landed } = person;
    const dir = mkdtempSync(join(tmpdir(), 'tessera-authlib-'));
    try {
      const stateFile = join(dir, 'state.json');
      const env = { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' };
      const script = join(root, 'tests', 'blackbox', 'authlib_rp.py');
      const begin = await run(python, [script, 'begin', edge.url, app.client_id, app.client_secret, `${RP}/authlib/cb`, stateFile], { env });
      const n = landings.length;
      await page.goto(begin.stdout.trim());
      await page.waitForSelector('#consent:not([hidden])');
      await page.click('#consent-allow');
      const back = await landed(n);
      const finish = await run(python, [script, 'finish', stateFile, back.url], { env });
      const out = JSON.parse(finish.stdout);
      assert.equal(out.claims.preferred_username, 'olivia');
      assert.equal(out.claims.aud, app.client_id);
      assert.equal(out.userinfo.preferred_username, 'olivia');
      assert.equal(out.after_revocation, 401);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('acr_values=mfa steps the person up with their authenticator app, and the ID token says so', async () => {
    const { page, landed } = person;
    await person.signInOnLoginPage('olivia');
    await page.click('#totp-enroll');
    await page.waitForSelector('#totp-setup:not([hidden])');
    const secret = (await page.textContent('#totp-secret')).trim();
    const setupStep = Math.floor(Date.now() / 30_000);
    // Six digits send themselves.
    await page.fill('#totp-confirm-code', totp(secret));
    await page.waitForSelector('#totp-setup', { state: 'hidden' });
    // The setup counted as this session's step-up; a new sign-in starts without it.
    assert.ok(JSON.parse(await page.textContent('#claims')).amr.includes('otp'));
    await page.click('#logout');
    await page.waitForSelector('#signed-out:not([hidden])');
    const a = await authorization(spaConfig, { redirect_uri: spaRedirect, extra: { acr_values: 'mfa' } });
    const n = landings.length;
    await page.goto(a.url.href);
    // Signed in again on the page (by autofill, or by name), which then asks for the app's code.
    const autofilled = await page.waitForSelector('#signed-in:not([hidden])', { timeout: 5_000 }).then(() => true, () => false);
    if (!autofilled) {
      await page.fill('#signin-username', 'olivia');
      await page.click('#signin');
    }
    await page.waitForFunction(() => /authenticator app/.test(document.getElementById('message').textContent), null, { timeout: 15_000 });
    // A code of a later step than the setup's (a code is good once).
    while (Math.floor(Date.now() / 30_000) === setupStep) await new Promise((r) => setTimeout(r, 500));
    await page.fill('#totp-code', totp(secret));
    const tokens = await oidc.authorizationCodeGrant(spaConfig, new URL((await landed(n)).url), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
    const claims = tokens.claims();
    assert.equal(claims.acr, 'mfa');
    assert.ok(claims.amr.includes('otp'), claims.amr.join(' '));
  });

  it('every bad request gets its RFC error code, shown to the person or sent to the client as RFC 6749 says', async () => {
    const base = { client_id: spa.client_id, redirect_uri: spaRedirect, response_type: 'code', scope: 'openid', state: 's1', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
    // Shown, never redirected: the client or its redirect URI is wrong.
    for (const [query, code] of [
      [{ ...base, client_id: 'tc_nobody' }, 'invalid_client'],
      [{ ...base, redirect_uri: `${RP}/elsewhere` }, 'invalid_redirect_uri'],
      [{ ...base, redirect_uri: `${spaRedirect}/` }, 'invalid_redirect_uri'],
      [(({ redirect_uri, ...q }) => q)(base), 'invalid_request'],
    ]) {
      const r = await authorizeWithCookie(person, query);
      assert.equal(r.status, 400, JSON.stringify(query));
      assert.equal(r.headers.get('location'), null);
      assert.match(r.headers.get('content-type'), /text\/html/);
      assert.match(await r.text(), new RegExp(code));
    }
    // Sent to the client, with the state.
    const sent = async (query) => {
      const r = await authorizeWithCookie(person, query);
      assert.equal(r.status, 302, JSON.stringify(query));
      const to = new URL(r.headers.get('location'));
      assert.equal(to.origin + to.pathname, spaRedirect);
      assert.equal(to.searchParams.get('state'), 's1');
      assert.equal(to.searchParams.get('iss'), edge.url);
      return to.searchParams.get('error');
    };
    assert.equal(await sent((({ code_challenge, code_challenge_method, ...q }) => q)(base)), 'invalid_request');
    assert.equal(await sent({ ...base, code_challenge_method: 'plain' }), 'invalid_request');
    assert.equal(await sent({ ...base, response_type: 'token' }), 'unsupported_response_type');
    assert.equal(await sent({ ...base, scope: 'openid admin' }), 'invalid_scope');
    assert.equal(await sent({ ...base, request: 'eyJhbGciOiJub25lIn0.e30.' }), 'request_not_supported');
    assert.equal(await sent({ ...base, request_uri: 'urn:example:x' }), 'request_uri_not_supported');
    assert.equal(await sent({ ...base, prompt: 'none login' }), 'invalid_request');
    const anonymous = await fetch(`${edge.url}/oauth2/authorize?${new URLSearchParams({ ...base, prompt: 'none' })}`, { redirect: 'manual' });
    assert.equal(new URL(anonymous.headers.get('location')).searchParams.get('error'), 'login_required');

    // The token endpoint: a code bound to client, redirect URI and verifier; spent once.
    const fresh = async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const r = await authorizeWithCookie(person, { ...base, prompt: 'none', code_challenge: await oidc.calculatePKCECodeChallenge(verifier) });
      return { code: new URL(r.headers.get('location')).searchParams.get('code'), verifier };
    };
    const redeem = (fields, headers = {}) => fetch(`${edge.url}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'authorization_code', redirect_uri: spaRedirect, client_id: spa.client_id, ...fields }),
    });
    const error = async (r) => { assert.equal(r.status >= 400, true); return (await r.json()).error; };
    let c = await fresh();
    assert.equal(await error(await redeem({ code: c.code, code_verifier: oidc.randomPKCECodeVerifier() })), 'invalid_grant');
    assert.equal(await error(await redeem({ code: c.code, code_verifier: c.verifier })), 'invalid_grant', 'a wrong verifier burns the code');
    c = await fresh();
    assert.equal(await error(await redeem({ code: c.code })), 'invalid_grant', 'no verifier');
    c = await fresh();
    assert.equal(await error(await redeem({ code: c.code, code_verifier: c.verifier, redirect_uri: `${RP}/elsewhere` })), 'invalid_grant');
    c = await fresh();
    assert.equal(await error(await redeem({ code: c.code, code_verifier: c.verifier, client_id: 'tc_nobody' })), 'invalid_client');
    assert.equal(await error(await redeem({ code: c.code, code_verifier: c.verifier, client_id: app.client_id })), 'invalid_client', 'a confidential client must authenticate');
    const basic = { authorization: 'Basic ' + Buffer.from(`${app.client_id}:${app.client_secret}`).toString('base64') };
    assert.equal(await error(await redeem({ code: c.code, code_verifier: c.verifier, client_id: '' }, basic)), 'invalid_grant', "another client's code");
    assert.equal(await error(await redeem({ code: 'tac_made-up', code_verifier: c.verifier })), 'invalid_grant');
    assert.equal(await error(await redeem({ code: '', code_verifier: c.verifier })), 'invalid_request');

    // Eight concurrent redemptions of one code: one answer; the replays revoke what it gave.
    c = await fresh();
    const answers = await Promise.all(Array.from({ length: 8 }, () => redeem({ code: c.code, code_verifier: c.verifier })));
    const won = answers.filter((r) => r.status === 200);
    assert.equal(won.length, 1, answers.map((r) => r.status).join(' '));
    for (const r of answers.filter((r) => r.status !== 200)) assert.equal((await r.json()).error, 'invalid_grant');
    const winner = await won[0].json();
    const info = await fetch(`${edge.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${winner.access_token}` } });
    assert.equal(info.status, 401, 'a replayed code revokes the tokens it was redeemed for');
    // Userinfo wants openid, and a token.
    const noToken = await fetch(`${edge.url}/oauth2/userinfo`);
    assert.equal(noToken.status, 401);
  });

  it('RP-initiated logout ends the browser session and returns to a registered URI only', async () => {
    const { page, landed } = person;
    const a = await authorization(spaConfig, { redirect_uri: spaRedirect, extra: { prompt: 'none' } });
    let n = landings.length;
    await page.goto(a.url.href);
    const tokens = await oidc.authorizationCodeGrant(spaConfig, new URL((await landed(n)).url), { pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce });
    // An unregistered destination is refused, as a page.
    const bad = await fetch(`${edge.url}/oauth2/logout?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: `${RP}/evil` })}`, { redirect: 'manual', headers: { cookie: await person.cookie() } });
    assert.equal(bad.status, 400);
    // Without a hint, the person confirms first.
    const unhinted = await fetch(`${edge.url}/oauth2/logout`, { redirect: 'manual', headers: { cookie: await person.cookie() } });
    assert.equal(unhinted.status, 200);
    assert.match(await unhinted.text(), /Sign out\?/);
    // With the hint: signed out at once, and back to the client with its state.
    n = landings.length;
    await page.goto(oidc.buildEndSessionUrl(spaConfig, { id_token_hint: tokens.id_token, post_logout_redirect_uri: `${RP}/spa/bye`, state: 'bye-1' }).href);
    const bye = new URL((await landed(n)).url);
    assert.equal(bye.pathname, '/spa/bye');
    assert.equal(bye.searchParams.get('state'), 'bye-1');
    const info = await fetch(`${edge.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(info.status, 401, "the client's session ended with the browser's");
    const after = await authorization(spaConfig, { redirect_uri: spaRedirect, extra: { prompt: 'none' } });
    n = landings.length;
    await page.goto(after.url.href);
    assert.equal(params(await landed(n)).get('error'), 'login_required');
  });
});
