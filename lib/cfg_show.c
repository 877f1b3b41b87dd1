/*
 * DESIGN
 * How the settings are shown rather than loaded: check-config's view of
 * each value and where it came from, the documentation rows for --help
 * and the generated storyjobs.conf and storyjobs.conf(5), and the
 * settings a reload cannot apply.  All of it reads the rows of the
 * settings table (cfg_table.c) through cfg_row_get().
 *
 * A value is shown so that no secret leaks into a terminal or a log: a
 * secret row by its length only, and DATABASE_URL with every password in
 * it masked whole: a URL's userinfo password, a URL query's password=,
 * and a keyword string's password, quoted ('a b', with \' and \\
 * escapes) or not, with or without blanks around '='.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "cfg_internal.h"

/* Output being built in a caller's buffer, truncated at its size. */
struct out {
	char *buf;
	size_t n, len;
};

static void
out_add(struct out *o, const char *s, size_t len)
{
	size_t room = o->len + 1 < o->n ? o->n - o->len - 1 : 0;

	if (len > room)
		len = room;
	memcpy(o->buf + o->len, s, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

/* The length of a keyword string's value at v: 'quoted' or a word. */
static size_t
kw_value_len(const char *v)
{
	const char *p = v;

	if (*p != '\'') {
		for (; *p != '\0' && strchr(" \t\n\r\f\v", *p) == NULL; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		return (size_t)(p - v);
	}
	for (p++; *p != '\0' && *p != '\''; p++)
		if (*p == '\\' && p[1] != '\0')
			p++;
	return (size_t)(p - v) + (*p == '\'');
}

/*
 * Where the value of a keyword string's password starts at or after s,
 * or NULL: "password" at a word's start, blanks, '=', blanks.
 */
static const char *
kw_password(const char *start, const char *s)
{
	const char *p;

	for (; (s = strstr(s, "password")) != NULL; s += 8) {
		if (s > start && strchr(" \t\n\r\f\v", s[-1]) == NULL)
			continue;
		p = s + 8 + strspn(s + 8, " \t\n\r\f\v");
		if (*p != '=')
			continue;
		return p + 1 + strspn(p + 1, " \t\n\r\f\v");
	}
	return NULL;
}

/* A keyword string with each password value replaced by ****. */
static void
mask_keywords(const char *s, struct out *o)
{
	const char *p = s, *v;

	while ((v = kw_password(s, p)) != NULL) {
		out_add(o, p, (size_t)(v - p));
		out_add(o, "****", 4);
		p = v + kw_value_len(v);
	}
	out_add(o, p, strlen(p));
}

/* A URL with its userinfo password and any password= parameter masked. */
static void
mask_url(const char *s, const char *auth, struct out *o)
{
	size_t alen = strcspn(auth, "/?#");
	const char *at = NULL, *colon, *p = s, *q;

	for (size_t i = 0; i < alen; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (at != NULL &&
	    (colon = memchr(auth, ':', (size_t)(at - auth))) != NULL) {
		out_add(o, p, (size_t)(colon + 1 - p));
		out_add(o, "****", 4);
		p = at;
	}
	for (q = strchr(p, '?'); q != NULL; q = strchr(q, '&')) {
		q++;
		if (strncmp(q, "password=", 9) != 0)
			continue;
		out_add(o, p, (size_t)(q + 9 - p));
		out_add(o, "****", 4);
		p = q + 9 + strcspn(q + 9, "&#");
		q = p;
	}
	out_add(o, p, strlen(p));
}

/* A connection string with every password in it hidden. */
static void
show_conninfo(const char *s, char *buf, size_t n)
{
	const char *auth = strstr(s, "://");
	struct out o = {buf, n, 0};

	if (n == 0)
		return;
	buf[0] = '\0';
	if (auth != NULL && strncmp(s, "postgres", 8) == 0)
		mask_url(s, auth + 3, &o);
	else
		mask_keywords(s, &o);
}

/* The value of row r in c as check-config and messages show it. */
void
cfg_row_show(const struct cfg *c, const struct cfg_row *r, char *buf, size_t n)
{
	const char *p = (const char *)c + r->off;
	const char *sv;

	switch (r->kind) {
	case CFG_STR:
		sv = *(char *const *)(const void *)p;
		if (sv == NULL)
			snprintf(buf, n, "(unset)");
		else if (r->secret)
			snprintf(buf, n, "(set, %zu bytes)", strlen(sv));
		else if (r->off == offsetof(struct cfg, database_url) ||
			 r->off == offsetof(struct cfg, database_listen_url))
			show_conninfo(sv, buf, n);
		else
			snprintf(buf, n, "%s", sv);
		break;
	case CFG_INT:
		snprintf(buf, n, "%lld",
			 (long long)*(const int64_t *)(const void *)p);
		break;
	case CFG_BOOL:
		snprintf(buf, n, "%s",
			 *(const bool *)(const void *)p ? "true" : "false");
		break;
	case CFG_DOUBLE:
		snprintf(buf, n, "%g", *(const double *)(const void *)p);
		break;
	}
}

void
cfg_each_value(const struct cfg *c, cfg_where_fn where, void *wctx,
	       void (*fn)(const char *name, const char *value,
			  const char *source, void *ctx),
	       void *ctx)
{
	char val[200];
	const char *w;
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, &r);
		if (r.kind == CFG_STR &&
		    *(char *const *)(const void *)((const char *)c + r.off) ==
			NULL)
			continue;
		cfg_row_show(c, &r, val, sizeof(val));
		w = where != NULL ? where(r.name, wctx) : NULL;
		fn(r.name, val, w != NULL ? w : "default", ctx);
	}
}

void
cfg_each_doc(void (*fn)(const struct cfg_doc *d, void *ctx), void *ctx)
{
	struct cfg_doc d;
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, &r);
		d = (struct cfg_doc){
		    .name = r.name,
		    .def = r.def ? r.def : "",
		    .doc = r.doc,
		    .reload = r.reload,
		    .secret = r.secret,
		    .group = r.group,
		    .type = r.type >= 0 ? job_type_name((enum job_type)r.type)
					: NULL,
		    .has_bounds = r.kind == CFG_INT && r.b->what != NULL,
		    .min = r.b->min,
		    .max = r.b->max,
		    .unit = r.b->unit ? r.b->unit : ""};
		fn(&d, ctx);
	}
}

/* True when the value of row r differs between a and b. */
static bool
value_differs(const struct cfg *a, const struct cfg *b, const struct cfg_row *r)
{
	const char *pa = (const char *)a + r->off,
		   *pb = (const char *)b + r->off;
	const char *sa, *sb;

	switch (r->kind) {
	case CFG_STR:
		sa = *(char *const *)(const void *)pa;
		sb = *(char *const *)(const void *)pb;
		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") != 0;
	case CFG_INT:
		return *(const int64_t *)(const void *)pa !=
		       *(const int64_t *)(const void *)pb;
	case CFG_BOOL:
		return *(const bool *)(const void *)pa !=
		       *(const bool *)(const void *)pb;
	case CFG_DOUBLE:
		return *(const double *)(const void *)pa !=
		       *(const double *)(const void *)pb;
	}
	return false;
}

void
cfg_each_restart_change(const struct cfg *a, const struct cfg *b,
			void (*fn)(const char *name, void *ctx), void *ctx)
{
	struct cfg_row r;

	for (size_t i = 0; i < cfg_row_count(); i++) {
		cfg_row_get(i, &r);
		if (!r.reload && value_differs(a, b, &r))
			fn(r.name, ctx);
	}
}
