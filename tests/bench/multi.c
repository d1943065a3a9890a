/*
 * multi.c - the multi-process scenarios of bench-compare
 *
 * Every worker is pinned to the same two CPUs (config->cpus), so the 16
 * and 64 process runs oversubscribe them 8 and 32 times, as a prefork
 * server does, whatever the size of the machine.  Uniform workloads give
 * each worker its own seed; distinct-key workloads give each worker its
 * own slice of the key set.  Throughput and latency figures sum or merge
 * over config->parallel_rounds rounds, in each of which every contender
 * runs once, in turn.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"

/* Keys per worker in the distinct-key runs, and keys of the uniform runs
 * with 16 and more processes. */
#define DISTINCT_KEYS_FULL 10000
#define DISTINCT_KEYS_QUICK 100
#define SHARED_KEYS_FULL 100000
#define SHARED_KEYS_QUICK 1000

#define ALL_CONTENDERS                                                      \
	(1u << CONTENDER_FLOOR | 1u << CONTENDER_CREDLIMIT |                \
	 1u << CONTENDER_LOCK)

/* A key set with its contenders, and one key sequence per worker. */
struct workload {
	struct bench_keys keys;
	struct contender_set set;
	struct bench_seq seqs[PARALLEL_MAX];
	unsigned seq_count;
};

static void workload_free_seqs(struct workload *w)
{
	for (unsigned i = 0; i < w->seq_count; i++)
		bench_seq_free(&w->seqs[i]);
	w->seq_count = 0;
}

static void workload_close(struct workload *w)
{
	workload_free_seqs(w);
	contender_set_close(&w->set);
	bench_keys_free(&w->keys);
}

static int workload_open(struct workload *w, uint32_t key_count)
{
	memset(w, 0, sizeof(*w));
	if (bench_keys_make(&w->keys, key_count) < 0)
		return -1;
	if (contender_set_open(&w->set, &w->keys) < 0) {
		bench_keys_free(&w->keys);
		return -1;
	}
	return 0;
}

/* Gives workers 0 .. processes - 1 their sequences: all on key 0 when
 * `hot`, else uniform over keys_each keys, from key w * keys_each when
 * `distinct` and from key 0 when not. */
static int workload_sequences(struct workload *w,
			      const struct bench_config *config,
			      unsigned processes, bool hot, bool distinct,
			      uint32_t keys_each)
{
	workload_free_seqs(w);
	for (unsigned i = 0; i < processes; i++) {
		uint32_t first = distinct ? i * keys_each : 0;
		int err;

		if (hot)
			err = bench_seq_hot(&w->seqs[i], config->parallel_len,
					    0);
		else
			err = bench_seq_uniform(&w->seqs[i],
						config->parallel_len, first,
						keys_each, 100 + i);
		if (err < 0)
			return -1;
		w->seq_count++;
		if (bench_seq_copy_text(&w->seqs[i], &w->keys) < 0)
			return -1;
	}
	return 0;
}

static void print_throughput_header(void)
{
	printf("| workload | processes | floor M/s | credlimit M/s | lock M/s "
	       "| credlimit / lock | credlimit / floor |\n"
	       "|---|---:|---:|---:|---:|---:|---:|\n");
}

static void print_throughput_row(const char *label, unsigned processes,
				 const struct bench_throughput *t)
{
	double floor = bench_mops(&t[CONTENDER_FLOOR]);
	double cl = bench_mops(&t[CONTENDER_CREDLIMIT]);
	double lock = bench_mops(&t[CONTENDER_LOCK]);

	char by_lock[16], by_floor[16];

	printf("| %s | %u | %.2f | %.2f | %.2f | %s | %s |\n", label,
	       processes, floor, cl, lock,
	       bench_ratio(by_lock, sizeof(by_lock), cl, lock),
	       bench_ratio(by_floor, sizeof(by_floor), cl, floor));
	fflush(stdout);
}

/* Measures one row: `processes` workers on the workload's sequences. */
static int throughput_row(const struct bench_config *config,
			  struct workload *w, const char *label,
			  unsigned processes,
			  struct bench_throughput t[CONTENDER_COUNT])
{
	memset(t, 0, CONTENDER_COUNT * sizeof(*t));
	if (bench_parallel_rounds(config, &w->set, ALL_CONTENDERS, processes,
				  w->seqs, t) < 0)
		return -1;
	print_throughput_row(label, processes, t);
	return 0;
}

int scenario_two(const struct bench_config *config)
{
	uint32_t each = config->quick ? DISTINCT_KEYS_QUICK
				      : DISTINCT_KEYS_FULL;
	struct bench_throughput one[CONTENDER_COUNT], two[CONTENDER_COUNT];
	struct bench_throughput hot[CONTENDER_COUNT];
	struct workload w;
	char label[64];
	int err;

	printf("### Two processes\n\n"
	       "Millions of decisions per second over %u rounds of %llu ms "
	       "per contender.  Distinct keys: each process draws uniformly "
	       "from its own %u keys.\n\n", config->parallel_rounds,
	       (unsigned long long)(config->duration_ns / 1000000), each);
	print_throughput_header();

	if (workload_open(&w, 2 * each) < 0)
		return -1;
	snprintf(label, sizeof(label), "distinct keys, %u each", each);
	err = workload_sequences(&w, config, 2, false, true, each);
	if (err == 0)
		err = throughput_row(config, &w, label, 1, one);
	if (err == 0)
		err = throughput_row(config, &w, label, 2, two);
	if (err == 0)
		err = workload_sequences(&w, config, 2, true, false, 1);
	if (err == 0)
		err = throughput_row(config, &w, "one hot key", 2, hot);
	workload_close(&w);
	if (err < 0)
		return -1;

	printf("\n2 processes / 1 process on distinct keys:");
	for (int k = 0; k < CONTENDER_COUNT; k++)
		printf(" %s %s%s", contender_name((enum contender_kind)k),
		       bench_ratio(label, sizeof(label), bench_mops(&two[k]),
				   bench_mops(&one[k])),
		       k + 1 < CONTENDER_COUNT ? "," : ".\n\n");
	return 0;
}

int scenario_many(const struct bench_config *config)
{
	static const unsigned process_counts[] = { 16, 64 };
	uint32_t shared = config->quick ? SHARED_KEYS_QUICK : SHARED_KEYS_FULL;
	struct bench_throughput t[CONTENDER_COUNT];
	struct workload w;
	char label[64];
	int err = 0;

	printf("### 16 and 64 processes on 2 CPUs\n\n"
	       "Millions of decisions per second over %u rounds of %llu ms "
	       "per contender; every worker pinned to CPUs %s.  Uniform: "
	       "each process draws from the same %u keys.\n\n",
	       config->parallel_rounds,
	       (unsigned long long)(config->duration_ns / 1000000),
	       config->cpu_list, shared);
	print_throughput_header();

	if (workload_open(&w, shared) < 0)
		return -1;
	snprintf(label, sizeof(label), "uniform, %u keys", shared);
	for (int i = 0; i < 2 && err == 0; i++) {
		unsigned processes = process_counts[i];

		err = workload_sequences(&w, config, processes, true, false,
					 1);
		if (err == 0)
			err = throughput_row(config, &w, "one hot key",
					     processes, t);
		if (err == 0)
			err = workload_sequences(&w, config, processes, false,
						 false, shared);
		if (err == 0)
			err = throughput_row(config, &w, label, processes, t);
	}
	workload_close(&w);
	printf("\n");
	return err;
}

/* Runs the timed rounds of credlimit and the baseline on the workload's
 * sequences and prints one row per contender.  Stores the 99.9th
 * percentiles in p999[kind]. */
static int latency_rows(const struct bench_config *config, struct workload *w,
			const char *label, unsigned processes,
			uint64_t p999[CONTENDER_COUNT])
{
	static struct bench_hist hist[CONTENDER_COUNT];
	static const enum contender_kind kinds[] = { CONTENDER_CREDLIMIT,
						     CONTENDER_LOCK };

	memset(hist, 0, sizeof(hist));
	for (unsigned round = 0; round < config->parallel_rounds; round++) {
		for (int i = 0; i < 2; i++) {
			struct parallel_job job = {
				.set = &w->set,
				.kind = kinds[i],
				.processes = processes,
				.seqs = w->seqs,
				.duration_ns = config->duration_ns,
				.cpus = &config->cpus,
				.timed = true,
			};
			struct parallel_result result = {
				.hist = &hist[kinds[i]],
			};

			if (parallel_run(&job, &result) < 0)
				return -1;
		}
	}

	for (int i = 0; i < 2; i++) {
		const struct bench_hist *h = &hist[kinds[i]];

		p999[kinds[i]] = hist_quantile(h, 0.999);
		printf("| %s | %s | %llu | %llu | %llu | %llu | %llu |\n",
		       label, contender_name(kinds[i]),
		       (unsigned long long)h->count,
		       (unsigned long long)hist_quantile(h, 0.5),
		       (unsigned long long)hist_quantile(h, 0.99),
		       (unsigned long long)p999[kinds[i]],
		       (unsigned long long)h->max);
	}
	fflush(stdout);
	return 0;
}

int scenario_latency(const struct bench_config *config)
{
	const unsigned processes = 16;
	uint32_t shared = config->quick ? SHARED_KEYS_QUICK : SHARED_KEYS_FULL;
	uint64_t hot_p999[CONTENDER_COUNT], uniform_p999[CONTENDER_COUNT];
	struct workload w;
	char label[64];
	int err;

	printf("### Latency, %u processes on 2 CPUs\n\n"
	       "Nanoseconds per decision, each timed with clock_gettime() "
	       "around the call (its own cost included), over %u rounds of "
	       "%llu ms per contender.  Quantiles are upper bounds of "
	       "log-linear buckets, at most 6.25%% above the true value.\n\n",
	       processes, config->parallel_rounds,
	       (unsigned long long)(config->duration_ns / 1000000));
	printf("| workload | contender | decisions | median | p99 | p99.9 "
	       "| max |\n|---|---|---:|---:|---:|---:|---:|\n");

	if (workload_open(&w, shared) < 0)
		return -1;
	snprintf(label, sizeof(label), "uniform, %u keys", shared);
	err = workload_sequences(&w, config, processes, true, false, 1);
	if (err == 0)
		err = latency_rows(config, &w, "one hot key", processes,
				   hot_p999);
	if (err == 0)
		err = workload_sequences(&w, config, processes, false, false,
					 shared);
	if (err == 0)
		err = latency_rows(config, &w, label, processes,
				   uniform_p999);
	workload_close(&w);
	if (err < 0)
		return -1;

	printf("\nlock p99.9 / credlimit p99.9: one hot key %s, ",
	       bench_ratio(label, sizeof(label),
			   (double)hot_p999[CONTENDER_LOCK],
			   (double)hot_p999[CONTENDER_CREDLIMIT]));
	printf("uniform %s.\n\n",
	       bench_ratio(label, sizeof(label),
			   (double)uniform_p999[CONTENDER_LOCK],
			   (double)uniform_p999[CONTENDER_CREDLIMIT]));
	return 0;
}
