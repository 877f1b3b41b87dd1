/*
 * Statements whose plan must not depend on the statistics, against a real
 * PostgreSQL.  The table is put in the state of a healthy queue's: many
 * finished rows, analysed (so the statistics say pending rows are rare),
 * then a backlog nobody has analysed yet.  A claim must still scan
 * jobs_claim_idx and never jobs_due_idx (through which the planner read
 * every due job and sorted them, each claim: sql/021); a heartbeat must
 * find its jobs by id, never through jobs_processing_idx; the health
 * statement's queue-time rule must read jobs_due_idx only as far as 30
 * minutes ago, not all of it.  The index statistics are read after the
 * session under test has flushed its own (pg_stat_force_next_flush).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "health.h"
#include "job.h"
#include "testdb.h"

TESTDB_GROUP_FIXTURE

#define FINISHED 20000
#define BACKLOG	 3000
#define STR_(x)	 #x
#define STR(x)	 STR_(x)

/* column COL of pg_stat_user_indexes for index NAME, as db sees it now */
static long long
index_stat(const char *col, const char *name)
{
	static const struct db_stmt st = {
	    "test_index_stat",
	    "SELECT CASE $1 WHEN 'idx_scan' THEN idx_scan WHEN 'idx_tup_read' "
	    "THEN idx_tup_read END FROM pg_stat_user_indexes WHERE "
	    "indexrelname = $2",
	    2};
	const char *params[2] = {col, name};
	PGresult *r = NULL;
	long long n;

	/* flushed when the session goes idle after this statement */
	assert_int_equal(testdb_ll(db, "SELECT 1 FROM (SELECT "
				       "pg_stat_force_next_flush()) f"),
			 1);
	assert_int_equal(db_exec(side, &st, params, &r), SJ_OK);
	n = db_ll(r, 0, 0, -1);
	PQclear(r);
	assert_true(n >= 0);
	return n;
}

/*
 * FINISHED finished rows, analysed, then BACKLOG due pending scenes jobs
 * (waiting 20 minutes), not analysed.
 */
static int
healthy_queue_backlog(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE jobs CASCADE");
	testdb_sql(
	    side,
	    "INSERT INTO jobs (id, type, status, progress, max_attempts, "
	    "timeout_s, input, result, lease_epoch, created_at, "
	    "updated_at, claimed_at, started_at, completed_at) SELECT "
	    "'job_1600000000000_f' || g, 'scenes', 'completed', 100, 1, "
	    "60, '{}', '{}', 1, t, t, t, t, t FROM generate_series(1, " STR(
		FINISHED) ") g, LATERAL (SELECT now() - interval "
			  "'2 days' + g * interval '1 ms') x(t)");
	testdb_sql(side, "ANALYZE jobs");
	testdb_sql(side,
		   "INSERT INTO jobs (id, type, max_attempts, timeout_s, "
		   "input, created_at, run_at) SELECT "
		   "'job_1700000000000_p' || lpad(g::text, 5, '0'), 'scenes', "
		   "1, 60, '{}', t, t FROM generate_series(1, " STR(
		       BACKLOG) ") g, LATERAL (SELECT now() - interval "
				"'20 minutes' + g * interval '1 ms') x(t)");
	return 0;
}

/* The claim scans jobs_claim_idx only, and takes the first jobs. */
static void
test_claim_scans_claim_index(void **state)
{
	int free[JOB_TYPE_MAX] = {0};
	long long due, claim;
	struct job_list l;

	(void)state;
	due = index_stat("idx_scan", "jobs_due_idx");
	claim = index_stat("idx_scan", "jobs_claim_idx");
	free[JOB_SCENES] = 10;
	assert_int_equal(job_claim(db, &cfg, "w1", free, 10, NULL, &l), SJ_OK);
	assert_int_equal(l.n, 10);
	assert_string_equal(l.jobs[0].id, "job_1700000000000_p00001");
	assert_string_equal(l.jobs[9].id, "job_1700000000000_p00010");
	job_list_free(&l);
	assert_int_equal(index_stat("idx_scan", "jobs_due_idx"), due);
	assert_true(index_stat("idx_scan", "jobs_claim_idx") > claim);
}

/*
 * A heartbeat finds the jobs it names by id, not through
 * jobs_processing_idx (whose entries under a pinned snapshot include one
 * for every job the worker claimed since the pin), and renews only the
 * ones it holds.
 */
static void
test_heartbeat_by_id(void **state)
{
	struct worker_beat b = {"w1", "host", 42, 2, 10, 600, NULL};
	int free[JOB_TYPE_MAX] = {0};
	struct job_list l1, l2;
	long long scans;
	char ids[4 * (JOB_ID_MAX + 1) + 3];

	(void)state;
	free[JOB_SCENES] = 2;
	assert_int_equal(job_claim(db, &cfg, "w1", free, 2, NULL, &l1), SJ_OK);
	free[JOB_SCENES] = 1;
	assert_int_equal(job_claim(db, &cfg, "w2", free, 1, NULL, &l2), SJ_OK);
	assert_int_equal(l1.n + l2.n, 3);
	/* its two jobs, w2's, and a finished one */
	snprintf(ids, sizeof(ids), "{%s,%s,%s,job_1600000000000_f1}",
		 l1.jobs[0].id, l1.jobs[1].id, l2.jobs[0].id);
	b.job_ids = ids;
	scans = index_stat("idx_scan", "jobs_processing_idx");
	assert_int_equal(job_heartbeat(db, &b), SJ_OK);
	assert_int_equal(index_stat("idx_scan", "jobs_processing_idx"), scans);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM jobs WHERE "
					 "lease_expires_at > now() + interval "
					 "'300 seconds'"),
			 2);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM jobs WHERE "
					 "lease_owner = 'w1' AND "
					 "lease_expires_at > now() + interval "
					 "'300 seconds'"),
			 2);
	job_list_free(&l1);
	job_list_free(&l2);
	assert_int_equal(job_worker_gone(db, "w1"), SJ_OK);
}

/* Whether health raises the queue-time alert. */
static bool
health_waiting(void)
{
	struct json_object *doc = NULL, *alerts;
	bool waiting = false;
	int status = 0;

	assert_int_equal(health_build(db, &cfg, &doc, &status), SJ_OK);
	assert_true(json_object_object_get_ex(
	    json_object_object_get(doc, "health"), "alerts", &alerts));
	for (size_t i = 0; i < json_object_array_length(alerts); i++)
		waiting = waiting ||
			  strcmp(json_object_get_string(
				     json_object_array_get_idx(alerts, i)),
				 "Jobs are waiting too long in queue") == 0;
	json_object_put(doc);
	return waiting;
}

/*
 * Health's queue-time rule reads jobs_due_idx only up to 30 minutes ago:
 * no entry while every due job is younger (however many), one entry
 * when one is older.
 */
static void
test_health_reads_one_due_entry(void **state)
{
	long long read, scans;

	(void)state;
	read = index_stat("idx_tup_read", "jobs_due_idx");
	scans = index_stat("idx_scan", "jobs_due_idx");
	assert_false(health_waiting());
	assert_int_equal(index_stat("idx_tup_read", "jobs_due_idx"), read);
	assert_true(index_stat("idx_scan", "jobs_due_idx") > scans);
	/* one job waiting since 31 minutes raises the alert */
	testdb_sql(side, "UPDATE jobs SET run_at = now() - interval '31 "
			 "minutes' WHERE id = 'job_1700000000000_p03000'");
	read = index_stat("idx_tup_read", "jobs_due_idx");
	assert_true(health_waiting());
	assert_true(index_stat("idx_tup_read", "jobs_due_idx") - read <= 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_claim_scans_claim_index,
				   healthy_queue_backlog),
	    cmocka_unit_test_setup(test_heartbeat_by_id, healthy_queue_backlog),
	    cmocka_unit_test_setup(test_health_reads_one_due_entry,
				   healthy_queue_backlog),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
