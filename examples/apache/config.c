/*
 * config.c - mod_credlimit's directives
 *
 * Server-wide directives (CredlimitZone, CredlimitPolicy) fill the static
 * mcl_globals, which pre_config empties before each read of the
 * configuration, so a restart starts without the zones of the previous one.  A
 * policy must follow the CredlimitZone of its zone.  CredlimitLimit may come
 * before the zone it names: each use is recorded and checked in post_config,
 * when all zones are known, and an unknown zone or policy stops the start
 * with the file and line of the directive.
 *
 * Every other directive is per-directory and stored in struct
 * mcl_dir_config; a value left unset in a section is inherited from the
 * enclosing one.  Numbers are checked here against the ranges documented in
 * <credlimit.h>, so that the library's -EINVAL never reaches a running
 * server for a configuration error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mod_credlimit.h"

#include "http_protocol.h"

#include "apr_lib.h"
#include "apr_strings.h"

struct mcl_globals mcl_globals;

void mcl_globals_reset(apr_pool_t *pconf)
{
	mcl_globals.zones = apr_hash_make(pconf);
	mcl_globals.references =
		apr_array_make(pconf, 8, sizeof(struct mcl_reference));
}

static const char *directive_location(cmd_parms *cmd)
{
	if (cmd->directive == NULL)
		return "(unknown)";
	return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
			    cmd->directive->line_num);
}

/* Parses a decimal number from 0 to max, the whole string. */
static int parse_number(const char *text, uint64_t max, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value > max)
		return -ERANGE;
	*out = value;
	return 0;
}

/*
 * Parses a window length: a number followed by ms, s, m, h or d, or a bare
 * number of seconds.  Returns NULL or an error message.
 */
static const char *parse_duration(apr_pool_t *pool, const char *text,
				  uint64_t *out_ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "ms", UINT64_C(1000000) },
		{ "s", UINT64_C(1000000000) },
		{ "m", UINT64_C(60) * 1000000000 },
		{ "h", UINT64_C(3600) * 1000000000 },
		{ "d", UINT64_C(86400) * 1000000000 },
		{ "", UINT64_C(1000000000) },
	};
	unsigned long long count;
	char *end;
	size_t i;

	if (*text < '0' || *text > '9')
		return apr_psprintf(pool, "invalid window '%s': expected a number with a unit, such as 1s, 10m or 1h",
				    text);
	errno = 0;
	count = strtoull(text, &end, 10);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (errno != 0 || count > CREDLIMIT_WINDOW_MAX_NS / units[i].ns ||
		    count * units[i].ns < CREDLIMIT_WINDOW_MIN_NS ||
		    count * units[i].ns > CREDLIMIT_WINDOW_MAX_NS)
			return apr_psprintf(pool, "window '%s' is out of range: it must be from 1ms to 366d",
					    text);
		*out_ns = count * units[i].ns;
		return NULL;
	}
	return apr_psprintf(pool, "invalid window '%s': the unit must be ms, s, m, h or d",
			    text);
}

/* Splits "name=value" into its parts; returns false without '='. */
static bool split_option(apr_pool_t *pool, const char *arg, char **name,
			 const char **value)
{
	const char *equals = strchr(arg, '=');

	if (equals == NULL)
		return false;
	*name = apr_pstrmemdup(pool, arg, (apr_size_t)(equals - arg));
	*value = equals + 1;
	return true;
}

static bool valid_name(const char *name, const char *extra, size_t max)
{
	size_t length = strlen(name);

	if (length == 0 || length > max || name[0] == '.')
		return false;
	for (const char *c = name; *c != '\0'; c++) {
		if (!apr_isalnum(*c) && strchr(extra, *c) == NULL)
			return false;
	}
	return true;
}

/* Returns true when argv[first .. i) has an option called name. */
static bool option_given(char *const argv[], int first, int i,
			 const char *name)
{
	size_t length = strlen(name);

	for (; first < i; first++) {
		if (strncmp(argv[first], name, length) == 0 &&
		    argv[first][length] == '=')
			return true;
	}
	return false;
}

/* Returns the name of the zone that uses segment, or NULL.  Two zones on
 * one segment would define their policies in the same limiter, and the
 * zone opened last would override the other's numbers at every start. */
static const char *segment_user(const char *segment)
{
	apr_hash_index_t *index;

	for (index = apr_hash_first(NULL, mcl_globals.zones); index != NULL;
	     index = apr_hash_next(index)) {
		const struct mcl_zone *zone = apr_hash_this_val(index);

		if (strcmp(zone->segment, segment) == 0)
			return zone->name;
	}
	return NULL;
}

/* CredlimitZone ZONE [segment=NAME] [capacity=N] [max-capacity=N]
 *               [mode=OCTAL] */
static const char *set_zone(cmd_parms *cmd, void *dir, int argc,
			    char *const argv[])
{
	const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
	struct mcl_zone *zone;
	int i;

	if (error != NULL)
		return error;
	if (argc < 1)
		return "CredlimitZone needs a zone name";
	if (mcl_globals.zones == NULL)
		mcl_globals_reset(cmd->pool);

	zone = apr_pcalloc(cmd->pool, sizeof(*zone));
	zone->name = argv[0];
	zone->segment = argv[0];
	zone->capacity = 4096;
	zone->mode = 0600;
	zone->defined_at = directive_location(cmd);
	zone->policies = apr_hash_make(cmd->pool);

	if (apr_hash_get(mcl_globals.zones, zone->name, APR_HASH_KEY_STRING))
		return apr_psprintf(cmd->pool, "CredlimitZone %s is defined twice",
				    zone->name);

	for (i = 1; i < argc; i++) {
		const char *value;
		char *name;
		uint64_t number;

		if (!split_option(cmd->temp_pool, argv[i], &name, &value))
			return apr_psprintf(cmd->pool, "CredlimitZone %s: invalid option '%s': expected NAME=VALUE",
					    zone->name, argv[i]);
		if (option_given(argv, 1, i, name))
			return apr_psprintf(cmd->pool, "CredlimitZone %s: option %s is given twice",
					    zone->name, name);
		if (strcmp(name, "segment") == 0) {
			zone->segment = value;
		} else if (strcmp(name, "capacity") == 0 ||
			   strcmp(name, "max-capacity") == 0) {
			if (parse_number(value, CREDLIMIT_CAPACITY_MAX, &number) < 0 ||
			    number < 8)
				return apr_psprintf(cmd->pool, "CredlimitZone %s: %s '%s' is invalid: it must be from 8 to %" PRIu64 " slots",
						    zone->name, name, value,
						    CREDLIMIT_CAPACITY_MAX);
			if (name[0] == 'c')
				zone->capacity = number;
			else
				zone->max_capacity = number;
		} else if (strcmp(name, "mode") == 0) {
			char *end;
			unsigned long mode = strtoul(value, &end, 8);

			if (*value == '\0' || *end != '\0' || mode > 0777 ||
			    (mode & 0600) != 0600)
				return apr_psprintf(cmd->pool, "CredlimitZone %s: mode '%s' is invalid: it must be octal, at most 0777, and include 0600",
						    zone->name, value);
			zone->mode = (mode_t)mode;
		} else {
			return apr_psprintf(cmd->pool, "CredlimitZone %s: unknown option '%s'; expected segment, capacity, max-capacity or mode",
					    zone->name, name);
		}
	}

	if (!valid_name(zone->segment, "._-", CREDLIMIT_NAME_MAX))
		return apr_psprintf(cmd->pool, "CredlimitZone %s: invalid segment name '%s': use 1 to %d characters from A-Z a-z 0-9 . _ -, not starting with '.'",
				    zone->name, zone->segment, CREDLIMIT_NAME_MAX);
	error = segment_user(zone->segment);
	if (error != NULL)
		return apr_psprintf(cmd->pool, "CredlimitZone %s: segment %s is already used by zone %s",
				    zone->name, zone->segment, error);
	if (zone->max_capacity != 0 && zone->max_capacity < zone->capacity)
		return apr_psprintf(cmd->pool, "CredlimitZone %s: max-capacity %" PRIu64 " is below capacity %" PRIu64,
				    zone->name, zone->max_capacity,
				    zone->capacity);

	apr_hash_set(mcl_globals.zones, zone->name, APR_HASH_KEY_STRING, zone);
	return NULL;
}

/* CredlimitPolicy ZONE NAME requests=R window=W [credits=C] [initial=I] */
static const char *set_policy(cmd_parms *cmd, void *dir, int argc,
			      char *const argv[])
{
	const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
	struct mcl_policy *policy;
	struct mcl_zone *zone;
	bool have_requests = false, have_window = false;
	unsigned named_policies;
	int i;

	if (error != NULL)
		return error;
	if (argc < 4)
		return "CredlimitPolicy needs ZONE NAME requests=R window=W";
	zone = mcl_globals.zones == NULL
		       ? NULL
		       : apr_hash_get(mcl_globals.zones, argv[0],
				      APR_HASH_KEY_STRING);
	if (zone == NULL)
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: zone %s is not defined; put its CredlimitZone line first",
				    argv[0], argv[1], argv[0]);
	if (!valid_name(argv[1], "._:-", CREDLIMIT_POLICY_NAME_MAX))
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s: invalid policy name '%s': use 1 to %d characters from A-Z a-z 0-9 . _ : -",
				    argv[0], argv[1], CREDLIMIT_POLICY_NAME_MAX);
	if (apr_hash_get(zone->policies, argv[1], APR_HASH_KEY_STRING))
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s is defined twice",
				    argv[0], argv[1]);
	/* With at most 256 policies a configuration cannot reach the 1023
	 * window lengths of a limiter.  Those run out only over the
	 * limiter's life, and zone.c names that cause at startup. */
	named_policies = apr_hash_count(zone->policies) -
			 (zone->default_policy != NULL ? 1 : 0);
	if (strcmp(argv[1], "default") != 0 &&
	    named_policies >= CREDLIMIT_POLICY_MAX - 1)
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: zone %s already has %u named policies, the most a limiter holds besides default; use another zone",
				    argv[0], argv[1], argv[0], named_policies);

	policy = apr_pcalloc(cmd->pool, sizeof(*policy));
	policy->name = argv[1];
	policy->defined_at = directive_location(cmd);
	policy->id = -1;

	for (i = 2; i < argc; i++) {
		const char *value;
		char *name;
		uint64_t number = 0;
		unsigned minimum;

		if (!split_option(cmd->temp_pool, argv[i], &name, &value))
			return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: invalid option '%s': expected NAME=VALUE",
					    argv[0], argv[1], argv[i]);
		if (option_given(argv, 2, i, name))
			return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: option %s is given twice",
					    argv[0], argv[1], name);
		if (strcmp(name, "window") == 0) {
			error = parse_duration(cmd->pool, value,
					       &policy->numbers.window_ns);
			if (error != NULL)
				return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: %s",
						    argv[0], argv[1], error);
			have_window = true;
			continue;
		}
		if (strcmp(name, "requests") != 0 &&
		    strcmp(name, "credits") != 0 && strcmp(name, "initial") != 0)
			return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: unknown option '%s'; expected requests, window, credits or initial",
					    argv[0], argv[1], name);
		minimum = name[0] == 'r' ? 1 : 0;
		if (parse_number(value, UINT32_MAX, &number) < 0 ||
		    number < minimum)
			return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: %s '%s' is invalid: it must be a whole number from %u to %" PRIu32,
					    argv[0], argv[1], name, value,
					    minimum, UINT32_MAX);
		if (name[0] == 'r') {
			policy->numbers.max_requests = (uint32_t)number;
			have_requests = true;
		} else if (name[0] == 'c') {
			policy->numbers.max_credits = (uint32_t)number;
		} else {
			policy->numbers.initial_credits = (uint32_t)number;
		}
	}

	if (!have_requests || !have_window)
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: requests= and window= are required",
				    argv[0], argv[1]);
	if (policy->numbers.initial_credits > policy->numbers.max_credits)
		return apr_psprintf(cmd->pool, "CredlimitPolicy %s %s: initial=%" PRIu32 " exceeds credits=%" PRIu32,
				    argv[0], argv[1],
				    policy->numbers.initial_credits,
				    policy->numbers.max_credits);

	apr_hash_set(zone->policies, policy->name, APR_HASH_KEY_STRING, policy);
	if (strcmp(policy->name, "default") == 0)
		zone->default_policy = policy;
	return NULL;
}

/* CredlimitLimit ZONE POLICY, or CredlimitLimit off */
static const char *set_limit(cmd_parms *cmd, void *dir_config,
			     const char *zone, const char *policy)
{
	struct mcl_dir_config *dir = dir_config;
	struct mcl_reference *reference;

	dir->limit_set = 1;
	if (policy == NULL) {
		if (strcasecmp(zone, "off") != 0)
			return "CredlimitLimit needs ZONE POLICY, or off";
		dir->zone = NULL;
		dir->policy = NULL;
		return NULL;
	}
	dir->zone = zone;
	dir->policy = policy;

	if (mcl_globals.references == NULL)
		mcl_globals_reset(cmd->pool);
	reference = apr_array_push(mcl_globals.references);
	reference->zone = zone;
	reference->policy = policy;
	reference->defined_at = directive_location(cmd);
	return NULL;
}

/* Parses ip, header:NAME, env:NAME, note:NAME and, when allowed, a
 * constant number.  Returns NULL or an error message; out->kind stays
 * MCL_SOURCE_UNSET when arg is none of these. */
static const char *parse_source(cmd_parms *cmd, const char *arg,
				bool allow_ip, bool allow_number,
				struct mcl_source *out)
{
	static const struct {
		const char *prefix;
		enum mcl_source_kind kind;
	} prefixes[] = {
		{ "header:", MCL_SOURCE_HEADER },
		{ "env:", MCL_SOURCE_ENV },
		{ "note:", MCL_SOURCE_NOTE },
	};
	size_t i;

	memset(out, 0, sizeof(*out));
	if (allow_ip && strcasecmp(arg, "ip") == 0) {
		out->kind = MCL_SOURCE_IP;
		return NULL;
	}
	if (allow_number && parse_number(arg, UINT32_MAX, &out->value) == 0) {
		out->kind = MCL_SOURCE_FIXED;
		return NULL;
	}
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t length = strlen(prefixes[i].prefix);

		if (strncasecmp(arg, prefixes[i].prefix, length) != 0)
			continue;
		if (arg[length] == '\0')
			return apr_psprintf(cmd->pool, "%s: '%s' names no %.*s",
					    cmd->cmd->name, arg,
					    (int)length - 1, prefixes[i].prefix);
		if (prefixes[i].kind == MCL_SOURCE_HEADER &&
		    *ap_scan_http_token(arg + length) != '\0')
			return apr_psprintf(cmd->pool, "%s: invalid header field name '%s': it must be a token of A-Z a-z 0-9 and !#$%%&'*+-.^_`|~, without spaces",
					    cmd->cmd->name, arg + length);
		out->kind = prefixes[i].kind;
		out->name = arg + length;
		return NULL;
	}
	return NULL;
}

static const char *set_key(cmd_parms *cmd, void *dir_config, const char *arg)
{
	struct mcl_dir_config *dir = dir_config;
	const char *error = parse_source(cmd, arg, true, false, &dir->key);

	if (error == NULL && dir->key.kind == MCL_SOURCE_UNSET)
		error = apr_psprintf(cmd->pool, "CredlimitKey: invalid source '%s'; expected ip, header:NAME, env:NAME or note:NAME",
				     arg);
	return error;
}

static const char *set_cost(cmd_parms *cmd, void *dir_config, const char *arg)
{
	struct mcl_dir_config *dir = dir_config;
	const char *error = parse_source(cmd, arg, false, true, &dir->cost);

	if (error == NULL && dir->cost.kind == MCL_SOURCE_UNSET)
		error = apr_psprintf(cmd->pool, "CredlimitCost: invalid source '%s'; expected a number from 0 to %" PRIu32 ", header:NAME or env:NAME",
				     arg, UINT32_MAX);
	if (error == NULL && dir->cost.kind == MCL_SOURCE_NOTE)
		error = "CredlimitCost: note:NAME is not supported; use env:NAME";
	return error;
}

static const char *set_no_key(cmd_parms *cmd, void *dir_config,
			      const char *arg)
{
	struct mcl_dir_config *dir = dir_config;

	if (strcasecmp(arg, "skip") == 0)
		dir->no_key = MCL_NO_KEY_SKIP;
	else if (strcasecmp(arg, "deny") == 0)
		dir->no_key = MCL_NO_KEY_DENY;
	else if (strcasecmp(arg, "ip") == 0)
		dir->no_key = MCL_NO_KEY_IP;
	else
		return apr_psprintf(cmd->pool, "CredlimitNoKey: invalid value '%s'; expected skip, deny or ip",
				    arg);
	return NULL;
}

static const char *set_dry_run(cmd_parms *cmd, void *dir_config, int flag)
{
	struct mcl_dir_config *dir = dir_config;

	dir->dry_run = flag ? 1 : 0;
	return NULL;
}

static const char *set_deny_status(cmd_parms *cmd, void *dir_config,
				   const char *arg)
{
	struct mcl_dir_config *dir = dir_config;
	const char *status_line;
	uint64_t status;

	if (parse_number(arg, 599, &status) < 0 || status < 400)
		return apr_psprintf(cmd->pool, "CredlimitDenyStatus: invalid status '%s'; it must be from 400 to 599",
				    arg);

	/* httpd sends a code it has no status line for as 500, while the
	 * access log shows the code.  ap_get_status_line() returns the 500
	 * line for an unknown code, and NULL for some unassigned ones. */
	status_line = ap_get_status_line((int)status);
	if (status_line == NULL ||
	    strncmp(status_line, apr_psprintf(cmd->temp_pool, "%d ", (int)status),
		    4) != 0)
		return apr_psprintf(cmd->pool, "CredlimitDenyStatus: status %d is unknown to httpd, which would send it as 500; use a code with a status line, such as 429 or 503",
				    (int)status);
	dir->deny_status = (int)status;
	return NULL;
}

static const char *set_log_level(cmd_parms *cmd, void *dir_config,
				 const char *arg)
{
	struct mcl_dir_config *dir = dir_config;
	const char *error = ap_parse_log_level(arg, &dir->log_level);

	if (error != NULL)
		return apr_psprintf(cmd->pool, "CredlimitLogLevel: %s", error);
	return NULL;
}

static const char *set_on_error(cmd_parms *cmd, void *dir_config,
				const char *arg)
{
	struct mcl_dir_config *dir = dir_config;

	if (strcasecmp(arg, "open") == 0)
		dir->on_error = MCL_ON_ERROR_OPEN;
	else if (strcasecmp(arg, "closed") == 0)
		dir->on_error = MCL_ON_ERROR_CLOSED;
	else
		return apr_psprintf(cmd->pool, "CredlimitOnError: invalid value '%s'; expected open or closed",
				    arg);
	return NULL;
}

void *mcl_create_dir_config(apr_pool_t *pool, char *context)
{
	struct mcl_dir_config *dir = apr_pcalloc(pool, sizeof(*dir));

	dir->dry_run = -1;
	dir->log_level = -1;
	return dir;
}

void *mcl_merge_dir_config(apr_pool_t *pool, void *base_config,
			   void *add_config)
{
	const struct mcl_dir_config *base = base_config;
	const struct mcl_dir_config *add = add_config;
	struct mcl_dir_config *merged = apr_pcalloc(pool, sizeof(*merged));

	merged->limit_set = add->limit_set || base->limit_set;
	if (add->limit_set) {
		merged->zone = add->zone;
		merged->policy = add->policy;
	} else {
		merged->zone = base->zone;
		merged->policy = base->policy;
	}
	merged->key = add->key.kind != MCL_SOURCE_UNSET ? add->key : base->key;
	merged->no_key = add->no_key != MCL_NO_KEY_UNSET ? add->no_key
							  : base->no_key;
	merged->cost = add->cost.kind != MCL_SOURCE_UNSET ? add->cost
							   : base->cost;
	merged->dry_run = add->dry_run != -1 ? add->dry_run : base->dry_run;
	merged->deny_status = add->deny_status != 0 ? add->deny_status
						    : base->deny_status;
	merged->log_level = add->log_level != -1 ? add->log_level
						 : base->log_level;
	merged->on_error = add->on_error != MCL_ON_ERROR_UNSET
				   ? add->on_error
				   : base->on_error;
	return merged;
}

/* Per-directory directives are allowed in the server, virtual hosts,
 * <Location> and <Directory>, but not in .htaccess files: a zone is a
 * server-wide resource that file owners should not spend. */
#define MCL_DIR_CONTEXT (RSRC_CONF | ACCESS_CONF)

const command_rec mcl_directives[] = {
	AP_INIT_TAKE_ARGV("CredlimitZone", set_zone, NULL, RSRC_CONF,
			  "ZONE [segment=NAME] [capacity=N] [max-capacity=N] [mode=OCTAL]: "
			  "a shared-memory limiter"),
	AP_INIT_TAKE_ARGV("CredlimitPolicy", set_policy, NULL, RSRC_CONF,
			  "ZONE NAME requests=R window=W [credits=C] [initial=I]: "
			  "a named policy; W is a number with ms, s, m, h or d"),
	AP_INIT_TAKE12("CredlimitLimit", set_limit, NULL, MCL_DIR_CONTEXT,
		       "ZONE POLICY to limit requests here, or off"),
	AP_INIT_TAKE1("CredlimitKey", set_key, NULL, MCL_DIR_CONTEXT,
		      "the customer key: ip, header:NAME, env:NAME or note:NAME (default ip)"),
	AP_INIT_TAKE1("CredlimitNoKey", set_no_key, NULL, MCL_DIR_CONTEXT,
		      "requests without a key: skip, deny or ip (default ip)"),
	AP_INIT_TAKE1("CredlimitCost", set_cost, NULL, MCL_DIR_CONTEXT,
		      "a request's cost: a number, header:NAME or env:NAME (default 1)"),
	AP_INIT_FLAG("CredlimitDryRun", set_dry_run, NULL, MCL_DIR_CONTEXT,
		     "On to decide, count and log without denying (default Off)"),
	AP_INIT_TAKE1("CredlimitDenyStatus", set_deny_status, NULL,
		      MCL_DIR_CONTEXT,
		      "HTTP status of denied requests, a 4xx or 5xx code httpd knows (default 429)"),
	AP_INIT_TAKE1("CredlimitLogLevel", set_log_level, NULL,
		      MCL_DIR_CONTEXT,
		      "log level of denied requests (default info)"),
	AP_INIT_TAKE1("CredlimitOnError", set_on_error, NULL, MCL_DIR_CONTEXT,
		      "when the limiter fails: open serves, closed answers 503 (default open)"),
	{ NULL }
};
