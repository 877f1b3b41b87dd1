/*
 * Provider budgets and job usage against a real PostgreSQL: takes on a
 * test clock are never more than the limit in any 60 s, concurrent
 * sessions never exceed it, a chat take spends both its limits or none,
 * a pause holds every take and is never shortened, bookings give each
 * caller its own slot and a later pause voids them, limits off write
 * nothing, job_defer keeps the attempt and checkpoint under its fence,
 * and usage adds up per job, type and user, in /metrics and the stats.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "budget.h"
#include "health.h"
#include "job.h"
#include "testdb.h"

#define T0 1900000000000LL /* the test clock's start, unix ms */

TESTDB_GROUP_FIXTURE

static int
fresh(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE jobs, provider_budget, usage_totals, "
			 "usage_by_user CASCADE");
	return 0;
}

static int64_t
take(const char *p, const struct budget_limits *l, enum budget_call c,
     int64_t cost, int64_t at)
{
	int64_t wait = -1;

	assert_int_equal(budget_take_at(db, p, l, c, cost, at, &wait), SJ_OK);
	return wait;
}

/* The most of the sorted times t[0..n) inside any 60 s window. */
static size_t
max_in_minute(const int64_t *t, size_t n)
{
	size_t best = 0;

	for (size_t i = 0, j = 0; i < n; i++) {
		while (t[i] - t[j] >= 60000)
			j++;
		if (i - j + 1 > best)
			best = i - j + 1;
	}
	return best;
}

/*
 * 30 a minute, five minutes of a taker that asks every 100 ms and again
 * at once whenever it was admitted: never 31 in a minute, and no less
 * than the limit allows (one every 2 s).  A refusal names the moment it
 * would be admitted.
 */
static void
test_spacing(void **state)
{
	struct budget_limits l = {30, 0, 0};
	int64_t at[400];
	size_t n = 0;

	(void)state;
	for (int64_t t = T0; t < T0 + 300000; t += 100) {
		int64_t w;

		while ((w = take("p1", &l, BUDGET_CHAT, 100, t)) == 0) {
			assert_true(n < 400);
			at[n++] = t;
		}
		/* the wait ends on the next admission, not before */
		assert_true(t + w == at[n - 1] + 2000);
	}
	assert_int_equal(n, 150);
	assert_int_equal(max_in_minute(at, n), 30);
	for (size_t i = 1; i < n; i++)
		assert_true(at[i] - at[i - 1] >= 2000);
}

/*
 * A chat take spends a request and its tokens or neither; the token
 * limit's wait is the tokens' time; adjust moves it by the difference.
 */
static void
test_chat_both_or_none(void **state)
{
	struct budget_limits l = {60, 600, 0};

	(void)state;
	/* 100 tokens of 600 a minute: 10 s; the request: 1 s */
	assert_int_equal(take("p2", &l, BUDGET_CHAT, 100, T0), 0);
	assert_int_equal(
	    testdb_ll(side, "SELECT floor(date_part('epoch', tat_requests) * "
			    "1000) FROM provider_budget"),
	    T0 + 1000);
	/* at +1 s the request is free, the tokens are not: nothing taken */
	assert_int_equal(take("p2", &l, BUDGET_CHAT, 100, T0 + 1000), 9000);
	assert_int_equal(
	    testdb_ll(side, "SELECT floor(date_part('epoch', tat_requests) * "
			    "1000) FROM provider_budget"),
	    T0 + 1000);
	/* the answer used 50: 5 s back */
	assert_int_equal(budget_adjust(db, "p2", &l, -50), SJ_OK);
	assert_int_equal(take("p2", &l, BUDGET_CHAT, 100, T0 + 4000), 1000);
	assert_int_equal(take("p2", &l, BUDGET_CHAT, 100, T0 + 5000), 0);
	/* images have their own limit: off, so always admitted */
	assert_int_equal(take("p2", &l, BUDGET_IMAGE, 4, T0 + 5000), 0);
	l.image_ipm = 6; /* 4 images: 40 s */
	assert_int_equal(take("p2", &l, BUDGET_IMAGE, 4, T0 + 5000), 0);
	assert_int_equal(take("p2", &l, BUDGET_IMAGE, 1, T0 + 6000), 39000);
}

/* A 429's pause holds every take, limits on or off, and only grows. */
static void
test_pause(void **state)
{
	struct budget_limits off = {0, 0, 0}, on = {600, 0, 0};

	(void)state;
	assert_int_equal(take("p3", &off, BUDGET_CHAT, 10, T0), 0);
	assert_int_equal(budget_pause_at(db, "p3", 5000, T0), SJ_OK);
	assert_int_equal(take("p3", &off, BUDGET_CHAT, 10, T0), 5000);
	assert_int_equal(take("p3", &on, BUDGET_IMAGE, 1, T0 + 1000), 4000);
	assert_int_equal(budget_pause_at(db, "p3", 2000, T0), SJ_OK);
	assert_int_equal(take("p3", &on, BUDGET_CHAT, 10, T0 + 1000), 4000);
	assert_int_equal(budget_pause_at(db, "p3", 8000, T0), SJ_OK);
	assert_int_equal(take("p3", &on, BUDGET_CHAT, 10, T0 + 1000), 7000);
	/* refused takes took nothing */
	assert_int_equal(testdb_ll(side,
				   "SELECT count(*) FROM provider_budget WHERE "
				   "tat_requests > '-infinity'"),
			 0);
	assert_int_equal(take("p3", &on, BUDGET_CHAT, 10, T0 + 8000), 0);
	/* another provider is not paused */
	assert_int_equal(take("p4", &off, BUDGET_CHAT, 10, T0), 0);
}

/*
 * A pause without an instant runs from the database's now(): the
 * worker passes a 429's Retry-After as a length, not its host's clock.
 */
static void
test_pause_db_clock(void **state)
{
	(void)state;
	assert_int_equal(budget_pause(db, "p5", 5000), SJ_OK);
	assert_true(
	    testdb_ll(side,
		      "SELECT floor(1000 * date_part('epoch', paused_until "
		      "- now()))::int8 FROM provider_budget WHERE provider "
		      "= 'p5'") > 4000);
	assert_true(
	    testdb_ll(side,
		      "SELECT floor(1000 * date_part('epoch', paused_until "
		      "- now()))::int8 FROM provider_budget WHERE provider "
		      "= 'p5'") <= 5000);
	assert_int_equal(budget_pause(db, "p5", 0), SJ_EINVAL);
}

/*
 * Bookings: 60 callers at one instant under 30 images a minute each get
 * their own slot, one interval (2 s and the margin's share) apart, the
 * first now; none is booked past the horizon (told when to come back
 * instead); a pause set later voids the bookings it reaches past and
 * moves the next booking after it.
 */
static void
test_reserve(void **state)
{
	struct budget_limits l = {0, 0, 30};
	int64_t iv = (60000 + BUDGET_MARGIN_MS) / 30, w, at, prev = -1, now;
	bool ok;

	(void)state;
	for (int i = 0; i < 60; i++) {
		assert_int_equal(budget_reserve_at(db, "p9", &l, BUDGET_IMAGE,
						   1, 200000, T0, &w, &at),
				 SJ_OK);
		if (i == 0)
			assert_int_equal(w, 0);
		else
			assert_true(w >= prev + iv && w <= prev + iv + 1);
		assert_int_equal(at, T0 + w);
		prev = w;
	}
	/* slot 100 would start ~201.7 s ahead: not booked */
	for (int i = 60; i < 120; i++) {
		assert_int_equal(budget_reserve_at(db, "p9", &l, BUDGET_IMAGE,
						   1, 200000, T0, &w, &at),
				 SJ_OK);
		assert_true(w > 0 || w < 0);
		if (w < 0)
			break;
		prev = w;
	}
	assert_true(w < 0);
	assert_true(prev + iv - 200000 <= -w + 1 && -w <= prev + iv + 2);
	/* limits off: only the pause, nothing booked */
	{
		struct budget_limits off = {0, 0, 0};

		assert_int_equal(budget_reserve_at(db, "p9", &off, BUDGET_IMAGE,
						   1, 200000, T0, &w, &at),
				 SJ_OK);
		assert_int_equal(w, 0);
	}
	/* a pause voids bookings inside it, keeps those after it */
	now = testdb_ll(side,
			"SELECT floor(1000 * date_part('epoch', now()))::int8");
	assert_int_equal(budget_pause_at(db, "p9", 5000, now), SJ_OK);
	assert_int_equal(budget_booking_ok(db, "p9", now + 4000, &ok, &at),
			 SJ_OK);
	assert_false(ok);
	assert_true(at >= now && at < now + 4000);
	assert_int_equal(budget_booking_ok(db, "p9", now + 5000, &ok, &at),
			 SJ_OK);
	assert_true(ok);
	assert_int_equal(budget_booking_ok(db, "none", now, &ok, &at), SJ_OK);
	assert_true(ok);
	assert_int_equal(budget_reserve_at(db, "p10", &l, BUDGET_IMAGE, 1,
					   200000, 0, &w, &at),
			 SJ_OK);
	assert_int_equal(w, 0);
	assert_int_equal(budget_pause_at(db, "p10", 3000, at), SJ_OK);
	assert_int_equal(budget_reserve_at(db, "p10", &l, BUDGET_IMAGE, 1,
					   200000, at, &w, &at),
			 SJ_OK);
	assert_true(w >= 3000 && w <= 3001);
}

/* Limits off (the default): admitted, and not a row written. */
static void
test_off_writes_nothing(void **state)
{
	struct budget_limits l;

	(void)state;
	budget_limits_of(&cfg, &l);
	assert_int_equal(l.chat_rpm + l.chat_tpm + l.image_ipm, 0);
	for (int i = 0; i < 50; i++) {
		int64_t w = -1;

		assert_int_equal(
		    budget_take(db, BUDGET_OPENAI, &l, i % 2, 500, &w), SJ_OK);
		assert_int_equal(w, 0);
	}
	assert_int_equal(budget_adjust(db, BUDGET_OPENAI, &l, 300), SJ_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM provider_budget"), 0);
}

#define THREADS 6
#define STEPS	60

struct taker {
	int64_t at[STEPS];
	size_t n;
	bool ok;
};

/*
 * Each thread on its own session takes at the same test instants, 50 ms
 * apart, under a limit of one per 100 ms.
 */
static void *
taker_main(void *arg)
{
	struct taker *tk = arg;
	struct budget_limits l = {600, 0, 0};
	struct db *s = NULL;

	tk->ok = db_open(cfg.database_url, "test-taker", 5000, &s) == SJ_OK;
	for (int k = 0; tk->ok && k < STEPS; k++) {
		int64_t w = -1, t = T0 + 50LL * k;

		tk->ok =
		    budget_take_at(s, "p5", &l, BUDGET_CHAT, 1, t, &w) == SJ_OK;
		if (tk->ok && w == 0)
			tk->at[tk->n++] = t;
	}
	db_close(s);
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Six sessions at once: the admissions are still 100 ms apart. */
static void
test_concurrent(void **state)
{
	static struct taker tk[THREADS];
	pthread_t th[THREADS];
	int64_t all[THREADS * STEPS];
	size_t n = 0;

	(void)state;
	memset(tk, 0, sizeof(tk));
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, taker_main, &tk[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_true(tk[i].ok);
		memcpy(all + n, tk[i].at, tk[i].n * sizeof(all[0]));
		n += tk[i].n;
	}
	qsort(all, n, sizeof(all[0]), cmp_i64);
	assert_true(n >= 1 && n <= STEPS / 2);
	for (size_t i = 1; i < n; i++)
		assert_true(all[i] - all[i - 1] >= 100);
}

/* A processing job of user (0: anonymous) under w1 at epoch 3. */
static void
processing(const char *id, int user)
{
	char q[640];

	if (user)
		testdb_sql(side, "INSERT INTO users (id, email, password_hash) "
				 "VALUES (7, 'n@example.com', 'x') ON CONFLICT "
				 "DO NOTHING");
	snprintf(
	    q, sizeof(q),
	    "INSERT INTO jobs (id, type, status, max_attempts, attempts, "
	    "timeout_s, input, checkpoint, progress, user_id, lease_owner, "
	    "lease_epoch, lease_expires_at, claimed_at, started_at) VALUES "
	    "('%s', 'scenes', 'processing', 3, 1, 60, '{}', '{\"a\":1}', "
	    "40, %s, 'w1', 3, now() + interval '1 minute', now(), now())",
	    id, user ? "7" : "NULL");
	testdb_sql(side, q);
}

static void
test_defer(void **state)
{
	struct job_lease stale = {"job_1_d", "w1", 2},
			 other = {"job_1_d", "w2", 3},
			 lease = {"job_1_d", "w1", 3};
	struct job j;

	(void)state;
	processing("job_1_d", 0);
	assert_int_equal(job_defer(db, &stale, 30000, "Waiting"), SJ_ELOST);
	assert_int_equal(job_defer(db, &other, 30000, "Waiting"), SJ_ELOST);
	assert_int_equal(job_get(db, "job_1_d", &j), SJ_OK);
	assert_int_equal(j.status, JOB_PROCESSING);
	job_free(&j);
	assert_int_equal(job_defer(db, &lease, 30000,
				   "Waiting for the "
				   "provider"),
			 SJ_OK);
	assert_int_equal(job_get(db, "job_1_d", &j), SJ_OK);
	assert_int_equal(j.status, JOB_PENDING);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.progress, 40);
	assert_non_null(j.checkpoint);
	assert_string_equal(json_object_to_json_string_ext(
				j.checkpoint, JSON_C_TO_STRING_PLAIN),
			    "{\"a\":1}");
	assert_string_equal(j.current_step, "Waiting for the provider");
	assert_true(j.run_at_ms - j.updated_ms >= 29999 &&
		    j.run_at_ms - j.updated_ms <= 30001);
	job_free(&j);
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM jobs WHERE lease_owner IS "
			    "NULL AND lease_expires_at IS NULL"),
	    1);
	/* given back: the same lease is fenced out now */
	assert_int_equal(job_defer(db, &lease, 1000, NULL), SJ_ELOST);
}

static void
test_usage(void **state)
{
	struct job_lease a = {"job_1_a", "w1", 3}, b = {"job_1_b", "w1", 3},
			 gone = {"job_1_x", "w1", 3};
	struct json_object *o = NULL, *v;
	struct buf m;

	(void)state;
	processing("job_1_a", 1);
	processing("job_1_b", 0);
	assert_int_equal(job_add_usage(db, &a, 100, 20, 0), SJ_OK);
	assert_int_equal(job_add_usage(db, &a, 50, 5, 2), SJ_OK);
	assert_int_equal(job_add_usage(db, &b, 10, 1, 1), SJ_OK);
	assert_int_equal(job_add_usage(db, &b, -5, 0, 0), SJ_OK);
	assert_int_equal(job_add_usage(db, &gone, 1, 1, 1), SJ_ENOTFOUND);
	assert_int_equal(
	    testdb_ll(side, "SELECT tokens_in * 10000 + tokens_out * 10 + "
			    "images FROM jobs WHERE id = 'job_1_a'"),
	    1500252);
	/* the job's row may go: the sums stay */
	testdb_sql(side, "DELETE FROM jobs");
	assert_int_equal(
	    testdb_ll(side, "SELECT sum(tokens_in) FROM usage_totals"), 160);
	assert_int_equal(testdb_ll(side,
				   "SELECT tokens_out FROM usage_by_user WHERE "
				   "user_id = 7"),
			 25);
	assert_int_equal(budget_usage_json(db, &o), SJ_OK);
	assert_true(json_object_object_get_ex(o, "byType", &v));
	assert_true(json_object_object_get_ex(v, "scenes", &v));
	assert_true(json_object_object_get_ex(v, "images", &v));
	assert_int_equal(json_object_get_int64(v), 3);
	assert_true(json_object_object_get_ex(o, "topUsers", &v));
	assert_int_equal(json_object_array_length(v), 2);
	v = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(v, "userId", &v));
	assert_int_equal(json_object_get_int64(v), 7);
	json_object_put(o);
	buf_init(&m, 1 << 20);
	assert_int_equal(health_metrics(db, &m), SJ_OK);
	assert_non_null(strstr(m.data, "storyjobs_upstream_tokens_total{type="
				       "\"scenes\",kind=\"input\"} 160\n"));
	assert_non_null(strstr(m.data, "storyjobs_upstream_tokens_total{type="
				       "\"scenes\",kind=\"output\"} 26\n"));
	assert_non_null(strstr(m.data, "storyjobs_upstream_images_total{type="
				       "\"scenes\"} 3\n"));
	buf_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_spacing, fresh),
	    cmocka_unit_test_setup(test_chat_both_or_none, fresh),
	    cmocka_unit_test_setup(test_pause, fresh),
	    cmocka_unit_test_setup(test_pause_db_clock, fresh),
	    cmocka_unit_test_setup(test_reserve, fresh),
	    cmocka_unit_test_setup(test_off_writes_nothing, fresh),
	    cmocka_unit_test_setup(test_concurrent, fresh),
	    cmocka_unit_test_setup(test_defer, fresh),
	    cmocka_unit_test_setup(test_usage, fresh),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
