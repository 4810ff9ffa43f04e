//! End-to-end: what the agent controls, treated as untrusted. Secrets in its tool calls are
//! redacted wherever tollgate keeps or shows them; control characters in recorded names never
//! reach the terminal; the guard denies the calls that would switch tollgate off; and the
//! user's `tollgate pause` lets everything through until it ends.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::{Value, json};

fn tollgate(env: &TestEnv, args: &[&str]) -> Output {
    env.command()
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .args(args)
        .output()
        .unwrap()
}

fn ok_stdout(env: &TestEnv, args: &[&str]) -> String {
    let output = tollgate(env, args);
    assert!(
        output.status.success(),
        "tollgate {args:?}: {}",
        stderr(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn bash(env: &TestEnv, event: &str, command: &str) -> Value {
    let mut input = env.input("pre-tool-use-bash");
    input["hook_event_name"] = event.into();
    input["tool_input"]["command"] = command.into();
    if event == "PostToolUse" {
        input["tool_response"] = json!({"stdout": "ok", "stderr": "", "interrupted": false});
    }
    input
}

/// Every file under `dir`, as bytes.
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_bytes(&path));
        } else {
            files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A policy that warns with a reason quoting a secret, as a policy quoting the command might.
const QUOTING_POLICY: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"decision\":\"warn\",\"reason\":\"saw password=reason-secret-1\"}")
  (func (export "tollgate_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "tollgate_evaluate") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 59))))
"#;

#[test]
fn secrets_never_reach_the_store_the_log_or_the_reports() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("quoting.wat"), QUOTING_POLICY).unwrap();
    env.config(
        "[[policy]]\nname = \"quoting\"\npath = \"quoting.wat\"\nevents = [\"PreToolUse\"]\n",
    );
    let secrets = [
        "pg-pass-4821",
        "ghp_Zx81kLmN0pQrStUvWxYz0123456789",
        "tok-9a8b7c6d",
        "curl-pass-77",
        "mysql-pass-55",
        "sshpass-pass-33",
        "docker-pass-22",
        "bearer-cred-11",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNpZ24",
        "sk_live_51TestKeyAbCdEfGhIjKlMnOp",
        "AIzaSyTestKey-0123456789abcdefghijklm",
        "npm_TestToken0123456789abcdefghijklmnop",
        "SG.TestKey0123456789abcd.TestSecret0123456789abcdefghijklmnopqrstu",
        "gho_OauthTokenAbcdef0123456789",
        "reason-secret-1",
    ];
    let commands = [
        "psql postgres://app:pg-pass-4821@db.internal/app",
        "git clone https://ghp_Zx81kLmN0pQrStUvWxYz0123456789@github.com/o/r",
        "curl 'https://api.example.com/x?access_token=tok-9a8b7c6d'",
        "curl -u admin:curl-pass-77 https://h",
        "mysql -u root -pmysql-pass-55 app",
        "sshpass -p sshpass-pass-33 ssh host",
        "docker login -u me -p docker-pass-22 registry.example.com",
        "curl -H 'Authorization:Bearer bearer-cred-11' https://h",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXNpZ24",
        "stripe get --api-key sk_live_51TestKeyAbCdEfGhIjKlMnOp",
        "echo AIzaSyTestKey-0123456789abcdefghijklm",
        "echo npm_TestToken0123456789abcdefghijklmnop",
        "echo SG.TestKey0123456789abcd.TestSecret0123456789abcdefghijklmnopqrstu",
        "curl -H 'Authorization: token gho_OauthTokenAbcdef0123456789' https://h",
    ];
    for command in commands {
        for event in ["PreToolUse", "PostToolUse"] {
            let output = env.hook(&bash(&env, event, command));
            assert!(output.status.success(), "{}", stderr(&output));
        }
    }
    let mut fetch = env.input("pre-tool-use-bash");
    fetch["tool_name"] = "WebFetch".into();
    fetch["tool_input"] = json!({"url": "https://h/api?token=tok-9a8b7c6d", "prompt": "p"});
    assert!(env.hook(&fetch).status.success());
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE subject LIKE '%[REDACTED]%'"),
        2 * commands.len() as i64 + 1,
        "every subject was recorded, redacted"
    );
    assert!(env.count("SELECT count(*) FROM events WHERE reason LIKE '%password=[REDACTED]%'") > 0);

    let log = ok_stdout(&env, &["log", "--json", "-n", "1000"]);
    let html_file = env.dir.path().join("report.html");
    ok_stdout(
        &env,
        &[
            "report",
            "html",
            "-o",
            html_file.to_str().unwrap(),
            "-z",
            "UTC",
        ],
    );
    let html = std::fs::read_to_string(&html_file).unwrap();
    let reports = [
        ok_stdout(&env, &["log", "-n", "1000"]),
        ok_stdout(&env, &["report", "tools", "--json", "-z", "UTC"]),
        ok_stdout(&env, &["report", "tools", "-z", "UTC"]),
    ];
    assert!(log.contains("[REDACTED]") && html.contains("[REDACTED]"));
    for secret in secrets {
        // The store and anything else tollgate wrote, but the policy and its compiled code.
        for (file, bytes) in all_bytes(&env.home()) {
            if file.ends_with(".wat") || file.ends_with(".cwasm") {
                continue;
            }
            assert!(!contains(&bytes, secret), "{secret} in {file}");
        }
        assert!(!log.contains(secret), "{secret} in log --json");
        assert!(!html.contains(secret), "{secret} in the HTML report");
        for report in &reports {
            assert!(!report.contains(secret), "{secret} in {report}");
        }
    }
}

/// The fixture transcript with one response whose model, session and project names hold
/// terminal escapes.
fn hostile_transcript(env: &TestEnv) -> std::path::PathBuf {
    let line = json!({
        "type": "assistant", "sessionId": SESSION, "cwd": "/home/dev/\u{1b}[2Jproj",
        "isSidechain": false, "uuid": "u-esc", "requestId": "req_esc",
        "timestamp": "2026-11-12T06:00:00Z",
        "message": {"id": "msg_esc", "model": "claude-\u{1b}]0;owned\u{7}opus", "role": "assistant",
                    "usage": {"input_tokens": 10, "output_tokens": 20}}
    });
    let path = env.dir.path().join("hostile.jsonl");
    let mut text = std::fs::read_to_string(env.transcript()).unwrap();
    text.push_str(&format!("{line}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let env = TestEnv::new();
    env.config(
        "default_policies = false\n[[policy]]\nname = \"mine\"\npath = \"/nowhere/\\u001b[31mred.wasm\"\n",
    );
    let transcript = hostile_transcript(&env);
    let mut call = env.input("post-tool-use-read");
    call["transcript_path"] = transcript.display().to_string().into();
    call["tool_name"] = "Read\u{1b}[8m".into();
    call["tool_input"]["file_path"] = "/tmp/\u{1b}[1A\u{1b}[2Kfile.rs".into();
    call["cwd"] = "/home/dev/\u{1b}[2Jproj".into();
    let output = env.hook(&call);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains('\u{1b}'), "{}", stderr(&output));
    let mut bash = env.input("pre-tool-use-bash");
    bash["transcript_path"] = transcript.display().to_string().into();
    bash["tool_input"]["command"] = "echo \u{1b}]0;title\u{7} \u{9b}31m \u{202e}txt.exe".into();
    let output = env.hook(&bash);
    let notes = stderr(&output);
    assert!(
        !notes.contains("internal error") && !notes.contains('\u{1b}'),
        "{notes}"
    );

    let statusline_input = json!({
        "session_id": SESSION, "cwd": "/tmp", "transcript_path": transcript,
        "model": {"id": "claude-opus", "display_name": "Opus\u{1b}[5m\nsecond row"},
    });
    let mut command = env.command();
    command.env("NO_COLOR", "1").arg("statusline");
    let statusline = run_piped(command, statusline_input.to_string().as_bytes());
    let commands: &[&[&str]] = &[
        &["log", "-n", "100"],
        &["report", "daily", "-z", "UTC"],
        &["report", "weekly", "-z", "UTC"],
        &["report", "monthly", "-z", "UTC"],
        &["report", "session", "-z", "UTC"],
        &["report", "models", "-z", "UTC"],
        &["report", "projects", "-z", "UTC"],
        &["report", "blocks", "-z", "UTC"],
        &["report", "tools", "-z", "UTC"],
        &["report", "context", "-s", SESSION, "-z", "UTC"],
        &["status"],
        &["doctor"],
        &["policy", "list"],
    ];
    let mut outputs: Vec<(String, String)> = commands
        .iter()
        .map(|args| {
            let output = tollgate(&env, args);
            (
                args.join(" "),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        })
        .collect();
    outputs.push((
        "statusline".into(),
        String::from_utf8_lossy(&statusline.stdout).into_owned(),
    ));
    for (command, stdout) in &outputs {
        assert!(!stdout.trim().is_empty(), "{command} printed nothing");
        let raw: Vec<char> = stdout
            .chars()
            .filter(|c| (c.is_control() && *c != '\n') || *c == '\u{202e}')
            .collect();
        assert!(raw.is_empty(), "{command} printed {raw:?}:\n{stdout}");
    }
    let shown = |command: &str, text: &str| {
        let (_, stdout) = outputs.iter().find(|(c, _)| c == command).unwrap();
        assert!(
            stdout.contains(text),
            "{command} does not show {text}:\n{stdout}"
        );
    };
    shown("log -n 100", "Read\\x1b[8m");
    // The subject cell wraps at a space when piped: each word is checked on its own.
    shown("log -n 100", "\\x1b]0;title\\x07");
    shown("log -n 100", "\\u{9b}31m \\u{202e}txt.exe");
    shown("report models -z UTC", "claude-\\x1b]0;owned\\x07opus");
    shown("report projects -z UTC", "\\x1b[2Jproj");
    shown("report tools -z UTC", "Read\\x1b[8m");
    shown("status", "Opus\\x1b[5m\\nsecond row");
    shown("doctor", "\\x1b[31mred.wasm");
    shown("policy list", "\\x1b[31mred.wasm");
    shown("statusline", "Opus\\x1b[5m\\nsecond row");
    let (_, line) = outputs.last().unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");

    // JSON stays JSON: the names as recorded, escaped by the JSON encoder.
    let json: Value = serde_json::from_str(&ok_stdout(&env, &["log", "--json"])).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|e| e["tool"] == "Read\u{1b}[8m")
    );
}

fn write(env: &TestEnv, path: &Path) -> Value {
    let mut input = env.input("pre-tool-use-read");
    input["tool_name"] = "Write".into();
    input["tool_input"] = json!({"file_path": path, "content": "guard = false\n"});
    input
}

fn denial(output: &Output) -> Option<String> {
    let answer = stdout_json(output)?;
    let specific = &answer["hookSpecificOutput"];
    match specific["permissionDecision"].as_str() {
        Some("deny") => Some(specific["permissionDecisionReason"].as_str()?.to_owned()),
        _ if specific["decision"]["behavior"] == "deny" => {
            Some(specific["decision"]["message"].as_str()?.to_owned())
        }
        _ => None,
    }
}

#[test]
fn the_guard_denies_the_agent_switching_tollgate_off() {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    let home = env.home();
    let denied = [
        bash(&env, "PreToolUse", "tollgate uninstall"),
        bash(
            &env,
            "PreToolUse",
            "./target/release/tollgate pause --for 2h",
        ),
        bash(&env, "PermissionRequest", "tollgate init --force"),
        bash(
            &env,
            "PreToolUse",
            &format!("echo '{{}}' >> {}", env.transcript().display()),
        ),
        bash(
            &env,
            "PreToolUse",
            &format!("sed -i s/a/b/ {}/config.toml", home.display()),
        ),
        bash(
            &env,
            "PreToolUse",
            &format!("rm {}/tollgate.db", home.display()),
        ),
        bash(
            &env,
            "PreToolUse",
            &format!("sqlite3 {}/tollgate.db 'delete from usage'", home.display()),
        ),
        write(&env, &home.join("config.toml")),
        write(&env, &env.project().join(".claude/tollgate.toml")),
        write(&env, &env.project().join(".claude/settings.local.json")),
    ];
    for input in &denied {
        let output = env.hook(input);
        assert!(output.status.success());
        let reason = denial(&output).unwrap_or_else(|| panic!("allowed: {input}"));
        assert!(reason.contains("tollgate pause --for"), "{reason}");
        assert!(
            reason.starts_with("tollgate: tollgate's guard: this "),
            "{reason}"
        );
    }
    let recorded =
        env.count("SELECT count(*) FROM events WHERE decision = 'deny' AND reason LIKE '%guard%'");
    assert_eq!(recorded, denied.len() as i64);
    assert_eq!(
        env.count("SELECT count(*) FROM policy_runs WHERE policy = 'guard'"),
        denied.len() as i64
    );

    let allowed = [
        bash(
            &env,
            "PreToolUse",
            &format!("cat {}/config.toml", home.display()),
        ),
        bash(&env, "PreToolUse", "tollgate report daily"),
        bash(&env, "PreToolUse", "tollgate status"),
        write(&env, &env.project().join("src/main.rs")),
    ];
    for input in &allowed {
        let output = env.hook(input);
        assert_eq!(denial(&output), None, "{input}");
    }

    // Claude Code's user settings: an edit that keeps tollgate's hooks is fine, one that drops
    // them is not.
    let claude = env.dir.path().join("claude");
    std::fs::create_dir_all(&claude).unwrap();
    let settings = claude.join("settings.json");
    std::fs::write(
        &settings,
        r#"{"permissions": {"allow": []}, "hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/usr/local/bin/tollgate hook"}]}]}}"#,
    )
    .unwrap();
    let hook_with_claude_dir = |input: &Value| {
        let mut command = env.command();
        command.env("CLAUDE_CONFIG_DIR", &claude).arg("hook");
        run_piped(command, input.to_string().as_bytes())
    };
    let mut edit = write(&env, &settings);
    edit["tool_name"] = "Edit".into();
    edit["tool_input"] = json!({"file_path": settings, "old_string": "\"allow\": []",
                               "new_string": "\"allow\": [\"Bash(ls)\"]"});
    assert_eq!(denial(&hook_with_claude_dir(&edit)), None);
    edit["tool_input"]["old_string"] = "{\"permissions\"".into();
    edit["tool_input"]["new_string"] = "{\"disableAllHooks\": true, \"permissions\"".into();
    let reason = denial(&hook_with_claude_dir(&edit)).unwrap();
    assert!(reason.contains("Claude Code's hook settings"), "{reason}");
    let reason = denial(&hook_with_claude_dir(&write(&env, &settings))).unwrap();
    assert!(reason.contains("Claude Code's hook settings"), "{reason}");

    // A project cannot turn the guard off; the user can.
    std::fs::create_dir_all(env.project().join(".claude")).unwrap();
    std::fs::write(
        env.project().join(".claude/tollgate.toml"),
        "guard = false\n",
    )
    .unwrap();
    assert!(denial(&env.hook(&denied[0])).is_some());
    env.config("default_policies = false\nguard = false\n");
    assert_eq!(denial(&env.hook(&denied[0])), None);
}

#[test]
fn a_pause_lets_everything_through_until_it_ends() {
    let env = TestEnv::new();
    env.config(include_str!("../../examples/demo/tollgate.toml"));
    std::fs::create_dir_all(env.project().join("data")).unwrap();
    std::fs::write(
        env.project().join("data/dump.json"),
        "{\"k\": 1}\n".repeat(40_000),
    )
    .unwrap();
    let mut big_read = env.input("pre-tool-use-read");
    big_read["tool_input"]["file_path"] = env
        .project()
        .join("data/dump.json")
        .display()
        .to_string()
        .into();
    let uninstall = bash(&env, "PreToolUse", "tollgate uninstall");
    assert!(denial(&env.hook(&big_read)).is_some(), "the policy denies");
    assert!(denial(&env.hook(&uninstall)).is_some(), "the guard denies");

    for (duration, error) in [
        ("25h", "at most 24h"),
        ("soon", "cannot read the duration"),
        ("0m", "cannot read"),
    ] {
        let output = tollgate(&env, &["pause", "--for", duration]);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(error), "{}", stderr(&output));
    }
    let paused = ok_stdout(&env, &["pause", "--for", "30m"]);
    assert!(paused.starts_with("tollgate is paused until "), "{paused}");
    for input in [&big_read, &uninstall] {
        let output = env.hook(input);
        assert_eq!(stdout_json(&output), None, "answered allow while paused");
    }
    let reasons: Vec<String> = env
        .db()
        .prepare("SELECT reason FROM events WHERE decision = 'paused' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("would have answered deny: "),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].contains("would have answered deny: tollgate's guard"),
        "{}",
        reasons[1]
    );
    assert!(ok_stdout(&env, &["log"]).contains("paused"));
    let status = ok_stdout(&env, &["status"]);
    assert!(status.starts_with("Paused until "), "{status}");
    let status_json: Value = serde_json::from_str(&ok_stdout(&env, &["status", "--json"])).unwrap();
    assert!(status_json["paused_until"].is_string(), "{status_json}");
    let line = env.pipe(
        &["statusline"],
        json!({"session_id": SESSION, "model": {"display_name": "Opus"}})
            .to_string()
            .as_bytes(),
    );
    let line = String::from_utf8(line.stdout).unwrap();
    assert!(line.contains("paused until "), "{line}");
    let doctor = tollgate(&env, &["doctor"]);
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("paused until"));

    // Once its time has passed, the answers are enforced again, by themselves.
    std::fs::write(env.home().join("paused-until"), "2020-01-01T00:00:00Z\n").unwrap();
    assert!(denial(&env.hook(&big_read)).is_some());
    assert!(denial(&env.hook(&uninstall)).is_some());
    assert!(!ok_stdout(&env, &["status"]).contains("Paused"));

    // `resume` ends a pause at once.
    ok_stdout(&env, &["pause", "--for", "1h"]);
    assert_eq!(stdout_json(&env.hook(&uninstall)), None);
    assert!(ok_stdout(&env, &["resume"]).contains("no longer paused"));
    assert!(denial(&env.hook(&uninstall)).is_some());
    assert!(ok_stdout(&env, &["resume"]).contains("was not paused"));
}
