//! Time: Unix milliseconds as RFC 3339, and the calendar that says when days and weeks start.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};

/// An hour in ms.
pub const HOUR_MS: i64 = 3600 * 1000;

/// Unix ms → RFC 3339 (UTC, to the second).
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// When days and weeks start.
#[derive(Debug, Clone)]
pub struct Calendar {
    /// The time zone (`None`: the system's).
    pub zone: Option<chrono_tz::Tz>,
    /// The weekday the weekly window resets.
    pub week_day: Weekday,
    /// The hour (0–23, in `zone`) it resets.
    pub week_hour: u32,
}

impl Default for Calendar {
    fn default() -> Self {
        Self {
            zone: None,
            week_day: Weekday::Mon,
            week_hour: 0,
        }
    }
}

impl Calendar {
    /// Start of the day containing `now_ms`, as Unix ms.
    pub fn day_start(&self, now_ms: i64) -> i64 {
        match self.zone {
            Some(tz) => day_start_in(&tz, now_ms),
            None => day_start_in(&chrono::Local, now_ms),
        }
    }

    /// The calendar date of `ms` in this zone.
    pub fn date(&self, ms: i64) -> chrono::NaiveDate {
        match self.zone {
            Some(tz) => tz.timestamp_millis_opt(ms).unwrap().date_naive(),
            None => chrono::Local.timestamp_millis_opt(ms).unwrap().date_naive(),
        }
    }

    /// The first instant of `date` in this zone, as Unix ms.
    pub fn midnight(&self, date: chrono::NaiveDate) -> i64 {
        match self.zone {
            Some(tz) => local_midnight(&tz, date, 0),
            None => local_midnight(&chrono::Local, date, 0),
        }
    }

    /// Start of the week (the last reset at or before `now_ms`), as Unix ms.
    pub fn week_start(&self, now_ms: i64) -> i64 {
        match self.zone {
            Some(tz) => week_start_in(&tz, now_ms, self.week_day, self.week_hour),
            None => week_start_in(&chrono::Local, now_ms, self.week_day, self.week_hour),
        }
    }
}

fn local_midnight<Z: TimeZone>(zone: &Z, date: chrono::NaiveDate, hour: u32) -> i64 {
    let naive = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
    // A time skipped by a DST change: take the first instant after it.
    (0..4)
        .find_map(|h| {
            zone.from_local_datetime(&(naive + Duration::hours(h)))
                .earliest()
        })
        .map_or(0, |t| t.timestamp_millis())
}

fn day_start_in<Z: TimeZone>(zone: &Z, now_ms: i64) -> i64 {
    let now = zone.timestamp_millis_opt(now_ms).unwrap();
    local_midnight(zone, now.date_naive(), 0)
}

fn week_start_in<Z: TimeZone>(zone: &Z, now_ms: i64, day: Weekday, hour: u32) -> i64 {
    let now = zone.timestamp_millis_opt(now_ms).unwrap();
    let back = (7 + now.weekday().num_days_from_monday() - day.num_days_from_monday()) % 7;
    let start = local_midnight(zone, now.date_naive() - Duration::days(back.into()), hour);
    if start > now_ms {
        start - 7 * 24 * HOUR_MS
    } else {
        start
    }
}
