/*
 * decide.c - decisions: credlimit_acquire() and friends, and peeks
 *
 * A decision finds (or inserts) the key's entry, then runs one
 * compare-and-swap loop on its 16-byte state word: decode the state, run
 * the pure algorithm (lib/algorithm.c), encode, swap.  A failed swap
 * retries with the value it found.  When the slot was given to another
 * key, or a migration froze it (its slot generation or flags changed),
 * the decision looks the key up again (lib/locate.c).  No lock is held at
 * any point, so a process killed anywhere in here leaves nothing for
 * others to clean up.
 *
 * The lookup runs inside an RCU read-side critical section on this
 * process's view of the table generations (lib/view.c).  After the
 * decision, outside it, the decision may start the table's growth or help
 * a running migration with a bounded step (lib/grow.c).
 *
 * Which policy applies: an operator's per-key assignment, else the policy
 * the caller named.  The state word records the window length it counts
 * in, so a change of policy or of a policy's numbers takes effect at the
 * key's next decision (clamping and window conversion in the algorithm).
 */
#include <errno.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "grow.h"
#include "backend.h"
#include "handle.h"
#include "locate.h"
#include "log.h"
#include "shm/pidlock.h"
#include "state.h"

/* Lookups one call may repeat after stale views and changed slots. */
#define CL_DECIDE_TRIES 10000

/* Internal: the table has no room for a key but grows or may grow. */
#define CL_EGROW 4099

/* Policy applied to an entry: the per-key assignment, else `requested`. */
static int effective_params(const struct credlimit *cl, uint64_t meta,
			    int requested_id, const struct cl_params *requested,
			    struct cl_params *out, int *out_id)
{
	int assigned = cl_meta_override(meta);
	int err;

	if (assigned < 0 || assigned == requested_id) {
		*out = *requested;
		*out_id = requested_id;
		return 0;
	}

	err = cl_policy_read(cl, assigned, out);
	if (err < 0)
		return -EBADMSG;
	*out_id = assigned;
	return 0;
}

/*
 * Runs the compare-and-swap loop of one decision on a found slot.
 * Returns 0, CL_RETRY_LOOKUP or -EBADMSG.
 */
static int decide_on_slot(const struct credlimit *cl, struct cl_slot *slot,
			  const struct cl_params *params, uint64_t cost,
			  uint64_t now_ns, struct credlimit_result *r,
			  uint32_t *spent)
{
	struct cl_state_word current = slot->state;

	for (;;) {
		unsigned gen = cl_state_gen(current.hi);
		struct cl_state_word next;
		struct cl_algo_state s;
		int err;

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;

		err = cl_state_decode(cl, current, &s);
		if (err < 0)
			return err;
		if (!cl_algo_decide(&params->policy, &s, now_ns, cost, r, spent))
			return 0;

		next = cl_state_encode(&s, params->wid, current);
		if (next.lo == current.lo && next.hi == current.hi)
			return 0;
		if (cl_state_cas(slot->entry, &current, next))
			return 0;
		if (cl_state_gen(current.hi) != gen)
			return CL_RETRY_LOOKUP;
	}
}

/* Records the time and policy of a decision; both are advisory, so a
 * lost race is fine. */
static void touch_entry(const struct cl_slot *slot, uint64_t now_ns,
			int policy)
{
	struct cl_entry *e = slot->entry;

	if (CMM_LOAD_SHARED(e->last_seen_ns) < now_ns)
		CMM_STORE_SHARED(e->last_seen_ns, now_ns);

	if (cl_meta_last_policy(slot->meta) != (unsigned)policy) {
		/* Full barrier, unneeded here but part of the swap; it
		 * changes nothing if the slot's meta moved on. */
		uatomic_cmpxchg(&e->meta, slot->meta,
				cl_meta_with_last_policy(slot->meta,
							 (unsigned)policy));
	}
}

static void count_verdict(struct credlimit *cl,
			  const struct credlimit_result *r, uint32_t spent)
{
	struct cl_stripe *st = cl_stripe_of_thread(cl);

	if (r->verdict == CREDLIMIT_ALLOWED) {
		uatomic_inc(&st->allowed);
		if (spent > 0)
			uatomic_add(&st->credits_spent, spent);
	} else {
		uatomic_inc(&st->denied);
	}
}

/*
 * Decides for a key that has no entry and gets none: the request can never
 * fit (nothing is stored for it), or the table has no room (the full-table
 * action applies).  The numbers are those of a new customer.
 */
static void decide_untracked(struct credlimit *cl,
			     const struct cl_params *params, int policy,
			     uint64_t cost, uint64_t now_ns,
			     struct credlimit_result *r)
{
	struct cl_algo_state fresh = { 0 };

	cl_algo_decide(&params->policy, &fresh, now_ns, cost, r, NULL);
	r->policy = policy;
	r->flags = 0;

	if (r->verdict != CREDLIMIT_DENIED_NEVER) {
		uatomic_inc(&cl_stripe_of_thread(cl)->full_events);
		if (cl->full_action == CREDLIMIT_FULL_ALLOW) {
			r->verdict = CREDLIMIT_ALLOWED;
			r->retry_after_ns = 0;
			r->flags = CREDLIMIT_RESULT_UNTRACKED;
		} else {
			r->verdict = CREDLIMIT_DENIED;
			r->retry_after_ns = r->reset_after_ns;
			r->flags = CREDLIMIT_RESULT_FULL;
		}
	}
	count_verdict(cl, r, 0);
}

/* What a decision learned about the table, for the growth hook. */
struct cl_after {
	bool grow;         /* its insert asks for growth */
	uint64_t capacity; /* slots of the table it inserted into */
};

/*
 * Makes room for a key that found none, in a table of `capacity` slots
 * that grows or may grow: starts growth, or helps the migration under
 * way, or waits while another process creates the new table.  Returns
 * CL_EREFRESH to try again, or -ENOSPC (the full-table action then
 * applies) when growth cannot start now or once a second has passed.
 * *deadline starts at 0.
 */
static int wait_for_room(struct credlimit *cl, uint64_t capacity,
			 uint64_t now_ns, uint64_t *deadline, unsigned *round)
{
	uint64_t state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	uint64_t clock_ns = cl_monotonic_ns();
	int err;

	if (*deadline == 0)
		*deadline = clock_ns + CL_OWNER_TIMEOUT_NS;
	else if (clock_ns > *deadline)
		return -ENOSPC;

	if (state == 0) {
		err = cl_grow_doubled(cl, capacity);
		/* Failed, or held off after failures: no room will come. */
		if (err < 0 && err != -EBUSY)
			return -ENOSPC;
	} else {
		cl_grow_step(cl, now_ns);
	}
	cl_backoff((*round)++);
	return CL_EREFRESH;
}

/* Logs a lookup that gave up waiting on a slot held by a live process. */
static void log_busy(const struct credlimit *cl)
{
	cl_log(cl, CREDLIMIT_LOG_WARNING,
	       "a slot on a key's probe path stayed claimed or locked by a "
	       "live process for over a second; limitctl check names the "
	       "process (if it does not use this limiter, its pid was "
	       "reused after the real owner died)");
}

static int decide(struct credlimit *cl, int policy, const void *key,
		  size_t key_len, uint64_t cost, uint64_t now_ns,
		  struct credlimit_result *result)
{
	struct cl_params requested, params;
	struct cl_after after = { 0 };
	struct credlimit_result r;
	struct cl_located loc;
	struct cl_key k;
	uint64_t full_capacity = 0, room_deadline = 0;
	unsigned room_round = 0;
	uint32_t spent = 0;
	int applied = policy;
	bool never;
	int err = 0;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->decide(cl, policy, key, key_len, cost,
					   now_ns, result);

	if (cl == NULL || result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (cl->rdonly)
		return -EROFS;
	/* A lease cache holds units, not counts: only its lease handle
	 * decides on it. */
	if (cl->kind == CL_KIND_LEASE)
		return -EMEDIUMTYPE;
	err = cl_policy_read(cl, policy, &requested);
	if (err == -ENOENT && policy == CREDLIMIT_POLICY_DEFAULT)
		return -EBADMSG; /* policy 0 exists in every valid segment */
	if (err < 0)
		return err;

	now_ns = cl_resolve_now(now_ns);
	cl_key_prepare(&k, cl->secret, key, key_len);

	/* A cost no wait can satisfy changes nothing, so it must not insert
	 * a key; an existing key may have an assigned policy with room. */
	never = (unsigned __int128)cost > (unsigned __int128)
			requested.policy.max_requests +
			requested.policy.max_credits;

	for (int tries = 0;; tries++) {
		struct cl_view *view;

		if (tries == CL_DECIDE_TRIES)
			return -EBUSY;

		rcu_read_lock();
		view = cl_view_enter(cl);
		if (view == NULL) {
			rcu_read_unlock();
			err = cl_view_refresh(cl);
			if (err < 0)
				return err;
			continue;
		}

		err = cl_locate(cl, view, &k,
				never ? CL_LOCATE_WRITE : CL_LOCATE_INSERT,
				now_ns, (unsigned)policy, &loc);
		if (err == 0) {
			cl_count_events(cl, loc.events);
			err = effective_params(cl, loc.slot.meta, policy,
					       &requested, &params, &applied);
		}
		if (err == 0)
			err = decide_on_slot(cl, &loc.slot, &params, cost,
					     now_ns, &r, &spent);
		if (err == 0) {
			/* A cost that can never fit is not a decision on
			 * the entry. */
			if (r.verdict != CREDLIMIT_DENIED_NEVER)
				touch_entry(&loc.slot, now_ns, applied);
			after.grow = view->target == NULL &&
				     cl_grow_wanted(cl, loc.table, loc.events);
			after.capacity = loc.table->capacity;
		}
		if (err == -ENOSPC &&
		    (view->target != NULL ||
		     view->current->table.capacity < cl->max_capacity)) {
			/* No room now, but the table grows or may grow. */
			full_capacity = view->current->table.capacity;
			err = CL_EGROW;
		}
		rcu_read_unlock();

		if (err == CL_EGROW) {
			err = wait_for_room(cl, full_capacity, now_ns,
					    &room_deadline, &room_round);
			if (err < 0)
				break;
			tries--; /* bounded by the deadline instead */
		}
		if (err == CL_EREFRESH) {
			err = cl_view_refresh(cl);
			if (err < 0)
				return err;
			continue;
		}
		if (err == CL_RETRY_LOOKUP)
			continue;
		break;
	}

	if ((err == -ENOENT && never) || err == -ENOSPC) {
		decide_untracked(cl, &requested, policy, cost, now_ns, result);
		return 0;
	}
	if (err == -EBUSY)
		log_busy(cl);
	if (err < 0)
		return err;

	if (loc.events & CL_SLOT_RECOVERED)
		cl_log(cl, CREDLIMIT_LOG_WARNING,
		       "reused a slot left half-written by a process that "
		       "died (slot %llu)",
		       (unsigned long long)loc.slot.index);
	count_verdict(cl, &r, spent);

	/* policy and flags are stored after the copy: setting them in r
	 * first would make the copy's wide loads wait for narrow stores. */
	*result = r;
	result->policy = applied;
	result->flags = 0;
	if (loc.events & CL_SLOT_INSERTED)
		result->flags |= CREDLIMIT_RESULT_NEW;
	if (loc.events & CL_SLOT_EVICTED)
		result->flags |= CREDLIMIT_RESULT_EVICTED;

	cl_grow_after_decision(cl, after.grow, after.capacity, now_ns);
	return 0;
}

int credlimit_acquire(credlimit_t *cl, const void *key, size_t key_len,
		      uint64_t cost, struct credlimit_result *result)
{
	return decide(cl, CREDLIMIT_POLICY_DEFAULT, key, key_len, cost,
		      CREDLIMIT_NOW, result);
}

int credlimit_acquire_at(credlimit_t *cl, const void *key, size_t key_len,
			 uint64_t cost, uint64_t now_ns,
			 struct credlimit_result *result)
{
	return decide(cl, CREDLIMIT_POLICY_DEFAULT, key, key_len, cost, now_ns,
		      result);
}

int credlimit_acquire_policy(credlimit_t *cl, int policy, const void *key,
			     size_t key_len, uint64_t cost, uint64_t now_ns,
			     struct credlimit_result *result)
{
	return decide(cl, policy, key, key_len, cost, now_ns, result);
}

int credlimit_peek(credlimit_t *cl, const void *key, size_t key_len,
		   uint64_t now_ns, struct credlimit_result *result)
{
	struct cl_algo_state s = { 0 };
	struct cl_params params;
	struct cl_located loc;
	struct cl_key k;
	int policy = CREDLIMIT_POLICY_DEFAULT;
	unsigned flags = 0;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->peek(cl, key, key_len, now_ns, result);

	if (cl == NULL || result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (cl->kind == CL_KIND_LEASE)
		return -EMEDIUMTYPE;
	cl_key_prepare(&k, cl->secret, key, key_len);

	for (int tries = 0;; tries++) {
		struct cl_view *view;

		if (tries == CL_DECIDE_TRIES)
			return -EBUSY;

		rcu_read_lock();
		view = cl_view_enter(cl);
		err = view == NULL ? CL_EREFRESH
				   : cl_locate(cl, view, &k, CL_LOCATE_READ, 0,
					       0, &loc);
		rcu_read_unlock();
		if (err != CL_EREFRESH)
			break;
		err = cl_view_refresh(cl);
		if (err < 0)
			return err;
	}

	if (err == -ENOENT) {
		flags = CREDLIMIT_RESULT_NEW;
	} else if (err < 0) {
		return err;
	} else {
		/* The lookup copied meta and state, so they stay usable
		 * after the critical section. */
		policy = cl_entry_policy(loc.slot.meta);
		err = cl_state_decode(cl, loc.slot.state, &s);
		if (err < 0)
			return err;
	}

	err = cl_policy_read(cl, policy, &params);
	if (err < 0)
		return -EBADMSG;

	cl_algo_decide(&params.policy, &s, cl_resolve_now(now_ns), 0, result,
		       NULL);
	result->policy = policy;
	result->flags = flags;
	return 0;
}
