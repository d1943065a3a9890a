/*
 * backend.c - opening and closing a limiter on Redis, logging, fork()
 *
 * Opening parses the URI, loads the decision script (SCRIPT LOAD, for its
 * SHA1), creates policy 0 "default" with HSETNX when the call may create
 * the limiter, and loads the policies.  A limiter exists on Redis when its
 * policies hash does.  With on_error=local it also opens (creating it when
 * needed) the shared-memory limiter that decides while Redis is down.
 *
 * Connections are per process: a fork() child must not share its parent's
 * sockets, or the replies of the two would interleave.  A pthread_atfork()
 * handler takes every open handle's lock around fork(), so no connection
 * is mid-command then, and marks the child's handles so that their first
 * call closes the inherited sockets and connects anew.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "handle.h"
#include "log.h"
#include "redis/redis.h"

static pthread_mutex_t open_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cl_redis *open_list;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
	pthread_mutex_lock(&open_list_lock);
	for (struct cl_redis *st = open_list; st != NULL; st = st->next_open)
		pthread_mutex_lock(&st->lock);
}

static void after_fork_parent(void)
{
	for (struct cl_redis *st = open_list; st != NULL; st = st->next_open)
		pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&open_list_lock);
}

static void after_fork_child(void)
{
	for (struct cl_redis *st = open_list; st != NULL; st = st->next_open) {
		st->forked = true;
		pthread_mutex_unlock(&st->lock);
	}
	pthread_mutex_unlock(&open_list_lock);
}

static void register_atfork(void)
{
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void cl_redis_enter(struct cl_redis *st)
{
	if (st->forked) {
		/* Closing the child's copies of the sockets leaves the
		 * parent's connections open: nothing is sent. */
		cl_redis_disconnect_all(st);
		memset(&st->counters, 0, sizeof(st->counters));
		st->forked = false;
	}
}

void cl_redis_log(struct cl_redis *st, int level, const char *format, ...)
{
	char message[256];
	va_list args;

	if (st->cl == NULL || st->cl->log == NULL)
		return;
	va_start(args, format);
	vsnprintf(message, sizeof(message), format, args);
	va_end(args);
	cl_log(st->cl, level, "%s", message);
}

void cl_redis_log_failure(struct cl_redis *st, const char *format, ...)
{
	char message[256];
	struct timespec ts;
	uint64_t now;
	va_list args;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (st->log_window_ns != 0 && now - st->log_window_ns < 1000000000u) {
		st->log_suppressed++;
		return;
	}
	st->log_window_ns = now;

	va_start(args, format);
	vsnprintf(message, sizeof(message), format, args);
	va_end(args);
	if (st->log_suppressed > 0)
		cl_redis_log(st, CREDLIMIT_LOG_WARNING,
			     "%s (%" PRIu64 " similar messages left out in "
			     "the last second)",
			     message, st->log_suppressed);
	else
		cl_redis_log(st, CREDLIMIT_LOG_WARNING, "%s", message);
	st->log_suppressed = 0;
}

static int state_init(struct cl_redis *st, const char *uri)
{
	char why[256];
	int err;

	err = cl_redis_uri_parse(uri, &st->config, why);
	if (err < 0) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR, "%s", why);
		return err;
	}

	st->node_capacity = st->config.mode == CL_REDIS_CLUSTER
				    ? 16
				    : st->config.node_count;
	if (st->node_capacity < st->config.node_count)
		st->node_capacity = st->config.node_count;
	st->nodes = calloc((size_t)st->node_capacity, sizeof(*st->nodes));
	if (st->nodes == NULL)
		return -ENOMEM;
	for (int i = 0; i < st->config.node_count; i++)
		st->nodes[i].address = st->config.nodes[i];
	st->node_count = st->config.node_count;

	if (st->config.mode == CL_REDIS_CLUSTER) {
		st->slot_node = malloc(CL_REDIS_SLOTS *
				       sizeof(*st->slot_node));
		if (st->slot_node == NULL)
			return -ENOMEM;
		for (int i = 0; i < CL_REDIS_SLOTS; i++)
			st->slot_node[i] = -1;
	}

	for (int i = 0; i < CREDLIMIT_POLICY_MAX; i++)
		st->local_policy[i] = -1;
	return 0;
}

/* Creates policy 0 "default" unless the policies hash has it.  Sets
 * *created when this call created it. */
static int create_default_policy(struct cl_redis *st,
				 const struct credlimit_policy *p,
				 bool *created)
{
	return cl_redis_policy_store_new(st, 0, "default", p, created);
}

static void state_free(struct cl_redis *st)
{
	cl_redis_disconnect_all(st);
	credlimit_close(st->local);
	free(st->slot_node);
	free(st->nodes);
	free(st);
}

void cl_redis_close(struct credlimit *cl)
{
	struct cl_redis *st = cl->backend_state;

	pthread_mutex_lock(&open_list_lock);
	for (struct cl_redis **link = &open_list; *link != NULL;
	     link = &(*link)->next_open) {
		if (*link == st) {
			*link = st->next_open;
			break;
		}
	}
	pthread_mutex_unlock(&open_list_lock);

	pthread_mutex_destroy(&st->lock);
	state_free(st);
	cl->backend_state = NULL;
}

/* Connects, loads the script and the policies, creating the limiter when
 * flags allow. */
static int attach(struct cl_redis *st, unsigned flags,
		  const struct credlimit_options *options, bool *created)
{
	int err;

	err = cl_redis_script_load(st);
	if (err < 0)
		return err;

	*created = false;
	if (flags & CREDLIMIT_OPEN_CREATE) {
		err = create_default_policy(st, &options->default_policy,
					    created);
		if (err < 0)
			return err;
		if ((flags & CREDLIMIT_OPEN_EXCL) && !*created)
			return -EEXIST;
	}

	err = cl_redis_policies_refresh(st, true);
	if (err < 0)
		return err;
	if (st->policy_count == 0)
		return -ENOENT;
	return 0;
}

int cl_redis_open(struct credlimit *cl, const char *uri, unsigned flags,
		  const struct credlimit_options *options)
{
	struct cl_redis *st;
	bool created = false;
	int err;

	if ((flags & CREDLIMIT_OPEN_CREATE) &&
	    credlimit_policy_validate(&options->default_policy) < 0)
		return -EINVAL;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->cl = cl;
	st->rdonly = flags & CREDLIMIT_OPEN_RDONLY;
	err = state_init(st, uri);
	if (err < 0)
		goto free_state;

	if (st->config.on_error == CL_REDIS_ON_ERROR_LOCAL) {
		err = credlimit_open(st->config.local, CREDLIMIT_OPEN_CREATE,
				     options, &st->local);
		if (err < 0) {
			cl_redis_log(st, CREDLIMIT_LOG_ERROR,
				     "cannot open the local limiter \"%s\" "
				     "for on_error=local: %s",
				     st->config.local,
				     credlimit_strerror(err));
			goto free_state;
		}
	}

	err = attach(st, flags, options, &created);
	if (err < 0)
		goto free_state;

	err = pthread_mutex_init(&st->lock, NULL);
	if (err != 0) {
		err = -err;
		goto free_state;
	}
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&open_list_lock);
	st->next_open = open_list;
	open_list = st;
	pthread_mutex_unlock(&open_list_lock);

	cl->backend = &cl_redis_backend;
	cl->backend_state = st;
	cl->created = created;
	cl->rdonly = st->rdonly;
	return 0;

free_state:
	state_free(st);
	return err;
}
