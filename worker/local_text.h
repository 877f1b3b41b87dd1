/*
 * Text helpers of the local provider: UTF-8 checking, cleaning of
 * untrusted prompt text, and laying a caption out in lines.
 */
#ifndef SJ_LOCAL_TEXT_H
#define SJ_LOCAL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* One caption line: a byte range of the cleaned text. */
struct line {
	size_t off;
	size_t len;
};

#define CAPTION_LINES 6 /* caption lines at most */

/* A caption font size: its pixels, characters a line, lines, leading. */
struct caption_size {
	int px, chars, lines, lead;
};

/* A caption laid out in one font size. */
struct caption {
	const struct caption_size *size;
	struct line lines[CAPTION_LINES];
	size_t n;
	int more; /* text was left out: the last line gets an ellipsis */
};

size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
size_t text_clean(const char *in, char *out, size_t outsz, int *cut);
size_t wrap_lines(const char *t, size_t n, size_t chars, struct line *lines,
		  size_t max, int *more);
/*
 * Lays the clean text t[0..len) out as a caption: all of it in the
 * largest of four sizes that holds it, else its first whole sentences
 * (sentence.h) in the largest size that holds them, else as many of its
 * first words as the smallest size holds (c->more set).
 */
void caption_layout(const char *t, size_t len, struct caption *c);

#endif
