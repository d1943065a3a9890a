/*
 * cmd_replay.c - limitctl replay: run a trace through a private limiter
 *
 * Each input line "T_MS KEY [COST]" is one request at T_MS milliseconds,
 * decided by credlimit_acquire_at() at T_MS * 1,000,000 ns on an anonymous
 * limiter private to this process.  Each output line is
 * "VERDICT REMAINING CREDITS RESET_MS RETRY_MS".  Because every input time
 * and the window are whole milliseconds, RESET_MS and RETRY_MS are exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"
#include "replay.h"

/* Slots of the private table.  Lookups probe a bounded number of slots,
 * so the table fills before every slot is used: in two runs of distinct
 * keys it filled at about 650,000, a point that varies with the random
 * hash secret.  Cheap, because the kernel backs only the pages a trace
 * uses. */
#define REPLAY_DEFAULT_CAPACITY (UINT64_C(1) << 20)

enum {
	OPT_MAX_REQUESTS = OPT_FIRST_COMMAND_OPTION,
	OPT_WINDOW_MS,
	OPT_MAX_CREDITS,
	OPT_INITIAL_CREDITS,
	OPT_CAPACITY,
};

struct replay_options {
	struct credlimit_policy policy;
	bool max_requests_set;
	bool window_set;
	uint64_t capacity;
};

/* The private limiter and where results go. */
struct replay_run {
	credlimit_t *cl;
	uint64_t capacity;
	struct json *json; /* NULL for text output */
};

/* Writes a time in milliseconds: exact, with a fraction only if the
 * nanoseconds are not whole milliseconds. */
static void format_ms(char *out, size_t out_size, uint64_t ns)
{
	if (ns % NS_PER_MS == 0)
		snprintf(out, out_size, "%" PRIu64, ns / NS_PER_MS);
	else
		snprintf(out, out_size, "%" PRIu64 ".%06" PRIu64,
			 ns / NS_PER_MS, ns % NS_PER_MS);
}

static void print_text_result(const struct credlimit_result *r)
{
	char reset[32];
	char retry[32];

	format_ms(reset, sizeof(reset), r->reset_after_ns);
	if (r->retry_after_ns == CREDLIMIT_NEVER)
		snprintf(retry, sizeof(retry), "never");
	else
		format_ms(retry, sizeof(retry), r->retry_after_ns);

	printf("%s %" PRIu64 " %" PRIu32 " %s %s\n",
	       credlimit_allowed(r) ? "allow" : "deny", r->remaining,
	       r->credits, reset, retry);
}

static void print_json_result(struct json *json, uint64_t line,
			      const struct request *request,
			      const struct credlimit_result *r)
{
	char key_text[KEY_TEXT_MAX];

	escape_bytes(key_text, sizeof(key_text),
		     (const uint8_t *)request->key.text, request->key.len);
	json_object_begin(json);
	json_field_u64(json, "line", line);
	json_field_u64(json, "time_ms", request->time_ms);
	json_field_string(json, "key", key_text);
	json_field_u64(json, "key_length", request->key.len);
	json_field_u64(json, "cost", request->cost);
	json_field_string(json, "verdict", verdict_name(r->verdict));
	json_field_u64(json, "remaining", r->remaining);
	json_field_u64(json, "credits", r->credits);
	json_field_u64(json, "reset_after_ns", r->reset_after_ns);
	if (r->retry_after_ns == CREDLIMIT_NEVER)
		json_field_null(json, "retry_after_ns");
	else
		json_field_u64(json, "retry_after_ns", r->retry_after_ns);
	json_object_end(json);
}

/*
 * Checks that the request found room without changing other entries.  A
 * full table, or an evicted entry whose key would later start over as a
 * new customer, makes the results differ from the algorithm's, so then it
 * prints why and returns EXIT_FAILED.
 */
static int check_table_room(const struct replay_run *run,
			    const struct replay_input *input,
			    const struct credlimit_result *result)
{
	struct credlimit_stats stats;
	int error;

	if (result->flags &
	    (CREDLIMIT_RESULT_FULL | CREDLIMIT_RESULT_UNTRACKED)) {
		input_error(input,
			    "the private table of %" PRIu64 " slots is full, "
			    "so the results would be distorted; raise "
			    "--capacity",
			    run->capacity);
		return EXIT_FAILED;
	}

	/* Only an insert evicts, and the run stops at the first eviction,
	 * so a non-zero count is always new. */
	if (!(result->flags & CREDLIMIT_RESULT_NEW))
		return EXIT_OK;
	error = credlimit_stats(run->cl, &stats);
	if (error < 0) {
		input_error(input, "cannot read the private table's "
				   "statistics: %s",
			    credlimit_strerror(error));
		return EXIT_FAILED;
	}
	if (stats.evictions != 0) {
		input_error(input,
			    "the private table of %" PRIu64 " slots evicted "
			    "an entry to make room for this key, so later "
			    "results could be distorted; raise --capacity",
			    run->capacity);
		return EXIT_FAILED;
	}

	return EXIT_OK;
}

/* Decides one request and prints its result.  Returns EXIT_OK, or prints
 * the error and returns the exit status. */
static int replay_request(const struct replay_run *run,
			  const struct replay_input *input,
			  const struct request *request)
{
	struct credlimit_result result;
	int status;
	int error;

	error = credlimit_acquire_at(run->cl, request->key.text,
				     request->key.len, request->cost,
				     request->time_ms * NS_PER_MS, &result);
	if (error < 0) {
		input_error(input, "cannot decide the request: %s",
			    credlimit_strerror(error));
		return EXIT_FAILED;
	}

	status = check_table_room(run, input, &result);
	if (status != EXIT_OK)
		return status;

	if (run->json != NULL)
		print_json_result(run->json, input->line, request, &result);
	else
		print_text_result(&result);
	return EXIT_OK;
}

static int replay_stream(const struct replay_run *run,
			 struct replay_input *input)
{
	char *line = NULL;
	size_t allocated = 0;
	ssize_t len;
	int status = EXIT_OK;

	while (status == EXIT_OK &&
	       (len = getline(&line, &allocated, input->file)) >= 0) {
		struct request request;
		int parsed;

		input->line++;
		parsed = parse_line(input, line, (size_t)len, &request);
		if (parsed < 0)
			status = EXIT_BAD_INPUT;
		else if (parsed > 0)
			status = replay_request(run, input, &request);
	}

	if (status == EXIT_OK && ferror(input->file)) {
		print_error("cannot read %s: %s",
			    input->name ? input->name : "standard input",
			    strerror(errno));
		status = EXIT_FAILED;
	}

	free(line);
	return status;
}

static int run_replay(const struct replay_options *o, const char *path,
		      bool json_output)
{
	struct replay_input input = { stdin, NULL, 0 };
	struct credlimit_options options;
	struct replay_run run = { .capacity = o->capacity };
	struct json json;
	int status;
	int error;

	if (path != NULL && strcmp(path, "-") != 0) {
		input.file = fopen(path, "r");
		input.name = path;
		if (input.file == NULL) {
			print_error("cannot open trace \"%s\": %s", path,
				    strerror(errno));
			return EXIT_FAILED;
		}
	}

	credlimit_options_init(&options);
	options.initial_capacity = o->capacity;
	options.max_capacity = o->capacity;
	options.default_policy = o->policy;
	collect_open_details(&options);
	error = credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &options, &run.cl);
	if (error < 0) {
		print_error("cannot create a private limiter of %" PRIu64
			    " slots: %s",
			    o->capacity, credlimit_strerror(error));
		print_open_details();
		if (input.file != stdin)
			fclose(input.file);
		return EXIT_FAILED;
	}

	if (json_output) {
		json_init(&json, stdout);
		json_object_begin(&json);
		json_key(&json, "events");
		json_array_begin(&json);
		run.json = &json;
	}

	status = replay_stream(&run, &input);

	/* The document stays valid when a malformed line stopped the run;
	 * the exit status and standard error tell that it did. */
	if (json_output) {
		json_array_end(&json);
		json_field_bool(&json, "complete", status == EXIT_OK);
		json_object_end(&json);
	}

	credlimit_close(run.cl);
	if (input.file != stdin)
		fclose(input.file);
	return status;
}

static int parse_replay_option(int option, struct replay_options *o)
{
	uint64_t window_ms;
	int status;

	switch (option) {
	case OPT_MAX_REQUESTS:
		o->max_requests_set = true;
		return parse_u32("--max-requests", optarg, 1,
				 &o->policy.max_requests);
	case OPT_WINDOW_MS:
		o->window_set = true;
		status = parse_u64("--window-ms", optarg, 1,
				   CREDLIMIT_WINDOW_MAX_NS / NS_PER_MS,
				   &window_ms);
		o->policy.window_ns = window_ms * NS_PER_MS;
		return status;
	case OPT_MAX_CREDITS:
		return parse_u32("--max-credits", optarg, 0,
				 &o->policy.max_credits);
	case OPT_INITIAL_CREDITS:
		return parse_u32("--initial-credits", optarg, 0,
				 &o->policy.initial_credits);
	case OPT_CAPACITY:
		return parse_capacity("--capacity", optarg, &o->capacity);
	default:
		return OPTION_HANDLED;
	}
}

int cmd_replay(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
		{ "window-ms", required_argument, NULL, OPT_WINDOW_MS },
		{ "max-credits", required_argument, NULL, OPT_MAX_CREDITS },
		{ "initial-credits", required_argument, NULL,
		  OPT_INITIAL_CREDITS },
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const arguments[] = { "FILE", NULL };
	struct replay_options o = { .capacity = REPLAY_DEFAULT_CAPACITY };
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		status = parse_replay_option(option, &o);
		if (status == OPTION_HANDLED) {
			status = handle_common_option(option, "replay", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			continue;
		}
		if (status != EXIT_OK)
			return status;
	}

	if (!o.max_requests_set)
		return usage_error("replay", "missing --max-requests R: the "
					     "requests per window of the "
					     "replayed policy");
	if (!o.window_set)
		return usage_error("replay", "missing --window-ms W: the "
					     "window length of the replayed "
					     "policy, in milliseconds");
	status = check_initial_credits(&o.policy);
	if (status == EXIT_OK)
		status = check_arguments("replay", argc - optind,
					 argv + optind, arguments, 0);
	if (status != EXIT_OK)
		return status;

	return run_replay(&o, argc > optind ? argv[optind] : NULL,
			  globals->json);
}
