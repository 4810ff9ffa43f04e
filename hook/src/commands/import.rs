//! `tollgate import`: backfill the store from the transcripts Claude Code already wrote.
//!
//! Finds `projects/**/*.jsonl` in Claude's data directories the way ccusage does
//! (`CLAUDE_CONFIG_DIR`, a comma-separated list, else both `~/.config/claude` and `~/.claude`),
//! and reads every file with the same line reader as the hook, in parallel, storing them in
//! path order ([`crate::store::import`]): the saved read offsets and the message + request
//! deduplication make a second run add nothing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::commands::StoreArgs;
use crate::pricing::Pricing;
use crate::store::import::Transcript;

/// The environment variable naming Claude Code's data directories (comma-separated).
pub const CLAUDE_CONFIG_DIR: &str = "CLAUDE_CONFIG_DIR";

/// Options of `tollgate import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Read transcripts under this directory instead of Claude's data directories: a Claude
    /// config directory (holding `projects/`), a `projects/` directory, or any directory of
    /// `.jsonl` files. Repeat for several.
    #[arg(long, value_name = "DIR")]
    pub path: Vec<PathBuf>,
    /// Print what was imported as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub store: StoreArgs,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    /// Directories searched.
    pub dirs: Vec<PathBuf>,
    /// Transcript files found.
    pub files: u64,
    /// Bytes read (new since the last import or hook call).
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// API responses stored or updated.
    pub responses: u64,
    /// Lines that were not valid JSON (skipped).
    pub malformed: u64,
    /// Lines not counted: a token count out of range, or too long a line (`tollgate doctor`
    /// shows the last reason).
    pub rejected: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Bytes read per second, in MB (10^6 bytes).
    pub mb_per_second: f64,
}

/// Runs `tollgate import`.
pub fn run(args: &ImportArgs) -> Result<ExitCode> {
    let (mut store, config) = args.store.open_with_config()?;
    let pricing = Pricing::with_overrides(&config.prices);
    let dirs = if args.path.is_empty() {
        claude_dirs(std::env::var(CLAUDE_CONFIG_DIR).ok().as_deref())?
            .into_iter()
            .map(|d| d.join("projects"))
            .collect()
    } else {
        args.path
            .iter()
            .map(|p| transcripts_root(p))
            .collect::<Result<Vec<_>>>()?
    };
    let progress = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let summary = import(&mut store, &pricing, &dirs, progress)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.describe());
    }
    Ok(ExitCode::SUCCESS)
}

/// Imports every transcript under `dirs` into `store` (read in parallel, stored in path order),
/// drawing progress to `progress`.
pub fn import(
    store: &mut crate::store::Store,
    pricing: &Pricing,
    dirs: &[PathBuf],
    progress: ProgressDrawTarget,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let mut files = Vec::new();
    for dir in dirs {
        collect_jsonl(dir, &mut files)
            .with_context(|| format!("cannot list the transcripts under {}", dir.display()))?;
    }
    // ccusage's order: the full path as a string. Ties in deduplication keep the first copy.
    files.sort_by_cached_key(|(path, _)| path.to_string_lossy().into_owned());
    files.dedup_by(|a, b| a.0 == b.0);
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let bar = ProgressBar::with_draw_target(Some(total), progress);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} importing {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("the progress template is valid"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));

    let transcripts: Vec<Transcript> = files
        .iter()
        .map(|(path, _)| Transcript {
            path: path.clone(),
            main: !is_subagent(path),
        })
        .collect();
    let report =
        crate::store::import::import(store, pricing, &transcripts, &|bytes| bar.inc(bytes))?;
    store.truncate_wal();
    bar.finish_and_clear();

    let seconds = started.elapsed().as_secs_f64();
    Ok(ImportSummary {
        dirs: dirs.to_vec(),
        files: files.len() as u64,
        bytes: report.bytes,
        lines: report.lines,
        responses: report.stored,
        malformed: report.malformed,
        rejected: report.rejected,
        seconds,
        mb_per_second: if seconds > 0.0 {
            report.bytes as f64 / 1e6 / seconds
        } else {
            0.0
        },
    })
}

impl ImportSummary {
    /// One line for people: files, lines, responses, time and throughput.
    pub fn describe(&self) -> String {
        let dirs: Vec<String> = self.dirs.iter().map(|d| d.display().to_string()).collect();
        let mut text = format!(
            "imported {} files from {} ({:.1} MB new, {} lines): {} API responses stored in {:.2} s ({:.1} MB/s)",
            self.files,
            dirs.join(", "),
            self.bytes as f64 / 1e6,
            self.lines,
            self.responses,
            self.seconds,
            self.mb_per_second,
        );
        if self.malformed > 0 {
            text.push_str(&format!(
                "; {} lines were not valid JSON and were skipped",
                self.malformed
            ));
        }
        if self.rejected > 0 {
            text.push_str(&format!(
                "; {} lines were not counted (a token count out of range, or too long a line: `tollgate doctor` shows why)",
                self.rejected
            ));
        }
        if self.bytes == 0 && self.files > 0 {
            text.push_str("; nothing new since the last import");
        }
        text
    }
}

/// Claude Code's data directories, as ccusage finds them. `env` is `CLAUDE_CONFIG_DIR`: a
/// comma-separated list of directories holding `projects/` (or `projects/` directories
/// themselves); when it is unset, both `$XDG_CONFIG_HOME/claude` (or `~/.config/claude`) and
/// `~/.claude`, each if it holds `projects/`.
pub fn claude_dirs(env: Option<&str>) -> Result<Vec<PathBuf>> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut push = |dir: PathBuf| {
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    };
    if let Some(list) = env.filter(|l| !l.trim().is_empty()) {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let path = expand_tilde(entry, home.as_deref());
            if path.join("projects").is_dir() {
                push(path);
            } else if path.file_name().is_some_and(|n| n == "projects") && path.is_dir() {
                push(path.parent().unwrap_or(Path::new("/")).to_path_buf());
            }
        }
        if dirs.is_empty() {
            bail!(
                "no Claude data directory found in {CLAUDE_CONFIG_DIR}=\"{list}\": each entry must be a directory holding projects/ (or --path DIR to import from elsewhere)"
            );
        }
        return Ok(dirs);
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    for candidate in [
        xdg.map(|x| x.join("claude")),
        home.as_ref().map(|h| h.join(".claude")),
    ]
    .into_iter()
    .flatten()
    {
        if candidate.join("projects").is_dir() {
            push(candidate);
        }
    }
    if dirs.is_empty() {
        bail!(
            "no Claude Code transcripts found (looked for ~/.config/claude/projects and ~/.claude/projects): set {CLAUDE_CONFIG_DIR} or pass --path DIR"
        );
    }
    Ok(dirs)
}

/// Where to look for `.jsonl` files under a `--path`: its `projects/` if it has one.
fn transcripts_root(path: &Path) -> Result<PathBuf> {
    if !path.is_dir() {
        bail!(
            "{} is not a directory: pass a Claude config directory, its projects/ directory, or a directory of .jsonl transcripts",
            path.display()
        );
    }
    let projects = path.join("projects");
    Ok(if projects.is_dir() {
        projects
    } else {
        path.to_path_buf()
    })
}

fn expand_tilde(entry: &str, home: Option<&Path>) -> PathBuf {
    match (entry.strip_prefix('~'), home) {
        (Some(""), Some(home)) => home.to_path_buf(),
        (Some(rest), Some(home)) if rest.starts_with('/') => home.join(&rest[1..]),
        _ => PathBuf::from(entry),
    }
}

/// Every `*.jsonl` file under `dir` (recursively), with its size.
fn collect_jsonl(dir: &Path, out: &mut Vec<(PathBuf, u64)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect_jsonl(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "jsonl") {
            // Symlinks and files are both followed; a broken link is skipped.
            if let Ok(meta) = std::fs::metadata(&path)
                && meta.is_file()
            {
                out.push((path, meta.len()));
            }
        }
    }
    Ok(())
}

/// `<session>/subagents/agent-<id>.jsonl`: a subagent's transcript, not a session's own.
fn is_subagent(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "subagents")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_claude_dirs_like_ccusage() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(a.join("projects")).unwrap();
        std::fs::create_dir_all(b.join("projects")).unwrap();
        let list = format!(
            " {} ,{},{}/projects,{}",
            a.display(),
            b.display(),
            b.display(),
            dir.path().join("none").display()
        );
        assert_eq!(claude_dirs(Some(&list)).unwrap(), vec![a, b]);
        let err = claude_dirs(Some(&dir.path().join("none").display().to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLAUDE_CONFIG_DIR"), "{err}");
    }

    #[test]
    fn knows_subagent_transcripts() {
        assert!(is_subagent(Path::new("/p/s/subagents/agent-1.jsonl")));
        assert!(!is_subagent(Path::new("/p/s.jsonl")));
    }

    #[test]
    fn expands_the_home_directory() {
        let home = Path::new("/home/u");
        assert_eq!(expand_tilde("~", Some(home)), PathBuf::from("/home/u"));
        assert_eq!(
            expand_tilde("~/.claude", Some(home)),
            PathBuf::from("/home/u/.claude")
        );
        assert_eq!(expand_tilde("/x", Some(home)), PathBuf::from("/x"));
    }
}
