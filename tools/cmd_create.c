/*
 * cmd_create.c - limitctl create: make a new named limiter
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "limitctl.h"

enum {
	OPT_CAPACITY = OPT_FIRST_COMMAND_OPTION,
	OPT_MAX_CAPACITY,
	OPT_MAX_REQUESTS,
	OPT_WINDOW,
	OPT_MAX_CREDITS,
	OPT_INITIAL_CREDITS,
	OPT_MODE,
	OPT_FULL_ACTION,
};

static int parse_full_action(const char *text, int *out)
{
	if (strcmp(text, "deny") == 0) {
		*out = CREDLIMIT_FULL_DENY;
		return EXIT_OK;
	}
	if (strcmp(text, "allow") == 0) {
		*out = CREDLIMIT_FULL_ALLOW;
		return EXIT_OK;
	}

	return usage_error("create",
			   "invalid --full-action \"%s\": expected deny or "
			   "allow",
			   text);
}

/* The capacity options given on the command line. */
struct capacity_options {
	bool capacity_set;
	bool max_capacity_set;
};

static int parse_create_option(int option, struct credlimit_options *o,
			       struct capacity_options *given)
{
	struct credlimit_policy *p = &o->default_policy;

	switch (option) {
	case OPT_CAPACITY:
		given->capacity_set = true;
		return parse_capacity("--capacity", optarg,
				      &o->initial_capacity);
	case OPT_MAX_CAPACITY:
		given->max_capacity_set = true;
		return parse_capacity("--max-capacity", optarg,
				      &o->max_capacity);
	case OPT_MAX_REQUESTS:
		return parse_u32("--max-requests", optarg, 1, &p->max_requests);
	case OPT_WINDOW:
		return parse_window("--window", optarg, &p->window_ns);
	case OPT_MAX_CREDITS:
		return parse_u32("--max-credits", optarg, 0, &p->max_credits);
	case OPT_INITIAL_CREDITS:
		return parse_u32("--initial-credits", optarg, 0,
				 &p->initial_credits);
	case OPT_MODE:
		return parse_mode("--mode", optarg, &o->mode);
	case OPT_FULL_ACTION:
		return parse_full_action(optarg, &o->full_action);
	default:
		return OPTION_HANDLED;
	}
}

static void print_created(const char *name, const struct credlimit_stats *st,
			  const struct credlimit_options *o, bool json)
{
	struct credlimit_policy_info info = { .id = CREDLIMIT_POLICY_DEFAULT,
					      .name = "default" };
	char mode[8];

	info.policy = o->default_policy;
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st->mode & 07777));

	if (json && counts_in_redis(name)) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "created", true);
		json_key(&out, "default_policy");
		json_policy(&out, &info);
		json_object_end(&out);
		return;
	}
	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "created", true);
		json_field_u64(&out, "capacity", st->capacity);
		json_field_u64(&out, "max_capacity", st->max_capacity);
		json_field_string(&out, "mode", mode);
		json_field_string(&out, "full_action",
				  full_action_name(st->full_action));
		json_key(&out, "default_policy");
		json_policy(&out, &info);
		json_object_end(&out);
		return;
	}

	if (counts_in_redis(name))
		printf("created limiter \"%s\" on Redis\n", name);
	else
		printf("created limiter \"%s\": %" PRIu64 " slots (max %" PRIu64
		       "), mode %s, full action %s\n",
		       name, st->capacity, st->max_capacity, mode,
		       full_action_name(st->full_action));
	printf("default policy: ");
	print_policy_numbers(stdout, &o->default_policy);
	putchar('\n');
}

int cmd_create(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ "max-capacity", required_argument, NULL, OPT_MAX_CAPACITY },
		{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "max-credits", required_argument, NULL, OPT_MAX_CREDITS },
		{ "initial-credits", required_argument, NULL,
		  OPT_INITIAL_CREDITS },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "full-action", required_argument, NULL, OPT_FULL_ACTION },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const arguments[] = { "NAME", NULL };
	struct credlimit_options o;
	struct credlimit_stats st;
	struct capacity_options given = { 0 };
	unsigned flags;
	credlimit_t *cl;
	const char *name;
	int option;
	int status;
	int error;

	credlimit_options_init(&o);
	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		status = parse_create_option(option, &o, &given);
		if (status == OPTION_HANDLED) {
			/* Not an option of create: --help, --json, --owner,
			 * or an error. */
			status = handle_common_option(option, "create", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			continue;
		}
		if (status != EXIT_OK)
			return status;
	}

	status = check_arguments("create", argc - optind, argv + optind,
				 arguments, 1);
	if (status != EXIT_OK)
		return status;
	name = argv[optind];
	status = parse_limiter_name(name);
	if (status != EXIT_OK)
		return status;

	if (globals->owner_set)
		return usage_error("create",
				   "--owner does not apply to create: a new "
				   "limiter belongs to the user that creates "
				   "it");

	status = check_initial_credits(&o.default_policy);
	if (status != EXIT_OK)
		return status;
	if (given.max_capacity_set && o.max_capacity < o.initial_capacity)
		return usage_error("create",
				   "invalid --max-capacity %" PRIu64
				   ": it must be at least the capacity "
				   "(%" PRIu64 "%s); raise --max-capacity or "
				   "lower --capacity",
				   o.max_capacity, o.initial_capacity,
				   given.capacity_set ? "" : ", the default");

	flags = CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL;
	collect_open_details(&o);
	error = credlimit_open(name, flags, &o, &cl);
	if (error == -EEXIST) {
		print_error("limiter \"%s\" already exists; 'limitctl destroy "
			    "%s' removes it, or choose another name",
			    name, name);
		return EXIT_FAILED;
	}
	if (error < 0)
		return report_open_error(name, error, true, globals);

	error = credlimit_stats(cl, &st);
	credlimit_close(cl);
	if (error < 0) {
		print_error("created limiter \"%s\" but cannot read its "
			    "statistics: %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	print_created(name, &st, &o, globals->json);
	return EXIT_OK;
}
