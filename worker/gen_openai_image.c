/*
 * The openai provider's illustrations: image generations
 * (POST /images/generations) for a prompt in a style, and cartoons of a
 * photo.
 *
 * DESIGN
 * The request takes the shape its model's family needs (lib/openai.c:
 * no response_format for GPT image models, which always answer base64;
 * the legacy shape for dall-e-*).  The answer's first image is either
 * base64 (GPT image models), decoded here and capped at GEN_IMAGE_MAX, or
 * a URL (some OpenAI-compatible servers), read with
 * gen_fetch_answer_image(): under HTTP_FETCH only, never from our own
 * media directory, so an answer cannot pass off another user's upload as
 * its picture, and a failed fetch is the upstream's fault, not the
 * user's.  Whatever arrives must be PNG, JPEG or WebP by its bytes.
 *
 * A cartoon of a photo is a description of the photo (a chat call,
 * gen_openai.c, checkpointed so a retry pays only for what is missing)
 * followed by an illustration of that description in the style.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "job_input.h"
#include "jsonv.h"
#include "log.h"
#include "openai.h"

#include "gen_openai.h"

#define IMAGE_ANS_MAX (GEN_IMAGE_MAX / 3 * 4 + 65536) /* bytes of an answer */

/* What the image model is asked to draw in style: lib's style table's. */
static const char *
style_phrase(const char *style)
{
	enum job_style s;

	if (style == NULL || job_style_parse(style, &s) != SJ_OK)
		s = JOB_STYLE_DEFAULT;
	return job_style_info(s)->phrase;
}

/* Decodes standard base64 s into out (initialised here). */
static enum sj_err
b64_decode(const char *s, size_t n, struct buf *out)
{
	size_t pad = 0;
	int got;

	buf_init(out, GEN_IMAGE_MAX);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > GEN_IMAGE_MAX)
		return SJ_EINVAL;
	if ((out->data = malloc(n / 4 * 3 + 1)) == NULL)
		return SJ_ENOMEM;
	out->cap = n / 4 * 3 + 1;
	got = EVP_DecodeBlock((unsigned char *)out->data,
			      (const unsigned char *)s, (int)n);
	if (got < 0) {
		buf_free(out);
		return SJ_EINVAL;
	}
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	out->len = (size_t)got - pad;
	out->data[out->len] = '\0';
	return SJ_OK;
}

/* The image an answer's url names, through the safe fetch. */
static enum sj_err
image_from_url(const struct gen_ctx *g, const char *url, struct gen_image *out,
	       struct gen_fail *f)
{
	log_job(LOG_LVL_DEBUG, g->job_id, "image answer by url");
	/* SSRF checks, size cap and magic bytes; f says why it failed */
	return gen_fetch_answer_image(g, url, out, f) ? SJ_OK : SJ_ELOST;
}

/*
 * The image of an answer {"data":[{"b64_json"} or {"url"}]}: GPT image
 * models answer base64; some OpenAI-compatible servers answer a URL.
 * SJ_ELOST: the fetch failed and f says why.
 */
static enum sj_err
image_of(const struct gen_ctx *g, struct json_object *ans,
	 struct gen_image *out, struct gen_fail *f)
{
	struct json_object *data, *item;
	const char *b64, *url;
	enum sj_err e;

	if (jv_array(ans, "data", &data) != SJ_OK ||
	    json_object_array_length(data) == 0)
		return SJ_EINVAL;
	item = json_object_array_get_idx(data, 0);
	if (jv_str(item, "b64_json", IMAGE_ANS_MAX, &b64) == SJ_OK)
		e = b64_decode(b64, strlen(b64), &out->data);
	else if (jv_str(item, "url", OPENAI_URL_MAX - 1, &url) == SJ_OK)
		return image_from_url(g, url, out, f);
	else
		return SJ_EINVAL;
	return e;
}

bool
openai_image(const struct gen_ctx *g, const char *prompt, const char *style,
	     struct gen_image *out, struct gen_fail *f)
{
	struct json_object *body = NULL, *ans = NULL, *full;
	struct openai_kind k = openai_image_kind(g);
	const struct img_type *t;
	enum sj_err e = SJ_ENOMEM;

	memset(out, 0, sizeof(*out));
	if ((full = openai_text("%s of: %s", style_phrase(style), prompt)) !=
	    NULL)
		e = oai_image_body(k.model, json_object_get_string(full),
				   g->cfg->openai_image_size,
				   g->cfg->openai_image_quality, &body);
	json_object_put(full);
	if (e != SJ_OK) {
		gen_fail_err(f, SJ_ENOMEM, "Building the request failed");
		return false;
	}
	if (!openai_post(g, "/images/generations", body, IMAGE_ANS_MAX,
			 "Generating the image", &k, &ans, f))
		return false;
	e = image_of(g, ans, out, f);
	json_object_put(ans);
	if (e == SJ_ELOST) {
		gen_image_free(out);
		return false;
	}
	if (e == SJ_OK &&
	    (t = img_sniff(out->data.data, out->data.len)) != NULL) {
		out->ctype = t->ctype;
		out->ext = t->ext;
		return true;
	}
	gen_image_free(out);
	if (e == SJ_ENOMEM)
		gen_fail_err(f, e, "Reading the image failed");
	else
		gen_fail_set(f, true, "EXTERNAL_SERVICE_ERROR",
			     "Generating the image failed: the answer holds no "
			     "PNG, JPEG or WebP image");
	return false;
}

#define CKPT_CARTOON_DESC "cartoon_description"

bool
openai_cartoon(const struct gen_ctx *g, const char *prompt, const char *style,
	       const char *url, struct gen_image *out, struct gen_fail *f)
{
	char desc[GEN_DESC_MAX];
	struct json_object *full;
	bool ok;

	if (url[0] == '\0')
		return openai_image(g, prompt, style, out, f);
	if (!openai_describe_once(g, CKPT_CARTOON_DESC, url, desc, f))
		return false;
	if ((full = openai_text("a cartoon portrait of %s. %s", desc,
				prompt)) == NULL) {
		gen_fail_err(f, SJ_ENOMEM, "Building the prompt failed");
		return false;
	}
	ok = openai_image(g, json_object_get_string(full), style, out, f);
	json_object_put(full);
	return ok;
}
