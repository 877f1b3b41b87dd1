/*
 * The typed job inputs (lib/job_input.h): every type parses, writes its
 * normal form and parses that back to an equal input; every refusal has
 * its message; the tables' lookups agree with each other; a storybook may
 * come without pages; hostile values are refused without a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job_input.h"
#include "jsonv.h"

/* the settings' defaults: 30 pages, 60 scenes */
static struct job_limits limits = {30, 60, ""};

#define IMG "\"characterImage\":\"https://x/y.png\""
#define STORY60                                                                \
	"A small fox walked through the quiet forest looking for a friend."
#define BOOK                                                                   \
	"{\"title\":\"T\",\"story\":\"s\"," IMG ",\"pages\":[{\"pageNumber\":" \
	"1,\"scenes\":[{\"description\":\"d\"}]}]}"

static struct json_object *
parse(const char *s)
{
	struct json_object *o = NULL;
	const char *why;

	assert_int_equal(json_parse_strict(s, strlen(s), 32, &o, &why), SJ_OK);
	return o;
}

/* The normal form's text of type t's input text s (malloced). */
static char *
normal(enum job_type t, const char *s, struct job_input *typed)
{
	struct json_object *in = parse(s), *out = NULL;
	const char *msg = NULL;
	char *text;

	assert_int_equal(job_input_parse(t, in, &limits, typed, &msg), SJ_OK);
	json_object_put(in);
	assert_int_equal(job_input_to_json(typed, &out), SJ_OK);
	text =
	    strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	assert_non_null(text);
	json_object_put(out);
	return text;
}

/* The message of refusing text s as type t's input. */
static void
refused(enum job_type t, struct json_object *in, const char *want)
{
	struct job_input typed;
	const char *msg = NULL;

	assert_int_equal(job_input_parse(t, in, &limits, &typed, &msg),
			 SJ_EINVAL);
	assert_non_null(msg);
	if (want != NULL)
		assert_string_equal(msg, want);
	/* a refused parse holds nothing: freeing it again is harmless */
	job_input_free(&typed);
}

static void
test_round_trip(void **state)
{
	static const struct {
		enum job_type t;
		const char *in;
	} rows[] = {
	    {JOB_STORYBOOK, BOOK},
	    {JOB_STORYBOOK,
	     "{\"title\":\"Fox\",\"story\":\"" STORY60 "\"," IMG
	     ",\"audience\":\"adults\",\"style\":\"anime\",\"isReusedImage\":"
	     "true,\"pages\":[{\"scenes\":[{\"description\":\"a\",\"emotion\":"
	     "\"sad\",\"imagePrompt\":\"p\"},{\"description\":\"b\"}]},{"
	     "\"pageNumber\":7,\"scenes\":[{\"description\":\"c\"}]}]}"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"Fox\",\"story\":\"" STORY60 "\"," IMG "}"},
	    {JOB_AUTO_STORY,
	     "{\"genre\":\"bedtime\",\"characterDescription\":\"a fox\","
	     "\"cartoonImageUrl\":\"/media/a.png\",\"audience\":"
	     "\"young_adults\"}"},
	    {JOB_SCENES, "{\"story\":\"" STORY60 "\"," IMG "}"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"a fox\"}"},
	    {JOB_CARTOONIZE,
	     "{\"prompt\":\"caf\xc3\xa9 \xf0\x9f\xa6\x8a\",\"style\":\"comic-"
	     "book\",\"imageUrl\":\"http://127.0.0.1/p.png\"}"},
	    {JOB_IMAGE_GENERATION, "{\"image_prompt\":\"p\"}"},
	    {JOB_IMAGE_GENERATION,
	     "{\"image_prompt\":\"p\",\"character_description\":\"c\","
	     "\"emotion\":\"calm\",\"audience\":\"adults\",\"style\":\"flat-"
	     "illustration\",\"cartoon_image\":\"/media/c.png\","
	     "\"isReusedImage\":true}"},
	    {JOB_NOOP, "{\"anything\":[1,2]}"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct job_input a, b;
		char *first = normal(rows[i].t, rows[i].in, &a);
		char *again = normal(rows[i].t, first, &b);

		assert_string_equal(first, again);
		assert_int_equal(a.type, b.type);
		if (a.type == JOB_STORYBOOK) {
			assert_int_equal(a.u.book.npages, b.u.book.npages);
			assert_int_equal(a.u.book.style, b.u.book.style);
			assert_int_equal(a.u.book.needs_plan,
					 b.u.book.needs_plan);
		}
		job_input_free(&a);
		job_input_free(&b);
		free(first);
		free(again);
	}
}

/* The text the API stored before the typed inputs: byte for byte. */
static void
test_normal_form(void **state)
{
	struct job_input in;
	char *s;

	(void)state;
	s = normal(JOB_STORYBOOK, BOOK, &in);
	assert_string_equal(
	    s,
	    "{\"title\":\"T\",\"story\":\"s\",\"characterImage\":\"https:\\/\\/"
	    "x\\/y.png\",\"audience\":\"children\",\"pages\":[{\"pageNumber\":"
	    "1,\"scenes\":[{\"description\":\"d\",\"emotion\":\"happy\"}]}],"
	    "\"isReusedImage\":false}");
	assert_string_equal(in.u.book.pages[0].scenes[0].emotion, "happy");
	assert_null(in.u.book.pages[0].scenes[0].image_prompt);
	assert_int_equal(in.u.book.style, JOB_STYLE_STORYBOOK);
	job_input_free(&in);
	free(s);

	s = normal(JOB_CARTOONIZE, "{\"prompt\":\"a fox\",\"evil\":{\"x\":1}}",
		   &in);
	assert_string_equal(
	    s, "{\"prompt\":\"a fox\",\"style\":\"semi-realistic\"}");
	assert_int_equal(in.u.cartoon.style, JOB_STYLE_SEMI_REALISTIC);
	assert_null(in.u.cartoon.image_url);
	job_input_free(&in);
	free(s);

	s = normal(JOB_IMAGE_GENERATION, "{\"image_prompt\":\"p\"}", &in);
	assert_string_equal(
	    s, "{\"image_prompt\":\"p\",\"character_description\":\"\","
	       "\"emotion\":\"happy\",\"audience\":\"children\",\"style\":"
	       "\"semi-realistic\",\"isReusedImage\":false}");
	job_input_free(&in);
	free(s);
}

/* The contract's messages and the ones naming a field and its cap. */
static void
test_messages(void **state)
{
	static const struct {
		enum job_type t;
		const char *in, *msg;
	} rows[] = {
	    {JOB_STORYBOOK, "{}", "Title is required"},
	    {JOB_STORYBOOK, "{\"title\":\"  \"}", "Title is required"},
	    {JOB_STORYBOOK, "{\"title\":\"T\"}", "Story content is required"},
	    {JOB_STORYBOOK, "{\"title\":\"T\",\"story\":\"s\"}",
	     "Character image is required"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\",\"characterImage\":\"ftp://x\"}",
	     "Character image must be an http(s) URL or a /media/ path of at "
	     "most 2048 characters"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"audience\":\"toddlers\"}",
	     "Invalid audience type"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG ",\"style\":\"oil\"}",
	     JOB_STYLE_MSG},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG ",\"pages\":[]}",
	     "At least one page is required"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG ",\"pages\":{}}",
	     "At least one page is required"},
	    {JOB_STORYBOOK, "{\"title\":\"T\",\"story\":\"s\"," IMG "}",
	     "Story must be at least 50 characters long."},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG ",\"pages\":[1]}",
	     "Each page must be an object"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"pageNumber\":0,\"scenes\":[]}]}",
	     "pageNumber must be an integer from 1 to 1000"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"scenes\":[]}]}",
	     "Each page needs 1 to 20 scenes"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"scenes\":[\"x\"]}]}",
	     "Each scene must be an object"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"scenes\":[{}]}]}",
	     "Scene description is required"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"scenes\":[{\"description\":\"d\","
	     "\"emotion\":7}]}]}",
	     "Scene emotion must be a string of at most 64 characters"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG
	     ",\"pages\":[{\"scenes\":[{\"description\":\"d\","
	     "\"imagePrompt\":[]}]}]}",
	     "Scene imagePrompt must be a string of at most 4000 characters"},
	    {JOB_STORYBOOK, BOOK "x", NULL}, /* not parsed: skipped below */
	    {JOB_STORYBOOK, "{\"title\":42}",
	     "Title must be a string of at most 200 characters"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\"," IMG ",\"isReusedImage\":1,"
	     "\"pages\":[{\"scenes\":[{\"description\":\"d\"}]}]}",
	     "isReusedImage must be true or false"},
	    {JOB_CARTOONIZE, "{}", "Prompt is required"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"\"}", "Prompt is required"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"p\",\"style\":\"oil\"}",
	     JOB_STYLE_MSG},
	    {JOB_CARTOONIZE, "{\"prompt\":\"p\",\"style\":\"Anime\"}",
	     JOB_STYLE_MSG},
	    {JOB_CARTOONIZE, "{\"prompt\":\"p\",\"imageUrl\":\"file:///etc\"}",
	     "imageUrl must be an http(s) URL or a /media/ path of at most "
	     "2048 characters"},
	    {JOB_AUTO_STORY, "{\"genre\":\"horror\"}", "Invalid genre"},
	    {JOB_AUTO_STORY, "{}", "Invalid genre"},
	    {JOB_AUTO_STORY, "{\"genre\":\"bedtime\"}",
	     "Character description is required"},
	    {JOB_AUTO_STORY,
	     "{\"genre\":\"bedtime\",\"characterDescription\":\"c\"}",
	     "Character image is required"},
	    {JOB_SCENES, "{}", "Story content is required"},
	    {JOB_SCENES, "{\"story\":\"Too short.\"}",
	     "Story must be at least 50 characters long."},
	    {JOB_SCENES, "{\"story\":\"" STORY60 "\"}",
	     "Character image is required"},
	    {JOB_SCENES,
	     "{\"story\":\"" STORY60 "\"," IMG ",\"audience\":\"martians\"}",
	     "Invalid audience type"},
	    {JOB_IMAGE_GENERATION, "{}", "Prompt is required"},
	    {JOB_IMAGE_GENERATION,
	     "{\"image_prompt\":\"p\",\"isReusedImage\":\"yes\"}",
	     "isReusedImage must be true or false"},
	    {JOB_IMAGE_GENERATION,
	     "{\"image_prompt\":\"p\",\"cartoon_image\":\"javascript:x\"}",
	     "cartoon_image must be an http(s) URL or a /media/ path of at "
	     "most 2048 characters"},
	    {JOB_IMAGE_GENERATION, "{\"image_prompt\":\"p\",\"emotion\":{}}",
	     "emotion must be a string of at most 64 characters"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *in;

		if (rows[i].msg == NULL)
			continue;
		in = parse(rows[i].in);
		refused(rows[i].t, in, rows[i].msg);
		json_object_put(in);
	}
	refused(JOB_CARTOONIZE, NULL, "Request body must be a JSON object");
	{
		struct json_object *a = json_object_new_array();

		refused(JOB_SCENES, a, "Request body must be a JSON object");
		json_object_put(a);
	}
}

/* The storybook's size against the settings, before anything is copied. */
static void
test_book_limits(void **state)
{
	struct job_limits small = {2, 3, ""};
	struct job_input typed;
	struct json_object *in;
	const char *msg = NULL;

	(void)state;
	in = parse("{\"title\":\"T\",\"story\":\"s\"," IMG
		   ",\"pages\":[{\"scenes\":[{\"description\":\"a\"}]},{"
		   "\"scenes\":[{\"description\":\"b\"}]},{\"scenes\":[{"
		   "\"description\":\"c\"}]}]}");
	assert_int_equal(
	    job_input_parse(JOB_STORYBOOK, in, &small, &typed, &msg),
	    SJ_EINVAL);
	assert_string_equal(msg,
			    "A storybook has at most 2 pages; this one has 3");
	json_object_put(in);
	in = parse("{\"title\":\"T\",\"story\":\"s\"," IMG
		   ",\"pages\":[{\"scenes\":[{\"description\":\"a\"},{"
		   "\"description\":\"a\"}]},{\"scenes\":[{\"description\":"
		   "\"b\"},{\"description\":\"b\"}]}]}");
	assert_int_equal(
	    job_input_parse(JOB_STORYBOOK, in, &small, &typed, &msg),
	    SJ_EINVAL);
	assert_string_equal(
	    msg, "A storybook has at most 3 scenes in all; this one has 4");
	json_object_put(in);

	/* what the worker checks its plan with */
	assert_int_equal(job_input_book_fits(&small, 2, 3, &msg), SJ_OK);
	assert_int_equal(job_input_book_fits(&small, 0, 0, &msg), SJ_EINVAL);
	assert_string_equal(msg, "At least one page is required");
	assert_int_equal(job_input_book_fits(&small, 3, 3, &msg), SJ_EINVAL);
	assert_int_equal(job_input_book_fits(&small, 2, 4, &msg), SJ_EINVAL);
	job_limits_max(&small);
	assert_int_equal(small.book_pages, JOB_BOOK_PAGES_MAX);
	assert_int_equal(small.book_scenes, JOB_BOOK_SCENES_MAX);
}

/* A storybook with its story and no pages: the worker plans them. */
static void
test_storybook_plan(void **state)
{
	struct job_input a;
	char *s;

	(void)state;
	s = normal(JOB_STORYBOOK,
		   "{\"title\":\"Fox\",\"story\":\"" STORY60 "\"," IMG
		   ",\"audience\":\"adults\",\"pages\":null}",
		   &a);
	assert_true(a.u.book.needs_plan);
	assert_int_equal(a.u.book.npages, 0);
	assert_null(a.u.book.pages);
	assert_string_equal(a.u.book.story, STORY60);
	assert_int_equal(a.u.book.audience, JOB_AUDIENCE_ADULTS);
	assert_null(strstr(s, "pages"));
	job_input_free(&a);
	free(s);

	/* both: the pages win, and the story is kept */
	s = normal(JOB_STORYBOOK,
		   "{\"title\":\"Fox\",\"story\":\"" STORY60 "\"," IMG
		   ",\"pages\":[{\"scenes\":[{\"description\":\"d\"}]}]}",
		   &a);
	assert_false(a.u.book.needs_plan);
	assert_int_equal(a.u.book.npages, 1);
	assert_int_equal(a.u.book.pages[0].number, 1);
	assert_string_equal(a.u.book.story, STORY60);
	job_input_free(&a);
	free(s);
}

/* The tables: each value's name parses back to it; the rows are whole. */
static void
test_tables(void **state)
{
	char msg[256] = "Invalid style. Must be one of: ";
	size_t n;
	enum job_audience a;
	enum job_style st;
	enum job_genre g;

	(void)state;
	for (int i = 0; i < JOB_STYLE_MAX; i++) {
		const struct job_style_info *info = job_style_info(i);

		assert_non_null(info);
		assert_string_equal(info->name, job_style_name(i));
		assert_int_equal(job_style_parse(info->name, &st), SJ_OK);
		assert_int_equal(st, i);
		assert_true(info->label[0] && info->phrase[0] &&
			    info->palette[0]);
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, "%s%s", info->name,
			 i + 1 < JOB_STYLE_MAX ? ", " : "");
	}
	assert_string_equal(msg, JOB_STYLE_MSG);
	assert_string_equal(job_style_info(JOB_STYLE_COMIC_BOOK)->phrase,
			    "a bold comic-book panel with clean ink lines");
	assert_string_equal(job_style_info(JOB_STYLE_ANIME)->palette, "anime");
	assert_string_equal(job_style_name(JOB_STYLE_DEFAULT),
			    "semi-realistic");
	assert_null(job_style_info(JOB_STYLE_MAX));
	assert_string_equal(job_style_name(JOB_STYLE_MAX), "");
	assert_int_equal(job_style_parse("oil", &st), SJ_EINVAL);
	assert_int_equal(job_style_parse(NULL, &st), SJ_EINVAL);
	assert_int_equal(job_style_parse("", &st), SJ_EINVAL);

	for (int i = 0; i < JOB_AUDIENCE_MAX; i++) {
		assert_int_equal(job_audience_parse(job_audience_name(i), &a),
				 SJ_OK);
		assert_int_equal(a, i);
	}
	assert_int_equal(job_audience_info(JOB_AUDIENCE_CHILDREN)->scenes, 10);
	assert_int_equal(job_audience_info(JOB_AUDIENCE_YOUNG_ADULTS)->pages,
			 6);
	assert_int_equal(job_audience_info(JOB_AUDIENCE_ADULTS)->scenes, 18);
	assert_int_equal(job_audience_parse("Children", &a), SJ_EINVAL);
	assert_null(job_audience_info(JOB_AUDIENCE_MAX));

	for (int i = 0; i < JOB_GENRE_MAX; i++) {
		assert_int_equal(job_genre_parse(job_genre_name(i), &g), SJ_OK);
		assert_int_equal(g, i);
		assert_non_null(job_genre_info(i)->label);
	}
	assert_string_equal(job_genre_name(JOB_GENRE_HISTORY), "history");
	assert_int_equal(job_genre_parse("horror", &g), SJ_EINVAL);
}

/* An object {key: v} (v taken). */
static struct json_object *
with(struct json_object *base, const char *key, struct json_object *v)
{
	json_object_object_add(base, key, v);
	return base;
}

/* Wrong types, NUL, bad UTF-8, huge values: refused, never a crash. */
static void
test_hostile(void **state)
{
	static const char *const keys[] = {
	    "title", "story",	 "characterImage", "audience",
	    "style", "pages",	 "isReusedImage",  "prompt",
	    "genre", "imageUrl", "image_prompt",   "cartoon_image",
	};
	static const char *const minimal[JOB_TYPE_MAX] = {
	    [JOB_STORYBOOK] = BOOK,
	    [JOB_AUTO_STORY] =
		"{\"genre\":\"bedtime\",\"characterDescription\":"
		"\"c\",\"cartoonImageUrl\":\"/media/a.png\"}",
	    [JOB_SCENES] = "{\"story\":\"" STORY60 "\"," IMG "}",
	    [JOB_CARTOONIZE] = "{\"prompt\":\"p\",\"imageUrl\":\"/media/a\"}",
	    [JOB_IMAGE_GENERATION] = "{\"image_prompt\":\"p\"}",
	};
	struct json_object *(*const bad[])(void) = {
	    json_object_new_object,
	    json_object_new_array,
	};
	struct json_object *in;
	char *big;

	(void)state;
	/* every known field as a number, a float, an object, an array */
	for (int t = 0; t < JOB_NOOP; t++)
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			struct json_object *vals[4] = {
			    json_object_new_int64(INT64_MAX),
			    json_object_new_double(1e308), bad[0](), bad[1]()};

			for (int v = 0; v < 4; v++) {
				struct job_input typed;
				const char *msg = NULL;
				enum sj_err e;

				in = with(parse(minimal[t]), keys[k], vals[v]);
				e = job_input_parse(t, in, &limits, &typed,
						    &msg);
				/* a field the type does not know is ignored */
				if (e == SJ_OK)
					job_input_free(&typed);
				else
					assert_int_equal(e, SJ_EINVAL);
				json_object_put(in);
			}
		}
	/* a NUL inside a string, and bytes that are not UTF-8 */
	in = with(parse("{}"), "prompt", json_object_new_string_len("a\0b", 3));
	refused(JOB_CARTOONIZE, in,
		"Prompt must be a string of at most 4000 characters");
	json_object_put(in);
	in = with(parse("{\"prompt\":\"p\"}"), "style",
		  json_object_new_string_len("anime\0x", 7));
	refused(JOB_CARTOONIZE, in, JOB_STYLE_MSG);
	json_object_put(in);
	in = with(parse("{}"), "title",
		  json_object_new_string_len("\xff\xfe", 2));
	refused(JOB_STORYBOOK, in,
		"Title must be a string of at most 200 characters");
	json_object_put(in);

	/* one character past a cap; at the cap in 4-byte characters */
	big = malloc(4 * 4001 + 1);
	assert_non_null(big);
	memset(big, 'x', 4001);
	in = with(parse("{}"), "prompt", json_object_new_string_len(big, 4001));
	refused(JOB_CARTOONIZE, in,
		"Prompt must be a string of at most 4000 characters");
	json_object_put(in);
	for (int i = 0; i < 4000; i++)
		memcpy(big + 4 * i, "\xf0\x9f\xa6\x8a", 4);
	in = with(parse("{}"), "prompt",
		  json_object_new_string_len(big, 4 * 4000));
	{
		struct job_input typed;
		const char *msg;

		assert_int_equal(
		    job_input_parse(JOB_CARTOONIZE, in, &limits, &typed, &msg),
		    SJ_OK);
		assert_int_equal(strlen(typed.u.cartoon.prompt), 16000);
		job_input_free(&typed);
	}
	json_object_put(in);
	free(big);

	/* a huge page array is refused by its count, before any copy */
	{
		struct json_object *pages = json_object_new_array();

		for (int i = 0; i < 100000; i++)
			json_object_array_add(pages, json_object_new_int(i));
		in = with(parse("{\"title\":\"T\",\"story\":\"s\"," IMG "}"),
			  "pages", pages);
		refused(
		    JOB_STORYBOOK, in,
		    "A storybook has at most 30 pages; this one has 100000");
		json_object_put(in);
	}
	/* a page number past int64 and a float one */
	in = parse("{\"title\":\"T\",\"story\":\"s\"," IMG
		   ",\"pages\":[{\"pageNumber\":99999999999999999999,"
		   "\"scenes\":[{\"description\":\"d\"}]}]}");
	refused(JOB_STORYBOOK, in,
		"pageNumber must be an integer from 1 to 1000");
	json_object_put(in);
	in = parse("{\"title\":\"T\",\"story\":\"s\"," IMG
		   ",\"pages\":[{\"pageNumber\":1.5,\"scenes\":[{"
		   "\"description\":\"d\"}]}]}");
	refused(JOB_STORYBOOK, in,
		"pageNumber must be an integer from 1 to 1000");
	json_object_put(in);
	/* a type out of range */
	in = parse("{}");
	refused((enum job_type)99, in, "Invalid input");
	json_object_put(in);
}

/* The API's one call refuses noop, which is never started there. */
static void
test_validate(void **state)
{
	struct json_object *in = parse("{}"), *norm = NULL;
	const char *msg = NULL;

	(void)state;
	assert_int_equal(job_input_validate(&limits, JOB_NOOP, in, &norm, &msg),
			 SJ_EINVAL);
	assert_null(norm);
	json_object_put(in);
	in = parse(BOOK);
	assert_int_equal(
	    job_input_validate(&limits, JOB_STORYBOOK, in, &norm, &msg), SJ_OK);
	assert_non_null(norm);
	json_object_put(norm);
	json_object_put(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_normal_form),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_book_limits),
	    cmocka_unit_test(test_storybook_plan),
	    cmocka_unit_test(test_tables),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_validate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
