// The production edge build in plain workerd (no wrangler, no miniflare), as Cloudflare runs it: tokens
// issued there verify with node jose against its JWKS, a permission check is answered from the origin and
// then from the isolate's memory, the KV-backed client cache and the SQLite-backed Durable Objects work
// through the bindings tests/blackbox/workerd.mjs declares. The wall-clock benchmark runs on this setup.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as jose from 'jose';
import { startOrigin, getToken, newPrivateJwk } from './harness.mjs';
import { startEdgeInWorkerd } from './workerd.mjs';

const SCHEMA = `definition client {}
definition doc {
    relation viewer: client
    permission view = viewer
}
`;

describe('the edge in plain workerd', () => {
  let origin, edge, client;

  before(async () => {
    origin = await startOrigin();
    const put = await fetch(`${origin.url}/v1/tenants/acme/schema`, {
      method: 'PUT', headers: { authorization: `Bearer ${origin.serviceToken}` }, body: SCHEMA,
    });
    assert.equal(put.status, 200, await put.text());
    client = await origin.createClient({ tenant: 'acme', scopes: ['authz:check'] });
    const write = await fetch(`${origin.url}/v1/tenants/acme/relationships/write`, {
      method: 'POST',
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ updates: [{ operation: 'create', relationship: `doc:plan#viewer@client:${client.client_id}` }] }),
    });
    assert.equal(write.status, 200, await write.text());
    edge = await startEdgeInWorkerd({ origin, bootstrapJwk: newPrivateJwk() });
  });
  after(async () => {
    await edge?.stop();
    await origin?.stop();
  });

  it('issues tokens that node jose verifies against its JWKS, and verifies them itself', async () => {
    const { access_token: token } = await getToken(edge, client);
    const jwks = jose.createRemoteJWKSet(new URL(`${edge.issuer}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer: edge.issuer, audience: 'https://api.tessera.test' });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.equal(payload.sub, client.client_id);
    const r = await fetch(`${edge.url}/v1/tokens/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }),
    });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.valid, true, JSON.stringify(body));
    // A token of another signer gets the same answer as anywhere else: not valid, and no detail.
    const forged = await new jose.SignJWT({ scope: 'authz:check' })
      .setProtectedHeader({ alg: 'ES256', kid: protectedHeader.kid })
      .setIssuer(edge.issuer).setAudience('https://api.tessera.test').setSubject(client.client_id)
      .setIssuedAt().setExpirationTime('5m')
      .sign((await jose.generateKeyPair('ES256')).privateKey);
    const bad = await fetch(`${edge.url}/v1/tokens/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: forged }),
    });
    const refused = await bad.json();
    assert.equal(bad.status, 401, JSON.stringify(refused));
    assert.notEqual(refused.valid, true, JSON.stringify(refused));
  });

  it('answers a permission check from the origin, then from the isolate', async () => {
    const { access_token: token } = await getToken(edge, client);
    const ask = async (resource) => {
      const r = await fetch(`${edge.url}/v1/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ resource, permission: 'view', subject: `client:${client.client_id}` }),
      });
      return { status: r.status, body: await r.json(), source: r.headers.get('tessera-cache') };
    };
    const first = await ask('doc:plan');
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.allowed, true);
    const again = await ask('doc:plan');
    assert.equal(again.body.allowed, true);
    assert.equal(again.source, 'isolate');
    const other = await ask('doc:secret');
    assert.equal(other.body.allowed, false);
  });

  it('bounds a chunked body that also declares a small Content-Length', async () => {
    // The edge reads a body with a declared length in one call; the runtime must not let a chunked body
    // pass as a short one, or that call would hold whatever the client sends. The body never ends: only
    // a reader that stops at the limit answers (a read of the whole body would wait for ever).
    const big = 'x'.repeat(256 * 1024);
    const raw = 'POST /v1/tokens/verify HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n' +
      'Content-Length: 20\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
      `${big.length.toString(16)}\r\n${big}\r\n`;
    const answer = await new Promise((resolve, reject) => {
      const socket = net.connect(Number(new URL(edge.url).port), '127.0.0.1', () => socket.write(raw));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => { text += d; });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.setTimeout(10_000, () => socket.destroy());
    });
    assert.match(answer, /^HTTP\/1\.1 413 /, answer.slice(0, 300));
    assert.match(answer, /"error":"request_too_large"/);
  });
});
