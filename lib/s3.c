/*
 * DESIGN
 *
 * Three requests, each one http_do() under HTTP_API:
 *
 *   PUT    <endpoint>/<bucket>/<key>   the object, Content-Type set
 *   GET    <endpoint>/<bucket>/<key>   capped at the caller's max
 *   DELETE <endpoint>/<bucket>/<key>   404 counts as deleted
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4, provider "aws:amz:REGION:s3",
 * the key and secret as user name and password); nothing here computes
 * a signature.  S3 requires an x-amz-content-sha256 header on every
 * signed request and curl 7.88 does not add it, so each request carries
 * the hex SHA-256 of its body (of nothing, for GET and DELETE): curl
 * signs that header and uses its value as the payload hash, and the
 * service checks the body against it.
 *
 * The endpoint is the operator's, like the Cloudinary API, so HTTP_API
 * applies: no redirects, https anywhere; plain http only when every
 * address the endpoint resolves to is loopback or private
 * (private_http), since an operator's MinIO usually sits on a private
 * network without TLS, while a signed request with its object in clear
 * must not cross the internet.
 *
 * The object URL is built from the configured endpoint and bucket and
 * the key alone; a media URL a user hands us only ever contributes a key
 * that s3_key_ok() accepts.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"
#include "http.h"
#include "log.h"
#include "s3.h"

#define S3_CONNECT_MS 10000L
#define S3_PUT_MS     120000L
#define S3_GET_MS     60000L
#define S3_DELETE_MS  30000L
#define S3_ANSWER_MAX (64 * 1024) /* an error document */
#define S3_SIGV4_MAX  160
#define S3_KEY_MAX    128
#define S3_BUCKET_MAX 63
#define S3_EMPTY_SHA256                                                        \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static bool
in_set(char ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"
#define ALNUM	     LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

bool
s3_key_ok(const char *key)
{
	size_t n = key != NULL ? strlen(key) : 0;

	return n > 0 && n <= S3_KEY_MAX && key[0] != '.' &&
	       strspn(key, ALNUM "._-") == n;
}

bool
s3_bucket_ok(const char *b)
{
	size_t n = b != NULL ? strlen(b) : 0;

	return n >= 3 && n <= S3_BUCKET_MAX &&
	       strspn(b, LOWER_DIGITS ".-") == n &&
	       in_set(b[0], LOWER_DIGITS) && in_set(b[n - 1], LOWER_DIGITS);
}

/* host[:port] of an endpoint: a name, an IPv4 or a [IPv6] literal. */
static bool
hostport_ok(const char *s, size_t n)
{
	size_t h = 0;

	if (n > 0 && s[0] == '[') {
		while (h < n && s[h] != ']')
			h++;
		if (h == n || h < 3 ||
		    strspn(s + 1, "0123456789abcdefABCDEF:.") != h - 1)
			return false;
		h++;
	} else {
		h = strspn(s, ALNUM ".-");
		if (h == 0 || h > n)
			return false;
	}
	if (h == n)
		return true;
	if (s[h] != ':' || n - h < 2 || n - h > 6 ||
	    strspn(s + h + 1, "0123456789") != n - h - 1)
		return false;
	return true;
}

bool
s3_endpoint_ok(const char *e)
{
	size_t n, skip;

	if (e == NULL)
		return false;
	if (strncmp(e, "https://", 8) == 0)
		skip = 8;
	else if (strncmp(e, "http://", 7) == 0)
		skip = 7;
	else
		return false;
	e += skip;
	n = strlen(e);
	if (n > 0 && e[n - 1] == '/')
		n--;
	return n > 0 && n < 256 && hostport_ok(e, n);
}

/* base without its trailing slashes: *len bytes. */
static size_t
trimmed(const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return n;
}

enum sj_err
s3_object_url(const struct cfg *c, const char *key, char *out, size_t outsz)
{
	int n;

	if (!s3_key_ok(key))
		return SJ_EINVAL;
	if (!s3_endpoint_ok(c->s3_endpoint) || !s3_bucket_ok(c->s3_bucket))
		return SJ_ECONFIG;
	n = snprintf(out, outsz, "%.*s/%s/%s", (int)trimmed(c->s3_endpoint),
		     c->s3_endpoint, c->s3_bucket, key);
	return n < 0 || (size_t)n >= outsz ? SJ_ETOOBIG : SJ_OK;
}

enum sj_err
s3_public_url(const struct cfg *c, const char *key, char *out, size_t outsz)
{
	int n;

	if (!s3_key_ok(key))
		return SJ_EINVAL;
	if (c->s3_public_base_url == NULL || c->s3_public_base_url[0] == '\0')
		return SJ_ECONFIG;
	n = snprintf(out, outsz, "%.*s/%s", (int)trimmed(c->s3_public_base_url),
		     c->s3_public_base_url, key);
	return n < 0 || (size_t)n >= outsz ? SJ_ETOOBIG : SJ_OK;
}

enum sj_err
s3_own_key(const struct cfg *c, const char *url, char *key, size_t keysz)
{
	const char *base = c->s3_public_base_url;
	size_t bl;

	if (url == NULL || base == NULL || base[0] == '\0')
		return SJ_ENOTFOUND;
	bl = trimmed(base);
	if (bl == 0 || strncmp(url, base, bl) != 0 || url[bl] != '/')
		return SJ_ENOTFOUND;
	url += bl + 1;
	if (!s3_key_ok(url) || strlen(url) >= keysz)
		return SJ_EINVAL;
	memcpy(key, url, strlen(url) + 1);
	return SJ_OK;
}

/* The <Code> of an S3 error document, for the log; "" when none. */
static void
error_code(const struct http_resp *r, char *out, size_t outsz)
{
	const char *p, *q;

	out[0] = '\0';
	if (r->body.data == NULL ||
	    (p = strstr(r->body.data, "<Code>")) == NULL ||
	    (q = strstr(p + 6, "</Code>")) == NULL)
		return;
	p += 6;
	if ((size_t)(q - p) >= outsz || strspn(p, ALNUM ".") != (size_t)(q - p))
		return;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
}

/* The result class of a complete answer (s3.h). */
static enum sj_err
classify(const char *what, const char *key, const struct http_resp *r)
{
	char code[64];

	if (r->status >= 200 && r->status <= 299)
		return SJ_OK;
	error_code(r, code, sizeof(code));
	if (r->status == 404 && strcmp(code, "NoSuchBucket") != 0)
		return SJ_ENOTFOUND;
	log_kv(LOG_LVL_WARN, NULL, NULL, "s3: request refused",
	       LOG_STR("request", what), LOG_STR("key", key),
	       LOG_INT("status", r->status), LOG_STR("code", code));
	if (r->status == 401 || r->status == 403) {
		log_error("s3: the object store refused our credentials or "
			  "their rights (%s): check S3_ACCESS_KEY_ID, "
			  "S3_SECRET_ACCESS_KEY and the key's permissions",
			  code[0] ? code : "no error code");
		return SJ_ECONFIG;
	}
	if (r->status == 404) /* NoSuchBucket: S3_BUCKET is wrong */
		return SJ_ECONFIG;
	return http_status_transient(r->status) ? SJ_ETRANSIENT : SJ_EPERMANENT;
}

/* What one signed request needs besides its method and body. */
struct s3_call {
	const char *method;
	const char *key;
	const void *body;
	size_t len;
	const char *ctype; /* PUT only */
	long timeout_ms;
	size_t max_response;
	bool (*abort_cb)(void *);
	void *abort_arg;
};

/* One signed request; resp is always initialised (http_do()). */
static enum sj_err
s3_call(const struct cfg *c, const struct s3_call *k, struct http_resp *resp)
{
	char url[2048], sigv4[S3_SIGV4_MAX], hash[65];
	char h_sha[96], h_type[160];
	const char *hdrs[3] = {h_sha, NULL, NULL};
	struct http_req req = {0};
	enum sj_err e;

	memset(resp, 0, sizeof(*resp));
	if ((e = s3_object_url(c, k->key, url, sizeof(url))) != SJ_OK)
		return e == SJ_ETOOBIG ? SJ_ECONFIG : e;
	if (c->s3_access_key_id == NULL || c->s3_secret_access_key == NULL ||
	    c->s3_region == NULL ||
	    strspn(c->s3_region, LOWER_DIGITS "-") != strlen(c->s3_region) ||
	    (size_t)snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3",
			     c->s3_region) >= sizeof(sigv4))
		return SJ_ECONFIG;
	if (k->body != NULL)
		e = sha256_hex(k->body, k->len, hash);
	else
		memcpy(hash, S3_EMPTY_SHA256, sizeof(hash));
	if (e != SJ_OK)
		return e;
	snprintf(h_sha, sizeof(h_sha), "x-amz-content-sha256: %s", hash);
	if (k->ctype != NULL) {
		if ((size_t)snprintf(h_type, sizeof(h_type), "Content-Type: %s",
				     k->ctype) >= sizeof(h_type))
			return SJ_EINVAL;
		hdrs[1] = h_type;
	}
	req.method = k->method;
	req.url = url;
	req.headers = hdrs;
	req.body = k->body;
	req.body_len = k->len;
	req.policy = HTTP_API;
	req.private_http = true;
	req.aws_sigv4 = sigv4;
	req.aws_key = c->s3_access_key_id;
	req.aws_secret = c->s3_secret_access_key;
	req.connect_timeout_ms = S3_CONNECT_MS;
	req.timeout_ms = k->timeout_ms;
	req.max_response = k->max_response;
	req.abort_cb = k->abort_cb;
	req.abort_arg = k->abort_arg;
	return http_do(&req, resp);
}

enum sj_err
s3_put(const struct cfg *c, const char *key, const void *data, size_t len,
       const char *ctype, bool (*abort_cb)(void *), void *abort_arg)
{
	const struct s3_call k = {
	    "PUT",	   key,	     data != NULL ? data : "",
	    len,	   ctype,    S3_PUT_MS,
	    S3_ANSWER_MAX, abort_cb, abort_arg};
	struct http_resp resp;
	enum sj_err e = s3_call(c, &k, &resp);

	if (e == SJ_OK)
		e = classify("PUT", key, &resp);
	else if (e == SJ_ETOOBIG)
		e = SJ_EPERMANENT; /* 64 KiB is no answer to a PUT */
	if (e == SJ_ENOTFOUND)
		e = SJ_EPERMANENT;
	http_resp_free(&resp);
	return e;
}

enum sj_err
s3_get(const struct cfg *c, const char *key, size_t max,
       bool (*abort_cb)(void *), void *abort_arg, struct buf *out)
{
	const struct s3_call k = {"GET",     key, NULL,	    0,	      NULL,
				  S3_GET_MS, max, abort_cb, abort_arg};
	struct http_resp resp;
	enum sj_err e = s3_call(c, &k, &resp);

	buf_init(out, max);
	if (e == SJ_OK)
		e = classify("GET", key, &resp);
	if (e == SJ_OK) {
		*out = resp.body;
		out->max = max;
		memset(&resp.body, 0, sizeof(resp.body));
	}
	http_resp_free(&resp);
	return e;
}

enum sj_err
s3_delete(const struct cfg *c, const char *key)
{
	const struct s3_call k = {"DELETE",	key,	       NULL, 0,	  NULL,
				  S3_DELETE_MS, S3_ANSWER_MAX, NULL, NULL};
	struct http_resp resp;
	enum sj_err e = s3_call(c, &k, &resp);

	if (e == SJ_OK)
		e = classify("DELETE", key, &resp);
	if (e == SJ_ENOTFOUND)
		e = SJ_OK; /* already gone */
	http_resp_free(&resp);
	return e;
}
