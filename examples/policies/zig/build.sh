#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs zig 0.17 (pip install ziglang==0.17.0; ZIG="zig" to use another install).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
# tollgate.zig: next to the policy (a `tollgate policy new` project), else the repository's.
sdk=$here
[[ -f $sdk/tollgate.zig ]] || sdk=$here/../../../sdk/zig
read -ra zig <<<"${ZIG:-python3 -m ziglang}"
if ! "${zig[@]}" version >/dev/null 2>&1; then
    echo "build.sh: no zig (tried: ${zig[*]}). Install it: pip install ziglang==0.17.0, or set ZIG=zig for another install of zig 0.17." >&2
    exit 1
fi
cd "$(dirname "$out")"
"${zig[@]}" build-exe -target wasm32-freestanding -fno-entry -rdynamic -O ReleaseSmall \
    --dep tollgate -Mroot="$here/policy.zig" -Mtollgate="$sdk/tollgate.zig" \
    -femit-bin="$out"
