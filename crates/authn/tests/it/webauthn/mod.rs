//! WebAuthn ceremonies against a software authenticator written here: ES256 and Ed25519 keys, `none` and
//! `packed` self-attestation, and one test per refusal, each checked by its stable code.
//!
//! Here: the software authenticator and the ceremony helpers; the tests are in `registration.rs` and
//! `authentication.rs`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ciborium::Value;
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest as _, Sha256};
use tessera_authn::webauthn::{
    verify_authentication, verify_registration, AssertionResponse, AttestationKind, CoseAlgorithm,
    CredentialPublicKey, Flags, NativeVerifier, NewCredential, RegistrationResponse, RelyingParty,
    StoredCredential, UserVerification, WebAuthnError,
};

const ORIGIN: &str = "https://login.tessera.test";
const CHALLENGE: &[u8] = b"0123456789abcdef0123456789abcdef";
const USER: &[u8] = b"user-handle-ann";

fn rp() -> RelyingParty {
    RelyingParty {
        id: "tessera.test".into(),
        origins: vec![ORIGIN.into()],
        top_origins: vec![],
        user_verification: UserVerification::Preferred,
        algorithms: vec![
            CoseAlgorithm::Es256,
            CoseAlgorithm::EdDsa,
            CoseAlgorithm::Rs256,
        ],
    }
}

pub use self::wire::{block_on, der};

enum Key {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

struct Authenticator {
    key: Key,
    id: Vec<u8>,
    counter: u32,
    rp_id: String,
    flags: u8,
    /// Whether it keeps a signature counter (some authenticators always report 0).
    counts: bool,
}

#[derive(Clone)]
struct ClientData {
    ceremony: &'static str,
    challenge: Vec<u8>,
    origin: String,
    cross_origin: Option<bool>,
    top_origin: Option<String>,
}

impl ClientData {
    fn new(ceremony: &'static str) -> Self {
        Self {
            ceremony,
            challenge: CHALLENGE.to_vec(),
            origin: ORIGIN.into(),
            cross_origin: None,
            top_origin: None,
        }
    }
    fn json(&self) -> Vec<u8> {
        let mut v = serde_json::json!({
            "type": self.ceremony,
            "challenge": URL_SAFE_NO_PAD.encode(&self.challenge),
            "origin": self.origin,
            "other_keys_can_be_added_here": "do not compare clientDataJSON against a template",
        });
        if let Some(c) = self.cross_origin {
            v["crossOrigin"] = c.into();
        }
        if let Some(t) = &self.top_origin {
            v["topOrigin"] = t.clone().into();
        }
        serde_json::to_vec(&v).unwrap()
    }
}

impl Authenticator {
    fn es256(seed: u8) -> Self {
        Self::with(Key::Es256(
            p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap(),
        ))
    }
    fn ed25519(seed: u8) -> Self {
        Self::with(Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &[seed; 32],
        )))
    }
    fn rs256() -> Self {
        // Drawn per run: no RSA private key lives in the repository.
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        Self::with(Key::Rs256(Box::new(key)))
    }
    fn with(key: Key) -> Self {
        Self {
            key,
            id: (0..32).collect(),
            counter: 0,
            rp_id: "tessera.test".into(),
            flags: Flags::UP | Flags::UV,
            counts: true,
        }
    }
    fn public(&self) -> CredentialPublicKey {
        match &self.key {
            Key::Es256(k) => {
                let p = k.verifying_key().to_encoded_point(false);
                CredentialPublicKey::Es256 {
                    x: p.x().unwrap().as_slice().try_into().unwrap(),
                    y: p.y().unwrap().as_slice().try_into().unwrap(),
                }
            }
            Key::Ed25519(k) => CredentialPublicKey::Ed25519 {
                x: k.verifying_key().to_bytes(),
            },
            Key::Rs256(k) => {
                use rsa::traits::PublicKeyParts as _;
                CredentialPublicKey::Rs256 {
                    n: k.n().to_bytes_be(),
                    e: k.e().to_bytes_be(),
                }
            }
        }
    }
    fn alg(&self) -> i64 {
        self.public().algorithm().id()
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                der(&s.to_bytes())
            }
            Key::Ed25519(k) => ed25519_dalek::Signer::sign(k, msg).to_bytes().to_vec(),
            Key::Rs256(k) => {
                use rsa::signature::{SignatureEncoding as _, Signer as _};
                rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new((**k).clone())
                    .sign(msg)
                    .to_vec()
            }
        }
    }
    fn auth_data(&self, attested: Option<&[u8]>) -> Vec<u8> {
        let mut out = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        out.push(self.flags | if attested.is_some() { Flags::AT } else { 0 });
        out.extend_from_slice(&self.counter.to_be_bytes());
        if let Some(cose) = attested {
            out.extend_from_slice(&[0xaa; 16]);
            out.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
            out.extend_from_slice(&self.id);
            out.extend_from_slice(cose);
        }
        out
    }
    fn message(auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
        [auth_data, &Sha256::digest(client_data_json)].concat()
    }
    /// `navigator.credentials.create()`: (clientDataJSON, attestationObject).
    fn create(&self, c: &ClientData, fmt: &str) -> (Vec<u8>, Vec<u8>) {
        let cdj = c.json();
        let auth_data = self.auth_data(Some(&self.public().to_cose()));
        let stmt = match fmt {
            "packed" => vec![
                (Value::Text("alg".into()), Value::from(self.alg())),
                (
                    Value::Text("sig".into()),
                    Value::Bytes(self.sign(&Self::message(&auth_data, &cdj))),
                ),
            ],
            _ => vec![],
        };
        (cdj, attestation(fmt, stmt, auth_data))
    }
    /// `navigator.credentials.get()`: (clientDataJSON, authenticatorData, signature).
    fn get(&mut self, c: &ClientData) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        if self.counts {
            self.counter += 1;
        }
        let cdj = c.json();
        let auth_data = self.auth_data(None);
        let sig = self.sign(&Self::message(&auth_data, &cdj));
        (cdj, auth_data, sig)
    }
}

fn attestation(fmt: &str, stmt: Vec<(Value, Value)>, auth_data: Vec<u8>) -> Vec<u8> {
    let v = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text(fmt.into())),
        (Value::Text("attStmt".into()), Value::Map(stmt)),
        (Value::Text("authData".into()), Value::Bytes(auth_data)),
    ]);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&v, &mut out).unwrap();
    out
}

fn register(
    rp: &RelyingParty,
    a: &Authenticator,
    c: &ClientData,
    fmt: &str,
) -> Result<NewCredential, WebAuthnError> {
    let (cdj, att) = a.create(c, fmt);
    register_raw(rp, &a.id, &cdj, &att)
}

fn register_raw(
    rp: &RelyingParty,
    raw_id: &[u8],
    cdj: &[u8],
    att: &[u8],
) -> Result<NewCredential, WebAuthnError> {
    block_on(verify_registration(
        rp,
        CHALLENGE,
        &RegistrationResponse {
            raw_id,
            client_data_json: cdj,
            attestation_object: att,
        },
        &NativeVerifier,
    ))
}

fn code<T: std::fmt::Debug>(r: Result<T, WebAuthnError>) -> &'static str {
    r.expect_err("must be refused").code().as_str()
}

mod authentication;
mod registration;
mod wire;
