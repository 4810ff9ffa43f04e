//! Policies: the sandbox that runs WASM modules ([`engine`]), the built-ins ([`builtin`]), the
//! check of a policy's config ([`config_check`]), a policy's output document ([`output`]), the
//! conformance suite every policy can be checked against, and the host's token counter.

pub mod builtin;
pub mod config_check;
pub mod conformance;
pub mod engine;
pub(crate) mod output;
pub(crate) mod tokens;
