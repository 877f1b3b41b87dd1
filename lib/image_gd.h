/*
 * Decoding an untrusted image in full and storing a clean copy of it
 * (libgd).  Only the programs that link libgd use this: the jobs FastCGI
 * program, for uploads.
 */
#ifndef SJ_IMAGE_GD_H
#define SJ_IMAGE_GD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "image.h"

/*
 * Decodes the n bytes of data, which must be an image of type t (PNG,
 * JPEG or WebP, from image.h), and writes a re-encoded copy of the same
 * type into out (initialised here, capped at max_out bytes): PNG with its
 * alpha, JPEG at quality 90 turned upright by its EXIF orientation, WebP
 * at quality 90.  Metadata (EXIF, text chunks, ICC profiles) and any
 * bytes after the image are dropped.
 *
 * The header's dimensions are read first (img_dimensions) and an image of
 * more than max_pixels is refused before a pixel is allocated; decoding
 * takes about 8 bytes a pixel at most.  SJ_EINVAL: not a complete image of
 * type t (*why says what, for the client); SJ_ETOOBIG: over max_pixels,
 * or a copy over max_out (*why too); SJ_ENOMEM.
 */
enum sj_err img_reencode(const void *data, size_t n, const struct img_type *t,
			 uint64_t max_pixels, size_t max_out, struct buf *out,
			 const char **why) SJ_WUR;

/* The EXIF orientation (1..8) of a JPEG; 1 when it has none. */
int img_jpeg_orientation(const void *data, size_t n);

#endif
