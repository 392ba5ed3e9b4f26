"""Verify a Tessera access token with PyJWT (an independent client) against the edge's JWKS URL.

Usage: pyjwt_verify.py JWKS_URL ISSUER AUDIENCE TOKEN
Prints the verified claims as JSON; exits 1 with the PyJWT error on failure.
"""
import json
import sys

import jwt

jwks_url, issuer, audience, token = sys.argv[1:5]
try:
    key = jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        issuer=issuer,
        audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    header = jwt.get_unverified_header(token)
    print(json.dumps({"claims": claims, "header": header}))
except jwt.PyJWTError as e:
    print(f"{type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)
