/*
 * iterate.c - reading entries: credlimit_lookup() and credlimit_foreach()
 *
 * Both work on read-only handles.  Each entry is read as one consistent
 * snapshot (cl_table_snapshot()): its meta word, state word and key words
 * are accepted together only if meta and state did not change while they
 * were read, and an evicter changes the state word before it writes a new
 * key, so a snapshot never pairs one key with another key's counts.
 */
#include <errno.h>
#include <string.h>

#include "algorithm.h"
#include "handle.h"
#include "policy.h"
#include "shm/entry.h"

/* Fills *out from a snapshot of one entry.  Returns 0 or -EBADMSG. */
static int entry_describe(const struct credlimit *cl, uint64_t meta,
			  struct cl_state_word state, const uint64_t key[4],
			  uint64_t last_seen_ns, uint64_t now_ns,
			  struct credlimit_entry *out)
{
	struct cl_algo_state s = { 0 };
	struct cl_params params;
	unsigned len = cl_meta_len(meta);
	unsigned wid = cl_state_wid(state.hi);
	int policy;
	int err;

	memset(out, 0, sizeof(*out));
	out->key_len = len;
	out->key_hashed = cl_meta_hashed(meta);
	if (out->key_hashed) {
		memcpy(out->digest, key, sizeof(out->digest));
		memcpy(out->key, (const uint8_t *)key + 16, CREDLIMIT_KEY_PREFIX);
		out->key_stored = CREDLIMIT_KEY_PREFIX;
	} else {
		if (len == 0 || len > CREDLIMIT_KEY_INLINE_MAX)
			return -EBADMSG;
		memcpy(out->key, key, len);
		out->key_stored = len;
	}

	out->policy = (int)cl_meta_last_policy(meta);
	out->policy_override = cl_meta_override(meta);
	out->fresh = wid == 0;
	out->used = cl_state_used(state.lo);
	out->credits = cl_state_credits(state.lo);
	out->last_seen_ns = last_seen_ns;

	s.window = cl_state_window(state.hi);
	s.used = out->used;
	s.credits = out->credits;
	if (wid != 0) {
		err = cl_window_length(cl, wid, &s.window_ns);
		if (err < 0)
			return err;
		out->window_ns = s.window_ns;
		out->window_start_ns = s.window * s.window_ns;
	}

	policy = out->policy_override >= 0 ? out->policy_override : out->policy;
	if (cl_policy_read(cl, policy, &params) < 0)
		return -EBADMSG;
	cl_algo_decide(&params.policy, &s, now_ns, 0, &out->now, NULL);
	out->now.policy = policy;
	out->now.flags = 0;
	return 0;
}

int credlimit_lookup(credlimit_t *cl, const void *key, size_t key_len,
		     uint64_t now_ns, struct credlimit_entry *entry)
{
	struct cl_slot slot;
	struct cl_key k;
	int err;

	if (cl == NULL || entry == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;

	cl_key_prepare(&k, cl->secret, key, key_len);
	for (int tries = 0; tries < 1000; tries++) {
		uint64_t meta, last_seen;
		uint64_t stored[4];
		struct cl_state_word state;

		err = cl_table_find(&cl->table, &k, !cl->rdonly, &slot);
		if (err == CL_EMOVED)
			return -EBADMSG;
		if (err < 0)
			return err;

		/* Read the found slot again as one snapshot, with its
		 * last_seen; retry if it was evicted in between. */
		if (!cl_table_snapshot(&cl->table, slot.index, &meta, &state,
				       stored, &last_seen) ||
		    cl_meta_key_bits(meta) != cl_meta_key_bits(slot.meta) ||
		    memcmp(stored, k.stored, sizeof(stored)) != 0)
			continue;

		return entry_describe(cl, meta, state, stored, last_seen,
				      cl_resolve_now(now_ns), entry);
	}
	return -EBUSY;
}

int credlimit_foreach(credlimit_t *cl, uint64_t now_ns, credlimit_entry_fn fn,
		      void *context)
{
	if (cl == NULL || fn == NULL)
		return -EINVAL;
	now_ns = cl_resolve_now(now_ns);

	for (uint64_t i = 0; i < cl->table.capacity; i++) {
		struct credlimit_entry entry;
		struct cl_state_word state;
		uint64_t meta, last_seen;
		uint64_t key[4];
		int err;

		if (!cl_table_snapshot(&cl->table, i, &meta, &state, key,
				       &last_seen))
			continue;

		err = entry_describe(cl, meta, state, key, last_seen, now_ns,
				     &entry);
		if (err < 0)
			return err;

		err = fn(context, &entry);
		if (err != 0)
			return err;
	}
	return 0;
}
