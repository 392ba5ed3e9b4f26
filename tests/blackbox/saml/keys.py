"""Keys and self-signed certificates for the test IdP and SP, made at run time into a directory.

No private key is ever committed: every run generates its own into a temporary directory. The set:

  rsa       the IdP's RSA-2048 signing key (RSA-SHA256)
  ec        the IdP's P-256 signing key (ECDSA-SHA256)
  rsa_next  a second IdP RSA key, for certificate-rollover tests (metadata listing two signing certs)
  attacker  an RSA key nobody trusts, for forged signatures
  sp        the SP's RSA key: assertions are encrypted to its certificate
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

KeyKind = Literal["rsa", "ec"]

#: name -> (kind, certificate common name)
KEY_SET: dict[str, tuple[KeyKind, str]] = {
    "rsa": ("rsa", "Tessera test IdP (RSA)"),
    "ec": ("ec", "Tessera test IdP (P-256)"),
    "rsa_next": ("rsa", "Tessera test IdP (RSA, next)"),
    "attacker": ("rsa", "Attacker"),
    "sp": ("rsa", "Tessera test SP (encryption)"),
}


@dataclass(frozen=True)
class KeyPair:
    """A private key (PKCS#8 PEM) and its self-signed certificate (PEM), as files."""

    name: str
    key_path: Path
    cert_path: Path

    @property
    def kind(self) -> KeyKind:
        """`rsa` or `ec`, read from the certificate's public key."""
        public = x509.load_pem_x509_certificate(self.cert_path.read_bytes()).public_key()
        return "ec" if isinstance(public, ec.EllipticCurvePublicKey) else "rsa"

    @property
    def cert_pem(self) -> str:
        return self.cert_path.read_text()

    @property
    def cert_b64(self) -> str:
        """The certificate as base64 DER on one line, as metadata and KeyInfo carry it."""
        der = x509.load_pem_x509_certificate(self.cert_path.read_bytes()).public_bytes(
            serialization.Encoding.DER
        )
        return base64.b64encode(der).decode()


def generate(directory: Path, name: str, kind: KeyKind, common_name: str) -> KeyPair:
    """Write `{name}.key` and `{name}.crt` into `directory`: RSA-2048 or P-256, cert valid ±1 day/1 year."""
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pair = KeyPair(name, directory / f"{name}.key", directory / f"{name}.crt")
    pair.key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pair.key_path.chmod(0o600)
    pair.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


def generate_set(directory: Path) -> dict[str, KeyPair]:
    """Generate every key of `KEY_SET` into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    return {name: generate(directory, name, kind, cn) for name, (kind, cn) in KEY_SET.items()}


def load_set(directory: Path) -> dict[str, KeyPair]:
    """The key set that `generate_set` wrote into `directory`."""
    pairs = {name: KeyPair(name, directory / f"{name}.key", directory / f"{name}.crt") for name in KEY_SET}
    missing = [p.name for p in pairs.values() if not p.key_path.exists()]
    if missing:
        raise FileNotFoundError(f"{directory}: no key(s) {', '.join(missing)}; run `init` first")
    return pairs
