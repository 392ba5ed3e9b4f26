// Key rotation under load: while a client issues and verifies tokens in a loop (at the edge and with node
// jose caching the JWKS as allowed), scripts/rotate-jwks runs every second through full cycles. Not one
// valid token may fail; once a key is removed, its tokens fail with `unknown_kid`.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as jose from 'jose';
import { startOrigin, startEdge, getToken, verifyAtEdge, root, run } from './harness.mjs';

const AUD = 'https://api.tessera.test';
// Short policy so full cycles fit in a test: keys publish 3 s before signing, retire for 32 s.
const POLICY = { JWKS_MAX_AGE: '2', RING_CACHE_TTL: '1', MAX_TOKEN_TTL: '30', LEEWAY: '1' };

describe('rotation while tokens flow', () => {
  let origin, edge, client;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, vars: POLICY });
    client = await origin.createClient({ tenant: 'acme', scopes: ['read'], audiences: [AUD], ttl: 30 });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  const rotate = async () => {
    const { stdout } = await run(join(root, 'scripts', 'rotate-jwks'), [], {
      env: { ...process.env, TESSERA_EDGE_URL: edge.url, TESSERA_ADMIN_TOKEN: edge.adminToken },
    });
    return JSON.parse(stdout);
  };

  it('never fails a valid token, and refuses tokens of removed keys', { timeout: 120_000 }, async () => {
    const jwks = jose.createRemoteJWKSet(new URL(`${edge.url}/.well-known/jwks.json`), { cacheMaxAge: 2000, cooldownDuration: 1000 });
    const first = await getToken(edge, client);
    const firstKid = jose.decodeProtectedHeader(first.access_token).kid;
    const live = [];
    const kids = new Set([firstKid]);
    const failures = [];
    let verified = 0;
    let rotations = 0;
    let removed = false;
    const stopAt = Date.now() + 75_000;
    let nextRotation = Date.now();
    while (Date.now() < stopAt) {
      if (Date.now() >= nextRotation) {
        const status = await rotate();
        rotations++;
        nextRotation = Date.now() + 1000;
        if (!status.keys.some((k) => k.kid === firstKid)) removed = true;
      }
      const { access_token } = await getToken(edge, client);
      kids.add(jose.decodeProtectedHeader(access_token).kid);
      // Keep tokens with at least 3 s to live: both verifications below must happen before `exp`.
      live.push({ token: access_token, exp: jose.decodeJwt(access_token).exp * 1000 });
      while (live.length && live[0].exp - 3000 < Date.now()) live.shift();
      // Verify the newest and the oldest still-valid token, at the edge and with jose.
      for (const { token } of [live[live.length - 1], live[0]]) {
        const v = await verifyAtEdge(edge, token);
        if (v.status !== 200) failures.push(`edge: ${v.body.error} (${jose.decodeProtectedHeader(token).kid})`);
        try {
          await jose.jwtVerify(token, jwks, { issuer: edge.issuer, audience: AUD });
        } catch (e) {
          failures.push(`jose: ${e.code}`);
        }
        verified += 2;
      }
      if (removed && kids.size >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(failures, [], `${failures.length} of ${verified} verifications failed`);
    assert.ok(kids.size >= 3, `at least two full rotations signed with new keys (saw ${kids.size} keys in ${rotations} rotations)`);
    assert.ok(removed, 'the first key was removed within the run');
    const late = await verifyAtEdge(edge, first.access_token);
    assert.equal(late.status, 401);
    assert.equal(late.body.error, 'unknown_kid');
  });

  it('reports the ring to an operator', async () => {
    const r = await fetch(`${edge.url}/admin/keys`, { headers: { authorization: `Bearer ${edge.adminToken}` } });
    assert.equal(r.status, 200);
    const status = await r.json();
    assert.equal(status.keys.filter((k) => k.state === 'active').length, 1);
    assert.ok(!JSON.stringify(status).includes('sealed'), 'no key material in the status');
  });
});
