/*
 * One call of the openai provider to an OpenAI-compatible API
 * (OPENAI_BASE_URL, OPENAI_API_KEY): the request, the answer's status,
 * token usage.
 *
 * DESIGN
 * A call is a JSON POST under HTTP_API through gen_call(), which applies
 * the job's abort and deadline and classifies transport errors.  What a
 * 2xx says is the caller's to read; its JSON is parsed strictly here
 * first, and an answer that does not parse is a transient upstream
 * failure, like a 5xx.  A non-2xx is classified from its error envelope
 * (lib/openai.c): a missing or retired model, a refused parameter, key
 * or quota fail the job at once with a line naming the setting to change
 * (the key and quota with a fixed line, nothing of the answer); 408,
 * 425, 429 and 5xx are retried, a 429's Retry-After honoured.  What the
 * envelope says is scrubbed of the key before it reaches the job's error
 * or the log; the key itself is only ever sent in the Authorization
 * header.  Token usage is logged per call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "openai.h"

#include "gen_openai.h"

struct openai_kind
openai_chat_kind(const struct step_ctx *c)
{
	return (struct openai_kind){"OPENAI_MODEL", c->cfg->openai_model,
				    "chat"};
}

struct openai_kind
openai_image_kind(const struct step_ctx *c)
{
	return (struct openai_kind){"OPENAI_IMAGE_MODEL",
				    c->cfg->openai_image_model, "image"};
}

/*
 * Records the outcome of a non-2xx answer: a missing or retired model, a
 * refused parameter, key or quota fail at once with a message naming the
 * setting to change; 408/425/429/5xx are retried (a 429's Retry-After
 * honoured).
 */
static void
fail_status(struct step_ctx *c, const struct http_resp *resp,
	    const struct openai_kind *k, const char *what)
{
	struct oai_error err;
	enum oai_fault f;
	char text[600];

	oai_error_parse(resp->status, resp->body.data, resp->body.len,
			c->cfg->openai_api_key, &err);
	f = oai_error_fault(&err);
	oai_error_text(&err, k->setting, k->model, k->kind, text, sizeof(text));
	c->retry_after_s = resp->retry_after_s > 0 ? resp->retry_after_s : 0;
	if (!oai_fault_transient(f))
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "upstream call failed for good", LOG_STR("call", what),
		       LOG_STR("error", text));
	step_fail(c, oai_fault_transient(f), "EXTERNAL_SERVICE_ERROR",
		  "%s failed: %s", what, text);
}

/* Logs the tokens an answer reports (kept per job in a later change). */
static void
log_usage(struct step_ctx *c, struct json_object *ans, const char *model)
{
	struct oai_usage u;

	oai_usage_parse(ans, &u);
	if (u.total < 0 && u.input < 0)
		return;
	log_kv(LOG_LVL_INFO, "job", c->job->id, "usage",
	       LOG_STR("model", model), LOG_INT("input_tokens", u.input),
	       LOG_INT("image_input_tokens", u.image_input),
	       LOG_INT("output_tokens", u.output),
	       LOG_INT("total_tokens", u.total));
}

bool
openai_post(struct step_ctx *c, const char *path, struct json_object *body,
	    size_t cap, const char *what, const struct openai_kind *k,
	    struct json_object **answer)
{
	struct oai_target t;
	const char *headers[] = {"Content-Type: application/json", t.auth,
				 NULL};
	const char *text, *why;
	struct http_req req = {.method = "POST", .policy = HTTP_API};
	struct http_resp resp;
	bool ok;

	*answer = NULL;
	text =
	    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
		 : NULL;
	if (text == NULL || oai_target(c->cfg, path, &t) != SJ_OK) {
		json_object_put(body);
		step_fail_err(c, text ? SJ_EINVAL : SJ_ENOMEM,
			      "Building the request failed");
		return false;
	}
	if (!gen_paid_call(c)) {
		json_object_put(body);
		return false;
	}
	req.url = t.url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.max_response = cap;
	req.timeout_ms = (long)c->cfg->openai_timeout_s * 1000;
	ok = gen_call(c, &req, &resp, what);
	json_object_put(body);
	if (!ok)
		return false;
	if (resp.status < 200 || resp.status >= 300)
		fail_status(c, &resp, k, what);
	else if (json_parse_strict(resp.body.data, resp.body.len, JSONV_DEPTH,
				   answer, &why) != SJ_OK) {
		step_fail(c, true, "EXTERNAL_SERVICE_ERROR",
			  "%s failed: a malformed answer (%s)", what, why);
		*answer = NULL;
	} else
		log_usage(c, *answer, k->model);
	http_resp_free(&resp);
	return *answer != NULL;
}

struct json_object *
openai_text(const char *fmt, ...)
{
	struct json_object *o;
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	o = json_object_new_string(s);
	free(s);
	return o;
}
