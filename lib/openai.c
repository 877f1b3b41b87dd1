/*
 * DESIGN
 * Models come and go faster than releases of this project, so nothing
 * here lists the models we may use.  Three small tables say what the API
 * needs to know instead:
 *   - chat and image families keyed by model-name prefix, each naming a
 *     request shape; a model no prefix matches gets the current shape
 *     (the one today's models take), so a new model works unchanged;
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
 * string capped.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "jsonv.h"
#include "openai.h"

#define PAIR(a) (sizeof(a) / sizeof((a)[0]))

struct prefix_shape {
	const char *prefix;
	int shape;
};

/* Longest prefix first where one is a prefix of another. */
static const struct prefix_shape chat_families[] = {
    {"gpt-3.5", OAI_CHAT_CLASSIC}, {"gpt-4", OAI_CHAT_CLASSIC},
    {"o1", OAI_CHAT_REASONING},	   {"o3", OAI_CHAT_REASONING},
    {"o4", OAI_CHAT_REASONING},	   {"gpt-5", OAI_CHAT_REASONING},
    {"gpt-6", OAI_CHAT_REASONING},
};

static const struct prefix_shape image_families[] = {
    {"dall-e-", OAI_IMAGE_DALLE},
    {"gpt-image-", OAI_IMAGE_GPT},
    {"chatgpt-image-", OAI_IMAGE_GPT},
};

static int
shape_of(const struct prefix_shape *t, size_t n, const char *model, int dflt)
{
	for (size_t i = 0; model != NULL && i < n; i++)
		if (strncmp(model, t[i].prefix, strlen(t[i].prefix)) == 0)
			return t[i].shape;
	return dflt;
}

enum oai_chat_shape
oai_chat_shape(const char *model)
{
	return (enum oai_chat_shape)shape_of(chat_families, PAIR(chat_families),
					     model, OAI_CHAT_CURRENT);
}

enum oai_image_shape
oai_image_shape(const char *model)
{
	return (enum oai_image_shape)shape_of(
	    image_families, PAIR(image_families), model, OAI_IMAGE_GPT);
}

enum sj_err
oai_chat_fields(struct json_object *body, const char *model, bool json_mode)
{
	enum oai_chat_shape s = oai_chat_shape(model);
	struct json_object *fmt;
	enum sj_err e;

	if (s == OAI_CHAT_CLASSIC)
		e = jv_add_i64(body, "max_tokens", OAI_CHAT_TOKENS);
	else
		e = jv_add_i64(body, "max_completion_tokens", OAI_CHAT_TOKENS);
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

/* Copies the string field key of o (cut to outsz - 1 bytes) or "". */
static void
copy_field(struct json_object *o, const char *key, char *out, size_t outsz)
{
	const char *s = NULL;

	out[0] = '\0';
	if (jv_str(o, key, 1u << 16, &s) == SJ_OK)
		snprintf(out, outsz, "%s", s);
}

void
oai_error_parse(long status, const char *body, size_t len,
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
		copy_field(e, "message", err->message, sizeof(err->message));
		copy_field(e, "type", err->type, sizeof(err->type));
		copy_field(e, "param", err->param, sizeof(err->param));
		copy_field(e, "code", err->code, sizeof(err->code));
	}
	json_object_put(o);
}

static bool
code_is(const struct oai_error *err, const char *code)
{
	return strcmp(err->code, code) == 0;
}

enum oai_fault
oai_error_fault(const struct oai_error *err)
{
	if (code_is(err, "model_not_found") ||
	    (err->status == 404 && strstr(err->message, "model") != NULL))
		return OAI_FAULT_MODEL;
	if (err->status == 429 && code_is(err, "insufficient_quota"))
		return OAI_FAULT_QUOTA;
	if (http_status_transient(err->status))
		return OAI_FAULT_TRANSIENT;
	if (err->status == 401)
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

/* "code" or "HTTP <status>" */
static void
err_label(const struct oai_error *err, char *out, size_t outsz)
{
	if (err->code[0] != '\0')
		snprintf(out, outsz, "%s", err->code);
	else
		snprintf(out, outsz, "HTTP %ld", err->status);
}

void
oai_error_text(const struct oai_error *err, const char *setting,
	       const char *model, const char *kind, char *out, size_t outsz)
{
	char label[80];

	err_label(err, label, sizeof(label));
	switch (oai_error_fault(err)) {
	case OAI_FAULT_MODEL:
		snprintf(out, outsz,
			 "%s=%s: the model does not exist or was retired "
			 "(%s); set %s to a current %s model",
			 setting, model, label, setting, kind);
		break;
	case OAI_FAULT_REQUEST:
		snprintf(out, outsz,
			 "%s=%s refused the parameter '%s' (%s): %s; set %s "
			 "to a current %s model",
			 setting, model, err->param, label, err->message,
			 setting, kind);
		break;
	case OAI_FAULT_KEY:
		snprintf(out, outsz, "OPENAI_API_KEY was refused (%s): %s",
			 label, err->message);
		break;
	case OAI_FAULT_QUOTA:
		snprintf(out, outsz,
			 "the account of OPENAI_API_KEY has no quota left "
			 "(%s): %s",
			 label, err->message);
		break;
	case OAI_FAULT_URL:
		snprintf(out, outsz,
			 "the API answered 404 (%s): check OPENAI_BASE_URL",
			 label);
		break;
	default:
		snprintf(out, outsz, "HTTP %ld%s%s", err->status,
			 err->message[0] ? ": " : "", err->message);
	}
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
	for (size_t i = 0; model != NULL && i < PAIR(known_shutdowns); i++)
		if (strcmp(model, known_shutdowns[i].model) == 0)
			return known_shutdowns[i].date;
	for (size_t i = 0; model != NULL && i < PAIR(known_shutdowns); i++) {
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

		if (!json_object_is_type(m, json_type_object) ||
		    jv_str(m, "id", 256, &id) != SJ_OK)
			return SJ_EINVAL;
		if (strcmp(id, model) != 0)
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
				&err);
		oai_error_text(&err, "OPENAI_MODEL", c->openai_model, "chat",
			       why, whysz);
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
