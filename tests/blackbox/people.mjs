// A person's view of the edge for black-box tests: JSON posts, passkey sign-up and sign-in through a software
// authenticator, refresh, introspection. Shared by the passkey and security tests.
import assert from 'node:assert/strict';
import { basic } from './harness.mjs';
import { SoftAuthenticator } from './soft_authenticator.mjs';

/** Helpers bound to `edge`; `client` (optional) is a resource server of the tenant that may introspect. */
export function people(edge, client) {
  const ORIGIN = edge.url;
  const post = async (path, body, token) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${edge.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body ?? {}) });
    return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
  };
  const registerOptions = async (username, token) => {
    const r = await post('/v1/passkeys/register/options', username ? { username, display_name: `${username} (test)` } : {}, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.publicKey;
  };
  const loginOptions = async (username) => {
    const r = await post('/v1/passkeys/login/options', username ? { username } : {});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.publicKey;
  };
  const signUp = async (username, device = new SoftAuthenticator()) => {
    const options = await registerOptions(username);
    const credential = device.create(options, ORIGIN);
    const r = await post('/v1/passkeys/register/verify', { credential });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { device, tokens: r.body, options, credential };
  };
  const signIn = async (device, username, o = {}) => {
    const options = await loginOptions(username);
    const credential = device.get(options, ORIGIN, o);
    return { ...(await post('/v1/passkeys/login/verify', { credential })), options, credential };
  };
  const introspect = async (token) => {
    const r = await fetch(`${edge.url}/oauth2/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
      body: new URLSearchParams({ token }),
    });
    return r.json();
  };
  const refresh = async (refresh_token) => {
    const r = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token }),
    });
    return { status: r.status, body: await r.json() };
  };
  return { ORIGIN, post, registerOptions, loginOptions, signUp, signIn, introspect, refresh };
}
