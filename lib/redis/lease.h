/*
 * lease.h - leases: units taken from Redis in batches and spent locally
 *
 * A host takes a lease of several units in one call and spends them on its
 * own requests during the window they were charged in.  It gives back the
 * units it did not spend with its next lease, or with a call that only
 * returns units (want and cost 0).  Redis accepts a refund of the current
 * window in full, up to R + C units left.  Of the window before the last
 * roll it accepts up to the credits those units would have become at that
 * roll, and nothing of older windows, of another window length, or under
 * other numbers than the last stored decision's.  So the units spent never
 * exceed what the algorithm would allow for exactly those requests.  The script's rules are in lib/redis/script.c.
 */
#ifndef CREDLIMIT_REDIS_LEASE_H
#define CREDLIMIT_REDIS_LEASE_H

#include <stddef.h>
#include <stdint.h>

#include "credlimit.h"

struct cl_redis;

struct cl_redis_lease_request {
	int policy;                /* Redis policy id requested */
	uint64_t want;             /* units to take; the grant is at least cost */
	uint64_t cost;             /* units the current request needs */
	uint64_t refund;           /* units given back, 0 for none */
	uint64_t refund_window;    /* window index they were charged in */
	uint64_t refund_window_ns; /* length of that window, ns */
	const uint64_t *now_ns;    /* NULL: Redis TIME */
};

struct cl_redis_lease_reply {
	/* The verdict for cost, as a decision reports it; remaining and
	 * credits count what is left after the grant. */
	struct credlimit_result result;
	uint64_t granted;      /* units charged: >= cost when allowed, else 0 */
	uint64_t window;       /* window index the grant counts in */
	uint64_t redis_now_ns; /* time the script used */
	uint64_t refunded;     /* units of the refund Redis accepted */
	uint32_t spent;        /* credits the grant used */
};

/*
 * Refunds req->refund units, then takes min(max(want, cost), T) units of
 * the T left on key when cost fits, under req->policy or the key's
 * assigned policy (result.policy names the one applied).  A call with
 * want and cost 0 only returns units.  Called with st->lock held, like
 * cl_redis_run(); counts nothing in credlimit_stats().  Returns 0 or
 * -ENOENT: no such policy, or a call that only returns units on a key
 * without state, which it does not create.  Else -EBUSY (the key's
 * assigned policy kept changing), -EPROTO (a reply out of range), or
 * another error for which cl_redis_unavailable() is true.
 */
int cl_redis_lease(struct cl_redis *st, const void *key, size_t key_len,
		   const struct cl_redis_lease_request *req,
		   struct cl_redis_lease_reply *out);

/*
 * Checks the arguments, takes the lock of upstream, a handle opened on a
 * Redis URI, and runs cl_redis_lease() on it.  Returns its errors, and
 * -EINVAL (not a Redis handle, or a NULL or empty argument), -E2BIG (key
 * too long) or -EROFS (handle opened read-only).
 */
int cl_redis_lease_locked(credlimit_t *upstream, const void *key,
			  size_t key_len,
			  const struct cl_redis_lease_request *req,
			  struct cl_redis_lease_reply *out);

/*
 * Returns a nonzero digest naming the customers a Redis handle reaches:
 * its mode, database, prefix and servers (for a cluster, not its seeds).
 * A lease cache records the digest of its upstream, so that units leased
 * from one Redis are never spent or returned against another.
 */
uint64_t cl_redis_identity(const credlimit_t *upstream);

#endif /* CREDLIMIT_REDIS_LEASE_H */
