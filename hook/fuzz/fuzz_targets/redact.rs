//! Secrets redaction of recorded tool input: any text, never a panic, and applying it twice
//! changes nothing more.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::hook::redact::redact;

fuzz_target!(|text: &str| {
    let once = redact(text);
    assert_eq!(redact(&once), once);
});
