#!/bin/sh
# compare-quick.sh - bench-compare --quick runs every scenario and exits 0
#
# A smoke test: it fails only when the benchmark cannot run (an API error,
# a wrong verdict, a crash), never on the figures, which depend on the
# machine.
set -u

: "${BENCH_COMPARE:?set BENCH_COMPARE to the bench-compare binary, as make check does}"

exec "$BENCH_COMPARE" --quick
