/*
 * DESIGN
 * Start requests are checked here, once, for all five job types, and
 * rebuilt into a normalized object holding only the known fields with
 * defaults filled in: unknown fields are dropped, never stored.  The first
 * problem found is reported with the contract's message for it.  Lengths
 * are capped so no single field can bloat a row.
 */
#include <ctype.h>
#include <string.h>

#include "job.h"
#include "jsonv.h"

#define TITLE_MAX	200
#define STORY_MAX	50000
#define PROMPT_MAX	4000
#define TEXT_MAX	2000
#define URL_MAX		2048
#define WORD_MAX	64
#define PAGES_MAX	50
#define SCENES_MAX	20
#define STORY_MIN_CHARS 50

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
	enum sj_err e = jv_str(in, f->key, f->maxlen, &v);

	if (e == SJ_ENOTFOUND || (e == SJ_OK && blank(v))) {
		if (f->missing != NULL) {
			*msg = f->missing;
			return SJ_EINVAL;
		}
		return f->dflt ? jv_add_str(norm, f->key, f->dflt) : SJ_OK;
	}
	if (e != SJ_OK || (f->allowed && !in_set(v, f->allowed)) ||
	    (f->url && !url_ok(v))) {
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
     "Scene description must be a string of at most 2000 characters", NULL,
     NULL, 0},
    {"emotion", WORD_MAX, NULL, "Scene emotion must be a short string", NULL,
     "happy", 0},
    {"imagePrompt", PROMPT_MAX, NULL,
     "Scene imagePrompt must be a string of at most 4000 characters", NULL,
     NULL, 0},
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
		*msg = "Each page needs 1 to 20 scenes";
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

static enum sj_err
check_storybook(struct json_object *in, struct json_object *norm,
		const char **msg)
{
	static const struct field fs[] = {
	    {"title", TITLE_MAX, "Title is required",
	     "Title must be a string of at most 200 characters", NULL, NULL, 0},
	    {"story", STORY_MAX, "Story content is required",
	     "Story must be a string of at most 50000 characters", NULL, NULL,
	     0},
	    {"characterImage", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path", NULL,
	     NULL, 1},
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
	if (n > PAGES_MAX) {
		*msg = "A storybook has at most 50 pages";
		return SJ_EINVAL;
	}
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
check_auto_story(struct json_object *in, struct json_object *norm,
		 const char **msg)
{
	static const struct field fs[] = {
	    {"genre", WORD_MAX, "Invalid genre", "Invalid genre", genres, NULL,
	     0},
	    {"characterDescription", TEXT_MAX,
	     "Character description is required",
	     "Character description must be a string of at most 2000 "
	     "characters",
	     NULL, NULL, 0},
	    {"cartoonImageUrl", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path", NULL,
	     NULL, 1},
	    AUDIENCE,
	};

	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_scenes(struct json_object *in, struct json_object *norm, const char **msg)
{
	static const struct field story = {
	    "story",
	    STORY_MAX,
	    "Story content is required",
	    "Story must be a string of at most 50000 characters",
	    NULL,
	    NULL,
	    0};
	static const struct field fs[] = {
	    {"characterImage", URL_MAX, "Character image is required",
	     "Character image must be an http(s) URL or a /media/ path", NULL,
	     NULL, 1},
	    AUDIENCE,
	};
	const char *text;
	enum sj_err e;

	if ((e = take(in, norm, &story, msg)) != SJ_OK)
		return e;
	if (jv_str(norm, "story", STORY_MAX, &text) != SJ_OK ||
	    utf8_chars_trimmed(text) < STORY_MIN_CHARS) {
		*msg = "Story must be at least 50 characters long.";
		return SJ_EINVAL;
	}
	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_cartoonize(struct json_object *in, struct json_object *norm,
		 const char **msg)
{
	static const struct field fs[] = {
	    {"prompt", PROMPT_MAX, "Prompt is required",
	     "Prompt must be a string of at most 4000 characters", NULL, NULL,
	     0},
	    {"style", WORD_MAX, NULL, STYLE_MSG, styles, "semi-realistic", 0},
	    {"imageUrl", URL_MAX, NULL,
	     "imageUrl must be an http(s) URL or a /media/ path", NULL, NULL,
	     1},
	};

	return take_all(in, norm, fs, NFIELDS(fs), msg);
}

static enum sj_err
check_image_generation(struct json_object *in, struct json_object *norm,
		       const char **msg)
{
	static const struct field fs[] = {
	    {"image_prompt", PROMPT_MAX, "Prompt is required",
	     "Prompt must be a string of at most 4000 characters", NULL, NULL,
	     0},
	    {"character_description", TEXT_MAX, NULL,
	     "character_description must be a string of at most 2000 "
	     "characters",
	     NULL, "", 0},
	    {"emotion", WORD_MAX, NULL, "emotion must be a short string", NULL,
	     "happy", 0},
	    AUDIENCE,
	    {"style", WORD_MAX, NULL, STYLE_MSG, styles, "semi-realistic", 0},
	    {"cartoon_image", URL_MAX, NULL,
	     "cartoon_image must be an http(s) URL or a /media/ path", NULL,
	     NULL, 1},
	};
	enum sj_err e;

	if ((e = take_all(in, norm, fs, NFIELDS(fs), msg)) != SJ_OK)
		return e;
	return take_bool(in, norm, "isReusedImage",
			 "isReusedImage must be true or false", msg);
}

enum sj_err
job_input_validate(enum job_type t, struct json_object *in,
		   struct json_object **norm, const char **msg)
{
	static enum sj_err (*const check[JOB_TYPE_MAX])(
	    struct json_object *, struct json_object *, const char **) = {
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
	if ((e = check[t](in, o, msg)) != SJ_OK) {
		json_object_put(o);
		if (e == SJ_ENOMEM)
			*msg = "Out of memory";
		return e;
	}
	*norm = o;
	return SJ_OK;
}
