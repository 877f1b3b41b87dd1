/*
 * Job handlers: one function per job type, each the straight line of
 * steps that CONTRACT section 1 gives for its type (exact progress values
 * and step texts).
 *
 * DESIGN
 * handlers[] is the dispatch table: a type with no handler is never
 * offered by the claim, so a type becomes runnable by adding its row.  A
 * handler reads its input (already validated and normalised by the
 * library when the job was created, but read again with type checks, as
 * the row is only data), does its work between step_progress() calls and
 * ends with step_complete() or step_fail().  It never writes to the job
 * row itself: the helpers do, fenced by the lease.
 *
 * One file per type: steps_storybook.c, steps_auto_story.c,
 * steps_scenes.c, steps_cartoonize.c, steps_image.c (image-generation)
 * and steps_noop.c; steps_common.c and steps_book.c hold what the story
 * handlers share.
 */
#include "steps.h"

static const step_handler handlers[JOB_TYPE_MAX] = {
    [JOB_STORYBOOK] = steps_storybook,
    [JOB_AUTO_STORY] = steps_auto_story,
    [JOB_SCENES] = steps_scenes,
    [JOB_CARTOONIZE] = steps_cartoonize,
    [JOB_IMAGE_GENERATION] = steps_image_generation,
    [JOB_NOOP] = steps_noop,
};

step_handler
steps_handler(const struct cfg *c, enum job_type t)
{
	if ((unsigned)t >= JOB_TYPE_MAX || (t == JOB_NOOP && !c->bench_noop))
		return NULL;
	return handlers[t];
}
