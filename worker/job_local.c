/*
 * The local provider inside a job (gen_local_ops): the provider's work is
 * gen_local.c's; here its failure records become the job's, and the
 * pictures it is given are read as the job's (gen_fetch_image).
 *
 * A picture of the hero that cannot be read costs the hero its face, not
 * the book: a permanent failure there is logged and forgiven (a transient
 * one still fails the job for a retry).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "media_names.h"

#include "gen.h"
#include "gen_local.h"

static bool
failed(struct step_ctx *c, const struct gen_fail *f)
{
	return gen_failed(c, f);
}

static bool
local_story(struct step_ctx *c, const char *genre, const char *character,
	    const char *audience, struct buf *out)
{
	struct gen_fail f;

	return gen_local_story(genre, character, audience, out, &f) ||
	       failed(c, &f);
}

static bool
local_scenes(struct step_ctx *c, const char *story, const char *audience,
	     struct json_object **pages)
{
	struct gen_fail f;

	return gen_local_scenes(story, audience, pages, &f) || failed(c, &f);
}

static bool
local_describe(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	(void)c;
	gen_local_describe(url, out);
	return true;
}

static bool
local_image(struct step_ctx *c, const char *prompt, const char *style,
	    struct gen_image *out)
{
	struct gen_fail f;

	return gen_local_image(prompt, style, out, &f) || failed(c, &f);
}

static bool
local_cartoon(struct step_ctx *c, const char *prompt, const char *style,
	      const char *url, struct gen_image *out)
{
	struct gen_image photo;
	struct gen_fail f;
	struct gen_ctx g;
	bool ok;

	if (url[0] == '\0')
		return local_image(c, prompt, style, out);
	gen_ctx_of(c, &g);
	if (!gen_fetch_image(&g, url, &photo, &f))
		return gen_failed(c, &f);
	ok = gen_local_cartoon(&photo, style, out, &f);
	gen_image_free(&photo);
	return ok || failed(c, &f);
}

/* Reads our own picture at url and cuts the hero's portrait from it. */
static bool
hero_portrait(struct step_ctx *c, struct local_hero *h, const char *desc,
	      const char *url)
{
	struct gen_image pic;
	struct gen_fail f;
	struct gen_ctx g;
	bool ok;

	gen_ctx_of(c, &g);
	if (!gen_fetch_image(&g, url, &pic, &f))
		return gen_failed(c, &f);
	ok = gen_local_portrait(h, desc, url, &pic, &f);
	gen_image_free(&pic);
	if (!ok)
		return failed(c, &f);
	log_kv(LOG_LVL_DEBUG, "job", c->job->id, "hero portrait",
	       LOG_INT("bytes", strlen(h->portrait)));
	return true;
}

/* The book's hero, made once (on its first cache key or scene). */
static bool
hero_of(struct step_ctx *c, struct gen_hero *gh, struct local_hero **out)
{
	struct local_hero *h;
	struct gen_fail f;
	char name[256];
	bool face = false;

	if ((*out = gh->made) != NULL)
		return true;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Drawing the character failed");
		return false;
	}
	if (store_own_name(c->cfg, gh->picture, name, sizeof(name)) == SJ_OK &&
	    !(face = hero_portrait(c, h, gh->description, gh->picture))) {
		if (c->end != RUN_FAIL || c->transient) {
			gen_local_hero_free(h);
			return false;
		}
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "the hero is drawn without its picture",
		       LOG_STR("error", c->msg));
		step_forgive(c);
	}
	if (!gen_local_hero(h, face, gh, &f))
		return failed(c, &f);
	*out = h;
	return true;
}

static bool
local_hero(struct step_ctx *c, struct gen_hero *gh)
{
	struct local_hero *h;

	return hero_of(c, gh, &h);
}

static bool
local_scene(struct step_ctx *c, const struct gen_scene *s,
	    struct gen_image *out)
{
	struct local_hero *h = NULL;
	struct gen_fail f;

	if (s->hero != NULL && !hero_of(c, s->hero, &h))
		return false;
	return gen_local_scene(s, h, out, &f) || failed(c, &f);
}

const struct gen_ops gen_local_ops = {
    .name = "local",
    .story = local_story,
    .scenes = local_scenes,
    .describe = local_describe,
    .image = local_image,
    .cartoon = local_cartoon,
    .scene = local_scene,
    .hero = local_hero,
};
