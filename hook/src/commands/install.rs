//! `tollgate install` and `tollgate uninstall`: register tollgate's hook (and, if asked, its
//! status line) in one of Claude Code's settings files, or remove exactly that.
//!
//! Everything else in the file is kept as it was, key order included. tollgate's own entries
//! are recognised by their command (a program named `tollgate` run with `hook` or
//! `statusline`), so installing again after the binary moved replaces them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::hook::catalog;
use crate::settings::{Json, Object, Scope, SettingsFile};

/// The events after which `tollgate sync` runs in the background when `[team]` is configured.
pub const SYNC_EVENTS: &[&str] = &["Stop", "SessionEnd"];

/// The background sync's subcommand.
const SYNC: &str = "sync --quiet";

/// The background sync's `timeout`, in seconds (it never delays Claude: it runs async).
const SYNC_TIMEOUT_SECS: u64 = 120;

/// The hook's `timeout`, in seconds: far above what tollgate needs. A timed-out hook is
/// treated by Claude Code as having allowed.
pub const TIMEOUT_SECS: u64 = 10;

/// Which settings file to change, and whether to only show the change.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Which Claude Code settings file to change.
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// The project directory for `--scope project` and `--scope local` (default: the current
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print the change as a unified diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `tollgate install`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// The settings file.
    #[command(flatten)]
    pub target: Target,
    /// Also set Claude Code's status line to `tollgate statusline` (refused if another status
    /// line is set).
    #[arg(long)]
    pub statusline: bool,
}

/// `tollgate install`.
pub fn install(args: &InstallArgs) -> Result<ExitCode> {
    let exe = current_exe()?;
    let file = SettingsFile::read(&args.target.file()?)?;
    let mut doc = file.doc.clone();
    let hook = command_line(&exe, "hook");
    register(&mut doc, &hook)?;
    let team = team_configured();
    if team {
        register_sync(&mut doc, &command_line(&exe, SYNC));
    }
    if args.statusline {
        set_statusline(&mut doc, &command_line(&exe, "statusline"))?;
    }
    let note = match apply(&file, &doc, args.target.dry_run)? {
        Applied::Unchanged => {
            println!(
                "tollgate is already registered in {}: nothing to change.",
                file.path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Applied::Shown => return Ok(ExitCode::SUCCESS),
        Applied::Written(note) => note,
    };
    println!(
        "Registered `{hook}` for {} hook events{} in {}.",
        catalog::registered().count(),
        if args.statusline {
            ", and tollgate's status line,"
        } else {
            ""
        },
        file.path.display()
    );
    if team {
        println!(
            "[team] is configured: `tollgate sync --quiet` runs in the background after {}.",
            SYNC_EVENTS.join(" and ")
        );
    }
    println!("{note}");
    println!(
        "Claude Code picks the change up by itself. Check the whole setup with `tollgate doctor`."
    );
    Ok(ExitCode::SUCCESS)
}

/// Whether the user's config has a `[team]` section (an unreadable config: no).
fn team_configured() -> bool {
    crate::paths::Paths::discover()
        .and_then(|paths| crate::config::Config::load(&paths.config_file, None))
        .is_ok_and(|config| config.team.is_some())
}

/// `tollgate uninstall`.
pub fn uninstall(target: &Target) -> Result<ExitCode> {
    let file = SettingsFile::read(&target.file()?)?;
    let mut doc = file.doc.clone();
    let removed = unregister(&mut doc);
    let note = match apply(&file, &doc, target.dry_run)? {
        Applied::Unchanged => {
            println!(
                "tollgate is not registered in {}: nothing to change.",
                file.path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Applied::Shown => return Ok(ExitCode::SUCCESS),
        Applied::Written(note) => note,
    };
    println!(
        "Removed tollgate from {} hook event{}{} in {}.",
        removed.events,
        if removed.events == 1 { "" } else { "s" },
        if removed.statusline {
            " and the status line"
        } else {
            ""
        },
        file.path.display()
    );
    println!("{note}");
    Ok(ExitCode::SUCCESS)
}

impl Target {
    /// The settings file these options name.
    pub fn file(&self) -> Result<PathBuf> {
        let project = match &self.project {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        self.scope.file(&project)
    }
}

/// What [`apply`] did.
enum Applied {
    /// The document did not change: nothing written.
    Unchanged,
    /// Dry run: the diff was printed, nothing written.
    Shown,
    /// Written; a line about the backup or the new file, to print.
    Written(String),
}

/// Writes `doc` to `file`, or for a dry run prints the change as a unified diff.
fn apply(file: &SettingsFile, doc: &Object, dry_run: bool) -> Result<Applied> {
    let unchanged = match &file.original {
        Some(_) => same(&file.doc, doc),
        None => doc.is_empty(),
    };
    if unchanged {
        return Ok(Applied::Unchanged);
    }
    let text = file.render(doc);
    if dry_run {
        let old = file.original.as_deref().unwrap_or_default();
        let path = file.path.display().to_string();
        let diff = similar::TextDiff::from_lines(old, &text);
        print!(
            "{}",
            diff.unified_diff().context_radius(3).header(&path, &path)
        );
        println!("(dry run: {path} was not changed)");
        return Ok(Applied::Shown);
    }
    Ok(Applied::Written(match file.write(&text)? {
        Some(backup) => format!("Backup of the previous file: {}", backup.display()),
        None => format!("Created {}.", file.path.display()),
    }))
}

/// Whether two objects are equal, key order included.
fn same(a: &Object, b: &Object) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
}

fn same_value(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Object(a), Json::Object(b)) => same(a, b),
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// This binary's absolute path, symlinks resolved.
fn current_exe() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the path of this tollgate binary")?;
    Ok(std::fs::canonicalize(&exe).unwrap_or(exe))
}

/// `<exe> <sub>`, the path quoted for the shell Claude Code runs hook commands in.
pub fn command_line(exe: &Path, sub: &str) -> String {
    let path = exe.to_string_lossy();
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,%=~".contains(c));
    if plain {
        format!("{path} {sub}")
    } else {
        format!("'{}' {sub}", path.replace('\'', r"'\''"))
    }
}

/// Whether `command` (with its exec-form `args`) runs tollgate's `sub` command: a program
/// whose file name is `tollgate` with exactly the arguments of `sub` (space-separated).
pub fn is_tollgate_command(command: &str, args: Option<&[Json]>, sub: &str) -> bool {
    let mut words = shell_words(command);
    if let Some(args) = args {
        if args.iter().any(|a| a.as_str().is_none()) {
            return false;
        }
        words.truncate(1);
        words.extend(args.iter().filter_map(Json::as_str).map(str::to_owned));
    }
    let Some((program, rest)) = words.split_first() else {
        return false;
    };
    let name = program.rsplit(['/', '\\']).next().unwrap_or_default();
    matches!(name, "tollgate" | "tollgate.exe")
        && rest.iter().map(String::as_str).eq(sub.split(' '))
}

/// The program a shell command runs: its first word, unquoted.
pub fn program(command: &str) -> PathBuf {
    PathBuf::from(shell_words(command).into_iter().next().unwrap_or_default())
}

/// Splits a shell command into words: quotes, backslash escapes; no expansion.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => word
                .get_or_insert_default()
                .extend(chars.by_ref().take_while(|&c| c != '\'')),
            '"' => {
                let word = word.get_or_insert_default();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_default().extend(chars.next()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// Whether a hook handler (`{"type": "command", "command": …}`) runs tollgate's `sub`.
fn is_tollgate_handler(handler: &Json, sub: &str) -> bool {
    handler.get("type").and_then(Json::as_str) == Some("command")
        && handler
            .get("command")
            .and_then(Json::as_str)
            .is_some_and(|c| {
                is_tollgate_command(c, handler.get("args").and_then(Json::as_array), sub)
            })
}

/// Whether a hook handler is one `tollgate install` writes (the hook or the background sync).
fn is_installed_handler(handler: &Json) -> bool {
    is_tollgate_handler(handler, "hook") || is_tollgate_handler(handler, SYNC)
}

/// The matcher group tollgate registers for `event`.
pub fn group(event: &str, command: &str) -> Json {
    let mut handler = Object::new();
    handler.insert("type".into(), "command".into());
    handler.insert("command".into(), command.into());
    handler.insert("timeout".into(), TIMEOUT_SECS.into());
    let mut group = Object::new();
    if catalog::get(event).is_some_and(|e| e.tool_matcher) {
        group.insert("matcher".into(), "*".into());
    }
    group.insert("hooks".into(), Json::Array(vec![Json::Object(handler)]));
    Json::Object(group)
}

/// Adds tollgate's group for every event it registers for ([`catalog::registered`]): where
/// tollgate already had a group of its own, in its place; otherwise at the end of the event's
/// list. Any other tollgate handler (an older path, a duplicate) is removed.
pub fn register(doc: &mut Object, command: &str) -> Result<()> {
    let hooks = doc
        .entry("hooks".to_owned())
        .or_insert_with(|| Json::Object(Object::new()))
        .as_object_mut()
        .context("the settings' \"hooks\" is not an object: fix it by hand, then run this again")?;
    for event in catalog::registered().map(|e| e.name) {
        let groups = hooks
            .entry(event.to_owned())
            .or_insert_with(|| Json::Array(Vec::new()))
            .as_array_mut()
            .with_context(|| {
                format!("the settings' hooks.{event} is not an array: fix it by hand, then run this again")
            })?;
        let (_, emptied) = remove_handlers(groups);
        let wanted = group(event, command);
        match emptied {
            Some(at) => groups.insert(at, wanted),
            None => groups.push(wanted),
        }
    }
    Ok(())
}

/// Adds `command` (`tollgate sync --quiet`) as an asynchronous handler to tollgate's group of
/// each of [`SYNC_EVENTS`] (call after [`register`], which removed any earlier one).
pub fn register_sync(doc: &mut Object, command: &str) {
    let Some(hooks) = doc.get_mut("hooks").and_then(Json::as_object_mut) else {
        return;
    };
    for &event in SYNC_EVENTS {
        let groups = hooks.get_mut(event).and_then(Json::as_array_mut);
        let ours = groups.into_iter().flatten().find_map(|group| {
            let handlers = group.as_object_mut()?.get_mut("hooks")?.as_array_mut()?;
            handlers
                .iter()
                .any(|h| is_tollgate_handler(h, "hook"))
                .then_some(handlers)
        });
        if let Some(handlers) = ours {
            let mut handler = Object::new();
            handler.insert("type".into(), "command".into());
            handler.insert("command".into(), command.into());
            handler.insert("async".into(), Json::Bool(true));
            handler.insert("timeout".into(), SYNC_TIMEOUT_SECS.into());
            handlers.push(Json::Object(handler));
        }
    }
}

/// Removes tollgate's handlers from `groups`, then the groups that this left empty. Returns
/// how many handlers were removed and where the first group removed was.
fn remove_handlers(groups: &mut Vec<Json>) -> (usize, Option<usize>) {
    let mut removed = 0;
    let mut emptied = Vec::new();
    for (i, group) in groups.iter_mut().enumerate() {
        let Some(handlers) = group
            .as_object_mut()
            .and_then(|g| g.get_mut("hooks"))
            .and_then(Json::as_array_mut)
        else {
            continue;
        };
        let before = handlers.len();
        handlers.retain(|h| !is_installed_handler(h));
        if handlers.len() < before {
            removed += before - handlers.len();
            if handlers.is_empty() {
                emptied.push(i);
            }
        }
    }
    for &i in emptied.iter().rev() {
        groups.remove(i);
    }
    (removed, emptied.first().copied())
}

/// What [`unregister`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Events tollgate's handler was removed from.
    pub events: usize,
    /// Whether the status line was tollgate's and was removed.
    pub statusline: bool,
}

/// Removes tollgate's handlers from every event, then the groups, events and `hooks` object
/// that this left empty (empty ones that were there before stay), and the status line if it
/// is tollgate's.
pub fn unregister(doc: &mut Object) -> Removed {
    let mut removed = Removed::default();
    if let Some(hooks) = doc.get_mut("hooks").and_then(Json::as_object_mut) {
        let mut emptied = Vec::new();
        for (event, groups) in hooks.iter_mut() {
            let Some(groups) = groups.as_array_mut() else {
                continue;
            };
            if remove_handlers(groups).0 > 0 {
                removed.events += 1;
                if groups.is_empty() {
                    emptied.push(event.clone());
                }
            }
        }
        for event in &emptied {
            hooks.shift_remove(event);
        }
        if !emptied.is_empty() && hooks.is_empty() {
            doc.shift_remove("hooks");
        }
    }
    if doc.get("statusLine").is_some_and(is_tollgate_statusline) {
        doc.shift_remove("statusLine");
        removed.statusline = true;
    }
    removed
}

fn is_tollgate_statusline(statusline: &Json) -> bool {
    statusline
        .get("command")
        .and_then(Json::as_str)
        .is_some_and(|c| is_tollgate_command(c, None, "statusline"))
}

/// How often Claude Code runs a status line that `install` sets, seconds.
pub const STATUSLINE_REFRESH_S: u64 = 30;

/// Sets the status line to `command`, unless another program's status line is set. Other
/// keys of tollgate's status line (`padding`, `refreshInterval`) are kept. A new one refreshes
/// every [`STATUSLINE_REFRESH_S`] seconds, so that the cache's time left counts down while the
/// session is idle.
pub fn set_statusline(doc: &mut Object, command: &str) -> Result<()> {
    match doc.get_mut("statusLine") {
        Some(existing) if is_tollgate_statusline(existing) => {
            let line = existing
                .as_object_mut()
                .expect("a status line with a command is an object");
            line.insert("type".into(), "command".into());
            line.insert("command".into(), command.into());
        }
        Some(existing) => {
            let current = existing
                .get("command")
                .and_then(Json::as_str)
                .map_or_else(|| existing.kind().to_owned(), |c| format!("`{c}`"));
            bail!(
                "the settings already have a status line ({current}), not tollgate's: remove \"statusLine\" from the file first if you want tollgate's, or install without --statusline. Nothing was changed."
            );
        }
        None => {
            let mut line = Object::new();
            line.insert("type".into(), "command".into());
            line.insert("command".into(), command.into());
            line.insert("refreshInterval".into(), STATUSLINE_REFRESH_S.into());
            doc.insert("statusLine".into(), Json::Object(line));
        }
    }
    Ok(())
}

/// Whether a settings document enables the tollgate plugin (`enabledPlugins`).
pub fn enables_plugin(doc: &Object) -> bool {
    doc.get("enabledPlugins")
        .and_then(Json::as_object)
        .is_some_and(|p| {
            p.iter()
                .any(|(k, v)| k.starts_with("tollgate@") && *v == Json::Bool(true))
        })
}

/// Whether Claude Code runs tollgate's hook for a session in `project`: a settings file of any
/// scope (or the managed one) registers it or enables the plugin. Unreadable files count as
/// not registering it.
pub fn is_registered(project: &Path) -> bool {
    Scope::ALL
        .iter()
        .filter_map(|scope| scope.file(project).ok())
        .chain([crate::settings::managed_file()])
        .filter(|path| path.exists())
        .filter_map(|path| SettingsFile::read(&path).ok())
        .any(|file| !registrations(&file.doc).is_empty() || enables_plugin(&file.doc))
}

/// Every tollgate hook handler in a settings document: (event, command).
pub fn registrations(doc: &Object) -> Vec<(String, String)> {
    let Some(hooks) = doc.get("hooks").and_then(Json::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (event, groups) in hooks {
        for group in groups.as_array().unwrap_or_default() {
            let handlers = group
                .get("hooks")
                .and_then(Json::as_array)
                .unwrap_or_default();
            for handler in handlers.iter().filter(|h| is_tollgate_handler(h, "hook")) {
                let command = handler
                    .get("command")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                found.push((event.clone(), command.to_owned()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn doc(text: &str) -> Object {
        match serde_json::from_str(text).unwrap() {
            Json::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn recognises_tollgate_commands_however_they_are_spelled() {
        for command in [
            "/home/u/.cargo/bin/tollgate hook",
            "tollgate hook",
            "'/a b/tollgate' hook",
            "\"/a b/tollgate\" hook",
            r"/a\ b/tollgate hook",
            r"'C:\tools\tollgate.exe' hook",
            "'/it'\\''s/tollgate' hook",
        ] {
            assert!(is_tollgate_command(command, None, "hook"), "{command}");
        }
        for command in [
            "/usr/bin/tollgate-hook",
            "tollgate statusline",
            "tollgate hook --verbose",
            "mytollgate hook",
            "echo tollgate hook",
        ] {
            assert!(!is_tollgate_command(command, None, "hook"), "{command}");
        }
        let args = [Json::from("hook")];
        assert!(is_tollgate_command("/bin/tollgate", Some(&args), "hook"));
    }

    #[test]
    fn quotes_paths_the_shell_would_split() {
        assert_eq!(
            command_line(Path::new("/a/tollgate"), "hook"),
            "/a/tollgate hook"
        );
        let quoted = command_line(Path::new("/it's here/tollgate"), "hook");
        assert_eq!(quoted, r"'/it'\''s here/tollgate' hook");
        assert!(is_tollgate_command(&quoted, None, "hook"));
        assert_eq!(program(&quoted), Path::new("/it's here/tollgate"));
    }

    #[test]
    fn a_moved_binary_replaces_its_entry_in_place() {
        let mut settings = doc(
            r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"other"}]},{"hooks":[{"type":"command","command":"/old/tollgate hook"}]},{"hooks":[{"type":"command","command":"last"}]}]}}"#,
        );
        register(&mut settings, "/new/tollgate hook").unwrap();
        let stop = settings["hooks"].get("Stop").unwrap().as_array().unwrap();
        let commands: Vec<&str> = stop
            .iter()
            .map(|g| {
                g.get("hooks").unwrap().as_array().unwrap()[0]
                    .get("command")
                    .unwrap()
                    .as_str()
                    .unwrap()
            })
            .collect();
        assert_eq!(commands, ["other", "/new/tollgate hook", "last"]);
    }

    #[test]
    fn a_shared_group_keeps_its_other_handlers() {
        let mut settings = doc(
            r#"{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"tollgate hook"},{"type":"command","command":"audit"}]}]}}"#,
        );
        assert_eq!(unregister(&mut settings).events, 1);
        assert_eq!(
            serde_json::to_string(&Json::Object(settings)).unwrap(),
            r#"{"hooks":{"PreToolUse":[{"matcher":"*","hooks":[{"type":"command","command":"audit"}]}]}}"#
        );
    }

    #[test]
    fn empty_lists_tollgate_did_not_empty_stay() {
        let mut settings = doc(r#"{"hooks":{"Setup":[],"SessionEnd":[{"hooks":[]}]}}"#);
        let before = settings.clone();
        register(&mut settings, "tollgate hook").unwrap();
        unregister(&mut settings);
        assert!(same(&settings, &before));
    }
}
