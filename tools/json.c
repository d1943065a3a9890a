/*
 * json.c - a small streaming JSON writer for limitctl's --json output
 */
#include <inttypes.h>

#include "json.h"

void json_init(struct json *json, FILE *out)
{
	json->out = out;
	json->depth = 0;
	json->has_members[0] = false;
	json->after_key = false;
}

static void write_indent(struct json *json)
{
	fputc('\n', json->out);
	for (int i = 0; i < json->depth; i++)
		fputs("  ", json->out);
}

/* Writes the separator and indentation that go before a value or key. */
static void begin_value(struct json *json)
{
	if (json->after_key) {
		json->after_key = false;
		return;
	}
	if (json->depth == 0)
		return;

	if (json->has_members[json->depth])
		fputc(',', json->out);
	json->has_members[json->depth] = true;
	write_indent(json);
}

static void end_value(struct json *json)
{
	if (json->depth == 0)
		fputc('\n', json->out);
}

static void open_container(struct json *json, char bracket)
{
	begin_value(json);
	fputc(bracket, json->out);

	json->depth++;
	json->has_members[json->depth] = false;
}

static void close_container(struct json *json, char bracket)
{
	bool had_members = json->has_members[json->depth];

	json->depth--;
	if (had_members)
		write_indent(json);
	fputc(bracket, json->out);
	end_value(json);
}

void json_object_begin(struct json *json)
{
	open_container(json, '{');
}

void json_object_end(struct json *json)
{
	close_container(json, '}');
}

void json_array_begin(struct json *json)
{
	open_container(json, '[');
}

void json_array_end(struct json *json)
{
	close_container(json, ']');
}

static void write_escaped(FILE *out, const char *text)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

void json_key(struct json *json, const char *name)
{
	begin_value(json);
	write_escaped(json->out, name);
	fputs(": ", json->out);
	json->after_key = true;
}

void json_string(struct json *json, const char *text)
{
	begin_value(json);
	write_escaped(json->out, text);
	end_value(json);
}

void json_u64(struct json *json, uint64_t value)
{
	begin_value(json);
	fprintf(json->out, "%" PRIu64, value);
	end_value(json);
}

void json_i64(struct json *json, int64_t value)
{
	begin_value(json);
	fprintf(json->out, "%" PRId64, value);
	end_value(json);
}

void json_bool(struct json *json, bool value)
{
	begin_value(json);
	fputs(value ? "true" : "false", json->out);
	end_value(json);
}

void json_null(struct json *json)
{
	begin_value(json);
	fputs("null", json->out);
	end_value(json);
}

void json_field_string(struct json *json, const char *name, const char *text)
{
	json_key(json, name);
	json_string(json, text);
}

void json_field_u64(struct json *json, const char *name, uint64_t value)
{
	json_key(json, name);
	json_u64(json, value);
}

void json_field_i64(struct json *json, const char *name, int64_t value)
{
	json_key(json, name);
	json_i64(json, value);
}

void json_field_bool(struct json *json, const char *name, bool value)
{
	json_key(json, name);
	json_bool(json, value);
}

void json_field_null(struct json *json, const char *name)
{
	json_key(json, name);
	json_null(json);
}

void json_field_double(struct json *json, const char *name, double value)
{
	json_key(json, name);
	begin_value(json);
	fprintf(json->out, "%.2f", value);
	end_value(json);
}
