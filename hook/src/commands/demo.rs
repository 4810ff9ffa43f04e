//! `tollgate demo`: replays a bundled, real-shaped Claude Code session through the real hook
//! code into a throw-away store, and shows what tollgate saw and decided.
//!
//! The session (`examples/demo/session.jsonl`, made by `scripts/gen-demo-session.py`)
//! interleaves transcript lines, written to a transcript file as Claude Code would, with hook
//! inputs, run through [`crate::hook::run`] at the session's own clock.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use comfy_table::{Cell, CellAlignment};
use serde::Serialize;
use serde_json::Value;

use crate::hook::{self, Env};
use crate::paths::Paths;
use crate::store::usage::ModelTotal;

const SESSION: &str = include_str!("../../../examples/demo/session.jsonl");
const CONFIG: &str = include_str!("../../../examples/demo/tollgate.toml");

/// Options of `tollgate demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the demo's files (store, config, transcripts) in this directory instead of a
    /// temporary one, e.g. to explore them with `tollgate log --store DIR/tollgate.db`.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// One hook call of the replay.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Session time, RFC 3339.
    pub at: String,
    /// Hook event.
    pub event: String,
    /// Tool and what it touches.
    pub what: String,
    /// The decision expressed to Claude Code.
    pub decision: String,
    /// Why (or what tollgate said).
    pub reason: String,
    /// Claude Code's answer as printed on stdout.
    pub answer: Option<Value>,
    /// Wall time of the hook call, ms.
    pub ms: f64,
}

/// What the demo shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every hook call.
    pub timeline: Vec<Step>,
    /// Usage by model.
    pub models: Vec<ModelTotal>,
    /// Context size after each main-chain response: (time, tokens).
    pub context: Vec<(String, i64)>,
    /// Where the demo's files are.
    pub dir: PathBuf,
}

/// `tollgate demo`.
pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("tollgate-demo-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let report = replay(&dir)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report, args.dir.is_some())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Replays the bundled session with its files under `dir`.
pub fn replay(dir: &Path) -> Result<Report> {
    let paths = Paths::under(dir);
    std::fs::write(&paths.config_file, CONFIG)?;
    let store = paths.store_file();
    if store.exists() {
        anyhow::bail!(
            "{} already holds a demo store: remove it or pick another --dir",
            dir.display()
        );
    }
    let project = dir.join("project");
    std::fs::create_dir_all(project.join("src"))?;
    std::fs::create_dir_all(project.join("data"))?;
    std::fs::write(
        project.join("src/parser.rs"),
        "pub fn parse() {}\n".repeat(300),
    )?;
    // 480 KB of JSON: ~120k tokens if read whole.
    std::fs::write(
        project.join("data/dump.json"),
        "{\"k\": 1}\n".repeat(53_000),
    )?;
    let session_dir = dir.join("claude/projects/-demo-project");
    let transcript = session_dir.join("6f1c2d9e-5b7a-4c1e-9d3f-2a8b7c6d5e4f.jsonl");
    let subagents = transcript.with_extension("").join("subagents");
    std::fs::create_dir_all(&subagents)?;
    let fill = |text: &str| {
        text.replace("{{PROJECT}}", &json_text(&project))
            .replace("{{TRANSCRIPT}}", &json_text(&transcript))
            .replace("{{SUBAGENTS}}", &json_text(&subagents))
    };

    let mut timeline = Vec::new();
    for (number, line) in SESSION.lines().enumerate() {
        let step: Value = serde_json::from_str(&fill(line))
            .with_context(|| format!("demo step {}", number + 1))?;
        if let Some(entry) = step.get("transcript") {
            let file = match step.get("subagent").and_then(Value::as_str) {
                Some(agent) => subagents.join(format!("agent-{agent}.jsonl")),
                None => transcript.clone(),
            };
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)?;
            writeln!(out, "{entry}")?;
        }
        if let Some(input) = step.get("hook") {
            let at = step
                .get("at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let env = Env {
                paths: paths.clone(),
                project_dir: Some(project.clone()),
                now_ms: crate::store::ingest::parse_timestamp(&at).unwrap_or_default(),
                subagent_model: None,
            };
            let started = Instant::now();
            let reply = hook::run(input.to_string().as_bytes(), &env, started);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            timeline.push(step_of(input, &at, reply, ms));
        }
    }
    let store = crate::store::Store::open(&store)?;
    Ok(Report {
        timeline,
        models: crate::store::usage::model_totals(store.conn())?,
        context: context_growth(store.conn())?,
        dir: dir.to_path_buf(),
    })
}

fn json_text(path: &Path) -> String {
    let quoted = serde_json::to_string(&path.to_string_lossy()).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_owned()
}

fn step_of(input: &Value, at: &str, reply: hook::Reply, ms: f64) -> Step {
    let parsed = crate::hook::event::HookInput::parse(input.to_string().as_bytes()).ok();
    let what = parsed
        .as_ref()
        .map(|i| match (i.tool_name(), i.subject(70)) {
            (Some(tool), Some(subject)) => {
                format!("{tool} {}", subject.rsplit('/').next().unwrap_or(&subject))
            }
            (Some(tool), None) => tool.to_owned(),
            (None, _) => i
                .str("prompt")
                .map(|p| crate::hook::event::truncate(p, 50))
                .unwrap_or_default(),
        })
        .unwrap_or_default();
    let answer: Option<Value> = reply
        .stdout
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    let reason = answer
        .as_ref()
        .and_then(|a| {
            a.pointer("/hookSpecificOutput/permissionDecisionReason")
                .or_else(|| a.get("reason"))
                .or_else(|| a.get("systemMessage"))
        })
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches("tollgate: ")
        .to_owned();
    Step {
        at: at.to_owned(),
        event: input["hook_event_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        what,
        decision: reply.decision.map_or("allow", |d| d.as_str()).to_owned(),
        reason,
        answer,
        ms,
    }
}

/// The prompt size after each main-conversation response, by time of day.
fn context_growth(conn: &rusqlite::Connection) -> Result<Vec<(String, i64)>> {
    Ok(crate::store::usage::main_prompt_sizes(conn)?
        .into_iter()
        .map(|(ms, tokens)| {
            let time =
                chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms).unwrap_or_default();
            (time.format("%H:%M:%S").to_string(), tokens)
        })
        .collect())
}

fn print(report: &Report, kept: bool) -> Result<()> {
    println!("Replaying a real-shaped Claude Code session through `tollgate hook`");
    println!(
        "(config: examples/demo/tollgate.toml: $1.60 budget per 5-hour block, the three built-in policies)\n"
    );
    let mut table = crate::term::table::new(["time", "event", "what", "decision", "why", "ms"]);
    for step in &report.timeline {
        let time = step.at.get(11..19).unwrap_or_default();
        let decision = Cell::new(&step.decision).fg(match step.decision.as_str() {
            "deny" => comfy_table::Color::Red,
            "ask" | "warn" => comfy_table::Color::Yellow,
            "downgrade" => comfy_table::Color::Cyan,
            _ => comfy_table::Color::Reset,
        });
        table.add_row(vec![
            Cell::new(time),
            Cell::new(&step.event),
            Cell::new(&step.what),
            decision,
            Cell::new(&step.reason),
            Cell::new(format!("{:.1}", step.ms)).set_alignment(CellAlignment::Right),
        ]);
    }
    println!("{table}\n");

    let mut models = crate::term::table::new([
        "model",
        "responses",
        "input",
        "output",
        "cache write",
        "cache read",
        "cost",
    ]);
    for m in &report.models {
        models.add_row([
            m.model.clone(),
            m.messages.to_string(),
            m.input.to_string(),
            m.output.to_string(),
            m.cache_write.to_string(),
            m.cache_read.to_string(),
            m.cost_usd
                .map_or_else(|| "unknown".to_owned(), |c| format!("${c:.2}")),
        ]);
    }
    println!("Real usage read from the transcripts:\n{models}\n");

    if let (Some(first), Some(last)) = (report.context.first(), report.context.last()) {
        let max = report.context.iter().map(|c| c.1).max().unwrap_or(1).max(1);
        println!("Context growth ({} → {} tokens):", first.1, last.1);
        let bars = "▁▂▃▄▅▆▇█";
        let line: String = report
            .context
            .iter()
            .map(|(_, t)| bars.chars().nth(((t * 7) / max) as usize).unwrap_or('█'))
            .collect();
        println!("  {} {}  {}\n", first.0, line, last.0);
    }

    let mut latencies: Vec<f64> = report.timeline.iter().map(|s| s.ms).collect();
    latencies.sort_by(f64::total_cmp);
    let count = |d: &str| report.timeline.iter().filter(|s| s.decision == d).count();
    println!(
        "{} hook calls: {} allowed, {} warned, {} downgraded, {} asked, {} denied. Median hook call {:.1} ms (this build; first calls compile the policies once).",
        latencies.len(),
        count("allow"),
        count("warn"),
        count("downgrade"),
        count("ask"),
        count("deny"),
        latencies
            .get(latencies.len() / 2)
            .copied()
            .unwrap_or_default(),
    );
    if kept {
        let dir = report.dir.display();
        println!(
            "\nThe demo's files are in {dir}. Explore them:\n  tollgate log --store {dir}/tollgate.db"
        );
    }
    Ok(())
}
