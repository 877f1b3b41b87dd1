/* Checks of scene cards and scene texts; see card_check.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "card_check.h"
#include "local.h"

bool
card_ends_sentence(const char *text)
{
	size_t n = strlen(text);

	for (;;) {
		if (n > 0 && strchr("\"')", text[n - 1]) != NULL)
			n--;
		else if (n >= 3 &&
			 (memcmp(text + n - 3, "\xe2\x80\x9d", 3) == 0 ||
			  memcmp(text + n - 3, "\xe2\x80\x99", 3) == 0))
			n -= 3;
		else if (n >= 2 && memcmp(text + n - 2, "\xc2\xbb", 2) == 0)
			n -= 2;
		else
			break;
	}
	if (n >= 3 && memcmp(text + n - 3, "\xe2\x80\xa6", 3) == 0)
		return true;
	return n > 0 && strchr(".!?", text[n - 1]) != NULL;
}

bool
card_class_fill(const char *svg, const char *cls, char out[16])
{
	char pat[64];
	const char *p, *f;

	snprintf(pat, sizeof(pat), "class=\"%s\"", cls);
	if ((p = strstr(svg, pat)) == NULL)
		return false;
	f = strstr(p, " fill=\"");
	assert_non_null(f);
	assert_true(f < strchr(p, '>'));
	f += 7;
	assert_true(strcspn(f, "\"") < 16);
	snprintf(out, 16, "%.*s", (int)strcspn(f, "\""), f);
	return true;
}

void
card_caption(const char *svg, char *out, size_t outsz)
{
	static const char *const ent[][2] = {{"&amp;", "&"},
					     {"&lt;", "<"},
					     {"&gt;", ">"},
					     {"&quot;", "\""},
					     {"&apos;", "'"}};
	const char *p = strstr(svg, "<text class=\"caption\"");
	size_t o = 0;

	assert_non_null(p);
	while ((p = strstr(p, "<tspan")) != NULL) {
		const char *end;

		p = strchr(p, '>') + 1;
		end = strstr(p, "</tspan>");
		assert_non_null(end);
		if (o > 0)
			out[o++] = ' ';
		while (p < end) {
			size_t e;

			assert_true(o + 2 < outsz);
			for (e = 0; e < 5; e++)
				if (strncmp(p, ent[e][0], strlen(ent[e][0])) ==
				    0)
					break;
			if (e < 5) {
				out[o++] = ent[e][1][0];
				p += strlen(ent[e][0]);
			} else {
				out[o++] = *p++;
			}
		}
	}
	out[o] = '\0';
}

/* A small well-formedness check: balanced tags, quoted attributes,
 * known entities only. */
static bool
xml_ok(const char *d)
{
	char stack[64][32];
	int depth = 0, elements = 0;
	const char *p = d;

	if (strncmp(p, "<?xml", 5) == 0)
		p = strstr(p, "?>") + 2;
	while (*p) {
		if (*p == '&') {
			if (strncmp(p, "&amp;", 5) && strncmp(p, "&lt;", 4) &&
			    strncmp(p, "&gt;", 4) && strncmp(p, "&quot;", 6) &&
			    strncmp(p, "&apos;", 6))
				return false;
			p++;
		} else if (*p != '<') {
			p++;
		} else if (p[1] == '/') {
			size_t n = strcspn(p + 2, ">");

			if (depth == 0 ||
			    strncmp(stack[depth - 1], p + 2, n) != 0 ||
			    strlen(stack[depth - 1]) != n)
				return false;
			depth--;
			p += n + 3;
		} else {
			size_t n = strcspn(p + 1, " \t\n/>");
			const char *q = p + 1 + n;

			if (n == 0 || n >= 32 || depth == 64)
				return false;
			while (*q && *q != '>' && *q != '/') {
				q += strspn(q, " \t\n");
				if (*q == '>' || *q == '/')
					break;
				q += strcspn(q, "=>");
				if (q[0] != '=' || q[1] != '"')
					return false;
				q = strchr(q + 2, '"');
				if (q == NULL)
					return false;
				q++;
			}
			elements++;
			if (*q == '/') {
				if (q[1] != '>')
					return false;
				p = q + 2;
				continue;
			}
			snprintf(stack[depth++], 32, "%.*s", (int)n, p + 1);
			p = q + 1;
		}
	}
	return depth == 0 && elements > 0;
}

void
card_check_safe(const char *svg, size_t len)
{
	const char *p = svg;

	assert_true(len <= LOCAL_SVG_MAX);
	assert_true(xml_ok(svg));
	assert_null(strstr(svg, "<script"));
	for (p = svg; (p = strstr(p, " on")) != NULL; p++)
		assert_true(
		    p[3 + strspn(p + 3, "abcdefghijklmnopqrstuvwxyz")] !=
		    '='); /* no event attribute */
	assert_null(strstr(svg, "xlink:"));
	for (p = svg; (p = strstr(p, "href=\"")) != NULL;) {
		p += 6;
		assert_int_equal(strncmp(p, "data:image/jpeg;base64,", 23), 0);
	}
	for (p = svg; (p = strstr(p, "url(")) != NULL; p++)
		assert_int_equal(p[4], '#');
	p = strstr(svg, "http");
	assert_non_null(p); /* the xmlns, and only it */
	assert_int_equal(strncmp(p, "http://www.w3.org/2000/svg\"", 27), 0);
	assert_null(strstr(p + 1, "http"));
}
