//! Estimates calibrated by observations: how the usage recorded on this machine relates to the
//! percentage of a plan window Claude Code reports, and so roughly how much is left.
//!
//! Basis: the tokens and cost recorded in the window (`resets_at` minus its length, up to the
//! observation) against the percentage observed then. Extrapolated to 100 %, minus what has
//! been recorded since the window started, that is what is left. An estimate only: the plan
//! weighs models differently, and counts other machines and claude.ai use this store never sees.

use rusqlite::Connection;
use serde::Serialize;

use crate::store::observe::{PlanWindow, WindowReading};

/// Below this observed percentage the ratio is too coarse to extrapolate from.
pub const MIN_PERCENT: f64 = 1.0;

/// Tokens and cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spend {
    /// All tokens (input + output + cache writes + cache reads).
    pub tokens: u64,
    /// USD of the priced responses.
    pub cost_usd: f64,
}

/// One window's calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// `five_hour` or `seven_day`.
    pub window: &'static str,
    /// The observed percentage the estimate is based on.
    pub observed_percent: f64,
    /// When it was observed (RFC 3339).
    pub observed_at: String,
    /// What was recorded in the window up to the observation.
    pub basis: Spend,
    /// What has been recorded in the window up to now.
    pub used: Spend,
    /// The percentage `used` amounts to at the basis's rate.
    pub estimated_percent: f64,
    /// What is left before 100 %, at that rate.
    pub left: Spend,
}

/// Calibrates `window` from its latest `reading`; `None` when it cannot: no reset time, the
/// window has reset since, too small a percentage, or nothing recorded in it.
pub fn calibrate(
    conn: &Connection,
    window: PlanWindow,
    reading: &WindowReading,
    now_ms: i64,
) -> rusqlite::Result<Option<Calibration>> {
    let Some(resets_ms) = reading.resets_ms.filter(|r| *r > now_ms) else {
        return Ok(None);
    };
    if reading.used_percentage < MIN_PERCENT {
        return Ok(None);
    }
    let start = resets_ms - window.length_ms();
    let basis = spend(conn, start, reading.observed_ms)?;
    if basis.tokens == 0 {
        return Ok(None);
    }
    let used = spend(conn, start, now_ms)?;
    let percent = reading.used_percentage;
    // Cost reflects the plan's weighting of models better than raw tokens; tokens only when
    // nothing recorded has a price.
    let scale = if basis.cost_usd > 0.0 {
        used.cost_usd / basis.cost_usd
    } else {
        used.tokens as f64 / basis.tokens as f64
    };
    let estimated_percent = percent * scale;
    let remaining = ((100.0 - estimated_percent) / percent).max(0.0);
    Ok(Some(Calibration {
        window: window.key(),
        observed_percent: percent,
        observed_at: crate::time::rfc3339(reading.observed_ms),
        basis,
        used,
        estimated_percent,
        left: Spend {
            tokens: (basis.tokens as f64 * remaining) as u64,
            cost_usd: basis.cost_usd * remaining,
        },
    }))
}

/// What was recorded from `from_ms` to `to_ms` (inclusive).
fn spend(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Spend> {
    conn.prepare_cached(
        "SELECT sum(input_tokens + output_tokens + cache_write_5m + cache_write_1h
                    + cache_read_tokens),
                sum(cost_usd)
         FROM usage WHERE ts_ms >= ?1 AND ts_ms <= ?2",
    )?
    .query_row([from_ms, to_ms], |r| {
        Ok(Spend {
            tokens: r.get::<_, Option<i64>>(0)?.unwrap_or(0).max(0) as u64,
            cost_usd: r.get::<_, Option<f64>>(1)?.unwrap_or(0.0),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{Pricing, Tokens};
    use crate::store::Store;
    use crate::store::ingest::{Entry, store_entry};

    const HOUR: i64 = 3_600_000;
    const T0: i64 = 1_794_448_800_000; // 2026-11-12T02:00:00Z

    fn store_with(responses: &[(i64, u64)]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let pricing = Pricing::bundled();
        store
            .write(|tx| {
                for (n, (ts_ms, output)) in responses.iter().enumerate() {
                    let entry = Entry {
                        message_id: format!("m{n}"),
                        request_id: format!("r{n}"),
                        ts_ms: *ts_ms,
                        session_id: "s".into(),
                        project: "/p".into(),
                        model: "claude-sonnet-4-5".into(),
                        sidechain: false,
                        agent_id: None,
                        tokens: Tokens {
                            output: *output,
                            ..Tokens::default()
                        },
                    };
                    store_entry(tx, &pricing, &entry)?;
                }
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    #[test]
    fn extrapolates_what_is_left_from_the_observed_percentage() {
        // 100k output tokens ($1.50 at Sonnet's $15/M) observed as 20 %, then 50k more.
        let (_dir, store) = store_with(&[(T0 + HOUR, 100_000), (T0 + 3 * HOUR, 50_000)]);
        let reading = WindowReading {
            used_percentage: 20.0,
            resets_ms: Some(T0 + 5 * HOUR),
            observed_ms: T0 + 2 * HOUR,
        };
        let c = calibrate(store.conn(), PlanWindow::FiveHour, &reading, T0 + 4 * HOUR)
            .unwrap()
            .unwrap();
        assert_eq!(c.basis.tokens, 100_000);
        assert_eq!(c.used.tokens, 150_000);
        assert!((c.estimated_percent - 30.0).abs() < 1e-9);
        // 70 % left at 5k tokens ($0.075) per percent.
        assert_eq!(c.left.tokens, 350_000);
        assert!((c.left.cost_usd - 5.25).abs() < 1e-9, "{}", c.left.cost_usd);
    }

    #[test]
    fn needs_a_current_window_and_a_basis() {
        let (_dir, store) = store_with(&[(T0 + HOUR, 100_000)]);
        let reading = WindowReading {
            used_percentage: 20.0,
            resets_ms: Some(T0 + 5 * HOUR),
            observed_ms: T0 + 2 * HOUR,
        };
        let at = |now, reading: &WindowReading| {
            calibrate(store.conn(), PlanWindow::FiveHour, reading, now).unwrap()
        };
        assert!(at(T0 + 6 * HOUR, &reading).is_none(), "reset since");
        let tiny = WindowReading {
            used_percentage: 0.5,
            ..reading
        };
        assert!(at(T0 + 3 * HOUR, &tiny).is_none(), "too coarse");
        let early = WindowReading {
            observed_ms: T0 + HOUR / 2,
            ..reading
        };
        assert!(at(T0 + 3 * HOUR, &early).is_none(), "nothing recorded yet");
        let unknown_reset = WindowReading {
            resets_ms: None,
            ..reading
        };
        assert!(at(T0 + 3 * HOUR, &unknown_reset).is_none());
    }
}
