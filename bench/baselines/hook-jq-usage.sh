#!/usr/bin/env bash
# Baseline: the same recording as `tollgate hook`, by hand with bash + jq: the event as one JSON
# line (as hook-jq.sh writes it), then the token usage of each assistant response the session
# transcript gained since the last call, read from a saved byte offset.
# (What tollgate's recording is compared with in bench/hook-latency.py.)
#
# Written to be cheap rather than thorough: one jq reads the event and the new transcript lines
# as one stream, and the transcript's path comes from a bash regex instead of a second jq. Unlike
# tollgate it does not de-duplicate responses written twice, wait for a partial last line,
# notice a rotated transcript, price anything or keep rollups.
set -u
log=${HOOK_LOG:?set HOOK_LOG}
IFS= read -r -d '' input || true
transcript=
[[ $input =~ \"transcript_path\":\ ?\"([^\"]*)\" ]] && transcript=${BASH_REMATCH[1]}
mark="$log.offset.${transcript//\//_}"
offset=0 size=0
[[ -f $mark ]] && read -r offset < "$mark"
[[ -f $transcript ]] && size=$(stat -c %s "$transcript")
{
    printf '%s\n' "$input"
    ((size > offset)) && tail -c +$((offset + 1)) "$transcript"
} | jq -c 'if has("hook_event_name") then
               {ts: now, session: .session_id, event: .hook_event_name, tool: .tool_name,
                tool_use_id: .tool_use_id, input_bytes: (.tool_input | tostring | length)}
           elif .type == "assistant" and .message.usage then
               {ts: .timestamp, session: .sessionId, request: .requestId, id: .message.id,
                model: .message.model, usage: .message.usage}
           else empty end' >> "$log"
((size > offset)) && printf '%s\n' "$size" > "$mark"
exit 0
