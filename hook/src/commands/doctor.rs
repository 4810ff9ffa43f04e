//! `tollgate doctor`: checks the whole setup and explains each problem with its fix.
//!
//! The binary, which settings files register the hook (and twice-registered events, which
//! record every call twice), the project's config (trusted or not), the store (whether the
//! hook can read its figures, and the models in it without a price or a context window, and
//! Claude Code cost lines it could not use), Claude Code's transcripts and version, every
//! configured policy, the price table's age, and a measured round trip of the real hook on a
//! synthetic event in a temporary `TOLLGATE_HOME` (your data is not touched).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::commands::install;
use crate::config::{Config, Overlay};
use crate::hook::catalog;
use crate::policy::config_check::Checker;
use crate::policy::engine::PolicyError;
use crate::settings::{self, Json, Scope, SettingsFile};
use crate::store::{Store, spool};
use crate::text::one_line;
use crate::text::printable;

/// A price table older than this many days gets a warning.
pub const PRICES_MAX_AGE_DAYS: i64 = 120;

/// Options of `tollgate doctor`.
#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// The project whose `.claude/settings*.json` and `.claude/tollgate.toml` to check
    /// (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth knowing; nothing to fix.
    Info,
    /// Works, but something is off.
    Warn,
    /// Broken: tollgate does not work as intended until it is fixed.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked: `binary`, `settings`, `config`, `project`, `guard`, `store`,
    /// `transcripts`, `models`, `claude code`,
    /// `policy`, `prices`, `round trip`.
    pub area: &'static str,
    /// How it went.
    pub status: Status,
    /// What was found.
    pub summary: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    /// A finding; its summary on one line, whatever the text it quotes.
    fn new(area: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Self {
            area,
            status,
            summary: one_line(&summary.into()).into_owned(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(one_line(&fix.into()).into_owned());
        self
    }
}

/// `tollgate doctor`.
pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let project = match &args.project {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let exe = std::env::current_exe().context("cannot find the path of this tollgate binary")?;
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let mut checks = vec![Check::new(
        "binary",
        Status::Ok,
        format!(
            "tollgate {} at {}",
            env!("CARGO_PKG_VERSION"),
            exe.display()
        ),
    )];
    checks.extend(check_settings(&project, &exe));
    let paths = crate::paths::Paths::discover()?;
    let config =
        match Config::load(&paths.config_file, Some(&project)) {
            Ok(config) => {
                let origin = if paths.config_file.exists() {
                    format!("{} loads", paths.config_file.display())
                } else {
                    format!(
                        "no config at {}: the built-in policies run warn-only",
                        paths.config_file.display()
                    )
                };
                checks.push(Check::new("config", Status::Ok, origin));
                Some(config)
            }
            Err(e) => {
                checks.push(Check::new("config", Status::Fail, format!("{e:#}")).fix(
                    "fix the file; until then the hook records with defaults and answers allow",
                ));
                None
            }
        };
    checks.extend(config.as_ref().and_then(|c| check_project(&c.project)));
    let store = config
        .as_ref()
        .and_then(|c| c.store.clone())
        .unwrap_or_else(|| paths.store_file());
    checks.push(check_guard(config.as_ref(), &paths));
    checks.push(check_store(&store));
    checks.extend(check_recorded(&store, config.as_ref()));
    checks.extend(check_store_contents(&store, config.as_ref()));
    checks.push(check_transcripts());
    checks.push(check_claude_code());
    if let Some(config) = &config {
        checks.extend(check_policies(config, &paths.cache_dir));
    }
    checks.push(check_prices(chrono::Local::now().date_naive()));
    checks.push(round_trip(&exe));

    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    if args.json {
        let report = serde_json::json!({
            "ok": fails == 0,
            "problems": fails,
            "warnings": warns,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&checks, fails, warns));
    }
    Ok(if fails == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The text report.
fn render(checks: &[Check], fails: usize, warns: usize) -> String {
    let mut out = String::new();
    for check in checks {
        let _ = writeln!(
            out,
            "{:<5} {:<12} {}",
            check.status.label(),
            check.area,
            printable(&check.summary)
        );
        if let Some(fix) = &check.fix {
            let _ = writeln!(out, "{:<18} fix: {}", "", printable(fix));
        }
    }
    let _ = match (fails, warns) {
        (0, 0) => writeln!(out, "\nAll good."),
        (0, w) => writeln!(out, "\nNo problems, {w} warning{}.", plural(w)),
        (f, w) => writeln!(
            out,
            "\n{f} problem{}, {w} warning{}: tollgate does not work as intended until the problems are fixed.",
            plural(f),
            plural(w)
        ),
    };
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The guard (on unless the user's config turns it off) and a running pause.
fn check_guard(config: Option<&Config>, paths: &crate::paths::Paths) -> Check {
    let now_ms = crate::term::clock::now_ms();
    if let Some(until) = crate::hook::pause::until(paths, now_ms) {
        return Check::new(
            "guard",
            Status::Warn,
            format!(
                "paused until {}: every hook call is answered allow, the guard's too",
                crate::commands::pause::local_hm(until, now_ms)
            ),
        )
        .fix("`tollgate resume` ends the pause now");
    }
    if config.is_some_and(|c| !c.guard) {
        return Check::new(
            "guard",
            Status::Warn,
            "off (`guard = false`): the agent can change tollgate's config, store and hook settings",
        )
        .fix("remove `guard = false` from the config");
    }
    Check::new(
        "guard",
        Status::Ok,
        "on: the agent cannot change tollgate's files, its hook settings or transcripts, nor run `tollgate uninstall`",
    )
}

/// One settings file's tollgate entries.
struct Registered {
    label: String,
    fix_scope: String,
    by_event: BTreeMap<String, Vec<String>>,
    plugin: bool,
    statusline: Option<String>,
}

/// What was found at one settings file's place.
enum Found {
    /// No file (its label).
    Missing(String),
    /// A file Claude Code cannot read.
    Broken(Check),
    /// A file, with tollgate's entries.
    File(Registered),
}

fn check_settings(project: &Path, exe: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut places = Vec::new();
    for scope in Scope::ALL {
        match scope.file(project) {
            Ok(path) => places.push((scope.name().to_owned(), path, Some(scope))),
            Err(e) => checks.push(Check::new("settings", Status::Warn, format!("{e:#}"))),
        }
    }
    places.push(("managed".to_owned(), settings::managed_file(), None));
    let found: Vec<Found> = places
        .into_iter()
        .filter_map(|(name, path, scope)| {
            let fix_scope = match scope {
                Some(Scope::Project | Scope::Local) => format!(
                    " --scope {} --project {}",
                    scope.map_or("", Scope::name),
                    project.display()
                ),
                _ => String::new(),
            };
            read_settings(
                format!("{name} {}", path.display()),
                fix_scope,
                &path,
                scope.is_some(),
            )
        })
        .collect();
    let files: Vec<&Registered> = found
        .iter()
        .filter_map(|f| match f {
            Found::File(file) => Some(file),
            _ => None,
        })
        .collect();
    for place in &found {
        match place {
            Found::Missing(label) => {
                checks.push(Check::new(
                    "settings",
                    Status::Info,
                    format!("{label}: no file"),
                ));
            }
            Found::Broken(check) => checks.push(check.clone()),
            Found::File(file) => {
                let others = files
                    .iter()
                    .any(|o| o.label != file.label && !o.by_event.is_empty());
                checks.extend(check_registrations(file, others, exe));
                if file.plugin {
                    checks.push(Check::new(
                        "settings",
                        Status::Info,
                        format!("{}: enables the tollgate plugin", file.label),
                    ));
                }
                if let Some(line) = &file.statusline {
                    checks.push(Check::new(
                        "settings",
                        Status::Info,
                        format!("{}: status line `{line}`", file.label),
                    ));
                }
            }
        }
    }
    checks.extend(check_across(&files));
    checks
}

/// Reads one settings file; `None` for a missing file that is not worth a line.
fn read_settings(label: String, fix_scope: String, path: &Path, always: bool) -> Option<Found> {
    if !path.exists() {
        return always.then_some(Found::Missing(label));
    }
    let file = match SettingsFile::read(path) {
        Ok(file) => file,
        Err(e) => {
            return Some(Found::Broken(
                Check::new("settings", Status::Fail, format!("{e:#}"))
                    .fix("Claude Code ignores the file's settings until it is fixed"),
            ));
        }
    };
    let mut by_event: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (event, command) in install::registrations(&file.doc) {
        by_event.entry(event).or_default().push(command);
    }
    let plugin = install::enables_plugin(&file.doc);
    let statusline = file
        .doc
        .get("statusLine")
        .and_then(|s| s.get("command"))
        .and_then(Json::as_str)
        .filter(|line| install::is_tollgate_command(line, None, "statusline"))
        .map(str::to_owned);
    Some(Found::File(Registered {
        label,
        fix_scope,
        by_event,
        plugin,
        statusline,
    }))
}

/// One file's registrations: events registered twice, stale paths. `others`: whether another
/// settings file registers tollgate too (then the fix is to remove this file's entries).
fn check_registrations(file: &Registered, others: bool, exe: &Path) -> Vec<Check> {
    let Registered {
        label,
        fix_scope,
        by_event,
        ..
    } = file;
    if by_event.is_empty() {
        return vec![Check::new(
            "settings",
            Status::Info,
            format!("{label}: does not register tollgate"),
        )];
    }
    let reinstall = if others {
        format!("tollgate uninstall{fix_scope} (another settings file registers tollgate)")
    } else {
        format!("tollgate install{fix_scope} (one entry per event, for this binary)")
    };
    let mut checks = Vec::new();
    let twice: Vec<String> = by_event
        .iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(e, c)| format!("{e} ×{}", c.len()))
        .collect();
    if !twice.is_empty() {
        checks.push(
            Check::new(
                "settings",
                Status::Fail,
                format!(
                    "{label}: registers tollgate more than once for {}: each of those calls is recorded twice",
                    twice.join(", ")
                ),
            )
            .fix(&reinstall),
        );
    }
    let missing = catalog::registered().any(|e| !by_event.contains_key(e.name));
    let commands: std::collections::BTreeSet<&String> = by_event.values().flatten().collect();
    for command in &commands {
        let program = install::program(command);
        if program.is_absolute() && !program.exists() {
            checks.push(
                Check::new(
                    "settings",
                    Status::Fail,
                    format!("{label}: runs `{command}`, but {} does not exist: Claude Code reports a hook error on every event", program.display()),
                )
                .fix(&reinstall),
            );
        } else if program.is_absolute()
            && std::fs::canonicalize(&program).ok().as_deref() != Some(exe)
        {
            checks.push(
                Check::new(
                    "settings",
                    Status::Info,
                    format!(
                        "{label}: runs {}, not this binary ({})",
                        program.display(),
                        exe.display()
                    ),
                )
                .fix(format!("tollgate install{fix_scope} to register this one")),
            );
        } else if !program.is_absolute() {
            checks.push(
                Check::new(
                    "settings",
                    Status::Warn,
                    format!("{label}: runs `{command}` from Claude Code's PATH, which may not be your shell's"),
                )
                .fix(format!("tollgate install{fix_scope} (registers the absolute path)")),
            );
        }
    }
    let summary = if !missing {
        format!(
            "{label}: registers tollgate for all {} events",
            catalog::registered().count()
        )
    } else {
        format!(
            "{label}: registers tollgate for {} of {} events ({})",
            by_event.len(),
            catalog::registered().count(),
            by_event.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let status = if missing { Status::Info } else { Status::Ok };
    let check = Check::new("settings", status, summary);
    checks.insert(0, check);
    checks
}

/// Across files: nothing registered anywhere, or the same event registered by several files
/// with different commands (Claude Code runs identical handlers once, different ones each).
fn check_across(files: &[&Registered]) -> Vec<Check> {
    let plugin = files.iter().any(|f| f.plugin);
    let with_hooks: Vec<&Registered> = files
        .iter()
        .copied()
        .filter(|f| !f.by_event.is_empty())
        .collect();
    if with_hooks.is_empty() {
        if plugin {
            return Vec::new();
        }
        return vec![
            Check::new(
                "settings",
                Status::Fail,
                "no settings file registers tollgate: Claude Code never runs it",
            )
            .fix("tollgate install (or `tollgate install --scope project` for one project)"),
        ];
    }
    let mut checks = Vec::new();
    let missing: Vec<&str> = catalog::registered()
        .map(|e| e.name)
        .filter(|e| !with_hooks.iter().any(|f| f.by_event.contains_key(*e)))
        .collect();
    if !missing.is_empty() && !plugin {
        checks.push(
            Check::new(
                "settings",
                Status::Warn,
                format!(
                    "no settings file registers tollgate for {}: those events are not recorded",
                    missing.join(", ")
                ),
            )
            .fix(format!("tollgate install{}", with_hooks[0].fix_scope)),
        );
    }
    if plugin {
        checks.push(
            Check::new(
                "settings",
                Status::Fail,
                format!(
                    "the tollgate plugin is enabled and {} also registers the hook: every event is recorded twice",
                    with_hooks[0].label
                ),
            )
            .fix(format!("tollgate uninstall{}, or disable the plugin", with_hooks[0].fix_scope)),
        );
    }
    for event in catalog::registered().map(|e| e.name) {
        let mut commands: Vec<(&Registered, &String)> = Vec::new();
        for file in &with_hooks {
            for command in file.by_event.get(event).into_iter().flatten() {
                commands.push((file, command));
            }
        }
        let distinct: std::collections::BTreeSet<&String> =
            commands.iter().map(|(_, c)| *c).collect();
        let files: std::collections::BTreeSet<&str> =
            commands.iter().map(|(f, _)| f.label.as_str()).collect();
        if distinct.len() > 1 && files.len() > 1 {
            let last = commands.last().expect("several commands").0;
            checks.push(
                Check::new(
                    "settings",
                    Status::Fail,
                    format!(
                        "{} registered with different commands in {}: Claude Code runs each, so every such event is recorded twice",
                        event,
                        files.into_iter().collect::<Vec<_>>().join(" and ")
                    ),
                )
                .fix(format!("keep one: tollgate uninstall{}", last.fix_scope)),
            );
            break;
        }
    }
    checks
}

fn check_store(path: &Path) -> Check {
    if !path.exists() {
        return Check::new(
            "store",
            Status::Warn,
            format!("{} does not exist yet: the first hook call creates it", path.display()),
        )
        .fix("if Claude Code has run since you registered tollgate, the hook is not running: see the settings checks");
    }
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    let store = match Store::inspect(path) {
        Ok(store) => store,
        Err(e) => {
            return Check::new("store", Status::Fail, format!("cannot open {}: {e}", path.display()))
                .fix("check its permissions; the hook moves a damaged store aside and starts a new one by itself");
        }
    };
    let (version, integrity) = (store.schema_version(), store.integrity());
    let known = Store::schema_version();
    let summary = format!(
        "{}: {}, schema v{}",
        path.display(),
        human_size(size),
        version
            .as_ref()
            .map_or_else(|_| "?".to_owned(), i64::to_string)
    );
    match (version, integrity) {
        (Err(e), _) | (_, Err(e)) => Check::new("store", Status::Fail, format!("{summary}: {e}"))
            .fix("the hook moves a damaged store aside and starts a new one by itself; usage is re-read from the transcripts"),
        (Ok(v), _) if v > known => Check::new(
            "store",
            Status::Fail,
            format!("{summary}, written by a newer tollgate (this one knows v{known})"),
        )
        .fix("install the newer tollgate again (cargo install --path hook --locked)"),
        (Ok(_), Ok(result)) if result != "ok" => Check::new(
            "store",
            Status::Fail,
            format!("{summary}: integrity check says {result}"),
        )
        .fix(format!("move {} aside; the next hook call starts a new store and re-reads the transcripts", path.display())),
        (Ok(_), Ok(_)) => match permissions_problem(path) {
            Some(problem) => Check::new("store", Status::Warn, format!("{summary}, integrity ok; {problem}"))
                .fix(format!("chmod 600 {}; chmod 700 {}", path.display(), path.parent().unwrap_or(Path::new(".")).display())),
            None => Check::new("store", Status::Ok, format!("{summary}, integrity ok, private (0600 in 0700)")),
        },
    }
}

/// What the store holds that tollgate cannot weigh: models without a price or a context
/// window, and Claude Code cost lines it could not use (last 30 days).
fn check_recorded(path: &Path, config: Option<&Config>) -> Vec<Check> {
    let Ok(store) = Store::inspect(path) else {
        return Vec::new();
    };
    let conn = store.conn();
    let pricing = crate::pricing::Pricing::with_overrides(
        &config.map(|c| c.prices.clone()).unwrap_or_default(),
    );
    let since = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    let (Ok(models), Ok(notes)) = (
        crate::store::usage::models_seen(conn),
        crate::store::claude_code::notes_since(conn, since),
    ) else {
        // A store from before these tables: the store check says what to do.
        return Vec::new();
    };
    let mut checks = Vec::new();
    let (mut unpriced, mut by_claude_code, mut no_window) = (Vec::new(), Vec::new(), Vec::new());
    for seen in &models {
        if pricing.price(&seen.model).is_none() {
            if seen.unpriced > 0 {
                unpriced.push(format!("{} ({} responses)", seen.model, seen.unpriced));
            } else {
                by_claude_code.push(seen.model.clone());
            }
        }
        let observed = crate::store::observe::model_window(conn, &seen.model)
            .ok()
            .flatten();
        if pricing.context(&seen.model).is_none() && observed.is_none() {
            no_window.push(seen.model.clone());
        }
    }
    let fix =
        "add it under [prices] in the config, with its `context` window (docs/configuration.md)";
    if !unpriced.is_empty() {
        checks.push(
            Check::new(
                "models",
                Status::Warn,
                format!(
                    "no price for {}: their cost is unknown, and limits in dollars cannot act on it",
                    unpriced.join(", ")
                ),
            )
            .fix(fix),
        );
    }
    if !by_claude_code.is_empty() {
        checks.push(Check::new(
            "models",
            Status::Info,
            format!(
                "priced from Claude Code's figures (tollgate has no price for them): {}",
                by_claude_code.join(", ")
            ),
        ));
    }
    if !no_window.is_empty() {
        checks.push(
            Check::new(
                "models",
                Status::Warn,
                format!(
                    "no context window known for {}: 200,000 tokens assumed until Claude Code reports one to `tollgate statusline`",
                    no_window.join(", ")
                ),
            )
            .fix(fix),
        );
    }
    if checks.is_empty() && !models.is_empty() {
        checks.push(Check::new(
            "models",
            Status::Ok,
            format!(
                "{} model{} seen, each with a price and a context window",
                models.len(),
                plural(models.len())
            ),
        ));
    }
    for (session, note) in notes {
        checks.push(
            Check::new("claude code", Status::Warn, note)
                .fix(format!("look at the cost-state lines of session {session}'s transcript; tollgate keeps its own figures meanwhile")),
        );
    }
    checks
}

/// What became of the project's `.claude/tollgate.toml`, if it has one.
fn check_project(overlay: &Overlay) -> Option<Check> {
    let check = |status, summary: String| Check::new("project", status, summary);
    Some(match overlay {
        Overlay::None => return None,
        Overlay::Applied { file, ignored } if ignored.is_empty() => {
            check(Status::Ok, format!("{}: trusted, applied", file.display()))
        }
        Overlay::Applied { .. } => check(Status::Warn, overlay.note()?)
            .fix("a project's file only adds policies and prices: set the rest in your own config"),
        Overlay::Untrusted { dir, .. } | Overlay::Changed { dir, .. } => {
            check(Status::Warn, overlay.note()?).fix(format!(
                "review it: if you want its policies and prices, run `tollgate trust {}`",
                dir.display()
            ))
        }
        Overlay::Unusable { .. } => check(Status::Warn, overlay.note()?)
            .fix("fix the file (your own config applies meanwhile), then trust it again"),
    })
}

/// What the hook finds in the store: whether it can read the figures policies see, figures
/// out of range, transcript lines not counted, and records waiting in the spool.
fn check_store_contents(path: &Path, config: Option<&Config>) -> Vec<Check> {
    let mut checks = Vec::new();
    let waiting = spool::waiting(path).len();
    if waiting > 0 {
        checks.push(
            Check::new(
                "store",
                Status::Info,
                format!(
                    "{waiting} hook call{} wait in {}: the store was locked by another process when they ran",
                    plural(waiting),
                    spool::dir_for(path).display()
                ),
            )
            .fix("the next hook call writes them; if the number keeps growing, look for a stuck `tollgate` or an open SQLite shell"),
        );
    }
    let Ok(store) = Store::inspect(path) else {
        return checks; // `check_store` said why
    };
    let conn = store.conn();
    if store.schema_version().unwrap_or(0) != Store::schema_version() {
        return checks; // not migrated yet (the next hook call does it), or newer
    }
    let calendar = config.and_then(|c| c.calendar().ok()).unwrap_or_default();
    let now_ms = chrono::Utc::now().timestamp_millis();
    if let Err(e) = crate::store::usage::snapshot(conn, &calendar, "", "", now_ms) {
        checks.push(
            Check::new(
                "store",
                Status::Fail,
                format!("the hook cannot read the usage figures in {}: {e}", path.display()),
            )
            .fix("every hook call fails and answers per on_internal_error until this is fixed: move the store aside; the next hook call starts a new one and reads the transcripts again"),
        );
    }
    match crate::store::figures_out_of_range(conn) {
        Ok(0) => {}
        Ok(rows) => checks.push(
            Check::new(
                "store",
                Status::Fail,
                format!(
                    "{rows} rows of usage or its sums in {} hold token counts out of range: the hook's reads of them fail",
                    path.display()
                ),
            )
            .fix("move the store aside; the next hook call starts a new one and reads the transcripts again"),
        ),
        Err(e) => checks.push(Check::new("store", Status::Fail, format!("cannot check the figures in {}: {e}", path.display()))),
    }
    for rejected in crate::store::ingest::rejections(conn).unwrap_or_default() {
        let when = crate::time::rfc3339(rejected.last_ms);
        let summary = format!(
            "{} transcript line{} not counted; the last, at {when}: {}",
            rejected.count,
            plural(rejected.count as usize),
            rejected.last_reason
        );
        checks.push(if rejected.kind == "figures" {
            Check::new("transcripts", Status::Warn, summary).fix(
                "no real response has such token counts: if you did not write them, something (the agent?) edited the transcript",
            )
        } else {
            Check::new("transcripts", Status::Info, summary)
        });
    }
    checks
}

/// How long `claude --version` may take.
const CLAUDE_VERSION_LIMIT: Duration = Duration::from_secs(5);

/// The Claude Code on PATH against the release tollgate's tests ran.
fn check_claude_code() -> Check {
    let tested = catalog::CLAUDE_CODE_VERSION;
    let Some(claude) = on_path("claude") else {
        return Check::new(
            "claude code",
            Status::Info,
            format!(
                "`claude` is not on PATH: cannot tell which Claude Code runs tollgate (tested with {tested})"
            ),
        );
    };
    let mut command = Command::new(&claude);
    command.arg("--version").stdin(Stdio::null());
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))
        .and_then(|child| wait_with_limit(child, Instant::now(), CLAUDE_VERSION_LIMIT));
    let version = match output {
        Ok((output, _)) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            text.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        }
        Ok((output, _)) => {
            return Check::new(
                "claude code",
                Status::Warn,
                format!(
                    "`{} --version` exited with {}",
                    claude.display(),
                    output.status
                ),
            );
        }
        Err(problem) => {
            return Check::new(
                "claude code",
                Status::Warn,
                format!("`{} --version`: {problem}", claude.display()),
            );
        }
    };
    if version == tested {
        Check::new(
            "claude code",
            Status::Ok,
            format!(
                "Claude Code {version} ({}), the release tollgate's tests ran",
                claude.display()
            ),
        )
    } else {
        Check::new(
            "claude code",
            Status::Info,
            format!(
                "Claude Code {version} ({}); tollgate's tests ran {tested}: another release may add hook events, models or transcript lines tollgate does not know yet (it records them and answers allow)",
                claude.display()
            ),
        )
    }
}

/// The first executable file named `name` in PATH's directories.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| is_executable(path))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// The store file and its directory should be the user's only (0600, 0700).
#[cfg(unix)]
fn permissions_problem(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    let file = mode(path)?;
    let dir = path.parent().and_then(mode).unwrap_or(0o700);
    let mut problems = Vec::new();
    if file & 0o077 != 0 {
        problems.push(format!("the file is {file:o}, readable by others"));
    }
    if dir & 0o077 != 0 {
        problems.push(format!("its directory is {dir:o}, open to others"));
    }
    (!problems.is_empty()).then(|| problems.join(", "))
}

#[cfg(not(unix))]
fn permissions_problem(_: &Path) -> Option<String> {
    None
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn check_transcripts() -> Check {
    let dir = match settings::claude_config_dir() {
        Ok(dir) => dir.join("projects"),
        Err(e) => return Check::new("transcripts", Status::Warn, format!("{e:#}")),
    };
    let Ok(projects) = std::fs::read_dir(&dir) else {
        return Check::new(
            "transcripts",
            Status::Warn,
            format!("{} does not exist: no Claude Code session has run as this user", dir.display()),
        )
        .fix("run Claude Code once; if it keeps its files elsewhere, set CLAUDE_CONFIG_DIR as Claude Code has it");
    };
    let (mut projects_n, mut sessions) = (0, 0);
    for project in projects.flatten().filter(|e| e.path().is_dir()) {
        projects_n += 1;
        sessions += std::fs::read_dir(project.path())
            .map(|files| {
                files
                    .flatten()
                    .filter(|f| f.path().extension().is_some_and(|x| x == "jsonl"))
                    .count()
            })
            .unwrap_or(0);
    }
    let summary = format!(
        "{}: {sessions} session{} in {projects_n} project{}",
        dir.display(),
        plural(sessions),
        plural(projects_n)
    );
    if sessions == 0 {
        Check::new(
            "transcripts",
            Status::Warn,
            format!("{summary}: nothing to count yet"),
        )
        .fix("run a Claude Code session; tollgate reads the token usage from these files")
    } else {
        Check::new("transcripts", Status::Ok, summary)
    }
}

fn check_policies(config: &Config, cache_dir: &Path) -> Vec<Check> {
    // Started only for a policy that runs in the sandbox.
    let engine = std::cell::OnceCell::new();
    let engine = || {
        engine
            .get_or_init(|| {
                crate::policy::engine::Engine::new(Some(cache_dir.to_path_buf()))
                    .map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| PolicyError::Engine(e.clone()))
    };
    config
        .active_policies()
        .iter()
        .map(|policy| {
            let source = policy.source(config.builtins);
            let mode = if policy.enforce {
                "enforce"
            } else {
                "warn-only"
            };
            let pin = if policy.sha256.is_some() {
                ", hash pinned"
            } else {
                ""
            };
            let on_error = policy.on_error.as_deref().unwrap_or("allow");
            let inspected = crate::commands::policy::inspect(engine, policy, config.builtins);
            match inspected {
                Ok(inspected) if !inspected.config.errors.is_empty() => Check::new(
                    "policy",
                    Status::Fail,
                    format!(
                        "{} ({source}, {mode}): {}; the hook answers its on_error ({on_error}) on every call until it is fixed",
                        policy.name,
                        inspected.config.errors.join("; ")
                    ),
                )
                .fix(format!(
                    "correct the key under `[policy.config]` of policy \"{}\" in your config (or the project's .claude/tollgate.toml)",
                    policy.name
                )),
                Ok(inspected) => {
                    let what = match inspected.style {
                        None => format!(
                            "native code, its module's sha256 {}…",
                            &inspected.sha256[..12]
                        ),
                        Some(style) => format!(
                            "loads, ABI {}, {style} style, sha256 {}…",
                            crate::policy::engine::ABI_VERSION,
                            &inspected.sha256[..12]
                        ),
                    };
                    let config = match inspected.config.checker {
                        Checker::Policy => ", config valid",
                        Checker::Schema => ", config keys valid",
                        Checker::None => ", config not checked (the module declares no check)",
                    };
                    Check::new(
                        "policy",
                        Status::Ok,
                        format!("{} ({source}, {mode}): {what}{pin}{config}", policy.name),
                    )
                }
                Err(e) => {
                    let module = policy
                        .path
                        .as_ref()
                        .map_or_else(|| policy.name.clone(), |p| p.display().to_string());
                    Check::new(
                        "policy",
                        Status::Fail,
                        format!(
                            "{} ({source}): {e}; the hook answers its on_error ({on_error})",
                            policy.name
                        ),
                    )
                    .fix(match &e {
                        PolicyError::HashMismatch { actual, .. } => format!(
                            "check the module; if the change is yours, set sha256 = \"{actual}\""
                        ),
                        PolicyError::Engine(_) => "please report this bug".to_owned(),
                        _ => format!("`tollgate policy check {module}` shows the details"),
                    })
                }
            }
        })
        .collect()
}

/// The bundled price table's age on `today`.
pub fn check_prices(today: chrono::NaiveDate) -> Check {
    let pricing = crate::pricing::Pricing::bundled();
    let Ok(date) = chrono::NaiveDate::parse_from_str(&pricing.date, "%Y-%m-%d") else {
        return Check::new(
            "prices",
            Status::Warn,
            format!("the bundled price table's date is `{}`", pricing.date),
        );
    };
    let age = (today - date).num_days();
    let summary = format!(
        "bundled price table dated {} ({age} days old, {} models)",
        pricing.date,
        pricing.models().count()
    );
    if age > PRICES_MAX_AGE_DAYS {
        Check::new(
            "prices",
            Status::Warn,
            format!("{summary}: prices may have changed since"),
        )
        .fix("install a newer tollgate, or put current prices under [prices] in the config")
    } else {
        Check::new("prices", Status::Ok, summary)
    }
}

/// Runs the real binary's `hook` twice on a synthetic `PreToolUse` event in a temporary
/// `TOLLGATE_HOME`: cold (compiles the policies into a fresh cache), then warm.
fn round_trip(exe: &Path) -> Check {
    let Ok(home) = tempfile::tempdir() else {
        return Check::new(
            "round trip",
            Status::Warn,
            "cannot create a temporary directory",
        );
    };
    let event = serde_json::json!({
        "session_id": "tollgate-doctor",
        "transcript_path": home.path().join("none.jsonl"),
        "cwd": home.path(),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": { "command": "ls", "description": "tollgate doctor's test event" },
        "tool_use_id": "toolu_doctor",
    })
    .to_string();
    let timeout = Duration::from_secs(install::TIMEOUT_SECS);
    // The cold call may take longer than Claude Code's timeout: that is worth a warning, and
    // the warm call's time still worth measuring.
    let mut times = Vec::new();
    for limit in [COLD_LIMIT, timeout] {
        match run_hook(exe, home.path(), &event, limit) {
            Ok(elapsed) => times.push(elapsed),
            Err(problem) => {
                return Check::new("round trip", Status::Fail, format!("`{} hook`: {problem}", exe.display()))
                    .fix("run `echo '{\"hook_event_name\":\"Stop\"}' | tollgate hook` to see the message; please report it");
            }
        }
    }
    let summary = format!(
        "`tollgate hook` answered a PreToolUse event in {:.1} ms warm ({:.1} ms cold, compiling the policies), in a temporary store",
        times[1].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0
    );
    if times[0] > timeout {
        Check::new("round trip", Status::Warn, format!("{summary}: the cold call took longer than the hook's {timeout:?} timeout, so on the first call after an update Claude Code proceeds without tollgate's answer"))
            .fix("run `tollgate policy list` after installing or updating: it compiles the policies into the cache")
    } else {
        Check::new("round trip", Status::Ok, summary)
    }
}

/// The longest the doctor waits for the cold hook call.
const COLD_LIMIT: Duration = Duration::from_secs(60);

/// One hook call: its wall time, or what went wrong.
fn run_hook(
    exe: &Path,
    home: &Path,
    event: &str,
    limit: Duration,
) -> std::result::Result<Duration, String> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .arg("hook")
        .env(crate::paths::HOME_ENV, home)
        .env_remove("CLAUDE_PROJECT_DIR")
        .current_dir(home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(event.as_bytes())
            .map_err(|e| format!("cannot write its input: {e}"))?;
    }
    let (output, elapsed) = wait_with_limit(child, started, limit)
        .map_err(|problem| format!("{problem} (Claude Code's timeout)"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("exited with {}: {}", output.status, stderr.trim()));
    }
    if let Some(line) = stderr.lines().next() {
        return Err(format!("reported: {line}"));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !stdout.trim().is_empty() && serde_json::from_str::<serde_json::Value>(&stdout).is_err() {
        return Err(format!(
            "printed something that is not JSON: {}",
            stdout.trim()
        ));
    }
    Ok(elapsed)
}

/// Waits for `child` (started at `started`) at most `limit` after that: its output and how
/// long it took, or why not (a late child is killed).
fn wait_with_limit(
    mut child: std::process::Child,
    started: Instant,
    limit: Duration,
) -> std::result::Result<(std::process::Output, Duration), String> {
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no answer within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok((output, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_older_than_the_limit_warn() {
        let date =
            chrono::NaiveDate::parse_from_str(&crate::pricing::Pricing::bundled().date, "%Y-%m-%d")
                .unwrap();
        assert_eq!(check_prices(date).status, Status::Ok);
        let late = date + chrono::Days::new(PRICES_MAX_AGE_DAYS as u64 + 1);
        let check = check_prices(late);
        assert_eq!(check.status, Status::Warn);
        assert!(check.fix.is_some());
    }
}
