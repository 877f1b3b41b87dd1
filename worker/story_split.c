/*
 * The offline scene splitter (story_scenes); the writer is story.c.
 *
 * DESIGN
 * story_scenes() never cuts a sentence that fits a scene: the text is
 * split into sentences and grouped into scenes by story_plan.c (fewer
 * scenes than the audience's target for a short story, whole paragraphs
 * when it can, more scenes only when the text would not fit), and the
 * scenes are spread evenly over the page target.  A scene's description
 * is its sentences with white space made single; its imagePrompt is its
 * whole sentences that fit STORY_PROMPT_MAX, else its first whole words
 * (sent_clip).  Emotions come from keywords, else from a hash of the
 * scene text.  Nothing here escapes anything: the JSON is json-c's.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonv.h"

#include "sentence.h"
#include "story.h"
#include "story_plan.h"
#include "story_split.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define PAGE_SCENES_MAX 20 /* scenes on one page (the storybook's cap) */
#define PROMPT_LEAD	"Storybook illustration: "

/* Start of the body: past a title line, when there is one. */
static size_t
body_start(const char *t, size_t len)
{
	const char *nl = memchr(t, '\n', len);
	size_t i, n;

	if (nl == NULL)
		return 0;
	n = (size_t)(nl - t);
	while (n > 0 && isspace((unsigned char)t[n - 1]))
		n--;
	if (n == 0 || n > 120 || t[n - 1] == '.' || t[n - 1] == '!' ||
	    t[n - 1] == '?' || t[n - 1] == '"')
		return 0;
	for (i = (size_t)(nl - t); i < len; i++)
		if (!isspace((unsigned char)t[i]))
			return (size_t)(nl - t) + 1;
	return 0; /* the only line: the story itself */
}

/*
 * Appends [off, off+len) with runs of white space made one space (never
 * longer than it was: the caller has made sure it fits).
 */
static enum sj_err
put_flat(struct buf *b, const char *t, size_t off, size_t len)
{
	size_t start = b->len;
	bool sp = false;
	enum sj_err e;

	for (size_t i = off; i < off + len; i++) {
		if (isspace((unsigned char)t[i])) {
			sp = true;
			continue;
		}
		if (sp && b->len > start && (e = buf_add(b, " ", 1)) != SJ_OK)
			return e;
		sp = false;
		if ((e = buf_add(b, &t[i], 1)) != SJ_OK)
			return e;
	}
	return SJ_OK;
}

static const struct {
	const char *emotion;
	const char *words[6];
} moods[] = {
    {"scared", {"afraid", "storm", "shadow", "scared", "dark", "roar"}},
    {"sad", {"sorry", "alone", "cross", "cried", "sad", "lonely"}},
    {"excited", {"burst", "cheer", "sudden", "race", "excited", "golden"}},
    {"calm", {"sleep", "yawn", "quiet", "soft", "gentle", "peace"}},
    {"curious", {"found", "map", "secret", "riddle", "wonder", "noticed"}},
    {"proud", {"brave", "courage", "together", "helped", "learned", "proud"}},
    {"happy", {"laugh", "smile", "happy", "home", "shared", "joy"}},
};

static bool
has_word(const char *text, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = text; *p; p++)
		if ((p == text || !isalpha((unsigned char)p[-1])) &&
		    strncasecmp(p, w, n) == 0)
			return true;
	return false;
}

/* The mood with the most keyword hits (first listed wins a tie), else
 * one chosen by a hash of the text. */
static const char *
pick_emotion(const char *text)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t best = 0, best_hits = 0;

	for (size_t m = 0; m < NITEMS(moods); m++) {
		size_t hits = 0;

		for (size_t w = 0; w < NITEMS(moods[m].words); w++)
			hits += has_word(text, moods[m].words[w]);
		if (hits > best_hits) {
			best = m;
			best_hits = hits;
		}
	}
	if (best_hits > 0)
		return moods[best].emotion;
	for (const char *p = text; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return moods[h % NITEMS(moods)].emotion;
}

/*
 * The picture's prompt: the scene's (flattened) text, its whole sentences
 * that fit, else its first whole words (sent_clip).
 */
static enum sj_err
image_prompt(const char *desc, struct buf *b)
{
	size_t room = STORY_PROMPT_MAX - strlen(PROMPT_LEAD);
	enum sj_err e;

	if ((e = buf_addstr(b, PROMPT_LEAD)) != SJ_OK)
		return e;
	return buf_add(b, desc, sent_clip(desc, strlen(desc), room));
}

/* One scene object built from sentences [a, b) of the text. */
static enum sj_err
scene_new(const char *t, const struct sent *ss, size_t a, size_t b,
	  struct json_object **out)
{
	struct buf d, p;
	struct json_object *sc = NULL;
	size_t off = ss[a].off, len = ss[b - 1].off + ss[b - 1].len - off;
	enum sj_err e;

	*out = NULL;
	buf_init(&d, STORY_DESC_MAX + 8);
	buf_init(&p, STORY_PROMPT_MAX + 64);
	if ((e = put_flat(&d, t, off, len)) != SJ_OK ||
	    (e = buf_add(&d, "", 0)) != SJ_OK ||
	    (e = image_prompt(d.data, &p)) != SJ_OK)
		goto out;
	e = SJ_ENOMEM;
	if ((sc = json_object_new_object()) == NULL ||
	    jv_add_str(sc, "description", d.data) != SJ_OK ||
	    jv_add_str(sc, "emotion", pick_emotion(d.data)) != SJ_OK ||
	    jv_add_str(sc, "imagePrompt", p.data) != SJ_OK)
		goto out;
	*out = sc;
	sc = NULL;
	e = SJ_OK;
out:
	json_object_put(sc);
	buf_free(&d);
	buf_free(&p);
	return e;
}

/* Spreads the scenes evenly over the pages. */
static enum sj_err
build_pages(const struct story_plan *pl, size_t npg, struct json_object *pages)
{
	struct json_object *page = NULL, *scenes = NULL;
	size_t nsc = pl->nsc;
	enum sj_err e;

	if (npg > nsc)
		npg = nsc;
	if (npg < (nsc + PAGE_SCENES_MAX - 1) / PAGE_SCENES_MAX)
		npg = (nsc + PAGE_SCENES_MAX - 1) / PAGE_SCENES_MAX;
	for (size_t p = 0; p < npg; p++) {
		size_t s0 = p * nsc / npg, s1 = (p + 1) * nsc / npg;

		if ((page = json_object_new_object()) == NULL ||
		    json_object_array_add(pages, page) != 0) {
			json_object_put(page);
			return SJ_ENOMEM;
		}
		if ((scenes = json_object_new_array()) == NULL ||
		    jv_add_i64(page, "pageNumber", (int64_t)p + 1) != SJ_OK ||
		    jv_add(page, "scenes", scenes) != SJ_OK)
			return SJ_ENOMEM;
		for (size_t s = s0; s < s1; s++) {
			struct json_object *sc;

			e = scene_new(pl->t, pl->ss, pl->at[s], pl->at[s + 1],
				      &sc);
			if (e != SJ_OK)
				return e;
			if (json_object_array_add(scenes, sc) != 0) {
				json_object_put(sc);
				return SJ_ENOMEM;
			}
		}
	}
	return SJ_OK;
}

enum sj_err
story_scenes(const char *story, const char *audience,
	     struct json_object **pages)
{
	struct json_object *arr = NULL;
	struct story_plan pl;
	size_t len, start;
	int nsc, npg;
	enum sj_err e;

	*pages = NULL;
	if (story == NULL)
		return SJ_EINVAL;
	len = strlen(story);
	start = body_start(story, len);
	story_targets(audience, &nsc, &npg);
	if ((e = story_plan_init(&pl, story, start, len)) != SJ_OK)
		goto out;
	story_plan_group(&pl, (size_t)nsc);
	e = SJ_ENOMEM;
	if ((arr = json_object_new_array()) == NULL)
		goto out;
	if ((e = build_pages(&pl, (size_t)npg, arr)) != SJ_OK)
		goto out;
	*pages = arr;
	arr = NULL;
out:
	json_object_put(arr);
	story_plan_free(&pl);
	return e;
}
