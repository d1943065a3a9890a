# cmocka unit tests: one binary per module.  They link the convenience
# library statically, so they can reach internal functions (the pure
# algorithm, the table layer) as well as the public API.
CL_UNIT_TESTS = \
	tests/test_algorithm \
	tests/test_siphash \
	tests/test_policy \
	tests/test_api \
	tests/test_table \
	tests/test_segment \
	tests/test_process \
	tests/test_growth \
	tests/test_hostile \
	tests/test_clock \
	tests/test_chaos

check_PROGRAMS += $(CL_UNIT_TESTS)
TESTS += $(CL_UNIT_TESTS)

CL_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
CL_UNIT_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(URCU_CFLAGS)
CL_UNIT_LDADD = libcredlimit-core.la $(CMOCKA_LIBS) $(URCU_LIBS)

tests_test_algorithm_SOURCES = tests/test_algorithm.c
tests_test_algorithm_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_algorithm_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_algorithm_LDADD = $(CL_UNIT_LDADD)

tests_test_siphash_SOURCES = tests/test_siphash.c
tests_test_siphash_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_siphash_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_siphash_LDADD = $(CL_UNIT_LDADD)

tests_test_policy_SOURCES = tests/test_policy.c tests/unit.h
tests_test_policy_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_policy_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_policy_LDADD = $(CL_UNIT_LDADD)

tests_test_api_SOURCES = tests/test_api.c tests/unit.h
tests_test_api_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_api_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_api_LDADD = $(CL_UNIT_LDADD)

tests_test_table_SOURCES = tests/test_table.c tests/unit.h
tests_test_table_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_table_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_table_LDADD = $(CL_UNIT_LDADD)

tests_test_segment_SOURCES = tests/test_segment.c tests/unit.h
tests_test_segment_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_segment_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_segment_LDADD = $(CL_UNIT_LDADD)

tests_test_process_SOURCES = tests/test_process.c tests/unit.h
tests_test_process_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_process_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_process_LDADD = $(CL_UNIT_LDADD)

tests_test_growth_SOURCES = tests/test_growth.c tests/unit.h
tests_test_growth_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_growth_CFLAGS = $(CL_UNIT_CFLAGS) -pthread
tests_test_growth_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_test_growth_LDADD = $(CL_UNIT_LDADD)

tests_test_hostile_SOURCES = tests/test_hostile.c tests/unit.h
tests_test_hostile_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_hostile_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_hostile_LDADD = $(CL_UNIT_LDADD)

tests_test_clock_SOURCES = tests/test_clock.c tests/unit.h
tests_test_clock_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_clock_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_clock_LDADD = $(CL_UNIT_LDADD)

tests_test_chaos_SOURCES = tests/test_chaos.c tests/unit.h
tests_test_chaos_CPPFLAGS = $(CL_UNIT_CPPFLAGS)
tests_test_chaos_CFLAGS = $(CL_UNIT_CFLAGS)
tests_test_chaos_LDADD = $(CL_UNIT_LDADD)

# limitctl and the library on a /dev/shm too small for the table.
TESTS += tests/shm-full.sh
EXTRA_DIST += tests/shm-full.sh tests/unit.h

# The Redis backend against redis-server processes the tests start on
# loopback ports; they exit 77 (skipped) when redis-server is missing.
if HAVE_HIREDIS
CL_REDIS_TESTS = tests/test_redis tests/test_redis_algorithm \
	tests/test_redis_lease tests/test_lease
check_PROGRAMS += $(CL_REDIS_TESTS)
TESTS += $(CL_REDIS_TESTS)
CL_REDIS_TEST_CPPFLAGS = $(CL_UNIT_CPPFLAGS) \
	-DCL_REDIS_SERVER='"$(REDIS_SERVER)"'

tests_test_redis_SOURCES = tests/test_redis.c tests/redis_server.h
tests_test_redis_CPPFLAGS = $(CL_REDIS_TEST_CPPFLAGS)
tests_test_redis_CFLAGS = $(CL_UNIT_CFLAGS) -pthread
tests_test_redis_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_test_redis_LDADD = $(CL_UNIT_LDADD)

tests_test_redis_algorithm_SOURCES = tests/test_redis_algorithm.c \
	tests/redis_server.h
tests_test_redis_algorithm_CPPFLAGS = $(CL_REDIS_TEST_CPPFLAGS)
tests_test_redis_algorithm_CFLAGS = $(CL_UNIT_CFLAGS) -pthread
tests_test_redis_algorithm_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_test_redis_algorithm_LDADD = $(CL_UNIT_LDADD)

tests_test_redis_lease_SOURCES = tests/test_redis_lease.c tests/redis_server.h \
	tests/unit.h
tests_test_redis_lease_CPPFLAGS = $(CL_REDIS_TEST_CPPFLAGS)
tests_test_redis_lease_CFLAGS = $(CL_UNIT_CFLAGS) -pthread
tests_test_redis_lease_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_test_redis_lease_LDADD = $(CL_UNIT_LDADD)

tests_test_lease_SOURCES = tests/test_lease.c tests/redis_server.h \
	tests/unit.h
tests_test_lease_CPPFLAGS = $(CL_REDIS_TEST_CPPFLAGS)
tests_test_lease_CFLAGS = $(CL_UNIT_CFLAGS) -pthread
tests_test_lease_LDFLAGS = $(AM_LDFLAGS) -pthread
tests_test_lease_LDADD = $(CL_UNIT_LDADD)
EXTRA_DIST += tests/test_algorithm.c
endif
