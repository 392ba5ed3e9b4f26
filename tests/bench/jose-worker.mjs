// The peer in scripts/bench: node `jose` verifying the same ES256 token inside the same workerd.
import * as jose from 'jose';

let key;

export default {
  async fetch(req) {
    const n = Number(new URL(req.url).searchParams.get('n') ?? 0);
    const { token, jwk, issuer } = await req.json();
    key ??= await jose.importJWK(jwk, 'ES256');
    let valid = 0;
    for (let i = 0; i < n; i++) {
      try {
        await jose.jwtVerify(token, key, { algorithms: ['ES256'], issuer, typ: 'at+jwt' });
        valid++;
      } catch { /* counted as invalid */ }
    }
    return Response.json({ n, valid });
  },
};
