/*
 * test_hostile.c - limiters next to hostile neighbours
 *
 * Another user may plant a file under a limiter's name before it exists,
 * a process of the owning user may resize or rewrite a segment while
 * workers use it, and a caller may pass a name built from user input.
 * Each case must end in a clear error or in the behaviour documented in
 * docs/reliability.md, and never in a read or write out of bounds (the
 * sanitizer build of make check runs these tests too).
 *
 * Tests that plant files for another user need root and are skipped
 * otherwise.  Limiter names start with "hd-" and are removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "shm/layout.h"

#define OTHER_UID ((uid_t)65534)
#define OTHER_GID ((gid_t)65534)

struct fixture {
	char name[64];
};

static int fixture_setup(void **state)
{
	static unsigned counter;
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->name, sizeof(f->name), "hd-hostile-%d-%u", (int)getpid(),
		 counter++);
	*state = f;
	return 0;
}

static int fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	credlimit_unlink(f->name);
	snprintf(path, sizeof(path), "/dev/shm/credlimit.%s", f->name);
	unlink(path);
	snprintf(path, sizeof(path), "/dev/shm/credlimit.%s.g1", f->name);
	unlink(path);
	free(f);
	return 0;
}

static void segment_path(char path[PATH_MAX], const char *name,
			 const char *suffix)
{
	snprintf(path, PATH_MAX, "/dev/shm/credlimit.%s%s", name, suffix);
}

static credlimit_t *open_limiter(const char *name)
{
	struct credlimit_options o = unit_options(3, SEC, 5, 0, 64);
	credlimit_t *cl = NULL;

	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	return cl;
}

static bool running_as_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("skipped: planting another user's file needs root\n");
	return false;
}

/* Resets the handlers cmocka installs, so a crash kills the child. */
static void child_prepare(void)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
}

static int wait_child(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- names ---- */

static void name_with_path_rejected(void **state)
{
	static const char *const names[] = {
		"a/b", "/hd-x", "hd-x/", "..", ".", "../hd-x", "./hd-x",
		"hd-x/../y", "hd x", "", "hd-x.g1",
	};
	struct credlimit_options o = unit_options(3, SEC, 5, 0, 8);
	struct stat st;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		credlimit_t *cl = NULL;
		int err = credlimit_open(names[i], CREDLIMIT_OPEN_CREATE, &o,
					 &cl);

		if (err != -EINVAL)
			fail_msg("name \"%s\": open returned %d, expected "
				 "-EINVAL", names[i], err);
		assert_null(cl);
		assert_int_equal(credlimit_unlink(names[i]), -EINVAL);
	}
	/* Nothing was created beside /dev/shm. */
	assert_int_equal(stat("/dev/hd-x", &st), -1);
	assert_int_equal(stat("/dev/credlimit.hd-x", &st), -1);
}

static void name_over_limit_rejected(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(3, SEC, 5, 0, 8);
	const size_t lengths[] = { CREDLIMIT_NAME_MAX + 1, NAME_MAX,
				   NAME_MAX + 1, PATH_MAX + 10 };
	char *name = malloc(PATH_MAX + 11);
	credlimit_t *cl = NULL;
	size_t prefix = strlen(f->name);

	assert_non_null(name);
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		memset(name, 'x', lengths[i]);
		memcpy(name, f->name, prefix);
		name[lengths[i]] = '\0';
		assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE,
						&o, &cl),
				 -ENAMETOOLONG);
		assert_null(cl);
		assert_int_equal(credlimit_unlink(name), -ENAMETOOLONG);
	}

	/* A name of CREDLIMIT_NAME_MAX bytes works end to end. */
	memset(name, 'x', CREDLIMIT_NAME_MAX);
	memcpy(name, f->name, prefix);
	name[CREDLIMIT_NAME_MAX] = '\0';
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	credlimit_close(cl);
	assert_int_equal(credlimit_unlink(name), 0);
	free(name);
}

/* ---- files planted by another user ---- */

/* Creates the file path owned by OTHER_UID with `mode` and some bytes. */
static void plant_file(const char *path, mode_t mode, size_t size)
{
	char *bytes = malloc(size);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);

	assert_non_null(bytes);
	assert_true(fd >= 0);
	memset(bytes, 'A', size);
	assert_int_equal(write(fd, bytes, size), (ssize_t)size);
	assert_int_equal(fchown(fd, OTHER_UID, OTHER_GID), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(bytes);
}

static void planted_control_segment_rejected(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	credlimit_t *cl = NULL;
	struct stat st;
	char first;
	int fd;

	if (!running_as_root())
		skip();
	segment_path(path, f->name, "");
	plant_file(path, 0666, CL_CTL_SIZE);

	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, NULL,
					&cl),
			 -EPERM);
	assert_null(cl);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_ANY_OWNER,
					NULL, &cl),
			 -EPROTO);

	/* The planted file is left as it was. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, OTHER_UID);
	assert_int_equal(st.st_size, CL_CTL_SIZE);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, &first, 1), 1);
	assert_int_equal(first, 'A');
	close(fd);
}

/* Exit codes of create_as_other_child(). */
enum {
	CHILD_SETUID_FAILED = 10,
	CHILD_CREATE_NOT_EACCES,
	CHILD_CONTROL_LEFT,
};

/* As OTHER_UID: creating a limiter whose table name a file of root's
 * takes fails with -EACCES, the error of removing that file (glibc's
 * shm_unlink() reports EPERM as EACCES), and leaves no control segment
 * behind. */
static int create_as_other_child(const char *name)
{
	struct credlimit_options o = unit_options(3, SEC, 5, 0, 8);
	char path[PATH_MAX];
	credlimit_t *cl = NULL;
	struct stat st;

	child_prepare();
	if (setgid(OTHER_GID) != 0 || setuid(OTHER_UID) != 0)
		return CHILD_SETUID_FAILED;
	if (credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl) != -EACCES)
		return CHILD_CREATE_NOT_EACCES;
	segment_path(path, name, "");
	if (stat(path, &st) == 0)
		return CHILD_CONTROL_LEFT;
	return 0;
}

static void planted_table_segment(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	credlimit_t *cl = NULL;
	struct stat st;
	pid_t pid;

	if (!running_as_root())
		skip();

	/* A user who may not remove the file cannot create the limiter. */
	segment_path(path, f->name, ".g1");
	plant_file(path, 0600, 4096);
	assert_int_equal(chown(path, 0, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(create_as_other_child(f->name));
	assert_int_equal(wait_child(pid), 0);
	assert_int_equal(unlink(path), 0);

	/* A creator who may remove it (root in the sticky /dev/shm)
	 * replaces it with a table of its own. */
	plant_file(path, 0666, 4096);
	cl = open_limiter(f->name);
	assert_true(credlimit_created(cl));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
	credlimit_close(cl);
}

/* ---- segments changed while in use ---- */

static void grown_table_keeps_working(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_limiter(f->name);
	struct credlimit_result r;
	credlimit_t *other = NULL;
	char path[PATH_MAX];
	struct stat st;

	segment_path(path, f->name, ".g1");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size + 65536), 0);

	/* The open handle keeps its validated size. */
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, SEC, &r), 0);
	assert_true(credlimit_allowed(&r));
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);

	/* A new open finds a size that does not match the header. */
	assert_int_equal(credlimit_open(f->name, 0, NULL, &other), -EMSGSIZE);
	assert_null(other);
	credlimit_close(cl);
}

/* Exit codes of shrunk_table_child(). */
enum {
	CHILD_GOT_SIGBUS = 20,
	CHILD_NO_SIGNAL,
};

static void exit_on_sigbus(int signal_number)
{
	_exit(CHILD_GOT_SIGBUS);
}

/* Shrinks the table to its header under an open handle and decides.
 * The entries' pages no longer exist, so the decision faults. */
static int shrunk_table_child(const char *name)
{
	struct sigaction action = { .sa_handler = exit_on_sigbus };
	struct credlimit_options o = unit_options(3, SEC, 5, 0, 64);
	struct credlimit_result r;
	char path[PATH_MAX];
	credlimit_t *cl = NULL;

	child_prepare();
	if (sigaction(SIGBUS, &action, NULL) != 0)
		return 1;
	if (credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl) != 0)
		return 2;
	segment_path(path, name, ".g1");
	if (truncate(path, CL_TABLE_HEADER_SIZE) != 0)
		return 3;
	for (int i = 0; i < 64; i++) {
		char key[16];

		snprintf(key, sizeof(key), "key-%d", i);
		credlimit_acquire_at(cl, key, strlen(key), 1, SEC, &r);
	}
	return CHILD_NO_SIGNAL;
}

/* A documented limitation: only the owning user can shrink a segment, and
 * then processes that touch the missing pages get SIGBUS. */
static void shrunk_table_raises_sigbus(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(shrunk_table_child(f->name));
	assert_int_equal(wait_child(pid), CHILD_GOT_SIGBUS);
}

static int count_entry(void *context, const struct credlimit_entry *entry)
{
	(*(unsigned *)context)++;
	return 0;
}

static void rewritten_headers_detected(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_limiter(f->name);
	const uint64_t huge = CREDLIMIT_CAPACITY_MAX;
	struct credlimit_result r;
	credlimit_t *other = NULL;
	char path[PATH_MAX];
	unsigned visited = 0;
	uint8_t garbage[64];
	int fd;

	for (int i = 0; i < 20; i++) {
		char key[16];

		snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(credlimit_acquire_at(cl, key, strlen(key), 1,
						      SEC, &r),
				 0);
	}

	/* Another process claims a table of 2^32 slots in both headers and
	 * scribbles over the first slots. */
	memset(garbage, 0xa5, sizeof(garbage));
	segment_path(path, f->name, "");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &huge, 8,
				offsetof(struct cl_ctl, max_capacity)),
			 8);
	close(fd);
	segment_path(path, f->name, ".g1");
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &huge, 8,
				offsetof(struct cl_table, capacity)),
			 8);
	for (int slot = 0; slot < 8; slot++)
		assert_int_equal(pwrite(fd, garbage, sizeof(garbage),
					CL_TABLE_HEADER_SIZE + slot * 64),
				 (ssize_t)sizeof(garbage));
	close(fd);

	/* The open handle goes on with its own validated sizes: every call
	 * returns a result or an error, and check names the damage. */
	for (int i = 0; i < 40; i++) {
		char key[16];
		int err;

		snprintf(key, sizeof(key), "key-%d", i);
		err = credlimit_acquire_at(cl, key, strlen(key), 1, 2 * SEC,
					   &r);
		assert_true(err == 0 || err == -EBADMSG);
	}
	assert_true(credlimit_foreach(cl, 2 * SEC, count_entry, &visited) >=
		    -EBADMSG);
	assert_true(credlimit_check(cl, NULL, NULL) > 0);
	credlimit_close(cl);

	/* A new open rejects the headers. */
	assert_int_equal(credlimit_open(f->name, 0, NULL, &other), -EBADMSG);
	assert_null(other);
}

static void symlink_swapped_in_while_open(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_limiter(f->name);
	char path[PATH_MAX], link_path[PATH_MAX];
	struct credlimit_result r;
	credlimit_t *other = NULL;

	/* Someone replaces the control segment by a link to /etc/passwd. */
	segment_path(path, f->name, "");
	segment_path(link_path, f->name, ".link");
	assert_int_equal(symlink("/etc/passwd", link_path), 0);
	assert_int_equal(rename(link_path, path), 0);

	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, SEC, &r), 0);
	assert_true(credlimit_allowed(&r));
	assert_int_equal(credlimit_open(f->name, 0, NULL, &other), -ELOOP);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_CREATE, NULL,
					&other),
			 -ELOOP);
	assert_null(other);
	credlimit_close(cl);
}

#define HOSTILE_TEST(fn)                                                    \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		HOSTILE_TEST(name_with_path_rejected),
		HOSTILE_TEST(name_over_limit_rejected),
		HOSTILE_TEST(planted_control_segment_rejected),
		HOSTILE_TEST(planted_table_segment),
		HOSTILE_TEST(grown_table_keeps_working),
		HOSTILE_TEST(shrunk_table_raises_sigbus),
		HOSTILE_TEST(rewritten_headers_detected),
		HOSTILE_TEST(symlink_swapped_in_while_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
