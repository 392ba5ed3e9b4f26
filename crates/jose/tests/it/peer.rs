//! Cross-check with jwt-compact, an independent Rust JWT implementation over the same p256 crate: tokens we
//! issue pass its ES256 validation, and tokens it issues pass ours.

use jwt_compact::alg::Es256;
use jwt_compact::{AlgorithmExt as _, Claims, Header, UntrustedToken};
use p256::ecdsa::{SigningKey as EcdsaSigningKey, VerifyingKey};
use serde_json::{json, Map, Value};
use tessera_jose::{issue_access_token, verify_token, Jwks, P256Verifier, VerifyOptions};
use tessera_proto::{AccessTokenClaims, Audience, UnixTime};

use crate::{key, ready, signer};

const NOW: i64 = 1_800_000_000;

fn ecdsa_keys(seed: u8) -> (EcdsaSigningKey, VerifyingKey) {
    let scalar = key(seed).expose_scalar_bytes();
    let sk = EcdsaSigningKey::from_slice(scalar.expose_secret()).unwrap();
    let vk = *sk.verifying_key();
    (sk, vk)
}

#[test]
fn our_tokens_pass_jwt_compact() {
    let claims = AccessTokenClaims {
        iss: "https://edge.test".into(),
        sub: "c1".into(),
        aud: Audience::One("https://api.test".into()),
        exp: NOW + 300,
        iat: NOW,
        nbf: None,
        jti: "j".into(),
        client_id: "c1".into(),
        scope: Some("read".into()),
        tid: "acme".into(),
        roles: None,
        amr: None,
        acr: None,
        auth_time: None,
        sid: None,
    };
    for seed in 1..20u8 {
        let token = ready(issue_access_token(&signer(seed), &claims)).unwrap();
        let (_, vk) = ecdsa_keys(seed);
        let untrusted = UntrustedToken::new(&token).unwrap();
        assert_eq!(untrusted.header().token_type.as_deref(), Some("at+jwt"));
        let checked = Es256
            .validator::<Map<String, Value>>(&vk)
            .validate(&untrusted)
            .unwrap();
        assert_eq!(checked.claims().custom["tid"], "acme");
        // And a different key must fail there too.
        let (_, other) = ecdsa_keys(seed.wrapping_add(1));
        assert!(Es256
            .validator::<Map<String, Value>>(&other)
            .validate(&untrusted)
            .is_err());
    }
}

#[test]
fn jwt_compact_tokens_pass_ours() {
    for seed in 1..20u8 {
        let (sk, _) = ecdsa_keys(seed);
        let kid = key(seed).public_jwk().kid().to_owned();
        let header = Header::empty().with_key_id(kid).with_token_type("at+jwt");
        let custom = json!({
            "iss": "https://edge.test", "sub": "peer", "aud": "https://api.test",
            "exp": NOW + 60, "iat": NOW, "jti": "p", "client_id": "peer", "tid": "acme",
        });
        let token = Es256.token(&header, &Claims::new(custom), &sk).unwrap();
        let jwks = Jwks {
            keys: vec![key(seed).public_jwk().clone()],
        };
        let opts = VerifyOptions {
            issuer: "https://edge.test",
            audience: Some("https://api.test"),
            leeway: 0,
        };
        let v = ready(verify_token(
            &token,
            &jwks,
            &P256Verifier,
            &opts,
            UnixTime::from_secs(NOW),
        ))
        .unwrap();
        assert_eq!(v.sub(), "peer");
    }
}
