/*
 * POST /api/uploads of storyjobs-jobs: a raw image body -> {url}.
 *
 * Cheapest refusal first: who (a user, or an anonymous client
 * when anonymous jobs are allowed), the declared type (one of three image
 * types), the per-user or per-client rate limit (counted before the body
 * is read), the body's size, then the image decoded in full and
 * re-encoded (lib/image_gd.c: the decoding runs here because the client
 * must hear at once that its file is not an image).  The re-encoded copy
 * is recorded against the storage quotas before it is written
 * (lib/upload.c), under a random name, so nothing the client sends
 * reaches the file system as a name or as bytes libgd did not produce.
 */
#include <openssl/rand.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "digest.h"
#include "image.h"
#include "image_gd.h"
#include "jsonv.h"
#include "log.h"
#include "ratelimit.h"
#include "req.h"
#include "req_auth.h"
#include "store.h"
#include "upload.h"
#include "uploads.h"

/* Who uploads: a user, or an anonymous client (its address). */
struct uploader {
	int64_t user_id; /* 0: anonymous */
	char client[CLIENT_KEY_MAX];
};

/* 0 with *u filled; -1 when answered (a bad token, anonymous refused). */
static int
upload_who(struct req *r, struct uploader *u)
{
	struct user usr;
	int got = req_user(r, &usr);

	if (got < 0)
		return -1;
	if (got == 0 && !r->cfg->allow_anonymous_jobs) {
		req_error(r, 401, "UNAUTHORIZED", "Authentication required",
			  NULL);
		return -1;
	}
	u->user_id = got > 0 ? usr.id : 0;
	/* an address nginx did not pass counts as the client "unknown" */
	if (client_key(req_param(r, "REMOTE_ADDR"), u->client) != SJ_OK)
		log_req(LOG_LVL_WARN, r->id, "upload: no client address");
	return 0;
}

/* Counts this upload against the caller's rate: 0 go on, -1 answered. */
static int
upload_rate(struct req *r, const struct uploader *u)
{
	char key[96];
	bool allowed;
	int retry;
	enum sj_err e;

	if (u->user_id != 0)
		snprintf(key, sizeof(key), "upload:user:%lld",
			 (long long)u->user_id);
	else
		snprintf(key, sizeof(key), "upload:client:%s", u->client);
	e = ratelimit_hit(r->db, key, (int)r->cfg->upload_rate_limit,
			  (int)r->cfg->upload_rate_window_s, &allowed, &retry);
	if (e != SJ_OK) {
		req_fail(r, e);
		return -1;
	}
	if (!allowed) {
		req_too_many(r, retry);
		return -1;
	}
	return 0;
}

/* The 403 of a quota; true when v refused the upload. */
static bool
upload_refused(struct req *r, enum upload_verdict v)
{
	static const char *const msg[] = {
	    [UPLOAD_OVER_USER] =
		"Upload storage quota reached for this account; "
		"unused uploads are deleted after a while",
	    [UPLOAD_OVER_CLIENT] = "Upload storage quota reached for this "
				   "address; log in, or wait until unused "
				   "uploads are deleted",
	    [UPLOAD_OVER_ANON] = "Storage for anonymous uploads is full; log "
				 "in, or try again later",
	};

	if (v == UPLOAD_OK)
		return false;
	req_error(r, 403, "QUOTA_EXCEEDED", msg[v], NULL);
	return true;
}

/*
 * The answer to an upload the store did not take: the object store
 * (STORAGE=s3) unreachable, failing or refusing our credentials is 503
 * EXTERNAL_SERVICE_ERROR (the operator's to fix, the caller's to retry);
 * anything else is req_fail()'s.
 */
static void
upload_unstored(struct req *r, const char *name, enum sj_err e)
{
	log_kv(LOG_LVL_ERROR, "req", r->id, "upload not stored",
	       LOG_STR("name", name), LOG_STR("error", sj_strerror(e)));
	if (e == SJ_ETRANSIENT || e == SJ_EPERMANENT || e == SJ_ECONFIG)
		req_error(r, 503, "EXTERNAL_SERVICE_ERROR",
			  "The image store is unavailable; try again later",
			  NULL);
	else
		req_fail(r, e);
}

/*
 * Records img against the caller's quotas and stores it under a random
 * name where uploads go (store_upload()); url receives its address.  -1
 * when answered.
 */
static int
upload_store(struct req *r, const struct uploader *u, const struct img_type *t,
	     const struct buf *img, char *url, size_t urlsz)
{
	enum upload_verdict v;
	unsigned char rnd[16];
	char name[48], stored[STORE_URL_MAX];
	enum sj_err e;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		req_fail(r, SJ_EIO);
		return -1;
	}
	hex_encode(rnd, sizeof(rnd), name);
	snprintf(name + 32, sizeof(name) - 32, ".%s", t->ext);
	e = upload_admit(r->db, r->cfg, name, u->user_id, u->client,
			 (int64_t)img->len, &v);
	if (e != SJ_OK || upload_refused(r, v)) {
		if (e != SJ_OK)
			req_fail(r, e);
		return -1;
	}
	e = store_upload(r->cfg, name, img->data, img->len, t->ctype, stored);
	if (e == SJ_OK && (size_t)snprintf(url, urlsz, "%s", stored) >= urlsz)
		e = SJ_ETOOBIG;
	if (e != SJ_OK) {
		if (upload_forget(r->db, name) != SJ_OK)
			log_kv(LOG_LVL_WARN, "req", r->id,
			       "upload record left for the sweep",
			       LOG_STR("name", name));
		upload_unstored(r, name, e);
		return -1;
	}
	log_kv(LOG_LVL_INFO, "req", r->id, "upload stored",
	       LOG_STR("name", name), LOG_INT("bytes", img->len),
	       LOG_INT("user", u->user_id));
	return 0;
}

/* The body decoded and re-encoded into img; -1 when answered. */
static int
upload_decode(struct req *r, const struct img_type *t, struct buf *img)
{
	const char *why = NULL;
	enum sj_err e;

	if (img_sniff(r->body, r->body_len) != t) {
		req_error(r, 415, "UNSUPPORTED_MEDIA_TYPE",
			  "File content does not match its type", NULL);
		return -1;
	}
	e = img_reencode(r->body, r->body_len, t,
			 (uint64_t)r->cfg->max_upload_pixels,
			 (size_t)r->cfg->max_upload_bytes, img, &why);
#ifdef __GLIBC__
	malloc_trim(0); /* the decoder's rows go back to the system */
#endif
	if (e == SJ_EINVAL)
		req_error(r, 400, "INVALID_INPUT", why, NULL);
	else if (e == SJ_ETOOBIG)
		req_error(r, 413, "PAYLOAD_TOO_LARGE", why, NULL);
	else if (e != SJ_OK)
		req_fail(r, e);
	return e == SJ_OK ? 0 : -1;
}

void
jobs_upload(struct req *r, const char *caps[REQ_MAX_CAPS])
{
	const struct img_type *t;
	struct json_object *o;
	struct uploader u;
	struct buf img = {0};
	char url[1024];

	(void)caps;
	if (upload_who(r, &u) != 0)
		return;
	if ((t = img_type_of(req_param(r, "CONTENT_TYPE"))) == NULL) {
		req_error(r, 415, "UNSUPPORTED_MEDIA_TYPE",
			  "Content-Type must be image/png, image/jpeg or "
			  "image/webp",
			  NULL);
		return;
	}
	if (upload_rate(r, &u) != 0 ||
	    req_read_body(r, (size_t)r->cfg->max_upload_bytes) != 0 ||
	    upload_decode(r, t, &img) != 0)
		return;
	if (upload_store(r, &u, t, &img, url, sizeof(url)) != 0) {
		buf_free(&img);
		return;
	}
	buf_free(&img);
	o = json_object_new_object();
	if (o == NULL || jv_add_str(o, "url", url) != SJ_OK) {
		json_object_put(o);
		req_fail(r, SJ_ENOMEM);
		return;
	}
	req_json(r, 201, o, NULL);
	json_object_put(o);
}
