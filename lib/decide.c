/*
 * decide.c - decisions and per-key changes on the shared table
 *
 * A decision finds (or inserts) the key's entry, then runs one
 * compare-and-swap loop on its 16-byte state word: decode the state, run
 * the pure algorithm (lib/algorithm.c), encode, swap.  A failed swap
 * retries with the value it found; a swap that finds the slot given to
 * another key or frozen (its slot generation or flags changed) looks the
 * key up again.  No lock is held at any point, so a process killed
 * anywhere in here leaves nothing for others to clean up.
 *
 * Which policy applies: an operator's per-key assignment, else the policy
 * the caller named.  The state word records the window length it counts
 * in, so a change of policy or of a policy's numbers takes effect at the
 * key's next decision (clamping and window conversion in the algorithm).
 */
#include <errno.h>

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "algorithm.h"
#include "handle.h"
#include "log.h"
#include "policy.h"
#include "shm/entry.h"
#include "shm/pidlock.h"

/* Internal: the slot changed identity; look the key up again. */
#define CL_RETRY_LOOKUP (-EAGAIN)

/* Decodes a live state word.  -EBADMSG when its window id is invalid. */
static int state_decode(const struct credlimit *cl, struct cl_state_word w,
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

/* Encodes an algorithm state counted in window id `wid` as the successor
 * of `old`: a window-length change starts a new slot generation. */
static struct cl_state_word state_encode(const struct cl_algo_state *s,
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

static struct cl_state_word fresh_successor(struct cl_state_word old)
{
	struct cl_state_word w = {
		.lo = 0,
		.hi = cl_state_make_hi(0, 0, cl_state_gen(old.hi) + 1,
				       CL_STATE_LIVE),
	};

	return w;
}

static enum cl_victim_class classify_victim(void *context, uint64_t meta,
					    struct cl_state_word state,
					    uint64_t last_seen_ns,
					    uint64_t now_ns)
{
	const struct credlimit *cl = context;
	struct cl_params params;
	struct cl_algo_state s;
	uint64_t window_ns;

	if (state_decode(cl, state, &s) < 0)
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

		err = state_decode(cl, current, &s);
		if (err < 0)
			return err;
		if (!cl_algo_decide(&params->policy, &s, now_ns, cost, r, spent))
			return 0;

		next = state_encode(&s, params->wid, current);
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

static void count_events(struct cl_stripe *st, unsigned events)
{
	if (events & CL_SLOT_INSERTED)
		uatomic_inc(&st->inserts);
	if (events & CL_SLOT_EVICTED) {
		uatomic_inc(&st->evictions);
		uatomic_inc(&st->removals);
	}
	if (events & CL_SLOT_RECOVERED)
		uatomic_inc(&st->recoveries);
}

static void count_verdict(struct cl_stripe *st,
			  const struct credlimit_result *r, uint32_t spent)
{
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
static void decide_untracked(struct credlimit *cl, const struct cl_params *params,
			int policy, uint64_t cost, uint64_t now_ns,
			struct credlimit_result *r)
{
	struct cl_algo_state fresh = { 0 };
	struct cl_stripe *st = cl_stripe_of_thread(cl);

	cl_algo_decide(&params->policy, &fresh, now_ns, cost, r, NULL);
	r->policy = policy;
	r->flags = 0;

	if (r->verdict != CREDLIMIT_DENIED_NEVER) {
		uatomic_inc(&st->full_events);
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
	count_verdict(st, r, 0);
}

static int decide(struct credlimit *cl, int policy, const void *key,
		  size_t key_len, uint64_t cost, uint64_t now_ns,
		  struct credlimit_result *result)
{
	struct cl_victim_ops ops = { .classify = classify_victim, .context = cl };
	struct cl_params requested, params;
	struct credlimit_result r;
	struct cl_slot slot;
	struct cl_key k;
	unsigned events = 0;
	uint32_t spent = 0;
	int applied = policy;
	int err;

	if (cl == NULL || result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (cl->rdonly)
		return -EROFS;
	err = cl_policy_read(cl, policy, &requested);
	if (err == -ENOENT && policy == CREDLIMIT_POLICY_DEFAULT)
		return -EBADMSG; /* policy 0 exists in every valid segment */
	if (err < 0)
		return err;

	now_ns = cl_resolve_now(now_ns);
	cl_key_prepare(&k, cl->secret, key, key_len);

	for (;;) {
		/* A cost no wait can satisfy changes nothing, so it must
		 * not insert a key; an existing key may have an assigned
		 * policy with room for it. */
		if ((unsigned __int128)cost > (unsigned __int128)
			    requested.policy.max_requests +
				    requested.policy.max_credits) {
			err = cl_table_find(&cl->table, &k, true, &slot);
			events = 0;
			if (err == -ENOENT) {
				decide_untracked(cl, &requested, policy, cost,
					    now_ns, result);
				return 0;
			}
		} else {
			err = cl_table_get_slot(&cl->table, &k, now_ns,
						(unsigned)policy, cl_self_pid(),
						&ops, &slot, &events);
		}

		if (err == -ENOSPC) {
			decide_untracked(cl, &requested, policy, cost, now_ns,
				    result);
			return 0;
		}
		if (err == CL_EMOVED)
			return -EBADMSG;
		if (err == -EBUSY)
			cl_log(cl, CREDLIMIT_LOG_WARNING,
			       "a slot on a key's probe path stayed claimed or "
			       "locked by a live process for over a second; "
			       "limitctl check names the process (if it does "
			       "not use this limiter, its pid was reused after "
			       "the real owner died)");
		if (err < 0)
			return err;

		count_events(cl_stripe_of_thread(cl), events);
		if (events & CL_SLOT_RECOVERED)
			cl_log(cl, CREDLIMIT_LOG_WARNING,
			       "reused a slot left half-written by a process "
			       "that died (slot %llu)",
			       (unsigned long long)slot.index);

		err = effective_params(cl, slot.meta, policy, &requested,
				       &params, &applied);
		if (err < 0)
			return err;

		err = decide_on_slot(cl, &slot, &params, cost, now_ns, &r,
				     &spent);
		if (err == CL_RETRY_LOOKUP)
			continue;
		if (err < 0)
			return err;
		break;
	}

	/* A cost that can never fit is not a decision on the entry. */
	if (r.verdict != CREDLIMIT_DENIED_NEVER)
		touch_entry(&slot, now_ns, applied);
	count_verdict(cl_stripe_of_thread(cl), &r, spent);

	r.policy = applied;
	r.flags = 0;
	if (events & CL_SLOT_INSERTED)
		r.flags |= CREDLIMIT_RESULT_NEW;
	if (events & CL_SLOT_EVICTED)
		r.flags |= CREDLIMIT_RESULT_EVICTED;
	*result = r;
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

/* Finds a key for reading.  Returns 0, -ENOENT or an error. */
static int find_key(credlimit_t *cl, const void *key, size_t key_len,
		    struct cl_key *k, struct cl_slot *slot)
{
	int err;

	if (cl == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;

	cl_key_prepare(k, cl->secret, key, key_len);
	err = cl_table_find(&cl->table, k, !cl->rdonly, slot);
	return err == CL_EMOVED ? -EBADMSG : err;
}

int credlimit_peek(credlimit_t *cl, const void *key, size_t key_len,
		   uint64_t now_ns, struct credlimit_result *result)
{
	struct cl_params params;
	struct cl_algo_state s = { 0 };
	struct cl_slot slot;
	struct cl_key k;
	int policy = CREDLIMIT_POLICY_DEFAULT;
	unsigned flags = 0;
	int err;

	if (result == NULL)
		return -EINVAL;
	err = find_key(cl, key, key_len, &k, &slot);
	if (err == -ENOENT) {
		flags = CREDLIMIT_RESULT_NEW;
	} else if (err < 0) {
		return err;
	} else {
		policy = cl_meta_override(slot.meta);
		if (policy < 0)
			policy = (int)cl_meta_last_policy(slot.meta);
		err = state_decode(cl, slot.state, &s);
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

/* Swaps a found entry's state to fresh.  Returns 0 or CL_RETRY_LOOKUP. */
static int reset_slot(struct cl_slot *slot)
{
	struct cl_state_word current = slot->state;

	for (;;) {
		unsigned gen = cl_state_gen(current.hi);

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		if (current.lo == 0 && cl_state_wid(current.hi) == 0 &&
		    cl_state_window(current.hi) == 0)
			return 0;
		if (cl_state_cas(slot->entry, &current,
				 fresh_successor(current)))
			return 0;
		if (cl_state_gen(current.hi) != gen)
			return CL_RETRY_LOOKUP;
	}
}

int credlimit_reset(credlimit_t *cl, const void *key, size_t key_len)
{
	struct cl_slot slot;
	struct cl_key k;
	int err;

	if (cl != NULL && cl->rdonly)
		return -EROFS;

	do {
		err = find_key(cl, key, key_len, &k, &slot);
		if (err < 0)
			return err;
		err = reset_slot(&slot);
	} while (err == CL_RETRY_LOOKUP);
	return 0;
}

int64_t credlimit_reset_all(credlimit_t *cl)
{
	int64_t count = 0;

	if (cl == NULL)
		return -EINVAL;
	if (cl->rdonly)
		return -EROFS;

	for (uint64_t i = 0; i < cl->table.capacity; i++) {
		struct cl_slot slot = { .entry = &cl->table.entries[i], .index = i };
		uint64_t key[4];
		uint64_t last_seen;

		if (!cl_table_snapshot(&cl->table, i, &slot.meta, &slot.state,
				       key, &last_seen))
			continue;
		/* An entry evicted meanwhile holds a new key that needs no
		 * reset: CL_RETRY_LOOKUP is not retried here. */
		if (reset_slot(&slot) == 0)
			count++;
	}
	return count;
}

/* Finds the key, inserting it under the default policy when missing. */
static int find_or_insert(credlimit_t *cl, const struct cl_key *k,
			  uint64_t now_ns, struct cl_slot *slot)
{
	struct cl_victim_ops ops = { .classify = classify_victim, .context = cl };
	unsigned events = 0;
	int err;

	err = cl_table_get_slot(&cl->table, k, now_ns,
				CREDLIMIT_POLICY_DEFAULT, cl_self_pid(), &ops,
				slot, &events);
	if (err == CL_EMOVED)
		return -EBADMSG;
	if (err < 0)
		return err;
	count_events(cl_stripe_of_thread(cl), events);
	return 0;
}

int credlimit_set_credits(credlimit_t *cl, const void *key, size_t key_len,
			  uint32_t credits, uint64_t now_ns)
{
	struct cl_params params;
	struct cl_slot slot;
	struct cl_key k;
	int policy;
	int err;

	if (cl == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (cl->rdonly)
		return -EROFS;

	now_ns = cl_resolve_now(now_ns);
	cl_key_prepare(&k, cl->secret, key, key_len);

	for (;;) {
		struct cl_state_word current;

		err = cl_table_find(&cl->table, &k, true, &slot);
		if (err == -ENOENT) {
			/* Check against the policy a new key gets before
			 * inserting, so a rejected value inserts nothing. */
			err = cl_policy_read(cl, CREDLIMIT_POLICY_DEFAULT,
					     &params);
			if (err < 0)
				return -EBADMSG;
			if (credits > params.policy.max_credits)
				return -ERANGE;
			err = find_or_insert(cl, &k, now_ns, &slot);
		}
		if (err == CL_EMOVED)
			return -EBADMSG;
		if (err < 0)
			return err;

		policy = cl_meta_override(slot.meta);
		if (policy < 0)
			policy = (int)cl_meta_last_policy(slot.meta);
		if (cl_policy_read(cl, policy, &params) < 0)
			return -EBADMSG;
		if (credits > params.policy.max_credits)
			return -ERANGE;

		current = slot.state;
		for (;;) {
			unsigned gen = cl_state_gen(current.hi);
			struct cl_algo_state s;

			if (cl_state_flags(current.hi) != CL_STATE_LIVE)
				break;
			err = state_decode(cl, current, &s);
			if (err < 0)
				return err;

			cl_algo_roll(&params.policy, &s, now_ns);
			s.credits = credits;
			if (cl_state_cas(slot.entry, &current,
					 state_encode(&s, params.wid, current)))
				return 0;
			if (cl_state_gen(current.hi) != gen)
				break;
		}
	}
}

int credlimit_set_key_policy(credlimit_t *cl, const void *key,
			     size_t key_len, int policy)
{
	struct cl_params params;
	struct cl_slot slot;
	struct cl_key k;
	int err;

	if (cl == NULL || policy < CREDLIMIT_POLICY_NONE)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (cl->rdonly)
		return -EROFS;
	if (policy != CREDLIMIT_POLICY_NONE) {
		err = cl_policy_read(cl, policy, &params);
		if (err < 0)
			return err;
	}

	cl_key_prepare(&k, cl->secret, key, key_len);
	for (;;) {
		uint64_t meta;

		if (policy == CREDLIMIT_POLICY_NONE)
			err = cl_table_find(&cl->table, &k, true, &slot);
		else
			err = find_or_insert(cl, &k, cl_monotonic_ns(), &slot);
		if (err == CL_EMOVED)
			return -EBADMSG;
		if (err < 0)
			return err;

		/* Swap until the assignment is in, unless the slot stops
		 * holding this key (evicted), which needs a new lookup. */
		meta = slot.meta;
		for (;;) {
			uint64_t seen;

			if (cl_meta_status(meta) != CL_SLOT_READY ||
			    cl_meta_key_bits(meta) !=
				    cl_meta_key_bits(slot.meta))
				break;
			/* Full barrier; pairs with the meta swaps of
			 * evicters, which then see the assignment. */
			seen = uatomic_cmpxchg(&slot.entry->meta, meta,
					       cl_meta_with_override(meta,
								     policy));
			if (seen == meta)
				return 0;
			meta = seen;
		}
	}
}
