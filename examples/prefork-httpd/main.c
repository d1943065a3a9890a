/*
 * main.c - prefork-httpd: a prefork HTTP/1.1 server limited by credlimit
 *
 * The master parses the options, creates the limiter and the listening
 * socket, and hands both to master_run(), which forks the workers.  The
 * workers charge every request to one shared credlimit table, so a
 * customer's limit applies across all of them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "limiter.h"
#include "listener.h"
#include "log.h"
#include "master.h"
#include "options.h"

int main(int argc, char **argv)
{
	struct server_options options;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	char address[ADDRESS_TEXT_MAX];
	credlimit_t *limiter;
	int listen_fd;
	int status;

	options_parse(&options, argc, argv);
	log_info("starting prefork-httpd %s with libcredlimit %s: worker count %u, limiter %s",
		 CREDLIMIT_VERSION_STRING, credlimit_version_string(),
		 options.workers, options.name);

	limiter = limiter_open(&options);
	if (!limiter)
		return 1;

	listen_fd = listener_open(&options.listen_address, options.listen_address_len);
	if (listen_fd < 0) {
		credlimit_close(limiter);
		return 1;
	}

	/* With port 0 the kernel chose the port: log the real one. */
	if (getsockname(listen_fd, (struct sockaddr *)&bound, &bound_len) < 0)
		bound = options.listen_address;
	address_format(&bound, address, sizeof(address));
	log_info("listening on %s", address);

	status = master_run(&options, limiter, listen_fd);

	limiter_close(limiter, &options);
	log_info("stopped");
	return status;
}
