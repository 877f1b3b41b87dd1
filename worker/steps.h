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

/* One file each: the handlers the table of steps.c names. */
void steps_storybook(struct step_ctx *c);	 /* steps_storybook.c */
void steps_auto_story(struct step_ctx *c);	 /* steps_auto_story.c */
void steps_scenes(struct step_ctx *c);		 /* steps_scenes.c */
void steps_cartoonize(struct step_ctx *c);	 /* steps_cartoonize.c */
void steps_image_generation(struct step_ctx *c); /* steps_image.c */
void steps_noop(struct step_ctx *c);		 /* steps_noop.c */

#endif
