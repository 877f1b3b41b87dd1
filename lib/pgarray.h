/*
 * PostgreSQL array literals ("{a,b}") built in a struct buf, for
 * statements that pass many values in one parameter.  An element is
 * quoted when it must be (empty, NULL spelled out, or holding , " \ { }
 * or white space) with " and \ escaped; numbers never need it.
 */
#ifndef SJ_PGARRAY_H
#define SJ_PGARRAY_H

#include "buf.h"
#include "err.h"

/* Opens an array in b (initialised by the caller): "{". */
enum sj_err pgarr_open(struct buf *b) SJ_WUR;
/* Closes it: "}". */
enum sj_err pgarr_close(struct buf *b) SJ_WUR;
/* Appends s, quoted only when it must be; NULL is the SQL NULL. */
enum sj_err pgarr_str(struct buf *b, const char *s) SJ_WUR;
/* Appends s always quoted (any text, e.g. JSON); NULL is the SQL NULL. */
enum sj_err pgarr_quoted(struct buf *b, const char *s) SJ_WUR;
enum sj_err pgarr_int(struct buf *b, long long v) SJ_WUR;

#endif
