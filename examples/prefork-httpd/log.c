/*
 * log.c - timestamped log lines on stderr, shared by master and workers
 *
 * Format: "2026-01-02T03:04:05.678Z prefork-httpd[1234] info: message".
 * Each line is formatted into a buffer first and written with one
 * write(2), which keeps lines whole when several processes share stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 1024

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_ERROR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_INFO:
		return "info";
	}
	return "unknown";
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void log_vmessage(enum log_level level, const char *suffix,
			 const char *format, va_list args)
{
	char line[LOG_LINE_MAX];
	struct timespec now;
	struct tm utc;
	size_t len;
	int n;
	int saved_errno = errno;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &utc);

	len = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &utc);
	n = snprintf(line + len, sizeof(line) - len,
		     ".%03ldZ prefork-httpd[%ld] %s: ", now.tv_nsec / 1000000,
		     (long)getpid(), level_name(level));
	len += (size_t)n;

	n = vsnprintf(line + len, sizeof(line) - len, format, args);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;

	if (suffix) {
		n = snprintf(line + len, sizeof(line) - len, "%s", suffix);
		if (n > 0)
			len += (size_t)n;
		if (len > sizeof(line) - 2)
			len = sizeof(line) - 2;
	}
	line[len++] = '\n';

	/* A failed write to stderr has nowhere to be reported. */
	if (write(STDERR_FILENO, line, len) < 0) {
	}
	errno = saved_errno;
}

void log_message(enum log_level level, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	log_vmessage(level, NULL, format, args);
	va_end(args);
}

void log_throttled(struct log_throttle *throttle, enum log_level level,
		   const char *format, ...)
{
	char suffix[64] = "";
	uint64_t now = monotonic_ns();
	va_list args;

	if (now < throttle->next_ns) {
		throttle->suppressed++;
		return;
	}

	if (throttle->suppressed > 0)
		snprintf(suffix, sizeof(suffix),
			 " (%llu similar lines left out)",
			 (unsigned long long)throttle->suppressed);
	throttle->suppressed = 0;
	throttle->next_ns = now + 1000000000u;

	va_start(args, format);
	log_vmessage(level, suffix, format, args);
	va_end(args);
}
