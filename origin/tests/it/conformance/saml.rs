//! The SAML store's cases of the conformance suite: connections (names and email domains unique, delete
//! takes everything of the connection along), sign-in requests spent once by one of eight concurrent
//! attempts, assertion IDs remembered once by one of eight, pruning.

use std::sync::Arc;
use std::time::Duration;

use tessera_jose::Secret;
use tessera_origin::saml::{create_connection, RequestRefusal, SamlError, SamlStore};
use tessera_proto::saml::{ConnectionId, EmailDomain};
use tessera_proto::TenantId;

use super::*;
use crate::saml_fixtures::request;

const URL: &str = "https://id.example";

fn t(s: &str) -> TenantId {
    s.parse().unwrap()
}

fn c(s: &str) -> ConnectionId {
    s.parse().unwrap()
}

fn key() -> Secret<[u8; 32]> {
    Secret::new([7; 32])
}

pub(super) async fn saml_connections_round_trip(store: Store) {
    let saml = SamlStore::new(store.db().clone());
    let now = UnixTime::from_secs(1_800_000_000);
    let mut okta = request("okta");
    okta.email_domains = vec!["Acme.COM".into(), "acme.example".into(), "acme.com".into()];
    okta.relay_state_allow_list = vec!["https://app.acme.example/home".into()];
    okta.attribute_map
        .add_pairs("email=mail,groups=memberOf")
        .unwrap();
    let created = create_connection(&saml, &key(), URL, &t("acme"), okta, now)
        .await
        .unwrap();
    assert_eq!(
        created
            .email_domains
            .iter()
            .map(EmailDomain::as_str)
            .collect::<Vec<_>>(),
        ["acme.com", "acme.example"],
        "lower-cased, each once"
    );
    assert_eq!(created.created_at, now);
    assert_eq!(created.idp_signing_certificates().len(), 1);
    assert_eq!(created.attribute_map.groups.as_deref(), Some("memberOf"));
    // Its key opens under the secrets key it was sealed with, and matches its certificate.
    let sp_key = created.sp_key(&key()).unwrap();
    assert_eq!(sp_key.certificate().der(), created.sp_certificate.der());
    assert!(matches!(
        created.sp_key(&Secret::new([8; 32])),
        Err(SamlError::SpKey(_))
    ));

    // A name is the tenant's once; another tenant may use it; a domain is one connection's.
    assert!(matches!(
        create_connection(&saml, &key(), URL, &t("acme"), request("okta"), now).await,
        Err(SamlError::Exists)
    ));
    let mut other = request("okta");
    other.email_domains = vec!["other.example".into(), "ACME.example".into()];
    match create_connection(&saml, &key(), URL, &t("globex"), other, now).await {
        Err(SamlError::DomainTaken(d)) => assert_eq!(d, "acme.example"),
        other => panic!("{:?}", other.map(|c| c.id)),
    }
    // The refused creation stored nothing, not even its free domain.
    assert!(saml.get(&t("globex"), &c("okta")).await.unwrap().is_none());
    assert!(saml
        .by_domain(&"other.example".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    create_connection(&saml, &key(), URL, &t("globex"), request("okta"), now)
        .await
        .unwrap();
    create_connection(&saml, &key(), URL, &t("acme"), request("entra"), now)
        .await
        .unwrap();

    let all: Vec<(String, String)> = saml
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|c| (c.tenant.to_string(), c.id.to_string()))
        .collect();
    assert_eq!(
        all,
        [("acme", "entra"), ("acme", "okta"), ("globex", "okta")]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(saml.list(Some(&t("globex"))).await.unwrap().len(), 1);
    assert_eq!(
        saml.by_domain(&"ACME.com".parse().unwrap()).await.unwrap(),
        Some((t("acme"), c("okta")))
    );

    // Delete takes its domains, requests and identity links along; the replay cache stays.
    let issued = saml
        .issue_request(&t("acme"), &c("okta"), None, None, false, now)
        .await
        .unwrap();
    assert!(saml
        .remember_assertion(
            &t("acme"),
            &c("okta"),
            "_a1",
            now.plus(Duration::from_secs(60)),
            now
        )
        .await
        .unwrap());
    assert!(saml.delete(&t("acme"), &c("okta")).await.unwrap());
    assert!(!saml.delete(&t("acme"), &c("okta")).await.unwrap());
    assert!(saml.get(&t("acme"), &c("okta")).await.unwrap().is_none());
    assert!(saml.get(&t("globex"), &c("okta")).await.unwrap().is_some());
    assert!(saml
        .by_domain(&"acme.com".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        saml.spend_request(&t("acme"), &c("okta"), &issued.request_id, None, now)
            .await,
        Err(SamlError::RequestRefused(RequestRefusal::Unknown))
    ));
    // Recreated, it can claim the domain again; assertions the old one accepted stay remembered until
    // they expire (a re-created connection does not accept them again).
    let mut again = request("okta");
    again.email_domains = vec!["acme.com".into()];
    create_connection(&saml, &key(), URL, &t("acme"), again, now)
        .await
        .unwrap();
    assert!(!saml
        .remember_assertion(
            &t("acme"),
            &c("okta"),
            "_a1",
            now.plus(Duration::from_secs(60)),
            now
        )
        .await
        .unwrap());
}

pub(super) async fn saml_requests_spend_once(store: Store) {
    let saml = SamlStore::new(store.db().clone());
    let now = UnixTime::from_secs(1_800_000_000);
    let (acme, okta) = (t("acme"), c("okta"));
    let issued = saml
        .issue_request(&acme, &okta, Some("/after"), None, false, now)
        .await
        .unwrap();
    assert_eq!(issued.request_id.len(), 65);
    assert!(issued.request_id.starts_with('_'));
    assert!(issued.request_id[1..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(issued.expires_at, now.plus(Duration::from_secs(600)));
    let token = issued.relay_token.clone().unwrap();
    assert!(token.len() <= 80, "SAML bindings §3.4.3");
    assert!(
        !token.contains("after"),
        "the IdP sees a token, not the path"
    );

    // Another connection, another tenant, the wrong or a missing RelayState: refused, and not spent.
    let id = issued.request_id.as_str();
    for (tenant, conn, relay, why) in [
        (
            &acme,
            &c("entra"),
            Some(token.as_str()),
            RequestRefusal::Unknown,
        ),
        (
            &t("globex"),
            &okta,
            Some(token.as_str()),
            RequestRefusal::Unknown,
        ),
        (
            &acme,
            &okta,
            Some("forged"),
            RequestRefusal::RelayStateMismatch,
        ),
        (&acme, &okta, None, RequestRefusal::RelayStateMismatch),
    ] {
        match saml.spend_request(tenant, conn, id, relay, now).await {
            Err(SamlError::RequestRefused(r)) => assert_eq!(r, why),
            other => panic!("{other:?}"),
        }
    }

    // Eight concurrent spends: exactly one gets the return address, seven find it spent.
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (saml, barrier, id, token) = (
                saml.clone(),
                barrier.clone(),
                issued.request_id.clone(),
                token.clone(),
            );
            let (acme, okta) = (acme.clone(), okta.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                saml.spend_request(&acme, &okta, &id, Some(&token), now)
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut spent = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(spent) => won.push(spent.relay_state),
            Err(SamlError::RequestRefused(RequestRefusal::Spent)) => spent += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(won, [Some("/after".to_owned())]);
    assert_eq!(spent, 7);

    // Without a RelayState; expiry is exclusive at ten minutes.
    let plain = saml
        .issue_request(&acme, &okta, None, None, false, now)
        .await
        .unwrap();
    assert_eq!(plain.relay_token, None);
    let at_expiry = now.plus(Duration::from_secs(600));
    assert!(matches!(
        saml.spend_request(&acme, &okta, &plain.request_id, None, at_expiry)
            .await,
        Err(SamlError::RequestRefused(RequestRefusal::Expired))
    ));
    let fresh = saml
        .issue_request(&acme, &okta, None, None, false, now)
        .await
        .unwrap();
    let just_before = now.plus(Duration::from_secs(599));
    assert_eq!(
        saml.spend_request(&acme, &okta, &fresh.request_id, None, just_before)
            .await
            .unwrap(),
        tessera_origin::saml::SpentRequest::default()
    );
    assert!(matches!(
        saml.spend_request(&acme, &okta, "_unknown", None, now)
            .await,
        Err(SamlError::RequestRefused(RequestRefusal::Unknown))
    ));

    // Issuing later prunes expired requests (a bounded batch).
    let later = now.plus(Duration::from_secs(3600));
    saml.issue_request(&acme, &okta, None, None, false, later)
        .await
        .unwrap();
    assert!(matches!(
        saml.spend_request(&acme, &okta, &plain.request_id, None, later)
            .await,
        Err(SamlError::RequestRefused(RequestRefusal::Unknown))
    ));
}

pub(super) async fn saml_assertions_remembered_once(store: Store) {
    let saml = SamlStore::new(store.db().clone());
    let now = UnixTime::from_secs(1_800_000_000);
    let until = now.plus(Duration::from_secs(300));
    let (acme, okta) = (t("acme"), c("okta"));

    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (saml, barrier) = (saml.clone(), barrier.clone());
            let (acme, okta) = (acme.clone(), okta.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                saml.remember_assertion(&acme, &okta, "_assertion-1", until, now)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut fresh = 0;
    for task in tasks {
        fresh += usize::from(task.await.unwrap());
    }
    assert_eq!(fresh, 1, "one of eight concurrent presentations is fresh");

    // Replays stay replays until the assertion expires; other connections and tenants keep their own.
    assert!(!saml
        .remember_assertion(&acme, &okta, "_assertion-1", until, until)
        .await
        .unwrap());
    assert!(saml
        .remember_assertion(&acme, &c("entra"), "_assertion-1", until, now)
        .await
        .unwrap());
    assert!(saml
        .remember_assertion(&t("globex"), &okta, "_assertion-1", until, now)
        .await
        .unwrap());
    // Past its expiry the row is pruned by the next write (the ACS refuses expired assertions first).
    let later = until.plus(Duration::from_secs(1));
    assert!(saml
        .remember_assertion(
            &acme,
            &okta,
            "_assertion-2",
            later.plus(Duration::from_secs(60)),
            later
        )
        .await
        .unwrap());
    assert!(saml
        .remember_assertion(
            &acme,
            &okta,
            "_assertion-1",
            later.plus(Duration::from_secs(60)),
            later
        )
        .await
        .unwrap());
}
