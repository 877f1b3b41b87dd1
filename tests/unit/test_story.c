/*
 * The local provider's story side (the sentence splitter has its own
 * suite, test_sentence): the scene breakdown (counts per audience, whole
 * sentences only, whole paragraphs when it can, a sentence too long for a
 * scene the only one cut, image prompts of whole words) and the scene
 * cards of a book (the same hero colours and portrait on every card, the
 * caption is the scene's text, well-formed XML with no script and no
 * external reference).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gd.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "card_check.h"
#include "cartoon.h"
#include "local.h"
#include "story.h"
#include "story_split.h"

/* ---- the scene breakdown ---- */

struct book {
	size_t pages, scenes;
	char *desc[256];
	char *prompt[256];
	size_t page_of[256];
};

static void
book_free(struct book *b)
{
	for (size_t i = 0; i < b->scenes; i++) {
		free(b->desc[i]);
		free(b->prompt[i]);
	}
}

static void
breakdown(const char *story, const char *audience, struct book *b)
{
	struct json_object *pages, *sc, *d;

	memset(b, 0, sizeof(*b));
	assert_int_equal(story_scenes(story, audience, &pages), SJ_OK);
	b->pages = json_object_array_length(pages);
	for (size_t p = 0; p < b->pages; p++) {
		assert_true(json_object_object_get_ex(
		    json_object_array_get_idx(pages, p), "scenes", &sc));
		assert_true(json_object_array_length(sc) >= 1);
		assert_true(json_object_array_length(sc) <= 20);
		for (size_t i = 0; i < json_object_array_length(sc); i++) {
			struct json_object *o =
			    json_object_array_get_idx(sc, i);

			assert_true(b->scenes < 256);
			assert_true(
			    json_object_object_get_ex(o, "description", &d));
			assert_true(json_object_get_string_len(d) <=
				    STORY_DESC_MAX);
			b->page_of[b->scenes] = p;
			b->desc[b->scenes] = strdup(json_object_get_string(d));
			assert_true(
			    json_object_object_get_ex(o, "imagePrompt", &d));
			assert_true(json_object_get_string_len(d) <=
				    STORY_PROMPT_MAX);
			b->prompt[b->scenes++] =
			    strdup(json_object_get_string(d));
		}
	}
	json_object_put(pages);
}

/*
 * Sentences "S<i>." of len - 1 letters each, a blank line after every
 * per_para of them (0: one paragraph).
 */
static char *
story_of(size_t n, size_t per_para, size_t len)
{
	char *t = malloc(n * (len + 16) + 1), *p = t;

	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		p += snprintf(p, 16, "%s%zu", i == 0 ? "" : " ", i);
		for (size_t k = 0; k + 1 < len; k++)
			*p++ = 'a' + (char)(k % 26);
		*p++ = '.';
		if (per_para > 0 && (i + 1) % per_para == 0)
			p += snprintf(p, 4, "\n\n");
	}
	*p = '\0';
	return t;
}

/* The number of sentences in s (they end with '.'). */
static size_t
count_dots(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '.';
	return n;
}

static void
check_whole(const struct book *b)
{
	for (size_t i = 0; i < b->scenes; i++) {
		if (!card_ends_sentence(b->desc[i]))
			print_message("mid-sentence: [%s]\n", b->desc[i]);
		assert_true(card_ends_sentence(b->desc[i]));
	}
}

static void
test_scenes_short(void **state)
{
	static const char pip[] =
	    "Once upon a time, a brave little fox named Pip left her den at "
	    "dawn to find the lost star of the forest. She crossed the river "
	    "on stepping stones, asked the old owl for directions, and at last "
	    "found the star caught in the branches of the tallest pine.";
	struct book b;
	char *t;

	(void)state;
	breakdown(pip, "children", &b);
	assert_int_equal(b.scenes, 2); /* fewer than 10, never fragments */
	check_whole(&b);
	assert_non_null(strstr(b.desc[0], "little fox named Pip left her den"));
	book_free(&b);
	t = story_of(9, 0, 30);
	breakdown(t, "children", &b);
	assert_int_equal(b.scenes, 9);
	assert_int_equal(b.pages, 4);
	check_whole(&b);
	book_free(&b);
	free(t);
	/* a title line is not a scene */
	breakdown("The Lost Star\nPip ran. Pip hid. Pip won.", "adults", &b);
	assert_int_equal(b.scenes, 3);
	assert_string_equal(b.desc[0], "Pip ran.");
	book_free(&b);
}

static void
test_scenes_grouped(void **state)
{
	static const struct {
		const char *audience;
		size_t scenes, pages;
	} aud[] = {{"children", 10, 4},
		   {"young_adults", 14, 6},
		   {"adults", 18, 8},
		   {"nobody", 10, 4}};
	char *t = story_of(25, 0, 40);
	struct book b;

	(void)state;
	for (size_t a = 0; a < sizeof(aud) / sizeof(aud[0]); a++) {
		size_t total = 0, lo = 99, hi = 0;

		breakdown(t, aud[a].audience, &b);
		assert_int_equal(b.scenes, aud[a].scenes);
		assert_int_equal(b.pages, aud[a].pages);
		check_whole(&b);
		for (size_t i = 0; i < b.scenes; i++) {
			size_t k = count_dots(b.desc[i]);

			total += k;
			lo = k < lo ? k : lo;
			hi = k > hi ? k : hi;
		}
		assert_int_equal(total, 25); /* every sentence, once */
		assert_true(hi - lo <= 1);   /* evenly */
		book_free(&b);
	}
	free(t);
}

static void
test_scenes_paragraphs(void **state)
{
	struct book b;
	char *t;

	(void)state;
	/* 12 paragraphs of 2: scenes of whole paragraphs */
	t = story_of(24, 2, 20);
	breakdown(t, "children", &b);
	assert_int_equal(b.scenes, 10);
	for (size_t i = 0; i < b.scenes; i++)
		assert_int_equal(count_dots(b.desc[i]) % 2, 0);
	book_free(&b);
	free(t);
	/* a paragraph too long for one scene among short ones: still 10 */
	{
		char *big = story_of(8, 0, 250), *small = story_of(29, 1, 10);

		t = malloc(strlen(big) + strlen(small) + 4);
		assert_non_null(t);
		snprintf(t, strlen(big) + strlen(small) + 4, "%s\n\n%s", big,
			 small);
		breakdown(t, "children", &b);
		assert_int_equal(b.scenes, 10);
		check_whole(&b);
		book_free(&b);
		free(t);
		free(big);
		free(small);
	}
	/* 4 paragraphs of 5: no scene straddles a paragraph */
	t = story_of(20, 5, 20);
	breakdown(t, "children", &b);
	assert_int_equal(b.scenes, 10);
	for (size_t i = 0, first = 0; i < b.scenes; i++) {
		size_t k = count_dots(b.desc[i]);

		assert_int_equal(first / 5, (first + k - 1) / 5);
		first += k;
	}
	check_whole(&b);
	book_free(&b);
	free(t);
}

static void
test_scenes_long(void **state)
{
	char *t = story_of(400, 0, 110); /* about 46 KB */
	size_t total = 0;
	struct book b;

	(void)state;
	breakdown(t, "children", &b);
	assert_true(b.scenes > 10); /* more, as 10 would not fit */
	check_whole(&b);
	for (size_t i = 0; i < b.scenes; i++)
		total += count_dots(b.desc[i]);
	assert_int_equal(total, 400);
	print_message("400 sentences: %zu scenes on %zu pages\n", b.scenes,
		      b.pages);
	book_free(&b);
	free(t);
	/* six long sentences, then 3000 short paragraphs: scenes of about
	 * equal length, not one per three sentences */
	{
		char *big = story_of(6, 0, 500), *small = story_of(3000, 1, 10);

		t = malloc(strlen(big) + strlen(small) + 4);
		assert_non_null(t);
		snprintf(t, strlen(big) + strlen(small) + 4, "%s\n\n%s", big,
			 small);
		breakdown(t, "children", &b);
		check_whole(&b);
		print_message("uneven story of %zu bytes: %zu scenes\n",
			      strlen(t), b.scenes);
		assert_true(b.scenes <= strlen(t) / (STORY_DESC_MAX / 2));
		book_free(&b);
		free(t);
		free(big);
		free(small);
	}
}

/*
 * Appends a sentence of about len bytes, "Pip ran over log 1, over log
 * 2, ... over log N." to t.
 */
static void
long_sentence(char *t, size_t tsz, size_t len)
{
	size_t start = strlen(t), o = start;

	o += (size_t)snprintf(t + o, tsz - o, "%sPip ran", start ? " " : "");
	for (int k = 1; o - start + 14 < len; k++)
		o += (size_t)snprintf(t + o, tsz - o, " over log %d,", k);
	assert_true(o + 2 < tsz);
	t[o - 1] = '.';
}

/* Whether scene text d ends inside the sentence "Pip ran ..." of story. */
static bool
ends_inside_long(const char *story, const char *d)
{
	const char *a = strstr(story, "Pip ran"), *z = strchr(a, '.');
	const char *p = strstr(a, d + strlen(d) - 14);

	return p != NULL && p < z;
}

/*
 * No scene ends inside a sentence that fits a scene, wherever a long one
 * stands among short ones (0 to 24 before it, 0 to 24 after it); one
 * longer than a scene can hold is the only text cut, at a clause.
 */
static void
test_scenes_long_sentence(void **state)
{
	static const size_t lens[] = {870, 1850, 2600};
	static char t[8192];
	size_t cuts = 0;

	(void)state;
	for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
		for (size_t before = 0; before < 25; before++) {
			for (size_t after = 0; after < 25; after++) {
				struct book b;

				t[0] = '\0';
				for (size_t i = 0; i < before; i++)
					snprintf(t + strlen(t),
						 sizeof(t) - strlen(t),
						 "%sShort one %zu.",
						 i ? " " : "", i);
				long_sentence(t, sizeof(t), lens[l]);
				for (size_t i = 0; i < after; i++)
					snprintf(t + strlen(t),
						 sizeof(t) - strlen(t),
						 " Short two %zu.", i);
				breakdown(t, "children", &b);
				for (size_t i = 0; i < b.scenes; i++) {
					if (card_ends_sentence(b.desc[i]))
						continue;
					if (lens[l] < STORY_DESC_MAX - 8)
						print_message(
						    "%zu/%zu/%zu: [%s]\n",
						    lens[l], before, after,
						    b.desc[i]);
					assert_true(lens[l] > STORY_DESC_MAX);
					assert_true(
					    ends_inside_long(t, b.desc[i]));
					assert_int_equal(
					    b.desc[i][strlen(b.desc[i]) - 1],
					    ',');
					cuts++;
				}
				book_free(&b);
			}
		}
	}
	assert_int_equal(cuts, 625); /* the 2600-byte one, once each */
}

/*
 * A scene's image prompt is its text, whole sentences that fit, else its
 * first whole words: never a word cut in two.
 */
static void
test_scenes_prompt_words(void **state)
{
	static const char lead[] = "Storybook illustration: ";
	char t[2048] = "";
	struct book b;

	(void)state;
	/* one sentence of 500 bytes: words of 2 to 10 letters */
	for (int k = 0; strlen(t) < 500; k++)
		snprintf(t + strlen(t), sizeof(t) - strlen(t), "%s%.*s",
			 k ? " " : "", 2 + k % 9, "abcdefghijklmnop");
	snprintf(t + strlen(t), sizeof(t) - strlen(t), ". Pip slept.");
	breakdown(t, "children", &b);
	assert_int_equal(b.scenes, 2);
	for (size_t i = 0; i < b.scenes; i++) {
		const char *p = b.prompt[i] + strlen(lead);
		size_t n = strlen(p);

		assert_int_equal(strncmp(b.prompt[i], lead, strlen(lead)), 0);
		assert_int_equal(strncmp(b.desc[i], p, n), 0);
		if (b.desc[i][n] != '\0' && b.desc[i][n] != ' ')
			print_message("prompt cut in a word: [%s]\n", p);
		assert_true(b.desc[i][n] == '\0' || b.desc[i][n] == ' ');
		assert_true(i > 0 || n > 200); /* as much as fits */
	}
	book_free(&b);
	/* two sentences, the first fits: the prompt is the first only */
	breakdown("Pip ran over the hill and far away to the sea. It was "
		  "a long way, and she walked for a very long time.",
		  "adults", &b);
	assert_int_equal(b.scenes, 2);
	assert_string_equal(b.prompt[0], "Storybook illustration: Pip ran "
					 "over the hill and far away to the "
					 "sea.");
	book_free(&b);
}

/* ---- scene cards ---- */

/* A hero's portrait JPEG cut from a red picture made with libgd. */
static void
portrait_jpeg(struct buf *jpeg)
{
	gdImagePtr im = gdImageCreateTrueColor(40, 30);
	unsigned char rgb[3];
	void *png;
	int size = 0;

	assert_non_null(im);
	gdImageFilledRectangle(im, 0, 0, 39, 29, gdTrueColor(230, 20, 20));
	png = gdImagePngPtr(im, &size);
	assert_non_null(png);
	assert_int_equal(cartoon_portrait(png, (size_t)size, 64, jpeg, rgb),
			 SJ_OK);
	assert_true(rgb[0] > 200 && rgb[1] < 60);
	gdFree(png);
	gdImageDestroy(im);
}

static const char *const book_text[] = {
    "Pip left her den at dawn.",
    "\xe2\x80\x9cWhere is the star?\xe2\x80\x9d Pip asked Mr. Owl.",
    "Tom & Jerry <3 \"cheese\" and 'crumbs'.",
    "She ran, and ran, and ran until the sun went down behind the hills.",
};

/* Renders the book's cards with hero h; checks what every card shares. */
static void
render_book(const struct local_hero *h, char colours[4][16], char *uri_out,
	    size_t urisz)
{
	static const char *const parts[] = {"hero-skin", "hero-shirt",
					    "hero-pants", "hero-hair"};
	char prompt[256], caption[512], c[16];

	for (size_t i = 0; i < sizeof(book_text) / sizeof(book_text[0]); i++) {
		struct local_card card = {prompt, "storybook", book_text[i], h};
		struct buf svg;
		const char *u;

		snprintf(prompt, sizeof(prompt),
			 "a character, Storybook illustration: %s, feeling "
			 "happy",
			 book_text[i]);
		assert_int_equal(local_render_card(&card, &svg), SJ_OK);
		card_check_safe(svg.data, svg.len);
		card_caption(svg.data, caption, sizeof(caption));
		assert_string_equal(caption, book_text[i]);
		/* the prompt is the title, never the caption */
		assert_non_null(strstr(svg.data, "<title"));
		assert_null(strstr(caption, "Storybook illustration"));
		for (size_t k = 0; k < 4; k++) {
			bool has = card_class_fill(svg.data, parts[k], c);

			if (k == 3 && h->portrait != NULL) {
				assert_false(has); /* the face is the picture */
				continue;
			}
			assert_true(has);
			if (i == 0)
				memcpy(colours[k], c, 16);
			assert_string_equal(c, colours[k]);
		}
		u = strstr(svg.data, "href=\"");
		if (h->portrait == NULL) {
			assert_null(u);
		} else {
			assert_non_null(u);
			assert_int_equal(
			    strncmp(u + 6, h->portrait, strlen(h->portrait)),
			    0);
			snprintf(uri_out, urisz, "%s", h->portrait);
		}
		buf_free(&svg);
	}
}

static void
test_cards_same_hero(void **state)
{
	struct local_hero h, g;
	char colours[4][16], other[4][16], uri[65536] = "";
	unsigned char *b64;
	struct buf jpeg;

	(void)state;
	assert_int_equal(local_hero_init(&h,
					 "a brave girl with red hair and a "
					 "green scarf",
					 "/media/cartoon-1.png", NULL),
			 SJ_OK);
	assert_string_equal(h.hair, "#D64545");
	assert_string_equal(h.shirt, "#5DAA68");
	render_book(&h, colours, uri, sizeof(uri));
	assert_string_equal(colours[1], "#5DAA68");
	assert_string_equal(colours[3], "#D64545");
	/* another hero: other colours */
	assert_int_equal(local_hero_init(&g, "a tall boy in blue jeans",
					 "/media/cartoon-2.png", NULL),
			 SJ_OK);
	assert_string_equal(g.pants, "#4A7FC1");
	render_book(&g, other, uri, sizeof(uri));
	assert_string_equal(other[2], "#4A7FC1");
	assert_true(strcmp(other[1], colours[1]) != 0 ||
		    strcmp(other[3], colours[3]) != 0);
	/* with a portrait: the picture's bytes in every card, its skin */
	portrait_jpeg(&jpeg);
	assert_int_equal(
	    local_hero_init(&h, "a brave girl", "/media/c.png",
			    (const unsigned char[]){200, 150, 120}),
	    SJ_OK);
	assert_string_equal(h.skin, "#C89678");
	assert_int_equal(local_hero_portrait(&h, jpeg.data, jpeg.len), SJ_OK);
	render_book(&h, colours, uri, sizeof(uri));
	assert_string_equal(colours[0], "#C89678");
	b64 = malloc(jpeg.len * 2 + 8);
	assert_non_null(b64);
	EVP_EncodeBlock(b64, (unsigned char *)jpeg.data, (int)jpeg.len);
	assert_string_equal(uri + strlen("data:image/jpeg;base64,"),
			    (char *)b64);
	free(b64);
	buf_free(&jpeg);
	local_hero_free(&h);
	local_hero_free(&g);
}

static void
test_cards_caption_fit(void **state)
{
	char text[2048], caption[2048], *p = text;
	struct local_card card = {"a prompt", "anime", text, NULL};
	struct buf a, b;

	(void)state;
	/* too long for the panel: its first whole sentences */
	for (int i = 0; i < 12; i++)
		p +=
		    snprintf(p, 128, "%sSentence number %d is rather long too.",
			     i ? " " : "", i);
	assert_int_equal(local_render_card(&card, &a), SJ_OK);
	card_check_safe(a.data, a.len);
	assert_non_null(
	    strstr(a.data, "<desc>A scene card in the anime style.</desc>"));
	card_caption(a.data, caption, sizeof(caption));
	assert_true(strlen(caption) > 100);
	assert_true(strlen(caption) < strlen(text));
	assert_int_equal(strncmp(text, caption, strlen(caption)), 0);
	assert_true(card_ends_sentence(caption));
	/* deterministic; a plain render still works */
	assert_int_equal(local_render_card(&card, &b), SJ_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	buf_free(&a);
	buf_free(&b);
	assert_int_equal(local_render_svg("a fox <reads>", NULL, &a), SJ_OK);
	card_check_safe(a.data, a.len);
	card_caption(a.data, caption, sizeof(caption));
	assert_string_equal(caption, "a fox <reads>");
	buf_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scenes_short),
	    cmocka_unit_test(test_scenes_grouped),
	    cmocka_unit_test(test_scenes_paragraphs),
	    cmocka_unit_test(test_scenes_long),
	    cmocka_unit_test(test_scenes_long_sentence),
	    cmocka_unit_test(test_scenes_prompt_words),
	    cmocka_unit_test(test_cards_same_hero),
	    cmocka_unit_test(test_cards_caption_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
