/*
 * DESIGN
 * A thin layer over libsystemd so the programs never test HAVE_LIBSYSTEMD
 * themselves: sd_notify() for the worker's readiness and sd_listen_fds()
 * plus sd_is_socket_unix()/sd_is_socket_inet() for the FastCGI programs
 * under socket activation (a unix socket, or a TCP one from
 * ListenStream=ADDR:PORT).  A build without libsystemd (configure
 * --without-systemd) gets the same functions doing nothing, so such a
 * build runs only with sockets it creates and Type=simple units.  The
 * root check lives here too: it is the other thing every daemon does
 * before its work.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "log.h"

void
daemon_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	static bool warned;
	int rc = sd_notify(0, state);

	if (rc < 0 && !warned) {
		warned = true;
		log_warn("cannot notify the service manager: error %d", -rc);
	}
#else
	(void)state;
#endif
}

int
daemon_listen_fd(void)
{
#ifdef HAVE_LIBSYSTEMD
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;

	if (n == 0)
		return -1;
	if (n < 0) {
		log_error("socket activation: bad LISTEN_FDS/LISTEN_PID");
		return -2;
	}
	if (n != 1 ||
	    (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0 &&
	     sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0)) {
		log_error("socket activation: expected one listening unix or "
			  "TCP stream socket, got %d descriptor(s)",
			  n);
		return -2;
	}
	return fd;
#else
	return -1;
#endif
}

bool
daemon_refuse_root(const char *prog)
{
	const char *allow = getenv("STORYJOBS_ALLOW_ROOT");

	if (geteuid() != 0 || (allow != NULL && strcmp(allow, "1") == 0))
		return false;
	log_error("refusing to run as root: run %s as its service user "
		  "(User=storyjobs in its unit), or set "
		  "STORYJOBS_ALLOW_ROOT=1 to allow it",
		  prog);
	return true;
}
