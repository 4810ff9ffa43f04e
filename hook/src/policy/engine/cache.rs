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
//!
//! A policy configured by `path` is known by its module's sha256 (the cache key, and what a pin
//! checks). That hash is remembered the same way, in `file-<path hash>.sha256` beside the code:
//! the module file's identity when it was read, and its hash. A call whose file still has that
//! identity stats it instead of reading and hashing it again.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Module;

/// Largest `.id` or `.sha256` record read (they hold a line of ~100 bytes).
const MAX_RECORD_BYTES: u64 = 4096;

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
        let recorded =
            crate::files::read_to_string(&path.with_extension("id"), MAX_RECORD_BYTES).ok()?;
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

/// The sha256 remembered for a module file with this identity (see [`remember_file_sha256`]).
pub fn file_sha256(dir: &Path, file: &Path, meta: &std::fs::Metadata) -> Option<String> {
    let record = source_record(dir, file);
    if !std::fs::symlink_metadata(&record).is_ok_and(|m| private(&m)) {
        return None;
    }
    let text = crate::files::read_to_string(&record, MAX_RECORD_BYTES).ok()?;
    let (identity_then, sha256) = text.trim_end().rsplit_once(' ')?;
    (identity_then == identity(meta)).then(|| sha256.to_owned())
}

/// Remembers a module file's sha256 for its identity (`meta`, taken before the file was read),
/// so that later calls need not read and hash it. As with the native code, a write to the file
/// changes its identity, and the hash is not used again. Not remembered while the file's change
/// time is within [`SETTLED`] of `now`: file times tick coarsely, and a write in the same tick
/// could leave the identity as it was (git's "racily clean" entries).
pub fn remember_file_sha256(
    dir: &Path,
    file: &Path,
    meta: &std::fs::Metadata,
    sha256: &str,
    now: std::time::SystemTime,
) {
    let settled = changed(meta)
        .and_then(|t| now.duration_since(t).ok())
        .is_some_and(|age| age >= SETTLED);
    if !settled || crate::paths::create_private_dir(dir).is_err() {
        return;
    }
    let record = source_record(dir, file);
    let temp = record.with_extension(format!("{}.tmp", std::process::id()));
    let text = format!("{} {sha256}\n", identity(meta));
    if write_private(&temp, text.as_bytes())
        .and_then(|()| std::fs::rename(&temp, &record))
        .is_err()
    {
        let _ = std::fs::remove_file(&temp);
    }
}

/// How old a module file's change time must be before its hash is remembered.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

/// Where the hash of the module file at `file` is remembered: named by the path's sha256.
fn source_record(dir: &Path, file: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let key = Sha256::digest(file.as_os_str().as_encoded_bytes());
    dir.join(format!("file-{}.sha256", hex::encode(&key[..16])))
}

/// When the file's metadata (or, where there is no change time, its contents) last changed.
#[cfg(unix)]
fn changed(meta: &std::fs::Metadata) -> Option<std::time::SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let since_epoch = std::time::Duration::new(
        u64::try_from(meta.ctime()).ok()?,
        u32::try_from(meta.ctime_nsec()).ok()?,
    );
    std::time::UNIX_EPOCH.checked_add(since_epoch)
}

#[cfg(not(unix))]
fn changed(meta: &std::fs::Metadata) -> Option<std::time::SystemTime> {
    meta.modified().ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn later(meta: &std::fs::Metadata, by: Duration) -> std::time::SystemTime {
        changed(meta).unwrap() + by
    }

    /// Writes `bytes` to `dir/name` (in place if it exists) and returns its path and metadata.
    fn written(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, std::fs::Metadata) {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        (file, meta)
    }

    #[test]
    fn a_file_hash_is_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (file, meta) = written(dir.path(), "policy.wasm", b"module one");
        assert_eq!(file_sha256(&cache, &file, &meta), None);

        remember_file_sha256(&cache, &file, &meta, "aa11", later(&meta, SETTLED));
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(file_sha256(&cache, &file, &meta).as_deref(), Some("aa11"));
        let (other, other_meta) = written(dir.path(), "other.wasm", b"module one");
        assert_eq!(file_sha256(&cache, &other, &other_meta), None, "per path");

        // Rewritten in place, same size: a new change time (past the clock's coarse tick).
        std::thread::sleep(Duration::from_millis(20));
        let (file, meta) = written(dir.path(), "policy.wasm", b"module two");
        assert_eq!(file_sha256(&cache, &file, &meta), None);
    }

    #[test]
    fn a_file_changed_a_moment_ago_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let (file, meta) = written(dir.path(), "policy.wasm", b"module");
        remember_file_sha256(&cache, &file, &meta, "aa11", later(&meta, SETTLED / 2));
        assert_eq!(file_sha256(&cache, &file, &meta), None);
    }
}
