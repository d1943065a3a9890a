/*
 * mod_credlimit.h - types shared by the parts of mod_credlimit
 *
 * mod_credlimit limits requests per customer across all children of an
 * Apache httpd 2.4 server with one credlimit limiter (a "zone") in POSIX
 * shared memory.  The module is split by concept:
 *
 *   config.c       directives, their parsing, and the per-directory merge
 *   zone.c         opening each zone in the parent (post_config), policy
 *                  updates, the library's log callback, errors logged once
 *   request.c      the access_checker hook: key, cost, decision, response
 *                  fields and the denial log; the fixups hook that keeps
 *                  CREDLIMIT_RESULT across internal redirects
 *   mod_credlimit.c  the module record and its hooks
 *
 * Invariants.  Zones and policies are server-wide: they live in one static
 * struct mcl_globals, rebuilt from the configuration in pre_config and
 * allocated from pconf, so every generation of children inherits a
 * consistent copy when the parent forks it.  Per-directory records and the
 * globals are read-only once the parent has finished post_config.  The only
 * state a child writes (the error-once bits and the denial log cache) is
 * private to it, because fork() copied it.
 */
#ifndef MOD_CREDLIMIT_H
#define MOD_CREDLIMIT_H

#include <stdint.h>
#include <sys/types.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "apr_hash.h"
#include "apr_tables.h"

#include <credlimit.h>

/* mod_credlimit.c declares the module with AP_DECLARE_MODULE, which also
 * defines what APLOG_USE_MODULE would. */
#ifndef MCL_DECLARES_MODULE
APLOG_USE_MODULE(credlimit);
#endif

/* One CredlimitPolicy: a name and the numbers the library applies. */
struct mcl_policy {
	const char *name;
	struct credlimit_policy numbers;
	const char *defined_at; /* "FILE:LINE" of the directive */
	int id;                 /* library policy id; -1 until post_config */
};

/* Causes of library trouble, each logged once per zone per process. */
enum mcl_cause {
	MCL_CAUSE_UNAVAILABLE, /* the zone could not be opened at startup */
	MCL_CAUSE_FULL,        /* new key, no room in the table */
	MCL_CAUSE_BUSY,        /* slot held by a live process over a second */
	MCL_CAUSE_CORRUPT,     /* corrupt policy or entry */
	MCL_CAUSE_NO_POLICY,   /* the policy id is not defined */
	MCL_CAUSE_KEY_TOO_LONG,
	MCL_CAUSE_OTHER,
	MCL_CAUSE_COUNT
};

/* One CredlimitZone: a limiter and the policies defined in it. */
struct mcl_zone {
	const char *name;    /* as CredlimitLimit names it */
	const char *segment; /* limiter name: /dev/shm/credlimit.SEGMENT */
	uint64_t capacity;
	uint64_t max_capacity; /* 0: same as capacity */
	mode_t mode;
	const char *defined_at;
	apr_hash_t *policies; /* name -> struct mcl_policy */
	struct mcl_policy *default_policy; /* NULL unless "default" defined */

	/* Set by post_config in the parent. */
	server_rec *server;
	credlimit_t *limiter; /* NULL when the zone could not be opened */
	int open_error;       /* credlimit_open()'s error when limiter is NULL */

	/* Bits of enum mcl_cause already logged by this process. */
	unsigned logged_causes;
};

/* A CredlimitLimit seen while parsing, checked once all zones are known. */
struct mcl_reference {
	const char *zone;
	const char *policy;
	const char *defined_at;
};

struct mcl_globals {
	apr_hash_t *zones;               /* name -> struct mcl_zone */
	apr_array_header_t *references;  /* struct mcl_reference */
};

extern struct mcl_globals mcl_globals;

/* Source of a key or a cost. */
enum mcl_source_kind {
	MCL_SOURCE_UNSET = 0,
	MCL_SOURCE_IP,     /* r->useragent_ip */
	MCL_SOURCE_HEADER, /* request header field `name` */
	MCL_SOURCE_ENV,    /* r->subprocess_env variable `name` */
	MCL_SOURCE_NOTE,   /* r->notes entry `name` */
	MCL_SOURCE_FIXED,  /* cost only: the constant `value` */
};

struct mcl_source {
	enum mcl_source_kind kind;
	const char *name;
	uint64_t value;
};

enum mcl_no_key {
	MCL_NO_KEY_UNSET = 0,
	MCL_NO_KEY_SKIP, /* not limited, no fields */
	MCL_NO_KEY_DENY, /* 403 Forbidden */
	MCL_NO_KEY_IP,   /* limited by client address */
};

enum mcl_on_error {
	MCL_ON_ERROR_UNSET = 0,
	MCL_ON_ERROR_OPEN,   /* serve the request */
	MCL_ON_ERROR_CLOSED, /* 503 Service Unavailable */
};

/* Per-directory configuration.  Unset members inherit from the parent
 * section (mcl_merge_dir_config()). */
struct mcl_dir_config {
	int limit_set;      /* CredlimitLimit appeared in this section */
	const char *zone;   /* NULL with limit_set: CredlimitLimit off */
	const char *policy;
	struct mcl_source key;
	enum mcl_no_key no_key;
	struct mcl_source cost;
	int dry_run;     /* -1 unset, else 0 or 1 */
	int deny_status; /* 0 unset */
	int log_level;   /* -1 unset, else APLOG_* */
	enum mcl_on_error on_error;
};

/* Defaults of the per-directory directives. */
#define MCL_DEFAULT_DENY_STATUS HTTP_TOO_MANY_REQUESTS
#define MCL_DEFAULT_LOG_LEVEL APLOG_INFO

/* config.c */
extern const command_rec mcl_directives[];
void *mcl_create_dir_config(apr_pool_t *pool, char *context);
void *mcl_merge_dir_config(apr_pool_t *pool, void *base, void *add);
void mcl_globals_reset(apr_pool_t *pconf);

/* zone.c */
int mcl_zones_open(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void mcl_log_cause_once(struct mcl_zone *zone, enum mcl_cause cause,
			int error, const request_rec *r);
enum mcl_cause mcl_cause_of(int error);

/* request.c */
int mcl_check_request(request_rec *r);
int mcl_copy_result(request_rec *r);
void mcl_child_init(apr_pool_t *pchild, server_rec *s);

#endif /* MOD_CREDLIMIT_H */
