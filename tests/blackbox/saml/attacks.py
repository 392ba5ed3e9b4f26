"""The attack corpus: named responses made from a freshly signed valid one, with the refusal each must get.

Every case is built at run time by the test IdP (`idp.IdP`) for one SP connection and, when it answers a
login, for one real AuthnRequest (the redirect URL the SP's /login answered with). A case's `expected` lists
the SP's refusal codes it may give, any one of them being right; an empty list means the response must be
accepted (the control cases, `valid_*`). Where two codes are listed, the case's docstring says why both are
defensible (they depend on which check an SP runs first).

The SP connection the corpus assumes: IdP metadata from `IdP.metadata()` (signing certs `rsa`, `ec` and
`rsa_next`), a signature required on the Assertion or on the Response that encloses it, SHA-1 refused,
IdP-initiated responses refused, RelayState limited to the SP's own paths, a size limit of 256 KiB, and,
for the `valid_encrypted_*` cases, the private key of the certificate given as `encrypt_for`.

The "evil" edit an attacker makes is always the same: NameID and `email` become EVIL_NAME_ID and `groups`
becomes `admins`, so a verdict "accepted as admin@corp.example" is the tell of a successful attack.
"""

from __future__ import annotations

import base64
import copy
import datetime
import inspect
import itertools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from . import xmlenc
from .dom import DSIG, SAML, SAMLP, attr, one, q
from .idp import Edits, IdP, Reply, now_utc

USER = "alice@corp.example"
EVIL_NAME_ID = "admin@corp.example"
ATTRIBUTES = {"email": [USER], "groups": ["staff"]}
EVIL_RELAY_STATE = "https://evil.example/"
MAX_SIZE = 256 * 1024
NOT_BASE64 = "%%% this is not base64 %%%"

Payload = Reply | etree._Element | bytes | str


@dataclass(frozen=True)
class Case:
    """One response to post to the ACS, and what the SP must answer."""

    name: str
    expected: tuple[str, ...]
    description: str
    saml_response: str
    relay_state: str | None
    needs_request_id: bool
    posts: int = 1
    in_response_to: str | None = None

    def to_json(self) -> dict[str, object]:
        """The case as `corpus --out` writes it (one file per case)."""
        return {
            "name": self.name,
            "expected": list(self.expected),
            "description": self.description,
            "SAMLResponse": self.saml_response,
            "RelayState": self.relay_state,
            "needs_request_id": self.needs_request_id,
            "posts": self.posts,
            "in_response_to": self.in_response_to,
        }


@dataclass(frozen=True)
class Context:
    """What a case builder works with: the IdP, the SP connection, and the request being answered."""

    idp: IdP
    sp_entity_id: str
    acs_url: str
    request_url: str | None
    encrypt_for: Path | None = None

    def respond(self, **kwargs: Any) -> Reply:
        """A response to the request, `kwargs` overriding idp.respond's defaults (user alice, ATTRIBUTES)."""
        args: dict[str, Any] = {"name_id": USER, "attributes": ATTRIBUTES}
        args.update(kwargs)
        request_url = args.pop("request_url", self.request_url)
        return self.idp.respond(request_url, sp_entity_id=self.sp_entity_id, acs_url=self.acs_url, **args)

    def tree(self, **kwargs: Any) -> etree._Element:
        """`respond(**kwargs)` parsed, for edits after signing."""
        return etree.fromstring(self.respond(**kwargs).xml)


@dataclass(frozen=True)
class _Spec:
    build: Callable[[Context], Payload]
    expected: tuple[str, ...]
    needs_request_id: bool
    posts: int
    relay_state: str | None


CASES: dict[str, _Spec] = {}


def case(
    name: str, *expected: str, needs_request_id: bool = True, posts: int = 1, relay_state: str | None = None
) -> Callable[[Callable[[Context], Payload]], Callable[[Context], Payload]]:
    """Register a case builder under `name`; its docstring is the case's description."""

    def register(build: Callable[[Context], Payload]) -> Callable[[Context], Payload]:
        CASES[name] = _Spec(build, expected, needs_request_id, posts, relay_state)
        return build

    return register


# --- helpers -----------------------------------------------------------------------------------------------


def _assertion(root: etree._Element) -> etree._Element:
    """The Response's (first) Assertion."""
    return one(root, q(SAML, "Assertion"))


def _signature(el: etree._Element) -> etree._Element:
    """`el`'s own (child) ds:Signature."""
    return one(el, q(DSIG, "Signature"))


def _unsigned_copy(el: etree._Element) -> etree._Element:
    """A deep copy of `el` without its own ds:Signature."""
    clone = copy.deepcopy(el)
    sig = clone.find(q(DSIG, "Signature"))
    if sig is not None:
        clone.remove(sig)
    return clone


def _make_evil(el: etree._Element) -> None:
    """The attacker's edit, wherever it applies under `el`: subject and email become EVIL_NAME_ID, groups
    become admins."""
    for name_id in el.iter(q(SAML, "NameID")):
        name_id.text = EVIL_NAME_ID
    for attribute in el.iter(q(SAML, "Attribute")):
        values = attribute.findall(q(SAML, "AttributeValue"))
        if attribute.get("Name") == "email":
            for v in values:
                v.text = EVIL_NAME_ID
        if attribute.get("Name") == "groups":
            for v in values:
                v.text = "admins"


def _evil_assertion(original: etree._Element, new_id: str | None = "_evil_assertion") -> etree._Element:
    """An unsigned copy of `original` carrying the attacker's edit (and `new_id`, unless None)."""
    evil = _unsigned_copy(original)
    _make_evil(evil)
    if new_id:
        evil.set("ID", new_id)
    return evil


def _with_doctype(root: etree._Element, internal_subset: str, name_id_text: str) -> bytes:
    """The document with a DOCTYPE (internal subset given) and the NameID's text replaced by raw markup
    (an entity reference), built as text since lxml would escape it."""
    marker = "NAMEID-MARKER-" + secrets.token_hex(4)
    one(root, f".//{q(SAML, 'NameID')}").text = marker
    body = etree.tostring(root).decode().replace(marker, name_id_text)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE {root.prefix}:Response [{internal_subset}]>\n'
        f"{body}"
    ).encode()


# --- control cases: must be accepted -----------------------------------------------------------------------


@case("valid_rsa")
def valid_rsa(ctx: Context) -> Payload:
    """Control: the Assertion signed with RSA-SHA256 by the IdP's `rsa` key (the default response)."""
    return ctx.respond()


@case("valid_ec")
def valid_ec(ctx: Context) -> Payload:
    """Control: the Assertion signed with ECDSA-SHA256 (P-256) by the IdP's `ec` key."""
    return ctx.respond(key="ec")


@case("valid_response_signed")
def valid_response_signed(ctx: Context) -> Payload:
    """Control: only the Response is signed (it encloses the Assertion, so the Assertion is covered)."""
    return ctx.respond(sign_assertion=False, sign_response=True)


@case("valid_both_signed")
def valid_both_signed(ctx: Context) -> Payload:
    """Control: the Assertion and then the Response are signed (two nested signatures)."""
    return ctx.respond(sign_response=True)


@case("valid_rollover")
def valid_rollover(ctx: Context) -> Payload:
    """Control: signed by `rsa_next`, the second RSA cert in the metadata (certificate rollover)."""
    return ctx.respond(key="rsa_next")


def _encrypted(key_transport: str, data_encryption: str) -> Callable[[Context], Payload]:
    # AES-CBC does not authenticate: our SP takes it only inside a signed Response (the signature, checked
    # before decryption, covers the EncryptedAssertion), so the CBC controls sign the Response too.
    cbc = data_encryption.endswith("cbc")

    def build(ctx: Context) -> Payload:
        return ctx.respond(
            encrypt_for=ctx.encrypt_for,
            key_transport=key_transport,
            data_encryption=data_encryption,
            sign_response=cbc,
        )

    build.__doc__ = (
        f"Control: the signed Assertion sent as an EncryptedAssertion, key transport "
        f"{xmlenc.KEY_TRANSPORT_NOTES[key_transport]}, data "
        f"{xmlenc.DATA_ENCRYPTIONS[data_encryption][0]}"
        f"{' (in a signed Response)' if cbc else ''}. Built only with `encrypt_for`."
    )
    return build


ENCRYPTED_CASES = {
    f"valid_encrypted_{kt}_{de}".replace("-", "_"): (kt, de)
    for kt in xmlenc.KEY_TRANSPORTS
    for de in xmlenc.DATA_ENCRYPTIONS
}
for _name, (_kt, _de) in ENCRYPTED_CASES.items():
    case(_name)(_encrypted(_kt, _de))


# --- signatures --------------------------------------------------------------------------------------------


@case("unsigned", "saml_signature_missing")
def unsigned(ctx: Context) -> Payload:
    """No signature at all: neither the Assertion nor the Response is signed."""
    return ctx.respond(sign_assertion=False)


@case("signed_by_other_key", "saml_signature_invalid")
def signed_by_other_key(ctx: Context) -> Payload:
    """Signed with the attacker's key, KeyInfo still carrying the IdP's real certificate (copied from its
    metadata): an SP that checks the KeyInfo cert against the metadata and then trusts it is fooled."""
    return ctx.respond(key="attacker", keyinfo="rsa", name_id=EVIL_NAME_ID)


@case("keyinfo_swapped_cert", "saml_signature_invalid")
def keyinfo_swapped_cert(ctx: Context) -> Payload:
    """Signed with the attacker's key, KeyInfo carrying the attacker's own certificate: the signature is
    valid for the key in KeyInfo, so it must fail because KeyInfo is ignored and the metadata pins keys."""
    return ctx.respond(key="attacker", keyinfo="attacker", name_id=EVIL_NAME_ID)


@case("sha1_signature", "saml_algorithm_refused")
def sha1_signature(ctx: Context) -> Payload:
    """SignatureMethod rsa-sha1, really signed with SHA-1 by xmlsec1 (digest still SHA-256)."""
    return ctx.respond(signature_alg="rsa-sha1")


@case("sha1_digest", "saml_algorithm_refused")
def sha1_digest(ctx: Context) -> Payload:
    """DigestMethod sha1 on the Reference (SignatureMethod still rsa-sha256), really computed with SHA-1."""
    return ctx.respond(digest="sha1")


@case("assertion_modified_after_signing", "saml_digest_mismatch")
def assertion_modified_after_signing(ctx: Context) -> Payload:
    """The `groups` value changed from staff to admins after signing: SignedInfo still verifies, the
    Reference's digest no longer matches."""
    root = ctx.tree()
    for value in _assertion(root).iter(q(SAML, "AttributeValue")):
        if value.text == "staff":
            value.text = "admins"
    return root


@case("comment_in_nameid", "saml_value_not_text")
def comment_in_nameid(ctx: Context) -> Payload:
    """The IdP signed NameID `admin@corp.example.evil.test` (an account the attacker may register); a comment
    is then put in: `admin@corp.example<!---->.evil.test`. Exclusive c14n without comments drops it, so the
    signature still verifies, and a reader that takes the first text node sees `admin@corp.example`. The SP
    refuses an element whose content is not a single text node."""
    root = ctx.tree(name_id="admin@corp.example.evil.test")
    name_id = one(root, f".//{q(SAML, 'NameID')}")
    name_id.text = EVIL_NAME_ID
    comment = etree.Comment("")
    comment.tail = ".evil.test"
    name_id.append(comment)
    return root


@case("transform_extra", "saml_transform_refused")
def transform_extra(ctx: Context) -> Payload:
    """A third Transform, an XPath filter, between enveloped-signature and exc-c14n; validly signed by the
    IdP's key with it (xmlsec1 applies it). The SP accepts exactly enveloped-signature + exc-c14n."""

    def add_xpath(signature: etree._Element) -> None:
        transforms = one(signature, f".//{q(DSIG, 'Transforms')}")
        xpath = etree.Element(q(DSIG, "Transform"), Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")
        etree.SubElement(xpath, q(DSIG, "XPath")).text = "not(ancestor-or-self::ds:Signature)"
        transforms.insert(1, xpath)

    return ctx.respond(edits=Edits(assertion_signature=add_xpath))


@case("reference_empty_uri", "saml_reference_invalid")
def reference_empty_uri(ctx: Context) -> Payload:
    """The Assertion's Signature has Reference URI="" (the whole document, minus this signature), validly
    signed so: it covers more than the Assertion, but it is not a reference to the Assertion's ID."""

    def empty_uri(signature: etree._Element) -> None:
        one(signature, f".//{q(DSIG, 'Reference')}").set("URI", "")

    return ctx.respond(edits=Edits(assertion_signature=empty_uri))


@case("two_references", "saml_reference_invalid")
def two_references(ctx: Context) -> Payload:
    """SignedInfo holds two References (both to the Assertion), validly signed: the SP wants exactly one."""

    def second_reference(signature: etree._Element) -> None:
        reference = one(signature, f".//{q(DSIG, 'Reference')}")
        reference.addnext(copy.deepcopy(reference))

    return ctx.respond(edits=Edits(assertion_signature=second_reference))


# --- XML parsing -------------------------------------------------------------------------------------------


@case("xxe_doctype", "saml_doctype")
def xxe_doctype(ctx: Context) -> Payload:
    """A DOCTYPE declaring an external entity (file:///etc/passwd) used as the NameID's text."""
    return _with_doctype(ctx.tree(), '<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;")


@case("billion_laughs", "saml_doctype")
def billion_laughs(ctx: Context) -> Payload:
    """A DOCTYPE with nested entities expanding to 10^9 `lol`s, used as the NameID's text."""
    subset = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    return _with_doctype(ctx.tree(), subset, "&lol9;")


@case("duplicate_id", "saml_duplicate_id")
def duplicate_id(ctx: Context) -> Payload:
    """The (unsigned) Response gets the signed Assertion's ID: two elements carry the ID the Reference names,
    so which one it covers depends on the ID lookup."""
    root = ctx.tree()
    root.set("ID", attr(_assertion(root), "ID"))
    return root


@case("second_unsigned_assertion", "saml_wrapping")
def second_unsigned_assertion(ctx: Context) -> Payload:
    """The signed Assertion, then an unsigned evil Assertion (its own ID) after it in the Response."""
    root = ctx.tree()
    _assertion(root).addnext(_evil_assertion(_assertion(root)))
    return root


@case("oversized", "saml_too_large")
def oversized(ctx: Context) -> Payload:
    """A validly signed response over 256 KiB (an attribute value that long): refused before parsing."""
    return ctx.respond(attributes={**ATTRIBUTES, "padding": ["x" * (MAX_SIZE + 1)]})


@case("not_base64", "saml_response_not_base64", needs_request_id=False)
def not_base64(ctx: Context) -> Payload:
    """SAMLResponse is not base64."""
    return NOT_BASE64


@case("not_xml", "saml_malformed_xml", needs_request_id=False)
def not_xml(ctx: Context) -> Payload:
    """SAMLResponse is base64 of text that is not XML."""
    return b"this is not XML <<<"


# --- signature wrapping (Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be", USENIX Security
# 2012; numbered as in the SAML Raider tool) ---------------------------------------------------------------


@case("xsw1", "saml_wrapping", "saml_reference_invalid")
def xsw1(ctx: Context) -> Payload:
    """XSW1, on a signed Response: the document becomes an evil Response (new IDs, evil Assertion) that keeps
    the original Signature; an unsigned copy of the original Response is put inside that Signature (after
    KeyInfo, not in a ds:Object), where the Reference still finds its ID. Both codes: the signed element is
    not the one the SP reads (wrapping), which an SP may detect as a Reference not naming the Signature's
    parent."""
    root = ctx.tree(sign_assertion=False, sign_response=True)
    original = _unsigned_copy(root)
    _make_evil(_assertion(root))
    _assertion(root).set("ID", "_evil_assertion")
    root.set("ID", "_evil_response")
    _signature(root).append(original)
    return root


@case("xsw2", "saml_wrapping", "saml_reference_invalid")
def xsw2(ctx: Context) -> Payload:
    """XSW2, on a signed Response: as XSW1, but the unsigned copy of the original Response is put before the
    Signature, as a sibling inside the evil Response (a detached signature). Both codes: as XSW1."""
    root = ctx.tree(sign_assertion=False, sign_response=True)
    original = _unsigned_copy(root)
    _make_evil(_assertion(root))
    _assertion(root).set("ID", "_evil_assertion")
    root.set("ID", "_evil_response")
    _signature(root).addprevious(original)
    return root


@case("xsw3", "saml_wrapping")
def xsw3(ctx: Context) -> Payload:
    """XSW3, on a signed Assertion: an unsigned evil copy (new ID) is inserted before the signed Assertion,
    so a reader taking the first Assertion gets the evil one."""
    root = ctx.tree()
    _assertion(root).addprevious(_evil_assertion(_assertion(root)))
    return root


@case("xsw4", "saml_wrapping", "saml_signature_missing")
def xsw4(ctx: Context) -> Payload:
    """XSW4, on a signed Assertion: an unsigned evil copy (new ID) replaces it, and the signed original is
    moved inside the evil Assertion as its last child. Both codes: the one top-level Assertion carries no
    signature of its own (missing), and the only signature covers an element the SP does not read
    (wrapping)."""
    root = ctx.tree()
    original = _assertion(root)
    evil = _evil_assertion(original)
    original.addprevious(evil)
    evil.append(original)
    return root


@case("xsw5", "saml_wrapping", "saml_reference_invalid")
def xsw5(ctx: Context) -> Payload:
    """XSW5, on a signed Assertion: the signed Assertion itself is made evil (new ID), keeping its Signature,
    whose Reference now finds an unsigned copy of the original appended at the end of the Response. Both
    codes: the Reference does not name the Signature's parent, and two Assertions are present."""
    root = ctx.tree()
    signed = _assertion(root)
    root.append(_unsigned_copy(signed))
    _make_evil(signed)
    signed.set("ID", "_evil_assertion")
    return root


@case("xsw6", "saml_wrapping", "saml_reference_invalid")
def xsw6(ctx: Context) -> Payload:
    """XSW6, on a signed Assertion: as XSW5, but the unsigned copy of the original goes inside the evil
    Assertion's own Signature element, after KeyInfo (not in a ds:Object: a schema-strict XML-DSig reader
    such as libxmlsec1 stops at it). Both codes: as XSW5."""
    root = ctx.tree()
    signed = _assertion(root)
    _signature(signed).append(_unsigned_copy(signed))
    _make_evil(signed)
    signed.set("ID", "_evil_assertion")
    return root


@case("xsw7", "saml_duplicate_id", "saml_wrapping")
def xsw7(ctx: Context) -> Payload:
    """XSW7, on a signed Assertion: a samlp:Extensions (schema: any content) in its place after the Issuer
    holds an unsigned evil copy with the same ID; the signed Assertion stays. Both codes: the duplicated ID
    is the first thing a strict reader sees; past it, the evil copy is a wrapping."""
    root = ctx.tree()
    extensions = etree.Element(q(SAMLP, "Extensions"))
    extensions.append(_evil_assertion(_assertion(root), new_id=None))
    one(root, q(SAML, "Issuer")).addnext(extensions)
    return root


@case("xsw8", "saml_duplicate_id", "saml_wrapping")
def xsw8(ctx: Context) -> Payload:
    """XSW8, on a signed Assertion: the signed Assertion is made evil (same ID, Signature kept) and an
    unsigned copy of the original goes into a ds:Object inside that Signature, where the Reference may find
    it. Both codes: as XSW7."""
    root = ctx.tree()
    signed = _assertion(root)
    original = _unsigned_copy(signed)
    _make_evil(signed)
    etree.SubElement(_signature(signed), q(DSIG, "Object")).append(original)
    return root


# --- values the SP checks (a legitimate signature over wrong values) ---------------------------------------


@case("expired", "saml_expired")
def expired(ctx: Context) -> Payload:
    """Issued 1 h ago with a 5 min window: NotOnOrAfter (Conditions and SubjectConfirmationData) is 55 min
    in the past, far beyond any clock skew. Signed by the IdP."""
    return ctx.respond(issued_at=now_utc() - datetime.timedelta(hours=1))


@case("not_yet_valid", "saml_not_yet_valid")
def not_yet_valid(ctx: Context) -> Payload:
    """Conditions NotBefore 1 h in the future (issued now, valid for 2 h). Signed by the IdP."""
    return ctx.respond(not_before=datetime.timedelta(hours=1), not_on_or_after=datetime.timedelta(hours=2))


def _set_all(tag: str, attribute: str | None, value: str) -> Callable[[etree._Element], None]:
    """An Edits.content function setting `attribute` (or the text, if None) of every `tag` element."""

    def edit(root: etree._Element) -> None:
        for el in root.iter(tag):
            if attribute:
                el.set(attribute, value)
            else:
                el.text = value

    return edit


@case("wrong_audience", "saml_audience_mismatch")
def wrong_audience(ctx: Context) -> Payload:
    """Audience is another SP's entityID. Signed by the IdP."""
    return ctx.respond(
        edits=Edits(content=_set_all(q(SAML, "Audience"), None, "https://other-sp.example/metadata"))
    )


@case("wrong_recipient", "saml_recipient_mismatch")
def wrong_recipient(ctx: Context) -> Payload:
    """SubjectConfirmationData Recipient is another ACS URL (the Response's Destination is still ours).
    Signed by the IdP."""
    return ctx.respond(
        edits=Edits(
            content=_set_all(q(SAML, "SubjectConfirmationData"), "Recipient", "https://other-sp.example/acs")
        )
    )


@case("wrong_destination", "saml_destination_mismatch")
def wrong_destination(ctx: Context) -> Payload:
    """The Response's Destination is another ACS URL (the Assertion's Recipient is still ours)."""
    return ctx.respond(
        edits=Edits(content=_set_all(q(SAMLP, "Response"), "Destination", "https://other-sp.example/acs"))
    )


@case("wrong_issuer", "saml_issuer_mismatch")
def wrong_issuer(ctx: Context) -> Payload:
    """Issuer (of the Response and the Assertion) is another IdP's entityID; signed with our IdP's key."""
    return ctx.respond(
        edits=Edits(content=_set_all(q(SAML, "Issuer"), None, "https://evil-idp.example/metadata"))
    )


# --- the login flow ----------------------------------------------------------------------------------------


@case("unknown_in_response_to", "saml_request_unknown", needs_request_id=False)
def unknown_in_response_to(ctx: Context) -> Payload:
    """InResponseTo names a request the SP never sent. Signed by the IdP."""
    return ctx.respond(request_url=None, in_response_to="_never_sent_" + secrets.token_hex(8))


@case("replayed", "saml_assertion_replayed", "saml_request_unknown", posts=2)
def replayed(ctx: Context) -> Payload:
    """A valid response posted twice: the first post is accepted, the second must be refused. Both codes:
    the assertion ID is in the replay cache, and the InResponseTo request was spent by the first post; which
    the SP checks first decides."""
    return ctx.respond()


@case("unsolicited", "saml_unsolicited", needs_request_id=False)
def unsolicited(ctx: Context) -> Payload:
    """An IdP-initiated response: no InResponseTo anywhere. Signed by the IdP."""
    return ctx.respond(request_url=None, in_response_to=None)


@case("open_relay_state", "saml_relay_state_refused", "saml_request_unknown", relay_state=EVIL_RELAY_STATE)
def open_relay_state(ctx: Context) -> Payload:
    """A valid response posted with RelayState https://evil.example/ (an open redirect after login). Both
    codes: an SP that keeps the return address with the request (ours) sees a RelayState that is not the
    token it sent with the request, and refuses the request; one that reads the posted RelayState refuses
    the address."""
    return ctx.respond()


# --- building ----------------------------------------------------------------------------------------------


def _encode(payload: Payload) -> str:
    """The SAMLResponse form value for a builder's result."""
    if isinstance(payload, Reply):
        return payload.saml_response
    if isinstance(payload, str):
        return payload
    if isinstance(payload, etree._Element):
        payload = etree.tostring(payload, xml_declaration=True, encoding="UTF-8")
    return base64.b64encode(payload).decode()


def _description(spec: _Spec) -> str:
    """The builder's docstring as one paragraph."""
    return " ".join((inspect.getdoc(spec.build) or "").split())


def names(with_encryption: bool = True) -> list[str]:
    """Every case name, in corpus order; the `valid_encrypted_*` ones only `with_encryption`."""
    return [n for n in CASES if with_encryption or n not in ENCRYPTED_CASES]


def describe(name: str) -> dict[str, object]:
    """A case's name, expected codes, description and flow needs, without building it."""
    spec = CASES[name]
    return {
        "name": name,
        "expected": list(spec.expected),
        "description": _description(spec),
        "needs_request_id": spec.needs_request_id,
        "posts": spec.posts,
    }


def build(ctx: Context, name: str) -> Case:
    """Build the case `name` for `ctx` (its request answered when the case needs one)."""
    spec = CASES[name]
    if name in ENCRYPTED_CASES and ctx.encrypt_for is None:
        raise ValueError(f"{name} needs the SP's encryption certificate (encrypt_for)")
    if spec.needs_request_id and ctx.request_url is None:
        raise ValueError(f"{name} answers a request: give the SP's AuthnRequest redirect URL")
    relay_state = request_id = None
    if ctx.request_url and spec.needs_request_id:
        request = ctx.idp.parse_request(ctx.request_url, ctx.sp_entity_id, ctx.acs_url)
        relay_state, request_id = request.relay_state, request.id
    if spec.relay_state is not None:
        relay_state = spec.relay_state
    return Case(
        name,
        spec.expected,
        _description(spec),
        _encode(spec.build(ctx)),
        relay_state,
        spec.needs_request_id,
        spec.posts,
        request_id,
    )


def corpus(
    idp: IdP,
    sp_entity_id: str,
    acs_url: str,
    request_urls: Sequence[str],
    encrypt_for: Path | None = None,
    only: Sequence[str] | None = None,
) -> list[Case]:
    """Build the cases named in `only` (default: all; the encrypted controls only with `encrypt_for`).

    request_urls: the SP's AuthnRequest redirect URLs. With one, every case that needs a request answers it
    (fine when the SP does not spend a request ID on a refused response); with several, each such case takes
    the next one, so there must be at least as many as such cases.
    """
    selected = list(only) if only else names(with_encryption=encrypt_for is not None)
    needing = sum(CASES[n].needs_request_id for n in selected)
    if needing and len(request_urls) != 1 and len(request_urls) < needing:
        raise ValueError(f"{needing} cases need a request, {len(request_urls)} request URLs given")
    urls = itertools.repeat(request_urls[0]) if len(request_urls) == 1 else iter(request_urls)
    built = []
    for name in selected:
        request_url = next(urls) if CASES[name].needs_request_id else None
        built.append(build(Context(idp, sp_entity_id, acs_url, request_url, encrypt_for), name))
    return built
