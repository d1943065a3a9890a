/*
 * decide.c - decisions on Redis, and the failure action
 *
 * One decision is one EVALSHA of the decision script (script.c) on the
 * customer's hash, with the numbers of the requested policy.  When the
 * key has an operator's assignment the script replies with that policy's
 * id instead, and the call is sent again under it: at most once more,
 * plus once after reloading the policies for an id the cache lacks.
 *
 * When Redis cannot be reached, times out, or a node is in its reconnect
 * wait, the URI's on_error decides: deny, allow (nothing recorded), or
 * local (the shared-memory limiter named by local=, which keeps its own
 * counts, decides at CLOCK_MONOTONIC or the caller's time).  Each result
 * carries CREDLIMIT_RESULT_FALLBACK, each is counted, and failures are
 * logged at most once a second.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algorithm.h"
#include "backend.h"
#include "handle.h"
#include "redis/decide.h"
#include "redis/redis.h"

bool cl_redis_reply_u64(const struct cl_reply *reply, uint64_t *out)
{
	char *end;

	if (reply->type == CL_REPLY_INTEGER && reply->integer >= 0) {
		*out = (uint64_t)reply->integer;
		return true;
	}
	if (reply->type != CL_REPLY_STRING || reply->len == 0 ||
	    reply->str[0] == '-')
		return false;
	errno = 0;
	*out = strtoull(reply->str, &end, 10);
	return errno == 0 && *end == '\0';
}

int cl_redis_parse_decision(struct cl_redis *st, const struct cl_reply *reply,
			    size_t elements, int policy,
			    struct cl_redis_decision *out)
{
	const struct credlimit_policy *p = &st->policies[policy].policy;
	uint64_t field[8];

	if (reply->elements != elements || elements < 9)
		goto invalid;
	for (int i = 0; i < 8; i++)
		if (!cl_redis_reply_u64(reply->element[i + 1], &field[i]))
			goto invalid;
	if (field[0] > CREDLIMIT_DENIED_NEVER || field[1] > p->max_credits ||
	    field[2] > p->max_requests)
		goto invalid;

	memset(&out->result, 0, sizeof(out->result));
	out->result.verdict = (int)field[0];
	out->result.credits = (uint32_t)field[1];
	out->used = (uint32_t)field[2];
	out->result.reset_after_ns = field[3];
	out->result.retry_after_ns = field[4];
	out->result.flags = field[5] ? CREDLIMIT_RESULT_NEW : 0;
	out->spent = (uint32_t)field[6];
	out->window = field[7];
	out->result.policy = policy;
	out->result.limit = p->max_requests;
	out->result.window_ns = p->window_ns;
	out->result.remaining =
		(uint64_t)(p->max_requests - out->used) + out->result.credits;
	return 0;

invalid:
	cl_redis_log_failure(st, "Redis decision script replied with "
				 "values out of range");
	return -EPROTO;
}

int cl_redis_script_run(struct cl_redis *st, char mode, int *policy,
			const void *key, size_t key_len, uint64_t amount,
			const uint64_t *now_ns, int extra_count,
			const char *const *extra, struct cl_reply **reply)
{
	char numbers[6][24];
	char now_text[24] = "";
	char mode_text[2] = { mode, '\0' };
	const char *args[CL_REDIS_SCRIPT_ARGS_MAX];
	size_t lens[CL_REDIS_SCRIPT_ARGS_MAX];
	int nargs = 9 + extra_count;
	char *name;
	size_t name_len;
	bool reloaded = false;
	int err;

	if (extra_count < 0 || nargs > CL_REDIS_SCRIPT_ARGS_MAX)
		return -EINVAL;
	err = cl_redis_policies_refresh(st, false);
	if (err < 0)
		return err;
	err = cl_redis_customer_key(st, key, key_len, &name, &name_len);
	if (err < 0)
		return err;
	if (now_ns != NULL)
		snprintf(now_text, sizeof(now_text), "%" PRIu64, *now_ns);
	if (amount > CL_REDIS_COUNT_CLAMP)
		amount = CL_REDIS_COUNT_CLAMP;

	for (int tries = 0; tries < 4; tries++) {
		const struct credlimit_policy *p;
		int id = *policy;

		if (id < 0 || id >= CREDLIMIT_POLICY_MAX) {
			err = -ENOENT;
			break;
		}
		if (!st->defined[id] && !reloaded) {
			reloaded = true;
			err = cl_redis_policies_refresh(st, true);
			if (err < 0)
				break;
		}
		if (!st->defined[id]) {
			err = -ENOENT;
			break;
		}
		p = &st->policies[id].policy;

		snprintf(numbers[0], sizeof(numbers[0]), "%d", id);
		snprintf(numbers[1], sizeof(numbers[1]), "%" PRIu32,
			 p->max_requests);
		snprintf(numbers[2], sizeof(numbers[2]), "%" PRIu64,
			 p->window_ns);
		snprintf(numbers[3], sizeof(numbers[3]), "%" PRIu32,
			 p->max_credits);
		snprintf(numbers[4], sizeof(numbers[4]), "%" PRIu32,
			 p->initial_credits);
		snprintf(numbers[5], sizeof(numbers[5]), "%" PRIu64, amount);
		args[0] = mode_text;
		args[1] = now_text;
		for (int i = 0; i < 6; i++)
			args[2 + i] = numbers[i];
		args[8] = st->config.expire ? "1" : "0";
		for (int i = 0; i < extra_count; i++)
			args[9 + i] = extra[i];
		for (int i = 0; i < nargs; i++)
			lens[i] = strlen(args[i]);

		err = cl_redis_eval_decide(st, name, name_len, nargs, args,
					   lens, reply);
		if (err < 0)
			break;

		if ((*reply)->element[0]->integer == 1 &&
		    (*reply)->elements == 2 &&
		    (*reply)->element[1]->type == CL_REPLY_INTEGER) {
			*policy = (int)(*reply)->element[1]->integer;
			cl_reply_free(*reply);
			*reply = NULL;
			/* Redirected more often than one key can be
			 * assigned: another process keeps changing it. */
			err = -EBUSY;
			continue;
		}
		err = 0;
		break;
	}

	free(name);
	return err;
}

int cl_redis_run(struct cl_redis *st, char mode, int policy, const void *key,
		 size_t key_len, uint64_t amount, const uint64_t *now_ns,
		 struct cl_redis_decision *out)
{
	struct cl_reply *reply;
	long long code;
	int err;

	err = cl_redis_script_run(st, mode, &policy, key, key_len, amount,
				  now_ns, 0, NULL, &reply);
	if (err < 0)
		return err;

	code = reply->element[0]->integer;
	if (code == 2)
		err = -ENOENT;
	else if (code == 3)
		err = -ERANGE;
	else if (code == 0 && mode == 'r')
		err = 0;
	else if (code == 0)
		err = cl_redis_parse_decision(st, reply, 9, policy, out);
	else
		err = -EPROTO;
	cl_reply_free(reply);
	return err;
}

bool cl_redis_unavailable(int err)
{
	return err == -EAGAIN || err == -ETIMEDOUT || err == -ECONNREFUSED ||
	       err == -EIO || err == -ELOOP || err == -EPROTO ||
	       err == -EHOSTUNREACH || err == -ENETUNREACH;
}

static const char *on_error_name(enum cl_redis_on_error action)
{
	switch (action) {
	case CL_REDIS_ON_ERROR_ALLOW:
		return "allow";
	case CL_REDIS_ON_ERROR_LOCAL:
		return "local";
	default:
		return "deny";
	}
}

/* Returns the id on the local limiter of Redis policy `policy`, defining
 * it there under the same name when new or changed. */
static int local_policy(struct cl_redis *st, int policy)
{
	const struct credlimit_policy_info *info = &st->policies[policy];
	int id = st->local_policy[policy];

	if (id >= 0 && memcmp(&st->local_numbers[policy], &info->policy,
			      sizeof(info->policy)) == 0)
		return id;

	id = credlimit_policy_define(st->local, info->name, &info->policy);
	if (id < 0)
		return id;
	st->local_policy[policy] = id;
	st->local_numbers[policy] = info->policy;
	return id;
}

/* cl_redis_fallback(), called with st->lock held. */
static int fallback(struct cl_redis *st, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns, int cause,
		    struct credlimit_result *result)
{
	struct cl_algo_state fresh = { 0 };
	const struct credlimit_policy *p;
	int err;

	if (policy < 0 || policy >= CREDLIMIT_POLICY_MAX ||
	    !st->defined[policy])
		policy = CREDLIMIT_POLICY_DEFAULT;
	p = &st->policies[policy].policy;

	cl_redis_log_failure(st,
			     "Redis unavailable (%s): on_error=%s decides "
			     "(policy %s)",
			     credlimit_strerror(cause),
			     on_error_name(st->config.on_error),
			     st->policies[policy].name);

	if (st->config.on_error == CL_REDIS_ON_ERROR_LOCAL) {
		int id = local_policy(st, policy);

		if (id < 0)
			return id;
		err = credlimit_acquire_policy(st->local, id, key, key_len,
					       cost, now_ns, result);
		if (err < 0)
			return err;
		result->flags |= CREDLIMIT_RESULT_FALLBACK;
		result->policy = policy;
		st->counters.fallback_local++;
		return 0;
	}

	/* The numbers of a new customer making this request, as a table
	 * without room reports them. */
	cl_algo_decide(p, &fresh, 0, cost, result, NULL);
	result->policy = policy;
	result->flags = CREDLIMIT_RESULT_FALLBACK;
	if (result->verdict == CREDLIMIT_DENIED_NEVER)
		return 0;

	if (st->config.on_error == CL_REDIS_ON_ERROR_ALLOW) {
		result->verdict = CREDLIMIT_ALLOWED;
		result->retry_after_ns = 0;
		result->flags |= CREDLIMIT_RESULT_UNTRACKED;
		st->counters.fallback_allowed++;
	} else {
		result->verdict = CREDLIMIT_DENIED;
		result->retry_after_ns =
			(uint64_t)st->config.retry_min_ms * 1000000u;
		st->counters.fallback_denied++;
	}
	return 0;
}

int cl_redis_fallback(credlimit_t *upstream, int policy, const void *key,
		      size_t key_len, uint64_t cost, uint64_t now_ns, int cause,
		      struct credlimit_result *result)
{
	struct cl_redis *st;
	int err;

	if (upstream == NULL || upstream->backend != &cl_redis_backend ||
	    result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	st = upstream->backend_state;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = fallback(st, policy, key, key_len, cost, now_ns, cause, result);
	pthread_mutex_unlock(&st->lock);
	return err;
}

static void count_verdict(struct cl_redis *st,
			  const struct cl_redis_decision *d)
{
	if (d->result.verdict == CREDLIMIT_ALLOWED) {
		st->counters.allowed++;
		st->counters.credits_spent += d->spent;
	} else {
		st->counters.denied++;
	}
}

int cl_redis_decide(struct credlimit *cl, int policy, const void *key,
		    size_t key_len, uint64_t cost, uint64_t now_ns,
		    struct credlimit_result *result)
{
	struct cl_redis *st = cl->backend_state;
	struct cl_redis_decision d;
	int err;

	if (result == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (st->rdonly)
		return -EROFS;
	if (policy < 0 || policy >= CREDLIMIT_POLICY_MAX)
		return -ENOENT;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = cl_redis_run(st, 'd', policy, key, key_len, cost,
			   now_ns == CREDLIMIT_NOW ? NULL : &now_ns, &d);
	if (err == 0) {
		count_verdict(st, &d);
		*result = d.result;
	} else if (cl_redis_unavailable(err)) {
		err = fallback(st, policy, key, key_len, cost, now_ns, err,
			       result);
	}
	pthread_mutex_unlock(&st->lock);
	return err;
}

int cl_redis_run_locked(struct credlimit *cl, bool change, char mode,
			const void *key, size_t key_len, uint64_t amount,
			uint64_t now_ns, struct cl_redis_decision *out)
{
	struct cl_redis *st = cl->backend_state;
	int err;

	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (change && st->rdonly)
		return -EROFS;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = cl_redis_run(st, mode, CREDLIMIT_POLICY_DEFAULT, key, key_len,
			   amount, now_ns == CREDLIMIT_NOW ? NULL : &now_ns,
			   out);
	pthread_mutex_unlock(&st->lock);
	return err;
}

int cl_redis_peek(struct credlimit *cl, const void *key, size_t key_len,
		  uint64_t now_ns, struct credlimit_result *result)
{
	struct cl_redis_decision d;
	int err;

	if (result == NULL)
		return -EINVAL;
	err = cl_redis_run_locked(cl, false, 'p', key, key_len, 0, now_ns,
				  &d);
	if (err == 0)
		*result = d.result;
	return err;
}
