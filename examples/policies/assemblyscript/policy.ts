// The example policy (sdk/conformance/README.md), with the AssemblyScript SDK
// (sdk/assemblyscript):
//
// - deny Bash commands containing `deny_pattern`;
// - send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);
// - warn above 80 % of `block_usd` (the 5-hour block's spend).
//
// Build: ./build.sh (node and npm; installs assemblyscript and assemblyscript-json).

import { JSON } from "assemblyscript-json/assembly";
import { Output, describe, get, number, path, policy, str, strIs } from "../../../sdk/assemblyscript/assembly/index";
export { tollgate_alloc, tollgate_abi_version, tollgate_describe, tollgate_evaluate } from "../../../sdk/assemblyscript/assembly/index";

/** A config number, or 0 (rule off) when it is missing, not a number or not above zero. */
function budget(config: JSON.Value | null, key: string): f64 {
  return Math.max(number(get(config, key), 0), 0);
}

/** The model a subagent call runs on: the one it names, else the main conversation's. */
function subagentModel(input: JSON.Obj): string | null {
  const model = str(path(input, "event.tool_input.model"));
  if (model != null && model.length > 0 && model != "inherit") return model;
  return str(path(input, "context.model"));
}

// Its config keys, so that `tollgate policy list` and `doctor` report a typo.
describe(
  '{"name":"example","config_schema":{"type":"object","additionalProperties":false,' +
    '"properties":{"deny_pattern":{"type":"string"},"opus_week_usd":{"type":"number"},' +
    '"block_usd":{"type":"number"}}}}',
);

policy((input: JSON.Obj): Output => {
  const config = path(input, "policy.config");
  const event = get(input, "event");
  const beforeTool = strIs(get(event, "hook_event_name"), "PreToolUse");
  const tool = get(event, "tool_name");

  const pattern = str(get(config, "deny_pattern"));
  const command = str(path(event, "tool_input.command"));
  if (beforeTool && strIs(tool, "Bash") && pattern != null && pattern.length > 0 &&
      command != null && command.includes(pattern)) {
    return Output.deny("command matches deny_pattern \"" + pattern + "\"");
  }

  const opusWeekUsd = budget(config, "opus_week_usd");
  if (opusWeekUsd > 0 && beforeTool && (strIs(tool, "Agent") || strIs(tool, "Task"))) {
    const model = subagentModel(input);
    const spent = number(path(input, "usage.by_family.opus.week.cost_usd"), 0);
    if (model != null && model.includes("opus") && spent > opusWeekUsd * 0.5) {
      return Output.downgrade("sonnet", "Opus spend this week is above 50 % of opus_week_usd");
    }
  }

  const blockUsd = budget(config, "block_usd");
  if (blockUsd > 0 && number(path(input, "usage.block.cost_usd"), 0) > blockUsd * 0.8) {
    return Output.warn("5-hour block spend is above 80 % of block_usd");
  }
  return Output.allow();
});
