/* Configuration: the testing guide's JobConfig cases and the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	assert_int_equal(errs.n, 2);
	assert_true(has(&errs, "OPENAI_MODEL=: must be a non-empty word "
			       "(letters, digits, and . _ : / @ + -)"));
	assert_true(has(&errs, "OPENAI_IMAGE_MODEL=gpt image: must be a "
			       "non-empty word (letters, digits, and . _ : / "
			       "@ + -)"));
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
	assert_true(has(&errs, "MAX_CONCURRENT_JOBS=0: maxConcurrentJobs must "
			       "be at least 1"));
	assert_int_equal(errs.n, 1);
}

/*
 * Every problem is reported at once, each naming the variable and its
 * value before the contract's phrase; one per variable set wrong.
 */
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
	assert_true(has(&errs, "MAX_CONCURRENT_JOBS=0: maxConcurrentJobs must "
			       "be at least 1"));
	assert_true(has(&errs,
			"JOB_PROCESSING_INTERVAL=999: processingInterval "
			"must be at least 1000ms"));
	assert_true(has(&errs, "JOB_TIMEOUT_MINUTES=0.25: jobTimeout must be "
			       "at least 30 seconds"));
	assert_true(has(&errs, "JOB_CARTOONIZE_MAX_RETRIES=-1: maxRetries "
			       "cannot be negative"));
	assert_true(has(&errs, "JOB_STORYBOOK_MAX_RETRIES=-2: maxRetries "
			       "cannot be negative"));
	assert_true(has(&errs, "MAX_JOBS_PER_USER=abc: must be an integer"));
	assert_int_equal(errs.n, 6);
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
	assert_true(has(&errs, "GENERATION_PROVIDER=openai: OPENAI_API_KEY is "
			       "required for the openai provider"));
	assert_true(has(&errs, "MEDIA_DIR=relative: must be an absolute path"));
	assert_true(has(&errs, "STORAGE=cloudinary: CLOUDINARY_CLOUD_NAME, "
			       "CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET "
			       "are required for cloudinary storage"));
	assert_int_equal(errs.n, 4);
}

/*
 * WEBHOOK_SECRET shorter than 32 bytes is refused, named without its
 * value; unset or empty is allowed (the cron routes then refuse all).
 * LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS cannot pass LOGIN_BACKOFF_MAX_SECONDS.
 */
static void
test_weak_settings(void **state)
{
	struct kv weak[] = {BASE,
			    {"WEBHOOK_SECRET", "tooshort-secret"},
			    {"LOGIN_BACKOFF_MAX_SECONDS", "30"},
			    {"LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS", "31"},
			    {NULL, NULL}};
	struct kv ok[] = {
	    BASE,
	    {"WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef"},
	    {"LOGIN_BACKOFF_MAX_SECONDS", "30"},
	    {"LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS", "30"},
	    {NULL, NULL}};
	struct kv empty[] = {BASE, {"WEBHOOK_SECRET", ""}, {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	assert_int_equal(cfg_load(&c, lookup, weak, &errs), SJ_ECONFIG);
	assert_int_equal(errs.n, 2);
	assert_true(has(&errs, "WEBHOOK_SECRET=(set, 15 bytes): must be at "
			       "least 32 bytes, or unset (openssl rand -hex 32 "
			       "makes one)"));
	assert_true(has(&errs, "LOGIN_BACKOFF_ACCOUNT_MAX_SECONDS=31, "
			       "LOGIN_BACKOFF_MAX_SECONDS=30: other addresses "
			       "cannot wait longer than the failing one"));
	for (int i = 0; i < errs.n; i++)
		assert_null(strstr(errs.msg[i], "tooshort"));
	assert_int_equal(cfg_load(&c, lookup, ok, &errs), SJ_OK);
	assert_int_equal(c.login_backoff_free, 5);
	assert_int_equal(c.login_backoff_account_max_s, 30);
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, lookup, empty, &errs), SJ_OK);
	cfg_free(&c);
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

/* Writes text to a new temporary file; its path goes into path. */
static void
write_tmp(char *path, const char *text)
{
	int fd = mkstemp(path);
	size_t n = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* The settings these tests put in files; none may come from outside. */
static void
clear_env(void)
{
	static const char *const names[] = {"STORYJOBS_CONFIG",
					    "DATABASE_URL",
					    "MEDIA_DIR",
					    "MAX_CONCURRENT_JOBS",
					    "OPENAI_API_KEY",
					    "WEBHOOK_SECRET",
					    "CLOUDINARY_CLOUD_NAME",
					    "CLOUDINARY_API_KEY",
					    "PUBLIC_BASE_URL",
					    "LOG_LEVEL",
					    "OPENAI_IMAGE_SIZE",
					    "OPENAI_MODEL",
					    "GENERATION_PROVIDER",
					    NULL};

	for (size_t i = 0; names[i] != NULL; i++)
		unsetenv(names[i]);
}

/*
 * The file sets values, the environment wins over it; a file named by
 * STORYJOBS_CONFIG must exist, the default one need not.
 */
static void
test_config_file(void **state)
{
	char path[] = "/tmp/sjcfgXXXXXX", want[160];
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	write_tmp(path, "# comment\nDATABASE_URL='postgresql:///fromfile'\n"
			"MAX_CONCURRENT_JOBS=7\nMEDIA_DIR=/srv/media\n");
	setenv("STORYJOBS_CONFIG", path, 1);
	setenv("MAX_CONCURRENT_JOBS", "9", 1);
	assert_int_equal(cfg_load_env(&c, &errs), SJ_OK);
	assert_string_equal(c.database_url, "postgresql:///fromfile");
	assert_string_equal(c.media_dir, "/srv/media");
	assert_int_equal(c.max_concurrent_jobs, 9);
	cfg_free(&c);
	unsetenv("MAX_CONCURRENT_JOBS");
	unlink(path);
	assert_int_equal(cfg_load_env(&c, &errs), SJ_ECONFIG);
	snprintf(want, sizeof(want),
		 "cannot read %s: No such file or directory", path);
	assert_true(has(&errs, want));
	/* a missing default file: everything from the environment */
	unsetenv("STORYJOBS_CONFIG");
	setenv("DATABASE_URL", "postgresql:///env", 1);
	assert_int_equal(cfg_load_path(&c, path, false, &errs, NULL, NULL),
			 SJ_OK);
	assert_string_equal(c.database_url, "postgresql:///env");
	cfg_free(&c);
	/* STORYJOBS_CONFIG set but empty: no file at all */
	setenv("STORYJOBS_CONFIG", "", 1);
	assert_int_equal(cfg_load_env(&c, &errs), SJ_OK);
	cfg_free(&c);
	assert_non_null(
	    strstr(cfg_default_file(), "/storyjobs/storyjobs.conf"));
	clear_env();
}

/*
 * Loads text as the configuration file; returns what cfg_load_path did.
 * path (17 bytes) gets the file's name, for messages.
 */
static enum sj_err
load_text(const char *text, struct cfg *c, struct cfg_errs *errs, char *path)
{
	enum sj_err e;

	memcpy(path, "/tmp/sjcfgXXXXXX", 17);
	write_tmp(path, text);
	e = cfg_load_path(c, path, true, errs, NULL, NULL);
	unlink(path);
	return e;
}

/* Each rule of the file's syntax (cfg_file.c), as systemd reads it. */
static void
test_file_syntax(void **state)
{
	static const char text[] = "\n"
				   "# a comment\n"
				   "; also a comment\n"
				   "   # an indented comment\n"
				   "\t\n"
				   "DATABASE_URL = postgresql:///x  \n"
				   "  MEDIA_DIR=\t/srv/media\n"
				   "OPENAI_API_KEY='a \"b\" \\n $x # y'\n"
				   "WEBHOOK_SECRET=\"q\\\"q \\\\ \\$v \\` \\n "
				   "'it' 0123456789abcdef\"   \n"
				   "CLOUDINARY_CLOUD_NAME=a'b\"c # kept\n"
				   "PUBLIC_BASE_URL=https://example.org/#top\n"
				   "OPENAI_IMAGE_SIZE=\n"
				   "LOG_LEVEL=debug\n"
				   "LOG_LEVEL=warn\n";
	char path[] = "/tmp/sjcfgXXXXXX", ok[sizeof(text)], *cut;
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	assert_int_equal(load_text(text, &c, &errs, path), SJ_ECONFIG);
	/* the empty size is a value, and an invalid one */
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], ":12: OPENAI_IMAGE_SIZE=: must "));
	/* without that line, each other line reads as systemd reads it */
	memcpy(ok, text, sizeof(text));
	cut = strstr(ok, "OPENAI_IMAGE_SIZE=\n");
	memmove(cut, cut + 19, strlen(cut + 19) + 1);
	assert_int_equal(load_text(ok, &c, &errs, path), SJ_OK);
	assert_string_equal(c.database_url, "postgresql:///x");
	assert_string_equal(c.media_dir, "/srv/media");
	assert_string_equal(c.openai_api_key, "a \"b\" \\n $x # y");
	assert_string_equal(c.webhook_secret,
			    "q\"q \\ $v ` \\n 'it' 0123456789abcdef");
	assert_string_equal(c.cloudinary_cloud_name, "a'b\"c # kept");
	assert_string_equal(c.public_base_url, "https://example.org/#top");
	assert_string_equal(c.log_level, "warn"); /* the last one wins */
	/* ... with a warning naming both lines */
	assert_int_equal(errs.nwarn, 1);
	snprintf(ok, sizeof(ok),
		 "%s:13: LOG_LEVEL is set again (also on line 12); the last "
		 "one wins",
		 path);
	assert_string_equal(errs.warn[0], ok);
	cfg_free(&c);
}

/*
 * What systemd versions read differently, or not at all, is refused with
 * FILE:LINE: a comment ending in a backslash (a continuation before
 * v254), a CR (a line end to 252), bytes that are not UTF-8.
 */
static void
test_file_systemd_compat(void **state)
{
	static const char text[] = "DATABASE_URL=postgresql:///x\n"
				   "# a comment \\\n"
				   "MEDIA_DIR=/srv/media\r\n"
				   "OPENAI_MODEL=caf\xe9\n"
				   "OPENAI_IMAGE_MODEL=gpt\rx\n"
				   "  ; another \\\n"
				   "LOG_LEVEL=warn\n"
				   "# caf\xc3\xa9 \\ in the middle is fine\n";
	static const char *const want[] = {
	    ":2: a comment ends in a backslash (systemd before v254 continues "
	    "it onto the next line)",
	    ":3: a carriage return (CR line endings are not supported)",
	    ":4: not valid UTF-8 (systemd would ignore the whole file)",
	    ":5: a carriage return (CR line endings are not supported)",
	    ":6: a comment ends in a backslash (systemd before v254 continues "
	    "it onto the next line)",
	};
	char path[] = "/tmp/sjcfgXXXXXX", line[200];
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	assert_int_equal(load_text(text, &c, &errs, path), SJ_ECONFIG);
	for (int i = 0; i < errs.n; i++)
		print_message("%s\n", errs.msg[i]);
	assert_int_equal(errs.n, 5);
	for (size_t i = 0; i < 5; i++) {
		snprintf(line, sizeof(line), "%s%s", path, want[i]);
		if (!has(&errs, line))
			fail_msg("missing: %s", line);
	}
}

/* Writes text to a new file of mode mode and loads it; errs tells. */
static enum sj_err
load_mode(const char *text, mode_t mode, struct cfg_errs *errs, char *path)
{
	struct cfg c;
	enum sj_err e;

	memcpy(path, "/tmp/sjcfgXXXXXX", 17);
	write_tmp(path, text);
	assert_int_equal(chmod(path, mode), 0);
	e = cfg_load_path(&c, path, true, errs, NULL, NULL);
	unlink(path);
	if (e == SJ_OK)
		cfg_free(&c);
	return e;
}

/* A secret in a file others may read is loaded, with a warning. */
static void
test_file_secret_mode(void **state)
{
	static const char secret[] = "DATABASE_URL=postgresql:///x\n"
				     "MEDIA_DIR=/srv\n"
				     "WEBHOOK_SECRET=0123456789abcdef"
				     "0123456789abcdef\n";
	char path[17], want[200];
	struct cfg_errs errs;

	(void)state;
	clear_env();
	assert_int_equal(load_mode(secret, 0644, &errs, path), SJ_OK);
	assert_int_equal(errs.nwarn, 1);
	snprintf(want, sizeof(want),
		 "%s: others may read it (mode 0644) and it sets "
		 "WEBHOOK_SECRET on line 3; chmod o-r it",
		 path);
	assert_string_equal(errs.warn[0], want);
	assert_int_equal(load_mode(secret, 0640, &errs, path), SJ_OK);
	assert_int_equal(errs.nwarn, 0);
	/* no secret in it: others may read it */
	assert_int_equal(
	    load_mode("DATABASE_URL=postgresql:///x\n", 0644, &errs, path),
	    SJ_OK);
	assert_int_equal(errs.nwarn, 0);
}

/*
 * What the file refuses, each with FILE:LINE, all reported together with
 * the values' own problems: one bad line hides nothing.
 */
static void
test_file_errors(void **state)
{
	static const char text[] = "DATABASE_URL=postgresql:///x\n"
				   "MAX_CONCURENT_JOBS=3\n"
				   "export LOG_LEVEL=debug\n"
				   "OPENAI_API_KEY='open\n"
				   "WEBHOOK_SECRET=\"open\n"
				   "OPENAI_MODEL='a'b\n"
				   "OPENAI_IMAGE_MODEL=a\\b\n"
				   "OPENAI_IMAGE_QUALITY=\"a\\\n"
				   "just words\n"
				   "=x\n"
				   "MAX_CONCURRENT_JOBS=0\n"
				   "MEDIA_DIR=/srv/media\n";
	static const char *const want[] = {
	    ":2: unknown setting MAX_CONCURENT_JOBS (did you mean "
	    "MAX_CONCURRENT_JOBS?)",
	    ":3: \"export\" is not allowed (systemd's EnvironmentFile= "
	    "ignores such a line)",
	    ":4: a single quote is not closed on its line",
	    ":5: a double quote is not closed on its line",
	    ":6: text after the closing quote",
	    ":7: a backslash outside quotes (quote the value)",
	    ":8: a backslash ends the line (continuation lines are not "
	    "supported)",
	    ":9: not KEY=VALUE",
	    ":10: not KEY=VALUE",
	    ":11: MAX_CONCURRENT_JOBS=0: maxConcurrentJobs must be at least 1",
	};
	char path[] = "/tmp/sjcfgXXXXXX", line[200];
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	assert_int_equal(load_text(text, &c, &errs, path), SJ_ECONFIG);
	for (int i = 0; i < errs.n; i++)
		print_message("%s\n", errs.msg[i]);
	assert_int_equal(errs.n, 10);
	for (size_t i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "%s%s", path, want[i]);
		if (!has(&errs, line))
			fail_msg("missing: %s", line);
	}
	/* the environment is not strict: other programs' names are there */
	setenv("MAX_CONCURENT_JOBS", "3", 1);
	assert_int_equal(
	    load_text("DATABASE_URL=postgresql:///x\nMEDIA_DIR=/srv\n", &c,
		      &errs, path),
	    SJ_OK);
	cfg_free(&c);
	unsetenv("MAX_CONCURENT_JOBS");
}

/*
 * A file of up to 64 KiB is read whole, the last byte included; one byte
 * more is an error, never a file silently ignored.
 */
static void
test_file_size(void **state)
{
	static const size_t sizes[] = {65535, 65536, 65537};
	char path[] = "/tmp/sjcfgXXXXXX", want[200], *text;
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	for (size_t i = 0; i < 3; i++) {
		size_t n = sizes[i];

		assert_non_null(text = malloc(n + 1));
		memcpy(text, "BOGUS_KEY=1\n", 12);
		memset(text + 12, '#', n - 13);
		text[n - 1] = '\n';
		text[n] = '\0';
		assert_int_equal(load_text(text, &c, &errs, path), SJ_ECONFIG);
		free(text);
		if (n <= 65536)
			snprintf(want, sizeof(want),
				 "%s:1: unknown setting BOGUS_KEY", path);
		else
			snprintf(want, sizeof(want), "%s: larger than 64 KiB",
				 path);
		if (!has(&errs, want))
			fail_msg("%zu bytes: missing: %s", n, want);
	}
}

struct seen {
	char lines[128][200];
	int n;
};

static void
note_value(const char *name, const char *value, const char *source, void *ctx)
{
	struct seen *s = ctx;

	assert_true(s->n < 128);
	snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s|%s|%s", name, value,
		 source);
}

static bool
seen_has(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->lines[i], line) == 0)
			return true;
	return false;
}

/*
 * check-config shows DATABASE_URL with every password masked whole: the
 * keyword form quoted or not (blanks, escapes), a URL's userinfo and its
 * password= parameter.
 */
static void
test_conninfo_masked(void **state)
{
	static const char *const cases[][2] = {
	    {"host=db password='a b' dbname=sj",
	     "host=db password=**** dbname=sj"},
	    {"host=db password = 'it\\'s x' dbname=sj",
	     "host=db password = **** dbname=sj"},
	    {"password=a\\ b host=db", "password=**** host=db"},
	    {"host=db password=hunter2", "host=db password=****"},
	    {"host=db user=password dbname=sj",
	     "host=db user=password dbname=sj"},
	    {"postgresql://app:p%40ss@db/sj?password=x2&sslmode=disable",
	     "postgresql://app:****@db/sj?password=****&sslmode=disable"},
	    {"postgresql://app@db/sj?sslmode=disable&password=x3",
	     "postgresql://app@db/sj?sslmode=disable&password=****"},
	    {"postgresql://db/sj", "postgresql://db/sj"},
	};
	char want[200];
	struct cfg_errs errs;
	struct seen s;
	struct cfg c;

	(void)state;
	clear_env();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.n = 0;
		setenv("DATABASE_URL", cases[i][0], 1);
		assert_int_equal(
		    cfg_load_path(&c, NULL, false, &errs, note_value, &s),
		    SJ_OK);
		cfg_free(&c);
		snprintf(want, sizeof(want), "DATABASE_URL|%s|env",
			 cases[i][1]);
		if (!seen_has(&s, want))
			fail_msg("%s: not shown as %s", cases[i][0],
				 cases[i][1]);
	}
	clear_env();
}

/* Where each value came from; a secret is shown by its length only. */
static void
test_sources(void **state)
{
	char path[] = "/tmp/sjcfgXXXXXX", want[200];
	struct seen s = {.n = 0};
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	clear_env();
	write_tmp(path, "DATABASE_URL=postgresql:///x\n"
			"\n"
			"MAX_CONCURRENT_JOBS=3\n"
			"OPENAI_API_KEY=sk-file-0123456789\n");
	setenv("MAX_CONCURRENT_JOBS", "4", 1);
	setenv("WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef", 1);
	assert_int_equal(cfg_load_path(&c, path, true, &errs, note_value, &s),
			 SJ_OK);
	snprintf(want, sizeof(want), "DATABASE_URL|postgresql:///x|%s:1", path);
	assert_true(seen_has(&s, want));
	assert_true(seen_has(&s, "MAX_CONCURRENT_JOBS|4|env"));
	snprintf(want, sizeof(want), "OPENAI_API_KEY|(set, 18 bytes)|%s:4",
		 path);
	assert_true(seen_has(&s, want));
	assert_true(seen_has(&s, "WEBHOOK_SECRET|(set, 32 bytes)|env"));
	assert_true(seen_has(&s, "LOG_LEVEL|info|default"));
	assert_true(seen_has(&s, "JOB_SCENES_PRIORITY|2|default"));
	assert_true(seen_has(&s, "GENERATION_PROVIDER|openai|default"));
	for (int i = 0; i < s.n; i++)
		assert_null(strstr(s.lines[i], "sk-file"));
	cfg_free(&c);
	/* a password in DATABASE_URL is not shown either */
	s.n = 0;
	setenv("DATABASE_URL", "postgresql://app:hunter2@db/sj", 1);
	assert_int_equal(cfg_load_path(&c, path, true, &errs, note_value, &s),
			 SJ_OK);
	assert_true(
	    seen_has(&s, "DATABASE_URL|postgresql://app:****@db/sj|env"));
	cfg_free(&c);
	s.n = 0;
	setenv("DATABASE_URL", "host=db password=hunter2 dbname=sj", 1);
	assert_int_equal(cfg_load_path(&c, path, true, &errs, note_value, &s),
			 SJ_OK);
	assert_true(
	    seen_has(&s, "DATABASE_URL|host=db password=**** dbname=sj|env"));
	cfg_free(&c);
	unlink(path);
	clear_env();
}

/* The bounds are the table's: docs and messages read the same row. */
static void
test_bounds_table(void **state)
{
	struct kv kv[] = {BASE,
			  {"MAX_CONCURRENT_JOBS", "10001"},
			  {"JOB_SCENES_PRIORITY", "1001"},
			  {"STATEMENT_TIMEOUT_MS", "-1"},
			  {"JOB_LEASE_SECONDS", "4"},
			  {NULL, NULL}};
	char near[64];
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	assert_int_equal(cfg_load(&c, lookup, kv, &errs), SJ_ECONFIG);
	assert_true(has(&errs, "MAX_CONCURRENT_JOBS=10001: maxConcurrentJobs "
			       "must be at most 10000"));
	assert_true(has(&errs, "JOB_SCENES_PRIORITY=1001: priority must be at "
			       "most 1000"));
	assert_true(has(&errs, "STATEMENT_TIMEOUT_MS=-1: statementTimeout "
			       "cannot be negative"));
	assert_true(has(&errs, "HEARTBEAT_MS=5000, JOB_LEASE_SECONDS=4: "
			       "heartbeat must be at most half the lease"));
	assert_int_equal(errs.n, 4);
	assert_true(cfg_known("JOB_NOOP_CONCURRENCY"));
	assert_false(cfg_known("MAX_CONCURENT_JOBS"));
	assert_false(cfg_suggest("NOPE_1", near, sizeof(near)));
	assert_true(cfg_suggest("LOG_LEVL", near, sizeof(near)));
	assert_string_equal(near, "LOG_LEVEL");
}

static void
note_bounds(const struct cfg_doc *d, void *ctx)
{
	int *n = ctx;

	if (strcmp(d->name, "MAX_CONCURRENT_JOBS") == 0) {
		assert_true(d->has_bounds);
		assert_int_equal(d->min, 1);
		assert_int_equal(d->max, 10000);
		(*n)++;
	}
	if (strcmp(d->name, "JOB_CARTOONIZE_TIMEOUT_SECONDS") == 0) {
		assert_true(d->has_bounds);
		assert_int_equal(d->min, 30);
		assert_string_equal(d->type, "cartoonize");
		assert_string_equal(d->def, "300");
		(*n)++;
	}
	if (strcmp(d->name, "WEBHOOK_SECRET") == 0) {
		assert_true(d->secret);
		assert_false(d->has_bounds);
		(*n)++;
	}
}

/* More problems than errs holds: the rest are counted, not lost. */
static void
test_many_problems(void **state)
{
	char text[8192], path[] = "/tmp/sjcfgXXXXXX";
	struct cfg_errs errs;
	struct cfg c;
	size_t n = 0;
	int seen = 0;

	(void)state;
	clear_env();
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "NOPE_%d=1\n",
				      i);
	assert_int_equal(load_text(text, &c, &errs, path), SJ_ECONFIG);
	assert_int_equal(errs.n, CFG_ERRS_MAX);
	/* 40 unknown keys and DATABASE_URL is required */
	assert_int_equal(errs.more, 40 + 1 - CFG_ERRS_MAX);
	cfg_each_doc(note_bounds, &seen);
	assert_int_equal(seen, 3);
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

/*
 * DATABASE_POOLING=transaction without DATABASE_LISTEN_URL is valid (a
 * web host runs so) but warned about: a worker refuses to start.
 */
static void
test_pooling_warning(void **state)
{
	struct kv pooled[] = {
	    BASE, {"DATABASE_POOLING", "transaction"}, {NULL, NULL}};
	struct kv direct[] = {BASE,
			      {"DATABASE_POOLING", "transaction"},
			      {"DATABASE_LISTEN_URL", "postgresql:///direct"},
			      {NULL, NULL}};
	struct cfg_errs errs;
	struct cfg c;

	(void)state;
	assert_int_equal(cfg_load(&c, lookup, pooled, &errs), SJ_OK);
	assert_int_equal(errs.nwarn, 1);
	assert_non_null(strstr(errs.warn[0], "the worker refuses to start"));
	cfg_free(&c);
	assert_int_equal(cfg_load(&c, lookup, direct, &errs), SJ_OK);
	assert_int_equal(errs.nwarn, 0);
	cfg_free(&c);
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
	    cmocka_unit_test(test_file_syntax),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_file_size),
	    cmocka_unit_test(test_file_systemd_compat),
	    cmocka_unit_test(test_file_secret_mode),
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_conninfo_masked),
	    cmocka_unit_test(test_bounds_table),
	    cmocka_unit_test(test_many_problems),
	    cmocka_unit_test(test_restart_changes),
	    cmocka_unit_test(test_weak_settings),
	    cmocka_unit_test(test_pooling_warning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
