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

#include "cfg.h"
#include "err.h"

/* name must be a plain file name: [A-Za-z0-9._-], no leading dot. */
enum sj_err media_write(const char *dir, const char *name, const void *data,
			size_t len) SJ_WUR;
bool media_exists(const char *dir, const char *name);
/* Writes "<PUBLIC_BASE_URL>/media/<name>" into out. */
enum sj_err media_url(const struct cfg *c, const char *name, char *out,
		      size_t outsz) SJ_WUR;

#endif
