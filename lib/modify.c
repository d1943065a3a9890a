/*
 * modify.c - an operator's changes to entries: reset, set credits, assign
 * a policy
 *
 * Each change locates the key's entry like a decision does (lib/locate.c,
 * inside an RCU read-side critical section) and changes it with a
 * compare-and-swap, retrying the lookup when the slot changed identity or
 * a migration froze it.  A change applied to an entry of the old table
 * just before a migration froze it is carried over, because the migration
 * copies the frozen value (and reads the meta word after the freeze).
 */
#include <errno.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "backend.h"
#include "handle.h"
#include "lease/entry.h"
#include "locate.h"
#include "shm/pidlock.h"
#include "state.h"

/*
 * Swaps a found entry's state to fresh.  Returns 0 or CL_RETRY_LOOKUP.  On
 * a lease cache, the units the entry held stay charged in Redis and are
 * counted as lost.
 */
static int reset_slot(struct credlimit *cl, struct cl_slot *slot)
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
				 cl_state_fresh_after(current))) {
			if (cl->kind == CL_KIND_LEASE &&
			    cl_state_wid(current.hi) != 0)
				uatomic_add(&cl_stripe_of_thread(cl)->lease_units_lost,
					    cl_lease_units(current.lo));
			return 0;
		}
		if (cl_state_gen(current.hi) != gen)
			return CL_RETRY_LOOKUP;
	}
}

static int reset_change(struct credlimit *cl, struct cl_located *loc,
			void *arg)
{
	return reset_slot(cl, &loc->slot);
}

/* Checks the arguments every per-key change takes. */
static int check_change(const credlimit_t *cl, const void *key,
			size_t key_len)
{
	int err;

	if (cl == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	return cl->rdonly ? -EROFS : 0;
}

int credlimit_reset(credlimit_t *cl, const void *key, size_t key_len)
{
	struct cl_key k;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->reset(cl, key, key_len);

	err = check_change(cl, key, key_len);
	if (err < 0)
		return err;

	cl_key_prepare(&k, cl->secret, key, key_len);
	return cl_with_entry(cl, &k, CL_LOCATE_WRITE, cl_monotonic_ns(), 0,
			  reset_change, NULL);
}

/* Resets every live entry of table t; moves frozen ones to the view's
 * target first, where the target's own pass resets them. */
static int64_t reset_table(struct credlimit *cl, struct cl_view *view,
			   struct cl_table_map *t)
{
	int64_t count = 0;

	for (uint64_t i = 0; i < t->capacity; i++) {
		struct cl_slot slot = { .entry = &t->entries[i], .index = i };
		uint64_t key[4];
		uint64_t last_seen;

		if (!cl_table_snapshot(t, i, &slot.meta, &slot.state, key,
				       &last_seen))
			continue;

		switch (cl_state_flags(slot.state.hi)) {
		case CL_STATE_LIVE:
			/* An entry evicted or frozen meanwhile needs no
			 * reset here: CL_RETRY_LOOKUP is not retried. */
			if (reset_slot(cl, &slot) == 0)
				count++;
			break;
		case CL_STATE_FROZEN:
			cl_locate_move(cl, view, &slot, cl_monotonic_ns());
			break;
		default:
			break;
		}
	}
	return count;
}

int64_t credlimit_reset_all(credlimit_t *cl)
{
	struct cl_view *view;
	int64_t count;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->reset_all(cl);

	if (cl == NULL)
		return -EINVAL;
	if (cl->rdonly)
		return -EROFS;

	/* A migration that moves entries beyond the view's tables while
	 * the walk runs could carry counts past it: walk again until the
	 * tables stay the same from start to end (a reset is idempotent). */
	for (;;) {
		uint64_t generation, migration;

		rcu_read_lock();
		view = cl_view_enter(cl);
		if (view == NULL) {
			rcu_read_unlock();
			err = cl_view_refresh(cl);
			if (err < 0)
				return err;
			continue;
		}
		generation = CMM_LOAD_SHARED(cl->ctl->generation);
		migration = CMM_LOAD_SHARED(cl->ctl->migration_state);

		count = reset_table(cl, view, &view->current->table);
		if (view->target != NULL)
			count += reset_table(cl, view, &view->target->table);
		rcu_read_unlock();

		if (generation == CMM_LOAD_SHARED(cl->ctl->generation) &&
		    migration == CMM_LOAD_SHARED(cl->ctl->migration_state))
			return count;
	}
}

struct credits_change {
	uint32_t credits;
	uint64_t now_ns;
};

/* Rolls the entry to now and sets its credits.  -ERANGE above its cap. */
static int credits_change(struct credlimit *cl, struct cl_located *loc,
			  void *arg)
{
	const struct credits_change *change = arg;
	struct cl_state_word current = loc->slot.state;
	struct cl_params params;

	if (cl_policy_read(cl, cl_entry_policy(loc->slot.meta), &params) < 0)
		return -EBADMSG;
	if (change->credits > params.policy.max_credits)
		return -ERANGE;

	for (;;) {
		unsigned gen = cl_state_gen(current.hi);
		struct cl_algo_state s;
		int err;

		if (cl_state_flags(current.hi) != CL_STATE_LIVE)
			return CL_RETRY_LOOKUP;
		err = cl_state_decode(cl, current, &s);
		if (err < 0)
			return err;

		cl_algo_roll(&params.policy, &s, change->now_ns);
		s.credits = change->credits;
		if (cl_state_cas(loc->slot.entry, &current,
				 cl_state_encode(&s, params.wid, current)))
			return 0;
		if (cl_state_gen(current.hi) != gen)
			return CL_RETRY_LOOKUP;
	}
}

int credlimit_set_credits(credlimit_t *cl, const void *key, size_t key_len,
			  uint32_t credits, uint64_t now_ns)
{
	struct credits_change change = { .credits = credits };
	struct cl_params params;
	struct cl_key k;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->set_credits(cl, key, key_len, credits,
						 now_ns);

	err = check_change(cl, key, key_len);
	if (err < 0)
		return err;
	if (cl->kind == CL_KIND_LEASE)
		return -EMEDIUMTYPE;

	change.now_ns = cl_resolve_now(now_ns);
	cl_key_prepare(&k, cl->secret, key, key_len);

	err = cl_with_entry(cl, &k, CL_LOCATE_WRITE, change.now_ns, 0,
			 credits_change, &change);
	if (err != -ENOENT)
		return err;

	/* A new key gets the default policy: check against it before
	 * inserting, so a rejected value inserts nothing. */
	if (cl_policy_read(cl, CREDLIMIT_POLICY_DEFAULT, &params) < 0)
		return -EBADMSG;
	if (credits > params.policy.max_credits)
		return -ERANGE;
	return cl_with_entry(cl, &k, CL_LOCATE_INSERT, change.now_ns,
			  CREDLIMIT_POLICY_DEFAULT, credits_change, &change);
}

/* Swaps the per-key policy into a located entry's meta word. */
static int policy_change(struct credlimit *cl, struct cl_located *loc,
			 void *arg)
{
	int policy = *(const int *)arg;
	struct cl_entry *e = loc->slot.entry;
	uint64_t meta = loc->slot.meta;

	for (;;) {
		uint64_t seen;

		/* The slot stopped holding this key (evicted): look it up
		 * again. */
		if (cl_meta_status(meta) != CL_SLOT_READY ||
		    cl_meta_key_bits(meta) != cl_meta_key_bits(loc->slot.meta))
			return CL_RETRY_LOOKUP;

		/* Full barrier; pairs with the meta swap of an evicter,
		 * which then sees the assignment and gives the entry back,
		 * and with the freeze of a migration (below). */
		seen = uatomic_cmpxchg(&e->meta, meta,
				       cl_meta_with_override(meta, policy));
		if (seen == meta)
			break;
		meta = seen;
	}

	/* A migration that froze the entry before this swap may have
	 * copied the old meta word: apply the change to the copy too. */
	if (cl_state_flags(cl_state_load(e).hi) != CL_STATE_LIVE)
		return CL_RETRY_LOOKUP;
	return 0;
}

int credlimit_set_key_policy(credlimit_t *cl, const void *key,
			     size_t key_len, int policy)
{
	struct cl_params params;
	struct cl_key k;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->set_key_policy(cl, key, key_len, policy);

	if (cl != NULL && policy < CREDLIMIT_POLICY_NONE)
		return -EINVAL;
	err = check_change(cl, key, key_len);
	if (err < 0)
		return err;
	if (policy != CREDLIMIT_POLICY_NONE) {
		err = cl_policy_read(cl, policy, &params);
		if (err < 0)
			return err;
	}

	cl_key_prepare(&k, cl->secret, key, key_len);
	return cl_with_entry(cl, &k,
			  policy == CREDLIMIT_POLICY_NONE ? CL_LOCATE_WRITE
							  : CL_LOCATE_INSERT,
			  cl_monotonic_ns(), CREDLIMIT_POLICY_DEFAULT,
			  policy_change, &policy);
}
