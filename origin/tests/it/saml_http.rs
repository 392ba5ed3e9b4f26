//! The SAML routes in-process: the connections API (create, refusals, list, show, delete, the domain
//! look-up), our SP metadata read back with roxmltree, and SP-initiated login decoded back to the
//! AuthnRequest — every attribute checked, the HTTP-Redirect signature verified with the certificate
//! our metadata publishes — then spent through the store with the RelayState the IdP would echo.

use std::io::Read as _;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http_body_util::BodyExt as _;
use rsa::signature::Verifier as _;
use tessera_origin::saml::{SamlStore, SpentRequest};
use tessera_saml::{Certificate, PublicKey};
use tower::ServiceExt as _;

use super::saml_fixtures::{request, Idp};
use super::{app, send};

const BASE: &str = "http://127.0.0.1:8788"; // AppState's default public URL
const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get(app: &axum::Router, uri: &str) -> Answer {
    let resp = app
        .clone()
        .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn create(
    app: &axum::Router,
    tenant: &str,
    body: serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    send(
        app,
        "POST",
        &format!("/v1/tenants/{tenant}/saml/connections"),
        &body.to_string(),
    )
    .await
}

fn json(req: tessera_proto::saml::CreateConnectionRequest) -> serde_json::Value {
    serde_json::to_value(req).unwrap()
}

#[tokio::test]
async fn connections_api() {
    let (app, _, dir) = app().await;
    let mut okta = request("okta");
    okta.display_name = Some("Acme Okta".into());
    okta.email_domains = vec!["acme.com".into()];
    okta.attribute_map
        .add_pairs("email=mail,external_id=employeeNumber")
        .unwrap();
    okta.signed_part = tessera_proto::saml::SignedPart::Either;
    okta.allow_idp_initiated = true;
    okta.name_id_format = Some("persistent".into());
    let (status, body) = create(&app, "acme", json(okta)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let text = body.to_string();
    for secret in ["PRIVATE", "sealed", "sp_key"] {
        assert!(!text.contains(secret), "no private key in {text}");
    }
    assert_eq!(body["connection"], "okta");
    assert_eq!(body["display_name"], "Acme Okta");
    assert_eq!(
        body["sp"]["entity_id"],
        format!("{BASE}/saml/acme/okta/metadata")
    );
    assert_eq!(body["sp"]["acs_url"], format!("{BASE}/saml/acme/okta/acs"));
    assert_eq!(
        body["sp"]["login_url"],
        format!("{BASE}/saml/acme/okta/login")
    );
    assert_eq!(body["idp"]["entity_id"], "https://idp.example/entity");
    assert_eq!(
        body["idp"]["signing_certificates_sha256"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(body["signed_part"], "either");
    assert_eq!(body["allow_idp_initiated"], true);
    assert_eq!(body["attribute_map"]["external_id"], "employeeNumber");
    assert_eq!(
        body["name_id_format"],
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
    );
    let created = body;

    // Refusals, each with its code.
    let mut no_key = request("nokey");
    no_key.idp_metadata = Idp {
        certificates: 0,
        ..Idp::default()
    }
    .metadata();
    let mut post_signed = request("postsigned");
    post_signed.idp_metadata = Idp {
        sso_redirect: None,
        want_signed: true,
        ..Idp::default()
    }
    .metadata();
    let mut taken = request("other");
    taken.email_domains = vec!["ACME.com".into()];
    let mut bad_domain = request("other");
    bad_domain.email_domains = vec!["acme".into()];
    let mut bad_allow = request("other");
    bad_allow.relay_state_allow_list = vec!["javascript:alert(1)".into()];
    let mut bad_format = request("other");
    bad_format.name_id_format = Some("kerberos".into());
    let cases = [
        (
            json(no_key),
            StatusCode::BAD_REQUEST,
            "saml_metadata_no_signing_key",
        ),
        (
            json(post_signed),
            StatusCode::BAD_REQUEST,
            "saml_post_signing_unsupported",
        ),
        (
            json(request("okta")),
            StatusCode::CONFLICT,
            "saml_connection_exists",
        ),
        (json(taken), StatusCode::CONFLICT, "saml_domain_taken"),
        (
            json(request("Bad Name")),
            StatusCode::BAD_REQUEST,
            "saml_connection_name_invalid",
        ),
        (
            json(bad_domain),
            StatusCode::BAD_REQUEST,
            "saml_domain_invalid",
        ),
        (
            json(bad_allow),
            StatusCode::BAD_REQUEST,
            "saml_relay_allow_list_invalid",
        ),
        (
            json(bad_format),
            StatusCode::BAD_REQUEST,
            "saml_name_id_format_invalid",
        ),
        (
            serde_json::json!({"name": "x", "idp_metadata": "<not-xml"}),
            StatusCode::BAD_REQUEST,
            "saml_malformed_xml",
        ),
        (
            serde_json::json!({"name": "x", "idp_metadata": Idp::default().metadata(), "attribute_map": {"phone": "tel"}}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            serde_json::json!({"name": "x", "idp_metadata": Idp::default().metadata(), "private_key": "..."}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = create(&app, "acme", body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(code)),
            "{answer}"
        );
    }
    let unauth = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/v1/tenants/acme/saml/connections")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);

    // Read back.
    let (status, list) = send(&app, "GET", "/v1/tenants/acme/saml/connections", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["connections"], serde_json::json!([created.clone()]));
    let (status, shown) = send(&app, "GET", "/v1/tenants/acme/saml/connections/okta", "").await;
    assert_eq!((status, &shown), (StatusCode::OK, &created));
    let (status, other) = send(&app, "GET", "/v1/tenants/globex/saml/connections", "").await;
    assert_eq!(
        (status, other["connections"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    for uri in [
        "/v1/tenants/globex/saml/connections/okta",
        "/v1/tenants/acme/saml/connections/NOPE",
    ] {
        let (status, body) = send(&app, "GET", uri, "").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("saml_connection_not_found"))
        );
    }

    // The edge's look-up by email domain.
    let (status, found) = send(&app, "GET", "/internal/v1/saml/domains/ACME.COM", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        found,
        serde_json::json!({"tenant": "acme", "connection": "okta", "display_name": "Acme Okta",
                           "login_url": format!("{BASE}/saml/acme/okta/login")})
    );
    let (status, body) = send(&app, "GET", "/internal/v1/saml/domains/globex.com", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("saml_connection_not_found"))
    );
    let (status, body) = send(&app, "GET", "/internal/v1/saml/domains/not_a_domain", "").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("saml_domain_invalid"))
    );

    // Delete: gone, domain free again.
    let (status, _) = send(&app, "DELETE", "/v1/tenants/acme/saml/connections/okta", "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(&app, "DELETE", "/v1/tenants/acme/saml/connections/okta", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(&app, "GET", "/internal/v1/saml/domains/acme.com", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/saml/acme/okta/metadata").await.status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn sp_metadata_describes_us() {
    let (app, _, dir) = app().await;
    let mut signed = request("okta");
    signed.idp_metadata = Idp {
        want_signed: true,
        ..Idp::default()
    }
    .metadata();
    signed.name_id_format = Some("email".into());
    let (status, created) = create(&app, "acme", json(signed)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let answer = get(&app, "/saml/acme/okta/metadata").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.headers["content-type"],
        "application/samlmetadata+xml"
    );
    let doc = roxmltree::Document::parse(&answer.body).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((MD, "EntityDescriptor")));
    assert_eq!(
        root.attribute("entityID"),
        Some(&*format!("{BASE}/saml/acme/okta/metadata"))
    );
    let roles: Vec<_> = root
        .children()
        .filter(roxmltree::Node::is_element)
        .collect();
    assert_eq!(roles.len(), 1);
    let sp = roles[0];
    assert!(sp.has_tag_name((MD, "SPSSODescriptor")));
    assert_eq!(sp.attribute("protocolSupportEnumeration"), Some(SAMLP));
    assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("true"));
    assert_eq!(sp.attribute("WantAssertionsSigned"), Some("true"));
    let children: Vec<_> = sp.children().filter(roxmltree::Node::is_element).collect();
    let names: Vec<&str> = children.iter().map(|n| n.tag_name().name()).collect();
    assert_eq!(
        names,
        [
            "KeyDescriptor",
            "KeyDescriptor",
            "NameIDFormat",
            "NameIDFormat",
            "NameIDFormat",
            "AssertionConsumerService"
        ]
    );
    for (descriptor, usage) in children[..2].iter().zip(["signing", "encryption"]) {
        assert_eq!(descriptor.attribute("use"), Some(usage));
        let cert = descriptor
            .descendants()
            .find(|n| n.has_tag_name((DS, "X509Certificate")))
            .unwrap();
        assert_eq!(cert.text(), created["sp"]["certificate"].as_str());
    }
    let methods: Vec<_> = children[1]
        .children()
        .filter(|n| n.has_tag_name((MD, "EncryptionMethod")))
        .map(|n| n.attribute("Algorithm").unwrap())
        .collect();
    assert_eq!(
        methods,
        [
            "http://www.w3.org/2009/xmlenc11#aes256-gcm",
            "http://www.w3.org/2009/xmlenc11#aes128-gcm",
            "http://www.w3.org/2009/xmlenc11#rsa-oaep"
        ]
    );
    let formats: Vec<_> = children[2..5].iter().map(|n| n.text().unwrap()).collect();
    assert_eq!(
        formats,
        [
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
        ],
        "the connection's format first"
    );
    let acs = children[5];
    assert_eq!(
        acs.attribute("Binding"),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    assert_eq!(
        acs.attribute("Location"),
        Some(&*format!("{BASE}/saml/acme/okta/acs"))
    );
    assert_eq!(
        (acs.attribute("index"), acs.attribute("isDefault")),
        (Some("0"), Some("true"))
    );
    // Our certificate in the metadata is the one the API reports, by fingerprint too.
    let cert = Certificate::from_base64(created["sp"]["certificate"].as_str().unwrap()).unwrap();
    assert_eq!(
        tessera_origin::saml::hex(&cert.sha256_fingerprint()),
        created["sp"]["certificate_sha256"].as_str().unwrap()
    );
    for path in [
        "/saml/acme/nope/metadata",
        "/saml/ACME/okta/metadata",
        "/saml/acme/okta%2F../metadata",
    ] {
        let answer = get(&app, path).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The query parameters of `url` in order, raw (still percent-encoded).
fn raw_params(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').unwrap().1;
    query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

fn decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned()
}

/// Checks every attribute of an AuthnRequest; returns its ID.
fn check_request(xml: &str, connection: &str, destination: &str, format: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let req = doc.root_element();
    assert!(req.has_tag_name((SAMLP, "AuthnRequest")));
    let id = req.attribute("ID").unwrap();
    assert!(
        id.len() == 65 && id.starts_with('_') && id[1..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(req.attribute("Version"), Some("2.0"));
    let instant = req.attribute("IssueInstant").unwrap();
    assert!(
        instant.len() == 20 && instant.ends_with('Z') && instant.as_bytes()[10] == b'T',
        "{instant}"
    );
    let now = tessera_origin::now();
    assert!(
        (0..30).any(|s| {
            let then = tessera_proto::UnixTime::from_secs(now.as_secs() - s);
            tessera_origin::saml::authn_request::xs_date_time(then) == instant
        }),
        "{instant} is not within the last 30 s"
    );
    assert_eq!(req.attribute("Destination"), Some(destination));
    assert_eq!(
        req.attribute("AssertionConsumerServiceURL"),
        Some(&*format!("{BASE}/saml/acme/{connection}/acs"))
    );
    assert_eq!(
        req.attribute("ProtocolBinding"),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    assert_eq!(req.attributes().len(), 6, "no other attribute");
    let children: Vec<_> = req.children().filter(roxmltree::Node::is_element).collect();
    assert_eq!(children.len(), 2);
    assert!(children[0].has_tag_name((SAML, "Issuer")));
    assert_eq!(
        children[0].text(),
        Some(&*format!("{BASE}/saml/acme/{connection}/metadata"))
    );
    assert!(children[1].has_tag_name((SAMLP, "NameIDPolicy")));
    assert_eq!(children[1].attribute("AllowCreate"), Some("true"));
    assert_eq!(children[1].attribute("Format"), Some(format));
    id.to_owned()
}

#[tokio::test]
async fn login_over_http_redirect_signed() {
    let (app, store, dir) = app().await;
    let mut okta = request("okta");
    okta.idp_metadata = Idp {
        want_signed: true,
        sso_redirect: Some("https://idp.example/sso?tenant=acme&x=1"),
        ..Idp::default()
    }
    .metadata();
    okta.relay_state_allow_list = vec!["https://app.acme.example/home".into()];
    let (status, created) = create(&app, "acme", json(okta)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let answer = get(&app, "/saml/acme/okta/login?relay_state=%2Fafter%3Fx%3D1&binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.headers["cache-control"], "no-store");
    let location = answer.headers["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://idp.example/sso?tenant=acme&x=1&SAMLRequest="),
        "{location}"
    );
    let params = raw_params(location);
    let names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "tenant",
            "x",
            "SAMLRequest",
            "RelayState",
            "SigAlg",
            "Signature"
        ]
    );

    // SAMLRequest: URL-decode, base64, raw inflate, the XML.
    let deflated = STANDARD.decode(decode(&params[2].1)).unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    let id = check_request(
        &xml,
        "okta",
        "https://idp.example/sso?tenant=acme&x=1",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    );
    assert_eq!(
        decode(&params[4].1),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );

    // The signature covers exactly `SAMLRequest=…&RelayState=…&SigAlg=…` as sent, and verifies with the
    // certificate in our metadata.
    let signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        params[2].1, params[3].1, params[4].1
    );
    let signature = STANDARD.decode(decode(&params[5].1)).unwrap();
    let cert = Certificate::from_base64(created["sp"]["certificate"].as_str().unwrap()).unwrap();
    let PublicKey::Rsa(public) = cert.public_key() else {
        panic!("RSA")
    };
    let verifier = rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(public.clone());
    let signature = rsa::pkcs1v15::Signature::try_from(signature.as_slice()).unwrap();
    verifier.verify(signed.as_bytes(), &signature).unwrap();
    assert!(verifier
        .verify(format!("{signed}x").as_bytes(), &signature)
        .is_err());

    // The IdP echoes the RelayState token; the ACS spends the request once and gets the path back.
    let token = decode(&params[3].1);
    assert!(token.len() <= 80 && !token.contains("after"));
    let saml = SamlStore::new(store.db().clone());
    let (acme, conn) = ("acme".parse().unwrap(), "okta".parse().unwrap());
    let now = tessera_origin::now();
    assert_eq!(
        saml.spend_request(&acme, &conn, &id, Some(&token), now)
            .await
            .unwrap(),
        SpentRequest {
            relay_state: Some("/after?x=1".to_owned()),
            binding: Some("Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9".to_owned()),
            forced_since: None,
        }
    );
    assert!(saml
        .spend_request(&acme, &conn, &id, Some(&token), now)
        .await
        .is_err());

    // An allow-listed absolute URL; SAML's own parameter name; no return address at all.
    for query in ["&RelayState=https%3A%2F%2Fapp.acme.example%2Fhome", ""] {
        let answer = get(
            &app,
            &format!(
                "/saml/acme/okta/login?binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9{query}"
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{query}");
        let names: Vec<String> = raw_params(answer.headers["location"].to_str().unwrap())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let relay = if query.is_empty() {
            vec![]
        } else {
            vec!["RelayState".to_owned()]
        };
        let expected: Vec<String> = ["tenant", "x", "SAMLRequest"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(relay)
            .chain(["SigAlg".to_owned(), "Signature".to_owned()])
            .collect();
        assert_eq!(names, expected, "{query}");
    }

    // Hostile return addresses: one refusal, and no request stored for them.
    for query in [
        "relay_state=%2F%2Fevil.example",
        "relay_state=%2F%5Cevil.example",
        "relay_state=https%3A%2F%2Fevil.example%2F",
        "relay_state=javascript%3Aalert(1)",
        "relay_state=%2F%09%2Fevil.example",
        "RelayState=https%3A%2F%2Fapp.acme.example%2Fhome%2F",
    ] {
        let answer = get(
            &app,
            &format!(
                "/saml/acme/okta/login?{query}&binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"
            ),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            answer.body.contains("saml_relay_state_refused"),
            "{query}: {}",
            answer.body
        );
    }
    let twice = get(
        &app,
        "/saml/acme/okta/login?relay_state=%2Fa&RelayState=%2Fb&binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9",
    )
    .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("invalid_request"));
    // Without the login page's binding (or with one that is not a SHA-256), no request is issued.
    for query in ["", "?relay_state=%2Fa", "?binding=short", "?binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9&binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"] {
        let answer = get(&app, &format!("/saml/acme/okta/login{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(answer.body.contains("invalid_request"), "{query}");
    }
    assert_eq!(
        get(
            &app,
            "/saml/acme/nope/login?binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(
            &app,
            "/saml/globex/okta/login?binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9"
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn login_unsigned_and_over_http_post() {
    let (app, _, dir) = app().await;
    let (status, _) = create(&app, "acme", json(request("okta"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let answer = get(
        &app,
        "/saml/acme/okta/login?binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9",
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let params = raw_params(answer.headers["location"].to_str().unwrap());
    assert_eq!(
        params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["SAMLRequest"],
        "unsigned: the IdP did not ask"
    );

    let mut post = request("okta");
    post.name = "postonly".into();
    post.idp_metadata = Idp {
        sso_redirect: None,
        ..Idp::default()
    }
    .metadata();
    post.name_id_format = Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient".into());
    let (status, created) = create(&app, "acme", json(post)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let answer = get(&app, "/saml/acme/postonly/login?relay_state=/next&binding=Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(answer.headers["cache-control"], "no-store");
    let csp = answer.headers["content-security-policy"].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(nonce.len() >= 22);
    assert!(csp.starts_with("default-src 'none'; script-src 'nonce-"));
    assert!(answer.body.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(answer
        .body
        .contains("action=\"https://idp.example/sso/post\""));
    let value = |name: &str| {
        let start = format!("name=\"{name}\" value=\"");
        let from = answer.body.split(&start).nth(1).unwrap();
        from.split('"').next().unwrap().to_owned()
    };
    let xml = String::from_utf8(STANDARD.decode(value("SAMLRequest")).unwrap()).unwrap();
    check_request(
        &xml,
        "postonly",
        "https://idp.example/sso/post",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    );
    let token = value("RelayState");
    assert!(token.len() == 22 && !token.contains("next"));
    std::fs::remove_dir_all(dir).ok();
}
