/*
 * worker.h - worker process: poll() loop over the shared listening socket
 */
#ifndef HTTPD_WORKER_H
#define HTTPD_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include <credlimit.h>

struct worker_config {
	unsigned number; /* 1 .. --workers, for log lines */
	pid_t master_pid;
	int listen_fd;
	credlimit_t *limiter; /* opened by the master before fork() */
	unsigned max_connections;
	uint64_t request_timeout_ns;
	uint64_t keepalive_timeout_ns;
};

/*
 * Serves connections until SIGTERM or the master's death, then finishes
 * the requests in progress, closes every connection and returns the exit
 * status for _exit().  Expects SIGTERM blocked on entry, as the master
 * leaves it.
 */
int worker_run(const struct worker_config *config);

#endif /* HTTPD_WORKER_H */
