/*
 * handler.c - responds to one parsed request: rate limit, then respond
 *
 * The customer key is the X-Api-Key field when present, else the client's
 * IP address.  Each GET or HEAD request is one credlimit_acquire() of cost
 * 1: allowed requests get 200, denied ones 429 with Retry-After.
 *
 * Both carry the RateLimit-Policy and RateLimit fields of
 * draft-ietf-httpapi-ratelimit-headers-11 (May 2026):
 *
 *   RateLimit-Policy: "default";q=R;w=W
 *   RateLimit: "default";r=REMAINING;t=RESET
 *
 * q is the policy's requests per window and w its window in seconds,
 * rounded up, at least 1, because the draft allows no fractions.  r is the
 * result's remaining count: base requests left plus stored credits, so r
 * may exceed q while a customer has stored credits.  t is the time until the
 * current window ends, in seconds, rounded up.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handler.h"
#include "log.h"

#define NS_PER_SECOND UINT64_C(1000000000)

/* Maximum number of key bytes that a response body repeats. */
#define BODY_KEY_MAX 64

static struct log_throttle error_throttle;
static struct log_throttle full_throttle;
static struct log_throttle untracked_throttle;

/* Rounds nanoseconds up to whole seconds. */
static uint64_t seconds_up(uint64_t ns)
{
	return ns / NS_PER_SECOND + (ns % NS_PER_SECOND != 0);
}

static bool is_method(struct http_slice method, const char *name)
{
	return method.len == strlen(name) && memcmp(method.data, name, method.len) == 0;
}

/* Methods of RFC 9110, and PATCH of RFC 5789, that this server recognizes
 * but does not serve get 405 with Allow.  Any other method gets 501. */
static bool is_known_method(struct http_slice method)
{
	static const char *const known[] = {
		"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (is_method(method, known[i]))
			return true;
	return false;
}

/* Accepts origin-form ("/path?query") and absolute-form ("http://...")
 * request targets, the two forms a GET or HEAD request may use. */
static bool is_valid_target(struct http_slice target)
{
	struct http_slice scheme = target;

	if (target.data[0] == '/')
		return true;
	if (target.len > 7) {
		scheme.len = 7;
		if (http_slice_equals(scheme, "http://"))
			return true;
	}
	if (target.len > 8) {
		scheme.len = 8;
		if (http_slice_equals(scheme, "https://"))
			return true;
	}
	return false;
}

/* Writes a JSON string literal of at most BODY_KEY_MAX bytes of key,
 * escaping quotes, backslashes, control and non-ASCII bytes. */
static void format_json_key(const char *key, size_t key_len, char *out, size_t size)
{
	size_t n = 0;
	size_t shown = key_len < BODY_KEY_MAX ? key_len : BODY_KEY_MAX;

	out[n++] = '"';
	for (size_t i = 0; i < shown && n + 8 < size; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (shown < key_len && n + 8 < size) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n++] = '"';
	out[n] = '\0';
}

/* Returns the policy's name, "default" for policy 0 or when the lookup
 * fails (an operator may have assigned this key another policy). */
static void policy_name(credlimit_t *limiter, int policy, char *out, size_t size)
{
	struct credlimit_policy_info info;

	snprintf(out, size, "default");
	if (policy == CREDLIMIT_POLICY_DEFAULT)
		return;
	if (credlimit_policy_get(limiter, policy, &info) == 0)
		snprintf(out, size, "%s", info.name);
}

static void add_ratelimit_fields(struct http_response *response,
				 const char *name,
				 const struct credlimit_result *result,
				 bool has_state)
{
	uint64_t window = seconds_up(result->window_ns);

	http_response_field(response, "RateLimit-Policy",
			    "\"%s\";q=%" PRIu32 ";w=%" PRIu64, name, result->limit,
			    window > 0 ? window : 1);
	if (has_state)
		http_response_field(response, "RateLimit",
				    "\"%s\";r=%" PRIu64 ";t=%" PRIu64, name,
				    result->remaining,
				    seconds_up(result->reset_after_ns));
	http_response_field(response, "Cache-Control", "no-store");
}

static int respond_plain(int status, const char *message,
			 const struct http_request *request,
			 struct http_response *response, bool allow_field)
{
	char body[256];
	int len = snprintf(body, sizeof(body), "%d %s: %s\n", status,
			   http_reason_phrase(status), message);

	http_response_start(response, status);
	if (allow_field)
		http_response_field(response, "Allow", "GET, HEAD");
	http_response_finish(response, "text/plain; charset=utf-8", body,
			     (size_t)len, request->keep_alive,
			     request->version_minor,
			     is_method(request->method, "HEAD"));
	return status;
}

/* Builds the response to a decision the limiter made. */
static int respond_decision(credlimit_t *limiter, const struct http_request *request,
			    const char *key_json, const char *key_source,
			    const struct credlimit_result *result,
			    struct http_response *response)
{
	bool head_only = is_method(request->method, "HEAD");
	char name[CREDLIMIT_POLICY_NAME_MAX + 1];
	/* Fits the longest key_json (BODY_KEY_MAX bytes, each escaped to at
	 * most 6) with every other member at its longest. */
	char body[1024];
	uint64_t retry;
	int status;
	int len;

	policy_name(limiter, result->policy, name, sizeof(name));

	if (result->flags & CREDLIMIT_RESULT_FULL) {
		/* New customers find room only when entries become evictable,
		 * which happens as windows end: retry at the window's end. */
		retry = seconds_up(result->reset_after_ns);
		if (retry == 0)
			retry = 1;
		log_throttled(&full_throttle, LOG_WARNING,
			      "limiter table full: denied a new customer (key from %s) with 503; raise --capacity or --max-capacity",
			      key_source);
		status = 503;
		len = snprintf(body, sizeof(body),
			       "{\"error\":\"the rate limiter's table is full\",\"retry_after\":%" PRIu64 "}\n",
			       retry);
		http_response_start(response, status);
		add_ratelimit_fields(response, name, result, false);
		http_response_field(response, "Retry-After", "%" PRIu64, retry);
	} else if (credlimit_allowed(result)) {
		bool untracked = result->flags & CREDLIMIT_RESULT_UNTRACKED;

		if (untracked)
			log_throttled(&untracked_throttle, LOG_WARNING,
				      "limiter table full: allowed a new customer (key from %s) untracked; raise --capacity or --max-capacity",
				      key_source);
		status = 200;
		len = snprintf(body, sizeof(body),
			       "{\"key\":%s,\"key_source\":\"%s\",\"allowed\":true,"
			       "\"remaining\":%" PRIu64 ",\"credits\":%" PRIu32
			       ",\"untracked\":%s,\"worker\":%ld}\n",
			       key_json, key_source, result->remaining, result->credits,
			       untracked ? "true" : "false", (long)getpid());
		http_response_start(response, status);
		add_ratelimit_fields(response, name, result, !untracked);
	} else {
		retry = seconds_up(result->retry_after_ns);
		if (retry == 0)
			retry = 1;
		status = 429;
		len = snprintf(body, sizeof(body),
			       "{\"key\":%s,\"key_source\":\"%s\",\"allowed\":false,"
			       "\"error\":\"rate limit exceeded\",\"retry_after\":%" PRIu64
			       ",\"worker\":%ld}\n",
			       key_json, key_source, retry, (long)getpid());
		http_response_start(response, status);
		add_ratelimit_fields(response, name, result, true);
		http_response_field(response, "Retry-After", "%" PRIu64, retry);
	}

	if (len < 0 || (size_t)len >= sizeof(body)) {
		log_error("response body for a key from %s did not fit in %zu bytes",
			  key_source, sizeof(body));
		return respond_plain(500, "the response did not fit", request,
				     response, false);
	}
	http_response_finish(response, "application/json", body, (size_t)len,
			     request->keep_alive, request->version_minor, head_only);
	return status;
}

int handler_respond(credlimit_t *limiter, const struct http_request *request,
		    const char *client_ip, struct http_response *response)
{
	struct credlimit_result result;
	char key_json[BODY_KEY_MAX * 6 + 8];
	const char *key;
	const char *key_source;
	size_t key_len;
	int rc;

	if (!is_method(request->method, "GET") && !is_method(request->method, "HEAD")) {
		if (is_known_method(request->method))
			return respond_plain(405, "this server serves GET and HEAD only",
					     request, response, true);
		return respond_plain(501, "unknown method", request, response, false);
	}
	if (!is_valid_target(request->target))
		return respond_plain(400, "the request target must start with '/' or be an absolute http URI",
				     request, response, false);

	if (request->has_api_key) {
		key = request->api_key.data;
		key_len = request->api_key.len;
		key_source = "X-Api-Key";
	} else {
		key = client_ip;
		key_len = strlen(client_ip);
		key_source = "client address";
	}
	format_json_key(key, key_len, key_json, sizeof(key_json));

	rc = credlimit_acquire(limiter, key, key_len, 1, &result);
	if (rc < 0) {
		/* The key itself may be a secret, so the log names its source
		 * and the client only. */
		log_throttled(&error_throttle, LOG_ERROR,
			      "credlimit_acquire failed for a key from %s (client %s): %s; responded 503",
			      key_source, client_ip, credlimit_strerror(rc));
		return respond_plain(503, "the rate limiter failed; try again later",
				     request, response, false);
	}

	return respond_decision(limiter, request, key_json, key_source, &result,
				response);
}

void handler_respond_error(int status, const char *reason,
			   struct http_response *response)
{
	char body[256];
	int len = snprintf(body, sizeof(body), "%d %s: %s\n", status,
			   http_reason_phrase(status), reason);

	http_response_start(response, status);
	http_response_finish(response, "text/plain; charset=utf-8", body,
			     (size_t)len, false, 1, false);
}
