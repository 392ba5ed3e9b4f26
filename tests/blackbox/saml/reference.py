"""A reference SP: OneLogin's python3-saml 1.16.0 (on the `xmlsec` 1.3.17 bindings) judging one Response.

Used to check that our SP judges every corpus case as a widely deployed SP does, and to see where
python3-saml is laxer. Its settings here are strict: strict mode (schema, Destination, Audience, Issuer,
Recipient, times, InResponseTo), SHA-1 refused (`rejectDeprecatedAlgorithm`), the IdP's certificates pinned
(`x509certMulti`; python3-saml verifies with them, not with KeyInfo). What it leaves to the application, and
so does not check here: a replay cache of assertion IDs (it exposes `get_last_assertion_id` for that),
the RelayState, that InResponseTo is present when a request is outstanding, and a size limit.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from unittest import mock
from urllib.parse import urlsplit

from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils


@dataclass(frozen=True)
class Verdict:
    """python3-saml's judgement: accepted with the subject, or refused with its reason."""

    accepted: bool
    reason: str | None = None
    name_id: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    assertion_id: str | None = None

    def __str__(self) -> str:
        return f"accepted ({self.name_id})" if self.accepted else f"refused: {self.reason}"


def settings(
    sp_entity_id: str,
    acs_url: str,
    idp_entity_id: str,
    sso_url: str,
    idp_certs: Sequence[str],
    sp_key_pem: str | None = None,
    sp_cert_pem: str | None = None,
) -> OneLogin_Saml2_Settings:
    """Strict python3-saml settings for one SP connection; `sp_key_pem` lets it decrypt assertions."""
    sp: dict[str, object] = {
        "entityId": sp_entity_id,
        "assertionConsumerService": {"url": acs_url, "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST},
        "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
    }
    if sp_key_pem and sp_cert_pem:
        sp.update(privateKey=sp_key_pem, x509cert=sp_cert_pem)
    return OneLogin_Saml2_Settings(
        {
            "strict": True,
            "debug": False,
            "sp": sp,
            "idp": {
                "entityId": idp_entity_id,
                "singleSignOnService": {
                    "url": sso_url,
                    "binding": OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT,
                },
                "x509certMulti": {"signing": list(idp_certs)},
            },
            "security": {
                # A signed Response covering the assertion is enough, as in our SP.
                "wantAssertionsSigned": False,
                "wantMessagesSigned": False,
                "wantNameId": True,
                "wantAttributeStatement": False,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
            },
        }
    )


def _request_data(acs_url: str, saml_response: str) -> dict[str, object]:
    """The ACS request as python3-saml wants it described (it checks Destination/Recipient against it)."""
    url = urlsplit(acs_url)
    https = url.scheme == "https"
    return {
        "https": "on" if https else "off",
        "http_host": url.hostname,
        "server_port": str(url.port or (443 if https else 80)),
        "script_name": url.path,
        "get_data": {},
        "post_data": {"SAMLResponse": saml_response},
    }


def judge(
    config: OneLogin_Saml2_Settings,
    saml_response: str,
    request_id: str | None,
    now: datetime.datetime | None = None,
) -> Verdict:
    """python3-saml's verdict on the base64 `saml_response` posted to the ACS, `request_id` being the ID of
    the AuthnRequest the SP sent (None: unsolicited accepted), judged at `now` (default: the real time)."""
    acs_url = config.get_sp_data()["assertionConsumerService"]["url"]
    epoch = int((now or datetime.datetime.now(datetime.UTC)).timestamp())
    with mock.patch.object(OneLogin_Saml2_Utils, "now", staticmethod(lambda: epoch)):
        try:
            response = OneLogin_Saml2_Response(config, saml_response)
            if not response.is_valid(
                _request_data(acs_url, saml_response), request_id, raise_exceptions=True
            ):
                return Verdict(False, response.get_error())
            return Verdict(
                True,
                name_id=response.get_nameid(),
                attributes=response.get_attributes(),
                assertion_id=response.get_assertion_id(),
            )
        except Exception as e:  # python3-saml raises its own errors, lxml's, binascii's... all mean "refused"
            return Verdict(False, f"{type(e).__name__}: {e}")
