/*
 * DESIGN
 * Start requests are checked here, once, for all five job types, and
 * rebuilt into a normalized object holding only the known fields with
 * defaults filled in: unknown fields are dropped, never stored.  The first
 * problem found is reported with the contract's message for it, or one
 * naming the field and its limit.  Every text field is capped in
 * characters by lib/job_caps.h, which the worker reads with too, and a
 * storybook's pages and scenes by the settings (struct job_limits): one
 * request cannot bloat a row or fan out into unbounded work.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "job.h"
#include "jsonv.h"

#define TITLE_MAX	JOB_TITLE_MAX
#define STORY_MAX	JOB_STORY_MAX
#define PROMPT_MAX	JOB_PROMPT_MAX
#define TEXT_MAX	JOB_TEXT_MAX
#define URL_MAX		JOB_URL_MAX
#define WORD_MAX	JOB_WORD_MAX
#define SCENES_MAX	JOB_PAGE_SCENES_MAX
#define STORY_MIN_CHARS 50
/* "at most N characters" for the cap N */
#define AT_MOST(n) " of at most " JOB_CAP_STR(n) " characters"

static const char *const audiences[] = {"children", "young_adults", "adults",
					NULL};
static const char *const styles[] = {"storybook",  "semi-realistic",
				     "comic-book", "flat-illustration",
				     "anime",	   NULL};
static const char *const genres[] = {"adventure", "siblings", "bedtime",
				     "fantasy",	  "history",  NULL};
#define STYLE_MSG                                                              \
	"Invalid style. Must be one of: storybook, semi-realistic, "           \
	"comic-book, flat-illustration, anime"

/* One string field: where it goes, how it is checked, what to say. */
struct field {
	const char *key;
	size_t maxlen;
	const char *missing;	    /* NULL: optional */
	const char *bad;	    /* wrong type, too long, not allowed */
	const char *const *allowed; /* NULL: free text */
	const char *dflt;	    /* stored when absent */
	int url;		    /* must be http(s):// or /media/ */
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
in_set(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static bool
url_ok(const char *s)
{
	return strncmp(s, "https://", 8) == 0 ||
	       strncmp(s, "http://", 7) == 0 || strncmp(s, "/media/", 7) == 0;
}

/* Code points in the valid UTF-8 string s. */
static size_t
utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Code points in a valid UTF-8 string, not counting outer spaces. */
static size_t
utf8_chars_trimmed(const char *s)
{
	const char *e = s + strlen(s);
	size_t n = 0;

	while (*s && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	for (; s < e; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Checks one field of in and copies it (or its default) into norm. */
static enum sj_err
take(struct json_object *in, struct json_object *norm, const struct field *f,
     const char **msg)
{
	const char *v = NULL;
	enum sj_err e = jv_str(in, f->key, JOB_CAP_BYTES(f->maxlen), &v);

	if (e == SJ_ENOTFOUND || (e == SJ_OK && blank(v))) {
		if (f->missing != NULL) {
			*msg = f->missing;
			return SJ_EINVAL;
		}
		return f->dflt ? jv_add_str(norm, f->key, f->dflt) : SJ_OK;
	}
	if (e != SJ_OK || utf8_chars(v) > f->maxlen ||
	    (f->allowed && !in_set(v, f->allowed)) || (f->url && !url_ok(v))) {
		*msg = f->bad;
		return SJ_EINVAL;
	}
	if ((e = jv_add_str(norm, f->key, v)) != SJ_OK)
		return e;
	return SJ_OK;
}

static enum sj_err
take_all(struct json_object *in, struct json_object *norm,
	 const struct field *fs, size_t n, const char **msg)
{
	enum sj_err e;

	for (size_t i = 0; i < n; i++)
		if ((e = take(in, norm, &fs[i], msg)) != SJ_OK)
			return e;
	return SJ_OK;
}

/* An optional boolean, default false. */
static enum sj_err
take_bool(struct json_object *in, struct json_object *norm, const char *key,
	  const char *bad, const char **msg)
{
	bool b = false;
	enum sj_err e = jv_bool(in, key, &b);

	if (e != SJ_OK && e != SJ_ENOTFOUND) {
		*msg = bad;
		return SJ_EINVAL;
	}
	return jv_add_bool(norm, key, b);
}

#define AUDIENCE                                                               \
	{                                                                      \
		"audience", WORD_MAX, NULL, "Invalid audience type",           \
		    audiences, "children", 0                                   \
	}
#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const struct field scene_fields[] = {
    {"description", TEXT_MAX, "Scene description is required",
     "Scene description must be a string" AT_MOST(TEXT_MAX), NULL, NULL, 0},
    {"emotion", WORD_MAX, NULL,
     "Scene emotion must be a string" AT_MOST(WORD_MAX), NULL, "happy", 0},
    {"imagePrompt", PROMPT_MAX, NULL,
     "Scene imagePrompt must be a string" AT_MOST(PROMPT_MAX), NULL, NULL, 0},
};

/* One page: {pageNumber, scenes[...]}. */
static enum sj_err
take_page(struct json_object *page, size_t idx, struct json_object *pages,
	  const char **msg)
{
	struct json_object *np, *scenes, *nscenes;
	int64_t number = (int64_t)idx + 1;
	enum sj_err e;
	size_t n;

	if (!json_object_is_type(page, json_type_object)) {
		*msg = "Each page must be an object";
		return SJ_EINVAL;
	}
	e = jv_i64(page, "pageNumber", 1, 1000, &number);
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
	if ((np = json_object_new_object()) == NULL)
		return SJ_ENOMEM;
	if (json_object_array_add(pages, np) != 0) {
		json_object_put(np);
		return SJ_ENOMEM;
	}
	if ((nscenes = json_object_new_array()) == NULL ||
	    (e = jv_add_i64(np, "pageNumber", number)) != SJ_OK ||
	    (e = jv_add(np, "scenes", nscenes)) != SJ_OK)
		return SJ_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *sc = json_object_array_get_idx(scenes, i);
		struct json_object *ns = json_object_new_object();

		if (ns == NULL || json_object_array_add(nscenes, ns) != 0) {
			json_object_put(ns);
			return SJ_ENOMEM;
		}
		if (!json_object_is_type(sc, json_type_object)) {
			*msg = "Each scene must be an object";
			return SJ_EINVAL;
		}
		e = take_all(sc, ns, scene_fields, NFIELDS(scene_fields), msg);
		if (e != SJ_OK)
			return e;
	}
	return SJ_OK;
}

/* The scenes of every page that has a scenes array. */
static size_t
scenes_in(struct json_object *pages, size_t n)
{
	struct json_object *sc;
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		if (json_object_is_type(json_object_array_get_idx(pages, i),
					json_type_object) &&
		    jv_array(json_object_array_get_idx(pages, i), "scenes",
			     &sc) == SJ_OK)
			total += json_object_array_length(sc);
	return total;
}

/* The pages and scenes against lim; SJ_EINVAL with *msg in lim->msg. */
static enum sj_err
book_size(struct job_limits *lim, struct json_object *pages, size_t n,
	  const char **msg)
{
	size_t scenes = scenes_in(pages, n);

	if ((int64_t)n > lim->book_pages)
		snprintf(lim->msg, sizeof(lim->msg),
			 "A storybook has at most %lld pages; this one has %zu",
			 (long long)lim->book_pages, n);
	else if ((int64_t)scenes > lim->book_scenes)
		snprintf(lim->msg, sizeof(lim->msg),
			 "A storybook has at most %lld scenes in all; this one "
			 "has %zu",
			 (long long)lim->book_scenes, scenes);
	else
		return SJ_OK;
	*msg = lim->msg;
	return SJ_EINVAL;
}

static enum sj_err
check_storybook(struct job_limits *lim, struct json_object *in,
		struct json_object *norm, const char **msg)
{
	static const struct field fs[] = {
	    {"title", TITLE_MAX, "Title is required",
	     "Title must be a string" AT_MOST(TITLE_MAX), NULL, NULL, 0},
	    {"story", STORY_MAX, "Story content is required",
	     "Story must be a string" AT_MOST(STORY_MAX), NULL, NULL, 0},
	    {"characterImage", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path" AT_MOST(
		 URL_MAX),
	     NULL, NULL, 1},
	    AUDIENCE,
	};
	struct json_object *pages, *npages;
	enum sj_err e;
	size_t n;

	if ((e = take_all(in, norm, fs, NFIELDS(fs), msg)) != SJ_OK)
		return e;
	e = jv_array(in, "pages", &pages);
	if (e != SJ_OK || (n = json_object_array_length(pages)) == 0) {
		*msg = "At least one page is required";
		return SJ_EINVAL;
	}
	if ((e = book_size(lim, pages, n, msg)) != SJ_OK)
		return e;
	if ((npages = json_object_new_array()) == NULL ||
	    (e = jv_add(norm, "pages", npages)) != SJ_OK)
		return SJ_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((e = take_page(json_object_array_get_idx(pages, i), i,
				   npages, msg)) != SJ_OK)
			return e;
	return take_bool(in, norm, "isReusedImage",
			 "isReusedImage must be true or false", msg);
}

static enum sj_err
check_auto_story(struct job_limits *lim, struct json_object *in,
		 struct json_object *norm, const char **msg)
{
	static const struct field fs[] = {
	    {"genre", WORD_MAX, "Invalid genre", "Invalid genre", genres, NULL,
	     0},
	    {"characterDescription", TEXT_MAX,
	     "Character description is required",
	     "Character description must be a string" AT_MOST(TEXT_MAX), NULL,
	     NULL, 0},
	    {"cartoonImageUrl", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path" AT_MOST(
		 URL_MAX),
	     NULL, NULL, 1},
	    AUDIENCE,
	};

	(void)lim;
	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_scenes(struct job_limits *lim, struct json_object *in,
	     struct json_object *norm, const char **msg)
{
	static const struct field story = {
	    "story",
	    STORY_MAX,
	    "Story content is required",
	    "Story must be a string" AT_MOST(STORY_MAX),
	    NULL,
	    NULL,
	    0};
	static const struct field fs[] = {
	    {"characterImage", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path" AT_MOST(
		 URL_MAX),
	     NULL, NULL, 1},
	    AUDIENCE,
	};
	const char *text;
	enum sj_err e;

	(void)lim;
	if ((e = take(in, norm, &story, msg)) != SJ_OK)
		return e;
	if (jv_str(norm, "story", JOB_CAP_BYTES(STORY_MAX), &text) != SJ_OK ||
	    utf8_chars_trimmed(text) < STORY_MIN_CHARS) {
		*msg = "Story must be at least 50 characters long.";
		return SJ_EINVAL;
	}
	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_cartoonize(struct job_limits *lim, struct json_object *in,
		 struct json_object *norm, const char **msg)
{
	static const struct field fs[] = {
	    {"prompt", PROMPT_MAX, "Prompt is required",
	     "Prompt must be a string" AT_MOST(PROMPT_MAX), NULL, NULL, 0},
	    {"style", WORD_MAX, NULL, STYLE_MSG, styles, "semi-realistic", 0},
	    {"imageUrl", URL_MAX, NULL,
	     "imageUrl must be an http(s) URL or a /media/ path" AT_MOST(
		 URL_MAX),
	     NULL, NULL, 1},
	};

	(void)lim;
	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_image_generation(struct job_limits *lim, struct json_object *in,
		       struct json_object *norm, const char **msg)
{
	static const struct field fs[] = {
	    {"image_prompt", PROMPT_MAX, "Prompt is required",
	     "image_prompt must be a string" AT_MOST(PROMPT_MAX), NULL, NULL,
	     0},
	    {"character_description", TEXT_MAX, NULL,
	     "character_description must be a string" AT_MOST(TEXT_MAX), NULL,
	     "", 0},
	    {"emotion", WORD_MAX, NULL,
	     "emotion must be a string" AT_MOST(WORD_MAX), NULL, "happy", 0},
	    AUDIENCE,
	    {"style", WORD_MAX, NULL, STYLE_MSG, styles, "semi-realistic", 0},
	    {"cartoon_image", URL_MAX, NULL,
	     "cartoon_image must be an http(s) URL or a /media/ path" AT_MOST(
		 URL_MAX),
	     NULL, NULL, 1},
	};
	enum sj_err e;

	(void)lim;
	if ((e = take_all(in, norm, fs, NFIELDS(fs), msg)) != SJ_OK)
		return e;
	return take_bool(in, norm, "isReusedImage",
			 "isReusedImage must be true or false", msg);
}

void
job_limits_of(const struct cfg *c, struct job_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->book_pages = c->storybook_max_pages;
	out->book_scenes = c->storybook_max_scenes;
}

enum sj_err
job_input_validate(struct job_limits *lim, enum job_type t,
		   struct json_object *in, struct json_object **norm,
		   const char **msg)
{
	static enum sj_err (*const check[JOB_TYPE_MAX])(
	    struct job_limits *, struct json_object *, struct json_object *,
	    const char **) = {
	    [JOB_STORYBOOK] = check_storybook,
	    [JOB_AUTO_STORY] = check_auto_story,
	    [JOB_SCENES] = check_scenes,
	    [JOB_CARTOONIZE] = check_cartoonize,
	    [JOB_IMAGE_GENERATION] = check_image_generation,
	};
	struct json_object *o;
	enum sj_err e;

	*norm = NULL;
	*msg = "Invalid input";
	if ((unsigned)t >= JOB_TYPE_MAX || check[t] == NULL)
		return SJ_EINVAL; /* noop: never started through the API */
	if (in == NULL || !json_object_is_type(in, json_type_object)) {
		*msg = "Request body must be a JSON object";
		return SJ_EINVAL;
	}
	if ((o = json_object_new_object()) == NULL)
		return SJ_ENOMEM;
	if ((e = check[t](lim, in, o, msg)) != SJ_OK) {
		json_object_put(o);
		if (e == SJ_ENOMEM)
			*msg = "Out of memory";
		return e;
	}
	*norm = o;
	return SJ_OK;
}
