/*
 * The grouping of a story's sentences into scenes; see story_plan.h.
 *
 * DESIGN
 * Scenes are made of whole sentences: sent_split() is given the room of
 * a scene's description (DESC_ROOM) as its cap, so it cuts only a
 * sentence that no scene could hold, and every piece fits one scene.  A
 * story with no more sentences than the scene target gets one scene per
 * sentence (fewer scenes than the target, never fragments).  A longer one
 * is grouped into the target: whole paragraphs per scene when there are
 * at least as many paragraphs as scenes, else scenes shared out between
 * paragraphs by their sentence counts and sentences spread evenly inside
 * each -- a scene never straddles a paragraph then.  When a scene would
 * not fit a description, paragraphs and equal counts are given up for
 * scenes of about equal length, then scenes are added, one at a time:
 * with one sentence (or piece) per scene everything fits, so it ends.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "story.h"
#include "story_plan.h"

#define SENTS_MAX 32768		       /* sentences of one story */
#define DESC_ROOM (STORY_DESC_MAX - 8) /* a scene's text, flattened */

/*
 * Scenes made of whole paragraphs, paragraphs spread evenly over them
 * (npara >= nsc).
 */
static void
group_paragraphs(struct story_plan *pl)
{
	for (size_t i = 0; i < pl->nsc; i++)
		pl->at[i] = pl->para[i * pl->npara / pl->nsc];
	pl->at[pl->nsc] = pl->n;
}

/*
 * Scenes inside paragraphs (npara < nsc <= n): every paragraph gets one
 * scene, each further scene goes to the paragraph with the most
 * sentences per scene, and a paragraph's sentences are spread evenly over
 * its scenes.
 */
static void
group_sentences(struct story_plan *pl)
{
	size_t k = 0;

	for (size_t p = 0; p < pl->npara; p++)
		pl->share[p] = 1;
	for (size_t extra = pl->nsc - pl->npara; extra > 0; extra--) {
		size_t best = pl->npara, bn = 0, bs = 1;

		for (size_t p = 0; p < pl->npara; p++) {
			size_t np = pl->para[p + 1] - pl->para[p];

			if (pl->share[p] < np &&
			    (best == pl->npara ||
			     np * bs > bn * pl->share[p])) {
				best = p;
				bn = np;
				bs = pl->share[p];
			}
		}
		pl->share[best]++;
	}
	for (size_t p = 0; p < pl->npara; p++) {
		size_t np = pl->para[p + 1] - pl->para[p];

		for (size_t i = 0; i < pl->share[p]; i++)
			pl->at[k++] = pl->para[p] + i * np / pl->share[p];
	}
	pl->at[pl->nsc] = pl->n;
}

/*
 * Scenes of about equal length, paragraphs ignored: a scene takes the
 * sentences whose middles fall in its share of the text (at least one,
 * and leaving one for each scene after it).
 */
static void
group_bytes(struct story_plan *pl)
{
	const struct sent *ss = pl->ss;
	size_t start = ss[0].off, k = 0;
	size_t total = ss[pl->n - 1].off + ss[pl->n - 1].len - start;

	for (size_t i = 0; i < pl->nsc; i++) {
		size_t end = start + (i + 1) * total / pl->nsc;

		pl->at[i] = k;
		do
			k++;
		while (k < pl->n - (pl->nsc - 1 - i) &&
		       ss[k].off + ss[k].len / 2 <= end);
	}
	pl->at[pl->nsc] = pl->n;
}

/* Whether every scene's text fits a description. */
static bool
groups_fit(const struct story_plan *pl)
{
	for (size_t i = 0; i < pl->nsc; i++) {
		const struct sent *a = &pl->ss[pl->at[i]];
		const struct sent *z = &pl->ss[pl->at[i + 1] - 1];

		if (z->off + z->len - a->off > DESC_ROOM)
			return false;
	}
	return true;
}

/*
 * Groups the sentences into target scenes (fewer when there are fewer
 * sentences).  When a scene would not fit a description, paragraphs are
 * given up before more scenes are added.  Ends: with one sentence per
 * scene every scene fits, as no piece of sent_split() passes DESC_ROOM.
 */
void
story_plan_group(struct story_plan *pl, size_t target)
{
	size_t total = pl->ss[pl->n - 1].off + pl->ss[pl->n - 1].len;

	pl->nsc = target;
	if (pl->nsc < total / DESC_ROOM)
		pl->nsc = total / DESC_ROOM;
	for (;; pl->nsc++) {
		if (pl->nsc >= pl->n) {
			pl->nsc = pl->n;
			for (size_t i = 0; i <= pl->n; i++)
				pl->at[i] = i;
			return;
		}
		if (pl->npara >= pl->nsc)
			group_paragraphs(pl);
		else
			group_sentences(pl);
		if (groups_fit(pl))
			return;
		group_bytes(pl);
		if (groups_fit(pl))
			return;
	}
}

/* Splits the story into sentences and finds its paragraphs. */
enum sj_err
story_plan_init(struct story_plan *pl, const char *t, size_t start, size_t len)
{
	memset(pl, 0, sizeof(*pl));
	pl->t = t;
	if ((pl->ss = calloc(SENTS_MAX, sizeof(*pl->ss))) == NULL)
		return SJ_ENOMEM;
	/* a sentence is cut only when it cannot fit a scene at all */
	pl->n =
	    sent_split(t + start, len - start, pl->ss, SENTS_MAX, DESC_ROOM);
	if (pl->n == 0)
		return SJ_EINVAL;
	for (size_t i = 0; i < pl->n; i++)
		pl->ss[i].off += start;
	if ((pl->para = calloc(pl->n + 1, sizeof(size_t))) == NULL ||
	    (pl->share = calloc(pl->n + 1, sizeof(size_t))) == NULL ||
	    (pl->at = calloc(pl->n + 1, sizeof(size_t))) == NULL)
		return SJ_ENOMEM;
	for (size_t i = 0; i < pl->n; i++)
		if (i == 0 || pl->ss[i].para)
			pl->para[pl->npara++] = i;
	pl->para[pl->npara] = pl->n;
	return SJ_OK;
}

void
story_plan_free(struct story_plan *pl)
{
	free(pl->ss);
	free(pl->para);
	free(pl->share);
	free(pl->at);
}
