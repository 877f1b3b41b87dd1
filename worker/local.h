/*
 * The local provider: an offline, deterministic generator.  For now it
 * draws SVG "scene cards"; the storybook and scene handlers will use the
 * same renderer for their illustrations.
 */
#ifndef SJ_LOCAL_H
#define SJ_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define LOCAL_SVG_MAX  (256 * 1024) /* cap on one rendered document */
#define LOCAL_HASH_LEN 32	    /* SHA-256 */

/* The style used when the input names none (CONTRACT section 1). */
#define LOCAL_STYLE_DEFAULT "semi-realistic"

/* True when style is one of the five contract styles. */
bool local_style_known(const char *style);

/*
 * Renders a 768x768 SVG scene card for prompt in style (NULL: the
 * default style).  The output depends only on (prompt, style).  out is
 * initialised here with LOCAL_SVG_MAX as its cap; on SJ_OK it holds the
 * document and the caller buf_free()s it, on error it is already freed.
 * SJ_EINVAL: prompt is NULL or the style is unknown.
 */
enum sj_err local_render_svg(const char *prompt, const char *style,
			     struct buf *out) SJ_WUR;

/*
 * SHA-256 of the n strings parts[] joined by single NUL bytes, so that
 * ("ab", "c") and ("a", "bc") differ.  SJ_ENOMEM if OpenSSL fails.
 */
enum sj_err local_hash(const char *const *parts, size_t n,
		       unsigned char md[LOCAL_HASH_LEN]) SJ_WUR;

#endif
