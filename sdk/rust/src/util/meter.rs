use std::fmt;

use super::{format_percent, format_tokens, format_usd};
use crate::{RateWindow, Window};

/// One figure measured against a limit, e.g. the block's cost against a budget. Its
/// `Display` is the human sentence: `5-hour block cost $4.10 of $5.00 budget (82%)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    label: String,
    used: f64,
    limit: f64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    /// Dollars; `unpriced` messages make the figure a lower bound.
    Usd {
        unpriced: u64,
    },
    Tokens,
    /// A plan window's percentage.
    Percent,
}

impl Meter {
    /// A window's cost against a budget in dollars.
    pub fn cost(label: impl Into<String>, window: &Window, limit_usd: f64) -> Self {
        Self {
            label: label.into(),
            used: window.cost_usd,
            limit: limit_usd,
            unit: Unit::Usd {
                unpriced: window.unpriced_messages,
            },
        }
    }

    /// A window's total tokens against a budget.
    pub fn tokens(label: impl Into<String>, window: &Window, limit: u64) -> Self {
        Self {
            label: label.into(),
            used: window.total_tokens as f64,
            limit: limit as f64,
            unit: Unit::Tokens,
        }
    }

    /// A plan window's used percentage against a limit in percent.
    pub fn plan(label: impl Into<String>, window: &RateWindow, limit_percent: f64) -> Self {
        Self {
            label: label.into(),
            used: window.used_percentage,
            limit: limit_percent,
            unit: Unit::Percent,
        }
    }

    /// Used over limit: 1.0 at the limit. Infinite for a zero limit.
    pub fn ratio(&self) -> f64 {
        self.used / self.limit
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (label, ratio) = (&self.label, format_percent(self.ratio()));
        match self.unit {
            Unit::Usd { unpriced: 0 } => {
                let (used, limit) = (format_usd(self.used), format_usd(self.limit));
                write!(f, "{label} cost {used} of {limit} budget ({ratio})")
            }
            Unit::Usd { unpriced } => {
                let (used, limit) = (format_usd(self.used), format_usd(self.limit));
                let messages = if unpriced == 1 { "message" } else { "messages" };
                write!(
                    f,
                    "{label} cost at least {used} of {limit} budget ({ratio}; \
                     {unpriced} {messages} without a price)"
                )
            }
            Unit::Tokens => {
                let (used, limit) = (
                    format_tokens(self.used as u64),
                    format_tokens(self.limit as u64),
                );
                write!(f, "{label} used {used} of {limit} tokens ({ratio})")
            }
            Unit::Percent => {
                let (used, limit) = (
                    format_percent(self.used / 100.0),
                    format_percent(self.limit / 100.0),
                );
                write!(f, "{label} {used} used (limit {limit})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Meter;
    use crate::{RateWindow, Window};

    #[test]
    fn sentences() {
        let window = Window {
            cost_usd: 4.1,
            total_tokens: 1_200_000,
            ..Window::default()
        };
        let cost = Meter::cost("5-hour block", &window, 5.0);
        assert_eq!(
            cost.to_string(),
            "5-hour block cost $4.10 of $5.00 budget (82%)"
        );
        assert!((cost.ratio() - 0.82).abs() < 1e-9);
        assert_eq!(
            Meter::tokens("week", &window, 1_500_000).to_string(),
            "week used 1.2M of 1.5M tokens (80%)"
        );
        let plan = RateWindow {
            used_percentage: 92.4,
            ..RateWindow::default()
        };
        assert_eq!(
            Meter::plan("plan 5-hour window", &plan, 90.0).to_string(),
            "plan 5-hour window 92% used (limit 90%)"
        );
    }

    #[test]
    fn unpriced_cost_is_a_lower_bound() {
        let window = Window {
            cost_usd: 5.5,
            unpriced_messages: 1,
            ..Window::default()
        };
        assert_eq!(
            Meter::cost("session", &window, 5.0).to_string(),
            "session cost at least $5.50 of $5.00 budget (110%; 1 message without a price)"
        );
    }
}
