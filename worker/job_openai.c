/*
 * The openai provider inside a job (gen_openai_ops): the provider's work
 * is gen_openai*.c's, given the job's provider context (gen_ctx_of);
 * here its failure records become the job's outcome (gen_failed: a
 * failure, an abort, or a deferral for the budget or a 429).
 */
#include "gen.h"
#include "gen_openai.h"

static bool
oa_story(struct step_ctx *c, const char *genre, const char *character,
	 const char *audience, struct buf *out)
{
	struct gen_fail f;
	struct gen_ctx g;

	gen_ctx_of(c, &g);
	return openai_story(&g, genre, character, audience, out, &f) ||
	       gen_failed(c, &f);
}

static bool
oa_scenes(struct step_ctx *c, const char *story, const char *audience,
	  struct json_object **pages)
{
	struct gen_fail f;
	struct gen_ctx g;

	gen_ctx_of(c, &g);
	return openai_scenes(&g, story, audience, pages, &f) ||
	       gen_failed(c, &f);
}

static bool
oa_describe(struct step_ctx *c, const char *url, char out[GEN_DESC_MAX])
{
	struct gen_fail f;
	struct gen_ctx g;

	gen_ctx_of(c, &g);
	return openai_describe(&g, url, out, &f) || gen_failed(c, &f);
}

static bool
oa_image(struct step_ctx *c, const char *prompt, const char *style,
	 struct gen_image *out)
{
	struct gen_fail f;
	struct gen_ctx g;

	gen_ctx_of(c, &g);
	return openai_image(&g, prompt, style, out, &f) || gen_failed(c, &f);
}

static bool
oa_cartoon(struct step_ctx *c, const char *prompt, const char *style,
	   const char *url, struct gen_image *out)
{
	struct gen_fail f;
	struct gen_ctx g;

	gen_ctx_of(c, &g);
	return openai_cartoon(&g, prompt, style, url, out, &f) ||
	       gen_failed(c, &f);
}

const struct gen_ops gen_openai_ops = {
    .name = "openai",
    .story = oa_story,
    .scenes = oa_scenes,
    .describe = oa_describe,
    .image = oa_image,
    .cartoon = oa_cartoon,
};
