"""Command line of the SAML test tooling, for node tests: run from the repository root as

  .tools/venv-saml/bin/python -m tests.blackbox.saml COMMAND ...

  init --dir D --entity-id E --sso-url U
      Generate the keys into D (a temp dir the test owns) and record the IdP; prints JSON: entity_id,
      sso_url, metadata (XML listing the rsa, ec and rsa_next signing certs), and the PEM paths of every key
      pair (`sp_cert` is what `--encrypt-for` takes; `sp_key` the private key our SP must hold for it).
  metadata --dir D [--keys rsa,ec,rsa_next]
      Print the IdP metadata XML with the signing certs of the keys named.
  respond --dir D [--request-url URL] --sp-entity-id S --acs-url A --name-id N [options] [--json]
      Answer the AuthnRequest in URL (the Location of the SP's /login answer), or without it make an
      IdP-initiated response. --json prints {SAMLResponse, RelayState, requestId, responseId, assertionId};
      otherwise the Response XML. See `respond --help` for the options (keys, algorithms, times, encryption).
  cases
      Print the corpus's cases as JSON without building them: name, expected, description,
      needs_request_id, posts.
  corpus --dir D --sp-entity-id S --acs-url A --request-url URL [--request-url URL2 ...] [--case NAME ...]
         [--encrypt-for PEM] [--out DIR]
      Build the attack corpus (attacks.py): with --out one DIR/NAME.json per case, {name, expected,
      description, SAMLResponse, RelayState, needs_request_id, posts, in_response_to}; else a JSON array.
      One --request-url serves every case that needs one; several are taken one per such case, in order.

  judge --dir D --sp-entity-id S --acs-url A --response FILE [--request-id R]
      python3-saml's verdict (reference.py, strict, the IdP's certificates pinned) on the base64 SAMLResponse
      in FILE, posted to A for the request R (absent: unsolicited): prints {accepted, reason, name_id}.

Errors (a refused AuthnRequest, a missing key) exit with status 2 and a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from . import attacks, xmlenc
from .idp import NAME_ID_FORMATS, SIGNING_KEYS, IdP, RequestRefused


def _init(args: argparse.Namespace) -> object:
    idp = IdP.create(args.dir, args.entity_id, args.sso_url)
    (args.dir / "metadata.xml").write_text(idp.metadata(SIGNING_KEYS))
    paths = {
        f"{name}_{part}": str(getattr(pair, f"{part}_path"))
        for name, pair in idp.keys.items()
        for part in ("key", "cert")
    }
    return {
        "entity_id": idp.entity_id,
        "sso_url": idp.sso_url,
        "metadata": idp.metadata(SIGNING_KEYS),
        "metadata_path": str(args.dir / "metadata.xml"),
        **paths,
    }


def _metadata(args: argparse.Namespace) -> str:
    return IdP.load(args.dir).metadata(args.keys.split(","))


def _attributes(pairs: list[str]) -> dict[str, list[str]]:
    """`name=value` pairs (a name repeated for several values) as a mapping."""
    attributes: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--attr wants name=value, got {pair!r}")
        attributes.setdefault(name, []).append(value)
    return attributes


def _respond(args: argparse.Namespace) -> object:
    seconds = lambda s: datetime.timedelta(seconds=s)  # noqa: E731
    reply = IdP.load(args.dir).respond(
        args.request_url,
        sp_entity_id=args.sp_entity_id,
        acs_url=args.acs_url,
        name_id=args.name_id,
        name_id_format=args.name_id_format,
        attributes=_attributes(args.attr),
        relay_state=args.relay_state,
        sign_assertion=not args.no_sign_assertion,
        sign_response=args.sign_response,
        key=args.key,
        signature_alg=args.signature_alg,
        digest=args.digest,
        keyinfo=args.keyinfo,
        in_response_to=None if args.no_in_response_to else (args.in_response_to or ""),
        issued_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0) + seconds(args.issued_offset),
        not_before=seconds(args.not_before),
        not_on_or_after=seconds(args.not_on_or_after),
        encrypt_for=args.encrypt_for,
        key_transport=args.key_transport,
        data_encryption=args.data_encryption,
        sp_signing_cert=args.sp_signing_cert.read_text() if args.sp_signing_cert else None,
    )
    return reply.to_json() if args.json else reply.xml.decode()


def _cases(_: argparse.Namespace) -> object:
    return [attacks.describe(name) for name in attacks.CASES]


def _corpus(args: argparse.Namespace) -> object:
    cases = attacks.corpus(
        IdP.load(args.dir), args.sp_entity_id, args.acs_url, args.request_url, args.encrypt_for, args.case
    )
    if not args.out:
        return [c.to_json() for c in cases]
    args.out.mkdir(parents=True, exist_ok=True)
    for c in cases:
        (args.out / f"{c.name}.json").write_text(json.dumps(c.to_json(), indent=1))
    return [c.name for c in cases]


def _judge(args: argparse.Namespace) -> object:
    from . import reference  # python3-saml loads xmlsec: only when asked

    idp = IdP.load(args.dir)
    config = reference.settings(
        args.sp_entity_id,
        args.acs_url,
        idp.entity_id,
        idp.sso_url,
        [idp.keys[name].cert_b64 for name in SIGNING_KEYS],
    )
    verdict = reference.judge(config, args.response.read_text().strip(), args.request_id)
    return {"accepted": verdict.accepted, "reason": verdict.reason, "name_id": verdict.name_id}


def parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    top = argparse.ArgumentParser(
        prog="python -m tests.blackbox.saml",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)

    p = commands.add_parser("init", help="generate keys, record the IdP, print its metadata")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--entity-id", required=True)
    p.add_argument("--sso-url", required=True)
    p.set_defaults(run=_init)

    p = commands.add_parser("metadata", help="print the IdP metadata")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--keys", default=",".join(SIGNING_KEYS), help="signing keys listed, comma-separated")
    p.set_defaults(run=_metadata)

    p = commands.add_parser("respond", help="answer an AuthnRequest (or make an IdP-initiated response)")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--request-url", help="the SP's redirect to the IdP SSO URL; absent: IdP-initiated")
    p.add_argument("--sp-entity-id", required=True)
    p.add_argument("--acs-url", required=True)
    p.add_argument("--name-id", required=True)
    p.add_argument("--name-id-format", default="email", help=f"a URN or one of {', '.join(NAME_ID_FORMATS)}")
    p.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE", help="repeatable")
    p.add_argument("--relay-state", help="default: the request's, echoed")
    p.add_argument("--no-sign-assertion", action="store_true")
    p.add_argument("--sign-response", action="store_true")
    p.add_argument("--key", default="rsa", help="signing key: rsa, ec, rsa_next, attacker")
    p.add_argument("--signature-alg", help="rsa-sha256, ecdsa-sha256, rsa-sha1 or a URI (default: by key)")
    p.add_argument("--digest", default="sha256", help="sha256, sha1 or a URI")
    p.add_argument("--keyinfo", help="key whose certificate KeyInfo carries (default: the signing key's)")
    irt = p.add_mutually_exclusive_group()
    irt.add_argument("--in-response-to", help="InResponseTo to write instead of the request's ID")
    irt.add_argument("--no-in-response-to", action="store_true", help="leave InResponseTo out")
    p.add_argument("--issued-offset", type=int, default=0, help="IssueInstant = now + SECONDS")
    p.add_argument("--not-before", type=int, default=0, help="Conditions NotBefore = IssueInstant + SECONDS")
    p.add_argument("--not-on-or-after", type=int, default=300, help="NotOnOrAfter = IssueInstant + SECONDS")
    p.add_argument("--encrypt-for", type=Path, help="the SP's certificate (PEM): send an EncryptedAssertion")
    p.add_argument("--key-transport", default="rsa-oaep-mgf1p", choices=list(xmlenc.KEY_TRANSPORTS))
    p.add_argument("--data-encryption", default="aes256-gcm", choices=list(xmlenc.DATA_ENCRYPTIONS))
    p.add_argument(
        "--sp-signing-cert",
        type=Path,
        help="the SP's signing cert (PEM): check the request's redirect signature",
    )
    p.add_argument("--json", action="store_true", help="print the form fields and IDs as JSON")
    p.set_defaults(run=_respond)

    p = commands.add_parser("cases", help="list the corpus's cases (JSON), without building them")
    p.set_defaults(run=_cases)

    p = commands.add_parser("judge", help="python3-saml's verdict on one response")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--sp-entity-id", required=True)
    p.add_argument("--acs-url", required=True)
    p.add_argument("--response", type=Path, required=True, help="a file holding the base64 SAMLResponse")
    p.add_argument("--request-id")
    p.set_defaults(run=_judge)

    p = commands.add_parser("corpus", help="build the attack corpus")
    p.add_argument("--dir", type=Path, required=True)
    p.add_argument("--sp-entity-id", required=True)
    p.add_argument("--acs-url", required=True)
    p.add_argument("--request-url", action="append", default=[], help="repeatable; see above")
    p.add_argument("--case", action="append", choices=list(attacks.CASES), help="repeatable; default all")
    p.add_argument("--encrypt-for", type=Path, help="the SP's certificate (PEM): adds the encrypted controls")
    p.add_argument("--out", type=Path, help="write one JSON file per case here")
    p.set_defaults(run=_corpus)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = args.run(args)
    except (RequestRefused, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(result if isinstance(result, str) else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
