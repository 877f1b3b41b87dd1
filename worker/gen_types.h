/*
 * What providers and handlers exchange, with no job attached: images in
 * memory, the hero and scene of a book, and a provider's failure record
 * (gen_types.c).  Depends on lib/ only, so a provider built on it can be
 * linked and tested without the worker.
 */
#ifndef SJ_GEN_TYPES_H
#define SJ_GEN_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define GEN_DESC_MAX  512	  /* bytes of a character description */
#define GEN_NAME_MAX  64	  /* prefix-<32 hex>.ext */
#define GEN_IMAGE_MAX (16u << 20) /* bytes of one image */
#define GEN_FACE_MAX  65	  /* 64 hex digits and a NUL */
#define GEN_FAIL_MSG  260	  /* a job message (256) and a cut char */

/* An image in memory. */
struct gen_image {
	struct buf data;
	const char *ctype; /* static: "image/png", "image/svg+xml", ... */
	const char *ext;   /* static: "png", "svg", ... */
};

/*
 * Who the illustrations of a book (or of one image-generation) show, set
 * once by the handler.  A provider with a scene op prepares what it draws
 * of the hero once, on the first scene, into made (its own; freed by
 * gen_hero_free), so every scene of the book shows the same hero.
 */
struct gen_hero {
	const char *description; /* borrowed; "" when none */
	const char *picture;	 /* borrowed URL (the cartoon); "" when none */
	void *made;
	void (*made_free)(void *made);
	/* What made draws of picture (a digest; "" for nothing), by hero() */
	char face[GEN_FACE_MAX];
};

/* One illustration of a story. */
struct gen_scene {
	const char *prompt;    /* what image() would be given */
	const char *style;     /* a contract style */
	const char *caption;   /* the scene's own text */
	struct gen_hero *hero; /* NULL: none */
};

/*
 * Why a provider's work failed, for the handler to record on the job
 * (step_fail_rec): the same fields as a job's failure.
 */
struct gen_fail {
	bool transient;	    /* worth a retry */
	const char *code;   /* static error code (CONTRACT) */
	long retry_after_s; /* not before this (an upstream's hint); 0 none */
	char msg[GEN_FAIL_MSG];
};

void gen_fail_set(struct gen_fail *f, bool transient, const char *code,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* INTERNAL_ERROR for e; transient for I/O, memory and database errors. */
void gen_fail_err(struct gen_fail *f, enum sj_err e, const char *what);

void gen_image_free(struct gen_image *img);
void gen_hero_free(struct gen_hero *h);

#endif
