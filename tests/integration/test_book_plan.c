/*
 * Storybooks the server plans, and the worker's reading of stored inputs,
 * on the real stack.
 *
 * Covered: a storybook started with its story and no pages completes
 * with pages within STORYBOOK_MAX_PAGES and STORYBOOK_MAX_SCENES, and its
 * status lists the planning step first (a book given its pages keeps the
 * contract's five steps); a plan over the worker's STORYBOOK_MAX_SCENES
 * fails INVALID_INPUT for good; with the openai provider against the
 * fake, the scene breakdown (the chat call with response_format) is made
 * once even when a later picture call fails and the job is retried, and
 * once when the worker is killed after the plan was saved; a stored input
 * the parser refuses (an unknown style) fails INVALID_INPUT at its first
 * attempt, never retried.
 *
 * Environment: that of itest.h plus FAKE_UPSTREAM.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake.h"
#include "itest.h"

#define PLAN_STEP "Planning the scenes of the story"
#define STORY                                                                  \
	"Mia the otter found a shiny key by the river. She asked the old "     \
	"heron what it opened. Together they searched the reeds until dusk. "  \
	"At last they found a tiny door in a willow tree. Behind it was a "    \
	"library of river songs, and Mia sang one all the way home."
/* The default STORYBOOK_MAX_PAGES and STORYBOOK_MAX_SCENES (README). */
#define MAX_PAGES  30
#define MAX_SCENES 60
/* A scene breakdown's request: chat in JSON mode (test_providers.c). */
#define SCENES_FIELDS                                                          \
	"max_completion_tokens,messages,model,reasoning_effort,"               \
	"response_format"

static struct fake fk;
static char token[128];
static pid_t live[4];

static int
setup(void **state)
{
	char email[96];

	(void)state;
	snprintf(email, sizeof(email), "plan-%ld@example.com", (long)getpid());
	itest_user(email, "plan-password-1", 0, token);
	itest_cancel_leftovers();
	fake_start(&fk);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_stop(&fk);
	return 0;
}

static pid_t
worker_of(const char *const *env)
{
	pid_t w = itest_worker(env);

	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == 0) {
			live[i] = w;
			break;
		}
	return w;
}

static int
stop_sig(pid_t w, int sig)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == w)
			live[i] = 0;
	return itest_worker_stop(w, sig);
}

/* Stops what a failed test left running and cancels its jobs. */
static int
teardown_workers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] != 0)
			(void)stop_sig(live[i], SIGKILL);
	itest_cancel_leftovers();
	return 0;
}

/*
 * A planned storybook's start body: the story, no pages, in style (a
 * style of its own keeps a book from reusing an earlier one's pictures).
 */
static void
planned_body(const char *title, const char *image, const char *style, char *out,
	     size_t outsz)
{
	snprintf(out, outsz,
		 "{\"title\":\"%s %ld\",\"story\":\"" STORY "\","
		 "\"characterImage\":\"%s\",\"audience\":\"children\","
		 "\"style\":\"%s\"}",
		 title, (long)getpid(), image, style);
}

/* The step names of a status document, as "a|b|c". */
static void
steps_of(struct json_object *doc, char *out, size_t outsz)
{
	struct json_object *steps = jmember(doc, "steps");
	size_t used = 0;

	out[0] = '\0';
	assert_true(json_object_is_type(steps, json_type_array));
	for (size_t i = 0; i < json_object_array_length(steps); i++) {
		struct json_object *s = json_object_array_get_idx(steps, i);
		int n = snprintf(out + used, outsz - used, "%s%s", i ? "|" : "",
				 jstr(s, "step"));

		assert_true(n >= 0 && (size_t)n < outsz - used);
		used += (size_t)n;
	}
}

static struct json_object *
status_now(const char *type, const char *id)
{
	char path[160];
	struct resp r;
	struct json_object *doc;

	snprintf(path, sizeof(path), "/api/jobs/%s/status/%s", type, id);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	doc = json_object_get(r.json);
	resp_free(&r);
	return doc;
}

/* Pages and scenes of a finished book's result, within the caps. */
static void
check_plan_caps(struct json_object *res, size_t *pages, size_t *scenes)
{
	struct json_object *p = jmember(res, "pages");

	*pages = json_object_array_length(p);
	*scenes = 0;
	for (size_t i = 0; i < *pages; i++)
		*scenes += json_object_array_length(
		    jmember(json_object_array_get_idx(p, i), "scenes"));
	assert_true(*pages >= 1 && *pages <= MAX_PAGES);
	assert_true(*scenes >= *pages && *scenes <= MAX_SCENES);
}

static void
test_planned_book_local(void **state)
{
	static const char given[] =
	    "{\"title\":\"Given\",\"story\":\"Pip met an owl.\","
	    "\"characterImage\":\"https://example.com/pip.png\",\"pages\":[{"
	    "\"scenes\":[{\"description\":\"Pip finds a map\"}]}]}";
	struct json_object *doc, *res;
	char body[1024], id[64], steps[1024];
	size_t pages, scenes;
	pid_t w = worker_of(NULL);
	struct resp r;

	(void)state;
	planned_body("Mia plans", "https://example.com/mia.png", "storybook",
		     body, sizeof(body));
	itest_job_start("storybook", body, token, id);
	/* the steps are known from the start, the plan first */
	doc = status_now("storybook", id);
	steps_of(doc, steps, sizeof(steps));
	json_object_put(doc);
	assert_string_equal(steps, PLAN_STEP
			    "|Analyzing character image|Character analysis "
			    "complete|Generated {n}/{total} scene "
			    "illustrations|All scenes processed, saving "
			    "storybook|Storybook saved successfully");
	doc = itest_job_wait("storybook", id, 60);
	assert_string_equal(jstr(doc, "status"), "completed");
	assert_string_equal(jstr(doc, "currentStep"),
			    "Storybook saved successfully");
	steps_of(doc, steps, sizeof(steps));
	assert_true(strncmp(steps, PLAN_STEP "|", strlen(PLAN_STEP) + 1) == 0);
	res = jmember(doc, "result");
	check_plan_caps(res, &pages, &scenes);
	print_message("planned book: %zu pages, %zu scenes\n", pages, scenes);
	/* the saved book is the plan, every scene drawn */
	snprintf(body, sizeof(body), "/api/storybooks/%s",
		 jstr(res, "storybook_id"));
	http("GET", body, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_object_array_length(jmember(r.json, "pages")),
			 pages);
	resp_free(&r);
	json_object_put(doc);

	/* a book given its pages keeps the contract's five steps */
	itest_job_start("storybook", given, token, id);
	doc = itest_job_wait("storybook", id, 60);
	assert_string_equal(jstr(doc, "status"), "completed");
	steps_of(doc, steps, sizeof(steps));
	assert_true(strncmp(steps, "Analyzing character image|", 26) == 0);
	assert_null(strstr(steps, PLAN_STEP));
	json_object_put(doc);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

/* The worker's STORYBOOK_MAX_SCENES holds for its plan. */
static void
test_plan_over_caps(void **state)
{
	const char *const env[] = {"STORYBOOK_MAX_SCENES=2", NULL};
	struct json_object *doc;
	char body[1024], id[64];
	pid_t w;

	(void)state;
	planned_body("Too many", "https://example.com/mia.png", "storybook",
		     body, sizeof(body));
	itest_job_start("storybook", body, token, id);
	w = worker_of(env);
	doc = itest_job_wait("storybook", id, 60);
	if (strcmp(jstr(doc, "status"), "failed") != 0 ||
	    strcmp(jstr(doc, "code"), "INVALID_INPUT") != 0)
		fail_msg("want failed INVALID_INPUT: %s",
			 json_object_to_json_string(doc));
	assert_int_equal(jint(doc, "retryCount"), 1); /* one try, no retry */
	assert_non_null(strstr(jstr(doc, "error"), "STORYBOOK_MAX_SCENES"));
	json_object_put(doc);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

/* Calls in log that were scene breakdowns (chat in JSON mode). */
static int
scene_calls(struct json_object *log)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);

		n += strcmp(jstr(c, "path"), FAKE_CHAT) == 0 &&
		     strcmp(jstr(c, "fields"), SCENES_FIELDS) == 0;
	}
	return n;
}

/* Image calls in log answered with status. */
static int
image_status(struct json_object *log, long long status)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);

		n += strcmp(jstr(c, "path"), FAKE_IMAGES) == 0 &&
		     jint(c, "status") == status;
	}
	return n;
}

static void
test_plan_paid_once_on_retry(void **state)
{
	struct json_object *doc, *log;
	char body[1024], id[64], steps[1024], photo[512];
	size_t pages, scenes;
	pid_t w = worker_of(fake_worker_env(&fk, NULL));

	(void)state;
	/* a photo of its own: no picture of an earlier book is reused */
	fake_upload_photo(&fk, "retried", photo, sizeof(photo));
	fake_reset(&fk);
	/* the first picture fails transiently: the job is tried again */
	fake_script(&fk, FAKE_IMAGES, "\"modes\":[\"500\"]");
	planned_body("Retried", photo, "storybook", body, sizeof(body));
	itest_job_start("storybook", body, token, id);
	doc = itest_job_wait("storybook", id, 90);
	if (strcmp(jstr(doc, "status"), "completed") != 0)
		fail_msg("want completed: %s", json_object_to_json_string(doc));
	steps_of(doc, steps, sizeof(steps));
	assert_true(strncmp(steps, PLAN_STEP "|", strlen(PLAN_STEP) + 1) == 0);
	check_plan_caps(jmember(doc, "result"), &pages, &scenes);
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(image_status(log, 500), 1);
	assert_int_equal(image_status(log, 200), (int)scenes);
	assert_int_equal(scene_calls(log), 1);
	print_message("retried planned book: %zu pages, %zu scenes, %d calls "
		      "(%d chat, 1 scene breakdown)\n",
		      pages, scenes, fake_count(log, NULL),
		      fake_count(log, FAKE_CHAT));
	json_object_put(log);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

/* Waits until a call to path is in flight (its end not yet logged). */
static void
wait_open_call(const char *path, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 20) {
		struct json_object *log = fake_calls(&fk);
		int open = 0;

		for (size_t i = 0; i < json_object_array_length(log); i++) {
			struct json_object *c =
			    json_object_array_get_idx(log, i);

			open |= strcmp(jstr(c, "path"), path) == 0 &&
				jint(c, "end_ms") <= 0;
		}
		json_object_put(log);
		if (open)
			return;
		usleep(20 * 1000);
	}
	fail_msg("no call to %s in flight after %d ms", path, timeout_ms);
}

static void
test_plan_survives_kill(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=1", NULL};
	struct json_object *doc, *log;
	char body[1024], id[64], photo[512];
	pid_t w = worker_of(fake_worker_env(&fk, extra));

	(void)state;
	fake_upload_photo(&fk, "killed", photo, sizeof(photo));
	fake_reset(&fk);
	/* the first picture hangs: the plan is saved by then */
	fake_script(&fk, FAKE_IMAGES, "\"modes\":[\"delay:20000\"]");
	planned_body("Killed", photo, "comic-book", body, sizeof(body));
	itest_job_start("storybook", body, token, id);
	wait_open_call(FAKE_IMAGES, 20000);
	log = fake_calls(&fk);
	assert_int_equal(scene_calls(log), 1);
	json_object_put(log);
	assert_int_equal(stop_sig(w, SIGKILL), 128 + SIGKILL);
	w = worker_of(fake_worker_env(&fk, extra));
	doc = itest_job_wait("storybook", id, 90);
	if (strcmp(jstr(doc, "status"), "completed") != 0)
		fail_msg("want completed: %s", json_object_to_json_string(doc));
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(scene_calls(log), 1); /* not planned again */
	json_object_put(log);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

/*
 * A stored input the parser refuses (the API never stores one: this
 * is a row from elsewhere, or from before a style was removed) fails at
 * its first attempt with INVALID_INPUT and is not tried again.
 */
static void
test_stored_bad_style(void **state)
{
	struct json_object *doc;
	char q[512], id[64];
	pid_t w;

	(void)state;
	snprintf(id, sizeof(id), "job_1_badstyle%ld", (long)getpid());
	snprintf(q, sizeof(q),
		 "WITH i AS (INSERT INTO jobs (id, type, status, max_attempts, "
		 "timeout_s, input) VALUES ('%s', 'image-generation', "
		 "'pending', 4, 300, '{\"image_prompt\":\"a fox\",\"style\":"
		 "\"watercolor\"}') RETURNING 1) SELECT count(*) FROM i",
		 id);
	assert_int_equal(sql_ll(q), 1);
	w = worker_of(NULL);
	doc = itest_job_wait("image-generation", id, 30);
	if (strcmp(jstr(doc, "status"), "failed") != 0 ||
	    strcmp(jstr(doc, "code"), "INVALID_INPUT") != 0)
		fail_msg("want failed INVALID_INPUT: %s",
			 json_object_to_json_string(doc));
	assert_non_null(strstr(jstr(doc, "error"), "Invalid style"));
	json_object_put(doc);
	/* one attempt, and it stays failed: no retry is scheduled */
	usleep(1500 * 1000);
	snprintf(q, sizeof(q),
		 "SELECT attempts * 10 + (status = 'failed')::int FROM jobs "
		 "WHERE id = '%s'",
		 id);
	assert_int_equal(sql_ll(q), 11);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_planned_book_local,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_plan_over_caps, teardown_workers),
	    cmocka_unit_test_teardown(test_plan_paid_once_on_retry,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_plan_survives_kill,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_stored_bad_style, teardown_workers),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
