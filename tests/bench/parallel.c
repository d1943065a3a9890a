/*
 * parallel.c - forking, starting and stopping the workers of one run
 *
 * The start and stop flags, the workers' counts and their histograms live
 * in one anonymous shared mapping made for each run.  Workers wait for the
 * start flag with sched_yield(), since with 64 workers on 2 CPUs a worker
 * spinning without yielding would delay the others' start.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parallel.h"

/* A worker not ready after this long is taken to be stuck. */
#define READY_TIMEOUT_NS (UINT64_C(10) * 1000000000)

struct worker_slot {
	uint64_t ops;
} __attribute__((aligned(64)));

struct control {
	unsigned ready;
	unsigned go;
	unsigned stop;
	struct worker_slot worker[PARALLEL_MAX];
	/* PARALLEL_MAX histograms follow when the run is timed. */
};

static uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000),
		.tv_nsec = (long)(ns % 1000000000),
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static struct bench_hist *worker_hist(struct control *ctl, unsigned w)
{
	return (struct bench_hist *)(ctl + 1) + w;
}

/* Body of worker w; never returns. */
static void __attribute__((noreturn))
run_worker(const struct parallel_job *job, struct control *ctl, unsigned w)
{
	const struct bench_seq *seq = &job->seqs[w];
	uint64_t now = BENCH_T0_NS + BENCH_STEP_NS;
	uint64_t ops = 0;
	size_t pos = 0;

	if (job->cpus != NULL &&
	    sched_setaffinity(0, sizeof(*job->cpus), job->cpus) < 0) {
		fprintf(stderr, "bench-compare: worker %u: sched_setaffinity "
			"failed: %s\n", w, strerror(errno));
		_exit(1);
	}

	__atomic_fetch_add(&ctl->ready, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE))
		sched_yield();

	while (!__atomic_load_n(&ctl->stop, __ATOMIC_RELAXED)) {
		size_t n = seq->len - pos;
		int err;

		if (n > PARALLEL_BATCH)
			n = PARALLEL_BATCH;
		if (job->timed)
			err = contender_run_timed(job->set, job->kind, seq,
						  pos, n, &now,
						  worker_hist(ctl, w));
		else
			err = contender_run(job->set, job->kind, seq, pos, n,
					    &now);
		if (err < 0)
			_exit(1);
		ops += n;
		pos += n;
		if (pos == seq->len)
			pos = 0;
	}
	__atomic_store_n(&ctl->worker[w].ops, ops, __ATOMIC_RELEASE);
	_exit(0);
}

/* Waits for `started` workers.  Returns the number that failed. */
static unsigned reap(unsigned started)
{
	unsigned failed = 0;

	for (unsigned w = 0; w < started; w++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	return failed;
}

/* Waits until every worker has started.  Returns false on a timeout. */
static bool wait_ready(struct control *ctl, unsigned processes)
{
	uint64_t deadline = clock_ns() + READY_TIMEOUT_NS;

	while (__atomic_load_n(&ctl->ready, __ATOMIC_ACQUIRE) < processes) {
		if (clock_ns() > deadline)
			return false;
		sleep_ns(100000);
	}
	return true;
}

int parallel_run(const struct parallel_job *job, struct parallel_result *out)
{
	size_t bytes = sizeof(struct control);
	struct control *ctl;
	unsigned started = 0, failed;
	uint64_t start, stop;
	bool ready;

	if (job->processes == 0 || job->processes > PARALLEL_MAX)
		return -1;
	if (job->timed)
		bytes += PARALLEL_MAX * sizeof(struct bench_hist);
	ctl = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED) {
		fprintf(stderr, "bench-compare: mmap of the workers' control "
			"block failed: %s\n", strerror(errno));
		return -1;
	}

	/* Flushed so that the workers' error messages come after the
	 * parent's output.  Workers end with _exit(), so they never write
	 * the parent's buffers a second time. */
	fflush(NULL);
	for (; started < job->processes; started++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "bench-compare: fork failed: %s\n",
				strerror(errno));
			break;
		}
		if (pid == 0)
			run_worker(job, ctl, started);
	}

	ready = started == job->processes && wait_ready(ctl, started);
	if (started == job->processes && !ready)
		fprintf(stderr, "bench-compare: %u of %u workers started "
			"within 10 s\n", ctl->ready, started);
	start = clock_ns();
	__atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
	if (ready)
		sleep_ns(job->duration_ns);
	__atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
	stop = clock_ns();

	failed = reap(started);
	if (!ready || failed > 0) {
		if (failed > 0)
			fprintf(stderr, "bench-compare: %u of %u %s workers "
				"failed\n", failed, started,
				contender_name(job->kind));
		munmap(ctl, bytes);
		return -1;
	}

	out->ops = 0;
	for (unsigned w = 0; w < job->processes; w++) {
		out->ops += ctl->worker[w].ops;
		if (job->timed && out->hist != NULL)
			hist_merge(out->hist, worker_hist(ctl, w));
	}
	out->elapsed_ns = stop - start;
	munmap(ctl, bytes);
	return 0;
}
