# Benchmarks: built and run by `make bench`, never by `make check`, since
# their figures depend on the machine.  docs/benchmarks.md records them.
EXTRA_PROGRAMS += tests/bench/bench-growth
tests_bench_bench_growth_SOURCES = tests/bench/growth.c
tests_bench_bench_growth_LDADD = libcredlimit.la
CLEANFILES += tests/bench/bench-growth

.PHONY: bench
bench: tests/bench/bench-growth
	@echo "== growth: 1,000 to 1,000,000 entries"
	./tests/bench/bench-growth --entries 1000000 --workers 4 --initial 2048
