//! Embeds the built-in policies (`policies/dist/*.wasm`, committed) with their sha256, so the
//! hot path can find their precompiled code without hashing them on every call.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

const BUILTINS: &[&str] = &["budget", "context-guard", "model-router"];

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/dist");
    let mut code = String::from(
        "/// Built-in policies: (name, module, sha256).\npub const BUILTINS: &[(&str, &[u8], &str)] = &[\n",
    );
    for name in BUILTINS {
        let path = dist.join(format!("{name}.wasm"));
        println!("cargo::rerun-if-changed={}", path.display());
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e}. Build the built-in policies with scripts/build-policies",
                path.display()
            )
        });
        let path = path.canonicalize().expect("the file exists");
        writeln!(
            code,
            "    ({name:?}, include_bytes!({:?}), {:?}),",
            path.display().to_string(),
            hex::encode(Sha256::digest(&bytes))
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtins.rs");
    std::fs::write(out, code).unwrap();
}
