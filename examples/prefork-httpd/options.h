/*
 * options.h - command-line options of prefork-httpd
 *
 * options_parse() validates every option, so the rest of the server can
 * trust these values: an invalid one ends the program with a message that
 * names the value and the fix.
 */
#ifndef HTTPD_OPTIONS_H
#define HTTPD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <credlimit.h>

struct server_options {
	const char *name;  /* limiter name: segment /credlimit.NAME */
	bool recreate;     /* unlink an existing limiter before creating */
	bool unlink_on_exit;

	const char *listen_text; /* --listen as given */
	struct sockaddr_storage listen_address;
	socklen_t listen_address_len;

	unsigned workers;
	unsigned max_connections; /* open connections per worker */
	uint64_t request_timeout_ns;   /* to read a request or write a response */
	uint64_t keepalive_timeout_ns; /* idle time between two requests */

	struct credlimit_policy policy; /* numbers of policy "default" */
	uint64_t capacity;     /* initial table slots */
	uint64_t max_capacity; /* 0: same as capacity */
	int full_action;       /* enum credlimit_full_action */
};

/*
 * Fills *options from argv.  Prints help or the version and exits 0 for
 * --help and --version; prints an error and exits 2 for an invalid option.
 */
void options_parse(struct server_options *options, int argc, char **argv);

/*
 * Parses a duration such as "500ms", "30s", "5m", "1h" or "1d" into
 * nanoseconds.  Returns 0, or -EINVAL (no number or unknown unit) or
 * -ERANGE (above 2^64 - 1 ns).
 */
int parse_duration(const char *text, uint64_t *out_ns);

/* Writes a duration as the largest unit that divides it exactly, such as
 * "1h" or "1500ms", into buffer. */
void format_duration(uint64_t ns, char *buffer, size_t size);

#endif /* HTTPD_OPTIONS_H */
