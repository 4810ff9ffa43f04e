#!/usr/bin/env bash
# Builds the policy to WebAssembly: build.sh [OUT.wasm] (default: policy.wasm here).
# Needs clang, lld and wasi-libc (Debian: apt-get install clang lld wasi-libc
# libclang-rt-dev-wasm32; elsewhere the wasi-sdk, with WASI_SYSROOT=<wasi-sdk>/share/wasi-sysroot).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "${1:-$here/policy.wasm}")
# tollgate.h: next to the policy (a `tollgate policy new` project), else the repository's.
sdk=$here
[[ -f $sdk/tollgate.h ]] || sdk=$here/../../../sdk/c
sysroot=()
[[ -n ${WASI_SYSROOT:-} ]] && sysroot=(--sysroot="$WASI_SYSROOT")
"${CC:-clang}" --target=wasm32-wasi "${sysroot[@]}" -O2 -Wall -Wextra -Werror \
    -mexec-model=reactor -Wl,--strip-all -I "$sdk" -o "$out" "$here/policy.c"
