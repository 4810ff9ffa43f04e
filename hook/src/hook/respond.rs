//! Turns a verdict into Claude Code's hook protocol for the event.
//!
//! The answer is exactly one JSON object on stdout, or nothing when there is nothing to say
//! (an allow), always with exit code 0. What each event accepts is in [`catalog`] (from the
//! official hooks reference, <https://code.claude.com/docs/en/hooks>, decision control per
//! event):
//!
//! | the event's refusal | deny | ask | warn |
//! |---|---|---|---|
//! | `Permission` (PreToolUse, PreModelSwitch) | `permissionDecision: deny` | `ask` | `systemMessage` (+ `additionalContext` where read) |
//! | `Behavior` (PermissionRequest) | `decision.behavior: deny` | warn (the dialog already asks) | `systemMessage` |
//! | `Block` (UserPromptSubmit, UserPromptExpansion, PostToolUse(Failure), PostToolBatch, PreCompact, ConfigChange) | `decision: block` | warn | `systemMessage` (+ `additionalContext`) |
//! | `BlockToContinue` (Stop, SubagentStop) | warn, or `decision: block` when allowed | warn | `systemMessage` |
//! | `Never` (SessionStart, SubagentStart, PostModelSwitch, …) | warn | warn | `systemMessage` (+ `additionalContext`) |
//!
//! A downgrade is an `Agent`/`Task` PreToolUse's `updatedInput` with the new `model`; elsewhere
//! it is a warning (on a prompt, with the `/model` command to switch). Events whose
//! answer Claude Code does not read (SessionEnd, StopFailure, Notification, PermissionDenied,
//! PostCompact, …), and events tollgate does not know, get nothing at all.

use serde_json::{Map, Value, json};

use crate::hook::catalog::{self, Refusal};
use crate::hook::decide::{Decision, Verdict};
use crate::hook::event::{HookInput, truncate};

/// Claude Code caps hook output strings at 10,000 characters.
const MAX_TEXT: usize = 9_900;

/// The answer to one hook call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// The JSON object to print, if any.
    pub json: Option<Value>,
    /// The decision actually expressed (after falling back to what the event allows).
    pub effective: Option<Decision>,
}

/// Options that change how decisions map to the protocol.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Let a deny block `Stop`/`SubagentStop` (off: Claude could never finish).
    pub allow_stop_block: bool,
}

/// The answer for `verdict` on `input`.
pub fn answer(input: &HookInput, verdict: &Verdict, options: Options) -> Answer {
    let decision = verdict.decision.unwrap_or(Decision::Allow);
    let event = input.event.as_str();
    let Some(spec) = catalog::get(event).filter(|e| e.answered) else {
        // Nothing it could say would be read.
        return Answer {
            json: None,
            effective: Some(Decision::Allow),
        };
    };
    let reason = verdict.reason.as_deref().unwrap_or("");
    let tagged = |text: &str| truncate(&format!("tollgate: {text}"), MAX_TEXT);

    // What the event can express; anything else falls back to a warning.
    let effective = match (decision, spec.refusal) {
        (Decision::Allow | Decision::Warn, _) => decision,
        (Decision::Downgrade, _)
            if event == "PreToolUse"
                && input.is_subagent_call()
                && input.tool_input().is_some_and(Value::is_object) =>
        {
            decision
        }
        (Decision::Deny | Decision::Ask, Refusal::Permission)
        | (Decision::Deny, Refusal::Behavior | Refusal::Block) => decision,
        (Decision::Deny, Refusal::BlockToContinue) if options.allow_stop_block => decision,
        _ => Decision::Warn,
    };

    let mut messages: Vec<String> = verdict.messages.clone();
    if effective == Decision::Warn && !reason.is_empty() {
        let text = match (event, decision) {
            ("UserPromptSubmit" | "UserPromptExpansion", Decision::Downgrade) => {
                let model = verdict.model.as_deref().unwrap_or("sonnet");
                format!("{reason}. Switch with: /model {model}")
            }
            _ => reason.to_owned(),
        };
        messages.insert(0, text);
    }
    let mut out = Map::new();
    if !messages.is_empty() {
        out.insert(
            "systemMessage".into(),
            Value::String(tagged(&messages.join("\n"))),
        );
    }
    let mut specific = Map::new();
    let mut contexts = verdict.contexts.clone();
    match (effective, spec.refusal) {
        (Decision::Deny | Decision::Ask, Refusal::Permission) => {
            specific.insert(
                "permissionDecision".into(),
                Value::String(effective.as_str().into()),
            );
            specific.insert(
                "permissionDecisionReason".into(),
                Value::String(tagged(reason)),
            );
        }
        (Decision::Downgrade, _) => {
            let model = verdict.model.clone().unwrap_or_else(|| "sonnet".into());
            let mut updated = input
                .tool_input()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let from = updated
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("the inherited model")
                .to_owned();
            updated.insert("model".into(), Value::String(model.clone()));
            // `updatedInput` replaces the whole input: every other field is echoed unchanged.
            specific.insert("permissionDecision".into(), Value::String("allow".into()));
            specific.insert(
                "permissionDecisionReason".into(),
                Value::String(tagged(&format!(
                    "subagent moved from {from} to {model}: {reason}"
                ))),
            );
            specific.insert("updatedInput".into(), Value::Object(updated));
            let note = format!("subagent moved from {from} to {model}: {reason}");
            let system = match out.get("systemMessage").and_then(Value::as_str) {
                Some(existing) => format!("{existing}\n{}", tagged(&note)),
                None => tagged(&note),
            };
            out.insert(
                "systemMessage".into(),
                Value::String(truncate(&system, MAX_TEXT)),
            );
        }
        (Decision::Deny, Refusal::Behavior) => {
            specific.insert(
                "decision".into(),
                json!({ "behavior": "deny", "message": tagged(reason) }),
            );
        }
        (Decision::Deny, Refusal::Block | Refusal::BlockToContinue) => {
            out.insert("decision".into(), Value::String("block".into()));
            out.insert("reason".into(), Value::String(tagged(reason)));
        }
        _ => {}
    }
    // Warnings reach Claude too where the event takes context, so it can change course.
    if effective == Decision::Warn && !reason.is_empty() && spec.context {
        contexts.insert(0, reason.to_owned());
    }
    if !contexts.is_empty() && spec.context {
        specific.insert(
            "additionalContext".into(),
            Value::String(tagged(&contexts.join("\n"))),
        );
    }
    if !specific.is_empty() {
        specific.insert("hookEventName".into(), Value::String(event.to_owned()));
        out.insert("hookSpecificOutput".into(), Value::Object(specific));
    }
    Answer {
        json: (!out.is_empty()).then_some(Value::Object(out)),
        effective: Some(effective),
    }
}

/// The answer when tollgate itself failed and the config says to fail closed.
pub fn fail_closed(input: Option<&HookInput>, why: &str) -> Answer {
    let Some(input) = input else {
        return Answer::default();
    };
    let verdict = Verdict {
        decision: Some(Decision::Deny),
        reason: Some(format!(
            "tollgate failed and is configured to fail closed: {why}"
        )),
        ..Verdict::default()
    };
    answer(input, &verdict, Options::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> HookInput {
        HookInput::parse(json.as_bytes()).unwrap()
    }

    fn verdict(decision: Decision, reason: &str) -> Verdict {
        Verdict {
            decision: Some(decision),
            reason: Some(reason.into()),
            model: (decision == Decision::Downgrade).then(|| "sonnet".into()),
            ..Verdict::default()
        }
    }

    const AGENT: &str = r#"{"hook_event_name":"PreToolUse","tool_name":"Agent","tool_input":{"description":"d","prompt":"p","subagent_type":"Explore","model":"opus"}}"#;

    #[test]
    fn allow_prints_nothing() {
        let answer = answer(&input(AGENT), &Verdict::default(), Options::default());
        assert_eq!(answer.json, None);
    }

    #[test]
    fn downgrade_echoes_the_whole_input_with_the_new_model() {
        let a = answer(
            &input(AGENT),
            &verdict(Decision::Downgrade, "opus week at 60%"),
            Options::default(),
        );
        let json = a.json.unwrap();
        let specific = &json["hookSpecificOutput"];
        assert_eq!(specific["hookEventName"], "PreToolUse");
        assert_eq!(specific["permissionDecision"], "allow");
        assert_eq!(
            specific["updatedInput"],
            json!({"description":"d","prompt":"p","subagent_type":"Explore","model":"sonnet"})
        );
        assert!(
            json["systemMessage"]
                .as_str()
                .unwrap()
                .contains("from opus to sonnet")
        );
    }

    #[test]
    fn downgrade_of_another_tool_becomes_a_warning() {
        let bash =
            r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#;
        let a = answer(
            &input(bash),
            &verdict(Decision::Downgrade, "r"),
            Options::default(),
        );
        assert_eq!(a.effective, Some(Decision::Warn));
        let json = a.json.unwrap();
        assert!(json["hookSpecificOutput"].get("updatedInput").is_none());
        assert_eq!(
            json["hookSpecificOutput"]["additionalContext"],
            "tollgate: r"
        );
    }

    #[test]
    fn deny_per_event() {
        let pre = answer(
            &input(AGENT),
            &verdict(Decision::Deny, "no"),
            Options::default(),
        )
        .json
        .unwrap();
        assert_eq!(pre["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(
            pre["hookSpecificOutput"]["permissionDecisionReason"],
            "tollgate: no"
        );
        let prompt = answer(
            &input(r#"{"hook_event_name":"UserPromptSubmit","prompt":"x"}"#),
            &verdict(Decision::Deny, "no"),
            Options::default(),
        )
        .json
        .unwrap();
        assert_eq!(prompt["decision"], "block");
        let perm = answer(
            &input(r#"{"hook_event_name":"PermissionRequest","tool_name":"Bash"}"#),
            &verdict(Decision::Deny, "no"),
            Options::default(),
        )
        .json
        .unwrap();
        assert_eq!(perm["hookSpecificOutput"]["decision"]["behavior"], "deny");
    }

    #[test]
    fn stop_is_never_blocked_by_default() {
        let stop = input(r#"{"hook_event_name":"Stop","stop_hook_active":false}"#);
        let a = answer(&stop, &verdict(Decision::Deny, "over"), Options::default());
        assert_eq!(a.effective, Some(Decision::Warn));
        assert!(a.json.unwrap().get("decision").is_none());
        let allowed = answer(
            &stop,
            &verdict(Decision::Deny, "over"),
            Options {
                allow_stop_block: true,
            },
        );
        assert_eq!(allowed.json.unwrap()["decision"], "block");
    }

    #[test]
    fn session_end_and_unknown_events() {
        let end = input(r#"{"hook_event_name":"SessionEnd","reason":"other"}"#);
        assert_eq!(
            answer(&end, &verdict(Decision::Warn, "w"), Options::default()).json,
            None
        );
        let unknown = input(r#"{"hook_event_name":"SomeFutureEvent"}"#);
        let a = answer(&unknown, &verdict(Decision::Deny, "d"), Options::default());
        assert_eq!(a.json, None, "recorded and allowed");
        assert_eq!(a.effective, Some(Decision::Allow));
    }

    /// What Claude Code 2.1.328 accepts from a hook, per event (its output schemas): the
    /// `hookSpecificOutput` keys, and whether a top-level `decision: "block"` is read.
    fn accepted(event: &str) -> (&'static [&'static str], bool) {
        match event {
            "PreToolUse" => (
                &[
                    "permissionDecision",
                    "permissionDecisionReason",
                    "updatedInput",
                    "additionalContext",
                ],
                false,
            ),
            "PreModelSwitch" => (&["permissionDecision", "permissionDecisionReason"], false),
            "PermissionRequest" => (&["decision"], false),
            "UserPromptSubmit"
            | "UserPromptExpansion"
            | "PostToolUse"
            | "PostToolUseFailure"
            | "PostToolBatch"
            | "Stop"
            | "SubagentStop" => (&["additionalContext"], true),
            "SessionStart" | "Setup" | "SubagentStart" | "PostModelSwitch" | "Notification" => {
                (&["additionalContext"], false)
            }
            "ConfigChange" | "PreCompact" => (&[], true),
            _ => (&[], false),
        }
    }

    /// Every event, every decision: an answer Claude Code accepts, or nothing.
    #[test]
    fn every_event_gets_an_answer_it_accepts() {
        for event in crate::hook::catalog::EVENTS {
            let name = event.name;
            let text = format!(
                r#"{{"hook_event_name":"{name}","tool_name":"Agent","tool_input":{{"prompt":"p","subagent_type":"x"}}}}"#
            );
            let (keys, block) = accepted(name);
            for decision in [
                Decision::Allow,
                Decision::Warn,
                Decision::Ask,
                Decision::Deny,
                Decision::Downgrade,
            ] {
                for options in [
                    Options::default(),
                    Options {
                        allow_stop_block: true,
                    },
                ] {
                    let mut v = verdict(decision, "over the limit");
                    v.contexts = vec!["context".into()];
                    let a = answer(&input(&text), &v, options);
                    let Some(json) = a.json else {
                        continue;
                    };
                    let what = format!("{name} {decision:?}: {json}");
                    assert!(event.answered, "{what}");
                    for key in json.as_object().unwrap().keys() {
                        let fits = match key.as_str() {
                            "systemMessage" => true,
                            "decision" => block && json["decision"] == "block",
                            "reason" => block,
                            "hookSpecificOutput" => true,
                            _ => false,
                        };
                        assert!(fits, "{what}");
                    }
                    if let Some(specific) = json.get("hookSpecificOutput") {
                        assert_eq!(specific["hookEventName"], name, "{what}");
                        for key in specific.as_object().unwrap().keys() {
                            assert!(
                                key == "hookEventName" || keys.contains(&key.as_str()),
                                "{what}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_newer_events_refuse_in_their_own_form() {
        let deny = verdict(Decision::Deny, "no");
        let switch = input(
            r#"{"hook_event_name":"PreModelSwitch","from_model":"claude-sonnet-5-5","to_model":"claude-opus-5-5"}"#,
        );
        let a = answer(&switch, &deny, Options::default()).json.unwrap();
        assert_eq!(a["hookSpecificOutput"]["permissionDecision"], "deny");
        for event in ["PostToolBatch", "UserPromptExpansion"] {
            let a = answer(
                &input(&format!(r#"{{"hook_event_name":"{event}"}}"#)),
                &deny,
                Options::default(),
            )
            .json
            .unwrap();
            assert_eq!(a["decision"], "block", "{event}");
        }
        for event in [
            "StopFailure",
            "PermissionDenied",
            "PostCompact",
            "WorktreeCreate",
        ] {
            let a = answer(
                &input(&format!(r#"{{"hook_event_name":"{event}"}}"#)),
                &deny,
                Options::default(),
            );
            assert_eq!(a.json, None, "{event}");
        }
        let start = input(r#"{"hook_event_name":"SubagentStart","agent_type":"Explore"}"#);
        let a = answer(&start, &deny, Options::default()).json.unwrap();
        assert_eq!(a["hookSpecificOutput"]["additionalContext"], "tollgate: no");
    }

    #[test]
    fn long_text_is_capped() {
        let long = "x".repeat(50_000);
        let a = answer(
            &input(AGENT),
            &verdict(Decision::Warn, &long),
            Options::default(),
        )
        .json
        .unwrap();
        assert!(a["systemMessage"].as_str().unwrap().len() <= MAX_TEXT);
    }
}
