// Account recovery from outside: the real Worker in workerd and the real origin binary, a software
// authenticator and node's `jose`. Sign-up hands out ten recovery codes once; "lost your passkey" spends
// one for a short recovery session that can only add a passkey (which then opens a full session); codes
// are single-use under 8 concurrent presentations, guessed within a failure budget, replaced on request,
// recorded in the audit trail and never stored or logged in the clear.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge } from './harness.mjs';
import { people } from './people.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('account recovery codes', () => {
  let origin, edge, client, p;
  const handedOut = new Set();

  const get = async (path, token) => {
    const r = await fetch(`${edge.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const recover = async (username, code) => p.post('/v1/recovery/sign-in', { username, code });
  const signUp = async (name) => {
    const s = await p.signUp(name);
    const codes = s.tokens.recovery_codes;
    for (const c of codes ?? []) handedOut.add(c);
    return { ...s, codes };
  };
  const audit = async () => {
    const r = await fetch(`${origin.url}/v1/tenants/acme/audit?limit=1000`, { headers: { authorization: `Bearer ${origin.serviceToken}` } });
    assert.equal(r.status, 200);
    return (await r.json()).events;
  };

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

  it('hands out ten codes once at sign-up, and the account counts them', async () => {
    const { codes, tokens } = await signUp('iris');
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    const account = await get('/v1/account', tokens.access_token);
    assert.equal(account.status, 200);
    assert.deepEqual([account.body.recovery_codes, account.body.recovering], [10, false]);
    assert.ok(!JSON.stringify(account.body).includes(codes[0]), 'the account never shows codes again');
  });

  it('signs in with a code to a recovery session that can only add a passkey, which then opens a full session', async () => {
    const { codes, device, tokens: first } = await signUp('jonas');
    // As a person copies it from paper: upper case, a space for the hyphen, the name in other case.
    const typed = codes[0].toUpperCase().replace('-', ' ');
    const r = await fetch(`${edge.url}/v1/recovery/sign-in`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'Jonas', code: typed }),
    });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.deepEqual([body.recovery, body.codes_left, body.refresh_token], [true, 9, undefined]);
    assert.equal(r.headers.get('set-cookie'), null, 'a recovery session is never remembered by the browser');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const rec = body.access_token;
    const jwks = jose.createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`));
    const { payload } = await jose.jwtVerify(rec, jwks, { algorithms: ['ES256'] });
    assert.deepEqual([payload.acr, payload.amr, payload.roles], ['recovery', ['rec'], undefined]);
    assert.ok(payload.exp - payload.iat <= 900);

    // Nothing but adding a passkey, the account and signing out.
    for (const path of ['/v1/totp/enroll', '/v1/recovery/codes']) {
      const refused = await p.post(path, {}, rec);
      assert.deepEqual([refused.status, refused.body.error], [403, 'passkey_required'], path);
      assert.match(refused.body.message, /add a new passkey/i);
    }
    const account = await get('/v1/account', rec);
    assert.deepEqual([account.status, account.body.recovering, account.body.recovery_codes], [200, true, 9]);

    // A new device, added in the recovery session: the recovery session ends, a full one begins.
    const options = await p.registerOptions(undefined, rec);
    const newDevice = new SoftAuthenticator();
    const added = await p.post('/v1/passkeys/register/verify', { credential: newDevice.create(options, p.ORIGIN) }, rec);
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body.recovered, true);
    assert.ok(added.body.refresh_token && added.body.credential_id);
    assert.ok(added.headers.get('set-cookie'), 'the new session is remembered');
    const full = added.body.access_token;
    assert.equal((await get('/v1/account', rec)).status, 401, 'the recovery session has ended');
    assert.equal((await p.introspect(rec)).active, false);
    const after = await get('/v1/account', full);
    assert.deepEqual([after.status, after.body.recovering, after.body.passkeys.length], [200, false, 2]);
    assert.equal((await p.post('/v1/totp/enroll', {}, full)).status, 200, 'the full session may do everything');
    // Both devices sign in; the old session was left alone (signing out everywhere is the person's call).
    assert.equal((await p.signIn(newDevice, 'jonas')).status, 200);
    assert.equal((await p.signIn(device, 'jonas')).status, 200);
    assert.equal((await p.introspect(first.access_token)).active, true);
    // The spent code is spent.
    const again = await recover('jonas', codes[0]);
    assert.deepEqual([again.status, again.body.error], [400, 'recovery_invalid']);
  });

  it('answers an unknown name as a wrong code, tells malformed codes apart, and refuses bad bodies', async () => {
    const { codes } = await signUp('kira');
    const wrong = await recover('kira', 'zzzzz-zzzzz');
    const nobody = await recover('nobody-here', codes[0]);
    assert.deepEqual([wrong.status, wrong.body], [nobody.status, nobody.body]);
    assert.deepEqual([wrong.status, wrong.body.error], [400, 'recovery_invalid']);
    assert.match(wrong.body.message, /username and recovery code do not match/);
    for (const bad of ['', '12345', 'zzzzz-zzzzu', '💥💥💥💥💥-💥💥💥💥💥', 'x'.repeat(200)]) {
      const r = await recover('kira', bad);
      assert.deepEqual([r.status, r.body.error], [400, 'recovery_malformed'], bad);
      assert.match(r.body.message, /ten letters and digits/);
    }
    for (const body of ['{', '{"username":"kira"}', JSON.stringify({ username: 'kira', code: codes[1], extra: 1 }), 'x'.repeat(5000)]) {
      const r = await p.post('/v1/recovery/sign-in', body);
      assert.ok([400, 413].includes(r.status), `${r.status} for ${body.slice(0, 40)}`);
    }
    // Two wrong guesses so far, both free: the right code still works.
    assert.equal((await recover('kira', codes[1])).status, 200);
  });

  it('spends a code once under 8 concurrent presentations', async () => {
    const { codes } = await signUp('lena');
    const answers = await Promise.all(Array.from({ length: 8 }, () => recover('lena', codes[3])));
    const won = answers.filter((a) => a.status === 200);
    assert.equal(won.length, 1, JSON.stringify(answers.map((a) => [a.status, a.body?.error])));
    assert.ok(answers.filter((a) => a.status !== 200).every((a) => ['recovery_invalid', 'recovery_locked'].includes(a.body.error)));
    assert.equal(won[0].body.codes_left, 9);
  });

  it('counts wrong codes, then makes even the right one wait, with Retry-After', async () => {
    const { codes } = await signUp('milo');
    const guesses = await Promise.all(Array.from({ length: 8 }, (_, i) => recover('milo', `00000-0000${i}`)));
    assert.deepEqual(guesses.map((g) => g.status).sort(), [400, 400, 400, 400, 400, 429, 429, 429]);
    const locked = await recover('milo', codes[0]);
    assert.deepEqual([locked.status, locked.body.error], [429, 'recovery_locked']);
    const retry = Number(locked.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 30, `Retry-After ${retry}`);
    // Another person is not slowed by it.
    const { codes: other } = await signUp('nora');
    assert.equal((await recover('nora', other[0])).status, 200);
  });

  it('replaces the set on request, signed in with a passkey recently', async () => {
    const { codes, tokens } = await signUp('otto');
    assert.equal((await p.post('/v1/recovery/codes', {})).status, 401);
    const r = await p.post('/v1/recovery/codes', {}, tokens.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const fresh = r.body.codes;
    fresh.forEach((c) => handedOut.add(c));
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !codes.includes(c)));
    assert.equal((await recover('otto', codes[0])).body.error, 'recovery_invalid', 'the old set no longer works');
    assert.equal((await recover('otto', fresh[0])).status, 200);
    assert.equal((await get('/v1/account', tokens.access_token)).body.recovery_codes, 9);
  });

  it('records every issue, use and refusal in the audit trail, and keeps no code in the clear', async () => {
    let events = [];
    for (let i = 0; i < 100; i++) {
      events = (await audit()).filter((e) => e.kind.startsWith('recovery.'));
      const n = (kind) => events.filter((e) => e.kind === kind && e.outcome === 'success').length;
      if (n('recovery.sign_in') >= 5 && n('recovery.codes_issued') >= 8) break;
      await sleep(200);
    }
    const count = (kind, outcome) => events.filter((e) => e.kind === kind && e.outcome === outcome).length;
    // Seven sign-ups and one new set; five people signed in with a code.
    assert.equal(count('recovery.codes_issued', 'success'), 8, JSON.stringify(events.map((e) => e.kind)));
    assert.equal(count('recovery.sign_in', 'success'), 5);
    assert.ok(count('recovery.sign_in', 'failure') >= 10);
    assert.ok(count('recovery.locked', 'failure') >= 3);
    const used = events.find((e) => e.kind === 'recovery.sign_in' && e.outcome === 'success');
    assert.ok(used.actor?.id && typeof used.detail?.codes_left === 'number' && used.detail?.sid, JSON.stringify(used));
    // No code, in either form, in the audit trail, the database files or the logs (their last lines).
    const forms = [...handedOut].flatMap((c) => [c, c.replace('-', '')]);
    const trail = JSON.stringify(await audit());
    const files = readdirSync(origin.dir).filter((f) => f.startsWith('origin.sqlite3')).map((f) => readFileSync(join(origin.dir, f), 'latin1'));
    const logs = edge.proc.logs() + origin.proc.logs();
    for (const c of forms) {
      assert.ok(!trail.includes(c), `code ${c} in the audit trail`);
      assert.ok(!files.some((f) => f.includes(c)), `code ${c} in the database`);
      assert.ok(!logs.includes(c), `code ${c} in a log`);
    }
  });
});
