//! Tokens and cost grouped by day, week, month, session, model or project.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rusqlite::Connection;
use serde_json::{Value, json};

use super::render::{self, num};
use super::{Filter, Format, Scope};
use crate::pricing::Pricing;
use crate::store::BUCKET_MS;
use crate::store::cells::{self, Cell, Grain};
use crate::store::claude_code::{self, SessionCost};
use crate::store::usage::Totals;

/// Options of the daily, monthly, session, models and projects reports.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PeriodArgs {
    /// Show each model's figures under each row (JSON always has them).
    #[arg(long, short)]
    pub breakdown: bool,
    /// Newest first (models and projects are always most expensive first).
    #[arg(long)]
    pub desc: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// Options of the weekly report.
#[derive(Debug, Clone, clap::Args)]
pub struct WeeklyArgs {
    /// The day weeks start on (sunday, as ccusage, or monday … saturday).
    #[arg(long, short = 'w', default_value = "sunday")]
    pub start_of_week: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub period: PeriodArgs,
}

impl WeeklyArgs {
    /// The weekday weeks start on.
    pub fn start(&self) -> Result<Weekday> {
        start_of_week(&self.start_of_week)
    }
}

/// A `--start-of-week` value: `sunday` … `saturday` (or their three-letter forms).
pub fn start_of_week(text: &str) -> Result<Weekday> {
    text.parse().map_err(|_| {
        anyhow::anyhow!("--start-of-week \"{text}\" is not a weekday (sunday, monday, …)")
    })
}

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// By local day.
    Daily,
    /// By local week starting on the given day.
    Weekly(Weekday),
    /// By local month.
    Monthly,
    /// By session.
    Session,
    /// By model.
    Models,
    /// By project.
    Projects,
}

impl View {
    /// The key's column title and its JSON field name; the JSON list's name.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            View::Daily => ("Date", "date", "daily"),
            View::Weekly(_) => ("Week", "week", "weekly"),
            View::Monthly => ("Month", "month", "monthly"),
            View::Session => ("Session", "sessionId", "sessions"),
            View::Models => ("Model", "model", "models"),
            View::Projects => ("Project", "project", "projects"),
        }
    }

    fn grain(self) -> Grain {
        match self {
            View::Daily | View::Weekly(_) | View::Monthly => Grain::Bucket,
            View::Session => Grain::Session,
            View::Models => Grain::Model,
            View::Projects => Grain::Project,
        }
    }

    fn is_time(self) -> bool {
        matches!(self, View::Daily | View::Weekly(_) | View::Monthly)
    }
}

/// One row: a period, session, model or project.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The day (`2026-11-12`), week start, month (`2026-11`), session id, model or project.
    pub key: String,
    /// The session's project (session view).
    pub project: Option<String>,
    /// First response, Unix ms.
    pub first_ms: i64,
    /// Last response, Unix ms.
    pub last_ms: i64,
    /// Sums over every model.
    pub totals: Totals,
    /// Sums per model, by cost (largest first), then name.
    pub models: Vec<(String, Totals)>,
    /// Models in the order they were first used.
    pub models_used: Vec<String>,
    /// Session view: Claude Code's own cost of the session (its `cost-state` lines), when
    /// its transcript had one.
    pub claude_code: Option<SessionCost>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// How it is grouped.
    pub view: View,
    /// The rows, in display order.
    pub rows: Vec<Row>,
    /// Sums over all rows.
    pub totals: Totals,
    /// Models that had no price.
    pub unpriced_models: BTreeSet<String>,
    /// Models tollgate has no price for whose cost came from Claude Code's figures.
    pub priced_by_claude_code: BTreeSet<String>,
}

/// Builds the `view` report over `filter`.
pub fn build(
    conn: &Connection,
    pricing: &Pricing,
    filter: &Filter,
    view: View,
    desc: bool,
) -> rusqlite::Result<Report> {
    let cells = cells::query(conn, &filter.selection(), view.grain())?;
    let mut keys: HashMap<i64, String> = HashMap::new();
    let mut groups: BTreeMap<String, Vec<Cell>> = BTreeMap::new();
    for cell in cells {
        let key = match view {
            View::Session => cell.session.clone(),
            View::Models => cell.model.clone(),
            View::Projects => cell.project.clone(),
            _ => keys
                .entry(cell.bucket)
                .or_insert_with(|| period_key(filter, view, cell.bucket))
                .clone(),
        };
        groups.entry(key).or_default().push(cell);
    }
    let session_costs = if view == View::Session {
        claude_code::session_costs(conn)?
    } else {
        HashMap::new()
    };
    let mut report = Report {
        view,
        rows: Vec::with_capacity(groups.len()),
        totals: Totals::default(),
        unpriced_models: BTreeSet::new(),
        priced_by_claude_code: BTreeSet::new(),
    };
    for (key, mut cells) in groups {
        cells.sort_by_key(|c| c.first_ms);
        let mut row = Row {
            key,
            project: (view == View::Session).then(|| cells[0].project.clone()),
            first_ms: cells.iter().map(|c| c.first_ms).min().unwrap_or(0),
            last_ms: cells.iter().map(|c| c.last_ms).max().unwrap_or(0),
            totals: Totals::default(),
            models: Vec::new(),
            models_used: Vec::new(),
            claude_code: None,
        };
        if view == View::Session {
            row.claude_code = session_costs.get(&row.key).copied();
        }
        let mut by_model: BTreeMap<&str, Totals> = BTreeMap::new();
        for cell in &cells {
            row.totals += &cell.totals;
            *by_model.entry(&cell.model).or_default() += &cell.totals;
            if !row.models_used.contains(&cell.model) {
                row.models_used.push(cell.model.clone());
            }
            if cell.totals.unpriced > 0 {
                report.unpriced_models.insert(cell.model.clone());
            }
            if cell.totals.unpriced < cell.totals.messages && pricing.price(&cell.model).is_none() {
                report.priced_by_claude_code.insert(cell.model.clone());
            }
        }
        row.models = by_model
            .into_iter()
            .map(|(m, t)| (m.to_owned(), t))
            .collect();
        row.models
            .sort_by(|a, b| b.1.cost_usd.total_cmp(&a.1.cost_usd).then(a.0.cmp(&b.0)));
        report.totals += &row.totals;
        report.rows.push(row);
    }
    match view {
        View::Session => report.rows.sort_by_key(|r| r.last_ms),
        View::Models | View::Projects => report.rows.sort_by(|a, b| {
            b.totals
                .cost_usd
                .total_cmp(&a.totals.cost_usd)
                .then(a.key.cmp(&b.key))
        }),
        _ => {}
    }
    if desc && !matches!(view, View::Models | View::Projects) {
        report.rows.reverse();
    }
    Ok(report)
}

/// The day, week start or month of a bucket, in the filter's time zone.
fn period_key(filter: &Filter, view: View, bucket: i64) -> String {
    let date = filter.calendar.date(bucket * BUCKET_MS);
    match view {
        View::Weekly(start) => week_start(date, start).format("%Y-%m-%d").to_string(),
        View::Monthly => date.format("%Y-%m").to_string(),
        _ => date.format("%Y-%m-%d").to_string(),
    }
}

/// The first day of the week holding `date`.
pub(crate) fn week_start(date: NaiveDate, start: Weekday) -> NaiveDate {
    let back = (7 + date.weekday().num_days_from_monday() - start.num_days_from_monday()) % 7;
    date - Duration::days(back.into())
}

/// Runs one of these reports.
pub fn run(view: View, args: &PeriodArgs) -> Result<()> {
    let opened = args.scope.open()?;
    let report = build(
        opened.store.conn(),
        &opened.pricing,
        &opened.filter,
        view,
        args.desc,
    )?;
    if args.format.json {
        render::print_json(&to_json(&report, &opened.filter))
    } else if args.format.csv {
        print_csv(&report, &opened.filter, args.breakdown)
    } else {
        print_table(&report, &opened.filter, args.breakdown);
        Ok(())
    }
}

/// ccusage's token fields of `t` (plus tollgate's message and unpriced counts).
pub fn token_fields(t: &Totals) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    map.insert("inputTokens".into(), t.tokens.input.into());
    map.insert("outputTokens".into(), t.tokens.output.into());
    map.insert("cacheCreationTokens".into(), t.tokens.cache_write().into());
    map.insert("cacheReadTokens".into(), t.tokens.cache_read.into());
    map.insert("totalTokens".into(), t.tokens.total().into());
    map.insert("messages".into(), t.messages.into());
    map.insert("unpricedMessages".into(), t.unpriced.into());
    map
}

/// The report as JSON: ccusage's shape (`{"daily": [...], "totals": {...}}`), costs `null`
/// when unknown.
pub fn to_json(report: &Report, filter: &Filter) -> Value {
    let (_, key_name, list_name) = report.view.names();
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|row| {
            let mut map = token_fields(&row.totals);
            map.insert(key_name.into(), row.key.clone().into());
            map.insert("totalCost".into(), json!(row.totals.cost()));
            map.insert("modelsUsed".into(), json!(row.models_used));
            let breakdowns: Vec<Value> = row
                .models
                .iter()
                .map(|(model, t)| {
                    let mut m = token_fields(t);
                    m.insert("modelName".into(), model.clone().into());
                    m.insert("cost".into(), json!(t.cost()));
                    Value::Object(m)
                })
                .collect();
            map.insert("modelBreakdowns".into(), breakdowns.into());
            if let Some(project) = &row.project {
                map.insert("projectPath".into(), project.clone().into());
            }
            if report.view == View::Session {
                let cc = row.claude_code;
                map.insert("claudeCodeCost".into(), json!(cc.map(|c| c.cost_usd)));
                map.insert(
                    "claudeCodeAssumedAPrice".into(),
                    json!(cc.is_some_and(|c| c.unknown_price)),
                );
            }
            if !report.view.is_time() {
                map.insert(
                    "firstActivity".into(),
                    filter.local(row.first_ms, "%Y-%m-%dT%H:%M:%S%:z").into(),
                );
                map.insert(
                    "lastActivity".into(),
                    filter.local(row.last_ms, "%Y-%m-%dT%H:%M:%S%:z").into(),
                );
            }
            Value::Object(map)
        })
        .collect();
    let mut totals = token_fields(&report.totals);
    totals.insert("totalCost".into(), json!(report.totals.cost()));
    // Moved in, not `json!`: that would copy every row's tree.
    let mut report_json = serde_json::Map::new();
    report_json.insert(list_name.into(), Value::Array(rows));
    report_json.insert("totals".into(), Value::Object(totals));
    // Beyond ccusage's shape, only when there is something to say.
    for (key, models) in [
        ("unpricedModels", &report.unpriced_models),
        ("pricedFromClaudeCode", &report.priced_by_claude_code),
    ] {
        if !models.is_empty() {
            report_json.insert(key.into(), json!(models));
        }
    }
    Value::Object(report_json)
}

fn print_csv(report: &Report, filter: &Filter, breakdown: bool) -> Result<()> {
    let (_, key_name, _) = report.view.names();
    let mut header = vec![key_name];
    if report.view == View::Session {
        header.extend(["project", "last_activity"]);
    }
    if breakdown {
        header.push("model");
    }
    header.extend(render::TOTALS_HEADER);
    if report.view == View::Session {
        header.push("claude_code_cost_usd");
    }
    let line = |row: &Row, model: Option<&str>, t: &Totals| {
        let mut fields = vec![row.key.clone()];
        if report.view == View::Session {
            fields.push(row.project.clone().unwrap_or_default());
            fields.push(filter.local(row.last_ms, "%Y-%m-%dT%H:%M:%S%:z"));
        }
        if breakdown {
            fields.push(model.unwrap_or("").to_owned());
        }
        fields.extend(render::totals_fields(t));
        if report.view == View::Session {
            let cc = row.claude_code.filter(|_| model.is_none());
            fields.push(cc.map(|c| c.cost_usd.to_string()).unwrap_or_default());
        }
        fields
    };
    let mut lines = Vec::new();
    for row in &report.rows {
        lines.push(line(row, None, &row.totals));
        if breakdown {
            for (model, t) in &row.models {
                lines.push(line(row, Some(model), t));
            }
        }
    }
    render::print_csv(&header, lines)
}

/// Prints the report as a table.
pub fn print_table(report: &Report, filter: &Filter, breakdown: bool) {
    let (key_title, _, _) = report.view.names();
    let mut header = vec![key_title];
    match report.view {
        View::Session => header.extend(["Project", "Last activity", "Models"]),
        View::Models => {}
        _ => header.push("Models"),
    }
    header.extend([
        "Input",
        "Output",
        "Cache write",
        "Cache read",
        "Total tokens",
        "Cost",
    ]);
    // Claude Code's own figure, for the sessions whose transcripts had one.
    let session =
        report.view == View::Session && report.rows.iter().any(|r| r.claude_code.is_some());
    if session {
        header.push("Claude Code says");
    }
    let mut table = crate::term::table::new(header);
    let figures = |t: &Totals| {
        vec![
            num(render::count(t.tokens.input)),
            num(render::count(t.tokens.output)),
            num(render::count(t.tokens.cache_write())),
            num(render::count(t.tokens.cache_read)),
            num(render::count(t.tokens.total())),
            num(render::cost(t)),
        ]
    };
    let lead = |first: String, row: Option<&Row>, models: String| {
        let mut cells = vec![comfy_table::Cell::new(first)];
        match report.view {
            View::Session => {
                let row = row.expect("session rows");
                let project = row.project.as_deref().unwrap_or("");
                cells.push(comfy_table::Cell::new(
                    project.rsplit('/').next().unwrap_or(project),
                ));
                cells.push(comfy_table::Cell::new(
                    filter.local(row.last_ms, "%Y-%m-%d %H:%M"),
                ));
                cells.push(comfy_table::Cell::new(models));
            }
            View::Models => {}
            _ => cells.push(comfy_table::Cell::new(models)),
        }
        cells
    };
    for row in &report.rows {
        let key = match report.view {
            View::Session => row.key.chars().take(8).collect(),
            _ => row.key.clone(),
        };
        let models: Vec<String> = row
            .models_used
            .iter()
            .map(|m| render::short_model(m))
            .collect();
        let mut cells = lead(key, Some(row), models.join(", "));
        cells.extend(figures(&row.totals));
        if session {
            cells.push(num(claude_code_says(row)));
        }
        table.add_row(cells);
        if breakdown && report.view != View::Models {
            for (model, t) in &row.models {
                let mut cells = lead(
                    format!("  └ {}", render::short_model(model)),
                    Some(row),
                    String::new(),
                );
                cells.extend(figures(t));
                table.add_row(cells);
            }
        }
    }
    if report.rows.is_empty() {
        println!(
            "No usage recorded in this range. Run `tollgate import` to read Claude Code's existing transcripts."
        );
        return;
    }
    let mut cells = vec![comfy_table::Cell::new("Total")];
    let pad = match report.view {
        View::Session => 3,
        View::Models => 0,
        _ => 1,
    };
    cells.extend((0..pad).map(|_| comfy_table::Cell::new("")));
    cells.extend(figures(&report.totals));
    if session {
        cells.push(comfy_table::Cell::new(""));
    }
    table.add_row(cells);
    println!("{table}");
    if let Some(note) = render::unpriced_note(&report.unpriced_models) {
        println!("{}", crate::text::printable(&note));
    }
    if !report.priced_by_claude_code.is_empty() {
        println!(
            "priced from Claude Code's figures (tollgate has no price for them): {}",
            report
                .priced_by_claude_code
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if session
        && report
            .rows
            .iter()
            .any(|r| differs(r).is_some_and(|d| d > 0.0))
    {
        println!(
            "Claude Code's own figure (its /cost) can be higher: it includes requests the transcript does not record, such as a compaction's summary."
        );
    }
}

/// Claude Code's cost minus tollgate's for a session row, when both are known and differ by
/// more than rounding.
fn differs(row: &Row) -> Option<f64> {
    let ours = row.totals.cost().filter(|_| row.totals.unpriced == 0)?;
    let theirs = row.claude_code?.cost_usd;
    let difference = theirs - ours;
    (difference.abs() > 0.000_05_f64.max(ours.abs() * 1e-6)).then_some(difference)
}

/// The "Claude Code says" cell of a session row: its figure, and how far it is from tollgate's.
fn claude_code_says(row: &Row) -> String {
    let Some(cc) = row.claude_code else {
        return String::new();
    };
    let mut text = render::usd(cc.cost_usd);
    if cc.unknown_price {
        text.push_str(" (assumed a price)");
    }
    if let Some(difference) = differs(row) {
        let sign = if difference > 0.0 { "+" } else { "−" };
        text.push_str(&format!(" ({sign}{})", render::usd(difference.abs())));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`build`] at the bundled prices.
    fn report(conn: &Connection, filter: &Filter, view: View, desc: bool) -> Report {
        build(conn, &Pricing::bundled(), filter, view, desc).unwrap()
    }
    use crate::commands::report::scope::tests::{entry, everything, store_with};

    const T0: i64 = 1_794_448_800_000; // 2026-11-12T02:00:00Z, a Thursday
    const HOUR: i64 = 3_600_000;

    /// Responses exactly on day, week, month and 5-hour block edges, and a millisecond either
    /// side: in any zone and range, every report's rows add up to the per-response sums, each
    /// response counted once, in the period it falls in.
    #[test]
    fn responses_on_period_and_block_edges_are_counted_once() {
        const DAY: i64 = 24 * HOUR;
        let midnight = T0 + 22 * HOUR; // 2026-11-13T00:00Z
        let times = [
            T0,
            T0 + 5 * HOUR, // the first block's end
            T0 + 5 * HOUR + 1,
            midnight - 1,
            midnight,
            midnight + 2 * DAY, // a Sunday
            midnight + 18 * DAY - 1,
            midnight + 18 * DAY, // 2026-12-01
        ];
        let entries: Vec<_> = times
            .iter()
            .enumerate()
            .map(|(i, &ts)| {
                let session = if i % 2 == 0 { "s1" } else { "s2" };
                let model = if i % 3 == 0 {
                    "claude-opus-4-5"
                } else {
                    "claude-haiku-4-5"
                };
                entry(&format!("m{i}"), ts, session, model, i as u64 + 1)
            })
            .collect();
        let (_dir, store) = store_with(&entries);
        let sums = |since: i64, until: i64| {
            let within = entries
                .iter()
                .filter(|e| e.ts_ms >= since && e.ts_ms < until);
            within.fold((0, 0), |(n, out), e| (n + 1, out + e.tokens.output))
        };
        let ranges = [
            (None, None),
            (Some(midnight), Some(midnight + 18 * DAY)),
            (Some(midnight - 15 * 60_000), None),
        ];
        for zone in [chrono_tz::UTC, chrono_tz::Asia::Kolkata] {
            for (since, until) in ranges {
                let mut filter = everything();
                filter.calendar.zone = Some(zone);
                (filter.since_ms, filter.until_ms) = (since, until);
                let expected = sums(since.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX));
                for view in [
                    View::Daily,
                    View::Weekly(Weekday::Sun),
                    View::Monthly,
                    View::Session,
                    View::Models,
                    View::Projects,
                ] {
                    let report = report(store.conn(), &filter, view, false);
                    let mut rows = Totals::default();
                    for row in &report.rows {
                        rows += &row.totals;
                    }
                    let what = format!("{view:?} in {zone}, {since:?}..{until:?}");
                    assert_eq!((rows.messages, rows.tokens.output), expected, "{what}");
                    assert_eq!(rows.tokens, report.totals.tokens, "{what}");
                }
            }
        }
        let daily = report(store.conn(), &everything(), View::Daily, false);
        let days: Vec<(&str, u64)> = daily
            .rows
            .iter()
            .map(|r| (r.key.as_str(), r.totals.messages))
            .collect();
        assert_eq!(
            days,
            [
                ("2026-11-12", 4),
                ("2026-11-13", 1),
                ("2026-11-15", 1),
                ("2026-11-30", 1),
                ("2026-12-01", 1)
            ]
        );
        let mut filter = everything();
        filter.now_ms = midnight + 30 * DAY;
        let blocks = super::super::blocks::build(store.conn(), &filter).unwrap();
        let mut in_blocks = (0, 0);
        for block in &blocks {
            in_blocks.0 += block.totals.messages;
            in_blocks.1 += block.totals.tokens.output;
        }
        assert_eq!(in_blocks, sums(i64::MIN, i64::MAX));
        assert_eq!(
            blocks[0].totals.messages, 2,
            "the response on the block's end is the block's"
        );
    }

    #[test]
    fn days_follow_the_time_zone() {
        let (_dir, store) = store_with(&[
            entry("a", T0, "s1", "claude-opus-4-5", 5),
            entry("b", T0 + 20 * HOUR, "s1", "claude-haiku-4-5", 7), // 2026-11-12T22:00Z
        ]);
        let mut filter = everything();
        let utc = report(store.conn(), &filter, View::Daily, false);
        assert_eq!(utc.rows.len(), 1);
        assert_eq!(
            utc.rows[0].models_used,
            ["claude-opus-4-5", "claude-haiku-4-5"]
        );
        filter.calendar.zone = Some(chrono_tz::Asia::Kathmandu); // +05:45
        let nepal = report(store.conn(), &filter, View::Daily, false);
        let keys: Vec<&str> = nepal.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-11-12", "2026-11-13"]);
        assert_eq!(nepal.totals, utc.totals);
        filter.calendar.zone = Some(chrono_tz::America::Los_Angeles);
        let la = report(store.conn(), &filter, View::Daily, true);
        let keys: Vec<&str> = la.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-11-12", "2026-11-11"], "newest first");
    }

    #[test]
    fn weeks_months_models_and_sessions() {
        let (_dir, store) = store_with(&[
            entry("a", T0, "s1", "claude-opus-4-5", 5),
            entry("b", T0 + 72 * HOUR, "s1", "claude-opus-4-5", 7), // Sunday
            entry("c", T0 + 24 * 20 * HOUR, "s1", "mystery", 1),
        ]);
        let filter = everything();
        let weeks = report(store.conn(), &filter, View::Weekly(Weekday::Sun), false);
        let keys: Vec<&str> = weeks.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-11-08", "2026-11-15", "2026-11-29"]);
        let months = report(store.conn(), &filter, View::Monthly, false);
        let keys: Vec<&str> = months.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["2026-11", "2026-12"]);
        let models = report(store.conn(), &filter, View::Models, false);
        assert_eq!(
            models.rows[0].key, "claude-opus-4-5",
            "most expensive first"
        );
        assert_eq!(models.rows[1].totals.cost(), None);
        assert!(models.unpriced_models.contains("mystery"));
        let sessions = report(store.conn(), &filter, View::Session, false);
        assert_eq!(sessions.rows.len(), 1);
        assert_eq!(sessions.rows[0].project.as_deref(), Some("/p"));
        let json = to_json(&models, &filter);
        assert_eq!(json["models"][1]["totalCost"], Value::Null);
        assert_eq!(json["totals"]["unpricedMessages"], 1);
    }
}
