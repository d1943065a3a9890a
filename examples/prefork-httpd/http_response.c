/*
 * http_response.c - HTTP/1.1 response writer
 *
 * Every response is HTTP/1.1, the highest version the server supports
 * (RFC 9110, section 6.2), and carries Date and Content-Length, so that a
 * client can always find the end of the body and reuse the connection.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <credlimit.h>

#include "http_response.h"

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Unknown";
}

static void append(struct http_response *response, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

static void vappend(struct http_response *response, const char *format,
		    va_list args)
{
	size_t room = sizeof(response->data) - response->len;
	int n;

	if (response->overflow)
		return;

	n = vsnprintf(response->data + response->len, room, format, args);
	if (n < 0 || (size_t)n >= room) {
		response->overflow = true;
		return;
	}
	response->len += (size_t)n;
}

static void append(struct http_response *response, const char *format, ...)
{
	va_list args;

	va_start(args, format);
	vappend(response, format, args);
	va_end(args);
}

/* Formats the current time as an IMF-fixdate (RFC 9110, section 5.6.7),
 * formatting again only when the second changes. */
static const char *http_date(void)
{
	static char text[40];
	static time_t formatted_at = -1;
	time_t now = time(NULL);
	struct tm utc;

	if (now != formatted_at) {
		gmtime_r(&now, &utc);
		strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &utc);
		formatted_at = now;
	}
	return text;
}

void http_response_start(struct http_response *response, int status)
{
	response->len = 0;
	response->overflow = false;

	append(response, "HTTP/1.1 %d %s\r\n", status, http_reason_phrase(status));
	append(response, "Date: %s\r\n", http_date());
	append(response, "Server: prefork-httpd/%s\r\n", CREDLIMIT_VERSION_STRING);
}

void http_response_field(struct http_response *response, const char *name,
			 const char *format, ...)
{
	va_list args;

	append(response, "%s: ", name);
	va_start(args, format);
	vappend(response, format, args);
	va_end(args);
	append(response, "\r\n");
}

void http_response_finish(struct http_response *response,
			  const char *content_type, const char *body,
			  size_t body_len, bool keep_alive, int version_minor,
			  bool head_only)
{
	append(response, "Content-Type: %s\r\n", content_type);
	/* ApacheBench finds the length only when the field is spelled with
	 * this capitalization, so keep it. */
	append(response, "Content-Length: %zu\r\n", body_len);

	if (!keep_alive)
		append(response, "Connection: close\r\n");
	else if (version_minor == 0)
		append(response, "Connection: keep-alive\r\n");
	append(response, "\r\n");

	if (head_only || response->overflow)
		return;
	if (body_len > sizeof(response->data) - response->len) {
		response->overflow = true;
		return;
	}
	memcpy(response->data + response->len, body, body_len);
	response->len += body_len;
}
