/*
 * options.c - command-line options of prefork-httpd
 *
 * Parses argv with getopt_long and checks each value against the range the
 * server or libcredlimit accepts.  An invalid value ends the program with
 * exit status 2 and a message naming the option, the value and the fix.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "options.h"

#define DEFAULT_NAME "prefork-httpd"
#define DEFAULT_LISTEN "127.0.0.1:8080"
#define WORKERS_MAX 1024
#define CONNECTIONS_MAX 65536
#define TIMEOUT_MAX_NS (UINT64_C(86400) * 1000000000)

enum {
	OPT_MAX_REQUESTS = 256,
	OPT_WINDOW,
	OPT_MAX_CREDITS,
	OPT_INITIAL_CREDITS,
	OPT_CAPACITY,
	OPT_MAX_CAPACITY,
	OPT_FULL_ACTION,
	OPT_RECREATE,
	OPT_UNLINK_ON_EXIT,
	OPT_MAX_CONNECTIONS,
	OPT_TIMEOUT,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "name", required_argument, NULL, 'n' },
	{ "listen", required_argument, NULL, 'l' },
	{ "workers", required_argument, NULL, 'w' },
	{ "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "max-credits", required_argument, NULL, OPT_MAX_CREDITS },
	{ "initial-credits", required_argument, NULL, OPT_INITIAL_CREDITS },
	{ "capacity", required_argument, NULL, OPT_CAPACITY },
	{ "max-capacity", required_argument, NULL, OPT_MAX_CAPACITY },
	{ "full-action", required_argument, NULL, OPT_FULL_ACTION },
	{ "recreate", no_argument, NULL, OPT_RECREATE },
	{ "unlink-on-exit", no_argument, NULL, OPT_UNLINK_ON_EXIT },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static unsigned default_workers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		cpus = 1;
	if (cpus > WORKERS_MAX / 2)
		cpus = WORKERS_MAX / 2;
	return (unsigned)cpus * 2;
}

static void print_help(const struct credlimit_options *defaults)
{
	const struct credlimit_policy *p = &defaults->default_policy;
	char window[32];

	format_duration(p->window_ns, window, sizeof(window));

	printf("Usage: prefork-httpd [OPTION]...\n"
	       "A prefork HTTP/1.1 server that rate-limits every GET and HEAD request\n"
	       "with credlimit.  The master creates the limiter and the listening\n"
	       "socket, then forks workers that share both.  The customer key is the\n"
	       "X-Api-Key request header, else the client's IP address.\n"
	       "\n"
	       "Server:\n"
	       "  -l, --listen ADDR:PORT    address to listen on, IPv4 or [IPv6]; port 0\n"
	       "                            lets the kernel pick one, which is logged\n"
	       "                            (default %s)\n"
	       "  -w, --workers N           worker processes, 1 to %d (default %u: twice\n"
	       "                            the online CPUs)\n"
	       "      --max-connections N   open connections per worker, 1 to %d\n"
	       "                            (default 256)\n"
	       "      --timeout DURATION    time allowed to receive a request or send a\n"
	       "                            response (default 10s)\n"
	       "      --keepalive-timeout DURATION\n"
	       "                            idle time after which a keep-alive connection\n"
	       "                            is closed (default 5s)\n"
	       "\n"
	       "Limiter (segment /credlimit.NAME in /dev/shm):\n"
	       "  -n, --name NAME           limiter name, [A-Za-z0-9._-], at most %d bytes,\n"
	       "                            not starting with '.' nor ending in \".g\" and\n"
	       "                            digits, which table segments use\n"
	       "                            (default %s)\n"
	       "      --recreate            unlink an existing limiter of that name first,\n"
	       "                            so every customer starts anew; without it an\n"
	       "                            existing limiter is reused with its counts\n"
	       "      --unlink-on-exit      remove the limiter when the server stops; by\n"
	       "                            default it stays for limitctl to inspect\n"
	       "      --capacity N          table slots when creating, 1 to 4294967296,\n"
	       "                            at least 8\n"
	       "                            (default %" PRIu64 ")\n"
	       "      --max-capacity N      max slots the table may grow to, doubling\n"
	       "                            into a new generation when half full; 0 to\n"
	       "                            4294967296, 0 meaning equal to --capacity,\n"
	       "                            so it never grows (default 0)\n"
	       "      --full-action deny|allow\n"
	       "                            answer for a new customer when the table is\n"
	       "                            full: deny with 503, or allow untracked\n"
	       "                            (default deny)\n"
	       "\n"
	       "Policy \"default\", applied to every customer:\n"
	       "      --max-requests R      requests per window, 1 to 4294967295\n"
	       "                            (default %" PRIu32 ")\n"
	       "      --window DURATION     window length, 1ms to 366d (default %s)\n"
	       "      --max-credits C       cap on credits saved from unused requests of\n"
	       "                            earlier windows, 0 to 4294967295 (default %" PRIu32 ")\n"
	       "      --initial-credits I   credits of a customer seen for the first time,\n"
	       "                            0 to C (default %" PRIu32 ")\n"
	       "A new customer may make R + I requests in its first window.  When the\n"
	       "limiter exists already, its policy \"default\" is changed to these\n"
	       "numbers; customers keep their counts.\n"
	       "\n"
	       "DURATION is a whole number followed by a unit: ms, s, m, h or d.\n"
	       "\n"
	       "  -h, --help                show this help and exit\n"
	       "      --version             show the server and library versions and exit\n"
	       "\n"
	       "SIGTERM or SIGINT stops the server: it stops accepting, lets the workers\n"
	       "finish the responses in progress, and waits for them.\n",
	       DEFAULT_LISTEN, WORKERS_MAX, default_workers(), CONNECTIONS_MAX,
	       CREDLIMIT_NAME_MAX, DEFAULT_NAME, defaults->initial_capacity,
	       p->max_requests, window, p->max_credits, p->initial_credits);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *format, ...)
{
	va_list args;

	fputs("prefork-httpd: ", stderr);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputs("\nTry 'prefork-httpd --help' for more information.\n", stderr);
	exit(2);
}

/* Parses a decimal number without sign, spaces or trailing characters. */
static int parse_uint64(const char *text, uint64_t *out)
{
	unsigned long long value;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;

	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;

	*out = value;
	return 0;
}

static uint64_t parse_number_option(const char *option, const char *text,
				    uint64_t min, uint64_t max)
{
	uint64_t value;
	int rc = parse_uint64(text, &value);

	if (rc == -EINVAL)
		usage_error("invalid %s '%s': expected a whole number from %" PRIu64
			    " to %" PRIu64,
			    option, text, min, max);
	if (rc == -ERANGE || value < min || value > max)
		usage_error("%s %s is out of range: use a whole number from %" PRIu64
			    " to %" PRIu64,
			    option, text, min, max);
	return value;
}

int parse_duration(const char *text, uint64_t *out_ns)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "ms", UINT64_C(1000000) },
		{ "s", UINT64_C(1000000000) },
		{ "m", UINT64_C(60) * 1000000000 },
		{ "h", UINT64_C(3600) * 1000000000 },
		{ "d", UINT64_C(86400) * 1000000000 },
	};
	unsigned long long count;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;

	errno = 0;
	count = strtoull(text, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (count > UINT64_MAX / units[i].ns)
			return -ERANGE;
		*out_ns = count * units[i].ns;
		return 0;
	}
	return -EINVAL;
}

void format_duration(uint64_t ns, char *buffer, size_t size)
{
	static const struct {
		const char *suffix;
		uint64_t ns;
	} units[] = {
		{ "d", UINT64_C(86400) * 1000000000 },
		{ "h", UINT64_C(3600) * 1000000000 },
		{ "m", UINT64_C(60) * 1000000000 },
		{ "s", UINT64_C(1000000000) },
		{ "ms", UINT64_C(1000000) },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ns != 0 && ns % units[i].ns == 0) {
			snprintf(buffer, size, "%" PRIu64 "%s", ns / units[i].ns,
				 units[i].suffix);
			return;
		}
	}
	snprintf(buffer, size, "%" PRIu64 "ns", ns);
}

static uint64_t parse_duration_option(const char *option, const char *text,
				      uint64_t min_ns, uint64_t max_ns,
				      const char *range)
{
	uint64_t ns;
	int rc = parse_duration(text, &ns);

	if (rc == -EINVAL)
		usage_error("invalid %s '%s': expected a whole number and a unit "
			    "(ms, s, m, h or d), such as 30s or 1h",
			    option, text);
	if (rc == -ERANGE || ns < min_ns || ns > max_ns)
		usage_error("%s %s is out of range: use %s", option, text, range);
	return ns;
}

/* Returns true when name ends in ".g" and one or more digits, the suffix
 * of the table segments "/credlimit.NAME.gN". */
static bool ends_like_table_segment(const char *name)
{
	size_t len = strlen(name);
	size_t digits = 0;

	while (digits < len && name[len - 1 - digits] >= '0' &&
	       name[len - 1 - digits] <= '9')
		digits++;

	return digits > 0 && len >= digits + 2 && name[len - digits - 1] == 'g' &&
	       name[len - digits - 2] == '.';
}

/* Parses a table capacity in slots: min (0 or 1) to 2^32, the largest
 * table libcredlimit accepts. */
static uint64_t parse_capacity_option(const char *option, const char *text,
				      uint64_t min)
{
	const uint64_t max = UINT64_C(1) << 32;
	uint64_t value;

	if (parse_uint64(text, &value) != 0 || value < min || value > max)
		usage_error("invalid %s '%s': expected a whole number of slots "
			    "from %" PRIu64 " to %" PRIu64 " (2^32)%s",
			    option, text, min, max,
			    min == 0 ? ", 0 meaning equal to --capacity" : "");
	return value;
}

static void check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		usage_error("invalid --name '': the limiter name must not be empty");
	if (len > CREDLIMIT_NAME_MAX)
		usage_error("invalid --name: %zu bytes is longer than the maximum of %d",
			    len, CREDLIMIT_NAME_MAX);
	if (name[0] == '.')
		usage_error("invalid --name '%s': it must not start with '.'", name);
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") != len)
		usage_error("invalid --name '%s': use only letters, digits, '.', '_' and '-'",
			    name);
	if (ends_like_table_segment(name))
		usage_error("invalid --name '%s': a name may not end in \".g\" and digits, "
			    "which table segments use; choose another name",
			    name);
}

static void check_policy(const struct server_options *options)
{
	const struct credlimit_policy *p = &options->policy;

	if (p->initial_credits > p->max_credits)
		usage_error("--initial-credits %" PRIu32 " exceeds --max-credits %" PRIu32
			    ": lower --initial-credits or raise --max-credits",
			    p->initial_credits, p->max_credits);

	/* The checks above cover the documented ranges; this catches any
	 * range the library adds later. */
	if (credlimit_policy_validate(p) != 0)
		usage_error("the policy R=%" PRIu32 " window=%" PRIu64
			    "ns C=%" PRIu32 " I=%" PRIu32 " is invalid for libcredlimit %s",
			    p->max_requests, p->window_ns, p->max_credits,
			    p->initial_credits, credlimit_version_string());
}

static void set_defaults(struct server_options *options,
			 const struct credlimit_options *defaults)
{
	memset(options, 0, sizeof(*options));
	options->name = DEFAULT_NAME;
	options->listen_text = DEFAULT_LISTEN;
	options->workers = default_workers();
	options->max_connections = 256;
	options->request_timeout_ns = UINT64_C(10) * 1000000000;
	options->keepalive_timeout_ns = UINT64_C(5) * 1000000000;
	options->policy = defaults->default_policy;
	options->capacity = defaults->initial_capacity;
	options->max_capacity = 0;
	options->full_action = CREDLIMIT_FULL_DENY;
}

void options_parse(struct server_options *options, int argc, char **argv)
{
	struct credlimit_options defaults;
	const char *error;
	int opt;

	credlimit_options_init(&defaults);
	set_defaults(options, &defaults);

	while ((opt = getopt_long(argc, argv, "n:l:w:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'n':
			options->name = optarg;
			break;
		case 'l':
			options->listen_text = optarg;
			break;
		case 'w':
			options->workers = (unsigned)parse_number_option(
				"--workers", optarg, 1, WORKERS_MAX);
			break;
		case OPT_MAX_CONNECTIONS:
			options->max_connections = (unsigned)parse_number_option(
				"--max-connections", optarg, 1, CONNECTIONS_MAX);
			break;
		case OPT_TIMEOUT:
			options->request_timeout_ns = parse_duration_option(
				"--timeout", optarg, UINT64_C(1000000), TIMEOUT_MAX_NS,
				"a duration from 1ms to 1d");
			break;
		case OPT_KEEPALIVE_TIMEOUT:
			options->keepalive_timeout_ns = parse_duration_option(
				"--keepalive-timeout", optarg, UINT64_C(1000000),
				TIMEOUT_MAX_NS, "a duration from 1ms to 1d");
			break;
		case OPT_MAX_REQUESTS:
			options->policy.max_requests = (uint32_t)parse_number_option(
				"--max-requests", optarg, 1, UINT32_MAX);
			break;
		case OPT_WINDOW:
			options->policy.window_ns = parse_duration_option(
				"--window", optarg, CREDLIMIT_WINDOW_MIN_NS,
				CREDLIMIT_WINDOW_MAX_NS, "a duration from 1ms to 366d");
			break;
		case OPT_MAX_CREDITS:
			options->policy.max_credits = (uint32_t)parse_number_option(
				"--max-credits", optarg, 0, UINT32_MAX);
			break;
		case OPT_INITIAL_CREDITS:
			options->policy.initial_credits = (uint32_t)parse_number_option(
				"--initial-credits", optarg, 0, UINT32_MAX);
			break;
		case OPT_CAPACITY:
			options->capacity =
				parse_capacity_option("--capacity", optarg, 1);
			break;
		case OPT_MAX_CAPACITY:
			options->max_capacity =
				parse_capacity_option("--max-capacity", optarg, 0);
			break;
		case OPT_FULL_ACTION:
			if (strcmp(optarg, "deny") == 0)
				options->full_action = CREDLIMIT_FULL_DENY;
			else if (strcmp(optarg, "allow") == 0)
				options->full_action = CREDLIMIT_FULL_ALLOW;
			else
				usage_error("invalid --full-action '%s': use deny or allow",
					    optarg);
			break;
		case OPT_RECREATE:
			options->recreate = true;
			break;
		case OPT_UNLINK_ON_EXIT:
			options->unlink_on_exit = true;
			break;
		case 'h':
			print_help(&defaults);
			exit(0);
		case OPT_VERSION:
			printf("prefork-httpd (credlimit example) %s, libcredlimit %s\n",
			       CREDLIMIT_VERSION_STRING, credlimit_version_string());
			exit(0);
		default:
			/* getopt_long printed what was wrong. */
			fputs("Try 'prefork-httpd --help' for more information.\n", stderr);
			exit(2);
		}
	}

	if (optind < argc)
		usage_error("unexpected argument '%s': this server takes options only",
			    argv[optind]);

	check_name(options->name);
	check_policy(options);

	if (options->max_capacity != 0 && options->max_capacity < options->capacity)
		usage_error("invalid --max-capacity %" PRIu64 ": it must be at least the "
			    "capacity (%" PRIu64 "); raise --max-capacity, lower --capacity, "
			    "or use 0 for a max capacity equal to --capacity",
			    options->max_capacity, options->capacity);

	error = listener_parse_address(options->listen_text,
				       &options->listen_address,
				       &options->listen_address_len);
	if (error)
		usage_error("invalid --listen '%s': %s", options->listen_text, error);
}
