/*
 * log.h - timestamped log lines on stderr, shared by master and workers
 *
 * Every line carries a UTC timestamp, the program name, the pid and a
 * level, and is written with one write(2) call so that lines from the
 * master and the workers never interleave.
 */
#ifndef HTTPD_LOG_H
#define HTTPD_LOG_H

#include <stdint.h>

enum log_level {
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,
};

/* Writes one line at level.  The message gets no trailing newline. */
void log_message(enum log_level level, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_message(LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_message(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_message(LOG_INFO, __VA_ARGS__)

/*
 * State of one rate-limited log message, for messages that a client or a
 * full table can trigger on every request.  log_throttled() writes such a
 * message at most once per second per process, with the count of lines
 * left out since the last one.
 */
struct log_throttle {
	uint64_t next_ns;    /* CLOCK_MONOTONIC time of the next allowed line */
	uint64_t suppressed; /* lines left out since the last one written */
};

/* Writes the line unless throttle wrote one less than a second ago. */
void log_throttled(struct log_throttle *throttle, enum log_level level,
		   const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Returns CLOCK_MONOTONIC in nanoseconds. */
uint64_t monotonic_ns(void);

#endif /* HTTPD_LOG_H */
