//! The output document (ABI.md, "Output document") and the policy's self-description.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the policy decides. Ordered from weakest to strongest, the order in which the host
/// combines policies: `deny > ask > downgrade > warn > allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Let the call proceed.
    Allow,
    /// Let it proceed, telling the user (and Claude) why.
    Warn,
    /// Run the `Agent`/`Task` call on a cheaper model ([`Output::model`]).
    Downgrade,
    /// Ask the user to confirm.
    Ask,
    /// Block the call.
    Deny,
}

impl Decision {
    /// The lowercase name, as the output document spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Warn => "warn",
            Self::Downgrade => "downgrade",
            Self::Ask => "ask",
            Self::Deny => "deny",
        }
    }

    /// Parses a name in any case (`allow`, `Warn`, `DENY`, …).
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Allow,
            Self::Warn,
            Self::Downgrade,
            Self::Ask,
            Self::Deny,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(text))
    }
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// The decision.
    pub decision: Decision,
    /// Why, for the user and Claude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The model to downgrade to (required for [`Decision::Downgrade`]): an alias such as
    /// `sonnet`, or a full model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Optional text for the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Optional text added to Claude's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// When present, replaces the policy's stored state (at most 64 KiB of JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
}

impl Output {
    fn new(decision: Decision, reason: Option<String>) -> Self {
        Self {
            decision,
            reason,
            model: None,
            message: None,
            context: None,
            state: None,
        }
    }

    /// Let the call proceed, silently.
    pub fn allow() -> Self {
        Self::new(Decision::Allow, None)
    }

    /// Let the call proceed with a warning.
    pub fn warn(reason: impl Into<String>) -> Self {
        Self::new(Decision::Warn, Some(reason.into()))
    }

    /// Ask the user to confirm the call.
    pub fn ask(reason: impl Into<String>) -> Self {
        Self::new(Decision::Ask, Some(reason.into()))
    }

    /// Block the call.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::new(Decision::Deny, Some(reason.into()))
    }

    /// Run the subagent on `model` (an alias such as `sonnet`, or a full model id).
    pub fn downgrade(model: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            model: Some(model.into()),
            ..Self::new(Decision::Downgrade, Some(reason.into()))
        }
    }

    /// Adds text for Claude's context.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Adds text for the user.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Replaces the policy's stored state.
    pub fn with_state(mut self, state: Value) -> Self {
        self.state = Some(state);
        self
    }

    /// Merges the findings of several checks into one answer: the strongest decision, the
    /// reasons, messages and contexts of all of them (strongest first, joined), the model of
    /// the first downgrade and the first state. No outputs give [`Output::allow`].
    pub fn combine(outputs: impl IntoIterator<Item = Output>) -> Output {
        let mut outputs: Vec<Output> = outputs.into_iter().collect();
        // Stable: equal decisions keep the order of the checks.
        outputs.sort_by_key(|output| std::cmp::Reverse(output.decision));
        let join = |pick: fn(&Output) -> Option<&String>, separator: &str| {
            let parts: Vec<&str> = outputs
                .iter()
                .filter_map(pick)
                .map(String::as_str)
                .collect();
            (!parts.is_empty()).then(|| parts.join(separator))
        };
        Output {
            decision: outputs.first().map_or(Decision::Allow, |o| o.decision),
            reason: join(|o| o.reason.as_ref(), "; "),
            model: outputs.iter().find_map(|o| o.model.clone()),
            message: join(|o| o.message.as_ref(), "\n"),
            context: join(|o| o.context.as_ref(), "\n"),
            state: outputs.iter().find_map(|o| o.state.clone()),
        }
    }
}

/// The answer of a policy that cannot decide: `{"error": "..."}`. The host treats it as an
/// error of the policy and applies its `on_error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorOutput {
    /// What went wrong.
    pub error: String,
}

/// The answer of `tollgate_check_config`: what is wrong with the policy's config (nothing when
/// `errors` is empty). See [`check_config_json`](crate::check_config_json).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigCheck {
    /// Each problem, one line each, naming the key.
    pub errors: Vec<String>,
}

/// What a policy's `evaluate` function may return: an [`Output`], or a `Result` whose error
/// becomes an [`ErrorOutput`].
pub trait IntoOutput {
    /// The output, or the error message.
    fn into_output(self) -> Result<Output, String>;
}

impl IntoOutput for Output {
    fn into_output(self) -> Result<Output, String> {
        Ok(self)
    }
}

impl<E: std::fmt::Display> IntoOutput for Result<Output, E> {
    fn into_output(self) -> Result<Output, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A policy's description, exported as `tollgate_describe` (see
/// [`export_policy!`](crate::export_policy)).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Describe {
    /// The policy's name, e.g. `budget`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// One line on what it does.
    pub description: String,
    /// The hook events it acts on (others are allowed without a look).
    pub events: Vec<String>,
    /// A JSON Schema of its `config`, or `null`.
    pub config_schema: Value,
    /// For a module that holds several policies (its `evaluate` runs the one the input's
    /// `policy.name` names, as the built-ins' module does): each one's description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Describe>,
}
