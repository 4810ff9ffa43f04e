#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs node and npm: installs the locked dependencies (assemblyscript, assemblyscript-json)
# on first use.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
# The SDK: tollgate.ts next to the policy (a `tollgate policy new` project, whose package.json
# is here too), else the repository's sdk/assemblyscript.
if [[ -f $here/tollgate.ts ]]; then
    packages=$here sdk_module=tollgate
else
    packages=$(cd "$here/../../../sdk/assemblyscript" && pwd)
    sdk_module=../../../sdk/assemblyscript/assembly/index
fi
if [[ ! -x $packages/node_modules/.bin/asc ]]; then
    if ! command -v npm >/dev/null; then
        echo "build.sh: npm not found. Install Node.js with npm (Debian/Ubuntu: sudo apt-get install nodejs npm; macOS: brew install node)." >&2
        exit 1
    fi
    (cd "$packages" && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$here"
# --runtime stub: no garbage collector (each evaluation gets a fresh instance); --use abort:
# a failed assertion traps instead of importing env.abort, which tollgate does not provide.
"$packages/node_modules/.bin/asc" policy.ts --outFile "$out" --path "$packages/node_modules" \
    --runtime stub --optimize --shrinkLevel 2 --noAssert --use "abort=$sdk_module/trap"
