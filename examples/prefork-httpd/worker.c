/*
 * worker.c - worker process: poll() loop over the shared listening socket
 *
 * Every worker polls the listening socket it inherited from the master
 * together with its own connections, so one worker serves many keep-alive
 * clients at once.  A slow client therefore cannot occupy a whole process,
 * as it would in a one-connection-per-process prefork server.  The limiter
 * handle is the master's, inherited through fork(): credlimit handles stay
 * valid in children, and every worker charges the same shared counters.
 *
 * SIGTERM stays blocked except inside ppoll(), so a stop request is seen
 * exactly when the loop can act on it.  SIGINT is ignored: Ctrl-C in a
 * terminal reaches the whole process group, and the master reacts to it by
 * sending SIGTERM to each worker.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connection.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

/* Connections accepted per wakeup, so that reading keeps up. */
#define ACCEPT_BATCH 64
/* Pause after accept() ran out of descriptors or memory. */
#define ACCEPT_PAUSE_NS (UINT64_C(100) * 1000000)

static volatile sig_atomic_t stop_requested;

static void on_sigterm(int signo)
{
	(void)signo;
	stop_requested = 1;
}

static int setup_signals(const struct worker_config *config)
{
	struct sigaction action;
	sigset_t blocked;

	memset(&action, 0, sizeof(action));
	action.sa_handler = on_sigterm;
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGTERM, &action, NULL) < 0)
		return -1;
	signal(SIGINT, SIG_IGN);

	sigemptyset(&blocked);
	sigaddset(&blocked, SIGTERM);
	if (sigprocmask(SIG_SETMASK, &blocked, NULL) < 0)
		return -1;

	/* Stop when the master dies, and catch a death before prctl(). */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		return -1;
	if (getppid() != config->master_pid)
		stop_requested = 1;
	return 0;
}

struct worker {
	const struct worker_config *config;
	struct connection_config connection_config;
	struct connection *connections;
	struct pollfd *pollfds;
	unsigned *poll_owner; /* connection index of each pollfd after the first */
	unsigned open;
	bool stopping;
	uint64_t accept_paused_until_ns;
	struct log_throttle accept_throttle;
};

static void accept_clients(struct worker *w, uint64_t now_ns)
{
	unsigned next_free = 0;

	for (int i = 0; i < ACCEPT_BATCH && w->open < w->config->max_connections; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		char ip[INET6_ADDRSTRLEN];
		int one = 1;
		int fd;

		fd = accept4(w->config->listen_fd, (struct sockaddr *)&peer, &peer_len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			log_throttled(&w->accept_throttle, LOG_ERROR,
				      "accept failed: %s; pausing accepts for 100 ms",
				      strerror(errno));
			w->accept_paused_until_ns = now_ns + ACCEPT_PAUSE_NS;
			return;
		}

		/* Responses go out in one send(): no need to wait for more. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		address_format_ip(&peer, ip, sizeof(ip));

		while (w->connections[next_free].state != CONNECTION_FREE)
			next_free++;
		connection_open(&w->connections[next_free], fd, ip,
				&w->connection_config);
		w->open++;
	}
}

static void begin_stopping(struct worker *w)
{
	w->stopping = true;
	close(w->config->listen_fd);
	log_info("worker %u stopping: %u connections open", w->config->number,
		 w->open);

	/* Idle keep-alive connections have no request to finish. */
	for (unsigned i = 0; i < w->config->max_connections; i++)
		if (w->connections[i].state == CONNECTION_IDLE)
			connection_close(&w->connections[i]);
}

/* Fills the pollfd array; returns how many entries it used. */
static nfds_t build_pollfds(struct worker *w, uint64_t now_ns, uint64_t *deadline_ns)
{
	nfds_t n = 1;

	w->pollfds[0].fd = -1;
	w->pollfds[0].events = POLLIN;
	if (!w->stopping && w->open < w->config->max_connections) {
		if (now_ns >= w->accept_paused_until_ns)
			w->pollfds[0].fd = w->config->listen_fd;
		else if (w->accept_paused_until_ns < *deadline_ns)
			*deadline_ns = w->accept_paused_until_ns;
	}

	w->open = 0;
	for (unsigned i = 0; i < w->config->max_connections; i++) {
		struct connection *c = &w->connections[i];

		if (c->state == CONNECTION_FREE)
			continue;
		w->open++;
		w->pollfds[n].fd = c->fd;
		w->pollfds[n].events = c->state == CONNECTION_WRITING ? POLLOUT : POLLIN;
		w->pollfds[n].revents = 0;
		w->poll_owner[n] = i;
		n++;
		if (c->deadline_ns < *deadline_ns)
			*deadline_ns = c->deadline_ns;
	}
	return n;
}

/* Runs the poll loop.  Returns 0 after a clean stop, 1 after an error. */
static int serve(struct worker *w)
{
	sigset_t unblocked;

	sigemptyset(&unblocked);

	for (;;) {
		uint64_t now = monotonic_ns();
		uint64_t deadline = UINT64_MAX;
		struct timespec timeout;
		nfds_t n;
		int rc;

		if (stop_requested && !w->stopping)
			begin_stopping(w);

		n = build_pollfds(w, now, &deadline);
		if (w->stopping && w->open == 0)
			return 0;

		if (deadline != UINT64_MAX) {
			uint64_t wait = deadline > now ? deadline - now : 0;

			timeout.tv_sec = (time_t)(wait / 1000000000);
			timeout.tv_nsec = (long)(wait % 1000000000);
		}
		rc = ppoll(w->pollfds, n, deadline == UINT64_MAX ? NULL : &timeout,
			   &unblocked);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			log_error("worker %u: ppoll failed: %s; exiting",
				  w->config->number, strerror(errno));
			return 1;
		}

		now = monotonic_ns();
		for (nfds_t i = 1; i < n; i++) {
			struct connection *c = &w->connections[w->poll_owner[i]];
			short revents = w->pollfds[i].revents;

			if (revents & POLLOUT)
				connection_on_writable(c, &w->connection_config, w->stopping);
			else if (revents & (POLLIN | POLLHUP | POLLERR))
				connection_on_readable(c, &w->connection_config, w->stopping);
			if (c->state == CONNECTION_WRITING && (revents & (POLLHUP | POLLERR)))
				connection_close(c);
			connection_check_timeout(c, now);
		}

		w->open = 0;
		for (unsigned i = 0; i < w->config->max_connections; i++)
			w->open += w->connections[i].state != CONNECTION_FREE;

		if (w->pollfds[0].fd >= 0 && (w->pollfds[0].revents & POLLIN))
			accept_clients(w, now);
	}
}

int worker_run(const struct worker_config *config)
{
	struct worker w;
	int status;

	memset(&w, 0, sizeof(w));
	w.config = config;
	w.connection_config.limiter = config->limiter;
	w.connection_config.request_timeout_ns = config->request_timeout_ns;
	w.connection_config.keepalive_timeout_ns = config->keepalive_timeout_ns;

	if (setup_signals(config) < 0) {
		log_error("worker %u: signal setup failed: %s", config->number,
			  strerror(errno));
		return 1;
	}

	w.connections = calloc(config->max_connections, sizeof(*w.connections));
	w.pollfds = calloc(config->max_connections + 1, sizeof(*w.pollfds));
	w.poll_owner = calloc(config->max_connections + 1, sizeof(*w.poll_owner));
	if (!w.connections || !w.pollfds || !w.poll_owner) {
		log_error("worker %u: cannot allocate %u connection slots",
			  config->number, config->max_connections);
		return 1;
	}
	for (unsigned i = 0; i < config->max_connections; i++)
		w.connections[i].fd = -1;

	status = serve(&w);

	for (unsigned i = 0; i < config->max_connections; i++)
		connection_close(&w.connections[i]);
	free(w.connections);
	free(w.pollfds);
	free(w.poll_owner);
	credlimit_close(config->limiter);
	return status;
}
