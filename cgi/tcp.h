/*
 * FastCGI over TCP: the --listen HOST:PORT socket of a FastCGI program,
 * and the checks a TCP socket passed by systemd gets.  FastCGI has no
 * authentication: whoever reaches the port can send any request with
 * any REMOTE_ADDR.  The address must be one only the web servers reach
 * (a private network, a firewall, IPAddressAllow= on the .socket unit);
 * a wildcard address (0.0.0.0, ::) is refused unless the operator says
 * --listen-any.
 */
#ifndef SJ_TCP_H
#define SJ_TCP_H

#include <stdbool.h>
#include <sys/socket.h>

/* "203.0.113.5:9001" or "[2001:db8::5]:9001", with its terminator. */
#define TCP_ADDR_TEXT_MAX 64

/* A parsed --listen address. */
struct tcp_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

/*
 * Parses spec, "IPV4:PORT" or "[IPV6]:PORT" (numeric addresses only, a
 * name could resolve to several; port 1-65535), into *out.  0, or -1
 * after logging what is wrong with it.
 */
int tcp_addr_parse(const char *spec, struct tcp_addr *out)
    __attribute__((warn_unused_result));

/* Whether sa is a wildcard address: 0.0.0.0, ::, ::ffff:0.0.0.0. */
bool tcp_is_wildcard(const struct sockaddr *sa);
/*
 * A wildcard or an address that is neither loopback nor private (10/8,
 * 172.16/12, 192.168/16, 100.64/10, fc00::/7): what --listen and a
 * passed socket refuse without --listen-any.
 */
bool tcp_is_exposed(const struct sockaddr *sa);

/*
 * Logs why a wildcard address (name) is refused; how starts the advice
 * ("Listen on", "Give ListenStream=") to choose a private address.
 */
void tcp_refuse_wildcard(const char *name, const char *how);

/* sa as "ADDR:PORT" ("[ADDR]:PORT" for IPv6) into buf. */
void tcp_addr_text(const struct sockaddr *sa, socklen_t len, char *buf,
		   size_t sz);

/*
 * A listening TCP socket on a (close-on-exec, backlog 256,
 * SO_REUSEADDR so a restart is not kept off the port by connections in
 * TIME_WAIT): its descriptor, or -1 after logging why.  A wildcard
 * address is refused unless any.  A port another process listens on
 * fails (EADDRINUSE; SO_REUSEADDR does not share a listening port on
 * Linux), saying so: a second instance never takes a port over.
 */
int tcp_listen(const struct tcp_addr *a, bool any);

/*
 * For a socket passed by socket activation: 0 when fd is a unix socket,
 * or a TCP one on an address allowed (not a wildcard unless any); else
 * -1 after logging why.  name receives what fd listens on.
 */
int tcp_check_passed(int fd, bool any, char *name, size_t sz);

#endif
