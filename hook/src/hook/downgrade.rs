//! A subagent downgrade as the hook sees it: what an `Agent`/`Task` `PreToolUse` answer is
//! recorded with, and what its `PostToolUse` says about the model the subagent ran on. The
//! records, their checks and what the downgrades saved are the store's
//! ([`crate::store::downgrade`]).

use serde_json::Value;

use crate::hook::event::HookInput;
use crate::store::downgrade::{Ran, Requested};

pub use crate::store::downgrade::SUBAGENT_MODEL_ENV;

/// What a downgrade answer is recorded with.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Its time (Unix ms).
    pub ts_ms: i64,
    /// The model tollgate asked for.
    pub requested: &'a str,
    /// The session's main model, when known.
    pub session_model: &'a str,
    /// `CLAUDE_CODE_SUBAGENT_MODEL` in the hook's environment.
    pub env_override: Option<&'a str>,
}

/// The downgrade answered to `input`, if it can be matched with its `PostToolUse` (it has a
/// `tool_use_id`).
pub fn requested(input: &HookInput, request: &Request<'_>) -> Option<Requested> {
    let tool_use_id = input.str("tool_use_id")?;
    let original = input
        .tool_input()
        .and_then(|i| i.get("model"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty() && *m != "inherit")
        .or_else(|| Some(request.session_model).filter(|m| !m.is_empty()));
    Some(Requested {
        tool_use_id: tool_use_id.to_owned(),
        session_id: input.session_id().to_owned(),
        ts_ms: request.ts_ms,
        original: original.map(str::to_owned),
        requested: request.requested.to_owned(),
        env_override: request
            .env_override
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
    })
}

/// What an `Agent`/`Task` `PostToolUse` (or `PostToolUseFailure`) `input` says about the model
/// its subagent ran on, if it has a `tool_use_id`.
pub fn ran(input: &HookInput) -> Option<Ran> {
    let response = input.tool_response();
    Some(Ran {
        tool_use_id: input.str("tool_use_id")?.to_owned(),
        session_id: input.session_id().to_owned(),
        agent_id: response
            .and_then(|r| r.get("agentId"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        reported: reported_models(response),
    })
}

/// `resolvedModel` first, then `modelsUsed` (strings, or objects with a `model`/`id`).
fn reported_models(response: Option<&Value>) -> Vec<String> {
    let Some(response) = response else {
        return Vec::new();
    };
    let resolved = response
        .get("resolvedModel")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let listed = response
        .get("modelsUsed")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.as_str()
                .or_else(|| m.get("model").and_then(Value::as_str))
                .or_else(|| m.get("id").and_then(Value::as_str))
                .map(str::to_owned)
        });
    resolved
        .into_iter()
        .chain(listed)
        .filter(|m| !m.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_resolved_model_then_models_used() {
        let response = serde_json::json!({
            "resolvedModel": "claude-haiku-4-5",
            "modelsUsed": ["claude-haiku-4-5", {"model": "claude-sonnet-4-5"}]
        });
        assert_eq!(
            reported_models(Some(&response)),
            ["claude-haiku-4-5", "claude-haiku-4-5", "claude-sonnet-4-5"]
        );
        assert!(reported_models(Some(&serde_json::json!({"status": "completed"}))).is_empty());
    }
}
