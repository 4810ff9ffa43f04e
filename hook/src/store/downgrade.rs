//! Verified subagent downgrades: their records and what became of them.
//!
//! A downgrade is a request: tollgate answers the `Agent`/`Task` call's `PreToolUse` with
//! `updatedInput.model`, and Claude Code may ignore it (`CLAUDE_CODE_SUBAGENT_MODEL`, an
//! `availableModels` allowlist, versions that drop `updatedInput` for `Agent`). So each one is
//! recorded with the environment it was answered in, and checked on the matching
//! `PostToolUse` (same `tool_use_id`) against the model the subagent really ran on:
//! `tool_response.resolvedModel` (Claude Code 2.1.174+), else `modelsUsed`, else the models in
//! the subagent's own transcript (`agentId`).

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::pricing::{Pricing, Tokens, family};

/// The environment variable that overrides every subagent's model.
pub const SUBAGENT_MODEL_ENV: &str = "CLAUDE_CODE_SUBAGENT_MODEL";

/// Whether a downgrade took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Applied {
    /// The subagent ran on the requested model's family.
    Yes,
    /// It ran on another model: Claude Code ignored the rewrite.
    No,
    /// Claude Code did not say which model ran.
    Unknown,
}

impl Applied {
    /// `yes`, `no`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Yes, Self::No, Self::Unknown]
            .into_iter()
            .find(|a| a.as_str() == text)
    }
}

/// One downgrade and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downgrade {
    /// The model the call asked for (or the session's, when it asked for none).
    pub original: Option<String>,
    /// The model tollgate asked for.
    pub requested: String,
    /// The model the subagent ran on, when known.
    pub resolved: Option<String>,
    /// Whether it took effect; `None` until the call's `PostToolUse`.
    pub applied: Option<Applied>,
    /// Why it did not (or why it is unknown).
    pub why: Option<String>,
}

impl Downgrade {
    /// "applied (claude-haiku-4-5)", "IGNORED: …", "unverified: …", "pending".
    pub fn describe(&self) -> String {
        let resolved = self.resolved.as_deref().unwrap_or("?");
        let why = self.why.as_deref().unwrap_or("no reason known");
        match self.applied {
            Some(Applied::Yes) => format!("applied (ran on {resolved})"),
            Some(Applied::No) => format!("IGNORED, ran on {resolved}: {why}"),
            Some(Applied::Unknown) => format!("unverified: {why}"),
            None => "pending (the subagent has not finished)".to_owned(),
        }
    }
}

/// A downgrade answered to an `Agent`/`Task` `PreToolUse`, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requested {
    /// The call's `tool_use_id`, which its `PostToolUse` carries too.
    pub tool_use_id: String,
    /// Its session.
    pub session_id: String,
    /// Its time (Unix ms).
    pub ts_ms: i64,
    /// The model the call asked for (or the session's, when it asked for none).
    pub original: Option<String>,
    /// The model tollgate asked for.
    pub requested: String,
    /// `CLAUDE_CODE_SUBAGENT_MODEL` in the hook's environment, if set.
    pub env_override: Option<String>,
}

/// Records a downgrade answered to the `PreToolUse` row `event_id`.
pub fn record(tx: &Transaction<'_>, event_id: i64, request: &Requested) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO downgrades (tool_use_id, event_id, session_id, ts_ms, original_model,
                                 requested_model, env_override)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tool_use_id) DO UPDATE SET
             event_id = excluded.event_id, ts_ms = excluded.ts_ms,
             original_model = excluded.original_model, requested_model = excluded.requested_model,
             env_override = excluded.env_override, applied = NULL",
    )?
    .execute(params![
        request.tool_use_id,
        event_id,
        request.session_id,
        request.ts_ms,
        request.original,
        request.requested,
        request.env_override,
    ])
    .map(drop)
}

/// What an `Agent`/`Task` `PostToolUse` (or `PostToolUseFailure`) says about the model its
/// subagent ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ran {
    /// The call's `tool_use_id`.
    pub tool_use_id: String,
    /// Its session.
    pub session_id: String,
    /// `tool_response.agentId`.
    pub agent_id: Option<String>,
    /// The models `tool_response` reports (`resolvedModel`, then `modelsUsed`).
    pub reported: Vec<String>,
}

/// Checks the pending downgrade of the call `ran` ends, if any, and records the result.
/// Call it after the transcripts were ingested.
pub fn verify(tx: &Transaction<'_>, ran: &Ran, now_ms: i64) -> rusqlite::Result<Option<Downgrade>> {
    let tool_use_id = ran.tool_use_id.as_str();
    let pending = tx
        .prepare_cached(
            "SELECT d.original_model, d.requested_model, d.env_override, s.model
             FROM downgrades d LEFT JOIN sessions s ON s.session_id = d.session_id
             WHERE d.tool_use_id = ?1 AND d.applied IS NULL",
        )?
        .query_row([tool_use_id], |r| {
            Ok(Pending {
                original: r.get(0)?,
                requested: r.get(1)?,
                env_override: r.get(2)?,
                parent_model: r.get(3)?,
            })
        })
        .optional()?;
    let Some(Pending {
        original,
        requested,
        env_override,
        parent_model,
    }) = pending
    else {
        return Ok(None);
    };
    let agent_id = ran.agent_id.clone();
    let mut used = ran.reported.clone();
    if used.is_empty()
        && let Some(agent) = &agent_id
    {
        used = transcript_models(tx, &ran.session_id, agent)?;
    }
    let parent = parent_model.or(original.clone()).unwrap_or_default();
    let (resolved, applied, why) = judge(&requested, &used, env_override.as_deref(), &parent);
    tx.prepare_cached(
        "UPDATE downgrades SET agent_id = ?2, resolved_model = ?3, applied = ?4, why = ?5,
                               checked_ms = ?6
         WHERE tool_use_id = ?1",
    )?
    .execute(params![
        tool_use_id,
        agent_id,
        resolved,
        applied.as_str(),
        why,
        now_ms
    ])?;
    Ok(Some(Downgrade {
        original,
        requested,
        resolved,
        applied: Some(applied),
        why,
    }))
}

/// A downgrade waiting for its `PostToolUse`.
struct Pending {
    original: Option<String>,
    requested: String,
    env_override: Option<String>,
    parent_model: Option<String>,
}

/// The models of the subagent's responses, most used first.
fn transcript_models(
    conn: &Connection,
    session: &str,
    agent: &str,
) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT model FROM usage WHERE session_id = ?1 AND agent_id = ?2
         GROUP BY model ORDER BY count(*) DESC, model",
    )?
    .query_map([session, agent], |r| r.get(0))?
    .collect()
}

/// Whether `used` is `requested`: the same family for aliases and Claude ids, else the same id.
fn same_model(requested: &str, used: &str) -> bool {
    match family(requested) {
        "other" => {
            let (r, u) = (requested.to_ascii_lowercase(), used.to_ascii_lowercase());
            u.contains(&r) || r.contains(&u)
        }
        wanted => family(used) == wanted,
    }
}

/// The verdict: (model the subagent ran on, applied, why not).
fn judge(
    requested: &str,
    used: &[String],
    env_override: Option<&str>,
    parent: &str,
) -> (Option<String>, Applied, Option<String>) {
    let Some(ran) = used.first() else {
        return (
            None,
            Applied::Unknown,
            Some(
                "Claude Code did not report the subagent's model (tool_response.resolvedModel needs \
                 Claude Code 2.1.174 or later) and its transcript has no usage yet"
                    .to_owned(),
            ),
        );
    };
    if same_model(requested, ran) {
        return (Some(ran.clone()), Applied::Yes, None);
    }
    let why = match env_override.filter(|v| !v.is_empty() && *v != "inherit") {
        Some(value) => format!(
            "{SUBAGENT_MODEL_ENV}={value} is set, and it overrides the model of every subagent"
        ),
        None if !parent.is_empty() && same_model(parent, ran) => format!(
            "it ran on the parent's model: this Claude Code version may drop updatedInput for \
             Agent (anthropics/claude-code#39814), or an availableModels allowlist excludes {requested}"
        ),
        None => format!(
            "Claude Code resolved it to {ran}: an availableModels allowlist or the subagent's own \
             settings chose another model"
        ),
    };
    (Some(ran.clone()), Applied::No, Some(why))
}

/// The downgrades answered to the `PreToolUse` events `ids`, by event id.
pub fn for_events(
    conn: &Connection,
    ids: &[i64],
) -> rusqlite::Result<std::collections::HashMap<i64, Downgrade>> {
    let mut stmt = conn.prepare_cached(
        "SELECT original_model, requested_model, resolved_model, applied, why
         FROM downgrades WHERE event_id = ?1",
    )?;
    let mut found = std::collections::HashMap::new();
    for id in ids {
        if let Some(d) = stmt.query_row([id], row_to_downgrade).optional()? {
            found.insert(*id, d);
        }
    }
    Ok(found)
}

fn row_to_downgrade(r: &rusqlite::Row<'_>) -> rusqlite::Result<Downgrade> {
    Ok(Downgrade {
        original: r.get(0)?,
        requested: r.get(1)?,
        resolved: r.get(2)?,
        applied: r
            .get::<_, Option<String>>(3)?
            .as_deref()
            .and_then(Applied::parse),
        why: r.get(4)?,
    })
}

/// Downgrades over a selection, and what the applied ones saved.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Downgrades answered.
    pub requested: u64,
    /// Verified as taken.
    pub applied: u64,
    /// Verified as ignored.
    pub ignored: u64,
    /// Not verifiable (Claude Code did not say) or still running.
    pub unverified: u64,
    /// Tokens the applied downgrades' subagents used (from their transcripts).
    pub subagent_tokens: u64,
    /// Their cost at the original model minus their cost at the model they ran on.
    pub saved_usd: f64,
    /// Subagent responses whose saving is unknown (a model without a price).
    pub unpriced: u64,
}

impl Summary {
    /// "3 requested · 2 applied · 1 ignored · ≈ $0.42 saved on 40k subagent tokens".
    pub fn describe(&self) -> String {
        use tollgate_sdk::util::{format_tokens, format_usd};
        let mut text = format!(
            "{} requested · {} applied · {} ignored",
            self.requested, self.applied, self.ignored
        );
        if self.unverified > 0 {
            text.push_str(&format!(" · {} unverified", self.unverified));
        }
        if self.subagent_tokens > 0 {
            text.push_str(&format!(
                " · ≈ {} saved on {} subagent tokens",
                format_usd(self.saved_usd),
                format_tokens(self.subagent_tokens)
            ));
        }
        if self.unpriced > 0 {
            text.push_str(&format!(
                " ({} responses without a price not counted)",
                self.unpriced
            ));
        }
        text
    }
}

/// Summarises the downgrades answered since `since_ms` in sessions matching `session` (a
/// prefix; `None`: all).
pub fn summary(
    conn: &Connection,
    pricing: &Pricing,
    session: Option<&str>,
    since_ms: i64,
) -> rusqlite::Result<Summary> {
    let pattern = session.map(|s| format!("{s}%"));
    let mut stmt = conn.prepare_cached(
        "SELECT d.applied, d.agent_id, d.session_id, d.original_model, s.model
         FROM downgrades d LEFT JOIN sessions s ON s.session_id = d.session_id
         WHERE d.ts_ms >= ?1 AND (?2 IS NULL OR d.session_id LIKE ?2)",
    )?;
    let rows = stmt
        .query_map(params![since_ms, pattern], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut summary = Summary::default();
    for (applied, agent, session, original, session_model) in rows {
        summary.requested += 1;
        match applied.as_deref().and_then(Applied::parse) {
            Some(Applied::Yes) => summary.applied += 1,
            Some(Applied::No) => {
                summary.ignored += 1;
                continue;
            }
            _ => {
                summary.unverified += 1;
                continue;
            }
        }
        let (Some(agent), Some(original)) = (agent, original) else {
            continue;
        };
        let original = priced_model(conn, pricing, &original, session_model.as_deref())?;
        add_savings(
            conn,
            pricing,
            &mut summary,
            &session,
            &agent,
            original.as_deref(),
        )?;
    }
    Ok(summary)
}

/// A model id to price `model` at: itself when priced, else (an alias such as `opus`) the
/// session's model or the latest model of that family seen in the store.
pub fn priced_model(
    conn: &Connection,
    pricing: &Pricing,
    model: &str,
    session_model: Option<&str>,
) -> rusqlite::Result<Option<String>> {
    if pricing.price(model).is_some() {
        return Ok(Some(model.to_owned()));
    }
    let wanted = family(model);
    if let Some(session_model) = session_model.filter(|m| family(m) == wanted && wanted != "other")
    {
        return Ok(Some(session_model.to_owned()));
    }
    if wanted == "other" {
        return Ok(None);
    }
    conn.prepare_cached(
        "SELECT model FROM usage WHERE model LIKE '%' || ?1 || '%' ORDER BY ts_ms DESC LIMIT 1",
    )?
    .query_row([wanted], |r| r.get(0))
    .optional()
}

fn add_savings(
    conn: &Connection,
    pricing: &Pricing,
    summary: &mut Summary,
    session: &str,
    agent: &str,
    original: Option<&str>,
) -> rusqlite::Result<()> {
    let repriced = reprice(conn, pricing, session, agent, original)?;
    summary.subagent_tokens += repriced.tokens;
    summary.saved_usd += repriced.at_other - repriced.as_run;
    summary.unpriced += repriced.unpriced;
    Ok(())
}

/// A subagent's responses priced as they ran and at another model.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Repriced {
    /// Their tokens.
    pub tokens: u64,
    /// Their responses.
    pub responses: u64,
    /// The cost of those priced both ways, as they ran.
    pub as_run: f64,
    /// The same at the other model.
    pub at_other: f64,
    /// Responses without a price one way or the other (in neither cost).
    pub unpriced: u64,
}

/// The responses of subagent `agent` of `session`, priced as they ran and at `other`.
pub fn reprice(
    conn: &Connection,
    pricing: &Pricing,
    session: &str,
    agent: &str,
    other: Option<&str>,
) -> rusqlite::Result<Repriced> {
    let mut stmt = conn.prepare_cached(
        "SELECT model, input_tokens, output_tokens, cache_write_5m, cache_write_1h,
                cache_read_tokens
         FROM usage WHERE session_id = ?1 AND agent_id = ?2",
    )?;
    let mut rows = stmt.query([session, agent])?;
    let mut repriced = Repriced::default();
    while let Some(row) = rows.next()? {
        let model: String = row.get(0)?;
        let n = |i: usize| -> rusqlite::Result<u64> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
        let tokens = Tokens {
            input: n(1)?,
            output: n(2)?,
            cache_write_5m: n(3)?,
            cache_write_1h: n(4)?,
            cache_read: n(5)?,
        };
        repriced.tokens += tokens.total();
        repriced.responses += 1;
        let at_other = other.and_then(|o| pricing.cost(o, &tokens));
        match (at_other, pricing.cost(&model, &tokens)) {
            (Some(other), Some(did)) => {
                repriced.at_other += other;
                repriced.as_run += did;
            }
            _ => repriced.unpriced += 1,
        }
    }
    Ok(repriced)
}

/// The subagent that ran the `Agent`/`Task` call `tool_use_id`: from its downgrade's check,
/// else from the `agentId` its `PostToolUse` reported.
pub fn subagent_of(conn: &Connection, tool_use_id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(
        "SELECT agent_id FROM downgrades WHERE tool_use_id = ?1 AND agent_id IS NOT NULL
         UNION ALL
         SELECT json_extract(input, '$.tool_response.agentId') FROM events
         WHERE tool_use_id = ?1 AND event IN ('PostToolUse', 'PostToolUseFailure')
           AND json_extract(input, '$.tool_response.agentId') IS NOT NULL
         LIMIT 1",
    )?
    .query_row([tool_use_id], |r| r.get(0))
    .optional()
}

/// The model a downgraded call asked for before it was downgraded, when tollgate did
/// downgrade it and it took effect.
pub fn applied_original(conn: &Connection, tool_use_id: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(
        "SELECT original_model FROM downgrades WHERE tool_use_id = ?1 AND applied = 'yes'",
    )?
    .query_row([tool_use_id], |r| r.get::<_, Option<String>>(0))
    .optional()
    .map(Option::flatten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_by_family_and_explains_an_ignored_rewrite() {
        let ran = |m: &str| vec![m.to_owned()];
        assert_eq!(
            judge(
                "haiku",
                &ran("claude-haiku-4-5-20251001"),
                None,
                "claude-opus-4-5"
            )
            .1,
            Applied::Yes
        );
        let (resolved, applied, why) = judge(
            "haiku",
            &ran("claude-opus-4-5-20251101"),
            None,
            "claude-opus-4-5",
        );
        assert_eq!(
            (resolved.as_deref(), applied),
            (Some("claude-opus-4-5-20251101"), Applied::No)
        );
        assert!(why.unwrap().contains("parent's model"));
        let (_, _, why) = judge(
            "haiku",
            &ran("claude-opus-4-5"),
            Some("opus"),
            "claude-opus-4-5",
        );
        assert!(why.unwrap().contains("CLAUDE_CODE_SUBAGENT_MODEL=opus"));
        let (_, _, why) = judge("haiku", &ran("claude-sonnet-4-5"), None, "claude-opus-4-5");
        assert!(why.unwrap().contains("availableModels"));
        let (resolved, applied, why) = judge("haiku", &[], None, "claude-opus-4-5");
        assert_eq!((resolved, applied), (None, Applied::Unknown));
        assert!(why.unwrap().contains("2.1.174"));
        assert!(same_model("my-gateway-model", "my-gateway-model-v2"));
    }
}
