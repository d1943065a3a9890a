/*
 * hist.h - log-linear latency histograms
 *
 * A latency of v nanoseconds falls in one of HIST_SUB buckets between
 * consecutive powers of two, so a bucket spans at most 1/16 of its values.
 * A reported quantile, the upper bound of its bucket, is therefore at most
 * 6.25% above the true one.  Values below HIST_SUB are counted exactly.  The
 * maximum is kept exactly.  A histogram is a fixed-size array with no
 * pointers, so it can live in shared memory and be merged by the parent.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Enough buckets for every 64-bit value. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct bench_hist {
	uint64_t count;
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

static inline unsigned hist_bucket_of(uint64_t ns)
{
	unsigned msb;

	if (ns < HIST_SUB)
		return (unsigned)ns;
	msb = 63u - (unsigned)__builtin_clzll(ns);
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((ns >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(struct bench_hist *h, uint64_t ns)
{
	h->bucket[hist_bucket_of(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct bench_hist *into, const struct bench_hist *from);

/* Returns the upper bound of the bucket holding quantile q (0 < q < 1),
 * capped at the maximum.  Returns 0 for an empty histogram. */
uint64_t hist_quantile(const struct bench_hist *h, double q);

#endif /* BENCH_HIST_H */
