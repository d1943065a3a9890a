/*
 * test_redis.c - the Redis backend against real redis-server processes
 *
 * Every test starts its own server on 127.0.0.1 and a free port
 * (redis_server.h) and stops it, also when an assertion fails.  The tests
 * cover URI parsing, cluster slots of hash tags (against a server's CLUSTER
 * KEYSLOT), decisions through the public API, a randomized comparison of
 * the decision script with the C algorithm, exact totals from several
 * processes on one key, expiry, NOSCRIPT after SCRIPT FLUSH, and the
 * failure actions while the server is paused (SIGSTOP), killed and
 * restarted.  Shared-memory limiters these tests make are named rds-*.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "algorithm.h"
#include "handle.h"
#include "redis/decide.h"
#include "redis/redis.h"
#include "redis/uri.h"
#include "redis_server.h"

#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

static uint64_t now_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* Messages of the log callback, counted by level. */
struct log_count {
	int total;
	int warnings;
	char last[256];
};

static void count_log(void *context, int level, const char *message)
{
	struct log_count *count = context;

	count->total++;
	if (level == CREDLIMIT_LOG_WARNING)
		count->warnings++;
	snprintf(count->last, sizeof(count->last), "%s", message);
}

static credlimit_t *open_on(const struct rs *s, const char *options,
			    const struct credlimit_policy *p,
			    struct log_count *log)
{
	struct credlimit_options o;
	credlimit_t *cl = NULL;
	char uri[256];
	int err;

	credlimit_options_init(&o);
	if (p != NULL)
		o.default_policy = *p;
	if (log != NULL) {
		o.log = count_log;
		o.log_context = log;
	}
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/0?prefix=rds:%s%s",
		 s->port, options[0] != '\0' ? "&" : "", options);
	err = credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl);
	if (err < 0)
		fprintf(stderr, "credlimit_open %s: %s\n", uri,
			credlimit_strerror(err));
	assert_int_equal(err, 0);
	return cl;
}

static struct credlimit_policy policy_of(uint32_t r, uint64_t w, uint32_t c,
					 uint32_t i)
{
	struct credlimit_policy p = {
		.max_requests = r,
		.window_ns = w,
		.max_credits = c,
		.initial_credits = i,
	};

	return p;
}

static void uri_parse_cases(void **ctx)
{
	static const char *const invalid[] = {
		"redis://",
		"redis://h:0",
		"redis://h:65536",
		"redis://h:12x",
		"redis://a:1,b:2",
		"redis://h/x",
		"redis://h?prefix=a{b",
		"redis://h?prefix=a*",
		"redis://h?timeout_ms=0",
		"redis://h?timeout_ms=",
		"redis://h?on_error=maybe",
		"redis://h?on_error=local",
		"redis://h?local=x",
		"redis://h?unknown=1",
		"redis://h?expire=no",
		"redis://h?retry_min_ms=500&retry_max_ms=100",
		"redis+cluster://h:1/3",
		"redis+shards://h:1,",
		"redis://user@h:1",
		"redis://[::1]:1",
		"http://h",
	};
	struct cl_redis_config c;
	char why[256];

	assert_int_equal(cl_redis_uri_parse("redis://127.0.0.1", &c, why), 0);
	assert_int_equal(c.mode, CL_REDIS_SINGLE);
	assert_string_equal(c.nodes[0].host, "127.0.0.1");
	assert_int_equal(c.nodes[0].port, 6379);
	assert_string_equal(c.prefix, "cl:");
	assert_int_equal(c.timeout_ms, 100);
	assert_int_equal(c.on_error, CL_REDIS_ON_ERROR_DENY);

	assert_int_equal(cl_redis_uri_parse("redis://h:7000/3?prefix=x:&"
					    "timeout_ms=50&connect_timeout_ms="
					    "20&on_error=local&local=rds-l&"
					    "retry_min_ms=5&retry_max_ms=40&"
					    "policy_refresh_ms=0&expire=off",
					    &c, why),
			 0);
	assert_int_equal(c.nodes[0].port, 7000);
	assert_int_equal(c.db, 3);
	assert_string_equal(c.prefix, "x:");
	assert_int_equal(c.timeout_ms, 50);
	assert_int_equal(c.connect_timeout_ms, 20);
	assert_int_equal(c.retry_min_ms, 5);
	assert_int_equal(c.retry_max_ms, 40);
	assert_int_equal(c.policy_refresh_ms, 0);
	assert_false(c.expire);
	assert_int_equal(c.on_error, CL_REDIS_ON_ERROR_LOCAL);
	assert_string_equal(c.local, "rds-l");

	assert_int_equal(cl_redis_uri_parse("redis+shards://a:1,b:2,c:3", &c,
					    why),
			 0);
	assert_int_equal(c.mode, CL_REDIS_SHARDS);
	assert_int_equal(c.node_count, 3);
	assert_string_equal(c.nodes[2].host, "c");
	assert_int_equal(cl_redis_uri_parse("redis+cluster://a:1,b:2?"
					    "prefix=", &c, why),
			 0);
	assert_int_equal(c.mode, CL_REDIS_CLUSTER);
	assert_string_equal(c.prefix, "");

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		why[0] = '\0';
		if (cl_redis_uri_parse(invalid[i], &c, why) != -EINVAL)
			fail_msg("accepted invalid URI %s", invalid[i]);
		assert_true(why[0] != '\0');
	}
}

/* The client's slot of a key equals CLUSTER KEYSLOT of a real server. */
static void slot_matches_cluster_keyslot(void **ctx)
{
	static const char *const keys[] = {
		"foo", "123456789", "{user1000}.following",
		"{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap",
		"foo{bar}{zap}", "{}", "}{", "cl:{customer-42}", "a{b",
		"x}y{z}", "rds:{\xff\x01}",
	};
	struct rs *server;

	server = rs_start(true);
	assert_non_null(server);
	assert_int_equal(cl_redis_key_slot("123456789", 9), 0x31c3);
	assert_int_equal(cl_redis_key_slot("{user1000}.following", 20),
			 cl_redis_key_slot("{user1000}.followers", 20));

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *argv[] = { "CLUSTER", "KEYSLOT", keys[i] };
		long long slot = rs_integer(server->port, 3, argv);

		assert_int_equal(cl_redis_key_slot(keys[i], strlen(keys[i])),
				 slot);
	}
	rs_free(server);
}

static void decide_through_api(void **ctx)
{
	struct credlimit_policy p = policy_of(3, 3600 * SEC, 10, 2);
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_policy_info info;
	struct rs *server;
	credlimit_t *cl;
	int allowed = 0;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "", &p, NULL);
	assert_true(credlimit_created(cl));
	assert_int_equal(strncmp(credlimit_name(cl), "redis://127.0.0.1:", 18),
			 0);
	assert_int_equal(credlimit_policy_get(cl, 0, &info), 0);
	assert_string_equal(info.name, "default");
	assert_int_equal(info.policy.max_credits, 10);

	assert_int_equal(credlimit_acquire(cl, "alice", 5, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.remaining, 4);
	assert_int_equal(r.limit, 3);
	assert_true(r.reset_after_ns > 0 && r.reset_after_ns <= 3600 * SEC);
	allowed = 1;
	for (int i = 0; i < 10; i++) {
		assert_int_equal(credlimit_acquire(cl, "alice", 5, 1, &r), 0);
		assert_int_equal(r.flags, 0);
		if (r.verdict == CREDLIMIT_ALLOWED)
			allowed++;
	}
	assert_int_equal(allowed, 5);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_true(r.retry_after_ns > 0);

	assert_int_equal(credlimit_acquire(cl, "alice", 5, 14, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);

	assert_int_equal(credlimit_peek(cl, "bob", 3, CREDLIMIT_NOW, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.remaining, 5);
	assert_int_equal(credlimit_lookup(cl, "bob", 3, CREDLIMIT_NOW, &e),
			 -ENOENT);

	assert_int_equal(credlimit_lookup(cl, "alice", 5, CREDLIMIT_NOW, &e),
			 0);
	assert_int_equal(e.key_len, 5);
	assert_memory_equal(e.key, "alice", 5);
	assert_int_equal(e.used, 3);
	assert_int_equal(e.credits, 0);
	assert_int_equal(e.window_ns, 3600 * SEC);
	assert_int_equal(e.policy_override, CREDLIMIT_POLICY_NONE);
	assert_int_equal(e.now.remaining, 0);

	assert_int_equal(credlimit_set_credits(cl, "alice", 5, 7,
					       CREDLIMIT_NOW),
			 0);
	assert_int_equal(credlimit_set_credits(cl, "alice", 5, 11,
					       CREDLIMIT_NOW),
			 -ERANGE);
	assert_int_equal(credlimit_peek(cl, "alice", 5, CREDLIMIT_NOW, &r), 0);
	assert_int_equal(r.credits, 7);

	assert_int_equal(credlimit_reset(cl, "alice", 5), 0);
	assert_int_equal(credlimit_reset(cl, "alice", 5), -ENOENT);
	assert_int_equal(credlimit_grow(cl, 0), -EOPNOTSUPP);
	assert_int_equal(credlimit_check(cl, NULL, NULL), -EOPNOTSUPP);

	credlimit_close(cl);
	rs_free(server);
}

static void policies_and_assignment(void **ctx)
{
	struct credlimit_policy p = policy_of(2, 3600 * SEC, 0, 0);
	struct credlimit_policy premium = policy_of(50, 3600 * SEC, 0, 0);
	struct credlimit_policy_info list[4];
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_policy found;
	struct rs *server;
	credlimit_t *cl, *other;
	int id;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "", &p, NULL);
	other = open_on(server, "policy_refresh_ms=0", NULL, NULL);
	assert_false(credlimit_created(other));

	id = credlimit_policy_define(cl, "premium", &premium);
	assert_int_equal(id, 1);
	assert_int_equal(credlimit_policy_define(cl, "premium", &premium), 1);
	assert_int_equal(credlimit_policy_define(cl, "bad name", &premium),
			 -EINVAL);
	assert_int_equal(credlimit_policy_find(other, "premium", &found), 1);
	assert_int_equal(found.max_requests, 50);
	assert_int_equal(credlimit_policy_list(other, list, 4), 2);
	assert_string_equal(list[1].name, "premium");
	assert_int_equal(credlimit_policy_find(other, "gold", NULL), -ENOENT);

	assert_int_equal(credlimit_set_key_policy(cl, "vip", 3, id), 0);
	assert_int_equal(credlimit_acquire(other, "vip", 3, 10, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.policy, id);
	assert_int_equal(r.limit, 50);
	assert_int_equal(credlimit_lookup(cl, "vip", 3, CREDLIMIT_NOW, &e), 0);
	assert_int_equal(e.policy_override, id);
	assert_int_equal(e.policy, id);

	assert_int_equal(credlimit_set_key_policy(cl, "vip", 3,
						  CREDLIMIT_POLICY_NONE),
			 0);
	assert_int_equal(credlimit_acquire(other, "vip", 3, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.policy, 0);
	assert_int_equal(credlimit_set_key_policy(cl, "nobody", 6,
						  CREDLIMIT_POLICY_NONE),
			 -ENOENT);
	assert_int_equal(credlimit_set_key_policy(cl, "vip", 3, 77), -ENOENT);

	credlimit_close(other);
	credlimit_close(cl);
	rs_free(server);
}

static int count_entry(void *context, const struct credlimit_entry *e)
{
	int *count = context;

	(*count)++;
	return 0;
}

static void foreach_and_reset_all(void **ctx)
{
	struct credlimit_policy p = policy_of(5, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct rs *server;
	credlimit_t *cl;
	char key[32];
	char long_key[100];
	int count = 0;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "", &p, NULL);
	for (int i = 0; i < 1200; i++) {
		int len = snprintf(key, sizeof(key), "k%d", i);

		assert_int_equal(credlimit_acquire(cl, key, (size_t)len, 1, &r),
				 0);
	}
	memset(long_key, 'z', sizeof(long_key));
	assert_int_equal(credlimit_acquire(cl, long_key, sizeof(long_key), 1,
					   &r),
			 0);

	assert_int_equal(credlimit_foreach(cl, CREDLIMIT_NOW, count_entry,
					   &count),
			 0);
	assert_int_equal(count, 1201);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.entries, 1201);
	assert_int_equal(s.allowed, 1201);
	assert_int_equal(s.policies, 1);

	assert_int_equal(credlimit_reset_all(cl), 1201);
	count = 0;
	assert_int_equal(credlimit_foreach(cl, CREDLIMIT_NOW, count_entry,
					   &count),
			 0);
	assert_int_equal(count, 0);

	credlimit_close(cl);
	rs_free(server);
}

/* Random policies, states and explicit times: the script and the C
 * algorithm must agree on every field. */
static void script_matches_c_algorithm(void **ctx)
{
	static const uint64_t windows[] = {
		MS, 7 * MS + 3, SEC, 60 * SEC, 3600 * SEC + 1, 86400 * SEC,
		CREDLIMIT_WINDOW_MAX_NS, 999999937,
	};
	static const uint32_t counts[] = { 0, 1, 2, 3, 10, 1000, 65536,
					   UINT32_MAX - 1, UINT32_MAX };
	struct rs *server;
	credlimit_t *cl;
	struct cl_redis *st;
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	int decisions = 0;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "timeout_ms=5000&expire=off", NULL, NULL);
	st = cl->backend_state;

#define NEXT() (seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17)
	for (int run = 0; run < 300; run++) {
		struct credlimit_policy p;
		struct cl_algo_state c_state = { 0 };
		uint64_t now;
		char key[24];
		int key_len = snprintf(key, sizeof(key), "d%d", run);
		int id;

		p.max_requests = counts[1 + NEXT() % 8];
		p.max_credits = counts[NEXT() % 9];
		p.initial_credits = (uint32_t)(NEXT() % ((uint64_t)p.max_credits + 1));
		p.window_ns = windows[NEXT() % 8];
		switch (NEXT() % 4) {
		case 0:
			now = NEXT() % (1000 * SEC);
			break;
		case 1:
			now = UINT64_C(1700000000) * SEC + NEXT() % (100 * SEC);
			break;
		case 2:
			now = UINT64_MAX - NEXT() % (CREDLIMIT_WINDOW_MAX_NS * 3);
			break;
		default:
			now = NEXT();
			break;
		}

		for (int step = 0; step < 12; step++) {
			struct credlimit_result expected;
			struct cl_redis_decision d;
			uint64_t cost;
			bool stored;

			/* Sometimes the policy changes under the key. */
			if (NEXT() % 6 == 0) {
				p.window_ns = windows[NEXT() % 8];
				p.max_requests = counts[1 + NEXT() % 8];
				p.max_credits = counts[NEXT() % 9];
				p.initial_credits = 0;
			}
			id = credlimit_policy_define(cl, "r", &p);
			assert_true(id > 0);

			switch (NEXT() % 5) {
			case 0:
				cost = 0;
				break;
			case 1:
				cost = NEXT();
				break;
			default:
				cost = NEXT() % ((uint64_t)p.max_requests * 2 + 2);
				break;
			}
			switch (NEXT() % 4) {
			case 0:
				break;
			case 1:
				now -= now > p.window_ns ? NEXT() % p.window_ns : 0;
				break;
			default:
				if (now < UINT64_MAX - p.window_ns * 4)
					now += NEXT() % (p.window_ns * 4);
				break;
			}

			stored = cl_algo_decide(&p, &c_state, now, cost,
						&expected, NULL);
			pthread_mutex_lock(&st->lock);
			assert_int_equal(cl_redis_run(st, 'd', id, key,
						      (size_t)key_len, cost,
						      &now, &d),
					 0);
			pthread_mutex_unlock(&st->lock);
			decisions++;

			if (d.result.verdict != expected.verdict ||
			    d.result.credits != expected.credits ||
			    d.result.remaining != expected.remaining ||
			    d.result.reset_after_ns != expected.reset_after_ns ||
			    d.result.retry_after_ns != expected.retry_after_ns)
				fail_msg("run %d step %d: R=%" PRIu32 " W=%" PRIu64
					 " C=%" PRIu32 " now=%" PRIu64
					 " cost=%" PRIu64 ": verdict %d/%d "
					 "credits %" PRIu32 "/%" PRIu32
					 " remaining %" PRIu64 "/%" PRIu64
					 " reset %" PRIu64 "/%" PRIu64
					 " retry %" PRIu64 "/%" PRIu64,
					 run, step, p.max_requests, p.window_ns,
					 p.max_credits, now, cost,
					 d.result.verdict, expected.verdict,
					 d.result.credits, expected.credits,
					 d.result.remaining, expected.remaining,
					 d.result.reset_after_ns,
					 expected.reset_after_ns,
					 d.result.retry_after_ns,
					 expected.retry_after_ns);
			if (stored)
				assert_int_equal(d.window, c_state.window);
		}
	}
#undef NEXT
	assert_int_equal(decisions, 3600);

	credlimit_close(cl);
	rs_free(server);
}

/* Several processes on one key allow exactly R + I in a window that
 * cannot end during the test. */
static void processes_allow_exact_total(void **ctx)
{
	struct credlimit_policy p = policy_of(40, 3600 * SEC, 100, 25);
	struct rs *server;
	credlimit_t *cl;
	uint64_t *allowed;
	uint64_t total = 0;
	enum { PROCESSES = 8, ATTEMPTS = 30 };

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "timeout_ms=5000", &p, NULL);
	allowed = mmap(NULL, sizeof(uint64_t) * PROCESSES,
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		       0);
	assert_true(allowed != MAP_FAILED);

	for (int i = 0; i < PROCESSES; i++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			for (int n = 0; n < ATTEMPTS; n++) {
				struct credlimit_result r;

				if (credlimit_acquire(cl, "shared", 6, 1, &r) < 0 ||
				    (r.flags & CREDLIMIT_RESULT_FALLBACK))
					_exit(1);
				if (r.verdict == CREDLIMIT_ALLOWED)
					allowed[i]++;
			}
			_exit(0);
		}
	}
	for (int i = 0; i < PROCESSES; i++) {
		int status;

		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	for (int i = 0; i < PROCESSES; i++)
		total += allowed[i];
	assert_int_equal(total, 40 + 25);

	munmap(allowed, sizeof(uint64_t) * PROCESSES);
	credlimit_close(cl);
	rs_free(server);
}

static long long pttl(const struct rs *s, const char *key)
{
	const char *argv[] = { "PTTL", key };

	return rs_integer(s->port, 2, argv);
}

static void expiry_when_fresh_again(void **ctx)
{
	struct credlimit_policy p = policy_of(10, 60 * SEC, 30, 30);
	struct credlimit_result r;
	struct rs *server;
	credlimit_t *cl;
	const uint64_t start = UINT64_C(1000) * 60 * SEC;
	long long ttl;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "", &p, NULL);

	/* At the start of a window, 35 spends the base and 25 credits:
	 * 5 left, so 30 - 5 - (10 - 10) = 25 more credits take 3 more
	 * windows; the key expires 4 windows after start. */
	assert_int_equal(credlimit_acquire_at(cl, "idle", 4, 35, start, &r),
			 0);
	assert_int_equal(r.credits, 5);
	ttl = pttl(server, "rds:{idle}");
	assert_true(ttl > 4 * 60 * 1000 - 2000 && ttl <= 4 * 60 * 1000 + 1);

	/* Rolled to that time, the state equals a new customer's. */
	{
		struct cl_algo_state s = { 1000, 60 * SEC, 10, 5 };

		assert_true(cl_algo_is_fresh_equivalent(&p, &s, start + 4 * 60 * SEC));
		assert_false(cl_algo_is_fresh_equivalent(&p, &s, start + 4 * 60 * SEC - 1));
	}

	/* An assigned key does not expire. */
	assert_int_equal(credlimit_set_key_policy(cl, "idle", 4, 0), 0);
	assert_int_equal(pttl(server, "rds:{idle}"), -1);
	assert_int_equal(credlimit_acquire_at(cl, "idle", 4, 1, start, &r), 0);
	assert_int_equal(pttl(server, "rds:{idle}"), -1);

	credlimit_close(cl);
	rs_free(server);
}

static void noscript_after_flush(void **ctx)
{
	static const char *const flush[] = { "SCRIPT", "FLUSH" };
	struct credlimit_result r;
	struct credlimit_stats s;
	struct rs *server;
	credlimit_t *cl;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "", NULL, NULL);
	assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), 0);
	cl_reply_free(rs_command_port(server->port, 2, flush));

	assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags & CREDLIMIT_RESULT_FALLBACK, 0);
	assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), 0);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.redis_noscript, 1);
	assert_int_equal(s.allowed, 3);
	assert_int_equal(s.redis_errors, 0);

	credlimit_close(cl);
	rs_free(server);
}

/* Decides once and checks the call returned within 2 s: the bound proves
 * that it returns despite the server, not how fast. */
static void acquire_bounded(credlimit_t *cl, struct credlimit_result *r)
{
	uint64_t start = now_monotonic_ns();

	assert_int_equal(credlimit_acquire(cl, "k", 1, 1, r), 0);
	assert_true(now_monotonic_ns() - start < 2 * SEC);
}

/* Waits up to 5 s for a decision Redis makes itself.  Returns how many
 * decisions the failure action made meanwhile. */
static uint64_t wait_for_redis(credlimit_t *cl, struct credlimit_result *r)
{
	for (uint64_t i = 0; i < 500; i++) {
		acquire_bounded(cl, r);
		if (!(r->flags & CREDLIMIT_RESULT_FALLBACK))
			return i;
		rs_sleep_ms(10);
	}
	fail_msg("decisions did not resume within 5 s");
	return 0;
}

static void paused_server_denies(void **ctx)
{
	struct credlimit_policy p = policy_of(1000, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct log_count log = { 0 };
	struct rs *server;
	credlimit_t *cl;
	uint64_t waited;
	int err;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server,
		     "timeout_ms=50&connect_timeout_ms=50&retry_min_ms=20&"
		     "retry_max_ms=100&on_error=deny",
		     &p, &log);
	acquire_bounded(cl, &r);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);

	kill(server->pid, SIGSTOP);
	for (int i = 0; i < 20; i++) {
		acquire_bounded(cl, &r);
		assert_int_equal(r.verdict, CREDLIMIT_DENIED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_FALLBACK);
		assert_int_equal(r.retry_after_ns, 20 * MS);
		rs_sleep_ms(5);
	}
	err = credlimit_stats(cl, &s);
	assert_true(err == -ETIMEDOUT || err == -EAGAIN);
	kill(server->pid, SIGCONT);

	waited = wait_for_redis(cl, &r);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.fallback_denied, 20 + waited);
	assert_true(s.redis_timeouts >= 1);
	assert_true(s.redis_reconnects >= 1);
	assert_true(log.warnings >= 1);

	credlimit_close(cl);
	rs_free(server);
}

static void killed_server_allows(void **ctx)
{
	struct credlimit_policy p = policy_of(1000, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct log_count log = { 0 };
	struct rs *server;
	credlimit_t *cl;
	uint64_t allowed_untracked = 0;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server,
		     "timeout_ms=50&connect_timeout_ms=50&retry_min_ms=20&"
		     "retry_max_ms=100&on_error=allow",
		     &p, &log);
	acquire_bounded(cl, &r);

	rs_stop(server);
	for (int i = 0; i < 20; i++) {
		acquire_bounded(cl, &r);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_FALLBACK |
						  CREDLIMIT_RESULT_UNTRACKED);
		allowed_untracked++;
	}

	/* The restarted server is empty: the decision script is sent again
	 * and the key starts anew from the cached policy. */
	assert_true(rs_launch(server));
	allowed_untracked += wait_for_redis(cl, &r);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.fallback_allowed, allowed_untracked);
	assert_int_equal(s.redis_noscript, 1);
	assert_true(s.redis_errors >= 1);

	credlimit_close(cl);
	rs_free(server);
}

static void down_server_decides_locally(void **ctx)
{
	struct credlimit_policy p = policy_of(3, 3600 * SEC, 2, 2);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct rs *server;
	credlimit_t *cl;
	char local[64];
	char options[160];
	int allowed = 0;
	uint64_t waited;

	snprintf(local, sizeof(local), "rds-local-%d", (int)getpid());
	snprintf(options, sizeof(options),
		 "timeout_ms=50&connect_timeout_ms=50&retry_min_ms=20&"
		 "on_error=local&local=%s",
		 local);
	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, options, &p, NULL);

	kill(server->pid, SIGSTOP);
	for (int i = 0; i < 8; i++) {
		acquire_bounded(cl, &r);
		assert_true(r.flags & CREDLIMIT_RESULT_FALLBACK);
		if (r.verdict == CREDLIMIT_ALLOWED)
			allowed++;
	}
	assert_int_equal(allowed, 3 + 2);
	kill(server->pid, SIGCONT);
	waited = wait_for_redis(cl, &r);

	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.fallback_local, 8 + waited);

	credlimit_close(cl);
	assert_int_equal(credlimit_unlink(local), 0);
	rs_free(server);
}

static void missing_limiter_not_found(void **ctx)
{
	struct rs *server;
	credlimit_t *cl = NULL;
	char uri[128];
	struct log_count log = { 0 };
	struct credlimit_options o;

	server = rs_start(false);
	assert_non_null(server);
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/0?prefix=rds:",
		 server->port);
	assert_int_equal(credlimit_open(uri, 0, NULL, &cl), -ENOENT);
	assert_null(cl);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, NULL, &cl),
			 0);
	credlimit_close(cl);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE |
						     CREDLIMIT_OPEN_EXCL,
					NULL, &cl),
			 -EEXIST);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_RDONLY, NULL, &cl),
			 0);
	{
		struct credlimit_result r;

		assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), -EROFS);
	}
	credlimit_close(cl);

	credlimit_options_init(&o);
	o.log = count_log;
	o.log_context = &log;
	assert_int_equal(credlimit_open("redis://127.0.0.1:1/0?nope=1", 0, &o,
					&cl),
			 -EINVAL);
	assert_true(strstr(log.last, "nope") != NULL);
	rs_stop(server);
	assert_int_equal(credlimit_open(uri, 0, NULL, &cl), -ECONNREFUSED);
	rs_free(server);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uri_parse_cases),
		cmocka_unit_test(slot_matches_cluster_keyslot),
		cmocka_unit_test(decide_through_api),
		cmocka_unit_test(policies_and_assignment),
		cmocka_unit_test(foreach_and_reset_all),
		cmocka_unit_test(script_matches_c_algorithm),
		cmocka_unit_test(processes_allow_exact_total),
		cmocka_unit_test(expiry_when_fresh_again),
		cmocka_unit_test(noscript_after_flush),
		cmocka_unit_test(paused_server_denies),
		cmocka_unit_test(killed_server_allows),
		cmocka_unit_test(down_server_decides_locally),
		cmocka_unit_test(missing_limiter_not_found),
	};

	rs_require_server();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
