/*
 * uri.h - the names that open a limiter on Redis
 *
 *   redis://HOST[:PORT][/DB][?OPTIONS]                one server
 *   redis+shards://HOST:PORT,HOST:PORT,...[/DB][?OPTIONS]
 *                                 independent servers, keys spread by slot
 *   redis+cluster://HOST:PORT[,HOST:PORT...][?OPTIONS]
 *                                 seed nodes of a Redis Cluster (DB 0)
 *
 * OPTIONS are NAME=VALUE pairs joined by '&'; see docs/redis.md.
 */
#ifndef CREDLIMIT_REDIS_URI_H
#define CREDLIMIT_REDIS_URI_H

#include <stdbool.h>

#include "credlimit.h"

#define CL_REDIS_NODES_MAX 64
#define CL_REDIS_HOST_MAX 255
#define CL_REDIS_PREFIX_MAX 64
#define CL_REDIS_DEFAULT_PORT 6379

enum cl_redis_mode {
	CL_REDIS_SINGLE,
	CL_REDIS_SHARDS,
	CL_REDIS_CLUSTER,
};

/* What a decision does when Redis does not answer in time. */
enum cl_redis_on_error {
	CL_REDIS_ON_ERROR_DENY,
	CL_REDIS_ON_ERROR_ALLOW,
	CL_REDIS_ON_ERROR_LOCAL, /* decide on the shared-memory limiter `local` */
};

struct cl_redis_address {
	char host[CL_REDIS_HOST_MAX + 1];
	int port;
};

struct cl_redis_config {
	enum cl_redis_mode mode;
	int node_count;
	struct cl_redis_address nodes[CL_REDIS_NODES_MAX];
	int db;
	char prefix[CL_REDIS_PREFIX_MAX + 1];
	int timeout_ms;         /* each command */
	int connect_timeout_ms; /* each connect */
	int retry_min_ms;       /* first wait before reconnecting */
	int retry_max_ms;       /* maximum wait, reached by doubling */
	int policy_refresh_ms;  /* age at which cached policies are reloaded */
	bool expire;            /* give idle customer keys an expiry */
	enum cl_redis_on_error on_error;
	char local[CREDLIMIT_NAME_MAX + 1]; /* "" unless on_error=local */
};

/* Returns true when name starts with a Redis scheme ("redis://",
 * "redis+shards://" or "redis+cluster://"). */
bool cl_redis_uri_matches(const char *name);

/*
 * Parses uri into *out.  Returns 0, or -EINVAL with a message naming the
 * invalid part in why (at most 255 bytes).
 */
int cl_redis_uri_parse(const char *uri, struct cl_redis_config *out,
		       char why[256]);

#endif /* CREDLIMIT_REDIS_URI_H */
