/*
 * What the story handlers share (steps_common.c).  Each returns false
 * when the job failed (the outcome recorded) and the handler must return.
 */
#ifndef SJ_WORKER_STEPS_COMMON_H
#define SJ_WORKER_STEPS_COMMON_H

#include <stdbool.h>

#include <json-c/json.h>

#include "buf.h"
#include "job_input.h"

#include "gen.h"
#include "step.h"

/*
 * The typed input of the job in hand, parsed once from the row's input
 * by job_input_parse() (with job_limits_max(): the API may have stored it
 * under larger settings than ours); the caller job_input_free()s it.  An
 * input the parser refuses fails the job INVALID_INPUT for good (it would
 * be refused again on every try): false, in zeroed.
 */
bool steps_input(struct step_ctx *c, struct job_input *in) SJ_WUR;
/* Draws a gen_scene (arg) for gen_image_for(). */
bool steps_draw_make(struct step_ctx *c, void *arg, struct gen_image *out);
/*
 * The cache key of an illustration of sc: prefix, the provider, the
 * prompt, the style and what the provider draws of the hero and caption.
 */
bool steps_draw_key(struct step_ctx *c, const char *prefix,
		    const struct gen_scene *sc, char key[GEN_NAME_MAX]) SJ_WUR;
/*
 * The character of the image at url, described by the provider once and
 * kept in the checkpoint; "the main character" when there is no image.
 */
bool steps_character_of(struct step_ctx *c, const char *url,
			char out[GEN_DESC_MAX]) SJ_WUR;
/* The provider's scenes of story, kept in the checkpoint; *pages owned. */
bool steps_pages_of(struct step_ctx *c, const char *story, const char *audience,
		    struct json_object **pages) SJ_WUR;
/* The provider's story, kept in the checkpoint; out is initialised. */
bool steps_story_of(struct step_ctx *c, const char *genre,
		    const char *character, const char *audience,
		    struct buf *out) SJ_WUR;

#endif
