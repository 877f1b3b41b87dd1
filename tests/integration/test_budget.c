/*
 * Provider rate limits shared by every worker, end to end: real worker
 * processes on one database, the fake OpenAI-compatible server on
 * loopback holding its own per-minute limit as the API does.
 *
 * Covered: under OPENAI_IMAGE_IPM and the fake's equal limit, three
 * workers run 60 image jobs to completion with at most that many calls
 * in any 60 s of the fake's arrival times, at most one 429, and no
 * attempt spent on waiting; a 429 with Retry-After pauses every worker's
 * calls until it ends and the job it hit completes without an attempt
 * spent; the tokens and images the fake's answers reported are what
 * /api/admin/stats and /metrics add up.
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
#include <unistd.h>

#include <cmocka.h>

#include "fake.h"
#include "itest.h"

#define N_WORKERS 3

static struct fake fk;
static char admin[128];

/* What the fake's answers reported, summed over the suite. */
struct usage {
	long long in, out, images;
};

static int
setup(void **state)
{
	char email[96];

	(void)state;
	snprintf(email, sizeof(email), "budget-%ld@example.com",
		 (long)getpid());
	itest_user(email, "budget-password-1", 1, admin);
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

static pid_t live[N_WORKERS];

static void
workers_start(const char *const *extra)
{
	for (int i = 0; i < N_WORKERS; i++)
		live[i] = itest_worker(fake_worker_env(&fk, extra));
}

static void
workers_stop(void)
{
	for (int i = 0; i < N_WORKERS; i++)
		if (live[i] != 0) {
			assert_int_equal(itest_worker_stop(live[i], SIGTERM),
					 0);
			live[i] = 0;
		}
}

static int
teardown_workers(void **state)
{
	(void)state;
	for (int i = 0; i < N_WORKERS; i++)
		if (live[i] != 0)
			(void)itest_worker_stop(live[i], SIGKILL);
	memset(live, 0, sizeof(live));
	itest_cancel_leftovers();
	return 0;
}

/* Jobs of this suite's run tagged tag whose row meets cond (SQL). */
static long long
tagged(const char *tag, const char *cond)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(%s), 0) FROM jobs WHERE input::text "
		 "LIKE '%%%s%%'",
		 cond, tag);
	return sql_ll(sql);
}

/* Waits until n tagged jobs are finished; the number completed. */
static long long
wait_tagged(const char *tag, long long n, int timeout_s)
{
	long long done = 0;

	for (int i = 0; i < timeout_s * 5; i++) {
		done = tagged(tag, "(status = 'completed')::int");
		if (tagged(tag, "(status IN ('completed', 'failed', "
				"'cancelled'))::int") >= n)
			break;
		usleep(200 * 1000);
	}
	return done;
}

/* n cartoonize jobs of a prompt alone: one image call each. */
static void
start_images(const char *tag, int n)
{
	char body[256], id[64];

	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof(body),
			 "{\"prompt\":\"%s %d\",\"style\":\"anime\"}", tag, i);
		itest_job_start("cartoonize", body, NULL, id);
	}
}

/* The image calls of log (a new array), in arrival order. */
static struct json_object *
image_calls(struct json_object *log)
{
	struct json_object *img = json_object_new_array();

	for (size_t k = 0; k < json_object_array_length(log); k++) {
		struct json_object *c = json_object_array_get_idx(log, k);

		if (strcmp(jstr(c, "path"), FAKE_IMAGES) == 0)
			json_object_array_add(img, json_object_get(c));
	}
	return img;
}

static int64_t
ms_of(struct json_object *calls, size_t i, const char *key)
{
	return (int64_t)jint(json_object_array_get_idx(calls, i), key);
}

/* The most of calls (sorted by start) answered 200 in any 60 s. */
static size_t
max_in_minute(struct json_object *calls)
{
	int64_t t[512];
	size_t n = 0, best = 0;

	for (size_t i = 0; i < json_object_array_length(calls); i++)
		if (jint(json_object_array_get_idx(calls, i), "status") ==
		    200) {
			assert_true(n < 512);
			t[n++] = ms_of(calls, i, "start_ms");
		}
	for (size_t i = 0, j = 0; i < n; i++) {
		while (t[i] - t[j] >= 60000)
			j++;
		if (i - j + 1 > best)
			best = i - j + 1;
	}
	return best;
}

static int
count_status(struct json_object *calls, int status)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(calls); i++)
		n += jint(json_object_array_get_idx(calls, i), "status") ==
		     status;
	return n;
}

/* Adds what log's answers reported to u. */
static void
usage_of_log(struct json_object *log, struct usage *u)
{
	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *c = json_object_array_get_idx(log, i);

		u->in += jint(c, "tokens_in");
		u->out += jint(c, "tokens_out");
		u->images += jint(c, "images");
	}
}

/* The usage of /api/admin/stats, all types together. */
static void
usage_of_stats(struct usage *u)
{
	struct json_object *by;
	struct resp r;

	memset(u, 0, sizeof(*u));
	http_json("GET", "/api/admin/stats", admin, NULL, &r);
	assert_int_equal(r.status, 200);
	by = jmember(jmember(r.json, "usage"), "byType");
	json_object_object_foreach(by, type, v)
	{
		(void)type;
		u->in += jint(v, "tokensIn");
		u->out += jint(v, "tokensOut");
		u->images += jint(v, "images");
	}
	resp_free(&r);
}

/* The sum of a metric's samples whose line holds want (or any). */
static long long
metric_sum(const char *text, const char *name, const char *want)
{
	long long sum = 0;
	size_t n = strlen(name);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[512];

		if (len < sizeof(line) && strncmp(p, name, n) == 0 &&
		    (p[n] == '{' || p[n] == ' ')) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (want == NULL || strstr(line, want) != NULL)
				sum += (long long)strtod(strrchr(line, ' ') + 1,
							 NULL);
		}
		p = eol ? eol + 1 : NULL;
	}
	return sum;
}

/* The usage of /metrics. */
static void
usage_of_metrics(struct usage *u)
{
	struct resp r;

	http("GET", "/metrics", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	u->in = metric_sum(r.body.data, "storyjobs_upstream_tokens_total",
			   "kind=\"input\"");
	u->out = metric_sum(r.body.data, "storyjobs_upstream_tokens_total",
			    "kind=\"output\"");
	u->images =
	    metric_sum(r.body.data, "storyjobs_upstream_images_total", NULL);
	resp_free(&r);
}

/*
 * The stats and /metrics grew by what the fake reported since before
 * (taken from each before the jobs ran).
 */
static void
check_usage(const struct usage *stats0, const struct usage *metrics0,
	    const struct usage *fake)
{
	struct usage s, m;

	usage_of_stats(&s);
	usage_of_metrics(&m);
	print_message("usage: fake reported %lld in, %lld out, %lld images; "
		      "stats +%lld/+%lld/+%lld; metrics +%lld/+%lld/+%lld\n",
		      fake->in, fake->out, fake->images, s.in - stats0->in,
		      s.out - stats0->out, s.images - stats0->images,
		      m.in - metrics0->in, m.out - metrics0->out,
		      m.images - metrics0->images);
	assert_true(fake->images > 0 && fake->in > 0 && fake->out > 0);
	assert_int_equal(s.in - stats0->in, fake->in);
	assert_int_equal(s.out - stats0->out, fake->out);
	assert_int_equal(s.images - stats0->images, fake->images);
	assert_int_equal(m.in - metrics0->in, fake->in);
	assert_int_equal(m.out - metrics0->out, fake->out);
	assert_int_equal(m.images - metrics0->images, fake->images);
}

/*
 * (a) 30 images a minute at the fake and in the budget, three workers,
 * 60 jobs: all complete, never 31 calls in a minute, at most one 429,
 * no attempt spent; the usage adds up.
 */
static void
test_images_per_minute(void **state)
{
	const char *const extra[] = {"OPENAI_IMAGE_IPM=30",
				     "MAX_CONCURRENT_JOBS=4", NULL};
	enum { M = 60 };
	struct json_object *log, *img;
	struct usage s0, m0, fake = {0, 0, 0};
	char tag[64];
	int64_t t0;
	long long done, claims;
	size_t most;
	int refused;

	(void)state;
	fake_reset(&fk);
	fake_script(&fk, FAKE_IMAGES, "\"rpm\":30");
	snprintf(tag, sizeof(tag), "ipm-%ld", (long)getpid());
	usage_of_stats(&s0);
	usage_of_metrics(&m0);
	start_images(tag, M);
	t0 = itest_now_ms();
	workers_start(extra);
	done = wait_tagged(tag, M, 240);
	workers_stop();
	log = fake_calls(&fk);
	img = image_calls(log);
	most = max_in_minute(img);
	refused = count_status(img, 429);
	claims = tagged(tag, "lease_epoch");
	print_message("%d workers, %d jobs under 30 images/min: %lld "
		      "completed in %lld ms; %zu image calls, at most %zu in "
		      "any 60 s, %d answered 429; %lld claims (%lld defers)\n",
		      N_WORKERS, M, done, (long long)(itest_now_ms() - t0),
		      json_object_array_length(img), most, refused, claims,
		      claims - M);
	assert_int_equal(done, M);
	assert_true(most <= 30);
	assert_true(refused <= 1);
	assert_int_equal(count_status(img, 200), M);
	/* waiting spends no attempt */
	assert_int_equal(tagged(tag, "attempts"), 0);
	usage_of_log(log, &fake);
	assert_int_equal(fake.images, M);
	check_usage(&s0, &m0, &fake);
	json_object_put(img);
	json_object_put(log);
}

/*
 * (b) A 429 with Retry-After: 5 while three workers have jobs (two
 * threads each, no prefetch, so every worker holds some): no image call
 * starts for 5 s after it, on any worker, but those that had passed the
 * budget before the pause was written (within GRACE_MS of the 429), and
 * every job completes with no attempt spent.
 */
#define GRACE_MS 100
static void
test_pause_all(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=2", "PREFETCH_JOBS=0",
				     NULL};
	enum { M = 18 };
	struct json_object *log, *img;
	char tag[64];
	int64_t end429 = 0, gap = -1;
	long long done;
	int refused, passed = 0;

	(void)state;
	fake_reset(&fk);
	/* calls take 300 ms, so all three workers are at it when it comes */
	fake_script(&fk, FAKE_IMAGES,
		    "\"modes\":[\"delay:300\",\"delay:300\",\"delay:300\","
		    "\"delay:300\",\"429:5\"],\"default\":\"delay:300\"");
	snprintf(tag, sizeof(tag), "pause-%ld", (long)getpid());
	workers_start(extra);
	start_images(tag, M);
	done = wait_tagged(tag, M, 90);
	workers_stop();
	log = fake_calls(&fk);
	img = image_calls(log);
	refused = count_status(img, 429);
	for (size_t i = 0; i < json_object_array_length(img); i++)
		if (jint(json_object_array_get_idx(img, i), "status") == 429)
			end429 = ms_of(img, i, "end_ms");
	for (size_t i = 0; i < json_object_array_length(img); i++) {
		int64_t s = ms_of(img, i, "start_ms");

		if (s > end429 && s <= end429 + GRACE_MS)
			passed++;
		else if (s > end429 && (gap < 0 || s - end429 < gap))
			gap = s - end429;
	}
	print_message("%d jobs, %d workers: one 429 (Retry-After 5 s); %d "
		      "call(s) already past the budget went out within %d ms; "
		      "the next image call of any worker %lld ms after it\n",
		      M, N_WORKERS, passed, GRACE_MS, (long long)gap);
	assert_int_equal(done, M);
	assert_int_equal(refused, 1);
	assert_true(end429 > 0);
	assert_true(gap >= 5000 - 50);
	assert_int_equal(count_status(img, 200), M);
	assert_int_equal(tagged(tag, "attempts"), 0);
	json_object_put(img);
	json_object_put(log);
}

/*
 * (c) Chat and image usage with the chat limits on: cartoons of a photo
 * (a description, then the image) add up in the stats and /metrics as
 * the fake reported them.
 */
static void
test_usage(void **state)
{
	const char *const extra[] = {"OPENAI_CHAT_RPM=600",
				     "OPENAI_CHAT_TPM=2000000",
				     "OPENAI_IMAGE_IPM=600", NULL};
	enum { M = 6 };
	struct json_object *log;
	struct usage s0, m0, fake = {0, 0, 0};
	char tag[64], photo[512], body[1024], id[64];
	long long done;

	(void)state;
	fake_reset(&fk);
	fake_upload_photo(&fk, NULL, photo, sizeof(photo));
	snprintf(tag, sizeof(tag), "usage-%ld", (long)getpid());
	usage_of_stats(&s0);
	usage_of_metrics(&m0);
	for (int i = 0; i < M; i++) {
		snprintf(body, sizeof(body),
			 "{\"prompt\":\"%s %d\",\"style\":\"anime\","
			 "\"imageUrl\":\"%s\"}",
			 tag, i, photo);
		itest_job_start("cartoonize", body, admin, id);
	}
	workers_start(extra);
	done = wait_tagged(tag, M, 60);
	workers_stop();
	assert_int_equal(done, M);
	log = fake_calls(&fk);
	assert_int_equal(fake_count(log, FAKE_CHAT), M);
	usage_of_log(log, &fake);
	json_object_put(log);
	check_usage(&s0, &m0, &fake);
	/* each job's own columns hold its share */
	assert_int_equal(tagged(tag, "images"), M);
	assert_int_equal(tagged(tag, "tokens_in + tokens_out") > 0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_usage, teardown_workers),
	    cmocka_unit_test_teardown(test_pause_all, teardown_workers),
	    cmocka_unit_test_teardown(test_images_per_minute, teardown_workers),
	};

	itest_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
