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
 * socket another live instance serves, and takes no orphan with it.  As
 * root, the programs refuse to start unless STORYJOBS_ALLOW_ROOT=1.
 *
 * Environment: BASE_URL, DATABASE_URL, WORKER_BIN, FCGI_DIR (the folder
 * of storyjobs-health), ACTIVATED_SOCK (the socket nginx sends
 * /activated/... to, with the prefix cut).
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define NOTIFY_WAIT_MS 20000
#define MSG_MAX	       4096

extern char **environ;

/* Programs a case started, killed by the teardown if a failure left them. */
static pid_t started[16];

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
	char prog[512];
	int n, status;

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

	second = fork();
	assert_true(second >= 0);
	if (second == 0) {
		execl(prog, prog, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	track(second);
	/* a second instance that took the socket over would keep running */
	if (!wait_exit_peek(second, 10000))
		kill(second, SIGKILL);
	assert_int_equal(waitpid(second, &status, 0), second);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
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
	    cmocka_unit_test(test_refuses_root),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, NULL, kill_leftovers);
	itest_done();
	return rc;
}
