/*
 * parallel.h - one contender run by several forked processes for a while
 *
 * The parent forks the workers after the contender set is ready, waits
 * until every worker has started, records the time and sets a start flag,
 * sleeps for the run's duration, sets a stop flag and records the time
 * again.  Each worker replays its own key sequence in batches of
 * PARALLEL_BATCH decisions, checking the stop flag between batches, and
 * stores its count in shared memory when it stops.  Throughput is the sum
 * of the counts over the time between the two flags.
 */
#ifndef BENCH_PARALLEL_H
#define BENCH_PARALLEL_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "contender.h"
#include "hist.h"
#include "keys.h"

#define PARALLEL_MAX 64
#define PARALLEL_BATCH 64

struct parallel_job {
	struct contender_set *set;
	enum contender_kind kind;
	unsigned processes;          /* 1 .. PARALLEL_MAX */
	const struct bench_seq *seqs; /* one per process */
	uint64_t duration_ns;
	const cpu_set_t *cpus;       /* CPUs the workers may run on, or NULL */
	bool timed;                  /* record each decision's latency */
};

struct parallel_result {
	uint64_t ops;        /* decisions made by all workers */
	uint64_t elapsed_ns; /* between the start and the stop flag */
	/* With job->timed: the workers' histograms, merged.  Caller's
	 * memory, added to. */
	struct bench_hist *hist;
};

/* Runs job.  Returns 0, or -1 after printing the error (a worker that
 * failed prints its own). */
int parallel_run(const struct parallel_job *job, struct parallel_result *out);

#endif /* BENCH_PARALLEL_H */
