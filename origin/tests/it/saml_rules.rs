//! The SAML shell's pure rules: where a sign-in may return to (a table of hostile inputs), allow-list
//! entries, the ACS form, the SP key's sealing, the encodings of the HTTP-Redirect binding.

use std::io::Read as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tessera_jose::Secret;
use tessera_origin::saml::acs::{AcsForm, AcsFormError, MAX_FORM_BYTES};
use tessera_origin::saml::authn_request::{deflate_base64, url_encode, xs_date_time};
use tessera_origin::saml::relay_state::{allow_list_entry, check, RelayStateRefused as R};
use tessera_origin::saml::{SamlError, SpKey};
use tessera_proto::{Code, UnixTime};

const ALLOWED: &str = "https://app.acme.example/home";

#[test]
fn relay_states_refuse_every_way_out() {
    let allow = vec![ALLOWED.to_owned()];
    let long_ascii = format!("/{}", "a".repeat(512));
    let long_utf8 = format!("/{}", "é".repeat(256)); // 513 bytes, 257 characters
    let fits_utf8 = format!("/{}", "é".repeat(255)); // 511 bytes
    let table: &[(&str, Result<(), R>)] = &[
        // accepted
        ("/", Ok(())),
        ("/dashboard?tab=1#top", Ok(())),
        ("/é/ü", Ok(())),
        ("/%2F%2Fevil.example", Ok(())), // a path: browsers do not decode %2F into the authority
        (ALLOWED, Ok(())),
        (&fits_utf8, Ok(())),
        // another host
        ("//evil.example", Err(R::SchemeRelative)),
        ("///evil.example", Err(R::SchemeRelative)),
        ("/\\evil.example", Err(R::ForbiddenCharacter)),
        ("\\\\evil.example", Err(R::ForbiddenCharacter)),
        ("/\t/evil.example", Err(R::ForbiddenCharacter)),
        ("/\n/evil.example", Err(R::ForbiddenCharacter)),
        ("/\r\n//evil.example", Err(R::ForbiddenCharacter)),
        ("/ /evil.example", Err(R::ForbiddenCharacter)),
        (" /ok", Err(R::ForbiddenCharacter)),
        ("/ok\0", Err(R::ForbiddenCharacter)),
        ("/ok\u{7f}", Err(R::ForbiddenCharacter)),
        ("\u{2028}/ok", Err(R::ForbiddenCharacter)),
        ("/ok\u{a0}", Err(R::ForbiddenCharacter)),
        // schemes and absolute URLs not on the list
        ("https://evil.example/", Err(R::NotAllowListed)),
        ("http:evil.example", Err(R::NotAllowListed)),
        ("javascript:alert(1)", Err(R::NotAllowListed)),
        ("data:text/html,<script>", Err(R::NotAllowListed)),
        ("evil.example", Err(R::NotAllowListed)),
        ("HTTPS://app.acme.example/home", Err(R::NotAllowListed)),
        ("https://app.acme.example/home/", Err(R::NotAllowListed)),
        (
            "https://app.acme.example/home?next=x",
            Err(R::NotAllowListed),
        ),
        (
            "https://app.acme.example/home@evil.example",
            Err(R::NotAllowListed),
        ),
        (
            "https://app.acme.example.evil.example/home",
            Err(R::NotAllowListed),
        ),
        // sizes
        ("", Err(R::Empty)),
        (&long_ascii, Err(R::TooLong)),
        (&long_utf8, Err(R::TooLong)),
    ];
    for (input, expected) in table {
        assert_eq!(check(input, &allow), *expected, "{input:?}");
    }
    // Without an allow-list, the allow-listed URL is just another absolute URL.
    assert_eq!(check(ALLOWED, &[]), Err(R::NotAllowListed));
    assert_eq!(R::TooLong.code(), Code::SamlRelayStateRefused);
}

#[test]
fn allow_list_entries_are_exact_http_urls() {
    assert_eq!(allow_list_entry(ALLOWED).unwrap(), ALLOWED);
    assert_eq!(
        allow_list_entry("http://localhost:3000/done").unwrap(),
        "http://localhost:3000/done"
    );
    for bad in [
        "https://app.acme.example",        // written back as `…example/`
        "https://APP.acme.example/home",   // written back lower-cased
        "https://app.acme.example/a/../b", // written back as `/b`
        "ftp://files.example/",
        "https://user:pw@app.acme.example/",
        "https://app.acme.example/#frag",
        "/relative",
        "javascript:alert(1)",
        "https:///nohost",
        "",
    ] {
        match allow_list_entry(bad) {
            Err(SamlError::Invalid { code, .. }) => {
                assert_eq!(code, Code::SamlRelayAllowListInvalid, "{bad:?}");
            }
            other => panic!("{bad:?}: {:?}", other.map_err(|e| e.to_string())),
        }
    }
}

fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

#[test]
fn acs_forms_are_read_strictly() {
    let xml = "<samlp:Response xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"/>";
    let b64 = STANDARD.encode(xml);
    let read = AcsForm::parse(&form(&[("SAMLResponse", &b64), ("RelayState", "tok")])).unwrap();
    assert_eq!(read.saml_response, xml.as_bytes());
    assert_eq!(read.relay_state.as_deref(), Some("tok"));

    // Wrapped at 76 columns with CRLF (as some IdPs do), unpadded, unknown fields, no RelayState.
    let wrapped: String = b64
        .as_bytes()
        .chunks(20)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    let unpadded = b64.trim_end_matches('=');
    for body in [
        form(&[("SAMLResponse", &wrapped)]),
        form(&[("SAMLResponse", unpadded), ("Extra", "x")]),
        form(&[("RelayState", ""), ("SAMLResponse", &b64)]),
    ] {
        let read = AcsForm::parse(&body).unwrap();
        assert_eq!(read.saml_response, xml.as_bytes());
        assert_eq!(read.relay_state, None);
    }

    let refused: &[(Vec<u8>, Code)] = &[
        (form(&[("RelayState", "tok")]), Code::SamlResponseMissing),
        (form(&[("SAMLResponse", "")]), Code::SamlResponseMissing),
        (b"".to_vec(), Code::SamlResponseMissing),
        (
            form(&[("SAMLResponse", &b64), ("SAMLResponse", &b64)]),
            Code::SamlFormMalformed,
        ),
        (
            form(&[
                ("SAMLResponse", &b64),
                ("RelayState", "a"),
                ("RelayState", "b"),
            ]),
            Code::SamlFormMalformed,
        ),
        (b"SAMLResponse=%zz".to_vec(), Code::SamlFormMalformed),
        (b"SAMLResponse=abc%".to_vec(), Code::SamlFormMalformed),
        (b"SAMLResponse=%FF%FE".to_vec(), Code::SamlFormMalformed),
        (b"SAMLResponse=\xff".to_vec(), Code::SamlFormMalformed),
        (
            form(&[("SAMLResponse", &b64), ("RelayState", &"r".repeat(1025))]),
            Code::SamlFormMalformed,
        ),
        (
            form(&[("SAMLResponse", "not*base64!")]),
            Code::SamlResponseNotBase64,
        ),
        (
            format!("SAMLResponse={}", "A".repeat(MAX_FORM_BYTES)).into_bytes(),
            Code::BodyTooLarge,
        ),
    ];
    for (body, code) in refused {
        let err: AcsFormError = AcsForm::parse(body).unwrap_err();
        assert_eq!(
            err.code(),
            *code,
            "{:?}: {err}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn sp_keys_open_only_for_their_connection_and_secrets_key() {
    let now = UnixTime::from_secs(1_800_000_000);
    let key = SpKey::generate("https://id.example/saml/acme/okta/metadata", now).unwrap();
    let kek = Secret::new([1; 32]);
    let (acme, okta) = ("acme".parse().unwrap(), "okta".parse().unwrap());
    let sealed = key.seal(&kek, &acme, &okta).unwrap();
    let cert = key.certificate().clone();
    let opened = SpKey::open(&kek, &acme, &okta, &sealed, cert.clone()).unwrap();
    assert_eq!(opened.certificate(), key.certificate());
    assert!(
        !format!("{opened:?}").contains("PrivateKey"),
        "Debug hides the key"
    );
    for (kek, tenant, conn) in [
        (Secret::new([2; 32]), "acme", "okta"),
        (Secret::new([1; 32]), "globex", "okta"),
        (Secret::new([1; 32]), "acme", "entra"),
    ] {
        let opened = SpKey::open(
            &kek,
            &tenant.parse().unwrap(),
            &conn.parse().unwrap(),
            &sealed,
            cert.clone(),
        );
        assert!(
            matches!(opened, Err(SamlError::SpKey(_))),
            "{tenant}/{conn}"
        );
    }
    // Another key's certificate: refused, though the key opens.
    let other = SpKey::generate("other", now).unwrap();
    assert!(matches!(
        SpKey::open(&kek, &acme, &okta, &sealed, other.certificate().clone()),
        Err(SamlError::SpKey(_))
    ));

    // The certificate: self-signed, CN = the name given, RSA-2048, valid ten years from now.
    use x509_cert::der::Decode as _;
    let parsed = x509_cert::Certificate::from_der(key.certificate().der()).unwrap();
    let tbs = parsed.tbs_certificate();
    assert_eq!(tbs.subject(), tbs.issuer());
    assert_eq!(
        tbs.subject().to_string(),
        "CN=https://id.example/saml/acme/okta/metadata"
    );
    let validity = tbs.validity();
    assert_eq!(
        validity.not_before.to_unix_duration().as_secs(),
        1_800_000_000
    );
    assert_eq!(
        validity.not_after.to_unix_duration().as_secs(),
        1_800_000_000 + 3653 * 86_400
    );
    assert_eq!(key.certificate().public_key().describe(), "RSA-2048");
}

#[test]
fn redirect_encodings() {
    assert_eq!(xs_date_time(UnixTime::from_secs(0)), "1970-01-01T00:00:00Z");
    assert_eq!(
        xs_date_time(UnixTime::from_millis(1_798_761_599_999)),
        "2026-12-31T23:59:59Z"
    );
    assert_eq!(
        url_encode("aZ09-._~ /+=&?%é"),
        "aZ09-._~%20%2F%2B%3D%26%3F%25%C3%A9"
    );
    // Raw DEFLATE (no zlib header): flate2's raw decoder reads it back.
    let xml = "<x>".repeat(100);
    let packed = STANDARD.decode(deflate_base64(&xml).unwrap()).unwrap();
    let mut out = String::new();
    flate2::read::DeflateDecoder::new(packed.as_slice())
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, xml);
    assert_ne!(packed.first(), Some(&0x78), "no zlib header");
}
