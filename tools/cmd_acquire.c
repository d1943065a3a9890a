/*
 * cmd_acquire.c - limitctl acquire: one decision at the current time
 *
 * Makes the same call a worker makes, so an operator can try a policy or
 * use up a customer's allowance by hand.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "limitctl.h"

enum {
	OPT_COST = OPT_FIRST_COMMAND_OPTION,
	OPT_POLICY,
};

static void print_result(const char *name, const struct limitctl_key *key,
			 uint64_t cost, const struct credlimit_result *r,
			 const struct policy_table *policies, bool json)
{
	const char *policy = policy_name(policies, r->policy);
	char key_text[KEY_TEXT_MAX];
	char reset[32];
	char retry[32];

	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_key_fields(&out, key);
		json_field_u64(&out, "cost", cost);
		json_key(&out, "result");
		json_result(&out, r, policies);
		json_object_end(&out);
		return;
	}

	escape_bytes(key_text, sizeof(key_text), key->bytes, key->len);
	format_duration_short(reset, sizeof(reset), r->reset_after_ns);
	printf("%s: cost %" PRIu64 " for key \"%s\" under policy ",
	       credlimit_allowed(r) ? "allowed" : "denied", cost, key_text);
	if (policy != NULL)
		printf("\"%s\"\n", policy);
	else
		printf("id %d\n", r->policy);
	printf("remaining %" PRIu64 ", credits %" PRIu32 ", limit %" PRIu32
	       " per window, window resets in %s\n",
	       r->remaining, r->credits, r->limit, reset);

	if (r->verdict == CREDLIMIT_DENIED_NEVER) {
		printf("the cost exceeds max requests plus max credits: no "
		       "wait makes it fit\n");
	} else if (r->verdict == CREDLIMIT_DENIED) {
		if (r->retry_after_ns == CREDLIMIT_NEVER)
			snprintf(retry, sizeof(retry), "more than 584 years");
		else
			format_duration_short(retry, sizeof(retry),
					      r->retry_after_ns);
		printf("retry after %s\n", retry);
	}

	if (r->flags & CREDLIMIT_RESULT_NEW)
		printf("new key: this decision created its entry\n");
	if (r->flags & CREDLIMIT_RESULT_UNTRACKED)
		printf("table full: allowed without tracking the key\n");
	if (r->flags & CREDLIMIT_RESULT_FULL)
		printf("table full: denied because no slot was free\n");
}

static int acquire(const char *name, credlimit_t *cl,
		   const struct limitctl_key *key, uint64_t cost,
		   const char *policy, bool json)
{
	static struct policy_table policies;
	struct credlimit_result result;
	int policy_id = CREDLIMIT_POLICY_DEFAULT;
	int status;
	int error;

	if (policy != NULL) {
		status = find_policy(cl, name, policy, &policy_id);
		if (status != EXIT_OK)
			return status;
	}

	error = credlimit_acquire_policy(cl, policy_id, key->bytes, key->len,
					 cost, CREDLIMIT_NOW, &result);
	if (error < 0)
		return report_key_error("acquire", name, key, error);

	error = load_policies(cl, &policies);
	if (error < 0) {
		print_error("cannot read the policies of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	print_result(name, key, cost, &result, &policies, json);
	return EXIT_OK;
}

int cmd_acquire(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "hex", no_argument, NULL, OPT_HEX },
		{ "cost", required_argument, NULL, OPT_COST },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ NULL, 0, NULL, 0 },
	};
	struct limitctl_key key = { 0 };
	const char *policy = NULL;
	const char *name;
	uint64_t cost = 1;
	credlimit_t *cl;
	bool hex = false;
	int option;
	int status = EXIT_OK;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (option) {
		case OPT_HEX:
			hex = true;
			break;
		case OPT_COST:
			status = parse_u64("--cost", optarg, 0, UINT64_MAX,
					   &cost);
			break;
		case OPT_POLICY:
			policy = optarg;
			status = parse_policy_name(policy);
			break;
		default:
			status = handle_common_option(option, "acquire", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			status = EXIT_OK;
		}
		if (status != EXIT_OK)
			return status;
	}

	status = parse_name_and_key("acquire", argc - optind, argv + optind,
				    hex, &name, &key);
	if (status != EXIT_OK)
		return status;

	status = open_limiter(name, true, globals, &cl);
	if (status == EXIT_OK) {
		status = acquire(name, cl, &key, cost, policy, globals->json);
		credlimit_close(cl);
	}

	free(key.bytes);
	return status;
}
