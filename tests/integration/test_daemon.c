/*
 * The programs as systemd runs them.
 *
 * The worker's sd_notify states are read from a NOTIFY_SOCKET of the
 * test's own (a unix datagram socket): READY=1 once the database is
 * reached, the schema checked and LISTEN is on, and never without a
 * database; RELOADING=1 then READY=1 around SIGHUP; STOPPING=1 on
 * SIGTERM.  A FastCGI program started by systemd-socket-activate (as its
 * .socket unit would start it) answers through nginx on the socket it
 * was passed, the first request queued while it starts, and leaves the
 * socket in place when it stops (it is systemd's).  Started by hand, a
 * FastCGI program reloads on SIGHUP by replacing its children, refuses a
 * socket another live instance serves (saying so), takes no orphan with
 * it, and loses no request across repeated reloads (a minimal FastCGI
 * client on the socket makes each reload land while a process is reading
 * a request it accepted).  Under tests/sock-holder, which holds the
 * socket and restarts the program as systemd does, storyjobs-jobs loses
 * no request through nginx across repeated restarts, those that land
 * while its processes hold requests included, and leaves no process
 * behind.  On --listen 127.0.0.1:P and [::1]:P a FastCGI program
 * answers over TCP, refuses a second instance on its port (exit 1, the
 * address in use), keeps serving across SIGHUP and closes the port on
 * SIGTERM; a wildcard address is refused (--listen: exit 64; a socket
 * passed by socket activation: exit 1) unless --listen-any, and a TCP
 * socket systemd-socket-activate passes is served.  As root, the
 * programs refuse to start unless STORYJOBS_ALLOW_ROOT=1.
 *
 * Environment: BASE_URL, DATABASE_URL, WORKER_BIN, FCGI_DIR (the folder
 * of storyjobs-health; tests/sock-holder is in ../tests), ACTIVATED_SOCK
 * (the socket nginx sends /activated/... to, with the prefix cut).
 */
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define NOTIFY_WAIT_MS 20000
#define MSG_MAX	       4096

extern char **environ;

/* Programs a case started, killed by the teardown if a failure left them. */
static pid_t started[32];

static void
track(pid_t pid)
{
	static size_t n;

	if (n < sizeof(started) / sizeof(started[0]))
		started[n++] = pid;
}

struct notify {
	int fd;
	char dir[64];
	char path[128];
	char env[160]; /* NOTIFY_SOCKET=path */
};

/* A datagram socket for the worker's notifications, in a fresh folder. */
static void
notify_open(struct notify *n)
{
	struct sockaddr_un sun;

	memset(n, 0, sizeof(*n));
	snprintf(n->dir, sizeof(n->dir), "/tmp/sj-notify.XXXXXX");
	assert_non_null(mkdtemp(n->dir));
	snprintf(n->path, sizeof(n->path), "%s/notify", n->dir);
	snprintf(n->env, sizeof(n->env), "NOTIFY_SOCKET=%s", n->path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, n->path, strlen(n->path) + 1);
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(n->fd >= 0);
	assert_int_equal(bind(n->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
}

static void
notify_close(struct notify *n)
{
	close(n->fd);
	unlink(n->path);
	rmdir(n->dir);
}

/* Whether one line of the datagram msg is exactly want. */
static int
has_line(const char *msg, const char *want)
{
	size_t w = strlen(want);

	for (const char *p = msg; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len == w && memcmp(p, want, w) == 0)
			return 1;
		p += len + (nl != NULL);
	}
	return 0;
}

/*
 * Waits up to ms for a datagram holding the line want; datagrams before
 * it are skipped (STATUS= lines and the like).  1 when it came.
 */
static int
notify_wait(struct notify *n, const char *want, int ms)
{
	int64_t end = itest_now_ms() + ms;
	char msg[MSG_MAX + 1];

	for (;;) {
		int64_t left = end - itest_now_ms();
		struct pollfd p = {.fd = n->fd, .events = POLLIN};
		ssize_t got;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		got = recv(n->fd, msg, MSG_MAX, 0);
		if (got < 0)
			continue;
		msg[got] = '\0';
		if (has_line(msg, want))
			return 1;
	}
}

/* Waits up to ms for pid to exit, leaving it to be reaped; 1 if it did. */
static int
wait_exit_peek(pid_t pid, int ms)
{
	int64_t end = itest_now_ms() + ms;
	siginfo_t si;

	while (itest_now_ms() < end) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid)
			return 1;
		usleep(50 * 1000);
	}
	return 0;
}

/* The pids whose parent is ppid, from /proc; how many (at most max). */
static int
children_of(pid_t ppid, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL && n < max) {
		char path[300], buf[512], *rp;
		long long pid, pp;
		FILE *f;
		size_t got;

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
		    rp[2] == 'Z')
			continue;
		pid = strtoll(buf, NULL, 10);
		pp = strtoll(rp + 4, NULL, 10);
		if (pp == (long long)ppid)
			out[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* Whether pid is gone (or a zombie nobody reaped yet). */
static int
gone(pid_t pid)
{
	char path[64], buf[512], *rp;
	FILE *f;
	size_t got;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	got = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[got] = '\0';
	return (rp = strrchr(buf, ')')) != NULL && rp[1] == ' ' && rp[2] == 'Z';
}

/* Starts storyjobs-health on sock (2 processes); waits for the socket. */
static pid_t
fcgi_start(const char *prog, const char *sock)
{
	struct stat st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(prog, prog, "--socket", sock, "--processes", "2",
		      "--socket-group", "www-data", (char *)NULL);
		_exit(127);
	}
	track(pid);
	for (int i = 0; i < 200; i++) {
		if (stat(sock, &st) == 0 && children_of(pid, &(pid_t){0}, 1))
			return pid;
		usleep(50 * 1000);
	}
	fail_msg("%s did not start on %s", prog, sock);
	return -1;
}

/* Appends one FastCGI record (request id 1) of type to out at *n. */
static void
fcgi_record(unsigned char *out, size_t *n, int type, const void *body,
	    size_t len)
{
	unsigned char *h = out + *n;

	h[0] = 1;
	h[1] = (unsigned char)type;
	h[2] = 0;
	h[3] = 1;
	h[4] = (unsigned char)(len >> 8);
	h[5] = (unsigned char)(len & 0xff);
	h[6] = 0;
	h[7] = 0;
	if (len > 0)
		memcpy(h + 8, body, len);
	*n += 8 + len;
}

/* Appends the name-value pair k=v (both under 128 bytes) at *n. */
static void
fcgi_pair(unsigned char *out, size_t *n, const char *k, const char *v)
{
	out[(*n)++] = (unsigned char)strlen(k);
	out[(*n)++] = (unsigned char)strlen(v);
	memcpy(out + *n, k, strlen(k));
	*n += strlen(k);
	memcpy(out + *n, v, strlen(v));
	*n += strlen(v);
}

static int
read_full(int fd, unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t got = read(fd, p, len);

		if (got <= 0)
			return -1;
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

/*
 * Reads records until END_REQUEST; the HTTP status of the "Status: "
 * line the program wrote, or -1 when the connection ended before.
 */
static int
fcgi_response(int fd)
{
	unsigned char h[8], body[65536 + 256];
	char head[64] = "";
	size_t have = 0;

	for (;;) {
		size_t len;

		if (read_full(fd, h, 8) != 0)
			return -1;
		len = ((size_t)h[4] << 8 | h[5]) + h[6];
		if (read_full(fd, body, len) != 0)
			return -1;
		if (h[1] == 3) /* END_REQUEST */
			break;
		if (h[1] == 6 && have < sizeof(head) - 1) { /* STDOUT */
			len = ((size_t)h[4] << 8 | h[5]);
			if (len > sizeof(head) - 1 - have)
				len = sizeof(head) - 1 - have;
			memcpy(head + have, body, len);
			have += len;
			head[have] = '\0';
		}
	}
	if (strncmp(head, "Status: ", 8) != 0)
		return -1;
	return (int)strtol(head + 8, NULL, 10);
}

/*
 * A connection to addr: a unix socket's path, or "IPV4:PORT" /
 * "[IPV6]:PORT" (loopback only in this suite); -1 when refused.
 */
static int
fcgi_connect(const char *addr)
{
	struct timeval tv = {.tv_sec = 20, .tv_usec = 0};
	struct addrinfo hints, *res = NULL;
	struct sockaddr_un sun;
	char host[64], *colon;
	int fd;

	if (addr[0] == '/') {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, addr, strlen(addr) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		close(fd);
		return -1;
	}
	snprintf(host, sizeof(host), "%s", addr + (addr[0] == '['));
	colon = strrchr(host, ':');
	assert_non_null(colon);
	*colon = '\0';
	if (addr[0] == '[')
		colon[-1] = '\0'; /* the "]" */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	assert_int_equal(getaddrinfo(host, colon + 1, &hints, &res), 0);
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * GET uri straight over the FastCGI socket sock (a path, or an address
 * as fcgi_connect() takes it), as nginx sends it: a
 * BEGIN_REQUEST, then the PARAMS and an empty STDIN.  With hup > 0, hup
 * gets SIGHUP between the two, while a process is reading the PARAMS of
 * the connection it accepted.  The HTTP status, or -1 when the
 * connection failed or ended without an answer.
 */
static int
fcgi_get(const char *sock, const char *uri, pid_t hup)
{
	static const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0};
	unsigned char rec[1024], params[512];
	size_t n = 0, pn = 0;
	int fd, status = -1;

	if ((fd = fcgi_connect(sock)) < 0)
		return -1;
	fcgi_record(rec, &n, 1, begin, sizeof(begin));
	if (send(fd, rec, n, MSG_NOSIGNAL) != (ssize_t)n)
		goto out;
	if (hup > 0) {
		usleep(50 * 1000);
		assert_int_equal(kill(hup, SIGHUP), 0);
		usleep(150 * 1000);
	}
	fcgi_pair(params, &pn, "REQUEST_METHOD", "GET");
	fcgi_pair(params, &pn, "DOCUMENT_URI", uri);
	fcgi_pair(params, &pn, "QUERY_STRING", "");
	n = 0;
	fcgi_record(rec, &n, 4, params, pn);
	fcgi_record(rec, &n, 4, NULL, 0);
	fcgi_record(rec, &n, 5, NULL, 0);
	if (send(fd, rec, n, MSG_NOSIGNAL) != (ssize_t)n)
		goto out;
	status = fcgi_response(fd);
out:
	close(fd);
	return status;
}

/* GET /activated/api/jobs/health answers as the health program does. */
static void
health_answers(void)
{
	struct resp r;

	http("GET", "/activated/api/jobs/health", NULL, NULL, 0, &r);
	assert_non_null(r.json);
	assert_string_equal(jstr(jmember(r.json, "systemStatus"), "database"),
			    "operational");
	resp_free(&r);
}

static void
test_worker_ready_reload_stop(void **state)
{
	struct notify n;
	const char *env[2];
	pid_t pid;

	(void)state;
	notify_open(&n);
	env[0] = n.env;
	env[1] = NULL;
	pid = itest_worker(env);
	assert_true(notify_wait(&n, "READY=1", NOTIFY_WAIT_MS));
	/* ready means working: a job started now is run */
	json_object_put(itest_job_run(
	    "image-generation", "{\"image_prompt\":\"ready\"}", NULL, 30));

	assert_int_equal(kill(pid, SIGHUP), 0);
	assert_true(notify_wait(&n, "RELOADING=1", NOTIFY_WAIT_MS));
	assert_true(notify_wait(&n, "READY=1", NOTIFY_WAIT_MS));

	assert_int_equal(itest_worker_stop(pid, SIGTERM), 0);
	/* the datagram waits in the socket's queue */
	assert_true(notify_wait(&n, "STOPPING=1", 1000));
	notify_close(&n);
}

static void
test_worker_not_ready_without_database(void **state)
{
	struct notify n;
	const char *env[3];
	pid_t pid;

	(void)state;
	notify_open(&n);
	env[0] = n.env;
	/* a loopback port where nothing listens */
	env[1] = "DATABASE_URL=postgresql://storyjobs@127.0.0.1:1/storyjobs"
		 "?connect_timeout=2";
	env[2] = NULL;
	pid = itest_worker(env);
	assert_false(notify_wait(&n, "READY=1", 5000));
	/* it gave up at start (the schema check found no database) */
	assert_true(wait_exit_peek(pid, 10000));
	assert_int_not_equal(itest_worker_stop(pid, SIGTERM), 0);
	notify_close(&n);
}

/* Execs systemd-socket-activate on sock with the test's environment. */
static void
activate_exec(const char *sock, const char *prog)
{
	char *argv[512];
	size_t k = 0;

	argv[k++] = "systemd-socket-activate";
	argv[k++] = "-l";
	argv[k++] = (char *)(uintptr_t)sock;
	/* it passes on only what -E names */
	for (char **e = environ; *e != NULL && k < 500; e++) {
		argv[k++] = "-E";
		argv[k++] = *e;
	}
	argv[k++] = (char *)(uintptr_t)prog;
	argv[k++] = "--processes";
	argv[k++] = "1";
	argv[k] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

static void
test_fcgi_socket_activation(void **state)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	char prog[512];
	struct stat st;
	struct resp r;
	pid_t pid;
	int i, status;

	(void)state;
	assert_non_null(sock);
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	unlink(sock);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		activate_exec(sock, prog);
	track(pid);
	for (i = 0; i < 100 && stat(sock, &st) != 0; i++)
		usleep(50 * 1000);
	assert_true(S_ISSOCK(st.st_mode));
	/* what SocketMode= does for the unit; the activator makes it 0644 */
	assert_int_equal(chmod(sock, 0666), 0);

	/* the first request starts the program; it waits in the queue */
	http("GET", "/activated/api/jobs/health", NULL, NULL, 0, &r);
	assert_non_null(r.json);
	assert_string_equal(jstr(jmember(r.json, "systemStatus"), "database"),
			    "operational");
	assert_true(r.status == 200 || r.status == 503);
	resp_free(&r);
	/* and the next ones are served by the same program */
	http("GET", "/activated/api/jobs/health", NULL, NULL, 0, &r);
	assert_non_null(r.json);
	assert_string_equal(jstr(jmember(r.json, "systemStatus"), "database"),
			    "operational");
	resp_free(&r);

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_true(wait_exit_peek(pid, 15000));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the socket belongs to whoever passed it */
	assert_int_equal(stat(sock, &st), 0);
	unlink(sock);
}

/*
 * The parent as an operator meets it: SIGHUP replaces both children and
 * the parent stays; a second instance on the same socket is refused and
 * the first keeps serving; the children die with a killed parent; the
 * socket it left is taken over by the next start.
 */
static void
test_fcgi_hup_second_instance_orphans(void **state)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	pid_t pid, second, before[4], after[4];
	char prog[512], err[4096];
	int n, status, errp[2];
	size_t got;
	ssize_t k;

	(void)state;
	assert_non_null(sock);
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	unlink(sock);
	pid = fcgi_start(prog, sock);
	health_answers();
	for (int i = 0; i < 100 && children_of(pid, before, 4) != 2; i++)
		usleep(50 * 1000);
	assert_int_equal(children_of(pid, before, 4), 2);

	assert_int_equal(kill(pid, SIGHUP), 0);
	for (int i = 0; i < 200; i++) {
		n = children_of(pid, after, 4);
		if (n == 2 && after[0] != before[0] && after[0] != before[1] &&
		    after[1] != before[0] && after[1] != before[1] &&
		    gone(before[0]) && gone(before[1]))
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(n, 2);
	assert_true(gone(before[0]) && gone(before[1]));
	assert_false(gone(pid));
	health_answers();

	assert_int_equal(pipe(errp), 0);
	second = fork();
	assert_true(second >= 0);
	if (second == 0) {
		dup2(errp[1], 2);
		execl(prog, prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	track(second);
	close(errp[1]);
	/* a second instance that took the socket over would keep running */
	if (!wait_exit_peek(second, 10000))
		kill(second, SIGKILL);
	assert_int_equal(waitpid(second, &status, 0), second);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	for (got = 0; got < sizeof(err) - 1; got += (size_t)k)
		if ((k = read(errp[0], err + got, sizeof(err) - 1 - got)) <= 0)
			break;
	err[got] = '\0';
	close(errp[0]);
	assert_non_null(strstr(err, "is served by a running program"));
	health_answers();

	assert_int_equal(children_of(pid, after, 4), 2);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (int i = 0; i < 100 && !(gone(after[0]) && gone(after[1])); i++)
		usleep(50 * 1000);
	assert_true(gone(after[0]) && gone(after[1]));

	/* the socket left behind answers nobody: the next start takes it */
	pid = fcgi_start(prog, sock);
	health_answers();
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_not_equal(access(sock, F_OK), 0);
}

/*
 * A reload loses no request: 300 requests straight over the socket, 5 of
 * them with a SIGHUP sent while a process is reading their PARAMS (it has
 * accepted the connection and is about to be replaced); every one is
 * answered 200 and the reloads replaced both processes.  Then a process
 * killed outright is replaced.
 */
static void
test_fcgi_no_request_lost_on_reload(void **state)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	pid_t pid, first[4], now[4];
	int failed = 0, first_bad = 0, status, n;
	char prog[512];

	(void)state;
	assert_non_null(sock);
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	unlink(sock);
	pid = fcgi_start(prog, sock);
	for (int i = 0; i < 100 && children_of(pid, first, 4) != 2; i++)
		usleep(50 * 1000);
	assert_int_equal(children_of(pid, first, 4), 2);
	for (int i = 0; i < 300; i++) {
		int st = fcgi_get(sock, "/metrics", i % 60 == 30 ? pid : 0);

		if (st != 200 && failed++ == 0)
			first_bad = st;
	}
	if (failed > 0)
		fail_msg("%d of 300 requests failed (first: %d)", failed,
			 first_bad);
	/* the reloads happened: neither first process is left */
	for (int i = 0; i < 200; i++) {
		n = children_of(pid, now, 4);
		if (n == 2 && gone(first[0]) && gone(first[1]))
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(n, 2);
	assert_true(gone(first[0]) && gone(first[1]));
	/* a process that dies is replaced, and the socket kept answering */
	assert_int_equal(kill(now[0], SIGKILL), 0);
	for (int i = 0; i < 100; i++) {
		n = children_of(pid, first, 4);
		if (n == 2 && first[0] != now[0] && first[1] != now[0])
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(n, 2);
	assert_true(first[0] != now[0] && first[1] != now[0]);
	assert_int_equal(fcgi_get(sock, "/metrics", 0), 200);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Restarts under socket activation: tests/sock-holder plays systemd (it
 * holds the socket of storyjobs-fcgi@.socket and restarts the program as
 * `systemctl restart` of the .service does when the .socket is not
 * restarted with it), storyjobs-jobs runs under it as its unit runs it
 * (4 processes), and RS_CLIENTS clients send RS_TOTAL requests through
 * nginx while the program is restarted RS_RESTARTS times.
 */
#define RS_CLIENTS  3
#define RS_TOTAL    300
#define RS_RESTARTS 5
#define RS_PROCS    4
#define RS_LINE_MAX 256

/* One request of the restart test: when, what was wanted, what came. */
struct rs_req {
	int64_t t0, t1;
	int want, got, start;
};

/* Shared by the clients (forked) and the test, in MAP_SHARED memory. */
struct rs_shared {
	int issued; /* tickets taken; ticket n is req[n] */
	int limit;  /* tickets up to here may be sent now */
	struct rs_req req[RS_TOTAL];
};

/*
 * A request through nginx on a connection of its own (Connection:
 * close), as a client meets the site.  The HTTP status, or -1 when no
 * answer came (refused, reset, nothing within 60 s: longer than nginx's
 * own 30 s, so nginx's 504 is what a stuck program shows).  *id receives
 * the jobId of the answer when there is one.  No cmocka here: clients
 * are forked processes.
 */
static int
rs_http(const char *method, const char *path, const char *body, char *id,
	size_t idsz)
{
	const char *hostport = strstr(itest_base, "//") + 2, *p;
	struct timeval tmo = {60, 0};
	char req[1024], ans[8192];
	struct sockaddr_in sa;
	size_t got = 0, len;
	int fd, status = -1;
	ssize_t n;

	len =
	    (size_t)snprintf(req, sizeof(req),
			     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n"
			     "%s",
			     method, path, strlen(body), body);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port =
	    htons((uint16_t)strtol(strchr(hostport, ':') + 1, NULL, 10));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, req, len) != (ssize_t)len)
		goto out;
	while (got + 1 < sizeof(ans) &&
	       (n = read(fd, ans + got, sizeof(ans) - 1 - got)) > 0)
		got += (size_t)n;
	ans[got] = '\0';
	if (strncmp(ans, "HTTP/1.1 ", 9) == 0)
		status = (int)strtol(ans + 9, NULL, 10);
	if (id != NULL && (p = strstr(ans, "\"jobId\":\"")) != NULL) {
		p += 9;
		len = strcspn(p, "\"");
		if (len < idsz) {
			memcpy(id, p, len);
			id[len] = '\0';
		}
	}
out:
	close(fd);
	return status;
}

/*
 * One client: takes tickets until RS_TOTAL are out, each sent once the
 * test's limit allows.  Its requests in turn: a job start (200), that
 * job's status (200), a start with a broken body (400), the status of a
 * job that does not exist (404): database writes, reads and none.
 */
static void
rs_client(struct rs_shared *sh, int client)
{
	char id[64] = "job_1_nosuch", path[160], body[128];

	for (int mine = 0;; mine++) {
		int n = __atomic_fetch_add(&sh->issued, 1, __ATOMIC_SEQ_CST);
		struct rs_req *q = &sh->req[n < RS_TOTAL ? n : 0];

		if (n >= RS_TOTAL)
			break;
		while (n >= __atomic_load_n(&sh->limit, __ATOMIC_SEQ_CST))
			usleep(1000);
		q->t0 = itest_now_ms();
		switch (mine % 4) {
		case 0:
			snprintf(body, sizeof(body),
				 "{\"image_prompt\":\"restart %ld %d %d\"}",
				 (long)getppid(), client, mine);
			q->want = 200;
			q->start = 1;
			q->got = rs_http("POST",
					 "/activated/api/jobs/image-generation/"
					 "start",
					 body, id, sizeof(id));
			break;
		case 1:
			snprintf(path, sizeof(path), "/activated/api/jobs/%s",
				 id);
			q->want = strcmp(id, "job_1_nosuch") == 0 ? 404 : 200;
			q->got = rs_http("GET", path, "", NULL, 0);
			break;
		case 2:
			q->want = 400;
			q->got = rs_http(
			    "POST",
			    "/activated/api/jobs/image-generation/start", "{",
			    NULL, 0);
			break;
		default:
			q->want = 404;
			q->got = rs_http("GET",
					 "/activated/api/jobs/image-generation/"
					 "status/job_1_nosuch",
					 "", NULL, 0);
		}
		q->t1 = itest_now_ms();
	}
}

/* A line of the holder's output into line (NUL-terminated); 0 on EOF/time. */
static int
rs_line(int fd, char *line, size_t sz, int ms)
{
	int64_t end = itest_now_ms() + ms;
	size_t n = 0;

	while (n + 1 < sz) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = end - itest_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0 ||
		    read(fd, line + n, 1) != 1)
			return 0;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return 1;
}

/* Reads "started PID"; waits until it runs its RS_PROCS processes. */
static pid_t
rs_started(int out, pid_t kids[RS_PROCS])
{
	char line[RS_LINE_MAX];
	pid_t pid;

	assert_true(rs_line(out, line, sizeof(line), 30000));
	assert_memory_equal(line, "started ", 8);
	pid = (pid_t)strtol(line + 8, NULL, 10);
	assert_true(pid > 0);
	for (int i = 0; i < 200 && children_of(pid, kids, RS_PROCS) != RS_PROCS;
	     i++)
		usleep(50 * 1000);
	assert_int_equal(children_of(pid, kids, RS_PROCS), RS_PROCS);
	return pid;
}

/* What one restart did, checked once the figures are printed. */
struct rs_restart {
	int64_t t0, t1; /* signalled; the new program's processes up */
	int held;	/* it landed while requests waited on a lock */
	int waited;	/* held: the old program was still there 300 ms on */
	int stale;	/* old processes still there after the new start */
	pid_t old;
	char stopped[RS_LINE_MAX]; /* the holder's line */
};

static void
rs_sql(const char *sql)
{
	PGresult *r = PQexec(itest_pg, sql);

	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
}

/* Job starts waiting on the jobs table's lock. */
static long long
rs_waiting(void)
{
	return sql_ll("SELECT count(*) FROM pg_locks WHERE NOT granted AND "
		      "relation = 'jobs'::regclass");
}

/*
 * One restart, signalled once ticket `after` is out.  With rs->held the
 * jobs table is locked first, so that job starts wait in the database
 * and the restart lands while processes hold requests they accepted;
 * the lock goes 300 ms later.  Fills *rs; the new program's pid.
 */
static pid_t
rs_restart(pid_t holder, int out, pid_t old, struct rs_shared *sh, int after,
	   struct rs_restart *rs)
{
	pid_t kids[RS_PROCS], now[RS_PROCS], pid;

	while (__atomic_load_n(&sh->issued, __ATOMIC_SEQ_CST) <= after)
		usleep(1000);
	assert_int_equal(children_of(old, kids, RS_PROCS), RS_PROCS);
	rs->old = old;
	if (rs->held) {
		rs_sql("BEGIN");
		rs_sql("LOCK TABLE jobs IN SHARE MODE");
		for (int i = 0; i < 500 && rs_waiting() == 0; i++)
			usleep(10 * 1000);
		assert_true(rs_waiting() > 0);
	}
	rs->t0 = itest_now_ms();
	assert_int_equal(kill(holder, SIGUSR1), 0);
	if (rs->held) {
		usleep(300 * 1000);
		rs->waited = !gone(old);
		rs_sql("COMMIT");
	}
	assert_true(rs_line(out, rs->stopped, sizeof(rs->stopped), 60000));
	pid = rs_started(out, now);
	rs->t1 = itest_now_ms();
	rs->stale = !gone(old);
	for (int i = 0; i < RS_PROCS; i++)
		rs->stale += !gone(kids[i]);
	return pid;
}

/* Starts tests/sock-holder on sock with storyjobs-jobs; *out its output. */
static pid_t
rs_holder(const char *sock, const char *dir, int *out)
{
	char holder[512], prog[512];
	int p[2];
	pid_t pid;

	snprintf(holder, sizeof(holder), "%s/../tests/sock-holder", dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-jobs", dir);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a test that dies takes the holder and its program along */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		/* its own problems only: 300 request lines say nothing */
		setenv("LOG_LEVEL", "warn", 1);
		execl(holder, holder, "-l", sock, "-m", "0660", "-g",
		      "www-data", "-b", "256", "-n",
		      "storyjobs-fcgi@jobs.socket", "-t", "40", "--", prog,
		      "--processes", "4", (char *)NULL);
		_exit(127);
	}
	track(pid);
	close(p[1]);
	*out = p[0];
	return pid;
}

/*
 * Prints the figures (requests, answers, worst latency during a restart
 * and outside), then checks every request and every restart.
 */
static void
rs_figures(const struct rs_shared *sh, const struct rs_restart *rs)
{
	int64_t worst_in = 0, worst_out = 0, worst[RS_RESTARTS] = {0};
	int during = 0, bad = 0, first = -1;

	for (int i = 0; i < RS_TOTAL; i++) {
		const struct rs_req *q = &sh->req[i];
		int64_t ms = q->t1 - q->t0;
		int in = 0;

		for (int r = 0; r < RS_RESTARTS; r++) {
			if (q->t0 > rs[r].t1 || q->t1 < rs[r].t0)
				continue;
			in = 1;
			if (ms > worst[r])
				worst[r] = ms;
		}
		during += in;
		if (in && ms > worst_in)
			worst_in = ms;
		if (!in && ms > worst_out)
			worst_out = ms;
		if (q->got != q->want && bad++ == 0)
			first = i;
	}
	print_message("restarts: %d requests sent, %d answered as expected, "
		      "%d during a restart; worst latency %lld ms during a "
		      "restart, %lld ms otherwise\n",
		      RS_TOTAL, RS_TOTAL - bad, during, (long long)worst_in,
		      (long long)worst_out);
	for (int r = 0; r < RS_RESTARTS; r++)
		print_message("restart %d%s: %lld ms to the new program's "
			      "processes, worst request %lld ms; holder: %s\n",
			      r + 1, rs[r].held ? " (requests in hand)" : "",
			      (long long)(rs[r].t1 - rs[r].t0),
			      (long long)worst[r], rs[r].stopped);
	if (bad > 0)
		fail_msg("%d of %d requests not answered as expected (first: "
			 "ticket %d, got %d, want %d)",
			 bad, RS_TOTAL, first, sh->req[first].got,
			 sh->req[first].want);
	assert_true(during > 0);
	for (int r = 0; r < RS_RESTARTS; r++) {
		char want[64];

		/* stopped by SIGTERM alone, nothing left for the SIGKILL */
		snprintf(want, sizeof(want), "stopped %ld exit 0 0",
			 (long)rs[r].old);
		assert_string_equal(rs[r].stopped, want);
		/* the old program waited for the requests in hand */
		assert_true(!rs[r].held || rs[r].waited);
		assert_int_equal(rs[r].stale, 0);
	}
}

/*
 * A restart under socket activation loses no request: while RS_CLIENTS
 * clients send RS_TOTAL requests through nginx, the program is restarted
 * RS_RESTARTS times as systemd restarts it (SIGTERM, wait, start again
 * on the same socket), every other one while job starts wait on a lock
 * in the database, so processes hold accepted requests when SIGTERM
 * comes.  Every request gets the answer its route gives (200, 400, 404:
 * no 502 or 504, no connection error); each old program exits 0 with no
 * process left for the final SIGKILL, and its processes are gone; each
 * job answered 200 exists once; the socket is the one the holder made
 * (SocketMode 0660) until the holder ends.
 */
static void
test_fcgi_no_request_lost_on_restart(void **state)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	pid_t holder, pid, kids[RS_PROCS], clients[RS_CLIENTS];
	struct rs_restart rs[RS_RESTARTS];
	char line[RS_LINE_MAX], sql[256];
	struct stat st0, st;
	struct rs_shared *sh;
	int out, status, starts = 0;

	(void)state;
	assert_non_null(sock);
	assert_non_null(dir);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	sh->limit = 2 * RS_TOTAL / (RS_RESTARTS + 1);
	holder = rs_holder(sock, dir, &out);
	assert_true(rs_line(out, line, sizeof(line), 10000));
	assert_memory_equal(line, "listening ", 10);
	pid = rs_started(out, kids);
	assert_int_equal(stat(sock, &st0), 0);

	for (int c = 0; c < RS_CLIENTS; c++) {
		clients[c] = fork();
		assert_true(clients[c] >= 0);
		if (clients[c] == 0) {
			/* none outlives a test that failed */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			rs_client(sh, c);
			_exit(0);
		}
		track(clients[c]);
	}
	for (int r = 0; r < RS_RESTARTS; r++) {
		memset(&rs[r], 0, sizeof(rs[r]));
		rs[r].held = r % 2 == 0;
		pid =
		    rs_restart(holder, out, pid, sh,
			       (r + 1) * RS_TOTAL / (RS_RESTARTS + 1), &rs[r]);
		__atomic_store_n(&sh->limit,
				 r + 2 < RS_RESTARTS + 1
				     ? (r + 3) * RS_TOTAL / (RS_RESTARTS + 1)
				     : RS_TOTAL,
				 __ATOMIC_SEQ_CST);
	}
	for (int c = 0; c < RS_CLIENTS; c++) {
		assert_int_equal(waitpid(clients[c], &status, 0), clients[c]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	rs_figures(sh, rs);
	/* the programs came and went; the socket is the one made first */
	assert_int_equal(stat(sock, &st), 0);
	assert_true(st.st_ino == st0.st_ino && S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	/* each start answered 200 made one job, and no other was made */
	for (int i = 0; i < RS_TOTAL; i++)
		starts += sh->req[i].start && sh->req[i].got == 200;
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM jobs WHERE input->>'image_prompt' "
		 "LIKE 'restart %ld %%'",
		 (long)getpid());
	assert_true(starts > 0);
	assert_int_equal(sql_ll(sql), starts);

	assert_int_equal(kill(holder, SIGTERM), 0);
	assert_true(rs_line(out, line, sizeof(line), 60000));
	snprintf(sql, sizeof(sql), "stopped %ld exit 0 0", (long)pid);
	assert_string_equal(line, sql);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_not_equal(access(sock, F_OK), 0);
	close(out);
	munmap(sh, sizeof(*sh));
	itest_cancel_leftovers();
}

/* A loopback port of family (AF_INET, AF_INET6) nothing listens on. */
static int
free_port(int family)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	socklen_t len = family == AF_INET ? sizeof(*in) : sizeof(*in6);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(family == AF_INET ? in->sin_port : in6->sin6_port);
	close(fd);
	return port;
}

/* Starts storyjobs-health on --listen addr (2 processes); waits for a 200. */
static pid_t
fcgi_start_tcp(const char *prog, const char *addr)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execl(prog, prog, "--listen", addr, "--processes", "2",
		      (char *)NULL);
		_exit(127);
	}
	track(pid);
	for (int i = 0; i < 200; i++) {
		if (fcgi_get(addr, "/metrics", 0) == 200 &&
		    children_of(pid, &(pid_t){0}, 1))
			return pid;
		usleep(50 * 1000);
	}
	fail_msg("%s did not start on %s", prog, addr);
	return -1;
}

/* How run_stopped() runs a program. */
enum run_how {
	RUN_PLAIN,
	RUN_NETNS,	 /* in a network namespace of its own, without a
			    DATABASE_URL: it stops at the configuration */
	RUN_NETNS_PASSED /* there, passed a TCP socket on 0.0.0.0:port */
};

/* The child of run_stopped(): its network and socket, then argv. */
static void
run_child(char *const argv[], enum run_how how, int port, int errfd)
{
	struct sockaddr_in in = {.sin_family = AF_INET};
	int fd;
	char pid[32];

	dup2(errfd, 2);
	if (how != RUN_PLAIN &&
	    (unshare(CLONE_NEWNET) != 0 || unsetenv("DATABASE_URL") != 0))
		_exit(126);
	if (how == RUN_NETNS_PASSED) {
		/* the wildcard of an empty namespace: nothing can reach it */
		in.sin_port = htons((uint16_t)port);
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    bind(fd, (struct sockaddr *)&in, sizeof(in)) != 0 ||
		    listen(fd, 16) != 0 || dup2(fd, 3) != 3)
			_exit(125);
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	execv(argv[0], argv);
	_exit(127);
}

/*
 * Runs argv (how says where) until it exits by itself (10 s at most);
 * its stderr into err.  Its exit status, or -1 when it did not exit.
 */
static int
run_stopped(char *const argv[], enum run_how how, int port, char *err,
	    size_t sz)
{
	int errp[2], status;
	size_t got;
	ssize_t k;
	pid_t pid;

	assert_int_equal(pipe(errp), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_child(argv, how, port, errp[1]);
	track(pid);
	close(errp[1]);
	if (!wait_exit_peek(pid, 10000))
		kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	for (got = 0; got < sz - 1; got += (size_t)k)
		if ((k = read(errp[0], err + got, sz - 1 - got)) <= 0)
			break;
	err[got] = '\0';
	close(errp[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * One program on --listen addr: it answers FastCGI there; a second
 * instance on the same address is refused (exit 1, saying the address is
 * in use) and the first keeps serving; a SIGHUP that lands while a
 * process reads a request replaces both processes and the request is
 * answered; SIGTERM ends it (exit 0) and the port is closed.
 */
static void
tcp_serves(const char *prog, const char *addr)
{
	char *second[] = {(char *)(uintptr_t)prog, "--listen",
			  (char *)(uintptr_t)addr, NULL};
	pid_t pid, before[4], after[4];
	char err[4096];
	int n = 0, status;

	pid = fcgi_start_tcp(prog, addr);
	assert_int_equal(run_stopped(second, RUN_PLAIN, 0, err, sizeof(err)),
			 1);
	assert_non_null(strstr(err, addr));
	assert_non_null(strstr(err, "is in use"));
	assert_int_equal(fcgi_get(addr, "/metrics", 0), 200);

	for (int i = 0; i < 100 && children_of(pid, before, 4) != 2; i++)
		usleep(50 * 1000);
	assert_int_equal(children_of(pid, before, 4), 2);
	assert_int_equal(fcgi_get(addr, "/metrics", pid), 200);
	for (int i = 0; i < 200; i++) {
		n = children_of(pid, after, 4);
		if (n == 2 && gone(before[0]) && gone(before[1]))
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(n, 2);
	assert_true(gone(before[0]) && gone(before[1]));
	assert_int_equal(fcgi_get(addr, "/metrics", 0), 200);

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(fcgi_connect(addr), -1);
}

/* FastCGI over TCP on 127.0.0.1 and on [::1], as tcp_serves() says. */
static void
test_fcgi_tcp(void **state)
{
	const char *dir = getenv("FCGI_DIR");
	char prog[512], addr[64];

	(void)state;
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port(AF_INET));
	tcp_serves(prog, addr);
	snprintf(addr, sizeof(addr), "[::1]:%d", free_port(AF_INET6));
	tcp_serves(prog, addr);
}

/*
 * A wildcard address is refused unless --listen-any says so: --listen
 * 0.0.0.0:P, [::]:P and [::ffff:0.0.0.0]:P exit 64 before anything
 * else, naming the option, and so do public addresses (192.0.2.1,
 * 2001:db8::1);
 * a TCP socket on 0.0.0.0 passed by socket activation exits 1 naming
 * ListenStream=.  With --listen-any both get past that check to the
 * configuration, which (without DATABASE_URL) stops them with 78; they
 * run in a network namespace of their own, where nothing reaches the
 * wildcard socket.  Then a
 * socket systemd-socket-activate makes on 127.0.0.1:P is served.
 */
static void
test_fcgi_tcp_wildcard(void **state)
{
	const char *dir = getenv("FCGI_DIR");
	char prog[512], any4[64], any6[64], addr[64], err[4096];
	char *v4[] = {prog, "--listen", any4, NULL};
	char *v6[] = {prog, "--listen", any6, NULL};
	char *v4any[] = {prog, "--listen", any4, "--listen-any", NULL};
	char *passed[] = {prog, NULL};
	char *passed_any[] = {prog, "--listen-any", NULL};
	int port = free_port(AF_INET), st, status;
	pid_t pid;

	(void)state;
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	snprintf(any4, sizeof(any4), "0.0.0.0:%d", port);
	snprintf(any6, sizeof(any6), "[::]:%d", port);
	assert_int_equal(run_stopped(v4, RUN_PLAIN, 0, err, sizeof(err)), 64);
	assert_non_null(strstr(err, "refusing to listen on 0.0.0.0:"));
	assert_non_null(strstr(err, "--listen-any"));
	assert_int_equal(run_stopped(v6, RUN_PLAIN, 0, err, sizeof(err)), 64);
	assert_non_null(strstr(err, "refusing to listen on [::]:"));
	/* 0.0.0.0 spelled as IPv6 */
	snprintf(any6, sizeof(any6), "[::ffff:0.0.0.0]:%d", port);
	assert_int_equal(run_stopped(v6, RUN_PLAIN, 0, err, sizeof(err)), 64);
	assert_non_null(strstr(err, "refusing to listen on"));
	assert_int_equal(run_stopped(v4any, RUN_NETNS, 0, err, sizeof(err)),
			 78);
	assert_null(strstr(err, "refusing to listen"));
	/* a public address is as exposed as every address */
	snprintf(any4, sizeof(any4), "192.0.2.1:%d", port);
	assert_int_equal(run_stopped(v4, RUN_PLAIN, 0, err, sizeof(err)), 64);
	assert_non_null(strstr(err, "refusing to listen on 192.0.2.1:"));
	assert_non_null(strstr(err, "neither loopback nor private"));
	snprintf(any6, sizeof(any6), "[2001:db8::1]:%d", port);
	assert_int_equal(run_stopped(v6, RUN_PLAIN, 0, err, sizeof(err)), 64);
	assert_non_null(strstr(err, "refusing to listen on [2001:db8::1]:"));
	snprintf(any4, sizeof(any4), "0.0.0.0:%d", port);

	st = run_stopped(passed, RUN_NETNS_PASSED, port, err, sizeof(err));
	assert_int_equal(st, 1);
	assert_non_null(strstr(err, "refusing to listen on 0.0.0.0:"));
	assert_non_null(strstr(err, "ListenStream="));
	st = run_stopped(passed_any, RUN_NETNS_PASSED, port, err, sizeof(err));
	assert_int_equal(st, 78);
	assert_null(strstr(err, "refusing to listen"));

	/* ListenStream=127.0.0.1:P, as a drop-in of the .socket unit says */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port(AF_INET));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		activate_exec(addr, prog);
	track(pid);
	st = -1;
	for (int i = 0; i < 100 && (st = fcgi_get(addr, "/metrics", 0)) < 0;
	     i++)
		usleep(50 * 1000);
	assert_int_equal(st, 200);
	assert_int_equal(fcgi_get(addr, "/metrics", 0), 200);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_true(wait_exit_peek(pid, 15000));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * Run as root without STORYJOBS_ALLOW_ROOT=1 (the suite itself runs as
 * root with it), the worker and a FastCGI program refuse to start: exit
 * 1, no READY=1, no socket.
 */
static void
test_refuses_root(void **state)
{
	const char *sock = getenv("ACTIVATED_SOCK"), *dir = getenv("FCGI_DIR");
	struct notify n;
	const char *env[3];
	char prog[512];
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(geteuid(), 0);
	notify_open(&n);
	env[0] = n.env;
	env[1] = "STORYJOBS_ALLOW_ROOT=0";
	env[2] = NULL;
	pid = itest_worker(env);
	assert_true(wait_exit_peek(pid, 10000));
	assert_int_equal(itest_worker_stop(pid, 0), 1);
	assert_false(notify_wait(&n, "READY=1", 100));
	notify_close(&n);

	assert_non_null(sock);
	assert_non_null(dir);
	snprintf(prog, sizeof(prog), "%s/storyjobs-health", dir);
	unlink(sock);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsetenv("STORYJOBS_ALLOW_ROOT");
		execl(prog, prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	track(pid);
	assert_true(wait_exit_peek(pid, 10000));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_not_equal(access(sock, F_OK), 0);
}

/* Whatever a failed case left running: its children, then itself. */
static int
kill_leftovers(void **state)
{
	(void)state;
	/* a restart case that failed with the jobs table locked */
	if (PQtransactionStatus(itest_pg) != PQTRANS_IDLE)
		PQclear(PQexec(itest_pg, "ROLLBACK"));
	for (size_t i = 0; i < sizeof(started) / sizeof(started[0]); i++) {
		pid_t kids[8];
		int n;

		/* only a child of ours not reaped yet (never a reused pid) */
		if (started[i] <= 0 || waitpid(started[i], NULL, WNOHANG) != 0)
			continue;
		n = children_of(started[i], kids, 8);
		kill(started[i], SIGKILL);
		for (int k = 0; k < n; k++)
			kill(kids[k], SIGKILL);
		waitpid(started[i], NULL, 0);
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_worker_ready_reload_stop),
	    cmocka_unit_test(test_worker_not_ready_without_database),
	    cmocka_unit_test(test_fcgi_socket_activation),
	    cmocka_unit_test(test_fcgi_hup_second_instance_orphans),
	    cmocka_unit_test(test_fcgi_no_request_lost_on_reload),
	    cmocka_unit_test(test_fcgi_no_request_lost_on_restart),
	    cmocka_unit_test(test_fcgi_tcp),
	    cmocka_unit_test(test_fcgi_tcp_wildcard),
	    cmocka_unit_test(test_refuses_root),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, kill_leftovers);
	itest_done();
	return rc;
}
