//! Runs the configured policies on one event and combines their decisions.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::PolicyConfig;
use crate::policy::engine::{Engine, Policy, PolicyError};
use crate::store::PolicyRun;
use crate::store::usage::{Context, Usage};
use crate::text::one_line;

/// A policy decision (the SDK's, the one definition of the ABI's type). The order is the
/// precedence: deny > ask > downgrade > warn > allow.
pub use tollgate_sdk::Decision;

pub use crate::policy::output::{MAX_STATE_BYTES, Output};

/// What the input document shares across policies.
#[derive(Serialize)]
pub struct Shared<'a> {
    /// The current time, RFC 3339.
    pub now: &'a str,
    /// The hook input as received.
    pub event: &'a serde_json::Map<String, Value>,
    /// Usage figures.
    pub usage: &'a Usage,
    /// Live context.
    pub context: &'a Context,
    /// The plan's real windows, when observed (see [`crate::store::observe`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<&'a tollgate_sdk::Limits>,
}

/// What policies read of the store about one event: the input document's figures.
#[derive(Debug, Clone)]
pub struct Figures {
    /// The usage windows (with the team's cached totals, live).
    pub usage: Usage,
    /// The context.
    pub context: Context,
    /// The plan's real windows, when observed (live only).
    pub limits: Option<tollgate_sdk::Limits>,
}

impl Figures {
    /// Reads the figures of `input`'s session and project at `now_ms`, live; or, `as_of`
    /// given, the usage and context as they were at its moment (the team's totals and the
    /// plan's windows are not kept over time: none then).
    pub fn read(
        conn: &rusqlite::Connection,
        config: &crate::config::Config,
        pricing: &crate::pricing::Pricing,
        calendar: &crate::time::Calendar,
        input: &crate::hook::event::HookInput,
        now_ms: i64,
        as_of: Option<&mut crate::store::usage::AsOf>,
    ) -> rusqlite::Result<Self> {
        use crate::store::usage;
        let (session, project) = (input.session_id(), input.cwd());
        if let Some(as_of) = as_of {
            as_of.at_ms = now_ms;
            return Ok(Self {
                usage: usage::snapshot_as_of(conn, calendar, session, project, as_of)?,
                context: usage::context_as_of(conn, pricing, session, as_of.responses_ms())?,
                limits: None,
            });
        }
        let mut usage = usage::snapshot(conn, calendar, session, project, now_ms)?;
        if let Some(team) = &config.team {
            usage.team = crate::store::team::cached(conn, team, now_ms)?;
        }
        Ok(Self {
            usage,
            context: usage::context(conn, pricing, session)?,
            limits: crate::store::observe::PlanReadings::latest(conn)?.to_abi(),
        })
    }

    /// What the input document shares across policies, for `event` at `now`.
    pub fn shared<'a>(
        &'a self,
        now: &'a str,
        event: &'a serde_json::Map<String, Value>,
    ) -> Shared<'a> {
        Shared {
            now,
            event,
            usage: &self.usage,
            context: &self.context,
            limits: self.limits.as_ref(),
        }
    }
}

#[derive(Serialize)]
struct InputDoc<'a> {
    abi: i32,
    policy: PolicyInfo<'a>,
    #[serde(flatten)]
    shared: &'a Shared<'a>,
    state: &'a RawValue,
}

#[derive(Serialize)]
struct PolicyInfo<'a> {
    name: &'a str,
    config: &'a toml::Table,
}

/// The input document for one policy.
pub fn input_document(shared: &Shared<'_>, policy: &PolicyConfig, state: &str) -> Vec<u8> {
    let empty = RawValue::from_string("{}".to_owned()).expect("{} is JSON");
    let stored = RawValue::from_string(state.to_owned()).ok();
    let doc = InputDoc {
        abi: crate::policy::engine::ABI_VERSION,
        policy: PolicyInfo {
            name: &policy.name,
            config: &policy.config,
        },
        shared,
        state: stored.as_deref().unwrap_or(&empty),
    };
    serde_json::to_vec(&doc).expect("the input document serializes")
}

/// One policy's contribution to the verdict.
#[derive(Debug, Clone)]
pub struct Vote {
    /// Which policy.
    pub policy: String,
    /// Its decision after `enforce` and `on_error`.
    pub decision: Decision,
    /// Its reason (or the error).
    pub reason: Option<String>,
    /// Downgrade target.
    pub model: Option<String>,
    /// Text for the user.
    pub message: Option<String>,
    /// Text for Claude.
    pub context: Option<String>,
    /// New state to store.
    pub state: Option<String>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// Load + evaluation time.
    pub elapsed_us: i64,
}

impl Vote {
    /// The record kept in the store.
    pub fn run(&self) -> PolicyRun {
        PolicyRun {
            policy: self.policy.clone(),
            decision: self.decision.as_str().to_owned(),
            reason: self.reason.clone(),
            error: self.error.clone(),
            elapsed_us: self.elapsed_us,
        }
    }
}

/// Turns a policy's result (or failure) into its vote.
pub fn vote(config: &PolicyConfig, result: Result<Output, PolicyError>, started: Instant) -> Vote {
    let elapsed_us = started.elapsed().as_micros() as i64;
    let mut vote = match result {
        Ok(output) => Vote {
            policy: config.name.clone(),
            decision: output.decision.unwrap_or(Decision::Allow),
            reason: output.reason,
            model: output.model,
            message: output.message,
            context: output.context,
            state: output.state.map(|s| s.get().to_owned()),
            error: None,
            elapsed_us,
        },
        Err(error) => {
            let decision = config
                .on_error
                .as_deref()
                .and_then(Decision::parse)
                .filter(|d| *d != Decision::Downgrade)
                .unwrap_or(Decision::Allow);
            let text = format!(
                "policy \"{}\" {}",
                config.name,
                one_line(&error.to_string())
            );
            Vote {
                policy: config.name.clone(),
                decision,
                reason: (decision != Decision::Allow).then(|| text.clone()),
                model: None,
                message: None,
                context: None,
                state: None,
                error: Some(text),
                elapsed_us,
            }
        }
    };
    if !config.enforce && vote.decision > Decision::Warn {
        let would = vote.decision.as_str();
        let target = vote
            .model
            .take()
            .map(|m| format!(" to {m}"))
            .unwrap_or_default();
        vote.reason = Some(format!(
            "{} (warn-only: would {would}{target})",
            vote.reason.as_deref().unwrap_or("no reason given")
        ));
        vote.decision = Decision::Warn;
    }
    vote
}

/// Where a policy's code runs.
#[derive(Clone)]
pub enum Runner<'a> {
    /// A loaded module, in the sandbox.
    Wasm(&'a Engine, Policy),
    /// A built-in, as native code ([`crate::policy::builtin::evaluate`]).
    Native,
}

/// Evaluates a policy on `shared`; `started` is when its loading began (its recorded time
/// covers both).
pub fn evaluate(
    runner: Runner<'_>,
    config: &PolicyConfig,
    shared: &Shared<'_>,
    state: &str,
    started: Instant,
) -> Vote {
    let input = input_document(shared, config, state);
    let result =
        match runner {
            Runner::Wasm(engine, policy) => engine
                .evaluate(&policy, &input, &config.limits)
                .and_then(|evaluation| {
                    if std::env::var_os("TOLLGATE_LOG").is_some_and(|v| v == "debug") {
                        for line in &evaluation.log {
                            // Quoted and escaped: a policy's text is not trusted.
                            eprintln!("tollgate: policy \"{}\": {line:?}", config.name);
                        }
                    }
                    Output::parse(&evaluation.output)
                }),
            Runner::Native => crate::policy::builtin::evaluate(&input).and_then(|output| {
                if output.len() as u64 > config.limits.output_kib * 1024 {
                    return Err(PolicyError::OutputTooLarge(config.limits.output_kib));
                }
                Output::parse(&output)
            }),
        };
    vote(config, result, started)
}

/// The combined answer of all policies.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// The strongest decision.
    pub decision: Option<Decision>,
    /// Reasons of the policies that made the decision.
    pub reason: Option<String>,
    /// Downgrade target (the cheapest asked for).
    pub model: Option<String>,
    /// Text for the user: warnings and messages of every policy.
    pub messages: Vec<String>,
    /// Text for Claude.
    pub contexts: Vec<String>,
}

/// Cheapness rank of a model alias or id, for picking among downgrades.
fn rank(model: &str) -> u8 {
    match crate::pricing::family(model) {
        "haiku" => 0,
        "sonnet" => 1,
        "opus" => 2,
        _ => 3,
    }
}

/// Combines votes: deny > ask > downgrade > warn > allow.
pub fn combine(votes: &[Vote]) -> Verdict {
    let decision = votes
        .iter()
        .map(|v| v.decision)
        .max()
        .unwrap_or(Decision::Allow);
    let reasons: Vec<&str> = votes
        .iter()
        .filter(|v| v.decision == decision)
        .filter_map(|v| v.reason.as_deref())
        .collect();
    let model = votes
        .iter()
        .filter(|v| v.decision == Decision::Downgrade)
        .filter_map(|v| v.model.clone())
        .min_by_key(|m| rank(m));
    let mut messages = Vec::new();
    for vote in votes {
        if vote.decision == Decision::Warn
            && decision != Decision::Warn
            && let Some(reason) = &vote.reason
        {
            messages.push(reason.clone());
        }
        messages.extend(vote.message.clone());
    }
    Verdict {
        decision: Some(decision),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        model,
        messages,
        contexts: votes.iter().filter_map(|v| v.context.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::engine::Spent;

    fn vote_of(policy: &str, decision: Decision, reason: &str) -> Vote {
        Vote {
            policy: policy.into(),
            decision,
            reason: Some(reason.into()),
            model: (decision == Decision::Downgrade).then(|| "sonnet".into()),
            message: None,
            context: None,
            state: None,
            error: None,
            elapsed_us: 0,
        }
    }

    #[test]
    fn precedence_is_deny_ask_downgrade_warn_allow() {
        use Decision::*;
        let mut sorted = vec![Warn, Deny, Allow, Ask, Downgrade];
        sorted.sort();
        assert_eq!(sorted, vec![Allow, Warn, Downgrade, Ask, Deny]);
        let verdict = combine(&[
            vote_of("a", Warn, "w"),
            vote_of("b", Deny, "d"),
            vote_of("c", Ask, "q"),
        ]);
        assert_eq!(verdict.decision, Some(Deny));
        assert_eq!(verdict.reason.as_deref(), Some("d"));
        assert_eq!(
            verdict.messages,
            vec!["w".to_owned()],
            "lesser warnings still reach the user"
        );
    }

    #[test]
    fn the_cheapest_downgrade_wins() {
        let mut haiku = vote_of("b", Decision::Downgrade, "cheap");
        haiku.model = Some("haiku".into());
        let verdict = combine(&[vote_of("a", Decision::Downgrade, "x"), haiku]);
        assert_eq!(verdict.model.as_deref(), Some("haiku"));
    }

    #[test]
    fn outputs_are_validated() {
        assert!(Output::parse(br#"{"decision":"allow"}"#).is_ok());
        assert!(Output::parse(br#"{"decision":"warn","reason":"r","extra":1}"#).is_ok());
        for (bad, why) in [
            (&b"\xff\xfe"[..], "UTF-8"),
            (b"", "empty"),
            (b"{\"decision\":\"maybe\"}", "output document"),
            (b"{\"reason\":\"x\"}", "decision"),
            (b"{\"decision\":\"downgrade\"}", "model"),
            (b"[1,2]", "output document"),
        ] {
            let err = Output::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        let reported = Output::parse(br#"{"error":"bad config"}"#).unwrap_err();
        assert!(matches!(reported, PolicyError::Reported(m) if m == "bad config"));
        let big = format!(
            r#"{{"decision":"allow","state":"{}"}}"#,
            "x".repeat(MAX_STATE_BYTES)
        );
        assert!(Output::parse(big.as_bytes()).is_err());
    }

    #[test]
    fn errors_follow_on_error_and_warn_only_clamps() {
        let mut config = PolicyConfig::builtin("p", true);
        let failed = vote(
            &config,
            Err(PolicyError::Timeout {
                ms: 50,
                spent: Spent::Fuel,
            }),
            Instant::now(),
        );
        assert_eq!(failed.decision, Decision::Allow);
        assert!(
            failed
                .error
                .as_deref()
                .unwrap()
                .contains("policy \"p\" ran longer than its 50 ms limit (out of fuel)")
        );
        config.on_error = Some("deny".into());
        assert_eq!(
            vote(
                &config,
                Err(PolicyError::Timeout {
                    ms: 50,
                    spent: Spent::Fuel
                }),
                Instant::now()
            )
            .decision,
            Decision::Deny
        );
        let warn_only = PolicyConfig::builtin("p", false);
        let output = Output::parse(br#"{"decision":"deny","reason":"over budget"}"#).unwrap();
        let clamped = vote(&warn_only, Ok(output), Instant::now());
        assert_eq!(clamped.decision, Decision::Warn);
        assert_eq!(
            clamped.reason.as_deref(),
            Some("over budget (warn-only: would deny)")
        );
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::{Decision, Output};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes a policy may return: a valid output or an error, never a panic.
        #[test]
        fn any_output_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = Output::parse(&bytes);
        }

        /// Output documents with any decision, model and state: the rules hold.
        #[test]
        fn output_documents(decision in "(allow|warn|downgrade|ask|deny|other)",
                            model in prop::option::of(".{0,12}"),
                            state in prop::option::of(".{0,40}")) {
            let mut doc = serde_json::json!({ "decision": decision });
            if let Some(m) = &model { doc["model"] = serde_json::Value::String(m.clone()); }
            if let Some(s) = &state { doc["state"] = serde_json::json!({ "s": s }); }
            match Output::parse(doc.to_string().as_bytes()) {
                Ok(out) => {
                    prop_assert!(decision != "other");
                    if out.decision == Some(Decision::Downgrade) {
                        prop_assert!(model.is_some_and(|m| !m.is_empty()));
                    }
                }
                Err(_) => prop_assert!(decision == "other" || (decision == "downgrade" && model.is_none_or(|m| m.is_empty()))),
            }
        }
    }
}
