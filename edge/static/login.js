// The Tessera login page: passkey sign-up and sign-in (with autofill where the browser offers it), sign-in
// with your company (SAML), recovery codes (shown once, "Lost your passkey?"), TOTP enrolment and step-up,
// session refresh and sign-out. Tokens live in this page's memory only.
'use strict';

const $ = (id) => document.getElementById(id);

// The page's words in its language: the edge writes them into the page (`#strings`) in the language the
// browser asks for (`Accept-Language`, or `?lang=`). `{name}` marks a value; a key with a count `n` has
// `.one` and `.other` forms (Intl.PluralRules). The edge's own messages are English: where the page knows
// a refusal's code (`error.<code>`), it says it in the page's language instead.
const STRINGS = JSON.parse(($('strings') || {}).textContent || '{}');
const LANG = document.documentElement.lang || 'en';
function t(key, vars = {}) {
  let text = STRINGS[key];
  if (typeof vars.n === 'number') text = STRINGS[key + '.' + new Intl.PluralRules(LANG).select(vars.n)] ?? STRINGS[key + '.other'] ?? text;
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (whole, k) => (k in vars ? String(vars[k]) : whole));
}
const state = { access: null, refresh: null };
let conditional = null; // the pending autofill request, aborted before any other ceremony

const b64 = {
  decode(s) {
    const pad = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
    return Uint8Array.from(atob(pad), (c) => c.charCodeAt(0)).buffer;
  },
  encode(buf) {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  },
};

/** The field marked invalid by the last error, if any. */
let invalid = null;

/**
 * Say `text`. Where the person is looking: inside `near` (the form or section they acted in) when given,
 * else at the top. An error is an alert; with a `field` that caused it, the field is marked invalid,
 * described by the message, and focused.
 */
function say(text, kind = 'ok', near = null, field = null) {
  const m = $('message');
  if (invalid) {
    invalid.removeAttribute('aria-invalid');
    const own = invalid.dataset.describedby;
    if (own) invalid.setAttribute('aria-describedby', own); else invalid.removeAttribute('aria-describedby');
    invalid = null;
  }
  m.textContent = text;
  m.className = text ? kind : '';
  m.setAttribute('role', text && kind === 'error' ? 'alert' : 'status');
  if (near) near.append(m); else $('page-title').after(m);
  if (field && text && kind === 'error') {
    invalid = field;
    if (!('describedby' in field.dataset)) field.dataset.describedby = field.getAttribute('aria-describedby') || '';
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', (field.dataset.describedby + ' message').trim());
    field.focus();
  }
}

/** An error the page found itself, next to the field it is about. */
function fieldError(field, text) {
  const e = new Error(text);
  e.field = field;
  throw e;
}

/** Words a person understands for what the browser reports. */
function browserWords(err) {
  switch (err && err.name) {
    case 'NotAllowedError': return t('browser.not_allowed');
    case 'InvalidStateError': return t('browser.invalid_state');
    case 'NotSupportedError': return t('browser.not_supported');
    case 'SecurityError': return t('browser.security');
    case 'AbortError': return '';
    // Never the browser's own text: it is written for developers.
    default: return t('browser.other');
  }
}

/** The edge's messages begin in lower case (they also go to logs); the page says them in sentence case. */
const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1);

async function api(path, body, auth = false) {
  const headers = { 'content-type': 'application/json' };
  if (auth && state.access) headers.authorization = 'Bearer ' + state.access;
  const r = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body || {}) });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const known = data.error && STRINGS['error.' + data.error];
    const e = new Error(known || sentence(data.message || data.error_description || t('server.no', { status: r.status })));
    e.code = data.error;
    e.server = true;
    throw e;
  }
  return data;
}

function creationOptions(o) {
  return {
    ...o,
    challenge: b64.decode(o.challenge),
    user: { ...o.user, id: b64.decode(o.user.id) },
    excludeCredentials: o.excludeCredentials.map((c) => ({ ...c, id: b64.decode(c.id) })),
  };
}

function requestOptions(o) {
  return { ...o, challenge: b64.decode(o.challenge), allowCredentials: o.allowCredentials.map((c) => ({ ...c, id: b64.decode(c.id) })) };
}

function credentialJson(c) {
  if (typeof c.toJSON === 'function') return c.toJSON();
  const r = c.response;
  const out = { id: c.id, rawId: b64.encode(c.rawId), type: c.type, response: { clientDataJSON: b64.encode(r.clientDataJSON) } };
  if (r.attestationObject) {
    out.response.attestationObject = b64.encode(r.attestationObject);
    out.response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    out.response.authenticatorData = b64.encode(r.authenticatorData);
    out.response.signature = b64.encode(r.signature);
    out.response.userHandle = r.userHandle ? b64.encode(r.userHandle) : null;
  }
  return out;
}

/** The username the person typed to get here, when they did (a passkey chosen from a list names none). */
let knownUsername = '';
/** The signed-in account's username, once the edge said it. */
let signedInName = '';

/** Sections that a recovery session (which may only add a passkey) does not show. */
const FULL_ONLY = ['passkeys', 'sessions', 'recovery', 'totp', 'refresh', 'logout-all'];

function signedIn(tokens) {
  $('signed-in-title').textContent = knownUsername ? t('account.signed_in_as', { name: knownUsername }) : t('account.signed_in');
  state.access = tokens.access_token;
  if (tokens.refresh_token) state.refresh = tokens.refresh_token;
  const recovering = tokens.recovery === true;
  $('must-add-passkey').hidden = !recovering;
  for (const id of FULL_ONLY) $(id).hidden = recovering;
  if (recovering) state.refresh = null;
  const payload = JSON.parse(new TextDecoder().decode(b64.decode(state.access.split('.')[1])));
  $('claims').textContent = JSON.stringify(payload, null, 2);
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  // What was typed to get in stays behind (a later sign-up starts empty).
  $('signup-form').reset();
  $('recover').reset();
  // What the page shows of the account; it works without it (an older edge, the origin away).
  showAccount().catch(() => {});
  if (authorizing) continueAuthorization().catch((e) => say(e.message, 'error'));
}

/** The person's own account from the edge: who they are, their passkeys, whether an app is set up. */
async function showAccount() {
  const r = await fetch('/v1/account', { headers: { authorization: 'Bearer ' + state.access } });
  if (!r.ok) return;
  const account = await r.json();
  $('signed-in-title').textContent = t('account.signed_in_as', { name: account.username });
  signedInName = account.username;
  if (account.totp) totpSetUp();
  const left = account.recovery_codes;
  $('recovery-count').textContent = left === 0
    ? t('recovery.none_left')
    : t('recovery.left', { n: left });
  $('recovery-new').textContent = left === 0 ? t('recovery.get') : t('recovery.new');
  const when = new Intl.DateTimeFormat(LANG, { dateStyle: 'medium', timeStyle: 'short' });
  const only = account.passkeys.length === 1;
  $('passkey-list').replaceChildren(...account.passkeys.map((p) => passkeyItem(p, when, only)));
  $('session-list').replaceChildren(...(account.sessions || []).map((s) => sessionItem(s, when)));
}

/** An element `tag` with `text` and `className`. */
function el(tag, text = '', className = '') {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/** A button that runs `action` and says what went wrong next to it. */
function actionButton(text, label, action) {
  const b = el('button', text);
  b.type = 'button';
  b.setAttribute('aria-label', label);
  b.onclick = () => run(action, b.closest('li'));
  return b;
}

/** One passkey: its name, when it was made and used, and Rename / Remove (not the only one). */
function passkeyItem(p, when, only) {
  const item = el('li');
  item.dataset.id = p.id;
  const name = p.name || t('passkeys.unnamed');
  const meta = (p.last_used_at
    ? t('passkeys.used', { created: when.format(p.created_at * 1000), used: when.format(p.last_used_at * 1000) })
    : t('passkeys.unused', { created: when.format(p.created_at * 1000) }))
    + (p.synced ? t('passkeys.synced') : '');
  const actions = el('span', '', 'item-actions');
  actions.append(actionButton(t('passkeys.rename'), t('passkeys.rename_named', { name }), async () => renameForm(item, p, name)));
  if (!only) {
    actions.append(actionButton(t('passkeys.remove'), t('passkeys.remove_named', { name }), async () => confirmRemoval(item, p, name)));
  }
  item.append(el('span', name, 'item-name'), el('span', meta, 'item-meta'), actions);
  return item;
}

function renameForm(item, p, name) {
  const form = el('form');
  form.noValidate = true;
  const id = 'rename-' + p.id;
  const label = el('label', t('passkeys.new_name', { name }));
  label.htmlFor = id;
  const field = el('input');
  field.id = id;
  field.maxLength = 64;
  field.value = p.name;
  const save = el('button', t('action.save'));
  save.type = 'submit';
  const cancel = el('button', t('action.cancel'));
  cancel.type = 'button';
  cancel.onclick = () => { form.remove(); item.querySelector('.item-actions').hidden = false; };
  form.append(label, field, save, cancel);
  form.onsubmit = (event) => {
    event.preventDefault();
    run(async () => {
      const wanted = field.value.trim();
      if (!wanted) fieldError(field, t('passkeys.name_needed'));
      try {
        await api('/v1/passkeys/rename', { id: p.id, name: wanted }, true);
      } catch (e) {
        if (e.server) e.field = field;
        throw e;
      }
      await showAccount();
      say(t('passkeys.renamed', { name: wanted }), 'ok', $('passkeys'));
    }, form);
  };
  item.querySelector('.item-actions').hidden = true;
  item.append(form);
  field.focus();
  field.select();
}

function confirmRemoval(item, p, name) {
  const box = el('div');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', t('passkeys.remove_named', { name }));
  const question = el('p', t('passkeys.remove_question', { name }));
  const yes = actionButton(t('passkeys.remove_confirm'), t('passkeys.remove_confirm_named', { name }), async () => {
    try {
      await api('/v1/passkeys/remove', { id: p.id }, true);
    } catch (e) {
      if (e.code === 'reauthentication_required') e.message = t('passkeys.reauth');
      throw e;
    }
    await showAccount();
    say(t('passkeys.removed', { name }), 'ok', $('passkeys'));
    $('add-passkey').focus();
  });
  const no = el('button', t('passkeys.keep'));
  no.type = 'button';
  no.onclick = () => { box.remove(); item.querySelector('.item-actions').hidden = false; };
  box.append(question, yes, no);
  item.querySelector('.item-actions').hidden = true;
  item.append(box);
  no.focus();
}


/** One session: the device, how and when it began, when it was last active, and Sign out (not this one). */
function sessionItem(s, when) {
  const item = el('li');
  const device = s.device || t('sessions.unknown_device');
  const name = el('span', device + (s.app ? ' — ' + s.app : ''), 'item-name');
  if (s.current) name.append(el('span', t('sessions.this_device'), 'mark'));
  const meta = t('sessions.method.' + s.method, { at: when.format(s.created_at * 1000) })
    + (s.last_seen_at ? t('sessions.last_active', { at: when.format(s.last_seen_at * 1000) }) : '');
  item.append(name, el('span', meta, 'item-meta'));
  if (!s.current) {
    const actions = el('span', '', 'item-actions');
    actions.append(actionButton(t('account.logout'), t('sessions.sign_out_named', { device }), async () => {
      await api('/v1/sessions/revoke', { id: s.id }, true);
      await showAccount();
      say(t('sessions.signed_out', { device }), 'ok', $('sessions'));
    }));
    item.append(actions);
  }
  return item;
}

// Signing in for an application (OpenID Connect): `/login?authorize=...` carries the application's
// request, sealed by the edge. The page asks the edge what it still needs (sign in, confirm with the
// authenticator app, consent) and, once nothing, sends the browser back through the edge to the
// application. Kept in this tab's sessionStorage across a company sign-in, which leaves the page.
const AUTHORIZE = 'tessera.authorize';
// Whether the application asked for a fresh sign-in: a company sign-in then asks the company to
// authenticate the person again.
let authorizeFresh = false;
const authorizing = new URLSearchParams(location.search).get('authorize') || sessionStorage.getItem(AUTHORIZE);
sessionStorage.removeItem(AUTHORIZE);


async function continueAuthorization(decision) {
  const asked = await api('/v1/authorize', decision ? { request: authorizing, decision } : { request: authorizing }, true);
  authorizeFresh = asked.fresh;
  $('authorize-client').textContent = asked.client.name;
  $('authorize-banner').hidden = false;
  $('consent').hidden = true;
  if (asked.location) {
    say(t('authorize.back', { app: asked.client.name }));
    location.assign(asked.location);
    return;
  }
  if (asked.need === 'login') {
    if (asked.login_hint && !$('signin-username').value) $('signin-username').value = asked.login_hint;
  } else if (asked.need === 'step_up') {
    say(t('authorize.step_up', { app: asked.client.name }));
    $('totp-step-up').hidden = false;
    $('totp-code').focus();
  } else if (asked.need === 'consent') {
    $('consent-client').textContent = asked.client.name;
    const list = $('consent-scopes');
    list.replaceChildren();
    const lines = asked.scopes.length
      ? asked.scopes.map((scope) => STRINGS['scope.' + scope] || t('scope.other', { scope }))
      : [t('scope.none')];
    for (const line of lines) {
      const item = document.createElement('li');
      item.textContent = line;
      list.append(item);
    }
    $('consent').hidden = false;
    $('consent-allow').focus();
  }
}

$('consent-allow').onclick = () => run(() => continueAuthorization('allow'));
$('consent-deny').onclick = () => run(() => continueAuthorization('deny'));

function signedOut(text) {
  state.access = state.refresh = null;
  $('signed-in').hidden = true;
  $('signed-out').hidden = false;
  $('totp-setup').hidden = true;
  $('totp-step-up').hidden = true;
  $('totp-state').hidden = true;
  $('totp-enroll').hidden = false;
  $('passkey-list').replaceChildren();
  $('session-list').replaceChildren();
  $('recovery-codes').hidden = true;
  $('recovery-list').replaceChildren();
  $('must-add-passkey').hidden = true;
  say(text);
  // Passkeys are offered in the username field's suggestions again.
  armAutofill();
}

function stopAutofill() {
  if (conditional) { conditional.abort(); conditional = null; }
}

/** Run `action`; what goes wrong is said inside `near` (and next to the field it is about). */
async function run(action, near = null) {
  say('');
  try { await action(); } catch (e) {
    const words = e.server || e.field ? e.message : browserWords(e);
    if (words) say(words, 'error', near, e.field || null);
  }
}

/**
 * A passkey ceremony started by `button`: while the browser's prompt is open the button is busy and
 * `cancel` (shown) aborts it. `ceremony(signal)` does the work.
 */
function withPasskey(button, cancel, ceremony) {
  const label = button.textContent;
  return run(async () => {
    stopAutofill();
    const abort = new AbortController();
    button.disabled = true;
    button.textContent = t('passkey.waiting');
    cancel.hidden = false;
    cancel.onclick = () => abort.abort();
    try {
      await ceremony(abort.signal);
    } finally {
      button.disabled = false;
      button.textContent = label;
      cancel.hidden = true;
      cancel.onclick = null;
    }
  }, button.closest('form, section'));
}

/** A 6-digit code as typed: spaces and dashes ("123 456") are fine. */
function codeOf(field) {
  const code = field.value.replace(/[\s-]/g, '');
  if (!/^[0-9]{6}$/.test(code)) fieldError(field, t('totp.six_digits'));
  return code;
}

async function finishSignIn(credential) {
  signedIn(await api('/v1/passkeys/login/verify', { credential: credentialJson(credential) }));
  say(t('signin.welcome'));
}

$('signup-form').onsubmit = (event) => {
  event.preventDefault();
  withPasskey($('signup'), $('signup-cancel'), signUp);
};

async function signUp(signal) {
  const username = $('signup-username').value.trim();
  if (!username) fieldError($('signup-username'), t('signup.username_needed'));
  const { publicKey } = await api('/v1/passkeys/register/options', { username, display_name: $('signup-display').value.trim() || null });
  const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey), signal });
  try {
    knownUsername = username;
    const tokens = await api('/v1/passkeys/register/verify', { credential: credentialJson(credential) });
    signedIn(tokens);
    if (tokens.recovery_codes) showRecoveryCodes(tokens.recovery_codes, username);
  } catch (e) {
    // The name was taken (the edge says so only now, to keep names from being listed): the passkey just
    // made belongs to no account, so ask the device to forget it where the browser can (Signal API).
    if ((e.code === 'username_taken' || e.code === 'username_reserved') && PublicKeyCredential.signalUnknownCredential) {
      PublicKeyCredential.signalUnknownCredential({ rpId: publicKey.rp.id, credentialId: credential.id }).catch(() => {});
    }
    throw e;
  }
  say(t('signup.ready'));
  if (!$('recovery-codes').hidden) $('recovery-codes').querySelector('h2').focus();
}

$('signin-form').onsubmit = (event) => {
  event.preventDefault();
  run(async () => {
    // Username first: a work address whose company signs its people in goes there (one field, one
    // button); any other name signs in with a passkey.
    const typed = $('signin-username').value.trim();
    if (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(typed) && await startCompanySignIn({ email: typed }, true)) return;
    await signInWithPasskey();
  }, $('signin-form'));
};

function signInWithPasskey() {
  return withPasskey($('signin'), $('signin-cancel'), async (signal) => {
    const username = $('signin-username').value.trim();
    const { publicKey } = await api('/v1/passkeys/login/options', username ? { username } : {});
    const credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey), signal });
    knownUsername = username;
    try {
      await finishSignIn(credential);
    } catch (e) {
      // A name typed wrong (or in other capitals) asks for passkeys of nobody: say so, not only "passkey".
      if (e.code === 'passkey_refused' && username) {
        e.message = e.message.replace(/\.?$/, '.') + ' ' + t('signin.check_username');
      }
      throw e;
    }
  });
}

$('add-passkey').onclick = () => withPasskey($('add-passkey'), $('add-passkey-cancel'), async (signal) => {
  const { publicKey } = await api('/v1/passkeys/register/options', {}, true);
  const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey), signal });
  // Finished by the same signed-in session that started it.
  await api('/v1/passkeys/register/verify', { credential: credentialJson(credential) }, true);
  await showAccount().catch(() => {});
  say(t('passkeys.added'), 'ok', $('add-passkey').closest('section'));
});

// Recovery codes: shown once (at sign-up, or when new ones are asked for), to copy, download or write down.
function showRecoveryCodes(codes, username) {
  $('recovery-list').replaceChildren(...codes.map((code) => {
    const item = document.createElement('li');
    item.textContent = code;
    return item;
  }));
  const text = t('codes.file_title', { name: username, site: location.host }) + '\n'
    + t('codes.file_text') + '\n\n' + codes.join('\n') + '\n';
  $('recovery-download').href = 'data:text/plain;charset=utf-8,' + encodeURIComponent(text);
  $('recovery-copy').onclick = () => run(async () => {
    await navigator.clipboard.writeText(codes.join('\n'));
    say(t('codes.copied'), 'ok', $('recovery-codes'));
  }, $('recovery-codes'));
  const section = $('recovery-codes');
  section.hidden = false;
  section.querySelector('h2').tabIndex = -1;
}

$('recovery-saved').onclick = () => {
  $('recovery-codes').hidden = true;
  $('recovery-list').replaceChildren();
  $('recovery-download').removeAttribute('href');
  showAccount().catch(() => {});
  say('');
};

$('recovery-new').onclick = () => run(async () => {
  let answer;
  try {
    answer = await api('/v1/recovery/codes', {}, true);
  } catch (e) {
    if (e.code === 'reauthentication_required') e.message = t('recovery.reauth');
    throw e;
  }
  showRecoveryCodes(answer.codes, signedInName);
  say(t('recovery.renewed'), 'ok', $('recovery'));
  $('recovery-codes').querySelector('h2').focus();
}, $('recovery'));

$('lost-passkey').onclick = () => {
  const form = $('recover');
  form.hidden = !form.hidden;
  $('lost-passkey').setAttribute('aria-expanded', String(!form.hidden));
  if (!form.hidden) {
    if (!$('recover-username').value) $('recover-username').value = $('signin-username').value.trim();
    ($('recover-username').value ? $('recover-code') : $('recover-username')).focus();
  }
};

$('recover').onsubmit = (event) => {
  event.preventDefault();
  run(async () => {
    stopAutofill();
    const username = $('recover-username').value.trim();
    if (!username) fieldError($('recover-username'), t('recover.username_needed'));
    const field = $('recover-code');
    if (!/^[0-9a-z]{10}$/i.test(field.value.replace(/[\s\u2010-\u2014-]/g, ''))) {
      fieldError(field, t('recover.malformed'));
    }
    let tokens;
    try {
      tokens = await api('/v1/recovery/sign-in', { username, code: field.value });
    } catch (e) {
      if (e.server) e.field = e.code === 'invalid_request' ? null : field;
      throw e;
    }
    knownUsername = username;
    field.value = '';
    $('recover').hidden = true;
    $('lost-passkey').setAttribute('aria-expanded', 'false');
    signedIn(tokens);
    say(t('recover.signed_in', { n: tokens.codes_left }));
    $('recovery-add-passkey').focus();
  }, $('recover'));
};

$('recovery-add-passkey').onclick = () => withPasskey($('recovery-add-passkey'), $('recovery-add-passkey-cancel'), async (signal) => {
  const { publicKey } = await api('/v1/passkeys/register/options', {}, true);
  const credential = await navigator.credentials.create({ publicKey: creationOptions(publicKey), signal });
  // The recovery session ends here; the answer is a full session for the new passkey.
  signedIn(await api('/v1/passkeys/register/verify', { credential: credentialJson(credential) }, true));
  say(t('mustadd.done'));
});

$('refresh').onclick = () => run(async () => {
  const r = await fetch('/oauth2/token', {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: state.refresh }),
  });
  const data = await r.json();
  if (!r.ok) return signedOut(STRINGS['error.' + data.error] || data.error_description || t('account.session_ended'));
  signedIn(data);
  say(t('account.refreshed'));
});

$('logout').onclick = () => run(async () => { await api('/v1/sessions/logout', {}, true); signedOut(t('account.signed_out')); });
$('logout-all').onclick = () => run(async () => {
  const { revoked } = await api('/v1/sessions/logout-all', {}, true);
  signedOut(t('account.signed_out_everywhere', { n: revoked }));
});

/** The authenticator app is set up: only what applies stays (no second setup, no code asked again). */
function totpSetUp() {
  $('totp-enroll').hidden = true;
  $('totp-setup').hidden = true;
  $('totp-state').hidden = false;
}

$('totp-enroll').onclick = () => run(async () => {
  let e;
  try {
    e = await api('/v1/totp/enroll', {}, true);
  } catch (err) {
    if (err.code !== 'totp_already_enrolled') throw err;
    totpSetUp();
    return;
  }
  $('qr').src = 'data:image/svg+xml;base64,' + btoa(e.qr_svg);
  // The key in groups of four (spacing only: what is copied or selected is the key itself).
  $('totp-secret').replaceChildren(...e.secret.match(/.{1,4}/g).map((group) => {
    const span = document.createElement('span');
    span.textContent = group;
    return span;
  }));
  $('totp-copy').onclick = () => run(async () => {
    await navigator.clipboard.writeText(e.secret);
    say(t('totp.copied'), 'ok', $('totp-setup'));
  }, $('totp-setup'));
  // On a phone the app is on the same device: a tap opens it with the key.
  $('totp-open').href = e.otpauth_uri;
  $('totp-open-line').hidden = !matchMedia('(pointer: coarse)').matches;
  $('totp-enroll').hidden = true;
  $('totp-setup').hidden = false;
  $('totp-confirm-code').focus();
}, $('totp'));

/**
 * A code form: submitted by Enter, its button, or on its own once six digits are in the field (typed,
 * pasted or filled in by the phone) — one submission at a time, and a code sent once is not sent again
 * on its own.
 */
function codeForm(form, field, send) {
  let busy = false;
  form.onsubmit = async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    field.dataset.sent = field.value.replace(/[\s-]/g, '');
    try {
      await run(async () => {
        try {
          await send(codeOf(field));
        } catch (e) {
          // What the edge says of a code (wrong, used, too many tries) is about this field.
          if (e.server) e.field = field;
          throw e;
        }
      }, form);
    } finally {
      busy = false;
    }
  };
  field.addEventListener('input', () => {
    const digits = field.value.replace(/[\s-]/g, '');
    if (/^[0-9]{6}$/.test(digits) && digits !== field.dataset.sent) form.requestSubmit();
  });
}

codeForm($('totp-confirm-form'), $('totp-confirm-code'), async (code) => {
  // The first code confirms the setup and counts as this session's step-up.
  signedIn(await api('/v1/totp/confirm', { code }, true));
  totpSetUp();
  say(t('totp.set_up'));
});

codeForm($('totp-step-up'), $('totp-code'), async (code) => {
  signedIn(await api('/v1/totp/verify', { code }, true));
  $('totp-step-up').hidden = true;
  say(t('totp.verified'));
});

// Sign in with your company (SAML, run by the origin). The page keeps a random verifier in this tab's
// sessionStorage and sends only its SHA-256 along: the code the company's sign-in sends back (in the URL
// fragment, which no server sees) is spent only with the verifier, so only this tab can finish it.
const SSO_VERIFIER = 'tessera.sso.verifier';

/**
 * Leave for the company's IdP: `params` name the connection (`email` or `connection`). With `quiet`, an
 * address no company claims answers false (the caller signs in otherwise) instead of an error.
 */
async function startCompanySignIn(params, quiet = false) {
  stopAutofill();
  const verifier = b64.encode(crypto.getRandomValues(new Uint8Array(32)));
  const binding = b64.encode(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const r = await fetch('/v1/sso/start?' + new URLSearchParams({ ...params, binding, ...(authorizeFresh ? { fresh: '1' } : {}) }));
  const data = await r.json().catch(() => ({}));
  if (quiet && r.status === 404 && data.error === 'sso_not_configured') return false;
  if (!r.ok) {
    const e = new Error((data.error && STRINGS['error.' + data.error]) || data.message || t('server.no', { status: r.status }));
    e.server = true;
    throw e;
  }
  sessionStorage.setItem(SSO_VERIFIER, verifier);
  if (authorizing) sessionStorage.setItem(AUTHORIZE, authorizing);
  say(t('sso.leaving', { company: data.display_name }));
  location.assign(data.location);
  return true;
}

$('sso-form').onsubmit = (event) => {
  event.preventDefault();
  run(async () => {
    const email = $('sso-email').value.trim();
    if (!email.includes('@')) fieldError($('sso-email'), t('sso.email_needed'));
    await startCompanySignIn({ email });
  }, $('sso-form'));
};

// The tenant's companies, one button each (by name: no email needed).
(async () => {
  const r = await fetch('/v1/sso/connections').catch(() => null);
  if (!r || !r.ok) return;
  const { connections } = await r.json();
  for (const c of connections) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = t('sso.with', { company: c.display_name });
    button.dataset.connection = c.connection;
    button.onclick = () => run(() => startCompanySignIn({ connection: c.connection }));
    $('sso-connections').append(button);
  }
})();

// Back from the company's sign-in: `#sso_code=...` (or `#sso_error=...`).
async function finishCompanySignIn() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const code = fragment.get('sso_code');
  const error = fragment.get('sso_error');
  if (!code && !error) return false;
  history.replaceState(null, '', location.pathname + location.search);
  const verifier = sessionStorage.getItem(SSO_VERIFIER);
  sessionStorage.removeItem(SSO_VERIFIER);
  if (error) {
    say(t('sso.failed', { error }), 'error');
    return true;
  }
  await run(async () => {
    signedIn(await api('/v1/sso/exchange', verifier ? { code, verifier } : { code }));
    say(t('sso.signed_in'));
  });
  return true;
}

// Autofill (conditional UI): offer passkeys in the username field's suggestions where supported; armed
// when the page opens and again after signing out.
async function armAutofill() {
  if (conditional || !window.PublicKeyCredential || !PublicKeyCredential.isConditionalMediationAvailable) return;
  if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
  let credential;
  const abort = new AbortController();
  conditional = abort;
  try {
    const { publicKey } = await api('/v1/passkeys/login/options', {});
    if (abort.signal.aborted) return;
    credential = await navigator.credentials.get({ publicKey: requestOptions(publicKey), mediation: 'conditional', signal: abort.signal });
  } catch {
    // Nobody asked for this request: when it fails (or the browser drops it), say nothing.
    if (conditional === abort) conditional = null;
    return;
  }
  if (conditional === abort) conditional = null;
  // The person chose a passkey: from here on what goes wrong is theirs to know.
  knownUsername = '';
  await run(() => finishSignIn(credential), $('signin-form'));
}

(async () => {
  if (await finishCompanySignIn()) return;
  if (authorizing) await run(() => continueAuthorization());
  if (!state.access) await armAutofill();
})();
