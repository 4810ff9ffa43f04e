//! Helpers shared by policies: model families, warn-once bookkeeping, figures for humans,
//! configurable actions and config checks.

mod action;
mod family;
mod format;
mod meter;
mod once;
mod validate;

pub use action::Action;
pub use family::Family;
pub use format::{format_duration, format_percent, format_tokens, format_usd};
pub use meter::Meter;
pub use once::OncePerWindow;
pub use validate::{
    check_config_schema, check_fraction, check_keys, check_positive, did_you_mean,
    explain_config_error,
};
