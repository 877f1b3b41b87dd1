/*
 * What the handlers share around the providers: the provider choice,
 * the provider context built from a step context and the mapping of a
 * provider's failure record to the job's outcome, checkpoints, the media
 * cache and storing images.
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
 * Providers never touch the job: they are given a gen_ctx (its
 * checkpoint object, deadline, abort check, session and the hooks below,
 * each a step helper) and return a failure record that gen_failed()
 * turns into the step outcome (step_fail_rec, step_aborted, step_defer),
 * so files depend on each other in one direction: handler -> provider.
 */
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "jsonv.h"
#include "log.h"
#include "media.h"
#include "media_names.h"

#include "gen.h"
#include "stats.h"

#define CACHE_HEX 32 /* hex digits of the key in a name */

const struct gen_ops *
gen_provider(const struct cfg *c)
{
	if (c->generation_provider != NULL &&
	    strcmp(c->generation_provider, "openai") == 0)
		return &gen_openai_ops;
	return &gen_local_ops;
}

/* ---- the provider context ---- */

static bool
hook_save(void *arg)
{
	return step_checkpoint(arg);
}

static bool
hook_sleep(void *arg, int64_t ms)
{
	return step_sleep(arg, ms);
}

static bool
hook_paid_call(void *arg)
{
	return gen_paid_call(arg);
}

static void
hook_upstream(void *arg, const struct http_req *req,
	      const struct http_resp *resp, enum sj_err e, bool aborted,
	      int64_t t0_ms)
{
	struct step_ctx *c = arg;

	stats_upstream(c->stats, gen_provider(c->cfg)->name, req, resp, e,
		       aborted, t0_ms);
}

void
gen_ctx_of(struct step_ctx *c, struct gen_ctx *g)
{
	*g = (struct gen_ctx){
	    .cfg = c->cfg,
	    .db = c->db,
	    .lease = &c->lease,
	    .job_id = c->job->id,
	    .ckpt = &c->job->checkpoint,
	    .deadline_ms = c->deadline_ms,
	    .provider = gen_provider(c->cfg)->name,
	    .arg = c,
	    .abort_cb = step_abort_cb,
	    .save = hook_save,
	    .sleep = hook_sleep,
	    .paid_call = hook_paid_call,
	    .upstream = hook_upstream,
	};
}

bool
gen_failed(struct step_ctx *c, const struct gen_fail *f)
{
	switch (f->end) {
	case GEN_ABORTED:
		step_aborted(c);
		break;
	case GEN_DEFER:
		step_defer(c, f->defer_ms, f->why ? f->why : "provider");
		break;
	case GEN_ENDED:
		break; /* the hook set the outcome */
	case GEN_FAILED:
	default:
		step_fail_rec(c, f);
		break;
	}
	return false;
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
