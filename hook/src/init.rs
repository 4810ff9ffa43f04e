//! `tollgate init`: writes the commented default config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

/// The commented default config (also `examples/config.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../examples/config.toml");

/// Options of `tollgate init`.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Write here instead of the user config file.
    #[arg(long, value_name = "FILE")]
    pub path: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print the default config instead of writing it.
    #[arg(long)]
    pub print: bool,
}

/// `tollgate init`.
pub fn run(args: &InitArgs) -> Result<ExitCode> {
    if args.print {
        print!("{DEFAULT_CONFIG}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = match &args.path {
        Some(path) => path.clone(),
        None => crate::cli::paths()?.config_file,
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
    std::fs::write(&path, DEFAULT_CONFIG)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Wrote {}: the built-in policies in warn-only mode. Edit it to set your limits.",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_config_parses() {
        let config = crate::config::Config::parse(
            super::DEFAULT_CONFIG,
            std::path::Path::new("config.toml"),
        )
        .unwrap();
        let names: Vec<&str> = config.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, crate::config::BUILTINS);
        assert!(
            config.policies.iter().all(|p| !p.enforce),
            "warn-only by default"
        );
    }
}
