/*
 * segment.c - fuzz target: attach to segments whose bytes are arbitrary
 *
 * Any process of the owning user can write anything into a limiter's
 * segments, so the library must validate every header and entry before
 * it uses them.  Each input becomes the bytes of a control segment
 * /credlimit.NAME and of its table /credlimit.NAME.g1, which the target
 * writes under /dev/shm; it then opens the limiter read-only and runs
 * stats, check, foreach, lookup, peek and the policy calls, and with
 * mode bit 2 also opens it read-write and decides, sets and resets.
 * Every call must return a result or an error; AddressSanitizer in the
 * fuzz build turns a read or write out of bounds into a crash.
 *
 * Input: byte 0 is a mode.
 *   bit 0   the rest of the input is the control segment, verbatim
 *   bit 1   the rest of the input is the table segment, verbatim
 *   neither bytes 1-4 are two little-endian int16 size changes (control,
 *           table) applied to a valid limiter made at start-up, and the
 *           rest is patches: [segment: 1 byte, odd = table]
 *           [offset: 2 bytes, modulo the size] [length: 1 byte] [bytes]
 *   bit 2   also open read-write and change entries
 * The template limiter has 16 slots, two policies, short and long keys
 * and a key with an assigned policy, so patches reach every kind of
 * field with few bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credlimit.h"
#include "fuzz.h"

#define SEC UINT64_C(1000000000)
#define TEMPLATE_CAPACITY 16
#define SEGMENT_SIZE_MAX (1u << 20)

static char name[64];
static char ctl_shm[96];
static char table_shm[96];

/* Valid segments of the template limiter. */
static uint8_t *ctl_template;
static size_t ctl_template_size;
static uint8_t *table_template;
static size_t table_template_size;

static const char *const keys[] = {
	"alice", "bob", "carol",
	"a key longer than thirty-two bytes, stored as a digest",
};

static int read_segment(const char *shm_name, uint8_t **out, size_t *size)
{
	struct stat st;
	int fd = shm_open(shm_name, O_RDONLY, 0);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		close(fd);
		return -1;
	}
	*size = (size_t)st.st_size;
	*out = malloc(*size);
	if (*out == NULL ||
	    pread(fd, *out, *size, 0) != (ssize_t)*size) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Makes the template limiter, copies its segments and removes it. */
static void make_template(void)
{
	struct credlimit_policy alt = { 5, 7, 2, SEC / 10 };
	struct credlimit_options o;
	struct credlimit_result r;
	credlimit_t *cl;
	int alt_id;

	credlimit_options_init(&o);
	o.initial_capacity = TEMPLATE_CAPACITY;
	o.max_capacity = 4 * TEMPLATE_CAPACITY;
	o.default_policy.max_requests = 3;
	o.default_policy.window_ns = SEC;
	o.default_policy.max_credits = 4;
	credlimit_unlink(name);
	FUZZ_CHECK(credlimit_open(name, CREDLIMIT_OPEN_CREATE |
					  CREDLIMIT_OPEN_EXCL,
				  &o, &cl) == 0);
	alt_id = credlimit_policy_define(cl, "alt", &alt);
	FUZZ_CHECK(alt_id > 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		FUZZ_CHECK(credlimit_acquire_at(cl, keys[i], strlen(keys[i]),
						i + 1, 5 * SEC, &r) == 0);
	FUZZ_CHECK(credlimit_set_key_policy(cl, "bob", 3, alt_id) == 0);
	FUZZ_CHECK(credlimit_reset(cl, "carol", 5) == 0);
	credlimit_close(cl);

	FUZZ_CHECK(read_segment(ctl_shm, &ctl_template,
				&ctl_template_size) == 0);
	FUZZ_CHECK(read_segment(table_shm, &table_template,
				&table_template_size) == 0);
	FUZZ_CHECK(credlimit_unlink(name) == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_stdio();
	snprintf(name, sizeof(name), "hd-fuzz-segment-%d", (int)getpid());
	snprintf(ctl_shm, sizeof(ctl_shm), "/credlimit.%s", name);
	snprintf(table_shm, sizeof(table_shm), "/credlimit.%s.g1", name);
	make_template();
	return 0;
}

/* Creates segment shm_name with the given bytes. */
static void write_segment(const char *shm_name, const uint8_t *bytes,
			  size_t size)
{
	int fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(ftruncate(fd, (off_t)size) == 0);
	if (size > 0)
		FUZZ_CHECK(pwrite(fd, bytes, size, 0) == (ssize_t)size);
	close(fd);
}

/* Returns a copy of a template resized by delta bytes (new bytes are
 * zero). */
static uint8_t *resized(const uint8_t *template, size_t template_size,
			int16_t delta, size_t *size)
{
	int64_t wanted = (int64_t)template_size + delta;
	uint8_t *copy;

	*size = wanted < 0 ? 0 : (size_t)wanted;
	copy = calloc(1, *size + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, template,
	       *size < template_size ? *size : template_size);
	return copy;
}

static void apply_patches(const uint8_t *data, size_t size, uint8_t *ctl,
			  size_t ctl_size, uint8_t *table, size_t table_size)
{
	while (size > 0) {
		unsigned which = (unsigned)fuzz_take(&data, &size, 1);
		size_t offset = (size_t)fuzz_take(&data, &size, 2);
		size_t len = (size_t)fuzz_take(&data, &size, 1);
		uint8_t *target = which & 1 ? table : ctl;
		size_t target_size = which & 1 ? table_size : ctl_size;

		if (len > size)
			len = size;
		if (target_size == 0) {
			data += len;
			size -= len;
			continue;
		}
		offset %= target_size;
		if (len > target_size - offset)
			len = target_size - offset;
		memcpy(target + offset, data, len);
		data += len;
		size -= len;
	}
}

static int count_entry(void *context, const struct credlimit_entry *entry)
{
	FUZZ_CHECK(entry->key_stored <= CREDLIMIT_KEY_INLINE_MAX);
	FUZZ_CHECK(entry->key_stored <= entry->key_len);
	(*(unsigned *)context)++;
	return 0;
}

static void ignore_problem(void *context, int level, const char *message)
{
	FUZZ_CHECK(message != NULL);
	(*(unsigned *)context)++;
}

static void ignore_log(void *context, int level, const char *message)
{
	FUZZ_CHECK(message != NULL);
}

/* Runs the calls that work on a read-only handle. */
static void inspect(credlimit_t *cl)
{
	struct credlimit_policy_info policies[8];
	struct credlimit_policy_info info;
	struct credlimit_stats stats;
	struct credlimit_entry entry;
	struct credlimit_result r;
	unsigned visited = 0;
	unsigned findings = 0;
	int defined;

	if (credlimit_stats(cl, &stats) == 0)
		FUZZ_CHECK(stats.capacity <= CREDLIMIT_CAPACITY_MAX);
	credlimit_check(cl, ignore_problem, &findings);
	credlimit_foreach(cl, 6 * SEC, count_entry, &visited);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (credlimit_lookup(cl, keys[i], strlen(keys[i]), 6 * SEC,
				     &entry) == 0)
			FUZZ_CHECK(entry.key_stored <= CREDLIMIT_KEY_INLINE_MAX);
		credlimit_peek(cl, keys[i], strlen(keys[i]), 6 * SEC, &r);
	}
	defined = credlimit_policy_list(cl, policies, 8);
	FUZZ_CHECK(defined <= CREDLIMIT_POLICY_MAX);
	for (int id = 0; id < 4; id++)
		credlimit_policy_get(cl, id, &info);
	credlimit_policy_find(cl, "alt", NULL);
}

/* Runs the calls that change entries. */
static void change(credlimit_t *cl)
{
	struct credlimit_result r;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		size_t len = strlen(keys[i]);

		credlimit_acquire_at(cl, keys[i], len, 1, 7 * SEC, &r);
		credlimit_set_credits(cl, keys[i], len, 1, 7 * SEC);
		credlimit_acquire_policy(cl, 1, keys[i], len, 2, 3 * SEC, &r);
	}
	credlimit_acquire_at(cl, "new customer", 12, 1, 8 * SEC, &r);
	credlimit_reset(cl, "alice", 5);
	credlimit_reset_all(cl);
	inspect(cl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct credlimit_options o;
	uint8_t *ctl, *table;
	size_t ctl_size, table_size;
	unsigned mode;
	credlimit_t *cl;

	if (size == 0 || size > SEGMENT_SIZE_MAX)
		return 0;
	mode = (unsigned)fuzz_take(&data, &size, 1);

	if (mode & 1) {
		ctl = resized(data, size, 0, &ctl_size);
		table = resized(table_template, table_template_size, 0,
				&table_size);
	} else if (mode & 2) {
		ctl = resized(ctl_template, ctl_template_size, 0, &ctl_size);
		table = resized(data, size, 0, &table_size);
	} else {
		int16_t ctl_delta = (int16_t)fuzz_take(&data, &size, 2);
		int16_t table_delta = (int16_t)fuzz_take(&data, &size, 2);

		ctl = resized(ctl_template, ctl_template_size, ctl_delta,
			      &ctl_size);
		table = resized(table_template, table_template_size,
				table_delta, &table_size);
		apply_patches(data, size, ctl, ctl_size, table, table_size);
	}

	/* An empty control segment or one without magic is a creator that
	 * has not finished, which credlimit_open() waits a second for:
	 * test_segment.c covers both, and here they would slow every run
	 * that meets them to one per second. */
	if (ctl_size == 0 || (ctl_size >= 8 && memcmp(ctl, "\0\0\0\0\0\0\0\0",
						      8) == 0)) {
		free(ctl);
		free(table);
		return 0;
	}

	credlimit_unlink(name);
	write_segment(ctl_shm, ctl, ctl_size);
	write_segment(table_shm, table, table_size);
	free(ctl);
	free(table);

	credlimit_options_init(&o);
	o.log = ignore_log;
	if (credlimit_open(name, CREDLIMIT_OPEN_RDONLY, &o, &cl) == 0) {
		inspect(cl);
		credlimit_close(cl);
	}
	if ((mode & 4) && credlimit_open(name, 0, &o, &cl) == 0) {
		change(cl);
		credlimit_close(cl);
	}

	credlimit_unlink(name);
	return 0;
}
