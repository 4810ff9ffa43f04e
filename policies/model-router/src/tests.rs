use serde_json::{Value, json};
use tollgate_sdk::util::check_config_schema;
use tollgate_sdk::{Input, Output, run_json};

use super::{Config, describe, evaluate};

/// An `Agent` call asking for `model` (none when `null`) at 07:30, in the block that started
/// at 05:00, with the session on Opus.
fn agent(model: Value, config: Value) -> Value {
    json!({
        "abi": 1,
        "now": "2026-11-12T07:30:00Z",
        "policy": { "name": "model-router", "config": config },
        "event": {
            "hook_event_name": "PreToolUse", "session_id": "s1", "tool_name": "Agent",
            "tool_input": {
                "description": "Find the parser",
                "prompt": "Find where the config parser lives and summarise it",
                "subagent_type": "general-purpose",
                "model": model,
            },
        },
        "usage": {
            "block": {
                "active": true, "start": "2026-11-12T05:00:00Z", "end": "2026-11-12T10:00:00Z",
                "cost_usd": 10.0,
            },
            "by_family": { "opus": { "week": { "cost_usd": 31.0, "total_tokens": 2_000_000 } } },
        },
        "context": { "tokens": 50_000, "limit": 200_000, "model": "claude-opus-4-5-20251101" },
        "state": {},
    })
}

fn eval(document: Value) -> Output {
    let input: Input = serde_json::from_value(document).unwrap();
    evaluate(input).unwrap()
}

const OPUS_BUDGET: &str =
    "opus week cost $31.00 of $50.00 budget (62%), past the 50% downgrade point";

#[test]
fn only_subagent_calls_are_routed() {
    let config = json!({ "opus_week_usd": 50.0 });
    assert_eq!(
        eval(agent(json!("opus"), Value::Null)),
        Output::allow(),
        "no config"
    );
    let mut bash = agent(json!("opus"), config.clone());
    bash["event"]["tool_name"] = json!("Bash");
    assert_eq!(eval(bash), Output::allow());
    let mut after = agent(json!("opus"), config.clone());
    after["event"]["hook_event_name"] = json!("PostToolUse");
    assert_eq!(eval(after), Output::allow());
    let mut task = agent(json!("opus"), config);
    task["event"]["tool_name"] = json!("Task");
    assert_eq!(eval(task).model.as_deref(), Some("sonnet"));
}

#[test]
fn the_opus_budget_sends_opus_subagents_to_sonnet() {
    let config = json!({ "opus_week_usd": 50.0 });
    assert_eq!(
        eval(agent(json!("opus"), config.clone())),
        Output::downgrade("sonnet", OPUS_BUDGET)
    );
    // No model: the subagent inherits the session's Opus.
    assert_eq!(
        eval(agent(Value::Null, config.clone())),
        Output::downgrade("sonnet", OPUS_BUDGET)
    );
    assert_eq!(eval(agent(json!("sonnet"), config)), Output::allow());

    let below = json!({ "opus_week_usd": 50.0, "downgrade_at": 0.7 });
    assert_eq!(eval(agent(json!("opus"), below)), Output::allow());

    let tokens = json!({ "opus_week_tokens": 3_000_000, "opus_week_usd": 40.0 });
    assert_eq!(
        eval(agent(json!("opus"), tokens)).reason.as_deref(),
        Some(
            "opus week cost $31.00 of $40.00 budget (78%) and opus week used 2M of 3M tokens (67%), past the 50% downgrade point"
        )
    );
}

#[test]
fn a_fast_burn_goes_one_family_down() {
    // $10 in 2h 30m is $4/h.
    let config = json!({ "max_block_burn_usd_per_hour": 3.0 });
    let reason = "5-hour block spending $4.00/h over 2h 30m ($10.00 so far), above $3.00/h";
    assert_eq!(
        eval(agent(json!("opus"), config.clone())),
        Output::downgrade("sonnet", reason)
    );
    assert_eq!(
        eval(agent(json!("sonnet"), config.clone())),
        Output::downgrade("haiku", reason)
    );
    assert_eq!(eval(agent(json!("haiku"), config.clone())), Output::allow());

    // Five minutes into a block, $2 counts over 15 minutes: $8/h.
    let mut early = agent(json!("opus"), json!({ "max_block_burn_usd_per_hour": 7.9 }));
    early["now"] = json!("2026-11-12T05:05:00Z");
    early["usage"]["block"]["cost_usd"] = json!(2.0);
    assert_eq!(
        eval(early.clone()).reason.as_deref(),
        Some("5-hour block spending $8.00/h over 5m ($2.00 so far), above $7.90/h")
    );
    early["policy"]["config"]["max_block_burn_usd_per_hour"] = json!(8.1);
    assert_eq!(eval(early), Output::allow());

    let mut no_block = agent(json!("opus"), config);
    no_block["usage"]["block"] = json!({ "active": false });
    assert_eq!(eval(no_block), Output::allow());
}

#[test]
fn rules_route_by_subagent_type_and_keywords() {
    let config = json!({ "rules": [
        { "subagent_type": "Explore", "model": "haiku" },
        { "keywords": ["list files", "WHERE THE CONFIG"], "model": "claude-haiku-4-5" },
        { "keywords": ["summarise"], "model": "sonnet" },
    ] });
    let mut explore = agent(json!("opus"), config.clone());
    explore["event"]["tool_input"]["subagent_type"] = json!("Explore");
    assert_eq!(
        eval(explore),
        Output::downgrade("haiku", "rule 1 (subagent_type Explore) routes it to haiku")
    );
    assert_eq!(
        eval(agent(json!("sonnet"), config.clone())),
        Output::downgrade(
            "claude-haiku-4-5",
            "rule 2 (keyword \"WHERE THE CONFIG\") routes it to claude-haiku-4-5"
        )
    );
    // The first match wins, even when it is not cheaper: never an upgrade.
    let first_wins = json!({ "rules": [
        { "keywords": ["parser"], "model": "opus" },
        { "keywords": ["parser"], "model": "haiku" },
    ] });
    assert_eq!(eval(agent(json!("sonnet"), first_wins)), Output::allow());
    let both = json!({ "rules": [
        { "subagent_type": "Explore", "keywords": ["parser"], "model": "haiku" },
    ] });
    assert_eq!(
        eval(agent(json!("opus"), both.clone())),
        Output::allow(),
        "wrong type"
    );
    let mut explore = agent(json!("opus"), both);
    explore["event"]["tool_input"]["subagent_type"] = json!("Explore");
    assert_eq!(
        eval(explore).reason.as_deref(),
        Some(
            "rule 1 (subagent_type Explore, keyword \
             \"parser\") routes it to haiku"
        )
    );
}

#[test]
fn the_plan_week_sends_opus_to_sonnet() {
    let mut document = agent(json!("opus"), json!({ "seven_day_percent": 80.0 }));
    document["limits"] = json!({ "seven_day": {
        "used_percentage": 83.0, "resets_at": "2026-11-16T00:00:00Z",
        "observed_at": "2026-11-12T07:25:00Z",
    } });
    assert_eq!(
        eval(document.clone()),
        Output::downgrade("sonnet", "plan 7-day window 83% used (limit 80%)")
    );
    let mut sonnet = document.clone();
    sonnet["event"]["tool_input"]["model"] = json!("sonnet");
    assert_eq!(eval(sonnet), Output::allow());
    document["limits"]["seven_day"]["observed_at"] = json!("2026-11-12T06:00:00Z");
    assert_eq!(eval(document), Output::allow(), "stale");
}

#[test]
fn several_triggers_pick_the_cheapest_model() {
    let config = json!({
        "opus_week_usd": 50.0,
        "rules": [{ "keywords": ["find"], "model": "haiku" }],
    });
    assert_eq!(
        eval(agent(json!("opus"), config)),
        Output::downgrade(
            "haiku",
            format!(
                "{OPUS_BUDGET}; rule 1 (keyword \
                 \"find\") routes it to haiku"
            )
        )
    );
}

#[test]
fn unknown_models_are_left_alone() {
    let config = json!({ "max_block_burn_usd_per_hour": 1.0 });
    assert_eq!(eval(agent(json!("gpt-5"), config.clone())), Output::allow());
    let mut no_model = agent(Value::Null, config);
    no_model["context"]["model"] = Value::Null;
    assert_eq!(eval(no_model), Output::allow());
}

#[test]
fn invalid_configs_are_errors() {
    for (config, error) in [
        (
            json!({ "opus_usd": 1 }),
            "unknown key `opus_usd` (did you mean",
        ),
        (
            json!({ "downgrade_at": 0 }),
            "`downgrade_at` must be above 0 and at most 1",
        ),
        (
            json!({ "opus_week_tokens": 0 }),
            "`opus_week_tokens` must be above 0",
        ),
        (
            json!({ "rules": [{ "keywords": ["x"], "model": "gpt-5" }] }),
            "rule 1: model `gpt-5` is not an opus, sonnet or haiku model",
        ),
        (
            json!({ "rules": [{ "model": "haiku" }] }),
            "rule 1 has no condition: give subagent_type, keywords or both",
        ),
        (
            json!({ "rules": [{ "keywords": ["x"] }] }),
            "missing field `model`",
        ),
    ] {
        let document = agent(json!("opus"), config.clone());
        let message = evaluate(serde_json::from_value(document).unwrap()).unwrap_err();
        assert!(message.contains(error), "{config}: {message}");
    }
}

#[test]
fn describe_lists_the_config() {
    let describe = describe();
    assert_eq!(describe.name, "model-router");
    assert_eq!(describe.events, ["PreToolUse"]);
    assert_eq!(
        check_config_schema::<Config>(&describe.config_schema),
        Ok(())
    );
}

#[test]
fn round_trip_through_the_abi_documents() {
    let document = agent(json!("opus"), json!({ "opus_week_usd": 50.0 }));
    let output: Value =
        serde_json::from_slice(&run_json(document.to_string().as_bytes(), evaluate)).unwrap();
    assert_eq!(
        output,
        json!({
            "decision": "downgrade",
            "model": "sonnet",
            "reason": OPUS_BUDGET,
        })
    );
}
