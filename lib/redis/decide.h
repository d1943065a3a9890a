/*
 * decide.h - running the decision script, for decide.c, admin.c and lease.c
 */
#ifndef CREDLIMIT_REDIS_DECIDE_H
#define CREDLIMIT_REDIS_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credlimit.h"

struct cl_redis;
struct cl_reply;
struct credlimit;

/* Costs and counts above this are all above R + C, and decide the same. */
#define CL_REDIS_COUNT_CLAMP (UINT64_C(1) << 40)

/* A decision's result and the state the script stored. */
struct cl_redis_decision {
	struct credlimit_result result;
	uint32_t used;   /* base requests used in the window */
	uint32_t spent;  /* credits the request used */
	uint64_t window; /* window index, in the policy's window length */
};

/*
 * Sends the decision script in `mode` on key with the numbers of *policy,
 * amount (clamped to CL_REDIS_COUNT_CLAMP), the time *now_ns (Redis TIME
 * when now_ns is NULL), and extra_count more arguments after the nine
 * every mode takes.  When the key's assigned policy differs, sends it
 * again under that one, at most four times in all.  Called with st->lock
 * held.  On success returns 0, sets *policy to the policy of the last
 * call, and stores its reply in *reply, which the caller frees with
 * cl_reply_free().  That reply has code 0, 2 or 3, or is one the caller
 * must reject as -EPROTO.  Else returns
 * -EINVAL (too many arguments), -ENOENT (no such policy), -EBUSY (still
 * redirected after four calls), or an error for which
 * cl_redis_unavailable() is true.
 */
int cl_redis_script_run(struct cl_redis *st, char mode, int *policy,
			const void *key, size_t key_len, uint64_t amount,
			const uint64_t *now_ns, int extra_count,
			const char *const *extra, struct cl_reply **reply);

/*
 * Fills *out from a decision script reply of code 0 that has exactly
 * `elements` elements, the first nine those of a decision, under the
 * policy applied.  Returns 0, or -EPROTO (logged) for a reply of another
 * length or with values out of range.
 */
int cl_redis_parse_decision(struct cl_redis *st, const struct cl_reply *reply,
			    size_t elements, int policy,
			    struct cl_redis_decision *out);

/* Parses a non-negative integer reply, or a decimal string of one, into
 * *out.  Returns false for anything else or a value above UINT64_MAX. */
bool cl_redis_reply_u64(const struct cl_reply *reply, uint64_t *out);

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

/*
 * Decides a request of `cost` by the handle's on_error action after Redis
 * failed with `cause`, as credlimit_acquire_at() does then: deny, allow
 * untracked, or decide on the local limiter.  upstream must be a handle
 * opened on a Redis URI.  Takes the handle's lock.  The result carries
 * CREDLIMIT_RESULT_FALLBACK and is counted in credlimit_stats().  Returns
 * 0, -EINVAL (not a Redis handle, result or key NULL, or key empty),
 * -E2BIG (key too long), or an error of the local limiter.
 */
int cl_redis_fallback(credlimit_t *upstream, int policy, const void *key,
		      size_t key_len, uint64_t cost, uint64_t now_ns, int cause,
		      struct credlimit_result *result);

int cl_redis_decide(struct credlimit *cl, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns,
		    struct credlimit_result *result);
int cl_redis_peek(struct credlimit *cl, const void *key, size_t key_len,
		  uint64_t now_ns, struct credlimit_result *result);

#endif /* CREDLIMIT_REDIS_DECIDE_H */
