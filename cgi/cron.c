/*
 * storyjobs-cron: POST /api/cron/process-jobs and POST /api/jobs/process,
 * the maintenance tick for machine callers.
 *
 * DESIGN
 * Guard first, then the shared rate limit, then the body.  The webhook
 * secret is compared as SHA-256 digests with CRYPTO_memcmp, so the time
 * taken says nothing about the secret's length or prefix; an unset
 * WEBHOOK_SECRET refuses every call (fail closed).  The rate limit lives in
 * PostgreSQL (lib/ratelimit) so every process shares it; only callers that
 * passed the guard count against it, so strangers cannot starve the cron.
 *
 * A tick is a sequence of single statements, each idempotent under
 * concurrency: job_maintain (expired leases, timeouts), housekeeping
 * (expired sessions deleted; unlinking a stale temporary file twice is
 * harmless), the sweep of unused uploads (rows deleted with SKIP LOCKED,
 * so two sweeps never take the same upload), the forced job's
 * move to the front (an UPDATE of one pending row), pruning with SKIP
 * LOCKED batches, and one final statement that counts the due work and
 * sends one NOTIFY.  Two ticks at once therefore never double an effect:
 * a row changed by one is no longer matched by the other.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "health.h"
#include "job.h"
#include "jsonv.h"
#include "log.h"
#include "ratelimit.h"
#include "req.h"
#include "req_auth.h"
#include "server.h"
#include "upload.h"

#define PROG		"storyjobs-cron"
#define CRON_LIMIT	10
#define CRON_WINDOW_S	60
#define CRON_PRUNE_MAX	100 /* batches per tick */
#define WEBHOOK_MAX_LEN 1024

struct tick_opts {
	int64_t max_jobs;
	char types[128];	 /* text[] literal */
	char job_id[JOB_ID_MAX]; /* "" when none */
	bool force, cleanup, health;
	int64_t cleanup_days;
};

static void
unauthorized(struct req *r, const char *reason)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL ||
	    jv_add_str(o, "error", "Unauthorized webhook request") != SJ_OK ||
	    jv_add_str(o, "code", "UNAUTHORIZED") != SJ_OK ||
	    jv_add_str(o, "reason", reason) != SJ_OK) {
		json_object_put(o);
		req_error(r, 401, "UNAUTHORIZED",
			  "Unauthorized webhook request", NULL);
		return;
	}
	req_json(r, 401, o, NULL);
	json_object_put(o);
}

/* 1: the presented secret matches; digests make the compare fixed-size. */
static int
secret_ok(const char *presented, const char *expected)
{
	unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];

	if (SHA256((const unsigned char *)presented, strlen(presented), a) ==
		NULL ||
	    SHA256((const unsigned char *)expected, strlen(expected), b) ==
		NULL)
		return 0;
	return CRYPTO_memcmp(a, b, sizeof(a)) == 0;
}

/* 0: the caller may tick; -1: the answer has been sent. */
static int
guard(struct req *r, bool admin_ok)
{
	const char *want = r->cfg->webhook_secret;
	const char *got = req_param(r, "HTTP_X_WEBHOOK_SECRET");
	struct user u;
	int rc;

	if (want == NULL || *want == '\0') {
		unauthorized(r, "Webhook secret not configured");
		return -1;
	}
	if (got != NULL && *got != '\0')
		if (strlen(got) <= WEBHOOK_MAX_LEN && secret_ok(got, want))
			return 0;
	if (admin_ok && req_param(r, "HTTP_AUTHORIZATION") != NULL) {
		if ((rc = req_user(r, &u)) < 0)
			return -1;
		if (rc == 1 && u.role == ROLE_ADMIN)
			return 0;
		if (rc == 1 && (got == NULL || *got == '\0')) {
			req_error(r, 403, "FORBIDDEN", "Admin role required",
				  NULL);
			return -1;
		}
	}
	unauthorized(r, got == NULL || *got == '\0' ? "Missing webhook secret"
						    : "Invalid webhook secret");
	return -1;
}

static int
rate_limited(struct req *r)
{
	bool allowed = true;
	int retry = 0;
	enum sj_err e;

	e = ratelimit_hit(r->db, "cron", CRON_LIMIT, CRON_WINDOW_S, &allowed,
			  &retry);
	if (e != SJ_OK) {
		req_fail(r, e);
		return -1;
	}
	if (allowed)
		return 0;
	req_too_many(r, retry);
	return -1;
}

/* jobTypes: an array of known type names; builds the text[] literal. */
static const char *
parse_types(struct json_object *arr, struct tick_opts *o)
{
	size_t n = json_object_array_length(arr), len = 1;
	bool seen[JOB_TYPE_MAX] = {false};
	enum job_type t;

	if (n == 0 || n > 16)
		return "jobTypes must list 1 to 16 job types";
	o->types[0] = '{';
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(v, json_type_string) ||
		    job_type_parse_api(json_object_get_string(v), &t) != SJ_OK)
			return "jobTypes contains an invalid job type";
		if (seen[t])
			continue;
		seen[t] = true;
		len += (size_t)snprintf(o->types + len, sizeof(o->types) - len,
					"%s%s", len > 1 ? "," : "",
					job_type_name(t));
	}
	snprintf(o->types + len, sizeof(o->types) - len, "}");
	return NULL;
}

static void
default_types(struct tick_opts *o)
{
	size_t len = 1;

	o->types[0] = '{';
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		len += (size_t)snprintf(o->types + len, sizeof(o->types) - len,
					"%s%s", t ? "," : "",
					job_type_name((enum job_type)t));
	snprintf(o->types + len, sizeof(o->types) - len, "}");
}

/* NULL when body is valid; else the client message. */
static const char *
parse_opts(struct json_object *b, struct tick_opts *o)
{
	struct json_object *arr = NULL;
	const char *id = NULL;
	enum sj_err e;

	if ((e = jv_i64(b, "maxJobs", 1, 1000, &o->max_jobs)) != SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "maxJobs must be an integer from 1 to 1000";
	if ((e = jv_str(b, "specificJobId", JOB_ID_MAX, &id)) != SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "specificJobId must be a job id";
	if (id != NULL && !job_id_valid(id))
		return "specificJobId must be a job id";
	if (id != NULL)
		snprintf(o->job_id, sizeof(o->job_id), "%s", id);
	if ((e = jv_bool(b, "forceProcessing", &o->force)) != SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "forceProcessing must be a boolean";
	if ((e = jv_bool(b, "cleanup", &o->cleanup)) != SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "cleanup must be a boolean";
	if ((e = jv_i64(b, "cleanupDays", 1, 3650, &o->cleanup_days)) !=
		SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "cleanupDays must be an integer from 1 to 3650";
	if ((e = jv_bool(b, "healthCheck", &o->health)) != SJ_OK &&
	    e != SJ_ENOTFOUND)
		return "healthCheck must be a boolean";
	if ((e = jv_array(b, "jobTypes", &arr)) != SJ_OK && e != SJ_ENOTFOUND)
		return "jobTypes must be an array of job types";
	return arr != NULL ? parse_types(arr, o) : NULL;
}

/* Reads the optional body into o; -1 when the answer has been sent. */
static int
read_opts(struct req *r, struct tick_opts *o)
{
	const char *cl = req_param(r, "CONTENT_LENGTH");
	struct json_object *b = NULL;
	const char *why;

	memset(o, 0, sizeof(*o));
	o->max_jobs = 1000;
	o->cleanup_days = r->cfg->retention_days;
	default_types(o);
	if (cl == NULL || *cl == '\0' || strcmp(cl, "0") == 0)
		return 0;
	if (req_read_json(r, &b) != 0)
		return -1;
	if ((why = parse_opts(b, o)) != NULL) {
		req_error(r, 400, "INVALID_INPUT", why, NULL);
		json_object_put(b);
		return -1;
	}
	json_object_put(b);
	return 0;
}

struct tick_result {
	struct job_maint m;
	struct housekeep h;
	long long uploads; /* unused uploads deleted */
	long long cleaned, processed, depth;
};

static enum sj_err
tick(struct req *r, const struct tick_opts *o, struct tick_result *t)
{
	enum sj_err e;

	memset(t, 0, sizeof(*t));
	if ((e = job_maintain(r->db, &t->m)) != SJ_OK ||
	    (e = health_housekeep(r->db, r->cfg->media_dir, &t->h)) != SJ_OK ||
	    (e = upload_sweep(r->db, r->cfg, &t->uploads)) != SJ_OK)
		return e;
	if (o->force && o->job_id[0] != '\0' &&
	    (e = job_force(r->db, o->job_id)) != SJ_OK)
		return e;
	if (o->cleanup &&
	    (e = health_prune(r->db, o->cleanup_days, CRON_PRUNE_MAX,
			      &t->cleaned)) != SJ_OK)
		return e;
	return job_wake(r->db, o->types, o->max_jobs, &t->processed, &t->depth);
}

static struct json_object *
tick_json(struct req *r, const struct tick_opts *o, const struct tick_result *t)
{
	struct json_object *doc = json_object_new_object(), *hc = NULL;
	char ts[32];

	job_iso8601((int64_t)time(NULL) * 1000, ts);
	if (doc == NULL || jv_add_str(doc, "timestamp", ts) != SJ_OK ||
	    jv_add_i64(doc, "processed", t->processed) != SJ_OK ||
	    jv_add_i64(doc, "requeued", t->m.requeued) != SJ_OK ||
	    jv_add_i64(doc, "timedOut", t->m.timed_out + t->m.abandoned) !=
		SJ_OK ||
	    (o->cleanup && jv_add_i64(doc, "cleaned", t->cleaned) != SJ_OK) ||
	    jv_add_i64(doc, "queueDepth", t->depth) != SJ_OK)
		goto fail;
	if (o->health && (health_check_short(r->db, r->cfg, &hc) != SJ_OK ||
			  jv_add(doc, "healthCheck", hc) != SJ_OK))
		goto fail;
	return doc;
fail:
	json_object_put(doc);
	return NULL;
}

/* Who may tick: the webhook secret, also an admin, or only an admin. */
enum caller { BY_SECRET, BY_SECRET_OR_ADMIN, BY_ADMIN };

static int
allowed_caller(struct req *r, enum caller who)
{
	struct user u;

	if (who == BY_ADMIN)
		return req_require(r, &u, 1);
	return guard(r, who == BY_SECRET_OR_ADMIN);
}

static void
process(struct req *r, enum caller who)
{
	struct tick_opts o;
	struct tick_result t;
	struct json_object *doc;
	enum sj_err e;

	if (allowed_caller(r, who) != 0 || rate_limited(r) != 0 ||
	    read_opts(r, &o) != 0)
		return;
	if ((e = tick(r, &o, &t)) != SJ_OK) {
		req_fail(r, e);
		return;
	}
	log_kv(LOG_LVL_INFO, "req", r->id, "tick",
	       LOG_INT("processed", t.processed),
	       LOG_INT("requeued", t.m.requeued),
	       LOG_INT("timed_out", t.m.timed_out + t.m.abandoned),
	       LOG_INT("cleaned", t.cleaned));
	if ((doc = tick_json(r, &o, &t)) == NULL) {
		req_fail(r, SJ_ENOMEM);
		return;
	}
	req_json(r, 200, doc, "no-store");
	json_object_put(doc);
}

static void
h_cron(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	(void)caps;
	process(r, BY_SECRET);
}

static void
h_process(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	(void)caps;
	process(r, BY_SECRET_OR_ADMIN);
}

/* POST /api/admin/jobs/process: the admin family's door to the tick. */
static void
h_admin_process(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	(void)caps;
	process(r, BY_ADMIN);
}

static const struct route routes[] = {
    {"POST", "/api/cron/process-jobs", h_cron},
    {"POST", "/api/jobs/process", h_process},
    {"POST", "/api/admin/jobs/process", h_admin_process},
};

int
main(int argc, char **argv)
{
	return req_main(argc, argv, PROG, routes,
			sizeof(routes) / sizeof(routes[0]));
}
