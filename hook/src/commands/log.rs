//! `tollgate log`: the recorded hook events.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Local, Utc};

use crate::commands::StoreArgs;
use crate::store::events::LoggedEvent;
use crate::text::one_line;

/// Options of `tollgate log`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Only this session (a prefix of its id is enough).
    #[arg(long, short)]
    pub session: Option<String>,
    /// Only events since this time: RFC 3339, a date (2026-11-20), or an age (30m, 2h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many events (the newest).
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: u32,
    /// Print JSON (one array) instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// Parses `--since`: RFC 3339, `YYYY-MM-DD` (local midnight), or an age such as `90m`, `2h`, `7d`.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let local = date
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(Local).earliest())
            .context("that date has no local midnight")?;
        return Ok(local.with_timezone(&Utc));
    }
    crate::term::clock::parse_duration(text)
        .and_then(chrono::Duration::try_seconds)
        .and_then(|age| now.checked_sub_signed(age))
        .with_context(|| {
            format!(
                "cannot read time \"{text}\": use RFC 3339, YYYY-MM-DD, or an age like 30m, 2h, 7d"
            )
        })
}

/// The start of `--since`, Unix ms (`i64::MIN` without it).
fn since_ms(args: &LogArgs) -> Result<i64> {
    Ok(match &args.since {
        Some(text) => parse_since(text, Utc::now())?.timestamp_millis(),
        None => i64::MIN,
    })
}

/// Reads events from the store, oldest first.
pub fn query(conn: &rusqlite::Connection, args: &LogArgs) -> Result<Vec<LoggedEvent>> {
    Ok(crate::store::events::recent(
        conn,
        since_ms(args)?,
        args.session.as_deref(),
        args.limit,
    )?)
}

/// Renders events as a terminal table, one line of text a cell (the terminal may wrap it).
pub fn table(events: &[LoggedEvent]) -> crate::term::table::Table {
    let mut table = crate::term::table::new([
        "time", "session", "event", "tool", "subject", "~tokens", "decision", "ms",
    ]);
    for e in events {
        let time = DateTime::parse_from_rfc3339(&e.time)
            .map(|t| t.with_timezone(&Local).format("%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let mut decision = match (&e.decision, &e.reason) {
            (Some(d), Some(r)) if d != "allow" => format!("{d}: {r}"),
            (Some(d), _) => d.clone(),
            (None, _) => "(unanswered)".into(),
        };
        if let Some(d) = &e.downgrade {
            let from = d.original.as_deref().unwrap_or("inherited");
            decision.push_str(&format!(
                " · {from} → {} requested: {}",
                d.requested,
                d.describe()
            ));
        }
        // A policy that failed answered its on_error: say so, whatever it answered.
        if let Some(note) = e.note.as_deref().filter(|note| !decision.contains(note)) {
            decision.push_str(&format!(" · {note}"));
        }
        let mut subject = e.subject.clone().unwrap_or_default();
        if let Some(model) = e.model.as_deref().filter(|m| !subject.contains(m)) {
            subject = if subject.is_empty() {
                model.to_owned()
            } else {
                format!("{subject} ({model})")
            };
        }
        table.add_row([
            time,
            e.session_id.chars().take(8).collect(),
            e.event.clone(),
            e.tool.clone().unwrap_or_default(),
            one_line(&subject).into_owned(),
            if e.est_tokens > 0 {
                e.est_tokens.to_string()
            } else {
                String::new()
            },
            one_line(&decision).into_owned(),
            e.latency_us
                .map(|us| format!("{:.1}", us as f64 / 1000.0))
                .unwrap_or_default(),
        ]);
    }
    table
}

/// `tollgate log`.
pub fn run(args: &LogArgs) -> Result<ExitCode> {
    let store = args.store.open()?;
    let events = query(store.conn(), args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else if events.is_empty() {
        eprintln!(
            "No events recorded yet: register `tollgate hook` in Claude Code (see the README) or run `tollgate demo`."
        );
    } else {
        println!("{}", table(&events));
        // Prices for the savings: the config's overrides when it reads.
        let pricing = crate::paths::Paths::discover()
            .and_then(|paths| crate::config::Config::load(&paths.config_file, None))
            .map_or_else(
                |_| crate::pricing::Pricing::bundled(),
                |config| crate::pricing::Pricing::with_overrides(&config.prices),
            );
        let summary = crate::store::downgrade::summary(
            store.conn(),
            &pricing,
            args.session.as_deref(),
            since_ms(args)?,
        )?;
        if summary.requested > 0 {
            println!("Subagent downgrades: {}", summary.describe());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_dates_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("2h", now).unwrap().to_rfc3339(),
            "2026-11-20T10:00:00+00:00"
        );
        assert_eq!(
            parse_since("7d", now).unwrap().to_rfc3339(),
            "2026-11-13T12:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-19T08:00:00+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-19T07:00:00+00:00"
        );
        assert!(parse_since("2026-11-19", now).is_ok());
        assert!(format!("{:#}", parse_since("soon", now).unwrap_err()).contains("RFC 3339"));
        assert!(
            parse_since("3y", now)
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
    }
}
