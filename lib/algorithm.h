/*
 * algorithm.h - the credit algorithm on one customer's state
 *
 * Pure functions on values: no shared memory, no clock, no allocation.
 * The table code loads an entry's state, calls cl_algo_decide() and stores
 * the result with a compare-and-swap; the tests call it directly.
 */
#ifndef CREDLIMIT_ALGORITHM_H
#define CREDLIMIT_ALGORITHM_H

#include <stdbool.h>
#include <stdint.h>

#include "credlimit.h"

/*
 * A customer's state (w, u, c).  window_ns is the window length that the
 * index `window` counts in: it differs from the policy's when the policy's
 * window changed since the last decision, and it is 0 for a customer that
 * has no state yet (new, or reset).
 */
struct cl_algo_state {
	uint64_t window;    /* window index, floor(t / window_ns) */
	uint64_t window_ns; /* 0: fresh customer */
	uint32_t used;      /* u: base requests counted in this window */
	uint32_t credits;   /* c: stored credits */
};

/*
 * Decides a request of `cost` at time now_ns under policy p, which must be
 * valid (credlimit_policy_validate()).  Updates *state to the value to
 * store and fills every field of *result except policy and flags; when
 * credits_spent is not NULL, stores the credits the request used.
 * Returns true when *state must be stored: false only for
 * CREDLIMIT_DENIED_NEVER, which changes nothing.
 */
bool cl_algo_decide(const struct credlimit_policy *p,
		    struct cl_algo_state *state, uint64_t now_ns, uint64_t cost,
		    struct credlimit_result *result, uint32_t *credits_spent);

/*
 * Brings *state to the window of now_ns under p without deciding anything:
 * applies a fresh start, a window-length change, clamping and the window
 * roll, exactly as the first steps of cl_algo_decide().
 */
void cl_algo_roll(const struct credlimit_policy *p, struct cl_algo_state *state,
		  uint64_t now_ns);

/* Returns true when *state, rolled to now_ns, equals the state of a new
 * customer under p: dropping it would change nothing. */
bool cl_algo_is_fresh_equivalent(const struct credlimit_policy *p,
				 const struct cl_algo_state *state,
				 uint64_t now_ns);

#endif /* CREDLIMIT_ALGORITHM_H */
