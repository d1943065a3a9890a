#!/bin/sh
# errors.sh - limitctl on missing limiters, keys and policies (exit
# status 3), on segments that are not valid, a full table and exhausted
# policy ids or window lengths (1), and check finding a corrupt entry (4)

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-errors
MISSING=$PREFIX-missing

# Every command that opens a limiter reports a missing one the same way.
for command in list stats check "policy list"; do
	# shellcheck disable=SC2086 # "policy list" is two words
	expect_run 3 "$command of a missing limiter" $command "$MISSING"
	expect_err "limiter \"$MISSING\" not found: there is no /dev/shm/credlimit.$MISSING; create it with 'limitctl create $MISSING'" \
		"$command of a missing limiter"
	expect_no_err "detail:" "$command of a missing limiter"
done
for command in show acquire reset; do
	expect_run 3 "$command of a missing limiter" "$command" "$MISSING" key
	expect_err "limiter \"$MISSING\" not found" "$command of a missing limiter"
done
expect_run 3 "set of a missing limiter" set "$MISSING" key --credits 1
expect_err "limiter \"$MISSING\" not found" "set of a missing limiter"
expect_run 3 "policy set of a missing limiter" policy set "$MISSING" gold \
	--max-requests 1 --window 1s
expect_err "limiter \"$MISSING\" not found" "policy set of a missing limiter"
expect_run 3 "reset --all of a missing limiter" reset "$MISSING" --all
expect_err "limiter \"$MISSING\" not found" "reset --all of a missing limiter"
expect_run 3 "destroy of a missing limiter" destroy "$MISSING"
expect_err "limiter \"$MISSING\" not found" "destroy of a missing limiter"
if [ -e "/dev/shm/credlimit.$MISSING" ]; then
	fail "a command on a missing limiter created it"
else
	pass "no command created the missing limiter"
fi

# A file that is not a credlimit segment is rejected, never used.
head -c 28992 /dev/zero | tr '\0' 'x' >"/dev/shm/credlimit.$NAME"
expect_run 1 "list of a foreign file" list "$NAME"
expect_err "cannot open limiter \"$NAME\": " "list of a foreign file"
expect_err "one of its segments is not valid for libcredlimit" \
	"list of a foreign file"
expect_err "'limitctl destroy $NAME' removes them" "list of a foreign file"
expect_err "limitctl: detail: /credlimit.$NAME: " \
	"list of a foreign file: detail names the control segment"
: >"/dev/shm/credlimit.$NAME"
expect_run 1 "stats of an empty segment" stats "$NAME"
expect_err "one of its segments is not valid for libcredlimit" \
	"stats of an empty segment"
expect_err "limitctl: detail: /credlimit.$NAME: " \
	"stats of an empty segment: detail names the control segment"
expect_run 1 "create over a foreign file" create "$NAME"
expect_err "limiter \"$NAME\" already exists" "create over a foreign file"
expect_run 0 "destroy of a foreign file" destroy "$NAME"

# A limiter whose header was cut short.
expect_run 0 "create" create "$NAME" --max-requests 3 --window 366d \
	--max-credits 2
head -c 100 "/dev/shm/credlimit.$NAME" >"$WORK/head"
cat "$WORK/head" >"/dev/shm/credlimit.$NAME"
expect_run 1 "check of a truncated segment" check "$NAME"
expect_err "one of its segments is not valid for libcredlimit" \
	"check of a truncated segment"
expect_err "limitctl: detail: /credlimit.$NAME: " \
	"check of a truncated segment: detail names the control segment"
expect_run 0 "destroy of a truncated segment" destroy "$NAME"

# A missing or truncated table segment is reported as such, not as a
# missing limiter: the detail line names the table segment.
expect_run 0 "create for a missing table" create "$NAME"
rm "/dev/shm/credlimit.$NAME.g1"
expect_run 1 "list with the table segment removed" list "$NAME"
expect_no_err "not found" "list with the table segment removed"
expect_err "cannot open limiter \"$NAME\": " \
	"list with the table segment removed"
expect_err "limitctl: detail: /credlimit.$NAME.g1: table segment is missing" \
	"list with the table segment removed"
expect_run 1 "acquire with the table segment removed" acquire "$NAME" k
expect_err "limitctl: detail: /credlimit.$NAME.g1: " \
	"acquire with the table segment removed"
expect_run 0 "destroy with the table segment removed" destroy "$NAME"

expect_run 0 "create for a truncated table" create "$NAME"
head -c 10 "/dev/shm/credlimit.$NAME.g1" >"$WORK/table-head"
cat "$WORK/table-head" >"/dev/shm/credlimit.$NAME.g1"
expect_run 1 "stats of a truncated table segment" stats "$NAME"
expect_err "limitctl: detail: /credlimit.$NAME.g1: " \
	"stats of a truncated table segment"

# The library logs that it removed a stale table when creating over one;
# a successful command prints no detail.
rm "/dev/shm/credlimit.$NAME"
expect_run 0 "create over a stale table segment" create "$NAME"
expect_equal "$err" "" "create over a stale table segment prints no detail"
expect_run 0 "stats after create over a stale table" stats "$NAME"
expect_out "entries:           0" "stats after create over a stale table"
expect_run 0 "destroy after create over a stale table" destroy "$NAME"

# A full table: keys with an assigned policy are never evicted.
expect_run 0 "create of a small table" create "$NAME" --capacity 8 \
	--window 366d
i=0
status=0
while [ "$status" -eq 0 ] && [ "$i" -lt 64 ]; do
	i=$((i + 1))
	run set "$NAME" "key-$i" --policy default
done
expect_status 1 "set --policy on a full table"
expect_err "cannot assign a policy: limiter \"$NAME\" has no free slot for a new key; wait until idle entries become evictable (after two of their windows), remove assigned policies that are no longer needed with 'limitctl set $NAME KEY --policy none', or create a larger limiter" \
	"set --policy on a full table"
expect_no_err "reset or destroy" "set --policy on a full table"
expect_run 1 "set --credits on a full table" set "$NAME" other-key --credits 1
expect_err "cannot set credits: limiter \"$NAME\" has no free slot for a new key; wait until idle entries become evictable" \
	"set --credits on a full table"
# The advice works: removing an assignment frees a slot.
expect_run 0 "set --policy none on a full table" set "$NAME" key-1 --policy none
expect_run 0 "set --credits after removing an assignment" set "$NAME" \
	other-key --credits 1
expect_run 0 "destroy of a small table" destroy "$NAME"

# All policy ids in use: the default policy and 255 others.
expect_run 0 "create for policy ids" create "$NAME" --window 366d
i=1
while [ "$i" -le 255 ]; do
	run_quietly policy set "$NAME" "p$i" --max-requests 1 --window 366d ||
		break
	i=$((i + 1))
done
expect_equal "$i" 256 "255 policies defined"
expect_run 1 "policy set with every policy id in use" policy set "$NAME" \
	extra --max-requests 1 --window 366d
expect_err "cannot define policy \"extra\" in limiter \"$NAME\": all 256 policy ids are in use; change an existing policy instead" \
	"policy set with every policy id in use"
expect_no_err "window lengths" "policy set with every policy id in use"
expect_run 0 "destroy for policy ids" destroy "$NAME"

# All window lengths registered: each new window of the default policy
# registers one, and lengths stay registered after a change.
expect_run 0 "create for window lengths" create "$NAME" --window 366d
i=1
while [ "$i" -le 2000 ]; do
	run_quietly policy set "$NAME" default --window "${i}ms" || break
	i=$((i + 1))
done
expect_equal "$i" 1023 "window lengths registered before the registry is full"
expect_run 1 "policy set of a new window length" policy set "$NAME" default \
	--window "${i}ms"
expect_err "cannot change policy \"default\" in limiter \"$NAME\": it has registered all 1023 distinct window lengths it can have over its life" \
	"policy set of a new window length"
expect_run 1 "policy set of a new policy and window length" policy set \
	"$NAME" fresh --max-requests 1 --window 367000ms
expect_err "cannot define policy \"fresh\" in limiter \"$NAME\": it has registered all 1023 distinct window lengths" \
	"policy set of a new policy and window length"
expect_no_err "policy ids" "policy set of a new policy and window length"
expect_run 0 "policy set of a registered window length" policy set "$NAME" \
	fresh --max-requests 1 --window 366d
expect_run 0 "destroy for window lengths" destroy "$NAME"

# check reports an entry whose stored credits exceed every policy's max.
expect_run 0 "create for check" create "$NAME" --max-requests 3 \
	--window 366d --max-credits 2
expect_run 0 "acquire for check" acquire "$NAME" corrupt-me-please
expect_run 0 "check of a valid limiter" check "$NAME"
if command -v python3 >/dev/null 2>&1; then
	# Table entries are 64 bytes: the state word (used in bytes 0-3,
	# credits in bytes 4-7, little-endian) and, at byte 32, a key of up
	# to 32 bytes stored verbatim.
	python3 - "/dev/shm/credlimit.$NAME.g1" <<'PYTHON'
import sys

with open(sys.argv[1], "r+b") as table:
    data = table.read()
    key_offset = data.find(b"corrupt-me-please")
    if key_offset < 32:
        sys.exit("key bytes not found in the table segment")
    table.seek(key_offset - 32 + 4)
    table.write(b"\xff\xff\xff\xff")
PYTHON
	expect_run 4 "check of a corrupt entry" check "$NAME"
	expect_out "problem: " "check of a corrupt entry"
	expect_out "4294967295 credits stored" "check of a corrupt entry"
	expect_out "limiter \"$NAME\": 1 problem found" "check of a corrupt entry"
	expect_run 4 "check --json of a corrupt entry" check "$NAME" --json
	expect_json 'd["valid"]' false "check --json of a corrupt entry"
	expect_json 'd["problem_count"]' 1 "check --json of a corrupt entry"
	expect_json 'len(d["problems"])' 1 "check --json of a corrupt entry"
else
	echo "# python3 missing: corrupt-entry checks skipped"
fi
expect_run 0 "destroy" destroy "$NAME"

expect_run 1 "replay of a missing file" replay --max-requests 1 \
	--window-ms 1 "$WORK/no-such-trace"
expect_err "cannot open trace \"$WORK/no-such-trace\": No such file or directory" \
	"replay of a missing file"

finish
