/*
 * The five job types end to end with the offline provider: each starts
 * through nginx, a real worker runs it, and what it made can be opened:
 * images answer 200 as images, storybooks are served by the storybook
 * route with an illustration per scene, and an uploaded photo comes back
 * cartoonized (a new PNG of the same size).  The fake upstream only lends
 * its sample photo here.
 *
 * A book made from a cartoonized photo (scenes, then storybook; and
 * auto-story) is read card by card: every scene's text ends a sentence,
 * every card shows the same hero colours, every card carries the
 * portrait cut from the cartoon's own bytes (compared with
 * cartoon_portrait() of the cartoon fetched here), every caption is its
 * scene's text, and a book with another hero shares no card with it.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <gd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "card_check.h"
#include "cartoon.h"
#include "fake.h"
#include "itest.h"
#include "local.h"

static pid_t worker;
static char token[128];

static int
setup(void **state)
{
	const char *bin = getenv("WORKER_BIN");
	char email[96];

	(void)state;
	if (bin == NULL)
		return -1;
	snprintf(email, sizeof(email), "types-%ld@example.com", (long)getpid());
	itest_user(email, "types-password-1", 0, token);
	worker = itest_worker(NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return itest_worker_stop(worker, SIGTERM) == 0 ? 0 : -1;
}

static void
check_image(const char *url)
{
	struct resp r;

	assert_non_null(url);
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "image/svg+xml");
	assert_non_null(strstr(r.body.data, "<svg"));
	resp_free(&r);
}

/* The storybook route serves what the job saved. */
static struct json_object *
get_storybook(const char *id)
{
	char path[128];
	struct json_object *doc;
	struct resp r;

	assert_non_null(id);
	snprintf(path, sizeof(path), "/api/storybooks/%s", id);
	http("GET", path, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	doc = json_object_get(r.json);
	resp_free(&r);
	return doc;
}

/* The width and height of a PNG (from its IHDR). */
static void
png_size(const struct resp *r, unsigned *w, unsigned *h)
{
	const unsigned char *p = (const unsigned char *)r->body.data;

	assert_true(r->body.len > 24);
	assert_memory_equal(p, "\x89PNG\r\n\x1a\n", 8);
	*w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 |
	     (unsigned)p[18] << 8 | p[19];
	*h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 |
	     (unsigned)p[22] << 8 | p[23];
}

static void
test_cartoonize_photo(void **state)
{
	struct json_object *a, *b, *res;
	char photo[512], body[1024];
	unsigned w0, h0, w1, h1;
	struct resp orig, got;
	struct fake fk;

	(void)state;
	fake_start(&fk);
	fake_upload_photo(&fk, NULL, photo, sizeof(photo));
	fake_stop(&fk);
	http("GET", photo, NULL, NULL, 0, &orig);
	assert_int_equal(orig.status, 200);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"my kid %ld\",\"style\":\"comic-book\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo);
	a = itest_job_run("cartoonize", body, token, 30);
	res = jmember(a, "result");
	assert_false(json_object_get_boolean(jmember(res, "cached")));
	http("GET", jstr(res, "url"), NULL, NULL, 0, &got);
	assert_int_equal(got.status, 200);
	assert_string_equal(got.ctype, "image/png");
	png_size(&orig, &w0, &h0);
	png_size(&got, &w1, &h1);
	assert_int_equal(w0, w1);
	assert_int_equal(h0, h1);
	assert_true(got.body.len != orig.body.len ||
		    memcmp(got.body.data, orig.body.data, got.body.len) != 0);
	/* the same photo, prompt and style again: from the cache */
	b = itest_job_run("cartoonize", body, token, 30);
	assert_true(
	    json_object_get_boolean(jmember(jmember(b, "result"), "cached")));
	assert_string_equal(jstr(jmember(b, "result"), "url"),
			    jstr(res, "url"));
	resp_free(&got);
	resp_free(&orig);
	json_object_put(b);
	json_object_put(a);
}

/*
 * "<prefix>-<32 hex>" as the worker names a local cartoon of prompt and
 * style without a photo: HMAC-SHA256 under server_keys' media_names key
 * of the provider's name and the parts, each followed by a NUL.
 */
static const char *
keyed_name(const char *prefix, const char *prompt, const char *style)
{
	static char out[80];
	unsigned char key[64], md[EVP_MAX_MD_SIZE];
	char hex[160], msg[256];
	unsigned int mdlen = 0;
	size_t klen, n;

	sql_str("SELECT encode(key, 'hex') FROM server_keys WHERE name = "
		"'media_names'",
		hex, sizeof(hex));
	klen = strlen(hex) / 2;
	assert_true(klen >= 32 && klen <= sizeof(key));
	for (size_t i = 0; i < klen; i++) {
		char byte[3] = {hex[2 * i], hex[2 * i + 1], '\0'}, *end;

		key[i] = (unsigned char)strtoul(byte, &end, 16);
		assert_true(*end == '\0');
	}
	n = (size_t)snprintf(msg, sizeof(msg), "local%c%s%c%s%c%c", 0, prompt,
			     0, style, 0, 0);
	assert_non_null(HMAC(EVP_sha256(), key, (int)klen,
			     (const unsigned char *)msg, n, md, &mdlen));
	n = (size_t)snprintf(out, sizeof(out), "%s-", prefix);
	for (size_t i = 0; i < 16; i++)
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%02x", md[i]);
	return out;
}

/*
 * The media cache is shared, its flag is not: another caller asking for
 * the same picture gets the stored one (the same URL, nothing drawn
 * again) reported as made for it, and only its maker sees cached: true;
 * an anonymous caller is its client (its address).  The name is
 * HMAC-SHA256 under the database's key, which nobody can compute from a
 * prompt.
 */
static void
test_cache_owner(void **state)
{
	struct json_object *a, *b, *c;
	char body[256], name[80], body_prompt[64];
	const char *url, *slash;
	long long files;

	(void)state;
	snprintf(body_prompt, sizeof(body_prompt), "a shared owl %ld",
		 (long)getpid());
	snprintf(body, sizeof(body), "{\"prompt\":\"%s\",\"style\":\"anime\"}",
		 body_prompt);
	a = itest_job_run("cartoonize", body, token, 30);
	url = jstr(jmember(a, "result"), "url");
	assert_false(
	    json_object_get_boolean(jmember(jmember(a, "result"), "cached")));
	files = sql_ll("SELECT count(*) FROM media_cache");
	/* anonymous: the same URL, not flagged, nothing new stored */
	b = itest_job_run("cartoonize", body, NULL, 30);
	assert_string_equal(jstr(jmember(b, "result"), "url"), url);
	assert_false(
	    json_object_get_boolean(jmember(jmember(b, "result"), "cached")));
	assert_int_equal(sql_ll("SELECT count(*) FROM media_cache"), files);
	/* its maker: flagged */
	c = itest_job_run("cartoonize", body, token, 30);
	assert_true(
	    json_object_get_boolean(jmember(jmember(c, "result"), "cached")));
	json_object_put(c);
	/* made by an anonymous client: flagged for it, not for another one */
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"%s by night\",\"style\":\"anime\"}",
		 body_prompt);
	c = itest_job_run("cartoonize", body, NULL, 30);
	json_object_put(c);
	c = itest_job_run("cartoonize", body, NULL, 30);
	assert_true(
	    json_object_get_boolean(jmember(jmember(c, "result"), "cached")));
	json_object_put(c);
	itest_source("127.0.0.41");
	c = itest_job_run("cartoonize", body, NULL, 30);
	itest_source(NULL);
	assert_false(
	    json_object_get_boolean(jmember(jmember(c, "result"), "cached")));
	/* the name is HMAC-SHA256 of the parts under the database's key */
	slash = strrchr(url, '/');
	assert_non_null(slash);
	assert_int_equal(strlen(slash + 1), strlen("cartoon-") + 32 + 4);
	assert_string_equal(slash + 1 + strlen("cartoon-") + 32, ".svg");
	snprintf(name, sizeof(name), "%.*s", (int)strlen("cartoon-") + 32,
		 slash + 1);
	assert_string_equal(name, keyed_name("cartoon", body_prompt, "anime"));
	json_object_put(c);
	json_object_put(b);
	json_object_put(a);
}

static void
test_image_generation(void **state)
{
	static const char body[] =
	    "{\"image_prompt\":\"a fox reading under a tree\","
	    "\"character_description\":\"a small red fox\",\"emotion\":"
	    "\"happy\",\"audience\":\"children\",\"style\":\"storybook\"}";
	struct json_object *a =
	    itest_job_run("image-generation", body, NULL, 30);
	struct json_object *b =
	    itest_job_run("image-generation", body, NULL, 30);

	(void)state;
	assert_string_equal(jstr(a, "currentStep"),
			    "Image generation complete");
	assert_false(
	    json_object_get_boolean(jmember(jmember(a, "result"), "reused")));
	check_image(jstr(jmember(a, "result"), "url"));
	assert_non_null(jstr(jmember(a, "result"), "prompt_used"));
	/* the same input again comes from the cache */
	assert_string_equal(jstr(b, "currentStep"), "Retrieved from cache");
	assert_true(
	    json_object_get_boolean(jmember(jmember(b, "result"), "reused")));
	assert_string_equal(jstr(jmember(a, "result"), "url"),
			    jstr(jmember(b, "result"), "url"));
	json_object_put(a);
	json_object_put(b);
}

static void
test_scenes(void **state)
{
	static const char body[] =
	    "{\"story\":\"Pip the fox found a map in the attic. She packed "
	    "a lantern and a sandwich. The forest was dark but the stars were "
	    "bright. At the old oak she met an owl who could not sleep. "
	    "Together they followed the map to a hidden lake. They watched "
	    "the moon rise and went home happy.\",\"characterImage\":"
	    "\"https://example.com/pip-the-fox.png\",\"audience\":"
	    "\"children\"}";
	struct json_object *d = itest_job_run("scenes", body, NULL, 30);
	struct json_object *res = jmember(d, "result");
	struct json_object *pages = jmember(res, "pages");

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Scene generation complete");
	assert_true(json_object_array_length(pages) >= 1);
	assert_true(json_object_array_length(pages) <= 4); /* children */
	assert_non_null(jstr(res, "character_description"));
	json_object_put(d);
}

static void
test_storybook(void **state)
{
	static const char body[] =
	    "{\"title\":\"Pip and the Owl\",\"story\":\"Pip met an owl.\","
	    "\"characterImage\":\"https://example.com/pip.png\",\"audience\":"
	    "\"children\",\"pages\":[{\"pageNumber\":1,\"scenes\":[{"
	    "\"description\":\"Pip finds a map\",\"emotion\":\"excited\","
	    "\"imagePrompt\":\"a fox holding an old map\"},{\"description\":"
	    "\"Pip meets the owl\",\"emotion\":\"happy\",\"imagePrompt\":"
	    "\"a fox and an owl on a branch\"}]},{\"pageNumber\":2,\"scenes\":"
	    "[{\"description\":\"They watch the moon\",\"emotion\":\"calm\","
	    "\"imagePrompt\":\"a fox and an owl by a lake at night\"}]}]}";
	struct json_object *d = itest_job_run("storybook", body, NULL, 30);
	struct json_object *res = jmember(d, "result"), *sb;

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Storybook saved successfully");
	assert_false(json_object_get_boolean(jmember(res, "has_errors")));
	sb = get_storybook(jstr(res, "storybook_id"));
	assert_string_equal(jstr(sb, "title"), "Pip and the Owl");
	assert_int_equal(itest_check_pages(jmember(sb, "pages"), check_image),
			 3);
	json_object_put(sb);
	json_object_put(d);
}

static void
test_auto_story(void **state)
{
	static const char body[] =
	    "{\"genre\":\"adventure\",\"characterDescription\":\"a brave "
	    "little fox named pip with a green scarf\",\"cartoonImageUrl\":"
	    "\"https://example.com/fox.png\",\"audience\":\"children\"}";
	struct json_object *d = itest_job_run("auto-story", body, token, 30);
	struct json_object *res = jmember(d, "result"), *sb;

	(void)state;
	assert_string_equal(jstr(d, "currentStep"),
			    "Auto-story generation complete");
	assert_non_null(jstr(res, "title"));
	sb = get_storybook(jstr(res, "storybook_id"));
	assert_string_equal(jstr(sb, "title"), jstr(res, "title"));
	assert_true(itest_check_pages(jmember(sb, "pages"), check_image) >= 4);
	/* the hero is the character the description names */
	assert_non_null(
	    jstr(json_object_array_get_idx(jmember(sb, "pages"), 0), "text"));
	assert_non_null(strstr(
	    jstr(json_object_array_get_idx(jmember(sb, "pages"), 0), "text"),
	    "Pip"));
	json_object_put(sb);
	json_object_put(d);
}

/* ---- a book from a cartoonized photo ---- */

#define PIP_STORY                                                              \
	"Once upon a time, a brave little fox named Pip left her den at "      \
	"dawn to find the lost star of the forest. She crossed the river on "  \
	"stepping stones, one careful hop at a time. On the far bank she met " \
	"Mr. Hedgehog, who was sorting acorns by size. \xe2\x80\x9cHave you "  \
	"seen a fallen star?\xe2\x80\x9d Pip asked. He shook his head and "    \
	"pointed to the old owl\xe2\x80\x99s oak. The old owl blinked, "       \
	"yawned, and said the star had landed near the tallest "               \
	"pine\xe2\x80\xa6 if the squirrels were telling the truth. Pip ran "   \
	"through ferns and over mossy logs until the sun was high. At last "   \
	"she found the star caught in the branches of the tallest pine, "      \
	"glowing like a warm lantern. She carried it home in her tail, and "   \
	"that night the whole forest shone."
#define PIP_SENTENCES 9
#define CARDS_MAX     64
#define URL_MAX	      512

/* What a book's cards share, read from the first and held to the rest. */
struct hero_seen {
	bool face; /* the cards must show a portrait (else: none) */
	char skin[16], shirt[16], pants[16];
	char *portrait; /* the base64 of the portrait JPEG */
	char urls[CARDS_MAX][URL_MAX];
	size_t cards;
};

/* Checks one scene's card against what the book's first card showed. */
static void
check_card(struct json_object *scene, struct hero_seen *h)
{
	const char *desc = jstr(scene, "description");
	const char *url = jstr(scene, "imageUrl"), *u;
	char skin[16], shirt[16], pants[16], caption[4096];
	struct resp r;
	size_t n;

	assert_non_null(desc);
	assert_non_null(url);
	assert_true(card_ends_sentence(desc));
	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "image/svg+xml");
	card_check_safe(r.body.data, r.body.len);
	assert_true(card_class_fill(r.body.data, "hero-skin", skin));
	assert_true(card_class_fill(r.body.data, "hero-shirt", shirt));
	assert_true(card_class_fill(r.body.data, "hero-pants", pants));
	u = strstr(r.body.data, "href=\"data:image/jpeg;base64,");
	if (!h->face) {
		assert_null(strstr(r.body.data, "href="));
		u = "\"";
	} else {
		assert_non_null(u);
		u += strlen("href=\"data:image/jpeg;base64,");
	}
	n = strcspn(u, "\"");
	card_caption(r.body.data, caption, sizeof(caption));
	assert_string_equal(caption, desc);
	if (h->cards == 0) {
		memcpy(h->skin, skin, 16);
		memcpy(h->shirt, shirt, 16);
		memcpy(h->pants, pants, 16);
		h->portrait = strndup(u, n);
	}
	assert_string_equal(skin, h->skin);
	assert_string_equal(shirt, h->shirt);
	assert_string_equal(pants, h->pants);
	assert_int_equal(n, strlen(h->portrait));
	assert_memory_equal(u, h->portrait, n);
	assert_true(h->cards < CARDS_MAX);
	snprintf(h->urls[h->cards++], URL_MAX, "%s", url);
	resp_free(&r);
}

/*
 * Reads every card of storybook id, each with the hero's portrait when
 * face is set, else with none; returns the number of scenes.
 */
static size_t
read_book(const char *id, bool face, struct hero_seen *h)
{
	struct json_object *sb = get_storybook(id),
			   *pages = jmember(sb, "pages");

	memset(h, 0, sizeof(*h));
	h->face = face;
	for (size_t p = 0; p < json_object_array_length(pages); p++) {
		struct json_object *sc =
		    jmember(json_object_array_get_idx(pages, p), "scenes");

		for (size_t i = 0; i < json_object_array_length(sc); i++)
			check_card(json_object_array_get_idx(sc, i), h);
	}
	json_object_put(sb);
	return h->cards;
}

/* The base64 of the portrait the worker cuts from the image at url. */
static char *
portrait_of(const char *url)
{
	unsigned char rgb[3];
	struct buf jpeg;
	struct resp r;
	char *b64;

	http("GET", url, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(cartoon_portrait(r.body.data, r.body.len,
					  LOCAL_PORTRAIT_PX, &jpeg, rgb),
			 SJ_OK);
	b64 = malloc(jpeg.len / 3 * 4 + 8);
	assert_non_null(b64);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)jpeg.data,
			(int)jpeg.len);
	buf_free(&jpeg);
	resp_free(&r);
	return b64;
}

/* A storybook job of pages with characterImage image; its id into id. */
static void
run_storybook(const char *image, struct json_object *pages, char *id,
	      size_t idsz)
{
	struct json_object *in = json_object_new_object(), *d;

	assert_non_null(in);
	json_object_object_add(in, "title",
			       json_object_new_string("Pip and the Star"));
	json_object_object_add(in, "story", json_object_new_string(PIP_STORY));
	json_object_object_add(in, "characterImage",
			       json_object_new_string(image));
	json_object_object_add(in, "audience",
			       json_object_new_string("children"));
	json_object_object_add(in, "pages", json_object_get(pages));
	d = itest_job_run("storybook", json_object_to_json_string(in), token,
			  60);
	assert_false(json_object_get_boolean(
	    jmember(jmember(d, "result"), "has_errors")));
	snprintf(id, idsz, "%s", jstr(jmember(d, "result"), "storybook_id"));
	json_object_put(d);
	json_object_put(in);
}

static void
test_book_of_cartoon(void **state)
{
	struct json_object *cart, *sc, *pages;
	char photo[512], body[4096], id[64], cartoon[URL_MAX];
	struct hero_seen *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char *want;
	struct fake fk;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	fake_start(&fk);
	fake_upload_photo(&fk, "book", photo, sizeof(photo));
	fake_stop(&fk);
	snprintf(body, sizeof(body),
		 "{\"prompt\":\"Pip %ld\",\"style\":\"storybook\","
		 "\"imageUrl\":\"%s\"}",
		 (long)getpid(), photo);
	cart = itest_job_run("cartoonize", body, token, 30);
	snprintf(cartoon, sizeof(cartoon), "%s",
		 jstr(jmember(cart, "result"), "url"));
	json_object_put(cart);
	/* the scenes of the Pip story: one per sentence, none cut */
	snprintf(body, sizeof(body),
		 "{\"story\":\"%s\",\"characterImage\":\"%s\",\"audience\":"
		 "\"children\"}",
		 PIP_STORY, cartoon);
	sc = itest_job_run("scenes", body, token, 30);
	pages = jmember(jmember(sc, "result"), "pages");
	assert_int_equal(json_object_array_length(pages), 4);
	/* the book the /create page makes of them, with the cartoon */
	run_storybook(cartoon, pages, id, sizeof(id));
	assert_int_equal(read_book(id, true, a), PIP_SENTENCES);
	want = portrait_of(cartoon);
	assert_string_equal(a->portrait, want);
	free(want);
	/* another hero (the photo itself): no card shared, another face */
	run_storybook(photo, pages, id, sizeof(id));
	assert_int_equal(read_book(id, true, b), PIP_SENTENCES);
	assert_true(strcmp(a->portrait, b->portrait) != 0);
	for (size_t i = 0; i < a->cards; i++)
		for (size_t k = 0; k < b->cards; k++)
			assert_true(strcmp(a->urls[i], b->urls[k]) != 0);
	free(a->portrait);
	free(b->portrait);
	/* auto-story with the cartoon: its hero wears the green scarf */
	snprintf(
	    body, sizeof(body),
	    "{\"genre\":\"adventure\",\"characterDescription\":\"a brave "
	    "little fox named Pip with a green scarf\",\"cartoonImageUrl\":"
	    "\"%s\",\"audience\":\"children\"}",
	    cartoon);
	cart = itest_job_run("auto-story", body, token, 60);
	assert_true(read_book(jstr(jmember(cart, "result"), "storybook_id"),
			      true, a) >= 4);
	assert_string_equal(a->shirt, "#5DAA68");
	want = portrait_of(cartoon);
	assert_string_equal(a->portrait, want);
	free(want);
	free(a->portrait);
	json_object_put(cart);
	json_object_put(sc);
	free(a);
	free(b);
}

/*
 * A character image of ours that is gone: the book is still made, every
 * scene illustrated, the hero drawn (the same on every card) without a
 * face picture.
 */
static void
test_book_picture_gone(void **state)
{
	struct json_object *d, *res, *sb, *pages, *sc;
	char body[4096], first[16] = "", shirt[16];
	struct resp r;
	int cards = 0;

	(void)state;
	snprintf(body, sizeof(body),
		 "{\"genre\":\"bedtime\",\"characterDescription\":\"a sleepy "
		 "bear in a yellow sweater\",\"cartoonImageUrl\":"
		 "\"/media/cartoon-gone-%ld.png\",\"audience\":\"children\"}",
		 (long)getpid());
	d = itest_job_run("auto-story", body, token, 60);
	res = jmember(d, "result");
	sb = get_storybook(jstr(res, "storybook_id"));
	assert_false(json_object_get_boolean(jmember(sb, "has_errors")));
	pages = jmember(sb, "pages");
	for (size_t p = 0; p < json_object_array_length(pages); p++) {
		sc = jmember(json_object_array_get_idx(pages, p), "scenes");
		for (size_t i = 0; i < json_object_array_length(sc); i++) {
			const char *url =
			    jstr(json_object_array_get_idx(sc, i), "imageUrl");

			assert_non_null(url);
			http("GET", url, NULL, NULL, 0, &r);
			assert_int_equal(r.status, 200);
			assert_null(strstr(r.body.data, "href="));
			assert_true(
			    card_class_fill(r.body.data, "hero-shirt", shirt));
			assert_string_equal(shirt, "#F4C542"); /* yellow */
			if (first[0] == '\0')
				assert_true(card_class_fill(
				    r.body.data, "hero-hair", first));
			assert_true(
			    card_class_fill(r.body.data, "hero-hair", shirt));
			assert_string_equal(shirt, first);
			resp_free(&r);
			cards++;
		}
	}
	assert_true(cards >= 4);
	json_object_put(sb);
	json_object_put(d);
}

/* Writes a small PNG of one colour to path. */
static void
write_png(const char *path, int r, int g, int b)
{
	gdImagePtr im = gdImageCreateTrueColor(48, 64);
	void *png;
	int size = 0;
	FILE *f;

	assert_non_null(im);
	gdImageFilledRectangle(im, 0, 0, 47, 63, gdTrueColor(r, g, b));
	png = gdImagePngPtr(im, &size);
	assert_non_null(png);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(png, 1, (size_t)size, f), (size_t)size);
	assert_int_equal(fclose(f), 0);
	gdFree(png);
	gdImageDestroy(im);
}

/*
 * A character picture of ours that is not there when a book is made,
 * and is there when the next book with it is: the first book's cards,
 * drawn without a face, are not reused for the second, which shows it.
 */
static void
test_book_picture_late(void **state)
{
	static const char pages_json[] =
	    "[{\"pageNumber\":1,\"scenes\":[{\"description\":\"Pip woke "
	    "up.\",\"emotion\":\"happy\",\"imagePrompt\":\"a fox waking "
	    "up\"},{\"description\":\"Pip ran to the hill!\",\"emotion\":"
	    "\"excited\",\"imagePrompt\":\"a fox running up a hill\"}]}]";
	const char *dir = getenv("MEDIA_DIR");
	struct hero_seen *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct json_object *pages = json_tokener_parse(pages_json);
	char url[128], path[4096], id[64], *want;

	(void)state;
	assert_non_null(dir);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(pages);
	snprintf(url, sizeof(url), "/media/cartoon-late-%ld.png",
		 (long)getpid());
	snprintf(path, sizeof(path), "%s/%s", dir, url + strlen("/media/"));
	unlink(path);
	run_storybook(url, pages, id, sizeof(id));
	assert_int_equal(read_book(id, false, a), 2);
	write_png(path, 40, 160, 90);
	run_storybook(url, pages, id, sizeof(id));
	assert_int_equal(read_book(id, true, b), 2);
	want = portrait_of(url);
	assert_string_equal(b->portrait, want);
	for (size_t i = 0; i < a->cards; i++)
		for (size_t k = 0; k < b->cards; k++)
			assert_true(strcmp(a->urls[i], b->urls[k]) != 0);
	assert_int_equal(unlink(path), 0);
	free(want);
	free(a->portrait);
	free(b->portrait);
	free(a);
	free(b);
	json_object_put(pages);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cartoonize_photo),
	    cmocka_unit_test(test_cache_owner),
	    cmocka_unit_test(test_image_generation),
	    cmocka_unit_test(test_scenes),
	    cmocka_unit_test(test_storybook),
	    cmocka_unit_test(test_auto_story),
	    cmocka_unit_test(test_book_of_cartoon),
	    cmocka_unit_test(test_book_picture_gone),
	    cmocka_unit_test(test_book_picture_late),
	};
	int rc;

	itest_init();
	rc = cmocka_run_group_tests(tests, setup, teardown);
	itest_done();
	return rc;
}
