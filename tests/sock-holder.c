/*
 * tests/sock-holder [-m MODE] [-g GROUP] [-b BACKLOG] [-n NAME]
 *                   [-t SECONDS] -l PATH -- PROGRAM [ARG...]
 * What systemd does for a FastCGI program's units (systemd/
 * storyjobs-fcgi@.socket.in and .service.in), for tests/integration/
 * test_daemon, which cannot run systemd as PID 1; systemd-socket-activate
 * execs the program and so keeps no socket across a restart.
 *
 * The socket is made as the .socket unit makes it: a file at PATH
 * removed, bound, chmod MODE (SocketMode, 0660), given to GROUP
 * (SocketGroup; none: the caller's), listen(BACKLOG) (Backlog, 256).  It
 * stays open, and nobody accepts on it, for the holder's whole life: while
 * the program is down, connections wait in its queue.  PROGRAM runs with
 * it passed as systemd passes it: fd 3, LISTEN_FDS=1, LISTEN_PID its own
 * pid (set after fork, before exec), LISTEN_FDNAMES=NAME (systemd's
 * default: the socket unit's name); its stdout goes to the holder's
 * stderr.  The holder is the subreaper of the program's processes, as
 * the unit's cgroup holds them.
 *
 * SIGUSR1 is `systemctl restart` of the .service: SIGTERM to the
 * program's main process only (KillMode=mixed), up to SECONDS
 * (TimeoutStopSec, 40) for it to exit, else SIGKILL; whatever is left of
 * its processes then gets SIGKILL (KillMode=mixed's final step); the
 * program starts again on the same socket.  That is systemd's restart
 * when it does not reach the .socket unit: a .socket that is PartOf= its
 * service is restarted with it, and a restarted .socket is closed and
 * made again (its queued connections reset, new ones refused meanwhile).  A
 * program that exits by itself is started again a second later when it failed
 * (Restart=on-failure, RestartSec=1s; exit 78 excepted), else by the next
 * connection (the socket's trigger). SIGTERM or SIGINT stops the program the
 * same way, removes PATH and ends the holder (exit 0).
 *
 * Output, one flushed line each: "listening PATH", "started PID",
 * "stopped PID STATUS LEFT" after a stop it asked for and "exited PID
 * STATUS LEFT" after one it did not, STATUS being "exit N" or "signal N"
 * and LEFT how many processes were left running and got SIGKILL.  Exit 1
 * when the socket cannot be made, 64 on a bad command line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* PR_SET_CHILD_SUBREAPER's prototype on old libcs */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOLDER_LEFT_MAX 256

struct holder {
	const char *path, *group, *name;
	long mode, backlog, stop_s;
	char **argv;
	int fd;
	pid_t pid;	   /* the program's main process, or -1 */
	time_t start_at;   /* a failed program: when to start it again */
	time_t last_start; /* at most one start a second */
};

/* The signals the holder takes with sigtimedwait(). */
static void
holder_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGCHLD);
}

/* The socket of the .socket unit; -1 (said on stderr) on failure. */
static int
listen_at(const struct holder *h)
{
	struct sockaddr_un sun;
	struct group *gr = NULL;
	int s, fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(h->path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "sock-holder: path too long: %s\n", h->path);
		return -1;
	}
	memcpy(sun.sun_path, h->path, strlen(h->path) + 1);
	if (h->group != NULL && (gr = getgrnam(h->group)) == NULL) {
		fprintf(stderr, "sock-holder: no group %s\n", h->group);
		return -1;
	}
	if (unlink(h->path) != 0 && errno != ENOENT)
		return -1;
	/* above 3, so the child's dup2() to 3 always makes a new fd */
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	fd = fcntl(s, F_DUPFD_CLOEXEC, 10);
	close(s);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(h->path, (mode_t)h->mode) != 0 ||
	    (gr != NULL && chown(h->path, (uid_t)-1, gr->gr_gid) != 0) ||
	    listen(fd, (int)h->backlog) != 0) {
		fprintf(stderr, "sock-holder: cannot listen on %s: %s\n",
			h->path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The program, with the socket passed the systemd way. */
static void
start(struct holder *h)
{
	char pid[32];
	sigset_t none;
	pid_t p;

	h->last_start = time(NULL);
	fflush(stdout);
	if ((p = fork()) < 0) {
		fprintf(stderr, "sock-holder: fork: %s\n", strerror(errno));
		h->start_at = time(NULL) + 1;
		return;
	}
	if (p > 0) {
		h->pid = p;
		printf("started %ld\n", (long)p);
		fflush(stdout);
		return;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (dup2(h->fd, 3) != 3 || dup2(2, 1) != 1 ||
	    setenv("LISTEN_FDS", "1", 1) != 0 ||
	    setenv("LISTEN_PID", pid, 1) != 0 ||
	    setenv("LISTEN_FDNAMES", h->name, 1) != 0)
		_exit(127);
	execv(h->argv[0], h->argv);
	fprintf(stderr, "sock-holder: cannot run %s: %s\n", h->argv[0],
		strerror(errno));
	_exit(127);
}

/* The pid of each live child of ours into out (at most max); how many. */
static int
live_children(pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char path[300], buf[512], *rp;
		size_t got;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		got = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[got] = '\0';
		/* "pid (comm) state ppid ...": comm may hold anything */
		if ((rp = strrchr(buf, ')')) == NULL || rp[1] != ' ' ||
		    rp[2] == 'Z' || rp[2] == '\0' || rp[3] != ' ')
			continue;
		if (strtol(rp + 4, NULL, 10) == (long)getpid())
			out[n++] = (pid_t)strtol(buf, NULL, 10);
	}
	closedir(d);
	return n;
}

/*
 * The main process is gone: SIGKILL to whatever is left of the program
 * (its processes are ours now), until none is; how many there were.
 */
static int
kill_left(void)
{
	pid_t seen[HOLDER_LEFT_MAX], now[HOLDER_LEFT_MAX];
	int nseen = 0, n;

	while ((n = live_children(now, HOLDER_LEFT_MAX)) > 0) {
		for (int i = 0; i < n; i++) {
			int known = 0;

			kill(now[i], SIGKILL);
			for (int k = 0; k < nseen && !known; k++)
				known = seen[k] == now[i];
			if (!known && nseen < HOLDER_LEFT_MAX)
				seen[nseen++] = now[i];
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		usleep(10 * 1000);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return nseen;
}

static void
report(const char *what, pid_t pid, int status, int left)
{
	if (WIFSIGNALED(status))
		printf("%s %ld signal %d %d\n", what, (long)pid,
		       WTERMSIG(status), left);
	else
		printf("%s %ld exit %d %d\n", what, (long)pid,
		       WEXITSTATUS(status), left);
	fflush(stdout);
}

/* Whether the main process exited within ms; its status into *status. */
static int
wait_main(pid_t pid, long ms, int *status)
{
	struct timespec end, now, ts;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	for (;;) {
		long left;

		if (waitpid(pid, status, WNOHANG) == pid)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (end.tv_sec - now.tv_sec) * 1000 +
		       (end.tv_nsec - now.tv_nsec) / 1000000;
		if (left <= 0)
			return 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		/* other signals stay pending for the main loop */
		sigtimedwait(&chld, NULL, &ts);
	}
}

/* systemctl stop: TERM to the main process, KILL after the timeout. */
static void
stop(struct holder *h)
{
	int status = 0;

	if (h->pid < 0)
		return;
	kill(h->pid, SIGTERM);
	if (!wait_main(h->pid, h->stop_s * 1000, &status)) {
		kill(h->pid, SIGKILL);
		waitpid(h->pid, &status, 0);
	}
	report("stopped", h->pid, status, kill_left());
	h->pid = -1;
}

/* SIGCHLD: a main process that exited by itself is reported. */
static void
reap(struct holder *h)
{
	int status;
	pid_t p;

	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p != h->pid)
			continue; /* one of its processes, left to us */
		h->pid = -1;
		report("exited", p, status, kill_left());
		if (!(WIFEXITED(status) &&
		      (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 78)))
			h->start_at = time(NULL) + 1;
	}
}

/* Whether a connection waits in the socket's queue. */
static int
pending(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Runs the program until SIGTERM/SIGINT; restarts it on SIGUSR1. */
static void
hold(struct holder *h)
{
	sigset_t set;

	holder_signals(&set);
	start(h);
	for (;;) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000L};
		int sig;

		if (h->pid < 0 && time(NULL) != h->last_start &&
		    ((h->start_at != 0 && time(NULL) >= h->start_at) ||
		     (h->start_at == 0 && pending(h->fd)))) {
			h->start_at = 0;
			start(h);
		}
		sig = sigtimedwait(&set, NULL, h->pid < 0 ? &ts : NULL);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGCHLD)
			reap(h);
		else if (sig == SIGUSR1) { /* restart starts a stopped one */
			stop(h);
			h->start_at = 0;
			start(h);
		}
	}
	stop(h);
}

static int
usage(void)
{
	fprintf(stderr, "usage: sock-holder [-m MODE] [-g GROUP] [-b BACKLOG] "
			"[-n NAME] [-t SECONDS] -l PATH -- PROGRAM [ARG...]\n");
	return 64;
}

int
main(int argc, char **argv)
{
	struct holder h = {.mode = 0660,
			   .backlog = 256,
			   .stop_s = 40,
			   .name = "storyjobs-fcgi.socket",
			   .pid = -1};
	sigset_t set;
	char *end;
	int ch;

	while ((ch = getopt(argc, argv, "m:g:b:n:t:l:")) != -1) {
		errno = 0;
		if (ch == 'l')
			h.path = optarg;
		else if (ch == 'g')
			h.group = optarg;
		else if (ch == 'n')
			h.name = optarg;
		else if (ch == 'm')
			h.mode = strtol(optarg, &end, 8);
		else if (ch == 'b')
			h.backlog = strtol(optarg, &end, 10);
		else if (ch == 't')
			h.stop_s = strtol(optarg, &end, 10);
		else
			return usage();
		if ((ch == 'm' || ch == 'b' || ch == 't') &&
		    (errno != 0 || *end != '\0' || end == optarg))
			return usage();
	}
	if (h.path == NULL || optind >= argc || h.mode < 0 || h.mode > 07777 ||
	    h.backlog < 1 || h.backlog > 65535 || h.stop_s < 1 ||
	    h.stop_s > 3600)
		return usage();
	h.argv = argv + optind;
	holder_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0 || (h.fd = listen_at(&h)) < 0)
		return 1;
	printf("listening %s\n", h.path);
	hold(&h);
	unlink(h.path);
	close(h.fd);
	return 0;
}
