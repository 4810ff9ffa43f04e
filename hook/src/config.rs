//! Configuration: a TOML file in the user's config directory, plus an optional project
//! overlay in `<project>/.claude/tollgate.toml`.
//!
//! No config file at all means: record everything and run the built-in policies in warn-only
//! mode, so tollgate never blocks anyone who has not asked it to.
//!
//! A project's file is untrusted input (anyone can commit one): it applies only once the user
//! trusted it ([`trust`]), and even then it can only add to the user's config, never loosen it
//! ([`Config::overlay`]).

pub(crate) mod budgets;
pub(crate) mod team;
pub(crate) mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::pricing::{Price, Pricing};
use trust::TrustList;

/// The project overlay's path, relative to the project directory.
pub const PROJECT_FILE: &str = ".claude/tollgate.toml";

/// Largest config file read (yours or a project's).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

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
    /// Whether the guard denies the agent's tool calls that would switch tollgate off (the
    /// hook's `guard` module). Only the user's config can turn it off.
    #[serde(default = "yes")]
    pub guard: bool,
    /// The policies, evaluated in order.
    #[serde(default, rename = "policy")]
    pub policies: Vec<PolicyConfig>,
    /// Team budgets: the shared PostgreSQL database `tollgate sync` pushes to and pulls from.
    #[serde(default)]
    pub team: Option<team::TeamConfig>,
    /// What became of the project's file, when a project was given.
    #[serde(skip)]
    pub project: Overlay,
}

/// What became of a project's `.claude/tollgate.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Overlay {
    /// No project, or no file in it.
    #[default]
    None,
    /// Trusted and applied; what of it was not applied, and why.
    Applied {
        /// The file.
        file: PathBuf,
        /// One entry per thing not applied.
        ignored: Vec<String>,
    },
    /// Not trusted: ignored.
    Untrusted {
        /// The file.
        file: PathBuf,
        /// The project's directory, as `tollgate trust` takes it.
        dir: PathBuf,
    },
    /// Trusted once, changed since: ignored.
    Changed {
        /// The file.
        file: PathBuf,
        /// The project's directory.
        dir: PathBuf,
        /// When it was trusted.
        trusted: String,
    },
    /// Trusted, but unreadable or invalid: ignored.
    Unusable {
        /// What is wrong (the file named).
        error: String,
    },
}

impl Overlay {
    /// One line about it, when there is something to say: why it is ignored and how to trust
    /// it, or what of it was not applied.
    pub fn note(&self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Applied { ignored, .. } if ignored.is_empty() => None,
            Self::Applied { file, ignored } => {
                Some(format!("{}: {}", file.display(), ignored.join("; ")))
            }
            Self::Untrusted { file, dir } => Some(format!(
                "{} is ignored: this project's config is not trusted; review it, then run `tollgate trust {}`",
                file.display(),
                shell_word(dir)
            )),
            Self::Changed { file, dir, trusted } => Some(format!(
                "{} is ignored: it changed since you trusted it ({trusted}); review it, then run `tollgate trust {}` again",
                file.display(),
                shell_word(dir)
            )),
            Self::Unusable { error } => Some(format!("{error}; the project's config is ignored")),
        }
    }

    /// Whether the file is trusted and applied.
    pub fn applied(&self) -> bool {
        matches!(self, Self::Applied { .. })
    }
}

/// `path` as one word for a POSIX shell: quoted when it needs to be.
fn shell_word(path: &Path) -> String {
    let text = path.display().to_string();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// What a project's file may hold that is applied: policies and prices. Anything else is
/// collected to be reported as ignored.
#[derive(Debug, Deserialize)]
struct ProjectFile {
    #[serde(default, rename = "policy")]
    policies: Vec<PolicyConfig>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    #[serde(flatten)]
    other: toml::Table,
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

impl Limits {
    /// Lowers each limit to at most `cap`'s; says which it lowered (`memory_mib 100000 -> 64`).
    pub fn clamp_to(&mut self, cap: &Limits) -> Vec<String> {
        let mut lowered = Vec::new();
        for (name, value, max) in [
            ("memory_mib", &mut self.memory_mib, cap.memory_mib),
            ("time_ms", &mut self.time_ms, cap.time_ms),
            ("output_kib", &mut self.output_kib, cap.output_kib),
            ("stack_kib", &mut self.stack_kib, cap.stack_kib),
        ] {
            if *value > max {
                lowered.push(format!("{name} {value} -> {max}"));
                *value = max;
            }
        }
        lowered
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

/// Makes relative policy paths relative to the file they are in (`origin`), and checks that
/// each policy is a built-in or has a path.
fn resolve_policies(policies: &mut [PolicyConfig], origin: &Path) -> Result<()> {
    let base = origin.parent().unwrap_or(Path::new("."));
    for policy in policies {
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
    Ok(())
}

/// Parses a project's file (see [`ProjectFile`]).
fn parse_project(text: &str, origin: &Path) -> Result<ProjectFile> {
    let mut project: ProjectFile =
        toml::from_str(text).with_context(|| format!("invalid config {}", origin.display()))?;
    resolve_policies(&mut project.policies, origin)?;
    Ok(project)
}

/// A message on one line (TOML errors quote the line they point at, over several).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
        resolve_policies(&mut config.policies, origin)?;
        Ok(config)
    }

    /// Your file (if it exists) with the project's file applied, if the project has one and
    /// you trusted it (see [`Config::project`] for what became of it). Files are read with
    /// [`crate::files`]: regular files of at most [`MAX_CONFIG_BYTES`].
    pub fn load(user_file: &Path, project_dir: Option<&Path>) -> Result<Self> {
        let mut config = match crate::files::read_to_string(user_file, MAX_CONFIG_BYTES) {
            Ok(text) => Self::parse(&text, user_file)?,
            Err(e) if e.is_not_found() => Self::default(),
            Err(e) => return Err(e.into()),
        };
        if let Some(dir) = project_dir {
            let trust_list = crate::paths::trust_file_for(user_file);
            config.project = config.apply_project(dir, &trust_list);
        }
        Ok(config)
    }

    /// Applies the file of the project at `dir` if `trust_list` trusts it as it is now; says
    /// what became of it. A file that is missing, untrusted, changed since trusted, unreadable
    /// or invalid leaves your config as it is.
    fn apply_project(&mut self, dir: &Path, trust_list: &Path) -> Overlay {
        let file = dir.join(PROJECT_FILE);
        // A `stat`: a FIFO or a device is not opened unless trusted, and then refused.
        if std::fs::metadata(&file).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return Overlay::None;
        }
        let key = trust::project_key(dir);
        let trusted = match TrustList::load(trust_list) {
            Ok(list) => list.find(&key).cloned(),
            Err(e) => {
                return Overlay::Unusable {
                    error: format!("{e:#}"),
                };
            }
        };
        let Some(trusted) = trusted else {
            return Overlay::Untrusted { file, dir: key };
        };
        let project = crate::files::read(&file, MAX_CONFIG_BYTES)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| {
                let sha256 = trust::sha256(&bytes);
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
                Ok((sha256, text))
            });
        let (sha256, text) = match project {
            Ok(read) => read,
            Err(e) => {
                return Overlay::Unusable {
                    error: format!("{e:#}"),
                };
            }
        };
        if sha256 != trusted.sha256 {
            return Overlay::Changed {
                file,
                dir: key,
                trusted: trusted.trusted,
            };
        }
        match self.apply_project_text(&file, &text) {
            Ok(ignored) => Overlay::Applied { file, ignored },
            Err(e) => Overlay::Unusable {
                error: one_line(&format!("{e:#}")),
            },
        }
    }

    /// Applies the text of a project's file (`file`, for its relative paths and messages) as
    /// a trusted one; returns what of it was not applied, and why. `tollgate trust` shows
    /// with it what a file would do.
    pub fn apply_project_text(&mut self, file: &Path, text: &str) -> Result<Vec<String>> {
        Ok(self.overlay(parse_project(text, file)?))
    }

    /// Applies a trusted project's file, which can only add to yours; returns what was not
    /// applied, and why.
    ///
    /// - Its policies are added after yours, each limit lowered to at most the default
    ///   limits. A policy named like one of yours is ignored: a project cannot replace or turn
    ///   off your policies. The one exception: with no `[[policy]]` of yours, the built-ins
    ///   run warn-only by default, and a project may configure those built-ins (the same code,
    ///   its settings: e.g. enforcing a budget), as long as the default it replaces is
    ///   warn-only.
    /// - Its prices apply only to models with no price (yours or the bundled table's): it
    ///   cannot lower or otherwise change a price, or a model's context window.
    /// - Anything else (the store, `on_internal_error`, `builtins`, `default_policies`,
    ///   `windows`, `record`, `team`) stays yours.
    fn overlay(&mut self, project: ProjectFile) -> Vec<String> {
        let mut ignored = Vec::new();
        if !project.other.is_empty() {
            let keys: Vec<&str> = project.other.keys().map(String::as_str).collect();
            ignored.push(format!(
                "`{}` ignored: a project's file sets only `[[policy]]` and `[prices]`",
                keys.join("`, `")
            ));
        }
        // The built-ins that run by default, made explicit so that the project's policies add
        // to them (and may configure them) instead of taking their place.
        let mut replaceable = vec![false; self.policies.len()];
        if self.policies.is_empty() && self.default_policies && !project.policies.is_empty() {
            self.policies = self.active_policies();
            replaceable = vec![true; self.policies.len()];
        }
        for mut policy in project.policies {
            let lowered = policy.limits.clamp_to(&Limits::default());
            if !lowered.is_empty() {
                ignored.push(format!(
                    "policy \"{}\": limits lowered to the defaults, the most a project's policy gets ({})",
                    policy.name,
                    lowered.join(", ")
                ));
            }
            match self.policies.iter().position(|p| p.name == policy.name) {
                Some(i) if replaceable[i] && !self.policies[i].enforce && policy.path.is_none() => {
                    replaceable[i] = false;
                    self.policies[i] = policy;
                }
                Some(_) => ignored.push(format!(
                    "policy \"{}\" ignored: a project cannot replace a policy of yours",
                    policy.name
                )),
                None => {
                    self.policies.push(policy);
                    replaceable.push(false);
                }
            }
        }
        let pricing = Pricing::with_overrides(&self.prices);
        for (model, price) in project.prices {
            if pricing.price(&model).is_some() {
                ignored.push(format!(
                    "price of {model} ignored: a project may only price a model that has no price"
                ));
            } else {
                self.prices.insert(model, price);
            }
        }
        ignored
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

    /// A user config, a project with a file, and the trust list beside the config.
    struct Setup {
        dir: tempfile::TempDir,
    }

    impl Setup {
        fn new(user: &str, project: &str) -> Self {
            let setup = Self {
                dir: tempfile::tempdir().unwrap(),
            };
            std::fs::write(setup.user(), user).unwrap();
            std::fs::create_dir_all(setup.project().join(".claude")).unwrap();
            std::fs::write(setup.project().join(PROJECT_FILE), project).unwrap();
            setup
        }

        fn user(&self) -> PathBuf {
            self.dir.path().join("config.toml")
        }

        fn project(&self) -> PathBuf {
            self.dir.path().join("proj")
        }

        /// What `tollgate trust` records.
        fn trust(&self) {
            let bytes = std::fs::read(self.project().join(PROJECT_FILE)).unwrap();
            let mut list = TrustList::default();
            let key = trust::project_key(&self.project());
            list.trust(&key, &trust::sha256(&bytes), "2026-12-01T00:00:00Z");
            list.save(&crate::paths::trust_file_for(&self.user()))
                .unwrap();
        }

        fn load(&self) -> Config {
            Config::load(&self.user(), Some(&self.project())).unwrap()
        }
    }

    fn names(config: &Config) -> Vec<String> {
        config
            .active_policies()
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    const USER: &str = "[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 5.0\n";
    const PROJECT: &str = "[[policy]]\nname = \"mine\"\npath = \"mine.wasm\"\n";

    #[test]
    fn an_untrusted_project_file_is_ignored_and_says_how_to_trust_it() {
        let setup = Setup::new(USER, PROJECT);
        let config = setup.load();
        assert_eq!(names(&config), ["budget"]);
        let note = config.project.note().unwrap();
        let dir = trust::project_key(&setup.project());
        assert!(
            note.contains("is not trusted")
                && note.contains(&format!("tollgate trust {}", dir.display())),
            "{note}"
        );
        // Not even a broken one breaks yours.
        std::fs::write(setup.project().join(PROJECT_FILE), "this is not toml [[").unwrap();
        assert_eq!(names(&setup.load()), ["budget"]);
    }

    #[test]
    fn a_trusted_project_file_adds_policies_until_it_changes() {
        let setup = Setup::new(USER, PROJECT);
        setup.trust();
        let config = setup.load();
        assert_eq!(names(&config), ["budget", "mine"]);
        assert_eq!(config.project.note(), None);
        assert!(config.project.applied());
        let mine = &config.active_policies()[1];
        assert_eq!(
            mine.path.as_deref(),
            Some(setup.project().join(".claude/mine.wasm").as_path())
        );
        // Changed after it was trusted: ignored until trusted again.
        std::fs::write(
            setup.project().join(PROJECT_FILE),
            format!("{PROJECT}enforce = false\n"),
        )
        .unwrap();
        let config = setup.load();
        assert_eq!(names(&config), ["budget"]);
        let note = config.project.note().unwrap();
        assert!(
            note.contains("changed since you trusted it") && note.contains("again"),
            "{note}"
        );
        setup.trust();
        assert_eq!(names(&setup.load()), ["budget", "mine"]);
    }

    /// With no policy of yours, a project adds to the warn-only built-ins, and may configure
    /// them; it cannot replace a policy you configured.
    #[test]
    fn a_project_adds_to_the_defaults_and_may_configure_them_but_not_yours() {
        let project = "[[policy]]\nname = \"budget\"\n[policy.config]\nblock_usd = 1.0\n\
                       [[policy]]\nname = \"mine\"\npath = \"mine.wasm\"\n";
        let setup = Setup::new("", project);
        setup.trust();
        let config = setup.load();
        assert_eq!(
            names(&config),
            ["budget", "context-guard", "model-router", "mine"]
        );
        let budget = &config.active_policies()[0];
        assert!(budget.enforce, "the project's budget enforces");
        assert_eq!(budget.config["block_usd"].as_float(), Some(1.0));
        let guard = &config.active_policies()[1];
        assert!(!guard.enforce, "the other defaults stay warn-only");

        let setup = Setup::new(USER, project);
        setup.trust();
        let config = setup.load();
        assert_eq!(names(&config), ["budget", "mine"]);
        assert_eq!(
            config.active_policies()[0].config["block_usd"].as_float(),
            Some(5.0)
        );
        let note = config.project.note().unwrap();
        assert!(
            note.contains("policy \"budget\" ignored: a project cannot replace"),
            "{note}"
        );
    }

    /// Trusted, a project still cannot loosen anything of yours.
    #[test]
    fn a_trusted_project_cannot_loosen_your_limits_or_settings() {
        let user = format!(
            "on_internal_error = \"deny\"\n{USER}\n[prices.claude-sonnet-4-5]\ninput = 3.0\noutput = 15.0\ncache_write_5m = 3.75\ncache_write_1h = 6.0\ncache_read = 0.3\n"
        );
        let project = r#"
            on_internal_error = "allow"
            store = "/tmp/elsewhere.db"
            builtins = "wasm"
            default_policies = false

            [[policy]]
            name = "budget"
            enabled = false

            [[policy]]
            name = "greedy"
            path = "greedy.wat"
            limits = { memory_mib = 100000, time_ms = 60000, output_kib = 1, stack_kib = 99999 }

            [prices.claude-sonnet-4-5]
            input = 0.0
            output = 0.0
            cache_write_5m = 0.0
            cache_write_1h = 0.0
            cache_read = 0.0
            context = 100000000

            [prices.claude-opus-4-5-20251101]
            input = 0.0
            output = 0.0
            cache_write_5m = 0.0
            cache_write_1h = 0.0
            cache_read = 0.0

            [prices.gateway-model]
            input = 1.0
            output = 2.0
            cache_write_5m = 1.25
            cache_write_1h = 2.0
            cache_read = 0.1
        "#;
        let setup = Setup::new(&user, project);
        setup.trust();
        let config = setup.load();
        assert_eq!(config.on_internal_error, FailMode::Deny);
        assert_eq!(config.store, None);
        assert_eq!(config.builtins, BuiltinRuntime::Native);
        assert!(config.default_policies);
        assert_eq!(names(&config), ["budget", "greedy"]);
        assert!(config.active_policies()[0].enabled);
        let greedy = &config.active_policies()[1];
        assert_eq!(
            greedy.limits,
            Limits {
                output_kib: 1,
                ..Limits::default()
            }
        );
        let pricing = Pricing::with_overrides(&config.prices);
        assert_eq!(pricing.price("claude-sonnet-4-5").unwrap().input, 3.0);
        assert!(pricing.price("claude-opus-4-5-20251101").unwrap().input > 0.0);
        assert_eq!(pricing.price("gateway-model").unwrap().input, 1.0);
        let note = config.project.note().unwrap();
        for said in [
            "`builtins`, `default_policies`, `on_internal_error`, `store` ignored",
            "memory_mib 100000 -> 64",
            "time_ms 60000 -> 50",
            "price of claude-sonnet-4-5 ignored",
            "price of claude-opus-4-5-20251101 ignored",
        ] {
            assert!(note.contains(said), "{said}: {note}");
        }
        assert!(!note.contains('\n'), "one line: {note}");
    }

    /// A config is read only if it is a regular file, within its size: a symlink to
    /// `/dev/zero` or a FIFO is refused at once, never read or waited on.
    #[cfg(unix)]
    #[test]
    fn a_config_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("config.toml");
        std::os::unix::fs::symlink("/dev/zero", &user).unwrap();
        let error = format!("{:#}", Config::load(&user, None).unwrap_err());
        assert!(
            error.contains("a character device, not a regular file"),
            "{error}"
        );
        std::fs::remove_file(&user).unwrap();
        crate::files::mkfifo(&user);
        let error = format!("{:#}", Config::load(&user, None).unwrap_err());
        assert!(error.contains("is a FIFO"), "{error}");
        std::fs::remove_file(&user).unwrap();
        std::fs::write(&user, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        let error = format!("{:#}", Config::load(&user, None).unwrap_err());
        assert!(error.contains("more than the 1 MiB"), "{error}");
    }

    /// A project file that is a FIFO or `/dev/zero`: untrusted, never opened; trusted, refused
    /// with a note, and your config applies.
    #[cfg(unix)]
    #[test]
    fn a_project_file_that_is_not_a_regular_file_is_never_waited_on() {
        let setup = Setup::new(USER, PROJECT);
        setup.trust();
        let file = setup.project().join(PROJECT_FILE);
        std::fs::remove_file(&file).unwrap();
        crate::files::mkfifo(&file);
        let config = setup.load();
        assert_eq!(names(&config), ["budget"]);
        let note = config.project.note().unwrap();
        assert!(
            note.contains("is a FIFO") && note.contains("ignored"),
            "{note}"
        );
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
        let note = setup.load().project.note().unwrap();
        assert!(note.contains("a character device"), "{note}");
        std::fs::remove_file(crate::paths::trust_file_for(&setup.user())).unwrap();
        assert!(matches!(setup.load().project, Overlay::Untrusted { .. }));
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
