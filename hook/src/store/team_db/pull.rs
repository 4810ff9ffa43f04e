//! What `tollgate sync` pulls: the team's day and week per person, for the local cache.

use std::collections::BTreeMap;

use anyhow::Result;
use postgres::Client;

use crate::config::team::TeamConfig;
use crate::store::team::{TeamPeriods, TeamUsage};
use crate::store::usage::Window;
use crate::time::Calendar;

/// The team's day and week, per person, from the team database.
pub fn pull(
    client: &mut Client,
    team: &TeamConfig,
    person: &str,
    calendar: &Calendar,
    now_ms: i64,
) -> Result<TeamUsage> {
    const HOUR_MS: i64 = 3600 * 1000;
    let day_start = calendar.day_start(now_ms);
    let week_start = calendar.week_start(now_ms);
    let day = window_by_person(client, &team.team, day_start, day_start + 24 * HOUR_MS)?;
    let week = window_by_person(
        client,
        &team.team,
        week_start,
        week_start + 7 * 24 * HOUR_MS,
    )?;
    let mut by_person: BTreeMap<String, TeamPeriods> = BTreeMap::new();
    for (name, window) in day {
        by_person.entry(name).or_default().day = window;
    }
    for (name, window) in week {
        by_person.entry(name).or_default().week = window;
    }
    let mut total = TeamPeriods::default();
    for periods in by_person.values() {
        total.day.add(&periods.day);
        total.week.add(&periods.week);
    }
    Ok(TeamUsage {
        name: team.team.clone(),
        person_id: person.to_owned(),
        person: by_person.get(person).cloned().unwrap_or_default(),
        team: total,
        by_person,
        ..TeamUsage::default()
    })
}

/// Each person's totals in `[start, end)`.
fn window_by_person(
    client: &mut Client,
    team: &str,
    start: i64,
    end: i64,
) -> Result<BTreeMap<String, Window>> {
    let mut out: BTreeMap<String, Window> = BTreeMap::new();
    let count = |v: i64| v.max(0) as u64;
    for row in client.query(
        "SELECT person, sum(input_tokens)::int8, sum(output_tokens)::int8,
                sum(cache_write_tokens)::int8, sum(cache_read_tokens)::int8,
                coalesce(sum(cost_usd), 0)::float8, count(*) FILTER (WHERE cost_usd IS NULL),
                count(*)
         FROM tollgate_usage WHERE team = $1 AND ts_ms >= $2 AND ts_ms < $3 GROUP BY person",
        &[&team, &start, &end],
    )? {
        let w = out.entry(row.get(0)).or_default();
        w.input_tokens = count(row.get(1));
        w.output_tokens = count(row.get(2));
        w.cache_creation_tokens = count(row.get(3));
        w.cache_read_tokens = count(row.get(4));
        w.total_tokens =
            w.input_tokens + w.output_tokens + w.cache_creation_tokens + w.cache_read_tokens;
        w.cost_usd = row.get(5);
        w.unpriced_messages = count(row.get(6));
        w.messages = count(row.get(7));
    }
    for row in client.query(
        "SELECT person, count(*) FILTER (WHERE event = 'PreToolUse'),
                count(*) FILTER (WHERE event = 'UserPromptSubmit')
         FROM tollgate_events WHERE team = $1 AND ts_ms >= $2 AND ts_ms < $3 GROUP BY person",
        &[&team, &start, &end],
    )? {
        let w = out.entry(row.get(0)).or_default();
        w.tool_calls = count(row.get(1));
        w.prompts = count(row.get(2));
    }
    Ok(out)
}
