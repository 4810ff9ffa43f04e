//! `tollgate report html`: one self-contained HTML file with charts.
//!
//! The charts are drawn by Chart.js (MIT, vendored minified from npm in `assets/`, with its
//! license), inlined into the page with the data as JSON. A Content-Security-Policy forbids
//! every network request, so the file works offline and leaks nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use rusqlite::Connection;
use serde::Serialize;

use super::blocks;
use super::outcomes;
use super::periods::{self, View};
use super::render;
use super::tools;
use super::{Filter, Scope};
use crate::pricing::Pricing;
use crate::store::BUCKET_MS;

/// Chart.js 4.6.1, `dist/chart.umd.min.js` from npm (license: `assets/chart.js-LICENSE.md`).
const CHART_JS: &str = include_str!("assets/chart.umd.min.js");
/// The page: `/*CHARTJS*/` and `/*DATA*/` are replaced.
const TEMPLATE: &str = include_str!("assets/report.html");
/// How many tool + subject pairs the consumers chart shows.
const CONSUMERS: u32 = 15;
/// How many of the latest blocks the blocks chart shows.
const BLOCKS: usize = 60;

/// Options of `tollgate report html`.
#[derive(Debug, Clone, clap::Args)]
pub struct HtmlArgs {
    /// The file to write.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    range: String,
    totals: Vec<Figure>,
    models: Vec<String>,
    days: Vec<Day>,
    blocks: Vec<Block>,
    consumers: Vec<Consumer>,
    decision_kinds: Vec<String>,
    decisions: Vec<Decisions>,
    outcomes: Vec<OutcomeDay>,
    empty: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, Serialize)]
struct Figure {
    label: String,
    value: String,
}

#[derive(Debug, Serialize)]
struct Day {
    date: String,
    models: BTreeMap<String, ModelDay>,
}

#[derive(Debug, Serialize)]
struct ModelDay {
    cost: f64,
    tokens: u64,
}

#[derive(Debug, Serialize)]
struct Block {
    start: String,
    tokens: u64,
    cost: f64,
}

#[derive(Debug, Serialize)]
struct Consumer {
    label: String,
    tokens: u64,
}

/// A day's spend and what it bought (`None`: unknown for every session of the day).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutcomeDay {
    date: String,
    cost: f64,
    lines_changed: Option<u64>,
    commits: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Decisions {
    date: String,
    counts: BTreeMap<String, u64>,
}

/// Runs `tollgate report html`.
pub fn run(args: &HtmlArgs) -> Result<()> {
    let opened = args.scope.open()?;
    let page = render_page(opened.store.conn(), &opened.pricing, &opened.filter)?;
    std::fs::write(&args.output, page)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}

/// The whole page for `filter`.
pub fn render_page(conn: &Connection, pricing: &Pricing, filter: &Filter) -> Result<String> {
    let daily = periods::build(conn, pricing, filter, View::Daily, false)?;
    let mut models = Vec::new();
    let days = daily
        .rows
        .iter()
        .map(|row| Day {
            date: row.key.clone(),
            models: row
                .models
                .iter()
                .map(|(model, t)| {
                    let name = render::short_model(model);
                    if !models.contains(&name) {
                        models.push(name.clone());
                    }
                    (
                        name,
                        ModelDay {
                            cost: t.cost_usd,
                            tokens: t.tokens.total(),
                        },
                    )
                })
                .collect(),
        })
        .collect();
    let all_blocks = blocks::build(conn, filter)?;
    let shown = all_blocks.iter().filter(|b| !b.gap).collect::<Vec<_>>();
    let blocks = shown[shown.len().saturating_sub(BLOCKS)..]
        .iter()
        .map(|b| Block {
            start: filter.local(b.start_ms, "%m-%d %H:%M"),
            tokens: b.totals.tokens.total(),
            cost: (b.totals.cost_usd * 100.0).round() / 100.0,
        })
        .collect();
    let tool_report = tools::build(conn, filter, CONSUMERS)?;
    let consumers = tool_report
        .subjects
        .iter()
        .filter(|s| s.est_tokens > 0)
        .map(|s| Consumer {
            label: format!(
                "{} {}",
                s.tool,
                crate::hook::event::truncate(&s.subject, 60)
            ),
            tokens: s.est_tokens,
        })
        .collect();
    let (decision_kinds, decisions) = decisions(conn, filter)?;
    let outcomes = outcomes::build(conn, filter, outcomes::By::Day, chrono::Weekday::Sun)?
        .rows
        .into_iter()
        .map(|row| OutcomeDay {
            cost: (row.totals.cost_usd * 100.0).round() / 100.0,
            lines_changed: row.lines_added.zip(row.lines_removed).map(|(a, r)| a + r),
            commits: row.commits,
            date: row.key,
        })
        .collect();

    let totals = &daily.totals;
    let data = Data {
        range: range_text(filter, &daily),
        totals: vec![
            Figure {
                label: "total cost".into(),
                value: render::cost(totals),
            },
            Figure {
                label: "tokens".into(),
                value: render::count(totals.tokens.total()),
            },
            Figure {
                label: "API responses".into(),
                value: render::count(totals.messages),
            },
            Figure {
                label: "5-hour blocks".into(),
                value: render::count(shown.len() as u64),
            },
        ],
        models,
        days,
        blocks,
        consumers,
        decision_kinds,
        decisions,
        outcomes,
        empty: BTreeMap::from([
            ("cost", "No usage in this range: run `tollgate import`."),
            ("tokens", "No usage in this range: run `tollgate import`."),
            ("blocks", "No usage blocks in this range."),
            (
                "consumers",
                "No tool results recorded: tollgate's hook records them as Claude Code works.",
            ),
            ("decisions", "No hook decisions recorded in this range."),
            ("outcomes", "No usage in this range: run `tollgate import`."),
        ]),
    };
    // `<` only appears inside JSON strings, where `\u003c` means the same: no `</script>`.
    let json = serde_json::to_string(&data)?.replace('<', "\\u003c");
    Ok(TEMPLATE
        .replacen("/*CHARTJS*/", CHART_JS, 1)
        .replacen("/*DATA*/", &json, 1))
}

fn range_text(filter: &Filter, daily: &periods::Report) -> String {
    match (daily.rows.first(), daily.rows.last()) {
        (Some(first), Some(last)) => format!(
            "{} to {} · generated {}",
            first.key,
            last.key,
            filter.local(filter.now_ms, "%Y-%m-%d %H:%M %Z")
        ),
        _ => format!(
            "no usage recorded · generated {}",
            filter.local(filter.now_ms, "%Y-%m-%d %H:%M %Z")
        ),
    }
}

/// Hook decisions per local day: the kinds seen (in severity order) and the daily counts.
fn decisions(
    conn: &Connection,
    filter: &Filter,
) -> rusqlite::Result<(Vec<String>, Vec<Decisions>)> {
    let mut days: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut kinds = BTreeSet::new();
    let counted = crate::store::events::decisions_by_bucket(conn, &filter.selection())?;
    for (bucket, decision, count) in counted {
        let date = filter
            .calendar
            .date(bucket * BUCKET_MS)
            .format("%Y-%m-%d")
            .to_string();
        kinds.insert(decision.clone());
        *days.entry(date).or_default().entry(decision).or_default() += count;
    }
    let order = ["allow", "warn", "downgrade", "ask", "deny"];
    let mut kinds: Vec<String> = kinds.into_iter().collect();
    kinds.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
    Ok((
        kinds,
        days.into_iter()
            .map(|(date, counts)| Decisions { date, counts })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::report::scope::tests::{entry, everything, store_with};

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let (_dir, store) = store_with(&[entry(
            "a",
            1_794_448_800_000,
            "s1",
            "</script><script>alert(1)",
            5,
        )]);
        let page = render_page(store.conn(), &Pricing::bundled(), &everything()).unwrap();
        assert!(page.contains("Chart.js v4"));
        assert!(!page.contains("/*DATA*/") && !page.contains("/*CHARTJS*/"));
        assert_eq!(
            page.matches("</script>").count(),
            4,
            "only the page's own scripts end"
        );
        assert!(
            !page.contains("http://") && !page.contains("src=\"http"),
            "nothing loaded from the network"
        );
    }
}
