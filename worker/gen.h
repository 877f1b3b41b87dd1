/*
 * Generation providers and what the handlers share around them.
 *
 * The handler side (takes a step_ctx):
 *   gen.c         provider choice, the provider context (gen_ctx_of) and
 *                 the failure record's outcome (gen_failed),
 *                 checkpoints, the media cache, storing images
 *   job_local.c   the offline provider inside a job (gen_local_ops)
 *   job_openai.c  the openai provider inside a job (gen_openai_ops)
 * The providers (no job attached, never step.h/pool.h/slots.h; checked
 * by tools/include-graph.sh):
 *   gen_types.c   what providers and handlers exchange: images, the
 *                 failure record, the provider context (gen_ctx)
 *   gen_http.c    one upstream call and images fetched by URL
 *   gen_local.c   the offline provider (story writer, splitter, scene
 *                 cards, photo cartoonize)
 *   gen_openai.c  an OpenAI-compatible API: chat (stories, scenes,
 *                 descriptions); gen_openai_image.c its illustrations,
 *                 gen_openai_call.c one call to it (budget, usage)
 *
 * A provider function returns false with a failure record (gen_fail):
 * failed, aborted, deferred, or ended by a handler hook; the job_*.c
 * op records it with gen_failed() and the handler returns at once.
 * Upstream failures are EXTERNAL_SERVICE_ERROR, transient for
 * 429/5xx/timeouts/malformed answers, permanent for other 4xx.
 */
#ifndef SJ_GEN_H
#define SJ_GEN_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "buf.h"
#include "http.h"
#include "store.h"

#include "gen_http.h"
#include "gen_types.h"
#include "step.h"

struct gen_ops {
	const char *name;
	/* A story: a title line, a blank line, paragraphs (CONTRACT 1). */
	bool (*story)(struct step_ctx *c, const char *genre,
		      const char *character, const char *audience,
		      struct buf *out);
	/* pages [{pageNumber, scenes [{description, emotion, imagePrompt}]}] */
	bool (*scenes)(struct step_ctx *c, const char *story,
		       const char *audience, struct json_object **pages);
	/* A short description of the character in the image at url. */
	bool (*describe)(struct step_ctx *c, const char *url,
			 char out[GEN_DESC_MAX]);
	/* An illustration of prompt in style. */
	bool (*image)(struct step_ctx *c, const char *prompt, const char *style,
		      struct gen_image *out);
	/* A cartoon of the photo at url ("" : of prompt alone) in style. */
	bool (*cartoon)(struct step_ctx *c, const char *prompt,
			const char *style, const char *url,
			struct gen_image *out);
	/*
	 * Optional: an illustration of s that draws its hero and caption
	 * itself.  NULL: the provider's image() of s->prompt.
	 */
	bool (*scene)(struct step_ctx *c, const struct gen_scene *s,
		      struct gen_image *out);
	/*
	 * Optional, with scene: prepares h->made once (before any cache
	 * key of the book is made) and sets h->face.
	 */
	bool (*hero)(struct step_ctx *c, struct gen_hero *h);
};

extern const struct gen_ops gen_local_ops;
/* job_openai.c */
extern const struct gen_ops gen_openai_ops;

/* The provider context of the job in c (the hooks are step helpers). */
void gen_ctx_of(struct step_ctx *c, struct gen_ctx *g);
/* Records f as the job's outcome (see enum gen_end); returns false. */
bool gen_failed(struct step_ctx *c, const struct gen_fail *f);

/* The configured provider (GENERATION_PROVIDER). */
const struct gen_ops *gen_provider(const struct cfg *c);

/*
 * An illustration of s by the configured provider: its scene op, else
 * its image() of s->prompt.  The parts s adds to a cache key (see
 * gen_key) are the caption and the hero's description, picture and face
 * (the hero is prepared first), and only with a scene op: *n is set to
 * how many of parts[4] were written.  false: the job failed.
 */
bool gen_scene_image(struct step_ctx *c, const struct gen_scene *s,
		     struct gen_image *out) SJ_WUR;
bool gen_scene_key_parts(struct step_ctx *c, const struct gen_scene *s,
			 const char *parts[4], size_t *n) SJ_WUR;

/*
 * "<prefix>-<32 hex of HMAC-SHA256, under the server key, of the
 * provider's name and parts>": the key
 * a generated image is cached and checkpointed under and (with its
 * extension) stored as, so the same input always lands on the same name.
 * At most GEN_PARTS_MAX parts.
 */
#define GEN_PARTS_MAX 7
/*
 * Counts one paid provider call against the job type's MAX_CALLS, saved
 * in the checkpoint before the call is made; false (the job failed for
 * good with QUOTA_EXCEEDED, or the save failed) means make no call.
 */
bool gen_paid_call(struct step_ctx *c) SJ_WUR;

/* Reads the server's key for names (sql/012); once, before any job. */
enum sj_err gen_names_init(struct db *db) SJ_WUR;
bool gen_key(struct step_ctx *c, const char *prefix, const char *const *parts,
	     size_t n, char key[GEN_NAME_MAX]) SJ_WUR;

/*
 * Checkpoints: c->job->checkpoint is an object of step results.
 * gen_ckpt() borrows the value under key (NULL when absent);
 * gen_ckpt_str() the same for a string.  gen_ckpt_save() adds val (the
 * reference is taken, also on failure) and saves the checkpoint.
 */
struct json_object *gen_ckpt(struct step_ctx *c, const char *key);
const char *gen_ckpt_str(struct step_ctx *c, const char *key);
bool gen_ckpt_save(struct step_ctx *c, const char *key,
		   struct json_object *val) SJ_WUR;
/*
 * The provider's description of the picture at url, kept in the
 * checkpoint under key: a resumed job does not pay for it again.
 */
bool gen_describe_once(struct step_ctx *c, const char *key, const char *url,
		       char out[GEN_DESC_MAX]) SJ_WUR;

/*
 * The media cache (shared by all jobs and workers): the URL stored for a
 * name, so an equal input is served without a call.  gen_cache_get()
 * returns false on a miss (a database error is a miss); *mine says the
 * image was made for this job's owner, the only case a job reports as
 * cached (a hit on another's picture looks like a fresh one).
 */
bool gen_cache_get(struct step_ctx *c, const char *key, char url[STORE_URL_MAX],
		   bool *mine);
/*
 * The image for key: the media cache's URL (*cached = true when it was
 * made for this job's owner), or one made
 * by make(c, arg, &img), stored and cached.  The cache is also the
 * checkpoint of image steps: once stored, an image is never paid for
 * again, by this job or any other.
 */
typedef bool (*gen_make_fn)(struct step_ctx *c, void *arg,
			    struct gen_image *out);
bool gen_image_for(struct step_ctx *c, const char *key, gen_make_fn make,
		   void *arg, char url[STORE_URL_MAX], bool *cached) SJ_WUR;
/* Stores img as "<key>.<ext>", records it in the cache, writes its URL. */
bool gen_store(struct step_ctx *c, const char *key, const struct gen_image *img,
	       char url[STORE_URL_MAX]) SJ_WUR;

#endif
