//! `tollgate statusline`: Claude Code's status line command.
//!
//! Reads the JSON Claude Code gives the `statusLine` command on stdin, records what it reports
//! (plan windows, context window, model, cost: see [`crate::store::observe`]) with one small write,
//! and prints one compact line:
//!
//! ```text
//! Opus │ ctx 8% │ 5h 24% ↻2h 10m │ $0.01
//! ```
//!
//! The 5-hour figure is the plan's real window when Claude Code reports it, else the current
//! block against the budget policy's `block_usd`/`block_tokens`, else the block's cost. A policy
//! whose latest run in the session failed is named at the end (`⚠ budget failing`). It is
//! fast (one store open, no policy engine) and never fails loudly: on any error it prints what
//! it can (at least the model's name) and exits 0; the error goes to stderr only with
//! `TOLLGATE_LOG=debug`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rusqlite::config::DbConfig;
use serde_json::Value;
use tollgate_sdk::util::{format_duration, format_tokens, format_usd};

use crate::commands::report::render::short_model;
use crate::config::Config;
use crate::config::budgets::{Budgets, Limit};
use crate::store::Store;
use crate::store::observe::Observation;
use crate::term::gauge::{self, Style, percent};

/// Largest status-line input read (Claude Code sends a few KiB).
const MAX_INPUT_BYTES: usize = 1 << 20;

/// How long the status line waits for its whole input (Claude Code writes it at once).
const STDIN_WAIT: Duration = Duration::from_secs(2);

/// How long the status line waits for a hook's write lock before giving up on recording.
const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// What tollgate's own records add to the input: the store's figures where the input lacks
/// one, the policies failing, and a pause.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fallback {
    /// While `tollgate pause` lasts: when it ends (Unix ms).
    pub paused_until: Option<i64>,
    /// The session's context (tokens, window) from its transcript.
    pub context: Option<(u64, u64)>,
    /// The main conversation's prompt cache: when it lapses and how long it lives, Unix ms.
    pub cache: Option<CacheClock>,
    /// The running 5-hour block's figures; `None`: no block running.
    pub block: Option<Spent>,
    /// The budget policy's block limit.
    pub block_limit: Limit,
    /// The session's cost from its transcripts.
    pub session: Option<Spent>,
    /// Policies whose latest run in the session failed.
    pub failing: Vec<String>,
}

/// When the prompt cache of the session's main conversation lapses: its lifetime runs from the
/// latest main-conversation response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheClock {
    /// When it lapses, Unix ms.
    pub lapses_ms: i64,
    /// Its lifetime (5 minutes or 1 hour), ms.
    pub lifetime_ms: i64,
}

/// What a window (the running block, the session) has cost, as the status line shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spent {
    /// Cost of the priced responses.
    pub cost_usd: f64,
    /// All tokens.
    pub tokens: u64,
    /// Whether some responses had a price.
    pub priced: bool,
    /// Responses without a price, by model: their cost is unknown.
    pub unpriced_models: Vec<String>,
}

impl Spent {
    fn of(window: &crate::store::usage::Window) -> Self {
        Self {
            cost_usd: window.cost_usd,
            tokens: window.total_tokens,
            priced: window.messages > window.unpriced_messages,
            unpriced_models: window.unpriced_models.clone(),
        }
    }

    /// `$1.20`, `$?` or `≥$1.20`.
    fn cost(&self) -> String {
        gauge::cost(self.cost_usd, self.priced, !self.unpriced_models.is_empty())
    }
}

/// `tollgate statusline`: always prints a line and exits 0.
pub fn main() -> ExitCode {
    let debug = std::env::var_os("TOLLGATE_LOG").is_some_and(|v| v == "debug");
    if !debug {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let stdin = if std::io::stdin().is_terminal() {
        Vec::new()
    } else {
        crate::files::read_stdin(MAX_INPUT_BYTES, STDIN_WAIT).unwrap_or_default()
    };
    let style = Style::detect(true);
    let now_ms = crate::term::clock::now_ms();
    let (line, notes) = std::panic::catch_unwind(|| run(&stdin, now_ms, style))
        .unwrap_or_else(|_| (minimal(&stdin), vec!["internal error (panic)".to_owned()]));
    if debug {
        for note in notes {
            eprintln!("tollgate statusline: {}", crate::text::one_line(&note));
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    ExitCode::SUCCESS
}

/// The line for `stdin` at `now_ms`, and what went wrong on the way (for debugging).
pub fn run(stdin: &[u8], now_ms: i64, style: Style) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let input: Value = match serde_json::from_slice(stdin) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => {
            notes.push("the input is not a JSON object".to_owned());
            return (minimal(stdin), notes);
        }
        Err(e) => {
            notes.push(format!("the input is not JSON: {e}"));
            return (minimal(stdin), notes);
        }
    };
    let seen = Observation::from_status_input(&input, now_ms);
    let fallback = record_and_fill(&input, &seen, now_ms, &mut notes);
    (render(&seen, &fallback, now_ms, style), notes)
}

/// Records the observation and reads what the input lacks from the store. Errors become notes.
fn record_and_fill(
    input: &Value,
    seen: &Observation,
    now_ms: i64,
    notes: &mut Vec<String>,
) -> Fallback {
    let mut paused_until = None;
    let result = (|| -> anyhow::Result<Fallback> {
        let paths = crate::paths::Paths::discover()?;
        paused_until = crate::hook::pause::until(&paths, now_ms);
        let project = ["/workspace/project_dir", "/cwd"]
            .iter()
            .find_map(|p| input.pointer(p).and_then(Value::as_str))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        let config = Config::load(&paths.config_file, project.as_deref()).unwrap_or_else(|e| {
            notes.push(format!("{e:#}; using the defaults"));
            Config::default()
        });
        let store_path = config.store.clone().unwrap_or_else(|| paths.store_file());
        let mut store = Store::open_waiting(&store_path, BUSY_TIMEOUT)?;
        // The last connection to close checkpoints the WAL and deletes it: four fsyncs, ~25 ms
        // on this project's machine, against ~1 ms for the rest. The hooks' closes (and
        // SQLite's automatic checkpoints) keep the WAL short instead.
        store
            .conn()
            .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        if let Err(e) = store.write(|tx| seen.record(tx)) {
            notes.push(format!("not recorded: {e}"));
        }
        fill(&store, &config, seen, now_ms)
    })();
    let fallback = result.unwrap_or_else(|e| {
        notes.push(format!("{e:#}"));
        Fallback::default()
    });
    Fallback {
        paused_until,
        ..fallback
    }
}

/// The store's figures for what `seen` lacks (queries only what is needed).
fn fill(
    store: &Store,
    config: &Config,
    seen: &Observation,
    now_ms: i64,
) -> anyhow::Result<Fallback> {
    let conn = store.conn();
    let session = seen.session_id.as_str();
    let mut fallback = Fallback {
        failing: crate::store::policy_failures(conn, session)?
            .into_iter()
            .map(|failure| failure.policy)
            .collect(),
        ..Fallback::default()
    };
    let pricing = crate::pricing::Pricing::with_overrides(&config.prices);
    let context = crate::store::usage::context(conn, &pricing, session)?;
    fallback.context = (context.tokens > 0).then_some((context.tokens, context.limit));
    fallback.cache = context.cache.and_then(|cache| {
        let last = chrono::DateTime::parse_from_rfc3339(&cache.last_response_at).ok()?;
        let lifetime_ms = cache.lifetime_s as i64 * 1000;
        Some(CacheClock {
            lapses_ms: last.timestamp_millis() + lifetime_ms,
            lifetime_ms,
        })
    });
    if seen.plan.five_hour.is_none() || seen.cost_usd.is_none() {
        let calendar = config.calendar().unwrap_or_default();
        let usage = crate::store::usage::snapshot(conn, &calendar, session, "", now_ms)?;
        let block = &usage.block.totals;
        fallback.block = usage.block.active.then(|| Spent::of(block));
        fallback.block_limit = Budgets::from_config(config).block;
        fallback.session = (usage.session.messages > 0).then(|| Spent::of(&usage.session));
    }
    Ok(fallback)
}

/// The line: model, context, 5-hour window, session cost.
pub fn render(seen: &Observation, fallback: &Fallback, now_ms: i64, style: Style) -> String {
    let mut parts = Vec::new();
    if let Some(until) = fallback.paused_until {
        let text = format!(
            "⏸ paused until {}",
            crate::commands::pause::local_hm(until, now_ms)
        );
        parts.push(style.level(1.0, &text));
    }
    parts.push(model_name(seen));
    let context = match (seen.context_tokens, seen.context_window) {
        (Some(tokens), Some(window)) => Some((tokens, window)),
        _ => fallback.context,
    };
    if let Some((tokens, window)) = context.filter(|(_, w)| *w > 0) {
        let fraction = tokens as f64 / window as f64;
        parts.push(format!("ctx {}", style.level(fraction, &percent(fraction))));
    }
    if let Some(cache) = fallback.cache {
        parts.push(cache_left(cache, now_ms, style));
    }
    if let Some(five) = seen.plan.five_hour {
        let fraction = five.used_percentage / 100.0;
        let mut text = format!("5h {}", style.level(fraction, &percent(fraction)));
        if let Some(resets) = five.resets_ms.filter(|r| *r > now_ms) {
            let left = format_duration((resets - now_ms) / 1000);
            text.push_str(&style.dim(&format!(" ↻{left}")));
        }
        parts.push(text);
    } else if let Some(block) = &fallback.block {
        let (cost, tokens) = (block.cost_usd, block.tokens);
        let unknown = !block.unpriced_models.is_empty();
        let usd = block.cost();
        let limit = fallback.block_limit;
        let by_tokens = limit.tokens.filter(|_| limit.usd.is_none());
        let spent = match by_tokens {
            Some(max) => format!("{}/{}", format_tokens(tokens), format_tokens(max)),
            None => match limit.usd {
                Some(max) => format!("{usd}/{}", format_usd(max)),
                None => usd,
            },
        };
        let mut text = format!("block {spent}");
        // A share of a limit in dollars is not shown while the cost is unknown.
        let fraction = limit
            .fraction(cost, tokens)
            .filter(|_| by_tokens.is_some() || !unknown);
        if let Some(fraction) = fraction {
            text.push(' ');
            text.push_str(&style.level(fraction, &percent(fraction)));
        }
        if unknown {
            let models: Vec<String> = block
                .unpriced_models
                .iter()
                .map(|m| crate::text::printable(&short_model(m)).into_owned())
                .collect();
            text.push_str(&style.dim(&format!(" (no price: {})", models.join(", "))));
        }
        parts.push(text);
    }
    match (seen.cost_usd, &fallback.session) {
        (Some(cost), _) => parts.push(format_usd(cost)),
        (None, Some(session)) => parts.push(session.cost()),
        (None, None) => {}
    }
    if !fallback.failing.is_empty() {
        // A policy the user turned on is not working: never silent (`tollgate status` says why).
        let names = fallback.failing.join(", ");
        parts.push(style.level(1.0, &format!("⚠ {names} failing")));
    }
    parts.join(&style.dim(" │ "))
}

/// The time left before the prompt cache lapses (`cache 4m`, coloured by how much of its
/// lifetime has passed), or `cache lapsed`: the next prompt writes the whole context again.
fn cache_left(cache: CacheClock, now_ms: i64, style: Style) -> String {
    let left_ms = cache.lapses_ms - now_ms;
    if left_ms <= 0 {
        return format!("cache {}", style.level(gauge::WARN_AT, "lapsed"));
    }
    let passed = 1.0 - left_ms as f64 / cache.lifetime_ms.max(1) as f64;
    let left = format_duration((left_ms + 999) / 1000);
    format!("cache {}", style.level(passed, &left))
}

/// The model's display name (else its id), printable: the line is one row of Claude Code's
/// screen.
fn model_name(seen: &Observation) -> String {
    let name = seen.model_name.as_deref().or(seen.model_id.as_deref());
    crate::text::printable(name.unwrap_or("Claude")).into_owned()
}

/// The least the status line shows: the model's name if the input has one.
fn minimal(stdin: &[u8]) -> String {
    let input = serde_json::from_slice::<Value>(stdin).unwrap_or(Value::Null);
    model_name(&Observation::from_status_input(&input, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::observe::{PlanReadings, WindowReading};

    const NOW: i64 = 1_794_990_000_000; // 2h 46m 40s before the fixture's five_hour reset
    const PLAIN: Style = Style { colour: false };

    fn fixture() -> Observation {
        let input =
            serde_json::from_str(include_str!("../../tests/fixtures/statusline-input.json"))
                .unwrap();
        Observation::from_status_input(&input, NOW)
    }

    #[test]
    fn shows_the_real_window_when_reported() {
        assert_eq!(
            render(&fixture(), &Fallback::default(), NOW, PLAIN),
            "Opus │ ctx 8% │ 5h 24% ↻2h 46m │ $0.01"
        );
        let coloured = render(
            &fixture(),
            &Fallback::default(),
            NOW,
            Style { colour: true },
        );
        assert!(coloured.contains("\x1b[32m8%\x1b[0m"), "{coloured:?}");
    }

    /// The cache's time left counts down from its lifetime, then reads `lapsed`.
    #[test]
    fn shows_the_time_left_before_the_cache_lapses() {
        let clock = |left_ms: i64| Fallback {
            cache: Some(CacheClock {
                lapses_ms: NOW + left_ms,
                lifetime_ms: 300_000,
            }),
            ..Fallback::default()
        };
        let line = |left_ms| render(&fixture(), &clock(left_ms), NOW, PLAIN);
        assert_eq!(
            line(270_000),
            "Opus │ ctx 8% │ cache 4m │ 5h 24% ↻2h 46m │ $0.01"
        );
        assert_eq!(
            line(20_000),
            "Opus │ ctx 8% │ cache 1m │ 5h 24% ↻2h 46m │ $0.01"
        );
        assert_eq!(
            line(0),
            "Opus │ ctx 8% │ cache lapsed │ 5h 24% ↻2h 46m │ $0.01"
        );
        let coloured = |left_ms| render(&fixture(), &clock(left_ms), NOW, Style { colour: true });
        assert!(
            coloured(270_000).contains("cache \x1b[32m4m"),
            "{:?}",
            coloured(270_000)
        );
        assert!(
            coloured(30_000).contains("cache \x1b[31m1m"),
            "{:?}",
            coloured(30_000)
        );
        assert!(
            coloured(-1).contains("cache \x1b[33mlapsed"),
            "{:?}",
            coloured(-1)
        );
    }

    #[test]
    fn falls_back_to_the_store_and_the_budget() {
        let mut seen = fixture();
        seen.plan = PlanReadings::default();
        seen.context_window = None;
        seen.cost_usd = None;
        let mut fallback = Fallback {
            context: Some((150_000, 200_000)),
            block: Some(Spent {
                cost_usd: 4.2,
                tokens: 3_000_000,
                priced: true,
                unpriced_models: Vec::new(),
            }),
            block_limit: Limit {
                usd: Some(5.0),
                tokens: None,
            },
            session: Some(Spent {
                cost_usd: 1.5,
                priced: true,
                ..Spent::default()
            }),
            failing: Vec::new(),
            paused_until: None,
            cache: None,
        };
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus │ ctx 75% │ block $4.20/$5.00 84% │ $1.50"
        );
        fallback.block_limit = Limit {
            usd: None,
            tokens: Some(10_000_000),
        };
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus │ ctx 75% │ block 3M/10M 30% │ $1.50"
        );
        fallback.block_limit = Limit::default();
        fallback.context = None;
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus │ block $4.20 │ $1.50"
        );
    }

    /// The issue's status line: an Opus 5.5 session at $0.44 by Claude Code's count. Its block
    /// is priced; a block of a model without a price reads `$?`, never `$0.00`.
    #[test]
    fn an_unknown_block_cost_is_not_zero() {
        let mut seen = fixture();
        seen.plan = PlanReadings::default();
        seen.model_name = Some("Opus 5.5".into());
        seen.context_tokens = Some(170_000);
        seen.context_window = Some(1_000_000);
        seen.cost_usd = Some(0.44);
        let mut fallback = Fallback {
            block: Some(Spent {
                cost_usd: 0.44,
                tokens: 310_000,
                priced: true,
                unpriced_models: Vec::new(),
            }),
            block_limit: Limit {
                usd: Some(20.0),
                tokens: None,
            },
            ..Fallback::default()
        };
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus 5.5 │ ctx 17% │ block $0.44/$20.00 2% │ $0.44"
        );
        fallback.block = Some(Spent {
            cost_usd: 0.0,
            tokens: 310_000,
            priced: false,
            unpriced_models: vec!["claude-next-1".into()],
        });
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus 5.5 │ ctx 17% │ block $?/$20.00 (no price: next-1) │ $0.44"
        );
        fallback.block = Some(Spent {
            cost_usd: 0.3,
            tokens: 310_000,
            priced: true,
            unpriced_models: vec!["claude-next-1".into()],
        });
        assert_eq!(
            render(&seen, &fallback, NOW, PLAIN),
            "Opus 5.5 │ ctx 17% │ block ≥$0.30/$20.00 (no price: next-1) │ $0.44"
        );
    }

    #[test]
    fn a_failing_policy_is_shown() {
        let fallback = Fallback {
            failing: vec!["budget".into(), "mine".into()],
            ..Fallback::default()
        };
        assert_eq!(
            render(&fixture(), &fallback, NOW, PLAIN),
            "Opus │ ctx 8% │ 5h 24% ↻2h 46m │ $0.01 │ ⚠ budget, mine failing"
        );
    }

    #[test]
    fn a_pause_comes_first() {
        let fallback = Fallback {
            paused_until: Some(NOW + 25 * 60_000),
            ..Fallback::default()
        };
        let line = render(&fixture(), &fallback, NOW, PLAIN);
        let (pause, rest) = line.split_once(" │ ").unwrap();
        assert!(pause.starts_with("⏸ paused until "), "{line}");
        assert_eq!(rest, "Opus │ ctx 8% │ 5h 24% ↻2h 46m │ $0.01");
    }

    #[test]
    fn a_past_reset_time_is_not_shown() {
        let mut seen = fixture();
        seen.plan.five_hour = Some(WindowReading {
            used_percentage: 99.6,
            resets_ms: Some(NOW - 1),
            observed_ms: NOW,
        });
        assert_eq!(
            render(&seen, &Fallback::default(), NOW, PLAIN),
            "Opus │ ctx 8% │ 5h 99% │ $0.01"
        );
    }

    #[test]
    fn bad_input_still_prints_a_line() {
        assert_eq!(run(b"", NOW, PLAIN).0, "Claude");
        assert_eq!(run(b"{not json", NOW, PLAIN).0, "Claude");
        assert_eq!(run(b"[1]", NOW, PLAIN).0, "Claude");
        assert_eq!(
            minimal(br#"{"model": {"id": "claude-sonnet-4-5"}}"#),
            "claude-sonnet-4-5"
        );
    }
}
