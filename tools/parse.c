/*
 * parse.c - parsing of limitctl's option values and arguments
 *
 * Each parser accepts only the exact form its help text shows: no sign, no
 * white space, no hex or octal prefix unless stated.  On a bad value it
 * prints an error that quotes the value and names the form expected, and
 * returns EXIT_USAGE.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

typedef unsigned __int128 u128;

/* Room for a quoted command-line value in a message; longer ones are cut. */
#define VALUE_TEXT_MAX 100

static const char *quote_value(char *buffer, size_t size, const char *text)
{
	escape_bytes(buffer, size, (const uint8_t *)text, strlen(text));
	return buffer;
}

bool parse_decimal_u64(const char *text, size_t len, uint64_t *out)
{
	uint64_t value = 0;

	if (len == 0)
		return false;

	for (size_t i = 0; i < len; i++) {
		unsigned digit;

		if (text[i] < '0' || text[i] > '9')
			return false;
		digit = (unsigned)(text[i] - '0');
		if (value > (UINT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}

	*out = value;
	return true;
}

int parse_u64(const char *option, const char *text, uint64_t min,
	      uint64_t max, uint64_t *out)
{
	char quoted[VALUE_TEXT_MAX];
	uint64_t value;

	if (!parse_decimal_u64(text, strlen(text), &value) || value < min ||
	    value > max) {
		print_error("invalid %s \"%s\": expected a whole number from "
			    "%" PRIu64 " to %" PRIu64,
			    option, quote_value(quoted, sizeof(quoted), text),
			    min, max);
		return EXIT_USAGE;
	}

	*out = value;
	return EXIT_OK;
}

int parse_u32(const char *option, const char *text, uint32_t min,
	      uint32_t *out)
{
	uint64_t value;
	int status = parse_u64(option, text, min, UINT32_MAX, &value);

	if (status == EXIT_OK)
		*out = (uint32_t)value;
	return status;
}

int parse_capacity(const char *option, const char *text, uint64_t *out)
{
	char quoted[VALUE_TEXT_MAX];
	uint64_t value;

	if (!parse_decimal_u64(text, strlen(text), &value) || value < 1 ||
	    value > CAPACITY_MAX) {
		print_error("invalid %s \"%s\": expected a whole number of "
			    "slots from 1 to %" PRIu64 " (2^32)",
			    option, quote_value(quoted, sizeof(quoted), text),
			    CAPACITY_MAX);
		return EXIT_USAGE;
	}

	*out = value;
	return EXIT_OK;
}

static const struct {
	const char *suffix;
	uint64_t ns;
} duration_units[] = {
	{ "ms", UINT64_C(1000000) },
	{ "s", UINT64_C(1000000000) },
	{ "m", UINT64_C(60) * 1000000000 },
	{ "h", UINT64_C(3600) * 1000000000 },
	{ "d", UINT64_C(86400) * 1000000000 },
};

/*
 * Parses "DIGITS[.DIGITS]UNIT" into nanoseconds.  Returns 0, -EINVAL for
 * a bad form, -ERANGE when the value does not fit in 64 bits or is not a
 * whole number of nanoseconds.
 */
static int parse_duration_ns(const char *text, uint64_t *out_ns)
{
	const char *p = text;
	u128 whole = 0;
	u128 fraction = 0;
	u128 fraction_scale = 1;
	u128 unit_ns = 0;
	u128 total;
	size_t digits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > UINT64_MAX)
			return -ERANGE;
	}

	if (*p == '.') {
		p++;
		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			/* 18 digits keep fraction * unit_ns within 128 bits,
			 * and are far below a nanosecond for every unit. */
			if (fraction_scale >= UINT64_C(1000000000000000000))
				return -ERANGE;
			fraction = fraction * 10 + (unsigned)(*p - '0');
			fraction_scale *= 10;
		}
	}

	if (digits == 0)
		return -EINVAL;

	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
		if (strcmp(p, duration_units[i].suffix) == 0)
			unit_ns = duration_units[i].ns;
	}
	if (unit_ns == 0)
		return -EINVAL;

	if ((fraction * unit_ns) % fraction_scale != 0)
		return -ERANGE;
	total = whole * unit_ns + fraction * unit_ns / fraction_scale;
	if (total > UINT64_MAX)
		return -ERANGE;

	*out_ns = (uint64_t)total;
	return 0;
}

int parse_duration(const char *option, const char *text, uint64_t *out_ns)
{
	char quoted[VALUE_TEXT_MAX];
	int error = parse_duration_ns(text, out_ns);

	quote_value(quoted, sizeof(quoted), text);
	if (error == -EINVAL) {
		print_error("invalid %s \"%s\": expected a number with unit "
			    "ms, s, m, h or d, such as 500ms or 10m",
			    option, quoted);
		return EXIT_USAGE;
	}
	if (error == -ERANGE) {
		print_error("invalid %s \"%s\": not a whole number of "
			    "nanoseconds below 2^64 (about 584 years)",
			    option, quoted);
		return EXIT_USAGE;
	}

	return EXIT_OK;
}

int parse_window(const char *option, const char *text, uint64_t *out_ns)
{
	char quoted[VALUE_TEXT_MAX];
	int status = parse_duration(option, text, out_ns);

	if (status != EXIT_OK)
		return status;

	if (*out_ns < CREDLIMIT_WINDOW_MIN_NS ||
	    *out_ns > CREDLIMIT_WINDOW_MAX_NS) {
		print_error("invalid %s \"%s\": a window must be from 1ms to "
			    "366d",
			    option, quote_value(quoted, sizeof(quoted), text));
		return EXIT_USAGE;
	}

	return EXIT_OK;
}

int parse_mode(const char *option, const char *text, mode_t *out)
{
	char quoted[VALUE_TEXT_MAX];
	unsigned long value = 0;
	size_t len = strlen(text);

	if (len == 0 || len > 4 || strspn(text, "01234567") != len) {
		value = ~0ul;
	} else {
		for (const char *p = text; *p; p++)
			value = value * 8 + (unsigned long)(*p - '0');
	}

	quote_value(quoted, sizeof(quoted), text);
	if (value > 0777) {
		print_error("invalid %s \"%s\": expected octal permission bits "
			    "from 0600 to 0777, such as 0600 or 0640",
			    option, quoted);
		return EXIT_USAGE;
	}

	/* libcredlimit rejects a mode without them (-EINVAL): the owner
	 * maps the segments read-write. */
	if ((value & 0600) != 0600) {
		print_error("invalid %s \"%s\": the owner needs read and write "
			    "permission (0600); use a mode such as 0600, 0640 "
			    "or 0660",
			    option, quoted);
		return EXIT_USAGE;
	}

	*out = (mode_t)value;
	return EXIT_OK;
}

int parse_user(const char *option, const char *text, uid_t *out)
{
	char quoted[VALUE_TEXT_MAX];
	struct passwd *user;
	uint64_t uid;

	if (parse_decimal_u64(text, strlen(text), &uid) && uid < (uid_t)-1) {
		*out = (uid_t)uid;
		return EXIT_OK;
	}

	errno = 0;
	user = *text ? getpwnam(text) : NULL;
	if (user == NULL) {
		print_error("invalid %s \"%s\": no such user; give a user name "
			    "or a numeric user id",
			    option, quote_value(quoted, sizeof(quoted), text));
		return EXIT_USAGE;
	}

	*out = user->pw_uid;
	return EXIT_OK;
}

static int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_hex_key(const char *text, struct limitctl_key *out)
{
	char quoted[VALUE_TEXT_MAX];
	size_t digits = strlen(text);
	uint8_t *bytes;

	quote_value(quoted, sizeof(quoted), text);
	if (digits % 2 != 0) {
		print_error("invalid key \"%s\" for --hex: expected an even "
			    "number of hex digits, such as 00ff61",
			    quoted);
		return EXIT_USAGE;
	}

	bytes = malloc(digits / 2 + 1);
	if (bytes == NULL) {
		print_error("out of memory for a key of %zu bytes", digits / 2);
		return EXIT_FAILED;
	}

	for (size_t i = 0; i < digits; i += 2) {
		int high = hex_digit_value(text[i]);
		int low = hex_digit_value(text[i + 1]);

		if (high < 0 || low < 0) {
			print_error("invalid key \"%s\" for --hex: \"%c%c\" at "
				    "offset %zu is not a hex byte; use only "
				    "0-9, a-f and A-F",
				    quoted, text[i], text[i + 1], i);
			free(bytes);
			return EXIT_USAGE;
		}
		bytes[i / 2] = (uint8_t)(high * 16 + low);
	}

	out->bytes = bytes;
	out->len = digits / 2;
	return EXIT_OK;
}

int parse_key(const char *text, bool hex, struct limitctl_key *out)
{
	int status;

	if (hex) {
		status = parse_hex_key(text, out);
	} else {
		out->len = strlen(text);
		out->bytes = (uint8_t *)strdup(text);
		status = out->bytes ? EXIT_OK : EXIT_FAILED;
		if (status != EXIT_OK)
			print_error("out of memory for a key of %zu bytes",
				    out->len);
	}
	if (status != EXIT_OK)
		return status;

	if (out->len == 0 || out->len > CREDLIMIT_KEY_MAX) {
		print_error("invalid key of %zu bytes: a key must have 1 to "
			    "%d bytes",
			    out->len, CREDLIMIT_KEY_MAX);
		free(out->bytes);
		out->bytes = NULL;
		return EXIT_USAGE;
	}

	return EXIT_OK;
}

/* Returns true when text has 1 to max bytes, each alphanumeric or in
 * `allowed`, and starts with '.' only when leading_dot allows it. */
static bool is_valid_name(const char *text, size_t max, const char *allowed,
			  bool leading_dot)
{
	size_t len = strlen(text);

	if (len == 0 || len > max || (text[0] == '.' && !leading_dot))
		return false;

	for (const char *p = text; *p; p++) {
		if (!isalnum((unsigned char)*p) && strchr(allowed, *p) == NULL)
			return false;
	}

	return true;
}

/* Returns true when text ends in ".g" and one or more digits, the suffix
 * of the table segments "/credlimit.NAME.gN". */
static bool ends_like_table_segment(const char *text)
{
	size_t len = strlen(text);
	size_t digits = 0;

	while (digits < len && isdigit((unsigned char)text[len - 1 - digits]))
		digits++;

	return digits > 0 && len >= digits + 2 &&
	       text[len - digits - 1] == 'g' && text[len - digits - 2] == '.';
}

bool is_redis_uri(const char *text)
{
	return strncmp(text, "redis://", 8) == 0 ||
	       strncmp(text, "redis+shards://", 15) == 0 ||
	       strncmp(text, "redis+cluster://", 16) == 0;
}

bool counts_in_redis(const char *text)
{
	return is_redis_uri(text) ||
	       (strncmp(text, "shm:", 4) == 0 && strstr(text, "upstream=") != NULL);
}

int parse_limiter_name(const char *text)
{
	char quoted[VALUE_TEXT_MAX];

	/* The library checks a Redis URI or a lease name, and logs the
	 * part at fault.  "shm:NAME" alone names the limiter NAME. */
	if (counts_in_redis(text))
		return EXIT_OK;
	if (strncmp(text, "shm:", 4) == 0 && text[4] != '\0') {
		char name[CREDLIMIT_NAME_MAX + 2];
		size_t len = strcspn(text + 4, "?");

		if (len <= CREDLIMIT_NAME_MAX) {
			memcpy(name, text + 4, len);
			name[len] = '\0';
			return parse_limiter_name(name);
		}
	}

	quote_value(quoted, sizeof(quoted), text);
	if (!is_valid_name(text, CREDLIMIT_NAME_MAX, "._-", false)) {
		print_error("invalid limiter name \"%s\": use 1 to %d of the "
			    "characters A-Z a-z 0-9 . _ -, not starting with "
			    "\".\"",
			    quoted, CREDLIMIT_NAME_MAX);
		return EXIT_USAGE;
	}

	if (ends_like_table_segment(text)) {
		print_error("invalid limiter name \"%s\": a name may not end "
			    "in \".g\" and digits, which table segments use; "
			    "choose another name",
			    quoted);
		return EXIT_USAGE;
	}

	return EXIT_OK;
}

int parse_policy_name(const char *text)
{
	char quoted[VALUE_TEXT_MAX];

	if (is_valid_name(text, CREDLIMIT_POLICY_NAME_MAX, "._:-", true))
		return EXIT_OK;

	print_error("invalid policy name \"%s\": use 1 to %d of the "
		    "characters A-Z a-z 0-9 . _ : -",
		    quote_value(quoted, sizeof(quoted), text),
		    CREDLIMIT_POLICY_NAME_MAX);
	return EXIT_USAGE;
}

int parse_name_and_key(const char *command, int count, char **arguments,
		       bool hex, const char **name, struct limitctl_key *key)
{
	static const char *const names[] = { "NAME", "KEY", NULL };
	int status = check_arguments(command, count, arguments, names, 2);

	if (status == EXIT_OK)
		status = parse_limiter_name(arguments[0]);
	if (status == EXIT_OK)
		status = parse_key(arguments[1], hex, key);
	if (status != EXIT_OK)
		return status;

	*name = arguments[0];
	return EXIT_OK;
}
