/*
 * state.c - an entry's state word as the algorithm sees it, and counters
 *
 * The state word counts windows in the length registered under its
 * window id (lib/policy.c), so decoding it needs the control segment, and
 * the id of a corrupt entry is checked there before it is used.
 */
#include <errno.h>

#include <urcu/uatomic.h>

#include "grow.h"
#include "handle.h"
#include "lease/entry.h"
#include "shm/pidlock.h"
#include "state.h"

int cl_state_decode(const struct credlimit *cl, struct cl_state_word w,
		    struct cl_algo_state *s)
{
	unsigned wid = cl_state_wid(w.hi);

	s->window = cl_state_window(w.hi);
	s->used = cl_state_used(w.lo);
	s->credits = cl_state_credits(w.lo);
	s->window_ns = 0;
	if (wid == 0)
		return 0;
	return cl_window_length(cl, wid, &s->window_ns);
}

struct cl_state_word cl_state_encode(const struct cl_algo_state *s,
				     unsigned wid, struct cl_state_word old)
{
	unsigned old_wid = cl_state_wid(old.hi);
	unsigned gen = cl_state_gen(old.hi);
	struct cl_state_word w;

	if (old_wid != 0 && old_wid != wid)
		gen++;
	w.lo = cl_state_make_lo(s->used, s->credits);
	w.hi = cl_state_make_hi(s->window, wid, gen, CL_STATE_LIVE);
	return w;
}

struct cl_state_word cl_state_fresh_after(struct cl_state_word old)
{
	struct cl_state_word w = {
		.lo = 0,
		.hi = cl_state_make_hi(0, 0, cl_state_gen(old.hi) + 1,
				       CL_STATE_LIVE),
	};

	return w;
}

int cl_entry_policy(uint64_t meta)
{
	int assigned = cl_meta_override(meta);

	return assigned >= 0 ? assigned : (int)cl_meta_last_policy(meta);
}

/*
 * Eviction and compaction of a lease cache entry.  An entry with no units
 * loses nothing but its lease size.  Units of a window that ended two
 * windows ago are worth nothing either, since Redis takes back only those
 * of the window just before its current one.  An entry whose units are
 * still returnable waits for a sweep to return them.
 */
static enum cl_victim_class classify_lease(const struct credlimit *cl,
					   struct cl_state_word state,
					   uint64_t now_ns)
{
	unsigned fetcher = cl_lease_fetcher(state.lo);
	unsigned wid = cl_state_wid(state.hi);
	uint64_t window_ns;

	if (fetcher != 0 && cl_pid_alive(fetcher))
		return CL_VICTIM_NONE;
	if (wid == 0 || cl_lease_units(state.lo) == 0)
		return CL_VICTIM_FRESH;
	if (cl_window_length(cl, wid, &window_ns) < 0)
		return CL_VICTIM_NONE;
	if (now_ns / window_ns >= cl_state_window(state.hi) + 2)
		return CL_VICTIM_FRESH;
	return CL_VICTIM_NONE;
}

enum cl_victim_class cl_classify_victim(void *context, uint64_t meta,
					struct cl_state_word state,
					uint64_t last_seen_ns, uint64_t now_ns)
{
	const struct credlimit *cl = context;
	struct cl_params params;
	struct cl_algo_state s;
	uint64_t window_ns;

	/* In a lease cache the per-key policy only mirrors Redis's
	 * assignment, which Redis keeps; in a limiter it is the operator's
	 * and must stay. */
	if (cl->kind == CL_KIND_LEASE)
		return classify_lease(cl, state, now_ns);
	if (cl_meta_override(meta) >= 0)
		return CL_VICTIM_NONE;

	if (cl_state_decode(cl, state, &s) < 0)
		return CL_VICTIM_NONE;
	if (s.window_ns == 0)
		return CL_VICTIM_FRESH;
	if (cl_policy_read(cl, (int)cl_meta_last_policy(meta), &params) < 0)
		return CL_VICTIM_NONE;
	if (cl_algo_is_fresh_equivalent(&params.policy, &s, now_ns))
		return CL_VICTIM_FRESH;

	/* Idle for two whole windows of its own length: by its stored
	 * window, and by its last decision. */
	window_ns = s.window_ns;
	if (now_ns / window_ns >= s.window + 2 && now_ns >= last_seen_ns &&
	    now_ns - last_seen_ns >= 2 * window_ns)
		return CL_VICTIM_IDLE;
	return CL_VICTIM_NONE;
}

void cl_count_events(struct credlimit *cl, unsigned events)
{
	struct cl_stripe *st;

	if (events == 0)
		return;
	st = cl_stripe_of_thread(cl);
	if (events & CL_SLOT_INSERTED)
		uatomic_inc(&st->inserts);
	if (events & CL_SLOT_EVICTED) {
		uatomic_inc(&st->evictions);
		uatomic_inc(&st->removals);
	}
	if (events & CL_SLOT_RECOVERED)
		uatomic_inc(&st->recoveries);
}
