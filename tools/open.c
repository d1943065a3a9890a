/*
 * open.c - opening a limiter for a command, and explaining failures
 *
 * Inspection commands open a limiter read-only; commands that change it
 * open it read-write.  Root accepts segments of any owner unless --owner
 * names one.  The library reports an owner or permission mismatch as
 * -EPERM or -EACCES without the owner, so the messages read the owner and
 * mode of /dev/shm/credlimit.NAME, where glibc keeps the segment.
 *
 * The library names the segment at fault, and why it refused it, only
 * through its log callback.  The messages logged during an open are kept
 * and printed as "detail:" lines when the open fails.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "limitctl.h"

/* At most this many messages of one open are kept; more are counted. */
#define OPEN_DETAILS_MAX 8
#define OPEN_DETAIL_TEXT_MAX 512

/* Messages the library logged since the last collect_open_details().  The
 * callback stays installed on the handle after a successful open, so the
 * messages of later calls collect here too, unprinted. */
static struct {
	char text[OPEN_DETAILS_MAX][OPEN_DETAIL_TEXT_MAX];
	int count;
	int left_out;
} open_details;

static void record_open_detail(void *context, int level, const char *message)
{
	(void)context;
	(void)level;

	if (open_details.count == OPEN_DETAILS_MAX) {
		open_details.left_out++;
		return;
	}

	snprintf(open_details.text[open_details.count],
		 sizeof(open_details.text[0]), "%s", message);
	open_details.count++;
}

void collect_open_details(struct credlimit_options *options)
{
	open_details.count = 0;
	open_details.left_out = 0;
	options->log = record_open_detail;
	options->log_context = NULL;
}

void print_open_details(void)
{
	for (int i = 0; i < open_details.count; i++)
		print_error("detail: %s", open_details.text[i]);
	if (open_details.left_out > 0)
		print_error("detail: %d more message%s left out",
			    open_details.left_out,
			    open_details.left_out == 1 ? "" : "s");

	open_details.count = 0;
	open_details.left_out = 0;
}

static void format_user(char *out, size_t out_size, uid_t uid)
{
	struct passwd *user = getpwuid(uid);

	if (user != NULL)
		snprintf(out, out_size, "%s (uid %u)", user->pw_name,
			 (unsigned)uid);
	else
		snprintf(out, out_size, "uid %u", (unsigned)uid);
}

/* Returns the user name of uid, or its number as text, for an --owner
 * value the user can paste. */
static void format_owner_argument(char *out, size_t out_size, uid_t uid)
{
	struct passwd *user = getpwuid(uid);

	if (user != NULL)
		snprintf(out, out_size, "%s", user->pw_name);
	else
		snprintf(out, out_size, "%u", (unsigned)uid);
}

static bool stat_segment(const char *name, struct stat *st)
{
	char path[sizeof("/dev/shm/credlimit.") + CREDLIMIT_NAME_MAX];

	snprintf(path, sizeof(path), "/dev/shm/credlimit.%s", name);
	return stat(path, st) == 0;
}

static int report_owner_mismatch(const char *name,
				 const struct limitctl_globals *globals)
{
	uid_t expected = globals->owner_set ? globals->owner : geteuid();
	char expected_text[128];
	char owner_text[128];
	char owner_argument[64];
	struct stat st;

	format_user(expected_text, sizeof(expected_text), expected);
	if (!stat_segment(name, &st)) {
		print_error("limiter \"%s\" belongs to another user than %s; "
			    "run limitctl as its owner or as root, or pass "
			    "--owner USER",
			    name, expected_text);
		return EXIT_FAILED;
	}

	format_user(owner_text, sizeof(owner_text), st.st_uid);
	format_owner_argument(owner_argument, sizeof(owner_argument),
			      st.st_uid);
	if (geteuid() == 0)
		print_error("limiter \"%s\" belongs to %s, not to %s; pass "
			    "--owner %s, or leave --owner out: root opens a "
			    "limiter of any owner",
			    name, owner_text, expected_text, owner_argument);
	else if (st.st_uid == 0)
		print_error("limiter \"%s\" belongs to %s, not to %s; run "
			    "limitctl as root, or pass --owner root",
			    name, owner_text, expected_text);
	else
		print_error("limiter \"%s\" belongs to %s, not to %s; run "
			    "limitctl as %s or as root, or pass --owner %s",
			    name, owner_text, expected_text, owner_argument,
			    owner_argument);
	return EXIT_FAILED;
}

static int report_permission_denied(const char *name, bool writable)
{
	const char *access = writable ? "read-write" : "read-only";
	char owner_text[128];
	struct stat st;

	if (!stat_segment(name, &st)) {
		print_error("cannot open limiter \"%s\" %s: permission denied; "
			    "run limitctl as a user the segment's permissions "
			    "allow",
			    name, access);
		return EXIT_FAILED;
	}

	format_user(owner_text, sizeof(owner_text), st.st_uid);
	print_error("cannot open limiter \"%s\" %s: permission denied by mode "
		    "%04o of /dev/shm/credlimit.%s, owned by %s; run limitctl "
		    "as a user that mode allows",
		    name, access, (unsigned)(st.st_mode & 07777), name,
		    owner_text);
	return EXIT_FAILED;
}

/* Prints why an open of a Redis URI or a lease name failed and returns
 * the exit status. */
static int explain_redis_open_error(const char *name, int error)
{
	switch (error) {
	case -ENOENT:
		if (!is_redis_uri(name)) {
			print_error("limiter \"%s\" not found: this host has no "
				    "such lease cache, or Redis has no "
				    "policies hash under the prefix; create "
				    "it with 'limitctl create %s'",
				    name, name);
			return EXIT_NOT_FOUND;
		}
		print_error("limiter \"%s\" not found: Redis has no policies "
			    "hash under its prefix; create it with 'limitctl "
			    "create %s'",
			    name, name);
		return EXIT_NOT_FOUND;

	case -EXDEV:
		print_error("cannot open limiter \"%s\": its lease cache holds "
			    "units of another Redis upstream; destroy the "
			    "lease cache or choose another name",
			    name);
		return EXIT_FAILED;

	case -EINVAL:
		print_error("invalid %s \"%s\"; see limitctl(1) for its form "
			    "and options",
			    is_redis_uri(name) ? "Redis URI" : "lease name", name);
		return EXIT_USAGE;

	case -EMEDIUMTYPE:
		print_error("cannot open limiter \"%s\": %s",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;

	case -EPROTONOSUPPORT:
		print_error("cannot open limiter \"%s\": this libcredlimit was "
			    "built without Redis support; rebuild it with "
			    "hiredis (Debian package libhiredis-dev)",
			    name);
		return EXIT_FAILED;

	default:
		print_error("cannot open limiter \"%s\": %s; check that Redis "
			    "runs there and answers within the timeout",
			    name, credlimit_strerror(error));
		return EXIT_FAILED;
	}
}

/* Prints why an open failed and returns the exit status. */
static int explain_open_error(const char *name, int error, bool writable,
			      const struct limitctl_globals *globals)
{
	if (counts_in_redis(name))
		return explain_redis_open_error(name, error);

	switch (error) {
	case -ENOENT:
		print_error("limiter \"%s\" not found: there is no "
			    "/dev/shm/credlimit.%s; create it with 'limitctl "
			    "create %s'",
			    name, name, name);
		return EXIT_NOT_FOUND;

	case -EPERM:
		return report_owner_mismatch(name, globals);

	case -EACCES:
		return report_permission_denied(name, writable);

	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -EMSGSIZE:
	case -ENODATA:
	case -EBADMSG:
		/* The control segment or the table segment may be at
		 * fault: the detail lines name the one. */
		print_error("cannot open limiter \"%s\": %s; one of its "
			    "segments is not valid for libcredlimit %s "
			    "('limitctl destroy %s' removes them)",
			    name, credlimit_strerror(error),
			    credlimit_version_string(), name);
		return EXIT_FAILED;

	default:
		print_error("cannot open limiter \"%s\": %s", name,
			    credlimit_strerror(error));
		return EXIT_FAILED;
	}
}

int report_open_error(const char *name, int error, bool writable,
		      const struct limitctl_globals *globals)
{
	int status = explain_open_error(name, error, writable, globals);

	/* A missing control segment is all the library can report then,
	 * and the message above names it already. */
	if (error != -ENOENT)
		print_open_details();
	return status;
}

int open_limiter(const char *name, bool writable,
		 const struct limitctl_globals *globals, credlimit_t **out)
{
	struct credlimit_options options;
	unsigned flags = writable ? 0 : CREDLIMIT_OPEN_RDONLY;
	int error;

	credlimit_options_init(&options);
	if (globals->owner_set)
		options.owner = globals->owner;
	else if (geteuid() == 0)
		flags |= CREDLIMIT_OPEN_ANY_OWNER;

	collect_open_details(&options);
	error = credlimit_open(name, flags, &options, out);
	if (error < 0)
		return report_open_error(name, error, writable, globals);

	return EXIT_OK;
}

int report_key_error(const char *action, const char *name,
		     const struct limitctl_key *key, int error)
{
	char key_text[KEY_TEXT_MAX];

	escape_bytes(key_text, sizeof(key_text), key->bytes, key->len);
	if (error == -ENOENT) {
		print_error("key \"%s\" not found in limiter \"%s\"; "
			    "'limitctl list %s' shows the keys it has",
			    key_text, name, name);
		return EXIT_NOT_FOUND;
	}

	print_error("cannot %s key \"%s\" in limiter \"%s\": %s", action,
		    key_text, name, credlimit_strerror(error));
	return EXIT_FAILED;
}

int finish_output(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		print_error("cannot write to standard output: %s",
			    strerror(errno));
		return status == EXIT_OK ? EXIT_FAILED : status;
	}

	return status;
}
