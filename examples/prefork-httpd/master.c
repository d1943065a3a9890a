/*
 * master.c - master process: forks, watches and stops the workers
 *
 * The master blocks SIGCHLD, SIGTERM and SIGINT and takes them one at a
 * time with sigtimedwait(), so no work happens in a signal handler.  A
 * worker that dies is forked again at once, unless it died within
 * RAPID_EXIT_NS of its start a second time in a row.  Then the master
 * waits 100 ms first, doubling with every further such exit up to 30 s, so
 * a worker that crashes on start cannot make the master spin.
 *
 * On SIGTERM or SIGINT the master closes its listening socket, sends
 * SIGTERM to every worker, and waits for them.  Workers finish the
 * requests in progress, so the wait is bounded by the request timeout.  A
 * worker still alive STOP_GRACE_NS after that is killed with SIGKILL.  A
 * second SIGTERM or SIGINT kills the workers at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "worker.h"

#define NS_PER_MS UINT64_C(1000000)
#define RAPID_EXIT_NS (UINT64_C(10) * 1000000000)
#define BACKOFF_FIRST_NS (UINT64_C(100) * NS_PER_MS)
#define BACKOFF_MAX_NS (UINT64_C(30) * 1000000000)
#define STOP_GRACE_NS (UINT64_C(5) * 1000000000)

struct worker_slot {
	pid_t pid;            /* 0: not running */
	uint64_t started_ns;
	unsigned rapid_exits; /* exits in a row within RAPID_EXIT_NS of start */
	uint64_t respawn_ns;  /* when to fork it again; 0: nothing scheduled */
};

struct master {
	const struct server_options *options;
	credlimit_t *limiter;
	int listen_fd;
	struct worker_slot *slots;
	sigset_t signals; /* SIGCHLD, SIGTERM, SIGINT: blocked, taken with sigtimedwait */
};

static void spawn_worker(struct master *m, unsigned index)
{
	struct worker_slot *slot = &m->slots[index];
	pid_t master_pid = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		slot->rapid_exits++;
		slot->respawn_ns = monotonic_ns() + BACKOFF_FIRST_NS;
		log_error("fork for worker %u failed: %s; retrying in 100 ms",
			  index + 1, strerror(errno));
		return;
	}

	if (pid == 0) {
		struct worker_config config = {
			.number = index + 1,
			.master_pid = master_pid,
			.listen_fd = m->listen_fd,
			.limiter = m->limiter,
			.max_connections = m->options->max_connections,
			.request_timeout_ns = m->options->request_timeout_ns,
			.keepalive_timeout_ns = m->options->keepalive_timeout_ns,
		};

		_exit(worker_run(&config));
	}

	slot->pid = pid;
	slot->started_ns = monotonic_ns();
	slot->respawn_ns = 0;
	log_info("started worker %u (pid %ld)", index + 1, (long)pid);
}

static struct worker_slot *find_slot(struct master *m, pid_t pid, unsigned *index)
{
	for (unsigned i = 0; i < m->options->workers; i++) {
		if (m->slots[i].pid == pid) {
			*index = i;
			return &m->slots[i];
		}
	}
	return NULL;
}

static void describe_status(int status, char *text, size_t size)
{
	if (WIFEXITED(status))
		snprintf(text, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(text, size, "was killed by signal %d (%s)%s",
			 WTERMSIG(status), strsignal(WTERMSIG(status)),
			 WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(text, size, "changed state 0x%x", status);
}

/* Computes when a worker that just died may be forked again: at once,
 * unless it died young more than once in a row. */
static void schedule_respawn(struct worker_slot *slot, unsigned number,
			     const char *how, uint64_t now_ns)
{
	uint64_t delay = 0;

	if (now_ns - slot->started_ns < RAPID_EXIT_NS)
		slot->rapid_exits++;
	else
		slot->rapid_exits = 0;

	if (slot->rapid_exits >= 2) {
		delay = BACKOFF_FIRST_NS;
		for (unsigned i = 2; i < slot->rapid_exits && delay < BACKOFF_MAX_NS; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_NS)
			delay = BACKOFF_MAX_NS;
	}

	if (delay == 0)
		log_warning("worker %u (pid %ld) %s; restarting it", number,
			    (long)slot->pid, how);
	else
		log_warning("worker %u (pid %ld) %s; restarting it in %llu ms because it exited within 10 s of its start %u times in a row",
			    number, (long)slot->pid, how,
			    (unsigned long long)(delay / NS_PER_MS), slot->rapid_exits);

	slot->pid = 0;
	slot->respawn_ns = now_ns + delay;
}

/* Reaps every worker that has exited.  Schedules respawns unless stopping. */
static void reap_workers(struct master *m, bool stopping)
{
	for (;;) {
		struct worker_slot *slot;
		char how[96];
		unsigned index;
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;

		slot = find_slot(m, pid, &index);
		if (!slot)
			continue;
		describe_status(status, how, sizeof(how));

		if (stopping) {
			log_info("worker %u (pid %ld) %s", index + 1, (long)pid, how);
			slot->pid = 0;
			continue;
		}
		schedule_respawn(slot, index + 1, how, monotonic_ns());
	}
}

static unsigned running_workers(const struct master *m)
{
	unsigned n = 0;

	for (unsigned i = 0; i < m->options->workers; i++)
		n += m->slots[i].pid != 0;
	return n;
}

static void signal_workers(struct master *m, int signo)
{
	for (unsigned i = 0; i < m->options->workers; i++)
		if (m->slots[i].pid != 0 && kill(m->slots[i].pid, signo) < 0 &&
		    errno != ESRCH)
			log_error("kill(%ld, %s) failed: %s", (long)m->slots[i].pid,
				  strsignal(signo), strerror(errno));
}

/* Waits for signo with a timeout in nanoseconds (UINT64_MAX: none).
 * Returns the signal, or 0 when the timeout passed. */
static int wait_signal(struct master *m, uint64_t timeout_ns)
{
	struct timespec timeout;
	siginfo_t info;
	int signo;

	timeout.tv_sec = (time_t)(timeout_ns / 1000000000);
	timeout.tv_nsec = (long)(timeout_ns % 1000000000);

	for (;;) {
		if (timeout_ns == UINT64_MAX)
			signo = sigwaitinfo(&m->signals, &info);
		else
			signo = sigtimedwait(&m->signals, &info, &timeout);
		if (signo >= 0)
			return signo;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR) {
			log_error("waiting for signals failed: %s", strerror(errno));
			return 0;
		}
	}
}

/* Runs until SIGTERM or SIGINT; returns that signal. */
static int supervise(struct master *m)
{
	for (;;) {
		uint64_t now = monotonic_ns();
		uint64_t next = UINT64_MAX;
		int signo;

		for (unsigned i = 0; i < m->options->workers; i++) {
			struct worker_slot *slot = &m->slots[i];

			if (slot->pid != 0 || slot->respawn_ns == 0)
				continue;
			if (slot->respawn_ns <= now)
				spawn_worker(m, i);
			else if (slot->respawn_ns < next)
				next = slot->respawn_ns;
		}

		now = monotonic_ns();
		signo = wait_signal(m, next == UINT64_MAX ? UINT64_MAX
				       : next > now ? next - now : 0);
		if (signo == SIGCHLD)
			reap_workers(m, false);
		else if (signo == SIGTERM || signo == SIGINT)
			return signo;
	}
}

static void stop_workers(struct master *m, int signo)
{
	uint64_t deadline = monotonic_ns() + m->options->request_timeout_ns +
			    STOP_GRACE_NS;
	bool killed = false;

	log_info("received %s: stopping the workers (%u running)",
		 signo == SIGINT ? "SIGINT" : "SIGTERM", running_workers(m));
	close(m->listen_fd);
	signal_workers(m, SIGTERM);

	reap_workers(m, true);
	while (running_workers(m) > 0) {
		uint64_t now = monotonic_ns();

		if (!killed && now >= deadline) {
			log_warning("workers still running after the stop timeout (%u); sending SIGKILL",
				    running_workers(m));
			signal_workers(m, SIGKILL);
			killed = true;
		}

		signo = wait_signal(m, killed ? UINT64_MAX : deadline - now);
		if ((signo == SIGTERM || signo == SIGINT) && !killed) {
			log_warning("received a second stop signal; sending SIGKILL to the workers (%u running)",
				    running_workers(m));
			signal_workers(m, SIGKILL);
			killed = true;
		}
		reap_workers(m, true);
	}
}

int master_run(const struct server_options *options, credlimit_t *limiter,
	       int listen_fd)
{
	struct master m = {
		.options = options,
		.limiter = limiter,
		.listen_fd = listen_fd,
	};
	int signo;

	m.slots = calloc(options->workers, sizeof(*m.slots));
	if (!m.slots) {
		log_error("cannot allocate %u worker slots", options->workers);
		close(listen_fd);
		return 1;
	}

	sigemptyset(&m.signals);
	sigaddset(&m.signals, SIGCHLD);
	sigaddset(&m.signals, SIGTERM);
	sigaddset(&m.signals, SIGINT);
	if (sigprocmask(SIG_BLOCK, &m.signals, NULL) < 0) {
		log_error("sigprocmask failed: %s", strerror(errno));
		free(m.slots);
		close(listen_fd);
		return 1;
	}
	/* Workers send with MSG_NOSIGNAL; this covers every other write. */
	signal(SIGPIPE, SIG_IGN);

	for (unsigned i = 0; i < options->workers; i++)
		spawn_worker(&m, i);

	signo = supervise(&m);
	stop_workers(&m, signo);

	free(m.slots);
	return 0;
}
