/*
 * worker.c - the decision loop that bench-redis and bench-lease time
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "credlimit.h"
#include "worker.h"

uint64_t bench_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

int bench_acquire_worker(credlimit_t *cl, unsigned keys, uint64_t deadline,
			 unsigned seed, struct bench_hist *hist)
{
	uint64_t state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;

	while (bench_monotonic_ns() < deadline) {
		struct credlimit_result r;
		char key[32];
		uint64_t start;
		int len;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		len = snprintf(key, sizeof(key), "customer-%u",
			       (unsigned)(state % keys));
		start = bench_monotonic_ns();
		if (credlimit_acquire(cl, key, (size_t)len, 1, &r) < 0 ||
		    r.verdict != CREDLIMIT_ALLOWED ||
		    (r.flags & CREDLIMIT_RESULT_FALLBACK))
			return 1;
		hist_add(hist, bench_monotonic_ns() - start);
	}
	return 0;
}

int bench_run_workers(const char *program, credlimit_t *cl, int processes,
		      unsigned keys, unsigned seconds, struct bench_hist *all,
		      uint64_t *elapsed_ns)
{
	size_t size = sizeof(struct bench_hist) * (size_t)processes;
	struct bench_hist *hists;
	uint64_t start, deadline;
	int failed = 0;

	hists = mmap(NULL, size, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hists == MAP_FAILED) {
		fprintf(stderr, "%s: mmap failed\n", program);
		return 1;
	}
	memset(hists, 0, size);

	start = bench_monotonic_ns();
	deadline = start + seconds * SEC;
	for (int i = 0; i < processes; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "%s: fork failed\n", program);
			munmap(hists, size);
			return 1;
		}
		if (pid == 0)
			_exit(bench_acquire_worker(cl, keys, deadline,
						   (unsigned)i + 1, &hists[i]));
	}
	for (int i = 0; i < processes; i++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed++;
	}
	*elapsed_ns = bench_monotonic_ns() - start;

	memset(all, 0, sizeof(*all));
	for (int i = 0; i < processes; i++)
		hist_merge(all, &hists[i]);
	munmap(hists, size);
	if (failed > 0) {
		fprintf(stderr, "%s: %d workers failed a decision\n", program,
			failed);
		return 1;
	}
	return 0;
}
