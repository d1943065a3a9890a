/*
 * http_response.h - HTTP/1.1 response writer
 *
 * A response is built whole in a fixed buffer and then sent; the server's
 * responses are small, so a worker never allocates per request.
 */
#ifndef HTTPD_HTTP_RESPONSE_H
#define HTTPD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest response, head and body, in bytes. */
#define HTTP_RESPONSE_MAX 4096

struct http_response {
	char data[HTTP_RESPONSE_MAX];
	size_t len;
	bool overflow; /* a part did not fit: the response is unusable */
};

/* Starts a response: status line, Date and Server fields. */
void http_response_start(struct http_response *response, int status);

/* Appends one header field; value is a printf format. */
void http_response_field(struct http_response *response, const char *name,
			 const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Ends the head with Content-Type, Content-Length, and Connection when the
 * connection closes or when an HTTP/1.0 client asked for keep-alive, then
 * appends the body unless head_only (a HEAD request, whose Content-Length
 * still counts the body a GET would get).
 */
void http_response_finish(struct http_response *response,
			  const char *content_type, const char *body,
			  size_t body_len, bool keep_alive, int version_minor,
			  bool head_only);

/* Returns the standard reason phrase of status (RFC 9110, RFC 6585). */
const char *http_reason_phrase(int status);

#endif /* HTTPD_HTTP_RESPONSE_H */
