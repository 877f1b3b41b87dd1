/*
 * S3-compatible object storage (STORAGE=s3): the media store of hosts
 * that share no disk.  Objects are addressed path-style,
 * S3_ENDPOINT/S3_BUCKET/<key>, which AWS, MinIO, Ceph RGW and R2 all
 * answer, and every request is signed by libcurl (CURLOPT_AWS_SIGV4).
 * Keys are media names as MEDIA_DIR holds them ([A-Za-z0-9._-], no
 * leading dot, at most 128 bytes), so no key needs percent-encoding; an
 * object's public URL is S3_PUBLIC_BASE_URL/<key>.
 */
#ifndef SJ_S3_H
#define SJ_S3_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "cfg.h"
#include "err.h"

/* "http(s)://host[:port]" with at most a trailing "/": no path, query,
 * fragment or userinfo. */
bool s3_endpoint_ok(const char *endpoint);
/* 3..63 of [a-z0-9.-], starting and ending with a letter or digit. */
bool s3_bucket_ok(const char *bucket);
/* A media name: [A-Za-z0-9._-], no leading dot, 1..128 bytes. */
bool s3_key_ok(const char *key);

/*
 * "<S3_ENDPOINT>/<S3_BUCKET>/<key>" into out (the endpoint's trailing
 * slash dropped).  SJ_EINVAL: a bad key; SJ_ECONFIG: endpoint or bucket
 * unusable; SJ_ETOOBIG: it does not fit.
 */
enum sj_err s3_object_url(const struct cfg *c, const char *key, char *out,
			  size_t outsz) SJ_WUR;
/* "<S3_PUBLIC_BASE_URL>/<key>" into out; errors as s3_object_url(). */
enum sj_err s3_public_url(const struct cfg *c, const char *key, char *out,
			  size_t outsz) SJ_WUR;
/*
 * If url is S3_PUBLIC_BASE_URL/<key>, writes key.  SJ_ENOTFOUND: not
 * under the base; SJ_EINVAL: under it but not a valid key (a path, a
 * query).  Only the key is ever used: what is read is the bucket's.
 */
enum sj_err s3_own_key(const struct cfg *c, const char *url, char *key,
		       size_t keysz) SJ_WUR;

/*
 * The signed requests.  Results: SJ_OK; SJ_ENOTFOUND (GET of a missing
 * object; a DELETE of one is SJ_OK); SJ_ECONFIG when the service refuses
 * our credentials or their rights (401, 403: a wrong key or secret, a
 * missing permission); SJ_ETRANSIENT (transport, 408/425/429/5xx);
 * SJ_EPERMANENT (another 4xx, or the endpoint refused by the HTTP
 * policy); SJ_ETOOBIG (GET: the object is over max); SJ_ELOST (abort_cb).
 * The service's error code is logged, never the secret.
 */
enum sj_err s3_put(const struct cfg *c, const char *key, const void *data,
		   size_t len, const char *ctype, bool (*abort_cb)(void *),
		   void *abort_arg) SJ_WUR;
/* out is initialised here (capped at max) and holds the object on SJ_OK. */
enum sj_err s3_get(const struct cfg *c, const char *key, size_t max,
		   bool (*abort_cb)(void *), void *abort_arg,
		   struct buf *out) SJ_WUR;
enum sj_err s3_delete(const struct cfg *c, const char *key) SJ_WUR;

#endif
