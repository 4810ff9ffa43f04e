//! The `budget` policy: spending limits on the session, the 5-hour block, the day and the
//! week (in dollars or tokens), per model family, and on the plan's real 5-hour and 7-day
//! windows.
//!
//! It acts on `PreToolUse` and `UserPromptSubmit`. When a figure reaches `warn_at` of its
//! limit it warns, once per window; at the limit it answers `at_limit` (`ask` by default, on
//! every call; `warn` warns once per window). Every limit is optional:
//!
//! ```toml
//! [[policy]]
//! name = "budget"
//! events = ["PreToolUse", "UserPromptSubmit"]
//! config = { block_usd = 5.0, week_usd = 50.0, at_limit = "ask", families = { opus = { week_usd = 30.0 } } }
//! ```
//!
//! A limit in dollars cannot act on tokens whose cost is unknown (a model neither tollgate nor
//! Claude Code could price): while a window holds some, it warns once, naming the model.
//!
//! A family's limits apply only when the call runs on that family: the model an
//! `Agent`/`Task` call requests for its subagent, otherwise the session's model. The plan's
//! windows (`five_hour_percent`, `seven_day_percent`) are used only when observed less than
//! `max_observation_age_minutes` ago. The keys are listed in `src/config.schema.json`.
#![deny(unsafe_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use tollgate_sdk::time::parse_rfc3339;
use tollgate_sdk::util::{
    Action, Family, Meter, OncePerWindow, check_fraction, check_positive, format_duration,
    format_tokens, format_usd,
};
use tollgate_sdk::{Describe, Input, Output, PolicyInfo, TeamUsage, Window};

/// JSON Schema of [`Config`], exported by `tollgate_describe`.
const CONFIG_SCHEMA: &str = include_str!("config.schema.json");

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    session_usd: Option<f64>,
    block_usd: Option<f64>,
    day_usd: Option<f64>,
    week_usd: Option<f64>,
    session_tokens: Option<u64>,
    block_tokens: Option<u64>,
    day_tokens: Option<u64>,
    week_tokens: Option<u64>,
    families: BTreeMap<Family, FamilyLimits>,
    warn_at: f64,
    at_limit: Action,
    five_hour_percent: Option<f64>,
    seven_day_percent: Option<f64>,
    max_observation_age_minutes: u64,
    team_week_usd: Option<f64>,
    person_share: Option<f64>,
    team_max_staleness_minutes: u64,
    team_stale: TeamStale,
}

/// What to do when the team figures are older than `team_max_staleness_minutes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TeamStale {
    /// Skip the team limits.
    Ignore,
    /// Skip them and warn (once per sync).
    Warn,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_usd: None,
            block_usd: None,
            day_usd: None,
            week_usd: None,
            session_tokens: None,
            block_tokens: None,
            day_tokens: None,
            week_tokens: None,
            families: BTreeMap::new(),
            warn_at: 0.8,
            at_limit: Action::Ask,
            five_hour_percent: None,
            seven_day_percent: None,
            max_observation_age_minutes: 30,
            team_week_usd: None,
            person_share: None,
            team_max_staleness_minutes: 120,
            team_stale: TeamStale::Ignore,
        }
    }
}

/// The limits of one model family.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FamilyLimits {
    block_usd: Option<f64>,
    week_usd: Option<f64>,
    block_tokens: Option<u64>,
    week_tokens: Option<u64>,
}

impl Config {
    fn read(policy: &PolicyInfo) -> Result<Config, String> {
        let config: Config = policy.config()?;
        check_fraction("warn_at", config.warn_at)?;
        if let Some(share) = config.person_share {
            check_fraction("person_share", share)?;
        }
        let tokens = |limit: Option<u64>| limit.map(|limit| limit as f64);
        let mut limits = vec![
            ("session_usd", config.session_usd),
            ("block_usd", config.block_usd),
            ("day_usd", config.day_usd),
            ("week_usd", config.week_usd),
            ("session_tokens", tokens(config.session_tokens)),
            ("block_tokens", tokens(config.block_tokens)),
            ("day_tokens", tokens(config.day_tokens)),
            ("week_tokens", tokens(config.week_tokens)),
            ("five_hour_percent", config.five_hour_percent),
            ("seven_day_percent", config.seven_day_percent),
            ("team_week_usd", config.team_week_usd),
        ];
        for family in config.families.values() {
            limits.extend([
                ("families.*.block_usd", family.block_usd),
                ("families.*.week_usd", family.week_usd),
                ("families.*.block_tokens", tokens(family.block_tokens)),
                ("families.*.week_tokens", tokens(family.week_tokens)),
            ]);
        }
        for (name, limit) in limits {
            check_positive(name, limit)?;
        }
        Ok(config)
    }
}

/// Evaluates one hook call (the module's `tollgate_evaluate` for this policy). The config is
/// read first: a broken one is an error on every call, not only on the events it acts on.
pub fn evaluate(input: Input) -> Result<Output, String> {
    let config = Config::read(&input.policy)?;
    if !matches!(
        input.event.hook_event_name(),
        "PreToolUse" | "UserPromptSubmit"
    ) {
        return Ok(Output::allow());
    }
    let mut once = OncePerWindow::from_state(&input.state);
    let mut findings: Vec<Output> = checks(&input, &config)
        .into_iter()
        .filter_map(|check| check.judge(&config, &mut once))
        .collect();
    findings.extend(stale_team_warning(&input, &config, &mut once));
    Ok(once.attach(Output::combine(findings)))
}

/// Checks this policy's config (its part of the module's `tollgate_check_config`).
pub fn check_config(policy: &PolicyInfo) -> Result<(), String> {
    Config::read(policy).map(drop)
}

/// This policy's description (its part of the module's `tollgate_describe`).
pub fn describe() -> Describe {
    Describe {
        name: "budget".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Spending limits per session, 5-hour block, day, week, model family and \
                      plan window: warns near a limit, asks (or denies) at it."
            .into(),
        events: vec!["PreToolUse".into(), "UserPromptSubmit".into()],
        config_schema: serde_json::from_str(CONFIG_SCHEMA).unwrap_or_default(),
        policies: Vec::new(),
    }
}

/// One figure to hold against its limit.
struct Check {
    /// The warn-once scope, e.g. `block:usd`.
    scope: String,
    /// The window's identity, e.g. the block's start.
    window: String,
    measure: Measure,
    /// Seconds until the window resets, when known.
    resets_in: Option<i64>,
}

/// What a check holds against its limit.
enum Measure {
    /// A figure: at `warn_at` of the limit a warning, at the limit `at_limit`.
    Meter(Meter),
    /// Tokens whose cost is unknown in a window with a limit in dollars: that limit cannot act
    /// on them (a warning, once per window).
    UnknownCost {
        /// How reasons name the window, e.g. `5-hour block`.
        label: String,
        tokens: u64,
        models: Vec<String>,
        limit_usd: f64,
    },
}

impl Check {
    /// The finding, if any: `at_limit` at 100%, a warning (once) at `warn_at`; for tokens of
    /// unknown cost, a warning (once).
    fn judge(self, config: &Config, once: &mut OncePerWindow) -> Option<Output> {
        let meter = match self.measure {
            Measure::Meter(meter) => meter,
            Measure::UnknownCost {
                label,
                tokens,
                models,
                limit_usd,
            } => {
                let models = if models.is_empty() {
                    "a model".to_owned()
                } else {
                    models.join(", ")
                };
                return once.first(&self.scope, &self.window, 0).then(|| {
                    Output::warn(format!(
                        "{label} cost unknown for {} tokens of {models} (no price): the {} \
                         limit cannot act on them; add the price under [prices] in tollgate's \
                         config",
                        format_tokens(tokens),
                        format_usd(limit_usd),
                    ))
                });
            }
        };
        let ratio = meter.ratio();
        let level = if ratio >= 1.0 {
            100
        } else if ratio >= config.warn_at {
            // Below 100, which is the limit's level.
            ((config.warn_at * 100.0).round() as u32).min(99)
        } else {
            return None;
        };
        let action = if level == 100 {
            config.at_limit
        } else {
            Action::Warn
        };
        // Asks and denies repeat on every call; warnings are given once per window and level.
        if action == Action::Warn && !once.first(&self.scope, &self.window, level) {
            return None;
        }
        let resets = self
            .resets_in
            .map(|seconds| format!(", resets in {}", format_duration(seconds)))
            .unwrap_or_default();
        Some(action.output(format!("{meter}{resets}")))
    }
}

/// A window of usage, to hold against a cost and a token limit.
struct Span<'a> {
    /// The warn-once scope, e.g. `block`.
    scope: String,
    /// How reasons name it, e.g. `5-hour block`.
    label: String,
    /// The window's identity, e.g. the block's start.
    window: String,
    figures: &'a Window,
    resets_in: Option<i64>,
}

impl<'a> Span<'a> {
    fn new(
        scope: &str,
        label: &str,
        window: Option<&str>,
        figures: &'a Window,
        resets_in: Option<i64>,
    ) -> Self {
        Span {
            scope: scope.to_owned(),
            label: label.to_owned(),
            window: window.unwrap_or_default().to_owned(),
            figures,
            resets_in,
        }
    }

    /// The same window, counting only `family`'s usage.
    fn family<'b>(&self, family: Family, figures: &'b Window) -> Span<'b> {
        Span {
            scope: format!("{}:{}", family.as_str(), self.scope),
            label: format!("{} {}", family.as_str(), self.label),
            window: self.window.clone(),
            figures,
            resets_in: self.resets_in,
        }
    }

    /// The checks of the limits that are set (and, for a limit in dollars, of the tokens whose
    /// cost is unknown).
    fn checks(&self, usd: Option<f64>, tokens: Option<u64>) -> impl Iterator<Item = Check> {
        let check = |unit: &str, measure| Check {
            scope: format!("{}:{unit}", self.scope),
            window: self.window.clone(),
            measure,
            resets_in: self.resets_in,
        };
        let figures = self.figures;
        let unknown = usd
            .filter(|_| figures.unpriced_tokens > 0)
            .map(|limit_usd| {
                check(
                    "usd:unknown",
                    Measure::UnknownCost {
                        label: self.label.clone(),
                        tokens: figures.unpriced_tokens,
                        models: figures.unpriced_models.clone(),
                        limit_usd,
                    },
                )
            });
        let usd = usd.map(|limit| {
            check(
                "usd",
                Measure::Meter(Meter::cost(&self.label, figures, limit)),
            )
        });
        let tokens = tokens.map(|limit| {
            check(
                "tokens",
                Measure::Meter(Meter::tokens(&self.label, figures, limit)),
            )
        });
        usd.into_iter().chain(unknown).chain(tokens)
    }
}

/// The configured limits, with this call's figures.
fn checks(input: &Input, config: &Config) -> Vec<Check> {
    let usage = &input.usage;
    let now = input.now_unix();
    // Only a reset still to come: a past one means stale figures, better not quoted.
    let resets_in = |end: &Option<String>| {
        Some(parse_rfc3339(end.as_deref()?)? - now?).filter(|seconds| *seconds > 0)
    };
    let session = Span::new(
        "session",
        "session",
        input.event.session_id(),
        &usage.session,
        None,
    );
    let block = Span::new(
        "block",
        "5-hour block",
        usage.block.start.as_deref(),
        &usage.block,
        resets_in(&usage.block.end),
    );
    let day = Span::new(
        "day",
        "day",
        usage.day.start.as_deref(),
        &usage.day,
        resets_in(&usage.day.end),
    );
    let week = Span::new(
        "week",
        "week",
        usage.week.start.as_deref(),
        &usage.week,
        resets_in(&usage.week.end),
    );

    let mut checks: Vec<Check> = session
        .checks(config.session_usd, config.session_tokens)
        .collect();
    // No block running: its figures are zero.
    checks.extend(block.checks(config.block_usd, config.block_tokens));
    checks.extend(day.checks(config.day_usd, config.day_tokens));
    checks.extend(week.checks(config.week_usd, config.week_tokens));

    if let Some(family) = input.call_model().and_then(Family::of)
        && let Some(limits) = config.families.get(&family)
    {
        let figures = usage
            .by_family
            .get(family.as_str())
            .cloned()
            .unwrap_or_default();
        let block = block.family(family, &figures.block);
        checks.extend(block.checks(limits.block_usd, limits.block_tokens));
        let week = week.family(family, &figures.week);
        checks.extend(week.checks(limits.week_usd, limits.week_tokens));
    }

    if let Some(team) = usage.team.as_ref().filter(|t| !team_is_stale(t, config)) {
        let team_week = Span::new(
            "team_week",
            "team week",
            usage.week.start.as_deref(),
            &team.team.week,
            resets_in(&usage.week.end),
        );
        checks.extend(team_week.checks(config.team_week_usd, None));
        let share = config.team_week_usd.zip(config.person_share);
        let person_week = Span::new(
            "person_week",
            "your share of the team week",
            usage.week.start.as_deref(),
            &team.person.week,
            resets_in(&usage.week.end),
        );
        checks.extend(person_week.checks(share.map(|(usd, share)| usd * share), None));
    }

    let max_age = config.max_observation_age_minutes;
    let plan_windows = [
        (
            "five_hour",
            "plan 5-hour window",
            config.five_hour_percent,
            input.five_hour_limit(max_age),
        ),
        (
            "seven_day",
            "plan 7-day window",
            config.seven_day_percent,
            input.seven_day_limit(max_age),
        ),
    ];
    for (scope, label, limit, window) in plan_windows {
        if let (Some(limit), Some(window)) = (limit, window) {
            checks.push(Check {
                scope: scope.to_owned(),
                window: window.resets_at.clone().unwrap_or_default(),
                measure: Measure::Meter(Meter::plan(label, window, limit)),
                resets_in: resets_in(&window.resets_at),
            });
        }
    }
    checks
}

/// Whether the team figures are too old to hold against the team limits.
fn team_is_stale(team: &TeamUsage, config: &Config) -> bool {
    team.age_minutes > config.team_max_staleness_minutes
}

/// With `team_stale = "warn"`: a warning (once per sync) that team limits are not checked.
fn stale_team_warning(input: &Input, config: &Config, once: &mut OncePerWindow) -> Option<Output> {
    let team = input.usage.team.as_ref()?;
    let limited = config.team_week_usd.is_some();
    if !limited || config.team_stale != TeamStale::Warn || !team_is_stale(team, config) {
        return None;
    }
    let synced = team.synced_at.clone().unwrap_or_default();
    once.first("team:stale", &synced, 0).then(|| {
        Output::warn(format!(
            "team figures are {} minutes old (last `tollgate sync`): team limits are not checked until the next sync",
            team.age_minutes
        ))
    })
}

#[cfg(test)]
mod tests;
