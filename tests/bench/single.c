/*
 * single.c - the single-process scenario of bench-compare
 *
 * For each key count, one contender set; for each sequence over it,
 * config->single_rounds rounds in which every contender replays the whole
 * sequence once, timed as a whole.  The order of the contenders rotates
 * from round to round, so none always runs first on cold caches.
 * Reported: the median of the rounds' nanoseconds per decision for each
 * contender, and the median of the rounds' ratios, each ratio taken
 * between runs of the same round.
 *
 * credlimit and the baseline each keep their own simulated clock, and
 * both replay the same sequences in the same order from the same time,
 * so they must end in the same state.  A sample of keys is compared at
 * the end of each key count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define ROUNDS_MAX 15

/* Keys compared between credlimit and the baseline per key count. */
#define COMPARE_SAMPLE 1000

enum sequence_kind { SEQ_HOT, SEQ_UNIFORM, SEQ_ZIPF };

static const char *const sequence_names[] = { "one key", "uniform", "Zipf" };

static const uint32_t full_key_counts[] = { 1, 1000, 100000, 1000000 };
static const uint32_t quick_key_counts[] = { 1, 10, 100, 1000 };
#define KEY_COUNTS 4

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *values, unsigned n)
{
	qsort(values, n, sizeof(double), compare_double);
	return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

/* Runs the rounds of one sequence and prints its table row. */
static int measure_sequence(const struct bench_config *config,
			    struct contender_set *set,
			    const struct bench_seq *seq,
			    uint64_t clocks[CONTENDER_COUNT], const char *label)
{
	double ns[CONTENDER_COUNT][ROUNDS_MAX], hashed_ns[ROUNDS_MAX];
	double cl_ratio[ROUNDS_MAX], lock_ratio[ROUNDS_MAX];
	double hashed_ratio[ROUNDS_MAX];
	unsigned rounds = config->single_rounds;
	uint64_t start;

	for (unsigned round = 0; round < rounds; round++) {
		for (int turn = 0; turn < CONTENDER_COUNT; turn++) {
			int k = (int)((round + (unsigned)turn) %
				      CONTENDER_COUNT);

			start = clock_ns();
			if (contender_run(set, (enum contender_kind)k, seq, 0,
					  seq->len, &clocks[k]) < 0)
				return -1;
			ns[k][round] = (double)(clock_ns() - start) /
				       (double)seq->len;
		}

		start = clock_ns();
		contender_run_hashed_floor(set, seq);
		hashed_ns[round] = (double)(clock_ns() - start) /
				   (double)seq->len;

		cl_ratio[round] = ns[CONTENDER_CREDLIMIT][round] /
				  ns[CONTENDER_FLOOR][round];
		lock_ratio[round] = ns[CONTENDER_LOCK][round] /
				    ns[CONTENDER_FLOOR][round];
		hashed_ratio[round] = ns[CONTENDER_CREDLIMIT][round] /
				      hashed_ns[round];
	}

	printf("| %u | %s |", set->keys->count, label);
	for (int k = 0; k < CONTENDER_COUNT; k++)
		printf(" %.1f |", median(ns[k], rounds));
	printf(" %.1f |", median(hashed_ns, rounds));
	printf(" %.2f | %.2f | %.2f |\n", median(cl_ratio, rounds),
	       median(lock_ratio, rounds), median(hashed_ratio, rounds));
	fflush(stdout);
	return 0;
}

static int make_indices(struct bench_seq *seq, enum sequence_kind kind,
			const struct bench_config *config, uint32_t keys)
{
	struct bench_zipf zipf;
	int err;

	switch (kind) {
	case SEQ_HOT:
		return bench_seq_hot(seq, config->single_len, 0);
	case SEQ_UNIFORM:
		return bench_seq_uniform(seq, config->single_len, 0, keys, 1);
	default:
		if (bench_zipf_make(&zipf, keys, BENCH_ZIPF_EXPONENT) < 0)
			return -1;
		err = bench_seq_zipf(seq, config->single_len, 0, &zipf, 2);
		bench_zipf_free(&zipf);
		return err;
	}
}

static int make_sequence(struct bench_seq *seq, enum sequence_kind kind,
			 const struct bench_config *config,
			 const struct bench_keys *keys)
{
	if (make_indices(seq, kind, config, keys->count) < 0)
		return -1;
	if (bench_seq_copy_text(seq, keys) < 0) {
		bench_seq_free(seq);
		return -1;
	}
	return 0;
}

/* Measures every sequence over `count` keys, then compares the states. */
static int measure_key_count(const struct bench_config *config,
			     uint32_t count)
{
	uint64_t clocks[CONTENDER_COUNT];
	struct contender_set set;
	struct bench_keys keys;
	int differ, err = 0;

	if (bench_keys_make(&keys, count) < 0)
		return -1;
	if (contender_set_open(&set, &keys) < 0) {
		bench_keys_free(&keys);
		return -1;
	}
	for (int k = 0; k < CONTENDER_COUNT; k++)
		clocks[k] = BENCH_T0_NS + BENCH_STEP_NS;

	for (int s = SEQ_HOT; s <= SEQ_ZIPF && err == 0; s++) {
		struct bench_seq seq;

		/* With one key every sequence is the hot key. */
		if ((count == 1) != (s == SEQ_HOT))
			continue;
		err = make_sequence(&seq, (enum sequence_kind)s, config,
				    &keys);
		if (err < 0)
			break;
		err = measure_sequence(config, &set, &seq, clocks,
				       sequence_names[s]);
		bench_seq_free(&seq);
	}

	if (err == 0) {
		differ = contender_set_compare(&set, COMPARE_SAMPLE);
		if (differ != 0) {
			if (differ > 0)
				fprintf(stderr, "bench-compare: credlimit and "
					"the baseline store different states "
					"for %d sampled keys of the %u\n",
					differ, count);
			err = -1;
		}
	}
	contender_set_close(&set);
	bench_keys_free(&keys);
	return err;
}

int scenario_single(const struct bench_config *config)
{
	const uint32_t *counts = config->quick ? quick_key_counts
					       : full_key_counts;

	if (config->single_rounds > ROUNDS_MAX)
		return -1;

	printf("### One process\n\n"
	       "Nanoseconds per decision, median of %u rounds of %zu "
	       "decisions; ratios are medians of per-round ratios.  "
	       "floor + hash: the floor with each slot chosen by a "
	       "SipHash-1-3 of the key's text.\n\n",
	       config->single_rounds, config->single_len);
	printf("| keys | sequence | floor ns | credlimit ns | lock ns "
	       "| floor + hash ns | credlimit / floor | lock / floor "
	       "| credlimit / (floor + hash) |\n"
	       "|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");

	for (int i = 0; i < KEY_COUNTS; i++)
		if (measure_key_count(config, counts[i]) < 0)
			return -1;
	printf("\n");
	return 0;
}
