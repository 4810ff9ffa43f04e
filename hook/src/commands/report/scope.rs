//! What a report covers (time range, project, time zone) and how it is printed.

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::Connection;

use crate::commands::StoreArgs;
use crate::config::Config;
use crate::pricing::Pricing;
use crate::store::Store;
use crate::store::cells::Selection;
use crate::time::Calendar;

/// The range, project and time zone options every report takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Scope {
    /// From this day (YYYY-MM-DD or YYYYMMDD, in --timezone), time (RFC 3339) or age (12h, 7d).
    #[arg(long, short)]
    pub since: Option<String>,
    /// Up to and including this day (YYYY-MM-DD or YYYYMMDD), or up to this time or age.
    #[arg(long, short)]
    pub until: Option<String>,
    /// Only this project: its directory, its last path component, or Claude's folder name for
    /// it (`-home-me-proj`).
    #[arg(long, short, allow_hyphen_values = true)]
    pub project: Option<String>,
    /// IANA time zone for days, weeks, months and times, e.g. Europe/Paris (default: the
    /// config's [windows] timezone, else the system's).
    #[arg(long, short = 'z')]
    pub timezone: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// Output format options.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Format {
    /// Print JSON (ccusage's field names where it has the same report).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (one header line, one line per row).
    #[arg(long)]
    pub csv: bool,
}

/// A resolved [`Scope`]: what the queries filter on.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Inclusive start, Unix ms.
    pub since_ms: Option<i64>,
    /// Exclusive end, Unix ms.
    pub until_ms: Option<i64>,
    /// The stored project names the `--project` option matched (`None`: every project).
    pub projects: Option<Vec<String>>,
    /// Days, weeks and months.
    pub calendar: Calendar,
    /// The report's "now".
    pub now_ms: i64,
}

/// An open store with the config's prices, and the resolved filter.
pub struct Opened {
    /// The store.
    pub store: Store,
    /// Prices (bundled plus the config's).
    pub pricing: Pricing,
    /// The filter.
    pub filter: Filter,
}

impl Scope {
    /// Opens the store and resolves the options against it.
    pub fn open(&self) -> Result<Opened> {
        let (store, config) = self.store.open_with_config()?;
        let filter = self.resolve(store.conn(), &config, Utc::now())?;
        Ok(Opened {
            store,
            pricing: Pricing::with_overrides(&config.prices),
            filter,
        })
    }

    /// Resolves the options at `now`.
    pub fn resolve(
        &self,
        conn: &Connection,
        config: &Config,
        now: DateTime<Utc>,
    ) -> Result<Filter> {
        let mut calendar = config.calendar()?;
        if let Some(name) = &self.timezone {
            calendar.zone = Some(name.parse::<chrono_tz::Tz>().map_err(|_| {
                anyhow::anyhow!(
                    "unknown time zone \"{name}\": use an IANA name such as Europe/Paris or UTC"
                )
            })?);
        }
        let since_ms = self
            .since
            .as_deref()
            .map(|t| parse_bound(t, &calendar, now, false))
            .transpose()?;
        let until_ms = self
            .until
            .as_deref()
            .map(|t| parse_bound(t, &calendar, now, true))
            .transpose()?;
        let projects = self
            .project
            .as_deref()
            .map(|p| match_projects(conn, p))
            .transpose()?;
        Ok(Filter {
            since_ms,
            until_ms,
            projects,
            calendar,
            now_ms: now.timestamp_millis(),
        })
    }
}

/// A `--since`/`--until` value as Unix ms: a day is its first instant (for `--until`, the
/// first instant of the next day, the bound being exclusive).
pub fn parse_bound(
    text: &str,
    calendar: &Calendar,
    now: DateTime<Utc>,
    until: bool,
) -> Result<i64> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"));
    if let Ok(date) = date {
        let day = if until {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        return Ok(calendar.midnight(day));
    }
    Ok(crate::commands::log::parse_since(text, now)?.timestamp_millis())
}

/// The stored projects `wanted` names: the directory itself, its last component, or Claude's
/// folder name for it (every character but letters, digits and `-` becomes `-`).
fn match_projects(conn: &Connection, wanted: &str) -> Result<Vec<String>> {
    let known = crate::store::events::projects(conn)?;
    let wanted = wanted.trim_end_matches('/');
    let matched: Vec<String> = known
        .iter()
        .filter(|p| {
            let p = p.trim_end_matches('/');
            p == wanted || p.rsplit('/').next() == Some(wanted) || claude_folder_name(p) == wanted
        })
        .cloned()
        .collect();
    if matched.is_empty() {
        let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
        names.truncate(20);
        bail!(
            "no usage recorded for project \"{wanted}\"; known projects: {}",
            if names.is_empty() {
                "none yet (run `tollgate import`)".to_owned()
            } else {
                names.join(", ")
            }
        );
    }
    Ok(matched)
}

/// The folder Claude Code keeps a project's transcripts in: `/home/me/my.proj` →
/// `-home-me-my-proj`.
pub fn claude_folder_name(project: &str) -> String {
    project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

impl Filter {
    /// The filter's range as `[since, until)` in ms, open ends made explicit.
    pub fn range(&self) -> (i64, i64) {
        (
            self.since_ms.unwrap_or(i64::MIN),
            self.until_ms.unwrap_or(i64::MAX),
        )
    }

    /// The range and projects, as the store's queries take them.
    pub fn selection(&self) -> Selection<'_> {
        let (since_ms, until_ms) = self.range();
        Selection {
            since_ms,
            until_ms,
            projects: self.projects.as_deref(),
        }
    }

    /// `ms` formatted with `format` in the report's time zone.
    pub fn local(&self, ms: i64, format: &str) -> String {
        match self.calendar.zone {
            Some(tz) => tz
                .timestamp_millis_opt(ms)
                .unwrap()
                .format(format)
                .to_string(),
            None => chrono::Local
                .timestamp_millis_opt(ms)
                .unwrap()
                .format(format)
                .to_string(),
        }
    }
}

/// `ms` as ccusage writes times: `2026-06-01T10:00:00.000Z`.
pub fn rfc3339_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    pub(crate) use crate::store::usage::tests::{entry, store_with};

    /// A filter over everything, in UTC.
    pub(crate) fn everything() -> Filter {
        Filter {
            since_ms: None,
            until_ms: None,
            projects: None,
            calendar: Calendar {
                zone: Some(chrono_tz::UTC),
                ..Calendar::default()
            },
            now_ms: 0,
        }
    }

    fn calendar(zone: &str) -> Calendar {
        Calendar {
            zone: Some(zone.parse().unwrap()),
            ..Calendar::default()
        }
    }

    #[test]
    fn days_are_local_and_until_is_inclusive() {
        let now = Utc::now();
        let paris = calendar("Europe/Paris");
        let since = parse_bound("2026-11-12", &paris, now, false).unwrap();
        assert_eq!(rfc3339_millis(since), "2026-11-11T23:00:00.000Z");
        let until = parse_bound("20261112", &paris, now, true).unwrap();
        assert_eq!(rfc3339_millis(until), "2026-11-12T23:00:00.000Z");
        let kathmandu = calendar("Asia/Kathmandu");
        let since = parse_bound("2026-11-12", &kathmandu, now, false).unwrap();
        assert_eq!(rfc3339_millis(since), "2026-11-11T18:15:00.000Z");
        assert_eq!(
            since % crate::store::BUCKET_MS,
            0,
            "on a rollup bucket edge"
        );
        assert!(parse_bound("yesterday", &paris, now, false).is_err());
    }

    #[test]
    fn claude_folder_names() {
        assert_eq!(claude_folder_name("/home/dev/my.proj"), "-home-dev-my-proj");
    }
}
