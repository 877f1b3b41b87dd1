/*
 * The character on a scene card: body, head and face in the card's style.
 *
 * DESIGN
 * A book's hero (struct local_hero, local_hero.c) gives its colours: its
 * own (named by its description, or its picture's skin) first, else the
 * palette's pick by its seed -- the same on every card of the book.  A
 * card with no hero picks them with the card's PRNG.  Every part still
 * draws its PRNG number, so the card's other choices do not depend on
 * whether it has a hero.  A hero with a portrait (its own picture as a
 * data: URI) has it as its face, clipped to a circle, in place of the
 * drawn head.
 */
#include <stdint.h>

#include "local_draw.h"

#define PORTRAIT_R 74 /* radius of a portrait face */

/*
 * The hero's colour for a part: the hero's own, else its seed's pick of
 * the palette (shift selects the seed's bits), else the PRNG's pick.
 */
static const char *
look(struct drawing *s, const char *own, const char *const *pal, int n,
     int shift)
{
	int r = draw_rnd(s, 0, n - 1); /* drawn always: the scenery stays put */

	if (s->hero == NULL)
		return pal[r];
	if (own[0] != '\0')
		return own;
	return pal[(s->hero->seed >> shift) % (uint64_t)n];
}

static void
draw_body(struct drawing *s, const char *skin)
{
	const struct local_style *st = s->st;
	const char *shirt =
	    look(s, s->hero ? s->hero->shirt : "", st->shirt, 4, 16);
	const char *pants =
	    s->hero && s->hero->pants[0] ? s->hero->pants : st->pants;
	int x = s->cx;

	if (st->flags & ST_SHADOW)
		draw_put(s,
			 "<ellipse cx=\"%d\" cy=\"532\" rx=\"72\" ry=\"12\" "
			 "fill=\"#000\" fill-opacity=\".18\"/>\n",
			 x);
	draw_put(
	    s,
	    "<g class=\"hero-pants\" fill=\"%s\"%s><rect x=\"%d\" y=\"455\" "
	    "width=\"22\" height=\"75\" rx=\"10\"/><rect x=\"%d\" y=\"455\" "
	    "width=\"22\" height=\"75\" rx=\"10\"/></g>\n<g fill=\"%s\">"
	    "<ellipse cx=\"%d\" cy=\"530\" rx=\"18\" ry=\"9\"/><ellipse "
	    "cx=\"%d\" cy=\"530\" rx=\"18\" ry=\"9\"/></g>\n",
	    pants, s->ol, x - 30, x + 8, st->ink, x - 20, x + 20);
	draw_put(
	    s,
	    "<g class=\"hero-shirt\" fill=\"%s\"%s><rect x=\"%d\" y=\"375\" "
	    "width=\"22\" height=\"80\" rx=\"11\" transform=\"rotate(20 %d "
	    "380)\"/><rect x=\"%d\" y=\"375\" width=\"22\" height=\"80\" "
	    "rx=\"11\" transform=\"rotate(-20 %d 380)\"/></g>\n<g "
	    "class=\"hero-skin\" fill=\"%s\"%s><circle cx=\"%d\" cy=\"455\" "
	    "r=\"12\"/><circle cx=\"%d\" cy=\"455\" r=\"12\"/></g>\n",
	    shirt, s->ol, x - 62, x - 51, x + 40, x + 51, skin, s->ol, x - 78,
	    x + 78);
	if (st->flags & ST_GEOMETRIC)
		draw_put(s,
			 "<polygon points=\"%d,360 %d,360 %d,470 %d,470\" "
			 "fill=\"%s\"/>\n",
			 x - 40, x + 40, x + 58, x - 58, shirt);
	else
		draw_put(s,
			 "<rect x=\"%d\" y=\"360\" width=\"96\" height=\"110\" "
			 "rx=\"34\" fill=\"%s\"%s/>\n",
			 x - 48, shirt, s->ol);
	if (st->flags & ST_GRADIENT)
		draw_put(s,
			 "<rect x=\"%d\" y=\"360\" width=\"96\" height=\"110\" "
			 "rx=\"34\" fill=\"url(#%s-shade)\"/>\n",
			 x - 48, s->id);
	draw_put(s,
		 "<rect x=\"%d\" y=\"336\" width=\"24\" height=\"30\" "
		 "fill=\"%s\"/>\n",
		 x - 12, skin);
}

static void
draw_head(struct drawing *s, const char *skin)
{
	const struct local_style *st = s->st;
	const char *hair =
	    look(s, s->hero ? s->hero->hair : "", st->hair, 3, 8);
	int x = s->cx, r = st->flags & ST_BIG_EYES ? 68 : 64;

	if (!(st->flags & ST_BIG_EYES))
		draw_put(
		    s,
		    "<g fill=\"%s\"%s><circle cx=\"%d\" cy=\"298\" r=\"12\"/>"
		    "<circle cx=\"%d\" cy=\"298\" r=\"12\"/></g>\n",
		    skin, s->ol, x - 62, x + 62);
	draw_put(s, "<circle cx=\"%d\" cy=\"290\" r=\"%d\" fill=\"%s\"%s/>\n",
		 x, r, skin, s->ol);
	if (st->flags & ST_GRADIENT)
		draw_put(s,
			 "<circle cx=\"%d\" cy=\"290\" r=\"%d\" "
			 "fill=\"url(#%s-shade)\"/>\n",
			 x, r, s->id);
	if (st->flags & ST_BIG_EYES)
		draw_put(
		    s,
		    "<path class=\"hero-hair\" d=\"M%d,300 L%d,246 L%d,236 "
		    "L%d,216 L%d,226 "
		    "L%d,208 L%d,230 L%d,222 L%d,248 L%d,300 Q%d,250 %d,258 "
		    "Q%d,250 %d,300 Z\" fill=\"%s\"%s/>\n",
		    x - 70, x - 62, x - 44, x - 20, x, x + 22, x + 40, x + 62,
		    x + 66, x + 70, x + 40, x, x - 40, x - 70, hair, s->ol);
	else
		draw_put(s,
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
draw_portrait(struct drawing *s)
{
	int x = s->cx, y = 286, r = PORTRAIT_R;

	draw_put(s,
		 "<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"%s\"%s/>\n"
		 "<clipPath id=\"%s-face\"><circle cx=\"%d\" cy=\"%d\" "
		 "r=\"%d\"/></clipPath>\n",
		 x, y, r + 6, s->st->card, s->ol, s->id, x, y, r);
	draw_put(
	    s,
	    "<image class=\"hero-portrait\" x=\"%d\" y=\"%d\" width=\"%d\" "
	    "height=\"%d\" preserveAspectRatio=\"xMidYMid slice\" "
	    "clip-path=\"url(#%s-face)\" href=\"",
	    x - r, y - r, 2 * r, 2 * r, s->id);
	if (s->err == SJ_OK)
		s->err = buf_addstr(s->out, s->hero->portrait);
	draw_put(s,
		 "\"/>\n<circle cx=\"%d\" cy=\"%d\" r=\"%d\" fill=\"none\" "
		 "stroke=\"%s\" stroke-width=\"3\"/>\n",
		 x, y, r, s->st->ink);
}

static void
draw_face(struct drawing *s)
{
	const struct local_style *st = s->st;
	const char *iris = look(s, "", st->iris, 3, 24);
	int x = s->cx, i;

	for (i = -1; i <= 1; i += 2) {
		int ex = x + i * 24;

		if (st->flags & ST_BIG_EYES)
			draw_put(
			    s,
			    "<ellipse cx=\"%d\" cy=\"298\" rx=\"15\" ry=\"19\" "
			    "fill=\"#fff\" stroke=\"%s\" stroke-width=\"2\"/>"
			    "<ellipse cx=\"%d\" cy=\"300\" rx=\"11\" ry=\"15\" "
			    "fill=\"%s\"/><ellipse cx=\"%d\" cy=\"302\" "
			    "rx=\"6\" ry=\"8\" fill=\"%s\"/><circle cx=\"%d\" "
			    "cy=\"293\" r=\"4\" fill=\"#fff\"/><circle "
			    "cx=\"%d\" cy=\"306\" r=\"2\" fill=\"#fff\"/>\n",
			    ex, st->ink, ex, iris, ex, st->ink, ex - 4, ex + 4);
		else
			draw_put(
			    s,
			    "<ellipse cx=\"%d\" cy=\"298\" rx=\"7\" ry=\"9\" "
			    "fill=\"%s\"/><circle cx=\"%d\" cy=\"295\" "
			    "r=\"2.5\" fill=\"#fff\"/>\n",
			    ex, st->ink, ex + 2);
		if (st->flags & ST_BLUSH)
			draw_put(
			    s,
			    "<ellipse cx=\"%d\" cy=\"322\" rx=\"11\" ry=\"6\" "
			    "fill=\"#FF8FA3\" fill-opacity=\".45\"/>\n",
			    x + i * 40);
	}
	if (draw_rnd(s, 0, 1))
		draw_put(
		    s,
		    "<path d=\"M%d,322 Q%d,350 %d,322 Z\" fill=\"#8B2E3C\" "
		    "stroke=\"%s\" stroke-width=\"3\" "
		    "stroke-linejoin=\"round\"/>\n",
		    x - 20, x, x + 20, st->ink);
	else
		draw_put(s,
			 "<path d=\"M%d,322 Q%d,342 %d,322\" fill=\"none\" "
			 "stroke=\"%s\" stroke-width=\"4\" "
			 "stroke-linecap=\"round\"/>\n",
			 x - 20, x, x + 20, st->ink);
}

/* The character: the hero's look (or the PRNG's), then its face. */
void
draw_character(struct drawing *s)
{
	const char *skin =
	    look(s, s->hero ? s->hero->skin : "", s->st->skin, 3, 0);

	draw_put(s, "<g class=\"hero\">\n");
	draw_body(s, skin);
	if (s->hero != NULL && s->hero->portrait != NULL) {
		draw_portrait(s);
	} else {
		draw_head(s, skin);
		draw_face(s);
	}
	draw_put(s, "</g>\n");
}
