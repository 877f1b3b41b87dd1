/*
 * JSON and query-string views of jobs: the status document of CONTRACT
 * section 2, list items, and list filters parsed from a query string.
 */
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "job_steps.h"
#include "jsonv.h"
#include "num.h"

static enum sj_err
add_time(struct json_object *o, const char *key, int64_t ms)
{
	char iso[32];

	if (ms == 0)
		return SJ_OK;
	job_iso8601(ms, iso);
	return jv_add_str(o, key, iso);
}

static enum sj_err
add_outcome(struct json_object *o, const struct job *j)
{
	enum sj_err e = SJ_OK;

	if (j->status == JOB_COMPLETED && j->result != NULL)
		e = jv_add(o, "result", json_object_get(j->result));
	if (e == SJ_OK && j->status == JOB_FAILED) {
		e = jv_add_str(o, "error",
			       j->error_message ? j->error_message
						: "Job failed");
		if (e == SJ_OK)
			e = jv_add_str(o, "code",
				       j->error_code ? j->error_code
						     : "JOB_FAILED");
	}
	return e;
}

/* The type's steps (job_steps.h): what the job does, in order. */
static enum sj_err
add_steps(struct json_object *o, const struct job *j)
{
	struct json_object *a;
	enum sj_err e = job_steps_json(j->type, j->input, &a);

	return e == SJ_OK ? jv_add(o, "steps", a) : e;
}

struct json_object *
job_status_json(const struct cfg *c, const struct job *j)
{
	struct json_object *o = json_object_new_object();
	enum sj_err e;

	if (o == NULL)
		return NULL;
	e = jv_add_str(o, "jobId", j->id);
	if (e == SJ_OK)
		e = jv_add_str(o, "type", job_type_name(j->type));
	if (e == SJ_OK)
		e = jv_add_str(o, "status", job_status_name(j->status));
	if (e == SJ_OK)
		e = jv_add_i64(o, "progress", j->progress);
	if (e == SJ_OK)
		e = jv_add(o, "currentStep",
			   j->current_step
			       ? json_object_new_string(j->current_step)
			       : json_object_new_string("Queued"));
	if (e == SJ_OK)
		e = add_steps(o, j);
	if (e == SJ_OK)
		e = add_time(o, "createdAt", j->created_ms);
	if (e == SJ_OK)
		e = add_time(o, "updatedAt", j->updated_ms);
	if (e == SJ_OK)
		e = add_time(o, "startedAt", j->started_ms);
	if (e == SJ_OK)
		e = add_time(o, "completedAt", j->completed_ms);
	if (e == SJ_OK && !job_status_terminal(j->status))
		e = jv_add_i64(o, "estimatedTimeRemaining",
			       job_estimated_remaining(c, j));
	if (e == SJ_OK)
		e = add_outcome(o, j);
	if (e == SJ_OK)
		e = jv_add_i64(o, "retryCount", j->attempts);
	if (e == SJ_OK)
		e = jv_add_i64(o, "maxRetries", j->max_attempts - 1);
	if (e != SJ_OK) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Copies the raw value of name in the query string q into out. */
static int
query_value(const char *q, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), vl;
	const char *p = q, *end;

	while (p != NULL && *p != '\0') {
		end = strchr(p, '&');
		vl = end ? (size_t)(end - p) : strlen(p);
		if (vl > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			if (vl - nl - 1 >= outsz)
				return -1;
			memcpy(out, p + nl + 1, vl - nl - 1);
			out[vl - nl - 1] = '\0';
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

enum sj_err
job_filter_parse(const char *query, bool allow_user, struct job_filter *f,
		 char before[JOB_ID_MAX], const char **msg)
{
	char v[64];
	int64_t n;
	int got;

	memset(f, 0, sizeof(*f));
	f->limit = 20;
	if (query == NULL)
		query = "";
	if ((got = query_value(query, "status", v, sizeof(v))) != 0 &&
	    (got < 0 || job_status_parse(v, &f->status) != SJ_OK))
		return *msg = "Invalid status filter", SJ_EINVAL;
	f->has_status = got > 0;
	if ((got = query_value(query, "type", v, sizeof(v))) != 0 &&
	    (got < 0 || job_type_parse_api(v, &f->type) != SJ_OK))
		return *msg = "Invalid type filter", SJ_EINVAL;
	f->has_type = got > 0;
	if ((got = query_value(query, "limit", v, sizeof(v))) != 0) {
		if (got < 0 || num_i64(v, 1, 100, &n) != SJ_OK)
			return *msg = "limit must be 1 to 100", SJ_EINVAL;
		f->limit = (int)n;
	}
	if ((got = query_value(query, "before", before, JOB_ID_MAX)) != 0) {
		if (got < 0 || !job_id_valid(before))
			return *msg = "Invalid cursor", SJ_EINVAL;
		f->before = before;
	}
	if (allow_user &&
	    (got = query_value(query, "user", v, sizeof(v))) != 0) {
		if (got < 0 || num_i64(v, 1, INT64_MAX, &n) != SJ_OK)
			return *msg = "Invalid user filter", SJ_EINVAL;
		f->user_id = n;
	}
	return SJ_OK;
}

/* Adds val under key, or JSON null when val is NULL and !need. */
static enum sj_err
add_opt(struct json_object *o, const char *key, struct json_object *val,
	bool need)
{
	if (val == NULL && !need)
		return json_object_object_add(o, key, NULL) == 0 ? SJ_OK
								 : SJ_ENOMEM;
	return jv_add(o, key, val);
}

static struct json_object *
str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

struct json_object *
job_item_json(const struct cfg *c, const struct job *j, bool with_user)
{
	struct json_object *o = json_object_new_object();
	char cr[32], up[32];

	if (o == NULL)
		return NULL;
	job_iso8601(j->created_ms, cr);
	job_iso8601(j->updated_ms, up);
	if (jv_add_str(o, "jobId", j->id) != SJ_OK ||
	    jv_add_str(o, "jobType", job_type_name(j->type)) != SJ_OK ||
	    jv_add_str(o, "status", job_status_name(j->status)) != SJ_OK ||
	    jv_add_i64(o, "progress", j->progress) != SJ_OK ||
	    add_opt(o, "currentStep", str_or_null(j->current_step),
		    j->current_step != NULL) != SJ_OK ||
	    jv_add_str(o, "createdAt", cr) != SJ_OK ||
	    jv_add_str(o, "updatedAt", up) != SJ_OK ||
	    jv_add_i64(o, "estimatedTimeRemaining",
		       job_estimated_remaining(c, j)) != SJ_OK ||
	    add_opt(o, "error", str_or_null(j->error_message),
		    j->error_message != NULL) != SJ_OK ||
	    add_opt(o, "result", json_object_get(j->result),
		    j->result != NULL) != SJ_OK ||
	    (with_user &&
	     add_opt(o, "userId",
		     j->user_id ? json_object_new_int64(j->user_id) : NULL,
		     j->user_id != 0) != SJ_OK)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
