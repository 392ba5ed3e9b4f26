// The login page in a real browser: Chromium (Debian's, driven by playwright-core) with Chrome's virtual
// authenticator over CDP, against the real Worker in workerd and the real origin. Sign-up, sign-in
// (username-first and discoverable), a second device, a cloned authenticator, a response from the wrong
// origin and the user-verification policy; recovery codes (shown once, copied, downloaded; "Lost your
// passkey?" and the new passkey it requires); what the browser sent is cross-checked with @simplewebauthn.
// With TESSERA_SCREENSHOTS=dir, the accessibility test saves each screen it checks there (docs/login/
// holds them).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { verifyRegistrationResponse, verifyAuthenticationResponse } from '@simplewebauthn/server';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { startOrigin, startEdge, waitForLog, loginContext } from './harness.mjs';
import { totp } from './oidc_rp.mjs';
import { createRequire } from 'node:module';

const axeSource = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

// Skipped only where no Chromium is installed and the caller did not require it (scripts/test requires it).
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

describe('the login page in Chromium with a virtual authenticator', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, strictEdge, browser;

  before(async () => {
    origin = await startOrigin();
    edge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'web' } });
    strictEdge = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'strict', USER_VERIFICATION: 'required' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await strictEdge?.stop();
    await edge?.stop();
    await origin?.stop();
  });

  /** A fresh page with its own virtual authenticator(s). */
  async function open(at = edge, contextOptions = {}) {
    // Autofill reported unavailable (see `loginContext`); the autofill test stands in for the person.
    const context = await loginContext(browser, contextOptions);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const authenticator = async (o = {}) => (await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true, ...o },
    })).authenticatorId;
    // Everything the page sends to and gets from the edge's passkey endpoints, for the cross-checks.
    const seen = [];
    page.on('response', async (r) => {
      if (!r.url().includes('/v1/passkeys/')) return;
      const req = r.request();
      seen.push({ path: new URL(r.url()).pathname, sent: req.postData() ? JSON.parse(req.postData()) : null, status: r.status(), got: await r.json().catch(() => null) });
    });
    await page.goto(`${at.url}/login`);
    return { page, cdp, authenticator, seen, context };
  }
  const signedIn = (page) => page.waitForSelector('#signed-in:not([hidden])', { timeout: 15_000 });
  const claims = async (page) => JSON.parse(await page.textContent('#claims'));
  const message = (page) => page.textContent('#message');
  const waitMessage = async (page, re) => {
    await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('message').textContent), re.source, { timeout: 15_000 });
    return message(page);
  };
  async function signUp(page, username) {
    await page.fill('#signup-username', username);
    await page.fill('#signup-display', `${username} tester`);
    await page.click('#signup');
  }
  async function signOut(page) {
    await page.click('#logout');
    await page.waitForSelector('#signed-out:not([hidden])');
  }
  async function signIn(page, username = '') {
    await page.fill('#signin-username', username);
    await page.click('#signin');
  }

  it('signs up, signs in by name and by choosing the passkey, and simplewebauthn agrees with every step', async () => {
    const { page, authenticator, seen, context } = await open();
    await authenticator();
    await signUp(page, 'alice');
    await signedIn(page);
    const c = await claims(page);
    assert.deepEqual(c.amr, ['hwk', 'user', 'mfa']);
    assert.equal(c.acr, 'phr');
    assert.equal(c.tid, 'web');
    assert.match(await message(page), /account is ready/);

    const options = seen.find((s) => s.path === '/v1/passkeys/register/options').got.publicKey;
    const { credential } = seen.find((s) => s.path === '/v1/passkeys/register/verify').sent;
    const reg = await verifyRegistrationResponse({ response: credential, expectedChallenge: options.challenge, expectedOrigin: edge.url, expectedRPID: 'localhost', requireUserVerification: true });
    assert.equal(reg.verified, true);
    assert.equal(options.authenticatorSelection.residentKey, 'required');

    let counter = reg.registrationInfo.credential.counter;
    for (const username of ['alice', '']) {
      await signOut(page);
      await signIn(page, username);
      await signedIn(page);
      assert.equal((await claims(page)).sub, c.sub);
      const opts = seen.filter((s) => s.path === '/v1/passkeys/login/options').at(-1).got.publicKey;
      // Username-first too: options never list credentials (that would tell who exists; every passkey here is
      // discoverable), and verify requires the named user's.
      assert.equal(opts.allowCredentials.length, 0, username ? 'username-first' : 'discoverable');
      const sent = seen.filter((s) => s.path === '/v1/passkeys/login/verify').at(-1).sent.credential;
      const auth = await verifyAuthenticationResponse({
        response: sent, expectedChallenge: opts.challenge, expectedOrigin: edge.url, expectedRPID: 'localhost', requireUserVerification: true,
        credential: { id: reg.registrationInfo.credential.id, publicKey: reg.registrationInfo.credential.publicKey, counter },
      });
      assert.equal(auth.verified, true);
      counter = auth.authenticationInfo.newCounter;
    }
    await context.close();
  });

  it('asks for passkeys through autofill (conditional UI) and signs in with the one chosen', async () => {
    const { page, authenticator, context } = await open();
    await authenticator();
    await signUp(page, 'zoe');
    await signedIn(page);
    await signOut(page);
    // Headless Chromium offers no autofill surface, so stand in for the person picking the passkey from the
    // username field's suggestions: report conditional mediation as available and complete the request.
    await context.addInitScript(() => {
      window.__mediation = [];
      PublicKeyCredential.isConditionalMediationAvailable = async () => true;
      const get = navigator.credentials.get.bind(navigator.credentials);
      navigator.credentials.get = (o) => {
        window.__mediation.push(o.mediation ?? 'none');
        const { mediation, signal, ...rest } = o;
        return get(rest);
      };
    });
    await page.reload();
    await signedIn(page);
    assert.deepEqual(await page.evaluate(() => window.__mediation), ['conditional']);
    assert.equal(await page.getAttribute('#signin-username', 'autocomplete'), 'username webauthn');
    assert.match(await message(page), /Welcome back/);
    // Chosen from a list, the passkey named nobody: the account the edge reports does.
    await page.waitForFunction(() => document.getElementById('signed-in-title').textContent.startsWith('Signed in as '), null, { timeout: 15_000 });
    // Signed out, the page offers passkeys in the suggestions again (and the stand-in picks one at once).
    await page.click('#logout');
    await page.waitForFunction(() => window.__mediation.length === 2, null, { timeout: 15_000 });
    assert.deepEqual(await page.evaluate(() => window.__mediation), ['conditional', 'conditional']);
    await signedIn(page);
    await waitMessage(page, /Welcome back/);
    await context.close();
  });

  it('adds a second device, which signs in on its own', async () => {
    const { page, cdp, authenticator, context } = await open();
    const first = await authenticator();
    await signUp(page, 'bob');
    await signedIn(page);
    // The first device leaves; a second one is added to the signed-in account.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: first });
    const second = await authenticator();
    await page.click('#add-passkey');
    assert.match(await waitMessage(page, /Another passkey/), /Another passkey was added/);
    await signOut(page);
    await signIn(page, 'bob');
    await signedIn(page);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: second });
    assert.equal(credentials.length, 1);
    await context.close();
  });

  it('refuses a cloned authenticator whose counter went back', async () => {
    const { page, cdp, authenticator, context } = await open();
    const original = await authenticator();
    await signUp(page, 'carol');
    await signedIn(page);
    // Copy the credential as it is now (counter included), then use the original twice more.
    const [snapshot] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId: original })).credentials;
    for (let i = 0; i < 2; i++) {
      await signOut(page);
      await signIn(page, 'carol');
      await signedIn(page);
    }
    await signOut(page);
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: original });
    const clone = await authenticator();
    await cdp.send('WebAuthn.addCredential', { authenticatorId: clone, credential: snapshot });
    await signIn(page, 'carol');
    // In sentence case, and since a name was typed, with what to check.
    assert.match(await waitMessage(page, /could not be used/), /^That passkey could not be used to sign in; .*\. Check the username \(capitals count\)/);
    await waitForLog(edge.proc, /"event":"possible_cloned_authenticator"/);
    await context.close();
  });

  it('refuses a registration whose client data names another origin, and says so in words', async () => {
    const { page, authenticator, context } = await open();
    await authenticator();
    await page.route('**/v1/passkeys/register/verify', async (route) => {
      const body = JSON.parse(route.request().postData());
      const cd = JSON.parse(Buffer.from(body.credential.response.clientDataJSON, 'base64url'));
      cd.origin = 'https://login.evil.test';
      body.credential.response.clientDataJSON = Buffer.from(JSON.stringify(cd)).toString('base64url');
      await route.continue({ postData: JSON.stringify(body) });
    });
    const refused = page.waitForResponse('**/v1/passkeys/register/verify');
    await signUp(page, 'mallory');
    const r = await refused;
    assert.equal(r.status(), 400);
    assert.equal((await r.json()).error, 'origin_not_allowed');
    assert.match(await waitMessage(page, /different website/), /made for a different website/);
    await context.close();
  });

  it('keeps the person where they are looking: Enter submits, errors stand by their field, a busy prompt can be cancelled', async () => {
    const { page, cdp, authenticator, context } = await open();
    await page.setViewportSize({ width: 390, height: 844 }); // a phone
    assert.equal(await page.getAttribute('#signup-username', 'autocomplete'), 'username');
    // An error the page finds itself: an alert right below the field, which is marked invalid and focused.
    await page.click('#signup');
    assert.match(await waitMessage(page, /Choose a username/), /Choose a username first/);
    assert.equal(await page.getAttribute('#message', 'role'), 'alert');
    assert.equal(await page.getAttribute('#signup-username', 'aria-invalid'), 'true');
    assert.match(await page.getAttribute('#signup-username', 'aria-describedby'), /\bmessage\b/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'signup-username');
    const gap = await page.evaluate(() => document.getElementById('message').getBoundingClientRect().top
      - document.getElementById('signup-username').getBoundingClientRect().bottom);
    assert.ok(gap >= 0 && gap < 200, `the message stands ${gap} px below the field`);
    // Enter in the field submits; the invalid mark goes with the error.
    const id = await authenticator();
    await page.fill('#signup-username', 'frank');
    await page.press('#signup-username', 'Enter');
    await signedIn(page);
    assert.equal(await page.getAttribute('#signup-username', 'aria-invalid'), null);
    assert.equal(await page.textContent('#signed-in-title'), 'Signed in as frank');
    await page.waitForSelector('#passkey-list li');
    assert.match(await page.textContent('#passkey-list li .item-meta'), /^Created .*, not used to sign in yet/);
    assert.equal(await page.isVisible('#claims'), false, 'token details stay behind "Developer details"');
    await page.click('#developer-details summary');
    assert.ok((await claims(page)).sub);
    assert.equal(await page.isVisible('#claims'), true);
    await signOut(page);
    // A prompt nobody answers: the button is busy (no second request), Cancel ends it, no raw browser text.
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: id, enabled: false });
    await page.fill('#signin-username', 'frank');
    await page.press('#signin-username', 'Enter');
    await page.waitForSelector('#signin-cancel:not([hidden])');
    assert.equal(await page.isDisabled('#signin'), true);
    assert.equal(await page.textContent('#signin'), 'Waiting for your passkey…');
    await page.click('#signin-cancel');
    await page.waitForSelector('#signin-cancel', { state: 'hidden' });
    assert.equal(await page.isDisabled('#signin'), false);
    assert.equal(await page.textContent('#signin'), 'Sign in with a passkey');
    assert.doesNotMatch(await message(page), /Something went wrong|request is already pending/);
    // Answered this time: signed in by name.
    await cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: id, enabled: true });
    await page.click('#signin');
    await signedIn(page);
    assert.equal(await page.textContent('#signed-in-title'), 'Signed in as frank');
    await context.close();
  });

  it('sets up an authenticator app as people expect: the key in groups with Copy, a tap-to-open link, a code with a space, no second code', async () => {
    // A phone: touch, so the page offers the otpauth:// link.
    const { page, authenticator, context } = await open(edge, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: edge.url });
    await authenticator();
    await signUp(page, 'gina');
    await signedIn(page);
    assert.equal(await page.isVisible('#totp-step-up'), false, 'no code is asked for before an app is set up');
    await page.click('#totp-enroll');
    await page.waitForSelector('#totp-setup:not([hidden])');
    assert.equal(await page.isVisible('#totp-enroll'), false);
    const secret = await page.textContent('#totp-secret');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const groups = await page.locator('#totp-secret span').allTextContents();
    assert.deepEqual([groups.length, groups.join('')], [8, secret]);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'nothing scrolls sideways on the phone');
    await page.click('#totp-copy');
    await waitMessage(page, /Key copied/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    assert.equal(await page.isVisible('#totp-open'), true);
    assert.match(await page.getAttribute('#totp-open', 'href'), new RegExp(`^otpauth://totp/[^?]+:gina\\?secret=${secret}&`));
    // Five digits are not sent; the sixth sends the code on its own, and a wrong one is said by the field.
    const code = totp(secret);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    const confirms = [];
    page.on('request', (r) => { if (r.url().endsWith('/v1/totp/confirm')) confirms.push(r.postData()); });
    await page.fill('#totp-confirm-code', wrong.slice(0, 5));
    await page.fill('#totp-confirm-code', wrong);
    await page.waitForSelector('#message.error');
    assert.deepEqual(confirms, [JSON.stringify({ code: wrong })], 'five digits were not sent, six once');
    assert.equal(await page.getAttribute('#totp-confirm-code', 'aria-invalid'), 'true');
    // Typed as apps show it, "123 456": not cut short, and sent on its own (no click).
    await page.fill('#totp-confirm-code', `${code.slice(0, 3)} ${code.slice(3)}`);
    assert.equal(await page.inputValue('#totp-confirm-code'), `${code.slice(0, 3)} ${code.slice(3)}`);
    await waitMessage(page, /authenticator app is set up/);
    assert.ok((await claims(page)).amr.includes('otp'), 'the setup counted as the step-up');
    assert.deepEqual(
      [await page.isVisible('#totp-enroll'), await page.isVisible('#totp-state'), await page.isVisible('#totp-step-up')],
      [false, true, false], 'only what applies after setup');
    // Signed in again: the page knows from the account that an app is set up, and offers no setup.
    await signOut(page);
    await signIn(page, 'gina');
    await signedIn(page);
    await page.waitForSelector('#totp-state:not([hidden])');
    assert.equal(await page.isVisible('#totp-enroll'), false);
    await context.close();
  });

  it('shows ten recovery codes once at sign-up, to copy or download, then only how many are left', async () => {
    const { page, authenticator, context } = await open();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: edge.url });
    await authenticator();
    await signUp(page, 'rosa');
    await signedIn(page);
    await page.waitForSelector('#recovery-codes:not([hidden])');
    const codes = await page.locator('#recovery-list li').allTextContents();
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[0-9a-z]{5}-[0-9a-z]{5}$/);
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Save your recovery codes', 'focus is on the codes');
    await page.click('#recovery-copy');
    await waitMessage(page, /Codes copied/);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), codes.join('\n'));
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#recovery-download')]);
    assert.equal(download.suggestedFilename(), 'recovery-codes.txt');
    const text = await new Response(await download.createReadStream()).text();
    assert.ok(codes.every((c) => text.includes(c)) && text.includes('rosa'), text);
    await page.click('#recovery-saved');
    assert.equal(await page.isVisible('#recovery-codes'), false);
    assert.equal(await page.locator('#recovery-list li').count(), 0, 'the codes leave the page');
    await page.waitForFunction(() => document.getElementById('recovery-count').textContent.startsWith('10 of 10'));
    // Shown once: signed in again, only the count.
    await signOut(page);
    await signIn(page, 'rosa');
    await signedIn(page);
    await page.waitForFunction(() => document.getElementById('recovery-count').textContent.startsWith('10 of 10'));
    assert.equal(await page.isVisible('#recovery-codes'), false);
    // New codes on request: shown once more, and the old ones stop working.
    await page.click('#recovery-new');
    await waitMessage(page, /new codes are below/);
    const fresh = await page.locator('#recovery-list li').allTextContents();
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !codes.includes(c)));
    const old = await fetch(`${edge.url}/v1/recovery/sign-in`, { method: 'POST', body: JSON.stringify({ username: 'rosa', code: codes[0] }) });
    assert.equal(old.status, 400);
    await context.close();
  });

  it('"Lost your passkey?" signs in with a recovery code, then asks for a new passkey before anything else', async () => {
    const { page, cdp, authenticator, context } = await open(edge, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const lost = await authenticator();
    await signUp(page, 'sami');
    await signedIn(page);
    await page.waitForSelector('#recovery-codes:not([hidden])');
    const codes = await page.locator('#recovery-list li').allTextContents();
    await page.click('#recovery-saved');
    await signOut(page);
    // The only device is gone; a new phone has no passkey for the account.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: lost });
    const phone = await authenticator();
    assert.equal(await page.isVisible('#recover'), false);
    await page.fill('#signin-username', 'sami');
    await page.click('#lost-passkey');
    assert.equal(await page.getAttribute('#lost-passkey', 'aria-expanded'), 'true');
    assert.equal(await page.inputValue('#recover-username'), 'sami', 'the name typed above is carried over');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'recover-code');
    // Not a code: said by the field, nothing sent.
    await page.fill('#recover-code', 'abc');
    await page.press('#recover-code', 'Enter');
    assert.match(await waitMessage(page, /ten letters and digits/), /like 7k2pm-x9q4r/);
    assert.equal(await page.getAttribute('#recover-code', 'aria-invalid'), 'true');
    // A wrong code: the server's words, by the field, inside the form.
    await page.fill('#recover-code', 'zzzzz-zzzzz');
    await page.click('#recover-submit');
    assert.match(await waitMessage(page, /do not match/), /username and recovery code/);
    assert.equal(await page.evaluate(() => document.getElementById('message').closest('form')?.id), 'recover');
    // The right one, as copied from paper.
    await page.fill('#recover-code', codes[0].toUpperCase().replace('-', ' '));
    await page.click('#recover-submit');
    await signedIn(page);
    assert.match(await waitMessage(page, /recovery code; 9 codes are left/), /Signed in/);
    const c = await claims(page);
    assert.deepEqual([c.acr, c.amr], ['recovery', ['rec']]);
    const shown = async (ids) => Promise.all(ids.map((id) => page.isVisible(`#${id}`)));
    assert.deepEqual(await shown(['must-add-passkey', 'passkeys', 'totp', 'recovery', 'refresh', 'logout-all', 'logout']),
      [true, false, false, false, false, false, true], 'only adding a passkey, and signing out');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'recovery-add-passkey');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'nothing scrolls sideways on the phone');
    await page.click('#recovery-add-passkey');
    await waitMessage(page, /new passkey is ready/);
    assert.equal((await claims(page)).acr, 'phr', 'a full passkey session now');
    assert.deepEqual(await shown(['must-add-passkey', 'passkeys', 'totp', 'recovery', 'refresh']), [false, true, true, true, true]);
    await page.waitForFunction(() => document.getElementById('recovery-count').textContent.startsWith('9 of 10'));
    await page.waitForFunction(() => document.querySelectorAll('#passkey-list li').length === 2);
    // The new phone's passkey signs in; the spent code does not.
    await signOut(page);
    await signIn(page, 'sami');
    await signedIn(page);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: phone });
    assert.equal(credentials.length, 1);
    const spent = await fetch(`${edge.url}/v1/recovery/sign-in`, { method: 'POST', body: JSON.stringify({ username: 'sami', code: codes[0] }) });
    assert.equal(spent.status, 400);
    await context.close();
  });

  it('names, renames and removes passkeys, and signs out another device, on the account page', async () => {
    const { page, cdp, authenticator, context } = await open();
    const first = await authenticator();
    await signUp(page, 'vera');
    await signedIn(page);
    await page.click('#recovery-saved');
    const names = () => page.locator('#passkey-list .item-name').allTextContents();
    await page.waitForFunction(() => document.querySelectorAll('#passkey-list li').length === 1);
    assert.deepEqual(await names(), ['Chrome on Linux'], 'named after the browser it was made in');
    assert.equal(await page.locator('#passkey-list button', { hasText: 'Remove' }).count(), 0, 'the only passkey cannot be removed');
    // A second device.
    await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: first });
    const second = await authenticator();
    await page.click('#add-passkey');
    await waitMessage(page, /Another passkey/);
    await page.waitForFunction(() => document.querySelectorAll('#passkey-list li').length === 2);
    const [kept] = (await cdp.send('WebAuthn.getCredentials', { authenticatorId: second })).credentials;
    const keptId = Buffer.from(kept.credentialId, 'base64').toString('base64url');
    const mine = page.locator(`#passkey-list li[data-id="${keptId}"]`);
    const other = page.locator(`#passkey-list li:not([data-id="${keptId}"])`);
    // Rename it: an empty name is said by its field; a real one sticks.
    await mine.locator('button', { hasText: 'Rename' }).click();
    const field = mine.locator('input');
    assert.equal(await field.evaluate((f) => f === document.activeElement), true);
    await field.fill('  ');
    await field.press('Enter');
    await waitMessage(page, /Give the passkey a name/);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    await field.fill('Work laptop');
    await field.press('Enter');
    await waitMessage(page, /renamed to “Work laptop”/);
    assert.equal(await mine.locator('.item-name').textContent(), 'Work laptop');
    // Remove the other, after saying what it means; keeping it changes nothing.
    await other.locator('button', { hasText: 'Remove' }).click();
    assert.match(await other.textContent(), /no longer be able to sign in with it/);
    await other.locator('button', { hasText: 'Keep it' }).click();
    assert.equal(await page.locator('#passkey-list li').count(), 2);
    await other.locator('button', { hasText: 'Remove' }).click();
    await other.locator('button', { hasText: 'Remove passkey' }).click();
    await waitMessage(page, /was removed from your account/);
    assert.deepEqual(await names(), ['Work laptop']);

    // Another device signs in with the same passkey (synced there); this page signs it out.
    const away = await open();
    const synced = await away.authenticator();
    await away.cdp.send('WebAuthn.addCredential', { authenticatorId: synced, credential: { ...kept, isResidentCredential: true } });
    await signIn(away.page, 'vera');
    await signedIn(away.page);
    await page.click('#refresh');
    await page.waitForFunction(() => document.querySelectorAll('#session-list li').length === 2);
    const here = page.locator('#session-list li', { hasText: 'This device' });
    assert.match(await here.textContent(), /Chrome on Linux.*Signed in with a passkey/s);
    assert.equal(await here.locator('button').count(), 0, 'this device signs out with Sign out above');
    await page.locator('#session-list li:not(:has-text("This device")) button', { hasText: 'Sign out' }).click();
    await waitMessage(page, /Signed out on Chrome on Linux/);
    assert.equal(await page.locator('#session-list li').count(), 1);
    // The other device's session has ended: its refresh is refused, and it is signed out.
    await away.page.click('#refresh');
    await away.page.waitForSelector('#signed-out:not([hidden])');
    await away.context.close();
    await context.close();
  });

  it('speaks the language the browser asks for (German here), with English as the default', async () => {
    const r = await fetch(`${edge.url}/login`, { headers: { 'accept-language': 'fr-CH, de;q=0.8, en;q=0.5' } });
    assert.equal(r.headers.get('content-language'), 'de');
    assert.match(r.headers.get('vary') ?? '', /accept-language/i);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self';/, 'the words come as data, not as a script');
    assert.equal((await fetch(`${edge.url}/login`, { headers: { 'accept-language': 'fr, ja' } })).headers.get('content-language'), 'en');
    assert.equal((await fetch(`${edge.url}/login?lang=de`, { headers: { 'accept-language': 'en' } })).headers.get('content-language'), 'de');

    const { page, authenticator, context } = await open(edge, { locale: 'de-DE' });
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    assert.equal(await page.textContent('#signin'), 'Mit Passkey anmelden');
    assert.equal(await page.textContent('label[for=signup-username]'), 'Benutzername');
    assert.match(await page.title(), /^Anmelden — /);
    if (process.env.TESSERA_SCREENSHOTS) await page.screenshot({ path: join(process.env.TESSERA_SCREENSHOTS, 'signed-out-german-light-1280.png'), fullPage: true });
    // The page's own words, an error by its field.
    await page.click('#signup');
    assert.equal(await waitMessage(page, /Benutzernamen/), 'Wählen Sie zuerst einen Benutzernamen.');
    await authenticator();
    await signUp(page, 'wilma');
    await signedIn(page);
    await waitMessage(page, /Konto ist bereit/);
    await page.waitForFunction(() => document.getElementById('signed-in-title').textContent === 'Angemeldet als wilma');
    assert.equal(await page.textContent('#recovery-codes h2'), 'Sichern Sie Ihre Wiederherstellungscodes');
    // Dates in German, and the edge's refusal said in German by its code.
    await page.click('#recovery-saved');
    await page.waitForFunction(() => /^Erstellt \d+\.\d+\.\d{4}/.test(document.querySelector('#passkey-list .item-meta')?.textContent ?? ''));
    await signOut(page);
    assert.equal(await message(page), 'Sie sind abgemeldet.');
    await page.click('#lost-passkey');
    await page.fill('#recover-username', 'wilma');
    await page.fill('#recover-code', 'zzzzz-zzzzz');
    await page.click('#recover-submit');
    assert.match(await waitMessage(page, /passen nicht zusammen/), /^Benutzername und Wiederherstellungscode/);
    await context.close();
  });

  it("wears the tenant's branding: its name, logo and accent colours, still readable in light and dark", async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" rx="8" fill="#6b21a8"/></svg>';
    const branding = { name: 'Acme Cloud', logo: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`, accent: '#6b21a8', accent_dark: '#d8b4fe' };
    const put = async (body) => fetch(`${origin.url}/v1/tenants/brand/branding`, {
      method: 'PUT', headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const refused = await put({ ...branding, accent: '#ffd700' });
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).message, /contrast/);
    assert.equal((await put(branding)).status, 200);
    const branded = await startEdge({ origin, host: 'localhost', vars: { LOGIN_TENANT: 'brand' } });
    try {
      for (const colorScheme of ['light', 'dark']) {
        const { page, authenticator, context } = await open(branded, { colorScheme, bypassCSP: true });
        assert.equal(await page.textContent('#page-title'), 'Acme Cloud');
        assert.match(await page.title(), /— Acme Cloud$/);
        const logo = page.locator('#brand-logo');
        assert.equal(await logo.getAttribute('alt'), '', 'decorative: the name beside it says it');
        assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth === 40), 'the logo loads under the CSP');
        const accent = colorScheme === 'light' ? 'rgb(107, 33, 168)' : 'rgb(216, 180, 254)';
        assert.equal(await page.$eval('#signin', (b) => getComputedStyle(b).backgroundColor), accent, 'the one main action of the screen');
        assert.equal(await page.locator('button.primary:visible').count(), 1, 'one main action per screen');
        assert.equal(await page.$eval('#lost-passkey', (b) => getComputedStyle(b).color), accent);
        await page.addScriptTag({ path: axeSource });
        const { violations } = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
        assert.deepEqual(violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id), [], colorScheme);
        if (process.env.TESSERA_SCREENSHOTS) await page.screenshot({ path: join(process.env.TESSERA_SCREENSHOTS, `branded-${colorScheme}-1280.png`), fullPage: true });
        // Signed in, the brand stays.
        await authenticator();
        await signUp(page, `brand-${colorScheme}`);
        await signedIn(page);
        assert.equal(await page.$eval('#recovery-saved', (b) => getComputedStyle(b).backgroundColor), accent);
        await context.close();
      }
      // Unbranded tenants keep the edge's name.
      assert.equal(await (await open()).page.textContent('#page-title'), 'Tessera');
    } finally {
      await branded.stop();
    }
  });

  it('has no serious accessibility violations (axe-core), light and dark, desktop and phone, signed out and in', async () => {
    for (const [size, colorScheme] of [[{ width: 1280, height: 900 }, 'light'], [{ width: 390, height: 844 }, 'dark']]) {
      // bypassCSP: only so that axe itself may be injected; the page runs as it always does.
      const { page, authenticator, context } = await open(edge, { viewport: size, colorScheme, bypassCSP: true });
      await authenticator();
      const check = async (screen) => {
        await page.addScriptTag({ path: axeSource });
        const { violations, passes } = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
        assert.ok(passes.some((p) => p.id === 'color-contrast'), 'axe checked the contrast');
        const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        assert.deepEqual(serious, [], `${colorScheme} ${size.width} px, ${screen}`);
        if (process.env.TESSERA_SCREENSHOTS) {
          const name = `${screen.replace(/[^a-z]+/g, '-')}-${colorScheme}-${size.width}.png`;
          await page.screenshot({ path: join(process.env.TESSERA_SCREENSHOTS, name), fullPage: true });
        }
      };
      const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(dark === 'rgb(22, 22, 24)', colorScheme === 'dark', dark);
      await check('signed out');
      await page.click('#signup');
      await waitMessage(page, /Choose a username/);
      await check('an error by its field');
      await signUp(page, `axe${size.width}`);
      await signedIn(page);
      await page.waitForSelector('#recovery-codes:not([hidden])');
      const codes = await page.locator('#recovery-list li').allTextContents();
      await check('signed up, saving recovery codes');
      await page.click('#recovery-saved');
      await page.click('#totp-enroll');
      await page.waitForSelector('#totp-setup:not([hidden])');
      await check('signed in, setting up an authenticator app');
      await signOut(page);
      await page.click('#lost-passkey');
      await page.fill('#recover-code', codes[0]);
      await page.click('#recover-submit');
      await waitMessage(page, /Enter your username/);
      await check('lost passkey, signing in with a recovery code');
      await page.fill('#recover-username', `axe${size.width}`);
      await page.click('#recover-submit');
      await page.waitForSelector('#must-add-passkey:not([hidden])');
      await check('signed in with a recovery code, adding a passkey');
      await context.close();
    }
  });

  it('enforces a user-verification-required policy', async () => {
    const { page, authenticator, context } = await open(strictEdge);
    await authenticator();
    // The authenticator verified the user: fine.
    await signUp(page, 'dave');
    await signedIn(page);
    assert.ok((await claims(page)).amr.includes('mfa'));
    await signOut(page);
    // An answer without the UV flag (an authenticator that only tested presence) is refused.
    await page.route('**/v1/passkeys/register/verify', async (route) => {
      const body = JSON.parse(route.request().postData());
      const att = isoCBOR.decodeFirst(new Uint8Array(Buffer.from(body.credential.response.attestationObject, 'base64url')));
      const authData = att.get('authData');
      authData[32] &= ~0x04;
      body.credential.response.attestationObject = Buffer.from(isoCBOR.encode(att)).toString('base64url');
      await route.continue({ postData: JSON.stringify(body) });
    });
    const refused = page.waitForResponse('**/v1/passkeys/register/verify');
    await signUp(page, 'erin');
    const r = await refused;
    assert.equal((await r.json()).error, 'user_not_verified');
    assert.match(await waitMessage(page, /verify it is you/), /PIN, fingerprint or face/);
    await context.close();
  });
});
