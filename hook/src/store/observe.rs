//! What Claude Code reports to its status line, recorded: the plan's real usage windows
//! (`rate_limits.five_hour`, `seven_day`; Pro/Max plans), the live context window, the model
//! and Claude Code's own session cost.
//!
//! `tollgate statusline` records each report with one small write (an UPSERT of the session's
//! latest observation and of each window's); policies see the windows as `limits`, and the
//! context limit follows the observed `context_window_size`.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use tollgate_sdk::{Limits, RateWindow};

use crate::pricing::model_key;
use crate::time::rfc3339;

/// The plan windows Claude Code reports, by their names in `rate_limits` and in the store.
pub const WINDOWS: [PlanWindow; 2] = [PlanWindow::FiveHour, PlanWindow::SevenDay];

/// One of the plan's real usage windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanWindow {
    /// The rolling 5-hour session window.
    FiveHour,
    /// The weekly window.
    SevenDay,
}

impl PlanWindow {
    /// The key in `rate_limits` (and in the store and the policy input).
    pub fn key(self) -> &'static str {
        match self {
            Self::FiveHour => "five_hour",
            Self::SevenDay => "seven_day",
        }
    }

    /// The window's length.
    pub fn length_ms(self) -> i64 {
        match self {
            Self::FiveHour => 5 * 3_600_000,
            Self::SevenDay => 7 * 24 * 3_600_000,
        }
    }
}

/// One window's figures as reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowReading {
    /// How much of the window is used, 0–100.
    pub used_percentage: f64,
    /// When it resets (Unix ms), if reported.
    pub resets_ms: Option<i64>,
    /// When it was reported (Unix ms).
    pub observed_ms: i64,
}

impl WindowReading {
    /// Whether the window has reset since it was observed.
    pub fn has_reset(&self, now_ms: i64) -> bool {
        self.resets_ms.is_some_and(|resets| resets <= now_ms)
    }

    /// The ABI form: times in RFC 3339.
    pub fn to_abi(self) -> RateWindow {
        RateWindow {
            used_percentage: self.used_percentage,
            resets_at: self.resets_ms.map(rfc3339),
            observed_at: Some(rfc3339(self.observed_ms)),
        }
    }
}

/// The latest reading of each plan window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlanReadings {
    /// `five_hour`.
    pub five_hour: Option<WindowReading>,
    /// `seven_day`.
    pub seven_day: Option<WindowReading>,
}

impl PlanReadings {
    /// The reading of `window`.
    pub fn get(&self, window: PlanWindow) -> Option<WindowReading> {
        match window {
            PlanWindow::FiveHour => self.five_hour,
            PlanWindow::SevenDay => self.seven_day,
        }
    }

    fn set(&mut self, window: PlanWindow, reading: Option<WindowReading>) {
        match window {
            PlanWindow::FiveHour => self.five_hour = reading,
            PlanWindow::SevenDay => self.seven_day = reading,
        }
    }

    /// The policy input's `limits`; `None` when no window was ever observed.
    pub fn to_abi(self) -> Option<Limits> {
        (self.five_hour.is_some() || self.seven_day.is_some()).then(|| Limits {
            five_hour: self.five_hour.map(WindowReading::to_abi),
            seven_day: self.seven_day.map(WindowReading::to_abi),
        })
    }

    /// The latest readings in the store. A turn that stopped on a rate limit after a window was
    /// reported (and before it reset) is a later reading of that window: 100 % then.
    pub fn latest(conn: &Connection) -> rusqlite::Result<Self> {
        let mut readings = Self::reported(conn)?;
        readings.add_limit_hit(conn)?;
        Ok(readings)
    }

    /// The latest readings Claude Code reported.
    fn reported(conn: &Connection) -> rusqlite::Result<Self> {
        let mut readings = Self::default();
        let mut stmt = conn.prepare_cached(
            "SELECT name, used_percentage, resets_ms, observed_ms FROM rate_limits",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let name: String = row.get(0)?;
            if let Some(window) = WINDOWS.into_iter().find(|w| w.key() == name) {
                let reading = WindowReading {
                    used_percentage: row.get(1)?,
                    resets_ms: row.get(2)?,
                    observed_ms: row.get(3)?,
                };
                readings.set(window, Some(reading));
            }
        }
        Ok(readings)
    }

    /// Counts the latest rate-limit stop as a reading of 100 % of the window it hit: the one its
    /// message names (`weekly`, `5-hour`, `session`), else the fuller of the windows reported
    /// before it. Only windows reported before the stop and not reset by then: without a
    /// reading (an API key's rate limits are per minute, not a plan's) nothing changes.
    fn add_limit_hit(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let hit: Option<(i64, Option<String>)> = conn
            .prepare_cached(
                "SELECT ts_ms, detail FROM limit_hits WHERE kind = 'rate_limit'
                 ORDER BY ts_ms DESC LIMIT 1",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((hit_ms, detail)) = hit else {
            return Ok(());
        };
        let before = |window: PlanWindow| {
            self.get(window).filter(|r| {
                r.observed_ms < hit_ms && r.resets_ms.is_none_or(|reset| hit_ms < reset)
            })
        };
        let detail = detail.unwrap_or_default().to_ascii_lowercase();
        let named = if detail.contains("week") {
            Some(PlanWindow::SevenDay)
        } else if detail.contains("5-hour") || detail.contains("session limit") {
            Some(PlanWindow::FiveHour)
        } else {
            None
        };
        let window = named.filter(|w| before(*w).is_some()).or_else(|| {
            WINDOWS
                .into_iter()
                .filter_map(|w| before(w).map(|r| (w, r.used_percentage)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(w, _)| w)
        });
        if let Some(window) = window
            && let Some(reading) = before(window)
        {
            self.set(
                window,
                Some(WindowReading {
                    used_percentage: 100.0,
                    observed_ms: hit_ms,
                    ..reading
                }),
            );
        }
        Ok(())
    }
}

/// One status-line report, as recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// `session_id` (empty: not recorded per session).
    pub session_id: String,
    /// When it was received (Unix ms).
    pub observed_ms: i64,
    /// `model.id`.
    pub model_id: Option<String>,
    /// `model.display_name`.
    pub model_name: Option<String>,
    /// The current context: `context_window.current_usage` input + cache tokens, else
    /// `total_input_tokens` (cumulative before Claude Code 2.1.132, so second choice).
    pub context_tokens: Option<u64>,
    /// `context_window.context_window_size`.
    pub context_window: Option<u64>,
    /// `cost.total_cost_usd`: Claude Code's own estimate of the session's cost.
    pub cost_usd: Option<f64>,
    /// `rate_limits.five_hour` and `seven_day` (absent for API-key users and before the
    /// first response).
    pub plan: PlanReadings,
}

impl Observation {
    /// Reads the status-line input leniently: a missing field or a wrong type is `None`.
    pub fn from_status_input(input: &Value, observed_ms: i64) -> Self {
        let str_at = |pointer: &str| {
            input
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let context = input.get("context_window");
        let current = context
            .and_then(|c| c.get("current_usage"))
            .filter(|u| u.is_object());
        let context_tokens = match current {
            Some(usage) => Some(
                [
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                ]
                .iter()
                .filter_map(|key| usage.get(key).and_then(Value::as_u64))
                .sum(),
            ),
            None => context
                .and_then(|c| c.get("total_input_tokens"))
                .and_then(Value::as_u64)
                .filter(|t| *t > 0),
        };
        let mut plan = PlanReadings::default();
        for window in WINDOWS {
            let reading = input
                .get("rate_limits")
                .and_then(|r| r.get(window.key()))
                .and_then(|w| reading(w, observed_ms));
            plan.set(window, reading);
        }
        Self {
            session_id: str_at("/session_id").unwrap_or_default(),
            observed_ms,
            model_id: str_at("/model/id"),
            model_name: str_at("/model/display_name"),
            context_tokens,
            context_window: context
                .and_then(|c| c.get("context_window_size"))
                .and_then(Value::as_u64)
                .filter(|w| *w > 0),
            cost_usd: input
                .pointer("/cost/total_cost_usd")
                .and_then(Value::as_f64)
                .filter(|c| c.is_finite() && *c >= 0.0),
            plan,
        }
    }

    /// Records the observation: the session's latest row and each reported window's (a
    /// report older than the stored one does not replace it).
    pub fn record(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        if !self.session_id.is_empty() {
            tx.prepare_cached(
                "INSERT INTO session_status (session_id, observed_ms, model_id, model_name,
                                             context_tokens, context_window, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (session_id) DO UPDATE SET
                     observed_ms = excluded.observed_ms, model_id = excluded.model_id,
                     model_name = excluded.model_name, context_tokens = excluded.context_tokens,
                     context_window = excluded.context_window, cost_usd = excluded.cost_usd
                 WHERE excluded.observed_ms >= session_status.observed_ms",
            )?
            .execute(params![
                self.session_id,
                self.observed_ms,
                self.model_id,
                self.model_name,
                self.context_tokens.map(|t| t as i64),
                self.context_window.map(|w| w as i64),
                self.cost_usd,
            ])?;
        }
        if let (Some(model), Some(window)) = (&self.model_id, self.context_window) {
            tx.prepare_cached(
                "INSERT INTO model_windows (model, context_window, observed_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (model) DO UPDATE SET
                     context_window = excluded.context_window, observed_ms = excluded.observed_ms
                 WHERE excluded.observed_ms >= model_windows.observed_ms",
            )?
            .execute(params![model, window as i64, self.observed_ms])?;
        }
        for window in WINDOWS {
            let Some(reading) = self.plan.get(window) else {
                continue;
            };
            let stored: Option<(f64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT used_percentage, resets_ms FROM rate_limits WHERE name = ?1",
                )?
                .query_row([window.key()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let changed = tx
                .prepare_cached(
                    "INSERT INTO rate_limits (name, used_percentage, resets_ms, observed_ms, session_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name) DO UPDATE SET
                         used_percentage = excluded.used_percentage, resets_ms = excluded.resets_ms,
                         observed_ms = excluded.observed_ms, session_id = excluded.session_id
                     WHERE excluded.observed_ms >= rate_limits.observed_ms",
                )?
                .execute(params![
                    window.key(),
                    reading.used_percentage,
                    reading.resets_ms,
                    reading.observed_ms,
                    (!self.session_id.is_empty()).then_some(&self.session_id),
                ])?;
            // The history keeps each change of a window's figures, not each report of them.
            if changed > 0 && stored != Some((reading.used_percentage, reading.resets_ms)) {
                tx.prepare_cached("INSERT INTO rate_limit_history VALUES (?1, ?2, ?3, ?4)")?
                    .execute(params![
                        window.key(),
                        reading.observed_ms,
                        reading.used_percentage,
                        reading.resets_ms,
                    ])?;
            }
        }
        Ok(())
    }
}

/// One window of `rate_limits`: `used_percentage` (a number) and `resets_at` (Unix seconds,
/// Unix ms, or RFC 3339).
fn reading(window: &Value, observed_ms: i64) -> Option<WindowReading> {
    let used_percentage = window
        .get("used_percentage")
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite() && *p >= 0.0)?;
    let resets_ms = match window.get("resets_at") {
        Some(Value::Number(n)) => n.as_f64().map(unix_to_ms),
        Some(Value::String(text)) => text
            .trim()
            .parse::<f64>()
            .ok()
            .map(unix_to_ms)
            .or_else(|| crate::store::ingest::parse_timestamp(text.trim())),
        _ => None,
    };
    Some(WindowReading {
        used_percentage,
        resets_ms,
        observed_ms,
    })
}

/// Unix seconds (as documented) or, for a value only milliseconds can be, Unix ms.
fn unix_to_ms(value: f64) -> i64 {
    if value > 1e11 {
        value as i64
    } else {
        (value * 1000.0) as i64
    }
}

/// The context window Claude Code last reported for `session`, if any, unless it reported it
/// for another model than `model` (the session's now; empty: unknown).
pub fn context_window(
    conn: &Connection,
    session: &str,
    model: &str,
) -> rusqlite::Result<Option<u64>> {
    let seen: Option<(Option<String>, Option<i64>)> = conn
        .prepare_cached(
            "SELECT model_id, context_window FROM session_status WHERE session_id = ?1",
        )?
        .query_row([session], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(seen
        .filter(|(seen_model, _)| {
            model.is_empty()
                || seen_model
                    .as_deref()
                    .is_none_or(|m| model_key(m) == model_key(model))
        })
        .and_then(|(_, window)| window)
        .filter(|w| *w > 0)
        .map(|w| w as u64))
}

/// The context window Claude Code last reported for `model` in any session, if any.
pub fn model_window(conn: &Connection, model: &str) -> rusqlite::Result<Option<u64>> {
    let key = model_key(model);
    let mut stmt = conn.prepare_cached(
        "SELECT model, context_window FROM model_windows ORDER BY observed_ms DESC",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if model_key(row.get_ref(0)?.as_str()?) == key {
            return Ok(Some(row.get::<_, i64>(1)?.max(0) as u64).filter(|w| *w > 0));
        }
    }
    Ok(None)
}

/// The latest status-line observation of `session`, if any (its plan readings are not
/// filled: they are account-wide, see [`PlanReadings::latest`]).
pub fn session_observation(
    conn: &Connection,
    session: &str,
) -> rusqlite::Result<Option<Observation>> {
    conn.prepare_cached(
        "SELECT observed_ms, model_id, model_name, context_tokens, context_window, cost_usd
         FROM session_status WHERE session_id = ?1",
    )?
    .query_row([session], |r| {
        Ok(Observation {
            session_id: session.to_owned(),
            observed_ms: r.get(0)?,
            model_id: r.get(1)?,
            model_name: r.get(2)?,
            context_tokens: r.get::<_, Option<i64>>(3)?.map(|t| t.max(0) as u64),
            context_window: r.get::<_, Option<i64>>(4)?.map(|w| w.max(0) as u64),
            cost_usd: r.get(5)?,
            plan: PlanReadings::default(),
        })
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    const NOW: i64 = 1_794_471_000_000; // 2026-11-12T08:10:00Z

    fn fixture() -> Value {
        serde_json::from_str(include_str!("../../tests/fixtures/statusline-input.json")).unwrap()
    }

    #[test]
    fn reads_the_documented_status_line_input() {
        let seen = Observation::from_status_input(&fixture(), NOW);
        assert_eq!(seen.session_id, "2b7c5d0e-4a1f-4c55-9a4e-3f0f7d1c9e21");
        assert_eq!(seen.model_id.as_deref(), Some("claude-opus-4-6"));
        assert_eq!(seen.model_name.as_deref(), Some("Opus"));
        assert_eq!(seen.context_tokens, Some(8500 + 5000 + 2000));
        assert_eq!(seen.context_window, Some(200_000));
        assert_eq!(seen.cost_usd, Some(0.01234));
        let five = seen.plan.five_hour.unwrap();
        assert_eq!(five.used_percentage, 23.5);
        assert_eq!(five.resets_ms, Some(1_795_000_000_000));
        assert_eq!(five.observed_ms, NOW);
        assert_eq!(seen.plan.seven_day.unwrap().used_percentage, 41.2);
    }

    #[test]
    fn missing_and_odd_fields_are_none() {
        let old = serde_json::json!({
            "session_id": "s", "model": {"display_name": "Sonnet"},
            "context_window": {"total_input_tokens": 0, "current_usage": null},
            "cost": {"total_cost_usd": "free"},
            "rate_limits": {"five_hour": {"used_percentage": null}, "seven_day": 3}
        });
        let seen = Observation::from_status_input(&old, NOW);
        assert_eq!(seen.model_id, None);
        assert_eq!(seen.context_tokens, None);
        assert_eq!(seen.cost_usd, None);
        assert_eq!(seen.plan, PlanReadings::default());
        assert_eq!(seen.plan.to_abi(), None);
        let seen = Observation::from_status_input(&Value::Null, NOW);
        assert_eq!(seen.session_id, "");
    }

    #[test]
    fn resets_at_may_be_seconds_milliseconds_or_rfc3339() {
        for resets_at in [
            serde_json::json!(1_795_000_000),
            serde_json::json!(1_795_000_000_000_i64),
            serde_json::json!("2026-11-18T11:06:40Z"),
            serde_json::json!("1795000000"),
        ] {
            let window = serde_json::json!({"used_percentage": 5, "resets_at": resets_at});
            assert_eq!(
                reading(&window, NOW).unwrap().resets_ms,
                Some(1_795_000_000_000),
                "{resets_at}"
            );
        }
    }

    #[test]
    fn a_rate_limit_stop_is_a_reading_of_100_percent() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let hit = |store: &mut Store, ms: i64, detail: &str| {
            store
                .write(|tx| {
                    crate::store::claude_code::record_limit_hit(
                        tx,
                        "s",
                        ms,
                        "rate_limit",
                        Some(detail),
                    )
                })
                .unwrap();
        };
        // No plan reported (an API key): a rate limit says nothing about plan windows.
        hit(&mut store, NOW - 60_000, "429");
        assert_eq!(
            PlanReadings::latest(store.conn()).unwrap(),
            PlanReadings::default()
        );
        // Reported (5-hour 23.5 %, 7-day 41.2 %), then a stop: the fuller window is full.
        let seen = Observation::from_status_input(&fixture(), NOW);
        store.write(|tx| seen.record(tx)).unwrap();
        hit(&mut store, NOW + 90_000, "You've hit your limit");
        let readings = PlanReadings::latest(store.conn()).unwrap();
        let week = readings.seven_day.unwrap();
        assert_eq!(
            (week.used_percentage, week.observed_ms),
            (100.0, NOW + 90_000)
        );
        assert_eq!(readings.five_hour.unwrap().used_percentage, 23.5);
        // A message that names the window decides.
        hit(&mut store, NOW + 600_000, "5-hour limit reached");
        let readings = PlanReadings::latest(store.conn()).unwrap();
        assert_eq!(readings.five_hour.unwrap().used_percentage, 100.0);
        assert_eq!(readings.seven_day.unwrap().used_percentage, 41.2);
        // Billing errors are not plan limits.
        store
            .write(|tx| {
                crate::store::claude_code::record_limit_hit(
                    tx,
                    "s",
                    NOW + 900_000,
                    "billing_error",
                    None,
                )
            })
            .unwrap();
        assert_eq!(
            PlanReadings::latest(store.conn())
                .unwrap()
                .five_hour
                .unwrap()
                .observed_ms,
            NOW + 600_000
        );
    }

    #[test]
    fn records_the_latest_observation_and_keeps_a_history_of_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("t.db")).unwrap();
        let at = |ms: i64, percent: f64| {
            let mut input = fixture();
            input["rate_limits"]["five_hour"]["used_percentage"] = percent.into();
            Observation::from_status_input(&input, ms)
        };
        // A report, the same figures again, a change, then an older report arriving late.
        let first = at(NOW, 23.5);
        for seen in [&first, &at(NOW + 1000, 23.5), &at(NOW + 2000, 30.0), &first] {
            store.write(|tx| seen.record(tx)).unwrap();
        }

        let readings = PlanReadings::latest(store.conn()).unwrap();
        assert_eq!(readings.five_hour.unwrap().used_percentage, 30.0);
        assert_eq!(readings.five_hour.unwrap().observed_ms, NOW + 2000);
        let history: i64 = store
            .conn()
            .query_row(
                "SELECT count(*) FROM rate_limit_history WHERE name = 'five_hour'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(history, 2, "23.5 then 30: unchanged reports add nothing");
        let session = session_observation(store.conn(), &first.session_id)
            .unwrap()
            .unwrap();
        assert_eq!(session.observed_ms, NOW + 2000);
        assert_eq!(
            context_window(store.conn(), &first.session_id, "").unwrap(),
            Some(200_000)
        );
        // Reported for the session's model (whatever its spelling), not for another one.
        assert_eq!(
            context_window(store.conn(), &first.session_id, "claude-opus-4-6[1m]").unwrap(),
            Some(200_000)
        );
        assert_eq!(
            context_window(store.conn(), &first.session_id, "claude-sonnet-5-5").unwrap(),
            None
        );
        assert_eq!(
            model_window(store.conn(), "us.anthropic.claude-opus-4-6-v1").unwrap(),
            Some(200_000)
        );
        assert_eq!(model_window(store.conn(), "claude-opus-5-5").unwrap(), None);
        let limits = serde_json::to_value(readings.to_abi().unwrap()).unwrap();
        assert_eq!(
            limits["five_hour"],
            serde_json::json!({
                "used_percentage": 30.0,
                "resets_at": "2026-11-18T11:06:40Z",
                "observed_at": "2026-11-12T08:10:02Z"
            })
        );
    }
}
