/*
 * What the storybook and auto-story handlers share: illustrating the
 * scenes of a book and saving it (idempotent per job).
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "storybook.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"
#include "steps_book.h"

#define FIELD_MAX  JOB_CAP_BYTES(JOB_FIELD_MAX)
#define TEXT_MAX   JOB_CAP_BYTES(JOB_TEXT_MAX)
#define PROMPT_MAX JOB_CAP_BYTES(JOB_PROMPT_MAX)
#define USED_MAX   8192 /* bytes of a prompt_used */

size_t
steps_count_scenes(struct json_object *pages)
{
	size_t n = 0, np = json_object_array_length(pages);

	for (size_t p = 0; p < np; p++) {
		struct json_object *sc;

		if (jv_array(json_object_array_get_idx(pages, p), "scenes",
			     &sc) == SJ_OK)
			n += json_object_array_length(sc);
	}
	return n;
}

/*
 * Draws one scene and adds its imageUrl.  false: the job must end (a
 * transient failure, an abort).  A scene that cannot be drawn for good
 * only counts in b->failed.
 */
static bool
book_scene(struct step_ctx *c, struct book *b, struct json_object *sc)
{
	const char *desc = "", *prompt = "", *emotion = "happy";
	char key[GEN_NAME_MAX], url[STORE_URL_MAX];
	struct gen_scene d = {NULL, b->style, NULL, &b->hero};
	struct buf used;
	bool cached, ok;
	enum sj_err e;

	if (!json_object_is_type(sc, json_type_object))
		goto bad;
	if (jv_str(sc, "description", TEXT_MAX, &desc) != SJ_OK)
		desc = "";
	if (jv_str(sc, "imagePrompt", PROMPT_MAX, &prompt) != SJ_OK ||
	    prompt[0] == '\0')
		prompt = desc;
	if (prompt[0] == '\0')
		goto bad;
	if (jv_str(sc, "emotion", 64, &emotion) != SJ_OK)
		emotion = "happy";
	buf_init(&used, USED_MAX + 2 * FIELD_MAX);
	if ((e = buf_addf(&used, "%s%s%s, feeling %s", b->character,
			  b->character[0] ? ", " : "", prompt, emotion)) !=
	    SJ_OK) {
		step_fail_err(c, e, "Building a scene prompt failed");
		return false;
	}
	d.prompt = used.data;
	d.caption = desc[0] != '\0' ? desc : prompt;
	ok = steps_draw_key(c, "scene", &d, key) &&
	     gen_image_for(c, key, steps_draw_make, &d, url, &cached);
	buf_free(&used);
	if (ok) {
		if ((e = jv_add_str(sc, "imageUrl", url)) == SJ_OK)
			return true;
		step_fail_err(c, e, "Building the pages failed");
		return false;
	}
	if (c->end != RUN_FAIL || c->transient)
		return false;
	log_kv(LOG_LVL_WARN, "job", c->job->id, "scene left without a picture",
	       LOG_STR("error", c->msg));
	step_forgive(c);
bad:
	b->failed++;
	return true;
}

/* Illustrates every scene of b->pages, reporting progress when asked. */
bool
steps_book_illustrate(struct step_ctx *c, struct book *b)
{
	size_t np = json_object_array_length(b->pages);
	char step[96];

	b->total = steps_count_scenes(b->pages);
	for (size_t p = 0; p < np; p++) {
		struct json_object *scenes;
		size_t ns;

		if (jv_array(json_object_array_get_idx(b->pages, p), "scenes",
			     &scenes) != SJ_OK)
			continue;
		ns = json_object_array_length(scenes);
		for (size_t i = 0; i < ns; i++) {
			if (!book_scene(c, b,
					json_object_array_get_idx(scenes, i)))
				return false;
			b->done++;
			if (!b->progress)
				continue;
			snprintf(step, sizeof(step),
				 "Generated %zu/%zu scene illustrations",
				 b->done, b->total);
			if (!step_progress(
				c, (int)(25 + b->done * 50 / b->total), step))
				return false;
			step_pause(c);
		}
	}
	return true;
}

bool
steps_book_save(struct step_ctx *c, struct book *b)
{
	struct storybook_new sb = {
	    .user_id = c->job->user_id,
	    .job_id = c->job->id,
	    .title = b->title,
	    .audience = b->audience,
	    .pages = b->pages,
	    .has_errors = b->failed > 0,
	};
	enum sj_err e = storybook_create(c->db, &sb, b->id);

	if (e != SJ_OK) {
		step_fail_err(c, e, "Saving the storybook failed");
		return false;
	}
	return true;
}
