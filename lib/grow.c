/*
 * grow.c - growing the table into a new generation under live traffic
 *
 * A migration takes the table of generation G to a table twice as large,
 * generation G + 1, in a new segment "/credlimit.NAME.g<G+1>".  The
 * control segment records it (shm/layout.h): the phase and the target
 * generation in migration_state, the target capacity, the next slot to
 * move, and the pid holding the migration lock.
 *
 *   1. A decision whose insert finds the table half full, or had to land
 *      far from its home slot, takes the migration lock, records the
 *      target and the CREATING phase, creates and initializes the target
 *      segment, moves to COPYING and releases the lock.
 *   2. While COPYING, every decision that can take the lock without
 *      waiting moves the next CL_GROW_STEP_SLOTS slots (shm/migrate.c) and
 *      advances the cursor; decisions on any key keep working meanwhile,
 *      following frozen and moved entries into the target.
 *   3. The step that moves the last slot publishes generation G + 1,
 *      clears the migration, releases the lock and unlinks segment G.
 *      Processes notice the new generation at their next decision and
 *      switch their view (lib/view.c).
 *
 * The lock is a pid word, so a process that finds its holder dead takes
 * it over and resumes: redoing the creation of a target in CREATING, or
 * moving slots from the cursor on (moving a slot twice is harmless), or
 * finishing the bookkeeping when generation G + 1 is already published.
 * A decision never waits for the lock; only credlimit_grow() does.
 *
 * Cost: a migration touches every slot of the old table once, and each
 * decision that helps pays for up to CL_GROW_STEP_SLOTS slot moves.
 * Creating the target reserves its memory (posix_fallocate), which the
 * decision that starts the migration pays for.
 */
#include <errno.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <urcu-bp.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "grow.h"
#include "handle.h"
#include "log.h"
#include "shm/migrate.h"
#include "shm/pidlock.h"
#include "view.h"

/* Decisions between two liveness checks of a migration lock holder. */
#define CL_DEAD_CHECK_EVERY 256

static __thread unsigned lock_attempts;

/* Takes the migration lock without waiting.  Returns 0, 1 when taken over
 * from a dead holder, or -EBUSY. */
static int migration_trylock(struct credlimit *cl, bool check_dead)
{
	uint64_t *word = &cl->ctl->migration_pid;
	uint64_t self = cl_self_pid();
	uint64_t holder = CMM_LOAD_SHARED(*word);

	/* Full barriers; they pair with migration_unlock() and with the
	 * other takers' swaps. */
	if (holder == 0)
		return uatomic_cmpxchg(word, 0, self) == 0 ? 0 : -EBUSY;
	if (check_dead && holder != self && !cl_pid_alive(holder) &&
	    uatomic_cmpxchg(word, holder, self) == holder) {
		cl_log(cl, CREDLIMIT_LOG_WARNING,
		       "took over the migration of limiter %s from process "
		       "%" PRIu64 ", which died",
		       cl->name, holder);
		return 1;
	}
	return -EBUSY;
}

static void migration_unlock(struct credlimit *cl)
{
	/* Orders the migration's stores before the release; pairs with
	 * the swap in migration_trylock(). */
	cmm_smp_mb();
	CMM_STORE_SHARED(cl->ctl->migration_pid, 0);
}

static uint64_t make_state(unsigned phase, uint64_t target_generation)
{
	return target_generation << 8 | phase;
}

/* Creates and initializes the target segment.  Caller holds the lock. */
static int create_target(struct credlimit *cl, uint64_t generation,
			 uint64_t capacity)
{
	char name[CL_SHM_NAME_MAX + 1];
	struct cl_mapping map;
	int err;

	if (capacity < CL_CAPACITY_MIN || capacity > cl->max_capacity ||
	    (capacity & (capacity - 1)) != 0)
		return -EBADMSG;

	/* A process that died creating it may have left a part. */
	cl_shm_name(name, cl->name, generation);
	shm_unlink(name);

	err = cl_segment_create(name, cl_table_size(capacity), cl->mode,
				cl->owner, &map);
	if (err < 0)
		return err;
	cl_table_init(map.addr, cl->ctl, generation, capacity);
	cl_segment_unmap(&map);
	return 0;
}

/* Runs phase CREATING to its end.  Caller holds the lock. */
static int finish_creating(struct credlimit *cl, uint64_t state)
{
	uint64_t target = state >> 8;
	uint64_t capacity = CMM_LOAD_SHARED(cl->ctl->migration_target);
	int err;

	err = create_target(cl, target, capacity);
	cl_migration_point("created");
	if (err < 0) {
		CMM_STORE_SHARED(cl->ctl->migration_state, 0);
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "cannot create table generation %" PRIu64 " of %s "
		       "(%" PRIu64 " slots): %s; the table keeps its size",
		       target, cl->name, capacity, credlimit_strerror(err));
		return err;
	}

	/* Publishes the initialized target before the phase that makes
	 * processes map it; pairs with the loads in cl_view_enter(). */
	cmm_smp_wmb();
	CMM_STORE_SHARED(cl->ctl->migration_state,
			 make_state(CL_MIGRATION_COPYING, target));
	return 0;
}

static uint64_t current_capacity(struct credlimit *cl)
{
	struct cl_view *view;
	uint64_t capacity = 0;

	rcu_read_lock();
	view = rcu_dereference(cl->view);
	if (view->generation == CMM_LOAD_SHARED(cl->ctl->generation))
		capacity = view->current->table.capacity;
	rcu_read_unlock();
	return capacity;
}

int cl_grow_start(struct credlimit *cl, uint64_t capacity)
{
	uint64_t state, generation, have;
	int err;

	if (cl->rdonly)
		return -EROFS;
	if (cl->private_limiter)
		return 0;

	err = migration_trylock(cl, true);
	if (err < 0)
		return err;

	state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	if (state == 0) {
		generation = CMM_LOAD_SHARED(cl->ctl->generation);
		have = current_capacity(cl);
		if (have == 0 || capacity <= have) {
			migration_unlock(cl);
			return 0;
		}

		CMM_STORE_SHARED(cl->ctl->migration_target, capacity);
		CMM_STORE_SHARED(cl->ctl->migration_cursor,
				 CL_MIGRATION_TAG(generation + 1));
		CMM_STORE_SHARED(cl->ctl->migration_settled,
				 CL_MIGRATION_TAG(generation + 1));
		/* Orders target and cursor before the state naming them;
		 * readers of these hold the lock, which orders them too. */
		cmm_smp_wmb();
		state = make_state(CL_MIGRATION_CREATING, generation + 1);
		CMM_STORE_SHARED(cl->ctl->migration_state, state);
		cl_migration_point("creating");
		cl_log(cl, CREDLIMIT_LOG_INFO,
		       "limiter %s: growing the table from %" PRIu64
		       " to %" PRIu64 " slots",
		       cl->name, have, capacity);
	}

	if ((state & 0xff) == CL_MIGRATION_CREATING)
		err = finish_creating(cl, state);
	migration_unlock(cl);
	return err < 0 ? err : 0;
}

/* Compaction: drops entries indistinguishable from a new customer. */
static bool drop_fresh(void *context, uint64_t meta, struct cl_state_word state,
		       uint64_t now_ns)
{
	return cl_classify_victim(context, meta, state, 0, now_ns) ==
	       CL_VICTIM_FRESH;
}

/* Counts of one batch of moved slots. */
struct batch {
	uint64_t settled, moved, dropped, lost;
};

/* Settles slots [start, end) of `from`; a slot a live process keeps busy
 * is left for the final sweep. */
static void move_range(struct credlimit *cl, struct cl_table_map *from,
		       struct cl_table_map *to, uint64_t start, uint64_t end,
		       uint64_t now_ns, struct batch *b)
{
	struct cl_migrate_ops ops = {
		.drop = drop_fresh,
		.victims = { .classify = cl_classify_victim, .context = cl },
		.secret = cl->secret,
		.now_ns = now_ns,
		.pid = cl_self_pid(),
	};

	for (uint64_t i = start; i < end; i++) {
		unsigned events = 0;

		if (cl_migrate_slot(from, i, to, &ops, &events) < 0)
			continue;
		b->settled++;
		if (events & CL_MIGRATE_COPIED)
			b->moved++;
		if (events & CL_MIGRATE_DROPPED)
			b->dropped++;
		if (events & CL_MIGRATE_LOST)
			b->lost++;
	}
}

/*
 * Adds `amount` to a counter tagged with the migration to `target`.
 * Returns the new count, or UINT64_MAX when the counter belongs to
 * another migration (and is left alone).
 */
static uint64_t tagged_add(uint64_t *counter, uint64_t target, uint64_t amount)
{
	uint64_t tag = CL_MIGRATION_TAG(target);
	uint64_t old = CMM_LOAD_SHARED(*counter);

	for (;;) {
		uint64_t seen;

		if ((old & ~CL_MIGRATION_COUNT_MASK) != tag ||
		    (old & CL_MIGRATION_COUNT_MASK) + amount >
			    CL_MIGRATION_COUNT_MASK)
			return UINT64_MAX;
		/* Full barrier; pairs with the other helpers' swaps and
		 * with the reset in cl_grow_start(). */
		seen = uatomic_cmpxchg(counter, old, old + amount);
		if (seen == old)
			return (old + amount) & CL_MIGRATION_COUNT_MASK;
		old = seen;
	}
}

/* Adds a batch to the counters; returns the slots settled so far in the
 * migration to `target`, UINT64_MAX when that migration has ended. */
static uint64_t report_batch(struct credlimit *cl, uint64_t target,
			     const struct batch *b)
{
	uatomic_add(&cl->ctl->entries_moved, b->moved);
	uatomic_add(&cl->ctl->entries_dropped, b->dropped + b->lost);
	if (b->dropped + b->lost > 0)
		uatomic_add(&cl_stripe_of_thread(cl)->removals,
			    b->dropped + b->lost);
	if (b->lost > 0)
		cl_log(cl, CREDLIMIT_LOG_WARNING,
		       "limiter %s: %" PRIu64 " entries found no room in the "
		       "new table and start afresh there",
		       cl->name, b->lost);

	return tagged_add(&cl->ctl->migration_settled, target, b->settled);
}

/*
 * Publishes the target as the current generation and removes the old
 * table, if the migration to `target` is still the one running and every
 * slot of the current table is settled; with `sweep`, settles them all
 * first.  Returns 0 at once when another process holds the migration
 * lock: that process is finishing or sweeping.
 */
static int finish_migration(struct credlimit *cl, uint64_t target, bool sweep,
			    uint64_t now_ns)
{
	char name[CL_SHM_NAME_MAX + 1];
	uint64_t generation;
	struct cl_view *view;

	if (migration_trylock(cl, ++lock_attempts % CL_DEAD_CHECK_EVERY == 0) < 0)
		return 0;
	if (cl_copying_target(CMM_LOAD_SHARED(cl->ctl->migration_state)) !=
	    target) {
		migration_unlock(cl); /* someone else finished it */
		return 0;
	}
	generation = CMM_LOAD_SHARED(cl->ctl->generation);

	if (generation != target) {
		rcu_read_lock();
		view = cl_view_enter(cl);
		if (view == NULL || view->target == NULL) {
			rcu_read_unlock();
			migration_unlock(cl);
			return cl_view_refresh(cl);
		}
		if (sweep) {
			/* A helper died or stalls: settle every slot here;
			 * slots already settled cost one read each. */
			struct batch b = { 0 };
			uint64_t capacity = view->current->table.capacity;
			uint64_t settled;

			move_range(cl, &view->current->table,
				   &view->target->table, 0, capacity, now_ns,
				   &b);
			rcu_read_unlock();
			settled = b.settled;
			b.settled = 0; /* the sweep counted every slot anew */
			report_batch(cl, target, &b);
			if (settled < capacity) {
				/* A live process still holds a slot. */
				migration_unlock(cl);
				return -EBUSY;
			}
		} else {
			rcu_read_unlock();
		}

		/* Every old slot is settled before the switch; pairs with
		 * the loads in cl_view_enter(). */
		cmm_smp_mb();
		CMM_STORE_SHARED(cl->ctl->generation, target);
		cl_migration_point("published");
	}
	CMM_STORE_SHARED(cl->ctl->migration_state, 0);
	uatomic_inc(&cl->ctl->migrations_done);
	migration_unlock(cl);
	cl_migration_point("cleared");

	/* Processes that mapped it keep their mapping until they switch. */
	cl_shm_name(name, cl->name, target - 1);
	shm_unlink(name);
	cl_log(cl, CREDLIMIT_LOG_INFO,
	       "limiter %s: table generation %" PRIu64 " is current", cl->name,
	       target);
	return 1;
}

int cl_grow_step(struct credlimit *cl, uint64_t now_ns, uint64_t slots)
{
	uint64_t state, target, capacity, start, settled;
	struct batch b = { 0 };
	struct cl_view *view;

	state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	if (state == 0 || cl->rdonly || cl->private_limiter)
		return 0;

	if ((state & 0xff) == CL_MIGRATION_CREATING) {
		/* Only a creator that died leaves this phase for long. */
		if (migration_trylock(cl, ++lock_attempts % CL_DEAD_CHECK_EVERY ==
						  0) < 0)
			return 0;
		state = CMM_LOAD_SHARED(cl->ctl->migration_state);
		if ((state & 0xff) == CL_MIGRATION_CREATING)
			finish_creating(cl, state);
		migration_unlock(cl);
		return 0;
	}

	/* A migrator died after publishing the target: clean up. */
	target = cl_copying_target(state);
	if (target == CMM_LOAD_SHARED(cl->ctl->generation))
		return finish_migration(cl, target, false, now_ns);

	rcu_read_lock();
	view = cl_view_enter(cl);
	if (view == NULL || view->target == NULL) {
		rcu_read_unlock();
		return cl_view_refresh(cl);
	}
	target = view->target->table.generation;
	capacity = view->current->table.capacity;

	/* Each helper takes the next chunk of slots, so every decision
	 * during a migration moves some, and the migration outpaces the
	 * inserts that fill the new table.  The view names the migration's
	 * tables; the tag makes sure the chunk is of that migration. */
	start = tagged_add(&cl->ctl->migration_cursor, target, slots);
	if (start == UINT64_MAX) {
		rcu_read_unlock();
		return 0; /* it ended meanwhile */
	}
	start -= slots;
	if (start < capacity) {
		move_range(cl, &view->current->table, &view->target->table,
			   start, start + slots < capacity ? start + slots
							   : capacity,
			   now_ns, &b);
		rcu_read_unlock();
		settled = report_batch(cl, target, &b);
		if (settled != UINT64_MAX && settled >= capacity)
			return finish_migration(cl, target, false, now_ns);
		return 0;
	}
	rcu_read_unlock();

	/* Every chunk was handed out, but some helpers are still at work,
	 * or died.  Rather than let the new table fill with new keys while
	 * a descheduled helper holds the last chunk, one process sweeps the
	 * whole table, settling what is left, and finishes. */
	settled = CMM_LOAD_SHARED(cl->ctl->migration_settled);
	if ((settled & ~CL_MIGRATION_COUNT_MASK) != CL_MIGRATION_TAG(target))
		return 0;
	settled &= CL_MIGRATION_COUNT_MASK;
	return finish_migration(cl, target, settled < capacity, now_ns);
}

bool cl_grow_wanted(const struct credlimit *cl, const struct cl_table_map *t,
		    unsigned events)
{
	if (!(events & CL_SLOT_INSERTED) || t->capacity >= cl->max_capacity)
		return false;
	if (events & CL_SLOT_CROWDED)
		return true;
	return CMM_LOAD_SHARED(t->header->used_slots) * 2 >= t->capacity;
}

static void sleep_briefly(void)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 1000000 };

	nanosleep(&ts, NULL);
}

/* Slots credlimit_grow() moves per step. */
#define CL_GROW_MANUAL_SLOTS 4096

/* Drives the running migration, if any, to its end. */
static int grow_finish(struct credlimit *cl)
{
	while (CMM_LOAD_SHARED(cl->ctl->migration_state) != 0) {
		int err = cl_grow_step(cl, cl_monotonic_ns(),
				       CL_GROW_MANUAL_SLOTS);

		if (err < 0 && err != -EBUSY)
			return err;
		/* Once every chunk is handed out, wait for the helpers
		 * that hold the last ones (or for the stall sweep). */
		if (err != 1 && (CMM_LOAD_SHARED(cl->ctl->migration_cursor) &
				 CL_MIGRATION_COUNT_MASK) >= current_capacity(cl))
			sleep_briefly();
	}
	return cl_view_refresh(cl);
}

int credlimit_grow(credlimit_t *cl, uint64_t capacity)
{
	uint64_t have;
	int err;

	if (cl == NULL)
		return -EINVAL;
	if (cl->rdonly)
		return -EROFS;
	if (capacity > cl->max_capacity)
		return -ERANGE;

	err = grow_finish(cl);
	if (err < 0)
		return err;

	have = current_capacity(cl);
	if (capacity == 0)
		capacity = have * 2;
	while (capacity & (capacity - 1))
		capacity += capacity & -capacity;
	if (capacity > cl->max_capacity)
		return -ERANGE;
	if (capacity <= have)
		return 0;

	for (;;) {
		err = cl_grow_start(cl, capacity);
		if (err == 0)
			break;
		if (err != -EBUSY)
			return err;
		sleep_briefly();
	}
	return grow_finish(cl);
}
