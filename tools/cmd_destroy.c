/*
 * cmd_destroy.c - limitctl destroy: remove a limiter's segments
 */
#include <errno.h>

#include "limitctl.h"

int cmd_destroy(int argc, char **argv, struct limitctl_globals *globals)
{
	const char *name;
	int status;
	int error;

	status = parse_name_only("destroy", argc, argv, globals, &name);
	if (status != OPTION_HANDLED)
		return status;

	error = credlimit_unlink(name);
	if (error == -ENOENT) {
		print_error("limiter \"%s\" not found: there is no "
			    "/dev/shm/credlimit.%s",
			    name, name);
		return EXIT_NOT_FOUND;
	}
	if (error == -EACCES || error == -EPERM) {
		print_error("cannot destroy limiter \"%s\": %s; only the "
			    "owner of /dev/shm/credlimit.%s or root may remove "
			    "it",
			    name, credlimit_strerror(error), name);
		return EXIT_FAILED;
	}
	if (error < 0) {
		print_error("cannot destroy limiter \"%s\": %s", name,
			    credlimit_strerror(error));
		return EXIT_FAILED;
	}

	if (globals->json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "destroyed", true);
		json_object_end(&out);
	} else {
		printf("destroyed limiter \"%s\"\n", name);
	}

	return EXIT_OK;
}
