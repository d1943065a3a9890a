/*
 * worker.c - the decision loop that bench-redis and bench-lease time
 */
#include <stdio.h>
#include <time.h>

#include "credlimit.h"
#include "worker.h"

uint64_t bench_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

int bench_acquire_worker(credlimit_t *cl, unsigned keys, uint64_t deadline,
			 unsigned seed, struct bench_hist *hist)
{
	uint64_t state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;

	while (bench_monotonic_ns() < deadline) {
		struct credlimit_result r;
		char key[32];
		uint64_t start;
		int len;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		len = snprintf(key, sizeof(key), "customer-%u",
			       (unsigned)(state % keys));
		start = bench_monotonic_ns();
		if (credlimit_acquire(cl, key, (size_t)len, 1, &r) < 0 ||
		    r.verdict != CREDLIMIT_ALLOWED ||
		    (r.flags & CREDLIMIT_RESULT_FALLBACK))
			return 1;
		hist_add(hist, bench_monotonic_ns() - start);
	}
	return 0;
}
