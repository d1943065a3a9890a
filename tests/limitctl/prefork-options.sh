#!/bin/sh
# prefork-options.sh - the example server prefork-httpd states the limiter
# name and capacity rules as limitctl does, and rejects what libcredlimit
# would reject with exit status 2 before it starts serving
#
# make check sets PREFORK_HTTPD (examples/local.mk).  Every case here is
# an invalid option or --help, so no server starts and no segment is made.

. "$TOP_SRCDIR/tests/limitctl/common.sh"

if [ -z "${PREFORK_HTTPD:-}" ] || [ ! -x "$PREFORK_HTTPD" ]; then
	echo "SKIP: set PREFORK_HTTPD to the prefork-httpd binary, as make check does"
	exit 77
fi

# Runs prefork-httpd with the arguments; sets $status, $out and $err.
run_httpd() {
	"$PREFORK_HTTPD" "$@" >"$WORK/out" 2>"$WORK/err"
	status=$?
	out=$(cat "$WORK/out")
	err=$(cat "$WORK/err")
}

NAME=$PREFIX-httpd

for name in x.g1 a.b.g12; do
	run_httpd --name "$name"
	expect_status 2 "prefork-httpd --name $name"
	expect_err "invalid --name '$name': a name may not end in \".g\" and digits, which table segments use; choose another name" \
		"prefork-httpd --name $name"
done
if [ -e "/dev/shm/credlimit.x.g1" ]; then
	fail "prefork-httpd --name x.g1 made /dev/shm/credlimit.x.g1"
else
	pass "prefork-httpd --name x.g1 made no segment"
fi

run_httpd --name "$NAME" --capacity 4294967297
expect_status 2 "prefork-httpd --capacity above 2^32"
expect_err "invalid --capacity '4294967297': expected a whole number of slots from 1 to 4294967296 (2^32)" \
	"prefork-httpd --capacity above 2^32"
run_httpd --name "$NAME" --capacity 0
expect_status 2 "prefork-httpd --capacity 0"
expect_err "invalid --capacity '0': expected a whole number of slots from 1 to 4294967296 (2^32)" \
	"prefork-httpd --capacity 0"
run_httpd --name "$NAME" --max-capacity 4294967297
expect_status 2 "prefork-httpd --max-capacity above 2^32"
expect_err "invalid --max-capacity '4294967297': expected a whole number of slots from 0 to 4294967296 (2^32)" \
	"prefork-httpd --max-capacity above 2^32"
run_httpd --name "$NAME" --capacity 64 --max-capacity 16
expect_status 2 "prefork-httpd --max-capacity below --capacity"
expect_err "invalid --max-capacity 16: it must be at least the capacity (64)" \
	"prefork-httpd --max-capacity below --capacity"

run_httpd --help
expect_status 0 "prefork-httpd --help"
expect_out "nor ending in \".g\" and" "prefork-httpd --help: name rule"
expect_out "1 to 4294967296" "prefork-httpd --help: capacity range"
expect_out "max slots the table may grow to, doubling" \
	"prefork-httpd --help: max capacity"
expect_out "into a new generation when half full" \
	"prefork-httpd --help: max capacity"
expect_no_out "implement" "prefork-httpd --help: growth is not said to be missing"

finish
