/*
 * limiter.h - opens the shared limiter for the server
 */
#ifndef HTTPD_LIMITER_H
#define HTTPD_LIMITER_H

#include <credlimit.h>

#include "options.h"

/*
 * Opens or creates the limiter named options->name with the policy,
 * capacity and full action of the options.  With options->recreate an
 * existing limiter is unlinked first.  When one exists already, its
 * policy "default" is changed to the options' numbers.  Returns NULL
 * after logging the error.
 */
credlimit_t *limiter_open(const struct server_options *options);

/* Closes the handle and, with --unlink-on-exit, removes the limiter. */
void limiter_close(credlimit_t *limiter, const struct server_options *options);

#endif /* HTTPD_LIMITER_H */
