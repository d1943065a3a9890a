/*
 * keys.c - customer keys and key sequences for bench-compare
 *
 * Random numbers come from SplitMix64 (Steele, Lea and Flood, "Fast
 * splittable pseudorandom number generators", OOPSLA 2014): one 64-bit
 * state, so a fixed seed gives the same sequence on every machine.
 * Zipf samples are drawn by inverting an exact cumulative distribution
 * table with a binary search, which costs 8 bytes per key and happens
 * before any timing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* A prime above BENCH_KEYS_MAX, so multiplying by it modulo any key count
 * is a bijection on the ranks. */
#define ZIPF_SCATTER UINT64_C(2654435761)

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Returns a number in 0 .. bound - 1, by multiply and shift.  Its bias is
 * below bound / 2^32, far under what the benchmark can observe. */
static uint32_t random_below(uint64_t *state, uint32_t bound)
{
	return (uint32_t)(((splitmix64(state) >> 32) * bound) >> 32);
}

int bench_keys_make(struct bench_keys *keys, uint32_t count)
{
	if (count == 0 || count > BENCH_KEYS_MAX) {
		fprintf(stderr, "bench-compare: invalid key count %u: expected "
			"1 to %u\n", count, BENCH_KEYS_MAX);
		return -1;
	}
	keys->text = malloc((size_t)count * BENCH_KEY_LEN);
	if (keys->text == NULL) {
		fprintf(stderr, "bench-compare: out of memory for %u keys\n",
			count);
		return -1;
	}
	keys->count = count;

	for (uint32_t i = 0; i < count; i++) {
		char buf[BENCH_KEY_LEN + 1];

		snprintf(buf, sizeof(buf), "customer-%07u", i);
		for (int j = 0; j < BENCH_KEY_LEN; j++)
			keys->text[i][j] = buf[j];
	}
	return 0;
}

void bench_keys_free(struct bench_keys *keys)
{
	free(keys->text);
	keys->text = NULL;
	keys->count = 0;
}

int bench_zipf_make(struct bench_zipf *zipf, uint32_t count, double exponent)
{
	double sum = 0;

	zipf->cdf = malloc((size_t)count * sizeof(double));
	if (zipf->cdf == NULL) {
		fprintf(stderr, "bench-compare: out of memory for a Zipf "
			"table of %u keys\n", count);
		return -1;
	}
	zipf->count = count;

	for (uint32_t r = 0; r < count; r++) {
		sum += pow((double)r + 1, -exponent);
		zipf->cdf[r] = sum;
	}
	for (uint32_t r = 0; r < count; r++)
		zipf->cdf[r] /= sum;
	/* Rounding may leave the last value just below 1, and a draw
	 * above it would fall off the table. */
	zipf->cdf[count - 1] = 1.0;
	return 0;
}

void bench_zipf_free(struct bench_zipf *zipf)
{
	free(zipf->cdf);
	zipf->cdf = NULL;
	zipf->count = 0;
}

static int seq_alloc(struct bench_seq *seq, size_t len)
{
	seq->text = NULL;
	seq->index = malloc(len * sizeof(uint32_t));
	if (seq->index == NULL) {
		fprintf(stderr, "bench-compare: out of memory for a key "
			"sequence of %zu decisions\n", len);
		return -1;
	}
	seq->len = len;
	return 0;
}

int bench_seq_uniform(struct bench_seq *seq, size_t len, uint32_t first,
		      uint32_t count, uint64_t seed)
{
	uint64_t state = seed;

	if (seq_alloc(seq, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		seq->index[i] = first + random_below(&state, count);
	return 0;
}

/* Returns the smallest rank whose cumulative probability exceeds u. */
static uint32_t zipf_rank(const struct bench_zipf *zipf, double u)
{
	uint32_t low = 0, high = zipf->count - 1;

	while (low < high) {
		uint32_t mid = low + (high - low) / 2;

		if (zipf->cdf[mid] > u)
			high = mid;
		else
			low = mid + 1;
	}
	return low;
}

int bench_seq_zipf(struct bench_seq *seq, size_t len, uint32_t first,
		   const struct bench_zipf *zipf, uint64_t seed)
{
	uint64_t state = seed;

	if (seq_alloc(seq, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		/* 53 random bits: a double uniform in [0, 1). */
		double u = (double)(splitmix64(&state) >> 11) * 0x1p-53;
		uint64_t rank = zipf_rank(zipf, u);

		seq->index[i] = first +
				(uint32_t)(rank * ZIPF_SCATTER % zipf->count);
	}
	return 0;
}

int bench_seq_hot(struct bench_seq *seq, size_t len, uint32_t key)
{
	if (seq_alloc(seq, len) < 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		seq->index[i] = key;
	return 0;
}

int bench_seq_copy_text(struct bench_seq *seq, const struct bench_keys *keys)
{
	seq->text = malloc(seq->len * BENCH_KEY_LEN);
	if (seq->text == NULL) {
		fprintf(stderr, "bench-compare: out of memory for the keys of "
			"a sequence of %zu decisions\n", seq->len);
		return -1;
	}
	for (size_t i = 0; i < seq->len; i++)
		memcpy(seq->text[i], bench_key(keys, seq->index[i]),
		       BENCH_KEY_LEN);
	return 0;
}

void bench_seq_free(struct bench_seq *seq)
{
	free(seq->index);
	free(seq->text);
	seq->index = NULL;
	seq->text = NULL;
	seq->len = 0;
}
