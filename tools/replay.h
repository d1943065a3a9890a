/*
 * replay.h - the trace format of limitctl replay
 *
 * A trace has one request per line, "T_MS KEY [COST]".  Blank lines and
 * lines whose first non-blank character is '#' are skipped.
 */
#ifndef LIMITCTL_REPLAY_H
#define LIMITCTL_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NS_PER_MS UINT64_C(1000000)

/* One field of an input line: bytes, not NUL-terminated, NUL allowed. */
struct field {
	const char *text;
	size_t len;
};

/* One parsed request. */
struct request {
	uint64_t time_ms;
	struct field key;
	uint64_t cost;
};

/* Input file and line number, for messages. */
struct replay_input {
	FILE *file;
	const char *name; /* NULL for standard input */
	uint64_t line;
};

/* Prints "limitctl: [FILE: ]line N: " and the message to standard error. */
void input_error(const struct replay_input *input, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Parses one line of line_len bytes into *request.  Returns 1 for a
 * request, 0 for a blank or comment line, -1 after printing why the line
 * is malformed.  request->key points into line.
 */
int parse_line(const struct replay_input *input, const char *line,
	       size_t line_len, struct request *request);

#endif /* LIMITCTL_REPLAY_H */
