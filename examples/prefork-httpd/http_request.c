/*
 * http_request.c - HTTP/1.x request head parser
 *
 * Follows the message syntax of RFC 9112: a request line of exactly
 * "method SP request-target SP HTTP-version", then "name: value" fields.
 * It rejects with 400 what that RFC requires a server to reject: white
 * space before the colon, obs-fold line folding, a missing or repeated
 * Host in HTTP/1.1, and conflicting Content-Length.  It also rejects
 * control characters in any field value, because lenient parsing is how
 * request smuggling starts.  Request bodies with Transfer-Encoding get 501.
 */
#include <string.h>

#include "http_request.h"

#define HTTP_BODY_DIGITS_MAX 18

/* tchar of RFC 9110, section 5.6.2. */
static bool is_token_char(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_token(struct http_slice s)
{
	if (s.len == 0)
		return false;
	for (size_t i = 0; i < s.len; i++)
		if (!is_token_char((unsigned char)s.data[i]))
			return false;
	return true;
}

static char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 'a' - 'A') : c;
}

bool http_slice_equals(struct http_slice slice, const char *text)
{
	size_t len = strlen(text);

	if (slice.len != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(slice.data[i]) != ascii_lower(text[i]))
			return false;
	return true;
}

static struct http_slice trim_ows(struct http_slice s)
{
	while (s.len > 0 && (s.data[0] == ' ' || s.data[0] == '\t')) {
		s.data++;
		s.len--;
	}
	while (s.len > 0 && (s.data[s.len - 1] == ' ' || s.data[s.len - 1] == '\t'))
		s.len--;
	return s;
}

static enum http_parse_status fail(struct http_parse_error *error, int status,
				   const char *reason)
{
	error->status = status;
	error->reason = reason;
	return HTTP_PARSE_ERROR;
}

/*
 * Finds the end of the line that starts at buffer[start].  Returns the
 * offset of the first byte after the line end, or 0 when the line has not
 * ended, and stores the line's length without CRLF or LF in *line_len.
 * Sets *bad_cr when the line contains a CR that is not followed by LF.
 */
static size_t find_line_end(const char *buffer, size_t len, size_t start,
			    size_t *line_len, bool *bad_cr)
{
	const char *lf = memchr(buffer + start, '\n', len - start);
	size_t end;

	if (!lf)
		return 0;

	end = (size_t)(lf - buffer);
	*line_len = end - start;
	if (*line_len > 0 && buffer[end - 1] == '\r')
		(*line_len)--;

	*bad_cr = memchr(buffer + start, '\r', *line_len) != NULL;
	return end + 1;
}

static enum http_parse_status parse_request_line(struct http_slice line,
						 struct http_request *request,
						 struct http_parse_error *error)
{
	const char *space1 = memchr(line.data, ' ', line.len);
	const char *space2;
	struct http_slice version;
	const char *v;

	if (!space1)
		return fail(error, 400, "the request line has no request target");
	request->method.data = line.data;
	request->method.len = (size_t)(space1 - line.data);

	space2 = memchr(space1 + 1, ' ', line.len - request->method.len - 1);
	if (!space2)
		return fail(error, 400, "the request line has no HTTP version");
	request->target.data = space1 + 1;
	request->target.len = (size_t)(space2 - space1 - 1);

	version.data = space2 + 1;
	version.len = line.len - (size_t)(version.data - line.data);

	if (!is_token(request->method))
		return fail(error, 400, "the method is not a valid token");

	if (request->target.len == 0)
		return fail(error, 400, "the request target is empty");
	for (size_t i = 0; i < request->target.len; i++) {
		unsigned char c = (unsigned char)request->target.data[i];

		if (c <= 0x20 || c >= 0x7f)
			return fail(error, 400,
				    "the request target contains a space or a control character");
	}

	/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. */
	v = version.data;
	if (version.len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
	    v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9')
		return fail(error, 400, "the HTTP version is malformed");
	if (v[5] != '1')
		return fail(error, 505, "only HTTP/1.0 and HTTP/1.1 are supported");

	/* A later HTTP/1.x gets an HTTP/1.1 response, the highest compatible
	 * version this server implements (RFC 9110, section 6.2). */
	request->version_minor = v[7] == '0' ? 0 : 1;
	return HTTP_PARSE_DONE;
}

/* Scans the comma-separated options of a Connection field. */
static void parse_connection(struct http_slice value, bool *close, bool *keep_alive)
{
	while (value.len > 0) {
		const char *comma = memchr(value.data, ',', value.len);
		size_t item_len = comma ? (size_t)(comma - value.data) : value.len;
		struct http_slice item = { value.data, item_len };

		item = trim_ows(item);
		if (http_slice_equals(item, "close"))
			*close = true;
		else if (http_slice_equals(item, "keep-alive"))
			*keep_alive = true;

		if (!comma)
			break;
		value.data = comma + 1;
		value.len -= item_len + 1;
	}
}

static bool parse_content_length(struct http_slice value, uint64_t *out)
{
	uint64_t n = 0;

	if (value.len == 0 || value.len > HTTP_BODY_DIGITS_MAX)
		return false;
	for (size_t i = 0; i < value.len; i++) {
		if (value.data[i] < '0' || value.data[i] > '9')
			return false;
		n = n * 10 + (uint64_t)(value.data[i] - '0');
	}
	*out = n;
	return true;
}

struct field_state {
	unsigned fields;
	unsigned hosts;
	bool has_content_length;
	bool has_transfer_encoding;
	bool connection_close;
	bool connection_keep_alive;
};

static enum http_parse_status parse_field(struct http_slice line,
					  struct http_request *request,
					  struct field_state *state,
					  struct http_parse_error *error)
{
	const char *colon;
	struct http_slice name;
	struct http_slice value;

	if (line.data[0] == ' ' || line.data[0] == '\t')
		return fail(error, 400, "obsolete line folding in a header field");

	colon = memchr(line.data, ':', line.len);
	if (!colon)
		return fail(error, 400, "a header field has no colon");
	name.data = line.data;
	name.len = (size_t)(colon - line.data);
	if (!is_token(name))
		return fail(error, 400,
			    "a header field name is empty, is not a token, or has white space before the colon");

	value.data = colon + 1;
	value.len = line.len - name.len - 1;
	for (size_t i = 0; i < value.len; i++) {
		unsigned char c = (unsigned char)value.data[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(error, 400,
				    "a header field value contains a control character");
	}
	value = trim_ows(value);

	if (++state->fields > HTTP_FIELDS_MAX)
		return fail(error, 431, "the request has too many header fields");

	if (http_slice_equals(name, "Host")) {
		state->hosts++;
	} else if (http_slice_equals(name, "Connection")) {
		parse_connection(value, &state->connection_close,
				 &state->connection_keep_alive);
	} else if (http_slice_equals(name, "Content-Length")) {
		uint64_t length;

		if (!parse_content_length(value, &length))
			return fail(error, 400, "Content-Length is not a valid number");
		if (state->has_content_length && length != request->content_length)
			return fail(error, 400, "the request has conflicting Content-Length fields");
		state->has_content_length = true;
		request->content_length = length;
	} else if (http_slice_equals(name, "Transfer-Encoding")) {
		state->has_transfer_encoding = true;
	} else if (http_slice_equals(name, "X-Api-Key")) {
		if (request->has_api_key)
			return fail(error, 400, "the request has more than one X-Api-Key field");
		if (value.len == 0)
			return fail(error, 400, "the X-Api-Key field is empty");
		request->has_api_key = true;
		request->api_key = value;
	}
	return HTTP_PARSE_DONE;
}

/* Rejects a head that filled HTTP_HEAD_MAX bytes without ending. */
static enum http_parse_status head_too_long(bool in_request_line,
					    struct http_parse_error *error)
{
	if (in_request_line)
		return fail(error, 414, "the request line is longer than the server accepts");
	return fail(error, 431, "the request head is larger than the server accepts");
}

enum http_parse_status http_parse_request(const char *buffer, size_t len,
					  struct http_request *request,
					  struct http_parse_error *error)
{
	struct field_state state = { 0 };
	enum http_parse_status status;
	struct http_slice line;
	size_t start = 0;
	size_t next;
	bool bad_cr;

	memset(request, 0, sizeof(*request));
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;

	/* Skip empty lines before the request line (RFC 9112, section 2.2). */
	while (start < len && (buffer[start] == '\r' || buffer[start] == '\n')) {
		if (buffer[start] == '\r' && start + 1 < len && buffer[start + 1] != '\n')
			return fail(error, 400, "a CR is not followed by LF");
		start++;
	}

	next = find_line_end(buffer, len, start, &line.len, &bad_cr);
	if (next == 0)
		return len == HTTP_HEAD_MAX ? head_too_long(true, error)
					    : HTTP_PARSE_INCOMPLETE;
	if (bad_cr)
		return fail(error, 400, "a CR is not followed by LF");
	line.data = buffer + start;
	status = parse_request_line(line, request, error);
	if (status != HTTP_PARSE_DONE)
		return status;

	for (;;) {
		start = next;
		next = find_line_end(buffer, len, start, &line.len, &bad_cr);
		if (next == 0)
			return len == HTTP_HEAD_MAX ? head_too_long(false, error)
						    : HTTP_PARSE_INCOMPLETE;
		if (bad_cr)
			return fail(error, 400, "a CR is not followed by LF");
		if (line.len == 0)
			break;

		line.data = buffer + start;
		status = parse_field(line, request, &state, error);
		if (status != HTTP_PARSE_DONE)
			return status;
	}
	request->head_len = next;

	if (request->version_minor == 1 && state.hosts != 1)
		return fail(error, 400, "an HTTP/1.1 request needs exactly one Host field");
	if (state.hosts > 1)
		return fail(error, 400, "the request has more than one Host field");
	if (state.has_transfer_encoding)
		return fail(error, 501, "request bodies with Transfer-Encoding are not supported");

	if (request->version_minor == 1)
		request->keep_alive = !state.connection_close;
	else
		request->keep_alive = state.connection_keep_alive && !state.connection_close;
	return HTTP_PARSE_DONE;
}
