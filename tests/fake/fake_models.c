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
 * Request checks follow the API's answers: reasoning chat models refuse
 * max_tokens (400 unsupported_parameter) and any temperature but 1 (400
 * unsupported_value); classic chat models refuse reasoning_effort; GPT
 * image models refuse response_format and style (400 unknown_parameter)
 * and unknown quality or output_format values (400 invalid_value).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fake.h"
#include "jsonv.h"

struct fake_model {
	const char *id;
	enum fake_kind kind;
	const char *shutdown; /* NULL: none announced */
};

static const struct fake_model served[] = {
    {"gpt-6-luna", KIND_CHAT_REASONING, NULL},
    {"gpt-6.1-terra", KIND_CHAT_REASONING, NULL},
    {"gpt-6.1-sol", KIND_CHAT_REASONING, NULL},
    {"gpt-6-astra", KIND_CHAT_REASONING, NULL},
    {"gpt-5-mini", KIND_CHAT_REASONING, "2026-12-11"},
    {"gpt-4o-mini", KIND_CHAT_CLASSIC, "2027-01-14"},
    {"gpt-4.1-mini", KIND_CHAT_CLASSIC, "2027-01-14"},
    {"gpt-image-2.6-flare", KIND_IMAGE, NULL},
    {"gpt-image-2.6-sunburst", KIND_IMAGE, NULL},
    {"gpt-image-2.5-flare", KIND_IMAGE, NULL},
    {"gpt-image-2", KIND_IMAGE, NULL},
};

static const char *const retired[] = {
    "dall-e-2", "dall-e-3", "gpt-image-1", "gpt-3.5-turbo", "gpt-4",
    "o1",	"o3-mini",  "o4-mini",	   "gpt-4.1-nano",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool
omitted(const struct models_script *ms, const char *id)
{
	for (size_t i = 0; i < ms->nomit; i++)
		if (strcmp(ms->omit[i], id) == 0)
			return true;
	return false;
}

enum fake_kind
model_check(const char *model, enum fake_kind want, struct reply *rep)
{
	struct models_script ms;
	char msg[256];

	state_models_get(&ms);
	for (size_t i = 0; model != NULL && i < COUNT(served); i++)
		if (strcmp(model, served[i].id) == 0 && !omitted(&ms, model) &&
		    (served[i].kind == want ||
		     (want != KIND_IMAGE && served[i].kind != KIND_IMAGE)))
			return served[i].kind;
	snprintf(msg, sizeof(msg),
		 "The model `%s` does not exist or you do not have access "
		 "to it.",
		 model ? model : "");
	for (size_t i = 0; model != NULL && i < COUNT(retired); i++)
		if (strcmp(model, retired[i]) == 0)
			snprintf(
			    msg, sizeof(msg),
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

bool
chat_params_ok(struct json_object *body, enum fake_kind kind, struct reply *rep)
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
	return true;
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

	(void)state_models_called();
	state_models_get(&ms);
	if (ms.delay_ms > 0) {
		struct timespec ts = {.tv_sec = ms.delay_ms / 1000,
				      .tv_nsec =
					  (long)(ms.delay_ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
	if (!bearer_ok(r, rep))
		return;
	if (ms.status != 0) {
		reply_api_error(rep, ms.status, "server_error", NULL, NULL,
				"Scripted failure of GET /v1/models");
		return;
	}
	o = json_object_new_object();
	data = json_object_new_array();
	for (size_t i = 0; i < COUNT(served); i++)
		if (!omitted(&ms, served[i].id))
			json_object_array_add(data,
					      model_json(&ms, &served[i]));
	json_object_object_add(o, "object", json_object_new_string("list"));
	json_object_object_add(o, "data", data);
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	reply_set(rep, 200, "application/json", s, strlen(s));
	json_object_put(o);
}
