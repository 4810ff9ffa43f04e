//! The example policy (sdk/conformance/README.md) as a WASI command (sdk/ABI.md, style B): no
//! SDK, no exports to write. The input document arrives on stdin, the output document goes to
//! stdout, anything on stderr goes to the policy log. Any language that compiles to WASI
//! preview 1 can do the same.
//!
//! * deny `Bash` commands containing `deny_pattern`;
//! * send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);
//! * warn above 80 % of `block_usd` (the 5-hour block's spend).
//!
//! Build: `cargo build --target wasm32-wasip1 --release` (or ./build.sh).

use std::io::Read;

use serde_json::{Value, json};

fn main() {
    let mut bytes = Vec::new();
    let output = match std::io::stdin().read_to_end(&mut bytes) {
        Ok(_) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(input) => evaluate(&input),
            Err(e) => json!({ "error": format!("cannot read the input document: {e}") }),
        },
        Err(e) => json!({ "error": format!("cannot read stdin: {e}") }),
    };
    println!("{output}");
}

/// The model a subagent call runs on: the one it names, else the main conversation's.
fn subagent_model(input: &Value) -> Option<&str> {
    input["event"]["tool_input"]["model"]
        .as_str()
        .filter(|model| !model.is_empty() && *model != "inherit")
        .or(input["context"]["model"].as_str())
}

fn evaluate(input: &Value) -> Value {
    let config = &input["policy"]["config"];
    // A config number, or `None` when it is missing, not a number or not above zero (rule off).
    let budget = |key: &str| config[key].as_f64().filter(|usd| *usd > 0.0);
    let event = &input["event"];
    let before_tool = event["hook_event_name"] == "PreToolUse";
    let tool = event["tool_name"].as_str();

    if let (true, Some("Bash"), Some(pattern), Some(command)) = (
        before_tool,
        tool,
        config["deny_pattern"].as_str().filter(|p| !p.is_empty()),
        event["tool_input"]["command"].as_str(),
    ) && command.contains(pattern)
    {
        let reason = format!("command matches deny_pattern \"{pattern}\"");
        return json!({ "decision": "deny", "reason": reason });
    }

    if let Some(opus_week_usd) = budget("opus_week_usd")
        && before_tool
        && matches!(tool, Some("Agent" | "Task"))
        && subagent_model(input).is_some_and(|model| model.contains("opus"))
        && input["usage"]["by_family"]["opus"]["week"]["cost_usd"]
            .as_f64()
            .unwrap_or(0.0)
            > opus_week_usd * 0.5
    {
        let reason = "Opus spend this week is above 50 % of opus_week_usd";
        return json!({ "decision": "downgrade", "model": "sonnet", "reason": reason });
    }

    if let Some(block_usd) = budget("block_usd")
        && input["usage"]["block"]["cost_usd"].as_f64().unwrap_or(0.0) > block_usd * 0.8
    {
        let reason = "5-hour block spend is above 80 % of block_usd";
        return json!({ "decision": "warn", "reason": reason });
    }
    json!({ "decision": "allow" })
}
