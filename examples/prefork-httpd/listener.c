/*
 * listener.c - listening socket and socket address text forms
 *
 * The master opens the listening socket once, before forking, and every
 * worker accepts on the same descriptor.  It is non-blocking because
 * several workers wait on it with poll(): when one connection wakes them
 * all, the others get EAGAIN from accept4() instead of blocking.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

#define LISTEN_BACKLOG 1024

static const char *parse_port(const char *text, in_port_t *port)
{
	unsigned long value;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return "the port is missing: write ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";

	errno = 0;
	value = strtoul(text, &end, 10);
	if (*end != '\0' || errno == ERANGE || value > 65535)
		return "the port must be a number from 0 to 65535";

	*port = htons((uint16_t)value);
	return NULL;
}

const char *listener_parse_address(const char *text,
				   struct sockaddr_storage *address,
				   socklen_t *address_len)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	const char *error;
	size_t host_len;
	in_port_t port;

	memset(address, 0, sizeof(*address));

	if (text[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)address;
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return "an IPv6 address needs brackets and a port, e.g. [::1]:8080";
		host_len = (size_t)(close - text - 1);
		if (host_len >= sizeof(host))
			return "the IPv6 address is too long";
		memcpy(host, text + 1, host_len);
		host[host_len] = '\0';

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return "the text in brackets is not a numeric IPv6 address";
		error = parse_port(close + 2, &port);
		if (error)
			return error;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = port;
		*address_len = sizeof(*in6);
		return NULL;
	}

	struct sockaddr_in *in4 = (struct sockaddr_in *)address;

	colon = strrchr(text, ':');
	if (!colon)
		return "the port is missing: write ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
	host_len = (size_t)(colon - text);
	if (host_len >= sizeof(host))
		return "the address is too long";
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	if (strchr(host, ':'))
		return "put an IPv6 address in brackets, e.g. [::1]:8080";
	if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return "not a numeric IPv4 address (host names are not resolved)";
	error = parse_port(colon + 1, &port);
	if (error)
		return error;

	in4->sin_family = AF_INET;
	in4->sin_port = port;
	*address_len = sizeof(*in4);
	return NULL;
}

int listener_open(const struct sockaddr_storage *address, socklen_t address_len)
{
	char text[ADDRESS_TEXT_MAX];
	int one = 1;
	int fd;

	address_format(address, text, sizeof(text));

	fd = socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("cannot create a socket for %s: %s", text, strerror(errno));
		return -1;
	}

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		log_error("setsockopt SO_REUSEADDR on %s failed: %s", text,
			  strerror(errno));
		close(fd);
		return -1;
	}

	if (bind(fd, (const struct sockaddr *)address, address_len) < 0) {
		log_error("cannot bind %s: %s", text, strerror(errno));
		close(fd);
		return -1;
	}

	if (listen(fd, LISTEN_BACKLOG) < 0) {
		log_error("listen on %s failed: %s", text, strerror(errno));
		close(fd);
		return -1;
	}

	return fd;
}

size_t address_format_ip(const struct sockaddr_storage *address, char *text,
			 size_t size)
{
	if (address->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, size);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, text, size);
	} else if (address->ss_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)address;

		inet_ntop(AF_INET, &in4->sin_addr, text, size);
	} else {
		snprintf(text, size, "unknown");
	}
	return strlen(text);
}

void address_format(const struct sockaddr_storage *address, char *text,
		    size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned port = 0;

	address_format_ip(address, ip, sizeof(ip));

	if (address->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)address)->sin6_port);
	else if (address->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)address)->sin_port);

	if (strchr(ip, ':'))
		snprintf(text, size, "[%s]:%u", ip, port);
	else
		snprintf(text, size, "%s:%u", ip, port);
}
