/*
 * cmd_show.c - limitctl show: one key's entry in detail
 */
#include <stdlib.h>

#include "limitctl.h"

static int show_entry(const char *name, credlimit_t *cl,
		      const struct limitctl_key *key, bool json)
{
	static struct policy_table policies;
	uint64_t now_ns = credlimit_now(cl);
	struct credlimit_entry entry;
	struct entry_view view;
	int error;

	error = load_policies(cl, &policies);
	if (error < 0) {
		print_error("cannot read the policies of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	error = credlimit_lookup(cl, key->bytes, key->len,
				 limiter_query_ns(name, now_ns), &entry);
	if (error < 0)
		return report_key_error("look up", name, key, error);
	entry_view_init(&view, &entry);

	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_u64(&out, "now_ns", now_ns);
		json_key(&out, "entry");
		json_entry(&out, &view, &policies, now_ns);
		json_object_end(&out);
	} else {
		print_entry_detail(stdout, &view, &policies, now_ns);
	}

	return EXIT_OK;
}

int cmd_show(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "hex", no_argument, NULL, OPT_HEX },
		{ NULL, 0, NULL, 0 },
	};
	struct limitctl_key key = { 0 };
	const char *name;
	credlimit_t *cl;
	bool hex = false;
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (option == OPT_HEX) {
			hex = true;
			continue;
		}
		status = handle_common_option(option, "show", argv, globals);
		if (status != OPTION_HANDLED)
			return status;
	}

	status = parse_name_and_key("show", argc - optind, argv + optind, hex,
				    &name, &key);
	if (status != EXIT_OK)
		return status;

	status = open_limiter(name, false, globals, &cl);
	if (status == EXIT_OK) {
		status = show_entry(name, cl, &key, globals->json);
		credlimit_close(cl);
	}

	free(key.bytes);
	return status;
}
