/*
 * Text helpers of the local provider: UTF-8 checking, cleaning of
 * untrusted prompt text, and wrapping into caption lines.
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

size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
size_t text_clean(const char *in, char *out, size_t outsz, int *cut);
size_t wrap_lines(const char *t, size_t n, size_t chars, struct line *lines,
		  size_t max, int *more);

#endif
