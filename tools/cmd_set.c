/*
 * cmd_set.c - limitctl set: assign a policy to a key or set its credits
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

enum {
	OPT_CREDITS = OPT_FIRST_COMMAND_OPTION,
	OPT_POLICY,
};

/* Changes requested on the command line. */
struct set_request {
	const char *policy; /* policy name, "none", or NULL: keep */
	bool credits_set;
	uint32_t credits;
};

/* Prints that limiter name has no free slot for a new key, with what
 * frees one: idle entries become evictable after two of their windows,
 * and entries with an assigned policy are never evicted. */
static void report_table_full(const char *action, const char *name)
{
	print_error("cannot %s: limiter \"%s\" has no free slot for a new "
		    "key; wait until idle entries become evictable (after two "
		    "of their windows), remove assigned policies that are no "
		    "longer needed with 'limitctl set %s KEY --policy none', "
		    "or create a larger limiter",
		    action, name, name);
}

/* Checks --credits against the max credits of the policy about to be
 * assigned, before anything changes.  Returns EXIT_OK, or prints why not
 * and returns the exit status. */
static int check_credits_for_policy(const char *name, credlimit_t *cl,
				    const char *policy, uint32_t credits)
{
	struct credlimit_policy numbers;
	int error = credlimit_policy_find(cl, policy, &numbers);

	/* An unknown policy is reported when it is assigned. */
	if (error < 0 || credits <= numbers.max_credits)
		return EXIT_OK;

	print_error("invalid --credits %" PRIu32 ": above the max credits "
		    "(%" PRIu32 ") of policy \"%s\" in limiter \"%s\"; give "
		    "at most %" PRIu32,
		    credits, numbers.max_credits, policy, name,
		    numbers.max_credits);
	return EXIT_USAGE;
}

static int assign_policy(const char *name, credlimit_t *cl,
			 const struct limitctl_key *key, const char *policy)
{
	int policy_id = CREDLIMIT_POLICY_NONE;
	int status;
	int error;

	if (strcmp(policy, "none") != 0) {
		status = find_policy(cl, name, policy, &policy_id);
		if (status != EXIT_OK)
			return status;
	}

	error = credlimit_set_key_policy(cl, key->bytes, key->len, policy_id);
	if (error == -ENOSPC) {
		report_table_full("assign a policy", name);
		return EXIT_FAILED;
	}
	if (error < 0)
		return report_key_error("assign a policy to", name, key, error);

	return EXIT_OK;
}

/* Prints why --credits is above the key's max credits, naming the max
 * and the key's policy.  Returns EXIT_USAGE: the value is invalid. */
static int report_credits_range(const char *name, credlimit_t *cl,
				const struct limitctl_key *key,
				uint32_t credits)
{
	struct credlimit_policy_info info;
	struct credlimit_result result;
	int error;

	error = credlimit_peek(cl, key->bytes, key->len,
			       limiter_query_ns(name, monotonic_now_ns()),
			       &result);
	if (error == 0)
		error = credlimit_policy_get(cl, result.policy, &info);
	if (error < 0) {
		print_error("invalid --credits %" PRIu32 ": above the max "
			    "credits of the key's policy",
			    credits);
		return EXIT_USAGE;
	}

	print_error("invalid --credits %" PRIu32 ": above the max credits "
		    "(%" PRIu32 ") of the key's policy \"%s\" in limiter "
		    "\"%s\"; give at most %" PRIu32,
		    credits, info.policy.max_credits, info.name, name,
		    info.policy.max_credits);
	return EXIT_USAGE;
}

static int set_credits(const char *name, credlimit_t *cl,
		       const struct limitctl_key *key, uint32_t credits)
{
	int error = credlimit_set_credits(cl, key->bytes, key->len, credits,
					  limiter_query_ns(name,
							   monotonic_now_ns()));

	if (error == -ERANGE)
		return report_credits_range(name, cl, key, credits);
	if (error == -ENOSPC) {
		report_table_full("set credits", name);
		return EXIT_FAILED;
	}
	if (error < 0)
		return report_key_error("set the credits of", name, key, error);

	return EXIT_OK;
}

static void print_changes(const char *name, const struct limitctl_key *key,
			  const struct set_request *request, bool json)
{
	char key_text[KEY_TEXT_MAX];
	bool removed = request->policy && strcmp(request->policy, "none") == 0;

	escape_bytes(key_text, sizeof(key_text), key->bytes, key->len);
	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_key_fields(&out, key);
		if (request->policy && removed)
			json_field_null(&out, "assigned_policy");
		else if (request->policy)
			json_field_string(&out, "assigned_policy",
					  request->policy);
		if (request->credits_set)
			json_field_u64(&out, "credits", request->credits);
		json_object_end(&out);
		return;
	}

	if (removed)
		printf("key \"%s\" of limiter \"%s\": policy assignment "
		       "removed\n",
		       key_text, name);
	else if (request->policy)
		printf("key \"%s\" of limiter \"%s\": policy \"%s\" assigned\n",
		       key_text, name, request->policy);
	if (request->credits_set)
		printf("key \"%s\" of limiter \"%s\": credits set to %" PRIu32
		       "\n",
		       key_text, name, request->credits);
}

int cmd_set(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "hex", no_argument, NULL, OPT_HEX },
		{ "credits", required_argument, NULL, OPT_CREDITS },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ NULL, 0, NULL, 0 },
	};
	struct set_request request = { 0 };
	struct limitctl_key key = { 0 };
	const char *name;
	credlimit_t *cl;
	bool hex = false;
	int option;
	int status = EXIT_OK;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (option) {
		case OPT_HEX:
			hex = true;
			break;
		case OPT_CREDITS:
			request.credits_set = true;
			status = parse_u32("--credits", optarg, 0,
					   &request.credits);
			break;
		case OPT_POLICY:
			request.policy = optarg;
			status = parse_policy_name(optarg);
			break;
		default:
			status = handle_common_option(option, "set", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			status = EXIT_OK;
		}
		if (status != EXIT_OK)
			return status;
	}

	status = parse_name_and_key("set", argc - optind, argv + optind, hex,
				    &name, &key);
	if (status != EXIT_OK)
		return status;
	if (request.policy == NULL && !request.credits_set) {
		free(key.bytes);
		return usage_error("set", "nothing to set: give --policy "
					  "POLICY, --policy none or --credits "
					  "N");
	}

	status = open_limiter(name, true, globals, &cl);
	if (status != EXIT_OK) {
		free(key.bytes);
		return status;
	}

	/* The policy goes first: --credits is checked against the max
	 * credits of the policy the key has afterwards.  A named policy is
	 * checked before the assignment, so a value above its max changes
	 * nothing. */
	if (request.policy != NULL && request.credits_set &&
	    strcmp(request.policy, "none") != 0)
		status = check_credits_for_policy(name, cl, request.policy,
						  request.credits);
	if (status == EXIT_OK && request.policy != NULL)
		status = assign_policy(name, cl, &key, request.policy);
	if (status == EXIT_OK && request.credits_set) {
		status = set_credits(name, cl, &key, request.credits);
		if (status != EXIT_OK && request.policy != NULL)
			print_error("the policy change took effect; only the "
				    "credits stay unchanged");
	}
	if (status == EXIT_OK)
		print_changes(name, &key, &request, globals->json);

	credlimit_close(cl);
	free(key.bytes);
	return status;
}
