/*
 * cmd_destroy.c - limitctl destroy: remove a limiter's segments
 */
#include <errno.h>
#include <sys/stat.h>

#include "limitctl.h"

/*
 * Removing a file needs write permission on its directory, and where that
 * directory has the sticky bit, as /dev/shm usually does, only the file's
 * owner or root may remove it.  The segment's own mode plays no part.
 */
static int report_permission_denied(const char *name)
{
	struct stat directory;

	if (stat("/dev/shm", &directory) == 0 &&
	    !(directory.st_mode & S_ISVTX)) {
		print_error("cannot destroy limiter \"%s\": permission denied; "
			    "removing /dev/shm/credlimit.%s needs write "
			    "permission on /dev/shm (mode %04o)",
			    name, name, (unsigned)(directory.st_mode & 07777));
		return EXIT_FAILED;
	}

	print_error("cannot destroy limiter \"%s\": permission denied; "
		    "/dev/shm has the sticky bit, so only the owner of "
		    "/dev/shm/credlimit.%s or root may remove it; run limitctl "
		    "as that user",
		    name, name);
	return EXIT_FAILED;
}

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
	if (error == -EACCES || error == -EPERM)
		return report_permission_denied(name);
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
