/*
 * The local provider: offline and deterministic, so the whole product
 * works (and is tested) with no network and no key.  Its work is done
 * here with no job attached: each function returns false with a failure
 * record (gen_types.h) for the handler to record; job_local.c runs it
 * inside a job (gen_local_ops: reading our own pictures, the log).
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

#include "cartoon.h"
#include "gen_local.h"
#include "story.h"
#include "story_split.h"

bool
gen_local_story(const char *genre, const char *character, const char *audience,
		struct buf *out, struct gen_fail *f)
{
	enum sj_err e = story_write(genre, character, audience, out);

	if (e == SJ_EINVAL)
		gen_fail_set(f, false, "INVALID_INPUT", "Invalid genre");
	else if (e != SJ_OK)
		gen_fail_err(f, e, "Writing the story failed");
	return e == SJ_OK;
}

bool
gen_local_scenes(const char *story, const char *audience,
		 struct json_object **pages, struct gen_fail *f)
{
	enum sj_err e = story_scenes(story, audience, pages);

	if (e == SJ_EINVAL)
		gen_fail_set(f, false, "INVALID_INPUT",
			     "Story content is required");
	else if (e != SJ_OK)
		gen_fail_err(f, e, "Breaking the story failed");
	return e == SJ_OK;
}

/* The letter-only words (1 to 20 letters) of the URL's file name. */
void
gen_local_describe(const char *url, char out[GEN_DESC_MAX])
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
}

bool
gen_local_image(const char *prompt, const char *style, struct gen_image *out,
		struct gen_fail *f)
{
	enum sj_err e = local_render_svg(prompt, style, &out->data);

	if (e != SJ_OK) {
		gen_fail_err(f, e, "Drawing the image failed");
		return false;
	}
	out->ctype = "image/svg+xml";
	out->ext = "svg";
	return true;
}

bool
gen_local_cartoon(const struct gen_image *photo, const char *style,
		  struct gen_image *out, struct gen_fail *f)
{
	enum sj_err e;

	e = cartoon_photo(photo->data.data, photo->data.len, style, &out->data);
	if (e == SJ_EINVAL || e == SJ_ETOOBIG) {
		gen_fail_set(f, false, "INVALID_INPUT", "%s",
			     e == SJ_ETOOBIG ? "The picture is too large"
					     : "The picture cannot be read");
		return false;
	}
	if (e != SJ_OK) {
		gen_fail_err(f, e, "Cartoonizing the picture failed");
		return false;
	}
	out->ctype = "image/png";
	out->ext = "png";
	return true;
}

void
gen_local_hero_free(void *made)
{
	local_hero_free(made);
	free(made);
}

bool
gen_local_portrait(struct local_hero *h, const char *desc, const char *url,
		   const struct gen_image *pic, struct gen_fail *f)
{
	struct buf jpeg;
	unsigned char rgb[3];
	enum sj_err e;

	e = cartoon_portrait(pic->data.data, pic->data.len, LOCAL_PORTRAIT_PX,
			     &jpeg, rgb);
	if (e == SJ_EINVAL || e == SJ_ETOOBIG) {
		gen_fail_set(f, false, "INVALID_INPUT",
			     "The character image cannot be read");
		return false;
	}
	if (e == SJ_OK && (e = local_hero_init(h, desc, url, rgb)) == SJ_OK)
		e = local_hero_portrait(h, jpeg.data, jpeg.len);
	buf_free(&jpeg);
	if (e != SJ_OK) {
		gen_fail_err(f, e, "Drawing the character failed");
		return false;
	}
	return true;
}

_Static_assert(GEN_FACE_MAX > 2 * LOCAL_HASH_LEN, "a face is a hex digest");

/*
 * Names the hero's face for cache keys: the hex SHA-256 of its portrait,
 * "" when it has none.
 */
static bool
hero_face(const struct local_hero *h, struct gen_hero *gh, struct gen_fail *f)
{
	unsigned char md[LOCAL_HASH_LEN];
	const char *parts[1] = {h->portrait};
	enum sj_err e;

	gh->face[0] = '\0';
	if (h->portrait == NULL)
		return true;
	if ((e = local_hash(parts, 1, md)) != SJ_OK) {
		gen_fail_err(f, e, "Drawing the character failed");
		return false;
	}
	hex_encode(md, LOCAL_HASH_LEN, gh->face);
	return true;
}

bool
gen_local_hero(struct local_hero *h, bool face, struct gen_hero *gh,
	       struct gen_fail *f)
{
	enum sj_err e;

	if (!face && (e = local_hero_init(h, gh->description, gh->picture,
					  NULL)) != SJ_OK) {
		gen_local_hero_free(h);
		gen_fail_err(f, e, "Drawing the character failed");
		return false;
	}
	if (!hero_face(h, gh, f)) {
		gen_local_hero_free(h);
		return false;
	}
	gh->made = h;
	gh->made_free = gen_local_hero_free;
	return true;
}

bool
gen_local_scene(const struct gen_scene *s, const struct local_hero *h,
		struct gen_image *out, struct gen_fail *f)
{
	struct local_card card = {s->prompt, s->style, s->caption, h};
	enum sj_err e;

	if ((e = local_render_card(&card, &out->data)) != SJ_OK) {
		gen_fail_err(f, e, "Drawing the image failed");
		return false;
	}
	out->ctype = "image/svg+xml";
	out->ext = "svg";
	return true;
}
