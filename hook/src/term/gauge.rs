//! Gauges for the terminal: Unicode bars and colours by level, shared by `tollgate status` and
//! `tollgate statusline`. Colour follows the `NO_COLOR` convention (https://no-color.org).

/// From this fraction of a limit a figure shows yellow.
pub const WARN_AT: f64 = 0.5;
/// From this fraction it shows red.
pub const HIGH_AT: f64 = 0.8;

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on.
    pub colour: bool,
}

impl Style {
    /// Colour when `wanted` (e.g. stdout is a terminal) and `NO_COLOR` is unset or empty.
    pub fn detect(wanted: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            colour: wanted && !no_color,
        }
    }

    /// `text` coloured by how full `fraction` (0–1+) is: green, yellow, red.
    pub fn level(self, fraction: f64, text: &str) -> String {
        let code = if fraction >= HIGH_AT {
            "31"
        } else if fraction >= WARN_AT {
            "33"
        } else {
            "32"
        };
        self.paint(code, text)
    }

    /// `text` dimmed (secondary information).
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// `text` in bold.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A cost in dollars of which a part may be unknown (responses of a model without a price):
/// `$1.20` when none is, `$?` when all of it is, `≥$1.20` when some is.
pub fn cost(usd: f64, some_known: bool, some_unknown: bool) -> String {
    // Below a cent, to four places: `≥$0.00` would say nothing.
    let known = if usd > 0.0 && usd < 0.01 {
        format!("${usd:.4}")
    } else {
        tollgate_sdk::util::format_usd(usd)
    };
    match (some_unknown, some_known) {
        (false, _) => known,
        (true, false) => "$?".to_owned(),
        (true, true) => format!("≥{known}"),
    }
}

/// A bar `width` cells wide filled to `fraction` (clamped to 0–1), in eighths of a cell.
pub fn bar(fraction: f64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (fraction.clamp(0.0, 1.0) * (width * 8) as f64).round() as usize;
    let (full, part) = (eighths / 8, eighths % 8);
    let mut text = "█".repeat(full);
    if full < width {
        text.push(if part == 0 { '░' } else { PARTS[part] });
        text.push_str(&"░".repeat(width - full - 1));
    }
    text
}

/// A fraction as a whole percentage, `0.237` → `24%` (under 1 never shows `100%`).
pub fn percent(fraction: f64) -> String {
    tollgate_sdk::util::format_percent(fraction.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_cost_is_never_zero() {
        assert_eq!(cost(1.2, true, false), "$1.20");
        assert_eq!(cost(0.0, false, true), "$?");
        assert_eq!(cost(1.2, true, true), "≥$1.20");
        assert_eq!(cost(0.000_22, true, true), "≥$0.0002");
    }

    #[test]
    fn bars_fill_in_eighths() {
        assert_eq!(bar(0.0, 4), "░░░░");
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(0.53, 4), "██▏░");
        assert_eq!(bar(1.7, 4), "████");
        assert_eq!(bar(f64::NAN, 2).chars().count(), 2);
    }

    #[test]
    fn colours_only_when_wanted() {
        let plain = Style { colour: false };
        assert_eq!(plain.level(0.9, "90%"), "90%");
        let colour = Style { colour: true };
        assert_eq!(colour.level(0.9, "90%"), "\x1b[31m90%\x1b[0m");
        assert_eq!(colour.level(0.6, "x"), "\x1b[33mx\x1b[0m");
        assert_eq!(colour.level(0.1, "x"), "\x1b[32mx\x1b[0m");
    }
}
