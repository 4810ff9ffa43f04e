//! Figures for humans. Integer arithmetic only: float formatting would add ~20 KiB to every
//! policy's WASM.

/// US dollars with cents: `$4.10`. Negative amounts show as `$0.00`.
pub fn format_usd(usd: f64) -> String {
    let cents = (usd * 100.0).round() as u64;
    format!("${}.{:02}", cents / 100, cents % 100)
}

/// A ratio as a whole percentage: `0.824` → `82%`. Below 1 it shows at most `99%`, so that
/// a figure under its limit never reads as `100%`.
pub fn format_percent(ratio: f64) -> String {
    let percent = (ratio * 100.0).round() as u64;
    let percent = if ratio < 1.0 {
        percent.min(99)
    } else {
        percent
    };
    format!("{percent}%")
}

/// A token count, compact: `812`, `91.2k`, `25k`, `1.5M`.
pub fn format_tokens(tokens: u64) -> String {
    if tokens < 1000 {
        return tokens.to_string();
    }
    let (tenths, suffix) = match tokens.saturating_add(50) / 100 {
        tenths if tenths < 10_000 => (tenths, "k"),
        _ => (tokens.saturating_add(50_000) / 100_000, "M"),
    };
    match tenths % 10 {
        0 => format!("{}{suffix}", tenths / 10),
        tenth => format!("{}.{tenth}{suffix}", tenths / 10),
    }
}

/// A duration, to the minute: `3d 4h`, `1h 23m`, `5m` (at least `1m`; negative is `1m`).
pub fn format_duration(seconds: i64) -> String {
    let minutes = seconds.max(60) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd() {
        assert_eq!(format_usd(4.1), "$4.10");
        assert_eq!(format_usd(0.0), "$0.00");
        assert_eq!(format_usd(0.004), "$0.00");
        assert_eq!(format_usd(0.005), "$0.01");
        assert_eq!(format_usd(1234.567), "$1234.57");
        assert_eq!(format_usd(-3.0), "$0.00");
    }

    #[test]
    fn percent() {
        assert_eq!(format_percent(0.82), "82%");
        assert_eq!(format_percent(0.8249), "82%");
        assert_eq!(format_percent(1.026), "103%");
        assert_eq!(format_percent(0.999), "99%");
        assert_eq!(format_percent(1.0), "100%");
        assert_eq!(format_percent(0.0), "0%");
    }

    #[test]
    fn tokens() {
        assert_eq!(format_tokens(0), "0");
        assert_eq!(format_tokens(999), "999");
        assert_eq!(format_tokens(1000), "1k");
        assert_eq!(format_tokens(25_000), "25k");
        assert_eq!(format_tokens(91_234), "91.2k");
        assert_eq!(format_tokens(999_949), "999.9k");
        assert_eq!(format_tokens(999_950), "1M");
        assert_eq!(format_tokens(1_500_000), "1.5M");
        assert_eq!(format_tokens(123_456_789), "123.5M");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(-5), "1m");
        assert_eq!(format_duration(59), "1m");
        assert_eq!(format_duration(5 * 60 + 59), "5m");
        assert_eq!(format_duration(83 * 60), "1h 23m");
        assert_eq!(format_duration(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
    }
}
