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

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hook::event::{HookInput, truncate};
use crate::hook::redact::redact;
use crate::store::lifecycle;
use crate::store::{EventRow, claude_code};

/// What an event says about its session, to write with it. Data, so that a call whose record
/// waits in the spool writes it later as it would have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Fact {
    /// The session's model: at its start (kept if one is known), or after a switch (replaces).
    SessionModel {
        /// The model.
        model: String,
        /// A switch: it replaces the known one.
        switched: bool,
    },
    /// A subagent started: the event's model is the one its `Agent` call asked for.
    SubagentStarted,
    /// The model a subagent ran on (its call's `PostToolUse`).
    SubagentModel {
        /// The subagent's id.
        agent: String,
        /// Its model.
        model: String,
    },
    /// A turn stopped on a plan limit (`rate_limit`, `billing_error`).
    LimitHit {
        /// The error's kind.
        kind: String,
        /// Claude Code's details.
        details: Option<String>,
    },
    /// A compaction ended: the event's subject is the context before and after it.
    Compacted {
        /// `manual` or `auto`.
        trigger: String,
    },
}

/// Fills in `row` for `input` (its model and subject) and says what it tells about the
/// session. `max_subject` caps the subject (0: none is recorded).
pub fn describe(input: &HookInput, row: &mut EventRow, max_subject: usize) -> Option<Fact> {
    let text = |key: &str| input.str(key).filter(|s| !s.is_empty());
    let mut subject = None;
    let mut fact = None;
    match input.event.as_str() {
        "SessionStart" => {
            subject = text("source").map(str::to_owned);
            if let Some(model) = text("model") {
                row.model = Some(model.to_owned());
                fact = Some(Fact::SessionModel {
                    model: model.to_owned(),
                    switched: false,
                });
            }
        }
        "SubagentStart" => {
            subject = text("agent_type").map(str::to_owned);
            fact = Some(Fact::SubagentStarted);
        }
        "PostToolUse" if input.is_subagent_call() => {
            let response = input.tool_response();
            let field = |key: &str| response.and_then(|r| r.get(key)).and_then(Value::as_str);
            if let (Some(agent), Some(model)) = (field("agentId"), field("resolvedModel")) {
                fact = Some(Fact::SubagentModel {
                    agent: agent.to_owned(),
                    model: model.to_owned(),
                });
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
                fact = Some(Fact::SessionModel {
                    model: model.to_owned(),
                    switched: true,
                });
            }
        }
        "StopFailure" => {
            // `error` in Claude Code 2.1.328; `error_type` in some descriptions of the hook.
            let kind = text("error")
                .or_else(|| text("error_type"))
                .unwrap_or("unknown");
            let details = text("error_details").or_else(|| text("error_message"));
            if matches!(kind, "rate_limit" | "billing_error") {
                fact = Some(Fact::LimitHit {
                    kind: kind.to_owned(),
                    details: details.map(str::to_owned),
                });
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
            subject = Some(format!("{trigger}: summary ~{} tokens", row.est_tokens));
            fact = Some(Fact::Compacted {
                trigger: trigger.to_owned(),
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
        _ => return None,
    }
    if let Some(subject) = subject.filter(|_| max_subject > 0) {
        row.subject = Some(truncate(&redact(&subject), max_subject));
    }
    fact
}

/// Writes `fact` about the session of `row`, in the transaction that inserts `row`, first:
/// what it reads (the subagent call's model, the compaction the transcript recorded) completes
/// the row.
pub fn write(
    tx: &rusqlite::Transaction<'_>,
    fact: &Fact,
    row: &mut EventRow,
) -> rusqlite::Result<()> {
    let session = row.session_id.as_str();
    match fact {
        Fact::SessionModel { model, switched } => {
            lifecycle::set_session_model(tx, session, &row.project, model, *switched)
        }
        Fact::SubagentStarted => {
            row.model = lifecycle::subagent_call_model(tx, session)?;
            Ok(())
        }
        Fact::SubagentModel { agent, model } => {
            lifecycle::set_subagent_model(tx, session, agent, model)
        }
        Fact::LimitHit { kind, details } => {
            claude_code::record_limit_hit(tx, session, row.ts_ms, kind, details.as_deref())
        }
        Fact::Compacted { trigger } => {
            if let Some(lifecycle::Compaction {
                pre_tokens: Some(pre),
                post_tokens: Some(post),
                ..
            }) = lifecycle::compactions(tx, session)?.pop()
                && row.subject.is_some()
            {
                row.subject = Some(format!("{trigger}: context {pre} → {post} tokens"));
            }
            Ok(())
        }
    }
}
