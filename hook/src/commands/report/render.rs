//! How report figures are written for people (tables) and for scripts (JSON, CSV).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use crate::store::usage::Totals;

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1234567` → `1.2M`, `45300` → `45.3k`: short token counts for narrow columns.
pub fn short(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A duration in minutes as `2h 05m` (or `45m`).
pub fn minutes(total: i64) -> String {
    let total = total.max(0);
    match (total / 60, total % 60) {
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

/// USD with cents (or more digits below a cent).
pub fn usd(value: f64) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("${value:.4}")
    } else {
        format!("${value:.2}")
    }
}

/// The cost of `totals`: `$1.23`, `unknown` when nothing had a price, `$1.23 + 4 unpriced`
/// when some responses had none.
pub fn cost(totals: &Totals) -> String {
    match totals.cost() {
        None => "unknown".to_owned(),
        Some(c) if totals.unpriced > 0 => format!("{} + {} unpriced", usd(c), totals.unpriced),
        Some(c) => usd(c),
    }
}

/// `claude-opus-4-5-20251101` → `opus-4-5`: a model id without `claude-` and its date.
pub fn short_model(model: &str) -> String {
    let id = model.strip_prefix("claude-").unwrap_or(model);
    id.split('-')
        .filter(|part| !(part.len() == 8 && part.bytes().all(|b| b.is_ascii_digit())))
        .collect::<Vec<_>>()
        .join("-")
}

/// A right-aligned table cell.
pub fn num(text: impl Into<String>) -> Cell {
    Cell::new(text.into()).set_alignment(CellAlignment::Right)
}

/// The line under a table that says which models had no price (nothing when all had one).
pub fn unpriced_note(models: &BTreeSet<String>) -> Option<String> {
    (!models.is_empty()).then(|| {
        format!(
            "no price known for {}: their cost is left out (\"unpriced\"). Add it under [prices] in the config.",
            crate::text::printable(&models.iter().cloned().collect::<Vec<_>>().join(", "))
        )
    })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    // Buffered: stdout alone flushes every line, a write(2) per line of pretty JSON.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // As an I/O error, so a closed pipe (`| head`) ends quietly.
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints `header` and `rows` as CSV on stdout.
pub fn print_csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Result<()> {
    let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
    writer.write_record(header).map_err(std::io::Error::from)?;
    for row in rows {
        writer.write_record(&row).map_err(std::io::Error::from)?;
    }
    writer.flush()?;
    Ok(())
}

/// The CSV columns of [`totals_fields`].
pub const TOTALS_HEADER: [&str; 8] = [
    "messages",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "total_tokens",
    "cost_usd",
    "unpriced_messages",
];

/// `totals` as CSV fields (the cost empty when unknown).
pub fn totals_fields(t: &Totals) -> [String; 8] {
    [
        t.messages.to_string(),
        t.tokens.input.to_string(),
        t.tokens.output.to_string(),
        t.tokens.cache_write().to_string(),
        t.tokens.cache_read.to_string(),
        t.tokens.total().to_string(),
        t.cost().map(|c| c.to_string()).unwrap_or_default(),
        t.unpriced.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_models() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(short(45_300), "45.3k");
        assert_eq!(usd(0.004), "$0.0040");
        assert_eq!(minutes(125), "2h 05m");
        assert_eq!(minutes(45), "45m");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(short_model("claude-opus-4-5-20251101"), "opus-4-5");
        assert_eq!(short_model("claude-sonnet-4-6"), "sonnet-4-6");
        assert_eq!(short_model("claude-opus-4-6-fast"), "opus-4-6-fast");
        assert_eq!(
            short_model("claude-opus-4-1-20250805-fast"),
            "opus-4-1-fast"
        );
    }

    #[test]
    fn unknown_cost_is_never_zero() {
        let mut t = Totals {
            messages: 3,
            unpriced: 3,
            ..Totals::default()
        };
        assert_eq!(cost(&t), "unknown");
        t.messages = 4;
        t.cost_usd = 1.5;
        assert_eq!(cost(&t), "$1.50 + 3 unpriced");
        assert_eq!(cost(&Totals::default()), "$0.00");
    }
}
