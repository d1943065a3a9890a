/*
 * test_growth.c - table growth: a limiter whose table grows into new
 * generations while forked processes and threads keep deciding.
 *
 * Every expectation uses explicit times (credlimit_acquire_at), so the
 * counts each key must hold follow from the sequential algorithm
 * (cl_algo_decide) replayed over that key's decisions.  Policies keep
 * initial_credits below max_credits, so an entry that a decision changed
 * is never indistinguishable from a new customer, whatever time a
 * migration judges it at.  A migration may drop only an entry inserted a
 * moment before and not decided on yet, and every other key must survive
 * every migration with its counts.
 *
 * Processes are killed at named points of a migration through the test
 * hook cl_migration_hook, set only in forked children.  Children run
 * plain checks and end with _exit(code), and only the parent uses cmocka
 * assertions.  The fixture kills and reaps any child a failed test leaves
 * behind and removes the limiter with every table generation.
 *
 * CREDLIMIT_TEST_GROWTH_KEYS, when set, replaces the 100,000 keys of the
 * eight-process test (and scales the inserts of the threaded one), for
 * slow machines.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu-bp.h>
#include <urcu/uatomic.h>

#include "unit.h"

#include "lib/algorithm.h"
#include "lib/handle.h"
#include "lib/view.h"
#include "shm/entry.h"
#include "shm/migrate.h"
#include "shm/table.h"

/*
 * tests/run-all.sh also runs this file in a ThreadSanitizer build (see
 * UNDER_TSAN in unit.h).  Only the threaded test runs there, without its
 * cross-process count checks.
 */
#define MAX_CHILDREN 16
#define MAX_SHARED 4

struct fixture {
	char name[64];
	credlimit_t *cl;
	credlimit_t *reader; /* a read-only handle, when a test opens one */
	pid_t children[MAX_CHILDREN];
	int nchildren;
	void *shared[MAX_SHARED];
	size_t shared_size[MAX_SHARED];
	const void *param; /* the test's case, from its prestate */
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->param = *state;
	unit_name(f->name, "growth");
	*state = f;
	return 0;
}

static void kill_children(struct fixture *f)
{
	for (int i = 0; i < f->nchildren; i++) {
		if (f->children[i] <= 0)
			continue;
		kill(f->children[i], SIGKILL);
		waitpid(f->children[i], NULL, 0);
		f->children[i] = 0;
	}
	f->nchildren = 0;
}

/* Closes the handles and removes the limiter, so the fixture can make
 * another one under a new name. */
static void fixture_drop_limiter(struct fixture *f)
{
	credlimit_close(f->reader);
	f->reader = NULL;
	credlimit_close(f->cl);
	f->cl = NULL;
	credlimit_unlink(f->name);
}

/* Kills and reaps every child still running, so a failed test leaves no
 * process behind, then removes the limiter and its table generations. */
static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	kill_children(f);
	for (int i = 0; i < MAX_SHARED; i++)
		if (f->shared[i] != NULL)
			munmap(f->shared[i], f->shared_size[i]);
	fixture_drop_limiter(f);
	free(f);
	return 0;
}

static struct credlimit_policy policy_of(uint32_t max_requests,
					 uint32_t max_credits,
					 uint32_t initial_credits)
{
	struct credlimit_policy p = {
		.max_requests = max_requests,
		.max_credits = max_credits,
		.initial_credits = initial_credits,
		.window_ns = SEC,
	};

	return p;
}

static credlimit_t *fixture_open(struct fixture *f,
				 const struct credlimit_policy *p,
				 uint64_t initial_capacity, uint64_t max_capacity)
{
	struct credlimit_options o = unit_options(p->max_requests, p->window_ns,
						  p->max_credits,
						  p->initial_credits,
						  initial_capacity);

	o.max_capacity = max_capacity;
	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&o, &f->cl),
			 0);
	return f->cl;
}

/* Maps `size` zeroed bytes shared with the children forked later. */
static void *fixture_shared(struct fixture *f, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int i = 0;

	assert_true(p != MAP_FAILED);
	while (i < MAX_SHARED && f->shared[i] != NULL)
		i++;
	assert_true(i < MAX_SHARED);
	f->shared[i] = p;
	f->shared_size[i] = size;
	return p;
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

/* Forks a child that runs fn(arg, index) and exits with its result.
 * Returns its pid, recorded in the fixture. */
static pid_t spawn(struct fixture *f, int (*fn)(void *, int), void *arg,
		   int index)
{
	int free_slot = 0;
	pid_t pid;

	while (free_slot < f->nchildren && f->children[free_slot] > 0)
		free_slot++;
	assert_true(free_slot < MAX_CHILDREN);

	pid = fork();
	if (pid == 0) {
		child_prepare();
		_exit(fn(arg, index));
	}
	assert_true(pid > 0);
	f->children[free_slot] = pid;
	if (free_slot == f->nchildren)
		f->nchildren++;
	return pid;
}

/* Waits for child `pid`, removes it from the fixture's list and returns
 * its wait status. */
static int reap(struct fixture *f, pid_t pid)
{
	int status = 0;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < f->nchildren; i++)
		if (f->children[i] == pid)
			f->children[i] = 0;
	return status;
}

/* Child exit codes. */
enum {
	CHILD_SETUP_FAILED = 20,
	CHILD_DECIDE_FAILED,
	CHILD_WRONG_RESULT,
	CHILD_GROW_FAILED,
	CHILD_NOT_KILLED,
	CHILD_WRONG_GENERATION,
	CHILD_OLD_TABLE_MAPPED,
	CHILD_THREAD_FAILED,
	CHILD_FORK_FAILED,
	CHILD_GRANDCHILD_FAILED,
	CHILD_GROWTH_NOT_HELD_OFF,
	CHILD_NO_NAMESPACE = 77,
};

static const char *child_code_name(int code)
{
	switch (code) {
	case CHILD_SETUP_FAILED:
		return "setup failed";
	case CHILD_DECIDE_FAILED:
		return "a decision returned an error";
	case CHILD_WRONG_RESULT:
		return "a decision had an unexpected result";
	case CHILD_GROW_FAILED:
		return "credlimit_grow failed";
	case CHILD_NOT_KILLED:
		return "the migration point was never reached";
	case CHILD_WRONG_GENERATION:
		return "the process did not follow the new generation";
	case CHILD_OLD_TABLE_MAPPED:
		return "the old table is still mapped";
	case CHILD_THREAD_FAILED:
		return "pthread_create failed";
	case CHILD_FORK_FAILED:
		return "fork failed";
	case CHILD_GRANDCHILD_FAILED:
		return "the grandchild failed";
	case CHILD_GROWTH_NOT_HELD_OFF:
		return "a failed growth was retried at once";
	case CHILD_NO_NAMESPACE:
		return "no mount namespace with a small /dev/shm";
	default:
		return "unknown code";
	}
}

/* Waits for every child and checks each exited with status 0. */
static void reap_all_ok(struct fixture *f)
{
	for (int i = 0; i < f->nchildren; i++) {
		pid_t pid = f->children[i];
		int status;

		if (pid <= 0)
			continue;
		status = reap(f, pid);
		if (WIFSIGNALED(status))
			fail_msg("child %d (pid %d) died of signal %d", i,
				 (int)pid, WTERMSIG(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("child %d (pid %d) exited with code %d (%s)", i,
				 (int)pid, WEXITSTATUS(status),
				 child_code_name(WEXITSTATUS(status)));
	}
	f->nchildren = 0;
}

/* Runs fn in a child that must die of SIGKILL (from the migration hook). */
static void run_killed_child(struct fixture *f, int (*fn)(void *, int),
			     void *arg)
{
	pid_t pid = spawn(f, fn, arg, 0);
	int status = reap(f, pid);

	if (WIFEXITED(status))
		fail_msg("child exited with code %d (%s) instead of being "
			 "killed",
			 WEXITSTATUS(status),
			 child_code_name(WEXITSTATUS(status)));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* Spins until *gate is non-zero, so children start deciding together. */
static void wait_gate(const uint32_t *gate)
{
	while (uatomic_read(gate) == 0)
		sched_yield();
}

static struct credlimit_stats stats_of(credlimit_t *cl)
{
	struct credlimit_stats s;

	assert_int_equal(credlimit_stats(cl, &s), 0);
	return s;
}

static uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static unsigned log2_u64(uint64_t x)
{
	unsigned n = 0;

	while (x > 1) {
		x >>= 1;
		n++;
	}
	return n;
}

/* Reports check findings: errors are printed, notes only counted. */
static void count_finding(void *context, int level, const char *message)
{
	if (level == CREDLIMIT_LOG_INFO)
		(*(int *)context)++;
	else
		print_message("check: %s\n", message);
}

static void assert_check_clean(credlimit_t *cl)
{
	int notes = 0;

	assert_int_equal(credlimit_check(cl, count_finding, &notes), 0);
}

/*
 * Checks /dev/shm: the control segment of limiter `name` is there, and of
 * its table segments only generation `generation`.
 */
static void assert_segments(const char *name, uint64_t generation)
{
	char prefix[96];
	char stale[512] = "";
	size_t prefix_len;
	bool control = false;
	int current = 0;
	struct dirent *de;
	DIR *dir;

	prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "credlimit.%s",
				      name);
	dir = opendir("/dev/shm");
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		const char *rest = de->d_name + prefix_len;
		uint64_t number;
		char *end;

		if (strncmp(de->d_name, prefix, prefix_len) != 0)
			continue;
		if (*rest == '\0') {
			control = true;
			continue;
		}
		if (rest[0] != '.' || rest[1] != 'g')
			continue;
		number = strtoull(rest + 2, &end, 10);
		if (*end != '\0')
			continue;
		if (number == generation)
			current++;
		else
			snprintf(stale + strlen(stale),
				 sizeof(stale) - strlen(stale), " %s",
				 de->d_name);
	}
	closedir(dir);

	assert_true(control);
	if (stale[0] != '\0')
		fail_msg("stale table segments left in /dev/shm:%s (current "
			 "generation %" PRIu64 ")",
			 stale, generation);
	assert_int_equal(current, 1);
}

/* Applies one decision to a model of a key's state. */
static struct credlimit_result model_decide(const struct credlimit_policy *p,
					    struct cl_algo_state *s,
					    uint64_t now_ns, uint64_t cost)
{
	struct credlimit_result r;

	cl_algo_decide(p, s, now_ns, cost, &r, NULL);
	return r;
}

/* Checks that key's entry contains the model's stored state. */
static void assert_entry(credlimit_t *cl, const char *key,
			 const struct cl_algo_state *s)
{
	struct credlimit_entry e;
	int err = credlimit_lookup(cl, key, strlen(key),
				   s->window * s->window_ns, &e);

	if (err != 0)
		fail_msg("lookup of key %s failed: %s", key,
			 credlimit_strerror(err));
	if (e.used != s->used || e.credits != s->credits ||
	    e.window_start_ns != s->window * s->window_ns)
		fail_msg("key %s: table has used %u, credits %u, window "
			 "start %" PRIu64 " ns; the algorithm gives %u, %u, %"
			 PRIu64 " ns",
			 key, e.used, e.credits, e.window_start_ns, s->used,
			 s->credits, s->window * s->window_ns);
}

/* Decides key at now_ns and checks the result against the model. */
static void decide_as_model(credlimit_t *cl, const char *key,
			    const struct credlimit_policy *p,
			    struct cl_algo_state *s, uint64_t now_ns,
			    uint64_t cost)
{
	struct credlimit_result expected = model_decide(p, s, now_ns, cost);
	struct credlimit_result r;
	int err = credlimit_acquire_at(cl, key, strlen(key), cost, now_ns, &r);

	if (err != 0)
		fail_msg("decision on key %s failed: %s", key,
			 credlimit_strerror(err));
	if (r.verdict != expected.verdict ||
	    r.remaining != expected.remaining)
		fail_msg("key %s, cost %" PRIu64 " at %" PRIu64 " ns: verdict "
			 "%d with %" PRIu64 " remaining (flags %#x); the "
			 "algorithm gives %d with %" PRIu64,
			 key, cost, now_ns, r.verdict, r.remaining, r.flags,
			 expected.verdict, expected.remaining);
}

/* The migration fields of the control segment, as text. */
struct migration_text {
	char text[200];
};

static struct migration_text describe_migration(const credlimit_t *cl)
{
	const struct cl_ctl *ctl = cl->ctl;
	uint64_t state = uatomic_read(&ctl->migration_state);
	uint64_t cursor = uatomic_read(&ctl->migration_cursor);
	struct migration_text m;

	snprintf(m.text, sizeof(m.text),
		 "migration phase %u to generation %" PRIu64 " of %" PRIu64
		 " slots, %" PRIu64 " pieces handed out, lock held by pid %"
		 PRIu64,
		 (unsigned)(state & 0xff), state >> 8,
		 uatomic_read(&ctl->migration_target),
		 cursor & CL_MIGRATION_COUNT_MASK,
		 uatomic_read(&ctl->migration_pid));
	return m;
}

/* ---- the migration hook ---- */

static const char *kill_point;
static unsigned kill_at;
static unsigned kill_calls;

/* Dies at the kill_at-th call of point kill_point.  Set in children only. */
static void kill_hook(const char *point)
{
	if (strcmp(point, kill_point) == 0 && ++kill_calls == kill_at)
		raise(SIGKILL);
}

static void arm_kill_hook(const char *point, unsigned at)
{
	kill_point = point;
	kill_at = at;
	kill_calls = 0;
	cl_migration_hook = kill_hook;
}

#define POINTS 6
static const char *const point_names[POINTS] = {
	"creating", "created", "frozen", "copied", "published", "cleared",
};
static unsigned point_calls[POINTS];

static void count_hook(const char *point)
{
	for (int i = 0; i < POINTS; i++)
		if (strcmp(point, point_names[i]) == 0)
			point_calls[i]++;
}

/* ---- keys filled at a fixed time ---- */

/* R = 10, C = 20, I = 5: a fill of cost up to 15 is allowed. */
#define FILL_R 10
#define FILL_C 20
#define FILL_I 5
#define T_FILL (UINT64_C(100) * SEC + SEC / 2)

static uint64_t fill_cost(uint32_t i)
{
	return 1 + i % (FILL_R + FILL_I);
}

static int fill_key(char key[32], const char *prefix, uint32_t i)
{
	return snprintf(key, 32, "%s-%03u", prefix, i);
}

/* Decides `count` keys once each at T_FILL and records their model. */
static void fill_keys(credlimit_t *cl, const char *prefix, uint32_t count,
		      struct cl_algo_state *model)
{
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	char key[32];

	for (uint32_t i = 0; i < count; i++) {
		fill_key(key, prefix, i);
		memset(&model[i], 0, sizeof(model[i]));
		decide_as_model(cl, key, &p, &model[i], T_FILL, fill_cost(i));
	}
}

static void assert_filled(credlimit_t *cl, const char *prefix, uint32_t count,
			  const struct cl_algo_state *model)
{
	char key[32];

	for (uint32_t i = 0; i < count; i++) {
		fill_key(key, prefix, i);
		assert_entry(cl, key, &model[i]);
	}
}

/* ---- growth from 64 slots to 100,000 keys under eight deciders ---- */

#define DECIDERS 8
#define DECISIONS_PER_KEY 3
#define HOT_KEYS 512
#define HOT_EVERY 64 /* owned decisions between two hot ones */
#define DEFAULT_GROWTH_KEYS 100000

/* R = 4, C = 6, I = 2: costs 1 to 3 are denied once a window is used. */
#define WIDE_R 4
#define WIDE_C 6
#define WIDE_I 2
#define T_HOT (UINT64_C(30) * SEC + SEC / 2)

/* Windows the owned decisions fall in: adjacent ones roll by one window,
 * the others over idle windows. */
static const uint64_t wide_windows[] = { 10, 11, 13, 16, 20 };

struct decision_record {
	uint64_t now_ns;
	uint32_t key;
	uint8_t cost;
	uint8_t verdict;
	uint8_t remaining;
	uint8_t flags;
};

struct wide {
	uint32_t gate;
	credlimit_t *cl;
	uint32_t keys;
	uint32_t per_child; /* log records per child */
	struct decision_record *logs;
	uint32_t records[DECIDERS];
	uint32_t errors;
	int first_error;
	uint32_t hot_allowed[HOT_KEYS];
};

static uint32_t growth_keys(void)
{
	const char *text = getenv("CREDLIMIT_TEST_GROWTH_KEYS");
	unsigned long value;

	if (text == NULL || *text == '\0')
		return DEFAULT_GROWTH_KEYS;
	value = strtoul(text, NULL, 10);
	if (value < 1000)
		value = 1000;
	if (value > 1000000)
		value = 1000000;
	return (uint32_t)value;
}

static int wide_key(char key[32], uint32_t k)
{
	return snprintf(key, 32, "user-%07u", k);
}

static int hot_key(char key[32], uint32_t h)
{
	return snprintf(key, 32, "hot-%04u", h);
}

static void wide_error(struct wide *w, int err)
{
	if (uatomic_add_return(&w->errors, 1) == 1)
		w->first_error = err;
}

static void wide_hot(struct wide *w, uint32_t h)
{
	struct credlimit_result r;
	char key[32];
	int len = hot_key(key, h);
	int err = credlimit_acquire_at(w->cl, key, (size_t)len, 1, T_HOT, &r);

	if (err != 0)
		wide_error(w, err);
	else if (credlimit_allowed(&r))
		uatomic_inc(&w->hot_allowed[h]);
}

/*
 * Decides the keys k with k % DECIDERS == index, each DECISIONS_PER_KEY
 * times, in a random order, at random times in the windows above, and logs
 * every result.  Only this child decides these keys, so their order is its
 * program order.  Every HOT_EVERY decisions it also decides a hot key,
 * which every child decides, always at T_HOT.
 */
static int wide_decider(void *arg, int index)
{
	struct wide *w = arg;
	struct decision_record *log = w->logs + (size_t)index * w->per_child;
	uint64_t x = UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(index + 1);
	uint32_t owned = 0, ops_count, hot = (uint32_t)index * 61u;
	uint32_t *ops;

	for (uint32_t k = (uint32_t)index; k < w->keys; k += DECIDERS)
		owned++;
	ops_count = owned * DECISIONS_PER_KEY;
	if (ops_count > w->per_child)
		return CHILD_SETUP_FAILED;
	ops = malloc(ops_count * sizeof(*ops));
	if (ops == NULL)
		return CHILD_SETUP_FAILED;
	for (uint32_t i = 0, k = (uint32_t)index; k < w->keys; k += DECIDERS)
		for (int d = 0; d < DECISIONS_PER_KEY; d++)
			ops[i++] = k;
	for (uint32_t i = ops_count - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(xorshift64(&x) % (i + 1));
		uint32_t t = ops[i];

		ops[i] = ops[j];
		ops[j] = t;
	}

	wait_gate(&w->gate);
	for (uint32_t i = 0; i < ops_count; i++) {
		struct decision_record *rec = &log[i];
		struct credlimit_result r;
		char key[32];
		uint64_t window = wide_windows[xorshift64(&x) % 5];
		int len = wide_key(key, ops[i]);
		int err;

		rec->key = ops[i];
		rec->cost = (uint8_t)(1 + xorshift64(&x) % 3);
		rec->now_ns = window * SEC + xorshift64(&x) % SEC;
		err = credlimit_acquire_at(w->cl, key, (size_t)len, rec->cost,
					   rec->now_ns, &r);
		if (err != 0) {
			wide_error(w, err);
			free(ops);
			return CHILD_DECIDE_FAILED;
		}
		rec->verdict = (uint8_t)r.verdict;
		rec->remaining = (uint8_t)(r.remaining > 255 ? 255
							     : r.remaining);
		rec->flags = (uint8_t)r.flags;
		w->records[index] = i + 1;

		if (i % HOT_EVERY == 0)
			wide_hot(w, hot++ % HOT_KEYS);
	}

	/* A last pass, so every hot key gets at least DECIDERS tries. */
	for (uint32_t h = 0; h < HOT_KEYS; h++)
		wide_hot(w, h);
	free(ops);
	return 0;
}

/*
 * Replays each child's log through the algorithm, key by key, checks
 * every logged result and leaves each key's final state in model[].  A
 * decision reported NEW on a key that had an entry follows an eviction, so
 * the key starts afresh there.  Returns the number of such restarts.
 */
static uint64_t wide_replay(const struct wide *w,
			    const struct credlimit_policy *p,
			    struct cl_algo_state *model)
{
	uint64_t mismatches = 0, restarts = 0;
	char first[256] = "";

	for (int c = 0; c < DECIDERS; c++) {
		const struct decision_record *log =
			w->logs + (size_t)c * w->per_child;

		for (uint32_t i = 0; i < w->records[c]; i++) {
			const struct decision_record *rec = &log[i];
			struct cl_algo_state next = model[rec->key];
			struct cl_algo_state fresh = { 0 };
			struct credlimit_result r = model_decide(
				p, &next, rec->now_ns, rec->cost);

			if (r.verdict == rec->verdict &&
			    r.remaining == rec->remaining) {
				model[rec->key] = next;
				continue;
			}
			if ((rec->flags & CREDLIMIT_RESULT_NEW) &&
			    model[rec->key].window_ns != 0) {
				r = model_decide(p, &fresh, rec->now_ns,
						 rec->cost);
				if (r.verdict == rec->verdict &&
				    r.remaining == rec->remaining) {
					model[rec->key] = fresh;
					restarts++;
					continue;
				}
			}
			model[rec->key] = next;
			if (mismatches++ == 0)
				snprintf(first, sizeof(first),
					 "child %d decision %u: key %u, cost "
					 "%u at %" PRIu64 " ns gave verdict %u "
					 "with %u remaining (flags %#x); the "
					 "algorithm gives %d with %" PRIu64,
					 c, i, rec->key, rec->cost, rec->now_ns,
					 rec->verdict, rec->remaining,
					 rec->flags, r.verdict, r.remaining);
		}
	}
	if (mismatches != 0)
		fail_msg("%" PRIu64 " decisions differ from the sequential "
			 "algorithm; the first: %s",
			 mismatches, first);
	return restarts;
}

static void grow_under_eight_deciders(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(WIDE_R, WIDE_C, WIDE_I);
	uint32_t keys = growth_keys();
	uint32_t per_child = (keys / DECIDERS + 1) * DECISIONS_PER_KEY;
	credlimit_t *cl = fixture_open(f, &p, 64, UINT64_C(1) << 18);
	struct wide *w = fixture_shared(f, sizeof(*w));
	struct cl_algo_state *model =
		fixture_shared(f, (size_t)keys * sizeof(*model));
	struct credlimit_stats stats;
	uint64_t expected_capacity = 64, restarts, missing = 0;
	char key[32];

	w->cl = cl;
	w->keys = keys;
	w->per_child = per_child;
	w->logs = fixture_shared(f, (size_t)DECIDERS * per_child *
					    sizeof(*w->logs));

	for (int i = 0; i < DECIDERS; i++)
		spawn(f, wide_decider, w, i);
	uatomic_set(&w->gate, 1);
	reap_all_ok(f);
	if (w->errors != 0)
		fail_msg("%u decisions failed, the first with %s", w->errors,
			 credlimit_strerror(w->first_error));

	stats = stats_of(cl);
	print_message("%u keys, %" PRIu64 " decisions: generation %" PRIu64
		      ", %" PRIu64 " slots, %" PRIu64 " entries moved, %"
		      PRIu64 " evictions\n",
		      keys, stats.allowed + stats.denied, stats.generation,
		      stats.capacity, stats.entries_moved, stats.evictions);
	assert_false(stats.migrating);
	assert_int_equal(stats.full_events, 0);

	/*
	 * Growth never loses counts.  Evictions may: a small table that
	 * fills before its successor is ready still evicts idle entries
	 * (the full-table rule), and the key restarts as a new customer.
	 * Every such restart, and every key missing at the end, must be
	 * an eviction the counters show.
	 */
	restarts = wide_replay(w, &p, model);
	for (uint32_t k = 0; k < keys; k++) {
		struct credlimit_entry e;
		int len = wide_key(key, k);

		if (stats.evictions > 0 &&
		    credlimit_lookup(cl, key, (size_t)len, 0, &e) == -ENOENT) {
			missing++;
			continue;
		}
		assert_entry(cl, key, &model[k]);
	}
	if (restarts + missing > 0)
		print_message("%" PRIu64 " keys restarted after an eviction, "
			      "%" PRIu64 " evicted at the end\n",
			      restarts, missing);
	if (restarts + missing > stats.evictions)
		fail_msg("%" PRIu64 " keys lost their counts, but only %" PRIu64
			 " entries were evicted",
			 restarts + missing, stats.evictions);

	/* Each hot key: 8 children tried it at least 8 times at one time,
	 * so exactly R + I requests of cost 1 were allowed. */
	for (uint32_t h = 0; h < HOT_KEYS; h++) {
		struct cl_algo_state hot = {
			.window = T_HOT / SEC,
			.window_ns = SEC,
			.used = WIDE_R,
			.credits = 0,
		};

		hot_key(key, h);
		if (w->hot_allowed[h] != WIDE_R + WIDE_I)
			fail_msg("hot key %s allowed %u times, expected %d", key,
				 w->hot_allowed[h], WIDE_R + WIDE_I);
		assert_entry(cl, key, &hot);
	}

	/* The table grew by doublings to the first size that keeps it
	 * below half full. */
	while (expected_capacity * 2 <= (uint64_t)keys + HOT_KEYS)
		expected_capacity *= 2;
	expected_capacity *= 2;
	assert_true(stats.capacity >= expected_capacity);
	assert_int_equal(stats.generation,
			 1 + log2_u64(stats.capacity / 64));
	assert_int_equal(stats.migrations, stats.generation - 1);
	assert_true(stats.migrations > 0);
	assert_int_equal(stats.entries, (uint64_t)keys + HOT_KEYS - missing);
	assert_check_clean(cl);
	assert_segments(f->name, stats.generation);
}

/* ---- a process killed at each point of a migration ---- */

#define KILL_KEYS 20

/* One test: where the child dies, and how the parent then goes on. */
struct kill_case {
	const char *point;
	bool by_deciding; /* the parent only decides, never calls grow */
};

/* Nth calls tried.  A point called once per migration dies in the first,
 * second or third migration.  A per-entry point dies at the first, a
 * middle and the last entry of the first migration, then in the second
 * and the third. */
static const unsigned once_calls[] = { 1, 2, 3 };
static const unsigned entry_calls[] = { 1, KILL_KEYS / 2, KILL_KEYS,
					KILL_KEYS + 1, 2 * KILL_KEYS + 10 };

static bool point_per_entry(const char *point)
{
	return strcmp(point, "frozen") == 0 || strcmp(point, "copied") == 0;
}

/* Runs three migrations, 64 -> 128 -> 256 -> 512 slots, with the hook
 * armed; returns only when the hook did not kill the process. */
static int grow_three_times(void *arg, int index)
{
	credlimit_t *cl = arg;

	(void)index;
	for (uint64_t capacity = 128; capacity <= 512; capacity *= 2)
		if (credlimit_grow(cl, capacity) != 0)
			return CHILD_GROW_FAILED;
	return CHILD_NOT_KILLED;
}

static int grow_killed(void *arg, int index)
{
	arm_kill_hook(kill_point, kill_at);
	return grow_three_times(arg, index);
}

/*
 * Lets the parent's decisions finish what the dead process left: inserts
 * 50 new keys (70 entries: more than half of a 128-slot table), then
 * decides old keys until no migration runs.  Returns the decisions made.
 */
static unsigned finish_by_deciding(credlimit_t *cl,
				   struct cl_algo_state *new_model)
{
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	unsigned decisions = 0;
	char key[32];

	for (uint32_t i = 0; i < 50; i++) {
		fill_key(key, "new", i);
		memset(&new_model[i], 0, sizeof(new_model[i]));
		decide_as_model(cl, key, &p, &new_model[i], T_FILL, 1);
		decisions++;
	}
	while (decisions < 3000 && stats_of(cl).migrating) {
		struct credlimit_result r;

		fill_key(key, "old", decisions % KILL_KEYS);
		assert_int_equal(credlimit_acquire_at(cl, key, strlen(key), 0,
						      T_FILL, &r),
				 0);
		decisions++;
	}
	return decisions;
}

static void kill_one(struct fixture *f, const struct kill_case *kc,
		     unsigned at)
{
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct cl_algo_state model[KILL_KEYS], new_model[50];
	unsigned migration = point_per_entry(kc->point)
				     ? (at - 1) / KILL_KEYS + 1
				     : at;
	uint64_t min_capacity = UINT64_C(64) << migration;
	struct credlimit_stats stats;
	char key[32];

	fill_keys(cl, "old", KILL_KEYS, model);
	stats = stats_of(cl);
	assert_int_equal(stats.generation, 1);
	assert_false(stats.migrating);

	kill_point = kc->point;
	kill_at = at;
	run_killed_child(f, grow_killed, cl);

	if (kc->by_deciding) {
		unsigned decisions = finish_by_deciding(cl, new_model);

		stats = stats_of(cl);
		if (stats.migrating)
			fail_msg("killed at call %u of \"%s\": the migration "
				 "is still under way after %u decisions "
				 "(generation %" PRIu64 ", %" PRIu64
				 " slots; %s)",
				 at, kc->point, decisions, stats.generation,
				 stats.capacity, describe_migration(cl).text);
		/* 70 entries need 256 slots at least. */
		if (min_capacity < 256)
			min_capacity = 256;
		if (stats.capacity < min_capacity)
			fail_msg("killed at call %u of \"%s\": the table has "
				 "%" PRIu64 " slots for 70 keys, expected at "
				 "least %" PRIu64,
				 at, kc->point, stats.capacity, min_capacity);
		assert_int_equal(stats.generation,
				 1 + log2_u64(stats.capacity / 64));
		for (uint32_t i = 0; i < 50; i++) {
			fill_key(key, "new", i);
			assert_entry(cl, key, &new_model[i]);
		}
	} else {
		assert_int_equal(credlimit_grow(cl, 512), 0);
		stats = stats_of(cl);
		assert_false(stats.migrating);
		assert_int_equal(stats.capacity, 512);
		/* The dead process's migration ends at 64 << migration
		 * slots; a last one goes to 512 if that is smaller. */
		assert_int_equal(stats.generation,
				 migration == 3 ? 4 : migration + 2);
	}

	assert_int_equal(stats.migrations, stats.generation - 1);
	assert_filled(cl, "old", KILL_KEYS, model);
	assert_check_clean(cl);

	/* Later decisions give exact results, in the window of the fill
	 * and in a later one. */
	for (uint32_t i = 0; i < KILL_KEYS; i++) {
		fill_key(key, "old", i);
		decide_as_model(cl, key, &p, &model[i], T_FILL, 2);
		decide_as_model(cl, key, &p, &model[i], T_FILL + 3 * SEC, 7);
		assert_entry(cl, key, &model[i]);
	}
	assert_segments(f->name, stats.generation);
}

static void kill_at_point(void **state)
{
	struct fixture *f = *state;
	const struct kill_case *kc = f->param;
	const unsigned *calls = point_per_entry(kc->point) ? entry_calls
							   : once_calls;
	size_t count = point_per_entry(kc->point)
			       ? sizeof(entry_calls) / sizeof(entry_calls[0])
			       : sizeof(once_calls) / sizeof(once_calls[0]);

	for (size_t i = 0; i < count; i++) {
		print_message("killed at call %u of \"%s\"\n", calls[i],
			      kc->point);
		kill_one(f, kc, calls[i]);
		fixture_drop_limiter(f);
		unit_name(f->name, "growth");
	}
}

/* The hook reaches every point the kill tests use, as often as they
 * assume: once per migration, or once per entry. */
static void hook_points_of_one_migration(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct cl_algo_state model[KILL_KEYS];
	int err;

	fill_keys(cl, "old", KILL_KEYS, model);
	memset(point_calls, 0, sizeof(point_calls));
	cl_migration_hook = count_hook;
	err = credlimit_grow(cl, 128);
	cl_migration_hook = NULL;
	assert_int_equal(err, 0);

	assert_int_equal(point_calls[0], 1); /* creating */
	assert_int_equal(point_calls[1], 1); /* created */
	assert_int_equal(point_calls[2], KILL_KEYS); /* frozen */
	assert_int_equal(point_calls[3], KILL_KEYS); /* copied */
	assert_int_equal(point_calls[4], 1); /* published */
	assert_int_equal(point_calls[5], 1); /* cleared */
	assert_filled(cl, "old", KILL_KEYS, model);
	assert_segments(f->name, 2);
}

/* ---- threads deciding while another process grows the table ---- */

#define MPM_HOT_KEYS 1024
#define MPM_THREADS 4   /* in the first worker, like a worker MPM */
#define MPM_THREADS_2 2 /* in the second worker */
#define DEFAULT_MPM_INSERTS 60000

/* R = 3, C = 4, I = 2: five requests of cost 1 per key at one time. */
#define MPM_R 3
#define MPM_C 4
#define MPM_I 2
#define T_MPM (UINT64_C(50) * SEC + SEC / 2)

struct mpm {
	uint32_t gate;
	uint32_t inserted; /* set when the inserter is done */
	credlimit_t *cl;
	uint32_t inserts;
	uint32_t errors;
	int first_error;
	uint32_t hot_allowed[MPM_HOT_KEYS];
};

struct mpm_thread {
	struct mpm *m;
	int seed;
};

static void mpm_error(struct mpm *m, int err)
{
	if (uatomic_add_return(&m->errors, 1) == 1)
		m->first_error = err;
}

static void mpm_pass(struct mpm *m, uint32_t start, uint32_t stride)
{
	for (uint32_t i = 0; i < MPM_HOT_KEYS; i++) {
		uint32_t h = (start + i * stride) % MPM_HOT_KEYS;
		struct credlimit_result r;
		char key[32];
		int len = hot_key(key, h);
		int err = credlimit_acquire_at(m->cl, key, (size_t)len, 1,
					       T_MPM, &r);

		if (err != 0)
			mpm_error(m, err);
		else if (credlimit_allowed(&r))
			uatomic_inc(&m->hot_allowed[h]);
	}
}

/* Passes over every hot key (in an order of its own) until the inserter
 * is done, at least twice, then once more. */
static void *mpm_thread(void *arg)
{
	struct mpm_thread *t = arg;
	uint32_t start = (uint32_t)t->seed * 97u;
	uint32_t stride = 2 * (uint32_t)t->seed + 1; /* odd: a permutation */
	int passes = 0;

	wait_gate(&t->m->gate);
	while (passes < 2 || uatomic_read(&t->m->inserted) == 0) {
		mpm_pass(t->m, start, stride);
		passes++;
	}
	mpm_pass(t->m, start, stride);
	return NULL;
}

static int mpm_worker(void *arg, int index)
{
	struct mpm *m = arg;
	int count = index == 0 ? MPM_THREADS : MPM_THREADS_2;
	struct mpm_thread threads[MPM_THREADS];
	pthread_t ids[MPM_THREADS];

	for (int i = 0; i < count; i++) {
		threads[i].m = m;
		threads[i].seed = index * MPM_THREADS + i + 1;
		if (pthread_create(&ids[i], NULL, mpm_thread, &threads[i]) != 0)
			return CHILD_THREAD_FAILED;
	}
	for (int i = 0; i < count; i++)
		pthread_join(ids[i], NULL);
	return 0;
}

static int mpm_junk_key(char key[32], uint32_t j)
{
	return snprintf(key, 32, "junk-%06u", j);
}

/* Inserts new keys, which grows the table again and again. */
static int mpm_inserter(void *arg, int index)
{
	struct mpm *m = arg;

	(void)index;
	wait_gate(&m->gate);
	for (uint32_t j = 0; j < m->inserts; j++) {
		struct credlimit_result r;
		char key[32];
		int len = mpm_junk_key(key, j);
		int err = credlimit_acquire_at(m->cl, key, (size_t)len, 1,
					       T_MPM, &r);

		if (err != 0) {
			mpm_error(m, err);
			break;
		}
		if (!credlimit_allowed(&r) ||
		    !(r.flags & CREDLIMIT_RESULT_NEW)) {
			uatomic_set(&m->inserted, 1);
			return CHILD_WRONG_RESULT;
		}
	}
	uatomic_set(&m->inserted, 1);
	return 0;
}

static void threads_decide_while_growing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(MPM_R, MPM_C, MPM_I);
	credlimit_t *cl = fixture_open(f, &p, 64, UINT64_C(1) << 18);
	struct mpm *m = fixture_shared(f, sizeof(*m));
	struct cl_algo_state junk = {
		.window = T_MPM / SEC,
		.window_ns = SEC,
		.used = 1,
		.credits = MPM_I,
	};
	struct cl_algo_state hot = {
		.window = T_MPM / SEC,
		.window_ns = SEC,
		.used = MPM_R,
		.credits = 0,
	};
	struct credlimit_stats stats;
	char key[32];

	m->cl = cl;
	m->inserts = (uint32_t)((uint64_t)growth_keys() * DEFAULT_MPM_INSERTS /
				DEFAULT_GROWTH_KEYS);
	spawn(f, mpm_worker, m, 0);
	spawn(f, mpm_worker, m, 1);
	spawn(f, mpm_inserter, m, 0);
	uatomic_set(&m->gate, 1);
	reap_all_ok(f);
	if (m->errors != 0)
		fail_msg("%u decisions failed, the first with %s", m->errors,
			 credlimit_strerror(m->first_error));

	for (uint32_t h = 0; h < MPM_HOT_KEYS && !UNDER_TSAN; h++) {
		hot_key(key, h);
		if (m->hot_allowed[h] != MPM_R + MPM_I)
			fail_msg("hot key %s allowed %u times, expected %d", key,
				 m->hot_allowed[h], MPM_R + MPM_I);
		assert_entry(cl, key, &hot);
	}
	for (uint32_t j = 0; j < m->inserts; j++) {
		mpm_junk_key(key, j);
		assert_entry(cl, key, &junk);
	}

	/* An insert that finds a small table full may still evict an entry
	 * that another thread inserted a moment before and has not decided
	 * on yet, because it is indistinguishable from a new customer.
	 * That thread inserts its key again, so no count is lost. */
	stats = stats_of(cl);
	print_message("%u inserts: generation %" PRIu64 ", %" PRIu64
		      " slots, %" PRIu64 " evictions\n",
		      m->inserts, stats.generation, stats.capacity,
		      stats.evictions);
	assert_false(stats.migrating);
	assert_true(stats.capacity >= (uint64_t)m->inserts + MPM_HOT_KEYS);
	assert_int_equal(stats.generation,
			 1 + log2_u64(stats.capacity / 64));
	assert_true(stats.generation > 8);
	assert_int_equal(stats.entries, (uint64_t)m->inserts + MPM_HOT_KEYS);
	assert_int_equal(stats.full_events, 0);
	assert_check_clean(cl);
	assert_segments(f->name, stats.generation);
}

/* ---- fork() after open, growth started in a child ---- */

#define FORK_PROCESSES 4 /* the parent and three children */
#define FORK_OWN_KEYS 12
#define FORK_SHARED_KEYS 16
#define FORK_PASSES 3

/* R = 4, C = 4, I = 2: six requests of cost 1 per key at one time. */
#define FORK_R 4
#define FORK_C 4
#define FORK_I 2
#define T_FORK (UINT64_C(70) * SEC + SEC / 2)

struct fork_growth {
	uint32_t ready;
	uint32_t grown;
	credlimit_t *cl;
	char name[64];
	uint32_t shared_allowed[FORK_SHARED_KEYS];
	uint32_t errors;
};

static int fork_own_key(char key[32], int process, int i)
{
	return snprintf(key, 32, "process-%d-%02d", process, i);
}

static int fork_shared_key(char key[32], int i)
{
	return snprintf(key, 32, "shared-%02d", i);
}

/* Returns the generation of the table this process's view uses. */
static uint64_t view_generation(credlimit_t *cl)
{
	uint64_t generation;

	rcu_read_lock();
	generation = rcu_dereference(cl->view)->current->table.generation;
	rcu_read_unlock();
	return generation;
}

/* Returns true when this process maps table generation `generation` of
 * limiter `name`. */
static bool maps_generation(const char *name, uint64_t generation)
{
	char needle[96], line[512];
	size_t len;
	bool found = false;
	FILE *maps = fopen("/proc/self/maps", "r");

	if (maps == NULL)
		return false;
	len = (size_t)snprintf(needle, sizeof(needle), "/credlimit.%s.g%" PRIu64,
			       name, generation);
	while (fgets(line, sizeof(line), maps) != NULL) {
		const char *at = strstr(line, needle);

		if (at != NULL && (at[len] == '\n' || at[len] == ' ' ||
				   at[len] == '\0'))
			found = true;
	}
	fclose(maps);
	return found;
}

static int fork_decide_own(credlimit_t *cl, int process, uint32_t used)
{
	for (int i = 0; i < FORK_OWN_KEYS; i++) {
		struct credlimit_result r;
		char key[32];
		int len = fork_own_key(key, process, i);

		if (credlimit_acquire_at(cl, key, (size_t)len, 1, T_FORK, &r) !=
		    0)
			return CHILD_DECIDE_FAILED;
		if (!credlimit_allowed(&r) ||
		    r.remaining != FORK_R - used + FORK_I)
			return CHILD_WRONG_RESULT;
	}
	return 0;
}

static int fork_decide_shared(struct fork_growth *g)
{
	for (int pass = 0; pass < FORK_PASSES; pass++) {
		for (int i = 0; i < FORK_SHARED_KEYS; i++) {
			struct credlimit_result r;
			char key[32];
			int len = fork_shared_key(key, i);

			if (credlimit_acquire_at(g->cl, key, (size_t)len, 1,
						 T_FORK, &r) != 0)
				return CHILD_DECIDE_FAILED;
			if (credlimit_allowed(&r))
				uatomic_inc(&g->shared_allowed[i]);
		}
	}
	return 0;
}

/* After the growth: decisions land in generation 2, and generation 1 is
 * no longer mapped. */
static int fork_after_growth(struct fork_growth *g, int process)
{
	struct credlimit_stats stats;
	int err = fork_decide_own(g->cl, process, 2);

	if (err != 0)
		return err;
	if (view_generation(g->cl) != 2)
		return CHILD_WRONG_GENERATION;
	if (maps_generation(g->name, 1))
		return CHILD_OLD_TABLE_MAPPED;
	if (credlimit_stats(g->cl, &stats) != 0 || stats.generation != 2 ||
	    stats.capacity != 1024)
		return CHILD_WRONG_GENERATION;
	return 0;
}

/* A grandchild forked after the growth inherits generation 2. */
static int fork_grandchild(struct fork_growth *g)
{
	struct credlimit_result r;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return CHILD_FORK_FAILED;
	if (pid == 0) {
		if (credlimit_acquire_at(g->cl, "grandchild", 10, 1, T_FORK,
					 &r) != 0)
			_exit(CHILD_DECIDE_FAILED);
		if (r.flags != CREDLIMIT_RESULT_NEW)
			_exit(CHILD_WRONG_RESULT);
		_exit(view_generation(g->cl) == 2 ? 0 : CHILD_WRONG_GENERATION);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return CHILD_GRANDCHILD_FAILED;
	return 0;
}

/* Runs in every process; process 1 (the first child) grows the table. */
static int fork_process(void *arg, int process)
{
	struct fork_growth *g = arg;
	int err = fork_decide_own(g->cl, process, 1);

	if (err != 0)
		return err;
	if (view_generation(g->cl) != 1)
		return CHILD_WRONG_GENERATION;
	uatomic_inc(&g->ready);
	while (uatomic_read(&g->ready) < FORK_PROCESSES)
		sched_yield();

	if (process == 1) {
		if (credlimit_grow(g->cl, 1024) != 0)
			return CHILD_GROW_FAILED;
		uatomic_set(&g->grown, 1);
	}
	err = fork_decide_shared(g);
	if (err != 0)
		return err;
	while (uatomic_read(&g->grown) == 0)
		sched_yield();

	err = fork_after_growth(g, process);
	if (err == 0 && process == 2)
		err = fork_grandchild(g);
	return err;
}

static void fork_then_grow_in_child(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FORK_R, FORK_C, FORK_I);
	credlimit_t *cl = fixture_open(f, &p, 256, 4096);
	struct fork_growth *g = fixture_shared(f, sizeof(*g));
	struct cl_algo_state own = {
		.window = T_FORK / SEC,
		.window_ns = SEC,
		.used = 2,
		.credits = FORK_I,
	};
	struct cl_algo_state shared = {
		.window = T_FORK / SEC,
		.window_ns = SEC,
		.used = FORK_R,
		.credits = 0,
	};
	struct credlimit_stats stats;
	char key[32];
	int err;

	g->cl = cl;
	memcpy(g->name, f->name, sizeof(g->name));

	/* The parent maps generation 1 and decides before the fork. */
	for (int i = 0; i < FORK_SHARED_KEYS; i++) {
		struct credlimit_result r;

		fork_shared_key(key, i);
		assert_int_equal(credlimit_acquire_at(cl, key, strlen(key), 1,
						      T_FORK, &r),
				 0);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
		g->shared_allowed[i]++;
	}

	for (int process = 1; process < FORK_PROCESSES; process++)
		spawn(f, fork_process, g, process);
	err = fork_process(g, 0);
	if (err != 0)
		fail_msg("the parent failed: %s", child_code_name(err));
	assert_false(maps_generation(f->name, 1));
	reap_all_ok(f);

	for (int i = 0; i < FORK_SHARED_KEYS; i++) {
		fork_shared_key(key, i);
		if (g->shared_allowed[i] != FORK_R + FORK_I)
			fail_msg("key %s allowed %u times, expected %d", key,
				 g->shared_allowed[i], FORK_R + FORK_I);
		assert_entry(cl, key, &shared);
	}
	for (int process = 0; process < FORK_PROCESSES; process++) {
		for (int i = 0; i < FORK_OWN_KEYS; i++) {
			fork_own_key(key, process, i);
			assert_entry(cl, key, &own);
		}
	}

	stats = stats_of(cl);
	assert_int_equal(stats.generation, 2);
	assert_int_equal(stats.capacity, 1024);
	assert_int_equal(stats.migrations, 1);
	assert_int_equal(stats.entries, FORK_SHARED_KEYS +
						FORK_PROCESSES * FORK_OWN_KEYS +
						1);
	assert_check_clean(cl);
	assert_segments(f->name, 2);
}

/* ---- a migration left half done ---- */

#define HALF_KEYS 300
#define HALF_KILL_AT 100 /* the frozen entry the migrator dies at */

/* Slot states of the current table of a migration. */
struct census {
	uint64_t live, frozen, moved, evicting, sealed;
};

/* Counts the states of the slots of the handle's current table. */
static struct census census_current(credlimit_t *cl)
{
	struct census c = { 0 };
	struct cl_table_map *t;

	assert_int_equal(cl_view_refresh(cl), 0);
	rcu_read_lock();
	t = &rcu_dereference(cl->view)->current->table;
	for (uint64_t i = 0; i < t->capacity; i++) {
		uint64_t meta = cl_entry_load_meta(&t->entries[i]);

		if (cl_meta_status(meta) == CL_SLOT_SEALED) {
			c.sealed++;
			continue;
		}
		if (cl_meta_status(meta) != CL_SLOT_READY)
			continue;
		switch (cl_state_flags(cl_state_load(&t->entries[i]).hi)) {
		case CL_STATE_LIVE:
			c.live++;
			break;
		case CL_STATE_FROZEN:
			c.frozen++;
			break;
		case CL_STATE_MOVED:
			c.moved++;
			break;
		default:
			c.evicting++;
		}
	}
	rcu_read_unlock();
	return c;
}

/* Looks key up in the current table (target false) or the migration's
 * target of the handle's view; returns what cl_table_find() returns. */
static int find_in(credlimit_t *cl, const char *key, bool target)
{
	struct cl_slot slot;
	struct cl_key k;
	struct cl_view *view;
	int err;

	cl_key_prepare(&k, cl->secret, key, strlen(key));
	assert_int_equal(cl_view_refresh(cl), 0);
	rcu_read_lock();
	view = rcu_dereference(cl->view);
	if (target && view->target == NULL)
		err = -ENOENT;
	else
		err = cl_table_find(target ? &view->target->table
					   : &view->current->table,
				    &k, false, &slot);
	rcu_read_unlock();
	return err;
}

/* Finds a new key whose probe sequence in the current table ends at a
 * sealed slot: a decision on it inserts it into the target only. */
static void find_sealed_key(credlimit_t *cl, char key[32])
{
	for (uint32_t i = 0; i < 100000; i++) {
		snprintf(key, 32, "fresh-%u", i);
		if (find_in(cl, key, false) == CL_ESEALED)
			return;
	}
	fail_msg("no key found whose probe sequence is sealed");
}

static int half_grow(void *arg, int index)
{
	credlimit_t *cl = arg;

	(void)index;
	arm_kill_hook("frozen", HALF_KILL_AT);
	credlimit_grow(cl, 2048);
	return CHILD_NOT_KILLED;
}

struct sealed_insert {
	credlimit_t *cl;
	char key[32];
};

/* Inserts a key into the target; the migration step that follows the
 * decision dies at the first entry it freezes. */
static int half_insert(void *arg, int index)
{
	struct sealed_insert *s = arg;
	struct credlimit_result r;

	(void)index;
	arm_kill_hook("frozen", 1);
	if (credlimit_acquire_at(s->cl, s->key, strlen(s->key), 3, T_FILL,
				 &r) != 0)
		return CHILD_DECIDE_FAILED;
	if (!credlimit_allowed(&r) || r.flags != CREDLIMIT_RESULT_NEW)
		return CHILD_WRONG_RESULT;
	return 0; /* the step found nothing to freeze */
}

/*
 * Leaves a migration from 1024 to 2048 slots half done: the migrator died
 * after freezing its 100th entry, and a process that inserted a key into
 * the target died in the step after its decision.  The current table then
 * contains live, frozen and moved entries, and the new key is only in the
 * target.  model[HALF_KEYS] is the new key's state.
 */
static void half_done_migration(struct fixture *f,
				struct cl_algo_state model[HALF_KEYS + 1],
				char new_key[32])
{
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 1024, 4096);
	struct sealed_insert s = { .cl = cl };
	struct census c;
	int status;
	pid_t pid;

	fill_keys(cl, "list", HALF_KEYS, model);
	run_killed_child(f, half_grow, cl);

	find_sealed_key(cl, s.key);
	pid = spawn(f, half_insert, &s, 0);
	status = reap(f, pid);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		fail_msg("the inserting child ended with status %#x", status);
	memcpy(new_key, s.key, 32);
	memset(&model[HALF_KEYS], 0, sizeof(model[HALF_KEYS]));
	model_decide(&p, &model[HALF_KEYS], T_FILL, 3);

	c = census_current(cl);
	print_message("current table: %" PRIu64 " live, %" PRIu64
		      " frozen, %" PRIu64 " moved, %" PRIu64 " sealed\n",
		      c.live, c.frozen, c.moved, c.sealed);
	assert_true(stats_of(cl).migrating);
	assert_true(c.live > 0);
	assert_true(c.frozen > 0);
	assert_true(c.moved > 0);
	assert_int_equal(c.live + c.frozen + c.moved, HALF_KEYS);
	assert_int_equal(find_in(cl, new_key, false), CL_ESEALED);
	assert_int_equal(find_in(cl, new_key, true), 0);
}

/* Counts what credlimit_foreach() shows of the half-done limiter. */
struct listing {
	const char *new_key;
	const struct cl_algo_state *model;
	uint32_t seen[HALF_KEYS + 1];
	uint32_t unknown;
	uint32_t wrong;
	char first_wrong[160];
};

static int list_entry(void *context, const struct credlimit_entry *e)
{
	struct listing *l = context;
	char key[CREDLIMIT_KEY_INLINE_MAX + 1] = "";
	const struct cl_algo_state *s;
	unsigned index;

	memcpy(key, e->key, e->key_stored);
	if (strcmp(key, l->new_key) == 0)
		index = HALF_KEYS;
	else if (sscanf(key, "list-%u", &index) != 1 || index >= HALF_KEYS) {
		l->unknown++;
		return 0;
	}
	l->seen[index]++;
	s = &l->model[index];
	if (e->used != s->used || e->credits != s->credits ||
	    e->window_start_ns != s->window * s->window_ns) {
		if (l->wrong++ == 0)
			snprintf(l->first_wrong, sizeof(l->first_wrong),
				 "%s: used %u, credits %u; expected %u, %u", key,
				 e->used, e->credits, s->used, s->credits);
	}
	return 0;
}

static void assert_listing(credlimit_t *cl, const char *new_key,
			   const struct cl_algo_state *model, const char *label)
{
	struct listing l = { .new_key = new_key, .model = model };

	assert_int_equal(credlimit_foreach(cl, T_FILL, list_entry, &l), 0);
	for (uint32_t i = 0; i <= HALF_KEYS; i++)
		if (l.seen[i] != 1)
			fail_msg("%s: key %u shown %u times", label, i,
				 l.seen[i]);
	assert_int_equal(l.unknown, 0);
	if (l.wrong != 0)
		fail_msg("%s: %u entries with wrong counts, the first %s", label,
			 l.wrong, l.first_wrong);
}

/* Looks up and peeks every key through the handle. */
static void assert_lookups(credlimit_t *cl, const char *new_key,
			   const struct cl_algo_state *model)
{
	char key[32];

	for (uint32_t i = 0; i <= HALF_KEYS; i++) {
		struct credlimit_result r;

		if (i < HALF_KEYS)
			fill_key(key, "list", i);
		else
			memcpy(key, new_key, sizeof(key));
		assert_entry(cl, key, &model[i]);
		assert_int_equal(credlimit_peek(cl, key, strlen(key), T_FILL,
						&r),
				 0);
		assert_int_equal(r.flags, 0);
		assert_int_equal(r.remaining,
				 FILL_R - model[i].used + model[i].credits);
	}
}

/* Runs limitctl list --json on the limiter, when make check names it in
 * LIMITCTL, and checks that every key is listed once. */
static void assert_limitctl_list(const char *name, const char *new_key)
{
	const char *limitctl = getenv("LIMITCTL");
	char command[512], quoted[48], wrong[256] = "";
	size_t size = 0, used = 0;
	char *output = NULL;
	FILE *pipe;
	int status;

	if (limitctl == NULL || *limitctl == '\0') {
		print_message("LIMITCTL not set: limitctl list not run\n");
		return;
	}
	snprintf(command, sizeof(command), "'%s' list --json %s", limitctl,
		 name);
	pipe = popen(command, "r");
	assert_non_null(pipe);
	for (;;) {
		size_t got;

		if (size - used < 4096) {
			size = size == 0 ? 65536 : 2 * size;
			output = realloc(output, size);
			assert_non_null(output);
		}
		got = fread(output + used, 1, size - used - 1, pipe);
		if (got == 0)
			break;
		used += got;
	}
	output[used] = '\0';
	status = pclose(pipe);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(wrong, sizeof(wrong), "%.200s", output);
		free(output);
		fail_msg("%s failed with status %#x: %s", command, status,
			 wrong);
	}

	/* Each key's text appears once, in its "key" field. */
	for (uint32_t i = 0; i <= HALF_KEYS && wrong[0] == '\0'; i++) {
		unsigned count = 0;
		char key[32];

		if (i < HALF_KEYS)
			fill_key(key, "list", i);
		else
			memcpy(key, new_key, sizeof(key));
		snprintf(quoted, sizeof(quoted), "\"%s\"", key);
		for (const char *at = strstr(output, quoted); at != NULL;
		     at = strstr(at + 1, quoted))
			count++;
		if (count != 1)
			snprintf(wrong, sizeof(wrong),
				 "limitctl list shows key %s %u times", key,
				 count);
	}
	free(output);
	if (wrong[0] != '\0')
		fail_msg("%s", wrong);
}

static void listing_mid_migration(void **state)
{
	struct fixture *f = *state;
	struct cl_algo_state model[HALF_KEYS + 1];
	char new_key[32];

	half_done_migration(f, model, new_key);

	assert_listing(f->cl, new_key, model, "writable handle");
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->reader),
			 0);
	assert_listing(f->reader, new_key, model, "read-only handle");
	assert_lookups(f->cl, new_key, model);
	assert_lookups(f->reader, new_key, model);
	assert_limitctl_list(f->name, new_key);

	/* Nothing above moved an entry. */
	assert_true(census_current(f->cl).frozen > 0);

	/* Finishing the migration keeps every key, once. */
	assert_int_equal(credlimit_grow(f->cl, 2048), 0);
	assert_false(stats_of(f->cl).migrating);
	assert_listing(f->cl, new_key, model, "after the migration");
	assert_listing(f->reader, new_key, model,
		       "read-only, after the migration");
	assert_lookups(f->cl, new_key, model);
	assert_check_clean(f->cl);
	assert_segments(f->name, 2);
}

static void stats_mid_migration(void **state)
{
	struct fixture *f = *state;
	struct cl_algo_state model[HALF_KEYS + 1];
	struct credlimit_stats stats;
	struct census census;
	char new_key[32];

	half_done_migration(f, model, new_key);
	census = census_current(f->cl);
	stats = stats_of(f->cl);
	print_message("migration_progress %" PRIu64 " of %" PRIu64
		      " slots, %" PRIu64 " settled\n",
		      stats.migration_progress, stats.capacity,
		      census.sealed + census.moved);
	assert_true(stats.migrating);
	assert_int_equal(stats.generation, 1);
	assert_int_equal(stats.capacity, 1024);
	assert_int_equal(stats.migration_capacity, 2048);

	/* "Slots handed out to be moved": some, at least as many as are
	 * sealed or moved (the dead processes left frozen and live entries
	 * in the chunks they held, so it may be more). */
	assert_true(stats.migration_progress > 0);
	assert_true(stats.migration_progress <= stats.capacity);
	if (stats.migration_progress < census.sealed + census.moved)
		fail_msg("migration_progress says %" PRIu64 " slots handed "
			 "out, but %" PRIu64 " are sealed or moved",
			 stats.migration_progress,
			 census.sealed + census.moved);
}

/* Collects check findings of level error. */
struct findings {
	int errors;
	char text[8][160];
};

static void collect_finding(void *context, int level, const char *message)
{
	struct findings *found = context;

	if (level != CREDLIMIT_LOG_ERROR)
		return;
	if (found->errors < 8)
		snprintf(found->text[found->errors], sizeof(found->text[0]),
			 "%s", message);
	found->errors++;
}

static bool findings_mention(const struct findings *found, const char *text)
{
	for (int i = 0; i < found->errors && i < 8; i++)
		if (strstr(found->text[i], text) != NULL)
			return true;
	return false;
}

/* Copies the first live entry of the current table into the target, so
 * its key is live in both tables. */
static void duplicate_live_entry(credlimit_t *cl)
{
	struct cl_victim_ops ops = { .classify = NULL };
	struct cl_view *view;
	bool copied = false;

	assert_int_equal(cl_view_refresh(cl), 0);
	rcu_read_lock();
	view = rcu_dereference(cl->view);
	for (uint64_t i = 0; i < view->current->table.capacity && !copied;
	     i++) {
		struct cl_state_word state;
		uint64_t meta, key[4], last_seen;
		struct cl_slot slot;
		unsigned events = 0;
		struct cl_key k;

		if (!cl_table_snapshot(&view->current->table, i, &meta, &state,
				       key, &last_seen) ||
		    cl_state_flags(state.hi) != CL_STATE_LIVE)
			continue;
		cl_key_from_entry(&k, cl->secret, meta, key);
		copied = cl_table_copy_in(&view->target->table, &k, meta, state,
					  last_seen, T_FILL, (uint32_t)getpid(),
					  &ops, &slot, &events) == 0 &&
			 (events & CL_SLOT_INSERTED);
	}
	rcu_read_unlock();
	assert_true(copied);
}

static void check_mid_migration(void **state)
{
	struct fixture *f = *state;
	struct cl_algo_state model[HALF_KEYS + 1];
	struct findings found = { 0 };
	char new_key[32];
	int notes = 0;

	half_done_migration(f, model, new_key);
	assert_int_equal(credlimit_check(f->cl, count_finding, &notes), 0);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->reader),
			 0);
	assert_int_equal(credlimit_check(f->reader, count_finding, &notes), 0);

	duplicate_live_entry(f->cl);
	assert_true(credlimit_check(f->cl, collect_finding, &found) > 0);
	if (!findings_mention(&found, "live in generation"))
		fail_msg("check did not report the key live in both tables; "
			 "first finding: %s",
			 found.errors > 0 ? found.text[0] : "none");
}

/* An entry left FROZEN while no migration runs is reported. */
static void check_frozen_without_migration(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct cl_algo_state model[4];
	struct findings found = { 0 };
	struct cl_table_map *t;
	bool frozen = false;

	fill_keys(cl, "old", 4, model);
	assert_check_clean(cl);

	rcu_read_lock();
	t = &rcu_dereference(cl->view)->current->table;
	for (uint64_t i = 0; i < t->capacity && !frozen; i++) {
		struct cl_state_word word = cl_state_load(&t->entries[i]);
		struct cl_state_word next = word;

		if (cl_meta_status(cl_entry_load_meta(&t->entries[i])) !=
		    CL_SLOT_READY)
			continue;
		next.hi |= (uint64_t)CL_STATE_FROZEN << CL_STATE_FLAGS_SHIFT;
		frozen = cl_state_cas(&t->entries[i], &word, next);
	}
	rcu_read_unlock();
	assert_true(frozen);

	assert_int_equal(credlimit_check(cl, collect_finding, &found), 1);
	assert_true(findings_mention(&found, "not running"));
}

/* ---- edges ---- */

/* Growth stops at max_capacity; then the full-table action applies, and
 * idle entries are evicted. */
static void growth_stops_at_max(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(2, 2, 1);
	credlimit_t *cl = fixture_open(f, &p, 64, 256);
	const uint64_t t = UINT64_C(40) * SEC + SEC / 2;
	struct credlimit_stats stats;
	uint32_t full = 0, tracked = 0;
	char key[32];

	for (uint32_t i = 0; i < 400; i++) {
		struct credlimit_result r;
		struct credlimit_entry e;
		int len = snprintf(key, sizeof(key), "edge-%03u", i);

		assert_int_equal(credlimit_acquire_at(cl, key, (size_t)len, 1,
						      t, &r),
				 0);
		if (r.flags & CREDLIMIT_RESULT_FULL) {
			assert_int_equal(r.verdict, CREDLIMIT_DENIED);
			assert_int_equal(credlimit_lookup(cl, key, (size_t)len,
							  t, &e),
					 -ENOENT);
			full++;
		} else {
			assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
			tracked++;
		}
	}

	stats = stats_of(cl);
	assert_false(stats.migrating);
	assert_int_equal(stats.capacity, 256);
	assert_int_equal(stats.generation, 3);
	assert_true(full >= 400 - 256);
	assert_int_equal(stats.full_events, full);
	assert_int_equal(stats.entries, tracked);
	assert_int_equal(credlimit_grow(cl, 512), -ERANGE);
	assert_int_equal(credlimit_grow(cl, 0), -ERANGE);

	/* Ten windows later every entry is idle and may be evicted. */
	for (uint32_t i = 0; i < 8; i++) {
		struct credlimit_result r;
		int len = snprintf(key, sizeof(key), "late-%u", i);

		assert_int_equal(credlimit_acquire_at(cl, key, (size_t)len, 1,
						      t + 10 * SEC, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW |
						  CREDLIMIT_RESULT_EVICTED);
	}
	stats = stats_of(cl);
	assert_int_equal(stats.generation, 3);
	assert_int_equal(stats.evictions, 8);
	assert_check_clean(cl);
	assert_segments(f->name, 3);
}

/* With the full-table action "allow", keys beyond the maximum table are
 * allowed untracked once growth has stopped. */
static void growth_stops_at_max_allowing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(2, SEC, 2, 1, 64);
	const uint64_t t = UINT64_C(40) * SEC + SEC / 2;
	struct credlimit_stats stats;
	uint32_t untracked = 0;
	char key[32];

	o.max_capacity = 256;
	o.full_action = CREDLIMIT_FULL_ALLOW;
	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&o, &f->cl),
			 0);
	for (uint32_t i = 0; i < 400; i++) {
		struct credlimit_result r;
		int len = snprintf(key, sizeof(key), "edge-%03u", i);

		assert_int_equal(credlimit_acquire_at(f->cl, key, (size_t)len,
						      1, t, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		if (r.flags & CREDLIMIT_RESULT_UNTRACKED)
			untracked++;
		else
			assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	}

	stats = stats_of(f->cl);
	assert_false(stats.migrating);
	assert_int_equal(stats.capacity, 256);
	assert_int_equal(stats.generation, 3);
	assert_true(untracked >= 400 - 256);
	assert_int_equal(stats.full_events, untracked);
	assert_int_equal(stats.entries, 400 - untracked);
	assert_segments(f->name, 3);
}

static void private_limiter_never_grows(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(2, SEC, 2, 1, 64);
	struct credlimit_stats stats;
	uint32_t full = 0;

	o.max_capacity = 1024;
	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o,
					&f->cl),
			 0);
	stats = stats_of(f->cl);
	assert_int_equal(stats.max_capacity, 64);

	for (uint32_t i = 0; i < 100; i++) {
		struct credlimit_result r;
		char key[32];
		int len = snprintf(key, sizeof(key), "private-%03u", i);

		assert_int_equal(credlimit_acquire_at(f->cl, key, (size_t)len,
						      1, T_FILL, &r),
				 0);
		if (r.flags & CREDLIMIT_RESULT_FULL)
			full++;
	}
	stats = stats_of(f->cl);
	assert_int_equal(stats.capacity, 64);
	assert_int_equal(stats.generation, 1);
	assert_false(stats.migrating);
	assert_true(full >= 100 - 64);
	assert_int_equal(credlimit_grow(f->cl, 128), -ERANGE);
	assert_int_equal(credlimit_grow(f->cl, 0), -ERANGE);
	assert_int_equal(credlimit_grow(f->cl, 64), 0);
	assert_int_equal(stats_of(f->cl).capacity, 64);
}

/*
 * A migration left half done by a dead process, then credlimit_grow(0):
 * finishing that migration is the doubling, so the table ends at twice
 * its size, not four times.
 */
static void grow_doubling_finishes_stalled(void **state)
{
	struct fixture *f = *state;
	struct cl_algo_state model[HALF_KEYS + 1];
	struct credlimit_stats stats;
	char new_key[32];

	half_done_migration(f, model, new_key);
	assert_true(stats_of(f->cl).migrating);

	assert_int_equal(credlimit_grow(f->cl, 0), 0);
	stats = stats_of(f->cl);
	assert_false(stats.migrating);
	assert_int_equal(stats.capacity, 2048);
	assert_int_equal(stats.generation, 2);
	assert_filled(f->cl, "list", HALF_KEYS, model);
	assert_check_clean(f->cl);

	/* With no migration under way, 0 doubles again. */
	assert_int_equal(credlimit_grow(f->cl, 0), 0);
	assert_int_equal(stats_of(f->cl).capacity, 4096);
}

/*
 * While decisions are held off after failed growths, an insert that finds
 * the table full gets the full-table action at once and starts nothing.
 * credlimit_grow() ignores the hold, and its success clears the count.
 */
static void failed_growth_holds_off(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct credlimit_stats stats;
	uint32_t full = 0;

	CMM_STORE_SHARED(cl->ctl->growth_failures, 3);
	CMM_STORE_SHARED(cl->ctl->growth_retry_ns, UINT64_MAX / 2);

	for (uint32_t i = 0; i < 100; i++) {
		struct credlimit_result r;
		char key[32];
		int len = fill_key(key, "held", i);

		assert_int_equal(credlimit_acquire_at(cl, key, (size_t)len, 1,
						      T_FILL, &r),
				 0);
		if (r.flags & CREDLIMIT_RESULT_FULL)
			full++;
	}
	stats = stats_of(cl);
	assert_false(stats.migrating);
	assert_int_equal(stats.generation, 1);
	assert_int_equal(stats.capacity, 64);
	assert_int_equal(stats.entries + full, 100);
	assert_int_equal(stats.full_events, full);
	assert_true(full > 0);
	assert_segments(f->name, 1);

	assert_int_equal(credlimit_grow(cl, 128), 0);
	assert_int_equal(stats_of(cl).capacity, 128);
	assert_int_equal(CMM_LOAD_SHARED(cl->ctl->growth_failures), 0);
}

/* Counts log messages about a growth that could not happen. */
static void count_growth_failure(void *context, int level,
				 const char *message)
{
	unsigned *count = context;

	if (strstr(message, "cannot grow limiter") != NULL)
		(*count)++;
}

static uint64_t monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/*
 * In a private mount namespace whose /dev/shm is a 1 MiB tmpfs: a table
 * of 8,192 slots (516 KiB) fits, its doubling does not.  Inserting past
 * half load starts growth, which fails for lack of room.  Later inserts
 * must not try again until the hold ends, so the failure is logged about
 * once per second of the run rather than once per insert.
 */
static int growth_without_room(void *arg, int index)
{
	const char *name = arg;
	struct credlimit_options o = unit_options(FILL_R, SEC, FILL_C,
						  FILL_I, 8192);
	unsigned failures_logged = 0;
	uint64_t started, elapsed_s;
	credlimit_t *cl;
	uint32_t full = 0;

	if (unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
		return CHILD_NO_NAMESPACE;

	o.max_capacity = 65536;
	o.log = count_growth_failure;
	o.log_context = &failures_logged;
	if (credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl) != 0)
		return CHILD_SETUP_FAILED;

	started = monotonic_s();
	for (uint32_t i = 0; i < 8192; i++) {
		struct credlimit_result r;
		char key[32];
		int len = fill_key(key, "room", i);

		if (credlimit_acquire_at(cl, key, (size_t)len, 1, T_FILL,
					 &r) != 0)
			return CHILD_DECIDE_FAILED;
		if (r.flags & CREDLIMIT_RESULT_FULL)
			full++;
	}
	elapsed_s = monotonic_s() - started;

	if (full == 0 || CMM_LOAD_SHARED(cl->ctl->growth_failures) == 0 ||
	    CMM_LOAD_SHARED(cl->ctl->generation) != 1)
		return CHILD_WRONG_RESULT;
	if (failures_logged == 0 || failures_logged > 2 + elapsed_s)
		return CHILD_GROWTH_NOT_HELD_OFF;

	/* By hand, the same growth fails at once with the same cause. */
	if (credlimit_grow(cl, 16384) != -ENOSPC)
		return CHILD_GROW_FAILED;
	if (access("/dev/shm/credlimit.growth-room.g2", F_OK) == 0)
		return CHILD_WRONG_RESULT;
	credlimit_close(cl);
	return 0;
}

static void growth_without_room_held_off(void **state)
{
	struct fixture *f = *state;
	static char name[] = "growth-room";
	int status;

	if (geteuid() != 0)
		skip();
	status = reap(f, spawn(f, growth_without_room, name, 0));
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_NO_NAMESPACE)
		skip();
	if (WEXITSTATUS(status) != 0)
		fail_msg("child: %s", child_code_name(WEXITSTATUS(status)));
}

/*
 * Growing to a table larger than /dev/shm (or the memory) can hold fails
 * before any of its memory is reserved: reserving it would fill /dev/shm
 * and wake the OOM killer first.
 */
static void grow_beyond_memory_fails_fast(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 8, CL_CAPACITY_MAX);
	int err = credlimit_grow(cl, CL_CAPACITY_MAX);

	if (err != -ENOSPC && err != -ENOMEM)
		fail_msg("credlimit_grow to 2^32 slots returned %d (%s)", err,
			 credlimit_strerror(err));
	assert_false(stats_of(cl).migrating);
	assert_int_equal(stats_of(cl).capacity, 8);
	assert_segments(f->name, 1);
}

static void grow_argument_errors(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct cl_algo_state model[KILL_KEYS];
	struct credlimit_stats stats;

	fill_keys(cl, "old", KILL_KEYS, model);
	assert_int_equal(credlimit_grow(NULL, 128), -EINVAL);
	assert_int_equal(credlimit_grow(cl, 2048), -ERANGE);
	assert_int_equal(credlimit_grow(cl, UINT64_MAX), -ERANGE);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->reader),
			 0);
	assert_int_equal(credlimit_grow(f->reader, 128), -EROFS);
	assert_int_equal(credlimit_grow(f->reader, 0), -EROFS);

	/* None of these changed anything. */
	stats = stats_of(cl);
	assert_int_equal(stats.generation, 1);
	assert_int_equal(stats.capacity, 64);
	assert_false(stats.migrating);
	assert_segments(f->name, 1);

	/* Not larger: nothing to do. */
	assert_int_equal(credlimit_grow(cl, 64), 0);
	assert_int_equal(credlimit_grow(cl, 1), 0);
	assert_int_equal(stats_of(cl).generation, 1);

	/* 100 is taken as it is; 0 doubles; the maximum is allowed. */
	assert_int_equal(credlimit_grow(cl, 100), 0);
	stats = stats_of(cl);
	assert_int_equal(stats.capacity, 100);
	assert_int_equal(stats.generation, 2);
	assert_int_equal(credlimit_grow(cl, 0), 0);
	assert_int_equal(stats_of(cl).capacity, 200);
	assert_int_equal(credlimit_grow(cl, 1024), 0);
	stats = stats_of(cl);
	assert_int_equal(stats.capacity, 1024);
	assert_int_equal(stats.generation, 4);
	assert_int_equal(stats.migrations, 3);
	assert_int_equal(credlimit_grow(cl, 0), -ERANGE);

	/* The read-only handle follows the new generation. */
	stats = stats_of(f->reader);
	assert_int_equal(stats.generation, 4);
	assert_int_equal(stats.capacity, 1024);
	assert_filled(f->reader, "old", KILL_KEYS, model);
	assert_filled(cl, "old", KILL_KEYS, model);
	assert_check_clean(cl);
	assert_segments(f->name, 4);
}

/*
 * credlimit_grow() takes no time, yet decides which entries a migration
 * may drop.  A limiter driven with explicit times must keep the counts of
 * the current window through it: with max_credits 0 (fixed windows) an
 * entry that used its window is indistinguishable from a new customer only
 * in a later window.
 */
static void grow_keeps_entries_of_explicit_times(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(5, 0, 0);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	const uint64_t t = UINT64_C(2) * SEC + SEC / 2;
	struct cl_algo_state s = { 0 };

	for (int i = 0; i < 6; i++)
		decide_as_model(cl, "client", &p, &s, t, 1);
	assert_int_equal(credlimit_grow(cl, 128), 0);
	assert_entry(cl, "client", &s);
	decide_as_model(cl, "client", &p, &s, t, 1);
	assert_int_equal(stats_of(cl).entries_dropped, 0);
}

/* ---- listing while the table keeps growing ---- */

#define STABLE_KEYS 200
#define CHURN_INSERTS 30000

struct churn {
	uint32_t gate;
	uint32_t done;
	credlimit_t *cl;
	uint32_t errors;
	int first_error;
};

static int churn_inserter(void *arg, int index)
{
	struct churn *c = arg;

	(void)index;
	wait_gate(&c->gate);
	for (uint32_t j = 0; j < CHURN_INSERTS; j++) {
		struct credlimit_result r;
		char key[32];
		int len = snprintf(key, sizeof(key), "churn-%05u", j);
		int err = credlimit_acquire_at(c->cl, key, (size_t)len, 1,
					       T_FILL, &r);

		if (err != 0) {
			if (uatomic_add_return(&c->errors, 1) == 1)
				c->first_error = err;
			break;
		}
	}
	uatomic_set(&c->done, 1);
	return 0;
}

/* Counts the stable keys one credlimit_foreach() shows; churn keys may
 * or may not be shown, but never twice. */
struct churn_walk {
	const struct cl_algo_state *model;
	uint32_t stable[STABLE_KEYS];
	uint8_t *churn;
	uint32_t twice;
	uint32_t wrong;
};

static int churn_entry(void *context, const struct credlimit_entry *e)
{
	struct churn_walk *w = context;
	char key[CREDLIMIT_KEY_INLINE_MAX + 1] = "";
	unsigned index;

	memcpy(key, e->key, e->key_stored);
	if (sscanf(key, "churn-%u", &index) == 1 && index < CHURN_INSERTS) {
		if (w->churn[index]++ != 0)
			w->twice++;
		return 0;
	}
	if (sscanf(key, "list-%u", &index) != 1 || index >= STABLE_KEYS)
		return 0;
	w->stable[index]++;
	if (e->used != w->model[index].used ||
	    e->credits != w->model[index].credits)
		w->wrong++;
	return 0;
}

static void churn_walk_once(credlimit_t *cl, const struct cl_algo_state *model,
			    uint8_t *seen, unsigned pass, const char *label)
{
	struct churn_walk w = { .model = model, .churn = seen };
	uint64_t before = uatomic_read(&cl->ctl->generation);

	memset(seen, 0, CHURN_INSERTS);
	assert_int_equal(credlimit_foreach(cl, T_FILL, churn_entry, &w), 0);
	for (uint32_t i = 0; i < STABLE_KEYS; i++)
		if (w.stable[i] != 1)
			fail_msg("%s, pass %u: stable key %u shown %u times "
				 "(generation %" PRIu64 " before the walk, %"
				 PRIu64 " after)",
				 label, pass, i, w.stable[i], before,
				 uatomic_read(&cl->ctl->generation));
	if (w.twice != 0)
		fail_msg("%s, pass %u: %u keys shown twice", label, pass,
			 w.twice);
	if (w.wrong != 0)
		fail_msg("%s, pass %u: %u stable keys with wrong counts", label,
			 pass, w.wrong);
}

static void listing_while_growing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, UINT64_C(1) << 17);
	struct churn *c = fixture_shared(f, sizeof(*c));
	struct cl_algo_state model[STABLE_KEYS];
	uint8_t *seen = fixture_shared(f, CHURN_INSERTS);
	unsigned passes = 0;

	fill_keys(cl, "list", STABLE_KEYS, model);
	assert_int_equal(credlimit_open(f->name, CREDLIMIT_OPEN_RDONLY, NULL,
					&f->reader),
			 0);

	c->cl = cl;
	spawn(f, churn_inserter, c, 0);
	uatomic_set(&c->gate, 1);
	while (uatomic_read(&c->done) == 0) {
		churn_walk_once(cl, model, seen, passes, "writable handle");
		churn_walk_once(f->reader, model, seen, passes,
				"read-only handle");
		passes++;
	}
	reap_all_ok(f);
	if (c->errors != 0)
		fail_msg("%u decisions failed, the first with %s", c->errors,
			 credlimit_strerror(c->first_error));
	print_message("%u passes while the table grew to generation %" PRIu64
		      "\n",
		      passes, stats_of(cl).generation);
	churn_walk_once(cl, model, seen, passes, "after the growth");
}

/* ---- listing across whole migrations ---- */

#define WALK_KEYS 20

/* A child that grows the table `growths` times once `go` is set. */
struct walk_grower {
	uint32_t go;
	uint32_t done;
	credlimit_t *cl;
	int growths;
	pid_t pid;
};

static int walk_grower_run(void *arg, int index)
{
	struct walk_grower *g = arg;
	int err = 0;

	(void)index;
	wait_gate(&g->go);
	for (int i = 0; i < g->growths && err == 0; i++)
		err = credlimit_grow(g->cl, 0);
	uatomic_set(&g->done, 1);
	return err == 0 ? 0 : CHILD_GROW_FAILED;
}

struct walk_count {
	struct walk_grower *g;
	bool started;
	uint32_t seen[WALK_KEYS];
};

/* Counts keys.  At the first one it lets the child run its migrations
 * and waits for them, so they happen in the middle of the walk. */
static int walk_count_entry(void *context, const struct credlimit_entry *e)
{
	struct walk_count *w = context;
	char key[CREDLIMIT_KEY_INLINE_MAX + 1] = "";
	unsigned index;

	if (!w->started) {
		w->started = true;
		uatomic_set(&w->g->go, 1);
		while (uatomic_read(&w->g->done) == 0 &&
		       waitpid(w->g->pid, NULL, WNOHANG) == 0)
			sched_yield();
	}
	memcpy(key, e->key, e->key_stored);
	if (sscanf(key, "old-%u", &index) == 1 && index < WALK_KEYS)
		w->seen[index]++;
	return 0;
}

/*
 * credlimit_foreach() shows every key once although a child calls
 * credlimit_grow() `growths` times between the walk's first entry and the
 * rest.  With `half_done` the walk starts from a half-done migration (its
 * view has a target), which the child's first call finishes before it
 * starts its own.
 */
static void walk_across_migrations(struct fixture *f, int growths,
				   bool half_done)
{
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct walk_grower *g = fixture_shared(f, sizeof(*g));
	struct cl_algo_state model[WALK_KEYS];
	struct walk_count w = { .g = g };
	uint64_t generation;

	fill_keys(cl, "old", WALK_KEYS, model);
	if (half_done) {
		kill_point = "frozen";
		kill_at = WALK_KEYS / 2;
		run_killed_child(f, grow_killed, cl);
		assert_true(stats_of(cl).migrating);
	}
	generation = stats_of(cl).generation;

	g->cl = cl;
	g->growths = growths;
	g->pid = spawn(f, walk_grower_run, g, 0);
	assert_int_equal(credlimit_foreach(cl, T_FILL, walk_count_entry, &w),
			 0);
	reap_all_ok(f);

	for (uint32_t i = 0; i < WALK_KEYS; i++)
		if (w.seen[i] != 1)
			fail_msg("key old-%03u shown %u times by a walk across "
				 "generations %" PRIu64 " to %" PRIu64,
				 i, w.seen[i], generation,
				 stats_of(cl).generation);
	assert_filled(cl, "old", WALK_KEYS, model);
}

static void listing_across_one_migration(void **state)
{
	walk_across_migrations(*state, 1, false);
}

static void listing_across_two_migrations(void **state)
{
	walk_across_migrations(*state, 2, false);
}

static void listing_from_half_done_across_two(void **state)
{
	walk_across_migrations(*state, 1, true);
}

/* ---- resetting every entry across migrations ---- */

/* The grower that grow_on_copy() releases, once. */
static struct walk_grower *grower_on_copy;

/* Migration hook of the parent: at the first entry this process copies,
 * lets the grower run its migrations and waits for them. */
static void grow_on_copy(const char *point)
{
	struct walk_grower *g = grower_on_copy;

	if (g == NULL || strcmp(point, "copied") != 0)
		return;
	grower_on_copy = NULL;
	uatomic_set(&g->go, 1);
	while (uatomic_read(&g->done) == 0 &&
	       waitpid(g->pid, NULL, WNOHANG) == 0)
		sched_yield();
}

/* Checks that every key old-000 .. old-<count - 1> is a new customer. */
static void assert_all_fresh(credlimit_t *cl, uint32_t count, const char *label)
{
	char key[32];

	for (uint32_t i = 0; i < count; i++) {
		struct credlimit_entry e;
		int len = fill_key(key, "old", i);
		int err = credlimit_lookup(cl, key, (size_t)len, T_FILL, &e);

		/* A reset entry may also be dropped or evicted: it was
		 * indistinguishable from a new customer. */
		if (err == -ENOENT)
			continue;
		assert_int_equal(err, 0);
		if (!e.fresh)
			fail_msg("%s: key %s kept used %u, credits %u", label, key,
				 e.used, e.credits);
	}
}

/*
 * credlimit_reset_all() resets every entry although two migrations end
 * while it walks the tables.  It starts from a half-done migration: the
 * frozen entry it moves calls the hook, which lets a child finish that
 * migration and run another.
 */
static void reset_all_across_two_migrations(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, 1024);
	struct walk_grower *g = fixture_shared(f, sizeof(*g));
	struct cl_algo_state model[WALK_KEYS];
	int64_t count;

	fill_keys(cl, "old", WALK_KEYS, model);
	kill_point = "frozen";
	kill_at = WALK_KEYS / 2;
	run_killed_child(f, grow_killed, cl);
	assert_true(stats_of(cl).migrating);

	g->cl = cl;
	g->growths = 1;
	g->pid = spawn(f, walk_grower_run, g, 0);
	grower_on_copy = g;
	cl_migration_hook = grow_on_copy;
	count = credlimit_reset_all(cl);
	cl_migration_hook = NULL;
	grower_on_copy = NULL;
	reap_all_ok(f);

	print_message("reset %" PRId64 " entries, generation %" PRIu64 "\n",
		      count, stats_of(cl).generation);
	assert_all_fresh(cl, WALK_KEYS, "reset_all across two migrations");
}

/* Inserts new keys until `done` is set, growing the table again and
 * again. */
static int churn_until_stopped(void *arg, int index)
{
	struct churn *c = arg;

	(void)index;
	wait_gate(&c->gate);
	for (uint32_t j = 0; j < CHURN_INSERTS && uatomic_read(&c->done) == 0;
	     j++) {
		struct credlimit_result r;
		char key[32];
		int len = snprintf(key, sizeof(key), "churn-%05u", j);
		int err = credlimit_acquire_at(c->cl, key, (size_t)len, 1,
					       T_FILL, &r);

		if (err != 0) {
			if (uatomic_add_return(&c->errors, 1) == 1)
				c->first_error = err;
			break;
		}
	}
	uatomic_set(&c->done, 1);
	return 0;
}

/* credlimit_reset_all() while another process keeps growing the table:
 * after each call, every key charged before it is a new customer. */
static void reset_all_while_growing(void **state)
{
	struct fixture *f = *state;
	struct credlimit_policy p = policy_of(FILL_R, FILL_C, FILL_I);
	credlimit_t *cl = fixture_open(f, &p, 64, UINT64_C(1) << 17);
	struct churn *c = fixture_shared(f, sizeof(*c));
	struct cl_algo_state model[STABLE_KEYS];
	unsigned rounds = 0;
	char label[64];

	c->cl = cl;
	spawn(f, churn_until_stopped, c, 0);
	uatomic_set(&c->gate, 1);
	while (uatomic_read(&c->done) == 0) {
		uint64_t before = uatomic_read(&cl->ctl->generation);

		fill_keys(cl, "old", STABLE_KEYS, model);
		assert_true(credlimit_reset_all(cl) >= 0);
		snprintf(label, sizeof(label),
			 "round %u, generations %" PRIu64 " to %" PRIu64,
			 rounds, before, uatomic_read(&cl->ctl->generation));
		assert_all_fresh(cl, STABLE_KEYS, label);
		rounds++;
	}
	reap_all_ok(f);
	if (c->errors != 0)
		fail_msg("%u decisions failed, the first with %s", c->errors,
			 credlimit_strerror(c->first_error));
	print_message("%u rounds while the table grew to generation %" PRIu64
		      "\n",
		      rounds, stats_of(cl).generation);
}

#define GROWTH_TEST(fn)                                                     \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)
#define KILL_TEST(fn, kc)                                                   \
	cmocka_unit_test_prestate_setup_teardown(fn, fixture_setup,         \
						 fixture_teardown, kc)

static struct kill_case kill_cases[2 * POINTS];

int main(void)
{
	struct CMUnitTest tests[] = {
		GROWTH_TEST(hook_points_of_one_migration),
		GROWTH_TEST(grow_argument_errors),
		GROWTH_TEST(grow_doubling_finishes_stalled),
		GROWTH_TEST(failed_growth_holds_off),
		GROWTH_TEST(growth_without_room_held_off),
		GROWTH_TEST(grow_beyond_memory_fails_fast),
		GROWTH_TEST(growth_stops_at_max),
		GROWTH_TEST(growth_stops_at_max_allowing),
		GROWTH_TEST(private_limiter_never_grows),
		GROWTH_TEST(grow_keeps_entries_of_explicit_times),
		GROWTH_TEST(check_frozen_without_migration),
		GROWTH_TEST(check_mid_migration),
		GROWTH_TEST(listing_mid_migration),
		GROWTH_TEST(stats_mid_migration),
		GROWTH_TEST(fork_then_grow_in_child),
		KILL_TEST(kill_at_point, &kill_cases[0]),
		KILL_TEST(kill_at_point, &kill_cases[1]),
		KILL_TEST(kill_at_point, &kill_cases[2]),
		KILL_TEST(kill_at_point, &kill_cases[3]),
		KILL_TEST(kill_at_point, &kill_cases[4]),
		KILL_TEST(kill_at_point, &kill_cases[5]),
		KILL_TEST(kill_at_point, &kill_cases[6]),
		KILL_TEST(kill_at_point, &kill_cases[7]),
		KILL_TEST(kill_at_point, &kill_cases[8]),
		KILL_TEST(kill_at_point, &kill_cases[9]),
		KILL_TEST(kill_at_point, &kill_cases[10]),
		KILL_TEST(kill_at_point, &kill_cases[11]),
		GROWTH_TEST(listing_across_one_migration),
		GROWTH_TEST(listing_across_two_migrations),
		GROWTH_TEST(listing_from_half_done_across_two),
		GROWTH_TEST(listing_while_growing),
		GROWTH_TEST(reset_all_across_two_migrations),
		GROWTH_TEST(reset_all_while_growing),
		GROWTH_TEST(threads_decide_while_growing),
		GROWTH_TEST(grow_under_eight_deciders),
	};
	char names[2 * POINTS][64];

	/* Name each kill test after its point and label the parent finishes. */
	for (int i = 0; i < 2 * POINTS; i++) {
		kill_cases[i].point = point_names[i % POINTS];
		kill_cases[i].by_deciding = i >= POINTS;
		snprintf(names[i], sizeof(names[i]), "killed_at_%s_%s",
			 kill_cases[i].point,
			 kill_cases[i].by_deciding ? "then_decide" : "then_grow");
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		for (int j = 0; j < 2 * POINTS; j++)
			if (tests[i].initial_state == &kill_cases[j])
				tests[i].name = names[j];

	if (UNDER_TSAN)
		cmocka_set_test_filter("threads_decide_while_growing");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
