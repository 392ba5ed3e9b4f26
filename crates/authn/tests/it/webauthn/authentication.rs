//! Authentication: assertions, counters, and each refusal by its code.

use super::*;

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
