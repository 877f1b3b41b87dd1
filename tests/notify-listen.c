/*
 * tests/notify-listen SOCKET: the service manager's end of sd_notify(3),
 * for tests/install-run.sh, which starts the installed worker with
 * NOTIFY_SOCKET=SOCKET as its Type=notify unit would be started.
 *
 * Binds a unix datagram socket at SOCKET (a stale file there is
 * removed), lets anyone write to it (the worker runs as the service user;
 * systemd's /run/systemd/notify is writable by all too), prints
 * "listening SOCKET", then prints each line of each datagram as
 * "PID LINE", PID being the sender's process as the kernel reports it
 * (SO_PASSCRED): systemd's default NotifyAccess=main drops a message
 * from any other process than the unit's main one, so the test compares
 * it with the worker's pid.  A datagram without credentials gets pid 0.
 * Every datagram is flushed at once, so a reader of the output never
 * waits for a buffer.  SIGTERM or SIGINT ends it: the socket is removed,
 * exit 0.  Exit 1 when the socket cannot be made or read.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_MSG_MAX 4096

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Bound and writable by all; -1 (said on stderr) on failure. */
static int
notify_bind(const char *path)
{
	struct sockaddr_un sun;
	int fd, on = 1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "notify-listen: socket path too long: %s\n",
			path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 ||
	    (unlink(path) != 0 && errno != ENOENT) ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0666) != 0) {
		fprintf(stderr, "notify-listen: %s: %s\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The sender's pid from the message's SCM_CREDENTIALS, 0 without one. */
static long
sender_pid(struct msghdr *m)
{
	struct ucred cred;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL;
	     c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET ||
		    c->cmsg_type != SCM_CREDENTIALS ||
		    c->cmsg_len != CMSG_LEN(sizeof(cred)))
			continue;
		memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		return (long)cred.pid;
	}
	return 0;
}

/* Prints each line of msg (len bytes, NUL-terminated) after the pid. */
static void
print_lines(long pid, const char *msg, size_t len)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (n > 0)
			printf("%ld %.*s\n", pid, (int)n, p);
		p += n + 1;
	}
	fflush(stdout);
}

/*
 * Until stop: SIGTERM and SIGINT are blocked except inside ppoll, so one
 * arriving between the check of stop and the wait still ends the wait.
 */
static int
notify_loop(int fd, const sigset_t *waitmask)
{
	char msg[NOTIFY_MSG_MAX + 1];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;

	while (!stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct iovec iov = {.iov_base = msg, .iov_len = NOTIFY_MSG_MAX};
		struct msghdr m = {.msg_iov = &iov,
				   .msg_iovlen = 1,
				   .msg_control = ctl.buf,
				   .msg_controllen = sizeof(ctl.buf)};
		ssize_t got;

		if (ppoll(&p, 1, NULL, waitmask) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify-listen: ppoll: %s\n",
				strerror(errno));
			return 1;
		}
		got = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			fprintf(stderr, "notify-listen: recvmsg: %s\n",
				strerror(errno));
			return 1;
		}
		msg[got] = '\0';
		print_lines(sender_pid(&m), msg, (size_t)got);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t stops, waitmask;
	int fd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: notify-listen SOCKET\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	if (sigprocmask(SIG_BLOCK, &stops, &waitmask) != 0 ||
	    sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return 1;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	if ((fd = notify_bind(argv[1])) < 0)
		return 1;
	printf("listening %s\n", argv[1]);
	fflush(stdout);
	rc = notify_loop(fd, &waitmask);
	close(fd);
	unlink(argv[1]);
	return rc;
}
