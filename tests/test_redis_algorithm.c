/*
 * test_redis_algorithm.c - the algorithm's unit tests, decided by Redis
 *
 * Compiles test_algorithm.c again with every cl_algo_decide() call sent
 * through the Redis backend: the state under test is written into a
 * customer's hash, the decision script runs on it at the test's explicit
 * time (also 2^64 - 1, which the public API would read as CREDLIMIT_NOW),
 * and the stored state is read back.  Expiry is off: the tests' times do
 * not follow the clock.  The same assertions then hold for
 * the Lua script as for the C function.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "algorithm.h"
#include "handle.h"
#include "redis/decide.h"
#include "redis/redis.h"
#include "redis_server.h"

static struct rs *algo_server;
static credlimit_t *algo_limiter;

static void algo_command(struct cl_redis *st, int argc, const char **argv)
{
	size_t lens[12];
	struct cl_reply *reply;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (cl_redis_command(st, argv[1], lens[1], argc, argv, lens, &reply) <
	    0) {
		fprintf(stderr, "Redis %s failed\n", argv[0]);
		abort();
	}
	cl_reply_free(reply);
}

static bool redis_algo_decide(const struct credlimit_policy *p,
			      struct cl_algo_state *state, uint64_t now_ns,
			      uint64_t cost, struct credlimit_result *result,
			      uint32_t *credits_spent)
{
	static const char name[] = "rds-algo:{k}";
	struct cl_redis *st = algo_limiter->backend_state;
	static struct credlimit_policy defined;
	static int id = -1;
	struct cl_redis_decision d;
	char numbers[4][24];
	int err;

	/* Redefining the policy costs two round trips: only on a change. */
	if (id < 0 || defined.max_requests != p->max_requests ||
	    defined.window_ns != p->window_ns ||
	    defined.max_credits != p->max_credits ||
	    defined.initial_credits != p->initial_credits) {
		id = credlimit_policy_define(algo_limiter, "t", p);
		if (id < 0) {
			fprintf(stderr, "policy_define: %s\n",
				credlimit_strerror(id));
			abort();
		}
		defined = *p;
	}

	pthread_mutex_lock(&st->lock);
	algo_command(st, 2, (const char *[]){ "DEL", name });
	if (state->window_ns != 0) {
		snprintf(numbers[0], 24, "%" PRIu64, state->window);
		snprintf(numbers[1], 24, "%" PRIu64, state->window_ns);
		snprintf(numbers[2], 24, "%" PRIu32, state->used);
		snprintf(numbers[3], 24, "%" PRIu32, state->credits);
		algo_command(st, 10,
			     (const char *[]){ "HSET", name, "w", numbers[0],
					       "wn", numbers[1], "u",
					       numbers[2], "c", numbers[3] });
	}

	err = cl_redis_run(st, 'd', id, "k", 1, cost, &now_ns, &d);
	pthread_mutex_unlock(&st->lock);
	if (err < 0) {
		fprintf(stderr, "decision script: %s\n",
			credlimit_strerror(err));
		abort();
	}

	*result = d.result;
	if (credits_spent != NULL)
		*credits_spent = d.spent;
	if (d.result.verdict == CREDLIMIT_DENIED_NEVER)
		return false;
	state->window = d.window;
	state->window_ns = p->window_ns;
	state->used = d.used;
	state->credits = d.result.credits;
	return true;
}

static int algo_setup(void **ctx)
{
	char uri[128];
	int err;

	algo_server = rs_start(false);
	if (algo_server == NULL)
		return -1;
	snprintf(uri, sizeof(uri),
		 "redis://127.0.0.1:%d/0?prefix=rds-algo:&timeout_ms=5000&"
		 "expire=off",
		 algo_server->port);
	err = credlimit_open(uri, CREDLIMIT_OPEN_CREATE, NULL, &algo_limiter);
	if (err < 0) {
		fprintf(stderr, "credlimit_open %s: %s\n", uri,
			credlimit_strerror(err));
		return -1;
	}
	return 0;
}

static int algo_teardown(void **ctx)
{
	credlimit_close(algo_limiter);
	rs_free(algo_server);
	return 0;
}

#define cl_algo_decide redis_algo_decide
#define ALGO_GROUP_SETUP algo_setup
#define ALGO_GROUP_TEARDOWN algo_teardown
#include "test_algorithm.c"
