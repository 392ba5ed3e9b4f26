"""Helpers for the SAML black-box tests (tests/blackbox/saml_connections.test.mjs).

idp-metadata: prints an identity provider's SAML metadata with a fresh self-signed RSA-2048 signing
    certificate (made now with `cryptography`; the private key is never written anywhere), or with no
    signing certificate at all (--no-signing-key), to see that it is refused.
validate: validates SAML documents (metadata, protocol messages; file paths) against the OASIS SAML 2.0
    schemas that pysaml2 ships, with pysaml2's own validator (xmlschema); prints `valid PATH` or the error
    and exits 1.
"""
import argparse
import base64
import datetime
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def certificate_b64(common_name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def idp_metadata(args):
    keys = ""
    if not args.no_signing_key:
        for i in range(args.certificates):
            cert = certificate_b64(f"{args.entity_id} #{i}")
            keys += (
                f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
                f"<ds:X509Certificate>{cert}</ds:X509Certificate>"
                f"</ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            )
    services = ""
    if args.sso_redirect:
        services += f'<md:SingleSignOnService Binding="{REDIRECT}" Location="{args.sso_redirect}"/>'
    if args.sso_post:
        services += f'<md:SingleSignOnService Binding="{POST}" Location="{args.sso_post}"/>'
    want = ' WantAuthnRequestsSigned="true"' if args.want_signed else ""
    print(
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<md:EntityDescriptor xmlns:md="{MD}" xmlns:ds="{DS}" entityID="{args.entity_id}">'
        f'<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"{want}>'
        f"{keys}"
        f"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
        f"{services}"
        f"</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def validate(args):
    from saml2.xml.schema import XMLSchemaError, validate as saml_validate

    failed = False
    for path in args.paths:
        try:
            saml_validate(path)
            print(f"valid {path}")
        except XMLSchemaError as e:
            failed = True
            print(f"INVALID {path}: {e.args[0]['error'] if e.args else e}")
    sys.exit(1 if failed else 0)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    md = sub.add_parser("idp-metadata")
    md.add_argument("--entity-id", required=True)
    md.add_argument("--sso-redirect")
    md.add_argument("--sso-post")
    md.add_argument("--want-signed", action="store_true")
    md.add_argument("--no-signing-key", action="store_true")
    md.add_argument("--certificates", type=int, default=1)
    md.set_defaults(run=idp_metadata)
    va = sub.add_parser("validate")
    va.add_argument("paths", nargs="+")
    va.set_defaults(run=validate)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
