#!/bin/sh
# replay-errors.sh - a malformed trace line stops limitctl replay with
# "line N: ..." on standard error and exit status 5, after the results
# of the lines before it

. "$TOP_SRCDIR/tests/limitctl/common.sh"

# check_malformed LINE MESSAGE: a trace of one good request, a blank
# line, a comment and then LINE stops at line 4 with MESSAGE.
check_malformed() {
	printf '0 good\n\n# comment\n%s\n5 never-read\n' "$1" >"$WORK/trace"
	run replay --max-requests 3 --window-ms 1000 "$WORK/trace"
	expect_status 5 "malformed line \"$1\""
	expect_equal "$out" "allow 2 0 1000 0" \
		"malformed line \"$1\": results before it"
	expect_equal "$err" "limitctl: $WORK/trace: line 4: $2" \
		"malformed line \"$1\": message"
}

check_malformed "abc k" \
	'invalid time "abc": expected a non-negative whole number of milliseconds'
check_malformed "-1 k" \
	'invalid time "-1": expected a non-negative whole number of milliseconds'
check_malformed "+1 k" \
	'invalid time "+1": expected a non-negative whole number of milliseconds'
check_malformed "1.5 k" \
	'invalid time "1.5": expected a non-negative whole number of milliseconds'
check_malformed "0x10 k" \
	'invalid time "0x10": expected a non-negative whole number of milliseconds'
check_malformed "1e3 k" \
	'invalid time "1e3": expected a non-negative whole number of milliseconds'
check_malformed "18446744073710 k" \
	'time "18446744073710" is too large: at most 18446744073709 ms fit in 64-bit nanoseconds'
check_malformed "99999999999999999999999 k" \
	'time "99999999999999999999999" is too large: at most 18446744073709 ms fit in 64-bit nanoseconds'
check_malformed "10" \
	'missing key after time 10: expected T_MS KEY [COST]'
check_malformed "10 k x" \
	'invalid cost "x": expected a non-negative whole number'
check_malformed "10 k -2" \
	'invalid cost "-2": expected a non-negative whole number'
check_malformed "10 k 2.5" \
	'invalid cost "2.5": expected a non-negative whole number'
check_malformed "10 k 18446744073709551616" \
	'cost "18446744073709551616" is too large: the largest cost is 18446744073709551615'
check_malformed "10 k 1 extra" \
	'unexpected fourth field "extra": expected T_MS KEY [COST]'
check_malformed "10 k 1 # trailing comment" \
	'unexpected fourth field "#": expected T_MS KEY [COST]'

# A key above 65535 bytes, on a line far longer than any fixed buffer.
printf '0 %s\n' "$(head -c 65536 /dev/zero | tr '\0' 'k')" >"$WORK/long-key"
run replay --max-requests 3 --window-ms 1000 "$WORK/long-key"
expect_status 5 "key of 65536 bytes"
expect_equal "$err" \
	"limitctl: $WORK/long-key: line 1: key of 65536 bytes is too long: a key has at most 65535 bytes" \
	"key of 65536 bytes"

# From standard input the message has no file name.
printf '0 a\nbad a\n' >"$WORK/stdin-trace"
run_input "$WORK/stdin-trace" replay --max-requests 3 --window-ms 1000
expect_status 5 "malformed line on standard input"
expect_equal "$err" \
	'limitctl: line 2: invalid time "bad": expected a non-negative whole number of milliseconds' \
	"malformed line on standard input"

# Field text in a message is escaped like a key.
printf '0 a 1\001\n' >"$WORK/control-trace"
run replay --max-requests 3 --window-ms 1000 "$WORK/control-trace"
expect_status 5 "control byte in a cost"
expect_err 'invalid cost "1\x01"' "control byte in a cost"

finish
