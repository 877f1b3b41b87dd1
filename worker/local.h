/*
 * The local provider: an offline, deterministic generator of SVG "scene
 * cards", the illustrations of image-generation, storybook and
 * auto-story jobs (and of a cartoonize with no photo).
 */
#ifndef SJ_LOCAL_H
#define SJ_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define LOCAL_SVG_MAX  (256 * 1024) /* cap on one rendered document */
#define LOCAL_HASH_LEN 32	    /* SHA-256 */

#define LOCAL_COLOUR_MAX  8   /* "#RRGGBB" and its NUL */
#define LOCAL_PORTRAIT_PX 192 /* side of a hero's portrait JPEG */

/*
 * The look of a book's hero, made once per book (local_hero.c) and drawn
 * the same on every card: colours given here win, the rest are picked
 * from the card style's palette by seed.  portrait, when set, is the
 * hero's own picture (a data: URI of a small JPEG), drawn as the face.
 */
struct local_hero {
	uint64_t seed;
	char skin[LOCAL_COLOUR_MAX], hair[LOCAL_COLOUR_MAX];
	char shirt[LOCAL_COLOUR_MAX], pants[LOCAL_COLOUR_MAX];
	char *portrait; /* owned; NULL: a drawn face */
};

/* What one card shows. */
struct local_card {
	const char *prompt;	       /* seeds the scenery; the <title> */
	const char *style;	       /* NULL: JOB_STYLE_DEFAULT's */
	const char *caption;	       /* the scene's text; NULL: prompt */
	const struct local_hero *hero; /* NULL: a character of the seed */
};

/*
 * Renders a 768x768 SVG scene card.  The output depends only on the
 * card's fields (the hero's by value).  The caption is the scene's text,
 * wrapped in a font size that fits it, else its whole sentences that fit,
 * else its first words and an ellipsis.  out is initialised here with
 * LOCAL_SVG_MAX as its cap; on SJ_OK it holds the document and the
 * caller buf_free()s it, on error it is already freed.  SJ_EINVAL:
 * prompt is NULL or the style is unknown.
 */
enum sj_err local_render_card(const struct local_card *card,
			      struct buf *out) SJ_WUR;

/* local_render_card() of prompt alone, in style (NULL: the default). */
enum sj_err local_render_svg(const char *prompt, const char *style,
			     struct buf *out) SJ_WUR;

/*
 * Makes the look of the character described by desc whose picture is
 * named pic ("" for none): colours the description names ("a green
 * scarf", "red hair") win; skin, when rgb is given (the picture's face
 * colour), is that colour; the rest comes from SHA-256(desc, pic).
 * portrait is left NULL.  SJ_ENOMEM if hashing fails.
 */
enum sj_err local_hero_init(struct local_hero *h, const char *desc,
			    const char *pic, const unsigned char *rgb) SJ_WUR;
/* Sets h's portrait to a data: URI of the JPEG jpeg (len bytes). */
enum sj_err local_hero_portrait(struct local_hero *h, const void *jpeg,
				size_t len) SJ_WUR;
void local_hero_free(struct local_hero *h);

/*
 * SHA-256 of the n strings parts[] joined by single NUL bytes, so that
 * ("ab", "c") and ("a", "bc") differ.  SJ_ENOMEM if OpenSSL fails.
 */
enum sj_err local_hash(const char *const *parts, size_t n,
		       unsigned char md[LOCAL_HASH_LEN]) SJ_WUR;

#endif
