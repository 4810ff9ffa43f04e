//! RFC 3339 timestamps, without a date-time dependency.

/// Parses an RFC 3339 timestamp, `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, into unix seconds
/// (fractions are dropped). `t`, `z` and a space separator are accepted, as RFC 3339 allows.
/// `None` when the text is not such a timestamp or names an impossible date.
///
/// ```
/// use tollgate_sdk::time::parse_rfc3339;
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
/// assert_eq!(parse_rfc3339("2026-11-12T08:27:09.5+01:00"), parse_rfc3339("2026-11-12T07:27:09Z"));
/// ```
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    // 60 is a leap second.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }

    let mut rest = &b[19..];
    if let Some((b'.', fraction)) = rest.split_first() {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        rest = &fraction[len..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (hours, minutes) = (digits(rest, 1, 2)?, digits(rest, 4, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// The number at `b[start..start + len]`, all ASCII digits.
fn digits(b: &[u8], start: usize, len: usize) -> Option<i64> {
    b.get(start..start + len)?.iter().try_fold(0, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339;

    #[test]
    fn utc_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(parse_rfc3339("2026-11-12T07:27:09Z"), Some(1_794_468_429));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00Z"), Some(1_709_208_000));
    }

    #[test]
    fn offsets_fractions_and_separators() {
        let utc = parse_rfc3339("2026-11-12T07:27:09Z");
        assert_eq!(parse_rfc3339("2026-11-12T08:27:09+01:00"), utc);
        assert_eq!(parse_rfc3339("2026-11-12T02:57:09-04:30"), utc);
        assert_eq!(parse_rfc3339("2026-11-12T07:27:09.999Z"), utc);
        assert_eq!(parse_rfc3339("2026-11-12T07:27:09.123456789+00:00"), utc);
        assert_eq!(parse_rfc3339("2026-11-12t07:27:09z"), utc);
        assert_eq!(parse_rfc3339("2026-11-12 07:27:09Z"), utc);
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2017-01-01T00:00:00Z")
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for text in [
            "",
            "2026-11-12",
            "2026-11-12T07:27:09",
            "2026-11-12T07:27Z",
            "2026-11-12T07:27:09.Z",
            "2026-11-12T07:27:09+0100",
            "2026-11-12T07:27:09+01:00x",
            "2026-11-12T07:27:09ZZ",
            "2026-13-12T07:27:09Z",
            "2026-00-12T07:27:09Z",
            "2026-02-29T07:27:09Z",
            "2026-04-31T07:27:09Z",
            "2026-11-00T07:27:09Z",
            "2026-11-12T24:00:00Z",
            "2026-11-12T07:60:00Z",
            "2026-11-12T07:27:61Z",
            "2026-11-12T07:27:09+24:00",
            "2026-11-12X07:27:09Z",
            "2026-1a-12T07:27:09Z",
            "+026-11-12T07:27:09Z",
            "2026-11-12T07:27:09\u{e9}",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text:?}");
        }
    }
}
