/*
 * Fair share between users on the real stack (schema 016): a worker with
 * three job threads and no prefetch, each step slowed by LOCAL_DELAY_MS.
 * User A starts ten jobs (before the worker runs: all pending at once,
 * tagged an hour apart), then, once three run, user B one: B's job
 * starts at the next free thread, before A's fourth (oldest-first would
 * run all ten of A's first), with no poll tick to rewind the worker's
 * claim scan past A's tags.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "itest.h"

#define PW "fair-password-1"

static char tok_a[128], tok_b[128];

static int
setup(void **state)
{
	char email[128];

	(void)state;
	itest_init();
	itest_cancel_leftovers();
	snprintf(email, sizeof(email), "fair-a-%ld@example.com",
		 (long)getpid());
	itest_user(email, PW, 0, tok_a);
	snprintf(email, sizeof(email), "fair-b-%ld@example.com",
		 (long)getpid());
	itest_user(email, PW, 0, tok_b);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	itest_cancel_leftovers();
	itest_done();
	return 0;
}

/* Waits until n of the jobs named by where are processing or done. */
static void
wait_started(const char *where, long long n, int timeout_ms)
{
	char q[512];

	snprintf(
	    q, sizeof(q),
	    "SELECT count(*) FROM jobs WHERE started_at IS NOT NULL AND %s",
	    where);
	for (int t = 0; t < timeout_ms; t += 50) {
		if (sql_ll(q) >= n)
			return;
		usleep(50 * 1000);
	}
	fail_msg("fewer than %lld jobs started after %d ms", n, timeout_ms);
}

static void
test_newcomer_next_slot(void **state)
{
	/* no poll tick in the test's time: a claim's scan is rewound only by
	 * what happens, never by the clock */
	const char *const env[] = {"MAX_CONCURRENT_JOBS=3", "PREFETCH_JOBS=0",
				   "LOCAL_DELAY_MS=700",
				   "JOB_PROCESSING_INTERVAL=600000", NULL};
	char a[10][64], b[64], body[160], q[512], where[160];
	struct json_object *done;
	long long before_b, wait_ms, slot_ms;
	pid_t w;

	(void)state;
	/* A's ten all pending at once: tagged an hour apart */
	for (int i = 0; i < 10; i++) {
		snprintf(body, sizeof(body),
			 "{\"prompt\":\"fair a %d %ld\",\"style\":\"anime\"}",
			 i, (long)getpid());
		itest_job_start("cartoonize", body, tok_a, a[i]);
	}
	w = itest_worker_ready(env);
	snprintf(where, sizeof(where),
		 "id IN (SELECT id FROM jobs WHERE input->>'prompt' LIKE "
		 "'fair a %% %ld')",
		 (long)getpid());
	/* A's first three hold the three threads */
	wait_started(where, 3, 10000);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"fair b %ld\",\"style\":\"anime\"}",
		 (long)getpid());
	itest_job_start("cartoonize", body, tok_b, b);
	done = itest_job_wait("cartoonize", b, 120);
	assert_string_equal(jstr(done, "status"), "completed");
	json_object_put(done);
	/* how many of A's started before B's: the three that held the threads
	 */
	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM jobs WHERE %s AND started_at < "
		 "(SELECT started_at FROM jobs WHERE id = '%s')",
		 where, b);
	before_b = sql_ll(q);
	snprintf(q, sizeof(q),
		 "SELECT (date_part('epoch', started_at - created_at) * 1000)"
		 "::int8 FROM jobs WHERE id = '%s'",
		 b);
	wait_ms = sql_ll(q);
	/* the next free thread: the first of A's jobs to finish */
	snprintf(q, sizeof(q),
		 "SELECT (date_part('epoch', j.started_at - (SELECT "
		 "min(completed_at) FROM jobs WHERE %s)) * 1000)::int8 FROM "
		 "jobs j WHERE j.id = '%s'",
		 where, b);
	slot_ms = sql_ll(q);
	printf("# fair: B's job waited %lld ms, started %lld ms after A's "
	       "first finished; %lld of A's 10 started before it\n",
	       wait_ms, slot_ms, before_b);
	assert_int_equal(before_b, 3);
	assert_true(slot_ms < 1000);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	(void)a;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_newcomer_next_slot),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
