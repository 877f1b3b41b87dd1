/*
 * The typed input of each job type: parsed and checked once, here, for
 * the API (a start request) and the worker (the input stored in the job
 * row), with one set of caps (job_caps.h) and one table each of the
 * audiences, styles and genres.
 *
 * The API's path: job_input_parse(request) -> job_input_to_json() ->
 * stored in the row.  The worker's: job_input_parse(stored input) ->
 * the typed struct, which it reads instead of the JSON.  Parsing what
 * to_json wrote gives back an equal struct, so a stored input always
 * parses again (with limits no smaller than the API's: see
 * job_limits_max()).
 */
#ifndef SJ_JOB_INPUT_H
#define SJ_JOB_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "err.h"
#include "job_caps.h"

/* ---- the tables ---- */

enum job_audience {
	JOB_AUDIENCE_CHILDREN = 0, /* the default */
	JOB_AUDIENCE_YOUNG_ADULTS,
	JOB_AUDIENCE_ADULTS,
	JOB_AUDIENCE_MAX
};

enum job_style {
	JOB_STYLE_STORYBOOK = 0,
	JOB_STYLE_SEMI_REALISTIC, /* the default of cartoonize, images */
	JOB_STYLE_COMIC_BOOK,
	JOB_STYLE_FLAT_ILLUSTRATION,
	JOB_STYLE_ANIME,
	JOB_STYLE_MAX
};

enum job_genre {
	JOB_GENRE_ADVENTURE = 0,
	JOB_GENRE_SIBLINGS,
	JOB_GENRE_BEDTIME,
	JOB_GENRE_FANTASY,
	JOB_GENRE_HISTORY,
	JOB_GENRE_MAX
};

struct job_audience_info {
	const char *name;  /* the contract's word: "young_adults" */
	const char *label; /* for people: "Young adults" */
	int scenes, pages; /* a planned story's targets (CONTRACT scenes) */
};

struct job_style_info {
	const char *name;    /* the contract's word: "comic-book" */
	const char *label;   /* for people: "Comic book" */
	const char *phrase;  /* what an image provider is asked to draw */
	const char *palette; /* the local generator's row (local_style.c) */
};

struct job_genre_info {
	const char *name;  /* the contract's word: "bedtime" */
	const char *label; /* for people: "Bedtime" */
};

/* The row of a value; NULL when out of range. */
const struct job_audience_info *job_audience_info(enum job_audience a);
const struct job_style_info *job_style_info(enum job_style s);
const struct job_genre_info *job_genre_info(enum job_genre g);
/* The name of a value ("" when out of range: never NULL). */
const char *job_audience_name(enum job_audience a);
const char *job_style_name(enum job_style s);
const char *job_genre_name(enum job_genre g);
/* The value named s (exact, case-sensitive); SJ_EINVAL when none. */
enum sj_err job_audience_parse(const char *s, enum job_audience *out) SJ_WUR;
enum sj_err job_style_parse(const char *s, enum job_style *out) SJ_WUR;
enum sj_err job_genre_parse(const char *s, enum job_genre *out) SJ_WUR;

/* The contract's message for a bad style: the table's names, in order. */
#define JOB_STYLE_MSG                                                          \
	"Invalid style. Must be one of: storybook, semi-realistic, "           \
	"comic-book, flat-illustration, anime"

/* The style a cartoonize or image-generation input gets when it has none. */
#define JOB_STYLE_DEFAULT JOB_STYLE_SEMI_REALISTIC
/* The style of a storybook's illustrations when its input names none. */
#define JOB_BOOK_STYLE_DEFAULT JOB_STYLE_STORYBOOK
/* A story the scenes job (or a storybook's plan) breaks up: at least. */
#define JOB_STORY_MIN 50

/* ---- the limits ---- */

/* What a start request may ask for, from the settings. */
struct job_limits {
	int64_t book_pages;  /* STORYBOOK_MAX_PAGES */
	int64_t book_scenes; /* STORYBOOK_MAX_SCENES, all pages together */
	char msg[128];	     /* a message that names one of these */
};
/* The limits of c: what the API accepts now. */
void job_limits_of(const struct cfg *c, struct job_limits *out);
/*
 * The largest limits any setting allows (JOB_BOOK_PAGES_MAX,
 * JOB_BOOK_SCENES_MAX): for reading a stored input, which the API may
 * have accepted under larger settings than the reader's.
 */
void job_limits_max(struct job_limits *out);

/* ---- the typed inputs; every string is owned (malloced) ---- */

struct job_scene_input {
	char *description;  /* not blank */
	char *emotion;	    /* "happy" when absent */
	char *image_prompt; /* NULL when absent */
};

struct job_page_input {
	int64_t number; /* pageNumber, 1..1000; its position when absent */
	struct job_scene_input *scenes;
	size_t nscenes; /* 1..JOB_PAGE_SCENES_MAX */
};

/*
 * storybook.  With pages (needs_plan false) the book is those pages.
 * Without (needs_plan true) the story is at least JOB_STORY_MIN
 * characters, as a scenes job's, and the worker plans the pages from it
 * first; that plan must hold to the same limits (job_input_book_fits).
 * When both are sent the pages win: story is kept as the book's text.
 */
struct job_storybook_input {
	char *title;
	char *story;
	char *character_image; /* http(s) URL or /media/ path */
	enum job_audience audience;
	enum job_style style; /* JOB_BOOK_STYLE_DEFAULT when absent */
	bool reused_image;    /* isReusedImage */
	bool needs_plan;      /* no pages: npages is 0 */
	struct job_page_input *pages;
	size_t npages;
};

/* auto-story */
struct job_auto_story_input {
	enum job_genre genre;
	char *character_description;
	char *cartoon_image_url; /* http(s) URL or /media/ path */
	enum job_audience audience;
};

/* scenes */
struct job_scenes_input {
	char *story; /* at least JOB_STORY_MIN characters, spaces aside */
	char *character_image;
	enum job_audience audience;
};

/* cartoonize */
struct job_cartoonize_input {
	char *prompt;
	enum job_style style;
	char *image_url; /* NULL when absent: a cartoon of the prompt */
};

/* image-generation: one illustration */
struct job_illustration_input {
	char *image_prompt;
	char *character_description; /* "" when absent */
	char *emotion;		     /* "happy" when absent */
	enum job_audience audience;
	enum job_style style;
	char *cartoon_image; /* NULL when absent */
	bool reused_image;   /* isReusedImage */
};

/* The input of one job; u's member is the one of type. */
struct job_input {
	enum job_type type;
	union {
		struct job_storybook_input book;
		struct job_auto_story_input auto_story;
		struct job_scenes_input scenes;
		struct job_cartoonize_input cartoon;
		struct job_illustration_input image;
		/* JOB_NOOP: no fields */
	} u;
};

/*
 * Parses and checks in, the input of a job of type t, into *out (which
 * the caller job_input_free()s on SJ_OK; on failure it holds nothing).
 * in may be a start request (unknown fields are ignored) or a stored
 * input.  Text is capped by job_caps.h and must be UTF-8 without NUL; a
 * storybook's size by lim.  SJ_EINVAL: *msg is the contract's message
 * for the first problem, or one naming the field and its limit (static,
 * or lim->msg).  SJ_ENOMEM: *msg is "Out of memory".  JOB_NOOP takes any
 * object and keeps nothing.
 */
enum sj_err job_input_parse(enum job_type t, struct json_object *in,
			    struct job_limits *lim, struct job_input *out,
			    const char **msg) SJ_WUR;

/*
 * The normalized object of in: the known fields only, defaults filled
 * in, in a fixed order (its text is what idempotency keys are bound to).
 * On SJ_OK *out is a new reference the caller puts.
 */
enum sj_err job_input_to_json(const struct job_input *in,
			      struct json_object **out) SJ_WUR;

/* Frees what in owns and zeroes it; safe on a zeroed or freed input. */
void job_input_free(struct job_input *in);

/*
 * Whether a storybook of npages pages and nscenes scenes in all is
 * within lim: SJ_OK, or SJ_EINVAL with *msg (in lim->msg) naming the
 * limit.  For the worker's plan of a needs_plan storybook.
 */
enum sj_err job_input_book_fits(struct job_limits *lim, size_t npages,
				size_t nscenes, const char **msg) SJ_WUR;

/*
 * job_input_parse() then job_input_to_json(), for a start request of the
 * HTTP API (JOB_NOOP is refused: it is never started there).  On SJ_OK
 * *norm is a new object the caller puts.
 */
enum sj_err job_input_validate(struct job_limits *lim, enum job_type t,
			       struct json_object *in,
			       struct json_object **norm,
			       const char **msg) SJ_WUR;

#endif
