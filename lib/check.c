/*
 * check.c - validating a limiter's segments and every entry's invariants
 *
 * The invariants checked, beyond the header validation done at open:
 *
 *   registry   window_count in [2, CL_WINDOW_SLOTS]; every registered
 *              length valid and distinct
 *   policies   every defined slot has a valid name, valid numbers and a
 *              name no other slot has
 *   EMPTY      meta, state and key all zero
 *   READY      key length 1..CREDLIMIT_KEY_MAX, stored as digest exactly
 *              when longer than CREDLIMIT_KEY_INLINE_MAX, zero padding;
 *              tag and home slot match the key's hash; within probe_limit
 *              of its home with no EMPTY slot in between (lookups stop at
 *              EMPTY); no other READY slot holds the same key; per-key and
 *              last policies defined; window id 0 only for the all-zero
 *              fresh state, else registered; counts at most the largest
 *              max_requests and max_credits any policy ever had
 *   CLAIMED    reported as a note: in progress, or left by a dead process
 *              and reused by the next insert that needs the slot
 *
 * Counts are compared with the largest numbers ever defined rather than
 * with the entry's current policy, because a lowered policy clamps stored
 * counts only at the key's next decision.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <urcu-bp.h>
#include <urcu/system.h>

#include "backend.h"
#include "handle.h"
#include "lease/entry.h"
#include "policy.h"
#include "shm/entry.h"
#include "shm/pidlock.h"

struct checker {
	credlimit_t *cl;
	credlimit_problem_fn report;
	void *context;
	int problems;
	const struct cl_table_map *t;     /* table being checked */
	const struct cl_table_map *other; /* the other table of a migration */
	bool source; /* t is the source of a migration: sealed, frozen and
		      * moved slots are expected */
};

/* Reports a finding; findings about a table name its generation. */
static void __attribute__((format(printf, 3, 4)))
finding(struct checker *c, int level, const char *format, ...)
{
	char message[256];
	size_t used = 0;
	va_list args;

	if (level == CREDLIMIT_LOG_ERROR)
		c->problems++;
	if (c->report == NULL)
		return;

	if (c->t != NULL)
		used = (size_t)snprintf(message, sizeof(message),
					"generation %" PRIu64 ": ",
					c->t->generation);
	va_start(args, format);
	vsnprintf(message + used, sizeof(message) - used, format, args);
	va_end(args);
	c->report(c->context, level, message);
}

static void check_registry(struct checker *c)
{
	const struct credlimit *cl = c->cl;
	uint64_t count = CMM_LOAD_SHARED(cl->ctl->window_count);

	if (count < 2 || count > CL_WINDOW_SLOTS) {
		finding(c, CREDLIMIT_LOG_ERROR,
			"window registry count %" PRIu64 " is outside 2..%d",
			count, CL_WINDOW_SLOTS);
		return;
	}

	for (uint64_t wid = 1; wid < count; wid++) {
		uint64_t length;

		if (cl_window_length(cl, (unsigned)wid, &length) < 0) {
			finding(c, CREDLIMIT_LOG_ERROR,
				"window id %" PRIu64 " has invalid length %" PRIu64
				" ns",
				wid, CMM_LOAD_SHARED(cl->windows[wid]));
			continue;
		}
		for (uint64_t other = 1; other < wid; other++)
			if (CMM_LOAD_SHARED(cl->windows[other]) == length)
				finding(c, CREDLIMIT_LOG_ERROR,
					"window ids %" PRIu64 " and %" PRIu64
					" register the same length",
					other, wid);
	}
}

static void check_policies(struct checker *c)
{
	struct credlimit_policy_info infos[CL_POLICY_SLOTS];
	int count = 0;

	for (int id = 0; id < CL_POLICY_SLOTS; id++) {
		struct credlimit_policy_info info;
		int err = credlimit_policy_get(c->cl, id, &info);

		if (err == -ENOENT) {
			if (id == CREDLIMIT_POLICY_DEFAULT)
				finding(c, CREDLIMIT_LOG_ERROR,
					"policy 0 (default) is not defined");
			continue;
		}
		if (err < 0) {
			finding(c, CREDLIMIT_LOG_ERROR,
				"policy %d has invalid numbers", id);
			continue;
		}
		if (cl_policy_name_validate(info.name) < 0)
			finding(c, CREDLIMIT_LOG_ERROR,
				"policy %d has an invalid name", id);
		for (int i = 0; i < count; i++)
			if (strcmp(infos[i].name, info.name) == 0)
				finding(c, CREDLIMIT_LOG_ERROR,
					"policies %d and %d are both named %s",
					infos[i].id, id, info.name);
		infos[count++] = info;
	}
}

static void check_locks(struct checker *c)
{
	const struct credlimit *cl = c->cl;
	uint64_t holder = CMM_LOAD_SHARED(cl->ctl->policy_lock);

	if (holder != 0 && !cl_pid_alive(holder))
		finding(c, CREDLIMIT_LOG_INFO,
			"policy lock held by dead process %" PRIu64
			"; the next policy change takes it over",
			holder);

	holder = CMM_LOAD_SHARED(cl->ctl->migration_pid);
	if (holder != 0 && !cl_pid_alive(holder))
		finding(c, CREDLIMIT_LOG_INFO,
			"migration lock held by dead process %" PRIu64
			"; the next decision takes it over",
			holder);
}

static void check_eviction_locks(struct checker *c)
{
	for (int i = 0; i < CL_EVICT_LOCKS; i++) {
		uint64_t holder = CMM_LOAD_SHARED(c->t->locks[i]);

		if (holder != 0 && !cl_pid_alive(holder))
			finding(c, CREDLIMIT_LOG_INFO,
				"eviction lock %d held by dead process %" PRIu64
				"; the next eviction takes it over",
				i, holder);
	}
}

static bool slot_all_zero(const struct cl_entry *e)
{
	if (CMM_LOAD_SHARED(e->state_lo) != 0 ||
	    CMM_LOAD_SHARED(e->state_hi) != 0 ||
	    CMM_LOAD_SHARED(e->last_seen_ns) != 0)
		return false;
	for (int i = 0; i < 4; i++)
		if (CMM_LOAD_SHARED(e->key[i]) != 0)
			return false;
	return true;
}

/* Checks the key layout of a READY entry; returns false when the key
 * words cannot be trusted for the placement checks. */
static bool check_key(struct checker *c, uint64_t index, uint64_t meta,
		      const uint64_t key[4])
{
	unsigned len = cl_meta_len(meta);
	const uint8_t *bytes = (const uint8_t *)key;

	if (len == 0) {
		finding(c, CREDLIMIT_LOG_ERROR, "slot %" PRIu64 ": key length 0",
			index);
		return false;
	}
	if (cl_meta_hashed(meta) != (len > CREDLIMIT_KEY_INLINE_MAX)) {
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": key of %u bytes %s stored as digest",
			index, len, cl_meta_hashed(meta) ? "wrongly" : "not");
		return false;
	}
	if (!cl_meta_hashed(meta)) {
		for (unsigned i = len; i < CREDLIMIT_KEY_INLINE_MAX; i++) {
			if (bytes[i] != 0) {
				finding(c, CREDLIMIT_LOG_ERROR,
					"slot %" PRIu64 ": nonzero bytes after "
					"the key",
					index);
				return false;
			}
		}
	}
	return true;
}

/* Checks where a READY entry sits relative to its home slot. */
static void check_placement(struct checker *c, uint64_t index, uint64_t meta,
			    const uint64_t key[4])
{
	const struct credlimit *cl = c->cl;
	const struct cl_table_map *t = c->t;
	uint64_t hash = cl_stored_key_hash(cl->secret, meta, key);
	uint64_t home = cl_home_slot(t->capacity, hash);
	uint64_t distance = index >= home ? index - home
					  : index + t->capacity - home;

	if (cl_meta_tag(meta) != (unsigned)(hash >> CL_META_TAG_SHIFT))
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": tag does not match the key's hash",
			index);
	if (distance >= t->probe_limit) {
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": %" PRIu64 " slots from its home, "
			"beyond the probe limit %u",
			index, distance, t->probe_limit);
		return;
	}

	for (uint64_t d = 0; d < distance; d++) {
		uint64_t other = cl_probe_slot(t->capacity, home, d);
		const struct cl_entry *e = &t->entries[other];
		uint64_t other_meta = CMM_LOAD_SHARED(e->meta);
		bool same = true;

		if (other_meta == 0 || other_meta == CL_META_SEALED_EMPTY) {
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": unreachable, empty slot %"
				PRIu64 " lies before it",
				index, other);
			return;
		}
		if (cl_meta_status(other_meta) != CL_SLOT_READY ||
		    cl_meta_key_bits(other_meta) != cl_meta_key_bits(meta))
			continue;
		for (int i = 0; i < 4; i++)
			same = same && CMM_LOAD_SHARED(e->key[i]) == key[i];
		if (same)
			finding(c, CREDLIMIT_LOG_ERROR,
				"slots %" PRIu64 " and %" PRIu64
				" hold the same key",
				other, index);
	}
}

/* A lease cache entry: exponent in range and a registered window once it
 * holds a lease. */
static void check_lease_state(struct checker *c, uint64_t index,
			      struct cl_state_word state)
{
	unsigned wid = cl_state_wid(state.hi);
	uint64_t length;

	if (cl_lease_exponent(state.lo) > CL_LEASE_EXP_MAX)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": lease state has invalid bits",
			index);
	if (wid == 0) {
		if (cl_lease_units(state.lo) != 0 ||
		    cl_state_window(state.hi) != 0)
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": units without a lease "
				"window",
				index);
		return;
	}
	if (cl_window_length(c->cl, wid, &length) < 0 ||
	    wid >= CMM_LOAD_SHARED(c->cl->ctl->window_count))
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": window id %u is not registered",
			index, wid);
	else if ((unsigned __int128)cl_state_window(state.hi) * length >
		 UINT64_MAX)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": window index beyond 2^64 ns", index);
}

static void check_state(struct checker *c, uint64_t index, uint64_t meta,
			struct cl_state_word state)
{
	const struct credlimit *cl = c->cl;
	unsigned wid = cl_state_wid(state.hi);
	int assigned = cl_meta_override(meta);
	struct cl_params params;
	uint64_t length;

	if (assigned >= 0 && cl_policy_read(cl, assigned, &params) < 0)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": assigned policy %d is not defined",
			index, assigned);
	if (cl_policy_read(cl, (int)cl_meta_last_policy(meta), &params) < 0)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": policy %u of its last decision is "
			"not defined",
			index, cl_meta_last_policy(meta));

	if (cl->kind == CL_KIND_LEASE) {
		check_lease_state(c, index, state);
		return;
	}
	if (wid == 0) {
		if (state.lo != 0 || cl_state_window(state.hi) != 0)
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": fresh state with nonzero "
				"counts",
				index);
		return;
	}
	if (cl_window_length(cl, wid, &length) < 0 ||
	    wid >= CMM_LOAD_SHARED(cl->ctl->window_count)) {
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": window id %u is not registered",
			index, wid);
		return;
	}
	if ((unsigned __int128)cl_state_window(state.hi) * length > UINT64_MAX)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": window index beyond 2^64 ns", index);
	if (cl_state_used(state.lo) > CMM_LOAD_SHARED(cl->ctl->max_requests_ever))
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": %u requests counted, above any "
			"policy's max_requests",
			index, cl_state_used(state.lo));
	if (cl_state_credits(state.lo) >
	    CMM_LOAD_SHARED(cl->ctl->max_credits_ever))
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": %u credits stored, above any "
			"policy's max_credits",
			index, cl_state_credits(state.lo));
}

/* Reports a key that is live in the target while its entry in the
 * source is live too: the two would each allow the full allowance. */
static void check_not_in_source(struct checker *c, uint64_t index,
				uint64_t meta, const uint64_t key[4])
{
	struct cl_slot slot;
	struct cl_key k;

	if (!cl_key_from_entry(&k, c->cl->secret, meta, key))
		return; /* check_key() reports it */
	if (cl_table_find((struct cl_table_map *)c->other, &k, false, &slot) ==
	    0)
		finding(c, CREDLIMIT_LOG_ERROR,
			"slot %" PRIu64 ": key is live in generation %" PRIu64
			" too",
			index, c->other->generation);
}

/* Checks a slot whose state a snapshot could read. */
static void check_ready(struct checker *c, uint64_t index, uint64_t meta,
			struct cl_state_word state, const uint64_t key[4])
{
	switch (cl_state_flags(state.hi)) {
	case CL_STATE_EVICTING:
		finding(c, CREDLIMIT_LOG_INFO,
			"slot %" PRIu64 ": being evicted by %s process %u",
			index,
			cl_pid_alive((uint32_t)state.lo) ? "live" : "dead",
			(unsigned)(uint32_t)state.lo);
		return;
	case CL_STATE_FROZEN:
	case CL_STATE_MOVED:
		if (!c->source) {
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": frozen by a migration that "
				"is not running",
				index);
			return;
		}
		break;
	default:
		if (c->other != NULL && !c->source)
			check_not_in_source(c, index, meta, key);
		break;
	}

	if (check_key(c, index, meta, key))
		check_placement(c, index, meta, key);
	check_state(c, index, meta, state);
}

/* Checks one slot; returns true when it holds a live READY entry. */
static bool check_slot(struct checker *c, uint64_t index)
{
	const struct cl_table_map *t = c->t;
	const struct cl_entry *e = &t->entries[index];
	uint64_t meta = CMM_LOAD_SHARED(e->meta);
	struct cl_state_word state;
	uint64_t key[4], last_seen;

	switch (cl_meta_status(meta)) {
	case CL_SLOT_EMPTY:
		if (meta != 0 || !slot_all_zero(e))
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": empty slot holds data", index);
		return false;

	case CL_SLOT_CLAIMED:
		finding(c, CREDLIMIT_LOG_INFO,
			"slot %" PRIu64 ": being written by %s process %u",
			index,
			cl_pid_alive(cl_meta_pid(meta)) ? "live" : "dead",
			cl_meta_pid(meta));
		return false;

	case CL_SLOT_READY:
		break;

	default:
		if (!c->source || (meta != CL_META_SEALED_EMPTY &&
				   meta != CL_META_SEALED_CLAIM))
			finding(c, CREDLIMIT_LOG_ERROR,
				"slot %" PRIu64 ": invalid status", index);
		return false;
	}

	if (!cl_table_snapshot(t, index, &meta, &state, key, &last_seen))
		return false;
	check_ready(c, index, meta, state, key);
	return cl_state_flags(state.hi) == CL_STATE_LIVE ||
	       cl_state_flags(state.hi) == CL_STATE_FROZEN;
}

/* Checks a table header and every slot; returns the live entries. */
static uint64_t check_table(struct checker *c)
{
	const char *why;
	uint64_t ready = 0;

	if (cl_table_validate(c->t->header, c->t->mapping.size, c->cl->ctl,
			      c->t->generation, &why) < 0) {
		finding(c, CREDLIMIT_LOG_ERROR, "table segment: %s", why);
		return 0;
	}

	check_eviction_locks(c);
	for (uint64_t i = 0; i < c->t->capacity; i++)
		if (check_slot(c, i))
			ready++;
	return ready;
}

int credlimit_check(credlimit_t *cl, credlimit_problem_fn report,
		    void *context)
{
	struct checker c = { .cl = cl, .report = report, .context = context };
	struct credlimit_stats stats;
	struct cl_view *view;
	const char *why;
	uint64_t ready;
	int err;

	/* A Redis limiter has no segments or table to validate; a lease
	 * handle has its lease cache. */
	if (cl != NULL && cl->backend != NULL && cl->lease_cache == NULL)
		return -EOPNOTSUPP;
	if (cl != NULL && cl->lease_cache != NULL)
		cl = cl->lease_cache;

	if (cl == NULL)
		return -EINVAL;
	c.cl = cl;

	err = cl_ctl_validate(cl->ctl, cl->ctl_mapping.size, &why);
	if (err < 0) {
		finding(&c, CREDLIMIT_LOG_ERROR, "control segment: %s", why);
		return c.problems;
	}

	check_registry(&c);
	check_policies(&c);
	check_locks(&c);

	err = cl_view_refresh(cl);
	if (err < 0)
		return err;
	rcu_read_lock();
	view = rcu_dereference(cl->view);

	/* In a migration, the source holds sealed, frozen and moved slots,
	 * and no key may be live in both tables. */
	c.t = &view->current->table;
	c.other = view->target != NULL ? &view->target->table : NULL;
	c.source = view->target != NULL;
	ready = check_table(&c);
	if (view->target != NULL) {
		c.t = &view->target->table;
		c.other = &view->current->table;
		c.source = false;
		ready += check_table(&c);
	}
	rcu_read_unlock();
	c.t = NULL;

	if (credlimit_stats(cl, &stats) == 0 && !stats.migrating &&
	    stats.entries != ready)
		finding(&c, CREDLIMIT_LOG_INFO,
			"%" PRIu64 " entries found, counters say %" PRIu64
			" (they differ while decisions run, or after a "
			"process died between an insert and its count)",
			ready, stats.entries);
	return c.problems;
}
