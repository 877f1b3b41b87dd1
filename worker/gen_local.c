/*
 * The local provider: offline and deterministic, so the whole product
 * works (and is tested) with no network and no key.
 *
 * DESIGN
 * Stories come from the template writer (story.c), scene breakdowns from
 * the splitter, illustrations are SVG scene cards (local.c), and a photo
 * is cartoonized for real with libgd (cartoon.c).  The character
 * description cannot come from looking at the picture, so it is made of
 * the words of the image's file name ("brave-fox.png" gives "brave fox
 * character").  Nothing here fails transiently except memory.
 *
 * A book's scenes (the scene op) share one hero, made on the first scene
 * and kept in the handler's gen_hero: its look comes from the character
 * (local_hero_init), and when its picture is one of our own media (the
 * cartoon the cartoonize step made, or the upload), that picture, cut to
 * a LOCAL_PORTRAIT_PX square JPEG, is its face on every card.  A picture
 * elsewhere is never fetched: this provider stays offline.  An own
 * picture that is gone or unreadable costs the hero its face, not the
 * book (a transient error still fails the job for a retry).  The hero is
 * made before the first card's cache key (the hero op), and the key
 * holds its face: the SHA-256 of the portrait, or nothing -- so a card
 * drawn without the picture is never served for a book that has it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "log.h"
#include "media_names.h"
#include "media.h"

#include "cartoon.h"
#include "gen.h"
#include "local.h"
#include "story.h"

static bool
local_story(struct step_ctx *c, const char *genre, const char *character,
	    const char *audience, struct buf *out)
{
	enum sj_err e = story_write(genre, character, audience, out);

	if (e == SJ_EINVAL)
		step_fail(c, false, "INVALID_INPUT", "Invalid genre");
	else if (e != SJ_OK)
		step_fail_err(c, e, "Writing the story failed");
	return e == SJ_OK;
}

static bool
local_scenes(struct step_ctx *c, const char *story, const char *audience,
	     struct json_object **pages)
{
	enum sj_err e = story_scenes(story, audience, pages);

	if (e == SJ_EINVAL)
		step_fail(c, false, "INVALID_INPUT",
			  "Story content is required");
	else if (e != SJ_OK)
		step_fail_err(c, e, "Breaking the story failed");
	return e == SJ_OK;
}

/* The letter-only words (1 to 20 letters) of the URL's file name. */
static bool
local_describe(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	const char *base = strrchr(url, '/');
	size_t n = 0, end;

	base = base ? base + 1 : url;
	end = strcspn(base, ".?#");
	for (size_t i = 0; i < end;) {
		size_t w = strcspn(base + i, "-_ +.?#");
		bool letters = w > 0 && w <= 20;

		if (i + w > end)
			w = end - i;
		for (size_t j = 0; j < w && letters; j++)
			letters = (base[i + j] >= 'a' && base[i + j] <= 'z') ||
				  (base[i + j] >= 'A' && base[i + j] <= 'Z');
		if (letters && n + w + 12 < GEN_DESC_MAX) {
			if (n > 0)
				out[n++] = ' ';
			memcpy(out + n, base + i, w);
			n += w;
		}
		i += w + 1;
	}
	if (n == 0)
		snprintf(out, GEN_DESC_MAX, "the main character");
	else
		snprintf(out + n, GEN_DESC_MAX - n, " character");
	return true;
}

static bool
local_image(struct step_ctx *c, const char *prompt, const char *style,
	    struct gen_image *out)
{
	enum sj_err e = local_render_svg(prompt, style, &out->data);

	if (e != SJ_OK) {
		step_fail_err(c, e, "Drawing the image failed");
		return false;
	}
	out->ctype = "image/svg+xml";
	out->ext = "svg";
	return true;
}

static bool
local_cartoon(struct step_ctx *c, const char *prompt, const char *style,
	      const char *url, struct gen_image *out)
{
	struct gen_image photo;
	enum sj_err e;

	if (url[0] == '\0')
		return local_image(c, prompt, style, out);
	if (!gen_fetch_image(c, url, &photo))
		return false;
	e = cartoon_photo(photo.data.data, photo.data.len, style, &out->data);
	gen_image_free(&photo);
	if (e == SJ_EINVAL || e == SJ_ETOOBIG) {
		step_fail(c, false, "INVALID_INPUT",
			  e == SJ_ETOOBIG ? "The picture is too large"
					  : "The picture cannot be read");
		return false;
	}
	if (e != SJ_OK) {
		step_fail_err(c, e, "Cartoonizing the picture failed");
		return false;
	}
	out->ctype = "image/png";
	out->ext = "png";
	return true;
}

static void
hero_free(void *made)
{
	local_hero_free(made);
	free(made);
}

/* Reads our own picture at url and cuts the hero's portrait from it. */
static bool
hero_portrait(struct step_ctx *c, struct local_hero *h, const char *desc,
	      const char *url)
{
	struct gen_image pic;
	struct buf jpeg;
	unsigned char rgb[3];
	enum sj_err e;

	if (!gen_fetch_image(c, url, &pic))
		return false;
	e = cartoon_portrait(pic.data.data, pic.data.len, LOCAL_PORTRAIT_PX,
			     &jpeg, rgb);
	gen_image_free(&pic);
	if (e == SJ_EINVAL || e == SJ_ETOOBIG) {
		step_fail(c, false, "INVALID_INPUT",
			  "The character image cannot be read");
		return false;
	}
	if (e == SJ_OK && (e = local_hero_init(h, desc, url, rgb)) == SJ_OK)
		e = local_hero_portrait(h, jpeg.data, jpeg.len);
	buf_free(&jpeg);
	if (e != SJ_OK) {
		step_fail_err(c, e, "Drawing the character failed");
		return false;
	}
	log_kv(LOG_LVL_DEBUG, "job", c->job->id, "hero portrait",
	       LOG_INT("bytes", strlen(h->portrait)));
	return true;
}

_Static_assert(GEN_FACE_MAX > 2 * LOCAL_HASH_LEN, "a face is a hex digest");

/*
 * Names the hero's face for cache keys: the hex SHA-256 of its portrait,
 * "" when it has none.
 */
static bool
hero_face(struct step_ctx *c, const struct local_hero *h, struct gen_hero *gh)
{
	unsigned char md[LOCAL_HASH_LEN];
	const char *parts[1] = {h->portrait};
	enum sj_err e;

	gh->face[0] = '\0';
	if (h->portrait == NULL)
		return true;
	if ((e = local_hash(parts, 1, md)) != SJ_OK) {
		step_fail_err(c, e, "Drawing the character failed");
		return false;
	}
	hex_encode(md, LOCAL_HASH_LEN, gh->face);
	return true;
}

/* The book's hero, made once (on its first cache key or scene). */
static bool
hero_of(struct step_ctx *c, struct gen_hero *gh, struct local_hero **out)
{
	struct local_hero *h;
	char name[256];
	bool face = false;
	enum sj_err e;

	if ((*out = gh->made) != NULL)
		return true;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Drawing the character failed");
		return false;
	}
	if (store_own_name(c->cfg, gh->picture, name, sizeof(name)) == SJ_OK &&
	    !(face = hero_portrait(c, h, gh->description, gh->picture))) {
		if (c->end != RUN_FAIL || c->transient) {
			hero_free(h);
			return false;
		}
		log_kv(LOG_LVL_WARN, "job", c->job->id,
		       "the hero is drawn without its picture",
		       LOG_STR("error", c->msg));
		step_forgive(c);
	}
	if (!face && (e = local_hero_init(h, gh->description, gh->picture,
					  NULL)) != SJ_OK) {
		hero_free(h);
		step_fail_err(c, e, "Drawing the character failed");
		return false;
	}
	if (!hero_face(c, h, gh)) {
		hero_free(h);
		return false;
	}
	gh->made = *out = h;
	gh->made_free = hero_free;
	return true;
}

static bool
local_hero(struct step_ctx *c, struct gen_hero *gh)
{
	struct local_hero *h;

	return hero_of(c, gh, &h);
}

static bool
local_scene(struct step_ctx *c, const struct gen_scene *s,
	    struct gen_image *out)
{
	struct local_card card = {s->prompt, s->style, s->caption, NULL};
	struct local_hero *h = NULL;
	enum sj_err e;

	if (s->hero != NULL && !hero_of(c, s->hero, &h))
		return false;
	card.hero = h;
	if ((e = local_render_card(&card, &out->data)) != SJ_OK) {
		step_fail_err(c, e, "Drawing the image failed");
		return false;
	}
	out->ctype = "image/svg+xml";
	out->ext = "svg";
	return true;
}

const struct gen_ops gen_local_ops = {
    .name = "local",
    .story = local_story,
    .scenes = local_scenes,
    .describe = local_describe,
    .image = local_image,
    .cartoon = local_cartoon,
    .scene = local_scene,
    .hero = local_hero,
};
