#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus the terminator; frees on failure. */
static enum sj_err
buf_grow(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > b->max || b->len > b->max - n) {
		buf_free(b);
		return SJ_ETOOBIG;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return SJ_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if ((p = realloc(b->data, cap)) == NULL) {
		buf_free(b);
		return SJ_ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return SJ_OK;
}

enum sj_err
buf_add(struct buf *b, const void *p, size_t n)
{
	enum sj_err e;

	if ((e = buf_grow(b, n)) != SJ_OK)
		return e;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return SJ_OK;
}

enum sj_err
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum sj_err
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum sj_err e;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_free(b);
		return SJ_EINVAL;
	}
	if ((e = buf_grow(b, (size_t)n)) != SJ_OK)
		return e;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return SJ_OK;
}
