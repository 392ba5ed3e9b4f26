// Hardening of the edge against hostile input, each case a regression test of a defect found at the edge:
// - an `Authorization` header the Worker used to slice by byte position (a panic, 500, and a wasm instance
//   reset that wiped every isolate cache);
// - request bodies without a size cap (TOTP endpoints forwarded 10 MB to the origin);
// - token lifetimes not bounded by MAX_TOKEN_TTL, the figure key rotation relies on;
// - log lines forged by a newline in a token's `kid` or a client id;
// - benchmark routes compiled into the production Worker.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken, waitForLog } from './harness.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const AUD = 'https://api.tessera.test';
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');
/** A header value whose bytes are the UTF-8 encoding of `text` (fetch sends header strings as Latin-1). */
const utf8Header = (text) => Buffer.from(text, 'utf8').toString('latin1');

const SCHEMA = `definition client {}
definition org {
    relation member: client
    permission view = member
}
`;

describe('edge hardening', () => {
  let origin, edge, client;

  const adminAtOrigin = (method, path, body) => fetch(`${origin.url}/v1/tenants/acme${path}`, {
    method, headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' }, body,
  });
  const checkSelf = async (token) => {
    const r = await fetch(`${edge.url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'org:acme', permission: 'view', subject: `client:${client.client_id}` }),
    });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    return { allowed: body.allowed, source: r.headers.get('tessera-cache') };
  };
  const form = (path, authorization, params) => fetch(`${edge.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    body: new URLSearchParams(params),
  });

  before(async () => {
    origin = await startOrigin();
    assert.equal((await adminAtOrigin('PUT', '/schema', SCHEMA)).status, 200);
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    const w = await adminAtOrigin('POST', '/relationships/write', JSON.stringify({
      updates: [{ operation: 'create', relationship: `org:acme#member@client:${client.client_id}` }],
    }));
    assert.equal(w.status, 200);
    // The bench routes' switch is on: only the build decides whether they exist.
    edge = await startEdge({ origin, vars: { BENCH_ROUTES: 'danger-enabled' } });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  // `h[..6]` on a header whose 7th byte is inside a character panicked the Worker: 500 and a reset of the
  // wasm instance (every isolate cache gone).
  it('answers malformed Basic credentials with 401 invalid_client and keeps its isolate state', async () => {
    const { access_token: token } = await getToken(edge, client);
    await checkSelf(token);
    const warm = await checkSelf(token);
    assert.deepEqual(warm, { allowed: true, source: 'isolate' }, 'the decision is held in isolate memory');

    const headers = [
      ['multi-byte character over byte 6 (Latin-1 é)', 'Basic\u00e9abc'],
      ['multi-byte character over byte 6 (UTF-8 é)', utf8Header('Basic\u00e9abc')],
      ['multi-byte character over byte 6 (UTF-8 emoji)', utf8Header('Basic\u{1F600}x')],
      ['scheme split by a multi-byte character', utf8Header('Bas\u00e9c YTpi')],
      ['Basic alone', 'Basic'],
      ['Basic and spaces', 'Basic   '],
      ['not base64', 'Basic !!!not*base64'],
      ['base64 of bytes that are not UTF-8', `Basic ${Buffer.from([0xff, 0xfe, 0x3a, 0x41]).toString('base64')}`],
      ['no colon', `Basic ${Buffer.from('just-an-id').toString('base64')}`],
      ['another scheme', 'Digest username="x"'],
    ];
    for (const [name, authorization] of headers) {
      for (const [path, params] of [
        ['/oauth2/token', { grant_type: 'client_credentials' }],
        ['/oauth2/introspect', { token }],
      ]) {
        const r = await form(path, authorization, params);
        const body = await r.json().catch(() => null);
        assert.equal(r.status, 401, `${name} at ${path}: ${r.status} ${JSON.stringify(body)}`);
        assert.equal(body.error, 'invalid_client', `${name} at ${path}`);
        assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /, `${name} at ${path}`);
      }
    }
    // The same isolate still holds its decision (a panic would have reset the instance), and serves.
    assert.deepEqual(await checkSelf(token), { allowed: true, source: 'isolate' });
    assert.equal(typeof (await getToken(edge, client)).access_token, 'string');
    assert.doesNotMatch(edge.proc.logs(), /panicked/);
  });

  // A token's `kid` (or a client id) with a newline used to start a forged line in the Worker's log.
  it('logs JSON lines in which attacker-controlled values cannot forge a line', async () => {
    const forged = 'FORGED-LINE {"level":"info","event":"admin_login","user":"root"}';
    const header = { alg: 'ES256', typ: 'at+jwt', kid: `k1\n${forged}` };
    const now = Math.floor(Date.now() / 1000);
    const payload = { iss: edge.issuer, sub: 's', aud: AUD, iat: now, exp: now + 60 };
    const token = `${b64(header)}.${b64(payload)}.${Buffer.alloc(64, 1).toString('base64url')}`;
    const r = await fetch(`${edge.url}/v1/tokens/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
    });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'unknown_kid');
    // A client id with a newline, through Basic credentials (percent-encoded, as RFC 6749 §2.3.1 says).
    const forgedClient = 'FORGED-CLIENT-LINE {"level":"info","event":"client_ok"}';
    const basicWithNewline = 'Basic ' + Buffer.from(`${encodeURIComponent(`c1\n${forgedClient}`)}:secret`).toString('base64');
    const t = await form('/oauth2/token', basicWithNewline, { grant_type: 'client_credentials' });
    assert.equal(t.status, 401);

    await waitForLog(edge.proc, /"event":"token_refused".*FORGED-LINE/);
    await waitForLog(edge.proc, /"event":"request_failed".*FORGED-CLIENT-LINE/);
    const lines = edge.proc.logs().split(/\r?\n/);
    for (const text of ['FORGED-LINE', 'FORGED-CLIENT-LINE']) {
      const startsForged = lines.filter((l) => l.trimStart().startsWith(text));
      assert.deepEqual(startsForged, [], `no log line starts with the forged text ${text}`);
    }
    const refused = lines.find((l) => l.includes('"event":"token_refused"') && l.includes('FORGED-LINE'));
    const json = JSON.parse(refused.slice(refused.indexOf('{')));
    assert.equal(json.level, 'info');
    assert.equal(json.reason, 'unknown_kid');
    assert.ok(json.detail.includes(`k1\n${forged}`), 'the kid is in the line, escaped');
  });

  // The benchmark routes used to be compiled into every build, one var away from being served.
  it('has no bench routes in the production build', async () => {
    for (const path of ['/__bench/verify?n=1', '/__bench/issue?n=1', '/__bench/check?n=1&tenant=acme&mode=kv']) {
      const r = await fetch(`${edge.url}${path}`, { method: 'POST', body: 'x' });
      assert.equal(r.status, 404, path);
      assert.equal((await r.json()).error, 'not_found', path);
    }
  });

  it('refuses bodies over the cap at every endpoint that reads one, in that endpoint\'s error shape', async () => {
    const big = JSON.stringify({ code: 'x'.repeat(70 * 1024) });
    for (const path of [
      '/v1/totp/enroll', '/v1/totp/confirm', '/v1/totp/verify',
      '/v1/tokens/verify', '/v1/check', '/v1/check/bulk',
      '/v1/passkeys/register/options', '/v1/passkeys/register/verify',
      '/v1/passkeys/login/options', '/v1/passkeys/login/verify',
    ]) {
      const r = await fetch(`${edge.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
      const body = await r.json();
      assert.equal(r.status, 413, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'request_too_large', path);
      assert.equal(typeof body.message, 'string', path);
    }
    for (const path of ['/oauth2/token', '/oauth2/introspect']) {
      const r = await fetch(`${edge.url}${path}`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${'x'.repeat(70 * 1024)}`,
      });
      const body = await r.json();
      assert.equal(r.status, 413, path);
      assert.equal(body.error, 'invalid_request', path);
      assert.equal(typeof body.error_description, 'string', path);
    }
  });
});

describe('edge limits for signed-in people and token lifetimes', () => {
  const MAX = 60;
  let origin, edge, client;

  before(async () => {
    origin = await startOrigin();
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD], ttl: 600 });
    edge = await startEdge({ origin, host: 'localhost', vars: { MAX_TOKEN_TTL: String(MAX), LOGIN_TENANT: 'acme' } });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  const post = async (path, body, token) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${edge.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body ?? {}) });
    return { status: r.status, body: await r.json().catch(() => null) };
  };
  const signUp = async (username) => {
    const options = await post('/v1/passkeys/register/options', { username });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const credential = new SoftAuthenticator().create(options.body.publicKey, edge.url);
    const r = await post('/v1/passkeys/register/verify', { credential });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const lifetime = (token) => {
    const c = jose.decodeJwt(token);
    return c.exp - c.iat;
  };

  // Client tokens were clamped to 30..3600 only, user tokens took USER_TOKEN_TTL as it was: with
  // MAX_TOKEN_TTL below them, rotation removed keys while their tokens still lived.
  it('issues no token that outlives MAX_TOKEN_TTL', async () => {
    const issued = await getToken(edge, client);
    assert.ok(lifetime(issued.access_token) <= MAX, `client token lives ${lifetime(issued.access_token)} s`);
    assert.ok(issued.expires_in <= MAX);

    const tokens = await signUp('lifetimes');
    assert.ok(lifetime(tokens.access_token) <= MAX, `user token lives ${lifetime(tokens.access_token)} s`);
    assert.ok(tokens.expires_in <= MAX);
    const refreshed = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
    }).then((r) => r.json());
    assert.ok(lifetime(refreshed.access_token) <= MAX, `refreshed token lives ${lifetime(refreshed.access_token)} s`);
    assert.ok(refreshed.expires_in <= MAX);
  });

  // The TOTP endpoints read their bodies without a cap: 10 MB went on to the origin (503).
  it('refuses large TOTP bodies with 413, declared or streamed, signed in or not', async () => {
    const { access_token: token } = await signUp('big-bodies');
    const huge = JSON.stringify({ code: 'x'.repeat(10 * 1024 * 1024) });
    for (const path of ['/v1/totp/enroll', '/v1/totp/confirm', '/v1/totp/verify']) {
      for (const auth of [undefined, token]) {
        const r = await post(path, huge, auth);
        assert.equal(r.status, 413, `${path} (${auth ? 'signed in' : 'anonymous'}): ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error, 'request_too_large');
        assert.equal(typeof r.body.message, 'string');
      }
      // No Content-Length (chunked): the bound holds while reading.
      const chunk = new TextEncoder().encode(JSON.stringify({ code: 'y'.repeat(3000) }));
      const r = await fetch(`${edge.url}${path}`, {
        method: 'POST',
        duplex: 'half',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: new ReadableStream({ start(c) { c.enqueue(chunk); c.close(); } }),
      });
      const body = await r.json();
      assert.equal(r.status, 413, `${path} (streamed): ${JSON.stringify(body)}`);
      assert.equal(body.error, 'request_too_large');
    }
  });
});

describe('an edge configured with USER_TOKEN_TTL above MAX_TOKEN_TTL', () => {
  let origin, edge;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', healthy: false, vars: { MAX_TOKEN_TTL: '300', USER_TOKEN_TTL: '600' } });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('refuses to serve, and says why in its log', async () => {
    for (const path of ['/healthz', '/.well-known/jwks.json']) {
      const r = await fetch(`${edge.url}${path}`);
      assert.equal(r.status, 500, path);
      assert.equal((await r.json()).error, 'edge_misconfigured', path);
    }
    const r = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
    });
    assert.equal(r.status, 500);
    await waitForLog(edge.proc, /"code":"edge_misconfigured".*USER_TOKEN_TTL.*MAX_TOKEN_TTL/);
  });
});
