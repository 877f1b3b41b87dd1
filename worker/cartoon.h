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

#define CARTOON_PORTRAIT_MAX (128u * 1024) /* bytes of a portrait JPEG */

/*
 * A side x side JPEG of a picture (PNG, JPEG or WebP, checked as for
 * cartoon_photo) for drawing a book's hero: a square of four fifths of
 * its shorter side, centred across and a third of the way down (a quarter
 * in a tall picture: where a portrait's face is), transparency flattened
 * onto white.  rgb
 * receives the mean colour of the square's middle ninth.  out is
 * initialised here (cap CARTOON_PORTRAIT_MAX); the caller buf_free()s it
 * on SJ_OK, it is already freed on error.  Deterministic.  SJ_EINVAL:
 * not an image, undecodable, or side not in 16..512; SJ_ETOOBIG;
 * SJ_ENOMEM.
 */
enum sj_err cartoon_portrait(const void *picture, size_t len, unsigned side,
			     struct buf *out, unsigned char rgb[3]) SJ_WUR;

#endif
