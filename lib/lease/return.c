/*
 * return.c - giving leased units back to Redis
 *
 * Units go back in four ways: with the next lease of the same key (the
 * claim in decide.c takes them out), by the sweep that decisions run in
 * small steps, by credlimit_lease_return(), and at close.  A sweep takes
 * the units out of an entry by compare-and-swap before it sends them, so
 * each unit is returned at most once however many processes sweep.
 *
 * A return passes Redis the start of the window the units were charged
 * in as its time.  Redis judges an older time in the window it stores,
 * so a return never moves a customer's window forward, and the lease
 * script accepts the units in full while that window lasts, capped after
 * it, and not at all once a second window has begun.
 */
#include <errno.h>
#include <string.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "backend.h"
#include "handle.h"
#include "lease/entry.h"
#include "lease/lease.h"
#include "locate.h"
#include "log.h"
#include "redis/lease.h"
#include "state.h"

/* Units taken out of one entry, to return to Redis after the pass. */
#define RETURN_BATCH 32

struct held_units {
	uint8_t key[CREDLIMIT_KEY_INLINE_MAX];
	size_t key_len;
	int local_id;
	uint64_t units;
	uint64_t window;
	uint64_t window_ns;
};

uint64_t cl_lease_give_back(struct cl_lease *st, int policy,
			    const void *key, size_t key_len, uint64_t units,
			    uint64_t window, uint64_t window_ns)
{
	struct cl_stripe *stripe = cl_stripe_of_thread(st->local);
	struct cl_redis_lease_request req = { 0 };
	struct cl_redis_lease_reply rep;
	uint64_t start = window * window_ns;
	int err;

	req.policy = policy;
	req.refund = units;
	req.refund_window = window;
	req.refund_window_ns = window_ns;
	req.now_ns = &start;

	err = cl_redis_lease_locked(st->upstream, key, key_len, &req, &rep);
	uatomic_inc(&stripe->lease_returns);
	if (err < 0) {
		/* -ENOENT: the customer expired or was reset in Redis,
		 * which gave it more than these units. */
		uatomic_add(&stripe->lease_units_lost, units);
		if (err != -ENOENT)
			cl_log(st->outer, CREDLIMIT_LOG_WARNING,
			       "returning %llu leased units to Redis failed "
			       "(%s): they stay charged until their window "
			       "ends",
			       (unsigned long long)units,
			       credlimit_strerror(err));
		return 0;
	}
	uatomic_add(&stripe->lease_units_returned, rep.refunded);
	uatomic_add(&stripe->lease_units_lost, units - rep.refunded);
	return rep.refunded;
}

/*
 * Takes the units out of slot `index` of t when they are due back: idle
 * for min_idle_ns (0: any), or of a window that ended before now_ns.
 * Returns true with *out filled when it took some.
 */
static bool take_due(struct credlimit *local, struct cl_table_map *t,
		     uint64_t index, uint64_t now_ns, uint64_t min_idle_ns,
		     struct held_units *out)
{
	struct cl_entry *e = &t->entries[index];
	struct cl_state_word state, next;
	uint64_t meta, last_seen, key[4];
	bool ended, idle;

	if (!cl_table_snapshot(t, index, &meta, &state, key, &last_seen))
		return false;
	if (cl_meta_status(meta) != CL_SLOT_READY || cl_meta_hashed(meta) ||
	    cl_state_flags(state.hi) != CL_STATE_LIVE ||
	    cl_state_wid(state.hi) == 0 || cl_lease_units(state.lo) == 0)
		return false;
	if (cl_window_length(local, cl_state_wid(state.hi), &out->window_ns) < 0)
		return false;

	out->window = cl_state_window(state.hi);
	ended = now_ns / out->window_ns > out->window;
	idle = min_idle_ns == 0 ||
	       (now_ns >= last_seen && now_ns - last_seen >= min_idle_ns);
	if (!ended && !idle)
		return false;

	/* Same slot generation after the swap: the key read with the
	 * snapshot is still this entry's. */
	next = state;
	next.lo &= ~(uint64_t)UINT32_MAX;
	if (!cl_state_cas(e, &state, next))
		return false;

	out->units = cl_lease_units(state.lo);
	out->key_len = cl_meta_len(meta);
	out->local_id = cl_entry_policy(meta);
	memcpy(out->key, key, out->key_len);
	return true;
}

int64_t cl_lease_sweep(struct cl_lease *st, uint64_t now_ns,
		       uint64_t min_idle_ns, uint64_t start, uint64_t count,
		       uint64_t *next)
{
	struct cl_stripe *stripe = cl_stripe_of_thread(st->local);
	struct held_units batch[RETURN_BATCH];
	uint64_t index = start, scanned = 0, limit = count;
	int64_t returned = 0;
	int err;

	*next = start;
	err = cl_view_refresh(st->local);
	if (err < 0)
		return err;

	for (;;) {
		struct cl_table_map *t;
		struct cl_view *view;
		int n = 0;

		rcu_read_lock();
		view = cl_view_enter(st->local);
		if (view == NULL) {
			rcu_read_unlock();
			err = cl_view_refresh(st->local);
			if (err < 0)
				return err;
			continue;
		}
		t = &view->current->table;
		if (limit == 0 || limit > t->capacity)
			limit = t->capacity;
		while (n < RETURN_BATCH && scanned < limit) {
			if (index >= t->capacity)
				index = 0;
			if (take_due(st->local, t, index, now_ns, min_idle_ns,
				     &batch[n]))
				n++;
			index++;
			scanned++;
		}
		rcu_read_unlock();

		for (int i = 0; i < n; i++) {
			struct held_units *u = &batch[i];
			int policy;

			policy = cl_lease_upstream_policy(st, u->local_id);
			if (policy < 0) {
				uatomic_add(&stripe->lease_units_lost, u->units);
				continue;
			}
			returned += (int64_t)cl_lease_give_back(
				st, policy, u->key, u->key_len, u->units,
				u->window, u->window_ns);
		}
		if (scanned >= limit)
			break;
	}

	*next = index;
	return returned;
}

/* Takes the units out of a located entry for cl_lease_return_key(). */
static int take_key_change(struct credlimit *cl, struct cl_located *loc,
			   void *arg)
{
	struct cl_state_word current = loc->slot.state;
	struct held_units *out = arg;

	for (;;) {
		struct cl_state_word next = current;
		unsigned wid = cl_state_wid(current.hi);

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		out->units = cl_lease_units(current.lo);
		if (wid == 0 || out->units == 0)
			return 0;
		if (cl_window_length(cl, wid, &out->window_ns) < 0)
			return -EBADMSG;
		out->window = cl_state_window(current.hi);
		out->local_id = cl_entry_policy(loc->slot.meta);
		next.lo &= ~(uint64_t)UINT32_MAX;
		if (cl_state_cas(loc->slot.entry, &current, next))
			return 0;
	}
}

void cl_lease_return_key(struct cl_lease *st, const void *key,
			 size_t key_len)
{
	struct held_units u = { 0 };
	struct cl_key k;
	int policy;

	if (key_len > CREDLIMIT_KEY_INLINE_MAX)
		return; /* such keys never hold units */
	cl_key_prepare(&k, st->local->secret, key, key_len);
	if (cl_with_entry(st->local, &k, CL_LOCATE_WRITE, 0, 0,
			  take_key_change, &u) < 0 ||
	    u.units == 0)
		return;

	policy = cl_lease_upstream_policy(st, u.local_id);
	if (policy < 0) {
		uatomic_add(&cl_stripe_of_thread(st->local)->lease_units_lost,
			    u.units);
		return;
	}
	cl_lease_give_back(st, policy, key, key_len, u.units, u.window,
			   u.window_ns);
}

int64_t credlimit_lease_return(credlimit_t *cl, uint64_t now_ns,
			       uint64_t min_idle_ns)
{
	struct cl_lease *st;
	uint64_t next;
	bool known;

	if (cl == NULL || cl->backend != &cl_lease_backend)
		return -EINVAL;
	st = cl->backend_state;
	if (st->rdonly)
		return -EROFS;
	return cl_lease_sweep(st, cl_lease_time(st->local, now_ns, &known),
			      min_idle_ns, 0, 0, &next);
}
