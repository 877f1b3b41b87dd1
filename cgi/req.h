/*
 * The request layer every FastCGI program shares.  A request is parsed at
 * the edge into a struct req: method, path, query and headers come from
 * FCGX_GetParam (never the environment), the body is read exactly as
 * CONTENT_LENGTH says and capped, JSON bodies pass the strict parser.
 * A path or query string that is not UTF-8 by PostgreSQL's rules is
 * answered 400 before any handler runs.  Handlers answer with req_json()
 * or req_error(); every error carries the envelope {"error", "code",
 * "details"?}.
 */
#ifndef SJ_REQ_H
#define SJ_REQ_H

#include <fcgiapp.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "db.h"

#include "route.h"

#define REQ_MAX_CAPS ROUTE_MAX_CAPS

struct req {
	FCGX_Request *fcgx;
	const struct cfg *cfg;
	struct db *db; /* this process's session */
	const char *method;
	const char *path; /* decoded, normalized by nginx ($uri) */
	const char *query;
	char id[40]; /* request id, for logs and X-Request-Id */
	char *body;  /* NUL-terminated; NULL until read */
	size_t body_len;
	int status;	   /* status sent, for the access log */
	const char *route; /* the matched pattern, for the counters */
	int64_t start_us;
};

struct route {
	const char *method;
	const char *pattern; /* "/api/jobs/ * /start": '*' is a segment */
	void (*fn)(struct req *r, const char *caps[REQ_MAX_CAPS]);
};

/* A request parameter (CGI variable), or NULL. */
const char *req_param(struct req *r, const char *name);

/*
 * Reads the body: CONTENT_LENGTH must be digits only and at most cap,
 * and exactly that many bytes must arrive.  On failure the error answer
 * has been sent and -1 is returned.
 */
int req_read_body(struct req *r, size_t cap);
/*
 * Reads a JSON body (Content-Type application/json) into *out (caller
 * puts).  On failure the error answer has been sent and -1 is returned.
 */
int req_read_json(struct req *r, struct json_object **out);

/* Sends status with the JSON document o (borrowed); cache may be NULL. */
void req_json(struct req *r, int status, struct json_object *o,
	      const char *cache);
/* Sends the error envelope; details (may be NULL) is borrowed. */
void req_error(struct req *r, int status, const char *code, const char *msg,
	       struct json_object *details);
/* The error answer for a library error: 503 database, 500 otherwise. */
void req_fail(struct req *r, int e);

/*
 * Finds the route for the request and calls it: 404 NOT_FOUND when no
 * pattern matches the path, 405 with Allow when only the method differs.
 */
void req_dispatch(struct req *r, const struct route *routes, size_t n);

/*
 * The whole program of an endpoint family: the prefork server of
 * server.c, each child answering with routes (borrowed for the life of
 * the process).  Returns the exit status.
 */
int req_main(int argc, char **argv, const char *prog,
	     const struct route *routes, size_t nroutes);

/*
 * The accept loop of one child: FCGX_Accept_r, build a struct req, call
 * handle, finish, log one access line.  Opens the child's db session.
 */
void req_serve(int listen_fd, const struct cfg *c, const char *prog,
	       void (*handle)(struct req *r));

/* Sends a non-JSON body (e.g. the Prometheus text) with ctype. */
void req_text(struct req *r, int status, const char *ctype, const char *body,
	      size_t len);
/*
 * Answers a job state change that returned e: 409 CONFLICT (conflict),
 * 404 JOB_NOT_FOUND, the database error, or 200 {jobId, status} — or
 * {jobId, deleted: true} when status is NULL.
 */
void req_job_change(struct req *r, const char *id, int e, const char *status,
		    const char *conflict);
/* 429 RATE_LIMIT_EXCEEDED with retryAfter (seconds) and Retry-After. */
void req_too_many(struct req *r, int retry_after);

#endif
