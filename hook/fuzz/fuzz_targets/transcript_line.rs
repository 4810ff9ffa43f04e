//! Transcript lines (JSONL), ingested into a store as a hook call does: never a panic, and
//! afterwards the store's figures are sound: no token count out of range, negative or a REAL,
//! every rollup equal to the sums of its rows, and the usage snapshot policies see readable.
//! Each input is ingested into the same empty store, in a transaction rolled back afterwards.
//! Lines about the session as a whole (Claude Code's own cost) go through the same path.
#![no_main]

use std::cell::RefCell;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tollgate::pricing::Pricing;
use tollgate::store::ingest::{Delta, ReadLimits};
use tollgate::store::usage::snapshot;
use tollgate::store::{Store, figures_out_of_range, rollup_mismatches};
use tollgate::time::Calendar;

struct Fixture {
    _dir: tempfile::TempDir,
    /// The transcript, rewritten for each input.
    transcript: PathBuf,
    store: Store,
    pricing: Pricing,
}

thread_local! {
    static FIXTURE: RefCell<Fixture> = RefCell::new({
        let dir = tempfile::tempdir().expect("a temporary directory");
        let transcript = dir.path().join("0f7c2b1e-session.jsonl");
        Fixture {
            _dir: dir,
            transcript,
            store: Store::open_in_memory().expect("a new store"),
            pricing: Pricing::bundled(),
        }
    });
}

fuzz_target!(|bytes: &[u8]| {
    let _ = tollgate::store::claude_code::parse(bytes);
    FIXTURE.with_borrow(|fixture| {
        std::fs::write(&fixture.transcript, bytes).expect("the transcript is written");
        let tx = fixture
            .store
            .conn()
            .unchecked_transaction()
            .expect("a transaction");
        let delta = Delta::read_session(&tx, &fixture.transcript, &mut ReadLimits::unlimited())
            .expect("reading fails only on the store");
        let report = delta
            .store(&tx, &fixture.pricing, 1_800_000_000_000)
            .expect("stored");
        // A store left as it was needs no check (most inputs): the checks read every row.
        if report.stored > 0 {
            assert_eq!(
                figures_out_of_range(&tx).unwrap(),
                0,
                "a figure out of range"
            );
            assert_eq!(rollup_mismatches(&tx).unwrap(), 0, "a rollup off its rows");
            for session in ["", "0f7c2b1e-session"] {
                snapshot(&tx, &Calendar::default(), session, "", 1_800_000_000_000)
                    .expect("the snapshot reads");
            }
        }
        tx.rollback().expect("rolled back");
    });
});
