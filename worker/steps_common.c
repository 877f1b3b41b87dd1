/*
 * What the handlers share: the typed input, keying and drawing an
 * illustration, and the checkpointed story, scenes and character.
 *
 * DESIGN
 * Every paid step is done once.  Text results (the story, the scene
 * breakdown, the character description) are saved in the job's
 * checkpoint before the job moves on and read from there on a retry;
 * illustrations are keyed by what drew them and found in the media cache
 * (gen_image_for).  The storybook save is idempotent per job
 * (storybook_create), so a retry after a crash never makes a second book.
 * Each handler reads its job's input once, typed (steps_input: lib's
 * job_input_parse, its caps and its tables of styles, audiences and
 * genres), and never the JSON again; an input it refuses fails at once
 * with INVALID_INPUT, never retried.  An illustration the
 * provider refuses for good (a permanent failure) leaves its scene without
 * a picture and the book with has_errors; a transient one fails the job
 * for a retry that resumes where it stopped.  Handlers never write the
 * job row: the step helpers do.
 *
 * The hero: a book's illustrations all show one character (struct
 * gen_hero), set once here -- storybook: the description of its
 * characterImage and that image (the cartoon, when the user's photo was
 * cartoonized); auto-story: its characterDescription and cartoonImageUrl;
 * image-generation: its character_description.  Each illustration is a
 * gen_scene of the scene's prompt, its own text as the caption, and the
 * hero; what the provider draws of them is in the illustration's cache
 * key, so two books with different heroes never share a picture, and a
 * card drawn without the hero's picture (it could not be read) is never
 * served for a book whose picture can be.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#include "gen.h"
#include "steps_common.h"
#include "story.h"

bool
steps_input(struct step_ctx *c, struct job_input *in)
{
	struct job_limits lim;
	const char *msg = NULL;
	enum sj_err e;

	job_limits_max(&lim);
	e = job_input_parse(c->job->type, c->job->input, &lim, in, &msg);
	if (e == SJ_OK)
		return true;
	memset(in, 0, sizeof(*in));
	if (e == SJ_EINVAL)
		step_fail(c, false, "INVALID_INPUT", "%s",
			  msg ? msg : "Invalid input");
	else
		step_fail_err(c, e, "Reading the job's input failed");
	return false;
}

/* Draws a gen_scene for gen_image_for(). */
bool
steps_draw_make(struct step_ctx *c, void *arg, struct gen_image *out)
{
	return gen_scene_image(c, arg, out);
}

/*
 * The cache key of an illustration of sc: prefix, the provider, the
 * prompt, the style and what the provider draws of the hero (its face
 * too: a card drawn without the picture is never taken for one with it)
 * and caption.
 */
bool
steps_draw_key(struct step_ctx *c, const char *prefix,
	       const struct gen_scene *sc, char key[GEN_NAME_MAX])
{
	const char *parts[6] = {sc->prompt, sc->style};
	size_t n;

	return gen_scene_key_parts(c, sc, parts + 2, &n) &&
	       gen_key(c, prefix, parts, 2 + n, key);
}

#define CKPT_CHARACTER "character"
#define CKPT_PAGES     "pages"
#define CKPT_STORY     "story"

/*
 * The character of the image at url, described by the provider once and
 * kept in the checkpoint; "the main character" when there is no image.
 */
bool
steps_character_of(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	if (url[0] == '\0') {
		snprintf(out, GEN_DESC_MAX, "the main character");
		return true;
	}
	return gen_describe_once(c, CKPT_CHARACTER, url, out);
}

/*
 * The scene breakdown of story: from the checkpoint, or made by the
 * provider and saved there.  *pages is a new object of the caller's (a
 * copy: what the caller adds is not checkpointed).
 */
bool
steps_pages_of(struct step_ctx *c, const char *story, const char *audience,
	       struct json_object **pages)
{
	struct json_object *saved = gen_ckpt(c, CKPT_PAGES), *made;

	*pages = NULL;
	if (!json_object_is_type(saved, json_type_array)) {
		if (!gen_provider(c->cfg)->scenes(c, story, audience, &made) ||
		    !gen_ckpt_save(c, CKPT_PAGES, made))
			return false;
		saved = made;
	}
	if (json_object_deep_copy(saved, pages, NULL) != 0) {
		*pages = NULL;
		step_fail_err(c, SJ_ENOMEM, "Copying the pages failed");
		return false;
	}
	return true;
}

/* The story text: from the checkpoint, or written and saved there. */
bool
steps_story_of(struct step_ctx *c, const char *genre, const char *character,
	       const char *audience, struct buf *out)
{
	const char *saved = gen_ckpt_str(c, CKPT_STORY);

	if (saved != NULL) {
		buf_init(out, STORY_TEXT_MAX);
		if (buf_addstr(out, saved) == SJ_OK)
			return true;
		step_fail_err(c, SJ_ENOMEM, "Reading the story failed");
		return false;
	}
	if (!gen_provider(c->cfg)->story(c, genre, character, audience, out))
		return false;
	if (!gen_ckpt_save(c, CKPT_STORY, json_object_new_string(out->data))) {
		buf_free(out);
		return false;
	}
	return true;
}
