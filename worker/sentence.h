/*
 * The one sentence splitter of the code base: story text into sentences,
 * for the local scene breakdown (story_plan.c), scene image prompts
 * (story.c, and the openai provider's clipping), the character
 * description's first sentence, and the captions of scene cards
 * (local_text.c), whatever provider wrote the text.
 */
#ifndef SJ_SENTENCE_H
#define SJ_SENTENCE_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of one sentence when the caller names no cap (see sent_split). */
#define SENT_MAX 600

struct sent {
	size_t off, len; /* byte range of the text, white space trimmed */
	bool para;	 /* the first sentence of a paragraph */
	bool cut;	 /* ends inside a sentence longer than the cap */
};

/*
 * Splits t[0..n) into at most max sentences (the rest is dropped) and
 * returns how many.  A sentence ends after . ! ? or an ellipsis (... or
 * U+2026), with any closing quotes or brackets that follow (" ' ) ] }
 * U+201D U+2019 U+00BB), before white space or the end -- except
 *  - after a title abbreviation (Mr. Mrs. Dr. St. ...) or an initial
 *    ("J. R."), or a quotation followed by a speech tag ("Where?" Pip
 *    asked);
 *  - before a word that starts with a lower-case letter, after ! or ?
 *    closed by a quote ("Help!" she cried), after an ellipsis (a pause
 *    inside the sentence: "late... then Pip slept"), or after a
 *    lower-case abbreviation (e.g. i.e. etc. p.m.).
 * A plain . ! or ? before a lower-case word does end a sentence ("the
 * hill. she saw").  A dot inside a word (3.14, e.g,) ends nothing.  A
 * blank line ends a sentence and starts a paragraph.  A sentence longer
 * than cap bytes (0 means SENT_MAX) is cut at its last clause boundary
 * (, ; : or a dash) in the second half of the cap, else at its last
 * space, else at a UTF-8 boundary, and every piece but its last is
 * marked cut; no piece is longer than cap.
 */
size_t sent_split(const char *t, size_t n, struct sent *out, size_t max,
		  size_t cap);

/*
 * The length of the longest prefix of t[0..n) made of whole sentences
 * that is at most max bytes long (trailing white space excluded); 0 when
 * even the first sentence is longer.  Looks at the first 256 sentences.
 */
size_t sent_fit(const char *t, size_t n, size_t max);

/*
 * The length to keep of t[0..n) when at most max bytes may be kept: all
 * of it when it fits, else its whole sentences that fit (sent_fit), else
 * up to its last space within max, else up to a UTF-8 boundary -- never
 * inside a character.
 */
size_t sent_clip(const char *t, size_t n, size_t max);

#endif
