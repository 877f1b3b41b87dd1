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
 * the same bytes, and different prompts give different cards.  The
 * character's colours come from the card's hero when there is one (a
 * book's hero is the same on every card: local_hero.c), else from the
 * PRNG; a hero with a portrait has it as its face, clipped to a circle.
 * A style is one row of the style table, a palette plus a few flags
 * (gradients, halftone dots, big eyes, geometric shapes), so a new look is
 * a new row.
 *
 * The caption is the scene's text, not the prompt (the prompt is the
 * <title>): in the largest of four font sizes that holds it whole, else
 * its whole sentences that fit the smallest (sentence.c), else its first
 * words and an ellipsis.
 *
 * Elements are appended one by one through put(), which keeps the first
 * error: after a failed append nothing more is written and the buffer is
 * already freed (struct buf's rule).
 *
 * Guarantees: the output is well-formed XML with no script, no event
 * attribute and no external reference (only url(#id) references to its
 * own defs, whose ids carry a seed-derived prefix so several cards can
 * share one HTML page, and the hero's portrait, a data: URI of a JPEG we
 * encoded ourselves, whose bytes are only base64).  Prompt and caption
 * text reach the document only after text_clean() (invalid UTF-8, control
 * characters and non-characters dropped) and xml_escape() (& < > " ').
 * The document is capped at LOCAL_SVG_MAX bytes.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "local.h"
#include "local_text.h"
#include "sentence.h"

#define TITLE_MAX     1024	     /* bytes of prompt kept for <title> */
#define CAPTION_LINES 6		     /* caption lines at most */
#define CAPTION_SENTS 64	     /* sentences tried for a caption */
#define PUT_MAX	      1024	     /* bytes of one formatted element */
#define ELLIPSIS      "\xe2\x80\xa6" /* U+2026 */
#define PORTRAIT_R    74	     /* radius of a portrait face */

/* Caption font sizes, largest first: each with its line length. */
static const struct caption_size {
	int px, chars, lines, lead;
} caption_sizes[] = {
    {28, 40, 3, 38},
    {24, 48, 4, 32},
    {20, 58, 5, 27},
    {17, 68, CAPTION_LINES, 23},
};

enum {
	ST_GRADIENT = 1 << 0,  /* soft shading and glows */
	ST_HALFTONE = 1 << 1,  /* comic dots over the sky */
	ST_BIG_EYES = 1 << 2,  /* anime eyes with highlights */
	ST_BLUSH = 1 << 3,     /* pink cheeks */
	ST_SHADOW = 1 << 4,    /* soft shadow under the character */
	ST_GEOMETRIC = 1 << 5, /* triangles for hills and trees */
	ST_BOLD = 1 << 6       /* bold caption */
};

struct style {
	const char *name;
	unsigned flags;
	const char *sky[2][2]; /* day skies: top, bottom */
	const char *night[2];
	const char *sun, *moon, *star;
	const char *hills[3];
	const char *ground, *trunk;
	const char *leaves[2];
	const char *skin[3];
	const char *hair[3];
	const char *shirt[4];
	const char *iris[3];
	const char *pants;
	const char *ink;    /* outlines and facial features */
	const char *stroke; /* outline width; "" for none */
	const char *frame, *card, *card_ink;
	const char *font;
};

/*
 * The styles.  Colours are listed in struct style's order: day skies,
 * night sky; sun, moon, star; hills; ground, trunk; leaves; skin; hair;
 * shirts; irises; pants, ink, outline width; frame, card, card text; font.
 */
/* clang-format off */
static const struct style styles[] = {
	{"storybook", ST_GRADIENT | ST_BLUSH | ST_SHADOW,
	 {{"#FFE3C8", "#FFF6E5"}, {"#CDE7F0", "#FFF3E0"}}, {"#2E3A66", "#6B5B95"},
	 "#FFC971", "#FFF1C1", "#FFF7D6", {"#BFD8B8", "#A7C4A0", "#8DB596"},
	 "#9CC69B", "#8D6E63", {"#7FB77E", "#B1D7B4"},
	 {"#F9D5BB", "#E8B796", "#C68B6B"}, {"#8D5B4C", "#4E342E", "#D9A441"},
	 {"#F4A6A6", "#A0C4FF", "#FFD6A5", "#CDB4DB"},
	 {"#6D4C41", "#5B7DB1", "#4E8F5A"}, "#7D8FB3", "#6D4C41", "3",
	 "#F3E3CF", "#FFF8EE", "#5D4037", "Georgia, 'Times New Roman', serif"},
	{"semi-realistic", ST_GRADIENT | ST_SHADOW,
	 {{"#5B8DB8", "#DCE9F2"}, {"#8FB3CF", "#F4E3D0"}}, {"#0F1B33", "#3A4A6B"},
	 "#FFE8B0", "#E8ECF2", "#F5F7FA", {"#94B49A", "#7A9A7E", "#5F7F63"},
	 "#6B8F5E", "#5D4637", {"#4F7A4A", "#6E9460"},
	 {"#E8C4A8", "#C99A78", "#8A5A3C"}, {"#3B2A20", "#6A4B35", "#B08A5A"},
	 {"#5A6F8C", "#8C5A5A", "#6F8C5A", "#C2A878"},
	 {"#4B3621", "#3E6B8C", "#4F6B3A"}, "#3E4A5C", "#3B2F2A", "1.5",
	 "#E6E0D8", "#F7F4EF", "#2F2A26", "Georgia, 'Times New Roman', serif"},
	{"comic-book", ST_HALFTONE | ST_BOLD,
	 {{"#29B6F6", "#81D4FA"}, {"#FFCA28", "#FFE082"}}, {"#1A237E", "#3949AB"},
	 "#FFEB3B", "#FFF59D", "#FFFFFF", {"#66BB6A", "#43A047", "#2E7D32"},
	 "#7CB342", "#6D4C41", {"#2E7D32", "#43A047"},
	 {"#FFCC80", "#E0A370", "#A0674B"}, {"#212121", "#D84315", "#FDD835"},
	 {"#E53935", "#1E88E5", "#FDD835", "#8E24AA"},
	 {"#1E88E5", "#2E7D32", "#6D4C41"}, "#1565C0", "#111111", "6",
	 "#FAFAFA", "#FFEB3B", "#111111",
	 "'Comic Sans MS', 'Comic Neue', 'Trebuchet MS', sans-serif"},
	{"flat-illustration", ST_GEOMETRIC,
	 {{"#A8DADC", "#A8DADC"}, {"#F1FAEE", "#F1FAEE"}}, {"#264653", "#264653"},
	 "#E9C46A", "#F1FAEE", "#F1FAEE", {"#8AB17D", "#2A9D8F", "#287271"},
	 "#8AB17D", "#6B4226", {"#2A9D8F", "#E9C46A"},
	 {"#F4C7A1", "#D9A57B", "#8D5524"}, {"#264653", "#E76F51", "#3D405B"},
	 {"#E76F51", "#F4A261", "#457B9D", "#E63946"},
	 {"#264653", "#457B9D", "#6B4226"}, "#1D3557", "#1D3557", "",
	 "#F1FAEE", "#1D3557", "#F1FAEE", "'Helvetica Neue', Arial, sans-serif"},
	{"anime", ST_GRADIENT | ST_BIG_EYES | ST_BLUSH,
	 {{"#7EC8FF", "#FFD6F0"}, {"#A0E7FF", "#FFF0C2"}}, {"#2B2D6E", "#8E6FD8"},
	 "#FFF3B0", "#FFF9E0", "#FFFFFF", {"#B8F2D5", "#9BE8C0", "#6FD6A8"},
	 "#7FDCA4", "#A1785C", {"#5CCB8A", "#FFB7D5"},
	 {"#FFE3D3", "#F6CFB6", "#E2AE8E"}, {"#FF6FA5", "#6C5CE7", "#00B8D4"},
	 {"#FFFFFF", "#FF8FB1", "#74B9FF", "#FFD166"},
	 {"#6C5CE7", "#00A8E8", "#E84393"}, "#2D3A6B", "#2D3436", "2.5",
	 "#FFE4F1", "#FFFFFF", "#2D3436",
	 "'Trebuchet MS', 'Helvetica Neue', Arial, sans-serif"},
};
/* clang-format on */

#define NSTYLES (sizeof(styles) / sizeof(styles[0]))

/* One card being drawn. */
struct scene {
	struct buf *out;
	enum sj_err err; /* first failure; nothing is written after it */
	const struct style *st;
	uint64_t rng; /* splitmix64 state */
	char id[12];  /* prefix of every element id */
	char ol[96];  /* outline attributes, "" for none */
	int night;
	int cx;			       /* character's centre line */
	const struct local_hero *hero; /* NULL: colours from the PRNG */
};

static void put(struct scene *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct scene *s, const char *fmt, ...)
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

/* Appends p[0..n) with the five XML specials escaped. */
static void
put_escaped(struct scene *s, const char *p, size_t n)
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

/* A number in [lo, hi]. */
static int
rnd(struct scene *s, int lo, int hi)
{
	return lo + (int)(rng_next(&s->rng) % (uint64_t)(hi - lo + 1));
}

static void
draw_open(struct scene *s, const char *title, size_t tlen)
{
	const struct style *st = s->st;
	const char *const *sky = s->night ? st->night : st->sky[rnd(s, 0, 1)];

	put(s,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"768\" "
	    "height=\"768\" viewBox=\"0 0 768 768\" role=\"img\" "
	    "aria-labelledby=\"%s-t\">\n<title id=\"%s-t\">",
	    s->id, s->id);
	put_escaped(s, title, tlen);
	put(s, "</title>\n<desc>A %s style scene card.</desc>\n<defs>\n",
	    st->name);
	put(s,
	    "<linearGradient id=\"%s-sky\" x1=\"0\" y1=\"0\" x2=\"0\" "
	    "y2=\"1\"><stop offset=\"0\" stop-color=\"%s\"/><stop "
	    "offset=\"1\" stop-color=\"%s\"/></linearGradient>\n",
	    s->id, sky[0], sky[1]);
	put(s,
	    "<clipPath id=\"%s-frame\"><rect x=\"24\" y=\"24\" "
	    "width=\"720\" height=\"540\" rx=\"28\"/></clipPath>\n",
	    s->id);
	if (st->flags & ST_GRADIENT)
		put(s,
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
		put(s,
		    "<pattern id=\"%s-dots\" width=\"14\" height=\"14\" "
		    "patternUnits=\"userSpaceOnUse\"><circle cx=\"7\" "
		    "cy=\"7\" r=\"2.6\" fill=\"#000\" fill-opacity=\".14\"/>"
		    "</pattern>\n",
		    s->id);
	put(s,
	    "</defs>\n<rect width=\"768\" height=\"768\" fill=\"%s\"/>\n"
	    "<g clip-path=\"url(#%s-frame)\">\n<rect x=\"24\" y=\"24\" "
	    "width=\"720\" height=\"540\" fill=\"url(#%s-sky)\"/>\n",
	    st->frame, s->id, s->id);
	if (st->flags & ST_HALFTONE)
		put(s,
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
put_blob(struct scene *s, const char *fill, const char *shapes)
{
	put(s, "<g fill=\"%s\"%s>%s</g>\n", fill, s->ol, shapes);
	if (s->ol[0] != '\0')
		put(s, "<g fill=\"%s\">%s</g>\n", fill, shapes);
}

static void
draw_cloud(struct scene *s, int x, int y)
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
draw_sky(struct scene *s)
{
	const struct style *st = s->st;
	int x = s->cx < 384 ? rnd(s, 470, 660) : rnd(s, 108, 298);
	int y = rnd(s, 90, 150), r = rnd(s, 34, 48), i, n;

	if (st->flags & ST_GRADIENT)
		put(s,
		    "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" "
		    "fill=\"url(#%s-glow)\"/>\n",
		    x, y, r * 2, s->id);
	if (s->night)
		put(s,
		    "<path d=\"M%d,%d A%d,%d 0 1 0 %d,%d A%d,%d 0 0 1 %d,%d "
		    "Z\" fill=\"%s\"%s/>\n",
		    x, y - r, r, r, x, y + r, r * 3 / 5, r, x, y - r, st->moon,
		    s->ol);
	else
		put(s, "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\"%s/>\n",
		    x, y, r, st->sun, s->ol);
	n = s->night ? rnd(s, 14, 22) : rnd(s, 1, 3);
	for (i = 0; i < n; i++) {
		int sx = rnd(s, 48, 720), sy = rnd(s, 44, s->night ? 300 : 210);

		if (s->night)
			put(s,
			    "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" "
			    "fill=\"%s\" fill-opacity=\".%d\"/>\n",
			    sx, sy, rnd(s, 1, 3), st->star, rnd(s, 6, 9));
		else
			draw_cloud(s, sx, sy);
	}
}

/* Three hills back to front, then the ground with a wavy edge. */
static void
draw_land(struct scene *s)
{
	const struct style *st = s->st;
	int i, x, w, h;

	for (i = 0; i < 3; i++) {
		x = rnd(s, 24, 744);
		w = rnd(s, 170, 300);
		h = rnd(s, 80, 150);
		if (st->flags & ST_GEOMETRIC)
			put(s,
			    "<polygon points=\"%d,452 %d,%d %d,452\" "
			    "fill=\"%s\"/>\n",
			    x - w, x, 412 - h, x + w, st->hills[i]);
		else
			put(s,
			    "<ellipse cx=\"%d\" cy=\"470\" rx=\"%d\" ry=\"%d\" "
			    "fill=\"%s\"%s/>\n",
			    x, w, h, st->hills[i], s->ol);
	}
	put(s,
	    "<path d=\"M0,%d Q192,%d 384,%d T768,%d L768,600 L0,600 Z\" "
	    "fill=\"%s\"%s/>\n",
	    rnd(s, 440, 452), rnd(s, 420, 436), rnd(s, 440, 452),
	    rnd(s, 436, 450), st->ground, s->ol);
}

static void
draw_tree(struct scene *s, int x, int y)
{
	const struct style *st = s->st;
	const char *leaf = st->leaves[rnd(s, 0, 1)];
	int r = rnd(s, 28, 40);
	char shapes[320];

	put(s,
	    "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"58\" rx=\"4\" "
	    "fill=\"%s\"%s/>\n",
	    x - 7, y - 56, st->trunk, s->ol);
	if (st->flags & ST_GEOMETRIC) {
		put(s, "<polygon points=\"%d,%d %d,%d %d,%d\" fill=\"%s\"/>\n",
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
draw_trees(struct scene *s)
{
	int n = rnd(s, 2, 4), i, x, y, tries;

	for (i = 0; i < n; i++) {
		for (tries = 0; tries < 4; tries++) {
			x = rnd(s, 64, 704);
			if (x < s->cx - 120 || x > s->cx + 120)
				break;
		}
		y = rnd(s, 456, 484);
		if (tries < 4)
			draw_tree(s, x, y);
	}
}

/*
 * The hero's colour for a part: the hero's own, else its seed's pick of
 * the palette (shift selects the seed's bits), else the PRNG's pick.
 */
static const char *
look(struct scene *s, const char *own, const char *const *pal, int n, int shift)
{
	int r = rnd(s, 0, n - 1); /* drawn always: the scenery stays put */

	if (s->hero == NULL)
		return pal[r];
	if (own[0] != '\0')
		return own;
	return pal[(s->hero->seed >> shift) % (uint64_t)n];
}

static void
draw_body(struct scene *s, const char *skin)
{
	const struct style *st = s->st;
	const char *shirt =
	    look(s, s->hero ? s->hero->shirt : "", st->shirt, 4, 16);
	const char *pants =
	    s->hero && s->hero->pants[0] ? s->hero->pants : st->pants;
	int x = s->cx;

	if (st->flags & ST_SHADOW)
		put(s,
		    "<ellipse cx=\"%d\" cy=\"532\" rx=\"72\" ry=\"12\" "
		    "fill=\"#000\" fill-opacity=\".18\"/>\n",
		    x);
	put(s,
	    "<g class=\"hero-pants\" fill=\"%s\"%s><rect x=\"%d\" y=\"455\" "
	    "width=\"22\" height=\"75\" rx=\"10\"/><rect x=\"%d\" y=\"455\" "
	    "width=\"22\" height=\"75\" rx=\"10\"/></g>\n<g fill=\"%s\">"
	    "<ellipse cx=\"%d\" cy=\"530\" rx=\"18\" ry=\"9\"/><ellipse "
	    "cx=\"%d\" cy=\"530\" rx=\"18\" ry=\"9\"/></g>\n",
	    pants, s->ol, x - 30, x + 8, st->ink, x - 20, x + 20);
	put(s,
	    "<g class=\"hero-shirt\" fill=\"%s\"%s><rect x=\"%d\" y=\"375\" "
	    "width=\"22\" height=\"80\" rx=\"11\" transform=\"rotate(20 %d "
	    "380)\"/><rect x=\"%d\" y=\"375\" width=\"22\" height=\"80\" "
	    "rx=\"11\" transform=\"rotate(-20 %d 380)\"/></g>\n<g "
	    "class=\"hero-skin\" fill=\"%s\"%s><circle cx=\"%d\" cy=\"455\" "
	    "r=\"12\"/><circle cx=\"%d\" cy=\"455\" r=\"12\"/></g>\n",
	    shirt, s->ol, x - 62, x - 51, x + 40, x + 51, skin, s->ol, x - 78,
	    x + 78);
	if (st->flags & ST_GEOMETRIC)
		put(s,
		    "<polygon points=\"%d,360 %d,360 %d,470 %d,470\" "
		    "fill=\"%s\"/>\n",
		    x - 40, x + 40, x + 58, x - 58, shirt);
	else
		put(s,
		    "<rect x=\"%d\" y=\"360\" width=\"96\" height=\"110\" "
		    "rx=\"34\" fill=\"%s\"%s/>\n",
		    x - 48, shirt, s->ol);
	if (st->flags & ST_GRADIENT)
		put(s,
		    "<rect x=\"%d\" y=\"360\" width=\"96\" height=\"110\" "
		    "rx=\"34\" fill=\"url(#%s-shade)\"/>\n",
		    x - 48, s->id);
	put(s,
	    "<rect x=\"%d\" y=\"336\" width=\"24\" height=\"30\" "
	    "fill=\"%s\"/>\n",
	    x - 12, skin);
}

static void
draw_head(struct scene *s, const char *skin)
{
	const struct style *st = s->st;
	const char *hair =
	    look(s, s->hero ? s->hero->hair : "", st->hair, 3, 8);
	int x = s->cx, r = st->flags & ST_BIG_EYES ? 68 : 64;

	if (!(st->flags & ST_BIG_EYES))
		put(s,
		    "<g fill=\"%s\"%s><circle cx=\"%d\" cy=\"298\" r=\"12\"/>"
		    "<circle cx=\"%d\" cy=\"298\" r=\"12\"/></g>\n",
		    skin, s->ol, x - 62, x + 62);
	put(s, "<circle cx=\"%d\" cy=\"290\" r=\"%d\" fill=\"%s\"%s/>\n", x, r,
	    skin, s->ol);
	if (st->flags & ST_GRADIENT)
		put(s,
		    "<circle cx=\"%d\" cy=\"290\" r=\"%d\" "
		    "fill=\"url(#%s-shade)\"/>\n",
		    x, r, s->id);
	if (st->flags & ST_BIG_EYES)
		put(s,
		    "<path class=\"hero-hair\" d=\"M%d,300 L%d,246 L%d,236 "
		    "L%d,216 L%d,226 "
		    "L%d,208 L%d,230 L%d,222 L%d,248 L%d,300 Q%d,250 %d,258 "
		    "Q%d,250 %d,300 Z\" fill=\"%s\"%s/>\n",
		    x - 70, x - 62, x - 44, x - 20, x, x + 22, x + 40, x + 62,
		    x + 66, x + 70, x + 40, x, x - 40, x - 70, hair, s->ol);
	else
		put(s,
		    "<path class=\"hero-hair\" d=\"M%d,292 C%d,210 %d,210 "
		    "%d,292 C%d,262 %d,250 "
		    "%d,262 C%d,252 %d,266 %d,292 Z\" fill=\"%s\"%s/>\n",
		    x - 66, x - 70, x + 70, x + 66, x + 40, x + 10, x - 10,
		    x - 30, x - 52, x - 66, hair, s->ol);
}

/*
 * The hero's own picture as its face: a circle in the shirt's colour
 * behind, the picture clipped to a circle, an ink ring around it.
 */
static void
draw_portrait(struct scene *s)
{
	int x = s->cx, y = 286, r = PORTRAIT_R;

	put(s,
	    "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\"%s/>\n"
	    "<clipPath id=\"%s-face\"><circle cx=\"%d\" cy=\"%d\" "
	    "r=\"%d\"/></clipPath>\n",
	    x, y, r + 6, s->st->card, s->ol, s->id, x, y, r);
	put(s,
	    "<image class=\"hero-portrait\" x=\"%d\" y=\"%d\" width=\"%d\" "
	    "height=\"%d\" preserveAspectRatio=\"xMidYMid slice\" "
	    "clip-path=\"url(#%s-face)\" href=\"",
	    x - r, y - r, 2 * r, 2 * r, s->id);
	if (s->err == SJ_OK)
		s->err = buf_addstr(s->out, s->hero->portrait);
	put(s,
	    "\"/>\n<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"none\" "
	    "stroke=\"%s\" stroke-width=\"3\"/>\n",
	    x, y, r, s->st->ink);
}

static void
draw_face(struct scene *s)
{
	const struct style *st = s->st;
	const char *iris = look(s, "", st->iris, 3, 24);
	int x = s->cx, i;

	for (i = -1; i <= 1; i += 2) {
		int ex = x + i * 24;

		if (st->flags & ST_BIG_EYES)
			put(s,
			    "<ellipse cx=\"%d\" cy=\"298\" rx=\"15\" ry=\"19\" "
			    "fill=\"#fff\" stroke=\"%s\" stroke-width=\"2\"/>"
			    "<ellipse cx=\"%d\" cy=\"300\" rx=\"11\" ry=\"15\" "
			    "fill=\"%s\"/><ellipse cx=\"%d\" cy=\"302\" "
			    "rx=\"6\" ry=\"8\" fill=\"%s\"/><circle cx=\"%d\" "
			    "cy=\"293\" r=\"4\" fill=\"#fff\"/><circle "
			    "cx=\"%d\" cy=\"306\" r=\"2\" fill=\"#fff\"/>\n",
			    ex, st->ink, ex, iris, ex, st->ink, ex - 4, ex + 4);
		else
			put(s,
			    "<ellipse cx=\"%d\" cy=\"298\" rx=\"7\" ry=\"9\" "
			    "fill=\"%s\"/><circle cx=\"%d\" cy=\"295\" "
			    "r=\"2.5\" fill=\"#fff\"/>\n",
			    ex, st->ink, ex + 2);
		if (st->flags & ST_BLUSH)
			put(s,
			    "<ellipse cx=\"%d\" cy=\"322\" rx=\"11\" ry=\"6\" "
			    "fill=\"#FF8FA3\" fill-opacity=\".45\"/>\n",
			    x + i * 40);
	}
	if (rnd(s, 0, 1))
		put(s,
		    "<path d=\"M%d,322 Q%d,350 %d,322 Z\" fill=\"#8B2E3C\" "
		    "stroke=\"%s\" stroke-width=\"3\" "
		    "stroke-linejoin=\"round\"/>\n",
		    x - 20, x, x + 20, st->ink);
	else
		put(s,
		    "<path d=\"M%d,322 Q%d,342 %d,322\" fill=\"none\" "
		    "stroke=\"%s\" stroke-width=\"4\" "
		    "stroke-linecap=\"round\"/>\n",
		    x - 20, x, x + 20, st->ink);
}

#define NSIZES (sizeof(caption_sizes) / sizeof(caption_sizes[0]))

/* A caption laid out in one font size. */
struct caption {
	const struct caption_size *size;
	struct line lines[CAPTION_LINES];
	size_t n;
	int more; /* text was left out */
};

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

/*
 * The caption of t[0..len): all of it, else its first whole sentences,
 * else as many of its first words as the smallest size holds.
 */
static void
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

/* Closes the scene, then the caption panel with the scene's text. */
static void
draw_caption(struct scene *s, const char *text, size_t len)
{
	const struct style *st = s->st;
	struct caption c;
	int y;

	put(s, "</g>\n");
	if (st->stroke[0] != '\0')
		put(s,
		    "<rect x=\"24\" y=\"24\" width=\"720\" height=\"540\" "
		    "rx=\"28\" fill=\"none\"%s/>\n",
		    s->ol);
	put(s,
	    "<rect x=\"24\" y=\"588\" width=\"720\" height=\"156\" "
	    "rx=\"20\" fill=\"%s\"%s/>\n",
	    st->card, s->ol);
	caption_layout(text, len, &c);
	if (c.n == 0)
		return;
	y = 666 + c.size->px * 35 / 100 - (int)(c.n - 1) * c.size->lead / 2;
	put(s,
	    "<text class=\"caption\" x=\"384\" y=\"%d\" "
	    "text-anchor=\"middle\" font-family=\"%s\" font-size=\"%d\" "
	    "font-weight=\"%s\" fill=\"%s\">",
	    y, st->font, c.size->px, st->flags & ST_BOLD ? "bold" : "normal",
	    st->card_ink);
	for (size_t i = 0; i < c.n; i++) {
		put(s, "<tspan x=\"384\" dy=\"%d\">",
		    i == 0 ? 0 : c.size->lead);
		put_escaped(s, text + c.lines[i].off, c.lines[i].len);
		if (c.more && i == c.n - 1)
			put(s, "%s", ELLIPSIS);
		put(s, "</tspan>");
	}
	put(s, "</text>\n");
}

bool
local_style_known(const char *style)
{
	size_t i;

	for (i = 0; style != NULL && i < NSTYLES; i++)
		if (strcmp(styles[i].name, style) == 0)
			return true;
	return false;
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
scene_init(struct scene *s, const struct local_card *card)
{
	const char *style = card->style ? card->style : LOCAL_STYLE_DEFAULT;
	const char *parts[4] = {card->prompt, style, "", ""};
	char seed[24];
	unsigned char md[LOCAL_HASH_LEN];
	size_t i, nparts = 2;
	enum sj_err e;

	for (i = 0; i < NSTYLES; i++)
		if (strcmp(styles[i].name, style) == 0)
			s->st = &styles[i];
	if (s->st == NULL)
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
	s->night = rnd(s, 0, 3) == 0;
	s->cx = rnd(s, 280, 488);
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

/* The character: the hero's look (or the PRNG's), then its face. */
static void
draw_character(struct scene *s)
{
	const char *skin =
	    look(s, s->hero ? s->hero->skin : "", s->st->skin, 3, 0);

	put(s, "<g class=\"hero\">\n");
	draw_body(s, skin);
	if (s->hero != NULL && s->hero->portrait != NULL) {
		draw_portrait(s);
	} else {
		draw_head(s, skin);
		draw_face(s);
	}
	put(s, "</g>\n");
}

enum sj_err
local_render_card(const struct local_card *card, struct buf *out)
{
	struct scene s;
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
	put(&s, "</svg>\n");
	return s.err;
}

enum sj_err
local_render_svg(const char *prompt, const char *style, struct buf *out)
{
	const struct local_card card = {prompt, style, NULL, NULL};

	return local_render_card(&card, out);
}
