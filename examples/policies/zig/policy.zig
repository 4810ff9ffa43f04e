//! The example policy (sdk/conformance/README.md), with the Zig SDK (sdk/zig/tollgate.zig):
//!
//! * deny Bash commands containing `deny_pattern`;
//! * send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);
//! * warn above 80 % of `block_usd` (the 5-hour block's spend).
//!
//! Build: ./build.sh (zig from PyPI: pip install ziglang).

const std = @import("std");
const tollgate = @import("tollgate");
const Output = tollgate.Output;

/// A config number, or 0 (rule off) when it is missing, not a number or not above zero.
fn budget(config: ?std.json.Value, key: []const u8) f64 {
    return @max(tollgate.number(tollgate.get(config, key), 0), 0);
}

/// The model a subagent call runs on: the one it names, else the main conversation's.
fn subagentModel(input: std.json.Value) ?[]const u8 {
    if (tollgate.string(tollgate.path(input, "event.tool_input.model"))) |model| {
        if (model.len > 0 and !std.mem.eql(u8, model, "inherit")) return model;
    }
    return tollgate.string(tollgate.path(input, "context.model"));
}

fn evaluate(gpa: std.mem.Allocator, input: std.json.Value) !Output {
    const config = tollgate.path(input, "policy.config");
    const event = tollgate.get(input, "event");
    const before_tool = tollgate.stringIs(tollgate.get(event, "hook_event_name"), "PreToolUse");
    const tool = tollgate.get(event, "tool_name");

    if (tollgate.string(tollgate.get(config, "deny_pattern"))) |pattern| {
        if (tollgate.string(tollgate.path(event, "tool_input.command"))) |command| {
            if (before_tool and tollgate.stringIs(tool, "Bash") and pattern.len > 0 and
                std.mem.indexOf(u8, command, pattern) != null)
                return Output.deny(try std.fmt.allocPrint(gpa, "command matches deny_pattern \"{s}\"", .{pattern}));
        }
    }

    const opus_week_usd = budget(config, "opus_week_usd");
    if (opus_week_usd > 0 and before_tool and (tollgate.stringIs(tool, "Agent") or tollgate.stringIs(tool, "Task"))) {
        const spent = tollgate.number(tollgate.path(input, "usage.by_family.opus.week.cost_usd"), 0);
        if (subagentModel(input)) |model| {
            if (std.mem.indexOf(u8, model, "opus") != null and spent > opus_week_usd * 0.5)
                return Output.downgrade("sonnet", "Opus spend this week is above 50 % of opus_week_usd");
        }
    }

    const block_usd = budget(config, "block_usd");
    if (block_usd > 0 and tollgate.number(tollgate.path(input, "usage.block.cost_usd"), 0) > block_usd * 0.8)
        return Output.warn("5-hour block spend is above 80 % of block_usd");
    return Output.allow();
}

comptime {
    tollgate.exportPolicy(evaluate);
    // Its config keys, so that `tollgate policy list` and `doctor` report a typo.
    tollgate.exportDescription(
        \\{"name":"example","config_schema":{"type":"object","additionalProperties":false,
        \\"properties":{"deny_pattern":{"type":"string"},"opus_week_usd":{"type":"number"},
        \\"block_usd":{"type":"number"}}}}
    );
}
