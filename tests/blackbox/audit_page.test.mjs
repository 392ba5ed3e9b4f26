// The audit dashboard (/audit on the origin) in Chromium: after a run of real traffic through the Worker
// (client tokens, a refused one, checks answered by the origin, the isolate and KV, denials, a sign-up
// and a sign-in with a software authenticator), the page's charts and tables show it, at desktop and phone widths, under
// its strict CSP with no error. Sign-in takes the admin token; wrong ones run out a budget.
// With TESSERA_SCREENSHOT=path the desktop view is saved there (docs/audit-dashboard.png is one).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startOrigin, startEdge, getToken, basic, randomToken } from './harness.mjs';
import { people } from './people.mjs';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

const SCHEMA = `definition user {}
definition client {}
definition doc {
    relation viewer: user | client
    permission view = viewer
    permission edit = viewer
}
definition folder {
    relation owner: user | client
    permission delete = owner
}
`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the audit dashboard in Chromium', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, browser;
  // The dashboard's own credential (the origin refuses the service token as one).
  const adminToken = randomToken();
  const admin = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };

  before(async () => {
    origin = await startOrigin({ args: ['--admin-token', adminToken] });
    assert.equal((await admin('PUT', '/schema', SCHEMA)).status, 200);
    const client = await origin.createClient({ tenant: 'acme', scopes: ['authz:check'] });
    edge = await startEdge({ origin, host: 'localhost', build: 'build-bench', vars: { LOGIN_TENANT: 'acme', BENCH_ROUTES: 'danger-enabled' } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });

    // Real traffic: tokens, a refusal, checks at every tier, denials, a sign-up.
    const token = (await getToken(edge, client)).access_token;
    await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, 'wrong') },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    assert.equal((await admin('POST', '/relationships/write', {
      updates: [{ operation: 'touch', relationship: `doc:a#viewer@client:${client.client_id}` }],
    })).status, 200);
    const check = (resource, permission, subject, consistency) => fetch(`${edge.url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(consistency ? { resource, permission, subject, consistency } : { resource, permission, subject }),
    }).then((r) => r.json());
    const me = `client:${client.client_id}`;
    await check('doc:a', 'view', me, 'fully_consistent');
    for (let i = 0; i < 20; i++) await check('doc:a', 'view', me);
    for (let i = 0; i < 6; i++) await check(`doc:b${i}`, 'view', me);
    for (let i = 0; i < 3; i++) await check(`folder:f${i}`, 'delete', me);
    // Isolate memory emptied, answers come from KV (once the edge's KV write has landed).
    for (let i = 0; i < 30; i++) {
      await fetch(`${edge.url}/__bench/forget?n=1`, { method: 'POST' });
      const r = await fetch(`${edge.url}/v1/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'doc:a', permission: 'view', subject: me }),
      });
      if (r.headers.get('tessera-cache') === 'kv') break;
      await sleep(100);
    }
    const p = people(edge);
    const { device } = await p.signUp('dana');
    assert.equal((await p.signIn(device, 'dana')).status, 200);
    // Everything delivered (the edge's events come through its queue).
    for (let i = 0; i < 100; i++) {
      const stats = (await admin('GET', '/audit/stats')).body;
      const decisions = stats.per_minute.reduce((n, m) => n + m.allowed + m.denied, 0);
      if (decisions >= 31 && stats.per_minute.some((m) => m.sign_ins > 0)) break;
      await sleep(200);
    }
  });
  after(async () => {
    await browser?.close();
    await edge?.stop();
    await origin?.stop();
  });

  async function signedInPage(viewport) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${origin.url}/audit`);
    assert.match(page.url(), /\/audit\/login$/, 'the page asks for a sign-in first');
    await page.fill('#token', adminToken);
    await Promise.all([
      page.waitForURL(`${origin.url}/audit`, { waitUntil: 'commit', timeout: 30_000 }),
      page.click('#sign-in'),
    ]);
    await page.waitForSelector('#tenant');
    return { context, page, problems };
  }

  it('charts the run: decisions, latency by tier, sign-ins and failures, the most denied', async () => {
    const { context, page, problems } = await signedInPage({ width: 1280, height: 900 });
    await page.fill('#tenant', 'acme');
    await page.click('#refresh');
    await page.waitForFunction(() => document.body.dataset.rendered && document.getElementById('sum-decisions').textContent !== '–', null, { timeout: 30_000 });
    await page.waitForFunction(() => Number(document.getElementById('sum-decisions').textContent.replace(/\D/g, '')) >= 31, null, { timeout: 30_000 });
    assert.equal(await page.getAttribute('#chart-decisions', 'data-empty'), 'false');
    assert.ok(Number(await page.getAttribute('#chart-decisions', 'data-points')) > 0);
    assert.equal(await page.getAttribute('#chart-signins', 'data-empty'), 'false');
    // Each chart is drawn (uPlot draws on a canvas).
    for (const id of ['chart-decisions', 'chart-signins', 'chart-latency']) {
      assert.equal(await page.locator(`#${id} canvas`).count(), 1, id);
    }
    const tiers = await page.locator('#table-latency tbody tr th, #table-latency tbody tr td:first-child').allTextContents();
    for (const tier of ['isolate', 'kv', 'origin']) assert.ok(tiers.some((t) => t.includes(tier)), `${tier} in ${tiers}`);
    const denied = await page.locator('#table-denied tbody tr').allTextContents();
    assert.match(denied[0], /doc#view/);
    assert.match(denied[0], /6/);
    assert.match(denied[1], /folder#delete/);
    assert.match(await page.textContent('#sum-denied-count'), /9 of/);
    assert.equal((await page.textContent('#sum-sign-ins')).trim(), '1');
    assert.equal((await page.textContent('#sum-auth-failures')).trim(), '1');
    if (process.env.TESSERA_SCREENSHOT) await page.screenshot({ path: process.env.TESSERA_SCREENSHOT, fullPage: true });
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('fits a phone without sideways scrolling', async () => {
    const { context, page, problems } = await signedInPage({ width: 375, height: 800 });
    await page.fill('#tenant', 'acme');
    await page.click('#refresh');
    await page.waitForFunction(() => document.body.dataset.rendered, null, { timeout: 30_000 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow}px`);
    assert.deepEqual(problems, []);
    await context.close();
  });

  it('keeps its data behind the sign-in and makes wrong tokens wait', async () => {
    const stats = await fetch(`${origin.url}/audit/data/stats?tenant=acme`);
    assert.equal(stats.status, 401);
    const page = await fetch(`${origin.url}/audit`, { redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    const forged = await fetch(`${origin.url}/audit/data/stats?tenant=acme`, { headers: { cookie: `tessera_audit=${Date.now() + 60_000}.${'0'.repeat(64)}` } });
    assert.equal(forged.status, 401);
    const tryToken = (token) => fetch(`${origin.url}/audit/login`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    assert.equal((await tryToken(origin.serviceToken)).headers.get('location'), '/audit/login?error=1');
    for (let i = 0; i < 4; i++) assert.equal((await tryToken('wrong')).headers.get('location'), '/audit/login?error=1');
    await tryToken('wrong');
    // The service token is not the admin token.
    // Now even the right token waits (from this address).
    const right = await tryToken(adminToken);
    assert.equal(right.headers.get('location'), '/audit/login?error=wait');
    assert.equal(right.headers.get('set-cookie'), null);
  });
});
