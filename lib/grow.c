/*
 * grow.c - growing the table into a new generation under live traffic
 *
 * A migration takes the table of generation G to a larger table,
 * generation G + 1, in a new segment "/credlimit.NAME.g<G+1>".  The
 * control segment records it (shm/layout.h): the phase and the target
 * generation in migration_state, the target capacity, a cursor handing
 * out pieces of work, a count of pieces done, and the pid holding the
 * migration lock.
 *
 *   CREATING   A decision whose insert finds the table half full, or had
 *              to land far from its home slot, takes the lock, records
 *              the target, creates the target segment (sized, not yet
 *              backed by memory) and its header, and moves on.
 *   RESERVING  Decisions each reserve one slice of the target's memory
 *              (posix_fallocate), so that a /dev/shm too small for it is
 *              found before any entry moves (the migration is then
 *              abandoned) and no process faults on a page tmpfs cannot
 *              supply.  Slices spread the cost: reserving 256 MB at once
 *              takes a decision about a tenth of a second.
 *   COPYING    Decisions each move one chunk of slots (shm/migrate.c)
 *              while decisions on any key keep working, following frozen
 *              and moved entries into the target (lib/locate.c).
 *   done       The helper that completes the last chunk publishes
 *              generation G + 1, clears the migration and unlinks segment
 *              G.  Processes switch their view at their next decision
 *              (lib/view.c).
 *
 * Pieces are handed out by a tagged counter and marked done in a bitmap
 * (the reservation bits in the control segment, the chunk bits in the
 * target's header).  A helper that finds every piece handed out redoes a
 * piece whose bit is still clear: every piece is idempotent, so a helper
 * that is descheduled, or killed, while holding a piece delays nobody.
 * The lock is a pid word, taken over from a dead holder, and serializes
 * only the short phase changes.  A decision never waits for it; only
 * credlimit_grow() does.
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
#include "backend.h"
#include "handle.h"
#include "log.h"
#include "shm/migrate.h"
#include "shm/pidlock.h"
#include "view.h"

/* Decisions between two liveness checks of a migration lock holder. */
#define CL_DEAD_CHECK_EVERY 256

/* Smallest slice of the target's memory reserved at once, bytes. */
#define CL_RESERVE_SLICE_MIN (UINT64_C(1) << 20)

/* After a failed growth, decisions wait 1 s before they start another.
 * Each failure in a row doubles the wait, up to this many seconds.  A
 * growth that cannot succeed (no room, no permission) then costs one
 * attempt and one log line per wait rather than one per insert. */
#define CL_GROWTH_RETRY_MAX_S 64

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

static int migration_trylock_often(struct credlimit *cl)
{
	return migration_trylock(cl, ++lock_attempts % CL_DEAD_CHECK_EVERY ==
					     0);
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

static unsigned state_phase(uint64_t state)
{
	return (unsigned)(state & 0xff);
}

/*
 * Adds `amount` to a counter tagged for (target, phase).  Returns the
 * count before the addition, or UINT64_MAX when the counter belongs to
 * another migration or phase (and is left alone).
 */
static uint64_t tagged_add(uint64_t *counter, uint64_t target, unsigned phase,
			   uint64_t amount)
{
	uint64_t tag = CL_MIGRATION_TAG(target, phase);
	uint64_t old = CMM_LOAD_SHARED(*counter);

	for (;;) {
		uint64_t seen;

		if ((old & ~CL_MIGRATION_COUNT_MASK) != tag ||
		    (old & CL_MIGRATION_COUNT_MASK) + amount >
			    CL_MIGRATION_COUNT_MASK)
			return UINT64_MAX;
		/* Full barrier; pairs with the other helpers' swaps and
		 * with the resets at phase changes. */
		seen = uatomic_cmpxchg(counter, old, old + amount);
		if (seen == old)
			return old & CL_MIGRATION_COUNT_MASK;
		old = seen;
	}
}

/* Starts phase `phase` of the migration to `target`: resets the cursor
 * and publishes the state.  Caller holds the lock. */
static void enter_phase(struct credlimit *cl, uint64_t target, unsigned phase)
{
	CMM_STORE_SHARED(cl->ctl->migration_cursor,
			 CL_MIGRATION_TAG(target, phase));
	/* Orders the cursor (and, for RESERVING, the target's header)
	 * before the state that makes helpers use them; pairs with the
	 * loads in cl_grow_step() and cl_view_enter(). */
	cmm_smp_wmb();
	CMM_STORE_SHARED(cl->ctl->migration_state, make_state(phase, target));
}

/* Seconds decisions wait before the next growth after `failures`
 * failures in a row. */
static uint64_t retry_delay_s(uint64_t failures)
{
	uint64_t delay = 1;

	while (delay < CL_GROWTH_RETRY_MAX_S && --failures > 0)
		delay *= 2;
	return delay;
}

/* Abandons a migration before any entry moved, and makes decisions wait
 * before they start the next one.  Caller holds the lock. */
static void abandon(struct credlimit *cl, uint64_t target, int error)
{
	char name[CL_SHM_NAME_MAX + 1];
	uint64_t capacity = CMM_LOAD_SHARED(cl->ctl->migration_target);
	uint64_t failures = CMM_LOAD_SHARED(cl->ctl->growth_failures) + 1;
	uint64_t delay = retry_delay_s(failures);

	CMM_STORE_SHARED(cl->ctl->growth_failures, failures);
	CMM_STORE_SHARED(cl->ctl->growth_retry_ns,
			 cl_monotonic_ns() + delay * 1000000000);
	CMM_STORE_SHARED(cl->ctl->migration_state, 0);
	cl_shm_name(name, cl->name, target);
	shm_unlink(name);

	if (error == -EPERM)
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "cannot grow limiter %s: a process of uid %u may not "
		       "create segments owned by uid %u and group %u, the "
		       "limiter's; the table keeps its size, and decisions "
		       "try again in %" PRIu64 " s",
		       cl->name, (unsigned)geteuid(), (unsigned)cl->owner,
		       (unsigned)cl->group, delay);
	else
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "cannot grow limiter %s to %" PRIu64 " slots "
		       "(generation %" PRIu64 ", %" PRIu64 " bytes): %s; the "
		       "table keeps its size, and decisions try again in "
		       "%" PRIu64 " s",
		       cl->name, capacity, target, cl_table_size(capacity),
		       credlimit_strerror(error), delay);
}

/* Creates the target segment and its header, then starts RESERVING.
 * Caller holds the lock; the state is CREATING. */
static int finish_creating(struct credlimit *cl, uint64_t state)
{
	char name[CL_SHM_NAME_MAX + 1];
	uint64_t target = state >> 8;
	uint64_t capacity = CMM_LOAD_SHARED(cl->ctl->migration_target);
	struct cl_mapping map;
	int err;

	if (capacity < CL_CAPACITY_MIN || capacity > cl->max_capacity) {
		abandon(cl, target, -EBADMSG);
		return -EBADMSG;
	}

	/* A process that died creating it may have left a part. */
	cl_shm_name(name, cl->name, target);
	shm_unlink(name);
	err = cl_segment_create(name, cl_table_size(capacity), cl->mode,
				cl->owner, cl->group, false, &map);
	cl_migration_point("created");
	if (err < 0) {
		abandon(cl, target, err);
		return err;
	}
	cl_table_init(map.addr, cl->ctl, target, capacity);
	cl_segment_unmap(&map);
	enter_phase(cl, target, CL_MIGRATION_RESERVING);
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

int cl_grow_start(struct credlimit *cl, uint64_t capacity, bool by_hand)
{
	uint64_t state, generation, have;
	int err;

	if (cl->rdonly)
		return -EROFS;
	if (cl->private_limiter)
		return 0;
	if (!by_hand &&
	    cl_monotonic_ns() < CMM_LOAD_SHARED(cl->ctl->growth_retry_ns) &&
	    CMM_LOAD_SHARED(cl->ctl->migration_state) == 0)
		return -EAGAIN;

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
		state = make_state(CL_MIGRATION_CREATING, generation + 1);
		/* Orders the target capacity before the state naming it;
		 * readers of it hold the lock, which orders it too. */
		cmm_smp_wmb();
		CMM_STORE_SHARED(cl->ctl->migration_state, state);
		cl_migration_point("creating");
		cl_log(cl, CREDLIMIT_LOG_INFO,
		       "limiter %s: growing the table from %" PRIu64
		       " to %" PRIu64 " slots",
		       cl->name, have, capacity);
	}

	err = 0;
	if (state_phase(state) == CL_MIGRATION_CREATING)
		err = finish_creating(cl, state);
	migration_unlock(cl);
	return err;
}

/*
 * Sets bit `index` of a bitmap in shared memory.  Returns true when this
 * call set it (it was clear).
 */
static bool set_bit(uint64_t *bits, uint64_t index)
{
	uint64_t *word = &bits[index / 64];
	uint64_t mask = UINT64_C(1) << (index % 64);
	uint64_t old = CMM_LOAD_SHARED(*word);

	while (!(old & mask)) {
		/* Full barrier: the piece's work is visible before its
		 * bit; pairs with the loads of find_clear_bit(). */
		uint64_t seen = uatomic_cmpxchg(word, old, old | mask);

		if (seen == old)
			return true;
		old = seen;
	}
	return false;
}

/* Returns the index of a clear bit below `count`, starting the search at
 * `hint` so helpers spread out, or UINT64_MAX when all are set. */
static uint64_t find_clear_bit(const uint64_t *bits, uint64_t count,
			       uint64_t hint)
{
	for (uint64_t n = 0; n < count; n++) {
		uint64_t index = (hint + n) % count;

		if (!(CMM_LOAD_SHARED(bits[index / 64]) &
		      (UINT64_C(1) << (index % 64))))
			return index;
	}
	return UINT64_MAX;
}

/*
 * Takes a piece of the phase's work: the next one handed out, or once all
 * are, one still not done.  Returns its index, or UINT64_MAX when every
 * piece is done or the phase ended.
 */
static uint64_t take_piece(struct credlimit *cl, uint64_t target,
			   unsigned phase, const uint64_t *bits,
			   uint64_t pieces)
{
	uint64_t index = tagged_add(&cl->ctl->migration_cursor, target, phase,
				    1);

	if (index == UINT64_MAX)
		return UINT64_MAX;
	if (index < pieces)
		return index;
	return find_clear_bit(bits, pieces, (uint64_t)cl_self_pid() * 7919);
}

/* Marks a piece done; returns true when every piece is done now. */
static bool piece_done(uint64_t *bits, uint64_t index, uint64_t pieces)
{
	set_bit(bits, index);
	return find_clear_bit(bits, pieces, 0) == UINT64_MAX;
}

/* Number of slices the target's memory is reserved in, and their size. */
static uint64_t reserve_slices(uint64_t capacity, uint64_t *slice_bytes)
{
	uint64_t size = cl_table_size(capacity);
	uint64_t slice = (size + CL_RESERVE_SLICES - 1) / CL_RESERVE_SLICES;

	if (slice < CL_RESERVE_SLICE_MIN)
		slice = CL_RESERVE_SLICE_MIN;
	slice = (slice + 4095) & ~UINT64_C(4095);
	*slice_bytes = slice;
	return (size + slice - 1) / slice;
}

/* Reserves one slice of the target; the last one starts COPYING. */
static int reserve_step(struct credlimit *cl, uint64_t target)
{
	char name[CL_SHM_NAME_MAX + 1];
	uint64_t slice, slices, index, size;
	struct cl_table_map table;
	uint64_t *bits;
	bool last;
	int err;

	/* Helpers do not map the target before it takes entries; its
	 * header holds this phase's bits, so map it for this step. */
	err = cl_view_map_generation(cl, target, &table);
	if (err < 0)
		return err == -ENOENT ? 0 : err; /* abandoned meanwhile */
	bits = (uint64_t *)((char *)table.header + CL_TABLE_RESERVE_OFF);
	slices = reserve_slices(table.capacity, &slice);
	size = cl_table_size(table.capacity);

	index = take_piece(cl, target, CL_MIGRATION_RESERVING, bits, slices);
	if (index == UINT64_MAX) {
		cl_segment_unmap(&table.mapping);
		return 0;
	}

	cl_shm_name(name, cl->name, target);
	err = cl_segment_reserve(name, index * slice,
				 index * slice + slice <= size
					 ? slice
					 : size - index * slice);
	last = err == 0 && piece_done(bits, index, slices);
	cl_segment_unmap(&table.mapping);
	if (err < 0) {
		if (migration_trylock(cl, true) >= 0) {
			if (CMM_LOAD_SHARED(cl->ctl->migration_state) ==
			    make_state(CL_MIGRATION_RESERVING, target))
				abandon(cl, target, err);
			migration_unlock(cl);
		}
		return err;
	}
	if (!last)
		return 0;

	/* The whole target is backed: let entries move. */
	for (;;) {
		if (migration_trylock(cl, true) >= 0)
			break;
		cl_backoff(64);
	}
	if (CMM_LOAD_SHARED(cl->ctl->migration_state) ==
	    make_state(CL_MIGRATION_RESERVING, target))
		enter_phase(cl, target, CL_MIGRATION_COPYING);
	migration_unlock(cl);
	return 0;
}

/* Compaction: drops entries indistinguishable from a new customer. */
static bool drop_fresh(void *context, uint64_t meta, struct cl_state_word state,
		       uint64_t now_ns)
{
	return cl_classify_victim(context, meta, state, 0, now_ns) ==
	       CL_VICTIM_FRESH;
}

/* Counts of one moved chunk. */
struct batch {
	uint64_t moved, dropped, lost;
	bool busy; /* a live process kept a slot past the timeout */
};

/* Settles slots [start, end) of `from`; compacts unless now_ns is
 * CREDLIMIT_NOW. */
static void move_range(struct credlimit *cl, struct cl_table_map *from,
		       struct cl_table_map *to, uint64_t start, uint64_t end,
		       uint64_t now_ns, struct batch *b)
{
	bool compact = now_ns != CREDLIMIT_NOW;
	struct cl_migrate_ops ops = {
		.drop = compact ? drop_fresh : NULL,
		.victims = { .classify = cl_classify_victim, .context = cl },
		.secret = cl->secret,
		.now_ns = compact ? now_ns : cl_monotonic_ns(),
		.pid = cl_self_pid(),
	};

	for (uint64_t i = start; i < end; i++) {
		unsigned events = 0;

		if (cl_migrate_slot(from, i, to, &ops, &events) < 0) {
			b->busy = true;
			continue;
		}
		if (events & CL_MIGRATE_COPIED)
			b->moved++;
		if (events & CL_MIGRATE_DROPPED)
			b->dropped++;
		if (events & CL_MIGRATE_LOST)
			b->lost++;
	}
}

static void report_batch(struct credlimit *cl, const struct batch *b)
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
}

/*
 * Publishes the target as the current generation and removes the old
 * table, if the migration to `target` is still the one running.  Returns
 * 1 when this call finished it, 0 when another process did or is.
 */
static int finish_migration(struct credlimit *cl, uint64_t target)
{
	char name[CL_SHM_NAME_MAX + 1];

	for (int tries = 0; migration_trylock(cl, tries % 64 == 63) < 0;
	     tries++) {
		if (cl_copying_target(CMM_LOAD_SHARED(
			    cl->ctl->migration_state)) != target)
			return 0;
		cl_backoff(64);
	}
	if (cl_copying_target(CMM_LOAD_SHARED(cl->ctl->migration_state)) !=
	    target) {
		migration_unlock(cl); /* someone else finished it */
		return 0;
	}

	if (CMM_LOAD_SHARED(cl->ctl->generation) != target) {
		/* Every old slot is settled before the switch; pairs with
		 * the loads in cl_view_enter(). */
		cmm_smp_mb();
		CMM_STORE_SHARED(cl->ctl->generation, target);
		cl_migration_point("published");
	}

	/* Remove the old table before clearing the migration, so a process
	 * killed in between leaves the cleanup to the next step.  Processes
	 * that mapped it keep their mapping until they switch. */
	cl_shm_name(name, cl->name, target - 1);
	shm_unlink(name);
	cl_migration_point("unlinked");

	CMM_STORE_SHARED(cl->ctl->migration_state, 0);
	CMM_STORE_SHARED(cl->ctl->growth_failures, 0);
	uatomic_inc(&cl->ctl->migrations_done);
	migration_unlock(cl);
	cl_migration_point("cleared");
	cl_log(cl, CREDLIMIT_LOG_INFO,
	       "limiter %s: table generation %" PRIu64 " is current", cl->name,
	       target);
	return 1;
}

/* Slots in a chunk of a table of `capacity` slots, and the chunk count. */
static uint64_t move_chunks(uint64_t capacity, uint64_t *chunk_slots)
{
	uint64_t chunk = capacity / CL_MOVE_CHUNKS;

	if (chunk < CL_GROW_STEP_SLOTS)
		chunk = CL_GROW_STEP_SLOTS;
	*chunk_slots = chunk;
	return (capacity + chunk - 1) / chunk;
}

uint64_t cl_grow_progress(const struct credlimit *cl, uint64_t capacity)
{
	uint64_t state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	uint64_t cursor = CMM_LOAD_SHARED(cl->ctl->migration_cursor);
	uint64_t chunk, handed;

	if (state_phase(state) != CL_MIGRATION_COPYING ||
	    (cursor & ~CL_MIGRATION_COUNT_MASK) !=
		    CL_MIGRATION_TAG(state >> 8, CL_MIGRATION_COPYING))
		return 0;
	move_chunks(capacity, &chunk);
	handed = (cursor & CL_MIGRATION_COUNT_MASK) * chunk;
	return handed < capacity ? handed : capacity;
}

/* Moves one chunk of the current table; the last one finishes. */
static int copy_step(struct credlimit *cl, uint64_t target, uint64_t now_ns)
{
	uint64_t capacity, chunk, chunks, index, start, end;
	struct batch b = { 0 };
	struct cl_view *view;
	uint64_t *bits;
	bool last;

	rcu_read_lock();
	view = cl_view_enter(cl);
	if (view == NULL || view->target == NULL ||
	    view->target->table.generation != target) {
		rcu_read_unlock();
		return cl_view_refresh(cl);
	}

	capacity = view->current->table.capacity;
	chunks = move_chunks(capacity, &chunk);
	bits = (uint64_t *)((char *)view->target->table.header +
			    CL_TABLE_CHUNKS_OFF);

	index = take_piece(cl, target, CL_MIGRATION_COPYING, bits, chunks);
	if (index == UINT64_MAX) {
		rcu_read_unlock();
		return 0;
	}

	start = index * chunk;
	end = start + chunk < capacity ? start + chunk : capacity;
	move_range(cl, &view->current->table, &view->target->table, start, end,
		   now_ns, &b);
	last = !b.busy && piece_done(bits, index, chunks);
	rcu_read_unlock();

	report_batch(cl, &b);
	return last ? finish_migration(cl, target) : 0;
}

int cl_grow_step(struct credlimit *cl, uint64_t now_ns)
{
	uint64_t state, target;

	state = CMM_LOAD_SHARED(cl->ctl->migration_state);
	if (state == 0 || cl->rdonly || cl->private_limiter)
		return 0;
	target = state >> 8;

	switch (state_phase(state)) {
	case CL_MIGRATION_CREATING:
		/* Only a creator that died leaves this phase for long. */
		if (migration_trylock_often(cl) < 0)
			return 0;
		state = CMM_LOAD_SHARED(cl->ctl->migration_state);
		if (state_phase(state) == CL_MIGRATION_CREATING)
			finish_creating(cl, state);
		migration_unlock(cl);
		return 0;

	case CL_MIGRATION_RESERVING:
		return reserve_step(cl, target);

	case CL_MIGRATION_COPYING:
		/* A migrator died after publishing the target: clean up. */
		if (target == CMM_LOAD_SHARED(cl->ctl->generation))
			return finish_migration(cl, target);
		return copy_step(cl, target, now_ns);

	default:
		return -EBADMSG;
	}
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

/* Drives the running migration, if any, to its end.  Once every piece
 * is handed out, a step may find nothing to do while others finish the
 * last pieces: yielding between steps lets them run. */
static int grow_finish(struct credlimit *cl)
{
	while (CMM_LOAD_SHARED(cl->ctl->migration_state) != 0) {
		/* Entries are copied whatever their age: callers that
		 * decide with their own times are the only judges of when
		 * an entry is indistinguishable from a new customer. */
		int err = cl_grow_step(cl, CREDLIMIT_NOW);

		if (err < 0 && err != -EBUSY)
			return err;
		cl_backoff(64);
	}
	return cl_view_refresh(cl);
}

int credlimit_grow(credlimit_t *cl, uint64_t capacity)
{
	bool was_migrating;
	uint64_t have;
	int err;

	/* A Redis limiter has no table of its own to grow; a lease handle
	 * grows its lease cache. */
	if (cl != NULL && cl->backend != NULL && cl->lease_cache == NULL)
		return -EOPNOTSUPP;
	if (cl != NULL && cl->lease_cache != NULL)
		cl = cl->lease_cache;

	if (cl == NULL)
		return -EINVAL;
	if (cl->rdonly)
		return -EROFS;
	if (capacity > cl->max_capacity)
		return -ERANGE;

	/* Doubling while a migration is under way (one left by a process
	 * that died, say) means finishing that one: it already doubles. */
	was_migrating = CMM_LOAD_SHARED(cl->ctl->migration_state) != 0;
	err = grow_finish(cl);
	if (err < 0)
		return err;
	if (capacity == 0 && was_migrating)
		return 0;

	have = current_capacity(cl);
	if (capacity == 0)
		capacity = have * 2;
	if (capacity > cl->max_capacity)
		return -ERANGE;
	if (capacity <= have)
		return 0;

	for (;;) {
		err = cl_grow_start(cl, capacity, true);
		if (err == 0)
			break;
		if (err != -EBUSY)
			return err;
		sleep_briefly();
	}
	return grow_finish(cl);
}

int cl_grow_doubled(struct credlimit *cl, uint64_t capacity)
{
	uint64_t target = capacity * 2;

	if (target > cl->max_capacity)
		target = cl->max_capacity;
	return cl_grow_start(cl, target, false);
}

void cl_grow_after_decision(struct credlimit *cl, bool grow,
			    uint64_t capacity, uint64_t now_ns)
{
	if (CMM_LOAD_SHARED(cl->ctl->migration_state) != 0) {
		cl_grow_step(cl, now_ns);
		return;
	}
	if (grow)
		cl_grow_doubled(cl, capacity);
}
