/*
 * The cartoonize handler (CONTRACT section 1).
 *
 * DESIGN
 * The provider's cartoon of the photo at imageUrl (or of the prompt
 * alone), cached under a key derived from SHA-256 of (provider, prompt,
 * style, imageUrl): the same input is served from the media cache with
 * cached = true and never generated twice.  Storing is atomic and
 * idempotent per name, so two workers making the same image at once both
 * succeed with the same URL.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"

#include "gen.h"
#include "steps.h"
#include "steps_common.h"

struct cartoon {
	const char *prompt;    /* borrowed from the typed input */
	const char *style;     /* the style's name (job_input.h's table) */
	const char *image_url; /* borrowed, "" when absent */
	char key[GEN_NAME_MAX];
	char url[STORE_URL_MAX];
	bool cached;
};

/* The typed input's fields, as the provider and the cache key take them. */
static void
cartoon_of(const struct job_cartoonize_input *in, struct cartoon *ct)
{
	ct->prompt = in->prompt;
	ct->style = job_style_name(in->style);
	ct->image_url = in->image_url ? in->image_url : "";
}

static bool
cartoon_make(struct step_ctx *c, void *arg, struct gen_image *out)
{
	const struct cartoon *ct = arg;

	return gen_provider(c->cfg)->cartoon(c, ct->prompt, ct->style,
					     ct->image_url, out);
}

static bool
cartoon_render(struct step_ctx *c, struct cartoon *ct)
{
	const char *parts[3] = {ct->prompt, ct->style, ct->image_url};

	return gen_key(c, "cartoon", parts, 3, ct->key) &&
	       gen_image_for(c, ct->key, cartoon_make, ct, ct->url,
			     &ct->cached);
}

/* Builds {url, cached}; *out is a new reference the caller puts. */
static bool
cartoon_result(struct step_ctx *c, const struct cartoon *ct,
	       struct json_object **out)
{
	struct json_object *res = json_object_new_object();
	enum sj_err e = SJ_ENOMEM;

	*out = NULL;
	if (res == NULL || (e = jv_add_str(res, "url", ct->url)) != SJ_OK ||
	    (e = jv_add_bool(res, "cached", ct->cached)) != SJ_OK) {
		json_object_put(res);
		step_fail_err(c, e, "Building the result failed");
		return false;
	}
	*out = res;
	return true;
}

void
steps_cartoonize(struct step_ctx *c)
{
	struct job_input in;
	struct cartoon ct;
	struct json_object *res = NULL;

	memset(&ct, 0, sizeof(ct));
	if (!steps_input(c, &in))
		return;
	cartoon_of(&in.u.cartoon, &ct);
	if (!step_progress(c, 10, "Preparing image for processing"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 33, "Image preparation complete"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 40, "Generating cartoon image") ||
	    !cartoon_render(c, &ct))
		goto out;
	step_pause(c);
	if (!step_progress(c, 66, "Cartoon generation complete"))
		goto out;
	step_pause(c);
	if (!step_progress(c, 90, "Finalizing cartoon image") ||
	    !cartoon_result(c, &ct, &res))
		goto out;
	step_pause(c);
	step_complete(c, res, "Cartoonization complete");
	json_object_put(res);
out:
	job_input_free(&in);
}
