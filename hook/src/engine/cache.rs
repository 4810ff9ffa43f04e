//! The precompiled-module cache: native code for each policy, so the hot path never compiles.
//!
//! A file is `<module sha256>-<engine compatibility hash>.cwasm`, in a 0700 directory, mode
//! 0600, written to a temporary file and renamed into place. Loading native code is code
//! execution, so a file is used only when it is owned by this user, not writable by others, and
//! its content matches the sha256 stored at its end; anything else is recompiled from the
//! module (the source of truth) and rewritten.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Module;

const DIGEST_LEN: usize = 32;

/// The cache directory, bound to one engine configuration.
pub struct Cache<'a> {
    dir: &'a Path,
    engine: &'a wasmtime::Engine,
    compat: String,
}

impl<'a> Cache<'a> {
    /// The cache in `dir` for modules compiled by `engine`.
    pub fn new(dir: &'a Path, engine: &'a wasmtime::Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine,
            compat: format!("{:016x}", hasher.finish()),
        }
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.compat))
    }

    /// The cached native code of the module with this sha256, if present and trustworthy.
    pub fn load(&self, sha256: &str) -> Option<Module> {
        let path = self.path(sha256);
        let bytes = std::fs::read(&path).ok()?;
        if !private(&path) {
            return None;
        }
        let (code, digest) = bytes.split_at(bytes.len().checked_sub(DIGEST_LEN)?);
        if Sha256::digest(code).as_slice() != digest {
            return None;
        }
        // SAFETY: `code` was produced by `Module::serialize` of an engine with this
        // compatibility hash (the file name says so), is owned by this user and not writable
        // by others, and its content matches the digest written with it.
        unsafe { Module::deserialize(self.engine, code) }.ok()
    }

    /// Saves `module`'s native code. Failures are ignored: the cache is an optimisation.
    pub fn store(&self, sha256: &str, module: &Module) {
        let Ok(code) = module.serialize() else {
            return;
        };
        if crate::paths::create_private_dir(self.dir).is_err() {
            return;
        }
        let target = self.path(sha256);
        let temp = self
            .dir
            .join(format!(".{sha256}.{}.tmp", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temp)?;
            file.write_all(&code)?;
            file.write_all(&Sha256::digest(&code))?;
            file.sync_all()?;
            std::fs::rename(&temp, &target)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
    }
}

/// Owned by this user and writable by nobody else.
#[cfg(unix)]
fn private(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    meta.file_type().is_file() && meta.uid() == me && meta.mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn private(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}
