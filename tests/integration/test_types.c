/*
 * The five job types end to end with the offline provider: each starts
 * through nginx, a real worker runs it, and what it made can be opened:
 * images answer 200 as images, storybooks are served by the storybook
 * route with an illustration per scene, and an uploaded photo comes back
 * cartoonized (a new PNG of the same size).  The fake upstream only lends
 * its sample photo here.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake.h"
#include "itest.h"

static pid_t worker;
static char token[128];

static int
setup(void **state)
{
	const char *bin = getenv("WORKER_BIN");
	char email[96];

	(void)state;
	if (bin == NULL)
		return -1;
	snprintf(email, sizeof(email), "types-%ld@example.com", (long)getpid());
	itest_user(email, "types-password-1", 0, token);
	worker = itest_worker(NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return itest_worker_stop(worker, SIGTERM) == 0 ? 0 : -1;
}

static void
check_image(const char *url)
{
	struct resp r;

	assert_non_null(url);
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "image/svg+xml");
	assert_non_null(strstr(r.body.data, "<svg"));
	resp_free(&r);
}

/* The storybook route serves what the job saved. */
static struct json_object *
get_storybook(const char *id)
{
	char path[128];
	struct json_object *doc;
	struct resp r;

	assert_non_null(id);
	snprintf(path, sizeof(path), "/api/storybooks/%s", id);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	doc = json_object_get(r.json);
	resp_free(&r);
	return doc;
}

/* The width and height of a PNG (from its IHDR). */
static void
png_size(const struct resp *r, unsigned *w, unsigned *h)
{
	const unsigned char *p = (const unsigned char *)r->body.data;

	assert_true(r->body.len > 24);
	assert_memory_equal(p, "\x89PNG\r\n\x1a\n", 8);
	*w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 |
	     (unsigned)p[18] << 8 | p[19];
	*h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 |
	     (unsigned)p[22] << 8 | p[23];
}

static void
test_cartoonize_photo(void **state)
{
	struct json_object *a, *b, *res;
	char photo[512], body[1024];
	unsigned w0, h0, w1, h1;
	struct resp orig, got;
	struct fake fk;

	(void)state;
	fake_start(&fk);
	fake_upload_photo(&fk, NULL, photo, sizeof(photo));
	fake_stop(&fk);
	http("GET", photo, NULL, NULL, 0, &orig);
	assert_int_equal(orig.status, 200);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"my kid %ld\",\"style\":\"comic-book\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo);
	a = itest_job_run("cartoonize", body, token, 30);
	res = jmember(a, "result");
	assert_false(json_object_get_boolean(jmember(res, "cached")));
	http("GET", jstr(res, "url"), NULL, NULL, 0, &got);
	assert_int_equal(got.status, 200);
	assert_string_equal(got.ctype, "image/png");
	png_size(&orig, &w0, &h0);
	png_size(&got, &w1, &h1);
	assert_int_equal(w0, w1);
	assert_int_equal(h0, h1);
	assert_true(got.body.len != orig.body.len ||
		    memcmp(got.body.data, orig.body.data, got.body.len) != 0);
	/* the same photo, prompt and style again: from the cache */
	b = itest_job_run("cartoonize", body, token, 30);
	assert_true(
	    json_object_get_boolean(jmember(jmember(b, "result"), "cached")));
	assert_string_equal(jstr(jmember(b, "result"), "url"),
			    jstr(res, "url"));
	resp_free(&got);
	resp_free(&orig);
	json_object_put(b);
	json_object_put(a);
}

static void
test_image_generation(void **state)
{
	static const char body[] =
	    "{\"image_prompt\":\"a fox reading under a tree\","
	    "\"character_description\":\"a small red fox\",\"emotion\":"
	    "\"happy\",\"audience\":\"children\",\"style\":\"storybook\"}";
	struct json_object *a =
	    itest_job_run("image-generation", body, NULL, 30);
	struct json_object *b =
	    itest_job_run("image-generation", body, NULL, 30);

	(void)state;
	assert_string_equal(jstr(a, "currentStep"),
			    "Image generation complete");
	assert_false(
	    json_object_get_boolean(jmember(jmember(a, "result"), "reused")));
	check_image(jstr(jmember(a, "result"), "url"));
	assert_non_null(jstr(jmember(a, "result"), "prompt_used"));
	/* the same input again comes from the cache */
	assert_string_equal(jstr(b, "currentStep"), "Retrieved from cache");
	assert_true(
	    json_object_get_boolean(jmember(jmember(b, "result"), "reused")));
	assert_string_equal(jstr(jmember(a, "result"), "url"),
			    jstr(jmember(b, "result"), "url"));
	json_object_put(a);
	json_object_put(b);
}

static void
test_scenes(void **state)
{
	static const char body[] =
	    "{\"story\":\"Pip the fox found a map in the attic. She packed "
	    "a lantern and a sandwich. The forest was dark but the stars were "
	    "bright. At the old oak she met an owl who could not sleep. "
	    "Together they followed the map to a hidden lake. They watched "
	    "the moon rise and went home happy.\",\"characterImage\":"
	    "\"https://example.com/pip-the-fox.png\",\"audience\":"
	    "\"children\"}";
	struct json_object *d = itest_job_run("scenes", body, NULL, 30);
	struct json_object *res = jmember(d, "result");
	struct json_object *pages = jmember(res, "pages");

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Scene generation complete");
	assert_true(json_object_array_length(pages) >= 1);
	assert_true(json_object_array_length(pages) <= 4); /* children */
	assert_non_null(jstr(res, "character_description"));
	json_object_put(d);
}

static void
test_storybook(void **state)
{
	static const char body[] =
	    "{\"title\":\"Pip and the Owl\",\"story\":\"Pip met an owl.\","
	    "\"characterImage\":\"https://example.com/pip.png\",\"audience\":"
	    "\"children\",\"pages\":[{\"pageNumber\":1,\"scenes\":[{"
	    "\"description\":\"Pip finds a map\",\"emotion\":\"excited\","
	    "\"imagePrompt\":\"a fox holding an old map\"},{\"description\":"
	    "\"Pip meets the owl\",\"emotion\":\"happy\",\"imagePrompt\":"
	    "\"a fox and an owl on a branch\"}]},{\"pageNumber\":2,\"scenes\":"
	    "[{\"description\":\"They watch the moon\",\"emotion\":\"calm\","
	    "\"imagePrompt\":\"a fox and an owl by a lake at night\"}]}]}";
	struct json_object *d = itest_job_run("storybook", body, NULL, 30);
	struct json_object *res = jmember(d, "result"), *sb;

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Storybook saved successfully");
	assert_false(json_object_get_boolean(jmember(res, "has_errors")));
	sb = get_storybook(jstr(res, "storybook_id"));
	assert_string_equal(jstr(sb, "title"), "Pip and the Owl");
	assert_int_equal(itest_check_pages(jmember(sb, "pages"), check_image),
			 3);
	json_object_put(sb);
	json_object_put(d);
}

static void
test_auto_story(void **state)
{
	static const char body[] =
	    "{\"genre\":\"adventure\",\"characterDescription\":\"a brave "
	    "little fox named pip with a green scarf\",\"cartoonImageUrl\":"
	    "\"https://example.com/fox.png\",\"audience\":\"children\"}";
	struct json_object *d = itest_job_run("auto-story", body, token, 30);
	struct json_object *res = jmember(d, "result"), *sb;

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Auto-story generation complete");
	assert_non_null(jstr(res, "title"));
	sb = get_storybook(jstr(res, "storybook_id"));
	assert_string_equal(jstr(sb, "title"), jstr(res, "title"));
	assert_true(itest_check_pages(jmember(sb, "pages"), check_image) >= 4);
	/* the hero is the character the description names */
	assert_non_null(
	    jstr(json_object_array_get_idx(jmember(sb, "pages"), 0), "text"));
	assert_non_null(strstr(
	    jstr(json_object_array_get_idx(jmember(sb, "pages"), 0), "text"),
	    "Pip"));
	json_object_put(sb);
	json_object_put(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cartoonize_photo),
	    cmocka_unit_test(test_image_generation),
	    cmocka_unit_test(test_scenes),
	    cmocka_unit_test(test_storybook),
	    cmocka_unit_test(test_auto_story),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
