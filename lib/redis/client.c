/*
 * client.c - the Redis client interface of client.h over hiredis
 *
 * Written against hiredis 0.14 (Debian 12): redisConnectWithTimeout()
 * bounds the connect, and redisSetTimeout() sets SO_RCVTIMEO and
 * SO_SNDTIMEO, so a blocking command that waits longer fails with
 * REDIS_ERR_IO and errno EAGAIN or EWOULDBLOCK.  hiredis then marks the
 * context failed, which matches this interface's rule that a connection
 * is closed after any error.
 *
 * Replies are deep-copied out of hiredis's redisReply, so no hiredis type
 * escapes this file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "client.h"

struct cl_rclient {
	redisContext *context;
};

static struct timeval timeval_of_ms(int ms)
{
	struct timeval tv = {
		.tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000,
	};

	return tv;
}

static void set_why(char why[128], const char *text)
{
	if (why != NULL)
		snprintf(why, 128, "%s", text);
}

/* Maps a failed context to an error: a timeout shows as an I/O error
 * with errno EAGAIN (read or write) or EINPROGRESS (connect). */
static int context_error(const redisContext *context, int saved_errno)
{
	if (context->err == REDIS_ERR_IO &&
	    (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK ||
	     saved_errno == EINPROGRESS || saved_errno == ETIMEDOUT))
		return -ETIMEDOUT;
	if (strstr(context->errstr, "timed out") != NULL)
		return -ETIMEDOUT;
	if (context->err == REDIS_ERR_IO && saved_errno == ECONNREFUSED)
		return -ECONNREFUSED;
	if (strstr(context->errstr, "refused") != NULL)
		return -ECONNREFUSED;
	if (context->err == REDIS_ERR_OOM)
		return -ENOMEM;
	return -EIO;
}

int cl_rclient_connect(const char *host, int port, int connect_timeout_ms,
		       int timeout_ms, struct cl_rclient **out,
		       char why[128])
{
	struct cl_rclient *client;
	redisContext *context;
	int err;

	*out = NULL;
	client = calloc(1, sizeof(*client));
	if (client == NULL)
		return -ENOMEM;

	errno = 0;
	context = redisConnectWithTimeout(host, port,
					  timeval_of_ms(connect_timeout_ms));
	if (context == NULL) {
		set_why(why, "cannot allocate a connection");
		err = -ENOMEM;
		goto free_client;
	}
	if (context->err != 0) {
		err = context_error(context, errno);
		set_why(why, context->errstr);
		goto free_context;
	}
	if (redisSetTimeout(context, timeval_of_ms(timeout_ms)) != REDIS_OK) {
		set_why(why, "cannot set the command timeout");
		err = -EIO;
		goto free_context;
	}

	client->context = context;
	*out = client;
	return 0;

free_context:
	redisFree(context);
free_client:
	free(client);
	return err;
}

static struct cl_reply *copy_reply(const redisReply *from)
{
	struct cl_reply *to = calloc(1, sizeof(*to));

	if (to == NULL)
		return NULL;

	switch (from->type) {
	case REDIS_REPLY_STRING:
		to->type = CL_REPLY_STRING;
		break;
	case REDIS_REPLY_ARRAY:
		to->type = CL_REPLY_ARRAY;
		break;
	case REDIS_REPLY_INTEGER:
		to->type = CL_REPLY_INTEGER;
		break;
	case REDIS_REPLY_STATUS:
		to->type = CL_REPLY_STATUS;
		break;
	case REDIS_REPLY_ERROR:
		to->type = CL_REPLY_ERROR;
		break;
	default:
		to->type = CL_REPLY_NIL;
		break;
	}
	to->integer = from->integer;

	if (from->str != NULL) {
		to->str = malloc(from->len + 1);
		if (to->str == NULL)
			goto fail;
		memcpy(to->str, from->str, from->len);
		to->str[from->len] = '\0';
		to->len = from->len;
	}

	if (from->type == REDIS_REPLY_ARRAY && from->elements > 0) {
		to->element = calloc(from->elements, sizeof(*to->element));
		if (to->element == NULL)
			goto fail;
		to->elements = from->elements;
		for (size_t i = 0; i < from->elements; i++) {
			to->element[i] = copy_reply(from->element[i]);
			if (to->element[i] == NULL)
				goto fail;
		}
	}
	return to;

fail:
	cl_reply_free(to);
	return NULL;
}

int cl_rclient_command(struct cl_rclient *client, int argc,
		       const char *const *argv, const size_t *lens,
		       struct cl_reply **reply, char why[128])
{
	redisReply *raw;

	*reply = NULL;
	errno = 0;
	raw = redisCommandArgv(client->context, argc, (const char **)argv,
			       lens);
	if (raw == NULL) {
		int err = context_error(client->context, errno);

		set_why(why, client->context->errstr[0] != '\0'
				     ? client->context->errstr
				     : "connection failed");
		return err;
	}

	*reply = copy_reply(raw);
	freeReplyObject(raw);
	if (*reply == NULL) {
		set_why(why, "cannot allocate a reply");
		return -ENOMEM;
	}
	return 0;
}

void cl_rclient_close(struct cl_rclient *client)
{
	if (client == NULL)
		return;
	redisFree(client->context);
	free(client);
}

void cl_reply_free(struct cl_reply *reply)
{
	if (reply == NULL)
		return;
	for (size_t i = 0; i < reply->elements; i++)
		cl_reply_free(reply->element[i]);
	free(reply->element);
	free(reply->str);
	free(reply);
}

bool cl_reply_is_error(const struct cl_reply *reply, const char *prefix)
{
	size_t len = strlen(prefix);

	return reply != NULL && reply->type == CL_REPLY_ERROR &&
	       reply->len >= len && memcmp(reply->str, prefix, len) == 0 &&
	       (reply->str[len] == ' ' || reply->str[len] == '\0');
}
