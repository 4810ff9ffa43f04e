//! The built-in policies, embedded in the binary twice from one source (`policies/`): as the
//! WASM module `policies/dist/builtins.wasm` (built by `scripts/build-policies`; CI rebuilds it
//! and fails on a difference), and as native code linked in ([`evaluate`]).
//!
//! By default (config `builtins = "native"`) the hook runs them natively: they are part of the
//! binary the user already trusts, and skipping the sandbox saves about 0.5 ms of a hook call
//! (measured; see the README's "Hook speed"). `builtins = "wasm"` runs them in the sandbox like
//! any policy file, under its time and memory limits. Both give the same output byte for byte
//! (`tests::native_and_wasm_agree`).

use std::panic::AssertUnwindSafe;

use tollgate_sdk::{Input, IntoOutput, PolicyInfo};

use crate::policy::engine::PolicyError;

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The module and sha256 of built-in `name`.
pub fn get(name: &str) -> Option<(&'static [u8], &'static str)> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, sha)| (*bytes, *sha))
}

/// The module and sha256 of built-in `name`, or the error of a policy naming no built-in.
pub fn module(name: &str) -> Result<(&'static [u8], &'static str), PolicyError> {
    get(name).ok_or_else(|| PolicyError::Abi(format!("no built-in policy \"{name}\"")))
}

/// The sha256 of built-in `name`'s module, checked against the config's `pin`: what a
/// built-in run as native code answers to (CI builds the module from the same source).
pub fn checked_sha256(name: &str, pin: Option<&str>) -> Result<&'static str, PolicyError> {
    let (_, sha256) = module(name)?;
    crate::policy::engine::check_pin(sha256, pin)?;
    Ok(sha256)
}

/// Runs the built-in that the input document's `policy.name` names, as native code: the
/// output document, as `tollgate_evaluate` in the module would return it. A panic is reported
/// like a trap.
pub fn evaluate(input: &[u8]) -> Result<Vec<u8>, PolicyError> {
    run_native(input, tollgate_builtins::evaluate)
}

/// Checks the config of the built-in that a config check document's `policy.name` names, as
/// native code: the answer, as `tollgate_check_config` in the module would return it.
pub fn check_config(document: &[u8]) -> Result<Vec<u8>, PolicyError> {
    catching_panics(|| {
        tollgate_sdk::check_config_json(document, |policy: &PolicyInfo| {
            tollgate_builtins::check_config(policy)
        })
    })
}

/// Runs a policy function natively on an input document, catching a panic.
fn run_native<R: IntoOutput>(
    input: &[u8],
    evaluate: impl FnOnce(Input) -> R,
) -> Result<Vec<u8>, PolicyError> {
    catching_panics(|| tollgate_sdk::run_json(input, evaluate))
}

/// Runs `native`, reporting a panic like a trap (on one line).
fn catching_panics(native: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, PolicyError> {
    std::panic::catch_unwind(AssertUnwindSafe(native)).map_err(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        PolicyError::Trap(format!("panicked: {}", crate::text::one_line(&what)))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::config::Limits;
    use crate::policy::engine::Engine;

    /// A built-in's name and a config for it: its limits from tiny to huge, its actions, and
    /// now and then a value of the wrong type (the policy must report an error).
    fn named_config() -> impl Strategy<Value = (&'static str, Value)> {
        let usd = || prop::option::of(0.01f64..500.0);
        let tokens = || prop::option::of(1u64..50_000_000);
        let fraction = || prop_oneof![9 => 0.0f64..1.0, 1 => 1.0f64..1.5];
        let action = || prop::sample::select(vec!["allow", "warn", "ask", "deny"]);
        let percent = || prop::option::of(0.0f64..120.0);
        let budget = (
            (usd(), usd(), usd(), usd()),
            (tokens(), tokens(), tokens(), fraction(), action()),
            (percent(), percent(), usd(), tokens()),
            (usd(), prop::option::of(0.0f64..1.0), 0u64..200, any::<bool>()),
        )
            .prop_map(|(usd, tokens, plan, team)| {
                let (session_usd, block_usd, day_usd, week_usd) = usd;
                let (session_tokens, block_tokens, week_tokens, warn_at, at_limit) = tokens;
                let (five_hour_percent, seven_day_percent, opus_block_usd, opus_week_tokens) = plan;
                let (team_week_usd, person_share, staleness, warn_stale) = team;
                ("budget", json!({
                    "session_usd": session_usd, "block_usd": block_usd, "day_usd": day_usd,
                    "week_usd": week_usd, "session_tokens": session_tokens,
                    "block_tokens": block_tokens, "week_tokens": week_tokens, "warn_at": warn_at,
                    "at_limit": at_limit, "five_hour_percent": five_hour_percent,
                    "seven_day_percent": seven_day_percent,
                    "families": {"opus": {"block_usd": opus_block_usd,
                                          "week_tokens": opus_week_tokens}},
                    "team_week_usd": team_week_usd, "person_share": person_share,
                    "team_max_staleness_minutes": staleness,
                    "team_stale": if warn_stale { "warn" } else { "ignore" },
                }))
            });
        let guard = (fraction(), 1u64..100_000, action(), action(), 1u64..100_000).prop_map(
            |(warn_at, max_read_tokens, on_large, broad_search, max_result_tokens)| {
                ("context-guard", json!({
                    "warn_at": warn_at, "max_read_tokens": max_read_tokens, "on_large": on_large,
                    "broad_search": broad_search, "max_result_tokens": max_result_tokens,
                }))
            },
        );
        let rule = (
            prop::option::of("(Explore|general-purpose)"),
            prop::sample::select(vec![vec![], vec!["rename"], vec!["find", "list"]]),
            prop::sample::select(vec!["haiku", "sonnet", "opus", "claude-haiku-4-5"]),
        )
            .prop_map(|(subagent_type, keywords, model)| {
                json!({"subagent_type": subagent_type, "keywords": keywords, "model": model})
            });
        let router = (
            (usd(), tokens(), fraction(), usd()),
            (prop::collection::vec(rule, 0..3), percent()),
        )
            .prop_map(
                |((week_usd, week_tokens, downgrade_at, burn), (rules, seven))| {
                    (
                        "model-router",
                        json!({
                            "opus_week_usd": week_usd, "opus_week_tokens": week_tokens,
                            "downgrade_at": downgrade_at, "max_block_burn_usd_per_hour": burn,
                            "seven_day_percent": seven, "rules": rules,
                        }),
                    )
                },
            );
        let unknown = Just(("nope", json!({})));
        (
            prop_oneof![3 => budget, 3 => guard, 3 => router, 1 => unknown],
            prop::option::weighted(
                0.2,
                prop::sample::select(vec!["warn_at", "at_limit", "rules", "typo"]),
            ),
        )
            .prop_map(|((name, mut config), wrong)| {
                // Nulls stand for keys left out (in rules too); one config in five gets a
                // wrong type.
                strip_nulls(&mut config);
                if let (Some(object), Some(key)) = (config.as_object_mut(), wrong) {
                    object.insert(key.to_owned(), json!("0.8"));
                }
                (name, config)
            })
    }

    fn strip_nulls(value: &mut Value) {
        match value {
            Value::Object(object) => {
                object.retain(|_, v| !v.is_null());
                object.values_mut().for_each(strip_nulls);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_nulls),
            _ => {}
        }
    }

    /// Hook inputs of every kind the built-ins look at (the project is `/work/project`).
    fn event() -> impl Strategy<Value = Value> {
        let model = prop::option::of(prop::sample::select(vec![
            "opus",
            "sonnet",
            "haiku",
            "claude-opus-4-5",
            "inherit",
        ]));
        let prompt = prop::sample::select(vec!["rename a variable", "find and list the parsers"]);
        let subagent = (model, prompt, prop::sample::select(vec!["Task", "Agent"])).prop_map(
            |(model, prompt, tool)| {
                let mut input = json!({"subagent_type": if prompt.starts_with("find") {
                    "Explore" } else { "general-purpose" }, "prompt": prompt,
                    "description": "a subtask"});
                if let Some(model) = model {
                    input["model"] = json!(model);
                }
                json!({"hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": input})
            },
        );
        let fixed = prop::sample::select(vec![
            json!({"hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": "grep -r TODO /"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Read",
                   "tool_input": {"file_path": "/work/project/src/main.rs"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Read",
                   "tool_input": {"file_path": "/elsewhere/dump.json", "limit": 200}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Grep",
                   "tool_input": {"pattern": "fn .*", "output_mode": "content"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Grep",
                   "tool_input": {"pattern": "x".repeat(200), "output_mode": "content",
                                  "path": "/work/project"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Grep",
                   "tool_input": {"pattern": "TODO", "output_mode": "content",
                                  "head_limit": 20, "glob": "*.rs"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Glob",
                   "tool_input": {"pattern": "**/*.rs"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Glob",
                   "tool_input": {"pattern": "src/*.rs", "path": "/work/project/src"}}),
            json!({"hook_event_name": "PostToolUse", "tool_name": "Read",
                   "tool_response": {"content": "x"}}),
            json!({"hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_response": {"stdout": "ok"}}),
            json!({"hook_event_name": "PostToolUse", "tool_name": "Task",
                   "tool_response": {"content": "done"}}),
            json!({"hook_event_name": "PostToolUse", "tool_name": "mcp__github__search",
                   "tool_response": {"items": []}}),
            json!({"hook_event_name": "UserPromptSubmit", "prompt": "go on"}),
            json!({"hook_event_name": "SessionStart", "source": "startup"}),
            json!({"hook_event_name": "Stop"}),
        ]);
        prop_oneof![3 => fixed, 1 => subagent].prop_map(|mut event| {
            event["session_id"] = json!("s-1");
            event["cwd"] = json!("/work/project");
            event["transcript_path"] = json!("/tmp/s-1.jsonl");
            event
        })
    }

    /// An input document for a built-in (or an unknown name): an event, usage and context from
    /// empty to far past the configured limits, plan windows observed lately, long ago or not
    /// at all, team figures fresh, stale or none, and a stored state.
    fn document() -> impl Strategy<Value = Value> {
        let figures = (0.0f64..600.0, 0u64..80_000_000, 0u64..200).prop_map(
            |(cost_usd, total_tokens, messages)| {
                json!({"cost_usd": cost_usd, "total_tokens": total_tokens,
                       "input_tokens": total_tokens / 10, "output_tokens": total_tokens / 20,
                       "cache_read_tokens": total_tokens / 2, "messages": messages,
                       "tool_calls": messages * 2, "prompts": messages / 4})
            },
        );
        let windows = prop::collection::vec(figures, 8);
        let context = (
            0u64..250_000,
            prop::sample::select(vec![0u64, 200_000, 1_000_000]),
            prop::sample::select(vec![
                "claude-opus-4-5",
                "claude-sonnet-4-5",
                "claude-haiku-4-5",
            ]),
            0u64..60_000,
        );
        let observed = prop::sample::select(vec!["2026-12-01T11:58:00Z", "2026-12-01T09:00:00Z"]);
        let resets = prop::sample::select(vec!["2026-12-01T15:00:00Z", "2026-12-01T11:00:00Z"]);
        let limits = prop::option::of((0.0f64..110.0, 0.0f64..110.0, observed, resets));
        let team = prop::option::of((0.0f64..3_000.0, 0.0f64..1_000.0, 0u64..400));
        let state = prop::sample::select(vec![
            json!({}),
            json!({"once": {"block": {"window": "2026-12-01T10:00:00Z", "levels": [80]}}}),
            json!("not an object"),
        ]);
        (
            named_config(),
            event(),
            (windows, any::<bool>()),
            context,
            (limits, team),
            state,
        )
            .prop_map(
                |((name, config), event, (w, active), context, (limits, team), state)| {
                    let (tokens, limit, model, pending) = context;
                    let bounded = |start: &str, end: &str, figures: &Value| {
                        let mut window = figures.clone();
                        window["start"] = json!(start);
                        window["end"] = json!(end);
                        window
                    };
                    let mut block = bounded("2026-12-01T10:00:00Z", "2026-12-01T15:00:00Z", &w[1]);
                    block["active"] = json!(active);
                    json!({
                        "abi": 1,
                        "now": "2026-12-01T12:00:00Z",
                        "policy": {"name": name, "config": config},
                        "event": event,
                        "usage": {
                            "session": w[0],
                            "block": block,
                            "day": bounded("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", &w[2]),
                            "week": bounded("2026-11-30T00:00:00Z", "2026-12-07T00:00:00Z", &w[3]),
                            "project": w[4],
                            "by_family": {"opus": {"block": w[5], "week": w[6]},
                                          "sonnet": {"block": w[7], "week": w[7]}},
                            "by_model": {"claude-opus-4-5": {"block": w[5], "week": w[6]}},
                            "team": team.map(|(team_week, person_week, age)| json!({
                                "synced_at": "2026-12-01T11:00:00Z", "stale": age > 120,
                                "age_minutes": age, "name": "core", "person_id": "p-1",
                                "person": {"day": {"cost_usd": person_week / 3.0},
                                           "week": {"cost_usd": person_week}},
                                "team": {"day": {"cost_usd": team_week / 3.0},
                                         "week": {"cost_usd": team_week}},
                            })),
                        },
                        "context": {"tokens": tokens, "limit": limit, "model": model,
                                    "pending_tokens": pending},
                        "limits": limits.map(|(five, seven, observed, resets)| json!({
                            "five_hour": {"used_percentage": five, "resets_at": resets,
                                          "observed_at": observed},
                            "seven_day": {"used_percentage": seven,
                                          "resets_at": "2026-12-04T00:00:00Z",
                                          "observed_at": observed},
                        })),
                        "state": state,
                    })
                },
            )
    }

    thread_local! {
        static SANDBOX: (Engine, crate::policy::engine::Policy) = {
            let engine = Engine::new(None).unwrap();
            let (bytes, sha256) = super::get("budget").unwrap();
            let policy = engine.load(bytes, Some(sha256), None).unwrap();
            (engine, policy)
        };
    }

    /// The output of the module in the sandbox.
    fn in_sandbox(input: &[u8]) -> Vec<u8> {
        SANDBOX.with(|(engine, policy)| {
            engine
                .evaluate(policy, input, &Limits::default())
                .unwrap()
                .output
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// The native built-ins answer exactly as their WASM module does in the sandbox, on a
        /// document and again on the next call, with the state the first one returned.
        #[test]
        fn native_and_wasm_agree(mut document in document()) {
            for _call in 0..2 {
                let input = serde_json::to_vec(&document).unwrap();
                let native = super::evaluate(&input).unwrap();
                let sandboxed = in_sandbox(&input);
                prop_assert_eq!(
                    String::from_utf8_lossy(&native),
                    String::from_utf8_lossy(&sandboxed),
                    "input {}", document
                );
                let output: Value = serde_json::from_slice(&native).unwrap();
                match output.get("state") {
                    Some(state) => document["state"] = state.clone(),
                    None => break,
                }
            }
        }
    }

    /// Natively the SDK's `log` and `count_tokens` do nothing, so the built-ins must not call
    /// them to answer alike both ways: their module imports nothing from the host.
    #[test]
    fn the_builtins_import_nothing() {
        SANDBOX.with(|(_, policy)| assert_eq!(policy.imports(), Vec::<String>::new()));
    }

    /// A panic in a native built-in is reported like a trap, not unwound into the hook.
    #[test]
    fn a_native_panic_is_a_trap() {
        let error =
            super::run_native(b"{}", |_| -> tollgate_sdk::Output { panic!("boom") }).unwrap_err();
        assert_eq!(error.to_string(), "trapped: panicked: boom");
    }
}
