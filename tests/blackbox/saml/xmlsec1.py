"""The `xmlsec1` command-line tool (Debian's `xmlsec1`, 1.2.37 on bookworm), run on temporary files.

pysaml2 runs it itself for signing; this module covers what the tests run it for directly: verifying a
signature against a pinned certificate, and encrypting or decrypting an element with a template.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

SAML_ID_NODES = (
    "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
    "urn:oasis:names:tc:SAML:2.0:protocol:Response",
)


class XmlsecError(RuntimeError):
    """xmlsec1 exited non-zero; the message carries its stderr."""


def binary() -> str:
    """The path of xmlsec1, or an error that says how to install it."""
    path = shutil.which("xmlsec1")
    if path is None:
        raise XmlsecError(
            "xmlsec1 is not installed: apt-get install -y xmlsec1 (scripts/setup --test does it)"
        )
    return path


def run(command: str, options: Sequence[str], files: dict[str, bytes]) -> bytes:
    """Run `xmlsec1 COMMAND --output OUT OPTIONS...`, where `{name}` in OPTIONS stands for a temporary file
    holding `files[name]`. Returns what xmlsec1 wrote to OUT; raises XmlsecError when it fails."""
    with tempfile.TemporaryDirectory(prefix="xmlsec1-") as tmp:
        paths = {}
        for name, content in files.items():
            paths[name] = str(Path(tmp, name))
            Path(paths[name]).write_bytes(content)
        out = Path(tmp, "out.xml")
        argv = [binary(), command, "--output", str(out), *(o.format(**paths) for o in options)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise XmlsecError(f"xmlsec1 {command} failed: {done.stderr.strip()}")
        return out.read_bytes()


def verify(xml: bytes, cert: Path, node_id: str | None = None) -> None:
    """Verify the first ds:Signature inside the element with ID `node_id` (or the document's first) with the
    key of `cert`; a certificate in KeyInfo is only used if it is that one (others fail xmlsec1's chain
    check). Raises XmlsecError if it does not verify."""
    options = ["--pubkey-cert-pem", str(cert), *(o for node in SAML_ID_NODES for o in ("--id-attr:ID", node))]
    if node_id:
        options += ["--node-id", node_id]
    run("--verify", [*options, "{doc}"], {"doc": xml})


def encrypt(template: bytes, data: bytes, cert: Path, session_key: str) -> bytes:
    """Encrypt the root element of `data` with a fresh `session_key` (`aes-128`, `aes-256`) per `template`
    (an xenc:EncryptedData), the session key wrapped for `cert`; returns the filled-in EncryptedData."""
    return run(
        "--encrypt",
        [
            "--pubkey-cert-pem",
            str(cert),
            "--session-key",
            session_key,
            "--xml-data",
            "{data}",
            "--node-xpath",
            "/*",
            "{template}",
        ],
        {"data": data, "template": template},
    )


def decrypt(xml: bytes, key: Path) -> bytes:
    """Decrypt the first xenc:EncryptedData of `xml` with the private key at `key`; returns the document."""
    return run("--decrypt", ["--privkey-pem", str(key), "{doc}"], {"doc": xml})
