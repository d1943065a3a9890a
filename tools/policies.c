/*
 * policies.c - the named policies of a limiter, as limitctl prints them
 */
#include <errno.h>
#include <inttypes.h>

#include "limitctl.h"

int load_policies(credlimit_t *cl, struct policy_table *table)
{
	int count = credlimit_policy_list(cl, table->info,
					  CREDLIMIT_POLICY_MAX);

	if (count < 0)
		return count;

	table->count = count < CREDLIMIT_POLICY_MAX ? count
						     : CREDLIMIT_POLICY_MAX;
	return 0;
}

/* Returns the name of policy id, or NULL when the table has no such id. */
const char *policy_name(const struct policy_table *table, int id)
{
	for (int i = 0; i < table->count; i++) {
		if (table->info[i].id == id)
			return table->info[i].name;
	}
	return NULL;
}

/* Returns "s" unless count is 1, to make a noun plural. */
static const char *plural_s(uint32_t count)
{
	return count == 1 ? "" : "s";
}

/* Prints "60 requests per 1m, max 60 credits, 0 initial credits", with
 * "request" and "credit" for a count of 1. */
void print_policy_numbers(FILE *out, const struct credlimit_policy *p)
{
	char window[32];

	format_duration_exact(window, sizeof(window), p->window_ns);
	fprintf(out,
		"%" PRIu32 " request%s per %s, max %" PRIu32
		" credit%s, %" PRIu32 " initial credit%s",
		p->max_requests, plural_s(p->max_requests), window,
		p->max_credits, plural_s(p->max_credits), p->initial_credits,
		plural_s(p->initial_credits));
}

void json_policy(struct json *json, const struct credlimit_policy_info *info)
{
	json_object_begin(json);
	json_field_i64(json, "id", info->id);
	json_field_string(json, "name", info->name);
	json_field_u64(json, "max_requests", info->policy.max_requests);
	json_field_u64(json, "window_ns", info->policy.window_ns);
	json_field_u64(json, "max_credits", info->policy.max_credits);
	json_field_u64(json, "initial_credits", info->policy.initial_credits);
	json_object_end(json);
}

/* Checks the one policy rule that spans two options: I <= C. */
int check_initial_credits(const struct credlimit_policy *p)
{
	if (p->initial_credits <= p->max_credits)
		return EXIT_OK;

	print_error("invalid --initial-credits %" PRIu32 ": it must be at "
		    "most the max credits (%" PRIu32 "); lower it or raise "
		    "--max-credits",
		    p->initial_credits, p->max_credits);
	return EXIT_USAGE;
}

/* Looks policy_name up in limiter `limiter`.  Returns EXIT_OK with *id
 * set, or prints why not and returns the exit status. */
int find_policy(credlimit_t *cl, const char *limiter, const char *name,
		int *id)
{
	int error = credlimit_policy_find(cl, name, NULL);

	if (error == -ENOENT) {
		print_error("policy \"%s\" not found in limiter \"%s\"; "
			    "'limitctl policy list %s' shows its policies",
			    name, limiter, limiter);
		return EXIT_NOT_FOUND;
	}
	if (error < 0) {
		print_error("cannot look up policy \"%s\" in limiter \"%s\": "
			    "%s",
			    name, limiter, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	*id = error;
	return EXIT_OK;
}
