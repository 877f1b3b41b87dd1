/*
 * DESIGN
 * Counters of things that happen often (requests, upstream calls) are
 * kept in memory by the process that sees them and added to PostgreSQL
 * in one statement every few seconds; a process that stops loses at most
 * that interval.  A histogram in memory is already cumulative (a value
 * counts in every bucket whose bound it does not exceed, and in +Inf),
 * so adding it to a stored row is an element-by-element sum
 * (HIST_ADD).  Each statement upserts its rows in key order (ORDER BY
 * in the insert's query), so processes flushing the same series wait on
 * each other; in the order each process met them, two deadlocked
 * (40P01) and one flush's counts were lost.  Job counters are not here:
 * they move in the statements that finish jobs (COUNT_FINISHED in job.c,
 * job_lease.c and job_queue.c).
 *
 * Label values are static strings of the programs (route patterns,
 * provider and kind names), never request input, so the array literals
 * built here need no escaping beyond the quotes around each element.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "counters.h"
#include "pgarray.h"

/* The finite bounds of HTTP_DURATION_LE and UPSTREAM_DURATION_LE. */
static const double http_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				 0.5,	1,    2.5,   5,	   10};
static const double upstream_le[] = {0.05, 0.1, 0.25, 0.5, 1,	2.5,
				     5,	   10,	30,   60,  120, 300};
const struct hist_bounds counters_http_le = {http_le, sizeof(http_le) /
							  sizeof(http_le[0])};
const struct hist_bounds counters_upstream_le = {
    upstream_le, sizeof(upstream_le) / sizeof(upstream_le[0])};

void
hist_observe(struct hist *h, const struct hist_bounds *bd, double v)
{
	if (!(v >= 0)) /* NaN or a clock step back */
		v = 0;
	for (size_t i = 0; i < bd->n; i++)
		if (v <= bd->le[i])
			h->b[i]++;
	h->b[bd->n]++;
	h->sum += v;
}

/* Appends h as one quoted element "{b0,...,bn}" of a text[] literal. */
static enum sj_err
add_hist(struct buf *b, const struct hist *h, const struct hist_bounds *bd)
{
	enum sj_err e = buf_addstr(b, b->len > 1 ? ",\"{" : "\"{");

	for (size_t i = 0; e == SJ_OK && i <= bd->n; i++)
		e = buf_addf(b, "%s%lld", i ? "," : "", (long long)h->b[i]);
	return e == SJ_OK ? buf_addstr(b, "}\"") : e;
}

/* Appends the quoted element s to an array literal. */
static enum sj_err
add_str(struct buf *b, const char *s)
{
	return pgarr_quoted(b, s);
}

static enum sj_err
add_int(struct buf *b, long long v)
{
	return pgarr_int(b, v);
}

/* A double to the last bit (%.17g). */
static enum sj_err
add_dbl(struct buf *b, double v)
{
	return buf_addf(b, "%s%.17g", b->len > 1 ? "," : "", v);
}

/* Opens each of the n arrays with "{". */
static enum sj_err
arrays_open(struct buf *a, size_t n, size_t cap)
{
	enum sj_err e = SJ_OK;

	for (size_t k = 0; k < n; k++) {
		buf_init(&a[k], cap);
		if (e == SJ_OK)
			e = pgarr_open(&a[k]);
	}
	return e;
}

/* Closes each array with "}" and points params at them. */
static enum sj_err
arrays_close(struct buf *a, size_t n, const char **params)
{
	enum sj_err e = SJ_OK;

	for (size_t k = 0; k < n && e == SJ_OK; k++)
		if ((e = pgarr_close(&a[k])) == SJ_OK)
			params[k] = a[k].data;
	return e;
}

static void
arrays_free(struct buf *a, size_t n)
{
	for (size_t k = 0; k < n; k++)
		buf_free(&a[k]);
}

static const struct db_stmt st_requests = {
    "counters_add_requests",
    "WITH c AS (INSERT INTO http_requests (route, status, count) SELECT * "
    "FROM unnest($1::text[], $2::int4[], $3::int8[]) AS t (r, st, n) "
    "ORDER BY r, st ON CONFLICT (route, status) DO UPDATE SET count = "
    "http_requests.count + excluded.count) "
    "INSERT INTO http_request_durations (route, buckets, sum) SELECT r, "
    "b::int8[], s FROM unnest($4::text[], $5::text[], $6::float8[]) AS t "
    "(r, b, s) ORDER BY r ON CONFLICT (route) DO UPDATE SET " HIST_ADD(
	"http_request_durations"),
    6};

enum sj_err
counters_add_requests(struct db *db, const struct http_count *c, size_t n,
		      const struct http_hist *h, size_t nh)
{
	struct buf a[6];
	const char *params[6];
	enum sj_err e = arrays_open(a, 6, 64 * 1024);

	for (size_t i = 0; i < n && e == SJ_OK; i++) {
		if (c[i].status < 100 || c[i].status > 599 ||
		    strpbrk(c[i].route, "\"\\") != NULL)
			continue;
		if ((e = add_str(&a[0], c[i].route)) == SJ_OK &&
		    (e = add_int(&a[1], c[i].status)) == SJ_OK)
			e = add_int(&a[2], c[i].n);
	}
	for (size_t i = 0; i < nh && e == SJ_OK; i++) {
		if (strpbrk(h[i].route, "\"\\") != NULL)
			continue;
		if ((e = add_str(&a[3], h[i].route)) == SJ_OK &&
		    (e = add_hist(&a[4], &h[i].h, &counters_http_le)) == SJ_OK)
			e = add_dbl(&a[5], h[i].h.sum);
	}
	if (e == SJ_OK && (a[0].len > 1 || a[3].len > 1) &&
	    (e = arrays_close(a, 6, params)) == SJ_OK)
		e = db_exec(db, &st_requests, params, NULL);
	arrays_free(a, 6);
	return e;
}

static const char *const outcome_names[UPSTREAM_OUTCOME_MAX] = {
    "ok", "http_4xx", "http_429", "http_5xx", "error", "aborted"};

const char *
upstream_outcome_name(enum upstream_outcome o)
{
	return (unsigned)o < UPSTREAM_OUTCOME_MAX ? outcome_names[o] : "error";
}

static struct upstream_series *
series(struct upstream_stats *st, const char *provider, const char *kind)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->s[i].provider, provider) == 0 &&
		    strcmp(st->s[i].kind, kind) == 0)
			return &st->s[i];
	if (st->n == UPSTREAM_SERIES_MAX)
		return NULL;
	memset(&st->s[st->n], 0, sizeof(st->s[0]));
	st->s[st->n].provider = provider;
	st->s[st->n].kind = kind;
	return &st->s[st->n++];
}

void
upstream_observe(struct upstream_stats *st, const char *provider,
		 const char *kind, enum upstream_outcome o, double seconds)
{
	struct upstream_series *s = series(st, provider, kind);

	if (s == NULL || (unsigned)o >= UPSTREAM_OUTCOME_MAX)
		return;
	s->n[o]++;
	hist_observe(&s->h, &counters_upstream_le, seconds);
}

void
upstream_merge(struct upstream_stats *to, const struct upstream_stats *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct upstream_series *f = &from->s[i];
		struct upstream_series *s = series(to, f->provider, f->kind);

		if (s == NULL)
			continue;
		for (int o = 0; o < UPSTREAM_OUTCOME_MAX; o++)
			s->n[o] += f->n[o];
		for (size_t k = 0; k < HIST_MAX; k++)
			s->h.b[k] += f->h.b[k];
		s->h.sum += f->h.sum;
	}
}

static const struct db_stmt st_upstream = {
    "counters_add_upstream",
    "WITH w AS (UPDATE workers SET slots = $10::int4 WHERE id = $9 AND "
    "slots IS DISTINCT FROM $10::int4), "
    "c AS (INSERT INTO upstream_calls (provider, kind, outcome, n) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) "
    "AS t (p, k, o, n) ORDER BY p, k, o ON CONFLICT (provider, kind, "
    "outcome) DO UPDATE SET n = upstream_calls.n + excluded.n) INSERT INTO "
    "upstream_durations (provider, kind, buckets, sum) SELECT p, k, "
    "b::int8[], s FROM unnest($5::text[], $6::text[], $7::text[], "
    "$8::float8[]) AS t (p, k, b, s) ORDER BY p, k ON CONFLICT (provider, "
    "kind) DO UPDATE SET " HIST_ADD("upstream_durations"),
    10};

/* The calls of s that ended as o, into the first four arrays. */
static enum sj_err
add_calls(struct buf *a, const struct upstream_series *s)
{
	enum sj_err e = SJ_OK;

	for (int o = 0; o < UPSTREAM_OUTCOME_MAX && e == SJ_OK; o++) {
		if (s->n[o] == 0)
			continue;
		if ((e = add_str(&a[0], s->provider)) == SJ_OK &&
		    (e = add_str(&a[1], s->kind)) == SJ_OK &&
		    (e = add_str(&a[2], upstream_outcome_name(o))) == SJ_OK)
			e = add_int(&a[3], s->n[o]);
	}
	return e;
}

enum sj_err
counters_add_upstream(struct db *db, const char *worker, int slots,
		      const struct upstream_stats *st)
{
	struct buf a[8];
	const char *params[10];
	char nslots[16];
	enum sj_err e = arrays_open(a, 8, 64 * 1024);

	for (size_t i = 0; i < st->n && e == SJ_OK; i++) {
		const struct upstream_series *s = &st->s[i];

		if (strpbrk(s->provider, "\"\\") || strpbrk(s->kind, "\"\\"))
			continue;
		if ((e = add_calls(a, s)) == SJ_OK &&
		    (e = add_str(&a[4], s->provider)) == SJ_OK &&
		    (e = add_str(&a[5], s->kind)) == SJ_OK &&
		    (e = add_hist(&a[6], &s->h, &counters_upstream_le)) ==
			SJ_OK)
			e = add_dbl(&a[7], s->h.sum);
	}
	snprintf(nslots, sizeof(nslots), "%d", slots);
	params[8] = worker;
	params[9] = nslots;
	if (e == SJ_OK && (e = arrays_close(a, 8, params)) == SJ_OK)
		e = db_exec(db, &st_upstream, params, NULL);
	arrays_free(a, 8);
	return e;
}
