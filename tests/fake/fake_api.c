/*
 * DESIGN: the answers of the fake OpenAI and Cloudinary APIs.
 *
 * Each handler turns one parsed request into a struct reply and never
 * touches the socket, so the transport can send the same answer at once,
 * late (delay), or a byte a second (trickle).  Request bodies go through
 * the project's strict JSON parser; text answers are built from the words
 * of the last user message so tests can tell answers apart, and images
 * are real PNGs whose colour is a pure function of the prompt.  Uploads
 * are checked like Cloudinary checks them: the signature is the SHA-1 of
 * the sorted signed parameters followed by the secret.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "fake.h"
#include "jsonv.h"

#define WORDS_MAX  12
#define WORD_MAX   24
#define FIELDS_MAX 32
#define PAGES_MAX  20

struct words {
	char w[WORDS_MAX][WORD_MAX + 1];
	size_t n;
};

struct chat_in {
	const char *model;
	enum fake_kind kind;
	bool json_mode;
	bool has_image;
	int pages;
	const char *last_user; /* borrowed from the parsed body */
};

static void *photo[2];
static int photo_len[2];

static void
to_hex(const unsigned char *d, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

void
sha256_hex(const void *p, size_t n, char hex[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256(p, n, d);
	to_hex(d, sizeof(d), hex);
}

/* The test photo; a salt other than 0 colours one row of it. */
static gdImagePtr
photo_draw(uint32_t salt)
{
	gdImagePtr im = gdImageCreateTrueColor(256, 192);

	if (im == NULL)
		return NULL;
	for (int y = 0; y < 192; y++)
		for (int x = 0; x < 256; x++)
			gdImageSetPixel(
			    im, x, y, gdTrueColor(x, 60 + y / 2, 255 - x / 2));
	gdImageFilledEllipse(im, 190, 50, 48, 48, gdTrueColor(250, 220, 90));
	gdImageFilledRectangle(im, 0, 150, 255, 191, gdTrueColor(40, 120, 50));
	for (int x = 0; salt != 0 && x < 32; x++)
		gdImageSetPixel(im, x, 191,
				salt >> (x % 32) & 1
				    ? gdTrueColor(255, 255, 255)
				    : gdTrueColor(0, 0, 0));
	return im;
}

bool
api_photo_salted(const char *salt, struct reply *rep)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	gdImagePtr im;
	void *p;
	int n = 0;

	for (; *salt; salt++)
		h = (h ^ (unsigned char)*salt) * 16777619u;
	if ((im = photo_draw(h | 1)) == NULL)
		return false;
	p = gdImagePngPtr(im, &n);
	gdImageDestroy(im);
	if (p == NULL)
		return false;
	reply_set(rep, 200, "image/png", p, (size_t)n);
	gdFree(p);
	return true;
}

bool
api_init(void)
{
	gdImagePtr im = photo_draw(0);

	if (im == NULL)
		return false;
	photo[0] = gdImagePngPtr(im, &photo_len[0]);
	photo[1] = gdImageJpegPtr(im, &photo_len[1], 85);
	gdImageDestroy(im);
	return photo[0] != NULL && photo[1] != NULL;
}

void
api_photo(bool jpeg, const void **p, size_t *n)
{
	*p = photo[jpeg];
	*n = (size_t)photo_len[jpeg];
}

/* Sets the reply to the JSON text of o and puts o. */
static void
reply_json(struct reply *rep, int status, struct json_object *o)
{
	const char *s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	reply_set(rep, status, "application/json", s, strlen(s));
	json_object_put(o);
}

/*
 * key as OpenAI's 401 shows it: its first 8 bytes and last 4 with stars
 * between (a short key: a quarter of it at each end).
 */
static void
key_masked(const char *key, char *out, size_t outsz)
{
	size_t n = strlen(key), keep = n >= 16 ? 8 : n / 4,
	       tail = n >= 16 ? 4 : n / 4;
	size_t used = 0;

	out[0] = '\0';
	if (n + 1 > outsz)
		return;
	memcpy(out, key, keep);
	used = keep;
	for (size_t i = keep; i < n - tail; i++)
		out[used++] = '*';
	memcpy(out + used, key + n - tail, tail);
	out[used + tail] = '\0';
}

bool
bearer_ok(const struct req *r, struct reply *rep)
{
	char masked[FAKE_AUTH_MAX], msg[FAKE_AUTH_MAX + 256];

	if (fake_cfg.api_key == NULL ||
	    (strncmp(r->auth, "Bearer ", 7) == 0 &&
	     strcmp(r->auth + 7, fake_cfg.api_key) == 0))
		return true;
	if (strncmp(r->auth, "Bearer ", 7) != 0 || r->auth[7] == '\0') {
		reply_api_error(rep, 401, "invalid_request_error", NULL, NULL,
				"You didn't provide an API key. You need to "
				"provide your API key in an Authorization "
				"header using Bearer auth (i.e. Authorization: "
				"Bearer YOUR_KEY).");
		return false;
	}
	key_masked(r->auth + 7, masked, sizeof(masked));
	snprintf(msg, sizeof(msg),
		 "Incorrect API key provided: %s. You can find your API key "
		 "at https://platform.openai.com/account/api-keys.",
		 masked);
	reply_api_error(rep, 401, "invalid_request_error", NULL,
			"invalid_api_key", msg);
	return false;
}

void
api_error_scripted(const struct req *r, enum slot s, struct reply *rep)
{
	const char *key =
	    strncmp(r->auth, "Bearer ", 7) == 0 ? r->auth + 7 : "";
	struct fake_error err;
	struct buf msg;
	const char *p, *at;

	state_error(s, &err);
	if (err.status == 0) {
		reply_error(rep, 400, "invalid_request_error",
			    "Scripted bad request");
		return;
	}
	buf_init(&msg, sizeof(err.message) * 2 + FAKE_AUTH_MAX * 4);
	for (p = err.message; (at = strstr(p, "{key}")) != NULL; p = at + 5)
		if (buf_add(&msg, p, (size_t)(at - p)) != SJ_OK ||
		    buf_addstr(&msg, key) != SJ_OK)
			break;
	if (buf_addstr(&msg, p) == SJ_OK)
		reply_api_error(rep, err.status,
				err.type[0] ? err.type
					    : "invalid_request_error",
				err.param[0] ? err.param : NULL,
				err.code[0] ? err.code : NULL, msg.data);
	else
		reply_error(rep, 500, "server_error", "out of memory");
	buf_free(&msg);
}

/* Parses a JSON object body; on failure sets a 400 reply. */
static struct json_object *
parse_body(const struct req *r, struct reply *rep)
{
	struct json_object *o = NULL;
	const char *why = "Malformed JSON";

	if (json_parse_strict(r->body, r->blen, JSONV_DEPTH, &o, &why) !=
		SJ_OK ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		reply_error(rep, 400, "invalid_request_error", why);
		return NULL;
	}
	return o;
}

/* Collects up to WORDS_MAX words of 3+ letters (not "NAME=" keys). */
static void
words_of(const char *s, struct words *w)
{
	static const char *const dflt[] = {"brave", "fox", "forest", "moon"};

	w->n = 0;
	while (s && *s && w->n < WORDS_MAX) {
		size_t n = 0;

		while (*s && !isalpha((unsigned char)*s))
			s++;
		while (isalpha((unsigned char)s[n]))
			n++;
		if (n >= 3 && n <= WORD_MAX && s[n] != '=') {
			memcpy(w->w[w->n], s, n);
			w->w[w->n++][n] = '\0';
		}
		s += n;
	}
	for (size_t i = 0; w->n < 4; i++)
		snprintf(w->w[w->n++], WORD_MAX + 1, "%s", dflt[i]);
}

static const char *
word(const struct words *w, size_t i)
{
	return w->w[i % w->n];
}

/* Notes PAGES=<n> and the last user text. */
static void
scan_text(struct chat_in *in, const char *text, bool user)
{
	const char *p = strstr(text, "PAGES=");

	if (p && isdigit((unsigned char)p[6])) {
		int v = 0;

		for (p += 6; isdigit((unsigned char)*p) && v < 1000; p++)
			v = v * 10 + (*p - '0');
		in->pages = v < 1 ? 1 : v > PAGES_MAX ? PAGES_MAX : v;
	}
	if (user)
		in->last_user = text;
}

static bool
scan_parts(struct chat_in *in, struct json_object *parts, bool user)
{
	size_t n = json_object_array_length(parts);

	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(parts, i);
		const char *type, *text;

		if (!json_object_is_type(p, json_type_object) ||
		    jv_str(p, "type", 64, &type) != SJ_OK)
			return false;
		if (strcmp(type, "image_url") == 0)
			in->has_image = true;
		else if (strcmp(type, "text") == 0 &&
			 jv_str(p, "text", FAKE_BODY_MAX, &text) == SJ_OK)
			scan_text(in, text, user);
	}
	return true;
}

static bool
scan_chat(struct json_object *o, struct chat_in *in)
{
	struct json_object *msgs, *rf, *content;
	const char *type, *role, *text;
	size_t n;

	if (jv_array(o, "messages", &msgs) != SJ_OK ||
	    jv_str(o, "model", 256, &in->model) == SJ_EINVAL)
		return false;
	if (jv_object(o, "response_format", &rf) == SJ_OK &&
	    jv_str(rf, "type", 64, &type) == SJ_OK)
		in->json_mode = strcmp(type, "json_object") == 0;
	n = json_object_array_length(msgs);
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(msgs, i);

		if (!json_object_is_type(m, json_type_object) ||
		    jv_str(m, "role", 64, &role) != SJ_OK)
			return false;
		if (jv_str(m, "content", FAKE_BODY_MAX, &text) == SJ_OK)
			scan_text(in, text, strcmp(role, "user") == 0);
		else if (jv_array(m, "content", &content) != SJ_OK ||
			 !scan_parts(in, content, strcmp(role, "user") == 0))
			return false;
	}
	return true;
}

static enum sj_err
story_text(const struct words *w, struct buf *out)
{
	return buf_addf(
	    out,
	    "The Tale of the %s %s\n\n"
	    "Once upon a time, in a land full of %s, there lived a curious "
	    "child who loved %s.\n\n"
	    "Every morning the child went looking for %s, humming a song "
	    "about %s.\n\n"
	    "One day a strange %s appeared beside the path, glowing softly "
	    "like %s.\n\n"
	    "The child was brave, and together they followed the %s all the "
	    "way to the %s.\n\n"
	    "There were puzzles to solve and friends to help, and each one "
	    "taught the child something new about %s.\n\n"
	    "When the sun went down, the child came home, tired and happy, "
	    "dreaming of %s and %s.",
	    word(w, 0), word(w, 1), word(w, 2), word(w, 3), word(w, 4),
	    word(w, 5), word(w, 6), word(w, 7), word(w, 8), word(w, 9),
	    word(w, 10), word(w, 11), word(w, 0));
}

static struct json_object *
scene_json(const struct words *w, int page, int scene)
{
	struct json_object *s = json_object_new_object();
	char d[256], ip[256];
	size_t k = (size_t)(page * 2 + scene);

	snprintf(d, sizeof(d),
		 "Page %d, scene %d: the hero finds the %s near "
		 "the %s.",
		 page, scene + 1, word(w, k), word(w, k + 1));
	snprintf(ip, sizeof(ip),
		 "A bright children's book illustration of "
		 "the hero with the %s and the %s",
		 word(w, k), word(w, k + 1));
	json_object_object_add(s, "description", json_object_new_string(d));
	json_object_object_add(s, "emotion", json_object_new_string("happy"));
	json_object_object_add(s, "imagePrompt", json_object_new_string(ip));
	return s;
}

static enum sj_err
pages_text(const struct words *w, int pages, struct buf *out)
{
	struct json_object *root = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	enum sj_err e;

	for (int p = 1; p <= pages; p++) {
		struct json_object *pg = json_object_new_object();
		struct json_object *sc = json_object_new_array();

		json_object_array_add(sc, scene_json(w, p, 0));
		json_object_array_add(sc, scene_json(w, p, 1));
		json_object_object_add(pg, "pageNumber",
				       json_object_new_int(p));
		json_object_object_add(pg, "scenes", sc);
		json_object_array_add(arr, pg);
	}
	json_object_object_add(root, "pages", arr);
	e = buf_addstr(
	    out, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return e;
}

static struct json_object *
chat_json(const struct chat_in *in, const char *content, size_t plen)
{
	struct json_object *o = json_object_new_object();
	struct json_object *ch = json_object_new_object();
	struct json_object *msg = json_object_new_object();
	struct json_object *usage = json_object_new_object();
	struct json_object *choices = json_object_new_array();
	int pt = (int)(plen / 4), ct = (int)(strlen(content) / 4);

	json_object_object_add(msg, "role",
			       json_object_new_string("assistant"));
	json_object_object_add(msg, "content", json_object_new_string(content));
	json_object_object_add(ch, "index", json_object_new_int(0));
	json_object_object_add(ch, "message", msg);
	json_object_object_add(ch, "finish_reason",
			       json_object_new_string("stop"));
	json_object_array_add(choices, ch);
	json_object_object_add(usage, "prompt_tokens", json_object_new_int(pt));
	json_object_object_add(usage, "completion_tokens",
			       json_object_new_int(ct));
	json_object_object_add(usage, "total_tokens",
			       json_object_new_int(pt + ct));
	if (in->kind == KIND_CHAT_REASONING) {
		struct json_object *det = json_object_new_object();

		json_object_object_add(det, "reasoning_tokens",
				       json_object_new_int(ct / 4));
		json_object_object_add(usage, "completion_tokens_details", det);
	}
	json_object_object_add(o, "id",
			       json_object_new_string("chatcmpl-fake"));
	json_object_object_add(o, "object",
			       json_object_new_string("chat.completion"));
	json_object_object_add(o, "created", json_object_new_int64(time(NULL)));
	json_object_object_add(o, "model", json_object_new_string(in->model));
	json_object_object_add(o, "choices", choices);
	json_object_object_add(o, "usage", usage);
	return o;
}

void
api_chat(const struct req *r, struct reply *rep)
{
	struct chat_in in = {.model = NULL, .pages = 2};
	struct json_object *o;
	struct words w;
	struct buf s;
	enum sj_err e;

	if (!bearer_ok(r, rep) || (o = parse_body(r, rep)) == NULL)
		return;
	if (!scan_chat(o, &in)) {
		json_object_put(o);
		reply_error(rep, 400, "invalid_request_error",
			    "'messages' must be an array of messages");
		return;
	}
	if ((in.kind = model_check(in.model, KIND_CHAT_REASONING, rep)) ==
		KIND_NONE ||
	    !chat_params_ok(o, in.model, in.kind, (int64_t)r->blen / 4, rep)) {
		json_object_put(o);
		return;
	}
	words_of(in.last_user, &w);
	buf_init(&s, 1u << 20);
	if (in.json_mode)
		e = pages_text(&w, in.pages, &s);
	else if (in.has_image)
		e = buf_addf(&s, "A cheerful child with curly brown hair, "
				 "bright green eyes, a yellow raincoat and red "
				 "rubber boots.");
	else
		e = story_text(&w, &s);
	if (e == SJ_OK)
		reply_json(rep, 200, chat_json(&in, s.data, r->blen));
	else
		reply_error(rep, 500, "server_error", "out of memory");
	buf_free(&s);
	json_object_put(o);
}

/* Returns a malloced base64 text of a 64x64 PNG coloured by prompt. */
static char *
prompt_png_b64(const char *prompt)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	gdImagePtr im = gdImageCreateTrueColor(64, 64);
	char *b64 = NULL;
	void *png = NULL;
	int n = 0;

	SHA256((const unsigned char *)prompt, strlen(prompt), d);
	if (im == NULL)
		return NULL;
	gdImageFilledRectangle(im, 0, 0, 63, 63, gdTrueColor(d[0], d[1], d[2]));
	png = gdImagePngPtr(im, &n);
	gdImageDestroy(im);
	if (png && (b64 = malloc(4 * (((size_t)n + 2) / 3) + 1)) != NULL)
		EVP_EncodeBlock((unsigned char *)b64, png, n);
	gdFree(png);
	return b64;
}

/* usage as GPT image models report it: tokens in, tokens out. */
static struct json_object *
image_usage(const char *prompt, const char *quality, int64_t n)
{
	struct json_object *u = json_object_new_object();
	struct json_object *det = json_object_new_object();
	int64_t in = (int64_t)strlen(prompt) / 4 + 1;
	int64_t out = (strcmp(quality, "low") == 0	? 196
		       : strcmp(quality, "medium") == 0 ? 439
							: 1756) *
		      n;

	json_object_object_add(det, "text_tokens", json_object_new_int64(in));
	json_object_object_add(det, "image_tokens", json_object_new_int64(0));
	json_object_object_add(u, "input_tokens", json_object_new_int64(in));
	json_object_object_add(u, "input_tokens_details", det);
	json_object_object_add(u, "output_tokens", json_object_new_int64(out));
	json_object_object_add(u, "total_tokens",
			       json_object_new_int64(in + out));
	return u;
}

/* Checks an image request; on success *o is its body (the caller puts). */
static bool
image_request(const struct req *r, struct reply *rep, struct json_object **o,
	      const char **prompt, int64_t *n)
{
	const char *model = NULL;

	*n = 1;
	if (!bearer_ok(r, rep) || (*o = parse_body(r, rep)) == NULL)
		return false;
	if (jv_str(*o, "prompt", FAKE_BODY_MAX, prompt) != SJ_OK ||
	    jv_i64(*o, "n", 1, 10, n) == SJ_EINVAL ||
	    jv_str(*o, "model", 256, &model) == SJ_EINVAL) {
		reply_error(rep, 400, "invalid_request_error",
			    "'prompt' is required; 'n' is 1..10");
	} else if (model_check(model, KIND_IMAGE, rep) != KIND_NONE &&
		   image_params_ok(*o, rep)) {
		return true;
	}
	json_object_put(*o);
	*o = NULL;
	return false;
}

void
api_images(const struct req *r, struct reply *rep)
{
	struct json_object *o, *res, *data;
	const char *prompt, *quality = "auto", *fmt = "png", *size = "auto";
	const char *model = NULL;
	int64_t n = 1;
	char *b64;

	if (!image_request(r, rep, &o, &prompt, &n))
		return;
	if ((b64 = prompt_png_b64(prompt)) == NULL) {
		json_object_put(o);
		reply_error(rep, 500, "server_error", "image failed");
		return;
	}
	if (jv_str(o, "quality", 64, &quality) != SJ_OK)
		quality = "auto";
	if (jv_str(o, "output_format", 64, &fmt) != SJ_OK)
		fmt = "png";
	if (jv_str(o, "size", 64, &size) != SJ_OK)
		size = "auto";
	res = json_object_new_object();
	data = json_object_new_array();
	for (int64_t i = 0; i < n; i++) {
		struct json_object *it = json_object_new_object();

		json_object_object_add(it, "b64_json",
				       json_object_new_string(b64));
		json_object_array_add(data, it);
	}
	json_object_object_add(res, "created",
			       json_object_new_int64(time(NULL)));
	json_object_object_add(res, "data", data);
	json_object_object_add(res, "background",
			       json_object_new_string("opaque"));
	/* the picture is always a PNG: the format is only echoed */
	json_object_object_add(res, "output_format",
			       json_object_new_string(fmt));
	json_object_object_add(res, "quality", json_object_new_string(quality));
	json_object_object_add(res, "size", json_object_new_string(size));
	/* GPT image models report usage; dall-e models send none */
	if (jv_str(o, "model", 256, &model) != SJ_OK ||
	    strncmp(model, "dall-e", 6) != 0)
		json_object_object_add(res, "usage",
				       image_usage(prompt, quality, n));
	reply_json(rep, 200, res);
	free(b64);
	json_object_put(o);
}

void
api_images_url(const struct req *r, struct reply *rep)
{
	struct json_object *o, *res, *data, *it;
	const char *prompt;
	char url[2048];
	int64_t n;

	if (!image_request(r, rep, &o, &prompt, &n))
		return;
	state_answer_url(url, sizeof(url));
	if (url[0] == '\0')
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/img/photo.png",
			 fake_cfg.port);
	res = json_object_new_object();
	data = json_object_new_array();
	it = json_object_new_object();
	json_object_object_add(it, "url", json_object_new_string(url));
	json_object_array_add(data, it);
	json_object_object_add(res, "created",
			       json_object_new_int64(time(NULL)));
	json_object_object_add(res, "data", data);
	reply_json(rep, 200, res);
	json_object_put(o);
}

/* ---- upload ---- */

struct form {
	const char *key[FIELDS_MAX], *val[FIELDS_MAX];
	size_t n;
};

/* Splits and decodes s (NUL-terminated, edited in place). */
static bool
form_parse(char *s, struct form *f)
{
	f->n = 0;
	while (*s) {
		char *amp = strchr(s, '&'), *eq;
		char *next = amp ? amp + 1 : s + strlen(s);

		if (amp)
			*amp = '\0';
		eq = strchr(s, '=');
		if (eq == NULL || f->n == FIELDS_MAX)
			return false;
		*eq = '\0';
		if (url_decode(s, strlen(s), true) == (size_t)-1 ||
		    url_decode(eq + 1, strlen(eq + 1), true) == (size_t)-1)
			return false;
		for (size_t i = 0; i < f->n; i++)
			if (strcmp(f->key[i], s) == 0)
				return false;
		f->key[f->n] = s;
		f->val[f->n++] = eq + 1;
		s = next;
	}
	return true;
}

static const char *
form_get(const struct form *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->key[i], key) == 0)
			return f->val[i];
	return NULL;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks api_key and the SHA-1 signature of the signed fields. */
static bool
form_signed(const struct form *f)
{
	const char *keys[FIELDS_MAX], *sig = form_get(f, "signature");
	const char *ak = form_get(f, "api_key");
	unsigned char d[SHA_DIGEST_LENGTH];
	char hex[2 * SHA_DIGEST_LENGTH + 1];
	struct buf s;
	size_t n = 0;
	bool ok = true;

	if (fake_cfg.cloud_key &&
	    (ak == NULL || strcmp(ak, fake_cfg.cloud_key)))
		return false;
	if (fake_cfg.cloud_secret == NULL)
		return true;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->key[i], "file") && strcmp(f->key[i], "api_key") &&
		    strcmp(f->key[i], "signature") &&
		    strcmp(f->key[i], "resource_type"))
			keys[n++] = f->key[i];
	qsort(keys, n, sizeof(keys[0]), cmp_str);
	buf_init(&s, 1u << 20);
	for (size_t i = 0; i < n && ok; i++)
		ok = buf_addf(&s, "%s%s=%s", i ? "&" : "", keys[i],
			      form_get(f, keys[i])) == SJ_OK;
	ok = ok && buf_addstr(&s, fake_cfg.cloud_secret) == SJ_OK;
	if (ok) {
		SHA1((const unsigned char *)s.data, s.len, d);
		to_hex(d, sizeof(d), hex);
	}
	buf_free(&s);
	return ok && sig && strcmp(sig, hex) == 0;
}

/* Decodes "data:<mime>;base64,<b64>" into a malloced *out. */
static bool
data_uri(const char *uri, char *mime, size_t msz, unsigned char **out,
	 size_t *n)
{
	const char *m = uri + 5, *b = strstr(uri, ";base64,");
	size_t mlen, blen;
	int k;

	if (strncmp(uri, "data:", 5) || b == NULL || b == m)
		return false;
	mlen = (size_t)(b - m);
	b += 8;
	blen = strlen(b);
	if (mlen >= msz || memchr(m, '/', mlen) == NULL || blen == 0 ||
	    blen % 4 || blen > FAKE_BODY_MAX)
		return false;
	memcpy(mime, m, mlen);
	mime[mlen] = '\0';
	if ((*out = malloc(blen / 4 * 3 + 1)) == NULL)
		return false;
	k = EVP_DecodeBlock(*out, (const unsigned char *)b, (int)blen);
	if (k < 0) {
		free(*out);
		return false;
	}
	*n = (size_t)k - (b[blen - 1] == '=') - (b[blen - 2] == '=');
	return true;
}

static const char *
mime_ext(const char *mime)
{
	if (strcmp(mime, "image/jpeg") == 0)
		return "jpg";
	if (strcmp(mime, "image/webp") == 0)
		return "webp";
	if (strcmp(mime, "image/gif") == 0)
		return "gif";
	if (strncmp(mime, "image/svg", 9) == 0)
		return "svg";
	return "png";
}

static bool
public_id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 255 || id[0] == '/' || strstr(id, ".."))
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789_-./") == n;
}

static void
upload_answer(const char *cloud, const char *id, const char *ext, size_t n,
	      struct reply *rep)
{
	struct json_object *o = json_object_new_object();
	char url[512];

	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%d/cdn/%s/image/upload/v1/%s.%s",
		 fake_cfg.port, cloud, id, ext);
	json_object_object_add(o, "public_id", json_object_new_string(id));
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "format", json_object_new_string(ext));
	json_object_object_add(o, "resource_type",
			       json_object_new_string("image"));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "url", json_object_new_string(url));
	json_object_object_add(o, "secure_url", json_object_new_string(url));
	reply_json(rep, 200, o);
}

/* Validates the decoded form and stores the file. */
static void
upload_form(const struct form *f, const char *cloud, struct reply *rep)
{
	const char *file = form_get(f, "file"), *id = form_get(f, "public_id");
	unsigned char *data = NULL;
	char mime[64];
	size_t n = 0;

	if (file == NULL || id == NULL || !public_id_ok(id))
		reply_error(rep, 400, "invalid_request_error",
			    "Missing required parameter - file or public_id");
	else if (!form_signed(f))
		reply_error(rep, 401, "invalid_request_error",
			    "Invalid Signature");
	else if (!data_uri(file, mime, sizeof(mime), &data, &n))
		reply_error(rep, 400, "invalid_request_error",
			    "Invalid image file");
	else if (store_put(id, mime, data, n) != SJ_OK)
		reply_error(rep, 413, "invalid_request_error",
			    "Upload store full");
	else
		upload_answer(cloud, id, mime_ext(mime), n, rep);
	free(data);
}

void
api_upload(const struct req *r, const char *cloud, struct reply *rep)
{
	char *copy;
	struct form f;

	if (fake_cfg.cloud_name && strcmp(cloud, fake_cfg.cloud_name)) {
		reply_error(rep, 404, "invalid_request_error",
			    "Invalid cloud_name");
		return;
	}
	if ((copy = malloc(r->blen + 1)) == NULL) {
		reply_error(rep, 500, "server_error", "out of memory");
		return;
	}
	memcpy(copy, r->body, r->blen);
	copy[r->blen] = '\0';
	if (memchr(r->body, '\0', r->blen) || !form_parse(copy, &f))
		reply_error(rep, 400, "invalid_request_error",
			    "Malformed form body");
	else
		upload_form(&f, cloud, rep);
	free(copy);
}
