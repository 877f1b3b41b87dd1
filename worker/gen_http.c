/*
 * A provider's calls out (gen_http.h), with no job attached: the job's
 * abort, deadline and counters come from its provider context.
 *
 * DESIGN
 * Transport errors are classified here: the job's abort (cancel,
 * timeout, shutdown) wins over any error the call reports; transport
 * errors are transient; an answer over its cap is permanent, as a retry
 * would get the same answer.  A call's status is its provider's to read
 * (gen_openai_call.c reads the API's error envelope).
 *
 * An image named by URL is fetched under HTTP_FETCH and must be PNG,
 * JPEG or WebP by its bytes.  A user's URL may be one of our own media
 * URLs, read from MEDIA_DIR; a URL from an upstream answer never is (the
 * upstream must not name another user's upload as its picture), and a
 * fetch that fails for good blames the upstream, not the user.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "image.h"
#include "log.h"
#include "num.h"
#include "openai.h"
#include "store.h"

#include "gen_http.h"

#define URL_SHOWN 512 /* bytes of a URL in the log */
/* A failed call that ends this near the job's deadline was cut by it. */
#define DEADLINE_SLACK_MS 200

/* ---- calls ---- */

/*
 * Runs req with the job's abort check and remaining time.  Returns
 * SJ_ELOST when the job's own abort (cancel, timeout, stop) ended it --
 * f then says GEN_ABORTED -- else http_do()'s result.
 */
static enum sj_err
job_http(const struct gen_ctx *g, struct http_req *req, struct http_resp *resp,
	 struct gen_fail *f)
{
	int64_t t0 = num_mono_ms(), left = g->deadline_ms - t0;
	char shown[URL_SHOWN];
	bool clamped = false;
	enum sj_err e;

	memset(resp, 0, sizeof(*resp));
	if (left <= 0) {
		gen_fail_end(f, GEN_ABORTED);
		return SJ_ELOST;
	}
	req->abort_cb = g->abort_cb;
	req->abort_arg = g->arg;
	if (req->timeout_ms <= 0 || req->timeout_ms > left) {
		req->timeout_ms = (long)left;
		clamped = true;
	}
	e = http_do(req, resp);
	/* a URL from an answer is upstream text: never the key in the log */
	oai_scrub(req->url, g->cfg->openai_api_key, shown, sizeof(shown));
	log_kv(LOG_LVL_DEBUG, "job", g->job_id, "upstream call",
	       LOG_STR("method", req->method ? req->method : "GET"),
	       LOG_STR("url", shown), LOG_STR("result", sj_strerror(e)),
	       LOG_INT("status", resp->status),
	       LOG_INT("ms", num_mono_ms() - t0));
	/*
	 * A call cut by the job's own deadline may end a moment before our
	 * clock reaches it: that is the job timing out, not an upstream
	 * failure to retry.
	 */
	if (e != SJ_OK && clamped &&
	    g->deadline_ms - num_mono_ms() <= DEADLINE_SLACK_MS)
		num_sleep_ms(g->deadline_ms - num_mono_ms());
	if (g->upstream != NULL)
		g->upstream(g->arg, req, resp, e,
			    e != SJ_OK && g->abort_cb(g->arg), t0);
	if (e == SJ_ELOST || (e != SJ_OK && g->abort_cb(g->arg))) {
		http_resp_free(resp);
		gen_fail_end(f, GEN_ABORTED);
		return SJ_ELOST;
	}
	return e;
}

bool
gen_call(const struct gen_ctx *g, struct http_req *req, struct http_resp *resp,
	 const char *what, struct gen_fail *f)
{
	enum sj_err e = job_http(g, req, resp, f);

	if (e == SJ_ELOST)
		return false;
	if (e != SJ_OK) {
		gen_fail_set(f, e != SJ_EPERMANENT && e != SJ_ETOOBIG,
			     "EXTERNAL_SERVICE_ERROR", "%s failed: %s", what,
			     sj_strerror(e));
		http_resp_free(resp);
		return false;
	}
	return true;
}

/* ---- images by URL ---- */

/*
 * Who a fetch that fails for good blames: the user who gave the URL
 * (INVALID_INPUT) or the upstream that answered it
 * (EXTERNAL_SERVICE_ERROR); what names the image in messages.
 */
struct fetch_blame {
	const char *code;
	const char *what;      /* "the image" */
	const char *not_image; /* the message for bytes of another kind */
	size_t cap;	       /* bytes of the image */
};

/*
 * Our own medium name, read where uploads are stored (store_read(): the
 * bucket with STORAGE=s3, by its key only).  A missing or unusable one is
 * the user's; an object store failing is worth a retry, and one refusing
 * our credentials fails the job for good with a message that says so.
 */
static bool
fetch_own(const struct gen_ctx *g, const char *name, struct gen_image *out,
	  struct gen_fail *f)
{
	enum sj_err e =
	    store_read(g->cfg, name, (size_t)g->cfg->max_upload_bytes,
		       g->abort_cb, g->arg, &out->data);

	if (e == SJ_ELOST) {
		gen_fail_end(f, GEN_ABORTED);
		return false;
	}
	if (e == SJ_ENOTFOUND || e == SJ_EINVAL || e == SJ_ETOOBIG) {
		gen_fail_set(f, false, "INVALID_INPUT",
			     "The image %s cannot be used", name);
		return false;
	}
	if (e == SJ_ECONFIG || e == SJ_EPERMANENT || e == SJ_ETRANSIENT) {
		gen_fail_set(
		    f, e == SJ_ETRANSIENT, "EXTERNAL_SERVICE_ERROR",
		    "Reading the image from the image store failed: %s",
		    store_strerror(e));
		return false;
	}
	if (e != SJ_OK) {
		gen_fail_err(f, e, "Reading the image failed");
		return false;
	}
	return true;
}

/*
 * url under HTTP_FETCH: a refused address or scheme, an image over the
 * cap or a 4xx fail for good (blaming b); a timeout, a transport error
 * or 429/5xx are worth a retry.
 */
static bool
fetch_remote(const struct gen_ctx *g, const char *url,
	     const struct fetch_blame *b, struct gen_image *out,
	     struct gen_fail *f)
{
	struct http_req req = {
	    .url = url,
	    .policy = HTTP_FETCH,
	    .timeout_ms = 60000,
	    .max_response = b->cap,
	};
	struct http_resp resp;
	enum sj_err e = job_http(g, &req, &resp, f);

	if (e == SJ_ELOST)
		return false;
	if (e == SJ_EPERMANENT || e == SJ_ETOOBIG || e == SJ_EINVAL ||
	    (e == SJ_OK && resp.status >= 400 &&
	     !http_status_transient(resp.status)) ||
	    (e == SJ_OK && resp.status < 200)) {
		gen_fail_set(f, false, b->code, "Cannot fetch %s: %s", b->what,
			     e != SJ_OK ? sj_strerror(e)
					: "refused by its server");
		http_resp_free(&resp);
		return false;
	}
	if (e != SJ_OK || resp.status >= 300) {
		/*
		 * Retried.  A server that answered with an error is the
		 * user's input (like a refusal); no answer at all may be our
		 * own network, so that stays a service error the health
		 * verdict counts.
		 */
		gen_fail_set(f, true,
			     e == SJ_OK ? b->code : "EXTERNAL_SERVICE_ERROR",
			     "Fetching %s failed: %s", b->what,
			     e != SJ_OK ? sj_strerror(e) : "server error");
		f->retry_after_s =
		    resp.retry_after_s > 0 ? resp.retry_after_s : 0;
		http_resp_free(&resp);
		return false;
	}
	out->data = resp.body;
	memset(&resp.body, 0, sizeof(resp.body));
	http_resp_free(&resp);
	return true;
}

/* ok and the bytes in out are a PNG, JPEG or WebP picture (else freed). */
static bool
fetched(bool ok, const struct fetch_blame *b, struct gen_image *out,
	struct gen_fail *f)
{
	const struct img_type *t;

	if (ok && (t = img_sniff(out->data.data, out->data.len)) != NULL) {
		out->ctype = t->ctype;
		out->ext = t->ext;
		return true;
	}
	gen_image_free(out);
	if (ok)
		gen_fail_set(f, false, b->code, "%s", b->not_image);
	return false;
}

bool
gen_fetch_image(const struct gen_ctx *g, const char *url, struct gen_image *out,
		struct gen_fail *f)
{
	const struct fetch_blame user = {
	    "INVALID_INPUT", "the image",
	    "The image must be a PNG, JPEG or WebP picture",
	    (size_t)g->cfg->max_upload_bytes};
	char name[256];
	enum sj_err e;

	memset(out, 0, sizeof(*out));
	e = store_own_name(g->cfg, url, name, sizeof(name));
	if (e != SJ_OK && e != SJ_ENOTFOUND) {
		gen_fail_set(f, false, "INVALID_INPUT", "Invalid image URL");
		return false;
	}
	return fetched(e == SJ_OK ? fetch_own(g, name, out, f)
				  : fetch_remote(g, url, &user, out, f),
		       &user, out, f);
}

bool
gen_fetch_answer_image(const struct gen_ctx *g, const char *url,
		       struct gen_image *out, struct gen_fail *f)
{
	const struct fetch_blame upstream = {
	    "EXTERNAL_SERVICE_ERROR", "the image the API's answer names",
	    "The image the API's answer names is not a PNG, JPEG or WebP "
	    "picture",
	    GEN_IMAGE_MAX};

	memset(out, 0, sizeof(*out));
	return fetched(fetch_remote(g, url, &upstream, out, f), &upstream, out,
		       f);
}
