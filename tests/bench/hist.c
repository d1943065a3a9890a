/*
 * hist.c - merging log-linear latency histograms and reading quantiles
 */
#include "hist.h"

void hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	if (from->max > into->max)
		into->max = from->max;
}

/* Returns the largest value that falls in bucket b. */
static uint64_t bucket_upper(unsigned b)
{
	unsigned group = b / HIST_SUB, sub = b % HIST_SUB;
	unsigned msb;
	uint64_t low;

	if (group == 0)
		return b;
	msb = group + HIST_SUB_BITS - 1;
	low = (UINT64_C(1) << msb) |
	      (uint64_t)sub << (msb - HIST_SUB_BITS);
	return low + (UINT64_C(1) << (msb - HIST_SUB_BITS)) - 1;
}

uint64_t hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->count == 0)
		return 0;
	/* The value with this many values at or below it, counting from 1. */
	rank = (uint64_t)(q * (double)h->count) + 1;
	if (rank > h->count)
		rank = h->count;

	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			uint64_t upper = bucket_upper(b);

			return upper < h->max ? upper : h->max;
		}
	}
	return h->max;
}
