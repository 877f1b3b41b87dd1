/*
 * The job core against a real PostgreSQL: the testing guide's JobManager
 * cases, then the retry policy, claiming, leases, fencing, timeouts,
 * cancellation, notifications and reconnection.
 */
#include <assert.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "job.h"
#include "jsonv.h"
#include "testdb.h"

TESTDB_GROUP_FIXTURE

/* the settings' defaults: 30 pages, 60 scenes */
static struct job_limits limits = {30, 60, ""};

static int
fresh(void **state)
{
	testdb_sql(side, "TRUNCATE jobs, workers CASCADE");
	return 0;
}

static struct json_object *
parse(const char *s)
{
	struct json_object *o = NULL;
	const char *why;

	assert_int_equal(json_parse_strict(s, strlen(s), 32, &o, &why), SJ_OK);
	return o;
}

/* The validated input of type t from JSON text, as job_start takes it. */
static struct json_object *
validated(enum job_type t, const char *input)
{
	struct json_object *in = parse(input), *norm = NULL;
	const char *msg = NULL;

	assert_int_equal(job_input_validate(&limits, t, in, &norm, &msg),
			 SJ_OK);
	json_object_put(in);
	return norm;
}

/* Creates a job of type t from JSON text; returns its id in id. */
static void
create(enum job_type t, const char *input, char id[JOB_ID_MAX])
{
	struct job_start st = {.type = t, .norm = validated(t, input)};
	struct job j;
	bool reused;

	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	memcpy(id, j.id, JOB_ID_MAX);
	job_free(&j);
	json_object_put(st.norm);
}

/* User 7, who starts jobs under a quota and with idempotency keys. */
static void
user_7(void)
{
	testdb_sql(side, "INSERT INTO users (id, email, password_hash) VALUES "
			 "(7, 'n@example.com', 'x') ON CONFLICT DO NOTHING");
}

#define CARTOON "{\"prompt\":\"a brave fox\",\"style\":\"storybook\"}"
#define STORYBOOK                                                              \
	"{\"title\":\"Test\",\"story\":\"Test story\",\"characterImage\":"     \
	"\"https://example.com/image.jpg\",\"pages\":[{\"pageNumber\":1,"      \
	"\"scenes\":[{\"description\":\"A fox\",\"emotion\":\"happy\","        \
	"\"imagePrompt\":\"a fox in a field\"}]}],\"audience\":\"children\"}"

static void
get(const char *id, struct job *j)
{
	assert_int_equal(job_get(db, id, j), SJ_OK);
}

static void
test_id_format(void **state)
{
	char a[JOB_ID_MAX], b[JOB_ID_MAX];
	regex_t re;

	assert_int_equal(regcomp(&re, "^job_[0-9]+_[a-z0-9]+$", REG_EXTENDED),
			 0);
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(job_id_new(a), SJ_OK);
		assert_int_equal(job_id_new(b), SJ_OK);
		assert_int_equal(regexec(&re, a, 0, NULL, 0), 0);
		assert_true(job_id_valid(a));
		assert_string_not_equal(a, b);
		/* 20 base32 characters: 100 random bits */
		assert_int_equal(strlen(strrchr(a, '_') + 1), 20);
	}
	regfree(&re);
	assert_false(job_id_valid("job_1_"));
	assert_false(job_id_valid("job__abc"));
	assert_false(job_id_valid("job_1_ABC"));
	assert_false(job_id_valid("job_1_a'b"));
	assert_false(job_id_valid("non-existent-job"));
	/* the table refuses what job_id_valid() refuses, inserted or set */
	assert_int_not_equal(
	    db_exec_simple(side, "INSERT INTO jobs (id, type, max_attempts, "
				 "timeout_s, input) VALUES ('job_1_ABC', "
				 "'scenes', 1, 60, '{}')"),
	    SJ_OK);
	assert_int_equal(
	    db_exec_simple(side, "INSERT INTO jobs (id, type, max_attempts, "
				 "timeout_s, input) VALUES ('job_1_abc', "
				 "'scenes', 1, 60, '{}')"),
	    SJ_OK);
	assert_int_not_equal(db_exec_simple(side, "UPDATE jobs SET id = "
						  "'job_1_a''b'"),
			     SJ_OK);
	assert_int_equal(db_exec_simple(side, "DELETE FROM jobs"), SJ_OK);
}

static void
test_create_pending(void **state)
{
	char id[JOB_ID_MAX];
	struct job j;

	create(JOB_STORYBOOK, STORYBOOK, id);
	get(id, &j);
	assert_string_equal(j.id, id);
	assert_int_equal(j.status, JOB_PENDING);
	assert_int_equal(j.progress, 0);
	assert_int_equal(j.user_id, 0); /* missing user id is fine */
	assert_int_equal(j.max_attempts, 3);
	assert_int_equal(j.priority, 2);
	assert_int_equal(j.timeout_s, 20 * 60);
	assert_true(j.created_ms > 0);
	job_free(&j);
}

static void
test_missing_job(void **state)
{
	struct job j;

	assert_int_equal(job_get(db, "non-existent-job", &j), SJ_ENOTFOUND);
	assert_int_equal(job_get(db, "job_1_doesnotexist", &j), SJ_ENOTFOUND);
}

static void
test_progress(void **state)
{
	char id[JOB_ID_MAX];
	struct job j;

	create(JOB_STORYBOOK, STORYBOOK, id);
	assert_int_equal(
	    job_update_progress(db, &cfg, id, NULL, 50, "Processing scenes"),
	    SJ_OK);
	get(id, &j);
	assert_int_equal(j.progress, 50);
	assert_string_equal(j.current_step, "Processing scenes");
	assert_int_equal(j.status, JOB_PROCESSING);
	job_free(&j);

	assert_int_equal(job_update_progress(db, &cfg, id, NULL, 150, NULL),
			 SJ_OK);
	get(id, &j);
	assert_int_equal(j.progress, 100);
	job_free(&j);
	assert_int_equal(job_update_progress(db, &cfg, id, NULL, -10, NULL),
			 SJ_OK);
	get(id, &j);
	assert_int_equal(j.progress, 0);
	job_free(&j);
	assert_int_equal(
	    job_update_progress(db, &cfg, "job_1_nosuchjob", NULL, 5, NULL),
	    SJ_ENOTFOUND);
}

/* The contract's validation messages, one row each. */
static void
test_validation_messages(void **state)
{
	static const struct {
		enum job_type t;
		const char *in, *msg;
	} rows[] = {
	    {JOB_STORYBOOK, "{}", "Title is required"},
	    {JOB_STORYBOOK, "{\"title\":\"  \"}", "Title is required"},
	    {JOB_STORYBOOK, "{\"title\":\"T\"}", "Story content is required"},
	    {JOB_STORYBOOK, "{\"title\":\"T\",\"story\":\"s\"}",
	     "Character image is required"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\",\"characterImage\":\"https://"
	     "x/y.png\",\"audience\":\"toddlers\"}",
	     "Invalid audience type"},
	    {JOB_STORYBOOK,
	     "{\"title\":\"T\",\"story\":\"s\",\"characterImage\":\"https://"
	     "x/y.png\",\"pages\":[]}",
	     "At least one page is required"},
	    {JOB_STORYBOOK, "{\"title\":42}",
	     "Title must be a string of at most 200 characters"},
	    {JOB_CARTOONIZE, "{}", "Prompt is required"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"\"}", "Prompt is required"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"p\",\"style\":\"oil\"}",
	     "Invalid style. Must be one of: storybook, semi-realistic, "
	     "comic-book, flat-illustration, anime"},
	    {JOB_CARTOONIZE, "{\"prompt\":\"p\",\"imageUrl\":\"file:///etc\"}",
	     "imageUrl must be an http(s) URL or a /media/ path of at most "
	     "2048 "
	     "characters"},
	    {JOB_AUTO_STORY, "{\"genre\":\"horror\"}", "Invalid genre"},
	    {JOB_AUTO_STORY, "{}", "Invalid genre"},
	    {JOB_SCENES, "{}", "Story content is required"},
	    {JOB_SCENES, "{\"story\":\"Too short.\"}",
	     "Story must be at least 50 characters long."},
	    {JOB_IMAGE_GENERATION, "{}", "Prompt is required"},
	    {JOB_IMAGE_GENERATION,
	     "{\"image_prompt\":\"p\",\"isReusedImage\":\"yes\"}",
	     "isReusedImage must be true or false"},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *in = parse(rows[i].in), *norm = NULL;
		const char *msg = NULL;

		assert_int_equal(
		    job_input_validate(&limits, rows[i].t, in, &norm, &msg),
		    SJ_EINVAL);
		assert_null(norm);
		assert_string_equal(msg, rows[i].msg);
		json_object_put(in);
	}
}

static void
test_validation_normalizes(void **state)
{
	struct json_object *in =
	    parse("{\"prompt\":\"a fox\",\"evil\":{\"x\":1}}");
	struct json_object *norm = NULL;
	const char *msg, *style;

	assert_int_equal(
	    job_input_validate(&limits, JOB_CARTOONIZE, in, &norm, &msg),
	    SJ_OK);
	assert_int_equal(jv_str(norm, "style", 64, &style), SJ_OK);
	assert_string_equal(style, "semi-realistic");
	assert_false(json_object_object_get_ex(norm, "evil", NULL));
	json_object_put(norm);
	json_object_put(in);
}

static void
claim(const char *worker, int cartoon, int storybook, int max,
      struct job_list *l)
{
	int free[JOB_TYPE_MAX] = {0};

	free[JOB_CARTOONIZE] = cartoon;
	free[JOB_STORYBOOK] = storybook;
	assert_int_equal(job_claim(db, &cfg, worker, free, max, NULL, l),
			 SJ_OK);
}

static void
test_claim_caps_and_priority(void **state)
{
	char c1[JOB_ID_MAX], c2[JOB_ID_MAX], c3[JOB_ID_MAX], s1[JOB_ID_MAX];
	struct job_list l;

	create(JOB_STORYBOOK, STORYBOOK, s1);
	create(JOB_CARTOONIZE, CARTOON, c1);
	create(JOB_CARTOONIZE, CARTOON, c2);
	create(JOB_CARTOONIZE, CARTOON, c3);
	/* cartoonize (priority 1) before storybook (2), oldest first */
	claim("w1", 1, 1, 1, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.jobs[0].id, c1);
	assert_int_equal(l.jobs[0].status, JOB_PROCESSING);
	assert_int_equal(l.jobs[0].lease_epoch, 1);
	job_list_free(&l);
	/* per-type cap: one cartoonize, one storybook */
	claim("w1", 1, 5, 10, &l);
	assert_int_equal(l.n, 2);
	job_list_free(&l);
	/* a type with no free slot is not offered */
	claim("w1", 0, 5, 10, &l);
	assert_int_equal(l.n, 0);
	claim("w1", 5, 0, 10, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.jobs[0].id, c3);
	job_list_free(&l);
	(void)c2;
}

/* A claim that starts past the jobs before its point skips them. */
static void
test_claim_from(void **state)
{
	char c1[JOB_ID_MAX], c2[JOB_ID_MAX], c3[JOB_ID_MAX], sql[256];
	struct claim_from from[JOB_TYPE_MAX];
	int free[JOB_TYPE_MAX] = {0};
	struct job_list l;
	struct job j3;

	(void)state;
	create(JOB_CARTOONIZE, CARTOON, c1);
	create(JOB_CARTOONIZE, CARTOON, c2);
	create(JOB_CARTOONIZE, CARTOON, c3);
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET fair_at = now() - CASE id WHEN '%s' THEN "
		 "interval '3 s' WHEN '%s' THEN interval '2 s' ELSE interval "
		 "'1 s' END",
		 c1, c2);
	assert_int_equal(db_exec_simple(db, sql), SJ_OK);
	assert_int_equal(job_get(db, c3, &j3), SJ_OK);
	for (int t = 0; t < JOB_TYPE_MAX; t++)
		from[t] = CLAIM_FROM_START;
	free[JOB_CARTOONIZE] = 5;
	/* past a more urgent priority than any job's: nothing */
	from[JOB_CARTOONIZE] = (struct claim_from){2, 0};
	assert_int_equal(job_claim(db, &cfg, "w1", free, 5, from, &l), SJ_OK);
	assert_int_equal(l.n, 0);
	job_list_free(&l);
	/* from c3's tag: c3 alone, though c1 and c2 come first */
	from[JOB_CARTOONIZE] = (struct claim_from){j3.priority, j3.fair_at_ms};
	assert_int_equal(job_claim(db, &cfg, "w1", free, 5, from, &l), SJ_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.jobs[0].id, c3);
	job_list_free(&l);
	/* the last key a notice may carry is one the claim's SQL can take */
	from[JOB_CARTOONIZE] =
	    (struct claim_from){j3.priority, JOB_NOTICE_TAG_MAX};
	assert_int_equal(job_claim(db, &cfg, "w1", free, 5, from, &l), SJ_OK);
	assert_int_equal(l.n, 0);
	job_list_free(&l);
	from[JOB_CARTOONIZE] =
	    (struct claim_from){JOB_NOTICE_PRIORITY_MAX, JOB_NOTICE_TAG_MAX};
	assert_int_equal(job_claim(db, &cfg, "w1", free, 5, from, &l), SJ_OK);
	assert_int_equal(l.n, 0);
	job_list_free(&l);
	/* from the start: the two left */
	from[JOB_CARTOONIZE] = CLAIM_FROM_START;
	assert_int_equal(job_claim(db, &cfg, "w1", free, 5, from, &l), SJ_OK);
	assert_int_equal(l.n, 2);
	job_list_free(&l);
	job_free(&j3);
}

/* The one value sql returns on pg is expect. */
static void
sql_value_is(PGconn *pg, const char *sql, const char *expect)
{
	PGresult *r = PQexec(pg, sql);

	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), expect);
	PQclear(r);
}

/* One batch of three completions; done says which must complete. */
static void
complete3(struct db *k, struct job_done d[3], const char *done)
{
	assert_int_equal(job_complete_batch(k, "w1", 3, d), SJ_OK);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(d[i].done, done[i] == 'y');
}

/*
 * A keyed session (the completer's) keeps its other settings, prices out
 * scans and hash joins, and completes a batch: each job once, a job whose
 * fence no longer matches not at all; then the one it had refused.
 * Batches stay planned per call.
 */
static void
test_keyed_session(void **state)
{
	static const char *const off[] = {
	    "SELECT current_setting('enable_seqscan')",
	    "SELECT current_setting('enable_hashjoin')",
	    "SELECT current_setting('enable_mergejoin')"};
	char id[JOB_ID_MAX];
	struct job_done d[3];
	struct job_list l;
	struct db *k;
	PGconn *pg;

	(void)state;
	for (int i = 0; i < 3; i++)
		create(JOB_CARTOONIZE, CARTOON, id);
	claim("w1", 3, 0, 3, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(db_open(cfg.database_url, "test", 4321, &k), SJ_OK);
	db_keyed(k);
	assert_int_equal(db_connect(k), SJ_OK);
	pg = db_pg(k);
	for (size_t i = 0; i < 3; i++)
		sql_value_is(pg, off[i], "off");
	sql_value_is(pg, "SELECT current_setting('statement_timeout')",
		     "4321ms");
	for (size_t i = 0; i < 3; i++)
		d[i] = (struct job_done){l.jobs[i].id, l.jobs[i].lease_epoch,
					 "{\"n\": 1}", NULL, false};
	d[1].epoch++; /* a stale claim */
	complete3(k, d, "yny");
	sql_value_is(pg,
		     "SELECT count(*) FROM jobs WHERE status = 'completed' "
		     "AND result = '{\"n\": 1}'",
		     "2");
	d[1].epoch--; /* now the claim holds: it completes alone */
	complete3(k, d, "nyn");
	/* planned per call, never on a plan made for another table size */
	sql_value_is(pg,
		     "SELECT count(*) FROM pg_prepared_statements WHERE name = "
		     "'job_complete_batch'",
		     "0");
	db_close(k);
	job_list_free(&l);
}

/*
 * Timestamps come back as whole milliseconds rounded down (job_internal.h
 * MS): exact at each edge of a millisecond, before 1970 and in 2037.
 */
static void
test_ms_exact(void **state)
{
	static const struct {
		long long us;
		int64_t ms;
	} c[] = {
	    {1767225600000000LL, 1767225600000LL}, /* on the millisecond */
	    {1767225600000999LL, 1767225600000LL}, /* just below the next */
	    {1767225600001000LL, 1767225600001LL},
	    {1767225600999999LL, 1767225600999LL},
	    {2145916799999999LL, 2145916799999LL}, /* the end of 2037 */
	    {2145916800000001LL, 2145916800000LL},
	    {-1000000LL, -1000LL}, /* before 1970: still down */
	    {-1000001LL, -1001LL},
	    {1LL, 0LL},
	    {-1LL, -1LL},
	    /* floor(date_part() * 1000) alone gives one less for these */
	    {1086354130972000LL, 1086354130972LL},
	    {135094643327000LL, 135094643327LL},
	    {1767225600000001LL, 1767225600000LL},
	    {1767225600000500LL, 1767225600000LL},
	    {0LL, 0LL},
	};
	char id[JOB_ID_MAX], sql[512];
	struct job j;

	(void)state;
	create(JOB_CARTOONIZE, CARTOON, id);
	static_assert(sizeof(c) / sizeof(c[0]) % 5 == 0, "five per row");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i += 5) {
#define US "timestamptz 'epoch' + %lld * interval '1 microsecond'"
		snprintf(sql, sizeof(sql),
			 "UPDATE jobs SET created_at = " US ", updated_at = " US
			 ", started_at = " US ", completed_at = " US
			 ", run_at = " US " WHERE id = '%s'",
			 c[i].us, c[i + 1].us, c[i + 2].us, c[i + 3].us,
			 c[i + 4].us, id);
#undef US
		assert_int_equal(db_exec_simple(db, sql), SJ_OK);
		get(id, &j);
		assert_int_equal(j.created_ms, c[i].ms);
		assert_int_equal(j.updated_ms, c[i + 1].ms);
		assert_int_equal(j.started_ms, c[i + 2].ms);
		assert_int_equal(j.completed_ms, c[i + 3].ms);
		assert_int_equal(j.run_at_ms, c[i + 4].ms);
		job_free(&j);
	}
}

static void
claim_one(const char *worker, struct job *out)
{
	struct job_list l;

	claim(worker, 1, 0, 1, &l);
	assert_int_equal(l.n, 1);
	*out = l.jobs[0];
	free(l.jobs);
}

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void
test_retry_policy(void **state)
{
	char id[JOB_ID_MAX];
	enum job_status st;
	struct job j, r;
	int64_t before, delay;

	create(JOB_CARTOONIZE, CARTOON, id); /* 3 retries: 4 attempts */
	for (int n = 0; n < 3; n++) {
		struct job_lease l;

		testdb_sql(side, "UPDATE jobs SET run_at = now()");
		claim_one("w1", &j);
		l = (struct job_lease){j.id, "w1", j.lease_epoch};
		before = now_ms();
		assert_int_equal(job_fail(db, &l, true, 0,
					  "EXTERNAL_SERVICE_ERROR",
					  "upstream 503", &st, &delay),
				 SJ_OK);
		assert_int_equal(st, JOB_PENDING);
		get(id, &r);
		assert_int_equal(r.status, JOB_PENDING);
		assert_int_equal(r.attempts, n + 1);
		/* backoff 2^n s plus at most 25% jitter */
		assert_true(r.run_at_ms >= before + (1000 << n) - 50);
		assert_true(r.run_at_ms <= now_ms() + (1250 << n) + 50);
		/* the delay job_fail reports is the row's run_at from then */
		assert_true(delay >= (1000 << n) - 1);
		assert_true(delay <= (1250 << n) + 1);
		assert_true(r.run_at_ms >= before + delay - 50);
		assert_true(r.run_at_ms <= now_ms() + delay + 50);
		job_free(&r);
		job_free(&j);
	}
	testdb_sql(side, "UPDATE jobs SET run_at = now()");
	claim_one("w1", &j);
	assert_int_equal(
	    job_fail(db, &(struct job_lease){j.id, "w1", j.lease_epoch}, true,
		     0, "EXTERNAL_SERVICE_ERROR", "again", &st, &delay),
	    SJ_OK);
	assert_int_equal(st, JOB_FAILED); /* out of attempts */
	assert_int_equal(delay, 0);	  /* nothing to wake up for */
	job_free(&j);
	get(id, &r);
	assert_int_equal(r.status, JOB_FAILED);
	assert_string_equal(r.error_code, "EXTERNAL_SERVICE_ERROR");
	assert_true(r.completed_ms > 0);
	job_free(&r);
}

/* An upstream's Retry-After longer than the backoff sets the next run. */
static void
test_retry_after(void **state)
{
	char id[JOB_ID_MAX];
	enum job_status st;
	struct job j, r;
	int64_t before, delay;

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("w1", &j);
	before = now_ms();
	assert_int_equal(
	    job_fail(db, &(struct job_lease){j.id, "w1", j.lease_epoch}, true,
		     30, "EXTERNAL_SERVICE_ERROR", "429", &st, &delay),
	    SJ_OK);
	assert_int_equal(st, JOB_PENDING);
	assert_true(delay >= 30000 - 1 && delay <= 30000 + 1);
	get(id, &r);
	assert_true(r.run_at_ms >= before + 30000 - 50);
	assert_true(r.run_at_ms <= now_ms() + 30000 + 50);
	job_free(&r);
	job_free(&j);
}

static void
test_permanent_failure(void **state)
{
	char id[JOB_ID_MAX];
	enum job_status st;
	struct job j;

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("w1", &j);
	assert_int_equal(
	    job_fail(db, &(struct job_lease){j.id, "w1", j.lease_epoch}, false,
		     0, "INVALID_INPUT", "bad image", &st, NULL),
	    SJ_OK);
	assert_int_equal(st, JOB_FAILED);
	job_free(&j);
}

/*
 * job_fail stores any message PostgreSQL would refuse as text it takes:
 * cut between two characters at 1 KiB, a stray byte made a '?'.
 */
static void
test_failure_message_text(void **state)
{
	char id[JOB_ID_MAX], msg[1400];
	size_t n = 0;
	struct job j, r;

	msg[n++] = 'x';
	msg[n++] = (char)0xff; /* not UTF-8 at all */
	msg[n++] = 'y';
	while (n + 2 < sizeof(msg)) {
		msg[n++] = (char)0xc3; /* U+00E9, two bytes */
		msg[n++] = (char)0xa9;
	}
	msg[n] = '\0';
	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("w1", &j);
	assert_int_equal(
	    job_fail(db, &(struct job_lease){j.id, "w1", j.lease_epoch}, false,
		     0, "EXTERNAL_SERVICE_ERROR", msg, NULL, NULL),
	    SJ_OK);
	get(id, &r);
	assert_int_equal(r.status, JOB_FAILED);
	assert_non_null(r.error_message);
	/* 1024 would end inside a character: 1023 do not */
	assert_int_equal(strlen(r.error_message), 1024 - 1);
	assert_memory_equal(r.error_message, "x?y\xc3\xa9", 5);
	job_free(&r);
	job_free(&j);
}

static void
test_lease_expiry_and_fencing(void **state)
{
	struct job a, b, r;
	struct job_lease la, lb;
	struct job_maint m;
	char id[JOB_ID_MAX];
	struct json_object *res = parse("{\"url\":\"/media/x.svg\"}");

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("worker-a", &a);
	la = (struct job_lease){a.id, "worker-a", a.lease_epoch};
	assert_int_equal(job_update_progress(db, &cfg, id, &la, 10, "step"),
			 SJ_OK);
	/* a's lease runs out: nobody renewed it */
	testdb_sql(side, "UPDATE jobs SET lease_expires_at = now() - "
			 "interval '1 second'");
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(m.requeued, 1);
	assert_int_equal(job_maintain(db, &m), SJ_OK); /* idempotent */
	assert_int_equal(m.requeued, 0);
	claim_one("worker-b", &b);
	assert_string_equal(b.id, id);
	assert_int_equal(b.lease_epoch, a.lease_epoch + 1);
	lb = (struct job_lease){b.id, "worker-b", b.lease_epoch};
	/* the old holder is fenced out of every write */
	assert_int_equal(job_update_progress(db, &cfg, id, &la, 66, "late"),
			 SJ_ELOST);
	assert_int_equal(job_complete(db, &la, res, "done"), SJ_ELOST);
	assert_int_equal(job_fail(db, &la, true, 0, "X", "y", NULL, NULL),
			 SJ_ELOST);
	assert_int_equal(job_release(db, &la), SJ_ELOST);
	/* the same worker id with the old epoch is fenced too */
	la.worker_id = "worker-b";
	assert_int_equal(job_complete(db, &la, res, "done"), SJ_ELOST);
	assert_int_equal(job_complete(db, &lb, res, "Done"), SJ_OK);
	get(id, &r);
	assert_int_equal(r.status, JOB_COMPLETED);
	assert_int_equal(r.progress, 100);
	assert_string_equal(r.current_step, "Done");
	assert_non_null(r.result);
	job_free(&r);
	job_free(&a);
	job_free(&b);
	json_object_put(res);
}

static void
test_abandoned_too_often(void **state)
{
	struct job_maint m;
	char id[JOB_ID_MAX];
	struct job j;

	create(JOB_CARTOONIZE, CARTOON, id);
	for (int i = 0; i < 6; i++) {
		claim_one("crashy", &j);
		job_free(&j);
		testdb_sql(side, "UPDATE jobs SET lease_expires_at = now() - "
				 "interval '1 second'");
		assert_int_equal(job_maintain(db, &m), SJ_OK);
	}
	assert_int_equal(m.abandoned, 1);
	get(id, &j);
	assert_int_equal(j.status, JOB_FAILED);
	assert_string_equal(j.error_code, "JOB_FAILED");
	job_free(&j);
}

static void
test_timeout(void **state)
{
	struct job_maint m;
	char id[JOB_ID_MAX];
	struct job j;

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("slow", &j);
	job_free(&j);
	testdb_sql(side, "UPDATE jobs SET claimed_at = now() - interval '301 "
			 "seconds'");
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(m.timed_out, 1);
	get(id, &j);
	assert_int_equal(j.status, JOB_FAILED);
	assert_string_equal(j.error_code, "JOB_TIMEOUT");
	assert_string_equal(j.error_message,
			    "Job exceeded maximum processing time");
	job_free(&j);
}

static void
test_heartbeat_renews(void **state)
{
	struct worker_beat b = {"hb", "host", 42, 1, 37, 30, NULL};
	char id[JOB_ID_MAX], ids[JOB_ID_MAX + 2];
	struct job_maint m;
	struct job j;
	PGresult *r = NULL;
	static const struct db_stmt q = {
	    "t_lease",
	    "SELECT extract(epoch from lease_expires_at - now())::int, "
	    "(SELECT mem_used_pct FROM workers WHERE id = 'hb') FROM jobs",
	    0};

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("hb", &j);
	snprintf(ids, sizeof(ids), "{%s}", j.id);
	job_free(&j);
	testdb_sql(side, "UPDATE jobs SET lease_expires_at = now() + "
			 "interval '1 second'");
	/* a job not named as in hand is not renewed */
	b.job_ids = "{}";
	assert_int_equal(job_heartbeat(db, &b), SJ_OK);
	assert_int_equal(db_exec(side, &q, NULL, &r), SJ_OK);
	assert_in_range(db_ll(r, 0, 0, 99), 0, 1);
	PQclear(r);
	b.job_ids = ids;
	assert_int_equal(job_heartbeat(db, &b), SJ_OK);
	assert_int_equal(db_exec(side, &q, NULL, &r), SJ_OK);
	assert_in_range(db_ll(r, 0, 0, 0), 28, 30);
	assert_int_equal(db_ll(r, 0, 1, 0), 37);
	PQclear(r);
	assert_int_equal(job_maintain(db, &m), SJ_OK);
	assert_int_equal(m.requeued, 0);
	assert_int_equal(job_worker_gone(db, "hb"), SJ_OK);
}

static void
test_cancel_and_retry(void **state)
{
	char id[JOB_ID_MAX], id2[JOB_ID_MAX];
	enum job_status st;
	struct job j;

	create(JOB_CARTOONIZE, CARTOON, id);
	assert_int_equal(job_retry(db, id), SJ_ECONFLICT); /* pending */
	assert_int_equal(job_cancel(db, id, &st), SJ_OK);
	assert_int_equal(st, JOB_CANCELLED);
	assert_int_equal(job_cancel(db, id, &st), SJ_ECONFLICT);
	assert_int_equal(job_cancel(db, "job_1_nosuchjob", &st), SJ_ENOTFOUND);
	assert_int_equal(job_retry(db, id), SJ_OK);
	get(id, &j);
	assert_int_equal(j.status, JOB_PENDING);
	assert_int_equal(j.attempts, 0);
	job_free(&j);
	/* a processing job is cancelled under its worker's feet */
	assert_int_equal(job_cancel(db, id, &st), SJ_OK);
	create(JOB_CARTOONIZE, CARTOON, id2);
	claim_one("w", &j);
	assert_string_equal(j.id, id2);
	assert_int_equal(job_cancel(db, j.id, &st), SJ_OK);
	assert_int_equal(
	    job_update_progress(db, &cfg, j.id,
				&(struct job_lease){j.id, "w", j.lease_epoch},
				50, "x"),
	    SJ_ELOST);
	assert_true(j.started_ms > 0);
	/* a retry is a new run: its start is the next claim's, so a job
	   retried days later does not count those days as processing */
	assert_int_equal(job_retry(db, id2), SJ_OK);
	job_free(&j);
	get(id2, &j);
	assert_int_equal(j.started_ms, 0);
	job_free(&j);
}

static void
test_release(void **state)
{
	char id[JOB_ID_MAX];
	struct job j, r;

	create(JOB_CARTOONIZE, CARTOON, id);
	claim_one("w", &j);
	assert_int_equal(
	    job_release(db, &(struct job_lease){j.id, "w", j.lease_epoch}),
	    SJ_OK);
	get(id, &r);
	assert_int_equal(r.status, JOB_PENDING);
	assert_int_equal(r.attempts, 0);
	job_free(&r);
	job_free(&j);
}

/* The next notice on pg within ms, or NULL; the caller PQfreemem()s it. */
static PGnotify *
notice(PGconn *pg, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	PGnotify *n;
	fd_set rfds;
	int fd = PQsocket(pg);

	if ((n = PQnotifies(pg)) != NULL)
		return n;
	FD_ZERO(&rfds);
	FD_SET(fd, &rfds);
	if (select(fd + 1, &rfds, NULL, NULL, &tv) <= 0)
		return NULL;
	assert_int_equal(PQconsumeInput(pg), 1);
	return PQnotifies(pg);
}

static void
expect_notice(PGconn *pg, const char *payload)
{
	PGnotify *n = notice(pg, 2000);

	assert_non_null(n);
	assert_string_equal(n->relname, JOB_CHANNEL_NEW);
	assert_string_equal(n->extra, payload);
	PQfreemem(n);
}

/* The next notice is keyed (job_notice_parse) with j's type and key. */
static void
expect_keyed_notice(PGconn *pg, const struct job *j)
{
	char want[96];

	snprintf(want, sizeof(want), "%s@%d@%lld", job_type_name(j->type),
		 j->priority, (long long)j->fair_at_ms);
	expect_notice(pg, want);
}

/*
 * One notice per new job, after it is committed: from create(), from a
 * user's start (sent with its COMMIT) and an anonymous one; none for a
 * start that reuses its idempotency key.
 */
static void
test_notify_on_create(void **state)
{
	struct job_start st = {
	    .type = JOB_CARTOONIZE, .user_id = 7, .idem_key = "key-1"};
	char id[JOB_ID_MAX];
	PGconn *pg;
	struct job j;
	bool reused;

	(void)state;
	user_7();
	testdb_sql(side, "LISTEN " JOB_CHANNEL_NEW);
	pg = db_pg(side);
	create(JOB_CARTOONIZE, CARTOON, id);
	/* every start's notice carries its key, which lowers a worker's scan */
	get(id, &j);
	expect_keyed_notice(pg, &j);
	job_free(&j);
	st.norm = validated(JOB_CARTOONIZE, CARTOON);
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	assert_false(reused);
	expect_keyed_notice(pg, &j);
	job_free(&j);
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	assert_true(reused);
	job_free(&j);
	st.user_id = 0;
	st.idem_key = NULL;
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	expect_keyed_notice(pg, &j); /* the next: none for the reused start */
	job_free(&j);
	assert_null(notice(pg, 200));
	testdb_sql(side, "UNLISTEN *");
	json_object_put(st.norm);
}

/*
 * A user's cap holds across anonymous starts and the user's own: 8 live
 * jobs, a ninth is allowed, a tenth is not.  (The start is one call of
 * sql/019's jobs_start(), whose statements PL/pgSQL plans once per
 * session; before 019 this test also saw to the start statements' own
 * plan cache.)
 */
static void
test_start_user_quota(void **state)
{
	struct job_start st = {.type = JOB_CARTOONIZE, .max_active = 9};
	struct job j;
	bool reused;

	(void)state;
	user_7();
	st.norm = validated(JOB_CARTOONIZE, CARTOON);
	for (int i = 0; i < 16; i++) {
		st.user_id = i % 2 ? 7 : 0;
		assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
		job_free(&j);
	}
	st.user_id = 7;
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	job_free(&j);
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_EQUOTA);
	json_object_put(st.norm);
}

/*
 * An anonymous client's starts (sql/019 jobs_start, jobs_admit): the rate
 * limit admits its first three of the window and counts only those; a
 * refused start writes nothing; at its cap the client is refused without
 * spending a start; all anonymous jobs at ANON_MAX_ACTIVE_TOTAL is a
 * 429 of 30 s; a key's job comes back before any of them.
 */
static void
test_start_admission(void **state)
{
	int retry = -1;
	struct job_start st = {.type = JOB_CARTOONIZE,
			       .idem_key = "k1",
			       .client = "203.0.113.9",
			       .client_max = 3,
			       .anon_max = 100,
			       .rate_limit = 3,
			       .rate_window_s = 3600,
			       .retry_after_s = &retry};
	struct job j;
	bool reused;

	(void)state;
	testdb_sql(side, "DELETE FROM rate_limits");
	st.norm = validated(JOB_CARTOONIZE, CARTOON);
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	job_free(&j);
	st.idem_key = NULL;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
		assert_false(reused);
		job_free(&j);
	}
	/* at its cap of 3 live jobs: refused, no start spent */
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_EQUOTA);
	assert_int_equal(testdb_ll(side,
				   "SELECT count FROM rate_limits WHERE key = "
				   "'job-start:203.0.113.9'"),
			 3);
	/* the key's job comes back, whatever the limits say */
	st.idem_key = "k1";
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	assert_true(reused);
	job_free(&j);
	st.idem_key = NULL;
	/* room under the cap again: the rate limit's fourth is refused */
	testdb_sql(side, "UPDATE jobs SET status = 'cancelled' WHERE client = "
			 "'203.0.113.9'");
	testdb_sql(side, "SELECT jobs_live_recount()");
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_ELIMIT);
	assert_true(retry >= 1 && retry <= 3600);
	assert_int_equal(testdb_ll(side,
				   "SELECT count FROM rate_limits WHERE key = "
				   "'job-start:203.0.113.9'"),
			 3);
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM jobs WHERE client = "
				   "'203.0.113.9' AND status = 'pending'"),
			 0);
	/* another client's job fills the room for all anonymous jobs */
	st.rate_limit = 0;
	st.client = "198.51.100.1";
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	job_free(&j);
	st.client = "203.0.113.9";
	st.anon_max = 1;
	retry = -1;
	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_ELIMIT);
	assert_int_equal(retry, 30);
	json_object_put(st.norm);
}

static void
test_reconnect_after_termination(void **state)
{
	char id[JOB_ID_MAX];
	struct job j;

	create(JOB_CARTOONIZE, CARTOON, id);
	testdb_terminate(side, db);
	/* the broken session is noticed before sending: no error at all */
	get(id, &j);
	job_free(&j);
}

static void
test_status_json_and_list(void **state)
{
	char id[JOB_ID_MAX];
	struct json_object *o, *v;
	struct job_list l;
	struct job j;
	struct job_filter f = {0};

	create(JOB_CARTOONIZE, CARTOON, id);
	get(id, &j);
	o = job_status_json(&cfg, &j);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "jobId", &v));
	assert_string_equal(json_object_get_string(v), id);
	assert_true(json_object_object_get_ex(o, "estimatedTimeRemaining", &v));
	assert_int_equal(json_object_get_int(v), 120);
	assert_true(json_object_object_get_ex(o, "createdAt", &v));
	assert_false(json_object_object_get_ex(o, "result", NULL));
	json_object_put(o);
	job_free(&j);
	f.has_type = 1;
	f.type = JOB_CARTOONIZE;
	f.limit = 10;
	assert_int_equal(job_list(db, &f, &l), SJ_OK);
	assert_int_equal(l.n, 1);
	job_list_free(&l);
	f.type = JOB_SCENES;
	assert_int_equal(job_list(db, &f, &l), SJ_OK);
	assert_int_equal(l.n, 0);
}

/* ---- fair share between owners (schema 016) ---- */

/* A cartoonize job of user (if not 0), else of client (may be NULL). */
static void
create_as(int64_t user, const char *client, char id[JOB_ID_MAX])
{
	struct job_start st = {.type = JOB_CARTOONIZE,
			       .norm = validated(JOB_CARTOONIZE, CARTOON),
			       .user_id = user,
			       .client = user ? NULL : client};
	struct job j;
	bool reused;

	assert_int_equal(job_start(db, &cfg, &st, &j, &reused), SJ_OK);
	memcpy(id, j.id, JOB_ID_MAX);
	job_free(&j);
	json_object_put(st.norm);
}

static void
users_7_8(int share7, int share8)
{
	char sql[256];

	testdb_sql(side, "DELETE FROM users WHERE id IN (7, 8)");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO users (id, email, password_hash, share) VALUES "
		 "(7, 'n@example.com', 'x', %d), (8, 'm@example.com', 'x', %d)",
		 share7, share8);
	testdb_sql(side, sql);
}

/*
 * Owner A queues 10, a claim takes 3 of them, then owner B queues 1:
 * B's job is the next claimed (oldest-first would give A's 4th); had B
 * queued before any claim, its job would be the second.  Users and
 * anonymous clients alike, in priority order and in FIFO order.
 */
static void
test_fair_newcomer_next(void **state)
{
	char a[10][JOB_ID_MAX], b[JOB_ID_MAX];
	struct job_list l;
	struct job j;

	(void)state;
	users_7_8(1, 1);
	for (int round = 0; round < 3; round++) {
		bool fifo = round == 2;
		int64_t ua = round == 1 ? 0 : 7, ub = round == 1 ? 0 : 8;

		testdb_sql(side, "TRUNCATE jobs, workers CASCADE");
		cfg.features[FEAT_PRIORITY_PROCESSING] = !fifo;
		for (int i = 0; i < 10; i++)
			create_as(ua, "192.0.2.1", a[i]);
		claim("w1", 3, 0, 3, &l);
		assert_int_equal(l.n, 3);
		job_list_free(&l);
		create_as(ub, "192.0.2.2", b);
		claim_one("w1", &j);
		assert_string_equal(j.id, b);
		job_free(&j);
		claim_one("w1", &j);
		assert_string_equal(j.id, a[3]);
		job_free(&j);
		/* queued before any claim, B's job is the second */
		testdb_sql(side, "TRUNCATE jobs, workers CASCADE");
		for (int i = 0; i < 10; i++)
			create_as(ua, "192.0.2.1", a[i]);
		create_as(ub, "192.0.2.2", b);
		claim_one("w1", &j);
		assert_string_equal(j.id, a[0]);
		job_free(&j);
		claim_one("w1", &j);
		assert_string_equal(j.id, b);
		job_free(&j);
	}
	cfg.features[FEAT_PRIORITY_PROCESSING] = true;
}

/* Share 2 against share 1, both backlogged: two claims to one. */
static void
test_fair_weights(void **state)
{
	char id[JOB_ID_MAX];
	int got7 = 0, got8 = 0;
	struct job j;

	(void)state;
	users_7_8(2, 1);
	for (int i = 0; i < 40; i++)
		create_as(7, NULL, id);
	for (int i = 0; i < 40; i++)
		create_as(8, NULL, id);
	for (int i = 0; i < 30; i++) {
		claim_one("w1", &j);
		got7 += j.user_id == 7;
		got8 += j.user_id == 8;
		job_free(&j);
	}
	assert_int_equal(got7 + got8, 30);
	assert_in_range(got7, 19, 21);
	assert_in_range(got8, 9, 11);
}

/* One owner's jobs, and jobs with no owner, are claimed oldest first. */
static void
test_fair_one_owner_fifo(void **state)
{
	char ids[8][JOB_ID_MAX];
	struct job j;

	(void)state;
	users_7_8(3, 1);
	for (int round = 0; round < 2; round++) {
		testdb_sql(side, "TRUNCATE jobs, workers CASCADE");
		for (int i = 0; i < 8; i++)
			if (round == 0)
				create_as(7, NULL, ids[i]);
			else
				create(JOB_CARTOONIZE, CARTOON, ids[i]);
		for (int i = 0; i < 8; i++) {
			claim_one("w1", &j);
			assert_string_equal(j.id, ids[i]);
			/* no owner: the tag is the creation time */
			if (round == 1)
				assert_int_equal(j.fair_at_ms, j.created_ms);
			job_free(&j);
		}
	}
}

/* A job whose run_at moves later moves its tag along: never before it. */
static void
test_fair_deferred_tag(void **state)
{
	char a[JOB_ID_MAX], b[JOB_ID_MAX], sql[256];
	struct job j;

	(void)state;
	users_7_8(1, 1);
	create_as(7, NULL, a);
	create_as(8, NULL, b);
	claim_one("w1", &j);
	assert_string_equal(j.id, a);
	{
		struct job_lease lease = {j.id, "w1", j.lease_epoch};

		assert_int_equal(job_defer(db, &lease, 3600 * 1000, NULL),
				 SJ_OK);
	}
	job_free(&j);
	get(a, &j);
	assert_true(j.fair_at_ms >= j.run_at_ms);
	assert_true(j.run_at_ms > now_ms() + 3000 * 1000);
	job_free(&j);
	/* made due again, it keeps the later tag: behind b */
	snprintf(sql, sizeof(sql),
		 "UPDATE jobs SET run_at = now() WHERE id = '%s'", a);
	testdb_sql(side, sql);
	claim_one("w1", &j);
	assert_string_equal(j.id, b);
	job_free(&j);
}

/*
 * A retried job queues behind its owner's pending jobs as a new one
 * would: A's three old failed jobs retried (by the admin route and by
 * the API's) do not go ahead of B's second job.  They were tagged now()
 * by the run_at trigger, ahead of every backlog tagged after now.
 */
static void
test_fair_retry_keeps_place(void **state)
{
	char old[3][JOB_ID_MAX], a[2][JOB_ID_MAX], b[2][JOB_ID_MAX];
	char sql[256];
	struct job_start rs = {.user_id = 7, .max_active = 100};
	struct job j;

	(void)state;
	users_7_8(1, 1);
	for (int i = 0; i < 3; i++) {
		create_as(7, NULL, old[i]);
		snprintf(sql, sizeof(sql),
			 "UPDATE jobs SET status = '%s', created_at = now() - "
			 "interval '1 day' WHERE id = '%s'",
			 i == 2 ? "cancelled" : "failed", old[i]);
		testdb_sql(side, sql);
	}
	testdb_sql(side, "SELECT jobs_live_recount()");
	for (int i = 0; i < 2; i++)
		create_as(7, NULL, a[i]);
	for (int i = 0; i < 2; i++)
		create_as(8, NULL, b[i]);
	assert_int_equal(job_retry(db, old[0]), SJ_OK);
	assert_int_equal(job_retry_start(db, old[1], &rs), SJ_OK);
	assert_int_equal(job_retry(db, old[2]), SJ_OK);
	const char *want[7] = {a[0], b[0], a[1], b[1], old[0], old[1], old[2]};
	for (int i = 0; i < 7; i++) {
		claim_one("w1", &j);
		assert_string_equal(j.id, want[i]);
		assert_true(j.fair_at_ms >= j.run_at_ms);
		job_free(&j);
	}
}

/*
 * A job deferred far ahead is not its owner's latest tag: the owner's
 * next job is tagged as if the deferred one were not queued (now), not
 * an hour after the deferral.
 */
static void
test_fair_deferral_not_latest(void **state)
{
	char a0[JOB_ID_MAX], a1[JOB_ID_MAX], b0[JOB_ID_MAX];
	struct job j;

	(void)state;
	users_7_8(1, 1);
	create_as(7, NULL, a0);
	/* deferred as a worker defers it: run_at and its tag 20 h ahead */
	claim_one("w1", &j);
	assert_string_equal(j.id, a0);
	assert_int_equal(
	    job_defer(db, &(struct job_lease){j.id, "w1", j.lease_epoch},
		      20LL * 3600 * 1000, NULL),
	    SJ_OK);
	job_free(&j);
	get(a0, &j);
	assert_true(j.fair_at_ms >= j.run_at_ms);
	assert_true(j.run_at_ms > now_ms() + 19LL * 3600 * 1000);
	job_free(&j);
	create_as(7, NULL, a1);
	create_as(8, NULL, b0);
	get(a1, &j);
	assert_true(j.fair_at_ms < now_ms() + 60 * 1000);
	job_free(&j);
	claim_one("w1", &j);
	assert_string_equal(j.id, a1);
	job_free(&j);
	claim_one("w1", &j);
	assert_string_equal(j.id, b0);
	job_free(&j);
}

/*
 * A claimed batch comes back in claim order (priority, tag, id), not in
 * the table's: A's five jobs and then B's five alternate.
 */
static void
test_fair_batch_in_claim_order(void **state)
{
	char a[5][JOB_ID_MAX], b[5][JOB_ID_MAX];
	struct job_list l;

	(void)state;
	users_7_8(1, 1);
	for (int round = 0; round < 2; round++) {
		testdb_sql(side, "TRUNCATE jobs, workers CASCADE");
		cfg.features[FEAT_PRIORITY_PROCESSING] = round == 0;
		for (int i = 0; i < 5; i++)
			create_as(7, NULL, a[i]);
		for (int i = 0; i < 5; i++)
			create_as(8, NULL, b[i]);
		claim("w1", 10, 0, 10, &l);
		assert_int_equal(l.n, 10);
		for (int i = 0; i < 10; i++)
			assert_string_equal(l.jobs[i].id,
					    i % 2 ? b[i / 2] : a[i / 2]);
		job_list_free(&l);
	}
	cfg.features[FEAT_PRIORITY_PROCESSING] = true;
}

/*
 * No BEFORE ROW UPDATE trigger on jobs: with one, every UPDATE (each
 * claim, heartbeat, progress write) fetches and locks each row once
 * more before updating it (016 had one on run_at: a claim of 100 read
 * 1,320 buffers instead of 1,220).
 */
static void
test_fair_no_update_trigger(void **state)
{
	PGresult *r;

	(void)state;
	/* tgtype bits: 1 row, 2 before, 16 update */
	r = PQexec(db_pg(side), "SELECT count(*) FROM pg_trigger WHERE "
				"tgrelid = 'jobs'::regclass AND tgtype & 19 = "
				"19");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(r, 0, 0), "0");
	PQclear(r);
}

/* A new-job notice's payload kept for the test (db_notify_fn). */
static void
keep_notice(const char *channel, const char *payload, void *ctx)
{
	if (strcmp(channel, JOB_CHANNEL_NEW) == 0)
		snprintf(ctx, 96, "%s", payload);
}

/*
 * A type's scan resumed after a claim that filled its share starts at
 * the last claimed job's key, hours ahead with one owner's backlog:
 * owner B's job queued after the claim is not seen from there, and its
 * notice ("type@priority@tag") lowers the point to B's key, from which
 * it is the next claimed.
 */
static void
test_fair_resume_sees_newcomer(void **state)
{
	char a[3][JOB_ID_MAX], b[JOB_ID_MAX], note[96] = "";
	struct claim_from from[JOB_TYPE_MAX], at;
	int free[JOB_TYPE_MAX] = {0};
	enum job_type t;
	struct job_list l;

	(void)state;
	users_7_8(1, 1);
	for (int i = 0; i < 3; i++)
		create_as(7, NULL, a[i]);
	claim("w1", 2, 0, 2, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.jobs[1].id, a[1]);
	/* A's second is tagged about an hour after the claim */
	assert_true(l.jobs[1].fair_at_ms > l.jobs[1].updated_ms + 3000 * 1000);
	for (int k = 0; k < JOB_TYPE_MAX; k++)
		from[k] = CLAIM_FROM_START;
	from[JOB_CARTOONIZE] = claim_from_after(&l.jobs[1]);
	assert_int_equal(from[JOB_CARTOONIZE].priority, l.jobs[1].priority);
	assert_int_equal(from[JOB_CARTOONIZE].fair_at_ms, l.jobs[1].fair_at_ms);
	job_list_free(&l);
	assert_int_equal(job_listen(db), SJ_OK);
	create_as(8, NULL, b);
	(void)db_notifies(db, keep_notice, note);
	assert_int_equal(db_exec_simple(db, "UNLISTEN *"), SJ_OK);
	free[JOB_CARTOONIZE] = 1;
	/* from A's second: A's third, B's job is behind the point */
	assert_int_equal(job_claim(db, &cfg, "w1", free, 1, from, &l), SJ_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.jobs[0].id, a[2]);
	job_list_free(&l);
	assert_true(job_notice_parse(note, &t, &at));
	assert_int_equal(t, JOB_CARTOONIZE);
	assert_true(claim_from_before(at, from[JOB_CARTOONIZE]));
	from[JOB_CARTOONIZE] = at;
	assert_int_equal(job_claim(db, &cfg, "w1", free, 1, from, &l), SJ_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.jobs[0].id, b);
	job_list_free(&l);
}

/* The payloads job_notice_parse() takes and refuses. */
static void
test_notice_parse(void **state)
{
	struct claim_from at = {0, 0};
	enum job_type t;

	(void)state;
	assert_true(job_notice_parse("cartoonize@3@1767312000123", &t, &at));
	assert_int_equal(t, JOB_CARTOONIZE);
	assert_int_equal(at.priority, 3);
	assert_int_equal(at.fair_at_ms, 1767312000123LL);
	assert_false(job_notice_parse("cartoonize", &t, &at));
	assert_int_equal(t, JOB_CARTOONIZE);
	assert_false(job_notice_parse("rescued", &t, &at));
	assert_int_equal(t, JOB_TYPE_MAX);
	assert_false(job_notice_parse("cartoonize@3", &t, &at));
	assert_false(job_notice_parse("cartoonize@3@x", &t, &at));
	assert_false(job_notice_parse("cartoonize@-1@5", &t, &at));
	assert_false(job_notice_parse("cartoonize@1@2@3", &t, &at));
	/* the edges of smallint and of year 9999, and one past each */
	assert_true(
	    job_notice_parse("cartoonize@32767@253402300799999", &t, &at));
	assert_int_equal(at.priority, 32767);
	assert_int_equal(at.fair_at_ms, 253402300799999LL);
	assert_true(job_notice_parse("cartoonize@0@0", &t, &at));
	assert_false(job_notice_parse("cartoonize@32768@5", &t, &at));
	assert_false(job_notice_parse("cartoonize@2147483647@5", &t, &at));
	assert_false(job_notice_parse("cartoonize@1@253402300800000", &t, &at));
	assert_false(
	    job_notice_parse("cartoonize@1@9223372036854775807", &t, &at));
	assert_int_equal(t, JOB_CARTOONIZE); /* rewinds that type */
	assert_false(job_notice_parse("", &t, &at));
	assert_int_equal(t, JOB_TYPE_MAX);
	assert_false(job_notice_parse(NULL, &t, &at));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_format),
	    cmocka_unit_test_setup(test_create_pending, fresh),
	    cmocka_unit_test_setup(test_missing_job, fresh),
	    cmocka_unit_test_setup(test_progress, fresh),
	    cmocka_unit_test(test_validation_messages),
	    cmocka_unit_test(test_validation_normalizes),
	    cmocka_unit_test_setup(test_claim_caps_and_priority, fresh),
	    cmocka_unit_test_setup(test_claim_from, fresh),
	    cmocka_unit_test_setup(test_ms_exact, fresh),
	    cmocka_unit_test_setup(test_keyed_session, fresh),
	    cmocka_unit_test_setup(test_retry_policy, fresh),
	    cmocka_unit_test_setup(test_retry_after, fresh),
	    cmocka_unit_test_setup(test_permanent_failure, fresh),
	    cmocka_unit_test_setup(test_failure_message_text, fresh),
	    cmocka_unit_test_setup(test_lease_expiry_and_fencing, fresh),
	    cmocka_unit_test_setup(test_abandoned_too_often, fresh),
	    cmocka_unit_test_setup(test_timeout, fresh),
	    cmocka_unit_test_setup(test_heartbeat_renews, fresh),
	    cmocka_unit_test_setup(test_cancel_and_retry, fresh),
	    cmocka_unit_test_setup(test_release, fresh),
	    cmocka_unit_test_setup(test_notify_on_create, fresh),
	    cmocka_unit_test_setup(test_start_user_quota, fresh),
	    cmocka_unit_test_setup(test_start_admission, fresh),
	    cmocka_unit_test_setup(test_reconnect_after_termination, fresh),
	    cmocka_unit_test_setup(test_status_json_and_list, fresh),
	    cmocka_unit_test_setup(test_fair_newcomer_next, fresh),
	    cmocka_unit_test_setup(test_fair_weights, fresh),
	    cmocka_unit_test_setup(test_fair_one_owner_fifo, fresh),
	    cmocka_unit_test_setup(test_fair_deferred_tag, fresh),
	    cmocka_unit_test_setup(test_fair_retry_keeps_place, fresh),
	    cmocka_unit_test_setup(test_fair_deferral_not_latest, fresh),
	    cmocka_unit_test_setup(test_fair_batch_in_claim_order, fresh),
	    cmocka_unit_test_setup(test_fair_resume_sees_newcomer, fresh),
	    cmocka_unit_test(test_notice_parse),
	    cmocka_unit_test_setup(test_fair_no_update_trigger, fresh),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
