/*
 * The storybook handler (CONTRACT section 1): a book of the given scenes,
 * illustrated with its character image's hero, saved once.
 *
 * A storybook started with its story and no pages (needs_plan) is planned
 * here first: the story's scene breakdown, made by the same provider call
 * as a scenes job's (steps_pages_of) and saved in the checkpoint before
 * anything else, so it is paid for once across retries and crashes; the
 * plan must fit this worker's STORYBOOK_MAX_PAGES and
 * STORYBOOK_MAX_SCENES (INVALID_INPUT otherwise).  From there the book is
 * drawn and saved as one given its pages.  The steps are job_steps()'s:
 * the plan's (JOB_STEP_BOOK_PLAN) first, then the contract's five.
 */
#include <stdio.h>
#include <string.h>

#include "job_steps.h"
#include "jsonv.h"
#include "log.h"
#include "storybook.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"
#include "steps_book.h"

/* The given pages, in the normal form the row stores, into b->pages. */
static bool
book_given(struct step_ctx *c, const struct job_input *in, struct book *b)
{
	struct json_object *norm = NULL, *pages;
	enum sj_err e = job_input_to_json(in, &norm);

	if (e == SJ_OK && (e = jv_array(norm, "pages", &pages)) == SJ_OK)
		b->pages = json_object_get(pages);
	json_object_put(norm);
	if (e != SJ_OK) {
		step_fail_err(c, e, "Reading the pages failed");
		return false;
	}
	return true;
}

/* The plan of the story, checkpointed, within this worker's limits. */
static bool
book_plan(struct step_ctx *c, const struct job_storybook_input *in,
	  struct book *b)
{
	struct job_limits lim;
	const char *msg = NULL;
	size_t np, ns;

	if (!step_progress(c, JOB_STEP_BOOK_PLAN_PCT, JOB_STEP_BOOK_PLAN) ||
	    !steps_pages_of(c, in->story, b->audience, &b->pages))
		return false;
	job_limits_of(c->cfg, &lim);
	np = json_object_array_length(b->pages);
	ns = steps_count_scenes(b->pages);
	if (job_input_book_fits(&lim, np, ns, &msg) != SJ_OK) {
		step_fail(c, false, "INVALID_INPUT",
			  "The story's plan is over %s: %s",
			  (int64_t)np > lim.book_pages ? "STORYBOOK_MAX_PAGES"
						       : "STORYBOOK_MAX_SCENES",
			  msg);
		return false;
	}
	log_kv(LOG_LVL_DEBUG, "job", c->job->id, "book planned",
	       LOG_INT("pages", (long long)np),
	       LOG_INT("scenes", (long long)ns));
	step_pause(c);
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
	struct job_input in;
	const struct job_storybook_input *sb = &in.u.book;
	struct book b;
	char character[GEN_DESC_MAX] = "";

	memset(&b, 0, sizeof(b));
	if (!steps_input(c, &in))
		return;
	b.title = sb->title;
	b.image = sb->character_image ? sb->character_image : "";
	b.audience = job_audience_name(sb->audience);
	b.style = job_style_name(sb->style);
	b.character = character;
	b.progress = true;
	b.hero.description = character;
	if (!(sb->needs_plan ? book_plan(c, sb, &b) : book_given(c, &in, &b)) ||
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
	job_input_free(&in);
}
