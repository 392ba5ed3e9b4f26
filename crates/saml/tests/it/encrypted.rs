//! Encrypted assertions: every accepted algorithm pair, the refused ones by name, and the one uniform
//! failure (and, after AES-CBC, uniform *later* refusals: no padding or well-formedness oracle).

use std::sync::LazyLock;

use tessera_proto::rfc3339::parse_unix_time;
use tessera_proto::Code;
use tessera_saml::encrypted::alg;
use tessera_saml::{
    verify_encrypted_response, verify_response, Expectations, ResponseError, SignedPart,
    VerifiedLogin, DEFAULT_CLOCK_SKEW_SECS,
};

use crate::fixtures;
use crate::signed::{encrypt, Encryption, Key, Shape, ACS, IDP, NOW, SP};

/// The service provider's key (test-only, generated at each run).
static SP_KEY: LazyLock<rsa::PrivateKey> =
    LazyLock::new(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap());
static OTHER_SP_KEY: LazyLock<rsa::PrivateKey> =
    LazyLock::new(|| rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap());

fn judge_part(
    xml: &str,
    key: &rsa::PrivateKey,
    part: SignedPart,
) -> Result<VerifiedLogin, ResponseError> {
    let certificates = [Key::okta().certificate()];
    let expect = Expectations {
        sp_entity_id: SP,
        acs_url: ACS,
        idp_entity_id: IDP,
        certificates: &certificates,
        signed_part: part,
        clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
    };
    let now = parse_unix_time(NOW).unwrap();
    verify_encrypted_response(
        xml.as_bytes(),
        &expect,
        || Ok::<_, std::convert::Infallible>(key),
        &mut getrandom::SysRng,
        now,
    )
}

fn judge(xml: &str) -> Result<VerifiedLogin, ResponseError> {
    judge_part(xml, &SP_KEY, SignedPart::Assertion)
}

fn encrypted(how: Encryption) -> String {
    encrypt(&Shape::default().build(), &SP_KEY.to_public_key(), how)
}

/// A response whose signature covers its encrypted assertion (signed over the encrypted form, as
/// identity providers do), the assertion inside signed too.
fn signed_response_encrypted(how: Encryption) -> String {
    let template = Shape {
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .template();
    let signed_assertion = crate::signed::sign(&template, "_asrt3b9e4d17", Key::okta());
    let with_encrypted = encrypt(&signed_assertion, &SP_KEY.to_public_key(), how);
    crate::signed::sign(&with_encrypted, "_resp8f2a61c0", Key::okta())
}

#[test]
fn every_accepted_algorithm_pair_decrypts_and_verifies() {
    for content in [
        alg::AES128_GCM,
        alg::AES256_GCM,
        alg::AES128_CBC,
        alg::AES256_CBC,
    ] {
        for (transport, oaep_sha256, mgf_sha256) in [
            (alg::RSA_OAEP_MGF1P, false, false),
            (alg::RSA_OAEP_MGF1P, true, false),
            (alg::RSA_OAEP, false, false),
            (alg::RSA_OAEP, true, true),
            (alg::RSA_OAEP, false, true),
        ] {
            for key_beside in [false, true] {
                let how = Encryption {
                    content,
                    transport,
                    oaep_sha256,
                    mgf_sha256,
                    key_beside,
                };
                // AES-CBC only inside a signed response.
                let xml = if content.ends_with("cbc") {
                    signed_response_encrypted(how)
                } else {
                    encrypted(how)
                };
                let login = judge(&xml).unwrap_or_else(|e| {
                    panic!(
                        "{content} {transport} {oaep_sha256} {mgf_sha256}: {}",
                        e.log_detail()
                    )
                });
                assert_eq!(login.name_id, "00u1ab2cd3EF4gh5i6j7");
                assert_eq!(login.attribute("email").unwrap(), ["ada@corp.example"]);
            }
        }
    }
}

#[test]
fn a_plain_response_passes_through_the_same_door() {
    assert!(judge(&Shape::default().build()).is_ok());
}

#[test]
fn without_a_key_an_encrypted_assertion_is_not_read() {
    let certificates = [Key::okta().certificate()];
    let expect = Expectations {
        sp_entity_id: SP,
        acs_url: ACS,
        idp_entity_id: IDP,
        certificates: &certificates,
        signed_part: SignedPart::Assertion,
        clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
    };
    let e = verify_response(
        encrypted(Encryption::default()).as_bytes(),
        &expect,
        parse_unix_time(NOW).unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.code(), Code::SamlEncryptedUnsupported);
}

#[test]
fn weak_algorithms_are_refused_by_name() {
    let xml = encrypted(Encryption::default());
    for (from, to) in [
        (
            alg::RSA_OAEP_MGF1P,
            "http://www.w3.org/2001/04/xmlenc#rsa-1_5",
        ),
        (
            alg::AES256_GCM,
            "http://www.w3.org/2001/04/xmlenc#tripledes-cbc",
        ),
        (
            alg::AES256_GCM,
            "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
        ),
    ] {
        let e = judge(&xml.replacen(from, to, 1)).unwrap_err();
        assert_eq!(e.code(), Code::SamlAlgorithmRefused, "{to}: {e}");
    }
}

#[test]
fn every_decryption_failure_is_one_uniform_refusal() {
    let wrong_key = judge_part(
        &encrypted(Encryption::default()),
        &OTHER_SP_KEY,
        SignedPart::Assertion,
    )
    .unwrap_err();
    let tampered = judge(&flip_in_cipher_data(&encrypted(Encryption::default()))).unwrap_err();
    for e in [&wrong_key, &tampered] {
        assert_eq!(e.code(), Code::SamlDecryptionFailed);
        assert_eq!(
            e.to_string(),
            "the encrypted assertion could not be decrypted"
        );
    }
    // The log still learns what happened.
    assert!(
        wrong_key.log_detail().contains("RSA-OAEP"),
        "{}",
        wrong_key.log_detail()
    );
    assert!(
        tampered.log_detail().contains("tag"),
        "{}",
        tampered.log_detail()
    );
}

/// Changes one character of the last `CipherValue` (the encrypted assertion's data) for another base64
/// character, keeping it base64.
fn flip_in_cipher_data(xml: &str) -> String {
    let marker = "<xenc:CipherValue>";
    let at = xml.rfind(marker).unwrap() + marker.len() + 30;
    let mut chars: Vec<char> = xml.chars().collect();
    // The document is ASCII up to here (base64 and markup), so byte and char positions agree.
    let c = chars.get_mut(at).unwrap();
    *c = if *c == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn aes_cbc_is_refused_outside_a_signed_response_before_any_decryption() {
    let cbc = Encryption {
        content: alg::AES256_CBC,
        ..Encryption::default()
    };
    // Assertion signed inside, response unsigned: anyone could submit a ciphertext of their own.
    let e = judge(&encrypted(cbc)).unwrap_err();
    assert_eq!(e.code(), Code::SamlAlgorithmRefused, "{e}");
    // Refused even when the key cannot be had: nothing was decrypted.
    let certificates = [Key::okta().certificate()];
    let expect = Expectations {
        sp_entity_id: SP,
        acs_url: ACS,
        idp_entity_id: IDP,
        certificates: &certificates,
        signed_part: SignedPart::Assertion,
        clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
    };
    let refused = verify_encrypted_response(
        encrypted(cbc).as_bytes(),
        &expect,
        || Err::<&rsa::PrivateKey, _>("not asked for"),
        &mut getrandom::SysRng,
        parse_unix_time(NOW).unwrap(),
    )
    .unwrap_err();
    assert_eq!(refused.code(), Code::SamlAlgorithmRefused);
    // Inside a signed response, a changed ciphertext breaks the signature before decryption.
    let signed = signed_response_encrypted(cbc);
    assert!(judge(&signed).is_ok());
    assert_eq!(
        judge(&flip_in_cipher_data(&signed)).unwrap_err().code(),
        Code::SamlDigestMismatch
    );
}

#[test]
fn after_gcm_a_bad_inner_signature_is_named() {
    let attacker = Shape {
        sign_assertion: Some(Key::Rsa(&fixtures::ENTRA_CURRENT)),
        ..Shape::default()
    }
    .build();
    let gcm = encrypt(&attacker, &SP_KEY.to_public_key(), Encryption::default());
    assert_eq!(judge(&gcm).unwrap_err().code(), Code::SamlSignatureInvalid);
}

#[test]
fn a_signed_response_covers_its_encrypted_assertion() {
    // Sign the response over the encrypted form, as identity providers do.
    let template = Shape {
        sign_assertion: None,
        sign_response: Some(Key::okta()),
        ..Shape::default()
    }
    .template();
    let with_encrypted = encrypt(&template, &SP_KEY.to_public_key(), Encryption::default());
    let signed = crate::signed::sign(&with_encrypted, "_resp8f2a61c0", Key::okta());
    let login = judge_part(&signed, &SP_KEY, SignedPart::Response).unwrap();
    assert!(login.response_signed_by.is_some());
    assert!(login.assertion_signed_by.is_none());
    // The assertion inside is unsigned, so the default policy refuses it.
    assert_eq!(
        judge(&signed).unwrap_err().code(),
        Code::SamlSignatureMissing
    );
    // Changing the encrypted form breaks the response's signature before any decryption.
    let e = judge_part(&flip_in_cipher_data(&signed), &SP_KEY, SignedPart::Response).unwrap_err();
    assert_eq!(e.code(), Code::SamlDigestMismatch);
}

#[test]
fn an_encrypted_assertion_beside_a_plain_one_is_wrapping() {
    let both = encrypted(Encryption::default()).replacen(
        "</saml2p:Response>",
        &format!(
            "{}</saml2p:Response>",
            Shape {
                assertion_id: "_plain",
                sign_assertion: None,
                ..Shape::default()
            }
            .assertion()
        ),
        1,
    );
    assert_eq!(judge(&both).unwrap_err().code(), Code::SamlWrapping);
}
