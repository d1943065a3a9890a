/*
 * test_lease.c - hosts that lease capacity from one real Redis
 *
 * Each simulated host is a process with a lease cache of its own (its own
 * segments) on one redis-server that the test starts on loopback.  Most
 * tests pass times explicitly (credlimit_acquire_at), so window rolls
 * happen where the test puts them; two decide at Redis TIME to check the
 * cache's clock.  Children use plain checks and _exit(); the parent
 * asserts.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "credlimit.h"
#include "redis_server.h"
#include "unit.h"

/* Start of the test's time axis: far from 0, like real Redis times. */
#define T0 (UINT64_C(1000000) * SEC)

static struct rs *server;
/* The test's pid, which names the lease caches of every process. */
static int test_pid;

/* Opens host `host`'s lease cache on the test's server.  extra is added
 * to the lease options, redis_extra to the Redis URI's. */
static int open_host(int host, const char *prefix, const char *extra,
		     const char *redis_extra, const struct credlimit_policy *p,
		     credlimit_t **out)
{
	struct credlimit_options o;
	char name[512];

	credlimit_options_init(&o);
	o.default_policy = *p;
	snprintf(name, sizeof(name),
		 "shm:lease-%d-%s-h%d?%s%supstream=redis://127.0.0.1:%d/0?"
		 "prefix=%s:&timeout_ms=3000%s%s",
		 test_pid, prefix, host, extra, extra[0] ? "&" : "",
		 server->port, prefix, redis_extra[0] ? "&" : "", redis_extra);
	return credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, out);
}

static void unlink_host(int host, const char *prefix)
{
	char name[128];

	snprintf(name, sizeof(name), "lease-%d-%s-h%d", test_pid, prefix,
		 host);
	credlimit_unlink(name);
}

/* Acquires at `now` until the first denial; returns the units allowed, or
 * -1 on an error. */
static int64_t drain(credlimit_t *cl, const char *key, uint64_t now)
{
	struct credlimit_result r;
	int64_t allowed = 0;

	for (;;) {
		if (credlimit_acquire_at(cl, key, strlen(key), 1, now, &r) < 0)
			return -1;
		if (r.flags & CREDLIMIT_RESULT_FALLBACK)
			return -1;
		if (r.verdict != CREDLIMIT_ALLOWED)
			return allowed;
		allowed++;
	}
}

static int setup(void **state)
{
	(void)state;
	test_pid = (int)getpid();
	server = rs_start(false);
	return server != NULL ? 0 : -1;
}

/* Removes the lease caches of this test run, including those that a
 * failed test left behind. */
static int teardown(void **state)
{
	char prefix[64];
	struct dirent *de;
	DIR *dir;

	(void)state;
	rs_free(server);

	snprintf(prefix, sizeof(prefix), "credlimit.lease-%d-", test_pid);
	dir = opendir("/dev/shm");
	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		char name[256];
		size_t len;

		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		/* "credlimit.NAME" or "credlimit.NAME.gN"; names of this
		 * test have no dot. */
		len = strcspn(de->d_name + 10, ".");
		snprintf(name, sizeof(name), "%.*s", (int)len, de->d_name + 10);
		credlimit_unlink(name);
	}
	closedir(dir);
	return 0;
}

static void wait_children(int count)
{
	for (int i = 0; i < count; i++) {
		int status;

		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
}

static void *shared_memory(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0, size);
	return p;
}

static void lease_names_checked(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, 60 * SEC, 0, 0);
	struct credlimit_options o;
	struct credlimit_result r;
	credlimit_t *cl = NULL;
	char name[64], uri[256];

	(void)ctx;
	credlimit_options_init(&o);
	o.default_policy = p;
	unit_name(name, "names");

	assert_int_equal(open_host(0, "names", "lease=0", "", &p, &cl),
			 -EINVAL);
	assert_int_equal(open_host(0, "names", "lease=2000000000", "", &p, &cl),
			 -EINVAL);
	assert_int_equal(open_host(0, "names", "size=8", "", &p, &cl), -EINVAL);
	assert_int_equal(open_host(0, "names", "idle_ms=", "", &p, &cl),
			 -EINVAL);
	assert_null(cl);
	assert_int_equal(credlimit_open("shm:x?upstream=memcached://h", 
					CREDLIMIT_OPEN_CREATE, &o, &cl),
			 -EINVAL);

	/* "shm:NAME" alone is a plain limiter. */
	snprintf(uri, sizeof(uri), "shm:%s", name);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl), 0);
	assert_int_equal(credlimit_acquire(cl, "k", 1, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	credlimit_close(cl);

	/* A plain limiter cannot become a lease cache. */
	snprintf(uri, sizeof(uri),
		 "shm:%s?upstream=redis://127.0.0.1:%d/0?prefix=names:", name,
		 server->port);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 -EMEDIUMTYPE);
	credlimit_unlink(name);

	/* A Redis URI takes no upstream. */
	o.upstream = "redis://127.0.0.1:1/0";
	snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d/0?prefix=names:",
		 server->port);
	assert_int_equal(credlimit_open(uri, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 -EINVAL);
	o.upstream = NULL;

	/* A lease cache decides only through its lease handle. */
	assert_int_equal(open_host(0, "names", "", "", &p, &cl), 0);
	credlimit_close(cl);
	snprintf(name, sizeof(name), "lease-%d-names-h0", test_pid);
	assert_int_equal(credlimit_open(name, 0, NULL, &cl), 0);
	assert_int_equal(credlimit_acquire(cl, "k", 1, 1, &r), -EMEDIUMTYPE);
	assert_int_equal(credlimit_peek(cl, "k", 1, CREDLIMIT_NOW, &r),
			 -EMEDIUMTYPE);
	credlimit_close(cl);

	/* The lease name removes the lease cache. */
	snprintf(uri, sizeof(uri), "shm:%s?upstream=redis://h/0", name);
	assert_int_equal(credlimit_unlink(uri), 0);
	assert_int_equal(credlimit_open(name, 0, NULL, &cl), -ENOENT);
}

/* A lease cache serves one upstream: units leased from one Redis prefix
 * are never spent or returned against another. */
static void cache_bound_to_upstream(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_options o;
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *cl, *other, *cache;
	char name[512], cache_name[128];

	(void)ctx;
	assert_int_equal(open_host(0, "bound", "lease=32", "", &p, &cl), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(credlimit_acquire_at(cl, "b", 1, 1, T0, &r), 0);

	credlimit_options_init(&o);
	o.default_policy = p;
	snprintf(name, sizeof(name),
		 "shm:lease-%d-bound-h0?upstream=redis://127.0.0.1:%d/0?"
		 "prefix=elsewhere:",
		 test_pid, server->port);
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &other),
			 -EXDEV);

	/* A reset of the lease cache drops what it held, counted as lost. */
	snprintf(cache_name, sizeof(cache_name), "lease-%d-bound-h0", test_pid);
	assert_int_equal(credlimit_open(cache_name, 0, NULL, &cache), 0);
	assert_int_equal(credlimit_stats(cache, &s), 0);
	assert_int_equal(s.lease_units_held, 5);
	assert_int_equal(credlimit_reset(cache, "b", 1), 0);
	assert_int_equal(credlimit_stats(cache, &s), 0);
	assert_int_equal(s.lease_units_held, 0);
	assert_int_equal(s.lease_units_lost, 5);
	credlimit_close(cache);

	credlimit_close(cl);
	unlink_host(0, "bound");
}

static void local_decisions_save_round_trips(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *cl;
	int leased = 0;

	(void)ctx;
	assert_int_equal(open_host(0, "save", "lease=32", "", &p, &cl), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, T0, &r), 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		if (r.flags & CREDLIMIT_RESULT_LEASED)
			leased++;
	}
	assert_int_equal(credlimit_acquire_at(cl, "k", 1, 1, T0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);

	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_true(s.lease_cache);
	assert_int_equal(s.allowed, 100);
	assert_int_equal(s.denied, 1);
	/* Leases of 1, 2, 4, 8, 16, 32, 32 and the last 5 units. */
	assert_int_equal(s.lease_fetches, 8);
	assert_int_equal(s.lease_units_taken, 100);
	assert_int_equal(s.lease_local, 101 - 8);
	assert_int_equal(leased, 100 - 8);
	assert_int_equal(s.lease_units_held, 0);

	/* Redis saw the whole allowance taken. */
	assert_int_equal(credlimit_peek(cl, "k", 1, T0, &r), 0);
	assert_int_equal(r.remaining, 0);

	credlimit_close(cl);
	unlink_host(0, "save");
}

/* Work of one worker process of a simulated host; returns its exit
 * status, 0 for success. */
typedef int (*worker_fn)(credlimit_t *cl, int host, int worker, void *arg);

/*
 * Forks `hosts` host processes, each with its own lease cache of prefix
 * and options, and `workers` worker processes per host that run work on
 * the host's handle.  Returns after every host and worker exited, failing
 * the test unless all exited with 0.
 */
static void run_hosts(int hosts, int workers, const char *prefix,
		      const char *options, const struct credlimit_policy *p,
		      worker_fn work, void *arg)
{
	for (int h = 0; h < hosts; h++) {
		pid_t host = fork();
		credlimit_t *cl;

		assert_true(host >= 0);
		if (host != 0)
			continue;

		if (open_host(h, prefix, options, "", p, &cl) < 0)
			_exit(2);
		for (int w = 0; w < workers; w++)
			if (fork() == 0)
				_exit(work(cl, h, w, arg));
		for (int w = 0; w < workers; w++) {
			int status;

			if (wait(&status) < 0 || !WIFEXITED(status) ||
			    WEXITSTATUS(status) != 0)
				_exit(4);
		}
		credlimit_close(cl);
		_exit(0);
	}
	wait_children(hosts);
}

#define EXACT_WORKERS 3

/* Drains "shared" at T0, storing the units allowed in allowed[]. */
static int drain_shared(credlimit_t *cl, int host, int worker, void *arg)
{
	int64_t *allowed = arg;
	int64_t *mine = &allowed[host * EXACT_WORKERS + worker];

	*mine = drain(cl, "shared", T0);
	return *mine < 0 ? 3 : 0;
}

/* Workers of several hosts drain one key at one time: the hosts together
 * allow exactly R + I. */
static void hosts_allow_exact_total(void **ctx)
{
	enum { HOSTS = 4, WORKERS = EXACT_WORKERS };
	struct credlimit_policy p = unit_policy(500, 3600 * SEC, 200, 150);
	int64_t *allowed = shared_memory(sizeof(int64_t) * HOSTS * WORKERS);
	int64_t total = 0;

	(void)ctx;
	run_hosts(HOSTS, WORKERS, "exact", "lease=16", &p, drain_shared,
		  allowed);

	for (int i = 0; i < HOSTS * WORKERS; i++)
		total += allowed[i];
	assert_int_equal(total, 500 + 150);
	for (int h = 0; h < HOSTS; h++)
		unlink_host(h, "exact");
	munmap(allowed, sizeof(int64_t) * HOSTS * WORKERS);
}

struct drain_thread {
	pthread_t thread;
	credlimit_t *cl;
	int64_t allowed;
};

static void *drain_in_thread(void *arg)
{
	struct drain_thread *t = arg;

	t->allowed = drain(t->cl, "threads", T0);
	return NULL;
}

/* Threads of one process share a lease handle: together they allow
 * exactly R + I, like processes. */
static void threads_allow_exact_total(void **ctx)
{
	enum { THREADS = 6 };
	struct credlimit_policy p = unit_policy(300, 3600 * SEC, 100, 40);
	struct drain_thread threads[THREADS];
	int64_t total = 0;
	credlimit_t *cl;

	(void)ctx;
	assert_int_equal(open_host(0, "threads", "lease=16", "", &p, &cl), 0);
	for (int i = 0; i < THREADS; i++) {
		threads[i].cl = cl;
		assert_int_equal(pthread_create(&threads[i].thread, NULL,
						drain_in_thread, &threads[i]),
				 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(threads[i].thread, NULL), 0);
		assert_true(threads[i].allowed >= 0);
		total += threads[i].allowed;
	}
	assert_int_equal(total, 300 + 40);

	credlimit_close(cl);
	unlink_host(0, "threads");
}

/* Phases of random traffic at one time each; every host finishes a phase
 * before the next begins, so the phases are ordered like their times. */
struct phases {
	uint64_t phase; /* set by the parent: hosts may run it */
	uint64_t done;  /* hosts finished with the current phase */
	uint64_t time[64];
	uint64_t allowed[64][4]; /* units allowed, per phase and host */
};

static void run_phases(struct phases *ph, int host, int count)
{
	struct credlimit_policy p = unit_policy(60, SEC, 40, 20);
	unsigned seed = 1234u + (unsigned)host;
	credlimit_t *cl;

	if (open_host(host, "random", "lease=8&idle_ms=1500", "", &p, &cl) < 0)
		_exit(2);
	for (int n = 0; n < count; n++) {
		int requests;

		while (__atomic_load_n(&ph->phase, __ATOMIC_ACQUIRE) < (uint64_t)n + 1)
			rs_sleep_ms(1);
		requests = rand_r(&seed) % 40;
		for (int i = 0; i < requests; i++) {
			struct credlimit_result r;
			uint64_t cost = 1 + (uint64_t)(rand_r(&seed) % 3);

			if (credlimit_acquire_at(cl, "rnd", 3, cost, ph->time[n],
						 &r) < 0 ||
			    (r.flags & CREDLIMIT_RESULT_FALLBACK))
				_exit(3);
			if (r.verdict == CREDLIMIT_ALLOWED)
				ph->allowed[n][host] += cost;
		}
		__atomic_add_fetch(&ph->done, 1, __ATOMIC_RELEASE);
	}
	credlimit_close(cl);
	_exit(0);
}

/* No host together with the others ever allows more than the algorithm
 * allows for exactly the requests they allowed, across window rolls. */
static void random_traffic_never_over_admits(void **ctx)
{
	enum { HOSTS = 3, PHASES = 60 };
	struct phases *ph = shared_memory(sizeof(*ph));
	struct credlimit_result r;
	credlimit_t *replay;
	uint64_t t = T0, total = 0;
	unsigned seed = 99;
	int limited = 0;

	(void)ctx;
	for (int n = 0; n < PHASES; n++) {
		ph->time[n] = t;
		switch (rand_r(&seed) % 4) {
		case 0:
			t += 3 * SEC + (uint64_t)(rand_r(&seed) % 1000) * MS;
			break;
		default:
			t += (uint64_t)(rand_r(&seed) % 600) * MS;
		}
	}
	for (int h = 0; h < HOSTS; h++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			run_phases(ph, h, PHASES);
	}
	for (int n = 0; n < PHASES; n++) {
		__atomic_store_n(&ph->phase, (uint64_t)n + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(&ph->done, __ATOMIC_ACQUIRE) <
		       (uint64_t)(n + 1) * HOSTS)
			rs_sleep_ms(1);
	}
	wait_children(HOSTS);

	/* Replays each phase's allowed units as one request at its time on
	 * a private limiter running the same algorithm. */
	{
		struct credlimit_options o = unit_options(60, SEC, 40, 20, 8);

		assert_int_equal(credlimit_open(NULL, CREDLIMIT_OPEN_CREATE, &o,
						&replay),
				 0);
	}
	for (int n = 0; n < PHASES; n++) {
		uint64_t phase_total = 0;

		for (int h = 0; h < HOSTS; h++)
			phase_total += ph->allowed[n][h];
		total += phase_total;
		assert_int_equal(credlimit_acquire_at(replay, "rnd", 3,
						      phase_total, ph->time[n],
						      &r),
				 0);
		if (r.verdict != CREDLIMIT_ALLOWED)
			fail_msg("phase %d: hosts allowed %llu units, the "
				 "algorithm allows %llu",
				 n, (unsigned long long)phase_total,
				 (unsigned long long)r.remaining);
		if (r.remaining == 0)
			limited++;
	}
	/* The traffic reached the limit in some phases, and the hosts did
	 * not starve the customer. */
	assert_true(limited > 0);
	assert_true(total > 60 * 10);

	credlimit_close(replay);
	for (int h = 0; h < HOSTS; h++)
		unlink_host(h, "random");
	munmap(ph, sizeof(*ph));
}

/* A host killed with units in its cache: the others never get them in
 * that window, the next window is whole again, and a restarted host
 * returns them while Redis can still take them back. */
static void killed_host_strands_bounded(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, SEC, 50, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *b, *a;
	int pipe_fds[2];
	pid_t host_a;
	char byte;
	int status;

	(void)ctx;
	assert_int_equal(pipe(pipe_fds), 0);
	host_a = fork();
	assert_true(host_a >= 0);
	if (host_a == 0) {
		credlimit_t *cl;

		if (open_host(0, "kill", "lease=32", "", &p, &cl) < 0)
			_exit(2);
		/* Leases of 1, 2, 4, 8, 16 and 32 units: 63 taken, 23
		 * left after 40 requests. */
		for (int i = 0; i < 40; i++)
			if (credlimit_acquire_at(cl, "victim", 6, 1, T0, &r) < 0 ||
			    r.verdict != CREDLIMIT_ALLOWED)
				_exit(3);
		if (write(pipe_fds[1], "x", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pipe_fds[0], &byte, 1), 1);
	kill(host_a, SIGKILL);
	assert_int_equal(waitpid(host_a, &status, 0), host_a);

	/* Its lease cache shows what it strands. */
	{
		char name[128];
		credlimit_t *cache;

		snprintf(name, sizeof(name), "lease-%d-kill-h0", test_pid);
		assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_RDONLY,
						NULL, &cache),
				 0);
		assert_int_equal(credlimit_stats(cache, &s), 0);
		assert_int_equal(s.lease_units_held, 23);
		assert_int_equal(s.lease_units_taken, 63);
		credlimit_close(cache);
	}

	/* Window 0: the other host gets what Redis did not lease. */
	assert_int_equal(open_host(1, "kill", "lease=32", "", &p, &b), 0);
	assert_int_equal(drain(b, "victim", T0), 100 - 63);

	/* Window 1: the base allowance is whole again; the stranded units
	 * would have become credits, and are lost until a process of host A
	 * returns them. */
	assert_int_equal(credlimit_acquire_at(b, "victim", 6, 0, T0 + SEC, &r), 0);
	assert_int_equal(r.remaining, 100);

	/* Host A restarts in window 1 and returns them: Redis takes them
	 * as the credits they would have become. */
	assert_int_equal(open_host(0, "kill", "lease=32", "", &p, &a), 0);
	assert_int_equal(credlimit_lease_return(a, T0 + SEC, 0), 23);
	assert_int_equal(drain(b, "victim", T0 + SEC), 100 + 23);

	credlimit_close(a);
	credlimit_close(b);
	unlink_host(0, "kill");
	unlink_host(1, "kill");
}

/* Units of an ended window are not spent in the next one: they go back
 * with the next lease, capped at the credits they would have become, and
 * the host then allows exactly what the algorithm allows. */
static void ended_units_not_spent(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, SEC, 50, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *cl;

	(void)ctx;
	assert_int_equal(open_host(0, "ended", "lease=32", "", &p, &cl), 0);
	/* Leases of 1 to 32: 63 taken, 23 left after 40 requests. */
	for (int i = 0; i < 40; i++) {
		assert_int_equal(credlimit_acquire_at(cl, "e", 1, 1, T0, &r), 0);
		assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	}

	/* The algorithm after 40 requests in window 0: 60 unused become
	 * credits, capped at 50, so window 1 allows 100 + 50. */
	assert_int_equal(drain(cl, "e", T0 + SEC), 150);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_int_equal(s.lease_units_returned, 13);
	assert_int_equal(s.lease_units_lost, 10);

	credlimit_close(cl);
	unlink_host(0, "ended");
}

/* After a change of the policy's window length, units leased before it
 * are not spent: Redis counts in windows of the new length, which may end
 * before the old one. */
static void window_change_drops_units(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_policy shorter = unit_policy(100, SEC, 0, 0);
	struct credlimit_result r;
	credlimit_t *cl;

	(void)ctx;
	assert_int_equal(open_host(0, "wchange", "lease=8", "", &p, &cl), 0);
	/* Leases of 1, 2 and 4: 3 units left after 4 requests. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(credlimit_acquire_at(cl, "w", 1, 1, T0, &r), 0);
	assert_int_equal(credlimit_acquire_at(cl, "w", 1, 1, T0, &r), 0);
	assert_true(r.flags & CREDLIMIT_RESULT_LEASED);

	assert_int_equal(credlimit_policy_define(cl, "default", &shorter), 0);
	assert_int_equal(credlimit_acquire_at(cl, "w", 1, 1, T0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_false(r.flags & CREDLIMIT_RESULT_LEASED);
	assert_int_equal(r.window_ns, SEC);

	credlimit_close(cl);
	unlink_host(0, "wchange");
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

struct real_windows {
	uint64_t window; /* ns */
	uint64_t start;  /* index of the first window counted */
	uint64_t count[64];
};

/* Decides until 4 windows before the end of the count, counting each
 * allowed decision that started and returned within one real window. */
static int decide_in_real_windows(credlimit_t *cl, int host, int worker,
				  void *arg)
{
	struct real_windows *rw = arg;
	uint64_t window = rw->window;

	(void)host;
	(void)worker;
	while (realtime_ns() / window < rw->start + 64 - 4) {
		struct credlimit_result r;
		uint64_t before = realtime_ns();
		uint64_t after;

		if (credlimit_acquire(cl, "rt", 2, 1, &r) < 0 ||
		    (r.flags & CREDLIMIT_RESULT_FALLBACK))
			return 3;
		after = realtime_ns();
		if (r.verdict != CREDLIMIT_ALLOWED ||
		    before / window != after / window ||
		    before / window < rw->start)
			continue;
		__atomic_add_fetch(&rw->count[before / window - rw->start], 1,
				   __ATOMIC_RELAXED);
	}
	return 0;
}

/*
 * Hosts deciding at Redis TIME, with 100 ms windows.  Redis on this host
 * reads the same CLOCK_REALTIME as the test.  So a decision that started
 * and returned within one real window was spent in that window, and the
 * hosts together must not allow more than R of them in any window.
 */
static void redis_time_windows_hold(void **ctx)
{
	enum { HOSTS = 3, WORKERS = 2 };
	struct real_windows *rw = shared_memory(sizeof(*rw));
	struct credlimit_policy p;
	uint64_t busiest = 0;

	(void)ctx;
	rw->window = 100 * MS;
	rw->start = realtime_ns() / rw->window + 1;
	p = unit_policy(20, rw->window, 0, 0);
	run_hosts(HOSTS, WORKERS, "rtime", "lease=8", &p,
		  decide_in_real_windows, rw);

	for (int i = 0; i < 64; i++) {
		if (rw->count[i] > 20)
			fail_msg("window %d: the hosts allowed %llu requests, "
				 "the limit is 20",
				 i, (unsigned long long)rw->count[i]);
		if (rw->count[i] > busiest)
			busiest = rw->count[i];
	}
	/* The traffic reached the limit: the check above had something to
	 * check. */
	assert_true(busiest >= 15);

	for (int h = 0; h < HOSTS; h++)
		unlink_host(h, "rtime");
	munmap(rw, sizeof(*rw));
}

/* Sleeps until `offset` ns past the start of a real-time window. */
static void sleep_until_phase(uint64_t window, uint64_t offset)
{
	uint64_t now = realtime_ns();
	uint64_t target = now - now % window + offset;

	if (target <= now)
		target += window;
	rs_sleep_ms((long)((target - now) / MS) + 1);
}

/* At Redis TIME, units leased shortly before a window ends are not spent
 * after it ends: the first decision after the boundary takes a lease. */
static void lease_ends_with_window(void **ctx)
{
	const uint64_t window = SEC;
	struct credlimit_policy p = unit_policy(100, window, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats before, after;
	credlimit_t *cl;

	(void)ctx;
	assert_int_equal(open_host(0, "edge", "lease=8", "", &p, &cl), 0);
	sleep_until_phase(window, 800 * MS);
	/* Leases of 1, 2 and 4: 3 units left after 4 requests. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(credlimit_acquire(cl, "edge", 4, 1, &r), 0);
	assert_int_equal(credlimit_stats(cl, &before), 0);
	assert_int_equal(before.lease_units_held, 3);

	sleep_until_phase(window, 20 * MS);
	assert_int_equal(credlimit_acquire(cl, "edge", 4, 1, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_false(r.flags & CREDLIMIT_RESULT_LEASED);
	assert_int_equal(credlimit_stats(cl, &after), 0);
	assert_int_equal(after.lease_fetches, before.lease_fetches + 1);

	credlimit_close(cl);
	unlink_host(0, "edge");
}

/* Counts the requests allowed out of `count` for key under policy id. */
static int allowed_of(credlimit_t *cl, int policy, const char *key,
		      int count, uint64_t now)
{
	struct credlimit_result r;
	int allowed = 0;

	for (int i = 0; i < count; i++) {
		assert_int_equal(credlimit_acquire_policy(cl, policy, key,
							  strlen(key), 1, now,
							  &r),
				 0);
		if (r.verdict == CREDLIMIT_ALLOWED)
			allowed++;
	}
	return allowed;
}

/* Units leased under one policy are not spent under another: the caller
 * naming another policy, an assignment, or new numbers. */
static void units_follow_policy_rules(void **ctx)
{
	struct credlimit_policy p = unit_policy(10, 3600 * SEC, 0, 0);
	struct credlimit_policy big = unit_policy(1000, 3600 * SEC, 0, 0);
	struct credlimit_policy small = unit_policy(10, 3600 * SEC, 0, 0);
	credlimit_t *cl;
	int big_id, other_id;

	(void)ctx;
	assert_int_equal(open_host(0, "rules", "lease=64", "", &p, &cl), 0);
	big_id = credlimit_policy_define(cl, "big", &big);
	assert_true(big_id > 0);
	other_id = credlimit_policy_define(cl, "other", &big);
	assert_true(other_id > 0);

	/* 40 under "big" leave units held; "default" allows none of the
	 * 40 used against its R of 10, like the algorithm. */
	assert_int_equal(allowed_of(cl, big_id, "k", 40, T0), 40);
	assert_int_equal(allowed_of(cl, 0, "k", 40, T0), 0);

	/* An assignment through the handle returns the key's units. */
	assert_int_equal(allowed_of(cl, big_id, "j", 40, T0), 40);
	assert_int_equal(credlimit_set_key_policy(cl, "j", 1, 0), 0);
	assert_int_equal(allowed_of(cl, big_id, "j", 40, T0), 0);

	/* New numbers: R of "other" drops to 10 after 40 were used. */
	assert_int_equal(allowed_of(cl, other_id, "n", 40, T0), 40);
	assert_int_equal(credlimit_policy_define(cl, "other", &small),
			 other_id);
	assert_int_equal(allowed_of(cl, other_id, "n", 40, T0), 0);

	credlimit_close(cl);
	unlink_host(0, "rules");
}

/* A process's first decision while Redis is stopped, with the policies
 * older than policy_refresh_ms: the on_error action decides. */
static void outage_first_decision_falls_back(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	credlimit_t *cl;
	pid_t child;
	int status;

	(void)ctx;
	assert_int_equal(open_host(0, "outage", "", 
				   "timeout_ms=100&connect_timeout_ms=100&"
				   "policy_refresh_ms=10&on_error=deny",
				   &p, &cl),
			 0);
	rs_sleep_ms(50);
	kill(server->pid, SIGSTOP);

	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (credlimit_acquire(cl, "o", 1, 1, &r) != 0 ||
		    !(r.flags & CREDLIMIT_RESULT_FALLBACK) ||
		    r.verdict != CREDLIMIT_DENIED)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_int_equal(credlimit_acquire(cl, "o", 1, 1, &r), 0);
	assert_true(r.flags & CREDLIMIT_RESULT_FALLBACK);
	assert_int_equal(r.verdict, CREDLIMIT_DENIED);
	kill(server->pid, SIGCONT);

	credlimit_close(cl);
	unlink_host(0, "outage");
}

/* A key that Redis assigns a policy keeps deciding locally whatever
 * policy the caller names: Redis would apply its assignment anyway. */
static void assigned_key_stays_local(void **ctx)
{
	struct credlimit_policy p = unit_policy(1000, 3600 * SEC, 0, 0);
	struct credlimit_policy premium = unit_policy(2000, 3600 * SEC, 0, 0);
	struct credlimit_stats s;
	credlimit_t *cl;
	int premium_id;

	(void)ctx;
	assert_int_equal(open_host(0, "assigned", "lease=32", "", &p, &cl), 0);
	premium_id = credlimit_policy_define(cl, "premium", &premium);
	assert_true(premium_id > 0);
	assert_int_equal(credlimit_set_key_policy(cl, "k", 1, premium_id), 0);

	assert_int_equal(allowed_of(cl, 0, "k", 200, T0), 200);
	assert_int_equal(credlimit_stats(cl, &s), 0);
	/* Leases of 1, 2, 4, 8, 16, 32 and then 32 at a time. */
	assert_true(s.lease_fetches <= 12);
	assert_true(s.lease_local >= 188);

	credlimit_close(cl);
	unlink_host(0, "assigned");
}

/* A lease cache grows like a limiter when its keys fill it. */
static void cache_grows_with_keys(void **ctx)
{
	struct credlimit_policy p = unit_policy(1000, 3600 * SEC, 0, 0);
	struct credlimit_options o;
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *cl;
	char name[512];

	(void)ctx;
	credlimit_options_init(&o);
	o.default_policy = p;
	o.initial_capacity = 64;
	o.max_capacity = 4096;
	snprintf(name, sizeof(name),
		 "shm:lease-%d-grow-h0?upstream=redis://127.0.0.1:%d/0?"
		 "prefix=grow:&timeout_ms=3000",
		 test_pid, server->port);
	assert_int_equal(credlimit_open(name, CREDLIMIT_OPEN_CREATE, &o, &cl),
			 0);
	for (int i = 0; i < 600; i++) {
		char key[16];
		int len = snprintf(key, sizeof(key), "g-%d", i);

		for (int n = 0; n < 3; n++) {
			assert_int_equal(credlimit_acquire_at(cl, key, (size_t)len,
							      1, T0, &r),
					 0);
			assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
		}
	}
	assert_int_equal(credlimit_stats(cl, &s), 0);
	assert_true(s.capacity >= 1024);
	assert_true(s.migrations >= 4);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);

	credlimit_close(cl);
	unlink_host(0, "grow");
}

/* A process that opens the lease cache later mirrors the same policies
 * without changing them, so the units others hold stay spendable. */
static void new_process_keeps_units(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	credlimit_t *first, *second;

	(void)ctx;
	assert_int_equal(open_host(0, "keep", "lease=8", "", &p, &first), 0);
	/* Leases of 1, 2 and 4: 3 units left after 4 requests. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(credlimit_acquire_at(first, "a", 1, 1, T0, &r),
				 0);

	assert_int_equal(open_host(0, "keep", "lease=8", "", &p, &second), 0);
	assert_int_equal(credlimit_acquire_at(second, "b", 1, 1, T0, &r), 0);
	assert_int_equal(credlimit_acquire_at(first, "a", 1, 1, T0, &r), 0);
	assert_true(r.flags & CREDLIMIT_RESULT_LEASED);

	credlimit_close(second);
	credlimit_close(first);
	unlink_host(0, "keep");
}

/* Units go back at close, and after the idle time. */
static void units_return_close_idle(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	struct credlimit_stats s;
	credlimit_t *a, *b;

	(void)ctx;
	assert_int_equal(open_host(0, "ret", "lease=32&idle_ms=1000", "", &p, &a),
			 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(credlimit_acquire_at(a, "c", 1, 1, T0, &r), 0);
	/* Leases 1, 2, 4, 8: 15 taken, 5 held. */
	assert_int_equal(credlimit_stats(a, &s), 0);
	assert_int_equal(s.lease_units_held, 5);

	/* Not idle yet at T0 + 0.5 s; idle at T0 + 1 s. */
	assert_int_equal(credlimit_lease_return(a, T0 + 500 * MS, 1000 * MS), 0);
	assert_int_equal(credlimit_lease_return(a, T0 + SEC, 1000 * MS), 5);
	assert_int_equal(credlimit_peek(a, "c", 1, T0 + SEC, &r), 0);
	assert_int_equal(r.remaining, 90);

	/* Close returns what is held. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(credlimit_acquire_at(a, "c", 1, 1, T0 + SEC, &r),
				 0);
	assert_int_equal(credlimit_stats(a, &s), 0);
	assert_true(s.lease_units_held > 0);
	credlimit_close(a);

	assert_int_equal(open_host(1, "ret", "", "", &p, &b), 0);
	assert_int_equal(credlimit_peek(b, "c", 1, T0 + SEC, &r), 0);
	assert_int_equal(r.remaining, 87);
	assert_int_equal(drain(b, "c", T0 + SEC), 87);
	credlimit_close(b);
	unlink_host(0, "ret");
	unlink_host(1, "ret");
}

/* With Redis stopped, units already leased still decide; requests
 * beyond them get the upstream's on_error action. */
static void unreachable_redis_beyond_lease(void **ctx)
{
	struct credlimit_policy p = unit_policy(1000, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	credlimit_t *cl;
	int leased = 0, fallback = 0;

	(void)ctx;
	assert_int_equal(open_host(0, "down", "lease=8", 
				   "timeout_ms=100&connect_timeout_ms=100&"
				   "on_error=deny",
				   &p, &cl),
			 0);
	/* Leases of 1, 2, 4 and 8: 7 units left after 8 requests. */
	for (int i = 0; i < 8; i++)
		assert_int_equal(credlimit_acquire_at(cl, "d", 1, 1, T0, &r), 0);

	kill(server->pid, SIGSTOP);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(credlimit_acquire_at(cl, "d", 1, 1, T0, &r), 0);
		if (r.flags & CREDLIMIT_RESULT_LEASED) {
			assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
			leased++;
		}
		if (r.flags & CREDLIMIT_RESULT_FALLBACK) {
			assert_int_equal(r.verdict, CREDLIMIT_DENIED);
			fallback++;
		}
	}
	kill(server->pid, SIGCONT);
	assert_int_equal(leased, 7);
	assert_int_equal(fallback, 3);

	credlimit_close(cl);
	unlink_host(0, "down");
}

/* A worker killed while it takes a lease leaves its pid in the entry.
 * The next worker finds that pid dead and takes the lease itself. */
static void dead_fetcher_not_waited(void **ctx)
{
	struct credlimit_policy p = unit_policy(100, 3600 * SEC, 0, 0);
	struct credlimit_result r;
	credlimit_t *cl;
	pid_t worker;
	int status;

	(void)ctx;
	assert_int_equal(open_host(0, "dead", "lease=8&wait_us=10000000", "",
				   &p, &cl),
			 0);
	kill(server->pid, SIGSTOP);
	worker = fork();
	assert_true(worker >= 0);
	if (worker == 0) {
		credlimit_acquire_at(cl, "f", 1, 1, T0, &r);
		_exit(0);
	}
	rs_sleep_ms(300); /* the worker waits in its lease request */
	kill(worker, SIGKILL);
	assert_int_equal(waitpid(worker, &status, 0), worker);
	kill(server->pid, SIGCONT);

	/* wait_us is 10 s: a decision that waited for the dead fetcher
	 * would not return before the test's own timeout. */
	assert_int_equal(credlimit_acquire_at(cl, "f", 1, 1, T0, &r), 0);
	assert_int_equal(r.verdict, CREDLIMIT_ALLOWED);
	assert_int_equal(credlimit_check(cl, NULL, NULL), 0);

	credlimit_close(cl);
	unlink_host(0, "dead");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lease_names_checked),
		cmocka_unit_test(cache_bound_to_upstream),
		cmocka_unit_test(local_decisions_save_round_trips),
		cmocka_unit_test(hosts_allow_exact_total),
		cmocka_unit_test(threads_allow_exact_total),
		cmocka_unit_test(random_traffic_never_over_admits),
		cmocka_unit_test(killed_host_strands_bounded),
		cmocka_unit_test(ended_units_not_spent),
		cmocka_unit_test(window_change_drops_units),
		cmocka_unit_test(redis_time_windows_hold),
		cmocka_unit_test(lease_ends_with_window),
		cmocka_unit_test(units_follow_policy_rules),
		cmocka_unit_test(new_process_keeps_units),
		cmocka_unit_test(assigned_key_stays_local),
		cmocka_unit_test(cache_grows_with_keys),
		cmocka_unit_test(outage_first_decision_falls_back),
		cmocka_unit_test(units_return_close_idle),
		cmocka_unit_test(unreachable_redis_beyond_lease),
		cmocka_unit_test(dead_fetcher_not_waited),
	};

	rs_require_server();
	/* Under ThreadSanitizer, hosts of several processes lose updates
	 * (see UNDER_TSAN): only the threaded test runs. */
	if (UNDER_TSAN)
		cmocka_set_test_filter("threads_allow_exact_total");
	return cmocka_run_group_tests(tests, setup, teardown);
}
