/*
 * The unix socket a FastCGI program makes when systemd passes none.  The
 * program holds an flock on "<socket>.lock" for its lifetime, taken
 * before anything else is looked at: a second instance finds it taken
 * and is refused.  The holder then probes the socket path without
 * blocking, and only a socket that refuses the connection (left by a
 * program that died) is replaced; one that accepts or queues them, or
 * anything that is not a socket, is left alone and refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"

/*
 * Holds an exclusive flock on path.lock for the rest of the process's
 * life (the fd is never closed; children share it).  0 when taken.
 */
static int
take_lock(const char *path)
{
	char lock[UNIXSOCK_PATH_MAX];
	int fd;

	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    sizeof(lock)) {
		log_error("socket path too long: %s", path);
		return -1;
	}
	if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_error("cannot open %s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		log_error("%s is served by a running program; stop it first",
			  path);
	else
		log_error("cannot lock %s: %s", lock, strerror(errno));
	close(fd);
	return -1;
}

/*
 * Makes way for a socket at path (the lock is held): nothing there is
 * fine; a socket that refuses connections (left by a program that died)
 * is removed; a socket that accepts or queues them, anything that is not
 * a socket, or a probe that fails otherwise is refused.
 */
static int
clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
		log_error("%s is served by a running program; stop it first",
			  path);
		return -1;
	}
	if (e != ECONNREFUSED && e != ENOENT) {
		log_error("cannot probe %s: %s", path, strerror(e));
		return -1;
	}
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int
unixsock_listen(const char *path, const char *group)
{
	struct sockaddr_un sun;
	struct group *gr;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("socket path too long: %s", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (take_lock(path) != 0 || clear_stale(path, &sun) != 0)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0660) != 0 || listen(fd, 256) != 0) {
		log_error("cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL ||
		    chown(path, (uid_t)-1, gr->gr_gid) != 0) {
			log_error("cannot give %s to group %s", path, group);
			close(fd);
			return -1;
		}
	}
	/* the listening socket is inherited by the children, not exec'd */
	return fd;
}
