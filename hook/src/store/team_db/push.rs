//! What `tollgate sync` pushes: each local table as a stream of rows the team database has
//! not acknowledged.
//!
//! Exactly once, whatever fails: every pushed row carries a globally unique key (Claude's
//! message and request ids for usage; this machine's random id and the local row id for
//! events) and is inserted with `ON CONFLICT`, and the local high-water mark advances only
//! after the remote transaction committed. A crash between the two re-pushes rows the
//! database already has, and they are ignored.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use postgres::Client;
use postgres::types::ToSql;
use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::config::team::{Share, TeamConfig};
use crate::store::Store;

/// Rows read and pushed per round trip.
const BATCH: i64 = 2000;

// Two ages are written in the SQL below, relative to ?2 (now): an event still without an
// answer is pushed once it is a minute old (its hook call died), and usage rows of the last
// hour are sent again, since a response seen again with larger figures updates its row.

/// How one local table is pushed.
struct Stream {
    /// Its name in messages and the key of its mark in `team_sync` (`mark:<name>`).
    name: &'static str,
    /// Reads the next rows: the first column is the mark, the others the pushed values. Takes
    /// ?1 share tool names (0/1), ?2 now (ms), ?3 machine, ?4 person, ?5 team, ?6 mark,
    /// ?7 batch size.
    local: &'static str,
    /// Reads rows at or below the mark to send again (same columns and parameters), if any.
    recent: Option<&'static str>,
    /// Inserts the arrays ($1, $2, …, one per pushed column) into the team database.
    remote: &'static str,
    /// The pushed columns' types.
    kinds: &'static [Kind],
}

/// A pushed column's type.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    Float,
    /// Text sent only as its [`item_key`].
    Key,
}

// Short names keep each stream's column list on one line, next to its SQL.
/// A text column.
const T: Kind = Kind::Text;
/// An integer column.
const I: Kind = Kind::Int;
/// A floating-point column.
const F: Kind = Kind::Float;
/// A text column sent as its key.
const K: Kind = Kind::Key;

/// What the team database holds of a file path, commit hash or URL: the first 16 bytes of its
/// SHA-256, hex. Enough to count each once; not the thing itself.
fn item_key(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16])
}

/// The last component of a path in SQLite (the project's name, never its full path).
macro_rules! project_name {
    ($col:literal) => {
        concat!(
            "replace(",
            $col,
            ", rtrim(",
            $col,
            ", replace(",
            $col,
            ", '/', '')), '')"
        )
    };
}

const STREAMS: &[Stream] = &[
    Stream {
        name: "usage",
        local: concat!(
            "SELECT id, message_id, request_id, ?3, ?4, ?5, ",
            project_name!("project"),
            ", session_id, model, ts_ms, input_tokens, output_tokens,
             cache_write_5m + cache_write_1h, cache_read_tokens, cost_usd
             FROM usage WHERE id > ?6 ORDER BY id LIMIT ?7"
        ),
        recent: Some(concat!(
            "SELECT id, message_id, request_id, ?3, ?4, ?5, ",
            project_name!("project"),
            ", session_id, model, ts_ms, input_tokens, output_tokens,
             cache_write_5m + cache_write_1h, cache_read_tokens, cost_usd
             FROM usage WHERE id <= ?6 AND ts_ms > ?2 - 3600000 ORDER BY id LIMIT ?7"
        )),
        remote: "INSERT INTO tollgate_usage (message_id, request_id, machine, person, team,
                 project, session_id, model, ts_ms, input_tokens, output_tokens,
                 cache_write_tokens, cache_read_tokens, cost_usd)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[],
                 $11::int8[], $12::int8[], $13::int8[], $14::float8[])
                 ON CONFLICT (message_id, request_id) DO UPDATE SET
                     input_tokens = excluded.input_tokens,
                     output_tokens = excluded.output_tokens,
                     cache_write_tokens = excluded.cache_write_tokens,
                     cache_read_tokens = excluded.cache_read_tokens,
                     cost_usd = excluded.cost_usd
                 WHERE (tollgate_usage.input_tokens, tollgate_usage.output_tokens,
                        tollgate_usage.cache_write_tokens, tollgate_usage.cache_read_tokens,
                        tollgate_usage.cost_usd)
                   IS DISTINCT FROM (excluded.input_tokens, excluded.output_tokens,
                        excluded.cache_write_tokens, excluded.cache_read_tokens,
                        excluded.cost_usd)",
        kinds: &[T, T, T, T, T, T, T, T, I, I, I, I, I, F],
    },
    Stream {
        name: "events",
        local: concat!(
            "SELECT id, ?3, id, ?4, ?5, ",
            project_name!("project"),
            ", session_id, ts_ms, event, CASE WHEN ?1 THEN tool_name END, decision, latency_us
             FROM events
             WHERE id > ?6 AND id < coalesce((SELECT min(id) FROM events WHERE id > ?6
                   AND latency_us IS NULL AND ts_ms > ?2 - 60000), 9223372036854775807)
             ORDER BY id LIMIT ?7"
        ),
        remote: "INSERT INTO tollgate_events (machine, local_id, person, team, project,
                 session_id, ts_ms, event, tool_name, decision, latency_us)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::int8[], $8::text[], $9::text[], $10::text[],
                 $11::int8[])
                 ON CONFLICT DO NOTHING",
        kinds: &[T, I, T, T, T, T, I, T, T, T, I],
        recent: None,
    },
    Stream {
        name: "downgrades",
        local: concat!(
            "SELECT coalesce(d.checked_ms, d.ts_ms) AS mark, ?3, d.tool_use_id, ?4, ?5, ",
            project_name!("coalesce(e.project, '')"),
            ", d.session_id, d.ts_ms, d.requested_model, d.applied
             FROM downgrades d LEFT JOIN events e ON e.id = d.event_id
             WHERE coalesce(d.checked_ms, d.ts_ms) >= ?6 ORDER BY mark LIMIT ?7"
        ),
        remote: "INSERT INTO tollgate_downgrades (machine, tool_use_id, person, team, project,
                 session_id, ts_ms, requested_model, applied)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::int8[], $8::text[], $9::text[])
                 ON CONFLICT (machine, tool_use_id) DO UPDATE SET applied = excluded.applied",
        kinds: &[T, T, T, T, T, T, I, T, T],
        recent: None,
    },
    Stream {
        name: "work",
        local: concat!(
            "SELECT id, ?3, id, ?4, ?5, ",
            project_name!("project"),
            ", session_id, ts_ms, kind, CASE WHEN kind = 'edit' THEN project || char(0) || file
                                            ELSE detail END,
             lines_added, lines_removed
             FROM work WHERE id > ?6 ORDER BY id LIMIT ?7"
        ),
        remote: "INSERT INTO tollgate_work (machine, local_id, person, team, project,
                 session_id, ts_ms, kind, item, lines_added, lines_removed)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[],
                 $5::text[], $6::text[], $7::int8[], $8::text[], $9::text[], $10::int8[],
                 $11::int8[])
                 ON CONFLICT DO NOTHING",
        kinds: &[T, I, T, T, T, T, I, T, K, I, I],
        recent: None,
    },
    Stream {
        name: "session_lines",
        local: "SELECT observed_ms, ?3, session_id, ?4, ?5, lines_added, lines_removed, observed_ms
                FROM claude_code_lines WHERE observed_ms >= ?6 ORDER BY observed_ms LIMIT ?7",
        remote: "INSERT INTO tollgate_session_lines (machine, session_id, person, team,
                 lines_added, lines_removed, observed_ms)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                 $5::int8[], $6::int8[], $7::int8[])
                 ON CONFLICT (machine, session_id) DO UPDATE SET
                     lines_added = greatest(tollgate_session_lines.lines_added,
                                            excluded.lines_added),
                     lines_removed = greatest(tollgate_session_lines.lines_removed,
                                              excluded.lines_removed),
                     observed_ms = excluded.observed_ms",
        kinds: &[T, T, T, T, I, I, I],
        recent: None,
    },
    Stream {
        name: "watched_sessions",
        local: "SELECT id, ?3, session_id, ?4, ?5 FROM events
                WHERE id > ?6 AND event IN ('PostToolUse', 'PostToolUseFailure')
                  AND ts_ms >= (SELECT since_ms FROM work_recorded_since WHERE id = 1)
                ORDER BY id LIMIT ?7",
        remote: "INSERT INTO tollgate_watched_sessions (machine, session_id, person, team)
                 SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                 ON CONFLICT DO NOTHING",
        kinds: &[T, T, T, T],
        recent: None,
    },
];

/// One pushed column's values.
enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Key(Vec<Option<String>>),
}

impl Column {
    fn new(kind: Kind) -> Self {
        match kind {
            Kind::Text => Self::Text(Vec::new()),
            Kind::Int => Self::Int(Vec::new()),
            Kind::Float => Self::Float(Vec::new()),
            Kind::Key => Self::Key(Vec::new()),
        }
    }

    fn push(&mut self, row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<()> {
        match self {
            Self::Text(v) => v.push(row.get(index)?),
            Self::Int(v) => v.push(row.get(index)?),
            Self::Float(v) => v.push(row.get(index)?),
            Self::Key(v) => v.push(row.get::<_, Option<String>>(index)?.map(|t| item_key(&t))),
        }
        Ok(())
    }

    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Text(v) | Self::Key(v) => v,
            Self::Int(v) => v,
            Self::Float(v) => v,
        }
    }
}

/// What one stream pushed.
#[derive(Debug, Default, Serialize)]
pub struct Pushed {
    /// Rows read from the local store.
    pub sent: u64,
    /// Rows the team database did not have yet, or had with other figures.
    pub new: u64,
    /// The marks before and after, when they moved.
    #[serde(skip)]
    marks: Option<(i64, i64)>,
}

impl Pushed {
    /// The local row ids this push acknowledged (for streams whose mark is a row id).
    pub fn ids(&self) -> Option<std::ops::RangeInclusive<i64>> {
        self.marks.map(|(from, to)| from + 1..=to)
    }
}

/// Who is pushing.
pub struct Who<'a> {
    /// This machine's id ([`machine_id`]).
    pub machine: &'a str,
    /// The person's id.
    pub person: &'a str,
    /// The team's settings.
    pub team: &'a TeamConfig,
    /// Now, Unix ms.
    pub now_ms: i64,
}

/// Pushes every stream, by name.
pub fn push_all(
    store: &mut Store,
    client: &mut Client,
    who: &Who<'_>,
) -> Result<BTreeMap<&'static str, Pushed>> {
    let mut pushed = BTreeMap::new();
    for stream in STREAMS {
        let result = push(store, client, stream, who)
            .with_context(|| format!("pushing {} to the team database", stream.name))?;
        pushed.insert(stream.name, result);
    }
    Ok(pushed)
}

/// Pushes one stream in batches; the mark advances after each committed batch.
fn push(store: &mut Store, client: &mut Client, stream: &Stream, who: &Who<'_>) -> Result<Pushed> {
    let key = format!("mark:{}", stream.name);
    let mut mark = get(store, &key)?.map_or(0, |v| v.parse().unwrap_or(0));
    let mut pushed = Pushed::default();
    let first = mark;
    if let Some(recent) = stream.recent {
        let (columns, rows, _) = read_batch(store, recent, stream.kinds, who, mark)?;
        pushed.new += send(client, stream, &columns, rows)?;
        pushed.sent += rows;
    }
    loop {
        let (columns, rows, next) = read_batch(store, stream.local, stream.kinds, who, mark)?;
        if rows == 0 {
            return Ok(pushed);
        }
        pushed.marks = Some((first, next));
        pushed.new += send(client, stream, &columns, rows)?;
        pushed.sent += rows;
        // Only now is the batch acknowledged.
        set(store, &key, &next.to_string())?;
        if rows < BATCH as u64 || next == mark {
            return Ok(pushed);
        }
        mark = next;
    }
}

/// Inserts one batch in one remote transaction; the rows written.
fn send(client: &mut Client, stream: &Stream, columns: &[Column], rows: u64) -> Result<u64> {
    if rows == 0 {
        return Ok(0);
    }
    let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(Column::as_sql).collect();
    let mut tx = client.transaction()?;
    let written = tx.execute(stream.remote, &params)?;
    tx.commit()?;
    Ok(written)
}

/// The rows `sql` reads after (or around) `mark`: their columns, count and the new mark.
fn read_batch(
    store: &Store,
    sql: &str,
    kinds: &[Kind],
    who: &Who<'_>,
    mark: i64,
) -> Result<(Vec<Column>, u64, i64)> {
    let conn = store.conn();
    let mut columns: Vec<Column> = kinds.iter().map(|k| Column::new(*k)).collect();
    let mut stmt = conn.prepare_cached(sql).map_err(|e| store.error(e))?;
    let mut rows = stmt
        .query(rusqlite::params![
            who.team.shares(Share::ToolNames),
            who.now_ms,
            who.machine,
            who.person,
            who.team.team,
            mark,
            BATCH,
        ])
        .map_err(|e| store.error(e))?;
    let (mut count, mut next) = (0, mark);
    while let Some(row) = rows.next().map_err(|e| store.error(e))? {
        next = next.max(row.get(0).map_err(|e| store.error(e))?);
        for (i, column) in columns.iter_mut().enumerate() {
            column.push(row, i + 1).map_err(|e| store.error(e))?;
        }
        count += 1;
    }
    Ok((columns, count, next))
}

/// This machine's random id, created on first use.
pub fn machine_id(store: &mut Store) -> Result<String> {
    if let Some(id) = get(store, "machine_id")? {
        return Ok(id);
    }
    let id = random_id().context("cannot make a random machine id")?;
    store.write(|tx| {
        tx.execute(
            "INSERT INTO team_sync (key, value) VALUES ('machine_id', ?1) ON CONFLICT DO NOTHING",
            [&id],
        )
    })?;
    Ok(get(store, "machine_id")?.unwrap_or(id))
}

/// 128 random bits, hex.
fn random_id() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(hex::encode(bytes))
}

fn get(store: &Store, key: &str) -> Result<Option<String>> {
    Ok(store
        .conn()
        .query_row("SELECT value FROM team_sync WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| store.error(e))?)
}

fn set(store: &mut Store, key: &str, value: &str) -> Result<()> {
    store.write(|tx| {
        tx.execute(
            "INSERT INTO team_sync (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
    })?;
    Ok(())
}
