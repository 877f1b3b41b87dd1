/*
 * The image-generation handler (CONTRACT section 1): one illustration of
 * a prompt, with the book's hero rules (steps_common.c).
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"

#define FIELD_MAX JOB_CAP_BYTES(JOB_FIELD_MAX)
#define USED_MAX  8192 /* bytes of a prompt_used */

struct imagegen {
	const char *prompt, *character, *emotion; /* the typed input's */
	const char *style;	/* the style's name (job_input.h's table) */
	struct gen_hero hero;	/* of character_description */
	struct gen_scene scene; /* the caption is the prompt */
	struct buf used;	/* prompt_used */
	char key[GEN_NAME_MAX];
	char url[STORE_URL_MAX];
};

static void
imagegen_of(const struct job_illustration_input *in, struct imagegen *g)
{
	g->prompt = in->image_prompt;
	g->character =
	    in->character_description ? in->character_description : "";
	g->emotion = in->emotion ? in->emotion : "happy";
	g->style = job_style_name(in->style);
}

/* "<character>, <prompt>, feeling <emotion>" (character when given). */
static bool
imagegen_prompt(struct step_ctx *c, struct imagegen *g)
{
	enum sj_err e;

	buf_init(&g->used, USED_MAX + 2 * FIELD_MAX);
	if ((g->character[0] != '\0' &&
	     ((e = buf_addstr(&g->used, g->character)) != SJ_OK ||
	      (e = buf_addstr(&g->used, ", ")) != SJ_OK)) ||
	    (e = buf_addstr(&g->used, g->prompt)) != SJ_OK ||
	    (e = buf_addf(&g->used, ", feeling %s", g->emotion)) != SJ_OK) {
		step_fail_err(c, e, "Building the prompt failed");
		return false;
	}
	g->hero = (struct gen_hero){.description = g->character, .picture = ""};
	g->scene = (struct gen_scene){g->used.data, g->style, g->prompt,
				      g->character[0] ? &g->hero : NULL};
	return steps_draw_key(c, "image", &g->scene, g->key);
}

static void
imagegen_finish(struct step_ctx *c, struct imagegen *g, bool reused,
		const char *step)
{
	struct json_object *res;
	enum sj_err e;

	if ((res = json_object_new_object()) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Building the result failed");
		return;
	}
	if ((e = jv_add_str(res, "url", g->url)) != SJ_OK ||
	    (e = jv_add_str(res, "prompt_used", g->used.data)) != SJ_OK ||
	    (e = jv_add_bool(res, "reused", reused)) != SJ_OK)
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, step);
	json_object_put(res);
}

void
steps_image_generation(struct step_ctx *c)
{
	struct job_input in;
	struct imagegen g;
	bool cached, mine;

	memset(&g, 0, sizeof(g));
	if (!steps_input(c, &in))
		return;
	imagegen_of(&in.u.image, &g);
	if (!step_progress(c, 10, "Checking for cached images") ||
	    !imagegen_prompt(c, &g))
		goto out;
	step_pause(c);
	if (gen_cache_get(c, g.key, g.url, &mine) && mine) {
		log_kv(LOG_LVL_DEBUG, "job", c->job->id, "cache hit",
		       LOG_STR("name", g.key));
		imagegen_finish(c, &g, true, "Retrieved from cache");
		goto out;
	}
	if (!step_progress(c, 50, "Cache check complete, generating new image"))
		goto out;
	if (!gen_image_for(c, g.key, steps_draw_make, &g.scene, g.url, &cached))
		goto out;
	step_pause(c);
	imagegen_finish(c, &g, cached,
			cached ? "Retrieved from cache"
			       : "Image generation complete");
out:
	gen_hero_free(&g.hero);
	buf_free(&g.used);
	job_input_free(&in);
}
