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
 * restarted, a three-primary Redis Cluster with a slot migration (ASK
 * and MOVED), and client-side shards.  Shared-memory limiters these tests make are named rds-*.
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
	char uri[320];
	int err;

	credlimit_options_init(&o);
	if (p != NULL)
		o.default_policy = *p;
	if (log != NULL) {
		o.log = count_log;
		o.log_context = log;
	}
	/* Timeouts generous for a loaded machine, unless the test sets its
	 * own: a later option wins. */
	snprintf(uri, sizeof(uri),
		 "redis://127.0.0.1:%d/0?prefix=rds:&timeout_ms=2000&"
		 "connect_timeout_ms=2000%s%s",
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
		"redis+shards://h:1,h:2,h:1",
		"redis://user@h:1",
		"redis://[::1]:1",
		"http://h",
	};
	struct cl_redis_config c;
	char why[256];

	/* Empty options are skipped, leading as well as trailing. */
	assert_int_equal(cl_redis_uri_parse("redis://h?&prefix=e:&", &c, why),
			 0);
	assert_string_equal(c.prefix, "e:");
	assert_int_equal(cl_redis_uri_parse("redis://h?timeout_ms=0", &c, why),
			 -EINVAL);
	assert_non_null(strstr(why, "from 1 to 600000"));

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

	assert_int_equal(cl_redis_uri_parse("redis://h?timeout_ms=7&"
					    "timeout_ms=9", &c, why),
			 0);
	assert_int_equal(c.timeout_ms, 9);

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

/*
 * FLUSHALL (or a restart without the data) empties the policies hash.  A
 * handle that has the policies cached writes them back at its next
 * reload and keeps deciding, instead of failing every call with -ENOENT.
 */
static void decisions_survive_flushall(void **ctx)
{
	static const char *const flushall[] = { "FLUSHALL" };
	static const char *const hlen[] = { "HLEN", "rds:policies" };
	struct credlimit_policy p = policy_of(5, 3600 * SEC, 0, 0);
	struct log_count log = { 0 };
	struct credlimit_result r;
	struct cl_reply *reply;
	struct rs *server;
	credlimit_t *cl;

	server = rs_start(false);
	assert_non_null(server);
	cl = open_on(server, "policy_refresh_ms=1", &p, &log);
	assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);

	cl_reply_free(rs_command_port(server->port, 1, flushall));
	usleep(5000); /* older than policy_refresh_ms: the next call reloads */

	for (int i = 0; i < 3; i++) {
		assert_int_equal(credlimit_acquire(cl, "a", 1, 1, &r), 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.limit, 5);
		assert_int_equal(r.flags & CREDLIMIT_RESULT_FALLBACK, 0);
	}
	reply = rs_command_port(server->port, 2, hlen);
	assert_non_null(reply);
	assert_int_equal(reply->integer, 1);
	cl_reply_free(reply);
	assert_true(log.warnings >= 1);
	assert_non_null(strstr(log.last, "was empty"));

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
	/* The stopped server's kernel accepted every connect; only answers
	 * count, so the pause is one failure (a slow resume may add one or
	 * two), not one per connect. */
	assert_true(s.redis_reconnects >= 1);
	assert_true(s.redis_reconnects <= 3);
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

/* The local limiter of down_server_decides_locally(), removed at exit
 * when a failed assertion left the test before its own unlink. */
static char local_limiter[64];

static void unlink_local_limiter(void)
{
	if (local_limiter[0] != '\0')
		credlimit_unlink(local_limiter);
}

static void down_server_decides_locally(void **ctx)
{
	struct credlimit_policy p = policy_of(3, 3600 * SEC, 2, 2);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct rs *server;
	credlimit_t *cl;
	const char *local = local_limiter;
	char options[160];
	int allowed = 0;
	uint64_t waited;

	snprintf(local_limiter, sizeof(local_limiter), "rds-local-%d",
		 (int)getpid());
	atexit(unlink_local_limiter);
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
	local_limiter[0] = '\0';
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

/* Returns the status or bulk reply of a command as a new string. */
static char *rs_text(int port, int argc, const char *const *argv)
{
	struct cl_reply *reply = rs_command_port(port, argc, argv);
	char *text = NULL;

	if (reply != NULL && reply->str != NULL)
		text = strdup(reply->str);
	cl_reply_free(reply);
	return text;
}

/* Waits up to 10 s until every node reports cluster_state:ok. */
static bool cluster_ready(struct rs **nodes, int count)
{
	static const char *const info[] = { "CLUSTER", "INFO" };

	for (int tries = 0; tries < 1000; tries++) {
		int ok = 0;

		for (int i = 0; i < count; i++) {
			char *text = rs_text(nodes[i]->port, 2, info);

			if (text != NULL && strstr(text, "cluster_state:ok"))
				ok++;
			free(text);
		}
		if (ok == count)
			return true;
		rs_sleep_ms(10);
	}
	return false;
}

/* Starts three primaries with a third of the slots each and joins them. */
static void cluster_start(struct rs *nodes[3], char *ids[3])
{
	static const char *const myid[] = { "CLUSTER", "MYID" };

	for (int i = 0; i < 3; i++) {
		char first[8], last[8];
		const char *add[] = { "CLUSTER", "ADDSLOTSRANGE", first, last };

		nodes[i] = rs_start(true);
		assert_non_null(nodes[i]);
		snprintf(first, sizeof(first), "%d", i * 5462);
		snprintf(last, sizeof(last), "%d",
			 i == 2 ? CL_REDIS_SLOTS - 1 : i * 5462 + 5461);
		free(rs_text(nodes[i]->port, 4, add));
		ids[i] = rs_text(nodes[i]->port, 2, myid);
		assert_non_null(ids[i]);
	}
	for (int i = 1; i < 3; i++) {
		char port[8];
		const char *meet[] = { "CLUSTER", "MEET", "127.0.0.1", port };

		snprintf(port, sizeof(port), "%d", nodes[i]->port);
		free(rs_text(nodes[0]->port, 4, meet));
	}
	assert_true(cluster_ready(nodes, 3));
}

static int node_of_slot(unsigned slot)
{
	if (slot < 5462)
		return 0;
	if (slot < 10924)
		return 1;
	return 2;
}

/* Decisions on a three-primary cluster, then a slot migration: a new key
 * of the migrating slot follows ASK to the importing node, and after the
 * move a key's next decision follows MOVED and keeps its counts. */
static void cluster_redirections(void **ctx)
{
	struct credlimit_policy p = policy_of(5, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	struct rs *nodes[3];
	char *ids[3];
	char uri[128];
	char moving[32] = "", fresh[32] = "";
	struct credlimit_options o;
	credlimit_t *cl;
	unsigned slot = 0;
	int count = 0, from, to;

	cluster_start(nodes, ids);
	credlimit_options_init(&o);
	o.default_policy = p;
	snprintf(uri, sizeof(uri),
		 "redis+cluster://127.0.0.1:%d?prefix=rds:&timeout_ms=2000",
		 nodes[0]->port);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);

	for (int i = 0; i < 60; i++) {
		char key[16];
		int len = snprintf(key, sizeof(key), "c%d", i);

		assert_int_equal(credlimit_acquire(cl, key, (size_t)len, 1, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	}
	for (int i = 0; i < 3; i++) {
		static const char *const dbsize[] = { "DBSIZE" };

		/* Each primary has customers, and node 0 the policies. */
		assert_true(rs_integer(nodes[i]->port, 1, dbsize) >= 5);
	}
	assert_int_equal(credlimit_foreach(cl, CREDLIMIT_NOW, count_entry,
					   &count),
			 0);
	assert_int_equal(count, 60);

	/* Two keys of one slot: "moving" exists before the migration. */
	for (int i = 0; fresh[0] == '\0'; i++) {
		char key[32], name[48];
		int len = snprintf(key, sizeof(key), "m%d", i);

		snprintf(name, sizeof(name), "rds:{%s}", key);
		if (moving[0] == '\0') {
			memcpy(moving, key, (size_t)len + 1);
			slot = cl_redis_key_slot(name, strlen(name));
		} else if (cl_redis_key_slot(name, strlen(name)) == slot) {
			memcpy(fresh, key, (size_t)len + 1);
		}
	}
	assert_int_equal(credlimit_acquire(cl, moving, strlen(moving), 2, &r),
			 0);
	from = node_of_slot(slot);
	to = (from + 1) % 3;

	{
		char slot_text[8], port[8], name[48];
		const char *importing[] = { "CLUSTER", "SETSLOT", slot_text,
					    "IMPORTING", ids[from] };
		const char *migrating[] = { "CLUSTER", "SETSLOT", slot_text,
					    "MIGRATING", ids[to] };
		const char *migrate[] = { "MIGRATE", "127.0.0.1", port, name,
					  "0", "5000" };
		const char *node[] = { "CLUSTER", "SETSLOT", slot_text, "NODE",
				       ids[to] };

		snprintf(slot_text, sizeof(slot_text), "%u", slot);
		snprintf(port, sizeof(port), "%d", nodes[to]->port);
		snprintf(name, sizeof(name), "rds:{%s}", moving);
		free(rs_text(nodes[to]->port, 5, importing));
		free(rs_text(nodes[from]->port, 5, migrating));

		/* A key the old node lacks: ASK sends it to the new one. */
		assert_int_equal(credlimit_acquire(cl, fresh, strlen(fresh), 1,
						   &r),
				 0);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
		assert_int_equal(credlimit_stats(cl, &s), 0);
		assert_true(s.redis_ask >= 1);

		free(rs_text(nodes[from]->port, 6, migrate));
		for (int i = 0; i < 3; i++)
			free(rs_text(nodes[i]->port, 5, node));
	}

	/* The handle still maps the slot to the old node: MOVED. */
	assert_int_equal(credlimit_acquire(cl, moving, strlen(moving), 1, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.remaining, 2);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_true(s.redis_moved >= 1);
	assert_int_equal(s.redis_errors, 0);
	assert_int_equal(s.entries, 62);

	credlimit_close(cl);
	for (int i = 0; i < 3; i++) {
		free(ids[i]);
		rs_free(nodes[i]);
	}
}

/* Client-side shards: each key always reaches the same server, and the
 * servers share the keys. */
static void shards_spread_keys(void **ctx)
{
	struct credlimit_policy p = policy_of(2, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_options o;
	struct rs *servers[3];
	credlimit_t *cl;
	char uri[160];
	int count = 0;

	for (int i = 0; i < 3; i++) {
		servers[i] = rs_start(false);
		assert_non_null(servers[i]);
	}
	snprintf(uri, sizeof(uri),
		 "redis+shards://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/0?"
		 "prefix=rds:&timeout_ms=2000",
		 servers[0]->port, servers[1]->port, servers[2]->port);
	credlimit_options_init(&o);
	o.default_policy = p;
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 30; i++) {
			char key[16];
			int len = snprintf(key, sizeof(key), "s%d", i);

			assert_int_equal(credlimit_acquire(cl, key, (size_t)len,
							   1, &r),
					 0);
			assert_int_equal(r.verdict, round < 2
							    ? CREDLIMIT_ALLOWED
							    : CREDLIMIT_DENIED);
		}
	}
	for (int i = 0; i < 3; i++) {
		static const char *const dbsize[] = { "DBSIZE" };

		assert_true(rs_integer(servers[i]->port, 1, dbsize) >= 3);
	}
	assert_int_equal(credlimit_foreach(cl, CREDLIMIT_NOW, count_entry,
					   &count),
			 0);
	assert_int_equal(count, 30);

	credlimit_close(cl);
	for (int i = 0; i < 3; i++)
		rs_free(servers[i]);
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
		cmocka_unit_test(decisions_survive_flushall),
		cmocka_unit_test(paused_server_denies),
		cmocka_unit_test(killed_server_allows),
		cmocka_unit_test(down_server_decides_locally),
		cmocka_unit_test(missing_limiter_not_found),
		cmocka_unit_test(cluster_redirections),
		cmocka_unit_test(shards_spread_keys),
	};

	rs_require_server();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
