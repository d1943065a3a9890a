/*
 * limitctl.h - declarations shared by the files of the limitctl admin tool
 *
 * limitctl inspects and changes the credlimit limiters of one host through
 * the public API of libcredlimit only.  main.c parses the global options and
 * runs one command; each cmd_*.c file implements one command.
 */
#ifndef LIMITCTL_H
#define LIMITCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <credlimit.h>

#include "json.h"

#define ARRAY_SIZE(array) (sizeof(array) / sizeof((array)[0]))

/* Exit statuses, documented in the usage text and in limitctl(1). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,     /* the operation failed: library or system error */
	EXIT_USAGE = 2,      /* invalid command line */
	EXIT_NOT_FOUND = 3,  /* no such limiter, key or policy */
	EXIT_PROBLEMS = 4,   /* check found problems */
	EXIT_BAD_INPUT = 5,  /* replay met a malformed trace line */
};

/* Options that every command accepts, before or after the command name. */
struct limitctl_globals {
	bool json;          /* print one JSON document instead of text */
	bool owner_set;     /* --owner was given */
	uid_t owner;        /* user an existing segment must belong to */
};

/* A key given on the command line, literally or as hex digits. */
struct limitctl_key {
	uint8_t *bytes; /* owned: free() it */
	size_t len;
};

/* One command: its name, its function and its help text. */
struct limitctl_command {
	const char *name;
	int (*run)(int argc, char **argv, struct limitctl_globals *globals);
	const char *synopsis; /* one line: arguments after the command name */
	const char *summary;  /* one line: what it does */
	const char *help;     /* options and arguments, one per line */
};

extern const struct limitctl_command limitctl_commands[];

/* Long options every command accepts; commands append theirs after these
 * with LIMITCTL_COMMON_OPTIONS. */
enum {
	OPT_HELP = 'h',
	OPT_JSON = 0x100,
	OPT_OWNER,
	OPT_HEX,
	OPT_FIRST_COMMAND_OPTION, /* first value free for a command's options */
};

#define LIMITCTL_COMMON_OPTIONS                                              \
	{ "help", no_argument, NULL, OPT_HELP },                             \
	{ "json", no_argument, NULL, OPT_JSON },                             \
	{ "owner", required_argument, NULL, OPT_OWNER }

/* main.c */
const struct limitctl_command *find_command(const char *name);
void print_command_help(const struct limitctl_command *command, FILE *out);
int usage_error(const char *command, const char *format, ...)
	__attribute__((format(printf, 2, 3)));
/* Value of handle_common_option(): the option was handled, go on. */
#define OPTION_HANDLED (-1)
int handle_common_option(int option, const char *command, char **argv,
			 struct limitctl_globals *globals);
int check_arguments(const char *command, int count, char **arguments,
		    const char *const *names, int required);
/* Parses the command line of a command whose only argument is the limiter
 * NAME.  Returns OPTION_HANDLED with *name set, or the status to exit with
 * (EXIT_OK after --help). */
int parse_name_only(const char *command, int argc, char **argv,
		    struct limitctl_globals *globals, const char **name);
void print_error(const char *format, ...)
	__attribute__((format(printf, 1, 2)));

/* Largest table capacity that libcredlimit accepts, in slots. */
#define CAPACITY_MAX CREDLIMIT_CAPACITY_MAX

/* parse.c: each returns 0, or prints an error naming `option` and returns
 * EXIT_USAGE. */
int parse_u64(const char *option, const char *text, uint64_t min,
	      uint64_t max, uint64_t *out);
/* Parses a table capacity: 1 to CAPACITY_MAX slots. */
int parse_capacity(const char *option, const char *text, uint64_t *out);
int parse_u32(const char *option, const char *text, uint32_t min,
	      uint32_t *out);
int parse_duration(const char *option, const char *text, uint64_t *out_ns);
int parse_window(const char *option, const char *text, uint64_t *out_ns);
int parse_mode(const char *option, const char *text, mode_t *out);
int parse_user(const char *option, const char *text, uid_t *out);
int parse_key(const char *text, bool hex, struct limitctl_key *out);
int parse_limiter_name(const char *text);
/* Returns true when text names a limiter on Redis (redis://...). */
bool is_redis_uri(const char *text);
/* True for a Redis URI, and for a lease name ("shm:NAME?...&upstream=URI"),
 * whose commands other than stats go to Redis as well. */
bool counts_in_redis(const char *text);
int parse_policy_name(const char *text);
int parse_name_and_key(const char *command, int count, char **arguments,
		       bool hex, const char **name, struct limitctl_key *key);
bool parse_decimal_u64(const char *text, size_t len, uint64_t *out);

/* format.c */
/* Room for an escaped stored key, "...", "#", 8 hex digits and a NUL. */
#define KEY_TEXT_MAX (CREDLIMIT_KEY_INLINE_MAX * 4 + 13)
void escape_bytes(char *out, size_t out_size, const uint8_t *bytes,
		  size_t len);
/* Writes the escaped key of entry; a hashed key gets "..." and, with
 * with_digest, "#" and the first 8 hex digits of its digest. */
void format_entry_key(char *out, size_t out_size,
		      const struct credlimit_entry *entry, bool with_digest);
void format_hex(char *out, size_t out_size, const uint8_t *bytes,
		size_t len);
void format_duration_exact(char *out, size_t out_size, uint64_t ns);
void format_duration_short(char *out, size_t out_size, uint64_t ns);
void format_age(char *out, size_t out_size, uint64_t then_ns,
		uint64_t now_ns);
const char *full_action_name(int full_action);
uint64_t monotonic_now_ns(void);
/* Returns the time to pass to the library: CREDLIMIT_NOW on Redis, so
 * that the server's clock applies, else now_ns. */
uint64_t limiter_query_ns(const char *name, uint64_t now_ns);

/* open.c */
/* Installs a log callback in *options that keeps the library's messages
 * for print_open_details(), and forgets those kept before. */
void collect_open_details(struct credlimit_options *options);
/* Prints each kept message as "limitctl: detail: ..." and forgets them. */
void print_open_details(void);
int open_limiter(const char *name, bool writable,
		 const struct limitctl_globals *globals, credlimit_t **out);
/* Prints why opening limiter name failed, then the kept library
 * messages, and returns the exit status. */
int report_open_error(const char *name, int error, bool writable,
		      const struct limitctl_globals *globals);
int report_key_error(const char *action, const char *name,
		     const struct limitctl_key *key, int error);
int finish_output(int status);

/* policies.c */
struct policy_table {
	int count; /* entries in info[] */
	struct credlimit_policy_info info[CREDLIMIT_POLICY_MAX];
};
int load_policies(credlimit_t *cl, struct policy_table *table);
const char *policy_name(const struct policy_table *table, int id);
void print_policy_numbers(FILE *out, const struct credlimit_policy *p);
void json_policy(struct json *json, const struct credlimit_policy_info *info);
int check_initial_credits(const struct credlimit_policy *p);
int find_policy(credlimit_t *cl, const char *limiter, const char *name,
		int *id);

/* entry.c */
struct entry_view {
	struct credlimit_entry entry;
	uint64_t used_now; /* base requests used in the current window */
};
void entry_view_init(struct entry_view *view,
		     const struct credlimit_entry *entry);
void json_entry(struct json *json, const struct entry_view *view,
		const struct policy_table *policies, uint64_t now_ns);
void print_entry_detail(FILE *out, const struct entry_view *view,
			const struct policy_table *policies, uint64_t now_ns);
void json_result(struct json *json, const struct credlimit_result *result,
		 const struct policy_table *policies);
const char *verdict_name(int verdict);
void json_key_fields(struct json *json, const struct limitctl_key *key);

/* The commands, in cmd_*.c. */
int cmd_create(int argc, char **argv, struct limitctl_globals *globals);
int cmd_list(int argc, char **argv, struct limitctl_globals *globals);
int cmd_show(int argc, char **argv, struct limitctl_globals *globals);
int cmd_acquire(int argc, char **argv, struct limitctl_globals *globals);
int cmd_reset(int argc, char **argv, struct limitctl_globals *globals);
int cmd_set(int argc, char **argv, struct limitctl_globals *globals);
int cmd_policy(int argc, char **argv, struct limitctl_globals *globals);
int cmd_grow(int argc, char **argv, struct limitctl_globals *globals);
int cmd_stats(int argc, char **argv, struct limitctl_globals *globals);
int cmd_check(int argc, char **argv, struct limitctl_globals *globals);
int cmd_destroy(int argc, char **argv, struct limitctl_globals *globals);
int cmd_replay(int argc, char **argv, struct limitctl_globals *globals);

#endif /* LIMITCTL_H */
