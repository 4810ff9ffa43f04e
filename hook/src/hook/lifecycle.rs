//! What the events besides tool calls tell: recorded with the event (its `model` and `subject`)
//! and about the session (its model, the limits it hit).
//!
//! | event | model | subject | also |
//! |---|---|---|---|
//! | SessionStart | `model` | `source` | the session's model, if none yet |
//! | SubagentStart | what the latest `Agent` call asked for (its `PostToolUse` then records the one it runs on) | `agent_type` | |
//! | PreModelSwitch / PostModelSwitch | `to_model` | `from → to` | Post: the session's model |
//! | StopFailure | | `error: details` | a `rate_limit` or `billing_error` is a limit hit |
//! | PostCompact | | `trigger: context before → after` | |
//! | PostToolBatch | | the batch's tools | |
//! | UserPromptExpansion | | `/command args` | |
//! | PermissionDenied | | the tool's subject and why | |

use serde_json::Value;

use crate::hook::event::{HookInput, truncate};
use crate::hook::redact::redact;
use crate::store::lifecycle;
use crate::store::{EventRow, claude_code};

/// Fills in `row` for `input` and records what it says about the session. `max_subject` caps
/// the subject (0: none is recorded).
pub fn record(
    tx: &rusqlite::Transaction<'_>,
    input: &HookInput,
    row: &mut EventRow,
    max_subject: usize,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let session = input.session_id();
    let text = |key: &str| input.str(key).filter(|s| !s.is_empty());
    let mut subject = None;
    match input.event.as_str() {
        "SessionStart" => {
            subject = text("source").map(str::to_owned);
            if let Some(model) = text("model") {
                lifecycle::set_session_model(tx, session, input.cwd(), model, false)?;
                row.model = Some(model.to_owned());
            }
        }
        "SubagentStart" => {
            subject = text("agent_type").map(str::to_owned);
            row.model = lifecycle::subagent_call_model(tx, session)?;
        }
        "PostToolUse" if input.is_subagent_call() => {
            let response = input.tool_response();
            let field = |key: &str| response.and_then(|r| r.get(key)).and_then(Value::as_str);
            if let (Some(agent), Some(model)) = (field("agentId"), field("resolvedModel")) {
                lifecycle::set_subagent_model(tx, session, agent, model)?;
            }
        }
        "PreModelSwitch" | "PostModelSwitch" => {
            let to = text("to_model");
            subject = Some(format!(
                "{} → {}",
                text("from_model").unwrap_or("?"),
                to.unwrap_or("?")
            ));
            row.model = to.map(str::to_owned);
            if let (Some(model), "PostModelSwitch") = (to, input.event.as_str()) {
                lifecycle::set_session_model(tx, session, input.cwd(), model, true)?;
            }
        }
        "StopFailure" => {
            // `error` in Claude Code 2.1.328; `error_type` in some descriptions of the hook.
            let kind = text("error")
                .or_else(|| text("error_type"))
                .unwrap_or("unknown");
            let details = text("error_details").or_else(|| text("error_message"));
            if matches!(kind, "rate_limit" | "billing_error") {
                claude_code::record_limit_hit(tx, session, now_ms, kind, details)?;
            }
            subject = Some(match details {
                Some(details) => format!("{kind}: {details}"),
                None => kind.to_owned(),
            });
        }
        "PostCompact" => {
            let trigger = text("trigger").unwrap_or("compaction");
            let summary = text("compact_summary").map_or(0, str::len) as u64;
            row.est_tokens = crate::hook::event::estimate_tokens(summary);
            let latest = lifecycle::compactions(tx, session)?.pop();
            subject = Some(match latest {
                Some(lifecycle::Compaction {
                    pre_tokens: Some(pre),
                    post_tokens: Some(post),
                    ..
                }) => format!("{trigger}: context {pre} → {post} tokens"),
                _ => format!("{trigger}: summary ~{} tokens", row.est_tokens),
            });
        }
        "PostToolBatch" => {
            let calls = input.raw.get("tool_calls").and_then(Value::as_array);
            let tools: Vec<&str> = calls
                .into_iter()
                .flatten()
                .filter_map(|call| call.get("tool_name")?.as_str())
                .collect();
            let n = tools.len();
            subject = Some(format!(
                "{n} tool call{}: {}",
                if n == 1 { "" } else { "s" },
                tools.join(", ")
            ));
        }
        "UserPromptExpansion" => {
            subject = text("command_name").map(|name| match text("command_args") {
                Some(args) => format!("/{name} {args}"),
                None => format!("/{name}"),
            });
        }
        "PermissionDenied" => {
            subject = match (row.subject.take(), text("reason")) {
                (Some(what), Some(why)) => Some(format!("{what} (denied: {why})")),
                (what, why) => what.or_else(|| why.map(|w| format!("denied: {w}"))),
            };
        }
        _ => return Ok(()),
    }
    if let Some(subject) = subject.filter(|_| max_subject > 0) {
        row.subject = Some(truncate(&redact(&subject), max_subject));
    }
    Ok(())
}
