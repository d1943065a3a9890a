/*
 * cmd_list.c - limitctl list: every entry of a limiter, sorted and filtered
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

enum {
	OPT_SORT = OPT_FIRST_COMMAND_OPTION,
	OPT_TOP,
	OPT_LIMITED,
};

enum sort_field {
	SORT_KEY,       /* key bytes, ascending */
	SORT_REMAINING, /* fewest remaining first */
	SORT_CREDITS,   /* fewest credits first */
	SORT_LAST_SEEN, /* most recent decision first */
};

struct entry_list {
	struct entry_view *views;
	size_t count;
	size_t allocated;
	bool limited_only;
	bool out_of_memory;
	uint64_t total; /* entries visited, before filtering */
};

/* Text of one row, formatted once to size the columns and once to print. */
struct row {
	char key[KEY_TEXT_MAX];
	char policy[CREDLIMIT_POLICY_NAME_MAX + 16];
	char remaining[24];
	char credits[16];
	char used[24];
	char reset[32];
	char seen[40];
};

static int collect_entry(void *context, const struct credlimit_entry *entry)
{
	struct entry_list *list = context;

	list->total++;
	if (list->limited_only && entry->now.remaining != 0)
		return 0;

	if (list->count == list->allocated) {
		size_t allocated = list->allocated ? 2 * list->allocated : 256;
		struct entry_view *views =
			realloc(list->views, allocated * sizeof(*views));

		if (views == NULL) {
			list->out_of_memory = true;
			return 1;
		}
		list->views = views;
		list->allocated = allocated;
	}

	entry_view_init(&list->views[list->count++], entry);
	return 0;
}

static int compare_keys(const struct credlimit_entry *a,
			const struct credlimit_entry *b)
{
	size_t common = a->key_stored < b->key_stored ? a->key_stored
						      : b->key_stored;
	int order = memcmp(a->key, b->key, common);

	if (order != 0)
		return order;
	if (a->key_stored != b->key_stored)
		return a->key_stored < b->key_stored ? -1 : 1;
	if (a->key_hashed != b->key_hashed)
		return a->key_hashed ? 1 : -1;
	return memcmp(a->digest, b->digest, sizeof(a->digest));
}

static int compare_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int compare_views(const void *left, const void *right, void *context)
{
	enum sort_field sort_by = *(const enum sort_field *)context;
	const struct entry_view *left_view = left;
	const struct entry_view *right_view = right;
	const struct credlimit_entry *a = &left_view->entry;
	const struct credlimit_entry *b = &right_view->entry;
	int order = 0;

	switch (sort_by) {
	case SORT_KEY:
		break;
	case SORT_REMAINING:
		order = compare_u64(a->now.remaining, b->now.remaining);
		break;
	case SORT_CREDITS:
		order = compare_u64(a->now.credits, b->now.credits);
		break;
	case SORT_LAST_SEEN:
		order = compare_u64(b->last_seen_ns, a->last_seen_ns);
		break;
	}

	return order != 0 ? order : compare_keys(a, b);
}

static int parse_sort(const char *text, enum sort_field *out)
{
	static const struct {
		const char *name;
		enum sort_field field;
	} fields[] = {
		{ "key", SORT_KEY },
		{ "remaining", SORT_REMAINING },
		{ "credits", SORT_CREDITS },
		{ "last-seen", SORT_LAST_SEEN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		if (strcmp(text, fields[i].name) == 0) {
			*out = fields[i].field;
			return EXIT_OK;
		}
	}

	return usage_error("list",
			   "invalid --sort \"%s\": expected key, remaining, "
			   "credits or last-seen",
			   text);
}

static void format_row(struct row *row, const struct entry_view *view,
		       const struct policy_table *policies, uint64_t now_ns)
{
	const struct credlimit_entry *e = &view->entry;
	const char *name = policy_name(policies, e->now.policy);

	format_entry_key(row->key, sizeof(row->key), e, true);
	if (name != NULL)
		snprintf(row->policy, sizeof(row->policy), "%s%s", name,
			 e->policy_override != CREDLIMIT_POLICY_NONE ? "*"
								     : "");
	else
		snprintf(row->policy, sizeof(row->policy), "id %d",
			 e->now.policy);
	snprintf(row->remaining, sizeof(row->remaining), "%" PRIu64,
		 e->now.remaining);
	snprintf(row->credits, sizeof(row->credits), "%" PRIu32,
		 e->now.credits);
	snprintf(row->used, sizeof(row->used), "%" PRIu64, view->used_now);
	format_duration_short(row->reset, sizeof(row->reset),
			      e->now.reset_after_ns);
	format_age(row->seen, sizeof(row->seen), e->last_seen_ns, now_ns);
}

static int max_int(int a, size_t b)
{
	return (size_t)a > b ? a : (int)b;
}

static void print_table(const struct entry_list *list, size_t shown,
			const struct policy_table *policies, uint64_t now_ns)
{
	int key_width = 3, policy_width = 6, remaining_width = 9;
	int credits_width = 7, used_width = 4, reset_width = 5;
	bool any_assigned = false;
	struct row row;

	for (size_t i = 0; i < shown; i++) {
		format_row(&row, &list->views[i], policies, now_ns);
		key_width = max_int(key_width, strlen(row.key));
		policy_width = max_int(policy_width, strlen(row.policy));
		remaining_width =
			max_int(remaining_width, strlen(row.remaining));
		credits_width = max_int(credits_width, strlen(row.credits));
		used_width = max_int(used_width, strlen(row.used));
		reset_width = max_int(reset_width, strlen(row.reset));
		if (list->views[i].entry.policy_override !=
		    CREDLIMIT_POLICY_NONE)
			any_assigned = true;
	}

	printf("%-*s  %-*s  %*s  %*s  %*s  %*s  %s\n", key_width, "KEY",
	       policy_width, "POLICY", remaining_width, "REMAINING",
	       credits_width, "CREDITS", used_width, "USED", reset_width,
	       "RESET", "LAST SEEN");
	for (size_t i = 0; i < shown; i++) {
		format_row(&row, &list->views[i], policies, now_ns);
		printf("%-*s  %-*s  %*s  %*s  %*s  %*s  %s\n", key_width,
		       row.key, policy_width, row.policy, remaining_width,
		       row.remaining, credits_width, row.credits, used_width,
		       row.used, reset_width, row.reset, row.seen);
	}

	if (any_assigned)
		printf("* policy assigned to the key with 'limitctl set "
		       "--policy'\n");
}

static void print_json(const char *name, const struct entry_list *list,
		       size_t shown, const struct policy_table *policies,
		       uint64_t now_ns)
{
	struct json out;

	json_init(&out, stdout);
	json_object_begin(&out);
	json_field_string(&out, "limiter", name);
	json_field_u64(&out, "now_ns", now_ns);
	json_field_u64(&out, "total_entries", list->total);
	json_field_u64(&out, "shown", shown);
	json_key(&out, "entries");
	json_array_begin(&out);
	for (size_t i = 0; i < shown; i++)
		json_entry(&out, &list->views[i], policies, now_ns);
	json_array_end(&out);
	json_object_end(&out);
}

static int list_entries(const char *name, credlimit_t *cl,
			struct entry_list *list, enum sort_field sort_by,
			uint64_t top, bool json)
{
	static struct policy_table policies;
	uint64_t now_ns = credlimit_now(cl);
	size_t shown;
	int error;

	error = load_policies(cl, &policies);
	if (error < 0) {
		print_error("cannot read the policies of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	error = credlimit_foreach(cl, limiter_query_ns(name, now_ns),
				  collect_entry, list);
	if (list->out_of_memory) {
		print_error("out of memory after reading %zu entries of "
			    "limiter \"%s\"",
			    list->count, name);
		return EXIT_FAILED;
	}
	if (error < 0) {
		print_error("cannot read the entries of limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}

	if (list->count > 0)
		qsort_r(list->views, list->count, sizeof(list->views[0]),
			compare_views, &sort_by);
	shown = top < list->count ? (size_t)top : list->count;

	if (json)
		print_json(name, list, shown, &policies, now_ns);
	else if (shown == 0)
		printf("no %sentries in limiter \"%s\"\n",
		       list->limited_only ? "limited " : "", name);
	else
		print_table(list, shown, &policies, now_ns);
	return EXIT_OK;
}

int cmd_list(int argc, char **argv, struct limitctl_globals *globals)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "sort", required_argument, NULL, OPT_SORT },
		{ "top", required_argument, NULL, OPT_TOP },
		{ "limited", no_argument, NULL, OPT_LIMITED },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const arguments[] = { "NAME", NULL };
	struct entry_list list = { 0 };
	enum sort_field sort_by = SORT_KEY;
	uint64_t top = UINT64_MAX;
	credlimit_t *cl;
	int option;
	int status = EXIT_OK;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (option) {
		case OPT_SORT:
			status = parse_sort(optarg, &sort_by);
			break;
		case OPT_TOP:
			status = parse_u64("--top", optarg, 1, UINT64_MAX,
					   &top);
			break;
		case OPT_LIMITED:
			list.limited_only = true;
			break;
		default:
			status = handle_common_option(option, "list", argv,
						      globals);
			if (status != OPTION_HANDLED)
				return status;
			status = EXIT_OK;
		}
		if (status != EXIT_OK)
			return status;
	}

	status = check_arguments("list", argc - optind, argv + optind,
				 arguments, 1);
	if (status == EXIT_OK)
		status = parse_limiter_name(argv[optind]);
	if (status != EXIT_OK)
		return status;

	status = open_limiter(argv[optind], false, globals, &cl);
	if (status != EXIT_OK)
		return status;

	status = list_entries(argv[optind], cl, &list, sort_by, top,
			      globals->json);
	credlimit_close(cl);
	free(list.views);
	return status;
}
