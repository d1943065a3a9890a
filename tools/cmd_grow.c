/*
 * cmd_grow.c - limitctl grow: grow a limiter's table before a known peak
 *
 * credlimit_grow() migrates the table into a new generation while workers
 * keep deciding, and returns once the new table is current.  The output
 * compares the statistics read before and after the call, so it reports
 * what changed, including a migration that was already under way and that
 * the call finished first.
 */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>

#include "limitctl.h"

enum {
	OPT_CAPACITY = OPT_FIRST_COMMAND_OPTION,
};

/* Returns the capacity that credlimit_grow() grows to for `requested`
 * slots: that many, or twice `current` when requested is 0. */
static uint64_t target_capacity(uint64_t requested, uint64_t current)
{
	return requested == 0 ? current * 2 : requested;
}

static int report_above_max(const char *name, uint64_t requested,
			    const struct credlimit_stats *st)
{
	uint64_t target = target_capacity(requested, st->capacity);

	if (requested == 0)
		print_error("cannot double limiter \"%s\" from %" PRIu64
			    " to %" PRIu64 " slots: its max capacity is %" PRIu64
			    " slots; to go beyond that, create a new limiter "
			    "with a larger --max-capacity",
			    name, st->capacity, target, st->max_capacity);
	else
		print_error("cannot grow limiter \"%s\" to %" PRIu64 " slots: "
			    "its max capacity is %" PRIu64 " slots; to go "
			    "beyond that, create a new limiter with a larger "
			    "--max-capacity",
			    name, requested, st->max_capacity);
	return EXIT_USAGE;
}

static int report_grow_error(const char *name, uint64_t requested,
			     const struct credlimit_stats *st, int error)
{
	uint64_t target = target_capacity(requested, st->capacity);
	struct passwd *owner;

	switch (error) {
	case -ERANGE:
		return report_above_max(name, requested, st);

	case -ENOSPC:
		print_error("cannot grow limiter \"%s\" to %" PRIu64 " slots: "
			    "not enough free space in /dev/shm for the new "
			    "table; free space there, or grow to a smaller "
			    "--capacity",
			    name, target);
		return EXIT_FAILED;

	case -ENOMEM:
		print_error("cannot grow limiter \"%s\" to %" PRIu64 " slots: "
			    "the new table, 64 bytes per slot, is larger than "
			    "the memory available; free memory, or grow to a "
			    "smaller --capacity",
			    name, target);
		return EXIT_FAILED;

	case -EPERM:
		owner = getpwuid(st->owner);
		print_error("cannot grow limiter \"%s\": its new table segment "
			    "must belong to the limiter's owner, %s (uid %u), "
			    "and only that user or root may create it; run "
			    "limitctl as that user or as root",
			    name, owner != NULL ? owner->pw_name : "unnamed",
			    (unsigned)st->owner);
		return EXIT_FAILED;

	default:
		print_error("cannot grow limiter \"%s\" to %" PRIu64 " slots: %s",
			    name, target, credlimit_strerror(error));
		return EXIT_FAILED;
	}
}

static void print_grown(const char *name, uint64_t requested,
			const struct credlimit_stats *before,
			const struct credlimit_stats *after, bool json)
{
	bool grown = after->generation != before->generation;

	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "grown", grown);
		if (requested != 0)
			json_field_u64(&out, "requested_capacity", requested);
		else
			json_field_null(&out, "requested_capacity");
		json_field_u64(&out, "old_capacity", before->capacity);
		json_field_u64(&out, "new_capacity", after->capacity);
		json_field_u64(&out, "old_generation", before->generation);
		json_field_u64(&out, "new_generation", after->generation);
		json_field_u64(&out, "max_capacity", after->max_capacity);
		json_object_end(&out);
		return;
	}

	if (grown)
		printf("grew limiter \"%s\" from %" PRIu64 " to %" PRIu64
		       " slots (generation %" PRIu64 " -> %" PRIu64 ")\n",
		       name, before->capacity, after->capacity,
		       before->generation, after->generation);
	else if (requested == 0)
		printf("limiter \"%s\" kept its %" PRIu64 " slots "
		       "(generation %" PRIu64 "); nothing changed\n",
		       name, after->capacity, after->generation);
	else
		printf("limiter \"%s\" already has %" PRIu64 " slots "
		       "(generation %" PRIu64 "), at least the %" PRIu64
		       " requested; nothing changed\n",
		       name, after->capacity, after->generation, requested);
}

static int grow(const char *name, credlimit_t *cl,
		uint64_t requested, bool json)
{
	struct credlimit_stats before, after;
	int status;
	int error;

	error = credlimit_stats(cl, &before);
	if (error == 0) {
		error = credlimit_grow(cl, requested);
		if (error < 0) {
			/* credlimit_grow() first finishes a migration that
			 * was under way, so the message names the capacity
			 * it had when it failed. */
			if (credlimit_stats(cl, &after) < 0)
				after = before;
			status = report_grow_error(name, requested, &after,
						   error);
			/* The library logs why it could not create the
			 * new table segment. */
			if (error != -ERANGE)
				print_open_details();
			return status;
		}
		error = credlimit_stats(cl, &after);
	}
	if (error < 0) {
		print_error("cannot read the statistics of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	print_grown(name, requested, &before, &after, json);
	return EXIT_OK;
}

int cmd_grow(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const arguments[] = { "NAME", NULL };
	uint64_t requested = 0; /* slots; 0 doubles the table */
	const char *name;
	credlimit_t *cl;
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (option == OPT_CAPACITY) {
			status = parse_capacity("--capacity", optarg,
						&requested);
			if (status != EXIT_OK)
				return status;
			continue;
		}
		status = handle_common_option(option, "grow", argv, globals);
		if (status != OPTION_HANDLED)
			return status;
	}

	status = check_arguments("grow", argc - optind, argv + optind,
				 arguments, 1);
	if (status != EXIT_OK)
		return status;
	name = argv[optind];
	status = parse_limiter_name(name);
	if (status != EXIT_OK)
		return status;

	status = open_limiter(name, true, globals, &cl);
	if (status != EXIT_OK)
		return status;
	status = grow(name, cl, requested, globals->json);
	credlimit_close(cl);
	return status;
}
