"""XML names and lookups shared by the IdP, the corpus and the self-test (lxml)."""

from __future__ import annotations

from lxml import etree

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
DSIG = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"

#: Parser for documents this tooling made or decrypted: no entities, no network.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def q(ns: str, local: str) -> str:
    """The Clark name `{ns}local`."""
    return f"{{{ns}}}{local}"


def one(el: etree._Element, path: str) -> etree._Element:
    """The first element at `path` under `el` (ElementPath), which must exist."""
    found = el.find(path)
    if found is None:
        raise ValueError(f"no {path} in {el.tag}")
    return found


def attr(el: etree._Element, name: str) -> str:
    """Attribute `name` of `el`, which must be present."""
    value = el.get(name)
    if value is None:
        raise ValueError(f"no {name} attribute on {el.tag}")
    return value
