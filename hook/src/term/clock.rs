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

/// A duration such as `90s`, `30m`, `2h`, `1h30m`, `7d` or `2w`, in seconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let mut rest = text.trim();
    let mut seconds: i64 = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        seconds = seconds.checked_add(n.checked_mul(scale)?)?;
        rest = &rest[digits + 1..];
    }
    Some(seconds)
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

    #[test]
    fn durations_in_units_and_combinations() {
        use super::parse_duration;
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("2w"), Some(1_209_600));
        for bad in ["", "30", "m", "3y", "1h30", "-5m", "99999999999999999999w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
