//! What `tollgate team report` reads: per person or project, the cost, tokens, tool calls,
//! sessions, interventions and downgrades applied, and the outcomes beside the cost.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

/// One person's or project's figures.
#[derive(Debug, Default, Serialize)]
pub struct Row {
    /// The person's id or the project's name.
    pub name: String,
    /// Cost of the priced messages.
    pub cost_usd: f64,
    /// Input, output and cache tokens.
    pub total_tokens: i64,
    /// `PreToolUse` events.
    pub tool_calls: i64,
    /// Sessions with usage.
    pub sessions: i64,
    /// Hook calls a policy answered with something other than allow.
    pub interventions: i64,
    /// Subagent downgrades Claude Code applied.
    pub downgrades_applied: i64,
    /// What the spend bought.
    pub outcomes: Outcomes,
}

/// What one person's or project's sessions produced. A figure is `None` (unknown, not zero)
/// when none of the sessions has it: sessions recorded without the hook watching their tool
/// calls and without Claude Code's line counts.
#[derive(Debug, Default, Serialize)]
pub struct Outcomes {
    /// Lines added: Claude Code's count for a session wholly in the range, else the edits the
    /// hook saw.
    pub lines_added: Option<i64>,
    /// Lines removed.
    pub lines_removed: Option<i64>,
    /// Distinct files edited.
    pub files_touched: Option<i64>,
    /// Commits made.
    pub commits: Option<i64>,
    /// Pull (merge) requests opened.
    pub pull_requests: Option<i64>,
    /// Cost of the sessions whose lines are known, per 100 lines changed (added + removed).
    pub cost_per_100_lines: Option<f64>,
    /// Cost of the sessions whose commits are known, per commit.
    pub cost_per_commit: Option<f64>,
}

/// The report's rows grouped by `key` (`person` or `project`, both columns of every table).
pub fn rows(client: &mut postgres::Client, key: &str, team: &str, since: i64) -> Result<Vec<Row>> {
    let sql = format!(
        "WITH u AS (SELECT {key} AS k, coalesce(sum(cost_usd), 0)::float8 AS cost,
                       sum(input_tokens + output_tokens + cache_write_tokens
                           + cache_read_tokens)::int8 AS tokens,
                       count(DISTINCT session_id) AS sessions
                FROM tollgate_usage WHERE team = $1 AND ts_ms >= $2 GROUP BY 1),
              e AS (SELECT {key} AS k, count(*) FILTER (WHERE event = 'PreToolUse') AS tools,
                       count(*) FILTER (WHERE decision IS NOT NULL AND decision <> 'allow')
                           AS interventions
                FROM tollgate_events WHERE team = $1 AND ts_ms >= $2 GROUP BY 1),
              d AS (SELECT {key} AS k, count(*) FILTER (WHERE applied = 'yes') AS applied
                FROM tollgate_downgrades WHERE team = $1 AND ts_ms >= $2 GROUP BY 1)
         SELECT coalesce(u.k, e.k, d.k), coalesce(u.cost, 0), coalesce(u.tokens, 0),
                coalesce(e.tools, 0), coalesce(u.sessions, 0), coalesce(e.interventions, 0),
                coalesce(d.applied, 0)
         FROM u FULL JOIN e ON e.k = u.k FULL JOIN d ON d.k = coalesce(u.k, e.k)
         ORDER BY 1"
    );
    let mut rows: BTreeMap<String, Row> = client
        .query(&sql, &[&team, &since])?
        .iter()
        .map(|r| {
            let row = Row {
                name: r.get(0),
                cost_usd: r.get(1),
                total_tokens: r.get(2),
                tool_calls: r.get(3),
                sessions: r.get(4),
                interventions: r.get(5),
                downgrades_applied: r.get(6),
                outcomes: Outcomes::default(),
            };
            (row.name.clone(), row)
        })
        .collect();
    outcomes(client, key, team, since, &mut rows)?;
    Ok(rows.into_values().collect())
}

/// Fills in each row's [`Outcomes`] (adding rows that have outcomes but no other figure).
fn outcomes(
    client: &mut postgres::Client,
    key: &str,
    team: &str,
    since: i64,
    rows: &mut BTreeMap<String, Row>,
) -> Result<()> {
    // Per session with responses in the range: its lines (Claude Code's count when the whole
    // session is in the range, else those of the edits the hook saw while watching it) and
    // whether its commits are known (the hook watched it).
    let lines = format!(
        "WITH s AS (SELECT machine, session_id, min({key}) AS k, min(ts_ms) >= $2 AS whole,
                           coalesce(sum(cost_usd) FILTER (WHERE ts_ms >= $2), 0)::float8 AS cost
                    FROM tollgate_usage
                    WHERE team = $1 AND session_id IN
                          (SELECT session_id FROM tollgate_usage WHERE team = $1 AND ts_ms >= $2)
                    GROUP BY 1, 2),
              e AS (SELECT machine, session_id, sum(lines_added)::int8 AS added,
                           sum(lines_removed)::int8 AS removed,
                           bool_and(lines_added IS NOT NULL AND lines_removed IS NOT NULL) AS known
                    FROM tollgate_work WHERE team = $1 AND ts_ms >= $2 AND kind = 'edit'
                    GROUP BY 1, 2),
              w AS (SELECT machine, session_id FROM tollgate_watched_sessions WHERE team = $1),
              l AS (SELECT machine, session_id, lines_added AS added, lines_removed AS removed
                    FROM tollgate_session_lines WHERE team = $1),
              per AS (SELECT s.k, s.cost, w.session_id IS NOT NULL AS watched,
                             CASE WHEN s.whole AND l.session_id IS NOT NULL THEN l.added
                                  WHEN w.session_id IS NOT NULL AND e.session_id IS NULL THEN 0
                                  WHEN w.session_id IS NOT NULL AND e.known THEN e.added END
                                 AS added,
                             CASE WHEN s.whole AND l.session_id IS NOT NULL THEN l.removed
                                  WHEN w.session_id IS NOT NULL AND e.session_id IS NULL THEN 0
                                  WHEN w.session_id IS NOT NULL AND e.known THEN e.removed END
                                 AS removed
                      FROM s LEFT JOIN e USING (machine, session_id)
                             LEFT JOIN w USING (machine, session_id)
                             LEFT JOIN l USING (machine, session_id))
         SELECT k, sum(added)::int8, sum(removed)::int8,
                sum(cost) FILTER (WHERE added IS NOT NULL)::float8,
                count(*) FILTER (WHERE watched), sum(cost) FILTER (WHERE watched)::float8
         FROM per GROUP BY k"
    );
    let mut watched_cost = BTreeMap::new();
    for r in client.query(&lines, &[&team, &since])? {
        let name: String = r.get(0);
        let row = rows.entry(name.clone()).or_insert_with(|| Row {
            name,
            ..Row::default()
        });
        let (added, removed): (Option<i64>, Option<i64>) = (r.get(1), r.get(2));
        row.outcomes.lines_added = added;
        row.outcomes.lines_removed = removed;
        let changed = added.unwrap_or(0) + removed.unwrap_or(0);
        let known_cost: Option<f64> = r.get(3);
        row.outcomes.cost_per_100_lines = known_cost
            .filter(|_| changed > 0)
            .map(|cost| cost * 100.0 / changed as f64);
        if r.get::<_, i64>(4) > 0 {
            watched_cost.insert(row.name.clone(), r.get::<_, Option<f64>>(5).unwrap_or(0.0));
        }
    }
    // Each file, commit and pull request once, however many sessions or machines saw it (an
    // unknown one counts on its own).
    let counts = format!(
        "SELECT {key}, count(DISTINCT item) FILTER (WHERE kind = 'edit'),
                count(DISTINCT item) FILTER (WHERE kind = 'commit')
                    + count(*) FILTER (WHERE kind = 'commit' AND item IS NULL),
                count(DISTINCT item) FILTER (WHERE kind = 'pull_request')
                    + count(*) FILTER (WHERE kind = 'pull_request' AND item IS NULL)
         FROM tollgate_work WHERE team = $1 AND ts_ms >= $2 GROUP BY 1"
    );
    let mut counted = BTreeMap::new();
    for r in client.query(&counts, &[&team, &since])? {
        counted.insert(r.get::<_, String>(0), (r.get(1), r.get(2), r.get(3)));
    }
    for row in rows.values_mut() {
        let known = watched_cost.contains_key(&row.name) || counted.contains_key(&row.name);
        if !known {
            continue;
        }
        let (files, commits, pull_requests): (i64, i64, i64) =
            counted.get(&row.name).copied().unwrap_or_default();
        let o = &mut row.outcomes;
        (o.files_touched, o.commits, o.pull_requests) =
            (Some(files), Some(commits), Some(pull_requests));
        o.cost_per_commit = watched_cost
            .get(&row.name)
            .filter(|_| commits > 0)
            .map(|cost| cost / commits as f64);
    }
    Ok(())
}
