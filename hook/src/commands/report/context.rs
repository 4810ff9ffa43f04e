//! One session's context, response by response: its size (input + cache tokens of each
//! main-chain response, from the `usage` rows), how much it grew, what made it grow (the tool
//! results and prompts between two responses, and Claude's previous reply), and what each
//! growth cost at the session's model price: written to the cache once, then read again on
//! every later response while it stays in the context.
//!
//! Tool results come from the session's transcript when it is still on disk (each result is
//! matched, by its `tool_use_id`, to the response that first saw it, and sized from the text
//! the model got), and from the hook's `PostToolUse` events (their estimated tokens, placed
//! before the first response after them) for calls the transcript does not show.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use super::render::{self, num};
use super::tools::{HINT_TOKENS, hint};
use super::{Filter, Format, Scope};
use crate::commands::StoreArgs;
use crate::hook::event::{HookInput, estimate_tokens};
use crate::pricing::Pricing;
use crate::store::sessions;
use crate::text::printable;

/// Longest subject kept for a tool call (as the hook records it).
const SUBJECT_BYTES: usize = 240;

/// Options of `tollgate report context`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContextArgs {
    /// The session (a prefix of its id is enough; default: the most recent one).
    #[arg(long, short)]
    pub session: Option<String>,
    /// How many of the costliest additions to list.
    #[arg(long, short = 'n', default_value_t = 15)]
    pub limit: usize,
    /// Show every response in the timeline, not only those where the context grew notably.
    #[arg(long)]
    pub all: bool,
    /// IANA time zone for times (default: the config's, else the system's).
    #[arg(long, short = 'z')]
    pub timezone: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// Something that entered the context between two responses.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    /// `tool`, `prompt`, `reply` (Claude's previous answer) or `other` (system reminders,
    /// attachments, estimate error: the growth nothing else explains).
    pub kind: &'static str,
    /// The tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// What it touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The tool call's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Tokens (estimated for tools and prompts, exact for replies).
    pub tokens: i64,
    /// What it cost: one cache write plus a cache read per later response that carried it
    /// (`None`: the model has no price).
    pub cost_usd: Option<f64>,
    /// A cheaper way, for big tool results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<&'static str>,
}

/// One main-chain response and the growth before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Position in the session (0 = first response).
    pub index: usize,
    /// Time, Unix ms.
    pub ts_ms: i64,
    /// The response's message id.
    pub message_id: String,
    /// Context size: input + cache write + cache read tokens.
    pub context: u64,
    /// Change since the previous response (for the first: its whole context).
    pub growth: i64,
    /// Later responses that carried this growth before the context shrank below it.
    pub turns_carried: u64,
    /// Cost of the growth: a cache write, then a cache read per turn carried.
    pub cost_usd: Option<f64>,
    /// What made it grow, largest first.
    pub added: Vec<Addition>,
}

/// The context report of one session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextReport {
    /// Session id.
    pub session_id: String,
    /// Project (cwd).
    pub project: String,
    /// The model of most main-chain responses.
    pub model: String,
    /// Its context window.
    pub context_limit: u64,
    /// Largest context seen.
    pub peak_context: u64,
    /// Times the context shrank by more than half (compaction, `/clear`), or the compactions
    /// the transcript recorded, if more.
    pub compactions: u64,
    /// The compactions the transcript recorded, with the context before and after each.
    pub compacted: Vec<crate::store::lifecycle::Compaction>,
    /// The transcript used to size tool results, if it was found.
    pub transcript: Option<PathBuf>,
    /// Every response.
    pub steps: Vec<Step>,
    /// Sum of the steps' costs.
    pub growth_cost_usd: Option<f64>,
}

/// A tool result or prompt, before it is placed in a step.
#[derive(Debug, Clone)]
struct Pending {
    kind: &'static str,
    tool: Option<String>,
    subject: Option<String>,
    tool_use_id: Option<String>,
    tokens: u64,
    /// The response that first saw it (transcript order), if known.
    seen_by: Option<String>,
    ts_ms: i64,
}

/// Finds the session `prefix` names (the most recent one when `None`).
pub fn resolve_session(conn: &Connection, prefix: Option<&str>) -> Result<String> {
    let Some(prefix) = prefix else {
        return sessions::latest(conn)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no sessions recorded yet: run `tollgate import` to read Claude Code's transcripts"
            )
        });
    };
    match sessions::starting_with(conn, prefix, 6)?.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no usage recorded for a session starting with \"{prefix}\" (see `tollgate report session`)"
        ),
        many => bail!(
            "\"{prefix}\" matches several sessions ({}…): give more of the id",
            many.join(", ")
        ),
    }
}

/// Builds the report of `session`.
pub fn build(conn: &Connection, pricing: &Pricing, session: &str) -> Result<ContextReport> {
    let responses = sessions::main_chain(conn, session)?;
    let mut models: HashMap<&str, usize> = HashMap::new();
    let (mut writes_5m, mut writes_1h) = (0, 0);
    for r in &responses {
        *models.entry(&r.model).or_default() += 1;
        writes_5m += r.cache_write_5m;
        writes_1h += r.cache_write_1h;
    }
    let project = responses
        .last()
        .map(|r| r.project.clone())
        .unwrap_or_default();
    if responses.is_empty() {
        bail!("session {session} has no main-conversation responses recorded");
    }
    let model = models
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(m, _)| m.to_owned())
        .unwrap_or_default();
    // What one token of growth costs: a cache write (at the rate the session mostly used)
    // and a cache read per later response.
    let rates = pricing.price(&model).map(|p| {
        let write = if writes_1h > writes_5m {
            p.cache_write_1h
        } else {
            p.cache_write_5m
        };
        (write / 1e6, p.cache_read / 1e6)
    });
    let cost_of = |tokens: i64, turns: u64| {
        rates.map(|(write, read)| tokens.max(0) as f64 * (write + read * turns as f64))
    };

    let transcript = transcript_path(conn, session)?;
    let mut pending = match &transcript {
        Some(path) => from_transcript(path)?,
        None => Vec::new(),
    };
    add_hook_results(conn, session, &mut pending)?;

    let index_of: HashMap<&str, usize> = responses
        .iter()
        .enumerate()
        .map(|(i, r)| (r.message_id.as_str(), i))
        .collect();
    let mut placed: Vec<Vec<Pending>> = vec![Vec::new(); responses.len()];
    for item in pending {
        let step = item
            .seen_by
            .as_deref()
            .and_then(|id| index_of.get(id).copied())
            .or_else(|| responses.iter().position(|r| r.ts_ms > item.ts_ms));
        if let Some(step) = step {
            placed[step].push(item);
        }
    }

    let contexts: Vec<u64> = responses.iter().map(|r| r.context).collect();
    let mut steps = Vec::with_capacity(responses.len());
    let mut compactions = 0;
    for (i, (response, items)) in responses.iter().zip(placed).enumerate() {
        let before = if i == 0 { 0 } else { contexts[i - 1] };
        let growth = response.context as i64 - before as i64;
        if i > 0 && response.context * 2 < before {
            compactions += 1;
        }
        let turns = turns_carried(&contexts, i, before);
        let mut added: Vec<Addition> = items
            .into_iter()
            .map(|p| Addition {
                hint: p.tool.as_deref().and_then(|t| hint(t, p.tokens)),
                kind: p.kind,
                tool: p.tool,
                subject: p.subject,
                tool_use_id: p.tool_use_id,
                tokens: p.tokens as i64,
                cost_usd: cost_of(p.tokens as i64, turns),
            })
            .collect();
        if i > 0 && responses[i - 1].output > 0 {
            added.push(Addition {
                kind: "reply",
                tool: None,
                subject: None,
                tool_use_id: None,
                tokens: responses[i - 1].output as i64,
                cost_usd: cost_of(responses[i - 1].output as i64, turns),
                hint: None,
            });
        }
        let explained: i64 = added.iter().map(|a| a.tokens).sum();
        if growth > 0 && growth - explained != 0 {
            let other = growth - explained;
            added.push(Addition {
                kind: "other",
                tool: None,
                subject: None,
                tool_use_id: None,
                tokens: other,
                cost_usd: cost_of(other, turns),
                hint: None,
            });
        }
        added.sort_by_key(|a| std::cmp::Reverse(a.tokens));
        steps.push(Step {
            index: i,
            ts_ms: response.ts_ms,
            message_id: response.message_id.clone(),
            context: response.context,
            growth,
            turns_carried: turns,
            cost_usd: cost_of(growth, turns),
            added,
        });
    }
    let growth_cost_usd = rates.map(|_| steps.iter().filter_map(|s| s.cost_usd).sum());
    let peak = contexts.iter().copied().max().unwrap_or(0);
    // The window Claude Code reported for the session, else the table's; 1M once past it.
    let mut limit = crate::store::usage::context(conn, pricing, session)?.limit;
    if peak > limit {
        limit = limit.max(1_000_000);
    }
    let compacted = crate::store::lifecycle::compactions(conn, session)?;
    let compactions = compactions.max(compacted.len() as u64);
    Ok(ContextReport {
        session_id: session.to_owned(),
        project,
        model,
        context_limit: limit,
        peak_context: peak,
        compactions,
        compacted,
        transcript,
        steps,
        growth_cost_usd,
    })
}

/// How many responses after `i` still carried step `i`'s growth: until the context falls
/// below the middle of that growth (a compaction or `/clear` dropped it).
fn turns_carried(contexts: &[u64], i: usize, before: u64) -> u64 {
    let middle = before + contexts[i].saturating_sub(before) / 2;
    contexts[i + 1..]
        .iter()
        .take_while(|&&c| c >= middle)
        .count() as u64
}

/// The session's own transcript, if the store knows it and it is still there.
fn transcript_path(conn: &Connection, session: &str) -> rusqlite::Result<Option<PathBuf>> {
    Ok(sessions::transcript_paths(conn, session)?
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.file_stem().is_some_and(|s| s == session) && p.is_file()))
}

/// Tool results and prompts of a main transcript, each with the response that first saw it.
fn from_transcript(path: &Path) -> Result<Vec<Pending>> {
    let file = std::fs::File::open(path)?;
    let mut calls: HashMap<String, (String, Option<String>)> = HashMap::new();
    let mut out: Vec<Pending> = Vec::new();
    let mut unseen: Vec<usize> = Vec::new();
    let mut seen_ids: std::collections::HashSet<String> = std::collections::HashSet::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        let Ok(value) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        if value.get("isSidechain").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let ts_ms = value
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(crate::store::ingest::parse_timestamp)
            .unwrap_or(0);
        let message = value.get("message");
        let content = message.and_then(|m| m.get("content"));
        match value.get("type").and_then(Value::as_str) {
            Some("assistant") => {
                if let Some(blocks) = content.and_then(Value::as_array) {
                    for block in blocks.iter().filter(|b| b["type"] == "tool_use") {
                        if let (Some(id), Some(name)) =
                            (block["id"].as_str(), block["name"].as_str())
                        {
                            calls.insert(
                                id.to_owned(),
                                (name.to_owned(), subject(name, &block["input"])),
                            );
                        }
                    }
                }
                let id = message.and_then(|m| m.get("id")).and_then(Value::as_str);
                if let Some(id) = id
                    && seen_ids.insert(id.to_owned())
                {
                    for i in unseen.drain(..) {
                        out[i].seen_by = Some(id.to_owned());
                    }
                }
            }
            Some("user") => {
                let mut push = |item: Pending| {
                    unseen.push(out.len());
                    out.push(item);
                };
                match content {
                    Some(Value::String(text)) => push(prompt(text.len() as u64, ts_ms)),
                    Some(Value::Array(blocks)) => {
                        for block in blocks {
                            match block["type"].as_str() {
                                Some("tool_result") => {
                                    let id = block["tool_use_id"].as_str().map(str::to_owned);
                                    let (tool, subject) = id
                                        .as_ref()
                                        .and_then(|id| calls.get(id).cloned())
                                        .map_or((None, None), |(t, s)| (Some(t), s));
                                    push(Pending {
                                        kind: "tool",
                                        tool,
                                        subject,
                                        tool_use_id: id,
                                        tokens: estimate_tokens(text_bytes(&block["content"])),
                                        seen_by: None,
                                        ts_ms,
                                    });
                                }
                                Some("text") => push(prompt(text_bytes(&block["text"]), ts_ms)),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn prompt(bytes: u64, ts_ms: i64) -> Pending {
    Pending {
        kind: "prompt",
        tool: None,
        subject: None,
        tool_use_id: None,
        tokens: estimate_tokens(bytes),
        seen_by: None,
        ts_ms,
    }
}

/// Bytes of text a tool result shows the model (strings, and the `text` of content blocks).
fn text_bytes(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items
            .iter()
            .map(|i| text_bytes(i.get("text").unwrap_or(i)))
            .sum(),
        _ => 0,
    }
}

/// What a tool call touches, as the hook records it (redacted, capped).
fn subject(tool: &str, input: &Value) -> Option<String> {
    let mut raw = serde_json::Map::new();
    raw.insert("tool_name".into(), tool.into());
    raw.insert("tool_input".into(), input.clone());
    HookInput {
        raw,
        event: "PreToolUse".into(),
    }
    .subject(SUBJECT_BYTES)
}

/// The hook's `PostToolUse` records of the main conversation: their subjects replace the
/// transcript's, and calls the transcript does not show are added.
fn add_hook_results(
    conn: &Connection,
    session: &str,
    pending: &mut Vec<Pending>,
) -> rusqlite::Result<()> {
    let mut by_id: HashMap<String, usize> = pending
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.tool_use_id.clone().map(|id| (id, i)))
        .collect();
    for result in sessions::tool_results(conn, session)? {
        let (id, subject) = (result.tool_use_id, result.subject);
        if let Some(&i) = id.as_ref().and_then(|id| by_id.get(id)) {
            if subject.is_some() {
                pending[i].subject = subject;
            }
            continue;
        }
        if let Some(id) = &id {
            by_id.insert(id.clone(), pending.len());
        }
        pending.push(Pending {
            kind: "tool",
            tool: result.tool,
            subject,
            tool_use_id: id,
            tokens: result.est_tokens,
            seen_by: None,
            ts_ms: result.ts_ms,
        });
    }
    Ok(())
}

/// Runs `tollgate report context`.
pub fn run(args: &ContextArgs) -> Result<()> {
    let scope = Scope {
        timezone: args.timezone.clone(),
        store: args.store.clone(),
        ..Scope::default()
    };
    let opened = scope.open()?;
    let session = resolve_session(opened.store.conn(), args.session.as_deref())?;
    let report = build(opened.store.conn(), &opened.pricing, &session)?;
    if args.format.json {
        return render::print_json(&report);
    }
    if args.format.csv {
        let header = [
            "step",
            "time",
            "context",
            "growth",
            "turns_carried",
            "cost_usd",
            "kind",
            "tool",
            "subject",
            "tokens",
            "addition_cost_usd",
        ];
        let rows = report.steps.iter().flat_map(|s| {
            s.added.iter().map(move |a| {
                vec![
                    s.index.to_string(),
                    super::scope::rfc3339_millis(s.ts_ms),
                    s.context.to_string(),
                    s.growth.to_string(),
                    s.turns_carried.to_string(),
                    s.cost_usd.map(|c| c.to_string()).unwrap_or_default(),
                    a.kind.to_owned(),
                    a.tool.clone().unwrap_or_default(),
                    a.subject.clone().unwrap_or_default(),
                    a.tokens.to_string(),
                    a.cost_usd.map(|c| c.to_string()).unwrap_or_default(),
                ]
            })
        });
        return render::print_csv(&header, rows);
    }
    print(&report, &opened.filter, args);
    Ok(())
}

/// An addition in a few words: `Read src/lib.rs 12.3k`.
fn label(a: &Addition) -> String {
    let what = match (a.kind, &a.tool, &a.subject) {
        ("tool", Some(tool), Some(subject)) => {
            format!("{tool} {}", crate::hook::event::truncate(subject, 48))
        }
        ("tool", Some(tool), None) => tool.clone(),
        ("tool", None, _) => "tool result".to_owned(),
        ("prompt", ..) => "prompt".to_owned(),
        ("reply", ..) => "Claude's reply".to_owned(),
        _ => "other".to_owned(),
    };
    format!("{what} {}", render::short(a.tokens.max(0) as u64))
}

fn usd(cost: Option<f64>) -> String {
    cost.map_or_else(|| "unknown".to_owned(), render::usd)
}

fn print(report: &ContextReport, filter: &Filter, args: &ContextArgs) {
    let steps = &report.steps;
    let last = steps.last().expect("a report has a step");
    println!(
        "Session {} ({}), {}: {} responses, {} – {}",
        printable(&report.session_id),
        printable(&report.project),
        printable(&render::short_model(&report.model)),
        steps.len(),
        filter.local(steps[0].ts_ms, "%Y-%m-%d %H:%M"),
        filter.local(last.ts_ms, "%H:%M"),
    );
    println!(
        "Context now {} of {} ({:.0}%), peak {}{}. Growth cost {} (each addition written to the cache once, then re-read by every later response).",
        render::short(last.context),
        render::short(report.context_limit),
        last.context as f64 / report.context_limit.max(1) as f64 * 100.0,
        render::short(report.peak_context),
        match report.compactions {
            0 => String::new(),
            n => format!(", {n} compaction{}", if n == 1 { "" } else { "s" }),
        },
        usd(report.growth_cost_usd),
    );
    for c in &report.compacted {
        let size = |t: Option<u64>| t.map_or_else(|| "?".to_owned(), render::short);
        println!(
            "Compacted at {} ({}): context {} → {}.",
            filter.local(c.ts_ms, "%H:%M"),
            c.trigger.as_deref().unwrap_or("?"),
            size(c.pre_tokens),
            size(c.post_tokens),
        );
    }
    if report.transcript.is_none() {
        println!("(The transcript is gone: tool results come from the hook's estimates only.)");
    }

    let notable = |s: &Step| {
        args.all
            || s.index == 0
            || s.growth.unsigned_abs() >= (report.peak_context / 50).max(1_000)
            || s.added.iter().any(|a| a.hint.is_some())
    };
    let mut table = crate::term::table::new([
        "#",
        "Time",
        "Context",
        "Growth",
        "Re-read",
        "Cost",
        "What was added",
    ]);
    let mut hidden = 0;
    for step in steps {
        if !notable(step) {
            hidden += 1;
            continue;
        }
        let what = if step.index == 0 {
            "initial context: system prompt, tools, memory files, first prompt".to_owned()
        } else if step.growth < 0 {
            "context shrank (compaction or /clear)".to_owned()
        } else {
            let mut parts: Vec<String> = step
                .added
                .iter()
                .filter(|a| a.tokens > 0)
                .take(3)
                .map(label)
                .collect();
            let more = step
                .added
                .iter()
                .filter(|a| a.tokens > 0)
                .count()
                .saturating_sub(3);
            if more > 0 {
                parts.push(format!("+{more} more"));
            }
            parts.join(" · ")
        };
        table.add_row(vec![
            num(step.index.to_string()),
            comfy_table::Cell::new(filter.local(step.ts_ms, "%H:%M:%S")),
            num(render::short(step.context)),
            num(if step.growth >= 0 {
                format!("+{}", render::short(step.growth as u64))
            } else {
                format!("-{}", render::short(step.growth.unsigned_abs()))
            }),
            num(format!("{}×", step.turns_carried)),
            num(if step.growth > 0 {
                usd(step.cost_usd)
            } else {
                String::new()
            }),
            comfy_table::Cell::new(what),
        ]);
    }
    println!("{table}");
    if hidden > 0 {
        println!("({hidden} responses with little growth not shown; --all shows them)");
    }

    let mut top: Vec<(&Step, &Addition)> = steps
        .iter()
        .flat_map(|s| {
            s.added
                .iter()
                .filter(|a| {
                    a.kind == "tool" || (a.kind == "prompt" && a.tokens >= HINT_TOKENS as i64)
                })
                .map(move |a| (s, a))
        })
        .collect();
    top.sort_by(|a, b| {
        b.1.cost_usd
            .unwrap_or(0.0)
            .total_cmp(&a.1.cost_usd.unwrap_or(0.0))
            .then(b.1.tokens.cmp(&a.1.tokens))
    });
    top.truncate(args.limit);
    if top.is_empty() {
        return;
    }
    println!(
        "\nTop consumers (cost = one cache write, then a cache read by every later response that carried it):"
    );
    let mut table = crate::term::table::new([
        "Step",
        "Tool",
        "Subject",
        "Tokens (est.)",
        "Re-read",
        "Cost",
        "Cheaper way",
    ]);
    for (step, a) in top {
        table.add_row(vec![
            num(step.index.to_string()),
            comfy_table::Cell::new(a.tool.as_deref().unwrap_or(a.kind)),
            comfy_table::Cell::new(a.subject.as_deref().unwrap_or("")),
            num(render::count(a.tokens.max(0) as u64)),
            num(format!("{}×", step.turns_carried)),
            num(usd(a.cost_usd)),
            comfy_table::Cell::new(a.hint.unwrap_or("")),
        ]);
    }
    println!("{table}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_carried_until_the_context_drops() {
        let contexts = [10_000, 30_000, 31_000, 32_000, 8_000, 9_000];
        // Step 1 grew 10k → 30k: carried by 31k and 32k, dropped at 8k.
        assert_eq!(turns_carried(&contexts, 1, 10_000), 2);
        assert_eq!(turns_carried(&contexts, 5, 8_000), 0);
    }

    #[test]
    fn tool_results_are_sized_from_their_text() {
        let content: Value =
            serde_json::json!([{"type": "text", "text": "abcd"}, {"type": "image"}]);
        assert_eq!(text_bytes(&content), 4);
        assert_eq!(text_bytes(&Value::String("abcdefgh".into())), 8);
        assert_eq!(
            subject("Read", &serde_json::json!({"file_path": "/src/lib.rs"})).as_deref(),
            Some("/src/lib.rs")
        );
    }
}
