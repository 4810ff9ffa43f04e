//! What the end-to-end tests share: a private tollgate home with a copy of the fixture
//! transcripts, and helpers to run the real binary.
#![allow(dead_code)] // each test file uses its own subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use rusqlite::Connection;
use serde_json::Value;

pub const SESSION: &str = "9974d75b-3338-24fe-6179-0134676b1b69";

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A private TOLLGATE_HOME, a project directory and a copy of the fixture transcripts.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        copy_dir(
            &fixtures().join("transcripts"),
            &env.dir.path().join("projects"),
        );
        std::fs::create_dir_all(env.project()).unwrap();
        env
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    pub fn transcript(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("projects/-home-dev-proj0/{SESSION}.jsonl"))
    }

    pub fn config(&self, text: &str) {
        std::fs::create_dir_all(self.home()).unwrap();
        std::fs::write(self.home().join("config.toml"), text).unwrap();
    }

    /// A fixture hook input pointed at this environment's transcript and project.
    pub fn input(&self, fixture: &str) -> Value {
        let text =
            std::fs::read_to_string(fixtures().join(format!("hook-input/{fixture}.json"))).unwrap();
        let mut input: Value = serde_json::from_str(&text).unwrap();
        input["transcript_path"] = Value::String(self.transcript().display().to_string());
        input["cwd"] = Value::String(self.project().display().to_string());
        input["session_id"] = Value::String(SESSION.into());
        input
    }

    pub fn command(&self) -> Command {
        let mut command = Command::cargo_bin("tollgate").unwrap();
        command
            .env("TOLLGATE_HOME", self.home())
            .env_remove("CLAUDE_PROJECT_DIR")
            .env_remove("TOLLGATE_LOG");
        command
    }

    pub fn hook_raw(&self, stdin: &[u8]) -> Output {
        self.pipe(&["hook"], stdin)
    }

    /// Runs `tollgate ARGS` with `stdin`, failing the test if it hangs.
    pub fn pipe(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut command = self.command();
        command.args(args);
        run_piped(command, stdin)
    }

    pub fn hook(&self, input: &Value) -> Output {
        self.hook_raw(input.to_string().as_bytes())
    }

    pub fn db(&self) -> Connection {
        Connection::open(self.home().join("tollgate.db")).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Starts `command` with `stdin` written and closed, its outputs piped; does not wait.
pub fn spawn_piped(command: &mut Command, stdin: &[u8]) -> std::process::Child {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child
}

/// Runs `command` with `stdin`, failing the test if it hangs.
pub fn run_piped(mut command: Command, stdin: &[u8]) -> Output {
    wait(spawn_piped(&mut command, stdin), Duration::from_secs(30))
}

/// Waits for a child, killing it (and failing the test) if it hangs.
pub fn wait(mut child: std::process::Child, limit: Duration) -> Output {
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("tollgate hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.wait_with_output().unwrap()
}

pub fn stdout_json(output: &Output) -> Option<Value> {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    (!text.trim().is_empty())
        .then(|| serde_json::from_str(&text).expect("stdout is one JSON object"))
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

impl TestEnv {
    /// The `PostToolUse` inputs of an edit of `src/lib.rs` that adds 2 lines and removes 1, and
    /// of a `git commit` that succeeded.
    pub fn edit_and_commit(&self) -> [Value; 2] {
        let mut edit = self.input("post-tool-use-read");
        edit["tool_name"] = "Edit".into();
        edit["tool_use_id"] = "toolu_edit".into();
        edit["tool_input"] = serde_json::json!({"file_path": "/home/dev/proj0/src/lib.rs",
                                    "old_string": "a", "new_string": "b\nc"});
        edit["tool_response"] = serde_json::json!({"filePath": "/home/dev/proj0/src/lib.rs",
            "structuredPatch": [{"oldStart": 1, "oldLines": 1, "newStart": 1, "newLines": 2,
                                 "lines": ["-a", "+b", "+c"]}]});
        let mut commit = self.input("post-tool-use-read");
        commit["tool_name"] = "Bash".into();
        commit["tool_use_id"] = "toolu_commit".into();
        commit["tool_input"] = serde_json::json!({"command": "git commit -am 'Parse b'"});
        commit["tool_response"] = serde_json::json!({
            "stdout": "[main 5e6f7a8] Parse b\n 1 file changed\n",
            "stderr": "", "interrupted": false});
        [edit, commit]
    }
}
