/*
 * bench.h - settings and scenarios of bench-compare
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contender.h"
#include "parallel.h"

struct bench_config {
	bool quick;
	/* Single-process scenarios: rounds, and decisions per contender
	 * and round. */
	unsigned single_rounds;
	size_t single_len;
	/* Multi-process scenarios: rounds, time per contender and round,
	 * and the length of each worker's key sequence (replayed in a
	 * loop). */
	unsigned parallel_rounds;
	uint64_t duration_ns;
	size_t parallel_len;
	/* The two CPUs every multi-process worker is pinned to. */
	cpu_set_t cpus;
	char cpu_list[64];
};

/* Figures of one contender over the rounds of a multi-process scenario. */
struct bench_throughput {
	uint64_t ops;
	uint64_t elapsed_ns;
};

int scenario_single(const struct bench_config *config);
int scenario_two(const struct bench_config *config);
int scenario_many(const struct bench_config *config);
int scenario_latency(const struct bench_config *config);
int scenario_memory(const struct bench_config *config);

/*
 * Runs the contenders of `kinds` (a bit per enum contender_kind) in
 * `processes` workers on config->cpus, interleaved: every contender once
 * per round, config->parallel_rounds rounds.  Adds each contender's
 * decisions and time to out[kind] (zeroed by the caller).  Checks that
 * credlimit and the baseline counted as many allowed decisions as their
 * workers made.  Returns 0, or -1 after printing the error.
 */
int bench_parallel_rounds(const struct bench_config *config,
			  struct contender_set *set, unsigned kinds,
			  unsigned processes, const struct bench_seq *seqs,
			  struct bench_throughput out[CONTENDER_COUNT]);

/* Decisions per second, in millions. */
double bench_mops(const struct bench_throughput *t);

/* Formats a / b with two decimals, or "n/a" when b is 0, into out. */
const char *bench_ratio(char *out, size_t size, double a, double b);

#endif /* BENCH_BENCH_H */
