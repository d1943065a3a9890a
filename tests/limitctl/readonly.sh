#!/bin/sh
# readonly.sh - inspection commands open a limiter read-only and change
# nothing; commands that change it need write access
#
# As root the test runs limitctl as user nobody on a segment of mode 0644
# owned by root, which only a read-only open can map.  As another user it
# changes its own segments to mode 0400, which it can then only read.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

NAME=$PREFIX-readonly

if [ "$(id -u)" -eq 0 ]; then
	if ! command -v setpriv >/dev/null 2>&1; then
		echo "SKIP: setpriv (util-linux) is needed to run as nobody"
		exit 77
	fi
	as_reader() {
		run_as_nobody --owner root "$@"
	}
	as_reader --version
	if [ "$status" -ne 0 ]; then
		echo "SKIP: user nobody cannot run $LIMITCTL: $err"
		exit 77
	fi
	mode=0644
	expect_run 0 "create" create "$NAME" --mode "$mode" --max-requests 3 \
		--window 366d
	expect_run 0 "acquire as the owner" acquire "$NAME" alice
else
	as_reader() {
		run "$@"
	}
	mode=0400
	expect_run 0 "create" create "$NAME" --max-requests 3 --window 366d
	expect_run 0 "acquire as the owner" acquire "$NAME" alice
	chmod "$mode" "/dev/shm/credlimit.$NAME" "/dev/shm/credlimit.$NAME.g1"
fi
expect_equal "$(stat -c %a "/dev/shm/credlimit.$NAME")" "${mode#0}" \
	"segment mode"

# The stored fields of alice's entry, without those that depend on the
# time of the lookup.
stored_entry() {
	run show "$NAME" alice --json
	printf '%s\n' "$out" |
		grep -v -e '"now_ns"' -e '"last_seen_age_ns"' -e '"reset_after_ns"'
}

before=$(stored_entry)

as_reader list "$NAME"
expect_status 0 "read-only list"
as_reader list "$NAME" --json
expect_status 0 "read-only list --json"
as_reader stats "$NAME"
expect_status 0 "read-only stats"
as_reader check "$NAME"
expect_status 0 "read-only check"
as_reader policy list "$NAME"
expect_status 0 "read-only policy list"
as_reader show "$NAME" alice
expect_status 0 "read-only show"
expect_out "used:             1 of 3 in this window" "read-only show"

expect_equal "$(stored_entry)" "$before" "inspection changed no entry"

denied="cannot open limiter \"$NAME\" read-write: permission denied by mode $mode of /dev/shm/credlimit.$NAME"
as_reader acquire "$NAME" alice
expect_status 1 "acquire needs write access"
expect_err "$denied" "acquire needs write access"
as_reader reset "$NAME" --all
expect_status 1 "reset needs write access"
expect_err "$denied" "reset needs write access"
as_reader set "$NAME" alice --credits 1
expect_status 1 "set needs write access"
expect_err "$denied" "set needs write access"
as_reader policy set "$NAME" gold --max-requests 1 --window 1s
expect_status 1 "policy set needs write access"
expect_err "$denied" "policy set needs write access"
as_reader grow "$NAME"
expect_status 1 "grow needs write access"
expect_err "$denied" "grow needs write access"
if [ -e "/dev/shm/credlimit.$NAME.g2" ]; then
	fail "a rejected grow made /dev/shm/credlimit.$NAME.g2"
else
	pass "a rejected grow made no table segment"
fi

expect_equal "$(stored_entry)" "$before" "rejected changes changed no entry"

expect_run 0 "destroy" destroy "$NAME"

finish
