/*
 * The counters and histograms behind /metrics that are kept as things
 * happen (sql/008_counters.sql): the SQL pieces the job statements add to
 * them with, and the in-memory batches the FastCGI programs (requests)
 * and the worker (upstream calls) flush every few seconds.
 */
#ifndef SJ_COUNTERS_H
#define SJ_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "err.h"

/*
 * The counter shard of the writing session: concurrent sessions add to
 * different rows (the scrape sums them), so one worker's completions do
 * not wait for another's to commit.
 */
#define COUNTER_SHARD "(pg_backend_pid() % 16)::int2"

/* The finite bounds of the job duration histogram, in seconds, once. */
#define JOB_DURATION_BOUNDS(X)                                                 \
	X(1) X(5) X(15) X(30) X(60) X(120) X(300) X(600) X(1200)
#define JOB_LE_ELEM(b)	#b ","
#define JOB_LE_COUNT(b) "count(*) FILTER (WHERE s <= " #b "), "
/* Bucket bounds in seconds as a float8[] literal, +Inf last. */
#define JOB_DURATION_LE "{" JOB_DURATION_BOUNDS(JOB_LE_ELEM) "Infinity}"
#define HTTP_DURATION_LE                                                       \
	"{0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10,Infinity}"
#define UPSTREAM_DURATION_LE                                                   \
	"{0.05,0.1,0.25,0.5,1,2.5,5,10,30,60,120,300,Infinity}"

/* clang-format off */
/*
 * In a data-modifying statement: adds the rows of the CTE src (a column
 * type) to job_counters as outcome, one upsert per type.
 */
#define COUNT_FINISHED(src, outcome)                                           \
	"INSERT INTO job_counters (type, outcome, shard, n) SELECT type, '"    \
	outcome "', " COUNTER_SHARD ", count(*) FROM " src " GROUP BY type "   \
	"ON CONFLICT (type, outcome, shard) DO UPDATE SET n = job_counters.n " \
	"+ excluded.n"
/*
 * Adds the durations s (seconds; NULL rows skipped) of the CTE src to
 * job_durations: one row of cumulative buckets by JOB_DURATION_BOUNDS,
 * counted in one pass over src.
 */
#define COUNT_DURATIONS(src)                                                   \
	"INSERT INTO job_durations (shard, buckets, sum) SELECT "              \
	COUNTER_SHARD ", ARRAY[" JOB_DURATION_BOUNDS(JOB_LE_COUNT)             \
	"count(s)], sum(s) FROM " src " HAVING count(s) > 0 ON CONFLICT "      \
	"(shard) DO UPDATE SET " HIST_ADD("job_durations")
/*
 * CTE cnt of a statement that takes the rows of src out of the live set
 * or brings them back (INSERT, DELETE and TRUNCATE are counted by 018's
 * triggers, a start's INSERT by jobs_start() itself, sql/020): sql/018's
 * jobs_count() adds live (1 or -1) for each row to the live counts
 * (columns type, user_id, client of src), and fin for each row to the
 * minute and hour it finished in (the expressions status, code, started
 * and done over src).  The statement's result must read cnt (a CTE no
 * one reads is not run): "FROM x, cnt" (one row).
 */
#define COUNTED(src, live, status, code, started, done, fin)                   \
	"cnt AS (SELECT jobs_count(array_agg(type), array_agg(user_id), "      \
	"array_agg(client), " live ", array_agg(" status "), array_agg(" code  \
	"), array_agg(" started "), array_agg(" done "), " fin ") AS counted " \
	"FROM " src ")"
/* The rows of src (type, user_id, client, outcome, code, started_at)
   finish now. */
#define COUNT_DONE(src)                                                        \
	COUNTED(src, "-1", "outcome", "code", "started_at", "now()", "1")
/* The ON CONFLICT update that adds excluded's histogram to tbl's row. */
#define HIST_ADD(tbl)                                                          \
	"buckets = ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0) FROM unnest("  \
	tbl ".buckets, excluded.buckets) WITH ORDINALITY AS u (x, y, i) "      \
	"ORDER BY u.i), sum = " tbl ".sum + excluded.sum"
/* clang-format on */

/* Finite bounds of a histogram kept in memory; +Inf is implied. */
#define HIST_MAX 16 /* buckets, +Inf included */
struct hist_bounds {
	const double *le;
	size_t n; /* < HIST_MAX */
};
extern const struct hist_bounds counters_http_le;     /* HTTP_DURATION_LE */
extern const struct hist_bounds counters_upstream_le; /* UPSTREAM_... */

/* Cumulative bucket counts (b[n] is +Inf, the count) and the sum. */
struct hist {
	int64_t b[HIST_MAX];
	double sum;
};

void hist_observe(struct hist *h, const struct hist_bounds *bd, double v);

/* One counter of requests served, by route pattern and status. */
struct http_count {
	const char *route; /* a route pattern or "other": never input */
	int status;
	long n;
};
/* The latency of the requests of one route pattern, in seconds. */
struct http_hist {
	const char *route; /* as in http_count */
	struct hist h;
};

/*
 * Adds each (route, status) count of c to http_requests and each route's
 * latency of h to http_request_durations, in one statement.
 */
enum sj_err counters_add_requests(struct db *db, const struct http_count *c,
				  size_t n, const struct http_hist *h,
				  size_t nh) SJ_WUR;

/* How an upstream call ended. */
enum upstream_outcome {
	UPSTREAM_OK = 0,  /* a 2xx */
	UPSTREAM_4XX,	  /* refused: a 4xx other than 429 (or a 1xx/3xx) */
	UPSTREAM_429,	  /* rate limited */
	UPSTREAM_5XX,	  /* the upstream failed */
	UPSTREAM_ERROR,	  /* no answer: timeout, connection, TLS, cap */
	UPSTREAM_ABORTED, /* the job's own cancel, deadline or stop */
	UPSTREAM_OUTCOME_MAX
};
const char *upstream_outcome_name(enum upstream_outcome o);

#define UPSTREAM_SERIES_MAX 32
/* Calls of one (provider, kind): static strings, never input. */
struct upstream_series {
	const char *provider, *kind;
	int64_t n[UPSTREAM_OUTCOME_MAX];
	struct hist h; /* latency of every call, whatever its outcome */
};
struct upstream_stats {
	struct upstream_series s[UPSTREAM_SERIES_MAX];
	size_t n;
};

/* Counts one call that took seconds; a series past the cap is dropped. */
void upstream_observe(struct upstream_stats *st, const char *provider,
		      const char *kind, enum upstream_outcome o,
		      double seconds);
/* Adds every series of from into to. */
void upstream_merge(struct upstream_stats *to,
		    const struct upstream_stats *from);
/*
 * Adds st to upstream_calls and upstream_durations and sets the slots of
 * the worker's row (the heartbeat writes the row; slots in use are its
 * jobs_in_hand), in one statement.
 */
enum sj_err counters_add_upstream(struct db *db, const char *worker, int slots,
				  const struct upstream_stats *st) SJ_WUR;

#endif
