/*
 * master.h - master process: forks, watches and stops the workers
 */
#ifndef HTTPD_MASTER_H
#define HTTPD_MASTER_H

#include <credlimit.h>

#include "options.h"

/*
 * Forks options->workers workers sharing listen_fd and limiter, restarts
 * any that dies, and returns after SIGTERM or SIGINT once every worker has
 * exited.  Closes listen_fd.  Returns the exit status for the program.
 */
int master_run(const struct server_options *options, credlimit_t *limiter,
	       int listen_fd);

#endif /* HTTPD_MASTER_H */
