/*
 * worker.h - the decision loop that bench-redis and bench-lease time
 */
#ifndef CREDLIMIT_BENCH_WORKER_H
#define CREDLIMIT_BENCH_WORKER_H

#include <stdint.h>

#include "credlimit.h"
#include "hist.h"

#define SEC UINT64_C(1000000000)

uint64_t bench_monotonic_ns(void);

/*
 * Calls credlimit_acquire() with cost 1 on keys "customer-N", N drawn
 * from [0, keys) by a generator seeded with seed, until the deadline
 * (CLOCK_MONOTONIC), adding each call's time to hist.  Returns 0, or 1
 * when a decision failed, was denied or came from the failure action.
 */
int bench_acquire_worker(credlimit_t *cl, unsigned keys, uint64_t deadline,
			 unsigned seed, struct bench_hist *hist);

#endif /* CREDLIMIT_BENCH_WORKER_H */
