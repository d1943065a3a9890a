/*
 * locate.h - finding a key's entry across the table generations of a view
 */
#ifndef CREDLIMIT_LOCATE_H
#define CREDLIMIT_LOCATE_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/table.h"
#include "view.h"

struct credlimit;

/* Internal result: the view no longer matches the tables; leave the
 * read-side critical section, cl_view_refresh() and start again. */
#define CL_EREFRESH 4098

enum cl_locate_mode {
	CL_LOCATE_READ,   /* find; never writes, works read-only */
	CL_LOCATE_WRITE,  /* find an entry to change */
	CL_LOCATE_INSERT, /* find, or insert when missing */
};

/* Where a key's entry was found. */
struct cl_located {
	struct cl_table_map *table; /* table holding the slot */
	struct cl_slot slot;
	unsigned events; /* CL_SLOT_* flags of an insert */
};

/*
 * Finds the entry of k in `view`.  Without a migration the current table
 * holds it.  During one, an entry the migration froze is moved into the
 * target first (not in READ mode, which then prefers the target's copy if
 * there is one), and an entry moved, or a key whose probe sequence in the
 * current table ends at a sealed slot, is looked up (or inserted) in the
 * target.  INSERT gives a new entry `policy` as its last policy and now_ns
 * as its last-seen time.
 *
 * Call under rcu_read_lock() with a view from cl_view_enter().  Returns
 * 0, -ENOENT, -ENOSPC (INSERT found no room), -EBUSY, CL_EREFRESH, or an
 * error moving an entry.
 */
int cl_locate(struct credlimit *cl, struct cl_view *view, const struct cl_key *k,
	      enum cl_locate_mode mode, uint64_t now_ns, unsigned policy,
	      struct cl_located *out);

/* Moves a frozen entry of the current table into the view's target. */
int cl_locate_move(struct credlimit *cl, struct cl_view *view,
		   const struct cl_slot *slot, uint64_t now_ns);

/* A change applied to a located entry, inside the critical section.
 * Returns 0, CL_RETRY_LOOKUP or an error. */
typedef int (*cl_change_fn)(struct credlimit *cl, struct cl_located *loc,
			    void *arg);

/*
 * Locates key k (as cl_locate() in `mode`) and applies `change` to its
 * entry under rcu_read_lock(), refreshing the view and looking the key up
 * again as needed.  Returns what change returned, an error of the lookup,
 * or -EBUSY after too many retries.
 */
int cl_with_entry(struct credlimit *cl, const struct cl_key *k,
		  enum cl_locate_mode mode, uint64_t now_ns, unsigned policy,
		  cl_change_fn change, void *arg);

#endif /* CREDLIMIT_LOCATE_H */
