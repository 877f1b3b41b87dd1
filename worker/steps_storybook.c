/*
 * The storybook handler (CONTRACT section 1): a book of the given scenes,
 * illustrated with its character image's hero, saved once.
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

#define SCENES_CAP JOB_BOOK_SCENES_MAX /* STORYBOOK_MAX_SCENES' bound */

static bool
storybook_input(struct step_ctx *c, struct book *b)
{
	struct json_object *pages;
	size_t n;

	if (!steps_in_str(c, "title", "", &b->title) ||
	    !steps_in_str(c, "characterImage", "", &b->image) ||
	    !steps_in_str(c, "audience", "children", &b->audience))
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
	n = steps_count_scenes(pages);
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
	if (!steps_character_of(c, b.image, character) ||
	    !step_progress(c, 25, "Character analysis complete"))
		goto out;
	b.hero.picture = b.image;
	step_pause(c);
	if (!steps_book_illustrate(c, &b) ||
	    !step_progress(c, 75, "All scenes processed, saving storybook"))
		goto out;
	step_pause(c);
	if (!steps_book_save(c, &b))
		goto out;
	storybook_finish(c, &b);
out:
	gen_hero_free(&b.hero);
	json_object_put(b.pages);
}
