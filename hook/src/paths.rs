//! Where tollgate keeps its files: the store, the config, the trust list and the module cache.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

/// The environment variable that puts every tollgate file under one directory.
pub const HOME_ENV: &str = "TOLLGATE_HOME";

/// The locations of tollgate's files on this machine.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Directory of the store (`tollgate.db`).
    pub data_dir: PathBuf,
    /// The user's config file (may not exist).
    pub config_file: PathBuf,
    /// Directory of precompiled policy modules.
    pub cache_dir: PathBuf,
}

impl Paths {
    /// `$TOLLGATE_HOME` if set, else the platform's data, config and cache directories
    /// (on Linux `~/.local/share/tollgate`, `~/.config/tollgate`, `~/.cache/tollgate`).
    pub fn discover() -> Result<Self> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|h| !h.is_empty()) {
            return Ok(Self::under(Path::new(&home)));
        }
        let base = directories::BaseDirs::new().context(
            "cannot find your home directory: set TOLLGATE_HOME to a writable directory",
        )?;
        Ok(Self {
            data_dir: base.data_dir().join("tollgate"),
            config_file: base.config_dir().join("tollgate").join("config.toml"),
            cache_dir: base.cache_dir().join("tollgate"),
        })
    }

    /// Every file under one directory (what `TOLLGATE_HOME` selects).
    pub fn under(home: &Path) -> Self {
        Self {
            data_dir: home.to_path_buf(),
            config_file: home.join("config.toml"),
            cache_dir: home.join("cache"),
        }
    }

    /// The store's database file.
    pub fn store_file(&self) -> PathBuf {
        self.data_dir.join("tollgate.db")
    }

    /// The list of projects whose config you trusted (`tollgate trust`).
    pub fn trust_file(&self) -> PathBuf {
        trust_file_for(&self.config_file)
    }
}

/// The trust list that goes with a config file: `trusted.toml` beside it.
pub fn trust_file_for(config_file: &Path) -> PathBuf {
    config_file.with_file_name("trusted.toml")
}

/// Creates `dir` (and parents) readable by the user only (0700 on Unix).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
