//! Registration: the formats and algorithms accepted, and each refusal by its code.

use super::*;

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
