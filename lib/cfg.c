/*
 * DESIGN
 * All settings live in one table (cfg_table.c): name, kind, where the
 * value goes, the default, a line of documentation, whether a running
 * worker applies a new value on SIGHUP, the bounds of a number with the
 * name its messages use, the group the generated docs put it in, and
 * whether it is a secret (pgbouncer's way: validation, the reload note,
 * check-config and the generated storyjobs.conf and storyjobs.conf(5)
 * all read the row).  Per-type settings are the same rows for each job
 * type, named JOB_<TYPE>_<FIELD>, and need a restart; cfg_row_get() shows
 * both kinds of row the same way (cfg_internal.h).  This file loads them,
 * in three passes: defaults, values from the lookup (parse errors
 * collected), then validation (cfg_check.c: the rows' bounds, then what a
 * bound cannot say).  Every problem is collected, named by its variable
 * and value and by FILE:LINE when the file set it; nothing here exits.
 * The file's syntax is cfg_file.c's; how values and docs are shown,
 * cfg_show.c's.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_internal.h"
#include "log.h"
#include "num.h"

bool
cfg_row_find(const char *name, struct cfg_row *r)
{
	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, r);
		if (strcmp(r->name, name) == 0)
			return true;
	}
	return false;
}

bool
cfg_known(const char *name)
{
	struct cfg_row r;

	return cfg_row_find(name, &r);
}

/* Edit distance of a and b (each under 64 bytes), capped at 9. */
static int
distance(const char *a, const char *b)
{
	int prev[64], cur[64];
	size_t la = strlen(a), lb = strlen(b);

	if (la >= 64 || lb >= 64)
		return 9;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int d = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
		}
		memcpy(prev, cur, sizeof(int) * (lb + 1));
	}
	return prev[lb] < 9 ? prev[lb] : 9;
}

bool
cfg_suggest(const char *name, char *out, size_t n)
{
	int best = 3, d;
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, &r);
		if ((d = distance(name, r.name)) < best) {
			best = d;
			snprintf(out, n, "%s", r.name);
		}
	}
	return best < 3;
}

void
cfg_errs_add(struct cfg_errs *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs->n >= CFG_ERRS_MAX) {
		errs->more++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(errs->msg[errs->n], sizeof(errs->msg[0]), fmt, ap);
	va_end(ap);
	errs->n++;
}

/* "FILE:LINE: " when the file set name, else "". */
const char *
cfg_src_prefix(const struct cfg_src *s, const char *name, char *buf, size_t n)
{
	const char *w = s != NULL && s->where ? s->where(name, s->ctx) : NULL;

	if (w == NULL || strcmp(w, "env") == 0)
		return "";
	snprintf(buf, n, "%s: ", w);
	return buf;
}

/* Stores one value; parse problems go to errs. */
static enum sj_err
cfg_set(struct cfg *c, const struct cfg_row *r, const char *val,
	const struct cfg_src *s, struct cfg_errs *errs)
{
	char *base = (char *)c, pre[200];
	const char *want = NULL;

	switch (r->kind) {
	case CFG_STR: {
		char **dst = (char **)(void *)(base + r->off);
		char *dup = strdup(val);

		if (dup == NULL)
			return SJ_ENOMEM;
		free(*dst);
		*dst = dup;
		break;
	}
	case CFG_INT:
		if (num_i64(val, INT64_MIN / 2, INT64_MAX / 2,
			    (int64_t *)(void *)(base + r->off)) != SJ_OK)
			want = "an integer";
		break;
	case CFG_BOOL:
		if (num_bool(val, (bool *)(void *)(base + r->off)) != SJ_OK)
			want = "true or false";
		break;
	case CFG_DOUBLE:
		if (num_double(val, (double *)(void *)(base + r->off)) != SJ_OK)
			want = "a number";
		break;
	}
	if (want != NULL && s != NULL)
		cfg_errs_add(errs, "%s%s=%.60s: must be %s",
			     cfg_src_prefix(s, r->name, pre, sizeof(pre)),
			     r->name, val, want);
	return SJ_OK;
}

/* Applies defaults (s NULL) or looked-up values to every row. */
static enum sj_err
cfg_apply(struct cfg *c, const struct cfg_src *s, struct cfg_errs *errs)
{
	struct cfg_row r;
	enum sj_err e;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		const char *v;

		cfg_row_get(i, &r);
		v = s != NULL ? s->lookup(r.name, s->ctx) : r.def;
		if (v == NULL)
			continue;
		if ((e = cfg_set(c, &r, v, s, errs)) != SJ_OK)
			return e;
	}
	return SJ_OK;
}

/* Provider default depends on whether a key is set. */
static enum sj_err
cfg_resolve(struct cfg *c)
{
	if (c->generation_provider != NULL && *c->generation_provider != '\0')
		return SJ_OK;
	free(c->generation_provider); /* empty: as unset */
	c->generation_provider = strdup(
	    c->openai_api_key != NULL && *c->openai_api_key != '\0' ? "openai"
								    : "local");
	return c->generation_provider ? SJ_OK : SJ_ENOMEM;
}

enum sj_err
cfg_load_where(struct cfg *c, cfg_lookup_fn lookup, cfg_where_fn where,
	       void *ctx, struct cfg_errs *errs)
{
	const struct cfg_src s = {lookup, where, ctx};
	int before = errs->n + errs->more;
	enum sj_err e;

	memset(c, 0, sizeof(*c));
	if ((e = cfg_apply(c, NULL, errs)) != SJ_OK ||
	    (e = cfg_apply(c, &s, errs)) != SJ_OK ||
	    (e = cfg_resolve(c)) != SJ_OK)
		goto fail;
	cfg_validate_src(c, &s, errs);
	if (errs->n + errs->more == before)
		return SJ_OK;
	e = SJ_ECONFIG;
fail:
	cfg_free(c);
	return e;
}

enum sj_err
cfg_load(struct cfg *c, cfg_lookup_fn lookup, void *ctx, struct cfg_errs *errs)
{
	errs->n = 0;
	errs->more = 0;
	errs->nwarn = 0;
	return cfg_load_where(c, lookup, NULL, ctx, errs);
}

void
cfg_free(struct cfg *c)
{
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, &r);
		if (r.kind == CFG_STR) {
			char **p = (char **)(void *)((char *)c + r.off);

			free(*p);
			*p = NULL;
		}
	}
}

void
cfg_log_errs(const struct cfg_errs *errs)
{
	for (int i = 0; i < errs->n; i++)
		log_error("configuration: %s", errs->msg[i]);
	if (errs->more > 0)
		log_error("configuration: %d more problems not shown",
			  errs->more);
}

int64_t
cfg_job_timeout(const struct cfg *c, enum job_type t)
{
	int64_t cap = (int64_t)(c->job_timeout_minutes * 60.0);
	int64_t v = c->types[t].timeout_s;

	return v < cap ? v : cap;
}

int64_t
cfg_estimated_duration(const struct cfg *c, enum job_type t)
{
	return c->types[t].est_duration_s;
}
