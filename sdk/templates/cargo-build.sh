#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs the target: rustup target add {{target}}.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
cd "$here"
if ! command -v cargo >/dev/null; then
    echo "build.sh: cargo not found. Install Rust from https://rustup.rs, then: rustup target add {{target}}" >&2
    exit 1
fi
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "{{target}}"; then
    echo "build.sh: the {{target}} target is missing: rustup target add {{target}}" >&2
    exit 1
fi
cargo build --quiet --release --target {{target}}
cp "${CARGO_TARGET_DIR:-target}/{{target}}/release/{{artifact}}.wasm" "$out"
