/*
 * test_algorithm.c - unit tests of the pure credit algorithm
 *
 * Calls cl_algo_decide(), cl_algo_roll() and cl_algo_is_fresh_equivalent()
 * on plain values: no shared memory and no clock, every time is explicit.
 * The rules under test, for a policy (R, W, C, I) and a state (w, u, c):
 *
 *   new customer   (floor(t / W), 0, I)
 *   window roll    when floor(t / W) = w' > w:
 *                  c = min(C, c + (R - u) + (w' - w - 1) * R), u = 0
 *   stale time     floor(t / W) < w is judged at t = w * W
 *   cost k         k <= R - u: u += k; else k <= (R - u) + c: credits pay
 *                  the rest and u = R; else denied and nothing charged;
 *                  k > R + C: CREDLIMIT_DENIED_NEVER, nothing stored
 *   reset_after    (w + 1) * W - max(t, w * W)
 *   retry_after    reset_after + (m - 1) * W for the smallest m >= 1 with
 *                  k <= R + min(C, c + (R - u) + (m - 1) * R)
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "algorithm.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define WMAX CREDLIMIT_WINDOW_MAX_NS

typedef unsigned __int128 u128;

/* test_redis_algorithm.c runs these tests through Redis with its own
 * group setup. */
#ifndef ALGO_GROUP_SETUP
#define ALGO_GROUP_SETUP NULL
#define ALGO_GROUP_TEARDOWN NULL
#endif

static struct credlimit_policy policy_of(uint32_t max_requests,
					 uint64_t window_ns,
					 uint32_t max_credits,
					 uint32_t initial_credits)
{
	struct credlimit_policy p = {
		.max_requests = max_requests,
		.window_ns = window_ns,
		.max_credits = max_credits,
		.initial_credits = initial_credits,
	};

	assert_int_equal(credlimit_policy_validate(&p), 0);
	return p;
}

static struct cl_algo_state state_of(uint64_t window, uint64_t window_ns,
				     uint32_t used, uint32_t credits)
{
	struct cl_algo_state s = {
		.window = window,
		.window_ns = window_ns,
		.used = used,
		.credits = credits,
	};

	return s;
}

/* Runs one decision with a result full of garbage, so a field that the
 * algorithm leaves unset shows up as a wrong value. */
static bool decide(const struct credlimit_policy *p, struct cl_algo_state *s,
		   uint64_t now_ns, uint64_t cost, struct credlimit_result *r,
		   uint32_t *spent)
{
	memset(r, 0xa5, sizeof(*r));
	if (spent != NULL)
		*spent = 0xdeadbeef;
	return cl_algo_decide(p, s, now_ns, cost, r, spent);
}

static void assert_state(const struct cl_algo_state *s, uint64_t window,
			 uint64_t window_ns, uint32_t used, uint32_t credits)
{
	assert_int_equal(s->window, window);
	assert_int_equal(s->window_ns, window_ns);
	assert_int_equal(s->used, used);
	assert_int_equal(s->credits, credits);
}

static uint64_t saturate(u128 value)
{
	return value > UINT64_MAX ? UINT64_MAX : (uint64_t)value;
}

/* retry_after by the definition: try m = 1, 2, ... until the cost fits. */
static uint64_t retry_by_definition(const struct credlimit_policy *p,
				    uint32_t used, uint32_t credits,
				    uint64_t cost, uint64_t reset_after)
{
	u128 r = p->max_requests;
	u128 m = 1;

	for (;;) {
		u128 gained = credits + (r - used) + (m - 1) * r;
		u128 cap = gained < p->max_credits ? gained : p->max_credits;

		if (cost <= r + cap)
			break;
		m++;
	}
	return saturate((u128)reset_after + (m - 1) * p->window_ns);
}

/* splitmix64: a small deterministic generator for the randomized tests. */
static uint64_t rng_next(uint64_t *seed)
{
	uint64_t z = (*seed += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *seed, uint64_t bound)
{
	return rng_next(seed) % bound;
}

static void decide_new_customer_starts_fresh(void **ctx)
{
	struct credlimit_policy p = policy_of(10, SEC, 20, 5);
	struct cl_algo_state s = { 0 };
	struct credlimit_result r;
	uint32_t spent;

	assert_true(decide(&p, &s, 2 * SEC + SEC / 2, 0, &r, &spent));
	assert_state(&s, 2, SEC, 0, 5);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.limit, 10);
	assert_int_equal(r.credits, 5);
	assert_int_equal(r.remaining, 15);
	assert_int_equal(r.window_ns, SEC);
	assert_int_equal(r.reset_after_ns, SEC / 2);
	assert_int_equal(r.retry_after_ns, 0);
	assert_int_equal(spent, 0);

	/* At t = 0 the first window is whole. */
	memset(&s, 0, sizeof(s));
	assert_true(decide(&p, &s, 0, 3, &r, &spent));
	assert_state(&s, 0, SEC, 3, 5);
	assert_int_equal(r.remaining, 12);
	assert_int_equal(r.reset_after_ns, SEC);
}

static void decide_spends_base_before_credits(void **ctx)
{
	struct credlimit_policy p = policy_of(3, SEC, 10, 2);
	struct cl_algo_state s = { 0 };
	struct credlimit_result r;
	uint32_t spent;

	for (uint32_t i = 1; i <= 3; i++) {
		assert_true(decide(&p, &s, i * MS, 1, &r, &spent));
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(spent, 0);
		assert_int_equal(s.used, i);
		assert_int_equal(s.credits, 2);
		assert_int_equal(r.remaining, (3 - i) + 2);
	}

	/* Base allowance used up: one credit pays. */
	assert_true(decide(&p, &s, 4 * MS, 1, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, 1);
	assert_state(&s, 0, SEC, 3, 1);
	assert_int_equal(r.credits, 1);
	assert_int_equal(r.remaining, 1);

	/* Cost 2 with 1 left: denied, nothing charged. */
	assert_true(decide(&p, &s, 5 * MS, 2, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(spent, 0);
	assert_state(&s, 0, SEC, 3, 1);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.reset_after_ns, SEC - 5 * MS);
	assert_int_equal(r.retry_after_ns, SEC - 5 * MS);

	assert_true(decide(&p, &s, 6 * MS, 1, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, 1);
	assert_state(&s, 0, SEC, 3, 0);
	assert_int_equal(r.remaining, 0);
}

static void decide_credits_pay_remainder(void **ctx)
{
	struct credlimit_policy p = policy_of(3, SEC, 10, 5);
	struct cl_algo_state s = { 0 };
	struct credlimit_result r;
	uint32_t spent;

	assert_true(decide(&p, &s, 0, 1, &r, &spent));
	assert_state(&s, 0, SEC, 1, 5);

	/* Cost 4 with 2 base requests left: credits pay 2. */
	assert_true(decide(&p, &s, 0, 4, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, 2);
	assert_state(&s, 0, SEC, 3, 3);
	assert_int_equal(r.remaining, 3);

	/* An exact fit empties the credits. */
	assert_true(decide(&p, &s, 0, 3, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, 3);
	assert_state(&s, 0, SEC, 3, 0);
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.credits, 0);
}

static void decide_denial_keeps_window_roll(void **ctx)
{
	struct credlimit_policy p = policy_of(2, SEC, 10, 0);
	struct cl_algo_state s = state_of(0, SEC, 1, 0);
	struct credlimit_result r;
	uint32_t spent;

	/* The roll to window 1 converts the unused base request. */
	assert_true(decide(&p, &s, SEC + SEC / 2, 4, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(spent, 0);
	assert_state(&s, 1, SEC, 0, 1);
	assert_int_equal(r.remaining, 3);
	assert_int_equal(r.credits, 1);
	assert_int_equal(r.reset_after_ns, SEC / 2);
	assert_int_equal(r.retry_after_ns, SEC / 2);

	/* Denying again changes nothing. */
	assert_true(decide(&p, &s, SEC + SEC / 2 + MS, 4, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_state(&s, 1, SEC, 0, 1);
	assert_int_equal(r.remaining, 3);
}

static void roll_converts_unused_base(void **ctx)
{
	struct credlimit_policy p = policy_of(10, SEC, 100, 0);
	struct credlimit_policy cap37 = policy_of(10, SEC, 37, 0);
	struct credlimit_policy cap36 = policy_of(10, SEC, 36, 0);
	struct cl_algo_state s;

	/* Same window: nothing moves. */
	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&p, &s, 3 * SEC + 900 * MS);
	assert_state(&s, 3, SEC, 4, 1);

	/* Next window: the 6 unused base requests become credits. */
	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&p, &s, 4 * SEC + 200 * MS);
	assert_state(&s, 4, SEC, 0, 7);

	/* Windows 4, 5 and 6 idle: R each. */
	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&p, &s, 7 * SEC);
	assert_state(&s, 7, SEC, 0, 37);

	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&cap37, &s, 7 * SEC);
	assert_state(&s, 7, SEC, 0, 37);

	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&cap36, &s, 7 * SEC);
	assert_state(&s, 7, SEC, 0, 36);

	/* 1 + 6 + 16 * 10 = 167, capped at 100. */
	s = state_of(3, SEC, 4, 1);
	cl_algo_roll(&p, &s, 20 * SEC);
	assert_state(&s, 20, SEC, 0, 100);
}

static void roll_saturates_after_years(void **ctx)
{
	const uint64_t ten_years = UINT64_C(10) * 365 * 86400 * SEC;
	struct credlimit_policy wide = policy_of(UINT32_MAX, MS, UINT32_MAX, 0);
	struct credlimit_policy one = policy_of(1, MS, UINT32_MAX, 0);
	struct credlimit_policy year_wide =
		policy_of(UINT32_MAX, WMAX, UINT32_MAX, 0);
	struct credlimit_policy year_one = policy_of(1, WMAX, 1000, 0);
	struct cl_algo_state s;

	s = state_of(0, MS, 0, 0);
	cl_algo_roll(&wide, &s, ten_years);
	assert_state(&s, ten_years / MS, MS, 0, UINT32_MAX);

	/* R = 1: n windows later c = n, reaching C at n = 2^32 - 1. */
	s = state_of(0, MS, 0, 0);
	cl_algo_roll(&one, &s, (uint64_t)(UINT32_MAX - 1) * MS);
	assert_int_equal(s.credits, UINT32_MAX - 1);

	s = state_of(0, MS, 0, 0);
	cl_algo_roll(&one, &s, (uint64_t)UINT32_MAX * MS);
	assert_int_equal(s.credits, UINT32_MAX);

	s = state_of(0, MS, 0, 0);
	cl_algo_roll(&one, &s, ten_years);
	assert_state(&s, ten_years / MS, MS, 0, UINT32_MAX);

	/* 366-day windows up to the last representable time. */
	assert_int_equal(UINT64_MAX / WMAX, 583);

	s = state_of(0, WMAX, 0, 0);
	cl_algo_roll(&year_wide, &s, UINT64_MAX);
	assert_state(&s, 583, WMAX, 0, UINT32_MAX);

	s = state_of(0, WMAX, 0, 0);
	cl_algo_roll(&year_one, &s, UINT64_MAX);
	assert_state(&s, 583, WMAX, 0, 583);
}

static void decide_stale_time_no_rollback(void **ctx)
{
	struct credlimit_policy p = policy_of(5, SEC, 10, 0);
	struct cl_algo_state s = state_of(10, SEC, 3, 2);
	struct credlimit_result r;

	/* t = 4.5 s is judged at t = 10 s: a whole window remains. */
	assert_true(decide(&p, &s, 4 * SEC + SEC / 2, 2, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_state(&s, 10, SEC, 5, 2);
	assert_int_equal(r.reset_after_ns, SEC);
	assert_int_equal(r.remaining, 2);

	/* A denial at t = 0 waits for the stored window's end, no more. */
	assert_true(decide(&p, &s, 0, 3, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_state(&s, 10, SEC, 5, 2);
	assert_int_equal(r.reset_after_ns, SEC);
	assert_int_equal(r.retry_after_ns, SEC);

	/* The next window rolls as usual: no lockout. */
	assert_true(decide(&p, &s, 11 * SEC, 3, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_state(&s, 11, SEC, 3, 2);

	/* Backwards inside the stored window is judged at its own time. */
	s = state_of(10, SEC, 0, 0);
	assert_true(decide(&p, &s, 10 * SEC + 900 * MS, 0, &r, NULL));
	assert_int_equal(r.reset_after_ns, 100 * MS);
	assert_true(decide(&p, &s, 10 * SEC + 200 * MS, 0, &r, NULL));
	assert_int_equal(r.reset_after_ns, 800 * MS);
	assert_state(&s, 10, SEC, 0, 0);
}

static void decide_cost_zero_reads_state(void **ctx)
{
	struct credlimit_policy p = policy_of(3, SEC, 10, 0);
	struct cl_algo_state s = state_of(1, SEC, 3, 0);
	struct credlimit_result r;
	uint32_t spent;

	/* Exhausted, yet cost 0 is allowed and charges nothing. */
	assert_true(decide(&p, &s, SEC + SEC / 2, 0, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.retry_after_ns, 0);
	assert_int_equal(r.remaining, 0);
	assert_int_equal(spent, 0);
	assert_state(&s, 1, SEC, 3, 0);

	/* It still stores the roll: window 2 idle gives R more credits. */
	assert_true(decide(&p, &s, 3 * SEC + SEC / 2, 0, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_state(&s, 3, SEC, 0, 3);
	assert_int_equal(r.remaining, 6);
	assert_int_equal(r.credits, 3);
}

static void decide_cost_above_capacity_never(void **ctx)
{
	struct credlimit_policy p = policy_of(3, SEC, 4, 0);
	const uint64_t costs[] = { 8, 9, UINT64_C(1) << 32, UINT64_MAX };
	struct cl_algo_state s;
	struct cl_algo_state fresh = { 0 };
	struct credlimit_result r;
	uint32_t spent;

	for (size_t i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		/* A roll is due, but nothing is stored. */
		s = state_of(0, SEC, 2, 1);
		assert_false(decide(&p, &s, 5 * SEC + SEC / 2, costs[i], &r,
				    &spent));
		assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
		assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);
		assert_int_equal(r.limit, 3);
		assert_int_equal(r.window_ns, SEC);
		assert_int_equal(spent, 0);
		assert_state(&s, 0, SEC, 2, 1);

		/* A new customer stays new. */
		memset(&s, 0, sizeof(s));
		assert_false(decide(&p, &s, SEC, costs[i], &r, NULL));
		assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
		assert_memory_equal(&s, &fresh, sizeof(s));
	}

	/* k = R + C fits a full state exactly. */
	s = state_of(0, SEC, 0, 4);
	assert_true(decide(&p, &s, SEC / 2, 7, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, 4);
	assert_state(&s, 0, SEC, 3, 0);

	/* Then it is only denied: windows 1, 2, 3 bring 3, 6, 7 tokens. */
	assert_true(decide(&p, &s, SEC / 2, 7, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.reset_after_ns, SEC / 2);
	assert_int_equal(r.retry_after_ns, SEC / 2 + 2 * SEC);
}

static void decide_one_request_per_window(void **ctx)
{
	struct credlimit_policy p = policy_of(1, MS, 0, 0);
	struct cl_algo_state s = { 0 };
	struct credlimit_result r;

	assert_true(decide(&p, &s, 0, 1, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.remaining, 0);

	assert_true(decide(&p, &s, MS - 1, 1, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.reset_after_ns, 1);
	assert_int_equal(r.retry_after_ns, 1);

	assert_true(decide(&p, &s, MS, 1, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_state(&s, 1, MS, 1, 0);

	assert_false(decide(&p, &s, MS, 2, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
}

static void decide_zero_credits_store_nothing(void **ctx)
{
	struct credlimit_policy p = policy_of(5, SEC, 0, 0);
	struct cl_algo_state s = state_of(0, SEC, 1, 0);
	struct credlimit_result r;

	/* Unused base requests are lost when C = 0. */
	assert_true(decide(&p, &s, 3 * SEC, 0, &r, NULL));
	assert_state(&s, 3, SEC, 0, 0);
	assert_int_equal(r.remaining, 5);

	assert_false(decide(&p, &s, 3 * SEC, 6, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);

	assert_true(decide(&p, &s, 3 * SEC, 5, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);

	/* The full allowance returns with the next window. */
	assert_true(decide(&p, &s, 3 * SEC + SEC / 4, 5, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.retry_after_ns, SEC - SEC / 4);
}

static void decide_window_length_extremes(void **ctx)
{
	struct credlimit_policy shortest = policy_of(4, MS, 4, 0);
	struct credlimit_policy longest = policy_of(4, WMAX, 4, 0);
	struct cl_algo_state s;
	struct credlimit_result r;
	uint64_t w;

	s = (struct cl_algo_state){ 0 };
	assert_true(decide(&shortest, &s, 7 * MS + 1, 0, &r, NULL));
	assert_state(&s, 7, MS, 0, 0);
	assert_int_equal(r.reset_after_ns, MS - 1);

	s = (struct cl_algo_state){ 0 };
	assert_true(decide(&shortest, &s, UINT64_MAX, 1, &r, NULL));
	w = UINT64_MAX / MS;
	assert_state(&s, w, MS, 1, 0);
	assert_int_equal(r.reset_after_ns,
			 (uint64_t)((u128)(w + 1) * MS - UINT64_MAX));
	assert_int_equal(r.reset_after_ns, 448385);

	s = (struct cl_algo_state){ 0 };
	assert_true(decide(&longest, &s, 0, 1, &r, NULL));
	assert_int_equal(r.reset_after_ns, WMAX);

	s = (struct cl_algo_state){ 0 };
	assert_true(decide(&longest, &s, UINT64_MAX, 1, &r, NULL));
	assert_state(&s, 583, WMAX, 1, 0);
	assert_int_equal(r.reset_after_ns,
			 (uint64_t)((u128)584 * WMAX - UINT64_MAX));
	assert_true(r.reset_after_ns <= WMAX);
	assert_int_equal(r.window_ns, WMAX);
}

static void decide_max_numbers_no_overflow(void **ctx)
{
	const uint64_t max = UINT32_MAX;
	struct credlimit_policy p = policy_of(UINT32_MAX, SEC, UINT32_MAX,
					      UINT32_MAX);
	struct cl_algo_state s = { 0 };
	struct credlimit_result r;
	uint32_t spent;

	assert_true(decide(&p, &s, 0, 0, &r, NULL));
	assert_int_equal(r.remaining, 2 * max);
	assert_int_equal(r.credits, max);

	assert_false(decide(&p, &s, 0, 2 * max + 1, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_false(decide(&p, &s, 0, UINT64_C(1) << 33, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);

	assert_true(decide(&p, &s, 0, 2 * max, &r, &spent));
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(spent, UINT32_MAX);
	assert_state(&s, 0, SEC, UINT32_MAX, 0);
	assert_int_equal(r.remaining, 0);

	/* Window 1 brings R, window 2 brings R + C. */
	assert_true(decide(&p, &s, SEC / 2, 2 * max, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.retry_after_ns, SEC / 2 + SEC);

	assert_true(decide(&p, &s, SEC, 0, &r, NULL));
	assert_state(&s, 1, SEC, 0, 0);
	assert_int_equal(r.remaining, max);

	assert_true(decide(&p, &s, 2 * SEC, 0, &r, NULL));
	assert_state(&s, 2, SEC, 0, UINT32_MAX);
	assert_int_equal(r.remaining, 2 * max);

	/* c + (R - u) = 2^33 - 3 is capped, not wrapped. */
	s = state_of(0, SEC, 0, UINT32_MAX - 1);
	cl_algo_roll(&p, &s, SEC);
	assert_state(&s, 1, SEC, 0, UINT32_MAX);
}

static void decide_reset_after_exact(void **ctx)
{
	const uint64_t windows[] = { MS, 7 * MS + 3, SEC, WMAX };
	const uint64_t indexes[] = { 0, 1, 5, 500 };

	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		uint64_t w = windows[i];
		struct credlimit_policy p = policy_of(2, w, 2, 0);
		const uint64_t offsets[] = { 0, 1, w / 2, w - 1 };

		for (size_t j = 0; j < sizeof(indexes) / sizeof(indexes[0]);
		     j++) {
			for (size_t k = 0; k < 4; k++) {
				uint64_t t = indexes[j] * w + offsets[k];
				struct cl_algo_state s = { 0 };
				struct cl_algo_state ahead =
					state_of(indexes[j] + 3, w, 0, 0);
				struct credlimit_result r;

				assert_true(decide(&p, &s, t, 1, &r, NULL));
				assert_int_equal(r.reset_after_ns,
						 w - offsets[k]);
				assert_true(r.reset_after_ns > 0);
				assert_true(r.reset_after_ns <= w);

				/* Stale: judged at the stored window's
				 * start, so the whole window remains. */
				assert_true(decide(&p, &ahead, t, 1, &r, NULL));
				assert_int_equal(r.reset_after_ns, w);
			}
		}
	}
}

static void decide_retry_after_table(void **ctx)
{
	static const struct {
		uint32_t max_credits;
		uint32_t used;
		uint32_t credits;
		uint64_t cost;
		uint64_t extra_windows; /* m - 1 */
	} cases[] = {
		{ 100, 10, 0, 10, 0 },
		{ 100, 10, 0, 11, 1 },
		{ 100, 10, 0, 20, 1 },
		{ 100, 10, 0, 21, 2 },
		{ 100, 10, 0, 35, 3 },
		{ 100, 4, 3, 10, 0 },
		{ 100, 10, 5, 110, 10 },
		{ 5, 10, 0, 15, 1 },
		{ 5, 10, 0, 11, 1 },
		{ 0, 10, 0, 10, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct credlimit_policy p =
			policy_of(10, SEC, cases[i].max_credits, 0);
		struct cl_algo_state s =
			state_of(0, SEC, cases[i].used, cases[i].credits);
		struct credlimit_result r;
		uint64_t expected = SEC * 3 / 4 + cases[i].extra_windows * SEC;

		assert_true(decide(&p, &s, SEC / 4, cases[i].cost, &r, NULL));
		assert_int_equal(r.verdict, CREDLIMIT_DENIED);
		assert_int_equal(r.reset_after_ns, SEC * 3 / 4);
		assert_int_equal(r.retry_after_ns, expected);
		assert_int_equal(retry_by_definition(&p, cases[i].used,
						     cases[i].credits,
						     cases[i].cost,
						     SEC * 3 / 4),
				 expected);
	}
}

static void decide_retry_after_saturates(void **ctx)
{
	struct credlimit_policy p = policy_of(1, WMAX, UINT32_MAX, 0);
	struct cl_algo_state s;
	struct credlimit_result r;

	/* 2^32 - 1 windows of 366 days are far beyond 2^64 ns. */
	s = state_of(0, WMAX, 1, 0);
	assert_true(decide(&p, &s, 0, UINT64_C(1) + UINT32_MAX, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.retry_after_ns, UINT64_MAX);

	/* reset_after = 1 ns plus 583 windows still fits in 64 bits... */
	s = state_of(0, WMAX, 1, 0);
	assert_true(decide(&p, &s, WMAX - 1, 584, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.reset_after_ns, 1);
	assert_int_equal(r.retry_after_ns, 1 + 583 * WMAX);
	assert_int_equal(r.retry_after_ns, UINT64_C(18435859200000000001));

	/* ...and 584 windows do not. */
	assert_true(decide(&p, &s, WMAX - 1, 585, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.retry_after_ns, UINT64_MAX);

	s = state_of(0, WMAX, 1, 0);
	assert_true(decide(&p, &s, 0, 584, &r, NULL));
	assert_int_equal(r.retry_after_ns, UINT64_MAX);
}

/* The bound 2R + C is reached: R at the end of one window, R + C at the
 * start of the next, and the other way round. */
static void bound_reaches_two_r_plus_c(void **ctx)
{
	struct credlimit_policy p = policy_of(3, SEC, 5, 5);
	struct credlimit_result r;
	struct cl_algo_state s;
	unsigned allowed;

	s = (struct cl_algo_state){ 0 };
	allowed = 0;
	for (int i = 0; i < 3; i++) {
		assert_true(decide(&p, &s, 900 * MS, 1, &r, NULL));
		allowed += r.verdict == CREDLIMIT_ALLOWED;
	}
	for (int i = 0; i < 9; i++) {
		assert_true(decide(&p, &s, SEC, 1, &r, NULL));
		allowed += r.verdict == CREDLIMIT_ALLOWED;
	}
	assert_int_equal(allowed, 2 * 3 + 5);
	assert_true(decide(&p, &s, SEC + 800 * MS, 1, &r, NULL));
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);

	s = (struct cl_algo_state){ 0 };
	allowed = 0;
	for (int i = 0; i < 9; i++) {
		assert_true(decide(&p, &s, 900 * MS, 1, &r, NULL));
		allowed += r.verdict == CREDLIMIT_ALLOWED;
	}
	for (int i = 0; i < 4; i++) {
		assert_true(decide(&p, &s, SEC, 1, &r, NULL));
		allowed += r.verdict == CREDLIMIT_ALLOWED;
	}
	assert_int_equal(allowed, 2 * 3 + 5);
}

/* Over any closed interval of length W, allowed costs sum to at most
 * 2R + C, because the bucket contains at most R + C tokens and at most one
 * window boundary follows the interval's start. */
static void bound_holds_random_sequences(void **ctx)
{
	enum { STEPS = 400 };
	const uint64_t tick = MS / 10;
	uint64_t seed = 1;

	for (int run = 0; run < 300; run++) {
		uint32_t r_max = 1 + (uint32_t)rng_below(&seed, 4);
		uint32_t c_max = (uint32_t)rng_below(&seed, 7);
		uint32_t initial = (uint32_t)rng_below(&seed, c_max + 1);
		struct credlimit_policy p = policy_of(r_max, MS, c_max, initial);
		struct cl_algo_state s = { 0 };
		uint64_t times[STEPS], costs[STEPS];
		unsigned count = 0;
		uint64_t t = rng_below(&seed, 100) * tick;

		for (int i = 0; i < STEPS; i++) {
			static const uint64_t gaps[] = { 0, 0, 1, 1, 2, 3,
							 9, 10, 11, 40 };
			struct credlimit_result r;
			uint64_t cost = rng_below(&seed, 4);

			t += gaps[rng_below(&seed, 10)] * tick;
			decide(&p, &s, t, cost, &r, NULL);
			if (r.verdict == CREDLIMIT_ALLOWED && cost > 0) {
				times[count] = t;
				costs[count] = cost;
				count++;
			}
		}

		for (unsigned i = 0; i < count; i++) {
			uint64_t sum = 0;

			for (unsigned j = i; j < count &&
					     times[j] <= times[i] + MS;
			     j++)
				sum += costs[j];
			assert_true(sum <= 2 * (uint64_t)r_max + c_max);
		}
	}
}

static void decide_clamps_after_policy_change(void **ctx)
{
	struct credlimit_policy large = policy_of(10, SEC, 60, 0);
	struct credlimit_policy small = policy_of(5, SEC, 20, 0);
	struct credlimit_policy wide_credits = policy_of(5, SEC, 100, 0);
	struct cl_algo_state s = state_of(0, SEC, 8, 50);
	struct credlimit_result r;
	uint32_t spent;

	assert_true(decide(&small, &s, SEC / 2, 0, &r, NULL));
	assert_state(&s, 0, SEC, 5, 20);
	assert_int_equal(r.remaining, 20);
	assert_int_equal(r.credits, 20);
	assert_int_equal(r.limit, 5);

	assert_true(decide(&small, &s, SEC / 2, 1, &r, &spent));
	assert_int_equal(spent, 1);
	assert_state(&s, 0, SEC, 5, 19);

	/* Raising the numbers again restores nothing. */
	assert_true(decide(&large, &s, SEC / 2 + MS, 0, &r, NULL));
	assert_state(&s, 0, SEC, 5, 19);
	assert_int_equal(r.remaining, 5 + 19);

	/* u is clamped before the roll, so R - u cannot wrap: window 1 idle
	 * gives R = 5. */
	s = state_of(0, SEC, 8, 0);
	assert_true(decide(&wide_credits, &s, 2 * SEC + SEC / 2, 0, &r, NULL));
	assert_state(&s, 2, SEC, 0, 5);
	assert_int_equal(r.remaining, 10);
}

static void decide_converts_changed_window(void **ctx)
{
	struct credlimit_policy three = policy_of(5, 3 * SEC, 100, 0);
	struct credlimit_policy one = policy_of(5, SEC, 100, 0);
	struct credlimit_policy five = policy_of(5, 5 * SEC, 100, 0);
	struct cl_algo_state s;
	struct credlimit_result r;

	/* Window 10 of 1 s starts at 10 s, inside window 3 of 3 s. */
	s = state_of(10, SEC, 2, 1);
	assert_true(decide(&three, &s, 11 * SEC + SEC / 2, 0, &r, NULL));
	assert_state(&s, 3, 3 * SEC, 2, 1);
	assert_int_equal(r.reset_after_ns, SEC / 2);
	assert_int_equal(r.window_ns, 3 * SEC);

	s = state_of(10, SEC, 2, 1);
	assert_true(decide(&three, &s, 12 * SEC, 0, &r, NULL));
	assert_state(&s, 4, 3 * SEC, 0, 4);

	/* 1 + (5 - 2) + 2 idle windows * 5 = 14. */
	s = state_of(10, SEC, 2, 1);
	assert_true(decide(&three, &s, 18 * SEC + 200 * MS, 0, &r, NULL));
	assert_state(&s, 6, 3 * SEC, 0, 14);

	/* Shorter: window 3 of 3 s starts at 9 s, window 9 of 1 s. */
	s = state_of(3, 3 * SEC, 2, 0);
	assert_true(decide(&one, &s, 9 * SEC + SEC / 2, 0, &r, NULL));
	assert_state(&s, 9, SEC, 2, 0);

	s = state_of(3, 3 * SEC, 2, 0);
	assert_true(decide(&one, &s, 11 * SEC + 200 * MS, 0, &r, NULL));
	assert_state(&s, 11, SEC, 0, 8);

	/* Window 4 of 3 s starts at 12 s, inside window 2 of 5 s. */
	s = state_of(4, 3 * SEC, 2, 0);
	assert_true(decide(&five, &s, 14 * SEC, 0, &r, NULL));
	assert_state(&s, 2, 5 * SEC, 2, 0);
	assert_int_equal(r.reset_after_ns, SEC);

	/* A stale time after the change is judged at the converted start. */
	s = state_of(10, SEC, 2, 1);
	assert_true(decide(&three, &s, 2 * SEC, 0, &r, NULL));
	assert_state(&s, 3, 3 * SEC, 2, 1);
	assert_int_equal(r.reset_after_ns, 3 * SEC);
}

static void roll_equals_decide_cost_zero(void **ctx)
{
	static const uint64_t windows[] = { MS, 3 * MS, SEC, 7 * SEC };
	uint64_t seed = 2;

	for (int i = 0; i < 20000; i++) {
		uint64_t w = windows[rng_below(&seed, 4)];
		uint64_t old_w = windows[rng_below(&seed, 4)];
		uint32_t r_max = 1 + (uint32_t)rng_below(&seed, 20);
		uint32_t c_max = (uint32_t)rng_below(&seed, 50);
		struct credlimit_policy p = policy_of(
			r_max, w, c_max, (uint32_t)rng_below(&seed, c_max + 1));
		struct cl_algo_state a;
		struct cl_algo_state b;
		struct credlimit_result r;
		uint64_t t = rng_below(&seed, 100 * SEC);

		if (rng_below(&seed, 10) == 0)
			a = (struct cl_algo_state){ 0 };
		else
			a = state_of(rng_below(&seed, 100 * SEC / old_w), old_w,
				     (uint32_t)rng_below(&seed, 40),
				     (uint32_t)rng_below(&seed, 80));
		b = a;

		cl_algo_roll(&p, &a, t);
		assert_true(decide(&p, &b, t, 0, &r, NULL));
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void fresh_equivalent_cases(void **ctx)
{
	struct credlimit_policy full = policy_of(5, SEC, 10, 10);
	struct credlimit_policy empty_start = policy_of(5, SEC, 10, 0);
	struct credlimit_policy no_credits = policy_of(5, SEC, 0, 0);
	struct cl_algo_state fresh = { 0 };
	struct cl_algo_state s;

	assert_true(cl_algo_is_fresh_equivalent(&full, &fresh, 0));
	assert_true(cl_algo_is_fresh_equivalent(&empty_start, &fresh, SEC));

	/* c = I = C and nothing used. */
	s = state_of(0, SEC, 0, 10);
	assert_true(cl_algo_is_fresh_equivalent(&full, &s, SEC / 2));

	s = state_of(0, SEC, 1, 10);
	assert_false(cl_algo_is_fresh_equivalent(&full, &s, SEC / 2));

	s = state_of(0, SEC, 0, 9);
	assert_false(cl_algo_is_fresh_equivalent(&full, &s, SEC / 2));

	/* The roll to window 1 fills 9 + 5 up to 10. */
	s = state_of(0, SEC, 0, 9);
	assert_true(cl_algo_is_fresh_equivalent(&full, &s, SEC));

	/* Windows 1 and 2 idle bring 0 + 5 + 5 credits by window 3. */
	s = state_of(0, SEC, 5, 0);
	assert_false(cl_algo_is_fresh_equivalent(&full, &s, SEC));
	assert_false(cl_algo_is_fresh_equivalent(&full, &s, 2 * SEC));
	assert_true(cl_algo_is_fresh_equivalent(&full, &s, 3 * SEC));

	/* I < C: a kept entry gains credits that a new one lacks. */
	s = state_of(0, SEC, 0, 10);
	assert_false(cl_algo_is_fresh_equivalent(&empty_start, &s, 5 * SEC));

	/* C = I = 0: only u = 0 matters. */
	s = state_of(0, SEC, 1, 0);
	assert_false(cl_algo_is_fresh_equivalent(&no_credits, &s, SEC / 2));
	assert_true(cl_algo_is_fresh_equivalent(&no_credits, &s, SEC));

	/* The check does not change the state it is given. */
	s = state_of(0, SEC, 5, 0);
	cl_algo_is_fresh_equivalent(&full, &s, 9 * SEC);
	assert_state(&s, 0, SEC, 5, 0);
}

/*
 * Reference model, written independently of lib/algorithm.c: a token
 * bucket of capacity R + C that gains R tokens at each window boundary.
 * `base` is the part of the tokens that is this window's base allowance;
 * the rest are credits.  A decision spends base tokens first.
 */
struct ref_bucket {
	bool started;
	uint64_t window;
	uint64_t tokens;
	uint64_t base;
};

struct ref_outcome {
	bool stored;
	int verdict;
	uint64_t remaining;
	uint64_t credits;
	uint64_t used;
	uint64_t spent;
	uint64_t reset_after;
	uint64_t retry_after;
};

static void ref_decide(const struct credlimit_policy *p,
		       struct ref_bucket *bucket, uint64_t t, uint64_t cost,
		       struct ref_outcome *out)
{
	const uint64_t r_max = p->max_requests;
	const uint64_t w = p->window_ns;
	const uint64_t capacity = r_max + p->max_credits;
	struct ref_bucket b = *bucket;
	u128 window_start;
	uint64_t judged;

	if (!b.started) {
		b.started = true;
		b.window = t / w;
		b.tokens = r_max + p->initial_credits;
		b.base = r_max;
	}
	if (t / w > b.window) {
		u128 tokens = b.tokens + (u128)(t / w - b.window) * r_max;

		b.tokens = tokens > capacity ? capacity : (uint64_t)tokens;
		b.base = r_max;
		b.window = t / w;
	}

	window_start = (u128)b.window * w;
	judged = t > window_start ? t : (uint64_t)window_start;
	out->reset_after = (uint64_t)(window_start + w - judged);
	out->spent = 0;

	if (cost > capacity) {
		out->stored = false;
		out->verdict = CREDLIMIT_DENIED_NEVER;
		out->retry_after = CREDLIMIT_NEVER;
		return;
	}

	if (cost <= b.tokens) {
		uint64_t from_base = cost < b.base ? cost : b.base;

		out->verdict = CREDLIMIT_ALLOWED;
		out->retry_after = 0;
		out->spent = cost - from_base;
		b.base -= from_base;
		b.tokens -= cost;
	} else {
		uint64_t boundaries = 1;

		while (b.tokens + boundaries * r_max < cost)
			boundaries++;
		out->verdict = CREDLIMIT_DENIED;
		out->retry_after = saturate((u128)out->reset_after +
					    (u128)(boundaries - 1) * w);
	}

	out->stored = true;
	out->remaining = b.tokens;
	out->credits = b.tokens - b.base;
	out->used = r_max - b.base;
	*bucket = b;
}

/* Checks that a denial's retry_after is exact: if no other request comes,
 * one nanosecond earlier the same cost is still denied, and at
 * retry_after it is allowed. */
static void check_retry_after(const struct credlimit_policy *p,
			      const struct cl_algo_state *denied, uint64_t t,
			      uint64_t cost, uint64_t retry)
{
	struct cl_algo_state s = *denied;
	struct credlimit_result r;

	decide(p, &s, t + retry - 1, cost, &r, NULL);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);

	s = *denied;
	decide(p, &s, t + retry, cost, &r, NULL);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
}

static void decide_matches_token_bucket(void **ctx)
{
	static const uint64_t windows[] = { MS, 3 * MS + 1, SEC };
	uint64_t seed = 3;

	for (int run = 0; run < 500; run++) {
		uint64_t w = windows[rng_below(&seed, 3)];
		uint32_t r_max = 1 + (uint32_t)rng_below(&seed, 6);
		uint32_t c_max = (uint32_t)rng_below(&seed, 9);
		uint32_t initial = (uint32_t)rng_below(&seed, c_max + 1);
		struct credlimit_policy p = policy_of(r_max, w, c_max, initial);
		struct cl_algo_state s = { 0 };
		struct ref_bucket bucket = { 0 };
		uint64_t t = rng_below(&seed, 50 * w);

		for (int step = 0; step < 200; step++) {
			uint64_t pick = rng_below(&seed, 10);
			struct cl_algo_state before;
			struct credlimit_result r;
			struct ref_outcome want;
			uint64_t cost;
			uint32_t spent;
			bool stored;

			if (pick < 6)
				t += rng_below(&seed, w / 2);
			else if (pick < 8)
				t += rng_below(&seed, 5 * w);
			else if (pick == 8)
				t -= rng_below(&seed, 2 * w) % (t + 1);

			if (rng_below(&seed, 8) == 0)
				cost = rng_below(&seed, r_max + c_max + 3);
			else
				cost = rng_below(&seed, 4);

			before = s;
			stored = decide(&p, &s, t, cost, &r, &spent);
			ref_decide(&p, &bucket, t, cost, &want);

			assert_int_equal(stored, want.stored);
			assert_int_equal(r.verdict, want.verdict);
			assert_int_equal(r.reset_after_ns, want.reset_after);
			assert_int_equal(r.retry_after_ns, want.retry_after);
			assert_int_equal(r.limit, r_max);
			assert_int_equal(r.window_ns, w);
			if (!stored) {
				assert_memory_equal(&s, &before, sizeof(s));
				continue;
			}
			assert_int_equal(spent, want.spent);
			assert_int_equal(r.remaining, want.remaining);
			assert_int_equal(r.credits, want.credits);
			assert_int_equal(s.credits, want.credits);
			assert_int_equal(s.used, want.used);
			assert_int_equal(s.window, bucket.window);
			assert_int_equal(s.window_ns, w);

			/* Unless t is stale, retry_after is exact for the
			 * state the denial stored. */
			if (r.verdict == CREDLIMIT_DENIED &&
			    t >= s.window * s.window_ns)
				check_retry_after(&p, &s, t, cost,
						  r.retry_after_ns);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decide_new_customer_starts_fresh),
		cmocka_unit_test(decide_spends_base_before_credits),
		cmocka_unit_test(decide_credits_pay_remainder),
		cmocka_unit_test(decide_denial_keeps_window_roll),
		cmocka_unit_test(roll_converts_unused_base),
		cmocka_unit_test(roll_saturates_after_years),
		cmocka_unit_test(decide_stale_time_no_rollback),
		cmocka_unit_test(decide_cost_zero_reads_state),
		cmocka_unit_test(decide_cost_above_capacity_never),
		cmocka_unit_test(decide_one_request_per_window),
		cmocka_unit_test(decide_zero_credits_store_nothing),
		cmocka_unit_test(decide_window_length_extremes),
		cmocka_unit_test(decide_max_numbers_no_overflow),
		cmocka_unit_test(decide_reset_after_exact),
		cmocka_unit_test(decide_retry_after_table),
		cmocka_unit_test(decide_retry_after_saturates),
		cmocka_unit_test(bound_reaches_two_r_plus_c),
		cmocka_unit_test(bound_holds_random_sequences),
		cmocka_unit_test(decide_clamps_after_policy_change),
		cmocka_unit_test(decide_converts_changed_window),
		cmocka_unit_test(roll_equals_decide_cost_zero),
		cmocka_unit_test(fresh_equivalent_cases),
		cmocka_unit_test(decide_matches_token_bucket),
	};

	return cmocka_run_group_tests(tests, ALGO_GROUP_SETUP,
				      ALGO_GROUP_TEARDOWN);
}
