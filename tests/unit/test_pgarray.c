/*
 * lib/pgarray.c: array literals as PostgreSQL reads them -- commas
 * between elements only, quotes exactly when an element needs them, and
 * " and \ escaped inside quotes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pgarray.h"

static void
check(const char *const *v, size_t n, bool quoted, const char *want)
{
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(pgarr_open(&b), SJ_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(quoted ? pgarr_quoted(&b, v[i])
					: pgarr_str(&b, v[i]),
				 SJ_OK);
	assert_int_equal(pgarr_close(&b), SJ_OK);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_empty(void **state)
{
	(void)state;
	check(NULL, 0, false, "{}");
}

static void
test_plain(void **state)
{
	const char *v[] = {"job_1_abc", "job_2_def"};

	(void)state;
	check(v, 2, false, "{job_1_abc,job_2_def}");
}

static void
test_quoting(void **state)
{
	const char *v[] = {"a,b",	"say \"hi\"", "back\\slash", "{x}",
			   "two words", "",	      "NULL",	     "null",
			   "tab\there", NULL};

	(void)state;
	check(v, 10, false,
	      "{\"a,b\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"{x}\","
	      "\"two words\",\"\",\"NULL\",\"null\",\"tab\there\",NULL}");
}

static void
test_always_quoted(void **state)
{
	const char *v[] = {"x", "{\"k\":1}", NULL};

	(void)state;
	check(v, 3, true, "{\"x\",\"{\\\"k\\\":1}\",NULL}");
}

static void
test_ints(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 256);
	assert_int_equal(pgarr_open(&b), SJ_OK);
	assert_int_equal(pgarr_int(&b, 0), SJ_OK);
	assert_int_equal(pgarr_int(&b, -12), SJ_OK);
	assert_int_equal(pgarr_int(&b, 9223372036854775807LL), SJ_OK);
	assert_int_equal(pgarr_close(&b), SJ_OK);
	assert_string_equal(b.data, "{0,-12,9223372036854775807}");
	buf_free(&b);
}

static void
test_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(pgarr_open(&b), SJ_OK);
	assert_int_equal(pgarr_str(&b, "abcdef"), SJ_OK);
	assert_int_not_equal(pgarr_str(&b, "ghijkl"), SJ_OK);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_plain),
	    cmocka_unit_test(test_quoting),
	    cmocka_unit_test(test_always_quoted),
	    cmocka_unit_test(test_ints),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
