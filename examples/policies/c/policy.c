/*
 * The example policy (sdk/conformance/README.md), with the C SDK (sdk/c/tollgate.h):
 *
 *   - deny Bash commands containing `deny_pattern`;
 *   - send Opus subagents to Sonnet above 50 % of `opus_week_usd` (this week's Opus spend);
 *   - warn above 80 % of `block_usd` (the 5-hour block's spend).
 *
 * Build: ./build.sh (clang, lld and wasi-libc).
 */
#include <string.h>

#define TOLLGATE_IMPLEMENTATION
#include "tollgate.h"

/* Its config keys, so that `tollgate policy list` and `doctor` report a typo. */
TOLLGATE_DESCRIBE("{\"name\":\"example\",\"config_schema\":{\"type\":\"object\","
                  "\"additionalProperties\":false,\"properties\":{"
                  "\"deny_pattern\":{\"type\":\"string\"},"
                  "\"opus_week_usd\":{\"type\":\"number\"},"
                  "\"block_usd\":{\"type\":\"number\"}}}}")

/* A config number, or 0 (rule off) when it is missing, not a number or not above zero. */
static double budget(tg_value config, const char *key) {
    double usd = tg_number(tg_get(config, key), 0);
    return usd > 0 ? usd : 0;
}

/* The model a subagent call runs on: the one it names, else the main conversation's. */
static const char *subagent_model(tg_value input) {
    char *model = tg_string(tg_path(input, "event.tool_input.model"));
    if (model && *model && strcmp(model, "inherit") != 0) return model;
    return tg_string(tg_path(input, "context.model"));
}

tg_output tollgate_policy(tg_value input) {
    tg_value config = tg_path(input, "policy.config");
    tg_value event = tg_get(input, "event");
    int before_tool = tg_string_is(tg_get(event, "hook_event_name"), "PreToolUse");
    tg_value tool = tg_get(event, "tool_name");

    char *pattern = tg_string(tg_get(config, "deny_pattern"));
    char *command = tg_string(tg_path(event, "tool_input.command"));
    if (before_tool && tg_string_is(tool, "Bash") && pattern && *pattern && command &&
        strstr(command, pattern))
        return tg_deny(tg_format("command matches deny_pattern \"%s\"", pattern));

    double opus_week_usd = budget(config, "opus_week_usd");
    if (opus_week_usd > 0 && before_tool &&
        (tg_string_is(tool, "Agent") || tg_string_is(tool, "Task"))) {
        const char *model = subagent_model(input);
        double spent = tg_number(tg_path(input, "usage.by_family.opus.week.cost_usd"), 0);
        if (model && strstr(model, "opus") && spent > opus_week_usd * 0.5)
            return tg_downgrade("sonnet", "Opus spend this week is above 50 % of opus_week_usd");
    }

    double block_usd = budget(config, "block_usd");
    if (block_usd > 0 && tg_number(tg_path(input, "usage.block.cost_usd"), 0) > block_usd * 0.8)
        return tg_warn("5-hour block spend is above 80 % of block_usd");
    return tg_allow();
}
