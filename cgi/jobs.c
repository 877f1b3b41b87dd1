/*
 * storyjobs-jobs: the jobs endpoint family.
 *
 *   POST /api/jobs/{type}/start          create a job
 *   GET  /api/jobs/{type}/status/{id}    its status (no login: the id is
 *   GET  /api/jobs/{id}                  the capability)
 *
 * Only the job types the worker can run are accepted at start; the others
 * answer 404 until their steps exist, so no job is queued that nothing
 * would ever process.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "req.h"
#include "server.h"

#define PROG "storyjobs-jobs"

/* Types a worker can process today. */
static const bool start_enabled[JOB_TYPE_MAX] = {
    [JOB_CARTOONIZE] = true,
};

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
	snprintf(msg, sizeof(msg), "%s job started",
		 j->type == JOB_CARTOONIZE ? "Cartoonize"
					   : job_type_name(j->type));
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

static void
h_start(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *in = NULL, *norm = NULL, *out = NULL;
	const char *msg = NULL;
	enum job_type t;
	struct job j;
	enum sj_err e;

	if (job_type_parse(caps[0], &t) != SJ_OK || !start_enabled[t]) {
		req_error(r, 404, "NOT_FOUND", "Unknown job type", NULL);
		return;
	}
	if (!r->cfg->allow_anonymous_jobs) {
		req_error(r, 401, "UNAUTHORIZED", "Login required", NULL);
		return;
	}
	if (req_read_json(r, &in) != 0)
		return;
	e = job_input_validate(t, in, &norm, &msg);
	json_object_put(in);
	if (e == SJ_EINVAL) {
		req_error(r, 400, "INVALID_INPUT", msg, NULL);
		return;
	}
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	e = job_create(r->db, r->cfg, t, norm, 0, &j);
	json_object_put(norm);
	if (e != SJ_OK) {
		req_fail(r, e);
		return;
	}
	log_req(LOG_LVL_INFO, r->id, "created job %s", j.id);
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

	if (job_type_parse(caps[0], &t) != SJ_OK) {
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

static const struct route routes[] = {
    {"POST", "/api/jobs/*/start", h_start},
    {"GET", "/api/jobs/*/status/*", h_status_typed},
    {"GET", "/api/jobs/*", h_status},
};

static void
handle(struct req *r)
{
	req_dispatch(r, routes, sizeof(routes) / sizeof(routes[0]));
}

static void
serve(int fd, const struct cfg *c)
{
	req_serve(fd, c, PROG, handle);
}

int
main(int argc, char **argv)
{
	return server_main(argc, argv, PROG, serve);
}
