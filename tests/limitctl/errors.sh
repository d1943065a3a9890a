#!/bin/sh
# errors.sh - limitctl on missing limiters, keys and policies (exit
# status 3), on segments that are not valid (1), and check finding a
# corrupt entry (4)

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-errors
MISSING=$PREFIX-missing

# Every command that opens a limiter reports a missing one the same way.
for command in list stats check "policy list"; do
	# shellcheck disable=SC2086 # "policy list" is two words
	expect_run 3 "$command of a missing limiter" $command "$MISSING"
	expect_err "limiter \"$MISSING\" not found: there is no /dev/shm/credlimit.$MISSING; create it with 'limitctl create $MISSING'" \
		"$command of a missing limiter"
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
expect_err "/dev/shm/credlimit.$NAME is not a valid segment for libcredlimit" \
	"list of a foreign file"
expect_err "'limitctl destroy $NAME' removes it" "list of a foreign file"
: >"/dev/shm/credlimit.$NAME"
expect_run 1 "stats of an empty segment" stats "$NAME"
expect_err "is not a valid segment for libcredlimit" \
	"stats of an empty segment"
expect_run 1 "create over a foreign file" create "$NAME"
expect_err "limiter \"$NAME\" already exists" "create over a foreign file"
expect_run 0 "destroy of a foreign file" destroy "$NAME"

# A limiter whose header was cut short.
expect_run 0 "create" create "$NAME" --max-requests 3 --window 366d \
	--max-credits 2
head -c 100 "/dev/shm/credlimit.$NAME" >"$WORK/head"
cat "$WORK/head" >"/dev/shm/credlimit.$NAME"
expect_run 1 "check of a truncated segment" check "$NAME"
expect_err "is not a valid segment for libcredlimit" \
	"check of a truncated segment"
expect_run 0 "destroy of a truncated segment" destroy "$NAME"

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
