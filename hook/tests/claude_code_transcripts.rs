//! End-to-end on transcripts the real Claude Code 2.1.328 wrote (`fixtures/claude-code`): the
//! real `tollgate` binary reads them through its hook, and its costs stand next to Claude Code's
//! own (`cost-state` lines).

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};

/// A session with a command and a Claude Haiku 5.5 subagent under Claude Opus 5.5.
const SUBAGENT: &str = "c996af0b-4118-445f-a185-21f1ca20f0ef";
/// Three turns: a command, `/compact`, a slash command.
const COMPACTED: &str = "3ec72584-8998-4b29-9c41-9b58aeac8f01";
/// A turn refused with a 429 `rate_limit_error`.
const REFUSED: &str = "b5d50d46-4ff0-4769-a941-5c103267ebe9";

/// A tollgate home and a copy of the real transcripts, which a test may edit.
struct Real {
    env: TestEnv,
}

impl Real {
    fn new() -> Self {
        let env = TestEnv::new();
        env.config("default_policies = false\n");
        copy_dir(
            &fixtures().join("claude-code/transcripts"),
            &env.dir.path().join("real"),
        );
        Real { env }
    }

    fn transcript(&self, session: &str) -> PathBuf {
        self.env.dir.path().join(format!("real/{session}.jsonl"))
    }

    /// Replaces `from` by `to` in a session's transcripts (the main one and its subagents').
    fn edit(&self, session: &str, from: &str, to: &str) {
        let main = self.transcript(session);
        let subagents = main.with_extension("").join("subagents");
        let mut files = vec![main];
        if let Ok(entries) = std::fs::read_dir(&subagents) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, text.replace(from, to)).unwrap();
        }
    }

    /// `tollgate hook` on `event` of `session`, as Claude Code sends it.
    fn hook(&self, session: &str, event: Value) -> std::process::Output {
        let mut input = json!({
            "session_id": session,
            "transcript_path": self.transcript(session).display().to_string(),
            "cwd": "/home/dev/proj",
        });
        input
            .as_object_mut()
            .unwrap()
            .extend(event.as_object().unwrap().clone());
        let output = self.env.hook(&input);
        assert!(output.status.success(), "{}", stderr(&output));
        output
    }

    fn session_end(&self, session: &str) -> std::process::Output {
        self.hook(
            session,
            json!({"hook_event_name": "SessionEnd", "reason": "other"}),
        )
    }

    /// `tollgate report session --json`: the row of `session`, and the whole report.
    fn session_report(&self, session: &str) -> (Value, Value) {
        let output = self.env.pipe(
            &["report", "session", "--json", "--since", "2026-01-01"],
            b"",
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let row = report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sessionId"] == session)
            .unwrap_or_else(|| panic!("{session} in {report}"))
            .clone();
        (row, report)
    }
}

fn assert_close(a: &Value, b: f64) {
    let a = a.as_f64().unwrap_or_else(|| panic!("{a} is a number"));
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// Claude Code's total for the subagent session (its `total_cost_usd` and last cost-state line).
const SUBAGENT_TOTAL: f64 = 0.208_720_5;

#[test]
fn tollgate_prices_the_default_model_as_claude_code_does() {
    let real = Real::new();
    let output = real.session_end(SUBAGENT);
    assert_eq!(stderr(&output), "");
    let (row, _) = real.session_report(SUBAGENT);
    assert_close(&row["totalCost"], SUBAGENT_TOTAL);
    assert_close(&row["claudeCodeCost"], SUBAGENT_TOTAL);
    assert_eq!(row["unpricedMessages"], 0);
    let models: Vec<&str> = row["modelBreakdowns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["modelName"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["claude-opus-5-5", "claude-haiku-5-5"]);
}

#[test]
fn claude_code_counts_the_compaction_the_transcript_does_not_record() {
    let real = Real::new();
    real.session_end(COMPACTED);
    let (row, _) = real.session_report(COMPACTED);
    // The transcript's three Opus 5.5 responses; Claude Code's figure also has the summary
    // request (19,000 input and 400 output tokens: $0.084).
    assert_close(&row["totalCost"], 0.162_18);
    assert_close(&row["claudeCodeCost"], 0.246_18);
    let table = real
        .env
        .pipe(&["report", "session", "--since", "2026-01-01"], b"");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("Claude Code says"), "{text}");
    assert!(text.contains("$0.25 (+$0.08)"), "{text}");
    assert!(text.contains("compaction"), "{text}");
    // The context after the compaction is what Claude Code measured, until the next response.
    let compaction: (i64, i64) = real
        .env
        .db()
        .query_row(
            "SELECT pre_tokens, post_tokens FROM compactions WHERE session_id = ?1",
            [COMPACTED],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(compaction, (18_510, 2_614));
    let context = real.env.pipe(
        &["report", "context", "--session", COMPACTED, "--json"],
        b"",
    );
    let report: Value = serde_json::from_slice(&context.stdout).unwrap();
    assert_eq!(report["contextLimit"], 1_000_000, "Opus 5.5's window");
    assert_eq!(report["compactions"], 1);
    assert_eq!(
        report["compacted"][0],
        json!({"tsMs": report["compacted"][0]["tsMs"], "trigger": "manual",
               "preTokens": 18_510, "postTokens": 2_614})
    );
}

#[test]
fn a_model_tollgate_cannot_price_is_priced_from_claude_codes_figures() {
    let real = Real::new();
    real.edit(SUBAGENT, "claude-opus-5-5", "claude-opus-9-9");
    real.session_end(SUBAGENT);
    let (row, report) = real.session_report(SUBAGENT);
    assert_close(&row["totalCost"], SUBAGENT_TOTAL);
    assert_eq!(row["unpricedMessages"], 0);
    assert_eq!(report["pricedFromClaudeCode"], json!(["claude-opus-9-9"]));
    let table = real
        .env
        .pipe(&["report", "session", "--since", "2026-01-01"], b"");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains(
            "priced from Claude Code's figures (tollgate has no price for them): claude-opus-9-9"
        ),
        "{text}"
    );
}

#[test]
fn a_price_claude_code_assumed_leaves_the_cost_unknown() {
    let real = Real::new();
    real.edit(SUBAGENT, "claude-opus-5-5", "claude-opus-9-9");
    real.edit(
        SUBAGENT,
        "\"hasUnknownModelCost\":false",
        "\"hasUnknownModelCost\":true",
    );
    real.session_end(SUBAGENT);
    let (row, report) = real.session_report(SUBAGENT);
    // Haiku's part is priced; Opus 9.9's is unknown, not zero.
    assert_eq!(row["unpricedMessages"], 3);
    let opus = row["modelBreakdowns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["modelName"] == "claude-opus-9-9")
        .unwrap();
    assert_eq!(opus["cost"], Value::Null);
    assert_eq!(report["unpricedModels"], json!(["claude-opus-9-9"]));
    assert_eq!(row["claudeCodeAssumedAPrice"], true);
    // status: never $0.00 for what has no price, and the model named.
    let status = real.env.pipe(&["status", "--session", SUBAGENT], b"");
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    let session = text
        .lines()
        .find(|l| l.contains("session"))
        .unwrap_or_default();
    assert!(session.contains("≥$0.0002"), "{text}");
    assert!(session.contains("no price: claude-opus-9-9"), "{text}");
    let doctor = real.env.pipe(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout);
    for said in [
        "no price for claude-opus-9-9 (3 responses)",
        "no context window known for claude-opus-9-9",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
}

#[test]
fn a_cost_line_that_goes_down_is_reported_once_and_changes_nothing() {
    let real = Real::new();
    real.session_end(SUBAGENT);
    // A later line of the same session with a lower figure.
    let path = real.transcript(SUBAGENT);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"cost-state\""))
        .unwrap()
        .replace("\"costUSD\":0.20850000000000002", "\"costUSD\":0.01");
    std::fs::write(&path, format!("{text}{line}\n")).unwrap();
    let first = real.session_end(SUBAGENT);
    let note = stderr(&first);
    assert!(note.contains("went down for claude-opus-5-5"), "{note}");
    assert_eq!(note.lines().count(), 1, "one line: {note}");
    std::fs::write(&path, format!("{text}{line}\n{line}\n")).unwrap();
    assert_eq!(stderr(&real.session_end(SUBAGENT)), "", "reported once");
    let (row, _) = real.session_report(SUBAGENT);
    assert_close(&row["claudeCodeCost"], SUBAGENT_TOTAL);
    assert_close(&row["totalCost"], SUBAGENT_TOTAL);
    let doctor = real.env.pipe(&["doctor"], b"");
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("went down for claude-opus-5-5"), "{text}");
}

#[test]
fn a_turn_refused_on_a_rate_limit_is_a_limit_hit() {
    let real = Real::new();
    real.session_end(REFUSED);
    let (kind, detail): (String, String) = real
        .env
        .db()
        .query_row(
            "SELECT kind, detail FROM limit_hits WHERE session_id = ?1",
            [REFUSED],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "rate_limit");
    assert!(detail.contains("429"), "{detail}");
    // The StopFailure hook call for the same stop adds nothing.
    real.hook(
        REFUSED,
        json!({"hook_event_name": "StopFailure", "error": "rate_limit",
               "error_details": "429 Too Many Requests"}),
    );
    let hits = real.env.count("SELECT count(*) FROM limit_hits");
    assert!(hits >= 1);
    let subject: String = real
        .env
        .db()
        .query_row(
            "SELECT subject FROM events WHERE event = 'StopFailure'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(subject, "rate_limit: 429 Too Many Requests");
}

fn fixture_input(name: &str) -> Value {
    let path = fixtures().join(format!("claude-code/hook-input/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The hook inputs Claude Code sent in those sessions, replayed in order.
#[test]
fn the_newer_events_are_recorded_with_what_they_tell() {
    let real = Real::new();
    let replay = |name: &str| {
        let mut input = fixture_input(name);
        let session = input["session_id"].as_str().unwrap().to_owned();
        input["transcript_path"] = real.transcript(&session).display().to_string().into();
        let output = real.env.hook(&input);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        assert_eq!(
            stdout_json(&output),
            None,
            "{name}: allowed, nothing to say"
        );
    };
    // The subagent call, as Claude Code sent its PreToolUse.
    let mut call = fixture_input("post-tool-use-agent");
    call["hook_event_name"] = "PreToolUse".into();
    call["tool_input"] = json!({"description": "look", "prompt": "SUBTASK say hi",
                                "subagent_type": "general-purpose", "model": "haiku"});
    call.as_object_mut().unwrap().remove("tool_response");
    call["transcript_path"] = real.transcript(SUBAGENT).display().to_string().into();
    real.env.hook(&call);
    for name in [
        "subagent-start",
        "post-tool-use-agent",
        "post-tool-batch",
        "message-display",
        "post-compact",
        "user-prompt-expansion",
        "session-start-compact",
    ] {
        replay(name);
    }
    let db = real.env.db();
    let row = |event: &str| -> (Option<String>, Option<String>) {
        db.query_row(
            "SELECT subject, model FROM events WHERE event = ?1 ORDER BY id DESC LIMIT 1",
            [event],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    // Requested as "haiku"; the Agent call's PostToolUse says it runs on Claude Haiku 5.5.
    assert_eq!(
        row("SubagentStart"),
        (
            Some("general-purpose".into()),
            Some("claude-haiku-5-5".into())
        )
    );
    assert_eq!(
        row("PostToolBatch").0.as_deref(),
        Some("1 tool call: Agent")
    );
    assert_eq!(
        row("PostCompact").0.as_deref(),
        Some("manual: context 18510 → 2614 tokens")
    );
    assert_eq!(
        row("UserPromptExpansion").0.as_deref(),
        Some("/hello world")
    );
    assert_eq!(row("MessageDisplay"), (None, None));
    assert_eq!(
        row("SessionStart"),
        (Some("compact".into()), Some("claude-opus-5-5".into()))
    );
    // `tollgate log` shows them.
    let log = real.env.pipe(&["log", "-n", "20"], b"");
    let text = String::from_utf8_lossy(&log.stdout);
    for shown in [
        "SubagentStart",
        "general-purpose (claude-haiku-5-5)",
        "PostCompact",
        "UserPromptExpansion",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
}
