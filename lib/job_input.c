/*
 * DESIGN
 * The input of each job type is parsed here, once, into its typed struct
 * (job_input.h), whether it comes from a start request or from a job row:
 * the API stores job_input_to_json() of what it parsed, and a reader of
 * the row parses that again into an equal struct.  The first problem
 * found is reported with the contract's message for it, or one naming the
 * field and its limit; the order of the checks is the order of the fields
 * below, so a request with several problems always gets the same one.
 *
 * Every text field is capped in characters by job_caps.h and must be
 * UTF-8 without NUL (a stored row is only data: it is checked like a
 * request); a storybook's pages and scenes are capped by the settings
 * (struct job_limits), counted before anything is copied, so one input
 * cannot bloat a row or fan out into unbounded work.  The audiences,
 * styles and genres are one table each, read by their enums.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_input.h"
#include "jsonv.h"

#define TITLE_MAX  JOB_TITLE_MAX
#define STORY_MAX  JOB_STORY_MAX
#define PROMPT_MAX JOB_PROMPT_MAX
#define TEXT_MAX   JOB_TEXT_MAX
#define URL_MAX	   JOB_URL_MAX
#define WORD_MAX   JOB_WORD_MAX
#define SCENES_MAX JOB_PAGE_SCENES_MAX
/* "at most N characters" for the cap N */
#define AT_MOST(n) " of at most " JOB_CAP_STR(n) " characters"

/* ---- text fields ---- */

/* One string field: how it is checked, what to say. */
struct field {
	const char *key;
	size_t maxlen;	     /* characters */
	const char *missing; /* NULL: optional */
	const char *bad;     /* wrong type, too long, not a URL */
	const char *dflt;    /* taken when absent (may be NULL) */
	bool url;	     /* must be http(s):// or /media/ */
};

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return false;
	return true;
}

static bool
url_ok(const char *s)
{
	return strncmp(s, "https://", 8) == 0 ||
	       strncmp(s, "http://", 7) == 0 || strncmp(s, "/media/", 7) == 0;
}

/* Code points in the valid UTF-8 string s, outer spaces aside if trim. */
static size_t
utf8_chars(const char *s, bool trim)
{
	const char *e = s + strlen(s);
	size_t n = 0;

	while (trim && *s && isspace((unsigned char)*s))
		s++;
	while (trim && e > s && isspace((unsigned char)e[-1]))
		e--;
	for (; s < e; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * The string at key, at most maxbytes of UTF-8 without NUL (a row built
 * by other means than json_parse_strict may hold either).  SJ_ENOTFOUND:
 * absent or null; SJ_EINVAL: anything else that is not such a string.
 */
static enum sj_err
str_at(struct json_object *in, const char *key, size_t maxbytes,
       const char **out)
{
	struct json_object *v;
	size_t len;

	if (!json_object_object_get_ex(in, key, &v) || v == NULL)
		return SJ_ENOTFOUND;
	if (!json_object_is_type(v, json_type_string))
		return SJ_EINVAL;
	len = (size_t)json_object_get_string_len(v);
	*out = json_object_get_string(v);
	if (len > maxbytes || !jv_utf8_valid(*out, len))
		return SJ_EINVAL;
	return SJ_OK;
}

/* Checks field f of in; *v is the value, or f->dflt when absent/blank. */
static enum sj_err
text_of(struct json_object *in, const struct field *f, const char **v,
	const char **msg)
{
	enum sj_err e = str_at(in, f->key, JOB_CAP_BYTES(f->maxlen), v);

	if (e == SJ_ENOTFOUND || (e == SJ_OK && blank(*v))) {
		*v = f->dflt;
		if (f->missing == NULL)
			return SJ_OK;
		*msg = f->missing;
		return SJ_EINVAL;
	}
	if (e != SJ_OK || utf8_chars(*v, false) > f->maxlen ||
	    (f->url && !url_ok(*v))) {
		*msg = f->bad;
		return SJ_EINVAL;
	}
	return SJ_OK;
}

/* text_of() into a malloced copy (NULL when absent with no default). */
static enum sj_err
take_text(struct json_object *in, const struct field *f, char **out,
	  const char **msg)
{
	const char *v;
	enum sj_err e = text_of(in, f, &v, msg);

	if (e != SJ_OK || v == NULL)
		return e;
	return (*out = strdup(v)) == NULL ? SJ_ENOMEM : SJ_OK;
}

/*
 * The word at key (*v NULL when absent or blank); SJ_EINVAL with bad when
 * it is no string of at most WORD_MAX characters.
 */
static enum sj_err
word_at(struct json_object *in, const char *key, const char *bad,
	const char **v, const char **msg)
{
	enum sj_err e = str_at(in, key, JOB_CAP_BYTES(WORD_MAX), v);

	if (e == SJ_ENOTFOUND || (e == SJ_OK && blank(*v))) {
		*v = NULL;
		return SJ_OK;
	}
	if (e != SJ_OK)
		*msg = bad;
	return e;
}

static enum sj_err
take_audience(struct json_object *in, enum job_audience *out, const char **msg)
{
	static const char bad[] = "Invalid audience type";
	const char *v;
	enum sj_err e = word_at(in, "audience", bad, &v, msg);

	*out = JOB_AUDIENCE_CHILDREN;
	if (e != SJ_OK || v == NULL)
		return e;
	if (job_audience_parse(v, out) != SJ_OK) {
		*msg = bad;
		return SJ_EINVAL;
	}
	return SJ_OK;
}

static enum sj_err
take_style(struct json_object *in, enum job_style dflt, enum job_style *out,
	   const char **msg)
{
	const char *v;
	enum sj_err e = word_at(in, "style", JOB_STYLE_MSG, &v, msg);

	*out = dflt;
	if (e != SJ_OK || v == NULL)
		return e;
	if (job_style_parse(v, out) != SJ_OK) {
		*msg = JOB_STYLE_MSG;
		return SJ_EINVAL;
	}
	return SJ_OK;
}

/* A genre is required: "Invalid genre" for anything else. */
static enum sj_err
take_genre(struct json_object *in, enum job_genre *out, const char **msg)
{
	static const char bad[] = "Invalid genre";
	const char *v;
	enum sj_err e = word_at(in, "genre", bad, &v, msg);

	if (e != SJ_OK)
		return e;
	if (v == NULL || job_genre_parse(v, out) != SJ_OK) {
		*msg = bad;
		return SJ_EINVAL;
	}
	return SJ_OK;
}

/* An optional boolean, default false. */
static enum sj_err
take_bool(struct json_object *in, const char *key, bool *out, const char **msg)
{
	enum sj_err e = jv_bool(in, key, out);

	if (e == SJ_ENOTFOUND) {
		*out = false;
		return SJ_OK;
	}
	if (e != SJ_OK)
		*msg = "isReusedImage must be true or false";
	return e;
}

#define IMAGE_BAD(what)                                                        \
	what " must be an http(s) URL or a /media/ path" AT_MOST(URL_MAX)

static const struct field f_title = {
    "title",
    TITLE_MAX,
    "Title is required",
    "Title must be a string" AT_MOST(TITLE_MAX),
    NULL,
    false};
static const struct field f_story = {
    "story",
    STORY_MAX,
    "Story content is required",
    "Story must be a string" AT_MOST(STORY_MAX),
    NULL,
    false};
static const struct field f_character_image = {"characterImage",
					       URL_MAX,
					       "Character image is required",
					       IMAGE_BAD("Character image"),
					       NULL,
					       true};
static const struct field f_description = {
    "description",
    TEXT_MAX,
    "Scene description is required",
    "Scene description must be a string" AT_MOST(TEXT_MAX),
    NULL,
    false};
static const struct field f_emotion = {
    "emotion", WORD_MAX,
    NULL,      "Scene emotion must be a string" AT_MOST(WORD_MAX),
    "happy",   false};
static const struct field f_image_prompt = {
    "imagePrompt", PROMPT_MAX,
    NULL,	   "Scene imagePrompt must be a string" AT_MOST(PROMPT_MAX),
    NULL,	   false};

/* ---- storybook ---- */

static enum sj_err
parse_scene(struct json_object *sc, struct job_scene_input *s, const char **msg)
{
	enum sj_err e;

	if (!json_object_is_type(sc, json_type_object)) {
		*msg = "Each scene must be an object";
		return SJ_EINVAL;
	}
	if ((e = take_text(sc, &f_description, &s->description, msg)) !=
		SJ_OK ||
	    (e = take_text(sc, &f_emotion, &s->emotion, msg)) != SJ_OK)
		return e;
	return take_text(sc, &f_image_prompt, &s->image_prompt, msg);
}

/* One page: {pageNumber?, scenes[...]}, the idx-th. */
static enum sj_err
parse_page(struct json_object *page, size_t idx, struct job_page_input *p,
	   const char **msg)
{
	struct json_object *scenes;
	enum sj_err e;
	size_t n;

	if (!json_object_is_type(page, json_type_object)) {
		*msg = "Each page must be an object";
		return SJ_EINVAL;
	}
	p->number = (int64_t)idx + 1;
	e = jv_i64(page, "pageNumber", 1, 1000, &p->number);
	if (e != SJ_OK && e != SJ_ENOTFOUND) {
		*msg = "pageNumber must be an integer from 1 to 1000";
		return SJ_EINVAL;
	}
	if (jv_array(page, "scenes", &scenes) != SJ_OK ||
	    (n = json_object_array_length(scenes)) == 0 || n > SCENES_MAX) {
		*msg =
		    "Each page needs 1 to " JOB_CAP_STR(SCENES_MAX) " scenes";
		return SJ_EINVAL;
	}
	if ((p->scenes = calloc(n, sizeof(*p->scenes))) == NULL)
		return SJ_ENOMEM;
	p->nscenes = n;
	for (size_t i = 0; i < n; i++)
		if ((e = parse_scene(json_object_array_get_idx(scenes, i),
				     &p->scenes[i], msg)) != SJ_OK)
			return e;
	return SJ_OK;
}

/* The scenes of every page that has a scenes array. */
static size_t
scenes_in(struct json_object *pages, size_t n)
{
	struct json_object *sc;
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		if (jv_array(json_object_array_get_idx(pages, i), "scenes",
			     &sc) == SJ_OK)
			total += json_object_array_length(sc);
	return total;
}

/* npages and nscenes against lim; SJ_EINVAL with *msg in lim->msg. */
static enum sj_err
book_size(struct job_limits *lim, size_t npages, size_t nscenes,
	  const char **msg)
{
	if ((int64_t)npages > lim->book_pages)
		snprintf(lim->msg, sizeof(lim->msg),
			 "A storybook has at most %lld pages; this one has %zu",
			 (long long)lim->book_pages, npages);
	else if ((int64_t)nscenes > lim->book_scenes)
		snprintf(lim->msg, sizeof(lim->msg),
			 "A storybook has at most %lld scenes in all; this one "
			 "has %zu",
			 (long long)lim->book_scenes, nscenes);
	else
		return SJ_OK;
	*msg = lim->msg;
	return SJ_EINVAL;
}

enum sj_err
job_input_book_fits(struct job_limits *lim, size_t npages, size_t nscenes,
		    const char **msg)
{
	if (npages == 0 || nscenes == 0) {
		*msg = "At least one page is required";
		return SJ_EINVAL;
	}
	return book_size(lim, npages, nscenes, msg);
}

/* The pages of b from the array pages, or b's plan when there is none. */
static enum sj_err
parse_pages(struct json_object *in, struct job_limits *lim,
	    struct job_storybook_input *b, const char **msg)
{
	struct json_object *pages;
	enum sj_err e;
	size_t n;

	if (!json_object_object_get_ex(in, "pages", &pages) || pages == NULL) {
		/* no pages: the worker plans them from the story */
		if (utf8_chars(b->story, true) < JOB_STORY_MIN) {
			*msg = "Story must be at least 50 characters long.";
			return SJ_EINVAL;
		}
		b->needs_plan = true;
		return SJ_OK;
	}
	if (!json_object_is_type(pages, json_type_array) ||
	    (n = json_object_array_length(pages)) == 0) {
		*msg = "At least one page is required";
		return SJ_EINVAL;
	}
	/* counted before anything is copied */
	if ((e = book_size(lim, n, scenes_in(pages, n), msg)) != SJ_OK)
		return e;
	if ((b->pages = calloc(n, sizeof(*b->pages))) == NULL)
		return SJ_ENOMEM;
	b->npages = n;
	for (size_t i = 0; i < n; i++)
		if ((e = parse_page(json_object_array_get_idx(pages, i), i,
				    &b->pages[i], msg)) != SJ_OK)
			return e;
	return SJ_OK;
}

static enum sj_err
parse_storybook(struct json_object *in, struct job_limits *lim,
		struct job_storybook_input *b, const char **msg)
{
	enum sj_err e;

	if ((e = take_text(in, &f_title, &b->title, msg)) != SJ_OK ||
	    (e = take_text(in, &f_story, &b->story, msg)) != SJ_OK ||
	    (e = take_text(in, &f_character_image, &b->character_image, msg)) !=
		SJ_OK ||
	    (e = take_audience(in, &b->audience, msg)) != SJ_OK ||
	    (e = take_style(in, JOB_BOOK_STYLE_DEFAULT, &b->style, msg)) !=
		SJ_OK ||
	    (e = parse_pages(in, lim, b, msg)) != SJ_OK)
		return e;
	return take_bool(in, "isReusedImage", &b->reused_image, msg);
}

/* ---- the other types ---- */

static enum sj_err
parse_auto_story(struct json_object *in, struct job_auto_story_input *a,
		 const char **msg)
{
	static const struct field f_desc = {
	    "characterDescription",
	    TEXT_MAX,
	    "Character description is required",
	    "Character description must be a string" AT_MOST(TEXT_MAX),
	    NULL,
	    false};
	static const struct field f_url = {"cartoonImageUrl",
					   URL_MAX,
					   "Character image is required",
					   IMAGE_BAD("Character image"),
					   NULL,
					   true};
	enum sj_err e;

	if ((e = take_genre(in, &a->genre, msg)) != SJ_OK ||
	    (e = take_text(in, &f_desc, &a->character_description, msg)) !=
		SJ_OK ||
	    (e = take_text(in, &f_url, &a->cartoon_image_url, msg)) != SJ_OK)
		return e;
	return take_audience(in, &a->audience, msg);
}

static enum sj_err
parse_scenes(struct json_object *in, struct job_scenes_input *s,
	     const char **msg)
{
	enum sj_err e;

	if ((e = take_text(in, &f_story, &s->story, msg)) != SJ_OK)
		return e;
	if (utf8_chars(s->story, true) < JOB_STORY_MIN) {
		*msg = "Story must be at least 50 characters long.";
		return SJ_EINVAL;
	}
	if ((e = take_text(in, &f_character_image, &s->character_image, msg)) !=
	    SJ_OK)
		return e;
	return take_audience(in, &s->audience, msg);
}

static enum sj_err
parse_cartoonize(struct json_object *in, struct job_cartoonize_input *c,
		 const char **msg)
{
	static const struct field f_prompt = {
	    "prompt",
	    PROMPT_MAX,
	    "Prompt is required",
	    "Prompt must be a string" AT_MOST(PROMPT_MAX),
	    NULL,
	    false};
	static const struct field f_url = {
	    "imageUrl", URL_MAX, NULL, IMAGE_BAD("imageUrl"), NULL, true};
	enum sj_err e;

	if ((e = take_text(in, &f_prompt, &c->prompt, msg)) != SJ_OK ||
	    (e = take_style(in, JOB_STYLE_DEFAULT, &c->style, msg)) != SJ_OK)
		return e;
	return take_text(in, &f_url, &c->image_url, msg);
}

static enum sj_err
parse_illustration(struct json_object *in, struct job_illustration_input *g,
		   const char **msg)
{
	static const struct field fs[] = {
	    {"image_prompt", PROMPT_MAX, "Prompt is required",
	     "image_prompt must be a string" AT_MOST(PROMPT_MAX), NULL, false},
	    {"character_description", TEXT_MAX, NULL,
	     "character_description must be a string" AT_MOST(TEXT_MAX), "",
	     false},
	    {"emotion", WORD_MAX, NULL,
	     "emotion must be a string" AT_MOST(WORD_MAX), "happy", false},
	    {"cartoon_image", URL_MAX, NULL, IMAGE_BAD("cartoon_image"), NULL,
	     true},
	};
	enum sj_err e;

	if ((e = take_text(in, &fs[0], &g->image_prompt, msg)) != SJ_OK ||
	    (e = take_text(in, &fs[1], &g->character_description, msg)) !=
		SJ_OK ||
	    (e = take_text(in, &fs[2], &g->emotion, msg)) != SJ_OK ||
	    (e = take_audience(in, &g->audience, msg)) != SJ_OK ||
	    (e = take_style(in, JOB_STYLE_DEFAULT, &g->style, msg)) != SJ_OK ||
	    (e = take_text(in, &fs[3], &g->cartoon_image, msg)) != SJ_OK)
		return e;
	return take_bool(in, "isReusedImage", &g->reused_image, msg);
}

/* ---- the entry points ---- */

void
job_limits_of(const struct cfg *c, struct job_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->book_pages = c->storybook_max_pages;
	out->book_scenes = c->storybook_max_scenes;
}

void
job_limits_max(struct job_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->book_pages = JOB_BOOK_PAGES_MAX;
	out->book_scenes = JOB_BOOK_SCENES_MAX;
}

enum sj_err
job_input_parse(enum job_type t, struct json_object *in, struct job_limits *lim,
		struct job_input *out, const char **msg)
{
	enum sj_err e = SJ_EINVAL;

	memset(out, 0, sizeof(*out));
	out->type = t;
	*msg = "Invalid input";
	if ((unsigned)t >= JOB_TYPE_MAX)
		return SJ_EINVAL;
	if (in == NULL || !json_object_is_type(in, json_type_object)) {
		*msg = "Request body must be a JSON object";
		return SJ_EINVAL;
	}
	switch (t) {
	case JOB_STORYBOOK:
		e = parse_storybook(in, lim, &out->u.book, msg);
		break;
	case JOB_AUTO_STORY:
		e = parse_auto_story(in, &out->u.auto_story, msg);
		break;
	case JOB_SCENES:
		e = parse_scenes(in, &out->u.scenes, msg);
		break;
	case JOB_CARTOONIZE:
		e = parse_cartoonize(in, &out->u.cartoon, msg);
		break;
	case JOB_IMAGE_GENERATION:
		e = parse_illustration(in, &out->u.image, msg);
		break;
	case JOB_NOOP:
	case JOB_TYPE_MAX:
		e = SJ_OK;
		break;
	}
	if (e != SJ_OK) {
		job_input_free(out);
		out->type = t;
		if (e != SJ_EINVAL) {
			e = SJ_ENOMEM;
			*msg = "Out of memory";
		}
	}
	return e;
}

void
job_input_free(struct job_input *in)
{
	struct job_storybook_input *b = &in->u.book;

	switch (in->type) {
	case JOB_STORYBOOK:
		for (size_t p = 0; p < b->npages; p++) {
			for (size_t i = 0; i < b->pages[p].nscenes; i++) {
				free(b->pages[p].scenes[i].description);
				free(b->pages[p].scenes[i].emotion);
				free(b->pages[p].scenes[i].image_prompt);
			}
			free(b->pages[p].scenes);
		}
		free(b->pages);
		free(b->title);
		free(b->story);
		free(b->character_image);
		break;
	case JOB_AUTO_STORY:
		free(in->u.auto_story.character_description);
		free(in->u.auto_story.cartoon_image_url);
		break;
	case JOB_SCENES:
		free(in->u.scenes.story);
		free(in->u.scenes.character_image);
		break;
	case JOB_CARTOONIZE:
		free(in->u.cartoon.prompt);
		free(in->u.cartoon.image_url);
		break;
	case JOB_IMAGE_GENERATION:
		free(in->u.image.image_prompt);
		free(in->u.image.character_description);
		free(in->u.image.emotion);
		free(in->u.image.cartoon_image);
		break;
	case JOB_NOOP:
	case JOB_TYPE_MAX:
		break;
	}
	memset(&in->u, 0, sizeof(in->u));
}
