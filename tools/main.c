/*
 * main.c - limitctl: inspect and change the credlimit limiters of a host
 *
 * Parses the global options, finds the command and runs it.  Also contains
 * the helpers every command uses for its usage errors and common options.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "limitctl.h"

static const char exit_status_help[] =
	"Exit status:\n"
	"  0  success\n"
	"  1  the operation failed (permission, segment, system error)\n"
	"  2  usage error: invalid command, option or value\n"
	"  3  not found: no such limiter, key or policy\n"
	"  4  check found problems\n"
	"  5  replay stopped at a malformed input line\n";

static const char common_options_help[] =
	"Options of every command:\n"
	"  --json         print one JSON document instead of text\n"
	"  --owner USER   open a limiter whose segments belong to USER (a\n"
	"                 name or numeric id); default: your effective\n"
	"                 user, or any user when run as root\n"
	"  -h, --help     print this help and exit\n";

void print_error(const char *format, ...)
{
	va_list args;

	fputs("limitctl: ", stderr);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);
}

int usage_error(const char *command, const char *format, ...)
{
	va_list args;

	fputs("limitctl: ", stderr);
	va_start(args, format);
	vfprintf(stderr, format, args);
	va_end(args);
	fputc('\n', stderr);

	if (command != NULL)
		fprintf(stderr, "Try 'limitctl %s --help'.\n", command);
	else
		fputs("Try 'limitctl --help'.\n", stderr);
	return EXIT_USAGE;
}

const struct limitctl_command *find_command(const char *name)
{
	for (const struct limitctl_command *c = limitctl_commands; c->name;
	     c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

void print_command_help(const struct limitctl_command *command, FILE *out)
{
	fprintf(out, "Usage: limitctl %s %s\n\n%s\n\n%s\n%s\n%s",
		command->name, command->synopsis, command->summary,
		command->help, common_options_help, exit_status_help);
}

static void print_main_help(FILE *out)
{
	static const char introduction[] =
		"Usage: limitctl [OPTIONS] COMMAND [ARGUMENTS]\n"
		"       limitctl help [COMMAND]\n\n"
		"Inspect and change credlimit limiters: credit-based rate\n"
		"limits that the processes of one host share in POSIX\n"
		"shared memory (/dev/shm/credlimit.NAME).  Inspection\n"
		"commands open a limiter read-only; only commands that\n"
		"change it open it read-write.\n\n"
		"Commands:\n";

	fputs(introduction, out);

	for (const struct limitctl_command *c = limitctl_commands; c->name;
	     c++)
		fprintf(out, "  %-9s %s\n", c->name, c->summary);

	fprintf(out,
		"\n%s"
		"  -V, --version  print the versions of limitctl and of the "
		"library, and exit\n\n"
		"The options above may also follow the command.  Run\n"
		"'limitctl COMMAND --help' for the arguments of a command.\n\n"
		"%s",
		common_options_help, exit_status_help);
}

static void print_version(bool json)
{
	if (json) {
		struct json out;

		json_init(&out, stdout);
		json_object_begin(&out);
		json_field_string(&out, "limitctl", CREDLIMIT_VERSION_STRING);
		json_field_string(&out, "library_compiled",
				  CREDLIMIT_VERSION_STRING);
		json_field_string(&out, "library_runtime",
				  credlimit_version_string());
		json_object_end(&out);
		return;
	}

	printf("limitctl %s\n", CREDLIMIT_VERSION_STRING);
	printf("compiled with credlimit %s, running with libcredlimit %s\n",
	       CREDLIMIT_VERSION_STRING, credlimit_version_string());
}

/* Returns true when command takes a KEY argument, which may start with
 * "-" and so be read as an option. */
static bool takes_key(const char *command)
{
	const struct limitctl_command *found =
		command != NULL ? find_command(command) : NULL;

	return found != NULL && strstr(found->synopsis, "KEY") != NULL;
}

int handle_common_option(int option, const char *command, char **argv,
			 struct limitctl_globals *globals)
{
	const char *offending = optind > 0 ? argv[optind - 1] : "";
	const char *hint;

	switch (option) {
	case OPT_HELP:
		print_command_help(find_command(command), stdout);
		return EXIT_OK;

	case OPT_JSON:
		globals->json = true;
		return OPTION_HANDLED;

	case OPT_OWNER:
		if (parse_user("--owner", optarg, &globals->owner) != EXIT_OK)
			return EXIT_USAGE;
		globals->owner_set = true;
		return OPTION_HANDLED;

	case ':':
		if (optopt != 0 && strncmp(offending, "--", 2) != 0)
			return usage_error(command, "option -%c needs a value",
					   optopt);
		return usage_error(command, "option %s needs a value",
				   offending);

	default:
		if (optopt != 0 && strncmp(offending, "--", 2) == 0)
			return usage_error(command, "option %s takes no value",
					   offending);
		hint = takes_key(command) ? "; to pass a key that starts "
					    "with \"-\", put -- before it"
					  : "";
		if (optopt != 0)
			return usage_error(command, "unknown option -%c%s",
					   optopt, hint);
		return usage_error(command, "unknown option %s%s", offending,
				   hint);
	}
}

int parse_name_only(const char *command, int argc, char **argv,
		    struct limitctl_globals *globals, const char **name)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	static const char *const arguments[] = { "NAME", NULL };
	int option;
	int status;

	while ((option = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		status = handle_common_option(option, command, argv, globals);
		if (status != OPTION_HANDLED)
			return status;
	}

	status = check_arguments(command, argc - optind, argv + optind,
				 arguments, 1);
	if (status == EXIT_OK)
		status = parse_limiter_name(argv[optind]);
	if (status != EXIT_OK)
		return status;
	*name = argv[optind];
	return OPTION_HANDLED;
}

int check_arguments(const char *command, int count, char **arguments,
		    const char *const *names, int required)
{
	int allowed = 0;

	while (names[allowed] != NULL)
		allowed++;

	if (count < required)
		return usage_error(command, "missing argument %s",
				   names[count]);
	if (count > allowed)
		return usage_error(command, "unexpected argument \"%s\"",
				   arguments[allowed]);
	return EXIT_OK;
}

static int run_help_command(int argc, char **argv)
{
	const struct limitctl_command *command;

	if (argc < 2) {
		print_main_help(stdout);
		return EXIT_OK;
	}

	command = find_command(argv[1]);
	if (command == NULL)
		return usage_error(NULL, "unknown command \"%s\"", argv[1]);
	print_command_help(command, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		LIMITCTL_COMMON_OPTIONS,
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct limitctl_globals globals = { 0 };
	const struct limitctl_command *command;
	bool version = false;
	int first_argument;
	int option;
	int status;

	/* "+": stop at the command name, whose options are its own. */
	opterr = 0;
	while ((option = getopt_long(argc, argv, "+:hV", options, NULL)) !=
	       -1) {
		if (option == 'V') {
			version = true;
			continue;
		}
		if (option == OPT_HELP) {
			print_main_help(stdout);
			return finish_output(EXIT_OK);
		}

		status = handle_common_option(option, NULL, argv, &globals);
		if (status != OPTION_HANDLED)
			return status;
	}

	if (version) {
		print_version(globals.json);
		return finish_output(EXIT_OK);
	}

	if (optind >= argc)
		return usage_error(NULL, "missing command");

	if (strcmp(argv[optind], "help") == 0)
		return finish_output(
			run_help_command(argc - optind, argv + optind));

	command = find_command(argv[optind]);
	if (command == NULL)
		return usage_error(NULL, "unknown command \"%s\"",
				   argv[optind]);

	/* Each command parses its own arguments from argv[0] = its name;
	 * optind 0 makes GNU getopt start over. */
	first_argument = optind;
	optind = 0;
	status = command->run(argc - first_argument, argv + first_argument,
			      &globals);
	return finish_output(status);
}
