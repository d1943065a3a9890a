/*
 * cmd_policy.c - limitctl policy list and policy set: the named policies
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "limitctl.h"

enum {
	OPT_MAX_REQUESTS = OPT_FIRST_COMMAND_OPTION,
	OPT_WINDOW,
	OPT_MAX_CREDITS,
	OPT_INITIAL_CREDITS,
};

/* The numbers given to policy set; the others keep their values. */
struct policy_request {
	struct credlimit_policy numbers;
	bool max_requests_set;
	bool window_set;
	bool max_credits_set;
	bool initial_credits_set;
};

static int list_policies(const char *name, credlimit_t *cl, bool json)
{
	static struct policy_table policies;
	char window[32];
	int name_width = 4;
	int error = load_policies(cl, &policies);

	if (error < 0) {
		print_error("cannot read the policies of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_key(&out, "policies");
		json_array_begin(&out);
		for (int i = 0; i < policies.count; i++)
			json_policy(&out, &policies.info[i]);
		json_array_end(&out);
		json_object_end(&out);
		return EXIT_OK;
	}

	for (int i = 0; i < policies.count; i++) {
		int len = (int)strlen(policies.info[i].name);

		if (len > name_width)
			name_width = len;
	}

	printf("%3s  %-*s  %12s  %8s  %11s  %15s\n", "ID", name_width, "NAME",
	       "MAX-REQUESTS", "WINDOW", "MAX-CREDITS", "INITIAL-CREDITS");
	for (int i = 0; i < policies.count; i++) {
		const struct credlimit_policy_info *info = &policies.info[i];

		format_duration_exact(window, sizeof(window),
				      info->policy.window_ns);
		printf("%3d  %-*s  %12" PRIu32 "  %8s  %11" PRIu32
		       "  %15" PRIu32 "\n",
		       info->id, name_width, info->name,
		       info->policy.max_requests, window,
		       info->policy.max_credits, info->policy.initial_credits);
	}

	return EXIT_OK;
}

/* Fills the numbers of policy `policy` in *numbers: the existing ones
 * overridden by those given, or for a new policy those given, credits
 * defaulting to 0.  Sets *exists. */
static int merge_numbers(const char *name, credlimit_t *cl,
			 const char *policy,
			 const struct policy_request *request,
			 struct credlimit_policy *numbers, bool *exists)
{
	const struct credlimit_policy *requested = &request->numbers;
	int error = credlimit_policy_find(cl, policy, numbers);

	if (error < 0 && error != -ENOENT) {
		print_error("cannot look up policy \"%s\" in limiter \"%s\": "
			    "%s",
			    policy, name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	*exists = error >= 0;
	if (!*exists) {
		if (!request->max_requests_set || !request->window_set)
			return usage_error("policy",
					   "policy \"%s\" does not exist in "
					   "limiter \"%s\" yet: give "
					   "--max-requests and --window to "
					   "define it",
					   policy, name);
		memset(numbers, 0, sizeof(*numbers));
	}

	if (request->max_requests_set)
		numbers->max_requests = requested->max_requests;
	if (request->window_set)
		numbers->window_ns = requested->window_ns;
	if (request->max_credits_set)
		numbers->max_credits = requested->max_credits;
	if (request->initial_credits_set)
		numbers->initial_credits = requested->initial_credits;

	if (*exists && !request->initial_credits_set &&
	    numbers->initial_credits > numbers->max_credits) {
		print_error("the kept initial credits (%" PRIu32 ") of policy "
			    "\"%s\" exceed the new --max-credits %" PRIu32
			    "; pass --initial-credits as well, at most "
			    "%" PRIu32,
			    numbers->initial_credits, policy,
			    numbers->max_credits, numbers->max_credits);
		return EXIT_USAGE;
	}

	return check_initial_credits(numbers);
}

/* Prints which limit credlimit_policy_define() hit with -ENOSPC: a new
 * policy needs a free id, and a new window length a free registry slot. */
static int report_no_room(const char *name, credlimit_t *cl,
			  const char *policy, bool exists)
{
	struct credlimit_stats stats;
	int error = exists ? 0 : credlimit_stats(cl, &stats);

	if (error < 0) {
		print_error("cannot define policy \"%s\" in limiter \"%s\": "
			    "it has all %d policy ids or %d distinct window "
			    "lengths in use; reuse an existing policy or "
			    "window length",
			    policy, name, CREDLIMIT_POLICY_MAX,
			    CREDLIMIT_WINDOWS_MAX);
		return EXIT_FAILED;
	}

	if (!exists && stats.policies >= CREDLIMIT_POLICY_MAX) {
		print_error("cannot define policy \"%s\" in limiter \"%s\": "
			    "all %d policy ids are in use; change an existing "
			    "policy instead ('limitctl policy list %s' shows "
			    "them)",
			    policy, name, CREDLIMIT_POLICY_MAX, name);
		return EXIT_FAILED;
	}

	print_error("cannot %s policy \"%s\" in limiter \"%s\": it has "
		    "registered all %d distinct window lengths it can have "
		    "over its life; use a window length that one of its "
		    "policies has ('limitctl policy list %s' shows them), or "
		    "create a new limiter",
		    exists ? "change" : "define", policy, name,
		    CREDLIMIT_WINDOWS_MAX, name);
	return EXIT_FAILED;
}

static int set_policy(const char *name, credlimit_t *cl, const char *policy,
		      const struct policy_request *request, bool json)
{
	struct credlimit_policy_info info = { 0 };
	bool exists;
	int status;
	int id;

	status = merge_numbers(name, cl, policy, request, &info.policy,
			       &exists);
	if (status != EXIT_OK)
		return status;

	id = credlimit_policy_define(cl, policy, &info.policy);
	if (id == -ENOSPC)
		return report_no_room(name, cl, policy, exists);
	if (id < 0) {
		print_error("cannot define policy \"%s\" in limiter \"%s\": "
			    "%s",
			    policy, name, credlimit_strerror(id));
		return EXIT_FAILED;
	}

	info.id = id;
	snprintf(info.name, sizeof(info.name), "%s", policy);
	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "created", !exists);
		json_key(&out, "policy");
		json_policy(&out, &info);
		json_object_end(&out);
		return EXIT_OK;
	}

	printf("policy \"%s\" (id %d) %s in limiter \"%s\": ", policy, id,
	       exists ? "changed" : "defined", name);
	print_policy_numbers(stdout, &info.policy);
	putchar('\n');
	return EXIT_OK;
}

static int parse_policy_option(int option, struct policy_request *r)
{
	switch (option) {
	case OPT_MAX_REQUESTS:
		r->max_requests_set = true;
		return parse_u32("--max-requests", optarg, 1,
				 &r->numbers.max_requests);
	case OPT_WINDOW:
		r->window_set = true;
		return parse_window("--window", optarg, &r->numbers.window_ns);
	case OPT_MAX_CREDITS:
		r->max_credits_set = true;
		return parse_u32("--max-credits", optarg, 0,
				 &r->numbers.max_credits);
	case OPT_INITIAL_CREDITS:
		r->initial_credits_set = true;
		return parse_u32("--initial-credits", optarg, 0,
				 &r->numbers.initial_credits);
	default:
		return OPTION_HANDLED;
	}
}

/* Checks the arguments after the options: "list NAME" or "set NAME
 * POLICY", without numbers for list. */
static int check_policy_arguments(int count, char **arguments,
				  const struct policy_request *r)
{
	static const char *const list_arguments[] = { "list", "NAME", NULL };
	static const char *const set_arguments[] = { "set", "NAME", "POLICY",
						     NULL };
	bool numbers = r->max_requests_set || r->window_set ||
		       r->max_credits_set || r->initial_credits_set;
	int status;

	if (count == 0)
		return usage_error("policy", "missing subcommand: give list "
					     "or set");

	if (strcmp(arguments[0], "list") == 0) {
		if (numbers)
			return usage_error("policy", "'policy list' takes no "
						     "policy numbers; they "
						     "belong to 'policy set'");
		status = check_arguments("policy", count, arguments,
					 list_arguments, 2);
	} else if (strcmp(arguments[0], "set") == 0) {
		status = check_arguments("policy", count, arguments,
					 set_arguments, 3);
		if (status == EXIT_OK)
			status = parse_policy_name(arguments[2]);
		if (status == EXIT_OK && strcmp(arguments[2], "none") == 0)
			return usage_error("policy",
					   "the policy name \"none\" is "
					   "reserved: 'limitctl set --policy "
					   "none' removes an assignment; "
					   "choose another name");
	} else {
		return usage_error("policy",
				   "unknown subcommand \"%s\": expected list "
				   "or set",
				   arguments[0]);
	}

	if (status == EXIT_OK)
		status = parse_limiter_name(arguments[1]);
	return status;
}

int cmd_policy(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
		{ "window", required_argument, NULL, OPT_WINDOW },
		{ "max-credits", required_argument, NULL, OPT_MAX_CREDITS },
		{ "initial-credits", required_argument, NULL,
		  OPT_INITIAL_CREDITS },
		{ NULL, 0, NULL, 0 },
	};
	struct policy_request request = { 0 };
	char **arguments;
	bool writable;
	credlimit_t *cl;
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		status = parse_policy_option(option, &request);
		if (status == OPTION_HANDLED) {
			status = handle_common_option(option, "policy", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			continue;
		}
		if (status != EXIT_OK)
			return status;
	}

	arguments = argv + optind;
	status = check_policy_arguments(argc - optind, arguments, &request);
	if (status != EXIT_OK)
		return status;

	writable = strcmp(arguments[0], "set") == 0;
	status = open_limiter(arguments[1], writable, globals, &cl);
	if (status != EXIT_OK)
		return status;

	if (writable)
		status = set_policy(arguments[1], cl, arguments[2], &request,
				    globals->json);
	else
		status = list_policies(arguments[1], cl, globals->json);
	credlimit_close(cl);
	return status;
}
