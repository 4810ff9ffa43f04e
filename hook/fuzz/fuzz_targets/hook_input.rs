//! Hook input as Claude Code sends it on stdin: parsed or refused, and when parsed, every
//! accessor works and every decision gives an answer that is a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::hook::decide::{Decision, Verdict};
use tollgate::hook::event::HookInput;
use tollgate::hook::respond::{self, Options};

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = HookInput::parse(bytes) else {
        return;
    };
    let _ = (
        input.session_id(),
        input.cwd(),
        input.transcript_path(),
        input.tool_name(),
    );
    let _ = (
        input.input_bytes(),
        input.response_bytes(),
        input.is_subagent_call(),
    );
    assert!(input.subject(64).is_none_or(|s| s.len() <= 64));
    for decision in [
        Decision::Allow,
        Decision::Warn,
        Decision::Downgrade,
        Decision::Ask,
        Decision::Deny,
    ] {
        let verdict = Verdict {
            decision: Some(decision),
            reason: Some("over budget".into()),
            model: Some("haiku".into()),
            messages: vec!["a warning".into()],
            contexts: vec!["for Claude".into()],
        };
        for allow_stop_block in [false, true] {
            let answer = respond::answer(&input, &verdict, Options { allow_stop_block });
            if let Some(json) = answer.json {
                assert!(json.is_object(), "an answer is a JSON object: {json}");
            }
        }
    }
});
