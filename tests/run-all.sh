#!/bin/sh
# run-all.sh - install dependencies, build, and run the whole test suite
#
# This is the test command of the README and of CI (.ci/run).  It runs
# `make check` in the build directory: the cmocka unit tests, the
# limitctl end-to-end tests and the example server's end-to-end test.
# On failure it prints the logs of the tests that failed.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$srcdir/build}
export BUILD_DIR="$build_dir"

"$srcdir/tools/setup.sh"

cd "$build_dir"
if make -j"$(nproc)" check; then
	echo "run-all.sh: all tests passed"
	exit 0
fi

echo "run-all.sh: tests failed; logs of the failures follow" >&2
for log in $(find . -name '*.log' ! -name config.log ! -name test-suite.log); do
	trs=${log%.log}.trs
	if [ -f "$trs" ] && grep -q '^:test-result: \(FAIL\|ERROR\)' "$trs"; then
		echo "==== $log" >&2
		cat "$log" >&2
	fi
done
exit 1
