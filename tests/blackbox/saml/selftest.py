"""Self-test of the SAML tooling: the corpus through the reference SP (python3-saml), and crypto checks.

Run from the repository root:  .tools/venv-saml/bin/python -m tests.blackbox.saml.selftest

Everything is made at run time in a temporary directory: keys, IdP metadata, one AuthnRequest per case (from
a pysaml2 SP standing in for our SP's /login: signed HTTP-Redirect, RSA-SHA256), and the corpus. It prints a
table (case, expected codes, python3-saml's verdict) and checks, besides:
  - every control signature verifies with the xmlsec1 command line against the pinned certificate alone;
  - every encrypted control decrypts with python `cryptography` alone (xmlenc.decrypt_independently) and,
    for rsa-oaep-mgf1p (all xmlsec1 1.2 knows), with `xmlsec1 --decrypt`, to the signed Assertion.
It exits non-zero when python3-saml's verdict differs from the expected one other than as listed in
KNOWN_DIFFERENCES, or when a crypto check fails: the corpus or the IdP is then broken, not our SP.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

from lxml import etree
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from . import attacks, reference, xmlenc, xmlsec1
from .dom import DSIG, PARSER, SAML, XENC, attr, one, q
from .idp import IdP

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # see idp.py
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.xmldsig import SIG_RSA_SHA256

IDP_ENTITY_ID = "https://idp.test.example/metadata"
IDP_SSO_URL = "https://idp.test.example/sso"
SP_ENTITY_ID = "https://sp.test.example/saml/acme/okta/metadata"
SP_ACS_URL = "https://sp.test.example/saml/acme/okta/acs"
RELAY_STATE = "/app/after-login"


class Row(NamedTuple):
    """One line of the table: python3-saml's verdict on a case, and the known difference it shows."""

    case: str
    expected: str
    verdict: str
    difference: str


#: Where python3-saml 1.16.0 (strict, as configured in reference.py) is known to judge otherwise than our SP.
KNOWN_DIFFERENCES = {
    "valid_encrypted_rsa_oaep_mgf1sha256_aes256_gcm": "refuses: its schema set lacks xmlenc11, so the "
    "strict schema check rejects <xenc11:MGF> (XML Encryption 1.1 allows it)",
    "valid_encrypted_rsa_oaep_mgf1sha256_aes128_gcm": "as above",
    "valid_encrypted_rsa_oaep_mgf1sha256_aes256_cbc": "as above",
    "comment_in_nameid": "accepts, reading the whole text (admin@corp.example.evil.test, comments "
    "stripped): not fooled, but it does not refuse",
    "transform_extra": "accepts an XPath transform in the Reference",
    "two_references": "accepts two References",
    "oversized": "has no size limit (the web framework's job)",
    "replayed": "keeps no replay cache (the application's job, via get_last_assertion_id)",
    "unsolicited": "accepts a response without InResponseTo while a request is outstanding "
    "(rejectUnsolicitedResponsesWithInResponseTo covers only the opposite case)",
    "open_relay_state": "does not look at RelayState (the application's job)",
}


def request_url(idp: IdP, sp_key: Path, sp_cert: Path) -> tuple[str, str]:
    """A fresh AuthnRequest from a pysaml2 SP, as our SP's /login would redirect: (request ID, URL)."""
    config = SPConfig().load(
        {
            "entityid": SP_ENTITY_ID,
            "service": {
                "sp": {
                    "endpoints": {"assertion_consumer_service": [(SP_ACS_URL, BINDING_HTTP_POST)]},
                    "authn_requests_signed": True,
                }
            },
            "key_file": str(sp_key),
            "cert_file": str(sp_cert),
            "xmlsec_binary": xmlsec1.binary(),
            "metadata": {"inline": [idp.metadata()]},
        }
    )
    request_id, info = Saml2Client(config=config).prepare_for_authenticate(
        entityid=IDP_ENTITY_ID, relay_state=RELAY_STATE, binding=BINDING_HTTP_REDIRECT, sigalg=SIG_RSA_SHA256
    )
    return request_id, dict(info["headers"])["Location"]


def crypto_checks(idp: IdP, case: attacks.Case) -> list[str]:
    """Independent checks of a control case: signatures by xmlsec1, decryption without libxmlsec1."""
    problems = []
    root = etree.fromstring(base64.b64decode(case.saml_response), PARSER)
    encrypted = root.find(f".//{q(XENC, 'EncryptedData')}")
    sp_key = idp.keys["sp"].key_path
    if encrypted is not None:
        plain = xmlenc.decrypt_independently(encrypted, sp_key)
        if case.name.startswith("valid_encrypted_rsa_oaep_mgf1p_"):
            decrypted = etree.fromstring(xmlsec1.decrypt(etree.tostring(root), sp_key), PARSER)
            by_xmlsec1 = etree.tostring(one(decrypted, f".//{q(SAML, 'Assertion')}"), method="c14n")
            if by_xmlsec1 != etree.tostring(etree.fromstring(plain, PARSER), method="c14n"):
                problems.append("xmlsec1 --decrypt and the independent decryption disagree")
        root = etree.fromstring(plain, PARSER)
        if root.tag != q(SAML, "Assertion"):
            problems.append(f"the decrypted element is {root.tag}")
    signer = {"valid_ec": "ec", "valid_rollover": "rsa_next"}.get(case.name, "rsa")
    for signed in [root, *root.iter(q(SAML, "Assertion"))]:
        if signed.find(q(DSIG, "Signature")) is not None:
            try:
                xmlsec1.verify(etree.tostring(root), idp.keys[signer].cert_path, attr(signed, "ID"))
            except xmlsec1.XmlsecError as e:
                problems.append(f"xmlsec1 --verify of {attr(signed, 'ID')}: {e}")
    return problems


def check(idp: IdP, config: OneLogin_Saml2_Settings, name: str) -> tuple[Row, list[str]]:
    """Build the case `name` for a fresh request, have python3-saml judge it (twice for `posts: 2`), and
    return its table row and the failures found."""
    sp = idp.keys["sp"]
    request_id, url = request_url(idp, sp.key_path, sp.cert_path)
    case = attacks.build(attacks.Context(idp, SP_ENTITY_ID, SP_ACS_URL, url, sp.cert_path), name)
    verdict = [reference.judge(config, case.saml_response, request_id) for _ in range(case.posts)][-1]
    agrees = verdict.accepted == (not case.expected)
    note = KNOWN_DIFFERENCES.get(name, "")
    failures = [] if case.expected else [f"{name}: {p}" for p in crypto_checks(idp, case)]
    if not agrees and not note:
        failures.append(f"{name}: expected {list(case.expected) or 'accepted'}, python3-saml {verdict}")
    if agrees and note:
        failures.append(f"{name}: in KNOWN_DIFFERENCES, but python3-saml now agrees ({verdict})")
    row = Row(name, ", ".join(case.expected) or "accepted", str(verdict), "" if agrees else note)
    return row, failures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="saml-selftest-") as tmp:
        idp = IdP.create(Path(tmp), IDP_ENTITY_ID, IDP_SSO_URL)
        sp = idp.keys["sp"]
        idp_certs = [idp.keys[k].cert_b64 for k in ("rsa", "ec", "rsa_next")]
        config = reference.settings(
            SP_ENTITY_ID,
            SP_ACS_URL,
            IDP_ENTITY_ID,
            IDP_SSO_URL,
            idp_certs,
            sp.key_path.read_text(),
            sp.cert_pem,
        )
        results = [check(idp, config, name) for name in attacks.names()]
    rows = [row for row, _ in results]
    failures = [f for _, found in results for f in found]
    width, code_width = max(len(r.case) for r in rows), max(len(r.expected) for r in rows)
    print(f"{'case':{width}}  {'expected (our SP)':{code_width}}  python3-saml 1.16.0")
    for row in rows:
        print(f"{row.case:{width}}  {row.expected:{code_width}}  {row.verdict[:100]}")
        if row.difference:
            print(f"{'':{width}}  {'':{code_width}}  ^ differs, known: {row.difference}")
    for failure in failures:
        print("FAIL", failure)
    failed = {f.split(":", 1)[0] for f in failures}
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
