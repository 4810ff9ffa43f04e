//! The input document (ABI.md, "Input document"), read leniently: every field defaults when
//! missing, unknown fields are ignored, and the Claude Code event is kept whole.

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::parse_rfc3339;

/// Everything a policy sees on one hook call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Input {
    /// The ABI version the host speaks (1).
    pub abi: u32,
    /// The host's clock when the call started, RFC 3339.
    pub now: Option<String>,
    /// Which policy this is and its configuration.
    pub policy: PolicyInfo,
    /// Claude Code's hook input, exactly as received.
    pub event: Event,
    /// Real token usage and cost over the tracked windows.
    pub usage: Usage,
    /// The live context window of the main conversation.
    pub context: Context,
    /// The plan's real window percentages, when Claude Code reported them.
    pub limits: Option<Limits>,
    /// What this policy returned as `state` last time, or `{}`.
    pub state: Value,
}

impl Input {
    /// The policy's configuration as `T`: [`PolicyInfo::config`].
    pub fn config<T: DeserializeOwned + Default>(&self) -> Result<T, String> {
        self.policy.config()
    }

    /// [`Input::now`] as unix seconds, if present and valid RFC 3339.
    pub fn now_unix(&self) -> Option<i64> {
        self.now.as_deref().and_then(parse_rfc3339)
    }

    /// The model this call will run on: the `model` requested in an `Agent`/`Task` tool input
    /// (a subagent), otherwise the main conversation's model, which subagents also inherit
    /// when they name none (or `inherit`). An alias (`opus`) or a full model id.
    pub fn call_model(&self) -> Option<&str> {
        let requested = if self.event.is_subagent_call() {
            self.event
                .tool_input_str("model")
                .filter(|model| !model.is_empty() && *model != "inherit")
        } else {
            None
        };
        requested.or(self
            .context
            .model
            .as_deref()
            .filter(|model| !model.is_empty()))
    }

    /// The plan's 5-hour window, if it was observed at most `max_age_minutes` before
    /// [`Input::now`] and has not reset since.
    pub fn five_hour_limit(&self, max_age_minutes: u64) -> Option<&RateWindow> {
        let window = self.limits.as_ref()?.five_hour.as_ref()?;
        self.is_current(window, max_age_minutes).then_some(window)
    }

    /// The plan's 7-day window, if it was observed at most `max_age_minutes` before
    /// [`Input::now`] and has not reset since.
    pub fn seven_day_limit(&self, max_age_minutes: u64) -> Option<&RateWindow> {
        let window = self.limits.as_ref()?.seven_day.as_ref()?;
        self.is_current(window, max_age_minutes).then_some(window)
    }

    fn is_current(&self, window: &RateWindow, max_age_minutes: u64) -> bool {
        let (Some(now), Some(observed)) = (
            self.now_unix(),
            window.observed_at.as_deref().and_then(parse_rfc3339),
        ) else {
            return false;
        };
        let max_age = i64::try_from(max_age_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
        let reset = window
            .resets_at
            .as_deref()
            .and_then(parse_rfc3339)
            .is_some_and(|resets| resets <= now);
        now.saturating_sub(observed) <= max_age && !reset
    }
}

/// The policy's name and its `config` table from the tollgate configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyInfo {
    /// The name the policy is registered under.
    pub name: String,
    /// The policy's configuration (any JSON; `null` when none). Read it with
    /// [`PolicyInfo::config`].
    pub config: Value,
}

impl PolicyInfo {
    /// The configuration as `T`; a missing or `null` config gives `T::default()`.
    ///
    /// The error names the policy and the key, ready to return from `evaluate` or a config
    /// check: with `#[serde(deny_unknown_fields)]` on `T`, a key `T` does not have is reported
    /// with the closest one it has: "unknown key `blok_usd` (did you mean `block_usd`?)".
    pub fn config<T: DeserializeOwned + Default>(&self) -> Result<T, String> {
        match &self.config {
            Value::Null => Ok(T::default()),
            config => T::deserialize(config).map_err(|e| {
                let read_alone = |part: &Value| T::deserialize(part).err();
                format!(
                    "invalid config for policy `{}`: {}",
                    self.name,
                    crate::util::explain_config_error(config, &e, read_alone)
                )
            }),
        }
    }
}

/// Claude Code's hook input, kept as the raw JSON object so that no field is lost, with typed
/// accessors for the common fields (see Claude Code's hooks documentation for each event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Event {
    raw: Map<String, Value>,
}

impl Event {
    /// The whole event object.
    pub fn raw(&self) -> &Map<String, Value> {
        &self.raw
    }

    /// A top-level field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key)
    }

    /// A top-level string field.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// `hook_event_name`, e.g. `PreToolUse`; empty when absent.
    pub fn hook_event_name(&self) -> &str {
        self.get_str("hook_event_name").unwrap_or_default()
    }

    /// `session_id`.
    pub fn session_id(&self) -> Option<&str> {
        self.get_str("session_id")
    }

    /// `cwd`, the session's working directory.
    pub fn cwd(&self) -> Option<&str> {
        self.get_str("cwd")
    }

    /// `tool_name` of tool events, e.g. `Read` or `mcp__server__tool`.
    pub fn tool_name(&self) -> Option<&str> {
        self.get_str("tool_name")
    }

    /// `tool_input` of tool events.
    pub fn tool_input(&self) -> Option<&Map<String, Value>> {
        self.get("tool_input").and_then(Value::as_object)
    }

    /// A field of `tool_input`; `None` when absent or `null`.
    pub fn tool_input_field(&self, key: &str) -> Option<&Value> {
        self.tool_input()?.get(key).filter(|value| !value.is_null())
    }

    /// A string field of `tool_input`.
    pub fn tool_input_str(&self, key: &str) -> Option<&str> {
        self.tool_input_field(key).and_then(Value::as_str)
    }

    /// `prompt` of `UserPromptSubmit`.
    pub fn prompt(&self) -> Option<&str> {
        self.get_str("prompt")
    }

    /// Whether this is a call of the subagent tool (`Agent`, named `Task` in older builds).
    pub fn is_subagent_call(&self) -> bool {
        matches!(self.tool_name(), Some("Agent" | "Task"))
    }
}

/// Token and cost totals of one window of time (ABI.md, "Window").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Window {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// input + output + cache creation + cache read.
    pub total_tokens: u64,
    /// Cost of the priced messages, in US dollars.
    pub cost_usd: f64,
    /// Messages whose model has no price: when non-zero, `cost_usd` is a lower bound.
    pub unpriced_messages: u64,
    /// Their tokens: the part of the window a limit in dollars cannot weigh.
    pub unpriced_tokens: u64,
    /// Their models, sorted (empty when every message had a price; omitted from the JSON
    /// then).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
    /// Assistant messages.
    pub messages: u64,
    /// `PreToolUse` events.
    pub tool_calls: u64,
    /// `UserPromptSubmit` events.
    pub prompts: u64,
}

impl Window {
    /// Adds another window's totals to this one (`unpriced_models` stays sorted and unique).
    pub fn add(&mut self, other: &Window) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.total_tokens += other.total_tokens;
        self.cost_usd += other.cost_usd;
        self.unpriced_messages += other.unpriced_messages;
        self.unpriced_tokens += other.unpriced_tokens;
        for model in &other.unpriced_models {
            self.note_unpriced(model);
        }
        self.messages += other.messages;
        self.tool_calls += other.tool_calls;
        self.prompts += other.prompts;
    }

    /// Adds `model` to `unpriced_models`, keeping it sorted and unique.
    pub fn note_unpriced(&mut self, model: &str) {
        if let Err(at) = self
            .unpriced_models
            .binary_search_by(|m| m.as_str().cmp(model))
        {
            self.unpriced_models.insert(at, model.to_owned());
        }
    }
}

/// The current 5-hour block: a [`Window`] (reachable through `Deref`) plus its bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlockWindow {
    /// Start of the block, RFC 3339.
    pub start: Option<String>,
    /// End of the block, RFC 3339.
    pub end: Option<String>,
    /// False when no block is running (the figures are then zero).
    pub active: bool,
    /// The block's totals.
    #[serde(flatten)]
    pub totals: Window,
}

impl Deref for BlockWindow {
    type Target = Window;

    fn deref(&self) -> &Window {
        &self.totals
    }
}

/// A calendar window (the day or the week): a [`Window`] (reachable through `Deref`) plus its
/// bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeriodWindow {
    /// Start of the period, RFC 3339.
    pub start: Option<String>,
    /// End of the period, RFC 3339.
    pub end: Option<String>,
    /// The period's totals.
    #[serde(flatten)]
    pub totals: Window,
}

impl Deref for PeriodWindow {
    type Target = Window;

    fn deref(&self) -> &Window {
        &self.totals
    }
}

/// The block and week windows of one model family (in `by_family`) or one model id (in
/// `by_model`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FamilyWindows {
    /// Usage in the current 5-hour block.
    pub block: Window,
    /// Usage in the current week.
    pub week: Window,
}

/// Usage over the tracked windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Everything of this session.
    pub session: Window,
    /// The current 5-hour block, as Claude Code's usage meter counts it.
    pub block: BlockWindow,
    /// Since local midnight.
    pub day: PeriodWindow,
    /// Since the configured weekly reset.
    pub week: PeriodWindow,
    /// This `cwd` over the week.
    pub project: Window,
    /// Block and week split by family: `opus`, `sonnet`, `haiku`, `other`. Only families
    /// with usage appear.
    pub by_family: BTreeMap<String, FamilyWindows>,
    /// Block and week split by model id. Only models with usage appear.
    pub by_model: BTreeMap<String, FamilyWindows>,
    /// The team's figures from the last `tollgate sync`; absent unless `[team]` is configured
    /// and a sync has run.
    pub team: Option<TeamUsage>,
}

/// One person's (or the whole team's) day and week, all machines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamPeriods {
    /// Since local midnight (the syncing machine's calendar).
    pub day: Window,
    /// Since the configured weekly reset.
    pub week: Window,
}

/// The team's figures as of the last `tollgate sync` (the hook never reads the network).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamUsage {
    /// When they were pulled (RFC 3339, UTC).
    pub synced_at: Option<String>,
    /// Older than the config's `[team] stale_after_minutes`.
    pub stale: bool,
    /// Minutes since the sync.
    pub age_minutes: u64,
    /// The team's name.
    pub name: String,
    /// This person's id.
    pub person_id: String,
    /// This person.
    pub person: TeamPeriods,
    /// The whole team.
    pub team: TeamPeriods,
    /// Each person, by id.
    pub by_person: BTreeMap<String, TeamPeriods>,
}

/// The main conversation's context window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    /// Tokens the next request starts from (input + cache creation + cache read of the latest
    /// main-chain assistant message).
    pub tokens: u64,
    /// The model's context window: as Claude Code reported it to the status line, else from
    /// the price table (1M for the current models); 0 when unknown.
    pub limit: u64,
    /// The main conversation's model id.
    pub model: Option<String>,
    /// The host's estimate of what this call adds (e.g. the file a `Read` is about to load).
    pub pending_tokens: u64,
    /// The prompt cache holding the context, when a response of the session is recorded.
    pub cache: Option<ContextCache>,
}

/// The prompt cache of the main conversation: when it was last used and how long it keeps the
/// context, and what writing the context to it again costs against reading it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextCache {
    /// When the latest main-conversation response came, RFC 3339: the cache's lifetime runs
    /// from there.
    pub last_response_at: String,
    /// How long the cache keeps the context after it, seconds: 300, or 3600 when the session's
    /// latest cache write was a 1-hour one.
    pub lifetime_s: u64,
    /// USD per million tokens written to the cache at that lifetime, for the session's model
    /// (`None`: no price).
    pub write_usd_per_mtok: Option<f64>,
    /// USD per million tokens read from the cache.
    pub read_usd_per_mtok: Option<f64>,
}

/// The plan's real usage windows, as Claude Code last reported them to the status line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// The 5-hour window.
    pub five_hour: Option<RateWindow>,
    /// The 7-day window.
    pub seven_day: Option<RateWindow>,
}

/// One of the plan's windows. Prefer [`Input::five_hour_limit`] and
/// [`Input::seven_day_limit`], which drop stale observations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RateWindow {
    /// How much of the window is used, 0 to 100.
    pub used_percentage: f64,
    /// When the window resets, RFC 3339.
    pub resets_at: Option<String>,
    /// When Claude Code reported the figure, RFC 3339.
    pub observed_at: Option<String>,
}
