/*
 * DESIGN
 * Parent: socket, fork N children, supervise.  A child that exits, or a
 * slot whose fork failed, is refilled, at most once a second, so a crash
 * loop cannot spin the CPU.  The parent keeps HUP, TERM, INT and CHLD
 * blocked and takes them with sigtimedwait(), so a signal that arrives
 * while it is busy is acted on at the next wait, never lost.
 * Children keep TERM and INT blocked except while they wait for a
 * connection in ppoll(): an idle child exits at once, a child with a
 * request finishes it (the signal stays pending) and exits before taking
 * another.  libfcgi is only called once the listening socket (made
 * O_NONBLOCK) is readable, so a connection it accepts is always served;
 * another child winning the race only costs an EAGAIN.  The handler sets
 * a flag and nothing else.
 * Under socket activation the socket is systemd's: used as passed, never
 * unlinked, so requests queue in it across a restart.  Without it, the
 * program makes its unix socket itself (cgi/unixsock.c: a lock file held
 * for its lifetime refuses a second instance, and only a socket left by a
 * program that died is replaced).  --listen ADDR:PORT serves FastCGI over
 * TCP instead (cgi/tcp.c: no lock file, the kernel's EADDRINUSE refuses a
 * second instance; a wildcard address only with --listen-any, for a passed
 * TCP socket too).
 *
 * SIGHUP to the parent re-reads the configuration (a bad one is logged
 * and the old one kept) and replaces the children one at a time: the new
 * child is forked first, then the old one gets SIGTERM, finishes the
 * request in hand and is waited for (up to SERVER_RELOAD_WAIT_S) before
 * the next slot, so the socket is never without a reader and there is at
 * most one process (and database session) more than --processes.  A slot
 * whose new fork fails keeps its old child.  Children ignore SIGHUP and
 * get SIGTERM when the parent dies (PR_SET_PDEATHSIG, Linux), so none is
 * left serving as an orphan.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* ppoll */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "daemon.h"
#include "log.h"
#include "migrate.h"
#include "num.h"
#include "server.h"
#include "tcp.h"
#include "unixsock.h"

#define SERVER_MAX_PROCS     64
#define SERVER_RELOAD_WAIT_S 30

static volatile sig_atomic_t stop_flag;
static int reload_flag;
static const char *server_prog; /* for log_init() after a reload */

/* What the parent's command line asked for. */
struct server_opts {
	const char *path, *group, *listen;
	struct tcp_addr tcp; /* --listen, parsed */
	bool any;	     /* --listen-any: a wildcard address allowed */
	int64_t nprocs;
};

/* The signals the parent takes with sigtimedwait(). */
static void
parent_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGCHLD);
}

/* The signals a child keeps blocked outside ppoll(). */
static void
child_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

static void
child_on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
on_signal(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A stop asked for and not yet delivered (blocked outside ppoll). */
static int
stop_pending(void)
{
	sigset_t p;

	if (stop_flag)
		return 1;
	return sigpending(&p) == 0 &&
	       (sigismember(&p, SIGTERM) == 1 || sigismember(&p, SIGINT) == 1);
}

int
server_wait_request(int listen_fd)
{
	struct pollfd p = {.fd = listen_fd, .events = POLLIN};
	sigset_t open;

	sigemptyset(&open);
	for (;;) {
		int n;

		if (stop_pending())
			return 0;
		p.revents = 0;
		n = ppoll(&p, 1, NULL, &open);
		if (n < 0 && errno != EINTR)
			return 0;
		if (n > 0 && (p.revents & POLLIN) && !stop_pending())
			return 1;
		if (n > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
			return 0;
	}
}

/* The child's side of spawn(): its signals, then serve() until stopped. */
static void
child_run(int fd, const struct cfg *c, server_serve_fn serve, pid_t parent)
{
	sigset_t set;

	child_signals(&set);
	on_signal(SIGTERM, child_on_term);
	on_signal(SIGINT, child_on_term);
	on_signal(SIGHUP, SIG_IGN);
	on_signal(SIGPIPE, SIG_IGN);
	on_signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, &set, NULL);
#ifdef __linux__
	/* die with the parent; it may already be gone */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		_exit(0);
#endif
	if (getppid() != parent)
		_exit(0);
	serve(fd, c);
	_exit(0);
}

/* A new child, or -1 (logged) when fork fails. */
static pid_t
spawn(int fd, const struct cfg *c, server_serve_fn serve)
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0)
		child_run(fd, c, serve, parent);
	if (pid < 0)
		log_error("cannot start a process: %s", strerror(errno));
	return pid;
}

/*
 * Waits up to ms (ms < 0: as long as it takes) for a signal of the
 * parent's set; TERM/INT set stop_flag, HUP reload_flag.
 */
static void
wait_signal(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000,
			      .tv_nsec = (ms % 1000) * 1000000L};
	sigset_t set;
	int sig;

	parent_signals(&set);
	sig = sigtimedwait(&set, NULL, ms < 0 ? NULL : &ts);
	if (sig == SIGTERM || sig == SIGINT)
		stop_flag = 1;
	else if (sig == SIGHUP)
		reload_flag = 1;
}

/*
 * Reaps every child that exited: a supervised one frees its slot (-1,
 * refilled by the loop).  1 when watch was among them.
 */
static int
reap(pid_t *kids, int nprocs, pid_t watch)
{
	int status, seen = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == watch)
			seen = 1;
		for (int i = 0; i < nprocs; i++) {
			if (kids[i] != pid)
				continue;
			if (!stop_flag)
				log_warn("child %ld exited (status %d); "
					 "restarting",
					 (long)pid, status);
			kids[i] = -1;
		}
	}
	return seen;
}

/* SIGTERM to old, then waits (bounded) until it has exited. */
static void
retire(pid_t old, pid_t *kids, int nprocs)
{
	time_t end = time(NULL) + SERVER_RELOAD_WAIT_S;

	kill(old, SIGTERM);
	while (!reap(kids, nprocs, old) && !stop_flag) {
		if (time(NULL) >= end) {
			log_warn("child %ld still busy after %d s; going on",
				 (long)old, SERVER_RELOAD_WAIT_S);
			return;
		}
		wait_signal(1000);
	}
}

/*
 * SIGHUP: the configuration again into *c (kept as it was when the new
 * one is bad), then each child replaced by one that has it, one at a time.
 */
static void
reload(int fd, struct cfg *c, server_serve_fn serve, pid_t *kids, int nprocs)
{
	struct cfg_errs errs;
	struct cfg n;
	int lvl, done = 0;

	memset(&errs, 0, sizeof(errs));
	if (cfg_load_env(&n, &errs) != SJ_OK) {
		cfg_log_errs(&errs);
		log_error("reload failed; keeping the running configuration");
		return;
	}
	cfg_free(c);
	*c = n;
	if ((lvl = log_level_parse(c->log_level)) >= 0)
		log_init(server_prog, (enum log_level)lvl);
	for (int i = 0; i < nprocs && !stop_flag; i++) {
		pid_t old = kids[i], pid = spawn(fd, c, serve);

		if (pid < 0)
			continue; /* the old child keeps serving */
		kids[i] = pid;
		done++;
		if (old > 0)
			retire(old, kids, nprocs);
	}
	log_info("configuration reloaded; %d of %d processes replaced", done,
		 nprocs);
}

static int
all_running(const pid_t *kids, int nprocs)
{
	for (int i = 0; i < nprocs; i++)
		if (kids[i] <= 0)
			return 0;
	return 1;
}

/* Supervises the children until SIGTERM; then stops them all. */
static void
supervise(int fd, struct cfg *c, server_serve_fn serve, int nprocs)
{
	pid_t kids[SERVER_MAX_PROCS];
	time_t last_spawn = 0;

	for (int i = 0; i < nprocs; i++)
		kids[i] = spawn(fd, c, serve);
	while (!stop_flag) {
		if (reload_flag) {
			reload_flag = 0;
			reload(fd, c, serve, kids, nprocs);
			continue;
		}
		reap(kids, nprocs, -1);
		for (int i = 0; i < nprocs && !stop_flag; i++) {
			if (kids[i] > 0 || time(NULL) == last_spawn)
				continue;
			last_spawn = time(NULL);
			kids[i] = spawn(fd, c, serve);
		}
		/* an empty slot (throttled, fork failed) is retried in 1 s */
		wait_signal(all_running(kids, nprocs) ? -1 : 1000);
	}
	for (int i = 0; i < nprocs; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	/* every child, those a reload replaced included */
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --socket PATH [--processes N] [--socket-group G]\n"
		"       %s --listen ADDR:PORT [--listen-any] [--processes N]\n"
		"       %s --help | --version\n"
		"--socket and --listen are not needed when systemd passes the "
		"socket.\n"
		"--listen takes IPV4:PORT or [IPV6]:PORT, a private address "
		"only the\nweb servers reach (FastCGI has no authentication); "
		"a wildcard address\n(0.0.0.0, ::) needs --listen-any.\n"
		"Configuration comes from the environment and %s\n"
		"(or the file STORYJOBS_CONFIG names); see storyjobs.conf(5).\n"
		"Signals: TERM/INT stop after the requests in hand; HUP "
		"re-reads the\nconfiguration and replaces the processes.\n",
		prog, prog, prog, cfg_default_file());
}

/* The options that go together, --listen parsed; as parse_args(). */
static int
check_args(struct server_opts *o)
{
	if (o->path != NULL && o->listen != NULL) {
		log_error("--socket and --listen: give one of them");
		return 64;
	}
	if (o->group != NULL && o->path == NULL) {
		log_error("--socket-group is for a --socket (a TCP port has no "
			  "group)");
		return 64;
	}
	if (o->listen != NULL && tcp_addr_parse(o->listen, &o->tcp) != 0)
		return 64;
	/* before the configuration: tcp_listen() would refuse it too */
	if (o->listen != NULL && !o->any &&
	    tcp_is_exposed((const struct sockaddr *)&o->tcp.sa)) {
		tcp_refuse_wildcard(o->listen, "Listen on");
		return 64;
	}
	return -1;
}

/* The command line into *o; -1 to go on, else the exit status. */
static int
parse_args(int argc, char **argv, const char *prog, struct server_opts *o)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"processes", required_argument, NULL, 'p'},
	    {"socket-group", required_argument, NULL, 'g'},
	    {"listen", required_argument, NULL, 'l'},
	    {"listen-any", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int ch;

	o->path = o->group = o->listen = NULL;
	o->any = false;
	o->nprocs = 2;
	while ((ch = getopt_long(argc, argv, "s:p:g:l:ahV", opts, NULL)) !=
	       -1) {
		if (ch == 'V') {
			printf("%s %s\n", prog, PACKAGE_VERSION);
			return 0;
		} else if (ch == 's')
			o->path = optarg;
		else if (ch == 'g')
			o->group = optarg;
		else if (ch == 'l')
			o->listen = optarg;
		else if (ch == 'a')
			o->any = true;
		else if (ch == 'p' && num_i64(optarg, 1, SERVER_MAX_PROCS,
					      &o->nprocs) == SJ_OK)
			continue;
		else {
			usage(ch == 'h' ? stdout : stderr, prog);
			return ch == 'h' ? 0 : 64;
		}
	}
	return check_args(o);
}

/* The socket served (made O_NONBLOCK) and the signals blocked. */
static int
serve_socket(const struct server_opts *o, int passed)
{
	sigset_t set;
	int fd = passed, fl;

	if (fd < 0 && o->listen != NULL)
		fd = tcp_listen(&o->tcp, o->any);
	else if (fd < 0)
		fd = unixsock_listen(o->path, o->group);
	if (fd < 0)
		return -1;
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		log_error("cannot set up the socket: %s", strerror(errno));
		if (passed < 0)
			close(fd);
		return -1;
	}
	parent_signals(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	on_signal(SIGPIPE, SIG_IGN);
	return fd;
}

/* Loads the configuration, opens the socket, serves until stopped. */
static int
run(const char *prog, const struct server_opts *o, int passed,
    const char *where, server_serve_fn serve)
{
	struct cfg_errs errs;
	struct cfg c;
	int fd, rc;

	if (cfg_load_env(&c, &errs) != SJ_OK) {
		cfg_log_errs(&errs);
		log_error("refusing to start: invalid configuration");
		return 78;
	}
	log_init(prog, (enum log_level)log_level_parse(c.log_level));
	db_pooling_set(c.database_pooling);
	/* before the socket and the children: refuse another schema */
	if ((rc = schema_check_start(c.database_url, prog)) != 0) {
		cfg_free(&c);
		return rc;
	}
	if ((fd = serve_socket(o, passed)) < 0) {
		cfg_free(&c);
		return 1;
	}
	log_info("listening on %s%s with %d processes", where,
		 passed >= 0 ? " (the socket systemd passed)" : "",
		 (int)o->nprocs);
	supervise(fd, &c, serve, (int)o->nprocs);
	close(fd);
	/* systemd's socket is systemd's: it outlives this process */
	if (passed < 0 && o->path != NULL)
		unlink(o->path);
	cfg_free(&c);
	log_info("stopped");
	return 0;
}

int
server_main(int argc, char **argv, const char *prog, server_serve_fn serve)
{
	char where[TCP_ADDR_TEXT_MAX + UNIXSOCK_PATH_MAX];
	struct server_opts o;
	int rc, passed;

	server_prog = prog;
	log_init(prog, LOG_LVL_INFO);
	if ((rc = parse_args(argc, argv, prog, &o)) >= 0)
		return rc;
	if (daemon_refuse_root(prog))
		return 1;
	/* socket activation: systemd's socket wins over --socket/--listen */
	if ((passed = daemon_listen_fd()) == -2)
		return 1;
	if (passed >= 0 &&
	    tcp_check_passed(passed, o.any, where, sizeof(where)) != 0)
		return 1;
	if (o.path == NULL && o.listen == NULL && passed < 0) {
		usage(stderr, prog);
		return 64;
	}
	if (passed < 0)
		snprintf(where, sizeof(where), "%s",
			 o.path != NULL ? o.path : o.listen);
	return run(prog, &o, passed, where, serve);
}
