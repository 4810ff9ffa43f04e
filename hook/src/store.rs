//! The embedded store: one SQLite file in WAL mode.
//!
//! Every hook call writes two short transactions; many hook processes may write at once (WAL
//! plus a bounded wait for the write lock; a hook call that waits past its bound spools what it
//! has to write instead, see [`spool`]). Nothing slow happens while the write lock is held:
//! transcripts are read before it is taken ([`ingest`]), policies run between the two. The schema is versioned with `PRAGMA user_version` and migrated
//! forward on open. Rollup tables are kept by the writes themselves (`roll_event`,
//! [`roll_usage`]; no triggers, which SQLite would parse on every open), so window sums read a
//! few hundred 15-minute buckets and hours instead of every message.

pub(crate) mod calibrate;
pub(crate) mod cells;
pub mod claude_code;
pub(crate) mod downgrade;
pub(crate) mod events;
pub(crate) mod import;
pub mod ingest;
pub(crate) mod lifecycle;
pub(crate) mod observe;
pub(crate) mod outcomes;
pub(crate) mod sessions;
pub(crate) mod spool;
pub(crate) mod team;
pub(crate) mod team_db;
pub(crate) mod tool_calls;
pub mod usage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, params, params_from_iter,
};
use serde::{Deserialize, Serialize};

/// How long a command waits for another process's transaction before giving up. (A hook call
/// waits less, within its time budget: see `hook::budget`.)
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(3);

/// Width of a rollup bucket. Every real time-zone offset is a multiple of 15 minutes, so day
/// and week boundaries in any zone fall on a bucket edge.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;

/// Length of a day of the daily rollups (UTC days: `ts_ms / DAY_MS`).
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// WAL pages after which a commit checkpoints them into the database (SQLite's default: 1000).
///
/// Every hook process is the store's only connection, so its first read rebuilds the WAL
/// index by reading and checksumming every frame written since the last checkpoint. A hook
/// call writes ~8 pages; at 1000 pages that meant reading ~2 MB on an average call. At this
/// size a checkpoint comes every ~16 calls and the WAL read stays under 512 KB.
const WAL_CHECKPOINT_PAGES: i64 = 128;

/// Forward migrations; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("store/v1.sql"),
    include_str!("store/v2.sql"),
    include_str!("store/v3.sql"),
    include_str!("store/v4.sql"),
    include_str!("store/v5.sql"),
    include_str!("store/v6.sql"),
    include_str!("store/v7.sql"),
    include_str!("store/v8.sql"),
    include_str!("store/v9.sql"),
    include_str!("store/v10.sql"),
    include_str!("store/v11.sql"),
];

/// What went wrong with the store, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory cannot be opened or created.
    #[error(
        "cannot open the store {path}: {detail}. Check that the directory is writable, or set TOLLGATE_HOME to one that is"
    )]
    CantOpen {
        /// The database file.
        path: PathBuf,
        /// What the OS or SQLite said.
        detail: String,
    },
    /// The file or its directory is read-only.
    #[error(
        "the store {path} is read-only: make it writable (chmod u+w) or set TOLLGATE_HOME to a writable directory"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
    },
    /// No space left.
    #[error(
        "the disk holding the store {path} is full: free some space; until then tollgate answers but records nothing"
    )]
    Full {
        /// The database file.
        path: PathBuf,
    },
    /// Another process held the lock for longer than this call waits.
    #[error("the store {path} stayed locked by another process for {} ms: if this repeats, look for a stuck `tollgate` or an open SQLite shell", waited.as_millis())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// How long this call waited.
        waited: Duration,
    },
    /// The file is not a database or is damaged.
    #[error("the store {path} is damaged ({detail})")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// Written by a newer tollgate.
    #[error(
        "the store {path} has schema version {found}, newer than this tollgate knows ({known}): upgrade tollgate"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// Any other SQLite error.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
}

impl StoreError {
    fn from_sqlite(path: &Path, waited: Duration, error: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match error.sqlite_error_code() {
            Some(ErrorCode::ReadOnly) => Self::ReadOnly { path },
            Some(ErrorCode::DiskFull) => Self::Full { path },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Self::Busy { path, waited }
            }
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Self::Corrupt {
                path,
                detail: error.to_string(),
            },
            // SQLite's generic codes hide the cause; ask the filesystem.
            Some(
                ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::SystemIoFailure,
            ) => {
                if fs_full(&path) {
                    Self::Full { path }
                } else if fs_read_only(&path) {
                    Self::ReadOnly { path }
                } else if error.sqlite_error_code() == Some(ErrorCode::SystemIoFailure) {
                    Self::Sqlite {
                        path,
                        source: error,
                    }
                } else {
                    Self::CantOpen {
                        path,
                        detail: error.to_string(),
                    }
                }
            }
            _ => Self::Sqlite {
                path,
                source: error,
            },
        }
    }

    /// Whether the file itself is damaged (and may be moved aside).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }

    /// Whether another process held the lock past this call's wait.
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }
}

/// Column `i` of `row`, a count: `NULL` and negatives read as 0.
pub(crate) fn count_at(row: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
}

/// A store opened as it is by [`Store::inspect`].
pub struct Inspected(Connection);

impl Inspected {
    /// The connection, for the store's read functions.
    pub fn conn(&self) -> &Connection {
        &self.0
    }

    /// The schema version it is at (0: not created).
    pub fn schema_version(&self) -> rusqlite::Result<i64> {
        self.0
            .pragma_query_value(None, "user_version", |r| r.get(0))
    }

    /// SQLite's integrity check: "ok", or the first problem found.
    pub fn integrity(&self) -> rusqlite::Result<String> {
        self.0.query_row("PRAGMA integrity_check", [], |r| r.get(0))
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// How long a statement waits for another process's lock.
    wait: Duration,
}

impl Store {
    /// Opens (creating if needed, mode 0600 in a 0700 directory) and migrates the store,
    /// waiting up to [`BUSY_TIMEOUT`] for another process's lock.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_waiting(path, BUSY_TIMEOUT)
    }

    /// [`Store::open`], waiting up to `wait` for another process's lock (then, and for each
    /// statement after, until [`Store::set_wait`]).
    pub fn open_waiting(path: &Path, wait: Duration) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::paths::create_private_dir(dir).map_err(|e| io_error(path, &e))?;
        }
        create_private_file(path).map_err(|e| io_error(path, &e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::from_sqlite(path, wait, e))?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            wait,
        };
        store.configure().and_then(|()| store.migrate())?;
        Ok(store)
    }

    /// Opens the store for reading only (migrated first, when an older tollgate wrote it):
    /// nothing done through it can change the file.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        drop(Self::open(path)?);
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::from_sqlite(path, BUSY_TIMEOUT, e))?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
            wait: BUSY_TIMEOUT,
        };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.error(e))?;
        Ok(store)
    }

    /// Opens the store as it is, read-only, to inspect it (`doctor`): nothing migrated,
    /// repaired or created.
    pub fn inspect(path: &Path) -> rusqlite::Result<Inspected> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Inspected(conn))
    }

    /// A new store in memory, migrated (for tests and fuzzing).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory()
            .map_err(|e| StoreError::from_sqlite(&path, BUSY_TIMEOUT, e))?;
        let mut store = Self {
            conn,
            path,
            wait: BUSY_TIMEOUT,
        };
        store.configure().and_then(|()| store.migrate())?;
        Ok(store)
    }

    /// Opens the store waiting up to `wait` for another process's lock; a damaged file is
    /// renamed to `<name>.corrupt-<unix time>` and a new store started. The returned notice, if
    /// any, tells the user what happened.
    pub fn open_or_recover(
        path: &Path,
        wait: Duration,
    ) -> Result<(Self, Option<String>), StoreError> {
        match Self::open_waiting(path, wait) {
            Err(e) if e.is_corrupt() => {
                let stamp = chrono::Utc::now().timestamp();
                let aside = path.with_extension(format!("db.corrupt-{stamp}"));
                std::fs::rename(path, &aside).map_err(|io| io_error(path, &io))?;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", path.display()));
                    let _ = std::fs::remove_file(side);
                }
                let store = Self::open_waiting(path, wait)?;
                let notice = format!(
                    "{e}; moved it to {} and started a new store (usage will be re-read from the transcripts)",
                    aside.display()
                );
                Ok((store, Some(notice)))
            }
            other => other.map(|s| (s, None)),
        }
    }

    /// Copies the WAL into the database and empties it, after a large write (an import).
    ///
    /// Every tollgate process is the store's only connection, so the next one to open it
    /// rebuilds the WAL index from every frame in the log, and one that checkpoints copies them
    /// all again (SQLite forgets what was already copied). A log that only short-lived
    /// processes touch is restarted only by a process that writes twice (each hook call does);
    /// after an import, the status line and reports would otherwise re-read megabytes on each
    /// call. Waits for readers up to the busy timeout; a failure costs only speed.
    pub fn truncate_wal(&self) {
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits up to `wait` for another process's lock from now on.
    pub fn set_wait(&mut self, wait: Duration) -> Result<(), StoreError> {
        self.wait = wait;
        self.conn.busy_timeout(wait).map_err(|e| self.error(e))
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one read transaction, so that all it reads comes from one moment of the
    /// store, whatever other processes commit meanwhile (and the WAL's read lock is taken once).
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.error(e))?;
        let value = f(&tx).map_err(|e| self.error(e))?;
        tx.commit().map_err(|e| self.error(e))?;
        Ok(value)
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`, so concurrent writers queue on the
    /// busy timeout instead of failing on a lock upgrade), committing if it succeeds.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let (path, wait) = (self.path.clone(), self.wait);
        let error = |e| StoreError::from_sqlite(&path, wait, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(error)?;
        let value = f(&tx).map_err(error)?;
        tx.commit().map_err(error)?;
        Ok(value)
    }

    /// Maps an error from a read on [`Store::conn`] to a [`StoreError`].
    pub fn error(&self, error: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(&self.path, self.wait, error)
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i64 {
        MIGRATIONS.len() as i64
    }

    fn configure(&self) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(self.wait)
            // Each hook process is the last to close the store; by default SQLite would then
            // checkpoint the WAL (with fsyncs) on every call. Leave that to the periodic
            // auto-checkpoint instead.
            .and_then(|()| {
                self.conn
                    .set_db_config(
                        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                        true,
                    )
                    .map(drop)
            })
            .and_then(|()| self.conn.pragma_update(None, "synchronous", "NORMAL"))
            .and_then(|()| {
                self.conn
                    .pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            })
            .map_err(|e| self.error(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = Self::schema_version();
        let version = self.user_version()?;
        if version == known {
            return Ok(());
        }
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        if version == 0 {
            // A new store: WAL lets many hook processes write at once. The mode is persistent,
            // so later opens need not set it again.
            self.conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
                .map_err(|e| self.error(e))?;
        }
        self.write(|tx| {
            // Another process may have migrated while this one waited for the lock.
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            for (index, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", index as i64 + 1)?;
            }
            Ok(())
        })
    }

    fn user_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.error(e))
    }
}

/// Whether the store's file (or, if it does not exist, its directory) cannot be written.
fn fs_read_only(path: &Path) -> bool {
    let probe = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        tempfile::tempfile_in(dir).map(drop)
    };
    matches!(
        probe.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied)
    )
}

/// Whether the filesystem holding the store has (almost) no free space left.
#[cfg(unix)]
fn fs_full(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(c_dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_dir` is a valid NUL-terminated path and `stat` is writable memory of the
    // right type; statvfs only writes to it.
    if unsafe { libc::statvfs(c_dir.as_ptr(), stat.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statvfs returned 0, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    // The field widths differ by platform (u32 on macOS, u64 on Linux).
    #[allow(clippy::unnecessary_cast)]
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    free < 64 * 1024
}

#[cfg(not(unix))]
fn fs_full(_path: &Path) -> bool {
    false
}

fn io_error(path: &Path, error: &std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    match error.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly { path },
        std::io::ErrorKind::StorageFull => StoreError::Full { path },
        _ => StoreError::CantOpen {
            path,
            detail: error.to_string(),
        },
    }
}

/// Creates the file with mode 0600 if it does not exist (SQLite would use the umask).
fn create_private_file(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// One hook call, as first recorded (before the decision is known).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// Unix time in milliseconds.
    pub ts_ms: i64,
    /// `session_id`.
    pub session_id: String,
    /// `cwd`.
    pub project: String,
    /// `hook_event_name`.
    pub event: String,
    /// `tool_name` on tool events.
    pub tool_name: Option<String>,
    /// `tool_use_id` on tool events.
    pub tool_use_id: Option<String>,
    /// `agent_id` inside subagents.
    pub agent_id: Option<String>,
    /// What the tool call touches (file, command, pattern), redacted and capped.
    pub subject: Option<String>,
    /// Bytes of `tool_input` as JSON.
    pub input_bytes: u64,
    /// Bytes of text in `tool_response`.
    pub response_bytes: u64,
    /// Estimated tokens the tool result adds to the context.
    pub est_tokens: u64,
    /// The model the event concerns (a subagent's, a model switch's, the session's at its start).
    pub model: Option<String>,
    /// The hook input as policies read it, redacted and cut (made by the hook).
    #[serde(default)]
    pub input: Option<String>,
}

/// What tollgate answered to one hook call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `allow`, `warn`, `downgrade`, `ask`, `deny`, or [`PAUSED`].
    pub decision: String,
    /// The reason given, if any.
    pub reason: Option<String>,
    /// For a downgrade: the model the subagent was sent to.
    pub model_requested: Option<String>,
    /// Wall time of the whole hook call.
    pub latency_us: i64,
    /// Internal errors that made the answer fail open, if any.
    pub note: Option<String>,
}

impl Outcome {
    /// While `tollgate pause` lasts (until `until_ms`): recorded as `paused`, with what the
    /// answer would have been as the reason.
    pub fn paused(&mut self, until_ms: i64) {
        let until = crate::time::rfc3339(until_ms);
        let would = match &self.reason {
            Some(reason) => format!("{}: {reason}", self.decision),
            None => self.decision.clone(),
        };
        self.reason = Some(format!("paused until {until}; would have answered {would}"));
        self.decision = PAUSED.to_owned();
        self.model_requested = None;
    }
}

/// The decision recorded for a call answered allow because of `tollgate pause`.
pub const PAUSED: &str = "paused";

/// One policy's result for one hook call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRun {
    /// The policy's configured name.
    pub policy: String,
    /// Its decision (after `on_error` when it failed).
    pub decision: String,
    /// Its reason.
    pub reason: Option<String>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Time spent loading and evaluating it.
    pub elapsed_us: i64,
}

/// Inserts an event; returns its id.
pub fn insert_event(tx: &Transaction<'_>, row: &EventRow) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO events (ts_ms, session_id, project, event, tool_name, tool_use_id, agent_id,
                             subject, input_bytes, response_bytes, est_tokens, model, input,
                             usage_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                 coalesce((SELECT max(id) FROM usage), 0))",
    )?
    .execute(params![
        row.ts_ms,
        row.session_id,
        row.project,
        row.event,
        row.tool_name,
        row.tool_use_id,
        row.agent_id,
        row.subject,
        row.input_bytes as i64,
        row.response_bytes as i64,
        row.est_tokens as i64,
        row.model,
        row.input,
    ])?;
    let id = tx.last_insert_rowid();
    roll_event(tx, row)?;
    Ok(id)
}

/// Records the model a session started with (`SessionStart`), unless one is known already.
pub fn set_session_model(
    tx: &Transaction<'_>,
    session_id: &str,
    project: &str,
    model: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (session_id, project, model) VALUES (?1, ?2, ?3)
         ON CONFLICT (session_id) DO UPDATE SET model = coalesce(sessions.model, excluded.model)",
    )?
    .execute((session_id, project, model))
    .map(drop)
}

/// Counts a tool call (`PreToolUse`) or a prompt (`UserPromptSubmit`) in the event rollups
/// (per 15-minute bucket and session, per hour, and per UTC day).
fn roll_event(tx: &Transaction<'_>, row: &EventRow) -> rusqlite::Result<()> {
    let (tool_calls, prompts) = match row.event.as_str() {
        "PreToolUse" => (1, 0),
        "UserPromptSubmit" => (0, 1),
        _ => return Ok(()),
    };
    let bucket = row.ts_ms / BUCKET_MS;
    tx.prepare_cached(
        "INSERT INTO event_rollup VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO UPDATE SET
             tool_calls = tool_calls + excluded.tool_calls, prompts = prompts + excluded.prompts",
    )?
    .execute(params![
        bucket,
        row.session_id,
        row.project,
        tool_calls,
        prompts
    ])?;
    tx.prepare_cached(
        "INSERT INTO event_hourly VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET
             tool_calls = tool_calls + excluded.tool_calls, prompts = prompts + excluded.prompts",
    )?
    .execute(params![bucket / 4, row.project, tool_calls, prompts])?;
    tx.prepare_cached(
        "INSERT INTO event_daily VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO UPDATE SET
             tool_calls = tool_calls + excluded.tool_calls, prompts = prompts + excluded.prompts",
    )?
    .execute(params![
        row.ts_ms / DAY_MS,
        row.project,
        tool_calls,
        prompts
    ])?;
    Ok(())
}

/// Where one response's usage is rolled up.
#[derive(Debug, Clone, Copy)]
pub struct RollupKey<'a> {
    /// The response's time, Unix ms.
    pub ts_ms: i64,
    /// Its session.
    pub session_id: &'a str,
    /// Its project.
    pub project: &'a str,
    /// Its model.
    pub model: &'a str,
}

/// A change to the usage rollups: a response added (`messages` 1), removed (-1), or its figures
/// revised (0, and the differences).
#[derive(Debug, Clone, Copy, Default)]
pub struct UsageDelta {
    /// Responses.
    pub messages: i64,
    /// Input, output, 5-minute and 1-hour cache-write, and cache-read tokens.
    pub tokens: [i64; 5],
    /// Cost of the priced responses, USD.
    pub cost_usd: f64,
    /// Responses without a price.
    pub unpriced: i64,
    /// Their tokens.
    pub unpriced_tokens: i64,
}

impl UsageDelta {
    /// One response's figures, times `sign` (1: added, -1: removed).
    pub fn of(tokens: [i64; 5], cost_usd: Option<f64>, sign: i64) -> Self {
        let unpriced = i64::from(cost_usd.is_none());
        Self {
            messages: sign,
            tokens: tokens.map(|t| t * sign),
            cost_usd: cost_usd.unwrap_or(0.0) * sign as f64,
            unpriced: unpriced * sign,
            unpriced_tokens: unpriced * tokens.iter().sum::<i64>() * sign,
        }
    }

    /// The sums as SQL parameters, in the order of `usage_sums!`.
    fn params(&self) -> [Value; 9] {
        let [input, output, write_5m, write_1h, read] = self.tokens;
        [
            self.messages.into(),
            input.into(),
            output.into(),
            write_5m.into(),
            write_1h.into(),
            read.into(),
            self.cost_usd.into(),
            self.unpriced.into(),
            self.unpriced_tokens.into(),
        ]
    }

    /// The change from `old` to `new` figures of one response.
    pub fn between(old: &Self, new: &Self) -> Self {
        Self {
            messages: new.messages - old.messages,
            tokens: std::array::from_fn(|i| new.tokens[i] - old.tokens[i]),
            cost_usd: new.cost_usd - old.cost_usd,
            unpriced: new.unpriced - old.unpriced,
            unpriced_tokens: new.unpriced_tokens - old.unpriced_tokens,
        }
    }
}

impl std::ops::AddAssign<&UsageDelta> for UsageDelta {
    fn add_assign(&mut self, other: &UsageDelta) {
        self.messages += other.messages;
        for (sum, add) in self.tokens.iter_mut().zip(other.tokens) {
            *sum += add;
        }
        self.cost_usd += other.cost_usd;
        self.unpriced += other.unpriced;
        self.unpriced_tokens += other.unpriced_tokens;
    }
}

/// The sums of a usage rollup (`usage_rollup`, `usage_hourly`, `usage_daily`), in the order
/// [`roll_usage`] binds them.
macro_rules! usage_sums {
    () => {
        "messages, input_tokens, output_tokens, cache_write_5m, cache_write_1h,
         cache_read_tokens, cost_usd, unpriced, unpriced_tokens"
    };
}

/// The upsert clause that adds a row's sums to a usage rollup.
macro_rules! add_usage_sums {
    () => {
        "messages = messages + excluded.messages,
         input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens,
         cache_write_5m = cache_write_5m + excluded.cache_write_5m,
         cache_write_1h = cache_write_1h + excluded.cache_write_1h,
         cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
         cost_usd = cost_usd + excluded.cost_usd,
         unpriced = unpriced + excluded.unpriced,
         unpriced_tokens = unpriced_tokens + excluded.unpriced_tokens"
    };
}

/// Applies `delta` to the usage rollups of `key`: the 15-minute bucket of its session, project
/// and model and the session, project and model over all time (whose first and last response
/// times include `key.ts_ms`), its hour and its UTC day. Many changes at once: [`RollupBatch`].
pub fn roll_usage(
    tx: &Transaction<'_>,
    key: &RollupKey<'_>,
    delta: &UsageDelta,
) -> rusqlite::Result<()> {
    let mut batch = RollupBatch::default();
    batch.add(key, delta);
    batch.write(tx)
}

/// A rollup's sums, with the time of its first and last response.
type Spanned = (UsageDelta, i64, i64);

/// Changes to the usage rollups gathered in memory and written at once: one upsert per
/// bucket, hour and day touched instead of three per response. Nothing may read the rollups
/// between [`RollupBatch::add`] and [`RollupBatch::write`] in the same transaction.
///
/// The sums cannot overflow: each token count of a response is at most
/// [`ingest::MAX_TOKENS`] (10^7, checked as transcripts are read), so a delta adds at most
/// that to a column (an update, the difference of two such counts), and a signed 64-bit
/// column (9.2 × 10^18) would need more than 9 × 10^11 responses in one bucket, hour or day to
/// overflow: a store of some hundred terabytes. SQLite would turn an overflowing integer sum
/// into a REAL, which every later read would fail on.
#[derive(Debug, Default)]
pub struct RollupBatch {
    /// Per (bucket, session, project, model): the sums, and the first and last response time.
    buckets: HashMap<(i64, String, String, String), Spanned>,
    /// Per (session, project, model): the same.
    sessions: HashMap<(String, String, String), Spanned>,
    /// Per (hour, model, project).
    hours: HashMap<(i64, String, String), UsageDelta>,
    /// Per (UTC day, model, project).
    days: HashMap<(i64, String, String), UsageDelta>,
    /// The earliest new response, which may move the start of the latest 5-hour block.
    earliest_new: Option<i64>,
}

impl RollupBatch {
    /// Adds `delta` to the rollups of `key`.
    pub fn add(&mut self, key: &RollupKey<'_>, delta: &UsageDelta) {
        let bucket = key.ts_ms / BUCKET_MS;
        let (session, project, model) = (key.session_id, key.project, key.model);
        let spanned = |sums: &mut Spanned| {
            sums.0 += delta;
            sums.1 = sums.1.min(key.ts_ms);
            sums.2 = sums.2.max(key.ts_ms);
        };
        let start = (UsageDelta::default(), key.ts_ms, key.ts_ms);
        spanned(
            self.buckets
                .entry((
                    bucket,
                    session.to_owned(),
                    project.to_owned(),
                    model.to_owned(),
                ))
                .or_insert(start),
        );
        spanned(
            self.sessions
                .entry((session.to_owned(), project.to_owned(), model.to_owned()))
                .or_insert(start),
        );
        *self
            .hours
            .entry((bucket / 4, model.to_owned(), project.to_owned()))
            .or_default() += delta;
        *self
            .days
            .entry((key.ts_ms / DAY_MS, model.to_owned(), project.to_owned()))
            .or_default() += delta;
    }

    /// Notes a response stored for the first time at `ts_ms`: one older than the saved start
    /// of the latest 5-hour block moves it.
    pub fn new_response(&mut self, ts_ms: i64) {
        self.earliest_new = Some(self.earliest_new.map_or(ts_ms, |t| t.min(ts_ms)));
    }

    /// Writes what was gathered and empties the batch.
    pub fn write(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if let Some(ts_ms) = self.earliest_new.take() {
            tx.prepare_cached("DELETE FROM block_anchor WHERE first_ts > ?1")?
                .execute([ts_ms])?;
        }
        if !self.buckets.is_empty() {
            let mut upsert = tx.prepare_cached(concat!(
                "INSERT INTO usage_rollup (bucket, session_id, project, model, first_ts, last_ts, ",
                usage_sums!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT DO UPDATE SET ",
                add_usage_sums!(),
                ", first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)"
            ))?;
            for ((bucket, session, project, model), (delta, first, last)) in self.buckets.drain() {
                let keys: [Value; 6] = [
                    bucket.into(),
                    session.into(),
                    project.into(),
                    model.into(),
                    first.into(),
                    last.into(),
                ];
                upsert.execute(params_from_iter(keys.into_iter().chain(delta.params())))?;
            }
        }
        if !self.sessions.is_empty() {
            let mut upsert = tx.prepare_cached(concat!(
                "INSERT INTO usage_sessions (session_id, project, model, first_ts, last_ts, ",
                usage_sums!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT DO UPDATE SET ",
                add_usage_sums!(),
                ", first_ts = min(first_ts, excluded.first_ts), last_ts = max(last_ts, excluded.last_ts)"
            ))?;
            for ((session, project, model), (delta, first, last)) in self.sessions.drain() {
                let keys: [Value; 5] = [
                    session.into(),
                    project.into(),
                    model.into(),
                    first.into(),
                    last.into(),
                ];
                upsert.execute(params_from_iter(keys.into_iter().chain(delta.params())))?;
            }
        }
        for (rows, upsert) in [
            (
                &mut self.hours,
                concat!(
                    "INSERT INTO usage_hourly (hour, model, project, ",
                    usage_sums!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT DO UPDATE SET ",
                    add_usage_sums!()
                ),
            ),
            (
                &mut self.days,
                concat!(
                    "INSERT INTO usage_daily (day, model, project, ",
                    usage_sums!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                     ON CONFLICT DO UPDATE SET ",
                    add_usage_sums!()
                ),
            ),
        ] {
            if rows.is_empty() {
                continue;
            }
            let mut upsert = tx.prepare_cached(upsert)?;
            for ((at, model, project), delta) in rows.drain() {
                let keys: [Value; 3] = [at.into(), model.into(), project.into()];
                upsert.execute(params_from_iter(keys.into_iter().chain(delta.params())))?;
            }
        }
        Ok(())
    }
}

/// Records the answer to event `id` and each policy's result.
pub fn finish_event(
    tx: &Transaction<'_>,
    id: i64,
    outcome: &Outcome,
    runs: &[PolicyRun],
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE events SET decision = ?2, reason = ?3, model_requested = ?4, latency_us = ?5,
                           note = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        outcome.decision,
        outcome.reason,
        outcome.model_requested,
        outcome.latency_us,
        outcome.note,
    ])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO policy_runs (event_id, policy, decision, reason, error, elapsed_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for run in runs {
        insert.execute(params![
            id,
            run.policy,
            run.decision,
            run.reason,
            run.error,
            run.elapsed_us
        ])?;
    }
    Ok(())
}

/// How many of a session's latest events [`policy_failures`] looks at.
pub const RECENT_EVENTS: u32 = 200;

/// A policy whose latest run in a session failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyFailure {
    /// The policy's configured name.
    pub policy: String,
    /// Its error, as recorded.
    pub error: String,
    /// When that run was, Unix ms.
    pub ts_ms: i64,
}

/// The policies whose latest run, among the session's last [`RECENT_EVENTS`] events, failed:
/// a policy that fails on every call (a typo in its config, say) stays listed until a run of
/// it succeeds.
pub fn policy_failures(
    conn: &Connection,
    session_id: &str,
) -> rusqlite::Result<Vec<PolicyFailure>> {
    let mut statement = conn.prepare_cached(
        "SELECT runs.policy, runs.error, recent.ts_ms
         FROM (SELECT id, ts_ms FROM events WHERE session_id = ?1
               ORDER BY ts_ms DESC, id DESC LIMIT ?2) AS recent
         JOIN policy_runs AS runs ON runs.event_id = recent.id
         ORDER BY recent.ts_ms DESC, recent.id DESC",
    )?;
    let runs = statement.query_map(params![session_id, RECENT_EVENTS], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut failures = Vec::new();
    for run in runs {
        let (policy, error, ts_ms) = run?;
        if !seen.insert(policy.clone()) {
            continue;
        }
        if let Some(error) = error {
            failures.push(PolicyFailure {
                policy,
                error,
                ts_ms,
            });
        }
    }
    Ok(failures)
}

/// The stored state of a policy (`{}` when none).
pub fn policy_state(conn: &Connection, policy: &str) -> rusqlite::Result<String> {
    conn.prepare_cached("SELECT state FROM policy_state WHERE policy = ?1")?
        .query_row([policy], |r| r.get(0))
        .optional()
        .map(|s| s.unwrap_or_else(|| "{}".to_owned()))
}

/// Replaces the stored state of a policy.
pub fn set_policy_state(tx: &Transaction<'_>, policy: &str, state: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO policy_state (policy, state) VALUES (?1, ?2)
         ON CONFLICT (policy) DO UPDATE SET state = excluded.state",
    )?
    .execute(params![policy, state])
    .map(drop)
}

/// Rows where a rollup table differs from the same sums taken afresh from `usage` and
/// `events` (rows of zeros left by a removed response aside), in all seven rollups: 0 when the
/// writes kept them right. Reads every row: for tests and the fuzz targets.
pub fn rollup_mismatches(conn: &Connection) -> rusqlite::Result<i64> {
    const SUMS: &str = "sum(input_tokens), sum(output_tokens), sum(cache_write_5m),
        sum(cache_write_1h), sum(cache_read_tokens)";
    const KEPT: &str = "input_tokens, output_tokens, cache_write_5m, cache_write_1h,
        cache_read_tokens";
    // A bucket whose only response was removed keeps a row of zeros; any other row counts.
    const NOT_EMPTIED: &str = "NOT (messages = 0 AND input_tokens = 0 AND output_tokens = 0
        AND cache_write_5m = 0 AND cache_write_1h = 0 AND cache_read_tokens = 0
        AND round(cost_usd, 9) = 0 AND unpriced = 0 AND unpriced_tokens = 0)";
    const UNPRICED_TOKENS: &str = "sum(CASE WHEN cost_usd IS NULL THEN input_tokens
        + output_tokens + cache_write_5m + cache_write_1h + cache_read_tokens ELSE 0 END)";
    let mut pairs = vec![
        (
            format!(
                "SELECT session_id, project, model, count(*), {SUMS},
                        round(sum(coalesce(cost_usd, 0)), 9), sum(cost_usd IS NULL),
                        {UNPRICED_TOKENS}
                 FROM usage GROUP BY 1, 2, 3"
            ),
            format!(
                "SELECT session_id, project, model, messages, {KEPT}, round(cost_usd, 9),
                        unpriced, unpriced_tokens FROM usage_sessions WHERE {NOT_EMPTIED}"
            ),
        ),
        (
            format!(
                "SELECT ts_ms / 900000, session_id, project, model, count(*), {SUMS},
                        round(sum(coalesce(cost_usd, 0)), 9), sum(cost_usd IS NULL),
                        {UNPRICED_TOKENS}
                 FROM usage GROUP BY 1, 2, 3, 4"
            ),
            format!(
                "SELECT bucket, session_id, project, model, messages, {KEPT}, round(cost_usd, 9),
                        unpriced, unpriced_tokens FROM usage_rollup WHERE {NOT_EMPTIED}"
            ),
        ),
        (
            "SELECT ts_ms / 900000, session_id, project, sum(event = 'PreToolUse'),
                    sum(event = 'UserPromptSubmit')
             FROM events WHERE event IN ('PreToolUse', 'UserPromptSubmit') GROUP BY 1, 2, 3"
                .to_owned(),
            "SELECT * FROM event_rollup".to_owned(),
        ),
    ];
    for (ms, key, period) in [(3_600_000, "hour", "hourly"), (DAY_MS, "day", "daily")] {
        pairs.push((
            format!(
                "SELECT ts_ms / {ms}, model, project, count(*), {SUMS},
                        round(sum(coalesce(cost_usd, 0)), 9), sum(cost_usd IS NULL),
                        {UNPRICED_TOKENS}
                 FROM usage GROUP BY 1, 2, 3"
            ),
            format!(
                "SELECT {key}, model, project, messages, {KEPT}, round(cost_usd, 9), unpriced,
                        unpriced_tokens
                 FROM usage_{period} WHERE {NOT_EMPTIED}"
            ),
        ));
        pairs.push((
            format!(
                "SELECT ts_ms / {ms}, project, sum(event = 'PreToolUse'),
                        sum(event = 'UserPromptSubmit')
                 FROM events WHERE event IN ('PreToolUse', 'UserPromptSubmit') GROUP BY 1, 2"
            ),
            format!("SELECT * FROM event_{period}"),
        ));
    }
    pairs
        .iter()
        .map(|(fresh, kept)| {
            conn.query_row(
                &format!(
                    "SELECT (SELECT count(*) FROM ({fresh} EXCEPT {kept}))
                          + (SELECT count(*) FROM ({kept} EXCEPT {fresh}))"
                ),
                [],
                |r| r.get::<_, i64>(0),
            )
        })
        .sum()
}

/// Usage and rollup rows holding a token count that is not an integer from 0 to
/// [`ingest::MAX_TOKENS`] (a sum: to its row's `messages` times that), or a cost that is not
/// a number from 0: 0 in a sound store. Reads every row.
pub fn figures_out_of_range(conn: &Connection) -> rusqlite::Result<i64> {
    const COLUMNS: [&str; 5] = [
        "input_tokens",
        "output_tokens",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read_tokens",
    ];
    let max = ingest::MAX_TOKENS;
    let mut total = 0;
    for (table, count) in [
        ("usage", "1"),
        ("usage_rollup", "messages"),
        ("usage_hourly", "messages"),
        ("usage_daily", "messages"),
    ] {
        let bad: Vec<String> = COLUMNS
            .iter()
            .map(|c| format!("typeof({c}) <> 'integer' OR {c} NOT BETWEEN 0 AND {count} * {max}"))
            .chain([
                "typeof(cost_usd) NOT IN ('real', 'integer', 'null') OR round(cost_usd, 9) < 0"
                    .to_owned(),
            ])
            .collect();
        total += conn.query_row(
            &format!("SELECT count(*) FROM {table} WHERE {}", bad.join(" OR ")),
            [],
            |r| r.get::<_, i64>(0),
        )?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_rolled_up_by_the_insert() {
        let (_dir, mut store) = temp_store();
        let row = |ts_ms: i64, event: &str, session: &str| EventRow {
            ts_ms,
            session_id: session.into(),
            project: "/p".into(),
            event: event.into(),
            tool_name: None,
            tool_use_id: None,
            agent_id: None,
            subject: None,
            input_bytes: 0,
            response_bytes: 0,
            est_tokens: 0,
            model: None,
            input: None,
        };
        store
            .write(|tx| {
                for (i, event) in [
                    "PreToolUse",
                    "PostToolUse",
                    "UserPromptSubmit",
                    "PreToolUse",
                ]
                .iter()
                .enumerate()
                {
                    // Two buckets of one hour, two sessions.
                    let ts = 1_800_000_000_000 + i as i64 * 600_000;
                    insert_event(tx, &row(ts, event, if i % 2 == 0 { "a" } else { "b" }))?;
                }
                Ok(())
            })
            .unwrap();
        let hourly: (i64, i64) = store
            .conn()
            .query_row(
                "SELECT sum(tool_calls), sum(prompts) FROM event_hourly",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(hourly, (2, 1));
        assert_eq!(rollup_mismatches(store.conn()).unwrap(), 0);
    }

    fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data/tollgate.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn creates_a_private_migrated_store() {
        let (dir, store) = temp_store();
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, Store::schema_version());
        let mode: String = store
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            let parent = std::fs::metadata(dir.path().join("data"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(file & 0o777, 0o600);
            assert_eq!(parent & 0o777, 0o700);
        }
        drop(store);
        // Reopening migrates nothing and keeps the version.
        let again = Store::open(&dir.path().join("data/tollgate.db")).unwrap();
        let version: i64 = again
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, Store::schema_version());
    }

    #[test]
    fn truncate_wal_leaves_an_empty_log_and_every_row() {
        let (dir, mut store) = temp_store();
        let wal = dir.path().join("data/tollgate.db-wal");
        store
            .write(|tx| {
                for i in 0..500 {
                    tx.execute(
                        "INSERT INTO policy_state (policy, state) VALUES (?1, '{}')",
                        [format!("p{i}")],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        store.truncate_wal();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        drop(store);
        let store = Store::open(&dir.path().join("data/tollgate.db")).unwrap();
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM policy_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 500);
    }

    #[test]
    fn refuses_a_store_from_a_newer_tollgate() {
        let (dir, store) = temp_store();
        store
            .conn()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        drop(store);
        let err = Store::open(&dir.path().join("data/tollgate.db"))
            .err()
            .unwrap();
        assert!(
            matches!(err, StoreError::TooNew { found: 999, .. }),
            "{err}"
        );
    }

    #[test]
    fn moves_a_corrupt_store_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        std::fs::write(&path, vec![0x42; 8192]).unwrap();
        assert!(Store::open(&path).err().unwrap().is_corrupt());
        let (store, notice) = Store::open_or_recover(&path, BUSY_TIMEOUT).unwrap();
        let notice = notice.unwrap();
        assert!(
            notice.contains("damaged") && notice.contains("corrupt-"),
            "{notice}"
        );
        assert_eq!(
            store
                .conn()
                .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
                .unwrap(),
            0
        );
        let moved = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("corrupt-")
            })
            .count();
        assert_eq!(moved, 1);
    }

    #[test]
    fn a_read_sees_one_moment_of_the_store() {
        let (_dir, store) = temp_store();
        let mut other = Store::open(store.path()).unwrap();
        let count = |conn: &Connection| {
            conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
        };
        let (before, during) = store
            .read(|conn| {
                let before = count(conn)?;
                // Another process records an event between the two statements.
                other
                    .write(|tx| insert_event(tx, &EventRow::default()))
                    .unwrap();
                Ok((before, count(conn)?))
            })
            .unwrap();
        assert_eq!((before, during), (0, 0));
        assert_eq!(count(store.conn()).unwrap(), 1);
    }

    #[test]
    fn events_and_outcomes_round_trip_with_rollups() {
        let (_dir, mut store) = temp_store();
        let row = EventRow {
            ts_ms: 1_000_000,
            session_id: "s".into(),
            project: "/p".into(),
            event: "PreToolUse".into(),
            tool_name: Some("Read".into()),
            ..EventRow::default()
        };
        let id = store.write(|tx| insert_event(tx, &row)).unwrap();
        let outcome = Outcome {
            decision: "warn".into(),
            reason: Some("big".into()),
            latency_us: 1200,
            ..Outcome::default()
        };
        let run = PolicyRun {
            policy: "budget".into(),
            decision: "warn".into(),
            reason: Some("big".into()),
            error: None,
            elapsed_us: 300,
        };
        store
            .write(|tx| finish_event(tx, id, &outcome, &[run]))
            .unwrap();
        let (decision, latency): (String, i64) = store
            .conn()
            .query_row(
                "SELECT decision, latency_us FROM events WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((decision.as_str(), latency), ("warn", 1200));
        let calls: i64 = store
            .conn()
            .query_row(
                "SELECT tool_calls FROM event_rollup WHERE session_id = 's'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(calls, 1);
    }

    #[test]
    fn the_daily_rollups_are_filled_from_the_hourly_ones_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        let mut store = Store::open(&path).unwrap();
        store
            .write(|tx| {
                for i in 0..50 {
                    // Every 70 minutes over ~2.5 days, three projects.
                    let ts = 1_800_000_000_000 + i * 70 * 60_000;
                    let event = if i % 4 == 0 {
                        "UserPromptSubmit"
                    } else {
                        "PreToolUse"
                    };
                    let row = EventRow {
                        ts_ms: ts,
                        session_id: "s".into(),
                        project: format!("/p{}", i % 3),
                        event: event.into(),
                        ..EventRow::default()
                    };
                    insert_event(tx, &row)?;
                    let mut entry =
                        crate::store::usage::tests::entry(&format!("m{i}"), ts, "s", "x", 9);
                    entry.project = row.project;
                    crate::store::ingest::store_entry(
                        tx,
                        &crate::pricing::Pricing::bundled(),
                        &entry,
                    )?;
                }
                Ok(())
            })
            .unwrap();
        // The store as schema version 5 left it: no daily rollups (nor what came after).
        store.conn().execute_batch(UNDO_V11).unwrap();
        store.conn().execute_batch(UNDO_V10).unwrap();
        store.conn().execute_batch(UNDO_V9).unwrap();
        store.conn().execute_batch(UNDO_V8).unwrap();
        store.conn().execute_batch(UNDO_V7).unwrap();
        store
            .conn()
            .execute_batch(
                "DROP TABLE usage_daily; DROP TABLE event_daily; PRAGMA user_version = 5;",
            )
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let days: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM event_daily", [], |r| r.get(0))
            .unwrap();
        assert!(days >= 6, "3 days x 3 projects, {days} rows");
        let messages: i64 = store
            .conn()
            .query_row("SELECT sum(messages) FROM usage_daily", [], |r| r.get(0))
            .unwrap();
        assert_eq!(messages, 50);
        assert_eq!(rollup_mismatches(store.conn()).unwrap(), 0);
    }

    /// A store where an older tollgate stored token counts out of range (wrapped to -1, and
    /// i64::MAX, whose sum overflowed the rollups into a REAL that failed every read): the
    /// upgrade removes those rows, rebuilds the rollups and says so; the store reads again.
    #[test]
    fn the_upgrade_removes_figures_out_of_range_and_rebuilds_the_rollups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        let mut store = Store::open(&path).unwrap();
        let pricing = crate::pricing::Pricing::bundled();
        let ts = 1_800_000_000_000;
        store
            .write(|tx| {
                for (i, output) in [5, 7].into_iter().enumerate() {
                    let entry =
                        usage::tests::entry(&format!("ok{i}"), ts + i as i64, "s", "x", output);
                    ingest::store_entry(tx, &pricing, &entry)?;
                }
                // What the older ingest stored: `u64 as i64`, rolled up as it came.
                for (id, input) in [("wrapped", -1_i64), ("huge", i64::MAX), ("huge2", i64::MAX)] {
                    tx.execute(
                        "INSERT INTO usage (message_id, request_id, ts_ms, session_id, project,
                             model, sidechain, input_tokens, output_tokens, cache_write_5m,
                             cache_write_1h, cache_read_tokens, cost_usd)
                         VALUES (?1, 'r', ?2, 's', '/p', 'x', 0, ?3, 0, 0, 0, 0, NULL)",
                        params![id, ts, input],
                    )?;
                    let key = RollupKey {
                        ts_ms: ts,
                        session_id: "s",
                        project: "/p",
                        model: "x",
                    };
                    roll_usage(tx, &key, &UsageDelta::of([input, 0, 0, 0, 0], None, 1))?;
                }
                Ok(())
            })
            .unwrap();
        let broken = usage::snapshot(
            store.conn(),
            &crate::time::Calendar::default(),
            "s",
            "/p",
            ts + 60_000,
        );
        assert!(broken.is_err(), "the REAL sum breaks the reads");
        store.conn().execute_batch(UNDO_V11).unwrap();
        store.conn().execute_batch(UNDO_V10).unwrap();
        store.conn().execute_batch(UNDO_V9).unwrap();
        store.conn().execute_batch(UNDO_V8).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        assert_eq!(figures_out_of_range(store.conn()).unwrap(), 0);
        assert_eq!(rollup_mismatches(store.conn()).unwrap(), 0);
        let usage = usage::snapshot(
            store.conn(),
            &crate::time::Calendar::default(),
            "s",
            "/p",
            ts + 60_000,
        )
        .unwrap();
        assert_eq!(usage.session.messages, 2);
        let rejected = ingest::rejections(store.conn()).unwrap();
        assert_eq!(
            (rejected[0].kind.as_str(), rejected[0].count),
            ("figures", 3)
        );
        assert!(
            rejected[0].last_reason.contains("removed by the upgrade"),
            "{rejected:?}"
        );
        // The SQL's bound is the code's.
        assert!(
            include_str!("store/v8.sql").contains(&format!("BETWEEN 0 AND {}", ingest::MAX_TOKENS))
        );
    }

    /// Schema version 9 taken back out of a store, leaving what version 8 made.
    const UNDO_V9: &str = "DROP TABLE work; DROP TABLE work_recorded_since;
        DROP TABLE claude_code_lines; PRAGMA user_version = 8;";

    /// A version-8 store's recorded edits become the files touched (their lines unknown), and
    /// its sessions count as not watched for commits: the older hook did not look for them.
    #[test]
    fn the_upgrade_keeps_the_files_edits_touched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.db");
        let mut store = Store::open(&path).unwrap();
        store
            .write(|tx| {
                for (tool, subject) in [
                    ("Edit", "/p/a.rs"),
                    ("Write", "/p/b.rs"),
                    ("Read", "/p/c.rs"),
                ] {
                    insert_event(
                        tx,
                        &EventRow {
                            ts_ms: 1_700_000_000_000, // before the upgrade
                            session_id: "old".into(),
                            project: "/p".into(),
                            event: "PostToolUse".into(),
                            tool_name: Some(tool.into()),
                            subject: Some(subject.into()),
                            ..EventRow::default()
                        },
                    )?;
                }
                Ok(())
            })
            .unwrap();
        // Written as today's hook writes them, then the store taken back to version 8.
        store.conn().execute_batch(UNDO_V11).unwrap();
        store.conn().execute_batch(UNDO_V10).unwrap();
        store.conn().execute_batch(UNDO_V9).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let work = outcomes::work_in(store.conn(), &cells::Selection::ALL).unwrap();
        let files: Vec<_> = work
            .iter()
            .map(|w| match &w.work {
                outcomes::Work::Edit { file, lines: None } => file.clone().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(files, ["/p/a.rs", "/p/b.rs"]);
        let facts = outcomes::session_facts(store.conn(), ["old"]).unwrap();
        assert!(facts["old"].tools_seen && !facts["old"].watched);
    }

    /// Schema version 10 taken back out of a store, leaving what version 9 made.
    const UNDO_V10: &str = "DROP TABLE usage_sessions; PRAGMA user_version = 9;";

    /// Undoes v11 (the events' recorded input).
    const UNDO_V11: &str = "ALTER TABLE events DROP COLUMN input;
                             ALTER TABLE events DROP COLUMN usage_seen; PRAGMA user_version = 10;";

    /// A store made before the per-session rollup gets it, equal to the sums of its responses.
    #[test]
    fn session_rollups_are_filled_in_on_upgrade() {
        let entry = |i: i64, session, model| {
            let ts = 1_800_000_000_000 + i * 40 * 60_000;
            crate::store::usage::tests::entry(&format!("m{i}"), ts, session, model, 9)
        };
        let (dir, store) = crate::store::usage::tests::store_with(&[
            entry(0, "a", "claude-sonnet-4-5"),
            entry(1, "a", "claude-sonnet-4-5"),
            entry(2, "a", "mystery"),
            entry(3, "b", "claude-sonnet-4-5"),
        ]);
        let path = dir.path().join("t.db");
        store.conn().execute_batch(UNDO_V11).unwrap();
        store.conn().execute_batch(UNDO_V10).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(rollup_mismatches(store.conn()).unwrap(), 0);
        let (rows, messages, last): (i64, i64, i64) = store
            .conn()
            .query_row(
                "SELECT count(*), sum(messages), max(last_ts) FROM usage_sessions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((rows, messages), (3, 4));
        assert_eq!(last, 1_800_000_000_000 + 3 * 40 * 60_000);
    }

    /// Schema version 8 taken back out of a store, leaving what version 7 made.
    const UNDO_V8: &str = "ALTER TABLE transcripts DROP COLUMN skipping;
        DROP TABLE ingest_rejections; DROP TABLE spool_drained; PRAGMA user_version = 7;";

    /// Schema version 7 taken back out of a store, leaving what version 6 made.
    const UNDO_V7: &str = "ALTER TABLE usage_rollup DROP COLUMN unpriced_tokens;
        ALTER TABLE usage_hourly DROP COLUMN unpriced_tokens;
        ALTER TABLE usage_daily DROP COLUMN unpriced_tokens;
        ALTER TABLE events DROP COLUMN model;
        DROP TABLE claude_code_costs; DROP TABLE cost_state_notes; DROP TABLE limit_hits;
        DROP TABLE compactions; DROP TABLE model_windows;
        PRAGMA user_version = 6;";

    #[test]
    fn unpriced_tokens_are_filled_in_on_upgrade() {
        let entry = |i: i64, model| {
            let ts = 1_800_000_000_000 + i * 40 * 60_000;
            crate::store::usage::tests::entry(&format!("m{i}"), ts, "s", model, 9)
        };
        let (dir, store) = crate::store::usage::tests::store_with(&[
            entry(0, "claude-sonnet-4-5"),
            entry(1, "mystery"),
            entry(2, "mystery"),
            entry(3, "other-mystery"),
        ]);
        let path = dir.path().join("t.db");
        store.conn().execute_batch(UNDO_V11).unwrap();
        store.conn().execute_batch(UNDO_V10).unwrap();
        store.conn().execute_batch(UNDO_V9).unwrap();
        store.conn().execute_batch(UNDO_V8).unwrap();
        store.conn().execute_batch(UNDO_V7).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(rollup_mismatches(store.conn()).unwrap(), 0);
        let unpriced: i64 = store
            .conn()
            .query_row("SELECT sum(unpriced_tokens) FROM usage_daily", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(unpriced, 3 * (10 + 9 + 100 + 1000));
    }

    #[test]
    fn a_policy_failing_on_its_latest_run_is_listed_until_it_succeeds() {
        let (_dir, mut store) = temp_store();
        let run = |policy: &str, error: Option<&str>| PolicyRun {
            policy: policy.into(),
            decision: "allow".into(),
            reason: None,
            error: error.map(str::to_owned),
            elapsed_us: 1,
        };
        let call = |store: &mut Store, ts_ms: i64, session: &str, runs: Vec<PolicyRun>| {
            store
                .write(|tx| {
                    let row = EventRow {
                        ts_ms,
                        session_id: session.into(),
                        project: "/p".into(),
                        event: "PreToolUse".into(),
                        ..EventRow::default()
                    };
                    let id = insert_event(tx, &row)?;
                    finish_event(tx, id, &Outcome::default(), &runs)
                })
                .unwrap();
        };
        call(
            &mut store,
            1,
            "s",
            vec![run("budget", Some("bad key")), run("guard", Some("trap"))],
        );
        call(&mut store, 2, "s", vec![run("guard", None)]);
        call(&mut store, 3, "other", vec![run("budget", None)]);
        let failures = policy_failures(store.conn(), "s").unwrap();
        assert_eq!(
            failures,
            [PolicyFailure {
                policy: "budget".into(),
                error: "bad key".into(),
                ts_ms: 1
            }],
            "guard succeeded since; the other session's run does not count"
        );
        call(&mut store, 4, "s", vec![run("budget", None)]);
        assert!(policy_failures(store.conn(), "s").unwrap().is_empty());
    }

    #[test]
    fn policy_state_defaults_to_an_empty_object() {
        let (_dir, mut store) = temp_store();
        assert_eq!(policy_state(store.conn(), "budget").unwrap(), "{}");
        store
            .write(|tx| set_policy_state(tx, "budget", r#"{"n":1}"#))
            .unwrap();
        assert_eq!(policy_state(store.conn(), "budget").unwrap(), r#"{"n":1}"#);
    }
}
