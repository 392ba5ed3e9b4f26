//! RFC 6238 Appendix B test vectors (8 digits, T0 = 0, X = 30) and the window, replay and enrolment rules.

use tessera_authn::totp::{
    code_for_step, otpauth_uri, verify, Algorithm, TotpError, TotpParams, TotpSecret,
};
use tessera_proto::UnixTime;

/// RFC 6238 Appendix B: the seeds are the ASCII digits "1234567890" repeated to 20, 32 and 64 bytes.
fn seed(len: usize) -> TotpSecret {
    TotpSecret::from_bytes(b"1234567890".iter().copied().cycle().take(len).collect()).unwrap()
}

#[test]
fn rfc6238_appendix_b() {
    // (time, SHA-1, SHA-256, SHA-512)
    let table = [
        (59i64, "94287082", "46119246", "90693936"),
        (1_111_111_109, "07081804", "68084774", "25091201"),
        (1_111_111_111, "14050471", "67062674", "99943326"),
        (1_234_567_890, "89005924", "91819424", "93441116"),
        (2_000_000_000, "69279037", "90698825", "38618901"),
        (20_000_000_000, "65353130", "77737706", "47863826"),
    ];
    for (secs, sha1, sha256, sha512) in table {
        let time = UnixTime::from_secs(secs);
        for (alg, len, want) in [
            (Algorithm::Sha1, 20, sha1),
            (Algorithm::Sha256, 32, sha256),
            (Algorithm::Sha512, 64, sha512),
        ] {
            let params = TotpParams {
                algorithm: alg,
                digits: 8,
                ..TotpParams::default()
            };
            let secret = seed(len);
            assert_eq!(
                code_for_step(&secret, &params, params.step_at(time)).as_str(),
                want,
                "{alg:?} at {time}"
            );
            assert_eq!(
                verify(&secret, &params, want, time, None),
                Ok(params.step_at(time))
            );
        }
    }
}

#[test]
fn one_step_either_side_and_each_step_once() {
    let secret = seed(20);
    let p = TotpParams::default();
    let now = UnixTime::from_secs(1_700_000_000);
    let step = p.step_at(now);
    let code = |s: u64| code_for_step(&secret, &p, s).to_string();
    assert_eq!(code(step).len(), 6);
    // The previous and next step are forgiven, two away are not.
    assert_eq!(
        verify(&secret, &p, &code(step - 1), now, None),
        Ok(step - 1)
    );
    assert_eq!(
        verify(&secret, &p, &code(step + 1), now, None),
        Ok(step + 1)
    );
    for far in [step - 2, step + 2] {
        if code(far) != code(step - 1) && code(far) != code(step) && code(far) != code(step + 1) {
            assert_eq!(
                verify(&secret, &p, &code(far), now, None),
                Err(TotpError::Mismatch)
            );
        }
    }
    // Replay guard: once a step is used, its code and every earlier step's are refused.
    let used = verify(&secret, &p, &code(step), now, None).unwrap();
    assert_eq!(
        verify(&secret, &p, &code(step), now, Some(used)),
        Err(TotpError::Replayed)
    );
    assert_eq!(
        verify(&secret, &p, &code(step - 1), now, Some(used)),
        Err(TotpError::Replayed)
    );
    assert_eq!(
        verify(&secret, &p, &code(step + 1), now, Some(used)),
        Ok(step + 1)
    );
}

#[test]
fn malformed_codes_and_bad_parameters() {
    let secret = seed(20);
    let p = TotpParams::default();
    for bad in [
        "",
        "12345",
        "1234567",
        "12345a",
        "１２３４５６",
        " 123456",
        "123 456",
    ] {
        assert_eq!(
            verify(&secret, &p, bad, UnixTime::EPOCH, None),
            Err(TotpError::Malformed),
            "{bad:?}"
        );
    }
    for params in [
        TotpParams { digits: 5, ..p },
        TotpParams { digits: 9, ..p },
        TotpParams { period: 0, ..p },
        TotpParams { skew: 11, ..p },
    ] {
        assert_eq!(
            verify(&secret, &params, "123456", UnixTime::EPOCH, None),
            Err(TotpError::BadParams)
        );
    }
    assert_eq!(TotpError::Replayed.code(), "totp_replayed");
}

#[test]
fn secrets_round_trip_through_base32_and_the_uri() {
    assert!(TotpSecret::from_bytes(vec![1; 15]).is_err());
    assert!(TotpSecret::from_bytes(vec![1; 65]).is_err());
    let secret = seed(20);
    let text = secret.to_base32();
    assert_eq!(text.as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    let lower_spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
    assert_eq!(
        TotpSecret::from_base32(lower_spaced)
            .unwrap()
            .expose_secret(),
        secret.expose_secret()
    );
    assert!(TotpSecret::from_base32("not base32!").is_err());
    let uri = otpauth_uri(
        &secret,
        &TotpParams::default(),
        "Tessera Dev",
        "ann@example.com",
    );
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/Tessera%20Dev:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Tessera%20Dev&algorithm=SHA1&digits=6&period=30"
    );
}
