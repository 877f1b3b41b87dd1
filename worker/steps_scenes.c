/*
 * The scenes handler (CONTRACT section 1): a story broken into
 * illustrated scenes, with the character of its image.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"

static void
scenes_finish(struct step_ctx *c, struct json_object *pages,
	      const char *character)
{
	struct json_object *res = json_object_new_object();
	enum sj_err e = SJ_ENOMEM;

	if (res == NULL ||
	    (e = jv_add(res, "pages", json_object_get(pages))) != SJ_OK ||
	    (e = jv_add_str(res, "character_description", character)) != SJ_OK)
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, "Scene generation complete");
	json_object_put(res);
}

void
steps_scenes(struct step_ctx *c)
{
	struct job_input in;
	const struct job_scenes_input *sc = &in.u.scenes;
	struct json_object *pages = NULL;
	char character[GEN_DESC_MAX];

	if (!steps_input(c, &in))
		return;
	if (!step_progress(c, 10, "Analyzing story structure"))
		goto out;
	step_pause(c);
	if (!steps_character_of(
		c, sc->character_image ? sc->character_image : "", character) ||
	    !step_progress(c, 30, "Character analysis complete"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 40, "Breaking story into scenes") ||
	    !steps_pages_of(c, sc->story, job_audience_name(sc->audience),
			    &pages))
		goto out;
	step_pause(c);
	if (!step_progress(c, 70, "Scene breakdown complete"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 90, "Finalizing scene layout"))
		goto out;
	step_pause(c);
	scenes_finish(c, pages, character);
out:
	json_object_put(pages);
	job_input_free(&in);
}
