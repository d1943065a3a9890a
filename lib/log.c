/*
 * log.c - reporting through the handle's optional log callback
 *
 * The library never writes to stdout, stderr or syslog itself: a host
 * server has its own log, and a library that prints corrupts protocols
 * spoken on those descriptors.
 */
#include <stdarg.h>
#include <stdio.h>

#include "handle.h"
#include "log.h"

/* Formats a message and passes it to fn, when there is one. */
static void deliver(credlimit_log_fn fn, void *context, int level,
		    const char *format, va_list args)
{
	char message[256];

	if (fn == NULL)
		return;
	vsnprintf(message, sizeof(message), format, args);
	fn(context, level, message);
}

void cl_log(const struct credlimit *cl, int level, const char *format, ...)
{
	va_list args;

	if (cl == NULL)
		return;
	va_start(args, format);
	deliver(cl->log, cl->log_context, level, format, args);
	va_end(args);
}

void cl_log_options(const struct credlimit_options *options, int level,
		    const char *format, ...)
{
	va_list args;

	if (options == NULL)
		return;
	va_start(args, format);
	deliver(options->log, options->log_context, level, format, args);
	va_end(args);
}
