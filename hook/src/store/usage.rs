//! Live usage figures: session, 5-hour block, day, week, project, per model and family, and
//! the context size. These are what policies see (`usage` and `context` in the ABI input).
//!
//! Everything is read from the rollups (daily, hourly, and 15-minute where a window starts
//! mid-hour), so a week costs some tens of rows whatever the size of the store.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::pricing::{Pricing, Tokens, family};
use crate::store::BUCKET_MS;
use crate::store::cells::{SELECTED, Selection};
use crate::time::{Calendar, HOUR_MS, rfc3339};

/// Length of Claude's usage block.
pub const BLOCK_MS: i64 = 5 * 3600 * 1000;

pub use tollgate_sdk::{
    BlockWindow, Context, ContextCache, FamilyWindows, PeriodWindow, TeamPeriods, TeamUsage, Usage,
    Window,
};

/// Adds one rollup row of `model` to `window`: its sums and the tokens of its unpriced
/// responses.
fn add_usage(window: &mut Window, u: &Totals, unpriced_tokens: u64, model: &str) {
    window.input_tokens += u.tokens.input;
    window.output_tokens += u.tokens.output;
    window.cache_creation_tokens += u.tokens.cache_write();
    window.cache_read_tokens += u.tokens.cache_read;
    window.total_tokens += u.tokens.total();
    window.cost_usd += u.cost_usd;
    window.unpriced_messages += u.unpriced;
    window.unpriced_tokens += unpriced_tokens;
    if u.unpriced > 0 {
        window.note_unpriced(model);
    }
    window.messages += u.messages;
}

/// Adds `PreToolUse` and `UserPromptSubmit` counts to `window`.
fn add_activity(window: &mut Window, tool_calls: u64, prompts: u64) {
    window.tool_calls += tool_calls;
    window.prompts += prompts;
}

/// A 5-hour block as Claude's usage meter counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Start: the hour of its first message.
    pub start_ms: i64,
    /// `start_ms` + 5 h.
    pub end_ms: i64,
    /// Its last message.
    pub last_ms: i64,
}

impl Block {
    /// Whether the block is still running at `now_ms` (ccusage's rule: less than 5 h since
    /// its last message and before its end).
    pub fn is_active(&self, now_ms: i64) -> bool {
        now_ms - self.last_ms < BLOCK_MS && now_ms < self.end_ms
    }
}

/// Splits activity into blocks (ccusage's rule): a block starts at the hour of the first
/// message, and a message more than 5 h after its block's start, or more than 5 h after the
/// previous message, starts a new one. `activity` is `(first_ms, last_ms)` per bucket, sorted.
pub fn blocks(activity: impl IntoIterator<Item = (i64, i64)>) -> Vec<Block> {
    group_blocks(activity, |span| *span)
        .into_iter()
        .map(|(block, _)| block)
        .collect()
}

/// [`blocks`] keeping the items of each block: `span` gives an item's `(first_ms, last_ms)`;
/// items come sorted by time and each one falls in a single block (one message, or one
/// 15-minute bucket: a bucket never straddles a block boundary, except when its first message
/// is exactly at the block's end: that message belongs to the block, later ones do not).
pub fn group_blocks<T>(
    items: impl IntoIterator<Item = T>,
    span: impl Fn(&T) -> (i64, i64),
) -> Vec<(Block, Vec<T>)> {
    let mut out: Vec<(Block, Vec<T>)> = Vec::new();
    for item in items {
        let (first, last) = span(&item);
        match out.last_mut() {
            Some((b, members))
                if first - b.start_ms <= BLOCK_MS && first - b.last_ms <= BLOCK_MS =>
            {
                b.last_ms = b.last_ms.max(last);
                members.push(item);
            }
            _ => {
                let start = first - first.rem_euclid(HOUR_MS);
                let block = Block {
                    start_ms: start,
                    end_ms: start + BLOCK_MS,
                    last_ms: last,
                };
                out.push((block, vec![item]));
            }
        }
    }
    out
}

/// The block running at `now_ms`, if any.
///
/// Blocks are found by walking activity forward from the start of a chain: from the saved
/// anchor (the first bucket of the latest block found, see `store/v4.sql`) when there is one in
/// the last 8 days, else from 8 days back. The anchor is moved forward when a new block starts,
/// so a call walks a few hours of buckets, not 8 days.
pub fn current_block(conn: &Connection, now_ms: i64) -> rusqlite::Result<Option<Block>> {
    find_block(conn, now_ms, None)
}

/// A moment of the past to read figures at, as they were then: only the responses and events
/// up to and including `at_ms` count.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsOf {
    /// The moment, Unix ms.
    pub at_ms: i64,
    /// An earlier moment for the responses, when the hook had not read all those written
    /// before `at_ms` (Claude Code writes the response that calls a tool after its
    /// `PreToolUse`): only those up to and including it count.
    pub responses_until_ms: Option<i64>,
    /// The first bucket of a block found at an earlier moment, where the walk for the block
    /// may start (kept in memory by the caller: a replay goes forward in time; never saved).
    pub anchor: Option<i64>,
}

impl AsOf {
    /// The moment up to which responses count.
    pub fn responses_ms(&self) -> i64 {
        self.responses_until_ms
            .map_or(self.at_ms, |until| until.min(self.at_ms))
    }
}

/// [`current_block`], or, `as_of` given, the block running at its moment: buckets before the
/// bucket of its responses' moment from the rollup, that bucket's responses up to that moment
/// from `usage`, the walk starting at the saved anchor only when it is not after the moment,
/// and nothing saved.
fn find_block(
    conn: &Connection,
    now_ms: i64,
    as_of: Option<&mut AsOf>,
) -> rusqlite::Result<Option<Block>> {
    let look_back = (now_ms - 8 * 24 * HOUR_MS).div_euclid(BUCKET_MS);
    let responses_ms = as_of.as_deref().map_or(now_ms, AsOf::responses_ms);
    let now_bucket = responses_ms.div_euclid(BUCKET_MS);
    let anchor: Option<i64> = match as_of.as_deref() {
        Some(as_of) => as_of.anchor,
        None => conn
            .prepare_cached("SELECT bucket FROM block_anchor")?
            .query_row([], |r| r.get(0))
            .optional()?,
    };
    let since = anchor
        .filter(|b| *b >= look_back && (as_of.is_none() || *b <= now_bucket))
        .unwrap_or(look_back);
    let before = if as_of.is_some() {
        now_bucket
    } else {
        i64::MAX
    };
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, min(first_ts), max(last_ts) FROM usage_rollup
         WHERE bucket >= ?1 AND bucket < ?2
         GROUP BY bucket ORDER BY bucket",
    )?;
    let mut activity = stmt
        .query_map([since, before], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<(i64, i64, i64)>>>()?;
    if as_of.is_some() {
        let (first, last): (Option<i64>, Option<i64>) = conn
            .prepare_cached(
                "SELECT min(ts_ms), max(ts_ms) FROM usage WHERE ts_ms >= ?1 AND ts_ms <= ?2",
            )?
            .query_row([now_bucket * BUCKET_MS, responses_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        activity.extend(first.zip(last).map(|(f, l)| (now_bucket, f, l)));
    }
    let Some((latest, members)) = group_blocks(activity, |&(_, first, last)| (first, last)).pop()
    else {
        return Ok(None);
    };
    let (first_bucket, first_ts, _) = members[0];
    match as_of {
        Some(as_of) => as_of.anchor = Some(first_bucket),
        None if anchor != Some(first_bucket) => {
            // Only a shortcut for later calls: a store that cannot take the write still answers.
            let _ = conn
                .prepare_cached(
                    "INSERT INTO block_anchor (id, bucket, first_ts) VALUES (1, ?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET bucket = excluded.bucket, first_ts = excluded.first_ts",
                )
                .and_then(|mut stmt| stmt.execute([first_bucket, first_ts]));
        }
        None => {}
    }
    Ok(Some(latest).filter(|b| b.is_active(now_ms)))
}

/// Token, message and cost sums of some responses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct Totals {
    /// API responses.
    pub messages: u64,
    /// Their tokens.
    pub tokens: Tokens,
    /// Cost of the priced ones, USD.
    pub cost_usd: f64,
    /// Responses of models with no price: their cost is unknown, not in `cost_usd`.
    pub unpriced: u64,
}

impl Totals {
    /// The cost, or `None` when no response had a price (unknown, not zero).
    pub fn cost(&self) -> Option<f64> {
        (self.unpriced == 0 || self.unpriced < self.messages).then_some(self.cost_usd)
    }
}

impl AddAssign<&Totals> for Totals {
    fn add_assign(&mut self, other: &Totals) {
        self.messages += other.messages;
        self.tokens.input += other.tokens.input;
        self.tokens.output += other.tokens.output;
        self.tokens.cache_write_5m += other.tokens.cache_write_5m;
        self.tokens.cache_write_1h += other.tokens.cache_write_1h;
        self.tokens.cache_read += other.tokens.cache_read;
        self.cost_usd += other.cost_usd;
        self.unpriced += other.unpriced;
    }
}

/// Where the rows of a window come from: the 15-minute buckets up to its first whole hour,
/// the hours up to its first whole UTC day, then whole days; for a window with an end, whole
/// hours after its last whole day, then buckets up to the end. A zone such as UTC+05:30 starts
/// its days mid-hour, and any zone but UTC mid-day.
#[derive(Debug, Clone, Copy)]
struct Cover {
    /// The pieces in time order: the grain (0 buckets, 1 hours, 2 days) and the key range
    /// `[first, end)`; empty ones are skipped.
    pieces: [(usize, (i64, i64)); 5],
}

impl Cover {
    /// The window `[start_ms, end_ms)`, or from `start_ms` on (`end_ms` on a bucket edge).
    fn new(start_ms: i64, end_ms: Option<i64>) -> Self {
        const NONE: (usize, (i64, i64)) = (0, (0, 0));
        let first_bucket = start_ms.div_euclid(BUCKET_MS);
        let hour = (start_ms + HOUR_MS - 1).div_euclid(HOUR_MS);
        let day = (hour + 23).div_euclid(24);
        let Some(end_ms) = end_ms else {
            return Self {
                pieces: [
                    (0, (first_bucket, hour * 4)),
                    (1, (hour, day * 24)),
                    (2, (day, i64::MAX)),
                    NONE,
                    NONE,
                ],
            };
        };
        let end_bucket = end_ms.div_euclid(BUCKET_MS);
        let end_hour = end_ms.div_euclid(HOUR_MS);
        let end_day = end_hour.div_euclid(24);
        let pieces = if hour >= end_hour {
            [(0, (first_bucket, end_bucket)), NONE, NONE, NONE, NONE]
        } else if day >= end_day {
            [
                (0, (first_bucket, hour * 4)),
                (1, (hour, end_hour)),
                (0, (end_hour * 4, end_bucket)),
                NONE,
                NONE,
            ]
        } else {
            [
                (0, (first_bucket, hour * 4)),
                (1, (hour, day * 24)),
                (2, (day, end_day)),
                (1, (end_day * 24, end_hour)),
                (0, (end_hour * 4, end_bucket)),
            ]
        };
        Self { pieces }
    }
}

/// A window of the snapshot that rollup rows are added to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Span {
    Block,
    Day,
    Week,
}

/// The windows of a snapshot and the rollup rows each is summed from: the block from its hours
/// (it starts on the hour), the day and the week each by its [`Cover`]. A row that serves two
/// windows is read once for each, so a week costs ~8 rows per model and project, not ~170.
/// Read as of a moment of the past, each ends at the moment's bucket, and the rows from the
/// start of that bucket to the moment (`tail`) are read from the responses and events.
struct Windows {
    block: Option<Cover>,
    day: Cover,
    week: Cover,
    /// `[first, end)` ms of the raw rows read as of a moment.
    tail: Option<(i64, i64)>,
}

impl Windows {
    /// The windows of `block` (none read when no block is running), and of the day and the
    /// week that start at these times; read up to `as_of_ms` when given.
    fn new(block: Option<Block>, day_start: i64, week_start: i64, as_of_ms: Option<i64>) -> Self {
        let bucket_start = as_of_ms.map(|at| at - at.rem_euclid(BUCKET_MS));
        Self {
            block: block.map(|b| Cover::new(b.start_ms, Some(bucket_start.unwrap_or(b.end_ms)))),
            day: Cover::new(day_start, bucket_start),
            week: Cover::new(week_start, bucket_start),
            tail: bucket_start
                .zip(as_of_ms)
                .map(|(first, at)| (first, at + 1)),
        }
    }

    /// The windows read: the block only while one runs.
    fn spans(&self) -> impl Iterator<Item = Span> {
        [Span::Block, Span::Day, Span::Week]
            .into_iter()
            .filter(|span| *span != Span::Block || self.block.is_some())
    }

    /// Each non-empty piece: the window, the grain (0 buckets, 1 hours, 2 days) and the key
    /// range `[first, end)`.
    fn pieces(&self) -> impl Iterator<Item = (Span, usize, (i64, i64))> {
        let cover = |span, cover: Option<Cover>| {
            cover
                .into_iter()
                .flat_map(|c| c.pieces)
                .map(move |(grain, range)| (span, grain, range))
        };
        cover(Span::Block, self.block)
            .chain(cover(Span::Day, Some(self.day)))
            .chain(cover(Span::Week, Some(self.week)))
            .filter(|(_, _, (first, end))| first < end)
    }
}

/// One kind of rollup (usage or activity) at its three grains.
struct Rollups {
    /// Table and key column by grain: 15-minute buckets, hours, UTC days.
    tables: [(&'static str, &'static str); 3],
    /// The columns read after `project`.
    columns: &'static str,
    /// The same columns, of one raw row (a response or an event).
    raw_columns: &'static str,
    /// The raw rows' table and the condition they meet, before `AND`-ed others.
    raw_from: &'static str,
}

impl Rollups {
    const USAGE: Self = Self {
        tables: [
            ("usage_rollup", "bucket"),
            ("usage_hourly", "hour"),
            ("usage_daily", "day"),
        ],
        columns: "model, messages, input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                  cache_read_tokens, cost_usd, unpriced, unpriced_tokens",
        raw_columns: "model, 1, input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                      cache_read_tokens, coalesce(cost_usd, 0.0), cost_usd IS NULL,
                      CASE WHEN cost_usd IS NULL THEN input_tokens + output_tokens
                           + cache_write_5m + cache_write_1h + cache_read_tokens ELSE 0 END",
        raw_from: "usage WHERE 1",
    };

    const ACTIVITY: Self = Self {
        tables: [
            ("event_rollup", "bucket"),
            ("event_hourly", "hour"),
            ("event_daily", "day"),
        ],
        columns: "tool_calls, prompts",
        raw_columns: "event = 'PreToolUse', event = 'UserPromptSubmit'",
        raw_from: "events WHERE event IN ('PreToolUse', 'UserPromptSubmit')",
    };

    /// Calls `add(span, row)` for each rollup row of each piece of `windows`: `project`, then
    /// the [`Rollups::columns`]; then, read as of a moment, for each raw row of its tail and
    /// each window. One simple range scan per piece, summed here: compiling the
    /// grouped query over all pieces that this replaced cost SQLite more than running it
    /// (both kinds: ~0.9M instructions, a fifth of a hook call; the snapshot went from 1.73M
    /// to 0.76M instructions).
    fn scan(
        &self,
        conn: &Connection,
        windows: &Windows,
        mut add: impl FnMut(Span, &rusqlite::Row<'_>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let sql = self.tables.map(|(table, key)| {
            format!(
                "SELECT project, {} FROM {table} WHERE {key} >= ?1 AND {key} < ?2",
                self.columns
            )
        });
        for (span, grain, (first, end)) in windows.pieces() {
            let mut stmt = conn.prepare_cached(&sql[grain])?;
            let mut rows = stmt.query([first, end])?;
            while let Some(row) = rows.next()? {
                add(span, row)?;
            }
        }
        if let Some((first, end)) = windows.tail {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT project, {} FROM {} AND ts_ms >= ?1 AND ts_ms < ?2",
                self.raw_columns, self.raw_from
            ))?;
            let mut rows = stmt.query([first, end])?;
            while let Some(row) = rows.next()? {
                for span in windows.spans() {
                    add(span, row)?;
                }
            }
        }
        Ok(())
    }

    /// A query of `select` (sums over [`Rollups::columns`]) on one session's rows of `table`
    /// (the 15-minute rollup), then `group`: all of them, or, read as of a moment, those before
    /// its bucket and the raw rows from there to the moment.
    fn of_session(&self, select: &str, table: &str, group: &str, windows: &Windows) -> String {
        match windows.tail {
            None => format!("SELECT {select} FROM {table} WHERE session_id = ?1{group}"),
            Some(_) => format!(
                "SELECT {select} FROM (
                     SELECT {} FROM {table} WHERE session_id = ?1 AND bucket < ?2
                     UNION ALL
                     SELECT {} FROM {} AND session_id = ?1 AND ts_ms >= ?3 AND ts_ms < ?4){group}",
                self.columns, self.raw_columns, self.raw_from
            ),
        }
    }

    /// Runs a query of [`Rollups::of_session`].
    fn of_session_query<'s>(
        stmt: &'s mut rusqlite::CachedStatement<'_>,
        session: &str,
        windows: &Windows,
    ) -> rusqlite::Result<rusqlite::Rows<'s>> {
        match windows.tail {
            None => stmt.query([session]),
            Some((first, end)) => stmt.query(rusqlite::params![
                session,
                first.div_euclid(BUCKET_MS),
                first,
                end
            ]),
        }
    }
}

const SUMS: &str = "sum(messages), sum(input_tokens), sum(output_tokens), sum(cache_write_5m),
                    sum(cache_write_1h), sum(cache_read_tokens), sum(cost_usd), sum(unpriced)";

/// Reads [`Totals`] from 8 columns starting at `first`: messages, input, output, 5-minute and
/// 1-hour cache writes, cache reads, cost (of the priced ones), unpriced messages.
pub fn totals_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Totals> {
    let n = |i: usize| -> rusqlite::Result<u64> {
        Ok(row.get::<_, Option<i64>>(first + i)?.unwrap_or(0).max(0) as u64)
    };
    Ok(Totals {
        messages: n(0)?,
        tokens: Tokens {
            input: n(1)?,
            output: n(2)?,
            cache_write_5m: n(3)?,
            cache_write_1h: n(4)?,
            cache_read: n(5)?,
        },
        cost_usd: row.get::<_, Option<f64>>(first + 6)?.unwrap_or(0.0),
        unpriced: n(7)?,
    })
}

/// Computes the usage figures for `session` in `project` at `now_ms`.
pub fn snapshot(
    conn: &Connection,
    calendar: &Calendar,
    session: &str,
    project: &str,
    now_ms: i64,
) -> rusqlite::Result<Usage> {
    snapshot_at(conn, calendar, session, project, now_ms, None)
}

/// The usage figures for `session` in `project` as they were at `as_of.at_ms`, whatever the
/// store holds from later: what [`snapshot`] answered then (the responses and events up to
/// and including that moment). Moves `as_of.anchor` to the block found.
pub fn snapshot_as_of(
    conn: &Connection,
    calendar: &Calendar,
    session: &str,
    project: &str,
    as_of: &mut AsOf,
) -> rusqlite::Result<Usage> {
    snapshot_at(conn, calendar, session, project, as_of.at_ms, Some(as_of))
}

fn snapshot_at(
    conn: &Connection,
    calendar: &Calendar,
    session: &str,
    project: &str,
    now_ms: i64,
    as_of: Option<&mut AsOf>,
) -> rusqlite::Result<Usage> {
    let bounded = as_of.is_some();
    let responses_ms = as_of.as_deref().map(AsOf::responses_ms);
    let block = find_block(conn, now_ms, as_of)?;
    let (block_start, block_end) = match block {
        Some(b) => (b.start_ms, b.end_ms),
        None => {
            let start = now_ms - now_ms.rem_euclid(HOUR_MS);
            (start, start + BLOCK_MS)
        }
    };
    let day_start = calendar.day_start(now_ms);
    let week_start = calendar.week_start(now_ms);
    // Read as of a moment, the responses may stop earlier than the events.
    let windows = Windows::new(block, day_start, week_start, responses_ms);
    let event_windows = Windows::new(block, day_start, week_start, bounded.then_some(now_ms));

    let mut usage = Usage {
        block: BlockWindow {
            start: Some(rfc3339(block_start)),
            end: Some(rfc3339(block_end)),
            active: block.is_some(),
            ..BlockWindow::default()
        },
        day: PeriodWindow {
            start: Some(rfc3339(day_start)),
            end: Some(rfc3339(day_start + 24 * HOUR_MS)),
            ..PeriodWindow::default()
        },
        week: PeriodWindow {
            start: Some(rfc3339(week_start)),
            end: Some(rfc3339(week_start + 7 * 24 * HOUR_MS)),
            ..PeriodWindow::default()
        },
        ..Usage::default()
    };

    Rollups::USAGE.scan(conn, &windows, |span, row| {
        let in_project = row.get_ref(0)?.as_str()? == project;
        let model = row.get_ref(1)?.as_str()?;
        let sums = totals_at(row, 2)?;
        let unpriced_tokens = row.get::<_, i64>(10)?.max(0) as u64;
        for window in totals_of(&mut usage, span, in_project)
            .into_iter()
            .flatten()
        {
            add_usage(window, &sums, unpriced_tokens, model);
        }
        if span != Span::Day {
            for split in [
                split_of(&mut usage.by_model, model),
                split_of(&mut usage.by_family, family(model)),
            ] {
                let window = if span == Span::Block {
                    &mut split.block
                } else {
                    &mut split.week
                };
                add_usage(window, &sums, unpriced_tokens, model);
            }
        }
        Ok(())
    })?;
    usage
        .by_model
        .retain(|_, s| s.block.messages + s.week.messages > 0);
    usage
        .by_family
        .retain(|_, s| s.block.messages + s.week.messages > 0);

    let mut stmt = conn.prepare_cached(&Rollups::USAGE.of_session(
        &format!("model, {SUMS}, sum(unpriced_tokens)"),
        "usage_rollup",
        " GROUP BY model",
        &windows,
    ))?;
    let mut rows = Rollups::of_session_query(&mut stmt, session, &windows)?;
    while let Some(row) = rows.next()? {
        let unpriced_tokens = row.get::<_, i64>(9)?.max(0) as u64;
        add_usage(
            &mut usage.session,
            &totals_at(row, 1)?,
            unpriced_tokens,
            row.get_ref(0)?.as_str()?,
        );
    }
    drop(rows);

    Rollups::ACTIVITY.scan(conn, &event_windows, |span, row| {
        let in_project = row.get_ref(0)?.as_str()? == project;
        let (calls, prompts) = (row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64);
        for window in totals_of(&mut usage, span, in_project)
            .into_iter()
            .flatten()
        {
            add_activity(window, calls, prompts);
        }
        Ok(())
    })?;
    let mut stmt = conn.prepare_cached(&Rollups::ACTIVITY.of_session(
        "sum(tool_calls), sum(prompts)",
        "event_rollup",
        "",
        &event_windows,
    ))?;
    let mut rows = Rollups::of_session_query(&mut stmt, session, &event_windows)?;
    let (calls, prompts): (Option<i64>, Option<i64>) = match rows.next()? {
        Some(r) => (r.get(0)?, r.get(1)?),
        None => (None, None),
    };
    add_activity(
        &mut usage.session,
        calls.unwrap_or(0) as u64,
        prompts.unwrap_or(0) as u64,
    );
    Ok(usage)
}

/// The entry of `key` in `splits`, created when missing (without allocating when present: it
/// is looked up for every rollup row).
fn split_of<'a>(
    splits: &'a mut BTreeMap<String, FamilyWindows>,
    key: &str,
) -> &'a mut FamilyWindows {
    if !splits.contains_key(key) {
        splits.insert(key.to_owned(), FamilyWindows::default());
    }
    splits.get_mut(key).expect("inserted above")
}

/// The totals a rollup row of `span` adds to: the block's, the day's, or the week's and, for a
/// row of this project, the project's.
fn totals_of(usage: &mut Usage, span: Span, in_project: bool) -> [Option<&mut Window>; 2] {
    match span {
        Span::Block => [Some(&mut usage.block.totals), None],
        Span::Day => [Some(&mut usage.day.totals), None],
        Span::Week => [
            Some(&mut usage.week.totals),
            in_project.then_some(&mut usage.project),
        ],
    }
}

/// The live context of `session`: the latest main-chain response's prompt size (or what a
/// compaction left), against the session's context window: as Claude Code reported it to the
/// status line for this model, else the price table's, else as Claude Code reported it for the
/// model in another session, else 200k; 1M when the context is already past that.
pub fn context(conn: &Connection, pricing: &Pricing, session: &str) -> rusqlite::Result<Context> {
    let row: Option<(Option<String>, Option<i64>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT model, context_tokens, context_ts FROM sessions WHERE session_id = ?1",
        )?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (model, tokens, context_ms) = row.unwrap_or_default();
    let tokens = tokens.unwrap_or(0).max(0) as u64;
    let model = model.unwrap_or_default();
    context_of(conn, pricing, session, model, tokens, context_ms, i64::MAX)
}

/// The context of `session` as it was at `at_ms`: its last main-conversation response before
/// then (before any, the session's model and no tokens). The window is today's.
pub fn context_as_of(
    conn: &Connection,
    pricing: &Pricing,
    session: &str,
    at_ms: i64,
) -> rusqlite::Result<Context> {
    match main_response_before(conn, session, at_ms)? {
        Some(latest) => {
            let t = &latest.tokens;
            let tokens = t.input + t.cache_write() + t.cache_read;
            let at = Some(latest.ts_ms);
            context_of(conn, pricing, session, latest.model, tokens, at, at_ms)
        }
        None => {
            let model: Option<String> = conn
                .prepare_cached("SELECT model FROM sessions WHERE session_id = ?1")?
                .query_row([session], |r| r.get(0))
                .optional()?
                .flatten();
            context_of(
                conn,
                pricing,
                session,
                model.unwrap_or_default(),
                0,
                None,
                at_ms,
            )
        }
    }
}

/// The context of `session` on `model` holding `tokens`, from its response at `context_ms`,
/// with the cache writes up to `until_ms`.
fn context_of(
    conn: &Connection,
    pricing: &Pricing,
    session: &str,
    model: String,
    tokens: u64,
    context_ms: Option<i64>,
    until_ms: i64,
) -> rusqlite::Result<Context> {
    let limit = match crate::store::observe::context_window(conn, session, &model)? {
        Some(observed) => observed,
        None => {
            let assumed = match pricing.context(&model) {
                Some(table) => table,
                None => crate::store::observe::model_window(conn, &model)?
                    .unwrap_or(crate::pricing::DEFAULT_CONTEXT),
            };
            // A context past the usual window is an extended one (the `[1m]` variants).
            if tokens > assumed {
                assumed.max(1_000_000)
            } else {
                assumed
            }
        }
    };
    let cache = match context_ms {
        Some(ms) => Some(context_cache(conn, pricing, session, &model, ms, until_ms)?),
        None => None,
    };
    Ok(Context {
        tokens,
        limit,
        model: (!model.is_empty()).then_some(model),
        pending_tokens: 0,
        cache,
    })
}

/// How long the prompt cache keeps a 5-minute cache write after its last use, ms.
pub const CACHE_5M_MS: i64 = 5 * 60_000;

/// How long it keeps a 1-hour cache write, ms.
pub const CACHE_1H_MS: i64 = 3_600_000;

/// The prompt cache of `session`'s main conversation, whose context dates from `context_ms`:
/// its lifetime is that of the session's latest cache write up to `until_ms`, at `model`'s
/// prices.
fn context_cache(
    conn: &Connection,
    pricing: &Pricing,
    session: &str,
    model: &str,
    context_ms: i64,
    until_ms: i64,
) -> rusqlite::Result<ContextCache> {
    let one_hour: bool = conn
        .prepare_cached(
            "SELECT cache_write_1h > 0 FROM usage
             WHERE session_id = ?1 AND ts_ms < ?2 AND sidechain = 0 AND agent_id IS NULL
               AND cache_write_5m + cache_write_1h > 0
             ORDER BY ts_ms DESC LIMIT 1",
        )?
        .query_row(rusqlite::params![session, until_ms], |r| r.get(0))
        .optional()?
        .unwrap_or(false);
    let price = pricing.price(model);
    Ok(ContextCache {
        last_response_at: rfc3339(context_ms),
        lifetime_s: (if one_hour { CACHE_1H_MS } else { CACHE_5M_MS }) as u64 / 1000,
        write_usd_per_mtok: price.map(|p| {
            if one_hour {
                p.cache_write_1h
            } else {
                p.cache_write_5m
            }
        }),
        read_usd_per_mtok: price.map(|p| p.cache_read),
    })
}

/// A model seen in the store: its responses, and how many had no price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSeen {
    /// The model id.
    pub model: String,
    /// Its responses.
    pub messages: u64,
    /// Those without a price.
    pub unpriced: u64,
}

/// Every model the store has responses of, by name.
pub fn models_seen(conn: &Connection) -> rusqlite::Result<Vec<ModelSeen>> {
    conn.prepare(
        "SELECT model, sum(messages), sum(unpriced) FROM usage_daily GROUP BY model
         HAVING sum(messages) > 0 ORDER BY model",
    )?
    .query_map([], |r| {
        Ok(ModelSeen {
            model: r.get(0)?,
            messages: r.get::<_, i64>(1)?.max(0) as u64,
            unpriced: r.get::<_, i64>(2)?.max(0) as u64,
        })
    })?
    .collect()
}

/// One main-conversation response (not a subagent's, not a sidechain's).
#[derive(Debug, Clone, PartialEq)]
pub struct MainResponse {
    /// Its session.
    pub session_id: String,
    /// Its project.
    pub project: String,
    /// When, Unix ms.
    pub ts_ms: i64,
    /// Its model.
    pub model: String,
    /// Its tokens.
    pub tokens: Tokens,
}

/// The main-conversation responses in `selection`, by session, then in order.
pub fn main_responses(
    conn: &Connection,
    selection: &Selection<'_>,
) -> rusqlite::Result<Vec<MainResponse>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT session_id, project, ts_ms, model, input_tokens, output_tokens, cache_write_5m,
                cache_write_1h, cache_read_tokens
         FROM usage
         WHERE sidechain = 0 AND agent_id IS NULL AND {SELECTED}
         ORDER BY session_id, ts_ms, id"
    ))?;
    let (since, until, projects) = selection.params();
    let rows = stmt.query_map(rusqlite::params![since, until, projects], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        Ok(MainResponse {
            session_id: r.get(0)?,
            project: r.get(1)?,
            ts_ms: r.get(2)?,
            model: r.get(3)?,
            tokens: Tokens {
                input: n(4)?,
                output: n(5)?,
                cache_write_5m: n(6)?,
                cache_write_1h: n(7)?,
                cache_read: n(8)?,
            },
        })
    })?;
    rows.collect()
}

/// `session`'s last main-conversation response before `ts_ms`.
pub fn main_response_before(
    conn: &Connection,
    session: &str,
    ts_ms: i64,
) -> rusqlite::Result<Option<MainResponse>> {
    conn.prepare_cached(
        "SELECT ts_ms, input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                cache_read_tokens, project, model
         FROM usage
         WHERE session_id = ?1 AND ts_ms < ?2 AND sidechain = 0 AND agent_id IS NULL
         ORDER BY ts_ms DESC LIMIT 1",
    )?
    .query_row(rusqlite::params![session, ts_ms], |r| {
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
        Ok(MainResponse {
            session_id: session.to_owned(),
            project: r.get(6)?,
            ts_ms: r.get(0)?,
            model: r.get(7)?,
            tokens: Tokens {
                input: n(1)?,
                output: n(2)?,
                cache_write_5m: n(3)?,
                cache_write_1h: n(4)?,
                cache_read: n(5)?,
            },
        })
    })
    .optional()
}

/// Token and cost totals of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelTotal {
    /// Model id.
    pub model: String,
    /// API responses.
    pub messages: i64,
    /// Input tokens.
    pub input: i64,
    /// Output tokens.
    pub output: i64,
    /// Cache-write tokens.
    pub cache_write: i64,
    /// Cache-read tokens.
    pub cache_read: i64,
    /// Cost, `None` when the model has no price.
    pub cost_usd: Option<f64>,
}

/// Each model's totals over every response, by model.
pub fn model_totals(conn: &Connection) -> rusqlite::Result<Vec<ModelTotal>> {
    conn.prepare(
        "SELECT model, count(*), sum(input_tokens), sum(output_tokens),
                sum(cache_write_5m + cache_write_1h), sum(cache_read_tokens),
                CASE WHEN count(cost_usd) = count(*) THEN sum(cost_usd) END
         FROM usage GROUP BY model ORDER BY model",
    )?
    .query_map([], |r| {
        Ok(ModelTotal {
            model: r.get(0)?,
            messages: r.get(1)?,
            input: r.get(2)?,
            output: r.get(3)?,
            cache_write: r.get(4)?,
            cache_read: r.get(5)?,
            cost_usd: r.get(6)?,
        })
    })?
    .collect()
}

/// The prompt (input and cache tokens) of each main-conversation response: (Unix ms, tokens),
/// oldest first.
pub fn main_prompt_sizes(conn: &Connection) -> rusqlite::Result<Vec<(i64, i64)>> {
    conn.prepare(
        "SELECT ts_ms, input_tokens + cache_write_5m + cache_write_1h + cache_read_tokens
         FROM usage WHERE sidechain = 0 ORDER BY ts_ms",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::ingest::{Entry, store_entry};
    use chrono::Weekday;

    const T0: i64 = 1_794_448_800_000; // 2026-11-12T02:00:00Z, a Thursday

    /// One response of `model` at `ts_ms` in `session` (project `/p`).
    pub(crate) fn entry(id: &str, ts_ms: i64, session: &str, model: &str, output: u64) -> Entry {
        Entry {
            message_id: id.into(),
            request_id: format!("r-{id}"),
            ts_ms,
            session_id: session.into(),
            project: "/p".into(),
            model: model.into(),
            sidechain: false,
            agent_id: None,
            tokens: Tokens {
                input: 10,
                output,
                cache_write_5m: 100,
                cache_write_1h: 0,
                cache_read: 1000,
            },
        }
    }

    /// A store holding `entries`.
    pub(crate) fn store_with(entries: &[Entry]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let pricing = Pricing::bundled();
        store
            .write(|tx| {
                for e in entries {
                    store_entry(tx, &pricing, e)?;
                }
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    const MIN: i64 = 60_000;

    #[test]
    fn blocks_follow_ccusage_rules() {
        // 02:10 starts a block at 02:00; 06:50 is within 5 h of the start; 07:05 is past the
        // end (a new block at 07:00); 13:00 follows a gap of more than 5 h.
        let at = |m: i64| T0 + m * MIN;
        let b = blocks([
            (at(10), at(20)),
            (at(290), at(290)),
            (at(305), at(306)),
            (at(660), at(661)),
        ]);
        let starts: Vec<i64> = b.iter().map(|b| (b.start_ms - T0) / MIN).collect();
        assert_eq!(starts, vec![0, 300, 660]);
        assert_eq!(b[0].last_ms, at(290));
        assert!(b[2].is_active(at(700)));
        assert!(!b[2].is_active(at(660 + 301)), "5 h after the last message");
    }

    #[test]
    fn snapshot_splits_windows_models_and_families() {
        let (_dir, store) = store_with(&[
            entry("a", T0 + 5 * MIN, "s1", "claude-opus-4-5-20251101", 50),
            entry("b", T0 + 65 * MIN, "s1", "claude-haiku-4-5-20251001", 7),
            entry(
                "c",
                T0 - 30 * HOUR_MS,
                "s0",
                "claude-opus-4-5-20251101",
                1000,
            ),
        ]);
        let calendar = Calendar {
            zone: Some(chrono_tz::UTC),
            ..Calendar::default()
        };
        let now = T0 + 2 * HOUR_MS;
        let usage = snapshot(store.conn(), &calendar, "s1", "/p", now).unwrap();
        assert!(usage.block.active);
        assert_eq!(usage.block.start.as_deref(), Some("2026-11-12T02:00:00Z"));
        assert_eq!(usage.block.totals.output_tokens, 57);
        assert_eq!(usage.session.output_tokens, 57);
        assert_eq!(usage.day.totals.output_tokens, 57);
        assert_eq!(
            usage.week.totals.output_tokens, 1057,
            "Monday-based week holds both days"
        );
        assert_eq!(usage.by_family["opus"].block.output_tokens, 50);
        assert_eq!(usage.by_family["opus"].week.output_tokens, 1050);
        assert_eq!(usage.by_model["claude-haiku-4-5-20251001"].week.messages, 1);
        assert_eq!(usage.block.totals.total_tokens, 2 * 1110 + 57);
        assert!(usage.block.totals.cost_usd > 0.0);
        assert_eq!(usage.block.totals.unpriced_messages, 0);
    }

    #[test]
    fn no_block_after_a_long_pause() {
        let (_dir, store) = store_with(&[entry("a", T0, "s1", "claude-opus-4-5", 5)]);
        let usage = snapshot(
            store.conn(),
            &Calendar::default(),
            "s1",
            "/p",
            T0 + 6 * HOUR_MS,
        )
        .unwrap();
        assert!(!usage.block.active);
        assert_eq!(usage.block.totals, Window::default());
        assert!(usage.by_family["opus"].block.messages == 0);
    }

    #[test]
    fn unknown_models_count_as_unpriced() {
        let (_dir, store) = store_with(&[
            entry("a", T0, "s1", "mystery-model", 5),
            entry("b", T0 + MIN, "s1", "claude-opus-5-5", 5),
            entry("c", T0 + 2 * MIN, "s1", "another-mystery", 7),
        ]);
        let calendar = Calendar {
            zone: Some(chrono_tz::UTC),
            ..Calendar::default()
        };
        let usage = snapshot(store.conn(), &calendar, "s1", "/p", T0 + 3 * MIN).unwrap();
        for window in [
            &usage.session,
            &usage.block.totals,
            &usage.day.totals,
            &usage.week.totals,
        ] {
            assert_eq!(window.unpriced_messages, 2);
            assert_eq!(window.unpriced_tokens, 1115 + 1117);
            assert_eq!(window.unpriced_models, ["another-mystery", "mystery-model"]);
            assert!(window.cost_usd > 0.0, "the priced part is kept");
        }
        let opus = &usage.by_model["claude-opus-5-5"].block;
        assert_eq!((opus.unpriced_tokens, opus.unpriced_messages), (0, 0));
    }

    #[test]
    fn context_windows_as_claude_code_reports_them_else_the_table() {
        let (_dir, mut store) = store_with(&[]);
        let pricing = Pricing::bundled();
        let session = |store: &mut Store, id: &str, model: &str, tokens: i64| {
            store
                .write(|tx| {
                    tx.execute(
                        "INSERT INTO sessions (session_id, model, context_tokens, context_ts)
                         VALUES (?1, ?2, ?3, 0)",
                        rusqlite::params![id, model, tokens],
                    )
                })
                .unwrap();
        };
        let seen = |store: &mut Store, id: &str, model: &str, window: u64| {
            let input = serde_json::json!({"session_id": id, "model": {"id": model},
                "context_window": {"context_window_size": window}});
            let observation = crate::store::observe::Observation::from_status_input(&input, T0);
            store.write(|tx| observation.record(tx)).unwrap();
        };
        let limit = |store: &Store, id: &str| context(store.conn(), &pricing, id).unwrap().limit;
        // The current models: 1M from the table; older ones 200k, 1M once past it.
        session(&mut store, "opus55", "claude-opus-5-5", 170_000);
        session(&mut store, "opus46", "claude-opus-4-6", 150_000);
        session(&mut store, "opus46-1m", "claude-opus-4-6", 350_000);
        assert_eq!(limit(&store, "opus55"), 1_000_000);
        assert_eq!(limit(&store, "opus46"), 200_000);
        assert_eq!(limit(&store, "opus46-1m"), 1_000_000);
        // What Claude Code reports for the session's model wins (CLAUDE_CODE_DISABLE_1M_CONTEXT).
        seen(&mut store, "opus55", "claude-opus-5-5", 200_000);
        assert_eq!(limit(&store, "opus55"), 200_000);
        // Not when the session has moved to another model since.
        session(&mut store, "switched", "claude-sonnet-5-5", 10);
        seen(&mut store, "switched", "claude-haiku-4-5", 200_000);
        assert_eq!(limit(&store, "switched"), 1_000_000);
        // A model the table does not know: what Claude Code reported for it elsewhere.
        session(&mut store, "next", "claude-next-1", 10);
        assert_eq!(limit(&store, "next"), 200_000);
        seen(&mut store, "other", "claude-next-1", 2_000_000);
        assert_eq!(limit(&store, "next"), 2_000_000);
    }

    /// The cache of a session's context: from its latest response, with the lifetime of its
    /// latest cache write and the model's prices; none before any response.
    #[test]
    fn the_context_cache_follows_the_latest_write() {
        let mut five = entry("a", T0, "s", "claude-opus-4-5", 10);
        five.tokens.cache_write_5m = 100;
        let mut one_hour = entry("b", T0 + 60_000, "s", "claude-opus-4-5", 10);
        (
            one_hour.tokens.cache_write_5m,
            one_hour.tokens.cache_write_1h,
        ) = (0, 500);
        let mut read_only = entry("c", T0 + 120_000, "s", "claude-opus-4-5", 10);
        read_only.tokens.cache_write_5m = 0;
        let pricing = Pricing::bundled();
        let price = pricing.price("claude-opus-4-5").unwrap();

        // The session's latest response, as ingest records it.
        let latest = |store: &Store, ts_ms: i64| {
            store
                .conn()
                .execute(
                    "INSERT OR REPLACE INTO sessions (session_id, model, context_tokens, context_ts)
                     VALUES ('s', 'claude-opus-4-5', 1110, ?1)",
                    [ts_ms],
                )
                .unwrap();
        };
        let (_dir, store) = store_with(std::slice::from_ref(&five));
        latest(&store, T0);
        let cache = context(store.conn(), &pricing, "s").unwrap().cache.unwrap();
        assert_eq!(cache.last_response_at, rfc3339(T0));
        assert_eq!(cache.lifetime_s, 300);
        assert_eq!(cache.write_usd_per_mtok, Some(price.cache_write_5m));
        assert_eq!(cache.read_usd_per_mtok, Some(price.cache_read));

        let (_dir, store) = store_with(&[five, one_hour, read_only]);
        latest(&store, T0 + 120_000);
        let cache = context(store.conn(), &pricing, "s").unwrap().cache.unwrap();
        assert_eq!(cache.last_response_at, rfc3339(T0 + 120_000));
        assert_eq!(cache.lifetime_s, 3600, "the latest write was a 1-hour one");
        assert_eq!(cache.write_usd_per_mtok, Some(price.cache_write_1h));
        assert_eq!(context(store.conn(), &pricing, "none").unwrap().cache, None);
    }

    #[test]
    fn weeks_reset_on_the_configured_day_and_hour() {
        let calendar = Calendar {
            zone: Some(chrono_tz::Europe::Paris),
            week_day: Weekday::Thu,
            week_hour: 9,
        };
        // T0 is Thursday 03:00 in Paris: before the 09:00 reset, so the week began last Thursday.
        let start = calendar.week_start(T0);
        assert_eq!(rfc3339(start), "2026-11-05T08:00:00Z");
        assert_eq!(
            rfc3339(calendar.week_start(T0 + 7 * HOUR_MS)),
            "2026-11-12T08:00:00Z"
        );
        assert_eq!(rfc3339(calendar.day_start(T0)), "2026-11-11T23:00:00Z");
    }

    /// Entries every 7 minutes over 9 days, but for a night's pause of 6 h 3 days before the
    /// end; outputs varying, two projects.
    fn steady_entries(end_ms: i64) -> Vec<Entry> {
        let mut entries = Vec::new();
        let mut ts = end_ms - 9 * 24 * HOUR_MS;
        let mut i = 0;
        let night = end_ms - 3 * 24 * HOUR_MS..end_ms - 3 * 24 * HOUR_MS + 6 * HOUR_MS;
        while ts <= end_ms {
            if night.contains(&ts) {
                ts += 7 * MIN;
                continue;
            }
            let mut e = entry(&format!("m{i}"), ts, "s1", "claude-sonnet-4-5", 1 + i % 17);
            if i % 3 == 0 {
                e.project = "/q".into();
            }
            entries.push(e);
            ts += 7 * MIN;
            i += 1;
        }
        entries
    }

    #[test]
    fn windows_sum_exactly_in_any_zone_at_any_time_of_day() {
        // Zones whose days start mid-hour, mid-UTC-day, or on a UTC day; "now" early and late
        // in a UTC day, and mid-hour.
        for now in [
            T0 + 37 * MIN,
            T0 + 21 * HOUR_MS + 52 * MIN,
            T0 - 2 * HOUR_MS + 5 * MIN,
        ] {
            let entries = steady_entries(now);
            let (_dir, mut store) = store_with(&entries);
            // A tool call and, every fifth, a prompt at each response's time.
            store
                .write(|tx| {
                    for (i, e) in entries.iter().enumerate() {
                        let event = if i % 5 == 0 {
                            "UserPromptSubmit"
                        } else {
                            "PreToolUse"
                        };
                        crate::store::insert_event(
                            tx,
                            &crate::store::EventRow {
                                ts_ms: e.ts_ms,
                                session_id: e.session_id.clone(),
                                project: e.project.clone(),
                                event: event.into(),
                                ..Default::default()
                            },
                        )?;
                    }
                    Ok(())
                })
                .unwrap();
            assert_eq!(crate::store::rollup_mismatches(store.conn()).unwrap(), 0);
            for (zone, week_day, week_hour) in [
                (chrono_tz::Asia::Kolkata, Weekday::Tue, 0),
                (chrono_tz::Asia::Kathmandu, Weekday::Tue, 7),
                (chrono_tz::UTC, Weekday::Tue, 13),
                (chrono_tz::UTC, Weekday::Mon, 0),
                (chrono_tz::America::Los_Angeles, Weekday::Sat, 0),
                (chrono_tz::America::St_Johns, Weekday::Wed, 23),
            ] {
                let calendar = Calendar {
                    zone: Some(zone),
                    week_day,
                    week_hour,
                };
                let usage = snapshot(store.conn(), &calendar, "s1", "/q", now).unwrap();
                let since = |start: i64, end: i64, project: Option<&str>| {
                    let picked: Vec<(usize, &Entry)> = entries
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| e.ts_ms >= start && e.ts_ms < end)
                        .filter(|(_, e)| project.is_none_or(|p| e.project == p))
                        .collect();
                    let output: u64 = picked.iter().map(|(_, e)| e.tokens.output).sum();
                    let prompts = picked.iter().filter(|(i, _)| i % 5 == 0).count() as u64;
                    (output, picked.len() as u64 - prompts, prompts)
                };
                let seen = |w: &Window| (w.output_tokens, w.tool_calls, w.prompts);
                let block = current_block(store.conn(), now).unwrap().unwrap();
                let (day, week) = (calendar.day_start(now), calendar.week_start(now));
                let what = format!("{zone} {week_day} {week_hour}h, now {}", rfc3339(now));
                assert_eq!(
                    seen(&usage.day.totals),
                    since(day, i64::MAX, None),
                    "day: {what}"
                );
                assert_eq!(
                    seen(&usage.week.totals),
                    since(week, i64::MAX, None),
                    "week: {what}"
                );
                assert_eq!(
                    seen(&usage.block.totals),
                    since(block.start_ms, block.end_ms, None),
                    "block: {what}"
                );
                assert_eq!(
                    seen(&usage.project),
                    since(week, i64::MAX, Some("/q")),
                    "project: {what}"
                );
                let week_messages = entries.iter().filter(|e| e.ts_ms >= week).count() as u64;
                assert_eq!(
                    usage.by_family["sonnet"].week.messages, week_messages,
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn a_window_is_covered_by_buckets_hours_and_days() {
        let at = |h: i64, m: i64| 20_000 * 24 * HOUR_MS + h * HOUR_MS + m * MIN;
        let pieces = |cover: Cover| -> Vec<(usize, (i64, i64))> {
            cover
                .pieces
                .into_iter()
                .filter(|(_, (a, b))| a < b)
                .collect()
        };
        let (b, h) = (|ms: i64| ms / BUCKET_MS, |ms: i64| ms / HOUR_MS);
        // Mid-hour, mid-day: two buckets to 07:00, hours to midnight, then days.
        assert_eq!(
            pieces(Cover::new(at(6, 30), None)),
            [
                (0, (b(at(6, 30)), b(at(7, 0)))),
                (1, (h(at(7, 0)), h(at(24, 0)))),
                (2, (20_001, i64::MAX))
            ]
        );
        // On a UTC midnight: days only.
        assert_eq!(
            pieces(Cover::new(at(0, 0), None)),
            [(2, (20_000, i64::MAX))]
        );
        // With an end: days, then the hours and buckets after the last whole day.
        assert_eq!(
            pieces(Cover::new(at(6, 30), Some(at(49, 45)))),
            [
                (0, (b(at(6, 30)), b(at(7, 0)))),
                (1, (h(at(7, 0)), h(at(24, 0)))),
                (2, (20_001, 20_002)),
                (1, (h(at(48, 0)), h(at(49, 0)))),
                (0, (b(at(49, 0)), b(at(49, 45))))
            ]
        );
        // No whole day: one run of hours (a 5-hour block over midnight is one range).
        assert_eq!(
            pieces(Cover::new(at(22, 0), Some(at(27, 0)))),
            [(1, (h(at(22, 0)), h(at(27, 0))))]
        );
        // Within one hour: buckets only.
        assert_eq!(
            pieces(Cover::new(at(6, 15), Some(at(6, 45)))),
            [(0, (b(at(6, 15)), b(at(6, 45))))]
        );
    }

    /// `usage` with its costs rounded to 1e-9 (sums taken in another order differ in the last
    /// bits), as JSON.
    fn rounded(usage: &Usage) -> serde_json::Value {
        fn round(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Number(n) if n.is_f64() => {
                    let x = (n.as_f64().unwrap() * 1e9).round() / 1e9;
                    *value = serde_json::json!(x);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(round),
                serde_json::Value::Object(map) => map.values_mut().for_each(round),
                _ => {}
            }
        }
        let mut value = serde_json::to_value(usage).unwrap();
        round(&mut value);
        value
    }

    /// A snapshot as of T on a store with later rows is the live snapshot at T on a store
    /// holding only the rows up to T: at times mid-bucket, on bucket, hour, day, week and block
    /// edges, in zones whose days start mid-hour, with the walk for the block from 8 days back
    /// and from an anchor found at an earlier moment.
    #[test]
    fn a_snapshot_as_of_a_moment_sees_what_a_live_one_saw_then() {
        let end = T0 + 21 * HOUR_MS + 52 * MIN;
        let mut entries = steady_entries(end);
        for (i, e) in entries.iter_mut().enumerate() {
            if i % 4 == 0 {
                e.session_id = "s2".into();
            }
            if i % 11 == 0 {
                e.model = "mystery-model".into();
            }
        }
        let events = |upto: i64| -> Vec<crate::store::EventRow> {
            entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.ts_ms <= upto)
                .map(|(i, e)| crate::store::EventRow {
                    ts_ms: e.ts_ms + 1,
                    session_id: e.session_id.clone(),
                    project: e.project.clone(),
                    event: if i % 5 == 0 {
                        "UserPromptSubmit"
                    } else {
                        "PreToolUse"
                    }
                    .into(),
                    ..Default::default()
                })
                .filter(|row| row.ts_ms <= upto)
                .collect()
        };
        let with_events = |entries: &[Entry], upto: i64| {
            let (dir, mut store) = store_with(entries);
            store
                .write(|tx| {
                    events(upto)
                        .iter()
                        .try_for_each(|row| crate::store::insert_event(tx, row).map(drop))
                })
                .unwrap();
            (dir, store)
        };
        let (_dir, full) = with_events(&entries, i64::MAX);
        let day = 24 * HOUR_MS;
        let moments = [
            end - 3 * MIN,
            end - 2 * HOUR_MS - 7 * MIN,
            T0 + 22 * HOUR_MS - 24 * HOUR_MS,      // a UTC midnight
            T0 - 2 * HOUR_MS + 15 * MIN,           // on a bucket edge
            T0 - 2 * HOUR_MS + 30 * MIN + 1,       // just past one
            T0 + 3 * HOUR_MS,                      // on an hour
            T0 - 22 * HOUR_MS - 30 * MIN,          // midnight in Kolkata
            end - 3 * day + 6 * HOUR_MS + 5 * MIN, // just after the night's pause
            end - 3 * day + 3 * HOUR_MS,           // inside the pause: no block
            end - 5 * day - 7 * MIN,
        ];
        let mut latest = AsOf {
            responses_until_ms: None,
            at_ms: end,
            anchor: None,
        };
        snapshot_as_of(full.conn(), &Calendar::default(), "s1", "/q", &mut latest).unwrap();
        let latest_anchor = latest.anchor;
        assert!(latest_anchor.is_some());
        let mut chained = AsOf::default();
        let (mut summed, mut late_checked) = (0, 0);
        let mut sorted = moments;
        sorted.sort();
        for (zone, week_day, week_hour) in [
            (chrono_tz::Asia::Kolkata, Weekday::Tue, 0),
            (chrono_tz::UTC, Weekday::Thu, 2),
            (chrono_tz::America::St_Johns, Weekday::Wed, 23),
        ] {
            let calendar = Calendar {
                zone: Some(zone),
                week_day,
                week_hour,
            };
            for at in sorted {
                let upto: Vec<Entry> = entries.iter().filter(|e| e.ts_ms <= at).cloned().collect();
                let (_d, partial) = with_events(&upto, at);
                let what = format!("{zone} at {}", rfc3339(at));
                for session in ["s1", "s2"] {
                    let live = snapshot(partial.conn(), &calendar, session, "/q", at).unwrap();
                    let mut fresh = AsOf {
                        responses_until_ms: None,
                        at_ms: at,
                        anchor: None,
                    };
                    let then =
                        snapshot_as_of(full.conn(), &calendar, session, "/q", &mut fresh).unwrap();
                    assert_eq!(rounded(&then), rounded(&live), "{what}");
                    chained.at_ms = at;
                    let then = snapshot_as_of(full.conn(), &calendar, session, "/q", &mut chained)
                        .unwrap();
                    assert_eq!(rounded(&then), rounded(&live), "anchored: {what}");
                    // An anchor found after the moment (the latest block's start) is not
                    // walked from.
                    if latest_anchor > Some(at.div_euclid(BUCKET_MS)) {
                        let mut late = AsOf {
                            responses_until_ms: None,
                            at_ms: at,
                            anchor: latest_anchor,
                        };
                        let then = snapshot_as_of(full.conn(), &calendar, session, "/q", &mut late)
                            .unwrap();
                        assert_eq!(rounded(&then), rounded(&live), "late anchor: {what}");
                        late_checked += 1;
                    }
                }
                let live = snapshot(partial.conn(), &calendar, "s1", "/q", at).unwrap();
                summed += usize::from(live.block.active && live.day.totals.prompts > 0);
            }
            chained = AsOf::default();
        }
        assert!(summed >= 15, "most moments sum something: {summed}");
        assert!(late_checked >= 20, "{late_checked}");
        let anchor_rows: i64 = full
            .conn()
            .query_row("SELECT count(*) FROM block_anchor", [], |r| r.get(0))
            .unwrap();
        assert_eq!(anchor_rows, 0, "a snapshot as of a moment saves no anchor");
    }

    #[test]
    fn block_anchor_resumes_the_chain_and_is_dropped_by_older_responses() {
        let now = T0 + 37 * MIN;
        let entries = steady_entries(now);
        let (_dir, mut store) = store_with(&entries);
        let anchor = |store: &Store| -> Option<i64> {
            store
                .conn()
                .query_row("SELECT first_ts FROM block_anchor", [], |r| r.get(0))
                .optional()
                .unwrap()
        };
        // ccusage's walk over every message, from the first.
        let walk = |entries: &[Entry]| {
            *blocks(entries.iter().map(|e| (e.ts_ms, e.ts_ms)))
                .last()
                .unwrap()
        };
        let first = current_block(store.conn(), now).unwrap().unwrap();
        assert_eq!(first, walk(&entries));
        let saved = anchor(&store).expect("an anchor is saved");
        assert!(saved >= first.start_ms && saved < first.start_ms + HOUR_MS);

        // Later responses: the walk from the anchor finds what the full walk finds.
        let pricing = Pricing::bundled();
        let later: Vec<Entry> = (0..60)
            .map(|i| {
                entry(
                    &format!("n{i}"),
                    now + (i + 1) * 7 * MIN,
                    "s1",
                    "claude-sonnet-4-5",
                    3,
                )
            })
            .collect();
        store
            .write(|tx| {
                later
                    .iter()
                    .try_for_each(|e| store_entry(tx, &pricing, e).map(drop))
            })
            .unwrap();
        let then = now + 61 * 7 * MIN;
        let resumed = current_block(store.conn(), then).unwrap();
        let all: Vec<Entry> = entries.iter().chain(&later).cloned().collect();
        assert_eq!(resumed, Some(walk(&all)));
        store
            .conn()
            .execute("DELETE FROM block_anchor", [])
            .unwrap();
        assert_eq!(resumed, current_block(store.conn(), then).unwrap());
        assert!(anchor(&store).unwrap() > saved, "the anchor moved forward");

        // A response older than the anchor's first message drops it.
        store
            .write(|tx| {
                store_entry(tx, &pricing, &entry("old", now - HOUR_MS, "s0", "x", 1)).map(drop)
            })
            .unwrap();
        assert_eq!(anchor(&store), None);
    }
}
