/*
 * redis.c - bench-redis: decisions on Redis against shared memory
 *
 * Starts its own redis-server on 127.0.0.1 (tests/redis_server.h).  Then,
 * in one run, the same workload runs on a shared-memory limiter and on a
 * Redis limiter: 1 and 16 forked processes call credlimit_acquire() on
 * keys drawn from a set of customers, each call timed with CLOCK_MONOTONIC.  The policy allows every request, so the figures are the
 * cost of a decision, not of denials.  Prints decisions per second and the
 * latency quantiles of the merged histograms (tests/bench/hist.h).
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
#include "hist.h"
#include "worker.h"
#include "redis_server.h"

static int measure(const char *backend, credlimit_t *cl, int processes,
		   unsigned keys, unsigned seconds)
{
	struct bench_hist all;
	uint64_t elapsed;

	if (bench_run_workers("bench-redis", cl, processes, keys, seconds,
			      &all, &elapsed) != 0) {
		fprintf(stderr, "bench-redis: the %s row failed\n", backend);
		return 1;
	}

	printf("| %s | %d | %" PRIu64 " | %.0f | %.1f | %.1f | %.1f | %.1f |\n",
	       backend, processes, all.count,
	       (double)all.count * 1e9 / (double)elapsed,
	       hist_quantile(&all, 0.50) / 1000.0,
	       hist_quantile(&all, 0.99) / 1000.0,
	       hist_quantile(&all, 0.999) / 1000.0, all.max / 1000.0);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "keys", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	static const int process_counts[] = { 1, 16 };
	struct credlimit_options o;
	credlimit_t *shm = NULL, *redis = NULL;
	struct rs *server;
	unsigned seconds = 5, keys = 10000;
	char name[64], uri[128];
	int option, err, status = 0;

	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (option == 's')
			seconds = (unsigned)strtoul(optarg, NULL, 10);
		else if (option == 'k')
			keys = (unsigned)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (seconds == 0 || keys == 0) {
		fprintf(stderr, "usage: bench-redis [--seconds N] [--keys N], "
				"both at least 1\n");
		return 2;
	}

	server = rs_start(false);
	if (server == NULL) {
		fprintf(stderr, "bench-redis: cannot start %s\n",
			CL_REDIS_SERVER);
		return 1;
	}

	credlimit_options_init(&o);
	o.initial_capacity = (uint64_t)keys * 2 + 64;
	o.default_policy.max_requests = 1000000000;
	o.default_policy.window_ns = 3600 * SEC;
	o.default_policy.max_credits = 0;
	snprintf(name, sizeof(name), "rds-bench-%d", (int)getpid());
	snprintf(uri, sizeof(uri),
		 "redis://127.0.0.1:%d/0?prefix=rds-bench:&timeout_ms=2000",
		 server->port);
	err = credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &shm);
	if (err == 0)
		err = credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &redis);
	if (err < 0) {
		fprintf(stderr, "bench-redis: cannot open a limiter: %s\n",
			credlimit_strerror(err));
		status = 1;
		goto close;
	}

	printf("%u s per row, %u keys, redis-server %s on 127.0.0.1:%d\n\n",
	       seconds, keys, CL_REDIS_SERVER, server->port);
	printf("| backend | processes | decisions | decisions/s | p50 µs | "
	       "p99 µs | p99.9 µs | max µs |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < 2 && status == 0; i++) {
		status = measure("shared memory", shm, process_counts[i], keys,
				 seconds);
		if (status == 0)
			status = measure("Redis", redis, process_counts[i],
					 keys, seconds);
	}

close:
	credlimit_close(redis);
	credlimit_close(shm);
	credlimit_unlink(name);
	rs_free(server);
	return status;
}
