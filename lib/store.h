/*
 * The media store where generated and uploaded images live: the local
 * media directory nginx serves under /media/ (media.h), or Cloudinary.
 *
 * Names are chosen by the caller and are deterministic per job and step
 * (a content hash), so a retried step overwrites rather than duplicates:
 * locally the file is replaced atomically; on Cloudinary the name is the
 * public id and the upload is signed with overwrite=true.
 */
#ifndef SJ_STORE_H
#define SJ_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

#define STORE_URL_MAX 2048

/*
 * Stores len bytes of type ctype ("image/png", "image/svg+xml", ...) as
 * name ([A-Za-z0-9._-], no leading dot; the extension is part of it) and
 * writes the public URL into url.  abort_cb (may be NULL) is polled
 * during an upload.  SJ_EIO / SJ_ETRANSIENT: worth a retry (full disk,
 * upstream 5xx/429/timeout); SJ_EPERMANENT: rejected (4xx); SJ_ELOST:
 * aborted.
 */
enum sj_err store_put(const struct cfg *c, const char *name, const void *data,
		      size_t len, const char *ctype, bool (*abort_cb)(void *),
		      void *abort_arg, char url[STORE_URL_MAX]) SJ_WUR;

/*
 * If name is already stored, writes its URL and returns SJ_OK; else
 * SJ_ENOTFOUND.  Local: a stat of the file.  Cloudinary: SJ_ENOTFOUND
 * always (a lookup would cost a call; callers rely on checkpoints).
 */
enum sj_err store_find(const struct cfg *c, const char *name,
		       char url[STORE_URL_MAX]) SJ_WUR;

#endif
