//! The limits configured for the `budget` built-in policy, read from the config so that
//! `tollgate status` and `tollgate statusline` can show usage against them.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::Config;

/// A limit in dollars and/or tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Limit {
    /// USD.
    pub usd: Option<f64>,
    /// Tokens (input + output + cache, as the policy counts them).
    pub tokens: Option<u64>,
}

impl Limit {
    /// Whether neither is set.
    pub fn is_none(&self) -> bool {
        self.usd.is_none() && self.tokens.is_none()
    }

    /// The larger of the fractions used (cost of `usd`, tokens of `tokens`), if any is set.
    pub fn fraction(&self, cost_usd: f64, tokens: u64) -> Option<f64> {
        let usd = self.usd.map(|l| cost_usd / l);
        let tokens = self.tokens.map(|l| tokens as f64 / l as f64);
        match (usd, tokens) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The budget policy's limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budgets {
    /// Per session.
    pub session: Limit,
    /// Per 5-hour block.
    pub block: Limit,
    /// Per day.
    pub day: Limit,
    /// Per week.
    pub week: Limit,
    /// Per model family: (block, week).
    pub families: BTreeMap<String, (Limit, Limit)>,
    /// On the plan's 5-hour window, percent.
    pub five_hour_percent: Option<f64>,
    /// On the plan's 7-day window, percent.
    pub seven_day_percent: Option<f64>,
    /// Plan window figures observed longer ago than this are stale (the policy ignores them).
    pub max_observation_age_minutes: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Self {
            session: Limit::default(),
            block: Limit::default(),
            day: Limit::default(),
            week: Limit::default(),
            families: BTreeMap::new(),
            five_hour_percent: None,
            seven_day_percent: None,
            max_observation_age_minutes: DEFAULT_MAX_AGE_MINUTES,
        }
    }
}

/// The policy's default `max_observation_age_minutes`.
pub const DEFAULT_MAX_AGE_MINUTES: u64 = 30;

impl Budgets {
    /// The limits of the active `budget` built-in in `config` (none when it is not
    /// configured; a value of the wrong type is skipped: the policy itself reports it).
    pub fn from_config(config: &Config) -> Self {
        let Some(policy) = config
            .active_policies()
            .into_iter()
            .rfind(|p| p.name == "budget" && p.path.is_none())
        else {
            return Self::default();
        };
        let table = &policy.config;
        let families = table.get("families").and_then(toml::Value::as_table);
        Self {
            session: limit(table, "session"),
            block: limit(table, "block"),
            day: limit(table, "day"),
            week: limit(table, "week"),
            families: families
                .into_iter()
                .flatten()
                .filter_map(|(name, family)| {
                    let family = family.as_table()?;
                    Some((
                        name.clone(),
                        (limit(family, "block"), limit(family, "week")),
                    ))
                })
                .collect(),
            five_hour_percent: number(table, "five_hour_percent"),
            seven_day_percent: number(table, "seven_day_percent"),
            max_observation_age_minutes: number(table, "max_observation_age_minutes")
                .map_or(DEFAULT_MAX_AGE_MINUTES, |m| m.max(0.0) as u64),
        }
    }
}

/// `<scope>_usd` and `<scope>_tokens` of a config table.
fn limit(table: &toml::Table, scope: &str) -> Limit {
    Limit {
        usd: number(table, &format!("{scope}_usd")),
        tokens: number(table, &format!("{scope}_tokens")).map(|t| t.max(0.0) as u64),
    }
}

/// A number (integer or float) of a config table; anything else is the policy's to report.
fn number(table: &toml::Table, key: &str) -> Option<f64> {
    match table.get(key)? {
        toml::Value::Float(f) => Some(*f),
        toml::Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_budget_policys_limits() {
        let config = Config::parse(
            r#"
            [[policy]]
            name = "budget"
            [policy.config]
            block_usd = 5.0
            week_tokens = 1000000
            warn_at = 0.7
            five_hour_percent = 90.0
            families = { opus = { week_usd = 30.0 } }
            "#,
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let budgets = Budgets::from_config(&config);
        assert_eq!(budgets.block.usd, Some(5.0));
        assert_eq!(budgets.week.tokens, Some(1_000_000));
        assert!(budgets.day.is_none());
        assert_eq!(budgets.families["opus"].1.usd, Some(30.0));
        assert_eq!(budgets.five_hour_percent, Some(90.0));
        assert_eq!(budgets.block.fraction(2.5, 0), Some(0.5));
        assert_eq!(budgets.week.fraction(0.0, 250_000), Some(0.25));
        assert_eq!(Budgets::from_config(&Config::default()), Budgets::default());
    }
}
