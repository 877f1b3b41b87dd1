/*
 * DESIGN
 * The TCP side of cgi/server.c's listening socket.  A unix socket is
 * protected by the file system (mode 0660, nginx's group) and kept to
 * one program by an flock on PATH.lock; a TCP port has neither, so:
 * - protection is the address: a numeric one the operator chose, never a
 *   name that could resolve elsewhere, and the wildcard only on purpose
 *   (--listen-any).  The same rule holds for a TCP socket systemd passes.
 * - one program per port is the kernel's: bind() of a port someone
 *   listens on fails with EADDRINUSE even with SO_REUSEADDR (which only
 *   lets a restart bind past connections in TIME_WAIT; SO_REUSEPORT,
 *   which would share the port, is never set), and the message says a
 *   program already listens there.
 * The socket is shared by the prefork children as the unix one is.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "num.h"
#include "tcp.h"

#define TCP_HOST_MAX 64

/* Splits "HOST:PORT" / "[HOST]:PORT" into host and port (port in spec). */
static int
split(const char *spec, char *host, size_t sz, const char **port)
{
	const char *colon, *h = spec, *end;

	if (spec[0] == '[') {
		h = spec + 1;
		if ((end = strchr(h, ']')) == NULL || end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL ||
		    strchr(spec, ':') != colon)
			return -1; /* none, or an IPv6 address without [] */
		end = colon;
	}
	if (end == h || (size_t)(end - h) >= sz)
		return -1;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	*port = colon + 1;
	return 0;
}

int
tcp_addr_parse(const char *spec, struct tcp_addr *out)
{
	struct addrinfo hints, *res = NULL;
	char host[TCP_HOST_MAX];
	const char *port;
	int64_t p;
	int rc;

	if (split(spec, host, sizeof(host), &port) != 0 ||
	    num_i64(port, 1, 65535, &p) != SJ_OK) {
		log_error("--listen %s: expected ADDRESS:PORT or [IPV6]:PORT "
			  "(port 1-65535)",
			  spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = spec[0] == '[' ? AF_INET6 : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0 || res == NULL ||
	    res->ai_addrlen > sizeof(out->sa)) {
		log_error("--listen %s: %s is not a numeric %s address", spec,
			  host, spec[0] == '[' ? "IPv6" : "IPv4");
		if (res != NULL)
			freeaddrinfo(res);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

bool
tcp_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)
			   ->sin_addr.s_addr == htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		static const unsigned char zero[4];

		/* ::, and ::ffff:0.0.0.0 (0.0.0.0 on an IPv6 socket) */
		return IN6_IS_ADDR_UNSPECIFIED(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) &&
			memcmp(a->s6_addr + 12, zero, 4) == 0);
	}
	return false;
}

void
tcp_addr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t sz)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, sz, "?");
		return;
	}
	snprintf(buf, sz, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
		 port);
}

bool
tcp_is_exposed(const struct sockaddr *sa)
{
	return tcp_is_wildcard(sa) || !http_addr_private(sa);
}

void
tcp_refuse_wildcard(const char *name, const char *how)
{
	log_error("refusing to listen on %s, every address of this host or "
		  "one that is neither loopback nor private: FastCGI has no "
		  "authentication, so anyone who reaches the port can send "
		  "requests as any client.  %s a private address only the "
		  "web servers reach, or add --listen-any if a firewall "
		  "guards the port",
		  name, how);
}

int
tcp_listen(const struct tcp_addr *a, bool any)
{
	const struct sockaddr *sa = (const struct sockaddr *)&a->sa;
	char name[TCP_ADDR_TEXT_MAX];
	int fd, one = 1;

	tcp_addr_text(sa, a->len, name, sizeof(name));
	if (tcp_is_exposed(sa) && !any) {
		tcp_refuse_wildcard(name, "Listen on");
		return -1;
	}
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_error("cannot listen on %s: %s", name, strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, sa, a->len) != 0 || listen(fd, 256) != 0) {
		if (errno == EADDRINUSE)
			log_error("%s is in use: a program (another instance "
				  "of this one?) already listens there; "
				  "stop it first",
				  name);
		else
			log_error("cannot listen on %s: %s", name,
				  strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
tcp_check_passed(int fd, bool any, char *name, size_t sz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		log_error("socket activation: cannot read the socket's "
			  "address: %s",
			  strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const void *)&ss;

		snprintf(
		    name, sz, "%.*s",
		    (int)(len > offsetof(struct sockaddr_un, sun_path)
			      ? len - offsetof(struct sockaddr_un, sun_path)
			      : 0),
		    sun->sun_path);
		return 0;
	}
	tcp_addr_text((const struct sockaddr *)&ss, len, name, sz);
	if (tcp_is_exposed((const struct sockaddr *)&ss) && !any) {
		tcp_refuse_wildcard(name,
				    "Give the .socket unit's ListenStream=");
		return -1;
	}
	return 0;
}
