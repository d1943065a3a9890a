/*
 * view.c - this process's mappings of the table generations in use
 *
 * Across processes a table generation lives as long as the kernel keeps
 * its segment: an unlinked segment stays valid for every process until it
 * unmaps it.  Inside a process, the mappings are reached through
 * cl->view, an RCU-protected pointer (liburcu's bulletproof flavour,
 * urcu-bp, because a library does not control which threads its host
 * creates: urcu-bp registers each thread at its first read-side critical
 * section, with no call the host must make).
 *
 * Readers: rcu_read_lock(), cl_view_enter(), use the mappings,
 * rcu_read_unlock().  cl_view_enter() compares the view with the control
 * segment's generation and migration words, two loads from a cache line
 * that only changes when a migration starts or ends.
 *
 * Writer: cl_view_refresh(), on the rare path where a reader found the
 * view stale.  Under a process-wide mutex it maps what the control segment
 * names, reusing mappings the old view already has, publishes the new view
 * with rcu_xchg_pointer(), and after synchronize_rcu() (no reader can hold
 * the old view any more) drops the old view's references and unmaps what
 * no view uses.  No call_rcu() threads: they do not survive fork().
 *
 * fork(): the atfork handlers take the mutex around fork() and call
 * liburcu-bp's own fork hooks, so a child never inherits a mutex held by
 * a thread that does not exist in it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define URCU_INLINE_SMALL_FUNCTIONS
#include <urcu-bp.h>
#include <urcu/pointer.h>

#include "handle.h"
#include "log.h"
#include "view.h"

/* Serializes view changes of every handle of the process; never held
 * inside a read-side critical section. */
static pthread_mutex_t view_mutex = PTHREAD_MUTEX_INITIALIZER;

void cl_table_bind(struct cl_table_map *t, struct cl_mapping *map)
{
	struct cl_table *header = map->addr;

	t->mapping = *map;
	t->header = header;
	t->entries = (struct cl_entry *)((char *)header + CL_TABLE_HEADER_SIZE);
	t->locks = (uint64_t *)((char *)header + CL_TABLE_LOCKS_OFF);
	t->capacity = header->capacity;
	t->probe_limit = header->probe_limit;
	t->generation = header->generation;
}

int cl_view_map_generation(struct credlimit *cl, uint64_t generation,
			   struct cl_table_map *out)
{
	char name[CL_SHM_NAME_MAX + 1];
	struct cl_mapping map;
	const char *why = "cannot open or map the table segment";
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int err;

	if (cl->private_limiter)
		return -ENOENT;

	cl_shm_name(name, cl->name, generation);
	err = cl_segment_attach(name, cl->rdonly, cl->owner, false,
				CL_TABLE_HEADER_SIZE,
				cl_table_size(cl->max_capacity), &map, &uid,
				&gid, &mode);
	if (err == 0) {
		err = cl_table_validate(map.addr, map.size, cl->ctl, generation,
					&why);
		if (err == 0) {
			cl_table_bind(out, &map);
			return 0;
		}
		cl_segment_unmap(&map);
	}

	if (err != -ENOENT)
		cl_log(cl, CREDLIMIT_LOG_ERROR, "%s: %s: %s", name, why,
		       credlimit_strerror(err));
	return err;
}

static struct cl_map_ref *ref_new(struct credlimit *cl, uint64_t generation,
				  int *err)
{
	struct cl_map_ref *ref = calloc(1, sizeof(*ref));

	if (ref == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = cl_view_map_generation(cl, generation, &ref->table);
	if (*err < 0) {
		free(ref);
		return NULL;
	}
	ref->refs = 1;
	return ref;
}

static void ref_put(struct cl_map_ref *ref)
{
	if (ref == NULL || --ref->refs > 0)
		return;
	cl_segment_unmap(&ref->table.mapping);
	free(ref);
}

/* Returns a reference to generation `generation`, reusing one of the old
 * view's mappings when it has it.  Caller holds view_mutex. */
static struct cl_map_ref *ref_get(struct credlimit *cl,
				  const struct cl_view *old,
				  uint64_t generation, int *err)
{
	if (old->current->table.generation == generation) {
		old->current->refs++;
		return old->current;
	}
	if (old->target != NULL && old->target->table.generation == generation) {
		old->target->refs++;
		return old->target;
	}
	return ref_new(cl, generation, err);
}

struct cl_view *cl_view_enter(struct credlimit *cl)
{
	struct cl_view *view = rcu_dereference(cl->view);
	uint64_t generation = CMM_LOAD_SHARED(cl->ctl->generation);
	uint64_t migration = CMM_LOAD_SHARED(cl->ctl->migration_state);
	uint64_t target = cl_copying_target(migration);

	/* A migration whose target is already current ended; only its
	 * cleanup is left (a migrator died between the two). */
	if (target == generation)
		target = 0;
	if (view->generation != generation ||
	    view->migration != (target != 0 ? migration : 0))
		return NULL;
	return view;
}

/* Builds the view the control segment names now.  Caller holds
 * view_mutex.  Returns NULL with *err set on failure. */
static struct cl_view *view_build(struct credlimit *cl,
				  const struct cl_view *old, int *err)
{
	struct cl_view *view = calloc(1, sizeof(*view));

	if (view == NULL) {
		*err = -ENOMEM;
		return NULL;
	}

	/* A migration may finish between the loads and the mapping, and
	 * unlink a generation named here: retry with fresh values. */
	for (int tries = 0; tries < 100; tries++) {
		uint64_t generation = CMM_LOAD_SHARED(cl->ctl->generation);
		uint64_t migration = CMM_LOAD_SHARED(cl->ctl->migration_state);
		uint64_t target = cl_copying_target(migration);

		if (target == generation)
			target = 0; /* ended; see cl_view_enter() */
		if (target != 0 && target != generation + 1) {
			*err = -EBADMSG;
			break;
		}

		view->current = ref_get(cl, old, generation, err);
		if (view->current == NULL)
			continue;
		view->target = NULL;
		if (target != 0) {
			view->target = ref_get(cl, old, target, err);
			if (view->target == NULL) {
				ref_put(view->current);
				continue;
			}
		}
		view->generation = generation;
		view->migration = target != 0 ? migration : 0;
		*err = 0;
		return view;
	}

	free(view);
	return NULL;
}

int cl_view_refresh(struct credlimit *cl)
{
	struct cl_view *old, *view;
	int err = 0;

	pthread_mutex_lock(&view_mutex);
	old = cl->view;

	rcu_read_lock();
	view = cl_view_enter(cl);
	rcu_read_unlock();
	if (view != NULL) {
		/* Another thread refreshed it meanwhile. */
		pthread_mutex_unlock(&view_mutex);
		return 0;
	}

	view = view_build(cl, old, &err);
	if (view == NULL) {
		pthread_mutex_unlock(&view_mutex);
		return err;
	}
	rcu_xchg_pointer(&cl->view, view);
	pthread_mutex_unlock(&view_mutex);

	/* After this no reader holds the old view. */
	synchronize_rcu();

	pthread_mutex_lock(&view_mutex);
	ref_put(old->current);
	ref_put(old->target);
	pthread_mutex_unlock(&view_mutex);
	free(old);
	return 0;
}

int cl_view_init(struct credlimit *cl, const struct cl_table_map *table)
{
	struct cl_view *view = calloc(1, sizeof(*view));
	struct cl_map_ref *ref = calloc(1, sizeof(*ref));

	if (view == NULL || ref == NULL) {
		free(view);
		free(ref);
		return -ENOMEM;
	}

	ref->table = *table;
	ref->refs = 1;
	view->current = ref;
	view->generation = ref->table.generation;
	rcu_assign_pointer(cl->view, view);
	return 0;
}

void cl_view_destroy(struct credlimit *cl)
{
	struct cl_view *view = cl->view;

	if (view == NULL)
		return;
	pthread_mutex_lock(&view_mutex);
	ref_put(view->current);
	ref_put(view->target);
	pthread_mutex_unlock(&view_mutex);
	free(view);
	cl->view = NULL;
}

void cl_view_before_fork(void)
{
	pthread_mutex_lock(&view_mutex);
	urcu_bp_before_fork();
}

void cl_view_after_fork_parent(void)
{
	urcu_bp_after_fork_parent();
	pthread_mutex_unlock(&view_mutex);
}

void cl_view_after_fork_child(void)
{
	urcu_bp_after_fork_child();
	pthread_mutex_unlock(&view_mutex);
}
