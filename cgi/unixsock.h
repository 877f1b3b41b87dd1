/*
 * The unix socket of a FastCGI program started without one from systemd
 * (cgi/unixsock.c: the lock file, the stale socket, the bind).
 */
#ifndef SJ_UNIXSOCK_H
#define SJ_UNIXSOCK_H

#include <sys/un.h>

/* A socket path with ".lock" after it, and its terminator. */
#define UNIXSOCK_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) + 8)

/*
 * Takes path's lock, clears a stale socket and binds a fresh one at path,
 * mode 0660, group group (NULL: the process's).  The listening fd, or -1
 * after logging why.
 */
int unixsock_listen(const char *path, const char *group)
    __attribute__((warn_unused_result));

#endif
