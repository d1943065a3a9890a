/*
 * policy.h - named policies and the registry of window lengths
 */
#ifndef CREDLIMIT_POLICY_H
#define CREDLIMIT_POLICY_H

#include <stdint.h>

#include "credlimit.h"
#include "shm/layout.h"

struct credlimit;

/* A policy's numbers and the id of its window length. */
struct cl_params {
	struct credlimit_policy policy;
	unsigned wid;
	unsigned version; /* of the slot: changes with every update */
};

/* Returns 0 when name is a valid policy name, else -EINVAL. */
int cl_policy_name_validate(const char *name);

/*
 * Reads policy `id` consistently.  Returns 0, -ENOENT (id out of range or
 * not defined) or -EBADMSG (numbers out of range: a corrupt segment).
 */
int cl_policy_read(const struct credlimit *cl, int id, struct cl_params *out);

/* Looks up window id `wid`.  Returns 0 or -EBADMSG when it is not a
 * registered, valid window length. */
int cl_window_length(const struct credlimit *cl, unsigned wid,
		     uint64_t *window_ns);

/*
 * Writes the registry and policy 0 "default" into a control segment being
 * created, before it is published.  p must be valid.
 */
void cl_policy_init_segment(struct cl_ctl *ctl, const struct credlimit_policy *p);

#endif /* CREDLIMIT_POLICY_H */
