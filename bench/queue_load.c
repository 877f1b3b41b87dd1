/*
 * bench/queue_load.c: the load programs of bench/queue.sh, in C with
 * libpq so the measuring side costs little CPU on a 2-core machine.
 *
 *   queue-load ceiling URL THREADS BATCH
 *	The INSERT + SKIP LOCKED ceiling for the jobs table: THREADS
 *	sessions each claim up to BATCH pending noop jobs with FOR UPDATE
 *	SKIP LOCKED (setting the same columns as the worker's claim) and
 *	complete them all with one UPDATE, until none is left.  Prints
 *	"jobs=N seconds=S".
 *   queue-load repeat URL THREADS SECONDS SQL
 *	Runs SQL (no parameters) in a loop in THREADS sessions for SECONDS,
 *	pausing QL_PAUSE_US microseconds (environment, default 0) after
 *	each.  Prints "execs=N seconds=S".
 *   queue-load seq URL N INSERT_SQL POLL_SQL
 *	N times, one after the other: INSERT_SQL with $1 = the sequence
 *	number (its first column is the job's id), then POLL_SQL with $1 =
 *	that id every 100 us until it returns a row.  Prints "done=N
 *	seconds=S".
 *   queue-load watchmax URL INTERVAL_MS STOPFILE SQL
 *	Runs SQL every INTERVAL_MS until STOPFILE exists and prints the
 *	largest value of its first column as "max=X".
 *   queue-load pace URL TICK_MS SECONDS SQL
 *	A steady producer: runs SQL (no parameters) once every TICK_MS on
 *	a fixed schedule (tick i at start + i * TICK_MS, run at once when
 *	late, never skipped) for SECONDS.  Prints "execs=N seconds=S
 *	late_max_ms=X" (the latest a tick started after its time).
 *   queue-load sample URL INTERVAL_MS STOPFILE SQL
 *	Runs SQL every INTERVAL_MS on a fixed schedule until STOPFILE
 *	exists; prints one line per run: the wall-clock time (epoch
 *	seconds) then every column of the first row, comma-separated.
 *
 * Every failure is fatal: a benchmark with a failed statement is void.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *url;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, PGconn *db)
{
	fprintf(stderr, "queue-load: %s: %s\n", what,
		db ? PQerrorMessage(db) : strerror(errno));
	exit(1);
}

static PGconn *
connect_db(void)
{
	PGconn *db = PQconnectdb(url);

	if (PQstatus(db) != CONNECTION_OK)
		die("connect", db);
	return db;
}

/* Runs a statement; dies unless it returns tuples or completes. */
static PGresult *
run(PGconn *db, const char *name, int n, const char *const *params)
{
	PGresult *r = PQexecPrepared(db, name, n, params, NULL, NULL, 0);
	ExecStatusType s = PQresultStatus(r);

	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
		die(name, db);
	return r;
}

static void
prepare(PGconn *db, const char *name, const char *sql, int n)
{
	PGresult *r = PQprepare(db, name, sql, n, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		die(name, db);
	PQclear(r);
}

/* The claim sets what the worker's claim sets (lib/job_queue.c). */
static const char claim_sql[] =
    "WITH c AS (SELECT id FROM jobs WHERE status = 'pending' AND type = "
    "'noop' AND run_at <= now() ORDER BY priority, run_at, id LIMIT "
    "$1::int4 FOR UPDATE SKIP LOCKED) UPDATE jobs j SET status = "
    "'processing', lease_owner = 'ceiling', lease_epoch = j.lease_epoch + "
    "1, lease_expires_at = now() + interval '30 s', claimed_at = now(), "
    "started_at = coalesce(j.started_at, now()), updated_at = now() FROM c "
    "WHERE j.id = c.id RETURNING j.id";
static const char done_sql[] =
    "UPDATE jobs SET status = 'completed', progress = 100, result = '{}', "
    "completed_at = now(), updated_at = now(), lease_owner = NULL, "
    "lease_expires_at = NULL WHERE id = ANY($1::text[]) AND status = "
    "'processing' AND lease_owner = 'ceiling'";

static int batch;
static long total;
static pthread_mutex_t total_mu = PTHREAD_MUTEX_INITIALIZER;

static void *
ceiling_thread(void *arg)
{
	PGconn *db = connect_db();
	char lim[16], *ids;
	size_t cap = (size_t)batch * 64 + 4;
	long mine = 0;
	int empty = 0;

	(void)arg;
	if (!(ids = malloc(cap)))
		die("malloc", NULL);
	prepare(db, "claim", claim_sql, 1);
	prepare(db, "done", done_sql, 1);
	snprintf(lim, sizeof(lim), "%d", batch);
	while (empty < 3) {
		const char *p[1] = {lim};
		PGresult *r = run(db, "claim", 1, p);
		int n = PQntuples(r);
		size_t len = 1;

		if (n == 0) {
			PQclear(r);
			empty++;
			usleep(2000);
			continue;
		}
		empty = 0;
		ids[0] = '{';
		for (int i = 0; i < n; i++) {
			const char *id = PQgetvalue(r, i, 0);
			size_t l = strlen(id);

			if (len + l + 3 > cap)
				die("id list overflow", NULL);
			if (i)
				ids[len++] = ',';
			memcpy(ids + len, id, l);
			len += l;
		}
		ids[len++] = '}';
		ids[len] = '\0';
		PQclear(r);
		p[0] = ids;
		PQclear(run(db, "done", 1, p));
		mine += n;
	}
	free(ids);
	PQfinish(db);
	pthread_mutex_lock(&total_mu);
	total += mine;
	pthread_mutex_unlock(&total_mu);
	return NULL;
}

static const char *loop_sql;
static double loop_end;
static useconds_t loop_pause_us;

static void *
repeat_thread(void *arg)
{
	PGconn *db = connect_db();
	long mine = 0;

	(void)arg;
	prepare(db, "loop", loop_sql, 0);
	while (now_s() < loop_end) {
		PQclear(run(db, "loop", 0, NULL));
		mine++;
		if (loop_pause_us)
			usleep(loop_pause_us);
	}
	PQfinish(db);
	pthread_mutex_lock(&total_mu);
	total += mine;
	pthread_mutex_unlock(&total_mu);
	return NULL;
}

static void
spawn(int threads, void *(*fn)(void *))
{
	pthread_t t[256];

	if (threads < 1 || threads > 256) {
		fprintf(stderr, "queue-load: THREADS must be 1 to 256\n");
		exit(64);
	}
	for (int i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, fn, NULL) != 0)
			die("pthread_create", NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
}

static int
seq(long n, const char *ins, const char *poll)
{
	PGconn *db = connect_db();
	double t0 = now_s();
	char num[24];

	prepare(db, "ins", ins, 1);
	prepare(db, "poll", poll, 1);
	for (long i = 1; i <= n; i++) {
		const char *p[1] = {num};
		PGresult *r;
		char id[128];

		snprintf(num, sizeof(num), "%ld", i);
		r = run(db, "ins", 1, p);
		if (PQntuples(r) != 1)
			die("insert returned no row", NULL);
		snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		p[0] = id;
		for (;;) {
			r = run(db, "poll", 1, p);
			if (PQntuples(r) > 0)
				break;
			PQclear(r);
			usleep(100);
		}
		PQclear(r);
	}
	printf("done=%ld seconds=%.3f\n", n, now_s() - t0);
	PQfinish(db);
	return 0;
}

static int
watchmax(long interval_ms, const char *stopfile, const char *sql)
{
	PGconn *db = connect_db();
	double best = 0;

	prepare(db, "w", sql, 0);
	while (access(stopfile, F_OK) != 0) {
		PGresult *r = run(db, "w", 0, NULL);

		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
			double v = strtod(PQgetvalue(r, 0, 0), NULL);

			if (v > best)
				best = v;
		}
		PQclear(r);
		usleep((useconds_t)interval_ms * 1000);
	}
	printf("max=%.3f\n", best);
	PQfinish(db);
	return 0;
}

/* Sleeps until the monotonic time t (seconds); returns at once if past. */
static void
sleep_until(double t)
{
	double d = t - now_s();

	if (d > 0)
		usleep((useconds_t)(d * 1e6));
}

static int
pace(long tick_ms, long seconds, const char *sql)
{
	PGconn *db = connect_db();
	double t0, tick = (double)tick_ms / 1000, late_max = 0;
	long n = 0, ticks = seconds * 1000 / tick_ms;

	prepare(db, "pace", sql, 0);
	t0 = now_s();
	for (long i = 0; i < ticks; i++) {
		double due = t0 + (double)i * tick, late;

		sleep_until(due);
		late = now_s() - due;
		if (late > late_max)
			late_max = late;
		PQclear(run(db, "pace", 0, NULL));
		n++;
	}
	printf("execs=%ld seconds=%.3f late_max_ms=%.1f\n", n, now_s() - t0,
	       late_max * 1000);
	PQfinish(db);
	return 0;
}

static int
sample(long interval_ms, const char *stopfile, const char *sql)
{
	PGconn *db = connect_db();
	double t0 = now_s(), iv = (double)interval_ms / 1000;

	prepare(db, "s", sql, 0);
	for (long i = 0; access(stopfile, F_OK) != 0; i++) {
		struct timespec wall;
		PGresult *r;

		sleep_until(t0 + (double)i * iv);
		clock_gettime(CLOCK_REALTIME, &wall);
		r = run(db, "s", 0, NULL);
		printf("%.3f",
		       (double)wall.tv_sec + (double)wall.tv_nsec / 1e9);
		for (int c = 0; PQntuples(r) > 0 && c < PQnfields(r); c++)
			printf(",%s", PQgetvalue(r, 0, c));
		printf("\n");
		fflush(stdout);
		PQclear(r);
	}
	PQfinish(db);
	return 0;
}

/* A whole number in [min, max], or exit 64: arguments come from a script. */
static long
arg_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = s != NULL ? strtol(s, &end, 10) : 0;
	if (s == NULL || errno != 0 || end == s || *end != '\0' || v < min ||
	    v > max) {
		fprintf(stderr, "queue-load: bad number '%s'\n", s ? s : "");
		exit(64);
	}
	return v;
}

int
main(int argc, char **argv)
{
	double t0;

	if (argc == 5 && strcmp(argv[1], "ceiling") == 0) {
		url = argv[2];
		batch = (int)arg_num(argv[4], 1, 100000);
		t0 = now_s();
		spawn((int)arg_num(argv[3], 1, 256), ceiling_thread);
		/* The 3 empty claims at the end wait 2 ms each. */
		printf("jobs=%ld seconds=%.3f\n", total, now_s() - t0 - 0.006);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "repeat") == 0) {
		url = argv[2];
		loop_sql = argv[5];
		if (getenv("QL_PAUSE_US"))
			loop_pause_us = (useconds_t)arg_num(
			    getenv("QL_PAUSE_US"), 0, 10000000);
		t0 = now_s();
		loop_end = t0 + atof(argv[4]);
		spawn((int)arg_num(argv[3], 1, 256), repeat_thread);
		printf("execs=%ld seconds=%.3f\n", total, now_s() - t0);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "seq") == 0) {
		url = argv[2];
		return seq(arg_num(argv[3], 1, 10000000), argv[4], argv[5]);
	}
	if (argc == 6 && strcmp(argv[1], "watchmax") == 0) {
		url = argv[2];
		return watchmax(arg_num(argv[3], 1, 60000), argv[4], argv[5]);
	}
	if (argc == 6 && strcmp(argv[1], "pace") == 0) {
		url = argv[2];
		return pace(arg_num(argv[3], 1, 60000),
			    arg_num(argv[4], 1, 86400), argv[5]);
	}
	if (argc == 6 && strcmp(argv[1], "sample") == 0) {
		url = argv[2];
		return sample(arg_num(argv[3], 1, 60000), argv[4], argv[5]);
	}
	fprintf(stderr,
		"usage: queue-load ceiling URL THREADS BATCH\n"
		"       queue-load repeat URL THREADS SECONDS SQL\n"
		"       queue-load seq URL N INSERT_SQL POLL_SQL\n"
		"       queue-load watchmax URL INTERVAL_MS STOPFILE SQL\n"
		"       queue-load pace URL TICK_MS SECONDS SQL\n"
		"       queue-load sample URL INTERVAL_MS STOPFILE SQL\n");
	return 64;
}
