//! The built-in policies, embedded in the binary twice from one source (`policies/`): as the
//! WASM module `policies/dist/builtins.wasm` (built by `scripts/build-policies`; CI rebuilds it
//! and fails on a difference), and as native code linked in ([`evaluate`]).
//!
//! By default (config `builtins = "native"`) the hook runs them natively: they are part of the
//! binary the user already trusts, and skipping the sandbox saves 0.4–0.6 ms of a hook call
//! (measured; see the README's "Hook speed"). `builtins = "wasm"` runs them in the sandbox like
//! any policy file, under its time and memory limits. Both give the same output byte for byte
//! (`tests::native_and_wasm_agree`).

use crate::engine::PolicyError;

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The module and sha256 of built-in `name`.
pub fn get(name: &str) -> Option<(&'static [u8], &'static str)> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, sha)| (*bytes, *sha))
}

/// Runs the built-in that the input document's `policy.name` names, as native code: the
/// output document, as `tollgate_evaluate` in the module would return it. A panic is reported
/// like a trap.
pub fn evaluate(input: &[u8]) -> Result<Vec<u8>, PolicyError> {
    std::panic::catch_unwind(|| tollgate_sdk::run_json(input, tollgate_builtins::evaluate)).map_err(
        |panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PolicyError::Trap(format!("panicked: {what}"))
        },
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::config::Limits;
    use crate::engine::Engine;

    /// A built-in's name and a config for it: its limits from tiny to huge, its actions, and
    /// now and then a value of the wrong type (the policy must report an error).
    fn named_config() -> impl Strategy<Value = (&'static str, Value)> {
        let usd = || prop::option::of(0.01f64..500.0);
        let tokens = || prop::option::of(1u64..50_000_000);
        let fraction = || prop_oneof![9 => 0.0f64..1.0, 1 => 1.0f64..1.5];
        let action = || prop::sample::select(vec!["allow", "warn", "ask", "deny"]);
        let budget = (
            (usd(), usd(), usd(), usd()),
            (tokens(), tokens(), fraction(), action()),
            (prop::option::of(0.0f64..120.0), usd()),
        )
            .prop_map(|((session, block, day, week), (s_tok, w_tok, warn_at, at_limit), (five, opus))| {
                ("budget", json!({
                    "session_usd": session, "block_usd": block, "day_usd": day, "week_usd": week,
                    "session_tokens": s_tok, "week_tokens": w_tok, "warn_at": warn_at,
                    "at_limit": at_limit, "five_hour_percent": five,
                    "families": {"opus": {"block_usd": opus}},
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
        let router = (
            (usd(), fraction(), usd()),
            (prop::option::of("(Explore|general-purpose)"), prop::option::of(0.0f64..120.0)),
        )
            .prop_map(|((week, downgrade_at, burn), (subagent_type, seven))| {
                ("model-router", json!({
                    "opus_week_usd": week, "downgrade_at": downgrade_at,
                    "max_block_burn_usd_per_hour": burn, "seven_day_percent": seven,
                    "rules": subagent_type.map_or(vec![], |t| vec![json!({"subagent_type": t, "model": "haiku"})]),
                }))
            });
        let unknown = Just(("nope", json!({})));
        (
            prop_oneof![3 => budget, 3 => guard, 3 => router, 1 => unknown],
            prop::option::weighted(
                0.2,
                prop::sample::select(vec!["warn_at", "at_limit", "rules", "typo"]),
            ),
        )
            .prop_map(|((name, mut config), wrong)| {
                // Nulls stand for keys left out; one config in five gets a wrong type.
                if let Some(object) = config.as_object_mut() {
                    object.retain(|_, v| !v.is_null());
                    if let Some(key) = wrong {
                        object.insert(key.to_owned(), json!("0.8"));
                    }
                }
                (name, config)
            })
    }

    /// An input document for a built-in (or an unknown name): an event of each kind, usage and
    /// context from empty to far past the configured limits, observed plan windows or none, and
    /// a stored state.
    fn document() -> impl Strategy<Value = Value> {
        let event = prop::sample::select(vec![
            json!({"hook_event_name": "PreToolUse", "tool_name": "Bash",
                   "tool_input": {"command": "grep -r TODO /"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Read",
                   "tool_input": {"file_path": "src/main.rs"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Grep",
                   "tool_input": {"pattern": ".*", "path": "/"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Task",
                   "tool_input": {"subagent_type": "Explore", "prompt": "find the parser",
                                  "model": "opus"}}),
            json!({"hook_event_name": "PreToolUse", "tool_name": "Agent",
                   "tool_input": {"subagent_type": "general-purpose",
                                  "prompt": "rename a variable"}}),
            json!({"hook_event_name": "PostToolUse", "tool_name": "Read",
                   "tool_response": {"content": "x"}}),
            json!({"hook_event_name": "UserPromptSubmit", "prompt": "go on"}),
            json!({"hook_event_name": "SessionStart"}),
        ]);
        let window = || (0.0f64..600.0, 0u64..80_000_000, 0u64..200);
        let usage = (
            window(),
            window(),
            window(),
            window(),
            window(),
            any::<bool>(),
        );
        let context = (
            0u64..250_000,
            prop::sample::select(vec![0u64, 200_000, 1_000_000]),
        );
        let limits = prop::option::of((0.0f64..110.0, 0.0f64..110.0));
        let state = prop::sample::select(vec![
            json!({}),
            json!({"warned": {"block": "2026-12-01T10:00:00Z"}}),
            json!("not an object"),
        ]);
        (
            named_config(),
            event,
            usage,
            (context, 0u64..60_000),
            limits,
            state,
        )
            .prop_map(|((name, config), event, usage, (context, pending), limits, state)| {
                let figures = |(cost_usd, total_tokens, messages): (f64, u64, u64)| {
                    json!({"cost_usd": cost_usd, "total_tokens": total_tokens,
                           "input_tokens": total_tokens / 10, "output_tokens": total_tokens / 20,
                           "messages": messages, "tool_calls": messages * 2, "prompts": messages / 4})
                };
                let (session, block, day, week, opus, active) = usage;
                json!({
                    "abi": 1,
                    "now": "2026-12-01T12:00:00Z",
                    "policy": {"name": name, "config": config},
                    "event": dict(event),
                    "usage": {
                        "session": figures(session),
                        "block": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T15:00:00Z",
                                  "active": active, "totals": figures(block)},
                        "day": {"totals": figures(day)},
                        "week": {"totals": figures(week)},
                        "by_family": {"opus": {"block": figures(opus), "week": figures(week)}},
                    },
                    "context": {"tokens": context.0, "limit": context.1, "model": "claude-opus-4-5",
                                "pending_tokens": pending},
                    "limits": limits.map(|(five, seven)| json!({
                        "five_hour": {"used_percentage": five, "resets_at": "2026-12-01T15:00:00Z",
                                      "observed_at": "2026-12-01T11:58:00Z"},
                        "seven_day": {"used_percentage": seven, "resets_at": "2026-12-04T00:00:00Z",
                                      "observed_at": "2026-12-01T11:58:00Z"},
                    })),
                    "state": state,
                })
            })
    }

    /// Claude Code's common fields around an event.
    fn dict(mut event: Value) -> Value {
        event["session_id"] = json!("s-1");
        event["cwd"] = json!("/work/project");
        event["transcript_path"] = json!("/tmp/s-1.jsonl");
        event
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// The native built-ins answer exactly as their WASM module does in the sandbox.
        #[test]
        fn native_and_wasm_agree(document in document()) {
            thread_local! {
                static ENGINE: (Engine, crate::engine::Policy) = {
                    let engine = Engine::new(None).unwrap();
                    let (bytes, sha256) = super::get("budget").unwrap();
                    let policy = engine.load(bytes, Some(sha256), None).unwrap();
                    (engine, policy)
                };
            }
            let input = serde_json::to_vec(&document).unwrap();
            let native = super::evaluate(&input).unwrap();
            let wasm = ENGINE.with(|(engine, policy)| {
                engine.evaluate(policy, &input, &Limits::default()).unwrap().output
            });
            prop_assert_eq!(
                String::from_utf8_lossy(&native),
                String::from_utf8_lossy(&wasm),
                "input {}", document
            );
        }
    }
}
