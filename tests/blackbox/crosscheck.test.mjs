// Both ES256 back-ends agree: tokens signed by the edge (WebCrypto) verify natively (pure-Rust p256, through
// `tessera-origin jwt verify`) and with node jose; tokens signed natively (p256) and by node jose verify at
// the edge (WebCrypto).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge, newPrivateJwk, getToken, verifyAtEdge, originBin, run } from './harness.mjs';

const AUD = 'https://api.tessera.test';

describe('WebCrypto and p256 agree', () => {
  let origin, edge, client, jwk, dir;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-xcheck-'));
    origin = await startOrigin();
    jwk = newPrivateJwk();
    edge = await startEdge({ origin, bootstrapJwk: jwk });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD] });
    writeFileSync(join(dir, 'jwks.json'), await (await fetch(`${edge.url}/.well-known/jwks.json`)).text());
    writeFileSync(join(dir, 'key.json'), JSON.stringify(jwk));
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const nativeVerify = async (token) => {
    const { stdout } = await run(originBin, ['jwt', 'verify', '--jwks-file', join(dir, 'jwks.json'), '--issuer', edge.issuer, '--audience', AUD, token]);
    return JSON.parse(stdout);
  };

  it('edge (WebCrypto) → p256 and jose', async () => {
    for (let i = 0; i < 20; i++) {
      const { access_token } = await getToken(edge, client);
      const native = await nativeVerify(access_token);
      assert.equal(native.valid, true);
      assert.equal(native.claims.sub, client.client_id);
      const { payload } = await jose.jwtVerify(access_token, jose.createLocalJWKSet(JSON.parse(await (await fetch(`${edge.url}/.well-known/jwks.json`)).text())), { issuer: edge.issuer, audience: AUD });
      assert.equal(payload.tid, 'acme');
    }
  });

  it('p256 (native) → edge (WebCrypto) and jose', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 10; i++) {
      const claims = { iss: edge.issuer, sub: `native-${i}`, aud: AUD, exp: now + 300, iat: now, jti: `n${i}`, client_id: 'native', tid: 'acme' };
      writeFileSync(join(dir, 'claims.json'), JSON.stringify(claims));
      const { stdout } = await run(originBin, ['jwt', 'sign', '--key-file', join(dir, 'key.json'), '--claims-file', join(dir, 'claims.json')]);
      const token = stdout.trim();
      const v = await verifyAtEdge(edge, token);
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal(v.body.claims.sub, `native-${i}`);
      const pub = await jose.importJWK({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, 'ES256');
      const { protectedHeader } = await jose.jwtVerify(token, pub, { issuer: edge.issuer, audience: AUD });
      assert.equal(protectedHeader.typ, 'at+jwt');
    }
  });

  it('node jose → edge (WebCrypto) and p256', async () => {
    const key = await jose.importJWK(jwk, 'ES256');
    const kid = await jose.calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y });
    for (let i = 0; i < 10; i++) {
      const token = await new jose.SignJWT({ client_id: 'jose', tid: 'acme' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .setIssuer(edge.issuer).setAudience(AUD).setSubject(`jose-${i}`).setIssuedAt().setExpirationTime('5m').setJti(`j${i}`)
        .sign(key);
      const v = await verifyAtEdge(edge, token);
      assert.equal(v.status, 200, JSON.stringify(v.body));
      assert.equal((await nativeVerify(token)).claims.sub, `jose-${i}`);
    }
  });

  it('a tampered token fails on both paths with the same code', async () => {
    const { access_token } = await getToken(edge, client);
    const [h, p, s] = access_token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 1;
    const bad = `${h}.${p}.${sig.toString('base64url')}`;
    assert.equal((await verifyAtEdge(edge, bad)).body.error, 'bad_signature');
    await assert.rejects(nativeVerify(bad), (e) => JSON.parse(e.stdout).error === 'bad_signature');
  });
});
