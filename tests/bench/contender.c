/*
 * contender.c - the floor, credlimit and the lock baseline on one key set
 *
 * Each contender has its own loop, with the choice of contender made once
 * outside it, so the floor's loop is only the index load, the slot
 * address, the 16-byte load and the compare-and-swap.  The floor retries
 * a failed compare-and-swap with the value it found, as credlimit does,
 * since an update that may be lost is no floor for one that may not.
 *
 * The three tables live in shared memory of the same kind (POSIX or
 * anonymous shared memory, both on the kernel's shmem), so they get the
 * same page size and the same page-table costs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "contender.h"
#include "shm/entry.h"
#include "shm/siphash.h"

/* 2^64 divided by the golden ratio: multiplying by it and keeping the top
 * bits scatters consecutive key indices over the floor's slots. */
#define FLOOR_SCATTER UINT64_C(0x9e3779b97f4a7c15)

const char *contender_name(enum contender_kind kind)
{
	switch (kind) {
	case CONTENDER_FLOOR:
		return "floor";
	case CONTENDER_CREDLIMIT:
		return "credlimit";
	case CONTENDER_LOCK:
		return "lock";
	default:
		return "?";
	}
}

uint64_t contender_capacity(uint64_t count)
{
	uint64_t capacity = 8;

	while (capacity < 2 * count)
		capacity *= 2;
	return capacity;
}

static unsigned log2_u64(uint64_t power_of_two)
{
	return 63u - (unsigned)__builtin_clzll(power_of_two);
}

static int open_floor(struct contender_set *set)
{
	size_t bytes = set->capacity * sizeof(struct cl_entry);
	void *map;

	map = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "bench-compare: mmap of the floor's %zu bytes "
			"failed: %s\n", bytes, strerror(errno));
		return -1;
	}
	/* Faults every page in now, as the prefill does for the others. */
	memset(map, 0, bytes);
	set->floor = map;
	set->floor_shift = 64 - log2_u64(set->capacity);
	return 0;
}

static int open_limiter(struct contender_set *set)
{
	static unsigned opened;
	struct credlimit_options options;
	int err;

	snprintf(set->cl_name, sizeof(set->cl_name), "bench-compare-%d-%u",
		 (int)getpid(), opened++);
	credlimit_options_init(&options);
	options.initial_capacity = set->capacity;
	options.max_capacity = set->capacity;
	options.default_policy.max_requests = UINT32_MAX;
	options.default_policy.max_credits = 0;
	options.default_policy.initial_credits = 0;
	options.default_policy.window_ns = 1000000000;

	err = credlimit_open(set->cl_name,
			     CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
			     &options, &set->cl);
	if (err < 0) {
		fprintf(stderr, "bench-compare: credlimit_open(\"%s\") "
			"failed: %s\n", set->cl_name, credlimit_strerror(err));
		return -1;
	}
	err = lockbase_create(&set->lock, set->capacity,
			      &options.default_policy);
	if (err < 0) {
		fprintf(stderr, "bench-compare: creating the lock baseline's "
			"segment failed: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

/* Prints why a decision on key failed.  Kept out of line, off the timed
 * path. */
static __attribute__((noinline, cold)) int
report_failure(enum contender_kind kind, const char *key, int err,
	       const struct credlimit_result *r)
{
	if (err < 0)
		fprintf(stderr, "bench-compare: %s decision on key %.*s "
			"failed: %s\n", contender_name(kind), BENCH_KEY_LEN,
			key, credlimit_strerror(err));
	else
		fprintf(stderr, "bench-compare: %s decision on key %.*s "
			"returned verdict %d, flags %#x; expected allowed "
			"on an existing entry\n", contender_name(kind),
			BENCH_KEY_LEN, key, r->verdict, r->flags);
	return -1;
}

static int prefill(struct contender_set *set)
{
	for (uint32_t i = 0; i < set->keys->count; i++) {
		const char *key = bench_key(set->keys, i);
		struct credlimit_result r;
		int err;

		err = credlimit_acquire_at(set->cl, key, BENCH_KEY_LEN, 1,
					   BENCH_T0_NS, &r);
		if (err < 0 || r.verdict != CREDLIMIT_ALLOWED ||
		    r.flags != CREDLIMIT_RESULT_NEW)
			return report_failure(CONTENDER_CREDLIMIT, key, err,
					      &r);
		err = lockbase_acquire(&set->lock, key, BENCH_KEY_LEN, 1,
				       BENCH_T0_NS, &r);
		if (err < 0 || r.verdict != CREDLIMIT_ALLOWED ||
		    r.flags != CREDLIMIT_RESULT_NEW)
			return report_failure(CONTENDER_LOCK, key, err, &r);
	}
	return 0;
}

int contender_set_open(struct contender_set *set,
		       const struct bench_keys *keys)
{
	memset(set, 0, sizeof(*set));
	set->keys = keys;
	set->capacity = contender_capacity(keys->count);

	if (open_floor(set) < 0 || open_limiter(set) < 0 ||
	    prefill(set) < 0) {
		contender_set_close(set);
		return -1;
	}
	return 0;
}

void contender_set_close(struct contender_set *set)
{
	if (set->floor != NULL)
		munmap(set->floor, set->capacity * sizeof(struct cl_entry));
	set->floor = NULL;
	if (set->cl != NULL) {
		credlimit_close(set->cl);
		credlimit_unlink(set->cl_name);
	}
	set->cl = NULL;
	lockbase_destroy(&set->lock);
}

/* The floor's whole work on a slot: load the 16-byte word and swap in a
 * changed one, retrying with the value found. */
static inline void floor_update(struct cl_entry *slot)
{
	struct cl_state_word seen, next;

	seen.lo = CMM_LOAD_SHARED(slot->state_lo);
	seen.hi = CMM_LOAD_SHARED(slot->state_hi);
	do {
		next.lo = seen.lo + 1;
		next.hi = seen.hi;
	} while (!cl_cas16(&slot->state_lo, &seen, next));
}

static inline void floor_decide(const struct contender_set *set,
				uint32_t index)
{
	floor_update(&set->floor[(index * FLOOR_SCATTER) >> set->floor_shift]);
}

/* A fixed SipHash key for the hashed floor: only the cost of hashing
 * matters there. */
static const uint64_t hashed_floor_secret[2] = { 1, 2 };

/* The floor plus what any limiter keyed by strings must add: hashing the
 * key's text to find its slot. */
static inline void hashed_floor_decide(const struct contender_set *set,
				       const char *key)
{
	uint64_t hash = cl_siphash13(hashed_floor_secret, key, BENCH_KEY_LEN);

	floor_update(&set->floor[hash >> set->floor_shift]);
}

void contender_run_hashed_floor(struct contender_set *set,
				const struct bench_seq *seq)
{
	for (size_t i = 0; i < seq->len; i++)
		hashed_floor_decide(set, seq->text[i]);
}

static inline int credlimit_decide(const struct contender_set *set,
				   const char *key, uint64_t now_ns)
{
	struct credlimit_result r;
	int err;

	err = credlimit_acquire_at(set->cl, key, BENCH_KEY_LEN, 1, now_ns, &r);
	if (err < 0 || r.verdict != CREDLIMIT_ALLOWED || r.flags != 0)
		return report_failure(CONTENDER_CREDLIMIT, key, err, &r);
	return 0;
}

static inline int lock_decide(struct contender_set *set, const char *key,
			      uint64_t now_ns)
{
	struct credlimit_result r;
	int err;

	err = lockbase_acquire(&set->lock, key, BENCH_KEY_LEN, 1, now_ns, &r);
	if (err < 0 || r.verdict != CREDLIMIT_ALLOWED || r.flags != 0)
		return report_failure(CONTENDER_LOCK, key, err, &r);
	return 0;
}

int contender_run(struct contender_set *set, enum contender_kind kind,
		  const struct bench_seq *seq, size_t pos, size_t n,
		  uint64_t *now_ns)
{
	const uint32_t *idx = seq->index + pos;
	const char(*text)[BENCH_KEY_LEN] = seq->text + pos;
	uint64_t now = *now_ns;

	switch (kind) {
	case CONTENDER_FLOOR:
		for (size_t i = 0; i < n; i++)
			floor_decide(set, idx[i]);
		now += n * BENCH_STEP_NS;
		break;
	case CONTENDER_CREDLIMIT:
		for (size_t i = 0; i < n; i++, now += BENCH_STEP_NS)
			if (credlimit_decide(set, text[i], now) < 0)
				return -1;
		break;
	case CONTENDER_LOCK:
		for (size_t i = 0; i < n; i++, now += BENCH_STEP_NS)
			if (lock_decide(set, text[i], now) < 0)
				return -1;
		break;
	default:
		return -1;
	}
	*now_ns = now;
	return 0;
}

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

int contender_run_timed(struct contender_set *set, enum contender_kind kind,
			const struct bench_seq *seq, size_t pos, size_t n,
			uint64_t *now_ns, struct bench_hist *hist)
{
	uint64_t now = *now_ns;

	for (size_t i = pos; i < pos + n; i++, now += BENCH_STEP_NS) {
		uint64_t start = clock_ns();
		int err = 0;

		switch (kind) {
		case CONTENDER_FLOOR:
			floor_decide(set, seq->index[i]);
			break;
		case CONTENDER_CREDLIMIT:
			err = credlimit_decide(set, seq->text[i], now);
			break;
		case CONTENDER_LOCK:
			err = lock_decide(set, seq->text[i], now);
			break;
		default:
			err = -1;
		}
		if (err < 0)
			return -1;
		hist_add(hist, clock_ns() - start);
	}
	*now_ns = now;
	return 0;
}

int contender_set_allowed(struct contender_set *set, uint64_t *credlimit,
			  uint64_t *lock)
{
	struct credlimit_stats stats;
	int err = credlimit_stats(set->cl, &stats);

	if (err < 0) {
		fprintf(stderr, "bench-compare: credlimit_stats failed: %s\n",
			credlimit_strerror(err));
		return -1;
	}
	*credlimit = stats.allowed;
	*lock = lockbase_allowed(&set->lock);
	return 0;
}

int contender_set_compare(struct contender_set *set, uint32_t sample)
{
	uint32_t count = set->keys->count;
	uint32_t stride = sample < count ? count / sample : 1;
	int differ = 0;

	for (uint32_t i = 0; i < count; i += stride) {
		const char *key = bench_key(set->keys, i);
		struct credlimit_entry entry;
		struct cl_algo_state state;
		int err;

		err = credlimit_lookup(set->cl, key, BENCH_KEY_LEN,
				       BENCH_T0_NS, &entry);
		if (err < 0) {
			fprintf(stderr, "bench-compare: credlimit_lookup of "
				"%.*s failed: %s\n", BENCH_KEY_LEN, key,
				credlimit_strerror(err));
			return -1;
		}
		err = lockbase_lookup(&set->lock, key, BENCH_KEY_LEN, &state);
		if (err < 0) {
			fprintf(stderr, "bench-compare: baseline lookup of "
				"%.*s failed: %s\n", BENCH_KEY_LEN, key,
				strerror(-err));
			return -1;
		}
		if (entry.window_start_ns == state.window * state.window_ns &&
		    entry.used == state.used && entry.credits == state.credits)
			continue;
		if (differ++ < 5)
			fprintf(stderr, "bench-compare: key %.*s differs: "
				"credlimit window %llu ns, used %u, credits "
				"%u; baseline window %llu ns, used %u, "
				"credits %u\n",
				BENCH_KEY_LEN, key,
				(unsigned long long)entry.window_start_ns,
				entry.used, entry.credits,
				(unsigned long long)(state.window *
						     state.window_ns),
				state.used, state.credits);
	}
	return differ;
}
