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
 */
#ifndef SJ_GEN_OPENAI_H
#define SJ_GEN_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "gen.h"

#define OPENAI_URL_MAX 2048 /* bytes of a request URL or an answer's URL */

/* The model setting a call depends on, for messages that name it. */
struct openai_kind {
	const char *setting; /* "OPENAI_MODEL" */
	const char *model;
	const char *kind; /* "chat" or "image" */
};

struct openai_kind openai_chat_kind(const struct step_ctx *c);
struct openai_kind openai_image_kind(const struct step_ctx *c);

/*
 * POSTs body (taken) to OPENAI_BASE_URL + path, the answer capped at cap
 * bytes.  true: *answer is the parsed JSON answer of a 2xx (the caller
 * puts it), its usage logged.  false: the outcome is recorded -- a
 * refusal classified from the error envelope (lib/openai.c), a malformed
 * answer as a transient upstream failure.
 */
bool openai_post(struct step_ctx *c, const char *path, struct json_object *body,
		 size_t cap, const char *what, const struct openai_kind *k,
		 struct json_object **answer) SJ_WUR;

/* A new JSON string of the formatted text, or NULL. */
struct json_object *openai_text(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* gen_ops.image and gen_ops.cartoon (gen_openai_image.c). */
bool openai_image(struct step_ctx *c, const char *prompt, const char *style,
		  struct gen_image *out) SJ_WUR;
bool openai_cartoon(struct step_ctx *c, const char *prompt, const char *style,
		    const char *url, struct gen_image *out) SJ_WUR;

#endif
