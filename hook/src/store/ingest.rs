//! Reads the real token usage Claude Code writes to session transcripts.
//!
//! A transcript is JSONL, one line per content block, so one API response appears on several
//! lines with the same `message.id` + `requestId` and usage: each response is stored once. Files
//! are read from the byte offset saved last time; a partial last line waits for the next call;
//! a file that shrank or was replaced (new inode) is read again from the start, which the
//! deduplication makes harmless. Lines about the session as a whole (Claude Code's own cost,
//! compactions, turns ended by a limit) go to [`claude_code`].

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Deserialize;

use crate::pricing::{Pricing, Tokens};
use crate::store::{self, RollupKey, UsageDelta, claude_code};

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
    /// Lines that were not valid JSON (skipped).
    pub malformed: u64,
    /// Files named but missing.
    pub missing: Vec<PathBuf>,
    /// What was wrong with Claude Code's own cost lines, noted for the first time.
    pub notes: Vec<String>,
}

impl IngestReport {
    /// Adds another pass's counts to these.
    pub fn add(&mut self, other: Self) {
        self.files += other.files;
        self.bytes += other.bytes;
        self.lines += other.lines;
        self.stored += other.stored;
        self.malformed += other.malformed;
        self.missing.extend(other.missing);
        self.notes.extend(other.notes);
    }
}

/// Ingests what is new in a session's transcript and in its subagents' transcripts
/// (`<transcript without .jsonl>/subagents/*.jsonl`).
pub fn ingest_session(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    transcript: &Path,
) -> rusqlite::Result<IngestReport> {
    let mut report = ingest_file(tx, pricing, transcript, true)?;
    let subagents = transcript.with_extension("").join("subagents");
    if let Ok(entries) = std::fs::read_dir(&subagents) {
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        files.sort();
        for file in files {
            report.add(ingest_file(tx, pricing, &file, false)?);
        }
    }
    Ok(report)
}

/// Ingests what is new in one transcript file. `main` marks a session's own transcript (whose
/// non-sidechain responses give the live context size), as opposed to a subagent's.
pub fn ingest_file(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    path: &Path,
    main: bool,
) -> rusqlite::Result<IngestReport> {
    let mut report = IngestReport {
        files: 1,
        ..IngestReport::default()
    };
    let key = path.to_string_lossy();
    let Ok(mut file) = std::fs::File::open(path) else {
        report.missing.push(path.to_path_buf());
        return Ok(report);
    };
    let Ok(meta) = file.metadata() else {
        report.missing.push(path.to_path_buf());
        return Ok(report);
    };
    let (inode, size) = (file_identity(&meta), meta.len());
    let saved: Option<(i64, i64)> = tx
        .prepare_cached("SELECT inode, offset FROM transcripts WHERE path = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let mut offset = match saved {
        Some((saved_inode, offset)) if saved_inode == inode && offset as u64 <= size => {
            offset as u64
        }
        _ => 0, // new, replaced or truncated: read from the start
    };
    if offset == size {
        return Ok(report);
    }
    if file.seek(SeekFrom::Start(offset)).is_err() {
        return Ok(report);
    }
    let fallback_session = session_from_path(path, main);
    let mut latest_context: Option<Context> = None;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        let Ok(read) = reader.read_until(b'\n', &mut line) else {
            break;
        };
        if read == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        let parsed = parse_line(&line);
        if !complete && parsed.is_err() {
            break; // a partial last line: the writer has not finished it yet
        }
        offset += read as u64;
        report.bytes += read as u64;
        report.lines += 1;
        let Ok(Some(mut entry)) = parsed else {
            if parsed.is_err() {
                report.malformed += 1;
            } else if let Some(session_line) = claude_code::parse(&line) {
                let now_ms = chrono::Utc::now().timestamp_millis();
                let notes =
                    claude_code::record(tx, pricing, &session_line, &fallback_session, now_ms)?;
                report.notes.extend(notes);
            }
            continue;
        };
        if entry.session_id.is_empty() {
            entry.session_id.clone_from(&fallback_session);
        }
        report.stored += store_entry(tx, pricing, &entry)? as u64;
        if main && !entry.sidechain {
            let newer = latest_context
                .as_ref()
                .is_none_or(|c| entry.ts_ms >= c.ts_ms);
            if newer {
                latest_context = Some(Context::from(&entry));
            }
        }
    }
    tx.prepare_cached(
        "INSERT INTO transcripts (path, inode, size, offset) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, size = excluded.size,
                                          offset = excluded.offset",
    )?
    .execute(params![key, inode, size as i64, offset as i64])?;
    if let Some(context) = latest_context {
        record_context(tx, &context)?;
    }
    Ok(report)
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
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_creation: Option<CacheCreation>,
    #[serde(default)]
    speed: Option<String>,
}

#[derive(Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_5m_input_tokens: u64,
    #[serde(default)]
    ephemeral_1h_input_tokens: u64,
}

/// Parses one transcript line. `Ok(None)`: valid JSON that carries no usable usage (user
/// lines, summaries, synthetic messages, lines without a time or any id); `Err`: not JSON.
pub fn parse_line(bytes: &[u8]) -> Result<Option<Entry>, serde_json::Error> {
    let trimmed = bytes.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Most lines (tool results, user prompts) carry no usage: skip them without a full parse
    // unless they might (any valid JSON spelling of the key contains this).
    if memchr::memmem::find(trimmed, b"\"usage\"").is_none() {
        return serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).map(|_| None);
    }
    let line: Line = serde_json::from_slice(trimmed)?;
    Ok(entry_from_line(line))
}

fn entry_from_line(line: Line) -> Option<Entry> {
    let message = line.message?;
    let usage = message.usage?;
    let model = message
        .model
        .filter(|m| !m.is_empty() && m != "<synthetic>")?;
    let ts_ms = parse_timestamp(line.timestamp.as_deref()?)?;
    let (cache_write_5m, cache_write_1h) = match usage.cache_creation {
        Some(split) => (
            split.ephemeral_5m_input_tokens,
            split.ephemeral_1h_input_tokens,
        ),
        None => (usage.cache_creation_input_tokens, 0),
    };
    let model = match usage.speed.as_deref() {
        Some("fast") => format!("{model}-fast"),
        _ => model,
    };
    // ccusage's keys: (message id, request id or none); a response without a message id is
    // never merged with another (its line's uuid keeps it unique across re-reads).
    let message_id = message
        .id
        .filter(|id| !id.is_empty())
        .or_else(|| line.uuid.map(|u| format!("uuid:{u}")))?;
    Some(Entry {
        message_id,
        request_id: line.request_id.unwrap_or_default(),
        ts_ms,
        session_id: line.session_id.unwrap_or_default(),
        project: line.cwd.unwrap_or_default(),
        model,
        sidechain: line.sidechain.unwrap_or(false),
        agent_id: line.agent_id,
        tokens: Tokens {
            input: usage.input_tokens,
            output: usage.output_tokens,
            cache_write_5m,
            cache_write_1h,
            cache_read: usage.cache_read_input_tokens,
        },
    })
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
            store::roll_usage(tx, &key, &UsageDelta::of(tokens, cost, -1))?;
        }
        _ => {}
    }
    let t = &entry.tokens;
    let tokens = [
        t.input,
        t.output,
        t.cache_write_5m,
        t.cache_write_1h,
        t.cache_read,
    ]
    .map(|n| n as i64);
    let cost = pricing.cost(&entry.model, t);
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
        .query_row(
            params![
                entry.message_id,
                entry.request_id,
                entry.ts_ms,
                entry.session_id,
                entry.project,
                entry.model,
                entry.sidechain,
                entry.agent_id,
                tokens[0],
                tokens[1],
                tokens[2],
                tokens[3],
                tokens[4],
                cost,
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
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
            // A response older than the saved start of the latest 5-hour block moves it.
            tx.prepare_cached("DELETE FROM block_anchor WHERE first_ts > ?1")?
                .execute([ts_ms])?;
            new
        }
    };
    store::roll_usage(tx, &key, &delta)?;
    Ok(true)
}

/// The context size after one main-chain response.
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
        store.write(|tx| ingest_session(tx, pricing, path)).unwrap()
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
        assert_eq!(crate::store::rollup_mismatches(store.conn()), 0);
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
        assert_eq!(crate::store::rollup_mismatches(store.conn()), 0);
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
        std::fs::write(
            &path,
            format!("{}\n{}\n", line("m1", "r1", 5), line("m2", "r2", 7)),
        )
        .unwrap();
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
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::parse_line;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes as a transcript line: never a panic.
        #[test]
        fn any_line(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_line(&bytes);
        }

        /// Assistant lines with any figures and odd field types: parsed or skipped, and the
        /// tokens read back are the tokens written.
        #[test]
        fn usage_lines(input in any::<u32>(), output in any::<u32>(), read in any::<u32>(),
                       write in any::<u32>(), model in "[a-z0-9<>-]{0,20}", ts in ".{0,30}") {
            let line = serde_json::json!({
                "type": "assistant", "timestamp": ts, "requestId": "r", "sessionId": "s",
                "message": {"id": "m", "model": model, "usage": {
                    "input_tokens": input, "output_tokens": output,
                    "cache_read_input_tokens": read, "cache_creation_input_tokens": write}}
            });
            if let Ok(Some(entry)) = parse_line(line.to_string().as_bytes()) {
                prop_assert_eq!(entry.tokens.input, u64::from(input));
                prop_assert_eq!(entry.tokens.output, u64::from(output));
                prop_assert_eq!(entry.tokens.cache_read, u64::from(read));
                prop_assert_eq!(entry.tokens.cache_write_5m, u64::from(write));
            }
        }
    }
}
