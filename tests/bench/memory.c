/*
 * memory.c - the memory scenario of bench-compare: shared memory per
 * customer
 *
 * Creates a limiter for 1,000,000 customers (10,000 with --quick), makes
 * one decision for each so every customer has an entry, and reports the
 * sizes of its two segments in /dev/shm as stat() returns them: the size,
 * and the bytes tmpfs allocated.  Four table sizes, one row each:
 *
 *   - the smallest power of two that keeps the load below one half, as
 *     the library's own growth leaves a table;
 *   - 1.4 slots per customer (71% load), the size the README advises
 *     for a table at its maximum capacity;
 *   - 1.25 slots per customer (80% load), where large tables start to
 *     refuse new keys;
 *   - half the first size, nearly full, to show how many customers find
 *     no slot within CL_PROBE_MAX of their home slot.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "shm/layout.h"

#define CUSTOMERS_FULL 1000000
#define CUSTOMERS_QUICK 10000

/* Sizes of one segment: st_size, and the bytes allocated to it. */
struct segment_size {
	uint64_t bytes;
	uint64_t allocated;
};

static int stat_segment(const char *path, struct segment_size *out)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	out->bytes = (uint64_t)st.st_size;
	out->allocated = (uint64_t)st.st_blocks * 512;
	return 0;
}

/* Decides once for every key at BENCH_T0_NS.  Counts the keys that got
 * no entry in *refused. */
static int insert_all(credlimit_t *cl, const struct bench_keys *keys,
		      uint32_t *refused)
{
	*refused = 0;
	for (uint32_t i = 0; i < keys->count; i++) {
		struct credlimit_result r;
		int err;

		err = credlimit_acquire_at(cl, bench_key(keys, i),
					   BENCH_KEY_LEN, 1, BENCH_T0_NS, &r);
		if (err < 0) {
			fprintf(stderr, "bench-compare: credlimit_acquire_at "
				"failed: %s\n", credlimit_strerror(err));
			return -1;
		}
		if (r.flags & CREDLIMIT_RESULT_FULL)
			(*refused)++;
	}
	return 0;
}

static int measure(const struct bench_keys *keys, credlimit_t *cl,
		   const char *name)
{
	struct segment_size control, table;
	struct credlimit_stats stats;
	char path[256];
	uint32_t refused;
	uint64_t total;
	int err;

	if (insert_all(cl, keys, &refused) < 0)
		return -1;
	err = credlimit_stats(cl, &stats);
	if (err < 0) {
		fprintf(stderr, "bench-compare: credlimit_stats failed: %s\n",
			credlimit_strerror(err));
		return -1;
	}

	snprintf(path, sizeof(path), "/dev/shm/credlimit.%s", name);
	if (stat_segment(path, &control) < 0)
		return -1;
	snprintf(path, sizeof(path), "/dev/shm/credlimit.%s.g%llu", name,
		 (unsigned long long)stats.generation);
	if (stat_segment(path, &table) < 0)
		return -1;

	total = control.bytes + table.bytes;
	printf("| %u | %llu | %llu | %.1f%% | %zu | %llu | %llu | %llu | "
	       "%.1f | %u |\n", keys->count,
	       (unsigned long long)stats.capacity,
	       (unsigned long long)stats.entries,
	       100.0 * (double)stats.entries / (double)stats.capacity,
	       sizeof(struct cl_entry), (unsigned long long)table.bytes,
	       (unsigned long long)control.bytes,
	       (unsigned long long)(control.allocated + table.allocated),
	       stats.entries > 0 ? (double)total / (double)stats.entries : 0,
	       refused);
	fflush(stdout);
	return 0;
}

static int memory_row(const struct bench_keys *keys, uint64_t capacity)
{
	struct credlimit_options options;
	credlimit_t *cl;
	char name[64];
	int err;

	snprintf(name, sizeof(name), "bench-memory-%d", (int)getpid());
	credlimit_options_init(&options);
	options.initial_capacity = capacity;
	options.max_capacity = capacity;
	options.default_policy.max_requests = UINT32_MAX;
	options.default_policy.window_ns = 1000000000;
	options.full_action = CREDLIMIT_FULL_DENY;

	err = credlimit_open(name, CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
			     &options, &cl);
	if (err < 0) {
		fprintf(stderr, "bench-compare: credlimit_open(\"%s\") "
			"failed: %s\n", name, credlimit_strerror(err));
		return -1;
	}
	err = measure(keys, cl, name);
	credlimit_close(cl);
	credlimit_unlink(name);
	return err;
}

int scenario_memory(const struct bench_config *config)
{
	uint32_t customers = config->quick ? CUSTOMERS_QUICK : CUSTOMERS_FULL;
	uint64_t capacity = contender_capacity(customers);
	struct bench_keys keys;
	int err;

	printf("### Memory\n\n"
	       "One decision per customer, then the segments' sizes from "
	       "stat() in /dev/shm.  Bytes per customer: both segments' "
	       "sizes divided by the entries stored.  Refused: customers "
	       "that found no free slot within %d slots of their home "
	       "slot.\n\n", CL_PROBE_MAX);
	printf("| customers | slots | entries | load | entry bytes | table "
	       "segment bytes | control segment bytes | allocated bytes "
	       "| bytes per customer | refused |\n"
	       "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");

	if (bench_keys_make(&keys, customers) < 0)
		return -1;
	err = memory_row(&keys, capacity);
	if (err == 0)
		err = memory_row(&keys, (uint64_t)customers * 14 / 10);
	if (err == 0)
		err = memory_row(&keys, (uint64_t)customers * 5 / 4);
	if (err == 0)
		err = memory_row(&keys, capacity / 2);
	bench_keys_free(&keys);
	printf("\n");
	return err;
}
