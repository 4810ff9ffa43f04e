#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs the target: rustup target add {{target}}.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
cd "$here"
cargo build --quiet --release --target {{target}}
cp "${CARGO_TARGET_DIR:-target}/{{target}}/release/{{artifact}}.wasm" "$out"
