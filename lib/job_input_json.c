/*
 * The normalized object of a typed job input (job_input.h): the known
 * fields only, defaults filled in, in one fixed order, so that equal
 * inputs give equal text (what idempotency keys are bound to) and
 * job_input_parse() of it gives back an equal struct.  The order is the
 * one the API has always stored: a start made before the typed inputs
 * existed gives the same text now.
 */
#include "job_input.h"
#include "jsonv.h"

/* Adds v at key when it is not NULL. */
static enum sj_err
add_opt(struct json_object *o, const char *key, const char *v)
{
	return v != NULL ? jv_add_str(o, key, v) : SJ_OK;
}

/* A new object appended to array a (which owns it); NULL: no memory. */
static struct json_object *
new_in(struct json_object *a)
{
	struct json_object *o = json_object_new_object();

	if (o != NULL && json_object_array_add(a, o) != 0) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static enum sj_err
page_json(const struct job_page_input *p, struct json_object *pages)
{
	struct json_object *o = new_in(pages), *scenes, *s;
	enum sj_err e;

	if (o == NULL || (e = jv_add_i64(o, "pageNumber", p->number)) != SJ_OK)
		return SJ_ENOMEM;
	if ((e = jv_add(o, "scenes", scenes = json_object_new_array())) !=
		SJ_OK ||
	    scenes == NULL)
		return SJ_ENOMEM;
	for (size_t i = 0; i < p->nscenes; i++) {
		const struct job_scene_input *sc = &p->scenes[i];

		if ((s = new_in(scenes)) == NULL ||
		    (e = jv_add_str(s, "description", sc->description)) !=
			SJ_OK ||
		    (e = jv_add_str(s, "emotion", sc->emotion)) != SJ_OK ||
		    (e = add_opt(s, "imagePrompt", sc->image_prompt)) != SJ_OK)
			return SJ_ENOMEM;
	}
	return SJ_OK;
}

/*
 * The style is written only when it is not the default: a book's style is
 * newer than its other fields, and leaving it out keeps the stored text
 * (and so the idempotency digest) of every earlier start the same.
 */
static enum sj_err
storybook_json(const struct job_storybook_input *b, struct json_object *o)
{
	struct json_object *pages;
	enum sj_err e;

	if ((e = jv_add_str(o, "title", b->title)) != SJ_OK ||
	    (e = jv_add_str(o, "story", b->story)) != SJ_OK ||
	    (e = jv_add_str(o, "characterImage", b->character_image)) !=
		SJ_OK ||
	    (e = jv_add_str(o, "audience", job_audience_name(b->audience))) !=
		SJ_OK ||
	    (b->style != JOB_BOOK_STYLE_DEFAULT &&
	     (e = jv_add_str(o, "style", job_style_name(b->style))) != SJ_OK))
		return e;
	if (!b->needs_plan) {
		if ((e = jv_add(o, "pages", pages = json_object_new_array())) !=
			SJ_OK ||
		    pages == NULL)
			return SJ_ENOMEM;
		for (size_t p = 0; p < b->npages; p++)
			if ((e = page_json(&b->pages[p], pages)) != SJ_OK)
				return e;
	}
	return jv_add_bool(o, "isReusedImage", b->reused_image);
}

static enum sj_err
auto_story_json(const struct job_auto_story_input *a, struct json_object *o)
{
	enum sj_err e;

	if ((e = jv_add_str(o, "genre", job_genre_name(a->genre))) != SJ_OK ||
	    (e = jv_add_str(o, "characterDescription",
			    a->character_description)) != SJ_OK ||
	    (e = jv_add_str(o, "cartoonImageUrl", a->cartoon_image_url)) !=
		SJ_OK)
		return e;
	return jv_add_str(o, "audience", job_audience_name(a->audience));
}

static enum sj_err
scenes_json(const struct job_scenes_input *s, struct json_object *o)
{
	enum sj_err e;

	if ((e = jv_add_str(o, "story", s->story)) != SJ_OK ||
	    (e = jv_add_str(o, "characterImage", s->character_image)) != SJ_OK)
		return e;
	return jv_add_str(o, "audience", job_audience_name(s->audience));
}

static enum sj_err
cartoonize_json(const struct job_cartoonize_input *c, struct json_object *o)
{
	enum sj_err e;

	if ((e = jv_add_str(o, "prompt", c->prompt)) != SJ_OK ||
	    (e = jv_add_str(o, "style", job_style_name(c->style))) != SJ_OK)
		return e;
	return add_opt(o, "imageUrl", c->image_url);
}

static enum sj_err
illustration_json(const struct job_illustration_input *g, struct json_object *o)
{
	enum sj_err e;

	if ((e = jv_add_str(o, "image_prompt", g->image_prompt)) != SJ_OK ||
	    (e = jv_add_str(o, "character_description",
			    g->character_description)) != SJ_OK ||
	    (e = jv_add_str(o, "emotion", g->emotion)) != SJ_OK ||
	    (e = jv_add_str(o, "audience", job_audience_name(g->audience))) !=
		SJ_OK ||
	    (e = jv_add_str(o, "style", job_style_name(g->style))) != SJ_OK ||
	    (e = add_opt(o, "cartoon_image", g->cartoon_image)) != SJ_OK)
		return e;
	return jv_add_bool(o, "isReusedImage", g->reused_image);
}

enum sj_err
job_input_to_json(const struct job_input *in, struct json_object **out)
{
	struct json_object *o = json_object_new_object();
	enum sj_err e = SJ_EINVAL;

	*out = NULL;
	if (o == NULL)
		return SJ_ENOMEM;
	switch (in->type) {
	case JOB_STORYBOOK:
		e = storybook_json(&in->u.book, o);
		break;
	case JOB_AUTO_STORY:
		e = auto_story_json(&in->u.auto_story, o);
		break;
	case JOB_SCENES:
		e = scenes_json(&in->u.scenes, o);
		break;
	case JOB_CARTOONIZE:
		e = cartoonize_json(&in->u.cartoon, o);
		break;
	case JOB_IMAGE_GENERATION:
		e = illustration_json(&in->u.image, o);
		break;
	case JOB_NOOP:
		e = SJ_OK;
		break;
	case JOB_TYPE_MAX:
		break;
	}
	if (e != SJ_OK) {
		json_object_put(o);
		return e;
	}
	*out = o;
	return SJ_OK;
}

enum sj_err
job_input_validate(struct job_limits *lim, enum job_type t,
		   struct json_object *in, struct json_object **norm,
		   const char **msg)
{
	struct job_input typed;
	enum sj_err e;

	*norm = NULL;
	if (t == JOB_NOOP) {
		*msg = "Invalid input"; /* never started through the API */
		return SJ_EINVAL;
	}
	if ((e = job_input_parse(t, in, lim, &typed, msg)) != SJ_OK)
		return e;
	e = job_input_to_json(&typed, norm);
	job_input_free(&typed);
	if (e != SJ_OK)
		*msg = "Out of memory";
	return e;
}
