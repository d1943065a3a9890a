/*
 * replay_input.c - parsing the trace lines of limitctl replay
 *
 * Fields are separated by blanks (space, tab, CR, VT, FF); a key may hold
 * any other byte, NUL included, because lines are handled by length.
 */
#include <inttypes.h>
#include <stdarg.h>

#include "limitctl.h"
#include "replay.h"

/* Buffer size for a field quoted in an error message; longer fields are
 * cut. */
#define FIELD_TEXT_MAX 64

void input_error(const struct replay_input *input, const char *format, ...)
{
	va_list args;

	fputs("limitctl: ", stderr);
	if (input->name != NULL)
		fprintf(stderr, "%s: ", input->name);
	fprintf(stderr, "line %" PRIu64 ": ", input->line);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' ||
	       c == '\n';
}

/* Splits line[0..len) at blanks into up to max fields; returns how many
 * fields the line has, which may exceed max. */
static size_t split_fields(const char *line, size_t len, struct field *fields,
			   size_t max)
{
	size_t count = 0;
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && is_blank(line[i]))
			i++;
		if (i == len)
			break;

		start = i;
		while (i < len && !is_blank(line[i]))
			i++;
		if (count < max) {
			fields[count].text = line + start;
			fields[count].len = i - start;
		}
		count++;
	}

	return count;
}

static const char *quote_field(char *buffer, size_t size,
			       const struct field *field)
{
	escape_bytes(buffer, size, (const uint8_t *)field->text, field->len);
	return buffer;
}

/* Returns true when the field is a run of decimal digits, whatever its
 * value. */
static bool is_digits(const struct field *field)
{
	for (size_t i = 0; i < field->len; i++) {
		if (field->text[i] < '0' || field->text[i] > '9')
			return false;
	}
	return field->len > 0;
}

static bool parse_time(const struct replay_input *input,
		       const struct field *field, uint64_t *time_ms)
{
	char quoted[FIELD_TEXT_MAX];

	quote_field(quoted, sizeof(quoted), field);
	if (!is_digits(field)) {
		input_error(input,
			    "invalid time \"%s\": expected a non-negative "
			    "whole number of milliseconds",
			    quoted);
		return false;
	}

	if (!parse_decimal_u64(field->text, field->len, time_ms) ||
	    *time_ms > UINT64_MAX / NS_PER_MS) {
		input_error(input,
			    "time \"%s\" is too large: at most %" PRIu64
			    " ms fit in 64-bit nanoseconds",
			    quoted, UINT64_MAX / NS_PER_MS);
		return false;
	}

	return true;
}

static bool parse_cost(const struct replay_input *input,
		       const struct field *field, uint64_t *cost)
{
	char quoted[FIELD_TEXT_MAX];

	quote_field(quoted, sizeof(quoted), field);
	if (!is_digits(field)) {
		input_error(input,
			    "invalid cost \"%s\": expected a non-negative "
			    "whole number",
			    quoted);
		return false;
	}

	if (!parse_decimal_u64(field->text, field->len, cost)) {
		input_error(input,
			    "cost \"%s\" is too large: the largest cost is "
			    "%" PRIu64,
			    quoted, UINT64_MAX);
		return false;
	}

	return true;
}

int parse_line(const struct replay_input *input, const char *line,
	       size_t line_len, struct request *request)
{
	struct field fields[4];
	size_t count = split_fields(line, line_len, fields, 4);
	char quoted[FIELD_TEXT_MAX];

	if (count == 0 || fields[0].text[0] == '#')
		return 0;

	if (!parse_time(input, &fields[0], &request->time_ms))
		return -1;

	if (count < 2) {
		input_error(input,
			    "missing key after time %" PRIu64
			    ": expected T_MS KEY [COST]",
			    request->time_ms);
		return -1;
	}
	if (fields[1].len > CREDLIMIT_KEY_MAX) {
		input_error(input,
			    "key of %zu bytes is too long: a key has at most "
			    "%d bytes",
			    fields[1].len, CREDLIMIT_KEY_MAX);
		return -1;
	}
	request->key = fields[1];

	request->cost = 1;
	if (count >= 3 && !parse_cost(input, &fields[2], &request->cost))
		return -1;

	if (count > 3) {
		input_error(input,
			    "unexpected fourth field \"%s\": expected T_MS KEY "
			    "[COST]",
			    quote_field(quoted, sizeof(quoted), &fields[3]));
		return -1;
	}

	return 1;
}
