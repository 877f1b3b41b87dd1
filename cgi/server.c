/*
 * DESIGN
 * Parent: socket, fork N children, supervise.  A child that exits is
 * replaced, at most once a second, so a crash loop cannot spin the CPU.
 * Children: SIGTERM while idle (blocked in accept) exits at once; during a
 * request it only sets a flag and the child exits after the response.
 * Signal handlers touch nothing but sig_atomic_t flags and _exit().
 * Under socket activation the socket is systemd's: used as passed, never
 * unlinked, so requests queue in it across a restart.  Without it, a
 * socket path that a live program still answers on is refused (a second
 * instance must not steal it); only a dead one is replaced.
 *
 * SIGHUP to the parent re-reads the configuration (a bad one is logged
 * and the old one kept) and replaces the children one at a time: the new
 * child is forked first, then the old one gets SIGTERM and finishes the
 * request in hand, so the socket is never without a reader.  Children
 * ignore SIGHUP and get SIGTERM when the parent dies (PR_SET_PDEATHSIG),
 * so none is left serving as an orphan.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
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

#include "daemon.h"
#include "log.h"
#include "migrate.h"
#include "num.h"
#include "server.h"

#define SERVER_MAX_PROCS 64

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reload_flag;
static volatile sig_atomic_t in_request;
static const char *server_prog; /* for log_init() after a reload */

int
server_stopping(void)
{
	return stop_flag;
}

void
server_request_begin(void)
{
	in_request = 1;
}

void
server_request_end(void)
{
	in_request = 0;
}

static void
child_on_term(int sig)
{
	(void)sig;
	if (!in_request)
		_exit(0);
	stop_flag = 1;
}

static void
parent_on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
parent_on_hup(int sig)
{
	(void)sig;
	reload_flag = 1;
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

/*
 * Makes way for a socket at path: nothing there is fine; a socket nobody
 * answers on (left by a program that died) is removed; a socket a live
 * program serves, or anything that is not a socket, is refused.
 */
static int
clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	       errno == EAGAIN;
	close(fd);
	if (live) {
		log_error("%s is served by a running program; stop it first",
			  path);
		return -1;
	}
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Binds a fresh unix socket at path, mode 0660, group group. */
static int
open_socket(const char *path, const char *group)
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
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (clear_stale(path, &sun) != 0) {
		close(fd);
		return -1;
	}
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

static pid_t
spawn(int fd, const struct cfg *c, server_serve_fn serve)
{
	pid_t parent = getpid(), pid = fork();

	if (pid != 0)
		return pid;
	on_signal(SIGTERM, child_on_term);
	on_signal(SIGINT, child_on_term);
	on_signal(SIGHUP, SIG_IGN);
	on_signal(SIGPIPE, SIG_IGN);
	/* die with the parent; it may already be gone */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(0);
	serve(fd, c);
	_exit(0);
}

/*
 * SIGHUP: the configuration again into *c (kept as it was when the new
 * one is bad), then each child replaced by one that has it.
 */
static void
reload(int fd, struct cfg *c, server_serve_fn serve, pid_t *kids, int nprocs)
{
	struct cfg_errs errs;
	struct cfg n;
	int lvl;

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
	for (int i = 0; i < nprocs; i++) {
		pid_t old = kids[i];

		kids[i] = spawn(fd, c, serve);
		if (old > 0)
			kill(old, SIGTERM);
	}
	log_info("configuration reloaded; %d processes replaced", nprocs);
}

/* Supervises the children until SIGTERM; then stops them all. */
static void
supervise(int fd, struct cfg *c, server_serve_fn serve, int nprocs)
{
	pid_t kids[SERVER_MAX_PROCS];
	time_t last_spawn = 0;
	int status;

	for (int i = 0; i < nprocs; i++)
		kids[i] = spawn(fd, c, serve);
	while (!stop_flag) {
		pid_t pid;

		if (reload_flag) {
			reload_flag = 0;
			reload(fd, c, serve, kids, nprocs);
			continue;
		}
		if ((pid = waitpid(-1, &status, 0)) < 0)
			continue;
		for (int i = 0; i < nprocs; i++) {
			if (kids[i] != pid || stop_flag)
				continue;
			log_warn("child %ld exited (status %d); restarting",
				 (long)pid, status);
			if (time(NULL) == last_spawn)
				sleep(1);
			last_spawn = time(NULL);
			kids[i] = spawn(fd, c, serve);
		}
	}
	for (int i = 0; i < nprocs; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	/* every child, those a reload replaced included */
	while (waitpid(-1, &status, 0) > 0 || errno == EINTR)
		;
}

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --socket PATH [--processes N] [--socket-group G]\n"
		"       %s --help | --version\n"
		"--socket is not needed when systemd passes the socket.\n"
		"Configuration comes from the environment and %s\n"
		"(or the file STORYJOBS_CONFIG names); see storyjobs.conf(5).\n"
		"Signals: TERM/INT stop after the requests in hand; HUP "
		"re-reads the\nconfiguration and replaces the processes.\n",
		prog, prog, cfg_default_file());
}

int
server_main(int argc, char **argv, const char *prog, server_serve_fn serve)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"processes", required_argument, NULL, 'p'},
	    {"socket-group", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	const char *path = NULL, *group = NULL;
	struct cfg_errs errs;
	struct cfg c;
	int64_t nprocs = 2;
	int ch, fd, rc, passed;

	server_prog = prog;
	log_init(prog, LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "s:p:g:hV", opts, NULL)) != -1) {
		if (ch == 'V') {
			printf("%s %s\n", prog, PACKAGE_VERSION);
			return 0;
		} else if (ch == 's')
			path = optarg;
		else if (ch == 'g')
			group = optarg;
		else if (ch == 'p' &&
			 num_i64(optarg, 1, SERVER_MAX_PROCS, &nprocs) == SJ_OK)
			continue;
		else {
			usage(ch == 'h' ? stdout : stderr, prog);
			return ch == 'h' ? 0 : 64;
		}
	}
	if (daemon_refuse_root(prog))
		return 1;
	/* socket activation: systemd's socket wins over --socket */
	if ((passed = daemon_listen_fd()) == -2)
		return 1;
	if (path == NULL && passed < 0) {
		usage(stderr, prog);
		return 64;
	}
	if (cfg_load_env(&c, &errs) != SJ_OK) {
		cfg_log_errs(&errs);
		log_error("refusing to start: invalid configuration");
		return 78;
	}
	log_init(prog, (enum log_level)log_level_parse(c.log_level));
	/* before the socket and the children: refuse another schema */
	if ((rc = schema_check_start(c.database_url, prog)) != 0) {
		cfg_free(&c);
		return rc;
	}
	if ((fd = passed) < 0 && (fd = open_socket(path, group)) < 0) {
		cfg_free(&c);
		return 1;
	}
	on_signal(SIGTERM, parent_on_term);
	on_signal(SIGINT, parent_on_term);
	on_signal(SIGHUP, parent_on_hup);
	on_signal(SIGPIPE, SIG_IGN);
	log_info("listening on %s with %d processes",
		 passed >= 0 ? "the socket systemd passed" : path, (int)nprocs);
	supervise(fd, &c, serve, (int)nprocs);
	close(fd);
	/* systemd's socket is systemd's: it outlives this process */
	if (passed < 0)
		unlink(path);
	cfg_free(&c);
	log_info("stopped");
	return 0;
}
