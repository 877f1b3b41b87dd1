/*
 * The auto-story handler (CONTRACT section 1): a story written, broken
 * into scenes, illustrated and saved as a book.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "storybook.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"
#include "steps_book.h"
#include "story.h"

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
auto_write(struct step_ctx *c, const struct job_auto_story_input *in,
	   struct book *b, char *title, size_t titlesz)
{
	struct buf text;
	enum sj_err e;

	if (!steps_story_of(c, job_genre_name(in->genre),
			    in->character_description, b->audience, &text))
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
	    !steps_pages_of(c, text.data, b->audience, &b->pages)) {
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
	struct job_input in;
	const struct job_auto_story_input *as = &in.u.auto_story;
	struct book b;
	char title[256];

	memset(&b, 0, sizeof(b));
	if (!steps_input(c, &in))
		return;
	b.image = as->cartoon_image_url ? as->cartoon_image_url : "";
	b.audience = job_audience_name(as->audience);
	b.style = job_style_name(JOB_BOOK_STYLE_DEFAULT);
	if (!step_progress(c, 5, "Generating story content") ||
	    !auto_write(c, as, &b, title, sizeof(title)))
		goto out;
	b.character = as->character_description;
	b.hero = (struct gen_hero){.description = as->character_description,
				   .picture = b.image};
	step_pause(c);
	if (!step_progress(c, 80, "Generating illustrations") ||
	    !steps_book_illustrate(c, &b))
		goto out;
	step_pause(c);
	if (!step_progress(c, 90, "Saving storybook") ||
	    !steps_book_save(c, &b))
		goto out;
	step_pause(c);
	auto_finish(c, &b);
out:
	gen_hero_free(&b.hero);
	json_object_put(b.pages);
	job_input_free(&in);
}
