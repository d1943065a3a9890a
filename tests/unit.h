/*
 * unit.h - helpers shared by the cmocka tests
 *
 * Every test that touches named shared memory uses a name unique to its
 * process and a counter, and removes it, so tests can run in parallel and
 * leave nothing in /dev/shm.
 */
#ifndef CREDLIMIT_TESTS_UNIT_H
#define CREDLIMIT_TESTS_UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "credlimit.h"

/*
 * True in a ThreadSanitizer build, which tests/run-all.sh makes.  There a
 * 16-byte compare-and-swap is emulated under a lock of its own process, so
 * it is not atomic against other processes, and counts that several
 * processes make on one key can come out wrong: tests run only their
 * threaded cases there.
 */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

/* Writes a limiter name unique to this process into buf[64]. */
static inline const char *unit_name(char buf[64], const char *test)
{
	static unsigned counter;

	snprintf(buf, 64, "unit-%s-%d-%u", test, (int)getpid(), counter++);
	return buf;
}

/* A policy of max_requests per window of window_ns, with max_credits and
 * initial_credits. */
static inline struct credlimit_policy unit_policy(uint32_t max_requests,
						  uint64_t window_ns,
						  uint32_t max_credits,
						  uint32_t initial_credits)
{
	struct credlimit_policy p = {
		.max_requests = max_requests,
		.window_ns = window_ns,
		.max_credits = max_credits,
		.initial_credits = initial_credits,
	};

	return p;
}

/* Options with a small default policy and capacity, for tests. */
static inline struct credlimit_options unit_options(uint32_t max_requests,
						    uint64_t window_ns,
						    uint32_t max_credits,
						    uint32_t initial_credits,
						    uint64_t capacity)
{
	struct credlimit_options o;

	credlimit_options_init(&o);
	o.default_policy.max_requests = max_requests;
	o.default_policy.window_ns = window_ns;
	o.default_policy.max_credits = max_credits;
	o.default_policy.initial_credits = initial_credits;
	o.initial_capacity = capacity;
	return o;
}

#endif /* CREDLIMIT_TESTS_UNIT_H */
