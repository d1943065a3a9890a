# common.sh - helpers for the limitctl end-to-end tests
#
# Sourced by each test.  make check sets LIMITCTL (the built binary) and
# TOP_SRCDIR.  Every check prints "ok" or "FAIL" with what it compared;
# finish prints "N passed, N failed" and exits 1 when a check failed.
# Segments are named lctltest-PID-WORD and removed on exit.

set -u

: "${LIMITCTL:?set LIMITCTL to the limitctl binary, as make check does}"
: "${TOP_SRCDIR:?set TOP_SRCDIR to the source tree, as make check does}"

# shellcheck disable=SC2034 # used by the tests that source this file
TEST_DIR=$TOP_SRCDIR/tests/limitctl
WORK=$(mktemp -d "${TMPDIR:-/tmp}/limitctl-test.XXXXXX") || exit 99
PREFIX=lctltest-$$
passed=0
failed=0

NOBODY_DIR=

cleanup() {
	for segment in /dev/shm/credlimit."$PREFIX"-*; do
		[ -e "$segment" ] && rm -f "$segment"
	done
	rm -rf "$WORK"
	[ -n "$NOBODY_DIR" ] && rm -rf "$NOBODY_DIR"
}
trap cleanup EXIT

# Runs limitctl as user nobody (root only, with setpriv); sets $status,
# $out and $err.  A build tree under a private directory such as /root is
# out of nobody's reach, so the first call copies the real binary and the
# library out of libtool's .libs folders into a directory nobody can read.
run_as_nobody() {
	if [ -z "$NOBODY_DIR" ]; then
		NOBODY_DIR=$(mktemp -d /tmp/limitctl-nobody.XXXXXX) || exit 99
		chmod 755 "$NOBODY_DIR"
		tools_dir=$(dirname "$LIMITCTL")
		if [ -x "$tools_dir/.libs/limitctl" ]; then
			cp "$tools_dir/.libs/limitctl" "$NOBODY_DIR/limitctl"
			cp -P "$tools_dir"/../.libs/libcredlimit.so* "$NOBODY_DIR/"
		else
			cp "$LIMITCTL" "$NOBODY_DIR/limitctl"
		fi
		chmod -R a+rX "$NOBODY_DIR"
	fi
	LD_LIBRARY_PATH=$NOBODY_DIR setpriv --reuid=nobody --regid=nogroup \
		--clear-groups "$NOBODY_DIR/limitctl" "$@" \
		>"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
}

# Runs limitctl with the arguments, output discarded, and returns its
# status; for loops of many runs.  In a build tree it runs the binary
# behind libtool's wrapper script, which starts much slower than the
# binary itself.
run_quietly() {
	tools_dir=$(dirname "$LIMITCTL")
	if [ -x "$tools_dir/.libs/limitctl" ]; then
		LD_LIBRARY_PATH=$tools_dir/../.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
			"$tools_dir/.libs/limitctl" "$@" >/dev/null 2>&1
	else
		"$LIMITCTL" "$@" >/dev/null 2>&1
	fi
}

# Runs limitctl with the arguments; sets $status, $out and $err.
run() {
	"$LIMITCTL" "$@" >"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
}

# Runs limitctl with standard input from the file named first.
run_input() {
	input=$1
	shift
	"$LIMITCTL" "$@" <"$input" >"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
}

# Prints the first line of a message, so a check of multi-line text
# takes one line of the log.
first_line() {
	printf '%s\n' "$1" | head -n 1
}

pass() {
	passed=$((passed + 1))
	printf 'ok - %s\n' "$(first_line "$1")"
}

fail() {
	failed=$((failed + 1))
	printf 'FAIL - %s\n' "$1"
	printf '  command stdout: %s\n' "$(printf '%s' "$out" | head -c 2000)"
	printf '  command stderr: %s\n' "$(printf '%s' "$err" | head -c 2000)"
}

# expect_status N WHAT: the last run exited with status N.
expect_status() {
	if [ "$status" -eq "$1" ]; then
		pass "$2: exit status $1"
	else
		fail "$2: exit status $status, expected $1"
	fi
}

# expect_out TEXT WHAT: standard output contains TEXT.
expect_out() {
	case $out in
	*"$1"*) pass "$2: output contains \"$1\"" ;;
	*) fail "$2: output lacks \"$1\"" ;;
	esac
}

# expect_no_out TEXT WHAT: standard output does not contain TEXT.
expect_no_out() {
	case $out in
	*"$1"*) fail "$2: output contains \"$1\"" ;;
	*) pass "$2: output lacks \"$1\"" ;;
	esac
}

# expect_err TEXT WHAT: standard error contains TEXT.
expect_err() {
	case $err in
	*"$1"*) pass "$2: error contains \"$1\"" ;;
	*) fail "$2: error lacks \"$1\"" ;;
	esac
}

# expect_no_err TEXT WHAT: standard error does not contain TEXT.
expect_no_err() {
	case $err in
	*"$1"*) fail "$2: error contains \"$1\"" ;;
	*) pass "$2: error lacks \"$1\"" ;;
	esac
}

# expect_equal ACTUAL EXPECTED WHAT
expect_equal() {
	if [ "$1" = "$2" ]; then
		case $2 in
		*"
"*) pass "$3" ;;
		*) pass "$3: \"$2\"" ;;
		esac
	else
		fail "$3: got \"$1\", expected \"$2\""
	fi
}

# expect_run STATUS WHAT ARGS...: runs limitctl and checks its status.
expect_run() {
	expected_status=$1
	what=$2
	shift 2
	run "$@"
	expect_status "$expected_status" "$what"
}

# json_value EXPRESSION: prints json.dumps(EXPRESSION) for the document
# `d` parsed from the last standard output, or "invalid JSON".
json_value() {
	printf '%s' "$out" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as error:
    print("invalid JSON: %s" % error)
    sys.exit(0)
print(json.dumps(eval(sys.argv[1])))
' "$1"
}

# expect_json EXPRESSION EXPECTED WHAT: json_value EXPRESSION equals
# EXPECTED, written as JSON (strings quoted).
expect_json() {
	expect_equal "$(json_value "$1")" "$2" "$3: $1"
}

# expect_valid_json WHAT: the last standard output is one JSON document.
expect_valid_json() {
	if printf '%s' "$out" | python3 -m json.tool >/dev/null 2>"$WORK/json-err"; then
		pass "$1: output is valid JSON"
	else
		fail "$1: output is not valid JSON: $(cat "$WORK/json-err")"
	fi
}

# table_field KEY COLUMN: field COLUMN of the row of `limitctl list` whose
# first field is KEY, or nothing.  The key passes through the environment
# because awk -v would expand its backslashes.
table_field() {
	printf '%s\n' "$out" | TABLE_KEY=$1 awk -v column="$2" \
		'$1 == ENVIRON["TABLE_KEY"] { print $column; exit }'
}

require_python() {
	if ! command -v python3 >/dev/null 2>&1; then
		echo "SKIP: python3 is needed to parse JSON"
		exit 77
	fi
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ] || exit 1
	exit 0
}
