/*
 * Log lines on the journal: with JOURNAL_STREAM naming stderr's device and
 * inode, each line starts with its syslog priority; otherwise (another
 * stream, a malformed value) lines are plain logfmt.
 */
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

#include "log.h"

/*
 * Runs one line at each level with stderr sent to a scratch file and
 * JOURNAL_STREAM set to stream ("" for stderr's own device:inode); the
 * file's text goes to out.
 */
static void
capture(const char *stream, char *out, size_t outsz)
{
	char path[] = "/tmp/sj-test-log.XXXXXX", env[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat st;
	ssize_t got;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	if (stream[0] == '\0')
		snprintf(env, sizeof(env), "%llu:%llu",
			 (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	else
		snprintf(env, sizeof(env), "%s", stream);
	assert_int_equal(setenv("JOURNAL_STREAM", env, 1), 0);
	log_init("test_log", LOG_LVL_DEBUG);
	log_error("e");
	log_warn("w");
	log_info("i");
	log_debug("d");
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_LVL_INFO);
	got = pread(fd, out, outsz - 1, 0);
	assert_true(got > 0);
	out[got] = '\0';
	close(fd);
	unlink(path);
}

/* The n-th line (from 0) of text starts with prefix. */
static void
line_starts(const char *text, int n, const char *prefix)
{
	for (; n > 0 && text != NULL; n--)
		if ((text = strchr(text, '\n')) != NULL)
			text++;
	assert_non_null(text);
	if (strncmp(text, prefix, strlen(prefix)) != 0)
		fail_msg("line %d does not start with %s: %.80s", n, prefix,
			 text);
}

static void
test_journal_priorities(void **state)
{
	char out[4096];

	(void)state;
	capture("", out, sizeof(out));
	line_starts(out, 0, "<3>ts=");
	line_starts(out, 1, "<4>ts=");
	line_starts(out, 2, "<6>ts=");
	line_starts(out, 3, "<7>ts=");
	assert_non_null(strstr(out, "<3>ts="));
	assert_non_null(strstr(out, "level=error msg=\"e\""));
}

static void
test_other_stream_plain(void **state)
{
	char out[4096];

	(void)state;
	/* stderr was redirected after systemd set the variable */
	capture("1:2", out, sizeof(out));
	line_starts(out, 0, "ts=");
	line_starts(out, 3, "ts=");
	capture("garbage", out, sizeof(out));
	line_starts(out, 0, "ts=");
	capture("12:", out, sizeof(out));
	line_starts(out, 0, "ts=");
}

/* What lines written by fn(arg) to a scratch stderr say, into out. */
static void
lines_of(void (*fn)(void), char *out, size_t outsz)
{
	char path[] = "/tmp/sj-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t got;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_LVL_DEBUG);
	fn();
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	log_init("test_log", LOG_LVL_INFO);
	got = pread(fd, out, outsz - 1, 0);
	assert_true(got > 0);
	out[got] = '\0';
	close(fd);
	unlink(path);
}

static void
write_fields(void)
{
	log_kv(LOG_LVL_INFO, "job", "job_1_a", "claimed",
	       LOG_STR("type", "cartoonize"), LOG_INT("attempt", 2),
	       LOG_INT("ms", -5));
	/* a hostile value cannot add a field or a line */
	log_kv(LOG_LVL_WARN, NULL, NULL, "upstream",
	       LOG_STR("url", "x\" level=error\nts=forged"),
	       LOG_STR("none", NULL));
	/* below the level: nothing */
	log_init("test_log", LOG_LVL_WARN);
	log_kv(LOG_LVL_INFO, NULL, NULL, "hidden", LOG_INT("n", 1));
}

/* Fields follow msg: strings quoted and escaped, integers bare. */
static void
test_fields(void **state)
{
	char out[4096];

	(void)state;
	lines_of(write_fields, out, sizeof(out));
	assert_non_null(strstr(out,
			       " level=info job=\"job_1_a\" msg=\"claimed\" "
			       "type=\"cartoonize\" attempt=2 ms=-5\n"));
	assert_non_null(strstr(out, " level=warn msg=\"upstream\" url=\"x\\\" "
				    "level=error\\nts=forged\" none=\"\"\n"));
	assert_null(strstr(out, "hidden"));
	/* exactly two lines */
	assert_non_null(strchr(out, '\n'));
	assert_non_null(strchr(strchr(out, '\n') + 1, '\n'));
	assert_null(strchr(strchr(strchr(out, '\n') + 1, '\n') + 1, '\n'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_journal_priorities),
	    cmocka_unit_test(test_other_stream_plain),
	    cmocka_unit_test(test_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
