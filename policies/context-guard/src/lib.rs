//! The `context-guard` policy: keeps the context window from filling with tokens the task
//! does not need, and tells Claude the cheaper way.
//!
//! * At `warn_at` (0.8) of the model's context window it warns once per session (again
//!   after the context fell back, e.g. after `/compact`), suggesting `/compact` or `/clear`.
//! * A `Read` with no range of a file that would add more than `max_read_tokens` (25k) gets
//!   `on_large` (`deny` by default), telling Claude to read a range or Grep first.
//! * A broad search gets `broad_search` (`warn`): a `Grep` in content mode with no
//!   `head_limit` and no `path`, `glob` or `type`, or a `Glob` of `**...` with no `path`.
//! * After a tool result of more than `max_result_tokens` (20k) it warns, with a hint for
//!   Claude's next call.
//! * A prompt sent after the prompt cache lapsed (idle past its lifetime: 5 minutes, or 1 hour
//!   for 1-hour cache writes) with a context of at least `cache_lapse_tokens` (50k; 0: never)
//!   gets a warning: what writing the context to the cache again costs against reading it, and
//!   that `/compact` or `/clear` may be cheaper.
//!
//! ```toml
//! [[policy]]
//! name = "context-guard"
//! events = ["PreToolUse", "PostToolUse", "UserPromptSubmit"]
//! config = { max_read_tokens = 40000, on_large = "ask" }
//! ```
//!
//! Token figures come from the host: `context.tokens`, `context.pending_tokens` (what the
//! call adds) and `context.cache` (when the cache was last used, its lifetime and prices). The keys are listed in `src/config.schema.json`.
#![deny(unsafe_code)]

use serde::Deserialize;
use serde_json::Value;
use tollgate_sdk::time::parse_rfc3339;
use tollgate_sdk::util::{
    Action, OncePerWindow, check_fraction, check_positive, format_duration, format_percent,
    format_tokens, format_usd,
};
use tollgate_sdk::{Describe, Event, Input, Output, PolicyInfo};

/// JSON Schema of [`Config`], exported by `tollgate_describe`.
const CONFIG_SCHEMA: &str = include_str!("config.schema.json");

/// The warn-once scope of the context fill.
const FILL_SCOPE: &str = "context";

/// The cheaper ways, for the reasons before a call and the hints after one.
const READ_TIP: &str = "read only the lines you need with offset and limit, or Grep for them first";
const GREP_TIP: &str = "set head_limit, narrow it with path, glob or type, or list the matching \
                        files first (output_mode \"files_with_matches\")";
const GLOB_TIP: &str = "pass path to search only the directory you need, or use a narrower pattern";

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    warn_at: f64,
    max_read_tokens: u64,
    on_large: Action,
    broad_search: Action,
    max_result_tokens: u64,
    cache_lapse_tokens: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            warn_at: 0.8,
            max_read_tokens: 25_000,
            on_large: Action::Deny,
            broad_search: Action::Warn,
            max_result_tokens: 20_000,
            cache_lapse_tokens: 50_000,
        }
    }
}

impl Config {
    fn read(policy: &PolicyInfo) -> Result<Config, String> {
        let config: Config = policy.config()?;
        check_fraction("warn_at", config.warn_at)?;
        check_positive("max_read_tokens", Some(config.max_read_tokens as f64))?;
        check_positive("max_result_tokens", Some(config.max_result_tokens as f64))?;
        Ok(config)
    }
}

/// Evaluates one hook call (the module's `tollgate_evaluate` for this policy). The config is
/// read first: a broken one is an error on every call, not only on the events it acts on.
pub fn evaluate(input: Input) -> Result<Output, String> {
    let config = Config::read(&input.policy)?;
    if !matches!(
        input.event.hook_event_name(),
        "PreToolUse" | "PostToolUse" | "UserPromptSubmit"
    ) {
        return Ok(Output::allow());
    }
    let mut once = OncePerWindow::from_state(&input.state);
    let findings = [
        context_fill(&input, &config, &mut once),
        large_read(&input, &config),
        broad_search(&input.event, &config),
        large_result(&input, &config),
        cache_lapse(&input, &config),
    ];
    Ok(once.attach(Output::combine(findings.into_iter().flatten())))
}

/// Checks this policy's config (its part of the module's `tollgate_check_config`).
pub fn check_config(policy: &PolicyInfo) -> Result<(), String> {
    Config::read(policy).map(drop)
}

/// This policy's description (its part of the module's `tollgate_describe`).
pub fn describe() -> Describe {
    Describe {
        name: "context-guard".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Warns as the context fills or when its prompt cache has lapsed, stops \
                      whole reads of large files and flags broad searches, telling Claude the \
                      cheaper way."
            .into(),
        events: vec![
            "PreToolUse".into(),
            "PostToolUse".into(),
            "UserPromptSubmit".into(),
        ],
        config_schema: serde_json::from_str(CONFIG_SCHEMA).unwrap_or_default(),
        policies: Vec::new(),
    }
}

/// A warning, once per session, when the context reaches `warn_at` of the window.
fn context_fill(input: &Input, config: &Config, once: &mut OncePerWindow) -> Option<Output> {
    let context = &input.context;
    if context.limit == 0 {
        return None;
    }
    let ratio = context.tokens as f64 / context.limit as f64;
    if ratio < config.warn_at {
        // Fell back (a compaction, a new conversation): the next crossing warns again.
        once.clear(FILL_SCOPE);
        return None;
    }
    let session = input.event.session_id().unwrap_or_default();
    let level = (config.warn_at * 100.0).round() as u32;
    once.first(FILL_SCOPE, session, level).then(|| {
        Output::warn(format!(
            "context at {} of {} tokens ({}): /compact to summarise it, or /clear to start \
             afresh if the next task is unrelated",
            format_tokens(context.tokens),
            format_tokens(context.limit),
            format_percent(ratio),
        ))
    })
}

/// `on_large` for a `Read` with no range that would add more than `max_read_tokens`.
fn large_read(input: &Input, config: &Config) -> Option<Output> {
    let event = &input.event;
    let pending = input.context.pending_tokens;
    let ranged = ["limit", "pages"]
        .iter()
        .any(|key| event.tool_input_field(key).is_some());
    if event.hook_event_name() != "PreToolUse"
        || event.tool_name() != Some("Read")
        || ranged
        || pending <= config.max_read_tokens
    {
        return None;
    }
    let file = event
        .tool_input_str("file_path")
        .map_or("the file", |path| relative(path, event.cwd()));
    Some(config.on_large.output(format!(
        "reading {file} whole would add ~{} tokens to the context (limit {}): {READ_TIP}",
        format_tokens(pending),
        format_tokens(config.max_read_tokens),
    )))
}

/// `broad_search` for a search over the whole project whose output has no bound.
fn broad_search(event: &Event, config: &Config) -> Option<Output> {
    if event.hook_event_name() != "PreToolUse" {
        return None;
    }
    let set = |key: &str| {
        event
            .tool_input_str(key)
            .is_some_and(|value| !value.is_empty())
    };
    let whole_project = event
        .tool_input_str("path")
        .is_none_or(|path| path.is_empty() || path == "." || Some(path) == event.cwd());
    let pattern = event.tool_input_str("pattern").unwrap_or_default();
    let reason = match event.tool_name()? {
        "Grep" => {
            let content = event.tool_input_str("output_mode") == Some("content");
            let bounded = event
                .tool_input_field("head_limit")
                .and_then(Value::as_u64)
                .is_some_and(|limit| limit > 0);
            let narrowed = !whole_project || set("glob") || set("type");
            (content && !bounded && !narrowed).then(|| {
                format!(
                    "Grep {} in content mode over the whole project with no head_limit can \
                     flood the context: {GREP_TIP}",
                    quote(pattern)
                )
            })
        }
        "Glob" => (pattern.starts_with("**") && whole_project).then(|| {
            format!(
                "Glob {} from the project root can list thousands of files: {GLOB_TIP}",
                quote(pattern)
            )
        }),
        _ => None,
    }?;
    Some(config.broad_search.output(reason))
}

/// A warning, with a hint for Claude, after a result of more than `max_result_tokens`.
fn large_result(input: &Input, config: &Config) -> Option<Output> {
    let event = &input.event;
    let added = input.context.pending_tokens;
    if event.hook_event_name() != "PostToolUse" || added <= config.max_result_tokens {
        return None;
    }
    let tool = event.tool_name().unwrap_or("tool");
    let tip = match tool {
        "Read" => READ_TIP,
        "Grep" => GREP_TIP,
        "Glob" => GLOB_TIP,
        "Bash" => "pipe long output through head, tail or grep",
        "Agent" | "Task" => "ask the subagent for a short summary rather than raw output",
        _ => "ask for less output (a filter, a limit or a page)",
    };
    let added = format_tokens(added);
    Some(
        Output::warn(format!(
            "{tool} result added ~{added} tokens to the context (over {})",
            format_tokens(config.max_result_tokens)
        ))
        .with_context(format!(
            "That {tool} result added ~{added} tokens to your context. Next time, {tip}."
        )),
    )
}

/// A warning on a prompt sent after the prompt cache lapsed, when the context is at least
/// `cache_lapse_tokens`: the whole context is written to the cache again.
fn cache_lapse(input: &Input, config: &Config) -> Option<Output> {
    let context = &input.context;
    if config.cache_lapse_tokens == 0
        || input.event.hook_event_name() != "UserPromptSubmit"
        || context.tokens < config.cache_lapse_tokens
    {
        return None;
    }
    let cache = context.cache.as_ref()?;
    let idle = input.now_unix()? - parse_rfc3339(&cache.last_response_at)?;
    if idle <= cache.lifetime_s as i64 {
        return None;
    }
    let tokens = context.tokens as f64 / 1e6;
    let cost = match (cache.write_usd_per_mtok, cache.read_usd_per_mtok) {
        (Some(write), Some(read)) => format!(
            ", about {} against {} while it was cached",
            format_usd(tokens * write),
            format_usd(tokens * read)
        ),
        _ => String::new(),
    };
    Some(Output::warn(format!(
        "the prompt cache has lapsed ({} idle, past its {} lifetime): this prompt writes the \
         {}-token context to the cache again{cost}. /compact first (its summary is smaller) or \
         /clear if the next task is unrelated may be cheaper",
        format_duration(idle),
        format_duration(cache.lifetime_s as i64),
        format_tokens(context.tokens),
    )))
}

/// `path` relative to the session's directory when inside it.
fn relative<'a>(path: &'a str, cwd: Option<&str>) -> &'a str {
    cwd.and_then(|cwd| path.strip_prefix(cwd.trim_end_matches('/')))
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
        .unwrap_or(path)
}

/// A pattern in quotes, shortened to 60 characters.
fn quote(pattern: &str) -> String {
    match pattern.char_indices().nth(60) {
        Some((end, _)) => format!("\"{}…\"", &pattern[..end]),
        None => format!("\"{pattern}\""),
    }
}

#[cfg(test)]
mod tests;
