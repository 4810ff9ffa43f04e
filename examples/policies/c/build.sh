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
missing() {
    echo "build.sh: $1. Install clang, lld and wasi-libc:" >&2
    echo "  Debian/Ubuntu: sudo apt-get install clang lld wasi-libc libclang-rt-dev-wasm32" >&2
    echo "  macOS:         brew install llvm lld wasi-libc wasi-runtimes" >&2
    echo "  elsewhere:     the wasi-sdk, with CC=<wasi-sdk>/bin/clang WASI_SYSROOT=<wasi-sdk>/share/wasi-sysroot" >&2
    exit 1
}
command -v "${CC:-clang}" >/dev/null || missing "${CC:-clang} not found"
echo 'int main(void) { return 0; }' |
    "${CC:-clang}" --target=wasm32-wasi "${sysroot[@]}" -mexec-model=reactor -x c -o /dev/null - 2>/dev/null ||
    missing "${CC:-clang} cannot build for wasm32-wasi (no wasm-ld or no WASI libc)"
"${CC:-clang}" --target=wasm32-wasi "${sysroot[@]}" -O2 -Wall -Wextra -Werror \
    -mexec-model=reactor -Wl,--strip-all -I "$sdk" -o "$out" "$here/policy.c"
