// A Worker that uses the npm SDK (its workerd entry: the wasm imported as a module), run in workerd by
// tests/blackbox/sdk.test.mjs: `POST /verify {issuer, token, audience}` answers what the SDK decided,
// `GET /protected` is guarded by `authenticate`.
import { Verifier, authenticate } from '../../sdk/js/dist/workerd.js';

let verifier;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    if (url.pathname === '/verify') {
      const { issuer, token, audience } = await request.json();
      verifier ??= await Verifier.fromIssuer(issuer);
      try {
        const t = await verifier.verifyAccessToken(token, { audience });
        return Response.json({ ok: true, sub: t.sub, kid: t.kid });
      } catch (e) {
        return Response.json({ ok: false, code: e.code });
      }
    }
    if (url.pathname === '/protected') {
      const who = await authenticate(verifier, request, { audience: url.searchParams.get('audience') });
      if (who instanceof Response) return who;
      return new Response(`hello ${who.sub}`);
    }
    return new Response('not found', { status: 404 });
  },
};
