/*
 * A provider's calls out, with no job attached (gen_http.c): one
 * upstream API call and the images it reads by URL, under the job's
 * abort and deadline as its provider context (gen_ctx) gives them.
 */
#ifndef SJ_GEN_HTTP_H
#define SJ_GEN_HTTP_H

#include <stdbool.h>

#include "http.h"

#include "gen_types.h"

/*
 * One upstream API call (HTTP_API): the job's abort check and remaining
 * time are applied.  true when a complete response of any status is in
 * *resp (the caller classifies a non-2xx one); false: f says why (*resp
 * freed).  what names the call in messages.
 */
bool gen_call(const struct gen_ctx *g, struct http_req *req,
	      struct http_resp *resp, const char *what,
	      struct gen_fail *f) SJ_WUR;

/*
 * Reads the image at a user-supplied url: one of our own media URLs is
 * read from the media directory; anything else is fetched under
 * HTTP_FETCH, capped at MAX_UPLOAD_BYTES, and must be PNG, JPEG or WebP
 * by its magic bytes.  A bad URL or image fails permanently
 * (INVALID_INPUT); a timeout or a 429/5xx is a transient
 * EXTERNAL_SERVICE_ERROR.
 */
bool gen_fetch_image(const struct gen_ctx *g, const char *url,
		     struct gen_image *out, struct gen_fail *f) SJ_WUR;
/*
 * Reads the image at a url an upstream answer gave: always under
 * HTTP_FETCH (never from the media directory), capped at GEN_IMAGE_MAX,
 * PNG, JPEG or WebP by its bytes.  Every failure is the upstream's
 * (EXTERNAL_SERVICE_ERROR): transient for a timeout or a 429/5xx,
 * permanent for a refused scheme or address, a 4xx, an image over the
 * cap or bytes of another kind.
 */
bool gen_fetch_answer_image(const struct gen_ctx *g, const char *url,
			    struct gen_image *out, struct gen_fail *f) SJ_WUR;

#endif
