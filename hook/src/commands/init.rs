//! `tollgate init`: writes the commented default config, optionally set up for a Claude plan.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

/// The commented default config (also `examples/config.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../examples/config.toml");

/// The default config's lines about the plan's meters, which `--plan` fills in.
const METERS: &str =
    "# Your plan's real meters, as Claude Code reports them to the status line (Pro/Max):
# five_hour_percent = 90.0
# seven_day_percent = 90.0
";

/// The default config's block limit, in API dollars: not what a subscription bills.
const BLOCK_USD: &str = "block_usd = 20.0           # per 5-hour block (Claude's usage window)\n";

/// When the plan facts below were looked up in Anthropic's Help Center.
pub const PLAN_FACTS_CHECKED: &str = "2026-11-23";

/// A Claude subscription plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Plan {
    /// Claude Pro ($20/month).
    Pro,
    /// Claude Max 5× ($100/month).
    Max5,
    /// Claude Max 20× ($200/month).
    Max20,
}

impl Plan {
    /// What Anthropic publishes about the plan's limits (no token numbers: it publishes none).
    pub fn published(self) -> &'static str {
        match self {
            Plan::Pro => {
                "Claude Pro, $20/month: \"around 45 messages every five hours\" for short conversations
# (Help Center, \"About Claude's Pro plan usage\"), shared with Claude Code, plus weekly caps."
            }
            Plan::Max5 => {
                "Claude Max 5x, $100/month: 5x the usage of Pro; \"at least 225 messages every 5 hours\"
# for short conversations (Help Center, \"About Claude's Max plan usage\"), shared with Claude
# Code, plus weekly caps."
            }
            Plan::Max20 => {
                "Claude Max 20x, $200/month: 20x the usage of Pro; \"at least 900 messages every 5 hours\"
# for short conversations (Help Center, \"About Claude's Max plan usage\"), shared with Claude
# Code, plus weekly caps."
            }
        }
    }

    /// Starting thresholds on the plan's 5-hour and 7-day meters, in percent: tollgate's
    /// choice, tighter on the week for smaller plans, where a spent week stops work for days.
    pub fn meters(self) -> (f64, f64) {
        match self {
            Plan::Pro => (90.0, 80.0),
            Plan::Max5 => (90.0, 85.0),
            Plan::Max20 => (95.0, 90.0),
        }
    }

    /// The flag value that selects the plan.
    pub fn name(self) -> &'static str {
        match self {
            Plan::Pro => "pro",
            Plan::Max5 => "max5",
            Plan::Max20 => "max20",
        }
    }
}

/// The default config set up for `plan`: the budget policy watches the plan's own meters
/// instead of an API-dollar block limit.
pub fn config_for(plan: Plan) -> String {
    let (five_hour, seven_day) = plan.meters();
    let meters = format!(
        "# Plan (`tollgate init --plan {name}`). What Anthropic publishes, as looked up on {PLAN_FACTS_CHECKED}:
# {published}
# Anthropic publishes no token or dollar figure for any plan, so tollgate does not invent one:
# it watches the plan's own meters, the percentages Claude Code shows in /usage and passes to
# the status line (`tollgate install --statusline` records them). The thresholds are
# tollgate's starting points, not Anthropic's numbers: change them as you like.
five_hour_percent = {five_hour:.1}
seven_day_percent = {seven_day:.1}
",
        name = plan.name(),
        published = plan.published(),
    );
    let block = "# block_usd = 20.0         # API-list-price dollars per 5-hour block: not what a plan bills\n";
    DEFAULT_CONFIG
        .replacen(METERS, &meters, 1)
        .replacen(BLOCK_USD, block, 1)
}

/// Options of `tollgate init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Write here instead of the user config file.
    #[arg(long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print the config instead of writing it.
    #[arg(long)]
    pub print: bool,
    /// Set the budget up for your Claude plan: it then watches the plan's 5-hour and weekly
    /// meters (Anthropic publishes no token limits) instead of an API-dollar block limit.
    #[arg(long, value_enum)]
    pub plan: Option<Plan>,
}

/// `tollgate init`.
pub fn run(args: &InitArgs) -> Result<ExitCode> {
    let text = match args.plan {
        Some(plan) => config_for(plan),
        None => DEFAULT_CONFIG.to_owned(),
    };
    if args.print {
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = match &args.path {
        Some(path) => path.clone(),
        None => crate::paths::Paths::discover()?.config_file,
    };
    if path.exists() && !args.force {
        bail!(
            "{} exists: edit it, or pass --force to replace it with the default",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Wrote {}: the built-in policies in warn-only mode. Edit it to set your limits.",
        path.display()
    );
    if args.plan.is_some() {
        println!(
            "The budget watches your plan's meters, which reach tollgate through the status line: run `tollgate install --statusline` if you have not."
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> crate::config::Config {
        crate::config::Config::parse(text, std::path::Path::new("config.toml")).unwrap()
    }

    #[test]
    fn the_default_config_parses() {
        let config = parse(DEFAULT_CONFIG);
        let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, crate::config::BUILTINS);
        assert!(
            config.policies.iter().all(|p| !p.enforce),
            "warn-only by default"
        );
    }

    #[test]
    fn each_plan_fills_the_meters_and_stays_warn_only() {
        assert!(DEFAULT_CONFIG.contains(METERS) && DEFAULT_CONFIG.contains(BLOCK_USD));
        for plan in [Plan::Pro, Plan::Max5, Plan::Max20] {
            let text = config_for(plan);
            let config = parse(&text);
            assert!(config.policies.iter().all(|p| !p.enforce), "{plan:?}");
            let budget = &config.policies[0].config;
            let (five_hour, seven_day) = plan.meters();
            assert_eq!(budget["five_hour_percent"].as_float(), Some(five_hour));
            assert_eq!(budget["seven_day_percent"].as_float(), Some(seven_day));
            assert!(!budget.contains_key("block_usd"), "{plan:?}");
            assert!(text.contains(PLAN_FACTS_CHECKED));
        }
    }
}
