/*
 * zone.c - opens every zone's limiter in the parent and keeps it current
 *
 * post_config runs in the parent process before it forks the children, at
 * startup and again at every graceful or full restart.  Each run opens the
 * zone's segment and creates it only when it does not exist, so customers
 * keep their counts across restarts.  Nothing here removes a segment.  The
 * handle is closed when pconf is cleared (the next restart); children forked
 * from this generation keep their own copy of it, which the library
 * supports for children fork()ed after the open.
 *
 * Ownership.  When httpd starts as root, the children switch to the User and
 * Group of mod_unixd.  The segments are opened with that effective user and
 * group, so they belong to the children's user: a child that grows the
 * table creates the next generation's segment itself, and may only do so
 * for a limiter its own user owns.  The parent switches back to root
 * before it returns.  credlimit_options.owner would give new segments to
 * the children's user but keep root's group, which a zone with mode 0660
 * needs to be the children's Group, so the module switches both ids.
 *
 * Configuration changes.  A policy whose numbers changed is redefined in
 * place; customers keep their counts, clamped to the new numbers at their
 * next request.  A larger capacity grows the table when the limiter's
 * maximum allows it.  A limiter's maximum capacity and mode are fixed when
 * it is created: a different value is logged as a warning.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mod_credlimit.h"

#include "apr_strings.h"
#include "http_core.h"
#include "unixd.h"

/* Bytes of one table entry.  NOTE: the library's shm/layout.h sets this
 * (CL_ENTRY_SIZE) and exports no size; keep the two equal. */
#define MCL_ENTRY_BYTES UINT64_C(64)

/* Effective user and group to restore after opening segments. */
struct saved_identity {
	bool switched;
	uid_t uid;
	gid_t gid;
};

/* Switches the effective ids to the children's User and Group when
 * running as root; a non-root server runs its children as itself. */
static int become_child_user(struct saved_identity *saved)
{
	uid_t user = ap_unixd_config.user_id;
	gid_t group = ap_unixd_config.group_id;

	saved->switched = false;
	if (geteuid() != 0 || user == 0 || user == (uid_t)-1)
		return 0;

	saved->uid = geteuid();
	saved->gid = getegid();
	if (setegid(group) != 0)
		return -errno;
	if (seteuid(user) != 0) {
		int error = -errno;

		if (setegid(saved->gid) != 0)
			return -errno;
		return error;
	}
	saved->switched = true;
	return 0;
}

static int restore_identity(const struct saved_identity *saved)
{
	if (!saved->switched)
		return 0;
	if (seteuid(saved->uid) != 0 || setegid(saved->gid) != 0)
		return -errno;
	return 0;
}

/* Passes the library's messages to the error log of the main server. */
static void log_from_library(void *context, int level, const char *message)
{
	const struct mcl_zone *zone = context;
	int ap_level;

	switch (level) {
	case CREDLIMIT_LOG_ERROR:
		ap_level = APLOG_ERR;
		break;
	case CREDLIMIT_LOG_WARNING:
		ap_level = APLOG_WARNING;
		break;
	default:
		ap_level = APLOG_INFO;
		break;
	}
	ap_log_error(APLOG_MARK, ap_level, 0, zone->server,
		     "zone %s (segment %s): %s", zone->name, zone->segment,
		     message);
}

/* Formats a window in the largest unit of CredlimitPolicy that divides
 * it: 3600000000000 ns is "1h". */
static const char *format_window(apr_pool_t *pool, uint64_t ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "d", UINT64_C(86400) * 1000000000 },
		{ "h", UINT64_C(3600) * 1000000000 },
		{ "m", UINT64_C(60) * 1000000000 },
		{ "s", UINT64_C(1000000000) },
		{ "ms", UINT64_C(1000000) },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns % units[i].ns == 0)
			return apr_psprintf(pool, "%" PRIu64 "%s",
					    ns / units[i].ns, units[i].suffix);
	}
	return apr_psprintf(pool, "%" PRIu64 "ns", ns);
}

/* Formats a policy as CredlimitPolicy options. */
static const char *format_policy(apr_pool_t *pool,
				 const struct credlimit_policy *p)
{
	return apr_psprintf(pool,
			    "requests=%" PRIu32 " window=%s credits=%" PRIu32
			    " initial=%" PRIu32,
			    p->max_requests, format_window(pool, p->window_ns),
			    p->max_credits, p->initial_credits);
}

/* Compares field by field, because memcmp() would also compare padding. */
static bool policy_equal(const struct credlimit_policy *a,
			 const struct credlimit_policy *b)
{
	return a->max_requests == b->max_requests &&
	       a->window_ns == b->window_ns &&
	       a->max_credits == b->max_credits &&
	       a->initial_credits == b->initial_credits;
}

/*
 * Describes why credlimit_policy_define() failed.  Its -ENOSPC means that
 * no policy slot or no window slot is left, and the limiter's counts tell
 * which.  existing_id is the policy's id, or negative for a new policy.
 */
static const char *describe_define_error(apr_pool_t *pool,
					 const struct mcl_zone *zone,
					 int existing_id, int error)
{
	struct credlimit_stats stats;

	if (error != -ENOSPC || credlimit_stats(zone->limiter, &stats) < 0)
		return credlimit_strerror(error);
	if (existing_id < 0 && stats.policies >= CREDLIMIT_POLICY_MAX)
		return apr_psprintf(pool, "all %d policy slots of segment %s are used, and a slot is never freed; limitctl policy list %s shows them, and only a new segment (stop httpd, limitctl destroy %s, start httpd) frees them",
				    CREDLIMIT_POLICY_MAX, zone->segment,
				    zone->segment, zone->segment);
	if (stats.windows >= CREDLIMIT_WINDOWS_MAX)
		return apr_psprintf(pool, "segment %s has registered all %d window lengths a limiter can have over its life; give the policy a window that another policy has or had, or recreate the segment (stop httpd, limitctl destroy %s, start httpd)",
				    zone->segment, CREDLIMIT_WINDOWS_MAX,
				    zone->segment);
	return credlimit_strerror(error);
}

/* Defines or updates each configured policy and stores its id.  A policy
 * that cannot be defined keeps id -1: its requests follow
 * CredlimitOnError. */
static void define_policies(struct mcl_zone *zone, apr_pool_t *ptemp)
{
	apr_hash_index_t *index;

	for (index = apr_hash_first(ptemp, zone->policies); index != NULL;
	     index = apr_hash_next(index)) {
		struct mcl_policy *policy = apr_hash_this_val(index);
		struct credlimit_policy current;
		int id;

		id = credlimit_policy_find(zone->limiter, policy->name, &current);
		if (id >= 0 && policy_equal(&current, &policy->numbers)) {
			policy->id = id;
			continue;
		}

		policy->id = credlimit_policy_define(zone->limiter, policy->name,
						     &policy->numbers);
		if (policy->id < 0) {
			ap_log_error(APLOG_MARK, APLOG_ERR, 0, zone->server,
				     "zone %s: cannot define policy %s (%s, %s): %s; requests under it follow CredlimitOnError",
				     zone->name, policy->name,
				     format_policy(ptemp, &policy->numbers),
				     policy->defined_at,
				     describe_define_error(ptemp, zone, id,
							   policy->id));
			policy->id = -1;
		} else if (id >= 0) {
			ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, zone->server,
				     "zone %s: changed policy %s from %s to %s; customers keep their counts",
				     zone->name, policy->name,
				     format_policy(ptemp, &current),
				     format_policy(ptemp, &policy->numbers));
		}
	}
}

/* Grows the table to the configured capacity and warns about settings
 * that only apply to a new limiter. */
static void update_layout(struct mcl_zone *zone)
{
	struct credlimit_stats stats;
	uint64_t max_capacity = zone->max_capacity != 0 ? zone->max_capacity
							: zone->capacity;
	int rc;

	rc = credlimit_stats(zone->limiter, &stats);
	if (rc < 0) {
		ap_log_error(APLOG_MARK, APLOG_WARNING, 0, zone->server,
			     "zone %s: cannot read the statistics of segment %s: %s",
			     zone->name, zone->segment, credlimit_strerror(rc));
		return;
	}

	if (stats.max_capacity != max_capacity)
		ap_log_error(APLOG_MARK, APLOG_WARNING, 0, zone->server,
			     "zone %s: segment %s keeps its max-capacity of %" PRIu64 " slots, not %" PRIu64 "; remove it with limitctl destroy %s and restart to apply the new value (customers lose their counts)",
			     zone->name, zone->segment, stats.max_capacity,
			     max_capacity, zone->segment);
	if ((stats.mode & 0777) != zone->mode)
		ap_log_error(APLOG_MARK, APLOG_WARNING, 0, zone->server,
			     "zone %s: segment %s keeps its mode %04o, not %04o",
			     zone->name, zone->segment,
			     (unsigned)(stats.mode & 0777), (unsigned)zone->mode);

	if (zone->capacity <= stats.capacity ||
	    zone->capacity > stats.max_capacity)
		return;
	rc = credlimit_grow(zone->limiter, zone->capacity);
	if (rc < 0)
		ap_log_error(APLOG_MARK, APLOG_WARNING, 0, zone->server,
			     "zone %s: cannot grow segment %s from %" PRIu64 " to %" PRIu64 " slots: %s",
			     zone->name, zone->segment, stats.capacity,
			     zone->capacity, credlimit_strerror(rc));
	else
		ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, zone->server,
			     "zone %s: grew segment %s from %" PRIu64 " to %" PRIu64 " slots",
			     zone->name, zone->segment, stats.capacity,
			     zone->capacity);
}

static apr_status_t close_zone(void *data)
{
	struct mcl_zone *zone = data;

	credlimit_close(zone->limiter);
	zone->limiter = NULL;
	return APR_SUCCESS;
}

/* Logs a creation that the library rejected with -ENOSPC or -ENOMEM
 * before reserving the table: capacity entries of MCL_ENTRY_BYTES each. */
static void log_no_room(struct mcl_zone *zone, int error, apr_pool_t *ptemp)
{
	uint64_t table_bytes = zone->capacity * MCL_ENTRY_BYTES;
	const char *room = "the memory available";
	struct statvfs shm;

	zone->open_error = error;
	if (error == -ENOSPC) {
		room = "the free space of /dev/shm";
		if (statvfs("/dev/shm", &shm) == 0)
			room = apr_psprintf(ptemp,
					    "the %" PRIu64 " bytes free in /dev/shm",
					    (uint64_t)shm.f_bavail * shm.f_frsize);
	}
	ap_log_error(APLOG_MARK, APLOG_ERR, 0, zone->server,
		     "zone %s (%s): cannot create segment /dev/shm/credlimit.%s: its table of %" PRIu64 " slots needs %" PRIu64 " bytes, more than %s; lower capacity, or make room and restart; its requests follow CredlimitOnError",
		     zone->name, zone->defined_at, zone->segment,
		     zone->capacity, table_bytes, room);
}

/*
 * Opens one zone.  Returns 0, also when the segment is unusable (the zone
 * is then unavailable and its requests follow CredlimitOnError), or a
 * negative error for a configuration the library rejects.
 */
static int open_zone(struct mcl_zone *zone, apr_pool_t *pconf,
		     apr_pool_t *ptemp)
{
	struct credlimit_options options;
	int rc;

	credlimit_options_init(&options);
	options.initial_capacity = zone->capacity;
	options.max_capacity = zone->max_capacity;
	if (zone->default_policy != NULL)
		options.default_policy = zone->default_policy->numbers;
	options.mode = zone->mode;
	/* A full table is reported to the module, which applies
	 * CredlimitOnError, instead of being denied by the library. */
	options.full_action = CREDLIMIT_FULL_ALLOW;
	options.log = log_from_library;
	options.log_context = zone;

	rc = credlimit_open(zone->segment,
			    CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL, &options,
			    &zone->limiter);
	if (rc == -EEXIST)
		rc = credlimit_open(zone->segment, CREDLIMIT_OPEN_CREATE,
				    &options, &zone->limiter);
	if (rc == -EINVAL || rc == -ENAMETOOLONG) {
		ap_log_error(APLOG_MARK, APLOG_CRIT, 0, zone->server,
			     "zone %s (%s): the library rejects segment name %s or its options: %s",
			     zone->name, zone->defined_at, zone->segment,
			     credlimit_strerror(rc));
		return rc;
	}
	if (rc == -ENOSPC || rc == -ENOMEM) {
		log_no_room(zone, rc, ptemp);
		return 0;
	}
	if (rc < 0) {
		zone->open_error = rc;
		ap_log_error(APLOG_MARK, APLOG_ERR, 0, zone->server,
			     "zone %s: cannot open segment /dev/shm/credlimit.%s: %s; its requests follow CredlimitOnError until it is fixed (limitctl check %s inspects it, limitctl destroy %s removes it)",
			     zone->name, zone->segment, credlimit_strerror(rc),
			     zone->segment, zone->segment);
		return 0;
	}

	apr_pool_cleanup_register(pconf, zone, close_zone,
				  apr_pool_cleanup_null);
	if (credlimit_created(zone->limiter)) {
		ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, zone->server,
			     "zone %s: created segment /dev/shm/credlimit.%s with %" PRIu64 " slots, mode %04o",
			     zone->name, zone->segment, zone->capacity,
			     (unsigned)zone->mode);
	} else {
		ap_log_error(APLOG_MARK, APLOG_INFO, 0, zone->server,
			     "zone %s: opened the existing segment /dev/shm/credlimit.%s; customers keep their counts",
			     zone->name, zone->segment);
		update_layout(zone);
	}
	define_policies(zone, ptemp);
	return 0;
}

int mcl_zones_open(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
	struct saved_identity saved;
	apr_hash_index_t *index;
	int result = OK;
	int rc;

	if (mcl_globals.zones == NULL || apr_hash_count(mcl_globals.zones) == 0)
		return OK;

	rc = become_child_user(&saved);
	if (rc < 0) {
		ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
			     "cannot switch to user %s (uid %u) to open the credlimit segments: %s",
			     ap_unixd_config.user_name,
			     (unsigned)ap_unixd_config.user_id, strerror(-rc));
		return HTTP_INTERNAL_SERVER_ERROR;
	}

	for (index = apr_hash_first(ptemp, mcl_globals.zones); index != NULL;
	     index = apr_hash_next(index)) {
		struct mcl_zone *zone = apr_hash_this_val(index);

		zone->server = s;
		zone->limiter = NULL;
		zone->open_error = 0;
		zone->logged_causes = 0;
		if (open_zone(zone, pconf, ptemp) < 0) {
			result = HTTP_INTERNAL_SERVER_ERROR;
			break;
		}
	}

	rc = restore_identity(&saved);
	if (rc < 0) {
		ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
			     "cannot switch back to uid %u after opening the credlimit segments: %s",
			     (unsigned)saved.uid, strerror(-rc));
		return HTTP_INTERNAL_SERVER_ERROR;
	}
	return result;
}

enum mcl_cause mcl_cause_of(int error)
{
	switch (error) {
	case -EBUSY:
		return MCL_CAUSE_BUSY;
	case -EBADMSG:
		return MCL_CAUSE_CORRUPT;
	case -ENOENT:
		return MCL_CAUSE_NO_POLICY;
	case -E2BIG:
		return MCL_CAUSE_KEY_TOO_LONG;
	default:
		return MCL_CAUSE_OTHER;
	}
}

/* Describes a full table with advice that fits the limiter's sizes: a
 * table below its max-capacity can grow live, and a larger max-capacity
 * applies only when the segment is created. */
static const char *describe_full_table(apr_pool_t *pool,
				       const struct mcl_zone *zone)
{
	struct credlimit_stats stats;
	int rc = credlimit_stats(zone->limiter, &stats);

	if (rc < 0)
		return apr_psprintf(pool, "the table is full and a new key found no room (its size is unknown: %s); limitctl stats %s shows it",
				    credlimit_strerror(rc), zone->segment);
	if (stats.capacity < stats.max_capacity)
		return apr_psprintf(pool, "the table is full and a new key found no room: it has %" PRIu64 " of at most %" PRIu64 " slots; grow it with limitctl grow %s --capacity N",
				    stats.capacity, stats.max_capacity,
				    zone->segment);
	return apr_psprintf(pool, "the table is full and a new key found no room: it has %" PRIu64 " slots, its max-capacity; max-capacity applies only when the segment is created, so stop httpd, run limitctl destroy %s (customers lose their counts), raise max-capacity in CredlimitZone %s, and start httpd",
			    stats.capacity, zone->segment, zone->name);
}

static const char *describe_cause(apr_pool_t *pool,
				  const struct mcl_zone *zone,
				  enum mcl_cause cause, int error)
{
	switch (cause) {
	case MCL_CAUSE_UNAVAILABLE:
		return apr_psprintf(pool, "segment %s could not be opened at startup: %s",
				    zone->segment,
				    credlimit_strerror(zone->open_error));
	case MCL_CAUSE_FULL:
		return describe_full_table(pool, zone);
	case MCL_CAUSE_BUSY:
		return apr_psprintf(pool, "a slot stayed busy for over a second; limitctl check %s names the process",
				    zone->segment);
	case MCL_CAUSE_CORRUPT:
		return apr_psprintf(pool, "the segment is corrupt (%s); limitctl check %s reports the damage",
				    credlimit_strerror(error), zone->segment);
	case MCL_CAUSE_NO_POLICY:
		return "the policy could not be defined at startup (see the startup log)";
	case MCL_CAUSE_KEY_TOO_LONG:
		return apr_psprintf(pool, "a key is longer than %d bytes",
				    CREDLIMIT_KEY_MAX);
	default:
		return apr_psprintf(pool, "the decision failed: %s",
				    credlimit_strerror(error));
	}
}

void mcl_log_cause_once(struct mcl_zone *zone, enum mcl_cause cause,
			int error, const request_rec *r)
{
	unsigned bit = 1u << cause;
	unsigned before;

	/* Atomic, so that a threaded MPM logs each cause once as well. */
	before = __atomic_fetch_or(&zone->logged_causes, bit, __ATOMIC_RELAXED);
	if (before & bit)
		return;
	ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
		      "zone %s: %s; requests follow CredlimitOnError (this process logs this cause once)",
		      zone->name, describe_cause(r->pool, zone, cause, error));
}
