/*
 * lib/openai.c: the request shape of each model family (and the
 * completion tokens each accepts), the error envelope and what it means
 * for a job, the scrubbing of keys from what an answer says, token
 * usage, the GET /models answer and the verdicts on configured models.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jsonv.h"
#include "openai.h"

/* The sorted top-level keys of o, comma-separated, into out. */
static void
keys_of(struct json_object *o, char *out, size_t outsz)
{
	const char *keys[32];
	size_t n = 0, used = 0;

	json_object_object_foreach(o, k, v)
	{
		(void)v;
		keys[n++] = k;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(keys[j], keys[i]) < 0) {
				const char *t = keys[i];

				keys[i] = keys[j];
				keys[j] = t;
			}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, outsz - used, "%s%s",
					 i ? "," : "", keys[i]);
}

/* A chat body of model with the family's fields; its keys into out. */
static struct json_object *
chat_body(const char *model, bool json_mode, char *out, size_t outsz)
{
	struct json_object *b = json_object_new_object();

	assert_int_equal(jv_add_str(b, "model", model), SJ_OK);
	assert_int_equal(jv_add(b, "messages", json_object_new_array()), SJ_OK);
	assert_int_equal(oai_chat_fields(b, model, json_mode), SJ_OK);
	keys_of(b, out, outsz);
	return b;
}

static void
test_chat_shapes(void **state)
{
	struct json_object *b, *v;
	char keys[256];

	(void)state;
	/* reasoning families: no temperature, no max_tokens */
	b = chat_body("gpt-6-luna", false, keys, sizeof(keys));
	assert_string_equal(keys, "max_completion_tokens,messages,model,"
				  "reasoning_effort");
	assert_true(json_object_object_get_ex(b, "reasoning_effort", &v));
	assert_string_equal(json_object_get_string(v), "low");
	json_object_put(b);
	b = chat_body("o3", true, keys, sizeof(keys));
	assert_string_equal(keys, "max_completion_tokens,messages,model,"
				  "reasoning_effort,response_format");
	json_object_put(b);
	assert_int_equal(oai_chat_shape("gpt-5-mini"), OAI_CHAT_REASONING);
	assert_int_equal(oai_chat_shape("gpt-5.1"), OAI_CHAT_REASONING);
	/* classic: max_tokens and a temperature */
	b = chat_body("gpt-4o-mini", false, keys, sizeof(keys));
	assert_string_equal(keys, "max_tokens,messages,model,temperature");
	json_object_put(b);
	assert_int_equal(oai_chat_shape("gpt-4.1-mini"), OAI_CHAT_CLASSIC);
	assert_int_equal(oai_chat_shape("gpt-3.5-turbo"), OAI_CHAT_CLASSIC);
	/* unknown models: the current shape, nothing model-specific */
	b = chat_body("llama-3.3-70b", true, keys, sizeof(keys));
	assert_string_equal(keys, "max_completion_tokens,messages,model,"
				  "response_format");
	assert_true(json_object_object_get_ex(b, "response_format", &v));
	assert_string_equal(
	    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
	    "{\"type\":\"json_object\"}");
	json_object_put(b);
	assert_int_equal(oai_chat_shape("openai/gpt-6-luna"), OAI_CHAT_CURRENT);
}

/* The completion-token field model's request carries, and its value. */
static int64_t
tokens_sent(const char *model, const char *field)
{
	char keys[256];
	struct json_object *b = chat_body(model, false, keys, sizeof(keys));
	struct json_object *v;
	int64_t n = -1;

	if (json_object_object_get_ex(b, field, &v))
		n = json_object_get_int64(v);
	json_object_put(b);
	return n;
}

static void
test_chat_tokens(void **state)
{
	char keys[256];
	struct json_object *b;

	(void)state;
	/* each family's output limit is never passed */
	assert_int_equal(tokens_sent("gpt-3.5-turbo", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-3.5-turbo-16k", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-4-turbo", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-4-turbo-2024-04-09", "max_tokens"),
			 4096);
	assert_int_equal(tokens_sent("gpt-4-1106-preview", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-4-0125-preview", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-4o-2024-05-13", "max_tokens"), 4096);
	assert_int_equal(tokens_sent("gpt-4o-mini", "max_tokens"),
			 OAI_CHAT_TOKENS);
	assert_int_equal(tokens_sent("gpt-4.1", "max_tokens"), OAI_CHAT_TOKENS);
	assert_int_equal(tokens_sent("gpt-6-luna", "max_completion_tokens"),
			 OAI_CHAT_TOKENS);
	assert_int_equal(tokens_sent("llama-3.3-70b", "max_completion_tokens"),
			 OAI_CHAT_TOKENS);
	/* gpt-4's 8k context holds prompt and answer: no number at all */
	b = chat_body("gpt-4", false, keys, sizeof(keys));
	assert_string_equal(keys, "messages,model,temperature");
	json_object_put(b);
	b = chat_body("gpt-4-0613", true, keys, sizeof(keys));
	assert_string_equal(keys, "messages,model,response_format,temperature");
	json_object_put(b);
	assert_int_equal(oai_chat_tokens("gpt-4-32k"), 0);
	assert_int_equal(oai_chat_shape("gpt-4-turbo"), OAI_CHAT_CLASSIC);
}

static void
test_image_shapes(void **state)
{
	struct json_object *b, *v;
	char keys[256];

	(void)state;
	assert_int_equal(oai_image_body("gpt-image-2.6-flare", "a fox",
					"1024x1024", "medium", &b),
			 SJ_OK);
	keys_of(b, keys, sizeof(keys));
	/* GPT image models refuse response_format */
	assert_string_equal(keys, "model,n,output_format,prompt,quality,size");
	assert_true(json_object_object_get_ex(b, "quality", &v));
	assert_string_equal(json_object_get_string(v), "medium");
	assert_true(json_object_object_get_ex(b, "output_format", &v));
	assert_string_equal(json_object_get_string(v), "png");
	json_object_put(b);
	/* the legacy shape for dall-e-* */
	assert_int_equal(
	    oai_image_body("dall-e-3", "a fox", "1024x1024", "medium", &b),
	    SJ_OK);
	keys_of(b, keys, sizeof(keys));
	assert_string_equal(keys, "model,n,prompt,response_format,size");
	json_object_put(b);
	/* unknown models get today's shape */
	assert_int_equal(oai_image_shape("flux-dev"), OAI_IMAGE_GPT);
	assert_int_equal(oai_image_shape("dall-e-2"), OAI_IMAGE_DALLE);
}

#define KEY "sk-proj-AbCdEf0123456789secretXyZ9"

static void
parse_err(long status, const char *body, struct oai_error *e)
{
	oai_error_parse(status, body, body ? strlen(body) : 0, KEY, e);
}

/* Neither the key nor a piece of it that a mask shows is in s. */
static void
assert_no_key(const char *s)
{
	assert_null(strstr(s, KEY));
	assert_null(strstr(s, "sk-proj-AbCd"));
	assert_null(strstr(s, "AbCdEf01"));
	assert_null(strstr(s, "XyZ9"));
}

static void
test_scrub(void **state)
{
	char out[256];
	size_t n;

	(void)state;
	/* OpenAI's own 401: the key's first bytes and last four, masked */
	n = oai_scrub("Incorrect API key provided: sk-proj-***********XyZ9. "
		      "You can find your API key at https://platform.openai"
		      ".com/account/api-keys.",
		      KEY, out, sizeof(out));
	assert_int_equal(n, strlen(out));
	assert_string_equal(out, "Incorrect API key provided: [redacted] You "
				 "can find your API key at https://platform."
				 "openai.com/account/api-keys.");
	/* a proxy echoing the whole key, inside other text */
	oai_scrub("bad key '" KEY "' (Bearer " KEY ")", KEY, out, sizeof(out));
	assert_string_equal(out, "bad key '[redacted]' (Bearer [redacted])");
	oai_scrub("key=" KEY "&x=1", KEY, out, sizeof(out));
	assert_no_key(out);
	/* any sk- word, whatever the configured key */
	oai_scrub("keys sk-other123 and sk_live_9 differ", NULL, out,
		  sizeof(out));
	assert_string_equal(out, "keys [redacted] and [redacted] differ");
	/* a key of another shape, masked as a 401 shows it */
	oai_scrub("Incorrect API key provided: local-ke**********-123.",
		  "local-key-abcdef-123", out, sizeof(out));
	assert_string_equal(out, "Incorrect API key provided: [redacted]");
	/* a key shorter than OAI_KEY_MIN scrubs nothing but sk- words */
	oai_scrub("a b c", "a", out, sizeof(out));
	assert_string_equal(out, "a b c");
	/* ordinary words stay, multibyte text is cut between characters */
	oai_scrub("the model gpt-6-luna r\xc3\xa9pond", KEY, out, 25);
	assert_string_equal(out, "the model gpt-6-luna r\xc3\xa9");
	oai_scrub("the model gpt-6-luna r\xc3\xa9pond", KEY, out, 24);
	assert_string_equal(out, "the model gpt-6-luna r");
	assert_true(jv_utf8_valid(out, strlen(out)));
}

static void
test_errors(void **state)
{
	struct oai_error e;
	char text[600];

	(void)state;
	parse_err(404,
		  "{\"error\":{\"message\":\"The model `dall-e-3` has been "
		  "deprecated\",\"type\":\"invalid_request_error\",\"param\":"
		  "null,\"code\":\"model_not_found\"}}",
		  &e);
	assert_string_equal(e.code, "model_not_found");
	assert_string_equal(e.param, "");
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_MODEL);
	assert_false(oai_fault_transient(oai_error_fault(&e)));
	oai_error_text(&e, "OPENAI_IMAGE_MODEL", "dall-e-3", "image", text,
		       sizeof(text));
	assert_string_equal(text,
			    "OPENAI_IMAGE_MODEL=dall-e-3: the model does not "
			    "exist or was retired (model_not_found); set "
			    "OPENAI_IMAGE_MODEL to a current image model");

	parse_err(400,
		  "{\"error\":{\"message\":\"Unknown parameter: "
		  "'response_format'.\",\"type\":\"invalid_request_error\","
		  "\"param\":\"response_format\",\"code\":"
		  "\"unknown_parameter\"}}",
		  &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_REQUEST);
	oai_error_text(&e, "OPENAI_IMAGE_MODEL", "gpt-image-9", "image", text,
		       sizeof(text));
	assert_non_null(strstr(text, "OPENAI_IMAGE_MODEL=gpt-image-9 refused "
				     "the parameter 'response_format'"));

	parse_err(429,
		  "{\"error\":{\"message\":\"You exceeded your current "
		  "quota\",\"type\":\"insufficient_quota\",\"code\":"
		  "\"insufficient_quota\"}}",
		  &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_QUOTA);
	parse_err(429, "{\"error\":{\"message\":\"Rate limit\"}}", &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_TRANSIENT);
	parse_err(503, "<html>busy</html>", &e);
	assert_string_equal(e.message, "");
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_TRANSIENT);
	/* a refused key: a fixed line, nothing of the answer */
	parse_err(401,
		  "{\"error\":{\"message\":\"Incorrect API key provided: "
		  "sk-proj-*****************XyZ9. You can find your API key at "
		  "https://platform.openai.com/account/api-keys.\",\"type\":"
		  "\"invalid_request_error\",\"param\":null,\"code\":"
		  "\"invalid_api_key\"}}",
		  &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_KEY);
	assert_no_key(e.message);
	oai_error_text(&e, "OPENAI_MODEL", "gpt-6-luna", "chat", text,
		       sizeof(text));
	assert_string_equal(text, "OPENAI_API_KEY was refused (HTTP 401): set "
				  "OPENAI_API_KEY to a valid key");
	parse_err(401, "{\"error\":{\"message\":\"bad key " KEY "\"}}", &e);
	assert_no_key(e.message);
	oai_error_text(&e, "OPENAI_MODEL", "gpt-6-luna", "chat", text,
		       sizeof(text));
	assert_null(strstr(text, "bad key"));
	parse_err(403,
		  "{\"error\":{\"message\":\"Country, region, or territory "
		  "not supported\",\"code\":\"unsupported_country_region_"
		  "territory\"}}",
		  &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_KEY);
	oai_error_text(&e, "OPENAI_MODEL", "gpt-6-luna", "chat", text,
		       sizeof(text));
	assert_non_null(strstr(text, "OPENAI_API_KEY was refused (HTTP 403)"));
	assert_null(strstr(text, "Country"));
	/* quota: fixed too */
	parse_err(429,
		  "{\"error\":{\"message\":\"You exceeded your current "
		  "quota (key " KEY ")\",\"code\":\"insufficient_quota\"}}",
		  &e);
	oai_error_text(&e, "OPENAI_MODEL", "gpt-6-luna", "chat", text,
		       sizeof(text));
	assert_string_equal(text, "the account of OPENAI_API_KEY has no quota "
				  "left (insufficient_quota): check its plan "
				  "and billing");
	/* any other message is shown, scrubbed */
	parse_err(400, "{\"error\":{\"message\":\"no: " KEY "\"}}", &e);
	oai_error_text(&e, "OPENAI_MODEL", "gpt-6-luna", "chat", text,
		       sizeof(text));
	assert_string_equal(text, "HTTP 400: no: [redacted]");
	/* a 404 that is not about a model points at the base URL */
	parse_err(404, "<html>Not Found</html>", &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_URL);
	/* a 404 naming the model without a code is still the model */
	parse_err(404, "{\"error\":{\"message\":\"model foo not found\"}}", &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_MODEL);
	/* OpenAI's answer to a wrong path names no model, whatever its URL */
	parse_err(404,
		  "{\"error\":{\"message\":\"Invalid URL (POST /v2/chat/"
		  "completions)\",\"type\":\"invalid_request_error\"}}",
		  &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_URL);
	parse_err(400, NULL, &e);
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_PERMANENT);
}

/* A message of n bytes: "x" then 4-byte characters, so cuts fall inside. */
static void
fox_message(char *body, size_t bodysz, size_t n, const char *code)
{
	size_t used = (size_t)snprintf(body, bodysz,
				       "{\"error\":{\"code\":\"%s\","
				       "\"param\":\"quality\",\"message\":\"x",
				       code);

	for (size_t i = 1; i + 4 <= n; i += 4)
		used += (size_t)snprintf(body + used, bodysz - used,
					 "\xf0\x9f\xa6\x8a");
	snprintf(body + used, bodysz - used, "\"}}");
}

static void
test_error_cuts(void **state)
{
	char body[4096], text[600], small[101];
	struct oai_error e;

	(void)state;
	fox_message(body, sizeof(body), 1201, "unknown_parameter");
	parse_err(400, body, &e);
	/* 199 bytes would end inside a character: 197 do not */
	assert_int_equal(strlen(e.message), 197);
	assert_true(jv_utf8_valid(e.message, strlen(e.message)));
	assert_int_equal(oai_error_fault(&e), OAI_FAULT_REQUEST);
	oai_error_text(&e, "OPENAI_IMAGE_MODEL", "gpt-image-2", "image", small,
		       sizeof(small));
	assert_true(strlen(small) <= 100);
	assert_true(jv_utf8_valid(small, strlen(small)));
	for (size_t n = 40; n < 120; n++) {
		oai_error_text(&e, "OPENAI_IMAGE_MODEL", "gpt-image-2", "image",
			       text, n);
		assert_true(strlen(text) < n);
		assert_true(jv_utf8_valid(text, strlen(text)));
	}
	oai_list_error_text(&e, "http://127.0.0.1:1/v1/models", small,
			    sizeof(small));
	assert_true(jv_utf8_valid(small, strlen(small)));
}

static void
test_list_errors(void **state)
{
	struct oai_error e;
	char text[600];

	(void)state;
	/* OpenAI's answer to a base URL without /v1 mentions "models" */
	parse_err(404,
		  "{\"error\":{\"message\":\"Invalid URL (GET /models)\","
		  "\"type\":\"invalid_request_error\",\"param\":null,"
		  "\"code\":null}}",
		  &e);
	oai_list_error_text(&e, "https://api.openai.com/models", text,
			    sizeof(text));
	assert_string_equal(text,
			    "GET https://api.openai.com/models answered "
			    "404 (HTTP 404): check OPENAI_BASE_URL (the "
			    "API's base, e.g. https://api.openai.com/v1)");
	assert_null(strstr(text, "OPENAI_MODEL"));
	/* even a 404 that names a model is about the URL here */
	parse_err(404, "{\"error\":{\"message\":\"model list not found\"}}",
		  &e);
	oai_list_error_text(&e, "http://x/v1/models", text, sizeof(text));
	assert_non_null(strstr(text, "check OPENAI_BASE_URL"));
	parse_err(401,
		  "{\"error\":{\"message\":\"Incorrect API key "
		  "provided: sk-proj-****XyZ9.\"}}",
		  &e);
	oai_list_error_text(&e, "http://x/v1/models", text, sizeof(text));
	assert_string_equal(text, "OPENAI_API_KEY was refused (HTTP 401): set "
				  "OPENAI_API_KEY to a valid key");
	parse_err(503, "{\"error\":{\"message\":\"busy\"}}", &e);
	oai_list_error_text(&e, "http://x/v1/models", text, sizeof(text));
	assert_string_equal(text, "GET http://x/v1/models: HTTP 503: busy");
}

static struct json_object *
json(const char *s)
{
	struct json_object *o = NULL;
	const char *why;

	assert_int_equal(json_parse_strict(s, strlen(s), JSONV_DEPTH, &o, &why),
			 SJ_OK);
	return o;
}

static void
test_usage(void **state)
{
	struct json_object *o;
	struct oai_usage u;

	(void)state;
	o = json("{\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30,"
		 "\"total_tokens\":42}}");
	oai_usage_parse(o, &u);
	assert_int_equal(u.input, 12);
	assert_int_equal(u.output, 30);
	assert_int_equal(u.total, 42);
	assert_int_equal(u.image_input, -1);
	json_object_put(o);
	o = json("{\"data\":[],\"usage\":{\"input_tokens\":50,\"output_"
		 "tokens\":439,\"total_tokens\":489,\"input_tokens_details\":"
		 "{\"text_tokens\":50,\"image_tokens\":0}}}");
	oai_usage_parse(o, &u);
	assert_int_equal(u.input, 50);
	assert_int_equal(u.output, 439);
	assert_int_equal(u.total, 489);
	assert_int_equal(u.image_input, 0);
	json_object_put(o);
	o = json("{\"usage\":{\"input_tokens\":\"many\"}}");
	oai_usage_parse(o, &u);
	assert_int_equal(u.input, -1);
	assert_int_equal(u.total, -1);
	json_object_put(o);
}

static void
test_known_shutdowns(void **state)
{
	(void)state;
	assert_string_equal(oai_known_shutdown("dall-e-3"), "2026-05-12");
	assert_string_equal(oai_known_shutdown("gpt-4o-mini"), "2027-01-14");
	/* dated snapshots follow their name; exact names win */
	assert_string_equal(oai_known_shutdown("gpt-4o-mini-2024-07-18"),
			    "2027-01-14");
	assert_string_equal(oai_known_shutdown("gpt-4o-2024-05-13"),
			    "2026-10-23");
	assert_string_equal(oai_known_shutdown("gpt-5-2025-08-07"),
			    "2026-12-11");
	assert_string_equal(oai_known_shutdown("gpt-image-1-mini"),
			    "2026-12-01");
	/* a longer name is another model */
	assert_null(oai_known_shutdown("gpt-5.2"));
	assert_null(oai_known_shutdown("gpt-4o-transcribe"));
	assert_null(oai_known_shutdown("gpt-6-luna"));
	assert_null(oai_known_shutdown("gpt-image-2.6-flare"));
}

static const char *const list_text =
    "{\"object\":\"list\",\"data\":["
    "{\"id\":\"gpt-6-luna\",\"object\":\"model\",\"created\":1,"
    "\"owned_by\":\"openai\",\"shutdown_date\":null},"
    "{\"id\":\"gpt-5-mini\",\"object\":\"model\",\"created\":1,"
    "\"owned_by\":\"openai\",\"shutdown_date\":\"2026-12-11\"},"
    "{\"id\":\"gpt-4o-mini\",\"object\":\"model\",\"created\":1,"
    "\"owned_by\":\"openai\"},"
    "{\"id\":\"my-local-model\",\"object\":\"model\"}]}";

static void
test_models_find(void **state)
{
	struct json_object *list = json(list_text), *bad;
	struct oai_model_state st;
	char text[600];
	size_t n;

	(void)state;
	assert_int_equal(oai_models_find(list, "gpt-6-luna", &st), SJ_OK);
	assert_true(st.listed);
	assert_string_equal(st.shutdown, "");
	assert_int_equal(oai_models_find(list, "gpt-5-mini", &st), SJ_OK);
	assert_string_equal(st.shutdown, "2026-12-11");
	assert_false(st.from_table);
	/* no shutdown_date field: the built-in table speaks */
	assert_int_equal(oai_models_find(list, "gpt-4o-mini", &st), SJ_OK);
	assert_string_equal(st.shutdown, "2027-01-14");
	assert_true(st.from_table);
	assert_int_equal(oai_models_find(list, "my-local-model", &st), SJ_OK);
	assert_true(st.listed);
	assert_string_equal(st.shutdown, "");
	assert_int_equal(oai_models_find(list, "dall-e-3", &st), SJ_OK);
	assert_false(st.listed);
	json_object_put(list);
	bad = json("{\"object\":\"list\",\"data\":{}}");
	assert_int_equal(oai_models_find(bad, "x", &st), SJ_EINVAL);
	json_object_put(bad);
	bad = json("{\"data\":[{\"id\":\"x\",\"shutdown_date\":\"soon\"}]}");
	assert_int_equal(oai_models_find(bad, "x", &st), SJ_EINVAL);
	json_object_put(bad);
	/* entries without a usable id are skipped, not fatal */
	bad = json("{\"data\":[{\"name\":\"x\"},7,null,[\"x\"],{\"id\":"
		   "42},{\"id\":\"x\"}]}");
	assert_int_equal(oai_models_find(bad, "x", &st), SJ_OK);
	assert_true(st.listed);
	json_object_put(bad);
	/* an id past 256 bytes */
	n = (size_t)snprintf(text, sizeof(text), "{\"data\":[{\"id\":\"");
	memset(text + n, 'a', 300);
	snprintf(text + n + 300, sizeof(text) - n - 300,
		 "\"},{\"id\":\"gpt-6-luna\"}]}");
	bad = json(text);
	assert_int_equal(oai_models_find(bad, "gpt-6-luna", &st), SJ_OK);
	assert_true(st.listed);
	assert_int_equal(oai_models_find(bad, "dall-e-3", &st), SJ_OK);
	assert_false(st.listed);
	json_object_put(bad);
}

static enum oai_verdict
judge(const char *model, const char *today, char *line, size_t n)
{
	struct json_object *list = json(list_text);
	struct oai_model_state st;
	enum oai_verdict v;

	assert_int_equal(oai_models_find(list, model, &st), SJ_OK);
	v = oai_model_judge("OPENAI_MODEL", model, &st, today, line, n);
	json_object_put(list);
	return v;
}

static void
test_verdicts(void **state)
{
	char line[512];

	(void)state;
	assert_int_equal(judge("gpt-6-luna", "2026-12-04", line, sizeof(line)),
			 OAI_MODEL_OK);
	assert_string_equal(
	    line, "OPENAI_MODEL=gpt-6-luna: listed, no shutdown date");
	assert_int_equal(judge("gpt-5-mini", "2026-12-04", line, sizeof(line)),
			 OAI_MODEL_RETIRING);
	assert_non_null(strstr(line, "shuts down on 2026-12-11"));
	/* on the day itself it is gone */
	assert_int_equal(judge("gpt-5-mini", "2026-12-11", line, sizeof(line)),
			 OAI_MODEL_GONE);
	assert_non_null(strstr(line, "shut down on 2026-12-11"));
	assert_int_equal(judge("gpt-4o-mini", "2026-12-04", line, sizeof(line)),
			 OAI_MODEL_RETIRING);
	assert_non_null(strstr(line, "2027-01-14 (this server gives no date)"));
	/* OpenAI's past date does not fail a server that still serves it */
	assert_int_equal(judge("gpt-4o-mini", "2027-02-01", line, sizeof(line)),
			 OAI_MODEL_OK);
	assert_int_equal(judge("dall-e-3", "2026-12-04", line, sizeof(line)),
			 OAI_MODEL_GONE);
	assert_non_null(strstr(line, "OPENAI_MODEL=dall-e-3: not listed"));
	assert_non_null(strstr(line, "OpenAI shut it down on 2026-05-12"));
}

struct seen {
	int n;
	enum oai_verdict v[2];
};

static void
collect(enum oai_verdict v, const char *line, void *ctx)
{
	struct seen *s = ctx;

	assert_non_null(line);
	s->v[s->n++] = v;
}

static void
test_check_models(void **state)
{
	struct json_object *list = json(list_text);
	struct cfg c = {.openai_model = (char *)"gpt-6-luna",
			.openai_image_model = (char *)"gpt-image-2.6-flare"};
	struct seen s = {0};

	(void)state;
	assert_int_equal(oai_check_models(&c, list, "2026-12-04", collect, &s),
			 OAI_MODEL_GONE);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[0], OAI_MODEL_OK);
	assert_int_equal(s.v[1], OAI_MODEL_GONE);
	c.openai_image_model = (char *)"gpt-5-mini";
	s.n = 0;
	assert_int_equal(oai_check_models(&c, list, "2026-12-04", collect, &s),
			 OAI_MODEL_RETIRING);
	json_object_put(list);
}

static void
test_today(void **state)
{
	char d[OAI_DATE_LEN + 1];

	(void)state;
	oai_today(d);
	assert_int_equal(strlen(d), OAI_DATE_LEN);
	assert_true(strcmp(d, "2026-01-01") > 0);
	assert_int_equal(d[4], '-');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chat_shapes),
	    cmocka_unit_test(test_chat_tokens),
	    cmocka_unit_test(test_image_shapes),
	    cmocka_unit_test(test_scrub),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_error_cuts),
	    cmocka_unit_test(test_list_errors),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_known_shutdowns),
	    cmocka_unit_test(test_models_find),
	    cmocka_unit_test(test_verdicts),
	    cmocka_unit_test(test_check_models),
	    cmocka_unit_test(test_today),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
