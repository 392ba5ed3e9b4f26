// The SDKs against the running edge: the Rust SDK (crates/sdk, driven through examples/sdk_probe.rs) and
// the npm SDK (sdk/js, in Node here and in workerd), with their requests to the issuer going through a
// proxy here that counts JWKS fetches and can take the issuer down. One behaviour for both: through a real
// key rotation; an unknown-kid flood (one JWKS fetch per cooldown); an issuer outage (cached keys keep
// verifying); clock skew at the leeway's edges; and a shared corpus of valid and invalid tokens on which
// node jose, jsonwebtoken (crates.io) and both SDKs must agree.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import * as jose from 'jose';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { startOrigin, startEdge, getToken, freePort, root, run, spawnWrangler } from './harness.mjs';
import { people } from './people.mjs';
import { startProbe } from './probe.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

const sdk = await import(join(root, 'sdk', 'js', 'dist', 'node.js'));

const AUD = 'https://api.sdk.test';
const probeBin = process.env.TESSERA_SDK_PROBE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'examples', 'sdk_probe');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The Rust SDK in a process (crates/sdk/examples/sdk_probe.rs). */
const startSdkProbe = () => startProbe(probeBin, 'Rust SDK probe', 'scripts/test builds it; or set TESSERA_SDK_PROBE');

/** A proxy to `target` that counts JWKS requests and can answer 503 to everything (`down`). */
async function startProxy(target) {
  const port = await freePort();
  const state = { jwks: 0, down: false };
  const server = createServer(async (req, res) => {
    if (req.url.startsWith('/.well-known/jwks.json')) state.jwks++;
    if (state.down) return res.writeHead(503).end();
    const r = await fetch(`${target}${req.url}`, { method: req.method, headers: { accept: '*/*' } });
    const headers = {};
    for (const h of ['content-type', 'cache-control']) if (r.headers.get(h)) headers[h] = r.headers.get(h);
    res.writeHead(r.status, headers).end(Buffer.from(await r.arrayBuffer()));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, state, close: () => server.close() };
}

/** Tokens with made-up kids, properly signed by keys nobody published. */
async function forged(n, payload) {
  const { privateKey } = await jose.generateKeyPair('ES256');
  return Promise.all(Array.from({ length: n }, (_, i) => new jose.SignJWT(payload)
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `forged-${i}-${Math.random().toString(36).slice(2)}` })
    .sign(privateKey)));
}

/** A fetch that sends the issuer's requests to `proxy` instead. */
const via = (issuer, proxy) => (input, init) => fetch(String(input instanceof Request ? input.url : input).replace(issuer, proxy.url), init);

/** What the npm SDK decides: `{ok, code}`, as the probe answers for the Rust SDK. */
const npmVerify = (v, token, audience) => v.verifyAccessToken(token, { audience }).then(
  (t) => ({ ok: true, sub: t.sub, kid: t.kid }),
  (e) => ({ ok: false, code: e.code }),
);

describe('the SDKs against the running edge', () => {
  let origin, edge, proxy, probe, client;

  const token = async () => (await getToken(edge, client)).access_token;
  const init = (extra = {}) => probe.ask({ cmd: 'init', issuer: edge.url, via: proxy.url, cooldown: 2, ...extra });

  before(async () => {
    origin = await startOrigin();
    // A name the edge can be a passkey relying party for, and a login tenant: a person signs in for the
    // ID-token test.
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'acme' } });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    proxy = await startProxy(edge.url);
    probe = startSdkProbe();
  });
  after(async () => {
    probe?.stop();
    proxy?.close();
    await edge?.stop();
    await origin?.stop();
  });

  it('both SDKs: through a key rotation, one fetch each for the new kid', async () => {
    // An edge of its own with a short rotation policy (keys publish 3 s before signing), as
    // rotation.test.mjs runs it.
    const fast = await startEdge({ origin, vars: { JWKS_MAX_AGE: '2', RING_CACHE_TTL: '1', MAX_TOKEN_TTL: '300', LEEWAY: '1' } });
    const proxied = await startProxy(fast.url);
    try {
      assert.deepEqual(await probe.ask({ cmd: 'init', issuer: fast.url, via: proxied.url, cooldown: 2 }), { ok: true });
      const npm = await sdk.Verifier.fromIssuer(fast.url, { fetch: via(fast.url, proxied), cooldownMs: 2000 });
      const tokenHere = async () => (await getToken(fast, client)).access_token;
      const first = await tokenHere();
      assert.equal((await probe.ask({ cmd: 'verify', token: first, audience: AUD })).ok, true);
      assert.equal((await npmVerify(npm, first, AUD)).ok, true);
      const firstKid = jose.decodeProtectedHeader(first).kid;
      let rotated;
      for (let i = 0; i < 12 && !rotated; i++) {
        await run(join(root, 'scripts', 'rotate-jwks'), [], { env: { ...process.env, TESSERA_EDGE_URL: fast.url, TESSERA_ADMIN_TOKEN: fast.adminToken } });
        const t = await tokenHere();
        if (jose.decodeProtectedHeader(t).kid !== firstKid) rotated = t;
        else await sleep(1000);
      }
      assert.ok(rotated, 'the edge signs with a new key');
      const before = proxied.state.jwks;
      const v = await probe.ask({ cmd: 'verify', token: rotated, audience: AUD });
      assert.equal(v.ok, true, JSON.stringify(v));
      assert.equal(proxied.state.jwks, before + 1, 'the Rust SDK: one fetch for the new kid');
      const w = await npmVerify(npm, rotated, AUD);
      assert.equal(w.ok, true, JSON.stringify(w));
      assert.equal(proxied.state.jwks, before + 2, 'the npm SDK: one fetch for the new kid');
      // Both keys verify now, from the caches.
      for (const t of [first, rotated]) {
        assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).ok, true);
        assert.equal((await npmVerify(npm, t, AUD)).ok, true);
      }
      assert.equal(proxied.state.jwks, before + 2);
      assert.deepEqual(npm.stats(), { fetches: 2, failures: 0 });
    } finally {
      proxied.close();
      await fast.stop();
    }
  });

  it('both SDKs: an unknown-kid flood costs one JWKS fetch per cooldown', async () => {
    assert.deepEqual(await init(), { ok: true });
    await sleep(2100);
    const fakes = await forged(300, { iss: edge.url, aud: AUD, sub: 'x', exp: Math.floor(Date.now() / 1000) + 300, iat: Math.floor(Date.now() / 1000), jti: 'j', client_id: 'c', tid: 'acme' });
    const before = proxy.state.jwks;
    const { codes } = await probe.ask({ cmd: 'flood', tokens: fakes, audience: AUD });
    assert.equal(codes.length, 300);
    assert.ok(codes.every((c) => c === 'unknown_kid'), codes.join(' '));
    assert.equal(proxy.state.jwks - before, 1, 'one fetch for 300 unknown kids at once');
    await probe.ask({ cmd: 'flood', tokens: fakes.slice(0, 50), audience: AUD });
    assert.equal(proxy.state.jwks - before, 1, 'none more within the cooldown');
    await sleep(2100);
    await probe.ask({ cmd: 'flood', tokens: fakes.slice(0, 50), audience: AUD });
    assert.equal(proxy.state.jwks - before, 2, 'one more after it');

    // The npm SDK, the same.
    const npm = await sdk.Verifier.fromIssuer(edge.url, { fetch: via(edge.url, proxy), cooldownMs: 2000 });
    await sleep(2100);
    const start = proxy.state.jwks;
    const answers = await Promise.all(fakes.map((t) => npmVerify(npm, t, AUD)));
    assert.ok(answers.every((a) => a.code === 'unknown_kid'), JSON.stringify(answers.slice(0, 3)));
    assert.equal(proxy.state.jwks - start, 1, 'the npm SDK: one fetch for 300 unknown kids at once');
    await Promise.all(fakes.slice(0, 50).map((t) => npmVerify(npm, t, AUD)));
    assert.equal(proxy.state.jwks - start, 1);
  });

  it('both SDKs: while the issuer is down, cached keys keep verifying', async () => {
    assert.deepEqual(await init(), { ok: true });
    const t = await token();
    proxy.state.down = true;
    try {
      assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).ok, true);
      await sleep(2100);
      const [fake] = await forged(1, { iss: edge.url, aud: AUD, sub: 'x', exp: Math.floor(Date.now() / 1000) + 300, iat: Math.floor(Date.now() / 1000), jti: 'j' });
      assert.equal((await probe.ask({ cmd: 'verify', token: fake, audience: AUD })).code, 'unknown_kid');
      assert.equal((await probe.ask({ cmd: 'stats' })).failures, 1, 'the refetch failed, and was counted');
      assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).ok, true, 'the cached key still verifies');
    } finally {
      proxy.state.down = false;
    }
    // The npm SDK, the same.
    const npm = await sdk.Verifier.fromIssuer(edge.url, { fetch: via(edge.url, proxy), cooldownMs: 2000 });
    proxy.state.down = true;
    try {
      assert.equal((await npmVerify(npm, t, AUD)).ok, true);
      await sleep(2100);
      const [fake] = await forged(1, { iss: edge.url, aud: AUD, sub: 'x', exp: Math.floor(Date.now() / 1000) + 300, iat: Math.floor(Date.now() / 1000), jti: 'j' });
      assert.equal((await npmVerify(npm, fake, AUD)).code, 'unknown_kid');
      assert.equal(npm.stats().failures, 1);
      assert.equal((await npmVerify(npm, t, AUD)).ok, true, 'the cached key still verifies');
    } finally {
      proxy.state.down = false;
    }
  });

  it('both SDKs: clock skew within the leeway passes, beyond it fails', async () => {
    const t = await token();
    // The SDK's clock 25 s behind the edge's: `iat` is 25 s ahead, within the 30 s leeway.
    assert.deepEqual(await init({ skew_secs: -25 }), { ok: true });
    assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).ok, true);
    // 40 s behind: issued in the future.
    assert.deepEqual(await init({ skew_secs: -40 }), { ok: true });
    assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).code, 'token_issued_in_future');
    // Ahead by the token's life plus 40 s: expired; plus 20 s: still within the leeway.
    const ttl = jose.decodeJwt(t).exp - jose.decodeJwt(t).iat;
    assert.deepEqual(await init({ skew_secs: ttl + 20 }), { ok: true });
    assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).ok, true);
    assert.deepEqual(await init({ skew_secs: ttl + 40 }), { ok: true });
    assert.equal((await probe.ask({ cmd: 'verify', token: t, audience: AUD })).code, 'token_expired');
    // The npm SDK with the same clocks.
    const at = async (skew) => npmVerify(await sdk.Verifier.fromIssuer(edge.url, { now: () => Date.now() + skew * 1000 }), t, AUD);
    assert.equal((await at(-25)).ok, true);
    assert.equal((await at(-40)).code, 'token_issued_in_future');
    assert.equal((await at(ttl + 20)).ok, true);
    assert.equal((await at(ttl + 40)).code, 'token_expired');
  });

  it('node jose, jsonwebtoken and both SDKs agree on a shared corpus, the SDKs with one code', async () => {
    assert.deepEqual(await init(), { ok: true });
    const jwks = await (await fetch(`${edge.url}/.well-known/jwks.json`)).json();
    const good = await token();
    const [h, p, s] = good.split('.');
    const payload = jose.decodeJwt(good);
    const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const sig = Buffer.from(s, 'base64url');
    const n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551n;
    const sBig = BigInt('0x' + sig.subarray(32).toString('hex'));
    const highS = Buffer.concat([sig.subarray(0, 32), Buffer.from((n - sBig).toString(16).padStart(64, '0'), 'hex')]).toString('base64url');
    const kid = jose.decodeProtectedHeader(good).kid;
    const [unknown] = await forged(1, payload);
    const { privateKey: other } = await jose.generateKeyPair('ES256');
    const corpus = [
      ['valid', good, AUD, true],
      ['another audience', good, 'https://other.test', false],
      ['signature changed', `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`, AUD, false],
      ['payload changed', `${h}.${enc({ ...payload, sub: 'someone-else' })}.${s}`, AUD, false],
      ['alg none', `${enc({ alg: 'none', typ: 'at+jwt', kid })}.${p}.`, AUD, false],
      ['HS256 keyed with the public key', await new jose.SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0]))), AUD, false],
      ['unknown kid', unknown, AUD, false],
      ['our kid, another key', await new jose.SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(other), AUD, false],
      ['two segments', `${h}.${p}`, AUD, false],
      ['four segments', `${good}.x`, AUD, false],
      ['high-S signature (ECDSA malleability)', `${h}.${p}.${highS}`, AUD, null],
    ];
    const jwkSet = jose.createLocalJWKSet(jwks);
    const npm = await sdk.Verifier.fromIssuer(edge.url);
    for (const [name, t, aud, expected] of corpus) {
      const byJose = await jose.jwtVerify(t, jwkSet, { issuer: edge.url, audience: aud, algorithms: ['ES256'], clockTolerance: 30 }).then(() => true, () => false);
      const byPeer = (await probe.ask({ cmd: 'jsonwebtoken', token: t, audience: aud, issuer: edge.url, jwks })).ok;
      const bySdk = (await probe.ask({ cmd: 'verify', token: t, audience: aud })).ok;
      assert.equal(byPeer, byJose, `${name}: jsonwebtoken ${byPeer}, jose ${byJose}`);
      assert.equal(bySdk, byJose, `${name}: Rust SDK ${bySdk}, jose ${byJose}`);
      const byNpm = await npmVerify(npm, t, aud);
      assert.equal(byNpm.ok, byJose, `${name}: npm SDK ${JSON.stringify(byNpm)}, jose ${byJose}`);
      // Both SDKs give the edge's own code.
      const rust = await probe.ask({ cmd: 'verify', token: t, audience: aud });
      if (!rust.ok) assert.equal(byNpm.code, rust.code, name);
      if (expected !== null) assert.equal(byJose, expected, name);
    }
  });

  it('both SDKs verify the edge\'s ID tokens from a real code flow, and refuse them with one code', async () => {
    assert.deepEqual(await init(), { ok: true });
    const redirect = 'http://127.0.0.1:9/cb';
    const rp = await origin.createClient({
      tenant: 'acme', scopes: [], audiences: [], publicClient: true, firstParty: true, name: 'SDK test', redirectUris: [redirect],
    });
    // A person signs up with a passkey; the edge's answer carries the browser session's cookie.
    const person = people(edge);
    const device = new SoftAuthenticator();
    const credential = device.create(await person.registerOptions('ida'), edge.url);
    const signedUp = await fetch(`${edge.url}/v1/passkeys/register/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ credential }),
    });
    assert.equal(signedUp.status, 200);
    const cookie = signedUp.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    assert.ok(cookie, 'a session cookie');
    const verifier = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const authorize = await fetch(`${edge.url}/oauth2/authorize?${new URLSearchParams({
      response_type: 'code', client_id: rp.client_id, redirect_uri: redirect, scope: 'openid profile', state: 's1', nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    })}`, { redirect: 'manual', headers: { cookie } });
    assert.equal(authorize.status, 302, await authorize.text());
    const code = new URL(authorize.headers.get('location')).searchParams.get('code');
    assert.ok(code, authorize.headers.get('location'));
    const exchanged = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirect, client_id: rp.client_id, code_verifier: verifier }),
    });
    assert.equal(exchanged.status, 200);
    const { id_token: idToken, access_token: accessToken } = await exchanged.json();
    const jwkSet = jose.createLocalJWKSet(await (await fetch(`${edge.url}/.well-known/jwks.json`)).json());
    const { payload } = await jose.jwtVerify(idToken, jwkSet, { issuer: edge.url, audience: rp.client_id, algorithms: ['ES256'] });
    assert.equal(payload.nonce, nonce);

    const npm = await sdk.Verifier.fromIssuer(edge.url);
    const byNpm = (t, clientId, n) => npm.verifyIdToken(t, { clientId, nonce: n }).then(
      (v) => ({ ok: true, sub: v.sub, kid: v.kid }),
      (e) => ({ ok: false, code: e.code }),
    );
    const byRust = (t, clientId, n) => probe.ask({ cmd: 'verify_id', token: t, client_id: clientId, nonce: n });
    const good = await byRust(idToken, rp.client_id, nonce);
    assert.equal(good.ok, true, JSON.stringify(good));
    assert.equal(good.sub, payload.sub);
    assert.deepEqual(await byNpm(idToken, rp.client_id, nonce), { ok: true, sub: payload.sub, kid: good.kid });
    // Without a nonce to compare, the token still verifies.
    assert.equal((await byRust(idToken, rp.client_id)).ok, true);
    assert.equal((await byNpm(idToken, rp.client_id)).ok, true);
    const refused = [
      ['another nonce', idToken, rp.client_id, 'not-the-nonce'],
      ['another client', idToken, client.client_id, nonce],
      // An access token is not an ID token, whatever its audience.
      ['an access token', accessToken, rp.client_id, nonce],
    ];
    for (const [name, t, clientId, n] of refused) {
      const rust = await byRust(t, clientId, n);
      assert.equal(rust.ok, false, name);
      assert.deepEqual(await byNpm(t, clientId, n), { ok: false, code: rust.code }, name);
    }
  });

  it('the npm SDK in workerd: verifies the edge\'s tokens and guards a route', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-sdk-worker-'));
    const port = await freePort();
    writeFileSync(join(dir, 'wrangler.toml'), `name = "sdk-worker"\nmain = ${JSON.stringify(join(root, 'tests', 'blackbox', 'sdk_worker.mjs'))}\ncompatibility_date = "2026-07-01"\n`);
    const worker = await spawnWrangler(dir, port);
    try {
      const t = await token();
      const ask = async (tok, audience) => (await fetch(`${worker.url}/verify`, {
        method: 'POST', body: JSON.stringify({ issuer: edge.url, token: tok, audience }),
      })).json();
      assert.deepEqual(await ask(t, AUD), { ok: true, sub: client.client_id, kid: jose.decodeProtectedHeader(t).kid });
      assert.deepEqual(await ask(t, 'https://other.test'), { ok: false, code: 'wrong_audience' });
      const [fake] = await forged(1, jose.decodeJwt(t));
      assert.deepEqual(await ask(fake, AUD), { ok: false, code: 'unknown_kid' });
      const guarded = (auth) => fetch(`${worker.url}/protected?audience=${encodeURIComponent(AUD)}`, { headers: auth ? { authorization: auth } : {} });
      const ok = await guarded(`Bearer ${t}`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), `hello ${client.client_id}`);
      const none = await guarded();
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer');
      const bad = await guarded(`Bearer ${fake}`);
      assert.equal(bad.status, 401);
      assert.deepEqual(await bad.json(), { error: 'unknown_kid' });
    } finally {
      await worker.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
