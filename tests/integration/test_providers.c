/*
 * The openai provider and cloudinary storage, end to end: the real worker
 * talks over real sockets to the fake OpenAI-compatible and
 * Cloudinary-compatible server on loopback (the only fake: third-party
 * services are out of reach here), jobs go through nginx and the jobs
 * program.
 *
 * Covered: every job type completes with the default models and stored,
 * fetchable images, and each call the fake received has the request
 * shape its model family takes (no response_format to a GPT image model,
 * no temperature or max_tokens to a reasoning model); a retired model
 * fails its job at once with a message naming the setting; classic chat
 * models still served get a token limit they accept; a refused key fails
 * with a fixed line and neither the job's error nor the worker's log
 * holds the key or a piece of it; an upstream message of multibyte
 * characters cut to size fails its job cleanly; an image answered by URL
 * goes through the safe fetch only (never our media directory), and a
 * refused fetch blames the upstream; check-config --online and the
 * worker's start-up check read GET /models; each upstream failure
 * mode gives the right retry or failure (and a 429's Retry-After is
 * honoured); a cancel aborts an in-flight call within a second and frees
 * the slot; a job killed mid-way resumes after its checkpoint without
 * paying again for what was saved; user-supplied URLs that point inside
 * the network are refused.
 *
 * Environment: that of itest.h plus FAKE_UPSTREAM.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "fake.h"
#include "itest.h"

static struct fake fk;
static char token[128];
static char photo_url[512];

static int
setup(void **state)
{
	char email[96];

	(void)state;
	snprintf(email, sizeof(email), "prov-%ld@example.com", (long)getpid());
	itest_user(email, "providers-password-1", 0, token);
	itest_cancel_leftovers();
	fake_start(&fk);
	fake_upload_photo(&fk, NULL, photo_url, sizeof(photo_url));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_stop(&fk);
	return 0;
}

/*
 * The workers a test started and has not stopped: a failed test leaves
 * its worker (and maybe a job) behind, and teardown_workers() stops it
 * and cancels the job, so the next test does not have its jobs taken by
 * a worker with other settings.
 */
static pid_t live[8];

static pid_t
track(pid_t w)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == 0) {
			live[i] = w;
			break;
		}
	return w;
}

/* Stops w with sig; returns its exit status as itest_worker_stop does. */
static int
stop_sig(pid_t w, int sig)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == w)
			live[i] = 0;
	return itest_worker_stop(w, sig);
}

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

/* A worker on the fake with extra settings. */
static pid_t
worker(const char *const *extra)
{
	return track(itest_worker(fake_worker_env(&fk, extra)));
}

static void
stop(pid_t w)
{
	assert_int_equal(stop_sig(w, SIGTERM), 0);
}

/* The image at url is on the fake's CDN and is a real PNG. */
static void
check_cdn_png(const char *url)
{
	struct resp r;

	assert_non_null(url);
	assert_true(strncmp(url, fk.base, strlen(fk.base)) == 0);
	assert_non_null(strstr(url, "/cdn/" FAKE_CLOUD "/"));
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(r.body.len > 8);
	assert_memory_equal(r.body.data, "\x89PNG\r\n\x1a\n", 8);
	resp_free(&r);
}

static struct json_object *
result_of(struct json_object *doc)
{
	return jmember(doc, "result");
}

static void
check_storybook(const char *id, int min_scenes)
{
	char path[128];
	struct resp r;

	assert_non_null(id);
	snprintf(path, sizeof(path), "/api/storybooks/%s", id);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(itest_check_pages(jmember(r.json, "pages"),
				      check_cdn_png) >= min_scenes);
	resp_free(&r);
}

/* The request shapes of the default models, as the fake logs them. */
#define IMAGE_FIELDS  "model,n,output_format,prompt,quality,size"
#define CHAT_FIELDS   "max_completion_tokens,messages,model,reasoning_effort"
#define SCENES_FIELDS CHAT_FIELDS ",response_format"

/*
 * Every chat and image call in log had the default models and their
 * request shape; returns the number of calls checked.
 */
static int
check_shapes(struct json_object *log)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);
		const char *path = jstr(c, "path"), *fields = jstr(c, "fields");

		if (strcmp(path, FAKE_IMAGES) == 0) {
			assert_string_equal(jstr(c, "model"),
					    "gpt-image-2.6-flare");
			assert_string_equal(fields, IMAGE_FIELDS);
		} else if (strcmp(path, FAKE_CHAT) == 0) {
			assert_string_equal(jstr(c, "model"), "gpt-6-luna");
			if (strcmp(fields, SCENES_FIELDS) != 0)
				assert_string_equal(fields, CHAT_FIELDS);
		} else {
			continue;
		}
		assert_int_equal(jint(c, "status"), 200);
		n++;
	}
	return n;
}

static void
test_every_type(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=3", NULL};
	struct json_object *doc, *log;
	char body[2048];
	pid_t w = worker(extra);
	int images;

	(void)state;
	fake_reset(&fk);
	/* cartoonize: describe the photo, draw it, upload it */
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"prov %ld hero\",\"style\":\"anime\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo_url);
	doc = itest_job_run("cartoonize", body, token, 60);
	check_cdn_png(jstr(result_of(doc), "url"));
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 1);
	assert_int_equal(fake_count(log, FAKE_IMAGES), 1);
	assert_int_equal(fake_count(log, FAKE_UPLOAD), 1);
	assert_int_equal(check_shapes(log), 2);
	json_object_put(log);

	/* cartoonize without a photo: an illustration of the prompt alone */
	fake_reset(&fk);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"prov %ld a knight\",\"style\":\"comic-book\"}",
		 (long)getpid());
	doc = itest_job_run("cartoonize", body, token, 60);
	check_cdn_png(jstr(result_of(doc), "url"));
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 0);
	assert_int_equal(fake_count(log, FAKE_IMAGES), 1);
	assert_int_equal(check_shapes(log), 1);
	json_object_put(log);

	/* image-generation, then the same again from the cache */
	snprintf(
	    body, sizeof(body),
	    "{\"image_prompt\":\"a lantern %ld\",\"character_description\":"
	    "\"a fox\",\"emotion\":\"happy\",\"audience\":\"children\"}",
	    (long)getpid());
	doc = itest_job_run("image-generation", body, token, 60);
	check_cdn_png(jstr(result_of(doc), "url"));
	assert_false(
	    json_object_get_boolean(jmember(result_of(doc), "reused")));
	json_object_put(doc);
	doc = itest_job_run("image-generation", body, token, 60);
	assert_true(json_object_get_boolean(jmember(result_of(doc), "reused")));
	json_object_put(doc);
	log = fake_calls(&fk);
	/* the prompt-only cartoon and the first of the two: not 3 */
	assert_int_equal(fake_count(log, FAKE_IMAGES), 2);
	json_object_put(log);

	/* scenes: JSON mode with the children's targets */
	fake_reset(&fk);
	snprintf(body, sizeof(body),
		 "{\"story\":\"Once upon a time a small fox %ld found a "
		 "lantern in the woods and carried it home through the "
		 "snow.\",\"characterImage\":\"%s\",\"audience\":"
		 "\"children\"}",
		 (long)getpid(), photo_url);
	doc = itest_job_run("scenes", body, token, 60);
	assert_int_equal(
	    json_object_array_length(jmember(result_of(doc), "pages")), 4);
	assert_non_null(jstr(result_of(doc), "character_description"));
	assert_string_not_equal(jstr(result_of(doc), "character_description"),
				"the main character");
	json_object_put(doc);
	log = fake_calls(&fk);
	/* the character description (with the photo), then the scenes */
	assert_int_equal(fake_count(log, FAKE_CHAT), 2);
	assert_int_equal(check_shapes(log), 2);
	json_object_put(log);

	/* storybook: an illustration per scene, a saved book */
	snprintf(body, sizeof(body),
		 "{\"title\":\"Prov %ld\",\"story\":\"A tale.\","
		 "\"characterImage\":\"%s\",\"audience\":\"children\","
		 "\"pages\":[{\"pageNumber\":1,\"scenes\":[{\"description\":"
		 "\"The fox wakes.\",\"emotion\":\"happy\",\"imagePrompt\":"
		 "\"fox waking %ld\"},{\"description\":\"The fox runs.\","
		 "\"emotion\":\"excited\",\"imagePrompt\":\"fox running "
		 "%ld\"}]}]}",
		 (long)getpid(), photo_url, (long)getpid(), (long)getpid());
	doc = itest_job_run("storybook", body, token, 60);
	assert_false(
	    json_object_get_boolean(jmember(result_of(doc), "has_errors")));
	check_storybook(jstr(result_of(doc), "storybook_id"), 2);
	json_object_put(doc);

	/* auto-story: written, broken into scenes, illustrated, saved */
	fake_reset(&fk);
	snprintf(body, sizeof(body),
		 "{\"genre\":\"fantasy\",\"characterDescription\":\"a brave "
		 "owl named Pip %ld\",\"audience\":\"children\","
		 "\"cartoonImageUrl\":\"%s\"}",
		 (long)getpid(), photo_url);
	doc = itest_job_run("auto-story", body, token, 90);
	assert_non_null(jstr(result_of(doc), "title"));
	check_storybook(jstr(result_of(doc), "storybook_id"), 8);
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 2); /* story, scenes */
	images = fake_count(log, FAKE_IMAGES);
	assert_int_equal(images, 8); /* 4 pages x 2 scenes, each once */
	assert_int_equal(fake_count(log, FAKE_UPLOAD), images);
	assert_int_equal(check_shapes(log), 10);
	json_object_put(log);
	stop(w);
}

/* The failed job's status document for a job of type with body. */
static struct json_object *
run_failed(const char *type, const char *body)
{
	struct json_object *doc;
	char id[64];

	itest_job_start(type, body, token, id);
	doc = itest_job_wait(type, id, 60);
	if (strcmp(jstr(doc, "status"), "failed") != 0)
		fail_msg("%s: want failed: %s", type,
			 json_object_to_json_string(doc));
	return doc;
}

/* The only call to path in log; its fields are returned. */
static const char *
only_call(struct json_object *log, const char *path)
{
	assert_int_equal(fake_count(log, path), 1);
	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);

		if (strcmp(jstr(c, "path"), path) == 0)
			return jstr(c, "fields");
	}
	return NULL;
}

/*
 * Retired models fail their jobs at once, naming the setting; a classic
 * chat model still served gets the classic request.
 */
static void
test_retired_models(void **state)
{
	const char *const dalle[] = {"OPENAI_IMAGE_MODEL=dall-e-3", NULL};
	const char *const gpt4[] = {"OPENAI_MODEL=gpt-4", NULL};
	const char *const classic[] = {"OPENAI_MODEL=gpt-4o-mini", NULL};
	struct json_object *doc, *log;
	char body[1024];
	pid_t w;

	(void)state;
	fake_reset(&fk);
	w = worker(dalle);
	snprintf(body, sizeof(body), "{\"image_prompt\":\"retired %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	assert_string_equal(jstr(doc, "code"), "EXTERNAL_SERVICE_ERROR");
	assert_non_null(strstr(
	    jstr(doc, "error"),
	    "OPENAI_IMAGE_MODEL=dall-e-3: the model does not exist or was "
	    "retired (model_not_found); set OPENAI_IMAGE_MODEL to a current "
	    "image model"));
	print_message("dall-e-3: %s (retryCount %lld)\n", jstr(doc, "error"),
		      jint(doc, "retryCount"));
	assert_int_equal(jint(doc, "retryCount"), 1); /* no second attempt */
	json_object_put(doc);
	log = fake_calls(&fk);
	/* dall-e models get their own request shape, answered with a 404 */
	assert_string_equal(only_call(log, FAKE_IMAGES),
			    "model,n,prompt,response_format,size");
	json_object_put(log);
	stop(w);

	fake_reset(&fk);
	w = worker(gpt4);
	snprintf(body, sizeof(body),
		 "{\"story\":\"Once upon a time a small fox %ld found a "
		 "lantern in the woods and carried it home.\",\"audience\":"
		 "\"children\",\"characterImage\":\"%s\"}",
		 (long)getpid(), photo_url);
	doc = run_failed("scenes", body);
	assert_non_null(strstr(jstr(doc, "error"),
			       "OPENAI_MODEL=gpt-4: the model does not exist "
			       "or was retired (model_not_found); set "
			       "OPENAI_MODEL to a current chat model"));
	assert_int_equal(jint(doc, "retryCount"), 1);
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 1);
	json_object_put(log);
	stop(w);

	fake_reset(&fk);
	w = worker(classic);
	doc = itest_job_run("scenes", body, token, 60);
	json_object_put(doc);
	log = fake_calls(&fk);
	/* the description of the photo, then the scenes in JSON mode */
	assert_int_equal(fake_count(log, FAKE_CHAT), 2);
	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);
		const char *f = jstr(c, "fields");

		if (strcmp(jstr(c, "path"), FAKE_CHAT) != 0)
			continue;
		assert_string_equal(jstr(c, "model"), "gpt-4o-mini");
		if (strcmp(f, "max_tokens,messages,model,temperature") != 0)
			assert_string_equal(f, "max_tokens,messages,model,"
					       "response_format,temperature");
	}
	json_object_put(log);
	stop(w);
}

/*
 * An image answered by URL is read through the safe fetch only: one of
 * our own media URLs is not read from the media directory, and an
 * address inside the network is refused before anything is sent.  Each
 * fails for good, blaming the upstream.
 */
static void
test_url_answers(void **state)
{
	struct json_object *doc, *log;
	char body[256], what[768], inward[2][160];
	pid_t w = worker(NULL);

	(void)state;
	/* one of our own media URLs (a user's upload) */
	fake_reset(&fk);
	snprintf(what, sizeof(what), "\"modes\":[\"url\"],\"url\":\"%s\"",
		 photo_url);
	fake_script(&fk, FAKE_IMAGES, what);
	snprintf(body, sizeof(body), "{\"image_prompt\":\"own media %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	print_message("own media url answer: %s\n", jstr(doc, "error"));
	assert_string_equal(jstr(doc, "code"), "EXTERNAL_SERVICE_ERROR");
	assert_int_equal(jint(doc, "retryCount"), 1);
	assert_false(json_object_object_get_ex(doc, "result", NULL));
	json_object_put(doc);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_UPLOAD), 0); /* nothing stored */
	json_object_put(log);
	/* https (the scheme passes) to loopback, by address and by name */
	snprintf(inward[0], sizeof(inward[0]),
		 "https://127.0.0.1:%d/img/photo.png", fk.port);
	snprintf(inward[1], sizeof(inward[1]),
		 "https://localhost:%d/img/photo.png", fk.port);
	for (size_t i = 0; i < 2; i++) {
		fake_reset(&fk);
		snprintf(what, sizeof(what),
			 "\"modes\":[\"url\"],\"url\":\"%s\"", inward[i]);
		fake_script(&fk, FAKE_IMAGES, what);
		snprintf(body, sizeof(body),
			 "{\"image_prompt\":\"inward %zu %ld\"}", i,
			 (long)getpid());
		doc = run_failed("image-generation", body);
		print_message("%s answered: %s\n", inward[i],
			      jstr(doc, "error"));
		assert_string_equal(jstr(doc, "code"),
				    "EXTERNAL_SERVICE_ERROR");
		assert_int_equal(jint(doc, "retryCount"), 1);
		json_object_put(doc);
		log = fake_calls(&fk);
		assert_int_equal(fake_count(log, FAKE_IMAGES), 1);
		json_object_put(log);
		/* nothing reached the fake: no photo fetch, no TLS hello */
		assert_int_equal(fake_counter(&fk, "img_gets"), 0);
		assert_int_equal(fake_counter(&fk, "bad_requests"), 0);
	}
	stop(w);
}

/*
 * Classic chat models a compatible server still serves get a completion
 * limit each accepts (the fake answers 400 past a model's output limit
 * or context, as the API does): 4096 for gpt-4-turbo and gpt-3.5-turbo,
 * none for gpt-4, whose 8k context holds prompt and answer.
 */
static void
test_classic_limits(void **state)
{
	static const char *const cases[][2] = {
	    {"gpt-4-turbo", "max_tokens,"},
	    {"gpt-3.5-turbo", "max_tokens,"},
	    {"gpt-4", ""},
	};
	struct json_object *doc, *log;
	char body[1024], model[64], want[128], want_json[160];

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"story\":\"Once upon a time a small fox %ld found a "
		 "lantern in the woods and carried it home.\",\"audience\":"
		 "\"children\",\"characterImage\":\"%s\"}",
		 (long)getpid(), photo_url);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *extra[] = {model, NULL};
		pid_t w;

		fake_reset(&fk);
		fake_models(&fk, "{\"revive\":[\"gpt-4-turbo\","
				 "\"gpt-3.5-turbo\",\"gpt-4\"]}");
		snprintf(model, sizeof(model), "OPENAI_MODEL=%s", cases[i][0]);
		snprintf(want, sizeof(want), "%smessages,model,temperature",
			 cases[i][1]);
		snprintf(want_json, sizeof(want_json),
			 "%smessages,model,response_format,temperature",
			 cases[i][1]);
		w = worker(extra);
		doc = itest_job_run("scenes", body, token, 60);
		json_object_put(doc);
		log = fake_calls(&fk);
		/* the description of the photo, then the scenes in JSON mode */
		assert_int_equal(fake_count(log, FAKE_CHAT), 2);
		for (size_t k = 0; k < json_object_array_length(log); k++) {
			struct json_object *c =
			    json_object_array_get_idx(log, k);

			if (strcmp(jstr(c, "path"), FAKE_CHAT) != 0)
				continue;
			assert_string_equal(jstr(c, "model"), cases[i][0]);
			assert_int_equal(jint(c, "status"), 200);
			if (strcmp(jstr(c, "fields"), want) != 0)
				assert_string_equal(jstr(c, "fields"),
						    want_json);
		}
		json_object_put(log);
		stop(w);
	}
}

/* A worker on the fake whose log (stderr) goes to path. */
static pid_t worker_logged(const char *const *extra, const char *path);

/* The whole file at path as a string (malloced). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1u << 20);
	size_t n = 0;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, (1u << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

#define WRONG_KEY "sk-proj-Wr0ngKeyAbCdEf0123456789QqZ9"

/* Neither WRONG_KEY nor a piece a mask of it shows is in s. */
static void
assert_no_key(const char *s)
{
	assert_non_null(s);
	assert_null(strstr(s, WRONG_KEY));
	assert_null(strstr(s, "Wr0ngKey"));
	assert_null(strstr(s, "sk-proj-"));
	assert_null(strstr(s, "QqZ9"));
}

/*
 * A refused key fails the job at once with a fixed line naming
 * OPENAI_API_KEY -- OpenAI's own 401 (which shows the key's first bytes
 * and last four) and a proxy's that echoes the whole key alike -- and a
 * message of any other refusal that holds the key is shown scrubbed.
 * Neither the jobs' errors nor the worker's log hold the key or a piece
 * of it.
 */
static void
test_key_refused(void **state)
{
	const char *const extra[] = {"OPENAI_API_KEY=" WRONG_KEY, NULL};
	char path[] = "/tmp/sj-prov-key.XXXXXX", body[256], *text;
	struct json_object *doc;
	pid_t w;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	fake_reset(&fk);
	w = worker_logged(extra, path);
	/* OpenAI's 401, the key masked */
	snprintf(body, sizeof(body), "{\"image_prompt\":\"key 1 %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	print_message("wrong key: %s\n", jstr(doc, "error"));
	assert_string_equal(jstr(doc, "error"),
			    "Generating the image failed: OPENAI_API_KEY was "
			    "refused (HTTP 401): set OPENAI_API_KEY to a valid "
			    "key");
	assert_int_equal(jint(doc, "retryCount"), 1);
	json_object_put(doc);
	/* a proxy's 401 with the whole key */
	fake_script(&fk, FAKE_IMAGES,
		    "\"modes\":[\"error\"],\"error\":{\"status\":401,"
		    "\"message\":\"key {key} is not allowed here\"}");
	snprintf(body, sizeof(body), "{\"image_prompt\":\"key 2 %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	assert_non_null(
	    strstr(jstr(doc, "error"), "OPENAI_API_KEY was refused"));
	assert_no_key(jstr(doc, "error"));
	json_object_put(doc);
	/* any other refusal that echoes it: shown, scrubbed */
	fake_script(&fk, FAKE_IMAGES,
		    "\"modes\":[\"error\"],\"error\":{\"status\":400,"
		    "\"code\":\"proxy_refused\",\"message\":\"route refused "
		    "for {key} (Bearer {key})\"}");
	snprintf(body, sizeof(body), "{\"image_prompt\":\"key 3 %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	print_message("echoed key: %s\n", jstr(doc, "error"));
	assert_string_equal(jstr(doc, "error"),
			    "Generating the image failed: HTTP 400: route "
			    "refused for [redacted] (Bearer [redacted])");
	json_object_put(doc);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
	text = slurp(path);
	assert_non_null(strstr(text, "OPENAI_API_KEY was refused"));
	assert_no_key(text);
	free(text);
	unlink(path);
}

/*
 * An upstream message of 4-byte characters, longer than every buffer
 * it passes, fails its job at once with the message stored: each cut
 * falls between two characters, so PostgreSQL takes it.
 */
static void
test_multibyte_error(void **state)
{
	const char *const extra[] = {"JOB_LEASE_SECONDS=4", "HEARTBEAT_MS=1000",
				     NULL};
	char what[4096], body[256];
	const char *err;
	struct json_object *doc;
	size_t n;
	pid_t w;

	(void)state;
	fake_reset(&fk);
	n = (size_t)snprintf(what, sizeof(what),
			     "\"modes\":[\"error\"],\"error\":{\"status\":"
			     "400,\"code\":\"unknown_parameter\",\"param\":"
			     "\"quality\",\"message\":\"x");
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(what + n, sizeof(what) - n,
				      "\xf0\x9f\xa6\x8a");
	snprintf(what + n, sizeof(what) - n, "\"}");
	fake_script(&fk, FAKE_IMAGES, what);
	w = worker(extra);
	snprintf(body, sizeof(body), "{\"image_prompt\":\"fox text %ld\"}",
		 (long)getpid());
	doc = run_failed("image-generation", body);
	err = jstr(doc, "error");
	print_message("%zu-byte error stored after %lld attempt(s)\n",
		      strlen(err), jint(doc, "retryCount"));
	assert_int_equal(jint(doc, "retryCount"), 1); /* failed, not rescued */
	assert_non_null(strstr(err, "Generating the image failed: "
				    "OPENAI_IMAGE_MODEL=gpt-image-2.6-flare "
				    "refused the parameter 'quality' "
				    "(unknown_parameter): x\xf0\x9f\xa6\x8a"));
	assert_true(strlen(err) > 200);
	json_object_put(doc);
	stop(w);
}

/*
 * Runs storyjobsctl check-config --online with the fake's settings and
 * extra; its output goes into out.
 */
static int
ctl_online(const char *const *extra, char *out, size_t outsz)
{
	const char *ctl = getenv("STORYJOBSCTL");
	const char *const *env = fake_worker_env(&fk, extra);
	size_t n = 0;
	int fds[2], st = 0;
	ssize_t k;
	pid_t pid;

	assert_non_null(ctl);
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		for (size_t i = 0; env[i] != NULL; i++)
			putenv((char *)(uintptr_t)env[i]);
		execl(ctl, ctl, "check-config", "--online", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n + 1 < outsz && (k = read(fds[0], out + n, outsz - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	print_message("check-config --online -> %d\n%s",
		      WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
test_check_config_online(void **state)
{
	const char *const old[] = {"OPENAI_MODEL=gpt-4o-mini", NULL};
	const char *const weak[] = {"STORAGE=local",
				    "MEDIA_DIR=/proc/sj-no-such-dir", NULL};
	const char *const short_secret[] = {"WEBHOOK_SECRET=tooshort-secret",
					    NULL};
	static char out[16384]; /* every setting's source, then the checks */

	(void)state;
	fake_reset(&fk);
	assert_int_equal(ctl_online(NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(
	    out, "ok: OPENAI_MODEL=gpt-6-luna: listed, no shutdown date"));
	assert_non_null(strstr(out,
			       "ok: OPENAI_IMAGE_MODEL=gpt-image-2.6-flare: "
			       "listed, no shutdown date"));
	assert_non_null(
	    strstr(out, "ok: STORAGE=cloudinary: no media folder to write"));
	assert_non_null(strstr(out, "ok: WEBHOOK_SECRET: "));
	/* a shutdown date to come: a warning, still 0 */
	fake_models(&fk, "{\"shutdown\":{\"gpt-6-luna\":\"2099-01-01\"}}");
	assert_int_equal(ctl_online(NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "warning: OPENAI_MODEL=gpt-6-luna: listed, "
				    "shuts down on 2099-01-01"));
	/* a date that has passed, and a model not listed: 78 (EX_CONFIG) */
	fake_models(&fk,
		    "{\"shutdown\":{\"gpt-image-2.6-flare\":\"2020-01-01\"}}");
	assert_int_equal(ctl_online(NULL, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "error: OPENAI_IMAGE_MODEL="
				    "gpt-image-2.6-flare: shut down on "
				    "2020-01-01"));
	fake_models(&fk, "{\"omit\":[\"gpt-6-luna\"]}");
	assert_int_equal(ctl_online(NULL, out, sizeof(out)), 78);
	assert_non_null(
	    strstr(out, "error: OPENAI_MODEL=gpt-6-luna: not listed"));
	/* a server that gives no dates: OpenAI's announced date is used */
	fake_models(&fk, "{\"no_dates\":true}");
	assert_int_equal(ctl_online(old, out, sizeof(out)), 0);
	assert_non_null(strstr(out,
			       "warning: OPENAI_MODEL=gpt-4o-mini: listed; "
			       "OpenAI announced its shutdown for "
			       "2027-01-14"));
	/* no list at all: 78, with the reason */
	fake_models(&fk, "{\"status\":503}");
	assert_int_equal(ctl_online(NULL, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "error: cannot list the models"));
	fake_models(&fk, "{}");
	/* each problem on its own line, every check run, the one exit code */
	assert_int_equal(ctl_online(weak, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "error: MEDIA_DIR=/proc/sj-no-such-dir: "
				    "not writable by uid "));
	assert_non_null(strstr(out, "ok: database schema version "));
	assert_non_null(strstr(
	    out, "ok: OPENAI_MODEL=gpt-6-luna: listed, no shutdown date"));
	/* a short WEBHOOK_SECRET: the configuration itself is refused */
	assert_int_equal(ctl_online(short_secret, out, sizeof(out)), 78);
	assert_non_null(strstr(out, "error: WEBHOOK_SECRET=(set, 15 bytes): "
				    "must be at least 32 bytes"));
	assert_null(strstr(out, "tooshort-secret"));
}

/* A worker on the fake whose log (stderr) goes to path. */
static pid_t
worker_logged(const char *const *extra, const char *path)
{
	const char *bin = getenv("WORKER_BIN");
	const char *const *env = fake_worker_env(&fk, extra);
	pid_t pid;
	int fd;

	assert_non_null(bin);
	if ((pid = fork()) == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(126);
		for (size_t i = 0; env[i] != NULL; i++)
			putenv((char *)(uintptr_t)env[i]);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	return track(pid);
}

/* Waits up to ms for text to appear in the file at path. */
static bool
log_has(const char *path, const char *text, int ms)
{
	char buf[65536];

	for (int t = 0; t <= ms; t += 50) {
		FILE *f = fopen(path, "r");
		size_t n = 0;

		if (f != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			fclose(f);
		}
		buf[n] = '\0';
		if (strstr(buf, text) != NULL)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

/*
 * The time of day in ms of the first log line at path holding text, from
 * its "ts=YYYY-MM-DDTHH:MM:SS.mmmZ".
 */
static int64_t
log_ms(const char *path, const char *text)
{
	char *all = slurp(path), *line = strstr(all, text), *ts;
	int64_t v = 0;

	assert_non_null(line);
	while (line > all && line[-1] != '\n')
		line--;
	ts = strstr(line, "ts=");
	assert_non_null(ts);
	assert_true(strlen(ts) >= 27 && ts[13] == 'T' && ts[26] == 'Z');
#define D2(i) ((ts[i] - '0') * 10 + (ts[(i) + 1] - '0'))
	v = ((int64_t)(D2(14) * 60 + D2(17)) * 60 + D2(20)) * 1000 +
	    (ts[23] - '0') * 100 + D2(24);
#undef D2
	free(all);
	return v;
}

static void
test_worker_model_check(void **state)
{
	char path[] = "/tmp/sj-prov-worker.XXXXXX", body[256];
	struct json_object *doc;
	int64_t waited;
	pid_t w;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	fake_reset(&fk);
	fake_models(&fk, "{\"shutdown\":{\"gpt-6-luna\":\"2099-01-01\"}}");
	w = worker_logged(NULL, path);
	assert_true(log_has(path,
			    "model check: OPENAI_MODEL=gpt-6-luna: listed, "
			    "shuts down on 2099-01-01",
			    10000));
	assert_int_equal(fake_models_calls(&fk), 1);
	/* its handlers are set once it runs: before that, TERM is default */
	assert_true(log_has(path, "listening on", 10000));
	assert_int_equal(stop_sig(w, SIGTERM), 0);

	/*
	 * A list that never comes holds the start-up back by 3 s: measured
	 * on the worker's own clock (its log's timestamps), from its first
	 * line to the give-up, so a slow start under sanitizers does not
	 * count.  The list would come after 20 s: anything under 10 s is
	 * the give-up; under 2.5 s the check did not wait.
	 */
	fake_reset(&fk);
	fake_models(&fk, "{\"delay_ms\":20000}");
	w = worker_logged(NULL, path);
	assert_true(log_has(path, "model check skipped", 15000));
	waited = log_ms(path, "model check skipped") - log_ms(path, "ts=");
	if (waited < 0)
		waited += 24 * 3600 * 1000; /* past midnight */
	print_message("model check given up %lld ms into the worker's start\n",
		      (long long)waited);
	assert_true(waited >= 2500);
	assert_true(waited < 10000);
	snprintf(body, sizeof(body), "{\"image_prompt\":\"slow list %ld\"}",
		 (long)getpid());
	doc = itest_job_run("image-generation", body, token, 15);
	json_object_put(doc);
	assert_int_equal(stop_sig(w, SIGTERM), 0);
	fake_models(&fk, "{}");
	unlink(path);
}

struct mode_case {
	const char *mode;
	const char *status; /* how the job ends */
	int calls;	    /* image calls made */
	int64_t min_gap_ms; /* between the first call's end and the second */
};

/* The calls' start/end times (CLOCK_REALTIME ms). */
static int64_t
call_ms(struct json_object *log, size_t i, const char *key)
{
	return (int64_t)jint(json_object_array_get_idx(log, i), key);
}

static void
test_failure_modes(void **state)
{
	static const struct mode_case cases[] = {
	    {"429:3", "completed", 2, 2900}, /* Retry-After over backoff */
	    {"500", "completed", 2, 900},    /* backoff 1 s */
	    {"malformed", "completed", 2, 900},
	    {"hang", "completed", 2, 0}, /* cut by the 2 s call timeout */
	    {"trickle", "completed", 2, 0},
	    {"400", "failed", 1, 0},
	    {"big", "failed", 1, 0},
	};
	const char *const extra[] = {"OPENAI_TIMEOUT_SECONDS=2", NULL};
	pid_t w = worker(extra);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mode_case *mc = &cases[i];
		struct json_object *doc, *log, *img;
		char body[256], what[96], id[64];
		int64_t t0 = itest_now_ms();

		fake_reset(&fk);
		snprintf(what, sizeof(what), "\"modes\":[\"%s\"]", mc->mode);
		fake_script(&fk, FAKE_IMAGES, what);
		snprintf(body, sizeof(body),
			 "{\"image_prompt\":\"mode %s %ld\"}", mc->mode,
			 (long)getpid());
		itest_job_start("image-generation", body, token, id);
		doc = itest_job_wait("image-generation", id, 60);
		if (strcmp(jstr(doc, "status"), mc->status) != 0)
			fail_msg("mode %s: job %s, want %s: %s", mc->mode,
				 jstr(doc, "status"), mc->status,
				 json_object_to_json_string(doc));
		if (strcmp(mc->status, "failed") == 0)
			assert_string_equal(jstr(doc, "code"),
					    "EXTERNAL_SERVICE_ERROR");
		json_object_put(doc);
		log = fake_calls(&fk);
		img = json_object_new_array();
		for (size_t k = 0; k < json_object_array_length(log); k++) {
			struct json_object *c =
			    json_object_array_get_idx(log, k);

			if (strcmp(jstr(c, "path"), FAKE_IMAGES) == 0)
				json_object_array_add(img, json_object_get(c));
		}
		if ((int)json_object_array_length(img) != mc->calls)
			fail_msg("mode %s: %zu image calls, want %d", mc->mode,
				 json_object_array_length(img), mc->calls);
		if (mc->calls == 2 &&
		    call_ms(img, 1, "start_ms") - call_ms(img, 0, "end_ms") <
			mc->min_gap_ms)
			fail_msg("mode %s: retried after %lld ms, want >= %lld",
				 mc->mode,
				 (long long)(call_ms(img, 1, "start_ms") -
					     call_ms(img, 0, "end_ms")),
				 (long long)mc->min_gap_ms);
		print_message("mode %-9s -> %s after %d call(s), %lld ms\n",
			      mc->mode, mc->status, mc->calls,
			      (long long)(itest_now_ms() - t0));
		json_object_put(img);
		json_object_put(log);
	}
	stop(w);
}

/* The index of the first call to path from from on not ended, or -1. */
static int
open_call(struct json_object *log, const char *path, size_t from)
{
	for (size_t i = from; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);

		if (strcmp(jstr(c, "path"), path) == 0 &&
		    jint(c, "end_ms") <= 0)
			return (int)i;
	}
	return -1;
}

/*
 * Waits until a call to path, the from-th call of the log or a later one,
 * is in flight; returns its index.  A call that has just been answered
 * may not have its end recorded yet: from skips the calls known to end.
 */
static int
wait_open_call(const char *path, size_t from, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t += 20) {
		struct json_object *log = fake_calls(&fk);
		int i = open_call(log, path, from);

		json_object_put(log);
		if (i >= 0)
			return i;
		usleep(20 * 1000);
	}
	fail_msg("no call to %s in flight after %d ms", path, timeout_ms);
	return -1;
}

static void
test_cancel_aborts_call(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=1", NULL};
	struct json_object *doc, *log;
	char body[256], id[64], path[128];
	int64_t cancelled, ended = 0;
	pid_t w = worker(extra);
	struct resp r;
	int i;

	(void)state;
	fake_reset(&fk);
	fake_script(&fk, FAKE_IMAGES, "\"modes\":[\"hang\"]");
	snprintf(body, sizeof(body), "{\"image_prompt\":\"hang %ld\"}",
		 (long)getpid());
	itest_job_start("image-generation", body, token, id);
	i = wait_open_call(FAKE_IMAGES, 0, 10000);
	snprintf(path, sizeof(path), "/api/jobs/%s/cancel", id);
	cancelled = itest_now_ms();
	http_json("POST", path, token, "{}", &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* the worker hangs up on the fake within a second */
	for (int t = 0; t < 3000 && ended <= 0; t += 20) {
		log = fake_calls(&fk);
		ended = call_ms(log, (size_t)i, "end_ms");
		json_object_put(log);
		if (ended <= 0)
			usleep(20 * 1000);
	}
	print_message("in-flight call aborted %lld ms after the cancel\n",
		      (long long)(ended - cancelled));
	assert_true(ended > 0);
	assert_true(ended - cancelled < 1000);
	doc = itest_job_wait("image-generation", id, 5);
	assert_string_equal(jstr(doc, "status"), "cancelled");
	json_object_put(doc);
	/* the only slot is free again: the next job runs at once */
	snprintf(body, sizeof(body), "{\"image_prompt\":\"after %ld\"}",
		 (long)getpid());
	doc = itest_job_run("image-generation", body, token, 10);
	json_object_put(doc);
	stop(w);
}

/* The number of calls in log whose request body had the given key. */
static int
count_key(struct json_object *log, const char *key)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++)
		n += strcmp(jstr(json_object_array_get_idx(log, i), "key"),
			    key) == 0;
	return n;
}

static void
test_checkpoint_resume(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=1", NULL};
	struct json_object *doc, *log;
	char body[1024], id[64], story_key[80], scenes_key[80];
	pid_t w = worker(extra);
	int i;

	(void)state;
	fake_reset(&fk);
	/* the story answers at once; the scene breakdown takes long */
	fake_script(&fk, FAKE_CHAT, "\"modes\":[\"ok\",\"delay:20000\"]");
	snprintf(body, sizeof(body),
		 "{\"genre\":\"bedtime\",\"characterDescription\":\"a sleepy "
		 "bear named Bo %ld\",\"audience\":\"children\","
		 "\"cartoonImageUrl\":\"%s\"}",
		 (long)getpid(), photo_url);
	itest_job_start("auto-story", body, token, id);
	/* the second chat call, the scenes, hangs (the story's is answered) */
	i = wait_open_call(FAKE_CHAT, 1, 10000);
	assert_int_equal(i, 1);
	/* the worker dies mid-call; another one rescues the job */
	assert_int_equal(stop_sig(w, SIGKILL), 128 + SIGKILL);
	w = worker(extra);
	doc = itest_job_wait("auto-story", id, 60);
	assert_string_equal(jstr(doc, "status"), "completed");
	json_object_put(doc);
	log = fake_calls(&fk);
	snprintf(story_key, sizeof(story_key), "%s",
		 jstr(json_object_array_get_idx(log, 0), "key"));
	snprintf(scenes_key, sizeof(scenes_key), "%s",
		 jstr(json_object_array_get_idx(log, 1), "key"));
	/* the saved story was not paid for again; the lost call was */
	assert_int_equal(count_key(log, story_key), 1);
	assert_int_equal(count_key(log, scenes_key), 2);
	assert_int_equal(fake_count(log, FAKE_CHAT), 3);
	json_object_put(log);
	stop(w);
}

static void
test_internal_urls_refused(void **state)
{
	static const char *const urls[] = {
	    "https://127.0.0.1/a.png",
	    "https://10.1.2.3/a.png",
	    "https://169.254.169.254/a.png",
	    "https://[::1]/a.png",
	    "https://[::ffff:127.0.0.1]/a.png",
	    "https://user:pw@example.com/a.png",
	    "http://example.com/a.png",
	};
	pid_t w = worker(NULL);

	(void)state;
	fake_reset(&fk);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct json_object *doc;
		char body[512], path[128];
		struct resp r;

		snprintf(body, sizeof(body),
			 "{\"prompt\":\"ssrf %zu %ld\",\"imageUrl\":\"%s\"}", i,
			 (long)getpid(), urls[i]);
		http_json("POST", "/api/jobs/cartoonize/start", token, body,
			  &r);
		if (r.status == 400) { /* refused at the door: also fine */
			resp_free(&r);
			continue;
		}
		assert_int_equal(r.status, 200);
		snprintf(path, sizeof(path), "%s", jstr(r.json, "jobId"));
		resp_free(&r);
		doc = itest_job_wait("cartoonize", path, 30);
		assert_string_equal(jstr(doc, "status"), "failed");
		assert_string_equal(jstr(doc, "code"), "INVALID_INPUT");
		json_object_put(doc);
	}
	stop(w);
}

/* The job id's status document, asserting it failed with code. */
static void
expect_failed(const char *type, const char *id, const char *code)
{
	struct json_object *doc = itest_job_wait(type, id, 60);

	if (strcmp(jstr(doc, "status"), "failed") != 0 ||
	    strcmp(jstr(doc, "code"), code) != 0)
		fail_msg("job %s: want failed %s: %s", id, code,
			 json_object_to_json_string(doc));
	json_object_put(doc);
}

/*
 * JOB_<TYPE>_MAX_CALLS bounds the paid calls of a job over all its tries.
 * With 1, a photo's cartoon (a description, then a picture) stops before
 * its second call.  With 3 and every picture call failing with a 500, the
 * job stops at its third call (the description is not paid twice), though
 * its three retries would have made five.
 */
static void
test_paid_call_ceiling(void **state)
{
	const char *const one[] = {"JOB_CARTOONIZE_MAX_CALLS=1", NULL};
	const char *const three[] = {"JOB_CARTOONIZE_MAX_CALLS=3", NULL};
	struct json_object *log;
	char body[1024], id[64];
	pid_t w = worker(one);

	(void)state;
	fake_reset(&fk);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"ceiling %ld one\",\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo_url);
	itest_job_start("cartoonize", body, token, id);
	expect_failed("cartoonize", id, "QUOTA_EXCEEDED");
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 1);
	assert_int_equal(fake_count(log, FAKE_IMAGES), 0);
	assert_int_equal(fake_count(log, FAKE_UPLOAD), 0);
	json_object_put(log);
	stop(w);

	w = worker(three);
	fake_reset(&fk);
	fake_script(&fk, FAKE_IMAGES,
		    "\"modes\":[\"500\",\"500\",\"500\",\"500\",\"500\"]");
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"ceiling %ld three\",\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo_url);
	itest_job_start("cartoonize", body, token, id);
	expect_failed("cartoonize", id, "QUOTA_EXCEEDED");
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), 1);
	assert_int_equal(fake_count(log, FAKE_IMAGES), 2);
	json_object_put(log);
	stop(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_every_type, teardown_workers),
	    cmocka_unit_test_teardown(test_retired_models, teardown_workers),
	    cmocka_unit_test_teardown(test_url_answers, teardown_workers),
	    cmocka_unit_test_teardown(test_classic_limits, teardown_workers),
	    cmocka_unit_test_teardown(test_key_refused, teardown_workers),
	    cmocka_unit_test_teardown(test_multibyte_error, teardown_workers),
	    cmocka_unit_test_teardown(test_check_config_online,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_worker_model_check,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_failure_modes, teardown_workers),
	    cmocka_unit_test_teardown(test_cancel_aborts_call,
				      teardown_workers),
	    cmocka_unit_test_teardown(test_checkpoint_resume, teardown_workers),
	    cmocka_unit_test_teardown(test_paid_call_ceiling, teardown_workers),
	    cmocka_unit_test_teardown(test_internal_urls_refused,
				      teardown_workers),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
