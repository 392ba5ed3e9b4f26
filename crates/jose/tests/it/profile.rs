//! The verification profile, rule by rule: one passing token, then one negative test per rule.

use proptest::prelude::*;
use serde_json::{json, Value};
use tessera_jose::{
    b64, issue_access_token, verify_token, Jwks, P256Verifier, ParseError, Signer, ValidationError,
    VerifyError, VerifyOptions, MAX_TOKEN_LEN,
};
use tessera_proto::{AccessTokenClaims, Audience, UnixTime};

use crate::{key, ready, signer};

const NOW: i64 = 1_800_000_000;
const ISS: &str = "https://edge.test";
const AUD: &str = "https://api.test";

fn opts() -> VerifyOptions<'static> {
    VerifyOptions {
        issuer: ISS,
        audience: Some(AUD),
        leeway: 30,
    }
}

fn jwks() -> Jwks {
    Jwks {
        keys: vec![key(1).public_jwk().clone()],
    }
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "client-1".into(),
        aud: Audience::One(AUD.into()),
        exp: NOW + 300,
        iat: NOW,
        nbf: None,
        jti: "j1".into(),
        client_id: "client-1".into(),
        scope: Some("read write".into()),
        tid: "acme".into(),
        roles: None,
        amr: None,
        acr: None,
        auth_time: None,
        sid: None,
    }
}

fn kid() -> String {
    key(1).public_jwk().kid().to_owned()
}

fn good_header() -> Value {
    json!({"alg":"ES256","typ":"at+jwt","kid":kid()})
}

/// Sign arbitrary header and payload JSON with key 1.
fn craft(header: &Value, payload: &Value) -> String {
    craft_raw(
        header.to_string().as_bytes(),
        payload.to_string().as_bytes(),
    )
}

fn craft_raw(header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64::encode(header), b64::encode(payload));
    let sig = ready(signer(1).sign(input.as_bytes())).unwrap();
    format!("{input}.{}", b64::encode(&sig))
}

fn verify(token: &str) -> Result<tessera_jose::VerifiedToken, VerifyError> {
    ready(verify_token(
        token,
        &jwks(),
        &P256Verifier,
        &opts(),
        UnixTime::from_secs(NOW),
    ))
}

fn parse_err(token: &str) -> ParseError {
    match verify(token) {
        Err(VerifyError::Parse(e)) => e,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

fn validation_err(token: &str) -> ValidationError {
    match verify(token) {
        Err(VerifyError::Validation(e)) => e,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut c = serde_json::to_value(claims()).unwrap();
    c[name] = value;
    c
}

fn without_claim(name: &str) -> Value {
    let mut c = serde_json::to_value(claims()).unwrap();
    c.as_object_mut().unwrap().remove(name);
    c
}

#[test]
fn issued_tokens_verify() {
    let token = ready(issue_access_token(&signer(1), &claims())).unwrap();
    let v = verify(&token).unwrap();
    assert_eq!(v.kid(), kid());
    assert_eq!(v.sub(), "client-1");
    assert_eq!(v.claims()["tid"], "acme");
    assert_eq!(v.claim_str("tid"), Some("acme"));
    assert_eq!(v.typed_claims::<AccessTokenClaims>().unwrap(), claims());
    let header: Value =
        serde_json::from_slice(&b64::decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header, good_header());
}

#[test]
fn alg_none_in_every_casing_is_refused() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = format!(
            "{}.{}.",
            b64::encode(
                json!({"alg":alg,"typ":"at+jwt","kid":kid()})
                    .to_string()
                    .as_bytes()
            ),
            b64::encode(b"{}")
        );
        assert_eq!(
            parse_err(&token),
            ParseError::UnsupportedAlg(alg.into()),
            "{alg}"
        );
    }
}

#[test]
fn every_other_algorithm_is_refused_even_with_a_valid_es256_signature() {
    for alg in ["HS256", "RS256", "ES384", "EdDSA", "es256", "PS256"] {
        let token = craft(
            &json!({"alg":alg,"typ":"at+jwt","kid":kid()}),
            &serde_json::to_value(claims()).unwrap(),
        );
        assert_eq!(parse_err(&token).code(), "unsupported_alg", "{alg}");
    }
    let token = craft(&json!({"typ":"at+jwt","kid":kid()}), &json!({}));
    assert_eq!(parse_err(&token).code(), "invalid_header");
}

#[test]
fn kid_is_required_and_must_be_known() {
    let c = serde_json::to_value(claims()).unwrap();
    assert_eq!(
        parse_err(&craft(&json!({"alg":"ES256","typ":"at+jwt"}), &c)),
        ParseError::MissingKid
    );
    assert_eq!(
        parse_err(&craft(&json!({"alg":"ES256","typ":"at+jwt","kid":""}), &c)),
        ParseError::MissingKid
    );
    let e = validation_err(&craft(
        &json!({"alg":"ES256","typ":"at+jwt","kid":"nope"}),
        &c,
    ));
    assert_eq!(e, ValidationError::UnknownKid("nope".into()));
}

#[test]
fn right_kid_wrong_key_is_a_bad_signature() {
    let mut token = ready(issue_access_token(&signer(2), &claims())).unwrap();
    // Re-label key 2's token with key 1's kid.
    let parts: Vec<&str> = token.split('.').collect();
    let body = parts[1].to_owned();
    let input = format!(
        "{}.{body}",
        b64::encode(good_header().to_string().as_bytes())
    );
    let sig = ready(signer(2).sign(input.as_bytes())).unwrap();
    token = format!("{input}.{}", b64::encode(&sig));
    assert_eq!(validation_err(&token), ValidationError::BadSignature);
}

#[test]
fn typ_must_be_at_jwt() {
    let c = serde_json::to_value(claims()).unwrap();
    for typ in [json!("JWT"), json!("jwt"), json!(1)] {
        let token = craft(&json!({"alg":"ES256","typ":typ,"kid":kid()}), &c);
        assert_eq!(parse_err(&token).code(), "wrong_token_type");
    }
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        assert!(
            verify(&craft(&json!({"alg":"ES256","typ":typ,"kid":kid()}), &c)).is_ok(),
            "{typ}"
        );
    }
}

#[test]
fn key_carrying_headers_are_never_trusted() {
    let c = serde_json::to_value(claims()).unwrap();
    let jwk = key(1).public_jwk().to_json();
    for (name, value) in [
        ("jwk", jwk),
        ("jku", json!("https://evil.test/jwks")),
        ("x5u", json!("https://evil.test/c")),
        ("x5c", json!(["MIIB"])),
    ] {
        let mut h = good_header();
        h[name] = value;
        assert_eq!(
            parse_err(&craft(&h, &c)).code(),
            "forbidden_header",
            "{name}"
        );
    }
}

#[test]
fn unknown_crit_is_refused() {
    let c = serde_json::to_value(claims()).unwrap();
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!([]),
        json!("exp"),
        json!([1]),
    ] {
        let mut h = good_header();
        h["crit"] = crit.clone();
        assert_eq!(parse_err(&craft(&h, &c)).code(), "unknown_crit", "{crit}");
    }
}

#[test]
fn required_claims() {
    for name in ["exp", "iat", "iss", "aud", "sub"] {
        let e = validation_err(&craft(&good_header(), &without_claim(name)));
        assert_eq!(
            e,
            ValidationError::MissingClaim(match name {
                "exp" => "exp",
                "iat" => "iat",
                "iss" => "iss",
                "aud" => "aud",
                _ => "sub",
            })
        );
    }
}

#[test]
fn numeric_dates_only() {
    for name in ["exp", "iat", "nbf"] {
        let e = validation_err(&craft(
            &good_header(),
            &with_claim(name, json!((NOW + 10).to_string())),
        ));
        assert_eq!(e.code(), "invalid_claim", "{name}");
        let e = validation_err(&craft(&good_header(), &with_claim(name, json!(null))));
        assert_eq!(e.code(), "invalid_claim", "{name} null");
    }
    // Fractional NumericDates are allowed (RFC 7519 §2).
    assert!(verify(&craft(
        &good_header(),
        &with_claim("exp", json!((NOW + 10) as f64 + 0.5))
    ))
    .is_ok());
    assert_eq!(
        validation_err(&craft(&good_header(), &with_claim("iss", json!(5)))).code(),
        "invalid_claim"
    );
    assert_eq!(
        validation_err(&craft(&good_header(), &with_claim("aud", json!(5)))).code(),
        "invalid_claim"
    );
    assert_eq!(
        validation_err(&craft(&good_header(), &with_claim("aud", json!([])))).code(),
        "invalid_claim"
    );
}

#[test]
fn time_rules_with_leeway() {
    let exp = |t: i64| validation_err(&craft(&good_header(), &with_claim("exp", json!(t))));
    assert!(matches!(exp(NOW - 31), ValidationError::Expired { .. }));
    assert!(
        matches!(exp(NOW - 30), ValidationError::Expired { .. }),
        "exp is exclusive"
    );
    assert!(
        verify(&craft(&good_header(), &with_claim("exp", json!(NOW - 29)))).is_ok(),
        "within leeway"
    );
    let nbf = validation_err(&craft(&good_header(), &with_claim("nbf", json!(NOW + 31))));
    assert!(matches!(nbf, ValidationError::NotYetValid { .. }));
    assert!(verify(&craft(&good_header(), &with_claim("nbf", json!(NOW + 30)))).is_ok());
    let iat = validation_err(&craft(&good_header(), &with_claim("iat", json!(NOW + 31))));
    assert!(matches!(iat, ValidationError::IssuedInFuture { .. }));
}

#[test]
fn issuer_and_audience() {
    let e = validation_err(&craft(
        &good_header(),
        &with_claim("iss", json!("https://evil.test")),
    ));
    assert_eq!(e, ValidationError::WrongIssuer("https://evil.test".into()));
    let e = validation_err(&craft(
        &good_header(),
        &with_claim("aud", json!("https://other.test")),
    ));
    assert_eq!(e, ValidationError::WrongAudience);
    assert!(verify(&craft(
        &good_header(),
        &with_claim("aud", json!(["x", AUD]))
    ))
    .is_ok());
    assert_eq!(
        validation_err(&craft(&good_header(), &with_claim("aud", json!(["x"])))),
        ValidationError::WrongAudience
    );
    // Without an expected audience (introspection) any well-formed `aud` passes, a missing one does not.
    let any = VerifyOptions {
        audience: None,
        ..opts()
    };
    let t = craft(
        &good_header(),
        &with_claim("aud", json!("https://other.test")),
    );
    assert!(ready(verify_token(
        &t,
        &jwks(),
        &P256Verifier,
        &any,
        UnixTime::from_secs(NOW)
    ))
    .is_ok());
    let t = craft(&good_header(), &without_claim("aud"));
    assert!(ready(verify_token(
        &t,
        &jwks(),
        &P256Verifier,
        &any,
        UnixTime::from_secs(NOW)
    ))
    .is_err());
}

#[test]
fn signature_encodings() {
    let token = ready(issue_access_token(&signer(1), &claims())).unwrap();
    let (input, sig64) = token.rsplit_once('.').unwrap();
    let sig = b64::decode(sig64).unwrap();
    // CVE-2022-21449: r = s = 0 must never verify.
    let zero = format!("{input}.{}", b64::encode(&[0u8; 64]));
    assert_eq!(validation_err(&zero), ValidationError::BadSignature);
    // DER (ASN.1 SEQUENCE of two INTEGERs), as some libraries emit.
    let der = {
        let int = |b: &[u8]| {
            let b = match b.iter().position(|&x| x != 0) {
                Some(i) => &b[i..],
                None => &b[31..],
            };
            let mut v = vec![0x02];
            if b[0] & 0x80 != 0 {
                v.push(b.len() as u8 + 1);
                v.push(0);
            } else {
                v.push(b.len() as u8);
            }
            v.extend_from_slice(b);
            v
        };
        let (r, s) = (int(&sig[..32]), int(&sig[32..]));
        let mut d = vec![0x30, (r.len() + s.len()) as u8];
        d.extend(r);
        d.extend(s);
        d
    };
    assert_eq!(
        parse_err(&format!("{input}.{}", b64::encode(&der))).code(),
        "invalid_signature_encoding"
    );
    assert_eq!(
        parse_err(&format!("{input}.{}", b64::encode(&sig[..63]))),
        ParseError::SignatureEncoding(63)
    );
    // Flipping one bit of S.
    let mut flipped = sig.clone();
    flipped[40] ^= 1;
    assert_eq!(
        validation_err(&format!("{input}.{}", b64::encode(&flipped))),
        ValidationError::BadSignature
    );
    // Non-canonical base64 of the same signature (last char's unused bits set).
    let last = sig64.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    let other = alphabet.chars().nth(idx | 0b11).unwrap();
    if other != last {
        let nc = format!("{input}.{}{other}", &sig64[..sig64.len() - 1]);
        assert_eq!(
            parse_err(&nc),
            ParseError::Base64 {
                segment: "signature"
            }
        );
    }
}

#[test]
fn structure() {
    assert_eq!(parse_err("a.b"), ParseError::SegmentCount(2));
    assert_eq!(parse_err("a.b.c.d"), ParseError::SegmentCount(4));
    assert_eq!(parse_err(""), ParseError::SegmentCount(1));
    let big = "a".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(parse_err(&big).code(), "token_too_large");
    assert_eq!(parse_err("e30=.e30.AA").code(), "invalid_base64");
    assert_eq!(
        parse_err(&craft_raw(b"[1]", b"{}")).code(),
        "invalid_header"
    );
    assert_eq!(
        parse_err(&craft_raw(
            good_header().to_string().as_bytes(),
            b"not json"
        ))
        .code(),
        "invalid_payload"
    );
    assert_eq!(
        parse_err(&craft_raw(good_header().to_string().as_bytes(), b"[1,2]")).code(),
        "invalid_payload"
    );
    assert_eq!(
        parse_err(&craft_raw(b"{\"alg\":", b"{}")).code(),
        "invalid_header"
    );
}

#[test]
fn every_code_is_distinct_per_rule_family() {
    let codes = [
        ParseError::TooLarge { len: 0, max: 0 }.code(),
        ParseError::SegmentCount(0).code(),
        ParseError::Base64 { segment: "x" }.code(),
        ParseError::Header(String::new()).code(),
        ParseError::Payload(String::new()).code(),
        ParseError::UnsupportedAlg(String::new()).code(),
        ParseError::WrongType(String::new()).code(),
        ParseError::MissingKid.code(),
        ParseError::ForbiddenHeader("jwk").code(),
        ParseError::UnknownCrit(String::new()).code(),
        ParseError::SignatureEncoding(0).code(),
        ValidationError::UnknownKid(String::new()).code(),
        ValidationError::BadSignature.code(),
        ValidationError::MissingClaim("x").code(),
        ValidationError::InvalidClaim("x").code(),
        ValidationError::Expired { exp: 0, now: 0 }.code(),
        ValidationError::NotYetValid { nbf: 0, now: 0 }.code(),
        ValidationError::IssuedInFuture { iat: 0, now: 0 }.code(),
        ValidationError::WrongIssuer(String::new()).code(),
        ValidationError::WrongAudience.code(),
    ];
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(sub in "[ -~]{1,40}", scope in proptest::option::of("[a-z:]{1,12}( [a-z:]{1,12}){0,3}"), ttl in 1i64..3600, seed in 1u8..200) {
        let s = signer(seed);
        let mut c = claims();
        c.sub = sub.clone();
        c.scope = scope;
        c.exp = NOW + ttl;
        let token = ready(issue_access_token(&s, &c)).unwrap();
        let jwks = Jwks { keys: vec![key(seed).public_jwk().clone()] };
        let v = ready(verify_token(&token, &jwks, &P256Verifier, &opts(), UnixTime::from_secs(NOW))).unwrap();
        prop_assert_eq!(v.sub(), sub.as_str());
        prop_assert_eq!(v.exp(), c.exp);
        prop_assert_eq!(serde_json::from_value::<AccessTokenClaims>(Value::Object(v.into_claims())).unwrap(), c);
    }

    #[test]
    fn parser_never_panics_on_junk(junk in "[A-Za-z0-9_.=+/-]{0,300}") {
        let _ = verify(&junk);
    }

    #[test]
    fn any_single_byte_change_is_rejected(pos in 0usize..400, bit in 0u8..8) {
        let token = ready(issue_access_token(&signer(1), &claims())).unwrap();
        let mut bytes = token.into_bytes();
        let pos = pos % bytes.len();
        bytes[pos] ^= 1 << bit;
        if let Ok(t) = String::from_utf8(bytes) {
            prop_assert!(verify(&t).is_err());
        }
    }
}
