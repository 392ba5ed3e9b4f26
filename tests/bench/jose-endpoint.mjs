// The wall-clock peer (tests/bench/edge_wallclock.mjs): a token-verification endpoint written the usual way
// in JavaScript, node `jose` in workerd, verifying one ES256 access token per request against the issuer's
// public key (the `JWK` binding), with the same checks the edge makes (algorithm, issuer, audience, type).
import * as jose from 'jose';

let key;

export default {
  async fetch(req, env) {
    if (req.method !== 'POST') return new Response('ok');
    key ??= await jose.importJWK(JSON.parse(env.JWK), 'ES256');
    const { token } = await req.json();
    try {
      const { payload } = await jose.jwtVerify(token, key, {
        algorithms: ['ES256'], issuer: env.ISSUER, audience: env.AUDIENCE, typ: 'at+jwt',
      });
      return Response.json({ valid: true, claims: payload });
    } catch {
      return Response.json({ valid: false }, { status: 401 });
    }
  },
};
