#!/bin/sh
# replay.sh - limitctl replay on crafted traces, compared byte for byte
# with hand-checked expected output
#
# Each traces/NAME.trace names its replay options on a "# args:" line;
# traces/NAME.out is the exact output expected.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

traces=$(ls "$TEST_DIR"/traces/*.trace)
if [ -z "$traces" ]; then
	fail "no trace found in $TEST_DIR/traces"
	finish
fi

for trace in $traces; do
	base=$(basename "$trace" .trace)
	expected=${trace%.trace}.out
	args=$(sed -n 's/^# args: //p' "$trace")
	if [ -z "$args" ]; then
		fail "$base: no '# args:' line"
		continue
	fi

	# shellcheck disable=SC2086 # the options are separate words
	"$LIMITCTL" replay $args "$trace" >"$WORK/$base.out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/$base.out")
	err=$(cat "$WORK/err")
	expect_status 0 "replay $base"
	expect_equal "$err" "" "replay $base: standard error"
	if cmp -s "$WORK/$base.out" "$expected"; then
		pass "replay $base: output equals $base.out"
	else
		fail "replay $base: output differs from $base.out: $(diff "$expected" "$WORK/$base.out")"
	fi

	# Standard input, named - or not at all, gives the same results.
	# shellcheck disable=SC2086
	"$LIMITCTL" replay $args - <"$trace" >"$WORK/$base.stdin" 2>"$WORK/err"
	status=$?
	expect_status 0 "replay $base from standard input"
	if cmp -s "$WORK/$base.stdin" "$expected"; then
		pass "replay $base from standard input: output equals $base.out"
	else
		fail "replay $base from standard input: output differs"
	fi
done

# Lines longer than any fixed buffer: a key of 5000 bytes and the cost
# after it, a second key that differs only in its last byte, and a key
# of the largest length, 65535 bytes.
key=$(head -c 5000 /dev/zero | tr '\0' 'x')
max_key=$(head -c 65535 /dev/zero | tr '\0' 'y')
{
	echo "0 $key 2"
	echo "0 ${key}z 1"
	echo "1 $key"
	echo "2 $max_key 2"
} >"$WORK/long.trace"
run replay --max-requests 2 --window-ms 1000 "$WORK/long.trace"
expect_status 0 "replay of long lines"
expect_equal "$out" "allow 0 0 1000 0
allow 1 0 1000 0
deny 0 0 999 999
allow 0 0 998 0" "replay of long lines"

# An empty trace, and one of comments only, print nothing.
: >"$WORK/empty.trace"
run replay --max-requests 1 --window-ms 1 "$WORK/empty.trace"
expect_status 0 "replay of an empty trace"
expect_equal "$out" "" "replay of an empty trace"
printf '# only\n\n# comments\n' >"$WORK/comments.trace"
run replay --max-requests 1 --window-ms 1 "$WORK/comments.trace"
expect_status 0 "replay of comments only"
expect_equal "$out" "" "replay of comments only"

# A table too small for the trace stops instead of printing results that
# a full table or an eviction distorted.  At time 10 the eight keys have
# been idle for 9 windows of 1 ms, so the ninth key can evict one.
printf '0 a\n0 b\n0 c\n0 d\n0 e\n0 f\n0 g\n0 h\n10 i\n' >"$WORK/evict.trace"
run replay --max-requests 1 --window-ms 1 --capacity 8 "$WORK/evict.trace"
expect_status 1 "replay with an eviction"
expect_err "line 9: the private table of 8 slots evicted an entry" \
	"replay with an eviction"
expect_equal "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 8 \
	"replay with an eviction: results before it"

printf '0 a\n0 b\n0 c\n0 d\n0 e\n0 f\n0 g\n0 h\n0 i\n' >"$WORK/nine-keys.trace"
run replay --max-requests 1 --window-ms 1000 --capacity 8 "$WORK/nine-keys.trace"
expect_status 1 "replay beyond --capacity"
expect_err "is full, so the results would be distorted; raise --capacity" \
	"replay beyond --capacity"

finish
