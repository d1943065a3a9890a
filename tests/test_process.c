/*
 * test_process.c - one limiter shared by forked workers: exact totals
 * under contention, handles inherited across fork(), and workers killed
 * with SIGKILL in the middle of decisions and inserts.
 *
 * Every decision uses an explicit time inside one window, so the number
 * of requests a key may be allowed is exactly R + I: the base allowance
 * plus the initial credits of a new customer.  Workers report what they
 * were allowed through shared anonymous memory, and the parent compares
 * those reports with the table's own counts.  Workers run plain checks and
 * end with _exit(code), and only the parent uses cmocka assertions.  The fixture
 * kills and reaps any worker a failed test leaves behind.
 */
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <urcu/uatomic.h>

#include "unit.h"

#include "lib/handle.h"
#include "shm/entry.h"
#include "shm/table.h"

/* A fixed time in the middle of window 1000 of one-second windows. */
#define T_FIXED (UINT64_C(1000) * SEC + SEC / 2)

#define MAX_CHILDREN 64

struct fixture {
	char name[64];
	credlimit_t *cl;
	pid_t children[MAX_CHILDREN];
	int nchildren;
	void *shared;
	size_t shared_size;
};

static int fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	unit_name(f->name, "process");
	*state = f;
	return 0;
}

/* Kills and reaps every worker still running, so a failed test leaves
 * no process behind, then removes the limiter. */
static int fixture_teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < f->nchildren; i++) {
		if (f->children[i] <= 0)
			continue;
		kill(f->children[i], SIGKILL);
		waitpid(f->children[i], NULL, 0);
	}
	if (f->shared != NULL)
		munmap(f->shared, f->shared_size);
	credlimit_close(f->cl);
	credlimit_unlink(f->name);
	free(f);
	return 0;
}

static credlimit_t *fixture_open(struct fixture *f, uint32_t max_requests,
				 uint32_t max_credits, uint32_t initial_credits,
				 uint64_t capacity)
{
	struct credlimit_options o = unit_options(max_requests, SEC,
						  max_credits, initial_credits,
						  capacity);

	assert_int_equal(credlimit_open(f->name,
					CREDLIMIT_OPEN_CREATE |
						CREDLIMIT_OPEN_EXCL,
					&o, &f->cl),
			 0);
	return f->cl;
}

/* Maps `size` zeroed bytes shared with the workers forked later. */
static void *fixture_shared(struct fixture *f, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	f->shared = p;
	f->shared_size = size;
	return p;
}

/* Resets the signal dispositions cmocka installs, so a crash in a worker
 * kills it instead of running the rest of the tests there. */
static void child_prepare(void)
{
	const int signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS,
				SIGABRT };

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		signal(signals[i], SIG_DFL);
}

/* Forks a worker that runs fn(arg, index) and exits with its result.
 * Returns its pid, recorded in the fixture. */
static pid_t spawn(struct fixture *f, int (*fn)(void *, int), void *arg,
		   int index)
{
	int free_slot = 0;
	pid_t pid;

	/* Reuse the entry of a reaped worker before growing the table. */
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

/* Waits for worker `pid`, removes it from the fixture's list and returns
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

/* Waits for every worker and checks each exited with status 0. */
static void reap_all_ok(struct fixture *f)
{
	for (int i = 0; i < f->nchildren; i++) {
		pid_t pid = f->children[i];
		int status;

		if (pid <= 0)
			continue;
		status = reap(f, pid);
		if (WIFSIGNALED(status))
			fail_msg("worker %d (pid %d) died of signal %d", i,
				 (int)pid, WTERMSIG(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("worker %d (pid %d) exited with code %d", i,
				 (int)pid, WEXITSTATUS(status));
	}
	f->nchildren = 0;
}

/* Spins until *gate is non-zero, so workers start deciding together. */
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

/* Exit codes of workers. */
enum {
	WORKER_DECIDE_FAILED = 20,
	WORKER_THREAD_FAILED,
	WORKER_WRONG_RESULT,
	WORKER_WRONG_PID,
	WORKER_FORK_FAILED,
	WORKER_GRANDCHILD_FAILED,
};

/* ---- one key, many processes ---- */

#define HAMMER_WORKERS 8
#define HAMMER_TRIES 1000

/* R = 100 and I = 30: 130 requests of cost 1 at one time. */
#define HAMMER_R 100
#define HAMMER_C 50
#define HAMMER_I 30

struct hammer {
	uint32_t gate;
	credlimit_t *cl;
	int threads; /* per worker */
	uint64_t allowed[HAMMER_WORKERS];
};

struct hammer_thread {
	struct hammer *h;
	uint64_t allowed;
	int err;
};

static void *hammer_thread(void *arg)
{
	struct hammer_thread *t = arg;
	int tries = HAMMER_TRIES / t->h->threads;

	wait_gate(&t->h->gate);
	for (int i = 0; i < tries; i++) {
		struct credlimit_result r;
		int err = credlimit_acquire_at(t->h->cl, "hot", 3, 1, T_FIXED,
					       &r);

		if (err != 0) {
			t->err = WORKER_DECIDE_FAILED;
			break;
		}
		if (credlimit_allowed(&r))
			t->allowed++;
	}
	return NULL;
}

static int hammer_worker(void *arg, int index)
{
	struct hammer *h = arg;
	struct hammer_thread threads[4] = { 0 };
	pthread_t ids[4];
	uint64_t allowed = 0;

	for (int i = 0; i < h->threads; i++) {
		threads[i].h = h;
		if (i > 0 &&
		    pthread_create(&ids[i], NULL, hammer_thread, &threads[i]))
			return WORKER_THREAD_FAILED;
	}
	hammer_thread(&threads[0]);
	for (int i = 1; i < h->threads; i++)
		pthread_join(ids[i], NULL);

	for (int i = 0; i < h->threads; i++) {
		if (threads[i].err != 0)
			return threads[i].err;
		allowed += threads[i].allowed;
	}
	h->allowed[index] = allowed;
	return 0;
}

static void hammer_one_key(struct fixture *f, int threads)
{
	credlimit_t *cl = fixture_open(f, HAMMER_R, HAMMER_C, HAMMER_I, 64);
	struct hammer *h = fixture_shared(f, sizeof(*h));
	const uint64_t decisions = HAMMER_WORKERS * (uint64_t)(HAMMER_TRIES /
							      threads) *
				   threads;
	struct credlimit_entry e;
	struct credlimit_stats stats;
	uint64_t total = 0;

	h->cl = cl;
	h->threads = threads;
	for (int i = 0; i < HAMMER_WORKERS; i++)
		spawn(f, hammer_worker, h, i);
	uatomic_set(&h->gate, 1);
	reap_all_ok(f);

	for (int i = 0; i < HAMMER_WORKERS; i++)
		total += h->allowed[i];
	assert_int_equal(total, HAMMER_R + HAMMER_I);

	stats = stats_of(cl);
	assert_int_equal(stats.allowed, HAMMER_R + HAMMER_I);
	assert_int_equal(stats.denied, decisions - (HAMMER_R + HAMMER_I));
	assert_int_equal(stats.credits_spent, HAMMER_I);
	assert_int_equal(stats.inserts, 1);

	assert_int_equal(credlimit_lookup(cl, "hot", 3, T_FIXED, &e), 0);
	assert_int_equal(e.used, HAMMER_R);
	assert_int_equal(e.credits, 0);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
}

static void one_key_eight_workers(void **state)
{
	hammer_one_key(*state, 1);
}

/*
 * With R above the number of requests every decision is allowed and
 * changes the state word, so a lost update would leave the entry counting
 * fewer requests than were allowed.
 */
static void one_key_no_lost_updates(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = fixture_open(f, 1000000, 0, 0, 64);
	struct hammer *h = fixture_shared(f, sizeof(*h));
	const uint64_t decisions = HAMMER_WORKERS * (uint64_t)HAMMER_TRIES;
	struct credlimit_entry e;
	uint64_t total = 0;

	h->cl = cl;
	h->threads = 2;
	for (int i = 0; i < HAMMER_WORKERS; i++)
		spawn(f, hammer_worker, h, i);
	uatomic_set(&h->gate, 1);
	reap_all_ok(f);

	for (int i = 0; i < HAMMER_WORKERS; i++)
		total += h->allowed[i];
	assert_int_equal(total, decisions);
	assert_int_equal(stats_of(cl).allowed, decisions);
	assert_int_equal(credlimit_lookup(cl, "hot", 3, T_FIXED, &e), 0);
	assert_int_equal(e.used, decisions);
	assert_int_equal(e.credits, 0);
}

static void one_key_two_threads_each(void **state)
{
	hammer_one_key(*state, 2);
}

/* ---- many keys, overlapping sets ---- */

#define MANY_WORKERS 8
#define MANY_KEYS 4000
#define MANY_PER_WORKER 2000
#define MANY_TRIES 2 /* per worker and key */

/* R = 2 and I = 1: 3 requests of cost 1 per key at one time. */
#define MANY_R 2
#define MANY_C 3
#define MANY_I 1

struct many {
	uint32_t gate;
	credlimit_t *cl;
	uint32_t allowed[MANY_KEYS];
};

static int many_key(char key[32], uint32_t k)
{
	return snprintf(key, 32, "customer-%05u", k);
}

/*
 * Worker w decides keys w * 500 .. w * 500 + 1999 (mod 4000), so every
 * key is shared by four workers.  Odd workers walk their range backwards
 * so that they meet the even ones on keys not yet inserted.
 */
static int many_worker(void *arg, int index)
{
	struct many *m = arg;
	char key[32];

	wait_gate(&m->gate);
	for (uint32_t i = 0; i < MANY_PER_WORKER; i++) {
		uint32_t step = index % 2 ? MANY_PER_WORKER - 1 - i : i;
		uint32_t k = (index * 500u + step) % MANY_KEYS;
		int len = many_key(key, k);

		for (int t = 0; t < MANY_TRIES; t++) {
			struct credlimit_result r;

			if (credlimit_acquire_at(m->cl, key, (size_t)len, 1,
						 T_FIXED, &r) != 0)
				return WORKER_DECIDE_FAILED;
			if (credlimit_allowed(&r))
				uatomic_inc(&m->allowed[k]);
		}
	}
	return 0;
}

static void many_keys_exact_totals(void **state)
{
	struct fixture *f = *state;
	credlimit_t *cl = fixture_open(f, MANY_R, MANY_C, MANY_I, 16384);
	struct many *m = fixture_shared(f, sizeof(*m));
	struct credlimit_stats stats;
	char key[32];

	m->cl = cl;
	for (int i = 0; i < MANY_WORKERS; i++)
		spawn(f, many_worker, m, i);
	uatomic_set(&m->gate, 1);
	reap_all_ok(f);

	for (uint32_t k = 0; k < MANY_KEYS; k++) {
		struct credlimit_entry e;
		int len = many_key(key, k);

		if (m->allowed[k] != MANY_R + MANY_I)
			fail_msg("key %s allowed %u times, expected %d", key,
				 m->allowed[k], MANY_R + MANY_I);
		assert_int_equal(credlimit_lookup(cl, key, (size_t)len,
						  T_FIXED, &e),
				 0);
		assert_int_equal(e.used, MANY_R);
		assert_int_equal(e.credits, 0);
	}

	/* Each key was inserted exactly once. */
	stats = stats_of(cl);
	assert_int_equal(stats.inserts, MANY_KEYS);
	assert_int_equal(stats.entries, MANY_KEYS);
	assert_int_equal(stats.allowed, MANY_KEYS * (MANY_R + MANY_I));
	assert_int_equal(stats.full_events, 0);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
}

/* ---- handles across fork() ---- */

/* Returns the pid recorded in the meta word of key's entry, or 0. */
static unsigned claimer_of(credlimit_t *cl, const char *key)
{
	struct cl_key k;
	struct cl_slot slot;

	cl_key_prepare(&k, cl->secret, key, strlen(key));
	if (cl_table_find(&cl->view->current->table, &k, false, &slot) != 0)
		return 0;
	return cl_meta_pid(slot.meta);
}

/* In a grandchild: insert key "c" under the grandchild's own pid. */
static int grandchild_insert(credlimit_t *cl)
{
	struct credlimit_result r;

	if (credlimit_acquire_at(cl, "c", 1, 1, T_FIXED, &r) != 0)
		return WORKER_DECIDE_FAILED;
	if (r.flags != CREDLIMIT_RESULT_NEW)
		return WORKER_WRONG_RESULT;
	if (claimer_of(cl, "c") != (unsigned)getpid())
		return WORKER_WRONG_PID;
	return 0;
}

/*
 * Runs in a child.  "a" was decided once by the parent (cost 1 of
 * R = 10), so cost 2 leaves 7.  "b" is new and must be claimed under the
 * child's pid, not the parent's.  A grandchild uses the handle too.
 */
static int fork_child(void *arg, int index)
{
	credlimit_t *cl = arg;
	struct credlimit_result r;
	int status;
	pid_t pid;

	(void)index;
	if (cl_self_pid() != (uint32_t)getpid())
		return WORKER_WRONG_PID;
	if (credlimit_acquire_at(cl, "a", 1, 2, T_FIXED, &r) != 0)
		return WORKER_DECIDE_FAILED;
	if (r.verdict != CREDLIMIT_ALLOWED || r.remaining != 7 || r.flags != 0)
		return WORKER_WRONG_RESULT;
	if (credlimit_acquire_at(cl, "b", 1, 1, T_FIXED, &r) != 0)
		return WORKER_DECIDE_FAILED;
	if (r.flags != CREDLIMIT_RESULT_NEW)
		return WORKER_WRONG_RESULT;
	if (claimer_of(cl, "b") != (unsigned)getpid())
		return WORKER_WRONG_PID;

	pid = fork();
	if (pid < 0)
		return WORKER_FORK_FAILED;
	if (pid == 0)
		_exit(grandchild_insert(cl));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return WORKER_GRANDCHILD_FAILED;
	return WEXITSTATUS(status);
}

static void check_fork_child(struct fixture *f, credlimit_t *cl)
{
	struct credlimit_result r;
	struct credlimit_entry e;
	pid_t pid;
	int status;

	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, T_FIXED, &r), 0);
	assert_int_equal(r.remaining, 9);

	pid = spawn(f, fork_child, cl, 0);
	status = reap(f, pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("child failed with code %d", WEXITSTATUS(status));

	/* The parent reads the child's decisions and goes on deciding. */
	assert_int_equal(credlimit_lookup(cl, "a", 1, T_FIXED, &e), 0);
	assert_int_equal(e.used, 3);
	assert_int_equal(credlimit_lookup(cl, "b", 1, T_FIXED, &e), 0);
	assert_int_equal(e.used, 1);
	assert_int_equal(credlimit_lookup(cl, "c", 1, T_FIXED, &e), 0);
	assert_int_equal(e.used, 1);
	assert_int_equal(credlimit_acquire_at(cl, "a", 1, 1, T_FIXED, &r), 0);
	assert_int_equal(r.remaining, 6);
	assert_int_equal(credlimit_acquire_at(cl, "d", 1, 1, T_FIXED, &r), 0);
	assert_int_equal(r.flags, CREDLIMIT_RESULT_NEW);
	assert_int_equal(claimer_of(cl, "d"), (unsigned)getpid());
	assert_int_equal(cl_self_pid(), (uint32_t)getpid());
	assert_int_equal(stats_of(cl).inserts, 4);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
}

static void handle_survives_fork(void **state)
{
	struct fixture *f = *state;

	check_fork_child(f, fixture_open(f, 10, 0, 0, 64));
}

/* A private limiter (no name) is shared with later children only. */
static void private_limiter_survives_fork(void **state)
{
	struct fixture *f = *state;
	struct credlimit_options o = unit_options(10, SEC, 0, 0, 64);
	credlimit_t *cl = NULL;

	assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	f->cl = cl;
	assert_string_equal(credlimit_name(cl), "");
	check_fork_child(f, cl);
}

/* ---- workers killed with SIGKILL ---- */

#define CHAOS_WORKERS 8
#define CHAOS_HOT_KEYS 128
#define CHAOS_ROUNDS 120
#define CHAOS_STEP 400 /* operations between kills, all workers together */

/* Hot keys: R = 20 and I = 5, 25 units each at the fixed time. */
#define CHAOS_R 20
#define CHAOS_C 10
#define CHAOS_I 5

struct chaos {
	uint32_t stop;
	credlimit_t *cl;
	int threads;     /* per worker */
	int junk_policy; /* I = C: a new junk entry is always evictable */
	uint64_t progress[CHAOS_WORKERS];
	uint64_t allowed[CHAOS_HOT_KEYS]; /* cost units reported allowed */
	uint32_t errors;
	int first_error;
	int first_error_call;
};

struct chaos_thread {
	struct chaos *c;
	int slot;
	int thread;
};

static int hot_key(char key[48], uint32_t h)
{
	/* Every fourth hot key is longer than the inline limit. */
	if (h % 4 == 3)
		return snprintf(key, 48, "hot-%03u-with-a-name-beyond-32-bytes",
				h);
	return snprintf(key, 48, "hot-%03u", h);
}

static void chaos_error(struct chaos *c, int call, int err)
{
	if (uatomic_add_return(&c->errors, 1) == 1) {
		c->first_error = err;
		c->first_error_call = call;
	}
}

static uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * Decides a random hot key (cost 1 to 3) and inserts a new junk key with
 * a cost-0 decision, which evicts an older junk key once the table is
 * full: every operation runs the insert path and most run an eviction.
 */
static void *chaos_thread(void *arg)
{
	struct chaos_thread *t = arg;
	struct chaos *c = t->c;
	uint64_t x = (uint64_t)getpid() * 2654435761u + (uint64_t)t->thread + 1;
	uint64_t serial = 0;

	while (uatomic_read(&c->stop) == 0) {
		struct credlimit_result r;
		char key[96];
		uint32_t h = (uint32_t)(xorshift64(&x) % CHAOS_HOT_KEYS);
		uint64_t cost = 1 + xorshift64(&x) % 3;
		int len = hot_key(key, h);
		int err;

		err = credlimit_acquire_at(c->cl, key, (size_t)len, cost,
					   T_FIXED, &r);
		if (err != 0)
			chaos_error(c, 1, err);
		else if (credlimit_allowed(&r))
			uatomic_add(&c->allowed[h], cost);

		len = snprintf(key, sizeof(key), "junk-%d-%d-%" PRIu64 "%s",
			       (int)getpid(), t->thread, serial,
			       serial % 3 == 0 ? "-long-enough-to-be-hashed" : "");
		serial++;
		err = credlimit_acquire_policy(c->cl, c->junk_policy, key,
					       (size_t)len, 0, T_FIXED, &r);
		if (err != 0)
			chaos_error(c, 2, err);

		uatomic_inc(&c->progress[t->slot]);
	}
	return NULL;
}

static int chaos_worker(void *arg, int slot)
{
	struct chaos *c = arg;
	struct chaos_thread threads[2];
	pthread_t second;

	for (int i = 0; i < c->threads; i++) {
		threads[i].c = c;
		threads[i].slot = slot;
		threads[i].thread = i;
	}
	if (c->threads > 1 &&
	    pthread_create(&second, NULL, chaos_thread, &threads[1]) != 0)
		return WORKER_THREAD_FAILED;
	chaos_thread(&threads[0]);
	if (c->threads > 1)
		pthread_join(second, NULL);
	return 0;
}

static uint64_t chaos_progress(const struct chaos *c)
{
	uint64_t total = 0;

	for (int i = 0; i < CHAOS_WORKERS; i++)
		total += uatomic_read(&c->progress[i]);
	return total;
}

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* Waits until the workers made `ops` more operations.  The deadline only
 * turns a hang into a failure. */
static void chaos_wait(const struct chaos *c, uint64_t ops)
{
	uint64_t target = chaos_progress(c) + ops;
	uint64_t deadline = monotonic_ns() + 60 * SEC;

	while (chaos_progress(c) < target) {
		if (monotonic_ns() > deadline)
			fail_msg("workers stopped making progress at %" PRIu64
				 " of %" PRIu64 " operations",
				 chaos_progress(c), target);
		sched_yield();
	}
}

static void record_note(void *context, int level, const char *message)
{
	(void)message;
	if (level == CREDLIMIT_LOG_INFO)
		(*(int *)context)++;
	else
		print_message("check: %s\n", message);
}

/*
 * Checks every hot key after the workers stopped.  The units the table
 * counts at the fixed time (used + spent credits) are at most R + I and at
 * least what the workers reported.  Draining the rest reaches exactly
 * R + I.
 */
static void chaos_verify_keys(credlimit_t *cl, const struct chaos *c)
{
	for (uint32_t h = 0; h < CHAOS_HOT_KEYS; h++) {
		struct credlimit_entry e;
		struct credlimit_result r;
		char key[48];
		int len = hot_key(key, h);
		uint64_t counted = 0;
		uint64_t drained = 0;
		int err = credlimit_lookup(cl, key, (size_t)len, T_FIXED, &e);

		assert_true(err == 0 || err == -ENOENT);
		if (err == 0 && !e.fresh) {
			assert_int_equal(e.window_start_ns, T_FIXED / SEC * SEC);
			assert_true(e.used <= CHAOS_R);
			assert_true(e.credits <= CHAOS_I);
			counted = e.used + (CHAOS_I - e.credits);
		}
		if (counted > CHAOS_R + CHAOS_I || c->allowed[h] > counted)
			fail_msg("key %s: table counts %" PRIu64 " units, "
				 "workers were allowed %" PRIu64 ", limit %d",
				 key, counted, c->allowed[h],
				 CHAOS_R + CHAOS_I);

		for (int i = 0; i <= CHAOS_R + CHAOS_I; i++) {
			assert_int_equal(credlimit_acquire_at(cl, key,
							      (size_t)len, 1,
							      T_FIXED, &r),
					 0);
			if (!credlimit_allowed(&r))
				break;
			drained++;
		}
		assert_int_equal(counted + drained, CHAOS_R + CHAOS_I);
	}
}

static void chaos_run(struct fixture *f, int threads)
{
	struct credlimit_policy junk = {
		.max_requests = 1,
		.max_credits = 1,
		.initial_credits = 1,
		.window_ns = SEC,
	};
	credlimit_t *cl = fixture_open(f, CHAOS_R, CHAOS_C, CHAOS_I, 512);
	struct chaos *c = fixture_shared(f, sizeof(*c));
	pid_t workers[CHAOS_WORKERS];
	uint64_t x = 0x5eed;
	struct credlimit_stats stats;
	int notes = 0;
	int problems;

	c->cl = cl;
	c->threads = threads;
	c->junk_policy = credlimit_policy_define(cl, "junk", &junk);
	assert_true(c->junk_policy > 0);

	for (int i = 0; i < CHAOS_WORKERS; i++)
		workers[i] = spawn(f, chaos_worker, c, i);

	for (int round = 0; round < CHAOS_ROUNDS; round++) {
		int victim = (int)(xorshift64(&x) % CHAOS_WORKERS);
		int status;

		chaos_wait(c, CHAOS_STEP);
		assert_int_equal(kill(workers[victim], SIGKILL), 0);
		status = reap(f, workers[victim]);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("worker %d ended before it was killed, "
				 "status %#x",
				 victim, status);
		workers[victim] = spawn(f, chaos_worker, c, victim);
	}

	/* Survivors and respawned workers go on deciding and inserting. */
	chaos_wait(c, CHAOS_STEP * 8);
	uatomic_set(&c->stop, 1);
	reap_all_ok(f);

	if (c->errors != 0)
		fail_msg("%u calls failed, the first (call %d) with %d (%s)",
			 c->errors, c->first_error_call, c->first_error,
			 credlimit_strerror(c->first_error));

	problems = credlimit_check(cl, record_note, &notes);
	assert_int_equal(problems, 0);

	stats = stats_of(cl);
	print_message("%d kills, %" PRIu64 " operations: %" PRIu64
		      " evictions, %" PRIu64 " recoveries, %" PRIu64
		      " full events, %d check notes\n",
		      CHAOS_ROUNDS, chaos_progress(c), stats.evictions,
		      stats.recoveries, stats.full_events, notes);

	chaos_verify_keys(cl, c);

	/* The parent's own inserts and evictions still work. */
	for (int i = 0; i < 64; i++) {
		struct credlimit_result r;
		char key[32];
		int len = snprintf(key, sizeof(key), "after-%d", i);

		assert_int_equal(credlimit_acquire_policy(cl, c->junk_policy,
							  key, (size_t)len, 1,
							  T_FIXED, &r),
				 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		assert_true(r.flags & CREDLIMIT_RESULT_NEW);
	}
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);
}

static void killed_workers_single_thread(void **state)
{
	chaos_run(*state, 1);
}

static void killed_workers_two_threads(void **state)
{
	chaos_run(*state, 2);
}

#define PROCESS_TEST(fn)                                                    \
	cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		PROCESS_TEST(one_key_eight_workers),
		PROCESS_TEST(one_key_two_threads_each),
		PROCESS_TEST(one_key_no_lost_updates),
		PROCESS_TEST(many_keys_exact_totals),
		PROCESS_TEST(handle_survives_fork),
		PROCESS_TEST(private_limiter_survives_fork),
		PROCESS_TEST(killed_workers_single_thread),
		PROCESS_TEST(killed_workers_two_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
