//! The example policy (sdk/conformance/README.md), with the Rust SDK:
//!
//! * deny `Bash` commands containing `deny_pattern`;
//! * send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);
//! * warn above 80 % of `block_usd` (the 5-hour block's spend).
//!
//! It reads its config leniently (a key missing or of another type turns its rule off), and
//! declares its keys, so that `tollgate policy list` and `doctor` report a typo.
//!
//! Build: `cargo build --target wasm32-unknown-unknown --release`.

use serde_json::Value;
use tollgate_sdk::{Input, Output, PolicyInfo};

/// The config keys it reads.
const KEYS: &[&str] = &["deny_pattern", "opus_week_usd", "block_usd"];

/// Its config check (the module's `tollgate_check_config`): keys it does not read are typos.
fn check_config(policy: &PolicyInfo) -> Result<(), String> {
    tollgate_sdk::util::check_keys(&policy.config, KEYS)
}

/// A config number, or `None` when it is missing, not a number or not above zero (rule off).
fn budget(config: &Value, key: &str) -> Option<f64> {
    config
        .get(key)
        .and_then(Value::as_f64)
        .filter(|usd| *usd > 0.0)
}

fn evaluate(input: Input) -> Output {
    let config = &input.policy.config;
    let before_tool = input.event.hook_event_name() == "PreToolUse";

    let pattern = config.get("deny_pattern").and_then(Value::as_str);
    if let (true, Some("Bash"), Some(pattern), Some(command)) = (
        before_tool,
        input.event.tool_name(),
        pattern.filter(|p| !p.is_empty()),
        input.event.tool_input_str("command"),
    ) && command.contains(pattern)
    {
        return Output::deny(format!("command matches deny_pattern \"{pattern}\""));
    }

    if let Some(opus_week_usd) = budget(config, "opus_week_usd")
        && before_tool
        && input.event.is_subagent_call()
        && input
            .call_model()
            .is_some_and(|model| model.contains("opus"))
    {
        let spent = input
            .usage
            .by_family
            .get("opus")
            .map_or(0.0, |opus| opus.week.cost_usd);
        if spent > opus_week_usd * 0.5 {
            return Output::downgrade(
                "sonnet",
                "Opus spend this week is above 50 % of opus_week_usd",
            );
        }
    }

    if let Some(block_usd) = budget(config, "block_usd")
        && input.usage.block.cost_usd > block_usd * 0.8
    {
        return Output::warn("5-hour block spend is above 80 % of block_usd");
    }
    Output::allow()
}

tollgate_sdk::export_policy!(evaluate, check_config = check_config);
