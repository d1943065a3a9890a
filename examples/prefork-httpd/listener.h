/*
 * listener.h - listening socket and socket address text forms
 */
#ifndef HTTPD_LISTENER_H
#define HTTPD_LISTENER_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

/* Maximum size of the text form of an address with port, "[IPv6]:65535". */
#define ADDRESS_TEXT_MAX (INET6_ADDRSTRLEN + 8)

/*
 * Parses "IPv4:PORT" or "[IPv6]:PORT" (numeric addresses only, port 0 to
 * 65535).  Returns NULL on success, else a static message saying what is
 * wrong and how to write it.
 */
const char *listener_parse_address(const char *text,
				   struct sockaddr_storage *address,
				   socklen_t *address_len);

/*
 * Creates a non-blocking listening socket bound to address with
 * SO_REUSEADDR.  Returns the descriptor, or -1 after logging the error.
 */
int listener_open(const struct sockaddr_storage *address, socklen_t address_len);

/*
 * Writes the IP address alone, as inet_ntop() does, into text (at least
 * INET6_ADDRSTRLEN bytes).  An IPv4-mapped IPv6 address is written as
 * IPv4, so a client is the same customer on an IPv4 and a dual-stack
 * listener.  Returns the length written.
 */
size_t address_format_ip(const struct sockaddr_storage *address, char *text,
			 size_t size);

/* Writes "IPv4:PORT" or "[IPv6]:PORT" into text (ADDRESS_TEXT_MAX bytes). */
void address_format(const struct sockaddr_storage *address, char *text,
		    size_t size);

#endif /* HTTPD_LISTENER_H */
