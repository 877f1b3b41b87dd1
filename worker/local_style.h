/*
 * The looks of the local provider's scene cards: one row per style of
 * lib's table (enum job_style, job_input.h), a palette plus a few drawing
 * flags (local_style.c).  Which styles there are, their names and their
 * default are lib's; only the palettes are here.
 */
#ifndef SJ_LOCAL_STYLE_H
#define SJ_LOCAL_STYLE_H

#include <stdbool.h>

#include "job_input.h"

enum {
	ST_GRADIENT = 1 << 0,  /* soft shading and glows */
	ST_HALFTONE = 1 << 1,  /* comic dots over the sky */
	ST_BIG_EYES = 1 << 2,  /* anime eyes with highlights */
	ST_BLUSH = 1 << 3,     /* pink cheeks */
	ST_SHADOW = 1 << 4,    /* soft shadow under the character */
	ST_GEOMETRIC = 1 << 5, /* triangles for hills and trees */
	ST_BOLD = 1 << 6       /* bold caption */
};

struct local_style {
	enum job_style id; /* the row's style (its index) */
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

/* The palette of style s; NULL when s is out of range. */
const struct local_style *local_style_of(enum job_style s);
/* The palette of the style named name (job_style_parse); NULL: none. */
const struct local_style *local_style_find(const char *name);

#endif
