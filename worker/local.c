/*
 * The local provider's renderer: SVG scene cards.
 *
 * DESIGN
 * A card is a 768x768 SVG: a framed scene (sky, sun or moon, stars or
 * clouds, hills, ground, a few trees and one smiling character) above a
 * caption panel that carries the scene's text.  Every choice of the
 * scenery (day or night, where the sun, hills, trees and character stand)
 * comes from a small PRNG seeded with SHA-256(prompt NUL style, and the
 * caption and the hero's seed when given): the same input always gives
 * the same bytes, and different prompts give different cards.  This file
 * draws the card, its scenery and its caption; the character is drawn by
 * local_figure.c (a book's hero looks the same on every card), the looks
 * come from one row of the style table (local_style.c), and the caption
 * is laid out by local_text.c: the scene's text, not the prompt (the
 * prompt is the <title>), whole, else its first whole sentences, else
 * its first words and an ellipsis.
 *
 * Elements are appended one by one through draw_put(), which keeps the
 * first error: after a failed append nothing more is written and the
 * buffer is already freed (struct buf's rule).
 *
 * Guarantees: the output is well-formed XML with no script, no event
 * attribute and no external reference (only url(#id) references to its
 * own defs, whose ids carry a seed-derived prefix so several cards can
 * share one HTML page, and the hero's portrait, a data: URI of a JPEG we
 * encoded ourselves, whose bytes are only base64).  Prompt and caption
 * text reach the document only after text_clean() (invalid UTF-8, control
 * characters and non-characters dropped) and draw_escaped() (& < > " ').
 * The document is capped at LOCAL_SVG_MAX bytes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "local.h"
#include "local_draw.h"
#include "local_style.h"
#include "local_text.h"

#define TITLE_MAX 1024		 /* bytes of prompt kept for <title> */
#define PUT_MAX	  1024		 /* bytes of one formatted element */
#define ELLIPSIS  "\xe2\x80\xa6" /* U+2026 */

void
draw_put(struct drawing *s, const char *fmt, ...)
{
	char tmp[PUT_MAX];
	va_list ap;
	int n;

	if (s->err != SJ_OK)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		buf_free(s->out);
		s->err = SJ_ETOOBIG;
		return;
	}
	s->err = buf_add(s->out, tmp, (size_t)n);
}

void
draw_escaped(struct drawing *s, const char *p, size_t n)
{
	static const char *const ent[256] = {
	    ['&'] = "&amp;",  ['<'] = "&lt;",	 ['>'] = "&gt;",
	    ['"'] = "&quot;", ['\''] = "&apos;",
	};
	const char *e;
	size_t i, run = 0;

	for (i = 0; i < n && s->err == SJ_OK; i++) {
		if ((e = ent[(unsigned char)p[i]]) == NULL)
			continue;
		if (i > run)
			s->err = buf_add(s->out, p + run, i - run);
		if (s->err == SJ_OK)
			s->err = buf_addstr(s->out, e);
		run = i + 1;
	}
	if (s->err == SJ_OK && n > run)
		s->err = buf_add(s->out, p + run, n - run);
}

static uint64_t
rng_next(uint64_t *st)
{
	uint64_t z = (*st += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

int
draw_rnd(struct drawing *s, int lo, int hi)
{
	return lo + (int)(rng_next(&s->rng) % (uint64_t)(hi - lo + 1));
}

static void
draw_open(struct drawing *s, const char *title, size_t tlen)
{
	const struct local_style *st = s->st;
	const char *const *sky =
	    s->night ? st->night : st->sky[draw_rnd(s, 0, 1)];

	draw_put(s,
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"768\" "
		 "height=\"768\" viewBox=\"0 0 768 768\" role=\"img\" "
		 "aria-labelledby=\"%s-t\">\n<title id=\"%s-t\">",
		 s->id, s->id);
	draw_escaped(s, title, tlen);
	draw_put(
	    s, "</title>\n<desc>A scene card in the %s style.</desc>\n<defs>\n",
	    job_style_name(st->id));
	draw_put(s,
		 "<linearGradient id=\"%s-sky\" x1=\"0\" y1=\"0\" x2=\"0\" "
		 "y2=\"1\"><stop offset=\"0\" stop-color=\"%s\"/><stop "
		 "offset=\"1\" stop-color=\"%s\"/></linearGradient>\n",
		 s->id, sky[0], sky[1]);
	draw_put(s,
		 "<clipPath id=\"%s-frame\"><rect x=\"24\" y=\"24\" "
		 "width=\"720\" height=\"540\" rx=\"28\"/></clipPath>\n",
		 s->id);
	if (st->flags & ST_GRADIENT)
		draw_put(
		    s,
		    "<linearGradient id=\"%s-shade\" x1=\"0\" y1=\"0\" "
		    "x2=\"1\" y2=\"0\"><stop offset=\"0\" stop-color=\"#fff\" "
		    "stop-opacity=\".35\"/><stop offset=\".5\" "
		    "stop-color=\"#fff\" stop-opacity=\"0\"/><stop "
		    "offset=\"1\" stop-color=\"#000\" stop-opacity=\".18\"/>"
		    "</linearGradient>\n<radialGradient id=\"%s-glow\"><stop "
		    "offset=\"0\" stop-color=\"%s\" stop-opacity=\".7\"/><stop "
		    "offset=\"1\" stop-color=\"%s\" stop-opacity=\"0\"/>"
		    "</radialGradient>\n",
		    s->id, s->id, s->night ? st->moon : st->sun,
		    s->night ? st->moon : st->sun);
	if (st->flags & ST_HALFTONE)
		draw_put(
		    s,
		    "<pattern id=\"%s-dots\" width=\"14\" height=\"14\" "
		    "patternUnits=\"userSpaceOnUse\"><circle cx=\"7\" "
		    "cy=\"7\" r=\"2.6\" fill=\"#000\" fill-opacity=\".14\"/>"
		    "</pattern>\n",
		    s->id);
	draw_put(s,
		 "</defs>\n<rect width=\"768\" height=\"768\" fill=\"%s\"/>\n"
		 "<g clip-path=\"url(#%s-frame)\">\n<rect x=\"24\" y=\"24\" "
		 "width=\"720\" height=\"540\" fill=\"url(#%s-sky)\"/>\n",
		 st->frame, s->id, s->id);
	if (st->flags & ST_HALFTONE)
		draw_put(s,
			 "<rect x=\"24\" y=\"24\" width=\"720\" height=\"540\" "
			 "fill=\"url(#%s-dots)\"/>\n",
			 s->id);
}

/*
 * Draws a group of overlapping shapes with one outline around all of
 * them: the outlined shapes first, the plain fills over them, so no
 * outline shows inside the group.
 */
static void
put_blob(struct drawing *s, const char *fill, const char *shapes)
{
	draw_put(s, "<g fill=\"%s\"%s>%s</g>\n", fill, s->ol, shapes);
	if (s->ol[0] != '\0')
		draw_put(s, "<g fill=\"%s\">%s</g>\n", fill, shapes);
}

static void
draw_cloud(struct drawing *s, int x, int y)
{
	char shapes[320];

	snprintf(shapes, sizeof(shapes),
		 "<ellipse cx=\"%d\" cy=\"%d\" rx=\"46\" ry=\"22\"/>"
		 "<ellipse cx=\"%d\" cy=\"%d\" rx=\"34\" ry=\"24\"/>"
		 "<ellipse cx=\"%d\" cy=\"%d\" rx=\"40\" ry=\"20\"/>",
		 x - 34, y, x, y - 14, x + 32, y);
	put_blob(s, "#ffffff", shapes);
}

/* Sun or moon on the side away from the character, then clouds or stars. */
static void
draw_sky(struct drawing *s)
{
	const struct local_style *st = s->st;
	int x = s->cx < 384 ? draw_rnd(s, 470, 660) : draw_rnd(s, 108, 298);
	int y = draw_rnd(s, 90, 150), r = draw_rnd(s, 34, 48), i, n;

	if (st->flags & ST_GRADIENT)
		draw_put(s,
			 "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" "
			 "fill=\"url(#%s-glow)\"/>\n",
			 x, y, r * 2, s->id);
	if (s->night)
		draw_put(
		    s,
		    "<path d=\"M%d,%d A%d,%d 0 1 0 %d,%d A%d,%d 0 0 1 %d,%d "
		    "Z\" fill=\"%s\"%s/>\n",
		    x, y - r, r, r, x, y + r, r * 3 / 5, r, x, y - r, st->moon,
		    s->ol);
	else
		draw_put(
		    s, "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\"%s/>\n",
		    x, y, r, st->sun, s->ol);
	n = s->night ? draw_rnd(s, 14, 22) : draw_rnd(s, 1, 3);
	for (i = 0; i < n; i++) {
		int sx = draw_rnd(s, 48, 720),
		    sy = draw_rnd(s, 44, s->night ? 300 : 210);

		if (s->night)
			draw_put(s,
				 "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" "
				 "fill=\"%s\" fill-opacity=\".%d\"/>\n",
				 sx, sy, draw_rnd(s, 1, 3), st->star,
				 draw_rnd(s, 6, 9));
		else
			draw_cloud(s, sx, sy);
	}
}

/* Three hills back to front, then the ground with a wavy edge. */
static void
draw_land(struct drawing *s)
{
	const struct local_style *st = s->st;
	int i, x, w, h;

	for (i = 0; i < 3; i++) {
		x = draw_rnd(s, 24, 744);
		w = draw_rnd(s, 170, 300);
		h = draw_rnd(s, 80, 150);
		if (st->flags & ST_GEOMETRIC)
			draw_put(s,
				 "<polygon points=\"%d,452 %d,%d %d,452\" "
				 "fill=\"%s\"/>\n",
				 x - w, x, 412 - h, x + w, st->hills[i]);
		else
			draw_put(
			    s,
			    "<ellipse cx=\"%d\" cy=\"470\" rx=\"%d\" ry=\"%d\" "
			    "fill=\"%s\"%s/>\n",
			    x, w, h, st->hills[i], s->ol);
	}
	draw_put(s,
		 "<path d=\"M0,%d Q192,%d 384,%d T768,%d L768,600 L0,600 Z\" "
		 "fill=\"%s\"%s/>\n",
		 draw_rnd(s, 440, 452), draw_rnd(s, 420, 436),
		 draw_rnd(s, 440, 452), draw_rnd(s, 436, 450), st->ground,
		 s->ol);
}

static void
draw_tree(struct drawing *s, int x, int y)
{
	const struct local_style *st = s->st;
	const char *leaf = st->leaves[draw_rnd(s, 0, 1)];
	int r = draw_rnd(s, 28, 40);
	char shapes[320];

	draw_put(s,
		 "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"58\" rx=\"4\" "
		 "fill=\"%s\"%s/>\n",
		 x - 7, y - 56, st->trunk, s->ol);
	if (st->flags & ST_GEOMETRIC) {
		draw_put(
		    s, "<polygon points=\"%d,%d %d,%d %d,%d\" fill=\"%s\"/>\n",
		    x - r, y - 44, x, y - 44 - r * 5 / 2, x + r, y - 44, leaf);
		return;
	}
	snprintf(shapes, sizeof(shapes),
		 "<circle cx=\"%d\" cy=\"%d\" r=\"%d\"/><circle cx=\"%d\" "
		 "cy=\"%d\" r=\"%d\"/><circle cx=\"%d\" cy=\"%d\" "
		 "r=\"%d\"/>",
		 x - r * 3 / 5, y - 64, r * 7 / 10, x + r * 3 / 5, y - 64,
		 r * 7 / 10, x, y - 84, r);
	put_blob(s, leaf, shapes);
}

/* Two to four trees that keep clear of the character. */
static void
draw_trees(struct drawing *s)
{
	int n = draw_rnd(s, 2, 4), i, x, y, tries;

	for (i = 0; i < n; i++) {
		for (tries = 0; tries < 4; tries++) {
			x = draw_rnd(s, 64, 704);
			if (x < s->cx - 120 || x > s->cx + 120)
				break;
		}
		y = draw_rnd(s, 456, 484);
		if (tries < 4)
			draw_tree(s, x, y);
	}
}

/* Closes the scene, then the caption panel with the scene's text. */
static void
draw_caption(struct drawing *s, const char *text, size_t len)
{
	const struct local_style *st = s->st;
	struct caption c;
	int y;

	draw_put(s, "</g>\n");
	if (st->stroke[0] != '\0')
		draw_put(s,
			 "<rect x=\"24\" y=\"24\" width=\"720\" height=\"540\" "
			 "rx=\"28\" fill=\"none\"%s/>\n",
			 s->ol);
	draw_put(s,
		 "<rect x=\"24\" y=\"588\" width=\"720\" height=\"156\" "
		 "rx=\"20\" fill=\"%s\"%s/>\n",
		 st->card, s->ol);
	caption_layout(text, len, &c);
	if (c.n == 0)
		return;
	y = 666 + c.size->px * 35 / 100 - (int)(c.n - 1) * c.size->lead / 2;
	draw_put(s,
		 "<text class=\"caption\" x=\"384\" y=\"%d\" "
		 "text-anchor=\"middle\" font-family=\"%s\" font-size=\"%d\" "
		 "font-weight=\"%s\" fill=\"%s\">",
		 y, st->font, c.size->px,
		 st->flags & ST_BOLD ? "bold" : "normal", st->card_ink);
	for (size_t i = 0; i < c.n; i++) {
		draw_put(s, "<tspan x=\"384\" dy=\"%d\">",
			 i == 0 ? 0 : c.size->lead);
		draw_escaped(s, text + c.lines[i].off, c.lines[i].len);
		if (c.more && i == c.n - 1)
			draw_put(s, "%s", ELLIPSIS);
		draw_put(s, "</tspan>");
	}
	draw_put(s, "</text>\n");
}

enum sj_err
local_hash(const char *const *parts, size_t n, unsigned char md[LOCAL_HASH_LEN])
{
	EVP_MD_CTX *ctx;
	unsigned int mdlen = 0;
	enum sj_err e = SJ_ENOMEM;
	size_t i;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return SJ_ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	for (i = 0; i < n; i++) {
		if (i > 0 && EVP_DigestUpdate(ctx, "", 1) != 1)
			goto out;
		if (EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != LOCAL_HASH_LEN)
		goto out;
	e = SJ_OK;
out:
	EVP_MD_CTX_free(ctx);
	return e;
}

/* Chooses the style and seeds everything the drawing depends on. */
static enum sj_err
scene_init(struct drawing *s, const struct local_card *card)
{
	const char *style =
	    card->style ? card->style : job_style_name(JOB_STYLE_DEFAULT);
	const char *parts[4] = {card->prompt, style, "", ""};
	char seed[24];
	unsigned char md[LOCAL_HASH_LEN];
	size_t i, nparts = 2;
	enum sj_err e;

	if ((s->st = local_style_find(style)) == NULL)
		return SJ_EINVAL;
	if (card->caption != NULL || card->hero != NULL) {
		snprintf(seed, sizeof(seed), "%016llx",
			 card->hero ? (unsigned long long)card->hero->seed : 0);
		parts[2] = card->caption ? card->caption : "";
		parts[3] = seed;
		nparts = 4;
	}
	if ((e = local_hash(parts, nparts, md)) != SJ_OK)
		return e;
	for (i = 0; i < 8; i++)
		s->rng = (s->rng << 8) | md[i];
	snprintf(s->id, sizeof(s->id), "c%02x%02x%02x%02x", md[8], md[9],
		 md[10], md[11]);
	if (s->st->stroke[0] != '\0')
		snprintf(s->ol, sizeof(s->ol),
			 " stroke=\"%s\" stroke-width=\"%s\" "
			 "stroke-linejoin=\"round\"",
			 s->st->ink, s->st->stroke);
	s->hero = card->hero;
	s->night = draw_rnd(s, 0, 3) == 0;
	s->cx = draw_rnd(s, 280, 488);
	return SJ_OK;
}

/* Cleans in into out (TITLE_MAX + an ellipsis); returns the length. */
static size_t
clean(const char *in, char out[TITLE_MAX + sizeof(ELLIPSIS)])
{
	int cut;
	size_t len = text_clean(in, out, TITLE_MAX, &cut);

	if (cut) {
		memcpy(out + len, ELLIPSIS, sizeof(ELLIPSIS));
		len += sizeof(ELLIPSIS) - 1;
	}
	return len;
}

enum sj_err
local_render_card(const struct local_card *card, struct buf *out)
{
	struct drawing s;
	char title[TITLE_MAX + sizeof(ELLIPSIS)];
	char text[TITLE_MAX + sizeof(ELLIPSIS)];
	size_t tlen, len;

	buf_init(out, LOCAL_SVG_MAX);
	if (card->prompt == NULL)
		return SJ_EINVAL;
	memset(&s, 0, sizeof(s));
	s.out = out;
	if ((s.err = scene_init(&s, card)) != SJ_OK)
		return s.err;
	tlen = clean(card->prompt, title);
	len = card->caption ? clean(card->caption, text) : tlen;
	if (card->caption == NULL)
		memcpy(text, title, tlen + 1);
	if (tlen == 0)
		draw_open(&s, "Untitled scene", strlen("Untitled scene"));
	else
		draw_open(&s, title, tlen);
	draw_sky(&s);
	draw_land(&s);
	draw_trees(&s);
	draw_character(&s);
	draw_caption(&s, text, len);
	draw_put(&s, "</svg>\n");
	return s.err;
}

enum sj_err
local_render_svg(const char *prompt, const char *style, struct buf *out)
{
	const struct local_card card = {prompt, style, NULL, NULL};

	return local_render_card(&card, out);
}
