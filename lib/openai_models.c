/*
 * The Models API: which configured model a server lists, which one is
 * retiring, and GET /models itself.
 *
 * DESIGN
 * The API reference documents shutdown_date on each model of GET
 * /models ("YYYY-MM-DD", or null when none is announced) and that is
 * what we believe first.  OpenAI-compatible servers often omit the
 * field; there a table of the shutdown dates OpenAI announced on its
 * deprecations page still warns of a known retirement.  A date from the
 * table is only ever a warning: a server that still lists the model
 * serves it.  The table wants a line when the deprecations page
 * announces a model we may be configured with; missing a line costs a
 * warning, never a failure.  The answer is untrusted: parsed strictly,
 * an entry without a usable id skipped rather than spoiling the list.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "jsonv.h"
#include "openai.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

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
	struct oai_target t;
	const char *headers[] = {t.auth, NULL}, *msg;
	const char *url = t.url;
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
	if (oai_target(c, "/models", &t) != SJ_OK) {
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
