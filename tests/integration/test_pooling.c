/*
 * The product through PgBouncer in transaction pooling, as a scaled-out
 * deployment runs it: tests/integration/run.sh starts a private
 * PgBouncer (pool_mode = transaction, scram password, startup options
 * refused as Debian's default does) in front of the cluster and a second
 * set of the five FastCGI programs with DATABASE_URL through it and
 * DATABASE_POOLING=transaction, behind their own nginx (POOLED_URL).  The
 * workers and storyjobsctl this suite starts go through it too; only the
 * worker's LISTEN session (DATABASE_LISTEN_URL) and this suite's checks
 * are direct.  Asserted: a worker without a direct LISTEN session refuses
 * to start; NOTIFY reaches the worker (claims within a second while the
 * poll tick is a minute) and a cancel reaches a running job (its slot is
 * free within the contract's second, with heartbeats ten seconds apart);
 * a job longer than its lease completes claimed once (progress and the
 * lease held through the pooler), a cancelled one retried completes; the
 * per-user quota and Idempotency-Key hold under concurrent starts (their
 * transaction-scoped advisory locks); health and /metrics answer;
 * statement_timeout holds through the pooler; storyjobsctl works through
 * it and `migrate` too (two at once on a fresh database); and no
 * 42P05/26000 nor a refused startup parameter is in PostgreSQL's or
 * PgBouncer's log.
 *
 * Environment: POOLED_URL, POOLED_DATABASE_URL, PGBOUNCER_LOG,
 * SJ_PG_LOG, DATABASE_URL (direct), STORYJOBSCTL, WORKER_BIN.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "itest.h"

#define CARTOON "{\"prompt\":\"a lighthouse keeper\",\"style\":\"anime\"}"
#define NSTARTS 16 /* concurrent starts against a quota of 10 */
#define NKEYED	8  /* concurrent starts with one Idempotency-Key */

static char direct_url[512];
static char tok[128], tok_q[128], tok_i[128];
static char job1[64], job2[64];

/* Occurrences of needle in the file at path (0 when it is missing). */
static int
log_count(const char *path, const char *needle)
{
	char line[4096];
	FILE *f;
	int n = 0;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

static int
setup(void **state)
{
	(void)state;
	itest_init();
	snprintf(direct_url, sizeof(direct_url), "%s", getenv("DATABASE_URL"));
	if (getenv("POOLED_URL") == NULL || *getenv("POOLED_URL") == '\0' ||
	    getenv("POOLED_DATABASE_URL") == NULL) {
		fprintf(stderr, "POOLED_URL and POOLED_DATABASE_URL are "
				"required (tests/integration/run.sh)\n");
		return -1;
	}
	itest_base = getenv("POOLED_URL");
	/* workers and storyjobsctl from here on go through the pooler */
	setenv("DATABASE_URL", getenv("POOLED_DATABASE_URL"), 1);
	setenv("DATABASE_POOLING", "transaction", 1);
	setenv("DATABASE_LISTEN_URL", direct_url, 1);
	itest_cancel_leftovers();
	itest_user("pool-a@example.com", "pool-password-1", 0, tok);
	itest_user("pool-q@example.com", "pool-password-1", 0, tok_q);
	itest_user("pool-i@example.com", "pool-password-1", 0, tok_i);
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

/* The status of a job of the user of tok. */
static void
job_status(const char *id, char *out, size_t n)
{
	char path[160];
	struct resp r;

	snprintf(path, sizeof(path), "/api/jobs/cartoonize/status/%s", id);
	http_json("GET", path, tok, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(out, n, "%s", jstr(r.json, "status"));
	resp_free(&r);
}

/* Waits until the job is in state want; the milliseconds it took. */
static int64_t
wait_status(const char *id, const char *want, int64_t limit_ms)
{
	int64_t t0 = itest_now_ms();
	char st[32] = "";

	while (itest_now_ms() - t0 < limit_ms) {
		job_status(id, st, sizeof(st));
		if (strcmp(st, want) == 0)
			return itest_now_ms() - t0;
		usleep(25 * 1000);
	}
	fail_msg("job %s: %s after %lld ms, want %s", id, st,
		 (long long)limit_ms, want);
	return -1;
}

static void
change(const char *id, const char *what)
{
	char path[160];
	struct resp r;

	snprintf(path, sizeof(path), "/api/jobs/%s/%s", id, what);
	http_json("POST", path, tok, NULL, &r);
	if (r.status != 200)
		fail_msg("%s %s: %ld %s", what, id, r.status,
			 r.body.data ? r.body.data : "");
	resp_free(&r);
}

static void
test_worker_needs_listen_url(void **state)
{
	const char *env[] = {"DATABASE_LISTEN_URL=", NULL};

	(void)state;
	/* LISTEN through the pooler would be accepted and deliver nothing */
	assert_int_equal(itest_worker_stop(itest_worker(env), 0), 78);
}

/*
 * A minute between poll ticks and ten seconds between heartbeats: only
 * NOTIFY on the direct session can make these prompt.  One job thread,
 * 20 s per step: job2 can only start once job1's cancel freed it.
 */
static void
test_notify_and_cancel(void **state)
{
	const char *env[] = {"JOB_PROCESSING_INTERVAL=60000",
			     "MAX_CONCURRENT_JOBS=1",
			     "PREFETCH_JOBS=0",
			     "LOCAL_DELAY_MS=20000",
			     "JOB_LEASE_SECONDS=30",
			     "HEARTBEAT_MS=10000",
			     NULL};
	pid_t w;
	int64_t ms;

	(void)state;
	w = itest_worker_ready(env);
	itest_job_start("cartoonize", CARTOON, tok, job1);
	ms = wait_status(job1, "processing", 3000);
	printf("# pooled: claimed %lld ms after the start (NOTIFY)\n",
	       (long long)ms);
	assert_true(ms < 1500);
	itest_job_start("cartoonize", CARTOON, tok, job2);
	usleep(300 * 1000);
	change(job1, "cancel");
	ms = wait_status(job2, "processing", 5000);
	printf("# pooled: the cancelled job's thread was free %lld ms after "
	       "the cancel\n",
	       (long long)ms);
	assert_true(ms < 1500);
	change(job2, "cancel");
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

/*
 * Steps of a second, so a job outlasts its 3 s lease: progress, lease
 * renewals and completion through the pooler; claimed once, never
 * retried.  The cancelled job1, retried, completes too.
 */
static void
test_lifecycle(void **state)
{
	const char *env[] = {"JOB_PROCESSING_INTERVAL=60000",
			     "LOCAL_DELAY_MS=1000", NULL};
	char id[64], q[256], path[160];
	struct json_object *done, *res;
	struct resp r;
	pid_t w;

	(void)state;
	w = itest_worker_ready(env);
	change(job1, "retry");
	itest_job_start("cartoonize", CARTOON, tok, id);
	assert_true(wait_status(id, "processing", 3000) < 1500);
	done = itest_job_wait("cartoonize", id, 30);
	assert_string_equal(jstr(done, "status"), "completed");
	assert_true(json_object_object_get_ex(done, "result", &res));
	snprintf(path, sizeof(path), "%s", jstr(res, "url"));
	json_object_put(done);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	snprintf(q, sizeof(q),
		 "SELECT lease_epoch * 10 + attempts FROM jobs WHERE id = '%s' "
		 "AND status = 'completed' AND progress = 100 AND "
		 "completed_at - started_at > interval '3 seconds'",
		 id);
	assert_int_equal(sql_ll(q), 10);
	assert_true(wait_status(job1, "completed", 20000) >= 0);
	assert_int_equal(itest_worker_stop(w, SIGTERM), 0);
}

static size_t
discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/*
 * A start in a child process with its own libcurl handle (no test
 * assertions there): writes its HTTP status and a newline to fd.
 */
static void
start_child(int fd, const char *token, const char *key)
{
	char url[600], auth[200], idem[100], out[200];
	struct curl_slist *h = NULL;
	long code = 0;
	CURL *c;

	snprintf(url, sizeof(url), "%s/api/jobs/cartoonize/start", itest_base);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (key != NULL) {
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
		h = curl_slist_append(h, idem);
	}
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, CARTOON);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	snprintf(out, sizeof(out), "%ld\n", code);
	if (write(fd, out, strlen(out)) < 0)
		_exit(1);
	_exit(0);
}

/* n concurrent starts; how many answered 200, and 403 into *refused. */
static int
concurrent_starts(int n, const char *token, const char *key, int *refused)
{
	int fds[2], ok = 0, st;
	char all[1024];
	ssize_t got, len = 0;

	*refused = 0;
	assert_int_equal(pipe(fds), 0);
	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		assert_true(p >= 0);
		if (p == 0) {
			close(fds[0]);
			start_child(fds[1], token, key);
		}
	}
	close(fds[1]);
	while ((got = read(fds[0], all + len, sizeof(all) - 1 - (size_t)len)) >
	       0)
		len += got;
	close(fds[0]);
	all[len] = '\0';
	while (waitpid(-1, &st, 0) > 0)
		;
	for (char *s = all; *s != '\0'; s = strchr(s, '\n') + 1) {
		if (strncmp(s, "200\n", 4) == 0)
			ok++;
		else if (strncmp(s, "403\n", 4) == 0)
			(*refused)++;
		else
			fail_msg("a concurrent start answered %.3s", s);
	}
	return ok;
}

/*
 * No worker runs: every start stays pending.  Each start holds its
 * caller's pg_advisory_xact_lock for its one transaction, on whichever
 * server session PgBouncer lent it.
 */
static void
test_quota_and_idempotency(void **state)
{
	int refused;

	(void)state;
	assert_int_equal(concurrent_starts(NSTARTS, tok_q, NULL, &refused), 10);
	assert_int_equal(refused, NSTARTS - 10);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs j JOIN users u ON "
				"u.id = j.user_id WHERE u.email = "
				"'pool-q@example.com'"),
			 10);
	assert_int_equal(
	    concurrent_starts(NKEYED, tok_i, "pool-key-1", &refused), NKEYED);
	assert_int_equal(sql_ll("SELECT count(*) FROM jobs j JOIN users u ON "
				"u.id = j.user_id WHERE u.email = "
				"'pool-i@example.com'"),
			 1);
	itest_cancel_leftovers();
}

static void
test_health_and_metrics(void **state)
{
	struct resp r;

	(void)state;
	http("GET", "/api/jobs/health", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_non_null(strstr(r.body.data, "\"database\":\"operational\""));
	resp_free(&r);
	http("GET", "/metrics", NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body.data, "storyjobs_queue_depth"));
	resp_free(&r);
}

/*
 * STATEMENT_TIMEOUT_MS is 1500 for the pooled programs: a status read
 * that waits behind a lock held here is cancelled by the server after
 * that long (57014), and the program answers at once afterwards.
 */
static void
test_statement_timeout(void **state)
{
	int before = log_count(getenv("SJ_PG_LOG"),
			       "canceling statement due to statement timeout");
	char st[32];
	PGresult *res;
	struct resp r;
	char path[160];
	int64_t t0, ms;

	(void)state;
	snprintf(path, sizeof(path), "/api/jobs/cartoonize/status/%s", job1);
	res =
	    PQexec(itest_pg, "BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	t0 = itest_now_ms();
	http_json("GET", path, tok, NULL, &r);
	ms = itest_now_ms() - t0;
	res = PQexec(itest_pg, "ROLLBACK");
	PQclear(res);
	printf("# pooled: a read behind a lock answered %ld after %lld ms\n",
	       r.status, (long long)ms);
	assert_true(r.status >= 500);
	assert_true(ms >= 1400 && ms < 4000);
	resp_free(&r);
	job_status(job1, st, sizeof(st));
	assert_string_equal(st, "completed");
	assert_true(log_count(getenv("SJ_PG_LOG"),
			      "canceling statement due to statement "
			      "timeout") > before);
}

/* A storyjobsctl run with DATABASE_URL=url; its pid. */
static pid_t
ctl_spawn(const char *url, const char *const *args)
{
	const char *ctl = getenv("STORYJOBSCTL");
	const char *argv[8];
	size_t n = 0;
	pid_t pid;

	argv[n++] = ctl;
	for (; *args != NULL && n < 7; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		setenv("DATABASE_URL", url, 1);
		execv(ctl, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static int
ctl_wait(pid_t pid)
{
	int st = 0;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
test_ctl_and_migrate(void **state)
{
	const char *migrate[] = {"migrate", "--sql-dir", SJ_SRC_SQL, NULL};
	const char *status[] = {"migrate", "--status", "--sql-dir", SJ_SRC_SQL,
				NULL};
	const char *health[] = {"health", NULL};
	const char *list[] = {"jobs", "list", "--limit", "5", NULL};
	char url[600], q[300];
	const char *pooled = getenv("POOLED_DATABASE_URL");
	const char *slash = strrchr(pooled, '/');
	PGconn *fresh;
	PGresult *res;
	pid_t a, b;

	(void)state;
	assert_int_equal(itest_ctl(NULL, migrate), 0);
	assert_int_equal(itest_ctl(NULL, status), 0);
	assert_int_equal(itest_ctl(NULL, health), 0);
	assert_int_equal(itest_ctl(NULL, list), 0);
	/* a fresh database, migrated by two runs at once through the pooler */
	res = PQexec(itest_pg, "DROP DATABASE IF EXISTS pooled_migrate");
	PQclear(res);
	res = PQexec(itest_pg, "CREATE DATABASE pooled_migrate");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	snprintf(url, sizeof(url), "%.*s/pooled_migrate", (int)(slash - pooled),
		 pooled);
	a = ctl_spawn(url, migrate);
	b = ctl_spawn(url, migrate);
	assert_int_equal(ctl_wait(a), 0);
	assert_int_equal(ctl_wait(b), 0);
	assert_int_equal(ctl_wait(ctl_spawn(url, status)), 0);
	slash = strrchr(direct_url, '/');
	snprintf(url, sizeof(url), "%.*s/pooled_migrate",
		 (int)(slash - direct_url), direct_url);
	fresh = PQconnectdb(url);
	assert_int_equal(PQstatus(fresh), CONNECTION_OK);
	snprintf(q, sizeof(q),
		 "SELECT count(*) = count(DISTINCT version) AND count(*) = "
		 "max(version) AND count(*) >= 11 FROM schema_migrations");
	res = PQexec(fresh, q);
	assert_string_equal(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	PQfinish(fresh);
	/* PgBouncer still holds server sessions there */
	res = PQexec(itest_pg, "DROP DATABASE pooled_migrate WITH (FORCE)");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

/* What went through PgBouncer, and that nothing was refused there. */
static void
test_logs_clean(void **state)
{
	const char *pgb = getenv("PGBOUNCER_LOG"), *pg = getenv("SJ_PG_LOG");
	char url[600];
	const char *pooled = getenv("POOLED_DATABASE_URL");
	const char *slash = strrchr(pooled, '/');
	long long xacts = -1;
	PGconn *admin;
	PGresult *res;

	(void)state;
	assert_int_equal(log_count(pgb, "unsupported startup parameter"), 0);
	assert_int_equal(log_count(pg, "prepared statement \""), 0);
	assert_int_equal(log_count(pgb, "prepared statement"), 0);
	snprintf(url, sizeof(url), "%.*s/pgbouncer", (int)(slash - pooled),
		 pooled);
	admin = PQconnectdb(url);
	assert_int_equal(PQstatus(admin), CONNECTION_OK);
	res = PQexec(admin, "SHOW STATS");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	for (int i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), "storyjobs") == 0)
			xacts = strtoll(
			    PQgetvalue(res, i,
				       PQfnumber(res, "total_xact_count")),
			    NULL, 10);
	PQclear(res);
	PQfinish(admin);
	printf("# pooled: %lld transactions through PgBouncer\n", xacts);
	assert_true(xacts > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_worker_needs_listen_url),
	    cmocka_unit_test(test_notify_and_cancel),
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_quota_and_idempotency),
	    cmocka_unit_test(test_health_and_metrics),
	    cmocka_unit_test(test_statement_timeout),
	    cmocka_unit_test(test_ctl_and_migrate),
	    cmocka_unit_test(test_logs_clean),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
