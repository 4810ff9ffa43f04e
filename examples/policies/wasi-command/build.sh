#!/usr/bin/env bash
# Builds the policy to a WASI command module: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs the WASI target: rustup target add wasm32-wasip1.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
target_dir=${CARGO_TARGET_DIR:-$here/../../../target}
cd "$here"
CARGO_TARGET_DIR="$target_dir" \
    cargo build --locked --quiet --target wasm32-wasip1 --profile wasm -p tollgate-example-command
cp "$target_dir/wasm32-wasip1/wasm/tollgate-example-command.wasm" "$out"
