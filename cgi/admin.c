/*
 * storyjobs-admin: the admin endpoint family.  Every route requires a
 * Bearer token of role admin (401 without a login, 403 for role user).
 *
 *   GET    /api/admin/jobs?status=&type=&user=&limit=&before=
 *   POST   /api/admin/jobs/{id}/retry
 *   POST   /api/admin/jobs/{id}/cancel
 *   DELETE /api/admin/jobs/{id}        (a processing job: cancel first)
 *   GET    /api/admin/stats
 *
 * POST /api/admin/jobs/process is the cron program's maintenance tick;
 * nginx routes it there, so it is not served here.
 */
#include <stdio.h>
#include <string.h>

#include "budget.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "req.h"
#include "req_auth.h"
#include "server.h"

#define PROG "storyjobs-admin"

/* 0 when the caller is an admin; -1 when the answer has been sent. */
static int
admin_only(struct req *r)
{
	struct user u;

	return req_require(r, &u, 1);
}

static void
h_jobs(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *o = NULL, *a = NULL;
	struct job_list l = {0};
	struct job_filter f;
	char before[JOB_ID_MAX];
	const char *msg = NULL;
	enum sj_err e;
	int bad;

	(void)caps;
	if (admin_only(r) != 0)
		return;
	if (job_filter_parse(r->query, true, &f, before, &msg) != SJ_OK) {
		req_error(r, 400, "INVALID_INPUT", msg, NULL);
		return;
	}
	if ((e = job_list(r->db, &f, &l)) != SJ_OK) {
		req_fail(r, e);
		return;
	}
	o = json_object_new_object();
	a = json_object_new_array();
	bad = o == NULL || a == NULL;
	for (size_t i = 0; !bad && i < l.n; i++)
		bad = json_object_array_add(
			  a, job_item_json(r->cfg, &l.jobs[i], true)) != 0 ||
		      json_object_array_get_idx(a, i) == NULL;
	if (!bad && jv_add(o, "jobs", json_object_get(a)) == SJ_OK &&
	    json_object_object_add(
		o, "nextCursor",
		l.n == (size_t)f.limit && l.n > 0
		    ? json_object_new_string(l.jobs[l.n - 1].id)
		    : NULL) == 0)
		req_json(r, 200, o, NULL);
	else
		req_fail(r, SJ_ENOMEM);
	json_object_put(a);
	json_object_put(o);
	job_list_free(&l);
}

/* Checks the id of a change; -1 when answered. */
static int
valid_id(struct req *r, const char *id)
{
	if (job_id_valid(id))
		return 0;
	req_error(r, 400, "INVALID_INPUT", "Invalid job id", NULL);
	return -1;
}

static void
h_retry(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	if (admin_only(r) != 0 || valid_id(r, caps[0]) != 0)
		return;
	req_job_change(r, caps[0], job_retry(r->db, caps[0]), "pending",
		       "Only failed or cancelled jobs can be retried");
}

static void
h_cancel(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	enum job_status st = JOB_CANCELLED;
	enum sj_err e;

	if (admin_only(r) != 0 || valid_id(r, caps[0]) != 0)
		return;
	if (!r->cfg->features[FEAT_JOB_CANCELLATION]) {
		req_error(r, 403, "FORBIDDEN", "Job cancellation is disabled",
			  NULL);
		return;
	}
	e = job_cancel(r->db, caps[0], &st);
	req_job_change(r, caps[0], e, job_status_name(st),
		       "Job already finished");
}

static void
h_delete(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	if (admin_only(r) != 0 || valid_id(r, caps[0]) != 0)
		return;
	req_job_change(r, caps[0], job_delete(r->db, caps[0]), NULL,
		       "Job is processing; cancel it first");
}

static void
h_stats(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	struct json_object *o = NULL, *u = NULL;
	enum sj_err e;

	(void)caps;
	if (admin_only(r) != 0)
		return;
	if ((e = job_stats(r->db, &o)) != SJ_OK ||
	    (e = budget_usage_json(r->db, &u)) != SJ_OK ||
	    (e = jv_add(o, "usage", u)) != SJ_OK) {
		json_object_put(o);
		req_fail(r, e);
		return;
	}
	req_json(r, 200, o, "no-store");
	json_object_put(o);
}

static const struct route routes[] = {
    {"GET", "/api/admin/jobs", h_jobs},
    {"GET", "/api/admin/stats", h_stats},
    {"POST", "/api/admin/jobs/*/retry", h_retry},
    {"POST", "/api/admin/jobs/*/cancel", h_cancel},
    {"DELETE", "/api/admin/jobs/*", h_delete},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
