/*
 * What the project knows of the OpenAI API, shared by the worker's openai
 * provider and storyjobsctl: the request shape each model family takes,
 * the error envelope and what each error means for a job, token usage,
 * and the Models API (which configured model is listed, which one is
 * retiring).  Nothing here makes a job fail or prints: callers decide.
 * openai.c holds the requests and the errors (and the scrubbing of keys
 * from what an answer says), openai_models.c the Models API.
 *
 * Request shapes (a table keyed by model-name prefix, see openai.c):
 *   chat, classic (gpt-3.5*, gpt-4*: gpt-4o, gpt-4.1)
 *       max_tokens (capped at what each model accepts, none for the
 *       8k-context gpt-4), temperature
 *   chat, reasoning (o1*, o3*, o4*, gpt-5*, gpt-6*)
 *       max_completion_tokens, reasoning_effort; no temperature (these
 *       models refuse any value but the default)
 *   chat, any other model: the current shape, max_completion_tokens only
 *   images, dall-e-*: n, size, response_format b64_json
 *   images, any other model (gpt-image-*): n, size, quality,
 *       output_format png; never response_format, which GPT image models
 *       refuse (they always answer base64)
 */
#ifndef SJ_OPENAI_H
#define SJ_OPENAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "cfg.h"
#include "err.h"

/* Completion tokens asked for (reasoning included), when the model allows. */
#define OAI_CHAT_TOKENS	     8192
#define OAI_TEMPERATURE	     0.8 /* classic chat models only */
#define OAI_REASONING_EFFORT "low"
#define OAI_DATE_LEN	     10		/* YYYY-MM-DD */
#define OAI_MODELS_MAX	     (4u << 20) /* bytes of a GET /models answer */

enum oai_chat_shape {
	OAI_CHAT_CURRENT = 0, /* max_completion_tokens */
	OAI_CHAT_CLASSIC,     /* max_tokens, temperature */
	OAI_CHAT_REASONING,   /* max_completion_tokens, reasoning_effort */
};

enum oai_image_shape {
	OAI_IMAGE_GPT = 0, /* quality, output_format; base64 answers */
	OAI_IMAGE_DALLE,   /* response_format b64_json */
};

enum oai_chat_shape oai_chat_shape(const char *model);
enum oai_image_shape oai_image_shape(const char *model);
/*
 * The completion-token limit a chat request for model carries: at most
 * OAI_CHAT_TOKENS and never more than the model's family accepts (4096
 * for gpt-3.5* and gpt-4-turbo*); 0 when none is sent (gpt-4 and
 * gpt-4-32k, whose context holds the prompt and the answer together).
 */
int64_t oai_chat_tokens(const char *model);

/*
 * Adds to a chat request body (model and messages already in it) the
 * fields model's family takes, and response_format json_object when
 * json_mode.
 */
enum sj_err oai_chat_fields(struct json_object *body, const char *model,
			    bool json_mode) SJ_WUR;
/* A new image generation request body (*out, the caller puts it). */
enum sj_err oai_image_body(const char *model, const char *prompt,
			   const char *size, const char *quality,
			   struct json_object **out) SJ_WUR;

/*
 * The error envelope {"error":{"message","type","param","code"}}: every
 * field scrubbed (oai_scrub) and cut at a character boundary.
 */
struct oai_error {
	long status;
	char code[64]; /* "" when absent */
	char type[64];
	char param[64];
	char message[200]; /* shortened; "" when absent */
};

/*
 * Fills err from a non-2xx answer; fields the body lacks stay "".  key
 * is the configured API key (may be NULL), scrubbed from every field.
 */
void oai_error_parse(long status, const char *body, size_t len, const char *key,
		     struct oai_error *err);

/*
 * Copies the text in into out (outsz > 0), cut at a character boundary
 * to fit, with every secret replaced by "[redacted]": the configured key
 * (when it has at least OAI_KEY_MIN bytes) wherever it occurs, and each
 * word that looks like a key -- one starting "sk-" or "sk_" (OpenAI's
 * key prefixes), one starting with the key's first 8 bytes, one holding
 * the key, or a masked form ('*' and the key's last 4 bytes), as a 401
 * answer shows it.  A word is a run of letters, digits and "-_.*".
 * Returns the length written.
 */
#define OAI_KEY_MIN 8
size_t oai_scrub(const char *in, const char *key, char *out, size_t outsz);

enum oai_fault {
	OAI_FAULT_TRANSIENT = 0, /* 408, 425, 429 (not quota), 5xx */
	OAI_FAULT_PERMANENT,	 /* any other refusal */
	OAI_FAULT_MODEL,	 /* the model does not exist or was retired */
	OAI_FAULT_REQUEST,	 /* the model refuses a parameter we sent */
	OAI_FAULT_KEY,		 /* 401, 403: the key was refused */
	OAI_FAULT_QUOTA,	 /* 429 insufficient_quota: billing, not load */
	OAI_FAULT_URL,		 /* 404 that is not about a model */
};

enum oai_fault oai_error_fault(const struct oai_error *err);
/* True when a job should try again later. */
bool oai_fault_transient(enum oai_fault f);
/*
 * One line saying what went wrong and which setting to change, e.g.
 * "OPENAI_IMAGE_MODEL=dall-e-3: the model does not exist or was retired
 * (model_not_found); set OPENAI_IMAGE_MODEL to a current image model".
 * setting names the model setting of the call ("OPENAI_MODEL" or
 * "OPENAI_IMAGE_MODEL"), kind is "chat" or "image".  A refused key or an
 * exhausted quota gets a fixed line naming OPENAI_API_KEY, with no text
 * of the answer.  Cut at a character boundary to fit outsz.
 */
void oai_error_text(const struct oai_error *err, const char *setting,
		    const char *model, const char *kind, char *out,
		    size_t outsz);
/*
 * The same for a refused GET /models (url): a 404 points at
 * OPENAI_BASE_URL, a refused key at OPENAI_API_KEY; no model setting is
 * named, as the listing is about none of them.
 */
void oai_list_error_text(const struct oai_error *err, const char *url,
			 char *out, size_t outsz);

/* Token usage of an answer (chat or images); all -1 when absent. */
struct oai_usage {
	int64_t input, output, total;
	int64_t image_input; /* images: input image tokens, else -1 */
};
void oai_usage_parse(struct json_object *answer, struct oai_usage *u);

/* ---- the Models API ---- */

/*
 * A model as GET /models describes it.  shutdown is "" when no date is
 * known; from_table when the date comes from the built-in table because
 * the server's entry carries no shutdown_date field at all (a null one
 * means "none announced" and is believed).
 */
struct oai_model_state {
	bool listed;
	bool from_table;
	char shutdown[OAI_DATE_LEN + 1];
};

/*
 * Finds model in a parsed GET /models answer ({"data":[{"id",...}]}).
 * Entries that are not objects or have no usable id (a string of at most
 * 256 bytes) are skipped.  SJ_EINVAL when data is not an array, or the
 * model's own entry has a malformed shutdown_date.
 */
enum sj_err oai_models_find(struct json_object *list, const char *model,
			    struct oai_model_state *st) SJ_WUR;
/*
 * The shutdown date OpenAI announced for model or one of its dated
 * snapshots (from the deprecations page), or NULL.
 */
const char *oai_known_shutdown(const char *model);

enum oai_verdict {
	OAI_MODEL_OK =
	    0, /* listed, no date, or only OpenAI's for another server */
	OAI_MODEL_RETIRING, /* listed, shuts down after today */
	OAI_MODEL_GONE,	    /* not listed, or the server's date has passed */
};

/*
 * The verdict on one configured model (setting=model) with one line
 * explaining it in line.  today is "YYYY-MM-DD" (UTC).
 */
enum oai_verdict oai_model_judge(const char *setting, const char *model,
				 const struct oai_model_state *st,
				 const char *today, char *line, size_t linesz);

#define OAI_URL_MAX  2048 /* bytes of a request URL */
#define OAI_AUTH_MAX 1024 /* bytes of the Authorization header line */

/* Where one request goes: the URL and the header carrying the key. */
struct oai_target {
	char url[OAI_URL_MAX];	 /* {OPENAI_BASE_URL}{path} */
	char auth[OAI_AUTH_MAX]; /* "Authorization: Bearer {OPENAI_API_KEY}" */
};

/* The target of path ("/models"); SJ_EINVAL when either does not fit. */
enum sj_err oai_target(const struct cfg *c, const char *path,
		       struct oai_target *t) SJ_WUR;

/* Today's date in UTC as YYYY-MM-DD. */
void oai_today(char out[OAI_DATE_LEN + 1]);

/*
 * GET {OPENAI_BASE_URL}/models with the key, under HTTP_API (https, or
 * plain http to loopback), within timeout_ms.  On SJ_OK *list is the
 * parsed answer (the caller puts it); otherwise why says what failed
 * (oai_list_error_text for a refusal; never the key).
 */
enum sj_err oai_models_get(const struct cfg *c, long timeout_ms,
			   struct json_object **list, char *why,
			   size_t whysz) SJ_WUR;

/*
 * Checks OPENAI_MODEL and OPENAI_IMAGE_MODEL against list: emit gets one
 * line per model with its verdict.  Returns the worst verdict.
 */
enum oai_verdict oai_check_models(
    const struct cfg *c, struct json_object *list, const char *today,
    void (*emit)(enum oai_verdict v, const char *line, void *ctx), void *ctx);

#endif
