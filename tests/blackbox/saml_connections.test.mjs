// SAML connections from outside, against the real origin binary over HTTP (SQLite): an operator creates
// connections with the CLI (`tessera-origin saml create|list|show|delete`) and the admin API from IdP
// metadata made here (fresh self-signed certificates from python `cryptography`; no key is written
// anywhere); metadata without a signing certificate is refused by both. Our SP metadata is validated
// against the OASIS SAML 2.0 schemas (pysaml2's copies, its validator); SP-initiated login is followed
// to the IdP: the AuthnRequest is inflated with node's zlib, validated against the protocol schema, its
// fields checked, and the HTTP-Redirect signature verified with node's crypto and the certificate our
// metadata publishes. Hostile return addresses are refused; the edge's domain look-up answers.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { X509Certificate, createHash, verify } from 'node:crypto';
import { startOrigin, samlPython as python, run, root } from './harness.mjs';

const tool = join(root, 'tests', 'blackbox', 'saml_tool.py');
const REDIRECT_SSO = 'https://idp.acme.test/sso/redirect';
/** What the login page sends: the base64url SHA-256 of a verifier it keeps. */
const BINDING = 'Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9';
const POST_SSO = 'https://idp.acme.test/sso/post';

describe('SAML connections', () => {
  let origin, dir, auth;
  const files = {};

  const idpMetadata = async (name, args) => {
    const { stdout } = await run(python, [tool, 'idp-metadata', ...args]);
    const path = join(dir, `${name}.xml`);
    writeFileSync(path, stdout);
    return { path, xml: stdout };
  };
  const validate = async (name, xml) => {
    const path = join(dir, name);
    writeFileSync(path, xml);
    const r = await run(python, [tool, 'validate', path]).catch((e) => e);
    assert.equal(r.code ?? 0, 0, `${name} is not schema-valid:\n${r.stdout}${r.stderr ?? ''}`);
    assert.match(r.stdout, /^valid /);
  };
  const cli = (args) => origin.cli(['saml', '--public-url', origin.url, ...args]);
  const api = async (method, path, body) => {
    const r = await fetch(`${origin.url}${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const sha256 = (b64) => createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
  const certsOf = (xml) => [...xml.matchAll(/<ds:X509Certificate>([^<]+)<\/ds:X509Certificate>/g)].map((m) => m[1]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-saml-'));
    origin = await startOrigin();
    auth = `Bearer ${origin.serviceToken}`;
    files.okta = await idpMetadata('okta', ['--entity-id', 'https://idp.acme.test/entity', '--sso-redirect', REDIRECT_SSO,
      '--sso-post', POST_SSO, '--want-signed', '--certificates', '2']);
    files.nokey = await idpMetadata('nokey', ['--entity-id', 'https://idp.acme.test/entity', '--sso-redirect', REDIRECT_SSO, '--no-signing-key']);
    files.post = await idpMetadata('post', ['--entity-id', 'https://idp.globex.test/entity', '--sso-post', POST_SSO]);
  });
  after(async () => {
    await origin?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the CLI creates a connection, lists and shows it; refuses metadata without a signing key, a taken name or domain', async () => {
    const { stdout } = await cli(['create', '--tenant', 'acme', '--name', 'okta', '--idp-metadata', files.okta.path,
      '--display-name', 'Acme Okta', '--email-domain', 'Acme.TEST', '--attribute-map', 'email=mail,groups=memberOf',
      '--attribute-map', 'external_id=urn:oid:2.16.840.1.113730.3.1.3', '--relay-allow', 'https://app.acme.test/home', '--json']);
    const c = JSON.parse(stdout);
    assert.equal(c.tenant, 'acme');
    assert.equal(c.connection, 'okta');
    assert.equal(c.sp.entity_id, `${origin.url}/saml/acme/okta/metadata`);
    assert.equal(c.sp.acs_url, `${origin.url}/saml/acme/okta/acs`);
    assert.deepEqual(c.email_domains, ['acme.test']);
    assert.deepEqual(c.attribute_map, { email: 'mail', groups: 'memberOf', external_id: 'urn:oid:2.16.840.1.113730.3.1.3' });
    assert.deepEqual(c.idp.signing_certificates_sha256, certsOf(files.okta.xml).map(sha256), 'both certificates, for rollover');
    assert.equal(c.idp.want_authn_requests_signed, true);
    assert.equal(c.sp.certificate_sha256, sha256(c.sp.certificate));
    assert.ok(!/PRIVATE|sealed/i.test(stdout), 'no private key printed');

    const refused = async (args, code) => {
      const r = await cli(args).catch((e) => e);
      assert.notEqual(r.code ?? 0, 0, `${args.join(' ')} should fail`);
      assert.match(r.stderr, new RegExp(code), r.stderr);
    };
    await refused(['create', '--tenant', 'acme', '--name', 'nokey', '--idp-metadata', files.nokey.path], 'saml_metadata_no_signing_key');
    await refused(['create', '--tenant', 'acme', '--name', 'okta', '--idp-metadata', files.okta.path], 'saml_connection_exists');
    await refused(['create', '--tenant', 'globex', '--name', 'x', '--idp-metadata', files.okta.path, '--email-domain', 'acme.test'], 'saml_domain_taken');
    await refused(['create', '--tenant', 'globex', '--name', 'x', '--idp-metadata', files.okta.path, '--attribute-map', 'phone=tel'], 'unknown attribute map key');
    await refused(['create', '--tenant', 'globex', '--name', 'x', '--idp-metadata', files.okta.path, '--signed-part', 'header'], 'signed part');

    const list = await cli(['list']);
    assert.equal(list.stdout.trim(), 'acme\tokta\thttps://idp.acme.test/entity\tAcme Okta');
    const show = (await cli(['show', '--tenant', 'acme', 'okta'])).stdout;
    for (const line of [
      `idp entity id:         https://idp.acme.test/entity`,
      `idp sso (redirect):    ${REDIRECT_SSO}`,
      `idp sso (post):        ${POST_SSO}`,
      ...certsOf(files.okta.xml).map((b) => `idp signing cert:      sha256 ${sha256(b)}`),
      `sp entity id:          ${origin.url}/saml/acme/okta/metadata`,
      `sp acs url:            ${origin.url}/saml/acme/okta/acs`,
      `sp metadata url:       ${origin.url}/saml/acme/okta/metadata`,
      `sp certificate:        sha256 ${c.sp.certificate_sha256}`,
    ]) {
      assert.ok(show.includes(line), `show lacks ${line}:\n${show}`);
    }
  });

  it('the admin API creates, lists, shows and deletes; refuses metadata without a signing key', async () => {
    const create = (body) => api('POST', '/v1/tenants/globex/saml/connections', body);
    let r = await create({ name: 'entra', idp_metadata: files.nokey.xml });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'saml_metadata_no_signing_key');
    r = await create({ name: 'entra', idp_metadata: files.post.xml, email_domains: ['acme.test'] });
    assert.equal(r.status, 409);
    assert.equal(r.body.error, 'saml_domain_taken');
    r = await fetch(`${origin.url}/v1/tenants/globex/saml/connections`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 401);

    r = await create({ name: 'entra', display_name: 'Globex', idp_metadata: files.post.xml, email_domains: ['globex.test'],
      signed_part: 'response', attribute_map: { email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.signed_part, 'response');
    assert.equal(r.body.idp.sso_post, POST_SSO);
    assert.equal(r.body.idp.sso_redirect, undefined);
    const listed = await api('GET', '/v1/tenants/globex/saml/connections');
    assert.deepEqual(listed.body.connections, [r.body]);
    assert.deepEqual((await api('GET', '/v1/tenants/globex/saml/connections/entra')).body, r.body);

    const found = await api('GET', '/internal/v1/saml/domains/GLOBEX.test');
    assert.deepEqual(found.body, { tenant: 'globex', connection: 'entra', display_name: 'Globex',
      login_url: `${origin.url}/saml/globex/entra/login` });

    // HTTP-POST only: the login page posts an AuthnRequest (schema-valid) to the IdP by script, under a nonce'd CSP.
    const page = await fetch(`${origin.url}/saml/globex/entra/login?relay_state=/welcome&binding=${BINDING}`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy');
    const nonce = /'nonce-([^']+)'/.exec(csp)[1];
    const html = await page.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`));
    assert.ok(html.includes(`action="${POST_SSO}"`));
    const request = Buffer.from(/name="SAMLRequest" value="([^"]+)"/.exec(html)[1], 'base64').toString();
    await validate('post-request.xml', request);
    assert.match(request, new RegExp(`Destination="${POST_SSO}"`));

    r = await api('DELETE', '/v1/tenants/globex/saml/connections/entra');
    assert.equal(r.status, 204);
    assert.equal((await api('GET', '/v1/tenants/globex/saml/connections/entra')).status, 404);
    assert.equal((await api('GET', '/internal/v1/saml/domains/globex.test')).status, 404);
    assert.equal((await fetch(`${origin.url}/saml/globex/entra/metadata`)).status, 404);
  });

  it('our SP metadata is valid against the SAML 2.0 metadata schema and names our certificate', async () => {
    const r = await fetch(`${origin.url}/saml/acme/okta/metadata`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/samlmetadata+xml');
    const xml = await r.text();
    await validate('sp-metadata.xml', xml);
    const shown = (await api('GET', '/v1/tenants/acme/saml/connections/okta')).body;
    assert.deepEqual(certsOf(xml), [shown.sp.certificate, shown.sp.certificate], 'signing and encryption');
    assert.match(xml, new RegExp(`entityID="${shown.sp.entity_id}"`));
    assert.match(xml, /AuthnRequestsSigned="true"/, 'the IdP wants signed requests');
  });

  it('SP-initiated login redirects with a schema-valid, signed AuthnRequest; hostile return addresses are refused', async () => {
    const r = await fetch(`${origin.url}/saml/acme/okta/login?relay_state=${encodeURIComponent('/after?x=1')}&binding=${BINDING}`, { redirect: 'manual' });
    assert.equal(r.status, 303);
    const location = r.headers.get('location');
    assert.ok(location.startsWith(`${REDIRECT_SSO}?SAMLRequest=`), location);
    const query = location.slice(location.indexOf('?') + 1);
    const params = new URLSearchParams(query);
    assert.deepEqual([...params.keys()], ['SAMLRequest', 'RelayState', 'SigAlg', 'Signature']);
    const xml = inflateRawSync(Buffer.from(params.get('SAMLRequest'), 'base64')).toString();
    await validate('redirect-request.xml', xml);
    assert.match(xml, new RegExp(`Destination="${REDIRECT_SSO}"`));
    assert.match(xml, new RegExp(`AssertionConsumerServiceURL="${origin.url}/saml/acme/okta/acs"`));
    assert.match(xml, new RegExp(`<saml:Issuer>${origin.url}/saml/acme/okta/metadata</saml:Issuer>`));
    assert.match(xml, /ID="_[0-9a-f]{64}"/);
    const relay = params.get('RelayState');
    assert.ok(relay.length <= 80 && !relay.includes('after'), 'an opaque token, not the address');
    assert.equal(params.get('SigAlg'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');

    // SAML bindings §3.4.4.1: the signature is over the parameters as they appear in the URL.
    const signed = query.slice(0, query.indexOf('&Signature='));
    const shown = (await api('GET', '/v1/tenants/acme/saml/connections/okta')).body;
    const cert = new X509Certificate(Buffer.from(shown.sp.certificate, 'base64'));
    const signature = Buffer.from(params.get('Signature'), 'base64');
    assert.ok(verify('sha256', Buffer.from(signed), cert.publicKey, signature), 'the redirect signature verifies');
    assert.ok(!verify('sha256', Buffer.from(signed + 'x'), cert.publicKey, signature));

    // An allow-listed absolute URL is accepted; everything that could leave for another host is not.
    const ok = await fetch(`${origin.url}/saml/acme/okta/login?RelayState=${encodeURIComponent('https://app.acme.test/home')}&binding=${BINDING}`, { redirect: 'manual' });
    assert.equal(ok.status, 303);
    for (const hostile of ['//evil.test', '/\\evil.test', 'https://evil.test/', 'javascript:alert(1)', '/\t/evil.test',
      'https://app.acme.test/home/', 'https://app.acme.test/home@evil.test', `/${'a'.repeat(600)}`]) {
      const bad = await fetch(`${origin.url}/saml/acme/okta/login?relay_state=${encodeURIComponent(hostile)}&binding=${BINDING}`, { redirect: 'manual' });
      assert.equal(bad.status, 400, JSON.stringify(hostile));
      assert.equal((await bad.json()).error, 'saml_relay_state_refused');
    }
    assert.equal((await fetch(`${origin.url}/saml/acme/nope/login?binding=${BINDING}`, { redirect: 'manual' })).status, 404);
  });

  it('the CLI deletes a connection: its metadata, login and domain are gone', async () => {
    const { stdout } = await cli(['delete', '--tenant', 'acme', 'okta']);
    assert.equal(stdout.trim(), 'deleted acme/okta');
    assert.equal((await fetch(`${origin.url}/saml/acme/okta/metadata`)).status, 404);
    assert.equal((await fetch(`${origin.url}/saml/acme/okta/login?binding=${BINDING}`, { redirect: 'manual' })).status, 404);
    assert.equal((await api('GET', '/internal/v1/saml/domains/acme.test')).status, 404);
    const r = await cli(['delete', '--tenant', 'acme', 'okta']).catch((e) => e);
    assert.notEqual(r.code ?? 0, 0);
  });
});
