//! The built-in policies in one module (`policies/dist/builtins.wasm`, embedded in the hook).
//!
//! Each is configured, limited, sandboxed and recorded on its own: the hook makes a fresh
//! instance per policy and names the one it calls in the input's `policy.name`. (By default the
//! hook runs this crate as native code instead, linked in, on the same input document; the
//! module is what `builtins = "wasm"` runs and what a `sha256` pin names.) Sharing one
//! module means a hook call maps and first-touches the code they have in common (the SDK,
//! serde) once instead of three times: the policies step of a call with all three on went from
//! 1.46–1.62 ms to 1.0–1.06 ms (measured; see the README's "Hook speed").
#![deny(unsafe_code)]

use tollgate_sdk::{Describe, Input, Output, PolicyInfo};

tollgate_sdk::export_policy!(evaluate, describe = describe, check_config = check_config);

/// One built-in: its name (the host's `policy.name`), `evaluate`, `describe` and
/// `check_config`.
struct Builtin {
    name: &'static str,
    evaluate: fn(Input) -> Result<Output, String>,
    describe: fn() -> Describe,
    check_config: fn(&PolicyInfo) -> Result<(), String>,
}

/// The built-ins.
const POLICIES: &[Builtin] = &[
    Builtin {
        name: "budget",
        evaluate: tollgate_policy_budget::evaluate,
        describe: tollgate_policy_budget::describe,
        check_config: tollgate_policy_budget::check_config,
    },
    Builtin {
        name: "context-guard",
        evaluate: tollgate_policy_context_guard::evaluate,
        describe: tollgate_policy_context_guard::describe,
        check_config: tollgate_policy_context_guard::check_config,
    },
    Builtin {
        name: "model-router",
        evaluate: tollgate_policy_model_router::evaluate,
        describe: tollgate_policy_model_router::describe,
        check_config: tollgate_policy_model_router::check_config,
    },
];

/// The built-in of this name, or the error naming the built-ins there are.
fn builtin(name: &str) -> Result<&'static Builtin, String> {
    POLICIES.iter().find(|b| b.name == name).ok_or_else(|| {
        format!(
            "no built-in policy `{name}` (this module holds {})",
            names().join(", ")
        )
    })
}

/// Runs the built-in that `input.policy.name` names.
pub fn evaluate(input: Input) -> Result<Output, String> {
    (builtin(&input.policy.name)?.evaluate)(input)
}

/// Checks the config of the built-in that `policy.name` names.
pub fn check_config(policy: &PolicyInfo) -> Result<(), String> {
    (builtin(&policy.name)?.check_config)(policy)
}

/// The module's description, with each built-in's own in `policies`.
pub fn describe() -> Describe {
    Describe {
        name: "builtins".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!("tollgate's built-in policies: {}.", names().join(", ")),
        policies: POLICIES.iter().map(|b| (b.describe)()).collect(),
        ..Describe::default()
    }
}

fn names() -> Vec<&'static str> {
    POLICIES.iter().map(|b| b.name).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tollgate_sdk::{Input, PolicyInfo};

    use super::{check_config, describe, evaluate};

    fn input(name: &str) -> Input {
        serde_json::from_value(json!({
            "abi": 1,
            "policy": {"name": name, "config": null},
            "event": {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}},
        }))
        .unwrap()
    }

    #[test]
    fn each_name_runs_its_policy() {
        for name in ["budget", "context-guard", "model-router"] {
            assert!(evaluate(input(name)).is_ok(), "{name}");
        }
        // Each policy checks its own config: a key only model-router knows is refused by budget.
        let mut budget = input("budget");
        budget.policy.config = json!({"rules": []});
        assert!(evaluate(budget).unwrap_err().contains("rules"));
    }

    #[test]
    fn each_name_checks_its_config() {
        let policy = |name: &str, config| PolicyInfo {
            name: name.into(),
            config,
        };
        assert_eq!(
            check_config(&policy("budget", json!({"block_usd": 5.0}))),
            Ok(())
        );
        assert_eq!(
            check_config(&policy("budget", json!({"blok_usd": 20.0}))).unwrap_err(),
            "invalid config for policy `budget`: unknown key `blok_usd` (did you mean `block_usd`?)"
        );
        assert!(check_config(&policy("context-guard", json!({"warn_at": 2.0}))).is_err());
        assert!(check_config(&policy("model-router", json!({"rules": "none"}))).is_err());
        assert!(check_config(&policy("budgets", json!({}))).is_err());
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_the_built_ins() {
        let error = evaluate(input("budgets")).unwrap_err();
        assert_eq!(
            error,
            "no built-in policy `budgets` (this module holds budget, context-guard, model-router)"
        );
    }

    #[test]
    fn the_description_lists_each_built_in() {
        let names: Vec<String> = describe().policies.into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["budget", "context-guard", "model-router"]);
    }
}
