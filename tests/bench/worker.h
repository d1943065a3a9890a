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

/*
 * Forks `processes` workers running bench_acquire_worker() on cl for
 * `seconds`, waits for them, and merges their histograms into *all.
 * Returns 0, or 1 after printing why (as program) when a worker failed or
 * the fork or the shared memory did.
 */
int bench_run_workers(const char *program, credlimit_t *cl, int processes,
		      unsigned keys, unsigned seconds, struct bench_hist *all,
		      uint64_t *elapsed_ns);

#endif /* CREDLIMIT_BENCH_WORKER_H */
