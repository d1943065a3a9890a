/*
 * locate.c - finding a key's entry across the table generations of a view
 *
 * While no migration runs, a key's entry is in the current table or
 * nowhere.  While one runs, the key is in exactly one of these states:
 *
 *   live in the current table    decide there; a freeze by the migrator
 *                                makes the decision's swap fail, and the
 *                                retry lands in one of the cases below;
 *   frozen in the current table  its final value is captured: copy it to
 *                                the target (harmless if already copied),
 *                                mark it moved, continue in the target;
 *   moved                        the target holds it (or it was dropped
 *                                as indistinguishable from new, and the
 *                                target inserts it afresh);
 *   absent from the current one  the probe sequence ends at an EMPTY slot
 *                                (insert there: the migrator has not come
 *                                by yet and will move it) or at a SEALED
 *                                one (the key belongs to the target).
 *
 * Evictions in the current table stop while a migration copies (the
 * forward callback below, checked under the eviction lock), so a key
 * whose probe sequence is full goes to the target as well.
 */
#include <errno.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "grow.h"
#include "handle.h"
#include "locate.h"
#include "shm/migrate.h"
#include "state.h"

/* Evictions stop in a table that a migration will replace: its keys
 * would be moved anyway, and an evicted customer restarts afresh. */
static int migration_forward(void *context)
{
	const struct credlimit *cl = context;
	uint64_t state = CMM_LOAD_SHARED(cl->ctl->migration_state);

	if (state == 0)
		return 0;
	return cl_copying_target(state) != 0 ? CL_ESEALED : -ENOSPC;
}

int cl_locate_move(struct credlimit *cl, struct cl_view *view,
		   const struct cl_slot *slot, uint64_t now_ns)
{
	struct cl_migrate_ops ops = {
		.drop = NULL,
		.victims = { .classify = cl_classify_victim, .context = cl },
		.secret = cl->secret,
		.now_ns = now_ns,
		.pid = cl_self_pid(),
	};
	unsigned events = 0;
	int err;

	if (view->target == NULL)
		return CL_EREFRESH;

	err = cl_migrate_entry(&view->target->table, slot, &ops, &events);
	if (err == 0 && (events & CL_MIGRATE_COPIED))
		uatomic_inc(&cl->ctl->entries_moved);
	return err == -EAGAIN ? -EBUSY : err;
}

/* Runs one lookup or insert in table t. */
static int locate_in(struct credlimit *cl, struct cl_table_map *t,
		     const struct cl_key *k, enum cl_locate_mode mode,
		     uint64_t now_ns, unsigned policy, bool forward,
		     struct cl_located *out)
{
	struct cl_victim_ops ops = {
		.classify = cl_classify_victim,
		.forward = forward ? migration_forward : NULL,
		.context = cl,
	};

	out->table = t;
	out->events = 0;
	if (mode == CL_LOCATE_INSERT)
		return cl_table_get_slot(t, k, now_ns, policy, cl_self_pid(),
					 &ops, &out->slot, &out->events);
	return cl_table_find(t, k, mode != CL_LOCATE_READ, &out->slot);
}

int cl_locate(struct credlimit *cl, struct cl_view *view, const struct cl_key *k,
	      enum cl_locate_mode mode, uint64_t now_ns, unsigned policy,
	      struct cl_located *out)
{
	struct cl_table_map *current = &view->current->table;
	struct cl_table_map *target =
		view->target != NULL ? &view->target->table : NULL;
	struct cl_located frozen;
	int err;

	err = locate_in(cl, current, k, mode, now_ns, policy, true, out);
	if (err != CL_EFROZEN && err != CL_ESEALED &&
	    !(err == -ENOENT && target != NULL))
		return err;
	if (target == NULL)
		return CL_EREFRESH;

	if (err == CL_EFROZEN &&
	    cl_state_flags(out->slot.state.hi) == CL_STATE_FROZEN) {
		if (mode == CL_LOCATE_READ) {
			/* A reader changes nothing: it takes the target's
			 * copy if there is one, else the frozen value. */
			frozen = *out;
			err = locate_in(cl, target, k, mode, now_ns, policy,
					false, out);
			if (err == -ENOENT || err == CL_ESEALED) {
				*out = frozen;
				return 0;
			}
			return err == CL_EFROZEN ? CL_EREFRESH : err;
		}
		err = cl_locate_move(cl, view, &out->slot, now_ns);
		if (err < 0)
			return err;
	}

	/* A new key goes to the target only while it is less than half
	 * used: the copies of the current table's entries need the rest,
	 * and a copy that finds no room loses the entry's counts.  Past
	 * that, a new key waits for room, helping the migration; once it
	 * ends, the target is the current table and grows in turn. */
	if (mode == CL_LOCATE_INSERT &&
	    CMM_LOAD_SHARED(target->header->used_slots) * 2 >= target->capacity) {
		err = locate_in(cl, target, k, CL_LOCATE_WRITE, now_ns, policy,
				false, out);
		if (err == CL_EFROZEN || err == CL_ESEALED)
			return CL_EREFRESH;
		return err == -ENOENT ? -ENOSPC : err;
	}

	/* A READ or WRITE that found neither the key nor a seal in the
	 * current table still looks in the target: a key whose probe
	 * sequence there was full has been inserted into the target. */
	err = locate_in(cl, target, k, mode, now_ns, policy, false, out);
	if (err == CL_EFROZEN || err == CL_ESEALED)
		return CL_EREFRESH; /* the target is migrating: stale view */
	return err;
}

/* Lookups one change may repeat after stale views and changed slots. */
#define CL_CHANGE_TRIES 10000

int cl_with_entry(struct credlimit *cl, const struct cl_key *k,
		  enum cl_locate_mode mode, uint64_t now_ns, unsigned policy,
		  cl_change_fn change, void *arg)
{
	for (int tries = 0; tries < CL_CHANGE_TRIES; tries++) {
		struct cl_located loc;
		struct cl_view *view;
		int err;

		rcu_read_lock();
		view = cl_view_enter(cl);
		err = view == NULL ? CL_EREFRESH
				   : cl_locate(cl, view, k, mode, now_ns,
					       policy, &loc);
		if (err == 0) {
			cl_count_events(cl, loc.events);
			err = change(cl, &loc, arg);
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
