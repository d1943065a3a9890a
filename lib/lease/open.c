/*
 * open.c - opening a lease handle, its policies, and the operations it
 * hands to Redis or to its lease cache
 *
 * The name "shm:NAME?lease=32&idle_ms=1000&wait_us=2000&upstream=URI"
 * gives the lease cache's name, the options, and the Redis URI.  The
 * upstream option comes last and takes the rest of the name verbatim, so
 * the Redis URI keeps its own '?' and '&' options.  Options passed in
 * struct credlimit_options are the defaults the name overrides.
 *
 * Redis is the reference for everything but the decisions: policies, peeks,
 * lookups, iteration, resets and credits go to the upstream handle, and
 * only statistics, growth and checks look at the lease cache.  Policies
 * keep their Redis ids in the API.  The lease cache mirrors each under the
 * same name, with an id of its own that the per-process maps translate.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "backend.h"
#include "handle.h"
#include "lease/entry.h"
#include "lease/lease.h"
#include "log.h"
#include "redis/decide.h"
#include "redis/lease.h"

static pthread_mutex_t open_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_lease *open_list;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork() handlers: no child inherits a handle's lock held by a thread
 * that does not exist in the child. */
static void before_fork(void)
{
	pthread_mutex_lock(&open_list_lock);
	for (struct cl_lease *st = open_list; st != NULL; st = st->next_open)
		pthread_mutex_lock(&st->lock);
}

static void after_fork(void)
{
	for (struct cl_lease *st = open_list; st != NULL; st = st->next_open)
		pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&open_list_lock);
}

static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

static void list_add(struct cl_lease *st)
{
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&open_list_lock);
	st->next_open = open_list;
	open_list = st;
	pthread_mutex_unlock(&open_list_lock);
}

static void list_remove(struct cl_lease *st)
{
	pthread_mutex_lock(&open_list_lock);
	for (struct cl_lease **p = &open_list; *p != NULL; p = &(*p)->next_open) {
		if (*p == st) {
			*p = st->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&open_list_lock);
}

/* Parses a decimal option value in [min, max]. */
static int parse_number(const char *text, size_t len, uint64_t min,
			uint64_t max, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0 || len > 12)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	if (value < min || value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

/* Applies one "key=value" option of the name to *cfg. */
static int apply_option(struct credlimit *log, const char *option,
			size_t len, struct cl_lease_config *cfg)
{
	const char *eq = memchr(option, '=', len);
	const char *value;
	size_t key_len, value_len;
	uint64_t number;
	int err = -EINVAL;

	if (eq == NULL) {
		cl_log(log, CREDLIMIT_LOG_ERROR,
		       "lease option '%.*s' has no value (expected KEY=VALUE)",
		       (int)(len > 64 ? 64 : len), option);
		return -EINVAL;
	}
	key_len = (size_t)(eq - option);
	value = eq + 1;
	value_len = len - key_len - 1;

	if (key_len == 5 && memcmp(option, "lease", 5) == 0) {
		err = parse_number(value, value_len, 1, CREDLIMIT_LEASE_MAX,
				   &number);
		if (err == 0)
			cfg->lease_max = (uint32_t)number;
	} else if (key_len == 7 && memcmp(option, "idle_ms", 7) == 0) {
		err = parse_number(value, value_len, 1, UINT32_MAX, &number);
		if (err == 0)
			cfg->idle_ns = number * 1000000;
	} else if (key_len == 7 && memcmp(option, "wait_us", 7) == 0) {
		err = parse_number(value, value_len, 0, UINT32_MAX, &number);
		if (err == 0)
			cfg->wait_ns = number * 1000;
	} else {
		cl_log(log, CREDLIMIT_LOG_ERROR,
		       "unknown lease option '%.*s' (known: lease, idle_ms, "
		       "wait_us, upstream)",
		       (int)(key_len > 64 ? 64 : key_len), option);
		return -EINVAL;
	}

	if (err < 0)
		cl_log(log, CREDLIMIT_LOG_ERROR,
		       "invalid value of lease option '%.*s': lease takes 1 "
		       "to %" PRIu32 " units, idle_ms 1 or more, wait_us 0 "
		       "or more",
		       (int)(len > 64 ? 64 : len), option, CREDLIMIT_LEASE_MAX);
	return err;
}

/*
 * Fills *cfg from the options and then from the name.  cfg->upstream is
 * allocated, NULL when neither gives one.
 */
static int parse_config(struct credlimit *log, const char *name,
			const struct credlimit_options *o,
			struct cl_lease_config *cfg)
{
	const char *upstream = o->upstream;
	const char *rest;
	size_t name_len;

	memset(cfg, 0, sizeof(*cfg));
	if (o->lease < 1 || o->lease > CREDLIMIT_LEASE_MAX ||
	    o->lease_idle_ms < 1)
		return -EINVAL;
	cfg->lease_max = o->lease;
	cfg->idle_ns = (uint64_t)o->lease_idle_ms * 1000000;
	cfg->wait_ns = (uint64_t)o->lease_wait_us * 1000;

	if (name == NULL)
		goto copy_upstream;
	if (strncmp(name, "shm:", 4) == 0)
		name += 4;
	rest = strchr(name, '?');
	name_len = rest != NULL ? (size_t)(rest - name) : strlen(name);
	if (name_len == 0 || name_len > CREDLIMIT_NAME_MAX) {
		cl_log(log, CREDLIMIT_LOG_ERROR,
		       "lease cache name is empty or longer than %d bytes",
		       CREDLIMIT_NAME_MAX);
		return -EINVAL;
	}
	memcpy(cfg->name, name, name_len);

	while (rest != NULL) {
		const char *option = rest + 1;
		const char *end;

		if (strncmp(option, "upstream=", 9) == 0) {
			upstream = option + 9;
			break;
		}
		end = strchr(option, '&');
		rest = end;
		if (end == NULL)
			end = option + strlen(option);
		if (end == option)
			continue; /* empty option, as in "?&lease=8" */
		if (apply_option(log, option, (size_t)(end - option), cfg) < 0)
			return -EINVAL;
	}

copy_upstream:
	while (cfg->exponent_max < CL_LEASE_EXP_MAX &&
	       (UINT32_C(1) << (cfg->exponent_max + 1)) <= cfg->lease_max)
		cfg->exponent_max++;
	if (upstream == NULL)
		return 0;
	if (strncmp(upstream, "redis", 5) != 0) {
		cl_log(log, CREDLIMIT_LOG_ERROR,
		       "lease upstream '%.60s' is not a Redis URI (redis://, "
		       "redis+shards:// or redis+cluster://)",
		       upstream);
		return -EINVAL;
	}
	cfg->upstream = strdup(upstream);
	return cfg->upstream != NULL ? 0 : -ENOMEM;
}

/*
 * Ties the lease cache to its upstream: the first lease open records the
 * upstream's digest, and an open with another upstream is rejected, since
 * units of one Redis spent or returned against another would let its
 * customers exceed their limits.
 */
static int bind_upstream(struct credlimit *cl, struct cl_lease *st)
{
	uint64_t id = cl_redis_identity(st->upstream);
	uint64_t *bound = &st->local->ctl->lease_upstream;
	uint64_t seen = CMM_LOAD_SHARED(*bound);

	if (seen == 0 && !st->rdonly) {
		/* Full barrier; pairs with the same swap in other openers,
		 * so exactly one digest is recorded. */
		seen = uatomic_cmpxchg(bound, 0, id);
		if (seen == 0)
			return 0;
	}
	if (seen == 0 || seen == id)
		return 0;

	cl_log(cl, CREDLIMIT_LOG_ERROR,
	       "lease cache %s holds units of another Redis upstream (other "
	       "servers, database or prefix than %.80s): destroy it with "
	       "limitctl destroy %s, or choose another name",
	       st->config.name, st->config.upstream, st->config.name);
	return -EXDEV;
}

static void free_state(struct cl_lease *st)
{
	credlimit_close(st->upstream);
	credlimit_close(st->local);
	pthread_mutex_destroy(&st->lock);
	free(st->config.upstream);
	free(st);
}

int cl_lease_open(const char *name, unsigned flags,
		  const struct credlimit_options *options, credlimit_t **out)
{
	struct credlimit_options inner = *options;
	struct credlimit *cl;
	struct cl_lease *st;
	int err;

	cl = calloc(1, sizeof(*cl));
	st = calloc(1, sizeof(*st));
	if (cl == NULL || st == NULL) {
		err = -ENOMEM;
		goto free_memory;
	}
	cl->log = options->log;
	cl->log_context = options->log_context;

	err = parse_config(cl, name, options, &st->config);
	if (err < 0)
		goto free_memory;
	inner.upstream = NULL;
	if (st->config.upstream == NULL) {
		/* "shm:NAME" alone is a plain limiter. */
		err = cl_open_shm(name != NULL ? st->config.name : NULL, flags,
				  &inner, CL_KIND_LIMITER, out);
		free(st);
		free(cl);
		return err;
	}

	pthread_mutex_init(&st->lock, NULL);
	for (int i = 0; i < CREDLIMIT_POLICY_MAX; i++) {
		st->local_of[i] = -1;
		st->upstream_of[i] = -1;
	}
	st->outer = cl;
	st->rdonly = flags & CREDLIMIT_OPEN_RDONLY;

	err = credlimit_open(st->config.upstream,
			     flags & ~(unsigned)CREDLIMIT_OPEN_EXCL, &inner,
			     &st->upstream);
	if (err < 0)
		goto free_state;
	err = cl_open_shm(name != NULL ? st->config.name : NULL, flags, &inner,
			  CL_KIND_LEASE, &st->local);
	if (err == -ENOENT)
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "this host has no lease cache %s: open with "
		       "CREDLIMIT_OPEN_CREATE (limitctl create) to create it",
		       st->config.name);
	else if (err == -EINVAL)
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "invalid lease cache name '%s': use [A-Za-z0-9._-], not "
		       "starting with '.' nor ending in \".g\" and digits",
		       st->config.name);
	if (err < 0)
		goto free_state;
	if (st->local->kind != CL_KIND_LEASE) {
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "%s is a plain limiter, not a lease cache: choose "
		       "another name, or remove it with limitctl destroy",
		       st->config.name);
		err = -EMEDIUMTYPE;
		goto free_state;
	}

	err = bind_upstream(cl, st);
	if (err < 0)
		goto free_state;

	cl->uri = strdup(name != NULL ? name : st->config.upstream);
	if (cl->uri == NULL) {
		err = -ENOMEM;
		goto free_state;
	}
	cl->rdonly = st->rdonly;
	cl->created = credlimit_created(st->local);
	cl->backend = &cl_lease_backend;
	cl->backend_state = st;
	cl->lease_cache = st->local;
	list_add(st);
	*out = cl;
	return 0;

free_state:
	free_state(st);
	free(cl);
	return err;

free_memory:
	if (st != NULL)
		free(st->config.upstream);
	free(st);
	free(cl);
	return err;
}

static void lease_close(struct credlimit *cl)
{
	struct cl_lease *st = cl->backend_state;
	uint64_t next;
	bool known;

	/* Every unit this host holds goes back; the other processes take
	 * new leases when they need them. */
	if (!st->rdonly)
		cl_lease_sweep(st, cl_lease_time(st->local, CREDLIMIT_NOW, &known),
			       0, 0, 0, &next);
	list_remove(st);
	free_state(st);
}

/* Compares field by field: the struct has padding that memcmp() would
 * compare too. */
static bool same_numbers(const struct credlimit_policy *a,
			 const struct credlimit_policy *b)
{
	return a->max_requests == b->max_requests &&
	       a->max_credits == b->max_credits &&
	       a->initial_credits == b->initial_credits &&
	       a->window_ns == b->window_ns;
}

int cl_lease_mirror_policy(struct cl_lease *st, int policy,
			   struct cl_params *params)
{
	struct credlimit_policy_info info;
	int id, err;

	err = credlimit_policy_get(st->upstream, policy, &info);
	if (err < 0)
		return err;

	pthread_mutex_lock(&st->lock);
	id = st->local_of[policy];
	if (id < 0) {
		/* Another process may have mirrored it: a definition with
		 * the same numbers would still bump its version, which
		 * makes every unit leased under it unspendable. */
		struct credlimit_policy numbers;

		id = credlimit_policy_find(st->local, info.name, &numbers);
	}
	if (id < 0 || cl_policy_read(st->local, id, params) < 0 ||
	    !same_numbers(&params->policy, &info.policy)) {
		/* Defines it, or changes its numbers to Redis's. */
		id = credlimit_policy_define(st->local, info.name, &info.policy);
		if (id >= 0)
			err = cl_policy_read(st->local, id, params);
		else
			err = id;
	}
	if (err == 0) {
		__atomic_store_n(&st->local_of[policy], id, __ATOMIC_RELAXED);
		__atomic_store_n(&st->upstream_of[id], policy,
				 __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&st->lock);
	return err < 0 ? err : id;
}

void cl_lease_mirror_all(struct cl_lease *st)
{
	struct cl_params params;

	for (int id = 0; id < CREDLIMIT_POLICY_MAX; id++) {
		if (__atomic_load_n(&st->local_of[id], __ATOMIC_RELAXED) < 0)
			continue;
		if (cl_redis_unavailable(cl_lease_mirror_policy(st, id,
								 &params)))
			return;
	}
}

int cl_lease_upstream_policy(struct cl_lease *st, int local_id)
{
	struct credlimit_policy_info info;
	struct credlimit_policy numbers;
	struct cl_params params;
	int id, err;

	if (local_id < 0 || local_id >= CREDLIMIT_POLICY_MAX)
		return -ENOENT;
	pthread_mutex_lock(&st->lock);
	id = st->upstream_of[local_id];
	pthread_mutex_unlock(&st->lock);
	if (id >= 0)
		return id;

	err = credlimit_policy_get(st->local, local_id, &info);
	if (err < 0)
		return err;
	id = credlimit_policy_find(st->upstream, info.name, &numbers);
	if (id < 0)
		return id;
	err = cl_lease_mirror_policy(st, id, &params);
	return err < 0 ? err : id;
}

/* Operations that Redis serves for every host. */

static int lease_peek(struct credlimit *cl, const void *key, size_t key_len,
		      uint64_t now_ns, struct credlimit_result *result)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_peek(st->upstream, key, key_len, now_ns, result);
}

static int lease_lookup(struct credlimit *cl, const void *key, size_t key_len,
			uint64_t now_ns, struct credlimit_entry *entry)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_lookup(st->upstream, key, key_len, now_ns, entry);
}

/* Resets the customer in Redis, and drops this host's units of it:
 * Redis's reset restores more than they are worth. */
static int lease_reset(struct credlimit *cl, const void *key, size_t key_len)
{
	struct cl_lease *st = cl->backend_state;
	int err;

	err = credlimit_reset(st->upstream, key, key_len);
	if (err < 0 && err != -ENOENT)
		return err;
	if (credlimit_reset(st->local, key, key_len) == 0)
		return 0;
	return err;
}

static int64_t lease_reset_all(struct credlimit *cl)
{
	struct cl_lease *st = cl->backend_state;
	int64_t count;

	count = credlimit_reset_all(st->upstream);
	if (count < 0)
		return count;
	credlimit_reset_all(st->local);
	return count;
}

static int lease_set_credits(struct credlimit *cl, const void *key,
			     size_t key_len, uint32_t credits, uint64_t now_ns)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_set_credits(st->upstream, key, key_len, credits,
				     now_ns);
}

/* Returns this host's units of the key first: they were leased under the
 * policy the assignment replaces. */
static int lease_set_key_policy(struct credlimit *cl, const void *key,
				size_t key_len, int policy)
{
	struct cl_lease *st = cl->backend_state;
	int err;

	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	if (!st->rdonly)
		cl_lease_return_key(st, key, key_len);
	return credlimit_set_key_policy(st->upstream, key, key_len, policy);
}

static int lease_policy_define(struct credlimit *cl, const char *name,
			       const struct credlimit_policy *policy)
{
	struct cl_lease *st = cl->backend_state;
	struct cl_params params;
	int id, err;

	id = credlimit_policy_define(st->upstream, name, policy);
	if (id < 0)
		return id;
	err = cl_lease_mirror_policy(st, id, &params);
	return err < 0 ? err : id;
}

static int lease_policy_find(struct credlimit *cl, const char *name,
			     struct credlimit_policy *out)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_policy_find(st->upstream, name, out);
}

static int lease_policy_get(struct credlimit *cl, int id,
			    struct credlimit_policy_info *out)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_policy_get(st->upstream, id, out);
}

static int lease_policy_list(struct credlimit *cl,
			     struct credlimit_policy_info *out, size_t max)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_policy_list(st->upstream, out, max);
}

static int lease_foreach(struct credlimit *cl, uint64_t now_ns,
			 credlimit_entry_fn fn, void *context)
{
	struct cl_lease *st = cl->backend_state;

	return credlimit_foreach(st->upstream, now_ns, fn, context);
}

/* The lease cache's statistics, with this process's Redis counters. */
static int lease_stats(struct credlimit *cl, struct credlimit_stats *out)
{
	struct cl_lease *st = cl->backend_state;
	struct credlimit_stats redis;
	int err;

	err = credlimit_stats(st->local, out);
	if (err < 0)
		return err;
	/* Redis down: the lease cache's numbers are still worth having. */
	if (credlimit_stats(st->upstream, &redis) < 0)
		return 0;
	out->redis_errors = redis.redis_errors;
	out->redis_timeouts = redis.redis_timeouts;
	out->redis_reconnects = redis.redis_reconnects;
	out->redis_noscript = redis.redis_noscript;
	out->redis_moved = redis.redis_moved;
	out->redis_ask = redis.redis_ask;
	out->fallback_denied = redis.fallback_denied;
	out->fallback_allowed = redis.fallback_allowed;
	out->fallback_local = redis.fallback_local;
	out->redis_nodes = redis.redis_nodes;
	return 0;
}

const struct cl_backend cl_lease_backend = {
	.name = "lease",
	.close = lease_close,
	.decide = cl_lease_decide,
	.peek = lease_peek,
	.lookup = lease_lookup,
	.reset = lease_reset,
	.reset_all = lease_reset_all,
	.set_credits = lease_set_credits,
	.set_key_policy = lease_set_key_policy,
	.policy_define = lease_policy_define,
	.policy_find = lease_policy_find,
	.policy_get = lease_policy_get,
	.policy_list = lease_policy_list,
	.foreach = lease_foreach,
	.stats = lease_stats,
};
