#!/bin/sh
# run-all.sh - install dependencies, build, and run the whole test suite
#
# This is the test command of the README and of CI (.ci/run).  It runs
# `make check` twice: in the normal build (build/), then in a second build
# with AddressSanitizer and UndefinedBehaviorSanitizer (build-sanitizers/,
# configure --enable-sanitizers), so that a memory error that happens to
# pass in the first run fails in the second.  Each of these runs covers
# the cmocka unit tests, the replay of the saved fuzz inputs, the limitctl
# end-to-end tests, the example server's end-to-end test, and the Redis
# backend's tests against redis-server processes they start.  The Apache
# module's test runs in the first pass only: httpd cannot load a module
# built with the sanitizers.
#
# A third build (build-tsan/, configure --enable-tsan) runs the threaded
# tests under ThreadSanitizer with the suppressions of tests/tsan.supp.
# A fourth (build-fuzz/, CC=clang --enable-fuzzing) runs each libFuzzer
# target for FUZZ_SECONDS seconds (default 10; 0 skips it).  On failure
# it prints the logs of the tests that failed.
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

# ThreadSanitizer cannot share a build with AddressSanitizer.  Its build
# runs only the tests whose threads share one process (test_growth and
# test_lease pick their threaded tests themselves under ThreadSanitizer).  ThreadSanitizer
# emulates 16-byte atomics under a spin lock of its own process
# (mutex128 in compiler-rt's tsan_interface_atomic.cpp), so the workers
# of test_process, which decide on one key from several processes, lose
# updates under it.
tsan_dir=${TSAN_BUILD_DIR:-$srcdir/build-tsan}
tsan_tests="tests/test_api tests/test_growth tests/test_lease"
echo "run-all.sh: building with ThreadSanitizer in $tsan_dir"
mkdir -p "$tsan_dir"
cd "$tsan_dir"
if [ ! -f Makefile ] || [ "$srcdir/configure" -nt Makefile ]; then
	"$srcdir/configure" --enable-tsan --with-apxs=no
fi
make -j"$(nproc)" $tsan_tests
if ! TSAN_OPTIONS="suppressions=$srcdir/tests/tsan.supp halt_on_error=1" \
	make -j"$(nproc)" check TESTS="$tsan_tests"; then
	echo "run-all.sh: threaded tests failed under ThreadSanitizer; logs of the failures follow" >&2
	show_failures
	exit 1
fi

fuzz_seconds=${FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" -gt 0 ]; then
	fuzz_dir=${FUZZ_BUILD_DIR:-$srcdir/build-fuzz}
	echo "run-all.sh: running each fuzz target for $fuzz_seconds s in $fuzz_dir"
	mkdir -p "$fuzz_dir"
	cd "$fuzz_dir"
	if [ ! -f Makefile ] || [ "$srcdir/configure" -nt Makefile ]; then
		"$srcdir/configure" CC=clang --enable-fuzzing --with-apxs=no
	fi
	make -j"$(nproc)" fuzz FUZZ_SECONDS="$fuzz_seconds"
fi

echo "run-all.sh: all tests passed, also under AddressSanitizer and UndefinedBehaviorSanitizer, and the threaded tests under ThreadSanitizer"
