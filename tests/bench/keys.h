/*
 * keys.h - customer keys and the key sequences that every contender replays
 *
 * A key set is `count` keys "customer-0000000" to "customer-NNNNNNN", all
 * BENCH_KEY_LEN bytes long, formatted once before any timing so that no
 * timed loop formats a string.  A key sequence is an array of key indices,
 * generated before timing from a fixed seed, so the floor, credlimit and
 * the lock baseline see exactly the same keys in the same order.
 */
#ifndef BENCH_KEYS_H
#define BENCH_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Length of every key: "customer-" and seven digits, no terminating NUL. */
#define BENCH_KEY_LEN 16
/* Largest key set: seven digits. */
#define BENCH_KEYS_MAX 10000000u

/* Exponent of the Zipf-skewed sequences. */
#define BENCH_ZIPF_EXPONENT 0.99

struct bench_keys {
	uint32_t count;
	char (*text)[BENCH_KEY_LEN];
};

/* Formats keys 0 .. count - 1.  Returns 0, or -1 after printing why. */
int bench_keys_make(struct bench_keys *keys, uint32_t count);
void bench_keys_free(struct bench_keys *keys);

static inline const char *bench_key(const struct bench_keys *keys,
				    uint32_t index)
{
	return keys->text[index];
}

/*
 * Cumulative distribution of a Zipf law over `count` ranks: cdf[r] is the
 * probability of a rank <= r, with P(r) proportional to (r + 1)^-exponent.
 */
struct bench_zipf {
	uint32_t count;
	double *cdf;
};

int bench_zipf_make(struct bench_zipf *zipf, uint32_t count, double exponent);
void bench_zipf_free(struct bench_zipf *zipf);

/*
 * Keys in the order a process replays them: their indices, and a copy of
 * their text in the same order.  The copy makes the key of each decision
 * a sequential read, as a key in a request buffer is, instead of a
 * random read from the key set that the floor, which uses only the
 * index, would not pay for.
 */
struct bench_seq {
	uint32_t *index;
	char (*text)[BENCH_KEY_LEN];
	size_t len;
};

/* len indices drawn uniformly from first .. first + count - 1. */
int bench_seq_uniform(struct bench_seq *seq, size_t len, uint32_t first,
		      uint32_t count, uint64_t seed);

/*
 * len indices drawn from `zipf`, offset by first.  Ranks are scattered over
 * the key set by a fixed bijection, so the hottest keys are not the ones
 * inserted first and do not sit at the start of their probe sequences.
 */
int bench_seq_zipf(struct bench_seq *seq, size_t len, uint32_t first,
		   const struct bench_zipf *zipf, uint64_t seed);

/* len copies of one index. */
int bench_seq_hot(struct bench_seq *seq, size_t len, uint32_t key);

/* Fills seq->text from keys, which must hold every index of seq. */
int bench_seq_copy_text(struct bench_seq *seq, const struct bench_keys *keys);

void bench_seq_free(struct bench_seq *seq);

#endif /* BENCH_KEYS_H */
