//! The `model-router` policy: runs subagents on a cheaper model when a budget, the spending
//! rate or a routing rule says so.
//!
//! It acts on `PreToolUse` of the subagent tool (`Agent`, `Task` in older Claude Code). The
//! requested model is the call's `model`, or the session's model that the subagent inherits.
//! Families go opus > sonnet > haiku: it never upgrades and never touches Haiku. Triggers,
//! each off unless configured:
//!
//! * `opus_week_usd` / `opus_week_tokens`: from `downgrade_at` (0.5) of Opus's weekly
//!   budget, Opus subagents go to Sonnet.
//! * `max_block_burn_usd_per_hour`: when the 5-hour block's cost per hour since its start
//!   (at least 15 minutes) is above it, subagents go one family down.
//! * `rules`: the first rule whose `subagent_type` is the call's and whose `keywords` (any,
//!   case-insensitive) appear in its description or prompt gives the model, if cheaper.
//! * `seven_day_percent`: from this use of the plan's real 7-day window, Opus subagents go
//!   to Sonnet (figures observed within `max_observation_age_minutes`).
//!
//! Several triggers pick the cheapest of their models.
//!
//! ```toml
//! [[policy]]
//! name = "model-router"
//! events = ["PreToolUse"]
//! config = { opus_week_usd = 60.0, rules = [{ subagent_type = "Explore", model = "haiku" }] }
//! ```
//!
//! The keys are listed in `src/config.schema.json`.
#![deny(unsafe_code)]

use serde::Deserialize;
use tollgate_sdk::time::parse_rfc3339;
use tollgate_sdk::util::{
    Family, Meter, check_fraction, check_positive, format_duration, format_percent, format_usd,
};
use tollgate_sdk::{Describe, Input, Output, PolicyInfo};

/// JSON Schema of [`Config`], exported by `tollgate_describe`.
const CONFIG_SCHEMA: &str = include_str!("config.schema.json");

/// The shortest time a block's spending rate is taken over, in hours: the first minutes of a
/// block would otherwise look like a huge rate.
const MIN_BURN_HOURS: f64 = 0.25;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    opus_week_usd: Option<f64>,
    opus_week_tokens: Option<u64>,
    downgrade_at: f64,
    max_block_burn_usd_per_hour: Option<f64>,
    rules: Vec<Rule>,
    seven_day_percent: Option<f64>,
    max_observation_age_minutes: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            opus_week_usd: None,
            opus_week_tokens: None,
            downgrade_at: 0.5,
            max_block_burn_usd_per_hour: None,
            rules: Vec::new(),
            seven_day_percent: None,
            max_observation_age_minutes: 30,
        }
    }
}

/// A routing rule: its conditions (all that are given must match) and its model.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    subagent_type: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    model: String,
}

impl Config {
    fn read(policy: &PolicyInfo) -> Result<Config, String> {
        let config: Config = policy.config()?;
        check_fraction("downgrade_at", config.downgrade_at)?;
        check_positive("opus_week_usd", config.opus_week_usd)?;
        check_positive(
            "opus_week_tokens",
            config.opus_week_tokens.map(|t| t as f64),
        )?;
        check_positive(
            "max_block_burn_usd_per_hour",
            config.max_block_burn_usd_per_hour,
        )?;
        check_positive("seven_day_percent", config.seven_day_percent)?;
        for (number, rule) in (1..).zip(&config.rules) {
            if Family::of(&rule.model).is_none() {
                return Err(format!(
                    "rule {number}: model `{}` is not an opus, sonnet or haiku model",
                    rule.model
                ));
            }
            if rule.keywords.iter().any(|keyword| keyword.is_empty()) {
                return Err(format!(
                    "rule {number} has an empty keyword, which would match every call"
                ));
            }
            if rule.subagent_type.is_none() && rule.keywords.is_empty() {
                return Err(format!(
                    "rule {number} has no condition: give subagent_type, keywords or both"
                ));
            }
        }
        Ok(config)
    }
}

/// Evaluates one hook call (the module's `tollgate_evaluate` for this policy). The config is
/// read first: a broken one is an error on every call, not only on the events it acts on.
pub fn evaluate(input: Input) -> Result<Output, String> {
    let config = Config::read(&input.policy)?;
    if input.event.hook_event_name() != "PreToolUse" || !input.event.is_subagent_call() {
        return Ok(Output::allow());
    }
    // An unknown model cannot be placed in the order; Haiku has nothing cheaper.
    let Some(requested) = input.call_model() else {
        return Ok(Output::allow());
    };
    let family = match Family::of(requested) {
        None | Some(Family::Haiku) => return Ok(Output::allow()),
        Some(family) => family,
    };

    let triggers: Vec<Trigger> = [
        opus_budget(&input, &config, family),
        burn_rate(&input, &config, family),
        rule(&input, &config),
        plan_week(&input, &config, family),
    ]
    .into_iter()
    .flatten()
    .filter(|trigger| trigger.family < family)
    .collect();
    // The cheapest target; the first trigger naming it gives the model's spelling.
    let Some(target) = triggers.iter().min_by_key(|trigger| trigger.family) else {
        return Ok(Output::allow());
    };
    // The host names the models ("subagent moved from opus to sonnet: <reason>").
    let reasons: Vec<&str> = triggers.iter().map(|t| t.reason.as_str()).collect();
    Ok(Output::downgrade(target.model.clone(), reasons.join("; ")))
}

/// Checks this policy's config (its part of the module's `tollgate_check_config`).
pub fn check_config(policy: &PolicyInfo) -> Result<(), String> {
    Config::read(policy).map(drop)
}

/// This policy's description (its part of the module's `tollgate_describe`).
pub fn describe() -> Describe {
    Describe {
        name: "model-router".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Runs subagents on a cheaper model when the Opus budget, the spending \
                      rate, a routing rule or the plan's 7-day window says so."
            .into(),
        events: vec!["PreToolUse".into()],
        config_schema: serde_json::from_str(CONFIG_SCHEMA).unwrap_or_default(),
        policies: Vec::new(),
    }
}

/// A reason to run the subagent on a cheaper model.
struct Trigger {
    family: Family,
    /// The model to ask for: an alias, or the rule's model as written.
    model: String,
    reason: String,
}

impl Trigger {
    fn to(family: Family, reason: String) -> Trigger {
        Trigger {
            family,
            model: family.as_str().to_owned(),
            reason,
        }
    }
}

/// Opus's week against its budget, for an Opus subagent.
fn opus_budget(input: &Input, config: &Config, family: Family) -> Option<Trigger> {
    if family != Family::Opus {
        return None;
    }
    let week = input
        .usage
        .by_family
        .get(Family::Opus.as_str())
        .map(|windows| windows.week.clone())
        .unwrap_or_default();
    let meters = [
        config
            .opus_week_usd
            .map(|limit| Meter::cost("opus week", &week, limit)),
        config
            .opus_week_tokens
            .map(|limit| Meter::tokens("opus week", &week, limit)),
    ];
    let over: Vec<String> = meters
        .into_iter()
        .flatten()
        .filter(|meter| meter.ratio() >= config.downgrade_at)
        .map(|meter| meter.to_string())
        .collect();
    (!over.is_empty()).then(|| {
        let point = format_percent(config.downgrade_at);
        let reason = format!("{}, past the {point} downgrade point", over.join(" and "));
        Trigger::to(Family::Sonnet, reason)
    })
}

/// The block's spending rate, one family down.
fn burn_rate(input: &Input, config: &Config, family: Family) -> Option<Trigger> {
    let max = config.max_block_burn_usd_per_hour?;
    let block = &input.usage.block;
    let elapsed = input.now_unix()? - parse_rfc3339(block.start.as_deref()?)?;
    let rate = block.cost_usd / (elapsed as f64 / 3600.0).max(MIN_BURN_HOURS);
    if rate <= max {
        return None;
    }
    let reason = format!(
        "5-hour block spending {}/h over {} ({} so far), above {}/h",
        format_usd(rate),
        format_duration(elapsed),
        format_usd(block.cost_usd),
        format_usd(max),
    );
    Some(Trigger::to(family.cheaper()?, reason))
}

/// The first routing rule that matches the call.
fn rule(input: &Input, config: &Config) -> Option<Trigger> {
    let event = &input.event;
    let subagent_type = event.tool_input_str("subagent_type");
    let text = ["description", "prompt"]
        .map(|key| event.tool_input_str(key).unwrap_or_default())
        .join("\n")
        .to_lowercase();
    let (number, rule, keyword) = (1..).zip(&config.rules).find_map(|(number, rule)| {
        if rule.subagent_type.is_some() && rule.subagent_type.as_deref() != subagent_type {
            return None;
        }
        let keyword = match &rule.keywords[..] {
            [] => None,
            keywords => Some(
                keywords
                    .iter()
                    .find(|keyword| text.contains(&keyword.to_lowercase()))?,
            ),
        };
        Some((number, rule, keyword))
    })?;

    let conditions: Vec<String> = [
        rule.subagent_type
            .as_ref()
            .map(|kind| format!("subagent_type {kind}")),
        keyword.map(|keyword| format!("keyword \"{keyword}\"")),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(Trigger {
        family: Family::of(&rule.model)?,
        model: rule.model.clone(),
        reason: format!(
            "rule {number} ({}) routes it to {}",
            conditions.join(", "),
            rule.model
        ),
    })
}

/// The plan's real 7-day window, for an Opus subagent.
fn plan_week(input: &Input, config: &Config, family: Family) -> Option<Trigger> {
    let limit = config.seven_day_percent?;
    let window = input.seven_day_limit(config.max_observation_age_minutes)?;
    let meter = Meter::plan("plan 7-day window", window, limit);
    (family == Family::Opus && meter.ratio() >= 1.0)
        .then(|| Trigger::to(Family::Sonnet, meter.to_string()))
}

#[cfg(test)]
mod tests;
