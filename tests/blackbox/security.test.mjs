// Attacks on sign-in and sessions, each found by a security review of the running stack and each failing
// before its fix: concurrent refresh-token reuse, unlimited TOTP guesses, an add-device ceremony finished by
// someone else or after logout, permission checks with the token of an ended session, username enumeration
// through ceremony options, and ceremony state created by anonymous requests. The real Worker in workerd and
// the real origin binary, driven by a software authenticator and pyotp.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge, python, run } from './harness.mjs';
import { people } from './people.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';
const statuses = (rs) => rs.map((r) => r.status).sort();

/** Files of Durable Objects of `className` that wrangler persisted under the edge's state folder. */
function objectFiles(edge, className) {
  const root = join(edge.dir, 'state', 'v3', 'do');
  let n = 0;
  let dirs;
  try {
    dirs = readdirSync(root);
  } catch {
    return 0;
  }
  for (const d of dirs.filter((d) => d.endsWith(className))) {
    n += readdirSync(join(root, d)).filter((f) => f.endsWith('.sqlite')).length;
  }
  return n;
}

describe('security of sign-in and sessions', () => {
  let origin, edge, client, p;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme' } });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    const r = await fetch(`${origin.url}/v1/tenants/acme/schema`, {
      method: 'PUT', headers: { authorization: `Bearer ${origin.serviceToken}` },
      body: 'definition user {}\ndefinition org {\n    relation member: user\n    permission view = member\n}\n',
    });
    assert.equal(r.status, 200);
    p = people(edge, client);
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('spends a refresh token once under 8 concurrent presentations: every other one is reuse and ends the session', async () => {
    for (const n of [8, 2, 2, 2]) {
      const { tokens } = await p.signUp(`rt-${n}-${Math.random().toString(36).slice(2, 8)}`);
      const answers = await Promise.all(Array.from({ length: n }, () => p.refresh(tokens.refresh_token)));
      assert.ok(answers.every((a) => a.status === 200 || a.status === 400), `no 5xx: ${JSON.stringify(answers)}`);
      const won = answers.filter((a) => a.status === 200);
      assert.equal(won.length, 1, `exactly one winner: ${statuses(answers)}`);
      assert.ok(answers.filter((a) => a.status === 400).every((a) => a.body.error === 'invalid_grant'));
      // Reuse was detected, so the whole family is revoked, the winner's successor included.
      const after = await p.introspect(tokens.access_token);
      assert.deepEqual([after.active, after.inactive_reason], [false, 'session_revoked']);
      for (const w of won) assert.equal((await p.refresh(w.body.refresh_token)).status, 400);
    }
  });

  it('counts every wrong TOTP code, concurrent ones too, then refuses even the right one with 429 and Retry-After', async () => {
    const { tokens } = await p.signUp('guesser');
    const e = await p.post('/v1/totp/enroll', {}, tokens.access_token);
    assert.equal(e.status, 200);
    const codes = async () => JSON.parse((await run(python, ['-c',
      `import pyotp,time,json; t=pyotp.TOTP(${JSON.stringify(e.body.secret)}); n=time.time(); print(json.dumps([t.at(n+d) for d in (-60,-30,0,30,60)]))`])).stdout);
    assert.equal((await p.post('/v1/totp/confirm', { code: (await codes())[2] }, tokens.access_token)).status, 200);
    const valid = new Set(await codes());
    const wrong = ['000000', '111111', '222222', '333333', '444444', '555555'].find((c) => !valid.has(c));
    // Eight guesses at once: the first four are free, the fifth starts a wait, the rest fall in it.
    const guesses = await Promise.all(Array.from({ length: 8 }, () => p.post('/v1/totp/verify', { code: wrong }, tokens.access_token)));
    assert.deepEqual(statuses(guesses), [400, 400, 400, 400, 400, 429, 429, 429], JSON.stringify(guesses.map((g) => g.body)));
    assert.ok(guesses.filter((g) => g.status === 400).every((g) => g.body.error === 'totp_mismatch'));
    const locked = await p.post('/v1/totp/verify', { code: (await codes())[2] }, tokens.access_token);
    assert.deepEqual([locked.status, locked.body.error], [429, 'totp_locked'], 'the right code waits too');
    const retry = Number(locked.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 30, `Retry-After ${retry}`);
    assert.match(locked.body.message, /too many wrong codes/);
  });

  it('lets only the user and session that started adding a device finish it, while signed in', async () => {
    const a = await p.signUp('adder-a');
    const b = await p.signUp('adder-b');
    const options = await p.registerOptions(undefined, a.tokens.access_token);
    const stranger = new SoftAuthenticator();
    const finish = (device, token) => p.post('/v1/passkeys/register/verify', { credential: device.create(options, p.ORIGIN) }, token);
    // Another user, with their own valid token and authenticator: refused before anything is stored.
    const byB = await finish(stranger, b.tokens.access_token);
    assert.deepEqual([byB.status, byB.body.error], [403, 'ceremony_not_yours']);
    assert.equal((await finish(stranger)).status, 401, 'no token');
    // The same user in another session.
    const a2 = (await p.signIn(a.device, 'adder-a')).body;
    assert.equal((await finish(stranger, a2.access_token)).body.error, 'ceremony_not_yours');
    // The one who started it.
    const mine = new SoftAuthenticator();
    const ok = await finish(mine, a.tokens.access_token);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await p.signIn(mine, 'adder-a')).status, 200, 'the new device signs in as A');
    assert.equal((await p.signIn(stranger, 'adder-a')).status, 400, "B's authenticator was never added");
    // Started, then logged out: the ceremony cannot be finished.
    const later = await p.registerOptions(undefined, a2.access_token);
    assert.equal((await p.post('/v1/sessions/logout', {}, a2.access_token)).status, 200);
    const afterLogout = await p.post('/v1/passkeys/register/verify', { credential: new SoftAuthenticator().create(later, p.ORIGIN) }, a2.access_token);
    assert.deepEqual([afterLogout.status, afterLogout.body.error], [401, 'unauthorized']);
  });

  it('asks for a recent sign-in to add a device (REAUTH_WINDOW)', async () => {
    const strict = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme', REAUTH_WINDOW: '2' } });
    try {
      const q = people(strict, client);
      const { tokens } = await q.signUp('slow-adder');
      const options = await q.registerOptions(undefined, tokens.access_token);
      await new Promise((r) => setTimeout(r, 3500));
      const late = await q.post('/v1/passkeys/register/verify', { credential: new SoftAuthenticator().create(options, q.ORIGIN) }, tokens.access_token);
      assert.deepEqual([late.status, late.body.error], [401, 'reauthentication_required']);
      const again = await q.post('/v1/passkeys/register/options', {}, tokens.access_token);
      assert.deepEqual([again.status, again.body.error], [401, 'reauthentication_required']);
      assert.match(again.headers.get('www-authenticate'), /insufficient_user_authentication/);
    } finally {
      await strict.stop();
    }
  });

  it('refuses permission checks with the token of a session that has ended', async () => {
    const check = (token, sub) => fetch(`${edge.url}/v1/check`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ resource: 'org:acme', permission: 'view', subject: `user:${sub}` }),
    });
    const { device, tokens } = await p.signUp('checker');
    const sub = jose.decodeJwt(tokens.access_token).sub;
    assert.equal((await check(tokens.access_token, sub)).status, 200);
    assert.equal((await p.post('/v1/sessions/logout', {}, tokens.access_token)).status, 200);
    const r = await check(tokens.access_token, sub);
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'unauthorized');
    // Log out everywhere ends the checks of every session of the user.
    const s1 = (await p.signIn(device, 'checker')).body;
    const s2 = (await p.signIn(device, 'checker')).body;
    assert.equal((await check(s2.access_token, sub)).status, 200);
    assert.equal((await p.post('/v1/sessions/logout-all', {}, s1.access_token)).status, 200);
    assert.equal((await check(s2.access_token, sub)).status, 401);
  });

  it('answers options for unknown and taken names like for any other name, and seals nothing about them', async () => {
    await p.signUp('known-ann');
    const known = await p.loginOptions('known-ann');
    const ghost = await p.loginOptions('ghost-ann');
    const shape = (o) => ({ keys: Object.keys(o).sort(), allow: o.allowCredentials, challenge: o.challenge.length });
    assert.deepEqual(shape(ghost), shape(known));
    // The challenge is readable (signed, not encrypted): it carries what the caller typed and nothing more.
    const sealed = (o) => JSON.parse(Buffer.from(o.challenge, 'base64url').subarray(25, -32).toString('utf8'));
    assert.deepEqual(sealed(known), { kind: 'sign_in', tenant: 'acme', username: 'known-ann' });
    assert.deepEqual(sealed(ghost), { kind: 'sign_in', tenant: 'acme', username: 'ghost-ann' });
    // Sign-up options: a taken name and a free one of the same length look alike.
    const taken = await p.post('/v1/passkeys/register/options', { username: 'known-ann' });
    const free = await p.post('/v1/passkeys/register/options', { username: 'knows-ann' });
    assert.deepEqual([taken.status, free.status], [200, 200]);
    const cshape = (o) => ({ keys: Object.keys(o).sort(), challenge: o.challenge.length, user: o.user.id.length, exclude: o.excludeCredentials.length });
    assert.deepEqual(cshape(taken.body.publicKey), cshape(free.body.publicKey));
    // A name that is not a username is refused before anything else.
    assert.equal((await p.post('/v1/passkeys/login/options', { username: ' padded ' })).body.error, 'invalid_username');
  });

  it('refuses display names that are too long or hide text, and a sign-in challenge presented as a sign-up', async () => {
    for (const display_name of ['x'.repeat(65), 'ann\u202Egnp.exe', 'zero\u200Bwidth', 'bell\u0007']) {
      const r = await p.post('/v1/passkeys/register/options', { username: 'shown-name', display_name });
      assert.deepEqual([r.status, r.body.error], [400, 'invalid_display_name'], JSON.stringify(display_name));
    }
    assert.equal((await p.post('/v1/passkeys/register/options', { username: 'shown-name', display_name: 'Ann Smith' })).status, 200);
    // A sign-in's challenge answered with a registration: refused before the attestation is looked at.
    const login = await p.loginOptions('shown-name');
    const asSignUp = new SoftAuthenticator().create({ ...(await p.registerOptions('shown-name')), challenge: login.challenge }, p.ORIGIN);
    const r = await p.post('/v1/passkeys/register/verify', { credential: asSignUp });
    assert.deepEqual([r.status, r.body.error], [400, 'challenge_unknown']);
  });

  it('keeps no state for anonymous options; a challenge is spent once, also under 8 concurrent presentations', async () => {
    const { device } = await p.signUp('spender');
    const before = objectFiles(edge, 'CeremonyObject');
    for (let i = 0; i < 40; i++) {
      await p.loginOptions(i % 2 ? undefined : 'spender');
      await p.registerOptions(`anon-${i}`);
    }
    assert.equal(objectFiles(edge, 'CeremonyObject'), before, 'options create no Durable Object');
    // A challenge we did not seal (one byte changed) is not ours.
    const options = await p.registerOptions('bent-challenge');
    const c = options.challenge;
    const bent = { ...options, challenge: c.slice(0, 10) + (c[10] === 'A' ? 'B' : 'A') + c.slice(11) };
    const r = await p.post('/v1/passkeys/register/verify', { credential: new SoftAuthenticator().create(bent, p.ORIGIN) });
    assert.deepEqual([r.status, r.body.error], [400, 'challenge_unknown']);
    // One assertion presented eight times at once: one sign-in.
    const login = await p.loginOptions('spender');
    const credential = device.get(login, p.ORIGIN);
    const tries = await Promise.all(Array.from({ length: 8 }, () => p.post('/v1/passkeys/login/verify', { credential })));
    assert.deepEqual(statuses(tries), [200, 400, 400, 400, 400, 400, 400, 400]);
    // One registration presented eight times at once: one account.
    const reg = await p.registerOptions('racer');
    const made = new SoftAuthenticator().create(reg, p.ORIGIN);
    const regs = await Promise.all(Array.from({ length: 8 }, () => p.post('/v1/passkeys/register/verify', { credential: made })));
    assert.deepEqual(statuses(regs), [200, 400, 400, 400, 400, 400, 400, 400], JSON.stringify(regs.map((x) => x.body)));
    assert.ok(objectFiles(edge, 'CeremonyObject') > before, 'spent challenges are recorded (the count above sees objects)');
  });
});
