/*
 * connection.h - one client connection inside a worker
 *
 * A connection alternates between reading one request head, writing its
 * response, and waiting idle for the next request (keep-alive).  Requests
 * sent back to back (pipelining) get their responses in order, one at a
 * time.
 */
#ifndef HTTPD_CONNECTION_H
#define HTTPD_CONNECTION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <credlimit.h>

#include "http_request.h"
#include "http_response.h"

/* Largest request body accepted and thrown away; a larger one gets 413. */
#define CONNECTION_BODY_MAX (UINT64_C(1) << 20)

enum connection_state {
	CONNECTION_FREE,    /* slot unused */
	CONNECTION_IDLE,    /* waiting for the first byte of a request */
	CONNECTION_READING, /* a request has started but its head is incomplete */
	CONNECTION_WRITING, /* sending a response */
	/* The response was sent and the connection closes.  The write side
	 * is shut down and what the client still sends is read and thrown
	 * away, because unread bytes at close() make the kernel reset the
	 * connection, which can destroy the response before the client
	 * reads it. */
	CONNECTION_DRAINING,
};

/* Settings every connection of a worker shares. */
struct connection_config {
	credlimit_t *limiter;
	uint64_t request_timeout_ns;
	uint64_t keepalive_timeout_ns;
};

struct connection {
	enum connection_state state;
	int fd;
	char client_ip[INET6_ADDRSTRLEN]; /* text form: the fallback key */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC time the current state ends */

	char in[HTTP_HEAD_MAX];
	size_t in_len;
	uint64_t discard; /* body bytes still to read and throw away */

	struct http_response out;
	size_t out_sent;
	bool close_after_write;
};

/* Takes over the accepted socket fd from the client at client_ip. */
void connection_open(struct connection *c, int fd, const char *client_ip,
		     const struct connection_config *config);

/* Reads what the socket has and responds to every complete request. */
void connection_on_readable(struct connection *c,
			    const struct connection_config *config,
			    bool stopping);

/* Sends more of the pending response. */
void connection_on_writable(struct connection *c,
			    const struct connection_config *config,
			    bool stopping);

/* Closes the connection when its deadline has passed, after sending 408 to
 * a request that started but did not finish in time. */
void connection_check_timeout(struct connection *c, uint64_t now_ns);

/* Closes the socket and frees the slot. */
void connection_close(struct connection *c);

#endif /* HTTPD_CONNECTION_H */
