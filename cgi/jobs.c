/*
 * storyjobs-jobs: the jobs endpoint family.
 *
 *   POST /api/jobs/{type}/start          create a job (Bearer optional)
 *   GET  /api/jobs/user                  the caller's jobs (Bearer)
 *   GET  /api/jobs/{type}/status/{id}    its status (no login: the id is
 *   GET  /api/jobs/{id}                  the capability)
 *   POST /api/jobs/{id}/cancel, /retry   owner or admin; an anonymous
 *                                        job by anyone holding its id
 *   POST /api/uploads                    raw image body -> {url}
 *                                        (cgi/uploads.c)
 *   GET  /api/storybooks[/{id}]          saved storybooks
 *
 * Someone else's job answers 404 exactly like a missing one, so ids
 * cannot be probed.  Literal routes come before the one-segment
 * /api/jobs/{id} pattern: req_dispatch takes the first match.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "client.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "req.h"
#include "req_auth.h"
#include "server.h"
#include "storybook.h"
#include "uploads.h"

#define PROG	     "storyjobs-jobs"
#define IDEM_KEY_MAX 200

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The 200 answer of a start: where to poll and when to expect it. */
static struct json_object *
start_answer(const struct cfg *c, const struct job *j)
{
	struct json_object *o = json_object_new_object();
	int64_t est = cfg_estimated_duration(c, j->type);
	char iso[32], url[128], msg[96];

	if (o == NULL)
		return NULL;
	job_iso8601(now_ms() + est * 1000, iso);
	snprintf(url, sizeof(url), "/api/jobs/%s/status/%s",
		 job_type_name(j->type), j->id);
	snprintf(msg, sizeof(msg), "%s job started", job_type_name(j->type));
	if (jv_add_str(o, "jobId", j->id) != SJ_OK ||
	    jv_add_str(o, "status", job_status_name(j->status)) != SJ_OK ||
	    jv_add_str(o, "estimatedCompletion", iso) != SJ_OK ||
	    jv_add_i64(o, "estimatedMinutes", (est + 59) / 60) != SJ_OK ||
	    jv_add_str(o, "pollingUrl", url) != SJ_OK ||
	    jv_add_str(o, "message", msg) != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* The Idempotency-Key header: 0 none, 1 *key set, -1 answered 400. */
static int
idem_key(struct req *r, const char **key)
{
	const char *k = req_param(r, "HTTP_IDEMPOTENCY_KEY");
	size_t n = 0;

	*key = NULL;
	if (k == NULL)
		return 0;
	for (; k[n] != '\0'; n++)
		if (k[n] < 0x21 || k[n] > 0x7e)
			break;
	if (n == 0 || n > IDEM_KEY_MAX || k[n] != '\0') {
		req_error(
		    r, 400, "INVALID_INPUT",
		    "Idempotency-Key must be 1 to 200 printable characters",
		    NULL);
		return -1;
	}
	*key = k;
	return 1;
}

/*
 * The limits of a start (or a retry) by the caller u (NULL: anonymous,
 * then client receives its client_key() and s->client points at it).
 */
static void
start_limits(struct req *r, const struct user *u, struct job_start *s,
	     char client[CLIENT_KEY_MAX], int *retry_after)
{
	s->user_id = u != NULL ? u->id : 0;
	s->max_active = r->cfg->max_jobs_per_user;
	s->client_max = r->cfg->anon_max_active_jobs;
	s->anon_max = r->cfg->anon_max_active_total;
	s->rate_limit = (int)r->cfg->anon_start_limit;
	s->rate_window_s = (int)r->cfg->anon_start_window_s;
	s->retry_after_s = retry_after;
	s->client = NULL;
	if (u == NULL) {
		if (client_key(req_param(r, "REMOTE_ADDR"), client) != SJ_OK)
			log_kv(LOG_LVL_WARN, "req", r->id, "no client address",
			       LOG_STR("counted_as", client));
		s->client = client;
	}
}

/* A refused start or retry: 429, 403 or 422; false when e is not one. */
static bool
start_refused(struct req *r, enum sj_err e, int retry_after)
{
	if (e == SJ_ELIMIT)
		req_too_many(r, retry_after);
	else if (e == SJ_EQUOTA)
		req_error(r, 403, "QUOTA_EXCEEDED",
			  "Too many active jobs; wait for some to finish",
			  NULL);
	else if (e == SJ_EINVAL)
		req_error(r, 422, "INVALID_INPUT",
			  "Idempotency-Key was already used with a different "
			  "request body; use a new key for a new request",
			  NULL);
	else
		return false;
	return true;
}

/* Who may start: 0 with s's caller and limits set, -1 when answered. */
static int
start_who(struct req *r, enum job_type t, struct job_start *s,
	  char client[CLIENT_KEY_MAX], int *retry_after)
{
	struct user u;
	int got = req_user(r, &u);

	if (got < 0)
		return -1;
	if (got == 0 && t == JOB_AUTO_STORY) {
		req_error(r, 401, "UNAUTHORIZED", "Authentication required",
			  NULL);
		return -1;
	}
	if (got == 0 && !r->cfg->allow_anonymous_jobs) {
		req_error(r, 401, "UNAUTHORIZED", "Authentication required",
			  NULL);
		return -1;
	}
	start_limits(r, got > 0 ? &u : NULL, s, client, retry_after);
	return idem_key(r, &s->idem_key) < 0 ? -1 : 0;
}

static void
h_start(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *in = NULL, *out = NULL;
	struct job_start s = {0};
	struct job_limits lim;
	struct job_input typed;
	char client[CLIENT_KEY_MAX];
	const char *msg = NULL;
	bool reused = false;
	int retry_after = 0;
	struct job j;
	enum sj_err e;

	if (job_type_parse_api(caps[0], &s.type) != SJ_OK) {
		req_error(r, 404, "NOT_FOUND", "Unknown job type", NULL);
		return;
	}
	if (start_who(r, s.type, &s, client, &retry_after) != 0 ||
	    req_read_json(r, &in) != 0)
		return;
	/* parse once into the typed input; the row stores its normal form */
	job_limits_of(r->cfg, &lim);
	e = job_input_parse(s.type, in, &lim, &typed, &msg);
	json_object_put(in);
	if (e == SJ_EINVAL) {
		req_error(r, 400, "INVALID_INPUT", msg, NULL);
		return;
	}
	if (e == SJ_OK) {
		e = job_input_to_json(&typed, &s.norm);
		job_input_free(&typed);
	}
	if (e == SJ_OK)
		e = job_start(r->db, r->cfg, &s, &j, &reused);
	json_object_put(s.norm);
	if (start_refused(r, e, retry_after))
		return;
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	log_kv(LOG_LVL_INFO, "req", r->id,
	       reused ? "job reused" : "job created", LOG_STR("job", j.id));
	out = start_answer(r->cfg, &j);
	req_json(r, 200, out, NULL);
	json_object_put(out);
	job_free(&j);
}

/* Answers the status of id; want_type < 0 accepts any type. */
static void
status_of(struct req *r, const char *id, int want_type)
{
	struct json_object *o;
	struct job j;
	enum sj_err e;

	if (!job_id_valid(id)) {
		req_error(r, 400, "INVALID_INPUT", "Invalid job id", NULL);
		return;
	}
	e = job_get(r->db, id, &j);
	if (e == SJ_ENOTFOUND ||
	    (e == SJ_OK && want_type >= 0 && (int)j.type != want_type)) {
		if (e == SJ_OK)
			job_free(&j);
		req_error(r, 404, "JOB_NOT_FOUND", "Job not found", NULL);
		return;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	o = job_status_json(r->cfg, &j);
	/* a terminal answer may be cached briefly; a live one never */
	req_json(r, 200, o,
		 job_status_terminal(j.status) ? "private, max-age=10" : NULL);
	json_object_put(o);
	job_free(&j);
}

static void
h_status_typed(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	enum job_type t;

	if (job_type_parse_api(caps[0], &t) != SJ_OK) {
		req_error(r, 404, "JOB_NOT_FOUND", "Job not found", NULL);
		return;
	}
	status_of(r, caps[1], (int)t);
}

static void
h_status(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	status_of(r, caps[0], -1);
}

/*
 * Loads job id for a change by the caller: the owner, an admin, or
 * anyone for an anonymous job.  0 with *j filled; -1 when answered.
 */
static int
job_for_change(struct req *r, const char *id, struct job *j)
{
	struct user u;
	int got;
	enum sj_err e;

	if ((got = req_user(r, &u)) < 0)
		return -1;
	if (!job_id_valid(id)) {
		req_error(r, 400, "INVALID_INPUT", "Invalid job id", NULL);
		return -1;
	}
	if ((e = job_get(r->db, id, j)) == SJ_OK && j->user_id != 0 &&
	    (got == 0 || (u.id != j->user_id && u.role != ROLE_ADMIN))) {
		job_free(j);
		e = SJ_ENOTFOUND;
	}
	if (e == SJ_ENOTFOUND)
		req_error(r, 404, "JOB_NOT_FOUND", "Job not found", NULL);
	else if (e != SJ_OK)
		req_fail(r, e);
	return e == SJ_OK ? 0 : -1;
}

static void
h_cancel(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	enum job_status st = JOB_CANCELLED;
	struct job j;
	enum sj_err e;

	if (!r->cfg->features[FEAT_JOB_CANCELLATION]) {
		req_error(r, 403, "FORBIDDEN", "Job cancellation is disabled",
			  NULL);
		return;
	}
	if (job_for_change(r, caps[0], &j) != 0)
		return;
	job_free(&j);
	e = job_cancel(r->db, caps[0], &st);
	req_job_change(r, caps[0], e, job_status_name(st),
		       "Job already finished");
}

/* A retry counts as a start: the owner's cap, an anonymous caller's rate. */
static void
h_retry(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct job_start s = {0};
	char client[CLIENT_KEY_MAX];
	int retry_after = 0, got;
	struct user u;
	struct job j;
	enum sj_err e;

	if (job_for_change(r, caps[0], &j) != 0)
		return;
	job_free(&j);
	if ((got = req_user(r, &u)) < 0)
		return;
	start_limits(r, got > 0 ? &u : NULL, &s, client, &retry_after);
	e = job_retry_start(r->db, caps[0], &s);
	if (e == SJ_EINVAL || !start_refused(r, e, retry_after))
		req_job_change(r, caps[0], e, "pending",
			       "Only failed or cancelled jobs can be retried");
}

/* The page of jobs with counts and cursor; NULL on ENOMEM. */
static struct json_object *
user_jobs_doc(struct req *r, const struct job_list *l, int limit,
	      const long counts[JOB_STATUS_MAX])
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	struct json_object *cn = json_object_new_object();
	long total = 0;
	int bad = o == NULL || a == NULL || cn == NULL;

	for (size_t i = 0; !bad && i < l->n; i++)
		bad = json_object_array_add(
			  a, job_item_json(r->cfg, &l->jobs[i], false)) != 0 ||
		      json_object_array_get_idx(a, i) == NULL;
	for (int s = 0; !bad && s < JOB_STATUS_MAX; s++) {
		total += counts[s];
		bad = jv_add_i64(cn, job_status_name(s), counts[s]) != SJ_OK;
	}
	if (!bad && jv_add_i64(cn, "total", total) == SJ_OK &&
	    jv_add(o, "jobs", json_object_get(a)) == SJ_OK &&
	    jv_add(o, "counts", json_object_get(cn)) == SJ_OK &&
	    json_object_object_add(
		o, "nextCursor",
		l->n == (size_t)limit && l->n > 0
		    ? json_object_new_string(l->jobs[l->n - 1].id)
		    : NULL) == 0) {
		json_object_put(a);
		json_object_put(cn);
		return o;
	}
	json_object_put(a);
	json_object_put(cn);
	json_object_put(o);
	return NULL;
}

static void
h_user_jobs(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct job_list l = {0};
	struct job_filter f;
	struct json_object *o;
	char before[JOB_ID_MAX];
	long counts[JOB_STATUS_MAX];
	const char *msg = NULL;
	struct user u;
	enum sj_err e;

	(void)caps;
	if (req_require(r, &u, 0) != 0)
		return;
	if (job_filter_parse(r->query, false, &f, before, &msg) != SJ_OK) {
		req_error(r, 400, "INVALID_INPUT", msg, NULL);
		return;
	}
	f.user_id = u.id;
	if ((e = job_list(r->db, &f, &l)) != SJ_OK ||
	    (e = job_counts(r->db, u.id, counts)) != SJ_OK) {
		job_list_free(&l);
		req_fail(r, e);
		return;
	}
	o = user_jobs_doc(r, &l, f.limit, counts);
	job_list_free(&l);
	if (o == NULL) {
		req_fail(r, SJ_ENOMEM);
		return;
	}
	req_json(r, 200, o, NULL);
	json_object_put(o);
}

static void
h_storybook(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *o = NULL;
	enum sj_err e = storybook_get(r->db, caps[0], &o);

	if (e == SJ_ENOTFOUND)
		req_error(r, 404, "NOT_FOUND", "Storybook not found", NULL);
	else if (e != SJ_OK)
		req_fail(r, e);
	else
		req_json(r, 200, o, NULL);
	json_object_put(o);
}

static void
h_storybooks(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *a = NULL, *o = NULL;
	struct user u;
	enum sj_err e;

	(void)caps;
	if (req_require(r, &u, 0) != 0)
		return;
	if ((e = storybook_list(r->db, u.id, 100, &a)) != SJ_OK) {
		req_fail(r, e);
		return;
	}
	if ((o = json_object_new_object()) == NULL ||
	    jv_add(o, "storybooks", a) != SJ_OK) {
		if (o == NULL)
			json_object_put(a);
		json_object_put(o);
		req_fail(r, SJ_ENOMEM);
		return;
	}
	req_json(r, 200, o, NULL);
	json_object_put(o);
}

static const struct route routes[] = {
    {"GET", "/api/jobs/user", h_user_jobs},
    {"POST", "/api/uploads", jobs_upload},
    {"GET", "/api/storybooks", h_storybooks},
    {"GET", "/api/storybooks/*", h_storybook},
    {"POST", "/api/jobs/*/start", h_start},
    {"POST", "/api/jobs/*/cancel", h_cancel},
    {"POST", "/api/jobs/*/retry", h_retry},
    {"GET", "/api/jobs/*/status/*", h_status_typed},
    {"GET", "/api/jobs/*", h_status},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
