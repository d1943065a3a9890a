/*
 * test_api.c - unit tests of the public API end to end
 *
 * Opens private limiters and named ones (segments named by unit_name()
 * and always unlinked), and checks every public call with exact numbers
 * at explicit times.  Covered: argument errors, segment names and modes,
 * decisions, peek, reset, set_credits, lookup, foreach, statistics,
 * read-only handles, keys of every size and threads sharing one key.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/layout.h"
#include "unit.h"

/* A named limiter for one test: the test opens it, the teardown closes
 * both handles and removes the segments, whatever the test did. */
struct named_fixture {
	char name[64];
	credlimit_t *cl;
	credlimit_t *other;
};

static int named_setup(void **ctx)
{
	struct named_fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	unit_name(f->name, "api");
	*ctx = f;
	return 0;
}

static int named_teardown(void **ctx)
{
	struct named_fixture *f = *ctx;

	credlimit_close(f->cl);
	credlimit_close(f->other);
	credlimit_unlink(f->name);
	free(f);
	return 0;
}

/* Creates the fixture's limiter with the given default policy. */
static void named_create(struct named_fixture *f, uint32_t max_requests,
			 uint64_t window_ns, uint32_t max_credits,
			 uint32_t initial_credits)
{
	struct credlimit_options o = unit_options(max_requests, window_ns,
						  max_credits, initial_credits,
						  64);

	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&o, &f->cl),
			 0);
}

static credlimit_t *open_private(uint32_t max_requests, uint64_t window_ns,
				 uint32_t max_credits, uint32_t initial_credits)
{
	struct credlimit_options o = unit_options(max_requests, window_ns,
						  max_credits, initial_credits,
						  64);
	credlimit_t *cl = NULL;

	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	assert_non_null(cl);
	return cl;
}

/* Path of a segment in /dev/shm: suffix "" for the control segment,
 * ".g1" for the first table. */
static const char *segment_path(char buf[300], const char *name,
				const char *suffix)
{
	snprintf(buf, 300, "/dev/shm/credlimit.%s%s", name, suffix);
	return buf;
}

static bool segment_exists(const char *name, const char *suffix)
{
	char path[300];

	return access(segment_path(path, name, suffix), F_OK) == 0;
}

static struct credlimit_stats stats_of(credlimit_t *cl)
{
	struct credlimit_stats st;

	assert_int_equal(credlimit_stats(cl, &st), 0);
	return st;
}

static struct credlimit_entry lookup_of(credlimit_t *cl, const void *key,
					size_t key_len, uint64_t now_ns)
{
	struct credlimit_entry e;

	assert_int_equal(credlimit_lookup(cl, key, key_len, now_ns, &e), 0);
	return e;
}

/* Fills a key of len bytes with a pattern that depends on seed. */
static uint8_t *make_key(size_t len, unsigned seed)
{
	uint8_t *key = malloc(len);

	assert_non_null(key);
	for (size_t i = 0; i < len; i++)
		key[i] = (uint8_t)(i * 131 + seed * 17 + (i >> 8));
	return key;
}

static void version_matches_macros(void **ctx)
{
	char text[32];

	assert_int_equal(credlimit_version_number(), CREDLIMIT_VERSION_NUMBER);
	assert_int_equal(CREDLIMIT_VERSION_NUMBER,
			 CREDLIMIT_VERSION_MAJOR * 10000 +
				 CREDLIMIT_VERSION_MINOR * 100 +
				 CREDLIMIT_VERSION_PATCH);
	assert_string_equal(credlimit_version_string(),
			    CREDLIMIT_VERSION_STRING);

	snprintf(text, sizeof(text), "%d.%d.%d", CREDLIMIT_VERSION_MAJOR,
		 CREDLIMIT_VERSION_MINOR, CREDLIMIT_VERSION_PATCH);
	assert_string_equal(credlimit_version_string(), text);
}

static void strerror_documented_errors(void **ctx)
{
	static const int errors[] = {
		-EINVAL,	  -ENAMETOOLONG, -E2BIG,    -ENOENT,
		-EEXIST,	  -EACCES,	 -EPERM,    -EPROTO,
		-EPROTONOSUPPORT, -EMSGSIZE,	 -ENODATA,  -EBADMSG,
		-EROFS,		  -ENOSPC,	 -ERANGE,   -EBUSY,
		-ENOMEM,
	};
	const size_t count = sizeof(errors) / sizeof(errors[0]);

	assert_string_equal(credlimit_strerror(0), "success");

	for (size_t i = 0; i < count; i++) {
		const char *text = credlimit_strerror(errors[i]);

		assert_non_null(text);
		assert_true(text[0] != '\0');
		assert_string_not_equal(text, "unknown error");
		assert_string_not_equal(text, "success");

		/* Each documented error has its own description. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(text,
						credlimit_strerror(errors[j]));
	}
}

/* Values that are no errno, INT_MIN included (negating it would be
 * undefined behaviour), get a generic text. */
static void strerror_other_values(void **ctx)
{
	static const int values[] = { 1, 42, INT_MAX, -EAGAIN, -EINTR,
				      -4095, -100000, INT_MIN + 1, INT_MIN };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *text = credlimit_strerror(values[i]);

		assert_non_null(text);
		assert_true(text[0] != '\0');
	}
	assert_string_equal(credlimit_strerror(1), "unknown error");
	assert_string_equal(credlimit_strerror(-100000), "unknown error");
}

static void options_init_defaults(void **ctx)
{
	struct credlimit_options o;

	memset(&o, 0xff, sizeof(o));
	credlimit_options_init(&o);

	assert_int_equal(o.initial_capacity, 4096);
	assert_int_equal(o.max_capacity, 0);
	assert_int_equal(o.default_policy.max_requests, 60);
	assert_int_equal(o.default_policy.window_ns, 60 * SEC);
	assert_int_equal(o.default_policy.max_credits, 60);
	assert_int_equal(o.default_policy.initial_credits, 0);
	assert_int_equal(o.mode, 0600);
	assert_int_equal(o.full_action, CREDLIMIT_FULL_DENY);
	assert_null(o.log);
	assert_null(o.log_context);
	assert_int_equal(credlimit_policy_validate(&o.default_policy), 0);
}

static void open_rejects_bad_flags(void **ctx)
{
	char name[64];
	/* A non-NULL start value: a failed open must set *out to NULL. */
	credlimit_t *cl = (credlimit_t *)&cl;

	unit_name(name, "api");

	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE, NULL,
					NULL),
			 -EINVAL);
	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, NULL,
					NULL),
			 -EINVAL);

	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE | 1u << 7,
					NULL, &cl),
			 -EINVAL);
	assert_null(cl);

	cl = (credlimit_t *)&cl;
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_EXCL, NULL, &cl),
			 -EINVAL);
	assert_null(cl);

	cl = (credlimit_t *)&cl;
	assert_int_equal(credlimit_open(name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_RDONLY,
					NULL, &cl),
			 -EINVAL);
	assert_null(cl);

	cl = (credlimit_t *)&cl;
	assert_int_equal(credlimit_open(NULL, 0, NULL, &cl), -EINVAL);
	assert_null(cl);
	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_RDONLY, NULL,
					&cl),
			 -EINVAL);

	assert_false(segment_exists(name, ""));
	assert_false(segment_exists(name, ".g1"));
}

static void open_rejects_bad_names(void **ctx)
{
	static const char *const invalid[] = {
		"",	"a/b",	 "/abc", "..",	   "../x", ".",
		".x",	"a b",	 "a\n",	 "a:b",	   "a*",   "\xc3\xa9",
	};
	char too_long[CREDLIMIT_NAME_MAX + 2];
	credlimit_t *cl = NULL;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		assert_int_equal(credlimit_open(invalid[i],
						CREDLIMIT_OPEN_CREATE, NULL,
						&cl),
				 -EINVAL);
		assert_null(cl);
		assert_int_equal(credlimit_open(invalid[i], 0, NULL, &cl),
				 -EINVAL);
		assert_int_equal(credlimit_unlink(invalid[i]), -EINVAL);
	}
	assert_int_equal(credlimit_unlink(NULL), -EINVAL);

	memset(too_long, 'n', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(credlimit_open(too_long, CREDLIMIT_OPEN_CREATE, NULL,
					&cl),
			 -ENAMETOOLONG);
	assert_null(cl);
	assert_int_equal(credlimit_unlink(too_long), -ENAMETOOLONG);
}

/* A name of exactly CREDLIMIT_NAME_MAX bytes works. */
static void open_longest_name(void **ctx)
{
	char name[CREDLIMIT_NAME_MAX + 1];
	struct credlimit_options o = unit_options(3, SEC, 0, 0, 8);
	credlimit_t *cl = NULL;
	int opened, removed = -1;
	bool control, table;

	unit_name(name, "api");
	memset(name + strlen(name), 'x', sizeof(name) - 1 - strlen(name));
	name[CREDLIMIT_NAME_MAX] = '\0';

	opened = credlimit_open(name,
				CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL,
				&o, &cl);
	control = segment_exists(name, "");
	table = segment_exists(name, ".g1");
	if (opened == 0)
		removed = credlimit_unlink(name);
	credlimit_close(cl);

	assert_int_equal(opened, 0);
	assert_true(control);
	assert_true(table);
	assert_int_equal(removed, 0);
	assert_false(segment_exists(name, ""));
}

static void open_rejects_bad_options(void **ctx)
{
	struct credlimit_options bad[18];
	size_t count = 0;
	char name[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad[i] = unit_options(3, SEC, 5, 0, 64);

	bad[count++].initial_capacity = 0;
	bad[count++].initial_capacity = UINT64_MAX;
	bad[count].initial_capacity = 64;
	bad[count++].max_capacity = 32;
	bad[count++].max_capacity = UINT64_MAX;
	bad[count++].mode = 0400;
	bad[count++].mode = 0200;
	bad[count++].mode = 0;
	bad[count++].mode = 01600;
	bad[count++].mode = 04600;
	bad[count++].mode = S_IFREG | 0600;
	bad[count++].full_action = 2;
	bad[count++].full_action = -1;
	bad[count++].default_policy.max_requests = 0;
	bad[count++].default_policy.initial_credits = 6;
	bad[count++].default_policy.window_ns = CREDLIMIT_WINDOW_MIN_NS - 1;
	bad[count++].default_policy.window_ns = CREDLIMIT_WINDOW_MAX_NS + 1;

	for (size_t i = 0; i < count; i++) {
		credlimit_t *cl = NULL;
		int private_err, named_err;

		private_err = credlimit_open(NULL, CREDLIMIT_OPEN_CREATE,
					     &bad[i], &cl);
		assert_null(cl);
		unit_name(name, "api");
		named_err = credlimit_open(name, CREDLIMIT_OPEN_CREATE, &bad[i],
					   &cl);
		assert_null(cl);

		if (private_err != -EINVAL || named_err != -EINVAL)
			print_message("options case %zu\n", i);
		assert_int_equal(private_err, -EINVAL);
		assert_int_equal(named_err, -EINVAL);
		assert_false(segment_exists(name, ""));
		assert_false(segment_exists(name, ".g1"));
	}
}

static void open_missing_name(void **ctx)
{
	char name[64];
	credlimit_t *cl = (credlimit_t *)&cl;

	unit_name(name, "api");
	assert_int_equal(credlimit_open(name, 0, NULL, &cl), -ENOENT);
	assert_null(cl);
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_RDONLY, NULL,
					&cl),
			 -ENOENT);
	assert_false(segment_exists(name, ""));
}

static void open_excl_then_attach(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options first = unit_options(7, 2 * SEC, 3, 1, 64);
	struct credlimit_options second = unit_options(99, SEC, 0, 0, 1024);
	struct credlimit_policy found;
	struct credlimit_stats st;
	struct credlimit_result r;
	credlimit_t *again = (credlimit_t *)&again;

	second.full_action = CREDLIMIT_FULL_ALLOW;

	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&first, &f->cl),
			 0);
	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&second, &again),
			 -EEXIST);
	assert_null(again);

	/* CREATE without EXCL attaches and ignores the new options. */
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE,
					&second, &f->other),
			 0);
	assert_int_equal(credlimit_policy_find(f->other, "default", &found), 0);
	assert_int_equal(found.max_requests, 7);
	assert_int_equal(found.window_ns, 2 * SEC);
	assert_int_equal(found.max_credits, 3);
	assert_int_equal(found.initial_credits, 1);
	st = stats_of(f->other);
	assert_int_equal(st.capacity, 64);
	assert_int_equal(st.full_action, CREDLIMIT_FULL_DENY);

	/* Both handles see the same counters. */
	assert_int_equal(credlimit_acquire_at(f->cl, "k", 1, 4, SEC, &r), 0);
	assert_int_equal(credlimit_peek(f->other, "k", 1, SEC, &r), 0);
	assert_int_equal(r.remaining, 4);
	credlimit_close(f->other);

	assert_int_equal(credlimit_open(f->name, 0, NULL, &f->other), 0);
	assert_int_equal(credlimit_peek(f->other, "k", 1, SEC, &r), 0);
	assert_int_equal(r.remaining, 4);
}

static void open_rejects_other_owner(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options o;
	credlimit_t *cl = (credlimit_t *)&cl;

	named_create(f, 3, SEC, 0, 0);
	credlimit_options_init(&o);
	o.owner = geteuid() + 1;

	assert_int_equal(credlimit_open(f->name, 0, &o, &cl), -EPERM);
	assert_null(cl);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_ANY_OWNER, &o,
					&f->other),
			 0);

	o.owner = geteuid();
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, &o,
					&cl),
			 0);
	credlimit_close(cl);
}

static void check_segment_mode(const char *name, mode_t mode)
{
	char path[300];
	struct stat st;

	assert_int_equal(stat(segment_path(path, name, ""), &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(stat(segment_path(path, name, ".g1"), &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_uid, geteuid());
}

static void open_default_mode(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_stats st;

	named_create(f, 3, SEC, 0, 0);
	check_segment_mode(f->name, 0600);
	st = stats_of(f->cl);
	assert_int_equal(st.mode, 0600);
	assert_int_equal(st.owner, geteuid());
}

/* The mode applies exactly, whatever the umask. */
static void open_chosen_mode(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options o = unit_options(3, SEC, 0, 0, 64);
	mode_t old_umask;
	int err;

	o.mode = 0666;
	old_umask = umask(077);
	err = credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, &o, &f->cl);
	umask(old_umask);

	assert_int_equal(err, 0);
	check_segment_mode(f->name, 0666);
	assert_int_equal(stats_of(f->cl).mode, 0666);

	/* An attacher reads the mode from the segment. */
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->other),
			 0);
	assert_int_equal(stats_of(f->other).mode, 0666);
}

#define NOBODY 65534

/* As root, creates the fixture's limiter of 64 slots (growing to 128)
 * for user nobody with `mode`; skips the test when not root. */
static struct credlimit_options create_for_nobody(struct named_fixture *f,
						  mode_t mode)
{
	struct credlimit_options o = unit_options(3, SEC, 0, 0, 64);

	if (geteuid() != 0)
		skip();
	o.owner = NOBODY;
	o.max_capacity = 128;
	o.mode = mode;
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, &o,
					&f->cl),
			 0);
	return o;
}

/*
 * Root creates a limiter for another user, as a server's parent process
 * does for its workers: both segments belong to that user, and a growth
 * root starts later keeps that owner.
 */
static void open_creates_for_owner(void **ctx)
{
	struct named_fixture *f = *ctx;
	const uid_t nobody = NOBODY;
	char path[300];
	struct stat st;

	create_for_nobody(f, 0600);

	assert_int_equal(stat(segment_path(path, f->name, ""), &st), 0);
	assert_int_equal(st.st_uid, nobody);
	assert_int_equal(stat(segment_path(path, f->name, ".g1"), &st), 0);
	assert_int_equal(st.st_uid, nobody);
	assert_int_equal(stats_of(f->cl).owner, nobody);

	assert_int_equal(credlimit_grow(f->cl, 128), 0);
	assert_int_equal(stat(segment_path(path, f->name, ".g2"), &st), 0);
	assert_int_equal(st.st_uid, nobody);

	/* Without the owner option, root may not attach to it. */
	assert_int_equal(credlimit_open(f->name, 0, NULL, &f->other), -EPERM);
}

/*
 * New table generations take the group of the control segment, so that a
 * growth started by root keeps a zone readable by its group (a server's
 * workers, or operators in that group).
 */
static void grow_keeps_group(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options o = create_for_nobody(f, 0660);
	const uid_t nobody = NOBODY;
	const gid_t group = 65534;
	char path[300];
	struct stat st;

	assert_int_equal(chown(segment_path(path, f->name, ""), nobody, group),
			 0);
	assert_int_equal(chown(segment_path(path, f->name, ".g1"), nobody,
			       group),
			 0);

	/* A handle opened now reads the group from the control segment. */
	assert_int_equal(credlimit_open(f->name, 0, &o, &f->other), 0);
	assert_int_equal(credlimit_grow(f->other, 128), 0);
	assert_int_equal(stat(segment_path(path, f->name, ".g2"), &st), 0);
	assert_int_equal(st.st_uid, nobody);
	assert_int_equal(st.st_gid, group);
	assert_int_equal(st.st_mode & 07777, 0660);
}

static void open_chosen_mode_0640(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options o = unit_options(3, SEC, 0, 0, 64);

	o.mode = 0640;
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, &o,
					&f->cl),
			 0);
	check_segment_mode(f->name, 0640);
	assert_int_equal(stats_of(f->cl).mode, 0640);
}

/* Capacities are used as given, from the minimum of 8 slots up. */
static void open_keeps_capacity(void **ctx)
{
	static const struct {
		uint64_t requested;
		uint64_t capacity;
	} cases[] = {
		{ 1, 8 },     { 7, 8 },	    { 8, 8 },	    { 9, 9 },
		{ 100, 100 }, { 4096, 4096 }, { 4097, 4097 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct credlimit_options o =
			unit_options(3, SEC, 0, 0, cases[i].requested);
		struct credlimit_stats st;
		credlimit_t *cl = NULL;

		assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE,
						&o, &cl),
				 0);
		st = stats_of(cl);
		assert_int_equal(st.capacity, cases[i].capacity);
		assert_int_equal(st.max_capacity, cases[i].capacity);
		assert_int_equal(st.generation, 1);
		assert_int_equal(st.probe_limit,
				 cases[i].capacity < CL_PROBE_MAX
					 ? cases[i].capacity
					 : CL_PROBE_MAX);
		credlimit_close(cl);
	}
}

static void open_sets_max_capacity(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_options o = unit_options(3, SEC, 0, 0, 100);
	struct credlimit_stats st;

	o.max_capacity = 1000;
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, &o,
					&f->cl),
			 0);
	st = stats_of(f->cl);
	assert_int_equal(st.capacity, 100);
	assert_int_equal(st.max_capacity, 1000);
	assert_int_equal(st.generation, 1);
	assert_true(st.segment_bytes > 100 * 64);
}

static void unlink_removes_segments(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_result r;

	named_create(f, 3, SEC, 0, 0);
	assert_int_equal(credlimit_acquire_at(f->cl, "k", 1, 1, SEC, &r), 0);
	assert_true(segment_exists(f->name, ""));
	assert_true(segment_exists(f->name, ".g1"));

	assert_int_equal(credlimit_unlink(f->name), 0);
	assert_false(segment_exists(f->name, ""));
	assert_false(segment_exists(f->name, ".g1"));
	assert_int_equal(credlimit_unlink(f->name), -ENOENT);
	assert_int_equal(credlimit_open(f->name, 0, NULL, &f->other),
			 -ENOENT);

	/* The open handle keeps its mapping. */
	assert_int_equal(credlimit_acquire_at(f->cl, "k", 1, 1, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.remaining, 1);

	/* A later create makes a new, empty limiter. */
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, NULL,
					&f->other),
			 0);
	assert_int_equal(credlimit_lookup(f->other, "k", 1, SEC,
					  &(struct credlimit_entry){ 0 }),
			 -ENOENT);
}

/*
 * "/credlimit.NAME.gN" is a table segment of limiter NAME, so names ending
 * in ".g" and digits are rejected: limiter "NAME.g1" would share a file
 * with NAME's first table, and removing or creating NAME would destroy it.
 */
static void generation_suffix_names_rejected(void **ctx)
{
	struct named_fixture *f = *ctx;
	const char *suffixes[] = { ".g1", ".g0", ".g12", ".x.g7" };
	char name[96];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", f->name, suffixes[i]);
		assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE,
						NULL, &f->cl),
				 -EINVAL);
		assert_null(f->cl);
		assert_int_equal(credlimit_unlink(name), -EINVAL);
	}
}

/* Names that only resemble a table suffix are ordinary names. */
static void generation_like_names_accepted(void **ctx)
{
	struct named_fixture *f = *ctx;
	const char *suffixes[] = { ".g", ".gx", ".g1x", ".g1.y", "-g1", "g1" };
	char name[96];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", f->name, suffixes[i]);
		assert_int_equal(credlimit_open(name,
						CREDLIMIT_OPEN_CREATE |
							CREDLIMIT_OPEN_EXCL,
						NULL, &f->cl),
				 0);
		credlimit_close(f->cl);
		f->cl = NULL;
		assert_int_equal(credlimit_unlink(name), 0);
	}
}

/* The largest explicit time (UINT64_MAX is CREDLIMIT_NOW) and time 0. */
static void acquire_at_extreme_times(void **ctx)
{
	credlimit_t *cl = open_private(2, MS, 2, 0);
	const uint64_t last = UINT64_MAX - 1;
	const uint64_t window = last / MS;
	struct credlimit_policy year = {
		.max_requests = 2,
		.max_credits = 2,
		.window_ns = CREDLIMIT_WINDOW_MAX_NS,
	};
	struct credlimit_result r;
	struct credlimit_entry e;
	int id;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, last, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.reset_after_ns,
			 (uint64_t)((unsigned __int128)(window + 1) * MS -
				    last));
	e = lookup_of(cl, "k", 1, last);
	assert_int_equal(e.window_start_ns, window * MS);
	assert_int_equal(e.used, 1);
	assert_int_equal(e.last_seen_ns, last);

	/* Time 0 is stale for this key: judged at its window's start. */
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, 0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.reset_after_ns, MS);
	assert_int_equal(lookup_of(cl, "k", 1, 0).window_start_ns,
			 window * MS);

	assert_int_equal(credlimit_acquire_at(cl, "zero", 4, 1, 0, &r), 0);
	assert_int_equal(r.reset_after_ns, MS);
	assert_int_equal(lookup_of(cl, "zero", 4, 0).window_start_ns, 0);

	/* 366-day windows: window 583 at the end of time. */
	id = credlimit_policy_define(cl, "year", &year);
	assert_int_equal(credlimit_acquire_policy(cl, id, "y", 1, 1, last, &r),
			 0);
	assert_int_equal(r.reset_after_ns,
			 (uint64_t)((unsigned __int128)584 *
					    CREDLIMIT_WINDOW_MAX_NS -
				    last));
	e = lookup_of(cl, "y", 1, last);
	assert_int_equal(e.window_start_ns, 583 * CREDLIMIT_WINDOW_MAX_NS);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	credlimit_close(cl);
}

static void acquire_end_to_end(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 1);
	const uint64_t t0 = 10 * SEC + 250 * MS;
	struct credlimit_result r;

	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 1, t0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_true(credlimit_allowed(&r));
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(r.limit, 3);
	assert_int_equal(r.credits, 1);
	assert_int_equal(r.remaining, 3);
	assert_int_equal(r.window_ns, SEC);
	assert_int_equal(r.reset_after_ns, 750 * MS);
	assert_int_equal(r.retry_after_ns, 0);

	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 2, t0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.credits, 1);

	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 2, t0 + 100 * MS,
					      &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_false(credlimit_allowed(&r));
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.reset_after_ns, 650 * MS);
	assert_int_equal(r.retry_after_ns, 650 * MS);

	/* The last credit pays. */
	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 1, t0 + 100 * MS,
					      &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.credits, 0);
	assert_int_equal(r.remaining, 0);

	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 0, 11 * SEC, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.remaining, 3);
	assert_int_equal(r.reset_after_ns, SEC);

	/* Window 11 and 12 unused: 3 + 3 credits, capped at 5. */
	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 8,
					      13 * SEC + SEC / 2, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.credits, 0);
	assert_int_equal(r.remaining, 0);

	assert_int_equal(credlimit_acquire_at(cl, "user", 4, 9,
					      13 * SEC + SEC / 2, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);
	credlimit_close(cl);
}

static void acquire_cost_never_fits(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 0);
	struct credlimit_result r;
	struct credlimit_entry before, after;
	struct credlimit_stats st;

	/* A new key is not inserted. */
	assert_int_equal(credlimit_acquire_at(cl, "new", 3, 9, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(credlimit_lookup(cl, "new", 3, SEC, &before),
			 -ENOENT);
	st = stats_of(cl);
	assert_int_equal(st.inserts, 0);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.denied, 1);

	/* An existing key keeps its state, even with a roll due. */
	assert_int_equal(credlimit_acquire_at(cl, "old", 3, 2, SEC, &r), 0);
	before = lookup_of(cl, "old", 3, SEC);
	assert_int_equal(credlimit_acquire_at(cl, "old", 3, UINT64_MAX,
					      5 * SEC, &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	after = lookup_of(cl, "old", 3, SEC);
	assert_int_equal(after.used, before.used);
	assert_int_equal(after.credits, before.credits);
	assert_int_equal(after.window_start_ns, before.window_start_ns);
	credlimit_close(cl);
}

/* The clock is only used, never asserted on: no timing assumptions. */
static void acquire_reads_clock(void **ctx)
{
	credlimit_t *cl = open_private(100, SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_entry e;

	assert_int_equal(credlimit_acquire(cl, "k", 1, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_true(r.reset_after_ns > 0);
	assert_true(r.reset_after_ns <= SEC);

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, CREDLIMIT_NOW,
					      &r),
			 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(credlimit_peek(cl, "k", 1, CREDLIMIT_NOW, &r), 0);
	assert_int_equal(credlimit_lookup(cl, "k", 1, CREDLIMIT_NOW, &e), 0);
	assert_true(e.last_seen_ns > 0);
	assert_true(e.last_seen_ns != CREDLIMIT_NOW);
	credlimit_close(cl);
}

static int count_entries(void *context, const struct credlimit_entry *e)
{
	(*(int *)context)++;
	return 0;
}

static void peek_unknown_creates_nothing(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 2);
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_stats st;
	int visited = 0;

	assert_int_equal(credlimit_peek(cl, "ghost", 5, 2 * SEC + SEC / 2, &r),
			 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(r.limit, 3);
	assert_int_equal(r.credits, 2);
	assert_int_equal(r.remaining, 5);
	assert_int_equal(r.window_ns, SEC);
	assert_int_equal(r.reset_after_ns, SEC / 2);
	assert_int_equal(r.retry_after_ns, 0);

	assert_int_equal(credlimit_lookup(cl, "ghost", 5, 0, &e), -ENOENT);
	assert_int_equal(credlimit_foreach(cl, 0, count_entries, &visited), 0);
	assert_int_equal(visited, 0);
	st = stats_of(cl);
	assert_int_equal(st.inserts, 0);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.allowed, 0);
	credlimit_close(cl);
}

static void peek_changes_nothing(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 2);
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_stats st;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, 1200 * MS, &r),
			 0);

	/* At 5.5 s: 2 + 2 + 3 idle windows * 3 = 13 credits, capped at 5. */
	assert_int_equal(credlimit_peek(cl, "k", 1, 5 * SEC + SEC / 2, &r), 0);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.credits, 5);
	assert_int_equal(r.remaining, 8);
	assert_int_equal(r.reset_after_ns, SEC / 2);

	/* A stale time is judged at the stored window's start. */
	assert_int_equal(credlimit_peek(cl, "k", 1, 0, &r), 0);
	assert_int_equal(r.remaining, 4);
	assert_int_equal(r.reset_after_ns, SEC);

	e = lookup_of(cl, "k", 1, 1200 * MS);
	assert_int_equal(e.window_start_ns, SEC);
	assert_int_equal(e.used, 1);
	assert_int_equal(e.credits, 2);
	assert_int_equal(e.last_seen_ns, 1200 * MS);
	st = stats_of(cl);
	assert_int_equal(st.allowed, 1);
	assert_int_equal(st.denied, 0);
	credlimit_close(cl);
}

static void reset_makes_key_new(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 2);
	struct credlimit_policy tight = { .max_requests = 1, .window_ns = SEC };
	struct credlimit_result r;
	struct credlimit_entry e;
	int id;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 4, SEC, &r), 0);
	assert_int_equal(r.remaining, 1);

	assert_int_equal(credlimit_reset(cl, "k", 1), 0);
	e = lookup_of(cl, "k", 1, 3 * SEC + SEC / 4);
	assert_true(e.fresh);
	assert_int_equal(e.used, 0);
	assert_int_equal(e.credits, 0);
	assert_int_equal(e.window_ns, 0);
	assert_int_equal(e.window_start_ns, 0);
	assert_int_equal(e.now.remaining, 3 + 2);
	assert_int_equal(e.now.credits, 2);
	assert_int_equal(e.now.reset_after_ns, 3 * SEC / 4);
	assert_int_equal(stats_of(cl).entries, 1);

	/* The next decision starts from initial_credits. */
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, 3 * SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.remaining, 3 + 2 - 1);
	assert_int_equal(r.reset_after_ns, SEC);

	assert_int_equal(credlimit_reset(cl, "nobody", 6), -ENOENT);

	/* A per-key assignment survives a reset. */
	id = credlimit_policy_define(cl, "tight", &tight);
	assert_int_equal(id, 1);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, id), 0);
	assert_int_equal(credlimit_reset(cl, "k", 1), 0);
	e = lookup_of(cl, "k", 1, 4 * SEC);
	assert_int_equal(e.policy_override, id);
	assert_true(e.fresh);
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, 4 * SEC, &r), 0);
	assert_int_equal(r.policy, id);
	assert_int_equal(r.limit, 1);
	credlimit_close(cl);
}

static int check_fresh(void *context, const struct credlimit_entry *e)
{
	int *fresh = context;

	if (e->fresh && e->used == 0 && e->credits == 0)
		(*fresh)++;
	return 0;
}

static void reset_all_resets_every_entry(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 2);
	struct credlimit_result r;
	int fresh = 0;

	assert_int_equal(credlimit_reset_all(cl), 0);

	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, SEC, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "b", 1, 5, SEC, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "c", 1, 0, SEC, &r), 0);
	assert_int_equal(credlimit_set_key_policy(cl, "d", 1,
						  CREDLIMIT_POLICY_DEFAULT),
			 0);

	/* Every entry counts, the already fresh "d" included. */
	assert_int_equal(credlimit_reset_all(cl), 4);
	assert_int_equal(credlimit_foreach(cl, SEC, check_fresh, &fresh), 0);
	assert_int_equal(fresh, 4);
	assert_int_equal(stats_of(cl).entries, 4);

	assert_int_equal(credlimit_acquire_at(cl, "b", 1, 5, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	credlimit_close(cl);
}

static void set_credits_rolls_first(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 10, 0);
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_stats st;

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 3, SEC / 2, &r), 0);

	/* The roll to window 2 happens first (u = 0), then c = 4 exactly. */
	assert_int_equal(credlimit_set_credits(cl, "k", 1, 4,
					       2 * SEC + SEC / 2),
			 0);
	e = lookup_of(cl, "k", 1, 2 * SEC + SEC / 2);
	assert_int_equal(e.window_start_ns, 2 * SEC);
	assert_int_equal(e.used, 0);
	assert_int_equal(e.credits, 4);
	assert_false(e.fresh);

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 0, 2600 * MS, &r),
			 0);
	assert_int_equal(r.remaining, 3 + 4);

	assert_int_equal(credlimit_set_credits(cl, "k", 1, 0, 2700 * MS), 0);
	assert_int_equal(lookup_of(cl, "k", 1, 0).credits, 0);

	/* A missing key is inserted with exactly that many credits. */
	assert_int_equal(credlimit_set_credits(cl, "new", 3, 10, SEC), 0);
	e = lookup_of(cl, "new", 3, SEC);
	assert_int_equal(e.credits, 10);
	assert_int_equal(e.used, 0);
	assert_int_equal(e.window_start_ns, SEC);
	assert_false(e.fresh);
	st = stats_of(cl);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.entries, 2);
	credlimit_close(cl);
}

static void set_credits_rejects_above_max(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 10, 0);
	struct credlimit_policy roomy = {
		.max_requests = 3,
		.max_credits = 50,
		.window_ns = SEC,
	};
	struct credlimit_result r;
	struct credlimit_entry e, before;
	int id;

	assert_int_equal(credlimit_set_credits(cl, "new", 3, 11, SEC),
			 -ERANGE);
	assert_int_equal(credlimit_set_credits(cl, "new", 3, UINT32_MAX, SEC),
			 -ERANGE);
	assert_int_equal(credlimit_lookup(cl, "new", 3, SEC, &e), -ENOENT);
	assert_int_equal(stats_of(cl).inserts, 0);

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 2, SEC, &r), 0);
	before = lookup_of(cl, "k", 1, SEC);
	assert_int_equal(credlimit_set_credits(cl, "k", 1, 11, 3 * SEC),
			 -ERANGE);
	e = lookup_of(cl, "k", 1, SEC);
	assert_int_equal(e.used, before.used);
	assert_int_equal(e.credits, before.credits);
	assert_int_equal(e.window_start_ns, before.window_start_ns);

	/* The key's own policy sets the bound. */
	id = credlimit_policy_define(cl, "roomy", &roomy);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, id), 0);
	assert_int_equal(credlimit_set_credits(cl, "k", 1, 40, 3 * SEC), 0);
	assert_int_equal(lookup_of(cl, "k", 1, 3 * SEC).credits, 40);
	assert_int_equal(credlimit_set_credits(cl, "k", 1, 51, 3 * SEC),
			 -ERANGE);
	credlimit_close(cl);
}

static void lookup_inline_entry_fields(void **ctx)
{
	credlimit_t *cl = open_private(5, SEC, 10, 3);
	static const uint8_t zero_digest[16];
	struct credlimit_policy other = {
		.max_requests = 4,
		.max_credits = 4,
		.window_ns = 2 * SEC,
	};
	struct credlimit_result r;
	struct credlimit_entry e;
	int id;

	assert_int_equal(credlimit_acquire_at(cl, "user:42", 7, 6,
					      7 * SEC + SEC / 4, &r),
			 0);

	e = lookup_of(cl, "user:42", 7, 9 * SEC + SEC / 2);
	assert_int_equal(e.key_len, 7);
	assert_int_equal(e.key_stored, 7);
	assert_memory_equal(e.key, "user:42", 7);
	assert_false(e.key_hashed);
	assert_memory_equal(e.digest, zero_digest, 16);
	assert_int_equal(e.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(e.policy_override, CREDLIMIT_POLICY_NONE);
	assert_false(e.fresh);
	assert_int_equal(e.used, 5);
	assert_int_equal(e.credits, 2);
	assert_int_equal(e.window_start_ns, 7 * SEC);
	assert_int_equal(e.window_ns, SEC);
	assert_int_equal(e.last_seen_ns, 7 * SEC + SEC / 4);

	/* now: a cost-0 view at 9.5 s, c = 2 + 0 + 5 = 7. */
	assert_int_equal(e.now.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(e.now.flags, 0);
	assert_int_equal(e.now.policy, CREDLIMIT_POLICY_DEFAULT);
	assert_int_equal(e.now.limit, 5);
	assert_int_equal(e.now.credits, 7);
	assert_int_equal(e.now.remaining, 12);
	assert_int_equal(e.now.window_ns, SEC);
	assert_int_equal(e.now.reset_after_ns, SEC / 2);
	assert_int_equal(e.now.retry_after_ns, 0);

	/* A decision under a named policy records that policy. */
	id = credlimit_policy_define(cl, "other", &other);
	assert_int_equal(id, 1);
	assert_int_equal(credlimit_acquire_policy(cl, id, "user:42", 7, 1,
						  10 * SEC, &r),
			 0);
	e = lookup_of(cl, "user:42", 7, 10 * SEC);
	assert_int_equal(e.policy, id);
	assert_int_equal(e.now.policy, id);
	assert_int_equal(e.window_ns, 2 * SEC);
	assert_int_equal(e.last_seen_ns, 10 * SEC);
	credlimit_close(cl);
}

static void lookup_hashed_entry_fields(void **ctx)
{
	credlimit_t *cl = open_private(5, SEC, 10, 0);
	static const uint8_t zero_digest[16];
	uint8_t *long_key = make_key(100, 1);
	uint8_t *key33 = make_key(33, 2);
	struct credlimit_result r;
	struct credlimit_entry e;

	assert_int_equal(credlimit_acquire_at(cl, long_key, 100, 2, SEC, &r),
			 0);
	e = lookup_of(cl, long_key, 100, SEC);
	assert_int_equal(e.key_len, 100);
	assert_true(e.key_hashed);
	assert_int_equal(e.key_stored, CREDLIMIT_KEY_PREFIX);
	assert_memory_equal(e.key, long_key, CREDLIMIT_KEY_PREFIX);
	assert_memory_not_equal(e.digest, zero_digest, 16);
	assert_int_equal(e.used, 2);

	assert_int_equal(credlimit_acquire_at(cl, key33, 33, 1, SEC, &r), 0);
	e = lookup_of(cl, key33, 33, SEC);
	assert_int_equal(e.key_len, 33);
	assert_true(e.key_hashed);
	assert_int_equal(e.key_stored, CREDLIMIT_KEY_PREFIX);
	assert_memory_equal(e.key, key33, CREDLIMIT_KEY_PREFIX);

	/* 32 bytes are still stored verbatim. */
	assert_int_equal(credlimit_acquire_at(cl, key33, 32, 1, SEC, &r), 0);
	e = lookup_of(cl, key33, 32, SEC);
	assert_int_equal(e.key_len, 32);
	assert_false(e.key_hashed);
	assert_int_equal(e.key_stored, 32);
	assert_memory_equal(e.key, key33, 32);
	assert_memory_equal(e.digest, zero_digest, 16);

	free(long_key);
	free(key33);
	credlimit_close(cl);
}

struct seen_keys {
	int calls;
	unsigned used_sum;
	unsigned mask; /* bit i: key "k<i>" seen */
	uint64_t remaining_sum;
	int stop_after;
};

static int collect_entry(void *context, const struct credlimit_entry *e)
{
	struct seen_keys *seen = context;

	seen->calls++;
	if (e->key_len == 2 && e->key[0] == 'k' && e->key[1] >= '0' &&
	    e->key[1] <= '9')
		seen->mask |= 1u << (e->key[1] - '0');
	seen->used_sum += e->used;
	seen->remaining_sum += e->now.remaining;
	if (seen->stop_after > 0 && seen->calls >= seen->stop_after)
		return 7;
	return 0;
}

static void foreach_visits_every_entry(void **ctx)
{
	credlimit_t *cl = open_private(5, SEC, 10, 0);
	struct seen_keys seen = { 0 };
	struct credlimit_result r;
	char key[3] = "k0";

	for (int i = 0; i < 5; i++) {
		key[1] = (char)('0' + i);
		assert_int_equal(credlimit_acquire_at(cl, key, 2,
						      (uint64_t)i + 1, SEC,
						      &r),
				 0);
	}

	assert_int_equal(credlimit_foreach(cl, SEC, collect_entry, &seen), 0);
	assert_int_equal(seen.calls, 5);
	assert_int_equal(seen.mask, 0x1f);
	assert_int_equal(seen.used_sum, 1 + 2 + 3 + 4 + 5);
	assert_int_equal(seen.remaining_sum, 4 + 3 + 2 + 1 + 0);

	/* now is computed at the time given: at 2 s every unused base
	 * request became a credit, so 5 + (5 - u) each. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(credlimit_foreach(cl, 2 * SEC, collect_entry, &seen),
			 0);
	assert_int_equal(seen.remaining_sum, 5 * 5 + (4 + 3 + 2 + 1 + 0));

	assert_int_equal(credlimit_foreach(cl, SEC, NULL, NULL), -EINVAL);
	credlimit_close(cl);
}

static void foreach_stops_on_nonzero(void **ctx)
{
	credlimit_t *cl = open_private(5, SEC, 10, 0);
	struct seen_keys seen = { .stop_after = 2 };
	struct credlimit_result r;
	char key[3] = "k0";

	for (int i = 0; i < 4; i++) {
		key[1] = (char)('0' + i);
		assert_int_equal(credlimit_acquire_at(cl, key, 2, 1, SEC, &r),
				 0);
	}
	assert_int_equal(credlimit_foreach(cl, SEC, collect_entry, &seen), 7);
	assert_int_equal(seen.calls, 2);
	credlimit_close(cl);
}

/* Each key gets its own counters: with R = 1 and C = 0 the first request
 * of a key is allowed and the second denied. */
static void check_independent_key(credlimit_t *cl, const void *key,
				  size_t len)
{
	struct credlimit_result r;
	struct credlimit_entry e;

	assert_int_equal(credlimit_acquire_at(cl, key, len, 1, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(credlimit_acquire_at(cl, key, len, 1, SEC, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, 0);

	e = lookup_of(cl, key, len, SEC);
	assert_int_equal(e.key_len, len);
	assert_int_equal(e.key_hashed, len > CREDLIMIT_KEY_INLINE_MAX);
	assert_memory_equal(e.key, key, e.key_stored);
	assert_int_equal(e.used, 1);
}

static void keys_with_nul_bytes(void **ctx)
{
	static const struct {
		const char *bytes;
		size_t len;
	} keys[] = {
		{ "\0", 1 },   { "\0\0", 2 },	{ "a", 1 },    { "a\0", 2 },
		{ "a\0\0", 3 }, { "a\0b", 3 },	{ "a\0c", 3 }, { "\0a", 2 },
		{ "ab", 2 },
	};
	credlimit_t *cl = open_private(1, SEC, 0, 0);

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check_independent_key(cl, keys[i].bytes, keys[i].len);
	assert_int_equal(stats_of(cl).entries, sizeof(keys) / sizeof(keys[0]));
	credlimit_close(cl);
}

static void keys_of_every_size(void **ctx)
{
	static const size_t lengths[] = { 1,  2,  15, 16,   17,
					  31, 32, 33, 64,   4096,
					  CREDLIMIT_KEY_MAX - 1,
					  CREDLIMIT_KEY_MAX };
	const size_t count = sizeof(lengths) / sizeof(lengths[0]);
	credlimit_t *cl = open_private(1, SEC, 0, 0);
	uint8_t *key = make_key(CREDLIMIT_KEY_MAX + 1, 3);
	struct credlimit_result r;

	/* Prefixes of one buffer: they differ only in length. */
	for (size_t i = 0; i < count; i++)
		check_independent_key(cl, key, lengths[i]);
	assert_int_equal(stats_of(cl).entries, count);

	assert_int_equal(credlimit_acquire_at(cl, key, CREDLIMIT_KEY_MAX + 1, 1,
					      SEC, &r),
			 -E2BIG);
	assert_int_equal(stats_of(cl).entries, count);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	free(key);
	credlimit_close(cl);
}

/* Hashed keys are distinguished by their digest, not by the stored
 * prefix. */
static void hashed_keys_differ_after_prefix(void **ctx)
{
	credlimit_t *cl = open_private(1, SEC, 0, 0);
	uint8_t *a = make_key(CREDLIMIT_KEY_MAX, 4);
	uint8_t *b = make_key(CREDLIMIT_KEY_MAX, 4);
	struct credlimit_entry ea, eb;

	/* 40-byte keys equal in their first 39 bytes. */
	b[39] ^= 0x01;
	check_independent_key(cl, a, 40);
	check_independent_key(cl, b, 40);

	/* 17-byte keys equal in their first 16 bytes: inline, compared in
	 * full. */
	b[39] ^= 0x01;
	b[16] ^= 0x80;
	check_independent_key(cl, a, 17);
	check_independent_key(cl, b, 17);

	/* 33-byte keys, hashed, that differ in the first byte after the
	 * stored prefix. */
	check_independent_key(cl, a, 33);
	check_independent_key(cl, b, 33);

	/* Keys of the maximum length differing only in the last byte. */
	b[16] ^= 0x80;
	b[CREDLIMIT_KEY_MAX - 1] ^= 0x01;
	check_independent_key(cl, a, CREDLIMIT_KEY_MAX);
	check_independent_key(cl, b, CREDLIMIT_KEY_MAX);

	ea = lookup_of(cl, a, CREDLIMIT_KEY_MAX, SEC);
	eb = lookup_of(cl, b, CREDLIMIT_KEY_MAX, SEC);
	assert_memory_equal(ea.key, eb.key, CREDLIMIT_KEY_PREFIX);
	assert_memory_not_equal(ea.digest, eb.digest, 16);

	assert_int_equal(stats_of(cl).entries, 8);
	free(a);
	free(b);
	credlimit_close(cl);
}

static void key_argument_errors(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 0);
	uint8_t *huge = make_key(CREDLIMIT_KEY_MAX + 1, 5);
	const size_t too_long = CREDLIMIT_KEY_MAX + 1;
	struct credlimit_result r;
	struct credlimit_entry e;

	assert_int_equal(credlimit_acquire(cl, NULL, 1, 1, &r), -EINVAL);
	assert_int_equal(credlimit_acquire(cl, "k", 0, 1, &r), -EINVAL);
	assert_int_equal(credlimit_acquire(cl, huge, too_long, 1, &r), -E2BIG);
	assert_int_equal(credlimit_acquire(cl, "k", 1, 1, NULL), -EINVAL);

	assert_int_equal(credlimit_acquire_at(cl, NULL, 1, 1, SEC, &r),
			 -EINVAL);
	assert_int_equal(credlimit_acquire_at(cl, "k", 0, 1, SEC, &r),
			 -EINVAL);
	assert_int_equal(credlimit_acquire_at(cl, huge, too_long, 1, SEC, &r),
			 -E2BIG);

	assert_int_equal(credlimit_acquire_policy(cl, 0, NULL, 1, 1, SEC, &r),
			 -EINVAL);
	assert_int_equal(credlimit_acquire_policy(cl, 0, "k", 0, 1, SEC, &r),
			 -EINVAL);
	assert_int_equal(credlimit_acquire_policy(cl, 0, huge, too_long, 1,
						  SEC, &r),
			 -E2BIG);

	assert_int_equal(credlimit_peek(cl, NULL, 1, SEC, &r), -EINVAL);
	assert_int_equal(credlimit_peek(cl, "k", 0, SEC, &r), -EINVAL);
	assert_int_equal(credlimit_peek(cl, huge, too_long, SEC, &r), -E2BIG);
	assert_int_equal(credlimit_peek(cl, "k", 1, SEC, NULL), -EINVAL);

	assert_int_equal(credlimit_lookup(cl, NULL, 1, SEC, &e), -EINVAL);
	assert_int_equal(credlimit_lookup(cl, "k", 0, SEC, &e), -EINVAL);
	assert_int_equal(credlimit_lookup(cl, huge, too_long, SEC, &e), -E2BIG);
	assert_int_equal(credlimit_lookup(cl, "k", 1, SEC, NULL), -EINVAL);

	assert_int_equal(credlimit_reset(cl, NULL, 1), -EINVAL);
	assert_int_equal(credlimit_reset(cl, "k", 0), -EINVAL);
	assert_int_equal(credlimit_reset(cl, huge, too_long), -E2BIG);

	assert_int_equal(credlimit_set_credits(cl, NULL, 1, 1, SEC), -EINVAL);
	assert_int_equal(credlimit_set_credits(cl, "k", 0, 1, SEC), -EINVAL);
	assert_int_equal(credlimit_set_credits(cl, huge, too_long, 1, SEC),
			 -E2BIG);

	assert_int_equal(credlimit_set_key_policy(cl, NULL, 1, 0), -EINVAL);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 0, 0), -EINVAL);
	assert_int_equal(credlimit_set_key_policy(cl, huge, too_long, 0),
			 -E2BIG);

	assert_int_equal(stats_of(cl).inserts, 0);
	free(huge);
	credlimit_close(cl);
}

static void rdonly_rejects_writes(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct credlimit_policy p = {
		.max_requests = 2,
		.max_credits = 2,
		.window_ns = SEC,
	};
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_stats before, after;
	int visited = 0;
	credlimit_t *ro;

	named_create(f, 3, SEC, 5, 0);
	assert_int_equal(credlimit_acquire_at(f->cl, "k", 1, 2, 1500 * MS, &r),
			 0);
	assert_int_equal(credlimit_policy_define(f->cl, "p", &p), 1);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->other),
			 0);
	ro = f->other;
	before = stats_of(f->cl);

	assert_int_equal(credlimit_acquire(ro, "k", 1, 1, &r), -EROFS);
	assert_int_equal(credlimit_acquire_at(ro, "k", 1, 1, 1600 * MS, &r),
			 -EROFS);
	assert_int_equal(credlimit_acquire_at(ro, "new", 3, 1, 1600 * MS, &r),
			 -EROFS);
	assert_int_equal(credlimit_acquire_policy(ro, 1, "k", 1, 1, 1600 * MS,
						  &r),
			 -EROFS);
	assert_int_equal(credlimit_reset(ro, "k", 1), -EROFS);
	assert_int_equal(credlimit_reset_all(ro), -EROFS);
	assert_int_equal(credlimit_set_credits(ro, "k", 1, 1, 1600 * MS),
			 -EROFS);
	assert_int_equal(credlimit_set_key_policy(ro, "k", 1, 1), -EROFS);
	assert_int_equal(credlimit_set_key_policy(ro, "k", 1,
						  CREDLIMIT_POLICY_NONE),
			 -EROFS);
	assert_int_equal(credlimit_policy_define(ro, "q", &p), -EROFS);

	/* Reads work and see the writer's entry. */
	assert_int_equal(credlimit_peek(ro, "k", 1, 1600 * MS, &r), 0);
	assert_int_equal(r.remaining, 1);
	assert_int_equal(r.reset_after_ns, 400 * MS);
	assert_int_equal(credlimit_peek(ro, "ghost", 5, 1600 * MS, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	e = lookup_of(ro, "k", 1, 1600 * MS);
	assert_int_equal(e.used, 2);
	assert_int_equal(credlimit_foreach(ro, 1600 * MS, count_entries,
					   &visited),
			 0);
	assert_int_equal(visited, 1);
	assert_int_equal(credlimit_policy_find(ro, "p", NULL), 1);
	assert_int_equal(credlimit_policy_list(ro, NULL, 0), 2);
	assert_int_equal(credlimit_check(ro, NULL, NULL), 0);
	assert_string_equal(credlimit_name(ro), f->name);

	/* Nothing changed. */
	after = stats_of(ro);
	assert_int_equal(after.allowed, before.allowed);
	assert_int_equal(after.denied, before.denied);
	assert_int_equal(after.inserts, before.inserts);
	assert_int_equal(after.entries, 1);
	assert_int_equal(after.policies, 2);
	e = lookup_of(f->cl, "k", 1, 1600 * MS);
	assert_int_equal(e.used, 2);
	assert_int_equal(e.credits, 0);
	assert_int_equal(e.policy_override, CREDLIMIT_POLICY_NONE);
}

static void stats_counters_exact(void **ctx)
{
	credlimit_t *cl = open_private(2, SEC, 3, 3);
	struct credlimit_result r;
	struct credlimit_stats st;
	const uint64_t t = SEC / 2;

	st = stats_of(cl);
	assert_int_equal(st.allowed, 0);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.capacity, 64);
	assert_int_equal(st.policies, 1);
	assert_int_equal(st.windows, 1);
	assert_int_equal(st.full_action, CREDLIMIT_FULL_DENY);

	/* Key a: two base requests, credits pay 2, a denial, credit pays 1. */
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, t, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, t, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 2, t, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 2, t, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, t, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);

	assert_int_equal(credlimit_acquire_at(cl, "b", 1, 1, t, &r), 0);
	/* Never fits: denied, not inserted. */
	assert_int_equal(credlimit_acquire_at(cl, "c", 1, 6, t, &r), 0);
	/* Reads count nothing. */
	assert_int_equal(credlimit_peek(cl, "d", 1, t, &r), 0);
	assert_int_equal(credlimit_peek(cl, "a", 1, t, &r), 0);

	st = stats_of(cl);
	assert_int_equal(st.allowed, 5);
	assert_int_equal(st.denied, 2);
	assert_int_equal(st.credits_spent, 3);
	assert_int_equal(st.inserts, 2);
	assert_int_equal(st.entries, 2);

	/* set_credits inserts a key, a cost-0 decision counts as allowed,
	 * and reset removes no entry. */
	assert_int_equal(credlimit_set_credits(cl, "e", 1, 1, t), 0);
	assert_int_equal(credlimit_acquire_at(cl, "b", 1, 0, t, &r), 0);
	assert_int_equal(credlimit_reset(cl, "a", 1), 0);

	st = stats_of(cl);
	assert_int_equal(st.allowed, 6);
	assert_int_equal(st.denied, 2);
	assert_int_equal(st.credits_spent, 3);
	assert_int_equal(st.inserts, 3);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.full_events, 0);
	assert_int_equal(st.recoveries, 0);
	assert_int_equal(st.generation, 1);
	credlimit_close(cl);
}

enum { THREADS = 8, ATTEMPTS_PER_THREAD = 400 };

struct worker {
	credlimit_t *cl;
	pthread_barrier_t *start;
	int allowed;
	int errors;
};

static void *acquire_many(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(w->start);
	for (int i = 0; i < ATTEMPTS_PER_THREAD; i++) {
		struct credlimit_result r;

		if (credlimit_acquire_at(w->cl, "shared", 6, 1, 5 * SEC, &r) !=
		    0)
			w->errors++;
		else if (r.verdict == CREDLIMIT_ALLOWED)
			w->allowed++;
	}
	return NULL;
}

/* Threads racing on one key at one fixed time: exactly R + I pass. */
static void threads_share_one_key(void **ctx)
{
	credlimit_t *cl = open_private(1000, SEC, 5000, 300);
	struct worker workers[THREADS];
	pthread_t threads[THREADS];
	pthread_barrier_t start;
	struct credlimit_stats st;
	struct credlimit_entry e;
	int allowed = 0;

	assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ .cl = cl, .start = &start };
		assert_int_equal(pthread_create(&threads[i], NULL,
						acquire_many, &workers[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(workers[i].errors, 0);
		allowed += workers[i].allowed;
	}
	pthread_barrier_destroy(&start);

	assert_int_equal(allowed, 1000 + 300);
	st = stats_of(cl);
	assert_int_equal(st.allowed, 1300);
	assert_int_equal(st.denied, THREADS * ATTEMPTS_PER_THREAD - 1300);
	assert_int_equal(st.credits_spent, 300);
	assert_int_equal(st.inserts, 1);
	assert_int_equal(st.entries, 1);
	e = lookup_of(cl, "shared", 6, 5 * SEC);
	assert_int_equal(e.used, 1000);
	assert_int_equal(e.credits, 0);
	credlimit_close(cl);
}

struct findings {
	int errors;
	int notes;
};

static void record_finding(void *context, int level, const char *message)
{
	struct findings *found = context;

	if (level == CREDLIMIT_LOG_ERROR) {
		print_message("check: %s\n", message);
		found->errors++;
	} else {
		found->notes++;
	}
}

/* Creates entries of every kind: inline and hashed keys, a per-key
 * policy, set credits, a reset entry and counts above lowered numbers. */
static void fill_varied_entries(credlimit_t *cl)
{
	struct credlimit_policy wide = {
		.max_requests = 50,
		.max_credits = 100,
		.initial_credits = 10,
		.window_ns = 3 * SEC,
	};
	uint8_t *long_key = make_key(5000, 6);
	struct credlimit_result r;
	int id;

	id = credlimit_policy_define(cl, "wide", &wide);
	assert_true(id > 0);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 3, SEC, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, long_key, 5000, 1, SEC, &r),
			 0);
	assert_int_equal(credlimit_acquire_policy(cl, id, "b", 1, 40, SEC, &r),
			 0);
	assert_int_equal(credlimit_set_key_policy(cl, "c", 1, id), 0);
	assert_int_equal(credlimit_set_credits(cl, "d", 1, 2, SEC), 0);
	assert_int_equal(credlimit_reset(cl, "a", 1), 0);

	/* Lower the numbers: stored counts exceed them until the next
	 * decision, which is valid. */
	wide.max_requests = 5;
	wide.max_credits = 1;
	wide.initial_credits = 1;
	assert_int_equal(credlimit_policy_define(cl, "wide", &wide), id);
	free(long_key);
}

static void check_healthy_private(void **ctx)
{
	credlimit_t *cl = open_private(3, SEC, 5, 0);
	struct findings found = { 0 };

	assert_int_equal(credlimit_check(cl, record_finding, &found), 0);
	fill_varied_entries(cl);
	assert_int_equal(credlimit_check(cl, record_finding, &found), 0);
	assert_int_equal(found.errors, 0);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	credlimit_close(cl);
}

static void check_healthy_named(void **ctx)
{
	struct named_fixture *f = *ctx;
	struct findings found = { 0 };

	named_create(f, 3, SEC, 5, 0);
	fill_varied_entries(f->cl);
	assert_int_equal(credlimit_check(f->cl, record_finding, &found), 0);
	assert_int_equal(found.errors, 0);
}

static void handle_name_and_close(void **ctx)
{
	struct named_fixture *f = *ctx;
	credlimit_t *cl = open_private(3, SEC, 5, 0);

	assert_string_equal(credlimit_name(cl), "");
	assert_int_equal(credlimit_close(cl), 0);
	assert_int_equal(credlimit_close(NULL), 0);

	named_create(f, 3, SEC, 5, 0);
	assert_string_equal(credlimit_name(f->cl), f->name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(version_matches_macros),
		cmocka_unit_test(strerror_documented_errors),
		cmocka_unit_test(strerror_other_values),
		cmocka_unit_test(options_init_defaults),
		cmocka_unit_test(open_rejects_bad_flags),
		cmocka_unit_test(open_rejects_bad_names),
		cmocka_unit_test(open_longest_name),
		cmocka_unit_test(open_rejects_bad_options),
		cmocka_unit_test(open_missing_name),
		cmocka_unit_test_setup_teardown(open_excl_then_attach,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(open_rejects_other_owner,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(open_creates_for_owner,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(grow_keeps_group, named_setup,
						named_teardown),
		cmocka_unit_test_setup_teardown(open_default_mode, named_setup,
						named_teardown),
		cmocka_unit_test_setup_teardown(open_chosen_mode, named_setup,
						named_teardown),
		cmocka_unit_test_setup_teardown(open_chosen_mode_0640,
						named_setup, named_teardown),
		cmocka_unit_test(open_keeps_capacity),
		cmocka_unit_test_setup_teardown(open_sets_max_capacity,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(unlink_removes_segments,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(generation_suffix_names_rejected,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(generation_like_names_accepted,
						named_setup, named_teardown),
		cmocka_unit_test(acquire_end_to_end),
		cmocka_unit_test(acquire_at_extreme_times),
		cmocka_unit_test(acquire_cost_never_fits),
		cmocka_unit_test(acquire_reads_clock),
		cmocka_unit_test(peek_unknown_creates_nothing),
		cmocka_unit_test(peek_changes_nothing),
		cmocka_unit_test(reset_makes_key_new),
		cmocka_unit_test(reset_all_resets_every_entry),
		cmocka_unit_test(set_credits_rolls_first),
		cmocka_unit_test(set_credits_rejects_above_max),
		cmocka_unit_test(lookup_inline_entry_fields),
		cmocka_unit_test(lookup_hashed_entry_fields),
		cmocka_unit_test(foreach_visits_every_entry),
		cmocka_unit_test(foreach_stops_on_nonzero),
		cmocka_unit_test(keys_with_nul_bytes),
		cmocka_unit_test(keys_of_every_size),
		cmocka_unit_test(hashed_keys_differ_after_prefix),
		cmocka_unit_test(key_argument_errors),
		cmocka_unit_test_setup_teardown(rdonly_rejects_writes,
						named_setup, named_teardown),
		cmocka_unit_test(stats_counters_exact),
		cmocka_unit_test(threads_share_one_key),
		cmocka_unit_test(check_healthy_private),
		cmocka_unit_test_setup_teardown(check_healthy_named,
						named_setup, named_teardown),
		cmocka_unit_test_setup_teardown(handle_name_and_close,
						named_setup, named_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
