//! Fault injection on the real binary: many hooks at once, hooks killed mid-write, a clock
//! that goes backwards. Nothing acknowledged may be lost, nothing duplicated, no call may hang.

mod common;

use std::process::Child;
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
            let output = wait(child, Duration::from_secs(120));
            assert!(output.status.success());
            assert_eq!(stderr(&output), "", "round {round}");
        }
    }
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
