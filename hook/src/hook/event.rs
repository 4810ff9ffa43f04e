//! Claude Code's hook input: one JSON object on stdin, parsed leniently.
//!
//! The schema grows with every Claude Code release, so the whole object is kept as received
//! (policies see it unchanged) and only the fields tollgate needs are read, each tolerant of a
//! missing value or a wrong type.

use serde_json::{Map, Value};

/// Largest hook input read from stdin; a bigger one is refused (fail-open) rather than
/// exhausting memory.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;

/// Why a hook input could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Nothing arrived on stdin.
    #[error("the hook input on stdin is empty (Claude Code sends one JSON object per call)")]
    Empty,
    /// stdin was not a JSON object.
    #[error("the hook input is not valid JSON: {0}")]
    NotJson(serde_json::Error),
    /// A JSON value that is not an object.
    #[error("the hook input is JSON but not an object")]
    NotObject,
    /// No `hook_event_name`.
    #[error(
        "the hook input has no \"hook_event_name\": is this command registered as a Claude Code hook?"
    )]
    NoEventName,
    /// Larger than [`MAX_INPUT_BYTES`].
    #[error("the hook input is larger than {} MiB", MAX_INPUT_BYTES >> 20)]
    TooLarge,
}

/// One hook call's input.
#[derive(Debug, Clone)]
pub struct HookInput {
    /// The object as received, unknown fields included.
    pub raw: Map<String, Value>,
    /// `hook_event_name`, e.g. `PreToolUse` (any string: unknown events are kept).
    pub event: String,
}

impl HookInput {
    /// Parses stdin's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, InputError> {
        if bytes.len() > MAX_INPUT_BYTES {
            return Err(InputError::TooLarge);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(InputError::Empty);
        }
        let value: Value = serde_json::from_slice(bytes).map_err(InputError::NotJson)?;
        let Value::Object(raw) = value else {
            return Err(InputError::NotObject);
        };
        let event = match raw.get("hook_event_name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(InputError::NoEventName),
        };
        Ok(Self { raw, event })
    }

    /// A string field, or `None` when missing or not a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.raw.get(key).and_then(Value::as_str)
    }

    /// `session_id`, or `""`.
    pub fn session_id(&self) -> &str {
        self.str("session_id").unwrap_or_default()
    }

    /// `cwd`, or `""`.
    pub fn cwd(&self) -> &str {
        self.str("cwd").unwrap_or_default()
    }

    /// `transcript_path`, when given.
    pub fn transcript_path(&self) -> Option<&str> {
        self.str("transcript_path").filter(|p| !p.is_empty())
    }

    /// `tool_name` on tool events.
    pub fn tool_name(&self) -> Option<&str> {
        self.str("tool_name")
    }

    /// `tool_input` on tool events.
    pub fn tool_input(&self) -> Option<&Value> {
        self.raw.get("tool_input")
    }

    /// `tool_response` on PostToolUse.
    pub fn tool_response(&self) -> Option<&Value> {
        self.raw.get("tool_response")
    }

    /// Whether this is a call of the subagent tool (`Agent`; `Task` in older Claude Code).
    pub fn is_subagent_call(&self) -> bool {
        matches!(self.tool_name(), Some("Agent" | "Task"))
    }

    /// A short description of what a tool call touches (file, command, pattern, URL), for the
    /// log and the "what ate my window" views. Secrets are redacted, length is capped.
    pub fn subject(&self, max_len: usize) -> Option<String> {
        let input = self.tool_input()?;
        let field = |k: &str| input.get(k).and_then(Value::as_str);
        let text = match self.tool_name()? {
            "Read" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
                field("file_path").or(field("notebook_path"))?.to_owned()
            }
            "Bash" | "PowerShell" => field("command")?.to_owned(),
            "Grep" | "Glob" => match field("path") {
                Some(path) => format!("{} in {path}", field("pattern")?),
                None => field("pattern")?.to_owned(),
            },
            "WebFetch" => field("url")?.to_owned(),
            "WebSearch" => field("query")?.to_owned(),
            "Agent" | "Task" => {
                let kind = field("subagent_type").unwrap_or("general-purpose");
                match field("model") {
                    Some(model) => {
                        format!("{kind} ({model}): {}", field("description").unwrap_or(""))
                    }
                    None => format!("{kind}: {}", field("description").unwrap_or("")),
                }
            }
            _ => return None,
        };
        Some(truncate(&crate::hook::redact::redact(&text), max_len))
    }

    /// The input as policies read it, recorded with the event for `tollgate policy replay`:
    /// without `transcript_path` and `tool_response` (but for a subagent's `agentId`, which
    /// links the call to its usage), every string redacted and cut to [`MAX_RECORDED_STRING`]
    /// bytes.
    pub fn recorded(&self) -> String {
        let mut kept = Map::new();
        for (key, value) in &self.raw {
            let value = match key.as_str() {
                "transcript_path" => continue,
                "tool_response" => match value.get("agentId") {
                    Some(Value::String(agent)) => {
                        serde_json::json!({ "agentId": recorded_string(agent) })
                    }
                    _ => continue,
                },
                _ => recorded_value(value),
            };
            kept.insert(key.clone(), value);
        }
        Value::Object(kept).to_string()
    }

    /// Byte size of the tool input as JSON (0 when absent).
    pub fn input_bytes(&self) -> u64 {
        self.tool_input().map_or(0, json_len)
    }

    /// Bytes of text a tool result puts into the context: the sum of its string values.
    pub fn response_bytes(&self) -> u64 {
        self.tool_response().map_or(0, text_bytes)
    }
}

/// Most bytes of a string value in [`HookInput::recorded`]: policies read paths, patterns,
/// models and descriptions, never a whole file.
pub const MAX_RECORDED_STRING: usize = 1024;

fn recorded_value(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(recorded_string(text)),
        Value::Array(items) => Value::Array(items.iter().map(recorded_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), recorded_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `text` redacted and cut to [`MAX_RECORDED_STRING`] bytes. Cut first, with room to spare
/// (so a huge file body is not scanned), then redacted: a secret cut at the first cut is
/// still masked.
fn recorded_string(text: &str) -> String {
    let head = truncate(text, 2 * MAX_RECORDED_STRING);
    truncate(&crate::hook::redact::redact(&head), MAX_RECORDED_STRING)
}

pub use crate::policy::tokens::estimate_tokens;

fn json_len(value: &Value) -> u64 {
    serde_json::to_vec(value).map_or(0, |v| v.len() as u64)
}

/// Sum of the byte lengths of every string in `value` (what a tool result shows the model).
fn text_bytes(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.len() as u64,
        Value::Array(items) => items.iter().map(text_bytes).sum(),
        Value::Object(map) => map.values().map(text_bytes).sum(),
        Value::Number(_) | Value::Bool(_) | Value::Null => 0,
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_a_hook_input() {
        assert!(matches!(HookInput::parse(b""), Err(InputError::Empty)));
        assert!(matches!(HookInput::parse(b" \n"), Err(InputError::Empty)));
        assert!(matches!(
            HookInput::parse(b"{"),
            Err(InputError::NotJson(_))
        ));
        assert!(matches!(
            HookInput::parse(b"[1]"),
            Err(InputError::NotObject)
        ));
        assert!(matches!(
            HookInput::parse(b"{\"a\":1}"),
            Err(InputError::NoEventName)
        ));
        assert!(matches!(
            HookInput::parse(br#"{"hook_event_name": 3}"#),
            Err(InputError::NoEventName)
        ));
    }

    #[test]
    fn wrong_types_read_as_missing() {
        let input =
            HookInput::parse(br#"{"hook_event_name":"PreToolUse","session_id":7,"tool_name":[]}"#)
                .unwrap();
        assert_eq!(input.session_id(), "");
        assert_eq!(input.tool_name(), None);
        assert_eq!(input.subject(100), None);
    }

    #[test]
    fn subjects_name_what_a_tool_touches() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"Grep","tool_input":{"pattern":"fn main","path":"src"}}"#,
        )
        .unwrap();
        assert_eq!(input.subject(100).unwrap(), "fn main in src");
        let bash = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"curl -H 'Authorization: Bearer abcdefghijklmnop' x"}}"#,
        )
        .unwrap();
        let subject = bash.subject(100).unwrap();
        assert!(!subject.contains("abcdefghijklmnop"), "{subject}");
    }

    #[test]
    fn response_bytes_count_text_only() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PostToolUse","tool_response":{"stdout":"abcd","stderr":"","code":0,"more":["xy"]}}"#,
        )
        .unwrap();
        assert_eq!(input.response_bytes(), 6);
        assert_eq!(estimate_tokens(6), 2);
    }

    /// The recorded input: no transcript path or tool result (but a subagent's id), secrets
    /// masked, long strings cut on a character boundary, everything else as received.
    #[test]
    fn the_recorded_input_keeps_what_policies_read() {
        let long = format!("{}é{}", "a".repeat(1023), "b".repeat(5000));
        let input = HookInput::parse(
            serde_json::json!({
                "hook_event_name": "PostToolUse", "session_id": "s", "cwd": "/p",
                "transcript_path": "/home/me/.claude/projects/p/s.jsonl",
                "tool_name": "Agent",
                "tool_input": {"description": "d", "model": "opus", "limit": 3,
                               "prompt": long, "command": "curl -H 'Authorization: Bearer abcdefghijklmnop' x"},
                "tool_response": {"agentId": "a1", "content": [{"text": "the whole report"}]},
                "extra": [true, null, "x"]
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let recorded: serde_json::Value = serde_json::from_str(&input.recorded()).unwrap();
        assert_eq!(recorded.get("transcript_path"), None);
        assert_eq!(
            recorded["tool_response"],
            serde_json::json!({"agentId": "a1"})
        );
        assert_eq!(recorded["extra"], serde_json::json!([true, null, "x"]));
        let tool_input = &recorded["tool_input"];
        assert_eq!(
            (&tool_input["model"], &tool_input["limit"]),
            (&"opus".into(), &3.into())
        );
        let prompt = tool_input["prompt"].as_str().unwrap();
        assert!(
            prompt.len() <= MAX_RECORDED_STRING && prompt.ends_with('…'),
            "{prompt}"
        );
        assert!(prompt.starts_with(&"a".repeat(1020)));
        let command = tool_input["command"].as_str().unwrap();
        assert!(!command.contains("abcdefghijklmnop"), "{command}");
        let bare = HookInput::parse(br#"{"hook_event_name":"Stop","tool_response":"x"}"#).unwrap();
        assert_eq!(bare.recorded(), r#"{"hook_event_name":"Stop"}"#);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo wörld", 100), "héllo wörld");
        let cut = truncate("ééééé", 6);
        assert!(cut.len() <= 6 && cut.ends_with('…'), "{cut}");
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::HookInput;

    /// Arbitrary JSON, nested a few levels, with any strings.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::from),
                prop::collection::btree_map(".*", inner, 0..8)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes: parsed or refused, never a panic.
        #[test]
        fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = HookInput::parse(&bytes);
        }

        /// Any JSON object with any field types: every accessor works.
        #[test]
        fn any_object(fields in prop::collection::btree_map(
            prop_oneof![Just("tool_name".to_owned()), Just("tool_input".to_owned()),
                        Just("tool_response".to_owned()), Just("session_id".to_owned()),
                        Just("cwd".to_owned()), ".*"],
            json(), 0..8), event in ".*") {
            let mut object: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
            object.insert("hook_event_name".into(), serde_json::Value::String(event.clone()));
            let text = serde_json::to_vec(&object).unwrap();
            match HookInput::parse(&text) {
                Ok(input) => {
                    let _ = (input.session_id(), input.cwd(), input.transcript_path(), input.tool_name());
                    let _ = (input.subject(50), input.input_bytes(), input.response_bytes());
                    prop_assert!(input.subject(50).is_none_or(|s| s.len() <= 50));
                }
                Err(_) => prop_assert!(event.is_empty()),
            }
        }
    }
}
