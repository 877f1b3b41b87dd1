/*
 * The process model every FastCGI program shares: a small prefork server.
 * The parent loads the configuration once, creates the unix socket (mode
 * 0660, group chosen by the operator) or the TCP one (--listen), forks the
 * workers and restarts any that die.  Each child runs serve() with its own
 * database session.  SIGTERM to the parent stops the children (a child
 * finishes the request in hand first) and removes the socket.  SIGHUP
 * re-reads the configuration and replaces the children one at a time.
 */
#ifndef SJ_SERVER_H
#define SJ_SERVER_H

#include "cfg.h"

/* Runs one child's accept loop on listen_fd until asked to stop. */
typedef void (*server_serve_fn)(int listen_fd, const struct cfg *c);

/*
 * Parses --socket PATH, --socket-group GROUP, --listen ADDR:PORT,
 * --listen-any, --processes N, --help (a bad command line: exit 64);
 * loads the configuration (refusing to start on any error, exit 78);
 * runs the server (a socket it cannot have, a port in use included:
 * exit 1).  Started by socket activation (systemd's .socket unit,
 * LISTEN_FDS), it serves the socket passed instead, unix or TCP (a TCP
 * one on a wildcard address only with --listen-any): --socket is then
 * not needed, and the socket is left in place at exit.  Returns the
 * process exit status.
 */
int server_main(int argc, char **argv, const char *prog, server_serve_fn serve);

/*
 * In a child: waits until listen_fd (O_NONBLOCK) has a connection to
 * accept (1) or the child has been asked to stop (0).  A stop signal is
 * only taken here: one that comes during a request waits for it to end.
 */
int server_wait_request(int listen_fd);

#endif
