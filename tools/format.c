/*
 * format.c - text forms of keys, durations and times in limitctl's output
 *
 * Keys are arbitrary bytes.  They are shown with printable ASCII as is,
 * a backslash as \\ and every other byte as \xNN, so the text is ASCII and
 * names the bytes exactly.  A key longer than CREDLIMIT_KEY_INLINE_MAX is
 * stored as a digest plus its first bytes, shown followed by "...".  Text
 * output adds "#" and the first 8 hex digits of the digest, so long keys
 * with the same first bytes look different.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "limitctl.h"

#define NS_PER_US UINT64_C(1000)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S UINT64_C(1000000000)
#define NS_PER_MIN (60 * NS_PER_S)
#define NS_PER_HOUR (60 * NS_PER_MIN)
#define NS_PER_DAY (24 * NS_PER_HOUR)

/*
 * Writes the escaped form of bytes[0..len) into out.  When it does not fit
 * in out_size, the text is cut at a whole escape and ends with "...".
 */
void escape_bytes(char *out, size_t out_size, const uint8_t *bytes,
		  size_t len)
{
	size_t used = 0;

	if (out_size == 0)
		return;

	for (size_t i = 0; i < len; i++) {
		char piece[5];
		size_t piece_len;

		if (bytes[i] == '\\')
			strcpy(piece, "\\\\");
		else if (bytes[i] >= 0x20 && bytes[i] <= 0x7e)
			snprintf(piece, sizeof(piece), "%c", bytes[i]);
		else
			snprintf(piece, sizeof(piece), "\\x%02x", bytes[i]);
		piece_len = strlen(piece);

		/* Keep room for "..." and the NUL when more bytes follow. */
		if (used + piece_len + (i + 1 < len ? 4 : 1) > out_size) {
			if (used + 4 <= out_size) {
				memcpy(out + used, "...", 3);
				used += 3;
			}
			break;
		}
		memcpy(out + used, piece, piece_len);
		used += piece_len;
	}

	out[used] = '\0';
}

void format_entry_key(char *out, size_t out_size,
		      const struct credlimit_entry *entry, bool with_digest)
{
	size_t stored = entry->key_stored;
	size_t used;

	if (stored > sizeof(entry->key))
		stored = sizeof(entry->key);

	escape_bytes(out, out_size, entry->key, stored);
	if (!entry->key_hashed)
		return;

	used = strlen(out);
	if (with_digest)
		snprintf(out + used, out_size - used, "...#%02x%02x%02x%02x",
			 entry->digest[0], entry->digest[1], entry->digest[2],
			 entry->digest[3]);
	else
		snprintf(out + used, out_size - used, "...");
}

void format_hex(char *out, size_t out_size, const uint8_t *bytes, size_t len)
{
	size_t i;

	for (i = 0; i < len && 2 * i + 2 < out_size; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	out[2 * i] = '\0';
}

/* Writes ns in the largest unit that divides it exactly: "90s", "1500ms",
 * "1d". */
void format_duration_exact(char *out, size_t out_size, uint64_t ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "d", NS_PER_DAY }, { "h", NS_PER_HOUR }, { "m", NS_PER_MIN },
		{ "s", NS_PER_S },   { "ms", NS_PER_MS },  { "us", NS_PER_US },
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (ns != 0 && ns % units[i].ns == 0) {
			snprintf(out, out_size, "%" PRIu64 "%s",
				 ns / units[i].ns, units[i].suffix);
			return;
		}
	}

	snprintf(out, out_size, "%" PRIu64 "ns", ns);
}

/* Writes ns rounded down for reading at a glance: "850ms", "3.2s",
 * "4m05s", "2h10m", "3d04h". */
void format_duration_short(char *out, size_t out_size, uint64_t ns)
{
	if (ns == 0)
		snprintf(out, out_size, "0s");
	else if (ns < NS_PER_MS)
		snprintf(out, out_size, "<1ms");
	else if (ns < NS_PER_S)
		snprintf(out, out_size, "%" PRIu64 "ms", ns / NS_PER_MS);
	else if (ns < NS_PER_MIN)
		snprintf(out, out_size, "%" PRIu64 ".%" PRIu64 "s",
			 ns / NS_PER_S, ns % NS_PER_S / (NS_PER_S / 10));
	else if (ns < NS_PER_HOUR)
		snprintf(out, out_size, "%" PRIu64 "m%02" PRIu64 "s",
			 ns / NS_PER_MIN, ns % NS_PER_MIN / NS_PER_S);
	else if (ns < NS_PER_DAY)
		snprintf(out, out_size, "%" PRIu64 "h%02" PRIu64 "m",
			 ns / NS_PER_HOUR, ns % NS_PER_HOUR / NS_PER_MIN);
	else
		snprintf(out, out_size, "%" PRIu64 "d%02" PRIu64 "h",
			 ns / NS_PER_DAY, ns % NS_PER_DAY / NS_PER_HOUR);
}

/* Writes how long before now_ns the time then_ns was: "3.2s ago".  A time
 * after now_ns, which a program passing its own times can store, is
 * written as "in 3.2s". */
void format_age(char *out, size_t out_size, uint64_t then_ns, uint64_t now_ns)
{
	char duration[32];

	if (then_ns <= now_ns) {
		format_duration_short(duration, sizeof(duration),
				      now_ns - then_ns);
		snprintf(out, out_size, "%s ago", duration);
	} else {
		format_duration_short(duration, sizeof(duration),
				      then_ns - now_ns);
		snprintf(out, out_size, "in %s", duration);
	}
}

const char *full_action_name(int full_action)
{
	switch (full_action) {
	case CREDLIMIT_FULL_DENY:
		return "deny";
	case CREDLIMIT_FULL_ALLOW:
		return "allow";
	default:
		return "unknown";
	}
}

uint64_t limiter_query_ns(const char *name, uint64_t now_ns)
{
	return counts_in_redis(name) ? CREDLIMIT_NOW : now_ns;
}

/* Returns CLOCK_MONOTONIC in nanoseconds, the clock the library's
 * decisions use by default. */
uint64_t monotonic_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * NS_PER_S + (uint64_t)now.tv_nsec;
}
