//! Embeds the built-in policies (`policies/dist/builtins.wasm`, committed) with its sha256, so the
//! hot path can find their precompiled code without hashing them on every call; and the
//! conformance cases (`sdk/conformance/cases/*.json`) for `tollgate policy test`; and the
//! bundled price table, converted from TOML to JSON: parsing it was 0.12 ms of every hook call
//! as TOML, 0.03 ms as JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const BUILTINS: &[&str] = &["budget", "context-guard", "model-router"];

fn main() {
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).to_path_buf();
    builtins(&out);
    conformance_cases(&out);
    prices(&out);
    link_without_pie();
}

/// Links the `tollgate` binary at a fixed address (not as a position-independent executable) on
/// Linux with glibc. Claude Code starts the hook on every event, and a PIE relocates itself at
/// every start: about 500 more page faults a call, most of the 1.6–2.0 ms a call took more
/// without this (BENCHMARKS.md). The policies, the code that runs untrusted input, are compiled
/// by wasmtime into memory mapped at random addresses either way.
fn link_without_pie() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}

/// The hook crate's directory, read when the script runs: a build script compiled in one
/// checkout is reused by another sharing the target directory (`env!` would name the first).
fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
}

/// `src/pricing/prices.toml` (the table people edit) as `prices.json`.
fn prices(out: &Path) {
    let path = manifest_dir().join("src/pricing/prices.toml");
    println!("cargo::rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let table: toml::Table = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()));
    std::fs::write(
        out.join("prices.json"),
        serde_json::to_string(&table).unwrap(),
    )
    .unwrap();
}

/// The built-ins share one module, so a hook call that runs several maps its code once.
fn builtins(out: &Path) {
    let path = manifest_dir().join("../policies/dist/builtins.wasm");
    println!("cargo::rerun-if-changed={}", path.display());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Build the built-in policies with scripts/build-policies",
            path.display()
        )
    });
    let path = path.canonicalize().expect("the file exists");
    let mut code = format!(
        "/// The module that holds the built-in policies.\nconst MODULE: &[u8] = include_bytes!({:?});\n\
         /// Its sha256.\nconst SHA256: &str = {:?};\n\
         /// Built-in policies: (name, module, sha256).\npub const BUILTINS: &[(&str, &[u8], &str)] = &[\n",
        path.display().to_string(),
        hex::encode(Sha256::digest(&bytes))
    );
    for name in BUILTINS {
        writeln!(code, "    ({name:?}, MODULE, SHA256),").unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtins.rs"), code).unwrap();
}

fn conformance_cases(out: &Path) {
    let dir = manifest_dir().join("../sdk/conformance/cases");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut code = String::from(
        "/// The conformance cases: (name, the case file's text).\npub const CASES: &[(&str, &str)] = &[\n",
    );
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let path = path.canonicalize().expect("the file exists");
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out.join("conformance_cases.rs"), code).unwrap();
}
