/*
 * pidlock.h - a lock word in shared memory that survives its holder's death
 *
 * Used only off the decision path: to change policies and to evict an
 * entry.  The word holds the holder's pid, 0 when free.  A waiter that sees
 * the holder gone (kill(pid, 0) fails with ESRCH) takes the lock over, so a
 * process killed while holding it delays others by at most one liveness
 * check.  All processes sharing a limiter must share one PID namespace.
 */
#ifndef CREDLIMIT_SHM_PIDLOCK_H
#define CREDLIMIT_SHM_PIDLOCK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Takes the lock for the calling process, waiting up to timeout_ns.
 * Returns 0, 1 when the lock was taken over from a dead holder, or -EBUSY
 * when a live holder kept it past the timeout.
 */
int cl_pidlock_acquire(uint64_t *word, uint64_t timeout_ns);

/* Releases a lock taken by cl_pidlock_acquire(). */
void cl_pidlock_release(uint64_t *word);

/* Returns true when pid names a live process (or one we may not signal). */
bool cl_pid_alive(uint64_t pid);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t cl_monotonic_ns(void);

/*
 * Waits a little, getting longer with each call of a waiting loop: spins
 * first, then yields the processor.  `round` counts from 0.
 */
void cl_backoff(unsigned round);

/* A live process may keep a slot claimed or evicting, or a lock, this
 * long before a waiter gives up with -EBUSY. */
#define CL_OWNER_TIMEOUT_NS UINT64_C(1000000000)

/* Bounded waiting on something owned by another process; zero it before
 * the first wait. */
struct cl_wait {
	uint64_t deadline;
	unsigned round;
};

/*
 * Waits one round for process `pid` to finish with what it owns.  Returns
 * 0 after waiting, 1 when the owner no longer exists, -EBUSY once
 * CL_OWNER_TIMEOUT_NS has passed since the first liveness check.
 */
int cl_wait_for_owner(struct cl_wait *w, uint64_t pid);

#endif /* CREDLIMIT_SHM_PIDLOCK_H */
