#!/usr/bin/env bash
# Builds the example policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs the wasm target: rustup target add wasm32-unknown-unknown.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
target_dir=${CARGO_TARGET_DIR:-$here/../../../target}
cd "$here"
CARGO_TARGET_DIR="$target_dir" \
    cargo build --locked --quiet --target wasm32-unknown-unknown --profile wasm -p tollgate-example-policy
cp "$target_dir/wasm32-unknown-unknown/wasm/tollgate_example_policy.wasm" "$out"
