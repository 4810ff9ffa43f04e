//! The subcommands other than `tollgate hook`, one module each.

pub mod demo;
pub mod doctor;
pub mod import;
pub mod init;
pub mod install;
pub mod log;
pub mod policy;
pub mod report;
pub mod status;
pub mod statusline;
pub mod trust;
