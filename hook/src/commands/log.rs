//! `tollgate log`: the recorded hook events.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::commands::StoreArgs;
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

/// One recorded event.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedEvent {
    /// Store row id.
    pub id: i64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Session id.
    pub session_id: String,
    /// Project (cwd).
    pub project: String,
    /// Hook event.
    pub event: String,
    /// Tool name.
    pub tool: Option<String>,
    /// What the tool touched, or what the event was about.
    pub subject: Option<String>,
    /// The model the event concerns: a subagent's (requested, then the one it runs on), a model
    /// switch's new one, the session's at its start.
    pub model: Option<String>,
    /// Estimated tokens the tool result added.
    pub est_tokens: i64,
    /// The answer.
    pub decision: Option<String>,
    /// Its reason.
    pub reason: Option<String>,
    /// Downgrade target.
    pub model_requested: Option<String>,
    /// For a downgrade: the model asked for, the one the subagent ran on, and whether it
    /// took effect (checked on the call's `PostToolUse`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downgrade: Option<crate::store::downgrade::Downgrade>,
    /// Hook latency in microseconds.
    pub latency_us: Option<i64>,
    /// Internal errors.
    pub note: Option<String>,
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
    let since_ms = since_ms(args)?;
    let session = args.session.as_deref().map(|s| format!("{s}%"));
    let mut stmt = conn.prepare(
        "SELECT id, ts_ms, session_id, project, event, tool_name, subject, est_tokens, decision,
                reason, model_requested, latency_us, note, model
         FROM events
         WHERE ts_ms >= ?1 AND (?2 IS NULL OR session_id LIKE ?2)
         ORDER BY ts_ms DESC, id DESC LIMIT ?3",
    )?;
    let mut events = stmt
        .query_map(rusqlite::params![since_ms, session, args.limit], |r| {
            Ok(LoggedEvent {
                id: r.get(0)?,
                time: DateTime::<Utc>::from_timestamp_millis(r.get(1)?)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                session_id: r.get(2)?,
                project: r.get(3)?,
                event: r.get(4)?,
                tool: r.get(5)?,
                subject: r.get(6)?,
                est_tokens: r.get(7)?,
                decision: r.get(8)?,
                reason: r.get(9)?,
                model_requested: r.get(10)?,
                downgrade: None,
                latency_us: r.get(11)?,
                note: r.get(12)?,
                model: r.get(13)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    events.reverse();
    let ids: Vec<i64> = events
        .iter()
        .filter(|e| e.model_requested.is_some())
        .map(|e| e.id)
        .collect();
    let mut downgrades = crate::store::downgrade::for_events(conn, &ids)?;
    for event in &mut events {
        event.downgrade = downgrades.remove(&event.id);
    }
    Ok(events)
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
