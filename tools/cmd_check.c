/*
 * cmd_check.c - limitctl check: validate a limiter and list its problems
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

/* One finding of credlimit_check(), kept for the JSON document. */
struct finding {
	int level; /* enum credlimit_log_level */
	char *message;
};

struct finding_list {
	struct finding *findings;
	size_t count;
	size_t allocated;
	bool json;
	bool out_of_memory;
};

static const char *level_name(int level)
{
	switch (level) {
	case CREDLIMIT_LOG_ERROR:
		return "problem";
	case CREDLIMIT_LOG_WARNING:
		return "warning";
	default:
		return "note";
	}
}

static void record_finding(void *context, int level, const char *message)
{
	struct finding_list *list = context;
	char *copy;

	if (!list->json) {
		printf("%s: %s\n", level_name(level), message);
		return;
	}

	if (list->count == list->allocated) {
		size_t allocated = list->allocated ? 2 * list->allocated : 16;
		struct finding *findings =
			realloc(list->findings, allocated * sizeof(*findings));

		if (findings == NULL) {
			list->out_of_memory = true;
			return;
		}
		list->findings = findings;
		list->allocated = allocated;
	}

	copy = strdup(message);
	if (copy == NULL) {
		list->out_of_memory = true;
		return;
	}
	list->findings[list->count].level = level;
	list->findings[list->count].message = copy;
	list->count++;
}

/* Writes the messages of the findings of one level as a JSON array. */
static void json_findings(struct json *out, const char *field,
			  const struct finding_list *list, bool errors)
{
	json_key(out, field);
	json_array_begin(out);
	for (size_t i = 0; i < list->count; i++) {
		if ((list->findings[i].level == CREDLIMIT_LOG_ERROR) == errors)
			json_string(out, list->findings[i].message);
	}
	json_array_end(out);
}

/*
 * Prints the table generations of a migration under way, so the findings
 * that follow read in context.  A migration moves entries from the
 * current generation into the next one, and credlimit_check() covers the
 * entries in both.
 */
static void print_tables(const struct credlimit_stats *st)
{
	if (!st->migrating)
		return;
	printf("a migration from table generation %" PRIu64 " (%" PRIu64
	       " slots) to generation %" PRIu64 " (%" PRIu64 " slots) is "
	       "under way; the check covers the entries in both\n",
	       st->generation, st->capacity, st->generation + 1,
	       st->migration_capacity);
}

/* Writes the generation and capacities of the tables checked, or nulls
 * when st is NULL because the statistics could not be read. */
static void json_tables(struct json *out, const struct credlimit_stats *st)
{
	if (st == NULL) {
		json_field_null(out, "generation");
		json_field_null(out, "capacity");
		json_field_null(out, "migrating");
		json_field_null(out, "migration_capacity");
		return;
	}
	json_field_u64(out, "generation", st->generation);
	json_field_u64(out, "capacity", st->capacity);
	json_field_bool(out, "migrating", st->migrating);
	if (st->migrating)
		json_field_u64(out, "migration_capacity",
			       st->migration_capacity);
	else
		json_field_null(out, "migration_capacity");
}

static void print_summary(const char *name, int problems,
			  const struct finding_list *list,
			  const struct credlimit_stats *st, bool json)
{
	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limiter", name);
		json_field_bool(&out, "valid", problems == 0);
		json_field_i64(&out, "problem_count", problems);
		json_findings(&out, "problems", list, true);
		json_findings(&out, "notes", list, false);
		json_tables(&out, st);
		json_object_end(&out);
		return;
	}

	if (problems == 0)
		printf("limiter \"%s\" is valid: no problems found\n", name);
	else
		printf("limiter \"%s\": %d problem%s found\n", name, problems,
		       problems == 1 ? "" : "s");
}

int cmd_check(int argc, char **argv, struct limitctl_globals *globals)
{
	struct finding_list list = { 0 };
	struct credlimit_stats stats_read;
	const struct credlimit_stats *stats = &stats_read;
	const char *name;
	credlimit_t *cl;
	int problems;
	int status;

	status = parse_name_only("check", argc, argv, globals, &name);
	if (status != OPTION_HANDLED)
		return status;

	status = open_limiter(name, false, globals, &cl);
	if (status != EXIT_OK)
		return status;

	/* The check itself reports a segment too damaged for statistics.
	 * NOTE: the tables are read just before the check, so a migration
	 * that ends during the check is described as under way. */
	if (credlimit_stats(cl, &stats_read) < 0)
		stats = NULL;
	list.json = globals->json;
	if (!list.json && stats != NULL)
		print_tables(stats);
	problems = credlimit_check(cl, record_finding, &list);
	credlimit_close(cl);

	if (problems < 0) {
		print_error("cannot check limiter \"%s\": %s", name,
			    credlimit_strerror(problems));
		status = EXIT_FAILED;
	} else if (list.out_of_memory) {
		print_error("out of memory after %zu findings of limiter "
			    "\"%s\"",
			    list.count, name);
		status = EXIT_FAILED;
	} else {
		print_summary(name, problems, &list, stats, globals->json);
		status = problems == 0 ? EXIT_OK : EXIT_PROBLEMS;
	}

	for (size_t i = 0; i < list.count; i++)
		free(list.findings[i].message);
	free(list.findings);
	return status;
}
