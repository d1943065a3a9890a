/*
 * test_table.c - the shared table: inserts and lookups, key storage, the
 * probe limit, eviction rules, full-table actions, recovery of what dead
 * processes leave behind (claims, evictions, eviction locks), and the
 * findings of credlimit_check().
 *
 * Tests that need a particular table state write it into the shared
 * memory directly through the internal headers.  A "dead pid" is the pid
 * of a child that exited and was reaped, so kill(pid, 0) fails with ESRCH.
 * Tiny tables (8 or 16 slots) have a probe limit equal to their capacity,
 * so every key may use every slot and a full table is easy to build.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "lib/handle.h"
#include "shm/entry.h"
#include "shm/layout.h"
#include "shm/table.h"

/* Start of window 100 for a policy with one-second windows. */
#define T100 (UINT64_C(100) * SEC)

/* Flags of a decision that inserted its key by evicting another. */
#define NEW_BY_EVICTION (CREDLIMIT_RESULT_NEW | CREDLIMIT_RESULT_EVICTED)

struct fixture {
	char name[64];
	credlimit_t *cl;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	unit_name(f->name, "table");
	*state = f;
	return 0;
}

/* Runs after failed tests too, so no segment is left in /dev/shm. */
static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	credlimit_close(f->cl);
	credlimit_unlink(f->name);
	free(f);
	return 0;
}

static credlimit_t *fixture_open(struct fixture *f,
				 const struct credlimit_options *o)
{
	int err = credlimit_open(f->name,
				 CREDLIMIT_OPEN_CREATE | CREDLIMIT_OPEN_EXCL, o,
				 &f->cl);

	assert_int_equal(err, 0);
	return f->cl;
}

/* Default policy R = 10, W = 1 s, C = 20, I = 0 in a table of `capacity`
 * slots, denying when full. */
static credlimit_t *open_table(struct fixture *f, uint64_t capacity)
{
	struct credlimit_options o = unit_options(10, SEC, 20, 0, capacity);

	return fixture_open(f, &o);
}

static struct credlimit_result decide(credlimit_t *cl, const char *key,
				      uint64_t cost, uint64_t now)
{
	struct credlimit_result r;

	assert_int_equal(credlimit_acquire_at(cl, key, strlen(key), cost, now,
					      &r),
			 0);
	return r;
}

static struct credlimit_result decide_policy(credlimit_t *cl, int policy,
					     const char *key, uint64_t cost,
					     uint64_t now)
{
	struct credlimit_result r;

	assert_int_equal(credlimit_acquire_policy(cl, policy, key, strlen(key),
						  cost, now, &r),
			 0);
	return r;
}

static struct credlimit_stats stats_of(credlimit_t *cl)
{
	struct credlimit_stats s;

	assert_int_equal(credlimit_stats(cl, &s), 0);
	return s;
}

/* Returns true when key has an entry. */
static bool has_entry(credlimit_t *cl, const char *key)
{
	struct credlimit_entry e;
	int err = credlimit_lookup(cl, key, strlen(key), T100, &e);

	assert_true(err == 0 || err == -ENOENT);
	return err == 0;
}

/* Returns the base requests counted in key's entry, which must exist. */
static uint32_t used_of(credlimit_t *cl, const char *key)
{
	struct credlimit_entry e;

	assert_int_equal(credlimit_lookup(cl, key, strlen(key), T100, &e), 0);
	return e.used;
}

static struct cl_key key_of(credlimit_t *cl, const void *key, size_t len)
{
	struct cl_key k;

	cl_key_prepare(&k, cl->secret, key, len);
	return k;
}

static uint64_t capacity_of(credlimit_t *cl)
{
	return cl->view->current->table.capacity;
}

/* A slot index taken modulo the table's capacity. */
static uint64_t wrap(credlimit_t *cl, uint64_t index)
{
	return index % capacity_of(cl);
}

static uint64_t home_of(credlimit_t *cl, const char *key)
{
	struct cl_key k = key_of(cl, key, strlen(key));

	return cl_home_slot(capacity_of(cl), k.hash);
}

/* Returns the index of key's slot.  The entry must exist. */
static uint64_t slot_of(credlimit_t *cl, const void *key, size_t len)
{
	struct cl_key k = key_of(cl, key, len);
	struct cl_slot slot;

	assert_int_equal(cl_table_find(&cl->view->current->table, &k, false, &slot), 0);
	return slot.index;
}

static struct cl_entry *entry_at(credlimit_t *cl, uint64_t index)
{
	return &cl->view->current->table.entries[index];
}

/* Returns the index of the table's first EMPTY slot, which must exist. */
static uint64_t empty_slot(credlimit_t *cl)
{
	for (uint64_t i = 0; i < cl->view->current->table.capacity; i++)
		if (entry_at(cl, i)->meta == 0)
			return i;
	fail_msg("table %s has no EMPTY slot", cl->name);
	return 0;
}

/* Returns the pid of a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(kill(pid, 0), -1);
	return pid;
}

/* Fills keys "k0" .. "k7" of a table of 8 slots, key i at times[i]. */
static void fill_eight(credlimit_t *cl, const uint64_t times[8])
{
	char key[8];

	for (int i = 0; i < 8; i++) {
		struct credlimit_result r;

		snprintf(key, sizeof(key), "k%d", i);
		r = decide(cl, key, 1, times[i]);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	}
	assert_int_equal(stats_of(cl).entries, 8);
}

/* Fills keys "k0" .. "k7" of a table of 8 slots, all at time `now`. */
static void fill_eight_at(credlimit_t *cl, uint64_t now)
{
	uint64_t times[8];

	for (int i = 0; i < 8; i++)
		times[i] = now;
	fill_eight(cl, times);
}

/* Findings of credlimit_check(), kept for assertions. */
struct findings {
	int errors;
	int notes;
	int count;
	int levels[64];
	char messages[64][256];
};

static void collect(void *context, int level, const char *message)
{
	struct findings *f = context;

	if (level == CREDLIMIT_LOG_ERROR)
		f->errors++;
	else
		f->notes++;
	if (f->count < 64) {
		f->levels[f->count] = level;
		snprintf(f->messages[f->count], sizeof(f->messages[0]), "%s",
			 message);
		f->count++;
	}
}

/* Returns true when a finding of `level` contains `needle`. */
static bool has_finding(const struct findings *f, int level,
			const char *needle)
{
	for (int i = 0; i < f->count; i++)
		if (f->levels[i] == level && strstr(f->messages[i], needle))
			return true;
	return false;
}

static void print_findings(const struct findings *f)
{
	for (int i = 0; i < f->count; i++)
		print_message("finding (level %d): %s\n", f->levels[i],
			      f->messages[i]);
}

/* Runs credlimit_check(), stores its findings in *f and returns its
 * result. */
static int run_check(credlimit_t *cl, struct findings *f)
{
	memset(f, 0, sizeof(*f));
	return credlimit_check(cl, collect, f);
}

/* Fails, printing the findings, unless credlimit_check() finds no
 * problem.  Notes are allowed and kept in *f. */
static void assert_check_clean(credlimit_t *cl, struct findings *f)
{
	int problems = run_check(cl, f);

	if (problems != 0)
		print_findings(f);
	assert_int_equal(problems, 0);
}

/* Log messages at level WARNING, counted. */
static void count_warnings(void *context, int level, const char *message)
{
	(void)message;
	if (level == CREDLIMIT_LOG_WARNING)
		(*(int *)context)++;
}

/* ---- inserts, lookups and key storage ---- */

/* Writes key number i: 4 to 63 bytes, the first four being i, so every
 * key differs from every other, and lengths cross the inline limit. */
static size_t make_key(uint8_t key[64], uint32_t i)
{
	size_t len = 4 + i % 60;
	uint32_t x = i * 2654435761u + 1;

	memcpy(key, &i, sizeof(i));
	for (size_t j = 4; j < len; j++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		key[j] = (uint8_t)x;
	}
	return len;
}

static int count_entry(void *context, const struct credlimit_entry *entry)
{
	(void)entry;
	(*(uint64_t *)context)++;
	return 0;
}

static void many_keys_insert_lookup(void **state)
{
	struct fixture *f = *state;
	/* At 37 % load no probe sequence of 64 slots fills up, so every
	 * insert must find room. */
	credlimit_t *cl = open_table(f, 8192);
	const uint32_t keys = 3000;
	uint8_t key[64];
	uint64_t visited = 0;
	struct findings findings;

	for (uint32_t i = 0; i < keys; i++) {
		size_t len = make_key(key, i);
		struct credlimit_result r;

		assert_int_equal(credlimit_acquire_at(cl, key, len, 1 + i % 7,
						      T100, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	}

	for (uint32_t i = 0; i < keys; i++) {
		size_t len = make_key(key, i);
		struct credlimit_entry e;

		assert_int_equal(credlimit_lookup(cl, key, len, T100, &e), 0);
		assert_int_equal(e.used, 1 + i % 7);
		assert_int_equal(e.key_len, len);
		assert_int_equal(e.key_hashed, len > CREDLIMIT_KEY_INLINE_MAX);
		assert_memory_equal(e.key, key, e.key_stored);
	}

	/* A second decision finds the entry instead of inserting one. */
	for (uint32_t i = 0; i < keys; i += 97) {
		size_t len = make_key(key, i);
		struct credlimit_result r;

		assert_int_equal(credlimit_acquire_at(cl, key, len, 1, T100,
						      &r),
				 0);
		assert_int_equal(r.flags, 0);
		assert_int_equal(r.remaining, 10 - (1 + i % 7) - 1);
	}

	assert_int_equal(stats_of(cl).inserts, keys);
	assert_int_equal(stats_of(cl).entries, keys);
	assert_int_equal(credlimit_foreach(cl, T100, count_entry, &visited), 0);
	assert_int_equal(visited, keys);
	assert_check_clean(cl, &findings);
	assert_int_equal(findings.errors, 0);
}

static void keys_with_nul_bytes(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} keys[] = {
		{ "\0", 1 },      { "\0\0", 2 },     { "a", 1 },
		{ "a\0", 2 },     { "\0a", 2 },      { "a\0b", 3 },
		{ "a\0c", 3 },    { "a\0b\0", 4 },
	};
	const size_t count = sizeof(keys) / sizeof(keys[0]);
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 64);
	uint8_t zeros[40] = { 0 };
	struct credlimit_result r;
	struct credlimit_entry e;

	for (size_t i = 0; i < count; i++) {
		assert_int_equal(credlimit_acquire_at(cl, keys[i].bytes,
						      keys[i].len, i + 1, T100,
						      &r),
				 0);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	}

	for (size_t i = 0; i < count; i++) {
		assert_int_equal(credlimit_lookup(cl, keys[i].bytes,
						  keys[i].len, T100, &e),
				 0);
		assert_int_equal(e.used, i + 1);
		assert_int_equal(e.key_len, keys[i].len);
		assert_memory_equal(e.key, keys[i].bytes, keys[i].len);
	}

	/* All-NUL keys of 33 and 34 bytes are hashed and still distinct. */
	assert_int_equal(credlimit_acquire_at(cl, zeros, 33, 2, T100, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(credlimit_acquire_at(cl, zeros, 34, 3, T100, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(credlimit_lookup(cl, zeros, 33, T100, &e), 0);
	assert_int_equal(e.used, 2);
	assert_int_equal(credlimit_lookup(cl, zeros, 34, T100, &e), 0);
	assert_int_equal(e.used, 3);
	assert_int_equal(stats_of(cl).entries, count + 2);
}

static void key_one_byte_inline(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	const uint8_t digest_zero[16] = { 0 };
	const uint8_t stored_expected[32] = { 'x' };
	struct credlimit_entry e;
	uint64_t slot;

	decide(cl, "x", 1, T100);
	assert_int_equal(credlimit_lookup(cl, "x", 1, T100, &e), 0);
	assert_int_equal(e.key_len, 1);
	assert_int_equal(e.key_stored, 1);
	assert_false(e.key_hashed);
	assert_int_equal(e.key[0], 'x');
	assert_memory_equal(e.digest, digest_zero, 16);

	/* The entry stores the byte padded with zeros. */
	slot = slot_of(cl, "x", 1);
	assert_memory_equal(entry_at(cl, slot)->key, stored_expected, 32);
	assert_false(cl_meta_hashed(entry_at(cl, slot)->meta));
	assert_int_equal(cl_meta_len(entry_at(cl, slot)->meta), 1);
}

static void key_thirty_two_inline(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	const uint8_t digest_zero[16] = { 0 };
	uint8_t key[32];
	struct credlimit_result r;
	struct credlimit_entry e;
	uint64_t slot;

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 37);
	key[5] = 0;

	assert_int_equal(credlimit_acquire_at(cl, key, 32, 4, T100, &r), 0);
	assert_int_equal(credlimit_lookup(cl, key, 32, T100, &e), 0);
	assert_int_equal(e.key_len, 32);
	assert_int_equal(e.key_stored, 32);
	assert_false(e.key_hashed);
	assert_memory_equal(e.key, key, 32);
	assert_memory_equal(e.digest, digest_zero, 16);
	assert_int_equal(e.used, 4);

	slot = slot_of(cl, key, 32);
	assert_memory_equal(entry_at(cl, slot)->key, key, 32);
	assert_false(cl_meta_hashed(entry_at(cl, slot)->meta));
}

static void key_thirty_three_hashed(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	const uint8_t digest_zero[16] = { 0 };
	uint8_t key[33];
	struct credlimit_result r;
	struct credlimit_entry e, e32;
	uint64_t slot;

	for (int i = 0; i < 33; i++)
		key[i] = (uint8_t)(200 - i);

	assert_int_equal(credlimit_acquire_at(cl, key, 33, 3, T100, &r), 0);
	assert_int_equal(credlimit_lookup(cl, key, 33, T100, &e), 0);
	assert_int_equal(e.key_len, 33);
	assert_int_equal(e.key_stored, CREDLIMIT_KEY_PREFIX);
	assert_true(e.key_hashed);
	assert_memory_equal(e.key, key, CREDLIMIT_KEY_PREFIX);
	assert_memory_not_equal(e.digest, digest_zero, 16);
	assert_int_equal(e.used, 3);

	/* The entry stores the digest, then the prefix. */
	slot = slot_of(cl, key, 33);
	assert_true(cl_meta_hashed(entry_at(cl, slot)->meta));
	assert_int_equal(cl_meta_len(entry_at(cl, slot)->meta), 33);
	assert_memory_equal(entry_at(cl, slot)->key, e.digest, 16);
	assert_memory_equal((uint8_t *)entry_at(cl, slot)->key + 16, key,
			    CREDLIMIT_KEY_PREFIX);

	/* Its first 32 bytes alone are another key. */
	assert_int_equal(credlimit_acquire_at(cl, key, 32, 5, T100, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(credlimit_lookup(cl, key, 32, T100, &e32), 0);
	assert_int_equal(e32.used, 5);
	assert_false(e32.key_hashed);
	assert_int_equal(credlimit_lookup(cl, key, 33, T100, &e), 0);
	assert_int_equal(e.used, 3);
}

static void long_keys_differ_after_prefix(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 64);
	static uint8_t a[CREDLIMIT_KEY_MAX], b[CREDLIMIT_KEY_MAX];
	const size_t lengths[] = { 33, 48, 100, 4096, CREDLIMIT_KEY_MAX };
	struct credlimit_result r;
	struct credlimit_entry ea, eb;

	memset(a, 'p', sizeof(a));
	memset(b, 'p', sizeof(b));

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		size_t len = lengths[i];

		/* Equal in all but the last byte, far after the prefix. */
		a[len - 1] = 'a';
		b[len - 1] = 'b';

		assert_int_equal(credlimit_acquire_at(cl, a, len, 1, T100, &r),
				 0);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
		assert_int_equal(credlimit_acquire_at(cl, b, len, 2, T100, &r),
				 0);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);

		assert_int_equal(credlimit_lookup(cl, a, len, T100, &ea), 0);
		assert_int_equal(credlimit_lookup(cl, b, len, T100, &eb), 0);
		assert_int_equal(ea.used, 1);
		assert_int_equal(eb.used, 2);
		assert_memory_equal(ea.key, eb.key, CREDLIMIT_KEY_PREFIX);
		assert_memory_not_equal(ea.digest, eb.digest, 16);

		a[len - 1] = 'p';
		b[len - 1] = 'p';
	}

	assert_int_equal(credlimit_acquire_at(cl, a, CREDLIMIT_KEY_MAX + 1, 1,
					      T100, &r),
			 -E2BIG);
	assert_int_equal(stats_of(cl).entries, 10);
}

/*
 * Fills the CL_PROBE_MAX-slot probe sequence of one home slot in a table
 * twice that size: the next key with that home finds no room although
 * half the table is empty, and keys with other homes still find slots.
 */
static void probe_length_bounded(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 2 * CL_PROBE_MAX);
	char keys[CL_PROBE_MAX + 1][32];
	char other[32];
	uint64_t home = home_of(cl, "probe-0");
	unsigned found = 0;
	struct credlimit_result r;
	struct findings findings;

	assert_int_equal(cl->view->current->table.probe_limit, CL_PROBE_MAX);
	for (unsigned n = 0; found < CL_PROBE_MAX + 1; n++) {
		char key[32];

		assert_true(n < 100000000);
		snprintf(key, sizeof(key), "probe-%u", n);
		if (home_of(cl, key) == home)
			memcpy(keys[found++], key, sizeof(key));
	}

	for (int i = 0; i < CL_PROBE_MAX; i++) {
		r = decide(cl, keys[i], 1, T100);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(slot_of(cl, keys[i], strlen(keys[i])),
				 wrap(cl, home + (uint64_t)i));
	}

	r = decide(cl, keys[CL_PROBE_MAX], 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_false(has_entry(cl, keys[CL_PROBE_MAX]));
	assert_int_equal(stats_of(cl).entries, CL_PROBE_MAX);
	assert_int_equal(stats_of(cl).full_events, 1);

	/* A key whose home is inside the full run probes past its end. */
	for (unsigned n = 0;; n++) {
		assert_true(n < 1000000);
		snprintf(other, sizeof(other), "other-%u", n);
		if (home_of(cl, other) == wrap(cl, home + 10))
			break;
	}
	r = decide(cl, other, 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(slot_of(cl, other, strlen(other)),
			 wrap(cl, home + CL_PROBE_MAX));

	assert_check_clean(cl, &findings);
}

/* ---- eviction rules ---- */

/*
 * Writes into name[32] a key "PREFIX-N" that has no entry and whose probe
 * sequence meets slot `first` before slot `second`, so a test controls
 * the order in which eviction examines two candidates.
 */
static void key_meeting_first(credlimit_t *cl, const char *prefix,
			      uint64_t first, uint64_t second, char name[32])
{
	for (unsigned n = 0; n < 100000; n++) {
		uint64_t home;

		snprintf(name, 32, "%s-%u", prefix, n);
		if (has_entry(cl, name))
			continue;
		home = home_of(cl, name);
		if (wrap(cl, first + capacity_of(cl) - home) <
		    wrap(cl, second + capacity_of(cl) - home))
			return;
	}
	fail_msg("no key %s-N meets slot %" PRIu64 " before slot %" PRIu64,
		 prefix, first, second);
}

/*
 * "k1" under a policy with I = C is indistinguishable from a new customer
 * one window after its last use.  "k0" is older and idle for three windows,
 * but it would come back with more credits than a new customer.  The fresh-
 * equivalent entry goes first although it is not the least recently used,
 * whichever of the two the new key's probe sequence meets first.
 */
static void check_fresh_evicted_first(struct fixture *f, bool fresh_first)
{
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_policy full = {
		.max_requests = 5,
		.max_credits = 10,
		.initial_credits = 10,
		.window_ns = SEC,
	};
	int full_id = credlimit_policy_define(cl, "full", &full);
	const uint64_t now = T100 + 3 * SEC + SEC / 2;
	struct credlimit_result r;
	uint64_t idle_slot, fresh_slot;
	char key[32];

	assert_true(full_id > 0);
	decide(cl, "k0", 1, T100);
	decide_policy(cl, full_id, "k1", 1, T100 + 2 * SEC);
	for (int i = 2; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		decide(cl, key, 1, T100 + 3 * SEC);
	}
	idle_slot = slot_of(cl, "k0", 2);
	fresh_slot = slot_of(cl, "k1", 2);

	if (fresh_first)
		key_meeting_first(cl, "new", fresh_slot, idle_slot, key);
	else
		key_meeting_first(cl, "new", idle_slot, fresh_slot, key);
	r = decide(cl, key, 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k1"));
	assert_true(has_entry(cl, "k0"));
	assert_int_equal(used_of(cl, "k0"), 1);
	assert_int_equal(stats_of(cl).evictions, 1);

	/* Then the idle "k0", by the least-recently-used rule. */
	r = decide(cl, "new2", 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k0"));
	assert_int_equal(stats_of(cl).evictions, 2);
}

static void evict_fresh_met_first(void **state)
{
	check_fresh_evicted_first(*state, true);
}

static void evict_fresh_met_after_idle(void **state)
{
	check_fresh_evicted_first(*state, false);
}

/*
 * With C = 0 an entry carries nothing past its window, so it is
 * indistinguishable from a new customer from the next window on, but not
 * while its own window lasts.
 */
static void evict_zero_credits_after_window(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(5, SEC, 0, 0, 8);
	credlimit_t *cl = fixture_open(f, &o);
	struct credlimit_result r;
	char key[8];

	fill_eight_at(cl, T100);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		decide(cl, key, 1, T100);
	}

	r = decide(cl, "new", 1, T100 + SEC - 1);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_int_equal(stats_of(cl).evictions, 0);

	r = decide(cl, "new", 1, T100 + SEC);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_int_equal(stats_of(cl).evictions, 1);
	assert_int_equal(stats_of(cl).entries, 8);
}

static void evict_reset_entry_first(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_result r;
	char key[8];

	fill_eight_at(cl, T100);
	assert_int_equal(credlimit_reset(cl, "k5", 2), 0);

	r = decide(cl, "new", 1, T100 + SEC / 2);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k5"));
	for (int i = 0; i < 8; i++) {
		if (i == 5)
			continue;
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(used_of(cl, key), 1);
	}
	assert_int_equal(stats_of(cl).evictions, 1);

	/* No reset entry is left: the next new key finds no room. */
	r = decide(cl, "new2", 1, T100 + SEC / 2);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
}

/* Idle entries go in order of their last decision, oldest first. */
static void evict_least_recently_used(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	const uint64_t active = T100 + 3 * SEC;
	const uint64_t times[8] = {
		T100 + 200 * MS, T100, T100 + 100 * MS, active,
		active,          active, active,        active,
	};
	const uint64_t now = active + SEC / 2;
	struct credlimit_result r;
	char key[32];

	fill_eight(cl, times);

	/* Each new key meets a younger idle entry before the oldest one. */
	key_meeting_first(cl, "n0", slot_of(cl, "k0", 2), slot_of(cl, "k1", 2),
			  key);
	r = decide(cl, key, 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k1"));
	assert_true(has_entry(cl, "k0"));
	assert_true(has_entry(cl, "k2"));

	key_meeting_first(cl, "n1", slot_of(cl, "k0", 2), slot_of(cl, "k2", 2),
			  key);
	r = decide(cl, key, 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_false(has_entry(cl, "k2"));
	assert_true(has_entry(cl, "k0"));

	r = decide(cl, "n2", 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_false(has_entry(cl, "k0"));

	r = decide(cl, "n3", 1, now);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);

	for (int i = 3; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(used_of(cl, key), 1);
	}
	assert_int_equal(stats_of(cl).evictions, 3);
	assert_int_equal(stats_of(cl).full_events, 1);
}

/*
 * An entry becomes idle when its stored window is two windows back and
 * its last decision is two window lengths ago.  For an entry last seen
 * inside its stored window, the second condition is met later.
 */
static void evict_idle_two_windows(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	const uint64_t seen = T100 + 900 * MS;
	const uint64_t active = seen + 2 * SEC;
	const uint64_t times[8] = {
		seen,   active, active, active,
		active, active, active, active,
	};
	struct credlimit_result r;

	fill_eight(cl, times);

	/* Window 101 is only one window after window 100. */
	r = decide(cl, "new", 1, T100 + SEC + 950 * MS);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);

	/* Window 102 is two windows on, but less than 2 W has passed. */
	r = decide(cl, "new", 1, T100 + 2 * SEC + 800 * MS);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	r = decide(cl, "new", 1, seen + 2 * SEC - 1);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_true(has_entry(cl, "k0"));
	assert_int_equal(stats_of(cl).evictions, 0);

	/* Exactly two window lengths after its last decision. */
	r = decide(cl, "new", 1, seen + 2 * SEC);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k0"));
	assert_int_equal(stats_of(cl).evictions, 1);
}

/* A full table of entries used in the current window keeps all of them. */
static void evict_never_active_entries(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	char key[8];

	fill_eight_at(cl, T100);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		decide(cl, key, (uint64_t)i, T100 + 1);
	}

	for (int n = 0; n < 20; n++) {
		struct credlimit_result r;

		snprintf(key, sizeof(key), "n%d", n);
		r = decide(cl, key, 1, T100 + SEC / 2 + (uint64_t)n * 10 * MS);
		assert_int_equal(r.verdict, CREDLIMIT_DENIED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
		assert_false(has_entry(cl, key));
	}

	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(used_of(cl, key), 1 + i);
	}
	assert_int_equal(stats_of(cl).evictions, 0);
	assert_int_equal(stats_of(cl).full_events, 20);
	assert_int_equal(stats_of(cl).entries, 8);
}

/* Entries with a per-key policy stay, even fresh or long idle ones. */
static void evict_never_assigned_keys(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_policy gold = {
		.max_requests = 100,
		.max_credits = 0,
		.initial_credits = 0,
		.window_ns = SEC,
	};
	int gold_id = credlimit_policy_define(cl, "gold", &gold);
	struct credlimit_result r;
	char key[8];

	assert_true(gold_id > 0);
	fill_eight_at(cl, T100);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(credlimit_set_key_policy(cl, key, strlen(key),
							  gold_id),
				 0);
	}
	/* Reset entries are fresh, the best victims but for their policy. */
	assert_int_equal(credlimit_reset(cl, "k2", 2), 0);
	assert_int_equal(credlimit_reset(cl, "k6", 2), 0);

	r = decide(cl, "new", 1, T100 + 1000 * SEC);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_int_equal(stats_of(cl).evictions, 0);
	for (int i = 0; i < 8; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_true(has_entry(cl, key));
	}

	/* Without its assignment, the idle "k3" can go. */
	assert_int_equal(credlimit_set_key_policy(cl, "k3", 2,
						  CREDLIMIT_POLICY_NONE),
			 0);
	r = decide(cl, "new", 1, T100 + 1000 * SEC);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_false(has_entry(cl, "k3"));
	assert_int_equal(stats_of(cl).evictions, 1);
}

/* credlimit_set_credits() inserts a new key by eviction too. */
static void set_credits_insert_evicts(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_result r;

	fill_eight_at(cl, T100);
	/* Peeking inserts nothing, unlike a cost-0 decision. */
	assert_int_equal(credlimit_peek(cl, "new", 3, T100, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(stats_of(cl).entries, 8);

	assert_int_equal(credlimit_reset(cl, "k4", 2), 0);
	assert_int_equal(credlimit_set_credits(cl, "new", 3, 7, T100), 0);
	assert_false(has_entry(cl, "k4"));
	assert_true(has_entry(cl, "new"));
	assert_int_equal(stats_of(cl).evictions, 1);
}

/* ---- full-table actions ---- */

static void full_deny_records_nothing(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_stats before, after;
	struct credlimit_result r;

	fill_eight_at(cl, T100);
	before = stats_of(cl);

	r = decide(cl, "new", 1, T100 + 300 * MS);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_int_equal(r.reset_after_ns, 700 * MS);
	assert_int_equal(r.retry_after_ns, 700 * MS);
	assert_int_equal(r.policy, CREDLIMIT_POLICY_DEFAULT);

	after = stats_of(cl);
	assert_int_equal(after.full_events, before.full_events + 1);
	assert_int_equal(after.denied, before.denied + 1);
	assert_int_equal(after.allowed, before.allowed);
	assert_int_equal(after.inserts, before.inserts);
	assert_int_equal(after.entries, 8);
	assert_int_equal(after.evictions, 0);
	assert_false(has_entry(cl, "new"));

	/* Each attempt counts again, and still records nothing. */
	r = decide(cl, "new", 1, T100 + 400 * MS);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_FULL);
	assert_int_equal(stats_of(cl).full_events, before.full_events + 2);
	assert_false(has_entry(cl, "new"));
}

static void full_allow_records_nothing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(10, SEC, 20, 0, 8);
	credlimit_t *cl;
	struct credlimit_stats before, after;
	struct credlimit_result r;

	o.full_action = CREDLIMIT_FULL_ALLOW;
	cl = fixture_open(f, &o);
	assert_int_equal(stats_of(cl).full_action, CREDLIMIT_FULL_ALLOW);
	fill_eight_at(cl, T100);
	before = stats_of(cl);

	r = decide(cl, "new", 3, T100 + 300 * MS);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_UNTRACKED);
	assert_int_equal(r.retry_after_ns, 0);

	after = stats_of(cl);
	assert_int_equal(after.full_events, before.full_events + 1);
	assert_int_equal(after.allowed, before.allowed + 1);
	assert_int_equal(after.denied, before.denied);
	assert_int_equal(after.inserts, before.inserts);
	assert_int_equal(after.entries, 8);
	assert_int_equal(after.evictions, 0);
	assert_false(has_entry(cl, "new"));
}

/* A cost above R + C is bad input, not a full-table event. */
static void full_table_cost_never_fits(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_result r;

	fill_eight_at(cl, T100);
	r = decide(cl, "new", 31, T100);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED_NEVER);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.retry_after_ns, CREDLIMIT_NEVER);
	assert_int_equal(stats_of(cl).full_events, 0);
	assert_false(has_entry(cl, "new"));
}

/* ---- what dead processes leave behind ---- */

/* A slot claimed for the key by a dead inserter is taken over. */
static void dead_claim_same_tag(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(10, SEC, 20, 0, 16);
	struct cl_key k;
	uint64_t home;
	struct cl_entry *e;
	struct credlimit_result r;
	struct findings findings;
	int warnings = 0;
	credlimit_t *cl;

	o.log = count_warnings;
	o.log_context = &warnings;
	cl = fixture_open(f, &o);
	k = key_of(cl, "claimed", 7);
	home = cl_home_slot(capacity_of(cl), k.hash);
	e = entry_at(cl, home);

	/* Died after claiming and writing half of the key. */
	e->meta = cl_meta_make_claim(k.tag, 7, false, (unsigned)dead_pid());
	e->key[0] = k.stored[0] ^ 0xff;
	e->last_seen_ns = 12345;

	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"dead process"));

	r = decide(cl, "claimed", 2, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.remaining, 8);
	assert_int_equal(slot_of(cl, "claimed", 7), home);
	assert_int_equal(cl_meta_status(e->meta), CL_SLOT_READY);
	assert_int_equal(cl_meta_pid(e->meta), getpid());
	assert_int_equal(used_of(cl, "claimed"), 2);
	assert_int_equal(stats_of(cl).recoveries, 1);
	assert_int_equal(stats_of(cl).inserts, 1);
	assert_int_equal(stats_of(cl).entries, 1);
	assert_int_equal(warnings, 1);

	assert_check_clean(cl, &findings);
	assert_int_equal(findings.notes, 0);
}

/*
 * An evicter that died after claiming its victim's slot leaves the
 * victim's key words and an EVICTING state behind the claim.
 */
static void dead_claim_after_eviction(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	struct cl_key k = key_of(cl, "claimed", 7);
	struct cl_key victim = key_of(cl, "victim", 6);
	uint64_t home = cl_home_slot(capacity_of(cl), k.hash);
	struct cl_entry *e = entry_at(cl, home);
	pid_t dead = dead_pid();
	struct credlimit_result r;
	struct findings findings;

	for (int i = 0; i < 4; i++)
		e->key[i] = victim.stored[i];
	e->state_lo = (uint64_t)dead;
	e->state_hi = cl_state_make_hi(T100 / SEC, 1, 5, CL_STATE_EVICTING);
	e->meta = cl_meta_make_claim(k.tag, 7, false, (unsigned)dead);

	r = decide(cl, "claimed", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(r.remaining, 9);
	assert_int_equal(slot_of(cl, "claimed", 7), home);
	assert_int_equal(cl_state_flags(e->state_hi), CL_STATE_LIVE);
	assert_int_equal(stats_of(cl).recoveries, 1);
	assert_false(has_entry(cl, "victim"));
	assert_check_clean(cl, &findings);
}

/*
 * A dead claim with another key's tag is skipped by inserts while the
 * chain has room, and reused (not counted as an eviction) when it has
 * none.
 */
static void dead_claim_other_tag(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct cl_key k = key_of(cl, "late", 4);
	unsigned other_tag = (k.tag + 1) & CL_META_TAG_MASK;
	struct credlimit_result r;
	struct findings findings;
	uint64_t claimed;
	char key[8];

	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		decide(cl, key, (uint64_t)i + 1, T100);
	}
	claimed = empty_slot(cl);
	entry_at(cl, claimed)->meta =
		cl_meta_make_claim(other_tag, 9, false, (unsigned)dead_pid());

	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"dead process"));

	r = decide(cl, "late", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(slot_of(cl, "late", 4), claimed);
	assert_int_equal(stats_of(cl).recoveries, 1);
	assert_int_equal(stats_of(cl).evictions, 0);
	assert_int_equal(stats_of(cl).entries, 8);
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(used_of(cl, key), i + 1);
	}
	assert_check_clean(cl, &findings);
	assert_int_equal(findings.notes, 0);
}

/*
 * An evicter that died after claiming its victim's slot for a key with
 * the same tag as "kept" leaves that claim before "kept"'s entry in its
 * probe sequence.  A decision on "kept" must find its entry and keep its
 * counts, not take the dead claim over and store the key a second time.
 */
static void dead_claim_before_existing_key(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	struct cl_key k = key_of(cl, "kept", 4);
	uint64_t home = cl_home_slot(capacity_of(cl), k.hash);
	struct cl_key victim;
	struct credlimit_result r;
	struct findings findings;
	struct cl_entry *e;
	char filler[32];

	/* "kept" lands after a victim key with the same home slot. */
	for (unsigned n = 0;; n++) {
		assert_true(n < 100000);
		snprintf(filler, sizeof(filler), "victim-%u", n);
		if (home_of(cl, filler) == home)
			break;
	}
	decide(cl, filler, 1, T100);
	decide(cl, "kept", 5, T100);
	assert_int_equal(slot_of(cl, filler, strlen(filler)), home);
	assert_int_equal(slot_of(cl, "kept", 4), wrap(cl, home + 1));

	/* Evicter of the victim died after step 2, claiming for a key with
	 * the tag of "kept". */
	victim = key_of(cl, filler, strlen(filler));
	e = entry_at(cl, home);
	e->state_lo = (uint64_t)dead_pid();
	e->state_hi |= (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT;
	e->meta = cl_meta_make_claim(k.tag, 9, false, (unsigned)e->state_lo);
	for (int i = 0; i < 4; i++)
		assert_int_equal(e->key[i], victim.stored[i]);

	r = decide(cl, "kept", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.remaining, 4);
	assert_int_equal(slot_of(cl, "kept", 4), wrap(cl, home + 1));
	assert_int_equal(used_of(cl, "kept"), 6);
	assert_check_clean(cl, &findings);
}

static void dead_claim_skipped_with_room(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	struct cl_key k = key_of(cl, "roomy", 5);
	uint64_t home = cl_home_slot(capacity_of(cl), k.hash);
	unsigned other_tag = (k.tag + 1) & CL_META_TAG_MASK;
	struct credlimit_result r;
	struct findings findings;

	entry_at(cl, home)->meta =
		cl_meta_make_claim(other_tag, 9, false, (unsigned)dead_pid());

	r = decide(cl, "roomy", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(slot_of(cl, "roomy", 5), wrap(cl, home + 1));
	assert_int_equal(cl_meta_status(entry_at(cl, home)->meta),
			 CL_SLOT_CLAIMED);
	assert_int_equal(stats_of(cl).recoveries, 0);

	/* The leftover claim stays a note, not a problem. */
	assert_check_clean(cl, &findings);
	assert_int_equal(findings.errors, 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"dead process"));
}

/* A live claimer of the key's slot makes a decision wait, then fail. */
static void live_claim_gives_ebusy(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	struct cl_key k = key_of(cl, "busy", 4);
	struct cl_entry *e = entry_at(cl, cl_home_slot(capacity_of(cl), k.hash));
	struct credlimit_result r;
	struct findings findings;
	char other[16];

	e->meta = cl_meta_make_claim(k.tag, 4, false, (unsigned)getpid());

	assert_int_equal(credlimit_acquire_at(cl, "busy", 4, 1, T100, &r),
			 -EBUSY);
	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"live process"));

	/* Keys with another tag are not held up by the claim. */
	for (unsigned n = 0;; n++) {
		assert_true(n < 10000);
		snprintf(other, sizeof(other), "free-%u", n);
		if (key_of(cl, other, strlen(other)).tag != k.tag)
			break;
	}
	r = decide(cl, other, 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
}

/*
 * An evicter that died after step 1 leaves a READY entry in state
 * EVICTING.  The next decision on the key resets it to a fresh state.
 */
static void dead_evicting_state_reset(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(10, SEC, 20, 5, 16);
	credlimit_t *cl = fixture_open(f, &o);
	struct credlimit_result r;
	struct findings findings;
	struct cl_entry *e;
	unsigned gen;

	r = decide(cl, "victim", 8, T100);
	assert_int_equal(r.remaining, 7);
	e = entry_at(cl, slot_of(cl, "victim", 6));
	gen = cl_state_gen(e->state_hi);

	e->state_lo = (uint64_t)dead_pid();
	e->state_hi = (e->state_hi & ~(UINT64_C(3) << CL_STATE_FLAGS_SHIFT)) |
		      (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT;

	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"being evicted by dead process"));

	/* Fresh: 10 base requests and I = 5 credits, minus this one. */
	r = decide(cl, "victim", 1, T100 + 100 * MS);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.credits, 5);
	assert_int_equal(r.remaining, 14);
	assert_int_equal(cl_state_flags(e->state_hi), CL_STATE_LIVE);
	assert_int_equal(cl_state_gen(e->state_hi), (gen + 1) & CL_STATE_GEN_MASK);
	assert_int_equal(used_of(cl, "victim"), 1);
	assert_int_equal(stats_of(cl).recoveries, 1);
	assert_int_equal(stats_of(cl).entries, 1);

	assert_check_clean(cl, &findings);
	assert_int_equal(findings.notes, 0);
}

/*
 * An entry left EVICTING by a dead evicter was already chosen as a victim,
 * so a later insert that needs room may take its slot.  Without that, the
 * slot is lost to every other key until its own key comes back.
 */
static void dead_evicting_slot_reclaimed(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_result r;
	struct cl_entry *e;

	fill_eight_at(cl, T100);
	assert_int_equal(credlimit_reset(cl, "k6", 2), 0);
	e = entry_at(cl, slot_of(cl, "k6", 2));
	e->state_lo = (uint64_t)dead_pid();
	e->state_hi |= (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT;

	r = decide(cl, "new", 1, T100 + SEC / 2);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags & CREDLIMIT_RESULT_NEW, CREDLIMIT_RESULT_NEW);
	assert_true(has_entry(cl, "new"));
	assert_false(has_entry(cl, "k6"));
}

/* A read-only handle cannot finish the eviction, so it skips the entry. */
static void dead_evicting_read_only(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	credlimit_t *ro = NULL;
	struct credlimit_entry entry;
	struct credlimit_result r;
	struct cl_entry *e;
	uint64_t state_hi;

	decide(cl, "victim", 8, T100);
	e = entry_at(cl, slot_of(cl, "victim", 6));
	e->state_lo = (uint64_t)dead_pid();
	e->state_hi = (e->state_hi & ~(UINT64_C(3) << CL_STATE_FLAGS_SHIFT)) |
		      (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT;
	state_hi = e->state_hi;

	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&ro),
			 0);
	assert_int_equal(credlimit_lookup(ro, "victim", 6, T100, &entry),
			 -ENOENT);
	assert_int_equal(credlimit_peek(ro, "victim", 6, T100, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(e->state_hi, state_hi);
	credlimit_close(ro);
}

/* An eviction lock left by a dead process is taken over. */
static void dead_eviction_lock_taken(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	uint64_t *lock;
	struct credlimit_result r;
	struct findings findings;

	fill_eight_at(cl, T100);
	assert_int_equal(credlimit_reset(cl, "k3", 2), 0);
	lock = &cl->view->current->table.locks[home_of(cl, "new") % CL_EVICT_LOCKS];
	*lock = (uint64_t)dead_pid();

	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"eviction lock"));

	r = decide(cl, "new", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(r.flags, NEW_BY_EVICTION);
	assert_false(has_entry(cl, "k3"));
	assert_int_equal(*lock, 0);
	assert_int_equal(stats_of(cl).evictions, 1);
	assert_int_equal(stats_of(cl).recoveries, 1);

	assert_check_clean(cl, &findings);
	assert_int_equal(findings.notes, 0);
}

/* A live holder of the eviction lock makes an evicting insert fail. */
static void live_eviction_lock_busy(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_result r;
	uint64_t *lock;

	fill_eight_at(cl, T100);
	assert_int_equal(credlimit_reset(cl, "k3", 2), 0);
	lock = &cl->view->current->table.locks[home_of(cl, "new") % CL_EVICT_LOCKS];
	*lock = (uint64_t)getpid();

	assert_int_equal(credlimit_acquire_at(cl, "new", 3, 1, T100, &r),
			 -EBUSY);
	assert_true(has_entry(cl, "k3"));

	*lock = 0;
	r = decide(cl, "new", 1, T100);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
}

/* The policy lock of a dead process is a note, and the next define
 * takes it over. */
static void dead_policy_lock_taken(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	struct credlimit_policy p = {
		.max_requests = 3,
		.max_credits = 0,
		.initial_credits = 0,
		.window_ns = SEC,
	};
	struct findings findings;

	cl->ctl->policy_lock = (uint64_t)dead_pid();
	assert_check_clean(cl, &findings);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO, "policy lock"));

	assert_true(credlimit_policy_define(cl, "after", &p) > 0);
	assert_int_equal(cl->ctl->policy_lock, 0);
	assert_check_clean(cl, &findings);
	assert_int_equal(findings.notes, 0);
}

/* ---- credlimit_check() problems ---- */

/* Opens a table of 16 with keys "a" .. "e" decided at T100. */
static credlimit_t *open_checked(struct fixture *f)
{
	credlimit_t *cl = open_table(f, 16);
	struct findings findings;
	const char *keys[] = { "a", "b", "c", "d", "e" };

	for (int i = 0; i < 5; i++)
		decide(cl, keys[i], (uint64_t)i + 1, T100);
	assert_check_clean(cl, &findings);
	assert_int_equal(findings.count, 0);
	return cl;
}

static void check_counts_above_policy(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "c", 1));
	struct findings findings;

	/* R = 10 is the largest max_requests any policy had. */
	e->state_lo = cl_state_make_lo(11, 0);
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"requests counted"));
}

static void check_credits_above_policy(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "c", 1));
	struct findings findings;

	e->state_lo = cl_state_make_lo(1, 21);
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"credits stored"));
}

/* Counts within a policy that was later lowered are not problems. */
static void check_counts_of_lowered_policy(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct credlimit_policy lower = {
		.max_requests = 2,
		.max_credits = 1,
		.initial_credits = 0,
		.window_ns = SEC,
	};
	struct findings findings;

	assert_int_equal(credlimit_policy_define(cl, "default", &lower), 0);
	assert_int_equal(used_of(cl, "e"), 5);
	assert_check_clean(cl, &findings);
}

static void check_key_stored_twice(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 8);
	uint64_t from, to;
	struct findings findings;

	fill_eight_at(cl, T100);
	from = slot_of(cl, "k2", 2);
	to = slot_of(cl, "k5", 2);
	memcpy(entry_at(cl, to), entry_at(cl, from), sizeof(struct cl_entry));

	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR, "same key"));
}

static void check_wrong_tag(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "b", 1));
	struct findings findings;

	e->meta ^= UINT64_C(1) << CL_META_TAG_SHIFT;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR, "tag"));
}

/* Window id 7 is unused, because registered ids are 1 .. window_count - 1. */
static void check_unregistered_window(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "d", 1));
	struct findings findings;

	assert_int_equal(cl->ctl->window_count, 2);
	e->state_hi = cl_state_make_hi(T100 / SEC, 7, cl_state_gen(e->state_hi),
				       CL_STATE_LIVE);
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"not registered"));

	/* A valid length in slot 7 does not register it either. */
	cl->windows[7] = 2 * SEC;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"not registered"));
}

static void check_empty_slot_garbage(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, empty_slot(cl));
	struct findings findings;

	e->key[2] = 0x55;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"empty slot holds data"));

	e->key[2] = 0;
	e->state_lo = 1;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"empty slot holds data"));
}

static void check_invalid_status(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "a", 1));
	struct findings findings;

	e->meta |= 3;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"invalid status"));
}

static void check_fresh_with_counts(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "a", 1));
	struct findings findings;

	e->state_hi = cl_state_make_hi(0, 0, cl_state_gen(e->state_hi),
				       CL_STATE_LIVE);
	e->state_lo = cl_state_make_lo(3, 0);
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"fresh state with nonzero counts"));
}

/* An entry moved past an EMPTY slot cannot be found by lookups. */
static void check_unreachable_entry(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_table(f, 16);
	uint64_t home = home_of(cl, "moved");
	uint64_t to = wrap(cl, home + 2);
	uint64_t from;
	struct findings findings;

	decide(cl, "moved", 1, T100);
	from = slot_of(cl, "moved", 5);
	assert_int_equal(from, home);
	memcpy(entry_at(cl, to), entry_at(cl, from), sizeof(struct cl_entry));
	memset(entry_at(cl, from), 0, sizeof(struct cl_entry));

	assert_false(has_entry(cl, "moved"));
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR, "unreachable"));
}

static void check_hashed_flag_wrong(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "a", 1));
	struct findings findings;

	e->meta |= CL_META_HASHED;
	assert_true(run_check(cl, &findings) > 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_ERROR,
				"stored as digest"));
}

/* Notes alone make no problem: dead claim, dead eviction, dead lock. */
static void check_notes_not_problems(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = open_checked(f);
	struct cl_entry *e = entry_at(cl, slot_of(cl, "b", 1));
	pid_t dead = dead_pid();
	struct findings findings;

	entry_at(cl, empty_slot(cl))->meta =
		cl_meta_make_claim(3, 4, false, (unsigned)dead);
	e->state_lo = (uint64_t)dead;
	e->state_hi |= (uint64_t)CL_STATE_EVICTING << CL_STATE_FLAGS_SHIFT;
	cl->view->current->table.locks[17] = (uint64_t)dead;

	assert_check_clean(cl, &findings);
	assert_int_equal(findings.errors, 0);
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"being written by dead process"));
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"being evicted by dead process"));
	assert_true(has_finding(&findings, CREDLIMIT_LOG_INFO,
				"eviction lock 17"));
}

#define TABLE_TEST(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, \
						       fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TABLE_TEST(many_keys_insert_lookup),
		TABLE_TEST(keys_with_nul_bytes),
		TABLE_TEST(key_one_byte_inline),
		TABLE_TEST(key_thirty_two_inline),
		TABLE_TEST(key_thirty_three_hashed),
		TABLE_TEST(long_keys_differ_after_prefix),
		TABLE_TEST(probe_length_bounded),
		TABLE_TEST(evict_fresh_met_first),
		TABLE_TEST(evict_fresh_met_after_idle),
		TABLE_TEST(evict_zero_credits_after_window),
		TABLE_TEST(evict_reset_entry_first),
		TABLE_TEST(evict_least_recently_used),
		TABLE_TEST(evict_idle_two_windows),
		TABLE_TEST(evict_never_active_entries),
		TABLE_TEST(evict_never_assigned_keys),
		TABLE_TEST(set_credits_insert_evicts),
		TABLE_TEST(full_deny_records_nothing),
		TABLE_TEST(full_allow_records_nothing),
		TABLE_TEST(full_table_cost_never_fits),
		TABLE_TEST(dead_claim_same_tag),
		TABLE_TEST(dead_claim_after_eviction),
		TABLE_TEST(dead_claim_other_tag),
		TABLE_TEST(dead_claim_before_existing_key),
		TABLE_TEST(dead_claim_skipped_with_room),
		TABLE_TEST(live_claim_gives_ebusy),
		TABLE_TEST(dead_evicting_state_reset),
		TABLE_TEST(dead_evicting_slot_reclaimed),
		TABLE_TEST(dead_evicting_read_only),
		TABLE_TEST(dead_eviction_lock_taken),
		TABLE_TEST(live_eviction_lock_busy),
		TABLE_TEST(dead_policy_lock_taken),
		TABLE_TEST(check_counts_above_policy),
		TABLE_TEST(check_credits_above_policy),
		TABLE_TEST(check_counts_of_lowered_policy),
		TABLE_TEST(check_key_stored_twice),
		TABLE_TEST(check_wrong_tag),
		TABLE_TEST(check_unregistered_window),
		TABLE_TEST(check_empty_slot_garbage),
		TABLE_TEST(check_invalid_status),
		TABLE_TEST(check_fresh_with_counts),
		TABLE_TEST(check_unreachable_entry),
		TABLE_TEST(check_hashed_flag_wrong),
		TABLE_TEST(check_notes_not_problems),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
