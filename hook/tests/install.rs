//! End-to-end: `tollgate install`, `uninstall`, `init --plan` and `doctor` run as the real
//! binary on real-looking Claude Code settings files in a private environment
//! (`CLAUDE_CONFIG_DIR`, `TOLLGATE_HOME` and `HOME` all point into a temp directory); the
//! Claude Code plugin's files are checked against the documented schema and its launcher run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use tollgate::hook::catalog;
use tollgate::settings::{Json, Object};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("hook/tests/fixtures/settings").join(name)).unwrap()
}

/// The real binary's path, as `install` registers it.
fn exe() -> PathBuf {
    std::fs::canonicalize(assert_cmd::cargo::cargo_bin("tollgate")).unwrap()
}

/// A private Claude Code config dir, project, tollgate home and HOME.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["claude", "project", "home"] {
            std::fs::create_dir_all(env.dir.path().join(sub)).unwrap();
        }
        env
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn user_settings(&self) -> PathBuf {
        self.path("claude/settings.json")
    }

    /// An environment whose user settings file holds the `other-tools.json` fixture: its path
    /// and text.
    fn with_other_tools() -> (Self, PathBuf, String) {
        let env = Self::new();
        let settings = env.user_settings();
        let original = fixture("other-tools.json");
        std::fs::write(&settings, &original).unwrap();
        (env, settings, original)
    }

    /// Runs `tollgate ARGS`, with the environment's `bin` (where a test puts a `claude`) first
    /// on PATH.
    fn run(&self, args: &[&str]) -> Output {
        let path = std::env::join_paths(std::iter::once(self.path("bin")).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        Command::cargo_bin("tollgate")
            .unwrap()
            .args(args)
            .env("PATH", path)
            .current_dir(self.path("project"))
            .env("CLAUDE_CONFIG_DIR", self.path("claude"))
            .env("TOLLGATE_HOME", self.path("tollgate"))
            .env("HOME", self.path("home"))
            .env_remove("CLAUDE_PROJECT_DIR")
            .env_remove("TOLLGATE_LOG")
            .output()
            .unwrap()
    }

    /// Runs and expects success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "tollgate {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn backups(&self, of: &Path) -> Vec<PathBuf> {
        let name = of.file_name().unwrap().to_string_lossy().into_owned();
        let mut found: Vec<PathBuf> = std::fs::read_dir(of.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{name}.tollgate-backup-"))
            })
            .collect();
        found.sort();
        found
    }
}

fn parse(text: &str) -> Object {
    match serde_json::from_str(text).unwrap() {
        Json::Object(o) => o,
        other => panic!("not an object: {other:?}"),
    }
}

/// Compact text: equal strings mean equal documents, key order included.
fn canonical(doc: &Object) -> String {
    serde_json::to_string(&Json::Object(doc.clone())).unwrap()
}

/// Runs `command` with `stdin` as its input; its output.
fn feed(command: &mut Command, stdin: &str) -> Output {
    common::wait(
        common::spawn_piped(command, stdin.as_bytes()),
        std::time::Duration::from_secs(30),
    )
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts `doc` registers this binary exactly once for every event, with the right shape.
fn assert_registered(doc: &Object) {
    let registrations = tollgate::commands::install::registrations(doc);
    assert_eq!(
        registrations.len(),
        catalog::registered().count(),
        "{registrations:?}"
    );
    let command = format!("{} hook", exe().display());
    for event in catalog::registered() {
        let (tool_matcher, event) = (event.tool_matcher, event.name);
        let groups = doc["hooks"].get(event).unwrap().as_array().unwrap();
        let ours: Vec<&Json> = groups
            .iter()
            .filter(|g| {
                g.get("hooks").unwrap().as_array().unwrap()[0]
                    .get("command")
                    .and_then(Json::as_str)
                    == Some(command.as_str())
            })
            .collect();
        assert_eq!(ours.len(), 1, "{event}");
        let group = serde_json::to_string(ours[0]).unwrap();
        let matcher = if tool_matcher {
            r#""matcher":"*","#
        } else {
            ""
        };
        let expected = format!(
            r#"{{{matcher}"hooks":[{{"type":"command","command":{},"timeout":10}}]}}"#,
            serde_json::to_string(&command).unwrap()
        );
        assert_eq!(group, expected, "{event}");
    }
}

#[test]
fn install_keeps_every_other_key_and_hook_in_order_and_uninstall_restores_it() {
    let (env, settings, original) = Env::with_other_tools();
    #[cfg(unix)]
    std::fs::set_permissions(
        &settings,
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .unwrap();

    let out = env.ok(&["install"]);
    assert!(out.contains("Registered"), "{out}");
    let installed = std::fs::read_to_string(&settings).unwrap();
    let doc = parse(&installed);
    assert_registered(&doc);

    // Everything else is as it was, in the same order: removing tollgate's entries by hand
    // gives the original document back.
    let mut without = doc.clone();
    tollgate::commands::install::unregister(&mut without);
    assert_eq!(canonical(&without), canonical(&parse(&original)));
    let keys: Vec<&String> = doc.keys().collect();
    let original_keys: Vec<String> = parse(&original).keys().cloned().collect();
    assert_eq!(keys, original_keys.iter().collect::<Vec<_>>());
    // New events come after the existing ones; existing events keep their place.
    let events: Vec<&String> = doc["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(
        events[..4],
        ["PreToolUse", "PostToolUse", "Stop", "WorktreeCreate"]
    );

    // A backup of the original, byte for byte; the permissions are kept.
    let backups = env.backups(&settings);
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&settings).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    // Idempotent: a second run changes nothing and says so.
    let out = env.ok(&["install"]);
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), installed);
    assert_eq!(
        env.backups(&settings).len(),
        1,
        "no backup when nothing is written"
    );

    // Uninstall gives the original document back (the statusLine was someone else's: kept).
    let out = env.ok(&["uninstall"]);
    let removed = format!(
        "Removed tollgate from {} hook events",
        catalog::registered().count()
    );
    assert!(out.contains(&removed), "{out}");
    let restored = parse(&std::fs::read_to_string(&settings).unwrap());
    assert_eq!(canonical(&restored), canonical(&parse(&original)));
    let out = env.ok(&["uninstall"]);
    assert!(out.contains("not registered"), "{out}");
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let (env, settings, original) = Env::with_other_tools();

    let out = env.ok(&["install", "--dry-run"]);
    let path = settings.display().to_string();
    assert!(
        out.starts_with(&format!("--- {path}\n+++ {path}\n@@ ")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "+            \"command\": \"{} hook\",",
            exe().display()
        )),
        "{out}"
    );
    assert!(out.contains("was not changed"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);
    assert!(env.backups(&settings).is_empty());

    // A missing file stays missing.
    let env = Env::new();
    env.ok(&["install", "--dry-run", "--scope", "local"]);
    assert!(!env.path("project/.claude").exists());
}

#[test]
fn missing_and_empty_files_are_created_and_filled() {
    let env = Env::new();
    // --scope project: neither .claude/ nor the file exist.
    let out = env.ok(&["install", "--scope", "project"]);
    let file = env.path("project/.claude/settings.json");
    assert!(out.contains("Created"), "{out}");
    assert_registered(&parse(&std::fs::read_to_string(&file).unwrap()));
    assert!(env.backups(&file).is_empty(), "nothing to back up");
    env.ok(&["uninstall", "--scope", "project"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}\n");

    // --scope local with --project: an empty file is `{}`.
    let other = env.path("elsewhere");
    let local = other.join(".claude/settings.local.json");
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(&local, "").unwrap();
    env.ok(&[
        "install",
        "--scope",
        "local",
        "--project",
        other.to_str().unwrap(),
    ]);
    assert_registered(&parse(&std::fs::read_to_string(&local).unwrap()));
    assert_eq!(env.backups(&local).len(), 1);
}

#[test]
fn invalid_json_is_refused_with_its_line_and_the_file_untouched() {
    let env = Env::new();
    let settings = env.user_settings();
    let text = "{\n  \"model\": \"opus\",\n  // my comment\n  \"hooks\": {}\n}\n";
    std::fs::write(&settings, text).unwrap();
    for args in [&["install"][..], &["install", "--dry-run"], &["uninstall"]] {
        let output = env.run(args);
        assert!(!output.status.success(), "{args:?}");
        let err = stderr(&output);
        assert!(
            err.contains(&format!("{}:3:", settings.display())),
            "names the file and line: {err}"
        );
        assert!(err.contains("comments are not JSON"), "{err}");
        assert!(err.contains("was not changed"), "{err}");
        assert_eq!(std::fs::read(&settings).unwrap(), text.as_bytes());
        assert!(env.backups(&settings).is_empty());
    }
    std::fs::write(&settings, "[]").unwrap();
    let err = stderr(&env.run(&["install"]));
    assert!(err.contains("not a JSON object"), "{err}");
}

#[test]
fn reinstalling_after_the_binary_moved_replaces_its_entries() {
    let env = Env::new();
    let settings = env.user_settings();
    let old = r#"{
  "hooks": {
    "PreToolUse": [
      { "matcher": "Bash", "hooks": [{ "type": "command", "command": "bash-guard" }] },
      { "matcher": "*", "hooks": [{ "type": "command", "command": "/old/place/tollgate hook", "timeout": 10 }] }
    ],
    "Stop": [
      { "hooks": [{ "type": "command", "command": "'/old place/tollgate' hook" }] },
      { "hooks": [{ "type": "command", "command": "/old/place/tollgate hook" }] }
    ]
  }
}
"#;
    std::fs::write(&settings, old).unwrap();
    env.ok(&["install"]);
    let doc = parse(&std::fs::read_to_string(&settings).unwrap());
    assert_registered(&doc);
    let pre = doc["hooks"].get("PreToolUse").unwrap().as_array().unwrap();
    assert_eq!(pre.len(), 2, "bash-guard, then tollgate in its old place");
    assert_eq!(pre[0].get("matcher").unwrap().as_str(), Some("Bash"));
    assert!(!std::fs::read_to_string(&settings).unwrap().contains("/old"));
}

#[test]
fn statusline_is_set_only_when_free_or_tollgates() {
    let (env, settings, original) = Env::with_other_tools();
    let output = env.run(&["install", "--statusline"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("already have a status line (`~/.claude/statusline.sh`)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), original);

    std::fs::write(&settings, "{\"statusLine\": {\"type\": \"command\", \"command\": \"/old/tollgate statusline\", \"padding\": 1}}").unwrap();
    env.ok(&["install", "--statusline"]);
    let doc = parse(&std::fs::read_to_string(&settings).unwrap());
    let line = serde_json::to_string(&doc["statusLine"]).unwrap();
    let expected = serde_json::json!(format!("{} statusline", exe().display())).to_string();
    assert_eq!(
        line,
        format!(r#"{{"type":"command","command":{expected},"padding":1}}"#)
    );
    let out = env.ok(&["uninstall"]);
    assert!(out.contains("and the status line"), "{out}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), "{}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_four_space_file_stays_a_symlink_with_its_indentation() {
    let env = Env::new();
    let real = env.path("dotfiles/claude-settings.json");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, "{\n    \"model\": \"opus\"\n}\n").unwrap();
    std::os::unix::fs::symlink(&real, env.user_settings()).unwrap();
    env.ok(&["install"]);
    let meta = std::fs::symlink_metadata(env.user_settings()).unwrap();
    assert!(meta.file_type().is_symlink(), "the link is kept");
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.starts_with("{\n    \"model\": \"opus\",\n    \"hooks\": {\n        \""),
        "{text}"
    );
    assert_eq!(
        env.backups(&real).len(),
        1,
        "backed up beside the real file"
    );
}

#[test]
fn claude_config_dir_decides_the_user_file() {
    let env = Env::new();
    env.ok(&["install"]);
    assert!(env.user_settings().exists());
    assert!(!env.path("home/.claude").exists());
}

#[test]
fn init_plan_writes_a_config_that_watches_the_plan_meters() {
    let env = Env::new();
    let out = env.ok(&["init", "--plan", "max5"]);
    assert!(out.contains("--statusline"), "{out}");
    let text = std::fs::read_to_string(env.path("tollgate/config.toml")).unwrap();
    assert!(text.contains("five_hour_percent = 90.0"), "{text}");
    assert!(text.contains("Anthropic publishes no token"), "{text}");
    let output = env.run(&["policy", "list", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert_eq!(row["source"], "built-in", "{row}");
        assert_eq!(
            row["native"], true,
            "the written config runs the built-ins natively"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Claude Code plugin (.claude-plugin/ and hooks/), checked against the plugins reference.

/// A JSON file of the plugin, by its path from the repository root.
fn plugin_json(name: &str) -> Value {
    let path = repo().join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every hook event Claude Code 2.1.328 accepts in settings (its hooks reference lists 31; the
/// release also takes PreModelSwitch and PostModelSwitch).
const KNOWN_EVENTS: &[&str] = &[
    "SessionStart",
    "Setup",
    "UserPromptSubmit",
    "UserPromptExpansion",
    "PreToolUse",
    "PermissionRequest",
    "PermissionDenied",
    "PostToolUse",
    "PostToolUseFailure",
    "PostToolBatch",
    "Notification",
    "MessageDisplay",
    "SubagentStart",
    "SubagentStop",
    "TaskCreated",
    "TaskCompleted",
    "Stop",
    "StopFailure",
    "TeammateIdle",
    "InstructionsLoaded",
    "ConfigChange",
    "CwdChanged",
    "DirectoryAdded",
    "FileChanged",
    "WorktreeCreate",
    "WorktreeRemove",
    "PreCompact",
    "PostCompact",
    "PreModelSwitch",
    "PostModelSwitch",
    "Elicitation",
    "ElicitationResult",
    "SessionEnd",
];

fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn assert_relative_path(path: &str) {
    assert!(
        path.starts_with("./") && !path.contains(".."),
        "paths are relative to the plugin root and start with ./: {path}"
    );
}

#[test]
fn plugin_manifest_fits_the_documented_schema() {
    let manifest = plugin_json(".claude-plugin/plugin.json");
    let name = manifest["name"]
        .as_str()
        .expect("name is a required string");
    assert!(is_kebab(name), "{name}");
    assert_eq!(
        manifest["version"],
        env!("CARGO_PKG_VERSION"),
        "the plugin's version pins updates: keep it the crate's"
    );
    for key in [
        "displayName",
        "description",
        "homepage",
        "repository",
        "license",
    ] {
        assert!(manifest[key].is_string(), "{key} is a string");
    }
    assert!(manifest["author"]["name"].is_string());
    assert!(
        manifest["keywords"]
            .as_array()
            .unwrap()
            .iter()
            .all(Value::is_string)
    );
    // Claude Code loads hooks/hooks.json by itself; naming it in `hooks` too loads it twice.
    assert!(
        manifest.get("hooks").is_none(),
        "hooks/hooks.json is found without `hooks`"
    );
    assert!(repo().join("hooks/hooks.json").is_file());
    let mut manifests: Vec<String> = std::fs::read_dir(repo().join(".claude-plugin"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    manifests.sort_unstable();
    assert_eq!(
        manifests,
        ["marketplace.json", "plugin.json"],
        ".claude-plugin/ holds only the manifests"
    );
    let known = [
        "$schema",
        "name",
        "displayName",
        "version",
        "description",
        "author",
        "homepage",
        "repository",
        "license",
        "keywords",
        "metadata",
        "defaultEnabled",
        "skills",
        "commands",
        "agents",
        "workflows",
        "hooks",
        "mcpServers",
        "outputStyles",
        "lspServers",
        "experimental",
        "userConfig",
        "channels",
        "dependencies",
    ];
    for key in manifest.as_object().unwrap().keys() {
        assert!(known.contains(&key.as_str()), "unknown manifest key {key}");
    }
}

#[test]
fn tollgate_knows_every_event_claude_code_has() {
    let mut known: Vec<&str> = catalog::EVENTS.iter().map(|e| e.name).collect();
    known.sort_unstable();
    let mut expected = KNOWN_EVENTS.to_vec();
    expected.sort_unstable();
    assert_eq!(known, expected);
}

#[test]
fn plugin_hooks_register_the_same_events_as_install() {
    let hooks = plugin_json("hooks/hooks.json");
    let events = hooks["hooks"].as_object().expect("a \"hooks\" object");
    let names: Vec<&str> = events.keys().map(String::as_str).collect();
    let mut expected: Vec<&str> = catalog::registered().map(|e| e.name).collect();
    expected.sort_unstable();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected);
    for (event, groups) in events {
        assert!(KNOWN_EVENTS.contains(&event.as_str()), "{event}");
        let groups = groups.as_array().expect("an array of matcher groups");
        assert_eq!(groups.len(), 1, "{event}");
        let group = groups[0].as_object().unwrap();
        let tool_matcher = catalog::get(event).is_some_and(|e| e.tool_matcher);
        let matcher = tool_matcher.then_some("*");
        assert_eq!(
            group.get("matcher").and_then(Value::as_str),
            matcher,
            "{event}"
        );
        for key in group.keys() {
            assert!(
                ["matcher", "hooks"].contains(&key.as_str()),
                "{event}: {key}"
            );
        }
        let handlers = group["hooks"].as_array().unwrap();
        assert_eq!(handlers.len(), 1);
        let handler = handlers[0].as_object().unwrap();
        assert_eq!(handler["type"], "command");
        assert_eq!(
            handler["command"],
            "sh \"${CLAUDE_PLUGIN_ROOT}/hooks/tollgate-hook\""
        );
        assert_eq!(
            handler["timeout"].as_u64(),
            Some(tollgate::commands::install::TIMEOUT_SECS)
        );
    }
}

#[test]
fn marketplace_lists_the_plugin_at_the_repository_root() {
    let market = plugin_json(".claude-plugin/marketplace.json");
    let name = market["name"].as_str().expect("name");
    assert!(is_kebab(name));
    let reserved = [
        "claude-code-marketplace",
        "claude-code-plugins",
        "claude-plugins-official",
        "anthropic-marketplace",
        "anthropic-plugins",
    ];
    assert!(!reserved.contains(&name));
    assert!(
        market["owner"]["name"].is_string(),
        "owner.name is required"
    );
    let plugins = market["plugins"].as_array().expect("plugins");
    assert_eq!(plugins.len(), 1);
    let manifest = plugin_json(".claude-plugin/plugin.json");
    assert_eq!(plugins[0]["name"], manifest["name"]);
    let source = plugins[0]["source"].as_str().unwrap();
    assert_relative_path(source);
    assert!(
        repo()
            .join(source)
            .join(".claude-plugin/plugin.json")
            .is_file()
    );
    // `/plugin install tollgate@tollgate`.
    assert_eq!(
        (name, manifest["name"].as_str().unwrap()),
        ("tollgate", "tollgate")
    );
}

/// Runs the plugin's launcher as Claude Code would: `sh <launcher>`, the hook input on stdin,
/// with `PATH` and `CLAUDE_PLUGIN_ROOT` as given.
fn launch(env: &Env, path: &str, plugin_root: &Path, stdin: &str) -> Output {
    let launcher = repo().join("hooks/tollgate-hook");
    feed(
        Command::new("sh")
            .arg(&launcher)
            .env_clear()
            .env("PATH", path)
            .env("CLAUDE_PLUGIN_ROOT", plugin_root)
            .env("TOLLGATE_HOME", env.path("tollgate"))
            .env("HOME", env.path("home")),
        stdin,
    )
}

fn recorded(env: &Env) -> i64 {
    let db = env.path("tollgate/tollgate.db");
    if !db.exists() {
        return 0;
    }
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

#[cfg(unix)]
#[test]
fn plugin_launcher_finds_the_binary_or_says_how_to_get_it() {
    let env = Env::new();
    let system = "/usr/bin:/bin";
    let missing = Command::new("sh")
        .args(["-c", "command -v tollgate"])
        .env("PATH", system)
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "tollgate must not be on {system}"
    );
    let event = r#"{"hook_event_name":"Stop","session_id":"plugin-test","cwd":"/tmp"}"#;

    // 1. `tollgate` on PATH.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(exe(), bin.join("tollgate")).unwrap();
    let empty_root = env.path("plugin-without-binary");
    std::fs::create_dir_all(&empty_root).unwrap();
    let output = launch(
        &env,
        &format!("{}:{system}", bin.display()),
        &empty_root,
        event,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    assert_eq!(recorded(&env), 1, "recorded through the binary on PATH");

    // 2. Not on PATH: the plugin's own target/release/tollgate.
    let root = env.path("plugin-with-binary");
    std::fs::create_dir_all(root.join("target/release")).unwrap();
    std::os::unix::fs::symlink(exe(), root.join("target/release/tollgate")).unwrap();
    let output = launch(&env, system, &root, event);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    assert_eq!(recorded(&env), 2, "recorded through the plugin's build");

    // 3. Neither: one line on stderr saying how to get it, no output, exit 0 (fail open).
    let output = launch(&env, system, &empty_root, event);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("tollgate: "), "{err}");
    assert!(
        err.contains(&format!(
            "`cargo install --path hook --locked` in {}",
            empty_root.display()
        )),
        "{err}"
    );
    assert!(err.contains("cargo install --git"), "{err}");
    assert_eq!(recorded(&env), 2);
}

// ---------------------------------------------------------------------------------------------
// `tollgate doctor` on a prepared environment.

/// Transcripts, a store with one event, tollgate registered in the user settings, and a local
/// settings file that registers a stale binary twice for `Stop`.
fn doctor_env() -> Env {
    let env = Env::new();
    let projects = env.path("claude/projects/-home-dev-proj0");
    std::fs::create_dir_all(&projects).unwrap();
    let transcripts = repo().join("hook/tests/fixtures/transcripts/-home-dev-proj0");
    for entry in std::fs::read_dir(transcripts).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), projects.join(entry.file_name())).unwrap();
        }
    }
    env.ok(&["install"]);
    let stale = r#"{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"/opt/gone/tollgate hook"}]},{"hooks":[{"type":"command","command":"/opt/gone/tollgate hook"}]}]}}"#;
    std::fs::create_dir_all(env.path("project/.claude")).unwrap();
    std::fs::write(env.path("project/.claude/settings.local.json"), stale).unwrap();
    fake_claude(&env, "echo '2.1.328 (Claude Code)'");
    let output = feed(
        Command::cargo_bin("tollgate")
            .unwrap()
            .arg("hook")
            .env("TOLLGATE_HOME", env.path("tollgate"))
            .env_remove("CLAUDE_PROJECT_DIR"),
        r#"{"hook_event_name":"SessionStart","session_id":"doctor","cwd":"/tmp"}"#,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    env
}

/// A `claude` on the environment's PATH that runs `script`.
fn fake_claude(env: &Env, script: &str) {
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("claude");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// The `claude code` check of `tollgate doctor --json`.
fn claude_code_check(env: &Env) -> Value {
    let output = env.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["area"] == "claude code")
        .cloned()
        .unwrap_or_else(|| panic!("{report:#}"))
}

#[test]
fn doctor_compares_claude_codes_version_with_the_tested_one() {
    let env = doctor_env();
    let tested = tollgate::hook::catalog::CLAUDE_CODE_VERSION;
    let check = claude_code_check(&env);
    assert_eq!(check["status"], "ok", "{check}");
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("Claude Code {tested} (")),
        "{check}"
    );
    fake_claude(&env, "echo '2.1.400 (Claude Code)'");
    let check = claude_code_check(&env);
    assert_eq!(check["status"], "info", "{check}");
    let summary = check["summary"].as_str().unwrap();
    assert!(
        summary.contains("Claude Code 2.1.400") && summary.contains(&format!("tests ran {tested}")),
        "{check}"
    );
    fake_claude(&env, "exit 3");
    assert_eq!(claude_code_check(&env)["status"], "warn");
    // One that never answers is not waited for.
    fake_claude(&env, "sleep 30");
    let started = std::time::Instant::now();
    let check = claude_code_check(&env);
    assert!(
        check["summary"]
            .as_str()
            .unwrap()
            .contains("no answer within 5s"),
        "{check}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
}

#[test]
fn doctor_explains_each_problem_with_its_fix() {
    let env = doctor_env();
    let output = env.run(&["doctor"]);
    assert_eq!(output.status.code(), Some(1), "problems: exit 1");
    let text = String::from_utf8(output.stdout).unwrap();
    let root = env.dir.path().display().to_string();
    let exe = exe().display().to_string();
    let exe = regex_escape(&exe);
    let root = regex_escape(&root);
    insta::with_settings!({filters => vec![
        (exe.as_str(), "[TOLLGATE]"),
        (root.as_str(), "[ENV]"),
        (r"tollgate \d+\.\d+\.\d+", "tollgate [VERSION]"),
        (r"sha256 [0-9a-f]{12}…", "sha256 [SHA]…"),
        (r"\d+(\.\d+)? (B|KiB|MiB),", "[SIZE],"),
        (r"(?m)^(ok|warn) +prices +.*\n( +fix: .*\n)?", "[prices: depends on today's date]\n"),
        (r"(?m)^(ok|warn) +round trip +.*\n( +fix: .*\n)?", "[round trip: measured]\n"),
        (r", \d+ warnings?", ", [N] warnings"),
        (r"(?m)^info +settings +managed .*\n", ""),
    ]}, {
        insta::assert_snapshot!("doctor", text);
    });
}

#[test]
fn doctor_json_reports_every_check_and_a_measured_round_trip() {
    let env = doctor_env();
    std::fs::remove_file(env.path("project/.claude/settings.local.json")).unwrap();
    let output = env.run(&["doctor", "--json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["problems"], 0, "{report:#}");
    assert_eq!(output.status.code(), Some(0));
    let checks = report["checks"].as_array().unwrap();
    let areas: Vec<&str> = checks.iter().map(|c| c["area"].as_str().unwrap()).collect();
    for area in [
        "binary",
        "settings",
        "config",
        "store",
        "transcripts",
        "claude code",
        "policy",
        "prices",
        "round trip",
    ] {
        assert!(areas.contains(&area), "{area}: {report:#}");
    }
    let trip = checks.iter().find(|c| c["area"] == "round trip").unwrap();
    assert_ne!(trip["status"], "fail", "{trip}");
    assert!(
        trip["summary"].as_str().unwrap().contains(" ms warm"),
        "{trip}"
    );
    let store = checks.iter().find(|c| c["area"] == "store").unwrap();
    assert_eq!(store["status"], "ok", "{store}");
    // The round trip used its own store: the prepared one still has its single event.
    assert_eq!(recorded(&env), 1);
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn with_team_configured_install_adds_a_background_sync_and_uninstall_removes_it() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("tollgate")).unwrap();
    std::fs::write(
        env.path("tollgate/config.toml"),
        "[team]\ndatabase = \"postgres://db/tollgate\"\n",
    )
    .unwrap();
    let out = env.ok(&["install"]);
    assert!(
        out.contains("`tollgate sync --quiet` runs in the background"),
        "{out}"
    );
    let settings = env.user_settings();
    // Twice: the second install replaces, never duplicates.
    env.ok(&["install"]);
    let doc = parse(&std::fs::read_to_string(&settings).unwrap());
    assert_eq!(
        tollgate::commands::install::registrations(&doc).len(),
        catalog::registered().count()
    );
    let sync = format!("{} sync --quiet", exe().display());
    for event in ["Stop", "SessionEnd"] {
        let groups = doc["hooks"].get(event).unwrap().as_array().unwrap();
        assert_eq!(groups.len(), 1, "{event}");
        let handlers = groups[0].get("hooks").unwrap().as_array().unwrap();
        assert_eq!(handlers.len(), 2, "{event}: the hook, then the sync");
        assert_eq!(handlers[1].get("command").unwrap().as_str(), Some(&*sync));
        assert_eq!(handlers[1].get("async"), Some(&Json::Bool(true)));
    }
    let pre = doc["hooks"].get("PreToolUse").unwrap().as_array().unwrap();
    assert_eq!(pre[0].get("hooks").unwrap().as_array().unwrap().len(), 1);
    env.ok(&["uninstall"]);
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(!text.contains("sync"), "{text}");
}

/// `status` before the first session tells "not registered" apart from "no session yet".
#[test]
fn status_before_the_first_session_says_whether_the_hook_is_registered() {
    let env = Env::new();
    let before = env.ok(&["status"]);
    assert!(before.contains("not registered"), "{before}");
    env.ok(&["install"]);
    let after = env.ok(&["status"]);
    assert!(after.contains("tollgate is registered"), "{after}");
    assert!(!after.contains("not registered"), "{after}");
}
