#!/usr/bin/env bash
# Builds the example policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
here=$(dirname "${BASH_SOURCE[0]}")
exec "$here/../cargo-build.sh" wasm32-unknown-unknown tollgate-example-policy tollgate_example_policy "${1:-$here/policy.wasm}"
