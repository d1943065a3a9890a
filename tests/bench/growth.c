/*
 * growth.c - benchmark: a table growing from 1,000 to 1,000,000 entries
 *
 * Forks worker processes that insert new customers through
 * credlimit_acquire() (the real clock, as a server would) until the
 * limiter holds the target number of entries, and times every decision.
 * The same run then fills a table created at the size growth ended at,
 * so the two totals compare growth against no growth on the same
 * machine state.
 *
 * Reported per run: wall time to reach the entry count, decisions per
 * second, the latency of single decisions (median, 99th, 99.9th
 * percentile and maximum, over all workers), and the migrations done.
 *
 *   bench-growth [--entries N] [--workers P] [--initial N] [--max N]
 *
 * Not a pass/fail test: `make bench` runs it and docs/benchmarks.md keeps
 * the figures with the machine that produced them.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "credlimit.h"

struct options {
	uint64_t entries;
	uint64_t workers;
	uint64_t initial;
	uint64_t max;
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Inserts keys worker, worker + P, worker + 2P, ... below `entries`,
 * recording each decision's latency in ns. */
static int run_worker(credlimit_t *cl, const struct options *o,
		      uint64_t worker, uint64_t *latencies)
{
	uint64_t n = 0;

	for (uint64_t key = worker; key < o->entries; key += o->workers) {
		struct credlimit_result r;
		char name[32];
		uint64_t start;
		int len, err;

		len = snprintf(name, sizeof(name), "customer-%" PRIu64, key);
		start = clock_ns();
		err = credlimit_acquire(cl, name, (size_t)len, 1, &r);
		latencies[n++] = clock_ns() - start;
		if (err < 0) {
			fprintf(stderr, "worker %" PRIu64 ": %s\n", worker,
				credlimit_strerror(err));
			return 1;
		}
		if (r.flags & (CREDLIMIT_RESULT_FULL | CREDLIMIT_RESULT_UNTRACKED)) {
			fprintf(stderr, "worker %" PRIu64 ": table full at key %"
				PRIu64 "\n", worker, key);
			return 1;
		}
	}
	return 0;
}

/* One measured fill of a new limiter; prints one result line and stores
 * the final capacity in *capacity. */
static int run(const char *label, const struct options *o, uint64_t initial,
	       uint64_t *capacity)
{
	struct credlimit_options opts;
	struct credlimit_stats stats;
	uint64_t per_worker = o->entries / o->workers + 1;
	size_t bytes = (size_t)(per_worker * o->workers) * sizeof(uint64_t);
	uint64_t *latencies, start, elapsed;
	char name[64];
	credlimit_t *cl;
	int failed = 0;
	int err;

	snprintf(name, sizeof(name), "bench-growth-%d", (int)getpid());
	credlimit_unlink(name);
	credlimit_options_init(&opts);
	opts.initial_capacity = initial;
	opts.max_capacity = o->max;
	opts.default_policy.max_requests = 100;
	opts.default_policy.window_ns = UINT64_C(3600) * 1000000000;
	err = credlimit_open(name, CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
			     &opts, &cl);
	if (err < 0) {
		fprintf(stderr, "open: %s\n", credlimit_strerror(err));
		return 1;
	}

	latencies = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (latencies == MAP_FAILED) {
		perror("mmap");
		return 1;
	}

	start = clock_ns();
	for (uint64_t w = 0; w < o->workers; w++) {
		if (fork() == 0)
			_exit(run_worker(cl, o, w, latencies + w * per_worker));
	}
	for (uint64_t w = 0; w < o->workers; w++) {
		int status;

		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	elapsed = clock_ns() - start;

	credlimit_stats(cl, &stats);
	*capacity = stats.capacity;
	if (!failed) {
		/* Unused tail slots of each worker's stretch stay 0 and sort
		 * first; skip them. */
		uint64_t total = per_worker * o->workers;
		uint64_t skip = total - o->entries;

		qsort(latencies, total, sizeof(uint64_t), compare_u64);
		printf("%-10s entries %" PRIu64 "  workers %" PRIu64
		       "  time %.3f s  %.0f decisions/s  latency ns: "
		       "median %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64
		       "  max %" PRIu64 "  capacity %" PRIu64
		       "  migrations %" PRIu64 "  moved %" PRIu64 "\n",
		       label, stats.entries, o->workers, elapsed / 1e9,
		       o->entries / (elapsed / 1e9),
		       latencies[skip + o->entries / 2],
		       latencies[skip + o->entries * 99 / 100],
		       latencies[skip + o->entries * 999 / 1000],
		       latencies[total - 1], stats.capacity, stats.migrations,
		       stats.entries_moved);
	}

	munmap(latencies, bytes);
	credlimit_close(cl);
	credlimit_unlink(name);
	return failed;
}

static uint64_t parse(const char *text, const char *option)
{
	char *end;
	unsigned long long value;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value == 0) {
		fprintf(stderr, "bench-growth: invalid %s \"%s\": expected a "
			"positive whole number\n", option, text);
		exit(2);
	}
	return value;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "entries", required_argument, NULL, 'e' },
		{ "workers", required_argument, NULL, 'w' },
		{ "initial", required_argument, NULL, 'i' },
		{ "max", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = {
		.entries = 1000000,
		.workers = 4,
		.initial = 2048,
		.max = UINT64_C(1) << 22,
	};
	uint64_t grown;
	int option;

	while ((option = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (option) {
		case 'e':
			o.entries = parse(optarg, "--entries");
			break;
		case 'w':
			o.workers = parse(optarg, "--workers");
			break;
		case 'i':
			o.initial = parse(optarg, "--initial");
			break;
		case 'm':
			o.max = parse(optarg, "--max");
			break;
		default:
			fprintf(stderr, "usage: bench-growth [--entries N] "
				"[--workers P] [--initial SLOTS] [--max SLOTS]\n");
			return 2;
		}
	}

	/* The presized table gets the size growth ended at, so the only
	 * difference is the growing. */
	if (run("growing", &o, o.initial, &grown) != 0)
		return 1;
	return run("presized", &o, grown, &grown);
}
