/*
 * Handlers for image-generation, scenes, storybook and auto-story, with
 * the local provider: each the straight line of steps that CONTRACT
 * section 1 gives for its type (exact progress values and step texts).
 *
 * DESIGN
 * Illustrations are SVG scene cards from local_render_svg(), stored in
 * the media directory under a name derived from SHA-256 of what drew
 * them, so a card is rendered once and a retried job finds its earlier
 * cards already written (illustrate() checks before rendering).  The
 * storybook save is idempotent per job (storybook_create), so a retry
 * after a crash never makes a second book.  Bad input fails at once with
 * INVALID_INPUT; media, memory and database failures are transient
 * INTERNAL_ERRORs.  Handlers never write the job row: the step helpers do.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "media.h"
#include "storybook.h"

#include "local.h"
#include "story.h"
#include "worker.h"

#define PROMPT_MAX 65536 /* bytes of one input string */
#define URL_MAX	   2048	 /* bytes of a media URL */
#define CACHE_HEX  32	 /* hex digits of the key in a file name */
#define NAME_MAX_  64
#define USED_MAX   8192 /* bytes of a prompt_used */
#define BOOK_STYLE "storybook"
#define SCENES_CAP 1000 /* 50 pages of 20 scenes */

/* An input string: "" when absent; false (job failed) when malformed. */
static bool
in_str(struct step_ctx *c, const char *key, const char *dflt, const char **out)
{
	enum sj_err e = jv_str(c->job->input, key, PROMPT_MAX, out);

	if (e == SJ_ENOTFOUND) {
		*out = dflt;
		return true;
	}
	if (e != SJ_OK) {
		step_fail(c, false, "INVALID_INPUT", "Invalid %s", key);
		return false;
	}
	return true;
}

/* prefix-<first 32 hex of SHA-256(parts)>.svg */
static enum sj_err
card_name(const char *prefix, const char *const *parts, size_t n,
	  char name[NAME_MAX_])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[LOCAL_HASH_LEN];
	char key[CACHE_HEX + 1];
	enum sj_err e;

	if ((e = local_hash(parts, n, md)) != SJ_OK)
		return e;
	for (size_t i = 0; i < CACHE_HEX / 2; i++) {
		key[2 * i] = hex[md[i] >> 4];
		key[2 * i + 1] = hex[md[i] & 0xF];
	}
	key[CACHE_HEX] = '\0';
	snprintf(name, NAME_MAX_, "%s-%s.svg", prefix, key);
	return SJ_OK;
}

/*
 * Makes sure the card for (prompt, style) is stored under name and writes
 * its URL.  SJ_EINVAL from the renderer means the prompt cannot be drawn.
 */
static enum sj_err
illustrate(const struct cfg *cfg, const char *name, const char *prompt,
	   const char *style, char url[URL_MAX])
{
	struct buf svg;
	enum sj_err e;

	if (!media_exists(cfg->media_dir, name)) {
		if ((e = local_render_svg(prompt, style, &svg)) != SJ_OK)
			return e;
		e = media_write(cfg->media_dir, name, svg.data, svg.len);
		buf_free(&svg);
		if (e != SJ_OK)
			return e;
	}
	return media_url(cfg, name, url, URL_MAX);
}

/* ---- image-generation ---- */

struct imagegen {
	const char *prompt, *character, *emotion, *style;
	struct buf used; /* prompt_used */
	char name[NAME_MAX_];
	char url[URL_MAX];
};

static bool
imagegen_input(struct step_ctx *c, struct imagegen *g)
{
	if (!in_str(c, "image_prompt", "", &g->prompt) ||
	    !in_str(c, "character_description", "", &g->character) ||
	    !in_str(c, "emotion", "happy", &g->emotion) ||
	    !in_str(c, "style", LOCAL_STYLE_DEFAULT, &g->style))
		return false;
	if (g->prompt[0] == '\0') {
		step_fail(c, false, "INVALID_INPUT", "Prompt is required");
		return false;
	}
	if (!local_style_known(g->style)) {
		step_fail(c, false, "INVALID_INPUT",
			  "Invalid style. Must be one of: storybook, "
			  "semi-realistic, comic-book, flat-illustration, "
			  "anime");
		return false;
	}
	return true;
}

/* "<character>, <prompt>, feeling <emotion>" (character when given). */
static bool
imagegen_prompt(struct step_ctx *c, struct imagegen *g)
{
	const char *parts[4] = {g->prompt, g->character, g->emotion, g->style};
	enum sj_err e;

	buf_init(&g->used, USED_MAX + PROMPT_MAX);
	if ((g->character[0] != '\0' &&
	     ((e = buf_addstr(&g->used, g->character)) != SJ_OK ||
	      (e = buf_addstr(&g->used, ", ")) != SJ_OK)) ||
	    (e = buf_addstr(&g->used, g->prompt)) != SJ_OK ||
	    (e = buf_addf(&g->used, ", feeling %s", g->emotion)) != SJ_OK ||
	    (e = card_name("image", parts, 4, g->name)) != SJ_OK) {
		step_fail_err(c, e, "Building the prompt failed");
		return false;
	}
	return true;
}

static void
imagegen_finish(struct step_ctx *c, struct imagegen *g, bool reused,
		const char *step)
{
	struct json_object *res;
	enum sj_err e;

	if ((e = media_url(c->cfg, g->name, g->url, sizeof(g->url))) != SJ_OK) {
		step_fail_err(c, e, "Building the image URL failed");
		return;
	}
	if ((res = json_object_new_object()) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Building the result failed");
		return;
	}
	if ((e = jv_add_str(res, "url", g->url)) != SJ_OK ||
	    (e = jv_add_str(res, "prompt_used", g->used.data)) != SJ_OK ||
	    (e = jv_add_bool(res, "reused", reused)) != SJ_OK)
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, step);
	json_object_put(res);
}

void
steps_image_generation(struct step_ctx *c)
{
	struct imagegen g;
	enum sj_err e;

	memset(&g, 0, sizeof(g));
	if (!imagegen_input(c, &g) ||
	    !step_progress(c, 10, "Checking for cached images") ||
	    !imagegen_prompt(c, &g))
		goto out;
	step_pause(c);
	if (media_exists(c->cfg->media_dir, g.name)) {
		log_job(LOG_LVL_DEBUG, c->job->id, "cache hit %s", g.name);
		imagegen_finish(c, &g, true, "Retrieved from cache");
		goto out;
	}
	if (!step_progress(c, 50, "Cache check complete, generating new image"))
		goto out;
	e = illustrate(c->cfg, g.name, g.used.data, g.style, g.url);
	if (e != SJ_OK) {
		step_fail_err(c, e, "Generating the image failed");
		goto out;
	}
	step_pause(c);
	imagegen_finish(c, &g, false, "Image generation complete");
out:
	buf_free(&g.used);
}

/* ---- scenes ---- */

/*
 * A short description of the character from the image URL's file name:
 * its letter-only words ("brave-fox.png" gives "brave fox character"),
 * else "the main character".
 */
static void
character_from_url(const char *url, char *out, size_t outsz)
{
	const char *base = strrchr(url, '/');
	size_t n = 0, end;

	base = base ? base + 1 : url;
	end = strcspn(base, ".?#");
	for (size_t i = 0; i < end;) {
		size_t w = strcspn(base + i, "-_ +.?#");
		bool letters = w > 0 && w <= 20;

		if (i + w > end)
			w = end - i;
		for (size_t j = 0; j < w && letters; j++)
			letters = (base[i + j] >= 'a' && base[i + j] <= 'z') ||
				  (base[i + j] >= 'A' && base[i + j] <= 'Z');
		if (letters && n + w + 12 < outsz) {
			if (n > 0)
				out[n++] = ' ';
			memcpy(out + n, base + i, w);
			n += w;
		}
		i += w + 1;
	}
	if (n == 0)
		snprintf(out, outsz, "the main character");
	else
		snprintf(out + n, outsz - n, " character");
}

static void
scenes_finish(struct step_ctx *c, struct json_object *pages,
	      const char *character)
{
	struct json_object *res = json_object_new_object();
	enum sj_err e = SJ_ENOMEM;

	if (res == NULL ||
	    (e = jv_add(res, "pages", json_object_get(pages))) != SJ_OK ||
	    (e = jv_add_str(res, "character_description", character)) != SJ_OK)
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, "Scene generation complete");
	json_object_put(res);
}

void
steps_scenes(struct step_ctx *c)
{
	const char *story, *image, *audience;
	struct json_object *pages = NULL;
	char character[256];
	enum sj_err e;

	if (!in_str(c, "story", "", &story) ||
	    !in_str(c, "characterImage", "", &image) ||
	    !in_str(c, "audience", "children", &audience))
		return;
	if (strlen(story) < 50) {
		step_fail(c, false, "INVALID_INPUT",
			  "Story must be at least 50 characters long.");
		return;
	}
	if (!step_progress(c, 10, "Analyzing story structure"))
		return;
	step_pause(c);
	character_from_url(image, character, sizeof(character));
	if (!step_progress(c, 30, "Character analysis complete"))
		return;
	step_pause(c);
	if (!step_progress(c, 40, "Breaking story into scenes"))
		return;
	if ((e = story_scenes(story, audience, &pages)) != SJ_OK) {
		if (e == SJ_EINVAL)
			step_fail(c, false, "INVALID_INPUT",
				  "Story content is required");
		else
			step_fail_err(c, e, "Breaking the story failed");
		return;
	}
	step_pause(c);
	if (!step_progress(c, 70, "Scene breakdown complete"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 90, "Finalizing scene layout"))
		goto out;
	step_pause(c);
	scenes_finish(c, pages, character);
out:
	json_object_put(pages);
}

/* ---- storybook and auto-story: illustrating and saving ---- */

struct book {
	const char *title;
	const char *audience;
	const char *character;	   /* folded into every scene's card */
	const char *image;	   /* storybook: characterImage */
	struct json_object *pages; /* owned: a copy with imageUrl added */
	size_t total, done, failed;
	bool progress; /* report "Generated n/total" steps */
	char id[STORYBOOK_ID_MAX];
};

static size_t
count_scenes(struct json_object *pages)
{
	size_t n = 0, np = json_object_array_length(pages);

	for (size_t p = 0; p < np; p++) {
		struct json_object *sc;

		if (jv_array(json_object_array_get_idx(pages, p), "scenes",
			     &sc) == SJ_OK)
			n += json_object_array_length(sc);
	}
	return n;
}

/* Draws one scene and adds its imageUrl; false only for a hard failure. */
static bool
book_scene(struct step_ctx *c, struct book *b, struct json_object *sc)
{
	const char *desc = "", *prompt = "", *emotion = "happy";
	const char *parts[3];
	char name[NAME_MAX_], url[URL_MAX];
	struct buf used;
	enum sj_err e;

	if (!json_object_is_type(sc, json_type_object))
		goto bad;
	if (jv_str(sc, "description", PROMPT_MAX, &desc) != SJ_OK)
		desc = "";
	if (jv_str(sc, "imagePrompt", PROMPT_MAX, &prompt) != SJ_OK ||
	    prompt[0] == '\0')
		prompt = desc;
	if (prompt[0] == '\0')
		goto bad;
	if (jv_str(sc, "emotion", 64, &emotion) != SJ_OK)
		emotion = "happy";
	buf_init(&used, USED_MAX + 2 * PROMPT_MAX);
	if ((e = buf_addf(&used, "%s%s%s, feeling %s", b->character,
			  b->character[0] ? ", " : "", prompt, emotion)) !=
	    SJ_OK)
		goto fail;
	parts[0] = used.data;
	parts[1] = BOOK_STYLE;
	parts[2] = "scene";
	if ((e = card_name("scene", parts, 3, name)) != SJ_OK ||
	    (e = illustrate(c->cfg, name, used.data, BOOK_STYLE, url)) !=
		SJ_OK ||
	    (e = jv_add_str(sc, "imageUrl", url)) != SJ_OK)
		goto fail;
	buf_free(&used);
	return true;
fail:
	buf_free(&used);
	log_job(LOG_LVL_WARN, c->job->id, "scene illustration failed: %s",
		sj_strerror(e));
	if (e == SJ_ENOMEM || e == SJ_EIO) {
		/* the store or the process is in trouble: retry the job */
		step_fail_err(c, e, "Saving a scene illustration failed");
		return false;
	}
	b->failed++;
	return true;
bad:
	b->failed++;
	return true;
}

/* Illustrates every scene of b->pages, reporting progress when asked. */
static bool
book_illustrate(struct step_ctx *c, struct book *b)
{
	size_t np = json_object_array_length(b->pages);
	char step[96];

	b->total = count_scenes(b->pages);
	for (size_t p = 0; p < np; p++) {
		struct json_object *scenes;
		size_t ns;

		if (jv_array(json_object_array_get_idx(b->pages, p), "scenes",
			     &scenes) != SJ_OK)
			continue;
		ns = json_object_array_length(scenes);
		for (size_t i = 0; i < ns; i++) {
			if (!book_scene(c, b,
					json_object_array_get_idx(scenes, i)))
				return false;
			b->done++;
			if (!b->progress)
				continue;
			snprintf(step, sizeof(step),
				 "Generated %zu/%zu scene illustrations",
				 b->done, b->total);
			if (!step_progress(
				c, (int)(25 + b->done * 50 / b->total), step))
				return false;
			step_pause(c);
		}
	}
	return true;
}

static bool
book_save(struct step_ctx *c, struct book *b)
{
	struct storybook_new sb = {
	    .user_id = c->job->user_id,
	    .job_id = c->job->id,
	    .title = b->title,
	    .audience = b->audience,
	    .pages = b->pages,
	    .has_errors = b->failed > 0,
	};
	enum sj_err e = storybook_create(c->db, &sb, b->id);

	if (e != SJ_OK) {
		step_fail_err(c, e, "Saving the storybook failed");
		return false;
	}
	return true;
}

/* ---- storybook ---- */

static bool
storybook_input(struct step_ctx *c, struct book *b)
{
	struct json_object *pages;
	size_t n;

	if (!in_str(c, "title", "", &b->title) ||
	    !in_str(c, "characterImage", "", &b->image) ||
	    !in_str(c, "audience", "children", &b->audience))
		return false;
	if (b->title[0] == '\0') {
		step_fail(c, false, "INVALID_INPUT", "Title is required");
		return false;
	}
	if (jv_array(c->job->input, "pages", &pages) != SJ_OK ||
	    json_object_array_length(pages) == 0) {
		step_fail(c, false, "INVALID_INPUT",
			  "At least one page is required");
		return false;
	}
	n = count_scenes(pages);
	if (n == 0 || n > SCENES_CAP) {
		step_fail(c, false, "INVALID_INPUT",
			  "Each page needs 1 to 20 scenes");
		return false;
	}
	if (json_object_deep_copy(pages, &b->pages, NULL) != 0) {
		b->pages = NULL;
		step_fail_err(c, SJ_ENOMEM, "Copying the pages failed");
		return false;
	}
	return true;
}

static void
storybook_finish(struct step_ctx *c, struct book *b)
{
	struct json_object *res = json_object_new_object();
	char warning[128];
	enum sj_err e = SJ_ENOMEM;

	snprintf(warning, sizeof(warning),
		 "%zu of %zu scene illustrations could not be generated",
		 b->failed, b->total);
	if (res == NULL ||
	    (e = jv_add_str(res, "storybook_id", b->id)) != SJ_OK ||
	    (e = jv_add(res, "pages", json_object_get(b->pages))) != SJ_OK ||
	    (e = jv_add_bool(res, "has_errors", b->failed > 0)) != SJ_OK ||
	    (b->failed > 0 &&
	     (e = jv_add_str(res, "warning", warning)) != SJ_OK))
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, "Storybook saved successfully");
	json_object_put(res);
}

void
steps_storybook(struct step_ctx *c)
{
	struct book b;
	char character[256] = "";

	memset(&b, 0, sizeof(b));
	b.character = character;
	b.progress = true;
	if (!storybook_input(c, &b) ||
	    !step_progress(c, 5, "Analyzing character image"))
		goto out;
	step_pause(c);
	character_from_url(b.image, character, sizeof(character));
	if (!step_progress(c, 25, "Character analysis complete"))
		goto out;
	step_pause(c);
	if (!book_illustrate(c, &b) ||
	    !step_progress(c, 75, "All scenes processed, saving storybook"))
		goto out;
	step_pause(c);
	if (!book_save(c, &b))
		goto out;
	storybook_finish(c, &b);
out:
	json_object_put(b.pages);
}

/* ---- auto-story ---- */

/* Splits the title line off the story text; title is a copy. */
static void
story_title(const char *text, char *title, size_t titlesz)
{
	size_t n = strcspn(text, "\n");

	if (n >= titlesz)
		n = titlesz - 1;
	memcpy(title, text, n);
	title[n] = '\0';
}

/* Adds each page's text (its scenes' descriptions) so the book holds the
 * whole story. */
static enum sj_err
add_page_text(struct json_object *pages)
{
	size_t np = json_object_array_length(pages);

	for (size_t p = 0; p < np; p++) {
		struct json_object *page = json_object_array_get_idx(pages, p);
		struct json_object *scenes;
		struct buf t;
		enum sj_err e = SJ_OK;

		if (jv_array(page, "scenes", &scenes) != SJ_OK)
			continue;
		buf_init(&t, STORY_TEXT_MAX);
		for (size_t i = 0; i < json_object_array_length(scenes); i++) {
			const char *d;

			if (jv_str(json_object_array_get_idx(scenes, i),
				   "description", STORY_TEXT_MAX, &d) != SJ_OK)
				continue;
			if ((t.len > 0 &&
			     (e = buf_addstr(&t, "\n\n")) != SJ_OK) ||
			    (e = buf_addstr(&t, d)) != SJ_OK)
				return e;
		}
		if ((e = buf_add(&t, "", 0)) != SJ_OK)
			return e;
		e = jv_add_str(page, "text", t.data);
		buf_free(&t);
		if (e != SJ_OK)
			return e;
	}
	return SJ_OK;
}

static void
auto_finish(struct step_ctx *c, struct book *b)
{
	struct json_object *res = json_object_new_object();
	enum sj_err e = SJ_ENOMEM;

	if (res == NULL ||
	    (e = jv_add_str(res, "storybook_id", b->id)) != SJ_OK ||
	    (e = jv_add_str(res, "title", b->title)) != SJ_OK)
		step_fail_err(c, e, "Building the result failed");
	else
		step_complete(c, res, "Auto-story generation complete");
	json_object_put(res);
}

/* Writes the story and breaks it into b->pages; false: job failed. */
static bool
auto_write(struct step_ctx *c, struct book *b, char *title, size_t titlesz)
{
	const char *genre, *character;
	struct buf text;
	enum sj_err e;

	if (!in_str(c, "genre", "", &genre) ||
	    !in_str(c, "characterDescription", "", &character) ||
	    !in_str(c, "audience", "children", &b->audience))
		return false;
	if ((e = story_write(genre, character, b->audience, &text)) != SJ_OK) {
		if (e == SJ_EINVAL)
			step_fail(c, false, "INVALID_INPUT", "Invalid genre");
		else
			step_fail_err(c, e, "Writing the story failed");
		return false;
	}
	story_title(text.data, title, titlesz);
	b->title = title;
	step_pause(c);
	if (!step_progress(c, 40, "Story content generated")) {
		buf_free(&text);
		return false;
	}
	step_pause(c);
	if (!step_progress(c, 45, "Creating scene breakdown")) {
		buf_free(&text);
		return false;
	}
	e = story_scenes(text.data, b->audience, &b->pages);
	buf_free(&text);
	if (e == SJ_OK)
		e = add_page_text(b->pages);
	if (e != SJ_OK) {
		step_fail_err(c, e, "Breaking the story into scenes failed");
		return false;
	}
	return true;
}

void
steps_auto_story(struct step_ctx *c)
{
	struct book b;
	char title[256];
	const char *genre, *character;

	memset(&b, 0, sizeof(b));
	if (!in_str(c, "genre", "", &genre) ||
	    !in_str(c, "characterDescription", "", &character))
		goto out;
	if (!story_genre_known(genre)) {
		step_fail(c, false, "INVALID_INPUT", "Invalid genre");
		goto out;
	}
	if (!step_progress(c, 5, "Generating story content") ||
	    !auto_write(c, &b, title, sizeof(title)))
		goto out;
	b.character = character;
	step_pause(c);
	if (!step_progress(c, 80, "Generating illustrations") ||
	    !book_illustrate(c, &b))
		goto out;
	step_pause(c);
	if (!step_progress(c, 90, "Saving storybook") || !book_save(c, &b))
		goto out;
	step_pause(c);
	auto_finish(c, &b);
out:
	json_object_put(b.pages);
}
