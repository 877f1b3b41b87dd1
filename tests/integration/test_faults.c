/*
 * Faults, with the real worker, PostgreSQL and nginx and the fake
 * upstream on loopback:
 *
 *   several workers racing for many jobs complete each exactly once;
 *   workers SIGKILLed again and again under load lose no job, and no
 *     upstream call is repeated unless a kill cut it (or the moment
 *     between its answer and its checkpoint) short;
 *   PostgreSQL restarted with pg_ctl -m immediate mid-load: the worker
 *     reconnects, re-LISTENs and finishes everything;
 *   the worker's LISTEN session terminated by pg_terminate_backend: jobs
 *     still start within the poll interval, and NOTIFY works again;
 *   SIGHUP applies a new configuration file, and keeps the running one
 *     when the new one is invalid.
 *
 * Each prints what it measured.  Environment: that of itest.h plus
 * FAKE_UPSTREAM, SJ_PGBIN, SJ_PG_DATA and SJ_PG_LOG.
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

#include "fake.h"
#include "itest.h"

#define KILLS_MAX 64

static struct fake fk;

static int
setup(void **state)
{
	(void)state;
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

/* Jobs whose input holds tag (in any string) and meet cond (SQL). */
static long long
count_tagged_if(const char *tag, const char *cond)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM jobs WHERE input::text LIKE '%%%s%%' "
		 "AND (%s)",
		 tag, cond);
	return sql_ll(sql);
}

/* Tagged jobs by status (NULL: all). */
static long long
count_tagged(const char *tag, const char *status)
{
	char cond[64];

	snprintf(cond, sizeof(cond), "status = '%s'", status ? status : "");
	return count_tagged_if(tag, status ? cond : "true");
}

/* Waits until every tagged job is finished; the number completed. */
static long long
wait_tagged(const char *tag, long long total, int timeout_s)
{
	long long done = 0;

	for (int i = 0; i < timeout_s * 10; i++) {
		done = count_tagged(tag, "completed");
		if (done + count_tagged(tag, "failed") +
			count_tagged(tag, "cancelled") >=
		    total)
			break;
		usleep(100 * 1000);
	}
	return done;
}

/* Anonymous jobs: the per-user quota does not cap them. */
static void
start_anon(const char *type, const char *body)
{
	char id[64];

	itest_job_start(type, body, NULL, id);
}

/*
 * A clean fake whose image calls follow script; tag (64 bytes) receives
 * prefix and our pid, for this test's jobs.
 */
static void
fresh_fake(const char *prefix, const char *script, char *tag)
{
	fake_reset(&fk);
	fake_script(&fk, FAKE_IMAGES, script);
	snprintf(tag, 64, "%s-%ld", prefix, (long)getpid());
}

/* Starts n anonymous image-generation jobs whose prompts carry tag. */
static void
start_images(const char *tag, int n)
{
	char body[256];

	for (int i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "{\"image_prompt\":\"%s %d\"}",
			 tag, i);
		start_anon("image-generation", body);
	}
}

static void
test_workers_race(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=4", NULL};
	enum { M = 60, N = 3 };
	struct json_object *log;
	char tag[64];
	pid_t w[N];
	int64_t t0;
	long long done;

	(void)state;
	fresh_fake("race", "\"default\":\"delay:30\"", tag);
	start_images(tag, M);
	t0 = itest_now_ms();
	for (int i = 0; i < N; i++)
		w[i] = itest_worker(fake_worker_env(&fk, extra));
	done = wait_tagged(tag, M, 90);
	print_message("%d workers, %d jobs: %lld completed in %lld ms\n", N, M,
		      done, (long long)(itest_now_ms() - t0));
	for (int i = 0; i < N; i++)
		assert_int_equal(itest_worker_stop(w[i], SIGTERM), 0);
	assert_int_equal(done, M);
	log = fake_calls(&fk);
	/* each job ran once: one image call and one upload per job */
	assert_int_equal(fake_count(log, FAKE_IMAGES), M);
	assert_int_equal(fake_count(log, FAKE_UPLOAD), M);
	json_object_put(log);
}

/*
 * True when a kill at one of kills[] can explain repeating call c: it
 * was in flight, or had answered less than 100 ms before (its result not
 * yet saved: that takes a few ms).
 */
static bool
kill_explains(struct json_object *c, const int64_t *kills, int nkills)
{
	int64_t start = (int64_t)jint(c, "start_ms");
	int64_t end = (int64_t)jint(c, "end_ms");

	for (int k = 0; k < nkills; k++)
		if (kills[k] >= start && (end <= 0 || kills[k] <= end + 100))
			return true;
	return false;
}

/* Counts repeated calls; fails on any a kill does not explain. */
static int
check_repeats(struct json_object *log, const int64_t *kills, int nkills)
{
	int repeats = 0;

	for (size_t i = 0; i < json_object_array_length(log); i++) {
		struct json_object *a = json_object_array_get_idx(log, i);

		for (size_t j = i + 1; j < json_object_array_length(log); j++) {
			struct json_object *b =
			    json_object_array_get_idx(log, j);

			if (strcmp(jstr(a, "key"), jstr(b, "key")) != 0)
				continue;
			repeats++;
			if (!kill_explains(a, kills, nkills))
				fail_msg("call to %s repeated with no kill to "
					 "explain it: %s",
					 jstr(a, "path"),
					 json_object_to_json_string(a));
			break; /* b is judged as the next a */
		}
	}
	return repeats;
}

static void
test_sigkill_under_load(void **state)
{
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=3", NULL};
	enum { IMAGES = 16, SCENES = 8, CARTOONS = 6 };
	int64_t kills[KILLS_MAX];
	struct json_object *log;
	char tag[64], body[1024], salt[96], photo[512];
	int nkills = 0, total = IMAGES + SCENES + CARTOONS;
	long long done, processing;
	pid_t w[2];
	int64_t t0;

	(void)state;
	fake_reset(&fk);
	fake_script(&fk, FAKE_IMAGES, "\"default\":\"delay:400\"");
	fake_script(&fk, FAKE_CHAT, "\"default\":\"delay:400\"");
	snprintf(tag, sizeof(tag), "kill-%ld", (long)getpid());
	start_images(tag, IMAGES);
	for (int i = 0; i < SCENES; i++) {
		/* a photo of its own: describing it is this job's call */
		snprintf(salt, sizeof(salt), "%s-%d", tag, i);
		fake_upload_photo(&fk, salt, photo, sizeof(photo));
		snprintf(body, sizeof(body),
			 "{\"story\":\"%s %d. A little mole dug a tunnel to "
			 "the river and met a frog who could not swim.\","
			 "\"audience\":\"children\",\"characterImage\":"
			 "\"%s\"}",
			 tag, i, photo);
		start_anon("scenes", body);
	}
	for (int i = 0; i < CARTOONS; i++) {
		snprintf(salt, sizeof(salt), "%s-c%d", tag, i);
		fake_upload_photo(&fk, salt, photo, sizeof(photo));
		snprintf(body, sizeof(body),
			 "{\"prompt\":\"%s %d\",\"imageUrl\":\"%s\"}", tag, i,
			 photo);
		start_anon("cartoonize", body);
	}
	t0 = itest_now_ms();
	for (int i = 0; i < 2; i++)
		w[i] = itest_worker(fake_worker_env(&fk, extra));
	/* kill one worker every 700 ms for 7 s, replacing it at once (calls
	 * take 400 ms, so most kills cut jobs in hand) */
	for (int k = 0; k < 10; k++) {
		usleep(700 * 1000);
		processing = count_tagged(tag, "processing");
		kills[nkills++] = itest_now_ms();
		assert_int_equal(itest_worker_stop(w[k % 2], SIGKILL),
				 128 + SIGKILL);
		w[k % 2] = itest_worker(fake_worker_env(&fk, extra));
		print_message("kill %d: %lld jobs processing\n", k + 1,
			      processing);
	}
	done = wait_tagged(tag, total, 120);
	usleep(500 * 1000); /* the last worker started has set up */
	for (int i = 0; i < 2; i++)
		assert_int_equal(itest_worker_stop(w[i], SIGTERM), 0);
	log = fake_calls(&fk);
	print_message("%d kills: %lld/%d jobs completed in %lld ms, %lld "
		      "lost, %lld rescues, %d upstream calls, %d repeated "
		      "(each cut by a kill)\n",
		      nkills, done, total, (long long)(itest_now_ms() - t0),
		      total - done,
		      sql_ll("SELECT coalesce(sum(rescues), 0) FROM jobs WHERE "
			     "input::text LIKE '%kill-%'"),
		      (int)json_object_array_length(log),
		      check_repeats(log, kills, nkills));
	assert_int_equal(done, total);
	json_object_put(log);
}

static void
pg_restart_immediate(void)
{
	const char *bin = getenv("SJ_PGBIN"), *data = getenv("SJ_PG_DATA"),
		   *logf = getenv("SJ_PG_LOG");
	char cmd[1024];

	assert_non_null(bin);
	assert_non_null(data);
	assert_non_null(logf);
	snprintf(cmd, sizeof(cmd),
		 "runuser -u postgres -- %s/pg_ctl -D '%s' -l '%s' -m "
		 "immediate -w -t 60 restart >/dev/null",
		 bin, data, logf);
	assert_int_equal(system(cmd), 0);
}

/* ms from a job's creation to its claim (it must have been claimed). */
static long long
start_latency(const char *tag)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT (extract(epoch FROM claimed_at - created_at) * "
		 "1000)::int8 FROM jobs WHERE input::text LIKE '%%%s%%'",
		 tag);
	return sql_ll(sql);
}

/* Starts one job tagged tag and waits for it; its start latency. */
static long long
one_job(const char *tag)
{
	struct json_object *doc;
	char body[256];

	snprintf(body, sizeof(body), "{\"image_prompt\":\"%s\"}", tag);
	doc = itest_job_run("image-generation", body, NULL, 30);
	json_object_put(doc);
	return start_latency(tag);
}

static void
test_pg_restart(void **state)
{
	/* a long poll interval: a quick start afterwards needs NOTIFY */
	const char *const extra[] = {"MAX_CONCURRENT_JOBS=3",
				     "JOB_PROCESSING_INTERVAL=5000", NULL};
	enum { M = 15 };
	char tag[64];
	long long done, lat;
	pid_t w;
	int64_t t0;

	(void)state;
	fresh_fake("pgr", "\"default\":\"delay:300\"", tag);
	w = itest_worker(fake_worker_env(&fk, extra));
	start_images(tag, M);
	for (int i = 0; i < 100 && count_tagged(tag, "completed") < 3; i++)
		usleep(50 * 1000);
	t0 = itest_now_ms();
	pg_restart_immediate();
	print_message("PostgreSQL restarted (immediate) in %lld ms with "
		      "%lld/%d done\n",
		      (long long)(itest_now_ms() - t0),
		      count_tagged(tag, "completed"), M);
	done = wait_tagged(tag, M, 60);
	print_message("after the restart: %lld/%d completed in %lld ms\n", done,
		      M, (long long)(itest_now_ms() - t0));
	assert_int_equal(done, M);
	/* LISTEN again: a new job starts long before the poll interval */
	snprintf(tag, sizeof(tag), "pgr-after-%ld", (long)getpid());
	lat = one_job(tag);
	print_message("a job after the restart started in %lld ms\n", lat);
	assert_true(lat < 2000);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

static void
test_listen_terminated(void **state)
{
	const char *const extra[] = {"JOB_PROCESSING_INTERVAL=3000", NULL};
	char tag[64];
	long long lat, killed;
	pid_t w;

	(void)state;
	fake_reset(&fk);
	/* the LISTEN session, not a start-up read: start-up exits on a
	 * lost session (the service manager starts it again) */
	w = itest_worker_ready(fake_worker_env(&fk, extra));
	/* no job ran yet: the worker's only session is the main thread's,
	 * the one that LISTENs */
	killed = sql_ll("SELECT count(pg_terminate_backend(pid)) FROM "
			"pg_stat_activity WHERE application_name = "
			"'storyjobs-worker'");
	assert_int_equal(killed, 1);
	snprintf(tag, sizeof(tag), "lt-%ld", (long)getpid());
	lat = one_job(tag);
	print_message("LISTEN session terminated; the next job started in "
		      "%lld ms (poll interval 3000 ms)\n",
		      lat);
	assert_true(lat < 3500);
	sleep(2);
	snprintf(tag, sizeof(tag), "lt2-%ld", (long)getpid());
	lat = one_job(tag);
	print_message("after re-LISTEN a job started in %lld ms\n", lat);
	assert_true(lat < 1000); /* by NOTIFY, not by the poll */
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

/* ms to run one local image-generation job (two pauses of the delay). */
static int64_t
timed_job(const char *tag)
{
	int64_t t0 = itest_now_ms();

	(void)one_job(tag);
	return itest_now_ms() - t0;
}

static void
test_sighup_reload(void **state)
{
	char path[] = "/tmp/sj-reload.XXXXXX", env[64], tag[64];
	/* the file, not the stack's environment, sets the local delay */
	const char *extra[] = {env, "LOCAL_DELAY_MS", NULL};
	int64_t slow, fast, kept;
	pid_t w;
	int fd;

	(void)state;
	assert_true((fd = mkstemp(path)) >= 0);
	close(fd);
	snprintf(env, sizeof(env), "STORYJOBS_CONFIG=%s", path);
	write_file(path, "LOCAL_DELAY_MS=1500\n");
	w = itest_worker(extra);
	snprintf(tag, sizeof(tag), "hup1-%ld", (long)getpid());
	slow = timed_job(tag);
	write_file(path, "LOCAL_DELAY_MS=0\n");
	assert_int_equal(kill(w, SIGHUP), 0);
	usleep(300 * 1000);
	snprintf(tag, sizeof(tag), "hup2-%ld", (long)getpid());
	fast = timed_job(tag);
	/* a bad file is refused as a whole: the running settings stay */
	write_file(path,
		   "LOCAL_DELAY_MS=1500\nOPENAI_TIMEOUT_SECONDS=forever\n");
	assert_int_equal(kill(w, SIGHUP), 0);
	usleep(300 * 1000);
	snprintf(tag, sizeof(tag), "hup3-%ld", (long)getpid());
	kept = timed_job(tag);
	print_message("SIGHUP: job took %lld ms with a 1500 ms delay, %lld ms "
		      "after reloading 0, %lld ms after a bad reload\n",
		      (long long)slow, (long long)fast, (long long)kept);
	assert_true(slow >= 2500);
	assert_true(fast < 1000);
	assert_true(kept < 1000);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	unlink(path);
}

/* The benchmarks' type: refused by the API, run only where enabled. */
static void
test_noop_type(void **state)
{
	const char *const on[] = {"BENCH_NOOP_JOBS=true", NULL};
	char sql[256];
	struct resp r;
	pid_t w;

	(void)state;
	http_json("POST", "/api/jobs/noop/start", NULL, "{}", &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_free(&r);
	snprintf(sql, sizeof(sql),
		 "WITH i AS (INSERT INTO jobs (id, type, priority, "
		 "max_attempts, timeout_s, input) SELECT 'job_1_noop%ld' || g, "
		 "'noop', 0, 1, 60, '{}' FROM generate_series(1, 50) g "
		 "RETURNING 1) SELECT count(*) FROM i",
		 (long)getpid());
	assert_int_equal(sql_ll(sql), 50);
	/* a worker without the setting leaves them alone */
	w = itest_worker(NULL);
	sleep(2);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs WHERE type = 'noop' "
				"AND status = 'pending'"),
			 50);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	w = itest_worker(on);
	for (int i = 0; i < 100 && sql_ll("SELECT count(*) FROM jobs WHERE "
					  "type = 'noop' AND status = "
					  "'completed'") < 50;
	     i++)
		usleep(50 * 1000);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs WHERE type = 'noop' "
				"AND status = 'completed'"),
			 50);
}

/*
 * PREFETCH_JOBS: jobs claimed ahead wait in the worker with their leases
 * renewed (no rescue although they wait longer than the lease), a cancel
 * reaches one that has not started, and SIGTERM gives the waiting ones
 * back untouched (pending, no attempt spent) for another worker.
 */
static void
test_prefetch(void **state)
{
	const char *const ahead[] = {
	    "MAX_CONCURRENT_JOBS=1",	    "PREFETCH_JOBS=4",
	    "JOB_LEASE_SECONDS=2",	    "HEARTBEAT_MS=500",
	    "JOB_PROCESSING_INTERVAL=1000", NULL};
	const char *const plain[] = {"MAX_CONCURRENT_JOBS=6", NULL};
	char tag[64], sql[512], last[64], path[128];
	struct resp r;
	pid_t w;
	int i;

	(void)state;
	fresh_fake("ahead", "\"default\":\"delay:1500\"", tag);
	start_images(tag, 6);
	w = itest_worker(fake_worker_env(&fk, ahead));
	for (i = 0; i < 50 && count_tagged(tag, "processing") < 5; i++)
		usleep(100 * 1000);
	/* one thread: one running, four claimed ahead, one left */
	assert_int_equal(count_tagged(tag, "processing"), 5);
	assert_int_equal(count_tagged(tag, "pending"), 1);

	/* the last in claim order waits behind the others: cancel it */
	snprintf(sql, sizeof(sql),
		 "SELECT id FROM jobs WHERE status = 'processing' "
		 "AND input::text LIKE '%%%s%%' ORDER BY priority DESC, run_at "
		 "DESC, id DESC LIMIT 1",
		 tag);
	sql_str(sql, last, sizeof(last));
	snprintf(path, sizeof(path), "/api/jobs/%s/cancel", last);
	http_json("POST", path, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);

	/* longer than the lease: the heartbeats keep the waiting ones */
	sleep(3);
	assert_true(count_tagged(tag, "processing") >= 3);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	assert_int_equal(count_tagged(tag, "processing"), 0);
	assert_int_equal(count_tagged_if(tag, "rescues > 0"), 0);
	assert_int_equal(
	    count_tagged_if(tag, "status = 'pending' AND attempts > 0"), 0);
	/* the running one and those still waiting, less the cancelled */
	assert_true(count_tagged(tag, "pending") >= 2);

	w = itest_worker(fake_worker_env(&fk, plain));
	assert_int_equal(wait_tagged(tag, 6, 30), 5);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
	assert_int_equal(count_tagged(tag, "cancelled"), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM jobs WHERE id = '%s' AND status = "
		 "'cancelled' AND result IS NULL",
		 last);
	assert_int_equal(sql_ll(sql), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workers_race),
	    cmocka_unit_test(test_sigkill_under_load),
	    cmocka_unit_test(test_pg_restart),
	    cmocka_unit_test(test_listen_terminated),
	    cmocka_unit_test(test_sighup_reload),
	    cmocka_unit_test(test_noop_type),
	    cmocka_unit_test(test_prefetch),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
