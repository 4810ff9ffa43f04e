use serde_json::{Map, Value, json};

use crate::Output;

/// The key of the bookkeeping in the policy's state.
const STATE_KEY: &str = "once";

/// Warn-once bookkeeping kept in the policy's `state`: remembers which threshold levels were
/// already announced in which window, so that a warning is given once per window and level
/// rather than on every call.
///
/// A *scope* is a kind of window (`block`, `week:usd`, ...); a *window* identifies its
/// current instance (the block's start time, the session id, ...). Only the latest window of
/// each scope is kept, so the state stays small. It is stored under the `once` key of the
/// state; other keys are preserved.
///
/// ```
/// use tollgate_sdk::{Output, util::OncePerWindow};
///
/// let mut once = OncePerWindow::from_state(&serde_json::json!({}));
/// assert!(once.first("block", "2026-11-12T05:00:00Z", 80));
/// assert!(!once.first("block", "2026-11-12T05:00:00Z", 80));
/// assert!(once.first("block", "2026-11-12T10:00:00Z", 80)); // a new block
/// let output = once.attach(Output::warn("5-hour block at 80% of its budget"));
/// assert!(output.state.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct OncePerWindow {
    state: Map<String, Value>,
    once: Map<String, Value>,
    changed: bool,
}

impl OncePerWindow {
    /// Reads the bookkeeping from the policy's input `state`.
    pub fn from_state(state: &Value) -> Self {
        let state = state.as_object().cloned().unwrap_or_default();
        let once = state
            .get(STATE_KEY)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Self {
            state,
            once,
            changed: false,
        }
    }

    /// Whether `level` is reached for the first time in `window` of `scope`; records it.
    pub fn first(&mut self, scope: &str, window: &str, level: u32) -> bool {
        let entry = self
            .once
            .get_mut(scope)
            .filter(|entry| entry.get("window").and_then(Value::as_str) == Some(window))
            .and_then(|entry| entry.get_mut("levels"))
            .and_then(Value::as_array_mut);
        match entry {
            Some(levels) if levels.iter().any(|l| l.as_u64() == Some(u64::from(level))) => false,
            Some(levels) => {
                levels.push(level.into());
                self.changed = true;
                true
            }
            None => {
                let entry = json!({ "window": window, "levels": [level] });
                self.once.insert(scope.to_owned(), entry);
                self.changed = true;
                true
            }
        }
    }

    /// Forgets `scope`, e.g. when its figure fell back below every level, so that the next
    /// crossing is announced again.
    pub fn clear(&mut self, scope: &str) {
        self.changed |= self.once.remove(scope).is_some();
    }

    /// Sets `output`'s state to the updated bookkeeping, if it changed (an output without
    /// `state` keeps the stored one).
    pub fn attach(mut self, output: Output) -> Output {
        if !self.changed {
            return output;
        }
        self.state
            .insert(STATE_KEY.to_owned(), Value::Object(self.once));
        output.with_state(Value::Object(self.state))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::OncePerWindow;
    use crate::Output;

    #[test]
    fn once_per_level_and_window() {
        let mut once = OncePerWindow::from_state(&json!({ "other": 1 }));
        assert!(once.first("block", "b1", 80));
        assert!(!once.first("block", "b1", 80));
        assert!(once.first("block", "b1", 100));
        assert!(once.first("week", "w1", 80));
        let state = once.attach(Output::allow()).state.unwrap();
        assert_eq!(
            state,
            json!({
                "other": 1,
                "once": {
                    "block": { "window": "b1", "levels": [80, 100] },
                    "week": { "window": "w1", "levels": [80] },
                },
            })
        );

        // The next call starts from that state; a new block replaces the old one.
        let mut once = OncePerWindow::from_state(&state);
        assert!(!once.first("block", "b1", 100));
        assert!(!once.first("week", "w1", 80));
        assert!(once.first("block", "b2", 80));
        let state = once.attach(Output::allow()).state.unwrap();
        assert_eq!(
            state["once"]["block"],
            json!({ "window": "b2", "levels": [80] })
        );
    }

    #[test]
    fn unchanged_state_is_not_returned() {
        let stored = json!({ "once": { "block": { "window": "b1", "levels": [80] } } });
        let mut once = OncePerWindow::from_state(&stored);
        assert!(!once.first("block", "b1", 80));
        once.clear("week");
        assert_eq!(once.attach(Output::allow()).state, None);
    }

    #[test]
    fn clear_announces_again() {
        let mut once = OncePerWindow::from_state(&json!(null));
        assert!(once.first("context", "s1", 80));
        once.clear("context");
        assert!(once.first("context", "s1", 80));
    }

    #[test]
    fn malformed_state_is_replaced() {
        let mut once = OncePerWindow::from_state(&json!({ "once": { "block": 3 } }));
        assert!(once.first("block", "b1", 80));
        let state = once.attach(Output::allow()).state.unwrap();
        assert_eq!(
            state["once"]["block"],
            json!({ "window": "b1", "levels": [80] })
        );
    }
}
