//! Origins contending on one PostgreSQL database, as on a distributed one: several migrating a fresh
//! database at once (with the advisory lock, with one that locks nothing as CockroachDB's, and with
//! one that refuses as YugabyteDB's without advisory locks), and writers of one tenant under
//! `SERIALIZABLE`, where the database refuses all but one of them at a time with SQLSTATE 40001. And
//! what the region monitor sees of a database without PostgreSQL's WAL functions.

use tessera_origin::authz::store::{AuthzStore, Operation};
use tessera_origin::store::Store;

use super::pg::{self, PgServer};

/// Origins starting at once on one fresh database.
const MIGRATORS: usize = 4;

async fn connect(url: &str) -> Store {
    Store::connect(Some(url), std::path::Path::new("/nonexistent"))
        .await
        .unwrap()
}

/// [`MIGRATORS`] origins connect to the fresh database at `url` at once: every one starts, and the
/// schema was migrated once (every version recorded exactly once, with no gap).
async fn migrate_at_once(url: &str) {
    let tasks: Vec<_> = (0..MIGRATORS)
        .map(|_| {
            let url = url.to_owned();
            tokio::spawn(async move { connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap());
    }
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let (rows, distinct, max): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT version), max(version) FROM schema_version",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert_eq!((rows, distinct), (max, max), "each migration recorded once");
    // and every origin works on it
    for (i, store) in stores.iter().enumerate() {
        AuthzStore::new(store.db().clone())
            .write_schema(&format!("t{i}"), "definition user {}")
            .await
            .unwrap();
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_migrate_once() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    // PostgreSQL's advisory lock, under its default isolation and under SERIALIZABLE.
    migrate_at_once(&pg.database("locked").await).await;
    let url = pg.database("locked_serializable").await;
    pg::serializable(&url).await;
    migrate_at_once(&url).await;
    // A lock that locks nothing (CockroachDB takes the call and returns): the migrators race, and the
    // losers find the schema made, roll back and read the version again. `public` is searched before
    // `pg_catalog` so that its function stands in for the built-in one.
    let url = pg.database("no_lock").await;
    pg::serializable(&url).await;
    pg::execute(
        &url,
        "CREATE FUNCTION public.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE sql AS 'SELECT NULL';
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database());
        END $$;",
    )
    .await;
    migrate_at_once(&url).await;
    // A lock the database refuses (YugabyteDB without advisory locks): migrating goes on without it.
    let url = pg.database("lock_refused").await;
    pg::execute(
        &url,
        "CREATE FUNCTION public.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'advisory locks are not yet implemented' USING ERRCODE = '0A000';
        END $$;
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database());
        END $$;",
    )
    .await;
    migrate_at_once(&url).await;
}

/// Writers of one tenant at once under `SERIALIZABLE`, with commits also refused at random: each
/// write is retried until it commits, each gets its own revision, and the head moves by exactly one
/// per write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_under_serializable_all_commit() {
    const WRITERS: u64 = 8;
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.database("writers").await;
    pg::serializable(&url).await;
    let store = connect(&url).await;
    pg::inject_serialization_failures(&url).await;
    let a = AuthzStore::new(store.db().clone());
    let before = a
        .write_schema(
            "t",
            "definition user {}\ndefinition doc { relation viewer: user }",
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let a = a.clone();
            tokio::spawn(async move {
                let r: tessera_authz::Relationship =
                    format!("doc:d{w}#viewer@user:u{w}").parse().unwrap();
                a.write("t", &[(Operation::Create, r.into())], &[])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(t.await.unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(
        revisions,
        (before + 1..=before + WRITERS).collect::<Vec<_>>(),
        "each write its own revision"
    );
    assert_eq!(a.head("t").await.unwrap(), before + WRITERS);
    eprintln!(
        "contention: {} commits refused by injection besides the writers' own conflicts",
        pg::injected_failures(&url).await
    );
    store.close().await;
}

/// A database without PostgreSQL's WAL functions (as CockroachDB and YugabyteDB are expected to lack
/// them) is a primary on the first timeline to the region monitor, not an unreachable one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_wal_functions_is_a_primary() {
    use tessera_origin::region::heartbeat::{probe, DbState};
    let Some(pg) = PgServer::start() else {
        return;
    };
    let url = pg.database("no_wal").await;
    pg::execute(
        &url,
        "CREATE FUNCTION public.pg_current_wal_lsn() RETURNS pg_lsn LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'unimplemented: pg_current_wal_lsn' USING ERRCODE = '0A000';
        END $$;
        DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database());
        END $$;",
    )
    .await;
    let store = connect(&url).await;
    assert!(matches!(
        probe(store.db()).await.unwrap(),
        DbState::Primary { timeline: 1, .. }
    ));
    store.close().await;
}
