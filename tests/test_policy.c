/*
 * test_policy.c - unit tests of named policies through the public API
 *
 * Defines, finds, lists and assigns policies on private limiters and on
 * named ones (segments named by unit_name() and always unlinked).  Checks
 * that per-call policies, per-key assignments and changes of a policy's
 * numbers take effect exactly as the pure algorithm computes.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "algorithm.h"

typedef unsigned __int128 u128;

/* A named limiter created for one test and removed after it. */
struct named_fixture {
	char name[64];
	credlimit_t *cl;
};

static credlimit_t *open_private(uint32_t max_requests, uint64_t window_ns,
				 uint32_t max_credits, uint32_t initial_credits)
{
	struct credlimit_options o = unit_options(max_requests, window_ns,
						  max_credits, initial_credits,
						  64);
	credlimit_t *cl = NULL;

	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	assert_non_null(cl);
	return cl;
}

static int named_setup(void **ctx)
{
	struct named_fixture *f = calloc(1, sizeof(*f));
	struct credlimit_options o = unit_options(10, SEC, 20, 0, 64);

	if (f == NULL)
		return -1;
	unit_name(f->name, "policy");
	if (credlimit_open(f->name, CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
			   &o, &f->cl) != 0) {
		free(f);
		return -1;
	}
	*ctx = f;
	return 0;
}

static int named_teardown(void **ctx)
{
	struct named_fixture *f = *ctx;

	credlimit_close(f->cl);
	credlimit_unlink(f->name);
	free(f);
	return 0;
}

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

	return p;
}

static void assert_policy_equal(const struct credlimit_policy *a,
				const struct credlimit_policy *b)
{
	assert_int_equal(a->max_requests, b->max_requests);
	assert_int_equal(a->window_ns, b->window_ns);
	assert_int_equal(a->max_credits, b->max_credits);
	assert_int_equal(a->initial_credits, b->initial_credits);
}

static int policy_count(credlimit_t *cl)
{
	int count = credlimit_policy_list(cl, NULL, 0);

	assert_true(count >= 1);
	return count;
}

static int window_count(credlimit_t *cl)
{
	struct credlimit_stats st;

	assert_int_equal(credlimit_stats(cl, &st), 0);
	return st.windows;
}

static bool same_result(const struct credlimit_result *a,
			const struct credlimit_result *b)
{
	return a->verdict == b->verdict && a->limit == b->limit &&
	       a->credits == b->credits && a->remaining == b->remaining &&
	       a->window_ns == b->window_ns &&
	       a->reset_after_ns == b->reset_after_ns &&
	       a->retry_after_ns == b->retry_after_ns;
}

/* Compares a library result with the pure algorithm's result. */
static void assert_same_result(const struct credlimit_result *got,
			       const struct credlimit_result *want)
{
	assert_int_equal(got->verdict, want->verdict);
	assert_int_equal(got->limit, want->limit);
	assert_int_equal(got->credits, want->credits);
	assert_int_equal(got->remaining, want->remaining);
	assert_int_equal(got->window_ns, want->window_ns);
	assert_int_equal(got->reset_after_ns, want->reset_after_ns);
	assert_int_equal(got->retry_after_ns, want->retry_after_ns);
}

/* Compares the stored entry of key with an algorithm state. */
static void assert_entry_state(credlimit_t *cl, const char *key,
			       const struct cl_algo_state *s)
{
	struct credlimit_entry e;

	assert_int_equal(credlimit_lookup(cl, key, strlen(key), 0, &e), 0);
	assert_int_equal(e.used, s->used);
	assert_int_equal(e.credits, s->credits);
	assert_int_equal(e.window_ns, s->window_ns);
	assert_int_equal(e.window_start_ns, s->window * s->window_ns);
}

static void policy_default_is_id_zero(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 5);
	struct credlimit_policy want = policy_of(10, SEC, 20, 5);
	struct credlimit_policy found;
	struct credlimit_policy_info info;

	assert_int_equal(credlimit_policy_find(cl, "default", &found), 0);
	assert_policy_equal(&found, &want);
	assert_int_equal(credlimit_policy_find(cl, "default", NULL), 0);

	assert_int_equal(credlimit_policy_get(cl, CREDLIMIT_POLICY_DEFAULT,
					      &info),
			 0);
	assert_int_equal(info.id, 0);
	assert_string_equal(info.name, "default");
	assert_policy_equal(&info.policy, &want);

	assert_int_equal(policy_count(cl), 1);
	assert_int_equal(window_count(cl), 1);
	credlimit_close(cl);
}

static void policy_define_assigns_stable_ids(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy a = policy_of(5, SEC, 10, 1);
	struct credlimit_policy b = policy_of(7, 2 * SEC, 0, 0);
	struct credlimit_policy_info list[4];
	struct credlimit_policy found;

	assert_int_equal(credlimit_policy_define(cl, "a", &a), 1);
	assert_int_equal(credlimit_policy_define(cl, "b", &b), 2);
	assert_int_equal(credlimit_policy_find(cl, "a", &found), 1);
	assert_policy_equal(&found, &a);
	assert_int_equal(credlimit_policy_find(cl, "b", &found), 2);
	assert_policy_equal(&found, &b);
	assert_int_equal(window_count(cl), 2);

	assert_int_equal(credlimit_policy_list(cl, list, 4), 3);
	assert_int_equal(list[0].id, 0);
	assert_string_equal(list[0].name, "default");
	assert_int_equal(list[1].id, 1);
	assert_string_equal(list[1].name, "a");
	assert_policy_equal(&list[1].policy, &a);
	assert_int_equal(list[2].id, 2);
	assert_string_equal(list[2].name, "b");
	assert_policy_equal(&list[2].policy, &b);
	credlimit_close(cl);
}

static void policy_redefine_keeps_id(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy first = policy_of(5, SEC, 10, 1);
	struct credlimit_policy second = policy_of(9, 3 * SEC, 30, 30);
	struct credlimit_policy_info info;
	struct credlimit_policy found;

	assert_int_equal(credlimit_policy_define(cl, "api:v1", &first), 1);
	assert_int_equal(credlimit_policy_define(cl, "api:v1", &second), 1);
	assert_int_equal(policy_count(cl), 2);

	assert_int_equal(credlimit_policy_get(cl, 1, &info), 0);
	assert_string_equal(info.name, "api:v1");
	assert_policy_equal(&info.policy, &second);
	assert_int_equal(credlimit_policy_find(cl, "api:v1", &found), 1);
	assert_policy_equal(&found, &second);

	/* The default policy can be redefined too, and stays id 0. */
	assert_int_equal(credlimit_policy_define(cl, "default", &first), 0);
	assert_int_equal(credlimit_policy_find(cl, "default", &found), 0);
	assert_policy_equal(&found, &first);
	assert_int_equal(policy_count(cl), 2);
	credlimit_close(cl);
}

static void policy_rejects_invalid_names(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy p = policy_of(5, 2 * SEC, 10, 0);
	char longest[CREDLIMIT_POLICY_NAME_MAX + 1];
	char too_long[CREDLIMIT_POLICY_NAME_MAX + 2];
	static const char *const invalid[] = {
		"", "a b", "a/b", "a\n", "a*", "a,b", "\xc3\xa9", "tab\t",
	};

	memset(longest, 'x', CREDLIMIT_POLICY_NAME_MAX);
	longest[CREDLIMIT_POLICY_NAME_MAX] = '\0';
	memset(too_long, 'x', CREDLIMIT_POLICY_NAME_MAX + 1);
	too_long[CREDLIMIT_POLICY_NAME_MAX + 1] = '\0';

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		assert_int_equal(credlimit_policy_define(cl, invalid[i], &p),
				 -EINVAL);
		assert_int_equal(credlimit_policy_find(cl, invalid[i], NULL),
				 -EINVAL);
	}
	assert_int_equal(credlimit_policy_define(cl, NULL, &p), -EINVAL);
	assert_int_equal(credlimit_policy_find(cl, NULL, NULL), -EINVAL);
	assert_int_equal(credlimit_policy_define(cl, too_long, &p), -EINVAL);
	assert_int_equal(credlimit_policy_find(cl, too_long, NULL), -EINVAL);

	/* Nothing was defined, and the window length was not registered. */
	assert_int_equal(policy_count(cl), 1);
	assert_int_equal(window_count(cl), 1);

	/* 47 bytes and every allowed character are fine. */
	assert_int_equal(credlimit_policy_define(cl, longest, &p), 1);
	assert_int_equal(credlimit_policy_find(cl, longest, NULL), 1);
	assert_int_equal(credlimit_policy_define(cl, "Az09._:-", &p), 2);
	credlimit_close(cl);
}

static void policy_rejects_invalid_numbers(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy good = policy_of(5, SEC, 10, 1);
	const struct credlimit_policy invalid[] = {
		policy_of(0, SEC, 10, 0),
		policy_of(5, CREDLIMIT_WINDOW_MIN_NS - 1, 10, 0),
		policy_of(5, 0, 10, 0),
		policy_of(5, CREDLIMIT_WINDOW_MAX_NS + 1, 10, 0),
		policy_of(5, UINT64_MAX, 10, 0),
		policy_of(5, SEC, 10, 11),
		policy_of(5, SEC, 0, 1),
	};
	struct credlimit_policy found;

	assert_int_equal(credlimit_policy_define(cl, "kept", &good), 1);

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		assert_int_equal(credlimit_policy_validate(&invalid[i]),
				 -EINVAL);
		assert_int_equal(credlimit_policy_define(cl, "kept",
							 &invalid[i]),
				 -EINVAL);
		assert_int_equal(credlimit_policy_define(cl, "new",
							 &invalid[i]),
				 -EINVAL);
	}
	assert_int_equal(credlimit_policy_define(cl, "new", NULL), -EINVAL);
	assert_int_equal(credlimit_policy_validate(NULL), -EINVAL);

	/* Nothing changed. */
	assert_int_equal(credlimit_policy_find(cl, "kept", &found), 1);
	assert_policy_equal(&found, &good);
	assert_int_equal(credlimit_policy_find(cl, "new", NULL), -ENOENT);
	assert_int_equal(policy_count(cl), 2);
	assert_int_equal(window_count(cl), 1);
	credlimit_close(cl);
}

static void policy_accepts_boundary_numbers(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	const struct credlimit_policy valid[] = {
		policy_of(1, CREDLIMIT_WINDOW_MIN_NS, 0, 0),
		policy_of(UINT32_MAX, CREDLIMIT_WINDOW_MAX_NS, UINT32_MAX,
			  UINT32_MAX),
		policy_of(1, SEC, UINT32_MAX, 0),
	};
	struct credlimit_policy found;
	char name[16];

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		snprintf(name, sizeof(name), "edge%zu", i);
		assert_int_equal(credlimit_policy_validate(&valid[i]), 0);
		assert_int_equal(credlimit_policy_define(cl, name, &valid[i]),
				 (int)i + 1);
		assert_int_equal(credlimit_policy_find(cl, name, &found),
				 (int)i + 1);
		assert_policy_equal(&found, &valid[i]);
	}
	credlimit_close(cl);
}

static void policy_ids_run_out(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy p = policy_of(5, SEC, 10, 0);
	struct credlimit_policy changed = policy_of(6, SEC, 12, 0);
	struct credlimit_policy found;
	char name[32];

	for (int id = 1; id < CREDLIMIT_POLICY_MAX; id++) {
		snprintf(name, sizeof(name), "p%d", id);
		assert_int_equal(credlimit_policy_define(cl, name, &p), id);
	}
	assert_int_equal(policy_count(cl), CREDLIMIT_POLICY_MAX);

	assert_int_equal(credlimit_policy_define(cl, "one-more", &p), -ENOSPC);
	assert_int_equal(credlimit_policy_find(cl, "one-more", NULL), -ENOENT);
	assert_int_equal(policy_count(cl), CREDLIMIT_POLICY_MAX);

	/* Redefining an existing name still works. */
	snprintf(name, sizeof(name), "p%d", CREDLIMIT_POLICY_MAX - 1);
	assert_int_equal(credlimit_policy_define(cl, name, &changed),
			 CREDLIMIT_POLICY_MAX - 1);
	assert_int_equal(credlimit_policy_find(cl, name, &found),
			 CREDLIMIT_POLICY_MAX - 1);
	assert_policy_equal(&found, &changed);
	credlimit_close(cl);
}

/*
 * A define that fails with -ENOSPC because every policy id is used must
 * change nothing, so it must not register its window length: registered
 * lengths are never freed and CREDLIMIT_WINDOWS_MAX bounds them for the
 * limiter's whole life.
 */
static void policy_full_registers_no_window(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy p = policy_of(5, SEC, 10, 0);
	struct credlimit_policy new_window = policy_of(5, 3 * SEC, 10, 0);
	char name[32];
	int err, windows;

	for (int id = 1; id < CREDLIMIT_POLICY_MAX; id++) {
		snprintf(name, sizeof(name), "p%d", id);
		assert_int_equal(credlimit_policy_define(cl, name, &p), id);
	}
	assert_int_equal(window_count(cl), 1);

	err = credlimit_policy_define(cl, "one-more", &new_window);
	windows = window_count(cl);
	credlimit_close(cl);

	assert_int_equal(err, -ENOSPC);
	assert_int_equal(windows, 1);
}

static void policy_windows_run_out(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy p = policy_of(5, SEC, 10, 0);
	struct credlimit_policy found;
	uint64_t last = 0;

	/* "default" registered 1 s; 1022 more lengths fill the registry. */
	for (uint64_t i = 0; window_count(cl) < CREDLIMIT_WINDOWS_MAX; i++) {
		last = MS + i;
		p.window_ns = last;
		assert_int_equal(credlimit_policy_define(cl, "w", &p), 1);
	}
	assert_int_equal(last, MS + CREDLIMIT_WINDOWS_MAX - 2);

	p.window_ns = 5 * SEC;
	assert_int_equal(credlimit_policy_define(cl, "w", &p), -ENOSPC);
	assert_int_equal(credlimit_policy_define(cl, "fresh-name", &p),
			 -ENOSPC);
	assert_int_equal(credlimit_policy_find(cl, "fresh-name", NULL),
			 -ENOENT);
	assert_int_equal(credlimit_policy_find(cl, "w", &found), 1);
	assert_int_equal(found.window_ns, last);
	assert_int_equal(window_count(cl), CREDLIMIT_WINDOWS_MAX);

	/* Lengths already registered still work, for old and new names. */
	p.window_ns = MS + 7;
	assert_int_equal(credlimit_policy_define(cl, "w", &p), 1);
	assert_int_equal(credlimit_policy_find(cl, "w", &found), 1);
	assert_int_equal(found.window_ns, MS + 7);

	p.window_ns = SEC;
	assert_int_equal(credlimit_policy_define(cl, "fresh-name", &p), 2);
	assert_int_equal(window_count(cl), CREDLIMIT_WINDOWS_MAX);
	credlimit_close(cl);
}

static void policy_list_small_buffer(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy p = policy_of(5, SEC, 10, 0);
	struct credlimit_policy_info list[3];
	char name[8];

	for (int i = 1; i <= 4; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		assert_int_equal(credlimit_policy_define(cl, name, &p), i);
	}

	memset(list, 0x5a, sizeof(list));
	assert_int_equal(credlimit_policy_list(cl, list, 2), 5);
	assert_int_equal(list[0].id, 0);
	assert_string_equal(list[0].name, "default");
	assert_int_equal(list[1].id, 1);
	assert_string_equal(list[1].name, "p1");
	/* Nothing written past max. */
	assert_int_equal(list[2].id, 0x5a5a5a5a);

	assert_int_equal(credlimit_policy_list(cl, NULL, 0), 5);
	assert_int_equal(credlimit_policy_list(cl, list, 0), 5);
	assert_int_equal(credlimit_policy_list(cl, NULL, 3), -EINVAL);
	credlimit_close(cl);
}

static void policy_get_unknown_ids(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy_info info;
	const int ids[] = { -1, 1, 7, CREDLIMIT_POLICY_MAX, 1000, INT_MAX,
			    INT_MIN };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_int_equal(credlimit_policy_get(cl, ids[i], &info),
				 -ENOENT);
	assert_int_equal(credlimit_policy_get(cl, 0, NULL), -EINVAL);
	assert_int_equal(credlimit_policy_find(cl, "missing", NULL), -ENOENT);
	credlimit_close(cl);
}

static void policy_rdonly_handle(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_policy p = policy_of(5, 2 * SEC, 10, 0);
	struct credlimit_policy found;
	struct credlimit_policy_info info;
	credlimit_t *ro = NULL;

	assert_int_equal(credlimit_policy_define(f->cl, "shared", &p), 1);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&ro),
			 0);

	assert_int_equal(credlimit_policy_define(ro, "other", &p), -EROFS);
	assert_int_equal(credlimit_policy_define(ro, "shared", &p), -EROFS);

	assert_int_equal(credlimit_policy_find(ro, "shared", &found), 1);
	assert_policy_equal(&found, &p);
	assert_int_equal(credlimit_policy_get(ro, 1, &info), 0);
	assert_string_equal(info.name, "shared");
	assert_int_equal(credlimit_policy_list(ro, NULL, 0), 2);
	assert_int_equal(credlimit_policy_find(ro, "other", NULL), -ENOENT);
	credlimit_close(ro);
}

static void policy_shared_between_handles(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_policy first = policy_of(5, 2 * SEC, 10, 0);
	struct credlimit_policy second = policy_of(8, 4 * SEC, 16, 2);
	struct credlimit_policy found;
	credlimit_t *other = NULL;

	assert_int_equal(credlimit_policy_define(f->cl, "x", &first), 1);
	assert_int_equal(credlimit_open(f->name, 0, NULL, &other), 0);

	assert_int_equal(credlimit_policy_find(other, "x", &found), 1);
	assert_policy_equal(&found, &first);

	assert_int_equal(credlimit_policy_define(other, "x", &second), 1);
	assert_int_equal(credlimit_policy_define(other, "y", &first), 2);
	assert_int_equal(credlimit_policy_find(f->cl, "x", &found), 1);
	assert_policy_equal(&found, &second);
	assert_int_equal(credlimit_policy_find(f->cl, "y", NULL), 2);
	credlimit_close(other);
}

static void acquire_policy_uses_its_numbers(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy tight = policy_of(2, 2 * SEC, 1, 1);
	struct credlimit_result r;
	int id;

	id = credlimit_policy_define(cl, "tight", &tight);
	assert_int_equal(id, 1);

	for (int i = 0; i < 3; i++) {
		assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 1,
							  SEC / 2, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.policy, id);
		assert_int_equal(r.limit, 2);
		assert_int_equal(r.window_ns, 2 * SEC);
		assert_int_equal(r.reset_after_ns, 2 * SEC - SEC / 2);
		assert_int_equal(r.remaining, 2 - (uint64_t)i);
	}
	assert_int_equal(r.credits, 0);

	assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 1, SEC, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.retry_after_ns, SEC);

	/* Cost above R + C = 3 of this policy, not of the default. */
	assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 4, SEC, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);

	/* Another key under the default policy is independent. */
	assert_int_equal(credlimit_acquire_at(cl, "j", 1, 4, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(r.limit, 10);

	/* peek applies the policy of the key's last decision. */
	assert_int_equal(credlimit_peek(cl, "k", 1, SEC, &r), 0);
	assert_int_equal(r.policy, id);
	assert_int_equal(r.limit, 2);
	assert_int_equal(r.remaining, 0);
	credlimit_close(cl);
}

static void acquire_policy_unknown_ids(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	const int ids[] = { -1, 1, 7, CREDLIMIT_POLICY_MAX, INT_MAX, INT_MIN };
	struct credlimit_result r;
	struct credlimit_stats st;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_int_equal(credlimit_acquire_policy(cl, ids[i], "k", 1, 1,
							  SEC, &r),
				 -ENOENT);

	assert_int_equal(credlimit_stats(cl, &st), 0);
	assert_int_equal(st.inserts, 0);
	assert_int_equal(st.allowed + st.denied, 0);
	credlimit_close(cl);
}

static void key_policy_wins_over_caller(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy tight = policy_of(2, SEC, 0, 0);
	struct credlimit_policy loose = policy_of(50, SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_entry e;
	int tight_id, loose_id;

	tight_id = credlimit_policy_define(cl, "tight", &tight);
	loose_id = credlimit_policy_define(cl, "loose", &loose);
	assert_int_equal(tight_id, 1);
	assert_int_equal(loose_id, 2);

	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, tight_id), 0);
	assert_int_equal(credlimit_lookup(cl, "k", 1, 0, &e), 0);
	assert_int_equal(e.policy_override, tight_id);
	assert_true(e.fresh);

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, SEC, &r), 0);
	assert_int_equal(r.policy, tight_id);
	assert_int_equal(r.limit, 2);

	assert_int_equal(credlimit_acquire_policy(cl, loose_id, "k", 1, 1, SEC,
						  &r),
			 0);
	assert_int_equal(r.policy, tight_id);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.remaining, 0);

	assert_int_equal(credlimit_acquire_policy(cl, loose_id, "k", 1, 1, SEC,
						  &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);

	/* A cost beyond the caller's policy but within the assigned one is
	 * decided under the assigned one. */
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, loose_id), 0);
	assert_int_equal(credlimit_acquire_policy(cl, tight_id, "k", 1, 30,
						  2 * SEC, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.policy, loose_id);

	assert_int_equal(credlimit_peek(cl, "k", 1, 2 * SEC, &r), 0);
	assert_int_equal(r.policy, loose_id);
	assert_int_equal(r.remaining, 20);
	credlimit_close(cl);
}

static void key_policy_clamps_counts(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy def = policy_of(10, SEC, 20, 0);
	struct credlimit_policy small = policy_of(5, SEC, 3, 0);
	struct cl_algo_state mirror = { 0 };
	struct credlimit_result r, want;
	struct credlimit_entry e;
	int small_id;

	small_id = credlimit_policy_define(cl, "small", &small);
	assert_int_equal(small_id, 1);

	assert_int_equal(credlimit_set_credits(cl, "k", 1, 15, 100 * MS), 0);
	cl_algo_roll(&def, &mirror, 100 * MS);
	mirror.credits = 15;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 8, 200 * MS, &r), 0);
	cl_algo_decide(&def, &mirror, 200 * MS, 8, &want, NULL);
	assert_same_result(&r, &want);
	assert_entry_state(cl, "k", &mirror);

	/* The assignment keeps the counts as they are... */
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, small_id), 0);
	assert_int_equal(credlimit_lookup(cl, "k", 1, 200 * MS, &e), 0);
	assert_int_equal(e.used, 8);
	assert_int_equal(e.credits, 15);
	assert_int_equal(e.policy_override, small_id);

	/* ...and the next decision clamps them to R = 5 and C = 3. */
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 0, 300 * MS, &r), 0);
	cl_algo_decide(&small, &mirror, 300 * MS, 0, &want, NULL);
	assert_same_result(&r, &want);
	assert_int_equal(r.policy, small_id);
	assert_int_equal(r.limit, 5);
	assert_int_equal(r.credits, 3);
	assert_int_equal(r.remaining, 3);
	assert_entry_state(cl, "k", &mirror);
	assert_int_equal(mirror.used, 5);
	credlimit_close(cl);
}

static void key_policy_none_removes(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy small = policy_of(5, SEC, 3, 0);
	struct credlimit_result r;
	struct credlimit_entry e;
	int small_id;

	small_id = credlimit_policy_define(cl, "small", &small);
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 8, 100 * MS, &r), 0);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, small_id), 0);
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 0, 200 * MS, &r), 0);
	assert_int_equal(r.policy, small_id);
	assert_int_equal(r.remaining, 0);

	assert_int_equal(credlimit_set_key_policy(cl, "k", 1,
						  CREDLIMIT_POLICY_NONE),
			 0);
	assert_int_equal(credlimit_lookup(cl, "k", 1, 200 * MS, &e), 0);
	assert_int_equal(e.policy_override, CREDLIMIT_POLICY_NONE);

	/* The clamped counts stay: u = 5 under R = 10. */
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 0, 300 * MS, &r), 0);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(r.limit, 10);
	assert_int_equal(r.remaining, 5);

	/* Removing twice is fine, but a key without entry has none to
	 * remove. */
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1,
						  CREDLIMIT_POLICY_NONE),
			 0);
	assert_int_equal(credlimit_set_key_policy(cl, "nobody", 6,
						  CREDLIMIT_POLICY_NONE),
			 -ENOENT);
	assert_int_equal(credlimit_lookup(cl, "nobody", 6, 0, &e), -ENOENT);
	credlimit_close(cl);
}

static void key_policy_unknown_ids(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	const int ids[] = { 1, 7, CREDLIMIT_POLICY_MAX, 1000, INT_MAX };
	struct credlimit_entry e;
	struct credlimit_stats st;

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		assert_int_equal(credlimit_set_key_policy(cl, "k", 1, ids[i]),
				 -ENOENT);
	assert_int_equal(credlimit_lookup(cl, "k", 1, 0, &e), -ENOENT);
	assert_int_equal(credlimit_stats(cl, &st), 0);
	assert_int_equal(st.inserts, 0);
	credlimit_close(cl);
}

/* Changes of R, C and W take effect at the key's next decision exactly as
 * cl_algo_decide() computes it on the same sequence. */
static void policy_change_matches_algorithm(void **ctx)
{
	static const struct {
		uint64_t t;
		uint64_t cost;
		int version; /* index into numbers[] in force */
	} steps[] = {
		{ 100 * MS, 3, 0 },  { 200 * MS, 3, 0 },  { 300 * MS, 3, 0 },
		{ 1500 * MS, 1, 0 }, { 1600 * MS, 0, 1 }, { 1700 * MS, 2, 1 },
		{ 2100 * MS, 4, 1 }, { 2200 * MS, 1, 2 }, { 2900 * MS, 3, 2 },
		{ 3100 * MS, 0, 2 }, { 9000 * MS, 0, 2 }, { 9100 * MS, 6, 3 },
		{ 9200 * MS, 9, 3 }, { 9300 * MS, 1, 0 }, { 9400 * MS, 4, 0 },
	};
	const struct credlimit_policy numbers[] = {
		policy_of(4, SEC, 6, 2),
		policy_of(2, SEC, 3, 0),
		policy_of(3, 3 * SEC, 5, 1),
		policy_of(6, 500 * MS, 9, 0),
	};
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct cl_algo_state mirror = { 0 };
	int id;

	id = credlimit_policy_define(cl, "p", &numbers[0]);
	assert_int_equal(id, 1);

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct credlimit_policy *p = &numbers[steps[i].version];
		struct credlimit_result r, want;

		assert_int_equal(credlimit_policy_define(cl, "p", p), id);
		assert_int_equal(credlimit_acquire_policy(cl, id, "key", 3,
							  steps[i].cost,
							  steps[i].t, &r),
				 0);
		cl_algo_decide(p, &mirror, steps[i].t, steps[i].cost, &want,
			       NULL);
		if (!same_result(&r, &want))
			print_message("step %zu\n", i);
		assert_same_result(&r, &want);
		assert_entry_state(cl, "key", &mirror);
	}
	credlimit_close(cl);
}

/* A window change converts the stored window at the key's next decision:
 * window 2 of 1 s (starting at 2 s) lies in window 0 of 3 s. */
static void policy_window_change_converts(void **ctx)
{
	credlimit_t *cl = open_private(10, SEC, 20, 0);
	struct credlimit_policy before = policy_of(5, SEC, 10, 1);
	struct credlimit_policy after = policy_of(5, 3 * SEC, 10, 1);
	struct credlimit_result r;
	struct credlimit_entry e;
	int id;

	id = credlimit_policy_define(cl, "p", &before);
	assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 2,
						  2 * SEC + SEC / 2, &r),
			 0);
	assert_int_equal(r.remaining, 3 + 1);
	assert_int_equal(credlimit_acquire_policy(cl, id, "m", 1, 2,
						  2 * SEC + SEC / 2, &r),
			 0);

	assert_int_equal(credlimit_policy_define(cl, "p", &after), id);

	/* The first decision after the change, at 3.2 s, already rolls from
	 * window 0 to window 1 of 3 s. */
	assert_int_equal(credlimit_acquire_policy(cl, id, "m", 1, 0,
						  3 * SEC + 200 * MS, &r),
			 0);
	assert_int_equal(r.credits, 4);
	assert_int_equal(r.remaining, 5 + 4);
	assert_int_equal(r.reset_after_ns, 2 * SEC + 800 * MS);

	/* Until the next decision the entry keeps its old window. */
	assert_int_equal(credlimit_lookup(cl, "k", 1, 2 * SEC + SEC / 2, &e),
			 0);
	assert_int_equal(e.window_ns, SEC);
	assert_int_equal(e.window_start_ns, 2 * SEC);

	assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 0,
						  2 * SEC + 900 * MS, &r),
			 0);
	assert_int_equal(r.window_ns, 3 * SEC);
	assert_int_equal(r.reset_after_ns, 100 * MS);
	assert_int_equal(r.remaining, 3 + 1);
	assert_int_equal(credlimit_lookup(cl, "k", 1, 2 * SEC + 900 * MS, &e),
			 0);
	assert_int_equal(e.window_ns, 3 * SEC);
	assert_int_equal(e.window_start_ns, 0);
	assert_int_equal(e.used, 2);

	/* At 3 s the 3 unused base requests become credits: c = 4. */
	assert_int_equal(credlimit_acquire_policy(cl, id, "k", 1, 0, 3 * SEC,
						  &r),
			 0);
	assert_int_equal(r.credits, 4);
	assert_int_equal(r.remaining, 5 + 4);
	assert_int_equal(r.reset_after_ns, 3 * SEC);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	credlimit_close(cl);
}

/* Random sequences of decisions, redefinitions and per-key assignments on
 * a few keys, mirrored with cl_algo_decide(). */
static void policy_random_changes_match(void **ctx)
{
	static const uint64_t windows[] = { MS, 3 * MS, 7 * MS };
	const char *const keys[] = { "a", "b", "c" };
	credlimit_t *cl = open_private(4, MS, 4, 0);
	struct credlimit_policy numbers[3];
	struct cl_algo_state mirror[3] = { { 0 } };
	int assigned[3] = { -1, -1, -1 };
	uint64_t seed = 12345;
	uint64_t t = 0;

	numbers[0] = policy_of(4, MS, 4, 0);
	for (int id = 1; id < 3; id++) {
		numbers[id] = policy_of(3, 3 * MS, 2, 1);
		assert_int_equal(credlimit_policy_define(cl, id == 1 ? "p1"
								     : "p2",
							 &numbers[id]),
				 id);
	}

	for (int step = 0; step < 5000; step++) {
		uint64_t pick;
		int key, caller, applied;
		uint64_t cost;
		struct credlimit_result r, want;

		seed = seed * UINT64_C(6364136223846793005) +
		       UINT64_C(1442695040888963407);
		pick = seed >> 33;
		key = (int)(pick % 3);
		t += (pick >> 2) % (4 * MS);

		if (pick % 23 == 0) {
			/* Redefine a policy with new numbers. */
			int id = (int)((pick >> 8) % 3);
			uint32_t c_max = (uint32_t)((pick >> 12) % 6);

			numbers[id] = policy_of(1 + (uint32_t)((pick >> 10) % 5),
						windows[(pick >> 16) % 3],
						c_max,
						(uint32_t)((pick >> 18) %
							   (c_max + 1)));
			assert_int_equal(credlimit_policy_define(
						 cl,
						 id == 0 ? "default"
						 : id == 1 ? "p1" : "p2",
						 &numbers[id]),
					 id);
			continue;
		}
		if (pick % 29 == 0) {
			/* Assign a policy to the key, or remove it. */
			int id = (int)((pick >> 8) % 4) - 1;

			if (id < 0 && mirror[key].window_ns == 0 &&
			    assigned[key] < 0)
				continue;
			assert_int_equal(credlimit_set_key_policy(
						 cl, keys[key], 1, id),
					 0);
			assigned[key] = id;
			continue;
		}

		caller = (int)((pick >> 20) % 3);
		applied = assigned[key] >= 0 ? assigned[key] : caller;
		cost = (pick >> 24) % 8;

		assert_int_equal(credlimit_acquire_policy(cl, caller,
							  keys[key], 1, cost,
							  t, &r),
				 0);
		if ((u128)cost > (u128)numbers[caller].max_requests +
					 numbers[caller].max_credits &&
		    mirror[key].window_ns == 0 && assigned[key] < 0) {
			/* Not inserted: a new key with a cost that never fits
			 * is denied without an entry. */
			assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
			continue;
		}
		cl_algo_decide(&numbers[applied], &mirror[key], t, cost, &want,
			       NULL);
		if (!same_result(&r, &want))
			print_message("step %d key %s\n", step, keys[key]);
		assert_same_result(&r, &want);
		assert_int_equal(r.policy, applied);
		if (mirror[key].window_ns != 0)
			assert_entry_state(cl, keys[key], &mirror[key]);
	}
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	credlimit_close(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_default_is_id_zero),
		cmocka_unit_test(policy_define_assigns_stable_ids),
		cmocka_unit_test(policy_redefine_keeps_id),
		cmocka_unit_test(policy_rejects_invalid_names),
		cmocka_unit_test(policy_rejects_invalid_numbers),
		cmocka_unit_test(policy_accepts_boundary_numbers),
		cmocka_unit_test(policy_ids_run_out),
		cmocka_unit_test(policy_full_registers_no_window),
		cmocka_unit_test(policy_windows_run_out),
		cmocka_unit_test(policy_list_small_buffer),
		cmocka_unit_test(policy_get_unknown_ids),
		cmocka_unit_test_setup_teardown(policy_rdonly_handle,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(policy_shared_between_handles,
						named_setup, named_teardown),
		cmocka_unit_test(acquire_policy_uses_its_numbers),
		cmocka_unit_test(acquire_policy_unknown_ids),
		cmocka_unit_test(key_policy_wins_over_caller),
		cmocka_unit_test(key_policy_clamps_counts),
		cmocka_unit_test(key_policy_none_removes),
		cmocka_unit_test(key_policy_unknown_ids),
		cmocka_unit_test(policy_change_matches_algorithm),
		cmocka_unit_test(policy_window_change_converts),
		cmocka_unit_test(policy_random_changes_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
