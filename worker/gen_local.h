/*
 * The local provider's work with no job attached (gen_local.c): every
 * function returns false with *f filled when it fails.  job_local.c
 * runs it inside a job (gen_local_ops).
 */
#ifndef SJ_GEN_LOCAL_H
#define SJ_GEN_LOCAL_H

#include <stdbool.h>

#include <json-c/json.h>

#include "buf.h"

#include "gen_types.h"
#include "local.h"

/* A story by story_write(); an unknown genre is INVALID_INPUT. */
bool gen_local_story(const char *genre, const char *character,
		     const char *audience, struct buf *out,
		     struct gen_fail *f) SJ_WUR;
/* Scenes by story_scenes(); no text is INVALID_INPUT. */
bool gen_local_scenes(const char *story, const char *audience,
		      struct json_object **pages, struct gen_fail *f) SJ_WUR;
/*
 * The letter-only words (1 to 20 letters) of the URL's file name and
 * " character" ("brave-fox.png": "brave fox character").
 */
void gen_local_describe(const char *url, char out[GEN_DESC_MAX]);
/* An SVG scene card of prompt in style. */
bool gen_local_image(const char *prompt, const char *style,
		     struct gen_image *out, struct gen_fail *f) SJ_WUR;
/* A PNG cartoon of photo; a picture that cannot be read is INVALID_INPUT. */
bool gen_local_cartoon(const struct gen_image *photo, const char *style,
		       struct gen_image *out, struct gen_fail *f) SJ_WUR;
/*
 * Sets up h (zeroed) with desc and a portrait cut from pic (read from
 * url), its face on every card.  A picture that cannot be read is
 * INVALID_INPUT.
 */
bool gen_local_portrait(struct local_hero *h, const char *desc, const char *url,
			const struct gen_image *pic, struct gen_fail *f) SJ_WUR;
/*
 * Finishes the hero h (heap; set up by gen_local_portrait when face) as
 * gh->made and names its face in gh->face.  On failure h is freed.
 */
bool gen_local_hero(struct local_hero *h, bool face, struct gen_hero *gh,
		    struct gen_fail *f) SJ_WUR;
void gen_local_hero_free(void *made);
/* The card of s with hero h (NULL: a character of the seed). */
bool gen_local_scene(const struct gen_scene *s, const struct local_hero *h,
		     struct gen_image *out, struct gen_fail *f) SJ_WUR;

#endif
