/*
 * The local provider's cartoonize: turns a photo (PNG, JPEG or WebP) into
 * a cartoon-styled PNG with libgd: edge-preserving smoothing, colour
 * quantisation and dark outlines, tuned per contract style.
 */
#ifndef SJ_CARTOON_H
#define SJ_CARTOON_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define CARTOON_MAX_PIXELS (4096u * 4096u) /* refused before decoding */
#define CARTOON_OUT_MAX	   (1024u)	   /* longest side of the output */
#define CARTOON_PNG_MAX	   (16u * 1024 * 1024)

/*
 * Decodes photo (sniffed by magic bytes), stylises it for style (one of
 * the five contract styles; NULL = "semi-realistic"), scales it so its
 * longest side is at most CARTOON_OUT_MAX, and encodes a PNG into out
 * (initialised here, cap CARTOON_PNG_MAX; caller buf_free()s on SJ_OK,
 * already freed on error).  Deterministic: same input, same bytes.
 * SJ_EINVAL: not an image, undecodable, or an unknown style;
 * SJ_ETOOBIG: more than CARTOON_MAX_PIXELS; SJ_ENOMEM.
 */
enum sj_err cartoon_photo(const void *photo, size_t len, const char *style,
			  struct buf *out) SJ_WUR;

#endif
