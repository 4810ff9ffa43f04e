//! End-to-end: `tollgate statusline` recording what Claude Code reports, policies acting on
//! the plan's real windows, verified subagent downgrades, and `tollgate status`.

mod common;

use std::process::Output;

use common::*;
use serde_json::{Value, json};

/// 2026-11-12T07:30:00Z: three minutes after the fixture transcript's last response.
const NOW: &str = "2026-11-12T07:30:00Z";
const NOW_MS: i64 = 1_794_468_600_000;
const HOUR_MS: i64 = 3_600_000;
/// A policy time limit no loaded test machine reaches (the default 50 ms can be).
const GENEROUS: &str = "limits = { time_ms = 5000 }\n";

/// The documented status-line input, for this environment's session and project.
fn statusline_input(env: &TestEnv) -> Value {
    let text = std::fs::read_to_string(fixtures().join("statusline-input.json")).unwrap();
    let mut input: Value = serde_json::from_str(&text).unwrap();
    input["session_id"] = SESSION.into();
    input["cwd"] = env.project().display().to_string().into();
    input["workspace"]["project_dir"] = input["cwd"].clone();
    input["transcript_path"] = env.transcript().display().to_string().into();
    input
}

/// The plan windows as Claude Code reports them: `five_hour` at `percent`, resetting at
/// `resets_ms` (Unix ms), and a 7-day window.
fn with_windows(mut input: Value, percent: f64, resets_ms: i64) -> Value {
    input["rate_limits"] = json!({
        "five_hour": { "used_percentage": percent, "resets_at": resets_ms / 1000 },
        "seven_day": { "used_percentage": 41.2, "resets_at": (resets_ms + 50 * HOUR_MS) / 1000 }
    });
    input
}

fn statusline(env: &TestEnv, input: &[u8], now: Option<&str>) -> Output {
    let mut command = env.command();
    command.arg("statusline").env("NO_COLOR", "1");
    if let Some(now) = now {
        command.env("TOLLGATE_NOW", now);
    }
    run_piped(command, input)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn tollgate(env: &TestEnv, args: &[&str], now: &str) -> Output {
    let output = env
        .command()
        .args(args)
        .env("TOLLGATE_NOW", now)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    output
}

#[test]
fn statusline_prints_one_line_and_records_the_report() {
    let env = TestEnv::new();
    let input = statusline_input(&env);
    // The fixture's 5-hour window resets at 1795000000 (2026-11-18T11:06:40Z).
    let output = statusline(
        &env,
        input.to_string().as_bytes(),
        Some("2026-11-18T08:00:00Z"),
    );
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    assert_eq!(stdout(&output), "Opus │ ctx 8% │ 5h 24% ↻3h 6m │ $0.01\n");

    let db = env.db();
    let (percent, resets, observed): (f64, i64, i64) = db
        .query_row(
            "SELECT used_percentage, resets_ms, observed_ms FROM rate_limits WHERE name = 'five_hour'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((percent, resets), (23.5, 1_795_000_000_000));
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-18T08:00:00Z").unwrap();
    assert_eq!(observed, at.timestamp_millis());
    let (model, tokens, window, cost): (String, i64, i64, f64) = db
        .query_row(
            "SELECT model_id, context_tokens, context_window, cost_usd FROM session_status
             WHERE session_id = ?1",
            [SESSION],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        (model.as_str(), tokens, window, cost),
        ("claude-opus-4-6", 15_500, 200_000, 0.01234)
    );
    assert_eq!(env.count("SELECT count(*) FROM rate_limits"), 2);
}

/// Older Claude Code versions and API-key users send no `rate_limits` (and older ones no
/// `context_window` or `cost`): the line falls back to the store and the budget.
#[test]
fn statusline_without_rate_limits_uses_the_store_and_the_budget() {
    let env = TestEnv::new();
    env.config("[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 5.0\n");
    env.hook(&env.input("session-start")); // ingests the transcript
    let mut input = statusline_input(&env);
    for key in ["rate_limits", "context_window", "cost"] {
        input.as_object_mut().unwrap().remove(key);
    }
    let output = statusline(&env, input.to_string().as_bytes(), Some(NOW));
    assert_eq!(stderr(&output), "");
    insta::assert_snapshot!("statusline_from_the_store", stdout(&output));
    assert_eq!(
        env.count("SELECT count(*) FROM rate_limits"),
        0,
        "nothing reported, nothing recorded"
    );

    // No budget: the block's cost alone.
    env.config("default_policies = false\n");
    let output = statusline(&env, input.to_string().as_bytes(), Some(NOW));
    assert!(stdout(&output).contains("│ block $"), "{}", stdout(&output));
}

#[test]
fn statusline_never_fails_loudly() {
    let env = TestEnv::new();
    for stdin in [&b""[..], b"{not json", b"[1, 2]", b"null", b"\xff\xfe"] {
        let output = statusline(&env, stdin, None);
        assert!(output.status.success());
        assert_eq!(stdout(&output), "Claude\n");
        assert_eq!(stderr(&output), "", "quiet unless TOLLGATE_LOG=debug");
    }
    let mut command = env.command();
    command
        .arg("statusline")
        .env("TOLLGATE_LOG", "debug")
        .env("NO_COLOR", "1");
    let output = run_piped(command, b"{not json");
    assert!(
        stderr(&output).contains("the input is not JSON"),
        "{}",
        stderr(&output)
    );

    // A store that cannot be opened: the line still shows what the input says.
    std::fs::create_dir_all(env.home()).unwrap();
    std::fs::write(env.home().join("tollgate.db"), vec![7u8; 4096]).unwrap();
    let input = statusline_input(&env);
    let output = statusline(&env, input.to_string().as_bytes(), Some(NOW));
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    assert!(
        stdout(&output).starts_with("Opus │ ctx 8% │ 5h 24%"),
        "{}",
        stdout(&output)
    );
}

/// The budget policy, enforcing, on `five_hour_percent`: it warns, then asks, on the real
/// window; a stale observation is ignored and the estimates decide again.
#[test]
fn the_plan_windows_reach_the_budget_policy() {
    let env = TestEnv::new();
    let config = |limit: &str| {
        format!(
            "[[policy]]\nname = \"budget\"\nevents = [\"PreToolUse\"]\n{GENEROUS}[policy.config]\n\
             five_hour_percent = {limit}\nwarn_at = 0.8\nat_limit = \"ask\"\n"
        )
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let input = with_windows(statusline_input(&env), 23.5, now_ms + 2 * HOUR_MS);
    assert!(
        statusline(&env, input.to_string().as_bytes(), None)
            .status
            .success()
    );

    // 23.5 % of a 25 % limit: past warn_at.
    env.config(&config("25.0"));
    let answer = stdout_json(&env.hook(&env.input("pre-tool-use-bash"))).unwrap();
    let message = answer["systemMessage"].as_str().unwrap();
    assert!(message.contains("plan 5-hour window"), "{message}");
    assert!(
        answer["hookSpecificOutput"]
            .get("permissionDecision")
            .is_none()
    );

    // Over a 20 % limit: ask.
    env.config(&config("20.0"));
    let answer = stdout_json(&env.hook(&env.input("pre-tool-use-bash"))).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "ask");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("plan 5-hour window"), "{reason}");

    // The same figure observed two hours ago is stale (max_observation_age_minutes = 30):
    // allowed, and the session's estimated cost decides instead.
    let two_hours_ago = chrono::DateTime::from_timestamp_millis(now_ms - 2 * HOUR_MS)
        .unwrap()
        .to_rfc3339();
    // (A report older than the recorded one is not recorded: forget that one first.)
    env.db().execute("DELETE FROM rate_limits", []).unwrap();
    assert!(
        statusline(&env, input.to_string().as_bytes(), Some(&two_hours_ago))
            .status
            .success()
    );
    let output = env.hook(&env.input("pre-tool-use-bash"));
    assert_eq!(stdout_json(&output), None, "{}", stderr(&output));
    env.config(&format!("{}session_usd = 0.01\n", config("20.0")));
    let answer = stdout_json(&env.hook(&env.input("pre-tool-use-bash"))).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "ask");
    let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("session"), "{reason}");
    assert!(!reason.contains("plan 5-hour"), "{reason}");
}

/// An `Explore` subagent downgraded to Haiku four times: Claude Code applies it, ignores it
/// under `CLAUDE_CODE_SUBAGENT_MODEL`, ignores it silently (the parent's model), and does not
/// report the model (the subagent's transcript tells).
#[test]
fn downgrades_are_verified_on_the_post_tool_use() {
    let env = TestEnv::new();
    env.config(&format!(
        "[[policy]]\nname = \"model-router\"\n{GENEROUS}[policy.config]\n\
         rules = [{{ subagent_type = \"Explore\", model = \"haiku\" }}]\n",
    ));
    let calls: [(&str, Option<&str>, Value); 4] = [
        (
            "toolu_1",
            None,
            json!({"resolvedModel": "claude-haiku-4-5-20251001", "agentId": "afffe1c4"}),
        ),
        (
            "toolu_2",
            Some("opus"),
            json!({"resolvedModel": "claude-opus-4-5-20251101"}),
        ),
        (
            "toolu_3",
            None,
            json!({"resolvedModel": "claude-opus-4-5-20251101"}),
        ),
        (
            "toolu_4",
            None,
            json!({"agentId": "dd660954", "status": "completed"}),
        ),
    ];
    for (id, env_model, response) in &calls {
        let mut pre = env.input("pre-tool-use-agent");
        pre["tool_use_id"] = (*id).into();
        let mut command = env.command();
        command.arg("hook");
        if let Some(model) = env_model {
            command.env("CLAUDE_CODE_SUBAGENT_MODEL", model);
        } else {
            command.env_remove("CLAUDE_CODE_SUBAGENT_MODEL");
        }
        let output = run_piped(command, pre.to_string().as_bytes());
        let answer = stdout_json(&output).unwrap_or_else(|| panic!("{}", stderr(&output)));
        assert_eq!(
            answer["hookSpecificOutput"]["updatedInput"]["model"],
            "haiku"
        );

        let mut post = env.input("post-tool-use-agent");
        post["tool_use_id"] = (*id).into();
        post["tool_input"]["model"] = "haiku".into();
        post["tool_response"] = response.clone();
        let output = env.hook(&post);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let rows: Vec<(String, String, Option<String>, String)> = env
        .db()
        .prepare(
            "SELECT tool_use_id, applied, resolved_model, coalesce(why, '') FROM downgrades
             ORDER BY tool_use_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows[0].1, "yes");
    assert_eq!(rows[1].1, "no");
    assert!(
        rows[1].3.contains("CLAUDE_CODE_SUBAGENT_MODEL=opus"),
        "{}",
        rows[1].3
    );
    assert_eq!(rows[2].1, "no");
    assert!(rows[2].3.contains("parent's model"), "{}", rows[2].3);
    assert_eq!(
        (rows[3].1.as_str(), rows[3].2.as_deref()),
        ("yes", Some("claude-haiku-4-5-20251001")),
        "from the subagent's transcript"
    );

    let log = tollgate(&env, &["log", "--json"], NOW);
    let events: Value = serde_json::from_slice(&log.stdout).unwrap();
    let downgrades: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.get("downgrade"))
        .collect();
    assert_eq!(downgrades.len(), 4);
    assert_eq!(
        downgrades[0],
        &json!({"original": "opus", "requested": "haiku",
                "resolved": "claude-haiku-4-5-20251001", "applied": "yes", "why": null})
    );
    let table = stdout(&tollgate(&env, &["log"], NOW));
    assert_eq!(table.matches("IGNORED").count(), 2, "{table}");
    let summary = table.lines().last().unwrap();
    insta::assert_snapshot!("downgrade_summary", summary);
}

/// `tollgate status` with a fixed "now": the session, the budgets, the plan windows beside
/// the estimates, the calibration, the context and the downgrades.
#[test]
fn status_shows_budgets_beside_the_plan_windows() {
    let env = TestEnv::new();
    env.config(&format!(
        "[windows]\ntimezone = \"UTC\"\n\
         [[policy]]\nname = \"budget\"\n{GENEROUS}[policy.config]\n\
         block_usd = 5.0\nday_usd = 20.0\nweek_tokens = 50000000\nsession_usd = 10.0\n\
         five_hour_percent = 90.0\nfamilies = {{ opus = {{ week_usd = 30.0 }} }}\n\
         [[policy]]\nname = \"model-router\"\n{GENEROUS}[policy.config]\n\
         rules = [{{ subagent_type = \"Explore\", model = \"haiku\" }}]\n",
    ));
    env.hook(&env.input("session-start"));
    let mut pre = env.input("pre-tool-use-agent");
    pre["tool_use_id"] = "toolu_9".into();
    env.hook(&pre);
    let mut post = env.input("post-tool-use-agent");
    post["tool_use_id"] = "toolu_9".into();
    post["tool_response"] =
        json!({"resolvedModel": "claude-haiku-4-5-20251001", "agentId": "afffe1c4"});
    env.hook(&post);
    let input = with_windows(statusline_input(&env), 23.5, NOW_MS + 2 * HOUR_MS);
    assert!(
        statusline(&env, input.to_string().as_bytes(), Some(NOW))
            .status
            .success()
    );

    let project = env.project().display().to_string();
    let snapshot = |name: &str, now: &str| {
        let text = stdout(&tollgate(&env, &["status"], now));
        insta::with_settings!({filters => vec![(project.as_str(), "[PROJECT]")]}, {
            insta::assert_snapshot!(name, text);
        });
    };
    snapshot("status", NOW);
    // Two hours later the report is stale; six hours later its window has reset.
    snapshot("status_stale", "2026-11-12T09:15:00Z");
    let later = stdout(&tollgate(&env, &["status"], "2026-11-12T13:30:00Z"));
    assert!(
        later.contains("reset at 09:30 since it was seen 6h 0m ago"),
        "{later}"
    );
    assert!(
        !later.contains("left in this 5-hour window"),
        "no estimate from a window that reset: {later}"
    );

    let json: Value =
        serde_json::from_slice(&tollgate(&env, &["status", "--json"], NOW).stdout).unwrap();
    assert_eq!(json["session"]["id"], SESSION);
    assert_eq!(
        json["session"]["context_limit"], 200_000,
        "the status line's window"
    );
    assert_eq!(json["plan"][0]["state"], "current");
    assert_eq!(json["plan"][0]["limit_percent"], 90.0);
    assert_eq!(json["estimates"][0]["window"], "five_hour");
    assert!(json["estimates"][0]["left"]["tokens"].as_u64().unwrap() > 0);
    assert_eq!(json["downgrades"]["applied"], 1);
    assert!(json["downgrades"]["saved_usd"].as_f64().unwrap() > 0.0);

    let missing = env
        .command()
        .args(["status", "--session", "nope"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("tollgate log"),
        "{}",
        stderr(&missing)
    );
}

/// `--watch` redraws in place every 2 s and exits cleanly on Ctrl-C.
#[cfg(unix)]
#[test]
fn status_watch_redraws_until_ctrl_c() {
    let env = TestEnv::new();
    let child = env
        .command()
        .args(["status", "--watch"])
        .env("TOLLGATE_NOW", NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    // SAFETY: sending a signal to our own child process.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let output = wait(child, std::time::Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.matches("Usage recorded on this machine").count() >= 2,
        "{text}"
    );
    assert!(text.contains("F\x1b[J"), "redrawn in place: {text:?}");
}
