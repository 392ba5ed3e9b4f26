//! One storage conformance suite, run against every backend: SQLite always, PostgreSQL on a throwaway
//! server this test starts itself (see `pg.rs`). Each case gets a fresh database. The cases live by
//! feature: clients here, the authorization store in `conformance/authz.rs` (caveated relationships in
//! `conformance/caveats.rs`), SCIM users and groups in
//! `conformance/scim.rs`, SAML connections, requests and the replay cache in `conformance/saml.rs`,
//! hand-off codes in `conformance/sso.rs`.

use std::future::Future;
use std::pin::Pin;

use tessera_authz::relationship::{ObjectRef, Relationship, SubjectRef};
use tessera_authz::{Engine, RelationshipReader as _, Tuple};
use tessera_origin::accounts::Accounts;
use tessera_origin::authz::store::{
    AuthzStore, AuthzStoreError, Filter, Operation, Precondition, PreconditionOp,
};
use tessera_origin::scim::group_store::{
    Decision, GroupChange, GroupRow, GroupStoreError, GroupWrite, ScimGroups,
};
use tessera_origin::scim::user_store::{
    Candidates, Change, ScimUsers, Unique, UserRow, UserStoreError, UserWrite,
};
use tessera_origin::store::Store;
use tessera_proto::{ClientRecord, UnixTime};
use tessera_scim::MemberChanges;

mod authz;
mod caveats;
mod oidc;
mod saml;
mod scim;
mod sso;

use authz::*;
use caveats::*;
use oidc::*;
use saml::*;
use scim::*;
use sso::*;

type Case = fn(Store) -> Pin<Box<dyn Future<Output = ()>>>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), (|s| Box::pin($name(s))) as Case)),*]
    };
}

const CASES: &[(&str, Case)] = cases![
    clients_round_trip,
    schema_versions,
    write_semantics,
    failed_writes_change_nothing,
    preconditions,
    snapshots_are_stable,
    delete_by_filter,
    watch_is_ordered_and_paged,
    tenants_are_isolated,
    schema_cannot_orphan_data,
    concurrent_writers_get_distinct_revisions,
    engine_over_the_store,
    two_origins_stay_coherent,
    kept_decisions_stay_exact,
    caveats_are_kept_replaced_and_versioned,
    expiring_relationships_lapse_and_are_swept,
    scim_sees_only_unconditional_memberships,
    scim_users_round_trip,
    scim_users_uniqueness_ignores_case,
    scim_users_locked_writes,
    scim_users_deactivate_and_delete_end_sessions,
    refresh_spends_once_and_ends_with_the_user,
    scim_groups_membership_is_transactional,
    scim_groups_concurrent_changes,
    handoff_codes_are_spent_once,
    saml_connections_round_trip,
    saml_requests_spend_once,
    saml_assertions_remembered_once,
    authorization_codes_are_spent_once,
];

async fn clients_round_trip(store: Store) {
    let rec = |id: &str, tenant: &str| ClientRecord {
        client_id: id.to_owned(),
        tenant: tenant.to_owned(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA".to_owned(),
        scopes: vec!["read".to_owned()],
        audiences: vec!["https://api".to_owned()],
        token_ttl: 300,
        disabled: false,
        updated_at: 10,
        token_roles: Vec::new(),
        kind: if id == "b" {
            tessera_proto::ClientKind::Public
        } else {
            tessera_proto::ClientKind::Confidential
        },
        first_party: id == "b",
        name: format!("Client {id}"),
        redirect_uris: vec![format!("https://{id}.example/cb")],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
    };
    store
        .insert_client(&rec("a", "t1"), UnixTime::from_secs(10))
        .await
        .unwrap();
    store
        .insert_client(&rec("b", "t2"), UnixTime::from_secs(10))
        .await
        .unwrap();
    assert!(
        store
            .insert_client(&rec("a", "t1"), UnixTime::from_secs(11))
            .await
            .is_err(),
        "duplicate client_id"
    );
    assert_eq!(store.client("a").await.unwrap(), Some(rec("a", "t1")));
    assert_eq!(store.client("zz").await.unwrap(), None);
    assert_eq!(store.clients(None).await.unwrap().len(), 2);
    assert_eq!(
        store.clients(Some("t2")).await.unwrap(),
        vec![rec("b", "t2")]
    );
    assert!(store
        .disable_client("a", UnixTime::from_secs(20))
        .await
        .unwrap());
    assert!(!store
        .disable_client("zz", UnixTime::from_secs(20))
        .await
        .unwrap());
    let a = store.client("a").await.unwrap().unwrap();
    assert!(a.disabled);
    assert_eq!(a.updated_at, 20);
}

async fn run_all(backend: &str, mut open: impl AsyncFnMut(usize) -> Store) {
    for (i, (name, case)) in CASES.iter().enumerate() {
        let store = open(i).await;
        eprintln!("conformance [{backend}] {name}");
        case(store.clone()).await;
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sqlite() {
    let root = std::env::temp_dir().join(format!(
        "tessera-conformance-{}",
        super::hex(&tessera_origin::random_bytes::<6>().unwrap())
    ));
    let dir = root.clone();
    run_all("sqlite", async move |i| {
        Store::open(&dir.join(format!("case{i}"))).await.unwrap()
    })
    .await;
    let _ = std::fs::remove_dir_all(root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_postgres() {
    let Some(pg) = super::pg::PgServer::start() else {
        return;
    };
    let urls = run_postgres("postgres", &pg, async |_| {}).await;
    // migrating an already-migrated database is a no-op
    Store::connect(Some(&urls[0]), std::path::Path::new("/nonexistent"))
        .await
        .unwrap()
        .close()
        .await;
    // The primary keys migration holds for everything the suite wrote (relationships created, deleted
    // and created again): undone and migrated again, on every case's database, with the audit and
    // OpenID Connect tables, the caveat and expiration columns, the recovery tables, the device columns
    // and the branding table that came after it.
    for url in &urls {
        super::pg::execute(
            url,
            "ALTER TABLE authz_relationships DROP CONSTRAINT authz_relationships_pkey;
            ALTER TABLE schema_version DROP CONSTRAINT schema_version_pkey;
            DROP TABLE audit_events, audit_heads, audit_anchors, audit_retention, audit_exports, audit_minutes, audit_latency, audit_denied;
            DROP FUNCTION audit_events_append_only;
            DROP TABLE oauth_codes, oauth_consents;
            ALTER TABLE saml_requests DROP COLUMN force_authn;
            ALTER TABLE sso_handoffs DROP COLUMN auth_time;
            DROP INDEX sessions_parent;
            ALTER TABLE sessions DROP COLUMN client_id, DROP COLUMN parent_sid, DROP COLUMN scope;
            ALTER TABLE oauth_clients DROP COLUMN client_type, DROP COLUMN first_party, DROP COLUMN name,
                DROP COLUMN redirect_uris, DROP COLUMN post_logout_redirect_uris;
            ALTER TABLE authz_relationships DROP COLUMN caveat_name, DROP COLUMN caveat_context,
                DROP COLUMN expires_at;
            DROP TABLE recovery_codes, recovery_attempts;
            ALTER TABLE passkeys DROP COLUMN name;
            ALTER TABLE sessions DROP COLUMN device, DROP COLUMN last_seen_at;
            DROP TABLE tenant_branding;
            DELETE FROM schema_version WHERE version >= (SELECT max(version) - 7 FROM schema_version);",
        )
        .await;
        Store::connect(Some(url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap()
            .close()
            .await;
    }
}

/// The suite as a distributed database runs it: every transaction `SERIALIZABLE` (CockroachDB's only
/// level by default), and about one commit in four refused with SQLSTATE 40001. Every write must be
/// retried whole and still answer as the suite expects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_postgres_serializable_with_injected_failures() {
    let Some(pg) = super::pg::PgServer::start() else {
        return;
    };
    let urls = run_postgres("postgres, serializable, injected 40001", &pg, async |url| {
        super::pg::serializable(url).await;
        // Migrated under SERIALIZABLE too, before the failures are installed on its tables.
        Store::connect(Some(url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap()
            .close()
            .await;
        super::pg::inject_serialization_failures(url).await;
    })
    .await;
    let mut injected = 0;
    for url in &urls {
        injected += super::pg::injected_failures(url).await;
    }
    eprintln!("conformance [serializable]: {injected} commits refused with 40001, all retried");
    assert!(injected > 0, "failures were injected");
}

/// The suite on PostgreSQL, each case on a new database of `pg` that `prepare` readies (given its
/// URL) before the case opens it; returns the databases' URLs.
async fn run_postgres(
    backend: &str,
    pg: &super::pg::PgServer,
    prepare: impl AsyncFn(&str),
) -> Vec<String> {
    let mut urls = Vec::new();
    run_all(backend, async |i| {
        let url = pg
            .database(&format!(
                "case_{}{}",
                char::from(b'a' + u8::try_from(i / 26).unwrap()),
                char::from(b'a' + u8::try_from(i % 26).unwrap())
            ))
            .await;
        prepare(&url).await;
        let store = Store::connect(Some(&url), std::path::Path::new("/nonexistent"))
            .await
            .unwrap();
        urls.push(url);
        store
    })
    .await;
    urls
}
