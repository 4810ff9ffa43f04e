//! The policy engine against broken modules (`fixtures/policies/*.wat`): the ABI, traps, bad
//! outputs, WASI without capabilities, the module cache and pins. Each is reported as a clear
//! error, never a hang or a crash; hostile modules are in `sandbox.rs`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tollgate::config::Limits;
use tollgate::hook::decide::{Decision, Output};
use tollgate::policy::engine::{Engine, PolicyError};

const INPUT: &[u8] = br#"{"abi":1,"policy":{"name":"t","config":{}},"event":{"hook_event_name":"PreToolUse"},"state":{}}"#;

/// No hostile fixture may hold a caller this long (a hang guard, not a speed target).
const HANG_GUARD: Duration = Duration::from_secs(5);

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/policies/{name}.wat"))
}

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Some(dir.path().join("cache"))).unwrap();
    (dir, engine)
}

/// Loads and evaluates a fixture; returns the parsed output or the error.
fn run(name: &str, limits: Limits) -> Result<Output, PolicyError> {
    let (_dir, engine) = engine();
    let started = Instant::now();
    let result = engine
        .load_file(&fixture(name), None)
        .and_then(|policy| engine.evaluate(&policy, INPUT, &limits))
        .and_then(|evaluation| Output::parse(&evaluation.output));
    assert!(
        started.elapsed() < HANG_GUARD,
        "{name} held the caller for {:?}",
        started.elapsed()
    );
    result
}

fn error(name: &str) -> PolicyError {
    run(name, Limits::default()).expect_err(name)
}

#[test]
fn a_minimal_wat_policy_works() {
    let output = run("ok", Limits::default()).unwrap();
    assert_eq!(output.decision, Some(Decision::Warn));
    assert_eq!(output.reason.as_deref(), Some("hello from WAT"));
}

#[test]
fn invalid_outputs_are_errors() {
    assert!(
        matches!(error("bad_json"), PolicyError::BadOutput(m) if m.contains("not an output document"))
    );
    assert!(matches!(error("not_utf8"), PolicyError::BadOutput(m) if m.contains("UTF-8")));
    assert!(
        matches!(error("out_of_bounds"), PolicyError::BadOutput(m) if m.contains("outside memory"))
    );
}

#[test]
fn abi_violations_are_explained_at_load() {
    let missing = error("missing_export").to_string();
    assert!(
        missing.contains("tollgate_evaluate") && missing.contains("_start"),
        "{missing}"
    );
    let import = error("unknown_import").to_string();
    assert!(import.contains("env.open_socket"), "{import}");
    let version = error("abi_v2").to_string();
    assert!(version.contains("ABI version 2"), "{version}");
}

#[test]
fn a_trap_is_one_line_with_where_it_happened() {
    let error = error("trap");
    assert!(
        matches!(&error, PolicyError::Trap(m) if m.contains("unreachable") && m.contains("(in ") && !m.contains('\n')),
        "{error}"
    );
}

#[test]
fn command_modules_read_stdin_and_write_stdout() {
    let output = run("command", Limits::default()).unwrap();
    assert_eq!(output.decision, Some(Decision::Deny));
    assert!(matches!(error("command_exit"), PolicyError::Exit(3)));
}

#[test]
fn wasi_grants_no_files_env_args_or_sockets() {
    let output = run("escape", Limits::default()).unwrap();
    assert_eq!(output.reason.as_deref(), Some("sandbox held"));
}

#[test]
fn policies_can_log() {
    let (_dir, engine) = engine();
    let policy = engine.load_file(&fixture("logs"), None).unwrap();
    let evaluation = engine.evaluate(&policy, INPUT, &Limits::default()).unwrap();
    assert_eq!(evaluation.log, vec!["info: looked at the input".to_owned()]);
}

#[test]
fn precompiled_modules_are_cached_and_verified() {
    let (dir, engine) = engine();
    // Each hook process has its own engine (one engine loads a module once and shares it).
    let fresh = || Engine::new(Some(dir.path().join("cache"))).unwrap();
    let first = engine.load_file(&fixture("ok"), None).unwrap();
    assert!(!first.cached);
    let second = fresh().load_file(&fixture("ok"), None).unwrap();
    assert!(second.cached, "the second load comes from the cache");
    let cached: Vec<PathBuf> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(cached.len(), 1);
    // The module file's hash is remembered beside its code (the fixture is older than the
    // two seconds a hash waits for): later loads stat the file instead of hashing it.
    let remembered: Vec<String> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sha256"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(remembered.len(), 1);
    assert!(
        remembered[0]
            .trim_end()
            .ends_with(&format!(" {}", first.sha256))
    );
    assert_eq!(second.sha256, first.sha256);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&cached[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("cache"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
    }
    // A tampered cache file is recompiled, not run: one flipped byte in the code, written in
    // place (same inode, same size).
    let mut bytes = std::fs::read(&cached[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cached[0])
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    let engine = fresh();
    let third = engine.load_file(&fixture("ok"), None).unwrap();
    assert!(!third.cached, "a tampered file is not trusted");
    let output = Output::parse(
        &engine
            .evaluate(&third, INPUT, &Limits::default())
            .unwrap()
            .output,
    )
    .unwrap();
    assert_eq!(output.decision, Some(Decision::Warn));
    assert!(
        fresh().load_file(&fixture("ok"), None).unwrap().cached,
        "and the cache is rewritten"
    );
}

#[test]
fn a_sha256_pin_is_enforced() {
    let (_dir, engine) = engine();
    let policy = engine.load_file(&fixture("ok"), None).unwrap();
    assert!(
        engine
            .load_file(&fixture("ok"), Some(&policy.sha256))
            .is_ok()
    );
    let wrong = "0".repeat(64);
    assert!(matches!(
        engine.load_file(&fixture("ok"), Some(&wrong)),
        Err(PolicyError::HashMismatch { .. })
    ));
}
