//! End-to-end: `tollgate import` and `tollgate report …` on the fixture transcripts and hook
//! calls, through the real binary; the HTML report rendered in headless Chromium.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};

/// A test environment whose store holds the fixture session: every fixture hook call (events
/// and decisions), the transcript they point at, a big `Read`, an MCP call and a subagent's
/// calls.
fn recorded() -> TestEnv {
    let env = TestEnv::new();
    env.config("default_policies = false\n");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(fixtures().join("hook-input"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fixtures.sort();
    for path in fixtures {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(env.hook(&env.input(&name)).status.success(), "{name}");
    }
    let mut big_read = env.input("post-tool-use-read");
    big_read["tool_use_id"] = "toolu_big".into();
    big_read["tool_input"]["file_path"] = "/home/dev/proj0/src/huge.rs".into();
    big_read["tool_response"]["file"]["content"] = "x".repeat(80_000).into();
    let mut mcp = env.input("post-tool-use-read");
    mcp["tool_name"] = "mcp__github__get_issue".into();
    mcp["tool_input"] = json!({"number": 7});
    mcp["tool_response"] = json!({"body": "y".repeat(12_000)});
    let mut in_subagent = env.input("post-tool-use-read");
    in_subagent["agent_id"] = "afffe1c4".into();
    for input in [big_read, mcp, in_subagent] {
        assert!(env.hook(&input).status.success());
    }
    env
}

fn tollgate(env: &TestEnv, args: &[&str]) -> Output {
    let output = env.command().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "tollgate {args:?}: {}",
        stderr(&output)
    );
    output
}

fn text(env: &TestEnv, args: &[&str]) -> String {
    String::from_utf8(tollgate(env, args).stdout).unwrap()
}

fn json_of(env: &TestEnv, args: &[&str]) -> Value {
    serde_json::from_slice(&tollgate(env, args).stdout).unwrap()
}

/// Snapshot settings: the temporary directory becomes `[TMP]`.
fn settings(env: &TestEnv) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    let tmp = env.dir.path().display().to_string();
    settings.add_filter(&regex_escape(&tmp), "[TMP]");
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn token_reports_read_the_store() {
    let env = recorded();
    let settings = settings(&env);
    let _guard = settings.bind_to_scope();
    insta::assert_snapshot!(
        "daily",
        text(&env, &["report", "daily", "-z", "UTC", "--breakdown"])
    );
    insta::assert_snapshot!(
        "monthly_csv",
        text(
            &env,
            &["report", "monthly", "-z", "UTC", "--csv", "--breakdown"]
        )
    );
    insta::assert_snapshot!(
        "session",
        text(&env, &["report", "session", "-z", "Europe/Paris"])
    );
    insta::assert_snapshot!("models", text(&env, &["report", "models"]));
    insta::assert_snapshot!(
        "projects_json",
        text(&env, &["report", "projects", "--json"])
    );
    insta::assert_snapshot!("blocks", text(&env, &["report", "blocks", "-z", "UTC"]));
    insta::assert_snapshot!(
        "weekly_monday",
        text(&env, &["report", "weekly", "-z", "UTC", "-w", "monday"])
    );

    // Filters: a range with nothing in it, a project by Claude's folder name, a bad zone.
    let empty = text(&env, &["report", "daily", "--since", "20270101"]);
    assert!(empty.contains("No usage recorded"), "{empty}");
    let by_folder = json_of(
        &env,
        &["report", "daily", "--json", "-p", "-home-dev-proj0"],
    );
    assert_eq!(by_folder["totals"]["totalTokens"], 333_063);
    let bad = env
        .command()
        .args(["report", "daily", "-z", "Mars/Base"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("IANA"), "{}", stderr(&bad));
    let unknown = env
        .command()
        .args(["report", "daily", "-p", "nope"])
        .output()
        .unwrap();
    assert!(
        stderr(&unknown).contains("known projects: "),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn what_ate_the_window() {
    let env = recorded();
    let settings = settings(&env);
    let _guard = settings.bind_to_scope();
    insta::assert_snapshot!("tools", text(&env, &["report", "tools"]));
    let tools = json_of(&env, &["report", "tools", "--json"]);
    let first = &tools["subjects"][0];
    assert_eq!(first["tool"], "Read");
    assert_eq!(first["subject"], "/home/dev/proj0/src/huge.rs");
    assert!(first["hint"].as_str().unwrap().contains("offset"));
    let mcp = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "mcp__github")
        .expect("MCP tools grouped by server");
    assert_eq!(mcp["server"], "github");
    let read = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "Read")
        .unwrap();
    assert_eq!(read["subagentCalls"], 1, "{read}");
    assert_eq!(tools["subagents"].as_array().unwrap().len(), 2);

    insta::assert_snapshot!(
        "context",
        text(&env, &["report", "context", "-s", "9974", "-z", "UTC"])
    );
    let context = json_of(&env, &["report", "context", "--json"]);
    assert_eq!(
        context["sessionId"], SESSION,
        "the latest session by default"
    );
    let steps = context["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    for pair in steps.windows(2) {
        let growth = pair[1]["context"].as_i64().unwrap() - pair[0]["context"].as_i64().unwrap();
        assert_eq!(pair[1]["growth"], growth);
        let added: i64 = pair[1]["added"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["tokens"].as_i64().unwrap())
            .sum();
        assert_eq!(added, growth, "the additions explain the whole growth");
    }
    let bash = &steps[1]["added"][0];
    assert_eq!(
        (bash["tool"].as_str(), bash["subject"].as_str()),
        (Some("Bash"), Some("cargo test")),
        "tool results sized from the transcript, matched by tool_use_id"
    );
    let ambiguous = env
        .command()
        .args(["report", "context", "-s", "zzz"])
        .output()
        .unwrap();
    assert!(stderr(&ambiguous).contains("no usage recorded for a session"));
}

/// A Claude data directory with the fixture transcripts, one line turned into an unknown
/// model's.
/// The hook's record of an edit and a commit shows in `report outcomes`, in each format; the
/// cost per outcome is the session's cost over them.
#[test]
fn outcomes_show_what_the_spend_bought() {
    let env = recorded();
    for input in env.edit_and_commit() {
        assert!(env.hook(&input).status.success());
    }
    let report = json_of(&env, &["report", "outcomes", "--json"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{report}");
    let row = &rows[0];
    assert_eq!(row["linesAdded"], 2);
    assert_eq!(row["linesRemoved"], 1);
    assert_eq!(row["filesTouched"], 1);
    assert_eq!(row["commits"], 1);
    assert_eq!(row["pullRequests"], 0);
    let cost = row["costUsd"].as_f64().unwrap();
    assert!(cost > 0.0);
    assert!((row["costPerCommit"].as_f64().unwrap() - cost).abs() < 1e-9);
    assert!((row["costPer100Lines"].as_f64().unwrap() - cost / 0.03).abs() < 1e-6);

    let table = text(&env, &["report", "outcomes", "--by", "day", "-z", "UTC"]);
    assert!(table.contains("+2 −1"), "{table}");
    assert!(table.contains("1 of 1"), "{table}");
    // The hook's events name their own working directory, the transcript another: the
    // project of the events has the outcomes, and no recorded response to price them by.
    let csv = text(&env, &["report", "outcomes", "--by", "project", "--csv"]);
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().starts_with("project,cost_usd,"),
        "{csv}"
    );
    let project = env.project().display().to_string();
    let row = lines.find(|l| l.starts_with(&project)).unwrap();
    assert!(row.ends_with(",2,1,1,1,0,,,1,1"), "{csv}");
    let help = text(&env, &["report", "outcomes", "--help"]);
    assert!(
        help.contains("--by") && help.contains("Never a ranking by tokens"),
        "{help}"
    );
}

fn claude_dir(root: &Path) -> PathBuf {
    let dir = root.join("claude");
    copy_dir(&fixtures().join("transcripts"), &dir.join("projects"));
    let extra = dir.join("projects/-home-dev-other/11111111-2222-3333-4444-555555555555.jsonl");
    std::fs::create_dir_all(extra.parent().unwrap()).unwrap();
    let line = r#"{"cwd":"/home/dev/other","sessionId":"11111111-2222-3333-4444-555555555555","message":{"id":"msg_x","model":"claude-mystery-9","usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":5}},"requestId":"req_x","type":"assistant","uuid":"u1","timestamp":"2026-11-13T10:00:00.000Z"}"#;
    std::fs::write(&extra, format!("{line}\n")).unwrap();
    dir
}

#[test]
fn import_backfills_once_from_claude_config_dirs() {
    let env = TestEnv::new();
    let data = claude_dir(env.dir.path());
    let empty = env.dir.path().join("empty");
    std::fs::create_dir_all(empty.join("projects")).unwrap();
    let list = format!("{},{}", data.display(), empty.display());
    let import = |env: &TestEnv| -> Value {
        let output = env
            .command()
            .args(["import", "--json"])
            .env("CLAUDE_CONFIG_DIR", &list)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let first = import(&env);
    assert_eq!(first["files"], 4);
    assert_eq!(first["responses"], 13);
    assert_eq!(first["dirs"].as_array().unwrap().len(), 2);
    let second = import(&env);
    assert_eq!(
        (second["responses"].as_u64(), second["bytes"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(env.count("SELECT count(*) FROM usage"), 13);

    // Unknown prices are marked, never zero.
    let daily = json_of(&env, &["report", "daily", "--json", "-z", "UTC"]);
    let day = &daily["daily"][1];
    assert_eq!(day["date"], "2026-11-13");
    assert_eq!(day["totalCost"], Value::Null);
    assert_eq!(day["unpricedMessages"], 1);
    assert_eq!(daily["totals"]["unpricedMessages"], 1);
    let table = text(&env, &["report", "daily", "-z", "UTC"]);
    assert!(table.contains("unknown"), "{table}");
    assert!(
        table.contains("no price known for claude-mystery-9"),
        "{table}"
    );

    // Without CLAUDE_CONFIG_DIR: ~/.config/claude and ~/.claude, both.
    let home = env.dir.path().join("user");
    copy_dir(&data, &home.join(".claude"));
    std::fs::create_dir_all(home.join(".config/claude/projects")).unwrap();
    let output = env
        .command()
        .args(["import", "--json"])
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["dirs"].as_array().unwrap().len(), 2, "{summary}");
    assert_eq!(summary["responses"], 0, "the same responses, stored once");

    let bad = env
        .command()
        .args(["import"])
        .env("CLAUDE_CONFIG_DIR", env.dir.path().join("nowhere"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--path"), "{}", stderr(&bad));
}

#[test]
fn the_active_block_projects_when_limits_are_hit() {
    let env = TestEnv::new();
    let dir = env.dir.path().join("live/projects/-p");
    std::fs::create_dir_all(&dir).unwrap();
    let now = chrono::Utc::now();
    let lines: Vec<String> = [40, 25, 10]
        .iter()
        .enumerate()
        .map(|(i, minutes_ago)| {
            let ts = (now - chrono::Duration::minutes(*minutes_ago))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            format!(
                r#"{{"cwd":"/p","sessionId":"s","message":{{"id":"m{i}","model":"claude-opus-4-5","usage":{{"input_tokens":1000,"cache_creation_input_tokens":10000,"cache_read_input_tokens":50000,"output_tokens":2000}}}},"requestId":"r{i}","type":"assistant","timestamp":"{ts}"}}"#
            )
        })
        .collect();
    std::fs::write(dir.join("s.jsonl"), lines.join("\n") + "\n").unwrap();
    tollgate(
        &env,
        &[
            "import",
            "--path",
            env.dir.path().join("live").to_str().unwrap(),
        ],
    );
    let report = json_of(
        &env,
        &[
            "report",
            "blocks",
            "--active",
            "--json",
            "-t",
            "500000",
            "--cost-limit",
            "1",
        ],
    );
    let block = &report["blocks"][0];
    assert_eq!(block["isActive"], true);
    assert_eq!(block["entries"], 3);
    let burn = &block["burnRate"];
    // 3 × 63,000 tokens over the 30 minutes from the first to the last response.
    assert!(
        (burn["tokensPerMinute"].as_f64().unwrap() - 6_300.0).abs() < 1.0,
        "{burn}"
    );
    assert!((burn["tokensPerMinuteForIndicator"].as_f64().unwrap() - 300.0).abs() < 0.1);
    let projected = block["projection"]["totalTokens"].as_f64().unwrap();
    assert!(projected > 189_000.0, "{block}");
    assert_eq!(block["tokenLimitStatus"]["limit"], 500_000.0);
    assert!(block["costLimitStatus"]["reachedAt"].is_string(), "{block}");
    let table = text(
        &env,
        &[
            "report",
            "blocks",
            "--recent",
            "-t",
            "max",
            "--cost-limit",
            "1",
        ],
    );
    assert!(table.contains("ACTIVE"), "{table}");
    assert!(table.contains("burn rate"), "{table}");
    assert!(table.contains("cost limit  $1.00"), "{table}");
}

/// Chromium's flags for a quiet, offline, throw-away headless run.
fn chromium(profile: &Path) -> Command {
    let mut command = Command::new("chromium");
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--hide-scrollbars",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

#[test]
fn the_html_report_renders_every_chart_in_chromium() {
    assert!(
        Command::new("chromium")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "chromium is needed for this test: scripts/test installs it (apt-get install chromium)"
    );
    let env = recorded();
    let page = env.dir.path().join("report.html");
    let output = tollgate(
        &env,
        &["report", "html", "-o", page.to_str().unwrap(), "-z", "UTC"],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("wrote"));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script src") && !html.contains("<link"),
        "self-contained"
    );

    let url = format!("file://{}", page.display());
    let dom = chromium(&env.dir.path().join("profile1"))
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(dom.status.success(), "{}", stderr(&dom));
    let dom = String::from_utf8(dom.stdout).unwrap();
    let attribute = |name: &str| -> Value {
        let start = dom
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} in the page: it did not render"))
            + name.len()
            + 2;
        let end = start + dom[start..].find('"').unwrap();
        serde_json::from_str(&dom[start..end].replace("&quot;", "\"")).unwrap()
    };
    assert_eq!(attribute("data-errors"), json!([]), "no script errors");
    let rendered = attribute("data-rendered");
    for chart in [
        "cost",
        "tokens",
        "blocks",
        "consumers",
        "decisions",
        "outcomes",
    ] {
        assert!(
            rendered[chart].as_u64().unwrap() > 0,
            "{chart} has data points: {rendered}"
        );
    }

    let png = env.dir.path().join("report.png");
    let shot = chromium(&env.dir.path().join("profile2"))
        .args([
            "--window-size=1400,1500",
            &format!("--screenshot={}", png.display()),
            &url,
        ])
        .output()
        .unwrap();
    assert!(shot.status.success(), "{}", stderr(&shot));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (1400, 1500));
    let channels = info.color_type.samples();
    let colours: std::collections::HashSet<&[u8]> =
        pixels[..info.buffer_size()].chunks(channels).collect();
    assert!(
        colours.len() > 200,
        "a drawn page, not a blank one: {} colours",
        colours.len()
    );
    if let Some(keep) = std::env::var_os("TOLLGATE_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
