/*
 * json.h - a small streaming JSON writer for limitctl's --json output
 *
 * The writer indents by two spaces per level and ends the document with a
 * newline.  Strings are escaped by RFC 8259: quote, backslash and control
 * characters are written as escapes, other bytes as they are, so callers
 * pass ASCII or UTF-8 text (limitctl escapes key bytes itself).
 */
#ifndef LIMITCTL_JSON_H
#define LIMITCTL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Maximum nesting depth of objects and arrays, the document included;
 * limitctl nests at most four. */
#define JSON_DEPTH_MAX 16

struct json {
	FILE *out;
	int depth;                     /* open objects and arrays */
	bool has_members[JSON_DEPTH_MAX]; /* level has a value already */
	bool after_key; /* a key was written, its value comes next */
};

void json_init(struct json *json, FILE *out);
void json_object_begin(struct json *json);
void json_object_end(struct json *json);
void json_array_begin(struct json *json);
void json_array_end(struct json *json);
void json_key(struct json *json, const char *name);
void json_string(struct json *json, const char *text);
void json_u64(struct json *json, uint64_t value);
void json_i64(struct json *json, int64_t value);
void json_bool(struct json *json, bool value);
void json_null(struct json *json);

/* A key followed by its value, inside an object. */
void json_field_string(struct json *json, const char *name, const char *text);
void json_field_u64(struct json *json, const char *name, uint64_t value);
void json_field_i64(struct json *json, const char *name, int64_t value);
void json_field_bool(struct json *json, const char *name, bool value);
void json_field_null(struct json *json, const char *name);
/* A finite number with two decimals, such as 12.50. */
void json_field_double(struct json *json, const char *name, double value);

#endif /* LIMITCTL_JSON_H */
