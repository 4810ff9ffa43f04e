//! The team's figures as of the last `tollgate sync`, cached in the local store: the hook reads
//! them from here ([`cached`]) and never touches the network.

use rusqlite::{Connection, OptionalExtension};
pub use tollgate_sdk::{TeamPeriods, TeamUsage};

use crate::config::team::TeamConfig;
use crate::time::rfc3339;

/// The cached team figures at `now_ms`, or `None` before the first sync. Reads one row.
pub fn cached(
    conn: &Connection,
    config: &TeamConfig,
    now_ms: i64,
) -> rusqlite::Result<Option<TeamUsage>> {
    let row: Option<(i64, String)> = conn
        .query_row(
            "SELECT synced_ms, doc FROM team_cache WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.and_then(|(synced_ms, doc)| {
        let mut team: TeamUsage = serde_json::from_str(&doc).ok()?;
        let age_minutes = (now_ms - synced_ms).max(0) as u64 / 60_000;
        team.synced_at = Some(rfc3339(synced_ms));
        team.age_minutes = age_minutes;
        team.stale = age_minutes >= config.stale_after_minutes;
        Some(team)
    }))
}

/// Replaces the cached team figures (written by `tollgate sync`).
pub fn store_cache(
    tx: &rusqlite::Transaction<'_>,
    team: &TeamUsage,
    synced_ms: i64,
) -> rusqlite::Result<()> {
    let doc = serde_json::to_string(team).expect("plain data serialises");
    tx.execute(
        "INSERT INTO team_cache (id, synced_ms, doc) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET synced_ms = excluded.synced_ms, doc = excluded.doc",
        rusqlite::params![synced_ms, doc],
    )?;
    Ok(())
}
