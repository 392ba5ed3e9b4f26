"""SAML 2.0 test tooling that drives our SP (origin/) from outside: a real IdP, an attack corpus, and a
reference SP to compare verdicts with.

  keys.py       RSA-2048 / P-256 keys and self-signed certs, generated at run time (never committed)
  idp.py        the IdP: pysaml2 7.5.5 with the xmlsec1 command line as its crypto backend
  xmlenc.py     EncryptedAssertion (RSA-OAEP + AES-GCM/CBC) and an independent decrypter
  xmlsec1.py    the xmlsec1 command line: verify, encrypt, decrypt
  attacks.py    the attack corpus: named mutated responses, each with the refusal codes it must get
  reference.py  python3-saml 1.16.0 as a reference SP: judge(settings, SAMLResponse, request_id, now)
  selftest.py   the corpus through the reference SP, as a table, plus crypto cross-checks
  __main__.py   the command line for node tests (init, metadata, respond, cases, corpus)
  dom.py        XML names and lookups

It runs in its own venv, .tools/venv-saml (tests/requirements-saml.txt; scripts/setup --test makes it),
from the repository root:

  .tools/venv-saml/bin/python -m tests.blackbox.saml --help
  .tools/venv-saml/bin/python -m tests.blackbox.saml.selftest
"""
