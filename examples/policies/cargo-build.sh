#!/usr/bin/env bash
# Builds one of the cargo examples (a member of the repository's workspace) to WebAssembly:
#   cargo-build.sh TARGET PACKAGE ARTIFACT OUT.wasm
# Needs the target: rustup target add TARGET.
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: cargo-build.sh TARGET PACKAGE ARTIFACT OUT.wasm" >&2; exit 2; }
target=$1 package=$2 artifact=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$(realpath -m "$4")
target_dir=${CARGO_TARGET_DIR:-$root/target}
cd "$root"
CARGO_TARGET_DIR="$target_dir" \
    cargo build --locked --quiet --target "$target" --profile wasm -p "$package"
cp "$target_dir/$target/wasm/$artifact.wasm" "$out"
