/*
 * cmd_reset.c - limitctl reset: make one key, or every key, new again
 */
#include <inttypes.h>
#include <stdlib.h>

#include "limitctl.h"

enum {
	OPT_ALL = OPT_FIRST_COMMAND_OPTION,
};

static void print_reset(const char *name, const struct limitctl_key *key,
			int64_t count, bool json)
{
	char key_text[KEY_TEXT_MAX];

	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		if (key != NULL)
			json_key_fields(&out, key);
		json_field_i64(&out, "reset", count);
		json_object_end(&out);
		return;
	}

	if (key == NULL) {
		printf("reset %" PRId64 " %s of limiter \"%s\"\n", count,
		       count == 1 ? "entry" : "entries", name);
		return;
	}

	escape_bytes(key_text, sizeof(key_text), key->bytes, key->len);
	printf("reset key \"%s\" of limiter \"%s\"\n", key_text, name);
}

static int reset_all(const char *name, credlimit_t *cl, bool json)
{
	int64_t count = credlimit_reset_all(cl);

	if (count < 0) {
		print_error("cannot reset the entries of limiter \"%s\": %s",
			    name, credlimit_strerror((int)count));
		return EXIT_FAILED;
	}

	print_reset(name, NULL, count, json);
	return EXIT_OK;
}

static int reset_key(const char *name, credlimit_t *cl,
		     const struct limitctl_key *key, bool json)
{
	int error = credlimit_reset(cl, key->bytes, key->len);

	if (error < 0)
		return report_key_error("reset", name, key, error);

	print_reset(name, key, 1, json);
	return EXIT_OK;
}

int cmd_reset(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "hex", no_argument, NULL, OPT_HEX },
		{ "all", no_argument, NULL, OPT_ALL },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const name_only[] = { "NAME", NULL };
	struct limitctl_key key = { 0 };
	const char *name;
	credlimit_t *cl;
	bool hex = false;
	bool all = false;
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (option == OPT_HEX) {
			hex = true;
		} else if (option == OPT_ALL) {
			all = true;
		} else {
			status = handle_common_option(option, "reset", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
		}
	}

	if (all && hex)
		return usage_error("reset", "--hex names a KEY, which --all "
					    "does not take; drop one of them");
	if (all) {
		status = check_arguments("reset", argc - optind,
					 argv + optind, name_only, 1);
		if (status == EXIT_OK)
			status = parse_limiter_name(argv[optind]);
		name = argv[optind];
	} else {
		if (argc - optind == 1)
			return usage_error("reset", "missing argument KEY; "
						    "give a KEY, or --all to "
						    "reset every entry");
		status = parse_name_and_key("reset", argc - optind,
					    argv + optind, hex, &name, &key);
	}
	if (status != EXIT_OK)
		return status;

	status = open_limiter(name, true, globals, &cl);
	if (status == EXIT_OK) {
		status = all ? reset_all(name, cl, globals->json)
			     : reset_key(name, cl, &key, globals->json);
		credlimit_close(cl);
	}

	free(key.bytes);
	return status;
}
