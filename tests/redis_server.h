/*
 * redis_server.h - redis-server processes for the Redis backend's tests
 *
 * Each server is started by the test itself: redis-server (the path
 * configure found, CL_REDIS_SERVER) on 127.0.0.1 and a free port, without
 * persistence, with its files in a fresh folder under /tmp.  The test
 * waits until the server replies to PING.  Servers are stopped by rs_stop(), and by an
 * atexit() handler after a failed assertion, so none outlives the test.
 * A test exits with 77 (skipped) when redis-server is missing.
 */
#ifndef CREDLIMIT_TESTS_REDIS_SERVER_H
#define CREDLIMIT_TESTS_REDIS_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis/client.h"

#ifndef CL_REDIS_SERVER
#define CL_REDIS_SERVER "redis-server"
#endif

#define RS_MAX 8

struct rs {
	pid_t pid;
	int port;
	char dir[64];
	bool cluster;
};

/* Servers live here, not on a test's stack, so that the atexit() handler
 * still finds them after a failed assertion left the test. */
static struct rs rs_pool[RS_MAX];
static bool rs_used[RS_MAX];

static inline void rs_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Returns true when 127.0.0.1:port can be bound now.  With port 0 the
 * kernel picks a free port, stored in *bound. */
static inline bool rs_bind_test(int port, int *bound)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t)port);
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
	     getsockname(fd, (struct sockaddr *)&addr, &len) == 0;
	if (ok && bound != NULL)
		*bound = ntohs(addr.sin_port);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Returns a port the kernel had free a moment ago.  A cluster node also
 * listens on port + 10000 for its bus, so its port must be at most 55535
 * and that one free too. */
static inline int rs_free_port(bool cluster)
{
	for (int tries = 0; tries < 1000; tries++) {
		int port;

		if (!rs_bind_test(0, &port))
			return -1;
		if (!cluster)
			return port;
		if (port <= 55535 && rs_bind_test(port + 10000, NULL))
			return port;
	}
	return -1;
}

/* Sends one command to 127.0.0.1:port, the arguments as C strings.
 * Returns the reply (free with cl_reply_free()), or NULL when the server
 * sent no reply within 2 s. */
static inline struct cl_reply *rs_command_port(int port, int argc,
					const char *const *argv)
{
	struct cl_rclient *client;
	struct cl_reply *reply = NULL;
	size_t lens[16];

	if (argc > 16 || cl_rclient_connect("127.0.0.1", port, 2000, 2000,
					    &client, NULL) < 0)
		return NULL;
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	cl_rclient_command(client, argc, argv, lens, &reply, NULL);
	cl_rclient_close(client);
	return reply;
}

/* Returns the reply's integer, or -1 for no reply or another type. */
static inline long long rs_integer(int port, int argc, const char *const *argv)
{
	struct cl_reply *reply = rs_command_port(port, argc, argv);
	long long value = -1;

	if (reply != NULL && reply->type == CL_REPLY_INTEGER)
		value = reply->integer;
	cl_reply_free(reply);
	return value;
}

static inline bool rs_ping(int port)
{
	static const char *const argv[] = { "PING" };
	struct cl_reply *reply = rs_command_port(port, 1, argv);
	bool ok = reply != NULL && reply->type == CL_REPLY_STATUS;

	cl_reply_free(reply);
	return ok;
}

/* Starts the server on s->port.  Returns false when it did not reply to
 * PING within 10 s. */
static inline bool rs_launch(struct rs *s)
{
	char port[16];
	char logfile[96];

	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(logfile, sizeof(logfile), "%s/redis.log", s->dir);
	s->pid = fork();
	if (s->pid < 0)
		return false;
	if (s->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(CL_REDIS_SERVER, "redis-server", "--port", port,
		      "--bind", "127.0.0.1", "--save", "", "--appendonly",
		      "no", "--dir", s->dir, "--logfile", logfile,
		      "--daemonize", "no", "--cluster-enabled",
		      s->cluster ? "yes" : "no", "--cluster-config-file",
		      "nodes.conf", "--cluster-node-timeout", "2000",
		      (char *)NULL);
		_exit(127);
	}

	for (int i = 0; i < 1000; i++) {
		if (rs_ping(s->port))
			return true;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return false;
		}
		rs_sleep_ms(10);
	}
	return false;
}

static inline void rs_stop(struct rs *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGCONT);
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

static inline void rs_remove_dir(struct rs *s)
{
	char path[128];

	if (s->dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/redis.log", s->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nodes.conf", s->dir);
	unlink(path);
	rmdir(s->dir);
	s->dir[0] = '\0';
}

static inline void rs_cleanup_all(void)
{
	for (int i = 0; i < RS_MAX; i++) {
		if (!rs_used[i])
			continue;
		rs_stop(&rs_pool[i]);
		rs_remove_dir(&rs_pool[i]);
		rs_used[i] = false;
	}
}

/* Exits with 77 (skip) when redis-server cannot be run. */
static inline void rs_require_server(void)
{
	if (access(CL_REDIS_SERVER, X_OK) != 0) {
		fprintf(stderr, "skipped: %s not found (install the Debian "
				"package redis-server)\n",
			CL_REDIS_SERVER);
		exit(77);
	}
}

/* Starts a new server; returns NULL when it does not come up. */
static inline struct rs *rs_start(bool cluster)
{
	static bool registered;
	struct rs *s = NULL;

	rs_require_server();
	if (!registered) {
		atexit(rs_cleanup_all);
		registered = true;
	}
	for (int i = 0; i < RS_MAX; i++) {
		if (!rs_used[i]) {
			rs_used[i] = true;
			s = &rs_pool[i];
			break;
		}
	}
	if (s == NULL)
		return NULL;

	memset(s, 0, sizeof(*s));
	s->cluster = cluster;
	snprintf(s->dir, sizeof(s->dir), "/tmp/rds-test-XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return NULL;
	for (int tries = 0; tries < 5; tries++) {
		s->port = rs_free_port(cluster);
		if (s->port > 0 && rs_launch(s))
			return s;
		rs_stop(s);
	}
	return NULL;
}

static inline void rs_free(struct rs *s)
{
	rs_stop(s);
	rs_remove_dir(s);
	rs_used[s - rs_pool] = false;
}

#endif /* CREDLIMIT_TESTS_REDIS_SERVER_H */
