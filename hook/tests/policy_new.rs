//! `tollgate policy new` and `tollgate policy test` on the bundled inputs, through the real
//! binary: a new project builds and passes the conformance suite; the table of decisions.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The binary with its own home (cache, config) in `home`.
fn tollgate(home: &Path) -> Command {
    let mut command = Command::cargo_bin("tollgate").unwrap();
    command
        .env("TOLLGATE_HOME", home)
        .env_remove("TOLLGATE_LOG");
    command
}

fn minimal_wat() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/wat/minimal.wat")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_new_c_project_builds_and_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("no-rm");
    tollgate(dir.path())
        .args(["policy", "new", "--lang", "c"])
        .arg(&project)
        .assert()
        .success();
    for file in ["README.md", "policy.c", "tollgate.h", "build.sh"] {
        assert!(project.join(file).is_file(), "{file}");
    }
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(readme.contains("name = \"no-rm\""), "{readme}");

    let build = std::process::Command::new("bash")
        .arg(project.join("build.sh"))
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "build.sh failed (scripts/test installs clang and wasi-libc): {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let output = tollgate(dir.path())
        .args(["policy", "test", "--conformance"])
        .arg(project.join("policy.wasm"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
    assert!(stdout(&output).ends_with("conformance: 44 passed, 0 failed\n"));

    // `--config` replaces the example's config in every bundled input.
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "deny_pattern = \"ls\"\n").unwrap();
    let output = tollgate(dir.path())
        .args(["policy", "test", "--json", "--config"])
        .arg(&config)
        .arg(project.join("policy.wasm"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stdout(&output));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let decision =
        |case: &str| rows.iter().find(|r| r["case"] == case).unwrap()["decision"].clone();
    assert_eq!(decision("allow-bash"), "deny", "ls -la now matches");
    assert_eq!(decision("warn-block"), "allow", "no block_usd any more");
}

#[test]
fn every_language_gets_a_project() {
    let dir = tempfile::tempdir().unwrap();
    for (lang, source) in [
        ("rust", "src/lib.rs"),
        ("c", "policy.c"),
        ("zig", "policy.zig"),
        ("assemblyscript", "policy.ts"),
        ("wat", "policy.wat"),
        ("wasi-command", "src/main.rs"),
    ] {
        let project = dir.path().join(format!("p-{lang}"));
        tollgate(dir.path())
            .args(["policy", "new", "--lang", lang])
            .arg(&project)
            .assert()
            .success();
        assert!(project.join(source).is_file(), "{lang}: {source}");
        assert!(project.join("README.md").is_file(), "{lang}");
    }
    // The WAT project is ready as written.
    tollgate(dir.path())
        .args(["policy", "check"])
        .arg(dir.path().join("p-wat/policy.wat"))
        .assert()
        .success();
}

/// The WAT project needs no build, and the next step `policy new` prints for it works as
/// printed; its README does not send the user to a conformance check it cannot pass.
#[test]
fn the_wat_projects_next_step_works() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    let output = tollgate(dir.path())
        .args(["policy", "new", "--lang", "wat"])
        .arg(&project)
        .output()
        .unwrap();
    assert!(output.status.success());
    let next = stdout(&output)
        .lines()
        .find_map(|l| l.trim().strip_prefix("tollgate "))
        .map(str::to_owned)
        .expect("a tollgate command among the next steps");
    tollgate(dir.path())
        .current_dir(&project)
        .args(next.split_whitespace())
        .assert()
        .success();
    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    assert!(!readme.contains("policy.wat --conformance"), "{readme}");
    assert!(readme.contains("always"), "{readme}");
}

#[test]
fn policy_new_refuses_bad_names_and_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let output = tollgate(dir.path())
        .args(["policy", "new", "--lang", "c"])
        .arg(dir.path().join("My Policy"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a valid policy name"));
    let existing = dir.path().join("exists");
    std::fs::create_dir(&existing).unwrap();
    let output = tollgate(dir.path())
        .args(["policy", "new", "--lang", "c"])
        .arg(&existing)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("already exists"));
}

#[test]
fn policy_test_without_an_event_prints_a_table_of_the_bundled_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let output = tollgate(dir.path())
        .args(["policy", "test"])
        .arg(minimal_wat())
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut settings = insta::Settings::clone_current();
    // Evaluation times vary, and so does the width of their column: keep neither.
    settings.add_filter(r"┆ *(\d+|µs) *│", "┆ µs │");
    settings.add_filter(r"┬─+┐", "┬─┐");
    settings.add_filter(r"╪═+╡", "╪═╡");
    settings.add_filter(r"┴─+┘", "┴─┘");
    settings.bind(|| insta::assert_snapshot!(stdout(&output)));
}

#[test]
fn the_conformance_check_fails_a_policy_that_does_not_implement_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let output = tollgate(dir.path())
        .args(["policy", "test", "--conformance", "--json"])
        .arg(minimal_wat())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["case"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"deny-bash"), "{failed:?}");
    assert!(!failed.contains(&"allow-bash"), "{failed:?}");
}

#[test]
fn each_built_in_runs_on_the_bundled_inputs_by_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["budget", "context-guard", "model-router"] {
        let output = tollgate(dir.path())
            .args(["policy", "test", "--json", name])
            .output()
            .unwrap();
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        let errors: Vec<&serde_json::Value> =
            rows.iter().filter(|r| !r["error"].is_null()).collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert!(output.status.success(), "{name}");
        assert!(rows.iter().all(|r| r["decision"].is_string()), "{name}");
    }
}
