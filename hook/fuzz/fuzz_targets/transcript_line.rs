//! One line of a session transcript (JSONL): an entry, a line about the session, nothing, or an
//! error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = tollgate::store::ingest::parse_line(bytes);
    let _ = tollgate::store::claude_code::parse(bytes);
});
