/*
 * DESIGN
 * Models come and go faster than releases of this project, so nothing
 * here lists the models we may use.  Small tables say what the API needs
 * to know instead (the Models API and its shutdown dates are in
 * openai_models.c):
 *   - chat and image families keyed by model-name prefix, each naming a
 *     request shape (and for chat the completion tokens the family
 *     accepts); a model no prefix matches gets the current shape (the one
 *     today's models take), so a new model works unchanged;
 *   - what an error envelope means: a missing or retired model, a refused
 *     parameter, a refused key or an exhausted quota fail a job at once
 *     with a line naming the setting to change; 408/425/429/5xx are worth
 *     a retry.
 * Answers are untrusted: parsed strictly, type-checked, every copied
 * string cut at a character boundary (PostgreSQL refuses half a
 * character).  What an answer says may reach a job's error and the logs,
 * so each copied string is scrubbed of the key first: OpenAI's own 401
 * shows part of it, a proxy may echo all of it.  A refused key or quota
 * is reported with a fixed line that names OPENAI_API_KEY and carries no
 * text of the answer at all.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "jsonv.h"
#include "openai.h"

#define NITEMS(a)    (sizeof(a) / sizeof((a)[0]))
#define OAI_TEXT_MAX 1024 /* longest line the error texts make */
#define REDACTED     "[redacted]"

struct chat_family {
	const char *prefix;
	enum oai_chat_shape shape;
	int64_t tokens; /* completion tokens sent; 0: none */
};

/*
 * The first matching prefix wins: a longer prefix goes before one it
 * extends.  Classic models take max_tokens up to their output limit:
 * 4096 for gpt-3.5*, the gpt-4-turbo family (gpt-4-1106, gpt-4-0125,
 * gpt-4-vision) and gpt-4o's first snapshot; gpt-4 and gpt-4-32k share
 * one context between the prompt and the answer, so a number that fits
 * alone fails with a long prompt: they get none, as the API then allows
 * what is left.
 */
static const struct chat_family chat_families[] = {
    {"gpt-3.5", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4o-2024-05-13", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4o", OAI_CHAT_CLASSIC, OAI_CHAT_TOKENS},
    {"gpt-4.1", OAI_CHAT_CLASSIC, OAI_CHAT_TOKENS},
    {"gpt-4-turbo", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4-1106", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4-0125", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4-vision", OAI_CHAT_CLASSIC, 4096},
    {"gpt-4", OAI_CHAT_CLASSIC, 0},
    {"o1", OAI_CHAT_REASONING, OAI_CHAT_TOKENS},
    {"o3", OAI_CHAT_REASONING, OAI_CHAT_TOKENS},
    {"o4", OAI_CHAT_REASONING, OAI_CHAT_TOKENS},
    {"gpt-5", OAI_CHAT_REASONING, OAI_CHAT_TOKENS},
    {"gpt-6", OAI_CHAT_REASONING, OAI_CHAT_TOKENS},
};

struct image_family {
	const char *prefix;
	enum oai_image_shape shape;
};

static const struct image_family image_families[] = {
    {"dall-e-", OAI_IMAGE_DALLE},
    {"gpt-image-", OAI_IMAGE_GPT},
    {"chatgpt-image-", OAI_IMAGE_GPT},
};

static bool
has_prefix(const char *s, const char *prefix)
{
	return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The chat family of model, or NULL for the current shape. */
static const struct chat_family *
chat_family(const char *model)
{
	for (size_t i = 0; i < NITEMS(chat_families); i++)
		if (has_prefix(model, chat_families[i].prefix))
			return &chat_families[i];
	return NULL;
}

enum oai_chat_shape
oai_chat_shape(const char *model)
{
	const struct chat_family *f = chat_family(model);

	return f != NULL ? f->shape : OAI_CHAT_CURRENT;
}

int64_t
oai_chat_tokens(const char *model)
{
	const struct chat_family *f = chat_family(model);

	return f != NULL ? f->tokens : OAI_CHAT_TOKENS;
}

enum oai_image_shape
oai_image_shape(const char *model)
{
	for (size_t i = 0; i < NITEMS(image_families); i++)
		if (has_prefix(model, image_families[i].prefix))
			return image_families[i].shape;
	return OAI_IMAGE_GPT;
}

enum sj_err
oai_chat_fields(struct json_object *body, const char *model, bool json_mode)
{
	enum oai_chat_shape s = oai_chat_shape(model);
	int64_t tokens = oai_chat_tokens(model);
	struct json_object *fmt;
	enum sj_err e = SJ_OK;

	if (tokens > 0)
		e = jv_add_i64(body,
			       s == OAI_CHAT_CLASSIC ? "max_tokens"
						     : "max_completion_tokens",
			       tokens);
	if (e == SJ_OK && s == OAI_CHAT_CLASSIC)
		e = jv_add(body, "temperature",
			   json_object_new_double(OAI_TEMPERATURE));
	if (e == SJ_OK && s == OAI_CHAT_REASONING)
		e = jv_add_str(body, "reasoning_effort", OAI_REASONING_EFFORT);
	if (e != SJ_OK || !json_mode)
		return e;
	if ((fmt = json_object_new_object()) == NULL ||
	    jv_add_str(fmt, "type", "json_object") != SJ_OK) {
		json_object_put(fmt);
		return SJ_ENOMEM;
	}
	return jv_add(body, "response_format", fmt);
}

enum sj_err
oai_image_body(const char *model, const char *prompt, const char *size,
	       const char *quality, struct json_object **out)
{
	struct json_object *b = json_object_new_object();
	bool dalle = oai_image_shape(model) == OAI_IMAGE_DALLE;
	enum sj_err e = b ? SJ_OK : SJ_ENOMEM;

	if (e == SJ_OK && (e = jv_add_str(b, "model", model)) == SJ_OK &&
	    (e = jv_add_str(b, "prompt", prompt)) == SJ_OK &&
	    (e = jv_add_i64(b, "n", 1)) == SJ_OK)
		e = jv_add_str(b, "size", size);
	if (e == SJ_OK && dalle)
		e = jv_add_str(b, "response_format", "b64_json");
	if (e == SJ_OK && !dalle &&
	    (e = jv_add_str(b, "quality", quality)) == SJ_OK)
		e = jv_add_str(b, "output_format", "png");
	if (e != SJ_OK) {
		json_object_put(b);
		b = NULL;
	}
	*out = b;
	return e;
}

/* ---- errors ---- */

/* Appends n bytes of p to out (cut at a character boundary when full). */
static bool
put(char *out, size_t outsz, size_t *used, const char *p, size_t n)
{
	size_t room = outsz - 1 - *used, k = jv_utf8_cut(p, n, room);

	memcpy(out + *used, p, k);
	*used += k;
	out[*used] = '\0';
	return k == n;
}

static bool
word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
	       ch == '.' || ch == '*';
}

/* True when the word w[0..n) may be (part of) a key; see oai_scrub. */
static bool
secret_word(const char *w, size_t n, const char *key, size_t klen)
{
	size_t m = n;

	if (n > 3 && (strncmp(w, "sk-", 3) == 0 || strncmp(w, "sk_", 3) == 0))
		return true;
	if (klen == 0)
		return false;
	if (memmem(w, n, key, klen) != NULL ||
	    (n >= 8 && memcmp(w, key, 8) == 0))
		return true;
	while (m > 0 && w[m - 1] == '.')
		m--; /* the end of a sentence */
	return memchr(w, '*', m) != NULL && m > 4 &&
	       memcmp(w + m - 4, key + klen - 4, 4) == 0;
}

size_t
oai_scrub(const char *in, const char *key, char *out, size_t outsz)
{
	size_t klen = key != NULL ? strlen(key) : 0, len = strlen(in);
	size_t i = 0, used = 0;
	bool room = true;

	out[0] = '\0';
	if (klen < OAI_KEY_MIN)
		klen = 0;
	while (i < len && room) {
		size_t j = i + 1;

		if (klen > 0 && strncmp(in + i, key, klen) == 0) {
			room =
			    put(out, outsz, &used, REDACTED, strlen(REDACTED));
			i += klen;
			continue;
		}
		if (word_char(in[i])) {
			while (j < len && word_char(in[j]))
				j++;
			if (secret_word(in + i, j - i, key, klen))
				room = put(out, outsz, &used, REDACTED,
					   strlen(REDACTED));
			else
				room = put(out, outsz, &used, in + i, j - i);
		} else {
			while (j < len && !word_char(in[j]) &&
			       (klen == 0 || strncmp(in + j, key, klen) != 0))
				j++;
			room = put(out, outsz, &used, in + i, j - i);
		}
		i = j;
	}
	return used;
}

/* Copies the string field name of o, scrubbed and cut to fit, or "". */
static void
copy_field(struct json_object *o, const char *name, const char *key, char *out,
	   size_t outsz)
{
	const char *s = NULL;

	out[0] = '\0';
	if (jv_str(o, name, 1u << 16, &s) == SJ_OK)
		(void)oai_scrub(s, key, out, outsz);
}

void
oai_error_parse(long status, const char *body, size_t len, const char *key,
		struct oai_error *err)
{
	struct json_object *o = NULL, *e = NULL;
	const char *why;

	memset(err, 0, sizeof(*err));
	err->status = status;
	if (body == NULL ||
	    json_parse_strict(body, len, JSONV_DEPTH, &o, &why) != SJ_OK)
		return;
	if (jv_object(o, "error", &e) == SJ_OK) {
		copy_field(e, "message", key, err->message,
			   sizeof(err->message));
		copy_field(e, "type", key, err->type, sizeof(err->type));
		copy_field(e, "param", key, err->param, sizeof(err->param));
		copy_field(e, "code", key, err->code, sizeof(err->code));
	}
	json_object_put(o);
}

static bool
code_is(const struct oai_error *err, const char *code)
{
	return strcmp(err->code, code) == 0;
}

/*
 * A 404 about a model: model_not_found, or a message naming a model
 * that is not OpenAI's answer to a wrong path ("Invalid URL (GET
 * /models)").
 */
static bool
model_missing(const struct oai_error *err)
{
	return code_is(err, "model_not_found") ||
	       (err->status == 404 && strstr(err->message, "model") != NULL &&
		strncmp(err->message, "Invalid URL", 11) != 0);
}

enum oai_fault
oai_error_fault(const struct oai_error *err)
{
	if (model_missing(err))
		return OAI_FAULT_MODEL;
	if (err->status == 429 && code_is(err, "insufficient_quota"))
		return OAI_FAULT_QUOTA;
	if (http_status_transient(err->status))
		return OAI_FAULT_TRANSIENT;
	if (err->status == 401 || err->status == 403)
		return OAI_FAULT_KEY;
	if (err->status == 400 && (code_is(err, "unknown_parameter") ||
				   code_is(err, "unsupported_parameter") ||
				   code_is(err, "unsupported_value")))
		return OAI_FAULT_REQUEST;
	if (err->status == 404)
		return OAI_FAULT_URL;
	return OAI_FAULT_PERMANENT;
}

bool
oai_fault_transient(enum oai_fault f)
{
	return f == OAI_FAULT_TRANSIENT;
}

static void text_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf that cuts at a character boundary (at most OAI_TEXT_MAX). */
static void
text_fmt(char *out, size_t outsz, const char *fmt, ...)
{
	char tmp[OAI_TEXT_MAX + 4];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	if (n < 0)
		return;
	n = (int)jv_utf8_cut(tmp, strlen(tmp),
			     outsz - 1 < OAI_TEXT_MAX ? outsz - 1
						      : OAI_TEXT_MAX);
	memcpy(out, tmp, (size_t)n);
	out[n] = '\0';
}

/* "code" or "HTTP <status>" */
static void
err_label(const struct oai_error *err, char *out, size_t outsz)
{
	if (err->code[0] != '\0')
		text_fmt(out, outsz, "%s", err->code);
	else
		text_fmt(out, outsz, "HTTP %ld", err->status);
}

/*
 * The fixed lines of a refused key and of an exhausted quota: nothing of
 * the answer, whose text may hold part of the key.
 */
static bool
key_text(const struct oai_error *err, char *out, size_t outsz)
{
	switch (oai_error_fault(err)) {
	case OAI_FAULT_KEY:
		text_fmt(out, outsz,
			 err->status == 403
			     ? "OPENAI_API_KEY was refused (HTTP 403): the key "
			       "may not use this model or project, or the "
			       "account's region is not served; check the key "
			       "in OPENAI_API_KEY"
			     : "OPENAI_API_KEY was refused (HTTP %ld): set "
			       "OPENAI_API_KEY to a valid key",
			 err->status);
		return true;
	case OAI_FAULT_QUOTA:
		text_fmt(out, outsz,
			 "the account of OPENAI_API_KEY has no quota left "
			 "(insufficient_quota): check its plan and billing");
		return true;
	default:
		return false;
	}
}

void
oai_error_text(const struct oai_error *err, const char *setting,
	       const char *model, const char *kind, char *out, size_t outsz)
{
	char label[80];

	if (key_text(err, out, outsz))
		return;
	err_label(err, label, sizeof(label));
	switch (oai_error_fault(err)) {
	case OAI_FAULT_MODEL:
		text_fmt(out, outsz,
			 "%s=%s: the model does not exist or was retired "
			 "(%s); set %s to a current %s model",
			 setting, model, label, setting, kind);
		break;
	case OAI_FAULT_REQUEST:
		text_fmt(out, outsz,
			 "%s=%s refused the parameter '%s' (%s): %s; set %s "
			 "to a current %s model",
			 setting, model, err->param, label, err->message,
			 setting, kind);
		break;
	case OAI_FAULT_URL:
		text_fmt(out, outsz,
			 "the API answered 404 (%s): check OPENAI_BASE_URL",
			 label);
		break;
	default:
		text_fmt(out, outsz, "HTTP %ld%s%s", err->status,
			 err->message[0] ? ": " : "", err->message);
	}
}

void
oai_list_error_text(const struct oai_error *err, const char *url, char *out,
		    size_t outsz)
{
	char label[80];

	if (key_text(err, out, outsz))
		return;
	err_label(err, label, sizeof(label));
	if (err->status == 404)
		text_fmt(out, outsz,
			 "GET %s answered 404 (%s): check OPENAI_BASE_URL "
			 "(the API's base, e.g. https://api.openai.com/v1)",
			 url, label);
	else
		text_fmt(out, outsz, "GET %s: HTTP %ld%s%s", url, err->status,
			 err->message[0] ? ": " : "", err->message);
}

/* ---- usage ---- */

static int64_t
count_of(struct json_object *o, const char *key)
{
	int64_t v;

	return jv_i64(o, key, 0, INT64_MAX / 2, &v) == SJ_OK ? v : -1;
}

void
oai_usage_parse(struct json_object *answer, struct oai_usage *u)
{
	struct json_object *us = NULL, *det = NULL;

	u->input = u->output = u->total = u->image_input = -1;
	if (jv_object(answer, "usage", &us) != SJ_OK)
		return;
	/* chat answers count prompt/completion, image answers input/output */
	if ((u->input = count_of(us, "prompt_tokens")) < 0)
		u->input = count_of(us, "input_tokens");
	if ((u->output = count_of(us, "completion_tokens")) < 0)
		u->output = count_of(us, "output_tokens");
	u->total = count_of(us, "total_tokens");
	if (jv_object(us, "input_tokens_details", &det) == SJ_OK)
		u->image_input = count_of(det, "image_tokens");
}

enum sj_err
oai_target(const struct cfg *c, const char *path, struct oai_target *t)
{
	const char *key = c->openai_api_key ? c->openai_api_key : "";

	if ((size_t)snprintf(t->url, sizeof(t->url), "%s%s", c->openai_base_url,
			     path) >= sizeof(t->url) ||
	    (size_t)snprintf(t->auth, sizeof(t->auth),
			     "Authorization: Bearer %s",
			     key) >= sizeof(t->auth))
		return SJ_EINVAL;
	return SJ_OK;
}
