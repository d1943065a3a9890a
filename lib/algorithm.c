/*
 * algorithm.c - the credit algorithm on one customer's state
 *
 * State (w, u, c) under a policy (R, W, C, I):
 *
 *   new customer      (floor(t / W), 0, I)
 *   window roll       when floor(t / W) = w' > w:
 *                       c = min(C, c + (R - u) + (w' - w - 1) * R),
 *                       w = w', u = 0
 *   stale time        when floor(t / W) < w the request is judged at
 *                     t = w * W: the window never moves back
 *   decision, cost k  k <= R - u           allow, u += k
 *                     k <= (R - u) + c     allow, c -= k - (R - u), u = R
 *                     k > R + C            deny, never fits, store nothing
 *                     otherwise            deny, charge nothing
 *
 * The roll is stored whatever the verdict, except for a cost that can never
 * fit: that is bad input and changes nothing.  Equivalently the customer has
 * a token bucket of capacity R + C that gains R tokens at each window
 * boundary; over any interval of length W at most 2R + C requests pass.
 *
 * Policy changes.  Counts are clamped to the current R and C.  When the
 * stored window was counted in another window length, it becomes the window
 * of the new length that contains its start, then rolls as usual.
 *
 * Arithmetic on counts and times is done in 128 bits, so nothing overflows:
 * a sum of credits saturates at C, a time at UINT64_MAX.
 */
#include "algorithm.h"

typedef unsigned __int128 u128;

static uint64_t saturate_u64(u128 value)
{
	return value > UINT64_MAX ? UINT64_MAX : (uint64_t)value;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * floor(now_ns / W) for a state that counts in W, without the division
 * when now_ns still falls in the stored window (most decisions do, and a
 * 64-bit division costs tens of cycles).
 */
static uint64_t window_index(const struct cl_algo_state *s, uint64_t now_ns)
{
	u128 start = (u128)s->window * s->window_ns;

	if (start <= now_ns && now_ns - (uint64_t)start < s->window_ns)
		return s->window;
	return now_ns / s->window_ns;
}

/* cl_algo_roll(), inlined into cl_algo_decide() so that the state stays
 * in registers. */
static inline void roll(const struct credlimit_policy *p,
			struct cl_algo_state *s, uint64_t now_ns)
{
	uint64_t now_window;

	if (s->window_ns == 0) {
		s->window = now_ns / p->window_ns;
		s->window_ns = p->window_ns;
		s->used = 0;
		s->credits = p->initial_credits;
		return;
	}

	if (s->window_ns != p->window_ns) {
		/* w * W_old is the start of the stored window; it does not
		 * overflow because it was once floor(t / W_old) * W_old <= t. */
		u128 start = (u128)s->window * s->window_ns;

		s->window = (uint64_t)(start / p->window_ns);
		s->window_ns = p->window_ns;
	}

	s->used = min_u32(s->used, p->max_requests);
	s->credits = min_u32(s->credits, p->max_credits);

	now_window = window_index(s, now_ns);
	if (now_window > s->window) {
		u128 gained = (u128)(p->max_requests - s->used) +
			      (u128)(now_window - s->window - 1) *
				      p->max_requests;
		u128 credits = (u128)s->credits + gained;

		s->credits = credits > p->max_credits ? p->max_credits
						      : (uint32_t)credits;
		s->window = now_window;
		s->used = 0;
	}
}

/*
 * Wait, after a denial, until `cost` fits if no other request comes:
 * the end of the current window plus (m - 1) windows, m being the smallest
 * m >= 1 with cost <= R + min(C, c + (R - u) + (m - 1) * R).  The caller
 * has checked cost <= R + C, so the cap never decides m.
 */
void cl_algo_roll(const struct credlimit_policy *p, struct cl_algo_state *s,
		  uint64_t now_ns)
{
	roll(p, s, now_ns);
}

static uint64_t retry_after(const struct credlimit_policy *p,
			    const struct cl_algo_state *s, uint64_t cost,
			    uint64_t reset_after)
{
	u128 have = (u128)p->max_requests + s->credits +
		    (p->max_requests - s->used);
	u128 extra_windows = 0;

	if (cost > have) {
		u128 missing = cost - have;

		extra_windows = (missing + p->max_requests - 1) /
				p->max_requests;
	}

	return saturate_u64((u128)reset_after + extra_windows * p->window_ns);
}

bool cl_algo_decide(const struct credlimit_policy *p,
		    struct cl_algo_state *state, uint64_t now_ns, uint64_t cost,
		    struct credlimit_result *result, uint32_t *credits_spent)
{
	struct cl_algo_state s = *state;
	uint64_t base_left;
	uint64_t window_start;
	uint64_t effective_now;
	uint32_t spent = 0;
	bool store = true;

	roll(p, &s, now_ns);

	/* A stale or backwards time is judged at the start of the stored
	 * window, which cl_algo_roll() left in place. */
	window_start = saturate_u64((u128)s.window * p->window_ns);
	effective_now = now_ns > window_start ? now_ns : window_start;
	result->reset_after_ns = saturate_u64((u128)window_start +
					      p->window_ns - effective_now);

	base_left = p->max_requests - s.used;
	if ((u128)cost > (u128)p->max_requests + p->max_credits) {
		result->verdict = CREDLIMIT_DENIED_NEVER;
		result->retry_after_ns = CREDLIMIT_NEVER;
		store = false;
	} else if (cost <= base_left) {
		result->verdict = CREDLIMIT_ALLOWED;
		result->retry_after_ns = 0;
		s.used += (uint32_t)cost;
	} else if (cost <= base_left + s.credits) {
		result->verdict = CREDLIMIT_ALLOWED;
		result->retry_after_ns = 0;
		spent = (uint32_t)(cost - base_left);
		s.credits -= spent;
		s.used = p->max_requests;
	} else {
		result->verdict = CREDLIMIT_DENIED;
		result->retry_after_ns =
			retry_after(p, &s, cost, result->reset_after_ns);
	}

	result->limit = p->max_requests;
	result->credits = s.credits;
	result->remaining = (uint64_t)(p->max_requests - s.used) + s.credits;
	result->window_ns = p->window_ns;

	if (credits_spent != NULL)
		*credits_spent = spent;
	if (store)
		*state = s;
	return store;
}

bool cl_algo_is_fresh_equivalent(const struct credlimit_policy *p,
				 const struct cl_algo_state *state,
				 uint64_t now_ns)
{
	struct cl_algo_state s = *state;

	if (s.window_ns == 0)
		return true;

	/* A kept entry gains R credits per idle window up to C, while a new
	 * one starts at I: they agree now and later only when nothing is
	 * used and c = I = C. */
	cl_algo_roll(p, &s, now_ns);
	return s.used == 0 && s.credits == p->max_credits &&
	       p->initial_credits == p->max_credits;
}
