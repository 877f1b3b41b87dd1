/*
 * The job handlers: one per job type (CONTRACT section 1).
 */
#ifndef SJ_WORKER_STEPS_H
#define SJ_WORKER_STEPS_H

#include "cfg.h"
#include "job.h"
#include "step.h"

/* steps.c: the handler for type t, or NULL when this worker cannot run t. */
step_handler steps_handler(const struct cfg *c, enum job_type t);

/* steps_story.c: the handlers built on stories. */
void steps_image_generation(struct step_ctx *c);
void steps_scenes(struct step_ctx *c);
void steps_storybook(struct step_ctx *c);
void steps_auto_story(struct step_ctx *c);

#endif
