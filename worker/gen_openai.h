/*
 * The parts of the openai provider, each about one thing; they depend on
 * each other in one direction:
 *
 *   gen_openai.c        chat: stories, scene breakdowns, character
 *                       descriptions; the provider's table (gen_ops)
 *   gen_openai_image.c  illustrations and cartoons (image generations)
 *   gen_openai_call.c   one call: the request, the answer's status read
 *                       from the error envelope, token usage
 *
 * gen_openai.c uses the other two, gen_openai_image.c uses the call.
 * They are a provider: no job attached, a gen_ctx given and a gen_fail
 * returned (never step.h, pool.h or slots.h), so they link and are
 * tested without the worker; job_openai.c runs them inside a job.
 */
#ifndef SJ_GEN_OPENAI_H
#define SJ_GEN_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "cfg.h"

#include "gen_http.h"
#include "gen_types.h"

#define OPENAI_URL_MAX 2048 /* bytes of a request URL or an answer's URL */

/* The model setting a call depends on, for messages that name it. */
struct openai_kind {
	const char *setting; /* "OPENAI_MODEL" */
	const char *model;
	const char *kind; /* "chat" or "image" */
};

struct openai_kind openai_chat_kind(const struct gen_ctx *g);
struct openai_kind openai_image_kind(const struct gen_ctx *g);

/*
 * POSTs body (taken) to OPENAI_BASE_URL + path, the answer capped at cap
 * bytes, after taking its budget and counting it as a paid call.  true:
 * *answer is the parsed JSON answer of a 2xx (the caller puts it), its
 * usage recorded.  false: f says why -- a refusal classified from the
 * error envelope (lib/openai.c), a malformed answer as a transient
 * upstream failure, a wait for the budget or a 429 as GEN_DEFER.
 */
bool openai_post(const struct gen_ctx *g, const char *path,
		 struct json_object *body, size_t cap, const char *what,
		 const struct openai_kind *k, struct json_object **answer,
		 struct gen_fail *f) SJ_WUR;

/* A new JSON string of the formatted text, or NULL. */
struct json_object *openai_text(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* The provider's operations (gen_ops of job_openai.c); false: f. */
bool openai_story(const struct gen_ctx *g, const char *genre,
		  const char *character, const char *audience, struct buf *out,
		  struct gen_fail *f) SJ_WUR;
bool openai_scenes(const struct gen_ctx *g, const char *story,
		   const char *audience, struct json_object **pages,
		   struct gen_fail *f) SJ_WUR;
bool openai_describe(const struct gen_ctx *g, const char *url,
		     char out[GEN_DESC_MAX], struct gen_fail *f) SJ_WUR;
/* openai_describe() kept in the checkpoint under key: paid once. */
bool openai_describe_once(const struct gen_ctx *g, const char *key,
			  const char *url, char out[GEN_DESC_MAX],
			  struct gen_fail *f) SJ_WUR;
/* gen_openai_image.c */
bool openai_image(const struct gen_ctx *g, const char *prompt,
		  const char *style, struct gen_image *out,
		  struct gen_fail *f) SJ_WUR;
bool openai_cartoon(const struct gen_ctx *g, const char *prompt,
		    const char *style, const char *url, struct gen_image *out,
		    struct gen_fail *f) SJ_WUR;

#endif
