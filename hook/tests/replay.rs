//! `tollgate policy replay` end to end: events recorded by the real hook with a policy
//! enforced, then replayed over the store.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{SESSION, TestEnv, fixtures, stderr};
use serde_json::{Value, json};

/// Appends one assistant response of `tokens` (mostly cache reads) to `transcript`, dated now.
fn respond(transcript: &std::path::Path, n: usize, tokens: u64) {
    let line = json!({
        "type": "assistant", "isSidechain": false, "sessionId": SESSION, "cwd": "/p",
        "uuid": format!("u{n}"), "requestId": format!("req_{n}"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "message": {"id": format!("msg_{n}"), "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "ok"}],
            "usage": {"input_tokens": 10, "output_tokens": 90, "cache_read_input_tokens": tokens - 100,
                      "cache_creation_input_tokens": 0}}
    });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(transcript)
        .unwrap();
    writeln!(file, "{line}").unwrap();
}

fn replay(env: &TestEnv, args: &[&str]) -> Value {
    let mut all = vec!["policy", "replay"];
    all.extend_from_slice(args);
    all.push("--json");
    let output = env.pipe(&all, b"");
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// A session growing past its token budget, recorded by the hook with `budget` enforced:
/// replayed, the budget answers every event as the hook did, each with the session's tokens
/// as they were then (not today's, which are past the limit).
#[test]
fn a_replay_of_the_enforced_budget_decides_as_the_hook_did() {
    let env = TestEnv::new();
    env.config(
        "[[policy]]\nname = \"budget\"\nenforce = true\n[policy.config]\n\
         session_tokens = 100000\nwarn_at = 0.5\nat_limit = \"deny\"\n",
    );
    let transcript = env.dir.path().join("live.jsonl");
    std::fs::write(&transcript, "").unwrap();
    for n in 0..10 {
        respond(&transcript, n, 15_000);
        std::thread::sleep(Duration::from_millis(5));
        for fixture in [
            "pre-tool-use-bash",
            "user-prompt-submit",
            "post-tool-use-read",
        ] {
            let mut input = env.input(fixture);
            input["transcript_path"] = transcript.display().to_string().into();
            input["tool_use_id"] = format!("toolu_{n}").into();
            let output = env.hook(&input);
            assert!(output.status.success(), "{}", stderr(&output));
        }
    }
    let recorded: Vec<String> = env
        .db()
        .prepare("SELECT decision FROM events ORDER BY ts_ms, id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for decision in ["allow", "warn", "deny"] {
        assert!(
            recorded.iter().any(|d| d == decision),
            "the hook answered {decision} at some point: {recorded:?}"
        );
    }
    // What the hook recorded: the input as policies read it, without the transcript path.
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE input IS NULL OR input LIKE '%live.jsonl%'"),
        0
    );

    let replayed = replay(&env, &["budget", "--since", "1h"]);
    assert_eq!(replayed["events"], recorded.len(), "{replayed:#}");
    assert_eq!(replayed["rebuilt_inputs"], 0);
    assert_eq!(replayed["errors"], 0);
    assert_eq!(replayed["decided_differently"], 0, "{replayed:#}");
    let count = |d: &str| recorded.iter().filter(|r| *r == d).count();
    for decision in ["allow", "warn", "deny"] {
        assert_eq!(
            replayed["decisions"][decision].as_u64().unwrap_or(0) as usize,
            count(decision),
            "{decision}: {replayed:#}"
        );
    }
    let answered = replayed["answered"].as_array().unwrap();
    assert_eq!(answered.len(), count("warn") + count("deny"));
    assert!(
        answered
            .iter()
            .all(|a| a["decision"] == a["recorded"] && a["reason"].is_string()),
        "{replayed:#}"
    );

    // Other settings: a what-if on the same events, decided differently.
    let looser = env.dir.path().join("looser.toml");
    std::fs::write(&looser, "session_tokens = 10000000\n").unwrap();
    let what_if = replay(&env, &["budget", "--config", looser.to_str().unwrap()]);
    assert_eq!(what_if["decisions"]["allow"], recorded.len());
    assert_eq!(
        what_if["decided_differently"],
        count("warn") + count("deny"),
        "{what_if:#}"
    );
    // The replays wrote nothing: the policy's state is the hook's own.
    assert_eq!(
        env.count("SELECT count(*) FROM policy_state WHERE policy = 'budget'"),
        1
    );
}

/// A policy that traps on every event is reported per event, and the replay goes on; events
/// recorded before the input was kept are replayed with one rebuilt from their columns.
#[test]
fn a_failing_policy_is_reported_per_event() {
    let env = TestEnv::new();
    env.config("[[policy]]\nname = \"budget\"\n");
    for fixture in [
        "pre-tool-use-bash",
        "user-prompt-submit",
        "pre-tool-use-read",
    ] {
        let output = env.hook(&env.input(fixture));
        assert!(output.status.success(), "{}", stderr(&output));
    }
    env.db()
        .execute(
            "UPDATE events SET input = NULL WHERE event = 'UserPromptSubmit'",
            [],
        )
        .unwrap();
    let trap = fixtures().join("policies/trap.wat");
    let replayed = replay(&env, &[trap.to_str().unwrap()]);
    assert_eq!(replayed["events"], 3, "{replayed:#}");
    assert_eq!(replayed["errors"], 3);
    assert_eq!(replayed["rebuilt_inputs"], 1);
    let first = replayed["first_errors"][0].as_str().unwrap();
    assert!(
        first.contains("policy \"trap\"") && first.contains("trap"),
        "{first}"
    );
    assert_eq!(replayed["decisions"]["allow"], 3, "on_error allow");

    let table = env.pipe(&["policy", "replay", trap.to_str().unwrap()], b"");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("The policy failed on 3 events"), "{text}");
    assert!(text.contains("1 event recorded before"), "{text}");
}

/// A range without events says so, and succeeds; a policy that is neither a built-in nor a
/// file is refused with what to name instead.
#[test]
fn a_range_without_events_says_so() {
    let env = TestEnv::new();
    let output = env.pipe(&["policy", "replay", "budget", "--since", "1h"], b"");
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("No events since ") && text.contains("nothing to replay"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);
    // With --json, stdout is the JSON document; the message goes to stderr.
    let output = env.pipe(
        &["policy", "replay", "budget", "--since", "1h", "--json"],
        b"",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["events"], 0);
    assert!(stderr(&output).contains("nothing to replay"));
    let output = env.pipe(&["policy", "replay", "budgte"], b"");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("name budget, context-guard or model-router"),
        "{}",
        stderr(&output)
    );
}
