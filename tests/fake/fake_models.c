/*
 * DESIGN: the fake's models, answering like today's OpenAI API.
 *
 * One table of the models the fake serves, with the shutdown dates the
 * real list carries; a second of retired models, which every endpoint
 * refuses with the API's 404 model_not_found "has been deprecated"
 * answer; anything else is refused as a model that does not exist.  The
 * GET /v1/models script (fake_state.c) can leave a model out (it is then
 * refused like an unknown one, as for a key without access), replace its
 * shutdown date, or drop every shutdown_date field.
 *
 * The script can also bring retired models back ("revive"), as an
 * OpenAI-compatible server that still serves them does.
 *
 * Request checks follow the API's answers: reasoning chat models refuse
 * max_tokens (400 unsupported_parameter) and any temperature but 1 (400
 * unsupported_value); classic chat models refuse reasoning_effort; GPT
 * image models refuse response_format and style (400 unknown_parameter)
 * and unknown quality or output_format values (400 invalid_value).  Each
 * chat model has its output-token limit and context: max_tokens or
 * max_completion_tokens past the limit is a 400 naming that parameter,
 * and a prompt (a token per 4 bytes of the body) plus max_tokens past
 * the context is a 400 context_length_exceeded, as the API answers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "fake.h"
#include "jsonv.h"

struct fake_model {
	const char *id;
	enum fake_kind kind;
	const char *shutdown; /* NULL: none announced */
	int64_t max_out;      /* completion tokens; chat models only */
	int64_t context;      /* prompt and completion together */
	bool retired;	      /* refused unless the script revives it */
};

static const struct fake_model models[] = {
    {"gpt-6-luna", KIND_CHAT_REASONING, NULL, 128000, 400000, false},
    {"gpt-6.1-terra", KIND_CHAT_REASONING, NULL, 128000, 400000, false},
    {"gpt-6.1-sol", KIND_CHAT_REASONING, NULL, 128000, 400000, false},
    {"gpt-6-astra", KIND_CHAT_REASONING, NULL, 128000, 400000, false},
    {"gpt-5-mini", KIND_CHAT_REASONING, "2026-12-11", 128000, 400000, false},
    {"gpt-4o-mini", KIND_CHAT_CLASSIC, "2027-01-14", 16384, 128000, false},
    {"gpt-4.1-mini", KIND_CHAT_CLASSIC, "2027-01-14", 32768, 1047576, false},
    {"gpt-image-2.6-flare", KIND_IMAGE, NULL, 0, 0, false},
    {"gpt-image-2.6-sunburst", KIND_IMAGE, NULL, 0, 0, false},
    {"gpt-image-2.5-flare", KIND_IMAGE, NULL, 0, 0, false},
    {"gpt-image-2", KIND_IMAGE, NULL, 0, 0, false},
    {"dall-e-2", KIND_IMAGE, "2026-05-12", 0, 0, true},
    {"dall-e-3", KIND_IMAGE, "2026-05-12", 0, 0, true},
    {"gpt-image-1", KIND_IMAGE, "2026-10-23", 0, 0, true},
    {"gpt-3.5-turbo", KIND_CHAT_CLASSIC, "2026-10-23", 4096, 16385, true},
    {"gpt-4", KIND_CHAT_CLASSIC, "2026-10-23", 8192, 8192, true},
    {"gpt-4-turbo", KIND_CHAT_CLASSIC, "2026-10-23", 4096, 128000, true},
    {"o1", KIND_CHAT_REASONING, "2026-10-23", 100000, 200000, true},
    {"o3-mini", KIND_CHAT_REASONING, "2026-10-23", 100000, 200000, true},
    {"o4-mini", KIND_CHAT_REASONING, "2026-10-23", 100000, 200000, true},
    {"gpt-4.1-nano", KIND_CHAT_CLASSIC, "2026-10-23", 32768, 1047576, true},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool
listed_in(const char (*ids)[96], size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* Served and listed under the script: not left out, retired or revived. */
static bool
serving(const struct models_script *ms, const struct fake_model *m)
{
	return !listed_in(ms->omit, ms->nomit, m->id) &&
	       (!m->retired || listed_in(ms->revive, ms->nrevive, m->id));
}

static const struct fake_model *
model_find(const char *id)
{
	for (size_t i = 0; id != NULL && i < COUNT(models); i++)
		if (strcmp(id, models[i].id) == 0)
			return &models[i];
	return NULL;
}

enum fake_kind
model_check(const char *model, enum fake_kind want, struct reply *rep)
{
	const struct fake_model *m = model_find(model);
	struct models_script ms;
	char msg[256];

	state_models_get(&ms);
	if (m != NULL && serving(&ms, m) &&
	    (m->kind == want || (want != KIND_IMAGE && m->kind != KIND_IMAGE)))
		return m->kind;
	snprintf(msg, sizeof(msg),
		 "The model `%s` does not exist or you do not have access "
		 "to it.",
		 model ? model : "");
	if (m != NULL && m->retired)
		snprintf(msg, sizeof(msg),
			 "The model `%s` has been deprecated, learn "
			 "more here: "
			 "https://platform.openai.com/docs/deprecations",
			 model);
	if (model == NULL)
		reply_api_error(rep, 400, "invalid_request_error", "model",
				"missing_required_parameter",
				"you must provide a model parameter");
	else
		reply_api_error(rep, 404, "invalid_request_error", NULL,
				"model_not_found", msg);
	return KIND_NONE;
}

static void
unsupported(struct reply *rep, const char *param, const char *code,
	    const char *msg)
{
	reply_api_error(rep, 400, "invalid_request_error", param, code, msg);
}

/*
 * The token limits of model: the API's answer when field (max_tokens or
 * max_completion_tokens) asks for more than the model writes, or the
 * prompt (est_prompt tokens) and the answer do not fit its context.
 */
static bool
tokens_ok(struct json_object *body, const char *model, int64_t est_prompt,
	  struct reply *rep)
{
	const struct fake_model *m = model_find(model);
	const char *field = "max_completion_tokens";
	int64_t want = 0;
	char msg[320];

	if (m == NULL || m->max_out == 0)
		return true;
	if (jv_i64(body, field, 1, INT64_MAX / 4, &want) == SJ_ENOTFOUND)
		field = "max_tokens";
	if (jv_i64(body, field, 1, INT64_MAX / 4, &want) == SJ_EINVAL) {
		unsupported(rep, field, "invalid_type",
			    "Invalid type for the token limit: expected an "
			    "integer of at least 1.");
		return false;
	}
	if (want > m->max_out) {
		snprintf(msg, sizeof(msg),
			 "%s is too large: %lld. This model supports at most "
			 "%lld completion tokens, whereas you provided %lld.",
			 field, (long long)want, (long long)m->max_out,
			 (long long)want);
		unsupported(rep, field, "invalid_value", msg);
		return false;
	}
	if (est_prompt + (want > 0 ? want : 1) > m->context) {
		snprintf(msg, sizeof(msg),
			 "This model's maximum context length is %lld tokens. "
			 "However, you requested %lld tokens (%lld in the "
			 "messages, %lld in the completion). Please reduce the "
			 "length of the messages or completion.",
			 (long long)m->context, (long long)(est_prompt + want),
			 (long long)est_prompt, (long long)want);
		unsupported(rep, "messages", "context_length_exceeded", msg);
		return false;
	}
	return true;
}

bool
chat_params_ok(struct json_object *body, const char *model, enum fake_kind kind,
	       int64_t est_prompt, struct reply *rep)
{
	struct json_object *t;

	if (kind == KIND_CHAT_REASONING &&
	    json_object_object_get_ex(body, "max_tokens", NULL)) {
		unsupported(rep, "max_tokens", "unsupported_parameter",
			    "Unsupported parameter: 'max_tokens' is not "
			    "supported with this model. Use "
			    "'max_completion_tokens' instead.");
		return false;
	}
	if (kind == KIND_CHAT_REASONING &&
	    json_object_object_get_ex(body, "temperature", &t) &&
	    ((!json_object_is_type(t, json_type_double) &&
	      !json_object_is_type(t, json_type_int)) ||
	     fabs(json_object_get_double(t) - 1.0) > 1e-9)) {
		unsupported(rep, "temperature", "unsupported_value",
			    "Unsupported value: 'temperature' does not "
			    "support this value with this model. Only the "
			    "default (1) value is supported.");
		return false;
	}
	if (kind == KIND_CHAT_CLASSIC &&
	    json_object_object_get_ex(body, "reasoning_effort", NULL)) {
		unsupported(rep, "reasoning_effort", "unsupported_parameter",
			    "Unsupported parameter: 'reasoning_effort' is "
			    "not supported with this model.");
		return false;
	}
	return tokens_ok(body, model, est_prompt, rep);
}

/* True when the string field key is absent or one of set. */
static bool
one_of(struct json_object *body, const char *key, const char *const *set)
{
	const char *v;
	enum sj_err e = jv_str(body, key, 64, &v);

	if (e == SJ_ENOTFOUND)
		return true;
	for (; e == SJ_OK && *set != NULL; set++)
		if (strcmp(v, *set) == 0)
			return true;
	return false;
}

bool
image_params_ok(struct json_object *body, struct reply *rep)
{
	static const char *const qualities[] = {
	    "low", "medium", "high", "auto", "xhigh", "max", NULL};
	static const char *const formats[] = {"png", "jpeg", "webp", NULL};

	if (json_object_object_get_ex(body, "response_format", NULL)) {
		unsupported(rep, "response_format", "unknown_parameter",
			    "Unknown parameter: 'response_format'.");
		return false;
	}
	if (json_object_object_get_ex(body, "style", NULL)) {
		unsupported(rep, "style", "unknown_parameter",
			    "Unknown parameter: 'style'.");
		return false;
	}
	if (!one_of(body, "quality", qualities)) {
		unsupported(rep, "quality", "invalid_value",
			    "Invalid value for 'quality': expected one of "
			    "low, medium, high, auto, xhigh, max.");
		return false;
	}
	if (!one_of(body, "output_format", formats)) {
		unsupported(rep, "output_format", "invalid_value",
			    "Invalid value for 'output_format': expected one "
			    "of png, jpeg, webp.");
		return false;
	}
	return true;
}

/* The shutdown date of model under the script (NULL: null in the list). */
static const char *
shutdown_of(const struct models_script *ms, const struct fake_model *m)
{
	for (size_t i = 0; i < ms->nsd; i++)
		if (strcmp(ms->sd_id[i], m->id) == 0)
			return ms->sd_date[i];
	return m->shutdown;
}

static struct json_object *
model_json(const struct models_script *ms, const struct fake_model *m)
{
	struct json_object *o = json_object_new_object();
	const char *sd = shutdown_of(ms, m);

	json_object_object_add(o, "id", json_object_new_string(m->id));
	json_object_object_add(o, "object", json_object_new_string("model"));
	json_object_object_add(o, "created", json_object_new_int64(1700000000));
	json_object_object_add(o, "owned_by",
			       json_object_new_string(m->kind == KIND_IMAGE
							  ? "system"
							  : "openai"));
	if (!ms->no_dates)
		json_object_object_add(o, "shutdown_date",
				       sd ? json_object_new_string(sd) : NULL);
	return o;
}

void
api_models(const struct req *r, struct reply *rep)
{
	struct json_object *o, *data;
	struct models_script ms;
	const char *s;

	state_models_get(&ms);
	if (!bearer_ok(r, rep))
		return;
	if (ms.status != 0) {
		reply_api_error(rep, ms.status, "server_error", NULL, NULL,
				"Scripted failure of GET /v1/models");
		return;
	}
	o = json_object_new_object();
	data = json_object_new_array();
	for (size_t i = 0; i < COUNT(models); i++)
		if (serving(&ms, &models[i]))
			json_object_array_add(data,
					      model_json(&ms, &models[i]));
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	reply_set(rep, 200, "application/json", s, strlen(s));
	json_object_put(o);
}
