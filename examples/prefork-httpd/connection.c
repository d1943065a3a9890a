/*
 * connection.c - one client connection inside a worker
 *
 * Sockets are non-blocking and the worker's poll() loop calls in here
 * when one is ready.  A connection reads at most HTTP_HEAD_MAX bytes of
 * request head and handles one request at a time.  It reads the next
 * request only once the response is sent, so each connection needs a
 * fixed amount of memory however fast the client sends.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connection.h"
#include "handler.h"
#include "log.h"

/* Maximum time a closing connection waits for the client's FIN. */
#define DRAIN_TIMEOUT_NS (UINT64_C(2) * 1000000000)

static struct log_throttle rejected_throttle;
static struct log_throttle timeout_throttle;
static struct log_throttle socket_throttle;

void connection_open(struct connection *c, int fd, const char *client_ip,
		     const struct connection_config *config)
{
	c->state = CONNECTION_IDLE;
	c->fd = fd;
	strncpy(c->client_ip, client_ip, sizeof(c->client_ip) - 1);
	c->client_ip[sizeof(c->client_ip) - 1] = '\0';
	c->deadline_ns = monotonic_ns() + config->request_timeout_ns;
	c->in_len = 0;
	c->discard = 0;
	c->out.len = 0;
	c->out_sent = 0;
	c->close_after_write = false;
}

void connection_close(struct connection *c)
{
	if (c->state == CONNECTION_FREE)
		return;
	close(c->fd);
	c->fd = -1;
	c->state = CONNECTION_FREE;
}

/* Drops the first n bytes of the input buffer. */
static void consume_input(struct connection *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Queues the response in c->out.  Returns false when it cannot be sent. */
static bool start_writing(struct connection *c,
			  const struct connection_config *config)
{
	if (c->out.overflow) {
		log_error("response to %s did not fit in %d bytes; closing the connection",
			  c->client_ip, HTTP_RESPONSE_MAX);
		connection_close(c);
		return false;
	}

	c->state = CONNECTION_WRITING;
	c->out_sent = 0;
	c->deadline_ns = monotonic_ns() + config->request_timeout_ns;
	return true;
}

static bool reject(struct connection *c, const struct connection_config *config,
		   int status, const char *reason)
{
	log_throttled(&rejected_throttle, LOG_INFO,
		      "rejected a request from %s with %d: %s", c->client_ip,
		      status, reason);
	handler_respond_error(status, reason, &c->out);
	c->close_after_write = true;
	return start_writing(c, config);
}

/*
 * Handles the next complete request in the input buffer.  Returns true
 * when a response is queued, false when the connection must wait for more
 * input or was closed.
 */
static bool process_input(struct connection *c,
			  const struct connection_config *config, bool stopping)
{
	struct http_request request;
	struct http_parse_error error;
	enum http_parse_status status;

	if (c->discard > 0 && c->in_len > 0) {
		size_t n = c->in_len < c->discard ? c->in_len : (size_t)c->discard;

		consume_input(c, n);
		c->discard -= n;
	}
	if (c->discard > 0)
		return false;

	if (c->in_len == 0) {
		if (stopping) {
			connection_close(c);
			return false;
		}
		if (c->state != CONNECTION_IDLE) {
			c->state = CONNECTION_IDLE;
			c->deadline_ns = monotonic_ns() + config->keepalive_timeout_ns;
		}
		return false;
	}

	if (c->state == CONNECTION_IDLE) {
		c->state = CONNECTION_READING;
		c->deadline_ns = monotonic_ns() + config->request_timeout_ns;
	}

	status = http_parse_request(c->in, c->in_len, &request, &error);
	if (status == HTTP_PARSE_INCOMPLETE)
		return false;
	if (status == HTTP_PARSE_ERROR)
		return reject(c, config, error.status, error.reason);
	if (request.content_length > CONNECTION_BODY_MAX)
		return reject(c, config, 413,
			      "request bodies larger than 1 MiB are not accepted");

	/* A worker that is stopping still responds to the request in
	 * progress, with Connection: close. */
	if (stopping)
		request.keep_alive = false;

	handler_respond(config->limiter, &request, c->client_ip, &c->out);
	c->close_after_write = !request.keep_alive;

	consume_input(c, request.head_len);
	c->discard = request.content_length;
	return start_writing(c, config);
}

static void start_draining(struct connection *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		connection_close(c);
		return;
	}
	c->state = CONNECTION_DRAINING;
	c->deadline_ns = monotonic_ns() + DRAIN_TIMEOUT_NS;
}

/* Sends what the socket takes.  Returns true once the whole response is
 * sent, false when the socket is full or the connection was closed. */
static bool send_pending(struct connection *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_sent,
				 c->out.len - c->out_sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n < 0) {
			if (errno != EPIPE && errno != ECONNRESET)
				log_throttled(&socket_throttle, LOG_WARNING,
					      "sending to %s failed: %s",
					      c->client_ip, strerror(errno));
			connection_close(c);
			return false;
		}
		c->out_sent += (size_t)n;
	}
	return true;
}

/*
 * Moves the connection on until it has to wait for its socket: sends the
 * pending response, then handles the next request already buffered
 * (pipelining), in a loop rather than by recursion.
 */
static void advance(struct connection *c, const struct connection_config *config,
		    bool stopping)
{
	for (;;) {
		if (c->state == CONNECTION_WRITING) {
			if (!send_pending(c))
				return;
			if (c->close_after_write) {
				start_draining(c);
				return;
			}
			c->out.len = 0;
			c->state = CONNECTION_READING;
			c->deadline_ns = monotonic_ns() + config->request_timeout_ns;
		}

		if (c->state != CONNECTION_IDLE && c->state != CONNECTION_READING)
			return;
		if (!process_input(c, config, stopping))
			return;
	}
}

void connection_on_writable(struct connection *c,
			    const struct connection_config *config,
			    bool stopping)
{
	if (c->state == CONNECTION_WRITING)
		advance(c, config, stopping);
}

static void drain(struct connection *c)
{
	char scratch[4096];

	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		connection_close(c);
		return;
	}
}

void connection_on_readable(struct connection *c,
			    const struct connection_config *config,
			    bool stopping)
{
	char *buffer = c->in + c->in_len;
	size_t room = sizeof(c->in) - c->in_len;
	ssize_t n;

	if (c->state == CONNECTION_DRAINING) {
		drain(c);
		return;
	}
	if (c->state != CONNECTION_IDLE && c->state != CONNECTION_READING)
		return;

	/* The parser rejects a full buffer, so room is never 0 here. */
	n = recv(c->fd, buffer, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		if (errno != ECONNRESET)
			log_throttled(&socket_throttle, LOG_WARNING,
				      "receiving from %s failed: %s",
				      c->client_ip, strerror(errno));
		connection_close(c);
		return;
	}
	if (n == 0) {
		/* The client closed its side: no response can follow. */
		connection_close(c);
		return;
	}

	c->in_len += (size_t)n;
	advance(c, config, stopping);
}

void connection_check_timeout(struct connection *c, uint64_t now_ns)
{
	struct http_response *response = &c->out;

	if (c->state == CONNECTION_FREE || now_ns < c->deadline_ns)
		return;

	switch (c->state) {
	case CONNECTION_READING:
		log_throttled(&timeout_throttle, LOG_INFO,
			      "request from %s not complete within --timeout; sent 408",
			      c->client_ip);
		/* One attempt without waiting: the client is slow already. */
		handler_respond_error(408, "the request was not complete in time",
				      response);
		if (send(c->fd, response->data, response->len,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* The connection closes either way. */
		}
		break;
	case CONNECTION_WRITING:
		log_throttled(&timeout_throttle, LOG_INFO,
			      "client %s did not read its response within --timeout; closing",
			      c->client_ip);
		break;
	default:
		break;
	}
	connection_close(c);
}
