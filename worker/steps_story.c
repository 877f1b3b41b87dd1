/*
 * Handlers for image-generation, scenes, storybook and auto-story: each
 * the straight line of steps that CONTRACT section 1 gives for its type
 * (exact progress values and step texts), with the configured provider.
 *
 * DESIGN
 * Every paid step is done once.  Text results (the story, the scene
 * breakdown, the character description) are saved in the job's
 * checkpoint before the job moves on and read from there on a retry;
 * illustrations are keyed by what drew them and found in the media cache
 * (gen_image_for).  The storybook save is idempotent per job
 * (storybook_create), so a retry after a crash never makes a second book.
 * Bad input fails at once with INVALID_INPUT.  An illustration the
 * provider refuses for good (a permanent failure) leaves its scene without
 * a picture and the book with has_errors; a transient one fails the job
 * for a retry that resumes where it stopped.  Handlers never write the
 * job row: the step helpers do.
 *
 * The hero: a book's illustrations all show one character (struct
 * gen_hero), set once here -- storybook: the description of its
 * characterImage and that image (the cartoon, when the user's photo was
 * cartoonized); auto-story: its characterDescription and cartoonImageUrl;
 * image-generation: its character_description.  Each illustration is a
 * gen_scene of the scene's prompt, its own text as the caption, and the
 * hero; what the provider draws of them is in the illustration's cache
 * key, so two books with different heroes never share a picture, and a
 * card drawn without the hero's picture (it could not be read) is never
 * served for a book whose picture can be.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "storybook.h"

#include "gen.h"
#include "local.h"
#include "steps.h"
#include "story.h"

/* bytes of one input string: the API's caps (lib/job_caps.h) */
#define FIELD_MAX  JOB_CAP_BYTES(JOB_FIELD_MAX)
#define TEXT_MAX   JOB_CAP_BYTES(JOB_TEXT_MAX)
#define PROMPT_MAX JOB_CAP_BYTES(JOB_PROMPT_MAX)
#define USED_MAX   8192 /* bytes of a prompt_used */
#define BOOK_STYLE "storybook"
#define SCENES_CAP JOB_BOOK_SCENES_MAX /* STORYBOOK_MAX_SCENES' bound */

/* An input string: "" when absent; false (job failed) when malformed. */
static bool
in_str(struct step_ctx *c, const char *key, const char *dflt, const char **out)
{
	enum sj_err e = jv_str(c->job->input, key, FIELD_MAX, out);

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

/* Draws a gen_scene for gen_image_for(). */
static bool
draw_make(struct step_ctx *c, void *arg, struct gen_image *out)
{
	return gen_scene_image(c, arg, out);
}

/*
 * The cache key of an illustration of sc: prefix, the provider, the
 * prompt, the style and what the provider draws of the hero (its face
 * too: a card drawn without the picture is never taken for one with it)
 * and caption.
 */
static bool
draw_key(struct step_ctx *c, const char *prefix, const struct gen_scene *sc,
	 char key[GEN_NAME_MAX])
{
	const char *parts[6] = {sc->prompt, sc->style};
	size_t n;

	return gen_scene_key_parts(c, sc, parts + 2, &n) &&
	       gen_key(c, prefix, parts, 2 + n, key);
}

/* ---- image-generation ---- */

struct imagegen {
	const char *prompt, *character, *emotion, *style;
	struct gen_hero hero;	/* of character_description */
	struct gen_scene scene; /* the caption is the prompt */
	struct buf used;	/* prompt_used */
	char key[GEN_NAME_MAX];
	char url[STORE_URL_MAX];
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
	enum sj_err e;

	buf_init(&g->used, USED_MAX + 2 * FIELD_MAX);
	if ((g->character[0] != '\0' &&
	     ((e = buf_addstr(&g->used, g->character)) != SJ_OK ||
	      (e = buf_addstr(&g->used, ", ")) != SJ_OK)) ||
	    (e = buf_addstr(&g->used, g->prompt)) != SJ_OK ||
	    (e = buf_addf(&g->used, ", feeling %s", g->emotion)) != SJ_OK) {
		step_fail_err(c, e, "Building the prompt failed");
		return false;
	}
	g->hero = (struct gen_hero){.description = g->character, .picture = ""};
	g->scene = (struct gen_scene){g->used.data, g->style, g->prompt,
				      g->character[0] ? &g->hero : NULL};
	return draw_key(c, "image", &g->scene, g->key);
}

static void
imagegen_finish(struct step_ctx *c, struct imagegen *g, bool reused,
		const char *step)
{
	struct json_object *res;
	enum sj_err e;

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
	bool cached, mine;

	memset(&g, 0, sizeof(g));
	if (!imagegen_input(c, &g) ||
	    !step_progress(c, 10, "Checking for cached images") ||
	    !imagegen_prompt(c, &g))
		goto out;
	step_pause(c);
	if (gen_cache_get(c, g.key, g.url, &mine) && mine) {
		log_kv(LOG_LVL_DEBUG, "job", c->job->id, "cache hit",
		       LOG_STR("name", g.key));
		imagegen_finish(c, &g, true, "Retrieved from cache");
		goto out;
	}
	if (!step_progress(c, 50, "Cache check complete, generating new image"))
		goto out;
	if (!gen_image_for(c, g.key, draw_make, &g.scene, g.url, &cached))
		goto out;
	step_pause(c);
	imagegen_finish(c, &g, cached,
			cached ? "Retrieved from cache"
			       : "Image generation complete");
out:
	gen_hero_free(&g.hero);
	buf_free(&g.used);
}

/* ---- scenes ---- */

#define CKPT_CHARACTER "character"
#define CKPT_PAGES     "pages"
#define CKPT_STORY     "story"

/*
 * The character of the image at url, described by the provider once and
 * kept in the checkpoint; "the main character" when there is no image.
 */
static bool
character_of(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	if (url[0] == '\0') {
		snprintf(out, GEN_DESC_MAX, "the main character");
		return true;
	}
	return gen_describe_once(c, CKPT_CHARACTER, url, out);
}

/*
 * The scene breakdown of story: from the checkpoint, or made by the
 * provider and saved there.  *pages is a new object of the caller's (a
 * copy: what the caller adds is not checkpointed).
 */
static bool
pages_of(struct step_ctx *c, const char *story, const char *audience,
	 struct json_object **pages)
{
	struct json_object *saved = gen_ckpt(c, CKPT_PAGES), *made;

	*pages = NULL;
	if (!json_object_is_type(saved, json_type_array)) {
		if (!gen_provider(c->cfg)->scenes(c, story, audience, &made) ||
		    !gen_ckpt_save(c, CKPT_PAGES, made))
			return false;
		saved = made;
	}
	if (json_object_deep_copy(saved, pages, NULL) != 0) {
		*pages = NULL;
		step_fail_err(c, SJ_ENOMEM, "Copying the pages failed");
		return false;
	}
	return true;
}

/* The story text: from the checkpoint, or written and saved there. */
static bool
story_of(struct step_ctx *c, const char *genre, const char *character,
	 const char *audience, struct buf *out)
{
	const char *saved = gen_ckpt_str(c, CKPT_STORY);

	if (saved != NULL) {
		buf_init(out, STORY_TEXT_MAX);
		if (buf_addstr(out, saved) == SJ_OK)
			return true;
		step_fail_err(c, SJ_ENOMEM, "Reading the story failed");
		return false;
	}
	if (!gen_provider(c->cfg)->story(c, genre, character, audience, out))
		return false;
	if (!gen_ckpt_save(c, CKPT_STORY, json_object_new_string(out->data))) {
		buf_free(out);
		return false;
	}
	return true;
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
	char character[GEN_DESC_MAX];

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
	if (!character_of(c, image, character) ||
	    !step_progress(c, 30, "Character analysis complete"))
		return;
	step_pause(c);
	if (!step_progress(c, 40, "Breaking story into scenes") ||
	    !pages_of(c, story, audience, &pages))
		return;
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
	const char *character;	   /* folded into every scene's prompt */
	const char *image;	   /* characterImage / cartoonImageUrl */
	struct gen_hero hero;	   /* of character and image */
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

/*
 * Draws one scene and adds its imageUrl.  false: the job must end (a
 * transient failure, an abort).  A scene that cannot be drawn for good
 * only counts in b->failed.
 */
static bool
book_scene(struct step_ctx *c, struct book *b, struct json_object *sc)
{
	const char *desc = "", *prompt = "", *emotion = "happy";
	char key[GEN_NAME_MAX], url[STORE_URL_MAX];
	struct gen_scene d = {NULL, BOOK_STYLE, NULL, &b->hero};
	struct buf used;
	bool cached, ok;
	enum sj_err e;

	if (!json_object_is_type(sc, json_type_object))
		goto bad;
	if (jv_str(sc, "description", TEXT_MAX, &desc) != SJ_OK)
		desc = "";
	if (jv_str(sc, "imagePrompt", PROMPT_MAX, &prompt) != SJ_OK ||
	    prompt[0] == '\0')
		prompt = desc;
	if (prompt[0] == '\0')
		goto bad;
	if (jv_str(sc, "emotion", 64, &emotion) != SJ_OK)
		emotion = "happy";
	buf_init(&used, USED_MAX + 2 * FIELD_MAX);
	if ((e = buf_addf(&used, "%s%s%s, feeling %s", b->character,
			  b->character[0] ? ", " : "", prompt, emotion)) !=
	    SJ_OK) {
		step_fail_err(c, e, "Building a scene prompt failed");
		return false;
	}
	d.prompt = used.data;
	d.caption = desc[0] != '\0' ? desc : prompt;
	ok = draw_key(c, "scene", &d, key) &&
	     gen_image_for(c, key, draw_make, &d, url, &cached);
	buf_free(&used);
	if (ok) {
		if ((e = jv_add_str(sc, "imageUrl", url)) == SJ_OK)
			return true;
		step_fail_err(c, e, "Building the pages failed");
		return false;
	}
	if (c->end != RUN_FAIL || c->transient)
		return false;
	log_kv(LOG_LVL_WARN, "job", c->job->id, "scene left without a picture",
	       LOG_STR("error", c->msg));
	step_forgive(c);
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
	char character[GEN_DESC_MAX] = "";

	memset(&b, 0, sizeof(b));
	b.character = character;
	b.progress = true;
	b.hero.description = character;
	if (!storybook_input(c, &b) ||
	    !step_progress(c, 5, "Analyzing character image"))
		goto out;
	step_pause(c);
	if (!character_of(c, b.image, character) ||
	    !step_progress(c, 25, "Character analysis complete"))
		goto out;
	b.hero.picture = b.image;
	step_pause(c);
	if (!book_illustrate(c, &b) ||
	    !step_progress(c, 75, "All scenes processed, saving storybook"))
		goto out;
	step_pause(c);
	if (!book_save(c, &b))
		goto out;
	storybook_finish(c, &b);
out:
	gen_hero_free(&b.hero);
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
	if (!story_of(c, genre, character, b->audience, &text))
		return false;
	story_title(text.data, title, titlesz);
	b->title = title;
	step_pause(c);
	if (!step_progress(c, 40, "Story content generated")) {
		buf_free(&text);
		return false;
	}
	step_pause(c);
	if (!step_progress(c, 45, "Creating scene breakdown") ||
	    !pages_of(c, text.data, b->audience, &b->pages)) {
		buf_free(&text);
		return false;
	}
	buf_free(&text);
	if ((e = add_page_text(b->pages)) != SJ_OK) {
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
	    !in_str(c, "characterDescription", "", &character) ||
	    !in_str(c, "cartoonImageUrl", "", &b.image))
		goto out;
	if (!story_genre_known(genre)) {
		step_fail(c, false, "INVALID_INPUT", "Invalid genre");
		goto out;
	}
	if (!step_progress(c, 5, "Generating story content") ||
	    !auto_write(c, &b, title, sizeof(title)))
		goto out;
	b.character = character;
	b.hero =
	    (struct gen_hero){.description = character, .picture = b.image};
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
	gen_hero_free(&b.hero);
	json_object_put(b.pages);
}
