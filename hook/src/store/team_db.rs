//! The team's PostgreSQL database: connecting (TLS when the server offers it or the URL's
//! `sslmode=require` asks for it), its versioned schema, what `tollgate sync` pushes into it
//! ([`push`]) and pulls from it ([`pull`]), and what `tollgate team report` reads ([`report`]).

pub mod pull;
pub mod push;
pub mod report;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema, one file per version; `tollgate_schema` records those applied.
const MIGRATIONS: &[&str] = &[
    include_str!("team_db/v1.sql"),
    include_str!("team_db/v2.sql"),
];

/// Serialises concurrent migrations (any constant; "tollgate" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x746f_6c6c_6761;

/// How long a connection attempt may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `url` (`postgres://…` or a `key=value` string).
pub fn connect(url: &str) -> Result<Client> {
    let mut config: Config = url.parse().context(
        "the team database URL is not valid (expected postgres://user:password@host:port/dbname)",
    )?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.connect(tls()).with_context(|| {
        format!(
            "cannot connect to the team database at {}: check that it is up and the URL, user and password are right (nothing was lost: the next `tollgate sync` pushes everything not yet acknowledged)",
            describe(&config)
        )
    })
}

/// TLS with the system's root certificates. With none readable, TLS connections fail to verify
/// (and say so) while plain ones, which `sslmode=prefer` falls back to, still work.
fn tls() -> MakeRustlsConnect {
    MakeRustlsConnect::with_native_certs().map_or_else(
        |_| {
            MakeRustlsConnect::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        },
        |(tls, _unreadable)| tls,
    )
}

/// Host, port and database of a config, without the password.
fn describe(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("{host}:{port}/{db}")
}

/// The schema version this build knows.
pub fn known_version() -> i32 {
    MIGRATIONS.len() as i32
}

/// Applies the migrations not yet applied, under a lock so that concurrent syncs do not
/// race; returns the versions before and after.
pub fn migrate(client: &mut Client) -> Result<(i32, i32)> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS tollgate_schema (version INTEGER PRIMARY KEY)")?;
    let from: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM tollgate_schema", &[])?
        .get(0);
    let known = known_version();
    if from > known {
        bail!(
            "the team database has schema version {from}, newer than this tollgate knows ({known}): upgrade tollgate"
        );
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(from as usize) {
        tx.batch_execute(sql)
            .with_context(|| format!("team database migration {version} failed"))?;
        tx.execute("INSERT INTO tollgate_schema VALUES ($1)", &[&version])?;
    }
    tx.commit()?;
    Ok((from, known))
}
