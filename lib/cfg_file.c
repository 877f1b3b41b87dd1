/*
 * DESIGN
 * The configuration file: a strict subset of systemd's EnvironmentFile=,
 * so the one file can be given to a unit and read by storyjobsctl alike,
 * and every file accepted here means the same to systemd.  One setting a
 * line:
 *   - blank lines, and lines whose first non-blank is '#' or ';', are
 *     skipped (a '#' later in a line is part of the value, as systemd
 *     keeps it);
 *   - KEY=VALUE, blanks allowed around '=' and at either end; KEY is a
 *     setting's name (an unknown one is an error naming FILE:LINE);
 *   - a value in single quotes is taken verbatim; in double quotes, \",
 *     \\, \` and \$ stand for the second character and any other
 *     backslash is kept (POSIX, as systemd does); nothing but blanks may
 *     follow the closing quote, and a quote must close on its line;
 *   - an unquoted value is taken verbatim (quotes inside it are kept);
 *     a backslash in it is refused, as is a backslash ending a line
 *     (systemd would read an escape or a continuation line);
 *   - "export KEY=VALUE" is refused (systemd ignores such a line);
 *   - so is what systemd versions read differently or not at all: a
 *     comment ending in a backslash (systemd before v254, Debian 12's
 *     252, continues it onto the next line), any CR (252 ends a line
 *     there; CRLF files are refused rather than half-accepted), and
 *     bytes that are not UTF-8 (systemd then ignores the whole file).
 * Every problem is collected with FILE:LINE, and the values' own
 * problems are reported with them.  A key given twice is allowed (the
 * last wins, as in systemd) but warned about with both lines, as is a
 * secret in a file others may read.  The environment wins over the file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "cfg.h"
#include "cfg_internal.h"
#include "jsonv.h"

#ifndef SJ_CONFIG_FILE
#define SJ_CONFIG_FILE "/etc/storyjobs/storyjobs.conf"
#endif

#define FILE_MAX    (64 * 1024)
#define FILE_VALUES 256

struct cfg_file {
	const char *path;
	char *text;
	size_t n;
	char *key[FILE_VALUES];
	char *val[FILE_VALUES];
	int line[FILE_VALUES];
	mode_t mode;	 /* of the file read */
	char where[300]; /* the last answer of file_where */
};

void
cfg_warn_add(struct cfg_errs *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs->nwarn >= CFG_WARNS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(errs->warn[errs->nwarn++], sizeof(errs->warn[0]), fmt, ap);
	va_end(ap);
}

const char *
cfg_default_file(void)
{
	return SJ_CONFIG_FILE;
}

static bool
blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
key_char(char ch, bool first)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       ch == '_' || (!first && ch >= '0' && ch <= '9');
}

/* Only blanks after a closing quote; else why. */
static const char *
after_quote(const char *p)
{
	while (blank(*p))
		p++;
	return *p == '\0' ? NULL : "text after the closing quote";
}

/* A double-quoted value from p (after the quote), unescaped in place. */
static const char *
double_quoted(char *p, char **val)
{
	char *out = p;

	*val = p;
	for (; *p != '\0' && *p != '"'; p++) {
		if (*p != '\\') {
			*out++ = *p;
			continue;
		}
		if (p[1] == '\0')
			return "a backslash ends the line (continuation lines "
			       "are not supported)";
		if (strchr("\"\\`$", p[1]) != NULL)
			p++;
		else
			*out++ = *p++;
		*out++ = *p;
	}
	if (*p != '"')
		return "a double quote is not closed on its line";
	*out = '\0';
	return after_quote(p + 1);
}

/* The value of a line from p (after '=' and its blanks), in place. */
static const char *
parse_value(char *p, char **val)
{
	char *end;

	if (*p == '\'') {
		*val = p + 1;
		if ((end = strchr(p + 1, '\'')) == NULL)
			return "a single quote is not closed on its line";
		*end = '\0';
		return after_quote(end + 1);
	}
	if (*p == '"')
		return double_quoted(p + 1, val);
	end = p + strlen(p);
	while (end > p && blank(end[-1]))
		*--end = '\0';
	if (strchr(p, '\\') != NULL)
		return "a backslash outside quotes (quote the value)";
	*val = p;
	return NULL;
}

/*
 * One line, in place: 0 when it is blank or a comment, 1 with *key and
 * *val set, -1 with *why set.
 */
static int
parse_line(char *p, char **key, char **val, const char **why)
{
	char *k;

	while (blank(*p))
		p++;
	if ((*p == '#' || *p == ';') && p[strlen(p) - 1] == '\\') {
		*why = "a comment ends in a backslash (systemd before v254 "
		       "continues it onto the next line)";
		return -1;
	}
	if (*p == '\0' || *p == '#' || *p == ';')
		return 0;
	if (strncmp(p, "export", 6) == 0 && blank(p[6])) {
		*why = "\"export\" is not allowed (systemd's EnvironmentFile= "
		       "ignores such a line)";
		return -1;
	}
	k = p;
	if (!key_char(*p, true)) {
		*why = "not KEY=VALUE";
		return -1;
	}
	while (key_char(*p, false))
		p++;
	while (blank(*p))
		*p++ = '\0';
	if (*p != '=') {
		*why = "not KEY=VALUE";
		return -1;
	}
	*p++ = '\0';
	while (blank(*p))
		p++;
	*key = k;
	if ((*why = parse_value(p, val)) != NULL)
		return -1;
	return 1;
}

static int file_find(const struct cfg_file *f, const char *name);

/* Stores one assignment, or says why not. */
static void
file_add(struct cfg_file *f, char *key, char *val, int lineno,
	 struct cfg_errs *errs)
{
	char near[64];
	int prev;

	if (!cfg_known(key)) {
		if (cfg_suggest(key, near, sizeof(near)))
			cfg_errs_add(errs,
				     "%.120s:%d: unknown setting %.64s (did "
				     "you mean %s?)",
				     f->path, lineno, key, near);
		else
			cfg_errs_add(errs, "%.120s:%d: unknown setting %.64s",
				     f->path, lineno, key);
		return;
	}
	if (f->n >= FILE_VALUES) {
		cfg_errs_add(errs, "%.120s:%d: more than %d settings", f->path,
			     lineno, FILE_VALUES);
		return;
	}
	if ((prev = file_find(f, key)) >= 0)
		cfg_warn_add(errs,
			     "%.120s:%d: %.64s is set again (also on line %d); "
			     "the last one wins",
			     f->path, lineno, key, f->line[prev]);
	f->key[f->n] = key;
	f->val[f->n] = val;
	f->line[f->n++] = lineno;
}

/* A secret set in a file others may read. */
static void
file_check_mode(const struct cfg_file *f, struct cfg_errs *errs)
{
	struct cfg_row r;

	if ((f->mode & S_IROTH) == 0)
		return;
	for (size_t i = 0; i < f->n; i++)
		if (cfg_row_find(f->key[i], &r) && r.secret) {
			cfg_warn_add(errs,
				     "%.120s: others may read it (mode %04o) "
				     "and it sets %.64s on line %d; chmod o-r "
				     "it",
				     f->path, (unsigned)(f->mode & 07777),
				     f->key[i], f->line[i]);
			return;
		}
}

/*
 * Whether systemd reads line p (its number lineno) as we do: no CR, valid
 * UTF-8 (a multi-byte sequence never spans a newline).  Else says why.
 */
static bool
line_portable(const struct cfg_file *f, const char *p, int lineno,
	      struct cfg_errs *errs)
{
	if (strchr(p, '\r') != NULL) {
		cfg_errs_add(errs,
			     "%.120s:%d: a carriage return (CR line endings "
			     "are not supported)",
			     f->path, lineno);
		return false;
	}
	if (!jv_utf8_valid(p, strlen(p))) {
		cfg_errs_add(errs,
			     "%.120s:%d: not valid UTF-8 (systemd would ignore "
			     "the whole file)",
			     f->path, lineno);
		return false;
	}
	return true;
}

/* Splits f->text into lines and reads each one. */
static void
file_parse(struct cfg_file *f, size_t len, struct cfg_errs *errs)
{
	char *p = f->text, *nl, *key, *val;
	const char *why;
	int lineno = 0;

	if (memchr(f->text, '\0', len) != NULL) {
		cfg_errs_add(errs, "%.120s: holds a NUL byte", f->path);
		return;
	}
	for (; p != NULL && *p != '\0'; p = nl) {
		lineno++;
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if (!line_portable(f, p, lineno, errs))
			continue;
		switch (parse_line(p, &key, &val, &why)) {
		case 1:
			file_add(f, key, val, lineno, errs);
			break;
		case -1:
			cfg_errs_add(errs, "%.120s:%d: %s", f->path, lineno,
				     why);
			break;
		default:
			break;
		}
	}
}

/* Reads path into f; a missing file is an error only when must_exist. */
static void
file_read(struct cfg_file *f, const char *path, bool must_exist,
	  struct cfg_errs *errs)
{
	struct buf b;
	char chunk[4096];
	struct stat st;
	enum sj_err e;
	FILE *fp;
	size_t n;

	f->path = path;
	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || must_exist)
			cfg_errs_add(errs, "cannot read %.120s: %s", path,
				     strerror(errno));
		return;
	}
	if (fstat(fileno(fp), &st) == 0)
		f->mode = st.st_mode;
	buf_init(&b, FILE_MAX); /* buf_add keeps b.data NUL-terminated */
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if ((e = buf_add(&b, chunk, n)) != SJ_OK) {
			cfg_errs_add(errs, "%.120s: %s", path,
				     e == SJ_ETOOBIG ? "larger than 64 KiB"
						     : "out of memory");
			break;
		}
	if (ferror(fp)) {
		cfg_errs_add(errs, "cannot read %.120s: %s", path,
			     strerror(errno));
		buf_free(&b);
	}
	fclose(fp);
	if (b.data == NULL) /* empty, or an error recorded above */
		return;
	f->text = b.data;
	file_parse(f, b.len, errs);
	file_check_mode(f, errs);
}

static int
file_find(const struct cfg_file *f, const char *name)
{
	for (size_t i = f->n; i-- > 0;)
		if (strcmp(f->key[i], name) == 0)
			return (int)i;
	return -1;
}

static const char *
file_lookup(const char *name, void *ctx)
{
	const struct cfg_file *f = ctx;
	const char *v = getenv(name);
	int i;

	if (v != NULL)
		return v;
	return (i = file_find(f, name)) >= 0 ? f->val[i] : NULL;
}

static const char *
file_where(const char *name, void *ctx)
{
	struct cfg_file *f = ctx;
	int i;

	if (getenv(name) != NULL)
		return "env";
	if ((i = file_find(f, name)) < 0)
		return NULL;
	snprintf(f->where, sizeof(f->where), "%s:%d", f->path, f->line[i]);
	return f->where;
}

enum sj_err
cfg_load_path(struct cfg *c, const char *path, bool must_exist,
	      struct cfg_errs *errs, cfg_value_fn fn, void *ctx)
{
	struct cfg_file *f;
	enum sj_err e;

	errs->n = 0;
	errs->more = 0;
	errs->nwarn = 0;
	memset(c, 0, sizeof(*c));
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return SJ_ENOMEM;
	f->path = "";
	if (path != NULL)
		file_read(f, path, must_exist, errs);
	e = cfg_load_where(c, file_lookup, file_where, f, errs);
	if (e == SJ_OK && errs->n + errs->more > 0) {
		cfg_free(c);
		e = SJ_ECONFIG;
	}
	if (e == SJ_OK && fn != NULL)
		cfg_each_value(c, file_where, f, fn, ctx);
	free(f->text);
	free(f);
	return e;
}

enum sj_err
cfg_load_env_each(struct cfg *c, struct cfg_errs *errs, cfg_value_fn fn,
		  void *ctx)
{
	const char *path = getenv("STORYJOBS_CONFIG");

	if (path == NULL)
		return cfg_load_path(c, SJ_CONFIG_FILE, false, errs, fn, ctx);
	return cfg_load_path(c, *path != '\0' ? path : NULL, true, errs, fn,
			     ctx);
}

enum sj_err
cfg_load_env(struct cfg *c, struct cfg_errs *errs)
{
	return cfg_load_env_each(c, errs, NULL, NULL);
}
