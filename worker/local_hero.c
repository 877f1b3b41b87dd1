/*
 * The look of a book's hero for the local provider's scene cards.
 *
 * DESIGN
 * A book's hero must look the same on every page, so its look is made
 * once, from the character alone, and handed to every card: the colours
 * the description names come first ("a green scarf" gives a green top,
 * "red hair" red hair -- a colour word followed within two words by a
 * garment or "hair"); skin is the colour of the middle of the hero's
 * picture when there is one (the picture is also drawn as the face, so
 * the hands and neck match it); everything else is picked by a seed from
 * SHA-256 of (description, picture name).  Nothing here depends on the
 * scene, so the scenery varies from card to card and the hero does not.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "local.h"

#define WORD_MAX_LEN 16
#define DATA_PREFIX  "data:image/jpeg;base64,"

static const struct {
	const char *word;
	const char *hex;
} colours[] = {
    {"red", "#D64545"},	   {"orange", "#F08A3C"}, {"yellow", "#F4C542"},
    {"green", "#5DAA68"},  {"blue", "#4A7FC1"},	  {"purple", "#8E5BB5"},
    {"pink", "#F28AB2"},   {"brown", "#8D5B4C"},  {"black", "#2E2A2A"},
    {"white", "#F5F2EA"},  {"grey", "#8C8C8C"},	  {"gray", "#8C8C8C"},
    {"golden", "#E0B64A"}, {"gold", "#E0B64A"},	  {"blond", "#E6C170"},
    {"blonde", "#E6C170"}, {"ginger", "#C8642B"}, {"silver", "#C0C4CC"},
    {"teal", "#2A9D8F"},   {"navy", "#2C3E70"},	  {"violet", "#8E5BB5"},
};

enum part { PART_NONE, PART_HAIR, PART_SHIRT, PART_PANTS };

static const struct {
	const char *word;
	enum part part;
} garments[] = {
    {"hair", PART_HAIR},      {"haired", PART_HAIR},   {"curls", PART_HAIR},
    {"braids", PART_HAIR},    {"shirt", PART_SHIRT},   {"t-shirt", PART_SHIRT},
    {"dress", PART_SHIRT},    {"scarf", PART_SHIRT},   {"jacket", PART_SHIRT},
    {"coat", PART_SHIRT},     {"sweater", PART_SHIRT}, {"jumper", PART_SHIRT},
    {"hoodie", PART_SHIRT},   {"top", PART_SHIRT},     {"cape", PART_SHIRT},
    {"cloak", PART_SHIRT},    {"vest", PART_SHIRT},    {"tunic", PART_SHIRT},
    {"trousers", PART_PANTS}, {"pants", PART_PANTS},   {"jeans", PART_PANTS},
    {"skirt", PART_PANTS},    {"shorts", PART_PANTS},  {"overalls", PART_PANTS},
    {"leggings", PART_PANTS},
};

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The next word of s at or after *pos, lower-cased into w; false at end. */
static bool
next_word(const char *s, size_t *pos, char w[WORD_MAX_LEN + 1])
{
	size_t i = *pos, n = 0;

	while (s[i] != '\0' && !isalpha((unsigned char)s[i]))
		i++;
	if (s[i] == '\0')
		return false;
	while (isalpha((unsigned char)s[i]) || s[i] == '-') {
		if (n < WORD_MAX_LEN)
			w[n++] = (char)tolower((unsigned char)s[i]);
		i++;
	}
	w[n] = '\0';
	*pos = i;
	return true;
}

static const char *
colour_of(const char *w)
{
	for (size_t i = 0; i < NITEMS(colours); i++)
		if (strcmp(w, colours[i].word) == 0)
			return colours[i].hex;
	return NULL;
}

static enum part
part_of(const char *w)
{
	for (size_t i = 0; i < NITEMS(garments); i++)
		if (strcmp(w, garments[i].word) == 0)
			return garments[i].part;
	return PART_NONE;
}

/* Sets the first colour named for each part: "<colour> [word] <part>". */
static void
named_colours(struct local_hero *h, const char *desc)
{
	char w[3][WORD_MAX_LEN + 1] = {"", "", ""};
	size_t pos = 0;

	for (;;) {
		const char *hex;
		char *slot = NULL, *dash;
		enum part p;

		memmove(w[0], w[1], sizeof(w[0]) * 2);
		if (!next_word(desc, &pos, w[2]))
			break;
		p = part_of(w[2]);
		hex = colour_of(w[1]);
		if (hex == NULL)
			hex = colour_of(w[0]);
		if (p == PART_NONE && (dash = strchr(w[2], '-')) != NULL &&
		    strcmp(dash, "-haired") == 0) {
			*dash = '\0'; /* "red-haired" */
			hex = colour_of(w[2]);
			p = PART_HAIR;
		}
		if (hex == NULL || p == PART_NONE)
			continue;
		slot = p == PART_HAIR	 ? h->hair
		       : p == PART_SHIRT ? h->shirt
					 : h->pants;
		if (slot[0] == '\0')
			snprintf(slot, LOCAL_COLOUR_MAX, "%s", hex);
	}
}

enum sj_err
local_hero_init(struct local_hero *h, const char *desc, const char *pic,
		const unsigned char *rgb)
{
	const char *parts[2] = {desc, pic};
	unsigned char md[LOCAL_HASH_LEN];
	enum sj_err e;

	memset(h, 0, sizeof(*h));
	if ((e = local_hash(parts, 2, md)) != SJ_OK)
		return e;
	for (size_t i = 0; i < 8; i++)
		h->seed = (h->seed << 8) | md[i];
	named_colours(h, desc);
	if (rgb != NULL)
		snprintf(h->skin, sizeof(h->skin), "#%02X%02X%02X", rgb[0],
			 rgb[1], rgb[2]);
	return SJ_OK;
}

enum sj_err
local_hero_portrait(struct local_hero *h, const void *jpeg, size_t len)
{
	size_t pre = strlen(DATA_PREFIX), b64 = (len + 2) / 3 * 4;

	free(h->portrait);
	h->portrait = NULL;
	if (len == 0 || len > LOCAL_SVG_MAX / 2)
		return SJ_ETOOBIG;
	if ((h->portrait = malloc(pre + b64 + 1)) == NULL)
		return SJ_ENOMEM;
	memcpy(h->portrait, DATA_PREFIX, pre);
	EVP_EncodeBlock((unsigned char *)h->portrait + pre, jpeg, (int)len);
	return SJ_OK;
}

void
local_hero_free(struct local_hero *h)
{
	free(h->portrait);
	h->portrait = NULL;
}
