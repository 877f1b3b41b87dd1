/*
 * Illustrating and saving a book, for the storybook and auto-story
 * handlers (steps_book.c).
 */
#ifndef SJ_WORKER_STEPS_BOOK_H
#define SJ_WORKER_STEPS_BOOK_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "storybook.h"

#include "gen.h"
#include "step.h"

struct book {
	const char *title;
	const char *audience;	   /* the contract's word (job_input.h) */
	const char *style;	   /* the illustrations' style name */
	const char *character;	   /* folded into every scene's prompt */
	const char *image;	   /* characterImage / cartoonImageUrl */
	struct gen_hero hero;	   /* of character and image */
	struct json_object *pages; /* owned: a copy with imageUrl added */
	size_t total, done, failed;
	bool progress; /* report "Generated n/total" steps */
	char id[STORYBOOK_ID_MAX];
};

/* Scenes in pages [{scenes: [...]}, ...]. */
size_t steps_count_scenes(struct json_object *pages);
/*
 * Illustrates every scene of b->pages (adding its imageUrl), reporting
 * "Generated n/total" when b->progress; a scene the provider refuses for
 * good is left without a picture and counted in b->failed.
 */
bool steps_book_illustrate(struct step_ctx *c, struct book *b) SJ_WUR;
/* Saves b as a storybook (once per job) into b->id. */
bool steps_book_save(struct step_ctx *c, struct book *b) SJ_WUR;

#endif
