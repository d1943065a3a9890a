#!/bin/sh
# run-all.sh - install dependencies, build, and run the whole test suite
#
# This is the test command of the README and of CI (.ci/run).  It runs
# `make check` twice: in the normal build (build/), then in a second build
# with AddressSanitizer and UndefinedBehaviorSanitizer (build-sanitizers/,
# configure --enable-sanitizers), so that a memory error that happens to
# pass in the first run fails in the second.  Each run covers the cmocka
# unit tests, the limitctl end-to-end tests, the example server's
# end-to-end test, and the Redis backend's tests against redis-server
# processes they start.  The Apache module's test runs in the first pass only:
# httpd cannot load a module built with the sanitizers.  On failure it
# prints the logs of the tests that failed.
set -eu

srcdir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$srcdir/build}
sanitizer_dir=${SANITIZER_BUILD_DIR:-$srcdir/build-sanitizers}
export BUILD_DIR="$build_dir"

"$srcdir/tools/setup.sh"

# Prints the logs of the failed tests in the current build directory.
show_failures() {
	for log in $(find . -name '*.log' ! -name config.log ! -name test-suite.log); do
		trs=${log%.log}.trs
		if [ -f "$trs" ] && grep -q '^:test-result: \(FAIL\|ERROR\)' "$trs"; then
			echo "==== $log" >&2
			cat "$log" >&2
		fi
	done
}

cd "$build_dir"
if ! make -j"$(nproc)" check; then
	echo "run-all.sh: tests failed in $build_dir; logs of the failures follow" >&2
	show_failures
	exit 1
fi

echo "run-all.sh: building with sanitizers in $sanitizer_dir"
mkdir -p "$sanitizer_dir"
cd "$sanitizer_dir"
if [ ! -f Makefile ] || [ "$srcdir/configure" -nt Makefile ]; then
	"$srcdir/configure" --enable-sanitizers --with-redis
fi
make -j"$(nproc)"
if ! make -j"$(nproc)" check; then
	echo "run-all.sh: tests failed under sanitizers; logs of the failures follow" >&2
	show_failures
	exit 1
fi

echo "run-all.sh: all tests passed, also under AddressSanitizer and UndefinedBehaviorSanitizer"
