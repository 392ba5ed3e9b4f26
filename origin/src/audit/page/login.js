// The audit dashboard's sign-in page (/audit/login): the form posts the admin token; when it is refused the
// server redirects back here with ?error=1 (wrong token) or ?error=wait (too many tries), said here in words.
'use strict';

(() => {
  const MESSAGES = {
    1: 'That token is not right.',
    wait: 'Too many tries. Wait a minute and try again.',
  };
  const code = new URLSearchParams(location.search).get('error');
  if (code === null || !Object.hasOwn(MESSAGES, code)) return;
  const error = document.getElementById('login-error');
  const token = document.getElementById('token');
  error.textContent = MESSAGES[code];
  token.setAttribute('aria-invalid', 'true');
  token.setAttribute('aria-describedby', 'login-error');
  token.focus();
})();
