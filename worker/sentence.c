/*
 * The sentence splitter; see sentence.h.
 *
 * DESIGN
 * One pass over the bytes.  At a terminator run (. ! ? and U+2026, in any
 * mix) followed by closers and then white space or the end, the sentence
 * ends -- unless a quotation goes on into a speech tag ("Where?" Pip
 * asked), a single dot closes an abbreviation or an initial (Mr. J. R.),
 * or the next word starts with a lower-case letter and the run allows it:
 * ! or ? closed by a quote ("Help!" she cried), an ellipsis (a pause:
 * "late... then Pip slept"), a dot after a lower-case abbreviation (e.g.
 * apples).  A plain dot, ! or ? before a lower-case word ends the
 * sentence, so a story typed without capitals still has sentences.
 * Everything else is a word character: UTF-8 passes through untouched
 * (only the terminators, closers and dashes named here are multi-byte).
 * A blank line always ends a sentence.  A sentence that reaches the cap
 * is cut at the best boundary behind it, so no piece is ever longer than
 * the cap and none ends inside a UTF-8 sequence (jv_utf8_cut).
 */
#include <string.h>
#include <strings.h>

#include "jsonv.h"

#include "sentence.h"

#define FIT_SENTENCES 256 /* sentences sent_fit() looks at */

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of a terminator at t[i]: . ! ? or U+2026; 0 for none. */
static size_t
term_len(const char *t, size_t i, size_t n)
{
	if (t[i] == '.' || t[i] == '!' || t[i] == '?')
		return 1;
	if (i + 2 < n && memcmp(t + i, "\xe2\x80\xa6", 3) == 0)
		return 3;
	return 0;
}

/* Bytes of a closing quote or bracket at t[i]; 0 for none. */
static size_t
closer_len(const char *t, size_t i, size_t n)
{
	if (strchr("\"')]}", t[i]) != NULL && t[i] != '\0')
		return 1;
	if (i + 1 < n && memcmp(t + i, "\xc2\xbb", 2) == 0) /* » */
		return 2;
	if (i + 2 < n && (memcmp(t + i, "\xe2\x80\x9d", 3) == 0 || /* ” */
			  memcmp(t + i, "\xe2\x80\x99", 3) == 0))  /* ’ */
		return 3;
	return 0;
}

/* Titles that precede a name: their dot never ends a sentence. */
static const char *const titles[] = {
    "Mr",   "Mrs", "Ms",   "Mx",     "Dr",   "St",   "Mt",  "Ft", "Sr",	 "Jr",
    "Prof", "Rev", "Fr",   "Hon",    "Capt", "Col",  "Gen", "Lt", "Sgt", "Adm",
    "Cmdr", "Gov", "Pres", "Messrs", "Mme",  "Mlle", "vs",  NULL};

/*
 * Abbreviations that go on into a lower-case word ("apples, pears etc.
 * and plums"); before a capital their dot may well end the sentence.
 */
static const char *const lower_abbrevs[] = {
    "etc", "cf",  "approx", "esp", "incl", "viz",  "al",
    "ca",  "fig", "vol",    "ed",  "pp",   "ibid", NULL};

/* Verbs of speech: a quotation before one goes on ("Where?" Pip asked). */
static const char *const speech_verbs[] = {
    "said",   "asked",	  "cried",   "shouted", "whispered", "replied",
    "called", "answered", "yelled",  "laughed", "sang",	     "exclaimed",
    "added",  "murmured", "giggled", NULL};

/* Whether w[0..n) is one of the words of list (NULL-ended), in any case. */
static bool
listed(const char *const *list, const char *w, size_t n)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == n && strncasecmp(w, *list, n) == 0)
			return true;
	return false;
}

/*
 * Whether the dot at t[i] closes an abbreviation that does not end the
 * sentence: a title, a single capital initial other than "I", or dotted
 * capitals ("J.R.R"); when the next word is lower-case (lower) also
 * dotted small letters ("e.g", "p.m") and lower_abbrevs.  The word
 * starts at or after s.
 */
static bool
abbreviation(const char *t, size_t s, size_t i, bool lower)
{
	size_t w = i, letters = 0, dots = 0;
	bool caps = true, singles = true;

	while (w > s && (is_alpha((unsigned char)t[w - 1]) || t[w - 1] == '.'))
		w--;
	if (w == i || (w > s && ((unsigned char)t[w - 1] >= 0x80 ||
				 (t[w - 1] >= '0' && t[w - 1] <= '9'))))
		return false;
	for (size_t k = w; k < i; k++) {
		if (t[k] == '.') {
			dots++;
			continue;
		}
		letters++;
		caps = caps && t[k] >= 'A' && t[k] <= 'Z';
		singles = singles && (k + 1 == i || t[k + 1] == '.');
	}
	if (dots > 0)
		return singles &&
		       (caps || lower); /* J.R.R; e.g before "apples" */
	if (letters == 1)
		return t[w] >= 'A' && t[w] <= 'Z' && t[w] != 'I';
	return listed(titles, t + w, i - w) ||
	       (lower && listed(lower_abbrevs, t + w, i - w));
}

/*
 * Whether one of the (at most three) words at t[k] is a verb of speech:
 * then a quotation ending before it goes on ("Where?" Pip asked).
 */
static bool
speech_tag(const char *t, size_t k, size_t n)
{
	for (int w = 0; w < 3 && k < n; w++) {
		size_t a = k;

		while (k < n && (is_alpha((unsigned char)t[k]) ||
				 (unsigned char)t[k] >= 0x80 || t[k] == '\''))
			k++;
		if (listed(speech_verbs, t + a, k - a))
			return true;
		if (k == a || k >= n || t[k] != ' ')
			return false;
		k++;
	}
	return false;
}

/* Past the run of terminators at t[i]. */
static size_t
run_end(const char *t, size_t i, size_t n)
{
	size_t l;

	while (i < n && (l = term_len(t, i, n)) > 0)
		i += l;
	return i;
}

/* What a run of terminators t[i..j) is. */
enum run {
	RUN_DOT,      /* a single full stop */
	RUN_ELLIPSIS, /* dots or U+2026 only: "..." "…" */
	RUN_MARK      /* with a ! or a ? in it */
};

static enum run
run_kind(const char *t, size_t i, size_t j)
{
	if (memchr(t + i, '!', j - i) != NULL ||
	    memchr(t + i, '?', j - i) != NULL)
		return RUN_MARK;
	return j == i + 1 ? RUN_DOT : RUN_ELLIPSIS;
}

/*
 * Whether a sentence goes on past the run at t[i] (of kind, quoted when
 * a closing quote follows it) into a lower-case word: after ! or ?
 * inside a quotation ("Help!" she cried), after an ellipsis (a pause, as
 * in "late... then Pip slept"), after a dot closing an abbreviation.  A
 * plain . ! or ? ends it: "the hill. she saw" is two sentences.
 */
static bool
goes_on(const char *t, size_t s, size_t i, enum run kind, bool quoted)
{
	if (kind == RUN_ELLIPSIS)
		return true;
	if (kind == RUN_MARK)
		return quoted;
	return abbreviation(t, s, i, true);
}

/*
 * When a sentence of t (started at s) ends with the terminator run at
 * t[i]: the offset just past it and its closers; 0 when it does not end.
 */
static size_t
boundary(const char *t, size_t s, size_t i, size_t n)
{
	size_t j = run_end(t, i, n), l, k;
	enum run kind = run_kind(t, i, j);
	bool quoted = false;

	while (j < n && (l = closer_len(t, j, n)) > 0) {
		quoted = quoted || !strchr(")]}", t[j]);
		j += l;
	}
	if (j < n && !is_space((unsigned char)t[j]))
		return 0; /* 3.14, "Stop!", she said */
	for (k = j; k < n && is_space((unsigned char)t[k]); k++)
		;
	if (k < n && t[k] >= 'a' && t[k] <= 'z' &&
	    goes_on(t, s, i, kind, quoted))
		return 0; /* "Help!" she cried */
	if (quoted && speech_tag(t, k, n))
		return 0; /* "Where?" Pip asked */
	if (kind == RUN_DOT && abbreviation(t, s, i, false))
		return 0;
	return j;
}

/* Past a blank line starting at the newline t[i]; 0 when there is none. */
static size_t
blank_line(const char *t, size_t i, size_t n)
{
	size_t j = i + 1;

	while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r'))
		j++;
	if (j >= n || t[j] != '\n')
		return 0;
	while (j < n && is_space((unsigned char)t[j]))
		j++;
	return j;
}

/*
 * Where to cut t[s..i), a sentence that reached the cap: after the last
 * clause mark (, ; : followed by a space, or a dash) in its second half,
 * else at its last space, else at the last UTF-8 boundary (i < n).
 */
static size_t
cut_point(const char *t, size_t s, size_t i, size_t n)
{
	size_t half = s + (i - s) / 2, sp = 0;

	for (size_t k = i - 1; k > half; k--) {
		if (strchr(",;:", t[k]) != NULL && t[k] != '\0' &&
		    is_space((unsigned char)t[k + 1]))
			return k + 1;
		if (k + 3 <= i && (memcmp(t + k, "\xe2\x80\x94", 3) == 0 ||
				   memcmp(t + k, "\xe2\x80\x93", 3) == 0))
			return k + 3;
	}
	for (size_t k = i - 1; k > s && sp == 0; k--)
		if (is_space((unsigned char)t[k]))
			sp = k;
	if (sp > 0)
		return sp;
	sp = s + jv_utf8_cut(t + s, n - s, i - s);
	return sp > s ? sp : i; /* no boundary: cut at the cap */
}

struct split {
	const char *t;
	struct sent *out;
	size_t max, count;
	bool para; /* the next sentence starts a paragraph */
};

static void
emit(struct split *sp, size_t s, size_t e, bool cut)
{
	const char *t = sp->t;

	while (s < e && is_space((unsigned char)t[s]))
		s++;
	while (e > s && is_space((unsigned char)t[e - 1]))
		e--;
	if (e == s || sp->count >= sp->max)
		return;
	sp->out[sp->count++] = (struct sent){s, e - s, sp->para, cut};
	sp->para = false;
}

size_t
sent_split(const char *t, size_t n, struct sent *out, size_t max, size_t cap)
{
	struct split sp = {t, out, max, 0, true};
	size_t s = 0, i = 0, k;

	if (cap == 0)
		cap = SENT_MAX;
	while (sp.count < max && (i < n || n - s > cap)) {
		if (i - s >= cap) { /* here s + cap < n */
			k = cut_point(t, s, s + cap, n);
			emit(&sp, s, k, true);
			s = i = k;
		} else if (t[i] == '\n' && (k = blank_line(t, i, n)) > 0) {
			emit(&sp, s, i, false);
			sp.para = true;
			s = i = k;
		} else if (i == s && is_space((unsigned char)t[i])) {
			s = ++i;
		} else if (term_len(t, i, n) == 0) {
			i++;
		} else if ((k = boundary(t, s, i, n)) > 0 && k - s <= cap) {
			emit(&sp, s, k, false);
			s = i = k;
		} else {
			i = run_end(t, i, n); /* one look per run: no n^2 */
		}
	}
	if (i >= n && sp.count < max)
		emit(&sp, s, n, false);
	return sp.count;
}

size_t
sent_fit(const char *t, size_t n, size_t max)
{
	struct sent ss[FIT_SENTENCES];
	size_t count = sent_split(t, n, ss, FIT_SENTENCES, max), fit = 0;

	for (size_t i = 0; i < count && !ss[i].cut; i++) {
		if (ss[i].off + ss[i].len > max)
			break;
		fit = ss[i].off + ss[i].len;
	}
	return fit;
}

size_t
sent_clip(const char *t, size_t n, size_t max)
{
	size_t k;

	if (n <= max)
		return n;
	if ((k = sent_fit(t, n, max)) > 0)
		return k;
	for (k = max; k > 0 && !is_space((unsigned char)t[k]); k--)
		;
	while (k > 0 && is_space((unsigned char)t[k - 1]))
		k--;
	if (k > 0)
		return k;
	return jv_utf8_cut(t, n, max);
}
