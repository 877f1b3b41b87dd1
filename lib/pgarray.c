/*
 * PostgreSQL array literals.  An element after the first is preceded by
 * a comma: the buffer's last byte tells, as only an opening brace ends
 * in '{' (an element holding one is quoted, so it ends in '"').
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "pgarray.h"

static enum sj_err
sep(struct buf *b)
{
	if (b->len > 0 && b->data[b->len - 1] != '{')
		return buf_add(b, ",", 1);
	return SJ_OK;
}

static bool
needs_quotes(const char *s)
{
	if (s[0] == '\0' || strcasecmp(s, "NULL") == 0)
		return true;
	return strpbrk(s, ",\"\\{} \t\n\r\v\f") != NULL;
}

static enum sj_err
add_quoted(struct buf *b, const char *s)
{
	enum sj_err e = buf_add(b, "\"", 1);
	size_t n;

	while (e == SJ_OK && *s != '\0') {
		n = strcspn(s, "\"\\");
		if (n > 0)
			e = buf_add(b, s, n);
		s += n;
		if (e == SJ_OK && *s != '\0') {
			const char esc[2] = {'\\', *s};

			e = buf_add(b, esc, 2);
			s++;
		}
	}
	return e == SJ_OK ? buf_add(b, "\"", 1) : e;
}

enum sj_err
pgarr_open(struct buf *b)
{
	return buf_add(b, "{", 1);
}

enum sj_err
pgarr_close(struct buf *b)
{
	return buf_add(b, "}", 1);
}

enum sj_err
pgarr_str(struct buf *b, const char *s)
{
	enum sj_err e = sep(b);

	if (e != SJ_OK)
		return e;
	if (s == NULL)
		return buf_addstr(b, "NULL");
	return needs_quotes(s) ? add_quoted(b, s) : buf_addstr(b, s);
}

enum sj_err
pgarr_quoted(struct buf *b, const char *s)
{
	enum sj_err e = sep(b);

	if (e != SJ_OK)
		return e;
	return s == NULL ? buf_addstr(b, "NULL") : add_quoted(b, s);
}

enum sj_err
pgarr_int(struct buf *b, long long v)
{
	enum sj_err e = sep(b);

	return e == SJ_OK ? buf_addf(b, "%lld", v) : e;
}
