//! A policy's output document (sdk/ABI.md, "Output"), parsed and checked.

use serde::Deserialize;
use serde_json::value::RawValue;
use tollgate_sdk::Decision;

use crate::policy::engine::PolicyError;

/// Largest `state` a policy may store.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// A policy's output document (sdk/ABI.md).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Output {
    /// The decision.
    pub decision: Option<Decision>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Target model of a downgrade.
    #[serde(default)]
    pub model: Option<String>,
    /// Text for the user.
    #[serde(default)]
    pub message: Option<String>,
    /// Text for Claude's context.
    #[serde(default)]
    pub context: Option<String>,
    /// New state.
    #[serde(default)]
    pub state: Option<Box<RawValue>>,
    /// The policy's own error report.
    #[serde(default)]
    pub error: Option<String>,
}

impl Output {
    /// Parses and validates an output document.
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| PolicyError::BadOutput("not UTF-8".into()))?;
        if text.trim().is_empty() {
            return Err(PolicyError::BadOutput("empty output".into()));
        }
        let output: Self = serde_json::from_str(text)
            .map_err(|e| PolicyError::BadOutput(format!("not an output document: {e}")))?;
        if let Some(error) = output.error {
            return Err(PolicyError::Reported(error));
        }
        match output.decision {
            None => Err(PolicyError::BadOutput("no \"decision\"".into())),
            Some(Decision::Downgrade) if output.model.as_deref().is_none_or(str::is_empty) => Err(
                PolicyError::BadOutput("\"downgrade\" without a \"model\"".into()),
            ),
            _ if output
                .state
                .as_ref()
                .is_some_and(|s| s.get().len() > MAX_STATE_BYTES) =>
            {
                Err(PolicyError::BadOutput(format!(
                    "state larger than {} KiB",
                    MAX_STATE_BYTES / 1024
                )))
            }
            _ => Ok(output),
        }
    }
}
