/*
 * cache.c - reading a lease cache without Redis: its clock, its entries
 * as the iteration and the checker report them, and the units it holds
 *
 * These functions serve any handle on a segment of kind CL_KIND_LEASE,
 * including limitctl's plain, read-only ones, so they need no upstream.
 *
 * The clock.  Redis decides at its own TIME (CLOCK_REALTIME of the
 * server) unless the caller passes a time, and leased units may be spent
 * only in the window Redis charged them in.  So the cache keeps one
 * offset from CLOCK_MONOTONIC to Redis TIME, set by every lease taken at
 * Redis TIME: offset = TIME - (monotonic time when the request was sent).
 * Redis read its clock after the request left, so the offset is an upper
 * bound, and monotonic + offset runs ahead of Redis by at most the round
 * trip: a host ends a window early, never late.  Known imprecision: a
 * Redis clock stepped forward (NTP) between two leases is seen only at
 * the next lease, so for that long units of the ending window can be
 * spent up to the step after its end.
 */
#include <errno.h>

#include <urcu-bp.h>
#include <urcu/system.h>

#include "handle.h"
#include "lease/entry.h"
#include "lease/lease.h"
#include "shm/pidlock.h"
#include "view.h"

uint64_t cl_lease_time(const struct credlimit *local, uint64_t now_ns,
		       bool *known)
{
	uint64_t offset;

	if (now_ns != CREDLIMIT_NOW) {
		*known = true;
		return now_ns;
	}
	offset = __atomic_load_n(&local->ctl->lease_clock_offset, __ATOMIC_RELAXED);
	*known = offset != 0;
	return cl_monotonic_ns() + offset;
}

uint64_t cl_lease_units_held(struct credlimit *local)
{
	struct cl_table_map *t;
	struct cl_view *view;
	uint64_t units = 0;

	if (cl_view_refresh(local) < 0)
		return 0;

	rcu_read_lock();
	view = cl_view_enter(local);
	if (view == NULL) {
		rcu_read_unlock();
		return 0;
	}
	t = &view->current->table;
	for (uint64_t i = 0; i < t->capacity; i++) {
		const struct cl_entry *e = &t->entries[i];
		struct cl_state_word state;

		if (cl_meta_status(cl_entry_load_meta(e)) != CL_SLOT_READY)
			continue;
		state = cl_state_load(e);
		if (cl_state_flags(state.hi) == CL_STATE_LIVE &&
		    cl_state_wid(state.hi) != 0)
			units += cl_lease_units(state.lo);
	}
	rcu_read_unlock();
	return units;
}

#ifndef HAVE_HIREDIS
/* Without Redis support no handle is a lease handle. */
int64_t credlimit_lease_return(credlimit_t *cl, uint64_t now_ns,
			       uint64_t min_idle_ns)
{
	(void)cl;
	(void)now_ns;
	(void)min_idle_ns;
	return -EINVAL;
}
#endif
