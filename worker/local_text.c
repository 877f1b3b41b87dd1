/* The local provider's text helpers; see local_text.h. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "local_text.h"
#include "sentence.h"

#define CAPTION_SENTS 64 /* sentences tried for a caption */

/*
 * Decodes one UTF-8 sequence of at most n bytes at p.  Returns its length,
 * or 0 when it is invalid (bad lead or continuation byte, truncated,
 * overlong, a surrogate, beyond U+10FFFF).
 */
size_t
utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c;
	size_t len, i;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		c = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		len = 3;
		c = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return len;
}

/*
 * Copies the printable text of in into out (outsz bytes, NUL-terminated):
 * invalid UTF-8, C0 and C1 controls, DEL, U+FFFE and U+FFFF are dropped;
 * tabs and line breaks count as spaces; runs of spaces become one; the
 * ends are trimmed.  *cut is set when text did not fit.  Returns the
 * length written.
 */
size_t
text_clean(const char *in, char *out, size_t outsz, int *cut)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = strlen(in), i = 0, o = 0, len;
	int space = 0;
	uint32_t cp;

	*cut = 0;
	while (i < n) {
		len = utf8_decode(p + i, n - i, &cp);
		if (len == 0) {
			i++;
			continue;
		}
		i += len;
		if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r') {
			space = o > 0;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xFFFE ||
		    cp == 0xFFFF)
			continue;
		if (o + len + (size_t)space >= outsz) {
			*cut = 1;
			break;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		memcpy(out + o, p + i - len, len);
		o += len;
	}
	out[o] = '\0';
	return o;
}

/*
 * Splits clean text t (n bytes) into at most max lines of chars
 * characters, breaking at spaces and inside words only when a word is
 * longer than a line.  *more is set when text is left over.
 */
size_t
wrap_lines(const char *t, size_t n, size_t chars, struct line *lines,
	   size_t max, int *more)
{
	size_t pos = 0, nl = 0, start, brk, got;

	while (nl < max) {
		while (pos < n && t[pos] == ' ')
			pos++;
		if (pos >= n)
			break;
		start = pos;
		brk = 0;
		for (got = 0; pos < n && got < chars; got++) {
			if (t[pos] == ' ')
				brk = pos;
			do
				pos++;
			while (pos < n &&
			       ((unsigned char)t[pos] & 0xC0) == 0x80);
		}
		if (pos < n && t[pos] != ' ' && brk > start)
			pos = brk; /* the word goes to the next line */
		lines[nl].off = start;
		lines[nl].len = pos - start;
		while (lines[nl].len > 0 && t[start + lines[nl].len - 1] == ' ')
			lines[nl].len--;
		nl++;
	}
	while (pos < n && t[pos] == ' ')
		pos++;
	*more = pos < n;
	return nl;
}

/* Caption font sizes, largest first: each with its line length. */
static const struct caption_size caption_sizes[] = {
    {28, 40, 3, 38},
    {24, 48, 4, 32},
    {20, 58, 5, 27},
    {17, 68, CAPTION_LINES, 23},
};

#define NSIZES (sizeof(caption_sizes) / sizeof(caption_sizes[0]))

/* Lays t[0..len) out in the largest size that holds it whole, if any. */
static bool
caption_whole(const char *t, size_t len, struct caption *c)
{
	for (size_t i = 0; i < NSIZES; i++) {
		c->size = &caption_sizes[i];
		c->n = wrap_lines(t, len, c->size->chars, c->lines,
				  (size_t)c->size->lines, &c->more);
		if (!c->more)
			return true;
	}
	return false;
}

void
caption_layout(const char *t, size_t len, struct caption *c)
{
	struct sent ss[CAPTION_SENTS];
	size_t k;

	if (caption_whole(t, len, c))
		return;
	for (k = sent_split(t, len, ss, CAPTION_SENTS, 0); k-- > 1;)
		if (!ss[k - 1].cut &&
		    caption_whole(t, ss[k - 1].off + ss[k - 1].len, c))
			return;
	c->size = &caption_sizes[NSIZES - 1];
	c->n = wrap_lines(t, len, c->size->chars, c->lines,
			  (size_t)c->size->lines, &c->more);
}
