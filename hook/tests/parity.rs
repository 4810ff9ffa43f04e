//! tollgate gives ccusage's numbers: the same transcripts (the fixtures plus a generated,
//! varied corpus: `bench/gen-transcripts.py`) through `ccusage claude daily --json --offline
//! --breakdown` and `ccusage blocks --json --offline`, and through `tollgate import` then
//! `tollgate report daily|blocks --json`. Tokens must be equal per day, model and block, and
//! costs within 1 %, in several time zones.
//!
//! The one deliberate difference is accounted for: lines whose JSON is spaced (`"usage": {`),
//! which ccusage skips and tollgate reads; the generator lists them in `differences.json`.
//! `<synthetic>` responses (zero tokens) count as block entries in ccusage only.
//!
//! ccusage 20.0.24 is installed from npm by `scripts/test` into `target/tools/ccusage`
//! (or set TOLLGATE_CCUSAGE to a ccusage binary).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use chrono::TimeZone;
use serde_json::Value;
use tollgate::pricing::{Pricing, Tokens};

const CCUSAGE_VERSION: &str = "20.0.24";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ccusage() -> PathBuf {
    let path = std::env::var_os("TOLLGATE_CCUSAGE").map_or_else(
        || workspace().join("target/tools/ccusage/node_modules/.bin/ccusage"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "ccusage is not installed at {}: run scripts/test (it installs ccusage@{CCUSAGE_VERSION} from npm there), or set TOLLGATE_CCUSAGE",
        path.display()
    );
    let version = run(Command::new(&path).arg("--version"));
    assert!(
        version.contains(CCUSAGE_VERSION),
        "expected ccusage {CCUSAGE_VERSION}, found {version}"
    );
    path
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(command: &mut Command) -> Value {
    serde_json::from_str(&run(command)).expect("JSON on stdout")
}

/// The corpus: the fixture transcripts and a generated one, under `<dir>/projects`.
fn corpus(dir: &Path) -> Value {
    let status = Command::new("python3")
        .arg(workspace().join("bench/gen-transcripts.py"))
        .arg(dir)
        .args(["--size-mb", "12", "--seed", "7", "--days", "9"])
        .status()
        .expect("python3 runs (scripts/test checks it is installed)");
    assert!(status.success());
    common::copy_dir(
        &common::fixtures().join("transcripts"),
        &dir.join("projects"),
    );
    serde_json::from_str(&std::fs::read_to_string(dir.join("differences.json")).unwrap()).unwrap()
}

fn tollgate(home: &Path) -> Command {
    let mut command = Command::cargo_bin("tollgate").unwrap();
    command.env("TOLLGATE_HOME", home);
    command
}

/// Tokens and cost of one (day, model) or block.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sums {
    input: i64,
    output: i64,
    cache_write: i64,
    cache_read: i64,
    cost: f64,
    entries: i64,
}

fn sums(v: &Value, keys: [&str; 4], cost: &str) -> Sums {
    let n = |k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"));
    Sums {
        input: n(keys[0]),
        output: n(keys[1]),
        cache_write: n(keys[2]),
        cache_read: n(keys[3]),
        cost: v[cost].as_f64().unwrap_or(0.0),
        entries: 0,
    }
}

const DAILY_KEYS: [&str; 4] = [
    "inputTokens",
    "outputTokens",
    "cacheCreationTokens",
    "cacheReadTokens",
];

/// (date, model) → sums of a daily report with model breakdowns.
fn by_day_and_model(report: &Value) -> BTreeMap<(String, String), Sums> {
    let mut out = BTreeMap::new();
    for day in report["daily"].as_array().unwrap() {
        let date = day["date"].as_str().unwrap().to_owned();
        for model in day["modelBreakdowns"].as_array().unwrap() {
            let name = model["modelName"].as_str().unwrap().to_owned();
            out.insert((date.clone(), name), sums(model, DAILY_KEYS, "cost"));
        }
    }
    out
}

/// A spaced line's tokens, model (with `-fast`) and time: what only tollgate counted.
struct Extra {
    ts_ms: i64,
    model: String,
    tokens: Tokens,
}

fn extras(differences: &Value) -> Vec<Extra> {
    differences["spacedLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let u = &line["usage"];
            let n = |v: &Value| v.as_u64().unwrap_or(0);
            let (w5, w1) = match u.get("cache_creation") {
                Some(split) => (
                    n(&split["ephemeral_5m_input_tokens"]),
                    n(&split["ephemeral_1h_input_tokens"]),
                ),
                None => (n(&u["cache_creation_input_tokens"]), 0),
            };
            let fast = u["speed"] == "fast";
            let model = line["model"].as_str().unwrap();
            Extra {
                ts_ms: chrono::DateTime::parse_from_rfc3339(line["timestamp"].as_str().unwrap())
                    .unwrap()
                    .timestamp_millis(),
                model: if fast {
                    format!("{model}-fast")
                } else {
                    model.to_owned()
                },
                tokens: Tokens {
                    input: n(&u["input_tokens"]),
                    output: n(&u["output_tokens"]),
                    cache_write_5m: w5,
                    cache_write_1h: w1,
                    cache_read: n(&u["cache_read_input_tokens"]),
                },
            }
        })
        .collect()
}

fn subtract(sums: &mut Sums, extra: &Extra, pricing: &Pricing) {
    let t = &extra.tokens;
    sums.input -= t.input as i64;
    sums.output -= t.output as i64;
    sums.cache_write -= t.cache_write() as i64;
    sums.cache_read -= t.cache_read as i64;
    sums.cost -= pricing.cost(&extra.model, t).unwrap();
    sums.entries -= 1;
}

fn assert_close(what: &str, ccusage: &Sums, tollgate: &Sums) {
    let tokens = |s: &Sums| (s.input, s.output, s.cache_write, s.cache_read);
    assert_eq!(
        tokens(tollgate),
        tokens(ccusage),
        "{what}: tokens (input, output, cache write, cache read)"
    );
    let tolerance = 0.01 * ccusage.cost.abs().max(1e-9);
    assert!(
        (tollgate.cost - ccusage.cost).abs() <= tolerance,
        "{what}: cost {} (tollgate) vs {} (ccusage)",
        tollgate.cost,
        ccusage.cost
    );
}

#[test]
fn daily_and_blocks_match_ccusage() {
    let ccusage = ccusage();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("claude");
    let differences = corpus(&data);
    let extras = extras(&differences);
    assert!(
        !extras.is_empty(),
        "the corpus has spaced lines to account for"
    );
    let home = dir.path().join("home");
    let pricing = Pricing::bundled();

    let first = json(
        tollgate(&home)
            .args(["import", "--json", "--path"])
            .arg(&data),
    );
    assert!(first["responses"].as_u64().unwrap() > 500, "{first}");
    let again = json(
        tollgate(&home)
            .args(["import", "--json", "--path"])
            .arg(&data),
    );
    assert_eq!(
        again["responses"], 0,
        "a second import adds nothing: {again}"
    );
    assert_eq!(again["bytes"], 0);

    let cc = |args: &[&str]| {
        json(
            Command::new(&ccusage)
                .args(args)
                .args(["--json", "--offline"])
                .env("CLAUDE_CONFIG_DIR", &data)
                .env("NO_COLOR", "1"),
        )
    };

    for zone in ["UTC", "Asia/Kathmandu", "America/Los_Angeles"] {
        let expected = by_day_and_model(&cc(&["claude", "daily", "--breakdown", "-z", zone]));
        let mut actual = by_day_and_model(&json(tollgate(&home).args([
            "report",
            "daily",
            "--json",
            "--breakdown",
            "-z",
            zone,
        ])));
        let tz: chrono_tz::Tz = zone.parse().unwrap();
        for extra in &extras {
            let date = tz
                .timestamp_millis_opt(extra.ts_ms)
                .unwrap()
                .format("%Y-%m-%d")
                .to_string();
            let sums = actual
                .get_mut(&(date, extra.model.clone()))
                .expect("the spaced line's day and model are in tollgate's report");
            subtract(sums, extra, &pricing);
        }
        actual.retain(|_, s| (s.input, s.output, s.cache_write, s.cache_read) != (0, 0, 0, 0));
        assert_eq!(
            actual.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{zone}: the same days and models"
        );
        assert!(expected.len() >= 20, "{zone}: a varied corpus");
        let models: std::collections::BTreeSet<&str> =
            expected.keys().map(|(_, m)| m.as_str()).collect();
        for family in ["opus", "sonnet", "haiku"] {
            assert!(models.iter().any(|m| m.contains(family)), "{models:?}");
        }
        for (key, want) in &expected {
            assert_close(&format!("{zone} {key:?}"), want, &actual[key]);
        }
    }

    // Blocks: ccusage groups every response; tollgate must find the same blocks and sums.
    let expected = cc(&["blocks"]);
    let actual = json(tollgate(&home).args(["report", "blocks", "--json"]));
    let (expected, actual) = (
        expected["blocks"].as_array().unwrap(),
        actual["blocks"].as_array().unwrap(),
    );
    let ids = |blocks: &[Value]| -> Vec<String> {
        blocks
            .iter()
            .map(|b| b["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(actual), ids(expected), "the same blocks and gaps");
    assert!(expected.len() >= 10);
    let synthetic: Vec<i64> = differences["syntheticResponses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    const BLOCK_KEYS: [&str; 4] = [
        "inputTokens",
        "outputTokens",
        "cacheCreationInputTokens",
        "cacheReadInputTokens",
    ];
    for (want, got) in expected.iter().zip(actual) {
        let id = want["id"].as_str().unwrap();
        let start = chrono::DateTime::parse_from_rfc3339(want["startTime"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let end = chrono::DateTime::parse_from_rfc3339(want["endTime"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let within = |ts: i64| ts >= start && ts <= end && want["isGap"] == false;
        let mut tokens = sums(&got["tokenCounts"], BLOCK_KEYS, "none");
        tokens.cost = got["costUSD"].as_f64().unwrap_or(0.0);
        tokens.entries = got["entries"].as_i64().unwrap();
        for extra in extras.iter().filter(|e| within(e.ts_ms)) {
            subtract(&mut tokens, extra, &pricing);
        }
        let mut want_sums = sums(&want["tokenCounts"], BLOCK_KEYS, "none");
        want_sums.cost = want["costUSD"].as_f64().unwrap_or(0.0);
        let synthetic_here = synthetic.iter().filter(|&&t| within(t)).count() as i64;
        assert_close(id, &want_sums, &tokens);
        assert_eq!(
            tokens.entries + synthetic_here,
            want["entries"].as_i64().unwrap(),
            "{id}: entries"
        );
        assert_eq!(got["isGap"], want["isGap"], "{id}");
        assert_eq!(got["actualEndTime"], want["actualEndTime"], "{id}");
    }
}
