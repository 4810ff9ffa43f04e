//! Step timings of one hook call, printed to stderr when `TOLLGATE_LOG=timing`.

use std::time::Instant;

/// Records how long each step of a hook call took.
pub struct Timings {
    enabled: bool,
    started: Instant,
    last: Instant,
    steps: Vec<(&'static str, u128)>,
}

impl Timings {
    /// Starts timing from `started` (the process start); records only when
    /// `TOLLGATE_LOG=timing`.
    pub fn new(started: Instant) -> Self {
        Self {
            enabled: enabled(),
            started,
            last: started,
            steps: Vec::new(),
        }
    }

    /// Marks the end of `step`.
    pub fn step(&mut self, step: &'static str) {
        if self.enabled {
            let now = Instant::now();
            self.steps
                .push((step, now.duration_since(self.last).as_micros()));
            self.last = now;
        }
    }

    /// The steps as one line, if enabled: `open 210µs, ingest 80µs, … total 1200µs`.
    pub fn summary(&self) -> Option<String> {
        self.enabled.then(|| {
            let steps: Vec<String> = self
                .steps
                .iter()
                .map(|(s, us)| format!("{s} {us}µs"))
                .collect();
            format!(
                "timing: {}; total {}µs",
                steps.join(", "),
                self.started.elapsed().as_micros()
            )
        })
    }
}

/// Whether `TOLLGATE_LOG=timing`.
fn enabled() -> bool {
    std::env::var_os("TOLLGATE_LOG").is_some_and(|v| v == "timing")
}
