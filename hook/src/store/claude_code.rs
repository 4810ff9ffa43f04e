//! What Claude Code writes to a transcript about the session rather than one response: its own
//! cost and the lines its edits changed (`cost-state` lines), compactions (`compact_boundary`) and the turns an API error ended
//! (`isApiErrorMessage` lines with a `rate_limit` or `billing_error`).
//!
//! A `cost-state` line holds Claude Code's figures for the whole session so far, per model:
//! tokens and `costUSD`, what its `/cost` shows. They are kept per session and model
//! (`claude_code_costs`), and the reports show them next to tollgate's ("Claude Code says"). They
//! can exceed what the transcript's responses add up to: requests the transcript does not record
//! (a compaction's summary) are in them. For a model tollgate has no price for, Claude Code's
//! cost is spread over the session's responses of that model that have none, weighted by their
//! tokens at the usual ratios (an output token 5 input tokens, a 5-minute cache write 1.25, a
//! 1-hour one 2, a cache read 0.1), so that windows and budgets see it; not when Claude Code
//! did not know the price either (`hasUnknownModelCost`: it assumed one).
//!
//! A line whose figures make no sense, go down from the session's earlier line, or count fewer
//! tokens than the transcript's own responses before it is noted once per session and kind
//! (`cost_state_notes`, shown by `tollgate doctor`) and used for nothing.

use std::sync::LazyLock;

use memchr::memmem;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use crate::pricing::{Pricing, Tokens, model_key};
use crate::store::outcomes::{self, Lines};
use crate::store::{self, RollupKey, UsageDelta};

/// Largest figure a `cost-state` line may hold (Claude Code's own bound on its token counts).
const MAX_FIGURE: f64 = 1e15;

/// Largest session cost a `cost-state` line may hold, USD (Claude Code's own bound).
const MAX_COST_USD: f64 = 1e9;

/// A transcript line about the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionLine {
    /// Claude Code's cost so far.
    CostState(CostState),
    /// A compaction of the context.
    Compaction(Compaction),
    /// A turn ended by a plan or billing limit.
    LimitHit(LimitHit),
}

/// One `cost-state` line.
#[derive(Debug, Clone, PartialEq)]
pub struct CostState {
    /// `sessionId` (empty: the transcript's).
    pub session_id: String,
    /// Per model, sorted by model.
    pub models: Vec<ModelCost>,
    /// `hasUnknownModelCost`: Claude Code had no price for some model and assumed one.
    pub unknown_price: bool,
    /// `totalLinesAdded` and `totalLinesRemoved`: the lines its edits changed so far (kept
    /// apart from the cost: a line with unusable cost figures may still count them).
    pub lines: Option<Lines>,
    /// Why the line cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// Claude Code's figures for one model of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCost {
    /// The model, as Claude Code names it.
    pub model: String,
    /// Its tokens.
    pub tokens: Tokens,
    /// Web searches (priced per search, not per token).
    pub web_search_requests: u64,
    /// `costUSD`.
    pub cost_usd: f64,
}

/// A `compact_boundary` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Compaction {
    /// `sessionId` (empty: the transcript's).
    pub session_id: String,
    /// When it ended, Unix ms.
    pub ts_ms: i64,
    /// `manual` or `auto`.
    pub trigger: Option<String>,
    /// The context before.
    pub pre_tokens: Option<u64>,
    /// The context after.
    pub post_tokens: Option<u64>,
}

/// An API error line that ended a turn on a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitHit {
    /// `sessionId` (empty: the transcript's).
    pub session_id: String,
    /// When, Unix ms.
    pub ts_ms: i64,
    /// `rate_limit` or `billing_error`.
    pub kind: String,
    /// The error Claude Code showed.
    pub detail: Option<String>,
}

impl SessionLine {
    /// The session the line belongs to, `fallback` when it names none.
    fn session<'a>(&'a self, fallback: &'a str) -> &'a str {
        let id = match self {
            Self::CostState(c) => &c.session_id,
            Self::Compaction(c) => &c.session_id,
            Self::LimitHit(h) => &h.session_id,
        };
        if id.is_empty() { fallback } else { id }
    }
}

/// Reads a transcript line about the session; `None` for any other line (most lines: the check
/// is a substring search before any parsing).
pub fn parse(bytes: &[u8]) -> Option<SessionLine> {
    static KINDS: LazyLock<[memmem::Finder<'static>; 3]> = LazyLock::new(|| {
        [
            b"cost-state".as_slice(),
            b"compact_boundary",
            b"isApiErrorMessage",
        ]
        .map(memmem::Finder::new)
    });
    if KINDS.iter().all(|kind| kind.find(bytes).is_none()) {
        return None;
    }
    let Value::Object(line) = serde_json::from_slice(bytes.trim_ascii()).ok()? else {
        return None;
    };
    let str_of = |key: &str| line.get(key).and_then(Value::as_str);
    let session_id = str_of("sessionId").unwrap_or_default().to_owned();
    let ts_ms = str_of("timestamp").and_then(crate::store::ingest::parse_timestamp);
    match str_of("type")? {
        "cost-state" => Some(SessionLine::CostState(cost_state(&line, session_id))),
        "system" if str_of("subtype") == Some("compact_boundary") => {
            let meta = line.get("compactMetadata");
            let field = |key: &str| meta.and_then(|m| m.get(key));
            Some(SessionLine::Compaction(Compaction {
                session_id,
                ts_ms: ts_ms?,
                trigger: field("trigger").and_then(Value::as_str).map(str::to_owned),
                pre_tokens: field("preTokens").and_then(Value::as_u64),
                post_tokens: field("postTokens").and_then(Value::as_u64),
            }))
        }
        "assistant" if line.get("isApiErrorMessage") == Some(&Value::Bool(true)) => {
            let kind = str_of("error").filter(|k| matches!(*k, "rate_limit" | "billing_error"))?;
            let detail = line
                .get("message")
                .and_then(|m| m.get("content"))
                .and_then(Value::as_array)
                .and_then(|blocks| blocks.iter().find_map(|b| b.get("text")?.as_str()))
                .map(|text| text.chars().take(300).collect());
            Some(SessionLine::LimitHit(LimitHit {
                session_id,
                ts_ms: ts_ms?,
                kind: kind.to_owned(),
                detail,
            }))
        }
        _ => None,
    }
}

/// A `cost-state` object, its figures checked.
fn cost_state(line: &serde_json::Map<String, Value>, session_id: String) -> CostState {
    let mut state = CostState {
        session_id,
        models: Vec::new(),
        unknown_price: line.get("hasUnknownModelCost") == Some(&Value::Bool(true)),
        lines: None,
        problem: None,
    };
    let lines = |key: &str| {
        line.get(key)
            .and_then(Value::as_u64)
            .filter(|n| (*n as f64) <= MAX_FIGURE)
    };
    if let (Some(added), Some(removed)) = (lines("totalLinesAdded"), lines("totalLinesRemoved")) {
        state.lines = Some(Lines { added, removed });
    }
    let total = line.get("totalCostUSD").and_then(Value::as_f64);
    if !total.is_some_and(|t| t.is_finite() && (0.0..=MAX_COST_USD).contains(&t)) {
        state.problem = Some(format!(
            "its totalCostUSD is {}",
            line.get("totalCostUSD")
                .map_or("missing".into(), Value::to_string)
        ));
        return state;
    }
    let Some(models) = line.get("modelUsage").and_then(Value::as_object) else {
        state.problem = Some("it has no modelUsage object".into());
        return state;
    };
    for (model, figures) in models {
        match model_cost(model, figures) {
            Ok(cost) => state.models.push(cost),
            Err(why) => {
                state.problem = Some(format!("{model}: {why}"));
                return state;
            }
        }
    }
    state.models.sort_by(|a, b| a.model.cmp(&b.model));
    state
}

fn model_cost(model: &str, figures: &Value) -> Result<ModelCost, String> {
    let count = |key: &str| -> Result<u64, String> {
        match figures.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(value) => value
                .as_u64()
                .filter(|n| (*n as f64) <= MAX_FIGURE)
                .ok_or_else(|| format!("{key} is {value}, not a count of tokens")),
        }
    };
    let written = count("cacheCreationInputTokens")?;
    let (w5, w1) = (
        count("cacheCreationEphemeral5mInputTokens")?,
        count("cacheCreationEphemeral1hInputTokens")?,
    );
    // Without the split (older lines), every cache write is a 5-minute one.
    let (cache_write_5m, cache_write_1h) = if w5 + w1 == written {
        (w5, w1)
    } else {
        (written.saturating_sub(w1), w1.min(written))
    };
    let tokens = Tokens {
        input: count("inputTokens")?,
        output: count("outputTokens")?,
        cache_write_5m,
        cache_write_1h,
        cache_read: count("cacheReadInputTokens")?,
    };
    let web_search_requests = count("webSearchRequests")?;
    let cost_usd = figures
        .get("costUSD")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite() && (0.0..=MAX_COST_USD).contains(c))
        .ok_or_else(|| {
            let value = figures
                .get("costUSD")
                .map_or("missing".into(), Value::to_string);
            format!("costUSD is {value}")
        })?;
    if cost_usd > 0.0 && tokens.total() == 0 && web_search_requests == 0 {
        return Err(format!("costUSD is {cost_usd} for no tokens"));
    }
    Ok(ModelCost {
        model: model.to_owned(),
        tokens,
        web_search_requests,
        cost_usd,
    })
}

/// Records `line` of `fallback_session`'s transcript (read at `now_ms`). Returns the notes to
/// report: what was wrong with a `cost-state` line, the first time for its session and kind.
pub fn record(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    line: &SessionLine,
    fallback_session: &str,
    now_ms: i64,
) -> rusqlite::Result<Vec<String>> {
    let session = line.session(fallback_session);
    match line {
        SessionLine::CostState(state) => {
            if let Some(lines) = state.lines {
                outcomes::record_claude_code_lines(tx, session, lines, now_ms)?;
            }
            record_cost_state(tx, pricing, state, session, now_ms)
        }
        SessionLine::Compaction(c) => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO compactions (session_id, ts_ms, trigger, pre_tokens,
                                                    post_tokens)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                session,
                c.ts_ms,
                c.trigger,
                c.pre_tokens.map(|t| t as i64),
                c.post_tokens.map(|t| t as i64)
            ])?;
            if let Some(post) = c.post_tokens {
                // The context is what the compaction left, until the next response says more.
                tx.prepare_cached(
                    "UPDATE sessions SET context_tokens = ?2, context_ts = ?3
                     WHERE session_id = ?1 AND coalesce(context_ts, 0) <= ?3",
                )?
                .execute(params![session, post as i64, c.ts_ms])?;
            }
            Ok(Vec::new())
        }
        SessionLine::LimitHit(hit) => {
            record_limit_hit(tx, session, hit.ts_ms, &hit.kind, hit.detail.as_deref())?;
            Ok(Vec::new())
        }
    }
}

/// Records that a turn of `session` ended on `kind` (`rate_limit`, `billing_error`) at `ts_ms`.
/// The same stop reported twice (the transcript's error line and the `StopFailure` hook call)
/// is kept once: a hit within a minute of another of the session's is the same.
pub fn record_limit_hit(
    tx: &Transaction<'_>,
    session: &str,
    ts_ms: i64,
    kind: &str,
    detail: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO limit_hits (session_id, ts_ms, kind, detail)
         SELECT ?1, ?2, ?3, ?4 WHERE NOT EXISTS (
             SELECT 1 FROM limit_hits WHERE session_id = ?1 AND kind = ?3
                                        AND ts_ms BETWEEN ?2 - 60000 AND ?2 + 60000)",
    )?
    .execute(params![session, ts_ms, kind, detail])
    .map(drop)
}

/// The figures of a session's responses of one model, as recorded from its transcripts.
#[derive(Debug, Default)]
struct Recorded {
    /// Tokens of the main conversation's responses.
    main: Tokens,
    /// Cost already on the responses (all of them).
    cost_usd: f64,
}

fn record_cost_state(
    tx: &Transaction<'_>,
    pricing: &Pricing,
    state: &CostState,
    session: &str,
    now_ms: i64,
) -> rusqlite::Result<Vec<String>> {
    let mut notes = Vec::new();
    if let Some(problem) = &state.problem {
        let text = format!("Claude Code's cost line for session {session} is unusable: {problem}");
        notes.extend(note(tx, session, "invalid", &text, now_ms)?);
        return Ok(notes);
    }
    for cost in &state.models {
        if let Some(why) = decreased(tx, session, cost)? {
            let text = format!(
                "Claude Code's cost line for session {session} went down for {}: {why}; the earlier figures are kept",
                cost.model
            );
            notes.extend(note(tx, session, "decreased", &text, now_ms)?);
            continue;
        }
        let recorded = recorded(tx, session, &cost.model)?;
        if let Some(kind) = fewer_tokens(&cost.tokens, &recorded.main) {
            let text = format!(
                "Claude Code's cost line for session {session} counts fewer {kind} tokens of {} than the transcript's responses before it; it is not used",
                cost.model
            );
            notes.extend(note(tx, session, "disagrees", &text, now_ms)?);
            continue;
        }
        let t = &cost.tokens;
        tx.prepare_cached(
            "INSERT INTO claude_code_costs (session_id, model, input_tokens, output_tokens,
                                            cache_write_5m, cache_write_1h, cache_read_tokens,
                                            web_search_requests, cost_usd, unknown_price,
                                            observed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (session_id, model) DO UPDATE SET
                 input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
                 cache_write_5m = excluded.cache_write_5m, cache_write_1h = excluded.cache_write_1h,
                 cache_read_tokens = excluded.cache_read_tokens,
                 web_search_requests = excluded.web_search_requests,
                 cost_usd = excluded.cost_usd, unknown_price = excluded.unknown_price,
                 observed_ms = excluded.observed_ms",
        )?
        .execute(params![
            session,
            cost.model,
            t.input as i64,
            t.output as i64,
            t.cache_write_5m as i64,
            t.cache_write_1h as i64,
            t.cache_read as i64,
            cost.web_search_requests as i64,
            cost.cost_usd,
            state.unknown_price,
            now_ms,
        ])?;
        if pricing.price(&cost.model).is_none() && !state.unknown_price {
            price_from_claude_code(tx, session, cost, recorded.cost_usd)?;
        }
    }
    Ok(notes)
}

/// Why `cost`'s figures are lower than those recorded for the session from an earlier line.
fn decreased(
    tx: &Transaction<'_>,
    session: &str,
    cost: &ModelCost,
) -> rusqlite::Result<Option<String>> {
    let stored: Option<([i64; 5], f64)> = tx
        .prepare_cached(
            "SELECT input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                    cache_read_tokens, cost_usd
             FROM claude_code_costs WHERE session_id = ?1 AND model = ?2",
        )?
        .query_row(params![session, cost.model], |r| {
            Ok((
                [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((tokens, stored_cost)) = stored else {
        return Ok(None);
    };
    if cost.cost_usd < stored_cost - 1e-9 {
        return Ok(Some(format!(
            "costUSD {} after {stored_cost}",
            cost.cost_usd
        )));
    }
    let stored = Tokens {
        input: tokens[0].max(0) as u64,
        output: tokens[1].max(0) as u64,
        cache_write_5m: tokens[2].max(0) as u64,
        cache_write_1h: tokens[3].max(0) as u64,
        cache_read: tokens[4].max(0) as u64,
    };
    Ok(fewer_tokens(&cost.tokens, &stored).map(|kind| format!("fewer {kind} tokens than before")))
}

/// The first kind of token `a` has fewer of than `b`.
fn fewer_tokens(a: &Tokens, b: &Tokens) -> Option<&'static str> {
    [
        (a.input < b.input, "input"),
        (a.output < b.output, "output"),
        (a.cache_write() < b.cache_write(), "cache-write"),
        (a.cache_read < b.cache_read, "cache-read"),
    ]
    .into_iter()
    .find_map(|(fewer, kind)| fewer.then_some(kind))
}

/// What the store holds of `session`'s responses of `model` (any spelling of it).
fn recorded(tx: &Transaction<'_>, session: &str, model: &str) -> rusqlite::Result<Recorded> {
    let key = model_key(model);
    let mut stmt = tx.prepare_cached(
        "SELECT model, sidechain = 0 AND agent_id IS NULL, sum(input_tokens),
                sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                sum(cache_read_tokens), sum(coalesce(cost_usd, 0))
         FROM usage WHERE session_id = ?1 GROUP BY 1, 2",
    )?;
    let mut rows = stmt.query([session])?;
    let mut recorded = Recorded::default();
    while let Some(row) = rows.next()? {
        if model_key(row.get_ref(0)?.as_str()?) != key {
            continue;
        }
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
        if row.get::<_, bool>(1)? {
            let t = &mut recorded.main;
            t.input += n(2)?;
            t.output += n(3)?;
            t.cache_write_5m += n(4)?;
            t.cache_write_1h += n(5)?;
            t.cache_read += n(6)?;
        }
        recorded.cost_usd += row.get::<_, f64>(7)?;
    }
    Ok(recorded)
}

/// Spreads what Claude Code's cost for `cost.model` adds to `priced` (the cost already on the
/// session's responses of that model) over those without a price.
fn price_from_claude_code(
    tx: &Transaction<'_>,
    session: &str,
    cost: &ModelCost,
    priced: f64,
) -> rusqlite::Result<()> {
    let remaining = cost.cost_usd - priced;
    if remaining <= 1e-12 {
        return Ok(());
    }
    let key = model_key(&cost.model);
    let mut pending: Vec<Unpriced> = Vec::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, ts_ms, project, model, input_tokens, output_tokens, cache_write_5m,
                    cache_write_1h, cache_read_tokens
             FROM usage WHERE session_id = ?1 AND cost_usd IS NULL",
        )?;
        let mut rows = stmt.query([session])?;
        while let Some(r) = rows.next()? {
            let model: String = r.get(3)?;
            if model_key(&model) == key {
                pending.push(Unpriced {
                    id: r.get(0)?,
                    ts_ms: r.get(1)?,
                    project: r.get(2)?,
                    model,
                    tokens: [r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?],
                });
            }
        }
    }
    let total: f64 = pending.iter().map(Unpriced::weight).sum();
    for response in &pending {
        let share = if total > 0.0 {
            response.weight() / total
        } else {
            1.0 / pending.len() as f64
        };
        let usd = remaining * share;
        tx.prepare_cached("UPDATE usage SET cost_usd = ?2 WHERE id = ?1")?
            .execute(params![response.id, usd])?;
        let key = RollupKey {
            ts_ms: response.ts_ms,
            session_id: session,
            project: &response.project,
            model: &response.model,
        };
        let delta = UsageDelta::between(
            &UsageDelta::of(response.tokens, None, 1),
            &UsageDelta::of(response.tokens, Some(usd), 1),
        );
        store::roll_usage(tx, &key, &delta)?;
    }
    Ok(())
}

/// A stored response without a price.
struct Unpriced {
    id: i64,
    ts_ms: i64,
    project: String,
    model: String,
    /// Input, output, 5-minute and 1-hour cache writes, cache reads.
    tokens: [i64; 5],
}

impl Unpriced {
    /// Its share of a cost: its tokens at the usual ratios to an input token.
    fn weight(&self) -> f64 {
        let [input, output, write_5m, write_1h, read] = self.tokens.map(|t| t as f64);
        input + 5.0 * output + 1.25 * write_5m + 2.0 * write_1h + 0.1 * read
    }
}

/// Notes `text` for `session` unless a note of `kind` was made for it before; returns it when
/// it is new.
fn note(
    tx: &Transaction<'_>,
    session: &str,
    kind: &str,
    text: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<String>> {
    let added = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO cost_state_notes (session_id, kind, note, observed_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![session, kind, text, now_ms])?;
    Ok((added > 0).then(|| text.to_owned()))
}

/// Claude Code's cost of one session, summed over its models.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionCost {
    /// USD.
    pub cost_usd: f64,
    /// Whether Claude Code assumed a price for some model (its figure is then an estimate).
    pub unknown_price: bool,
}

/// Claude Code's cost of `session`, if a `cost-state` line of it was read.
pub fn session_cost(conn: &Connection, session: &str) -> rusqlite::Result<Option<SessionCost>> {
    conn.prepare_cached(
        "SELECT sum(cost_usd), max(unknown_price) FROM claude_code_costs WHERE session_id = ?1
         HAVING count(*) > 0",
    )?
    .query_row([session], |r| {
        Ok(SessionCost {
            cost_usd: r.get(0)?,
            unknown_price: r.get(1)?,
        })
    })
    .optional()
}

/// Claude Code's cost of every session a `cost-state` line was read for (one query, for
/// reports over many sessions).
pub fn session_costs(
    conn: &Connection,
) -> rusqlite::Result<std::collections::HashMap<String, SessionCost>> {
    conn.prepare(
        "SELECT session_id, sum(cost_usd), max(unknown_price) FROM claude_code_costs
         GROUP BY session_id",
    )?
    .query_map([], |r| {
        Ok((
            r.get(0)?,
            SessionCost {
                cost_usd: r.get(1)?,
                unknown_price: r.get(2)?,
            },
        ))
    })?
    .collect()
}

/// The notes about `cost-state` lines made since `since_ms`, newest first: (session, note).
pub fn notes_since(conn: &Connection, since_ms: i64) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare(
        "SELECT session_id, note FROM cost_state_notes WHERE observed_ms >= ?1
         ORDER BY observed_ms DESC",
    )?
    .query_map([since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

#[cfg(test)]
mod tests;
