//! The conformance suite (`sdk/conformance/`): input documents covering every decision and the
//! edge cases (missing fields, huge numbers, unicode and escapes, missing usage), each with the
//! decision the example policy (`examples/policies/*`) must return. Embedded in the binary, so
//! `tollgate policy test FILE` can run any module on them.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::Limits;
use tollgate_sdk::Decision;

use crate::policy::engine::{Engine, Policy, PolicyError};
use crate::policy::output::Output;

include!(concat!(env!("OUT_DIR"), "/conformance_cases.rs"));

/// One case: an input document and what the example policy must answer.
#[derive(Debug, Clone)]
pub struct Case {
    /// The file name without `.json`.
    pub name: &'static str,
    /// What the case covers.
    pub description: String,
    /// The input document, byte for byte as written in the file (escapes kept).
    pub input: &'static str,
    /// The example policy's expected answer.
    pub expect: Expect,
}

/// The expected answer of a case.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The decision.
    pub decision: Decision,
    /// The downgrade target, for `downgrade`.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile<'a> {
    description: String,
    expect: Expect,
    #[serde(borrow)]
    input: &'a RawValue,
}

/// Every case, sorted by name.
pub fn cases() -> Vec<Case> {
    CASES
        .iter()
        .map(|(name, text)| {
            // The files are checked by the unit tests below; a bad one cannot be built in.
            let file: CaseFile<'static> = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("sdk/conformance/cases/{name}.json: {e}"));
            Case {
                name,
                description: file.description,
                input: file.input.get(),
                expect: file.expect,
            }
        })
        .collect()
}

impl Case {
    /// The input document for the policy `name` (`None`: the example policy's name), with
    /// `policy.config` replaced by `config` (`None`: the example policy's config). A module
    /// holding several policies, such as the built-ins, runs the one the name says.
    pub fn input_for(&self, name: Option<&str>, config: Option<&Value>) -> Vec<u8> {
        if name.is_none() && config.is_none() {
            return self.input.as_bytes().to_vec();
        }
        let mut doc: Value = serde_json::from_str(self.input).unwrap_or_default();
        if let Some(policy) = doc.get_mut("policy").and_then(Value::as_object_mut) {
            if let Some(name) = name {
                policy.insert("name".into(), name.into());
            }
            if let Some(config) = config {
                policy.insert("config".into(), config.clone());
            }
        }
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// `hook_event_name` and `tool_name` of the case's event, for tables (`PreToolUse Bash`).
    pub fn event_summary(&self) -> String {
        let doc: Value = serde_json::from_str(self.input).unwrap_or_default();
        let event = &doc["event"];
        [&event["hook_event_name"], &event["tool_name"]]
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a policy answered on one case.
#[derive(Debug)]
pub struct Outcome {
    /// The output document, or why there is none.
    pub result: Result<Output, PolicyError>,
    /// Evaluation time (a fresh instance, input written, output read and parsed).
    pub elapsed: Duration,
}

impl Outcome {
    /// Whether the answer is `expect`: the same decision, and the same model for a downgrade.
    pub fn matches(&self, expect: &Expect) -> bool {
        self.result.as_ref().is_ok_and(|output| {
            output.decision == Some(expect.decision)
                && (expect.decision != Decision::Downgrade || output.model == expect.model)
        })
    }
}

/// Evaluates `policy` on one input document through the real engine.
pub fn evaluate(engine: &Engine, policy: &Policy, input: &[u8], limits: &Limits) -> Outcome {
    let started = Instant::now();
    let result = engine
        .evaluate(policy, input, limits)
        .and_then(|evaluation| Output::parse(&evaluation.output));
    Outcome {
        result,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_file_is_well_formed() {
        let cases = cases();
        assert!(cases.len() >= 40, "{} cases", cases.len());
        for case in &cases {
            let doc: Value = serde_json::from_str(case.input).expect(case.name);
            assert_eq!(doc["abi"], 1, "{}", case.name);
            assert!(doc["event"]["hook_event_name"].is_string(), "{}", case.name);
            assert_eq!(
                case.expect.model.is_some(),
                case.expect.decision == Decision::Downgrade,
                "{}: a model exactly for downgrades",
                case.name
            );
        }
    }

    #[test]
    fn the_suite_covers_every_decision_of_the_example_policy() {
        let decisions: std::collections::BTreeSet<Decision> =
            cases().iter().map(|c| c.expect.decision).collect();
        use Decision::*;
        assert_eq!(decisions, [Allow, Warn, Downgrade, Deny].into());
    }

    #[test]
    fn inputs_keep_their_escapes_unless_the_config_is_replaced() {
        let case = cases()
            .into_iter()
            .find(|c| c.name == "unicode-escapes")
            .unwrap();
        assert!(case.input.contains(r"\ud83d\ude80"));
        assert_eq!(case.input_for(None, None), case.input.as_bytes());
        let replaced = case.input_for(None, Some(&serde_json::json!({"x": 1})));
        let doc: Value = serde_json::from_slice(&replaced).unwrap();
        assert_eq!(doc["policy"]["config"], serde_json::json!({"x": 1}));
        assert_eq!(doc["policy"]["name"], "example");
        let renamed: Value = serde_json::from_slice(&case.input_for(Some("budget"), None)).unwrap();
        assert_eq!(renamed["policy"]["name"], "budget");
        let original: Value = serde_json::from_str(case.input).unwrap();
        assert_eq!(renamed["policy"]["config"], original["policy"]["config"]);
        assert_eq!(case.event_summary(), "PreToolUse Bash");
    }
}
