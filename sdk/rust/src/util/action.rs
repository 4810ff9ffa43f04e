use serde::{Deserialize, Serialize};

use crate::{Decision, Output};

/// What a policy does when a check fires, as users write it in a config: `allow` (nothing),
/// `warn`, `ask` or `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Do nothing.
    Allow,
    /// Warn.
    Warn,
    /// Ask the user.
    Ask,
    /// Block the call.
    Deny,
}

impl Action {
    /// The matching decision.
    pub fn decision(self) -> Decision {
        match self {
            Action::Allow => Decision::Allow,
            Action::Warn => Decision::Warn,
            Action::Ask => Decision::Ask,
            Action::Deny => Decision::Deny,
        }
    }

    /// The output for this action; the reason is dropped for [`Action::Allow`].
    pub fn output(self, reason: impl Into<String>) -> Output {
        match self {
            Action::Allow => Output::allow(),
            Action::Warn => Output::warn(reason),
            Action::Ask => Output::ask(reason),
            Action::Deny => Output::deny(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Action;
    use crate::Decision;

    #[test]
    fn outputs() {
        assert_eq!(Action::Allow.output("x").reason, None);
        let ask = Action::Ask.output("why");
        assert_eq!(
            (ask.decision, ask.reason.as_deref()),
            (Decision::Ask, Some("why"))
        );
        assert_eq!(Action::Deny.decision(), Decision::Deny);
        let err = serde_json::from_str::<Action>("\"block\"").unwrap_err();
        assert!(err.to_string().contains("expected one of"), "{err}");
    }
}
