//! `tollgate policy replay`: what a policy would have answered on the recorded events, each
//! with the usage figures as they were at that moment, and what its downgrades would have
//! saved. Reads the store only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Local, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::commands::StoreArgs;
use crate::config::{Config, PolicyConfig};
use crate::hook::decide::{self, Decision, Figures, Runner};
use crate::hook::event::HookInput;
use crate::policy::engine::Engine;
use crate::pricing::Pricing;
use crate::store::downgrade;
use crate::store::events::Recorded;
use crate::store::usage::AsOf;
use crate::text::one_line;

/// Options of `tollgate policy replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A built-in's name (`budget`, `context-guard`, `model-router`), with its settings from
    /// your config, or a `.wasm`/`.wat` policy file.
    pub policy: String,
    /// From this day (YYYY-MM-DD, in your config's time zone), time (RFC 3339) or age (12h,
    /// 7d).
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// The policy's settings, as a TOML file shaped like its `[policy.config]` table (instead
    /// of your config's).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// How many policy errors are quoted (all are counted).
const ERRORS_QUOTED: usize = 5;

/// What the replay found.
#[derive(Debug, Default, Serialize)]
pub struct Replay {
    /// The policy replayed.
    pub policy: String,
    /// From when, RFC 3339.
    pub since: String,
    /// Events the policy saw (its `events` and `tools`).
    pub events: u64,
    /// Of those, recorded before their input was kept: replayed with an input rebuilt from
    /// the event's columns (no tool input).
    pub rebuilt_inputs: u64,
    /// Events by replayed decision.
    pub decisions: BTreeMap<&'static str, u64>,
    /// Events whose replayed decision differs from the one the hook recorded.
    pub decided_differently: u64,
    /// Events the policy failed on (its `on_error` answered).
    pub errors: u64,
    /// The first few errors.
    pub first_errors: Vec<String>,
    /// What the downgrades would have saved, USD (those whose saving is known).
    pub saved_usd: f64,
    /// Downgrades whose saving is unknown (no usage of the subagent found, or no price).
    pub saved_unknown: u64,
    /// Each event answered other than allow, or decided differently from the hook.
    pub answered: Vec<Answered>,
}

/// One event the replayed policy answered other than allow (or not as the hook did).
#[derive(Debug, Serialize)]
pub struct Answered {
    /// When, RFC 3339.
    pub time: String,
    /// Session id.
    pub session_id: String,
    /// Hook event.
    pub event: String,
    /// Tool name.
    pub tool: Option<String>,
    /// What the tool touched.
    pub subject: Option<String>,
    /// The replayed decision.
    pub decision: &'static str,
    /// Its reason.
    pub reason: Option<String>,
    /// What the hook answered.
    pub recorded: Option<String>,
    /// A downgrade's models, and what it would have saved (`None`: unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<Saving>,
}

/// A replayed subagent downgrade.
#[derive(Debug, Serialize)]
pub struct Saving {
    /// The model the subagent would have run on.
    pub from: Option<String>,
    /// The cheaper one.
    pub to: String,
    /// Its real usage priced at `from` minus at `to`, USD; `None` when unknown.
    pub saved_usd: Option<f64>,
}

/// Runs `tollgate policy replay`.
pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let paths = crate::paths::Paths::discover()?;
    let (store_path, config) = args.store.path_with_config()?;
    let calendar = config.calendar()?;
    let since_ms =
        crate::commands::report::scope::parse_bound(&args.since, &calendar, Utc::now(), false)?;
    let policy = to_replay(&config, &args.policy, args.config.as_deref())?;
    let store = crate::store::Store::open_read_only(&store_path)?;
    let engine;
    let runner = if policy.runs_natively(config.builtins) {
        crate::policy::builtin::checked_sha256(&policy.name, policy.sha256.as_deref())?;
        Runner::Native
    } else {
        engine = Engine::with_stack(Some(paths.cache_dir.clone()), policy.limits.stack_kib)?;
        let loaded = crate::commands::policy::load_configured(&engine, &policy)
            .with_context(|| format!("cannot load policy \"{}\"", policy.name))?;
        Runner::Wasm(&engine, loaded)
    };
    let replay = replay(&store, &config, &policy, &runner, since_ms)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&replay)?);
    }
    if replay.events == 0 {
        let none = format!(
            "No events since {} that {} acts on: nothing to replay.",
            local_time(since_ms),
            policy.name
        );
        // With --json, stdout stays one JSON document.
        if args.json {
            eprintln!("{none}");
        } else {
            println!("{none}");
        }
    } else if !args.json {
        print(&replay);
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy `name` names: a built-in with its section of `config` (warn-only or not, it is
/// replayed as enforced), or a policy file; `settings` replaces its config table.
fn to_replay(config: &Config, name: &str, settings: Option<&Path>) -> Result<PolicyConfig> {
    let mut policy = if crate::commands::policy::builtin(name).is_some() {
        config
            .active_policies()
            .into_iter()
            .chain(config.policies.iter().cloned())
            .find(|p| p.name == name && p.path.is_none())
            .unwrap_or_else(|| PolicyConfig::builtin(name, true))
    } else {
        let path = Path::new(name);
        if !path.is_file() {
            bail!(
                "no built-in policy or file named \"{name}\": name budget, context-guard or \
                 model-router, or a .wasm or .wat file"
            );
        }
        let configured = config
            .policies
            .iter()
            .find(|p| p.path.as_deref() == Some(path))
            .cloned();
        configured.unwrap_or_else(|| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let mut policy = PolicyConfig::builtin(stem.as_deref().unwrap_or(name), true);
            policy.path = Some(path.to_path_buf());
            policy
        })
    };
    policy.enforce = true;
    if let Some(file) = settings {
        policy.config = crate::commands::policy::read_config(file)?;
    }
    Ok(policy)
}

/// Replays `policy` over the events recorded from `since_ms` on, in one read transaction:
/// each with the figures as they were at its time and the state the policy returned on the
/// event before (starting empty; nothing is written).
pub fn replay(
    store: &crate::store::Store,
    config: &Config,
    policy: &PolicyConfig,
    runner: &Runner<'_>,
    since_ms: i64,
) -> Result<Replay> {
    let pricing = Pricing::with_overrides(&config.prices);
    let calendar = config.calendar()?;
    // The snapshot as of a moment prepares more statements than the default cache keeps.
    store.conn().set_prepared_statement_cache_capacity(64);
    let mut replay = Replay {
        policy: policy.name.clone(),
        since: crate::time::rfc3339(since_ms),
        ..Replay::default()
    };
    store.read(|conn| {
        let mut as_of = AsOf::default();
        let mut state = "{}".to_owned();
        for event in crate::store::events::recorded_since(conn, since_ms)? {
            if !policy.applies_to(&event.event, event.tool.as_deref()) {
                continue;
            }
            replay.events += 1;
            let input = match event
                .input
                .as_deref()
                .and_then(|i| HookInput::parse(i.as_bytes()).ok())
            {
                Some(input) => input,
                None => {
                    replay.rebuilt_inputs += 1;
                    rebuilt(&event)
                }
            };
            // The responses the hook had not read when it decided do not count.
            as_of.responses_until_ms = event.unread_response_ms.map(|ms| ms - 1);
            let mut figures = Figures::read(
                conn,
                config,
                &pricing,
                &calendar,
                &input,
                event.ts_ms,
                Some(&mut as_of),
            )?;
            figures.context.pending_tokens = if event.event == "PostToolUse" {
                event.est_tokens
            } else {
                crate::hook::pending_tokens(&input)
            };
            let now = crate::time::rfc3339(event.ts_ms);
            let shared = figures.shared(&now, &input.raw);
            let vote = decide::evaluate(runner.clone(), policy, &shared, &state, Instant::now());
            if let Some(next) = &vote.state {
                state.clone_from(next);
            }
            if let Some(error) = &vote.error {
                replay.errors += 1;
                if replay.first_errors.len() < ERRORS_QUOTED {
                    replay.first_errors.push(format!("{now}: {error}"));
                }
            }
            let verdict = decide::combine(std::slice::from_ref(&vote));
            let answer = crate::hook::respond::answer(
                &input,
                &verdict,
                crate::hook::respond::Options::default(),
            );
            let decision = answer.effective.unwrap_or(Decision::Allow);
            *replay.decisions.entry(decision.as_str()).or_default() += 1;
            let differs = event
                .decision
                .as_deref()
                .is_some_and(|recorded| recorded != decision.as_str());
            replay.decided_differently += u64::from(differs);
            if decision == Decision::Allow && !differs {
                continue;
            }
            let saving = match (decision, &verdict.model) {
                (Decision::Downgrade, Some(to)) => {
                    let from = figures.context.model.as_deref().unwrap_or_default();
                    let saving = saving(conn, &pricing, &event, &input, from, to)?;
                    match saving.saved_usd {
                        Some(usd) => replay.saved_usd += usd,
                        None => replay.saved_unknown += 1,
                    }
                    Some(saving)
                }
                _ => None,
            };
            replay.answered.push(Answered {
                time: now,
                session_id: event.session_id,
                event: event.event,
                tool: event.tool,
                subject: event.subject,
                decision: decision.as_str(),
                reason: verdict.reason,
                recorded: event.decision,
                downgrade: saving,
            });
        }
        Ok(())
    })?;
    Ok(replay)
}

/// The input of an event recorded before inputs were kept, from its columns.
fn rebuilt(event: &Recorded) -> HookInput {
    let mut raw = Map::new();
    raw.insert("hook_event_name".into(), event.event.clone().into());
    raw.insert("session_id".into(), event.session_id.clone().into());
    raw.insert("cwd".into(), event.project.clone().into());
    if let Some(tool) = &event.tool {
        raw.insert("tool_name".into(), tool.clone().into());
        raw.insert("tool_input".into(), Value::Object(Map::new()));
    }
    if let Some(id) = &event.tool_use_id {
        raw.insert("tool_use_id".into(), id.clone().into());
    }
    HookInput {
        raw,
        event: event.event.clone(),
    }
}

/// What downgrading the subagent call `event` to `to` would have saved: its subagent's real
/// usage priced at the model it would have run on (the one asked for, else the session's
/// `session_model`) minus at `to`. When tollgate did downgrade it, the usage is the cheaper
/// model's already, and the saving is the difference the other way round.
fn saving(
    conn: &rusqlite::Connection,
    pricing: &Pricing,
    event: &Recorded,
    input: &HookInput,
    session_model: &str,
    to: &str,
) -> rusqlite::Result<Saving> {
    let request = crate::hook::downgrade::Request {
        ts_ms: event.ts_ms,
        requested: to,
        session_model,
        env_override: None,
    };
    let from = crate::hook::downgrade::requested(input, &request).and_then(|r| r.original);
    let mut saving = Saving {
        from: from.clone(),
        to: to.to_owned(),
        saved_usd: None,
    };
    let Some(tool_use_id) = event.tool_use_id.as_deref() else {
        return Ok(saving);
    };
    let Some(agent) = downgrade::subagent_of(conn, tool_use_id)? else {
        return Ok(saving);
    };
    let session = event.session_id.as_str();
    let session_model = Some(session_model).filter(|m| !m.is_empty());
    let applied = downgrade::applied_original(conn, tool_use_id)?;
    let (other, sign) = match &applied {
        Some(original) => (original.as_str(), 1.0),
        None => (to, -1.0),
    };
    let Some(other) = downgrade::priced_model(conn, pricing, other, session_model)? else {
        return Ok(saving);
    };
    let repriced = downgrade::reprice(conn, pricing, session, &agent, Some(&other))?;
    if repriced.responses > 0 && repriced.unpriced == 0 {
        saving.saved_usd = Some(sign * (repriced.at_other - repriced.as_run));
    }
    Ok(saving)
}

/// `1 event`, `3 events`.
fn events(n: u64) -> String {
    if n == 1 {
        "1 event".to_owned()
    } else {
        format!("{n} events")
    }
}

fn local_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn print(replay: &Replay) {
    use tollgate_sdk::util::format_usd;
    let counts: Vec<String> = ["deny", "ask", "downgrade", "warn", "allow"]
        .iter()
        .map(|d| format!("{} {d}", replay.decisions.get(d).copied().unwrap_or(0)))
        .collect();
    println!(
        "{} over {} since {}: {}",
        replay.policy,
        events(replay.events),
        local_time(DateTime::parse_from_rfc3339(&replay.since).map_or(0, |t| t.timestamp_millis())),
        counts.join(" · ")
    );
    if !replay.answered.is_empty() {
        let mut table = crate::term::table::new([
            "time", "session", "event", "subject", "decision", "reason", "hook", "saved",
        ]);
        for a in &replay.answered {
            let time = DateTime::parse_from_rfc3339(&a.time)
                .map(|t| t.with_timezone(&Local).format("%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            let event = match &a.tool {
                Some(tool) => format!("{} {tool}", a.event),
                None => a.event.clone(),
            };
            let (decision, saved) = match &a.downgrade {
                Some(d) => (
                    format!(
                        "downgrade {} → {}",
                        d.from.as_deref().unwrap_or("inherited"),
                        d.to
                    ),
                    d.saved_usd.map_or_else(|| "unknown".to_owned(), format_usd),
                ),
                None => (a.decision.to_owned(), String::new()),
            };
            table.add_row([
                time,
                a.session_id.chars().take(8).collect(),
                event,
                one_line(a.subject.as_deref().unwrap_or_default()).into_owned(),
                decision,
                one_line(a.reason.as_deref().unwrap_or_default()).into_owned(),
                a.recorded.clone().unwrap_or_default(),
                saved,
            ]);
        }
        println!("{table}");
    }
    if replay.decisions.contains_key("downgrade") {
        let unknown = match replay.saved_unknown {
            0 => String::new(),
            1 => " (1 downgrade's saving unknown: no subagent usage or no price)".to_owned(),
            n => format!(" ({n} downgrades' savings unknown: no subagent usage or no price)"),
        };
        println!(
            "Downgrades would have saved {}{unknown}.",
            format_usd(replay.saved_usd)
        );
    }
    println!(
        "{} of {} decided differently from what the hook answered.",
        replay.decided_differently,
        events(replay.events)
    );
    if replay.rebuilt_inputs > 0 {
        println!(
            "{} recorded before tollgate kept the input: replayed with the event's name, \
             session, project and tool only (no tool input).",
            events(replay.rebuilt_inputs)
        );
    }
    if replay.errors > 0 {
        println!(
            "The policy failed on {} (its on_error answered); the first:",
            events(replay.errors)
        );
        for error in &replay.first_errors {
            println!("  {}", crate::text::printable(error));
        }
    }
}
