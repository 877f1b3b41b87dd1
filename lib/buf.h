/*
 * Growable byte buffers born with a maximum size.  An append that would
 * pass the maximum, or that fails to allocate, frees the buffer and
 * returns SJ_ETOOBIG or SJ_ENOMEM: a caller never holds a half-built
 * buffer after an error.  data is always NUL-terminated when non-NULL.
 */
#ifndef SJ_BUF_H
#define SJ_BUF_H

#include <stddef.h>

#include "err.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
enum sj_err buf_add(struct buf *b, const void *p, size_t n) SJ_WUR;
enum sj_err buf_addstr(struct buf *b, const char *s) SJ_WUR;
enum sj_err buf_addf(struct buf *b, const char *fmt, ...) SJ_WUR
    __attribute__((format(printf, 2, 3)));

#endif
