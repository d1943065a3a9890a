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

void cl_log(const struct credlimit *cl, int level, const char *format, ...)
{
	char message[256];
	va_list args;

	if (cl == NULL || cl->log == NULL)
		return;

	va_start(args, format);
	vsnprintf(message, sizeof(message), format, args);
	va_end(args);

	cl->log(cl->log_context, level, message);
}
