/*
 * test_chaos.c - a prefork master that kills its workers at random
 *
 * A master keeps WORKERS forked workers deciding on KEYS keys, a tenth of
 * the requests on HOT_KEYS hot keys so that some keys are limited.
 * Meanwhile it kills a random worker with SIGKILL every 1 to 4 ms and
 * forks a new one, for CHAOS_SECONDS seconds (default 6).  The table starts at 1,024
 * slots and may grow to 8,192, fewer than the keys, so workers are killed
 * during inserts, during growth and, once the table is at its maximum,
 * during evictions.
 *
 * Afterwards:
 *   - credlimit_check() and, when $LIMITCTL names the tool, limitctl check
 *     find no problem;
 *   - every worker alive at the end exits cleanly, having seen only valid
 *     results (credits at most C, remaining at most R + C);
 *   - no key was allowed more than I + n * R requests, n being the number
 *     of windows the run touched.  Workers count allowed requests in
 *     shared memory after each decision, so a worker killed between a
 *     decision and its count makes the count low, never high;
 *   - no decision of a worker alive at the end took longer than
 *     WAIT_BOUND_NS.  That bound is generous (the library waits at most a
 *     second for a live process) and only shows that every call returns.
 *
 * Workers check with plain code and report through exit codes; the master
 * asserts with cmocka.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#define WORKERS 16
#define KEYS 10000
#define HOT_KEYS 10
#define R 3
#define C 5
#define I 0
#define W (100 * MS)
#define WAIT_BOUND_NS (3 * SEC)
#define DEFAULT_SECONDS 6

/* Exit codes of a worker. */
enum {
	WORKER_ACQUIRE_FAILED = 10,
	WORKER_CREDITS_ABOVE_C,
	WORKER_REMAINING_ABOVE_R_PLUS_C,
};

/* Counters shared by the master and its workers. */
struct chaos {
	int stop;
	uint64_t allowed[KEYS];
	uint64_t max_wait_ns[WORKERS]; /* of the worker now in that slot */
	uint64_t decisions;
	uint64_t busy; /* -EBUSY: a slot held by a live process too long */
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t next_random(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed >> 33;
}

static int worker(credlimit_t *cl, struct chaos *shared, unsigned slot)
{
	uint64_t seed = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;

	while (!__atomic_load_n(&shared->stop, __ATOMIC_RELAXED)) {
		struct credlimit_result r;
		uint64_t started, waited;
		unsigned key_index;
		char key[16];
		int err;

		if (next_random(&seed) % 10 == 0)
			key_index = (unsigned)(next_random(&seed) % HOT_KEYS);
		else
			key_index = (unsigned)(next_random(&seed) % KEYS);
		snprintf(key, sizeof(key), "key-%u", key_index);

		started = monotonic_ns();
		err = credlimit_acquire(cl, key, strlen(key), 1, &r);
		waited = monotonic_ns() - started;
		if (waited > shared->max_wait_ns[slot])
			shared->max_wait_ns[slot] = waited;
		__atomic_fetch_add(&shared->decisions, 1, __ATOMIC_RELAXED);

		if (err == -EBUSY) {
			__atomic_fetch_add(&shared->busy, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (err != 0)
			return WORKER_ACQUIRE_FAILED;
		if (r.credits > C)
			return WORKER_CREDITS_ABOVE_C;
		if (r.remaining > R + C)
			return WORKER_REMAINING_ABOVE_R_PLUS_C;
		if (credlimit_allowed(&r))
			__atomic_fetch_add(&shared->allowed[key_index], 1,
					   __ATOMIC_RELAXED);
	}
	return 0;
}

static pid_t spawn(credlimit_t *cl, struct chaos *shared, unsigned slot)
{
	pid_t pid;

	shared->max_wait_ns[slot] = 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		_exit(worker(cl, shared, slot));
	}
	return pid;
}

/* Runs the limitctl tool's check on the limiter, when $LIMITCTL names it. */
static void limitctl_check(const char *name)
{
	const char *limitctl = getenv("LIMITCTL");
	char command[512];
	int status;

	if (limitctl == NULL) {
		print_message("LIMITCTL not set: limitctl check not run\n");
		return;
	}
	snprintf(command, sizeof(command), "'%s' check %s >/dev/null",
		 limitctl, name);
	status = system(command);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Name of the test's limiter, removed by remove_limiter() even when an
 * assertion stops the test. */
static char name[64];

static int remove_limiter(void **state)
{
	credlimit_unlink(name);
	return 0;
}

static void chaos_kills_keep_limits(void **state)
{
	struct credlimit_options o = unit_options(R, W, C, I, 1024);
	const char *seconds_text = getenv("CHAOS_SECONDS");
	unsigned seconds = seconds_text != NULL ? (unsigned)atoi(seconds_text)
						: DEFAULT_SECONDS;
	uint64_t seed = (uint64_t)getpid(), kills = 0, start_ns, end_ns;
	uint64_t windows, bound, hot_allowed = 0;
	struct credlimit_stats stats;
	pid_t pids[WORKERS];
	struct chaos *shared;
	credlimit_t *cl = NULL;
	int problems;

	snprintf(name, sizeof(name), "hd-chaos-%d", (int)getpid());
	credlimit_unlink(name);
	o.max_capacity = 8192;
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE |
						      CREDLIMIT_OPEN_EXCL,
					&o, &cl),
			 0);
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shared != MAP_FAILED);
	memset(shared, 0, sizeof(*shared));

	start_ns = monotonic_ns();
	for (unsigned slot = 0; slot < WORKERS; slot++)
		pids[slot] = spawn(cl, shared, slot);

	while (monotonic_ns() - start_ns < (uint64_t)seconds * SEC) {
		struct timespec pause = {
			.tv_nsec = (long)(1 + next_random(&seed) % 4) *
				   (long)MS,
		};
		unsigned slot = (unsigned)(next_random(&seed) % WORKERS);
		int status;

		nanosleep(&pause, NULL);

		/* A worker that stopped by itself failed a check. */
		for (unsigned s = 0; s < WORKERS; s++) {
			pid_t done = waitpid(pids[s], &status, WNOHANG);

			if (done == pids[s])
				fail_msg("worker %u exited early with status "
					 "%d", s, status);
		}

		/* Reap at once: a zombie would still look alive to the
		 * library's kill(pid, 0) checks. */
		assert_int_equal(kill(pids[slot], SIGKILL), 0);
		assert_int_equal(waitpid(pids[slot], &status, 0), pids[slot]);
		kills++;
		pids[slot] = spawn(cl, shared, slot);
	}

	__atomic_store_n(&shared->stop, 1, __ATOMIC_RELAXED);
	for (unsigned slot = 0; slot < WORKERS; slot++) {
		int status;

		assert_int_equal(waitpid(pids[slot], &status, 0), pids[slot]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_true(shared->max_wait_ns[slot] <= WAIT_BOUND_NS);
	}
	end_ns = monotonic_ns();

	/* Every window the run touched adds R to what a key may get. */
	windows = end_ns / W - start_ns / W + 1;
	bound = I + windows * R;
	for (unsigned key = 0; key < KEYS; key++) {
		if (shared->allowed[key] > bound)
			fail_msg("key-%u allowed %llu times, more than the "
				 "%llu of %llu windows",
				 key, (unsigned long long)shared->allowed[key],
				 (unsigned long long)bound,
				 (unsigned long long)windows);
		if (key < HOT_KEYS)
			hot_allowed += shared->allowed[key];
	}

	problems = credlimit_check(cl, NULL, NULL);
	assert_int_equal(problems, 0);
	limitctl_check(name);
	assert_int_equal(credlimit_stats(cl, &stats), 0);
	print_message("%llu kills, %llu decisions, %llu busy; hot keys "
		      "allowed %llu (bound %llu each); generation %llu, "
		      "evictions %llu, full %llu, recoveries %llu\n",
		      (unsigned long long)kills,
		      (unsigned long long)shared->decisions,
		      (unsigned long long)shared->busy,
		      (unsigned long long)hot_allowed,
		      (unsigned long long)bound,
		      (unsigned long long)stats.generation,
		      (unsigned long long)stats.evictions,
		      (unsigned long long)stats.full_events,
		      (unsigned long long)stats.recoveries);

	/* The run went through kills, growth and a full table. */
	assert_true(kills >= 100);
	assert_true(stats.migrations >= 1);
	assert_true(stats.evictions + stats.full_events > 0);

	credlimit_close(cl);
	assert_int_equal(credlimit_unlink(name), 0);
	munmap(shared, sizeof(*shared));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(chaos_kills_keep_limits,
					  remove_limiter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
