/*
 * handle.h - the per-process handle on a limiter
 *
 * The handle lives in process memory and is never shared: it holds this
 * process's mappings and validated local copies of every immutable value
 * of the control segment that addressing depends on.  Shared, mutable
 * state is only ever reached through the mapped structures of
 * shm/layout.h.
 */
#ifndef CREDLIMIT_HANDLE_H
#define CREDLIMIT_HANDLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "credlimit.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "shm/table.h"
#include "view.h"

struct credlimit {
	char name[CREDLIMIT_NAME_MAX + 1]; /* "" for a private limiter */
	bool rdonly;
	bool private_limiter;
	bool created; /* this open created the segments */
	/* CL_KIND_*: of the control segment once attached; before that,
	 * the kind a creating open gives a new one. */
	uint32_t kind;

	struct cl_mapping ctl_mapping;
	struct cl_ctl *ctl;
	uint64_t *windows;          /* CL_WINDOW_SLOTS window lengths, ns */
	struct cl_policy *policies; /* CL_POLICY_SLOTS */
	struct cl_stripe *stripes;  /* CL_STAT_STRIPES */

	/* Local copies of immutable control fields. */
	uint64_t secret[2];
	uint64_t segment_id;
	uint64_t max_capacity; /* slots */
	int full_action;
	uid_t owner;  /* owner of the control segment */
	gid_t group;  /* its group, which new table segments get too */
	mode_t mode;  /* its permission bits */

	/* Mapped table generations, RCU-protected (lib/view.c). */
	struct cl_view *view;

	credlimit_log_fn log;
	void *log_context;

	/* NULL for shared memory; else the backend every public function
	 * hands the handle to (lib/backend.h), its state, and the name the
	 * handle was opened with. */
	const struct cl_backend *backend;
	void *backend_state;
	char *uri;
	/* A lease handle (lib/lease/): its lease cache, which
	 * credlimit_grow() and credlimit_check() work on.  NULL otherwise. */
	struct credlimit *lease_cache;
};

/* The calling process's pid, cached so decisions need no system call;
 * refreshed in fork() children. */
uint32_t cl_self_pid(void);

/* Returns the time to use: now_ns, or CLOCK_MONOTONIC for CREDLIMIT_NOW. */
uint64_t cl_resolve_now(uint64_t now_ns);

/* Checks a key argument: -EINVAL for NULL or empty, -E2BIG for too long. */
int cl_key_validate(const void *key, size_t key_len);

/* Statistics stripe of the calling thread. */
struct cl_stripe *cl_stripe_of_thread(struct credlimit *cl);

/* Opens a limiter in shared memory as credlimit_open() does; a segment
 * this call creates gets `kind` (CL_KIND_*).  An existing segment is
 * opened whatever its kind: check cl->kind. */
int cl_open_shm(const char *name, unsigned flags,
		const struct credlimit_options *options, uint32_t kind,
		credlimit_t **out);

/* Called in the child after fork(), from handle.c's atfork handler. */
void cl_stats_after_fork(void);

#endif /* CREDLIMIT_HANDLE_H */
