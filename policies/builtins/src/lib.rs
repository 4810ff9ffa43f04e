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

use tollgate_sdk::{Describe, Input, Output};

tollgate_sdk::export_policy!(evaluate, describe = describe);

/// One built-in: its name (the host's `policy.name`), `evaluate` and `describe`.
type Builtin = (
    &'static str,
    fn(Input) -> Result<Output, String>,
    fn() -> Describe,
);

/// The built-ins.
const POLICIES: &[Builtin] = &[
    (
        "budget",
        tollgate_policy_budget::evaluate,
        tollgate_policy_budget::describe,
    ),
    (
        "context-guard",
        tollgate_policy_context_guard::evaluate,
        tollgate_policy_context_guard::describe,
    ),
    (
        "model-router",
        tollgate_policy_model_router::evaluate,
        tollgate_policy_model_router::describe,
    ),
];

/// Runs the built-in that `input.policy.name` names.
pub fn evaluate(input: Input) -> Result<Output, String> {
    match POLICIES
        .iter()
        .find(|(name, _, _)| *name == input.policy.name)
    {
        Some((_, evaluate, _)) => evaluate(input),
        None => Err(format!(
            "no built-in policy `{}` (this module holds {})",
            input.policy.name,
            names().join(", ")
        )),
    }
}

/// The module's description, with each built-in's own in `policies`.
pub fn describe() -> Describe {
    Describe {
        name: "builtins".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: format!("tollgate's built-in policies: {}.", names().join(", ")),
        policies: POLICIES.iter().map(|(_, _, describe)| describe()).collect(),
        ..Describe::default()
    }
}

fn names() -> Vec<&'static str> {
    POLICIES.iter().map(|(name, _, _)| *name).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tollgate_sdk::Input;

    use super::{describe, evaluate};

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
