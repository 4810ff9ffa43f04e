//! Configuration: a TOML file in the user's config directory, plus an optional project
//! overlay in `<project>/.claude/tollgate.toml`.
//!
//! No config file at all means: record everything and run the built-in policies in warn-only
//! mode, so tollgate never blocks anyone who has not asked it to.

pub mod budgets;
pub mod team;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::pricing::Price;

/// The project overlay's path, relative to the project directory.
pub const PROJECT_FILE: &str = ".claude/tollgate.toml";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What the hook answers when tollgate itself fails (bad input, broken store, config
    /// error): `allow` (fail open, the default) or `deny`.
    #[serde(default = "default_on_internal_error")]
    pub on_internal_error: FailMode,
    /// Where the store lives (default: the platform data directory).
    #[serde(default)]
    pub store: Option<PathBuf>,
    /// Day and week boundaries.
    #[serde(default)]
    pub windows: WindowsConfig,
    /// What is recorded about tool calls.
    #[serde(default)]
    pub record: RecordConfig,
    /// Price overrides and additions: model id → price per million tokens.
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Whether the built-in policies run when no `[[policy]]` is configured.
    #[serde(default = "yes")]
    pub default_policies: bool,
    /// How the built-in policies run: `native` (the default) or `wasm` (in the sandbox).
    #[serde(default)]
    pub builtins: BuiltinRuntime,
    /// The policies, evaluated in order.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
    /// Team budgets: the shared PostgreSQL database `tollgate sync` pushes to and pulls from.
    #[serde(default)]
    pub team: Option<team::TeamConfig>,
}

impl Default for Config {
    fn default() -> Self {
        toml::from_str("").expect("the empty config is valid")
    }
}

/// Answer when tollgate cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Let the call proceed (fail open).
    Allow,
    /// Block it (fail closed).
    Deny,
}

/// How the built-in policies run: as native code, or in the sandbox like any policy file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuiltinRuntime {
    /// As native code linked into the binary, built from the same source as their module.
    #[default]
    Native,
    /// As their WASM module, in the sandbox with the policy's limits, like a policy file.
    Wasm,
}

fn default_on_internal_error() -> FailMode {
    FailMode::Allow
}

fn yes() -> bool {
    true
}

/// Day and week boundaries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// IANA time zone for days and weeks, e.g. `Europe/Paris` (default: the system's).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Weekday the weekly window resets (`monday` … `sunday`).
    #[serde(default = "default_week_day")]
    pub week_reset_day: String,
    /// Hour (0–23) it resets.
    #[serde(default)]
    pub week_reset_hour: u32,
}

impl Default for WindowsConfig {
    fn default() -> Self {
        Self {
            timezone: None,
            week_reset_day: default_week_day(),
            week_reset_hour: 0,
        }
    }
}

fn default_week_day() -> String {
    "monday".into()
}

/// What is recorded about tool calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordConfig {
    /// Longest recorded subject (file path, command, pattern), in bytes; 0 records none.
    #[serde(default = "default_subject_bytes")]
    pub max_subject_bytes: usize,
}

impl Default for RecordConfig {
    fn default() -> Self {
        Self {
            max_subject_bytes: default_subject_bytes(),
        }
    }
}

fn default_subject_bytes() -> usize {
    240
}

/// One policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Its name: a built-in (`budget`, `context-guard`, `model-router`) unless `path` is set.
    pub name: String,
    /// A `.wasm` (or `.wat`) file; relative paths are relative to the config file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// The module's expected sha256 (hex); a file that does not match is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Hook events it sees (default: `PreToolUse`, `PostToolUse`, `UserPromptSubmit`; for
    /// the built-in `model-router`, `PreToolUse`).
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Tool names it sees on tool events (default: all; for the built-in `model-router`, `Task`
    /// and `Agent`); `mcp__*` style prefixes allowed.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// `false`: its asks, denies and downgrades become warnings (warn-only mode).
    #[serde(default = "yes")]
    pub enforce: bool,
    /// `false`: skip it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The decision used when it fails (trap, timeout, bad output): `allow` by default.
    #[serde(default)]
    pub on_error: Option<String>,
    /// Sandbox limits.
    #[serde(default)]
    pub limits: Limits,
    /// Passed to the policy as `policy.config`.
    #[serde(default)]
    pub config: toml::Table,
}

/// Sandbox limits of one policy evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory, MiB.
    #[serde(default = "default_memory")]
    pub memory_mib: u64,
    /// Time, milliseconds: run as fuel (see `engine::FUEL_PER_MS`), and as wall time for a
    /// module that can block.
    #[serde(default = "default_time")]
    pub time_ms: u64,
    /// Output document, KiB.
    #[serde(default = "default_output")]
    pub output_kib: u64,
    /// WASM stack, KiB.
    #[serde(default = "default_stack")]
    pub stack_kib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: default_memory(),
            time_ms: default_time(),
            output_kib: default_output(),
            stack_kib: default_stack(),
        }
    }
}

fn default_memory() -> u64 {
    64
}
fn default_time() -> u64 {
    50
}
fn default_output() -> u64 {
    64
}
fn default_stack() -> u64 {
    512
}

/// Events a policy sees when its config does not say.
pub const DEFAULT_EVENTS: &[&str] = &["PreToolUse", "PostToolUse", "UserPromptSubmit"];

/// The built-in policies, in evaluation order.
pub const BUILTINS: &[&str] = &["budget", "context-guard", "model-router"];

/// Where a built-in acts, for the events and tools its config does not name: `model-router`
/// only ever rewrites a subagent call, so no other call pays for its evaluation (~0.14 ms of a
/// hook call, measured).
fn builtin_scope(name: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    match name {
        "model-router" => Some((&["PreToolUse"], &["Task", "Agent"])),
        _ => None,
    }
}

impl PolicyConfig {
    /// A built-in with default settings, enforcing or warn-only.
    pub fn builtin(name: &str, enforce: bool) -> Self {
        Self {
            name: name.to_owned(),
            path: None,
            sha256: None,
            events: None,
            tools: None,
            enforce,
            enabled: true,
            on_error: None,
            limits: Limits::default(),
            config: toml::Table::new(),
        }
    }

    /// The hook events it sees (`*`: every event): its config's, else its built-in scope's,
    /// else [`DEFAULT_EVENTS`].
    pub fn events(&self) -> Vec<String> {
        let defaults = self.scope().map_or(DEFAULT_EVENTS, |(events, _)| events);
        self.events
            .clone()
            .unwrap_or_else(|| defaults.iter().map(|e| e.to_string()).collect())
    }

    /// The tools it sees on tool events (`None`: every tool): its config's, else its built-in
    /// scope's.
    pub fn tools(&self) -> Option<Vec<String>> {
        self.tools.clone().or_else(|| {
            self.scope()
                .map(|(_, tools)| tools.iter().map(|t| t.to_string()).collect())
        })
    }

    /// Whether this policy sees `event` (with `tool` on tool events).
    pub fn applies_to(&self, event: &str, tool: Option<&str>) -> bool {
        let sees_event = self.events().iter().any(|e| e == event || e == "*");
        let sees_tool = match (self.tools(), tool) {
            (Some(tools), Some(tool)) => tools.iter().any(|t| tool_matches(t, tool)),
            _ => true,
        };
        sees_event && sees_tool
    }

    /// Whether it runs as native code: a built-in, with `builtins = "native"`.
    pub fn runs_natively(&self, builtins: BuiltinRuntime) -> bool {
        self.path.is_none() && builtins == BuiltinRuntime::Native
    }

    /// Where its code comes from, for people: its file, `built-in` (in the sandbox) or
    /// `built-in, native`.
    pub fn source(&self, builtins: BuiltinRuntime) -> String {
        match &self.path {
            Some(path) => path.display().to_string(),
            None if self.runs_natively(builtins) => "built-in, native".to_owned(),
            None => "built-in".to_owned(),
        }
    }

    /// Where a built-in acts by default ([`builtin_scope`]); `None` for a policy file.
    fn scope(&self) -> Option<(&'static [&'static str], &'static [&'static str])> {
        match self.path {
            None => builtin_scope(&self.name),
            Some(_) => None,
        }
    }
}

/// `pattern` is a tool name, `*`, or a prefix ending in `*` (e.g. `mcp__github__*`).
fn tool_matches(pattern: &str, tool: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => tool.starts_with(prefix),
        None => pattern == tool,
    }
}

impl Config {
    /// Parses one config file's text.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut config: Self =
            toml::from_str(text).with_context(|| format!("invalid config {}", origin.display()))?;
        let base = origin.parent().unwrap_or(Path::new("."));
        for policy in &mut config.policies {
            if let Some(path) = policy.path.as_mut().filter(|p| p.is_relative()) {
                *path = base.join(&*path);
            }
            if policy.path.is_none() && !BUILTINS.contains(&policy.name.as_str()) {
                bail!(
                    "{}: policy \"{}\" is not a built-in ({}) and has no `path`",
                    origin.display(),
                    policy.name,
                    BUILTINS.join(", ")
                );
            }
        }
        Ok(config)
    }

    /// The user's file (if it exists) with the project overlay (if it exists) applied.
    pub fn load(user_file: &Path, project_dir: Option<&Path>) -> Result<Self> {
        let mut config = match std::fs::read_to_string(user_file) {
            Ok(text) => Self::parse(&text, user_file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(e) => bail!("cannot read config {}: {e}", user_file.display()),
        };
        if let Some(dir) = project_dir {
            let overlay = dir.join(PROJECT_FILE);
            match std::fs::read_to_string(&overlay) {
                Ok(text) => config.overlay(Self::parse(&text, &overlay)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => bail!("cannot read config {}: {e}", overlay.display()),
            }
        }
        Ok(config)
    }

    /// Applies a project overlay: its policies replace same-named ones and add new ones; its
    /// price overrides add to the user's. Store location, failure mode and how the built-ins
    /// run stay the user's.
    fn overlay(&mut self, project: Self) {
        for policy in project.policies {
            match self.policies.iter_mut().find(|p| p.name == policy.name) {
                Some(existing) => *existing = policy,
                None => self.policies.push(policy),
            }
        }
        self.prices.extend(project.prices);
    }

    /// The policies to run: the configured ones, or the built-ins in warn-only mode.
    pub fn active_policies(&self) -> Vec<PolicyConfig> {
        if self.policies.is_empty() && self.default_policies {
            return BUILTINS
                .iter()
                .map(|n| PolicyConfig::builtin(n, false))
                .collect();
        }
        self.policies
            .iter()
            .filter(|p| p.enabled)
            .cloned()
            .collect()
    }

    /// The day/week calendar.
    pub fn calendar(&self) -> Result<crate::time::Calendar> {
        let zone = match &self.windows.timezone {
            Some(name) => Some(
                name.parse::<chrono_tz::Tz>()
                    .map_err(|_| anyhow::anyhow!("unknown time zone \"{name}\" in [windows] (use an IANA name such as Europe/Paris)"))?,
            ),
            None => None,
        };
        let week_day = self
            .windows
            .week_reset_day
            .parse::<chrono::Weekday>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "week_reset_day \"{}\" is not a weekday",
                    self.windows.week_reset_day
                )
            })?;
        if self.windows.week_reset_hour > 23 {
            bail!("week_reset_hour must be 0–23");
        }
        Ok(crate::time::Calendar {
            zone,
            week_day,
            week_hour: self.windows.week_reset_hour,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_config_runs_builtins_warn_only() {
        let config = Config::default();
        let active = config.active_policies();
        assert_eq!(
            active.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            BUILTINS
        );
        assert!(active.iter().all(|p| !p.enforce));
        assert_eq!(config.on_internal_error, FailMode::Allow);
        assert_eq!(config.builtins, BuiltinRuntime::Native);
        let sandboxed = Config::parse("builtins = \"wasm\"", Path::new("c.toml")).unwrap();
        assert_eq!(sandboxed.builtins, BuiltinRuntime::Wasm);
        assert!(Config::parse("builtins = \"jit\"", Path::new("c.toml")).is_err());
    }

    #[test]
    fn model_router_sees_only_subagent_calls_unless_its_config_says_otherwise() {
        let router = PolicyConfig::builtin("model-router", true);
        assert_eq!(router.events(), ["PreToolUse"]);
        assert_eq!(router.tools().unwrap(), ["Task", "Agent"]);
        assert!(router.applies_to("PreToolUse", Some("Task")));
        assert!(router.applies_to("PreToolUse", Some("Agent")));
        assert!(!router.applies_to("PreToolUse", Some("Bash")));
        assert!(!router.applies_to("PostToolUse", Some("Task")));
        assert!(!router.applies_to("UserPromptSubmit", None));
        // The config's own events and tools win.
        let text = "[[policy]]\nname = \"model-router\"\nevents = [\"PreToolUse\", \"UserPromptSubmit\"]\n\
                    [[policy]]\nname = \"model-router\"\ntools = [\"*\"]\n";
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let (events, tools) = (&config.policies[0], &config.policies[1]);
        assert!(events.applies_to("UserPromptSubmit", None));
        assert!(!events.applies_to("PreToolUse", Some("Bash")));
        assert!(tools.applies_to("PreToolUse", Some("Bash")));
        assert!(!tools.applies_to("PostToolUse", Some("Bash")));
        // The scope is the built-in's: a policy file of the same name has the usual defaults.
        let mut file = PolicyConfig::builtin("model-router", true);
        file.path = Some("router.wasm".into());
        assert!(file.applies_to("PostToolUse", Some("Bash")));
        // The other built-ins see every tool.
        let budget = PolicyConfig::builtin("budget", true);
        assert_eq!(budget.events(), DEFAULT_EVENTS);
        assert_eq!(budget.tools(), None);
        assert!(budget.applies_to("PreToolUse", Some("Bash")));
        assert!(budget.applies_to("PostToolUse", Some("Read")));
    }

    #[test]
    fn parses_policies_with_paths_limits_and_config() {
        let text = r#"
            [windows]
            timezone = "Europe/Paris"
            week_reset_day = "thursday"

            [[policy]]
            name = "budget"
            [policy.config]
            block_usd = 5.0

            [[policy]]
            name = "mine"
            path = "policies/mine.wasm"
            events = ["PreToolUse"]
            tools = ["Bash", "mcp__github__*"]
            limits = { time_ms = 200 }
        "#;
        let config =
            Config::parse(text, Path::new("/home/u/.config/tollgate/config.toml")).unwrap();
        let mine = &config.policies[1];
        assert_eq!(
            mine.path.as_deref(),
            Some(Path::new("/home/u/.config/tollgate/policies/mine.wasm"))
        );
        assert_eq!(mine.limits.time_ms, 200);
        assert_eq!(mine.limits.memory_mib, 64);
        assert!(mine.applies_to("PreToolUse", Some("mcp__github__create_issue")));
        assert!(!mine.applies_to("PreToolUse", Some("Read")));
        assert!(!mine.applies_to("Stop", None));
        assert_eq!(config.policies[0].config["block_usd"].as_float(), Some(5.0));
        assert_eq!(config.calendar().unwrap().week_day, chrono::Weekday::Thu);
    }

    #[test]
    fn errors_name_the_problem() {
        let unknown = Config::parse("polciy = 1", Path::new("c.toml")).unwrap_err();
        assert!(format!("{unknown:#}").contains("polciy"), "{unknown:#}");
        let not_builtin =
            Config::parse("[[policy]]\nname = \"nope\"", Path::new("c.toml")).unwrap_err();
        assert!(
            not_builtin.to_string().contains("not a built-in"),
            "{not_builtin}"
        );
        let config =
            Config::parse("[windows]\ntimezone = \"Mars/Base\"", Path::new("c.toml")).unwrap();
        assert!(
            config
                .calendar()
                .unwrap_err()
                .to_string()
                .contains("Mars/Base")
        );
    }

    #[test]
    fn the_project_overlay_replaces_and_adds_policies() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.toml");
        std::fs::write(
            &user,
            "[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 5.0\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("proj/.claude")).unwrap();
        std::fs::write(
            dir.path().join("proj").join(PROJECT_FILE),
            "[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 1.0\n[[policy]]\nname = \"context-guard\"\n",
        )
        .unwrap();
        let config = Config::load(&user, Some(&dir.path().join("proj"))).unwrap();
        assert_eq!(config.policies.len(), 2);
        assert_eq!(config.policies[0].config["block_usd"].as_float(), Some(1.0));
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::Config;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any text as a config file: parsed or a clear error, never a panic.
        #[test]
        fn any_text(text in ".{0,300}") {
            let _ = Config::parse(&text, std::path::Path::new("c.toml")).map(|c| (c.active_policies(), c.calendar().is_ok()));
        }

        /// Policy tables with arbitrary values in known keys.
        #[test]
        fn policy_tables(name in "[a-z-]{0,12}", time in any::<i64>(), events in prop::collection::vec("[A-Za-z]{0,10}", 0..4),
                         zone in "[A-Za-z/_]{0,20}", hour in any::<u32>()) {
            let text = format!(
                "[windows]\ntimezone = {zone:?}\nweek_reset_hour = {hour}\n[[policy]]\nname = {name:?}\nevents = {events:?}\nlimits = {{ time_ms = {time} }}\n"
            );
            if let Ok(config) = Config::parse(&text, std::path::Path::new("c.toml")) {
                let _ = config.calendar();
                prop_assert!(config.active_policies().iter().all(|p| p.limits.time_ms == time as u64));
            }
        }
    }
}
