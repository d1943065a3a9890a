/*
 * backend.h - the operations of a limiter that is not in shared memory
 *
 * A handle on shared memory has backend NULL and takes the code paths of
 * the files in lib/.  A handle opened on a Redis URI has backend &cl_redis_backend,
 * and each public function hands it over at its start, after checking
 * only the arguments every backend shares.  Functions without meaning on
 * a backend (credlimit_grow(), credlimit_check()) return -EOPNOTSUPP
 * there.
 */
#ifndef CREDLIMIT_BACKEND_H
#define CREDLIMIT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "credlimit.h"

struct credlimit;

struct cl_backend {
	const char *name;
	void (*close)(struct credlimit *cl);
	int (*decide)(struct credlimit *cl, int policy, const void *key,
		      size_t key_len, uint64_t cost, uint64_t now_ns,
		      struct credlimit_result *result);
	int (*peek)(struct credlimit *cl, const void *key, size_t key_len,
		    uint64_t now_ns, struct credlimit_result *result);
	int (*lookup)(struct credlimit *cl, const void *key, size_t key_len,
		      uint64_t now_ns, struct credlimit_entry *entry);
	int (*reset)(struct credlimit *cl, const void *key, size_t key_len);
	int64_t (*reset_all)(struct credlimit *cl);
	int (*set_credits)(struct credlimit *cl, const void *key,
			   size_t key_len, uint32_t credits, uint64_t now_ns);
	int (*set_key_policy)(struct credlimit *cl, const void *key,
			      size_t key_len, int policy);
	int (*policy_define)(struct credlimit *cl, const char *name,
			     const struct credlimit_policy *policy);
	int (*policy_find)(struct credlimit *cl, const char *name,
			   struct credlimit_policy *out);
	int (*policy_get)(struct credlimit *cl, int id,
			  struct credlimit_policy_info *out);
	int (*policy_list)(struct credlimit *cl,
			   struct credlimit_policy_info *out, size_t max);
	int (*foreach)(struct credlimit *cl, uint64_t now_ns,
		       credlimit_entry_fn fn, void *context);
	int (*stats)(struct credlimit *cl, struct credlimit_stats *out);
};

#endif /* CREDLIMIT_BACKEND_H */
