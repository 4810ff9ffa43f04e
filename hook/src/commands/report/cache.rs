//! Cache mechanics: per session or day, how much of the main conversation's input came from
//! the prompt cache, and each cache lapse with what it cost.
//!
//! A **lapse** is a response that wrote most of its context to the cache again (cache writes
//! at least half of input + cache writes + cache reads) after an idle gap longer than the
//! cache's lifetime: 5 minutes, or 1 hour when the session's latest cache write was a 1-hour
//! one. What it cost is set against the same tokens read from the cache.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::render::{self, num};
use super::{Filter, Format, Scope};
use crate::pricing::{Pricing, Tokens};
use crate::store::usage::{self, CACHE_1H_MS, CACHE_5M_MS, MainResponse};

/// How `tollgate report cache` groups its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// One row per session, most recent last.
    #[default]
    Session,
    /// One row per day (in --timezone).
    Day,
}

/// Options of `tollgate report cache`.
#[derive(Debug, Clone, clap::Args)]
pub struct CacheArgs {
    /// What a row is: session or day.
    #[arg(long, value_enum, default_value_t = By::Session)]
    pub by: By,
    /// How many of the latest lapses the table lists (JSON and CSV have them all).
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// One session's or day's cache figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRow {
    /// The session id or day.
    pub key: String,
    /// Session rows: its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Last response, Unix ms.
    pub last_ms: i64,
    /// Main-conversation responses.
    pub responses: u64,
    /// All their input: uncached, cache writes and cache reads.
    pub input_tokens: u64,
    /// Of it, read from the cache.
    pub cache_read_tokens: u64,
    /// Of it, written to the cache.
    pub cache_write_tokens: u64,
    /// Cache reads over all input (`None`: no input).
    pub hit_ratio: Option<f64>,
    /// Cache lapses.
    pub lapses: u64,
    /// What the lapses cost beyond reading the same tokens from the cache, USD (`None`: no
    /// lapse had a price).
    pub lapse_extra_usd: Option<f64>,
}

/// One cache lapse.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lapse {
    /// Its session.
    pub session_id: String,
    /// When the response came, Unix ms.
    pub ts_ms: i64,
    /// The idle gap before it, ms.
    pub idle_ms: i64,
    /// The cache lifetime the gap outlasted, ms.
    pub lifetime_ms: i64,
    /// Its model.
    pub model: String,
    /// Its context (input + cache writes + cache reads).
    pub context_tokens: u64,
    /// Tokens it wrote to the cache.
    pub rewritten_tokens: u64,
    /// What the response's input cost (`None`: no price for the model).
    pub cost_usd: Option<f64>,
    /// What it would have cost with the rewritten tokens read from the cache.
    pub as_read_usd: Option<f64>,
    /// The difference.
    pub extra_usd: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheReport {
    /// How rows are grouped.
    pub by: By,
    /// Sessions by last response, or days in order.
    pub rows: Vec<CacheRow>,
    /// Over every row.
    pub totals: CacheRow,
    /// Every lapse, oldest first.
    pub lapses: Vec<Lapse>,
}

impl CacheRow {
    fn add(&mut self, response: &MainResponse) {
        let t = &response.tokens;
        self.last_ms = self.last_ms.max(response.ts_ms);
        self.responses += 1;
        self.input_tokens += t.prompt();
        self.cache_read_tokens += t.cache_read;
        self.cache_write_tokens += t.cache_write();
        self.hit_ratio = (self.input_tokens > 0)
            .then(|| self.cache_read_tokens as f64 / self.input_tokens as f64);
    }

    fn add_lapse(&mut self, lapse: &Lapse) {
        self.lapses += 1;
        if let Some(extra) = lapse.extra_usd {
            *self.lapse_extra_usd.get_or_insert(0.0) += extra;
        }
    }
}

/// The lapse `response` is, if it is one: `previous` is the session's response before it,
/// `lifetime_ms` the cache lifetime in force.
fn lapse(
    pricing: &Pricing,
    response: &MainResponse,
    previous_ms: i64,
    lifetime_ms: i64,
) -> Option<Lapse> {
    let t = &response.tokens;
    let idle_ms = response.ts_ms - previous_ms;
    let rewritten = t.cache_write();
    if idle_ms <= lifetime_ms || rewritten == 0 || rewritten * 2 < t.prompt() {
        return None;
    }
    let input_only = |t: Tokens| Tokens { output: 0, ..t };
    let as_read = Tokens {
        cache_write_5m: 0,
        cache_write_1h: 0,
        cache_read: t.cache_read + rewritten,
        ..*t
    };
    let cost = pricing.cost(&response.model, &input_only(*t));
    let as_read_usd = pricing.cost(&response.model, &input_only(as_read));
    Some(Lapse {
        session_id: response.session_id.clone(),
        ts_ms: response.ts_ms,
        idle_ms,
        lifetime_ms,
        model: response.model.clone(),
        context_tokens: t.prompt(),
        rewritten_tokens: rewritten,
        extra_usd: cost.zip(as_read_usd).map(|(c, r)| c - r),
        cost_usd: cost,
        as_read_usd,
    })
}

/// The cache lifetime after `tokens`' writes, given the one in force before.
fn lifetime_after(tokens: &Tokens, before_ms: i64) -> i64 {
    if tokens.cache_write_1h > 0 {
        CACHE_1H_MS
    } else if tokens.cache_write_5m > 0 {
        CACHE_5M_MS
    } else {
        before_ms
    }
}

/// Builds the report over `filter`.
pub fn build(
    conn: &rusqlite::Connection,
    pricing: &Pricing,
    filter: &Filter,
    by: By,
) -> rusqlite::Result<CacheReport> {
    let responses = usage::main_responses(conn, &filter.selection())?;
    let mut rows: BTreeMap<String, CacheRow> = BTreeMap::new();
    let mut totals = CacheRow {
        key: "Total".into(),
        ..CacheRow::default()
    };
    let mut lapses = Vec::new();
    let mut previous: Option<(&str, i64, i64)> = None; // session, time, lifetime
    for response in &responses {
        let session = response.session_id.as_str();
        let before = match previous {
            Some((s, ts, lifetime)) if s == session => Some((ts, lifetime)),
            _ => usage::main_response_before(conn, session, response.ts_ms)?
                .map(|r| (r.ts_ms, lifetime_after(&r.tokens, CACHE_5M_MS))),
        };
        let key = match by {
            By::Session => session.to_owned(),
            By::Day => filter
                .calendar
                .date(response.ts_ms)
                .format("%Y-%m-%d")
                .to_string(),
        };
        let row = rows.entry(key.clone()).or_insert_with(|| CacheRow {
            key,
            project: (by == By::Session).then(|| response.project.clone()),
            ..CacheRow::default()
        });
        row.add(response);
        totals.add(response);
        let lifetime = before.map_or(CACHE_5M_MS, |(_, l)| l);
        if let Some((previous_ms, _)) = before
            && let Some(lapse) = lapse(pricing, response, previous_ms, lifetime)
        {
            row.add_lapse(&lapse);
            totals.add_lapse(&lapse);
            lapses.push(lapse);
        }
        previous = Some((
            session,
            response.ts_ms,
            lifetime_after(&response.tokens, lifetime),
        ));
    }
    let mut rows: Vec<CacheRow> = rows.into_values().collect();
    if by == By::Session {
        rows.sort_by(|a, b| a.last_ms.cmp(&b.last_ms).then(a.key.cmp(&b.key)));
    }
    lapses.sort_by(|a, b| a.ts_ms.cmp(&b.ts_ms).then(a.session_id.cmp(&b.session_id)));
    Ok(CacheReport {
        by,
        rows,
        totals,
        lapses,
    })
}

/// Runs `tollgate report cache`.
pub fn run(args: &CacheArgs) -> Result<()> {
    let opened = args.scope.open()?;
    let report = build(
        opened.store.conn(),
        &opened.pricing,
        &opened.filter,
        args.by,
    )?;
    if args.format.json {
        render::print_json(&report)
    } else if args.format.csv {
        print_csv(&report, &opened.filter)
    } else {
        print_table(&report, &opened.filter, args.limit);
        Ok(())
    }
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

fn usd(value: Option<f64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), render::usd)
}

fn print_csv(report: &CacheReport, filter: &Filter) -> Result<()> {
    let session = report.by == By::Session;
    let mut header = vec![if session { "session_id" } else { "date" }];
    if session {
        header.extend(["project", "last_activity"]);
    }
    header.extend([
        "responses",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "hit_ratio",
        "lapses",
        "lapse_extra_usd",
    ]);
    let rows = report.rows.iter().map(|row| {
        let mut fields = vec![row.key.clone()];
        if session {
            fields.push(row.project.clone().unwrap_or_default());
            fields.push(filter.local(row.last_ms, "%Y-%m-%dT%H:%M:%S%:z"));
        }
        fields.extend([
            row.responses.to_string(),
            row.input_tokens.to_string(),
            row.cache_read_tokens.to_string(),
            row.cache_write_tokens.to_string(),
            row.hit_ratio.map(|r| r.to_string()).unwrap_or_default(),
            row.lapses.to_string(),
            row.lapse_extra_usd
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ]);
        fields
    });
    render::print_csv(&header, rows)
}

fn print_table(report: &CacheReport, filter: &Filter, limit: usize) {
    if report.rows.is_empty() {
        println!(
            "No usage recorded in this range. Run `tollgate import` to read Claude Code's existing transcripts."
        );
        return;
    }
    let session = report.by == By::Session;
    let mut header = vec![if session { "Session" } else { "Date" }];
    if session {
        header.extend(["Project", "Last activity"]);
    }
    header.extend([
        "Responses",
        "Input (all)",
        "Cache read",
        "Hit ratio",
        "Lapses",
        "Lapses cost extra",
    ]);
    let mut table = crate::term::table::new(header);
    let figures = |row: &CacheRow| {
        vec![
            num(render::count(row.responses)),
            num(render::count(row.input_tokens)),
            num(render::count(row.cache_read_tokens)),
            num(percent(row.hit_ratio)),
            num(render::count(row.lapses)),
            num(if row.lapses == 0 {
                "—".to_owned()
            } else {
                usd(row.lapse_extra_usd)
            }),
        ]
    };
    for row in report.rows.iter().chain([&report.totals]) {
        let mut cells = Vec::new();
        if session {
            cells.push(comfy_table::Cell::new(
                row.key.chars().take(8).collect::<String>(),
            ));
            let project = row.project.as_deref().unwrap_or("");
            cells.push(comfy_table::Cell::new(
                project.rsplit('/').next().unwrap_or(project),
            ));
            cells.push(comfy_table::Cell::new(
                if row.responses > 0 && row.project.is_some() {
                    filter.local(row.last_ms, "%Y-%m-%d %H:%M")
                } else {
                    String::new()
                },
            ));
        } else {
            cells.push(comfy_table::Cell::new(&row.key));
        }
        cells.extend(figures(row));
        table.add_row(cells);
    }
    println!("{table}");
    if report.lapses.is_empty() {
        println!("No cache lapse in this range.");
        return;
    }
    let shown = &report.lapses[report.lapses.len().saturating_sub(limit)..];
    let mut table = crate::term::table::new([
        "Time",
        "Session",
        "Idle",
        "Lifetime",
        "Context",
        "Written again",
        "Cost",
        "As a read",
        "Extra",
    ]);
    for lapse in shown {
        table.add_row([
            comfy_table::Cell::new(filter.local(lapse.ts_ms, "%Y-%m-%d %H:%M")),
            comfy_table::Cell::new(lapse.session_id.chars().take(8).collect::<String>()),
            num(render::minutes(lapse.idle_ms / 60_000)),
            num(render::minutes(lapse.lifetime_ms / 60_000)),
            num(render::count(lapse.context_tokens)),
            num(render::count(lapse.rewritten_tokens)),
            num(usd(lapse.cost_usd)),
            num(usd(lapse.as_read_usd)),
            num(usd(lapse.extra_usd)),
        ]);
    }
    println!(
        "Cache lapses ({} of {}): responses that wrote most of their context to the cache again after an idle gap longer than the cache's lifetime.",
        shown.len(),
        report.lapses.len()
    );
    println!("{table}");
}

#[cfg(test)]
mod tests;
