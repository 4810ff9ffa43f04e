//! End-to-end: the real `tollgate` binary on real-shaped hook input (`fixtures/hook-input`,
//! copied from Claude Code's documented shapes) and a real-shaped transcript.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const EVENTS: &[&str] = &[
    "session-start",
    "user-prompt-submit",
    "pre-tool-use-bash",
    "pre-tool-use-read",
    "pre-tool-use-agent",
    "permission-request",
    "post-tool-use-read",
    "post-tool-use-agent",
    "post-tool-use-failure",
    "notification",
    "pre-compact",
    "subagent-stop",
    "stop",
    "session-end",
    "unknown-event",
];

#[test]
fn every_event_is_recorded_and_answered() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    for (n, fixture) in EVENTS.iter().enumerate() {
        let input = env.input(fixture);
        let output = env.hook(&input);
        assert!(output.status.success(), "{fixture}: {}", stderr(&output));
        assert_eq!(
            stdout_json(&output),
            None,
            "{fixture}: allow prints nothing"
        );
        assert_eq!(stderr(&output), "", "{fixture}");
        let (event, decision): (String, String) = env
            .db()
            .query_row(
                "SELECT event, decision FROM events ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            event,
            input["hook_event_name"].as_str().unwrap(),
            "{fixture}"
        );
        assert_eq!(decision, "allow");
        assert_eq!(env.count("SELECT count(*) FROM events"), n as i64 + 1);
    }
    let (tool, subject, bytes): (String, String, i64) = env
        .db()
        .query_row(
            "SELECT tool_name, subject, response_bytes FROM events WHERE event = 'PostToolUse' AND tool_name = 'Read'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (tool.as_str(), subject.as_str()),
        ("Read", "/home/user/my-project/src/lib.rs")
    );
    assert!(bytes > 0);
}

#[test]
fn the_transcript_is_ingested_once_with_subagents() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    env.hook(&env.input("session-start"));
    // 12 distinct responses: 8 main-chain (Opus) and 4 in two subagent transcripts (Haiku).
    assert_eq!(env.count("SELECT count(*) FROM usage"), 12);
    assert_eq!(
        env.count("SELECT count(*) FROM usage WHERE sidechain = 1"),
        4
    );
    let output_tokens = env.count("SELECT sum(output_tokens) FROM usage");
    assert_eq!(
        output_tokens,
        1696 + 1834 + 751 + 173 + 498 + 1197 + 678 + 1609 + 1657 + 321 + 761 + 1327
    );
    env.hook(&env.input("stop"));
    assert_eq!(
        env.count("SELECT count(*) FROM usage"),
        12,
        "nothing counted twice"
    );
    // Context: the latest main-chain response's prompt.
    let context = env.count(&format!(
        "SELECT context_tokens FROM sessions WHERE session_id = '{SESSION}'"
    ));
    assert!(context > 10_000, "{context}");
}

/// A 40 MB line (no real response is that long: the output limit is ~0.5 MB) is skipped in
/// bounded steps, one per call, and reported once; the lines after it are counted, and every
/// call on the way runs its policies.
#[test]
fn a_huge_transcript_line_is_skipped_in_bounded_steps_and_the_rest_counted() {
    let env = TestEnv::new();
    let transcript = std::fs::read_to_string(env.transcript()).unwrap();
    let response: Value = transcript
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "assistant")
        .unwrap();
    let mut appended = String::new();
    for (i, size) in [40_000_000, 10, 10].into_iter().enumerate() {
        let mut line = response.clone();
        line["message"]["id"] = format!("msg_big_{i}").into();
        line["requestId"] = format!("req_big_{i}").into();
        line["message"]["content"][0]["text"] = "x".repeat(size).into();
        appended.push_str(&line.to_string());
        appended.push('\n');
    }
    std::fs::write(env.transcript(), transcript + &appended).unwrap();
    let mut calls = 0;
    let mut messages = String::new();
    loop {
        let output = env.hook(&env.input("pre-tool-use-bash"));
        assert!(output.status.success());
        messages.push_str(&stderr(&output));
        calls += 1;
        if env.count("SELECT count(*) FROM usage WHERE message_id LIKE 'msg_big_%'") == 2 {
            break;
        }
        assert!(calls < 8, "8 MiB a call: {messages}");
    }
    assert!(calls >= 5, "{calls} calls");
    assert_eq!(
        env.count("SELECT count(*) FROM usage WHERE message_id = 'msg_big_0'"),
        0
    );
    assert_eq!(messages.lines().count(), 1, "{messages}");
    assert!(
        messages.contains("longer than 4 MiB, skipped"),
        "{messages}"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM policy_runs WHERE error IS NULL"),
        2 * calls
    );
    let offset = env.count("SELECT max(offset) FROM transcripts");
    assert_eq!(
        offset as u64,
        std::fs::metadata(env.transcript()).unwrap().len()
    );
}

#[test]
fn bad_input_fails_open_with_a_clear_message() {
    let env = TestEnv::new();
    for (stdin, expected) in [
        (&b""[..], "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (b"{\"session_id\": \"x\"}", "hook_event_name"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ] {
        let output = env.hook_raw(stdin);
        assert!(output.status.success());
        assert_eq!(stdout_json(&output), None);
        let message = stderr(&output);
        assert!(
            message.starts_with("tollgate: ") && message.contains(expected),
            "{message}"
        );
        assert!(message.contains("answering allow"), "{message}");
    }
}

#[test]
fn wrong_types_huge_strings_and_deep_nesting_are_survived() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    let mut input = env.input("pre-tool-use-bash");
    input["session_id"] = Value::from(42);
    input["tool_name"] = Value::from(vec![1, 2]);
    input["tool_input"]["command"] = Value::String("x".repeat(5_000_000));
    let output = env.hook(&input);
    assert!(output.status.success(), "{}", stderr(&output));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let text = format!(r#"{{"hook_event_name":"PreToolUse","tool_input":{deep}}}"#);
    let output = env.hook_raw(text.as_bytes());
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("not valid JSON"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_transcript_is_not_an_error() {
    let env = TestEnv::new();
    let mut input = env.input("pre-tool-use-bash");
    input["transcript_path"] = Value::String("/nonexistent/x.jsonl".into());
    let output = env.hook(&input);
    assert!(output.status.success());
    assert_eq!(env.count("SELECT count(*) FROM events"), 1);
}

#[test]
fn a_corrupt_store_is_moved_aside_and_replaced() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("tollgate.db"), vec![7u8; 4096]).unwrap();
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("damaged") && message.contains("started a new store"),
        "{message}"
    );
    assert_eq!(env.count("SELECT count(*) FROM events"), 1);
    let aside = std::fs::read_dir(env.home())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
}

/// Runs `script` (sh) in a private user + mount namespace with `$MNT` a fresh 512 KiB tmpfs
/// and `$TOLLGATE` the binary: real read-only and full filesystems, without root.
#[cfg(target_os = "linux")]
fn in_namespace(env: &TestEnv, script: &str, input: &Value) -> Output {
    let mount = env.dir.path().join("mnt");
    std::fs::create_dir_all(&mount).unwrap();
    let script = format!("set -e\nmount -t tmpfs -o size=512k tmpfs \"$MNT\"\n{script}");
    let mut child = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .env("MNT", &mount)
        .env("TOLLGATE", assert_cmd::cargo::cargo_bin("tollgate"))
        .env("TOLLGATE_HOME", mount.join("home"))
        .env("INPUT", input.to_string())
        .env_remove("CLAUDE_PROJECT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs these tests in a private mount namespace");
    let output = wait(child_take(&mut child), Duration::from_secs(30));
    assert!(
        output.status.success(),
        "namespace script failed: {}",
        stderr(&output)
    );
    output
}

#[cfg(target_os = "linux")]
fn child_take(child: &mut std::process::Child) -> std::process::Child {
    std::mem::replace(child, Command::new("true").spawn().unwrap())
}

#[cfg(target_os = "linux")]
#[test]
fn a_read_only_store_fails_open() {
    let env = TestEnv::new();
    let output = in_namespace(
        &env,
        r#"printf '%s' "$INPUT" | "$TOLLGATE" hook
mount -o remount,ro "$MNT"
printf '%s' "$INPUT" | "$TOLLGATE" hook > "$TMPDIR_OUT" 2>&1 || exit 9
"#
        .replace("$TMPDIR_OUT", "/dev/stderr")
        .as_str(),
        &env.input("pre-tool-use-bash"),
    );
    let message = stderr(&output);
    assert!(message.contains("read-only"), "{message}");
    assert!(message.contains("answering allow"), "{message}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "",
        "allow prints nothing"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_fails_open_and_keeps_what_was_written() {
    let env = TestEnv::new();
    let input = env.input("pre-tool-use-bash");
    let output = in_namespace(
        &env,
        r#"printf '%s' "$INPUT" | "$TOLLGATE" hook
head -c 4M /dev/zero > "$MNT/fill" 2>/dev/null || true
i=0; while [ $i -lt 5 ]; do printf '%s' "$INPUT" | "$TOLLGATE" hook || exit 9; i=$((i+1)); done
rm "$MNT/fill"
"$TOLLGATE" log --json --store "$MNT/home/tollgate.db" > "$MNT/log.json"
echo "events: $(grep -c '"event"' "$MNT/log.json")"
"#,
        &input,
    );
    let message = stderr(&output);
    assert!(
        message.contains("is full") && message.contains("answering allow"),
        "{message}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let events: i64 = stdout
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap_or(-1);
    assert!(
        events >= 1,
        "the record written before the disk filled is still there: {stdout}"
    );
}

/// Another process holds the store's write lock past the call's wait: the call still answers
/// with its policies (reads need no lock), its record waits in the spool, and the next call
/// that gets the lock writes it.
#[test]
fn a_locked_store_still_enforces_and_loses_no_record() {
    let env = TestEnv::new();
    env.config(include_str!("../../examples/demo/tollgate.toml"));
    env.hook(&env.input("session-start"));
    let mut read = read_of_a_large_file(&env);
    read["tool_use_id"] = Value::String("toolu_locked".into());

    let lock = env.db();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let output = env.hook(&read);
    let spool = env.home().join("tollgate.db-spool");
    let waiting = std::fs::read_dir(&spool).unwrap().count();
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(output.status.success());
    let answer = stdout_json(&output).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
    let message = stderr(&output);
    assert!(
        message.contains("stayed locked by another process")
            && message.contains("waits in")
            && message.lines().count() == 1,
        "{message}"
    );
    assert_eq!(waiting, 1);
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE tool_use_id = 'toolu_locked'"),
        0
    );

    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert_eq!(stderr(&output), "");
    assert_eq!(
        env.count(
            "SELECT count(*) FROM events WHERE tool_use_id = 'toolu_locked' AND decision = 'deny'"
        ),
        1
    );
    assert_eq!(
        env.count(
            "SELECT count(*) FROM policy_runs r JOIN events e ON e.id = r.event_id
             WHERE e.tool_use_id = 'toolu_locked' AND r.policy = 'context-guard' AND r.decision = 'deny'"
        ),
        1
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE decision IS NULL"),
        0
    );
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0);
}

#[test]
fn a_broken_config_fails_open_and_says_so() {
    let env = TestEnv::new();
    env.config("[[policy]]\nname = \"budget\"\nlimits = { time_ms = \"soon\" }\n");
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("invalid config") && message.contains("config.toml"),
        "{message}"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events"),
        1,
        "still recorded"
    );
}

#[test]
fn concurrent_hooks_lose_nothing() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    env.hook(&env.input("session-start")); // create the store first, as a session does
    let children: Vec<_> = (0..32)
        .map(|i| {
            let mut input = env.input("pre-tool-use-bash");
            input["tool_use_id"] = Value::String(format!("toolu_{i:03}"));
            spawn_piped(env.command().arg("hook"), input.to_string().as_bytes())
        })
        .collect();
    for child in children {
        let output = wait(child, Duration::from_secs(60));
        assert!(output.status.success());
        assert_eq!(stderr(&output), "");
    }
    assert_eq!(
        env.count(
            "SELECT count(DISTINCT tool_use_id) FROM events WHERE tool_use_id LIKE 'toolu_0%'"
        ),
        32
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE event = 'PreToolUse'"),
        32
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE decision IS NULL"),
        0,
        "every call answered"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM usage"),
        12,
        "the transcript counted once"
    );
}

#[test]
fn log_shows_events_newest_last() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    for fixture in ["session-start", "pre-tool-use-bash", "stop"] {
        env.hook(&env.input(fixture));
    }
    let output = env.command().args(["log", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let events: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SessionStart", "PreToolUse", "Stop"]);
    let limited = env
        .command()
        .args(["log", "--json", "-n", "1", "--session", &SESSION[..8]])
        .output()
        .unwrap();
    let events: Value = serde_json::from_slice(&limited.stdout).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["event"], "Stop");
    let table = env.command().arg("log").output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("PreToolUse") && text.contains("npm test"),
        "{text}"
    );
}

/// The built-in policies, enforcing, through the real binary: Claude Code's answers.
#[test]
fn policies_answer_in_claude_codes_protocol() {
    policies_answer_with_builtins("native");
}

/// The same calls with the built-ins in the sandbox: the same answers and records.
#[test]
fn policies_in_the_sandbox_answer_the_same() {
    policies_answer_with_builtins("wasm");
}

/// A `Read` without a range of a ~360 KB file (~90k tokens), which the demo config's
/// context-guard denies.
fn read_of_a_large_file(env: &TestEnv) -> Value {
    std::fs::create_dir_all(env.project().join("data")).unwrap();
    std::fs::write(
        env.project().join("data/dump.json"),
        "{\"k\": 1}\n".repeat(40_000),
    )
    .unwrap();
    let mut read = env.input("pre-tool-use-read");
    read["tool_input"]["file_path"] =
        Value::String(env.project().join("data/dump.json").display().to_string());
    read
}

fn policies_answer_with_builtins(builtins: &str) {
    let env = TestEnv::new();
    env.config(&format!(
        "builtins = \"{builtins}\"\n{}",
        include_str!("../../examples/demo/tollgate.toml")
    ));
    let read = read_of_a_large_file(&env);
    let output = env.hook(&read);
    assert_eq!(stderr(&output), "");
    let answer = stdout_json(&output).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("offset and limit"), "{reason}");

    let output = env.hook(&env.input("pre-tool-use-agent"));
    let answer = stdout_json(&output).unwrap();
    insta::assert_json_snapshot!("downgrade_answer", answer["hookSpecificOutput"]);

    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert_eq!(
        stdout_json(&output),
        None,
        "an ordinary call under budget is allowed silently"
    );

    let decisions: Vec<(String, String)> = env
        .db()
        .prepare("SELECT e.event || ':' || coalesce(e.tool_name, ''), e.decision FROM events e ORDER BY e.id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        decisions,
        [
            ("PreToolUse:Read".to_owned(), "deny".to_owned()),
            ("PreToolUse:Agent".to_owned(), "downgrade".to_owned()),
            ("PreToolUse:Bash".to_owned(), "allow".to_owned()),
        ]
    );
    assert_eq!(
        env.count("SELECT count(*) FROM policy_runs"),
        7,
        "budget and context-guard on three calls, model-router on the Agent call"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE model_requested = 'haiku'"),
        1
    );
    // Natively, wasmtime never ran: nothing was compiled into the module cache.
    let compiled = std::fs::read_dir(env.home().join("cache"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|f| f.path().extension().is_some_and(|e| e == "cwasm"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(compiled, usize::from(builtins == "wasm"), "{builtins}");
}

/// With no config at all, the built-ins run warn-only: nothing is ever blocked.
#[test]
fn without_config_nothing_is_blocked() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.project().join("data")).unwrap();
    std::fs::write(env.project().join("data/dump.json"), "x".repeat(400_000)).unwrap();
    let mut read = env.input("pre-tool-use-read");
    read["tool_input"]["file_path"] =
        Value::String(env.project().join("data/dump.json").display().to_string());
    let answer = stdout_json(&env.hook(&read)).unwrap();
    assert!(
        answer["hookSpecificOutput"]
            .get("permissionDecision")
            .is_none(),
        "{answer}"
    );
    let message = answer["systemMessage"].as_str().unwrap();
    assert!(message.contains("warn-only: would deny"), "{message}");
}

/// A hostile policy in the config: the hook answers in time, names it, records the error.
#[test]
fn a_hostile_policy_cannot_break_the_hook() {
    let env = TestEnv::new();
    let fixture = |name: &str| fixtures().join(name).display().to_string();
    env.config(&format!(
        "[[policy]]\nname = \"spin\"\npath = {:?}\nlimits = {{ time_ms = 40 }}\n\
         [[policy]]\nname = \"trap\"\npath = {:?}\non_error = \"ask\"\n",
        fixture("hostile/loop.wat"),
        fixture("policies/trap.wat")
    ));
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("policy \"spin\" ran longer than its 40 ms limit"),
        "{message}"
    );
    assert!(message.contains("policy \"trap\" trapped"), "{message}");
    let answer = stdout_json(&output).unwrap();
    assert_eq!(
        answer["hookSpecificOutput"]["permissionDecision"], "ask",
        "trap's on_error"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM policy_runs WHERE error IS NOT NULL"),
        2
    );
}

/// A project's `.claude/tollgate.toml` applies only once trusted, as it is: untrusted or
/// changed since, it is ignored, in one line that says how to trust it.
#[test]
fn a_project_config_applies_only_once_trusted_as_it_is() {
    let env = TestEnv::new();
    let dot_claude = env.project().join(".claude");
    std::fs::create_dir_all(&dot_claude).unwrap();
    std::fs::copy(
        fixtures().join("policies/ok.wat"),
        dot_claude.join("ok.wat"),
    )
    .unwrap();
    let file = dot_claude.join("tollgate.toml");
    std::fs::write(&file, "[[policy]]\nname = \"mine\"\npath = \"ok.wat\"\n").unwrap();
    let dir = std::fs::canonicalize(env.project()).unwrap();
    let says_hello =
        |output: &Output| String::from_utf8_lossy(&output.stdout).contains("hello from WAT");

    let output = env.hook(&env.input("pre-tool-use-bash"));
    let message = stderr(&output);
    assert!(!says_hello(&output));
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.contains("is not trusted")
            && message.contains(&format!("tollgate trust {}", dir.display())),
        "{message}"
    );

    let trusted = env.pipe(&["trust", &dir.display().to_string()], b"");
    assert!(trusted.status.success(), "{}", stderr(&trusted));
    let said = String::from_utf8_lossy(&trusted.stdout);
    assert!(
        said.contains("trusted ") && said.contains("policy mine"),
        "{said}"
    );
    assert!(env.home().join("trusted.toml").exists());
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert_eq!(stderr(&output), "");
    assert!(says_hello(&output));

    std::fs::write(
        &file,
        "[[policy]]\nname = \"mine\"\npath = \"ok.wat\"\n# edited\n",
    )
    .unwrap();
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(!says_hello(&output));
    assert!(
        stderr(&output).contains("changed since you trusted it"),
        "{}",
        stderr(&output)
    );
    let listed = env.pipe(&["trust", "--list", "--json"], b"");
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["state"], "changed");

    assert!(
        env.pipe(&["trust", &dir.display().to_string()], b"")
            .status
            .success()
    );
    assert!(says_hello(&env.hook(&env.input("pre-tool-use-bash"))));
    assert!(
        env.pipe(&["trust", "--revoke", &dir.display().to_string()], b"")
            .status
            .success()
    );
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(!says_hello(&output));
    assert!(stderr(&output).contains("is not trusted"));
}

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

/// Files that are not regular files, wherever tollgate reads one (your config, a trusted
/// project's policy, the transcript): refused at once, one line each, and the call answers
/// and records. Before, a FIFO blocked the hook forever and `/dev/zero` was read until memory
/// ran out.
#[cfg(unix)]
#[test]
fn fifos_and_devices_never_hang_the_hook() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.home()).unwrap();
    let config = env.home().join("config.toml");
    std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("is a character device, not a regular file")
            && message.lines().count() == 1,
        "{message}"
    );
    std::fs::remove_file(&config).unwrap();
    mkfifo(&config);
    let message = stderr(&env.hook(&env.input("pre-tool-use-bash")));
    assert!(message.contains("is a FIFO"), "{message}");
    std::fs::remove_file(&config).unwrap();

    // A trusted project whose policy is a FIFO: that policy fails (its `on_error`), the call
    // answers.
    let dot_claude = env.project().join(".claude");
    std::fs::create_dir_all(&dot_claude).unwrap();
    mkfifo(&dot_claude.join("mine.wasm"));
    std::fs::write(
        dot_claude.join("tollgate.toml"),
        "[[policy]]\nname = \"mine\"\npath = \"mine.wasm\"\n",
    )
    .unwrap();
    assert!(
        env.pipe(&["trust", &env.project().display().to_string()], b"")
            .status
            .success()
    );
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("mine.wasm is a FIFO") && message.contains("on_error"),
        "{message}"
    );

    // The transcript a FIFO.
    let transcript = env.dir.path().join("fifo.jsonl");
    mkfifo(&transcript);
    let mut input = env.input("pre-tool-use-bash");
    input["transcript_path"] = Value::String(transcript.display().to_string());
    input["tool_use_id"] = Value::String("toolu_fifo".into());
    let output = env.hook(&input);
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("fifo.jsonl is a FIFO"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        env.count(
            "SELECT count(*) FROM events WHERE tool_use_id = 'toolu_fifo' AND decision IS NOT NULL"
        ),
        1
    );
}

/// Input that never ends (stdin left open): answered at the stdin bound, not waited on.
#[test]
fn stdin_that_never_ends_is_answered_at_its_bound() {
    let env = TestEnv::new();
    let mut child = env
        .command()
        .arg("hook")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"{\"hook_event_name\": \"PreToolUse\", ").unwrap();
    let output = wait(child, Duration::from_secs(30));
    drop(stdin);
    assert!(output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("no end of input within 2000 ms") && message.contains("answering allow"),
        "{message}"
    );
    assert_eq!(stdout_json(&output), None);
}

/// A store whose figures cannot be read (a REAL where a count belongs) fails every call per
/// `on_internal_error`: with "deny", the call is denied, not silently allowed. `doctor` says so.
#[test]
fn a_store_that_cannot_be_read_fails_closed_when_asked_and_doctor_says_so() {
    let env = TestEnv::new();
    env.config("on_internal_error = \"deny\"\n");
    env.hook(&env.input("session-start"));
    env.db()
        .execute_batch(
            "UPDATE usage_rollup SET input_tokens = 1e19; UPDATE usage_hourly SET input_tokens = 1e19;
             UPDATE usage_daily SET input_tokens = 1e19",
        )
        .unwrap();
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    let answer = stdout_json(&output).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(
        stderr(&output).contains("answering deny"),
        "{}",
        stderr(&output)
    );
    let doctor = env.pipe(
        &[
            "doctor",
            "--json",
            "--project",
            &env.project().display().to_string(),
        ],
        b"",
    );
    let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let store_fail = report["checks"].as_array().unwrap().iter().any(|c| {
        c["area"] == "store"
            && c["status"] == "fail"
            && c["summary"].as_str().unwrap().contains("out of range")
    });
    assert!(store_fail, "{report:#}");
}

/// Another process holding the session's transcript locked (the advisory lock calls of one
/// session take in turn) for as long as it likes: a call waits a moment, then reads and counts
/// the usage anyway. A lock must not keep usage from being counted.
#[cfg(unix)]
#[test]
fn a_transcript_held_locked_by_another_process_is_still_counted() {
    use std::os::fd::AsRawFd;
    let env = TestEnv::new();
    let file = std::fs::File::open(env.transcript()).unwrap();
    // SAFETY: a valid open file descriptor.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    assert_eq!(env.count("SELECT count(*) FROM usage"), 12);
    drop(file);
}

/// Run by hand on a terminal, `tollgate hook` says at once what it is for instead of waiting
/// silently for input (the terminal is a pseudo-terminal from util-linux's `script`).
#[test]
fn on_a_terminal_the_hook_says_how_to_use_it() {
    let exe = assert_cmd::cargo::cargo_bin("tollgate");
    let child = Command::new("script")
        .args(["-qec", &format!("'{}' hook", exe.display()), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    // The pipe to `script` stays open: were the hook waiting for input, it would hang.
    let output = wait(child, Duration::from_secs(10));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("tollgate install"), "{shown}");
    assert_eq!(output.status.code(), Some(1), "{shown}");
}

/// A typo in a built-in's config (`blok_usd` for `block_usd`), natively and in the sandbox:
/// `policy list` and `doctor` name the key and the one meant, the hook answers the policy's
/// on_error on every call and records why, and `log`, `status` and the status line show it.
#[test]
fn a_typo_in_a_policy_config_shows_where_the_user_looks() {
    let hint = "unknown key `blok_usd` (did you mean `block_usd`?)";
    for builtins in ["native", "wasm"] {
        let env = TestEnv::new();
        env.config(&format!(
            "builtins = \"{builtins}\"\n[[policy]]\nname = \"budget\"\non_error = \"ask\"\n\
             [policy.config]\nblok_usd = 20.0\n"
        ));
        let run = |args: &[&str]| {
            env.command()
                .args(args)
                .current_dir(env.project())
                .env("CLAUDE_CONFIG_DIR", env.dir.path().join("claude"))
                .env("NO_COLOR", "1")
                .output()
                .unwrap()
        };

        let list = run(&["policy", "list", "--json"]);
        assert!(
            !list.status.success(),
            "{builtins}: a failing policy fails the list"
        );
        let rows: Value = serde_json::from_slice(&list.stdout).unwrap();
        assert_eq!(rows[0]["config_checked_by"], "policy", "{builtins}");
        assert!(
            rows[0]["config_errors"][0]
                .as_str()
                .unwrap()
                .ends_with(hint),
            "{builtins}: {rows}"
        );

        let doctor = run(&[
            "doctor",
            "--json",
            "--project",
            &env.project().display().to_string(),
        ]);
        let report: Value = serde_json::from_slice(&doctor.stdout).unwrap();
        let check = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["area"] == "policy")
            .unwrap();
        assert_eq!(check["status"], "fail", "{builtins}: {check}");
        let summary = check["summary"].as_str().unwrap();
        assert!(
            summary.contains(hint) && summary.contains("on_error (ask) on every call"),
            "{builtins}: {summary}"
        );

        // Every call, not only those the budget acts on: here a PostToolUse.
        for fixture in ["pre-tool-use-bash", "post-tool-use-read"] {
            let output = env.hook(&env.input(fixture));
            let message = stderr(&output);
            assert_eq!(
                message.lines().count(),
                1,
                "{builtins} {fixture}: {message}"
            );
            assert!(
                message.contains(hint) && message.contains("answered ask (on_error)"),
                "{builtins} {fixture}: {message}"
            );
        }
        assert_eq!(
            env.count("SELECT count(*) FROM policy_runs WHERE error LIKE '%blok_usd%'"),
            2
        );

        let log = String::from_utf8(run(&["log"]).stdout).unwrap();
        assert!(log.contains("did you mean"), "{builtins}: {log}");
        let status: Value = serde_json::from_slice(&run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(
            status["failing_policies"][0]["policy"], "budget",
            "{status}"
        );
        let text = String::from_utf8(run(&["status"]).stdout).unwrap();
        assert!(text.contains("Failing policies"), "{text}");
        let mut statusline = env.command();
        statusline.arg("statusline").env("NO_COLOR", "1");
        let input = serde_json::json!({"session_id": SESSION, "cwd": env.project()});
        let line = run_piped(statusline, input.to_string().as_bytes()).stdout;
        let line = String::from_utf8(line).unwrap();
        assert!(
            line.trim_end().ends_with("⚠ budget failing"),
            "{builtins}: {line}"
        );
    }
}

/// The README's first command: the demo replays the bundled session through the hook and
/// reports what it answered and the real usage it read.
#[test]
fn the_demo_replays_the_bundled_session() {
    let env = TestEnv::new();
    let output = env.command().args(["demo", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let timeline = report["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 53);
    let count = |decision: &str| {
        timeline
            .iter()
            .filter(|s| s["decision"] == decision)
            .count()
    };
    assert_eq!(
        [
            count("allow"),
            count("warn"),
            count("downgrade"),
            count("deny")
        ],
        [31, 1, 1, 20]
    );
    let opus = &report["models"][1];
    assert_eq!(opus["model"], "claude-opus-4-5-20251101");
    assert_eq!(
        (opus["messages"].as_i64(), opus["output"].as_i64()),
        (Some(25), Some(28050))
    );
    assert_eq!(report["context"].as_array().unwrap().len(), 25);
}
