/*
 * lease.c - leases on Redis: mode 'l' of the decision script
 *
 * One lease is one run of the decision script (script.c) with four more
 * arguments: the units wanted, the units refunded, and the window index
 * and window length the refunded units were charged in.  The script
 * refunds, then grants; both are stored together, atomically.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "handle.h"
#include "redis/decide.h"
#include "redis/lease.h"
#include "redis/redis.h"
#include "shm/siphash.h"

/* Fills *out from the lease reply: a decision's nine elements, then the
 * units granted, the time used and the units of the refund accepted. */
static int parse_lease(struct cl_redis *st, const struct cl_reply *reply,
		       int policy, const struct cl_redis_lease_request *req,
		       uint64_t refund, struct cl_redis_lease_reply *out)
{
	const struct credlimit_policy *p = &st->policies[policy].policy;
	uint64_t capacity = (uint64_t)p->max_requests + p->max_credits;
	struct cl_redis_decision d;
	int err;

	err = cl_redis_parse_decision(st, reply, 12, policy, &d);
	if (err < 0)
		return err;
	if (!cl_redis_reply_u64(reply->element[9], &out->granted) ||
	    !cl_redis_reply_u64(reply->element[10], &out->redis_now_ns) ||
	    !cl_redis_reply_u64(reply->element[11], &out->refunded))
		goto invalid;

	/* An allowed cost fits in R + C, so the script saw it unclamped. */
	if (out->granted > capacity || d.spent > out->granted ||
	    out->refunded > refund)
		goto invalid;
	if (d.result.verdict == CREDLIMIT_ALLOWED ? out->granted < req->cost
						  : out->granted != 0)
		goto invalid;

	out->result = d.result;
	out->window = d.window;
	out->spent = d.spent;
	return 0;

invalid:
	cl_redis_log_failure(st, "Redis lease script replied with values "
				 "out of range");
	return -EPROTO;
}

int cl_redis_lease(struct cl_redis *st, const void *key, size_t key_len,
		   const struct cl_redis_lease_request *req,
		   struct cl_redis_lease_reply *out)
{
	char numbers[4][24];
	const char *extra[4];
	struct cl_reply *reply;
	uint64_t want = req->want;
	uint64_t refund = req->refund;
	int policy = req->policy;
	long long code;
	int err;

	/* As for the cost: every count above R + C decides the same. */
	if (want > CL_REDIS_COUNT_CLAMP)
		want = CL_REDIS_COUNT_CLAMP;
	if (refund > CL_REDIS_COUNT_CLAMP)
		refund = CL_REDIS_COUNT_CLAMP;
	snprintf(numbers[0], sizeof(numbers[0]), "%" PRIu64, want);
	snprintf(numbers[1], sizeof(numbers[1]), "%" PRIu64, refund);
	snprintf(numbers[2], sizeof(numbers[2]), "%" PRIu64,
		 req->refund_window);
	snprintf(numbers[3], sizeof(numbers[3]), "%" PRIu64,
		 req->refund_window_ns);
	for (int i = 0; i < 4; i++)
		extra[i] = numbers[i];

	err = cl_redis_script_run(st, 'l', &policy, key, key_len, req->cost,
				  req->now_ns, 4, extra, &reply);
	if (err < 0)
		return err;

	code = reply->element[0]->integer;
	if (code == 2)
		err = -ENOENT;
	else if (code == 0)
		err = parse_lease(st, reply, policy, req, refund, out);
	else
		err = -EPROTO;
	cl_reply_free(reply);
	return err;
}

int cl_redis_lease_locked(credlimit_t *upstream, const void *key,
			  size_t key_len,
			  const struct cl_redis_lease_request *req,
			  struct cl_redis_lease_reply *out)
{
	struct cl_redis *st;
	int err;

	if (upstream == NULL || upstream->backend != &cl_redis_backend ||
	    req == NULL || out == NULL)
		return -EINVAL;
	err = cl_key_validate(key, key_len);
	if (err < 0)
		return err;
	st = upstream->backend_state;
	if (st->rdonly)
		return -EROFS;

	pthread_mutex_lock(&st->lock);
	cl_redis_enter(st);
	err = cl_redis_lease(st, key, key_len, req, out);
	pthread_mutex_unlock(&st->lock);
	return err;
}

uint64_t cl_redis_identity(const credlimit_t *upstream)
{
	static const uint64_t key[2] = { UINT64_C(0x6c65617365637265),
					 UINT64_C(0x646c696d69747570) };
	const struct cl_redis *st = upstream->backend_state;
	const struct cl_redis_config *c = &st->config;
	char text[CL_REDIS_PREFIX_MAX + 64 +
		  CL_REDIS_NODES_MAX * (CL_REDIS_HOST_MAX + 8)];
	size_t len;
	uint64_t id;

	len = (size_t)snprintf(text, sizeof(text), "%d %d %s", (int)c->mode,
			       c->db, c->prefix);
	/* A cluster is the same whatever seeds name it. */
	for (int i = 0; c->mode != CL_REDIS_CLUSTER && i < c->node_count &&
			len < sizeof(text);
	     i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					" %s:%d", c->nodes[i].host,
					c->nodes[i].port);
	if (len > sizeof(text))
		len = sizeof(text);

	id = cl_siphash24(key, text, len);
	return id != 0 ? id : 1;
}
