/*
 * route.c - which server a command goes to, connections and backoff
 *
 * Every customer key belongs to one of the 16384 Redis Cluster slots:
 * CRC16 (XMODEM: polynomial 0x1021, initial value 0) of its hash tag,
 * modulo 16384.  The hash tag is the part between the first '{' and the
 * first '}' after it, when that part is not empty; otherwise the whole
 * key is hashed.  Customer keys are "P{KEY}", so KEY picks the slot.
 *
 *   single server   every command goes to node 0;
 *   shards          slot s goes to node s * N / 16384 of the N servers
 *                   of the URI, so a customer always meets the same one;
 *   cluster         the slot map comes from CLUSTER SLOTS.  A reply
 *                   "MOVED slot host:port" moves that slot in the map and
 *                   the command is sent again there; "ASK slot host:port"
 *                   sends ASKING and the command to that node once,
 *                   without changing the map (the slot is migrating).
 *                   A connection error makes the next command reload
 *                   the map, so a failover's new primary is found.
 *
 * Connections are made on first use.  A failed connect or command closes
 * the connection and makes the node wait before the next connect: the
 * wait starts at retry_min_ms and doubles up to retry_max_ms, and calls
 * meanwhile fail at once with -EAGAIN, so a server that is down costs a
 * decision nothing but the failure action.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis/redis.h"

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint16_t crc16_xmodem(const unsigned char *data, size_t len)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint16_t)(data[i] << 8);
		for (int bit = 0; bit < 8; bit++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021
					   : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned cl_redis_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open != NULL) {
		size_t rest = len - (size_t)(open - key) - 1;
		const char *close = memchr(open + 1, '}', rest);

		if (close != NULL && close > open + 1)
			return crc16_xmodem((const unsigned char *)open + 1,
					    (size_t)(close - open - 1)) %
			       CL_REDIS_SLOTS;
	}
	return crc16_xmodem((const unsigned char *)key, len) % CL_REDIS_SLOTS;
}

int cl_redis_customer_key(const struct cl_redis *st, const void *key,
			  size_t key_len, char **out, size_t *out_len)
{
	size_t prefix_len = strlen(st->config.prefix);
	char *name = malloc(prefix_len + key_len + 2);

	*out = NULL;
	*out_len = 0;
	if (name == NULL)
		return -ENOMEM;
	memcpy(name, st->config.prefix, prefix_len);
	name[prefix_len] = '{';
	memcpy(name + prefix_len + 1, key, key_len);
	name[prefix_len + 1 + key_len] = '}';
	*out = name;
	*out_len = prefix_len + key_len + 2;
	return 0;
}

static void node_failed(struct cl_redis *st, struct cl_rnode *node, int err,
			const char *what, const char *why)
{
	cl_rclient_close(node->client);
	node->client = NULL;

	st->counters.errors++;
	if (err == -ETIMEDOUT)
		st->counters.timeouts++;

	if (node->backoff_ms == 0)
		node->backoff_ms = st->config.retry_min_ms;
	else if (node->backoff_ms < st->config.retry_max_ms / 2)
		node->backoff_ms *= 2;
	else
		node->backoff_ms = st->config.retry_max_ms;
	node->retry_at_ns = monotonic_ns() +
			    (uint64_t)node->backoff_ms * 1000000u;
	node->failed = true;

	cl_redis_log_failure(st,
			     "Redis %s:%d: %s failed: %s (%s); next connect "
			     "attempt in %d ms",
			     node->address.host, node->address.port, what,
			     credlimit_strerror(err), why, node->backoff_ms);
}

/*
 * Ends a node's failure once it answers a command.  A connect alone does
 * not count: the kernel accepts connections for a server that is stopped
 * or hung, and resetting the backoff then would reconnect (and log) at
 * every call.
 */
static void node_answered(struct cl_redis *st, struct cl_rnode *node)
{
	if (!node->failed)
		return;
	st->counters.reconnects++;
	cl_redis_log(st, CREDLIMIT_LOG_INFO, "Redis %s:%d: answering again",
		     node->address.host, node->address.port);
	node->failed = false;
	node->backoff_ms = 0;
	node->retry_at_ns = 0;
}

static int node_connect(struct cl_redis *st, struct cl_rnode *node)
{
	char why[128] = "";
	int err;

	if (node->retry_at_ns != 0 && monotonic_ns() < node->retry_at_ns)
		return -EAGAIN;

	err = cl_rclient_connect(node->address.host, node->address.port,
				 st->config.connect_timeout_ms,
				 st->config.timeout_ms, &node->client, why);
	if (err < 0) {
		node_failed(st, node, err, "connect", why);
		return err;
	}

	if (st->config.db != 0) {
		char db[16];
		const char *argv[] = { "SELECT", db };
		size_t lens[2] = { 6, 0 };
		struct cl_reply *reply;

		lens[1] = (size_t)snprintf(db, sizeof(db), "%d",
					   st->config.db);
		err = cl_rclient_command(node->client, 2, argv, lens, &reply,
					 why);
		if (err == 0 && reply->type == CL_REPLY_ERROR) {
			/* A configuration error, not an outage: no retry
			 * would help, so say what to fix instead. */
			cl_redis_log(st, CREDLIMIT_LOG_ERROR,
				     "Redis %s:%d rejected SELECT %d (%s); "
				     "check the database number in the URI",
				     node->address.host, node->address.port,
				     st->config.db, reply->str);
			cl_reply_free(reply);
			cl_rclient_close(node->client);
			node->client = NULL;
			return -EINVAL;
		}
		cl_reply_free(reply);
		if (err < 0) {
			node_failed(st, node, err, "SELECT", why);
			return err;
		}
	}

	return 0;
}

int cl_redis_node_command(struct cl_redis *st, int index, bool asking,
			  int argc, const char *const *argv,
			  const size_t *lens, struct cl_reply **reply)
{
	struct cl_rnode *node = &st->nodes[index];
	char why[128] = "";
	int err;

	*reply = NULL;
	if (node->client == NULL) {
		err = node_connect(st, node);
		if (err < 0)
			return err;
	}

	if (asking) {
		static const char *const asking_argv[] = { "ASKING" };
		static const size_t asking_lens[] = { 6 };

		err = cl_rclient_command(node->client, 1, asking_argv,
					 asking_lens, reply, why);
		cl_reply_free(*reply);
		*reply = NULL;
		if (err < 0) {
			node_failed(st, node, err, "ASKING", why);
			return err;
		}
	}

	err = cl_rclient_command(node->client, argc, argv, lens, reply, why);
	if (err < 0) {
		char what[32];

		snprintf(what, sizeof(what), "%.*s", (int)lens[0] > 20 ? 20 :
			 (int)lens[0], argv[0]);
		node_failed(st, node, err, what, why);
		return err;
	}
	node_answered(st, node);
	return 0;
}

void cl_redis_disconnect_all(struct cl_redis *st)
{
	for (int i = 0; i < st->node_count; i++) {
		cl_rclient_close(st->nodes[i].client);
		st->nodes[i].client = NULL;
	}
}

/* Returns the index of the node at host:port, adding it when new, or
 * -ENOSPC when the table of nodes is full. */
static int node_index(struct cl_redis *st, const char *host, size_t host_len,
		      int port)
{
	struct cl_rnode *node;

	if (host_len == 0 || host_len > CL_REDIS_HOST_MAX)
		return -EPROTO;
	for (int i = 0; i < st->node_count; i++) {
		const struct cl_redis_address *a = &st->nodes[i].address;

		if (a->port == port && strlen(a->host) == host_len &&
		    memcmp(a->host, host, host_len) == 0)
			return i;
	}

	if (st->node_count == st->node_capacity) {
		int capacity = st->node_capacity * 2;
		struct cl_rnode *nodes;

		if (capacity > CL_REDIS_CLUSTER_NODES_MAX)
			return -ENOSPC;
		nodes = realloc(st->nodes, (size_t)capacity * sizeof(*nodes));
		if (nodes == NULL)
			return -ENOMEM;
		st->nodes = nodes;
		st->node_capacity = capacity;
	}

	node = &st->nodes[st->node_count];
	memset(node, 0, sizeof(*node));
	memcpy(node->address.host, host, host_len);
	node->address.host[host_len] = '\0';
	node->address.port = port;
	return st->node_count++;
}

/* Applies one entry of CLUSTER SLOTS: [start, end, [host, port, ...]]. */
static int apply_slot_range(struct cl_redis *st, const struct cl_reply *range)
{
	const struct cl_reply *primary;
	long long start, end;
	int index;

	if (range->type != CL_REPLY_ARRAY || range->elements < 3 ||
	    range->element[0]->type != CL_REPLY_INTEGER ||
	    range->element[1]->type != CL_REPLY_INTEGER ||
	    range->element[2]->type != CL_REPLY_ARRAY ||
	    range->element[2]->elements < 2)
		return -EPROTO;
	start = range->element[0]->integer;
	end = range->element[1]->integer;
	primary = range->element[2];
	if (start < 0 || end >= CL_REDIS_SLOTS || start > end ||
	    primary->element[0]->type != CL_REPLY_STRING ||
	    primary->element[1]->type != CL_REPLY_INTEGER)
		return -EPROTO;

	index = node_index(st, primary->element[0]->str,
			   primary->element[0]->len,
			   (int)primary->element[1]->integer);
	if (index < 0)
		return index;
	for (long long slot = start; slot <= end; slot++)
		st->slot_node[slot] = (int16_t)index;
	return 0;
}

/* Loads the slot map from the first node that replies to CLUSTER SLOTS. */
static int load_slots(struct cl_redis *st)
{
	static const char *const argv[] = { "CLUSTER", "SLOTS" };
	static const size_t lens[] = { 7, 5 };
	int err = -EIO;

	for (int i = 0; i < st->node_count; i++) {
		struct cl_reply *reply;

		err = cl_redis_node_command(st, i, false, 2, argv, lens,
					    &reply);
		if (err < 0)
			continue;
		if (reply->type != CL_REPLY_ARRAY) {
			cl_redis_log(st, CREDLIMIT_LOG_ERROR,
				     "Redis %s:%d: CLUSTER SLOTS failed: %s",
				     st->nodes[i].address.host,
				     st->nodes[i].address.port,
				     reply->str != NULL ? reply->str
							: "not an array");
			cl_reply_free(reply);
			err = -EPROTO;
			continue;
		}

		for (int slot = 0; slot < CL_REDIS_SLOTS; slot++)
			st->slot_node[slot] = -1;
		for (size_t r = 0; r < reply->elements && err == 0; r++)
			err = apply_slot_range(st, reply->element[r]);
		cl_reply_free(reply);
		if (err == 0) {
			st->slots_loaded = true;
			return 0;
		}
	}
	return err;
}

/* Parses "MOVED 3999 127.0.0.1:6381" or the same with ASK. */
static int parse_redirect(struct cl_redis *st, const struct cl_reply *reply,
			  int *slot, int *index)
{
	const char *text = strchr(reply->str, ' ');
	const char *address;
	const char *colon;
	char *end;
	long value;

	if (text == NULL)
		return -EPROTO;
	value = strtol(text + 1, &end, 10);
	if (end == text + 1 || *end != ' ' || value < 0 ||
	    value >= CL_REDIS_SLOTS)
		return -EPROTO;
	*slot = (int)value;

	address = end + 1;
	colon = strrchr(address, ':');
	if (colon == NULL)
		return -EPROTO;
	value = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || value < 1 || value > 65535)
		return -EPROTO;

	*index = node_index(st, address, (size_t)(colon - address),
			    (int)value);
	return *index < 0 ? *index : 0;
}

int cl_redis_command(struct cl_redis *st, const char *key, size_t key_len,
		     int argc, const char *const *argv, const size_t *lens,
		     struct cl_reply **reply)
{
	unsigned slot = cl_redis_key_slot(key, key_len);
	bool asking = false;
	int index = 0;
	int err;

	*reply = NULL;
	if (st->config.mode == CL_REDIS_SHARDS) {
		index = (int)(slot * (unsigned)st->config.node_count /
			      CL_REDIS_SLOTS);
	} else if (st->config.mode == CL_REDIS_CLUSTER) {
		if (!st->slots_loaded) {
			err = load_slots(st);
			if (err < 0)
				return err;
		}
		index = st->slot_node[slot] >= 0 ? st->slot_node[slot] : 0;
	}

	for (int hops = 0;; hops++) {
		int redirect_slot;

		err = cl_redis_node_command(st, index, asking, argc, argv,
					    lens, reply);
		if (err < 0 && st->config.mode == CL_REDIS_CLUSTER) {
			/* The node may have failed over to a replica, so
			 * the next command reloads the map from a node that
			 * replies.  NOTE: failover is not covered by the
			 * tests, which start primaries only. */
			st->slots_loaded = false;
			return err;
		}
		if (err < 0 || st->config.mode != CL_REDIS_CLUSTER)
			return err;

		asking = cl_reply_is_error(*reply, "ASK");
		if (!asking && !cl_reply_is_error(*reply, "MOVED"))
			return 0;
		if (hops == CL_REDIS_REDIRECTS_MAX) {
			cl_redis_log_failure(st,
					     "Redis Cluster: more than %d "
					     "redirections for slot %u, last "
					     "\"%s\"",
					     CL_REDIS_REDIRECTS_MAX, slot,
					     (*reply)->str);
			cl_reply_free(*reply);
			*reply = NULL;
			st->counters.errors++;
			return -ELOOP;
		}

		err = parse_redirect(st, *reply, &redirect_slot, &index);
		if (err < 0) {
			cl_redis_log_failure(st,
					     "Redis Cluster: cannot follow "
					     "\"%s\": %s",
					     (*reply)->str,
					     credlimit_strerror(err));
			cl_reply_free(*reply);
			*reply = NULL;
			st->counters.errors++;
			return err;
		}
		if (asking) {
			st->counters.ask++;
		} else {
			st->counters.moved++;
			st->slot_node[redirect_slot] = (int16_t)index;
		}
		cl_reply_free(*reply);
		*reply = NULL;
	}
}

int cl_redis_data_nodes(struct cl_redis *st, int *nodes, int max)
{
	int count = 0;

	if (st->config.mode != CL_REDIS_CLUSTER) {
		for (int i = 0; i < st->config.node_count && count < max; i++)
			nodes[count++] = i;
		return count;
	}

	/* A fresh map: listing must reach every primary there is now. */
	{
		int err = load_slots(st);

		if (err < 0)
			return err;
	}
	for (int slot = 0; slot < CL_REDIS_SLOTS; slot++) {
		int index = st->slot_node[slot];
		bool seen = false;

		if (index < 0)
			continue;
		for (int i = 0; i < count; i++)
			seen = seen || nodes[i] == index;
		if (!seen && count < max)
			nodes[count++] = index;
	}
	return count;
}
