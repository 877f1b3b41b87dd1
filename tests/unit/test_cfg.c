/* Configuration: the testing guide's JobConfig cases and the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

struct kv {
	const char *k, *v;
};

static const char *
lookup(const char *name, void *ctx)
{
	const struct kv *kv = ctx;

	for (; kv->k != NULL; kv++)
		if (strcmp(kv->k, name) == 0)
			return kv->v;
	return NULL;
}

#define BASE                                                                   \
	{"DATABASE_URL", "postgresql:///x"},                                   \
	{                                                                      \
		"MEDIA_DIR", "/tmp"                                            \
	}

static bool
has(const struct cfg_errs *e, const char *msg)
{
	for (int i = 0; i < e->n; i++)
		if (strcmp(e->msg[i], msg) == 0)
			return true;
	return false;
}

static void
test_defaults_valid(void **state)
{
	struct kv kv[] = {BASE, {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_OK);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg_validate(&c, &errs), 0);
	assert_string_equal(c.generation_provider, "local");
	assert_string_equal(c.storage, "local");
	assert_true(c.allow_anonymous_jobs);
	cfg_free(&c);
}

/* The openai defaults are current models (no shutdown date announced). */
static void
test_openai_defaults(void **state)
{
	struct kv kv[] = {BASE, {NULL, NULL}};
	struct kv bad[] = {BASE,
			   {"OPENAI_MODEL", ""},
			   {"OPENAI_IMAGE_MODEL", "gpt image"},
			   {NULL, NULL}};
	struct kv slash[] = {BASE,
			     {"OPENAI_MODEL", "openai/gpt-6-luna"},
			     {"OPENAI_IMAGE_QUALITY", "high"},
			     {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_OK);
	assert_string_equal(c.openai_model, "gpt-6-luna");
	assert_string_equal(c.openai_image_model, "gpt-image-2.6-flare");
	assert_string_equal(c.openai_image_quality, "medium");
	assert_string_equal(c.openai_image_size, "1024x1024");
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, lookup, bad, &errs), SJ_ECONFIG);
	assert_int_equal(errs.n, 1);
	assert_non_null(
	    strstr(errs.msg[0], "OPENAI_MODEL, OPENAI_IMAGE_MODEL"));
	assert_int_equal(cfg_load(&c, lookup, slash, &errs), SJ_OK);
	assert_string_equal(c.openai_model, "openai/gpt-6-luna");
	assert_string_equal(c.openai_image_quality, "high");
	cfg_free(&c);
}

static void
test_invalid_concurrency(void **state)
{
	struct kv kv[] = {BASE, {"MAX_CONCURRENT_JOBS", "0"}, {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_ECONFIG);
	assert_true(has(&errs, "maxConcurrentJobs must be at least 1"));
}

/* Every problem is reported at once, with the contract's messages. */
static void
test_all_problems_at_once(void **state)
{
	struct kv kv[] = {BASE,
			  {"MAX_CONCURRENT_JOBS", "0"},
			  {"JOB_PROCESSING_INTERVAL", "999"},
			  {"JOB_TIMEOUT_MINUTES", "0.25"},
			  {"JOB_CARTOONIZE_MAX_RETRIES", "-1"},
			  {"JOB_STORYBOOK_MAX_RETRIES", "-2"},
			  {"MAX_JOBS_PER_USER", "abc"},
			  {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_ECONFIG);
	assert_true(has(&errs, "maxConcurrentJobs must be at least 1"));
	assert_true(has(&errs, "processingInterval must be at least 1000ms"));
	assert_true(has(&errs, "jobTimeout must be at least 30 seconds"));
	assert_true(has(&errs, "maxRetries cannot be negative"));
	assert_true(
	    has(&errs, "MAX_JOBS_PER_USER must be an integer, got \"abc\""));
	assert_int_equal(errs.n, 5); /* each message once */
}

static void
test_missing_required(void **state)
{
	struct kv kv[] = {{"GENERATION_PROVIDER", "openai"},
			  {"STORAGE", "cloudinary"},
			  {"MEDIA_DIR", "relative"},
			  {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_ECONFIG);
	assert_true(has(&errs, "DATABASE_URL is required"));
	assert_true(
	    has(&errs, "OPENAI_API_KEY is required for the openai provider"));
	assert_true(has(&errs, "MEDIA_DIR must be an absolute path"));
	assert_int_equal(errs.n, 4);
}

static void
test_feature_flags(void **state)
{
	struct kv kv[] = {
	    BASE, {"ENABLE_AUTO_PROCESSING", "false"}, {NULL, NULL}};
	struct kv kv0[] = {BASE, {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv0, &errs), SJ_OK);
	assert_true(cfg_feature_enabled(&c, "enableAutoProcessing"));
	assert_true(cfg_feature_enabled(&c, "enableHealthChecks"));
	assert_true(cfg_feature_enabled(&c, "enablePriorityProcessing"));
	assert_true(cfg_feature_enabled(&c, "enableJobCancellation"));
	assert_true(cfg_feature_enabled(&c, "enableMetricsCollection"));
	assert_false(cfg_feature_enabled(&c, "enableTimeTravel"));
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_OK);
	assert_false(cfg_feature_enabled(&c, "enableAutoProcessing"));
	cfg_free(&c);
}

static void
test_type_table(void **state)
{
	struct kv kv[] = {BASE, {NULL, NULL}};
	struct kv capped[] = {BASE,
			      {"JOB_TIMEOUT_MINUTES", "10"},
			      {"JOB_SCENES_CONCURRENCY", "7"},
			      {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_OK);
	assert_true(cfg_job_timeout(&c, JOB_STORYBOOK) >
		    cfg_job_timeout(&c, JOB_CARTOONIZE));
	assert_int_equal(cfg_job_timeout(&c, JOB_STORYBOOK), 20 * 60);
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		assert_true(cfg_estimated_duration(&c, t) > 0);
	assert_int_equal(cfg_estimated_duration(&c, JOB_IMAGE_GENERATION), 90);
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, lookup, capped, &errs), SJ_OK);
	assert_int_equal(cfg_job_timeout(&c, JOB_STORYBOOK), 600);
	assert_int_equal(cfg_job_timeout(&c, JOB_CARTOONIZE), 300);
	assert_int_equal(c.types[JOB_SCENES].concurrency, 7);
	cfg_free(&c);
}

static void
test_type_names(void **state)
{
	enum job_type t;

	for (int i = 0; i < JOB_TYPE_MAX; i++) {
		assert_int_equal(job_type_parse(job_type_name(i), &t), SJ_OK);
		assert_int_equal(t, i);
	}
	assert_string_equal(job_type_name(JOB_AUTO_STORY), "auto-story");
	assert_int_equal(job_type_parse("Cartoonize", &t), SJ_EINVAL);
	assert_int_equal(job_type_parse("", &t), SJ_EINVAL);
	/* the benchmarks' type exists for workers, never for the API */
	assert_int_equal(job_type_parse("noop", &t), SJ_OK);
	assert_int_equal(job_type_parse_api("noop", &t), SJ_EINVAL);
	assert_int_equal(job_type_parse_api("scenes", &t), SJ_OK);
	assert_int_equal(t, JOB_SCENES);
}

/* A config file sets values; the environment wins over it. */
static void
test_config_file(void **state)
{
	char path[] = "/tmp/sjcfgXXXXXX", want[96];
	static const char text[] =
	    "# comment\nDATABASE_URL='postgresql:///fromfile'\n"
	    "export MAX_CONCURRENT_JOBS=7\nMEDIA_DIR=/srv/media\n";
	struct cfg_errs errs;
	struct cfg c;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)sizeof(text) - 1);
	close(fd);
	setenv("STORYJOBS_CONFIG", path, 1);
	setenv("MAX_CONCURRENT_JOBS", "9", 1);
	unsetenv("DATABASE_URL");
	unsetenv("MEDIA_DIR");
	assert_int_equal(cfg_load_env(&c, &errs), SJ_OK);
	assert_string_equal(c.database_url, "postgresql:///fromfile");
	assert_string_equal(c.media_dir, "/srv/media");
	assert_int_equal(c.max_concurrent_jobs, 9);
	cfg_free(&c);
	unsetenv("MAX_CONCURRENT_JOBS");
	unlink(path);
	assert_int_equal(cfg_load_env(&c, &errs), SJ_ECONFIG);
	snprintf(want, sizeof(want), "cannot read STORYJOBS_CONFIG %s", path);
	assert_true(has(&errs, want));
	unsetenv("STORYJOBS_CONFIG");
}

struct changes {
	char names[16][64];
	int n;
};

static void
note_change(const char *name, void *ctx)
{
	struct changes *ch = ctx;

	assert_true(ch->n < 16);
	snprintf(ch->names[ch->n++], sizeof(ch->names[0]), "%s", name);
}

static void
note_reload(const struct cfg_doc *d, void *ctx)
{
	int *n = ctx;

	*n += d->reload;
}

/*
 * A reload reports each changed setting the worker does not apply on
 * SIGHUP, from the table's reload column: the settings it applies
 * (LOCAL_DELAY_MS, JOB_PROCESSING_INTERVAL, HEARTBEAT_MS) are not
 * reported, every other row is, per-type rows included.
 */
static void
test_restart_changes(void **state)
{
	struct kv a[] = {BASE, {NULL, NULL}};
	struct kv b[] = {BASE,
			 {"LOCAL_DELAY_MS", "250"},
			 {"JOB_PROCESSING_INTERVAL", "2000"},
			 {"HEARTBEAT_MS", "4000"},
			 {"OPENAI_MODEL", "gpt-6.1-sol"},
			 {"OPENAI_TIMEOUT_SECONDS", "30"},
			 {"CLOUDINARY_API_BASE", "https://example.com"},
			 {"ALLOW_SIGNUP", "true"},
			 {"JOB_TIMEOUT_MINUTES", "20"},
			 {"JOB_SCENES_PRIORITY", "7"},
			 {NULL, NULL}};
	static const char *const want[] = {
	    "OPENAI_MODEL",	   "OPENAI_TIMEOUT_SECONDS",
	    "CLOUDINARY_API_BASE", "JOB_TIMEOUT_MINUTES",
	    "ALLOW_SIGNUP",	   "JOB_SCENES_PRIORITY"};
	struct changes ch = {.n = 0};
	struct cfg_errs errs;
	struct cfg ca, cb;
	int reloads = 0;

	(void)state;
	assert_int_equal(cfg_load(&ca, lookup, a, &errs), SJ_OK);
	assert_int_equal(cfg_load(&cb, lookup, b, &errs), SJ_OK);
	cfg_each_restart_change(&ca, &cb, note_change, &ch);
	assert_int_equal(ch.n, 6);
	for (size_t i = 0; i < 6; i++) {
		bool found = false;

		for (int k = 0; k < ch.n; k++)
			found = found || strcmp(ch.names[k], want[i]) == 0;
		if (!found)
			fail_msg("%s not reported", want[i]);
	}
	ch.n = 0;
	cfg_each_restart_change(&ca, &ca, note_change, &ch);
	assert_int_equal(ch.n, 0);
	/* the docs say the same three rows reload */
	cfg_each_doc(note_reload, &reloads);
	assert_int_equal(reloads, 3);
	cfg_free(&ca);
	cfg_free(&cb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_valid),
	    cmocka_unit_test(test_openai_defaults),
	    cmocka_unit_test(test_invalid_concurrency),
	    cmocka_unit_test(test_all_problems_at_once),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_feature_flags),
	    cmocka_unit_test(test_type_table),
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_config_file),
	    cmocka_unit_test(test_restart_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
