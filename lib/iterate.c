/*
 * iterate.c - reading entries: credlimit_lookup() and credlimit_foreach()
 *
 * Both work on read-only handles.  Each entry is read as one consistent
 * snapshot (cl_table_snapshot()): its meta word, state word and key words
 * are accepted together only if meta and state did not change while they
 * were read, and an evicter changes the state word before it writes a new
 * key, so a snapshot never pairs one key with another key's counts.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-bp.h>
#include <urcu/system.h>

#include "algorithm.h"
#include "backend.h"
#include "handle.h"
#include "lease/entry.h"
#include "lease/lease.h"
#include "locate.h"
#include "policy.h"
#include "state.h"
#include "shm/entry.h"

/*
 * Fills the state part of *out for an entry of a lease cache: the units
 * leased to this host and their window.  The result at now_ns is what
 * this host can decide without Redis: the units, while their window
 * lasts.
 */
static int lease_describe(const struct credlimit *cl,
			  struct cl_state_word state, uint64_t now_ns,
			  struct credlimit_entry *out)
{
	struct cl_params params;
	unsigned wid = cl_state_wid(state.hi);
	uint64_t window = cl_state_window(state.hi);
	int policy;
	int err;

	policy = out->policy_override >= 0 ? out->policy_override : out->policy;
	if (cl_policy_read(cl, policy, &params) < 0)
		return -EBADMSG;
	out->now.verdict = CREDLIMIT_ALLOWED;
	out->now.flags = CREDLIMIT_RESULT_LEASED;
	out->now.policy = policy;
	out->now.limit = params.policy.max_requests;
	out->now.window_ns = params.policy.window_ns;
	if (wid == 0)
		return 0;

	err = cl_window_length(cl, wid, &out->window_ns);
	if (err < 0)
		return err;
	out->window_start_ns = window * out->window_ns;
	out->leased = cl_lease_units(state.lo);
	out->now.window_ns = out->window_ns;
	if (now_ns / out->window_ns > window)
		return 0; /* ended: the units await their return */
	out->now.remaining = out->leased;
	out->now.reset_after_ns = out->window_start_ns + out->window_ns -
				  (now_ns > out->window_start_ns
					   ? now_ns
					   : out->window_start_ns);
	return 0;
}

/* The time entries are judged at: a lease cache counts in Redis time. */
static uint64_t entry_time(const struct credlimit *cl, uint64_t now_ns)
{
	bool known;

	if (cl->kind == CL_KIND_LEASE)
		return cl_lease_time(cl, now_ns, &known);
	return cl_resolve_now(now_ns);
}

/* Fills *out from a snapshot of one entry.  Returns 0 or -EBADMSG. */
static int entry_describe(const struct credlimit *cl, uint64_t meta,
			  struct cl_state_word state, const uint64_t key[4],
			  uint64_t last_seen_ns, uint64_t now_ns,
			  struct credlimit_entry *out)
{
	struct cl_algo_state s = { 0 };
	struct cl_params params;
	unsigned len = cl_meta_len(meta);
	unsigned wid = cl_state_wid(state.hi);
	int policy;
	int err;

	memset(out, 0, sizeof(*out));
	out->key_len = len;
	out->key_hashed = cl_meta_hashed(meta);
	if (out->key_hashed) {
		/* Only keys longer than the inline room are hashed, so a
		 * shorter length is corrupt, and would report more stored
		 * bytes than the key has. */
		if (len <= CREDLIMIT_KEY_INLINE_MAX)
			return -EBADMSG;
		memcpy(out->digest, key, sizeof(out->digest));
		memcpy(out->key, (const uint8_t *)key + 16, CREDLIMIT_KEY_PREFIX);
		out->key_stored = CREDLIMIT_KEY_PREFIX;
	} else {
		if (len == 0 || len > CREDLIMIT_KEY_INLINE_MAX)
			return -EBADMSG;
		memcpy(out->key, key, len);
		out->key_stored = len;
	}

	out->policy = (int)cl_meta_last_policy(meta);
	out->policy_override = cl_meta_override(meta);
	out->fresh = wid == 0;
	out->last_seen_ns = last_seen_ns;
	if (cl->kind == CL_KIND_LEASE)
		return lease_describe(cl, state, now_ns, out);
	out->used = cl_state_used(state.lo);
	out->credits = cl_state_credits(state.lo);
	out->last_seen_ns = last_seen_ns;

	s.window = cl_state_window(state.hi);
	s.used = out->used;
	s.credits = out->credits;
	if (wid != 0) {
		err = cl_window_length(cl, wid, &s.window_ns);
		if (err < 0)
			return err;
		out->window_ns = s.window_ns;
		out->window_start_ns = s.window * s.window_ns;
	}

	policy = out->policy_override >= 0 ? out->policy_override : out->policy;
	if (cl_policy_read(cl, policy, &params) < 0)
		return -EBADMSG;
	cl_algo_decide(&params.policy, &s, now_ns, 0, &out->now, NULL);
	out->now.policy = policy;
	out->now.flags = 0;
	return 0;
}

/*
 * Takes a snapshot of slot `index` of table t, accepting it only if it
 * still holds key k.  Returns true with the snapshot's values.
 */
static bool snapshot_of_key(const struct cl_table_map *t, uint64_t index,
			    const struct cl_key *k, uint64_t *meta,
			    struct cl_state_word *state, uint64_t key[4],
			    uint64_t *last_seen)
{
	if (!cl_table_snapshot(t, index, meta, state, key, last_seen))
		return false;
	return cl_meta_len(*meta) == k->len &&
	       cl_meta_hashed(*meta) == k->hashed &&
	       memcmp(key, k->stored, sizeof(k->stored)) == 0;
}

/* Enters a read-side critical section with a current view. */
static int enter_view(struct credlimit *cl, struct cl_view **view)
{
	for (;;) {
		int err;

		rcu_read_lock();
		*view = cl_view_enter(cl);
		if (*view != NULL)
			return 0;
		rcu_read_unlock();
		err = cl_view_refresh(cl);
		if (err < 0)
			return err;
	}
}

/* Describes the entry of key k at now_ns; the body of credlimit_lookup(). */
static int lookup_key(struct credlimit *cl, const struct cl_key *k,
		      uint64_t now_ns, struct credlimit_entry *entry)
{
	int err = 0;

	for (int tries = 0; tries < 1000; tries++) {
		struct cl_state_word state;
		uint64_t meta, last_seen;
		uint64_t stored[4];
		struct cl_located loc;
		struct cl_view *view;

		err = enter_view(cl, &view);
		if (err < 0)
			return err;
		err = cl_locate(cl, view, k, CL_LOCATE_READ, 0, 0, &loc);
		if (err == 0) {
			/* Read the found slot again as one snapshot, with
			 * its last_seen; retry if it changed hands. */
			if (snapshot_of_key(loc.table, loc.slot.index, k,
					    &meta, &state, stored, &last_seen))
				err = entry_describe(cl, meta, state, stored,
						     last_seen, now_ns, entry);
			else
				err = CL_RETRY_LOOKUP;
		}
		rcu_read_unlock();

		if (err == CL_EREFRESH) {
			err = cl_view_refresh(cl);
			if (err < 0)
				return err;
			continue;
		}
		if (err != CL_RETRY_LOOKUP)
			return err;
	}
	return -EBUSY;
}

int credlimit_lookup(credlimit_t *cl, const void *key, size_t key_len,
		     uint64_t now_ns, struct credlimit_entry *entry)
{
	struct cl_key k;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->lookup(cl, key, key_len, now_ns, entry);

	if (cl == NULL || entry == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;

	cl_key_prepare(&k, cl->secret, key, key_len);
	return lookup_key(cl, &k, entry_time(cl, now_ns), entry);
}

/* A key whose entry moved beyond the tables a walk reads. */
struct deferred_key {
	uint64_t meta;
	uint64_t key[4];
};

/* State of one credlimit_foreach() call. */
struct walk {
	struct credlimit *cl;
	uint64_t now_ns;
	credlimit_entry_fn fn;
	void *context;
	struct cl_table_map *current;
	struct cl_table_map *target; /* NULL while no migration is known */
	struct cl_table_map private_target;
	bool mapped_target;          /* private_target is mapped */
	struct deferred_key *deferred;
	size_t deferred_count, deferred_room;
};

static int visit(struct walk *w, uint64_t meta, struct cl_state_word state,
		 const uint64_t key[4], uint64_t last_seen)
{
	struct credlimit_entry entry;
	int err;

	err = entry_describe(w->cl, meta, state, key, last_seen, w->now_ns,
			     &entry);
	if (err < 0)
		return err;
	return w->fn(w->context, &entry);
}

/*
 * Puts a key aside, to be looked up after the walk: its entry was frozen
 * or moved into a table the walk does not read, because migrations ended
 * while it ran.
 */
static int defer(struct walk *w, uint64_t meta, const uint64_t key[4])
{
	struct deferred_key *d;

	if (w->deferred_count == w->deferred_room) {
		size_t room = w->deferred_room ? w->deferred_room * 2 : 64;

		d = realloc(w->deferred, room * sizeof(*d));
		if (d == NULL)
			return -ENOMEM;
		w->deferred = d;
		w->deferred_room = room;
	}
	d = &w->deferred[w->deferred_count++];
	d->meta = meta;
	memcpy(d->key, key, sizeof(d->key));
	return 0;
}

/*
 * Finds the target of a migration that started after the view was taken,
 * mapping it for this walk only.  Returns false when there is none, or it
 * is gone already (a later migration ended).
 */
static bool find_target(struct walk *w)
{
	uint64_t state = CMM_LOAD_SHARED(w->cl->ctl->migration_state);
	uint64_t generation = CMM_LOAD_SHARED(w->cl->ctl->generation);
	uint64_t target = cl_copying_target(state);

	if (w->target != NULL)
		return true;
	/* Once it finished, the old target is the current generation. */
	if (target == 0 && generation > w->current->generation)
		target = w->current->generation + 1;
	if (target != w->current->generation + 1 ||
	    cl_view_map_generation(w->cl, target, &w->private_target) < 0)
		return false;
	w->mapped_target = true;
	w->target = &w->private_target;
	return true;
}

/*
 * Visits a READY slot of the current table.  A frozen or moved entry is
 * shown as the target holds it; a moved entry the target lacks was
 * dropped as indistinguishable from a new customer.  One whose copy is
 * itself frozen, or whose target is gone, is looked up after the walk.
 */
static int visit_current(struct walk *w, uint64_t meta,
			 struct cl_state_word state, const uint64_t key[4],
			 uint64_t last_seen)
{
	unsigned flags = cl_state_flags(state.hi);
	struct cl_state_word copy_state;
	uint64_t copy_meta, copy_key[4], copy_seen;
	struct cl_slot slot;
	struct cl_key k;
	int err;

	if (flags == CL_STATE_LIVE)
		return visit(w, meta, state, key, last_seen);
	if (flags == CL_STATE_EVICTING)
		return 0;
	if (!cl_key_from_entry(&k, w->cl->secret, meta, key))
		return -EBADMSG;
	if (!find_target(w))
		return defer(w, meta, key);

	err = cl_table_find(w->target, &k, false, &slot);
	if (err == CL_EFROZEN)
		return defer(w, meta, key);
	if (err == 0 && snapshot_of_key(w->target, slot.index, &k, &copy_meta,
					&copy_state, copy_key, &copy_seen))
		return visit(w, copy_meta, copy_state, copy_key, copy_seen);
	if (err == 0)
		return defer(w, meta, key);
	if (flags == CL_STATE_FROZEN)
		return visit(w, meta, state, key, last_seen);
	return 0;
}

/* Visits an entry of the target unless the current table has its key, in
 * which case visit_current() took care of it. */
static int visit_target(struct walk *w, uint64_t meta,
			struct cl_state_word state, const uint64_t key[4],
			uint64_t last_seen)
{
	unsigned flags = cl_state_flags(state.hi);
	struct cl_slot slot;
	struct cl_key k;
	int err;

	if (flags == CL_STATE_EVICTING)
		return 0;

	if (!cl_key_from_entry(&k, w->cl->secret, meta, key))
		return -EBADMSG;
	err = cl_table_find(w->current, &k, false, &slot);
	if (err == 0 || err == CL_EFROZEN)
		return 0;
	if (flags != CL_STATE_LIVE)
		return defer(w, meta, key); /* moving on to a later table */
	return visit(w, meta, state, key, last_seen);
}

/* Walks table t, passing each READY slot to fn. */
static int walk_table(struct walk *w, struct cl_table_map *t,
		      int (*fn)(struct walk *, uint64_t, struct cl_state_word,
				const uint64_t *, uint64_t))
{
	for (uint64_t i = 0; i < t->capacity; i++) {
		struct cl_state_word state;
		uint64_t meta, last_seen;
		uint64_t key[4];
		int err;

		if (!cl_table_snapshot(t, i, &meta, &state, key, &last_seen))
			continue;
		err = fn(w, meta, state, key, last_seen);
		if (err != 0)
			return err;
	}
	return 0;
}

/* Looks up the keys put aside, in the generations current now. */
static int visit_deferred(struct walk *w)
{
	for (size_t i = 0; i < w->deferred_count; i++) {
		struct credlimit_entry entry;
		struct cl_key k;
		int err;

		if (!cl_key_from_entry(&k, w->cl->secret, w->deferred[i].meta,
				       w->deferred[i].key))
			return -EBADMSG;
		err = lookup_key(w->cl, &k, w->now_ns, &entry);
		if (err == -ENOENT)
			continue; /* dropped as indistinguishable from new */
		if (err < 0)
			return err;
		err = w->fn(w->context, &entry);
		if (err != 0)
			return err;
	}
	return 0;
}

int credlimit_foreach(credlimit_t *cl, uint64_t now_ns, credlimit_entry_fn fn,
		      void *context)
{
	struct walk w = { .cl = cl, .fn = fn, .context = context };
	struct cl_view *view;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->foreach(cl, now_ns, fn, context);

	if (cl == NULL || fn == NULL)
		return -EINVAL;
	w.now_ns = entry_time(cl, now_ns);

	err = enter_view(cl, &view);
	if (err < 0)
		return err;
	w.current = &view->current->table;
	w.target = view->target != NULL ? &view->target->table : NULL;

	/* Every key is in the current table (live, frozen or moved) or
	 * only in the target: the first pass shows the former, the second
	 * the latter, so each key is shown once.  Keys that migrations
	 * ending meanwhile took beyond these two tables are shown last. */
	err = walk_table(&w, w.current, visit_current);
	if (err == 0 && (w.target != NULL || find_target(&w)))
		err = walk_table(&w, w.target, visit_target);
	rcu_read_unlock();

	if (w.mapped_target)
		cl_segment_unmap(&w.private_target.mapping);
	if (err == 0)
		err = visit_deferred(&w);
	free(w.deferred);
	return err;
}
