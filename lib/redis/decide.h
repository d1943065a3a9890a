/*
 * decide.h - running the decision script, for decide.c and admin.c
 */
#ifndef CREDLIMIT_REDIS_DECIDE_H
#define CREDLIMIT_REDIS_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credlimit.h"

struct cl_redis;
struct credlimit;

/* A decision's result and the state the script stored. */
struct cl_redis_decision {
	struct credlimit_result result;
	uint32_t used;   /* base requests used in the window */
	uint32_t spent;  /* credits the request used */
	uint64_t window; /* window index, in the policy's window length */
};

/*
 * Runs the decision script in mode 'd' (decide a cost), 'p' (peek), 's'
 * (set credits to amount) or 'r' (reset) on key, starting with policy,
 * at *now_ns, or at Redis TIME when now_ns is NULL.  Called with st->lock
 * held.  Returns 0, -ENOENT (no such policy; for 'r', no such key),
 * -ERANGE (credits above max_credits), -EBUSY, or an error for which
 * cl_redis_unavailable() is true.
 */
int cl_redis_run(struct cl_redis *st, char mode, int policy, const void *key,
		 size_t key_len, uint64_t amount, const uint64_t *now_ns,
		 struct cl_redis_decision *out);

/*
 * Checks the key (and, when change is true, that the handle may write),
 * then runs cl_redis_run() under the handle's lock with the policy the
 * key names itself, at now_ns (CREDLIMIT_NOW: Redis TIME).
 */
int cl_redis_run_locked(struct credlimit *cl, bool change, char mode,
			const void *key, size_t key_len, uint64_t amount,
			uint64_t now_ns, struct cl_redis_decision *out);

/* Returns true for the errors of an unreachable, slow or failing Redis. */
bool cl_redis_unavailable(int err);

int cl_redis_decide(struct credlimit *cl, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns,
		    struct credlimit_result *result);
int cl_redis_peek(struct credlimit *cl, const void *key, size_t key_len,
		  uint64_t now_ns, struct credlimit_result *result);

#endif /* CREDLIMIT_REDIS_DECIDE_H */
