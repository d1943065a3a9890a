/*
 * lease.c - bench-lease: Redis round trips saved by leases
 *
 * Starts its own redis-server on 127.0.0.1 (tests/redis_server.h).  Each
 * row forks PROCESSES workers that call credlimit_acquire() on keys drawn
 * from a set of customers for the given time.  The first row uses the
 * plain Redis backend (one round trip per decision).  The others use lease
 * caches with a largest lease of 1, 8, 32 and 128 units, each row on a new
 * cache and a new Redis prefix.  The policy allows every request, so the figures are
 * the cost of a decision.  Prints decisions per second, Redis round trips
 * per 1,000 decisions (leases taken plus return-only calls), and the
 * latency quantiles of the merged histograms.
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

/* Runs one row on cl; lease 0 is the plain Redis backend. */
static int measure(credlimit_t *cl, unsigned lease, int processes,
		   unsigned keys, unsigned seconds)
{
	struct credlimit_stats before = { 0 }, after = { 0 };
	struct bench_hist all;
	uint64_t elapsed, round_trips;
	char label[32];

	if (lease > 0 && credlimit_stats(cl, &before) < 0)
		return 1;
	if (bench_run_workers("bench-lease", cl, processes, keys, seconds,
			      &all, &elapsed) != 0)
		return 1;

	round_trips = all.count;
	snprintf(label, sizeof(label), "plain Redis");
	if (lease > 0) {
		if (credlimit_stats(cl, &after) < 0)
			return 1;
		round_trips = after.lease_fetches - before.lease_fetches +
			      after.lease_returns - before.lease_returns;
		snprintf(label, sizeof(label), "lease %u", lease);
	}
	printf("| %s | %d | %u | %" PRIu64 " | %.0f | %.1f | %.1f | %.1f | "
	       "%.1f |\n",
	       label, processes, keys, all.count,
	       (double)all.count * 1e9 / (double)elapsed,
	       all.count ? 1000.0 * (double)round_trips / (double)all.count
			 : 0.0,
	       hist_quantile(&all, 0.50) / 1000.0,
	       hist_quantile(&all, 0.99) / 1000.0, all.max / 1000.0);
	fflush(stdout);
	return 0;
}

/* Opens the limiter of one row: plain Redis (lease 0) or a new lease
 * cache, each on a prefix of its own. */
static int open_row(const struct rs *server, unsigned lease, unsigned keys,
		    int row, credlimit_t **out)
{
	struct credlimit_options o;
	char name[320];

	credlimit_options_init(&o);
	o.initial_capacity = (uint64_t)keys * 2 + 64;
	o.default_policy.max_requests = 1000000000;
	o.default_policy.window_ns = 3600 * SEC;
	o.default_policy.max_credits = 0;
	if (lease == 0)
		snprintf(name, sizeof(name),
			 "redis://127.0.0.1:%d/0?prefix=lb%d:&timeout_ms=2000",
			 server->port, row);
	else
		snprintf(name, sizeof(name),
			 "shm:lease-bench-%d-%d?lease=%u&upstream=redis://"
			 "127.0.0.1:%d/0?prefix=lb%d:&timeout_ms=2000",
			 (int)getpid(), row, lease, server->port, row);
	return credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, out);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "keys", required_argument, NULL, 'k' },
		{ "processes", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned leases[] = { 0, 1, 8, 32, 128 };
	unsigned seconds = 5, keys = 100;
	int processes = 4;
	struct rs *server;
	int option, status = 0;

	while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (option == 's')
			seconds = (unsigned)strtoul(optarg, NULL, 10);
		else if (option == 'k')
			keys = (unsigned)strtoul(optarg, NULL, 10);
		else if (option == 'p')
			processes = atoi(optarg);
		else
			return 2;
	}
	if (seconds == 0 || keys == 0 || processes < 1 || processes > 256) {
		fprintf(stderr, "usage: bench-lease [--seconds N] [--keys N] "
				"[--processes 1..256], counts at least 1\n");
		return 2;
	}

	server = rs_start(false);
	if (server == NULL) {
		fprintf(stderr, "bench-lease: cannot start %s\n",
			CL_REDIS_SERVER);
		return 1;
	}

	printf("%u s per row, redis-server %s on 127.0.0.1:%d\n\n", seconds,
	       CL_REDIS_SERVER, server->port);
	printf("| limiter | processes | keys | decisions | decisions/s | "
	       "round trips per 1,000 | p50 µs | p99 µs | max µs |\n");
	printf("|---|---|---|---|---|---|---|---|---|\n");
	for (int row = 0; row < 5 && status == 0; row++) {
		char name[64];
		credlimit_t *cl;
		int err;

		err = open_row(server, leases[row], keys, row, &cl);
		if (err < 0) {
			fprintf(stderr, "bench-lease: cannot open a limiter: "
					"%s\n",
				credlimit_strerror(err));
			status = 1;
			break;
		}
		status = measure(cl, leases[row], processes, keys, seconds);
		credlimit_close(cl);
		snprintf(name, sizeof(name), "lease-bench-%d-%d", (int)getpid(),
			 row);
		credlimit_unlink(name);
	}

	rs_free(server);
	return status;
}
