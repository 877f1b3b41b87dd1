/*
 * The scene plan of a story (story_plan.c): its sentences, its
 * paragraphs, and which sentences each scene takes.  Internal to the
 * scene breakdown of story.c.
 */
#ifndef SJ_STORY_PLAN_H
#define SJ_STORY_PLAN_H

#include <stddef.h>

#include "err.h"
#include "sentence.h"

/* The sentences of a story and the scenes they are grouped into. */
struct story_plan {
	const char *t;
	struct sent *ss;
	size_t n;      /* sentences */
	size_t *para;  /* first sentence of each paragraph, then n */
	size_t npara;  /* paragraphs */
	size_t *share; /* scenes given to each paragraph */
	size_t *at;    /* first sentence of each scene, then n */
	size_t nsc;    /* scenes */
};

/*
 * Splits t[start..len) into sentences (only one longer than a scene can
 * hold is cut) and finds its paragraphs.  pl is set up here; the caller
 * story_plan_free()s it whatever the result.  SJ_EINVAL: no sentence;
 * SJ_ENOMEM.
 */
enum sj_err story_plan_init(struct story_plan *pl, const char *t, size_t start,
			    size_t len) SJ_WUR;

/*
 * Groups the sentences into target scenes (fewer when there are fewer
 * sentences, more when the text would not fit): pl->nsc and pl->at.
 * Every scene's text is at most STORY_DESC_MAX bytes.
 */
void story_plan_group(struct story_plan *pl, size_t target);

void story_plan_free(struct story_plan *pl);

#endif
