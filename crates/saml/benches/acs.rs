//! `cargo bench -p tessera-saml --bench acs`: what the assertion consumer service spends verifying one
//! response natively (release build, pure Rust), per response: `verify_response` on a response whose
//! assertion is signed with RSA-2048 (RSA-SHA256) and with P-256 (ECDSA-SHA256), and
//! `verify_encrypted_response` on the RSA-signed one encrypted for our key (AES-256-GCM, RSA-OAEP). The
//! responses are built as the integration tests build them (`tests/it/signed.rs`, keys generated at each
//! run). Best of 7 rounds. Prints; asserts nothing.
//!
//! With `SAML_BENCH_OUT=DIR` it also writes each response (base64, as posted), the certificate and, for the
//! encrypted one, our key and certificate, and its own figures, so that `tests/bench/saml_reference.py`
//! times python3-saml on the very same responses (`scripts/bench sso` does both).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::print_stdout,
    reason = "a benchmark: panics on broken fixtures, reads the clock, prints"
)]

use std::hint::black_box;
use std::time::Instant;

use base64::Engine as _;
use rsa::pkcs8::EncodePrivateKey as _;
use tessera_proto::rfc3339::parse_unix_time;
use tessera_saml::{
    verify_encrypted_response, verify_response, Certificate, Expectations, SignedPart,
    DEFAULT_CLOCK_SKEW_SECS,
};
use x509_cert::spki::SubjectPublicKeyInfoOwned;

#[allow(
    dead_code,
    reason = "the integration tests' fixtures, of which the bench uses a few"
)]
#[path = "../tests/it/fixtures.rs"]
mod fixtures;
#[allow(
    dead_code,
    reason = "the integration tests' response builder, of which the bench uses a few"
)]
#[path = "../tests/it/signed.rs"]
mod signed;

use signed::{encrypt, Encryption, Key, Shape, ACS, IDP, NOW, REQUEST, SP};

const ROUNDS: usize = 7;

/// Best of [`ROUNDS`] rounds of `n` calls, in µs per call.
fn best_of(n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 + 1 {
        f();
    }
    (0..ROUNDS)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..n {
                f();
            }
            t0.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Case {
    name: &'static str,
    label: &'static str,
    xml: String,
    key: Key,
    encrypted: bool,
}

fn main() {
    let now = parse_unix_time(NOW).unwrap();
    let sp_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
    let rsa_signed = Shape::default().build();
    let cases = [
        Case {
            name: "rsa2048",
            label: "signed assertion, RSA-2048 (RSA-SHA256)",
            xml: rsa_signed.clone(),
            key: Key::okta(),
            encrypted: false,
        },
        Case {
            name: "p256",
            label: "signed assertion, P-256 (ECDSA-SHA256)",
            xml: Shape {
                sign_assertion: Some(Key::ec()),
                ..Shape::default()
            }
            .build(),
            key: Key::ec(),
            encrypted: false,
        },
        Case {
            name: "rsa2048_aes256gcm",
            label: "RSA-2048 signed, encrypted (AES-256-GCM, RSA-OAEP)",
            xml: encrypt(&rsa_signed, &sp_key.to_public_key(), Encryption::default()),
            key: Key::okta(),
            encrypted: true,
        },
    ];
    let out = std::env::var_os("SAML_BENCH_OUT").map(std::path::PathBuf::from);
    let mut figures = Vec::new();
    println!("\n| ACS verification, native (µs per response, best of {ROUNDS}) | tessera-saml |\n|---|---|");
    for case in &cases {
        let certificates = [case.key.certificate()];
        let expect = Expectations {
            sp_entity_id: SP,
            acs_url: ACS,
            idp_entity_id: IDP,
            certificates: &certificates,
            signed_part: SignedPart::Assertion,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
        };
        let bytes = case.xml.as_bytes();
        let key = || Ok::<_, std::convert::Infallible>(&sp_key);
        let us = if case.encrypted {
            let login = verify_encrypted_response(bytes, &expect, key, &mut getrandom::SysRng, now)
                .unwrap();
            assert_eq!(login.in_response_to.as_deref(), Some(REQUEST));
            best_of(300, || {
                black_box(
                    verify_encrypted_response(
                        black_box(bytes),
                        &expect,
                        key,
                        &mut getrandom::SysRng,
                        now,
                    )
                    .unwrap(),
                );
            })
        } else {
            verify_response(bytes, &expect, now).unwrap();
            best_of(2000, || {
                black_box(verify_response(black_box(bytes), &expect, now).unwrap());
            })
        };
        println!("| {} | {us:.1} |", case.label);
        figures.push(format!(
            "{}: {{\"label\": {}, \"us\": {us:.2}}}",
            json_string(case.name),
            json_string(case.label)
        ));
        if let Some(dir) = &out {
            let cert = |c: &Certificate| base64::engine::general_purpose::STANDARD.encode(c.der());
            let mut fields = vec![
                format!("\"sp_entity_id\": {}", json_string(SP)),
                format!("\"acs_url\": {}", json_string(ACS)),
                format!("\"idp_entity_id\": {}", json_string(IDP)),
                format!("\"request_id\": {}", json_string(REQUEST)),
                format!("\"now\": {}", json_string(NOW)),
                format!("\"idp_cert\": {}", json_string(&cert(&certificates[0]))),
                format!(
                    "\"saml_response\": {}",
                    json_string(&base64::engine::general_purpose::STANDARD.encode(bytes))
                ),
            ];
            if case.encrypted {
                let spki = SubjectPublicKeyInfoOwned::from_key(&sp_key.to_public_key()).unwrap();
                let sp_cert = fixtures::issued(spki, "CN=tessera sp", &fixtures::KEYCLOAK);
                let key_der = sp_key.to_pkcs8_der().unwrap();
                fields.push(format!(
                    "\"sp_key_pem\": {}",
                    json_string(&pem("PRIVATE KEY", key_der.as_bytes()))
                ));
                fields.push(format!(
                    "\"sp_cert_pem\": {}",
                    json_string(&pem("CERTIFICATE", &sp_cert))
                ));
            }
            std::fs::write(
                dir.join(format!("{}.json", case.name)),
                format!("{{{}}}\n", fields.join(", ")),
            )
            .unwrap();
        }
    }
    if let Some(dir) = &out {
        std::fs::write(
            dir.join("rust.json"),
            format!("{{{}}}\n", figures.join(", ")),
        )
        .unwrap();
    }
}
