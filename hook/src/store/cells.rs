//! The one usage query every token report is built on: sums per 15-minute bucket, session,
//! project and model (or any coarser grouping), from the rollups when the time range falls on
//! bucket edges (over all time, sessions, projects and models from the per-session rollup),
//! else from the per-response rows.

use rusqlite::{Connection, params};

use crate::store::BUCKET_MS;
use crate::store::usage::{Totals, totals_at};

/// What a report reads: a time range and the projects.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// Inclusive start, Unix ms (`i64::MIN`: open).
    pub since_ms: i64,
    /// Exclusive end, Unix ms (`i64::MAX`: open).
    pub until_ms: i64,
    /// The stored project names (`None`: every project).
    pub projects: Option<&'a [String]>,
}

impl Selection<'_> {
    /// All time, every project.
    pub const ALL: Selection<'static> = Selection {
        since_ms: i64::MIN,
        until_ms: i64::MAX,
        projects: None,
    };

    /// The parameters `?1`, `?2` and `?3` of [`SELECTED`]: the range, and the projects as a
    /// JSON array for `json_each` (`None`: all).
    pub fn params(&self) -> (i64, i64, Option<String>) {
        let projects = self
            .projects
            .map(|p| serde_json::to_string(p).expect("strings serialise"));
        (self.since_ms, self.until_ms, projects)
    }
}

/// The condition on a row's `ts_ms` and `project` that keeps what a [`Selection`] selects,
/// its [`Selection::params`] bound to `?1`, `?2` and `?3`.
pub const SELECTED: &str = "ts_ms >= ?1 AND ts_ms < ?2
    AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))";

/// What the query groups by (the model always). Columns not grouped by read as 0 / "".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// Bucket and model (days, weeks, months, blocks).
    Bucket,
    /// Session, project and model.
    Session,
    /// Bucket, session, project and model (a session's days and weeks).
    SessionBucket,
    /// Project and model.
    Project,
    /// Model only.
    Model,
    /// Every response on its own (exact times; never from the rollups).
    Response,
}

/// One group's sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// 15-minute bucket (`ts_ms / 900000`).
    pub bucket: i64,
    /// Session id.
    pub session: String,
    /// Project (cwd).
    pub project: String,
    /// Model id (`-fast` suffix for fast mode).
    pub model: String,
    /// Sums.
    pub totals: Totals,
    /// Time of the first response, Unix ms.
    pub first_ms: i64,
    /// Time of the last response, Unix ms.
    pub last_ms: i64,
}

/// The sums in `selection` at `grain`, ordered by bucket then first time.
pub fn query(
    conn: &Connection,
    selection: &Selection<'_>,
    grain: Grain,
) -> rusqlite::Result<Vec<Cell>> {
    let (since, until) = (selection.since_ms, selection.until_ms);
    let aligned = |ms: i64| ms == i64::MIN || ms == i64::MAX || ms.rem_euclid(BUCKET_MS) == 0;
    let exact = grain == Grain::Response || !aligned(since) || !aligned(until);
    let (bucket, session, project) = match grain {
        Grain::Bucket | Grain::Response => ("bucket", "''", "''"),
        Grain::Session => ("0", "session_id", "project"),
        Grain::SessionBucket => ("bucket", "session_id", "project"),
        Grain::Project => ("0", "''", "project"),
        Grain::Model => ("0", "''", "''"),
    };
    if grain == Grain::Bucket && !exact {
        return bucket_cells(conn, bucket_of(since), bucket_of(until), selection);
    }
    let sql = if exact {
        let group = if grain == Grain::Response {
            "id"
        } else {
            "1, 2, 3, 4"
        };
        format!(
            "SELECT {bucket}, {session}, {project}, model, count(*), sum(input_tokens),
                    sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                    sum(cache_read_tokens), sum(coalesce(cost_usd, 0)), sum(cost_usd IS NULL),
                    min(ts_ms), max(ts_ms)
             FROM (SELECT *, ts_ms / {BUCKET_MS} AS bucket FROM usage WHERE {SELECTED})
             GROUP BY {group} ORDER BY 1, min(ts_ms)"
        )
    } else if since == i64::MIN && until == i64::MAX && bucket == "0" {
        format!(
            "SELECT 0, {session}, {project}, model, sum(messages), sum(input_tokens),
                    sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                    sum(cache_read_tokens), sum(cost_usd), sum(unpriced),
                    min(first_ts), max(last_ts)
             FROM usage_sessions
             WHERE ?3 IS NULL OR project IN (SELECT value FROM json_each(?3))
             GROUP BY 1, 2, 3, 4 HAVING sum(messages) > 0 ORDER BY 1, min(first_ts)"
        )
    } else {
        format!(
            "SELECT {bucket}, {session}, {project}, model, sum(messages), sum(input_tokens),
                    sum(output_tokens), sum(cache_write_5m), sum(cache_write_1h),
                    sum(cache_read_tokens), sum(cost_usd), sum(unpriced),
                    min(first_ts), max(last_ts)
             FROM usage_rollup
             WHERE bucket >= ?1 AND bucket < ?2
               AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))
             GROUP BY 1, 2, 3, 4 HAVING sum(messages) > 0 ORDER BY 1, min(first_ts)"
        )
    };
    let (lo, hi) = if exact {
        (since, until)
    } else {
        (bucket_of(since), bucket_of(until))
    };
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![lo, hi, selection.params().2], |r| {
        Ok(Cell {
            bucket: r.get(0)?,
            session: r.get(1)?,
            project: r.get(2)?,
            model: r.get(3)?,
            totals: totals_at(r, 4)?,
            first_ms: r.get(12)?,
            last_ms: r.get(13)?,
        })
    })?;
    rows.collect()
}

/// [`Grain::Bucket`] sums from the rollups, buckets `lo..hi`. The rows are read in the table's
/// own order (bucket first) and summed here per bucket and model: SQLite's `GROUP BY` over
/// the other key columns would sort every row, then sort the groups again, which took most of
/// a report's time.
fn bucket_cells(
    conn: &Connection,
    lo: i64,
    hi: i64,
    selection: &Selection<'_>,
) -> rusqlite::Result<Vec<Cell>> {
    let mut stmt = conn.prepare(
        "SELECT bucket, model, messages, input_tokens, output_tokens, cache_write_5m,
                cache_write_1h, cache_read_tokens, cost_usd, unpriced, first_ts, last_ts
         FROM usage_rollup
         WHERE bucket >= ?1 AND bucket < ?2
           AND (?3 IS NULL OR project IN (SELECT value FROM json_each(?3)))
         ORDER BY bucket",
    )?;
    let mut rows = stmt.query(params![lo, hi, selection.params().2])?;
    let mut cells = Vec::new();
    // The current bucket's cells, one per model.
    let mut open: Vec<Cell> = Vec::new();
    let close = |open: &mut Vec<Cell>, cells: &mut Vec<Cell>| {
        open.retain(|c| c.totals.messages > 0);
        open.sort_by_key(|c| c.first_ms);
        cells.append(open);
    };
    while let Some(row) = rows.next()? {
        let bucket: i64 = row.get(0)?;
        if open.first().is_some_and(|c| c.bucket != bucket) {
            close(&mut open, &mut cells);
        }
        let model = row.get_ref(1)?.as_str()?;
        let totals = totals_at(row, 2)?;
        let (first_ms, last_ms): (i64, i64) = (row.get(10)?, row.get(11)?);
        match open.iter_mut().find(|c| c.model == model) {
            Some(cell) => {
                cell.totals += &totals;
                cell.first_ms = cell.first_ms.min(first_ms);
                cell.last_ms = cell.last_ms.max(last_ms);
            }
            None => open.push(Cell {
                bucket,
                session: String::new(),
                project: String::new(),
                model: model.to_owned(),
                totals,
                first_ms,
                last_ms,
            }),
        }
    }
    close(&mut open, &mut cells);
    Ok(cells)
}

/// The bucket holding `ms` (open ends stay open).
fn bucket_of(ms: i64) -> i64 {
    match ms {
        i64::MIN | i64::MAX => ms,
        _ => ms.div_euclid(BUCKET_MS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::usage::tests::{entry, store_with};

    #[test]
    fn rollups_and_rows_agree() {
        let t0 = 1_794_448_800_000;
        let (_dir, store) = store_with(&[
            entry("a", t0 + 1000, "s1", "claude-opus-4-5", 5),
            entry("b", t0 + 2000, "s1", "claude-opus-4-5", 7),
            entry("c", t0 + 60_000, "s1", "mystery", 1),
        ]);
        let mut selection = Selection::ALL;
        let from_rollup = query(store.conn(), &selection, Grain::Model).unwrap();
        selection.since_ms = t0 + 1; // not on a bucket edge: exact rows
        let exact = query(store.conn(), &selection, Grain::Model).unwrap();
        assert_eq!(from_rollup.len(), 2);
        let opus = from_rollup
            .iter()
            .find(|c| c.model == "claude-opus-4-5")
            .unwrap();
        assert_eq!(opus.totals.tokens.output, 12);
        assert_eq!((opus.first_ms, opus.last_ms), (t0 + 1000, t0 + 2000));
        assert_eq!(exact, from_rollup);
        let mystery = from_rollup.iter().find(|c| c.model == "mystery").unwrap();
        assert_eq!(mystery.totals.cost(), None, "unknown, not zero");
        let each = query(store.conn(), &Selection::ALL, Grain::Response).unwrap();
        assert_eq!(each.len(), 3);
        let by_session = query(store.conn(), &Selection::ALL, Grain::SessionBucket).unwrap();
        selection.since_ms = t0 + 1;
        let by_session_exact = query(store.conn(), &selection, Grain::SessionBucket).unwrap();
        assert_eq!(by_session.len(), 2, "one bucket, two models");
        assert_eq!(by_session[0].session, "s1");
        assert_eq!(by_session, by_session_exact);
    }

    /// Buckets summed from the rollups (in Rust) match the same sums grouped by SQLite from
    /// the per-response rows: across sessions and models, and within a bucket in order of first
    /// response, which is not the order the rollup table keeps them in.
    #[test]
    fn bucket_sums_from_the_rollups_match_the_rows() {
        let t0 = 1_794_448_800_000; // on a bucket edge
        let q = BUCKET_MS;
        let (_dir, store) = store_with(&[
            entry("a", t0 + 1000, "s1", "claude-opus-4-5", 5),
            entry("b", t0 + 2000, "s2", "claude-opus-4-5", 7),
            entry("c", t0 + 3000, "s2", "claude-haiku-4-5", 2),
            entry("d", t0 + q + 500, "s2", "claude-haiku-4-5", 3),
            entry("e", t0 + q + 900, "s1", "claude-opus-4-5", 4),
            entry("f", t0 + q + 100, "s3", "mystery", 1),
            entry("g", t0 + 9 * q, "s1", "claude-haiku-4-5", 6),
        ]);
        let mut selection = Selection::ALL;
        let from_rollup = query(store.conn(), &selection, Grain::Bucket).unwrap();
        selection.until_ms = t0 + 100 * q + 1; // not on a bucket edge: the SQL over rows
        let exact = query(store.conn(), &selection, Grain::Bucket).unwrap();
        assert_eq!(from_rollup, exact);
        let order: Vec<(i64, &str)> = from_rollup
            .iter()
            .map(|c| (c.bucket - t0 / q, c.model.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (0, "claude-opus-4-5"),
                (0, "claude-haiku-4-5"),
                (1, "mystery"),
                (1, "claude-haiku-4-5"),
                (1, "claude-opus-4-5"),
                (9, "claude-haiku-4-5"),
            ]
        );
        assert_eq!(from_rollup[0].totals.tokens.output, 12);
        assert_eq!(from_rollup[0].totals.messages, 2);
    }
}
