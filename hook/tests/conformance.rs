//! The conformance suite (`sdk/conformance/cases`) against the example policy written in every
//! SDK language (`examples/policies/<lang>`), each compiled from source by its `build.sh` and
//! run through the real engine.
//!
//! A compiled module is cached under `target/conformance/` by the hash of its sources (the
//! example and its SDK), so each language is compiled once and then only when it changes. A
//! missing toolchain fails the test with what to install: `scripts/test` installs them all.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use tollgate::config::Limits;
use tollgate::hook::decide::Decision;
use tollgate::policy::config_check::{self, Checker, Code};
use tollgate::policy::conformance::{self, Expect};
use tollgate::policy::engine::Engine;

/// The build script of the cargo examples.
const CARGO_BUILD: &str = "examples/policies/cargo-build.sh";

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Hashes the files `dirs` (relative to the root) name and every file under those that are
/// directories, skipping build outputs.
fn source_hash(dirs: &[&str]) -> String {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                if !matches!(&*name, "node_modules" | "target" | "zig-out" | ".zig-cache") {
                    walk(&path, files);
                }
            } else if !name.ends_with(".wasm") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        let path = root().join(dir);
        if path.is_dir() {
            walk(&path, &mut files);
        } else {
            files.push(path);
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        hash.update(
            file.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update(std::fs::read(&file).unwrap());
    }
    hex::encode(&hash.finalize()[..8])
}

/// Builds `examples/policies/<lang>` with its `build.sh` (once per source change) and returns
/// the module. `sources` are the files and directories the build reads besides the example.
fn build(lang: &str, sources: &[&str]) -> PathBuf {
    let example = format!("examples/policies/{lang}");
    let dirs: Vec<&str> = std::iter::once(example.as_str())
        .chain(sources.iter().copied())
        .collect();
    let cache = root().join("target/conformance");
    std::fs::create_dir_all(&cache).unwrap();
    let module = cache.join(format!("{lang}-{}.wasm", source_hash(&dirs)));
    if module.exists() {
        return module;
    }
    // Modules of older sources of this language are stale.
    for entry in std::fs::read_dir(&cache).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with(&format!("{lang}-")) && name.ends_with(".wasm") {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let partial = module.with_extension("partial");
    let output = Command::new("bash")
        .arg(root().join(&example).join("build.sh"))
        .arg(&partial)
        // Not the target directory `cargo test` holds locked.
        .env("CARGO_TARGET_DIR", cache.join("cargo"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash: {e}"));
    assert!(
        output.status.success(),
        "{example}/build.sh failed ({}). Install the toolchains with scripts/test.\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&partial, &module).unwrap();
    module
}

/// Runs every case on `module`; `expect` overrides the expected answer (for policies that do
/// not implement the example policy). Panics listing every mismatch.
fn run_suite(module: &Path, limits: &Limits, expect: Option<&Expect>) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Some(dir.path().to_path_buf())).unwrap();
    let policy = engine
        .load_file(module, None)
        .unwrap_or_else(|e| panic!("{}: {e}", module.display()));
    let cases = conformance::cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let expect = expect.unwrap_or(&case.expect);
            let outcome = conformance::evaluate(&engine, &policy, case.input.as_bytes(), limits);
            (!outcome.matches(expect)).then(|| {
                format!(
                    "{}: expected {expect:?}, got {:?}",
                    case.name,
                    outcome
                        .result
                        .map(|o| (o.decision, o.model, o.reason))
                        .map_err(|e| e.to_string())
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed on {}:\n{}",
        failures.len(),
        cases.len(),
        module.display(),
        failures.join("\n")
    );
}

/// The example declares its config keys (`deny_pattern`, `opus_week_usd`, `block_usd`), checked
/// by `checker`: a valid config passes, a typo is reported with the key meant.
fn check_declared_keys(module: &Path, checker: Checker) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(Some(dir.path().to_path_buf())).unwrap();
    let policy = engine.load_file(module, None).unwrap();
    let check = |config: &str| {
        let config: toml::Table = toml::from_str(config).unwrap();
        config_check::check(Code::Module(&engine, &policy), "example", &config).unwrap()
    };
    let valid = check("deny_pattern = \"rm -rf\"\nblock_usd = 5.0");
    assert_eq!((valid.checker, valid.errors), (checker, Vec::new()));
    let typo = check("deny_pattern = \"rm -rf\"\nblok_usd = 5.0");
    assert_eq!(typo.errors.len(), 1, "{typo:?}");
    assert!(
        typo.errors[0].ends_with("unknown key `blok_usd` (did you mean `block_usd`?)"),
        "{}: {typo:?}",
        module.display()
    );
}

#[test]
fn rust() {
    let module = build("rust", &["sdk/rust", CARGO_BUILD, "Cargo.lock"]);
    run_suite(&module, &Limits::default(), None);
    check_declared_keys(&module, Checker::Policy);
}

#[test]
fn c() {
    let module = build("c", &["sdk/c"]);
    run_suite(&module, &Limits::default(), None);
    check_declared_keys(&module, Checker::Schema);
}

#[test]
fn zig() {
    let module = build("zig", &["sdk/zig"]);
    run_suite(&module, &Limits::default(), None);
    check_declared_keys(&module, Checker::Schema);
}

#[test]
fn assemblyscript() {
    let module = build("assemblyscript", &["sdk/assemblyscript"]);
    run_suite(&module, &Limits::default(), None);
    check_declared_keys(&module, Checker::Schema);
}

#[test]
fn wasi_command() {
    run_suite(
        &build("wasi-command", &[CARGO_BUILD, "Cargo.lock"]),
        &Limits::default(),
        None,
    );
}

/// The minimal WAT policy ignores its input: it answers allow to every case.
#[test]
fn wat() {
    let module = root().join("examples/policies/wat/minimal.wat");
    let allow = Expect {
        decision: Decision::Allow,
        model: None,
    };
    run_suite(&module, &Limits::default(), Some(&allow));
}
