/*
 * policies.c - the policies of a Redis limiter, cached per handle
 *
 * Policies live in the hash "PREFIXpolicies" (field: id, value: "NAME R W
 * C I"), so every host reads the same numbers.  A handle caches them and
 * reloads them when the cache is older than policy_refresh_ms (default
 * 1 s), or at once when a decision meets a policy id it does not know.
 * The decision script receives the numbers as arguments: a customer's
 * hash and the policies hash may live in different Redis Cluster slots,
 * and a script may touch only the keys of one slot.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "redis/redis.h"

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Parses "NAME R W C I" into *info; -EBADMSG when it is not valid. */
static int parse_policy(const char *text, struct credlimit_policy_info *info)
{
	char name[CREDLIMIT_POLICY_NAME_MAX + 2];
	uint64_t numbers[4];
	int consumed = 0;

	if (sscanf(text, "%48s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
			 "%n",
		   name, &numbers[0], &numbers[1], &numbers[2], &numbers[3],
		   &consumed) != 5 ||
	    text[consumed] != '\0')
		return -EBADMSG;
	if (cl_policy_name_validate(name) < 0 || numbers[0] > UINT32_MAX ||
	    numbers[2] > UINT32_MAX || numbers[3] > UINT32_MAX)
		return -EBADMSG;

	memcpy(info->name, name, strlen(name) + 1);
	info->policy.max_requests = (uint32_t)numbers[0];
	info->policy.window_ns = numbers[1];
	info->policy.max_credits = (uint32_t)numbers[2];
	info->policy.initial_credits = (uint32_t)numbers[3];
	if (credlimit_policy_validate(&info->policy) < 0)
		return -EBADMSG;
	return 0;
}

int cl_redis_policy_store_new(struct cl_redis *st, int id, const char *name,
			      const struct credlimit_policy *p, bool *created)
{
	char key[CL_REDIS_PREFIX_MAX + 16];
	char field[16];
	char value[96];
	const char *argv[4];
	size_t lens[4];
	struct cl_reply *reply;
	int err;

	*created = false;
	snprintf(key, sizeof(key), "%spolicies", st->config.prefix);
	snprintf(field, sizeof(field), "%d", id);
	snprintf(value, sizeof(value),
		 "%s %" PRIu32 " %" PRIu64 " %" PRIu32 " %" PRIu32, name,
		 p->max_requests, p->window_ns, p->max_credits,
		 p->initial_credits);
	argv[0] = "HSETNX";
	argv[1] = key;
	argv[2] = field;
	argv[3] = value;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);

	err = cl_redis_command(st, key, lens[1], 4, argv, lens, &reply);
	if (err < 0)
		return err;
	if (reply->type != CL_REPLY_INTEGER) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis HSETNX %s failed: %s", key,
			     reply->str != NULL ? reply->str : "no integer");
		err = -EPROTO;
	} else {
		*created = reply->integer == 1;
	}
	cl_reply_free(reply);
	return err;
}

/*
 * Writes this handle's cached policies back into an empty policies hash:
 * Redis lost them (FLUSHALL, or a restart or failover without the data),
 * and every decision of every host would otherwise fail until someone
 * created the limiter again.  HSETNX keeps whatever another host restored
 * first.  A read-only handle keeps its cache and writes nothing.
 */
static int restore_policies(struct cl_redis *st, const char *key)
{
	int restored = 0;

	if (!st->rdonly) {
		for (int id = 0; id < CREDLIMIT_POLICY_MAX; id++) {
			bool created;
			int err;

			if (!st->defined[id])
				continue;
			err = cl_redis_policy_store_new(st, id,
							st->policies[id].name,
							&st->policies[id].policy,
							&created);
			if (err < 0)
				return err;
			restored += created;
		}
	}
	cl_redis_log(st, CREDLIMIT_LOG_WARNING,
		     "Redis hash %s was empty (flushed, or the server lost "
		     "its data): %s %d policies from this process's cache",
		     key, st->rdonly ? "kept using" : "restored", restored);
	st->policies_loaded_ns = monotonic_ns();
	return 0;
}

int cl_redis_policies_load(struct cl_redis *st)
{
	char key[CL_REDIS_PREFIX_MAX + 16];
	const char *argv[2] = { "HGETALL", key };
	size_t lens[2] = { 7, 0 };
	struct cl_reply *reply;
	bool defined[CREDLIMIT_POLICY_MAX] = { false };
	int count = 0;
	int err;

	lens[1] = (size_t)snprintf(key, sizeof(key), "%spolicies",
				   st->config.prefix);
	err = cl_redis_command(st, key, lens[1], 2, argv, lens, &reply);
	if (err < 0)
		return err;
	if (reply->type != CL_REPLY_ARRAY || reply->elements % 2 != 0) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis HGETALL %s failed: %s", key,
			     reply->str != NULL ? reply->str : "not a hash");
		err = -EPROTO;
		goto free_reply;
	}

	for (size_t i = 0; i < reply->elements; i += 2) {
		const struct cl_reply *field = reply->element[i];
		const struct cl_reply *value = reply->element[i + 1];
		struct credlimit_policy_info info;
		char *end;
		long id;

		if (field->type != CL_REPLY_STRING ||
		    value->type != CL_REPLY_STRING)
			goto corrupt;
		id = strtol(field->str, &end, 10);
		if (end == field->str || *end != '\0' || id < 0 ||
		    id >= CREDLIMIT_POLICY_MAX ||
		    parse_policy(value->str, &info) < 0)
			goto corrupt;
		info.id = (int)id;
		st->policies[id] = info;
		defined[id] = true;
		count++;
		continue;

corrupt:
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis hash %s has an invalid policy \"%s\": "
			     "expected field ID (0 to %d) and value \"NAME R W "
			     "C I\"",
			     key, field->str != NULL ? field->str : "",
			     CREDLIMIT_POLICY_MAX - 1);
		err = -EBADMSG;
		goto free_reply;
	}

	if (count == 0 && st->policy_count > 0) {
		err = restore_policies(st, key);
		goto free_reply;
	}
	memcpy(st->defined, defined, sizeof(defined));
	st->policy_count = count;
	st->policies_loaded_ns = monotonic_ns();

free_reply:
	cl_reply_free(reply);
	return err;
}

int cl_redis_policies_refresh(struct cl_redis *st, bool force)
{
	uint64_t age_limit = (uint64_t)st->config.policy_refresh_ms * 1000000u;

	if (!force && st->policies_loaded_ns != 0 &&
	    monotonic_ns() - st->policies_loaded_ns < age_limit)
		return 0;
	return cl_redis_policies_load(st);
}
