/*
 * table.h - the open-addressing customer table in a table segment
 *
 * Keys live in an array of 64-byte entries, at most probe_limit slots
 * after their home slot, wrapping at the end (linear probing).  This layer
 * finds, inserts and evicts entries; it never interprets a customer's
 * counts, which is the caller's business (lib/decide.c): eviction asks the
 * caller to classify candidates through struct cl_victim_ops.
 */
#ifndef CREDLIMIT_SHM_TABLE_H
#define CREDLIMIT_SHM_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/entry.h"
#include "shm/segment.h"

/* One table generation as mapped by this process.  Every field is a
 * validated local copy: nothing here is re-read from shared memory. */
struct cl_table_map {
	struct cl_mapping mapping;
	struct cl_table *header;
	struct cl_entry *entries;
	uint64_t *locks;       /* CL_EVICT_LOCKS eviction lock words */
	uint64_t capacity;     /* slots, CL_CAPACITY_MIN to CL_CAPACITY_MAX */
	uint32_t probe_limit;  /* slots examined per lookup */
	uint64_t generation;
};

/*
 * A key prepared for lookups: its hash and the 32 bytes an entry stores.
 * Keys of up to CREDLIMIT_KEY_INLINE_MAX bytes are stored verbatim, padded
 * with zeros.  Longer keys are stored as a 16-byte keyed SipHash-2-4 digest
 * followed by their first 16 bytes (for display); the digest also gives
 * their hash.
 */
struct cl_key {
	size_t len;         /* bytes of the original key */
	bool hashed;        /* stored as digest + prefix */
	uint64_t hash;      /* gives the home slot, cl_home_slot() */
	unsigned tag;       /* 6 bits of hash kept in the meta word */
	uint64_t stored[4]; /* the entry's key words */
};

/*
 * The home slot of a hash in a table of `capacity` slots: the low 32 bits
 * of the hash scaled to [0, capacity) by a multiply and a shift, which
 * needs no power-of-two capacity and no division.  The product fits in 64
 * bits because capacity <= 2^32.  The meta tag takes the hash's top bits,
 * so keys that share a home still differ in their tags.
 */
static inline uint64_t cl_home_slot(uint64_t capacity, uint64_t hash)
{
	return ((hash & UINT32_MAX) * capacity) >> 32;
}

/* The slot `distance` steps along the probe sequence that starts at
 * `home`, wrapping at the end of the table; distance < capacity. */
static inline uint64_t cl_probe_slot(uint64_t capacity, uint64_t home,
				     uint64_t distance)
{
	uint64_t index = home + distance;

	return index < capacity ? index : index - capacity;
}

/* Prepares key[0 .. len) for lookups with the limiter's secret. */
void cl_key_prepare(struct cl_key *k, const uint64_t secret[2],
		    const void *key, size_t len);

/* A located entry and the values read from it. */
struct cl_slot {
	struct cl_entry *entry;
	uint64_t index;
	uint64_t meta;
	struct cl_state_word state; /* consistent, loaded after meta */
};

/* What cl_table_get_slot() did, as flags. */
enum {
	CL_SLOT_INSERTED = 1u << 0,  /* the key had no entry */
	CL_SLOT_EVICTED = 1u << 1,   /* another key was evicted for it */
	CL_SLOT_RECOVERED = 1u << 2, /* a dead process's claim was reused */
	CL_SLOT_CROWDED = 1u << 3,   /* inserted far from its home slot */
};

/* Victim classes, best first. */
enum cl_victim_class {
	CL_VICTIM_NONE = 0,
	CL_VICTIM_FRESH = 1, /* indistinguishable from a new customer */
	CL_VICTIM_IDLE = 2,  /* idle for at least two of its windows */
};

/* Caller's judgment of eviction candidates. */
struct cl_victim_ops {
	/*
	 * Classifies a READY entry without a per-key policy whose live state
	 * is `state`, last seen at last_seen_ns, at time now_ns.
	 */
	enum cl_victim_class (*classify)(void *context, uint64_t meta,
					 struct cl_state_word state,
					 uint64_t last_seen_ns,
					 uint64_t now_ns);
	/*
	 * Tells whether the table may take a key by eviction: 0 yes,
	 * CL_ESEALED no because a migration copies (the key goes to the next
	 * table), -ENOSPC no because a migration prepares its next table
	 * (the key waits).  NULL means always yes.
	 */
	int (*forward)(void *context);
	void *context;
};

/* Internal results, positive: the key's entry was frozen or moved by a
 * migration (the slot is described in *out), or the key has no entry here
 * and belongs in the next table generation. */
#define CL_EFROZEN 4096
#define CL_ESEALED 4097

/*
 * Finds the READY entry of key k.  Returns 0 with *out filled, -ENOENT,
 * -EBUSY when the entry stayed mid-eviction by a live process for over a
 * second, CL_EFROZEN (*out filled) or CL_ESEALED.  Works on read-only
 * mappings, except that it finishes the eviction of a dead evicter (which
 * needs write access: a read-only caller skips that entry instead).
 */
int cl_table_find(struct cl_table_map *t, const struct cl_key *k,
		  bool writable, struct cl_slot *out);

/*
 * Finds the entry of key k, inserting it when missing: into the first
 * empty slot of its probe sequence, else by evicting the best victim that
 * ops accepts.  A new entry has a fresh state, last_seen_ns = now_ns and
 * `policy` as policy of its last decision.  `pid` is the caller's pid.
 *
 * Returns 0 with *out filled and *events set to CL_SLOT_* flags, -ENOSPC
 * when no slot can be freed, -EBUSY when a live process kept a claim or
 * eviction in the way for over a second, CL_EFROZEN (*out filled) or
 * CL_ESEALED.
 */
int cl_table_get_slot(struct cl_table_map *t, const struct cl_key *k,
		      uint64_t now_ns, unsigned policy, uint32_t pid,
		      const struct cl_victim_ops *ops, struct cl_slot *out,
		      unsigned *events);

/*
 * As cl_table_get_slot(), but a missing key is inserted with the given
 * state (live, any slot generation), last-seen time, per-key policy and
 * last policy (from `meta`): a migration's copy of an entry.  An existing
 * entry is left as it is.
 */
int cl_table_copy_in(struct cl_table_map *t, const struct cl_key *k,
		     uint64_t meta, struct cl_state_word state,
		     uint64_t last_seen_ns, uint64_t now_ns, uint32_t pid,
		     const struct cl_victim_ops *ops, struct cl_slot *out,
		     unsigned *events);

/* Rebuilds the lookup key of a READY entry from its meta and key words.
 * Returns false, leaving *k undefined, when they are corrupt. */
bool cl_key_from_entry(struct cl_key *k, const uint64_t secret[2],
		       uint64_t meta, const uint64_t key[4]);

/*
 * Loads a consistent snapshot of slot `index` for iteration: returns true
 * with *meta, *state, key[] and *last_seen_ns when the slot is READY,
 * false otherwise.  The state may be live, frozen, moved or evicting: the
 * caller checks its flags.
 */
bool cl_table_snapshot(const struct cl_table_map *t, uint64_t index,
		       uint64_t *meta, struct cl_state_word *state,
		       uint64_t key[4], uint64_t *last_seen_ns);

/* Recomputes the stored key words' hash: the digest's first word for
 * hashed keys, SipHash-1-3 of the verbatim bytes otherwise.  A corrupt
 * length never makes it read beyond the 32 stored bytes. */
uint64_t cl_stored_key_hash(const uint64_t secret[2], uint64_t meta,
			    const uint64_t key[4]);

#endif /* CREDLIMIT_SHM_TABLE_H */
