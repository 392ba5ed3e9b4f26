// "Sign in with your company" in a real browser: Chromium (playwright-core) on the edge's login page in
// workerd, the real origin, and a pysaml2 IdP (tests/blackbox/saml/) answering at its SSO address through
// Playwright's request interception (the IdP's pages are served from the test; its responses are real,
// signed by xmlsec1). SP-initiated: email -> the company's IdP -> our ACS -> back at the edge with an
// access token whose `amr` says the sign-in was federated. IdP-initiated through a connection that allows
// it. A sign-in link opened in another browser (no verifier in its tab) is refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startOrigin, startEdge, freePort, samlPython, run, root } from './harness.mjs';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

const IDP_ENTITY = 'https://idp.corp.example/saml';
const IDP_SSO = 'https://idp.corp.example/sso';
const PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

describe('sign in with your company, in Chromium', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, browser, dir;
  const tool = async (args) => (await run(samlPython, ['-m', 'tests.blackbox.saml', ...args], { cwd: root })).stdout;
  const api = async (method, path, body) => {
    const r = await fetch(`${origin.url}${path}`, { method, body: JSON.stringify(body),
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' } });
    return { status: r.status, body: await r.json() };
  };
  const sp = (conn) => ({ entity: `${origin.url}/saml/acme/${conn}/metadata`, acs: `${origin.url}/saml/acme/${conn}/acs` });
  /** The HTML an IdP answers after its own sign-in: a form that posts the response to the ACS. */
  const postingPage = (acs, reply) => `<!doctype html><html><body><form method="post" action="${acs}">
    <input type="hidden" name="SAMLResponse" value="${reply.SAMLResponse}">
    ${reply.RelayState ? `<input type="hidden" name="RelayState" value="${reply.RelayState}">` : ''}
    </form><script>document.forms[0].submit()</script></body></html>`;
  const person = (name) => ['--name-id', `${name}-0001`, '--name-id-format', PERSISTENT, '--attr', `email=${name}@corp.example`,
    '--attr', `displayName=${name} Example`, '--attr', 'groups=engineering'];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-saml-browser-'));
    const edgePort = await freePort();
    origin = await startOrigin({ args: ['--edge-url', `http://localhost:${edgePort}`] });
    edge = await startEdge({ origin, host: 'localhost', port: edgePort, vars: { LOGIN_TENANT: 'acme' } });
    const schema = await fetch(`${origin.url}/v1/tenants/acme/schema`, { method: 'PUT',
      headers: { authorization: `Bearer ${origin.serviceToken}` }, body: 'definition user {}\n\ndefinition group {\n    relation member: user\n}\n' });
    assert.equal(schema.status, 200);
    const idp = JSON.parse(await tool(['init', '--dir', dir, '--entity-id', IDP_ENTITY, '--sso-url', IDP_SSO]));
    const attribute_map = { email: 'email', display_name: 'displayName', groups: 'groups' };
    let r = await api('POST', '/v1/tenants/acme/saml/connections', { name: 'corp', display_name: 'Corp SSO',
      idp_metadata: idp.metadata, attribute_map, email_domains: ['corp.example'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    r = await api('POST', '/v1/tenants/acme/saml/connections', { name: 'portal', idp_metadata: idp.metadata, attribute_map,
      allow_idp_initiated: true });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // The test's IdP is https (metadata demands it) and this origin plain http on loopback: Chromium would
    // stop the IdP's form post to it with its insecure-form interstitial, which production (https) never sees.
    browser = await chromium.launch({ executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-features=InsecureFormSubmissionInterstitial'] });
  });
  after(async () => {
    await browser?.close();
    await edge?.stop();
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A browser context whose IdP answers every AuthnRequest for `name`, as after a successful IdP login. */
  async function contextWithIdp(name) {
    const context = await browser.newContext();
    await context.route(`${IDP_SSO}**`, async (route) => {
      const reply = JSON.parse(await tool(['respond', '--dir', dir, '--json', '--request-url', route.request().url(),
        '--sp-entity-id', sp('corp').entity, '--acs-url', sp('corp').acs, ...person(name)]));
      await route.fulfill({ contentType: 'text/html', body: postingPage(sp('corp').acs, reply) });
    });
    return context;
  }
  const claimsOf = async (page) => {
    await page.waitForSelector('#signed-in:not([hidden])', { timeout: 20_000 }).catch(async (e) => {
      const text = await page.textContent('body').catch(() => '(no body)');
      throw new Error(`not signed in at ${page.url()}: ${text.replace(/\s+/g, ' ').slice(0, 400)}`, { cause: e });
    });
    return JSON.parse(await page.textContent('#claims'));
  };

  it('SP-initiated: the work email leads to the company IdP and back, signed in with amr fed', async () => {
    const context = await contextWithIdp('ada');
    const page = await context.newPage();
    await page.goto(`${edge.url}/login`);
    await page.fill('#sso-email', 'ada@corp.example');
    await page.click('#sso-start');
    const claims = await claimsOf(page);
    assert.deepEqual(claims.amr, ['fed']);
    assert.match(await page.textContent('#message'), /Signed in with your company/);
    assert.equal(new URL(page.url()).hash, '', 'the code left the address bar');
    await context.close();
  });

  it('username first: a work address typed to sign in leads to the company, any other name to a passkey', async () => {
    const context = await contextWithIdp('grace');
    const page = await context.newPage();
    await page.goto(`${edge.url}/login`);
    await page.fill('#signin-username', 'grace@corp.example');
    await page.press('#signin-username', 'Enter');
    assert.deepEqual((await claimsOf(page)).amr, ['fed']);
    await context.close();
    // An address no company claims: a passkey sign-in, asked of the browser (which has none here).
    const other = await browser.newContext();
    const plain = await other.newPage();
    const cdp = await other.newCDPSession(plain);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } });
    await plain.goto(`${edge.url}/login`);
    const asked = plain.waitForRequest((r) => r.url().endsWith('/v1/passkeys/login/options') && (r.postData() ?? '').includes('bob@elsewhere.example'));
    await plain.fill('#signin-username', 'bob@elsewhere.example');
    await plain.click('#signin');
    await asked;
    assert.equal(new URL(plain.url()).pathname, '/login');
    await other.close();
  });

  it('the tenant\'s companies are offered by name, and one click signs in', async () => {
    const context = await contextWithIdp('linus');
    const page = await context.newPage();
    await page.goto(`${edge.url}/login`);
    await page.waitForSelector('#sso-connections button[data-connection="corp"]');
    assert.equal(await page.textContent('#sso-connections button[data-connection="corp"]'), 'Sign in with Corp SSO');
    await page.click('#sso-connections button[data-connection="corp"]');
    assert.deepEqual((await claimsOf(page)).amr, ['fed']);
    await context.close();
    // A name the tenant does not have.
    const r = await fetch(`${edge.url}/v1/sso/start?${new URLSearchParams({ connection: 'nope', binding: 'x'.repeat(43) })}`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error, 'sso_not_configured');
  });

  it('an address no connection claims gets an honest answer, not a redirect', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${edge.url}/login`);
    await page.fill('#sso-email', 'bob@elsewhere.example');
    await page.click('#sso-start');
    await page.waitForFunction(() => /no company sign-in is set up/.test(document.getElementById('message').textContent));
    assert.equal(new URL(page.url()).pathname, '/login');
    await context.close();
  });

  it('IdP-initiated through a connection that allows it', async () => {
    const context = await browser.newContext();
    await context.route('https://idp.corp.example/apps/tessera', async (route) => {
      const reply = JSON.parse(await tool(['respond', '--dir', dir, '--json', '--sp-entity-id', sp('portal').entity,
        '--acs-url', sp('portal').acs, ...person('grace')]));
      await route.fulfill({ contentType: 'text/html', body: postingPage(sp('portal').acs, reply) });
    });
    const page = await context.newPage();
    await page.goto('https://idp.corp.example/apps/tessera');
    const claims = await claimsOf(page);
    assert.deepEqual(claims.amr, ['fed']);
    await context.close();
  });

  it('a sign-in link opened in another browser is refused (the code is bound to the tab that started)', async () => {
    // Started by one "tab" (its verifier never leaves it), finished at the IdP, the link taken elsewhere.
    const start = await fetch(`${edge.url}/v1/sso/start?${new URLSearchParams({ email: 'eve@corp.example',
      binding: 'x'.repeat(43) })}`);
    assert.equal(start.status, 200);
    const { location } = await start.json();
    const toIdp = await fetch(location, { redirect: 'manual' });
    assert.equal(toIdp.status, 303);
    const reply = JSON.parse(await tool(['respond', '--dir', dir, '--json', '--request-url', toIdp.headers.get('location'),
      '--sp-entity-id', sp('corp').entity, '--acs-url', sp('corp').acs, ...person('eve')]));
    const form = new URLSearchParams({ SAMLResponse: reply.SAMLResponse });
    if (reply.RelayState) form.set('RelayState', reply.RelayState);
    const acs = await fetch(sp('corp').acs, { method: 'POST', redirect: 'manual', body: form });
    assert.equal(acs.status, 303, await acs.text());
    const link = acs.headers.get('location');
    assert.match(link, /\/login#sso_code=tsh_/);

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForFunction(() => /already used or has expired/.test(document.getElementById('message').textContent), null, { timeout: 15_000 });
    assert.equal(await page.isHidden('#signed-in'), true);
    await context.close();
  });
});
