/*
 * test_redis_lease.c - leases on Redis (mode 'l' of the decision script)
 *
 * One redis-server on 127.0.0.1 and a free port (redis_server.h) serves
 * every test, each on its own keys and policies, with expiry off because
 * the tests pass explicit times.  The tests cover grants and denials,
 * refunds of the current window, refunds after a roll capped by the
 * recorded headroom, rejected refunds, and calls that only return units.
 * A randomized test compares the script with a C model of leases, and
 * four simulated hosts spend only units that the C algorithm allows.
 */
#include <inttypes.h>
#include <string.h>

#include "algorithm.h"
#include "handle.h"
#include "redis/decide.h"
#include "redis/lease.h"
#include "redis/redis.h"
#include "redis_server.h"
#include "unit.h"

#define PREFIX "rdl:"

typedef unsigned __int128 u128;

static struct rs *server;
static credlimit_t *limiter;

static int define_policy(const char *name, const struct credlimit_policy *p)
{
	int id = credlimit_policy_define(limiter, name, p);

	if (id < 0)
		fail_msg("policy_define %s: %s", name, credlimit_strerror(id));
	return id;
}

/* Runs a lease on key at time now through cl_redis_lease_locked(). */
static int lease_at(const char *key, int policy, uint64_t want,
		    uint64_t cost, uint64_t refund, uint64_t refund_window,
		    uint64_t refund_window_ns, uint64_t now,
		    struct cl_redis_lease_reply *out)
{
	struct cl_redis_lease_request req = {
		.policy = policy,
		.want = want,
		.cost = cost,
		.refund = refund,
		.refund_window = refund_window,
		.refund_window_ns = refund_window_ns,
		.now_ns = &now,
	};

	memset(out, 0xa5, sizeof(*out));
	return cl_redis_lease_locked(limiter, key, strlen(key), &req, out);
}

/* A lease that must succeed. */
static struct cl_redis_lease_reply lease_ok(const char *key, int policy,
					    uint64_t want, uint64_t cost,
					    uint64_t refund,
					    uint64_t refund_window,
					    uint64_t refund_window_ns,
					    uint64_t now)
{
	struct cl_redis_lease_reply out;

	assert_int_equal(lease_at(key, policy, want, cost, refund,
				  refund_window, refund_window_ns, now, &out),
			 0);
	return out;
}

/* Sends argv, in which argv[1] is the Redis key, on the shared handle;
 * fails the test when Redis cannot be reached. */
static struct cl_reply *hash_command(int argc, const char **argv)
{
	struct cl_redis *st = limiter->backend_state;
	struct cl_reply *reply;
	size_t lens[12];
	int err;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	pthread_mutex_lock(&st->lock);
	err = cl_redis_command(st, argv[1], lens[1], argc, argv, lens, &reply);
	pthread_mutex_unlock(&st->lock);
	if (err < 0)
		fail_msg("Redis %s %s failed: %s", argv[0], argv[1],
			 credlimit_strerror(err));
	return reply;
}

static long long key_exists(const char *key)
{
	char name[64];
	struct cl_reply *reply;
	long long exists;

	snprintf(name, sizeof(name), PREFIX "{%s}", key);
	reply = hash_command(2, (const char *[]){ "EXISTS", name });
	assert_int_equal(reply->type, CL_REPLY_INTEGER);
	exists = reply->integer;
	cl_reply_free(reply);
	return exists;
}

/* Fields w, wn, u, c, hw, hr, hn of a customer's hash, as numbers. */
struct stored_state {
	bool present[7];
	uint64_t value[7];
};

static const char *const stored_fields[7] = { "w",  "wn", "u", "c",
					      "hw", "hr", "hn" };

static struct stored_state read_state(const char *key)
{
	const char *argv[9] = { "HMGET" };
	struct stored_state s;
	struct cl_reply *reply;
	char name[64];

	snprintf(name, sizeof(name), PREFIX "{%s}", key);
	argv[1] = name;
	for (int i = 0; i < 7; i++)
		argv[2 + i] = stored_fields[i];
	reply = hash_command(9, argv);
	assert_int_equal(reply->type, CL_REPLY_ARRAY);
	assert_int_equal(reply->elements, 7);
	for (int i = 0; i < 7; i++) {
		s.present[i] = reply->element[i]->type != CL_REPLY_NIL;
		s.value[i] = 0;
		if (s.present[i])
			assert_true(cl_redis_reply_u64(reply->element[i],
						       &s.value[i]));
	}
	cl_reply_free(reply);
	return s;
}

static int suite_setup(void **ctx)
{
	char uri[160];
	int err;

	server = rs_start(false);
	if (server == NULL)
		return -1;
	snprintf(uri, sizeof(uri),
		 "redis://127.0.0.1:%d/0?prefix=" PREFIX
		 "&timeout_ms=5000&connect_timeout_ms=5000&expire=off",
		 server->port);
	err = credlimit_open(uri, CREDLIMIT_OPEN_CREATE, NULL, &limiter);
	if (err < 0) {
		fprintf(stderr, "credlimit_open %s: %s\n", uri,
			credlimit_strerror(err));
		return -1;
	}
	return 0;
}

static int suite_teardown(void **ctx)
{
	credlimit_close(limiter);
	rs_free(server);
	return 0;
}

/* R = 100, C = 50, I = 0 on a new key, in window 10 of 1 s. */
static void lease_grant_cases(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, SEC, 50, 0);
	struct cl_redis_lease_reply r;
	uint64_t now = 10 * SEC + SEC / 2;
	int id = define_policy("grant", &p);

	r = lease_ok("grant", id, 32, 1, 0, 0, 0, now);
	assert_int_equal(r.result.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.result.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.result.policy, id);
	assert_int_equal(r.result.limit, 100);
	assert_int_equal(r.result.window_ns, SEC);
	assert_int_equal(r.granted, 32);
	assert_int_equal(r.result.remaining, 68);
	assert_int_equal(r.result.credits, 0);
	assert_int_equal(r.result.reset_after_ns, SEC / 2);
	assert_int_equal(r.result.retry_after_ns, 0);
	assert_int_equal(r.window, 10);
	assert_int_equal(r.redis_now_ns, now);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.spent, 0);

	/* More than is left: the grant is what is left. */
	r = lease_ok("grant", id, 500, 1, 0, 0, 0, now);
	assert_int_equal(r.result.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.result.flags, 0);
	assert_int_equal(r.granted, 68);
	assert_int_equal(r.result.remaining, 0);

	/* A cost that does not fit: denied until the next window. */
	r = lease_ok("grant", id, 10, 1, 0, 0, 0, now);
	assert_int_equal(r.result.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.granted, 0);
	assert_int_equal(r.result.retry_after_ns, SEC / 2);
	assert_int_equal(r.result.remaining, 0);

	/* 150 fits only after one more window: R plus R unused become 150
	 * with C = 50. */
	r = lease_ok("grant", id, 0, 150, 0, 0, 0, now);
	assert_int_equal(r.result.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.granted, 0);
	assert_int_equal(r.result.retry_after_ns, SEC / 2 + SEC);

	r = lease_ok("grant", id, 0, 151, 0, 0, 0, now);
	assert_int_equal(r.result.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.result.retry_after_ns, CREDLIMIT_NEVER);
	assert_int_equal(r.granted, 0);

	/* The roll to window 12 adds the 0 left of window 10 and R for the
	 * idle window 11, capped at C = 50.  A grant that reaches into
	 * credits reports them spent. */
	r = lease_ok("grant", id, 120, 1, 0, 0, 0, now + 2 * SEC);
	assert_int_equal(r.window, 12);
	assert_int_equal(r.granted, 120);
	assert_int_equal(r.spent, 20);
	assert_int_equal(r.result.credits, 30);
	assert_int_equal(r.result.remaining, 30);
}

/* Redis TIME when no time is passed, and the key's assigned policy. */
static void lease_time_and_policy(void **ctx)
{
	struct credlimit_policy p = unit_policy(5, 3600 * SEC, 0, 0);
	struct credlimit_policy assigned = unit_policy(40, 3600 * SEC, 0, 0);
	struct cl_redis_lease_request req = { .want = 3, .cost = 1 };
	struct cl_redis_lease_reply r;
	struct timespec ts;
	uint64_t wall;
	int assigned_id;

	req.policy = define_policy("time", &p);
	assert_int_equal(cl_redis_lease_locked(limiter, "time", 4, &req, &r),
			 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	wall = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
	assert_int_equal(r.granted, 3);
	assert_true(r.redis_now_ns <= wall);
	assert_true(r.redis_now_ns > wall - 60 * SEC);
	assert_int_equal(r.window, r.redis_now_ns / (3600 * SEC));

	assigned_id = define_policy("assigned", &assigned);
	assert_int_equal(credlimit_set_key_policy(limiter, "assigned", 8,
						  assigned_id),
			 0);
	req.want = 30;
	assert_int_equal(cl_redis_lease_locked(limiter, "assigned", 8, &req,
					       &r),
			 0);
	assert_int_equal(r.result.policy, assigned_id);
	assert_int_equal(r.result.limit, 40);
	assert_int_equal(r.granted, 30);

	req.now_ns = NULL;
	assert_int_equal(cl_redis_lease_locked(limiter, "", 0, &req, &r),
			 -EINVAL);
	assert_int_equal(cl_redis_lease_locked(limiter, "x", 1, NULL, &r),
			 -EINVAL);
	req.policy = CREDLIMIT_POLICY_MAX;
	assert_int_equal(cl_redis_lease_locked(limiter, "x", 1, &req, &r),
			 -ENOENT);
}

/* Take 32, give back 31 in the same window: 99 are left again. */
static void same_window_refund_restores(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, SEC, 50, 0);
	struct cl_redis_lease_reply r;
	uint64_t now = 20 * SEC;
	int id = define_policy("same", &p);

	r = lease_ok("same", id, 32, 1, 0, 0, 0, now);
	assert_int_equal(r.granted, 32);

	r = lease_ok("same", id, 0, 0, 31, 20, SEC, now + 1);
	assert_int_equal(r.refunded, 31);
	assert_int_equal(r.granted, 0);
	assert_int_equal(r.result.remaining, 99);
	/* The charge took base only, but the refund undoes credits first:
	 * the next roll gets the same c + (R - u). */
	assert_int_equal(r.result.credits, 31);

	r = lease_ok("same", id, 0, 0, 0, 0, 0, now + 2);
	assert_int_equal(r.result.remaining, 99);
	r = lease_ok("same", id, 200, 1, 0, 0, 0, now + 3);
	assert_int_equal(r.granted, 99);
	assert_int_equal(r.result.remaining, 0);

	/* A refund of more than was taken stops at R + C, with c <= C. */
	r = lease_ok("same", id, 0, 0, 1000, 20, SEC, now + 4);
	assert_int_equal(r.refunded, 150);
	assert_int_equal(r.result.remaining, 150);
	assert_int_equal(r.result.credits, 50);
}

/*
 * C = 10, I = 10, R = 10.  In window 0 a host takes 8 and spends 1: c +
 * (R - u) = 12 >= C, so the roll to window 1 keeps only C and records no
 * headroom.  Another host spends credits in window 1.  The 7 unspent
 * units of window 0 would have been lost at the roll anyway: a refund
 * that added them would admit more than the algorithm allows.
 */
static void late_refund_after_full_roll(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, SEC, 10, 10);
	struct cl_algo_state replay = { 0 };
	struct credlimit_result expected;
	struct cl_redis_lease_reply r;
	struct stored_state s;
	int id = define_policy("full", &p);

	r = lease_ok("full", id, 8, 1, 0, 0, 0, SEC / 2);
	assert_int_equal(r.granted, 8);
	cl_algo_decide(&p, &replay, SEC / 2, 1, &expected, NULL);
	assert_int_equal(expected.verdict, CREDLIMIT_ALLOWED);

	r = lease_ok("full", id, 15, 15, 0, 0, 0, SEC + SEC / 2);
	assert_int_equal(r.granted, 15);
	assert_int_equal(r.spent, 5);
	cl_algo_decide(&p, &replay, SEC + SEC / 2, 15, &expected, NULL);
	assert_int_equal(expected.verdict, CREDLIMIT_ALLOWED);
	s = read_state("full");
	assert_true(s.present[4] && s.present[5] && s.present[6]);
	assert_int_equal(s.value[4], 0);
	assert_int_equal(s.value[5], 0);
	assert_int_equal(s.value[6], SEC);

	r = lease_ok("full", id, 0, 0, 7, 0, SEC, SEC + SEC / 2 + 1);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.result.remaining, 5);

	/* What is left is exactly what the algorithm still allows. */
	r = lease_ok("full", id, 100, 1, 0, 0, 0, SEC + SEC / 2 + 2);
	assert_int_equal(r.granted, 5);
	cl_algo_decide(&p, &replay, SEC + SEC / 2 + 2, 5, &expected, NULL);
	assert_int_equal(expected.verdict, CREDLIMIT_ALLOWED);
	cl_algo_decide(&p, &replay, SEC + SEC / 2 + 2, 1, &expected, NULL);
	assert_int_equal(expected.verdict, CREDLIMIT_DENIED);
}

/* R = 10, I = 0: window 0 ends with 8 taken, so x = c + (R - u) = 2. */
static void late_refund_within_headroom(void **ctx)
{
	struct credlimit_policy wide = unit_policy(10, SEC, 50, 0);
	struct credlimit_policy narrow = unit_policy(10, SEC, 5, 0);
	struct credlimit_policy six = unit_policy(10, SEC, 6, 0);
	struct cl_redis_lease_reply r;
	struct stored_state s;
	int id;

	/* x + 7 <= C: the whole refund becomes credits. */
	id = define_policy("wide", &wide);
	lease_ok("wide", id, 8, 1, 0, 0, 0, SEC / 2);
	r = lease_ok("wide", id, 0, 0, 7, 0, SEC, SEC + 1);
	assert_int_equal(r.refunded, 7);
	assert_int_equal(r.result.credits, 9);
	assert_int_equal(r.result.remaining, 19);
	s = read_state("wide");
	assert_int_equal(s.value[4], 0);
	assert_int_equal(s.value[5], 41);
	assert_int_equal(s.value[6], SEC);

	/* x < C < x + 7: only C - x = 3 come back. */
	id = define_policy("narrow", &narrow);
	lease_ok("narrow", id, 8, 1, 0, 0, 0, SEC / 2);
	r = lease_ok("narrow", id, 0, 0, 7, 0, SEC, SEC + 1);
	assert_int_equal(r.refunded, 3);
	assert_int_equal(r.result.credits, 5);

	/* Two hosts took 5 and 3; hr = 6 - 2 = 4 covers both refunds
	 * together. */
	id = define_policy("six", &six);
	lease_ok("six", id, 5, 1, 0, 0, 0, SEC / 2);
	lease_ok("six", id, 3, 1, 0, 0, 0, SEC / 2);
	r = lease_ok("six", id, 0, 0, 3, 0, SEC, SEC + 1);
	assert_int_equal(r.refunded, 3);
	r = lease_ok("six", id, 0, 0, 3, 0, SEC, SEC + 2);
	assert_int_equal(r.refunded, 1);
	r = lease_ok("six", id, 0, 0, 3, 0, SEC, SEC + 3);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.result.credits, 6);
	assert_int_equal(read_state("six").value[5], 0);
}

/* Refunds of windows before hw, of another window length, or of a window
 * not yet reached change nothing. */
static void old_refunds_rejected(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, SEC, 50, 0);
	struct credlimit_policy longer = unit_policy(10, 2 * SEC, 50, 0);
	struct credlimit_result peek;
	struct cl_redis_lease_reply r;
	struct stored_state s;
	int id = define_policy("old", &p);

	lease_ok("old", id, 8, 1, 0, 0, 0, SEC / 2);
	lease_ok("old", id, 1, 1, 0, 0, 0, SEC + SEC / 2);
	/* Window 1 ends with x = 2 + 9: hw = 1, hr = 39. */
	r = lease_ok("old", id, 1, 1, 0, 0, 0, 2 * SEC + SEC / 2);
	assert_int_equal(r.result.remaining, 20);
	s = read_state("old");
	assert_int_equal(s.value[4], 1);

	r = lease_ok("old", id, 0, 0, 7, 0, SEC, 2 * SEC + SEC / 2);
	assert_int_equal(r.refunded, 0);
	r = lease_ok("old", id, 0, 0, 1, 1, SEC + 1, 2 * SEC + SEC / 2);
	assert_int_equal(r.refunded, 0);
	r = lease_ok("old", id, 0, 0, 1, 5, SEC, 2 * SEC + SEC / 2);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.result.remaining, 20);
	r = lease_ok("old", id, 0, 0, 1, 1, SEC, 2 * SEC + SEC / 2);
	assert_int_equal(r.refunded, 1);
	assert_int_equal(r.result.remaining, 21);

	/* A peek in a later window stores no roll and no headroom. */
	assert_int_equal(credlimit_peek(limiter, "old", 3, 5 * SEC, &peek), 0);
	assert_int_equal(read_state("old").value[4], 1);
	assert_int_equal(read_state("old").value[0], 2);

	/* After a change of window length, units of the old length earn
	 * nothing, even from the window just rolled. */
	lease_ok("old", id, 5, 1, 0, 0, 0, 3 * SEC + SEC / 2);
	define_policy("old", &longer);
	r = lease_ok("old", id, 0, 0, 5, 3, SEC, 4 * SEC + SEC / 2);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.window, 2);
	s = read_state("old");
	assert_int_equal(s.value[1], 2 * SEC);
	assert_int_equal(s.value[5], 0);
	assert_int_equal(s.value[6], 2 * SEC);
}

/* A call that only returns units never creates a customer. */
static void return_only_missing_key(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, SEC, 5, 5);
	struct cl_redis_lease_reply r;
	int id = define_policy("ret", &p);

	assert_int_equal(lease_at("ret", id, 0, 0, 5, 3, SEC, 3 * SEC, &r),
			 -ENOENT);
	assert_int_equal(key_exists("ret"), 0);
	assert_int_equal(lease_at("ret", id, 0, 0, 0, 0, 0, 3 * SEC, &r),
			 -ENOENT);
	assert_int_equal(key_exists("ret"), 0);

	/* A refund on a new state is not accepted: nothing was charged. */
	r = lease_ok("ret", id, 1, 1, 5, 3, SEC, 3 * SEC);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.result.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.result.remaining, 14);
	assert_int_equal(key_exists("ret"), 1);

	r = lease_ok("ret", id, 0, 0, 1, 3, SEC, 3 * SEC + 1);
	assert_int_equal(r.refunded, 1);
	assert_int_equal(r.result.remaining, 15);
	assert_int_equal(r.result.flags, 0);
}

/* A reset of an assigned key keeps the assignment and drops the state
 * with its headroom: refunds of before the reset earn nothing. */
static void reset_drops_headroom(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, SEC, 50, 0);
	struct cl_redis_lease_reply r;
	struct stored_state s;
	int id = define_policy("reset", &p);

	assert_int_equal(credlimit_set_key_policy(limiter, "reset", 5, id), 0);
	lease_ok("reset", id, 8, 1, 0, 0, 0, SEC / 2);
	lease_ok("reset", id, 1, 1, 0, 0, 0, SEC + SEC / 2);
	s = read_state("reset");
	assert_true(s.present[4] && s.present[5] && s.present[6]);

	assert_int_equal(credlimit_reset(limiter, "reset", 5), 0);
	assert_int_equal(key_exists("reset"), 1);
	s = read_state("reset");
	for (int i = 0; i < 7; i++)
		assert_false(s.present[i]);

	r = lease_ok("reset", id, 1, 1, 7, 0, SEC, SEC + SEC / 2);
	assert_int_equal(r.refunded, 0);
	assert_int_equal(r.result.remaining, 9);
	assert_false(read_state("reset").present[4]);
}

/* The on_error action applied by another layer through
 * cl_redis_fallback(). */
static void fallback_applies_on_error(void **ctx)
{
	static const char *const actions[] = { "deny", "allow" };
	struct credlimit_result result;

	assert_int_equal(cl_redis_fallback(NULL, 0, "k", 1, 1, 0, -ETIMEDOUT,
					   &result),
			 -EINVAL);
	for (int i = 0; i < 2; i++) {
		struct credlimit_stats stats;
		credlimit_t *cl;
		char uri[160];

		snprintf(uri, sizeof(uri),
			 "redis://127.0.0.1:%d/0?prefix=" PREFIX
			 "&retry_min_ms=250&on_error=%s",
			 server->port, actions[i]);
		assert_int_equal(credlimit_open(uri, 0, NULL, &cl), 0);
		assert_int_equal(cl_redis_fallback(cl, 0, "k", 1, 1, 0,
						   -ETIMEDOUT, &result),
				 0);
		assert_true(result.flags & CREDLIMIT_RESULT_FALLBACK);
		assert_int_equal(credlimit_stats(cl, &stats), 0);
		if (i == 0) {
			assert_int_equal(result.verdict, CREDLIMIT_DENIED);
			assert_int_equal(result.retry_after_ns, 250 * MS);
			assert_int_equal(stats.fallback_denied, 1);
		} else {
			assert_int_equal(result.verdict, CREDLIMIT_ALLOWED);
			assert_true(result.flags & CREDLIMIT_RESULT_UNTRACKED);
			assert_int_equal(stats.fallback_allowed, 1);
		}
		credlimit_close(cl);
	}
}

/*
 * The lease algorithm in C: the state of one customer's hash as the
 * script stores it, with the headroom of the last roll.
 */
struct model {
	bool stored; /* the hash contains w, wn, u, c */
	uint64_t window;
	uint64_t window_ns;
	uint32_t used;
	uint32_t credits;
	bool has_headroom; /* the hash contains hw, hr, hn */
	uint64_t headroom_window;
	uint64_t headroom_window_ns;
	uint32_t headroom;
	/* R, W and C of the last call that stored (field n): a refund
	 * under other numbers is not accepted. */
	struct credlimit_policy numbers;
};

static bool same_numbers(const struct credlimit_policy *a,
			 const struct credlimit_policy *b)
{
	return a->max_requests == b->max_requests &&
	       a->window_ns == b->window_ns && a->max_credits == b->max_credits;
}

static void model_set_headroom(struct model *m, uint64_t window,
			       uint64_t window_ns, uint32_t headroom)
{
	m->has_headroom = true;
	m->headroom_window = window;
	m->headroom_window_ns = window_ns;
	m->headroom = headroom;
}

/* Rolls *m to the window of now as cl_algo_roll() does, recording the
 * headroom of the roll as the script does. */
static void model_roll(const struct credlimit_policy *p, struct model *m,
		       uint64_t now)
{
	uint64_t r = p->max_requests, c = p->max_credits, w = p->window_ns;
	bool same = m->window_ns == w;
	uint64_t now_window;
	u128 start;

	if (!m->stored) {
		m->window = now / w;
		m->window_ns = w;
		m->used = 0;
		m->credits = p->initial_credits;
		return;
	}
	if (!same) {
		m->window = (uint64_t)((u128)m->window * m->window_ns / w);
		m->window_ns = w;
		model_set_headroom(m, m->window, w, 0);
	}
	if (m->used > r)
		m->used = (uint32_t)r;
	if (m->credits > c)
		m->credits = (uint32_t)c;

	start = (u128)m->window * w;
	now_window = start <= now && now - start < w ? m->window : now / w;
	if (now_window > m->window) {
		u128 x = (u128)m->credits + (r - m->used) +
			 (u128)(now_window - m->window - 1) * r;

		model_set_headroom(m, m->window, w,
				   same && x < c ? (uint32_t)(c - x) : 0);
		m->credits = x < c ? (uint32_t)x : (uint32_t)c;
		m->window = now_window;
		m->used = 0;
	}
	if (m->has_headroom && m->headroom > c)
		m->headroom = (uint32_t)c;
}

/* Applies a refund to a rolled state; returns the units accepted, and
 * sets *late when they were charged before the last roll. */
static uint64_t model_refund(const struct credlimit_policy *p,
			     struct model *m, bool was_stored,
			     uint64_t refund, uint64_t refund_window,
			     uint64_t refund_window_ns, bool *late)
{
	uint64_t r = p->max_requests, c = p->max_credits;
	uint64_t before, added;

	if (refund == 0 || !was_stored || !same_numbers(&m->numbers, p))
		return 0;
	if (refund_window_ns == p->window_ns && refund_window == m->window) {
		before = r - m->used + m->credits;
		added = refund < c - m->credits ? refund : c - m->credits;
		m->credits += (uint32_t)added;
		if (refund - added >= m->used)
			m->used = 0;
		else
			m->used -= (uint32_t)(refund - added);
		return r - m->used + m->credits - before;
	}
	if (m->has_headroom && refund_window_ns == m->headroom_window_ns &&
	    refund_window == m->headroom_window) {
		before = m->credits;
		added = refund < m->headroom ? refund : m->headroom;
		if (m->credits + added > c)
			m->credits = (uint32_t)c;
		else
			m->credits += (uint32_t)added;
		m->headroom -= (uint32_t)added;
		*late = true;
		return m->credits - before;
	}
	return 0;
}

/* The expected reply of a lease or decision. */
struct expected {
	int err;
	struct credlimit_result result;
	uint32_t used;
	uint32_t spent;
	uint64_t window;
	uint64_t granted;
	uint64_t refunded;
	bool late; /* the refund was of the window before the last roll */
};

/* Applies a lease to *m as the script should; returns the reply expected. */
static struct expected model_lease(const struct credlimit_policy *p,
				   struct model *m, uint64_t now,
				   const struct cl_redis_lease_request *req)
{
	struct expected e = { 0 };
	struct model s = *m;
	struct cl_algo_state a;
	uint64_t base;
	uint64_t left;

	if (req->want == 0 && req->cost == 0 && !m->stored) {
		e.err = -ENOENT;
		return e;
	}
	model_roll(p, &s, now);
	e.refunded = model_refund(p, &s, m->stored, req->refund,
				  req->refund_window, req->refund_window_ns,
				  &e.late);

	/* The verdict, reset and retry of the cost on the rolled state, for
	 * which cl_algo_decide() rolls nothing more. */
	a.window = s.window;
	a.window_ns = p->window_ns;
	a.used = s.used;
	a.credits = s.credits;
	cl_algo_decide(p, &a, now, req->cost, &e.result, NULL);

	base = p->max_requests - s.used;
	left = base + s.credits;
	if (e.result.verdict == CREDLIMIT_ALLOWED) {
		e.granted = req->want > req->cost ? req->want : req->cost;
		if (e.granted > left)
			e.granted = left;
		if (e.granted <= base) {
			s.used += (uint32_t)e.granted;
		} else {
			e.spent = (uint32_t)(e.granted - base);
			s.credits -= e.spent;
			s.used = p->max_requests;
		}
	}
	e.result.credits = s.credits;
	e.result.remaining = (uint64_t)(p->max_requests - s.used) + s.credits;
	e.result.flags = m->stored ? 0 : CREDLIMIT_RESULT_NEW;
	e.used = s.used;
	e.window = s.window;
	s.stored = true;
	s.numbers = *p;
	*m = s;
	return e;
}

/* Applies a decision (mode 'd') to *m; returns the reply expected. */
static struct expected model_decide(const struct credlimit_policy *p,
				    struct model *m, uint64_t now,
				    uint64_t cost)
{
	struct expected e = { 0 };
	struct model s = *m;
	struct cl_algo_state a;

	model_roll(p, &s, now);
	a.window = s.window;
	a.window_ns = p->window_ns;
	a.used = s.used;
	a.credits = s.credits;
	e.result.flags = m->stored ? 0 : CREDLIMIT_RESULT_NEW;
	if (cl_algo_decide(p, &a, now, cost, &e.result, &e.spent)) {
		s.used = a.used;
		s.credits = a.credits;
		s.stored = true;
		s.numbers = *p;
		*m = s;
	}
	e.used = a.used;
	e.window = a.window;
	return e;
}

/* Fails unless the stored hash equals the model. */
static void check_stored(const char *key, const struct model *m,
			 const char *where)
{
	struct stored_state s = read_state(key);
	uint64_t expected[7] = {
		m->window,	    m->window_ns,	  m->used,
		m->credits,	    m->headroom_window, m->headroom,
		m->headroom_window_ns,
	};

	for (int i = 0; i < 7; i++) {
		bool present = i < 4 ? m->stored
				     : m->stored && m->has_headroom;

		if (s.present[i] != present)
			fail_msg("%s: field %s %s", where, stored_fields[i],
				 present ? "missing" : "present");
		if (present && s.value[i] != expected[i])
			fail_msg("%s: field %s = %" PRIu64 ", expected %" PRIu64,
				 where, stored_fields[i], s.value[i],
				 expected[i]);
	}
}

static void check_reply(const struct expected *e, int err,
			const struct credlimit_result *got, uint64_t spent,
			uint64_t window, const char *where)
{
	if (err != e->err)
		fail_msg("%s: error %d, expected %d", where, err, e->err);
	if (err < 0)
		return;
	if (got->verdict != e->result.verdict ||
	    got->credits != e->result.credits ||
	    got->remaining != e->result.remaining ||
	    got->reset_after_ns != e->result.reset_after_ns ||
	    got->retry_after_ns != e->result.retry_after_ns ||
	    got->flags != e->result.flags || spent != e->spent ||
	    window != e->window)
		fail_msg("%s: verdict %d/%d credits %" PRIu32 "/%" PRIu32
			 " remaining %" PRIu64 "/%" PRIu64 " reset %" PRIu64
			 "/%" PRIu64 " retry %" PRIu64 "/%" PRIu64
			 " flags %u/%u spent %" PRIu64 "/%" PRIu32
			 " window %" PRIu64 "/%" PRIu64,
			 where, got->verdict, e->result.verdict, got->credits,
			 e->result.credits, got->remaining,
			 e->result.remaining, got->reset_after_ns,
			 e->result.reset_after_ns, got->retry_after_ns,
			 e->result.retry_after_ns, got->flags,
			 e->result.flags, spent, e->spent, window, e->window);
}

/* xorshift64: the next number of a fixed pseudo-random sequence. */
static uint64_t next_random(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

#define NEXT() next_random(seed)

/* Moves now on by a step in the window, by several windows, back, or
 * not at all. */
static void advance_time(uint64_t *seed, uint64_t *now, uint64_t w)
{
	switch (NEXT() % 8) {
	case 0:
		break;
	case 1:
		*now -= *now > 2 * w ? NEXT() % (2 * w) : 0;
		break;
	case 2:
		if (*now < UINT64_MAX - 8 * w)
			*now += w * (2 + NEXT() % 5);
		break;
	default:
		if (*now < UINT64_MAX - 2 * w)
			*now += NEXT() % w;
		break;
	}
}

/* Fills a random lease: counts below, at and far above R + C, returns
 * only, and refunds of the current, stored, recorded, older and future
 * windows and of other window lengths. */
static void random_lease(uint64_t *seed, const struct credlimit_policy *p,
			 const struct model *m, uint64_t now,
			 const uint64_t *windows, size_t window_count,
			 struct cl_redis_lease_request *req)
{
	uint64_t w = p->window_ns;
	uint64_t total = (uint64_t)p->max_requests + p->max_credits;

	switch (NEXT() % 5) {
	case 0:
		req->want = 0;
		break;
	case 1:
		req->want = NEXT();
		break;
	default:
		req->want = NEXT() % (total + 2);
		break;
	}
	switch (NEXT() % 6) {
	case 0:
		req->cost = NEXT();
		break;
	case 1:
		req->cost = total + 1;
		break;
	default:
		req->cost = NEXT() % (p->max_requests / 2 + 2);
		break;
	}
	if (NEXT() % 5 == 0) {
		req->want = 0;
		req->cost = 0;
	}

	req->refund = NEXT() % 6 == 0 ? NEXT() : NEXT() % (total + 2);
	req->refund_window_ns = w;
	switch (NEXT() % 7) {
	case 0:
		req->refund_window = now / w;
		break;
	case 1:
	case 2:
		req->refund_window = m->window;
		req->refund_window_ns = m->stored ? m->window_ns : w;
		break;
	case 3:
		req->refund_window = m->headroom_window;
		req->refund_window_ns = m->headroom_window_ns;
		break;
	case 4:
		req->refund_window = m->window - 1 - NEXT() % 3;
		break;
	case 5:
		req->refund_window = now / w + NEXT() % 3;
		req->refund_window_ns = windows[NEXT() % window_count];
		break;
	default:
		req->refund_window = NEXT();
		break;
	}
}

/* Runs a decision on key through the script and on the model. */
static void check_decision(const struct credlimit_policy *p, int id,
			   struct model *m, const char *key, uint64_t now,
			   uint64_t cost, const char *where)
{
	struct cl_redis *st = limiter->backend_state;
	struct cl_redis_decision d;
	struct expected e = model_decide(p, m, now, cost);
	int err;

	pthread_mutex_lock(&st->lock);
	err = cl_redis_run(st, 'd', id, key, strlen(key), cost, &now, &d);
	pthread_mutex_unlock(&st->lock);
	check_reply(&e, err, &d.result, d.spent, d.window, where);
	if (d.used != e.used)
		fail_msg("%s: used %" PRIu32 ", expected %" PRIu32, where,
			 d.used, e.used);
}

/* Runs a lease on key through the script and on the model; returns the
 * model's expected reply. */
static struct expected check_lease(const struct credlimit_policy *p,
				   int id, struct model *m, const char *key,
				   uint64_t now,
				   const struct cl_redis_lease_request *req,
				   const char *where)
{
	struct expected e = model_lease(p, m, now, req);
	struct cl_redis_lease_reply reply;
	int err;

	err = cl_redis_lease_locked(limiter, key, strlen(key), req, &reply);
	check_reply(&e, err, &reply.result, reply.spent, reply.window, where);
	if (err < 0)
		return e;
	if (reply.granted != e.granted || reply.refunded != e.refunded ||
	    reply.redis_now_ns != now || reply.result.policy != id ||
	    reply.result.limit != p->max_requests ||
	    reply.result.window_ns != p->window_ns)
		fail_msg("%s: granted %" PRIu64 "/%" PRIu64
			 " refunded %" PRIu64 "/%" PRIu64 " now %" PRIu64
			 " policy %d/%d",
			 where, reply.granted, e.granted, reply.refunded,
			 e.refunded, reply.redis_now_ns, reply.result.policy,
			 id);
	return e;
}

/*
 * Random leases, returns, decisions, resets and policy changes at times
 * that advance, skip windows and go back: the script must agree with the
 * model on every reply field and on every field it stores.
 */
static void lease_script_matches_model(void **ctx)
{
	static const uint64_t windows[] = {
		MS, 7 * MS + 3, SEC, 3600 * SEC + 1, CREDLIMIT_WINDOW_MAX_NS,
	};
	static const uint32_t counts[] = { 0, 1, 2, 3, 7, 10, 100, 65536,
					   UINT32_MAX };
	uint64_t state = 0x9e3779b97f4a7c15ULL;
	uint64_t *seed = &state;
	int steps = 0, refunds_accepted = 0, late_refunds = 0;

	for (int run = 0; run < 40; run++) {
		struct credlimit_policy p;
		struct model m = { 0 };
		char key[16];
		uint64_t now;
		int id;

		snprintf(key, sizeof(key), "m%d", run);
		p.max_requests = counts[1 + NEXT() % 8];
		p.max_credits = counts[NEXT() % 9];
		p.initial_credits =
			(uint32_t)(NEXT() % ((uint64_t)p.max_credits + 1));
		p.window_ns = windows[NEXT() % 4];
		if (NEXT() % 4 == 0)
			now = UINT64_MAX - NEXT() % (1000 * SEC);
		else
			now = UINT64_C(1700000000) * SEC + NEXT() % (100 * SEC);
		id = define_policy("model", &p);

		for (int step = 0; step < 80; step++, steps++) {
			struct cl_redis_lease_request req = { .policy = id };
			struct cl_redis_decision d;
			struct expected e;
			char where[96];
			int err;

			if (NEXT() % 12 == 0) {
				p.window_ns = windows[NEXT() % 5];
				p.max_requests = counts[1 + NEXT() % 8];
				p.max_credits = counts[NEXT() % 9];
				p.initial_credits = 0;
				id = define_policy("model", &p);
				req.policy = id;
			}
			advance_time(seed, &now, p.window_ns);
			snprintf(where, sizeof(where),
				 "run %d step %d R=%" PRIu32 " C=%" PRIu32
				 " W=%" PRIu64 " now=%" PRIu64,
				 run, step, p.max_requests, p.max_credits,
				 p.window_ns, now);

			switch (NEXT() % 10) {
			case 0:
				err = cl_redis_run_locked(limiter, true, 'r',
							  key, strlen(key), 0,
							  now, &d);
				if (err != (m.stored ? 0 : -ENOENT))
					fail_msg("%s: reset returned %d", where,
						 err);
				memset(&m, 0, sizeof(m));
				break;
			case 1:
			case 2:
			case 3:
				req.cost = NEXT() % 4 == 0
						   ? NEXT()
						   : NEXT() % (p.max_requests / 2 + 2);
				check_decision(&p, id, &m, key, now, req.cost,
					       where);
				break;
			default:
				random_lease(seed, &p, &m, now, windows, 5,
					     &req);
				req.now_ns = &now;
				e = check_lease(&p, id, &m, key, now, &req,
						where);
				if (e.refunded > 0)
					refunds_accepted++;
				if (e.late)
					late_refunds++;
				break;
			}
			check_stored(key, &m, where);
		}
	}
	assert_int_equal(steps, 3200);
	/* The random walk reached both kinds of accepted refund. */
	assert_true(refunds_accepted > 100);
	assert_true(late_refunds > 10);
}

#define HOSTS 4

/* Counts a late refund as accepted in full (counts[0]), in part
 * (counts[1]) or not at all (counts[2]). */
static void count_late_refund(int counts[3], uint64_t refund,
			      uint64_t refunded)
{
	if (refunded == refund)
		counts[0]++;
	else if (refunded > 0)
		counts[1]++;
	else
		counts[2]++;
}

/* One host's lease: units taken and not yet spent, and a refund owed. */
struct host {
	uint64_t balance;
	uint64_t window; /* window the balance was charged in */
	uint64_t owed;   /* units of an ended window, not yet given back */
	uint64_t owed_window;
};

/* Takes a lease for a request of `cost` on behalf of host h, giving back
 * what it owes from an ended window, else its unspent balance. */
static bool host_lease(struct host *h, const char *key, int id,
		       const struct credlimit_policy *p, uint64_t now,
		       uint64_t cost, uint64_t want, int counts[3])
{
	struct cl_redis_lease_reply r;
	uint64_t refund = h->owed, refund_window = h->owed_window;

	if (refund == 0) {
		refund = h->balance;
		refund_window = h->window;
		h->balance = 0;
	}
	r = lease_ok(key, id, want, cost, refund, refund_window, p->window_ns,
		     now);
	assert_int_equal(r.window, now / p->window_ns);
	if (h->owed > 0) {
		count_late_refund(counts, h->owed, r.refunded);
		h->owed = 0;
	}
	if (r.result.verdict != CREDLIMIT_ALLOWED)
		return false;
	if (h->balance > 0 && h->window != r.window)
		fail_msg("host kept units of window %" PRIu64, h->window);
	h->balance += r.granted - cost;
	h->window = r.window;
	return true;
}

/*
 * Four hosts take leases, spend units only in the window they were
 * charged in, and give back the rest: with their next lease, or with a
 * call that only returns units once the window has ended.  At every phase
 * the C algorithm, replaying exactly the requests spent so far at the
 * same times, must allow each of them.
 */
static void hosts_never_over_admit(void **ctx)
{
	static const struct credlimit_policy policies[] = {
		{ .max_requests = 20, .window_ns = SEC, .max_credits = 30,
		  .initial_credits = 10 },
		{ .max_requests = 10, .window_ns = SEC, .max_credits = 5,
		  .initial_credits = 0 },
		{ .max_requests = 40, .window_ns = SEC, .max_credits = 100,
		  .initial_credits = 100 },
	};
	uint64_t state = 0x1f83d9abfb41bd6bULL;
	uint64_t *seed = &state;
	/* Late refunds accepted in full, in part, and not at all. */
	int late[3] = { 0 };
	int denied = 0, spent_total = 0;

	for (size_t run = 0; run < 3; run++) {
		const struct credlimit_policy *p = &policies[run];
		struct cl_algo_state replay = { 0 };
		struct host hosts[HOSTS] = { { 0 } };
		uint64_t now = 1000 * SEC + 1;
		uint64_t w = p->window_ns;
		unsigned busy = 1;
		char name[16];
		int id;

		snprintf(name, sizeof(name), "hosts%zu", run);
		id = define_policy(name, p);

		for (int phase = 0; phase < 600; phase++) {
			uint64_t spent[HOSTS * 8];
			int spent_count = 0;
			uint64_t before = now / w;

			switch (NEXT() % 10) {
			case 0:
				break;
			case 1:
				now += w * (2 + NEXT() % 2);
				break;
			case 2:
			case 3:
			case 4:
				now = (now / w + 1) * w + NEXT() % (w / 4);
				break;
			default:
				now += NEXT() % (w / 4);
				break;
			}
			if (now / w != before)
				busy = (unsigned)(NEXT() % 3);

			for (int turn = 0; turn < HOSTS; turn++) {
				struct host *h =
					&hosts[(phase + turn) % HOSTS];
				unsigned requests;

				if (h->balance > 0 && h->window != now / w) {
					h->owed = h->balance;
					h->owed_window = h->window;
					h->balance = 0;
				}
				if (h->owed > 0 && NEXT() % 2 == 0) {
					struct cl_redis_lease_reply r;

					r = lease_ok(name, id, 0, 0, h->owed,
						     h->owed_window, w, now);
					count_late_refund(late, h->owed,
							  r.refunded);
					h->owed = 0;
				}

				requests = busy == 0   ? NEXT() % 2
					   : busy == 1 ? NEXT() % 4
						       : 2 + NEXT() % 6;
				for (unsigned i = 0; i < requests; i++) {
					uint64_t cost = 1 + NEXT() % 4;

					if (h->balance >= cost &&
					    h->window == now / w) {
						h->balance -= cost;
					} else if (!host_lease(h, name, id, p,
							       now, cost,
							       4 + NEXT() % 12,
							       late)) {
						denied++;
						continue;
					}
					spent[spent_count++] = cost;
				}
			}

			for (int i = 0; i < spent_count; i++) {
				struct credlimit_result result;

				cl_algo_decide(p, &replay, now, spent[i],
					       &result, NULL);
				if (result.verdict != CREDLIMIT_ALLOWED)
					fail_msg("run %zu phase %d: request %d "
						 "of %d (cost %" PRIu64
						 ") spent, but the algorithm "
						 "denies it at %" PRIu64,
						 run, phase, i, spent_count,
						 spent[i], now);
				spent_total += (int)spent[i];
			}
		}
	}
	/* The phases met contention and every kind of late refund. */
	assert_true(denied > 100);
	assert_true(spent_total > 10000);
	assert_true(late[0] > 10);
	assert_true(late[1] > 10);
	assert_true(late[2] > 10);
}
#undef NEXT

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lease_grant_cases),
		cmocka_unit_test(lease_time_and_policy),
		cmocka_unit_test(same_window_refund_restores),
		cmocka_unit_test(late_refund_after_full_roll),
		cmocka_unit_test(late_refund_within_headroom),
		cmocka_unit_test(old_refunds_rejected),
		cmocka_unit_test(return_only_missing_key),
		cmocka_unit_test(reset_drops_headroom),
		cmocka_unit_test(fallback_applies_on_error),
		cmocka_unit_test(lease_script_matches_model),
		cmocka_unit_test(hosts_never_over_admit),
	};

	rs_require_server();
	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
