//! Claude Code's hook events: how each one lets a hook answer, and which ones tollgate registers
//! for.
//!
//! The list is Claude Code [`CLAUDE_CODE_VERSION`]'s (its hooks reference and the event names
//! the release accepts in settings). An event missing here is still recorded and allowed:
//! `tollgate hook` prints nothing for it.

/// The Claude Code release tollgate's end-to-end tests run (`scripts/claude-code-version`, which
/// `scripts/test` installs): `tollgate doctor` compares the installed one with it.
pub const CLAUDE_CODE_VERSION: &str =
    include_str!("../../../scripts/claude-code-version").trim_ascii();

/// How an event lets a hook refuse what it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It cannot be refused: a deny or an ask becomes a warning.
    Never,
    /// `hookSpecificOutput.permissionDecision` (`deny`, `ask`) with its reason.
    Permission,
    /// `hookSpecificOutput.decision.behavior: "deny"` (the permission dialog's answer).
    Behavior,
    /// Top-level `decision: "block"` with a `reason`.
    Block,
    /// Top-level `decision: "block"`, which keeps Claude working rather than stopping it: only
    /// when the config allows it (`Stop`, `SubagentStop`).
    BlockToContinue,
}

/// One hook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// `hook_event_name`.
    pub name: &'static str,
    /// How it can be refused.
    pub refusal: Refusal,
    /// Whether `hookSpecificOutput.additionalContext` reaches Claude.
    pub context: bool,
    /// Whether Claude Code reads a JSON answer at all (`false`: tollgate prints nothing, which
    /// is the only safe answer: e.g. `WorktreeCreate` reads stdout as the worktree's path).
    pub answered: bool,
    /// Whether `tollgate install` and the plugin register tollgate for it: the events that
    /// tell something about usage, context or budgets, or let a policy act before the cost.
    pub registered: bool,
    /// Whether its matcher is a tool name (registered with `"matcher": "*"`).
    pub tool_matcher: bool,
}

const fn event(name: &'static str, refusal: Refusal, context: bool) -> Event {
    Event {
        name,
        refusal,
        context,
        answered: true,
        registered: false,
        tool_matcher: false,
    }
}

impl Event {
    const fn registered(mut self) -> Self {
        self.registered = true;
        self
    }

    const fn tool(mut self) -> Self {
        self.tool_matcher = true;
        self
    }

    const fn silent(mut self) -> Self {
        self.answered = false;
        self
    }
}

use Refusal::{Behavior, Block, BlockToContinue, Never, Permission};

/// Every hook event of Claude Code [`CLAUDE_CODE_VERSION`], in the order of its hooks reference.
pub const EVENTS: [Event; 33] = [
    event("SessionStart", Never, true).registered(),
    event("Setup", Never, true),
    event("UserPromptSubmit", Block, true).registered(),
    event("UserPromptExpansion", Block, true).registered(),
    event("PreToolUse", Permission, true).registered().tool(),
    event("PermissionRequest", Behavior, false)
        .registered()
        .tool(),
    event("PermissionDenied", Never, false)
        .registered()
        .tool()
        .silent(),
    event("PostToolUse", Block, true).registered().tool(),
    event("PostToolUseFailure", Block, true).registered().tool(),
    event("PostToolBatch", Block, true).registered(),
    event("Notification", Never, false).registered().silent(),
    event("MessageDisplay", Never, false).silent(),
    event("SubagentStart", Never, true).registered(),
    event("SubagentStop", BlockToContinue, false).registered(),
    event("TaskCreated", Never, false),
    event("TaskCompleted", Never, false),
    event("TeammateIdle", Never, false),
    event("Stop", BlockToContinue, false).registered(),
    event("StopFailure", Never, false).registered().silent(),
    event("InstructionsLoaded", Never, false).silent(),
    event("ConfigChange", Block, false),
    event("CwdChanged", Never, false).silent(),
    event("DirectoryAdded", Never, false).silent(),
    event("FileChanged", Never, false).silent(),
    event("WorktreeCreate", Never, false).silent(),
    event("WorktreeRemove", Never, false).silent(),
    event("PreCompact", Block, false).registered(),
    event("PostCompact", Never, false).registered().silent(),
    event("PreModelSwitch", Permission, false).registered(),
    event("PostModelSwitch", Never, true).registered(),
    event("Elicitation", Never, false).silent(),
    event("ElicitationResult", Never, false).silent(),
    event("SessionEnd", Never, false).registered().silent(),
];

/// The event named `name`, if Claude Code has one.
pub fn get(name: &str) -> Option<&'static Event> {
    EVENTS.iter().find(|e| e.name == name)
}

/// The events tollgate registers for, in [`EVENTS`] order.
pub fn registered() -> impl Iterator<Item = &'static Event> {
    EVENTS.iter().filter(|e| e.registered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_registered_ones_are_answered_sensibly() {
        for (i, a) in EVENTS.iter().enumerate() {
            assert!(
                EVENTS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
        }
        assert_eq!(registered().count(), 19);
        for name in [
            "SubagentStart",
            "PostToolBatch",
            "StopFailure",
            "PermissionDenied",
            "PostCompact",
            "UserPromptExpansion",
            "PostModelSwitch",
        ] {
            assert!(get(name).unwrap().registered, "{name}");
        }
        // A handler there replaces git's worktree creation: never registered.
        assert!(!get("WorktreeCreate").unwrap().registered);
        assert_eq!(get("SomeFutureEvent"), None);
    }
}
