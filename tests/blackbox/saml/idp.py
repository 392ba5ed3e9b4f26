"""A SAML 2.0 IdP for black-box tests of our SP: pysaml2 7.5.5 with xmlsec1 as its crypto backend.

pysaml2's `Server` parses the SP's real AuthnRequest (HTTP-Redirect: base64 + inflate, and the redirect
signature when the SP's signing cert is given), builds the Response and Assertion, and signs them through
its xmlsec1 backend (`SecurityContext.sign_statement`) with signature templates from its
`pre_signature_part` (exclusive c14n, enveloped-signature + exc-c14n transforms, one Reference `#ID`).
That includes ECDSA: pysaml2 has `http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256`
(`saml2.xmldsig.SIG_ECDSA_SHA256`) and xmlsec1 signs with a P-256 PEM key on that template, so the EC case
goes through pysaml2 like the RSA one; no hand-made xmlsec1 call is needed.

Between building and signing, the times are set from the caller's offsets, and a test may edit the content or
the signature template (`Edits`): that is how the attack corpus gets a legitimately signed response that
carries wrong values or refused algorithms. Encryption is in `xmlenc` (pysaml2 only does 3DES).
"""

from __future__ import annotations

import base64
import datetime
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from . import xmlenc, xmlsec1
from .dom import DSIG, PARSER, SAML, SAMLP, attr, one, q
from .keys import KeyPair, generate_set, load_set

with warnings.catch_warnings():
    # pysaml2 7.5.5 names cryptography's CFB mode at import time, which cryptography >= 46 flags.
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md, samlp
    from saml2 import xmldsig as ds
    from saml2.attribute_converter import AttributeConverter
    from saml2.config import IdPConfig
    from saml2.saml import NAME_FORMAT_URI, NameID
    from saml2.server import Server
    from saml2.sigver import pre_signature_part

ASSERTION_NODE = f"{SAML}:Assertion"
RESPONSE_NODE = f"{SAMLP}:Response"
PASSWORD_PROTECTED_TRANSPORT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"

NAME_ID_FORMATS = {
    "email": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
}
SIGNATURE_ALGORITHMS = {
    "rsa-sha256": ds.SIG_RSA_SHA256,
    "ecdsa-sha256": ds.SIG_ECDSA_SHA256,
    "rsa-sha1": ds.SIG_RSA_SHA1,
}
DIGESTS = {"sha256": ds.DIGEST_SHA256, "sha1": ds.DIGEST_SHA1}
#: The IdP keys its metadata lists by default: `rsa_next` is there for rollover (a second signing cert).
SIGNING_KEYS = ("rsa", "ec", "rsa_next")
#: Default SignatureMethod per key kind.
DEFAULT_SIGNATURE = {"rsa": "rsa-sha256", "ec": "ecdsa-sha256"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class RequestRefused(ValueError):
    """An AuthnRequest this IdP would not answer (wrong issuer, unregistered ACS, bad signature...)."""


@dataclass(frozen=True)
class AuthnRequestInfo:
    """What the IdP read from the SP's AuthnRequest."""

    id: str
    issuer: str
    acs_url: str | None
    relay_state: str | None


@dataclass(frozen=True)
class Edits:
    """Changes made before signing, as a (buggy or malicious) IdP would sign them.

    content: called with the Response element (lxml) after the times are set, before any signature.
    assertion_signature: called with the Assertion's ds:Signature template (SignedInfo with an empty
        DigestValue) before xmlsec1 fills it in: change algorithms, transforms, references here.
    """

    content: Callable[[etree._Element], None] | None = None
    assertion_signature: Callable[[etree._Element], None] | None = None


@dataclass(frozen=True)
class Reply:
    """A SAML Response ready for the ACS form post."""

    saml_response: str
    relay_state: str | None
    xml: bytes
    request_id: str | None
    response_id: str
    assertion_id: str

    def to_json(self) -> dict[str, str | None]:
        """The form fields plus the IDs, for `respond --json`."""
        return {
            "SAMLResponse": self.saml_response,
            "RelayState": self.relay_state,
            "requestId": self.request_id,
            "responseId": self.response_id,
            "assertionId": self.assertion_id,
        }


def now_utc() -> datetime.datetime:
    """The current time in UTC, to the second (SAML times carry seconds)."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _key_descriptor(use: str, cert_b64: str) -> md.KeyDescriptor:
    cert = ds.X509Certificate(text=cert_b64)
    return md.KeyDescriptor(use=use, key_info=ds.KeyInfo(x509_data=[ds.X509Data(x509_certificate=cert)]))


def _cert_b64(cert: str) -> str:
    """A certificate given as PEM or base64 DER, as base64 DER on one line."""
    lines = [line.strip() for line in cert.strip().splitlines() if line.strip() and "-----" not in line]
    return "".join(lines)


def metadata(entity_id: str, sso_url: str, certs: Sequence[str]) -> str:
    """IdP metadata XML: one IDPSSODescriptor with an HTTP-Redirect SingleSignOnService at `sso_url` and a
    signing KeyDescriptor per certificate in `certs` (PEM or base64 DER; several for rollover tests)."""
    descriptor = md.IDPSSODescriptor(
        protocol_support_enumeration=samlp.NAMESPACE,
        want_authn_requests_signed="false",
        key_descriptor=[_key_descriptor("signing", _cert_b64(c)) for c in certs],
        name_id_format=[md.NameIDFormat(text=f) for f in NAME_ID_FORMATS.values()],
        single_sign_on_service=[md.SingleSignOnService(binding=BINDING_HTTP_REDIRECT, location=sso_url)],
    )
    return str(md.EntityDescriptor(entity_id=entity_id, idpsso_descriptor=descriptor))


def _sp_metadata(entity_id: str, acs_url: str, signing_cert: str | None) -> str:
    """The SP as this IdP knows it (registered by hand, as with any IdP): its ACS, and its signing cert when
    AuthnRequest signatures are to be checked."""
    descriptor = md.SPSSODescriptor(
        protocol_support_enumeration=samlp.NAMESPACE,
        authn_requests_signed="true" if signing_cert else "false",
        key_descriptor=[_key_descriptor("signing", _cert_b64(signing_cert))] if signing_cert else [],
        assertion_consumer_service=[
            md.AssertionConsumerService(binding=BINDING_HTTP_POST, location=acs_url, index="0")
        ],
    )
    return str(md.EntityDescriptor(entity_id=entity_id, spsso_descriptor=descriptor))


def _set_times(
    response: etree._Element,
    issued_at: datetime.datetime,
    not_before: datetime.timedelta,
    not_on_or_after: datetime.timedelta,
) -> None:
    """IssueInstant/AuthnInstant = issued_at; Conditions NotBefore = issued_at + not_before; Conditions and
    SubjectConfirmationData NotOnOrAfter = issued_at + not_on_or_after."""
    issued, start, end = (
        t.strftime(TIME_FORMAT) for t in (issued_at, issued_at + not_before, issued_at + not_on_or_after)
    )
    for el in response.iter(q(SAMLP, "Response"), q(SAML, "Assertion")):
        el.set("IssueInstant", issued)
    for el in response.iter(q(SAML, "AuthnStatement")):
        el.set("AuthnInstant", issued)
    for el in response.iter(q(SAML, "Conditions")):
        el.set("NotBefore", start)
        el.set("NotOnOrAfter", end)
    for el in response.iter(q(SAML, "SubjectConfirmationData")):
        el.set("NotOnOrAfter", end)


class IdP:
    """One test IdP: an entityID, an SSO URL, and the key set of `keys.generate_set`."""

    def __init__(self, entity_id: str, sso_url: str, keys: Mapping[str, KeyPair]):
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.keys = dict(keys)
        self._servers: dict[tuple[str, str, str | None], Server] = {}

    @classmethod
    def create(cls, directory: Path, entity_id: str, sso_url: str) -> IdP:
        """Generate the keys into `directory` and record the IdP there (`idp.json`) for `load`."""
        idp = cls(entity_id, sso_url, generate_set(directory))
        (directory / "idp.json").write_text(json.dumps({"entity_id": entity_id, "sso_url": sso_url}))
        return idp

    @classmethod
    def load(cls, directory: Path) -> IdP:
        """The IdP that `create` recorded in `directory`."""
        saved = json.loads((directory / "idp.json").read_text())
        return cls(saved["entity_id"], saved["sso_url"], load_set(directory))

    def metadata(self, signing_keys: Sequence[str] = SIGNING_KEYS) -> str:
        """This IdP's metadata, listing the certificates of `signing_keys` (names in the key set)."""
        return metadata(self.entity_id, self.sso_url, [self.keys[k].cert_b64 for k in signing_keys])

    def _server(self, sp_entity_id: str, acs_url: str, sp_signing_cert: str | None = None) -> Server:
        """pysaml2's IdP for one SP connection (kept: building one loads keys and metadata, ~0.1 s)."""
        cached = self._servers.get((sp_entity_id, acs_url, sp_signing_cert))
        if cached:
            return cached
        config = IdPConfig().load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                        "want_authn_requests_signed": bool(sp_signing_cert),
                    }
                },
                "key_file": str(self.keys["rsa"].key_path),
                "cert_file": str(self.keys["rsa"].cert_path),
                "xmlsec_binary": xmlsec1.binary(),
                "crypto_backend": "xmlsec1",
                "metadata": {"inline": [_sp_metadata(sp_entity_id, acs_url, sp_signing_cert)]},
                "accepted_time_diff": 60,
            }
        )
        # Attribute names go out exactly as given (pysaml2's default maps rename e.g. `email`).
        passthrough = AttributeConverter(NAME_FORMAT_URI)
        passthrough.from_dict({"identifier": NAME_FORMAT_URI, "fro": {}, "to": {}})
        config.attribute_converters = [passthrough]
        server = self._servers[(sp_entity_id, acs_url, sp_signing_cert)] = Server(config=config)
        return server

    def parse_request(
        self, request_url: str, sp_entity_id: str, acs_url: str, sp_signing_cert: str | None = None
    ) -> AuthnRequestInfo:
        """Read the AuthnRequest from the SP's redirect URL (the `Location` of its /login answer), as this
        IdP's SSO endpoint would: pysaml2 inflates and checks it (Destination, IssueInstant, and with
        `sp_signing_cert` the redirect signature); then Issuer must be the SP, the ACS the registered one.

        pysaml2 checks a redirect signature over the parameters as it re-encodes them (urlencode, i.e.
        quote_plus with uppercase hex), not over the bytes received, and with RSA keys only: an SP that
        encodes otherwise fails that check even with a right signature."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(request_url).query).items()}
        if "SAMLRequest" not in query:
            raise RequestRefused(f"no SAMLRequest in {request_url}")
        server = self._server(sp_entity_id, acs_url, sp_signing_cert)
        try:
            parsed = server.parse_authn_request(
                query["SAMLRequest"],
                BINDING_HTTP_REDIRECT,
                relay_state=query.get("RelayState"),
                sigalg=query.get("SigAlg"),
                signature=query.get("Signature"),
            )
        except Exception as e:  # pysaml2 raises many types for a bad request
            raise RequestRefused(f"pysaml2 refused the AuthnRequest: {type(e).__name__}: {e}") from e
        request = parsed.message
        issuer = request.issuer.text.strip() if request.issuer is not None else ""
        if issuer != sp_entity_id:
            raise RequestRefused(f"AuthnRequest Issuer {issuer!r} is not the SP {sp_entity_id!r}")
        if request.assertion_consumer_service_url not in (None, acs_url):
            raise RequestRefused(
                f"ACS {request.assertion_consumer_service_url!r} is not registered ({acs_url!r})"
            )
        if request.protocol_binding not in (None, BINDING_HTTP_POST):
            raise RequestRefused(f"ProtocolBinding {request.protocol_binding!r} is not HTTP-POST")
        return AuthnRequestInfo(
            request.id,
            issuer,
            request.assertion_consumer_service_url,
            query.get("RelayState"),
        )

    def _sign(
        self,
        root: etree._Element,
        element: etree._Element,
        server: Server,
        key: str,
        signature_alg: str | None,
        digest: str,
        keyinfo: str | None,
        edit: Callable[[etree._Element], None] | None,
    ) -> etree._Element:
        """Sign `element` (the Assertion or the Response, inside `root`) with the key named `key`: pysaml2's
        signature template goes right after the element's Issuer, then pysaml2 has xmlsec1 sign it.
        `keyinfo` names the key whose certificate KeyInfo carries (default: the signing key's own).
        Returns the new root."""
        pair = self.keys[key]
        method = signature_alg or DEFAULT_SIGNATURE[pair.kind]
        template = pre_signature_part(
            attr(element, "ID"),
            public_key=self.keys[keyinfo or key].cert_b64,
            digest_alg=DIGESTS.get(digest, digest),
            sign_alg=SIGNATURE_ALGORITHMS.get(method, method),
        )
        signature = etree.fromstring(template.to_string({"ds": DSIG}), PARSER)
        one(element, q(SAML, "Issuer")).addnext(signature)
        if edit:
            edit(signature)
        node = ASSERTION_NODE if element.tag == q(SAML, "Assertion") else RESPONSE_NODE
        signed = server.sec.sign_statement(
            etree.tostring(root).decode(), node, key_file=str(pair.key_path), node_id=attr(element, "ID")
        )
        return etree.fromstring(signed.encode(), PARSER)

    def respond(
        self,
        request_url: str | None,
        *,
        sp_entity_id: str,
        acs_url: str,
        name_id: str,
        name_id_format: str = "email",
        attributes: Mapping[str, Sequence[str]] | None = None,
        relay_state: str | None = None,
        sign_assertion: bool = True,
        sign_response: bool = False,
        key: str = "rsa",
        signature_alg: str | None = None,
        digest: str = "sha256",
        keyinfo: str | None = None,
        in_response_to: str | None = "",
        issued_at: datetime.datetime | None = None,
        not_before: datetime.timedelta = datetime.timedelta(0),
        not_on_or_after: datetime.timedelta = datetime.timedelta(minutes=5),
        encrypt_for: Path | None = None,
        key_transport: str = "rsa-oaep-mgf1p",
        data_encryption: str = "aes256-gcm",
        sp_signing_cert: str | None = None,
        edits: Edits = Edits(),
    ) -> Reply:
        """Answer an AuthnRequest (`request_url`: the SP's redirect to our SSO URL), or, with None, make an
        IdP-initiated (unsolicited) response.

        name_id_format: a URN or one of NAME_ID_FORMATS' short names. attributes: name -> values, names as
            given (NameFormat uri).
        relay_state: the RelayState to post back; default: the request's, echoed.
        key: the signing key's name in the key set (`rsa`, `ec`, `rsa_next`, `attacker`); signature_alg:
            a SIGNATURE_ALGORITHMS name or URI (default by key kind: rsa-sha256 / ecdsa-sha256); digest:
            `sha256`, `sha1` or a URI; keyinfo: whose certificate KeyInfo carries (default the signer's).
        in_response_to: "" (default) takes the request's ID; None leaves InResponseTo out; a string is used.
        issued_at, not_before, not_on_or_after: IssueInstant (default now), and the Conditions /
            SubjectConfirmationData window as offsets from it.
        encrypt_for: the SP's certificate (PEM file): the Assertion goes out as an EncryptedAssertion
            (after its signature), with `key_transport` and `data_encryption` from xmlenc.
        sp_signing_cert: the SP's signing certificate (PEM or base64): the request's redirect signature is
            then required and checked.
        edits: changes made before signing (see Edits).
        """
        request = (
            self.parse_request(request_url, sp_entity_id, acs_url, sp_signing_cert) if request_url else None
        )
        if in_response_to == "":
            in_response_to = request.id if request else None
        server = self._server(sp_entity_id, acs_url)
        name = NameID(format=NAME_ID_FORMATS.get(name_id_format, name_id_format), text=name_id)
        built = server.create_authn_response(
            {k: list(v) for k, v in (attributes or {}).items()},
            in_response_to,
            acs_url,
            sp_entity_id,
            name_id=name,
            authn={"class_ref": PASSWORD_PROTECTED_TRANSPORT},
            sign_assertion=False,
            sign_response=False,
        )
        root = etree.fromstring(str(built).encode(), PARSER)
        _set_times(root, issued_at or now_utc(), not_before, not_on_or_after)
        if edits.content:
            edits.content(root)
        assertion_id = attr(one(root, q(SAML, "Assertion")), "ID")
        if sign_assertion:
            root = self._sign(
                root,
                one(root, q(SAML, "Assertion")),
                server,
                key,
                signature_alg,
                digest,
                keyinfo,
                edits.assertion_signature,
            )
        if encrypt_for:
            assertion = one(root, q(SAML, "Assertion"))
            wrapper = etree.Element(q(SAML, "EncryptedAssertion"))
            wrapper.append(xmlenc.encrypt_element(assertion, encrypt_for, key_transport, data_encryption))
            root.replace(assertion, wrapper)
        if sign_response:
            root = self._sign(root, root, server, key, signature_alg, digest, keyinfo, None)
        if relay_state is None and request:
            relay_state = request.relay_state
        xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        return Reply(
            base64.b64encode(xml).decode(),
            relay_state,
            xml,
            request.id if request else None,
            attr(root, "ID"),
            assertion_id,
        )
