/*
 * Image types the project accepts (PNG, JPEG, WebP), recognised by their
 * magic bytes, never by a name or a declared type alone.
 */
#ifndef SJ_IMAGE_H
#define SJ_IMAGE_H

#include <stdbool.h>
#include <stddef.h>

struct img_type {
	const char *ctype; /* "image/png" */
	const char *ext;   /* "png" */
};

/* The type whose magic bytes start data, or NULL. */
const struct img_type *img_sniff(const void *data, size_t n);
/* The accepted type named by a Content-Type (parameters ignored), or NULL. */
const struct img_type *img_type_of(const char *ctype);

/*
 * Reads width and height from the header of a PNG, JPEG or WebP without
 * decoding it, so a decompression bomb is refused before any pixel is
 * allocated.  false when the header is malformed or truncated.
 */
bool img_dimensions(const void *data, size_t n, unsigned *w, unsigned *h);

#endif
