use serde_json::{Value, json};
use tollgate_sdk::util::check_config_schema;
use tollgate_sdk::{Decision, Input, Output, run_json};

use super::{Config, describe, evaluate, quote, relative};

/// A `PreToolUse` of `tool` with `tool_input` in `/home/u/p`, the context at 50k of 200k
/// tokens with `pending` tokens to come.
fn call(tool: &str, tool_input: Value, pending: u64) -> Value {
    json!({
        "abi": 1,
        "now": "2026-11-12T07:30:00Z",
        "policy": { "name": "context-guard", "config": {} },
        "event": {
            "hook_event_name": "PreToolUse", "session_id": "s1", "cwd": "/home/u/p",
            "tool_name": tool, "tool_input": tool_input,
        },
        "context": {
            "tokens": 50_000, "limit": 200_000, "model": "claude-opus-4-5-20251101",
            "pending_tokens": pending,
        },
        "state": {},
    })
}

fn eval(document: Value) -> Output {
    let input: Input = serde_json::from_value(document).unwrap();
    evaluate(input).unwrap()
}

fn with_config(mut document: Value, config: Value) -> Value {
    document["policy"]["config"] = config;
    document
}

const LARGE_READ: &str = "reading data/dump.json whole would add ~48.2k tokens to the context \
    (limit 25k): read only the lines you need with offset and limit, or Grep for them first";

#[test]
fn a_large_read_without_a_range_is_denied_with_the_cheaper_way() {
    let read = call(
        "Read",
        json!({ "file_path": "/home/u/p/data/dump.json" }),
        48_200,
    );
    assert_eq!(eval(read.clone()), Output::deny(LARGE_READ));

    for (key, value) in [("limit", json!(200)), ("pages", json!("1-3"))] {
        let mut ranged = read.clone();
        ranged["event"]["tool_input"][key] = value;
        assert_eq!(eval(ranged), Output::allow(), "{key}");
    }
    let mut offset_only = read.clone();
    offset_only["event"]["tool_input"]["offset"] = json!(100);
    assert_eq!(eval(offset_only).decision, Decision::Deny);

    let small = call("Read", json!({ "file_path": "/home/u/p/a.rs" }), 25_000);
    assert_eq!(eval(small), Output::allow());
}

#[test]
fn on_large_is_configurable() {
    let read = call(
        "Read",
        json!({ "file_path": "/home/u/p/data/dump.json" }),
        48_200,
    );
    let ask = eval(with_config(read.clone(), json!({ "on_large": "ask" })));
    assert_eq!(ask, Output::ask(LARGE_READ));
    let warn = eval(with_config(read.clone(), json!({ "on_large": "warn" })));
    assert_eq!(warn.decision, Decision::Warn);
    let off = eval(with_config(read.clone(), json!({ "on_large": "allow" })));
    assert_eq!(off, Output::allow());
    let raised = eval(with_config(read, json!({ "max_read_tokens": 50_000 })));
    assert_eq!(raised, Output::allow());
}

#[test]
fn broad_greps_get_a_warning() {
    let grep = call(
        "Grep",
        json!({ "pattern": "fn main", "output_mode": "content" }),
        0,
    );
    assert_eq!(
        eval(grep.clone()),
        Output::warn(
            "Grep \"fn main\" in content mode over the whole project with no head_limit can \
             flood the context: set head_limit, narrow it with path, glob or type, or list \
             the matching files first (output_mode \"files_with_matches\")"
        )
    );
    for path in [".", "/home/u/p", ""] {
        let mut whole = grep.clone();
        whole["event"]["tool_input"]["path"] = json!(path);
        assert_eq!(eval(whole).decision, Decision::Warn, "{path:?}");
    }
    for (key, value) in [
        ("head_limit", json!(50)),
        ("path", json!("src")),
        ("glob", json!("*.rs")),
        ("type", json!("rust")),
        ("output_mode", json!("files_with_matches")),
    ] {
        let mut narrow = grep.clone();
        narrow["event"]["tool_input"][key] = value;
        assert_eq!(eval(narrow), Output::allow(), "{key}");
    }
    let mut unlimited = grep.clone();
    unlimited["event"]["tool_input"]["head_limit"] = json!(0);
    assert_eq!(
        eval(unlimited).decision,
        Decision::Warn,
        "head_limit 0 is no limit"
    );
    let off = eval(with_config(grep, json!({ "broad_search": "allow" })));
    assert_eq!(off, Output::allow());
}

#[test]
fn broad_globs_get_a_warning() {
    let glob = call("Glob", json!({ "pattern": "**/*.rs" }), 0);
    assert_eq!(
        eval(glob.clone()),
        Output::warn(
            "Glob \"**/*.rs\" from the project root can list thousands of files: pass path to \
             search only the directory you need, or use a narrower pattern"
        )
    );
    let mut in_dir = glob.clone();
    in_dir["event"]["tool_input"]["path"] = json!("/home/u/p/src");
    assert_eq!(eval(in_dir), Output::allow());
    let narrow = call("Glob", json!({ "pattern": "src/**/*.rs" }), 0);
    assert_eq!(eval(narrow), Output::allow());
    let ask = eval(with_config(glob, json!({ "broad_search": "ask" })));
    assert_eq!(ask.decision, Decision::Ask);
}

#[test]
fn a_large_result_gets_a_hint_for_claude() {
    let mut after = call("Bash", json!({ "command": "cat big.log" }), 31_000);
    after["event"]["hook_event_name"] = json!("PostToolUse");
    after["event"]["tool_response"] = json!({ "stdout": "..." });
    assert_eq!(
        eval(after.clone()),
        Output::warn("Bash result added ~31k tokens to the context (over 20k)").with_context(
            "That Bash result added ~31k tokens to your context. Next time, pipe long output \
             through head, tail or grep."
        )
    );
    after["event"]["tool_name"] = json!("Read");
    let read = eval(after.clone());
    assert!(read.context.unwrap().ends_with(
        "Next time, read only the lines you need with offset and limit, or Grep for them first."
    ));
    after["context"]["pending_tokens"] = json!(20_000);
    assert_eq!(eval(after), Output::allow());
}

#[test]
fn the_context_fill_warns_once_per_session_and_crossing() {
    let mut document = call("Bash", json!({ "command": "ls" }), 0);
    document["context"]["tokens"] = json!(162_000);
    let first = eval(document.clone());
    assert_eq!(first.decision, Decision::Warn);
    assert_eq!(
        first.reason.as_deref(),
        Some(
            "context at 162k of 200k tokens (81%): /compact to summarise it, or /clear to \
             start afresh if the next task is unrelated"
        )
    );
    let state = first.state.unwrap();
    assert_eq!(
        state,
        json!({ "once": { "context": { "window": "s1", "levels": [80] } } })
    );

    document["state"] = state;
    document["context"]["tokens"] = json!(170_000);
    assert_eq!(eval(document.clone()), Output::allow(), "once per session");

    let mut other_session = document.clone();
    other_session["event"]["session_id"] = json!("s2");
    assert_eq!(eval(other_session).decision, Decision::Warn);

    // After /compact the figure falls back; the next crossing warns again.
    document["context"]["tokens"] = json!(30_000);
    let compacted = eval(document.clone());
    assert_eq!(compacted.decision, Decision::Allow);
    document["state"] = compacted.state.expect("the mark is cleared");
    document["context"]["tokens"] = json!(165_000);
    assert_eq!(eval(document.clone()).decision, Decision::Warn);

    document["context"]["limit"] = json!(0);
    document["state"] = json!({});
    assert_eq!(eval(document), Output::allow(), "unknown window");
}

/// The current models have a 1M window: what is most of 200k is a fifth of it.
#[test]
fn the_fill_is_measured_against_the_models_own_window() {
    let mut document = call("Bash", json!({ "command": "ls" }), 0);
    document["context"]["model"] = json!("claude-opus-5-5");
    document["context"]["limit"] = json!(1_000_000);
    document["context"]["tokens"] = json!(170_000);
    assert_eq!(eval(document.clone()), Output::allow());
    document["context"]["tokens"] = json!(820_000);
    let warned = eval(document);
    assert_eq!(
        warned.reason.as_deref(),
        Some(
            "context at 820k of 1M tokens (82%): /compact to summarise it, or /clear to \
             start afresh if the next task is unrelated"
        )
    );
}

#[test]
fn findings_combine_strongest_first() {
    let mut read = call(
        "Read",
        json!({ "file_path": "/elsewhere/dump.json" }),
        48_200,
    );
    read["context"]["tokens"] = json!(170_000);
    let output = eval(read);
    assert_eq!(output.decision, Decision::Deny);
    let reason = output.reason.unwrap();
    assert!(
        reason.starts_with("reading /elsewhere/dump.json whole"),
        "{reason}"
    );
    assert!(reason.ends_with("; context at 170k of 200k tokens (85%): /compact to summarise it, or /clear to start afresh if the next task is unrelated"), "{reason}");
    assert!(output.state.is_some());
}

#[test]
fn other_events_are_allowed() {
    for event in ["Stop", "SessionStart", "PreCompact", "SomeFutureEvent"] {
        let mut document = call("Read", json!({ "file_path": "/x" }), 90_000);
        document["event"]["hook_event_name"] = json!(event);
        document["context"]["tokens"] = json!(190_000);
        assert_eq!(eval(document), Output::allow(), "{event}");
    }
    let mut prompt = call("Read", json!({}), 0);
    prompt["event"] = json!({ "hook_event_name": "UserPromptSubmit", "session_id": "s1" });
    prompt["context"]["tokens"] = json!(190_000);
    assert_eq!(eval(prompt).decision, Decision::Warn);
}

/// A prompt `idle_s` seconds after the latest response, a 120k-token context on a model whose
/// cache writes cost $5 and reads $0.50 per million, lasting `lifetime_s`.
fn prompt_after(idle_s: i64, lifetime_s: u64) -> Value {
    let mut prompt = call("Read", json!({}), 0);
    prompt["event"] = json!({ "hook_event_name": "UserPromptSubmit", "session_id": "s1" });
    prompt["context"]["tokens"] = json!(120_000);
    let last = 1_794_468_600 - idle_s; // "now" is 2026-11-12T07:30:00Z
    let (date, time) = (last / 86_400, last % 86_400);
    assert_eq!(date, 20_769, "the same day as now");
    prompt["context"]["cache"] = json!({
        "last_response_at": format!("2026-11-12T{:02}:{:02}:{:02}Z", time / 3600, time / 60 % 60, time % 60),
        "lifetime_s": lifetime_s,
        "write_usd_per_mtok": 5.0,
        "read_usd_per_mtok": 0.5,
    });
    prompt
}

#[test]
fn a_prompt_after_the_cache_lapsed_is_warned_with_the_cost() {
    let lapsed = eval(prompt_after(20 * 60, 300));
    assert_eq!(
        lapsed,
        Output::warn(
            "the prompt cache has lapsed (20m idle, past its 5m lifetime): this prompt writes \
             the 120k-token context to the cache again, about $0.60 against $0.06 while it was \
             cached. /compact first (its summary is smaller) or /clear if the next task is \
             unrelated may be cheaper"
        )
    );
    assert_eq!(
        eval(prompt_after(4 * 60, 300)),
        Output::allow(),
        "still cached"
    );
    assert_eq!(
        eval(prompt_after(20 * 60, 3600)),
        Output::allow(),
        "a 1-hour cache"
    );
    assert_eq!(eval(prompt_after(2 * 3600, 3600)).decision, Decision::Warn);

    let small = with_config(
        prompt_after(20 * 60, 300),
        json!({ "cache_lapse_tokens": 200_000 }),
    );
    assert_eq!(eval(small), Output::allow(), "a small context");
    let off = with_config(
        prompt_after(20 * 60, 300),
        json!({ "cache_lapse_tokens": 0 }),
    );
    assert_eq!(eval(off), Output::allow(), "turned off");
    let mut unknown = prompt_after(20 * 60, 300);
    unknown["context"]["cache"]["write_usd_per_mtok"] = Value::Null;
    let reason = eval(unknown).reason.unwrap();
    assert!(reason.contains("to the cache again. /compact"), "{reason}");
    let mut no_cache = prompt_after(20 * 60, 300);
    no_cache["context"]["cache"] = Value::Null;
    assert_eq!(eval(no_cache), Output::allow());
}

#[test]
fn invalid_configs_are_errors() {
    for (config, error) in [
        (
            json!({ "max_read": 1 }),
            "unknown key `max_read` (did you mean `max_read_tokens`?)",
        ),
        (
            json!({ "warn_at": 1.5 }),
            "`warn_at` must be above 0 and at most 1",
        ),
        (
            json!({ "max_read_tokens": 0 }),
            "`max_read_tokens` must be above 0",
        ),
        (json!({ "on_large": "block" }), "unknown variant `block`"),
    ] {
        let document = with_config(call("Read", json!({}), 0), config.clone());
        let message = evaluate(serde_json::from_value(document).unwrap()).unwrap_err();
        assert!(message.contains(error), "{config}: {message}");
    }
}

#[test]
fn describe_lists_the_config() {
    let describe = describe();
    assert_eq!(describe.name, "context-guard");
    assert_eq!(
        check_config_schema::<Config>(&describe.config_schema),
        Ok(())
    );
}

#[test]
fn paths_and_patterns_for_humans() {
    assert_eq!(
        relative("/home/u/p/src/a.rs", Some("/home/u/p")),
        "src/a.rs"
    );
    assert_eq!(
        relative("/home/u/p/src/a.rs", Some("/home/u/p/")),
        "src/a.rs"
    );
    assert_eq!(
        relative("/home/u/project/a.rs", Some("/home/u/p")),
        "/home/u/project/a.rs"
    );
    assert_eq!(relative("/home/u/p", Some("/home/u/p")), "/home/u/p");
    assert_eq!(relative("a.rs", None), "a.rs");
    assert_eq!(quote("a\"b"), "\"a\"b\"");
    let long = "é".repeat(70);
    assert_eq!(quote(&long), format!("\"{}…\"", "é".repeat(60)));
}

#[test]
fn round_trip_through_the_abi_documents() {
    let read = call(
        "Read",
        json!({ "file_path": "/home/u/p/data/dump.json" }),
        48_200,
    );
    let output: Value =
        serde_json::from_slice(&run_json(read.to_string().as_bytes(), evaluate)).unwrap();
    assert_eq!(output, json!({ "decision": "deny", "reason": LARGE_READ }));
}
