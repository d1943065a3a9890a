/*
 * test_clock.c - decisions at faulty times
 *
 * Callers of credlimit_acquire_at() pass their own times, which may be far
 * in the future, far in the past, or out of order across workers.  The
 * stored state never holds more than C credits.  A time before the stored
 * window is judged at that window's start, so a backwards step keeps the
 * allowance left.  Workers with skewed clocks are together allowed no
 * more than the windows their times span permit.
 *
 * The forked test checks each result in the child and exits with a code
 * naming the failed check; the parent asserts with cmocka.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#define R 3
#define C 5
#define I 2
#define W SEC

static credlimit_t *private_limiter(void)
{
	struct credlimit_options o = unit_options(R, W, C, I, 64);
	credlimit_t *cl = NULL;

	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	return cl;
}

static struct credlimit_result decide(credlimit_t *cl, uint64_t cost,
				      uint64_t now_ns)
{
	struct credlimit_result r;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, cost, now_ns, &r),
			 0);
	assert_true(r.credits <= C);
	assert_true(r.remaining <= R + C);
	assert_true(r.reset_after_ns > 0);
	assert_true(r.reset_after_ns <= W);
	return r;
}

/* Decides requests of cost 1 at now_ns until the first denial, at most
 * R + C + 1 of them, and returns how many were allowed. */
static unsigned allowed_until_denied(credlimit_t *cl, uint64_t now_ns)
{
	unsigned allowed;

	for (allowed = 0; allowed <= R + C; allowed++) {
		struct credlimit_result r = decide(cl, 1, now_ns);

		if (!credlimit_allowed(&r))
			break;
	}
	return allowed;
}

static void far_future_caps_credits(void **state)
{
	credlimit_t *cl = private_limiter();
	struct credlimit_result r;

	r = decide(cl, 0, 10 * SEC);
	assert_int_equal(r.credits, I);

	/* 2^64 ns after boot, 584 years of idle windows: credits stop at C. */
	r = decide(cl, 0, UINT64_MAX - 1);
	assert_int_equal(r.credits, C);
	assert_int_equal(r.remaining, R + C);
	assert_int_equal(allowed_until_denied(cl, UINT64_MAX - 1), R + C);
	credlimit_close(cl);
}

static void far_past_judged_in_window(void **state)
{
	credlimit_t *cl = private_limiter();
	struct credlimit_result r;

	r = decide(cl, 1, 1000 * SEC);
	assert_true(credlimit_allowed(&r));

	/* Time 0 is before the stored window: judged at its start, with
	 * the allowance left, never a window that rolls back. */
	r = decide(cl, 0, 0);
	assert_int_equal(r.remaining, R - 1 + I);
	assert_int_equal(r.reset_after_ns, W);
	assert_int_equal(allowed_until_denied(cl, 0), R - 1 + I);
	r = decide(cl, 0, 1000 * SEC + W / 2);
	assert_int_equal(r.remaining, 0);
	credlimit_close(cl);
}

static void backwards_step_keeps_allowance(void **state)
{
	credlimit_t *cl = private_limiter();
	struct credlimit_result ahead, behind;

	decide(cl, 1, 100 * SEC + W / 2);
	ahead = decide(cl, 0, 100 * SEC + W / 2);

	/* A worker five windows behind gets the same allowance. */
	behind = decide(cl, 0, 95 * SEC);
	assert_int_equal(behind.remaining, ahead.remaining);
	assert_int_equal(behind.credits, ahead.credits);
	behind = decide(cl, 1, 95 * SEC);
	assert_true(credlimit_allowed(&behind));
	assert_int_equal(behind.remaining, ahead.remaining - 1);

	/* The charge behind counts in the current window. */
	ahead = decide(cl, 0, 100 * SEC + W / 2);
	assert_int_equal(ahead.remaining, behind.remaining);
	credlimit_close(cl);
}

/* A documented consequence of never moving a window back: after a time
 * far in the future, real times share that window until the clock
 * reaches it, and a reset makes the key new again. */
static void far_future_then_reset(void **state)
{
	credlimit_t *cl = private_limiter();
	struct credlimit_result r;

	decide(cl, 1, UINT64_MAX / 2);
	assert_int_equal(allowed_until_denied(cl, 10 * SEC), R - 1 + I);
	r = decide(cl, 1, 20 * SEC);
	assert_false(credlimit_allowed(&r));

	assert_int_equal(credlimit_reset(cl, "k", 1), 0);
	r = decide(cl, 1, 20 * SEC);
	assert_true(credlimit_allowed(&r));
	assert_int_equal(r.remaining, R - 1 + I);
	credlimit_close(cl);
}

static void extreme_windows_and_times(void **state)
{
	const uint64_t windows[] = { CREDLIMIT_WINDOW_MIN_NS,
				     CREDLIMIT_WINDOW_MAX_NS, 7 * MS };
	const uint64_t times[] = { 0, 1, UINT64_MAX - 1, UINT64_MAX / 2,
				   UINT64_MAX - 2 * CREDLIMIT_WINDOW_MAX_NS };

	for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
		struct credlimit_options o =
			unit_options(R, windows[w], C, I, 64);
		credlimit_t *cl = NULL;

		assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE,
						&o, &cl),
				 0);
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
			struct credlimit_result r;

			assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1,
							      times[t], &r),
					 0);
			assert_true(r.credits <= C);
			assert_true(r.remaining <= R + C);
			assert_true(r.reset_after_ns > 0);
			assert_true(r.reset_after_ns <= windows[w]);
		}
		credlimit_close(cl);
	}
}

/* ---- workers whose clocks disagree ---- */

#define WORKERS 4
#define DECISIONS 400

/* Exit codes of a skewed worker. */
enum {
	CHILD_ACQUIRE_FAILED = 10,
	CHILD_CREDITS_ABOVE_C,
	CHILD_REMAINING_ABOVE_R_PLUS_C,
};

struct shared_counts {
	uint64_t allowed[WORKERS];
};

/* Decides DECISIONS requests at times from start_ns on, each shifted by
 * a pseudo-random skew of up to two windows either way. */
static int skewed_worker(credlimit_t *cl, unsigned worker, uint64_t start_ns,
			 struct shared_counts *counts)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull * (worker + 1);

	for (unsigned i = 0; i < DECISIONS; i++) {
		struct credlimit_result r;
		uint64_t now, skew;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		skew = (seed >> 33) % (4 * W);
		now = start_ns + i * (W / 20) + skew - 2 * W;
		if (credlimit_acquire_at(cl, "shared", 6, 1, now, &r) != 0)
			return CHILD_ACQUIRE_FAILED;
		if (r.credits > C)
			return CHILD_CREDITS_ABOVE_C;
		if (r.remaining > R + C)
			return CHILD_REMAINING_ABOVE_R_PLUS_C;
		if (credlimit_allowed(&r))
			counts->allowed[worker]++;
	}
	return 0;
}

static void skewed_workers_bounded(void **state)
{
	struct credlimit_options o = unit_options(R, W, C, I, 64);
	const uint64_t start_ns = 100 * W;
	struct shared_counts *counts;
	uint64_t total = 0, first_window, last_window;
	credlimit_t *cl = NULL;
	pid_t pids[WORKERS];

	counts = mmap(NULL, sizeof(*counts), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(counts != MAP_FAILED);
	memset(counts, 0, sizeof(*counts));
	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);

	for (unsigned w = 0; w < WORKERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0)
			_exit(skewed_worker(cl, w, start_ns, counts));
	}
	for (unsigned w = 0; w < WORKERS; w++) {
		int status;

		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		total += counts->allowed[w];
	}

	/* All times lie in [start - 2W, start + DECISIONS * W / 20 + 2W):
	 * the key starts with I credits and gains R per window. */
	first_window = (start_ns - 2 * W) / W;
	last_window = (start_ns + DECISIONS * (W / 20) + 2 * W) / W;
	print_message("allowed %llu of %u requests, bound %llu\n",
		      (unsigned long long)total, WORKERS * DECISIONS,
		      (unsigned long long)(I + (last_window - first_window + 1) *
						       R));
	assert_true(total > 0);
	assert_true(total <= I + (last_window - first_window + 1) * R);

	credlimit_close(cl);
	munmap(counts, sizeof(*counts));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(far_future_caps_credits),
		cmocka_unit_test(far_past_judged_in_window),
		cmocka_unit_test(backwards_step_keeps_allowance),
		cmocka_unit_test(far_future_then_reset),
		cmocka_unit_test(extreme_windows_and_times),
		cmocka_unit_test(skewed_workers_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
