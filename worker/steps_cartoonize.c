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
#include "local.h"
#include "local_style.h"
#include "steps.h"

/* bytes: the API's caps (lib/job_caps.h) */
#define PROMPT_MAX    JOB_CAP_BYTES(JOB_PROMPT_MAX)
#define IMAGE_URL_MAX JOB_CAP_BYTES(JOB_URL_MAX)

#define STYLE_MSG                                                              \
	"Invalid style. Must be one of: storybook, semi-realistic, "           \
	"comic-book, flat-illustration, anime"

struct cartoon {
	const char *prompt;    /* borrowed from the job input */
	const char *style;     /* borrowed or static */
	const char *image_url; /* borrowed, "" when absent */
	char key[GEN_NAME_MAX];
	char url[STORE_URL_MAX];
	bool cached;
};

/* Reads {prompt, style?, imageUrl?}; fails the job permanently if bad. */
static bool
cartoon_input(struct step_ctx *c, struct cartoon *ct)
{
	struct json_object *in = c->job->input;
	enum sj_err e;

	e = jv_str(in, "prompt", PROMPT_MAX, &ct->prompt);
	if (e != SJ_OK || ct->prompt[0] == '\0') {
		step_fail(c, false, "INVALID_INPUT", "Prompt is required");
		return false;
	}
	e = jv_str(in, "style", 64, &ct->style);
	if (e == SJ_ENOTFOUND)
		ct->style = LOCAL_STYLE_DEFAULT;
	else if (e != SJ_OK || !local_style_known(ct->style)) {
		step_fail(c, false, "INVALID_INPUT", "%s", STYLE_MSG);
		return false;
	}
	e = jv_str(in, "imageUrl", IMAGE_URL_MAX, &ct->image_url);
	if (e == SJ_ENOTFOUND)
		ct->image_url = "";
	else if (e != SJ_OK) {
		step_fail(c, false, "INVALID_INPUT", "Invalid imageUrl");
		return false;
	}
	return true;
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
	struct cartoon ct;
	struct json_object *res = NULL;

	memset(&ct, 0, sizeof(ct));
	if (!cartoon_input(c, &ct) ||
	    !step_progress(c, 10, "Preparing image for processing"))
		return;
	step_pause(c);
	if (!step_progress(c, 33, "Image preparation complete"))
		return;
	step_pause(c);
	if (!step_progress(c, 40, "Generating cartoon image") ||
	    !cartoon_render(c, &ct))
		return;
	step_pause(c);
	if (!step_progress(c, 66, "Cartoon generation complete"))
		return;
	step_pause(c);
	if (!step_progress(c, 90, "Finalizing cartoon image") ||
	    !cartoon_result(c, &ct, &res))
		return;
	step_pause(c);
	step_complete(c, res, "Cartoonization complete");
	json_object_put(res);
}
