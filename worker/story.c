/*
 * DESIGN
 * story_write() fills genre templates.  A genre has titles, places,
 * friends, objects, an opening, six story beats and an ending; a shared
 * pool of journey paragraphs pads the middle up to the audience's scene
 * target (8 middle paragraphs for children, 12 and 16 for the others).
 * Every choice is drawn from a generator seeded with SHA-256 of (genre,
 * character, audience), so one input always gives one story.  Templates
 * carry tokens {hero} {desc} {place} {friend} {thing}, replaced as the
 * text is appended.
 *
 * story_scenes() cuts text into units (paragraphs, else sentences, else
 * words), groups them evenly into the scene target, and the scenes evenly
 * into the page target.  Emotions come from keywords, else from a hash of
 * the scene text.  Nothing here escapes anything: the JSON is json-c's.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonv.h"

#include "local.h"
#include "story.h"
#include "story_templates.h"

#define NITEMS(a)  (sizeof(a) / sizeof((a)[0]))
#define DESC_BYTES 200 /* of the character description in the text */
#define UNITS_MAX  16384
#define MIDDLE_MAX 16
#define WORDS_MIN  6 /* words per scene when cutting by words */

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

void
story_targets(const char *audience, int *scenes, int *pages)
{
	*scenes = 10;
	*pages = 4;
	if (audience == NULL)
		return;
	if (strcmp(audience, "young_adults") == 0) {
		*scenes = 14;
		*pages = 6;
	} else if (strcmp(audience, "adults") == 0) {
		*scenes = 18;
		*pages = 8;
	}
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
 * The first sentence of the character description, trimmed, at most
 * DESC_BYTES (cut at a UTF-8 boundary), without a final period.
 */
static void
cast_desc(const char *in, char out[DESC_BYTES + 1])
{
	size_t n = 0;

	while (*in && isspace((unsigned char)*in))
		in++;
	while (in[n] && in[n] != '\n' && in[n] != '.' && in[n] != '!' &&
	       in[n] != '?' && n < DESC_BYTES)
		n++;
	while (n > 0 && n < strlen(in) && ((unsigned char)in[n] & 0xc0) == 0x80)
		n--; /* do not end inside a code point */
	while (n > 0 && (isspace((unsigned char)in[n - 1]) || in[n - 1] == ','))
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

/* ---- splitting ---- */

struct unit {
	size_t off;
	size_t len;
};

struct units {
	struct unit u[UNITS_MAX];
	size_t n;
};

static bool
sentence_end(const char *t, size_t i, size_t end)
{
	if (t[i] != '.' && t[i] != '!' && t[i] != '?')
		return false;
	while (i + 1 < end &&
	       (t[i + 1] == '"' || t[i + 1] == '\'' || t[i + 1] == ')' ||
		t[i + 1] == '.' || t[i + 1] == '!' || t[i + 1] == '?'))
		i++;
	return i + 1 >= end || isspace((unsigned char)t[i + 1]);
}

/* Adds [off, end) trimmed, when not empty. */
static void
unit_add(struct units *us, const char *t, size_t off, size_t end)
{
	while (off < end && isspace((unsigned char)t[off]))
		off++;
	while (end > off && isspace((unsigned char)t[end - 1]))
		end--;
	if (end > off && us->n < UNITS_MAX) {
		us->u[us->n].off = off;
		us->u[us->n].len = end - off;
		us->n++;
	}
}

/* Paragraphs: runs of text between blank lines (or single newlines). */
static void
split_paragraphs(const char *t, size_t start, size_t end, struct units *us)
{
	size_t s = start;

	for (size_t i = start; i < end; i++)
		if (t[i] == '\n') {
			unit_add(us, t, s, i);
			s = i + 1;
		}
	unit_add(us, t, s, end);
}

static void
split_sentences(const char *t, const struct units *paras, struct units *us)
{
	for (size_t p = 0; p < paras->n; p++) {
		size_t s = paras->u[p].off, end = s + paras->u[p].len;

		for (size_t i = s; i < end; i++)
			if (sentence_end(t, i, end)) {
				while (i + 1 < end &&
				       !isspace((unsigned char)t[i + 1]))
					i++;
				unit_add(us, t, s, i + 1);
				s = i + 1;
			}
		unit_add(us, t, s, end);
	}
}

static void
split_words(const char *t, size_t start, size_t end, struct units *us)
{
	size_t s = start;

	for (size_t i = start; i <= end; i++)
		if (i == end || isspace((unsigned char)t[i])) {
			unit_add(us, t, s, i);
			s = i + 1;
		}
}

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
 * Appends [off, off+len) with runs of white space made one space, at most
 * max bytes, cut at a UTF-8 boundary.
 */
static enum sj_err
put_flat(struct buf *b, const char *t, size_t off, size_t len, size_t max)
{
	size_t start = b->len;
	bool sp = false;
	enum sj_err e;

	for (size_t i = off; i < off + len; i++) {
		unsigned char ch = (unsigned char)t[i];

		if (isspace(ch)) {
			sp = true;
			continue;
		}
		/* stop only before a code point's first byte, with room */
		if ((ch & 0xc0) != 0x80 && b->len - start + 1 + 4 > max)
			return SJ_OK;
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

/* The scene's first sentence, flattened, as its picture's prompt. */
static enum sj_err
image_prompt(const char *desc, struct buf *b)
{
	size_t n = 0, len = strlen(desc);

	while (n < len && !sentence_end(desc, n, len))
		n++;
	if (n < len)
		n++;
	if (buf_addstr(b, "Storybook illustration: ") != SJ_OK)
		return SJ_ENOMEM;
	return put_flat(b, desc, 0, n, STORY_PROMPT_MAX);
}

/* One scene object built from units [a, b). */
static enum sj_err
scene_new(const char *t, const struct units *us, size_t a, size_t b,
	  struct json_object **out)
{
	struct buf d, p;
	struct json_object *sc = NULL;
	size_t off = us->u[a].off;
	size_t len = us->u[b - 1].off + us->u[b - 1].len - off;
	enum sj_err e;

	*out = NULL;
	buf_init(&d, STORY_DESC_MAX + 8);
	buf_init(&p, STORY_PROMPT_MAX + 64);
	if ((e = put_flat(&d, t, off, len, STORY_DESC_MAX)) != SJ_OK ||
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

/* Groups the units evenly into scenes and the scenes into pages. */
static enum sj_err
build_pages(const char *t, const struct units *us, size_t nsc, size_t npg,
	    struct json_object *pages)
{
	struct json_object *page = NULL, *scenes = NULL;
	enum sj_err e;

	if (npg > nsc)
		npg = nsc;
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

			e = scene_new(t, us, s * us->n / nsc,
				      (s + 1) * us->n / nsc, &sc);
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
	struct units *paras = NULL, *us = NULL;
	struct json_object *arr = NULL;
	size_t len, start;
	int nsc, npg;
	enum sj_err e = SJ_ENOMEM;

	*pages = NULL;
	if (story == NULL)
		return SJ_EINVAL;
	len = strlen(story);
	start = body_start(story, len);
	story_targets(audience, &nsc, &npg);
	if ((paras = calloc(1, sizeof(*paras))) == NULL ||
	    (us = calloc(1, sizeof(*us))) == NULL)
		goto out;
	split_paragraphs(story, start, len, paras);
	if (paras->n >= (size_t)nsc) {
		*us = *paras;
	} else {
		split_sentences(story, paras, us);
		if (us->n < (size_t)nsc) {
			/* too few sentences: chunks of WORDS_MIN+ words */
			us->n = 0;
			split_words(story, start, len, us);
			if (us->n / WORDS_MIN < (size_t)nsc)
				nsc = us->n / WORDS_MIN > 0
					  ? (int)(us->n / WORDS_MIN)
					  : 1;
		}
	}
	e = SJ_EINVAL;
	if (us->n == 0)
		goto out;
	if ((size_t)nsc > us->n)
		nsc = (int)us->n;
	e = SJ_ENOMEM;
	if ((arr = json_object_new_array()) == NULL)
		goto out;
	if ((e = build_pages(story, us, (size_t)nsc, (size_t)npg, arr)) !=
	    SJ_OK)
		goto out;
	*pages = arr;
	arr = NULL;
out:
	json_object_put(arr);
	free(paras);
	free(us);
	return e;
}
