//! What a policy writes back: a valid output or a policy error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::hook::decide::{Decision, Output};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(output) = Output::parse(bytes) {
        if output.decision == Some(Decision::Downgrade) {
            assert!(output.model.as_deref().is_some_and(|m| !m.is_empty()));
        }
    }
});
