/*
 * The offline story writer (story_write); the splitter is story_split.c.
 *
 * DESIGN
 * story_write() fills genre templates.  A genre has titles, places,
 * friends, objects, an opening, six story beats and an ending; a shared
 * pool of journey paragraphs pads the middle up to the audience's scene
 * target (8 middle paragraphs for children, 12 and 16 for the others).
 * Every choice is drawn from a generator seeded with SHA-256 of (genre,
 * character, audience), so one input always gives one story.  Templates
 * carry tokens {hero} {desc} {place} {friend} {thing}, replaced as the
 * text is appended.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "job_input.h"
#include "jsonv.h"

#include "local.h"
#include "sentence.h"
#include "story.h"
#include "story_templates.h"

#define NITEMS(a)  (sizeof(a) / sizeof((a)[0]))
#define DESC_BYTES 200 /* of the character description in the text */
#define MIDDLE_MAX 16

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
rng_pick(struct rng *r, size_t n)
{
	return (size_t)(rng_next(r) % n);
}

/* The targets are the audience table's (lib/job_tables.c). */
void
story_targets(const char *audience, int *scenes, int *pages)
{
	enum job_audience a = JOB_AUDIENCE_CHILDREN;
	const struct job_audience_info *info;

	if (audience != NULL && job_audience_parse(audience, &a) != SJ_OK)
		a = JOB_AUDIENCE_CHILDREN;
	info = job_audience_info(a);
	*scenes = info->scenes;
	*pages = info->pages;
}

static const struct genre *
genre_find(const char *name)
{
	for (size_t i = 0; i < story_ngenres; i++)
		if (strcmp(story_genres[i].name, name) == 0)
			return &story_genres[i];
	return NULL;
}

/* The words the tokens stand for in one story. */
#define NAME_MAX_BYTES 32

struct cast {
	const char *hero;
	char named[NAME_MAX_BYTES + 1]; /* "… named Bo": the hero's name */
	char desc[DESC_BYTES + 1];
	const char *place;
	const char *friend_;
	const char *thing;
};

/*
 * The name a description gives its character ("a bear named Bo" → "Bo"):
 * one word of ASCII letters, apostrophes or hyphens, capitalised, after
 * "named " or "called ".  out is "" when there is none.
 */
static void
cast_name(const char *desc, char out[NAME_MAX_BYTES + 1])
{
	static const char *const marks[] = {"named ", "called "};
	const char *p = NULL;
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < 2 && p == NULL; i++)
		if ((p = strstr(desc, marks[i])) != NULL)
			p += strlen(marks[i]);
	if (p == NULL)
		return;
	while (n < NAME_MAX_BYTES &&
	       (isalpha((unsigned char)p[n]) || p[n] == '\'' || p[n] == '-'))
		n++;
	if (n == 0 || n == NAME_MAX_BYTES || !isalpha((unsigned char)p[0]))
		return;
	memcpy(out, p, n);
	out[n] = '\0';
	out[0] = (char)toupper((unsigned char)out[0]);
}

/*
 * The first sentence of the character description (up to a line end),
 * trimmed, at most DESC_BYTES (its first whole words: sent_clip), without
 * its final terminator.
 */
static void
cast_desc(const char *in, char out[DESC_BYTES + 1])
{
	struct sent first;
	size_t n = 0;

	if (sent_split(in, strlen(in), &first, 1, 0) == 1) {
		in += first.off;
		n = strcspn(in, "\n");
		if (n > first.len)
			n = first.len;
	}
	n = sent_clip(in, n, DESC_BYTES);
	while (n > 0 && (isspace((unsigned char)in[n - 1]) ||
			 strchr(",.!?", in[n - 1]) != NULL))
		n--;
	if (n == 0) {
		memcpy(out, "a curious young hero", 21);
		return;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	/* "A brave girl" reads better mid-sentence as "a brave girl". */
	if (strncmp(out, "A ", 2) == 0 || strncmp(out, "An ", 3) == 0 ||
	    strncmp(out, "The ", 4) == 0)
		out[0] = (char)tolower((unsigned char)out[0]);
}

/* True when the next byte appended to b starts a sentence. */
static bool
at_sentence_start(const struct buf *b)
{
	size_t i = b->len;

	while (i > 0 && b->data[i - 1] == ' ')
		i--;
	return i == 0 || b->data[i - 1] == '.' || b->data[i - 1] == '!' ||
	       b->data[i - 1] == '?' || b->data[i - 1] == '\n';
}

/* Appends v, capitalised when it starts a sentence. */
static enum sj_err
put_word(struct buf *b, const char *v)
{
	char first;
	enum sj_err e;

	if (v[0] == '\0' || !at_sentence_start(b) ||
	    !islower((unsigned char)v[0]))
		return buf_addstr(b, v);
	first = (char)toupper((unsigned char)v[0]);
	if ((e = buf_add(b, &first, 1)) != SJ_OK)
		return e;
	return buf_addstr(b, v + 1);
}

/* Appends tpl with its tokens replaced. */
static enum sj_err
put_tpl(struct buf *b, const char *tpl, const struct cast *k)
{
	static const char *const toks[] = {"{hero}", "{desc}", "{place}",
					   "{friend}", "{thing}"};
	enum sj_err e;

	while (*tpl) {
		const char *open = strchr(tpl, '{');
		size_t i;

		if (open == NULL)
			return buf_addstr(b, tpl);
		if ((e = buf_add(b, tpl, (size_t)(open - tpl))) != SJ_OK)
			return e;
		for (i = 0; i < NITEMS(toks); i++)
			if (strncmp(open, toks[i], strlen(toks[i])) == 0)
				break;
		if (i == NITEMS(toks)) {
			e = buf_add(b, "{", 1);
			tpl = open + 1;
		} else {
			const char *v[] = {k->hero, k->desc, k->place,
					   k->friend_, k->thing};
			e = put_word(b, v[i]);
			tpl = open + strlen(toks[i]);
		}
		if (e != SJ_OK)
			return e;
	}
	return SJ_OK;
}

/*
 * The order of the middle paragraphs: the genre's beats in order, with
 * need - BEATS journey paragraphs (distinct, chosen by r) spread between
 * them.  A negative entry -1-j names journey[j].
 */
static int
plan_middle(struct rng *r, int need, int plan[MIDDLE_MAX])
{
	int extra = need - BEATS, n = 0, used[STORY_JOURNEY_N] = {0};

	if (extra < 0)
		extra = 0;
	for (int b = 0; b < BEATS && n < need; b++) {
		plan[n++] = b;
		/* spread the extras over the gaps after each beat */
		int here = (extra * (b + 1)) / BEATS - (extra * b) / BEATS;
		for (int x = 0; x < here && n < need; x++) {
			size_t j = rng_pick(r, STORY_JOURNEY_N);
			while (used[j])
				j = (j + 1) % STORY_JOURNEY_N;
			used[j] = 1;
			plan[n++] = -1 - (int)j;
		}
	}
	return n;
}

bool
story_genre_known(const char *genre)
{
	return genre != NULL && genre_find(genre) != NULL;
}

enum sj_err
story_write(const char *genre, const char *character, const char *audience,
	    struct buf *out)
{
	const char *parts[3] = {genre, character, audience};
	unsigned char md[LOCAL_HASH_LEN];
	const struct genre *g;
	struct cast k;
	struct rng r = {0};
	int scenes, pages, plan[MIDDLE_MAX], n;
	enum sj_err e;

	buf_init(out, STORY_TEXT_MAX);
	if (genre == NULL || character == NULL || audience == NULL ||
	    (g = genre_find(genre)) == NULL)
		return SJ_EINVAL;
	if ((e = local_hash(parts, 3, md)) != SJ_OK)
		return e;
	for (int i = 0; i < 8; i++)
		r.s = (r.s << 8) | md[i];
	story_targets(audience, &scenes, &pages);
	(void)pages;
	k.hero = story_names[rng_pick(&r, STORY_NAMES_N)];
	cast_name(character, k.named);
	if (k.named[0] != '\0')
		k.hero = k.named;
	cast_desc(character, k.desc);
	k.place = g->places[rng_pick(&r, 4)];
	k.friend_ = g->friends[rng_pick(&r, 4)];
	k.thing = g->things[rng_pick(&r, 4)];
	n = plan_middle(&r, scenes - 2, plan);

	if ((e = put_tpl(out, g->titles[rng_pick(&r, 3)], &k)) != SJ_OK ||
	    (e = buf_addstr(out, "\n\n")) != SJ_OK ||
	    (e = put_tpl(out, g->opening, &k)) != SJ_OK)
		goto fail;
	for (int i = 0; i < n; i++) {
		const char *p = plan[i] >= 0 ? g->beats[plan[i]]
					     : story_journey[-1 - plan[i]];
		if ((e = buf_addstr(out, "\n\n")) != SJ_OK ||
		    (e = put_tpl(out, p, &k)) != SJ_OK)
			goto fail;
	}
	if ((e = buf_addstr(out, "\n\n")) != SJ_OK ||
	    (e = put_tpl(out, g->ending, &k)) != SJ_OK ||
	    (e = buf_addstr(out, "\n")) != SJ_OK)
		goto fail;
	return SJ_OK;
fail:
	buf_free(out); /* a failed append already did; this is harmless */
	return e;
}
