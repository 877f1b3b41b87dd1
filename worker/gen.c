/*
 * What every provider and handler shares: the provider choice,
 * checkpoints, the media cache, storing images, fetching user-supplied
 * images and making upstream calls inside a job.
 *
 * DESIGN
 * A job's checkpoint is one JSON object saved with the job row (fenced by
 * the lease, like progress).  A step that costs an upstream call saves
 * its result under its own key before the job moves on, and looks there
 * first: a retried or rescued job resumes after its last saved step and
 * pays for nothing twice.  A kill between the call and the save costs
 * that one call again, never more.
 *
 * Images are stored under names derived from what made them, and the
 * media cache (sql/005) maps a name to its URL for every job and worker:
 * an equal request is answered with no call at all, whatever the storage.
 *
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

#include "digest.h"
#include "image.h"
#include "jsonv.h"
#include "log.h"
#include "media.h"
#include "media_names.h"
#include "num.h"
#include "openai.h"

#include "gen.h"
#include "local.h"
#include "session.h"
#include "stats.h"

#define CACHE_HEX 32  /* hex digits of the key in a name */
#define URL_SHOWN 512 /* bytes of a URL in the log */
/* A failed call that ends this near the job's deadline was cut by it. */
#define DEADLINE_SLACK_MS 200

const struct gen_ops *
gen_provider(const struct cfg *c)
{
	if (c->generation_provider != NULL &&
	    strcmp(c->generation_provider, "openai") == 0)
		return &gen_openai_ops;
	return &gen_local_ops;
}

bool
gen_scene_image(struct step_ctx *c, const struct gen_scene *s,
		struct gen_image *out)
{
	const struct gen_ops *ops = gen_provider(c->cfg);

	if (ops->scene != NULL)
		return ops->scene(c, s, out);
	return ops->image(c, s->prompt, s->style, out);
}

bool
gen_scene_key_parts(struct step_ctx *c, const struct gen_scene *s,
		    const char *parts[4], size_t *n)
{
	const struct gen_ops *ops = gen_provider(c->cfg);

	*n = 0;
	if (ops->scene == NULL)
		return true;
	if (s->hero != NULL && ops->hero != NULL && !ops->hero(c, s->hero))
		return false;
	parts[(*n)++] = s->caption ? s->caption : "";
	parts[(*n)++] = s->hero ? s->hero->description : "";
	parts[(*n)++] = s->hero ? s->hero->picture : "";
	parts[(*n)++] = s->hero ? s->hero->face : "";
	return true;
}

/* The server's key for media names: read once at start (gen_names_init). */
static struct media_key names_key;

enum sj_err
gen_names_init(struct db *db)
{
	return media_key_load(db, &names_key);
}

bool
gen_key(struct step_ctx *c, const char *prefix, const char *const *parts,
	size_t n, char key[GEN_NAME_MAX])
{
	const char *all[GEN_PARTS_MAX + 1];
	unsigned char md[MEDIA_DIGEST_LEN];
	char digest[MEDIA_DIGEST_LEN * 2 + 1];
	enum sj_err e = SJ_EINVAL;

	if (n <= GEN_PARTS_MAX) {
		all[0] = gen_provider(c->cfg)->name;
		memcpy(all + 1, parts, n * sizeof(*parts));
		e = media_hmac(&names_key, all, n + 1, md);
	}
	if (e != SJ_OK) {
		step_fail_err(c, e, "Hashing the input failed");
		return false;
	}
	hex_encode(md, CACHE_HEX / 2, digest);
	if ((size_t)snprintf(key, GEN_NAME_MAX, "%s-%s", prefix, digest) >=
	    GEN_NAME_MAX) {
		step_fail_err(c, SJ_EINVAL, "Naming the image failed");
		return false;
	}
	return true;
}

/* ---- checkpoints ---- */

struct json_object *
gen_ckpt(struct step_ctx *c, const char *key)
{
	struct json_object *v;

	if (!json_object_is_type(c->job->checkpoint, json_type_object) ||
	    !json_object_object_get_ex(c->job->checkpoint, key, &v))
		return NULL;
	return v;
}

const char *
gen_ckpt_str(struct step_ctx *c, const char *key)
{
	struct json_object *v = gen_ckpt(c, key);

	return json_object_is_type(v, json_type_string)
		   ? json_object_get_string(v)
		   : NULL;
}

bool
gen_ckpt_save(struct step_ctx *c, const char *key, struct json_object *val)
{
	if (!json_object_is_type(c->job->checkpoint, json_type_object)) {
		json_object_put(c->job->checkpoint);
		if ((c->job->checkpoint = json_object_new_object()) == NULL) {
			json_object_put(val);
			step_fail_err(c, SJ_ENOMEM,
				      "Saving a checkpoint failed");
			return false;
		}
	}
	if (val == NULL ||
	    json_object_object_add(c->job->checkpoint, key, val) != 0) {
		json_object_put(val);
		step_fail_err(c, SJ_ENOMEM, "Saving a checkpoint failed");
		return false;
	}
	return step_checkpoint(c);
}

bool
gen_describe_once(struct step_ctx *c, const char *key, const char *url,
		  char out[GEN_DESC_MAX])
{
	const char *saved = gen_ckpt_str(c, key);

	if (saved != NULL) {
		snprintf(out, GEN_DESC_MAX, "%s", saved);
		return true;
	}
	return gen_provider(c->cfg)->describe(c, url, out) &&
	       gen_ckpt_save(c, key, json_object_new_string(out));
}

/*
 * The paid-call ceiling: the count of calls made is kept in the
 * checkpoint and saved BEFORE each call, so no crash, retry or rescue
 * lets a job make more than its type's MAX_CALLS.
 */
#define CKPT_CALLS "paidCalls"

bool
gen_paid_call(struct step_ctx *c)
{
	int64_t max = c->cfg->types[c->job->type].max_calls, n = 0;
	struct json_object *v = gen_ckpt(c, CKPT_CALLS);

	if (json_object_is_type(v, json_type_int))
		n = json_object_get_int64(v);
	if (n >= max) {
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "paid-call ceiling reached", LOG_INT("max_calls", max));
		step_fail(c, false, "QUOTA_EXCEEDED",
			  "The job reached its limit of %lld paid calls",
			  (long long)max);
		return false;
	}
	return gen_ckpt_save(c, CKPT_CALLS, json_object_new_int64(n + 1));
}

/* ---- the media cache and the store ---- */

bool
gen_cache_get(struct step_ctx *c, const char *key, char url[STORE_URL_MAX],
	      bool *mine)
{
	enum sj_err e =
	    media_cache_get(c->db, key, c->job->id, url, STORE_URL_MAX, mine);

	if (e != SJ_OK && e != SJ_ENOTFOUND)
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "media cache lookup failed",
		       LOG_STR("error", sj_strerror(e)));
	return e == SJ_OK;
}

bool
gen_store(struct step_ctx *c, const char *key, const struct gen_image *img,
	  char url[STORE_URL_MAX])
{
	char name[GEN_NAME_MAX + 8];
	enum sj_err e;

	if ((size_t)snprintf(name, sizeof(name), "%s.%s", key, img->ext) >=
	    sizeof(name)) {
		step_fail_err(c, SJ_EINVAL, "Naming the image failed");
		return false;
	}
	e = store_put(c->cfg, name, img->data.data, img->data.len, img->ctype,
		      step_abort_cb, c, url);
	if (e == SJ_ELOST) {
		step_aborted(c);
		return false;
	}
	if (e != SJ_OK) {
		step_fail(
		    c, e != SJ_EPERMANENT && e != SJ_EINVAL && e != SJ_ECONFIG,
		    "EXTERNAL_SERVICE_ERROR", "Storing the image failed: %s",
		    store_strerror(e));
		return false;
	}
	/* The image is stored; a lost cache row only costs a regeneration. */
	if ((e = media_cache_put(c->db, key, url, c->job->id)) != SJ_OK)
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "media cache save failed",
		       LOG_STR("error", sj_strerror(e)));
	return true;
}

bool
gen_image_for(struct step_ctx *c, const char *key, gen_make_fn make, void *arg,
	      char url[STORE_URL_MAX], bool *cached)
{
	struct gen_image img;
	bool ok;

	if (gen_cache_get(c, key, url, cached)) {
		log_kv(LOG_LVL_DEBUG, "job", c->job->id, "cache hit",
		       LOG_STR("name", key));
		return true;
	}
	memset(&img, 0, sizeof(img));
	if (!make(c, arg, &img))
		return false;
	ok = gen_store(c, key, &img, url);
	gen_image_free(&img);
	return ok;
}

/* ---- calls ---- */

/*
 * Runs req with the job's abort check and remaining time.  Returns
 * SJ_ELOST when the job's own abort (cancel, timeout, stop) ended it --
 * the outcome is then already recorded -- else http_do()'s result.
 */
static enum sj_err
job_http(struct step_ctx *c, struct http_req *req, struct http_resp *resp)
{
	int64_t t0 = num_mono_ms(), left = c->deadline_ms - t0;
	char shown[URL_SHOWN];
	bool clamped = false;
	enum sj_err e;

	memset(resp, 0, sizeof(*resp));
	if (left <= 0) {
		step_aborted(c);
		return SJ_ELOST;
	}
	req->abort_cb = step_abort_cb;
	req->abort_arg = c;
	if (req->timeout_ms <= 0 || req->timeout_ms > left) {
		req->timeout_ms = (long)left;
		clamped = true;
	}
	e = http_do(req, resp);
	/* a URL from an answer is upstream text: never the key in the log */
	oai_scrub(req->url, c->cfg->openai_api_key, shown, sizeof(shown));
	log_kv(LOG_LVL_DEBUG, "job", c->job->id, "upstream call",
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
	    c->deadline_ms - num_mono_ms() <= DEADLINE_SLACK_MS)
		worker_sleep_ms(c->deadline_ms - num_mono_ms());
	stats_upstream(c->stats, gen_provider(c->cfg)->name, req, resp, e,
		       e != SJ_OK && step_abort_cb(c), t0);
	if (e == SJ_ELOST || (e != SJ_OK && step_abort_cb(c))) {
		http_resp_free(resp);
		step_aborted(c);
		return SJ_ELOST;
	}
	return e;
}

bool
gen_call(struct step_ctx *c, struct http_req *req, struct http_resp *resp,
	 const char *what)
{
	enum sj_err e = job_http(c, req, resp);

	if (e == SJ_ELOST)
		return false;
	if (e != SJ_OK) {
		step_fail(c, e != SJ_EPERMANENT && e != SJ_ETOOBIG,
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
fetch_own(struct step_ctx *c, const char *name, struct gen_image *out)
{
	enum sj_err e =
	    store_read(c->cfg, name, (size_t)c->cfg->max_upload_bytes,
		       step_abort_cb, c, &out->data);

	if (e == SJ_ELOST) {
		step_aborted(c);
		return false;
	}
	if (e == SJ_ENOTFOUND || e == SJ_EINVAL || e == SJ_ETOOBIG) {
		step_fail(c, false, "INVALID_INPUT",
			  "The image %s cannot be used", name);
		return false;
	}
	if (e == SJ_ECONFIG || e == SJ_EPERMANENT || e == SJ_ETRANSIENT) {
		step_fail(c, e == SJ_ETRANSIENT, "EXTERNAL_SERVICE_ERROR",
			  "Reading the image from the image store failed: %s",
			  store_strerror(e));
		return false;
	}
	if (e != SJ_OK) {
		step_fail_err(c, e, "Reading the image failed");
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
fetch_remote(struct step_ctx *c, const char *url, const struct fetch_blame *b,
	     struct gen_image *out)
{
	struct http_req req = {
	    .url = url,
	    .policy = HTTP_FETCH,
	    .timeout_ms = 60000,
	    .max_response = b->cap,
	};
	struct http_resp resp;
	enum sj_err e = job_http(c, &req, &resp);

	if (e == SJ_ELOST)
		return false;
	if (e == SJ_EPERMANENT || e == SJ_ETOOBIG || e == SJ_EINVAL ||
	    (e == SJ_OK && resp.status >= 400 &&
	     !http_status_transient(resp.status)) ||
	    (e == SJ_OK && resp.status < 200)) {
		step_fail(c, false, b->code, "Cannot fetch %s: %s", b->what,
			  e != SJ_OK ? sj_strerror(e)
				     : "refused by its server");
		http_resp_free(&resp);
		return false;
	}
	if (e != SJ_OK || resp.status >= 300) {
		c->retry_after_s =
		    resp.retry_after_s > 0 ? resp.retry_after_s : 0;
		/*
		 * Retried.  A server that answered with an error is the
		 * user's input (like a refusal); no answer at all may be our
		 * own network, so that stays a service error the health
		 * verdict counts.
		 */
		step_fail(c, true,
			  e == SJ_OK ? b->code : "EXTERNAL_SERVICE_ERROR",
			  "Fetching %s failed: %s", b->what,
			  e != SJ_OK ? sj_strerror(e) : "server error");
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
fetched(struct step_ctx *c, bool ok, const struct fetch_blame *b,
	struct gen_image *out)
{
	const struct img_type *t;

	if (ok && (t = img_sniff(out->data.data, out->data.len)) != NULL) {
		out->ctype = t->ctype;
		out->ext = t->ext;
		return true;
	}
	gen_image_free(out);
	if (ok)
		step_fail(c, false, b->code, "%s", b->not_image);
	return false;
}

bool
gen_fetch_image(struct step_ctx *c, const char *url, struct gen_image *out)
{
	const struct fetch_blame user = {
	    "INVALID_INPUT", "the image",
	    "The image must be a PNG, JPEG or WebP picture",
	    (size_t)c->cfg->max_upload_bytes};
	char name[256];
	enum sj_err e;

	memset(out, 0, sizeof(*out));
	e = store_own_name(c->cfg, url, name, sizeof(name));
	if (e != SJ_OK && e != SJ_ENOTFOUND) {
		step_fail(c, false, "INVALID_INPUT", "Invalid image URL");
		return false;
	}
	return fetched(c,
		       e == SJ_OK ? fetch_own(c, name, out)
				  : fetch_remote(c, url, &user, out),
		       &user, out);
}

bool
gen_fetch_answer_image(struct step_ctx *c, const char *url,
		       struct gen_image *out)
{
	const struct fetch_blame upstream = {
	    "EXTERNAL_SERVICE_ERROR", "the image the API's answer names",
	    "The image the API's answer names is not a PNG, JPEG or WebP "
	    "picture",
	    GEN_IMAGE_MAX};

	memset(out, 0, sizeof(*out));
	return fetched(c, fetch_remote(c, url, &upstream, out), &upstream, out);
}
