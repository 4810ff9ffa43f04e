//! tollgate: a Claude Code hook that records every event and its real token usage in an
//! embedded store, evaluates policies (built-ins, and sandboxed WASM modules) over live usage
//! figures, and answers Claude Code with allow, warn, downgrade, ask or deny.
//!
//! The hot path is [`hook::run`]; each step lives in its own module.

pub mod arena;
pub mod budgets;
pub mod builtin;
pub mod calibrate;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod decide;
pub mod demo;
pub mod doctor;
pub mod downgrade;
pub mod engine;
pub mod event;
pub mod gauge;
pub mod hook;
pub mod import;
pub mod ingest;
pub mod init;
pub mod install;
pub mod log;
pub mod observe;
pub mod paths;
pub mod policy_cmd;
pub mod policy_suite;
pub mod pricing;
pub mod redact;
pub mod report;
pub mod respond;
pub mod scaffold;
pub mod settings;
pub mod status;
pub mod statusline;
pub mod store;
pub mod table;
pub mod team;
pub mod timing;
pub mod tokens;
pub mod usage;
