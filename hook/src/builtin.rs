//! The built-in policies, embedded in the binary (built from `policies/` by
//! `scripts/build-policies`; CI rebuilds them and fails on a difference).

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The module and sha256 of built-in `name`.
pub fn get(name: &str) -> Option<(&'static [u8], &'static str)> {
    BUILTINS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, bytes, sha)| (*bytes, *sha))
}
