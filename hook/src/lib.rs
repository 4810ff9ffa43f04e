//! tollgate: a Claude Code hook that records every event and its real token usage in an
//! embedded store, evaluates policies (built-ins, and sandboxed WASM modules) over live usage
//! figures, and answers Claude Code with allow, warn, downgrade, ask or deny.
//!
//! The hot path is [`hook::run`]; each step lives in its own module.

pub mod cli;
pub mod commands;
pub mod config;
pub(crate) mod files;
pub mod hook;
pub mod paths;
pub mod policy;
pub mod pricing;
pub mod settings;
pub mod store;
pub(crate) mod term;
pub(crate) mod text;
pub mod time;
