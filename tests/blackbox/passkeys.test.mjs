// Passkeys, TOTP and sessions through the real Worker in workerd and the real origin, driven by a software
// authenticator; every ceremony the edge accepts is also verified by @simplewebauthn/server (a verifier
// nobody here wrote), and every refusal is checked by its code. TOTP codes come from pyotp.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { verifyRegistrationResponse, verifyAuthenticationResponse } from '@simplewebauthn/server';
import { startOrigin, startEdge, python, run, waitForLog } from './harness.mjs';
import { people } from './people.mjs';
import { SoftAuthenticator, FLAGS } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';

describe('passkeys, TOTP and sessions at the edge', () => {
  let origin, edge, client, ORIGIN, RP_ID, writeMember;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme' } });
    ORIGIN = edge.url;
    RP_ID = 'localhost';
    // A resource server of the tenant, to introspect user tokens.
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    // The tenant names a role for its tokens before anyone signs in (the edge caches the list for 30 s).
    const admin = (method, path, body) => fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method, headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' }, body,
    });
    assert.equal((await admin('PUT', '/schema', 'definition user {}\ndefinition org {\n    relation member: user\n    permission view = member\n}\n')).status, 200);
    assert.equal((await admin('PUT', '/token-roles', JSON.stringify({ roles: ['org:acme#view'] }))).status, 200);
    writeMember = async (sub) => {
      const r = await admin('POST', '/relationships/write', JSON.stringify({ updates: [{ operation: 'create', relationship: `org:acme#member@user:${sub}` }] }));
      assert.equal(r.status, 200);
    };
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  let post, registerOptions, loginOptions, signUp, signIn, introspect, refresh;
  before(() => ({ post, registerOptions, loginOptions, signUp, signIn, introspect, refresh } = people(edge, client)));
  const jwks = () => jose.createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`));

  it('signs up, signs in (username-first and discoverable) and issues RFC 8176 claims; simplewebauthn agrees', async () => {
    for (const alg of [-7, -8, -257]) {
      const name = `ann${alg}`;
      const { device, tokens, options, credential } = await signUp(name, new SoftAuthenticator({ alg }));
      const theirs = await verifyRegistrationResponse({
        response: credential, expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: false,
      });
      assert.equal(theirs.verified, true, 'simplewebauthn accepts the registration the edge accepted');
      const { payload } = await jose.jwtVerify(tokens.access_token, jwks(), { issuer: edge.issuer, audience: AUD });
      assert.deepEqual(payload.amr, ['hwk', 'user', 'mfa']);
      assert.equal(payload.acr, 'phr');
      assert.equal(payload.tid, 'acme');
      assert.equal(payload.client_id, 'tessera-login');
      assert.ok(payload.sid && payload.auth_time && payload.sub);
      assert.equal(typeof tokens.refresh_token, 'string');

      // Username-first, then discoverable (no username: the user handle says whose passkey it is).
      let counter = 0;
      for (const username of [name, undefined]) {
        const r = await signIn(device, username);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const claims = jose.decodeJwt(r.body.access_token);
        assert.equal(claims.sub, payload.sub);
        assert.notEqual(claims.sid, payload.sid, 'a new session per sign-in');
        const info = theirs.registrationInfo;
        const check = await verifyAuthenticationResponse({
          response: r.credential, expectedChallenge: r.options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID,
          credential: { id: info.credential.id, publicKey: info.credential.publicKey, counter },
          requireUserVerification: false,
        });
        assert.equal(check.verified, true, 'simplewebauthn accepts the assertion the edge accepted');
        counter = check.authenticationInfo.newCounter;
      }
    }
  });

  it("puts the tenant's token roles a user holds into user tokens, within the staleness bound", async () => {
    const { device, tokens } = await signUp('rolf');
    const claims = jose.decodeJwt(tokens.access_token);
    assert.deepEqual(claims.roles, [], 'named but not held');
    await writeMember(claims.sub);
    const since = Date.now();
    let roles;
    while (Date.now() - since < 8000) {
      const r = await signIn(device, 'rolf');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      roles = jose.decodeJwt(r.body.access_token).roles;
      if (roles.length) break;
      await new Promise((ok) => setTimeout(ok, 500));
    }
    assert.deepEqual(roles, ['org:acme#view'], 'held once the edge has seen the write (at most the 5 s bound)');
  });

  it('adds a second device for a signed-in user, which can then sign in', async () => {
    const { tokens } = await signUp('bea');
    const options = await registerOptions(undefined, tokens.access_token);
    assert.equal(options.user.name, 'bea');
    assert.equal(options.excludeCredentials.length, 1, 'the first passkey is excluded');
    const second = new SoftAuthenticator({ alg: -8 });
    // Finished by the session that started it (tests/blackbox/security.test.mjs: nobody else can).
    const r = await post('/v1/passkeys/register/verify', { credential: second.create(options, ORIGIN) }, tokens.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const login = await signIn(second, 'bea');
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal(jose.decodeJwt(login.body.access_token).sub, jose.decodeJwt(tokens.access_token).sub);
    // Options list no credentials, known name or not (tests/blackbox/security.test.mjs); both devices sign in.
    assert.equal((await loginOptions('bea')).allowCredentials.length, 0);
    // The account as its owner sees it: both passkeys, newest first, the second one used once; no key
    // material. Only with a live session.
    const account = await fetch(`${edge.url}/v1/account`, { headers: { authorization: `Bearer ${login.body.access_token}` } });
    assert.equal(account.status, 200);
    assert.equal(account.headers.get('cache-control'), 'no-store');
    const a = await account.json();
    assert.deepEqual([a.username, a.totp, a.passkeys.length], ['bea', false, 2], JSON.stringify(a));
    assert.deepEqual(Object.keys(a.passkeys[0]).sort(), ['created_at', 'id', 'last_used_at', 'name', 'synced']);
    assert.ok(a.passkeys[0].created_at >= a.passkeys[1].created_at);
    assert.equal(a.passkeys.filter((p) => p.last_used_at).length, 1, JSON.stringify(a.passkeys));
    for (const auth of [undefined, 'Bearer not-a-token']) {
      const r = await fetch(`${edge.url}/v1/account`, { headers: auth ? { authorization: auth } : {} });
      assert.equal(r.status, 401, String(auth));
    }
    assert.equal((await fetch(`${edge.url}/v1/account`, { method: 'POST' })).status, 405);
  });

  it('refuses bad registrations, each with its code, and simplewebauthn refuses them too', async () => {
    const cases = [
      ['origin_not_allowed', { origin: 'http://evil.localhost:1' }],
      ['rp_id_mismatch', { rpId: 'evil.test' }],
      ['wrong_ceremony_type', { type: 'webauthn.get' }],
      ['user_not_present', { flags: FLAGS.UV }],
      ['backup_state_invalid', { flags: FLAGS.UP | FLAGS.BS }],
      ['algorithm_not_allowed', { cose: new Map([[1, 2], [3, -35], [-1, 2], [-2, new Uint8Array(48).fill(1)], [-3, new Uint8Array(48).fill(2)]]) }],
      // A 1024-bit RSA key: refused here (2048 to 4096 bits); simplewebauthn does not look at the size.
      ['public_key_malformed', { cose: new Map([[1, 3], [3, -257], [-1, new Uint8Array(128).fill(0xc5)], [-2, new Uint8Array([1, 0, 1])]]) }, false],
    ];
    for (const [code, o, peerRefuses = true] of cases) {
      const options = await registerOptions(`neg-${code}`);
      const device = new SoftAuthenticator();
      const credential = device.create(options, ORIGIN, o);
      const r = await post('/v1/passkeys/register/verify', { credential });
      assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, code);
      assert.ok(r.body.message.length > 10 && !/[{}]/.test(r.body.message), 'words a person understands');
      if (!peerRefuses) continue;
      await assert.rejects(verifyRegistrationResponse({
        response: credential, expectedChallenge: options.challenge, expectedOrigin: ORIGIN, expectedRPID: RP_ID, requireUserVerification: false,
        supportedAlgorithmIDs: [-7, -8, -257],
      }), `simplewebauthn also refuses ${code}`);
    }
    // A challenge the edge never issued, and one used twice.
    const options = await registerOptions('neg-challenge');
    const stranger = new SoftAuthenticator().create(options, ORIGIN, { challenge: Buffer.alloc(32, 7).toString('base64url') });
    const r1 = await post('/v1/passkeys/register/verify', { credential: stranger });
    assert.deepEqual([r1.status, r1.body.error], [400, 'challenge_unknown']);
    const good = new SoftAuthenticator().create(options, ORIGIN);
    assert.equal((await post('/v1/passkeys/register/verify', { credential: good })).status, 200);
    const again = await post('/v1/passkeys/register/verify', { credential: new SoftAuthenticator().create(options, ORIGIN) });
    assert.deepEqual([again.status, again.body.error], [400, 'challenge_unknown'], 'a challenge is single use');
    // Taken names (said only once a ceremony is complete: options do not list names), bad names, bad bodies.
    const taken = new SoftAuthenticator().create(await registerOptions('neg-challenge'), ORIGIN);
    const refusal = await post('/v1/passkeys/register/verify', { credential: taken });
    assert.deepEqual([refusal.status, refusal.body.error], [409, 'username_taken']);
    for (const username of ['', ' padded ', 'x'.repeat(65), 'tab\there']) {
      const r = await post('/v1/passkeys/register/options', { username });
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_username'], JSON.stringify(username));
    }
    for (const body of ['not json', { credential: { id: 'x' } }, { credential: { ...good, response: { ...good.response, clientDataJSON: '!!' } } }]) {
      const r = await post('/v1/passkeys/register/verify', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error, 'invalid_request');
    }
  });

  it('refuses bad sign-ins with one answer outside and the precise code in the log', async () => {
    const { device } = await signUp('cyd');
    const cases = [
      ['signature_invalid', { tamper: true }],
      ['origin_not_allowed', { origin: 'http://evil.localhost:1' }],
      ['rp_id_mismatch', { rpId: 'evil.test' }],
      ['user_not_present', { flags: FLAGS.UV }],
      ['user_handle_mismatch', { userHandle: Buffer.from('someone else').toString('base64url') }],
      ['wrong_ceremony_type', { type: 'webauthn.create' }],
    ];
    let outside;
    for (const [code, o] of cases) {
      const r = await signIn(device, undefined, o);
      assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.body)}`);
      outside ??= r.body;
      assert.deepEqual(r.body, outside, 'every refusal looks the same from outside');
      await waitForLog(edge.proc, new RegExp(`passkey sign-in refused \\(${code}\\)`));
    }
    assert.equal(outside.error, 'passkey_refused');
    // A replayed assertion (same challenge twice) and a passkey the edge does not know.
    const options = await loginOptions('cyd');
    const credential = device.get(options, ORIGIN);
    assert.equal((await post('/v1/passkeys/login/verify', { credential })).status, 200);
    assert.deepEqual((await post('/v1/passkeys/login/verify', { credential })).body, outside);
    const unknown = new SoftAuthenticator();
    unknown.rpId = RP_ID;
    unknown.userHandle = credential.response.userHandle;
    assert.deepEqual((await signIn(unknown, undefined)).body, outside);
    // A username that does not exist gets options like any other, and sign-in then fails the same way.
    const ghost = await loginOptions('nobody-here');
    assert.deepEqual(Object.keys(ghost).sort(), ['allowCredentials', 'challenge', 'rpId', 'timeout', 'userVerification']);
    // Username-first: another user's passkey does not sign in as the named user.
    await signUp('dan');
    const asDan = await signIn(device, 'dan');
    assert.deepEqual(asDan.body, outside);
  });

  it('detects a cloned authenticator by its counter going back', async () => {
    const { device } = await signUp('eve');
    const clone = device.clone();
    assert.equal((await signIn(device, 'eve')).status, 200);
    assert.equal((await signIn(device, 'eve')).status, 200);
    // The clone still has the counter the original had when it was copied.
    const r = await signIn(clone, 'eve');
    assert.equal(r.status, 400);
    await waitForLog(edge.proc, /"event":"possible_cloned_authenticator"/);
    await waitForLog(edge.proc, /passkey sign-in refused \(sign_count_regressed\)/);
    assert.equal((await signIn(device, 'eve')).status, 200, 'the original keeps working');
  });

  it('rotates refresh tokens, revokes the family on reuse, and introspection sees revocations at once', async () => {
    const { tokens } = await signUp('fay');
    assert.equal((await introspect(tokens.access_token)).active, true);
    const r1 = await refresh(tokens.refresh_token);
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.notEqual(r1.body.refresh_token, tokens.refresh_token);
    assert.equal(jose.decodeJwt(r1.body.access_token).sid, jose.decodeJwt(tokens.access_token).sid);
    // The spent token again: refused, and the whole session (with the live successor) is revoked.
    const reuse = await refresh(tokens.refresh_token);
    assert.deepEqual([reuse.status, reuse.body.error], [400, 'invalid_grant']);
    assert.match(reuse.body.error_description, /already used/);
    assert.deepEqual([(await refresh(r1.body.refresh_token)).status], [400]);
    const after = await introspect(r1.body.access_token);
    assert.deepEqual([after.active, after.inactive_reason], [false, 'session_revoked']);
    assert.equal((await refresh('never-issued')).body.error, 'invalid_grant');

    // Logout ends this session only; logout everywhere ends the rest.
    const a = (await signIn((await signUp('gus')).device, 'gus')).body;
    const b = (await signUp('gus2')).tokens;
    const out = await post('/v1/sessions/logout', {}, a.access_token);
    assert.deepEqual([out.status, out.body.revoked], [200, 1]);
    assert.equal((await introspect(a.access_token)).inactive_reason, 'session_revoked');
    assert.equal((await post('/v1/sessions/logout', {}, a.access_token)).status, 401, 'a revoked session cannot act');
    assert.equal((await introspect(b.access_token)).active, true, 'other users are untouched');
    const { device: hal } = await signUp('hal');
    const s1 = (await signIn(hal, 'hal')).body;
    const s2 = (await signIn(hal, 'hal')).body;
    const all = await post('/v1/sessions/logout-all', {}, s1.access_token);
    assert.equal(all.body.revoked, 3, 'the sign-up session and both sign-ins');
    assert.equal((await introspect(s2.access_token)).inactive_reason, 'session_revoked');
    assert.equal((await post('/v1/sessions/logout', {}, 'not-a-token')).status, 401);
  });

  it('enrols TOTP with a QR code (the setup counts as a step-up) and steps up with codes from pyotp; a replayed code is refused', async () => {
    const { tokens } = await signUp('ivy');
    assert.equal((await post('/v1/totp/enroll', {})).status, 401);
    const e = await post('/v1/totp/enroll', {}, tokens.access_token);
    assert.equal(e.status, 200, JSON.stringify(e.body));
    assert.match(e.body.otpauth_uri, /^otpauth:\/\/totp\/Tessera:ivy\?secret=[A-Z2-7]+&issuer=Tessera&algorithm=SHA1&digits=6&period=30$/);
    assert.match(e.body.qr_svg, /^<svg [^>]*viewBox="0 0 \d+ \d+"/);
    const code = async (offset = 0) => (await run(python, ['-c', `import pyotp,time; print(pyotp.TOTP(${JSON.stringify(e.body.secret)}).at(time.time() + ${offset}))`])).stdout.trim();
    // Not yet confirmed: a step-up is refused; the first code confirms.
    assert.equal((await post('/v1/totp/verify', { code: await code() }, tokens.access_token)).body.error, 'totp_not_enrolled');
    const wrong = (await post('/v1/totp/confirm', { code: '12345' }, tokens.access_token)).body;
    assert.deepEqual([wrong.error, wrong.message], ['totp_malformed', 'enter the 6 digits your authenticator app shows']);
    // Codes from the previous step and this one must stay in the server's window: not within 3 s of a
    // step's end (the edge then the origin check them a moment later).
    while (Date.now() % 30_000 > 27_000) await new Promise((r) => setTimeout(r, 250));
    const confirmed = await post('/v1/totp/confirm', { code: await code(-30) }, tokens.access_token);
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    // The setup counts as the step-up: its answer is already a token that says `otp`, in the same session.
    assert.equal(confirmed.body.enrolled, true);
    assert.deepEqual(jose.decodeJwt(confirmed.body.access_token).amr, ['hwk', 'user', 'mfa', 'otp']);
    assert.equal(jose.decodeJwt(confirmed.body.access_token).sid, jose.decodeJwt(tokens.access_token).sid);
    assert.equal((await post('/v1/totp/enroll', {}, tokens.access_token)).body.error, 'totp_already_enrolled');
    const current = await code();
    const up = await post('/v1/totp/verify', { code: current }, tokens.access_token);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    const claims = jose.decodeJwt(up.body.access_token);
    assert.deepEqual(claims.amr, ['hwk', 'user', 'mfa', 'otp']);
    assert.equal(claims.sid, jose.decodeJwt(tokens.access_token).sid);
    const replay = await post('/v1/totp/verify', { code: current }, tokens.access_token);
    assert.deepEqual([replay.status, replay.body.error], [400, 'totp_replayed']);
    assert.equal((await post('/v1/totp/verify', {}, tokens.access_token)).body.error, 'invalid_request');
  });

  it('works with soft-webauthn (PyPI) and refuses what it crafts when bent', async () => {
    const { stdout } = await run(python, [new URL('./soft_webauthn_cases.py', import.meta.url).pathname, edge.url, 'pyuser']);
    const r = JSON.parse(stdout);
    assert.deepEqual(r.register, { status: 200, error: null });
    assert.deepEqual(r.sign_in, { status: 200, error: null });
    assert.deepEqual(r.register_bad_rp_id_hash, { status: 400, error: 'rp_id_mismatch' });
    assert.deepEqual(r.register_flags_without_up, { status: 400, error: 'user_not_present' });
    assert.deepEqual(r.register_bs_without_be, { status: 400, error: 'backup_state_invalid' });
    assert.deepEqual(r.register_replayed_challenge, { status: 400, error: 'challenge_unknown' });
    for (const c of ['sign_in_tampered_signature', 'sign_in_wrong_type', 'sign_in_replayed']) {
      assert.deepEqual(r[c], { status: 400, error: 'passkey_refused' }, c);
    }
    await waitForLog(edge.proc, /passkey sign-in refused \(signature_invalid\)/);
  });

  it('serves the login page with a strict content security policy', async () => {
    const r = await fetch(`${edge.url}/login`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
    assert.match(await r.text(), /Sign in with a passkey/);
    const js = await fetch(`${edge.url}/login.js`);
    assert.match(js.headers.get('content-type'), /javascript/);
    assert.equal((await fetch(`${edge.url}/login`, { method: 'POST' })).status, 405);
  });
});
