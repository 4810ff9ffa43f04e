//! What one hook call writes to the store, as data: written in the call's two transactions,
//! or, when the store stays locked past the call's wait, spooled to a file that a later call
//! writes (`store::spool`).

use rusqlite::Transaction;
use serde::{Deserialize, Serialize};

use crate::hook::lifecycle;
use crate::store::downgrade;
use crate::store::outcomes::{self, Work, WorkEvent};
use crate::store::{self, EventRow, Outcome, PolicyRun};

/// A call's record: its event (unless already written), and its answer (once known).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The event, when it is not in the store yet.
    pub event: Option<Event>,
    /// The event's row, when it is.
    pub event_id: Option<i64>,
    /// The answer.
    pub answer: Option<Answer>,
}

/// What a call records before its policies run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The event's row.
    pub row: EventRow,
    /// What the event tells about its session.
    pub fact: Option<lifecycle::Fact>,
    /// On the `PostToolUse` (or `PostToolUseFailure`) of a subagent call: the model it ran on,
    /// to check a downgrade against.
    pub subagent: Option<downgrade::Ran>,
    /// On a `PostToolUse`: what the call produced (edits, commits, pull requests).
    #[serde(default)]
    pub work: Vec<Work>,
}

/// What a call records once it has answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The decision, reason and latency.
    pub outcome: Outcome,
    /// Each policy's result.
    pub runs: Vec<PolicyRun>,
    /// A subagent downgrade answered.
    pub downgrade: Option<downgrade::Requested>,
    /// The policies' new states: (policy, state).
    pub states: Vec<(String, String)>,
}

impl Event {
    /// Writes the event (and what comes with it); returns its row's id. `now_ms` dates a
    /// downgrade check.
    pub fn write(&self, tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<i64> {
        let mut row = self.row.clone();
        if let Some(fact) = &self.fact {
            lifecycle::write(tx, fact, &mut row)?;
        }
        if let Some(ran) = &self.subagent {
            downgrade::verify(tx, ran, now_ms)?;
        }
        let event_id = store::insert_event(tx, &row)?;
        let event = WorkEvent {
            event_id,
            ts_ms: row.ts_ms,
            session_id: &row.session_id,
            project: &row.project,
        };
        outcomes::record(tx, event, &self.work)?;
        Ok(event_id)
    }
}

impl Answer {
    /// Writes the answer to the event `event_id`.
    pub fn write(&self, tx: &Transaction<'_>, event_id: i64) -> rusqlite::Result<()> {
        store::finish_event(tx, event_id, &self.outcome, &self.runs)?;
        if let Some(requested) = &self.downgrade {
            downgrade::record(tx, event_id, requested)?;
        }
        for (policy, state) in &self.states {
            store::set_policy_state(tx, policy, state)?;
        }
        Ok(())
    }
}

impl Record {
    /// Writes what of the call is not in the store yet. A record with neither an event nor
    /// an event id writes nothing.
    pub fn write(&self, tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<()> {
        let event_id = match (&self.event, self.event_id) {
            (Some(event), _) => event.write(tx, now_ms)?,
            (None, Some(id)) => id,
            (None, None) => return Ok(()),
        };
        if let Some(answer) = &self.answer {
            answer.write(tx, event_id)?;
        }
        Ok(())
    }

    /// Writes a spooled record (its JSON).
    pub fn write_spooled(tx: &Transaction<'_>, bytes: &[u8]) -> Result<(), String> {
        let record: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("not a record: {e}"))?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        record.write(tx, now_ms).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn record(event: bool) -> Record {
        let row = EventRow {
            ts_ms: 1_800_000_000_000,
            session_id: "s".into(),
            project: "/p".into(),
            event: "PreToolUse".into(),
            tool_name: Some("Agent".into()),
            tool_use_id: Some("toolu_1".into()),
            subject: Some("look around".into()),
            ..EventRow::default()
        };
        Record {
            event: event.then_some(Event {
                row,
                fact: None,
                subagent: None,
                work: vec![Work::Commit("1a2b3c4".into())],
            }),
            event_id: None,
            answer: Some(Answer {
                outcome: Outcome {
                    decision: "downgrade".into(),
                    model_requested: Some("haiku".into()),
                    latency_us: 900,
                    ..Outcome::default()
                },
                runs: vec![PolicyRun {
                    policy: "model-router".into(),
                    decision: "downgrade".into(),
                    reason: Some("cheaper".into()),
                    error: None,
                    elapsed_us: 60,
                }],
                downgrade: Some(downgrade::Requested {
                    tool_use_id: "toolu_1".into(),
                    session_id: "s".into(),
                    ts_ms: 1_800_000_000_000,
                    original: Some("opus".into()),
                    requested: "haiku".into(),
                    env_override: None,
                }),
                states: vec![("model-router".into(), r#"{"n":1}"#.into())],
            }),
        }
    }

    /// A record written from its spooled JSON writes what writing it directly does.
    #[test]
    fn a_spooled_record_writes_the_same_rows() {
        let dump = |store: &Store| -> Vec<String> {
            [
                "SELECT ts_ms, session_id, event, tool_use_id, subject, decision, model_requested, latency_us FROM events",
                "SELECT policy, decision, reason, elapsed_us FROM policy_runs",
                "SELECT tool_use_id, event_id, original_model, requested_model FROM downgrades",
                "SELECT policy, state FROM policy_state",
                "SELECT * FROM event_rollup",
                "SELECT event_id, ts_ms, session_id, kind, detail FROM work",
            ]
            .iter()
            .map(|sql| {
                let mut stmt = store.conn().prepare(sql).unwrap();
                let columns = stmt.column_count();
                stmt.query_map([], |r| {
                    Ok((0..columns)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Text(text) => {
                                String::from_utf8_lossy(text).into_owned()
                            }
                            other => format!("{other:?}"),
                        })
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("\n")
            })
            .collect()
        };
        let record = record(true);
        let mut direct = Store::open_in_memory().unwrap();
        direct.write(|tx| record.write(tx, 0)).unwrap();
        let mut spooled = Store::open_in_memory().unwrap();
        let json = serde_json::to_vec(&record).unwrap();
        spooled
            .write(|tx| Ok(Record::write_spooled(tx, &json)))
            .unwrap()
            .unwrap();
        assert_eq!(dump(&direct), dump(&spooled));
        assert!(dump(&direct)[0].contains("downgrade"));
        assert!(dump(&direct)[5].contains("commit|1a2b3c4"));
    }

    /// An answer for an event already written goes to that event.
    #[test]
    fn an_answer_alone_goes_to_its_event() {
        let mut store = Store::open_in_memory().unwrap();
        let with_event = record(true);
        let id = store
            .write(|tx| with_event.event.as_ref().unwrap().write(tx, 0))
            .unwrap();
        let answer_only = Record {
            event_id: Some(id),
            ..record(false)
        };
        store.write(|tx| answer_only.write(tx, 0)).unwrap();
        let decision: String = store
            .conn()
            .query_row("SELECT decision FROM events WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(decision, "downgrade");
    }
}
