/* The status document of CONTRACT section 2, built from a struct job. */
#include "job.h"
#include "jsonv.h"

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
