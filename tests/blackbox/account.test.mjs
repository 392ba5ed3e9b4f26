// The account as its owner keeps it, from outside: the real Worker in workerd and the real origin binary,
// a software authenticator. Passkeys are named after the browser they were made in, renamed, and removed
// (recently signed in; never the last, also under 8 concurrent removals); the sessions a person sees carry
// their device and how they began, and one can be signed out from another; another person's passkeys and
// sessions are out of reach; each change is in the audit trail.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startOrigin, startEdge } from './harness.mjs';
import { people } from './people.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the account: passkeys and sessions', () => {
  let origin, edge, client, p;

  /** POST as a browser with `userAgent`. */
  const postAs = async (userAgent, path, body, token) => {
    const headers = { 'content-type': 'application/json', 'user-agent': userAgent };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${edge.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
    return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
  };
  const account = async (token) => {
    const r = await fetch(`${edge.url}/v1/account`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    return r.json();
  };
  /** Sign up `name` from a Mac, then add a second passkey from Linux. */
  const twoDevices = async (name) => {
    const mac = new SoftAuthenticator();
    const opts = (await postAs(CHROME_MAC, '/v1/passkeys/register/options', { username: name })).body.publicKey;
    const signedUp = await postAs(CHROME_MAC, '/v1/passkeys/register/verify', { credential: mac.create(opts, p.ORIGIN) });
    assert.equal(signedUp.status, 200, JSON.stringify(signedUp.body));
    const token = signedUp.body.access_token;
    const linux = new SoftAuthenticator();
    const more = (await postAs(FIREFOX_LINUX, '/v1/passkeys/register/options', {}, token)).body.publicKey;
    const added = await postAs(FIREFOX_LINUX, '/v1/passkeys/register/verify', { credential: linux.create(more, p.ORIGIN) }, token);
    assert.equal(added.status, 200, JSON.stringify(added.body));
    return { token, refresh: signedUp.body.refresh_token, mac, linux };
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

  it('names passkeys after the browser they were made in, and renames them', async () => {
    const { token } = await twoDevices('petra');
    const a = await account(token);
    assert.deepEqual(a.passkeys.map((k) => k.name).sort(), ['Chrome on macOS', 'Firefox on Linux']);
    const linux = a.passkeys.find((k) => k.name === 'Firefox on Linux');
    const r = await p.post('/v1/passkeys/rename', { id: linux.id, name: '  Work laptop  ' }, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok((await account(token)).passkeys.some((k) => k.id === linux.id && k.name === 'Work laptop'));
    for (const name of ['', '   ', 'x'.repeat(65), 'a\u0000b', 'left\u202eright']) {
      const bad = await p.post('/v1/passkeys/rename', { id: linux.id, name }, token);
      assert.deepEqual([bad.status, bad.body.error], [400, 'invalid_request'], JSON.stringify(name));
      assert.match(bad.body.message, /1 to 64 characters/);
    }
    assert.equal((await p.post('/v1/passkeys/rename', { id: linux.id, name: 'é'.repeat(64) }, token)).status, 200, '64 characters, not bytes');
    assert.equal((await p.post('/v1/passkeys/rename', { id: linux.id }, token)).status, 400);
    assert.equal((await p.post('/v1/passkeys/rename', { id: linux.id, name: 'x' })).status, 401);
  });

  it("never reaches another person's passkeys or sessions", async () => {
    const one = await twoDevices('quinn');
    const other = await twoDevices('rafa');
    const theirs = (await account(other.token)).passkeys[0].id;
    for (const [path, body] of [['/v1/passkeys/rename', { id: theirs, name: 'mine' }], ['/v1/passkeys/remove', { id: theirs }]]) {
      const r = await p.post(path, body, one.token);
      assert.deepEqual([r.status, r.body.error], [404, 'unknown_credential'], path);
    }
    assert.equal((await account(other.token)).passkeys.length, 2);
    const theirSession = (await account(other.token)).sessions[0].id;
    const r = await p.post('/v1/sessions/revoke', { id: theirSession }, one.token);
    assert.deepEqual([r.status, r.body.error], [404, 'unknown_session']);
    assert.equal((await p.introspect(other.token)).active, true);
  });

  it('removes a passkey, never the last one, also under 8 concurrent removals', async () => {
    const { token, mac, linux } = await twoDevices('sven');
    const [k1, k2] = (await account(token)).passkeys;
    const removals = await Promise.all(Array.from({ length: 8 }, (_, i) => p.post('/v1/passkeys/remove', { id: (i % 2 ? k1 : k2).id }, token)));
    const codes = removals.map((r) => r.status).sort();
    assert.equal(codes.filter((c) => c === 200).length, 1, JSON.stringify(removals.map((r) => [r.status, r.body.error])));
    assert.ok(removals.every((r) => r.status === 200 || ['last_passkey', 'unknown_credential'].includes(r.body.error)));
    const left = (await account(token)).passkeys;
    assert.equal(left.length, 1);
    const last = await p.post('/v1/passkeys/remove', { id: left[0].id }, token);
    assert.deepEqual([last.status, last.body.error], [409, 'last_passkey']);
    assert.match(last.body.message, /only passkey/);
    // The removed passkey no longer signs in; the one left does.
    const macKept = left[0].id === mac.credentialId.toString('base64url');
    assert.equal((await p.signIn(mac, 'sven')).status, macKept ? 200 : 400);
    assert.equal((await p.signIn(linux, 'sven')).status, macKept ? 400 : 200);
  });

  it('asks for a recent sign-in to remove a passkey (REAUTH_WINDOW)', async () => {
    const strict = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme', REAUTH_WINDOW: '2' } });
    try {
      const q = people(strict, client);
      const { tokens } = await q.signUp('tove');
      const more = await q.registerOptions(undefined, tokens.access_token);
      assert.equal((await q.post('/v1/passkeys/register/verify', { credential: new SoftAuthenticator().create(more, q.ORIGIN) }, tokens.access_token)).status, 200);
      const r = await fetch(`${strict.url}/v1/account`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const id = (await r.json()).passkeys[0].id;
      await sleep(3000);
      const late = await q.post('/v1/passkeys/remove', { id }, tokens.access_token);
      assert.deepEqual([late.status, late.body.error], [401, 'reauthentication_required']);
      assert.equal((await q.post('/v1/passkeys/rename', { id, name: 'still fine' }, tokens.access_token)).status, 200, 'a rename needs no fresh sign-in');
    } finally {
      await strict.stop();
    }
  });

  it('lists where the person is signed in, and signs out one session from another', async () => {
    const { token, refresh, linux } = await twoDevices('uma');
    // A second session, on Linux.
    const opts = (await postAs(FIREFOX_LINUX, '/v1/passkeys/login/options', { username: 'uma' })).body.publicKey;
    const other = await postAs(FIREFOX_LINUX, '/v1/passkeys/login/verify', { credential: linux.get(opts, p.ORIGIN) });
    assert.equal(other.status, 200);
    // A refresh of the first is a sign of life.
    const refreshed = await p.refresh(refresh);
    assert.equal(refreshed.status, 200);
    const sessions = (await account(refreshed.body.access_token)).sessions;
    assert.equal(sessions.length, 2);
    const mac = sessions.find((s) => s.device === 'Chrome on macOS');
    const lin = sessions.find((s) => s.device === 'Firefox on Linux');
    assert.deepEqual([mac.current, lin.current, mac.method, lin.method], [true, false, 'passkey', 'passkey']);
    assert.ok(mac.last_seen_at >= mac.created_at && lin.last_seen_at == null, JSON.stringify(sessions));
    assert.ok(sessions.every((s) => /^[A-Za-z0-9_-]{43}$/.test(s.id)), 'handles, not session ids');
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
    assert.ok(sessions.every((s) => s.id !== claims.sid));
    // Sign out the Linux session from the Mac.
    const r = await p.post('/v1/sessions/revoke', { id: lin.id }, refreshed.body.access_token);
    assert.deepEqual([r.status, r.body.revoked, r.body.current], [200, 1, false]);
    assert.equal((await p.introspect(other.body.access_token)).active, false);
    assert.equal((await p.refresh(other.body.refresh_token)).status, 400);
    assert.equal((await p.introspect(refreshed.body.access_token)).active, true, 'this one goes on');
    const again = await p.post('/v1/sessions/revoke', { id: lin.id }, refreshed.body.access_token);
    assert.deepEqual([again.status, again.body.error], [404, 'unknown_session']);
    for (const bad of [{}, { id: 5 }, { id: 'x', more: 1 }]) {
      assert.equal((await p.post('/v1/sessions/revoke', bad, refreshed.body.access_token)).status, 400, JSON.stringify(bad));
    }
    // Its own session: a sign-out, which also forgets the browser's session cookie.
    const self = await p.post('/v1/sessions/revoke', { id: mac.id }, refreshed.body.access_token);
    assert.deepEqual([self.status, self.body.current], [200, true]);
    assert.match(self.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await p.introspect(refreshed.body.access_token)).active, false);
  });

  it('records renames, removals and sign-outs in the audit trail', async () => {
    let events = [];
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${origin.url}/v1/tenants/acme/audit?limit=1000`, { headers: { authorization: `Bearer ${origin.serviceToken}` } });
      events = (await r.json()).events;
      if (events.some((e) => e.kind === 'passkey.removed' && e.outcome === 'success') && events.filter((e) => e.kind === 'session.logout').length >= 2) break;
      await sleep(200);
    }
    const of = (kind, outcome) => events.filter((e) => e.kind === kind && e.outcome === outcome);
    assert.ok(of('passkey.renamed', 'success').length >= 2, JSON.stringify(events.map((e) => [e.kind, e.outcome, e.code])));
    assert.ok(of('passkey.renamed', 'success').every((e) => e.detail?.credential_id));
    assert.equal(of('passkey.removed', 'success').length, 1);
    assert.ok(of('passkey.removed', 'failure').some((e) => e.code === 'last_passkey'));
    assert.ok(of('session.logout', 'success').some((e) => e.detail?.by && e.detail.sid !== e.detail.by));
  });
});
