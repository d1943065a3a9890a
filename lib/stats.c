/*
 * stats.c - statistics counters striped over cache lines
 *
 * Every decision adds to a counter.  One shared counter would bounce a
 * cache line between all cores on every request, so the control segment
 * has CL_STAT_STRIPES lines of counters and each thread adds to the line
 * its thread id hashes to.  Readers sum the stripes one by one, so a sum
 * taken while decisions run is a mix of slightly different instants.
 */
#include <errno.h>
#include <limits.h>

#include <urcu-bp.h>
#include <urcu/system.h>

#include "grow.h"
#include "backend.h"
#include "handle.h"
#include "lease/lease.h"
#include "shm/entry.h"

static __thread unsigned thread_stripe = UINT_MAX;

struct cl_stripe *cl_stripe_of_thread(struct credlimit *cl)
{
	if (thread_stripe >= CL_STAT_STRIPES) {
		/* The address of a thread-local variable differs between the
		 * threads of a process and the pid between processes, so
		 * their mix tells threads apart without a system call.
		 * Fibonacci hashing spreads the bits over the stripes. */
		uint64_t id = (uint64_t)(uintptr_t)&thread_stripe ^
			      (uint64_t)cl_self_pid() << 32;

		thread_stripe = (unsigned)((id * UINT64_C(0x9e3779b97f4a7c15)) >>
					   58) % CL_STAT_STRIPES;
	}
	return &cl->stripes[thread_stripe];
}

void cl_stats_after_fork(void)
{
	thread_stripe = UINT_MAX;
}

int credlimit_stats(credlimit_t *cl, struct credlimit_stats *out)
{
	struct credlimit_stats s = { 0 };
	struct cl_view *view;
	uint64_t removals = 0;
	uint64_t state;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->stats(cl, out);

	if (cl == NULL || out == NULL)
		return -EINVAL;

	for (int i = 0; i < CL_STAT_STRIPES; i++) {
		const struct cl_stripe *st = &cl->stripes[i];

		s.allowed += CMM_LOAD_SHARED(st->allowed);
		s.denied += CMM_LOAD_SHARED(st->denied);
		s.credits_spent += CMM_LOAD_SHARED(st->credits_spent);
		s.inserts += CMM_LOAD_SHARED(st->inserts);
		removals += CMM_LOAD_SHARED(st->removals);
		s.evictions += CMM_LOAD_SHARED(st->evictions);
		s.full_events += CMM_LOAD_SHARED(st->full_events);
		s.recoveries += CMM_LOAD_SHARED(st->recoveries);
		s.lease_fetches += CMM_LOAD_SHARED(st->lease_fetches);
		s.lease_units_taken += CMM_LOAD_SHARED(st->lease_units_taken);
		s.lease_returns += CMM_LOAD_SHARED(st->lease_returns);
		s.lease_units_returned +=
			CMM_LOAD_SHARED(st->lease_units_returned);
		s.lease_units_lost += CMM_LOAD_SHARED(st->lease_units_lost);
		s.lease_local += CMM_LOAD_SHARED(st->lease_local);
	}
	s.entries = s.inserts >= removals ? s.inserts - removals : 0;

	err = cl_view_refresh(cl);
	if (err < 0)
		return err;
	rcu_read_lock();
	view = rcu_dereference(cl->view);
	s.capacity = view->current->table.capacity;
	s.generation = view->current->table.generation;
	s.probe_limit = view->current->table.probe_limit;
	s.segment_bytes = cl->ctl_mapping.size +
			  view->current->table.mapping.size;
	if (view->target != NULL)
		s.segment_bytes += view->target->table.mapping.size;
	rcu_read_unlock();

	state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	s.migrating = state != 0;
	if (s.migrating) {
		s.migration_capacity =
			CMM_LOAD_SHARED(cl->ctl->migration_target);
		s.migration_progress = cl_grow_progress(cl, s.capacity);
	}
	s.migrations = CMM_LOAD_SHARED(cl->ctl->migrations_done);
	s.entries_moved = CMM_LOAD_SHARED(cl->ctl->entries_moved);
	s.entries_dropped = CMM_LOAD_SHARED(cl->ctl->entries_dropped);

	s.max_capacity = cl->max_capacity;
	s.full_action = cl->full_action;
	s.policies = credlimit_policy_list(cl, NULL, 0);
	if (s.policies < 0)
		return s.policies;
	s.windows = (int)CMM_LOAD_SHARED(cl->ctl->window_count) - 1;
	if (s.windows < 0 || s.windows >= CL_WINDOW_SLOTS)
		return -EBADMSG;
	s.mode = cl->mode;
	s.owner = cl->owner;
	s.lease_cache = cl->kind == CL_KIND_LEASE;
	if (s.lease_cache)
		s.lease_units_held = cl_lease_units_held(cl);

	*out = s;
	return 0;
}
