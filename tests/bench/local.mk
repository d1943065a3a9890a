# Benchmarks: run by `make bench`, never timed by `make check`, since their
# figures depend on the machine.  docs/benchmarks.md records them.
EXTRA_PROGRAMS += tests/bench/bench-growth
tests_bench_bench_growth_SOURCES = tests/bench/growth.c
tests_bench_bench_growth_LDADD = libcredlimit.la
CLEANFILES += tests/bench/bench-growth

# bench-compare links the convenience library for the pure algorithm and
# SipHash, which its lock-based baseline reuses.  make check builds it for
# the smoke test below.
check_PROGRAMS += tests/bench/bench-compare
tests_bench_bench_compare_SOURCES = \
	tests/bench/compare.c tests/bench/bench.h \
	tests/bench/single.c tests/bench/multi.c tests/bench/memory.c \
	tests/bench/contender.c tests/bench/contender.h \
	tests/bench/lockbase.c tests/bench/lockbase.h \
	tests/bench/parallel.c tests/bench/parallel.h \
	tests/bench/keys.c tests/bench/keys.h \
	tests/bench/hist.c tests/bench/hist.h
tests_bench_bench_compare_CFLAGS = $(AM_CFLAGS) $(URCU_CFLAGS) -pthread
tests_bench_bench_compare_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_bench_bench_compare_LDADD = libcredlimit-core.la $(URCU_LIBS) -lm

# Smoke test: bench-compare --quick runs every scenario on tiny sizes and
# must exit 0.  It checks that the benchmark runs, never its figures.
TESTS += tests/bench/compare-quick.sh
EXTRA_DIST += tests/bench/compare-quick.sh
AM_TESTS_ENVIRONMENT += \
	BENCH_COMPARE=$(abs_top_builddir)/tests/bench/bench-compare; \
	export BENCH_COMPARE;

# bench-redis starts its own redis-server, with the test helper that
# reaches the library's internal Redis client.
if HAVE_HIREDIS
EXTRA_PROGRAMS += tests/bench/bench-redis
tests_bench_bench_redis_SOURCES = tests/bench/redis.c tests/bench/hist.c \
	tests/bench/hist.h tests/bench/worker.c tests/bench/worker.h
tests_bench_bench_redis_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests \
	-I$(top_srcdir)/tests/bench -DCL_REDIS_SERVER='"$(REDIS_SERVER)"'
tests_bench_bench_redis_LDADD = libcredlimit-core.la $(URCU_LIBS)
CLEANFILES += tests/bench/bench-redis
BENCH_REDIS = tests/bench/bench-redis

EXTRA_PROGRAMS += tests/bench/bench-lease
tests_bench_bench_lease_SOURCES = tests/bench/lease.c tests/bench/hist.c \
	tests/bench/hist.h tests/bench/worker.c tests/bench/worker.h
tests_bench_bench_lease_CPPFLAGS = $(tests_bench_bench_redis_CPPFLAGS)
tests_bench_bench_lease_LDADD = libcredlimit-core.la $(URCU_LIBS)
CLEANFILES += tests/bench/bench-lease
BENCH_LEASE = tests/bench/bench-lease
endif

.PHONY: bench
bench: tests/bench/bench-growth tests/bench/bench-compare $(BENCH_REDIS) \
	$(BENCH_LEASE)
	@echo "== growth: 1,000 to 1,000,000 entries"
	./tests/bench/bench-growth --entries 1000000 --workers 4 --initial 2048
	@echo "== compare: floor, credlimit and a lock-based baseline"
	./tests/bench/bench-compare
	@if [ -n "$(BENCH_REDIS)" ]; then \
		echo "== Redis against shared memory, 1 and 16 processes"; \
		./tests/bench/bench-redis; \
		echo "== leases: round trips and throughput, 100 and 10,000 keys"; \
		./tests/bench/bench-lease --keys 100; \
		./tests/bench/bench-lease --keys 10000; \
	fi
