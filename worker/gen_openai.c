/*
 * The openai provider: an OpenAI-compatible API (OPENAI_BASE_URL,
 * OPENAI_API_KEY) over libcurl, through gen_call().
 *
 * DESIGN
 * Three endpoints: chat completions for stories, for scene breakdowns (in
 * JSON mode, with the audience's page and scene targets in the prompt)
 * and, with the picture sent inline as a data: URL, for describing a
 * character; image generations for illustrations.  A photo cartoonize is
 * a description of the photo followed by an illustration of it in the
 * style; the description is checkpointed between the two, so a retry pays
 * only for what is missing.
 *
 * Each request takes the shape its model's family needs (lib/openai.c:
 * max_completion_tokens and reasoning_effort for reasoning models, no
 * response_format for GPT image models, the current shape for models it
 * does not know).  An image answer is base64 (GPT image models) or a URL
 * (some OpenAI-compatible servers), fetched like a user-supplied image.
 * Token usage is logged per call.
 *
 * Answers are untrusted: each is parsed strictly, checked field by field
 * and capped (chat 1 MiB, images GEN_IMAGE_MAX once decoded).  An answer
 * that does not have the promised shape is a transient upstream failure,
 * like a 5xx.  A refusal is classified from the error envelope: a missing
 * or retired model, a refused parameter, key or quota fail the job at
 * once with a message naming the setting to change.  The key is only
 * ever sent in the Authorization header and never logged.
 */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image.h"
#include "jsonv.h"
#include "log.h"
#include "openai.h"

#include "gen.h"
#include "sentence.h"
#include "story.h"

#define CHAT_MAX      (1u << 20) /* bytes of a chat answer */
#define IMAGE_ANS_MAX (GEN_IMAGE_MAX / 3 * 4 + 65536)
#define URL_MAX	      2048
#define AUTH_MAX      1024
#define PAGES_MAX     50
#define SCENES_MAX    20 /* per page */

static const char *
style_phrase(const char *style)
{
	static const char *const phrases[][2] = {
	    {"storybook",
	     "a warm, painterly children's storybook illustration"},
	    {"semi-realistic", "a soft semi-realistic digital painting"},
	    {"comic-book", "a bold comic-book panel with clean ink lines"},
	    {"flat-illustration",
	     "a flat vector illustration in simple shapes"},
	    {"anime", "an anime-style illustration with clean cel shading"},
	};

	for (size_t i = 0; i < sizeof(phrases) / sizeof(phrases[0]); i++)
		if (style != NULL && strcmp(style, phrases[i][0]) == 0)
			return phrases[i][1];
	return phrases[1][1];
}

static const char *
audience_phrase(const char *audience)
{
	if (audience != NULL && strcmp(audience, "adults") == 0)
		return "adult readers";
	if (audience != NULL && strcmp(audience, "young_adults") == 0)
		return "young adult readers";
	return "young children";
}

/* The model setting a call depends on, for messages that name it. */
struct call_kind {
	const char *setting; /* "OPENAI_MODEL" */
	const char *model;
	const char *kind; /* "chat" or "image" */
};

static struct call_kind
chat_kind(const struct step_ctx *c)
{
	return (struct call_kind){"OPENAI_MODEL", c->cfg->openai_model, "chat"};
}

static struct call_kind
image_kind(const struct step_ctx *c)
{
	return (struct call_kind){"OPENAI_IMAGE_MODEL",
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
	    const struct call_kind *k, const char *what)
{
	struct oai_error err;
	enum oai_fault f;
	char text[600];

	oai_error_parse(resp->status, resp->body.data, resp->body.len, &err);
	f = oai_error_fault(&err);
	oai_error_text(&err, k->setting, k->model, k->kind, text, sizeof(text));
	c->retry_after_s = resp->retry_after_s > 0 ? resp->retry_after_s : 0;
	if (!oai_fault_transient(f))
		log_job(LOG_LVL_WARN, c->job->id, "%s failed for good: %s",
			what, text);
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
	log_job(LOG_LVL_INFO, c->job->id,
		"usage %s: %lld input (%lld image), %lld output, %lld total "
		"tokens",
		model, (long long)u.input, (long long)u.image_input,
		(long long)u.output, (long long)u.total);
}

/*
 * POSTs body (put here) to OPENAI_BASE_URL + path; on true *answer is the
 * parsed JSON answer the caller puts.
 */
static bool
post_json(struct step_ctx *c, const char *path, struct json_object *body,
	  size_t cap, const char *what, const struct call_kind *k,
	  struct json_object **answer)
{
	char url[URL_MAX], auth[AUTH_MAX];
	const char *headers[] = {"Content-Type: application/json", auth, NULL};
	const char *text, *why;
	struct http_req req = {.method = "POST", .policy = HTTP_API};
	struct http_resp resp;
	bool ok;

	*answer = NULL;
	text =
	    body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
		 : NULL;
	if (text == NULL ||
	    (size_t)snprintf(url, sizeof(url), "%s%s", c->cfg->openai_base_url,
			     path) >= sizeof(url) ||
	    (size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			     c->cfg->openai_api_key ? c->cfg->openai_api_key
						    : "") >= sizeof(auth)) {
		json_object_put(body);
		step_fail_err(c, text ? SJ_EINVAL : SJ_ENOMEM,
			      "Building the request failed");
		return false;
	}
	req.url = url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.max_response = cap;
	req.timeout_ms = (long)c->cfg->openai_timeout_s * 1000;
	ok = gen_call_any(c, &req, &resp, what);
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

/* {"role": role, "content": content (taken)} */
static struct json_object *
message(const char *role, struct json_object *content)
{
	struct json_object *m = json_object_new_object();

	if (m == NULL) {
		json_object_put(content);
		return NULL;
	}
	if (jv_add(m, "content", content) != SJ_OK ||
	    jv_add_str(m, "role", role) != SJ_OK) {
		json_object_put(m);
		return NULL;
	}
	return m;
}

/* Appends v (taken) to arr. */
static enum sj_err
push(struct json_object *arr, struct json_object *v)
{
	if (v == NULL || json_object_array_add(arr, v) != 0) {
		json_object_put(v);
		return SJ_ENOMEM;
	}
	return SJ_OK;
}

/*
 * One chat completion with a system and a user message (user content
 * taken).  On true *content is the answer's text, copied into out.
 */
static bool
chat(struct step_ctx *c, const char *system, struct json_object *user,
     bool json_mode, const char *what, struct buf *out)
{
	struct json_object *body = json_object_new_object(), *msgs = NULL,
			   *ans = NULL, *choices, *msg;
	struct call_kind k = chat_kind(c);
	const char *text;
	enum sj_err e = SJ_ENOMEM;

	buf_init(out, CHAT_MAX);
	if (body != NULL &&
	    jv_add(body, "messages", msgs = json_object_new_array()) == SJ_OK &&
	    push(msgs, message("system", json_object_new_string(system))) ==
		SJ_OK)
		e = jv_add_str(body, "model", c->cfg->openai_model);
	/* user is taken whatever happened above */
	e = e == SJ_OK ? push(msgs, message("user", user))
		       : (json_object_put(user), SJ_ENOMEM);
	/* the fields the model's family takes (lib/openai.c) */
	if (e == SJ_OK)
		e = oai_chat_fields(body, k.model, json_mode);
	if (e != SJ_OK) {
		json_object_put(body);
		step_fail_err(c, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!post_json(c, "/chat/completions", body, CHAT_MAX, what, &k, &ans))
		return false;
	if (jv_array(ans, "choices", &choices) == SJ_OK &&
	    json_object_array_length(choices) > 0 &&
	    jv_object(json_object_array_get_idx(choices, 0), "message", &msg) ==
		SJ_OK &&
	    jv_str(msg, "content", CHAT_MAX, &text) == SJ_OK && text[0] != '\0')
		e = buf_addstr(out, text);
	else
		e = SJ_EINVAL;
	json_object_put(ans);
	if (e == SJ_EINVAL)
		step_fail(c, true, "EXTERNAL_SERVICE_ERROR",
			  "%s failed: the answer holds no text", what);
	else if (e != SJ_OK)
		step_fail_err(c, e, "Reading the answer failed");
	return e == SJ_OK;
}

static struct json_object *text_content(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static struct json_object *
text_content(const char *fmt, ...)
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

static bool
openai_story(struct step_ctx *c, const char *genre, const char *character,
	     const char *audience, struct buf *out)
{
	int scenes, pages;

	story_targets(audience, &scenes, &pages);
	return chat(c,
		    "You write illustrated stories. Answer with the story "
		    "only: a title on the first line, a blank line, then short "
		    "paragraphs separated by blank lines.",
		    text_content("Write a %s story for %s about this "
				 "character: %s. Use %d paragraphs.",
				 genre, audience_phrase(audience), character,
				 scenes),
		    false, "Writing the story", out);
}

/*
 * Copies a string field or dflt into dst: at most max bytes, cut after a
 * whole sentence when it can be (sent_clip), never inside a character.
 */
static enum sj_err
copy_str(struct json_object *src, const char *key, size_t max, const char *dflt,
	 struct json_object *dst)
{
	const char *s = NULL;

	if (jv_str(src, key, 1u << 16, &s) != SJ_OK || s[0] == '\0')
		s = dflt;
	if (s == NULL || s[0] == '\0')
		return SJ_EINVAL;
	return json_object_object_add(dst, key,
				      json_object_new_string_len(
					  s, (int)sent_clip(s, strlen(s), max)))
		   ? SJ_ENOMEM
		   : SJ_OK;
}

/* A checked, normalised copy of one scene. */
static enum sj_err
scene_copy(struct json_object *in, struct json_object *scenes)
{
	struct json_object *sc = json_object_new_object();
	const char *desc = NULL;
	enum sj_err e;

	if (sc == NULL)
		return SJ_ENOMEM;
	if (jv_str(in, "description", 1u << 16, &desc) != SJ_OK)
		desc = NULL;
	if ((e = copy_str(in, "description", STORY_DESC_MAX, NULL, sc)) !=
		SJ_OK ||
	    (e = copy_str(in, "emotion", 64, "happy", sc)) != SJ_OK ||
	    (e = copy_str(in, "imagePrompt", STORY_PROMPT_MAX, desc, sc)) !=
		SJ_OK ||
	    (e = json_object_array_add(scenes, sc) ? SJ_ENOMEM : SJ_OK) !=
		SJ_OK) {
		json_object_put(sc);
		return e;
	}
	return SJ_OK;
}

/* {"pages":[{"scenes":[...]}]} -> a checked, renumbered copy. */
static enum sj_err
pages_copy(struct json_object *ans, struct json_object **out)
{
	struct json_object *in, *pages = json_object_new_array();
	size_t np;
	enum sj_err e = SJ_OK;

	*out = NULL;
	if (pages == NULL)
		return SJ_ENOMEM;
	if (jv_array(ans, "pages", &in) != SJ_OK ||
	    (np = json_object_array_length(in)) == 0 || np > PAGES_MAX) {
		json_object_put(pages);
		return SJ_EINVAL;
	}
	for (size_t p = 0; p < np && e == SJ_OK; p++) {
		struct json_object *page = json_object_new_object(), *sin,
				   *sout = json_object_new_array();
		size_t ns;

		if (page == NULL || sout == NULL ||
		    jv_add_i64(page, "pageNumber", (int64_t)p + 1) != SJ_OK ||
		    jv_add(page, "scenes", sout) != SJ_OK ||
		    json_object_array_add(pages, page) != 0) {
			if (page == NULL || sout == NULL)
				json_object_put(sout);
			json_object_put(page);
			e = SJ_ENOMEM;
			break;
		}
		if (jv_array(json_object_array_get_idx(in, p), "scenes",
			     &sin) != SJ_OK ||
		    (ns = json_object_array_length(sin)) == 0 ||
		    ns > SCENES_MAX) {
			e = SJ_EINVAL;
			break;
		}
		for (size_t i = 0; i < ns && e == SJ_OK; i++)
			e = scene_copy(json_object_array_get_idx(sin, i), sout);
	}
	if (e != SJ_OK)
		json_object_put(pages);
	else
		*out = pages;
	return e;
}

static bool
openai_scenes(struct step_ctx *c, const char *story, const char *audience,
	      struct json_object **pages)
{
	struct json_object *ans = NULL;
	struct buf text;
	const char *why;
	int scenes, npages;
	enum sj_err e;

	*pages = NULL;
	story_targets(audience, &scenes, &npages);
	if (!chat(c,
		  "You break stories into illustrated scenes. Answer with JSON "
		  "only, shaped {\"pages\":[{\"pageNumber\":1,\"scenes\":[{"
		  "\"description\":\"...\",\"emotion\":\"...\",\"imagePrompt\":"
		  "\"...\"}]}]}: description is the scene's text, emotion one "
		  "word, imagePrompt a short picture description.",
		  text_content("Break this story for %s into %d scenes on %d "
			       "pages (PAGES=%d SCENES=%d).\n\nStory:\n%s",
			       audience_phrase(audience), scenes, npages,
			       npages, scenes, story),
		  true, "Breaking the story into scenes", &text))
		return false;
	e = json_parse_strict(text.data, text.len, JSONV_DEPTH, &ans, &why);
	buf_free(&text);
	if (e == SJ_OK)
		e = pages_copy(ans, pages);
	json_object_put(ans);
	if (e == SJ_EINVAL)
		step_fail(c, true, "EXTERNAL_SERVICE_ERROR",
			  "Breaking the story into scenes failed: the answer "
			  "is not a scene breakdown");
	else if (e != SJ_OK)
		step_fail_err(c, e, "Reading the scenes failed");
	return e == SJ_OK;
}

/* "data:<ctype>;base64,<...>" of img as a chat content part. */
static struct json_object *
image_part(const struct gen_image *img)
{
	size_t n = img->data.len, b64 = 4 * ((n + 2) / 3);
	struct json_object *part, *iu;
	char *data;
	int hl;

	if ((data = malloc(64 + b64 + 1)) == NULL)
		return NULL;
	hl = snprintf(data, 64, "data:%s;base64,", img->ctype);
	EVP_EncodeBlock((unsigned char *)data + hl,
			(const unsigned char *)img->data.data, (int)n);
	part = json_object_new_object();
	iu = json_object_new_object();
	if (part == NULL || iu == NULL ||
	    jv_add_str(part, "type", "image_url") != SJ_OK ||
	    jv_add_str(iu, "url", data) != SJ_OK ||
	    jv_add(part, "image_url", iu) != SJ_OK) {
		if (part == NULL || iu == NULL)
			json_object_put(iu);
		json_object_put(part);
		part = NULL;
	}
	free(data);
	return part;
}

static bool
openai_describe(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	struct json_object *content, *part;
	struct gen_image img;
	struct buf text;

	if (!gen_fetch_image(c, url, &img))
		return false;
	content = json_object_new_array();
	part = json_object_new_object();
	if (content == NULL || part == NULL ||
	    jv_add_str(part, "type", "text") != SJ_OK ||
	    jv_add_str(
		part, "text",
		"Describe the main character of this picture in one "
		"sentence for an illustrator: looks, clothes, colours.") !=
		SJ_OK ||
	    json_object_array_add(content, part) != 0) {
		json_object_put(part);
		json_object_put(content);
		gen_image_free(&img);
		step_fail_err(c, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	part = image_part(&img);
	gen_image_free(&img);
	if (part == NULL || json_object_array_add(content, part) != 0) {
		json_object_put(part);
		json_object_put(content);
		step_fail_err(c, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!chat(c, "You describe characters for illustrators.", content,
		  false, "Describing the character", &text))
		return false;
	snprintf(out, GEN_DESC_MAX, "%s", text.data);
	buf_free(&text);
	return true;
}

/* Decodes standard base64 s into out (initialised here). */
static enum sj_err
b64_decode(const char *s, size_t n, struct buf *out)
{
	size_t pad = 0;
	int got;

	buf_init(out, GEN_IMAGE_MAX);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > GEN_IMAGE_MAX)
		return SJ_EINVAL;
	if ((out->data = malloc(n / 4 * 3 + 1)) == NULL)
		return SJ_ENOMEM;
	out->cap = n / 4 * 3 + 1;
	got = EVP_DecodeBlock((unsigned char *)out->data,
			      (const unsigned char *)s, (int)n);
	if (got < 0) {
		buf_free(out);
		return SJ_EINVAL;
	}
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	out->len = (size_t)got - pad;
	out->data[out->len] = '\0';
	return SJ_OK;
}

/* The image an answer's url names, through the safe fetch. */
static enum sj_err
image_from_url(struct step_ctx *c, const char *url, struct gen_image *out)
{
	log_job(LOG_LVL_DEBUG, c->job->id, "image answer by url");
	/* SSRF checks, size cap and magic bytes; records its own failure */
	return gen_fetch_image(c, url, out) ? SJ_OK : SJ_ELOST;
}

/*
 * The image of an answer {"data":[{"b64_json"} or {"url"}]}: GPT image
 * models answer base64; some OpenAI-compatible servers answer a URL.
 * SJ_ELOST: the fetch failed and recorded why.
 */
static enum sj_err
image_of(struct step_ctx *c, struct json_object *ans, struct gen_image *out)
{
	struct json_object *data, *item;
	const char *b64, *url;
	enum sj_err e;

	if (jv_array(ans, "data", &data) != SJ_OK ||
	    json_object_array_length(data) == 0)
		return SJ_EINVAL;
	item = json_object_array_get_idx(data, 0);
	if (jv_str(item, "b64_json", IMAGE_ANS_MAX, &b64) == SJ_OK)
		e = b64_decode(b64, strlen(b64), &out->data);
	else if (jv_str(item, "url", URL_MAX - 1, &url) == SJ_OK)
		return image_from_url(c, url, out);
	else
		return SJ_EINVAL;
	return e;
}

static bool
openai_image(struct step_ctx *c, const char *prompt, const char *style,
	     struct gen_image *out)
{
	struct json_object *body = NULL, *ans = NULL, *full;
	struct call_kind k = image_kind(c);
	const struct img_type *t;
	enum sj_err e = SJ_ENOMEM;

	memset(out, 0, sizeof(*out));
	if ((full = text_content("%s of: %s", style_phrase(style), prompt)) !=
	    NULL)
		e = oai_image_body(k.model, json_object_get_string(full),
				   c->cfg->openai_image_size,
				   c->cfg->openai_image_quality, &body);
	json_object_put(full);
	if (e != SJ_OK) {
		step_fail_err(c, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!post_json(c, "/images/generations", body, IMAGE_ANS_MAX,
		       "Generating the image", &k, &ans))
		return false;
	e = image_of(c, ans, out);
	json_object_put(ans);
	if (e == SJ_ELOST) {
		gen_image_free(out);
		return false;
	}
	if (e == SJ_OK &&
	    (t = img_sniff(out->data.data, out->data.len)) != NULL) {
		out->ctype = t->ctype;
		out->ext = t->ext;
		return true;
	}
	gen_image_free(out);
	if (e == SJ_ENOMEM)
		step_fail_err(c, e, "Reading the image failed");
	else
		step_fail(c, true, "EXTERNAL_SERVICE_ERROR",
			  "Generating the image failed: the answer holds no "
			  "PNG, JPEG or WebP image");
	return false;
}

#define CKPT_CARTOON_DESC "cartoon_description"

static bool
openai_cartoon(struct step_ctx *c, const char *prompt, const char *style,
	       const char *url, struct gen_image *out)
{
	char desc[GEN_DESC_MAX];
	struct json_object *full;
	bool ok;

	if (url[0] == '\0')
		return openai_image(c, prompt, style, out);
	if (!gen_describe_once(c, CKPT_CARTOON_DESC, url, desc))
		return false;
	if ((full = text_content("a cartoon portrait of %s. %s", desc,
				 prompt)) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Building the prompt failed");
		return false;
	}
	ok = openai_image(c, json_object_get_string(full), style, out);
	json_object_put(full);
	return ok;
}

const struct gen_ops gen_openai_ops = {
    .name = "openai",
    .story = openai_story,
    .scenes = openai_scenes,
    .describe = openai_describe,
    .image = openai_image,
    .cartoon = openai_cartoon,
};
