//! `cargo bench -p tessera-authn`: passkey assertion verification natively (pure Rust: p256 through
//! tessera-jose, ed25519-dalek), per operation, for comparison with the WebCrypto path in workerd
//! (`scripts/bench passkey`). Prints; asserts nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest as _, Sha256};
use tessera_authn::webauthn::{
    verify_authentication, AssertionResponse, CoseAlgorithm, CredentialPublicKey, NativeVerifier,
    RelyingParty, StoredCredential, UserVerification,
};

#[path = "../tests/it/webauthn/wire.rs"]
mod wire;
use wire::{block_on, der};

fn main() {
    let rp = RelyingParty {
        id: "localhost".into(),
        origins: vec!["http://localhost:8787".into()],
        top_origins: vec![],
        user_verification: UserVerification::Preferred,
        algorithms: vec![
            CoseAlgorithm::Es256,
            CoseAlgorithm::EdDsa,
            CoseAlgorithm::Rs256,
        ],
    };
    let challenge = [9u8; 32];
    let cdj = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"http://localhost:8787","crossOrigin":false}}"#,
        URL_SAFE_NO_PAD.encode(challenge)
    );
    let mut ad = Sha256::digest(b"localhost").to_vec();
    ad.push(0x05);
    ad.extend_from_slice(&1u32.to_be_bytes());
    let message = [ad.as_slice(), &Sha256::digest(cdj.as_bytes())].concat();
    let es = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let point = es.verifying_key().to_encoded_point(false);
    let es_key = CredentialPublicKey::Es256 {
        x: point.x().unwrap().as_slice().try_into().unwrap(),
        y: point.y().unwrap().as_slice().try_into().unwrap(),
    };
    let es_sig: p256::ecdsa::Signature = es.sign(&message);
    let ed = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]);
    let ed_key = CredentialPublicKey::Ed25519 {
        x: ed.verifying_key().to_bytes(),
    };
    let ed_sig = ed25519_dalek::Signer::sign(&ed, &message)
        .to_bytes()
        .to_vec();
    let rs = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let rs_key = {
        use rsa::traits::PublicKeyParts as _;
        CredentialPublicKey::Rs256 {
            n: rs.n().to_bytes_be(),
            e: rs.e().to_bytes_be(),
        }
    };
    let rs_sig = {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rs)
            .sign(&message)
            .to_vec()
    };
    let id = [1u8; 32];
    for (name, key, sig) in [
        ("ES256", es_key, der(&es_sig.to_bytes())),
        ("EdDSA", ed_key, ed_sig),
        ("RS256", rs_key, rs_sig),
    ] {
        let cose = key.to_cose();
        let run = || {
            block_on(verify_authentication(
                &rp,
                &challenge,
                &AssertionResponse {
                    raw_id: &id,
                    client_data_json: cdj.as_bytes(),
                    authenticator_data: &ad,
                    signature: &sig,
                    user_handle: Some(b"u"),
                },
                &StoredCredential {
                    id: &id,
                    public_key_cose: &cose,
                    sign_count: 0,
                    user_handle: b"u",
                    backup_eligible: false,
                },
                true,
                &NativeVerifier,
            ))
        };
        assert!(run().is_ok(), "{name} must verify");
        let n = 2000;
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(run()).ok();
            }
            best = best.min(t0.elapsed().as_secs_f64() * 1e6 / f64::from(n));
        }
        println!("native {name} assertion verify: {best:.1} µs/op (best of 7 × {n})");
    }
}
