"""Passkey ceremonies against the edge with PyPI's soft-webauthn, a software authenticator nobody here wrote.

Usage: soft_webauthn_cases.py EDGE_URL USERNAME. Prints one JSON object: for each case the HTTP status and
the error code the edge answered (registration and sign-in, then the negative cases crafted by bending
soft-webauthn's output: another RP ID hash, flipped flags, a tampered signature, a replayed challenge,
a wrong ceremony type).
"""

import json
import sys
import urllib.request
from base64 import urlsafe_b64decode, urlsafe_b64encode

from fido2 import cbor
from soft_webauthn import SoftWebauthnDevice

EDGE, USERNAME = sys.argv[1], sys.argv[2]


def b64e(data: bytes) -> str:
    return urlsafe_b64encode(data).decode().rstrip("=")


def b64d(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def post(path, body):
    req = urllib.request.Request(EDGE + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def options(path, body):
    status, got = post(path, body)
    assert status == 200, got
    o = got["publicKey"]
    o["challenge"] = b64d(o["challenge"])
    if "user" in o:
        o["user"]["id"] = b64d(o["user"]["id"])
    return {"publicKey": o}


def registration_json(att):
    return {"id": b64e(att["rawId"]), "rawId": b64e(att["rawId"]), "type": "public-key",
            "response": {"clientDataJSON": b64e(att["response"]["clientDataJSON"]),
                         "attestationObject": b64e(att["response"]["attestationObject"]), "transports": []}}


def assertion_json(a):
    r = a["response"]
    return {"id": b64e(a["rawId"]), "rawId": b64e(a["rawId"]), "type": "public-key",
            "response": {"clientDataJSON": b64e(r["clientDataJSON"]), "authenticatorData": b64e(r["authenticatorData"]),
                         "signature": b64e(r["signature"]), "userHandle": b64e(r["userHandle"])}}


def outcome(status, body):
    return {"status": status, "error": body.get("error")}


results = {}
origin = EDGE

# Registration variants, each with its own fresh ceremony.
def register(name, bend=None):
    o = options("/v1/passkeys/register/options", {"username": name})
    device = SoftWebauthnDevice()
    att = device.create(o, origin)
    if bend:
        att = bend(att)
    status, body = post("/v1/passkeys/register/verify", {"credential": registration_json(att)})
    return device, o, att, status, body


def with_auth_data(att, change):
    obj = cbor.decode(att["response"]["attestationObject"])
    obj["authData"] = change(bytearray(obj["authData"]))
    att["response"]["attestationObject"] = cbor.encode(obj)
    return att


def flip_rp(ad):
    ad[0] ^= 0xFF
    return bytes(ad)


def clear_up(ad):
    ad[32] &= ~0x01
    return bytes(ad)


def bs_without_be(ad):
    ad[32] |= 0x10
    return bytes(ad)


_, _, _, s, b = register(USERNAME + "-rp", lambda a: with_auth_data(a, flip_rp))
results["register_bad_rp_id_hash"] = outcome(s, b)
_, _, _, s, b = register(USERNAME + "-up", lambda a: with_auth_data(a, clear_up))
results["register_flags_without_up"] = outcome(s, b)
_, _, _, s, b = register(USERNAME + "-bs", lambda a: with_auth_data(a, bs_without_be))
results["register_bs_without_be"] = outcome(s, b)

device, o, att, s, b = register(USERNAME)
results["register"] = outcome(s, b)
# The same response again: its challenge was already used.
s, b = post("/v1/passkeys/register/verify", {"credential": registration_json(att)})
results["register_replayed_challenge"] = outcome(s, b)


def sign_in(bend=None, username=USERNAME):
    o = options("/v1/passkeys/login/options", {"username": username})
    a = device.get(o, origin)
    if bend:
        a = bend(a)
    return post("/v1/passkeys/login/verify", {"credential": assertion_json(a)}), a


(s, b), first = sign_in()
results["sign_in"] = outcome(s, b)


def tamper_signature(a):
    sig = bytearray(a["response"]["signature"])
    sig[-3] ^= 0x01
    a["response"]["signature"] = bytes(sig)
    return a


def wrong_type(a):
    cd = json.loads(a["response"]["clientDataJSON"])
    cd["type"] = "webauthn.create"
    a["response"]["clientDataJSON"] = json.dumps(cd).encode()
    return a


(s, b), _ = sign_in(tamper_signature)
results["sign_in_tampered_signature"] = outcome(s, b)
(s, b), _ = sign_in(wrong_type)
results["sign_in_wrong_type"] = outcome(s, b)
s, b = post("/v1/passkeys/login/verify", {"credential": assertion_json(first)})
results["sign_in_replayed"] = outcome(s, b)
print(json.dumps(results))
