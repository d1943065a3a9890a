/*
 * replay.c - fuzz target: the trace parser of limitctl replay
 *
 * Splits the input into lines as getline() would and parses each with
 * parse_line() (tools/replay_input.c).  A line parsed as a request must
 * point its key inside the line, hold 1 to CREDLIMIT_KEY_MAX bytes with no
 * blank, and carry a time whose nanoseconds fit in 64 bits.  Each request
 * is then decided on a private limiter, as limitctl replay does, and the
 * result must respect the policy: remaining at most R + C, credits at
 * most C.
 */
#include <string.h>

#include "credlimit.h"
#include "fuzz.h"
#include "tools/limitctl.h"
#include "tools/replay.h"

#define POLICY_R 3
#define POLICY_C 5

static credlimit_t *limiter;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct credlimit_options o;

	fuzz_quiet_stdio();
	credlimit_options_init(&o);
	o.initial_capacity = 4096;
	o.default_policy.max_requests = POLICY_R;
	o.default_policy.window_ns = 10 * NS_PER_MS;
	o.default_policy.max_credits = POLICY_C;
	FUZZ_CHECK(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o,
				  &limiter) == 0);
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' ||
	       c == '\f' || c == '\n';
}

static void check_request(const char *line, size_t len,
			  const struct request *request)
{
	struct credlimit_result r;
	int err;

	FUZZ_CHECK(request->key.text >= line);
	FUZZ_CHECK(request->key.len >= 1);
	FUZZ_CHECK(request->key.len <= CREDLIMIT_KEY_MAX);
	FUZZ_CHECK(request->key.text + request->key.len <= line + len);
	for (size_t i = 0; i < request->key.len; i++)
		FUZZ_CHECK(!is_blank(request->key.text[i]));
	FUZZ_CHECK(request->time_ms <= UINT64_MAX / NS_PER_MS);

	err = credlimit_acquire_at(limiter, request->key.text,
				   request->key.len, request->cost,
				   request->time_ms * NS_PER_MS, &r);
	if (err == 0) {
		FUZZ_CHECK(r.remaining <= POLICY_R + POLICY_C);
		FUZZ_CHECK(r.credits <= POLICY_C);
		FUZZ_CHECK((r.verdict == CREDLIMIT_DENIED_NEVER) ==
			   (request->cost > POLICY_R + POLICY_C));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replay_input input = { NULL, "fuzz", 0 };
	const char *text = (const char *)data;
	size_t start = 0;

	while (start < size) {
		const char *newline = memchr(text + start, '\n', size - start);
		size_t end = newline != NULL ? (size_t)(newline - text) + 1
					     : size;
		/* A copy of exactly the line's bytes, so that AddressSanitizer
		 * sees any read past its end. */
		size_t len = end - start;
		char *line = malloc(len);
		struct request request;
		int parsed;

		FUZZ_CHECK(line != NULL);
		memcpy(line, text + start, len);
		input.line++;
		parsed = parse_line(&input, line, len, &request);
		FUZZ_CHECK(parsed >= -1 && parsed <= 1);
		if (parsed == 1)
			check_request(line, len, &request);
		free(line);
		start = end;
	}
	return 0;
}
