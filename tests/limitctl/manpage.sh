#!/bin/sh
# manpage.sh - limitctl.1 renders without warnings and documents every
# command, every option of the --help texts and every exit status

. "$TOP_SRCDIR/tests/limitctl/common.sh"

PAGE=$TOP_SRCDIR/tools/limitctl.1

if command -v groff >/dev/null 2>&1; then
	groff -man -Tutf8 -ww -z "$PAGE" >"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
	expect_status 0 "groff -man -ww"
	expect_equal "$err" "" "groff -man -ww warnings"
else
	echo "# groff missing: warning check skipped"
fi

if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man -l "$PAGE" >"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
	expect_status 0 "man -l"
	expect_equal "$err" "" "man -l warnings"
	expect_out "limitctl - inspect and change credlimit rate limiters" "man -l"
else
	echo "# man missing: rendering check skipped"
fi

out=$(cat "$PAGE")
err=
for section in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS KEYS \
	"REPLAY FORMAT" "EXIT STATUS" EXAMPLES FILES; do
	expect_out ".SH $section" "section $section"
done
for command in create list show acquire reset set "policy list" \
	"policy set" grow stats check destroy replay; do
	expect_out ".SS \"$command " "command $command"
done
for exit_status in 0 1 2 3 4 5; do
	expect_out ".TP
.B $exit_status
" "exit status $exit_status"
done
expect_out "/dev/shm/credlimit.NAME" "FILES: control segment"
expect_out "/dev/shm/credlimit.NAME.gN" "FILES: table segment"
expect_out ".I VERDICT REMAINING CREDITS RESET_MS RETRY_MS" "replay output"

# Prints the roff source of the subsection whose .SS line starts with
# TITLE, up to the next .SS or .SH line.
subsection() {
	awk -v title=".SS \"$1 " '
		index($0, title) == 1 { inside = 1; print; next }
		inside && /^\.S[SH] / { exit }
		inside { print }
	' "$PAGE"
}

out=$(subsection create)
expect_out "do not end in
.B .g
and digits" "create: limiter names may not end in .g and digits"
expect_out "1 to 4294967296" "create: capacity range"
expect_out "Maximum slots the table may grow to" "create: max capacity"
expect_out "When the table is half full, it doubles into a new generation" \
	"create: growth doubles the table"
expect_no_out "not implemented" "create: growth is not said to be missing"
out=$(subsection set)
expect_out "reserves the policy name
.B none" "set: the policy name none is reserved"
expect_out "is a usage error (exit status 2)" "set: --credits above the max"
expect_out "after two of its windows" "set: full-table advice"
out=$(subsection "policy set")
expect_out "reserves the name
.B none" "policy set: the policy name none is reserved"
out=$(subsection grow)
expect_out "slots, 1 to 4294967296." "grow: capacity range"
expect_out "exit status 0" "grow: a table large enough already"
expect_out "exit status 2" "grow: above the max capacity"
out=$(subsection stats)
for label in migrations "entries moved" "entries dropped" migration; do
	expect_out ".B $label
" "stats: $label"
done
out=$(subsection check)
expect_out "both table generations" "check: during a migration"
out=$(subsection replay)
expect_out "1 to 4294967296" "replay: capacity range"
out=$(subsection destroy)
expect_out "sticky bit" "destroy: who may remove the segments"
out=$(cat "$PAGE")
expect_out "such as
.BR 0123456789abcdef...#1f2e3d4c ," "KEYS: long keys show part of their digest"
expect_out "limitctl: detail:" "EXIT STATUS: detail lines of a failed open"
expect_no_out "not implemented" "the page no longer says growth is missing"
expect_out "removes the old
one when the migration ends" "FILES: old generations are removed"

# Every long option that a --help text shows is in the page, written
# with escaped dashes as roff needs.
for command in "" create list show acquire reset set policy grow stats \
	check destroy replay; do
	# shellcheck disable=SC2086 # no command means the global --help
	help=$("$LIMITCTL" $command --help)
	for option in $(printf '%s\n' "$help" | grep -o -e '--[a-z][a-z-]*' | sort -u); do
		escaped=$(printf '%s' "$option" | sed 's/-/\\-/g')
		expect_out "$escaped" "option $option of '${command:-limitctl}' in the page"
	done
done

finish
