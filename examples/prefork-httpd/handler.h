/*
 * handler.h - responds to one parsed request: rate limit, then respond
 */
#ifndef HTTPD_HANDLER_H
#define HTTPD_HANDLER_H

#include <stddef.h>

#include <credlimit.h>

#include "http_request.h"
#include "http_response.h"

/*
 * Builds the response to request from the client at client_ip (text form,
 * the customer key when the request has no X-Api-Key).  A GET or HEAD
 * request is charged one request with credlimit_acquire(); other methods
 * get a response without touching the limiter.  Returns the status code.
 */
int handler_respond(credlimit_t *limiter, const struct http_request *request,
		    const char *client_ip, struct http_response *response);

/* Builds the response to a request the parser rejected; it closes the
 * connection. */
void handler_respond_error(int status, const char *reason,
			   struct http_response *response);

#endif /* HTTPD_HANDLER_H */
