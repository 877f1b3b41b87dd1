/*
 * Drawing one scene card, shared by the parts of the renderer: the card
 * and its scenery and caption (local.c), the character (local_figure.c).
 * Internal to the local provider.
 */
#ifndef SJ_LOCAL_DRAW_H
#define SJ_LOCAL_DRAW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "local.h"
#include "local_style.h"

/* One card being drawn. */
struct drawing {
	struct buf *out;
	enum sj_err err; /* first failure; nothing is written after it */
	const struct local_style *st;
	uint64_t rng; /* splitmix64 state */
	char id[12];  /* prefix of every element id */
	char ol[96];  /* outline attributes, "" for none */
	int night;
	int cx;			       /* character's centre line */
	const struct local_hero *hero; /* NULL: colours from the PRNG */
};

/*
 * Appends one formatted element (at most 1 KiB).  The first failure is
 * kept in s->err (the buffer already freed); nothing is written after it.
 */
void draw_put(struct drawing *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends p[0..n) with the five XML specials escaped. */
void draw_escaped(struct drawing *s, const char *p, size_t n);
/* The card's next pseudo-random number in [lo, hi]. */
int draw_rnd(struct drawing *s, int lo, int hi);

/* The character: the hero's look (or the PRNG's), then its face. */
void draw_character(struct drawing *s);

#endif
