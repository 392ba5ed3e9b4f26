// What the OpenID Connect black-box tests share: a relying party's redirect URIs served on loopback (every
// request the browser makes there is remembered), a person's browser (Chromium context with a virtual
// authenticator), authorizations built with openid-client, and readers for what lands.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import * as oidc from 'openid-client';
import { freePort, loginContext } from './harness.mjs';

/** openid-client's option for an issuer on plain http (the local workerd). */
export const insecure = { execute: [oidc.allowInsecureRequests] };

/** `at_hash` of an access token (OIDC Core §3.1.3.6). */
export const atHash = (token) => createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');

/**
 * A relying party's redirect URIs on `http://127.0.0.1:<port>` (loopback, as RFC 8252 allows): `url`, the
 * `landings` so far ({ url, method, body }, favicons aside), `close()`.
 */
export async function startRelyingParty() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const landings = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url !== '/favicon.ico') landings.push({ url: `${url}${req.url}`, method: req.method, body });
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>relying party</p>');
    });
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url, landings, close: () => server.close() };
}

/**
 * A person's browser: a fresh context of `browser` with a virtual authenticator. `landed(since)` waits for
 * the next landing at `rp` after `since` of them; `tokens` are the login page's own sign-in answers;
 * `cookie()` the browser's cookies for `edge`.
 */
export async function newPerson(browser, rp, edge) {
  const context = await loginContext(browser);
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const tokens = [];
  page.on('response', async (r) => {
    if (/\/v1\/passkeys\/(login|register)\/verify$/.test(new URL(r.url()).pathname) && r.ok()) {
      tokens.push(await r.json().catch(() => null));
    }
  });
  const landed = async (since) => {
    for (let i = 0; i < 300 && rp.landings.length <= since; i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(rp.landings.length > since, `no landing at the relying party; the page is at ${page.url()}`);
    // The browser has finished arriving before anything else navigates it.
    await page.waitForURL((u) => u.href.startsWith(rp.url), { waitUntil: 'load' });
    return rp.landings[since];
  };
  const cookie = async () => (await context.cookies(edge.url)).map((c) => `${c.name}=${c.value}`).join('; ');
  /** Visit `url` and answer where the browser lands at the relying party. */
  const visit = async (url) => {
    const n = rp.landings.length;
    await page.goto(url);
    return landed(n);
  };
  /** Sign in on the plain login page (the passkey may be taken from autofill at once). */
  const signInOnLoginPage = async (username) => {
    await page.goto(`${edge.url}/login`);
    const autofilled = await page.waitForSelector('#signed-in:not([hidden])', { timeout: 5_000 }).then(() => true, () => false);
    if (!autofilled) {
      await page.fill('#signin-username', username);
      await page.click('#signin');
      await page.waitForSelector('#signed-in:not([hidden])');
    }
    return tokens.at(-1);
  };
  return { context, page, landed, tokens, cookie, visit, signInOnLoginPage };
}

/** An authorization built with openid-client: the URL and what its answer is checked with. */
export async function authorization(config, { redirect_uri, scope = 'openid profile', extra = {}, nonce = oidc.randomNonce() }) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri, scope, state, ...(nonce ? { nonce } : {}),
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state, nonce, redirect_uri };
}

/** The answer's parameters, from the query or a form post. */
export const answer = (landing) => landing.method === 'POST' ? new URLSearchParams(landing.body) : new URL(landing.url).searchParams;

/** What openid-client reads an answer from: the URL, or the form post as a Request. */
export function answerRequest(landing) {
  if (landing.method === 'POST') {
    return new Request(landing.url, { method: 'POST', body: landing.body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
  return new URL(landing.url);
}

/** Exchange the code `landing` carries for `a`'s tokens. */
export function exchange(config, a, landing, more = {}) {
  return oidc.authorizationCodeGrant(config, answerRequest(landing), {
    pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce ?? undefined, ...more,
  });
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 `secret` at `at` ms. */
export function totp(secret, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => Number.parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[19] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}
