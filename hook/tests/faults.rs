//! Fault injection on the real binary: many hooks at once, hooks killed mid-write, a clock
//! that goes backwards. Nothing acknowledged may be lost, nothing duplicated, no call may hang.
//!
//! A call that waits for the store's write lock past its bound spools its record for the next
//! call (and says so on stderr): the tests count records after one more call.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Starts `tollgate hook` on `input` without waiting for it.
fn spawn_hook(env: &TestEnv, input: &Value) -> Child {
    spawn_piped(env.command().arg("hook"), input.to_string().as_bytes())
}

fn bash_call(env: &TestEnv, id: &str) -> Value {
    let mut input = env.input("pre-tool-use-bash");
    input["tool_use_id"] = Value::String(id.to_owned());
    input
}

/// Checks that a call under contention answered and said nothing but that its record waits in
/// the spool; whether it did.
fn spooled(output: &Output) -> bool {
    assert!(output.status.success());
    let message = stderr(output);
    assert!(
        message.is_empty() || (message.lines().count() == 1 && message.contains("waits in")),
        "{message}"
    );
    !message.is_empty()
}

/// One more call (a `Stop`, which no built-in sees): it writes what earlier calls spooled.
fn drain_spool(env: &TestEnv) {
    let output = env.hook(&env.input("stop"));
    assert_eq!(stderr(&output), "");
    assert_eq!(
        std::fs::read_dir(env.home().join("tollgate.db-spool")).map_or(0, |d| d.count()),
        0
    );
}

/// 64 hook processes at once, three rounds, with the built-in policies running: every call
/// answers, every record is there exactly once. (The first call compiles the policies into the
/// cache, as a session's first tool call does.)
#[test]
fn sixty_four_hooks_at_once_repeatedly() {
    let env = TestEnv::new();
    env.hook(&bash_call(&env, "toolu_warm"));
    for round in 0..3 {
        let children: Vec<Child> = (0..64)
            .map(|i| spawn_hook(&env, &bash_call(&env, &format!("toolu_r{round}_{i:02}"))))
            .collect();
        for child in children {
            spooled(&wait(child, Duration::from_secs(120)));
        }
    }
    drain_spool(&env);
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE tool_use_id LIKE 'toolu_r%'"),
        192
    );
    assert_eq!(
        env.count(
            "SELECT count(DISTINCT tool_use_id) FROM events WHERE tool_use_id LIKE 'toolu_r%'"
        ),
        192
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE decision IS NULL"),
        0
    );
    assert_eq!(
        env.count("SELECT count(*) FROM policy_runs"),
        193 * 2,
        "budget and context-guard on every call (model-router sees only subagent calls)"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM usage"),
        12,
        "the transcript counted once"
    );
}

/// Hooks killed with SIGKILL at random moments, round after round: the store stays intact and
/// every call that answered (exit 0) has its record.
#[cfg(unix)]
#[test]
fn hooks_killed_mid_write_lose_nothing_acknowledged() {
    let env = TestEnv::new();
    env.hook(&bash_call(&env, "toolu_warm")); // compiles the policies into the cache
    // Kill times spread over twice a warm call's length, whatever this build's speed: a spread
    // fixed in milliseconds let a faster hook finish before every kill.
    let warm = Instant::now();
    env.hook(&bash_call(&env, "toolu_warm_2"));
    let spread = (2 * warm.elapsed().as_micros() as u64).max(1_000);
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..25 {
        let spawned = Instant::now();
        let children: Vec<(String, Child)> = (0..8)
            .map(|i| {
                let id = format!("toolu_k{round:02}_{i}");
                let child = spawn_hook(&env, &bash_call(&env, &id));
                (id, child)
            })
            .collect();
        for (id, mut child) in children {
            // xorshift: a reproducible kill time for each child, counted from the spawns.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = spawned + Duration::from_micros(seed % spread);
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            if output.status.success() {
                acknowledged.push(id);
            } else {
                killed += 1;
            }
        }
    }
    let integrity: String = env
        .db()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drain_spool(&env);
    for id in &acknowledged {
        let n = env.count(&format!(
            "SELECT count(*) FROM events WHERE tool_use_id = '{id}' AND decision IS NOT NULL"
        ));
        assert_eq!(n, 1, "{id} answered, so its record is complete");
    }
    assert!(
        killed > 0,
        "the test must actually kill some hooks mid-call"
    );
    assert!(!acknowledged.is_empty(), "and let some finish");
    assert_eq!(
        env.count(
            "SELECT count(DISTINCT tool_use_id) FROM events WHERE tool_use_id LIKE 'toolu_k%'"
        ),
        env.count("SELECT count(*) FROM events WHERE tool_use_id LIKE 'toolu_k%'"),
        "no duplicates"
    );
    // And the store still works after all that.
    let output = env.hook(&bash_call(&env, "toolu_after"));
    assert!(output.status.success());
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE tool_use_id = 'toolu_after'"),
        1
    );
}

/// The clock goes backwards: a transcript written "in the future" (a clock set back after it
/// was written) and events recorded later than now. Windows come out empty or sane, nothing
/// panics, the call answers.
#[test]
fn a_clock_going_backwards_is_survived() {
    let env = TestEnv::new();
    let future = |line: &str| line.replace("2026-11-", "2031-11-");
    let transcript = std::fs::read_to_string(env.transcript()).unwrap();
    std::fs::write(
        env.transcript(),
        transcript
            .lines()
            .map(future)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let mut store = tollgate::store::Store::open(&env.home().join("tollgate.db")).unwrap();
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO events (ts_ms, session_id, project, event) VALUES (?1, 's', '/p', 'PreToolUse')",
                [4_000_000_000_000_i64],
            )
        })
        .unwrap();
    drop(store);
    let started = Instant::now();
    let output = env.hook(&env.input("pre-tool-use-agent"));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        env.count("SELECT count(*) FROM usage"),
        12,
        "future-dated usage is still recorded"
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE decision IS NULL AND ts_ms < 4000000000000"),
        0
    );
    let log = env.command().args(["log", "--json"]).output().unwrap();
    assert!(log.status.success());
}

/// A transcript rotated (replaced by a new file) and truncated between hook calls: re-read
/// from the start, counted once.
#[test]
fn a_rotated_or_truncated_transcript_is_reread_without_double_counting() {
    let env = TestEnv::new();
    env.hook(&env.input("session-start"));
    assert_eq!(env.count("SELECT count(*) FROM usage"), 12);
    let original = std::fs::read_to_string(env.transcript()).unwrap();
    // Rotate: a new file with the same content plus one response.
    let extra = original
        .lines()
        .find(|l| l.contains("\"usage\""))
        .unwrap()
        .replace("\"id\":\"msg_", "\"id\":\"msg_rotated_");
    let rotated = env.transcript().with_extension("new");
    std::fs::write(&rotated, format!("{original}{extra}\n")).unwrap();
    std::fs::rename(&rotated, env.transcript()).unwrap();
    env.hook(&env.input("stop"));
    assert_eq!(env.count("SELECT count(*) FROM usage"), 13);
    // Truncate to the first three lines, then add a partial line.
    let head: String = original.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(env.transcript(), format!("{head}{{\"type\":\"assist")).unwrap();
    let output = env.hook(&env.input("stop"));
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    assert_eq!(env.count("SELECT count(*) FROM usage"), 13);
}

/// A transcript line of `session`: a tool result (even `i`, ~4 KB) or an assistant response
/// with usage (odd `i`, message id `msg_<tag>_<i>`, ~400 bytes), so 3,000 lines are ~7 MB,
/// as a busy session's are.
fn transcript_line(session: &str, tag: &str, i: usize) -> String {
    let ts = format!("2026-11-12T06:{:02}:{:02}Z", (i / 60) % 60, i % 60);
    if i.is_multiple_of(2) {
        serde_json::json!({
            "type": "user", "sessionId": session, "cwd": "/home/dev/load", "timestamp": ts,
            "uuid": format!("u-{tag}-{i}"),
            "message": {"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": format!("toolu_{tag}_{i}"), "content": "test ok\n".repeat(500)}]},
        })
    } else {
        serde_json::json!({
            "type": "assistant", "sessionId": session, "cwd": "/home/dev/load", "timestamp": ts,
            "requestId": format!("req_{tag}_{i}"), "uuid": format!("a-{tag}-{i}"),
            "message": {"id": format!("msg_{tag}_{i}"), "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": "Done; next file."}],
                "usage": {"input_tokens": 3, "output_tokens": 100,
                    "cache_creation_input_tokens": 200, "cache_read_input_tokens": 20000}},
        })
    }
    .to_string()
}

/// Eight sessions, each ingesting a new 3,000-line transcript delta at once, five times over,
/// with hook calls running in all of them meanwhile (360 calls, 72 at a time): no call's event
/// is lost, none is recorded twice, every response is counted once, and the rollups add up.
/// (Holding the write lock while reading the transcripts, calls used to wait past the busy
/// timeout and record nothing.)
#[test]
fn eight_large_ingests_at_once_lose_no_event() {
    const SESSIONS: usize = 8;
    const WAVES: usize = 5;
    const LINES: usize = 3_000;
    const CALLS_PER_WAVE: usize = 72;
    let env = TestEnv::new();
    env.hook(&bash_call(&env, "toolu_warm"));
    let sessions: Vec<(String, PathBuf)> = (0..SESSIONS)
        .map(|s| {
            let id = format!("load-{s}");
            let path = env
                .dir
                .path()
                .join(format!("projects/-home-dev-load/{id}.jsonl"));
            (id, path)
        })
        .collect();
    std::fs::create_dir_all(sessions[0].1.parent().unwrap()).unwrap();
    let (mut spooled_calls, mut slowest, mut delta_bytes) = (0, Duration::ZERO, 0);
    let started = Instant::now();
    for wave in 0..WAVES {
        for (s, (id, path)) in sessions.iter().enumerate() {
            let lines: String = (0..LINES)
                .map(|i| transcript_line(id, &format!("{s}_{wave}"), i) + "\n")
                .collect();
            delta_bytes = lines.len();
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            file.write_all(lines.as_bytes()).unwrap();
        }
        let children: Vec<(Instant, Child)> = (0..CALLS_PER_WAVE)
            .map(|i| {
                let (id, path) = &sessions[i % SESSIONS];
                let mut input = bash_call(&env, &format!("load_w{wave}_{i:02}"));
                input["session_id"] = Value::String(id.clone());
                input["transcript_path"] = Value::String(path.display().to_string());
                (Instant::now(), spawn_hook(&env, &input))
            })
            .collect();
        for (spawned, child) in children {
            let output = wait(child, Duration::from_secs(60));
            slowest = slowest.max(spawned.elapsed());
            spooled_calls += usize::from(spooled(&output));
        }
    }
    let elapsed = started.elapsed();
    drain_spool(&env);
    // Under this load, a call may stop reading at its time bound; the rest is the next call's.
    for (id, path) in &sessions {
        let mut input = env.input("stop");
        input["session_id"] = Value::String(id.clone());
        input["transcript_path"] = Value::String(path.display().to_string());
        assert_eq!(stderr(&env.hook(&input)), "");
    }
    let calls = (WAVES * CALLS_PER_WAVE) as i64;
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE tool_use_id LIKE 'load_w%'"),
        calls
    );
    assert_eq!(
        env.count(
            "SELECT count(DISTINCT tool_use_id) FROM events WHERE tool_use_id LIKE 'load_w%'"
        ),
        calls
    );
    assert_eq!(
        env.count("SELECT count(*) FROM events WHERE decision IS NULL"),
        0
    );
    let responses = (SESSIONS * WAVES * LINES / 2) as i64;
    assert_eq!(
        env.count("SELECT count(*) FROM usage WHERE session_id LIKE 'load-%'"),
        responses
    );
    assert_eq!(
        env.count("SELECT sum(messages) FROM usage_daily WHERE project = '/home/dev/load'"),
        responses
    );
    assert_eq!(tollgate::store::rollup_mismatches(&env.db()).unwrap(), 0);
    // The figures for the record (`cargo test -- --nocapture`).
    println!(
        "{calls} calls with {SESSIONS} x {WAVES} deltas of {LINES} lines ({delta_bytes} bytes each) in {:.1} s: {spooled_calls} spooled, slowest call {} ms (spawn to exit), 0 lost",
        elapsed.as_secs_f64(),
        slowest.as_millis()
    );
}
