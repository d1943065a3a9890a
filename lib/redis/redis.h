/*
 * redis.h - the Redis backend: state of a handle opened on a Redis URI
 *
 * A handle opened on redis://, redis+shards:// or redis+cluster:// keeps a
 * struct cl_redis in cl->backend_state, and every public function routes
 * it to the functions below (lib/backend.h).  Connections are made per
 * process, on first use after open or fork(), and serialized by one mutex
 * per handle: the threads of one process take turns on the connections.
 *
 * Keys in Redis, for a prefix P (default "cl:"):
 *
 *   P{KEY}      hash of one customer: w (window index), wn (window length
 *               the index counts in, ns), u (base requests used), c
 *               (credits), p (policy of the last decision), ls (time of
 *               the last decision, ns), o (operator's policy assignment),
 *               n ("R W C" of the last call that stored the state: a
 *               refund under other numbers is not taken).
 *               From the last window roll: hw (the window index before
 *               it), hn (that index's window length, ns) and hr (credits
 *               that refunds of leases charged in window hw may still
 *               add, as lib/redis/script.c explains).
 *               The braces make KEY the hash tag, so a Redis Cluster
 *               keeps everything of one customer in one slot.
 *   Ppolicies   hash of the policies: field ID, value "NAME R W C I".
 *
 * A customer's hash expires (PEXPIRE) when its rolled state would have no
 * requests used and max_credits credits: from then on it equals a new
 * customer when initial_credits = max_credits.  With initial_credits below
 * max_credits a returning customer starts with fewer credits than it would
 * have kept, so expiry only makes limits stricter.
 */
#ifndef CREDLIMIT_REDIS_H
#define CREDLIMIT_REDIS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "credlimit.h"
#include "redis/client.h"
#include "redis/uri.h"

struct credlimit;

#define CL_REDIS_SLOTS 16384
/* Redis keys and nodes a cluster map may name. */
#define CL_REDIS_CLUSTER_NODES_MAX 256
/* Redirections followed for one command before giving up. */
#define CL_REDIS_REDIRECTS_MAX 5

/* One server: its address and this process's connection to it. */
struct cl_rnode {
	struct cl_redis_address address;
	struct cl_rclient *client; /* NULL: not connected */
	uint64_t retry_at_ns;      /* no connect before (CLOCK_MONOTONIC) */
	int backoff_ms;            /* last wait; 0 after a success */
	bool failed;               /* the last attempt failed */
};

/* Counters of this process; read by credlimit_stats(). */
struct cl_redis_counters {
	uint64_t allowed;
	uint64_t denied;
	uint64_t credits_spent;
	uint64_t errors;
	uint64_t timeouts;
	uint64_t reconnects;
	uint64_t noscript;
	uint64_t moved;
	uint64_t ask;
	uint64_t fallback_denied;
	uint64_t fallback_allowed;
	uint64_t fallback_local;
};

struct cl_redis {
	struct cl_redis_config config;
	struct credlimit *cl; /* for logging */
	bool rdonly;

	pthread_mutex_t lock; /* everything below, and the connections */
	bool forked;          /* set in a fork() child: drop connections */

	/* Servers: the URI's, then (cluster) those the slot map names. */
	struct cl_rnode *nodes;
	int node_count;
	int node_capacity;
	/* Cluster: node index of each slot, -1 when unknown. */
	int16_t *slot_node;
	bool slots_loaded;

	char script_sha[41];

	/* Policies cached from Ppolicies. */
	struct credlimit_policy_info policies[CREDLIMIT_POLICY_MAX];
	bool defined[CREDLIMIT_POLICY_MAX];
	int policy_count;
	uint64_t policies_loaded_ns; /* 0: never */

	struct cl_redis_counters counters;

	/* Rate limit of failure messages: one per second, with a count of
	 * those left out. */
	uint64_t log_window_ns;
	uint64_t log_suppressed;

	/* on_error=local: the shared-memory limiter, and the id there of
	 * each Redis policy id (-1: not defined there yet). */
	credlimit_t *local;
	int local_policy[CREDLIMIT_POLICY_MAX];
	struct credlimit_policy local_numbers[CREDLIMIT_POLICY_MAX];

	struct cl_redis *next_open; /* list of open handles, for fork() */
};

/* backend.c */
int cl_redis_open(struct credlimit *cl, const char *uri, unsigned flags,
		  const struct credlimit_options *options);
/* Closes the connections and the local limiter, and frees the state. */
void cl_redis_close(struct credlimit *cl);
void cl_redis_log(struct cl_redis *st, int level, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
/* Logs a failure at most once a second, counting the ones left out. */
void cl_redis_log_failure(struct cl_redis *st, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
/* Called with st->lock held at the start of each operation. */
void cl_redis_enter(struct cl_redis *st);

/* route.c: every function is called with st->lock held. */
/* Builds the Redis key of a customer into a new buffer (free it). */
int cl_redis_customer_key(const struct cl_redis *st, const void *key,
			  size_t key_len, char **out, size_t *out_len);
/* CRC16 (XMODEM) slot of a Redis key, after the hash tag rule. */
unsigned cl_redis_key_slot(const char *key, size_t len);
/* Sends a command about key (argv names it; key picks the server),
 * following cluster redirections.  Errors as cl_redis_node_command(). */
int cl_redis_command(struct cl_redis *st, const char *key, size_t key_len,
		     int argc, const char *const *argv, const size_t *lens,
		     struct cl_reply **reply);
/* Sends a command to node index; -EAGAIN while reconnecting waits,
 * else -ETIMEDOUT, -ECONNREFUSED, -EIO or -ENOMEM. */
int cl_redis_node_command(struct cl_redis *st, int node, bool asking,
			  int argc, const char *const *argv,
			  const size_t *lens, struct cl_reply **reply);
/* Fills *nodes with the indexes of the servers that hold customer keys
 * (cluster: primaries of the slot map).  Returns the count or an error. */
int cl_redis_data_nodes(struct cl_redis *st, int *nodes, int max);
/* Drops every connection (after fork(), and at close). */
void cl_redis_disconnect_all(struct cl_redis *st);

/* script.c */
/* Arguments of the decision script: nine in every mode, four more for a
 * lease. */
#define CL_REDIS_SCRIPT_ARGS_MAX 13
int cl_redis_script_load(struct cl_redis *st);
/* Runs the decision script on one customer key with nargs arguments, at
 * most CL_REDIS_SCRIPT_ARGS_MAX (else -EINVAL).  Errors as
 * cl_redis_command(), and -EPROTO for an unexpected reply. */
int cl_redis_eval_decide(struct cl_redis *st, const char *key,
			 size_t key_len, int nargs, const char *const *args,
			 const size_t *lens, struct cl_reply **reply);
int cl_redis_eval_policy_define(struct cl_redis *st, const char *name,
				const struct credlimit_policy *p);

/* policy.c (Redis) */
int cl_redis_policies_load(struct cl_redis *st);
/* Reloads the cached policies when older than policy_refresh_ms. */
int cl_redis_policies_refresh(struct cl_redis *st, bool force);

/* Stores policy `id` as NAME with numbers *p unless the policies hash has
 * that id (HSETNX).  Sets *created when this call stored it.  Returns 0 or
 * a negative errno of the command. */
int cl_redis_policy_store_new(struct cl_redis *st, int id, const char *name,
			      const struct credlimit_policy *p, bool *created);

/* The public API on Redis handles (admin.c and decide.c). */
extern const struct cl_backend cl_redis_backend;

#endif /* CREDLIMIT_REDIS_H */
