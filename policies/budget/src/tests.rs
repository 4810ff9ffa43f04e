use serde_json::{Value, json};
use tollgate_sdk::util::check_config_schema;
use tollgate_sdk::{Decision, Input, Output, run_json};

use super::{Config, check_config, describe, evaluate};

const NOW: &str = "2026-11-12T07:30:00Z";

/// A `PreToolUse` of `Bash` on Opus at [`NOW`], in the block 05:00–10:00 and the week from
/// Monday 9 November, with the given config, usage and state.
fn input(config: Value, usage: Value, state: Value) -> Value {
    let mut usage = usage;
    for (window, start, end) in [
        ("block", "2026-11-12T05:00:00Z", "2026-11-12T10:00:00Z"),
        ("day", "2026-11-12T00:00:00Z", "2026-11-13T00:00:00Z"),
        ("week", "2026-11-09T00:00:00Z", "2026-11-16T00:00:00Z"),
    ] {
        usage[window]["start"] = json!(start);
        usage[window]["end"] = json!(end);
    }
    usage["block"]["active"] = json!(true);
    json!({
        "abi": 1,
        "now": NOW,
        "policy": { "name": "budget", "config": config },
        "event": {
            "hook_event_name": "PreToolUse", "session_id": "s1", "tool_name": "Bash",
            "tool_input": { "command": "cargo test" },
        },
        "usage": usage,
        "context": { "tokens": 50_000, "limit": 200_000, "model": "claude-opus-4-5-20251101" },
        "state": state,
    })
}

fn eval(document: Value) -> Output {
    let input: Input = serde_json::from_value(document).unwrap();
    evaluate(input).unwrap()
}

fn block_cost(cost: f64) -> Value {
    json!({ "block": { "cost_usd": cost } })
}

#[test]
fn no_limits_allow_everything() {
    let usage = json!({ "session": { "cost_usd": 900.0 }, "block": { "cost_usd": 500.0 } });
    assert_eq!(eval(input(Value::Null, usage, json!({}))), Output::allow());
}

#[test]
fn warns_once_per_block_and_again_in_the_next() {
    let config = json!({ "block_usd": 5.0 });
    let first = eval(input(config.clone(), block_cost(4.1), json!({})));
    assert_eq!(first.decision, Decision::Warn);
    assert_eq!(
        first.reason.as_deref(),
        Some("5-hour block cost $4.10 of $5.00 budget (82%), resets in 2h 30m")
    );
    let state = first.state.expect("the warning is recorded");

    let second = eval(input(config.clone(), block_cost(4.3), state.clone()));
    assert_eq!(
        second,
        Output::allow(),
        "no second warning, no state change"
    );

    let mut next_block = input(config, block_cost(4.2), state);
    next_block["now"] = json!("2026-11-12T10:30:00Z");
    next_block["usage"]["block"]["start"] = json!("2026-11-12T10:00:00Z");
    next_block["usage"]["block"]["end"] = json!("2026-11-12T15:00:00Z");
    let third = eval(next_block);
    assert_eq!(third.decision, Decision::Warn);
    assert_eq!(
        third.reason.as_deref(),
        Some("5-hour block cost $4.20 of $5.00 budget (84%), resets in 4h 30m")
    );
}

#[test]
fn asks_at_the_limit_on_every_call() {
    let config = json!({ "block_usd": 5.0 });
    let reason = "5-hour block cost $5.20 of $5.00 budget (104%), resets in 2h 30m";
    let first = eval(input(config.clone(), block_cost(5.2), json!({})));
    assert_eq!(first, Output::ask(reason));
    let again = eval(input(config, block_cost(5.2), json!({})));
    assert_eq!(again, Output::ask(reason));
}

#[test]
fn at_limit_can_deny_or_warn_once() {
    let deny = eval(input(
        json!({ "block_usd": 5.0, "at_limit": "deny" }),
        block_cost(5.0),
        json!({}),
    ));
    assert_eq!(deny.decision, Decision::Deny);

    let config = json!({ "block_usd": 5.0, "at_limit": "warn", "warn_at": 0.9 });
    let near = eval(input(config.clone(), block_cost(4.6), json!({})));
    assert_eq!(near.decision, Decision::Warn);
    let over = eval(input(config.clone(), block_cost(5.1), near.state.unwrap()));
    assert_eq!(over.decision, Decision::Warn, "100% is a new level");
    let again = eval(input(config, block_cost(5.3), over.state.unwrap()));
    assert_eq!(again, Output::allow());
}

#[test]
fn unpriced_cost_is_a_lower_bound() {
    let usage = json!({ "session": { "cost_usd": 10.5, "unpriced_messages": 3 } });
    let output = eval(input(json!({ "session_usd": 10.0 }), usage, json!({})));
    assert_eq!(
        output.reason.as_deref(),
        Some("session cost at least $10.50 of $10.00 budget (105%; 3 messages without a price)")
    );
}

#[test]
fn a_usd_limit_says_it_cannot_act_while_the_cost_is_unknown() {
    let usage = json!({ "block": { "cost_usd": 0.0, "unpriced_messages": 40,
        "unpriced_tokens": 830_000, "unpriced_models": ["claude-next-1"],
        "total_tokens": 830_000 } });
    let config = json!({ "block_usd": 20.0, "block_tokens": 10_000_000 });
    let first = eval(input(config.clone(), usage.clone(), json!({})));
    assert_eq!(first.decision, Decision::Warn);
    assert_eq!(
        first.reason.as_deref(),
        Some(
            "5-hour block cost unknown for 830k tokens of claude-next-1 (no price): the $20.00 \
             limit cannot act on them; add the price under [prices] in tollgate's config"
        )
    );
    // Once per block.
    let again = eval(input(config.clone(), usage.clone(), first.state.unwrap()));
    assert_eq!(again, Output::allow());
    // A token limit alone has nothing to say about prices.
    let tokens_only = eval(input(
        json!({ "block_tokens": 10_000_000 }),
        usage,
        json!({}),
    ));
    assert_eq!(tokens_only, Output::allow());
}

#[test]
fn every_window_and_unit_combined_strongest_first() {
    let config = json!({
        "session_tokens": 1_000_000, "day_usd": 20.0, "week_tokens": 10_000_000,
        "week_usd": 100.0,
    });
    let usage = json!({
        "session": { "total_tokens": 850_000 },
        "day": { "cost_usd": 21.0 },
        "week": { "cost_usd": 50.0, "total_tokens": 9_000_000 },
    });
    let output = eval(input(config, usage, json!({})));
    assert_eq!(output.decision, Decision::Ask);
    assert_eq!(
        output.reason.as_deref(),
        Some(
            "day cost $21.00 of $20.00 budget (105%), resets in 16h 30m; \
             session used 850k of 1M tokens (85%); \
             week used 9M of 10M tokens (90%), resets in 3d 16h"
        )
    );
    let once = &output.state.unwrap()["once"];
    assert_eq!(
        once["session:tokens"],
        json!({ "window": "s1", "levels": [80] })
    );
    assert_eq!(
        once["week:tokens"],
        json!({ "window": "2026-11-09T00:00:00Z", "levels": [80] })
    );
    assert!(once.get("day:usd").is_none(), "asks are not recorded");
}

#[test]
fn acts_on_tool_calls_and_prompts_only() {
    let config = json!({ "block_usd": 1.0 });
    for event in ["PostToolUse", "Stop", "SessionStart", "SomeFutureEvent", ""] {
        let mut document = input(config.clone(), block_cost(9.0), json!({}));
        document["event"]["hook_event_name"] = json!(event);
        assert_eq!(eval(document), Output::allow(), "{event}");
    }
    let mut prompt = input(config, block_cost(9.0), json!({}));
    prompt["event"] = json!({ "hook_event_name": "UserPromptSubmit", "prompt": "go on" });
    assert_eq!(eval(prompt).decision, Decision::Ask);
}

#[test]
fn family_limits_follow_the_model_of_the_call() {
    let config = json!({ "families": { "opus": { "week_usd": 30.0, "block_tokens": 100 } } });
    let usage = json!({ "by_family": { "opus": { "week": { "cost_usd": 31.0 } } } });
    let reason = "opus week cost $31.00 of $30.00 budget (103%), resets in 3d 16h";
    let on_opus = input(config, usage, json!({}));
    assert_eq!(
        eval(on_opus.clone()),
        Output::ask(reason),
        "the session's model"
    );

    let mut agent = on_opus.clone();
    agent["event"]["tool_name"] = json!("Agent");
    agent["event"]["tool_input"] = json!({ "prompt": "find it", "model": "haiku" });
    assert_eq!(eval(agent.clone()), Output::allow(), "a Haiku subagent");
    agent["event"]["tool_input"]["model"] = json!("inherit");
    assert_eq!(eval(agent.clone()), Output::ask(reason), "inherits Opus");

    let mut on_sonnet = agent;
    on_sonnet["context"]["model"] = json!("claude-sonnet-4-6");
    assert_eq!(eval(on_sonnet.clone()), Output::allow());
    on_sonnet["event"]["tool_input"]["model"] = json!("opus");
    assert_eq!(eval(on_sonnet), Output::ask(reason), "an Opus subagent");
}

#[test]
fn plan_windows_need_a_current_observation() {
    let mut document = input(json!({ "five_hour_percent": 90.0 }), json!({}), json!({}));
    document["limits"] = json!({ "five_hour": {
        "used_percentage": 92.0, "resets_at": "2026-11-12T09:00:00Z",
        "observed_at": "2026-11-12T07:20:00Z",
    } });
    let reason = "plan 5-hour window 92% used (limit 90%), resets in 1h 30m";
    assert_eq!(eval(document.clone()), Output::ask(reason));

    document["limits"]["five_hour"]["observed_at"] = json!("2026-11-12T05:30:00Z");
    assert_eq!(
        eval(document.clone()),
        Output::allow(),
        "observed 2 hours ago"
    );
    document["policy"]["config"]["max_observation_age_minutes"] = json!(180);
    assert_eq!(eval(document.clone()), Output::ask(reason));

    document["policy"]["config"]["seven_day_percent"] = json!(50.0);
    document["limits"]["seven_day"] = json!({
        "used_percentage": 41.0, "resets_at": "2026-11-16T00:00:00Z",
        "observed_at": "2026-11-12T07:00:00Z",
    });
    let output = eval(document);
    assert_eq!(
        output.reason.as_deref(),
        Some(&*format!(
            "{reason}; plan 7-day window 41% used (limit 50%), resets in 3d 16h"
        ))
    );
    assert_eq!(
        output.state.unwrap()["once"]["seven_day"],
        json!({ "window": "2026-11-16T00:00:00Z", "levels": [80] })
    );
}

#[test]
fn a_past_reset_is_not_quoted() {
    let mut document = input(json!({ "block_usd": 1.0 }), block_cost(2.0), json!({}));
    document["usage"]["block"]["end"] = json!("2026-11-12T07:00:00Z");
    assert_eq!(
        eval(document),
        Output::ask("5-hour block cost $2.00 of $1.00 budget (200%)")
    );
}

#[test]
fn a_block_without_bounds_still_counts() {
    let mut document = input(json!({ "block_usd": 1.0 }), block_cost(2.0), json!({}));
    document["usage"]["block"] = json!({ "cost_usd": 2.0 });
    assert_eq!(
        eval(document),
        Output::ask("5-hour block cost $2.00 of $1.00 budget (200%)")
    );
}

#[test]
fn invalid_configs_are_errors() {
    for (config, error) in [
        (
            json!({ "blok_usd": 1 }),
            "unknown key `blok_usd` (did you mean `block_usd`?)",
        ),
        (
            json!({ "warn_at": 80 }),
            "`warn_at` must be above 0 and at most 1",
        ),
        (json!({ "block_usd": 0 }), "`block_usd` must be above 0"),
        (
            json!({ "week_tokens": 1.5 }),
            "`week_tokens`: invalid type: floating point",
        ),
        (
            json!({ "families": { "opus": { "week_usd": -1 } } }),
            "`families.*.week_usd` must be above 0",
        ),
        (
            json!({ "families": { "other": {} } }),
            "unknown variant `other`",
        ),
        (json!({ "at_limit": "block" }), "unknown variant `block`"),
    ] {
        let document = input(config.clone(), json!({}), json!({}));
        let input: Input = serde_json::from_value(document).unwrap();
        let checked = check_config(&input.policy).unwrap_err();
        assert!(checked.contains(error), "{config}: {checked}");
        // Every call reports it, not only those the budget acts on.
        for event in ["PreToolUse", "PostToolUse", "Stop"] {
            let mut input = input.clone();
            input.event = serde_json::from_value(json!({ "hook_event_name": event })).unwrap();
            assert_eq!(evaluate(input).unwrap_err(), checked, "{event}");
        }
    }
}

#[test]
fn describe_lists_the_config() {
    let describe = describe();
    assert_eq!(describe.name, "budget");
    assert_eq!(describe.events, ["PreToolUse", "UserPromptSubmit"]);
    assert_eq!(
        check_config_schema::<Config>(&describe.config_schema),
        Ok(())
    );
}

#[test]
fn round_trip_through_the_abi_documents() {
    let document = input(json!({ "block_usd": 5.0 }), block_cost(6.0), json!({}));
    let output = run_json(document.to_string().as_bytes(), evaluate);
    assert_eq!(
        String::from_utf8(output).unwrap(),
        r#"{"decision":"ask","reason":"5-hour block cost $6.00 of $5.00 budget (120%), resets in 2h 30m"}"#
    );
    let bad = input(json!({ "warn_at": 2 }), json!({}), json!({}));
    let output: Value =
        serde_json::from_slice(&run_json(bad.to_string().as_bytes(), evaluate)).unwrap();
    assert_eq!(
        output,
        json!({ "error": "`warn_at` must be above 0 and at most 1 (e.g. 0.8)" })
    );
}

fn team_usage(team_week: f64, person_week: f64, age_minutes: u64) -> Value {
    json!({ "team": {
        "synced_at": "2026-11-12T07:00:00Z", "age_minutes": age_minutes, "name": "core",
        "person_id": "alice",
        "person": { "week": { "cost_usd": person_week } },
        "team": { "week": { "cost_usd": team_week } },
    } })
}

#[test]
fn team_limits_hold_the_team_week_and_the_persons_share() {
    let config = json!({ "team_week_usd": 100.0, "person_share": 0.25 });
    let team_at_limit = eval(input(config.clone(), team_usage(100.0, 10.0, 5), json!({})));
    assert_eq!(team_at_limit.decision, Decision::Ask);
    assert!(
        team_at_limit
            .reason
            .as_deref()
            .unwrap()
            .starts_with("team week cost $100.00 of $100.00"),
        "{team_at_limit:?}"
    );
    let share_used = eval(input(config.clone(), team_usage(40.0, 25.0, 5), json!({})));
    assert_eq!(share_used.decision, Decision::Ask);
    assert!(
        share_used
            .reason
            .as_deref()
            .unwrap()
            .starts_with("your share of the team week cost $25.00 of $25.00"),
        "{share_used:?}"
    );
    let within = eval(input(config, team_usage(40.0, 10.0, 5), json!({})));
    assert_eq!(within, Output::allow());
}

#[test]
fn stale_team_figures_are_ignored_or_warned_about() {
    let ignore = json!({ "team_week_usd": 100.0, "team_max_staleness_minutes": 60 });
    assert_eq!(
        eval(input(ignore, team_usage(500.0, 0.0, 61), json!({}))),
        Output::allow()
    );
    let warn =
        json!({ "team_week_usd": 100.0, "team_max_staleness_minutes": 60, "team_stale": "warn" });
    let first = eval(input(warn.clone(), team_usage(500.0, 0.0, 61), json!({})));
    assert_eq!(first.decision, Decision::Warn);
    assert!(
        first.reason.as_deref().unwrap().contains("61 minutes old"),
        "{first:?}"
    );
    let again = eval(input(
        warn,
        team_usage(500.0, 0.0, 90),
        first.state.unwrap(),
    ));
    assert_eq!(again, Output::allow(), "once per sync");
}
