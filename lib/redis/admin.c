/*
 * admin.c - inspecting and changing a Redis limiter, and its statistics
 *
 * Listing walks every server that stores customers (each primary of a
 * cluster, each shard) with SCAN and the pattern "PREFIX{*", never KEYS,
 * so Redis keeps serving decisions between the batches.  Like the
 * shared-memory iteration, a key created or removed meanwhile may or may
 * not be visited, and SCAN may return a key twice across a cluster
 * resharding.  A lookup reads the state with the decision script in peek
 * mode and then the stored fields, in two commands: a decision between
 * them shows in one and not the other.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "handle.h"
#include "policy.h"
#include "redis/decide.h"
#include "redis/redis.h"
#include "shm/siphash.h"

/* SCAN batch size hint. */
#define SCAN_COUNT "500"

static int read_fields(struct cl_redis *st, const void *key, size_t key_len,
		       struct credlimit_entry *entry)
{
	static const char *const fields[] = { "w", "wn", "u", "c",
					      "p", "o", "ls" };
	const char *argv[9];
	size_t lens[9];
	uint64_t value[7] = { 0 };
	bool present[7] = { false };
	struct cl_reply *reply;
	char *name;
	size_t name_len;
	int err;

	err = cl_redis_customer_key(st, key, key_len, &name, &name_len);
	if (err < 0)
		return err;
	argv[0] = "HMGET";
	lens[0] = 5;
	argv[1] = name;
	lens[1] = name_len;
	for (int i = 0; i < 7; i++) {
		argv[2 + i] = fields[i];
		lens[2 + i] = strlen(fields[i]);
	}

	err = cl_redis_command(st, name, name_len, 9, argv, lens, &reply);
	free(name);
	if (err < 0)
		return err;
	if (reply->type != CL_REPLY_ARRAY || reply->elements != 7) {
		cl_reply_free(reply);
		return -EPROTO;
	}
	for (int i = 0; i < 7; i++) {
		const struct cl_reply *field = reply->element[i];
		char *end;

		if (field->type != CL_REPLY_STRING)
			continue;
		errno = 0;
		value[i] = strtoull(field->str, &end, 10);
		if (errno != 0 || *end != '\0' || field->len == 0) {
			cl_reply_free(reply);
			return -EBADMSG;
		}
		present[i] = true;
	}
	cl_reply_free(reply);

	if (!present[0] && !present[4] && !present[5])
		return -ENOENT;
	if (value[2] > UINT32_MAX || value[3] > UINT32_MAX ||
	    value[4] >= CREDLIMIT_POLICY_MAX ||
	    value[5] >= CREDLIMIT_POLICY_MAX)
		return -EBADMSG;

	entry->fresh = !present[1];
	entry->window_ns = value[1];
	entry->used = (uint32_t)value[2];
	entry->credits = (uint32_t)value[3];
	entry->policy = (int)value[4];
	entry->policy_override = present[5] ? (int)value[5]
					    : CREDLIMIT_POLICY_NONE;
	entry->last_seen_ns = value[6];
	{
		unsigned __int128 start = (unsigned __int128)value[0] *
					  value[1];

		entry->window_start_ns = start > UINT64_MAX ? UINT64_MAX
							    : (uint64_t)start;
	}
	return 0;
}

static void describe_key(const void *key, size_t key_len,
			 struct credlimit_entry *entry)
{
	static const uint64_t zero_key[2] = { 0, 0 };

	entry->key_len = key_len;
	if (key_len <= CREDLIMIT_KEY_INLINE_MAX) {
		memcpy(entry->key, key, key_len);
		entry->key_stored = key_len;
		return;
	}
	/* The Redis key contains the whole key, but the entry has room only
	 * for its first bytes and a digest, as shared memory reports it. */
	entry->key_hashed = true;
	memcpy(entry->key, key, CREDLIMIT_KEY_PREFIX);
	entry->key_stored = CREDLIMIT_KEY_PREFIX;
	cl_siphash24_128(zero_key, key, key_len, entry->digest);
}

static int redis_lookup(struct credlimit *cl, const void *key, size_t key_len,
			uint64_t now_ns, struct credlimit_entry *entry)
{
	struct cl_redis *st = cl->backend_state;
	struct cl_redis_decision d;
	struct credlimit_entry e;
	int err;

	if (entry == NULL)
		return -EINVAL;
	err = cl_redis_run_locked(cl, false, 'p', key, key_len, 0, now_ns,
				  &d);
	if (err < 0)
		return err;

	memset(&e, 0, sizeof(e));
	describe_key(key, key_len, &e);
	pthread_mutex_lock(&st->lock);
	err = read_fields(st, key, key_len, &e);
	pthread_mutex_unlock(&st->lock);
	if (err < 0)
		return err;

	e.now = d.result;
	*entry = e;
	return 0;
}

/* Returns the customer key inside a Redis key "PREFIX{KEY}", or NULL. */
static const char *customer_of(const struct cl_redis *st,
			       const struct cl_reply *name, size_t *key_len)
{
	size_t prefix_len = strlen(st->config.prefix);

	if (name->type != CL_REPLY_STRING || name->len < prefix_len + 3 ||
	    memcmp(name->str, st->config.prefix, prefix_len) != 0 ||
	    name->str[prefix_len] != '{' || name->str[name->len - 1] != '}')
		return NULL;
	*key_len = name->len - prefix_len - 2;
	return name->str + prefix_len + 1;
}

/* Runs one SCAN step on node and updates cursor.  The keys are in
 * (*reply)->element[1], and the caller frees *reply. */
static int scan_step(struct cl_redis *st, int node, char cursor[24],
		     struct cl_reply **reply)
{
	char pattern[CL_REDIS_PREFIX_MAX + 3];
	const char *argv[6] = { "SCAN", cursor, "MATCH", pattern, "COUNT",
				SCAN_COUNT };
	size_t lens[6];
	int err;

	snprintf(pattern, sizeof(pattern), "%s{*", st->config.prefix);
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);

	err = cl_redis_node_command(st, node, false, 6, argv, lens, reply);
	if (err < 0)
		return err;
	if ((*reply)->type != CL_REPLY_ARRAY || (*reply)->elements != 2 ||
	    (*reply)->element[0]->type != CL_REPLY_STRING ||
	    (*reply)->element[0]->len >= 24 ||
	    (*reply)->element[1]->type != CL_REPLY_ARRAY) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis SCAN on %s:%d failed: %s",
			     st->nodes[node].address.host,
			     st->nodes[node].address.port,
			     (*reply)->str != NULL ? (*reply)->str
						   : "unexpected reply");
		cl_reply_free(*reply);
		*reply = NULL;
		return -EPROTO;
	}
	memcpy(cursor, (*reply)->element[0]->str,
	       (*reply)->element[0]->len + 1);
	return 0;
}

/* Calls visit for every customer key on every data node, without the
 * handle's lock held, so visit may call the public API. */
static int each_key(struct credlimit *cl,
		    int (*visit)(struct credlimit *cl, const char *key,
				 size_t key_len, void *context),
		    void *context)
{
	struct cl_redis *st = cl->backend_state;
	int nodes[CL_REDIS_CLUSTER_NODES_MAX];
	int count;
	int err = 0;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	count = cl_redis_data_nodes(st, nodes, CL_REDIS_CLUSTER_NODES_MAX);
	pthread_mutex_unlock(&st->lock);
	if (count < 0)
		return count;

	for (int n = 0; n < count && err == 0; n++) {
		char cursor[24] = "0";

		do {
			struct cl_reply *reply;
			const struct cl_reply *keys;

			pthread_mutex_lock(&st->lock);
			err = scan_step(st, nodes[n], cursor, &reply);
			pthread_mutex_unlock(&st->lock);
			if (err < 0)
				return err;

			keys = reply->element[1];
			for (size_t i = 0; i < keys->elements && err == 0;
			     i++) {
				size_t key_len;
				const char *key =
					customer_of(st, keys->element[i],
						    &key_len);

				if (key != NULL)
					err = visit(cl, key, key_len, context);
			}
			cl_reply_free(reply);
		} while (err == 0 && strcmp(cursor, "0") != 0);
	}
	return err;
}

struct foreach_context {
	uint64_t now_ns;
	credlimit_entry_fn fn;
	void *context;
};

static int visit_entry(struct credlimit *cl, const char *key, size_t key_len,
		       void *context)
{
	struct foreach_context *f = context;
	struct credlimit_entry entry;
	int err;

	err = redis_lookup(cl, key, key_len, f->now_ns, &entry);
	if (err == -ENOENT)
		return 0; /* expired or reset since SCAN returned it */
	if (err < 0)
		return err;
	return f->fn(f->context, &entry);
}

static int redis_foreach(struct credlimit *cl, uint64_t now_ns,
			 credlimit_entry_fn fn, void *context)
{
	struct foreach_context f = { now_ns, fn, context };

	if (fn == NULL)
		return -EINVAL;
	return each_key(cl, visit_entry, &f);
}

static int redis_reset(struct credlimit *cl, const void *key, size_t key_len)
{
	return cl_redis_run_locked(cl, true, 'r', key, key_len, 0,
				   CREDLIMIT_NOW, NULL);
}

static int visit_reset(struct credlimit *cl, const char *key, size_t key_len,
		       void *context)
{
	int64_t *count = context;
	int err = redis_reset(cl, key, key_len);

	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	(*count)++;
	return 0;
}

static int64_t redis_reset_all(struct credlimit *cl)
{
	struct cl_redis *st = cl->backend_state;
	int64_t count = 0;
	int err;

	if (st->rdonly)
		return -EROFS;
	err = each_key(cl, visit_reset, &count);
	return err < 0 ? err : count;
}

static int redis_set_credits(struct credlimit *cl, const void *key,
			     size_t key_len, uint32_t credits, uint64_t now_ns)
{
	struct cl_redis_decision d;

	return cl_redis_run_locked(cl, true, 's', key, key_len, credits,
				   now_ns, &d);
}

/* Sends a command on one customer's hash and frees the reply.  Returns
 * the reply's integer (0 when it has none) or an error. */
static long long key_command(struct cl_redis *st, const char *command,
			     const char *name, size_t name_len,
			     const char *field, const char *value)
{
	const char *argv[4] = { command, name, field, value };
	size_t lens[4] = { strlen(command), name_len, 0, 0 };
	int argc = 2;
	struct cl_reply *reply;
	long long result;
	int err;

	if (field != NULL) {
		lens[2] = strlen(field);
		argc = 3;
	}
	if (value != NULL) {
		lens[3] = strlen(value);
		argc = 4;
	}

	err = cl_redis_command(st, name, name_len, argc, argv, lens, &reply);
	if (err < 0)
		return err;
	if (reply->type == CL_REPLY_ERROR) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR, "Redis %s failed: %s",
			     command, reply->str);
		result = -EPROTO;
	} else {
		result = reply->type == CL_REPLY_INTEGER ? reply->integer : 0;
	}
	cl_reply_free(reply);
	return result;
}

static int redis_set_key_policy(struct credlimit *cl, const void *key,
				size_t key_len, int policy)
{
	struct cl_redis *st = cl->backend_state;
	char id[16];
	char *name;
	size_t name_len;
	long long result;
	int err;

	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (st->rdonly)
		return -EROFS;
	if (policy != CREDLIMIT_POLICY_NONE &&
	    (policy < 0 || policy >= CREDLIMIT_POLICY_MAX))
		return -ENOENT;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = cl_redis_customer_key(st, key, key_len, &name, &name_len);
	if (err < 0)
		goto unlock;

	if (policy == CREDLIMIT_POLICY_NONE) {
		result = key_command(st, "EXISTS", name, name_len, NULL, NULL);
		if (result == 0)
			result = -ENOENT;
		if (result > 0)
			result = key_command(st, "HDEL", name, name_len, "o",
					     NULL);
		err = result < 0 ? (int)result : 0;
		goto free_name;
	}

	err = cl_redis_policies_refresh(st, !st->defined[policy]);
	if (err < 0)
		goto free_name;
	if (!st->defined[policy]) {
		err = -ENOENT;
		goto free_name;
	}
	/* An assigned key never expires, as it is never evicted from
	 * shared memory. */
	snprintf(id, sizeof(id), "%d", policy);
	result = key_command(st, "HSET", name, name_len, "o", id);
	if (result >= 0)
		result = key_command(st, "PERSIST", name, name_len, NULL, NULL);
	err = result < 0 ? (int)result : 0;

free_name:
	free(name);
unlock:
	pthread_mutex_unlock(&st->lock);
	return err;
}

static int redis_policy_define(struct credlimit *cl, const char *name,
			       const struct credlimit_policy *policy)
{
	struct cl_redis *st = cl->backend_state;
	int id;

	if (name == NULL || policy == NULL ||
	    cl_policy_name_validate(name) < 0 ||
	    credlimit_policy_validate(policy) < 0)
		return -EINVAL;
	if (st->rdonly)
		return -EROFS;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	id = cl_redis_eval_policy_define(st, name, policy);
	if (id >= 0) {
		int err = cl_redis_policies_refresh(st, true);

		if (err < 0)
			id = err;
	}
	pthread_mutex_unlock(&st->lock);
	return id;
}

/* Refreshes the cache under the lock; on success the caller reads it
 * with the lock still held. */
static int lock_policies(struct cl_redis *st)
{
	int err;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = cl_redis_policies_refresh(st, false);
	if (err < 0)
		pthread_mutex_unlock(&st->lock);
	return err;
}

static int redis_policy_find(struct credlimit *cl, const char *name,
			     struct credlimit_policy *out)
{
	struct cl_redis *st = cl->backend_state;
	int id = -ENOENT;
	int err;

	if (name == NULL)
		return -EINVAL;
	err = lock_policies(st);
	if (err < 0)
		return err;
	for (int i = 0; i < CREDLIMIT_POLICY_MAX; i++) {
		if (st->defined[i] && strcmp(st->policies[i].name, name) == 0) {
			id = i;
			if (out != NULL)
				*out = st->policies[i].policy;
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return id;
}

static int redis_policy_get(struct credlimit *cl, int id,
			    struct credlimit_policy_info *out)
{
	struct cl_redis *st = cl->backend_state;
	int err;

	if (out == NULL)
		return -EINVAL;
	if (id < 0 || id >= CREDLIMIT_POLICY_MAX)
		return -ENOENT;
	err = lock_policies(st);
	if (err < 0)
		return err;
	if (st->defined[id])
		*out = st->policies[id];
	else
		err = -ENOENT;
	pthread_mutex_unlock(&st->lock);
	return err;
}

static int redis_policy_list(struct credlimit *cl,
			     struct credlimit_policy_info *out, size_t max)
{
	struct cl_redis *st = cl->backend_state;
	size_t count = 0;
	int err;

	err = lock_policies(st);
	if (err < 0)
		return err;
	for (int i = 0; i < CREDLIMIT_POLICY_MAX; i++) {
		if (!st->defined[i])
			continue;
		if (out != NULL && count < max)
			out[count] = st->policies[i];
		count++;
	}
	pthread_mutex_unlock(&st->lock);
	return (int)count;
}

static int visit_count(struct credlimit *cl, const char *key, size_t key_len,
		       void *context)
{
	uint64_t *count = context;

	(*count)++;
	return 0;
}

static int redis_stats(struct credlimit *cl, struct credlimit_stats *out)
{
	struct cl_redis *st = cl->backend_state;
	struct credlimit_stats s = { 0 };
	int err;

	if (out == NULL)
		return -EINVAL;

	err = each_key(cl, visit_count, &s.entries);
	if (err < 0)
		return err;
	err = credlimit_policy_list(cl, NULL, 0);
	if (err < 0)
		return err;
	s.policies = err;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	s.allowed = st->counters.allowed;
	s.denied = st->counters.denied;
	s.credits_spent = st->counters.credits_spent;
	s.redis_errors = st->counters.errors;
	s.redis_timeouts = st->counters.timeouts;
	s.redis_reconnects = st->counters.reconnects;
	s.redis_noscript = st->counters.noscript;
	s.redis_moved = st->counters.moved;
	s.redis_ask = st->counters.ask;
	s.fallback_denied = st->counters.fallback_denied;
	s.fallback_allowed = st->counters.fallback_allowed;
	s.fallback_local = st->counters.fallback_local;
	s.redis_nodes = (uint64_t)st->node_count;
	pthread_mutex_unlock(&st->lock);

	*out = s;
	return 0;
}

const struct cl_backend cl_redis_backend = {
	.name = "redis",
	.close = cl_redis_close,
	.decide = cl_redis_decide,
	.peek = cl_redis_peek,
	.lookup = redis_lookup,
	.reset = redis_reset,
	.reset_all = redis_reset_all,
	.set_credits = redis_set_credits,
	.set_key_policy = redis_set_key_policy,
	.policy_define = redis_policy_define,
	.policy_find = redis_policy_find,
	.policy_get = redis_policy_get,
	.policy_list = redis_policy_list,
	.foreach = redis_foreach,
	.stats = redis_stats,
};
