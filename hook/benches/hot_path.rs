//! In-process benchmarks of the hook's hot-path steps (`cargo bench -p tollgate`), on a store of
//! 100k events and 30k responses over 60 days (3-hour sessions, back to back), the responses
//! ingested from generated transcripts by the real ingest code. Whole hook calls, process start to exit, are measured by `bench/hook-latency.py`.

use std::path::Path;
use std::time::Instant;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use tollgate::config::Config;
use tollgate::hook::decide::{self, Runner, Shared};
use tollgate::policy::engine::Engine;
use tollgate::pricing::Pricing;
use tollgate::store::ingest::{Delta, ReadLimits};
use tollgate::store::usage;
use tollgate::store::{self, EventRow, Store};
use tollgate::time::Calendar;

const EVENTS: i64 = 100_000;
const RESPONSES: i64 = 30_000;
const DAY_MS: i64 = 86_400_000;
/// 2026-11-20T12:00:00Z: the last response; "now" is one minute later.
const END_MS: i64 = 1_795_176_000_000;
const PROJECT: &str = "/home/dev/project";

/// Sessions last 3 hours each, back to back.
const SESSION_MS: i64 = 3 * 3_600_000;

/// The session of a moment.
fn session_at(ts_ms: i64) -> String {
    format!("session-{}", ts_ms.div_euclid(SESSION_MS))
}

/// Time of the `i`-th of `n` things spread evenly over the 60 days ending at `END_MS`.
fn spread(i: i64, n: i64) -> i64 {
    let span = 60 * DAY_MS;
    END_MS - span + span * i / (n - 1)
}

/// One transcript per session in `dir`, `RESPONSES` assistant messages over 60 days in all.
fn write_transcripts(dir: &Path) -> Vec<std::path::PathBuf> {
    let models = [
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
    ];
    let mut sessions: std::collections::BTreeMap<String, String> = Default::default();
    for i in 0..RESPONSES {
        let ts_ms = spread(i, RESPONSES);
        let session = session_at(ts_ms);
        let line = json!({
            "type": "assistant", "sessionId": session, "cwd": PROJECT, "isSidechain": false,
            "uuid": format!("u{i}"), "requestId": format!("req_{i}"),
            "timestamp": tollgate::time::rfc3339(ts_ms),
            "message": {"id": format!("msg_{i}"), "model": models[i as usize % 3], "usage": {
                "input_tokens": 12, "output_tokens": 400, "cache_read_input_tokens": 60_000,
                "cache_creation_input_tokens": 900}}
        });
        let text = sessions.entry(session).or_default();
        text.push_str(&line.to_string());
        text.push('\n');
    }
    sessions
        .into_iter()
        .map(|(session, text)| {
            let path = dir.join(format!("{session}.jsonl"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn event(ts_ms: i64) -> EventRow {
    EventRow {
        ts_ms,
        session_id: session_at(ts_ms),
        project: PROJECT.into(),
        event: "PreToolUse".into(),
        tool_name: Some("Bash".into()),
        tool_use_id: Some(format!("toolu_{ts_ms}")),
        agent_id: None,
        subject: Some("cargo test".into()),
        input_bytes: 64,
        response_bytes: 0,
        est_tokens: 0,
        model: None,
        input: Some(
            json!({"hook_event_name": "PreToolUse", "session_id": session_at(ts_ms),
                   "cwd": PROJECT, "tool_name": "Bash", "tool_use_id": format!("toolu_{ts_ms}"),
                   "tool_input": {"command": "cargo test", "description": "Run tests"}})
            .to_string(),
        ),
    }
}

/// The store, ready: responses ingested by the real ingest code, events recorded.
fn build_store(dir: &Path) -> Store {
    let transcripts = write_transcripts(dir);
    let mut store = Store::open(&dir.join("tollgate.db")).unwrap();
    let pricing = Pricing::bundled();
    for transcript in &transcripts {
        let mut limits = ReadLimits::unlimited();
        let delta = Delta::read_session(store.conn(), transcript, &mut limits).unwrap();
        store.write(|tx| delta.store(tx, &pricing, END_MS)).unwrap();
    }
    store
        .write(|tx| {
            for i in 0..EVENTS {
                store::insert_event(tx, &event(spread(i, EVENTS)))?;
            }
            Ok(())
        })
        .unwrap();
    store.truncate_wal();
    store
}

fn hot_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = build_store(dir.path());
    let now_ms = END_MS + 60_000;
    let session = session_at(END_MS);
    let calendar = Calendar::default();
    let pricing = Pricing::bundled();

    c.bench_function("store open (schema v6, WAL)", |b| {
        b.iter(|| Store::open(store.path()).unwrap())
    });
    c.bench_function("usage snapshot, 100k events", |b| {
        b.iter(|| usage::snapshot(store.conn(), &calendar, &session, PROJECT, now_ms).unwrap())
    });

    // The three built-ins as the README's config enables them, on a real-shaped PreToolUse.
    let config = Config::parse(
        "[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 20.0\n\
         [[policy]]\nname = \"context-guard\"\n\
         [[policy]]\nname = \"model-router\"\n[policy.config]\n\
         rules = [{ subagent_type = \"Explore\", model = \"haiku\" }]\n",
        Path::new("bench.toml"),
    )
    .unwrap();
    let usage = usage::snapshot(store.conn(), &calendar, &session, PROJECT, now_ms).unwrap();
    let context = usage::context(store.conn(), &pricing, &session).unwrap();
    let event = json!({
        "session_id": session, "cwd": PROJECT, "hook_event_name": "PreToolUse",
        "tool_name": "Task", "tool_use_id": "toolu_1",
        "tool_input": {"subagent_type": "Explore", "description": "Find the parser",
                       "prompt": "Where is the config parsed?", "model": "opus"}
    });
    let now = tollgate::time::rfc3339(now_ms);
    let shared = Shared {
        now: &now,
        event: event.as_object().unwrap(),
        usage: &usage,
        context: &context,
        limits: None,
    };
    let cache = dir.path().join("cache");
    let engine = Engine::new(Some(cache.clone())).unwrap();
    for policy in config.active_policies() {
        let (bytes, sha) = tollgate::policy::builtin::get(&policy.name).unwrap();
        // Compiles into the cache once; every load below maps the precompiled code.
        let loaded = engine.load(bytes, Some(sha), None).unwrap();
        let wasm = || Runner::Wasm(&engine, loaded.clone());
        let vote = decide::evaluate(wasm(), &policy, &shared, "{}", Instant::now());
        assert!(vote.error.is_none(), "{}: {:?}", policy.name, vote.error);
        let native = decide::evaluate(Runner::Native, &policy, &shared, "{}", Instant::now());
        assert_eq!(native.decision, vote.decision, "{}", policy.name);

        c.bench_function(&format!("{}: evaluate", policy.name), |b| {
            b.iter(|| decide::evaluate(wasm(), &policy, &shared, "{}", Instant::now()))
        });
        c.bench_function(&format!("{}: evaluate natively", policy.name), |b| {
            b.iter(|| decide::evaluate(Runner::Native, &policy, &shared, "{}", Instant::now()))
        });
        c.bench_function(&format!("{}: cached load + evaluate", policy.name), |b| {
            b.iter_batched(
                // A fresh engine each time, as in a hook process.
                || Engine::new(Some(cache.clone())).unwrap(),
                |engine| {
                    let loaded = engine.load(bytes, Some(sha), None).unwrap();
                    assert!(loaded.cached);
                    let runner = Runner::Wasm(&engine, loaded);
                    decide::evaluate(runner, &policy, &shared, "{}", Instant::now())
                },
                BatchSize::PerIteration,
            )
        });
    }
    // What a hook call with all three does: the built-ins share one module, loaded once.
    let policies = config.active_policies();
    c.bench_function("3 built-ins: cached load + evaluate", |b| {
        b.iter_batched(
            || Engine::new(Some(cache.clone())).unwrap(),
            |engine| {
                let votes: Vec<_> = policies
                    .iter()
                    .map(|policy| {
                        let (bytes, sha) = tollgate::policy::builtin::get(&policy.name).unwrap();
                        let loaded = engine.load(bytes, Some(sha), None).unwrap();
                        let runner = Runner::Wasm(&engine, loaded);
                        decide::evaluate(runner, policy, &shared, "{}", Instant::now())
                    })
                    .collect();
                assert!(votes.iter().all(|vote| vote.error.is_none()));
                votes
            },
            BatchSize::PerIteration,
        )
    });
    // The same three as native code (`builtins = "native"`, the default): no engine at all.
    c.bench_function("3 built-ins: native", |b| {
        b.iter(|| {
            let votes: Vec<_> = policies
                .iter()
                .map(|policy| {
                    decide::evaluate(Runner::Native, policy, &shared, "{}", Instant::now())
                })
                .collect();
            assert!(votes.iter().all(|vote| vote.error.is_none()));
            votes
        })
    });
}

/// Secrets redaction of a recorded subject (every tool call that has one pays it): an ordinary
/// command, and one with a header, a URL token and a query parameter to mask.
fn redact(c: &mut Criterion) {
    use tollgate::hook::redact::redact;
    let plain = "git -C /home/dev/project log --oneline -20 && rg -n 'fn redact' hook/src";
    let secrets = "curl -H 'Authorization: Bearer abc.def.ghi' \
                   https://ghp_0123456789abcdefABCDEF0123@api.example.com/v1/me?access_token=zzz";
    assert_eq!(redact(plain), plain);
    assert_eq!(redact(secrets).matches("[REDACTED]").count(), 3);
    c.bench_function("redact: an ordinary command", |b| b.iter(|| redact(plain)));
    c.bench_function("redact: a command with 3 secrets", |b| {
        b.iter(|| redact(secrets))
    });
}

/// The hook input recorded with each event (`HookInput::recorded`): a Bash call, and an Edit
/// whose old and new strings are 20 KB each (cut to 1 KiB before they are redacted).
fn recorded_input(c: &mut Criterion) {
    use tollgate::hook::event::HookInput;
    let bash = HookInput::parse(
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "cwd": PROJECT,
               "transcript_path": "/home/dev/.claude/projects/p/s.jsonl", "tool_name": "Bash",
               "tool_input": {"command": "cargo test -p tollgate --lib", "description": "Run tests"},
               "tool_use_id": "toolu_01"})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let text = "fn main() { println!(\"hello\"); }\n".repeat(600);
    let edit = HookInput::parse(
        json!({"hook_event_name": "PreToolUse", "session_id": "s", "cwd": PROJECT,
               "tool_name": "Edit", "tool_use_id": "toolu_02",
               "tool_input": {"file_path": "/home/dev/project/src/main.rs",
                              "old_string": text, "new_string": text}})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    c.bench_function("recorded input: a Bash call", |b| {
        b.iter(|| bash.recorded())
    });
    c.bench_function("recorded input: an Edit of 20 KB strings", |b| {
        b.iter(|| edit.recorded())
    });
}

/// The guard on `Bash` calls: one that touches nothing protected (what nearly every call pays)
/// and one it denies.
fn guard(c: &mut Criterion) {
    use tollgate::hook::event::HookInput;
    use tollgate::hook::{Env, guard::check};
    let env = Env {
        paths: tollgate::paths::Paths::under(Path::new("/home/dev/.tollgate")),
        project_dir: Some(PROJECT.into()),
        now_ms: END_MS,
        subagent_model: None,
    };
    let config = Config::default();
    let call = |command: &str| {
        let input = json!({
            "session_id": "s", "cwd": PROJECT, "hook_event_name": "PreToolUse",
            "transcript_path": "/home/dev/.claude/projects/-home-dev-project/s.jsonl",
            "tool_name": "Bash", "tool_input": {"command": command},
        });
        HookInput::parse(input.to_string().as_bytes()).unwrap()
    };
    let plain = call("cargo test --workspace 2>&1 | tail -5 && git status");
    let denied = call("sed -i 's/^/x/' /home/dev/.tollgate/config.toml");
    assert!(check(&plain, &env, &config).is_none());
    assert!(check(&denied, &env, &config).is_some());
    c.bench_function("guard: an ordinary Bash command", |b| {
        b.iter(|| check(&plain, &env, &config))
    });
    c.bench_function("guard: a Bash command it denies", |b| {
        b.iter(|| check(&denied, &env, &config))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = redact, recorded_input, guard, hot_path
}
criterion_main!(benches);
