/*
 * handle.c - opening, creating, closing and removing limiters
 *
 * Creating a limiter makes the control segment exclusively (O_EXCL), then
 * the generation-1 table segment, and publishes the table's magic and then
 * the control segment's magic with release stores.  Attaching validates
 * the control header, reads the current generation, and validates the
 * table header against the control segment (same segment id, owner and
 * generation) before any of its sizes is used.
 *
 * An attacher may meet a control segment whose creator has not finished:
 * it is empty or has no magic yet.  It retries for up to a second, then
 * reports the segment as it finds it, so a creator that died half-way
 * leaves an error that names the problem ("remove it") instead of a hang.
 *
 * fork(): mappings are inherited, so a handle keeps working in a child.
 * pthread_atfork() handlers refresh the per-process values (the cached
 * pid and the thread's statistics stripe) and keep the view mutex and
 * liburcu-bp consistent (lib/view.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <urcu/arch.h>
#include <urcu/system.h>

#include "backend.h"
#include "handle.h"
#include "log.h"
#include "policy.h"
#include "shm/pidlock.h"
#include "lease/lease.h"
#ifdef HAVE_HIREDIS
#include "redis/redis.h"
#include "redis/uri.h"
#endif

/* Largest control segment an attacher maps before validating it. */
#define CL_CTL_MAP_MAX (UINT64_C(1) << 24)

/* Highest table generation a name can carry. */
#define CL_GENERATION_MAX (UINT64_C(1) << 40)

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static uint32_t self_pid;

static void refresh_after_fork(void)
{
	cl_view_after_fork_child();
	CMM_STORE_SHARED(self_pid, (uint32_t)getpid());
	cl_stats_after_fork();
}

static void register_atfork(void)
{
	pthread_atfork(cl_view_before_fork, cl_view_after_fork_parent,
		       refresh_after_fork);
	CMM_STORE_SHARED(self_pid, (uint32_t)getpid());
}

uint32_t cl_self_pid(void)
{
	return CMM_LOAD_SHARED(self_pid);
}

uint64_t cl_resolve_now(uint64_t now_ns)
{
	return now_ns == CREDLIMIT_NOW ? cl_monotonic_ns() : now_ns;
}

int cl_key_validate(const void *key, size_t key_len)
{
	if (key == NULL || key_len == 0)
		return -EINVAL;
	if (key_len > CREDLIMIT_KEY_MAX)
		return -E2BIG;
	return 0;
}

void credlimit_options_init(struct credlimit_options *options)
{
	memset(options, 0, sizeof(*options));
	options->initial_capacity = 4096;
	options->max_capacity = 0;
	options->default_policy.max_requests = 60;
	options->default_policy.window_ns = UINT64_C(60) * 1000000000;
	options->default_policy.max_credits = 60;
	options->default_policy.initial_credits = 0;
	options->mode = 0600;
	options->full_action = CREDLIMIT_FULL_DENY;
	options->owner = (uid_t)-1;
	options->lease = 32;
	options->lease_idle_ms = 1000;
	options->lease_wait_us = 2000;
}

/* Checks the options a creation uses; writes the capacities it creates
 * with (at least CL_CAPACITY_MIN slots). */
static int options_validate(const struct credlimit_options *o,
			    uint64_t *initial, uint64_t *max)
{
	if (o->initial_capacity == 0 || o->initial_capacity > CL_CAPACITY_MAX)
		return -EINVAL;
	if (o->max_capacity != 0 && o->max_capacity < o->initial_capacity)
		return -EINVAL;
	if (o->max_capacity > CL_CAPACITY_MAX)
		return -EINVAL;
	if (credlimit_policy_validate(&o->default_policy) < 0)
		return -EINVAL;
	if ((o->mode & ~(mode_t)0777) != 0 || (o->mode & 0600) != 0600)
		return -EINVAL;
	if (o->full_action != CREDLIMIT_FULL_DENY &&
	    o->full_action != CREDLIMIT_FULL_ALLOW)
		return -EINVAL;

	*initial = o->initial_capacity < CL_CAPACITY_MIN ? CL_CAPACITY_MIN
							  : o->initial_capacity;
	*max = o->max_capacity < *initial ? *initial : o->max_capacity;
	return 0;
}

static int fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t got = getrandom(p, len, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

/* Points the handle at a validated control segment. */
static void bind_ctl(struct credlimit *cl, struct cl_mapping *map)
{
	struct cl_ctl *ctl = map->addr;

	cl->ctl_mapping = *map;
	cl->ctl = ctl;
	cl->windows = (uint64_t *)((char *)ctl + CL_CTL_WINDOWS_OFF);
	cl->policies = (struct cl_policy *)((char *)ctl + CL_CTL_POLICIES_OFF);
	cl->stripes = (struct cl_stripe *)((char *)ctl + CL_CTL_STATS_OFF);
	cl->secret[0] = ctl->secret[0];
	cl->secret[1] = ctl->secret[1];
	cl->segment_id = ctl->segment_id;
	cl->max_capacity = ctl->max_capacity;
	cl->full_action = (int)ctl->full_action;
	cl->kind = ctl->kind;
}

/* Writes a new control header (all but the magic) into a zeroed mapping. */
static int ctl_init(struct cl_ctl *ctl, uint64_t initial, uint64_t max,
		    const struct credlimit_options *o)
{
	struct timespec now;
	uint64_t random[3];
	int err;

	err = fill_random(random, sizeof(random));
	if (err < 0)
		return err;

	clock_gettime(CLOCK_REALTIME, &now);
	ctl->layout_version = CL_LAYOUT_VERSION;
	ctl->header_size = sizeof(*ctl);
	ctl->segment_size = CL_CTL_SIZE;
	ctl->segment_id = random[0];
	ctl->secret[0] = random[1];
	ctl->secret[1] = random[2];
	ctl->created_ns = (uint64_t)now.tv_sec * 1000000000u +
			  (uint64_t)now.tv_nsec;
	ctl->initial_capacity = initial;
	ctl->max_capacity = max;
	ctl->entry_size = CL_ENTRY_SIZE;
	ctl->probe_limit = cl_probe_limit(initial);
	ctl->full_action = (uint32_t)o->full_action;
	ctl->window_slots = CL_WINDOW_SLOTS;
	ctl->policy_slots = CL_POLICY_SLOTS;
	ctl->stat_stripes = CL_STAT_STRIPES;
	ctl->windows_off = CL_CTL_WINDOWS_OFF;
	ctl->policies_off = CL_CTL_POLICIES_OFF;
	ctl->stats_off = CL_CTL_STATS_OFF;
	ctl->generation = 1;
	cl_policy_init_segment(ctl, &o->default_policy);
	return 0;
}

static void ctl_publish(struct cl_ctl *ctl)
{
	/* Publishes the header, registry, policy 0 and the table's magic;
	 * pairs with cmm_smp_rmb() in cl_ctl_validate(). */
	cmm_smp_wmb();
	CMM_STORE_SHARED(ctl->magic, CL_CTL_MAGIC);
}

static int create_private(struct credlimit *cl,
			  const struct credlimit_options *o)
{
	struct cl_mapping ctl_map, table_map;
	struct cl_table_map table;
	uint64_t initial, max;
	int err;

	err = options_validate(o, &initial, &max);
	if (err < 0)
		return err;

	err = cl_segment_create_anonymous(CL_CTL_SIZE, &ctl_map);
	if (err < 0)
		return err;
	/* An anonymous table cannot be replaced across processes, so a
	 * private limiter keeps its initial capacity. */
	err = ctl_init(ctl_map.addr, initial, initial, o);
	if (err < 0)
		goto fail_unmap_ctl;
	((struct cl_ctl *)ctl_map.addr)->kind = cl->kind;

	err = cl_segment_create_anonymous(cl_table_size(initial), &table_map);
	if (err < 0)
		goto fail_unmap_ctl;
	cl_table_init(table_map.addr, ctl_map.addr, 1, initial);
	ctl_publish(ctl_map.addr);

	cl->private_limiter = true;
	cl->created = true;
	cl->owner = geteuid();
	cl->group = getegid();
	cl->mode = 0600;
	bind_ctl(cl, &ctl_map);
	cl_table_bind(&table, &table_map);
	err = cl_view_init(cl, &table);
	if (err < 0) {
		cl_segment_unmap(&table_map);
		goto fail_unmap_ctl;
	}
	return 0;

fail_unmap_ctl:
	cl_segment_unmap(&ctl_map);
	return err;
}

static int create_named(struct credlimit *cl, const struct credlimit_options *o)
{
	char ctl_name[CL_SHM_NAME_MAX + 1];
	char table_name[CL_SHM_NAME_MAX + 1];
	struct cl_mapping ctl_map, table_map;
	struct cl_table_map table;
	uid_t owner = o->owner == (uid_t)-1 ? geteuid() : o->owner;
	uint64_t initial, max;
	int err;

	err = options_validate(o, &initial, &max);
	if (err < 0)
		return err;

	cl_shm_name(ctl_name, cl->name, 0);
	cl_shm_name(table_name, cl->name, 1);

	err = cl_segment_create(ctl_name, CL_CTL_SIZE, o->mode, owner,
				(gid_t)-1, true, &ctl_map);
	if (err < 0)
		return err;
	err = ctl_init(ctl_map.addr, initial, max, o);
	if (err < 0)
		goto fail_remove_ctl;
	((struct cl_ctl *)ctl_map.addr)->kind = cl->kind;

	/* A table left by an earlier limiter of this name whose removal
	 * did not finish would make the exclusive create fail: remove it
	 * once (only our own user's segment can be removed). */
	err = cl_segment_create(table_name, cl_table_size(initial), o->mode,
				owner, (gid_t)-1, true, &table_map);
	if (err == -EEXIST && shm_unlink(table_name) == 0) {
		cl_log(cl, CREDLIMIT_LOG_WARNING,
		       "removed stale table segment %s", table_name);
		err = cl_segment_create(table_name, cl_table_size(initial),
					o->mode, owner, (gid_t)-1, true,
					&table_map);
	} else if (err == -EEXIST) {
		/* Another user's file in the way.  Returning -EEXIST would
		 * make credlimit_open() attach to the control segment that
		 * this call removes, and report a confusing -ENOENT. */
		err = -errno;
		cl_log(cl, CREDLIMIT_LOG_ERROR,
		       "%s: table segment exists and cannot be removed: %s",
		       table_name, credlimit_strerror(err));
	}
	if (err < 0)
		goto fail_remove_ctl;

	cl_table_init(table_map.addr, ctl_map.addr, 1, initial);
	cl_table_bind(&table, &table_map);
	err = cl_view_init(cl, &table);
	if (err < 0) {
		cl_segment_unmap(&table_map);
		shm_unlink(table_name);
		goto fail_remove_ctl;
	}
	ctl_publish(ctl_map.addr);

	cl->created = true;
	cl->owner = owner;
	cl->group = getegid();
	cl->mode = o->mode & 0777;
	bind_ctl(cl, &ctl_map);
	return 0;

fail_remove_ctl:
	cl_segment_unmap(&ctl_map);
	shm_unlink(ctl_name);
	return err;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000 };

	nanosleep(&ts, NULL);
}

/* Attaches and validates the control segment, waiting up to a second
 * for a creator that has not published it yet. */
static int attach_ctl(struct credlimit *cl, uid_t owner, bool any_owner,
		      struct cl_mapping *map)
{
	char ctl_name[CL_SHM_NAME_MAX + 1];
	const char *why = "";
	int err;

	cl_shm_name(ctl_name, cl->name, 0);
	for (int tries = 0;; tries++) {
		bool unfinished = false;

		/* A minimum of 1 byte: an empty segment (not yet sized by
		 * its creator) fails here, a truncated one in validation. */
		err = cl_segment_attach(ctl_name, cl->rdonly, owner, any_owner,
					1, CL_CTL_MAP_MAX, map, &cl->owner,
					&cl->group, &cl->mode);
		if (err == 0) {
			const struct cl_ctl *ctl = map->addr;

			err = cl_ctl_validate(ctl, map->size, &why);
			unfinished = err == -EPROTO &&
				     CMM_LOAD_SHARED(ctl->magic) == 0;
			if (err < 0)
				cl_segment_unmap(map);
		} else {
			why = "cannot open or map the control segment";
			unfinished = err == -ENODATA;
			if (unfinished)
				why = "control segment is empty";
		}

		if (!unfinished || tries >= 1000)
			break;
		sleep_ms(1);
	}

	if (err < 0)
		cl_log(cl, CREDLIMIT_LOG_ERROR, "%s: %s: %s", ctl_name, why,
		       credlimit_strerror(err));
	return err;
}

/* Attaches and validates the current table generation. */
static int attach_table(struct credlimit *cl)
{
	struct cl_table_map table;
	uint64_t generation;
	int err;

	for (int tries = 0;; tries++) {
		generation = CMM_LOAD_SHARED(cl->ctl->generation);
		if (generation == 0 || generation > CL_GENERATION_MAX) {
			cl_log(cl, CREDLIMIT_LOG_ERROR,
			       "control segment of %s names invalid table "
			       "generation %" PRIu64, cl->name, generation);
			return -EBADMSG;
		}

		err = cl_view_map_generation(cl, generation, &table);
		if (err == 0)
			break;

		/* The generation may have moved on while we opened it. */
		if (generation == CMM_LOAD_SHARED(cl->ctl->generation) ||
		    tries >= 100) {
			if (err == -ENOENT) {
				/* The limiter exists: its table must too. */
				cl_log(cl, CREDLIMIT_LOG_ERROR,
				       "/credlimit.%s.g%" PRIu64
				       ": table segment is missing",
				       cl->name, generation);
				err = -EBADMSG;
			}
			return err;
		}
	}

	err = cl_view_init(cl, &table);
	if (err < 0) {
		cl_segment_unmap(&table.mapping);
		return err;
	}

	/* A migration that runs now needs its target in the view too. */
	return cl_view_refresh(cl);
}

static int attach_named(struct credlimit *cl, const struct credlimit_options *o,
			bool any_owner)
{
	struct cl_mapping ctl_map;
	uid_t owner = o->owner == (uid_t)-1 ? geteuid() : o->owner;
	int err;

	err = attach_ctl(cl, owner, any_owner, &ctl_map);
	if (err < 0)
		return err;
	bind_ctl(cl, &ctl_map);

	err = attach_table(cl);
	if (err < 0) {
		cl_view_destroy(cl);
		cl_segment_unmap(&cl->ctl_mapping);
		cl->ctl = NULL;
	}
	return err;
}

static bool is_redis_uri(const char *name)
{
	return name != NULL && strncmp(name, "redis", 5) == 0 &&
	       (name[5] == ':' || name[5] == '+');
}

/* Opens a limiter on Redis: the handle takes no shared memory of its
 * own, and every call goes to lib/redis/. */
static int open_redis(const char *uri, unsigned flags,
		      const struct credlimit_options *options,
		      credlimit_t **out)
{
#ifdef HAVE_HIREDIS
	struct credlimit *cl;
	int err;

	cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return -ENOMEM;
	cl->log = options->log;
	cl->log_context = options->log_context;
	cl->uri = strdup(uri);
	if (cl->uri == NULL) {
		err = -ENOMEM;
		goto free_handle;
	}
	pthread_once(&atfork_once, register_atfork);

	err = cl_redis_open(cl, uri, flags, options);
	if (err < 0)
		goto free_uri;
	*out = cl;
	return 0;

free_uri:
	free(cl->uri);
free_handle:
	free(cl);
	return err;
#else
	cl_log_options(options, CREDLIMIT_LOG_ERROR,
		       "%.60s: this libcredlimit was built without Redis "
		       "support (configure found no hiredis)",
		       uri);
	return -EPROTONOSUPPORT;
#endif
}

/* Opens a limiter whose counts live in Redis and which leases them in
 * batches into a lease cache (lib/lease/). */
static int open_lease(const char *name, unsigned flags,
		      const struct credlimit_options *options,
		      credlimit_t **out)
{
#ifdef HAVE_HIREDIS
	pthread_once(&atfork_once, register_atfork);
	return cl_lease_open(name, flags, options, out);
#else
	cl_log_options(options, CREDLIMIT_LOG_ERROR,
		       "%.60s: leases need Redis, and this libcredlimit was "
		       "built without it (configure found no hiredis)",
		       name != NULL ? name : "(private)");
	return -EPROTONOSUPPORT;
#endif
}

int cl_open_shm(const char *name, unsigned flags,
		const struct credlimit_options *options, uint32_t kind,
		credlimit_t **out)
{
	struct credlimit *cl;
	bool create = flags & CREDLIMIT_OPEN_CREATE;
	int err;

	if (name != NULL) {
		err = cl_name_validate(name);
		if (err < 0)
			return err;
	}

	cl = calloc(1, sizeof(*cl));
	if (cl == NULL)
		return -ENOMEM;
	cl->rdonly = flags & CREDLIMIT_OPEN_RDONLY;
	cl->kind = kind;
	cl->log = options->log;
	cl->log_context = options->log_context;
	if (name != NULL)
		memcpy(cl->name, name, strlen(name) + 1);
	pthread_once(&atfork_once, register_atfork);

	if (name == NULL) {
		err = create_private(cl, options);
	} else if (create) {
		err = create_named(cl, options);
		if (err == -EEXIST && !(flags & CREDLIMIT_OPEN_EXCL))
			err = attach_named(cl, options,
					   flags & CREDLIMIT_OPEN_ANY_OWNER);
	} else {
		err = attach_named(cl, options,
				   flags & CREDLIMIT_OPEN_ANY_OWNER);
	}

	if (err < 0) {
		free(cl);
		return err;
	}
	*out = cl;
	return 0;
}

int credlimit_open(const char *name, unsigned flags,
		   const struct credlimit_options *options, credlimit_t **out)
{
	const unsigned known = CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL |
			       CREDLIMIT_OPEN_RDONLY | CREDLIMIT_OPEN_ANY_OWNER;
	struct credlimit_options defaults;
	bool create = flags & CREDLIMIT_OPEN_CREATE;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;

	if ((flags & ~known) != 0 ||
	    ((flags & CREDLIMIT_OPEN_EXCL) && !create) ||
	    ((flags & CREDLIMIT_OPEN_RDONLY) && create) ||
	    (name == NULL && !create))
		return -EINVAL;
	if (options == NULL) {
		credlimit_options_init(&defaults);
		options = &defaults;
	}
	if (is_redis_uri(name) && options->upstream != NULL) {
		cl_log_options(options, CREDLIMIT_LOG_ERROR,
			       "options.upstream is set, but %.60s is a Redis "
			       "URI: give the lease cache's name instead",
			       name);
		return -EINVAL;
	}
	if (is_redis_uri(name))
		return open_redis(name, flags, options, out);
	if (options->upstream != NULL ||
	    (name != NULL && strncmp(name, "shm:", 4) == 0))
		return open_lease(name, flags, options, out);
	return cl_open_shm(name, flags, options, CL_KIND_LIMITER, out);
}

int credlimit_close(credlimit_t *cl)
{
	if (cl == NULL)
		return 0;
	if (cl->backend != NULL) {
		cl->backend->close(cl);
		free(cl->uri);
		free(cl);
		return 0;
	}
	cl_view_destroy(cl);
	cl_segment_unmap(&cl->ctl_mapping);
	free(cl);
	return 0;
}

const char *credlimit_name(const credlimit_t *cl)
{
	if (cl == NULL)
		return "";
	return cl->uri != NULL ? cl->uri : cl->name;
}

uint64_t credlimit_now(const credlimit_t *cl)
{
	struct timespec now;
	bool known;

	if (cl != NULL && cl->lease_cache != NULL)
		cl = cl->lease_cache;
	if (cl != NULL && cl->backend == NULL && cl->kind == CL_KIND_LEASE)
		return cl_lease_time(cl, CREDLIMIT_NOW, &known);
	if (cl == NULL || cl->backend == NULL)
		return cl_monotonic_ns();
	clock_gettime(CLOCK_REALTIME, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

bool credlimit_created(const credlimit_t *cl)
{
	return cl != NULL && cl->created;
}

/* Returns true when `entry` is "credlimit.NAME.g" followed by digits. */
static bool is_table_of(const char *entry, const char *name)
{
	size_t name_len = strlen(name);
	const char *rest;

	if (strncmp(entry, "credlimit.", 10) != 0 ||
	    strncmp(entry + 10, name, name_len) != 0)
		return false;

	rest = entry + 10 + name_len;
	if (rest[0] != '.' || rest[1] != 'g' || rest[2] == '\0')
		return false;
	for (rest += 2; *rest != '\0'; rest++)
		if (*rest < '0' || *rest > '9')
			return false;
	return true;
}

int credlimit_unlink(const char *name)
{
	char shm_name[CL_SHM_NAME_MAX + 1];
	char cache_name[CREDLIMIT_NAME_MAX + 1];
	bool removed_any = false;
	int err;
	DIR *dir;

	/* A lease name removes its lease cache; Redis keeps its counts. */
	if (name != NULL && strncmp(name, "shm:", 4) == 0) {
		size_t len = strcspn(name + 4, "?");

		if (len == 0 || len > CREDLIMIT_NAME_MAX)
			return -EINVAL;
		memcpy(cache_name, name + 4, len);
		cache_name[len] = '\0';
		name = cache_name;
	}

	err = cl_name_validate(name);
	if (err < 0)
		return err;

	cl_shm_name(shm_name, name, 0);
	if (shm_unlink(shm_name) == 0)
		removed_any = true;
	else
		err = -errno;

	/* Table generations are found by listing the directory that backs
	 * POSIX shared memory on Linux; without it, try generation 1. */
	dir = opendir("/dev/shm");
	if (dir == NULL) {
		cl_shm_name(shm_name, name, 1);
		if (shm_unlink(shm_name) == 0)
			removed_any = true;
	} else {
		char table_name[NAME_MAX + 2];
		struct dirent *de;

		while ((de = readdir(dir)) != NULL) {
			if (!is_table_of(de->d_name, name))
				continue;
			snprintf(table_name, sizeof(table_name), "/%s",
				 de->d_name);
			if (shm_unlink(table_name) == 0)
				removed_any = true;
			else if (err == -ENOENT)
				err = -errno;
		}
		closedir(dir);
	}

	return removed_any ? 0 : err;
}
