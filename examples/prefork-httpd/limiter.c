/*
 * limiter.c - opens the shared limiter for the server
 *
 * The master opens the limiter once, before forking, and the workers use
 * that handle.  An existing limiter of the same name is reused by default,
 * so restarting the server keeps every customer's counts; --recreate
 * starts from an empty table instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "limiter.h"
#include "log.h"
#include "options.h"

/* Passes the library's messages to the server log. */
static void log_from_library(void *context, int level, const char *message)
{
	(void)context;

	switch (level) {
	case CREDLIMIT_LOG_ERROR:
		log_error("credlimit: %s", message);
		break;
	case CREDLIMIT_LOG_WARNING:
		log_warning("credlimit: %s", message);
		break;
	default:
		log_info("credlimit: %s", message);
		break;
	}
}

static void format_policy(const struct credlimit_policy *p, char *text, size_t size)
{
	char window[32];

	format_duration(p->window_ns, window, sizeof(window));
	snprintf(text, size,
		 "%" PRIu32 " request%s per %s, %" PRIu32 " max credit%s, %" PRIu32
		 " initial credit%s",
		 p->max_requests, p->max_requests == 1 ? "" : "s", window,
		 p->max_credits, p->max_credits == 1 ? "" : "s",
		 p->initial_credits, p->initial_credits == 1 ? "" : "s");
}

static const char *open_error_hint(int error)
{
	switch (error) {
	case -EPERM:
	case -EACCES:
		return "; it belongs to another user: choose another --name";
	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -EMSGSIZE:
	case -ENODATA:
	case -EBADMSG:
		return "; start with --recreate to replace it, or choose another --name";
	default:
		return "";
	}
}

/* Compares field by field, because memcmp() would also compare padding. */
static bool policy_equal(const struct credlimit_policy *a,
			 const struct credlimit_policy *b)
{
	return a->max_requests == b->max_requests && a->window_ns == b->window_ns &&
	       a->max_credits == b->max_credits &&
	       a->initial_credits == b->initial_credits;
}

/* Applies the options' policy and reports settings it cannot change. */
static int update_existing(credlimit_t *limiter, const struct server_options *options)
{
	struct credlimit_policy_info current;
	struct credlimit_stats stats;
	char before[128];
	char after[128];
	int rc;

	rc = credlimit_policy_get(limiter, CREDLIMIT_POLICY_DEFAULT, &current);
	if (rc < 0) {
		log_error("cannot read policy \"default\" of limiter %s: %s",
			  options->name, credlimit_strerror(rc));
		return rc;
	}

	if (!policy_equal(&current.policy, &options->policy)) {
		format_policy(&current.policy, before, sizeof(before));
		format_policy(&options->policy, after, sizeof(after));
		rc = credlimit_policy_define(limiter, "default", &options->policy);
		if (rc < 0) {
			log_error("cannot change policy \"default\" of limiter %s to %s: %s",
				  options->name, after, credlimit_strerror(rc));
			return rc;
		}
		log_info("changed policy \"default\" of limiter %s from %s to %s; customers keep their counts",
			 options->name, before, after);
	}

	rc = credlimit_stats(limiter, &stats);
	if (rc < 0) {
		log_error("cannot read statistics of limiter %s: %s", options->name,
			  credlimit_strerror(rc));
		return rc;
	}
	if (stats.capacity < options->capacity)
		log_warning("limiter %s keeps its %" PRIu64 " slots, fewer than --capacity %" PRIu64
			    "; start with --recreate to apply it",
			    options->name, stats.capacity, options->capacity);
	if (stats.full_action != options->full_action)
		log_warning("limiter %s keeps its full action %s; start with --recreate to apply --full-action",
			    options->name,
			    stats.full_action == CREDLIMIT_FULL_ALLOW ? "allow" : "deny");
	return 0;
}

credlimit_t *limiter_open(const struct server_options *options)
{
	struct credlimit_options open_options;
	credlimit_t *limiter = NULL;
	char policy[128];
	int rc;

	if (options->recreate) {
		rc = credlimit_unlink(options->name);
		if (rc == 0)
			log_info("removed the existing limiter %s (--recreate)", options->name);
		else if (rc != -ENOENT) {
			log_error("cannot remove the existing limiter %s: %s",
				  options->name, credlimit_strerror(rc));
			return NULL;
		}
	}

	credlimit_options_init(&open_options);
	open_options.initial_capacity = options->capacity;
	open_options.max_capacity = options->max_capacity;
	open_options.default_policy = options->policy;
	open_options.full_action = options->full_action;
	open_options.log = log_from_library;

	format_policy(&options->policy, policy, sizeof(policy));

	/* EXCL first, to learn whether this call created the limiter. */
	rc = credlimit_open(options->name, CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
			    &open_options, &limiter);
	if (rc == 0) {
		log_info("created limiter %s (/dev/shm/credlimit.%s): %s",
			 options->name, options->name, policy);
		return limiter;
	}
	if (rc == -EEXIST)
		rc = credlimit_open(options->name, CREDLIMIT_OPEN_CREATE,
				    &open_options, &limiter);
	if (rc < 0) {
		log_error("cannot open limiter %s: %s%s", options->name,
			  credlimit_strerror(rc), open_error_hint(rc));
		return NULL;
	}

	log_info("opened the existing limiter %s; customers keep their counts (use --recreate to start anew)",
		 options->name);
	if (update_existing(limiter, options) < 0) {
		credlimit_close(limiter);
		return NULL;
	}
	return limiter;
}

void limiter_close(credlimit_t *limiter, const struct server_options *options)
{
	int rc;

	credlimit_close(limiter);
	if (!options->unlink_on_exit) {
		log_info("kept limiter %s for inspection: limitctl list %s",
			 options->name, options->name);
		return;
	}

	rc = credlimit_unlink(options->name);
	if (rc < 0 && rc != -ENOENT)
		log_error("cannot remove limiter %s: %s", options->name,
			  credlimit_strerror(rc));
	else
		log_info("removed limiter %s (--unlink-on-exit)", options->name);
}
