//! What a tool call produced, read from its `PostToolUse` (a call that failed comes as
//! `PostToolUseFailure` and produced nothing):
//!
//! | tool | outcome | how |
//! |---|---|---|
//! | Edit, MultiEdit, Write, NotebookEdit | the file, lines added and removed | the answer's `structuredPatch` (`+`/`-` lines); a created file's `content`; else a line diff of the input's old and new strings. An edit held for review (`staged`) changed nothing yet |
//! | Bash, PowerShell running `git commit` | a commit | git's summary line in the output, `[branch abc1234] subject` (`--amend` makes none) |
//! | … running `gh pr create` / `glab mr create` | a pull (merge) request | the URL it printed |

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::hook::event::HookInput;
use crate::store::outcomes::{Lines, Work};

/// What the call in `input` produced; `max_subject` caps a file name or URL (0: none is kept).
pub fn of(input: &HookInput, max_subject: usize) -> Vec<Work> {
    if input.event != "PostToolUse" {
        return Vec::new();
    }
    let (Some(tool), Some(tool_input)) = (input.tool_name(), input.tool_input()) else {
        return Vec::new();
    };
    let response = input.tool_response().unwrap_or(&Value::Null);
    match tool {
        "Edit" | "MultiEdit" | "Write" | "NotebookEdit" => {
            if response.get("staged") == Some(&Value::Bool(true)) {
                return Vec::new();
            }
            let file = (max_subject > 0)
                .then(|| input.subject(max_subject))
                .flatten();
            vec![Work::Edit {
                file,
                lines: edit_lines(tool, tool_input, response),
            }]
        }
        "Bash" | "PowerShell" => {
            let command = tool_input
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or("");
            let stdout = response.get("stdout").and_then(Value::as_str).unwrap_or("");
            let keep = |text: &str| {
                if max_subject == 0 {
                    String::new()
                } else {
                    crate::hook::event::truncate(&crate::hook::redact::redact(text), max_subject)
                }
            };
            let mut work: Vec<Work> = commits(command, stdout)
                .into_iter()
                .map(|hash| Work::Commit(hash.to_owned()))
                .collect();
            work.extend(
                pull_requests(command, stdout)
                    .into_iter()
                    .map(|url| Work::PullRequest(keep(url))),
            );
            work
        }
        _ => Vec::new(),
    }
}

/// The lines an edit added and removed, when its answer or input tells.
fn edit_lines(tool: &str, tool_input: &Value, response: &Value) -> Option<Lines> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(hunks) = response.get("structuredPatch").and_then(Value::as_array)
        && !hunks.is_empty()
    {
        return patch_lines(hunks);
    }
    if tool == "Write" {
        return match response.get("type").and_then(Value::as_str) {
            Some("create") => Some(Lines {
                added: line_count(&text(tool_input, "content")?),
                removed: 0,
            }),
            // An update with an empty patch: nothing changed, unless the old content was too
            // large to diff (then it is not given).
            Some("update") if response.get("originalFile").is_some_and(Value::is_string) => {
                Some(Lines::default())
            }
            _ => None,
        };
    }
    let pairs: Vec<(String, String)> = match tool {
        "Edit" => vec![(
            text(tool_input, "old_string")?,
            text(tool_input, "new_string")?,
        )],
        "MultiEdit" => tool_input
            .get("edits")?
            .as_array()?
            .iter()
            .map(|e| Some((text(e, "old_string")?, text(e, "new_string")?)))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let mut lines = Lines::default();
    for (old, new) in &pairs {
        for change in TextDiff::from_lines(old.as_str(), new.as_str()).iter_all_changes() {
            match change.tag() {
                ChangeTag::Insert => lines.added += 1,
                ChangeTag::Delete => lines.removed += 1,
                ChangeTag::Equal => {}
            }
        }
    }
    Some(lines)
}

/// The `+` and `-` lines of a `structuredPatch` (hunks with a `lines` array each).
fn patch_lines(hunks: &[Value]) -> Option<Lines> {
    let mut lines = Lines::default();
    for hunk in hunks {
        for line in hunk.get("lines")?.as_array()? {
            match line.as_str()?.as_bytes().first() {
                Some(b'+') => lines.added += 1,
                Some(b'-') => lines.removed += 1,
                _ => {}
            }
        }
    }
    Some(lines)
}

/// Lines of `text` (a last line without a newline counts).
fn line_count(text: &str) -> u64 {
    text.lines().count() as u64
}

/// The hashes of the commits `command` made, from git's summary lines in its output.
fn commits<'a>(command: &str, stdout: &'a str) -> Vec<&'a str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    if !(words.contains(&"git") && words.contains(&"commit")) || words.contains(&"--amend") {
        return Vec::new();
    }
    let mut hashes: Vec<&str> = stdout.lines().filter_map(summary_hash).collect();
    hashes.dedup();
    hashes
}

/// `[main (root-commit) 1a2b3c4] subject` → `1a2b3c4`.
fn summary_hash(line: &str) -> Option<&str> {
    let inside = line.strip_prefix('[')?.split_once("] ")?.0;
    let hash = inside.rsplit(' ').next()?;
    let branch_given = inside.len() > hash.len();
    (branch_given && (7..=64).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then_some(hash)
}

/// The pull (merge) request URLs `command` printed, when it opened one.
fn pull_requests<'a>(command: &str, stdout: &'a str) -> Vec<&'a str> {
    let opens = |tool: &str, noun: &str| {
        command.contains(&format!("{tool} {noun} create"))
            || command.contains(&format!("{tool} {noun} new"))
    };
    let marker = if opens("gh", "pr") {
        "/pull/"
    } else if opens("glab", "mr") {
        "/merge_requests/"
    } else {
        return Vec::new();
    };
    let mut urls: Vec<&str> = stdout
        .split_whitespace()
        .filter(|word| {
            word.starts_with("https://")
                && word
                    .split_once(marker)
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    urls.dedup();
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn work(tool: &str, tool_input: Value, response: Value) -> Vec<Work> {
        let input = json!({"hook_event_name": "PostToolUse", "tool_name": tool,
                           "tool_input": tool_input, "tool_response": response});
        of(
            &HookInput::parse(input.to_string().as_bytes()).unwrap(),
            240,
        )
    }

    fn lines(added: u64, removed: u64) -> Option<Lines> {
        Some(Lines { added, removed })
    }

    #[test]
    fn an_edit_counts_its_patch_lines() {
        let patch = json!([{"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 3,
                            "lines": [" a", "-b", "+c", "+d"]}]);
        let got = work(
            "Edit",
            json!({"file_path": "/p/a.rs", "old_string": "b", "new_string": "c\nd"}),
            json!({"filePath": "/p/a.rs", "structuredPatch": patch}),
        );
        assert_eq!(
            got,
            [Work::Edit {
                file: Some("/p/a.rs".into()),
                lines: lines(2, 1)
            }]
        );
    }

    #[test]
    fn without_a_patch_an_edit_diffs_its_strings() {
        let got = work(
            "MultiEdit",
            json!({"file_path": "/p/a.rs", "edits": [
                {"old_string": "x\ny\nz\n", "new_string": "x\nY\nz\nw\n"},
                {"old_string": "q", "new_string": ""}]}),
            json!({}),
        );
        assert_eq!(
            got,
            [Work::Edit {
                file: Some("/p/a.rs".into()),
                lines: lines(2, 2)
            }]
        );
    }

    #[test]
    fn a_created_file_adds_its_lines_and_a_staged_edit_nothing() {
        let created = work(
            "Write",
            json!({"file_path": "/p/n.txt", "content": "1\n2\n3"}),
            json!({"type": "create", "structuredPatch": []}),
        );
        assert!(matches!(created[0], Work::Edit { lines, .. } if lines == self::lines(3, 0)));
        let unknown = work(
            "Write",
            json!({"file_path": "/p/n.txt", "content": "1"}),
            json!({"type": "update", "structuredPatch": [], "originalFile": null}),
        );
        assert!(matches!(unknown[0], Work::Edit { lines: None, .. }));
        let staged = work(
            "Edit",
            json!({"file_path": "/p/a.rs", "old_string": "a", "new_string": "b"}),
            json!({"staged": true}),
        );
        assert!(staged.is_empty());
    }

    #[test]
    fn a_commit_is_seen_in_gits_summary_line() {
        let bash = |command: &str, stdout: &str| {
            work(
                "Bash",
                json!({"command": command}),
                json!({"stdout": stdout, "stderr": ""}),
            )
        };
        let out = "[main (root-commit) 1a2b3c4] Add hello\n 1 file changed, 1 insertion(+)\n";
        assert_eq!(
            bash("git add -A && git commit -m 'Add hello'", out),
            [Work::Commit("1a2b3c4".into())]
        );
        assert_eq!(
            bash("git -C repo commit -qm x", "[feat/x 0123456789ab] x"),
            [Work::Commit("0123456789ab".into())]
        );
        assert!(bash("git commit --amend --no-edit", out).is_empty());
        assert!(
            bash("cat notes.txt", out).is_empty(),
            "not a commit command"
        );
        assert!(
            bash("git commit -m x", "nothing to commit, working tree clean").is_empty(),
            "git made none"
        );
        assert!(
            bash("git commit -m x", "[1a2b3c4] x").is_empty(),
            "no branch"
        );
    }

    #[test]
    fn a_pull_request_is_the_url_it_printed() {
        let bash = |command: &str, stdout: &str| {
            work(
                "Bash",
                json!({"command": command}),
                json!({"stdout": stdout}),
            )
        };
        assert_eq!(
            bash(
                "gh pr create --fill",
                "Creating pull request\nhttps://github.com/o/r/pull/42\n"
            ),
            [Work::PullRequest("https://github.com/o/r/pull/42".into())]
        );
        assert_eq!(
            bash(
                "glab mr create --fill --yes",
                "!7 title\n https://gitlab.com/o/r/-/merge_requests/7\n"
            ),
            [Work::PullRequest(
                "https://gitlab.com/o/r/-/merge_requests/7".into()
            )]
        );
        assert!(bash("gh pr view 42", "https://github.com/o/r/pull/42").is_empty());
        assert!(bash("gh pr create --fill", "https://github.com/o/r/pulls").is_empty());
    }

    #[test]
    fn a_failed_call_produced_nothing() {
        let input = json!({"hook_event_name": "PostToolUseFailure", "tool_name": "Bash",
                           "tool_input": {"command": "git commit -m x"},
                           "tool_response": {"stdout": "[main 1a2b3c4] x"}});
        let input = HookInput::parse(input.to_string().as_bytes()).unwrap();
        assert!(of(&input, 240).is_empty());
    }
}
