/*
 * http_request.h - HTTP/1.x request head parser
 *
 * The parser reads a request line and header fields (RFC 9112) from a
 * bounded buffer, keeps only the fields the server acts on, and turns
 * every malformed or oversized request into an error status.
 */
#ifndef HTTPD_HTTP_REQUEST_H
#define HTTPD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest request head (request line, fields, blank line), in bytes.  A
 * longer one gets 414 when the request line does not fit, else 431. */
#define HTTP_HEAD_MAX 8192

/* Most header fields in one request; more get 431. */
#define HTTP_FIELDS_MAX 100

/* Bytes, not NUL-terminated, inside the connection's buffer. */
struct http_slice {
	const char *data;
	size_t len;
};

struct http_request {
	struct http_slice method;
	struct http_slice target;
	int version_minor; /* HTTP/1.x */
	bool keep_alive;   /* from the version and the Connection field */

	bool has_api_key;
	struct http_slice api_key; /* X-Api-Key value, OWS trimmed */

	uint64_t content_length; /* body bytes that follow the head */
	size_t head_len;         /* bytes of the head, blank line included */
};

enum http_parse_status {
	HTTP_PARSE_INCOMPLETE, /* the head has not ended yet: read more */
	HTTP_PARSE_DONE,       /* *request is filled */
	HTTP_PARSE_ERROR,      /* *error is filled: respond with it and close */
};

struct http_parse_error {
	int status;         /* 400, 414, 431, 501 or 505 */
	const char *reason; /* short explanation for the response body */
};

/*
 * Parses the request head at the start of buffer[0 .. len).  Empty lines
 * before the request line are skipped, and LF alone is accepted as a line
 * end.  The slices in *request point into buffer.
 */
enum http_parse_status http_parse_request(const char *buffer, size_t len,
					  struct http_request *request,
					  struct http_parse_error *error);

/* Returns true when the slice equals text, ASCII case ignored. */
bool http_slice_equals(struct http_slice slice, const char *text);

#endif /* HTTPD_HTTP_REQUEST_H */
