//! End-to-end on the real Claude Code CLI: `claude -p … --output-format json` runs headless
//! against a scripted stand-in for the Messages API (`messages_api.rs`), with
//! tollgate registered for real (`tollgate install`, or the plugin from this repository), in a
//! private HOME, CLAUDE_CONFIG_DIR and TOLLGATE_HOME per test. Each test checks what the
//! client did (its answer, the files its tools made, the events it fired) and what reached the
//! API (models, tool results, whether a request was made at all).
//!
//! Claude Code is installed from npm by `scripts/test` into `target/tools/claude-code`, the
//! pinned release unless `CLAUDE_CODE_VERSION` names another: `CLAUDE_CODE_VERSION=X.Y.Z
//! scripts/test claude_code` tries a new release. TOLLGATE_CLAUDE_CODE runs another `claude`
//! binary. A failed test keeps its sandbox and prints where it is; with TOLLGATE_E2E_KEEP set,
//! every test does (`bench/real-client-latency.py` reads their debug logs).

#[path = "../common/mod.rs"]
mod common;
mod messages_api;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use messages_api::{MessagesApi, Reply, Request, Script, Usage};
use serde_json::{Value, json};
use tollgate::hook::catalog;

/// Longest a `claude -p` run may take before the test fails (a run takes about a second).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// What Claude Code sends the stand-in as its key.
const API_KEY: &str = "sk-ant-e2e-stand-in";

/// The main model of this Claude Code release, which every request without a downgrade uses.
const MAIN_MODEL_PREFIX: &str = "claude-opus";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `claude` binary and its version (`2.1.328`), checked once: it exists, and is
/// `CLAUDE_CODE_VERSION` when that is set.
fn installed_claude() -> &'static (PathBuf, String) {
    static CLAUDE: OnceLock<(PathBuf, String)> = OnceLock::new();
    CLAUDE.get_or_init(|| {
        let path = std::env::var_os("TOLLGATE_CLAUDE_CODE").map_or_else(
            || workspace().join("target/tools/claude-code/node_modules/.bin/claude"),
            PathBuf::from,
        );
        assert!(
            path.exists(),
            "Claude Code is not installed at {}: run scripts/test (it installs \
             @anthropic-ai/claude-code from npm there), or set TOLLGATE_CLAUDE_CODE",
            path.display()
        );
        let output = Command::new(&path).arg("--version").output().unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        let version = printed
            .strip_suffix(" (Claude Code)\n")
            .unwrap_or_else(|| panic!("`claude --version` printed {printed:?}"))
            .to_owned();
        if let Ok(wanted) = std::env::var("CLAUDE_CODE_VERSION") {
            assert_eq!(
                version,
                wanted,
                "{} is not the CLAUDE_CODE_VERSION asked for: run scripts/test",
                path.display()
            );
        }
        (path, version)
    })
}

fn claude() -> &'static Path {
    &installed_claude().0
}

fn claude_version() -> &'static str {
    &installed_claude().1
}

/// The tollgate binary under test.
fn tollgate_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tollgate"))
}

/// How tollgate is registered with Claude Code.
#[derive(Debug, Clone, Copy)]
enum Registration {
    /// `tollgate install` into the user settings.
    Install,
    /// `claude plugin marketplace add` on this repository's plugin + `claude plugin install
    /// tollgate@tollgate`; the launcher finds `tollgate` on PATH.
    Plugin,
}

/// One private machine for Claude Code and tollgate.
struct Sandbox {
    dir: tempfile::TempDir,
}

/// One finished `claude -p` run.
struct Run {
    status: ExitStatus,
    /// The `--output-format json` result.
    result: Value,
    stderr: String,
}

impl Run {
    fn session_id(&self) -> &str {
        self.result["session_id"].as_str().expect("a session id")
    }

    fn assert_success(&self) {
        assert!(
            self.status.success() && self.result["is_error"] == false,
            "claude failed ({}): {}\nstderr: {}",
            self.status,
            self.result,
            self.stderr
        );
    }
}

/// One hook call: its session, event, tool call and subagent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Fired {
    session_id: String,
    event: String,
    tool_use_id: Option<String>,
    agent_id: Option<String>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().unwrap(),
        };
        for sub in ["home", "claude", "tollgate", "project", "witness"] {
            std::fs::create_dir_all(sandbox.path(sub)).unwrap();
        }
        sandbox
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    fn project(&self) -> PathBuf {
        self.path("project")
    }

    /// PATH for Claude Code and its hooks: the test binary's directory (the plugin's launcher
    /// finds `tollgate` there), then the system's.
    fn path_var(&self) -> String {
        format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            tollgate_exe().parent().unwrap().display()
        )
    }

    /// A command with this sandbox's environment and nothing else of the caller's.
    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(self.project())
            .env_clear()
            .env("PATH", self.path_var())
            .env("HOME", self.path("home"))
            .env("CLAUDE_CONFIG_DIR", self.path("claude"))
            .env("TOLLGATE_HOME", self.path("tollgate"))
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("NO_COLOR", "1");
        command
    }

    /// tollgate's config file.
    fn config(&self, toml: &str) {
        std::fs::write(self.path("tollgate/config.toml"), toml).unwrap();
    }

    /// Writes a file into the project.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.project().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Registers a witness hook for every event tollgate registers (it keeps each hook input
    /// in its own file), then tollgate itself.
    fn register(&self, registration: Registration) {
        let hooks: serde_json::Map<String, Value> = catalog::registered()
            .map(|event| {
                let mut group = json!({ "hooks": [{
                    "type": "command",
                    "command": format!("cat > \"$(mktemp {}/event.XXXXXX)\"", self.path("witness").display()),
                }]});
                if event.tool_matcher {
                    group["matcher"] = "*".into();
                }
                (event.name.to_owned(), json!([group]))
            })
            .collect();
        std::fs::write(
            self.path("claude/settings.json"),
            serde_json::to_string_pretty(&json!({ "hooks": hooks })).unwrap(),
        )
        .unwrap();
        match registration {
            Registration::Install => {
                self.ok(&tollgate_exe(), &["install"]);
            }
            Registration::Plugin => self.install_plugin(),
        }
    }

    /// Installs the plugin as a user would from a local clone. Claude Code copies the whole
    /// marketplace directory into its plugin cache, so the marketplace is the plugin's own
    /// files (`.claude-plugin/`, `hooks/`) rather than the repository with its build tree.
    fn install_plugin(&self) {
        let marketplace = self.path("marketplace");
        for part in [".claude-plugin", "hooks"] {
            common::copy_dir(&workspace().join(part), &marketplace.join(part));
        }
        let marketplace = marketplace.display().to_string();
        self.ok(claude(), &["plugin", "marketplace", "add", &marketplace]);
        self.ok(claude(), &["plugin", "install", "tollgate@tollgate"]);
    }

    /// Runs `program ARGS` in this sandbox and expects success; its stdout.
    fn ok(&self, program: &Path, args: &[&str]) -> String {
        let output = self.command(program).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn tollgate(&self, args: &[&str]) -> String {
        self.ok(&tollgate_exe(), args)
    }

    /// `claude -p PROMPT --output-format json` against `api`, with `tools` available and
    /// allowed.
    fn prompt(&self, api: &MessagesApi, prompt: &str, tools: &[&str]) -> Run {
        self.prompt_with(api, prompt, tools, |_| {})
    }

    /// [`Sandbox::prompt`], with `more` adding to the command (arguments, environment).
    fn prompt_with(
        &self,
        api: &MessagesApi,
        prompt: &str,
        tools: &[&str],
        more: impl FnOnce(&mut Command),
    ) -> Run {
        let tools = tools.join(",");
        let out = self.path("claude.out");
        let err = self.path("claude.err");
        let mut command = self.command(claude());
        more(&mut command);
        let mut child = command
            .args(["-p", prompt, "--output-format", "json"])
            .args(["--tools", &tools, "--allowedTools", &tools])
            // Each hook call with its exit status and duration, API calls, errors.
            .arg("--debug-file")
            .arg(self.path("claude-debug.log"))
            .env("ANTHROPIC_BASE_URL", api.url())
            .env("ANTHROPIC_API_KEY", API_KEY)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > RUN_LIMIT {
                child.kill().unwrap();
                panic!(
                    "claude -p ran over {RUN_LIMIT:?} and was killed; stderr: {}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = std::fs::read_to_string(&out).unwrap();
        Run {
            status,
            result: serde_json::from_str(&stdout).unwrap_or_else(|e| {
                panic!("claude's output is not one JSON object ({e}): {stdout}")
            }),
            stderr: std::fs::read_to_string(&err).unwrap(),
        }
    }

    /// The hook calls of `session` the witness hook saw, sorted.
    fn witnessed(&self, session: &str) -> Vec<Fired> {
        let mut fired: Vec<Fired> = std::fs::read_dir(self.path("witness"))
            .unwrap()
            .map(|entry| {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                let input: Value = serde_json::from_str(&text).unwrap();
                Fired {
                    session_id: input["session_id"].as_str().unwrap().to_owned(),
                    event: input["hook_event_name"].as_str().unwrap().to_owned(),
                    tool_use_id: input["tool_use_id"].as_str().map(str::to_owned),
                    agent_id: input["agent_id"].as_str().map(str::to_owned),
                }
            })
            .filter(|fired: &Fired| fired.session_id == session)
            .collect();
        fired.sort();
        fired
    }

    /// The hook calls of `session` tollgate recorded, sorted.
    fn recorded(&self, session: &str) -> Vec<Fired> {
        let store = rusqlite::Connection::open(self.path("tollgate/tollgate.db")).unwrap();
        let mut query = store
            .prepare(
                "SELECT session_id, event, tool_use_id, agent_id FROM events WHERE session_id = ?1",
            )
            .unwrap();
        let mut fired: Vec<Fired> = query
            .query_map([session], |row| {
                Ok(Fired {
                    session_id: row.get(0)?,
                    event: row.get(1)?,
                    tool_use_id: row.get(2)?,
                    agent_id: row.get(3)?,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        fired.sort();
        fired
    }

    /// `tollgate log --json` of `session`: its recorded events, oldest first.
    fn log(&self, session: &str) -> Vec<Value> {
        let text = self.tollgate(&["log", "--json", "--limit", "100000", "--session", session]);
        serde_json::from_str(&text).unwrap()
    }

    /// The transcripts of `session`: its own and its subagents'.
    fn transcripts(&self, session: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for project in std::fs::read_dir(self.path("claude/projects")).unwrap() {
            let project = project.unwrap().path();
            let main = project.join(format!("{session}.jsonl"));
            if main.exists() {
                found.push(main);
            }
            if let Ok(subagents) = std::fs::read_dir(project.join(session).join("subagents")) {
                found.extend(
                    subagents
                        .map(|entry| entry.unwrap().path())
                        .filter(|path| path.extension().is_some_and(|e| e == "jsonl")),
                );
            }
        }
        assert!(!found.is_empty(), "no transcript for session {session}");
        found
    }
}

/// A failed test keeps its sandbox (transcripts, store, settings, Claude Code's output and
/// debug log), and every test does when TOLLGATE_E2E_KEEP is set.
impl Drop for Sandbox {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("TOLLGATE_E2E_KEEP").is_some() {
            self.dir.disable_cleanup(true);
            eprintln!("the sandbox is kept: {}", self.dir.path().display());
        }
    }
}

/// The answer to each `PreToolUse` in `log`, in order.
fn pre_tool_decisions(log: &[Value]) -> Vec<&Value> {
    log.iter()
        .filter(|e| e["event"] == "PreToolUse")
        .map(|e| &e["decision"])
        .collect()
}

/// The usage of every API response in `transcripts`, once per message (Claude Code writes a
/// line per content block, each with the response's usage).
fn transcript_usage(transcripts: &[PathBuf]) -> BTreeMap<String, Usage> {
    let mut responses = BTreeMap::new();
    for path in transcripts {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let entry: Value = serde_json::from_str(line).unwrap();
            let usage = &entry["message"]["usage"];
            if entry["type"] != "assistant" || usage.is_null() {
                continue;
            }
            let count = |key: &str| usage[key].as_u64().unwrap_or(0);
            let id = entry["message"]["id"].as_str().unwrap().to_owned();
            responses.insert(
                id,
                Usage {
                    input: count("input_tokens"),
                    output: count("output_tokens"),
                    cache_write: count("cache_creation_input_tokens"),
                    cache_read: count("cache_read_input_tokens"),
                },
            );
        }
    }
    responses
}

fn total(usages: impl IntoIterator<Item = Usage>) -> Usage {
    usages.into_iter().fold(Usage::default(), |a, b| a + b)
}

/// The tokens tollgate recorded for `session`, from `tollgate report session --json`.
fn tollgate_tokens(sandbox: &Sandbox, session: &str) -> Usage {
    let text = sandbox.tollgate(&["report", "session", "--json"]);
    let report: Value = serde_json::from_str(&text).unwrap();
    let row = report["sessions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|row| row["sessionId"] == session))
        .unwrap_or_else(|| panic!("session {session} is not in the report: {report}"));
    let count = |key: &str| {
        row[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {row}"))
    };
    Usage {
        input: count("inputTokens"),
        output: count("outputTokens"),
        cache_write: count("cacheCreationTokens"),
        cache_read: count("cacheReadTokens"),
    }
}

/// Tokens: tollgate's for `session` equal its transcripts' usage lines (one response each
/// request got), which equal what the API reported in `requests`.
fn assert_tokens_agree(sandbox: &Sandbox, session: &str, requests: &[Request]) {
    let responses = transcript_usage(&sandbox.transcripts(session));
    assert_eq!(responses.len(), requests.len(), "{responses:#?}");
    let transcript = total(responses.into_values());
    assert_eq!(transcript, total(requests.iter().filter_map(|r| r.usage)));
    assert_eq!(tollgate_tokens(sandbox, session), transcript);
}

/// The hook events of `fired`, counted by name.
fn counts(fired: &[Fired]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for f in fired {
        *counts.entry(f.event.as_str()).or_default() += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// A turn with tool calls: every event, every token.

/// A Bash call that writes a file, then a Read of it, then the answer.
fn turn_with_tool_calls(registration: Registration) {
    let sandbox = Sandbox::new();
    sandbox.register(registration);
    let notes = sandbox.project().join("notes.txt");
    let api = MessagesApi::start(Script::new([
        Reply::tool(
            "Bash",
            json!({ "command": "echo written by bash > notes.txt", "description": "Write notes" }),
        ),
        Reply::tool("Read", json!({ "file_path": notes })),
        Reply::text("The notes say: written by bash."),
    ]));
    let run = sandbox.prompt(&api, "Write notes, then read them back.", &["Bash", "Read"]);
    run.assert_success();
    assert_eq!(run.result["result"], "The notes say: written by bash.");

    // The API side: three requests from this Claude Code on the main model, each tool's
    // result sent back.
    let requests = api.messages();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(api.unplayed(), 0);
    for request in &requests {
        assert!(!request.unscripted);
        assert_eq!(request.header("x-api-key"), Some(API_KEY));
        let agent = request.header("user-agent").unwrap();
        let this_release = format!("claude-cli/{} ", claude_version());
        assert!(agent.starts_with(&this_release), "{agent}");
        assert!(
            request.model().unwrap().starts_with(MAIN_MODEL_PREFIX),
            "{:?}",
            request.model()
        );
    }
    let bash = requests[1].tool_results();
    assert_eq!(bash.len(), 1);
    assert!(!bash[0].is_error, "{bash:?}");
    let read = requests[2].tool_results();
    assert!(read[0].text.contains("written by bash"), "{read:?}");
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "written by bash\n"
    );

    // The client side: every hook call it made reached tollgate, and was answered.
    let session = run.session_id();
    let witnessed = sandbox.witnessed(session);
    let counts = counts(&witnessed);
    for (event, expected) in [
        ("SessionStart", 1),
        ("UserPromptSubmit", 1),
        ("PreToolUse", 2),
        ("PostToolUse", 2),
        ("Stop", 1),
        ("SessionEnd", 1),
    ] {
        assert_eq!(
            counts.get(event),
            Some(&expected),
            "{event}: {witnessed:#?}"
        );
    }
    assert_eq!(sandbox.recorded(session), witnessed);
    let log = sandbox.log(session);
    assert_eq!(log.len(), witnessed.len());
    for event in &log {
        assert_eq!(event["decision"], "allow", "{event}");
        assert!(event["note"].is_null(), "no internal error: {event}");
    }

    // Tokens: tollgate's equal the transcript's, which equal what the API reported.
    assert_tokens_agree(&sandbox, session, &requests);

    // Cost: tollgate's for the session (the default model's prices) is Claude Code's own, as
    // its result reports it and as `report session` shows it beside tollgate's.
    let claude_code = run.result["total_cost_usd"].as_f64().unwrap();
    assert!(claude_code > 0.0, "{}", run.result);
    let report: Value =
        serde_json::from_str(&sandbox.tollgate(&["report", "session", "--json"])).unwrap();
    let row = report["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["sessionId"] == session)
        .unwrap_or_else(|| panic!("the session is reported: {report:#}"));
    let tollgate_cost = row["totalCost"].as_f64().unwrap();
    assert!(
        (tollgate_cost - claude_code).abs() < 1e-9,
        "tollgate ${tollgate_cost} against Claude Code's ${claude_code}: {row:#}"
    );
    assert_eq!(row["claudeCodeCost"].as_f64(), Some(claude_code), "{row:#}");
}

#[test]
fn turn_with_tool_calls_installed() {
    turn_with_tool_calls(Registration::Install);
}

#[test]
fn turn_with_tool_calls_as_plugin() {
    turn_with_tool_calls(Registration::Plugin);
}

// ---------------------------------------------------------------------------------------------
// Several tool calls in one response: Claude Code runs them, and their hooks, in parallel.

#[test]
fn parallel_tool_calls_lose_no_event() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Plugin);
    let files: Vec<PathBuf> = (1..=6)
        .map(|n| sandbox.file(&format!("part{n}.txt"), &format!("part {n}\n")))
        .collect();
    let mut calls: Vec<(&str, Value)> = files
        .iter()
        .map(|file| ("Read", json!({ "file_path": file })))
        .collect();
    calls.push(("Glob", json!({ "pattern": "part*.txt" })));
    calls.push((
        "Grep",
        json!({ "pattern": "part", "output_mode": "files_with_matches" }),
    ));
    let api = MessagesApi::start(Script::new([
        Reply::tools(calls),
        Reply::text("Read them all."),
    ]));
    let run = sandbox.prompt(&api, "Read every part.", &["Read", "Glob", "Grep"]);
    run.assert_success();

    let requests = api.messages();
    assert_eq!(requests.len(), 2);
    let results = requests[1].tool_results();
    assert_eq!(results.len(), 8, "{results:#?}");
    for result in &results {
        assert!(!result.is_error, "{result:?}");
    }
    for (n, file) in files.iter().enumerate() {
        let id = format!("toolu_e2e000001_{n}");
        let result = results.iter().find(|r| r.tool_use_id == id).unwrap();
        assert!(
            result.text.contains(&format!("part {}", n + 1)),
            "{file:?}: {result:?}"
        );
    }

    let session = run.session_id();
    let witnessed = sandbox.witnessed(session);
    let counts = counts(&witnessed);
    assert_eq!(counts.get("PreToolUse"), Some(&8), "{witnessed:#?}");
    assert_eq!(counts.get("PostToolUse"), Some(&8), "{witnessed:#?}");
    assert_eq!(sandbox.recorded(session), witnessed);
    let tool_use_ids: BTreeSet<_> = witnessed
        .iter()
        .filter_map(|fired| fired.tool_use_id.as_deref())
        .collect();
    assert_eq!(tool_use_ids.len(), 8, "a Pre and a Post for each call");
}

// ---------------------------------------------------------------------------------------------
// Policies acting on the real client.

/// The marker of the subagent's conversation, in its prompt.
const SURVEY: &str = "SURVEY-SUBAGENT";

#[test]
fn subagent_downgrade_reaches_the_api() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    sandbox.config(
        r#"
[[policy]]
name = "model-router"
enforce = true
[policy.config]
rules = [{ keywords = ["survey"], model = "sonnet" }]
"#,
    );
    let readme = sandbox.file("README.md", "A project of one file.\n");
    let api = MessagesApi::start(
        Script::new([
            Reply::tool(
                "Agent",
                json!({
                    "description": "Survey the project",
                    "prompt": format!("{SURVEY}: list what the project holds."),
                    "subagent_type": "general-purpose",
                    "model": "opus",
                }),
            ),
            Reply::text("The survey is running."),
            Reply::text("The survey found one file."),
        ])
        .conversation(
            SURVEY,
            [
                Reply::tool("Read", json!({ "file_path": readme })),
                Reply::text("One file: README.md."),
            ],
        ),
    );
    let run = sandbox.prompt(&api, "Survey the project.", &["Agent", "Read"]);
    run.assert_success();

    // The API side: the subagent asked on Sonnet, the main conversation stayed on Opus.
    let requests = api.messages();
    let (subagent, main): (Vec<&Request>, Vec<&Request>) = requests
        .iter()
        .partition(|r| r.conversation.as_deref() == Some(SURVEY));
    assert_eq!(subagent.len(), 2, "{requests:#?}");
    for request in &subagent {
        assert!(
            request.model().unwrap().starts_with("claude-sonnet"),
            "the subagent runs on the cheaper model: {:?}",
            request.model()
        );
    }
    assert!(
        subagent[1].tool_results()[0]
            .text
            .contains("A project of one file.")
    );
    for request in &main {
        assert!(request.model().unwrap().starts_with(MAIN_MODEL_PREFIX));
    }

    // The client side: the downgrade is logged as applied, on the model the API saw.
    let session = run.session_id();
    let log = sandbox.log(session);
    let agent = log
        .iter()
        .find(|e| e["event"] == "PreToolUse" && e["tool"] == "Agent")
        .expect("the Agent call is logged");
    assert_eq!(agent["decision"], "downgrade", "{agent}");
    assert_eq!(agent["model_requested"], "sonnet");
    let downgrade = &agent["downgrade"];
    assert_eq!(downgrade["original"], "opus", "{agent}");
    assert_eq!(downgrade["applied"], "yes", "{agent}");
    assert_eq!(
        downgrade["resolved"].as_str(),
        subagent[0].model(),
        "{agent}"
    );

    // Every hook call, the subagent's included, recorded; tokens of both transcripts.
    let witnessed = sandbox.witnessed(session);
    assert!(
        witnessed
            .iter()
            .any(|f| f.event == "PreToolUse" && f.agent_id.is_some()),
        "the subagent's Read fired a hook: {witnessed:#?}"
    );
    assert_eq!(sandbox.recorded(session), witnessed);
    assert_eq!(
        sandbox.transcripts(session).len(),
        2,
        "its own and the subagent's"
    );
    assert_tokens_agree(&sandbox, session, &requests);
}

#[test]
fn huge_read_denied_with_the_cheaper_way_and_broad_search_warned() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    sandbox.config(
        r#"
[[policy]]
name = "context-guard"
enforce = true
"#,
    );
    // ~50k tokens: over the 25k a whole Read may add, under Claude Code's own size limit.
    let line = "2026-12-01T10:00:00Z INFO request served in 12 ms\n";
    let big = sandbox.file("server.log", &line.repeat(200_000 / line.len()));
    sandbox.file("main.rs", "// TODO: handle errors\nfn main() {}\n");
    let api = MessagesApi::start(Script::new([
        Reply::tool("Read", json!({ "file_path": big })),
        Reply::tool(
            "Grep",
            json!({ "pattern": "TODO", "output_mode": "content" }),
        ),
        Reply::text("Found one TODO."),
    ]));
    let run = sandbox.prompt(&api, "Look at the log, then find TODOs.", &["Read", "Grep"]);
    run.assert_success();

    let requests = api.messages();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    // The denied Read: Claude is told why, and the cheaper way, as the tool's result.
    let read = &requests[1].tool_results()[0];
    assert!(read.is_error, "{read:?}");
    assert!(
        read.text.contains("reading server.log whole would add"),
        "{read:?}"
    );
    assert!(
        read.text
            .contains("read only the lines you need with offset and limit"),
        "{read:?}"
    );
    assert!(
        !read.text.contains("request served"),
        "the file was not read: {read:?}"
    );
    // The broad search ran, and Claude was told how to narrow the next one.
    let grep = &requests[2].tool_results()[0];
    assert!(!grep.is_error, "{grep:?}");
    assert!(grep.text.contains("TODO: handle errors"), "{grep:?}");
    let warning = "in content mode over the whole project with no head_limit can flood the context";
    assert!(
        requests[2].body.to_string().contains(warning),
        "the warning reaches Claude"
    );

    let session = run.session_id();
    let log = sandbox.log(session);
    let decision = |tool: &str| {
        log.iter()
            .find(|e| e["event"] == "PreToolUse" && e["tool"] == tool)
            .unwrap_or_else(|| panic!("{tool} is logged: {log:#?}"))
    };
    assert_eq!(decision("Read")["decision"], "deny");
    assert_eq!(decision("Grep")["decision"], "warn");
    assert!(
        decision("Grep")["reason"]
            .as_str()
            .unwrap()
            .contains(warning),
        "{:#}",
        decision("Grep")
    );
    let reads_run = log
        .iter()
        .filter(|e| e["event"] == "PostToolUse" && e["tool"] == "Read")
        .count();
    assert_eq!(reads_run, 0, "the denied Read never ran");
}

#[test]
fn prompt_past_the_budget_is_blocked_before_any_request() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    // Dollars, as the default budget counts: the default model is priced.
    sandbox.config(
        r#"
[[policy]]
name = "budget"
enforce = true
[policy.config]
block_usd = 0.20
at_limit = "deny"
"#,
    );
    let heavy = Usage {
        input: 40_000,
        output: 2_000,
        cache_write: 10_000,
        cache_read: 0,
    };
    let api = MessagesApi::start(Script::new([
        Reply::text("A long answer.").with_usage(heavy),
        Reply::text("Never sent: the prompt is blocked."),
    ]));
    let first = sandbox.prompt(&api, "Explain everything.", &["Read"]);
    first.assert_success();
    assert_eq!(api.messages().len(), 1);

    let second = sandbox.prompt(&api, "And once more.", &["Read"]);
    assert_eq!(api.messages().len(), 1, "no request reached the API");
    assert_eq!(api.unplayed(), 1);
    let log = sandbox.log(second.session_id());
    let prompt = log
        .iter()
        .find(|e| e["event"] == "UserPromptSubmit")
        .expect("the prompt is logged");
    assert_eq!(prompt["decision"], "deny", "{prompt}");
    let reason = prompt["reason"].as_str().unwrap();
    // 40k input, 2k output and 10k cache writes on Claude Opus 5.5: $0.25 (docs/configuration.md).
    assert!(
        reason.starts_with("5-hour block cost $0.25 of $0.20 budget"),
        "{reason}"
    );
    let answer = second.result["result"].as_str().unwrap();
    assert!(answer.contains(reason), "the user is told why: {answer}");
}

/// A session run with the budget enforced (a warning, then a tool call and a prompt denied),
/// replayed: the budget answers each event as the hook did, with the figures as they were.
#[test]
fn a_replay_of_the_budget_gives_the_hook_decisions() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    sandbox.config(
        r#"
[[policy]]
name = "budget"
enforce = true
[policy.config]
block_usd = 0.20
warn_at = 0.5
at_limit = "deny"
"#,
    );
    let half = Usage {
        input: 20_000,
        output: 1_000,
        cache_write: 5_000,
        cache_read: 0,
    };
    let notes = sandbox.project().join("notes.txt");
    let api = MessagesApi::start(Script::new([
        Reply::tool(
            "Bash",
            json!({ "command": "echo some notes > notes.txt", "description": "Write notes" }),
        )
        .with_usage(half),
        Reply::tool("Read", json!({ "file_path": notes })).with_usage(half),
        Reply::text("The read was denied."),
        Reply::text("Never sent: the prompt is blocked."),
    ]));
    let first = sandbox.prompt(&api, "Write notes, then read them.", &["Bash", "Read"]);
    first.assert_success();
    let second = sandbox.prompt(&api, "And once more.", &["Bash", "Read"]);
    let session = first.session_id().to_owned();
    let mut recorded: Vec<Value> = sandbox.log(&session);
    recorded.extend(sandbox.log(second.session_id()));
    let decisions: Vec<&str> = recorded
        .iter()
        .filter(|e| {
            matches!(
                e["event"].as_str(),
                Some("PreToolUse" | "PostToolUse" | "UserPromptSubmit")
            )
        })
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    for decision in ["allow", "warn", "deny"] {
        assert!(decisions.contains(&decision), "{decision}: {recorded:#?}");
    }

    let text = sandbox.tollgate(&["policy", "replay", "budget", "--json", "--since", "1h"]);
    let replayed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(replayed["events"], decisions.len(), "{replayed:#}");
    assert_eq!(replayed["rebuilt_inputs"], 0);
    assert_eq!(
        replayed["decided_differently"], 0,
        "{replayed:#} {recorded:#?}"
    );
    for decision in ["allow", "warn", "deny"] {
        let hook = decisions.iter().filter(|d| **d == decision).count();
        assert_eq!(
            replayed["decisions"][decision].as_u64().unwrap_or(0) as usize,
            hook,
            "{decision}: {replayed:#}"
        );
    }
}

/// The example C policy (`examples/policies/c`), built from source into the sandbox.
fn c_policy(sandbox: &Sandbox) -> PathBuf {
    let module = sandbox.path("policy.wasm");
    let output = Command::new("bash")
        .arg(workspace().join("examples/policies/c/build.sh"))
        .arg(&module)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "examples/policies/c/build.sh failed ({}); scripts/test installs its toolchain: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    module
}

#[test]
fn policy_in_c_denies_a_bash_command_which_then_does_not_run() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Plugin);
    let module = c_policy(&sandbox);
    sandbox.config(&format!(
        r#"
[[policy]]
name = "house-rules"
path = "{}"
enforce = true
[policy.config]
deny_pattern = "rm -rf"
"#,
        module.display()
    ));
    let api = MessagesApi::start(Script::new([
        Reply::tool(
            "Bash",
            json!({ "command": "touch allowed.txt", "description": "Make a file" }),
        ),
        Reply::tool(
            "Bash",
            json!({ "command": "touch denied.txt && rm -rf build", "description": "Clean" }),
        ),
        Reply::text("Cleaning was refused."),
    ]));
    let run = sandbox.prompt(&api, "Make a file, then clean.", &["Bash"]);
    run.assert_success();

    assert!(
        sandbox.project().join("allowed.txt").exists(),
        "allowed: it ran"
    );
    assert!(
        !sandbox.project().join("denied.txt").exists(),
        "denied: the command did not run"
    );
    let requests = api.messages();
    assert_eq!(requests.len(), 3);
    assert!(!requests[1].tool_results()[0].is_error);
    let denied = &requests[2].tool_results()[0];
    assert!(denied.is_error, "{denied:?}");
    assert!(
        denied
            .text
            .contains("command matches deny_pattern \"rm -rf\""),
        "{denied:?}"
    );

    let log = sandbox.log(run.session_id());
    let decisions = pre_tool_decisions(&log);
    assert_eq!(decisions, ["allow", "deny"], "{log:#?}");
}

/// A session that writes a file, edits it and commits it: `report outcomes` shows its lines
/// (Claude Code's own count) and its commit; the hook's count from the edits differs only where
/// Claude Code counts a created file's newline-separated parts (one more than its lines when it
/// ends in a newline).
#[test]
fn a_session_that_commits_shows_its_lines_and_commit() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    let git = |args: &[&str]| sandbox.ok(Path::new("/usr/local/bin/git"), args);
    git(&["init", "-q", "-b", "main"]);
    let hello = sandbox.project().join("hello.txt");
    let api = MessagesApi::start(Script::new([
        Reply::tool(
            "Write",
            json!({ "file_path": hello, "content": "one\ntwo\nthree\n" }),
        ),
        Reply::tool(
            "Edit",
            json!({ "file_path": hello, "old_string": "two\n", "new_string": "2\ntwo and a half\n" }),
        ),
        Reply::tool(
            "Bash",
            json!({ "command": "git add hello.txt && git -c user.name=e2e -c user.email=e2e@example.com commit -m 'Add hello'",
                    "description": "Commit" }),
        ),
        Reply::text("Committed."),
    ]));
    let run = sandbox.prompt(
        &api,
        "Write hello.txt, edit it, commit it.",
        &["Write", "Edit", "Bash"],
    );
    run.assert_success();
    assert_eq!(
        std::fs::read_to_string(&hello).unwrap(),
        "one\n2\ntwo and a half\nthree\n"
    );
    let made = git(&["log", "--format=%h %s"]);
    assert!(made.ends_with(" Add hello\n"), "{made}");
    let session = run.session_id();

    let report: Value =
        serde_json::from_str(&sandbox.tollgate(&["report", "outcomes", "--json"])).unwrap();
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["key"] == session)
        .unwrap_or_else(|| panic!("the session is reported: {report:#}"));
    assert_eq!(row["linesAdded"], 6, "{row:#}");
    assert_eq!(row["linesRemoved"], 1, "{row:#}");
    assert_eq!(row["filesTouched"], 1, "{row:#}");
    assert_eq!(row["commits"], 1, "{row:#}");
    assert_eq!(row["pullRequests"], 0, "{row:#}");
    let cost = row["costUsd"].as_f64().unwrap();
    assert!(cost > 0.0 && (row["costPerCommit"].as_f64().unwrap() - cost).abs() < 1e-12);

    // Both sources of the lines: the edits the hook saw, and Claude Code's own count.
    let store = rusqlite::Connection::open(sandbox.path("tollgate/tollgate.db")).unwrap();
    let figures = |sql: &str| -> (i64, i64) {
        store
            .query_row(sql, [session], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
    };
    let edits = figures(
        "SELECT sum(lines_added), sum(lines_removed) FROM work
         WHERE session_id = ?1 AND kind = 'edit'",
    );
    let claude_code =
        figures("SELECT lines_added, lines_removed FROM claude_code_lines WHERE session_id = ?1");
    assert_eq!(edits, (3 + 2, 1), "3 lines written, then 1 replaced by 2");
    assert_eq!(
        claude_code,
        (4 + 2, 1),
        "\"one\\ntwo\\nthree\\n\" counted as 4"
    );
    let hash: String = store
        .query_row(
            "SELECT detail FROM work WHERE session_id = ?1 AND kind = 'commit'",
            [session],
            |r| r.get(0),
        )
        .unwrap();
    assert!(made.starts_with(&hash), "{hash} in {made}");

    let table = sandbox.tollgate(&["report", "outcomes"]);
    assert!(table.contains("+6 −1"), "{table}");
}

/// libfaketime (Debian's `faketime` package): Claude Code and its hooks run with their clock
/// moved on.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A session resumed after an idle gap past the prompt cache's lifetime (Claude Code's clock
/// moved 10 minutes on by libfaketime, the API writing the whole context to the cache again):
/// `context-guard` warns on the prompt that resumes it, and `report cache` shows the lapse.
#[test]
fn a_session_resumed_after_the_cache_lifetime_shows_a_lapse() {
    assert!(
        Path::new(FAKETIME_LIB).exists(),
        "libfaketime is not installed: run scripts/test (it installs the faketime package)"
    );
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    sandbox.config(
        r#"
[[policy]]
name = "context-guard"
[policy.config]
cache_lapse_tokens = 1000
"#,
    );
    let written = Usage {
        input: 10,
        output: 40,
        cache_write: 30_000,
        cache_read: 0,
    };
    let api = MessagesApi::start(Script::new([
        Reply::text("Started.").with_usage(written),
        Reply::text("Resumed.").with_usage(written),
    ]));
    let first = sandbox.prompt(&api, "Start.", &["Read"]);
    first.assert_success();
    let session = first.session_id().to_owned();
    let resumed = sandbox.prompt_with(&api, "Go on.", &["Read"], |command| {
        command
            .args(["--resume", &session])
            .env("LD_PRELOAD", FAKETIME_LIB)
            .env("FAKETIME", "+10m");
    });
    resumed.assert_success();
    assert_eq!(resumed.session_id(), session, "the same session goes on");
    assert_eq!(api.messages().len(), 2);

    let prompts: Vec<Value> = sandbox
        .log(&session)
        .into_iter()
        .filter(|e| e["event"] == "UserPromptSubmit")
        .collect();
    assert_eq!(prompts.len(), 2, "{prompts:#?}");
    assert_eq!(prompts[0]["decision"], "allow", "{:#}", prompts[0]);
    assert_eq!(prompts[1]["decision"], "warn", "{:#}", prompts[1]);
    let reason = prompts[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("the prompt cache has lapsed (10m idle"),
        "{reason}"
    );

    let report: Value =
        serde_json::from_str(&sandbox.tollgate(&["report", "cache", "--json"])).unwrap();
    let lapses = report["lapses"].as_array().unwrap();
    assert_eq!(lapses.len(), 1, "{report:#}");
    let lapse = &lapses[0];
    assert_eq!(lapse["sessionId"], session.as_str());
    assert_eq!(lapse["rewrittenTokens"], 30_000);
    assert_eq!(lapse["lifetimeMs"], 300_000);
    let idle = lapse["idleMs"].as_i64().unwrap();
    assert!((600_000..660_000).contains(&idle), "{lapse:#}");
    assert!(lapse["extraUsd"].as_f64().unwrap() > 0.0, "{lapse:#}");
}

#[test]
fn agent_cannot_switch_tollgate_off() {
    let sandbox = Sandbox::new();
    sandbox.register(Registration::Install);
    sandbox.config(
        "[[policy]]\nname = \"budget\"\nenforce = true\n[policy.config]\nblock_usd = 100.0\n",
    );
    let config = sandbox.path("tollgate/config.toml");
    let trust_record = sandbox.path("tollgate/trusted.toml");
    let settings = sandbox.path("claude/settings.json");
    let settings_before = std::fs::read(&settings).unwrap();
    let api = MessagesApi::start(Script::new([
        Reply::tool(
            "Bash",
            json!({ "command": "tollgate uninstall", "description": "Remove the hook" }),
        ),
        // A new file: Claude Code itself refuses to overwrite one not read first.
        Reply::tool(
            "Write",
            json!({ "file_path": trust_record.display().to_string(), "content": "" }),
        ),
        Reply::tool(
            "Bash",
            json!({ "command": "rm -rf \"$TOLLGATE_HOME\"", "description": "Clean up" }),
        ),
        Reply::text("All three were refused."),
    ]));
    let run = sandbox.prompt(&api, "Switch tollgate off.", &["Bash", "Write"]);
    run.assert_success();

    let requests = api.messages();
    assert_eq!(requests.len(), 4);
    for request in &requests[1..] {
        let result = &request.tool_results()[0];
        assert!(result.is_error, "{result:?}");
        assert!(result.text.contains("tollgate's guard"), "{result:?}");
        assert!(result.text.contains("tollgate pause"), "{result:?}");
    }
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        settings_before,
        "still registered"
    );
    assert!(std::fs::read_to_string(&config).unwrap().contains("budget"));
    assert!(!trust_record.exists());
    let log = sandbox.log(run.session_id());
    let decisions = pre_tool_decisions(&log);
    assert_eq!(decisions, ["deny", "deny", "deny"], "{log:#?}");
}

// ---------------------------------------------------------------------------------------------
// The plugin as Claude Code reads it.

#[test]
fn plugin_validates_clean() {
    let sandbox = Sandbox::new();
    for target in [workspace(), workspace().join(".claude-plugin/plugin.json")] {
        let target = target.canonicalize().unwrap();
        let output = sandbox
            .command(claude())
            .args(["plugin", "validate", "--strict", "--json"])
            .arg(&target)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
        assert!(output.status.success(), "{report:#}");
        assert_eq!(report["success"], true, "{report:#}");
        assert_eq!(report["manifest"]["errors"], json!([]), "{report:#}");
        assert_eq!(report["manifest"]["warnings"], json!([]), "{report:#}");
        let mut events: Vec<&str> = report["provides"]["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|hook| {
                assert_eq!(
                    hook["command"],
                    "sh \"${CLAUDE_PLUGIN_ROOT}/hooks/tollgate-hook\""
                );
                hook["event"].as_str().unwrap()
            })
            .collect();
        events.sort_unstable();
        let mut expected: Vec<&str> = catalog::registered().map(|e| e.name).collect();
        expected.sort_unstable();
        assert_eq!(events, expected, "hooks/hooks.json is loaded: {target:?}");
    }
}
