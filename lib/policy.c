/*
 * policy.c - named policies and the registry of window lengths
 *
 * A limiter has CREDLIMIT_POLICY_MAX policy slots in its control segment.
 * Policy ids are slot indexes and never change; slots are never freed,
 * because entries record the id of the policy of their last decision.
 *
 * An entry's state counts windows in the length that was in force when it
 * was stored, and the state word has room for a 10-bit window id, not a
 * 64-bit length.  So every window length a policy ever had is registered
 * once in an append-only array of the control segment and named by its
 * index.  Registered lengths never change, which lets a decision convert a
 * state counted in an old length after the policy's window changed.
 *
 * Writers (define) serialize on ctl->policy_lock.  Readers never lock: a
 * policy's numbers are one 16-byte word with a version that every update
 * changes, read as hi, lo, hi until both loads of hi agree.
 */
#include <errno.h>
#include <string.h>

#include <urcu/arch.h>
#include <urcu/system.h>
#include <urcu/uatomic.h>

#include "backend.h"
#include "handle.h"
#include "policy.h"
#include "shm/entry.h"
#include "shm/pidlock.h"

/* A live process may hold the policy lock this long before a define
 * gives up with -EBUSY. */
#define CL_POLICY_LOCK_TIMEOUT_NS UINT64_C(2000000000)

static const char default_name[] = "default";

int cl_policy_name_validate(const char *name)
{
	size_t len;

	if (name == NULL || name[0] == '\0')
		return -EINVAL;

	len = strnlen(name, CREDLIMIT_POLICY_NAME_MAX + 1);
	if (len > CREDLIMIT_POLICY_NAME_MAX)
		return -EINVAL;

	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

int credlimit_policy_validate(const struct credlimit_policy *p)
{
	if (p == NULL || p->max_requests == 0 ||
	    p->window_ns < CREDLIMIT_WINDOW_MIN_NS ||
	    p->window_ns > CREDLIMIT_WINDOW_MAX_NS ||
	    p->initial_credits > p->max_credits)
		return -EINVAL;
	return 0;
}

int cl_window_length(const struct credlimit *cl, unsigned wid,
		     uint64_t *window_ns)
{
	uint64_t length;

	if (wid == 0 || wid >= CL_WINDOW_SLOTS)
		return -EBADMSG;

	length = CMM_LOAD_SHARED(cl->windows[wid]);
	if (length < CREDLIMIT_WINDOW_MIN_NS ||
	    length > CREDLIMIT_WINDOW_MAX_NS)
		return -EBADMSG;

	*window_ns = length;
	return 0;
}

static void params_load(const struct cl_policy *slot, uint64_t *lo,
			uint64_t *hi)
{
	uint64_t hi_again;

	for (;;) {
		*hi = CMM_LOAD_SHARED(slot->params_hi);
		/* Orders hi before lo; pairs with the full barrier of the
		 * writer's compare-and-swap in params_store(). */
		cmm_smp_rmb();
		*lo = CMM_LOAD_SHARED(slot->params_lo);
		/* Orders lo before the second hi; same pairing. */
		cmm_smp_rmb();
		hi_again = CMM_LOAD_SHARED(slot->params_hi);
		if (hi_again == *hi)
			return;
		caa_cpu_relax();
	}
}

int cl_policy_read(const struct credlimit *cl, int id, struct cl_params *out)
{
	const struct cl_policy *slot;
	uint64_t lo, hi;
	int err;

	if (id < 0 || id >= CL_POLICY_SLOTS)
		return -ENOENT;
	slot = &cl->policies[id];

	params_load(slot, &lo, &hi);
	if (!(hi & CL_POLICY_DEFINED))
		return -ENOENT;

	out->policy.max_requests = (uint32_t)hi;
	out->policy.max_credits = (uint32_t)(lo >> 32);
	out->policy.initial_credits = (uint32_t)lo;
	out->wid = (unsigned)((hi >> CL_POLICY_WID_SHIFT) & CL_POLICY_WID_MASK);
	out->version = (unsigned)((hi >> CL_POLICY_VERSION_SHIFT) &
				  CL_POLICY_VERSION_MASK);

	err = cl_window_length(cl, out->wid, &out->policy.window_ns);
	if (err < 0)
		return err;
	if (credlimit_policy_validate(&out->policy) < 0)
		return -EBADMSG;
	return 0;
}

/* Copies a defined slot's name; names are immutable once defined. */
static void name_load(const struct cl_policy *slot,
		      char name[CREDLIMIT_POLICY_NAME_MAX + 1])
{
	memcpy(name, slot->name, CREDLIMIT_POLICY_NAME_MAX);
	name[CREDLIMIT_POLICY_NAME_MAX] = '\0';
}

static bool slot_defined(const struct cl_policy *slot)
{
	uint64_t hi = CMM_LOAD_SHARED(slot->params_hi);

	/* Orders the defined bit before the name loads; pairs with the full
	 * barrier of the compare-and-swap that first set the bit. */
	cmm_smp_rmb();
	return (hi & CL_POLICY_DEFINED) != 0;
}

static int find_slot(const struct credlimit *cl, const char *name)
{
	char slot_name[CREDLIMIT_POLICY_NAME_MAX + 1];

	for (int id = 0; id < CL_POLICY_SLOTS; id++) {
		if (!slot_defined(&cl->policies[id]))
			continue;
		name_load(&cl->policies[id], slot_name);
		if (strcmp(slot_name, name) == 0)
			return id;
	}
	return -ENOENT;
}

static uint64_t params_make_hi(unsigned version, unsigned wid,
			       uint32_t max_requests)
{
	return CL_POLICY_DEFINED |
	       (uint64_t)(version & CL_POLICY_VERSION_MASK)
		       << CL_POLICY_VERSION_SHIFT |
	       (uint64_t)(wid & CL_POLICY_WID_MASK) << CL_POLICY_WID_SHIFT |
	       max_requests;
}

/* Replaces a slot's numbers, bumping the version.  Caller holds the
 * policy lock (or owns an unpublished segment). */
static void params_store(struct cl_policy *slot, const struct credlimit_policy *p,
			 unsigned wid)
{
	struct cl_state_word current, desired;

	params_load(slot, &current.lo, &current.hi);
	do {
		unsigned version = (unsigned)((current.hi >>
					       CL_POLICY_VERSION_SHIFT) &
					      CL_POLICY_VERSION_MASK);

		desired.hi = params_make_hi(version + 1, wid, p->max_requests);
		desired.lo = (uint64_t)p->max_credits << 32 | p->initial_credits;
	} while (!cl_cas16(&slot->params_lo, &current, desired));
}

/* Returns the id of window length `window_ns`, registering it if new.
 * Caller holds the policy lock.  -ENOSPC when the registry is full,
 * -EBADMSG when its count is corrupt. */
static int window_register(struct credlimit *cl, uint64_t window_ns)
{
	uint64_t count = CMM_LOAD_SHARED(cl->ctl->window_count);

	if (count < 1 || count > CL_WINDOW_SLOTS)
		return -EBADMSG;

	for (uint64_t wid = 1; wid < count; wid++)
		if (CMM_LOAD_SHARED(cl->windows[wid]) == window_ns)
			return (int)wid;

	if (count == CL_WINDOW_SLOTS)
		return -ENOSPC;

	CMM_STORE_SHARED(cl->windows[count], window_ns);
	/* Publishes the length before the count, and before any policy
	 * that names it; pairs with the loads in cl_window_length(), which
	 * follow the load of a policy or state word naming the id. */
	cmm_smp_wmb();
	CMM_STORE_SHARED(cl->ctl->window_count, count + 1);
	return (int)count;
}

static void raise_to(uint64_t *field, uint64_t value)
{
	if (CMM_LOAD_SHARED(*field) < value)
		CMM_STORE_SHARED(*field, value);
}

void cl_policy_init_segment(struct cl_ctl *ctl, const struct credlimit_policy *p)
{
	uint64_t *windows = (uint64_t *)((char *)ctl + CL_CTL_WINDOWS_OFF);
	struct cl_policy *policies =
		(struct cl_policy *)((char *)ctl + CL_CTL_POLICIES_OFF);

	windows[1] = p->window_ns;
	ctl->window_count = 2;
	memcpy(policies[0].name, default_name, sizeof(default_name));
	params_store(&policies[0], p, 1);
	ctl->max_requests_ever = p->max_requests;
	ctl->max_credits_ever = p->max_credits;
}

int credlimit_policy_define(credlimit_t *cl, const char *name,
			    const struct credlimit_policy *policy)
{
	bool new_slot;
	int wid;
	int id;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->policy_define(cl, name, policy);

	if (cl == NULL || cl_policy_name_validate(name) < 0 ||
	    credlimit_policy_validate(policy) < 0)
		return -EINVAL;
	if (cl->rdonly)
		return -EROFS;

	err = cl_pidlock_acquire(&cl->ctl->policy_lock,
				 CL_POLICY_LOCK_TIMEOUT_NS);
	if (err < 0)
		return err;

	/* Find the slot before registering the window length, so a define
	 * that fails changes nothing. */
	id = find_slot(cl, name);
	new_slot = id < 0;
	if (new_slot) {
		for (id = 0; id < CL_POLICY_SLOTS; id++)
			if (!slot_defined(&cl->policies[id]))
				break;
		if (id == CL_POLICY_SLOTS) {
			err = -ENOSPC;
			goto out_unlock;
		}
	}

	wid = window_register(cl, policy->window_ns);
	if (wid < 0) {
		err = wid;
		goto out_unlock;
	}

	if (new_slot) {
		memset(cl->policies[id].name, 0, sizeof(cl->policies[id].name));
		memcpy(cl->policies[id].name, name, strlen(name));
	}

	params_store(&cl->policies[id], policy, (unsigned)wid);
	raise_to(&cl->ctl->max_requests_ever, policy->max_requests);
	raise_to(&cl->ctl->max_credits_ever, policy->max_credits);
	err = id;

out_unlock:
	cl_pidlock_release(&cl->ctl->policy_lock);
	return err;
}

int credlimit_policy_find(credlimit_t *cl, const char *name,
			  struct credlimit_policy *out)
{
	struct cl_params params;
	int id;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->policy_find(cl, name, out);

	if (cl == NULL || cl_policy_name_validate(name) < 0)
		return -EINVAL;

	id = find_slot(cl, name);
	if (id < 0)
		return id;

	err = cl_policy_read(cl, id, &params);
	if (err < 0)
		return err;
	if (out != NULL)
		*out = params.policy;
	return id;
}

int credlimit_policy_get(credlimit_t *cl, int id,
			 struct credlimit_policy_info *out)
{
	struct cl_params params;
	int err;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->policy_get(cl, id, out);

	if (cl == NULL || out == NULL)
		return -EINVAL;

	err = cl_policy_read(cl, id, &params);
	if (err < 0)
		return err;

	out->id = id;
	name_load(&cl->policies[id], out->name);
	out->policy = params.policy;
	return 0;
}

int credlimit_policy_list(credlimit_t *cl, struct credlimit_policy_info *out,
			  size_t max)
{
	size_t count = 0;

	if (cl != NULL && cl->backend != NULL)
		return cl->backend->policy_list(cl, out, max);

	if (cl == NULL || (out == NULL && max > 0))
		return -EINVAL;

	for (int id = 0; id < CL_POLICY_SLOTS; id++) {
		struct credlimit_policy_info info;
		int err = credlimit_policy_get(cl, id, &info);

		if (err == -ENOENT)
			continue;
		if (err < 0)
			return err;
		if (count < max)
			out[count] = info;
		count++;
	}
	return (int)count;
}
