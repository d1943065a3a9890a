/*
 * lockbase.h - the lock-based baseline of bench-compare
 *
 * The baseline runs the same credit algorithm (cl_algo_decide) on the same
 * table layout as credlimit: 64-byte entries, SipHash-1-3 of the key,
 * linear probing over at most CL_PROBE_MAX slots, the key stored in the
 * entry, and an insert on a miss.  Every decision is made under one
 * process-shared, robust pthread mutex that guards the whole segment, the
 * design that credlimit's lock-free decisions replace.  Written for the
 * benchmark only, it has one policy and never evicts.
 */
#ifndef BENCH_LOCKBASE_H
#define BENCH_LOCKBASE_H

#include <stddef.h>
#include <stdint.h>

#include "algorithm.h"
#include "credlimit.h"

struct lockbase_header;
struct cl_entry;

/* A process's view of a baseline segment.  It stays valid in children
 * forked after lockbase_create(). */
struct lockbase {
	struct lockbase_header *header;
	struct cl_entry *entries;
	size_t bytes;  /* of the mapping */
	uint64_t mask; /* capacity - 1 */
};

/*
 * Creates a segment of `capacity` slots (a power of two) under policy,
 * named "/bench-lock-PID-N" and unlinked once mapped, so nothing is left in
 * /dev/shm even when the benchmark dies.  Returns 0 or a negative errno.
 */
int lockbase_create(struct lockbase *lb, uint64_t capacity,
		    const struct credlimit_policy *policy);
void lockbase_destroy(struct lockbase *lb);

/*
 * Decides a request of cost for key at now_ns, as credlimit_acquire_at()
 * does, inserting the key on a miss.  Returns 0, -ENOSPC (no free slot
 * within CL_PROBE_MAX of the home slot) or the error of
 * pthread_mutex_lock(), negated.
 */
int lockbase_acquire(struct lockbase *lb, const void *key, size_t key_len,
		     uint64_t cost, uint64_t now_ns,
		     struct credlimit_result *result);

/* Copies the key's state.  Returns 0, -ENOENT or a lock error. */
int lockbase_lookup(struct lockbase *lb, const void *key, size_t key_len,
		    struct cl_algo_state *state);

/* Returns the number of allowed decisions so far. */
uint64_t lockbase_allowed(const struct lockbase *lb);

#endif /* BENCH_LOCKBASE_H */
