//! The precompiled-module cache: native code for each policy, so the hot path never compiles.
//!
//! A file is `<module sha256>-<engine compatibility hash>.cwasm`, in a 0700 directory, mode
//! 0600, written to a temporary file and renamed into place. Loading native code is code
//! execution, so a file is used only when it is owned by this user, not writable by others, and
//! still the very file tollgate wrote: its identity (inode, size, change time), recorded in a
//! `.id` file next to it when it was written, must match. Any later write to the file changes
//! its change time, which no unprivileged process can set back, so a modified file is
//! recompiled from the module (the source of truth) instead of run. Checking identity costs a
//! `stat`, where hashing the native code would cost ~1 ms per policy per call; the file is then
//! mapped, not read.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Module;

/// The cache directory, bound to one engine configuration.
pub struct Cache<'a> {
    dir: &'a Path,
    engine: &'a wasmtime::Engine,
    compat: String,
}

impl<'a> Cache<'a> {
    /// The cache in `dir` for modules that `engine` runs, compiled with `compiler_settings`
    /// (the running engine has no compiler, so its compatibility hash leaves those out).
    pub fn new(dir: &'a Path, engine: &'a wasmtime::Engine, compiler_settings: &str) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        compiler_settings.hash(&mut hasher);
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
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let recorded = std::fs::read_to_string(path.with_extension("id")).ok()?;
        if !private(&meta) || recorded.trim() != identity(&meta) {
            return None;
        }
        // SAFETY: the file was produced by `Engine::precompile_module` of an engine with this
        // compatibility hash (its name says so; wasmtime checks the compiler's flags against
        // this CPU as it loads); it is owned by this user, not writable by others, and
        // unmodified since tollgate wrote it (its identity matches the record).
        unsafe { Module::deserialize_file(self.engine, &path) }.ok()
    }

    /// Saves a module's native code (`Engine::precompile_module`'s output). Failures are
    /// ignored: the cache is an optimisation.
    pub fn store(&self, sha256: &str, code: &[u8]) {
        if crate::paths::create_private_dir(self.dir).is_err() {
            return;
        }
        let target = self.path(sha256);
        let temp = self
            .dir
            .join(format!(".{sha256}.{}.tmp", std::process::id()));
        let written = (|| -> std::io::Result<()> {
            write_private(&temp, code)?;
            std::fs::rename(&temp, &target)?;
            let meta = std::fs::symlink_metadata(&target)?;
            let id_temp = temp.with_extension("id");
            write_private(&id_temp, identity(&meta).as_bytes())?;
            std::fs::rename(&id_temp, target.with_extension("id"))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temp);
            let _ = std::fs::remove_file(temp.with_extension("id"));
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What identifies one written file: inode, size, change time (Unix).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{} {} {}.{:09}",
        meta.ino(),
        meta.size(),
        meta.ctime(),
        meta.ctime_nsec()
    )
}

#[cfg(not(unix))]
fn identity(meta: &std::fs::Metadata) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {modified}", meta.len())
}

/// A regular file owned by this user and writable by nobody else.
#[cfg(unix)]
fn private(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    meta.file_type().is_file() && meta.uid() == me && meta.mode() & 0o022 == 0
}

#[cfg(not(unix))]
fn private(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_file()
}
