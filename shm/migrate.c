/*
 * migrate.c - moving entries into the next table generation
 *
 * Freeze and forward.  To move slot i of the old table, the migrator
 *
 *   - seals it when it is EMPTY or claimed by a dead process, so no key
 *     can be inserted there any more (a sealed EMPTY slot still ends
 *     probe sequences; a sealed claim, like any occupied slot, does not);
 *   - waits when a live process is writing or evicting it;
 *   - freezes a live entry: one compare-and-swap sets FROZEN in its state
 *     word and so captures its final value, since every decision's
 *     compare-and-swap fails from then on;
 *   - copies the frozen entry into the new table, unless it is
 *     indistinguishable from a new customer (then it is dropped: growth
 *     also compacts);
 *   - marks it MOVED.
 *
 * Every step is a compare-and-swap from an exact value or a copy that
 * first looks the key up in the new table, so any number of processes may
 * run them on the same slot, in any interleaving, and a process killed
 * between two steps leaves work that the next one simply finishes.  A
 * decision that meets a FROZEN entry runs the copy itself before deciding
 * in the new table; one that meets MOVED decides there directly; one whose
 * probe sequence ends at a SEALED slot knows its key is not in the old
 * table and inserts it into the new one.
 *
 * Why SEALED suffices to keep keys from being split between two tables:
 * an inserter always claims the first free slot of its key's probe
 * sequence, and slots never become free again.  Once that slot is sealed,
 * every later inserter of the key reaches it and is sent to the new table,
 * and an inserter that claimed it earlier published the key in the old
 * table, where the migrator will find and move it.
 */
#include <errno.h>

#include "shm/migrate.h"
#include "shm/pidlock.h"

void (*cl_migration_hook)(const char *point);

/*
 * Copies the frozen entry e, whose state is `state`, into `to`.  Its meta
 * word is loaded here, after the freeze: a per-key policy assigned before
 * the freeze is copied, and one assigned after it sees the freeze and is
 * applied to the copy by its own caller.
 */
static int copy_frozen(struct cl_entry *e, struct cl_state_word state,
		       struct cl_table_map *to, const struct cl_migrate_ops *ops,
		       unsigned *events)
{
	uint64_t meta = cl_entry_load_meta(e);
	struct cl_state_word live = {
		.lo = state.lo,
		.hi = cl_state_make_hi(cl_state_window(state.hi),
				       cl_state_wid(state.hi),
				       cl_state_gen(state.hi), CL_STATE_LIVE),
	};
	uint64_t key[4];
	struct cl_slot copied;
	struct cl_key k;
	unsigned copy_events;
	int err;

	/* The key words are immutable while the slot is READY, and a
	 * frozen entry is never evicted. */
	for (int i = 0; i < 4; i++)
		key[i] = CMM_LOAD_SHARED(e->key[i]);
	if (!cl_key_from_entry(&k, ops->secret, meta, key)) {
		/* A corrupt entry cannot be placed in the new table. */
		*events |= CL_MIGRATE_LOST;
		return 0;
	}

	if (cl_meta_override(meta) < 0 && ops->drop != NULL &&
	    ops->drop(ops->victims.context, meta, live, ops->now_ns)) {
		*events |= CL_MIGRATE_DROPPED;
		return 0;
	}

	err = cl_table_copy_in(to, &k, meta, live,
			       CMM_LOAD_SHARED(e->last_seen_ns), ops->now_ns,
			       ops->pid, &ops->victims, &copied, &copy_events);
	if (err == -ENOSPC) {
		/* No room even after evictions: the entry is lost, and its
		 * key starts afresh in the new table.  Counted, so the
		 * migration can still end. */
		*events |= CL_MIGRATE_LOST;
		return 0;
	}
	if (err == 0 && (copy_events & CL_SLOT_INSERTED))
		*events |= CL_MIGRATE_COPIED;
	return err;
}

int cl_migrate_entry(struct cl_table_map *to, const struct cl_slot *slot,
		     const struct cl_migrate_ops *ops, unsigned *events)
{
	struct cl_entry *e = slot->entry;
	struct cl_state_word state = cl_state_load(e);
	int err;

	for (;;) {
		struct cl_state_word next;

		switch (cl_state_flags(state.hi)) {
		case CL_STATE_MOVED:
			return 0;

		case CL_STATE_LIVE:
			next.lo = state.lo;
			next.hi = state.hi |
				  (uint64_t)CL_STATE_FROZEN << CL_STATE_FLAGS_SHIFT;
			/* Full barrier; every later decision on the entry
			 * fails its swap and sees FROZEN. */
			if (cl_state_cas(e, &state, next)) {
				state = next;
				cl_migration_point("frozen");
			}
			continue;

		case CL_STATE_FROZEN:
			err = copy_frozen(e, state, to, ops, events);
			if (err != 0)
				return err;
			cl_migration_point("copied");
			next.lo = state.lo;
			next.hi = state.hi |
				  (uint64_t)CL_STATE_MOVED << CL_STATE_FLAGS_SHIFT;
			/* Full barrier, after the copy is published; a
			 * failure means another process marked it first. */
			cl_state_cas(e, &state, next);
			return 0;

		default:
			/* EVICTING: the caller waits for the evicter. */
			return -EAGAIN;
		}
	}
}

int cl_migrate_slot(struct cl_table_map *from, uint64_t index,
		    struct cl_table_map *to, const struct cl_migrate_ops *ops,
		    unsigned *events)
{
	struct cl_entry *e = &from->entries[index];
	struct cl_wait w = { 0 };

	for (;;) {
		uint64_t meta = cl_entry_load_meta(e);
		struct cl_state_word state;
		struct cl_slot slot;
		int step;

		if (cl_meta_status(meta) == CL_SLOT_SEALED)
			return 0;

		switch (cl_meta_status(meta)) {
		case CL_SLOT_EMPTY:
			if (meta != 0)
				return 0; /* corrupt: check reports it */
			/* Full barrier; pairs with the claims of inserters,
			 * exactly one of which can win against the seal. */
			uatomic_cmpxchg(&e->meta, 0, CL_META_SEALED_EMPTY);
			continue;

		case CL_SLOT_CLAIMED:
			step = cl_wait_for_owner(&w, cl_meta_pid(meta));
			if (step < 0)
				return step;
			/* Same pairing: only one process replaces a dead
			 * claim, by a seal or by its own claim.  Probe
			 * sequences pass a sealed claim: a key inserted
			 * beyond it while it was live must stay reachable. */
			if (step == 1)
				uatomic_cmpxchg(&e->meta, meta,
						CL_META_SEALED_CLAIM);
			continue;

		case CL_SLOT_READY:
			break;

		default:
			return 0;
		}

		state = cl_state_load(e);
		if (cl_state_flags(state.hi) == CL_STATE_EVICTING) {
			step = cl_wait_for_owner(&w, (uint32_t)state.lo);
			if (step < 0)
				return step;
			if (step == 1)
				cl_entry_reset_dead_eviction(e, state);
			continue;
		}

		slot.entry = e;
		slot.index = index;
		slot.meta = meta;
		slot.state = state;
		step = cl_migrate_entry(to, &slot, ops, events);
		if (step != -EAGAIN)
			return step;
	}
}
