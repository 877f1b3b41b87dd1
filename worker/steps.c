/*
 * Job handlers: one function per job type, each the straight line of
 * steps that CONTRACT section 1 gives for its type (exact progress values
 * and step texts).
 *
 * DESIGN
 * handlers[] is the dispatch table: a type with no handler is never
 * offered by the claim, so a type becomes runnable by adding its row.  A
 * handler reads its input (already validated and normalised by the
 * library when the job was created, but read again with type checks, as
 * the row is only data), does its work between step_progress() calls and
 * ends with step_complete() or step_fail().  It never writes to the job
 * row itself: the helpers do, fenced by the lease.
 *
 * cartoonize: the image is a scene card from the local provider, stored
 * in the media directory under a name derived from SHA-256 of (prompt,
 * style, imageUrl), so the same input is served from that file with
 * cached = true and never rendered twice.  media_write() is atomic, so two
 * workers rendering the same card at once both succeed with equal bytes.
 */
#include <stdio.h>
#include <string.h>

#include "jsonv.h"
#include "log.h"
#include "media.h"

#include "local.h"
#include "story.h"
#include "worker.h"

#define PROMPT_MAX    65536 /* bytes; the library's own cap is lower */
#define IMAGE_URL_MAX 4096  /* bytes */
#define URL_MAX	      2048  /* bytes of a media URL */
#define CACHE_HEX     32    /* hex digits of the key in a file name */

#define STYLE_MSG                                                              \
	"Invalid style. Must be one of: storybook, semi-realistic, "           \
	"comic-book, flat-illustration, anime"

struct cartoon {
	const char *prompt;    /* borrowed from the job input */
	const char *style;     /* borrowed or static */
	const char *image_url; /* borrowed, "" when absent */
	char name[64];	       /* cartoon-<hex>.svg */
	bool cached;
};

static void cartoonize(struct step_ctx *c);

static const step_handler handlers[JOB_TYPE_MAX] = {
    [JOB_STORYBOOK] = steps_storybook,
    [JOB_AUTO_STORY] = steps_auto_story,
    [JOB_SCENES] = steps_scenes,
    [JOB_CARTOONIZE] = cartoonize,
    [JOB_IMAGE_GENERATION] = steps_image_generation,
};

step_handler
steps_handler(enum job_type t)
{
	if ((unsigned)t >= JOB_TYPE_MAX)
		return NULL;
	return handlers[t];
}

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

/* Names the cache file: cartoon-<first 32 hex of the key>.svg. */
static bool
cartoon_key(struct step_ctx *c, struct cartoon *ct)
{
	static const char hex[] = "0123456789abcdef";
	const char *parts[3] = {ct->prompt, ct->style, ct->image_url};
	unsigned char md[LOCAL_HASH_LEN];
	char key[CACHE_HEX + 1];
	enum sj_err e;
	size_t i;

	if ((e = local_hash(parts, 3, md)) != SJ_OK) {
		step_fail_err(c, e, "Hashing the input failed");
		return false;
	}
	for (i = 0; i < CACHE_HEX / 2; i++) {
		key[2 * i] = hex[md[i] >> 4];
		key[2 * i + 1] = hex[md[i] & 0xF];
	}
	key[CACHE_HEX] = '\0';
	snprintf(ct->name, sizeof(ct->name), "cartoon-%s.svg", key);
	return true;
}

/* Serves the card from the cache, or renders and stores it. */
static bool
cartoon_render(struct step_ctx *c, struct cartoon *ct)
{
	const char *dir = c->cfg->media_dir;
	struct buf svg;
	enum sj_err e;

	if (media_exists(dir, ct->name)) {
		ct->cached = true;
		log_job(LOG_LVL_DEBUG, c->job->id, "cache hit %s", ct->name);
		return true;
	}
	if ((e = local_render_svg(ct->prompt, ct->style, &svg)) != SJ_OK) {
		step_fail_err(c, e, "Rendering the cartoon failed");
		return false;
	}
	e = media_write(dir, ct->name, svg.data, svg.len);
	buf_free(&svg);
	if (e != SJ_OK) {
		step_fail_err(c, e, "Saving the cartoon failed");
		return false;
	}
	return true;
}

/* Builds {url, cached}; *out is a new reference the caller puts. */
static bool
cartoon_result(struct step_ctx *c, const struct cartoon *ct,
	       struct json_object **out)
{
	char url[URL_MAX];
	struct json_object *res;
	enum sj_err e;

	*out = NULL;
	if ((e = media_url(c->cfg, ct->name, url, sizeof(url))) != SJ_OK) {
		step_fail_err(c, e, "Building the image URL failed");
		return false;
	}
	if ((res = json_object_new_object()) == NULL) {
		step_fail_err(c, SJ_ENOMEM, "Building the result failed");
		return false;
	}
	if ((e = jv_add_str(res, "url", url)) != SJ_OK ||
	    (e = jv_add_bool(res, "cached", ct->cached)) != SJ_OK) {
		json_object_put(res);
		step_fail_err(c, e, "Building the result failed");
		return false;
	}
	*out = res;
	return true;
}

static void
cartoonize(struct step_ctx *c)
{
	struct cartoon ct;
	struct json_object *res = NULL;

	memset(&ct, 0, sizeof(ct));
	if (!cartoon_input(c, &ct) ||
	    !step_progress(c, 10, "Preparing image for processing") ||
	    !cartoon_key(c, &ct))
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
