/*
 * DESIGN
 *
 * Three back ends behind store_put/store_find, chosen by STORAGE:
 *
 *   local       media_write() (atomic replace) into MEDIA_DIR, URL from
 *               media_url().  No network; abort_cb is checked once before
 *               the write.
 *   cloudinary  one signed upload, POST <CLOUDINARY_API_BASE>/v1_1/<cloud>
 *               /image/upload, form-encoded, through http_do() under
 *               HTTP_API.  The public id is the name without its
 *               extension; overwrite=true makes a retried step replace its
 *               own earlier upload.  The signature is the lowercase hex
 *               SHA-1 of the signed parameters sorted by name
 *               ("overwrite=true&public_id=<id>&timestamp=<t>") followed by
 *               the API secret.  The file goes inline as a data URI, so the
 *               request body is built in one capped buffer: base64 and
 *               percent-encoding in a single pass, about 4/3 x 5/3 of the
 *               image.
 *   s3          a signed PUT of the object (s3.c), URL
 *               S3_PUBLIC_BASE_URL/<name>.
 *
 * Uploads and our own media read back (store_upload, store_read,
 * store_remove, store_own_name) have two places: the bucket with s3,
 * MEDIA_DIR otherwise.
 *
 * Result classes (store.h): a transport failure or a 408/425/429/5xx
 * answer is SJ_ETRANSIENT, any other non-2xx is SJ_EPERMANENT, and so is
 * a policy refusal of the configured URL.  A 2xx whose body is not JSON
 * with a usable secure_url is SJ_ETRANSIENT: the upload may not have
 * happened, and a retry overwrites whatever did.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "digest.h"
#include "buf.h"
#include "http.h"
#include "jsonv.h"
#include "log.h"
#include "media.h"
#include "s3.h"
#include "store.h"

#define UPLOAD_CONNECT_MS 10000L
#define UPLOAD_TIMEOUT_MS 120000L
#define UPLOAD_ANSWER_MAX (1024 * 1024)
#define UPLOAD_DATA_MAX	  ((size_t)64 * 1024 * 1024)
#define PUBLIC_ID_MAX	  128

static bool
name_ok(const char *s, bool dots)
{
	if (s == NULL || s[0] == '\0' || s[0] == '.' || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
		      (dots && *s == '.')))
			return false;
	return true;
}

/* A MIME type fit for a data URI: type/subtype with token characters. */
static bool
ctype_ok(const char *s)
{
	int slashes = 0;

	if (s == NULL || s[0] == '\0' || strlen(s) > 100)
		return false;
	for (; *s; s++) {
		if (*s == '/')
			slashes++;
		else if (!((*s >= 'a' && *s <= 'z') ||
			   (*s >= 'A' && *s <= 'Z') ||
			   (*s >= '0' && *s <= '9') || *s == '+' || *s == '-' ||
			   *s == '.'))
			return false;
	}
	return slashes == 1;
}

/* Appends s percent-encoded (everything but unreserved characters). */
static enum sj_err
add_escaped(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	enum sj_err e = SJ_OK;

	for (size_t i = 0; e == SJ_OK && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char enc[3] = {'%', hex[c >> 4], hex[c & 15]};

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			e = buf_add(b, &s[i], 1);
		else
			e = buf_add(b, enc, 3);
	}
	return e;
}

/* Appends the base64 of data, percent-encoded, in one pass. */
static enum sj_err
add_base64_escaped(struct buf *b, const unsigned char *p, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[4];
	enum sj_err e = SJ_OK;

	for (size_t i = 0; e == SJ_OK && i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		out[0] = b64[v >> 18 & 63];
		out[1] = b64[v >> 12 & 63];
		out[2] = n > 1 ? b64[v >> 6 & 63] : '=';
		out[3] = n > 2 ? b64[v & 63] : '=';
		e = add_escaped(b, out, 4);
	}
	return e;
}

/* The form body of a signed upload. */
static enum sj_err
upload_body(const struct cfg *c, const char *id, long long ts, const void *data,
	    size_t len, const char *ctype, struct buf *b)
{
	char tosign[512], sig[41];
	enum sj_err e;

	if (len > UPLOAD_DATA_MAX)
		return SJ_ETOOBIG;
	if ((size_t)snprintf(tosign, sizeof(tosign),
			     "overwrite=true&public_id=%s&timestamp=%lld", id,
			     ts) >= sizeof(tosign))
		return SJ_EINVAL;
	{
		struct buf s;

		buf_init(&s, 4096);
		if ((e = buf_addstr(&s, tosign)) != SJ_OK ||
		    (e = buf_addstr(&s, c->cloudinary_api_secret)) != SJ_OK)
			return e;
		e = sha1_hex(s.data, s.len, sig);
		OPENSSL_cleanse(s.data, s.len);
		buf_free(&s);
		if (e != SJ_OK)
			return e;
	}
	/* base64 is 4/3, escaping at most triples it for '+' '/' '=' */
	buf_init(b, (len / 3 + 1) * 12 + 4096);
	if ((e = buf_addstr(b, "file=")) != SJ_OK ||
	    (e = add_escaped(b, "data:", 5)) != SJ_OK ||
	    (e = add_escaped(b, ctype, strlen(ctype))) != SJ_OK ||
	    (e = add_escaped(b, ";base64,", 8)) != SJ_OK ||
	    (e = add_base64_escaped(b, data, len)) != SJ_OK ||
	    (e = buf_addf(b, "&public_id=%s&timestamp=%lld&overwrite=true", id,
			  ts)) != SJ_OK ||
	    (e = buf_addstr(b, "&api_key=")) != SJ_OK ||
	    (e = add_escaped(b, c->cloudinary_api_key,
			     strlen(c->cloudinary_api_key))) != SJ_OK ||
	    (e = buf_addf(b, "&signature=%s", sig)) != SJ_OK)
		return e;
	return SJ_OK;
}

/* secure_url of a 2xx upload answer into url. */
static enum sj_err
upload_answer(const struct http_resp *r, char url[STORE_URL_MAX])
{
	struct json_object *root = NULL;
	const char *why = NULL, *s = NULL;
	enum sj_err e = SJ_ETRANSIENT;

	if (r->body.data == NULL ||
	    json_parse_strict(r->body.data, r->body.len, JSONV_DEPTH, &root,
			      &why) != SJ_OK) {
		log_warn("store: upload answer is not JSON");
		return SJ_ETRANSIENT;
	}
	if (jv_str(root, "secure_url", STORE_URL_MAX - 1, &s) != SJ_OK ||
	    (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) ||
	    strpbrk(s, " \t\r\n\"<>\\") != NULL) {
		log_warn("store: upload answer has no usable secure_url");
		goto out;
	}
	memcpy(url, s, strlen(s) + 1);
	e = SJ_OK;
out:
	json_object_put(root);
	return e;
}

static enum sj_err
upload_status(const struct http_resp *r, char url[STORE_URL_MAX])
{
	if (r->status >= 200 && r->status <= 299)
		return upload_answer(r, url);
	log_warn("store: upload answered %ld: %.200s", r->status,
		 r->body.data != NULL ? r->body.data : "");
	return http_status_transient(r->status) ? SJ_ETRANSIENT : SJ_EPERMANENT;
}

static enum sj_err
cloud_put(const struct cfg *c, const char *name, const void *data, size_t len,
	  const char *ctype, bool (*abort_cb)(void *), void *abort_arg,
	  char url[STORE_URL_MAX])
{
	static const char *const hdrs[] = {
	    "Content-Type: application/x-www-form-urlencoded",
	    "Accept: application/json", NULL};
	const char *base = c->cloudinary_api_base != NULL
			       ? c->cloudinary_api_base
			       : "https://api.cloudinary.com";
	size_t bl = strlen(base), idlen;
	const char *dot = strrchr(name, '.');
	char id[PUBLIC_ID_MAX + 1], endpoint[STORE_URL_MAX];
	struct http_req req = {0};
	struct http_resp resp;
	struct buf body;
	enum sj_err e;

	idlen = dot != NULL ? (size_t)(dot - name) : strlen(name);
	if (idlen == 0 || idlen > PUBLIC_ID_MAX)
		return SJ_EINVAL;
	memcpy(id, name, idlen);
	id[idlen] = '\0';
	if (!name_ok(c->cloudinary_cloud_name, false) ||
	    c->cloudinary_api_key == NULL || c->cloudinary_api_secret == NULL)
		return SJ_ECONFIG;
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	if ((size_t)snprintf(endpoint, sizeof(endpoint),
			     "%.*s/v1_1/%s/image/upload", (int)bl, base,
			     c->cloudinary_cloud_name) >= sizeof(endpoint))
		return SJ_ECONFIG;
	buf_init(&body, 0);
	if ((e = upload_body(c, id, (long long)time(NULL), data, len, ctype,
			     &body)) != SJ_OK) {
		buf_free(&body);
		return e;
	}
	req.method = "POST";
	req.url = endpoint;
	req.headers = hdrs;
	req.body = body.data;
	req.body_len = body.len;
	req.policy = HTTP_API;
	req.connect_timeout_ms = UPLOAD_CONNECT_MS;
	req.timeout_ms = UPLOAD_TIMEOUT_MS;
	req.max_response = UPLOAD_ANSWER_MAX;
	req.abort_cb = abort_cb;
	req.abort_arg = abort_arg;
	e = http_do(&req, &resp);
	buf_free(&body);
	if (e == SJ_OK)
		e = upload_status(&resp, url);
	else if (e == SJ_ETOOBIG)
		e = SJ_EPERMANENT; /* a 1 MiB answer is not Cloudinary's */
	http_resp_free(&resp);
	return e;
}

static bool
is_s3(const struct cfg *c)
{
	return c->storage != NULL && strcmp(c->storage, "s3") == 0;
}

static enum sj_err
bucket_put(const struct cfg *c, const char *name, const void *data, size_t len,
	   const char *ctype, bool (*abort_cb)(void *), void *abort_arg,
	   char url[STORE_URL_MAX])
{
	enum sj_err e;

	if ((e = s3_public_url(c, name, url, STORE_URL_MAX)) != SJ_OK ||
	    (e = s3_put(c, name, data, len, ctype, abort_cb, abort_arg)) !=
		SJ_OK)
		url[0] = '\0';
	return e;
}

enum sj_err
store_put(const struct cfg *c, const char *name, const void *data, size_t len,
	  const char *ctype, bool (*abort_cb)(void *), void *abort_arg,
	  char url[STORE_URL_MAX])
{
	enum sj_err e;

	url[0] = '\0';
	if (!name_ok(name, true) || !ctype_ok(ctype) ||
	    (data == NULL && len > 0))
		return SJ_EINVAL;
	if (c->storage != NULL && strcmp(c->storage, "cloudinary") == 0)
		return cloud_put(c, name, data, len, ctype, abort_cb, abort_arg,
				 url);
	if (is_s3(c))
		return bucket_put(c, name, data, len, ctype, abort_cb,
				  abort_arg, url);
	if (c->storage != NULL && strcmp(c->storage, "local") != 0)
		return SJ_ECONFIG;
	if (c->media_dir == NULL)
		return SJ_ECONFIG;
	if (abort_cb != NULL && abort_cb(abort_arg))
		return SJ_ELOST;
	if ((e = media_write(c->media_dir, name, data, len)) != SJ_OK)
		return e;
	return media_url(c, name, url, STORE_URL_MAX);
}

enum sj_err
store_find(const struct cfg *c, const char *name, char url[STORE_URL_MAX])
{
	url[0] = '\0';
	if (c->storage != NULL && strcmp(c->storage, "local") != 0)
		return SJ_ENOTFOUND; /* cloudinary, s3 */
	if (c->media_dir == NULL || !name_ok(name, true) ||
	    !media_exists(c->media_dir, name))
		return SJ_ENOTFOUND;
	return media_url(c, name, url, STORE_URL_MAX);
}

enum sj_err
store_upload(const struct cfg *c, const char *name, const void *data,
	     size_t len, const char *ctype, char url[STORE_URL_MAX])
{
	enum sj_err e;

	url[0] = '\0';
	if (!name_ok(name, true) || !ctype_ok(ctype) ||
	    (data == NULL && len > 0))
		return SJ_EINVAL;
	if (is_s3(c))
		return bucket_put(c, name, data, len, ctype, NULL, NULL, url);
	if (c->media_dir == NULL)
		return SJ_ECONFIG;
	if ((e = media_write(c->media_dir, name, data, len)) != SJ_OK)
		return e;
	return media_url(c, name, url, STORE_URL_MAX);
}

enum sj_err
store_own_name(const struct cfg *c, const char *url, char *name, size_t namesz)
{
	enum sj_err e = SJ_ENOTFOUND;

	if (is_s3(c) && (e = s3_own_key(c, url, name, namesz)) != SJ_ENOTFOUND)
		return e;
	return media_own_name(c, url, name, namesz);
}

enum sj_err
store_read(const struct cfg *c, const char *name, size_t max,
	   bool (*abort_cb)(void *), void *abort_arg, struct buf *out)
{
	if (is_s3(c))
		return s3_get(c, name, max, abort_cb, abort_arg, out);
	if (c->media_dir == NULL) {
		buf_init(out, max);
		return SJ_ECONFIG;
	}
	return media_read(c->media_dir, name, max, out);
}

enum sj_err
store_remove(const struct cfg *c, const char *name)
{
	char path[4096];

	if (!name_ok(name, true))
		return SJ_EINVAL;
	if (is_s3(c))
		return s3_delete(c, name);
	if (c->media_dir == NULL || c->media_dir[0] == '\0' ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", c->media_dir, name) >=
		sizeof(path))
		return SJ_ECONFIG;
	if (unlink(path) != 0 && errno != ENOENT) {
		log_warn("store: %s: %s", path, strerror(errno));
		return SJ_EIO;
	}
	return SJ_OK;
}

const char *
store_strerror(enum sj_err e)
{
	switch (e) {
	case SJ_ECONFIG:
		return "the image store refused our credentials or is not "
		       "configured";
	case SJ_ETRANSIENT:
		return "the image store is unavailable";
	case SJ_EPERMANENT:
		return "the image store refused the request";
	default:
		return sj_strerror(e);
	}
}
