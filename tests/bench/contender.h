/*
 * contender.h - the three contenders of bench-compare on one key set
 *
 * A contender set holds, for one key set, everything the three contenders
 * decide on, all sized alike (capacity: the smallest power of two at least
 * twice the key count, so credlimit never grows during timing):
 *
 *   floor      An array of `capacity` entries (struct cl_entry: 64 bytes,
 *              64-byte-aligned) in shared memory.  A decision maps the
 *              key index to a fixed pseudo-random slot, loads its 16-byte
 *              state word and swaps in lo + 1 with a 16-byte
 *              compare-and-swap, nothing else.
 *   credlimit  A limiter "bench-compare-PID-N", decided on with
 *              credlimit_acquire_at().
 *   lock       The lock-based baseline (lockbase.h).
 *
 * credlimit and the baseline use a policy that allows every request
 * (2^32 - 1 requests per 1 s window), so every decision writes its
 * entry's state.  Both are prefilled with every key of the set before
 * timing, so that timed decisions find existing entries.
 *
 * Decision i of a run is made at time *now_ns + i * BENCH_STEP_NS, so runs
 * that replay the same sequence from the same time leave credlimit and the
 * baseline in the same state, which contender_set_compare() checks.
 */
#ifndef BENCH_CONTENDER_H
#define BENCH_CONTENDER_H

#include <stddef.h>
#include <stdint.h>

#include "credlimit.h"
#include "hist.h"
#include "keys.h"
#include "lockbase.h"

enum contender_kind {
	CONTENDER_FLOOR,
	CONTENDER_CREDLIMIT,
	CONTENDER_LOCK,
	CONTENDER_COUNT
};

/* Time of the prefill decisions, at the start of a window. */
#define BENCH_T0_NS (UINT64_C(1000) * 1000000000)
/* Simulated time between two decisions of one process. */
#define BENCH_STEP_NS UINT64_C(1000)

struct cl_entry;

struct contender_set {
	const struct bench_keys *keys;
	uint64_t capacity;       /* slots of each of the three tables */
	unsigned floor_shift;    /* 64 - log2(capacity) */
	struct cl_entry *floor;  /* only the state words are used */
	credlimit_t *cl;
	char cl_name[64];
	struct lockbase lock;
};

/* Returns "floor", "credlimit" or "lock". */
const char *contender_name(enum contender_kind kind);

/* Returns the smallest power of two >= 2 * count, at least 8. */
uint64_t contender_capacity(uint64_t count);

/* Creates the three tables for keys and prefills credlimit and the
 * baseline with every key at BENCH_T0_NS.  Returns 0, or -1 after printing
 * the error (and releasing what it made). */
int contender_set_open(struct contender_set *set,
		       const struct bench_keys *keys);
void contender_set_close(struct contender_set *set);

/*
 * Makes one decision for each of the keys pos .. pos + n - 1 of seq with
 * contender `kind`, from time *now_ns on, and advances *now_ns.  The floor
 * reads the keys' indices, the others their text.  Returns 0, or -1 after
 * printing the error: an API error, or a verdict other than allowed on an
 * existing entry, which this policy never gives.
 */
int contender_run(struct contender_set *set, enum contender_kind kind,
		  const struct bench_seq *seq, size_t pos, size_t n,
		  uint64_t *now_ns);

/* Replays the whole of seq on the floor's table with the slot chosen by
 * a SipHash-1-3 of each key's text rather than by its index: the floor
 * plus the hashing that every limiter keyed by strings does. */
void contender_run_hashed_floor(struct contender_set *set,
				const struct bench_seq *seq);

/* As contender_run(), adding each decision's latency to hist. */
int contender_run_timed(struct contender_set *set, enum contender_kind kind,
			const struct bench_seq *seq, size_t pos, size_t n,
			uint64_t *now_ns, struct bench_hist *hist);

/* Returns the decisions credlimit and the baseline have allowed so far,
 * in *credlimit and *lock.  Returns 0, or -1 after printing the error. */
int contender_set_allowed(struct contender_set *set, uint64_t *credlimit,
			  uint64_t *lock);

/*
 * Checks that credlimit and the baseline store the same state (window,
 * used, credits) for up to `sample` keys spread over the set.  Returns the
 * number of keys that differ, or -1 after printing an error.
 */
int contender_set_compare(struct contender_set *set, uint32_t sample);

#endif /* BENCH_CONTENDER_H */
