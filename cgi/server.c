/*
 * DESIGN
 * Parent: socket, fork N children, supervise.  A child that exits is
 * replaced, at most once a second, so a crash loop cannot spin the CPU.
 * Children: SIGTERM while idle (blocked in accept) exits at once; during a
 * request it only sets a flag and the child exits after the response.
 * Signal handlers touch nothing but sig_atomic_t flags and _exit().
 * Under socket activation the socket is systemd's: used as passed, never
 * unlinked, so requests queue in it across a restart.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static volatile sig_atomic_t in_request;

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
on_signal(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
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
	unlink(path);
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
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	on_signal(SIGTERM, child_on_term);
	on_signal(SIGINT, child_on_term);
	on_signal(SIGPIPE, SIG_IGN);
	serve(fd, c);
	_exit(0);
}

/* Supervises the children until SIGTERM; then stops them. */
static void
supervise(int fd, const struct cfg *c, server_serve_fn serve, int nprocs)
{
	pid_t kids[SERVER_MAX_PROCS];
	time_t last_spawn = 0;
	int status;

	for (int i = 0; i < nprocs; i++)
		kids[i] = spawn(fd, c, serve);
	while (!stop_flag) {
		pid_t pid = waitpid(-1, &status, 0);

		if (pid < 0)
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
	for (int i = 0; i < nprocs; i++)
		if (kids[i] > 0)
			waitpid(kids[i], &status, 0);
}

static void
usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s --socket PATH [--processes N] [--socket-group G]\n"
		"--socket is not needed when systemd passes the socket.\n"
		"Configuration comes from the environment (see README).\n",
		prog);
}

int
server_main(int argc, char **argv, const char *prog, server_serve_fn serve)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"processes", required_argument, NULL, 'p'},
	    {"socket-group", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *path = NULL, *group = NULL;
	struct cfg_errs errs;
	struct cfg c;
	int64_t nprocs = 2;
	int ch, fd, rc, passed;

	log_init(prog, LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "s:p:g:h", opts, NULL)) != -1) {
		if (ch == 's')
			path = optarg;
		else if (ch == 'g')
			group = optarg;
		else if (ch == 'p' &&
			 num_i64(optarg, 1, SERVER_MAX_PROCS, &nprocs) == SJ_OK)
			continue;
		else {
			usage(prog);
			return ch == 'h' ? 0 : 64;
		}
	}
	/* socket activation: systemd's socket wins over --socket */
	if ((passed = daemon_listen_fd()) == -2)
		return 1;
	if (path == NULL && passed < 0) {
		usage(prog);
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
