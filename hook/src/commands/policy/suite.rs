//! `tollgate policy test FILE` without `--event`: the policy on every bundled input (the
//! conformance suite, `sdk/conformance`), as a table of decisions; with `--conformance`,
//! checked against the example policy's answers.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{Value, json};

use crate::commands::policy::{TestArgs, builtin, load, read_config};
use crate::config::Limits;
use crate::policy::conformance::{self, Case, Outcome};
use crate::policy::engine::Engine;

/// One row of the table.
fn row(case: &Case, outcome: &Outcome, conformance: bool) -> Value {
    let (decision, model, reason, error) = match &outcome.result {
        Ok(output) => (
            output.decision.map(|d| d.as_str()),
            output.model.clone(),
            output.reason.clone(),
            None,
        ),
        Err(e) => (None, None, None, Some(e.to_string())),
    };
    let mut row = json!({
        "case": case.name,
        "event": case.event_summary(),
        "decision": decision,
        "model": model,
        "reason": reason,
        "error": error,
        "elapsed_us": outcome.elapsed.as_micros() as u64,
    });
    if conformance {
        row["expected"] = json!(case.expect.decision.as_str());
        row["expected_model"] = json!(case.expect.model);
        row["ok"] = json!(outcome.matches(&case.expect));
    }
    row
}

/// Runs `args.module` on every bundled input and prints the table (or JSON).
pub fn run(engine: &Engine, args: &TestArgs) -> Result<ExitCode> {
    let policy = match load(engine, &args.module, None) {
        Ok(policy) => policy,
        Err(e) => {
            eprintln!("tollgate: {}: {e}", args.module);
            return Ok(ExitCode::FAILURE);
        }
    };
    // A built-in is called by its name (the built-ins share one module) and, unless `--config`
    // gives one, with its defaults (the example policy's config is not one it knows); a file
    // keeps the example policy's name and config.
    let name = builtin(&args.module).map(|_| args.module.as_str());
    let config = match (&args.config, name) {
        (Some(path), _) => Some(serde_json::to_value(read_config(path)?)?),
        (None, Some(_)) => Some(json!({})),
        (None, None) => None,
    };
    let limits = Limits {
        time_ms: args.time_ms,
        ..Limits::default()
    };
    let rows: Vec<Value> = conformance::cases()
        .iter()
        .map(|case| {
            let input = case.input_for(name, config.as_ref());
            let outcome = conformance::evaluate(engine, &policy, &input, &limits);
            row(case, &outcome, args.conformance)
        })
        .collect();
    let errors = rows.iter().filter(|r| !r["error"].is_null()).count();
    let failed = rows.iter().filter(|r| r["ok"] == false).count();
    // Written with `?` so that a closed pipe (`| head`) ends the command quietly.
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
    } else {
        writeln!(out, "{}", table(&rows, args.conformance))?;
        if args.conformance {
            writeln!(
                out,
                "conformance: {} passed, {failed} failed",
                rows.len() - failed
            )?;
        } else {
            writeln!(
                out,
                "{} inputs, {errors} errors (the example policy's inputs: `--conformance` checks its answers, `--config FILE` gives yours)",
                rows.len()
            )?;
        }
    }
    Ok(if errors > 0 || failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn table(rows: &[Value], conformance: bool) -> crate::term::table::Table {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut header = vec![
        "case",
        "event",
        "decision",
        "model",
        "reason or error",
        "µs",
    ];
    if conformance {
        header.extend(["expected", "ok"]);
    }
    let mut table = crate::term::table::new(header);
    for row in rows {
        let mut cells = vec![
            text(&row["case"]),
            text(&row["event"]),
            row["decision"]
                .as_str()
                .map_or_else(|| "error".to_owned(), str::to_owned),
            text(&row["model"]),
            row["error"]
                .as_str()
                .or(row["reason"].as_str())
                .unwrap_or_default()
                .to_owned(),
            row["elapsed_us"].to_string(),
        ];
        if conformance {
            let expected = match row["expected_model"].as_str() {
                Some(model) => format!("{} {model}", text(&row["expected"])),
                None => text(&row["expected"]),
            };
            cells.extend([
                expected,
                if row["ok"] == true { "ok" } else { "FAIL" }.to_owned(),
            ]);
        }
        table.add_row(cells);
    }
    table
}
