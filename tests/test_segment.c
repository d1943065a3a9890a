/*
 * test_segment.c - credlimit_open() on hostile or damaged segments
 *
 * Each test creates a limiter, closes it, rewrites its files under
 * /dev/shm (the control segment credlimit.NAME or the table segment
 * credlimit.NAME.g1) and checks that opening it fails with the error
 * that names the damage.  Random header values (fixed seed) and random
 * entry contents must give an error or a valid result, never a crash.
 * Running this binary under valgrind shows any read out of bounds.
 *
 * Owner and permission tests need root: they chown segments to uid 65534
 * and drop to that uid in a child process.  They are skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "lib/handle.h"
#include "shm/entry.h"
#include "shm/layout.h"
#include "shm/segment.h"

#define OTHER_UID ((uid_t)65534)
#define OTHER_GID ((gid_t)65534)
#define T100 (UINT64_C(100) * SEC)

struct fixture {
	char name[64];
	char other[64]; /* a second limiter, for tests that need one */
	credlimit_t *cl;
};

static void shm_path(char path[PATH_MAX], const char *name,
		     uint64_t generation)
{
	if (generation == 0)
		snprintf(path, PATH_MAX, "/dev/shm/credlimit.%s", name);
	else
		snprintf(path, PATH_MAX, "/dev/shm/credlimit.%s.g%" PRIu64,
			 name, generation);
}

/* Removes whatever a test left under the limiter's names: segments,
 * links, FIFOs or directories. */
static void remove_limiter(const char *name)
{
	char path[PATH_MAX];

	credlimit_unlink(name);
	for (uint64_t generation = 0; generation <= 2; generation++) {
		shm_path(path, name, generation);
		if (unlink(path) != 0 && errno == EISDIR)
			rmdir(path);
	}
}

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	unit_name(f->name, "segment");
	unit_name(f->other, "segment");
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	credlimit_close(f->cl);
	remove_limiter(f->name);
	remove_limiter(f->other);
	free(f);
	return 0;
}

/* Creates limiter `name` with a table of `capacity` slots (growing up to
 * max_capacity) and closes it. */
static void make_limiter_sized(const char *name, uint64_t capacity,
			       uint64_t max_capacity)
{
	struct credlimit_options o = unit_options(10, SEC, 20, 0, capacity);
	credlimit_t *cl = NULL;

	o.max_capacity = max_capacity;
	assert_int_equal(credlimit_open(name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&o, &cl),
			 0);
	credlimit_close(cl);
}

static void make_limiter(const char *name)
{
	make_limiter_sized(name, 8, 0);
}

/* Opens an existing limiter, closes it on success, returns the result. */
static int try_open(const char *name, unsigned flags)
{
	credlimit_t *cl = NULL;
	int err = credlimit_open(name, flags, NULL, &cl);

	if (err == 0)
		assert_non_null(cl);
	else
		assert_null(cl);
	credlimit_close(cl);
	return err;
}

static void write_bytes(const char *name, uint64_t generation, off_t offset,
			const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	shm_path(path, name, generation);
	fd = open(path, O_RDWR | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, offset), (ssize_t)len);
	close(fd);
}

static void read_bytes(const char *name, uint64_t generation, off_t offset,
		       void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	shm_path(path, name, generation);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, data, len, offset), (ssize_t)len);
	close(fd);
}

/* Writes the low `width` bytes of value at offset (little-endian). */
static void write_field(const char *name, uint64_t generation, size_t offset,
			size_t width, uint64_t value)
{
	uint32_t narrow = (uint32_t)value;

	if (width == 4)
		write_bytes(name, generation, (off_t)offset, &narrow, 4);
	else
		write_bytes(name, generation, (off_t)offset, &value, 8);
}

static uint64_t read_field(const char *name, uint64_t generation,
			   size_t offset, size_t width)
{
	uint32_t narrow;
	uint64_t value;

	if (width == 4) {
		read_bytes(name, generation, (off_t)offset, &narrow, 4);
		return narrow;
	}
	read_bytes(name, generation, (off_t)offset, &value, 8);
	return value;
}

static void resize_file(const char *name, uint64_t generation, off_t size)
{
	char path[PATH_MAX];

	shm_path(path, name, generation);
	assert_int_equal(truncate(path, size), 0);
}

static void chown_file(const char *name, uint64_t generation, uid_t uid,
		       gid_t gid)
{
	char path[PATH_MAX];

	shm_path(path, name, generation);
	assert_int_equal(lchown(path, uid, gid), 0);
}

static void chmod_file(const char *name, uint64_t generation, mode_t mode)
{
	char path[PATH_MAX];

	shm_path(path, name, generation);
	assert_int_equal(chmod(path, mode), 0);
}

#define CTL_FIELD(field)                                                    \
	#field, offsetof(struct cl_ctl, field),                             \
		sizeof(((struct cl_ctl *)0)->field)
#define TABLE_FIELD(field)                                                  \
	#field, offsetof(struct cl_table, field),                           \
		sizeof(((struct cl_table *)0)->field)

/* One header field set to a bad value, and the error it must give. */
struct bad_field {
	const char *field;
	size_t offset;
	size_t width;
	uint64_t value;
	int expected;
};

/* Writes each case into segment `generation` of limiter `name`, checks
 * the error of credlimit_open(), and restores the field. */
static void check_bad_fields(const char *name, uint64_t generation,
			     const struct bad_field *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct bad_field *c = &cases[i];
		uint64_t saved = read_field(name, generation, c->offset,
					    c->width);
		int err;

		write_field(name, generation, c->offset, c->width, c->value);
		err = try_open(name, 0);
		write_field(name, generation, c->offset, c->width, saved);
		if (err != c->expected)
			fail_msg("%s = %" PRIu64 " in segment g%" PRIu64
				 ": open returned %d (%s), expected %d (%s)",
				 c->field, c->value, generation, err,
				 credlimit_strerror(err), c->expected,
				 credlimit_strerror(c->expected));
	}
	/* Restored, the limiter opens again. */
	assert_int_equal(try_open(name, 0), 0);
}

/* ---- control segment header ---- */

static void ctl_wrong_magic(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ CTL_FIELD(magic), CL_CTL_MAGIC ^ 1, -EPROTO },
		{ CTL_FIELD(magic), CL_TABLE_MAGIC, -EPROTO },
		{ CTL_FIELD(magic), UINT64_MAX, -EPROTO },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 0, cases, sizeof(cases) / sizeof(cases[0]));
}

static void ctl_wrong_layout_version(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ CTL_FIELD(layout_version), 0, -EPROTONOSUPPORT },
		{ CTL_FIELD(layout_version), CL_LAYOUT_VERSION + 1,
		  -EPROTONOSUPPORT },
		{ CTL_FIELD(layout_version), UINT32_MAX, -EPROTONOSUPPORT },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 0, cases, sizeof(cases) / sizeof(cases[0]));
}

static void ctl_wrong_recorded_sizes(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ CTL_FIELD(header_size), sizeof(struct cl_ctl) + 64,
		  -EMSGSIZE },
		{ CTL_FIELD(header_size), 0, -EMSGSIZE },
		{ CTL_FIELD(entry_size), CL_ENTRY_SIZE * 2, -EMSGSIZE },
		{ CTL_FIELD(entry_size), 0, -EMSGSIZE },
		{ CTL_FIELD(segment_size), CL_CTL_SIZE + 4096, -EMSGSIZE },
		{ CTL_FIELD(segment_size), CL_CTL_SIZE - 64, -EMSGSIZE },
		{ CTL_FIELD(segment_size), UINT64_MAX, -EMSGSIZE },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 0, cases, sizeof(cases) / sizeof(cases[0]));
}

static void ctl_file_larger_than_header(void **state)
{
	struct fixture *f = *state;

	make_limiter(f->name);
	resize_file(f->name, 0, (off_t)CL_CTL_SIZE + 1);
	assert_int_equal(try_open(f->name, 0), -EMSGSIZE);
	resize_file(f->name, 0, (off_t)CL_CTL_SIZE + 4096);
	assert_int_equal(try_open(f->name, 0), -EMSGSIZE);
	/* Far larger than any control segment: refused before mapping. */
	resize_file(f->name, 0, (off_t)1 << 40);
	assert_int_equal(try_open(f->name, 0), -EMSGSIZE);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EMSGSIZE);
}

static void ctl_truncated_inside_header(void **state)
{
	struct fixture *f = *state;
	const off_t sizes[] = { 1, 8, 100, sizeof(struct cl_ctl) - 1 };

	make_limiter(f->name);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int err;

		resize_file(f->name, 0, sizes[i]);
		err = try_open(f->name, 0);
		if (err != -ENODATA)
			fail_msg("control segment cut to %lld bytes: open "
				 "returned %d, expected -ENODATA",
				 (long long)sizes[i], err);
	}
}

/*
 * A control segment cut after its header is truncated too: its header
 * records more bytes than the file has.
 */
static void ctl_truncated_after_header(void **state)
{
	struct fixture *f = *state;
	const off_t sizes[] = { sizeof(struct cl_ctl), CL_CTL_SIZE / 2,
				CL_CTL_SIZE - 1 };

	make_limiter(f->name);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int err;

		resize_file(f->name, 0, sizes[i]);
		err = try_open(f->name, 0);
		if (err != -ENODATA)
			fail_msg("control segment cut to %lld of %llu bytes: "
				 "open returned %d (%s), expected -ENODATA",
				 (long long)sizes[i],
				 (unsigned long long)CL_CTL_SIZE, err,
				 credlimit_strerror(err));
	}
}

static void ctl_corrupt_fields(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ CTL_FIELD(initial_capacity), 17, -EBADMSG },
		{ CTL_FIELD(initial_capacity), 7, -EBADMSG },
		{ CTL_FIELD(initial_capacity), 4, -EBADMSG },
		{ CTL_FIELD(initial_capacity), 0, -EBADMSG },
		{ CTL_FIELD(initial_capacity), 32, -EBADMSG },
		{ CTL_FIELD(max_capacity), 15, -EBADMSG },
		{ CTL_FIELD(max_capacity), 0, -EBADMSG },
		{ CTL_FIELD(max_capacity), UINT64_C(1) << 33, -EBADMSG },
		{ CTL_FIELD(max_capacity), UINT64_MAX, -EBADMSG },
		{ CTL_FIELD(window_slots), CL_WINDOW_SLOTS + 1, -EBADMSG },
		{ CTL_FIELD(policy_slots), CL_POLICY_SLOTS - 1, -EBADMSG },
		{ CTL_FIELD(stat_stripes), 0, -EBADMSG },
		{ CTL_FIELD(windows_off), CL_CTL_WINDOWS_OFF + 8, -EBADMSG },
		{ CTL_FIELD(policies_off), CL_CTL_SIZE, -EBADMSG },
		{ CTL_FIELD(stats_off), UINT64_MAX - 63, -EBADMSG },
		{ CTL_FIELD(full_action), 2, -EBADMSG },
		{ CTL_FIELD(full_action), UINT32_MAX, -EBADMSG },
		{ CTL_FIELD(generation), 0, -EBADMSG },
		{ CTL_FIELD(generation), UINT64_MAX, -EBADMSG },
		{ CTL_FIELD(segment_id), 0x5eed, -EBADMSG },
	};

	make_limiter_sized(f->name, 16, 16);
	check_bad_fields(f->name, 0, cases, sizeof(cases) / sizeof(cases[0]));
}

/* A valid change of a field that only creation uses still opens. */
static void ctl_unchecked_fields_open(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = NULL;
	struct credlimit_stats stats;

	make_limiter_sized(f->name, 16, 16);
	write_field(f->name, 0, offsetof(struct cl_ctl, initial_capacity), 8,
		    8);
	write_field(f->name, 0, offsetof(struct cl_ctl, probe_limit), 4,
		    UINT32_MAX);
	write_field(f->name, 0, offsetof(struct cl_ctl, created_ns), 8, 0);

	assert_int_equal(credlimit_open(f->name, 0, NULL, &cl), 0);
	assert_int_equal(credlimit_stats(cl, &stats), 0);
	assert_int_equal(stats.capacity, 16);
	assert_int_equal(stats.probe_limit, 16);
	credlimit_close(cl);
}

/* A generation whose table segment does not exist: the limiter exists,
 * so it is corrupt, not missing. */
static void ctl_generation_without_table(void **state)
{
	struct fixture *f = *state;

	make_limiter(f->name);
	write_field(f->name, 0, offsetof(struct cl_ctl, generation), 8, 2);
	assert_int_equal(try_open(f->name, 0), -EBADMSG);
}

static void ctl_empty_segment(void **state)
{
	struct fixture *f = *state;

	make_limiter(f->name);
	resize_file(f->name, 0, 0);
	/* Waits about a second for a creator that will never finish. */
	assert_int_equal(try_open(f->name, 0), -ENODATA);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -ENODATA);
}

static void ctl_all_zero_segment(void **state)
{
	struct fixture *f = *state;

	make_limiter(f->name);
	resize_file(f->name, 0, 0);
	resize_file(f->name, 0, (off_t)CL_CTL_SIZE);
	assert_int_equal(try_open(f->name, 0), -EPROTO);
}

/* ---- table segment header ---- */

static void table_wrong_magic(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ TABLE_FIELD(magic), 0, -EPROTO },
		{ TABLE_FIELD(magic), CL_CTL_MAGIC, -EPROTO },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 1, cases, sizeof(cases) / sizeof(cases[0]));
}

static void table_wrong_layout_version(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ TABLE_FIELD(layout_version), CL_LAYOUT_VERSION + 1,
		  -EPROTONOSUPPORT },
		{ TABLE_FIELD(layout_version), 0, -EPROTONOSUPPORT },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 1, cases, sizeof(cases) / sizeof(cases[0]));
}

static void table_wrong_recorded_sizes(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ TABLE_FIELD(header_size), CL_TABLE_HEADER_SIZE * 2,
		  -EMSGSIZE },
		{ TABLE_FIELD(entry_size), 128, -EMSGSIZE },
		{ TABLE_FIELD(segment_size), CL_TABLE_HEADER_SIZE + 16 * 64,
		  -EMSGSIZE },
		{ TABLE_FIELD(segment_size), UINT64_MAX, -EMSGSIZE },
		/* Moved offsets are corrupt, as in the control segment. */
		{ TABLE_FIELD(locks_off), CL_TABLE_LOCKS_OFF + 8, -EBADMSG },
		{ TABLE_FIELD(entries_off), 0, -EBADMSG },
	};

	make_limiter(f->name);
	check_bad_fields(f->name, 1, cases, sizeof(cases) / sizeof(cases[0]));
}

static void table_corrupt_fields(void **state)
{
	struct fixture *f = *state;
	const struct bad_field cases[] = {
		{ TABLE_FIELD(capacity), 12, -EBADMSG },
		{ TABLE_FIELD(capacity), 4, -EBADMSG },
		{ TABLE_FIELD(capacity), 0, -EBADMSG },
		{ TABLE_FIELD(capacity), 64, -EBADMSG },
		{ TABLE_FIELD(capacity), UINT64_C(1) << 63, -EBADMSG },
		{ TABLE_FIELD(probe_limit), 64, -EBADMSG },
		{ TABLE_FIELD(probe_limit), 0, -EBADMSG },
		{ TABLE_FIELD(generation), 2, -EBADMSG },
		{ TABLE_FIELD(segment_id), 0, -EBADMSG },
	};

	make_limiter_sized(f->name, 16, 32);
	check_bad_fields(f->name, 1, cases, sizeof(cases) / sizeof(cases[0]));
}

static void table_file_larger_than_header(void **state)
{
	struct fixture *f = *state;

	/* Room to grow: a larger file still fits the largest table. */
	make_limiter_sized(f->name, 8, 64);
	resize_file(f->name, 1, (off_t)cl_table_size(8) + 64);
	assert_int_equal(try_open(f->name, 0), -EMSGSIZE);
	resize_file(f->name, 1, (off_t)cl_table_size(64) + 1);
	assert_int_equal(try_open(f->name, 0), -EMSGSIZE);
	resize_file(f->name, 1, (off_t)1 << 40);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EMSGSIZE);
}

static void table_truncated_inside_header(void **state)
{
	struct fixture *f = *state;
	const off_t sizes[] = { 0, 8, CL_TABLE_HEADER_SIZE - 1 };

	make_limiter(f->name);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int err;

		resize_file(f->name, 1, sizes[i]);
		err = try_open(f->name, 0);
		if (err != -ENODATA)
			fail_msg("table segment cut to %lld bytes: open "
				 "returned %d, expected -ENODATA",
				 (long long)sizes[i], err);
	}
}

/* A table segment cut between its header and its last entry. */
static void table_truncated_after_header(void **state)
{
	struct fixture *f = *state;
	const off_t full = (off_t)cl_table_size(8);
	const off_t sizes[] = { CL_TABLE_HEADER_SIZE, full - 64, full - 1 };

	make_limiter(f->name);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int err;

		resize_file(f->name, 1, sizes[i]);
		err = try_open(f->name, 0);
		if (err != -ENODATA)
			fail_msg("table segment cut to %lld of %lld bytes: "
				 "open returned %d (%s), expected -ENODATA",
				 (long long)sizes[i], (long long)full, err,
				 credlimit_strerror(err));
	}
}

static void table_of_other_limiter(void **state)
{
	struct fixture *f = *state;
	uint8_t table[8 * 64 + CL_TABLE_HEADER_SIZE];

	make_limiter(f->name);
	make_limiter(f->other);
	assert_int_equal(sizeof(table), cl_table_size(8));
	read_bytes(f->other, 1, 0, table, sizeof(table));
	write_bytes(f->name, 1, 0, table, sizeof(table));

	assert_int_equal(try_open(f->name, 0), -EBADMSG);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EBADMSG);
	assert_int_equal(try_open(f->other, 0), 0);
}

static void table_segment_missing(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	make_limiter(f->name);
	shm_path(path, f->name, 1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(try_open(f->name, 0), -EBADMSG);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EBADMSG);
	/* CREATE does not replace a limiter that exists without a table. */
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_CREATE), -EBADMSG);
}

/* ---- owners, permissions, links and other file types ---- */

static bool running_as_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("skipped: chown needs root (euid %d)\n", (int)geteuid());
	return false;
}

static void owner_other_user(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o;
	credlimit_t *cl = NULL;
	struct credlimit_stats stats;

	if (!running_as_root())
		skip();
	make_limiter(f->name);
	chown_file(f->name, 0, OTHER_UID, OTHER_GID);

	assert_int_equal(try_open(f->name, 0), -EPERM);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EPERM);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_CREATE), -EPERM);

	/* The table must belong to the control segment's owner. */
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_ANY_OWNER), -EPERM);
	chown_file(f->name, 1, OTHER_UID, OTHER_GID);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_ANY_OWNER,
					NULL, &cl),
			 0);
	assert_int_equal(credlimit_stats(cl, &stats), 0);
	assert_int_equal(stats.owner, OTHER_UID);
	credlimit_close(cl);

	/* options.owner names the expected owner. */
	credlimit_options_init(&o);
	o.owner = OTHER_UID;
	cl = NULL;
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, &o,
					&cl),
			 0);
	credlimit_close(cl);
}

static void owner_table_differs(void **state)
{
	struct fixture *f = *state;

	if (!running_as_root())
		skip();
	make_limiter(f->name);
	chown_file(f->name, 1, OTHER_UID, OTHER_GID);
	assert_int_equal(try_open(f->name, 0), -EPERM);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_ANY_OWNER), -EPERM);
}

/* Resets the signal dispositions cmocka installs, so a crash in a child
 * kills it instead of running the rest of the tests there. */
static void child_prepare(void)
{
	const int signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS,
				SIGABRT };

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], SIG_DFL);
}

/* Exit codes of drop_privileges_child(). */
enum {
	CHILD_SETUID_FAILED = 10,
	CHILD_RDONLY_FAILED,
	CHILD_WRITE_NOT_EROFS,
	CHILD_PEEK_FAILED,
	CHILD_RDWR_NOT_EACCES,
	CHILD_FOREIGN_NOT_EACCES,
};

/* As uid 65534: open the 0400 limiter `name` owned by that uid, and the
 * 0600 root-owned limiter `foreign`. */
static int drop_privileges_child(const char *name, const char *foreign)
{
	struct credlimit_result r;
	credlimit_t *cl = NULL;

	if (setgroups(0, NULL) != 0 || setgid(OTHER_GID) != 0 ||
	    setuid(OTHER_UID) != 0)
		return CHILD_SETUID_FAILED;

	if (credlimit_open(name, CREDLIMIT_OPEN_RDONLY, NULL, &cl) != 0)
		return CHILD_RDONLY_FAILED;
	if (credlimit_acquire_at(cl, "k", 1, 1, T100, &r) != -EROFS)
		return CHILD_WRITE_NOT_EROFS;
	if (credlimit_peek(cl, "k", 1, T100, &r) != 0)
		return CHILD_PEEK_FAILED;
	credlimit_close(cl);

	cl = NULL;
	if (credlimit_open(name, 0, NULL, &cl) != -EACCES)
		return CHILD_RDWR_NOT_EACCES;
	if (credlimit_open(foreign, CREDLIMIT_OPEN_ANY_OWNER, NULL, &cl) !=
	    -EACCES)
		return CHILD_FOREIGN_NOT_EACCES;
	return 0;
}

static void read_only_permissions_enforced(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	if (!running_as_root())
		skip();
	make_limiter(f->name);
	make_limiter(f->other);
	for (uint64_t generation = 0; generation <= 1; generation++) {
		chown_file(f->name, generation, OTHER_UID, OTHER_GID);
		chmod_file(f->name, generation, 0400);
	}

	pid = fork();
	if (pid == 0) {
		child_prepare();
		_exit(drop_privileges_child(f->name, f->other));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child as uid %d failed check %d", (int)OTHER_UID,
			 WEXITSTATUS(status));
}

static int count_entries(void *context, const struct credlimit_entry *entry)
{
	(void)entry;
	(*(int *)context)++;
	return 0;
}

/* Read-only handles read everything and change nothing. */
static void read_only_handle(void **state)
{
	struct fixture *f = *state;
	const struct credlimit_policy p = {
		.max_requests = 1,
		.max_credits = 0,
		.initial_credits = 0,
		.window_ns = SEC,
	};
	static uint8_t ctl_before[CL_CTL_SIZE], ctl_after[CL_CTL_SIZE];
	uint8_t table_before[8 * 64 + CL_TABLE_HEADER_SIZE];
	uint8_t table_after[sizeof(table_before)];
	struct credlimit_result r;
	struct credlimit_entry e;
	struct credlimit_stats stats;
	credlimit_t *cl = NULL;
	int visited = 0;

	make_limiter(f->name);
	assert_int_equal(credlimit_open(f->name, 0, NULL, &cl), 0);
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 3, T100, &r), 0);
	credlimit_close(cl);
	chmod_file(f->name, 0, 0400);
	chmod_file(f->name, 1, 0400);
	read_bytes(f->name, 0, 0, ctl_before, sizeof(ctl_before));
	read_bytes(f->name, 1, 0, table_before, sizeof(table_before));

	cl = NULL;
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&cl),
			 0);
	f->cl = cl;
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, T100, &r),
			 -EROFS);
	assert_int_equal(credlimit_acquire_at(cl, "new", 3, 1, T100, &r),
			 -EROFS);
	assert_int_equal(credlimit_reset(cl, "k", 1), -EROFS);
	assert_int_equal(credlimit_reset_all(cl), -EROFS);
	assert_int_equal(credlimit_set_credits(cl, "k", 1, 1, T100), -EROFS);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, 0), -EROFS);
	assert_int_equal(credlimit_policy_define(cl, "p", &p), -EROFS);

	assert_int_equal(credlimit_peek(cl, "k", 1, T100, &r), 0);
	assert_int_equal(r.remaining, 7);
	assert_int_equal(credlimit_lookup(cl, "k", 1, T100, &e), 0);
	assert_int_equal(e.used, 3);
	assert_int_equal(credlimit_foreach(cl, T100, count_entries, &visited),
			 0);
	assert_int_equal(visited, 1);
	assert_int_equal(credlimit_stats(cl, &stats), 0);
	assert_int_equal(stats.mode, 0400);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);

	read_bytes(f->name, 0, 0, ctl_after, sizeof(ctl_after));
	read_bytes(f->name, 1, 0, table_after, sizeof(table_after));
	assert_memory_equal(ctl_before, ctl_after, sizeof(ctl_before));
	assert_memory_equal(table_before, table_after, sizeof(table_before));
}

static void symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX], link_path[PATH_MAX];

	make_limiter(f->other);
	shm_path(target, f->other, 0);
	shm_path(link_path, f->name, 0);
	assert_int_equal(symlink(target, link_path), 0);

	assert_int_equal(try_open(f->name, 0), -ELOOP);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -ELOOP);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_CREATE), -ELOOP);
	assert_int_equal(try_open(f->name,
				  CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL),
			 -EEXIST);
	/* The target limiter is untouched. */
	assert_int_equal(try_open(f->other, 0), 0);
}

static void symlink_dangling_not_created(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX], link_path[PATH_MAX];
	struct stat st;

	shm_path(target, f->other, 0);
	shm_path(link_path, f->name, 0);
	assert_int_equal(symlink(target, link_path), 0);

	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_CREATE), -ELOOP);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void symlink_table_not_followed(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX], link_path[PATH_MAX];

	make_limiter(f->name);
	make_limiter(f->other);
	shm_path(target, f->other, 1);
	shm_path(link_path, f->name, 1);
	assert_int_equal(unlink(link_path), 0);
	assert_int_equal(symlink(target, link_path), 0);

	assert_int_equal(try_open(f->name, 0), -ELOOP);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -ELOOP);
}

static void directory_in_place(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	shm_path(path, f->name, 0);
	assert_int_equal(mkdir(path, 0700), 0);
	/* glibc's shm_open() reports a directory as EINVAL, not EISDIR. */
	assert_int_equal(try_open(f->name, 0), -EINVAL);
	assert_int_equal(try_open(f->name, CREDLIMIT_OPEN_RDONLY), -EPROTO);
}

/*
 * Any local user may create files in /dev/shm, so a FIFO can sit where a
 * limiter's segment belongs.  Opening it must fail, not block: the child
 * has an alarm so that a blocked open ends the test instead of hanging it.
 */
static int fifo_child(const char *name, unsigned flags)
{
	credlimit_t *cl = NULL;
	int err;

	alarm(3);
	err = credlimit_open(name, flags, NULL, &cl);
	credlimit_close(cl);
	return err < 0 ? -err : 0;
}

static void fifo_open_mode(const char *name, unsigned flags)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		child_prepare();
		_exit(fifo_child(name, flags));
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("open%s of a FIFO blocked until signal %d",
			 (flags & CREDLIMIT_OPEN_RDONLY) ? " read-only" : "",
			 WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EPROTO);
}

static void fifo_in_place_read_write(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	shm_path(path, f->name, 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	fifo_open_mode(f->name, 0);
}

static void fifo_in_place_read_only(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	shm_path(path, f->name, 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	fifo_open_mode(f->name, CREDLIMIT_OPEN_RDONLY);
}

/* ---- random damage ---- */

static uint64_t splitmix64(uint64_t *seed)
{
	uint64_t z = (*seed += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A value for a field of `width` bytes: random, small, a power of two,
 * or near the original. */
static uint64_t fuzz_value(uint64_t *seed, uint64_t original, size_t width)
{
	uint64_t r = splitmix64(seed);
	uint64_t v;

	switch (r % 6) {
	case 0:
		v = splitmix64(seed);
		break;
	case 1:
		v = (r >> 8) % 80;
		break;
	case 2:
		v = UINT64_C(1) << ((r >> 8) % 64);
		break;
	case 3:
		v = original + (r >> 8) % 5 - 2;
		break;
	case 4:
		v = original ^ UINT64_C(1) << ((r >> 8) % (width * 8));
		break;
	default:
		v = original * 2;
		break;
	}
	return width == 4 ? (uint32_t)v : v;
}

static uint64_t get_field(const void *header, size_t offset, size_t width)
{
	uint32_t narrow;
	uint64_t wide;

	if (width == 4) {
		memcpy(&narrow, (const uint8_t *)header + offset, 4);
		return narrow;
	}
	memcpy(&wide, (const uint8_t *)header + offset, 8);
	return wide;
}

static void set_field(void *header, size_t offset, size_t width,
		      uint64_t value)
{
	uint32_t narrow = (uint32_t)value;

	if (width == 4)
		memcpy((uint8_t *)header + offset, &narrow, 4);
	else
		memcpy((uint8_t *)header + offset, &value, 8);
}

/*
 * Returns whether a control header is one credlimit_open() must accept,
 * for a limiter whose segment id is `segment_id` and whose only table is
 * generation 1 with `table_capacity` slots.
 */
static bool ctl_header_valid(const struct cl_ctl *h, uint64_t segment_id,
			     uint64_t table_capacity)
{
	return h->magic == CL_CTL_MAGIC &&
	       h->layout_version == CL_LAYOUT_VERSION &&
	       h->header_size == sizeof(struct cl_ctl) &&
	       h->entry_size == CL_ENTRY_SIZE &&
	       h->segment_size == CL_CTL_SIZE &&
	       h->window_slots == CL_WINDOW_SLOTS &&
	       h->policy_slots == CL_POLICY_SLOTS &&
	       h->stat_stripes == CL_STAT_STRIPES &&
	       h->windows_off == CL_CTL_WINDOWS_OFF &&
	       h->policies_off == CL_CTL_POLICIES_OFF &&
	       h->stats_off == CL_CTL_STATS_OFF &&
	       h->initial_capacity >= CL_CAPACITY_MIN &&
	       h->max_capacity >= h->initial_capacity &&
	       h->max_capacity <= CL_CAPACITY_MAX &&
	       table_capacity <= h->max_capacity &&
	       (h->full_action == CREDLIMIT_FULL_DENY ||
		h->full_action == CREDLIMIT_FULL_ALLOW) &&
	       (h->kind == CL_KIND_LIMITER || h->kind == CL_KIND_LEASE) &&
	       h->segment_id == segment_id && h->generation == 1;
}

/* The fields the control header fuzzing changes. */
static const struct {
	const char *field;
	size_t offset;
	size_t width;
} ctl_fuzz_fields[] = {
	{ CTL_FIELD(magic) },          { CTL_FIELD(layout_version) },
	{ CTL_FIELD(header_size) },    { CTL_FIELD(segment_size) },
	{ CTL_FIELD(segment_id) },     { CTL_FIELD(secret[0]) },
	{ CTL_FIELD(created_ns) },     { CTL_FIELD(initial_capacity) },
	{ CTL_FIELD(max_capacity) },   { CTL_FIELD(entry_size) },
	{ CTL_FIELD(probe_limit) },    { CTL_FIELD(full_action) },
	{ CTL_FIELD(window_slots) },   { CTL_FIELD(policy_slots) },
	{ CTL_FIELD(stat_stripes) },   { CTL_FIELD(windows_off) },
	{ CTL_FIELD(policies_off) },   { CTL_FIELD(stats_off) },
	{ CTL_FIELD(generation) },     { CTL_FIELD(kind) },
};

/*
 * Several thousand control headers with 1 to 4 fields set to random
 * values, or random bytes anywhere in the header: each open returns 0
 * exactly when the header is valid, else a negative error.
 */
static void fuzz_ctl_header(void **state)
{
	const size_t nfields =
		sizeof(ctl_fuzz_fields) / sizeof(ctl_fuzz_fields[0]);
	struct fixture *f = *state;
	struct cl_ctl original, h;
	uint64_t seed = 20240601;
	unsigned accepted = 0;

	make_limiter_sized(f->name, 16, 64);
	read_bytes(f->name, 0, 0, &original, sizeof(original));

	for (int iteration = 0; iteration < 3000; iteration++) {
		bool valid;
		int err;

		h = original;
		if (iteration % 4 == 3) {
			/* Random bytes anywhere in the header. */
			unsigned n = 1 + splitmix64(&seed) % 8;

			for (unsigned i = 0; i < n; i++) {
				size_t at = splitmix64(&seed) % sizeof(h);

				((uint8_t *)&h)[at] = (uint8_t)splitmix64(&seed);
			}
		} else {
			unsigned n = 1 + splitmix64(&seed) % 4;

			for (unsigned i = 0; i < n; i++) {
				size_t field = splitmix64(&seed) % nfields;
				size_t offset = ctl_fuzz_fields[field].offset;
				size_t width = ctl_fuzz_fields[field].width;

				set_field(&h, offset, width,
					  fuzz_value(&seed,
						     get_field(&h, offset,
							       width),
						     width));
			}
		}
		/* A zero magic means "creator not finished": the open
		 * would wait a second each time. */
		if (h.magic == 0)
			h.magic = 1;

		write_bytes(f->name, 0, 0, &h, sizeof(h));
		valid = ctl_header_valid(&h, original.segment_id, 16);
		err = try_open(f->name, iteration % 2 ? CREDLIMIT_OPEN_RDONLY
						      : 0);
		if (valid != (err == 0))
			fail_msg("iteration %d: open returned %d (%s) for a "
				 "%s header",
				 iteration, err, credlimit_strerror(err),
				 valid ? "valid" : "invalid");
		if (err == 0)
			accepted++;
	}

	write_bytes(f->name, 0, 0, &original, sizeof(original));
	assert_int_equal(try_open(f->name, 0), 0);
	/* Both outcomes were exercised. */
	assert_true(accepted > 0);
	assert_true(accepted < 3000);
}

static bool table_header_valid(const struct cl_table *h,
			       const struct cl_table *original)
{
	return h->magic == CL_TABLE_MAGIC &&
	       h->layout_version == CL_LAYOUT_VERSION &&
	       h->header_size == CL_TABLE_HEADER_SIZE &&
	       h->entry_size == CL_ENTRY_SIZE &&
	       h->locks_off == CL_TABLE_LOCKS_OFF &&
	       h->entries_off == CL_TABLE_HEADER_SIZE &&
	       h->segment_id == original->segment_id &&
	       h->generation == 1 && h->capacity == original->capacity &&
	       h->probe_limit == original->probe_limit &&
	       h->segment_size == original->segment_size;
}

static const struct {
	const char *field;
	size_t offset;
	size_t width;
} table_fuzz_fields[] = {
	{ TABLE_FIELD(magic) },        { TABLE_FIELD(layout_version) },
	{ TABLE_FIELD(header_size) },  { TABLE_FIELD(segment_size) },
	{ TABLE_FIELD(segment_id) },   { TABLE_FIELD(generation) },
	{ TABLE_FIELD(capacity) },     { TABLE_FIELD(entry_size) },
	{ TABLE_FIELD(probe_limit) },  { TABLE_FIELD(locks_off) },
	{ TABLE_FIELD(entries_off) },
};

static void fuzz_table_header(void **state)
{
	const size_t nfields =
		sizeof(table_fuzz_fields) / sizeof(table_fuzz_fields[0]);
	struct fixture *f = *state;
	struct cl_table original, h;
	uint64_t seed = 77;
	unsigned accepted = 0;

	make_limiter_sized(f->name, 16, 64);
	read_bytes(f->name, 1, 0, &original, sizeof(original));

	for (int iteration = 0; iteration < 3000; iteration++) {
		bool valid;
		int err;

		h = original;
		if (iteration % 4 == 3) {
			unsigned n = 1 + splitmix64(&seed) % 8;

			for (unsigned i = 0; i < n; i++) {
				size_t at = splitmix64(&seed) % sizeof(h);

				((uint8_t *)&h)[at] = (uint8_t)splitmix64(&seed);
			}
		} else {
			unsigned n = 1 + splitmix64(&seed) % 3;

			for (unsigned i = 0; i < n; i++) {
				size_t field = splitmix64(&seed) % nfields;
				size_t offset = table_fuzz_fields[field].offset;
				size_t width = table_fuzz_fields[field].width;

				set_field(&h, offset, width,
					  fuzz_value(&seed,
						     get_field(&h, offset,
							       width),
						     width));
			}
		}

		write_bytes(f->name, 1, 0, &h, sizeof(h));
		valid = table_header_valid(&h, &original);
		err = try_open(f->name, iteration % 2 ? CREDLIMIT_OPEN_RDONLY
						      : 0);
		if (valid != (err == 0))
			fail_msg("iteration %d: open returned %d (%s) for a "
				 "%s table header",
				 iteration, err, credlimit_strerror(err),
				 valid ? "valid" : "invalid");
		if (err == 0)
			accepted++;
	}

	write_bytes(f->name, 1, 0, &original, sizeof(original));
	assert_int_equal(try_open(f->name, 0), 0);
	assert_true(accepted > 0);
	assert_true(accepted < 3000);
}

/* Returns whether err is one of the errors that damaged contents may
 * give (see credlimit.h for each call). */
static bool damage_error(int err)
{
	return err == -EBADMSG || err == -ENOENT || err == -EBUSY ||
	       err == -ERANGE || err == -ENOSPC;
}

#define EXPECT_DAMAGE_RESULT(call)                                          \
	do {                                                                \
		int64_t err_ = (call);                                      \
		if (err_ < 0 && !damage_error((int)err_))                   \
			fail_msg("round %d: %s returned %" PRId64, round,    \
				 #call, err_);                              \
	} while (0)

static int visit_entry(void *context, const struct credlimit_entry *entry)
{
	(void)entry;
	(*(int *)context)++;
	return 0;
}

/* Fills entry i with damage of kind i % 4: random bytes, a READY meta
 * with a random state, a valid entry with random counts and window id,
 * or random claim words with a zero state. */
static void damage_entry(struct cl_entry *e, uint64_t *seed, unsigned kind)
{
	switch (kind) {
	case 0:
		e->state_lo = splitmix64(seed);
		e->state_hi = splitmix64(seed);
		e->meta = splitmix64(seed);
		e->last_seen_ns = splitmix64(seed);
		for (int i = 0; i < 4; i++)
			e->key[i] = splitmix64(seed);
		break;
	case 1:
		e->meta = (splitmix64(seed) & ~UINT64_C(3)) | CL_SLOT_READY;
		e->state_lo = splitmix64(seed);
		e->state_hi = splitmix64(seed);
		break;
	case 2:
		e->state_lo = splitmix64(seed);
		e->state_hi = cl_state_make_hi(splitmix64(seed),
					       (unsigned)splitmix64(seed) % 4,
					       0,
					       (unsigned)splitmix64(seed) % 4);
		break;
	default:
		e->meta = (splitmix64(seed) & ~UINT64_C(3)) | CL_SLOT_CLAIMED;
		e->state_lo = 0;
		e->state_hi = 0;
		break;
	}
}

/*
 * Random contents in every entry, the window registry and the policies:
 * every call returns a result or an error that names damage, never
 * crashes, and credlimit_check() reports problems.
 */
static void damaged_contents_survived(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl;
	uint64_t seed = 4242;

	make_limiter_sized(f->name, 64, 64);
	assert_int_equal(credlimit_open(f->name, 0, NULL, &f->cl), 0);
	cl = f->cl;

	for (int round = 0; round < 40; round++) {
		struct credlimit_stats stats;
		struct credlimit_result r;
		struct credlimit_entry e;
		char key[48];
		int visited = 0;
		int problems;

		for (int i = 0; i < 40; i++) {
			snprintf(key, sizeof(key), "key-%d-%040d", i, round);
			credlimit_acquire_at(cl, key, 5 + (size_t)i % 40, 1,
					     T100, &r);
		}
		for (uint64_t i = 0; i < cl->view->current->table.capacity; i++)
			if (splitmix64(&seed) % 2)
				damage_entry(&cl->view->current->table.entries[i], &seed,
					     (unsigned)(i % 4));
		if (round % 4 == 1)
			cl->windows[1 + splitmix64(&seed) % 3] =
				splitmix64(&seed);
		if (round % 4 == 2)
			cl->policies[0].params_lo = splitmix64(&seed);
		if (round % 8 == 3)
			cl->ctl->window_count = splitmix64(&seed);

		for (int i = 0; i < 40; i++) {
			size_t len = 5 + (size_t)i % 40;

			snprintf(key, sizeof(key), "key-%d-%040d", i, round);
			EXPECT_DAMAGE_RESULT(credlimit_acquire_at(
				cl, key, len, i % 5, T100 + SEC, &r));
			EXPECT_DAMAGE_RESULT(
				credlimit_peek(cl, key, len, T100, &r));
			EXPECT_DAMAGE_RESULT(
				credlimit_lookup(cl, key, len, T100, &e));
			EXPECT_DAMAGE_RESULT(credlimit_set_credits(
				cl, key, len, 1, T100));
			EXPECT_DAMAGE_RESULT(credlimit_reset(cl, key, len));
		}
		EXPECT_DAMAGE_RESULT(
			credlimit_foreach(cl, T100, visit_entry, &visited));
		EXPECT_DAMAGE_RESULT(credlimit_reset_all(cl));
		EXPECT_DAMAGE_RESULT(credlimit_stats(cl, &stats));

		problems = credlimit_check(cl, NULL, NULL);
		if (problems <= 0)
			fail_msg("round %d: check found %d problems in a "
				 "damaged table",
				 round, problems);

		/* Start the next round from a valid limiter. */
		credlimit_close(cl);
		f->cl = NULL;
		remove_limiter(f->name);
		make_limiter_sized(f->name, 64, 64);
		assert_int_equal(credlimit_open(f->name, 0, NULL, &f->cl), 0);
		cl = f->cl;
	}
}

/*
 * Policy 0 always exists, so a control segment without it is corrupt:
 * decisions name that (-EBADMSG), as they do for invalid policy numbers.
 */
static void default_policy_missing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_result r;
	credlimit_t *cl;

	make_limiter(f->name);
	assert_int_equal(credlimit_open(f->name, 0, NULL, &f->cl), 0);
	cl = f->cl;

	cl->policies[0].params_lo = UINT64_C(5) << 32 | 6;
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, T100, &r),
			 -EBADMSG);

	cl->policies[0].params_hi &= ~CL_POLICY_DEFINED;
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, T100, &r),
			 -EBADMSG);
	assert_true(credlimit_check(cl, NULL, NULL) > 0);
}

#define SEGMENT_TEST(fn)                                                    \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		SEGMENT_TEST(ctl_wrong_magic),
		SEGMENT_TEST(ctl_wrong_layout_version),
		SEGMENT_TEST(ctl_wrong_recorded_sizes),
		SEGMENT_TEST(ctl_file_larger_than_header),
		SEGMENT_TEST(ctl_truncated_inside_header),
		SEGMENT_TEST(ctl_truncated_after_header),
		SEGMENT_TEST(ctl_corrupt_fields),
		SEGMENT_TEST(ctl_unchecked_fields_open),
		SEGMENT_TEST(ctl_generation_without_table),
		SEGMENT_TEST(ctl_empty_segment),
		SEGMENT_TEST(ctl_all_zero_segment),
		SEGMENT_TEST(table_wrong_magic),
		SEGMENT_TEST(table_wrong_layout_version),
		SEGMENT_TEST(table_wrong_recorded_sizes),
		SEGMENT_TEST(table_corrupt_fields),
		SEGMENT_TEST(table_file_larger_than_header),
		SEGMENT_TEST(table_truncated_inside_header),
		SEGMENT_TEST(table_truncated_after_header),
		SEGMENT_TEST(table_of_other_limiter),
		SEGMENT_TEST(table_segment_missing),
		SEGMENT_TEST(owner_other_user),
		SEGMENT_TEST(owner_table_differs),
		SEGMENT_TEST(read_only_permissions_enforced),
		SEGMENT_TEST(read_only_handle),
		SEGMENT_TEST(symlink_not_followed),
		SEGMENT_TEST(symlink_dangling_not_created),
		SEGMENT_TEST(symlink_table_not_followed),
		SEGMENT_TEST(directory_in_place),
		SEGMENT_TEST(fifo_in_place_read_write),
		SEGMENT_TEST(fifo_in_place_read_only),
		SEGMENT_TEST(fuzz_ctl_header),
		SEGMENT_TEST(fuzz_table_header),
		SEGMENT_TEST(damaged_contents_survived),
		SEGMENT_TEST(default_policy_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
