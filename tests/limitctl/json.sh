#!/bin/sh
# json.sh - the --json output of every limitctl command parses and
# contains the expected values

. "$TOP_SRCDIR/tests/limitctl/common.sh"
require_python

NAME=$PREFIX-json

expect_run 0 "--version --json" --version --json
expect_valid_json "--version --json"
expect_json 'd["library_runtime"]' '"0.2.0"' "--version --json"

expect_run 0 "create --json" --json create "$NAME" --max-requests 3 \
	--window 366d --max-credits 2 --initial-credits 1 --capacity 100 \
	--max-capacity 1000 --mode 0640 --full-action allow
expect_valid_json "create --json"
expect_json 'd["capacity"]' 100 "create --json"
expect_json 'd["mode"]' '"0640"' "create --json"
expect_json 'd["full_action"]' '"allow"' "create --json"
expect_json 'd["default_policy"]["window_ns"]' 31622400000000000 \
	"create --json"
expect_json 'd["default_policy"]["initial_credits"]' 1 "create --json"

expect_run 0 "acquire --json" acquire "$NAME" alice --cost 2 --json
expect_valid_json "acquire --json"
expect_json 'd["key"]' '"alice"' "acquire --json"
expect_json 'd["key_hex"]' '"616c696365"' "acquire --json"
expect_json 'd["cost"]' 2 "acquire --json"
expect_json 'd["result"]["verdict"]' '"allowed"' "acquire --json"
expect_json 'd["result"]["new"]' true "acquire --json"
expect_json 'd["result"]["remaining"]' 2 "acquire --json"
expect_json 'd["result"]["retry_after_ns"]' 0 "acquire --json"
expect_run 0 "acquire --json, never" acquire "$NAME" alice --cost 6 --json
expect_json 'd["result"]["verdict"]' '"denied_never"' "acquire --json, never"
expect_json 'd["result"]["retry_after_ns"]' null "acquire --json, never"
expect_run 0 "acquire of a binary key" acquire "$NAME" 00ff5c41220a --hex
expect_run 0 "acquire of a long key" acquire "$NAME" \
	0123456789abcdefLONG-KEY-STORED-AS-DIGEST

expect_run 0 "list --json" list "$NAME" --json
expect_valid_json "list --json"
expect_json 'd["limiter"]' "\"$NAME\"" "list --json"
expect_json 'd["total_entries"]' 3 "list --json"
expect_json 'd["shown"]' 3 "list --json"
expect_json '[e["key"] for e in d["entries"]]' \
	'["\\x00\\xff\\\\A\"\\x0a", "0123456789abcdef...", "alice"]' \
	"list --json keys, escaped and sorted by bytes"
expect_json 'd["entries"][0]["key_hex"]' '"00ff5c41220a"' "list --json"
expect_json 'd["entries"][1]["key_hashed"]' true "list --json"
expect_json 'len(d["entries"][1]["digest"])' 32 "list --json"
expect_json 'd["entries"][1]["key_length"]' 41 "list --json"
expect_json 'd["entries"][2]["remaining"]' 2 "list --json"
expect_json 'd["entries"][2]["used"]' 2 "list --json"
expect_json 'd["entries"][2]["policy"]' '"default"' "list --json"
expect_json 'd["entries"][2]["assigned_policy"]' null "list --json"
expect_json 'd["entries"][2]["last_seen_age_ns"] >= 0' true "list --json"
expect_json 'd["entries"][2]["stored"]["used"]' 2 "list --json"
expect_run 0 "list --json --top 1 --sort remaining" list "$NAME" --json \
	--top 1 --sort remaining
expect_json 'd["shown"]' 1 "list --json --top 1"
expect_json 'd["entries"][0]["key"]' '"alice"' "list --json --top 1"
expect_run 0 "list --json --limited" list "$NAME" --json --limited
expect_json 'd["entries"]' '[]' "list --json --limited"

expect_run 0 "show --json" show "$NAME" alice --json
expect_valid_json "show --json"
expect_json 'd["entry"]["key"]' '"alice"' "show --json"
expect_json 'd["entry"]["credits"]' 1 "show --json"
expect_json 'd["entry"]["limit"]' 3 "show --json"
expect_run 3 "show --json of a missing key" show "$NAME" nobody --json
expect_equal "$out" "" "show --json of a missing key prints no document"

expect_run 0 "policy set --json" policy set "$NAME" gold --max-requests 10 \
	--window 90s --json
expect_valid_json "policy set --json"
expect_json 'd["created"]' true "policy set --json"
expect_json 'd["policy"]["id"]' 1 "policy set --json"
expect_json 'd["policy"]["window_ns"]' 90000000000 "policy set --json"
expect_json 'd["policy"]["max_credits"]' 0 "policy set --json"
expect_run 0 "policy list --json" policy list "$NAME" --json
expect_valid_json "policy list --json"
expect_json '[p["name"] for p in d["policies"]]' '["default", "gold"]' \
	"policy list --json"

expect_run 0 "set --json" set "$NAME" alice --policy gold --credits 0 --json
expect_valid_json "set --json"
expect_json 'd["key_hex"]' '"616c696365"' "set --json"
expect_json 'd["assigned_policy"]' '"gold"' "set --json"
expect_json 'd["credits"]' 0 "set --json"
expect_run 0 "set --json, none" set "$NAME" alice --policy none --json
expect_json 'd["assigned_policy"]' null "set --json, none"

expect_run 0 "stats --json" stats "$NAME" --json
expect_valid_json "stats --json"
expect_json 'd["entries"]' 3 "stats --json"
expect_json 'd["capacity"]' 100 "stats --json"
expect_json 'd["max_capacity"]' 1000 "stats --json"
expect_json 'd["load_percent"]' 3.0 "stats --json"
expect_json 'd["allowed"]' 3 "stats --json"
expect_json 'd["denied"]' 1 "stats --json"
expect_json 'd["policies"]' 2 "stats --json"
expect_json 'd["windows"]' 2 "stats --json"
expect_json 'd["mode"]' '"0640"' "stats --json"
expect_json 'd["owner_uid"]' "$(id -u)" "stats --json"
expect_json 'd["generation"]' 1 "stats --json"
expect_json 'd["migrations"]' 0 "stats --json"
expect_json 'd["entries_moved"]' 0 "stats --json"
expect_json 'd["entries_dropped"]' 0 "stats --json"
expect_json 'd["migrating"]' false "stats --json"
expect_json 'd["migration_capacity"]' null "stats --json"
expect_json 'd["migration_progress"]' null "stats --json"
expect_json 'sorted(d)' '["allowed", "capacity", "credits_spent", "denied", "entries", "entries_dropped", "entries_moved", "evictions", "full_action", "full_events", "generation", "inserts", "lease_cache", "limiter", "load_percent", "max_capacity", "migrating", "migration_capacity", "migration_progress", "migrations", "mode", "owner", "owner_uid", "policies", "probe_limit", "recoveries", "segment_bytes", "windows"]' \
	"stats --json"

expect_run 0 "check --json" check "$NAME" --json
expect_valid_json "check --json"
expect_json 'd["valid"]' true "check --json"
expect_json 'd["problem_count"]' 0 "check --json"
expect_json 'd["problems"]' '[]' "check --json"
expect_json 'd["generation"]' 1 "check --json"
expect_json 'd["capacity"]' 100 "check --json"
expect_json 'd["migrating"]' false "check --json"
expect_json 'd["migration_capacity"]' null "check --json"

expect_run 0 "grow --json" grow "$NAME" --capacity 200 --json
expect_valid_json "grow --json"
expect_json 'd["grown"]' true "grow --json"
expect_json 'd["requested_capacity"]' 200 "grow --json"
expect_json 'd["old_capacity"]' 100 "grow --json"
expect_json 'd["new_capacity"]' 200 "grow --json"
expect_json 'd["old_generation"]' 1 "grow --json"
expect_json 'd["new_generation"]' 2 "grow --json"
expect_json 'd["max_capacity"]' 1000 "grow --json"
expect_run 0 "grow --json, doubling" grow "$NAME" --json
expect_json 'd["requested_capacity"]' null "grow --json, doubling"
expect_json 'd["new_capacity"]' 400 "grow --json, doubling"
expect_run 0 "grow --json, large enough" grow "$NAME" --capacity 300 --json
expect_json 'd["grown"]' false "grow --json, large enough"
expect_json 'd["new_capacity"]' 400 "grow --json, large enough"
expect_json 'd["old_generation"] == d["new_generation"]' true \
	"grow --json, large enough"
expect_run 0 "stats --json after grow" stats "$NAME" --json
expect_json 'd["generation"]' 3 "stats --json after grow"
expect_json 'd["migrations"]' 2 "stats --json after grow"
expect_json 'd["entries"]' 3 "stats --json after grow"
expect_json 'd["entries_dropped"]' 0 "stats --json after grow"
expect_json 'd["entries_moved"] >= 3' true "stats --json after grow"

expect_run 0 "reset --json of a binary key" reset "$NAME" 00ff5c41220a --hex \
	--json
expect_valid_json "reset --json of a binary key"
expect_json 'd["key"]' '"\\x00\\xff\\\\A\"\\x0a"' "reset --json of a binary key"
expect_json 'd["key_hex"]' '"00ff5c41220a"' "reset --json of a binary key"
expect_json 'd["reset"]' 1 "reset --json of a binary key"
expect_run 0 "reset --json" reset "$NAME" --all --json
expect_valid_json "reset --json"
expect_json 'd["reset"]' 3 "reset --json"

expect_run 0 "destroy --json" destroy "$NAME" --json
expect_valid_json "destroy --json"
expect_json 'd["destroyed"]' true "destroy --json"

printf '0 a\n1 a 2\n2 b 9\n' >"$WORK/trace"
expect_run 0 "replay --json" replay --max-requests 2 --window-ms 1000 \
	--json "$WORK/trace"
expect_valid_json "replay --json"
expect_json 'd["complete"]' true "replay --json"
expect_json '[e["verdict"] for e in d["events"]]' \
	'["allowed", "denied", "denied_never"]' "replay --json"
expect_json 'd["events"][1]["retry_after_ns"]' 999000000 "replay --json"
expect_json 'd["events"][2]["retry_after_ns"]' null "replay --json"
expect_json 'd["events"][2]["line"]' 3 "replay --json"

printf '0 a\nnot-a-time a\n' >"$WORK/bad-trace"
expect_run 5 "replay --json, malformed line" replay --max-requests 2 \
	--window-ms 1000 --json "$WORK/bad-trace"
expect_valid_json "replay --json, malformed line"
expect_json 'd["complete"]' false "replay --json, malformed line"
expect_json 'len(d["events"])' 1 "replay --json, malformed line"
expect_err "line 2: invalid time" "replay --json, malformed line"

finish
