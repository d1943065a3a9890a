/*
 * entry.c - one entry or decision result, as text and as JSON
 *
 * The numbers shown "now" come from the entry's `now` member: what a cost-0
 * decision under the key's effective policy would report at the time of
 * the lookup, without changing the entry.  The stored numbers are those of
 * the last decision, before any window roll since.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

/* Width of the label column of print_entry_detail(). */
#define LABEL_WIDTH 18

void entry_view_init(struct entry_view *view,
		     const struct credlimit_entry *entry)
{
	const struct credlimit_result *now = &entry->now;
	uint64_t base_left = now->remaining >= now->credits
				     ? now->remaining - now->credits
				     : 0;

	view->entry = *entry;
	view->used_now = now->limit >= base_left ? now->limit - base_left : 0;
	if (now->flags & CREDLIMIT_RESULT_LEASED)
		view->used_now = 0; /* a lease cache holds units, not counts */
}

static void json_policy_name(struct json *json, const char *field,
			     const struct policy_table *policies, int id)
{
	const char *name = policy_name(policies, id);

	if (id == CREDLIMIT_POLICY_NONE || name == NULL)
		json_field_null(json, field);
	else
		json_field_string(json, field, name);
}

static int64_t signed_difference(uint64_t a, uint64_t b)
{
	if (a >= b)
		return a - b > INT64_MAX ? INT64_MAX : (int64_t)(a - b);
	return b - a > INT64_MAX ? INT64_MIN : -(int64_t)(b - a);
}

void json_entry(struct json *json, const struct entry_view *view,
		const struct policy_table *policies, uint64_t now_ns)
{
	const struct credlimit_entry *e = &view->entry;
	char key_text[KEY_TEXT_MAX];
	char hex[2 * CREDLIMIT_KEY_INLINE_MAX + 1];

	json_object_begin(json);

	format_entry_key(key_text, sizeof(key_text), e, false);
	json_field_string(json, "key", key_text);
	format_hex(hex, sizeof(hex), e->key, e->key_stored);
	json_field_string(json, "key_hex", hex);
	json_field_u64(json, "key_length", e->key_len);
	json_field_bool(json, "key_hashed", e->key_hashed);
	if (e->key_hashed) {
		format_hex(hex, sizeof(hex), e->digest, sizeof(e->digest));
		json_field_string(json, "digest", hex);
	} else {
		json_field_null(json, "digest");
	}

	json_policy_name(json, "policy", policies, e->now.policy);
	json_field_i64(json, "policy_id", e->now.policy);
	json_policy_name(json, "assigned_policy", policies,
			 e->policy_override);
	json_field_bool(json, "fresh", e->fresh);

	json_field_u64(json, "remaining", e->now.remaining);
	json_field_u64(json, "credits", e->now.credits);
	json_field_u64(json, "used", view->used_now);
	json_field_u64(json, "limit", e->now.limit);
	json_field_u64(json, "window_ns", e->now.window_ns);
	json_field_u64(json, "reset_after_ns", e->now.reset_after_ns);
	json_field_u64(json, "last_seen_ns", e->last_seen_ns);
	json_field_i64(json, "last_seen_age_ns",
		       signed_difference(now_ns, e->last_seen_ns));

	json_key(json, "stored");
	json_object_begin(json);
	json_policy_name(json, "policy", policies, e->policy);
	json_field_i64(json, "policy_id", e->policy);
	json_field_u64(json, "window_start_ns", e->window_start_ns);
	json_field_u64(json, "window_ns", e->window_ns);
	json_field_u64(json, "used", e->used);
	json_field_u64(json, "credits", e->credits);
	json_field_u64(json, "leased", e->leased);
	json_object_end(json);

	json_object_end(json);
}

static void print_label(FILE *out, const char *label)
{
	fprintf(out, "%-*s", LABEL_WIDTH, label);
}

static void print_policy_line(FILE *out, const char *label,
			      const struct policy_table *policies, int id)
{
	const char *name = policy_name(policies, id);

	print_label(out, label);
	if (id == CREDLIMIT_POLICY_NONE) {
		fputs("none\n", out);
		return;
	}
	if (name == NULL) {
		fprintf(out, "id %d (not defined)\n", id);
		return;
	}

	fprintf(out, "%s (id %d): ", name, id);
	for (int i = 0; i < policies->count; i++) {
		if (policies->info[i].id == id)
			print_policy_numbers(out, &policies->info[i].policy);
	}
	fputc('\n', out);
}

static void print_key_lines(FILE *out, const struct credlimit_entry *e)
{
	char key_text[KEY_TEXT_MAX];
	char hex[2 * CREDLIMIT_KEY_INLINE_MAX + 1];

	format_entry_key(key_text, sizeof(key_text), e, true);
	print_label(out, "key:");
	fprintf(out, "%s\n", key_text);

	format_hex(hex, sizeof(hex), e->key, e->key_stored);
	print_label(out, "key hex:");
	fprintf(out, "%s%s\n", hex, e->key_hashed ? "..." : "");

	print_label(out, "key length:");
	if (e->key_hashed) {
		format_hex(hex, sizeof(hex), e->digest, sizeof(e->digest));
		fprintf(out,
			"%zu bytes, stored as a digest and its first %zu "
			"bytes\n",
			e->key_len, e->key_stored);
		print_label(out, "key digest:");
		fprintf(out, "%s\n", hex);
	} else {
		fprintf(out, "%zu byte%s\n", e->key_len,
			e->key_len == 1 ? "" : "s");
	}
}

void print_entry_detail(FILE *out, const struct entry_view *view,
			const struct policy_table *policies, uint64_t now_ns)
{
	const struct credlimit_entry *e = &view->entry;
	char text[64];
	char window[32];

	print_key_lines(out, e);

	print_policy_line(out, "policy:", policies, e->now.policy);
	print_policy_line(out, "assigned policy:", policies,
			  e->policy_override);

	print_label(out, "remaining:");
	fprintf(out, "%" PRIu64 "\n", e->now.remaining);
	print_label(out, "credits:");
	fprintf(out, "%" PRIu32 "\n", e->now.credits);
	print_label(out, "used:");
	fprintf(out, "%" PRIu64 " of %" PRIu32 " in this window\n",
		view->used_now, e->now.limit);
	format_duration_short(text, sizeof(text), e->now.reset_after_ns);
	print_label(out, "window resets in:");
	fprintf(out, "%s\n", text);

	format_age(text, sizeof(text), e->last_seen_ns, now_ns);
	print_label(out, "last seen:");
	fprintf(out, "%s%s\n", text,
		e->fresh ? " (fresh: no decision since creation or reset)"
			 : "");

	print_label(out, "stored state:");
	if (e->now.flags & CREDLIMIT_RESULT_LEASED) {
		/* A lease cache entry: units, not counts. */
		format_duration_exact(window, sizeof(window), e->window_ns);
		if (e->window_ns == 0)
			fputs("no lease taken yet\n", out);
		else
			fprintf(out,
				"%" PRIu64 " units leased for the window of "
				"%s starting at %" PRIu64 " ns%s\n",
				e->leased, window, e->window_start_ns,
				e->now.remaining == 0 && e->leased > 0
					? " (ended: they await their return)"
					: "");
	} else if (e->window_ns == 0) {
		fputs("none yet: the next decision starts a new customer\n",
		      out);
	} else {
		format_duration_exact(window, sizeof(window), e->window_ns);
		fprintf(out,
			"used %" PRIu32 ", credits %" PRIu32
			", window of %s starting at %" PRIu64 " ns\n",
			e->used, e->credits, window, e->window_start_ns);
	}
	print_policy_line(out, "last decision:", policies, e->policy);
}

const char *verdict_name(int verdict)
{
	switch (verdict) {
	case CREDLIMIT_ALLOWED:
		return "allowed";
	case CREDLIMIT_DENIED:
		return "denied";
	case CREDLIMIT_DENIED_NEVER:
		return "denied_never";
	default:
		return "unknown";
	}
}

void json_result(struct json *json, const struct credlimit_result *result,
		 const struct policy_table *policies)
{
	json_object_begin(json);
	json_field_string(json, "verdict", verdict_name(result->verdict));
	json_field_bool(json, "new", result->flags & CREDLIMIT_RESULT_NEW);
	json_field_bool(json, "untracked",
			result->flags & CREDLIMIT_RESULT_UNTRACKED);
	json_field_bool(json, "table_full",
			result->flags & CREDLIMIT_RESULT_FULL);
	json_policy_name(json, "policy", policies, result->policy);
	json_field_i64(json, "policy_id", result->policy);
	json_field_u64(json, "limit", result->limit);
	json_field_u64(json, "credits", result->credits);
	json_field_u64(json, "remaining", result->remaining);
	json_field_u64(json, "window_ns", result->window_ns);
	json_field_u64(json, "reset_after_ns", result->reset_after_ns);
	if (result->retry_after_ns == CREDLIMIT_NEVER)
		json_field_null(json, "retry_after_ns");
	else
		json_field_u64(json, "retry_after_ns", result->retry_after_ns);
	json_object_end(json);
}

/* Writes "key" (escaped, cut after KEY_TEXT_MAX bytes of text) and
 * "key_hex" (every byte) of a key given on the command line. */
void json_key_fields(struct json *json, const struct limitctl_key *key)
{
	char text[KEY_TEXT_MAX];
	char *hex = malloc(2 * key->len + 1);

	escape_bytes(text, sizeof(text), key->bytes, key->len);
	json_field_string(json, "key", text);
	if (hex == NULL) {
		json_field_null(json, "key_hex");
		return;
	}

	format_hex(hex, 2 * key->len + 1, key->bytes, key->len);
	json_field_string(json, "key_hex", hex);
	free(hex);
}
