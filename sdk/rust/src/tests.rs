use serde_json::{Value, json};

use crate::*;

/// The input document of ABI.md, filled in.
fn full_input() -> Value {
    let window = |cost: f64, tokens: u64| {
        json!({
            "input_tokens": 10, "output_tokens": 20, "cache_creation_tokens": 30,
            "cache_read_tokens": tokens - 60, "total_tokens": tokens, "cost_usd": cost,
            "unpriced_messages": 1, "unpriced_tokens": 300, "unpriced_models": ["claude-next-1"],
            "messages": 4, "tool_calls": 5, "prompts": 2,
        })
    };
    let mut block = window(4.1, 1_000);
    block["start"] = json!("2026-11-12T05:00:00Z");
    block["end"] = json!("2026-11-12T10:00:00Z");
    block["active"] = json!(true);
    let mut week = window(40.0, 50_000);
    week["start"] = json!("2026-11-09T00:00:00Z");
    week["end"] = json!("2026-11-16T00:00:00Z");
    json!({
        "abi": 1,
        "now": "2026-11-12T07:27:09Z",
        "policy": { "name": "budget", "config": { "block_usd": 5.0 } },
        "event": {
            "hook_event_name": "PreToolUse", "session_id": "s1", "cwd": "/home/u/p",
            "tool_name": "Agent",
            "tool_input": { "description": "Find", "prompt": "Find it", "model": "sonnet" },
            "tool_use_id": "toolu_1", "something_new": { "a": 1 },
        },
        "usage": {
            "session": window(1.5, 500),
            "block": block,
            "day": window(6.0, 2_000),
            "week": week,
            "project": window(20.0, 9_000),
            "by_family": {
                "opus": { "block": window(3.0, 800), "week": window(30.0, 40_000) },
                "sonnet": { "block": window(1.1, 200), "week": window(10.0, 10_000) },
            },
            "by_model": {
                "claude-opus-4-5-20251101": { "block": window(3.0, 800), "week": window(30.0, 40_000) },
            },
        },
        "context": {
            "tokens": 91_234, "limit": 200_000, "model": "claude-opus-4-5-20251101",
            "pending_tokens": 12,
        },
        "limits": {
            "five_hour": {
                "used_percentage": 23.5, "resets_at": "2026-11-12T10:00:00Z",
                "observed_at": "2026-11-12T07:20:00Z",
            },
            "seven_day": {
                "used_percentage": 41.2, "resets_at": "2026-11-16T00:00:00Z",
                "observed_at": "2026-11-12T06:00:00Z",
            },
        },
        "state": { "once": {} },
    })
}

fn parse(value: Value) -> Input {
    serde_json::from_value(value).expect("input parses")
}

#[test]
fn parses_a_full_input_document() {
    let input = parse(full_input());
    assert_eq!(input.abi, 1);
    assert_eq!(input.now_unix(), Some(1_794_468_429));
    assert_eq!(input.policy.name, "budget");
    assert_eq!(input.event.hook_event_name(), "PreToolUse");
    assert_eq!(input.event.session_id(), Some("s1"));
    assert_eq!(input.event.cwd(), Some("/home/u/p"));
    assert_eq!(input.event.tool_name(), Some("Agent"));
    assert_eq!(input.event.tool_input_str("prompt"), Some("Find it"));
    assert!(input.event.is_subagent_call());
    assert_eq!(input.event.get("something_new"), Some(&json!({ "a": 1 })));

    let usage = &input.usage;
    assert_eq!(usage.session.total_tokens, 500);
    assert_eq!(usage.block.cost_usd, 4.1);
    assert_eq!(usage.block.cache_read_tokens, 940);
    assert_eq!(usage.block.start.as_deref(), Some("2026-11-12T05:00:00Z"));
    assert!(usage.block.active);
    assert_eq!(usage.day.messages, 4);
    assert_eq!(usage.week.end.as_deref(), Some("2026-11-16T00:00:00Z"));
    assert_eq!(usage.project.cost_usd, 20.0);
    assert_eq!(usage.by_family["opus"].week.total_tokens, 40_000);
    assert_eq!(usage.by_family["sonnet"].block.unpriced_messages, 1);
    assert_eq!(usage.block.unpriced_tokens, 300);
    assert_eq!(usage.week.unpriced_models, ["claude-next-1"]);
    assert_eq!(
        usage.by_model["claude-opus-4-5-20251101"].block.tool_calls,
        5
    );

    assert_eq!(input.context.tokens, 91_234);
    assert_eq!(input.context.limit, 200_000);
    assert_eq!(input.context.pending_tokens, 12);
    let limits = input.limits.as_ref().unwrap();
    assert_eq!(limits.five_hour.as_ref().unwrap().used_percentage, 23.5);
    assert_eq!(input.state, json!({ "once": {} }));
}

#[test]
fn missing_fields_take_defaults() {
    let input = parse(json!({}));
    assert_eq!(input, Input::default());
    assert_eq!(input.event.hook_event_name(), "");
    assert_eq!(input.event.tool_input(), None);
    assert_eq!(input.now_unix(), None);
    assert_eq!(input.call_model(), None);
    assert_eq!(input.five_hour_limit(30), None);

    let input = parse(json!({
        "abi": 1,
        "policy": { "name": "p" },
        "event": { "hook_event_name": "Stop" },
        "usage": { "block": { "cost_usd": 1.0 }, "by_family": { "opus": {} } },
        "context": { "limit": 200_000 },
        "limits": { "five_hour": {} },
    }));
    assert_eq!(input.policy.config, Value::Null);
    assert_eq!(input.usage.block.cost_usd, 1.0);
    assert_eq!(input.usage.block.start, None);
    assert_eq!(input.usage.by_family["opus"].week, Window::default());
    assert_eq!(input.context.model, None);
    assert_eq!(input.state, Value::Null);
}

#[test]
fn unknown_fields_are_ignored_and_the_event_kept_whole() {
    let mut document = full_input();
    document["future"] = json!([1, 2]);
    document["usage"]["block"]["future"] = json!("x");
    document["usage"]["future_window"] = json!({});
    document["context"]["future"] = json!(true);
    let input = parse(document.clone());
    assert_eq!(input.usage.block.cost_usd, 4.1);
    assert_eq!(Value::Object(input.event.raw().clone()), document["event"]);
}

#[test]
fn call_model_prefers_the_subagent_request() {
    let mut document = full_input();
    assert_eq!(parse(document.clone()).call_model(), Some("sonnet"));
    document["event"]["tool_input"]["model"] = json!("inherit");
    assert_eq!(
        parse(document.clone()).call_model(),
        Some("claude-opus-4-5-20251101")
    );
    document["event"]["tool_input"]["model"] = Value::Null;
    assert_eq!(
        parse(document.clone()).call_model(),
        Some("claude-opus-4-5-20251101")
    );
    document["event"]["tool_name"] = json!("Task");
    document["event"]["tool_input"]["model"] = json!("haiku");
    assert_eq!(parse(document.clone()).call_model(), Some("haiku"));
    // Another tool's `model` field is not a subagent request.
    document["event"]["tool_name"] = json!("mcp__x__y");
    assert_eq!(
        parse(document.clone()).call_model(),
        Some("claude-opus-4-5-20251101")
    );
    document["context"]["model"] = json!("");
    assert_eq!(parse(document).call_model(), None, "an unknown model");
}

#[test]
fn plan_limits_must_be_current() {
    let input = parse(full_input());
    // Observed 7 minutes before `now`.
    assert_eq!(input.five_hour_limit(30).unwrap().used_percentage, 23.5);
    assert_eq!(input.five_hour_limit(5), None);
    // Observed 87 minutes before `now`.
    assert_eq!(input.seven_day_limit(30), None);
    assert!(input.seven_day_limit(90).is_some());

    let mut document = full_input();
    document["limits"]["five_hour"]["resets_at"] = json!("2026-11-12T07:25:00Z");
    assert_eq!(
        parse(document.clone()).five_hour_limit(30),
        None,
        "reset since"
    );
    document["limits"]["five_hour"]["observed_at"] = Value::Null;
    document["limits"]["five_hour"]["resets_at"] = Value::Null;
    assert_eq!(
        parse(document.clone()).five_hour_limit(30),
        None,
        "unknown age"
    );
    document["limits"]["five_hour"]["observed_at"] = json!("2026-11-12T07:20:00Z");
    assert!(
        parse(document).five_hour_limit(30).is_some(),
        "reset unknown"
    );
}

#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    block_usd: Option<f64>,
    week_usd: Option<f64>,
    families: std::collections::BTreeMap<String, Limits>,
}

#[derive(Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Limits {
    week_tokens: Option<u64>,
}

#[test]
fn config_defaults_and_errors() {
    let input = parse(full_input());
    assert_eq!(input.config::<Config>().unwrap().block_usd, Some(5.0));
    assert_eq!(parse(json!({})).config::<Config>(), Ok(Config::default()));
    let empty = parse(json!({ "policy": { "name": "p", "config": {} } }));
    assert_eq!(empty.config::<Config>(), Ok(Config::default()));
    let error = |config: Value| {
        parse(json!({ "policy": { "name": "p", "config": config } }))
            .config::<Config>()
            .unwrap_err()
    };
    assert_eq!(
        error(json!({ "blok_usd": 1 })),
        "invalid config for policy `p`: unknown key `blok_usd` (did you mean `block_usd`?)"
    );
    assert_eq!(
        error(json!({ "families": { "opus": { "week_tokns": 1 } } })),
        "invalid config for policy `p`: `families`: unknown key `week_tokns` (did you mean `week_tokens`?)"
    );
    assert_eq!(
        error(json!({ "colour": "red" })),
        "invalid config for policy `p`: unknown key `colour` (known keys: block_usd, week_usd, families)"
    );
    assert_eq!(
        error(json!({ "week_usd": "20" })),
        "invalid config for policy `p`: `week_usd`: invalid type: string \"20\", expected f64"
    );
    assert_eq!(
        error(json!("text")),
        "invalid config for policy `p`: invalid type: string \"text\", expected struct Config"
    );
}

#[test]
fn a_config_check_answers_a_document() {
    let check = |config: Value| {
        let document = json!({ "abi": 1, "policy": { "name": "p", "config": config } });
        let answer = crate::check_config_json(document.to_string().as_bytes(), |policy| {
            policy.config::<Config>().map(drop)
        });
        serde_json::from_slice::<crate::ConfigCheck>(&answer)
            .unwrap()
            .errors
    };
    assert_eq!(check(json!({ "week_usd": 20.0 })), Vec::<String>::new());
    assert_eq!(check(Value::Null), Vec::<String>::new());
    assert_eq!(
        check(json!({ "wek_usd": 20.0 })),
        ["invalid config for policy `p`: unknown key `wek_usd` (did you mean `week_usd`?)"]
    );
    let unreadable = crate::check_config_json(b"not json", |_| Ok::<(), String>(()));
    let errors = serde_json::from_slice::<crate::ConfigCheck>(&unreadable)
        .unwrap()
        .errors;
    assert!(
        errors[0].starts_with("cannot read the config check document"),
        "{errors:?}"
    );
}

#[test]
fn suggestions_are_close_names_only() {
    use crate::util::did_you_mean;
    let known = ["session_usd", "block_usd", "day_usd", "week_usd", "warn_at"];
    assert_eq!(did_you_mean("blok_usd", &known), Some("block_usd"));
    assert_eq!(did_you_mean("week_usd", &known), Some("week_usd"));
    assert_eq!(did_you_mean("warnat", &known), Some("warn_at"));
    assert_eq!(did_you_mean("families", &known), None);
    assert_eq!(did_you_mean("x", &[]), None);
}

#[test]
fn outputs_serialise_to_the_abi_document() {
    let text = |output: Output| serde_json::to_string(&output).unwrap();
    assert_eq!(text(Output::allow()), r#"{"decision":"allow"}"#);
    assert_eq!(
        text(Output::warn("w").with_context("c").with_message("m")),
        r#"{"decision":"warn","reason":"w","message":"m","context":"c"}"#
    );
    assert_eq!(
        text(Output::ask("a").with_state(json!({ "k": 1 }))),
        r#"{"decision":"ask","reason":"a","state":{"k":1}}"#
    );
    assert_eq!(
        text(Output::deny("d")),
        r#"{"decision":"deny","reason":"d"}"#
    );
    assert_eq!(
        text(Output::downgrade("sonnet", "r")),
        r#"{"decision":"downgrade","reason":"r","model":"sonnet"}"#
    );
    let describe = Describe {
        name: "p".into(),
        events: vec!["Stop".into()],
        ..Describe::default()
    };
    assert_eq!(
        serde_json::to_string(&describe).unwrap(),
        r#"{"name":"p","version":"","description":"","events":["Stop"],"config_schema":null}"#
    );
}

#[test]
fn decisions_order_and_combine() {
    use Decision::*;
    assert!(Allow < Warn && Warn < Downgrade && Downgrade < Ask && Ask < Deny);
    assert_eq!(Output::combine([]), Output::allow());
    let combined = Output::combine([
        Output::warn("w1").with_context("c1"),
        Output::allow(),
        Output::deny("d"),
        Output::warn("w2").with_context("c2"),
    ]);
    assert_eq!(combined.decision, Deny);
    assert_eq!(combined.reason.as_deref(), Some("d; w1; w2"));
    assert_eq!(combined.context.as_deref(), Some("c1\nc2"));
    assert_eq!(combined.message, None);
    let combined = Output::combine([Output::warn("w"), Output::downgrade("haiku", "r")]);
    assert_eq!(combined.decision, Downgrade);
    assert_eq!(combined.model.as_deref(), Some("haiku"));
}

fn run(input: &str, evaluate: impl FnOnce(Input) -> Result<Output, String>) -> Value {
    serde_json::from_slice(&run_json(input.as_bytes(), evaluate)).unwrap()
}

#[test]
fn run_json_round_trip_and_errors() {
    let ok = run(r#"{"abi":1,"event":{"prompt":"hi"}}"#, |input| {
        Ok(Output::warn(input.event.prompt().unwrap_or_default()))
    });
    assert_eq!(ok, json!({ "decision": "warn", "reason": "hi" }));

    let failed = run("{}", |_| Err("bad config".into()));
    assert_eq!(failed, json!({ "error": "bad config" }));

    let unreadable = run("not json", |_| Ok(Output::allow()));
    let error = unreadable["error"].as_str().unwrap();
    assert!(
        error.starts_with("cannot read the input document: "),
        "{error}"
    );

    let wrong_type = run(r#"{"context":{"tokens":"many"}}"#, |_| Ok(Output::allow()));
    assert!(wrong_type["error"].is_string());

    let mut downgrade = Output::downgrade("x", "r");
    downgrade.model = None;
    let invalid = run("{}", |_| Ok(downgrade));
    assert_eq!(invalid, json!({ "error": "a downgrade needs a model" }));

    // A plain `Output` works too.
    let plain = run_json(b"{}", |_| Output::allow());
    assert_eq!(plain, br#"{"decision":"allow"}"#);
}
