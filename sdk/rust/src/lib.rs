//! Write [tollgate](https://github.com/tollgate-dev/tollgate) policies in Rust.
//!
//! A policy is a function from [`Input`] (the Claude Code hook event plus live usage figures)
//! to [`Output`] (a decision), compiled to WebAssembly and run sandboxed by the `tollgate`
//! hook. [`export_policy!`] turns the function into the module's exports (ABI.md, style A);
//! policy code is safe Rust and builds and tests natively too.
//!
//! A complete policy: ask before the 50th prompt of a session.
//!
//! ```
//! use tollgate_sdk::{Input, Output};
//!
//! #[derive(serde::Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Config {
//!     max_prompts: u64,
//! }
//!
//! impl Default for Config {
//!     fn default() -> Self {
//!         Config { max_prompts: 50 }
//!     }
//! }
//!
//! fn evaluate(input: Input) -> Result<Output, String> {
//!     let config: Config = input.config()?;
//!     let prompts = input.usage.session.prompts;
//!     if input.event.hook_event_name() == "UserPromptSubmit" && prompts + 1 >= config.max_prompts {
//!         return Ok(Output::ask(format!("prompt {} of {} this session", prompts + 1, config.max_prompts)));
//!     }
//!     Ok(Output::allow())
//! }
//!
//! tollgate_sdk::export_policy!(evaluate);
//! # fn main() {
//! #     let input = br#"{"abi": 1, "policy": {"name": "prompts", "config": {"max_prompts": 3}},
//! #         "event": {"hook_event_name": "UserPromptSubmit"}, "usage": {"session": {"prompts": 2}}}"#;
//! #     let output = String::from_utf8(tollgate_sdk::run_json(input, evaluate)).unwrap();
//! #     assert_eq!(output, r#"{"decision":"ask","reason":"prompt 3 of 3 this session"}"#);
//! # }
//! ```
//!
//! Build it with `cargo build --target wasm32-unknown-unknown --release` (crate type
//! `cdylib`) and register the `.wasm` in tollgate's config; see the README.
//!
//! * [`Input`] reads every field leniently: a missing field takes its default, unknown fields
//!   are ignored, and [`Event`] keeps Claude Code's hook input whole.
//! * [`Input::config`] reads the policy's `config` table into your type.
//! * [`util`] has what the built-in policies share: model [`Family`](util::Family), warn once
//!   per window ([`OncePerWindow`](util::OncePerWindow)), figures for humans.
//! * [`run_json`] is what the exports run; call it in tests to check the whole round trip.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod abi;
mod input;
mod output;
pub mod time;
pub mod util;

pub use abi::{Level, count_tokens, log};
pub use input::{
    BlockWindow, Context, ContextCache, Event, FamilyWindows, Input, Limits, PeriodWindow,
    PolicyInfo, RateWindow, TeamPeriods, TeamUsage, Usage, Window,
};
pub use output::{ConfigCheck, Decision, Describe, ErrorOutput, IntoOutput, Output};

/// Runs a policy on an input document and returns the output document: what the
/// `tollgate_evaluate` export does, minus the memory handling. An input that does not parse,
/// an `Err` from `evaluate` or an invalid output gives an [`ErrorOutput`].
pub fn run_json<R: IntoOutput>(input: &[u8], evaluate: impl FnOnce(Input) -> R) -> Vec<u8> {
    let output = serde_json::from_slice::<Input>(input)
        .map_err(|e| format!("cannot read the input document: {e}"))
        .and_then(|input| evaluate(input).into_output())
        .and_then(|output| match output {
            Output {
                decision: Decision::Downgrade,
                model: None,
                ..
            } => Err("a downgrade needs a model".to_owned()),
            output => serde_json::to_vec(&output).map_err(|e| e.to_string()),
        });
    output.unwrap_or_else(|error| {
        // Serialising a struct with one string field cannot fail.
        serde_json::to_vec(&ErrorOutput { error }).unwrap_or_default()
    })
}

/// Runs a config check on a config check document (`{"abi": 1, "policy": {"name", "config"}}`)
/// and returns the [`ConfigCheck`] document: what the `tollgate_check_config` export does,
/// minus the memory handling. `check` is typically the policy's own config reading, so that
/// `tollgate doctor` and `tollgate policy list` report exactly what `evaluate` would fail on.
///
/// ```
/// use tollgate_sdk::PolicyInfo;
///
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// struct Config {
///     block_usd: Option<f64>,
/// }
///
/// fn check_config(policy: &PolicyInfo) -> Result<(), String> {
///     policy.config::<Config>().map(drop)
/// }
///
/// let document = br#"{"abi": 1, "policy": {"name": "p", "config": {"blok_usd": 20.0}}}"#;
/// let answer = String::from_utf8(tollgate_sdk::check_config_json(document, check_config)).unwrap();
/// assert_eq!(
///     answer,
///     r#"{"errors":["invalid config for policy `p`: unknown key `blok_usd` (did you mean `block_usd`?)"]}"#
/// );
/// ```
pub fn check_config_json<E: std::fmt::Display>(
    document: &[u8],
    check: impl FnOnce(&PolicyInfo) -> Result<(), E>,
) -> Vec<u8> {
    let errors = match serde_json::from_slice::<Input>(document) {
        Err(e) => vec![format!("cannot read the config check document: {e}")],
        Ok(input) => check(&input.policy)
            .err()
            .map(|e| e.to_string())
            .into_iter()
            .collect(),
    };
    // Serialising a struct with one list of strings cannot fail.
    serde_json::to_vec(&ConfigCheck { errors }).unwrap_or_default()
}

/// Exports a policy function as a tollgate WASM module (ABI.md, style A).
///
/// `export_policy!(evaluate)` where `evaluate` is `fn(Input) -> Output` or
/// `fn(Input) -> Result<Output, E>` with `E: Display` (see [`IntoOutput`]). Add
/// `describe = f` with `f: fn() -> Describe` to export `tollgate_describe` too, and
/// `check_config = c` with `c: fn(&PolicyInfo) -> Result<(), E>` to export
/// `tollgate_check_config` (see [`check_config_json`]), which `tollgate doctor` and
/// `tollgate policy list` run on the user's config.
///
/// On WASM targets this generates the exports `tollgate_alloc`, `tollgate_evaluate`,
/// `tollgate_abi_version` (and `tollgate_describe`, `tollgate_check_config`); on other
/// targets nothing, so the crate builds and tests natively. Use it once per crate.
///
/// ```
/// use tollgate_sdk::{Describe, Input, Output, PolicyInfo};
///
/// #[derive(Default, serde::Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// struct Config {
///     quiet: bool,
/// }
///
/// fn evaluate(input: Input) -> Result<Output, String> {
///     let config: Config = input.config()?;
///     Ok(if config.quiet { Output::allow() } else { Output::warn("looked") })
/// }
///
/// fn describe() -> Describe {
///     Describe {
///         name: "allow-all".into(),
///         version: env!("CARGO_PKG_VERSION").into(),
///         description: "Allows everything.".into(),
///         ..Describe::default()
///     }
/// }
///
/// fn check_config(policy: &PolicyInfo) -> Result<(), String> {
///     policy.config::<Config>().map(drop)
/// }
///
/// tollgate_sdk::export_policy!(evaluate, describe = describe, check_config = check_config);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_policy {
    ($evaluate:expr $(, describe = $describe:expr)? $(, check_config = $check:expr)? $(,)?) => {
        #[cfg(target_family = "wasm")]
        #[allow(unsafe_code)] // `no_mangle` exports; the unsafe reading is in the SDK.
        const _: () = {
            #[unsafe(no_mangle)]
            extern "C" fn tollgate_alloc(len: i32) -> i32 {
                $crate::abi::wasm32::alloc(len)
            }

            #[unsafe(no_mangle)]
            extern "C" fn tollgate_abi_version() -> i32 {
                $crate::abi::wasm32::abi_version()
            }

            /// # Safety
            ///
            /// Only the host calls it, after writing the input at `ptr..ptr + len`, a buffer
            /// from `tollgate_alloc` (ABI.md, call sequence).
            #[unsafe(no_mangle)]
            unsafe extern "C" fn tollgate_evaluate(ptr: i32, len: i32) -> i64 {
                // SAFETY: the host wrote the input at `ptr..ptr + len` and does not touch it
                // during the call.
                unsafe { $crate::abi::wasm32::evaluate(ptr, len, $evaluate) }
            }

            $(
                #[unsafe(no_mangle)]
                extern "C" fn tollgate_describe() -> i64 {
                    $crate::abi::wasm32::describe($describe)
                }
            )?

            $(
                /// # Safety
                ///
                /// As for `tollgate_evaluate`: the host wrote the document at
                /// `ptr..ptr + len`, a buffer from `tollgate_alloc`.
                #[unsafe(no_mangle)]
                unsafe extern "C" fn tollgate_check_config(ptr: i32, len: i32) -> i64 {
                    // SAFETY: the host wrote the document at `ptr..ptr + len` and does not
                    // touch it during the call.
                    unsafe { $crate::abi::wasm32::check_config(ptr, len, $check) }
                }
            )?
        };

        // Natively nothing is exported; refer to the functions so they are not dead code.
        #[cfg(not(target_family = "wasm"))]
        const _: () = {
            let _ = &$evaluate;
            $(let _ = &$describe;)?
            $(let _ = &$check;)?
        };
    };
}

/// The README's examples, compiled as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests;
