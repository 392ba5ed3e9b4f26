// The audit trail from outside: real traffic through the real Worker in workerd (client tokens, sign-up and
// sign-in in Chromium with its virtual authenticator, a software authenticator's refresh, reuse and TOTP
// with pyotp's codes, checks answered by each tier) and writes at the real origin; then the origin's audit
// holds exactly the expected events, delivered through the Worker's local Queue, with no secret in them.
// The origin killed while the edge goes on answering: its events wait in the queue and arrive once each.
// `tessera-origin audit explain` replays a recorded denial. The chain: `tessera-origin audit verify`
// passes, then catches a record edited in the database.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startOrigin, startEdge, getToken, verifyAtEdge, introspect, basic, python, run, waitForLog, loginContext } from './harness.mjs';
import { people } from './people.mjs';

const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM) && process.env.TESSERA_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup --test`);

const SCHEMA = `definition user {}
definition client {}
definition doc {
    relation viewer: user | client
    relation banned: user | client
    permission view = viewer - banned
}
`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the audit trail', { skip: existsSync(CHROMIUM) ? false : 'no Chromium' }, () => {
  let origin, edge, client, reader, browser;
  /** Every secret the run handed out: none may appear in the audit trail or the origin's database. */
  const secrets = new Set();

  const admin = async (method, path, body) => {
    const r = await fetch(`${origin.url}/v1/tenants/acme${path}`, {
      method,
      headers: { authorization: `Bearer ${origin.serviceToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json() };
  };
  const audit = async (query = '') => {
    const r = await admin('GET', `/audit?limit=1000${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.events;
  };
  const check = async (token, resource, permission, subject, consistency) => {
    const r = await fetch(`${edge.url}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(consistency ? { resource, permission, subject, consistency } : { resource, permission, subject }),
    });
    const body = await r.json();
    assert.equal(r.status, 200, JSON.stringify(body));
    return { allowed: body.allowed, tier: r.headers.get('tessera-cache') };
  };
  /** Wait until `want` events of `query` are stored, then a little longer to see that no more come. */
  const settle = async (want, query = '') => {
    let events = [];
    for (let i = 0; i < 150 && events.length < want; i++) {
      await sleep(200);
      events = await audit(query);
    }
    await sleep(2500);
    return audit(query);
  };
  const tally = (events) => {
    const out = {};
    for (const e of events) {
      const key = [e.kind, e.outcome, e.tier].filter(Boolean).join(' ');
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  };

  before(async () => {
    origin = await startOrigin();
    assert.equal((await admin('PUT', '/schema', SCHEMA)).status, 200);
    client = await origin.createClient({ tenant: 'acme', scopes: ['authz:check'] });
    reader = await origin.createClient({ tenant: 'acme', scopes: ['read'] });
    secrets.add(client.client_secret).add(reader.client_secret).add(origin.serviceToken);
    edge = await startEdge({
      origin,
      host: 'localhost',
      build: 'build-bench',
      // A long staleness bound: while the origin is down the edge keeps answering from its caches.
      vars: { LOGIN_TENANT: 'acme', BENCH_ROUTES: 'danger-enabled', CHECK_MAX_STALENESS_MS: '60000' },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    await edge?.stop();
    await origin?.stop();
  });

  it('holds exactly the events of a run of real traffic, and none of its secrets', async () => {
    const expected = {};
    const expect = (key, n = 1) => { expected[key] = (expected[key] ?? 0) + n; };
    expect('schema.written success');
    expect('client.created success', 2);

    // Client tokens: issued, refused, verified wrongly (sampled), introspected.
    const token = (await getToken(edge, client)).access_token;
    secrets.add(token);
    expect('token.issued success');
    secrets.add('not-the-secret-0123456789');
    const refused = await fetch(`${edge.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, 'not-the-secret-0123456789') },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    assert.equal(refused.status, 401);
    expect('token.refused failure');
    for (const bad of ['x.y.z', token.slice(0, -4) + 'AAAA', 'nonsense']) {
      assert.equal((await verifyAtEdge(edge, bad)).status, 401);
    }
    expect('token.verify_failed failure', 3);
    assert.equal((await introspect(edge, reader, token)).status, 200);
    expect('token.introspected success');

    // Writes at the origin.
    const w = await admin('POST', '/relationships/write', {
      updates: [
        { operation: 'touch', relationship: `doc:readme#viewer@client:${client.client_id}` },
        { operation: 'touch', relationship: 'doc:readme#viewer@user:mallory' },
        { operation: 'touch', relationship: 'doc:readme#banned@user:mallory' },
      ],
    });
    assert.equal(w.status, 200);
    expect('relationships.written success');

    // Checks, each recorded with the tier that answered (as the edge's `tessera-cache` header says).
    const asked = [
      await check(token, 'doc:readme', 'view', `client:${client.client_id}`, 'fully_consistent'),
      await check(token, 'doc:readme', 'view', `client:${client.client_id}`),
      await check(token, 'doc:readme', 'view', 'user:mallory'),
      await check(token, 'doc:readme', 'view', 'user:mallory'),
    ];
    // Isolate memory emptied, the answer comes from KV (once the edge's KV write has landed).
    for (let i = 0; i < 30 && asked.at(-1).tier !== 'kv'; i++) {
      assert.equal((await fetch(`${edge.url}/__bench/forget?n=1`, { method: 'POST' })).status, 200);
      asked.push(await check(token, 'doc:readme', 'view', `client:${client.client_id}`));
      if (asked.at(-1).tier !== 'kv') await sleep(100);
    }
    assert.deepEqual(asked.map((a) => a.allowed), [true, true, false, false, ...asked.slice(4).map(() => true)]);
    assert.deepEqual(new Set(asked.map((a) => a.tier)), new Set(['origin', 'isolate', 'kv']), JSON.stringify(asked));
    for (const a of asked) expect(`check.decision ${a.allowed ? 'allowed' : 'denied'} ${a.tier}`);

    // A person in Chromium: sign up with the virtual authenticator, sign out, sign in again.
    const context = await loginContext(browser);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${edge.url}/login`);
    await page.fill('#signup-username', 'alice');
    await page.fill('#signup-display', 'Alice');
    await page.click('#signup');
    await page.waitForSelector('#signed-in:not([hidden])', { timeout: 15_000 });
    expect('passkey.registered success');
    expect('recovery.codes_issued success');
    for (const c of await page.locator('#recovery-list li').allTextContents()) secrets.add(c);
    await page.click('#logout');
    await page.waitForSelector('#signed-out:not([hidden])');
    expect('session.logout success');
    await page.fill('#signin-username', 'alice');
    await page.click('#signin');
    await page.waitForSelector('#signed-in:not([hidden])', { timeout: 15_000 });
    expect('passkey.sign_in success');
    await context.close();

    // A person with a software authenticator: a refused sign-in, refresh, reuse, TOTP.
    const p = people(edge, reader);
    const { tokens, device } = await p.signUp('bob');
    secrets.add(tokens.access_token).add(tokens.refresh_token);
    for (const c of tokens.recovery_codes) secrets.add(c).add(c.replace('-', ''));
    expect('passkey.registered success');
    expect('recovery.codes_issued success');
    const forged = await p.signIn(device, 'bob', { tamper: true });
    assert.equal(forged.status, 400, JSON.stringify(forged.body));
    expect('passkey.sign_in failure');
    const next = await p.refresh(tokens.refresh_token);
    assert.equal(next.status, 200);
    secrets.add(next.body.access_token).add(next.body.refresh_token);
    expect('refresh.rotated success');
    const reused = await p.refresh(tokens.refresh_token);
    assert.equal(reused.status, 400);
    expect('refresh.reused failure');
    const again = await p.signIn(device, 'bob');
    assert.equal(again.status, 200, JSON.stringify(again.body));
    secrets.add(again.body.access_token).add(again.body.refresh_token);
    expect('passkey.sign_in success');
    const bearer = again.body.access_token;
    const enrolled = await p.post('/v1/totp/enroll', {}, bearer);
    assert.equal(enrolled.status, 200);
    secrets.add(enrolled.body.secret);
    const code = async () => (await run(python, ['-c', `import pyotp,time; print(pyotp.TOTP(${JSON.stringify(enrolled.body.secret)}).at(time.time() - 30))`])).stdout.trim();
    const wrong = (await code()) === '000000' ? '111111' : '000000';
    assert.equal((await p.post('/v1/totp/confirm', { code: wrong }, bearer)).body.error, 'totp_mismatch');
    expect('totp.enrolled failure');
    const first = await code();
    assert.equal((await p.post('/v1/totp/confirm', { code: first }, bearer)).status, 200);
    expect('totp.enrolled success');
    const codes = [wrong, first];

    const events = await settle(Object.values(expected).reduce((a, b) => a + b, 0));
    assert.deepEqual(tally(events), expected);
    // Each event names where it was recorded, and the edge's carry the request they belong to.
    for (const e of events) {
      assert.match(e.id, /^[0-9a-f]{32}$/);
      assert.equal(e.tenant, 'acme');
      if (e.source === 'edge') assert.match(e.request_id, /^[0-9A-Za-z-]{1,64}$/, JSON.stringify(e));
    }
    const issued = events.find((e) => e.kind === 'token.issued');
    assert.deepEqual([issued.actor.kind, issued.actor.id], ['client', client.client_id]);
    // A wrong secret for a known client is that client's refusal, in its tenant.
    const refusedEvent = events.find((e) => e.kind === 'token.refused');
    assert.deepEqual([refusedEvent.actor.kind, refusedEvent.actor.id, refusedEvent.code], ['client', client.client_id, 'invalid_client']);
    const denied = events.find((e) => e.kind === 'check.decision' && e.outcome === 'denied');
    assert.equal(denied.subject, 'user:mallory');
    assert.equal(denied.permission, 'view');
    assert.ok(Number.isInteger(denied.revision));
    // A denial carries its reason path, computed by the origin at the revision the edge answered at.
    assert.equal(denied.detail?.why?.allowed, false, JSON.stringify(denied));
    // Replayed from the record: the same answer and path at its revision; once the ban is lifted, the
    // head answers otherwise, and the replay says so.
    const replay = await origin.cli(['audit', 'explain', denied.id, '--tenant', 'acme']);
    assert.match(replay.stdout, /replayed at that revision \(revision \d+\): denied — same answer, same path/);
    assert.equal((await admin('POST', '/relationships/write', { updates: [{ operation: 'delete', relationship: 'doc:readme#banned@user:mallory' }] })).status, 200);
    const later = JSON.parse((await origin.cli(['audit', 'explain', denied.id, '--tenant', 'acme', '--json'])).stdout);
    assert.equal(later.at_revision.same_answer, true);
    assert.equal(later.at_head.allowed, true);
    assert.equal(later.at_head.same_answer, false);
    const reuse = events.find((e) => e.kind === 'refresh.reused');
    assert.equal(reuse.code, 'refresh_reused');

    // No secret anywhere: not in the events, not in the origin's database files.
    const text = JSON.stringify(events);
    for (const s of secrets) assert.ok(!text.includes(s), 'a secret reached the audit trail');
    const strings = [];
    const walk = (v) => {
      if (typeof v === 'string') strings.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
    };
    walk(events);
    for (const c of codes) assert.ok(!strings.some((s) => s.includes(c)), `TOTP code ${c} reached the audit trail`);
    for (const f of readdirSync(origin.dir)) {
      const bytes = readFileSync(join(origin.dir, f)).toString('latin1');
      for (const s of secrets) assert.ok(!bytes.includes(s), `a secret is in ${f}`);
    }
  });

  it('loses and doubles nothing while the origin is down, and the chain catches an edited record', async () => {
    const token = (await getToken(edge, client)).access_token;
    const before = (await audit()).length;
    // Warm the isolate at the head, then take the origin away.
    await check(token, 'doc:readme', 'view', `client:${client.client_id}`, 'fully_consistent');
    assert.equal((await check(token, 'doc:readme', 'view', `client:${client.client_id}`)).tier, 'isolate');
    await origin.kill();
    const N = 12;
    for (let i = 0; i < N; i++) {
      const a = await check(token, 'doc:readme', 'view', `client:${client.client_id}`);
      assert.equal(a.allowed, true);
      assert.equal(a.tier, 'isolate');
    }
    // The queue's consumer fails against the dead origin and leaves the batch to be retried later.
    await waitForLog(edge.proc, /"event":"audit_delivery_failed"/, 15_000);
    await origin.restart();
    const events = await settle(before + 3 + N);
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'an event was stored twice');
    const decisions = events.slice(0, events.length - before).filter((e) => e.kind === 'check.decision');
    assert.equal(decisions.length, N + 2, JSON.stringify(tally(events.slice(0, events.length - before))));

    // The chain is whole; an edit made in the database (the trigger dropped first) is found.
    const verify = await origin.cli(['audit', 'verify', '--tenant', 'acme']);
    assert.match(verify.stdout, /acme: chain whole/);
    await origin.kill();
    const db = join(origin.dir, 'origin.sqlite3');
    await run(python, ['-c', `import sqlite3; c = sqlite3.connect(${JSON.stringify(db)}); c.execute("DROP TRIGGER audit_events_append_only"); c.execute("UPDATE audit_events SET outcome = 'allowed' WHERE tenant = 'acme' AND seq = (SELECT MIN(seq) FROM audit_events WHERE tenant = 'acme' AND outcome = 'denied')"); c.commit()`]);
    const broken = await origin.cli(['audit', 'verify', '--tenant', 'acme']).catch((e) => e);
    assert.match(`${broken.stdout}`, /CHAIN BROKEN/);
    assert.match(`${broken.stdout}`, /edited/);
    await origin.restart();
  });
});
