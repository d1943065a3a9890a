/*
 * entry.h - encoding of a table entry's state and meta words
 *
 * State, one 16-byte word changed only by compare-and-swap:
 *
 *   state_lo  bits 31..0   u, base requests counted in the window
 *             bits 63..32  c, stored credits
 *   state_hi  bits 44..0   w, window index (2^64 ns / 1 ms < 2^45)
 *             bits 54..45  window id: index into the control segment's
 *                          registry of window lengths; 0 = fresh
 *             bits 61..55  slot generation, bumped whenever the state
 *                          stops continuing the previous one (reset,
 *                          eviction, recovery, window-length change)
 *             bits 63..62  flags: 0 live, FROZEN (a migration captured
 *                          it; lo keeps u and c), EVICTING (lo holds the
 *                          evicting pid), MOVED (copied to a newer table)
 *
 * Within one slot generation w only grows, so state_hi never takes a value
 * twice until the 7-bit generation wraps.  That lets a reader without write
 * access (a read-only mapping cannot execute cmpxchg16b) load hi, lo, hi and
 * accept the pair when both loads of hi agree.  Known imprecision: a reader
 * stalled between its two loads while the slot's generation advances by
 * exactly 128 could accept a torn pair; each advance needs a reset,
 * eviction or window change of that very slot.
 *
 * Meta, one 8-byte word changed by compare-and-swap:
 *
 *   bits 1..0    status: EMPTY, CLAIMED (being written), READY, or
 *                SEALED, set by a migration: CL_META_SEALED_EMPTY on an
 *                EMPTY slot (it still ends probe sequences) and
 *                CL_META_SEALED_CLAIM on a dead claim (probes pass it)
 *   bit  2       key stored as digest
 *   bits 18..3   key length, bytes
 *   bits 27..19  per-key policy id + 1, 0 for none
 *   bits 35..28  policy id of the last decision
 *   bits 57..36  pid of the process that claimed the slot (Linux pids are
 *                below 2^22)
 *   bits 63..58  tag: 6 bits of the key's hash, to skip most other keys
 *                without comparing them
 *
 * A slot goes EMPTY -> CLAIMED -> READY and never back to EMPTY, so an
 * inserter that claims the first EMPTY slot of its probe sequence cannot
 * race another inserter of the same key into a different slot.  A
 * migration turns EMPTY slots and dead claims into SEALED ones, which end
 * a probe sequence like EMPTY but send the inserter to the next table.
 */
#ifndef CREDLIMIT_SHM_ENTRY_H
#define CREDLIMIT_SHM_ENTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "shm/layout.h"

typedef unsigned __int128 cl_u128;

/* A state word as two halves. */
struct cl_state_word {
	uint64_t lo;
	uint64_t hi;
};

#define CL_STATE_WINDOW_BITS 45
#define CL_STATE_WINDOW_MASK ((UINT64_C(1) << CL_STATE_WINDOW_BITS) - 1)
#define CL_STATE_WID_SHIFT 45
#define CL_STATE_WID_MASK UINT64_C(0x3ff)
#define CL_STATE_GEN_SHIFT 55
#define CL_STATE_GEN_MASK UINT64_C(0x7f)
#define CL_STATE_FLAGS_SHIFT 62

enum cl_state_flags {
	CL_STATE_LIVE = 0,
	CL_STATE_FROZEN = 1,
	CL_STATE_EVICTING = 2,
	CL_STATE_MOVED = 3,
};

static inline uint64_t cl_state_window(uint64_t hi)
{
	return hi & CL_STATE_WINDOW_MASK;
}

static inline unsigned cl_state_wid(uint64_t hi)
{
	return (unsigned)((hi >> CL_STATE_WID_SHIFT) & CL_STATE_WID_MASK);
}

static inline unsigned cl_state_gen(uint64_t hi)
{
	return (unsigned)((hi >> CL_STATE_GEN_SHIFT) & CL_STATE_GEN_MASK);
}

static inline unsigned cl_state_flags(uint64_t hi)
{
	return (unsigned)(hi >> CL_STATE_FLAGS_SHIFT);
}

static inline uint32_t cl_state_used(uint64_t lo)
{
	return (uint32_t)lo;
}

static inline uint32_t cl_state_credits(uint64_t lo)
{
	return (uint32_t)(lo >> 32);
}

static inline uint64_t cl_state_make_hi(uint64_t window, unsigned wid,
					unsigned gen, unsigned flags)
{
	return (window & CL_STATE_WINDOW_MASK) |
	       ((uint64_t)(wid & CL_STATE_WID_MASK) << CL_STATE_WID_SHIFT) |
	       ((uint64_t)(gen & CL_STATE_GEN_MASK) << CL_STATE_GEN_SHIFT) |
	       ((uint64_t)flags << CL_STATE_FLAGS_SHIFT);
}

static inline uint64_t cl_state_make_lo(uint32_t used, uint32_t credits)
{
	return (uint64_t)used | (uint64_t)credits << 32;
}

/*
 * Loads a consistent state word without writing to the entry (see the
 * header comment for why equal loads of hi suffice).
 */
static inline struct cl_state_word cl_state_load(const struct cl_entry *e)
{
	struct cl_state_word w;
	uint64_t hi_again;

	for (;;) {
		w.hi = CMM_LOAD_SHARED(e->state_hi);
		/* Orders the hi load before the lo load; pairs with the
		 * full barrier of the writer's compare-and-swap. */
		cmm_smp_rmb();
		w.lo = CMM_LOAD_SHARED(e->state_lo);
		/* Orders the lo load before the second hi load; same pair. */
		cmm_smp_rmb();
		hi_again = CMM_LOAD_SHARED(e->state_hi);
		if (hi_again == w.hi)
			return w;
		caa_cpu_relax();
	}
}

/*
 * Replaces the 16-byte word at `pair` (lo at pair[0], hi at pair[1], 16-byte
 * aligned) with `desired` if it still equals *expected.  On failure
 * *expected receives the current value.  A full barrier either way (lock
 * cmpxchg16b on x86-64); it pairs with the read barriers of readers that
 * load hi, lo, hi, and with every other compare-and-swap of the same word.
 */
static inline bool cl_cas16(uint64_t *pair, struct cl_state_word *expected,
			    struct cl_state_word desired)
{
	cl_u128 old = (cl_u128)expected->hi << 64 | expected->lo;
	cl_u128 new = (cl_u128)desired.hi << 64 | desired.lo;
	cl_u128 seen;

	seen = __sync_val_compare_and_swap((cl_u128 *)(void *)pair, old, new);
	if (seen == old)
		return true;
	expected->lo = (uint64_t)seen;
	expected->hi = (uint64_t)(seen >> 64);
	return false;
}

/* cl_cas16() on an entry's state word. */
static inline bool cl_state_cas(struct cl_entry *e,
				struct cl_state_word *expected,
				struct cl_state_word desired)
{
	return cl_cas16(&e->state_lo, expected, desired);
}

enum cl_meta_status {
	CL_SLOT_EMPTY = 0,
	CL_SLOT_CLAIMED = 1,
	CL_SLOT_READY = 2,
	CL_SLOT_SEALED = 3,
};

/* The two meta words a migration seals slots with. */
#define CL_META_SEALED_EMPTY UINT64_C(3)
#define CL_META_SEALED_CLAIM UINT64_C(7)

#define CL_META_HASHED (UINT64_C(1) << 2)
#define CL_META_LEN_SHIFT 3
#define CL_META_LEN_MASK UINT64_C(0xffff)
#define CL_META_OVERRIDE_SHIFT 19
#define CL_META_OVERRIDE_MASK UINT64_C(0x1ff)
#define CL_META_LAST_SHIFT 28
#define CL_META_LAST_MASK UINT64_C(0xff)
#define CL_META_PID_SHIFT 36
#define CL_META_PID_MASK ((UINT64_C(1) << 22) - 1)
#define CL_META_TAG_SHIFT 58
#define CL_META_TAG_MASK UINT64_C(0x3f)

static inline unsigned cl_meta_status(uint64_t m)
{
	return (unsigned)(m & 3);
}

static inline bool cl_meta_hashed(uint64_t m)
{
	return (m & CL_META_HASHED) != 0;
}

static inline unsigned cl_meta_len(uint64_t m)
{
	return (unsigned)((m >> CL_META_LEN_SHIFT) & CL_META_LEN_MASK);
}

/* Per-key policy id, or -1 (CREDLIMIT_POLICY_NONE). */
static inline int cl_meta_override(uint64_t m)
{
	return (int)((m >> CL_META_OVERRIDE_SHIFT) & CL_META_OVERRIDE_MASK) -
	       1;
}

static inline unsigned cl_meta_last_policy(uint64_t m)
{
	return (unsigned)((m >> CL_META_LAST_SHIFT) & CL_META_LAST_MASK);
}

static inline unsigned cl_meta_pid(uint64_t m)
{
	return (unsigned)((m >> CL_META_PID_SHIFT) & CL_META_PID_MASK);
}

static inline unsigned cl_meta_tag(uint64_t m)
{
	return (unsigned)(m >> CL_META_TAG_SHIFT);
}

static inline uint64_t cl_meta_with_override(uint64_t m, int policy)
{
	m &= ~(CL_META_OVERRIDE_MASK << CL_META_OVERRIDE_SHIFT);
	return m | (uint64_t)(policy + 1) << CL_META_OVERRIDE_SHIFT;
}

static inline uint64_t cl_meta_with_last_policy(uint64_t m, unsigned policy)
{
	m &= ~(CL_META_LAST_MASK << CL_META_LAST_SHIFT);
	return m | (uint64_t)(policy & CL_META_LAST_MASK) << CL_META_LAST_SHIFT;
}

/* Bits of a READY meta word that identify its key: all but the per-key
 * policy and the policy of the last decision. */
static inline uint64_t cl_meta_key_bits(uint64_t m)
{
	return m & ~(CL_META_OVERRIDE_MASK << CL_META_OVERRIDE_SHIFT) &
	       ~(CL_META_LAST_MASK << CL_META_LAST_SHIFT);
}

static inline uint64_t cl_meta_with_status(uint64_t m, unsigned status)
{
	return (m & ~UINT64_C(3)) | status;
}

/* Meta word of a slot claimed by pid for a key of this length and tag. */
static inline uint64_t cl_meta_make_claim(unsigned tag, unsigned len,
					  bool hashed, unsigned pid)
{
	return CL_SLOT_CLAIMED | (hashed ? CL_META_HASHED : 0) |
	       (uint64_t)(len & CL_META_LEN_MASK) << CL_META_LEN_SHIFT |
	       (uint64_t)(pid & CL_META_PID_MASK) << CL_META_PID_SHIFT |
	       (uint64_t)(tag & CL_META_TAG_MASK) << CL_META_TAG_SHIFT;
}

/* Loads an entry's meta word with acquire ordering. */
static inline uint64_t cl_entry_load_meta(const struct cl_entry *e)
{
	uint64_t meta = CMM_LOAD_SHARED(e->meta);

	/* Orders the meta load before loads of the key and state it
	 * describes; pairs with the full barrier of the compare-and-swap
	 * that publishes a slot READY. */
	cmm_smp_rmb();
	return meta;
}

/*
 * Resets an entry left EVICTING by a dead evicter to a fresh state in the
 * next slot generation.  Only a compare-and-swap from the exact abandoned
 * value is attempted, so of several processes doing this at once one
 * succeeds and the rest see the change.  Returns true when this call
 * reset it.
 */
static inline bool cl_entry_reset_dead_eviction(struct cl_entry *e,
						struct cl_state_word seen)
{
	struct cl_state_word fresh = {
		.lo = 0,
		.hi = cl_state_make_hi(0, 0, cl_state_gen(seen.hi) + 1,
				       CL_STATE_LIVE),
	};

	return cl_state_cas(e, &seen, fresh);
}

#endif /* CREDLIMIT_SHM_ENTRY_H */
