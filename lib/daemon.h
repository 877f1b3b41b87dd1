/*
 * The service manager's side of a daemon's life (systemd's protocols,
 * through libsystemd when built with it): readiness and state changes
 * (sd_notify), and the listening socket systemd creates and passes
 * (socket activation, sd_listen_fds).  Without libsystemd, or when not
 * started by systemd, every call is a harmless no-op.
 */
#ifndef SJ_DAEMON_H
#define SJ_DAEMON_H

#include <stdbool.h>

/*
 * Sends state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to
 * NOTIFY_SOCKET; nothing when it is unset.  A failure is logged once as
 * a warning and otherwise ignored: the service goes on.
 */
void daemon_notify(const char *state);

/*
 * The listening socket passed by socket activation, meant for this
 * process: its descriptor (close-on-exec set), or -1 when none was
 * passed.  Returns -2 (and logs why) when descriptors were passed but
 * are not exactly one listening stream socket, unix or TCP (IPv4, IPv6).  The
 * LISTEN_* variables are removed, so children do not see them.
 */
int daemon_listen_fd(void);

/*
 * Whether prog must refuse to run: true (after logging why) when it runs
 * as root and STORYJOBS_ALLOW_ROOT is not "1".  A daemon run as root
 * would own its media files and sockets as root and turn any flaw into
 * the whole machine; as PostgreSQL and pgbouncer do, it asks for its
 * service user instead.  ./dev and the tests, which run as root, set the
 * variable (tools/stack.sh).
 */
bool daemon_refuse_root(const char *prog);

#endif
