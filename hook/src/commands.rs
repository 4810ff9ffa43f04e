//! The subcommands other than `tollgate hook`, one module each.

pub(crate) mod demo;
pub(crate) mod doctor;
pub(crate) mod import;
pub(crate) mod init;
pub mod install;
pub(crate) mod log;
pub(crate) mod pause;
pub(crate) mod policy;
pub(crate) mod report;
pub(crate) mod status;
pub(crate) mod statusline;
pub(crate) mod team;
pub(crate) mod trust;

use std::path::PathBuf;

use crate::paths::Paths;

/// Options shared by commands that read the store.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// The store to read (default: from the config, else the platform data directory).
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// Opens the store these options name.
    pub fn open(&self) -> anyhow::Result<crate::store::Store> {
        self.open_with_config().map(|(store, _)| store)
    }

    /// Opens the store these options name, with the user's config (budgets, prices, time zone).
    pub fn open_with_config(&self) -> anyhow::Result<(crate::store::Store, crate::config::Config)> {
        let (path, config) = self.path_with_config()?;
        Ok((crate::store::Store::open(&path)?, config))
    }

    /// The store these options name, with the user's config.
    pub fn path_with_config(&self) -> anyhow::Result<(PathBuf, crate::config::Config)> {
        let paths = Paths::discover()?;
        let config = crate::config::Config::load(&paths.config_file, None)?;
        let path = match (&self.store, &config.store) {
            (Some(path), _) | (None, Some(path)) => path.clone(),
            (None, None) => paths.store_file(),
        };
        Ok((path, config))
    }
}
