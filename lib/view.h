/*
 * view.h - this process's mappings of the table generations in use
 *
 * A view names the current table generation and, while a migration
 * copies entries, the next one.  Decisions read the view under
 * rcu_read_lock(); the thread that notices that the control segment names
 * other generations builds a new view, publishes it, waits for a grace
 * period and unmaps what no view uses any more.
 */
#ifndef CREDLIMIT_VIEW_H
#define CREDLIMIT_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/table.h"

struct credlimit;

/* A mapped table generation, shared by consecutive views. */
struct cl_map_ref {
	struct cl_table_map table;
	unsigned refs; /* views using it; guarded by the view mutex */
};

struct cl_view {
	struct cl_map_ref *current;
	struct cl_map_ref *target;  /* next generation, or NULL */
	uint64_t generation;        /* of current */
	uint64_t migration;         /* ctl->migration_state it matches */
};

/*
 * Returns the view to use for an operation, or NULL when it is stale and
 * the caller must leave the read-side critical section and call
 * cl_view_refresh().  Call under rcu_read_lock().
 */
struct cl_view *cl_view_enter(struct credlimit *cl);

/*
 * Makes the handle's view match the control segment.  Never call it
 * inside a read-side critical section: it waits for a grace period.
 * Returns 0 or the error of mapping a generation.
 */
int cl_view_refresh(struct credlimit *cl);

/* Builds the first view around a bound table mapping, which the view then
 * owns. */
int cl_view_init(struct credlimit *cl, const struct cl_table_map *table);

/* Unmaps everything; no other call may run on the handle. */
void cl_view_destroy(struct credlimit *cl);

/*
 * Maps and validates table generation `generation` of the handle's
 * limiter into *out.  Returns 0, -ENOENT when the segment does not exist,
 * or a validation error.
 */
int cl_view_map_generation(struct credlimit *cl, uint64_t generation,
			   struct cl_table_map *out);

/* Points *t at a validated mapping of a table segment. */
void cl_table_bind(struct cl_table_map *t, struct cl_mapping *map);

/* Target generation of a migration state word when it copies, else 0. */
static inline uint64_t cl_copying_target(uint64_t migration_state)
{
	return (migration_state & 0xff) == CL_MIGRATION_COPYING
		       ? migration_state >> 8
		       : 0;
}

/* pthread_atfork() handlers: keep the view mutex and liburcu-bp consistent
 * across fork(). */
void cl_view_before_fork(void);
void cl_view_after_fork_parent(void);
void cl_view_after_fork_child(void);

#endif /* CREDLIMIT_VIEW_H */
