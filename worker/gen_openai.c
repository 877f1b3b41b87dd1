/*
 * The openai provider: an OpenAI-compatible API (OPENAI_BASE_URL,
 * OPENAI_API_KEY).  This file holds its chat half and the provider's
 * table's operations with no job attached (job_openai.c runs them inside
 * a job); illustrations are in gen_openai_image.c, one call to the API
 * in gen_openai_call.c (gen_openai.h says how the parts fit).
 *
 * DESIGN
 * Chat completions serve three steps: stories, scene breakdowns (in JSON
 * mode, with the audience's page and scene targets in the prompt) and,
 * with the picture sent inline as a data: URL, the description of a
 * character.  Each request takes the fields its model's family needs
 * (lib/openai.c: max_completion_tokens and reasoning_effort for
 * reasoning models, max_tokens within the model's limit and a
 * temperature for classic ones, the current shape for models it does not
 * know).
 *
 * Answers are untrusted: each is parsed strictly, checked field by field
 * and capped (1 MiB); a scene breakdown is copied into a checked,
 * renumbered structure, each text cut after a whole sentence.  An answer
 * that does not have the promised shape is a transient upstream failure,
 * like a 5xx.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "openai.h"

#include "gen_openai.h"
#include "sentence.h"
#include "story.h"

#define CHAT_MAX   (1u << 20) /* bytes of a chat answer */
#define PAGES_MAX  50
#define SCENES_MAX 20 /* per page */

static const char *
audience_phrase(const char *audience)
{
	if (audience != NULL && strcmp(audience, "adults") == 0)
		return "adult readers";
	if (audience != NULL && strcmp(audience, "young_adults") == 0)
		return "young adult readers";
	return "young children";
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
chat(const struct gen_ctx *g, const char *system, struct json_object *user,
     bool json_mode, const char *what, struct buf *out, struct gen_fail *f)
{
	struct json_object *body = json_object_new_object(), *msgs = NULL,
			   *ans = NULL, *choices, *msg;
	struct openai_kind k = openai_chat_kind(g);
	const char *text;
	enum sj_err e = SJ_ENOMEM;

	buf_init(out, CHAT_MAX);
	if (body != NULL &&
	    jv_add(body, "messages", msgs = json_object_new_array()) == SJ_OK &&
	    push(msgs, message("system", json_object_new_string(system))) ==
		SJ_OK)
		e = jv_add_str(body, "model", g->cfg->openai_model);
	/* user is taken whatever happened above */
	e = e == SJ_OK ? push(msgs, message("user", user))
		       : (json_object_put(user), SJ_ENOMEM);
	/* the fields the model's family takes (lib/openai.c) */
	if (e == SJ_OK)
		e = oai_chat_fields(body, k.model, json_mode);
	if (e != SJ_OK) {
		json_object_put(body);
		gen_fail_err(f, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!openai_post(g, "/chat/completions", body, CHAT_MAX, what, &k, &ans,
			 f))
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
		gen_fail_set(f, true, "EXTERNAL_SERVICE_ERROR",
			     "%s failed: the answer holds no text", what);
	else if (e != SJ_OK)
		gen_fail_err(f, e, "Reading the answer failed");
	return e == SJ_OK;
}

bool
openai_story(const struct gen_ctx *g, const char *genre, const char *character,
	     const char *audience, struct buf *out, struct gen_fail *f)
{
	int scenes, pages;

	story_targets(audience, &scenes, &pages);
	return chat(g,
		    "You write illustrated stories. Answer with the story "
		    "only: a title on the first line, a blank line, then short "
		    "paragraphs separated by blank lines.",
		    openai_text("Write a %s story for %s about this "
				"character: %s. Use %d paragraphs.",
				genre, audience_phrase(audience), character,
				scenes),
		    false, "Writing the story", out, f);
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
	return jv_add(
	    dst, key,
	    json_object_new_string_len(s, (int)sent_clip(s, strlen(s), max)));
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

bool
openai_scenes(const struct gen_ctx *g, const char *story, const char *audience,
	      struct json_object **pages, struct gen_fail *f)
{
	struct json_object *ans = NULL;
	struct buf text;
	const char *why;
	int scenes, npages;
	enum sj_err e;

	*pages = NULL;
	story_targets(audience, &scenes, &npages);
	if (!chat(g,
		  "You break stories into illustrated scenes. Answer with JSON "
		  "only, shaped {\"pages\":[{\"pageNumber\":1,\"scenes\":[{"
		  "\"description\":\"...\",\"emotion\":\"...\",\"imagePrompt\":"
		  "\"...\"}]}]}: description is the scene's text, emotion one "
		  "word, imagePrompt a short picture description.",
		  openai_text("Break this story for %s into %d scenes on %d "
			      "pages (PAGES=%d SCENES=%d).\n\nStory:\n%s",
			      audience_phrase(audience), scenes, npages, npages,
			      scenes, story),
		  true, "Breaking the story into scenes", &text, f))
		return false;
	e = json_parse_strict(text.data, text.len, JSONV_DEPTH, &ans, &why);
	buf_free(&text);
	if (e == SJ_OK)
		e = pages_copy(ans, pages);
	json_object_put(ans);
	if (e == SJ_EINVAL)
		gen_fail_set(f, true, "EXTERNAL_SERVICE_ERROR",
			     "Breaking the story into scenes failed: the "
			     "answer is not a scene breakdown");
	else if (e != SJ_OK)
		gen_fail_err(f, e, "Reading the scenes failed");
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

bool
openai_describe(const struct gen_ctx *g, const char *url,
		char out[GEN_DESC_MAX], struct gen_fail *f)
{
	struct json_object *content, *part;
	struct gen_image img;
	struct buf text;

	if (!gen_fetch_image(g, url, &img, f))
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
		gen_fail_err(f, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	part = image_part(&img);
	gen_image_free(&img);
	if (part == NULL || json_object_array_add(content, part) != 0) {
		json_object_put(part);
		json_object_put(content);
		gen_fail_err(f, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!chat(g, "You describe characters for illustrators.", content,
		  false, "Describing the character", &text, f))
		return false;
	snprintf(out, GEN_DESC_MAX, "%s", text.data);
	buf_free(&text);
	return true;
}

bool
openai_describe_once(const struct gen_ctx *g, const char *key, const char *url,
		     char out[GEN_DESC_MAX], struct gen_fail *f)
{
	struct json_object *saved = gen_ctx_ckpt(g, key);

	if (json_object_is_type(saved, json_type_string)) {
		snprintf(out, GEN_DESC_MAX, "%s",
			 json_object_get_string(saved));
		return true;
	}
	return openai_describe(g, url, out, f) &&
	       gen_ctx_save(g, key, json_object_new_string(out), f);
}
