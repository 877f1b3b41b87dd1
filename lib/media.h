/*
 * The local media store: a directory nginx serves under /media/.  Writes
 * are atomic: a temporary file in the same directory is written, fsynced
 * and closed, then renamed over the final name, and the directory is
 * fsynced.  A failed write (a full disk, say) removes the temporary file
 * and returns SJ_EIO; readers never see a partial file.
 */
#ifndef SJ_MEDIA_H
#define SJ_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "cfg.h"
#include "db.h"
#include "err.h"

/* name must be a plain file name: [A-Za-z0-9._-], no leading dot. */
enum sj_err media_write(const char *dir, const char *name, const void *data,
			size_t len) SJ_WUR;
bool media_exists(const char *dir, const char *name);
/*
 * Removes the temporary files media_write leaves behind when a process
 * dies mid-write (".tmp-*" regular files) last modified more than
 * max_age_s seconds ago; real media (no leading dot) are never touched.
 * *removed receives the count.  A missing dir is not an error.
 */
enum sj_err media_sweep_tmp(const char *dir, long max_age_s,
			    long long *removed) SJ_WUR;
/* Writes "<PUBLIC_BASE_URL>/media/<name>" into out. */
enum sj_err media_url(const struct cfg *c, const char *name, char *out,
		      size_t outsz) SJ_WUR;

/*
 * If url is one of our own media URLs ("<PUBLIC_BASE_URL>/media/<name>" or
 * "/media/<name>"), writes name.  SJ_ENOTFOUND: not ours; SJ_EINVAL: ours
 * but not a valid name.
 */
enum sj_err media_own_name(const struct cfg *c, const char *url, char *name,
			   size_t namesz) SJ_WUR;
/* Reads a stored file (at most max bytes) into out (initialised here). */
enum sj_err media_read(const char *dir, const char *name, size_t max,
		       struct buf *out) SJ_WUR;

#endif
