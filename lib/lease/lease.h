/*
 * lease.h - limiters that lease capacity from Redis in batches
 *
 * A handle opened with a Redis upstream ("shm:NAME?lease=32&upstream=
 * redis://...", or credlimit_options.upstream) keeps two inner handles:
 * the lease cache, a shared-memory table of kind CL_KIND_LEASE that all
 * processes of the host share, and the upstream Redis handle.  Every
 * public function reaches the functions below through cl_lease_backend.
 *
 * A decision spends units leased to this host for the key (decide.c).
 * When they run out, one process takes the next lease from Redis with the
 * lease script, which charges the whole batch as one request of that cost.
 * The others wait for it up to lease_wait_us, then take their own.  Unused units go back (return.c) with the next
 * lease of the key, when their window has ended, after lease_idle_ms
 * without a decision, and at close.
 *
 * Per-process state: the maps between upstream and local policy ids, and
 * the cursor of the background sweep, guarded by `lock`, which fork()
 * takes in every open handle (open.c) so that a child never inherits it
 * held.  No thread waits for a Redis handle's lock while it holds this one.
 * Everything shared lives in the lease cache's segments.
 */
#ifndef CREDLIMIT_LEASE_H
#define CREDLIMIT_LEASE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "credlimit.h"
#include "policy.h"

struct credlimit;

struct cl_lease_config {
	char name[CREDLIMIT_NAME_MAX + 1]; /* the lease cache's name */
	char *upstream;                     /* Redis URI, allocated */
	uint32_t lease_max;                 /* units, 1 .. CREDLIMIT_LEASE_MAX */
	unsigned exponent_max;              /* floor(log2(lease_max)) */
	uint64_t idle_ns;                   /* return after this idle time */
	uint64_t wait_ns;                   /* wait for another's lease */
};

struct cl_lease {
	struct cl_lease_config config;
	struct credlimit *outer; /* the handle, for logging */
	credlimit_t *local;      /* lease cache, kind CL_KIND_LEASE */
	credlimit_t *upstream;   /* Redis */
	bool rdonly;

	pthread_mutex_t lock; /* the fields below */
	/* Local policy id of each upstream id, and the reverse; -1 while
	 * this process has not mirrored it.  Written under the lock, read
	 * without it on the fast path, both with relaxed atomics: a stale
	 * value only sends a decision to the slow path. */
	int local_of[CREDLIMIT_POLICY_MAX];
	int upstream_of[CREDLIMIT_POLICY_MAX];
	/* Next slot the decisions' sweep examines, and the time before
	 * which no decision of this process sweeps (lease cache time). */
	uint64_t sweep_cursor;
	uint64_t sweep_at_ns;

	struct cl_lease *next_open; /* list of open handles, for fork() */
};

/* open.c */
int cl_lease_open(const char *name, unsigned flags,
		  const struct credlimit_options *options, credlimit_t **out);
extern const struct cl_backend cl_lease_backend;
/* The lease cache of a lease handle, or NULL for another handle. */
struct credlimit *cl_lease_cache(struct credlimit *cl);

/*
 * Returns the local id mirroring upstream policy `policy`, defining or
 * updating it in the lease cache when this process has not seen it or
 * its numbers changed in Redis, and fills *params with its numbers.
 * Takes st->lock and the upstream's lock.  Returns the id, -ENOENT (no
 * such policy upstream), or an error of either handle.
 */
int cl_lease_mirror_policy(struct cl_lease *st, int policy,
			   struct cl_params *params);

/*
 * Mirrors again every policy this process has mirrored, so that a change
 * of its numbers in Redis reaches the lease cache.  The upstream reads
 * the policies from Redis when its copy is older than policy_refresh_ms.
 * Stops at the first failure to reach Redis.
 */
void cl_lease_mirror_all(struct cl_lease *st);

/* Returns the upstream id of local policy `local_id`, mirroring it by
 * name when this process has not.  -ENOENT when Redis lacks it. */
int cl_lease_upstream_policy(struct cl_lease *st, int local_id);

/* decide.c */
int cl_lease_decide(struct credlimit *cl, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns,
		    struct credlimit_result *result);

/*
 * Returns the time a lease cache decides at: now_ns when the caller passed
 * one, else CLOCK_MONOTONIC plus the cache's offset to Redis TIME.  *known
 * is false while no lease has set that offset yet.
 */
uint64_t cl_lease_time(const struct credlimit *local, uint64_t now_ns,
		       bool *known);

/* return.c */
/*
 * Gives `units` charged in window `window` (of window_ns) back to Redis
 * for key under upstream policy `policy`, one return-only round trip.
 * Counts the round trip and the units taken back or lost, and returns
 * the units taken back.
 */
uint64_t cl_lease_give_back(struct cl_lease *st, int policy,
			    const void *key, size_t key_len, uint64_t units,
			    uint64_t window, uint64_t window_ns);

/*
 * Returns the units of up to `count` slots of the current table from slot
 * `start` on (count 0: all) that are idle for min_idle_ns or whose window
 * ended before lease cache time now_ns.  Returns the units Redis took
 * back, or a negative error of the local table; *next receives the slot
 * after the last one examined.
 */
int64_t cl_lease_sweep(struct cl_lease *st, uint64_t now_ns,
		       uint64_t min_idle_ns, uint64_t start, uint64_t count,
		       uint64_t *next);

/* Returns the units that key holds on this host to Redis, if any. */
void cl_lease_return_key(struct cl_lease *st, const void *key,
			 size_t key_len);

/* Sums the units held by the entries of a lease cache's current table. */
uint64_t cl_lease_units_held(struct credlimit *local);

#endif /* CREDLIMIT_LEASE_H */
