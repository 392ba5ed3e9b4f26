// scripts/bench passkey: passkey assertion verification per operation inside workerd (the edge's WebCrypto
// path, through a danger-enabled bench route running exactly what sign-in runs after fetching the stored
// credential), beside @simplewebauthn/server in node on the same assertions. The native Rust figures come
// from `cargo bench -p tessera-authn` in the same script run. Nothing here asserts a time.
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { verifyAuthenticationResponse } from '@simplewebauthn/server';
import { randomBytes } from 'node:crypto';
import { startOrigin, startEdge } from '../blackbox/harness.mjs';
import { SoftAuthenticator } from '../blackbox/soft_authenticator.mjs';
import { median } from './stats.mjs';

const origin = await startOrigin();
const edge = await startEdge({ origin, host: 'localhost', build: 'build-bench', vars: { BENCH_ROUTES: 'danger-enabled' } });
try {
  const rows = [];
  for (const alg of [-7, -8, -257]) {
    const device = new SoftAuthenticator({ alg });
    device.rpId = 'localhost';
    device.userHandle = randomBytes(16).toString('base64url');
    const challenge = randomBytes(32).toString('base64url');
    const credential = device.get({ challenge, rpId: 'localhost' }, edge.url);
    const publicKey = isoCBOR.encode(device.coseKey());
    const body = JSON.stringify({ public_key: Buffer.from(publicKey).toString('base64url'), challenge, user_handle: device.userHandle, credential });
    const once = async (n) => {
      const t0 = performance.now();
      const r = await fetch(`${edge.url}/__bench/passkey?n=${n}`, { method: 'POST', body });
      const j = await r.json();
      if (r.status !== 200 || j.valid !== n) throw new Error(`bench passkey: ${r.status} ${JSON.stringify(j)}`);
      return performance.now() - t0;
    };
    await once(200);
    const edgeUs = [];
    for (let i = 0; i < 9; i++) {
      const zero = await once(0);
      const full = await once(1000);
      edgeUs.push(((full - zero) * 1000) / 1000);
    }
    // The peer, in node, on the same assertion.
    const peer = () => verifyAuthenticationResponse({
      response: credential, expectedChallenge: challenge, expectedOrigin: edge.url, expectedRPID: 'localhost', requireUserVerification: false,
      credential: { id: credential.id, publicKey, counter: 0 },
    });
    for (let i = 0; i < 200; i++) await peer();
    const peerUs = [];
    for (let rep = 0; rep < 9; rep++) {
      const t0 = performance.now();
      for (let i = 0; i < 1000; i++) await peer();
      peerUs.push((performance.now() - t0));
    }
    rows.push([{ '-7': 'ES256', '-8': 'EdDSA (Ed25519)', '-257': 'RS256 (2048-bit)' }[alg], median(edgeUs), median(peerUs)]);
  }
  console.log('\n| assertion verify, µs per op | Tessera edge in workerd (WebCrypto) | @simplewebauthn/server 14 in node | ratio (edge / simplewebauthn) |\n|---|---|---|---|');
  for (const [name, e, p] of rows) console.log(`| ${name} | ${e.toFixed(1)} | ${p.toFixed(1)} | ${(e / p).toFixed(2)}× |`);
} finally {
  await edge.stop();
  await origin.stop();
}
