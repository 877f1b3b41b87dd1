/*
 * DESIGN
 * Models come and go faster than releases of this project, so nothing
 * here lists the models we may use.  Three small tables say what the API
 * needs to know instead:
 *   - chat and image families keyed by model-name prefix, each naming a
 *     request shape (and for chat the completion tokens the family
 *     accepts); a model no prefix matches gets the current shape (the one
 *     today's models take), so a new model works unchanged;
 *   - the shutdown dates OpenAI announced on its deprecations page, used
 *     only when a server's GET /models entry carries no shutdown_date
 *     field at all.  The API reference documents shutdown_date on each
 *     model ("YYYY-MM-DD", or null when none is announced) and that is
 *     what we believe first; OpenAI-compatible servers often omit the
 *     field, and there the table still warns of a known retirement.  A
 *     date from the table is only ever a warning: a server that still
 *     lists the model serves it.  The table wants a line when the
 *     deprecations page announces a model we may be configured with;
 *     missing a line costs a warning, never a failure;
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
#include <time.h>

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

/* ---- models ---- */

struct known_shutdown {
	const char *model;
	const char *date;
};

/*
 * Shutdown dates from OpenAI's deprecations page: each name covers its
 * dated snapshots ("<name>-<digit>..."), exact names win.
 */
static const struct known_shutdown known_shutdowns[] = {
    {"gpt-4o-2024-05-13", "2026-10-23"},
    {"dall-e-2", "2026-05-12"},
    {"dall-e-3", "2026-05-12"},
    {"gpt-3.5-turbo", "2026-10-23"},
    {"gpt-4", "2026-10-23"},
    {"gpt-4-turbo", "2026-10-23"},
    {"gpt-4.1-nano", "2026-10-23"},
    {"o1", "2026-10-23"},
    {"o1-pro", "2026-10-23"},
    {"o3-mini", "2026-10-23"},
    {"o4-mini", "2026-10-23"},
    {"gpt-image-1", "2026-10-23"},
    {"gpt-image-1-mini", "2026-12-01"},
    {"gpt-image-1.5", "2026-12-01"},
    {"chatgpt-image-latest", "2026-12-01"},
    {"gpt-5", "2026-12-11"},
    {"gpt-5-mini", "2026-12-11"},
    {"gpt-5-nano", "2026-12-11"},
    {"gpt-5-pro", "2026-12-11"},
    {"o3", "2026-12-11"},
    {"o3-pro", "2026-12-11"},
    {"gpt-4o", "2027-01-14"},
    {"gpt-4o-mini", "2027-01-14"},
    {"gpt-4.1", "2027-01-14"},
    {"gpt-4.1-mini", "2027-01-14"},
    {"gpt-5.1", "2027-04-01"},
    {"gpt-5.3-codex", "2027-04-01"},
    {"gpt-5.4-nano", "2027-04-01"},
};

const char *
oai_known_shutdown(const char *model)
{
	for (size_t i = 0; model != NULL && i < NITEMS(known_shutdowns); i++)
		if (strcmp(model, known_shutdowns[i].model) == 0)
			return known_shutdowns[i].date;
	for (size_t i = 0; model != NULL && i < NITEMS(known_shutdowns); i++) {
		size_t n = strlen(known_shutdowns[i].model);

		if (strncmp(model, known_shutdowns[i].model, n) == 0 &&
		    model[n] == '-' && model[n + 1] >= '0' &&
		    model[n + 1] <= '9')
			return known_shutdowns[i].date;
	}
	return NULL;
}

/* "YYYY-MM-DD" with digits where digits go. */
static bool
date_ok(const char *s)
{
	if (strlen(s) != OAI_DATE_LEN || s[4] != '-' || s[7] != '-')
		return false;
	for (size_t i = 0; i < OAI_DATE_LEN; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* Reads the entry's shutdown_date into st; false when it is malformed. */
static bool
entry_date(struct json_object *m, const char *model, struct oai_model_state *st)
{
	struct json_object *v;
	const char *known;

	if (!json_object_object_get_ex(m, "shutdown_date", &v)) {
		if ((known = oai_known_shutdown(model)) != NULL) {
			snprintf(st->shutdown, sizeof(st->shutdown), "%s",
				 known);
			st->from_table = true;
		}
		return true;
	}
	if (v == NULL)
		return true; /* null: none announced */
	if (!json_object_is_type(v, json_type_string) ||
	    !date_ok(json_object_get_string(v)))
		return false;
	snprintf(st->shutdown, sizeof(st->shutdown), "%s",
		 json_object_get_string(v));
	return true;
}

enum sj_err
oai_models_find(struct json_object *list, const char *model,
		struct oai_model_state *st)
{
	struct json_object *data;
	size_t n;

	memset(st, 0, sizeof(*st));
	if (jv_array(list, "data", &data) != SJ_OK)
		return SJ_EINVAL;
	n = json_object_array_length(data);
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(data, i);
		const char *id;

		/* one odd entry does not spoil the list */
		if (!json_object_is_type(m, json_type_object) ||
		    jv_str(m, "id", 256, &id) != SJ_OK ||
		    strcmp(id, model) != 0)
			continue;
		st->listed = true;
		return entry_date(m, model, st) ? SJ_OK : SJ_EINVAL;
	}
	return SJ_OK;
}

enum oai_verdict
oai_model_judge(const char *setting, const char *model,
		const struct oai_model_state *st, const char *today, char *line,
		size_t linesz)
{
	const char *known = oai_known_shutdown(model);
	bool past = st->shutdown[0] && strcmp(st->shutdown, today) <= 0;

	if (!st->listed) {
		snprintf(line, linesz,
			 "%s=%s: not listed by GET /models: the model does "
			 "not exist, was retired%s%s%s, or this key may not "
			 "use it; set %s to a current model",
			 setting, model,
			 known ? " (OpenAI shut it down on " : "",
			 known ? known : "", known ? ")" : "", setting);
		return OAI_MODEL_GONE;
	}
	if (st->shutdown[0] == '\0') {
		snprintf(line, linesz, "%s=%s: listed, no shutdown date",
			 setting, model);
		return OAI_MODEL_OK;
	}
	if (st->from_table) {
		snprintf(line, linesz,
			 "%s=%s: listed; OpenAI announced its shutdown for "
			 "%s (this server gives no date)%s",
			 setting, model, st->shutdown,
			 past ? "" : ": plan a replacement");
		return past ? OAI_MODEL_OK : OAI_MODEL_RETIRING;
	}
	snprintf(line, linesz,
		 past ? "%s=%s: shut down on %s; set %s to a current model"
		      : "%s=%s: listed, shuts down on %s; set %s to a current "
			"model before then",
		 setting, model, st->shutdown, setting);
	return past ? OAI_MODEL_GONE : OAI_MODEL_RETIRING;
}

void
oai_today(char out[OAI_DATE_LEN + 1])
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(out, OAI_DATE_LEN + 1, "%Y-%m-%d", &tm) != OAI_DATE_LEN)
		snprintf(out, OAI_DATE_LEN + 1, "1970-01-01");
}

enum sj_err
oai_models_get(const struct cfg *c, long timeout_ms, struct json_object **list,
	       char *why, size_t whysz)
{
	char url[2048], auth[1024];
	const char *headers[] = {auth, NULL}, *msg;
	struct http_req req = {.method = "GET",
			       .policy = HTTP_API,
			       .headers = headers,
			       .timeout_ms = timeout_ms,
			       .connect_timeout_ms = timeout_ms,
			       .max_response = OAI_MODELS_MAX};
	struct http_resp resp;
	struct oai_error err;
	enum sj_err e;

	*list = NULL;
	if ((size_t)snprintf(url, sizeof(url), "%s/models",
			     c->openai_base_url) >= sizeof(url) ||
	    (size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			     c->openai_api_key ? c->openai_api_key : "") >=
		sizeof(auth)) {
		snprintf(why, whysz, "OPENAI_BASE_URL or the key is too long");
		return SJ_EINVAL;
	}
	req.url = url;
	if ((e = http_do(&req, &resp)) != SJ_OK) {
		snprintf(why, whysz, "GET %s: %s", url, sj_strerror(e));
	} else if (resp.status < 200 || resp.status >= 300) {
		oai_error_parse(resp.status, resp.body.data, resp.body.len,
				c->openai_api_key, &err);
		oai_list_error_text(&err, url, why, whysz);
		e = SJ_EPERMANENT;
	} else if (json_parse_strict(resp.body.data, resp.body.len, JSONV_DEPTH,
				     list, &msg) != SJ_OK) {
		snprintf(why, whysz, "GET %s: a malformed answer (%s)", url,
			 msg);
		e = SJ_EINVAL;
	}
	http_resp_free(&resp);
	return e;
}

enum oai_verdict
oai_check_models(const struct cfg *c, struct json_object *list,
		 const char *today,
		 void (*emit)(enum oai_verdict v, const char *line, void *ctx),
		 void *ctx)
{
	const char *const settings[2][2] = {
	    {"OPENAI_MODEL", c->openai_model},
	    {"OPENAI_IMAGE_MODEL", c->openai_image_model}};
	enum oai_verdict worst = OAI_MODEL_OK;
	struct oai_model_state st;
	char line[512];

	for (size_t i = 0; i < 2; i++) {
		enum oai_verdict v;

		if (oai_models_find(list, settings[i][1], &st) != SJ_OK) {
			emit(OAI_MODEL_GONE,
			     "GET /models answered something other than a "
			     "model list",
			     ctx);
			return OAI_MODEL_GONE;
		}
		v = oai_model_judge(settings[i][0], settings[i][1], &st, today,
				    line, sizeof(line));
		emit(v, line, ctx);
		if (v > worst)
			worst = v;
	}
	return worst;
}
