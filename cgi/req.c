/*
 * DESIGN
 * One request at a time per process (libfcgi's FCGX_Accept_r loop),
 * called only once server_wait_request() saw a connection waiting, so a
 * stop signal never lands between accepting a connection and answering
 * it; the listening socket is O_NONBLOCK and an EAGAIN (another process
 * took the connection) means wait again.
 * Nothing in a request outlives it: the body buffer and the parsed JSON
 * are freed before the next accept, so a long-lived process does not
 * grow.  Writes to the client are checked; a client that went away only
 * costs the rest of its own response (SIGPIPE is ignored).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <openssl/rand.h>

#include "digest.h"
#include "counters.h"
#include "err.h"
#include "jsonv.h"
#include "log.h"
#include "num.h"
#include "req.h"
#include "route.h"
#include "server.h"

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

const char *
req_param(struct req *r, const char *name)
{
	return FCGX_GetParam(name, r->fcgx->envp);
}

/* Writes the status line and headers, then the body. */
static void
req_send(struct req *r, int status, const char *ctype, const char *cache,
	 const char *extra, const char *body, size_t len)
{
	FCGX_Stream *out = r->fcgx->out;
	char head[768];
	int n;

	r->status = status;
	n = snprintf(head, sizeof(head),
		     "Status: %d %s\r\nContent-Type: %s\r\n"
		     "Cache-Control: %s\r\nX-Request-Id: %s\r\n"
		     "X-Content-Type-Options: nosniff\r\n%s\r\n",
		     status, reason(status), ctype, cache ? cache : "no-store",
		     r->id, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head) ||
	    FCGX_PutStr(head, n, out) != n ||
	    (len > 0 && FCGX_PutStr(body, (int)len, out) != (int)len))
		log_req(LOG_LVL_DEBUG, r->id, "client went away mid-response");
}

static void
req_json_ex(struct req *r, int status, struct json_object *o, const char *cache,
	    const char *extra)
{
	size_t len = 0;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	if (o == NULL || s == NULL) {
		static const char oom[] =
		    "{\"error\":\"Out of memory\",\"code\":\"INTERNAL_ERROR\"}";
		req_send(r, 500, "application/json; charset=utf-8", NULL, NULL,
			 oom, sizeof(oom) - 1);
		return;
	}
	req_send(r, status, "application/json; charset=utf-8", cache, extra, s,
		 len);
}

void
req_json(struct req *r, int status, struct json_object *o, const char *cache)
{
	req_json_ex(r, status, o, cache, NULL);
}

static void
req_error_ex(struct req *r, int status, const char *code, const char *msg,
	     struct json_object *details, const char *extra)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL || jv_add_str(o, "error", msg) != SJ_OK ||
	    jv_add_str(o, "code", code) != SJ_OK ||
	    (details != NULL &&
	     jv_add(o, "details", json_object_get(details)) != SJ_OK)) {
		json_object_put(o);
		o = NULL;
	}
	req_json_ex(r, status, o, NULL, extra);
	json_object_put(o);
}

void
req_error(struct req *r, int status, const char *code, const char *msg,
	  struct json_object *details)
{
	req_error_ex(r, status, code, msg, details, NULL);
}

void
req_fail(struct req *r, int e)
{
	if (e == SJ_EDB)
		req_error(r, 503, "DATABASE_ERROR",
			  "The database is unavailable; try again shortly",
			  NULL);
	else
		req_error(r, 500, "INTERNAL_ERROR", sj_strerror(e), NULL);
}

int
req_read_body(struct req *r, size_t cap)
{
	const char *cl = req_param(r, "CONTENT_LENGTH");
	uint64_t len = 0;
	int got;

	if (cl == NULL || *cl == '\0') {
		req_error(r, 411, "INVALID_INPUT", "Content-Length is required",
			  NULL);
		return -1;
	}
	if (num_u64_digits(cl, UINT64_MAX, &len) != SJ_OK) {
		req_error(r, 400, "INVALID_INPUT", "Invalid Content-Length",
			  NULL);
		return -1;
	}
	if (len > cap) {
		req_error(r, 413, "PAYLOAD_TOO_LARGE", "Request body too large",
			  NULL);
		return -1;
	}
	if ((r->body = malloc((size_t)len + 1)) == NULL) {
		req_error(r, 500, "INTERNAL_ERROR", "Out of memory", NULL);
		return -1;
	}
	got = len ? FCGX_GetStr(r->body, (int)len, r->fcgx->in) : 0;
	if (got < 0 || (uint64_t)got != len) {
		req_error(r, 400, "INVALID_INPUT",
			  "Request body shorter than Content-Length", NULL);
		return -1;
	}
	r->body[len] = '\0';
	r->body_len = (size_t)len;
	return 0;
}

/* "application/json" optionally followed by parameters. */
static int
is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	return ct != NULL && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int
req_read_json(struct req *r, struct json_object **out)
{
	const char *why = NULL;
	enum sj_err e;

	*out = NULL;
	if (!is_json_type(req_param(r, "CONTENT_TYPE"))) {
		req_error(r, 415, "UNSUPPORTED_MEDIA_TYPE",
			  "Content-Type must be application/json", NULL);
		return -1;
	}
	if (req_read_body(r, (size_t)r->cfg->max_body_bytes) != 0)
		return -1;
	e = json_parse_strict(r->body, r->body_len, JSONV_DEPTH, out, &why);
	if (e == SJ_OK && !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		why = "Request body must be a JSON object";
		e = SJ_EINVAL;
	}
	if (e != SJ_OK) {
		if (e == SJ_ETOOBIG)
			req_error(r, 413, "PAYLOAD_TOO_LARGE",
				  "Request body too large", NULL);
		else if (e == SJ_EINVAL)
			req_error(r, 400, "INVALID_INPUT", why, NULL);
		else
			req_fail(r, e);
		return -1;
	}
	return 0;
}

void
req_dispatch(struct req *r, const struct route *routes, size_t n)
{
	char scratch[1024], allow[128] = "", extra[160];
	const char *caps[REQ_MAX_CAPS];
	size_t al = 0;

	for (size_t i = 0; i < n; i++) {
		if (!route_match(routes[i].pattern, r->path, scratch,
				 sizeof(scratch), caps))
			continue;
		r->route = routes[i].pattern;
		if (strcmp(routes[i].method, r->method) == 0) {
			routes[i].fn(r, caps);
			return;
		}
		if (al + strlen(routes[i].method) + 3 < sizeof(allow))
			al += (size_t)snprintf(allow + al, sizeof(allow) - al,
					       "%s%s", al ? ", " : "",
					       routes[i].method);
	}
	if (al == 0) {
		req_error(r, 404, "NOT_FOUND", "Not found", NULL);
		return;
	}
	snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
	req_error_ex(r, 405, "INVALID_INPUT", "Method not allowed", NULL,
		     extra);
}

/* nginx's $request_id is 32 hex digits; anything else is replaced. */
static void
req_set_id(struct req *r)
{
	const char *v = req_param(r, "REQUEST_ID");
	unsigned char rnd[16];
	size_t n = v ? strlen(v) : 0;

	if (n >= 8 && n < sizeof(r->id) &&
	    strspn(v, "0123456789abcdefABCDEF") == n) {
		memcpy(r->id, v, n + 1);
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), r->id);
}

/*
 * The path (decoded by nginx) and the query string are valid UTF-8 by
 * PostgreSQL's rules.  Handlers still parse every part they use by its
 * own grammar (ids, types, numbers); this is what guarantees that no
 * text from the request line can reach the database and fail there.
 */
static bool
req_text_ok(const struct req *r)
{
	return jv_utf8_valid(r->path, strlen(r->path)) &&
	       (r->query == NULL || jv_utf8_valid(r->query, strlen(r->query)));
}

/*
 * Requests served, counted in memory by (route pattern, status), and
 * their latency by route pattern (a histogram of the time from accepting
 * the request to its last byte handed to libfcgi), added to
 * http_requests and http_request_durations at most every
 * REQ_COUNT_FLUSH_US, in one statement after a response is finished: no
 * database write per request, and none a client waits for.  A child that
 * stops adds what it has; an idle one keeps its counts until its next
 * request or its stop; only a killed one loses them.
 */
#define REQ_COUNTERS	   64
#define REQ_COUNT_FLUSH_US (5 * 1000000)

struct req_counts {
	struct http_count c[REQ_COUNTERS];
	size_t n;
	struct http_hist h[REQ_COUNTERS];
	size_t nh;
	int64_t flushed_us;
};

static void
req_time(struct req_counts *rc, const char *route, int64_t us)
{
	size_t i;

	for (i = 0; i < rc->nh; i++)
		if (strcmp(rc->h[i].route, route) == 0)
			break;
	if (i == rc->nh && rc->nh < REQ_COUNTERS) {
		memset(&rc->h[i], 0, sizeof(rc->h[i]));
		rc->h[rc->nh++].route = route;
	}
	if (i < rc->nh)
		hist_observe(&rc->h[i].h, &counters_http_le, (double)us / 1e6);
}

static void
req_count(struct req_counts *rc, const struct req *r)
{
	const char *route = r->route ? r->route : "other";
	size_t i;

	for (i = 0; i < rc->n; i++)
		if (rc->c[i].status == r->status &&
		    strcmp(rc->c[i].route, route) == 0)
			break;
	if (i == rc->n && rc->n < REQ_COUNTERS)
		rc->c[rc->n++] = (struct http_count){route, r->status, 0};
	if (i < rc->n)
		rc->c[i].n++;
	req_time(rc, route, now_us() - r->start_us);
}

/*
 * Adds the counts to PostgreSQL once REQ_COUNT_FLUSH_US has passed since
 * the last time, or now with force (the process is ending).  Called after
 * the response is finished, so no client waits for it.
 */
static void
req_flush(struct req_counts *rc, struct db *db, bool force)
{
	if (rc->n == 0 && rc->nh == 0)
		return;
	if (!force && now_us() - rc->flushed_us < REQ_COUNT_FLUSH_US)
		return;
	if (counters_add_requests(db, rc->c, rc->n, rc->h, rc->nh) != SJ_OK)
		log_debug("request counters not saved");
	rc->n = 0;
	rc->nh = 0;
	rc->flushed_us = now_us();
}

void
req_serve(int listen_fd, const struct cfg *c, const char *prog,
	  void (*handle)(struct req *r))
{
	struct req_counts counts = {.n = 0, .nh = 0, .flushed_us = 0};
	FCGX_Request fcgx;
	struct db *db = NULL;
	struct req r;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&fcgx, listen_fd, 0) != 0 ||
	    db_open(c->database_url, prog, (long)c->statement_timeout_ms,
		    &db) != SJ_OK) {
		log_error("cannot initialise the request loop");
		return;
	}
	while (server_wait_request(listen_fd)) {
		int rc = FCGX_Accept_r(&fcgx);

		/* another process took the connection first, or it went away */
		if (rc == -EAGAIN || rc == -EINTR)
			continue;
		if (rc < 0)
			break;
		memset(&r, 0, sizeof(r));
		r.fcgx = &fcgx;
		r.cfg = c;
		r.db = db;
		r.start_us = now_us();
		r.method = req_param(&r, "REQUEST_METHOD");
		r.path = req_param(&r, "DOCUMENT_URI");
		r.query = req_param(&r, "QUERY_STRING");
		req_set_id(&r);
		if (r.method == NULL || r.path == NULL)
			req_error(&r, 400, "INVALID_INPUT", "Bad request",
				  NULL);
		else if (!req_text_ok(&r))
			req_error(&r, 400, "INVALID_INPUT",
				  "Request path and query must be UTF-8", NULL);
		else
			handle(&r);
		log_kv(LOG_LVL_INFO, "req", r.id, "request",
		       LOG_STR("method", r.method ? r.method : "-"),
		       LOG_STR("path", r.path ? r.path : "-"),
		       LOG_INT("status", r.status),
		       LOG_INT("us", now_us() - r.start_us));
		req_count(&counts, &r);
		free(r.body);
		FCGX_Finish_r(&fcgx);
		req_flush(&counts, db, false);
	}
	req_flush(&counts, db, true);
	FCGX_Free(&fcgx, 1);
	db_close(db);
}

void
req_text(struct req *r, int status, const char *ctype, const char *body,
	 size_t len)
{
	req_send(r, status, ctype, NULL, NULL, body, len);
}

void
req_job_change(struct req *r, const char *id, int e, const char *status,
	       const char *conflict)
{
	struct json_object *o;

	if (e == SJ_ECONFLICT) {
		req_error(r, 409, "CONFLICT", conflict, NULL);
		return;
	}
	if (e == SJ_ENOTFOUND) {
		req_error(r, 404, "JOB_NOT_FOUND", "Job not found", NULL);
		return;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	o = json_object_new_object();
	if (o == NULL || jv_add_str(o, "jobId", id) != SJ_OK ||
	    (status != NULL ? jv_add_str(o, "status", status)
			    : jv_add_bool(o, "deleted", true)) != SJ_OK) {
		json_object_put(o);
		req_fail(r, SJ_ENOMEM);
		return;
	}
	log_kv(LOG_LVL_INFO, "req", r->id, "job changed", LOG_STR("job", id),
	       LOG_STR("status", status ? status : "deleted"));
	req_json(r, 200, o, NULL);
	json_object_put(o);
}

void
req_too_many(struct req *r, int retry_after)
{
	struct json_object *o = json_object_new_object();
	char hdr[48];

	snprintf(hdr, sizeof(hdr), "Retry-After: %d\r\n", retry_after);
	if (o == NULL ||
	    jv_add_str(o, "error", "Too many requests; try again later") !=
		SJ_OK ||
	    jv_add_str(o, "code", "RATE_LIMIT_EXCEEDED") != SJ_OK ||
	    jv_add_i64(o, "retryAfter", retry_after) != SJ_OK) {
		json_object_put(o);
		o = NULL;
	}
	req_json_ex(r, 429, o, NULL, hdr);
	json_object_put(o);
}

/* The program's route table and name, set once by req_main(). */
static const struct route *main_routes;
static size_t main_nroutes;
static const char *main_prog;

static void
main_handle(struct req *r)
{
	req_dispatch(r, main_routes, main_nroutes);
}

static void
main_serve(int fd, const struct cfg *c)
{
	req_serve(fd, c, main_prog, main_handle);
}

int
req_main(int argc, char **argv, const char *prog, const struct route *routes,
	 size_t nroutes)
{
	main_routes = routes;
	main_nroutes = nroutes;
	main_prog = prog;
	return server_main(argc, argv, prog, main_serve);
}
