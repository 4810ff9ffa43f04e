//! The `[team]` section of the config: the shared database, who you are, what is shared.

use anyhow::{Result, bail};
use serde::Deserialize;

/// The environment variable that overrides `[team] database`.
pub const DATABASE_ENV: &str = "TOLLGATE_TEAM_DATABASE";

/// The `[team]` section of the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// The shared database, `postgres://user:password@host:port/dbname?sslmode=require`
    /// (overridden by `TOLLGATE_TEAM_DATABASE`).
    #[serde(default)]
    pub database: Option<String>,
    /// Who you are in the team's figures (default: `user@host`).
    #[serde(default)]
    pub person: Option<String>,
    /// The team's name: one database can hold several teams.
    #[serde(default = "default_team")]
    pub team: String,
    /// What is shared besides decisions: `totals` (always: tokens, cost, counts, the project
    /// directory's name) and `tool_names`. Prompts, tool inputs and outputs, and subjects are
    /// never shared.
    #[serde(default = "default_share")]
    pub share: Vec<Share>,
    /// After how long without a sync the cached team figures are marked `stale`.
    #[serde(default = "default_stale")]
    pub stale_after_minutes: u64,
    /// An OpenTelemetry collector (OTLP/HTTP, e.g. `http://localhost:4318`): each sync exports
    /// the metrics of the rows it pushed.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

/// One kind of shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Share {
    /// Token, cost and activity totals per session and project directory name.
    Totals,
    /// The name of each tool called.
    ToolNames,
}

fn default_team() -> String {
    "default".into()
}

fn default_share() -> Vec<Share> {
    vec![Share::Totals, Share::ToolNames]
}

fn default_stale() -> u64 {
    60
}

impl TeamConfig {
    /// The database URL: `TOLLGATE_TEAM_DATABASE`, else `[team] database`.
    pub fn database(&self) -> Result<String> {
        match std::env::var(DATABASE_ENV).ok().filter(|v| !v.is_empty()) {
            Some(url) => Ok(url),
            None => match &self.database {
                Some(url) => Ok(url.clone()),
                None => bail!(
                    "no team database: set `database = \"postgres://…\"` in [team] or {DATABASE_ENV}"
                ),
            },
        }
    }

    /// This person's id: `[team] person`, else `user@host`.
    pub fn person(&self) -> String {
        self.person.clone().unwrap_or_else(default_person)
    }

    /// Whether `what` is shared.
    pub fn shares(&self, what: Share) -> bool {
        self.share.contains(&what)
    }
}

/// `user@host` from the environment and the system's host name.
fn default_person() -> String {
    let user = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", host_name())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The `[team]` section, or an error saying how to add it.
pub fn configured(config: &super::Config) -> Result<&TeamConfig> {
    let Some(team) = config.team.as_ref() else {
        bail!(
            "no [team] section in the config: add `[team]` with `database = \"postgres://…\"` (or set {DATABASE_ENV} and add an empty `[team]`)"
        );
    };
    if !team.shares(Share::Totals) {
        bail!("[team] share must include \"totals\": team budgets are built from them");
    }
    Ok(team)
}
