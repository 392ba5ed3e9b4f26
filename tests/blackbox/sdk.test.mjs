// The SDKs against the running edge: the Rust SDK (crates/sdk, driven through examples/sdk_probe.rs) with
// its requests to the issuer going through a proxy here that counts JWKS fetches and can take the issuer
// down. Through a real key rotation; an unknown-kid flood (one JWKS fetch per cooldown); an issuer outage
// (cached keys keep verifying); clock skew at the leeway's edges; and a shared corpus of valid and invalid
// tokens on which node jose, jsonwebtoken (crates.io) and the SDK must agree.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken, freePort, root, run } from './harness.mjs';

const AUD = 'https://api.sdk.test';
const probeBin = process.env.TESSERA_SDK_PROBE
  ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug', 'examples', 'sdk_probe');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The Rust SDK in a process: `ask(cmd)` answers its JSON line. */
function startProbe() {
  const proc = spawn(probeBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  return {
    ask: (cmd) => new Promise((resolve) => { waiting.push(resolve); proc.stdin.write(JSON.stringify(cmd) + '\n'); }),
    stop: () => { proc.stdin.end(); proc.kill(); },
  };
}

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

describe('the SDKs against the running edge', () => {
  let origin, edge, proxy, probe, client;

  const token = async () => (await getToken(edge, client)).access_token;
  const init = (extra = {}) => probe.ask({ cmd: 'init', issuer: edge.url, via: proxy.url, cooldown: 2, ...extra });

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    proxy = await startProxy(edge.url);
    probe = startProbe();
  });
  after(async () => {
    probe?.stop();
    proxy?.close();
    await edge?.stop();
    await origin?.stop();
  });

  it('Rust SDK: through a key rotation, one fetch for the new kid', async () => {
    // An edge of its own with a short rotation policy (keys publish 3 s before signing), as
    // rotation.test.mjs runs it.
    const fast = await startEdge({ origin, vars: { JWKS_MAX_AGE: '2', RING_CACHE_TTL: '1', MAX_TOKEN_TTL: '300', LEEWAY: '1' } });
    const via = await startProxy(fast.url);
    try {
      assert.deepEqual(await probe.ask({ cmd: 'init', issuer: fast.url, via: via.url, cooldown: 2 }), { ok: true });
      const tokenHere = async () => (await getToken(fast, client)).access_token;
      const first = await tokenHere();
      assert.equal((await probe.ask({ cmd: 'verify', token: first, audience: AUD })).ok, true);
      const firstKid = jose.decodeProtectedHeader(first).kid;
      let rotated;
      for (let i = 0; i < 12 && !rotated; i++) {
        await run(join(root, 'scripts', 'rotate-jwks'), [], { env: { ...process.env, TESSERA_EDGE_URL: fast.url, TESSERA_ADMIN_TOKEN: fast.adminToken } });
        const t = await tokenHere();
        if (jose.decodeProtectedHeader(t).kid !== firstKid) rotated = t;
        else await sleep(1000);
      }
      assert.ok(rotated, 'the edge signs with a new key');
      const before = via.state.jwks;
      const v = await probe.ask({ cmd: 'verify', token: rotated, audience: AUD });
      assert.equal(v.ok, true, JSON.stringify(v));
      assert.equal(via.state.jwks, before + 1, 'one fetch for the new kid');
      // Both keys verify now, from the cache.
      assert.equal((await probe.ask({ cmd: 'verify', token: first, audience: AUD })).ok, true);
      assert.equal((await probe.ask({ cmd: 'verify', token: rotated, audience: AUD })).ok, true);
      assert.equal(via.state.jwks, before + 1);
    } finally {
      via.close();
      await fast.stop();
    }
  });

  it('Rust SDK: an unknown-kid flood costs one JWKS fetch per cooldown', async () => {
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
  });

  it('Rust SDK: while the issuer is down, cached keys keep verifying', async () => {
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
  });

  it('Rust SDK: clock skew within the leeway passes, beyond it fails', async () => {
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
  });

  it('node jose, jsonwebtoken and the Rust SDK agree on a shared corpus', async () => {
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
    for (const [name, t, aud, expected] of corpus) {
      const byJose = await jose.jwtVerify(t, jwkSet, { issuer: edge.url, audience: aud, algorithms: ['ES256'], clockTolerance: 30 }).then(() => true, () => false);
      const byPeer = (await probe.ask({ cmd: 'jsonwebtoken', token: t, audience: aud, issuer: edge.url, jwks })).ok;
      const bySdk = (await probe.ask({ cmd: 'verify', token: t, audience: aud })).ok;
      assert.equal(byPeer, byJose, `${name}: jsonwebtoken ${byPeer}, jose ${byJose}`);
      assert.equal(bySdk, byJose, `${name}: Rust SDK ${bySdk}, jose ${byJose}`);
      if (expected !== null) assert.equal(byJose, expected, name);
    }
  });
});
