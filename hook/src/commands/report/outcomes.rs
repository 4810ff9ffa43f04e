//! What the spend bought: per session, day, week or project, the cost next to the lines
//! changed, files touched, commits and pull requests, and the cost per outcome.
//!
//! Where each figure comes from, per session:
//! - lines: Claude Code's own count (its `cost-state` lines) when the session lies wholly in
//!   the row and the range; else the edits the hook saw (`PostToolUse` of the file tools);
//! - files: the files those edits named;
//! - commits, pull requests: the `git commit` / `gh pr create` / `glab mr create` calls the
//!   hook saw succeed.
//!
//! A session with none of these (transcripts imported without hook events or line counts)
//! has them unknown, never zero; a row's figure sums the sessions that have it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use chrono::Weekday;
use rusqlite::Connection;
use serde::Serialize;

use super::render::{self, num};
use super::{Filter, Format, Scope};
use crate::store::BUCKET_MS;
use crate::store::cells::{self, Grain};
use crate::store::outcomes::{self, Lines, SessionFacts, Work};
use crate::store::usage::Totals;

/// How `tollgate report outcomes` groups its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// One row per session, most recent last.
    #[default]
    Session,
    /// One row per day (in --timezone).
    Day,
    /// One row per week (starting on --start-of-week).
    Week,
    /// One row per project, by name.
    Project,
}

/// Options of `tollgate report outcomes`.
#[derive(Debug, Clone, clap::Args)]
pub struct OutcomesArgs {
    /// What a row is: session, day, week or project.
    #[arg(long, value_enum, default_value_t = By::Session)]
    pub by: By,
    /// With --by week: the day weeks start on (sunday … saturday).
    #[arg(long, short = 'w', default_value = "sunday")]
    pub start_of_week: String,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// One row: the outcomes of a session, day, week or project next to its cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRow {
    /// The session id, day (`2026-11-12`), week start or project.
    pub key: String,
    /// Session rows: the session's project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Last response or event in the row, Unix ms.
    pub last_ms: i64,
    /// Its usage.
    #[serde(skip)]
    pub totals: Totals,
    /// Cost, USD (`None`: no response had a price).
    pub cost_usd: Option<f64>,
    /// Responses of models without a price (their cost is not in `cost_usd`).
    pub unpriced_messages: u64,
    /// Sessions with activity in the row.
    pub sessions: u64,
    /// Of these, those with some outcome known.
    pub sessions_with_data: u64,
    /// Lines added (`None`: unknown for every session).
    pub lines_added: Option<u64>,
    /// Lines removed.
    pub lines_removed: Option<u64>,
    /// Distinct files edited.
    pub files_touched: Option<u64>,
    /// Commits made.
    pub commits: Option<u64>,
    /// Pull (merge) requests opened.
    pub pull_requests: Option<u64>,
    /// Cost of the sessions whose lines are known per 100 lines changed (added + removed);
    /// `None` when no line changed or no response of theirs was recorded.
    pub cost_per_100_lines: Option<f64>,
    /// Cost of the sessions whose commits are known per commit.
    pub cost_per_commit: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomesReport {
    /// How rows are grouped.
    pub by: By,
    /// The rows: sessions by last activity, days and weeks in order, projects by name.
    pub rows: Vec<OutcomeRow>,
    /// Over every row (files counted once however many rows touched them).
    pub totals: OutcomeRow,
}

/// One session's share of one row.
#[derive(Debug)]
struct Part {
    project: String,
    last_ms: i64,
    totals: Totals,
    /// Lines of the edits the hook saw; `None` once one edit's lines were not known.
    edit_lines: Option<Lines>,
    files: BTreeSet<String>,
    /// An edit without a recorded file name.
    unnamed_file: bool,
    commits: BTreeSet<String>,
    pull_requests: BTreeSet<String>,
}

impl Default for Part {
    /// No usage and no outcome yet: no line changed, which is known.
    fn default() -> Self {
        Self {
            project: String::new(),
            last_ms: 0,
            totals: Totals::default(),
            edit_lines: Some(Lines::default()),
            files: BTreeSet::new(),
            unnamed_file: false,
            commits: BTreeSet::new(),
            pull_requests: BTreeSet::new(),
        }
    }
}

impl Part {
    fn add(&mut self, work: &Work) {
        match work {
            Work::Edit { file, lines } => {
                match file {
                    Some(file) => {
                        self.files.insert(file.clone());
                    }
                    None => self.unnamed_file = true,
                }
                self.edit_lines = match (self.edit_lines, lines) {
                    (Some(mut sum), Some(lines)) => {
                        sum += *lines;
                        Some(sum)
                    }
                    _ => None,
                };
            }
            Work::Commit(hash) => {
                self.commits.insert(hash.clone());
            }
            Work::PullRequest(url) => {
                self.pull_requests.insert(url.clone());
            }
        }
    }

    /// Adds another row's part of the same session.
    fn merge(&mut self, other: &Part) {
        if self.project.is_empty() {
            self.project.clone_from(&other.project);
        }
        self.last_ms = self.last_ms.max(other.last_ms);
        self.totals += &other.totals;
        self.edit_lines = self.edit_lines.zip(other.edit_lines).map(|(mut a, b)| {
            a += b;
            a
        });
        self.files.extend(other.files.iter().cloned());
        self.unnamed_file |= other.unnamed_file;
        self.commits.extend(other.commits.iter().cloned());
        self.pull_requests
            .extend(other.pull_requests.iter().cloned());
    }
}

/// A row's sums over its sessions.
#[derive(Debug, Default)]
struct Sums {
    last_ms: i64,
    totals: Totals,
    sessions: u64,
    with_data: u64,
    lines: Option<Lines>,
    cost_with_lines: Totals,
    files: Option<BTreeSet<String>>,
    files_unknown: bool,
    commits: Option<u64>,
    cost_with_commits: Totals,
    pull_requests: Option<u64>,
}

impl Sums {
    /// Adds `part` of a session; `whole`: the session lies wholly in this row and the range.
    fn add(&mut self, part: &Part, facts: &SessionFacts, whole: bool) {
        self.last_ms = self.last_ms.max(part.last_ms);
        self.totals += &part.totals;
        self.sessions += 1;
        let lines = match facts.claude_code_lines {
            Some(lines) if whole => Some(lines),
            _ if facts.watched => part.edit_lines,
            _ => None,
        };
        if let Some(lines) = lines {
            *self.lines.get_or_insert_default() += lines;
            self.cost_with_lines += &part.totals;
        }
        if facts.tools_seen || facts.watched {
            if part.unnamed_file {
                self.files_unknown = true;
            }
            self.files
                .get_or_insert_default()
                .extend(part.files.iter().cloned());
        }
        if facts.watched {
            *self.commits.get_or_insert(0) += part.commits.len() as u64;
            *self.pull_requests.get_or_insert(0) += part.pull_requests.len() as u64;
            self.cost_with_commits += &part.totals;
        }
        if lines.is_some() || facts.watched || facts.tools_seen {
            self.with_data += 1;
        }
    }

    fn row(self, key: String, project: Option<String>) -> OutcomeRow {
        // Over no recorded response, the cost of an outcome is not known.
        let per = |cost: &Totals, n: Option<u64>, unit: f64| {
            let n = n.filter(|n| *n > 0)? as f64 / unit;
            cost.cost().filter(|_| cost.messages > 0).map(|c| c / n)
        };
        let changed = self.lines.map(|l| l.added + l.removed);
        OutcomeRow {
            key,
            project,
            last_ms: self.last_ms,
            cost_usd: self.totals.cost(),
            unpriced_messages: self.totals.unpriced,
            totals: self.totals,
            sessions: self.sessions,
            sessions_with_data: self.with_data,
            lines_added: self.lines.map(|l| l.added),
            lines_removed: self.lines.map(|l| l.removed),
            files_touched: self
                .files
                .filter(|_| !self.files_unknown)
                .map(|f| f.len() as u64),
            commits: self.commits,
            pull_requests: self.pull_requests,
            cost_per_100_lines: per(&self.cost_with_lines, changed, 100.0),
            cost_per_commit: per(&self.cost_with_commits, self.commits, 1.0),
        }
    }
}

/// Builds the report over `filter`; weeks start on `week_start`.
pub fn build(
    conn: &Connection,
    filter: &Filter,
    by: By,
    week_start: Weekday,
) -> rusqlite::Result<OutcomesReport> {
    let (since, until) = filter.range();
    let cells = cells::query(conn, &filter.selection(), Grain::SessionBucket)?;
    let work = outcomes::work_in(conn, &filter.selection())?;
    let facts = outcomes::session_facts(
        conn,
        cells
            .iter()
            .map(|c| c.session.as_str())
            .chain(work.iter().map(|w| w.session_id.as_str())),
    )?;
    let mut days: HashMap<i64, String> = HashMap::new();
    let mut key_of = |ts_ms: i64, session: &str, project: &str| -> String {
        match by {
            By::Session => session.to_owned(),
            By::Project => project.to_owned(),
            By::Day | By::Week => {
                let bucket = ts_ms.div_euclid(BUCKET_MS);
                days.entry(bucket)
                    .or_insert_with(|| {
                        let date = filter.calendar.date(bucket * BUCKET_MS);
                        let date = match by {
                            By::Week => super::periods::week_start(date, week_start),
                            _ => date,
                        };
                        date.format("%Y-%m-%d").to_string()
                    })
                    .clone()
            }
        }
    };
    let mut parts: BTreeMap<(String, String), Part> = BTreeMap::new();
    for cell in &cells {
        let key = key_of(cell.bucket * BUCKET_MS, &cell.session, &cell.project);
        let part = parts.entry((key, cell.session.clone())).or_default();
        part.project.clone_from(&cell.project);
        part.last_ms = part.last_ms.max(cell.last_ms);
        part.totals += &cell.totals;
    }
    for row in &work {
        let key = key_of(row.ts_ms, &row.session_id, &row.project);
        let part = parts.entry((key, row.session_id.clone())).or_default();
        if part.project.is_empty() {
            part.project.clone_from(&row.project);
        }
        part.last_ms = part.last_ms.max(row.ts_ms);
        part.add(&row.work);
    }
    // Each session over the whole report, for the totals.
    let mut sessions: HashMap<&str, (u32, Part)> = HashMap::new();
    for ((_, session), part) in &parts {
        let (rows, whole) = sessions.entry(session.as_str()).or_default();
        *rows += 1;
        whole.merge(part);
    }
    let in_range = |facts: &SessionFacts| facts.span.0 >= since && facts.span.1 < until;
    let mut rows: BTreeMap<&str, Sums> = BTreeMap::new();
    for ((key, session), part) in &parts {
        let facts = &facts[session.as_str()];
        let whole = sessions[session.as_str()].0 == 1 && in_range(facts);
        rows.entry(key.as_str())
            .or_default()
            .add(part, facts, whole);
    }
    let mut totals = Sums::default();
    for (session, (_, part)) in &sessions {
        let facts = &facts[*session];
        totals.add(part, facts, in_range(facts));
    }
    let mut rows: Vec<OutcomeRow> = rows
        .into_iter()
        .map(|(key, sums)| {
            let project = (by == By::Session)
                .then(|| parts[&(key.to_owned(), key.to_owned())].project.clone());
            sums.row(key.to_owned(), project)
        })
        .collect();
    if by == By::Session {
        rows.sort_by(|a, b| a.last_ms.cmp(&b.last_ms).then(a.key.cmp(&b.key)));
    }
    Ok(OutcomesReport {
        by,
        rows,
        totals: totals.row("Total".into(), None),
    })
}

/// Runs `tollgate report outcomes`.
pub fn run(args: &OutcomesArgs) -> Result<()> {
    let week_start = super::periods::start_of_week(&args.start_of_week)?;
    let opened = args.scope.open()?;
    let report = build(opened.store.conn(), &opened.filter, args.by, week_start)?;
    if args.format.json {
        render::print_json(&report)
    } else if args.format.csv {
        print_csv(&report, &opened.filter)
    } else {
        print_table(&report, &opened.filter);
        Ok(())
    }
}

/// The key's column title and CSV name.
fn key_names(by: By) -> (&'static str, &'static str) {
    match by {
        By::Session => ("Session", "session_id"),
        By::Day => ("Date", "date"),
        By::Week => ("Week", "week"),
        By::Project => ("Project", "project"),
    }
}

fn print_csv(report: &OutcomesReport, filter: &Filter) -> Result<()> {
    let session = report.by == By::Session;
    let mut header = vec![key_names(report.by).1];
    if session {
        header.extend(["project", "last_activity"]);
    }
    header.extend([
        "cost_usd",
        "unpriced_messages",
        "lines_added",
        "lines_removed",
        "files_touched",
        "commits",
        "pull_requests",
        "cost_per_100_lines",
        "cost_per_commit",
        "sessions",
        "sessions_with_data",
    ]);
    let text = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let usd = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let lines = report.rows.iter().map(|row| {
        let mut fields = vec![row.key.clone()];
        if session {
            fields.push(row.project.clone().unwrap_or_default());
            fields.push(filter.local(row.last_ms, "%Y-%m-%dT%H:%M:%S%:z"));
        }
        fields.extend([
            usd(row.cost_usd),
            row.unpriced_messages.to_string(),
            text(row.lines_added),
            text(row.lines_removed),
            text(row.files_touched),
            text(row.commits),
            text(row.pull_requests),
            usd(row.cost_per_100_lines),
            usd(row.cost_per_commit),
            row.sessions.to_string(),
            row.sessions_with_data.to_string(),
        ]);
        fields
    });
    render::print_csv(&header, lines)
}

/// `figure`, or `unknown`.
fn known(figure: Option<String>) -> String {
    figure.unwrap_or_else(|| "unknown".to_owned())
}

fn print_table(report: &OutcomesReport, filter: &Filter) {
    if report.rows.is_empty() {
        println!(
            "Nothing recorded in this range. Run `tollgate import` to read Claude Code's existing transcripts."
        );
        return;
    }
    let mut header = vec![key_names(report.by).0];
    if report.by == By::Session {
        header.extend(["Project", "Last activity"]);
    }
    header.extend([
        "Cost",
        "Lines +/−",
        "Files",
        "Commits",
        "PRs",
        "Per 100 lines",
        "Per commit",
        "Sessions with data",
    ]);
    let mut table = crate::term::table::new(header);
    let count = |v: Option<u64>| known(v.map(render::count));
    let usd = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), render::usd);
    let figures = |row: &OutcomeRow| {
        vec![
            num(render::cost(&row.totals)),
            num(known(row.lines_added.zip(row.lines_removed).map(
                |(a, r)| format!("+{} −{}", render::count(a), render::count(r)),
            ))),
            num(count(row.files_touched)),
            num(count(row.commits)),
            num(count(row.pull_requests)),
            num(usd(row.cost_per_100_lines)),
            num(usd(row.cost_per_commit)),
            num(format!("{} of {}", row.sessions_with_data, row.sessions)),
        ]
    };
    for row in &report.rows {
        let mut cells = Vec::new();
        if report.by == By::Session {
            cells.push(comfy_table::Cell::new(
                row.key.chars().take(8).collect::<String>(),
            ));
            let project = row.project.as_deref().unwrap_or("");
            cells.push(comfy_table::Cell::new(
                project.rsplit('/').next().unwrap_or(project),
            ));
            cells.push(comfy_table::Cell::new(
                filter.local(row.last_ms, "%Y-%m-%d %H:%M"),
            ));
        } else {
            cells.push(comfy_table::Cell::new(&row.key));
        }
        cells.extend(figures(row));
        table.add_row(cells);
    }
    let mut cells = vec![comfy_table::Cell::new("Total")];
    if report.by == By::Session {
        cells.extend([comfy_table::Cell::new(""), comfy_table::Cell::new("")]);
    }
    cells.extend(figures(&report.totals));
    table.add_row(cells);
    println!("{table}");
    println!(
        "Lines: Claude Code's own count for a session wholly in a row, else the edits the hook saw. \
         \"unknown\": no hook events and no count from Claude Code for those sessions. \
         Per 100 lines and per commit: the cost of the sessions that have the figure."
    );
}

#[cfg(test)]
mod tests;
