//! tollgate: a Claude Code hook that records every event and its real token usage in an
//! embedded store, evaluates sandboxed WASM policies over live usage figures, and answers
//! Claude Code with allow, warn, downgrade, ask or deny.
//!
//! The hot path is [`hook::run`]; each step lives in its own module.

pub mod builtin;
pub mod cli;
pub mod config;
pub mod decide;
pub mod demo;
pub mod engine;
pub mod event;
pub mod hook;
pub mod import;
pub mod ingest;
pub mod init;
pub mod log;
pub mod paths;
pub mod policy_cmd;
pub mod pricing;
pub mod redact;
pub mod report;
pub mod respond;
pub mod store;
pub mod table;
pub mod tokens;
pub mod usage;
