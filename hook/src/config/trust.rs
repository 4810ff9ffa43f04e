//! The projects whose `.claude/tollgate.toml` you trust.
//!
//! A repository is untrusted input: anyone can commit a `.claude/tollgate.toml`. A project file
//! applies only once you have run `tollgate trust` on its project, which records the project's
//! directory and the file's sha256 in the trust list (`trusted.toml` beside your config). A
//! file that changed since is ignored until you trust it again.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Largest trust list read.
pub const MAX_TRUST_LIST_BYTES: u64 = 1 << 20;

/// The trust list: the projects you trusted, with their file's hash.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustList {
    /// One entry per project.
    #[serde(default, rename = "project")]
    pub projects: Vec<Trusted>,
}

/// One trusted project file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trusted {
    /// The project's directory (canonical).
    pub dir: PathBuf,
    /// The sha256 (hex) of its `.claude/tollgate.toml` when you trusted it.
    pub sha256: String,
    /// When you trusted it (RFC 3339).
    pub trusted: String,
}

/// What the header of the written list says.
const HEADER: &str = "# Projects whose .claude/tollgate.toml you trusted with `tollgate trust`, with the\n\
                      # file's sha256 at the time. Written by tollgate; `tollgate trust --list` shows them.\n\n";

impl TrustList {
    /// Reads the list at `file` (none yet: an empty list).
    pub fn load(file: &Path) -> Result<Self> {
        match crate::files::read_to_string(file, MAX_TRUST_LIST_BYTES) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("invalid trust list {}", file.display())),
            Err(e) if e.is_not_found() => Ok(Self::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the list to `file` (mode 0600, replaced in one rename).
    pub fn save(&self, file: &Path) -> Result<()> {
        let dir = file.parent().unwrap_or(Path::new("."));
        crate::paths::create_private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let text = format!("{HEADER}{}", toml::to_string(self)?);
        let mut temp = tempfile::NamedTempFile::new_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        std::io::Write::write_all(&mut temp, text.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(file)
            .with_context(|| format!("cannot write {}", file.display()))?;
        Ok(())
    }

    /// The entry of the project at `dir` (canonical), if trusted.
    pub fn find(&self, dir: &Path) -> Option<&Trusted> {
        self.projects.iter().find(|p| p.dir == dir)
    }

    /// Trusts the file of the project at `dir` (canonical) with this hash, replacing any
    /// earlier entry.
    pub fn trust(&mut self, dir: &Path, sha256: &str, now: &str) {
        self.revoke(dir);
        self.projects.push(Trusted {
            dir: dir.to_path_buf(),
            sha256: sha256.to_owned(),
            trusted: now.to_owned(),
        });
        self.projects.sort_by(|a, b| a.dir.cmp(&b.dir));
    }

    /// Forgets the project at `dir` (canonical); whether it was there.
    pub fn revoke(&mut self, dir: &Path) -> bool {
        let before = self.projects.len();
        self.projects.retain(|p| p.dir != dir);
        self.projects.len() != before
    }
}

/// A project's directory as the trust list names it: canonical, symlinks resolved (as it is,
/// when it cannot be resolved).
pub fn project_key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// The sha256 (hex) of a project file's bytes.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_round_trips_and_replaces_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/trusted.toml");
        assert!(TrustList::load(&file).unwrap().projects.is_empty());
        let mut list = TrustList::default();
        list.trust(Path::new("/b"), "22", "2026-12-01T00:00:00Z");
        list.trust(Path::new("/a"), "11", "2026-12-01T00:00:00Z");
        list.trust(Path::new("/b"), "33", "2026-12-02T00:00:00Z");
        list.save(&file).unwrap();
        let read = TrustList::load(&file).unwrap();
        assert_eq!(read.projects.len(), 2);
        assert_eq!(read.find(Path::new("/b")).unwrap().sha256, "33");
        assert_eq!(read.projects[0].dir, Path::new("/a"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut list = read;
        assert!(list.revoke(Path::new("/a")));
        assert!(!list.revoke(Path::new("/a")));
        assert!(list.find(Path::new("/a")).is_none());
    }
}
