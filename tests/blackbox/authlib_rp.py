"""Authlib as an OpenID Connect relying party of the edge (tests/blackbox/oidc.test.mjs drives the browser).

    authlib_rp.py begin ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI STATE_FILE
        reads discovery, starts an authorization (PKCE S256, state, nonce) and prints its URL; what the
        finish needs is kept in STATE_FILE.
    authlib_rp.py finish STATE_FILE CALLBACK_URL
        exchanges the code (client_secret_basic), validates the ID token with Authlib's own rules
        (CodeIDToken: iss, aud, exp, iat, nonce, azp, at_hash; the signature against the JWKS), reads
        userinfo, revokes the access token (RFC 7009) and reads userinfo again; prints JSON:
        {"claims": ..., "userinfo": ..., "after_revocation": <status>}.

Plain http to localhost needs AUTHLIB_INSECURE_TRANSPORT=1 (the test sets it).
"""

import json
import secrets
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken


def discovery(issuer):
    r = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    meta = r.json()
    assert meta["issuer"] == issuer, meta["issuer"]
    return meta


def begin(issuer, client_id, client_secret, redirect_uri, state_file):
    meta = discovery(issuer)
    verifier = generate_token(64)
    nonce = secrets.token_urlsafe(16)
    client = OAuth2Session(
        client_id,
        client_secret,
        scope="openid profile",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    url, state = client.create_authorization_url(
        meta["authorization_endpoint"], nonce=nonce, code_verifier=verifier
    )
    with open(state_file, "w", encoding="utf-8") as f:
        json.dump(
            {
                "issuer": issuer,
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uri": redirect_uri,
                "verifier": verifier,
                "nonce": nonce,
                "state": state,
            },
            f,
        )
    print(url)


def finish(state_file, callback):
    with open(state_file, encoding="utf-8") as f:
        s = json.load(f)
    meta = discovery(s["issuer"])
    client = OAuth2Session(
        s["client_id"],
        s["client_secret"],
        scope="openid profile",
        redirect_uri=s["redirect_uri"],
        state=s["state"],
        token_endpoint_auth_method="client_secret_basic",
    )
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=s["verifier"]
    )
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = JsonWebToken(["ES256"]).decode(
        token["id_token"],
        key=jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": s["issuer"]}},
        claims_params={
            "nonce": s["nonce"],
            "client_id": s["client_id"],
            "access_token": token["access_token"],
        },
    )
    claims.validate()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    userinfo = requests.get(meta["userinfo_endpoint"], headers=bearer, timeout=10)
    userinfo.raise_for_status()
    revoked = client.revoke_token(
        meta["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert revoked.status_code == 200, revoked.text
    after = requests.get(meta["userinfo_endpoint"], headers=bearer, timeout=10)
    print(
        json.dumps(
            {"claims": dict(claims), "userinfo": userinfo.json(), "after_revocation": after.status_code}
        )
    )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"begin": begin, "finish": finish}[command](*args)
