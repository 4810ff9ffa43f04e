//! Policies: the sandbox that runs WASM modules ([`engine`]), the built-ins ([`builtin`]), the
//! conformance suite every policy can be checked against, and the host's token counter.

pub mod builtin;
pub mod conformance;
pub mod engine;
pub mod tokens;
