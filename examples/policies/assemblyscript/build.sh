#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs node and npm: installs the SDK's locked dependencies (assemblyscript,
# assemblyscript-json) into sdk/assemblyscript/node_modules on first use.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
sdk=$(cd "${TOLLGATE_AS_SDK:-$here/../../../sdk/assemblyscript}" && pwd)
if [[ ! -x $sdk/node_modules/.bin/asc ]]; then
    (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$here"
"$sdk/node_modules/.bin/asc" policy.ts --outFile "$out" \
    --path "$sdk/node_modules" \
    --runtime stub --optimize --shrinkLevel 2 --noAssert \
    --use abort=../../../sdk/assemblyscript/assembly/index/trap
