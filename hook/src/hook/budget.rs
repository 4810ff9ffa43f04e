//! How long each step of a hook call may take.
//!
//! Claude Code waits for a hook up to its `timeout` (10 s as `tollgate install` registers it)
//! and then goes on as if it had allowed: a hook that overruns turns any enforcement off. So a
//! call has a budget, [`CALL`] from the process's start, and every step that could wait is
//! bounded, by its own limit and by what the budget has left:
//!
//! | step | bound |
//! |---|---|
//! | the input on stdin | [`STDIN`] for all of it to arrive (and at most 64 MiB) |
//! | the configs and the trust list | regular files of at most 1 MiB, opened without blocking |
//! | opening the store | [`LOCK`] for another process's lock |
//! | the transcripts' new lines | 8 MiB and 20,000 lines, and [`TRANSCRIPTS`], after a wait of at most [`TRANSCRIPTS`] for another call of the session to store the same lines |
//! | recording them with the event | [`LOCK`] for the write lock, then the event waits for the answer |
//! | the usage snapshot | [`LOCK`] (a reader waits only while the log is recovered) |
//! | compiling a policy's module (once; then cached) | until the budget has [`RECORD`] left; past it, compiled in the background |
//! | each policy in the sandbox | its own `time_ms`, and only while the budget has that, and [`RECORD`] |
//! | recording the answer | [`LOCK`] for the write lock, then the record is spooled |
//!
//! A wait that runs out never loses the call's record: it is written with the answer, or
//! spooled for the next call (`store::spool`). A policy the budget has no time left for is not
//! run: it fails, per its `on_error`.

use std::time::{Duration, Instant};

/// The whole call, from the process's start.
pub const CALL: Duration = Duration::from_secs(7);

/// For the hook input to arrive on stdin, whole (Claude Code writes it at once).
pub const STDIN: Duration = Duration::from_secs(2);

/// For another process's lock on the store, each time.
pub const LOCK: Duration = Duration::from_secs(1);

/// For reading the transcripts' new lines.
pub const TRANSCRIPTS: Duration = Duration::from_secs(1);

/// Kept back by the waits before the policies, for the policies and for recording the answer
/// (its wait for the lock, and a spool file).
pub const ANSWER: Duration = Duration::from_millis(1250);

/// Kept back by the policies (and the compiling of their modules), for recording the answer:
/// in the store if the lock comes at once, else in a spool file.
pub const RECORD: Duration = Duration::from_millis(250);

/// The time a call has left.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    /// The budget of a call that started at `started`.
    pub fn new(started: Instant) -> Self {
        Self {
            end: started + CALL,
        }
    }

    /// The time left.
    pub fn left(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// `step`, or less: what is left once `reserve` is kept back (none when nothing is).
    pub fn within(&self, step: Duration, reserve: Duration) -> Duration {
        step.min(self.left().saturating_sub(reserve))
    }

    /// When the time left will be `reserve`.
    pub fn before(&self, reserve: Duration) -> Instant {
        self.end.checked_sub(reserve).unwrap_or(self.end)
    }

    /// Whether `step` still fits, with `reserve` kept back.
    pub fn has(&self, step: Duration, reserve: Duration) -> bool {
        self.left() >= step + reserve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_gets_what_is_left_after_the_reserve() {
        let fresh = Deadline::new(Instant::now());
        assert_eq!(fresh.within(LOCK, ANSWER), LOCK);
        assert!(fresh.has(Duration::from_millis(50), ANSWER));
        let late = Deadline::new(Instant::now() - CALL + Duration::from_millis(1500));
        assert!(late.within(LOCK, ANSWER) <= Duration::from_millis(250));
        assert!(!late.has(Duration::from_millis(500), ANSWER));
        let spent = Deadline::new(Instant::now() - CALL - Duration::from_secs(1));
        assert_eq!(spent.left(), Duration::ZERO);
        assert_eq!(spent.within(LOCK, Duration::ZERO), Duration::ZERO);
    }
}
