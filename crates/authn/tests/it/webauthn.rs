//! WebAuthn ceremonies against a software authenticator written here: ES256 and Ed25519 keys, `none` and
//! `packed` self-attestation, and one test per refusal, each checked by its stable code.

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

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    // The verifier's futures complete without waiting (pure computation).
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// `r || s` as DER, the way authenticators send ES256 signatures.
fn der(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.is_empty() || v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

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
    r.expect_err("must be refused").code()
}

#[test]
fn registers_es256_ed25519_and_rs256_with_none_and_packed_self_attestation() {
    for (a, alg) in [
        (Authenticator::es256(1), CoseAlgorithm::Es256),
        (Authenticator::ed25519(2), CoseAlgorithm::EdDsa),
        (Authenticator::rs256(), CoseAlgorithm::Rs256),
    ] {
        for (fmt, kind) in [
            ("none", AttestationKind::None),
            ("packed", AttestationKind::SelfAttestation),
        ] {
            let cred = register(&rp(), &a, &ClientData::new("webauthn.create"), fmt).unwrap();
            assert_eq!(cred.id, a.id);
            assert_eq!(cred.public_key, a.public());
            assert_eq!(cred.public_key.algorithm(), alg);
            assert_eq!(cred.attestation, kind);
            assert_eq!(cred.aaguid, [0xaa; 16]);
            assert!(cred.user_verified && !cred.backup_eligible && !cred.backed_up);
            assert_eq!(
                CredentialPublicKey::from_cose(&cred.public_key_cose).unwrap(),
                a.public()
            );
        }
    }
}

#[test]
fn registration_refusals_each_have_their_code() {
    let a = Authenticator::es256(3);
    let ok = ClientData::new("webauthn.create");
    let rp = rp();
    let with = |f: &dyn Fn(&mut ClientData)| {
        let mut c = ok.clone();
        f(&mut c);
        code(register(&rp, &a, &c, "none"))
    };
    assert_eq!(
        with(&|c| c.ceremony = "webauthn.get"),
        "wrong_ceremony_type"
    );
    assert_eq!(
        with(&|c| c.challenge = b"another challenge, not issued".to_vec()),
        "challenge_mismatch"
    );
    assert_eq!(
        with(&|c| c.origin = "https://evil.test".into()),
        "origin_not_allowed"
    );
    assert_eq!(
        with(&|c| c.origin = "https://login.tessera.test:8443".into()),
        "origin_not_allowed"
    );
    assert_eq!(
        with(&|c| c.cross_origin = Some(true)),
        "cross_origin_not_allowed"
    );
    assert_eq!(
        with(&|c| c.top_origin = Some(ORIGIN.into())),
        "top_origin_not_allowed"
    );
    // Embedding is allowed only from the configured top origins.
    let embedding = RelyingParty {
        top_origins: vec!["https://portal.tessera.test".into()],
        ..rp.clone()
    };
    let mut framed = ok.clone();
    framed.cross_origin = Some(true);
    framed.top_origin = Some("https://portal.tessera.test".into());
    assert!(register(&embedding, &a, &framed, "none").is_ok());
    framed.top_origin = Some("https://evil.test".into());
    assert_eq!(
        code(register(&embedding, &a, &framed, "none")),
        "top_origin_not_allowed"
    );
    framed.top_origin = None;
    assert_eq!(
        code(register(&embedding, &a, &framed, "none")),
        "top_origin_not_allowed"
    );

    // Authenticator data.
    let mut other_rp = Authenticator::es256(3);
    other_rp.rp_id = "evil.test".into();
    assert_eq!(
        code(register(&rp, &other_rp, &ok, "none")),
        "rp_id_mismatch"
    );
    let mut no_up = Authenticator::es256(3);
    no_up.flags = Flags::UV;
    assert_eq!(code(register(&rp, &no_up, &ok, "none")), "user_not_present");
    let mut no_uv = Authenticator::es256(3);
    no_uv.flags = Flags::UP;
    assert!(register(&rp, &no_uv, &ok, "none").is_ok(), "UV preferred");
    let strict = RelyingParty {
        user_verification: UserVerification::Required,
        ..rp.clone()
    };
    assert_eq!(
        code(register(&strict, &no_uv, &ok, "none")),
        "user_not_verified"
    );
    let mut bs_only = Authenticator::es256(3);
    bs_only.flags = Flags::UP | Flags::BS;
    assert_eq!(
        code(register(&rp, &bs_only, &ok, "none")),
        "backup_state_invalid"
    );

    // Credential ids.
    let mut short = Authenticator::es256(3);
    short.id = vec![1; 15];
    assert_eq!(
        code(register(&rp, &short, &ok, "none")),
        "credential_id_length"
    );
    let mut long = Authenticator::es256(3);
    long.id = vec![1; 1024];
    assert_eq!(
        code(register(&rp, &long, &ok, "none")),
        "credential_id_length"
    );
    long.id = vec![1; 1023];
    assert!(
        register(&rp, &long, &ok, "none").is_ok(),
        "1023 bytes is the limit"
    );
    let (cdj, att) = a.create(&ok, "none");
    assert_eq!(
        code(register_raw(&rp, &[9; 32], &cdj, &att)),
        "credential_id_mismatch"
    );

    // Algorithms.
    let es_only = RelyingParty {
        algorithms: vec![CoseAlgorithm::Es256],
        ..rp.clone()
    };
    assert_eq!(
        code(register(&es_only, &Authenticator::ed25519(4), &ok, "none")),
        "algorithm_not_allowed"
    );
}

#[test]
fn attestation_statements_are_checked() {
    let a = Authenticator::es256(5);
    let rp = rp();
    let c = ClientData::new("webauthn.create");
    let cdj = c.json();
    let auth_data = a.auth_data(Some(&a.public().to_cose()));
    let good_sig = a.sign(&Authenticator::message(&auth_data, &cdj));
    let try_stmt = |fmt: &str, stmt: Vec<(Value, Value)>| {
        code(register_raw(
            &rp,
            &a.id,
            &cdj,
            &attestation(fmt, stmt, auth_data.clone()),
        ))
    };
    let alg = |v: i64| (Value::Text("alg".into()), Value::from(v));
    let sig = |b: Vec<u8>| (Value::Text("sig".into()), Value::Bytes(b));
    assert_eq!(try_stmt("none", vec![alg(-7)]), "attestation_invalid");
    assert_eq!(
        try_stmt("packed", vec![alg(-8), sig(good_sig.clone())]),
        "attestation_invalid"
    );
    assert_eq!(try_stmt("packed", vec![alg(-7)]), "attestation_invalid");
    let mut bad = good_sig.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        try_stmt("packed", vec![alg(-7), sig(bad)]),
        "attestation_invalid"
    );
    // The self-attestation must be by the credential key itself, over this client data.
    let other = Authenticator::es256(6).sign(&Authenticator::message(&auth_data, &cdj));
    assert_eq!(
        try_stmt("packed", vec![alg(-7), sig(other)]),
        "attestation_invalid"
    );
    let x5c = (
        Value::Text("x5c".into()),
        Value::Array(vec![Value::Bytes(vec![1, 2, 3])]),
    );
    assert_eq!(
        try_stmt("packed", vec![alg(-7), sig(good_sig.clone()), x5c]),
        "attestation_unsupported"
    );
    assert_eq!(try_stmt("tpm", vec![]), "attestation_unsupported");
    assert_eq!(
        try_stmt("packed", vec![alg(-7), sig(vec![0x30, 0x00])]),
        "signature_malformed"
    );
}

#[test]
fn malformed_inputs_are_refused_before_any_crypto() {
    let a = Authenticator::es256(7);
    let rp = rp();
    let (cdj, att) = a.create(&ClientData::new("webauthn.create"), "none");
    assert_eq!(
        code(register_raw(&rp, &a.id, b"not json", &att)),
        "client_data_malformed"
    );
    assert_eq!(
        code(register_raw(
            &rp,
            &a.id,
            b"{\"type\":\"webauthn.create\"}",
            &att
        )),
        "client_data_malformed"
    );
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, b"\xff\x00")),
        "attestation_malformed"
    );
    let mut trailing = att.clone();
    trailing.push(0);
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &trailing)),
        "attestation_malformed"
    );
    let no_fmt = {
        let v = Value::Map(vec![
            (Value::Text("attStmt".into()), Value::Map(vec![])),
            (
                Value::Text("authData".into()),
                Value::Bytes(a.auth_data(Some(&a.public().to_cose()))),
            ),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        out
    };
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &no_fmt)),
        "attestation_malformed"
    );
    let twice = {
        let v = Value::Map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), Value::Map(vec![])),
            (
                Value::Text("authData".into()),
                Value::Bytes(a.auth_data(Some(&a.public().to_cose()))),
            ),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        out
    };
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &twice)),
        "attestation_malformed"
    );
    // Registration without attested credential data.
    let bare = attestation("none", vec![], a.auth_data(None));
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &bare)),
        "credential_data_missing"
    );
    // A public key this verifier does not implement (ES384, -35), an RSA modulus that is too small, and
    // one that names no algorithm.
    let cbor = |v: Value| {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        out
    };
    let es384 = cbor(Value::Map(vec![
        (Value::from(1), Value::from(2)),
        (Value::from(3), Value::from(-35)),
        (Value::from(-1), Value::from(2)),
        (Value::from(-2), Value::Bytes(vec![1; 48])),
        (Value::from(-3), Value::Bytes(vec![1; 48])),
    ]));
    let att = attestation("none", vec![], a.auth_data(Some(&es384)));
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &att)),
        "algorithm_not_allowed"
    );
    let rsa = cbor(Value::Map(vec![
        (Value::from(1), Value::from(3)),
        (Value::from(3), Value::from(-257)),
        (Value::from(-1), Value::Bytes(vec![0xc5; 128])),
        (Value::from(-2), Value::Bytes(vec![1, 0, 1])),
    ]));
    let att = attestation("none", vec![], a.auth_data(Some(&rsa)));
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &att)),
        "public_key_malformed"
    );
    let rsa = cbor(Value::Map(vec![
        (Value::from(1), Value::from(3)),
        (Value::from(3), Value::from(-257)),
        (Value::from(-1), Value::Bytes(vec![0xc5; 256])),
        (Value::from(-2), Value::Bytes(vec![1, 0, 0])),
    ]));
    let att = attestation("none", vec![], a.auth_data(Some(&rsa)));
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &att)),
        "public_key_malformed",
        "an even RSA exponent"
    );
    let no_alg = {
        let v = Value::Map(vec![
            (Value::from(1), Value::from(2)),
            (Value::from(-1), Value::from(1)),
            (Value::from(-2), Value::Bytes(vec![1; 32])),
            (Value::from(-3), Value::Bytes(vec![1; 32])),
        ]);
        let mut out = Vec::new();
        ciborium::ser::into_writer(&v, &mut out).unwrap();
        out
    };
    let att = attestation("none", vec![], a.auth_data(Some(&no_alg)));
    assert_eq!(
        code(register_raw(&rp, &a.id, &cdj, &att)),
        "public_key_malformed"
    );
}

fn stored(cred: &NewCredential) -> StoredCredential<'_> {
    StoredCredential {
        id: &cred.id,
        public_key_cose: &cred.public_key_cose,
        sign_count: cred.sign_count,
        user_handle: USER,
        backup_eligible: cred.backup_eligible,
    }
}

fn login(
    rp: &RelyingParty,
    stored: &StoredCredential<'_>,
    raw_id: &[u8],
    (cdj, auth_data, sig): &(Vec<u8>, Vec<u8>, Vec<u8>),
    user_handle: Option<&[u8]>,
    discoverable: bool,
) -> Result<tessera_authn::webauthn::Assertion, WebAuthnError> {
    block_on(verify_authentication(
        rp,
        CHALLENGE,
        &AssertionResponse {
            raw_id,
            client_data_json: cdj,
            authenticator_data: auth_data,
            signature: sig,
            user_handle,
        },
        stored,
        discoverable,
        &NativeVerifier,
    ))
}

#[test]
fn authenticates_and_advances_the_counter() {
    for mut a in [
        Authenticator::es256(8),
        Authenticator::ed25519(9),
        Authenticator::rs256(),
    ] {
        let rp = rp();
        let cred = register(&rp, &a, &ClientData::new("webauthn.create"), "none").unwrap();
        let mut s = stored(&cred);
        let get = ClientData::new("webauthn.get");
        for expected in 1..=3 {
            let out = login(&rp, &s, &a.id.clone(), &a.get(&get), Some(USER), true).unwrap();
            assert_eq!(out.sign_count, expected);
            assert!(out.user_verified);
            s.sign_count = out.sign_count;
        }
        // Username-first: the user handle may be absent.
        let out = login(&rp, &s, &a.id.clone(), &a.get(&get), None, false).unwrap();
        assert_eq!(out.sign_count, 4);
    }
}

#[test]
fn a_counter_that_goes_back_means_a_clone() {
    let rp = rp();
    let mut a = Authenticator::es256(10);
    let cred = register(&rp, &a, &ClientData::new("webauthn.create"), "none").unwrap();
    let mut s = stored(&cred);
    let get = ClientData::new("webauthn.get");
    let first = login(&rp, &s, &a.id.clone(), &a.get(&get), Some(USER), true).unwrap();
    s.sign_count = first.sign_count;
    // The clone replays the original's state: its counter is where the original's was.
    a.counter -= 1;
    let err = login(&rp, &s, &a.id.clone(), &a.get(&get), Some(USER), true).unwrap_err();
    assert_eq!(
        err,
        WebAuthnError::SignCountRegressed {
            stored: 1,
            presented: 1
        }
    );
    assert_eq!(err.code(), "sign_count_regressed");
    // Authenticators without a counter (always 0) are fine, every time.
    let mut zero = Authenticator::ed25519(11);
    zero.counts = false;
    let cred = register(&rp, &zero, &ClientData::new("webauthn.create"), "none").unwrap();
    let s = stored(&cred);
    for _ in 0..2 {
        let out = login(&rp, &s, &zero.id.clone(), &zero.get(&get), Some(USER), true).unwrap();
        assert_eq!(out.sign_count, 0);
    }
}

#[test]
fn authentication_refusals_each_have_their_code() {
    let rp = rp();
    let mut a = Authenticator::es256(12);
    let cred = register(&rp, &a, &ClientData::new("webauthn.create"), "none").unwrap();
    let s = stored(&cred);
    let get = ClientData::new("webauthn.get");
    let id = a.id.clone();

    let mut replayed = get.clone();
    replayed.challenge = b"a challenge from an earlier ceremony".to_vec();
    assert_eq!(
        code(login(&rp, &s, &id, &a.get(&replayed), Some(USER), true)),
        "challenge_mismatch"
    );
    let mut create = get.clone();
    create.ceremony = "webauthn.create";
    assert_eq!(
        code(login(&rp, &s, &id, &a.get(&create), Some(USER), true)),
        "wrong_ceremony_type"
    );
    let mut evil = get.clone();
    evil.origin = "https://tessera.test.evil.test".into();
    assert_eq!(
        code(login(&rp, &s, &id, &a.get(&evil), Some(USER), true)),
        "origin_not_allowed"
    );

    let (cdj, ad, sig) = a.get(&get);
    let mut tampered = sig.clone();
    let n = tampered.len();
    tampered[n - 2] ^= 0x01;
    let r = login(
        &rp,
        &s,
        &id,
        &(cdj.clone(), ad.clone(), tampered),
        Some(USER),
        true,
    );
    assert!(matches!(
        code(r),
        "signature_invalid" | "signature_malformed"
    ));
    let mut other_data = ad.clone();
    other_data[36] ^= 0x01; // the counter: the signature no longer covers these bytes
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &(cdj.clone(), other_data, sig.clone()),
            Some(USER),
            true
        )),
        "signature_invalid"
    );
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &(cdj.clone(), ad.clone(), vec![0x30, 0x02, 0x02, 0x00]),
            Some(USER),
            true
        )),
        "signature_malformed"
    );
    let other_key = Authenticator::es256(13).sign(&Authenticator::message(&ad, &cdj));
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &(cdj.clone(), ad.clone(), other_key),
            Some(USER),
            true
        )),
        "signature_invalid"
    );

    // Flags flipped after signing are caught by the flag rules or by the signature.
    let mut no_up = ad.clone();
    no_up[32] &= !Flags::UP;
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &(cdj.clone(), no_up, sig.clone()),
            Some(USER),
            true
        )),
        "user_not_present"
    );
    let mut be = ad.clone();
    be[32] |= Flags::BE;
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &(cdj.clone(), be, sig.clone()),
            Some(USER),
            true
        )),
        "backup_state_invalid"
    );
    let mut uv_off = Authenticator::es256(12);
    uv_off.flags = Flags::UP;
    uv_off.counter = 100;
    let strict = RelyingParty {
        user_verification: UserVerification::Required,
        ..rp.clone()
    };
    assert_eq!(
        code(login(&strict, &s, &id, &uv_off.get(&get), Some(USER), true)),
        "user_not_verified"
    );

    // Who the credential belongs to.
    assert_eq!(
        code(login(
            &rp,
            &s,
            &id,
            &a.get(&get),
            Some(b"someone-else"),
            true
        )),
        "user_handle_mismatch"
    );
    assert_eq!(
        code(login(&rp, &s, &id, &a.get(&get), None, true)),
        "user_handle_missing"
    );
    assert_eq!(
        code(login(&rp, &s, &[7; 32], &a.get(&get), Some(USER), true)),
        "credential_id_mismatch"
    );
    // Authenticator data for another RP.
    let mut other = Authenticator::es256(12);
    other.rp_id = "evil.test".into();
    other.counter = 200;
    assert_eq!(
        code(login(&rp, &s, &id, &other.get(&get), Some(USER), true)),
        "rp_id_mismatch"
    );
}
