//! `tollgate status`: where the current session, block, day and week stand against the
//! configured budgets, next to the plan's real windows as Claude Code reports them, with the
//! estimate of what is left, the context gauge and the subagent downgrades.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use rusqlite::Connection;
use serde::Serialize;
use tollgate_sdk::util::{format_duration, format_tokens, format_usd};

use crate::commands::StoreArgs;
use crate::config::Config;
use crate::config::budgets::{Budgets, Limit};
use crate::pricing::Pricing;
use crate::store::calibrate::{Calibration, calibrate};
use crate::store::downgrade::{self, Summary};
use crate::store::lifecycle::{self, LimitHit};
use crate::store::observe::{PlanReadings, PlanWindow, WINDOWS};
use crate::store::usage;
use crate::term::gauge::{self, Style, bar, percent};
use crate::text::printable;
use crate::time::{Calendar, rfc3339};

/// How often `--watch` redraws.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Width of the bars, in cells.
const BAR: usize = 20;

/// Options of `tollgate status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The session to show (a prefix of its id is enough); default: the most recent one.
    #[arg(long, short)]
    pub session: Option<String>,
    /// Print JSON instead of gauges.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Redraw every 2 seconds until Ctrl-C.
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// Everything `tollgate status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The time of the figures (RFC 3339).
    pub now: String,
    /// While `tollgate pause` lasts: when it ends (RFC 3339).
    pub paused_until: Option<String>,
    /// The session shown, if the store has any.
    pub session: Option<SessionView>,
    /// Block, day, week and per-family usage recorded on this machine, against the budgets.
    pub windows: Vec<Gauge>,
    /// The plan's real windows as last reported.
    pub plan: Vec<PlanGauge>,
    /// What is left in the plan's windows, estimated from the recorded usage.
    pub estimates: Vec<Calibration>,
    /// The session's subagent downgrades (all sessions' when none is shown).
    pub downgrades: Summary,
    /// The policies whose latest run in the session failed.
    pub failing_policies: Vec<FailingPolicy>,
    /// The turns that stopped on a rate limit or a billing error in the last day, newest first.
    pub limit_hits: Vec<LimitHit>,
    /// Why the session's project config is ignored (untrusted, changed since trusted,
    /// unreadable), or what of it is.
    pub project_config: Option<String>,
    #[serde(skip)]
    zone: Option<chrono_tz::Tz>,
    /// Whether Claude Code runs the hook here (what to say when no session is recorded yet).
    #[serde(skip)]
    registered: bool,
}

/// A policy whose latest run in the session failed: until it is fixed, the hook answers its
/// `on_error` for it on every call.
#[derive(Debug, Clone, Serialize)]
pub struct FailingPolicy {
    /// Its configured name.
    pub policy: String,
    /// The error.
    pub error: String,
    /// When that run was (RFC 3339).
    pub at: String,
}

/// The session shown.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// Its id.
    pub id: String,
    /// Its project (cwd).
    pub project: Option<String>,
    /// The model: the status line's display name and id, else the transcript's.
    pub model: Option<String>,
    /// Last activity (RFC 3339).
    pub last_seen: Option<String>,
    /// Its usage and the session budget.
    pub spent: Gauge,
    /// Claude Code's own figure for the session: as reported to the status line, else from
    /// its transcript's `cost-state` lines.
    pub reported_cost_usd: Option<f64>,
    /// Prompts.
    pub prompts: u64,
    /// Tool calls.
    pub tool_calls: u64,
    /// Context tokens.
    pub context_tokens: u64,
    /// The context window.
    pub context_limit: u64,
}

/// Usage over one window against its limit.
#[derive(Debug, Clone, Serialize)]
pub struct Gauge {
    /// `session`, `block`, `day`, `week`, `opus block`, …
    pub name: String,
    /// Cost of the priced responses.
    pub cost_usd: f64,
    /// All tokens.
    pub tokens: u64,
    /// Tokens of responses whose model has no price: their cost is unknown, not in `cost_usd`.
    pub unpriced_tokens: u64,
    /// Their models.
    pub unpriced_models: Vec<String>,
    /// Whether some responses had a price.
    #[serde(skip)]
    priced: bool,
    /// The budget, if configured.
    pub limit: Limit,
    /// The larger fraction of the limits used.
    pub fraction: Option<f64>,
    /// When the window ends (RFC 3339), for windows that reset.
    pub resets_at: Option<String>,
}

impl Gauge {
    fn new(name: &str, window: &usage::Window, limit: Limit, resets_at: Option<&str>) -> Self {
        Self {
            name: name.to_owned(),
            cost_usd: window.cost_usd,
            tokens: window.total_tokens,
            unpriced_tokens: window.unpriced_tokens,
            unpriced_models: window.unpriced_models.clone(),
            priced: window.messages > window.unpriced_messages,
            limit,
            fraction: limit.fraction(window.cost_usd, window.total_tokens),
            resets_at: resets_at.map(str::to_owned),
        }
    }
}

/// One of the plan's windows as last reported.
#[derive(Debug, Clone, Serialize)]
pub struct PlanGauge {
    /// `five_hour` or `seven_day`.
    pub window: &'static str,
    /// Percent used when reported.
    pub used_percentage: f64,
    /// When it resets (RFC 3339).
    pub resets_at: Option<String>,
    /// When it was reported (RFC 3339).
    pub observed_at: String,
    /// `current`; `stale` (older than the budget's `max_observation_age_minutes`: policies
    /// ignore it); `reset` (the window has reset since).
    pub state: &'static str,
    /// The budget policy's limit on it, percent.
    pub limit_percent: Option<f64>,
}

/// `tollgate status`.
pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    let (store, user_config) = args.store.open_with_config()?;
    let paths = crate::paths::Paths::discover()?;
    let registered =
        std::env::current_dir().is_ok_and(|dir| crate::commands::install::is_registered(&dir));
    let gather_now = || {
        let now_ms = crate::term::clock::now_ms();
        let mut status = gather(
            store.conn(),
            &paths.config_file,
            &user_config,
            args.session.as_deref(),
            now_ms,
        )?;
        status.paused_until = crate::hook::pause::until(&paths, now_ms).map(rfc3339);
        status.registered = registered;
        anyhow::Ok(status)
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&gather_now()?)?);
        return Ok(ExitCode::SUCCESS);
    }
    let style = Style::detect(std::io::stdout().is_terminal());
    if !args.watch {
        print!("{}", render(&gather_now()?, style));
        return Ok(ExitCode::SUCCESS);
    }
    let stop = interrupt::install();
    let mut out = std::io::stdout().lock();
    let mut drawn = 0;
    while !stop.is_set() {
        let text = render(&gather_now()?, style);
        if drawn > 0 {
            // Back to the first line drawn, and clear what was below.
            write!(out, "\x1b[{drawn}F\x1b[J")?;
        }
        write!(out, "{text}")?;
        out.flush()?;
        drawn = text.lines().count();
        stop.sleep(WATCH_EVERY);
    }
    Ok(ExitCode::SUCCESS)
}

/// Collects the figures at `now_ms`. `session`: a prefix of the session to show (default: the
/// most recent). The project's config overlay applies to the budgets, as in the hook.
pub fn gather(
    conn: &Connection,
    config_file: &std::path::Path,
    user_config: &Config,
    session: Option<&str>,
    now_ms: i64,
) -> Result<Status> {
    let found = crate::store::events::latest_session(conn, session, now_ms)?;
    if let (Some(prefix), None) = (session, &found) {
        bail!("no session starting with \"{prefix}\" in the store: `tollgate log` lists them");
    }
    let project = found.as_ref().and_then(|(_, p, _)| p.clone());
    let config = match &project {
        Some(dir) => Config::load(config_file, Some(std::path::Path::new(dir)))
            .unwrap_or_else(|_| user_config.clone()),
        None => user_config.clone(),
    };
    let calendar = config.calendar().unwrap_or_else(|_| Calendar::default());
    let pricing = Pricing::with_overrides(&config.prices);
    let budgets = Budgets::from_config(&config);
    let id = found.as_ref().map_or("", |(id, _, _)| id.as_str());
    let usage = usage::snapshot(
        conn,
        &calendar,
        id,
        project.as_deref().unwrap_or(""),
        now_ms,
    )?;

    let session = match &found {
        Some((id, project, last_ms)) => Some(session_view(
            conn,
            &pricing,
            &usage,
            &budgets,
            id,
            project.clone(),
            *last_ms,
        )?),
        None => None,
    };

    let block_end = usage.block.end.as_deref().filter(|_| usage.block.active);
    let mut windows = vec![
        Gauge::new("block", &usage.block.totals, budgets.block, block_end),
        Gauge::new(
            "day",
            &usage.day.totals,
            budgets.day,
            usage.day.end.as_deref(),
        ),
        Gauge::new(
            "week",
            &usage.week.totals,
            budgets.week,
            usage.week.end.as_deref(),
        ),
    ];
    for (family, (block, week)) in &budgets.families {
        let split = usage.by_family.get(family).cloned().unwrap_or_default();
        if !block.is_none() {
            let name = format!("{family} block");
            windows.push(Gauge::new(&name, &split.block, *block, block_end));
        }
        if !week.is_none() {
            let name = format!("{family} week");
            windows.push(Gauge::new(
                &name,
                &split.week,
                *week,
                usage.week.end.as_deref(),
            ));
        }
    }

    let readings = PlanReadings::latest(conn)?;
    let max_age_ms = budgets.max_observation_age_minutes as i64 * 60_000;
    let mut plan = Vec::new();
    let mut estimates = Vec::new();
    for window in WINDOWS {
        let Some(reading) = readings.get(window) else {
            continue;
        };
        let state = if reading.has_reset(now_ms) {
            "reset"
        } else if now_ms - reading.observed_ms > max_age_ms {
            "stale"
        } else {
            "current"
        };
        plan.push(PlanGauge {
            window: window.key(),
            used_percentage: reading.used_percentage,
            resets_at: reading.resets_ms.map(rfc3339),
            observed_at: rfc3339(reading.observed_ms),
            state,
            limit_percent: match window {
                PlanWindow::FiveHour => budgets.five_hour_percent,
                PlanWindow::SevenDay => budgets.seven_day_percent,
            },
        });
        estimates.extend(calibrate(conn, window, &reading, now_ms)?);
    }

    let downgrades = downgrade::summary(conn, &pricing, found.as_ref().map(|f| f.0.as_str()), 0)?;
    let failing_policies = crate::store::policy_failures(conn, id)?
        .into_iter()
        .map(|failure| FailingPolicy {
            policy: failure.policy,
            error: failure.error,
            at: rfc3339(failure.ts_ms),
        })
        .collect();
    let limit_hits = lifecycle::limit_hits(conn, now_ms - 24 * 3_600_000)?;
    Ok(Status {
        now: rfc3339(now_ms),
        paused_until: None,
        session,
        windows,
        plan,
        estimates,
        downgrades,
        failing_policies,
        limit_hits,
        project_config: config.project.note(),
        zone: calendar.zone,
        registered: true,
    })
}

fn session_view(
    conn: &Connection,
    pricing: &Pricing,
    usage: &usage::Usage,
    budgets: &Budgets,
    id: &str,
    project: Option<String>,
    last_ms: i64,
) -> rusqlite::Result<SessionView> {
    let context = usage::context(conn, pricing, id)?;
    let seen = crate::store::observe::session_observation(conn, id)?;
    let model = match seen.as_ref().and_then(|s| s.model_name.clone()) {
        Some(name) => Some(match seen.as_ref().and_then(|s| s.model_id.clone()) {
            Some(model_id) => format!("{name} ({model_id})"),
            None => name,
        }),
        None => context.model.clone(),
    };
    Ok(SessionView {
        id: id.to_owned(),
        project,
        model,
        last_seen: Some(rfc3339(last_ms)),
        spent: Gauge::new("session", &usage.session, budgets.session, None),
        reported_cost_usd: match seen.and_then(|s| s.cost_usd) {
            Some(reported) => Some(reported),
            None => crate::store::claude_code::session_cost(conn, id)?.map(|c| c.cost_usd),
        },
        prompts: usage.session.prompts,
        tool_calls: usage.session.tool_calls,
        context_tokens: context.tokens,
        context_limit: context.limit,
    })
}

/// The status as text: one gauge a line.
pub fn render(status: &Status, style: Style) -> String {
    let now_ms = parse_ms(&status.now).unwrap_or_default();
    let time = |rfc: &str| local_time(status.zone, rfc, now_ms);
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if let Some(until) = &status.paused_until {
        line(style.level(
            1.0,
            &format!(
                "Paused until {}: every hook call is answered allow. `tollgate resume` ends it.",
                time(until)
            ),
        ));
        line(String::new());
    }
    match &status.session {
        Some(s) => {
            let id: String = s.id.chars().take(8).collect();
            let mut head = format!("Session {}", printable(&id));
            for part in [s.model.as_deref(), s.project.as_deref()]
                .into_iter()
                .flatten()
            {
                head.push_str(&format!(" · {}", printable(part)));
            }
            if let Some(seen) = &s.last_seen {
                head.push_str(&format!(" · active {}", time(seen)));
            }
            line(style.bold(&head));
            let fraction = s.context_tokens as f64 / s.context_limit.max(1) as f64;
            line(format!(
                "  {:<10}{}  {}",
                "context",
                gauge_cells(style, Some(fraction)),
                style.dim(&format!(
                    "{} of {} tokens",
                    format_tokens(s.context_tokens),
                    format_tokens(s.context_limit)
                ))
            ));
            let mut spent = gauge_line(style, &s.spent, &time);
            spent.push_str(&format!(
                " · {} · {}",
                plural(s.prompts, "prompt"),
                plural(s.tool_calls, "tool call")
            ));
            if let Some(cost) = s.reported_cost_usd {
                spent.push_str(&style.dim(&format!(" (Claude Code says {})", format_usd(cost))));
            }
            line(spent);
            if let Some(note) = &status.project_config {
                line(style.dim(&format!("  {:<10}{note}", "config")));
            }
        }
        None if status.registered => line(
            "No session recorded yet: tollgate is registered; start a Claude Code session (or send a prompt in a running one) and it shows here."
                .into(),
        ),
        None => line(
            "No session recorded yet, and tollgate is not registered with Claude Code: run `tollgate install` (or install the plugin)."
                .into(),
        ),
    }
    if !status.failing_policies.is_empty() {
        line(String::new());
        line(style.bold(
            "Failing policies (each answers its on_error until fixed; `tollgate doctor` explains)",
        ));
        for failing in &status.failing_policies {
            line(format!(
                "  {:<10}{} {}",
                printable(&failing.policy),
                style.dim(&time(&failing.at)),
                printable(&crate::text::one_line(&failing.error))
            ));
        }
    }
    line(String::new());
    line(style.bold("Usage recorded on this machine"));
    for gauge in &status.windows {
        line(gauge_line(style, gauge, &time));
    }
    line(String::new());
    if status.plan.is_empty() {
        line(style.bold("Plan windows: not reported yet"));
        line(style.dim(
            "  Claude Code reports them to its status line (Pro and Max plans): use `tollgate statusline` there.",
        ));
    } else {
        line(style.bold("Plan windows (reported by Claude Code)"));
        for plan in &status.plan {
            line(plan_line(style, plan, now_ms, &time));
        }
        for estimate in &status.estimates {
            let label = if estimate.window == "five_hour" {
                "5-hour"
            } else {
                "7-day"
            };
            line(format!(
                "  {:<10}about {} tokens (≈ {}) left in this {label} window",
                "estimate",
                format_tokens(estimate.left.tokens),
                format_usd(estimate.left.cost_usd),
            ));
            line(style.dim(&format!(
                "  {:<10}basis: {} tokens ({}) recorded here = {:.1}% at {}; now ≈ {:.0}% at that rate",
                "",
                format_tokens(estimate.basis.tokens),
                format_usd(estimate.basis.cost_usd),
                estimate.observed_percent,
                time(&estimate.observed_at),
                estimate.estimated_percent,
            )));
        }
    }
    for hit in &status.limit_hits {
        let what = if hit.kind == "billing_error" {
            "a billing error"
        } else {
            "a rate limit"
        };
        let detail = hit
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        line(format!(
            "  {:<10}{}",
            "stopped",
            style.level(
                1.0,
                &format!("{} on {what}{detail}", time(&rfc3339(hit.ts_ms)))
            )
        ));
    }
    if status.downgrades.requested > 0 {
        line(String::new());
        let whose = if status.session.is_some() {
            " this session"
        } else {
            ""
        };
        line(format!(
            "{}{}",
            style.bold(&format!("Downgrades{whose}: ")),
            status.downgrades.describe()
        ));
    }
    out
}

impl Gauge {
    /// Its cost: `$?` or `≥$…` while some of it is unknown.
    fn cost(&self) -> String {
        gauge::cost(self.cost_usd, self.priced, self.unpriced_tokens > 0)
    }
}

/// "  block     ████░░  41%  $2.05 of $5.00 · 1.2M tokens · resets 10:00 (in 2h 30m)"; with
/// responses of a model without a price, "$? of $5.00 · … · no price: claude-next-1 (1.2M
/// tokens)".
fn gauge_line(style: Style, gauge: &Gauge, time: &dyn Fn(&str) -> String) -> String {
    let spent = match (gauge.limit.usd, gauge.limit.tokens) {
        (Some(usd), _) => format!(
            "{} of {} · {} tokens",
            gauge.cost(),
            format_usd(usd),
            format_tokens(gauge.tokens)
        ),
        (None, Some(tokens)) => format!(
            "{} of {} tokens · {}",
            format_tokens(gauge.tokens),
            format_tokens(tokens),
            gauge.cost()
        ),
        (None, None) => format!("{} · {} tokens", gauge.cost(), format_tokens(gauge.tokens)),
    };
    let spent = if gauge.unpriced_tokens > 0 {
        format!(
            "{spent} · no price: {} ({} tokens)",
            printable(&gauge.unpriced_models.join(", ")),
            format_tokens(gauge.unpriced_tokens)
        )
    } else {
        spent
    };
    let mut text = format!(
        "  {:<10}{}  {spent}",
        gauge.name,
        gauge_cells(style, gauge.fraction)
    );
    if gauge.name == "block" && gauge.resets_at.is_none() {
        text.push_str(&style.dim(" · no block running"));
    } else if let Some(resets) = &gauge.resets_at {
        text.push_str(&style.dim(&format!(" · resets {}", time(resets))));
    }
    text
}

/// The bar and percentage, or blank cells of the same width when there is no limit.
fn gauge_cells(style: Style, fraction: Option<f64>) -> String {
    match fraction {
        Some(f) => format!(
            "{} {}",
            style.level(f, &bar(f, BAR)),
            style.level(f, &format!("{:>4}", percent(f)))
        ),
        None => " ".repeat(BAR + 5),
    }
}

fn plan_line(style: Style, plan: &PlanGauge, now_ms: i64, time: &dyn Fn(&str) -> String) -> String {
    let label = if plan.window == "five_hour" {
        "5-hour"
    } else {
        "7-day"
    };
    let fraction = plan.used_percentage / 100.0;
    let seen = match parse_ms(&plan.observed_at).map(|ms| (now_ms - ms) / 1000) {
        Some(age) if age >= 60 => format!("seen {} ago", format_duration(age)),
        _ => "seen just now".to_owned(),
    };
    if plan.state == "reset" {
        return format!(
            "  {label:<10}{}  {}",
            " ".repeat(BAR + 5),
            style.dim(&format!(
                "reset at {} since it was {seen} ({:.0}% then)",
                plan.resets_at.as_deref().map(time).unwrap_or_default(),
                plan.used_percentage
            ))
        );
    }
    let mut text = format!("  {label:<10}{}", gauge_cells(style, Some(fraction)));
    if let Some(resets) = &plan.resets_at {
        text.push_str(&format!("  resets {}", time(resets)));
    }
    let mut notes = vec![seen];
    if plan.state == "stale" {
        notes.push("stale: policies ignore it".to_owned());
    }
    if let Some(limit) = plan.limit_percent {
        notes.push(format!("limit {limit:.0}%"));
    }
    text.push_str(&style.dim(&format!(" · {}", notes.join(" · "))));
    text
}

/// `1 prompt`, `3 prompts`.
fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn parse_ms(rfc: &str) -> Option<i64> {
    crate::store::ingest::parse_timestamp(rfc)
}

/// A time in the configured zone (else the local one): `10:00 (in 2h 30m)` today,
/// `Thu 09:00 (in 2d 3h)` later, `11-20 10:00` further back.
fn local_time(zone: Option<chrono_tz::Tz>, rfc: &str, now_ms: i64) -> String {
    let Some(ms) = parse_ms(rfc) else {
        return rfc.to_owned();
    };
    let format = |t: &dyn Fn(&str) -> String| {
        let ahead = ms - now_ms;
        if ahead > 0 {
            let pattern = if ahead < 20 * 3_600_000 {
                "%H:%M"
            } else {
                "%a %H:%M"
            };
            format!("{} (in {})", t(pattern), format_duration(ahead / 1000))
        } else if -ahead < 20 * 3_600_000 {
            t("%H:%M")
        } else {
            t("%m-%d %H:%M")
        }
    };
    let utc: DateTime<Utc> = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    match zone {
        Some(tz) => format(&|p| utc.with_timezone(&tz).format(p).to_string()),
        None => format(&|p| utc.with_timezone(&chrono::Local).format(p).to_string()),
    }
}

/// Ctrl-C for `--watch`: stop redrawing and exit 0 instead of dying mid-frame.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    static INTERRUPTED: AtomicBool = AtomicBool::new(false);

    /// The flag Ctrl-C sets.
    pub struct Stop;

    impl Stop {
        /// Whether Ctrl-C was pressed.
        pub fn is_set(&self) -> bool {
            INTERRUPTED.load(Ordering::SeqCst)
        }

        /// Sleeps `total`, waking early on Ctrl-C.
        pub fn sleep(&self, total: Duration) {
            let until = Instant::now() + total;
            while !self.is_set() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    #[cfg(unix)]
    extern "C" fn on_sigint(_: libc::c_int) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }

    /// Catches SIGINT (Unix; elsewhere Ctrl-C ends the process as usual).
    pub fn install() -> Stop {
        #[cfg(unix)]
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
        }
        Stop
    }
}
