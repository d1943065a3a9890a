/*
 * client.h - a small synchronous Redis client interface
 *
 * The Redis backend talks to servers only through these functions, and
 * client.c is the only file that includes hiredis.  Replies are copied
 * into struct cl_reply, so replacing hiredis 0.14 (Debian 12) by hiredis
 * 1.x, or by another client, changes client.c alone.
 *
 * A connection is blocking, with a timeout on connect and on each command.
 * After a timeout or an I/O error the connection is unusable: the caller
 * closes it and connects again.  A connection belongs to one process and
 * one thread at a time.
 */
#ifndef CREDLIMIT_REDIS_CLIENT_H
#define CREDLIMIT_REDIS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cl_reply_type {
	CL_REPLY_STRING,
	CL_REPLY_ARRAY,
	CL_REPLY_INTEGER,
	CL_REPLY_NIL,
	CL_REPLY_STATUS,
	CL_REPLY_ERROR,
};

/* A reply, owned by the caller of cl_rclient_command(): free it with
 * cl_reply_free().  str is NUL-terminated for STRING, STATUS and ERROR. */
struct cl_reply {
	enum cl_reply_type type;
	long long integer;
	char *str;
	size_t len;
	size_t elements;
	struct cl_reply **element;
};

struct cl_rclient;

/*
 * Connects to host:port (a name or an IPv4 or IPv6 address) within
 * connect_timeout_ms, and sets timeout_ms as the limit of each later
 * command.  On failure *out is NULL and the error is -ETIMEDOUT,
 * -ECONNREFUSED, -ENOMEM or -EIO; *why (when not NULL) receives a
 * description of at most 127 bytes.
 */
int cl_rclient_connect(const char *host, int port, int connect_timeout_ms,
		       int timeout_ms, struct cl_rclient **out,
		       char why[128]);

/*
 * Sends one command of argc arguments (binary-safe, lengths in lens) and
 * waits for its reply.  Returns 0 with *reply set (an error reply is a
 * successful call), or -ETIMEDOUT, -EIO (connection lost or protocol
 * error) or -ENOMEM with *reply NULL; after an error the connection must
 * be closed.  why as for cl_rclient_connect().
 */
int cl_rclient_command(struct cl_rclient *client, int argc,
		       const char *const *argv, const size_t *lens,
		       struct cl_reply **reply, char why[128]);

/* Closes the connection and frees it.  NULL is accepted. */
void cl_rclient_close(struct cl_rclient *client);

/* Frees a reply and its elements.  NULL is accepted. */
void cl_reply_free(struct cl_reply *reply);

/* Returns true when reply is an error reply that starts with prefix
 * followed by a space or the end (such as "NOSCRIPT" or "MOVED"). */
bool cl_reply_is_error(const struct cl_reply *reply, const char *prefix);

#endif /* CREDLIMIT_REDIS_CLIENT_H */
