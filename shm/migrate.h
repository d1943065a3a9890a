/*
 * migrate.h - moving entries into the next table generation
 */
#ifndef CREDLIMIT_SHM_MIGRATE_H
#define CREDLIMIT_SHM_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/table.h"

/*
 * Test hook, NULL in production: called with the name of each point of a
 * migration where a process may die ("creating", "created", "frozen",
 * "copied", "published", "unlinked", "cleared"), so tests can kill it
 * there.
 */
extern void (*cl_migration_hook)(const char *point);

static inline void cl_migration_point(const char *point)
{
	if (cl_migration_hook != NULL)
		cl_migration_hook(point);
}

/* What moving a slot did, as flags. */
enum {
	CL_MIGRATE_COPIED = 1u << 0,  /* this call copied an entry */
	CL_MIGRATE_DROPPED = 1u << 1, /* an entry was dropped, not copied */
	CL_MIGRATE_LOST = 1u << 2,    /* no room for it in the new table */
};

/* How to move entries. */
struct cl_migrate_ops {
	/*
	 * Returns true when a frozen entry without a per-key policy is
	 * indistinguishable from a new customer at now_ns and need not be
	 * copied; NULL copies everything.  Gets victims.context.
	 */
	bool (*drop)(void *context, uint64_t meta, struct cl_state_word state,
		     uint64_t now_ns);
	/* Eviction judgment for inserting into the new table. */
	struct cl_victim_ops victims;
	const uint64_t *secret; /* the limiter's hash key */
	uint64_t now_ns;        /* time used to judge entries */
	uint32_t pid;           /* caller's pid, for claims */
};

/*
 * Moves the READY entry described by *slot (of the old table) into `to`:
 * freezes it if live, copies it unless dropped, and marks it MOVED.  An
 * entry the new table has no room for is marked MOVED too and reported
 * as CL_MIGRATE_LOST.  Returns 0 (moved, or already moved), -EAGAIN (a
 * live evicter holds it: wait and retry), or -EBUSY from the copy.
 */
int cl_migrate_entry(struct cl_table_map *to, const struct cl_slot *slot,
		     const struct cl_migrate_ops *ops, unsigned *events);

/*
 * Settles slot `index` of table `from`: seals it when EMPTY or claimed by a
 * dead process, waits for a live claimer or evicter, and moves an entry.
 * Returns 0 when the slot is SEALED or MOVED (or corrupt, which is left
 * for credlimit_check() to report), -EBUSY when a live process kept it
 * past the timeout, or an error of cl_migrate_entry().
 */
int cl_migrate_slot(struct cl_table_map *from, uint64_t index,
		    struct cl_table_map *to, const struct cl_migrate_ops *ops,
		    unsigned *events);

#endif /* CREDLIMIT_SHM_MIGRATE_H */
