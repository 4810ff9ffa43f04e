//! `tollgate trust`: lets a project's `.claude/tollgate.toml` apply, as it is now.
//!
//! A repository is untrusted input. Its file applies only once you trust it here, which
//! records the project's directory and the file's sha256 in the trust list (`trusted.toml`
//! beside your config); a file that changes is ignored until you trust it again. Even trusted,
//! a project can only add to your config (see `Config::overlay`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::config::trust::{self, TrustList, Trusted};
use crate::config::{Config, MAX_CONFIG_BYTES, PROJECT_FILE, PolicyConfig};

/// Options of `tollgate trust`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrustArgs {
    /// The project whose `.claude/tollgate.toml` to trust (default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// List the trusted projects, and whether each one's file is still the one trusted.
    #[arg(long, conflicts_with = "revoke")]
    pub list: bool,
    /// Stop trusting the project's file.
    #[arg(long)]
    pub revoke: bool,
    /// With `--list`: print JSON.
    #[arg(long, requires = "list")]
    pub json: bool,
}

/// One trusted project, as `--list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The project's directory.
    pub dir: PathBuf,
    /// `trusted` (the file is the one trusted), `changed` (ignored until trusted again) or
    /// `missing`.
    pub state: &'static str,
    /// The sha256 trusted.
    pub sha256: String,
    /// When (RFC 3339).
    pub trusted: String,
}

/// Runs `tollgate trust`.
pub fn run(args: &TrustArgs) -> Result<ExitCode> {
    let paths = crate::paths::Paths::discover()?;
    let list_file = paths.trust_file();
    if args.list {
        return list(&list_file, args.json);
    }
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let key = trust::project_key(&dir);
    let mut list = TrustList::load(&list_file)?;
    if args.revoke {
        if list.revoke(&key) {
            list.save(&list_file)?;
            println!(
                "{} is no longer trusted: its config is ignored",
                key.join(PROJECT_FILE).display()
            );
        } else {
            println!("{} was not trusted", key.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let file = key.join(PROJECT_FILE);
    let bytes = crate::files::read(&file, MAX_CONFIG_BYTES).map_err(|e| {
        if e.is_not_found() {
            anyhow::anyhow!("{} does not exist: nothing to trust", file.display())
        } else {
            e.into()
        }
    })?;
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    // What it does on top of your config, checked before it is recorded.
    let mut config = Config::load(&paths.config_file, None)?;
    let yours = config.active_policies();
    let ignored = config
        .apply_project_text(&file, text)
        .context("fix it, then trust it")?;
    let sha256 = trust::sha256(&bytes);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    list.trust(&key, &sha256, &now);
    list.save(&list_file)?;
    println!("trusted {} (sha256 {}…)", file.display(), &sha256[..16]);
    for line in describe(&yours, &config, &ignored) {
        println!("  {line}");
    }
    println!(
        "It applies from the next hook call. If the file changes, it is ignored until you run `tollgate trust` on this project again."
    );
    Ok(ExitCode::SUCCESS)
}

/// What a trusted file does, one line each: the policies it adds or configures, the prices it
/// adds, and what it cannot do.
fn describe(yours: &[PolicyConfig], config: &Config, ignored: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    for policy in config.active_policies() {
        if yours.contains(&policy) {
            continue;
        }
        let mode = if policy.enforce {
            "enforcing"
        } else {
            "warn-only"
        };
        let source = policy.source(config.builtins);
        let pin = match (&policy.path, &policy.sha256) {
            (Some(_), None) => "; not pinned: add `sha256 = \"…\"` to it to bind it to one module",
            _ => "",
        };
        lines.push(format!("policy {} ({source}, {mode}){pin}", policy.name));
    }
    for line in ignored {
        lines.push(format!("not applied: {line}"));
    }
    if lines.is_empty() {
        lines.push("it changes nothing of yours".to_owned());
    }
    lines
}

fn list(list_file: &Path, json: bool) -> Result<ExitCode> {
    let list = TrustList::load(list_file)?;
    let listed: Vec<Listed> = list.projects.iter().map(state).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        println!(
            "No project is trusted: run `tollgate trust DIR` to trust a project's .claude/tollgate.toml."
        );
        return Ok(ExitCode::SUCCESS);
    }
    for project in &listed {
        println!(
            "{:<8} {}  (trusted {}, sha256 {}…)",
            project.state,
            project.dir.display(),
            project.trusted,
            project.sha256.get(..16).unwrap_or(&project.sha256)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a trusted project's file is still the one trusted.
fn state(trusted: &Trusted) -> Listed {
    let file = trusted.dir.join(PROJECT_FILE);
    let state = match crate::files::read(&file, MAX_CONFIG_BYTES) {
        Ok(bytes) if trust::sha256(&bytes) == trusted.sha256 => "trusted",
        Ok(_) => "changed",
        Err(e) if e.is_not_found() => "missing",
        Err(_) => "changed",
    };
    Listed {
        dir: trusted.dir.clone(),
        state,
        sha256: trusted.sha256.clone(),
        trusted: trusted.trusted.clone(),
    }
}
