/*
 * The media store where generated and uploaded images live: the local
 * media directory nginx serves under /media/ (media.h), Cloudinary, or
 * an S3-compatible bucket (s3.h).
 *
 * Uploads and the worker's reads of our own media go where STORAGE says
 * for s3 (the bucket: no host needs another host's disk); for local and
 * cloudinary they stay in MEDIA_DIR (Cloudinary holds the generated
 * images only), so STORAGE=cloudinary remains a single-host setup.
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

#include "buf.h"
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
 * SJ_ENOTFOUND.  Local: a stat of the file.  Cloudinary and s3:
 * SJ_ENOTFOUND always (a lookup would cost a call; callers rely on
 * checkpoints).
 */
enum sj_err store_find(const struct cfg *c, const char *name,
		       char url[STORE_URL_MAX]) SJ_WUR;

/*
 * Stores a user's upload under name: the bucket with s3, else MEDIA_DIR.
 * Results as store_put(); SJ_ECONFIG also when s3 refused our
 * credentials.
 */
enum sj_err store_upload(const struct cfg *c, const char *name,
			 const void *data, size_t len, const char *ctype,
			 char url[STORE_URL_MAX]) SJ_WUR;
/*
 * If url is one of our own media URLs, writes its name: with s3
 * "<S3_PUBLIC_BASE_URL>/<key>", and always the "/media/<name>" forms of
 * media_own_name().  SJ_ENOTFOUND: not ours; SJ_EINVAL: ours but not a
 * valid name.  Only the name is used to read it (store_read()): never
 * the URL's host.
 */
enum sj_err store_own_name(const struct cfg *c, const char *url, char *name,
			   size_t namesz) SJ_WUR;
/*
 * Reads our own medium name (at most max bytes) into out (initialised
 * here): a signed GET from the bucket with s3, else MEDIA_DIR.
 * SJ_ENOTFOUND, SJ_ETOOBIG, SJ_EINVAL (a bad name); with s3 also the
 * results of s3_get().
 */
enum sj_err store_read(const struct cfg *c, const char *name, size_t max,
		       bool (*abort_cb)(void *), void *abort_arg,
		       struct buf *out) SJ_WUR;
/*
 * Deletes the upload name where store_upload() put it; a missing one is
 * SJ_OK.
 */
enum sj_err store_remove(const struct cfg *c, const char *name) SJ_WUR;

/*
 * What a store result means, for a job's message: SJ_ECONFIG "the image
 * store refused our credentials or is not configured", SJ_ETRANSIENT and
 * SJ_EPERMANENT said of the image store; others sj_strerror()'s.
 */
const char *store_strerror(enum sj_err e);

#endif
