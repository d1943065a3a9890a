/*
 * request.c - decides each request in the access_checker hook
 *
 * The hook runs after the per-directory configuration of <Location> and
 * <Directory> is merged, after SetEnvIf and server-context RewriteRule have
 * set their variables, and before authentication, so a flood is turned
 * away before any password backend is asked.  Variables that a per-directory
 * RewriteRule sets (in the fixups phase) come too late for CredlimitKey.
 *
 * One client request is charged at most once: a subrequest or an internal
 * redirect is not charged when a request of its chain (r->main, r->prev)
 * already was.  The RateLimit-Policy, RateLimit and Retry-After fields go
 * to r->err_headers_out, which httpd sends with normal and error responses
 * alike; r->headers_out would be dropped from a 429, and setting both
 * would duplicate the fields on a 200.
 *
 * The fields follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026):
 *
 *   RateLimit-Policy: "NAME";q=R;w=WINDOW
 *   RateLimit: "NAME";r=REMAINING;t=RESET
 *
 * with the window and the reset time in seconds, rounded up (the draft has
 * no fractions).  r is the largest cost that fits now: base requests left
 * plus stored credits, so it may exceed q.  Retry-After is in whole seconds,
 * rounded up.
 *
 * Denials are logged at CredlimitLogLevel.  Each child keeps a small cache
 * of the keys it logged, so it logs the first denial of a key in each of
 * its windows, and at most MCL_DENIAL_LINES_PER_SECOND lines a second; the
 * next line it writes reports how many denials it left out.  Errors that a
 * client can cause on every request (an invalid cost, a missing key under
 * CredlimitNoKey deny) are logged by each child at most once every 10
 * seconds per kind, with the number left out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mod_credlimit.h"

#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#define NS_PER_SECOND UINT64_C(1000000000)

/* Notes and variables this module sets. */
#define MCL_NOTE_CHARGED "credlimit-charged"
#define MCL_ENV_RESULT "CREDLIMIT_RESULT"

/* Slots of each child's cache of recently logged denials. */
#define MCL_DENIAL_CACHE_SLOTS 256
/* Denial lines one child writes per second at most. */
#define MCL_DENIAL_LINES_PER_SECOND 20

struct denial_slot {
	uint64_t hash;     /* of zone and key; 0: empty */
	uint64_t until_ns; /* end of the key's window when it was logged */
};

/* Errors a client can cause on every request, each logged by one child
 * at most once per MCL_REQUEST_ERROR_INTERVAL_NS. */
enum request_error {
	REQUEST_ERROR_COST_HEADER, /* invalid cost in a header: 400 */
	REQUEST_ERROR_COST_ENV,    /* invalid cost in a variable: 500 */
	REQUEST_ERROR_NO_KEY,      /* no key under CredlimitNoKey deny: 403 */
	REQUEST_ERROR_COUNT
};

#define MCL_REQUEST_ERROR_INTERVAL_NS (UINT64_C(10) * NS_PER_SECOND)

/* Log state of one enum request_error in this child. */
struct request_error_log {
	uint64_t next_line_ns; /* monotonic time the next line may be written */
	uint64_t left_out;     /* occurrences not logged since the last line */
};

/*
 * NOTE: the denial log state is per process and unsynchronized.  Under a
 * threaded MPM two threads may race on a slot; the worst outcome is one
 * denial logged twice or left out.
 */
static struct denial_slot *denial_cache;
static uint64_t denial_second;
static unsigned denial_lines_this_second;
static uint64_t denials_left_out;
static struct request_error_log request_error_logs[REQUEST_ERROR_COUNT];

void mcl_child_init(apr_pool_t *pchild, server_rec *s)
{
	denial_cache = apr_pcalloc(pchild, MCL_DENIAL_CACHE_SLOTS *
						   sizeof(*denial_cache));
	denial_second = 0;
	denial_lines_this_second = 0;
	denials_left_out = 0;
	memset(request_error_logs, 0, sizeof(request_error_logs));
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SECOND + (uint64_t)ts.tv_nsec;
}

static uint64_t seconds_up(uint64_t ns)
{
	return ns / NS_PER_SECOND + (ns % NS_PER_SECOND != 0);
}

/* FNV-1a over the zone name and the key; never 0. */
static uint64_t hash_key(const char *zone, const char *key, size_t key_len)
{
	uint64_t hash = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; zone[i] != '\0'; i++)
		hash = (hash ^ (unsigned char)zone[i]) * UINT64_C(1099511628211);
	hash = (hash ^ 0xff) * UINT64_C(1099511628211);
	for (i = 0; i < key_len; i++)
		hash = (hash ^ (unsigned char)key[i]) * UINT64_C(1099511628211);
	return hash != 0 ? hash : 1;
}

/*
 * Decides whether this denial gets a log line.  Returns the number of
 * denials left out since the last line, plus one, or 0 to leave this one
 * out too.
 */
static uint64_t claim_denial_line(uint64_t hash, uint64_t window_end_ns,
				  uint64_t now_ns)
{
	struct denial_slot *slot;
	uint64_t second = now_ns / NS_PER_SECOND;
	uint64_t count;

	if (denial_cache == NULL)
		return 1;
	slot = &denial_cache[hash % MCL_DENIAL_CACHE_SLOTS];
	if (slot->hash == hash && slot->until_ns > now_ns) {
		denials_left_out++;
		return 0;
	}
	if (second != denial_second) {
		denial_second = second;
		denial_lines_this_second = 0;
	}
	if (denial_lines_this_second >= MCL_DENIAL_LINES_PER_SECOND) {
		denials_left_out++;
		return 0;
	}
	denial_lines_this_second++;
	slot->hash = hash;
	slot->until_ns = window_end_ns;
	count = denials_left_out + 1;
	denials_left_out = 0;
	return count;
}

/*
 * Decides whether this occurrence of error gets a log line.  Returns "" to
 * log it without a count, the text to append that reports how many were
 * left out since the last line, or NULL to leave this one out.
 */
static const char *claim_error_line(request_rec *r, enum request_error error)
{
	struct request_error_log *log = &request_error_logs[error];
	uint64_t now = monotonic_ns();
	uint64_t left_out;

	if (now < log->next_line_ns) {
		log->left_out++;
		return NULL;
	}
	log->next_line_ns = now + MCL_REQUEST_ERROR_INTERVAL_NS;
	left_out = log->left_out;
	log->left_out = 0;
	if (left_out == 0)
		return "";
	return apr_psprintf(r->pool, " (%" PRIu64 " more since the last such line, not logged by this process)",
			    left_out);
}

/* Formats a key for the log: keys longer than CREDLIMIT_KEY_INLINE_MAX
 * bytes are cut to their first CREDLIMIT_KEY_PREFIX bytes and "...".
 * limitctl list also appends "#" and 8 hex digits of the key's digest.
 * The result is escaped. */
static const char *loggable_key(apr_pool_t *pool, const char *key,
				size_t key_len)
{
	const char *text;

	if (key_len > CREDLIMIT_KEY_INLINE_MAX)
		text = apr_pstrcat(pool,
				    apr_pstrmemdup(pool, key,
						   CREDLIMIT_KEY_PREFIX),
				    "...", NULL);
	else
		text = apr_pstrmemdup(pool, key, key_len);
	return ap_escape_logitem(pool, text);
}

struct decision {
	const struct mcl_dir_config *dir;
	struct mcl_zone *zone;
	const struct mcl_policy *policy;
	const char *key;
	size_t key_len;
	uint64_t cost;
	struct credlimit_result result;
	const char *policy_name; /* of the policy the library applied */
};

static void log_denial(request_rec *r, const struct decision *d,
		       bool dry_run)
{
	int level = d->dir->log_level >= 0 ? d->dir->log_level
					   : MCL_DEFAULT_LOG_LEVEL;
	uint64_t now = monotonic_ns();
	uint64_t count;
	const char *retry;

	if (!APLOG_R_IS_LEVEL(r, level))
		return;
	count = claim_denial_line(hash_key(d->zone->name, d->key, d->key_len),
				  now + d->result.reset_after_ns, now);
	if (count == 0)
		return;

	if (d->result.verdict == CREDLIMIT_DENIED_NEVER)
		retry = "never (cost above requests + credits)";
	else
		retry = apr_psprintf(r->pool, "%" PRIu64 "s",
				     seconds_up(d->result.retry_after_ns));
	ap_log_rerror(APLOG_MARK, level, 0, r,
		      "%s key \"%s\" in zone %s, policy %s: cost %" PRIu64 ", remaining %" PRIu64 ", credits %" PRIu32 ", retry after %s%s",
		      dry_run ? "dry run, would deny" : "denied",
		      loggable_key(r->pool, d->key, d->key_len), d->zone->name,
		      d->policy_name, d->cost, d->result.remaining,
		      d->result.credits, retry,
		      count > 1 ? apr_psprintf(r->pool, " (%" PRIu64 " earlier denials not logged by this process)",
					       count - 1)
				: "");
}

static void add_fields(request_rec *r, const struct decision *d)
{
	uint64_t window = seconds_up(d->result.window_ns);

	apr_table_setn(r->err_headers_out, "RateLimit-Policy",
		       apr_psprintf(r->pool, "\"%s\";q=%" PRIu32 ";w=%" PRIu64,
				    d->policy_name, d->result.limit,
				    window > 0 ? window : 1));
	apr_table_setn(r->err_headers_out, "RateLimit",
		       apr_psprintf(r->pool, "\"%s\";r=%" PRIu64 ";t=%" PRIu64,
				    d->policy_name, d->result.remaining,
				    seconds_up(d->result.reset_after_ns)));
}

/* Returns a source's value in r, or NULL when the request has none. */
static const char *read_source(request_rec *r, const struct mcl_source *source)
{
	const char *value = NULL;

	switch (source->kind) {
	case MCL_SOURCE_IP:
		value = r->useragent_ip;
		break;
	case MCL_SOURCE_HEADER:
		value = apr_table_get(r->headers_in, source->name);
		break;
	case MCL_SOURCE_ENV:
		value = apr_table_get(r->subprocess_env, source->name);
		break;
	case MCL_SOURCE_NOTE:
		value = apr_table_get(r->notes, source->name);
		break;
	default:
		break;
	}
	return value != NULL && *value != '\0' ? value : NULL;
}

/* Sets d->cost.  Returns OK, or the status for an invalid cost. */
static int read_cost(request_rec *r, struct decision *d)
{
	const struct mcl_source *source = &d->dir->cost;
	unsigned long long cost;
	const char *left_out;
	const char *text;
	char *end;

	d->cost = 1;
	if (source->kind == MCL_SOURCE_FIXED) {
		d->cost = source->value;
		return OK;
	}
	text = read_source(r, source);
	if (text == NULL)
		return OK;

	cost = strtoull(text, &end, 10);
	if (*text >= '0' && *text <= '9' && *end == '\0' && cost <= UINT32_MAX) {
		d->cost = cost;
		return OK;
	}
	/* The value may come from the client, so the lines are capped. */
	if (source->kind == MCL_SOURCE_HEADER) {
		left_out = APLOGrdebug(r)
				   ? claim_error_line(r, REQUEST_ERROR_COST_HEADER)
				   : NULL;
		if (left_out != NULL)
			ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
				      "invalid cost \"%s\" in header %s: expected a whole number from 0 to %" PRIu32 "%s",
				      ap_escape_logitem(r->pool, text),
				      source->name, UINT32_MAX, left_out);
		return HTTP_BAD_REQUEST;
	}
	left_out = claim_error_line(r, REQUEST_ERROR_COST_ENV);
	if (left_out != NULL)
		ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
			      "invalid cost \"%s\" in variable %s: expected a whole number from 0 to %" PRIu32 "; check the directive that sets it%s",
			      ap_escape_logitem(r->pool, text), source->name,
			      UINT32_MAX, left_out);
	return HTTP_INTERNAL_SERVER_ERROR;
}

static void log_no_key(request_rec *r, const struct mcl_zone *zone)
{
	const char *left_out;

	if (!APLOGrdebug(r))
		return;
	left_out = claim_error_line(r, REQUEST_ERROR_NO_KEY);
	if (left_out != NULL)
		ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
			      "zone %s: request has no key, denied (CredlimitNoKey deny)%s",
			      zone->name, left_out);
}

/* True when this request or one it belongs to was already charged. */
static bool chain_charged(const request_rec *r)
{
	const request_rec *main_request;
	const request_rec *previous;

	for (main_request = r; main_request != NULL;
	     main_request = main_request->main) {
		for (previous = main_request; previous != NULL;
		     previous = previous->prev) {
			if (apr_table_get(previous->notes, MCL_NOTE_CHARGED))
				return true;
		}
	}
	return false;
}

/* Applies CredlimitOnError after a failure of cause. */
static int fail(request_rec *r, struct decision *d, enum mcl_cause cause,
		int error)
{
	mcl_log_cause_once(d->zone, cause, error, r);
	apr_table_setn(r->subprocess_env, MCL_ENV_RESULT, "error");
	if (d->dir->on_error == MCL_ON_ERROR_CLOSED)
		return HTTP_SERVICE_UNAVAILABLE;
	return DECLINED;
}

/* Names the policy the library applied: an operator's per-key
 * assignment (limitctl set KEY --policy) wins over the configured one. */
static const char *applied_policy_name(request_rec *r, struct decision *d)
{
	struct credlimit_policy_info info;

	if (d->result.policy == d->policy->id)
		return d->policy->name;
	if (credlimit_policy_get(d->zone->limiter, d->result.policy, &info) < 0)
		return d->policy->name;
	return apr_pstrdup(r->pool, info.name);
}

/* Copies CREDLIMIT_RESULT of the request that an internal redirect (such
 * as a local ErrorDocument) replaced.  httpd logs the last request of the
 * chain, where the variable would otherwise be only REDIRECT_ plus it. */
int mcl_copy_result(request_rec *r)
{
	const char *result;

	if (r->prev == NULL ||
	    apr_table_get(r->subprocess_env, MCL_ENV_RESULT) != NULL)
		return DECLINED;
	result = apr_table_get(r->prev->subprocess_env, MCL_ENV_RESULT);
	if (result != NULL)
		apr_table_setn(r->subprocess_env, MCL_ENV_RESULT, result);
	return DECLINED;
}

int mcl_check_request(request_rec *r)
{
	static const struct mcl_source client_address = {
		.kind = MCL_SOURCE_IP,
	};
	const struct mcl_dir_config *dir =
		ap_get_module_config(r->per_dir_config, &credlimit_module);
	struct decision d = { .dir = dir };
	int status;
	int rc;

	if (dir == NULL || dir->zone == NULL || chain_charged(r))
		return DECLINED;
	d.zone = apr_hash_get(mcl_globals.zones, dir->zone,
			      APR_HASH_KEY_STRING);
	if (d.zone == NULL)
		return DECLINED; /* check_config rejected this already */
	d.policy = apr_hash_get(d.zone->policies, dir->policy,
				APR_HASH_KEY_STRING);
	if (d.policy == NULL)
		return DECLINED;

	d.key = read_source(r, dir->key.kind != MCL_SOURCE_UNSET ? &dir->key
								 : &client_address);
	if (d.key == NULL) {
		switch (dir->no_key) {
		case MCL_NO_KEY_SKIP:
			apr_table_setn(r->subprocess_env, MCL_ENV_RESULT,
				       "no-key");
			return DECLINED;
		case MCL_NO_KEY_DENY:
			apr_table_setn(r->subprocess_env, MCL_ENV_RESULT,
				       "no-key");
			log_no_key(r, d.zone);
			return HTTP_FORBIDDEN;
		default:
			d.key = r->useragent_ip;
			break;
		}
	}
	d.key_len = strlen(d.key);

	status = read_cost(r, &d);
	if (status != OK)
		return status;

	apr_table_setn(r->notes, MCL_NOTE_CHARGED, d.zone->name);
	if (d.zone->limiter == NULL)
		return fail(r, &d, MCL_CAUSE_UNAVAILABLE, d.zone->open_error);
	if (d.policy->id < 0)
		return fail(r, &d, MCL_CAUSE_NO_POLICY, -ENOENT);
	if (d.key_len > CREDLIMIT_KEY_MAX)
		return fail(r, &d, MCL_CAUSE_KEY_TOO_LONG, -E2BIG);

	rc = credlimit_acquire_policy(d.zone->limiter, d.policy->id, d.key,
				      d.key_len, d.cost, CREDLIMIT_NOW,
				      &d.result);
	if (rc < 0)
		return fail(r, &d, mcl_cause_of(rc), rc);
	if (d.result.flags &
	    (CREDLIMIT_RESULT_FULL | CREDLIMIT_RESULT_UNTRACKED))
		return fail(r, &d, MCL_CAUSE_FULL, -ENOSPC);

	d.policy_name = applied_policy_name(r, &d);
	add_fields(r, &d);
	if (credlimit_allowed(&d.result)) {
		apr_table_setn(r->subprocess_env, MCL_ENV_RESULT, "allowed");
		return DECLINED;
	}

	log_denial(r, &d, dir->dry_run == 1);
	if (dir->dry_run == 1) {
		apr_table_setn(r->subprocess_env, MCL_ENV_RESULT,
			       "dry-run-denied");
		return DECLINED;
	}
	apr_table_setn(r->subprocess_env, MCL_ENV_RESULT, "denied");
	if (d.result.verdict == CREDLIMIT_DENIED &&
	    d.result.retry_after_ns != CREDLIMIT_NEVER)
		apr_table_setn(r->err_headers_out, "Retry-After",
			       apr_psprintf(r->pool, "%" PRIu64,
					    seconds_up(d.result.retry_after_ns)));
	return dir->deny_status != 0 ? dir->deny_status
				     : MCL_DEFAULT_DENY_STATUS;
}
