/*
 * log.h - reporting through the handle's optional log callback
 */
#ifndef CREDLIMIT_LOG_H
#define CREDLIMIT_LOG_H

#include "credlimit.h"

struct credlimit;

/* Formats a message and passes it to the handle's callback, if any.
 * Messages longer than 255 bytes are truncated. */
void cl_log(const struct credlimit *cl, int level, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* As cl_log(), through the callback of options, for errors found before
 * a handle exists. */
void cl_log_options(const struct credlimit_options *options, int level,
		    const char *format, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* CREDLIMIT_LOG_H */
