/*
 * The local provider with no job and no worker: this program links
 * worker/gen_local.c and what it draws with, but none of the pool or
 * step files, so a provider's result and its failure record are all it
 * has to say.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "gen_local.h"

static void
test_story(void **state)
{
	struct gen_fail f;
	struct buf out;
	char *text;

	(void)state;
	assert_true(gen_local_story("bedtime", "Mia", "children", &out, &f));
	text = strndup(out.data, out.len);
	assert_non_null(text);
	assert_non_null(strstr(text, "Mia"));
	assert_non_null(strstr(text, "\n\n"));
	free(text);
	buf_free(&out);

	memset(&f, 0, sizeof(f));
	assert_false(gen_local_story("opera", "Mia", "children", &out, &f));
	assert_false(f.transient);
	assert_string_equal(f.code, "INVALID_INPUT");
	assert_string_equal(f.msg, "Invalid genre");
	assert_int_equal(f.retry_after_s, 0);
}

static void
test_scenes(void **state)
{
	struct json_object *pages = NULL;
	struct gen_fail f;

	(void)state;
	assert_true(gen_local_scenes("Title\n\nA fox ran. It was late. "
				     "The moon rose.",
				     "children", &pages, &f));
	assert_true(json_object_is_type(pages, json_type_array));
	assert_true(json_object_array_length(pages) >= 1);
	json_object_put(pages);

	assert_false(gen_local_scenes("", "children", &pages, &f));
	assert_false(f.transient);
	assert_string_equal(f.code, "INVALID_INPUT");
	assert_string_equal(f.msg, "Story content is required");
}

static void
test_describe(void **state)
{
	char out[GEN_DESC_MAX];

	(void)state;
	gen_local_describe("https://example.test/media/brave-fox.png?x=1", out);
	assert_string_equal(out, "brave fox character");
	gen_local_describe("https://example.test/media/12345.png", out);
	assert_string_equal(out, "the main character");
}

static void
test_cartoon_unreadable(void **state)
{
	struct gen_image photo = {{0}, "image/png", "png"};
	struct gen_image out;
	struct gen_fail f;

	(void)state;
	buf_init(&photo.data, 1024);
	assert_int_equal(buf_add(&photo.data, "not a picture", 13), SJ_OK);
	memset(&out, 0, sizeof(out));
	assert_false(gen_local_cartoon(&photo, "storybook", &out, &f));
	assert_false(f.transient);
	assert_string_equal(f.code, "INVALID_INPUT");
	assert_string_equal(f.msg, "The picture cannot be read");
	gen_image_free(&photo);
	gen_image_free(&out);
}

static void
test_image(void **state)
{
	struct gen_image out;
	struct gen_fail f;
	char *text;

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_true(gen_local_image("a fox in a boat", "storybook", &out, &f));
	assert_string_equal(out.ctype, "image/svg+xml");
	assert_string_equal(out.ext, "svg");
	text = strndup(out.data.data, out.data.len);
	assert_non_null(text);
	assert_non_null(strstr(text, "<svg"));
	free(text);
	gen_image_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_story),
	    cmocka_unit_test(test_scenes),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_cartoon_unreadable),
	    cmocka_unit_test(test_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
