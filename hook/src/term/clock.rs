//! The current time for `tollgate status` and `tollgate statusline`, which tests (and anyone
//! reproducing a display) can pin with `TOLLGATE_NOW`.

/// The environment variable that pins "now": RFC 3339 (`2026-11-12T07:30:00Z`) or Unix ms.
pub const NOW_ENV: &str = "TOLLGATE_NOW";

/// The current time in Unix ms: `$TOLLGATE_NOW` when set and valid, else the system clock.
pub fn now_ms() -> i64 {
    std::env::var(NOW_ENV)
        .ok()
        .and_then(|text| parse(&text))
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
}

fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    text.parse::<i64>()
        .ok()
        .or_else(|| crate::store::ingest::parse_timestamp(text))
}

#[cfg(test)]
mod tests {
    #[test]
    fn accepts_rfc3339_and_unix_ms() {
        assert_eq!(
            super::parse("2026-11-12T02:00:00Z"),
            Some(1_794_448_800_000)
        );
        assert_eq!(super::parse(" 1794448800000 "), Some(1_794_448_800_000));
        assert_eq!(super::parse("soon"), None);
    }
}
