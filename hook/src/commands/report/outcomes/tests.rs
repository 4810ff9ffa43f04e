use chrono::Weekday;
use rusqlite::Transaction;

use super::*;
use crate::commands::report::scope::tests::{entry, everything, store_with};
use crate::store::outcomes::{WorkEvent, record, record_claude_code_lines};
use crate::store::{EventRow, Store, insert_event};

/// 2026-12-01 00:00 UTC.
const DAY1: i64 = 1_796_083_200_000;
const HOUR: i64 = 3_600_000;

/// A `PostToolUse` of session `session` at `ts_ms` that produced `work`.
fn tool_call(tx: &Transaction<'_>, session: &str, ts_ms: i64, work: &[Work]) {
    let row = EventRow {
        ts_ms,
        session_id: session.into(),
        project: "/p".into(),
        event: "PostToolUse".into(),
        tool_name: Some("Bash".into()),
        ..EventRow::default()
    };
    let event_id = insert_event(tx, &row).unwrap();
    let event = WorkEvent {
        event_id,
        ts_ms,
        session_id: session,
        project: "/p",
    };
    record(tx, event, work).unwrap();
}

fn edit(file: &str, added: u64, removed: u64) -> Work {
    Work::Edit {
        file: Some(file.into()),
        lines: Some(Lines { added, removed }),
    }
}

/// Sessions of three kinds, each with one response per hour it is active:
/// - `watched`: the hook saw its edits and a commit, over two days;
/// - `imported`: only its transcript (no hook events, no line count);
/// - `counted`: its transcript with Claude Code's line count, no hook events.
fn fixture() -> (tempfile::TempDir, Store) {
    let (dir, mut store) = store_with(&[
        entry("w1", DAY1 + 10 * HOUR, "watched", "claude-sonnet-4-5", 1000),
        entry("w2", DAY1 + 34 * HOUR, "watched", "claude-sonnet-4-5", 1000),
        entry(
            "i1",
            DAY1 + 11 * HOUR,
            "imported",
            "claude-sonnet-4-5",
            1000,
        ),
        entry("c1", DAY1 + 12 * HOUR, "counted", "claude-sonnet-4-5", 1000),
    ]);
    store
        .write(|tx| {
            // Outcomes recorded since before these sessions.
            tx.execute("UPDATE work_recorded_since SET since_ms = 0", [])?;
            tool_call(
                tx,
                "watched",
                DAY1 + 10 * HOUR + 1,
                &[edit("/p/a.rs", 30, 10)],
            );
            tool_call(
                tx,
                "watched",
                DAY1 + 10 * HOUR + 2,
                &[edit("/p/a.rs", 20, 0)],
            );
            tool_call(
                tx,
                "watched",
                DAY1 + 10 * HOUR + 3,
                &[Work::Commit("1a2b3c4".into())],
            );
            tool_call(
                tx,
                "watched",
                DAY1 + 34 * HOUR + 1,
                &[edit("/p/b.rs", 5, 5)],
            );
            record_claude_code_lines(
                tx,
                "counted",
                Lines {
                    added: 7,
                    removed: 3,
                },
                0,
            )
        })
        .unwrap();
    (dir, store)
}

fn row<'a>(report: &'a OutcomesReport, key: &str) -> &'a OutcomeRow {
    report.rows.iter().find(|r| r.key == key).unwrap()
}

#[test]
fn per_session_what_is_known_and_what_is_not() {
    let (_dir, store) = fixture();
    let report = build(store.conn(), &everything(), By::Session, Weekday::Sun).unwrap();
    let keys: Vec<&str> = report.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["imported", "counted", "watched"], "by last activity");

    let watched = row(&report, "watched");
    assert_eq!(
        (watched.lines_added, watched.lines_removed),
        (Some(55), Some(15))
    );
    assert_eq!(watched.files_touched, Some(2));
    assert_eq!((watched.commits, watched.pull_requests), (Some(1), Some(0)));
    let cost = watched.cost_usd.unwrap();
    assert!(cost > 0.0);
    assert_eq!(watched.cost_per_commit, Some(cost));
    assert_eq!(watched.cost_per_100_lines, Some(cost / 0.7));

    let imported = row(&report, "imported");
    assert_eq!(imported.lines_added, None, "unknown, not zero");
    assert_eq!((imported.files_touched, imported.commits), (None, None));
    assert_eq!(
        (imported.cost_per_100_lines, imported.cost_per_commit),
        (None, None)
    );
    assert_eq!((imported.sessions, imported.sessions_with_data), (1, 0));

    let counted = row(&report, "counted");
    assert_eq!(
        (counted.lines_added, counted.lines_removed),
        (Some(7), Some(3))
    );
    assert_eq!(counted.commits, None, "no hook saw its tool calls");

    // Totals: each figure over the sessions that have it, and its cost over those only.
    let t = &report.totals;
    assert_eq!((t.lines_added, t.lines_removed), (Some(62), Some(18)));
    assert_eq!(
        (t.commits, t.sessions, t.sessions_with_data),
        (Some(1), 3, 2)
    );
    let lines_cost = cost + counted.cost_usd.unwrap();
    assert!((t.cost_per_100_lines.unwrap() - lines_cost / 0.8).abs() < 1e-12);
    assert_eq!(t.cost_per_commit, Some(cost));
}

#[test]
fn per_day_edits_fall_on_their_day() {
    let (_dir, store) = fixture();
    let report = build(store.conn(), &everything(), By::Day, Weekday::Sun).unwrap();
    let keys: Vec<&str> = report.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["2026-12-01", "2026-12-02"]);
    let first = &report.rows[0];
    // watched's first day, and counted wholly within it; imported unknown.
    assert_eq!(
        (first.lines_added, first.lines_removed),
        (Some(57), Some(13))
    );
    assert_eq!((first.sessions, first.sessions_with_data), (3, 2));
    assert_eq!(first.commits, Some(1));
    let second = &report.rows[1];
    assert_eq!(
        (second.lines_added, second.files_touched),
        (Some(5), Some(1))
    );
    assert_eq!(second.commits, Some(0));
    assert_eq!(
        second.cost_per_commit, None,
        "no commit: no cost per commit"
    );

    let weekly = build(store.conn(), &everything(), By::Week, Weekday::Sun).unwrap();
    assert_eq!(weekly.rows.len(), 1);
    assert_eq!(weekly.rows[0].key, "2026-11-29");
    assert_eq!(weekly.rows[0].lines_added, Some(62));
    assert_eq!(
        weekly.rows[0].files_touched,
        Some(2),
        "a.rs and b.rs once each"
    );
}

/// Claude Code's count is for the whole session: not used for a range that holds only part
/// of it, nor for a session before outcomes were recorded.
#[test]
fn a_session_count_is_used_only_for_the_whole_session() {
    let (_dir, mut store) = fixture();
    store
        .write(|tx| {
            record_claude_code_lines(
                tx,
                "watched",
                Lines {
                    added: 99,
                    removed: 1,
                },
                0,
            )
        })
        .unwrap();
    let report = build(store.conn(), &everything(), By::Session, Weekday::Sun).unwrap();
    assert_eq!(row(&report, "watched").lines_added, Some(99));
    let mut second_day = everything();
    second_day.since_ms = Some(DAY1 + 24 * HOUR);
    let report = build(store.conn(), &second_day, By::Session, Weekday::Sun).unwrap();
    assert_eq!(
        row(&report, "watched").lines_added,
        Some(5),
        "its edits of that day"
    );

    store
        .conn()
        .execute(
            "UPDATE work_recorded_since SET since_ms = ?1",
            [DAY1 + 40 * HOUR],
        )
        .unwrap();
    let report = build(store.conn(), &everything(), By::Day, Weekday::Sun).unwrap();
    assert_eq!(report.rows[0].commits, None, "not watched then");
    assert_eq!(report.rows[0].files_touched, Some(1), "its edits were seen");
}

#[test]
fn per_project_and_empty_ranges() {
    let (_dir, store) = fixture();
    let report = build(store.conn(), &everything(), By::Project, Weekday::Sun).unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.rows[0].key, "/p");
    assert_eq!(report.rows[0].lines_added, Some(62));
    let mut nothing = everything();
    nothing.since_ms = Some(DAY1 + 100 * HOUR);
    let report = build(store.conn(), &nothing, By::Session, Weekday::Sun).unwrap();
    assert!(report.rows.is_empty());
    assert_eq!(report.totals.lines_added, None);
    assert_eq!(report.totals.cost_per_commit, None);
}
