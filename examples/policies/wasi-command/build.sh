#!/usr/bin/env bash
# Builds the example policy to a WASI command module: build.sh [OUT.wasm] (default:
# policy.wasm here).
here=$(dirname "${BASH_SOURCE[0]}")
exec "$here/../cargo-build.sh" wasm32-wasip1 tollgate-example-command tollgate-example-command "${1:-$here/policy.wasm}"
