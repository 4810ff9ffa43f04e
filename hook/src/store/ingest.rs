//! Reads the real token usage Claude Code writes to session transcripts.
//!
//! A transcript is JSONL, one line per content block, so one API response appears on several
//! lines with the same `message.id` + `requestId` and usage: each response is stored once.
//! Lines about the session as a whole (Claude Code's own cost, compactions, turns ended by a
//! limit) go to [`claude_code`].
//!
//! Reading and storing are apart, so that the store's write lock is never held while a file
//! is read: [`Delta::read_session`] reads what is new (from the byte offset saved last time,
//! without a lock), then [`Delta::store`] writes the responses and the new offsets in one short
//! transaction. Two calls that read the same lines at once store them twice, harmlessly (each
//! response once; an offset only moves forward).
//!
//! A transcript is also untrusted input: the agent can append to it. Files are opened with
//! [`crate::files::open`] (regular files only, never blocking); one pass reads at most
//! [`ReadLimits`] bytes and lines, a line longer than [`MAX_LINE_BYTES`] is skipped (once,
//! however many calls it takes to reach its end) and reported; token counts are checked
//! ([`MAX_TOKENS`]), and a line with a count out of range is not counted and is reported. A
//! partial last line waits for the next call; a file that shrank or was replaced (new inode)
//! is read again from the start, which the deduplication makes harmless.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Instant;

use memchr::memmem;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Deserialize;

use crate::pricing::{Pricing, Tokens};
use crate::store::{RollupBatch, RollupKey, UsageDelta, claude_code};

/// The largest token count one field of one response may have (input, output, each cache
/// write, cache read). The largest context window is 1M tokens (a request's input, cache
/// writes and reads together), the largest output limit 128k: ten times the window leaves
/// room for larger models while no sum of such counts can overflow (see
/// [`store::roll_usage`]). A line with a count outside 0 to this, or a count that is not an
/// integer, is not counted.
pub const MAX_TOKENS: u64 = 10_000_000;

/// The longest transcript line read. An assistant line carries one content block (text, or a
/// tool call's input: at most the output limit, ~0.5 MB); a longer line is a user's (pasted
/// images, large tool results), which carries no usage, or not a transcript's: skipped.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// How much one pass reads at most, over all the files it reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// Bytes.
    pub bytes: u64,
    /// Lines.
    pub lines: u64,
    /// When to stop (checked between reads of up to [`CHUNK_BYTES`]).
    pub until: Option<Instant>,
}

/// Bytes read at a time.
pub const CHUNK_BYTES: usize = 256 * 1024;

impl ReadLimits {
    /// What a hook call reads at most: 8 MiB and 20,000 lines, until `until`. What is left
    /// waits for the next call.
    pub fn hook(until: Instant) -> Self {
        Self {
            bytes: 8 << 20,
            lines: 20_000,
            until: Some(until),
        }
    }

    /// No limit (`tollgate import`): every file to its end.
    pub fn unlimited() -> Self {
        Self {
            bytes: u64::MAX,
            lines: u64::MAX,
            until: None,
        }
    }

    fn spent(&self) -> bool {
        self.bytes == 0 || self.lines == 0 || self.until.is_some_and(|t| Instant::now() >= t)
    }
}

/// What one ingest pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Transcript files looked at.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Usage rows inserted or updated (a response already stored with the same figures is not
    /// counted).
    pub stored: u64,
    /// Lines that were not valid JSON (skipped): a line that may carry usage is parsed, any
    /// other only checked to be a `{…}` object ([`parse_line`]).
    pub malformed: u64,
    /// Lines not counted: a token count out of range, or longer than [`MAX_LINE_BYTES`].
    pub rejected: u64,
    /// Files named but missing.
    pub missing: Vec<PathBuf>,
    /// What went wrong, one line each: files that are not regular files, lines rejected (the
    /// first time they are read), Claude Code's own cost lines that make no sense (the first
    /// time they are noted).
    pub problems: Vec<String>,
}

impl IngestReport {
    /// Adds another pass's counts to these.
    pub fn add(&mut self, other: Self) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.stored += other.stored;
        self.malformed += other.malformed;
        self.rejected += other.rejected;
        self.missing.extend(other.missing);
        self.problems.extend(other.problems);
    }
}

/// What a pass read from transcripts, to be stored.
#[derive(Debug, Default)]
pub struct Delta {
    files: Vec<FileDelta>,
    /// What reading did (`stored` and `rejected` are [`Delta::store`]'s).
    pub report: IngestReport,
    /// The session's transcript, locked (`flock`) by this call while it reads and stores its
    /// new lines ([`Delta::read_session`]), until [`Delta::release`] or the drop.
    claim: Option<std::fs::File>,
}

/// What was read from one file.
#[derive(Debug)]
struct FileDelta {
    /// The path, as the `transcripts` table keys it.
    key: String,
    /// The saved position the read started from (what `transcripts` said then).
    seen: Option<Position>,
    inode: i64,
    size: u64,
    /// Where the next read starts.
    offset: u64,
    /// Inside a line longer than [`MAX_LINE_BYTES`], not yet at its end.
    skipping: bool,
    entries: Vec<Entry>,
    /// The latest main-chain response's context size.
    context: Option<Context>,
    rejections: Vec<Rejection>,
    /// Lines about the session as a whole (Claude Code's own cost, compactions, limits hit).
    session_lines: Vec<claude_code::SessionLine>,
    /// The session a line without one belongs to (the file's).
    fallback_session: String,
}

/// A line not counted.
#[derive(Debug)]
struct Rejection {
    /// `figures` or `oversized` (the `ingest_rejections` kinds).
    kind: &'static str,
    /// The line's byte offset.
    at: u64,
    /// Why, the file and offset named.
    reason: String,
}

/// Where a file's reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    inode: i64,
    offset: u64,
    skipping: bool,
}

/// Every transcript's saved position, by path.
pub(crate) fn saved_positions(
    conn: &Connection,
) -> rusqlite::Result<std::collections::HashMap<String, Position>> {
    conn.prepare("SELECT path, inode, offset, skipping FROM transcripts")?
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                Position {
                    inode: r.get(1)?,
                    offset: r.get::<_, i64>(2)?.max(0) as u64,
                    skipping: r.get(3)?,
                },
            ))
        })?
        .collect()
}

fn saved_position(conn: &Connection, key: &str) -> rusqlite::Result<Option<Position>> {
    conn.prepare_cached("SELECT inode, offset, skipping FROM transcripts WHERE path = ?1")?
        .query_row([key], |r| {
            Ok(Position {
                inode: r.get(0)?,
                offset: r.get::<_, i64>(1)?.max(0) as u64,
                skipping: r.get(2)?,
            })
        })
        .optional()
}

impl Delta {
    /// Reads what is new in a session's transcript, then in its subagents' transcripts
    /// (`<transcript without .jsonl>/subagents/*.jsonl`), within `limits`. Takes no lock on
    /// the store.
    ///
    /// Calls of one session come in bursts (one per parallel tool call), and each would read
    /// the same new lines. So the session's transcript is claimed first, with an advisory
    /// `flock` on it, held until the lines read are stored: a call that finds it claimed waits
    /// (until `limits.until`) for the claiming call to store them, then reads only what is
    /// newer, with its full reading time still ahead. Past the wait it reads anyway (the same
    /// lines again, if they are still not stored: harmless), so a claim held for long (a
    /// stuck or hostile process) delays calls, never keeps their usage from being counted.
    pub fn read_session(
        conn: &Connection,
        transcript: &Path,
        limits: &mut ReadLimits,
    ) -> rusqlite::Result<Self> {
        let started = Instant::now();
        let mut delta = Self {
            claim: claim(transcript, limits.until),
            ..Self::default()
        };
        // The wait does not eat into the reading's time.
        let waited = started.elapsed();
        limits.until = limits.until.map(|until| until + waited);
        delta.read_file(conn, transcript, true, limits)?;
        let subagents = transcript.with_extension("").join("subagents");
        if let Ok(entries) = std::fs::read_dir(&subagents) {
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            files.sort();
            for file in files {
                delta.read_file(conn, &file, false, limits)?;
            }
        }
        Ok(delta)
    }

    /// Reads what is new in one transcript file, within `limits`. `main` marks a session's own
    /// transcript (whose non-sidechain responses give the live context size), as opposed to a
    /// subagent's. Takes no lock.
    pub fn read_file(
        &mut self,
        conn: &Connection,
        path: &Path,
        main: bool,
        limits: &mut ReadLimits,
    ) -> rusqlite::Result<()> {
        let seen = saved_position(conn, &path.to_string_lossy())?;
        self.read_file_from(path, main, seen, limits);
        Ok(())
    }

    /// [`Delta::read_file`] from `seen`, the position the store had saved for the file (the
    /// key of [`saved_positions`]), or where the previous read of this pass stopped.
    pub(crate) fn read_file_from(
        &mut self,
        path: &Path,
        main: bool,
        seen: Option<Position>,
        limits: &mut ReadLimits,
    ) {
        self.report.files += 1;
        let (file, meta) = match crate::files::open(path) {
            Ok(opened) => opened,
            Err(e) if e.is_not_found() => {
                self.report.missing.push(path.to_path_buf());
                return;
            }
            Err(e) => {
                self.report.problems.push(e.to_string());
                return;
            }
        };
        let key = path.to_string_lossy().into_owned();
        let (inode, size) = (file_identity(&meta), meta.len());
        let start = match seen {
            Some(saved) if saved.inode == inode && saved.offset <= size => saved,
            _ => Position {
                inode,
                offset: 0,
                skipping: false,
            }, // new, replaced or truncated: read from the start
        };
        if start.offset == size || limits.spent() {
            return;
        }
        let mut read = FileDelta {
            key,
            seen,
            inode,
            size,
            offset: start.offset,
            skipping: start.skipping,
            entries: Vec::new(),
            context: None,
            rejections: Vec::new(),
            session_lines: Vec::new(),
            fallback_session: session_from_path(path, main),
        };
        let mut lines = LineReader {
            path,
            main,
            report: &mut self.report,
            delta: &mut read,
            line: Vec::new(),
        };
        lines.read(file, limits);
        self.files.push(read);
    }

    /// Where the last file read stopped: the position to go on from.
    pub(crate) fn end(&self) -> Option<Position> {
        self.files.last().map(|f| Position {
            inode: f.inode,
            offset: f.offset,
            skipping: f.skipping,
        })
    }

    /// Releases the session's transcript for the next call to read: call it once what was read
    /// is stored (or will not be).
    pub fn release(&mut self) {
        self.claim = None;
    }

    /// Stores what was read, in `tx`: the responses (each once), the files' new offsets, the
    /// sessions' context, and the lines rejected. `now_ms` dates the rejections.
    ///
    /// Another call may have read the same lines and stored them since this pass read them
    /// (neither held a lock while reading): then what it stored covers this pass's lines when
    /// its offset, in the same file, is at or past where this pass stopped, and nothing is
    /// stored again; otherwise this pass's lines are stored (a response already stored is
    /// not changed) and the offset moves forward, never back.
    pub fn store(
        &self,
        tx: &Transaction<'_>,
        pricing: &Pricing,
        now_ms: i64,
    ) -> rusqlite::Result<IngestReport> {
        let mut rollups = RollupBatch::default();
        let report = self.store_into(tx, pricing, now_ms, &mut rollups, None)?;
        rollups.write(tx)?;
        Ok(report)
    }

    /// [`Delta::store`], the rollup changes added to `rollups` (written by the caller, in
    /// the same transaction); `fresh` when the store had no response before (an import).
    pub(crate) fn store_into(
        &self,
        tx: &Transaction<'_>,
        pricing: &Pricing,
        now_ms: i64,
        rollups: &mut RollupBatch,
        mut fresh: Option<&mut FreshIds>,
    ) -> rusqlite::Result<IngestReport> {
        let mut report = self.report.clone();
        for file in &self.files {
            let now = saved_position(tx, &file.key)?;
            let moved = now != file.seen;
            let same_file = now.filter(|s| s.inode == file.inode);
            if moved && same_file.is_some_and(|s| s.offset >= file.offset) {
                continue; // stored by another call
            }
            for entry in &file.entries {
                let new = match fresh.as_deref_mut() {
                    Some(fresh) => fresh.insert_new(tx, pricing, entry, rollups)?,
                    None => false,
                };
                report.stored += (new || store_response(tx, pricing, entry, rollups)?) as u64;
            }
            if !moved || same_file.is_none_or(|s| s.offset < file.offset) {
                tx.prepare_cached(
                    "INSERT INTO transcripts (path, inode, size, offset, skipping)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (path) DO UPDATE SET inode = excluded.inode,
                         size = excluded.size, offset = excluded.offset,
                         skipping = excluded.skipping",
                )?
                .execute(params![
                    file.key,
                    file.inode,
                    file.size as i64,
                    file.offset as i64,
                    file.skipping
                ])?;
            }
            if let Some(context) = &file.context {
                record_context(tx, context)?;
            }
            for line in &file.session_lines {
                let problems =
                    claude_code::record(tx, pricing, line, &file.fallback_session, now_ms)?;
                report.problems.extend(problems);
            }
            for rejection in &file.rejections {
                if moved && same_file.is_some_and(|s| s.offset > rejection.at) {
                    continue; // recorded by the call that read past it
                }
                record_rejection(tx, rejection.kind, &rejection.reason, now_ms)?;
                report.rejected += 1;
                report.problems.push(rejection.reason.clone());
            }
        }
        Ok(report)
    }
}

/// Claims `transcript` with an exclusive `flock`, trying until `until` (without blocking:
/// the lock is tried every few milliseconds); the locked file, or `None` when another process
/// held it past `until` (at once with no `until`) or it cannot be locked.
#[cfg(unix)]
fn claim(transcript: &Path, until: Option<Instant>) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    let (file, _) = crate::files::open(transcript).ok()?;
    loop {
        // SAFETY: a valid open file descriptor; flock only sets an advisory lock on it.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Some(file);
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EWOULDBLOCK) => {}
            Some(libc::EINTR) => continue,
            _ => return None,
        }
        if until.is_none_or(|t| Instant::now() >= t) {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
    }
}

#[cfg(not(unix))]
fn claim(_transcript: &Path, _until: Option<Instant>) -> Option<std::fs::File> {
    None
}

/// Reads one file's lines into its [`FileDelta`].
struct LineReader<'a> {
    path: &'a Path,
    main: bool,
    report: &'a mut IngestReport,
    delta: &'a mut FileDelta,
    /// The current line's bytes so far.
    line: Vec<u8>,
}

impl LineReader<'_> {
    /// Reads from the delta's offset until the end of the file or of `limits`: each complete
    /// line taken, a line past [`MAX_LINE_BYTES`] skipped to its end (through later calls if
    /// need be), a partial last line left for the next call unless it is whole JSON.
    fn read(&mut self, mut file: std::fs::File, limits: &mut ReadLimits) {
        if file.seek(SeekFrom::Start(self.delta.offset)).is_err() {
            return;
        }
        // Where the bytes read so far end.
        let mut end = self.delta.offset;
        let mut chunk = vec![0; CHUNK_BYTES];
        let mut at_end = false;
        'read: while !limits.spent() {
            let want = (CHUNK_BYTES as u64).min(limits.bytes) as usize;
            let n = match file.read(&mut chunk[..want]) {
                Ok(0) => {
                    at_end = true;
                    break;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            limits.bytes -= n as u64;
            self.report.bytes += n as u64;
            let mut rest = &chunk[..n];
            while !rest.is_empty() {
                let Some(newline) = memchr::memchr(b'\n', rest) else {
                    end += rest.len() as u64;
                    self.extend(rest, end);
                    break;
                };
                let (head, tail) = rest.split_at(newline + 1);
                rest = tail;
                end += head.len() as u64;
                if self.line.is_empty() && !self.delta.skipping && head.len() <= MAX_LINE_BYTES {
                    // The whole line is in this chunk: read in place.
                    self.take(head, end);
                } else {
                    self.extend(head, end);
                    if self.delta.skipping {
                        // The end of a line too long to read.
                        self.delta.skipping = false;
                        self.delta.offset = end;
                        continue;
                    }
                    self.take_line(end);
                }
                limits.lines = limits.lines.saturating_sub(1);
                if limits.lines == 0 {
                    break 'read;
                }
            }
        }
        // A last line without its newline: taken if it is whole JSON, else left for later.
        if at_end
            && !self.delta.skipping
            && !self.line.is_empty()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&self.line).is_ok()
        {
            self.take_line(end);
        }
    }

    /// Adds `bytes` (ending at file offset `end`) to the current line, unless it is being
    /// skipped; a line that grows past [`MAX_LINE_BYTES`] starts being skipped.
    fn extend(&mut self, bytes: &[u8], end: u64) {
        if self.delta.skipping {
            self.delta.offset = end;
            return;
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() > MAX_LINE_BYTES {
            let at = self.delta.offset;
            self.delta.rejections.push(Rejection {
                kind: "oversized",
                at,
                reason: format!(
                    "{} line at byte {at}: longer than {}, skipped",
                    self.path.display(),
                    crate::files::bytes(MAX_LINE_BYTES as u64)
                ),
            });
            self.line = Vec::new();
            self.delta.skipping = true;
            self.delta.offset = end;
        }
    }

    /// Takes the current line, which ends at file offset `end`.
    fn take_line(&mut self, end: u64) {
        let mut line = std::mem::take(&mut self.line);
        self.take(&line, end);
        line.clear();
        self.line = line;
    }

    /// Takes `line`, which ends at file offset `end`.
    fn take(&mut self, line: &[u8], end: u64) {
        let at = self.delta.offset;
        self.delta.offset = end;
        self.report.lines += 1;
        let parsed = parse_line(line);
        if matches!(parsed, Ok(None))
            && let Some(session_line) = claude_code::parse(line)
        {
            self.delta.session_lines.push(session_line);
        }
        let mut entry = match parsed {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(e) if e.is_data() => {
                self.delta.rejections.push(Rejection {
                    kind: "figures",
                    at,
                    reason: format!(
                        "{} line at byte {at}: {}; not counted",
                        self.path.display(),
                        without_position(&e)
                    ),
                });
                return;
            }
            Err(_) => {
                self.report.malformed += 1;
                return;
            }
        };
        if entry.session_id.is_empty() {
            entry.session_id.clone_from(&self.delta.fallback_session);
        }
        if self.main && !entry.sidechain {
            let newer = self
                .delta
                .context
                .as_ref()
                .is_none_or(|c| entry.ts_ms >= c.ts_ms);
            if newer {
                self.delta.context = Some(Context::from(&entry));
            }
        }
        // The lines of one response in a row (one per content block, each with the usage,
        // the output count sometimes growing) are one entry: the first's time and keys with the
        // largest figures, what storing each line in turn leaves (a copy is updated only to
        // larger figures, keeping its time). One entry instead of several is most of an
        // import's writing.
        if let Some(last) = self.delta.entries.last_mut()
            && last.continued_by(&entry)
        {
            if entry.tokens.total() > last.tokens.total() {
                last.tokens = entry.tokens;
            }
            return;
        }
        self.delta.entries.push(entry);
    }
}

/// A parse error's message without serde_json's "at line 1 column 80".
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Counts a rejected line of `kind`, keeping the last reason.
fn record_rejection(
    tx: &Transaction<'_>,
    kind: &str,
    reason: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO ingest_rejections (kind, count, last_ms, last_reason) VALUES (?1, 1, ?2, ?3)
         ON CONFLICT (kind) DO UPDATE SET count = count + 1, last_ms = excluded.last_ms,
                                          last_reason = excluded.last_reason",
    )?
    .execute(params![kind, now_ms, reason])
    .map(drop)
}

/// Transcript lines rejected so far, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// `figures` or `oversized`.
    pub kind: String,
    /// How many.
    pub count: i64,
    /// When the last one was read (Unix ms).
    pub last_ms: i64,
    /// The last one: file, byte offset, why.
    pub last_reason: String,
}

/// The transcript lines rejected so far, by kind.
pub fn rejections(conn: &Connection) -> rusqlite::Result<Vec<Rejected>> {
    conn.prepare("SELECT kind, count, last_ms, last_reason FROM ingest_rejections ORDER BY kind")?
        .query_map([], |r| {
            Ok(Rejected {
                kind: r.get(0)?,
                count: r.get(1)?,
                last_ms: r.get(2)?,
                last_reason: r.get(3)?,
            })
        })?
        .collect()
}

/// One assistant response's usage, as read from a transcript line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `message.id`.
    pub message_id: String,
    /// `requestId`.
    pub request_id: String,
    /// `timestamp`, Unix ms.
    pub ts_ms: i64,
    /// `sessionId` (or the transcript's file name).
    pub session_id: String,
    /// `cwd`.
    pub project: String,
    /// `message.model`.
    pub model: String,
    /// `isSidechain`.
    pub sidechain: bool,
    /// `agentId` (subagent transcripts).
    pub agent_id: Option<String>,
    /// The token counts.
    pub tokens: Tokens,
}

impl Entry {
    /// Whether `next` is another line of this same response with the same keys: the same
    /// message and request, session, project, model, chain and subagent.
    fn continued_by(&self, next: &Entry) -> bool {
        self.message_id == next.message_id
            && self.request_id == next.request_id
            && self.session_id == next.session_id
            && self.project == next.project
            && self.model == next.model
            && self.sidechain == next.sidechain
            && self.agent_id == next.agent_id
    }
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default, rename = "sessionId")]
    session_id: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default, rename = "isSidechain")]
    sidechain: Option<bool>,
    #[serde(default, rename = "requestId")]
    request_id: Option<String>,
    #[serde(default, rename = "agentId")]
    agent_id: Option<String>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: Figure,
    #[serde(default)]
    output_tokens: Figure,
    #[serde(default)]
    cache_creation_input_tokens: Figure,
    #[serde(default)]
    cache_read_input_tokens: Figure,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    speed: Option<String>,
}

#[derive(Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: Figure,
    #[serde(default)]
    ephemeral_1h_input_tokens: Figure,
}

/// One token count as a transcript line gives it: any JSON value, checked by
/// [`Figure::count`]. (Read as `u64`, a negative, fractional or textual count would make the
/// line unreadable without saying why; a count past `i64::MAX` would wrap when stored.)
#[derive(Debug, Default)]
enum Figure {
    /// Absent or `null`: none.
    #[default]
    Absent,
    /// A non-negative integer.
    Count(u64),
    /// Anything else, described for the message.
    Invalid(String),
}

impl Figure {
    /// The count, if it is an integer from 0 to [`MAX_TOKENS`]; else why not (`field` named).
    fn count(&self, field: &str) -> Result<u64, String> {
        match self {
            Self::Absent => Ok(0),
            Self::Count(n) if *n <= MAX_TOKENS => Ok(*n),
            Self::Count(n) => Err(format!(
                "{field} = {n} is more than {MAX_TOKENS}, the most a response may have"
            )),
            Self::Invalid(what) => Err(format!("{field} = {what}, not a token count")),
        }
    }
}

impl<'de> Deserialize<'de> for Figure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FigureVisitor)
    }
}

struct FigureVisitor;

impl<'de> serde::de::Visitor<'de> for FigureVisitor {
    type Value = Figure;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a token count")
    }

    fn visit_u64<E>(self, n: u64) -> Result<Figure, E> {
        Ok(Figure::Count(n))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Figure, E> {
        Ok(match u64::try_from(n) {
            Ok(n) => Figure::Count(n),
            Err(_) => Figure::Invalid(format!("{n} is negative")),
        })
    }

    fn visit_f64<E>(self, n: f64) -> Result<Figure, E> {
        Ok(Figure::Invalid(format!("{n} is a float")))
    }

    fn visit_str<E>(self, text: &str) -> Result<Figure, E> {
        let shown: String = text.chars().take(24).collect();
        Ok(Figure::Invalid(format!("{shown:?} is a string")))
    }

    fn visit_bool<E>(self, b: bool) -> Result<Figure, E> {
        Ok(Figure::Invalid(format!("{b} is a boolean")))
    }

    fn visit_unit<E>(self) -> Result<Figure, E> {
        Ok(Figure::Absent)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Figure, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Figure::Invalid("an array".into()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Figure, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Figure::Invalid("an object".into()))
    }
}

/// Parses one transcript line. `Ok(None)`: a line that carries no usable usage (user lines,
/// summaries, synthetic messages, lines without a time or any id); `Err`: not JSON (a syntax
/// error), or JSON whose usage cannot be counted (a data error,
/// [`serde_json::Error::is_data`]: a token count out of range or of the wrong type).
///
/// Only lines that may carry usage (any valid JSON spelling of the key contains `"usage"`)
/// are parsed in full; the others (tool results, prompts: most of a transcript's bytes) are
/// only checked to be an object (`{` … `}`), not parsed.
pub fn parse_line(bytes: &[u8]) -> Result<Option<Entry>, serde_json::Error> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    static USAGE: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"usage\""));
    if USAGE.find(trimmed).is_none() {
        if trimmed.starts_with(b"{") && trimmed.ends_with(b"}") {
            return Ok(None);
        }
        return serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).map(|_| None);
    }
    let line: Line = serde_json::from_slice(trimmed)?;
    entry_from_line(line).map_err(<serde_json::Error as serde::de::Error>::custom)
}

/// The response a line describes, if any; `Err` says why its usage cannot be counted.
fn entry_from_line(line: Line) -> Result<Option<Entry>, String> {
    let Some(message) = line.message else {
        return Ok(None);
    };
    let Some(usage) = message.usage else {
        return Ok(None);
    };
    let Some(model) = message
        .model
        .filter(|m| !m.is_empty() && m != "<synthetic>")
    else {
        return Ok(None);
    };
    let Some(ts_ms) = line.timestamp.as_deref().and_then(parse_timestamp) else {
        return Ok(None);
    };
    // ccusage's keys: (message id, request id or none); a response without a message id is
    // never merged with another (its line's uuid keeps it unique across re-reads).
    let Some(message_id) = message
        .id
        .filter(|id| !id.is_empty())
        .or_else(|| line.uuid.map(|u| format!("uuid:{u}")))
    else {
        return Ok(None);
    };
    let (cache_write_5m, cache_write_1h) = match &usage.cache_creation {
        Some(split) => (
            split
                .ephemeral_5m_input_tokens
                .count("cache_creation.ephemeral_5m_input_tokens")?,
            split
                .ephemeral_1h_input_tokens
                .count("cache_creation.ephemeral_1h_input_tokens")?,
        ),
        None => (
            usage
                .cache_creation_input_tokens
                .count("cache_creation_input_tokens")?,
            0,
        ),
    };
    let tokens = Tokens {
        input: usage.input_tokens.count("input_tokens")?,
        output: usage.output_tokens.count("output_tokens")?,
        cache_write_5m,
        cache_write_1h,
        cache_read: usage
            .cache_read_input_tokens
            .count("cache_read_input_tokens")?,
    };
    let model = match usage.speed.as_deref() {
        Some("fast") => format!("{model}-fast"),
        _ => model,
    };
    Ok(Some(Entry {
        message_id,
        request_id: line.request_id.unwrap_or_default(),
        ts_ms,
        session_id: line.session_id.unwrap_or_default(),
        project: line.cwd.unwrap_or_default(),
        model,
        sidechain: line.sidechain.unwrap_or(false),
        agent_id: line.agent_id,
        tokens,
    }))
}

/// RFC 3339 time → Unix milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Stores one response; a copy already stored is replaced only when this one has larger
/// figures (streamed lines of one response can carry growing output counts) or is the main
/// chain's copy of a response also logged by a sidechain. Returns whether a row changed.
pub fn store_entry(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    entry: &Entry,
) -> rusqlite::Result<bool> {
    let mut rollups = RollupBatch::default();
    let changed = store_response(tx, pricing, entry, &mut rollups)?;
    rollups.write(tx)?;
    Ok(changed)
}

/// The message ids an import stored into a store that had no response when it began. A
/// response whose id is not among them has no copy stored: it is inserted without the
/// lookups of [`store_response`] (on a hash collision, or a copy a hook call stored meanwhile,
/// [`FreshIds::insert_new`] leaves it to them). Halves the writer's time of a first import.
#[derive(Debug, Default)]
pub(crate) struct FreshIds(std::collections::HashSet<u64>);

impl FreshIds {
    /// Inserts `entry` if its message id is new to the store; false if it was not inserted
    /// (maybe stored: [`store_response`] decides).
    fn insert_new(
        &mut self,
        tx: &Transaction<'_>,
        pricing: &Pricing,
        entry: &Entry,
        rollups: &mut RollupBatch,
    ) -> rusqlite::Result<bool> {
        use std::hash::{BuildHasher as _, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(&entry.message_id);
        if !self.0.insert(hash) {
            return Ok(false);
        }
        let (tokens, cost) = priced(pricing, entry);
        let inserted = tx
            .prepare_cached(
                "INSERT INTO usage (message_id, request_id, ts_ms, session_id, project, model,
                                    sidechain, agent_id, input_tokens, output_tokens,
                                    cache_write_5m, cache_write_1h, cache_read_tokens, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(usage_values(entry, &tokens, &cost))?;
        if inserted == 0 {
            return Ok(false);
        }
        rollups.new_response(entry.ts_ms);
        let key = RollupKey {
            ts_ms: entry.ts_ms,
            session_id: &entry.session_id,
            project: &entry.project,
            model: &entry.model,
        };
        rollups.add(&key, &UsageDelta::of(tokens, cost, 1));
        Ok(true)
    }
}

/// The token counts of `entry` as stored (each at most [`MAX_TOKENS`]: checked by
/// `parse_line`, clamped here for entries made otherwise, so the conversion is exact), and its
/// cost.
fn priced(pricing: &Pricing, entry: &Entry) -> ([i64; 5], Option<f64>) {
    let t = &entry.tokens;
    let tokens = [
        t.input,
        t.output,
        t.cache_write_5m,
        t.cache_write_1h,
        t.cache_read,
    ]
    .map(|n| n.min(MAX_TOKENS) as i64);
    (tokens, pricing.cost(&entry.model, t))
}

/// The values of `entry`'s `usage` row, in the order of the inserts' columns.
fn usage_values<'a>(
    entry: &'a Entry,
    tokens: &'a [i64; 5],
    cost: &'a Option<f64>,
) -> [&'a dyn rusqlite::ToSql; 14] {
    [
        &entry.message_id,
        &entry.request_id,
        &entry.ts_ms,
        &entry.session_id,
        &entry.project,
        &entry.model,
        &entry.sidechain,
        &entry.agent_id,
        &tokens[0],
        &tokens[1],
        &tokens[2],
        &tokens[3],
        &tokens[4],
        cost,
    ]
}

/// [`store_entry`], its rollup changes added to `rollups` (written by the caller).
fn store_response(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    entry: &Entry,
    rollups: &mut RollupBatch,
) -> rusqlite::Result<bool> {
    // The copies of this response already stored: under this request id (an update rolls up
    // the difference) or another. A sidechain (e.g. `/btw`) can replay a main-chain response
    // under a new request id: the same response, matched on the message id alone. The main
    // chain's copy is the one kept.
    let mut stored: Option<([i64; 5], Option<f64>)> = None;
    let mut replay: Option<(i64, bool)> = None;
    {
        let mut stmt = tx.prepare_cached(
            "SELECT request_id = ?2, id, sidechain, input_tokens, output_tokens, cache_write_5m,
                    cache_write_1h, cache_read_tokens, cost_usd
             FROM usage WHERE message_id = ?1",
        )?;
        let mut rows = stmt.query(params![entry.message_id, entry.request_id])?;
        while let Some(r) = rows.next()? {
            let sidechain: bool = r.get(2)?;
            if r.get(0)? {
                let tokens = [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?];
                stored = Some((tokens, r.get(8)?));
            } else if replay.is_none() && (sidechain || entry.sidechain) {
                replay = Some((r.get(1)?, sidechain));
            }
        }
    }
    match replay {
        Some(_) if entry.sidechain => return Ok(false),
        Some((id, true)) => {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM usage WHERE id = ?1
                     RETURNING ts_ms, session_id, project, model, input_tokens, output_tokens,
                               cache_write_5m, cache_write_1h, cache_read_tokens, cost_usd",
                )?
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
                        r.get::<_, Option<f64>>(9)?,
                    ))
                })?;
            let (ts_ms, session_id, project, model, tokens, cost) = removed;
            let key = RollupKey {
                ts_ms,
                session_id: &session_id,
                project: &project,
                model: &model,
            };
            rollups.add(&key, &UsageDelta::of(tokens, cost, -1));
        }
        _ => {}
    }
    let (tokens, cost) = priced(pricing, entry);
    let changed = tx
        .prepare_cached(
            "INSERT INTO usage (message_id, request_id, ts_ms, session_id, project, model,
                                sidechain, agent_id, input_tokens, output_tokens, cache_write_5m,
                                cache_write_1h, cache_read_tokens, cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (message_id, request_id) DO UPDATE SET
                 input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
                 cache_write_5m = excluded.cache_write_5m, cache_write_1h = excluded.cache_write_1h,
                 cache_read_tokens = excluded.cache_read_tokens, cost_usd = excluded.cost_usd,
                 sidechain = min(sidechain, excluded.sidechain)
             WHERE excluded.input_tokens + excluded.output_tokens + excluded.cache_write_5m
                   + excluded.cache_write_1h + excluded.cache_read_tokens
                 > usage.input_tokens + usage.output_tokens + usage.cache_write_5m
                   + usage.cache_write_1h + usage.cache_read_tokens
                OR excluded.sidechain < usage.sidechain
             RETURNING ts_ms, session_id, project, model",
        )?
        .query_row(usage_values(entry, &tokens, &cost), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    let Some((ts_ms, session_id, project, model)) = changed else {
        return Ok(false);
    };
    // An update keeps the stored row's time and keys.
    let key = RollupKey {
        ts_ms,
        session_id: &session_id,
        project: &project,
        model: &model,
    };
    let new = UsageDelta::of(tokens, cost, 1);
    let delta = match stored {
        Some((old_tokens, old_cost)) => {
            UsageDelta::between(&UsageDelta::of(old_tokens, old_cost, 1), &new)
        }
        None => {
            rollups.new_response(ts_ms);
            new
        }
    };
    rollups.add(&key, &delta);
    Ok(true)
}

/// The context size after one main-chain response.
#[derive(Debug)]
struct Context {
    session_id: String,
    project: String,
    model: String,
    tokens: u64,
    ts_ms: i64,
}

impl From<&Entry> for Context {
    fn from(entry: &Entry) -> Self {
        let t = &entry.tokens;
        Self {
            session_id: entry.session_id.clone(),
            project: entry.project.clone(),
            model: entry.model.clone(),
            tokens: t.input + t.cache_write_5m + t.cache_write_1h + t.cache_read,
            ts_ms: entry.ts_ms,
        }
    }
}

fn record_context(tx: &Transaction<'_>, c: &Context) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (session_id, project, model, context_tokens, context_ts)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (session_id) DO UPDATE SET
             project = excluded.project, model = excluded.model,
             context_tokens = excluded.context_tokens, context_ts = excluded.context_ts
         WHERE excluded.context_ts >= coalesce(sessions.context_ts, 0)",
    )?
    .execute(params![
        c.session_id,
        c.project,
        c.model,
        c.tokens as i64,
        c.ts_ms
    ])
    .map(drop)
}

/// The session id a transcript's path implies: `<session>.jsonl`, or
/// `<session>/subagents/agent-<id>.jsonl`.
fn session_from_path(path: &Path, main: bool) -> String {
    let session_path = if main {
        Some(path)
    } else {
        path.parent().and_then(Path::parent)
    };
    session_path
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(unix)]
fn file_identity(meta: &std::fs::Metadata) -> i64 {
    std::os::unix::fs::MetadataExt::ino(meta) as i64
}

#[cfg(not(unix))]
fn file_identity(meta: &std::fs::Metadata) -> i64 {
    // No inode: the creation time tells a replaced file from an appended one.
    meta.created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::store::Store;

    const LINE: &str = r#"{"parentUuid":"a","isSidechain":false,"cwd":"/p","sessionId":"s1","message":{"id":"m1","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"output_tokens":5}},"requestId":"r1","type":"assistant","timestamp":"2026-11-12T05:19:24.500Z"}"#;

    fn setup() -> (tempfile::TempDir, Store, Pricing) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        (dir, store, Pricing::bundled())
    }

    fn line(id: &str, req: &str, output: u64) -> String {
        LINE.replace("\"m1\"", &format!("\"{id}\""))
            .replace("\"r1\"", &format!("\"{req}\""))
            .replace(
                "\"output_tokens\":5",
                &format!("\"output_tokens\":{output}"),
            )
    }

    /// Responses m1 (5 output tokens) and m2 (7).
    fn write_two_responses(path: &Path) {
        let text = format!("{}\n{}\n", line("m1", "r1", 5), line("m2", "r2", 7));
        std::fs::write(path, text).unwrap();
    }

    fn total_output(store: &Store) -> i64 {
        store
            .conn()
            .query_row(
                "SELECT coalesce(sum(output_tokens), 0) FROM usage",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    fn ingest(store: &mut Store, pricing: &Pricing, path: &Path) -> IngestReport {
        ingest_within(store, pricing, path, ReadLimits::unlimited())
    }

    fn ingest_within(
        store: &mut Store,
        pricing: &Pricing,
        path: &Path,
        mut limits: ReadLimits,
    ) -> IngestReport {
        let delta = Delta::read_session(store.conn(), path, &mut limits).unwrap();
        store.write(|tx| delta.store(tx, pricing, 0)).unwrap()
    }

    /// An import into an empty store inserts new responses directly; a response stored
    /// meanwhile (by a hook call) or seen twice goes through the lookups, and counts once with
    /// its larger figures.
    #[test]
    fn a_fresh_import_stores_what_the_lookups_store() {
        let (_dir, mut store, pricing) = setup();
        let entry = |id: &str, output: u64| {
            parse_line(line(id, &format!("r-{id}"), output).as_bytes())
                .unwrap()
                .unwrap()
        };
        store
            .write(|tx| store_entry(tx, &pricing, &entry("m1", 5)))
            .unwrap();
        let mut fresh = FreshIds::default();
        let stored = store
            .write(|tx| {
                let mut rollups = RollupBatch::default();
                let mut stored = Vec::new();
                for e in [entry("m1", 9), entry("m2", 7), entry("m2", 8)] {
                    let new = fresh.insert_new(tx, &pricing, &e, &mut rollups)?;
                    stored.push(new || store_response(tx, &pricing, &e, &mut rollups)?);
                    stored.push(new);
                }
                rollups.write(tx)?;
                Ok(stored)
            })
            .unwrap();
        // (stored, inserted directly) per response: m1 was stored by the hook before.
        assert_eq!(stored, [true, false, true, true, true, false]);
        assert_eq!(total_output(&store), 9 + 8);
        assert_eq!(
            crate::store::rollup_mismatches(store.conn()).unwrap(),
            0,
            "the rollups match the rows"
        );
    }

    #[test]
    fn parses_usage_with_the_cache_split() {
        let entry = parse_line(LINE.as_bytes()).unwrap().unwrap();
        assert_eq!(entry.tokens.cache_write_5m, 60);
        assert_eq!(entry.tokens.cache_write_1h, 40);
        assert_eq!(entry.ts_ms, 1_794_460_764_500);
        assert_eq!(entry.session_id, "s1");
    }

    #[test]
    fn reads_any_valid_json_spelling() {
        let spaced = LINE.replace("\":", "\": ").replace(",\"", ", \"");
        assert_eq!(
            parse_line(spaced.as_bytes()).unwrap(),
            parse_line(LINE.as_bytes()).unwrap()
        );
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(LINE).unwrap())
                .unwrap();
        assert!(parse_line(pretty.as_bytes()).unwrap().is_some());
    }

    #[test]
    fn skips_lines_without_usable_usage() {
        for text in [
            r#"{"type":"summary","summary":"x"}"#,
            r#"{"type":"user","message":{"role":"user","content":"what is usage?"}}"#,
            &LINE.replace("claude-sonnet-4-5-20250929", "<synthetic>"),
            &LINE.replace("\"id\":\"m1\",", ""),
            &LINE.replace(
                "\"timestamp\":\"2026-11-12T05:19:24.500Z\"",
                "\"timestamp\":\"yesterday\"",
            ),
        ] {
            assert_eq!(parse_line(text.as_bytes()).unwrap(), None, "{text}");
        }
        assert!(parse_line(b"{\"usage\": ").is_err());
        assert!(parse_line(b"not json").is_err());
    }

    #[test]
    fn dedupes_and_reads_only_what_is_new() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "{}\n{}", line("m1", "r1", 5), line("m1", "r1", 5)).unwrap();
        let first = ingest(&mut store, &pricing, &path);
        assert_eq!((first.lines, first.stored), (2, 1));
        assert_eq!(total_output(&store), 5);
        // Nothing new: nothing read.
        assert_eq!(ingest(&mut store, &pricing, &path).bytes, 0);
        // A later line of the same response with a larger count replaces it; a new one adds.
        writeln!(file, "{}\n{}", line("m1", "r1", 9), line("m2", "r2", 7)).unwrap();
        let second = ingest(&mut store, &pricing, &path);
        assert_eq!((second.lines, second.stored), (2, 2));
        assert_eq!(total_output(&store), 16);
        let rollup: i64 = store
            .conn()
            .query_row("SELECT sum(output_tokens) FROM usage_rollup", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(rollup, 16, "the rollup follows updates");
        assert_eq!(crate::store::rollup_mismatches(store.conn()).unwrap(), 0);
    }

    /// The lines of one response in a row are read as one entry, and store what storing each
    /// line on its own stores: the first line's time, the largest figures, the same rollups.
    #[test]
    fn the_lines_of_one_response_are_one_entry_storing_the_same() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let at = |l: String, time: &str| l.replace("05:19:24.500Z", time);
        let lines = [
            at(line("m1", "r1", 5), "05:19:24.500Z"),
            at(line("m1", "r1", 9), "05:19:25.000Z"),
            at(line("m1", "r1", 7), "05:19:26.000Z"),
            at(line("m2", "r2", 3), "05:19:27.000Z"),
            at(line("m2", "r2", 3), "06:00:00.000Z"),
            at(line("m1", "r1", 12), "05:19:28.000Z"),
            line("m3", "r3", 1).replace("claude-sonnet-4-5-20250929", "claude-opus-4-5"),
            line("m3", "r3", 2),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let mut limits = ReadLimits::unlimited();
        let delta = Delta::read_session(store.conn(), &path, &mut limits).unwrap();
        let outputs: Vec<u64> = delta.files[0]
            .entries
            .iter()
            .map(|e| e.tokens.output)
            .collect();
        assert_eq!(
            outputs,
            [9, 3, 12, 1, 2],
            "m1, m2, m1 again, m3 under two models"
        );
        store.write(|tx| delta.store(tx, &pricing, 0)).unwrap();

        let (_other_dir, mut each, _) = setup();
        for l in &lines {
            let entry = parse_line(l.as_bytes()).unwrap().unwrap();
            each.write(|tx| store_entry(tx, &pricing, &entry)).unwrap();
        }
        let dump = |store: &Store, sql: &str| -> Vec<String> {
            let mut stmt = store.conn().prepare(sql).unwrap();
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|v| v.join(","))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        for sql in [
            "SELECT message_id, request_id, ts_ms, model, output_tokens, cost_usd FROM usage
             ORDER BY 1, 4",
            "SELECT * FROM usage_rollup ORDER BY 1, 2, 3, 4",
        ] {
            assert_eq!(dump(&store, sql), dump(&each, sql), "{sql}");
        }
        assert_eq!(total_output(&store), 12 + 3 + 2);
    }

    #[test]
    fn a_sidechain_replay_of_a_main_response_counts_once() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let replay =
            line("m1", "r-btw", 5).replace("\"isSidechain\":false", "\"isSidechain\":true");
        // Replay first (subagent file read later in real life, but either order must hold).
        std::fs::write(
            &path,
            format!("{replay}\n{}\n{replay}\n", line("m1", "r1", 5)),
        )
        .unwrap();
        ingest(&mut store, &pricing, &path);
        assert_eq!(total_output(&store), 5);
        let sidechain: i64 = store
            .conn()
            .query_row("SELECT sidechain FROM usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sidechain, 0, "the main chain's copy is kept");
        let rollup: i64 = store
            .conn()
            .query_row("SELECT sum(messages) FROM usage_rollup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rollup, 1);
        assert_eq!(crate::store::rollup_mismatches(store.conn()).unwrap(), 0);
    }

    #[test]
    fn waits_for_a_partial_last_line() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let full = line("m1", "r1", 5);
        let (head, tail) = full.split_at(100);
        std::fs::write(&path, head).unwrap();
        let report = ingest(&mut store, &pricing, &path);
        assert_eq!((report.lines, report.malformed, report.stored), (0, 0, 0));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(file, "{tail}").unwrap();
        assert_eq!(ingest(&mut store, &pricing, &path).stored, 1);
        assert_eq!(total_output(&store), 5);
    }

    #[test]
    fn rereads_a_truncated_or_replaced_file_without_double_counting() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        write_two_responses(&path);
        ingest(&mut store, &pricing, &path);
        // Truncated to a shorter file with one new response.
        std::fs::write(&path, format!("{}\n", line("m3", "r3", 1))).unwrap();
        ingest(&mut store, &pricing, &path);
        assert_eq!(total_output(&store), 13);
        // Replaced by a new file (new inode) repeating old responses and adding one.
        let tmp = dir.path().join("new.jsonl");
        std::fs::write(
            &tmp,
            format!(
                "{}\n{}\n{}\n",
                line("m1", "r1", 5),
                line("m3", "r3", 1),
                line("m4", "r4", 2)
            ),
        )
        .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        ingest(&mut store, &pricing, &path);
        assert_eq!(total_output(&store), 15);
    }

    #[test]
    fn a_missing_transcript_is_reported_not_an_error() {
        let (dir, mut store, pricing) = setup();
        let report = ingest(&mut store, &pricing, &dir.path().join("nope.jsonl"));
        assert_eq!(report.missing.len(), 1);
    }

    #[test]
    fn counts_malformed_lines_and_goes_on() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        std::fs::write(
            &path,
            format!("garbage\n{}\n{{\"usage\": 3\n", line("m1", "r1", 5)),
        )
        .unwrap();
        let report = ingest(&mut store, &pricing, &path);
        assert_eq!((report.malformed, report.stored), (2, 1));
    }

    #[test]
    fn ingests_subagent_transcripts_and_tracks_main_context() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        std::fs::write(&path, format!("{}\n", line("m1", "r1", 5))).unwrap();
        let sub = dir.path().join("s1/subagents");
        std::fs::create_dir_all(&sub).unwrap();
        let side = line("m9", "r9", 4).replace("\"isSidechain\":false", "\"isSidechain\":true");
        std::fs::write(sub.join("agent-x.jsonl"), format!("{side}\n")).unwrap();
        let report = ingest(&mut store, &pricing, &path);
        assert_eq!((report.files, report.stored), (2, 2));
        let context: i64 = store
            .conn()
            .query_row(
                "SELECT context_tokens FROM sessions WHERE session_id = 's1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(context, 10 + 100 + 1000);
    }

    fn saved(store: &Store, path: &Path) -> (i64, bool) {
        store
            .conn()
            .query_row(
                "SELECT offset, skipping FROM transcripts WHERE path = ?1",
                [path.to_string_lossy()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    fn rejected(store: &Store) -> Vec<(String, i64, String)> {
        rejections(store.conn())
            .unwrap()
            .into_iter()
            .map(|r| (r.kind, r.count, r.last_reason))
            .collect()
    }

    fn with_input(id: &str, input: &str) -> String {
        line(id, &format!("r-{id}"), 5)
            .replace("\"input_tokens\":10", &format!("\"input_tokens\":{input}"))
    }

    /// Counts out of range or of the wrong type are not counted, never wrapped or summed into
    /// a REAL, and each is reported once with why; the store stays sound for every read.
    #[test]
    fn token_counts_out_of_range_are_rejected_and_reported() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let bad = [
            "9223372036854775807",
            "18446744073709551615",
            "18446744073708551616",
            "1000000000000000",
            "1e15",
            "1.5",
            "-3",
            "\"12\"",
            "10000001",
        ];
        let mut text = String::new();
        for (i, figure) in bad.iter().enumerate() {
            text.push_str(&with_input(&format!("bad{i}"), figure));
            text.push('\n');
        }
        text.push_str(&with_input("max", &MAX_TOKENS.to_string()));
        text.push('\n');
        text.push_str(&line("ok", "r-ok", 5));
        text.push('\n');
        std::fs::write(&path, &text).unwrap();
        let report = ingest(&mut store, &pricing, &path);
        assert_eq!(
            (report.stored, report.rejected, report.malformed),
            (2, 9, 0)
        );
        assert_eq!(report.problems.len(), 9);
        for (problem, figure) in report.problems.iter().zip(bad) {
            let shown = figure.trim_matches('"');
            assert!(
                problem.contains("input_tokens = ")
                    && problem.contains(shown.split('e').next().unwrap()),
                "{figure}: {problem}"
            );
            assert!(problem.contains("s1.jsonl line at byte"), "{problem}");
        }
        assert!(
            report.problems[0].contains("more than 10000000"),
            "{:?}",
            report.problems
        );
        assert!(
            report.problems[6].contains("-3 is negative"),
            "{:?}",
            report.problems
        );
        assert!(
            report.problems[7].contains("\"12\" is a string"),
            "{:?}",
            report.problems
        );
        let input: i64 = store
            .conn()
            .query_row("SELECT sum(input_tokens) FROM usage_daily", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(input, MAX_TOKENS as i64 + 10);
        assert_eq!(crate::store::figures_out_of_range(store.conn()).unwrap(), 0);
        assert_eq!(crate::store::rollup_mismatches(store.conn()).unwrap(), 0);
        let calendar = crate::time::Calendar::default();
        let usage =
            crate::store::usage::snapshot(store.conn(), &calendar, "s1", "/p", 1_794_460_800_000)
                .unwrap();
        assert_eq!(usage.session.messages, 2);
        let kinds = rejected(&store);
        assert_eq!(kinds.len(), 1);
        assert_eq!((kinds[0].0.as_str(), kinds[0].1), ("figures", 9));
        assert!(
            kinds[0].2.contains("10000001"),
            "the last reason: {kinds:?}"
        );
        // Read again (a replaced file): the responses are stored once, the lines not
        // reported again... unless the file is new. Appending nothing reads nothing.
        assert_eq!(ingest(&mut store, &pricing, &path).bytes, 0);
        assert_eq!(rejected(&store)[0].1, 9);
    }

    /// A line longer than the longest line read is skipped to its end and reported once, even
    /// when reaching its end takes several calls; the lines after it are read.
    #[test]
    fn an_oversized_line_is_skipped_once_across_calls() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let long = format!("{{\"usage\":\"{}\"}}", "x".repeat(3 * MAX_LINE_BYTES));
        std::fs::write(
            &path,
            format!("{}\n{long}\n{}\n", line("m1", "r1", 5), line("m2", "r2", 7)),
        )
        .unwrap();
        let limits = ReadLimits {
            bytes: 5 << 20,
            ..ReadLimits::unlimited()
        };
        let mut calls = 0;
        let mut problems = Vec::new();
        while total_output(&store) < 12 {
            let report = ingest_within(&mut store, &pricing, &path, limits);
            assert!(report.bytes <= 5 << 20);
            problems.extend(report.problems);
            calls += 1;
            assert!(calls < 10);
        }
        assert!(calls >= 3, "{calls} calls");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("longer than 4 MiB, skipped"),
            "{problems:?}"
        );
        assert_eq!(rejected(&store)[0].1, 1);
        assert!(!saved(&store, &path).1);
    }

    /// A 2 GiB file without a newline (sparse: no disk): a call reads at most its limit and
    /// goes on from there next time, never from the start again.
    #[test]
    fn a_huge_file_without_newlines_is_read_a_bounded_step_a_call() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(2 << 30)
            .unwrap();
        let limits = ReadLimits::hook(Instant::now() + std::time::Duration::from_secs(3600));
        let first = ingest_within(&mut store, &pricing, &path, limits);
        assert_eq!(first.bytes, 8 << 20);
        assert_eq!(first.problems.len(), 1, "{:?}", first.problems);
        assert_eq!(saved(&store, &path), (8 << 20, true));
        let second = ingest_within(&mut store, &pricing, &path, limits);
        assert_eq!(second.bytes, 8 << 20);
        assert!(
            second.problems.is_empty(),
            "reported once: {:?}",
            second.problems
        );
        assert_eq!(saved(&store, &path), (16 << 20, true));
        assert_eq!(rejected(&store)[0].1, 1);
    }

    /// A transcript path naming a FIFO: refused at once (no writer ever comes).
    #[cfg(unix)]
    #[test]
    fn a_fifo_transcript_is_refused_without_blocking() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        crate::files::mkfifo(&path);
        let report = ingest(&mut store, &pricing, &path);
        assert_eq!(report.bytes, 0);
        assert!(
            report.problems[0].contains("is a FIFO, not a regular file"),
            "{:?}",
            report.problems
        );
    }

    /// Two calls that read the same new lines at once (neither holds a lock while reading)
    /// store each response once; the saved offset only moves forward.
    #[test]
    fn the_same_lines_stored_by_two_calls_count_once() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "{}\n{}", line("m1", "r1", 5), line("m2", "r2", 7)).unwrap();
        let read = |store: &Store| {
            Delta::read_session(store.conn(), &path, &mut ReadLimits::unlimited()).unwrap()
        };
        let (first, second) = (read(&store), read(&store));
        writeln!(file, "{}", line("m3", "r3", 1)).unwrap();
        let further = read(&store);
        store.write(|tx| further.store(tx, &pricing, 0)).unwrap();
        store.write(|tx| first.store(tx, &pricing, 0)).unwrap();
        store.write(|tx| second.store(tx, &pricing, 0)).unwrap();
        assert_eq!(total_output(&store), 13);
        assert_eq!(crate::store::rollup_mismatches(store.conn()).unwrap(), 0);
        let end = std::fs::metadata(&path).unwrap().len() as i64;
        assert_eq!(saved(&store, &path), (end, false), "not moved back");
        assert_eq!(ingest(&mut store, &pricing, &path).bytes, 0);
    }

    /// A file truncated in place (same inode) and read by two calls at once: both start again
    /// from the beginning, and the new lines are stored once, the offset set to the new end.
    #[test]
    fn a_file_truncated_in_place_and_read_twice_at_once_is_counted_once() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        write_two_responses(&path);
        ingest(&mut store, &pricing, &path);
        let shorter = format!("{}\n", line("m3", "r3", 1));
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap()
            .write_all(shorter.as_bytes())
            .unwrap();
        let read = |store: &Store| {
            Delta::read_session(store.conn(), &path, &mut ReadLimits::unlimited()).unwrap()
        };
        let (first, second) = (read(&store), read(&store));
        assert_eq!(
            store
                .write(|tx| first.store(tx, &pricing, 0))
                .unwrap()
                .stored,
            1
        );
        assert_eq!(
            store
                .write(|tx| second.store(tx, &pricing, 0))
                .unwrap()
                .stored,
            0
        );
        assert_eq!(total_output(&store), 13);
        assert_eq!(saved(&store, &path), (shorter.len() as i64, false));
    }

    /// Calls of one session read its transcript one at a time: a call that finds it claimed
    /// waits its time, then reads anyway; once the claim is released, the next call reads
    /// only what is newer. The lines read twice count once.
    #[cfg(unix)]
    #[test]
    fn a_session_is_read_by_one_call_at_a_time_but_never_left_unread() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        std::fs::write(&path, format!("{}\n", line("m1", "r1", 5))).unwrap();
        let soon = |ms| ReadLimits::hook(Instant::now() + std::time::Duration::from_millis(ms));
        let mut first = Delta::read_session(store.conn(), &path, &mut soon(60_000)).unwrap();
        assert!(first.claim.is_some());
        let second = Delta::read_session(store.conn(), &path, &mut soon(100)).unwrap();
        assert!(second.claim.is_none(), "claimed by the first");
        let size = std::fs::metadata(&path).unwrap().len();
        assert_eq!(second.report.bytes, size, "read anyway after its wait");
        store.write(|tx| first.store(tx, &pricing, 0)).unwrap();
        first.release();
        store.write(|tx| second.store(tx, &pricing, 0)).unwrap();
        let third = Delta::read_session(store.conn(), &path, &mut soon(100)).unwrap();
        assert!(third.claim.is_some());
        assert_eq!((third.report.files, third.report.bytes), (1, 0));
        assert_eq!(total_output(&store), 5);
    }

    #[test]
    fn a_call_reads_at_most_its_lines() {
        let (dir, mut store, pricing) = setup();
        let path = dir.path().join("s1.jsonl");
        let text: String = (0..5)
            .map(|i| line(&format!("m{i}"), "r", 1) + "\n")
            .collect();
        std::fs::write(&path, text).unwrap();
        let limits = ReadLimits {
            lines: 2,
            ..ReadLimits::unlimited()
        };
        assert_eq!(ingest_within(&mut store, &pricing, &path, limits).lines, 2);
        assert_eq!(ingest_within(&mut store, &pricing, &path, limits).lines, 2);
        assert_eq!(ingest_within(&mut store, &pricing, &path, limits).lines, 1);
        assert_eq!(total_output(&store), 5);
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::{MAX_TOKENS, parse_line};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes as a transcript line: never a panic.
        #[test]
        fn any_line(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_line(&bytes);
        }

        /// Assistant lines with any figures: read back exactly when every count is in range,
        /// else rejected as a data error (never wrapped, never read as another number).
        #[test]
        fn usage_lines(counts in prop::array::uniform4(prop_oneof![0..=MAX_TOKENS, any::<u64>()]),
                       model in "[a-z0-9<>-]{0,20}",
                       ts in prop_oneof![Just("2026-11-12T05:19:24Z".to_owned()), ".{0,30}"]) {
            let [input, output, read, write] = counts;
            let line = serde_json::json!({
                "type": "assistant", "timestamp": ts, "requestId": "r", "sessionId": "s",
                "message": {"id": "m", "model": model, "usage": {
                    "input_tokens": input, "output_tokens": output,
                    "cache_read_input_tokens": read, "cache_creation_input_tokens": write}}
            });
            match parse_line(line.to_string().as_bytes()) {
                Ok(Some(entry)) => {
                    prop_assert!(counts.iter().all(|&n| n <= MAX_TOKENS));
                    prop_assert_eq!(entry.tokens.input, input);
                    prop_assert_eq!(entry.tokens.output, output);
                    prop_assert_eq!(entry.tokens.cache_read, read);
                    prop_assert_eq!(entry.tokens.cache_write_5m, write);
                }
                Ok(None) => {}
                Err(e) => {
                    prop_assert!(e.is_data(), "{}", e);
                    prop_assert!(counts.iter().any(|&n| n > MAX_TOKENS));
                }
            }
        }
    }
}
