/*
 * grow.h - growing the table into a new generation under live traffic
 */
#ifndef CREDLIMIT_GROW_H
#define CREDLIMIT_GROW_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/table.h"

struct credlimit;

/* Fewest slots in a chunk a decision moves when it finds a migration
 * copying; tables of more than CL_MOVE_CHUNKS * 64 slots use larger
 * chunks. */
#define CL_GROW_STEP_SLOTS 64

/*
 * Starts a migration to a table of `capacity` slots (at least 8, at
 * most the limiter's maximum) unless one runs or the table already has
 * that many.  Also finishes the creation of a target that a dead process
 * started.  A growth that failed holds off the next one for 1 to 64
 * seconds, unless by_hand (credlimit_grow()).  Returns 0, -EAGAIN while
 * held off, -EBUSY when another process holds the migration lock, or an
 * error creating the target segment (the migration is then abandoned).
 */
int cl_grow_start(struct credlimit *cl, uint64_t capacity, bool by_hand);

/*
 * Does one piece of the running migration's work: reserves a slice of the
 * target's memory, or moves a chunk of slots, dropping entries that are
 * indistinguishable from new customers at now_ns (none when now_ns is
 * CREDLIMIT_NOW), and moves it to its next phase when that piece was the
 * last.  Also finishes the creation of a target whose creator died.
 * Returns 1 when this call finished the migration, 0 otherwise, or a
 * negative error.
 */
int cl_grow_step(struct credlimit *cl, uint64_t now_ns);

/* Starts growth of a table of `capacity` slots to twice that, at most
 * the limiter's maximum.  Returns as cl_grow_start(). */
int cl_grow_doubled(struct credlimit *cl, uint64_t capacity);

/* Helps a running migration with one step, or starts the growth that a
 * decision's insert asked for (grow, into a table of `capacity` slots). */
void cl_grow_after_decision(struct credlimit *cl, bool grow,
			    uint64_t capacity, uint64_t now_ns);

/* Returns true when an insert into table t with these CL_SLOT_* events
 * should start growth: the table is half full, or a key landed far from
 * its home slot, and the limiter may still grow. */
bool cl_grow_wanted(const struct credlimit *cl, const struct cl_table_map *t,
		    unsigned events);

/* Slots of the current table (of `capacity` slots) handed out to be
 * moved by the running migration; 0 before it copies. */
uint64_t cl_grow_progress(const struct credlimit *cl, uint64_t capacity);

/* Eviction and compaction judgment of an entry (lib/decide.c). */
enum cl_victim_class cl_classify_victim(void *context, uint64_t meta,
					struct cl_state_word state,
					uint64_t last_seen_ns, uint64_t now_ns);

#endif /* CREDLIMIT_GROW_H */
