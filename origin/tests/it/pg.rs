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
