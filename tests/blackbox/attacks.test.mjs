// The attack set: each forged or malformed token is refused by POST /v1/tokens/verify (401 + its code) and
// reported inactive by introspection with the same code. The edge's first key is known to this test
// (BOOTSTRAP_SIGNING_KEY), so claim-level attacks carry a genuine signature and reach the rule they test.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign as ecSign } from 'node:crypto';
import * as jose from 'jose';
import { startOrigin, startEdge, newPrivateJwk, verifyAtEdge, introspect } from './harness.mjs';

const AUD = 'https://api.tessera.test';
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

describe('attacks on token verification', () => {
  let origin, edge, client, jwk, kid;

  before(async () => {
    origin = await startOrigin();
    jwk = newPrivateJwk();
    const pub = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
    kid = await jose.calculateJwkThumbprint(pub, 'sha256');
    edge = await startEdge({ origin, bootstrapJwk: jwk });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    const published = await (await fetch(`${edge.url}/.well-known/jwks.json`)).json();
    assert.equal(published.keys[0].kid, kid, 'the edge signs with the bootstrap key');
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (over = {}) => ({
    iss: edge.issuer, sub: client.client_id, aud: AUD, iat: now(), exp: now() + 300, jti: 'j', client_id: client.client_id, tid: 'acme', ...over,
  });
  const header = (over = {}) => ({ alg: 'ES256', typ: 'at+jwt', kid, ...over });
  /** Sign arbitrary header and payload (objects or raw strings) with the edge's real key (node crypto). */
  const sign = async (h, p, privateJwk = jwk) => {
    const input = `${b64(h)}.${b64(p)}`;
    const keyObj = createPrivateKey({ key: privateJwk, format: 'jwk' });
    const sig = ecSign('sha256', Buffer.from(input), { key: keyObj, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  };
  const hs256 = (secret, h = header({ alg: 'HS256' }), p = claims()) => {
    const input = `${b64(h)}.${b64(p)}`;
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  };

  const cases = [];
  const attack = (name, code, make) => cases.push({ name, code, make });

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    attack(`alg ${alg}`, 'unsupported_alg', async () => `${b64(header({ alg }))}.${b64(claims())}.`);
  }
  attack('HS256 keyed with the public key as PEM', 'unsupported_alg', async () => {
    const pem = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    return hs256(pem);
  });
  attack('HS256 keyed with the public JWK JSON', 'unsupported_alg', async () => hs256(JSON.stringify({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid })));
  attack('HS256 keyed with the raw public point', 'unsupported_alg', async () =>
    hs256(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')])));
  attack('unknown kid', 'unknown_kid', async () => sign(header({ kid: 'not-a-key' }), claims()));
  attack('right kid, wrong key', 'bad_signature', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return sign(header(), claims(), privateKey.export({ format: 'jwk' }));
  });
  attack('expired', 'token_expired', async () => sign(header(), claims({ iat: now() - 1000, exp: now() - 600 })));
  attack('nbf in the future', 'token_not_yet_valid', async () => sign(header(), claims({ nbf: now() + 600 })));
  attack('wrong iss', 'wrong_issuer', async () => sign(header(), claims({ iss: 'https://evil.test' })));
  attack('wrong aud', 'wrong_audience', async () => sign(header(), claims({ aud: 'https://evil.test' })));
  attack('missing exp', 'missing_claim', async () => {
    const c = claims();
    delete c.exp;
    return sign(header(), c);
  });
  attack('exp as a string', 'invalid_claim', async () => sign(header(), claims({ exp: String(now() + 300) })));
  attack('unknown crit', 'unknown_crit', async () => sign(header({ crit: ['urn:evil'], 'urn:evil': 1 }), claims()));
  attack('embedded jwk', 'forbidden_header', async () => sign(header({ jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } }), claims()));
  attack('jku', 'forbidden_header', async () => sign(header({ jku: 'https://evil.test/jwks.json' }), claims()));
  attack('x5u', 'forbidden_header', async () => sign(header({ x5u: 'https://evil.test/cert.pem' }), claims()));
  attack('all-zero signature (CVE-2022-21449)', 'bad_signature', async () =>
    `${b64(header())}.${b64(claims())}.${Buffer.alloc(64).toString('base64url')}`);
  attack('DER-encoded signature', 'invalid_signature_encoding', async () => {
    const good = await sign(header(), claims());
    const [h, p, s] = good.split('.');
    const raw = Buffer.from(s, 'base64url');
    const int = (b) => {
      let i = 0;
      while (i < b.length - 1 && b[i] === 0) i++;
      b = b.subarray(i);
      return b[0] & 0x80 ? Buffer.concat([Buffer.from([2, b.length + 1, 0]), b]) : Buffer.concat([Buffer.from([2, b.length]), b]);
    };
    const body = Buffer.concat([int(raw.subarray(0, 32)), int(raw.subarray(32))]);
    return `${h}.${p}.${Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64url')}`;
  });
  attack('truncated signature', 'invalid_signature_encoding', async () => {
    const good = await sign(header(), claims());
    const [h, p, s] = good.split('.');
    return `${h}.${p}.${Buffer.from(s, 'base64url').subarray(0, 48).toString('base64url')}`;
  });
  attack('oversized token', 'token_too_large', async () => sign(header(), claims({ pad: 'x'.repeat(9000) })));
  attack('non-JSON payload', 'invalid_payload', async () => sign(header(), 'this is not json'));
  attack('two segments', 'malformed_token', async () => `${b64(header())}.${b64(claims())}`);
  attack('four segments', 'malformed_token', async () => `${await sign(header(), claims())}.x`);
  attack('padded base64', 'invalid_base64', async () => `${Buffer.from(JSON.stringify(header())).toString('base64')}.${b64(claims())}.AA`);

  it('accepts a well-formed token crafted with the same key (the control)', async () => {
    const token = await sign(header(), claims());
    const v = await verifyAtEdge(edge, token);
    assert.equal(v.status, 200, JSON.stringify(v.body));
    const i = await introspect(edge, client, token);
    assert.equal(i.body.active, true);
  });

  for (const c of cases) {
    it(`refuses: ${c.name} → ${c.code}`, async () => {
      const token = await c.make();
      const v = await verifyAtEdge(edge, token);
      assert.equal(v.status, 401, JSON.stringify(v.body));
      assert.equal(v.body.valid, false);
      assert.equal(v.body.error, c.code, v.body.message);
      assert.ok(v.body.message.length > 0);
      const i = await introspect(edge, client, token);
      assert.equal(i.status, 200);
      assert.deepEqual(i.body, { active: false, inactive_reason: c.code });
    });
  }
});
