/*
 * The steps of each job type (CONTRACT section 1, "Processing steps"):
 * the progress each begins at and the current_step the worker writes.
 * The status document lists them (job_status_json's "steps") so a page
 * can show what a job does before it does it; the worker's handlers
 * write the same strings.
 */
#ifndef SJ_JOB_STEPS_H
#define SJ_JOB_STEPS_H

#include <stddef.h>

#include <json-c/json.h>

#include "err.h"
#include "job.h"

struct job_step {
	int progress;	  /* the job's progress when the step begins */
	const char *name; /* its current_step ("{n}/{total}" filled in) */
};

/*
 * A storybook started with its story and no pages (needs_plan) plans its
 * scenes first, in the step of this name, before the contract's steps.
 */
#define JOB_STEP_BOOK_PLAN     "Planning the scenes of the story"
#define JOB_STEP_BOOK_PLAN_PCT 2

/*
 * The steps of a job of type t whose stored input is input (a storybook
 * without "pages" is planned: JOB_STEP_BOOK_PLAN comes first), in order;
 * *n is their count (0 for JOB_NOOP).  Static: never freed.
 */
const struct job_step *job_steps(enum job_type t,
				 const struct json_object *input, size_t *n);

/* job_steps() as a JSON array of {progress, step}; a new reference. */
enum sj_err job_steps_json(enum job_type t, const struct json_object *input,
			   struct json_object **out) SJ_WUR;

#endif
