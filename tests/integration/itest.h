/*
 * Shared helpers of the integration tests: HTTP through nginx with
 * libcurl, a side PostgreSQL session for checking what was written, and
 * the sysadmin tool for creating users.
 *
 * Environment: BASE_URL, DATABASE_URL, STORYJOBSCTL (path), WORKER_BIN.
 */
#ifndef SJ_ITEST_H
#define SJ_ITEST_H

#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#include "buf.h"

struct resp {
	long status;
	char ctype[128];
	char retry_after[32]; /* Retry-After header, or "" */
	struct buf body;
	struct json_object *json; /* parsed when the answer is JSON */
};

extern const char *itest_base;
extern PGconn *itest_pg;

/* Reads the environment, connects; exits 1 when something is missing. */
void itest_init(void);
void itest_done(void);

/*
 * One request.  headers: NULL or a NULL-terminated list of "Name: value".
 * body NULL: none; len < 0: strlen(body).  path "/..." is relative to
 * BASE_URL, anything else is a full URL.
 */
void http(const char *method, const char *path, const char *const *headers,
	  const char *body, long len, struct resp *r);
/*
 * Sends the requests of http() and its wrappers from the loopback address
 * addr (e.g. "127.0.0.2": nginx sees it as REMOTE_ADDR), or from the
 * default address again when addr is NULL.
 */
void itest_source(const char *addr);
/* POST a JSON body, with an optional Bearer token. */
void http_json(const char *method, const char *path, const char *token,
	       const char *body, struct resp *r);
/* http_json() on a rate-limited route (waits out nginx's 429s). */
void http_json_patient(const char *method, const char *path, const char *token,
		       const char *body, struct resp *r);
/* Asserts the status, the error code and (when msg) the message. */
void expect_error(struct resp *r, long status, const char *code,
		  const char *msg);
void resp_free(struct resp *r);
/*
 * Sends the len bytes of text to nginx over a new connection (as they are:
 * for requests curl will not make) and reads the answer, NUL-terminated,
 * into answer (sz bytes) until nginx closes it; returns its status, -1
 * when it is not an HTTP/1.1 status line.
 */
int http_raw(const char *text, size_t len, char *answer, size_t sz);
/* http() on a rate-limited route: waits out nginx's 429s (up to 40 s). */
void http_patient(const char *method, const char *path,
		  const char *const *headers, const char *body, long len,
		  struct resp *r);

/* The member key of o; fails the test when it is missing. */
struct json_object *jmember(struct json_object *o, const char *key);
/* The string member key of o, or NULL. */
const char *jstr(struct json_object *o, const char *key);
/* The integer member key of o, or -1. */
long long jint(struct json_object *o, const char *key);

/* The first column of the first row of sql (no parameters). */
long long sql_ll(const char *sql);
/* The same as text, into out (asserting it fits). */
void sql_str(const char *sql, char *out, size_t outsz);
/* sql_ll() and sql_str() of sql with the n text parameters $1..$n. */
long long sql_ll_p(const char *sql, int n, const char *const *params);
void sql_str_p(const char *sql, int n, const char *const *params, char *out,
	       size_t outsz);
/*
 * Cancels every pending or processing job other suites left, so that a
 * suite counting upstream calls counts only its own jobs' calls.
 */
void itest_cancel_leftovers(void);

/* Runs STORYJOBSCTL with args (NULL-terminated), feeding input on stdin. */
int itest_ctl(const char *input, const char *const *args);
/* Creates a user (admin when admin) and logs in; token receives it. */
void itest_user(const char *email, const char *password, int admin,
		char token[128]);

/*
 * Starts WORKER_BIN with the test's environment plus env ("NAME=value",
 * or "NAME" to remove it; NULL-terminated, may be NULL).
 */
pid_t itest_worker(const char *const *env);
/*
 * itest_worker, then waits for the worker's first heartbeat row: its
 * session LISTENs by then (the beat needs a listening session).
 */
pid_t itest_worker_ready(const char *const *env);
/* Sends sig and waits; returns the exit status (or 128 + signal). */
int itest_worker_stop(pid_t pid, int sig);

/*
 * Starts storyjobs-jobs (FCGI_DIR) with one process on ACTIVATED_SOCK,
 * which nginx serves as /activated/..., with the test's environment plus
 * env ("NAME=value", NULL-terminated, may be NULL); returns once it
 * answers through nginx (fails the test otherwise).  itest_jobs_stop
 * ends it (SIGTERM, waited for) and removes the socket.
 */
pid_t itest_jobs_start(const char *const *env);
void itest_jobs_stop(pid_t pid);

/* Starts a job (asserting 200) and writes its id. */
void itest_job_start(const char *type, const char *body, const char *token,
		     char id[64]);
/* Polls until completed, failed or cancelled; the status document. */
struct json_object *itest_job_wait(const char *type, const char *id,
				   int timeout_s);
/* Start and wait; fails the test unless the job completed. */
struct json_object *itest_job_run(const char *type, const char *body,
				  const char *token, int timeout_s);

/* Wall-clock milliseconds (comparable with the fake server's log). */
int64_t itest_now_ms(void);
/*
 * Checks every scene of pages has a description and an image that
 * check_image accepts; returns the number of scenes.
 */
int itest_check_pages(struct json_object *pages,
		      void (*check_image)(const char *url));

#endif
