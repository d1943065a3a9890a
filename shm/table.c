/*
 * table.c - finding, inserting and evicting entries
 *
 * Lookups are wait-free for other keys: they read meta words and skip
 * every slot whose status, tag or key differs, and stop at the first EMPTY
 * slot or after probe_limit slots.  They wait only on a slot that may hold
 * their own key and is being written or evicted right now.
 *
 * Inserts.  An inserter claims the first EMPTY slot of the key's probe
 * sequence with a compare-and-swap of meta from 0 to CLAIMED (tag, length,
 * its pid), writes the key and a fresh state, and publishes READY.  Slots
 * never return to EMPTY, so two inserters of one key always race for the
 * same slot: whichever scans second meets the other's claim (same tag) and
 * waits for it.  A claimer that dies leaves its slot CLAIMED; a process
 * that waits on it, or an evicter looking for room, finds the pid gone and
 * takes the slot over with a compare-and-swap from the dead claim.
 *
 * Evictions.  When the probe sequence has no EMPTY slot, the inserter takes
 * an eviction lock (one of CL_EVICT_LOCKS, chosen by the home slot, so all
 * evicting inserters of one key serialize), scans again, picks a victim and
 * rewrites its slot:
 *
 *   1. state: LIVE -> EVICTING(pid), which stops every decision on it;
 *   2. meta:  READY(victim) -> CLAIMED(new key);
 *   3. key words and last_seen written;
 *   4. state: EVICTING -> fresh, slot generation + 1;
 *   5. meta:  CLAIMED -> READY.
 *
 * A decision on the victim that loaded its state before step 1 fails its
 * compare-and-swap and looks the key up again.  An evicter killed after
 * step 1 but before step 2 leaves the victim READY and EVICTING: the next
 * decision on the victim's key, or the next evicter that considers the
 * slot, sees the pid gone and resets it to a fresh state, which loses
 * nothing the eviction would have kept.  Killed after step 2, it leaves a
 * dead claim, recovered as above.
 */
#include <errno.h>
#include <string.h>

#include "credlimit.h"
#include "shm/pidlock.h"
#include "shm/siphash.h"
#include "shm/table.h"

/* An insert this many slots or more from its home slot reports
 * CL_SLOT_CROWDED, a sign that the table should grow. */
#define CL_CROWDED_DISTANCE 48

void cl_key_prepare(struct cl_key *k, const uint64_t secret[2],
		    const void *key, size_t len)
{
	uint8_t bytes[32] = { 0 };

	k->len = len;
	k->hashed = len > CREDLIMIT_KEY_INLINE_MAX;
	if (!k->hashed) {
		memcpy(bytes, key, len);
		k->hash = cl_siphash13(secret, key, len);
	} else {
		cl_siphash24_128(secret, key, len, bytes);
		memcpy(bytes + 16, key, CREDLIMIT_KEY_PREFIX);
		memcpy(&k->hash, bytes, sizeof(k->hash));
	}
	k->tag = (unsigned)(k->hash >> CL_META_TAG_SHIFT);
	memcpy(k->stored, bytes, sizeof(k->stored));
}

bool cl_key_from_entry(struct cl_key *k, const uint64_t secret[2],
		       uint64_t meta, const uint64_t key[4])
{
	/* The meta word comes from shared memory: a length that does not
	 * fit the stored form would make the hash read past the key. */
	if (cl_meta_len(meta) == 0 ||
	    cl_meta_hashed(meta) !=
		    (cl_meta_len(meta) > CREDLIMIT_KEY_INLINE_MAX))
		return false;

	k->len = cl_meta_len(meta);
	k->hashed = cl_meta_hashed(meta);
	k->hash = cl_stored_key_hash(secret, meta, key);
	k->tag = (unsigned)(k->hash >> CL_META_TAG_SHIFT);
	memcpy(k->stored, key, sizeof(k->stored));
	return true;
}

uint64_t cl_stored_key_hash(const uint64_t secret[2], uint64_t meta,
			    const uint64_t key[4])
{
	uint64_t hash;

	if (cl_meta_hashed(meta) || cl_meta_len(meta) > CREDLIMIT_KEY_INLINE_MAX) {
		memcpy(&hash, key, sizeof(hash));
		return hash;
	}
	return cl_siphash13(secret, key, cl_meta_len(meta));
}

static bool meta_matches(uint64_t meta, const struct cl_key *k)
{
	return cl_meta_status(meta) == CL_SLOT_READY &&
	       cl_meta_tag(meta) == k->tag && cl_meta_len(meta) == k->len &&
	       cl_meta_hashed(meta) == k->hashed;
}

static bool key_equal(const struct cl_entry *e, const struct cl_key *k)
{
	for (int i = 0; i < 4; i++)
		if (CMM_LOAD_SHARED(e->key[i]) != k->stored[i])
			return false;
	return true;
}

/* Outcome of examining one slot. */
enum probe_step {
	STEP_NEXT,  /* not this key: go on */
	STEP_FOUND, /* *out filled */
	STEP_AGAIN, /* the slot changed: examine it again */
};

/*
 * Examines a READY slot for key k.  Returns a probe_step, -EBUSY or
 * CL_EFROZEN (with *out filled).
 */
static int examine_ready(struct cl_table_map *t, uint64_t index,
			 uint64_t meta, const struct cl_key *k, bool writable,
			 struct cl_wait *w, struct cl_slot *out,
			 unsigned *events)
{
	struct cl_entry *e = &t->entries[index];
	struct cl_state_word state;
	int waited;

	if (!meta_matches(meta, k))
		return STEP_NEXT;

	state = cl_state_load(e);
	/* Orders the state load before the key loads; pairs with the
	 * cmm_smp_wmb() in slot_fill() between key stores and state. */
	cmm_smp_rmb();
	if (!key_equal(e, k))
		return STEP_NEXT;
	if (cl_entry_load_meta(e) != meta)
		return STEP_AGAIN;

	switch (cl_state_flags(state.hi)) {
	case CL_STATE_LIVE:
		out->entry = e;
		out->index = index;
		out->meta = meta;
		out->state = state;
		return STEP_FOUND;

	case CL_STATE_EVICTING:
		waited = cl_wait_for_owner(w, (uint32_t)state.lo);
		if (waited < 0)
			return waited;
		if (waited == 1) {
			if (!writable)
				return STEP_NEXT;
			if (cl_entry_reset_dead_eviction(e, state) && events != NULL)
				*events |= CL_SLOT_RECOVERED;
		}
		return STEP_AGAIN;

	default:
		/* FROZEN or MOVED: a migration took the entry. */
		out->entry = e;
		out->index = index;
		out->meta = meta;
		out->state = state;
		return CL_EFROZEN;
	}
}

/*
 * Looks for the READY entry of k from probe position `from` on, stopping at
 * the first EMPTY or SEALED slot.  Returns 0 with *out filled, -ENOENT,
 * -EBUSY, CL_EFROZEN (with *out filled) or CL_ESEALED.
 */
static int find_from(struct cl_table_map *t, const struct cl_key *k,
		     uint32_t from, struct cl_wait *w, struct cl_slot *out,
		     unsigned *events)
{
	uint64_t home = cl_home_slot(t->capacity, k->hash);
	bool writable = events != NULL;
	uint32_t i = from;

	while (i < t->probe_limit) {
		uint64_t index = cl_probe_slot(t->capacity, home, i);
		uint64_t meta = cl_entry_load_meta(&t->entries[index]);
		int step;

		if (meta == 0)
			return -ENOENT;
		if (meta == CL_META_SEALED_EMPTY)
			return CL_ESEALED;
		if (cl_meta_status(meta) != CL_SLOT_READY) {
			i++;
			continue;
		}

		step = examine_ready(t, index, meta, k, writable, w, out,
				     events);
		if (step < 0 || step >= CL_EFROZEN)
			return step;
		if (step == STEP_FOUND)
			return 0;
		if (step == STEP_NEXT)
			i++;
	}
	return -ENOENT;
}

int cl_table_find(struct cl_table_map *t, const struct cl_key *k,
		  bool writable, struct cl_slot *out)
{
	struct cl_wait w = { 0 };
	unsigned events = 0;

	return find_from(t, k, 0, &w, out, writable ? &events : NULL);
}

/* What a claimed slot is filled with: the key words, the state (its slot
 * generation is replaced) and the time last seen. */
struct cl_content {
	const uint64_t *key;
	struct cl_state_word state;
	uint64_t last_seen_ns;
};

/* Writes `content` into a slot this process has claimed. */
static void slot_fill(struct cl_entry *e, const struct cl_content *content)
{
	struct cl_state_word current = cl_state_load(e);
	struct cl_state_word next;

	for (int i = 0; i < 4; i++)
		CMM_STORE_SHARED(e->key[i], content->key[i]);
	CMM_STORE_SHARED(e->last_seen_ns, content->last_seen_ns);

	/* Orders the key stores before the state change; pairs with the
	 * cmm_smp_rmb() in examine_ready() between state and key loads. */
	cmm_smp_wmb();
	do {
		/* A new slot generation, so a reader never sees this slot's
		 * state word take an earlier value again. */
		next.lo = content->state.lo;
		next.hi = cl_state_make_hi(cl_state_window(content->state.hi),
					   cl_state_wid(content->state.hi),
					   cl_state_gen(current.hi) + 1,
					   CL_STATE_LIVE);
	} while (!cl_state_cas(e, &current, next));
}

/* Turns this process's claim into READY and reads the published slot. */
static int slot_publish(struct cl_table_map *t, uint64_t index,
			uint64_t claim, struct cl_slot *out)
{
	struct cl_entry *e = &t->entries[index];
	uint64_t ready = cl_meta_with_status(claim, CL_SLOT_READY);

	/* Full barrier: the key and state become visible before READY;
	 * pairs with the cmm_smp_rmb() in cl_entry_load_meta(). */
	if (uatomic_cmpxchg(&e->meta, claim, ready) != claim)
		return -EBUSY;

	out->entry = e;
	out->index = index;
	out->meta = ready;
	out->state = cl_state_load(e);
	return 0;
}

/* Fills and publishes a slot claimed with `claim`. */
static int slot_take(struct cl_table_map *t, uint64_t index,
		     const struct cl_content *content, uint64_t claim,
		     struct cl_slot *out)
{
	slot_fill(&t->entries[index], content);
	return slot_publish(t, index, claim, out);
}

/*
 * Scans the whole probe sequence of k for its entry, then inserts
 * `content` into the first free slot: an EMPTY one, or one claimed for a
 * key with k's tag by a process that died.  The scan must reach the end
 * before reusing a dead claim, because an evicter can die holding a claim
 * on a slot that lies before the key's existing entry.  Every inserter of
 * k waits on live claims with k's tag instead of passing them, so all of
 * them agree on the first free slot and race for it with one
 * compare-and-swap.
 *
 * Returns 0, -ENOSPC (no entry and no free slot), -EBUSY, CL_EFROZEN (the
 * key's entry is frozen or moved by a migration; *out describes it) or
 * CL_ESEALED (a migration sealed the first free slot: the key belongs in
 * the next table).
 */
static int scan_or_claim(struct cl_table_map *t, const struct cl_key *k,
			 const struct cl_content *content, uint64_t claim,
			 struct cl_wait *w, struct cl_slot *out,
			 unsigned *events)
{
	uint64_t home = cl_home_slot(t->capacity, k->hash);
	uint32_t i;

rescan:
	i = 0;
	while (i < t->probe_limit) {
		uint64_t index = cl_probe_slot(t->capacity, home, i);
		struct cl_entry *e = &t->entries[index];
		uint64_t meta = cl_entry_load_meta(e);
		unsigned inserted = CL_SLOT_INSERTED;
		int step;

		if (meta == CL_META_SEALED_EMPTY)
			return CL_ESEALED;

		if (meta != 0 && cl_meta_status(meta) == CL_SLOT_CLAIMED &&
		    cl_meta_tag(meta) == k->tag) {
			step = cl_wait_for_owner(w, cl_meta_pid(meta));
			if (step < 0)
				return step;
			if (step == 0)
				continue;
			/* A dead claim with our tag: free, unless our key
			 * has an entry further on. */
			step = find_from(t, k, i + 1, w, out, events);
			if (step != -ENOENT)
				return step;
			inserted |= CL_SLOT_RECOVERED;
		} else if (meta != 0) {
			if (cl_meta_status(meta) != CL_SLOT_READY) {
				i++;
				continue;
			}
			step = examine_ready(t, index, meta, k, true, w, out,
					     events);
			if (step < 0 || step >= CL_EFROZEN)
				return step;
			if (step == STEP_FOUND)
				return 0;
			if (step == STEP_NEXT)
				i++;
			continue;
		}

		/* Full barrier; pairs with cl_entry_load_meta() of other inserters
		 * scanning this slot: one of them wins it. */
		if (uatomic_cmpxchg(&e->meta, meta, claim) != meta)
			goto rescan;
		if (meta == 0)
			uatomic_inc(&t->header->used_slots);
		if (i >= CL_CROWDED_DISTANCE)
			inserted |= CL_SLOT_CROWDED;
		*events |= inserted;
		return slot_take(t, index, content, claim, out);
	}
	return -ENOSPC;
}

/* The slot chosen to make room, and the values it was judged on. */
struct cl_victim {
	uint64_t index;
	uint64_t meta;
	struct cl_state_word state;
	bool dead_claim;
};

/*
 * Chooses what to evict from the probe sequence of k: a slot claimed by a
 * dead process first, then the first entry indistinguishable from a new
 * customer, then the least recently seen entry idle for two windows.
 * ops->classify decides which entries may be chosen at all.
 */
static bool choose_victim(struct cl_table_map *t, const struct cl_key *k,
			  uint64_t now_ns, const struct cl_victim_ops *ops,
			  struct cl_victim *victim)
{
	uint64_t home = cl_home_slot(t->capacity, k->hash);
	uint64_t oldest = UINT64_MAX;
	bool found = false;

	for (uint32_t i = 0; i < t->probe_limit; i++) {
		uint64_t index = cl_probe_slot(t->capacity, home, i);
		struct cl_entry *e = &t->entries[index];
		uint64_t meta = cl_entry_load_meta(e);
		struct cl_state_word state;
		uint64_t last_seen;
		enum cl_victim_class class;

		if (cl_meta_status(meta) == CL_SLOT_CLAIMED &&
		    !cl_pid_alive(cl_meta_pid(meta))) {
			victim->index = index;
			victim->meta = meta;
			victim->dead_claim = true;
			return true;
		}
		if (cl_meta_status(meta) != CL_SLOT_READY)
			continue;

		state = cl_state_load(e);
		if (cl_state_flags(state.hi) == CL_STATE_EVICTING &&
		    !cl_pid_alive((uint32_t)state.lo) &&
		    cl_entry_reset_dead_eviction(e, state))
			state = cl_state_load(e);
		if (cl_state_flags(state.hi) != CL_STATE_LIVE)
			continue;
		last_seen = CMM_LOAD_SHARED(e->last_seen_ns);

		class = ops->classify(ops->context, meta, state, last_seen,
				      now_ns);
		if (class == CL_VICTIM_NONE)
			continue;
		if (class == CL_VICTIM_IDLE && (found && last_seen >= oldest))
			continue;

		victim->index = index;
		victim->meta = meta;
		victim->state = state;
		victim->dead_claim = false;
		found = true;
		oldest = last_seen;
		if (class == CL_VICTIM_FRESH)
			return true;
	}
	return found;
}

/* Bits of a READY meta word that identify its key and assignment. */
static uint64_t meta_identity(uint64_t meta)
{
	return meta & ~(CL_META_LAST_MASK << CL_META_LAST_SHIFT);
}

/*
 * Rewrites a READY victim's slot with `content`, steps 1 to 5 of the
 * header comment.  Returns 0, 1 when the victim changed and another must
 * be chosen, or a negative error.
 */
static int evict_into(struct cl_table_map *t, const struct cl_victim *victim,
		      const struct cl_content *content, uint64_t claim,
		      uint32_t pid, struct cl_slot *out)
{
	struct cl_entry *e = &t->entries[victim->index];
	struct cl_state_word expected = victim->state;
	struct cl_state_word evicting = {
		.lo = pid,
		.hi = (victim->state.hi &
		       ~(UINT64_C(3) << CL_STATE_FLAGS_SHIFT)) |
		      (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT,
	};

	if (!cl_state_cas(e, &expected, evicting))
		return 1;

	for (;;) {
		uint64_t meta = cl_entry_load_meta(e);

		if (cl_meta_status(meta) != CL_SLOT_READY ||
		    meta_identity(meta) != meta_identity(victim->meta)) {
			/* An operator assigned a policy meanwhile: give the
			 * entry back, in a new slot generation so readers
			 * never see its old state word twice. */
			struct cl_state_word back = {
				.lo = victim->state.lo,
				.hi = cl_state_make_hi(
					cl_state_window(victim->state.hi),
					cl_state_wid(victim->state.hi),
					cl_state_gen(victim->state.hi) + 1,
					CL_STATE_LIVE),
			};

			cl_state_cas(e, &evicting, back);
			return 1;
		}
		/* Full barrier; pairs with cl_entry_load_meta() in lookups, which
		 * then skip the slot as claimed by another key. */
		if (uatomic_cmpxchg(&e->meta, meta, claim) == meta)
			break;
	}

	return slot_take(t, victim->index, content, claim, out);
}

/*
 * Makes room for key k under its eviction lock.  Same returns as
 * cl_table_get_slot().  While a migration runs, this table takes no new
 * keys by eviction: the key goes to the next table (CL_ESEALED) or waits
 * for it (-ENOSPC), as ops->forward says.  The check happens under the
 * lock, so an evicting inserter that started before the migration either
 * finished first (and the rescan finds its key) or sees the migration too.
 */
static int evict_for(struct cl_table_map *t, const struct cl_key *k,
		     const struct cl_content *content, uint64_t now_ns,
		     uint64_t claim, uint32_t pid,
		     const struct cl_victim_ops *ops, struct cl_wait *w,
		     struct cl_slot *out, unsigned *events)
{
	uint64_t *lock =
		&t->locks[cl_home_slot(t->capacity, k->hash) % CL_EVICT_LOCKS];
	int err;

	err = cl_pidlock_acquire(lock, CL_OWNER_TIMEOUT_NS);
	if (err < 0)
		return err;
	if (err == 1)
		*events |= CL_SLOT_RECOVERED;

	/* Another evicting inserter of this key may have finished while we
	 * waited for the lock. */
	err = scan_or_claim(t, k, content, claim, w, out, events);
	if (err != -ENOSPC)
		goto out_unlock;
	if (ops->forward != NULL) {
		err = ops->forward(ops->context);
		if (err != 0)
			goto out_unlock;
	}

	for (int attempt = 0; attempt < 8; attempt++) {
		struct cl_victim victim;

		if (!choose_victim(t, k, now_ns, ops, &victim)) {
			err = -ENOSPC;
			goto out_unlock;
		}

		if (victim.dead_claim) {
			/* Same pairing as any claim: one process wins. */
			if (uatomic_cmpxchg(&t->entries[victim.index].meta,
					    victim.meta, claim) != victim.meta)
				continue;
			*events |= CL_SLOT_INSERTED | CL_SLOT_RECOVERED;
			err = slot_take(t, victim.index, content, claim, out);
			goto out_unlock;
		}

		err = evict_into(t, &victim, content, claim, pid, out);
		if (err == 1)
			continue;
		if (err == 0)
			*events |= CL_SLOT_INSERTED | CL_SLOT_EVICTED;
		goto out_unlock;
	}
	err = -ENOSPC;

out_unlock:
	cl_pidlock_release(lock);
	return err;
}

/* Finds k or inserts `content` for it under meta word `claim`. */
static int get_or_insert(struct cl_table_map *t, const struct cl_key *k,
			 const struct cl_content *content, uint64_t now_ns,
			 uint64_t claim, uint32_t pid,
			 const struct cl_victim_ops *ops, struct cl_slot *out,
			 unsigned *events)
{
	struct cl_wait w = { 0 };
	int err;

	*events = 0;
	err = scan_or_claim(t, k, content, claim, &w, out, events);
	if (err != -ENOSPC)
		return err;
	return evict_for(t, k, content, now_ns, claim, pid, ops, &w, out,
			 events);
}

int cl_table_get_slot(struct cl_table_map *t, const struct cl_key *k,
		      uint64_t now_ns, unsigned policy, uint32_t pid,
		      const struct cl_victim_ops *ops, struct cl_slot *out,
		      unsigned *events)
{
	struct cl_content fresh = {
		.key = k->stored,
		.state = { 0, 0 },
		.last_seen_ns = now_ns,
	};
	uint64_t claim;

	claim = cl_meta_make_claim(k->tag, (unsigned)k->len, k->hashed, pid);
	claim = cl_meta_with_last_policy(claim, policy);
	return get_or_insert(t, k, &fresh, now_ns, claim, pid, ops, out,
			     events);
}

int cl_table_copy_in(struct cl_table_map *t, const struct cl_key *k,
		     uint64_t meta, struct cl_state_word state,
		     uint64_t last_seen_ns, uint64_t now_ns, uint32_t pid,
		     const struct cl_victim_ops *ops, struct cl_slot *out,
		     unsigned *events)
{
	struct cl_content copy = {
		.key = k->stored,
		.state = state,
		.last_seen_ns = last_seen_ns,
	};
	uint64_t claim;

	claim = cl_meta_make_claim(k->tag, (unsigned)k->len, k->hashed, pid);
	claim = cl_meta_with_last_policy(claim, cl_meta_last_policy(meta));
	claim = cl_meta_with_override(claim, cl_meta_override(meta));
	return get_or_insert(t, k, &copy, now_ns, claim, pid, ops, out,
			     events);
}

bool cl_table_snapshot(const struct cl_table_map *t, uint64_t index,
		       uint64_t *meta, struct cl_state_word *state,
		       uint64_t key[4], uint64_t *last_seen_ns)
{
	const struct cl_entry *e = &t->entries[index];

	for (int tries = 0; tries < 1000; tries++) {
		uint64_t first = cl_entry_load_meta(e);
		uint64_t hi_again;

		if (cl_meta_status(first) != CL_SLOT_READY)
			return false;

		*state = cl_state_load(e);
		/* Orders the state load before the key loads; pairs with
		 * the cmm_smp_wmb() in slot_fill(). */
		cmm_smp_rmb();
		for (int i = 0; i < 4; i++)
			key[i] = CMM_LOAD_SHARED(e->key[i]);
		*last_seen_ns = CMM_LOAD_SHARED(e->last_seen_ns);
		/* Orders the key loads before the checks below; an evicter
		 * changes the state word before it writes a key. */
		cmm_smp_rmb();
		hi_again = CMM_LOAD_SHARED(e->state_hi);
		*meta = CMM_LOAD_SHARED(e->meta);

		if (*meta == first && hi_again == state->hi)
			return true;
		caa_cpu_relax();
	}
	return false;
}
