/*
 * limitctl.c - fuzz target: the command line of limitctl
 *
 * The input is an argument list: arguments separated by NUL bytes, at
 * most MAX_ARGUMENTS of them, after argv[0] "limitctl".  An argument "@L"
 * becomes the name of a small limiter that this target creates afresh for
 * each input, so commands that parse cleanly also run on a real segment.
 *
 * The tool's sources are compiled for this target with main renamed to
 * limitctl_main and credlimit_open and credlimit_unlink renamed to the
 * guards below (see tests/fuzz/local.mk): a fuzzed command may open or
 * remove only this target's limiter and private ones, never another
 * segment of the host.  Inputs whose "replay" command names a path with a
 * "/" are skipped, so that no input reads a device such as /dev/zero
 * forever; standard input is /dev/null for the same reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "credlimit.h"
#include "fuzz.h"

#define MAX_ARGUMENTS 32
#define LIMITER_TOKEN "@L"

int limitctl_main(int argc, char **argv);
int fuzz_limitctl_open(const char *name, unsigned flags,
		       const struct credlimit_options *options,
		       credlimit_t **out);
int fuzz_limitctl_unlink(const char *name);

static char limiter_name[64];

int fuzz_limitctl_open(const char *name, unsigned flags,
		       const struct credlimit_options *options,
		       credlimit_t **out)
{
	if (name == NULL || strcmp(name, limiter_name) == 0)
		return credlimit_open(name, flags, options, out);
	*out = NULL;
	return flags & CREDLIMIT_OPEN_CREATE ? -EACCES : -ENOENT;
}

int fuzz_limitctl_unlink(const char *name)
{
	if (name != NULL && strcmp(name, limiter_name) == 0)
		return credlimit_unlink(name);
	return -ENOENT;
}

static void make_limiter(void)
{
	struct credlimit_options o;
	struct credlimit_result r;
	credlimit_t *cl;

	credlimit_options_init(&o);
	o.initial_capacity = 64;
	o.default_policy.max_requests = 3;
	o.default_policy.max_credits = 5;
	credlimit_unlink(limiter_name);
	FUZZ_CHECK(credlimit_open(limiter_name,
				  CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
				  &o, &cl) == 0);
	FUZZ_CHECK(credlimit_acquire(cl, "alice", 5, 2, &r) == 0);
	FUZZ_CHECK(credlimit_acquire(cl, "-dash", 5, 1, &r) == 0);
	credlimit_close(cl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int null_fd = open("/dev/null", O_RDONLY);

	if (null_fd >= 0) {
		dup2(null_fd, STDIN_FILENO);
		close(null_fd);
	}
	fuzz_quiet_stdio();
	snprintf(limiter_name, sizeof(limiter_name), "hd-fuzz-limitctl-%d",
		 (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *arguments[MAX_ARGUMENTS + 2];
	char *text = malloc(size + 1);
	bool replay = false, slash = false;
	int argc = 0;
	size_t start = 0;
	int status;

	FUZZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	arguments[argc++] = "limitctl";
	while (start <= size && argc <= MAX_ARGUMENTS) {
		char *argument = text + start;
		size_t len = strlen(argument);

		if (start == size && len == 0)
			break;
		if (strcmp(argument, LIMITER_TOKEN) == 0)
			argument = limiter_name;
		replay |= strcmp(argument, "replay") == 0;
		slash |= strchr(argument, '/') != NULL;
		arguments[argc++] = argument;
		start += len + 1;
	}
	arguments[argc] = NULL;

	if (replay && slash) {
		free(text);
		return 0;
	}

	make_limiter();
	/* GNU getopt starts over, forgetting an earlier argument list. */
	optind = 0;
	status = limitctl_main(argc, arguments);
	FUZZ_CHECK(status >= 0 && status <= 5);
	fflush(stdout);
	clearerr(stdout);

	credlimit_unlink(limiter_name);
	free(text);
	return 0;
}
