"""XML Encryption of assertions (EncryptedAssertion), and an independent decrypter to check the result.

Key transport (the AES key wrapped for the SP's RSA certificate):
  rsa-oaep-mgf1p       http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p, SHA-1 digest (MGF1-SHA1 is fixed),
                       by the `xmlsec1` command line (Debian's 1.2.37) with a template;
  rsa-oaep             http://www.w3.org/2009/xmlenc11#rsa-oaep, SHA-256 digest, no MGF element (so
                       MGF1-SHA1, the XML Encryption 1.1 default);
  rsa-oaep-mgf1sha256  the same with an explicit <xenc11:MGF Algorithm="...#mgf1sha256"/>.
  The last two are made by the libxmlsec1 1.3 bundled in the `xmlsec` wheel: xmlsec1 1.2.x does not know
  xmlenc11#rsa-oaep (it arrived in 1.3.0), so its command line can neither make nor check them.
Data encryption: aes256-gcm, aes128-gcm (xmlenc11) and aes256-cbc (xmlenc).

pysaml2's own encryption support cannot be used: it always asks xmlsec1 for a 3DES (`des-192`) session key
with rsa-oaep-mgf1p (pysaml2 7.5.5, sigver.pre_encryption_part / encrypt_assertion).
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from . import xmlsec1
from .dom import DSIG, PARSER, XENC, XENC11, attr, one, q

KEY_TRANSPORTS = {
    "rsa-oaep-mgf1p": XENC + "rsa-oaep-mgf1p",
    "rsa-oaep": XENC11 + "rsa-oaep",
    "rsa-oaep-mgf1sha256": XENC11 + "rsa-oaep",
}
KEY_TRANSPORT_NOTES = {
    "rsa-oaep-mgf1p": "rsa-oaep-mgf1p (SHA-1 digest)",
    "rsa-oaep": "xmlenc11#rsa-oaep (SHA-256 digest, default MGF1-SHA1)",
    "rsa-oaep-mgf1sha256": "xmlenc11#rsa-oaep (SHA-256 digest, MGF1-SHA256)",
}
#: short name -> (algorithm URI, key size in bits)
DATA_ENCRYPTIONS = {
    "aes256-gcm": (XENC11 + "aes256-gcm", 256),
    "aes128-gcm": (XENC11 + "aes128-gcm", 128),
    "aes256-cbc": (XENC + "aes256-cbc", 256),
}
_DIGESTS = {DSIG + "sha1": hashes.SHA1, XENC + "sha256": hashes.SHA256}
_MGFS = {XENC11 + "mgf1sha1": hashes.SHA1, XENC11 + "mgf1sha256": hashes.SHA256}


def template(key_transport: str, data_encryption: str) -> etree._Element:
    """An empty xenc:EncryptedData (Type Element) naming the two algorithms, for xmlsec to fill in."""
    nsmap = {"xenc": XENC, "ds": DSIG, "xenc11": XENC11}
    data = etree.Element(q(XENC, "EncryptedData"), nsmap=nsmap, Type=XENC + "Element")
    etree.SubElement(data, q(XENC, "EncryptionMethod"), Algorithm=DATA_ENCRYPTIONS[data_encryption][0])
    key = etree.SubElement(etree.SubElement(data, q(DSIG, "KeyInfo")), q(XENC, "EncryptedKey"))
    method = etree.SubElement(key, q(XENC, "EncryptionMethod"), Algorithm=KEY_TRANSPORTS[key_transport])
    if key_transport == "rsa-oaep-mgf1p":
        etree.SubElement(method, q(DSIG, "DigestMethod"), Algorithm=DSIG + "sha1")
    else:
        etree.SubElement(method, q(DSIG, "DigestMethod"), Algorithm=XENC + "sha256")
    if key_transport == "rsa-oaep-mgf1sha256":
        etree.SubElement(method, q(XENC11, "MGF"), Algorithm=XENC11 + "mgf1sha256")
    for parent in (key, data):
        etree.SubElement(etree.SubElement(parent, q(XENC, "CipherData")), q(XENC, "CipherValue"))
    return data


def encrypt_element(
    element: etree._Element,
    cert: Path,
    key_transport: str = "rsa-oaep-mgf1p",
    data_encryption: str = "aes256-gcm",
) -> etree._Element:
    """Encrypt `element` for the RSA certificate `cert`; returns the xenc:EncryptedData (`element` is left
    alone). The plaintext is the element serialized on its own, so it carries every namespace declaration it
    needs: a decrypter need not know the document it came from."""
    if key_transport not in KEY_TRANSPORTS or data_encryption not in DATA_ENCRYPTIONS:
        raise ValueError(f"unknown encryption {key_transport}/{data_encryption}")
    plaintext = etree.tostring(element)
    tmpl = template(key_transport, data_encryption)
    bits = DATA_ENCRYPTIONS[data_encryption][1]
    if key_transport == "rsa-oaep-mgf1p":
        out = xmlsec1.encrypt(etree.tostring(tmpl), plaintext, cert, f"aes-{bits}")
        return etree.fromstring(out, PARSER)
    import xmlsec  # the wheel's libxmlsec1 1.3 (imported here: only xmlenc11 needs it)

    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_file(str(cert), xmlsec.constants.KeyDataFormatCertPem, None))
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession)
    return context.encrypt_xml(tmpl, etree.fromstring(plaintext, PARSER))


def _cipher_value(el: etree._Element) -> bytes:
    return base64.b64decode(one(el, f"{q(XENC, 'CipherData')}/{q(XENC, 'CipherValue')}").text or "")


def decrypt_independently(encrypted_data: etree._Element, key: Path) -> bytes:
    """Decrypt an xenc:EncryptedData with python `cryptography` alone (no libxmlsec1), following the XML
    Encryption 1.1 rules: RSA-OAEP with the DigestMethod/MGF given (SHA-1 defaults), AES-GCM as IV(12) ||
    ciphertext || tag(16), AES-CBC as IV(16) || ciphertext with the last byte counting the padding.
    Returns the plaintext bytes; raises on any mismatch."""
    method = attr(one(encrypted_data, q(XENC, "EncryptionMethod")), "Algorithm")
    encrypted_key = one(encrypted_data, f"{q(DSIG, 'KeyInfo')}/{q(XENC, 'EncryptedKey')}")
    key_method = one(encrypted_key, q(XENC, "EncryptionMethod"))
    digest_el = key_method.find(q(DSIG, "DigestMethod"))
    digest = _DIGESTS[attr(digest_el, "Algorithm")] if digest_el is not None else hashes.SHA1
    mgf_el = key_method.find(q(XENC11, "MGF"))
    transport = attr(key_method, "Algorithm")
    if transport == KEY_TRANSPORTS["rsa-oaep-mgf1p"]:
        mgf = hashes.SHA1
    elif transport == XENC11 + "rsa-oaep":
        mgf = _MGFS[attr(mgf_el, "Algorithm")] if mgf_el is not None else hashes.SHA1
    else:
        raise ValueError(f"unknown key transport {transport}")
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError(f"{key} is not an RSA key")
    oaep = padding.OAEP(mgf=padding.MGF1(mgf()), algorithm=digest(), label=None)
    session = private.decrypt(_cipher_value(encrypted_key), oaep)
    data = _cipher_value(encrypted_data)
    if method.endswith("-gcm"):
        return AESGCM(session).decrypt(data[:12], data[12:], None)
    if method.endswith("-cbc"):
        decryptor = Cipher(algorithms.AES(session), modes.CBC(data[:16])).decryptor()
        padded = decryptor.update(data[16:]) + decryptor.finalize()
        return padded[: -padded[-1]]
    raise ValueError(f"unknown data encryption {method}")
