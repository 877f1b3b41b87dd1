/*
 * The process model every FastCGI program shares: a small prefork server.
 * The parent loads the configuration once, creates the unix socket (mode
 * 0660, group chosen by the operator, never a TCP port), forks the
 * workers and restarts any that die.  Each child runs serve() with its own
 * database session.  SIGTERM to the parent stops the children (a child
 * finishes the request in hand first) and removes the socket.
 */
#ifndef SJ_SERVER_H
#define SJ_SERVER_H

#include "cfg.h"

/* Runs one child's accept loop on listen_fd until asked to stop. */
typedef void (*server_serve_fn)(int listen_fd, const struct cfg *c);

/*
 * Parses --socket PATH, --processes N, --socket-group GROUP, --help;
 * loads the configuration (refusing to start on any error, exit 78);
 * runs the server.  Started by socket activation (systemd's .socket unit,
 * LISTEN_FDS), it serves the socket passed instead: --socket is then not
 * needed, and the socket is left in place at exit.  Returns the process
 * exit status.
 */
int server_main(int argc, char **argv, const char *prog, server_serve_fn serve);

/* True once the child has been asked to stop (checked between requests). */
int server_stopping(void);
/* Brackets a request: a stop signal waits for the request to finish. */
void server_request_begin(void);
void server_request_end(void);

#endif
