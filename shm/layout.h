/*
 * layout.h - the structures that live in shared memory
 *
 * A limiter NAME is one control segment "/credlimit.NAME" and one table
 * segment per table generation, "/credlimit.NAME.gN".  Every process maps
 * them at a different address, so these structures hold only fixed-width
 * integers and offsets, never pointers.  Each process keeps its own handle
 * (lib/handle.h) with validated local copies of every size and offset it
 * uses for addressing: a value read back from shared memory is never used
 * as an index before it is bounds-checked, because any process of the
 * owning user can write anything into the segment.
 *
 * Control segment (fixed size, never resized):
 *
 *   offset 0      struct cl_ctl          header, policy lock, generation
 *   windows_off   uint64_t[1024]         registry of window lengths
 *   policies_off  struct cl_policy[256]  named policies
 *   stats_off     struct cl_stripe[64]   statistics counters
 *
 * Table segment of generation N:
 *
 *   offset 0      struct cl_table        header
 *   512           uint64_t[8]            reservation bits of a migration
 *   locks_off     uint64_t[256]          eviction locks (pid words)
 *   3072          uint64_t[128]          chunk bits of a migration
 *   entries_off   struct cl_entry[cap]   open-addressing table, cap = 2^k
 *
 * Growth (a later generation replacing the table) writes a new table
 * segment and switches ctl->generation; the control segment keeps its
 * layout, so the migration fields below are reserved for it now.
 */
#ifndef CREDLIMIT_SHM_LAYOUT_H
#define CREDLIMIT_SHM_LAYOUT_H

#include <stdint.h>

#include "credlimit.h"

#define CL_CTL_MAGIC UINT64_C(0x4c54434c44455243)   /* "CREDLCTL" */
#define CL_TABLE_MAGIC UINT64_C(0x4c4254444c444552) /* "REDLDTBL" */
#define CL_LAYOUT_VERSION 3

#define CL_CACHE_LINE 64

/* Values of ctl->kind. */
#define CL_KIND_LIMITER 0
#define CL_KIND_LEASE 1

/* Phases of ctl->migration_state. */
#define CL_MIGRATION_CREATING 1  /* the target segment is being made */
#define CL_MIGRATION_COPYING 2   /* entries move to the target */
#define CL_MIGRATION_RESERVING 3 /* the target's memory is reserved */

/* The migration cursor carries its migration's phase and target
 * generation, so a helper that read a phase that has since ended cannot
 * take a piece of the next one. */
#define CL_MIGRATION_TAG_SHIFT 40
#define CL_MIGRATION_COUNT_MASK ((UINT64_C(1) << CL_MIGRATION_TAG_SHIFT) - 1)
#define CL_MIGRATION_TAG(generation, phase)                                   \
	((((generation) & 0x3fffff) << 2 | (phase)) << CL_MIGRATION_TAG_SHIFT)


#define CL_ENTRY_SIZE 64
#define CL_WINDOW_SLOTS 1024 /* slot 0 unused: window id 0 means fresh */
#define CL_POLICY_SLOTS 256
#define CL_STAT_STRIPES 64
#define CL_EVICT_LOCKS 256
#define CL_PROBE_MAX 256       /* slots a lookup examines at most */
#define CL_CAPACITY_MIN 8      /* slots */
#define CL_CAPACITY_MAX CREDLIMIT_CAPACITY_MAX /* slots */
#define CL_TABLE_HEADER_SIZE 4096 /* bytes before the first entry */

/*
 * Control segment header.
 *
 * Immutable after creation: every field from magic to stats_off.  The
 * creator writes them, then publishes magic last with a release store;
 * attachers read magic with an acquire load before anything else.
 *
 * Atomic: everything from policy_lock on.  policy_lock guards changes of
 * window_count, the windows registry, policy names and the *_ever fields;
 * readers of those need no lock.
 */
struct cl_ctl {
	uint64_t magic;          /* CL_CTL_MAGIC once initialized */
	uint32_t layout_version; /* CL_LAYOUT_VERSION */
	uint32_t header_size;    /* sizeof(struct cl_ctl), bytes */
	uint64_t segment_size;   /* bytes of this segment */
	uint64_t segment_id;     /* random; table segments carry a copy */
	uint64_t secret[2];      /* SipHash key for keys of this limiter */
	uint64_t created_ns;     /* CLOCK_REALTIME at creation, ns */
	uint64_t initial_capacity; /* slots of generation 1 */
	uint64_t max_capacity;     /* slots a table may grow to */
	uint32_t entry_size;     /* CL_ENTRY_SIZE, bytes */
	uint32_t probe_limit;    /* slots examined per lookup */
	uint32_t full_action;    /* enum credlimit_full_action */
	uint32_t window_slots;   /* CL_WINDOW_SLOTS */
	uint32_t policy_slots;   /* CL_POLICY_SLOTS */
	uint32_t stat_stripes;   /* CL_STAT_STRIPES */
	uint64_t windows_off;    /* byte offsets of the arrays */
	uint64_t policies_off;
	uint64_t stats_off;
	/* CL_KIND_LIMITER, or CL_KIND_LEASE for the lease cache of a limiter
	 * whose counts live in Redis (lib/lease/): its entries hold leased
	 * units instead of the algorithm's state.  Immutable. */
	uint32_t kind;
	uint32_t reserved2;
	/* Lease caches only, atomic: Redis TIME minus CLOCK_MONOTONIC at the
	 * last lease taken at Redis TIME, ns, as an upper bound (see
	 * lib/lease/clock.c); 0 until the first such lease. */
	uint64_t lease_clock_offset;
	/* Lease caches only: digest of the Redis upstream the units came
	 * from (cl_redis_identity()), set by the first lease open, then
	 * immutable; 0 before. */
	uint64_t lease_upstream;
	uint8_t reserved0[CL_CACHE_LINE - 24];

	/* pid of the process changing policies or windows, 0 when free. */
	uint64_t policy_lock __attribute__((aligned(CL_CACHE_LINE)));
	/* Registered window ids are 1 .. window_count - 1. */
	uint64_t window_count;
	/* Current table generation, 1 at creation. */
	uint64_t generation;
	/* Migration to generation + 1 (table growth), lib/grow.c:
	 * migration_state  phase (CL_MIGRATION_*) in bits 7..0, target
	 *                  generation above; 0 while no migration runs
	 * migration_target capacity of the target table, slots
	 * migration_cursor next piece of work to hand out (a slice of the
	 *                  target's memory, or a chunk of slots to move),
	 *                  in bits 39..0, tagged (CL_MIGRATION_TAG)
	 * migration_pid    pid holding the migration lock, 0 when free; it
	 *                  serializes starting, sweeping and finishing */
	uint64_t migration_state;
	uint64_t migration_target;
	uint64_t migration_cursor;
	uint64_t migration_pid;
	/* Largest max_requests and max_credits any policy ever had, so
	 * credlimit_check() can bound every stored count. */
	uint64_t max_requests_ever;
	uint64_t max_credits_ever;
	/* Counters of finished migrations, entries they moved, and entries
	 * they dropped as indistinguishable from new customers. */
	uint64_t migrations_done;
	uint64_t entries_moved;
	uint64_t entries_dropped;
	/* Guarded by migration_pid: failed growths in a row, and the
	 * CLOCK_MONOTONIC time (ns) before which decisions do not start
	 * another one (credlimit_grow() does). */
	uint64_t growth_failures;
	uint64_t growth_retry_ns;
	uint64_t reserved1[2];
} __attribute__((aligned(CL_CACHE_LINE)));

/*
 * Policy slot.  name is written once, under policy_lock, before the first
 * release store of params_hi that sets CL_POLICY_DEFINED; it is immutable
 * from then on.  The numbers change by one 16-byte compare-and-swap of
 * params, and readers load params_hi, params_lo, params_hi again and retry
 * until both loads of params_hi agree.  The version field changes on every
 * update, so two equal loads mean the pair was not torn.
 *
 * params_hi: bit 63 defined | bits 62..42 version | bits 41..32 window id
 *            | bits 31..0 max_requests
 * params_lo: bits 63..32 max_credits | bits 31..0 initial_credits
 */
struct cl_policy {
	uint64_t params_lo;
	uint64_t params_hi;
	char name[48];
} __attribute__((aligned(16)));

#define CL_POLICY_DEFINED (UINT64_C(1) << 63)
#define CL_POLICY_VERSION_SHIFT 42
#define CL_POLICY_VERSION_MASK ((UINT64_C(1) << 21) - 1)
#define CL_POLICY_WID_SHIFT 32
#define CL_POLICY_WID_MASK UINT64_C(0x3ff)

/*
 * Statistics stripe, two cache lines.  All fields are atomic counters,
 * updated with uatomic_add by the threads that hash to this stripe, so
 * threads of different processes rarely share a line.
 */
struct cl_stripe {
	uint64_t allowed;
	uint64_t denied;
	uint64_t credits_spent;
	uint64_t inserts;
	uint64_t removals;
	uint64_t evictions;
	uint64_t full_events;
	uint64_t recoveries;
	/* Lease caches only: round trips that took a lease, units they
	 * were granted, round trips that only returned units, units Redis
	 * took back, units lost (expired or refused), and decisions served
	 * from leased units without a round trip. */
	uint64_t lease_fetches;
	uint64_t lease_units_taken;
	uint64_t lease_returns;
	uint64_t lease_units_returned;
	uint64_t lease_units_lost;
	uint64_t lease_local;
} __attribute__((aligned(CL_CACHE_LINE)));

/*
 * Table segment header.  Immutable after creation, except used_slots,
 * published like the control header: magic last, release store.
 */
struct cl_table {
	uint64_t magic;          /* CL_TABLE_MAGIC */
	uint32_t layout_version; /* CL_LAYOUT_VERSION */
	uint32_t header_size;    /* CL_TABLE_HEADER_SIZE, bytes */
	uint64_t segment_size;   /* bytes of this segment */
	uint64_t segment_id;     /* equal to the control segment's */
	uint64_t generation;     /* N of "/credlimit.NAME.gN" */
	uint64_t capacity;       /* slots, any count from CL_CAPACITY_MIN */
	uint32_t entry_size;     /* CL_ENTRY_SIZE */
	uint32_t probe_limit;    /* min(CL_PROBE_MAX, capacity) */
	uint64_t locks_off;      /* byte offset of the eviction locks */
	uint64_t entries_off;    /* CL_TABLE_HEADER_SIZE */

	/* Atomic: slots ever claimed in this table (it never decreases,
	 * since slots never return to EMPTY); the load that triggers
	 * growth.  Zero in tables made before it was counted. */
	uint64_t used_slots __attribute__((aligned(CL_CACHE_LINE)));
} __attribute__((aligned(CL_CACHE_LINE)));

/* In a migration's target table, the pieces of work done, one bit each:
 * CL_RESERVE_SLICES bits at CL_TABLE_RESERVE_OFF for the slices of its
 * memory reserved, CL_MOVE_CHUNKS bits at CL_TABLE_CHUNKS_OFF for the
 * chunks of the source table moved.  Helpers that find every piece
 * handed out redo those whose bit is still clear, so a slow or dead helper
 * cannot hold the migration up, and the bits of a new target start clear,
 * so a helper of an earlier migration cannot mark them. */
#define CL_TABLE_RESERVE_OFF 512
#define CL_RESERVE_SLICES 512
#define CL_TABLE_CHUNKS_OFF 3072
#define CL_MOVE_CHUNKS 8192

#define CL_TABLE_LOCKS_OFF 1024

/*
 * Table entry, one cache line.
 *
 * state_lo/state_hi: one 16-byte word, changed only by compare-and-swap
 *   (shm/entry.h gives the encoding).  A zero state is a fresh customer.
 * meta: atomic, changed by compare-and-swap: slot status, key length,
 *   tag, per-key policy, policy of the last decision, claimer pid.
 * last_seen_ns: atomic, time of the last decision (a claim time while the
 *   slot is CLAIMED); plain relaxed stores, it orders nothing.
 * key: written only by the process that holds the slot CLAIMED; immutable
 *   while the slot is READY.
 */
struct cl_entry {
	uint64_t state_lo;
	uint64_t state_hi;
	uint64_t meta;
	uint64_t last_seen_ns;
	uint64_t key[4]; /* 32 key bytes in memory order, see shm/table.h */
} __attribute__((aligned(CL_ENTRY_SIZE)));

_Static_assert(sizeof(struct cl_entry) == CL_ENTRY_SIZE, "entry size");
_Static_assert(sizeof(struct cl_stripe) == 2 * CL_CACHE_LINE, "stripe size");
_Static_assert(sizeof(struct cl_policy) == 64, "policy slot size");
_Static_assert(sizeof(struct cl_table) <= CL_TABLE_RESERVE_OFF,
	       "table header fits before the reservation bits");
_Static_assert(CL_TABLE_RESERVE_OFF + CL_RESERVE_SLICES / 8 <= CL_TABLE_LOCKS_OFF,
	       "reservation bits fit before the locks");
_Static_assert(CL_TABLE_LOCKS_OFF + CL_EVICT_LOCKS * 8 <= CL_TABLE_CHUNKS_OFF,
	       "eviction locks fit before the chunk bits");
_Static_assert(CL_TABLE_CHUNKS_OFF + CL_MOVE_CHUNKS / 8 <= CL_TABLE_HEADER_SIZE,
	       "chunk bits fit before the entries");

/* Offsets of the control segment's arrays, and its size. */
#define CL_CTL_WINDOWS_OFF ((uint64_t)sizeof(struct cl_ctl))
#define CL_CTL_POLICIES_OFF (CL_CTL_WINDOWS_OFF + CL_WINDOW_SLOTS * 8)
#define CL_CTL_STATS_OFF                                                    \
	(CL_CTL_POLICIES_OFF + CL_POLICY_SLOTS * sizeof(struct cl_policy))
#define CL_CTL_SIZE                                                         \
	(CL_CTL_STATS_OFF + CL_STAT_STRIPES * sizeof(struct cl_stripe))

#endif /* CREDLIMIT_SHM_LAYOUT_H */
