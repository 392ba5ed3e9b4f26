//! A throwaway PostgreSQL for tests: `initdb` into a temporary directory, `pg_ctl start` on a free loopback
//! port, stopped and deleted on drop (also when the test fails). When the server binaries are absent the
//! caller skips with a message, unless `TESSERA_REQUIRE_POSTGRES` is set (as `scripts/test` does), in
//! which case their absence fails the run.

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TESSERA_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl PgServer {
    /// Start a server, or `None` (after saying why) when PostgreSQL is not installed and not required.
    pub fn start() -> Option<Self> {
        let Some(bin) = pg_bin() else {
            assert!(
                std::env::var_os("TESSERA_REQUIRE_POSTGRES").is_none(),
                "TESSERA_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found \
                 (install Debian's `postgresql`, or set TESSERA_PG_BIN)"
            );
            eprintln!(
                "SKIPPED: PostgreSQL conformance: no server binaries under /usr/lib/postgresql \
                 (install Debian's `postgresql` or set TESSERA_PG_BIN; scripts/test does)"
            );
            return None;
        };
        let dir = std::env::temp_dir().join(format!(
            "tessera-pg-{}",
            super::hex(&tessera_origin::random_bytes::<6>().unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // initdb refuses to run as root: run the server as the `postgres` user then.
        let as_postgres = is_root();
        if as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&dir),
                "chown",
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Self {
            dir,
            bin,
            as_postgres,
            port,
        };
        let data = server.dir.join("data");
        server.pg(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c max_connections=200",
            server.dir.display()
        );
        let log = server.dir.join("server.log");
        server.pg(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-o".as_ref(),
                opts.as_ref(),
                "start".as_ref(),
            ],
        );
        Some(server)
    }

    fn pg(&self, tool: &str, args: &[&std::ffi::OsStr]) {
        let path = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir(&self.dir);
        run(&mut cmd, tool);
    }

    /// A new, empty database on this server; its URL.
    pub async fn database(&self, name: &str) -> String {
        use sqlx::Connection as _;
        let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", self.port);
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// Run `sql` (one or more statements, fixed text) on the database at `url`.
pub async fn execute(url: &str, sql: &str) {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Make every transaction on the database at `url` `SERIALIZABLE` unless it asks otherwise (as
/// CockroachDB's are), for the sessions opened from now on.
pub async fn serializable(url: &str) {
    execute(
        url,
        "DO $$ BEGIN
            EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = serializable', current_database());
        END $$",
    )
    .await;
}

/// On the database at `url` (migrated): refuse about one write transaction in four at its commit with
/// SQLSTATE 40001, as a distributed database refuses a transaction it cannot serialise. A deferred
/// constraint trigger on every table the origin writes fires at `COMMIT` and raises when the
/// transaction's id is a multiple of 4, so a retry (a new transaction, a new id) is a fresh draw; each
/// refusal is counted in a sequence, which a rollback does not undo ([`injected_failures`]).
pub async fn inject_serialization_failures(url: &str) {
    execute(
        url,
        "CREATE SEQUENCE tessera_injected_40001;
        CREATE FUNCTION tessera_inject_40001() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF txid_current() % 4 = 0 THEN
                PERFORM nextval('tessera_injected_40001');
                RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
            END IF;
            RETURN NULL;
        END $$;
        DO $$
        DECLARE t text;
        BEGIN
            FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_version'
            LOOP
                EXECUTE format('CREATE CONSTRAINT TRIGGER tessera_inject_40001 AFTER INSERT OR UPDATE OR DELETE ON %I
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_inject_40001()', t);
            END LOOP;
        END $$;",
    )
    .await;
}

/// How many commits [`inject_serialization_failures`] has refused on the database at `url`.
pub async fn injected_failures(url: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let (last, called): (i64, bool) =
        sqlx::query_as("SELECT last_value, is_called FROM tessera_injected_40001")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    if called {
        last
    } else {
        0
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let path = self.bin.join("pg_ctl");
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = cmd
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
