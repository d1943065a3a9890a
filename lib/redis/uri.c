/*
 * uri.c - parsing the names that open a limiter on Redis
 *
 * The grammar is in uri.h.  Nothing is percent-decoded: a prefix holds
 * printable ASCII other than space, '&', '=', '%', '{', '}' and the glob
 * characters "*?[]\", so that it can be matched by SCAN as is and never
 * moves a key's hash tag.  Every number has a range, and an unknown
 * option is rejected rather than ignored, so a misspelt timeout cannot
 * silently leave the default in force.  An option given twice takes its
 * last value.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uri.h"

#define WHY_SIZE 256

static const struct {
	const char *scheme;
	enum cl_redis_mode mode;
} schemes[] = {
	{ "redis://", CL_REDIS_SINGLE },
	{ "redis+shards://", CL_REDIS_SHARDS },
	{ "redis+cluster://", CL_REDIS_CLUSTER },
};

bool cl_redis_uri_matches(const char *name)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(name, schemes[i].scheme,
			    strlen(schemes[i].scheme)) == 0)
			return true;
	return false;
}

/* Writes "BEFORE\"TEXT\"AFTER" into why, TEXT cut at 64 bytes. */
static int invalid(char why[WHY_SIZE], const char *before, const char *text,
		   size_t len, const char *after)
{
	char part[65];

	if (len >= sizeof(part))
		len = sizeof(part) - 1;
	memcpy(part, text, len);
	part[len] = '\0';
	snprintf(why, WHY_SIZE, "%s\"%s\"%s", before, part, after);
	return -EINVAL;
}

/* Parses a decimal number of [min, max] from text[0..len). */
static bool parse_int(const char *text, size_t len, long min, long max,
		      int *out)
{
	long value = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		value = value * 10 + (text[i] - '0');
	}
	if (value < min || value > max)
		return false;
	*out = (int)value;
	return true;
}

/* Parses "HOST[:PORT]" from text[0..len). */
static int parse_address(const char *text, size_t len,
			 struct cl_redis_address *out, char why[WHY_SIZE])
{
	const char *colon = memrchr(text, ':', len);
	size_t host_len = colon == NULL ? len : (size_t)(colon - text);

	if (host_len == 0 || host_len > CL_REDIS_HOST_MAX ||
	    memchr(text, '[', host_len) != NULL ||
	    memchr(text, '@', host_len) != NULL)
		return invalid(why, "invalid Redis host ", text, len,
			       ": expected a host name or IPv4 address (no "
			       "user, password or IPv6 brackets)");
	memcpy(out->host, text, host_len);
	out->host[host_len] = '\0';

	out->port = CL_REDIS_DEFAULT_PORT;
	if (colon != NULL &&
	    !parse_int(colon + 1, len - host_len - 1, 1, 65535, &out->port))
		return invalid(why, "invalid Redis port in ", text, len,
			       ": expected 1 to 65535");
	return 0;
}

static bool prefix_char_valid(char c)
{
	return c > ' ' && c < 0x7f && strchr("&=%{}*?[]\\", c) == NULL;
}

static int parse_option(const char *name, size_t name_len, const char *value,
			size_t value_len, struct cl_redis_config *out,
			char why[WHY_SIZE])
{
	static const struct {
		const char *name;
		size_t offset;
		int min;
		int max;
	} numbers[] = {
		{ "timeout_ms", offsetof(struct cl_redis_config, timeout_ms),
		  1, 600000 },
		{ "connect_timeout_ms",
		  offsetof(struct cl_redis_config, connect_timeout_ms), 1,
		  600000 },
		{ "retry_min_ms",
		  offsetof(struct cl_redis_config, retry_min_ms), 1, 600000 },
		{ "retry_max_ms",
		  offsetof(struct cl_redis_config, retry_max_ms), 1, 600000 },
		{ "policy_refresh_ms",
		  offsetof(struct cl_redis_config, policy_refresh_ms), 0,
		  3600000 },
	};

	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		if (strlen(numbers[i].name) != name_len ||
		    memcmp(numbers[i].name, name, name_len) != 0)
			continue;
		char range[64];

		if (parse_int(value, value_len, numbers[i].min, numbers[i].max,
			      (int *)((char *)out + numbers[i].offset)))
			return 0;
		snprintf(range, sizeof(range),
			 ": expected milliseconds from %d to %d",
			 numbers[i].min, numbers[i].max);
		return invalid(why, "invalid value of Redis option ", name,
			       name_len, range);
	}

	if (name_len == 6 && memcmp(name, "prefix", 6) == 0) {
		if (value_len > CL_REDIS_PREFIX_MAX)
			return invalid(why, "Redis prefix ", value, value_len,
				       " is too long: at most 64 bytes");
		for (size_t i = 0; i < value_len; i++)
			if (!prefix_char_valid(value[i]))
				return invalid(why, "invalid Redis prefix ",
					       value, value_len,
					       ": use printable ASCII without "
					       "space or &=%{}*?[]\\");
		memcpy(out->prefix, value, value_len);
		out->prefix[value_len] = '\0';
		return 0;
	}

	if (name_len == 8 && memcmp(name, "on_error", 8) == 0) {
		if (value_len == 4 && memcmp(value, "deny", 4) == 0)
			out->on_error = CL_REDIS_ON_ERROR_DENY;
		else if (value_len == 5 && memcmp(value, "allow", 5) == 0)
			out->on_error = CL_REDIS_ON_ERROR_ALLOW;
		else if (value_len == 5 && memcmp(value, "local", 5) == 0)
			out->on_error = CL_REDIS_ON_ERROR_LOCAL;
		else
			return invalid(why, "invalid on_error ",
				       value, value_len,
				       ": expected deny, allow or local");
		return 0;
	}

	if (name_len == 6 && memcmp(name, "expire", 6) == 0) {
		if (value_len == 2 && memcmp(value, "on", 2) == 0)
			out->expire = true;
		else if (value_len == 3 && memcmp(value, "off", 3) == 0)
			out->expire = false;
		else
			return invalid(why, "invalid expire ", value,
				       value_len, ": expected on or off");
		return 0;
	}

	if (name_len == 5 && memcmp(name, "local", 5) == 0) {
		if (value_len == 0 || value_len > CREDLIMIT_NAME_MAX)
			return invalid(why, "invalid local limiter name ",
				       value, value_len,
				       "");
		memcpy(out->local, value, value_len);
		out->local[value_len] = '\0';
		return 0;
	}

	return invalid(why, "unknown Redis option ", name, name_len,
		       ": expected prefix, timeout_ms, connect_timeout_ms, "
		       "retry_min_ms, retry_max_ms, policy_refresh_ms, "
		       "on_error, local or expire");
}

static int parse_options(const char *text, struct cl_redis_config *out,
			 char why[WHY_SIZE])
{
	while (*text != '\0') {
		size_t len = strcspn(text, "&");
		const char *equals = memchr(text, '=', len);
		int err;

		/* Empty options, as in "?&a=1" or "?a=1&&b=2", are skipped
		 * wherever they are, as a trailing '&' always was. */
		if (len == 0) {
			text++;
			continue;
		}
		if (equals == NULL)
			return invalid(why, "invalid Redis option ", text, len,
				       ": expected NAME=VALUE");
		err = parse_option(text, (size_t)(equals - text), equals + 1,
				   len - (size_t)(equals - text) - 1, out,
				   why);
		if (err < 0)
			return err;
		text += len;
		if (*text == '&')
			text++;
	}
	return 0;
}

static int parse_nodes(const char *text, size_t len,
		       struct cl_redis_config *out, char why[WHY_SIZE])
{
	while (len > 0) {
		const char *comma = memchr(text, ',', len);
		size_t part = comma == NULL ? len : (size_t)(comma - text);
		int err;

		if (out->node_count == CL_REDIS_NODES_MAX) {
			snprintf(why, WHY_SIZE,
				 "too many Redis servers: at most %d",
				 CL_REDIS_NODES_MAX);
			return -EINVAL;
		}
		err = parse_address(text, part,
				    &out->nodes[out->node_count], why);
		if (err < 0)
			return err;
		/* A server named twice would hold two shares of the slots
		 * under one name: a typo, not a layout. */
		for (int i = 0; i < out->node_count; i++) {
			const struct cl_redis_address *a = &out->nodes[i];
			const struct cl_redis_address *b =
				&out->nodes[out->node_count];

			if (a->port == b->port && strcmp(a->host, b->host) == 0)
				return invalid(why, "Redis server ", text,
					       part, " is named twice");
		}
		out->node_count++;
		if (comma == NULL)
			break;
		text += part + 1;
		len -= part + 1;
		if (len == 0)
			return invalid(why, "empty Redis server after ",
				       text - part - 1, part,
				       "");
	}
	return 0;
}

int cl_redis_uri_parse(const char *uri, struct cl_redis_config *out,
		       char why[WHY_SIZE])
{
	const char *rest = NULL;
	size_t authority;
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(out->prefix, sizeof(out->prefix), "cl:");
	out->timeout_ms = 100;
	out->connect_timeout_ms = 100;
	out->retry_min_ms = 100;
	out->retry_max_ms = 2000;
	out->policy_refresh_ms = 1000;
	out->on_error = CL_REDIS_ON_ERROR_DENY;
	out->expire = true;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t len = strlen(schemes[i].scheme);

		if (strncmp(uri, schemes[i].scheme, len) == 0) {
			out->mode = schemes[i].mode;
			rest = uri + len;
			break;
		}
	}
	if (rest == NULL)
		return invalid(why, "", uri, strlen(uri),
			       " is not a Redis URI: expected redis://, "
			       "redis+shards:// or redis+cluster://");

	authority = strcspn(rest, "/?");
	if (authority == 0)
		return invalid(why, "Redis URI ", uri,
			       strlen(uri), " names no server");
	err = parse_nodes(rest, authority, out, why);
	if (err < 0)
		return err;
	if (out->mode == CL_REDIS_SINGLE && out->node_count != 1)
		return invalid(why, "redis:// names one server, not ", rest,
			       authority,
			       ": use redis+shards:// or redis+cluster://");
	rest += authority;

	if (*rest == '/') {
		size_t len = strcspn(rest + 1, "?");

		if (len > 0 && !parse_int(rest + 1, len, 0, INT_MAX, &out->db))
			return invalid(why, "invalid Redis database ",
				       rest + 1, len,
				       ": expected a number");
		rest += 1 + len;
	}
	if (out->mode == CL_REDIS_CLUSTER && out->db != 0)
		return invalid(why, "Redis Cluster has only database 0, not ",
			       uri, strlen(uri), "");

	if (*rest == '?') {
		err = parse_options(rest + 1, out, why);
		if (err < 0)
			return err;
	}

	if (out->retry_max_ms < out->retry_min_ms)
		return invalid(why, "retry_max_ms is below retry_min_ms in ",
			       uri, strlen(uri), "");
	if ((out->on_error == CL_REDIS_ON_ERROR_LOCAL) !=
	    (out->local[0] != '\0'))
		return invalid(why, "on_error=local and local=NAME go together: ",
			       uri, strlen(uri),
			       " (local names the shared-memory limiter that "
			       "decides while Redis is unavailable)");
	return 0;
}
