//! Claude Code's settings files: where each scope's file is, reading one strictly and with
//! its key order kept, and writing one back safely (a timestamped backup, then a temp file
//! renamed over the original, with the original's permissions).

pub(crate) mod ordered;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

pub use ordered::{Json, Object};

/// The environment variable that moves Claude Code's `~/.claude` directory.
pub const CONFIG_DIR_ENV: &str = "CLAUDE_CONFIG_DIR";

/// Which settings file: Claude Code reads all three and merges their hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// `~/.claude/settings.json` (or `$CLAUDE_CONFIG_DIR/settings.json`): every project.
    User,
    /// `<project>/.claude/settings.json`: this project, for everyone who clones it.
    Project,
    /// `<project>/.claude/settings.local.json`: this project, only you (not committed).
    Local,
}

impl Scope {
    /// Every scope, broadest first.
    pub const ALL: [Scope; 3] = [Scope::User, Scope::Project, Scope::Local];

    /// The scope's name, as `--scope` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
            Scope::Local => "local",
        }
    }

    /// The scope's settings file, for the project in `project`.
    pub fn file(self, project: &Path) -> Result<PathBuf> {
        Ok(match self {
            Scope::User => claude_config_dir()?.join("settings.json"),
            Scope::Project => project.join(".claude").join("settings.json"),
            Scope::Local => project.join(".claude").join("settings.local.json"),
        })
    }
}

/// Claude Code's configuration directory: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub fn claude_config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = directories::BaseDirs::new()
        .context("cannot find your home directory: set CLAUDE_CONFIG_DIR to Claude Code's configuration directory")?;
    Ok(base.home_dir().join(".claude"))
}

/// The file-based managed settings of this platform (set by an administrator).
pub fn managed_file() -> PathBuf {
    if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/ClaudeCode/managed-settings.json")
    } else if cfg!(windows) {
        PathBuf::from(r"C:\Program Files\ClaudeCode\managed-settings.json")
    } else {
        PathBuf::from("/etc/claude-code/managed-settings.json")
    }
}

/// One settings file as read from disk.
#[derive(Debug, Clone)]
pub struct SettingsFile {
    /// Its path.
    pub path: PathBuf,
    /// Its text; `None` if it does not exist.
    pub original: Option<String>,
    /// Its top-level object (`{}` for a missing or empty file).
    pub doc: Object,
}

impl SettingsFile {
    /// Reads `path`: a missing or empty (or all-whitespace) file is `{}`; anything that is
    /// not strict JSON, or not an object, is an error naming the file and the line.
    pub fn read(path: &Path) -> Result<Self> {
        let original = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => bail!("cannot read {}: {e}", path.display()),
        };
        let doc = match original.as_deref() {
            None => Object::new(),
            Some(text) => parse(path, text)?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            original,
            doc,
        })
    }

    /// The text `doc` would be written as: two-space indented like Claude Code writes it,
    /// ending with a newline if the original did (or if there was none).
    pub fn render(&self, doc: &Object) -> String {
        let original = self.original.as_deref().unwrap_or_default();
        let indent = indent_of(original).unwrap_or("  ");
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde::Serialize::serialize(&Json::Object(doc.clone()), &mut serializer)
            .expect("a JSON value always serializes");
        let mut text = String::from_utf8(out).expect("serde_json writes UTF-8");
        if original.trim().is_empty() || original.ends_with('\n') {
            text.push('\n');
        }
        text
    }

    /// Replaces the file's content with `text`: backs up the existing file first
    /// (`<name>.tollgate-backup-<UTC time>`, returned), creates missing directories, writes a
    /// temp file beside it and renames it over the file, keeping the file's permissions. A
    /// symlinked settings file is written through (the link stays a link).
    pub fn write(&self, text: &str) -> Result<Option<PathBuf>> {
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(&self.path)
                .with_context(|| format!("cannot follow the symlink {}", self.path.display()))?,
            _ => self.path.clone(),
        };
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let existing = std::fs::metadata(&target).ok();
        let backup = match &existing {
            Some(_) => Some(backup(&target)?),
            None => None,
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".settings.tollgate-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        temp.write_all(text.as_bytes())
            .and_then(|()| match &existing {
                Some(meta) => temp.as_file().set_permissions(meta.permissions()),
                None => Ok(()),
            })
            .and_then(|()| temp.as_file().sync_all())
            .with_context(|| format!("cannot write {}", temp.path().display()))?;
        temp.persist(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
        Ok(backup)
    }
}

/// The indentation of a pretty-printed JSON text: the leading blanks of its first indented
/// line, so that a rewritten file keeps its style and a diff shows only real changes.
fn indent_of(text: &str) -> Option<&str> {
    text.lines().skip(1).find_map(|line| {
        let rest = line.trim_start_matches([' ', '\t']);
        let indent = &line[..line.len() - rest.len()];
        (!indent.is_empty() && !rest.is_empty()).then_some(indent)
    })
}

/// Parses settings text; the error says where and what to do.
fn parse(path: &Path, text: &str) -> Result<Object> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Ok(Object::new());
    }
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(doc)) => Ok(doc),
        Ok(other) => bail!(
            "{} holds {}, not a JSON object: Claude Code cannot use it either; fix it (or empty it) and run this again. The file was not changed.",
            path.display(),
            other.kind()
        ),
        Err(e) => {
            let line = text
                .lines()
                .nth(e.line().saturating_sub(1))
                .unwrap_or_default();
            let trimmed = line.trim_start();
            let hint = if trimmed.starts_with("//") || trimmed.starts_with("/*") {
                "comments are not JSON: settings files are strict JSON, with no comments and no trailing commas"
            } else {
                "settings files are strict JSON: no comments, no trailing commas"
            };
            bail!(
                "{}:{}:{}: invalid JSON ({}): {hint}.\n  {}\nFix that line (Claude Code cannot read the file either) and run this again. The file was not changed.",
                path.display(),
                e.line(),
                e.column(),
                e.to_string().split(" at line").next().unwrap_or_default(),
                line.trim_end()
            )
        }
    }
}

/// Copies `target` to `<name>.tollgate-backup-<UTC time>` (a new name, never overwriting).
fn backup(target: &Path) -> Result<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "settings.json".to_owned());
    let mut path = target.with_file_name(format!("{name}.tollgate-backup-{stamp}"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = target.with_file_name(format!("{name}.tollgate-backup-{stamp}-{n}"));
    }
    std::fs::copy(target, &path).with_context(|| {
        format!(
            "cannot back up {} to {}; nothing was changed",
            target.display(),
            path.display()
        )
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn an_empty_file_is_an_empty_object() {
        assert!(super::parse(Path::new("s.json"), " \n").unwrap().is_empty());
    }

    #[test]
    fn a_comment_is_named_as_the_problem_with_its_line() {
        let err = super::parse(Path::new("s.json"), "{\n  // mine\n  \"a\": 1\n}")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.json:2:"), "{err}");
        assert!(err.contains("comments are not JSON"), "{err}");
        assert!(err.contains("// mine"), "{err}");
    }

    #[test]
    fn a_non_object_is_refused() {
        let err = super::parse(Path::new("s.json"), "[1]").unwrap_err();
        assert!(err.to_string().contains("holds an array"), "{err}");
    }
}
