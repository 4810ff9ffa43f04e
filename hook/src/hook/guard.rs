//! The guard: the agent cannot switch tollgate off.
//!
//! An agent that hits a budget could edit tollgate's config, delete its store, unregister its
//! hook, append made-up usage to its transcript, or run `tollgate uninstall`. The guard denies
//! the tool calls (`PreToolUse`, `PermissionRequest`) that would:
//! - write, edit or delete tollgate's own files: the user's config and its directory, the data
//!   directory (store, pause and trust records), the cache, the configured store and policy
//!   files, the project's `.claude/tollgate.toml`, and the tollgate binary;
//! - change Claude Code's hook registration: a settings file (user, project, local, managed)
//!   may be edited, as long as tollgate's hooks, its status line and `disableAllHooks` stay as
//!   they are;
//! - write to a session transcript (`projects/**` under Claude Code's directories);
//! - run `tollgate uninstall`, `pause`, `trust`, `install` (but `--dry-run`) or `init --force`,
//!   or feed it records by hand (`tollgate hook`, `tollgate statusline`).
//!
//! `Write`, `Edit`, `MultiEdit` and `NotebookEdit` are judged by their path (resolved against
//! the call's directory, `~` and symlinks). `Bash` (and `PowerShell`) commands are read the way
//! a shell splits them: a command that names a protected path (as a word, through `~`, `$HOME`
//! or a glob, or inside a quoted script) is denied unless its program only reads (`cat`,
//! `grep`, `ls`, `sed` without `-i`, `sqlite3 -readonly`, `tollgate report`, …) and does not
//! redirect its output there; `rm`, `mv`, `chmod` and the like are denied on a directory that
//! holds protected files. That is a guard against accidents and casual self-disabling, not a
//! proof: a command that builds a path at run time (`rm $(cat list)`, a script file written
//! first) gets through.
//!
//! Only the user's config can turn it off (`guard = false`); `tollgate pause` lets everything
//! through for a while, and only the user can run it.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::config::{Config, PROJECT_FILE};
use crate::hook::Env;
use crate::hook::event::HookInput;

/// How deep quoted scripts (`bash -c '…'`) are read.
const MAX_NESTING: usize = 3;

/// Programs that only read the files they name.
const READERS: &[&str] = &[
    "cat",
    "less",
    "more",
    "head",
    "tail",
    "bat",
    "batcat",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "ls",
    "ll",
    "dir",
    "tree",
    "stat",
    "file",
    "wc",
    "du",
    "df",
    "diff",
    "cmp",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "shasum",
    "b2sum",
    "cksum",
    "readlink",
    "realpath",
    "basename",
    "dirname",
    "test",
    "[",
    "[[",
    "echo",
    "printf",
    "jq",
    "xxd",
    "hexdump",
    "od",
    "strings",
    "column",
    "uniq",
    "cut",
    "nl",
    "cd",
    "pushd",
    "popd",
    "pwd",
    "which",
    "type",
    "Get-Content",
    "gc",
    "Get-ChildItem",
    "gci",
    "Select-String",
    "Test-Path",
];

/// Programs that delete, move or change whole trees: denied on a directory holding a
/// protected file, too.
const DESTROYERS: &[&str] = &[
    "rm",
    "rmdir",
    "mv",
    "shred",
    "unlink",
    "chmod",
    "chown",
    "chgrp",
    "chattr",
    "truncate",
    "rsync",
    "find",
    "Remove-Item",
    "ri",
    "del",
    "Move-Item",
    "mi",
];

/// Shells: a quoted argument (`bash -c '…'`) is a command line, read like the outer one.
const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "eval",
    "su",
    "pwsh",
    "powershell",
];

/// Interpreters: a protected path anywhere in their code (`python3 -c "open('…', 'w')"`)
/// counts.
const INTERPRETERS: &[&str] = &[
    "python",
    "python3",
    "perl",
    "ruby",
    "node",
    "deno",
    "bun",
    "php",
    "lua",
    "awk",
    "gawk",
    "osascript",
    "Rscript",
];

/// Programs run in front of another (`sudo rm …`), skipped with their options.
const WRAPPERS: &[&str] = &[
    "sudo", "doas", "env", "command", "exec", "nohup", "time", "nice", "ionice", "timeout",
    "xargs", "builtin",
];

/// Programs that copy or move files into a destination (the last argument): a directory
/// there receives each source under its own name.
const COPIERS: &[&str] = &[
    "cp",
    "mv",
    "ln",
    "install",
    "rsync",
    "Copy-Item",
    "Move-Item",
];

/// What the tollgate binary is called in a deny reason.
const BINARY: &str = "the tollgate binary";

/// tollgate's subcommands the agent may not run: those that change its setup, and those that
/// take records on stdin (`hook`, `statusline`: made-up plan readings would loosen a budget).
const MUTATING: &[&str] = &[
    "uninstall",
    "pause",
    "trust",
    "install",
    "init",
    "hook",
    "statusline",
];

/// One protected file or directory (everything under a directory is protected).
#[derive(Debug, Clone)]
struct Item {
    path: PathBuf,
    /// What it is, for the deny reason.
    what: &'static str,
    /// A Claude Code settings file: edits that keep tollgate's registration are allowed.
    settings: bool,
}

/// What the guard protects during one hook call, and how it reads paths.
#[derive(Debug)]
pub struct Guard {
    items: Vec<Item>,
    home: Option<PathBuf>,
    cwd: PathBuf,
    /// Variables a command may name a protected directory with.
    vars: Vec<(&'static str, PathBuf)>,
}

/// How a path relates to the protected items.
#[derive(Debug, Clone, Copy)]
enum Relation<'a> {
    /// It is one, or inside one.
    Inside(&'a Item),
    /// It is a directory holding one.
    Holds(&'a Item),
}

/// The tool calls the guard reads.
fn applies(input: &HookInput) -> bool {
    matches!(input.event.as_str(), "PreToolUse" | "PermissionRequest")
        && matches!(
            input.tool_name(),
            Some("Write" | "Edit" | "MultiEdit" | "NotebookEdit" | "Bash" | "PowerShell")
        )
}

/// Why `input` is denied, if the guard denies it: a reason for Claude that tells the user the
/// way out.
pub fn check(input: &HookInput, env: &Env, config: &Config) -> Option<String> {
    if !config.guard || !applies(input) {
        return None;
    }
    let guard = Guard::new(env, config, input);
    let why = guard.judge(input)?;
    Some(format!(
        "tollgate's guard: {why}. The agent may not change what keeps tollgate on. If the user \
         asked for this, they can make the change themselves, or run `tollgate pause --for 10m` \
         in their own terminal and try again"
    ))
}

impl Guard {
    /// The protected files for this call: tollgate's, the configured ones, the project's and
    /// Claude Code's.
    fn new(env: &Env, config: &Config, input: &HookInput) -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let cwd = PathBuf::from(input.cwd());
        let mut guard = Self {
            items: Vec::new(),
            home,
            cwd,
            vars: Vec::new(),
        };
        let paths = &env.paths;
        let tollgate = "tollgate's own files";
        if let Some(dir) = paths.config_file.parent() {
            guard.add(dir, "tollgate's config");
        }
        guard.add(&paths.config_file, "tollgate's config");
        guard.add(&paths.data_dir, "tollgate's store");
        guard.add(&paths.cache_dir, tollgate);
        if let Some(store) = &config.store {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut file = store.clone().into_os_string();
                file.push(suffix);
                guard.add(Path::new(&file), "tollgate's store");
            }
            guard.add(&crate::store::spool::dir_for(store), "tollgate's store");
        }
        for policy in &config.policies {
            if let Some(path) = &policy.path {
                guard.add(path, "a policy file of tollgate's config");
            }
        }
        if let Ok(exe) = std::env::current_exe() {
            guard.add(&exe, BINARY);
        }
        let mut projects: Vec<PathBuf> = env.project_dir.iter().cloned().collect();
        if !input.cwd().is_empty() {
            projects.push(guard.cwd.clone());
        }
        for project in &projects {
            guard.add(&project.join(PROJECT_FILE), "the project's tollgate config");
            for file in ["settings.json", "settings.local.json"] {
                guard.add_settings(&project.join(".claude").join(file));
            }
        }
        let mut claude_dirs = Vec::new();
        if let Some(dir) =
            std::env::var_os(crate::settings::CONFIG_DIR_ENV).filter(|d| !d.is_empty())
        {
            claude_dirs.extend(std::env::split_paths(
                &dir.to_string_lossy().replace(',', ":"),
            ));
        }
        if let Some(home) = guard.home.clone() {
            claude_dirs.push(home.join(".claude"));
            claude_dirs.push(home.join(".config").join("claude"));
        }
        for dir in &claude_dirs {
            for file in ["settings.json", "settings.local.json"] {
                guard.add_settings(&dir.join(file));
            }
            guard.add(&dir.join("projects"), "a session transcript");
        }
        guard.add_settings(&crate::settings::managed_file());
        if let Some(transcript) = input.transcript_path() {
            guard.add(Path::new(transcript), "a session transcript");
        }
        if let Some(dir) = claude_dirs.first() {
            guard.vars.push(("CLAUDE_CONFIG_DIR", dir.clone()));
        }
        if let Some(home) = std::env::var_os(crate::paths::HOME_ENV).filter(|h| !h.is_empty()) {
            guard.vars.push(("TOLLGATE_HOME", PathBuf::from(home)));
        }
        if let Some(dir) = &env.project_dir {
            guard.vars.push(("CLAUDE_PROJECT_DIR", dir.clone()));
        }
        if let Some(home) = guard.home.clone() {
            guard.vars.push(("HOME", home));
        }
        guard
    }

    fn add(&mut self, path: &Path, what: &'static str) {
        self.items.push(Item {
            path: normalize(&self.cwd.join(path)),
            what,
            settings: false,
        });
    }

    fn add_settings(&mut self, path: &Path) {
        self.items.push(Item {
            path: normalize(&self.cwd.join(path)),
            what: "Claude Code's hook settings",
            settings: true,
        });
    }

    /// Why the call is denied, if it is.
    fn judge(&self, input: &HookInput) -> Option<String> {
        let tool_input = input.tool_input()?;
        let field = |k: &str| tool_input.get(k).and_then(Value::as_str);
        match input.tool_name()? {
            "Bash" | "PowerShell" => self.command(field("command")?, &self.cwd, 0),
            "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
                let path = field("file_path").or(field("notebook_path"))?;
                let item = self.file_target(path)?;
                if item.settings && keeps_registration(&item.path, tool_input) {
                    return None;
                }
                let target = self.resolve(path, &self.cwd)?;
                Some(format!("this edits {} ({})", item.what, target.display()))
            }
            _ => None,
        }
    }

    /// The protected item a file tool's path is or is inside, following symlinks.
    fn file_target(&self, path: &str) -> Option<&Item> {
        let resolved = self.resolve(path, &self.cwd)?;
        if let Some(Relation::Inside(item)) = self.relation(&resolved) {
            return Some(item);
        }
        // A symlink (or a symlinked directory) to a protected file.
        let real = real_path(&resolved)?;
        if real == resolved {
            return None;
        }
        self.items.iter().find(|item| {
            let target = real_path(&item.path).unwrap_or_else(|| item.path.clone());
            real.starts_with(&target)
        })
    }

    /// `path` resolved: `~`, `$HOME` and the other variables expanded, relative to `base`,
    /// `.` and `..` applied.
    fn resolve(&self, path: &str, base: &Path) -> Option<PathBuf> {
        if path.is_empty() {
            return None;
        }
        let expanded = if path == "~" || path.starts_with("~/") {
            self.home.as_ref()?.join(path[1..].trim_start_matches('/'))
        } else if let Some(rest) = path.strip_prefix('$') {
            let (name, rest) = match rest.strip_prefix('{') {
                Some(braced) => braced.split_once('}')?,
                None => rest.split_at(
                    rest.find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .unwrap_or(rest.len()),
                ),
            };
            let (_, dir) = self.vars.iter().find(|(var, _)| *var == name)?;
            dir.join(rest.trim_start_matches('/'))
        } else {
            PathBuf::from(path)
        };
        Some(normalize(&base.join(expanded)))
    }

    /// How `path` relates to the protected items (inside one wins over holding one).
    fn relation(&self, path: &Path) -> Option<Relation<'_>> {
        // As text: both sides are normalized, and comparing strings costs a fraction of
        // `Path::starts_with`, which the guard would run for every word against every item.
        let path = path.to_str()?;
        let inside = self
            .items
            .iter()
            .find(|item| item.path.to_str().is_some_and(|dir| is_within(path, dir)));
        if let Some(item) = inside {
            return Some(Relation::Inside(item));
        }
        self.items
            .iter()
            .find(|item| item.path.to_str().is_some_and(|file| is_within(file, path)))
            .map(Relation::Holds)
    }

    /// How a glob (`~/.config/*`, `*.db`) relates to the protected items.
    fn glob_relation(&self, pattern: &Path) -> Option<Relation<'_>> {
        let parts: Vec<_> = pattern.components().collect();
        for item in &self.items {
            let theirs: Vec<_> = item.path.components().collect();
            let matched = parts.iter().zip(&theirs).all(|(p, t)| {
                wildcard(
                    &p.as_os_str().to_string_lossy(),
                    &t.as_os_str().to_string_lossy(),
                )
            });
            if matched && parts.len() >= theirs.len() {
                return Some(Relation::Inside(item));
            }
            if matched {
                return Some(Relation::Holds(item));
            }
        }
        None
    }

    /// Why a shell command is denied, if it is. `base` is its working directory; `depth`, how
    /// many quoted scripts it is inside.
    fn command(&self, text: &str, base: &Path, depth: usize) -> Option<String> {
        let mut base = base.to_path_buf();
        pieces(text).find_map(|piece| self.simple_command(piece, &mut base, depth))
    }

    /// Why one simple command (no `;`, `&&`, `|`) is denied, if it is. A `cd` moves `base`.
    fn simple_command(&self, text: &str, base: &mut PathBuf, depth: usize) -> Option<String> {
        let words = lex(text);
        let args: Vec<&Word> = words.iter().filter(|w| !w.redirect).collect();
        let start = program_index(&args);
        let program = args
            .get(start)
            .map(|w| program_name(&w.text))
            .unwrap_or_default();
        let rest = args.get(start + 1..).unwrap_or_default();
        if let Some(sub) = tollgate_subcommand(program, rest, &self.items) {
            return Some(format!("this runs `tollgate {sub}`"));
        }
        if matches!(program, "cd" | "pushd")
            && let Some(dir) = rest.first().and_then(|w| self.resolve(&w.text, base))
        {
            *base = dir;
            return None;
        }
        for word in words.iter().filter(|w| w.redirect) {
            if let Some((Relation::Inside(item), path)) = self.word_relation(&word.text, base) {
                return Some(format!("this writes to {} ({})", item.what, path.display()));
            }
        }
        // Scripts inside: a shell's quoted argument (`bash -c '…'`), and a command substituted
        // inside double quotes (`echo "$(rm …)"`).
        if depth < MAX_NESTING {
            let shell = SHELLS.contains(&program);
            let mut scripts = args
                .iter()
                .filter(|w| w.quoted && (shell || w.text.contains("$(") || w.text.contains('`')));
            if let Some(why) = scripts.find_map(|w| self.command(&w.text, base, depth + 1)) {
                return Some(why);
            }
        }
        let reads = only_reads(program, rest);
        let destroys = DESTROYERS.contains(&program) && !reads;
        // `cp settings.json ~/.claude/`: the destination directory receives each source.
        let operands: Vec<&Word> = rest
            .iter()
            .copied()
            .filter(|w| !w.text.starts_with('-'))
            .collect();
        let destination = match operands.split_last() {
            Some((last, sources)) if COPIERS.contains(&program) && !sources.is_empty() => {
                let dir = self.resolve(&last.text, base);
                for source in sources {
                    let name = Path::new(&source.text).file_name();
                    let target = dir.as_ref().zip(name).map(|(d, n)| d.join(n));
                    if let Some(Relation::Inside(item)) =
                        target.as_deref().and_then(|t| self.relation(t))
                    {
                        let target = target.unwrap_or_default();
                        return Some(format!(
                            "this writes to {} ({})",
                            item.what,
                            target.display()
                        ));
                    }
                }
                Some(*last)
            }
            _ => None,
        };
        for word in &args {
            let Some((relation, path)) = self.word_relation(&word.text, base) else {
                continue;
            };
            let is_destination = destination.is_some_and(|d| std::ptr::eq(d, *word));
            match relation {
                Relation::Inside(item) if !reads => {
                    return Some(format!("this changes {} ({})", item.what, path.display()));
                }
                // Moving a file into a directory leaves the directory's other files alone.
                Relation::Holds(item) if destroys && !is_destination => {
                    return Some(format!(
                        "this changes {}, which holds {} ({})",
                        path.display(),
                        item.what,
                        item.path.display()
                    ));
                }
                _ => {}
            }
        }
        // A path inside a script (`open('/home/u/.claude/settings.json', 'w')`).
        let interpreter = SHELLS.contains(&program) || INTERPRETERS.contains(&program);
        if interpreter && let Some(item) = self.named_in(text) {
            return Some(format!(
                "this names {} ({})",
                item.what,
                item.path.display()
            ));
        }
        None
    }

    /// How one word (or the value of `--flag=value`, `NAME=value`) relates to the protected
    /// items.
    fn word_relation(&self, word: &str, base: &Path) -> Option<(Relation<'_>, PathBuf)> {
        let candidates = [Some(word), word.split_once('=').map(|(_, value)| value)];
        candidates.into_iter().flatten().find_map(|text| {
            let path = self.resolve(text, base)?;
            let relation = if text.contains(['*', '?', '[']) {
                self.glob_relation(&path)
            } else {
                self.relation(&path)
            };
            relation.map(|r| (r, path))
        })
    }

    /// The protected item whose path appears in `text`: absolute, or under `~`/`$HOME`.
    fn named_in(&self, text: &str) -> Option<&Item> {
        self.items.iter().find(|item| {
            let absolute = item.path.to_string_lossy();
            if text.contains(absolute.as_ref()) {
                return true;
            }
            let Some(rest) = self
                .home
                .as_ref()
                .and_then(|h| item.path.strip_prefix(h).ok())
            else {
                return false;
            };
            let rest = rest.to_string_lossy();
            ["~/", "$HOME/", "${HOME}/"]
                .iter()
                .any(|home| text.contains(&format!("{home}{rest}")))
        })
    }
}

/// Whether an edit of the settings file at `path` keeps tollgate's registration: the same
/// hooks running tollgate, the same tollgate status line, and `disableAllHooks` not set.
fn keeps_registration(path: &Path, tool_input: &Value) -> bool {
    let before = std::fs::read_to_string(path).unwrap_or_default();
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let after = if let Some(content) = field(tool_input, "content") {
        content
    } else {
        let edits = match tool_input.get("edits").and_then(Value::as_array) {
            Some(edits) => edits.clone(),
            None => vec![tool_input.clone()],
        };
        let mut text = before.clone();
        for edit in &edits {
            let (Some(old), Some(new)) = (field(edit, "old_string"), field(edit, "new_string"))
            else {
                return false;
            };
            let all = edit
                .get("replace_all")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            text = if all {
                text.replace(&old, &new)
            } else {
                text.replacen(&old, &new, 1)
            };
        }
        text
    };
    registration(&before) == registration(&after)
}

/// What in a settings file keeps tollgate running: its hook entries, its status line, and
/// whether all hooks are off. `None` for text that is not a JSON object (Claude Code would
/// ignore the file, and tollgate's hooks with it).
fn registration(text: &str) -> Option<(Vec<String>, Option<String>, bool)> {
    if text.trim().is_empty() {
        return Some((Vec::new(), None, false));
    }
    let doc: Value = serde_json::from_str(text).ok()?;
    let doc = doc.as_object()?;
    let mut hooks = Vec::new();
    if let Some(events) = doc.get("hooks").and_then(Value::as_object) {
        for (event, groups) in events {
            for group in groups.as_array().into_iter().flatten() {
                let matcher = group
                    .get("matcher")
                    .map(Value::to_string)
                    .unwrap_or_default();
                for handler in group
                    .get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let entry = handler.to_string();
                    if entry.contains("tollgate") {
                        hooks.push(format!("{event} {matcher} {entry}"));
                    }
                }
            }
        }
    }
    hooks.sort();
    let statusline = doc
        .get("statusLine")
        .map(Value::to_string)
        .filter(|s| s.contains("tollgate"));
    let off = doc.get("disableAllHooks").and_then(Value::as_bool) == Some(true)
        || doc.get("allowManagedHooksOnly").and_then(Value::as_bool) == Some(true);
    Some((hooks, statusline, off))
}

/// The mutating tollgate subcommand a simple command runs, if any: `tollgate uninstall`,
/// `./target/release/tollgate pause`, `cargo run -p tollgate -- trust`.
fn tollgate_subcommand<'a>(program: &str, rest: &'a [&Word], items: &[Item]) -> Option<&'a str> {
    let is_binary = program == "tollgate"
        || program == "tollgate.exe"
        || items
            .iter()
            .any(|i| i.what == BINARY && i.path.file_name().is_some_and(|n| n == program));
    let args: &[&Word] = if is_binary {
        rest
    } else if program == "cargo"
        && rest.iter().any(|w| w.text == "run")
        && rest.iter().any(|w| w.text == "tollgate")
    {
        let dashes = rest.iter().position(|w| w.text == "--")?;
        &rest[dashes + 1..]
    } else {
        return None;
    };
    if args
        .iter()
        .any(|w| matches!(w.text.as_str(), "--help" | "-h" | "help"))
    {
        return None;
    }
    let sub = args
        .iter()
        .find(|w| !w.text.starts_with('-'))?
        .text
        .as_str();
    let has = |flag: &str| args.iter().any(|w| w.text == flag);
    match sub {
        "install" if has("--dry-run") => None,
        "init" if !has("--force") => None,
        sub if MUTATING.contains(&sub) => Some(sub),
        _ => None,
    }
}

/// Whether a program with these arguments only reads the files it names.
fn only_reads(program: &str, args: &[&Word]) -> bool {
    let has = |pred: &dyn Fn(&str) -> bool| args.iter().any(|w| pred(&w.text));
    match program {
        "sed" => !has(&|w| {
            w == "--in-place"
                || w.starts_with("--in-place=")
                || (w.starts_with('-') && !w.starts_with("--") && w.contains('i'))
        }),
        "find" => !has(&|w| {
            matches!(
                w,
                "-delete"
                    | "-exec"
                    | "-execdir"
                    | "-ok"
                    | "-okdir"
                    | "-fprint"
                    | "-fprint0"
                    | "-fprintf"
                    | "-fls"
            )
        }),
        "sort" => !has(&|w| w == "-o" || w.starts_with("--output")),
        "sqlite3" => has(&|w| w == "-readonly" || w == "--readonly"),
        "git" => args
            .iter()
            .find(|w| !w.text.starts_with('-'))
            .is_some_and(|sub| {
                matches!(
                    sub.text.as_str(),
                    "status" | "diff" | "log" | "show" | "blame" | "grep" | "ls-files" | "add"
                )
            }),
        "tollgate" => true,
        _ => READERS.contains(&program),
    }
}

/// The index of a simple command's program: past assignments (`A=b`) and wrappers (`sudo`,
/// `env -i`, `timeout 10`).
fn program_index(args: &[&Word]) -> usize {
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let text = word.text.as_str();
        let assignment = text.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let wrapper_arg = i > 0
            && WRAPPERS.contains(&program_name(&args[i - 1].text))
            && (text.starts_with('-') || text.chars().next().is_some_and(|c| c.is_ascii_digit()));
        if assignment || wrapper_arg || WRAPPERS.contains(&program_name(text)) {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// A program's file name: `rm` for `/bin/rm`.
fn program_name(word: &str) -> &str {
    word.rsplit(['/', '\\']).next().unwrap_or(word)
}

/// A command line split into simple commands at `;`, `&&`, `||`, `|`, `&`, new lines,
/// parentheses, backquotes and `$(`, outside quotes.
fn pieces(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut cuts = Vec::new();
    let mut quote = None;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(b'"'), b'\\') => escaped = true,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'\\') => escaped = true,
            (None, b';' | b'\n' | b'|' | b'(' | b')' | b'`') => cuts.push(i),
            // Not in `2>&1`, `&>`, `>&`.
            (None, b'&')
                if !matches!(bytes.get(i.wrapping_sub(1)), Some(b'>' | b'<'))
                    && bytes.get(i + 1) != Some(&b'>') =>
            {
                cuts.push(i)
            }
            _ => {}
        }
    }
    cuts.push(text.len());
    let mut start = 0;
    cuts.into_iter().filter_map(move |end| {
        let piece = &text[start..end];
        start = end + 1;
        (!piece.trim().is_empty()).then_some(piece)
    })
}

/// One word of a simple command.
#[derive(Debug, Default)]
struct Word {
    /// Its text, quotes removed.
    text: String,
    /// The target of an output redirection (`> file`, `>>file`, `&>file`).
    redirect: bool,
    /// It was quoted (a quoted string with spaces may be a script: `bash -c '…'`).
    quoted: bool,
}

/// Splits a simple command into words the way a shell does (quotes, backslashes,
/// redirections), without expanding anything.
fn lex(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut word = Word::default();
    let mut started = false;
    let mut redirect_next = false;
    let mut chars = text.chars().peekable();
    let finish = |word: &mut Word, started: &mut bool, words: &mut Vec<Word>| {
        if *started {
            words.push(std::mem::take(word));
            *started = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => finish(&mut word, &mut started, &mut words),
            '\'' | '"' => {
                started = true;
                word.quoted = true;
                while let Some(inner) = chars.next() {
                    if inner == c {
                        break;
                    }
                    if c == '"'
                        && inner == '\\'
                        && let Some(escaped) = chars.next()
                    {
                        word.text.push(escaped);
                        continue;
                    }
                    word.text.push(inner);
                }
            }
            '\\' => {
                started = true;
                if let Some(escaped) = chars.next() {
                    word.text.push(escaped);
                }
            }
            '>' | '<' => {
                // `2>`, `&>`: the digits or `&` before it are not a word.
                if word.text.chars().all(|c| c.is_ascii_digit() || c == '&') && !word.quoted {
                    word = Word::default();
                    started = false;
                } else {
                    finish(&mut word, &mut started, &mut words);
                }
                let output = c == '>';
                while chars.next_if(|n| matches!(n, '>' | '|' | '<')).is_some() {}
                // `>&2`: a descriptor, not a file.
                if output && chars.next_if_eq(&'&').is_some() {
                    while chars.next_if(char::is_ascii_digit).is_some() {}
                    continue;
                }
                redirect_next = output;
                if redirect_next {
                    word.redirect = true;
                }
            }
            c => {
                if !started && redirect_next {
                    word.redirect = true;
                }
                started = true;
                word.text.push(c);
            }
        }
        if started && redirect_next {
            word.redirect = true;
            redirect_next = false;
        }
    }
    finish(&mut word, &mut started, &mut words);
    words
}

/// Whether the normalized path `path` is `dir` or under it.
fn is_within(path: &str, dir: &str) -> bool {
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || dir.ends_with('/'),
        None => false,
    }
}

/// Whether a `*`/`?`/`[…]` pattern matches `text` whole.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        let class_end = (p.get(pi) == Some(&'['))
            .then(|| p[pi..].iter().position(|&c| c == ']').map(|n| pi + n))
            .flatten();
        if let Some(end) = class_end {
            pi = end + 1;
            ti += 1;
        } else if p.get(pi).is_some_and(|&c| c == '?' || c == t[ti]) {
            pi += 1;
            ti += 1;
        } else if p.get(pi) == Some(&'*') {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == '*')
}

/// `path` with `.` and `..` applied (no file system access).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` with symlinks resolved: the file's, else its directory's with the file name.
fn real_path(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok().or_else(|| {
        let parent = std::fs::canonicalize(path.parent()?).ok()?;
        Some(parent.join(path.file_name()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    /// A guard as a hook call in `/work/p` sees it, with tollgate's files under `/t` and the
    /// home directory `/home/u`.
    fn guard() -> Guard {
        let env = Env {
            paths: Paths {
                data_dir: "/home/u/.local/share/tollgate".into(),
                config_file: "/home/u/.config/tollgate/config.toml".into(),
                cache_dir: "/home/u/.cache/tollgate".into(),
            },
            project_dir: Some("/work/p".into()),
            now_ms: 0,
            subagent_model: None,
        };
        let config = Config::parse(
            "store = \"/srv/usage/tollgate.db\"\n[[policy]]\nname = \"mine\"\npath = \"/opt/policies/mine.wasm\"\n",
            Path::new("/home/u/.config/tollgate/config.toml"),
        )
        .unwrap();
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","cwd":"/work/p","transcript_path":"/home/u/.claude/projects/-work-p/s.jsonl"}"#,
        )
        .unwrap();
        let mut guard = Guard::new(&env, &config, &input);
        guard.home = Some("/home/u".into());
        guard.vars.retain(|(name, _)| *name != "HOME");
        guard.vars.push(("HOME", "/home/u".into()));
        for dir in ["/home/u/.claude", "/home/u/.config/claude"] {
            guard.add_settings(&Path::new(dir).join("settings.json"));
            guard.add(&Path::new(dir).join("projects"), "a session transcript");
        }
        guard
    }

    fn bash(command: &str) -> Option<String> {
        guard().command(command, Path::new("/work/p"), 0)
    }

    #[test]
    fn denies_commands_that_switch_tollgate_off() {
        let denied = [
            (
                "echo x >> ~/.claude/projects/p/s.jsonl",
                "session transcript",
            ),
            (
                "echo '{}' >/home/u/.claude/projects/-work-p/s.jsonl",
                "session transcript",
            ),
            (
                "printf x 2>&1 >> $HOME/.claude/projects/p/s.jsonl",
                "session transcript",
            ),
            (
                "sed -i 's/enforce = true/enforce = false/' ~/.config/tollgate/config.toml",
                "tollgate's config",
            ),
            (
                "sed --in-place=.bak s/a/b/ /home/u/.config/tollgate/config.toml",
                "tollgate's config",
            ),
            ("rm ~/.local/share/tollgate/tollgate.db", "tollgate's store"),
            ("rm -rf ~/.local/share/tollgate", "tollgate's store"),
            ("rm -rf ~/.local/share", "which holds tollgate's store"),
            (
                "sudo rm -f /home/u/.local/share/tollgate/tollgate.db-wal",
                "tollgate's store",
            ),
            (
                "sqlite3 ~/.local/share/tollgate/tollgate.db 'delete from usage'",
                "tollgate's store",
            ),
            ("tollgate uninstall", "runs `tollgate uninstall`"),
            (
                "tollgate uninstall --scope project",
                "runs `tollgate uninstall`",
            ),
            (
                "./target/release/tollgate pause --for 1h",
                "runs `tollgate pause`",
            ),
            (
                "cd /tmp && /usr/local/bin/tollgate init --force",
                "runs `tollgate init`",
            ),
            ("tollgate install --scope local", "runs `tollgate install`"),
            ("tollgate trust", "runs `tollgate trust`"),
            (
                "echo '{\"rate_limits\":{}}' | tollgate statusline",
                "runs `tollgate statusline`",
            ),
            ("tollgate hook < fake-event.json", "runs `tollgate hook`"),
            (
                "cargo run -p tollgate -- uninstall",
                "runs `tollgate uninstall`",
            ),
            (
                "cp /dev/null .claude/tollgate.toml",
                "the project's tollgate config",
            ),
            (
                "mv .claude/settings.json /tmp/",
                "Claude Code's hook settings",
            ),
            (
                "cd .claude && rm settings.local.json",
                "Claude Code's hook settings",
            ),
            ("cd ~/.claude; rm -rf projects", "session transcript"),
            ("bash -c 'rm -rf ~/.config/tollgate'", "tollgate's config"),
            (
                "sh -c \"echo > ~/.claude/settings.json\"",
                "Claude Code's hook settings",
            ),
            (
                "python3 -c \"open('/home/u/.claude/settings.json','w').write('{}')\"",
                "names Claude Code's hook settings",
            ),
            (
                "tee -a ~/.claude/projects/x.jsonl < fake.jsonl",
                "session transcript",
            ),
            (
                "cat fake.jsonl | tee $HOME/.claude/projects/-work-p/s.jsonl",
                "session transcript",
            ),
            ("chmod 000 ~/.config/tollgate", "tollgate's config"),
            (
                "truncate -s0 /home/u/.claude/projects/-work-p/s.jsonl",
                "session transcript",
            ),
            ("rm -rf ~/.config/*", "tollgate's config"),
            ("find ~ -name '*.db' -delete", "which holds"),
            (
                "jq '.disableAllHooks = true' ~/.claude/settings.json > /tmp/s && mv /tmp/s ~/.claude/settings.json",
                "Claude Code's hook settings",
            ),
            (
                "ln -sf /dev/null ~/.config/tollgate/config.toml",
                "tollgate's config",
            ),
            ("cp evil.wasm /opt/policies/mine.wasm", "a policy file"),
            (
                "echo 'guard = false' >> ${HOME}/.config/tollgate/config.toml",
                "tollgate's config",
            ),
            ("cp settings.json ~/.claude/", "Claude Code's hook settings"),
            (
                "mv -f fake.jsonl ~/.claude/projects/-work-p/s.jsonl",
                "session transcript",
            ),
            ("mv ~/.claude ~/.claude.bak", "which holds"),
            (
                "echo \"$(rm ~/.claude/settings.json)\"",
                "Claude Code's hook settings",
            ),
            (
                "x=1; (cd /home/u && rm .claude/settings.json)",
                "Claude Code's hook settings",
            ),
        ];
        for (command, why) in denied {
            let reason = bash(command).unwrap_or_else(|| panic!("not denied: {command}"));
            assert!(reason.contains(why), "{command}: {reason}");
        }
    }

    #[test]
    fn allows_reading_and_ordinary_work() {
        let allowed = [
            "cat ~/.config/tollgate/config.toml",
            "tollgate report daily",
            "tollgate status --json",
            "tollgate log -n 20",
            "tollgate doctor",
            "tollgate install --dry-run",
            "tollgate init --print",
            "tollgate pause --help",
            "tollgate resume",
            "ls -la ~/.claude",
            "grep -rn usage ~/.claude/projects | head",
            "tail -f /home/u/.claude/projects/-work-p/s.jsonl",
            "sed -n 1,20p ~/.config/tollgate/config.toml",
            "sqlite3 -readonly ~/.local/share/tollgate/tollgate.db 'select count(*) from events'",
            "cat ~/.config/tollgate/config.toml > /tmp/config-copy.toml",
            "git diff .claude/settings.json",
            "cargo test --workspace 2>&1 | tail -5",
            "rm -rf target/debug/build",
            "mkdir -p ~/projects/new && cp -r src ~/projects/new/",
            "echo done > /tmp/out.txt",
            "find . -name '*.rs' | xargs wc -l",
            "cd ~/.claude && ls",
            "rm *.o",
            "mv notes.txt ~",
            "cp -r ~/.claude/agents ./agents-backup",
            "diff <(cat ~/.claude/settings.json) settings.bak",
        ];
        for command in allowed {
            assert_eq!(bash(command), None, "denied: {command}");
        }
    }

    fn tool(name: &str, input: Value) -> Option<String> {
        let call = serde_json::json!({
            "hook_event_name": "PreToolUse", "cwd": "/work/p", "tool_name": name, "tool_input": input,
        });
        guard().judge(&HookInput::parse(call.to_string().as_bytes()).unwrap())
    }

    #[test]
    fn file_tools_are_judged_by_their_path() {
        use serde_json::json;
        let write = |path: &str| tool("Write", json!({"file_path": path, "content": "x"}));
        assert!(write("/home/u/.config/tollgate/config.toml").is_some());
        assert!(write("/home/u/.claude/projects/-work-p/s.jsonl").is_some());
        assert!(write("/work/p/.claude/tollgate.toml").is_some());
        assert!(write(".claude/../.claude/tollgate.toml").is_some());
        assert!(write("~/.local/share/tollgate/paused-until").is_some());
        assert!(write("/home/u/.config/tollgate/trusted.toml").is_some());
        assert!(write("/srv/usage/tollgate.db-wal").is_some());
        assert!(write("/srv/usage/tollgate.db-spool/1.json").is_some());
        assert!(write("/srv/usage/notes.txt").is_none());
        assert!(write("/work/p/src/main.rs").is_none());
        assert!(write("/work/p/.claude/agents/reviewer.md").is_none());
        let edit = tool(
            "Edit",
            json!({"file_path": "/home/u/.config/tollgate/config.toml", "old_string": "a", "new_string": "b"}),
        );
        assert!(edit.unwrap().contains("tollgate's config"));
        let notebook = tool(
            "NotebookEdit",
            json!({"notebook_path": "/home/u/.cache/tollgate/x.ipynb", "new_source": ""}),
        );
        assert!(notebook.is_some());
        assert!(
            tool(
                "Read",
                json!({"file_path": "/home/u/.config/tollgate/config.toml"})
            )
            .is_none()
        );
    }

    #[test]
    fn a_symlink_to_a_protected_file_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let protected = dir.path().join("config.toml");
        std::fs::write(&protected, "").unwrap();
        let link = dir.path().join("innocent.toml");
        std::os::unix::fs::symlink(&protected, &link).unwrap();
        let mut guard = guard();
        guard.add(&protected, "tollgate's config");
        assert!(guard.file_target(&link.to_string_lossy()).is_some());
        assert!(
            guard
                .file_target(&dir.path().join("other.toml").to_string_lossy())
                .is_none()
        );
    }

    #[test]
    fn settings_edits_that_keep_tollgate_registered_are_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        let registered = r#"{
  "permissions": {"allow": ["Bash(cargo test)"]},
  "hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/usr/bin/tollgate hook"}]}]}
}
"#;
        std::fs::write(&file, registered).unwrap();
        let edit = |old: &str, new: &str| serde_json::json!({"file_path": file, "old_string": old, "new_string": new});
        let keeps = |input: Value| keeps_registration(&file, &input);
        assert!(keeps(edit(
            "\"Bash(cargo test)\"",
            "\"Bash(cargo test)\", \"Bash(ls)\""
        )));
        assert!(!keeps(edit("/usr/bin/tollgate hook", "true")));
        assert!(!keeps(edit(
            "\"permissions\"",
            "\"disableAllHooks\": true, \"permissions\""
        )));
        assert!(!keeps(edit("{", "{{")), "broken JSON drops the hooks");
        assert!(!keeps(
            serde_json::json!({"file_path": file, "content": "{}"})
        ));
        assert!(keeps(serde_json::json!({
            "file_path": file,
            "content": registered.replace("cargo test", "cargo build"),
        })));
        let multi = serde_json::json!({"file_path": file, "edits": [
            {"old_string": "cargo test", "new_string": "cargo nextest"},
            {"old_string": "tollgate hook", "new_string": "tollgate hook --off"},
        ]});
        assert!(!keeps(multi));
    }

    #[test]
    fn words_split_like_a_shell() {
        let words = lex(r#"echo "a b" 'c'd e\ f 2>&1 >>out.txt > "x y" <in"#);
        let texts: Vec<_> = words
            .iter()
            .map(|w| (w.text.as_str(), w.redirect))
            .collect();
        assert_eq!(
            texts,
            [
                ("echo", false),
                ("a b", false),
                ("cd", false),
                ("e f", false),
                ("out.txt", true),
                ("x y", true),
                ("in", false),
            ]
        );
        let pieces: Vec<_> = pieces("a && b || c; d | e & f 2>&1\ng $(h) `i` 'j;k' \"l|m\"")
            .map(str::trim)
            .collect();
        assert_eq!(
            pieces,
            [
                "a",
                "b",
                "c",
                "d",
                "e",
                "f 2>&1",
                "g $",
                "h",
                "i",
                "'j;k' \"l|m\""
            ]
        );
    }

    #[test]
    fn within_is_by_whole_components() {
        assert!(is_within("/a/b", "/a"));
        assert!(is_within("/a", "/a"));
        assert!(is_within("/a", "/"));
        assert!(!is_within("/ab", "/a"));
        assert!(!is_within("/a", "/a/b"));
    }

    #[test]
    fn globs_match_path_components() {
        assert!(wildcard("*.db", "tollgate.db"));
        assert!(wildcard("toll*", "tollgate"));
        assert!(wildcard("t?llgate", "tollgate"));
        assert!(wildcard("[st]ollgate", "tollgate"));
        assert!(!wildcard("*.o", "tollgate.toml"));
        assert!(!wildcard("a*b", "ac"));
    }
}
