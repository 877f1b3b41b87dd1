/*
 * DESIGN
 *
 * img_reencode() is a short pipeline over one untrusted upload:
 *
 *   sniff == t -> header dimensions (img_dimensions) -> pixel cap
 *   -> decode (libgd) -> decoded size == header size -> upright (JPEG)
 *   -> encode the same type -> out
 *
 * Only what libgd decoded is written back, so what is stored is an image
 * and nothing else: a PNG signature in front of SVG text, a JPEG cut off
 * after a few bytes, a polyglot with a script after IEND, EXIF with GPS
 * coordinates -- none of it survives.  The type stays what the client
 * declared (PNG keeps its alpha channel, a photo stays a small JPEG),
 * which is also what the stored name's extension says.
 *
 * Strictness.  A JPEG must end its scans with EOI: libjpeg only warns
 * about data cut off in the entropy-coded segment and fills the rest with
 * grey (libgd 2.3 logs such warnings but does not fail on them), which is
 * right for the worker (a grey band is better than a failed book) but an
 * upload is the moment to tell the client its file is damaged.  libpng and
 * libwebp refuse damaged data themselves.  libgd writes a line to stderr when
 * it refuses; that is the FastCGI program's log.
 *
 * Memory.  The pixel cap is checked on the header before libgd allocates
 * anything; the decoders then take at most about 8 bytes a pixel (libgd's
 * 4-byte pixels plus libpng's or libwebp's own copy; libjpeg works a few
 * rows at a time, but turning a photo upright takes a second image).  The
 * encoded copy is capped at max_out.
 *
 * EXIF orientation.  Phones store a photo as the sensor saw it and say in
 * EXIF tag 0x0112 how to turn it.  Dropping the metadata would show such
 * a photo on its side, so the pixels are turned first (orientations 2..8:
 * mirror, rotate, or both), by an explicit mapping of each output pixel to
 * its source, which needs no knowledge of libgd's angle conventions.
 */
#include <gd.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "image_gd.h"

#define JPEG_QUALITY 90
#define WEBP_QUALITY 90
#define PNG_LEVEL    6

enum { IMG_PNG, IMG_JPEG, IMG_WEBP };

static int
kind_of(const struct img_type *t)
{
	if (strcmp(t->ext, "png") == 0)
		return IMG_PNG;
	if (strcmp(t->ext, "jpg") == 0)
		return IMG_JPEG;
	return IMG_WEBP;
}

/* True when [off, off + len) lies inside n bytes. */
static bool
need(size_t n, size_t off, size_t len)
{
	return off <= n && len <= n - off;
}

static unsigned
rd16(const unsigned char *p, bool le)
{
	return le ? (unsigned)p[1] << 8 | p[0] : (unsigned)p[0] << 8 | p[1];
}

static uint32_t
rd32(const unsigned char *p, bool le)
{
	return le ? (uint32_t)rd16(p + 2, le) << 16 | rd16(p, le)
		  : (uint32_t)rd16(p, le) << 16 | rd16(p + 2, le);
}

/* Tag 0x0112 of IFD0 in the TIFF structure t of n bytes; 1 if none. */
static int
tiff_orientation(const unsigned char *t, size_t n)
{
	bool le;
	uint32_t ifd;
	unsigned count;

	if (!need(n, 0, 8))
		return 1;
	if (memcmp(t, "II", 2) == 0)
		le = true;
	else if (memcmp(t, "MM", 2) == 0)
		le = false;
	else
		return 1;
	if (rd16(t + 2, le) != 42)
		return 1;
	ifd = rd32(t + 4, le);
	if (!need(n, ifd, 2))
		return 1;
	count = rd16(t + ifd, le);
	for (unsigned i = 0; i < count; i++) {
		size_t e = (size_t)ifd + 2 + (size_t)i * 12;
		unsigned v;

		if (!need(n, e, 12))
			return 1;
		if (rd16(t + e, le) != 0x0112)
			continue;
		/* type SHORT, count 1, the value in the field's first bytes */
		if (rd16(t + e + 2, le) != 3 || rd32(t + e + 4, le) != 1)
			return 1;
		v = rd16(t + e + 8, le);
		return v >= 1 && v <= 8 ? (int)v : 1;
	}
	return 1;
}

int
img_jpeg_orientation(const void *data, size_t n)
{
	const unsigned char *b = data;
	size_t off = 2;

	if (b == NULL || !need(n, 0, 2) || b[0] != 0xff || b[1] != 0xd8)
		return 1;
	/* the APP segments come before the first frame; stop at SOF/SOS */
	while (need(n, off, 4) && b[off] == 0xff) {
		unsigned m = b[off + 1];
		size_t len = rd16(b + off + 2, false);

		if (m == 0xda || (m >= 0xc0 && m <= 0xcf) || len < 2 ||
		    !need(n, off + 2, len))
			return 1;
		if (m == 0xe1 && len >= 8 &&
		    memcmp(b + off + 4, "Exif\0\0", 6) == 0)
			return tiff_orientation(b + off + 10, len - 8);
		off += 2 + len;
	}
	return 1;
}

/*
 * True when a JPEG's scans end with EOI.  Inside entropy-coded data an FF
 * byte is always followed by 00 (stuffing) or a restart marker, so the
 * first FF D9 after the first SOS is the EOI; libjpeg only warns when it
 * is missing (data cut off) and fills the rest with grey.
 */
static bool
jpeg_complete(const unsigned char *b, size_t n)
{
	size_t off = 2;

	while (need(n, off, 4) && b[off] == 0xff) {
		unsigned m = b[off + 1];

		if (m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
			off += m == 0xff ? 1 : 2; /* fill byte, TEM, RSTn */
			continue;
		}
		if (m == 0xda)
			return memmem(b + off, n - off, "\xff\xd9", 2) != NULL;
		off += 2 + rd16(b + off + 2, false);
	}
	return false;
}

/* The source pixel of output pixel (x, y) for orientation o of w x h. */
static void
oriented_src(int o, int w, int h, int x, int y, int *sx, int *sy)
{
	switch (o) {
	case 2: /* mirrored */
		*sx = w - 1 - x, *sy = y;
		break;
	case 3: /* upside down */
		*sx = w - 1 - x, *sy = h - 1 - y;
		break;
	case 4:
		*sx = x, *sy = h - 1 - y;
		break;
	case 5: /* transposed */
		*sx = y, *sy = x;
		break;
	case 6: /* to be turned 90 degrees clockwise */
		*sx = y, *sy = h - 1 - x;
		break;
	case 7:
		*sx = w - 1 - y, *sy = h - 1 - x;
		break;
	default: /* 8: to be turned 90 degrees counter-clockwise */
		*sx = w - 1 - y, *sy = x;
		break;
	}
}

/* Replaces the truecolor *im by its upright copy for orientation o. */
static enum sj_err
upright(gdImagePtr *im, int o)
{
	int w = gdImageSX(*im), h = gdImageSY(*im);
	bool swap = o >= 5;
	gdImagePtr u;

	if (o <= 1 || o > 8)
		return SJ_OK;
	if ((u = gdImageCreateTrueColor(swap ? h : w, swap ? w : h)) == NULL)
		return SJ_ENOMEM;
	for (int y = 0; y < gdImageSY(u); y++)
		for (int x = 0; x < gdImageSX(u); x++) {
			int sx, sy;

			oriented_src(o, w, h, x, y, &sx, &sy);
			u->tpixels[y][x] = (*im)->tpixels[sy][sx];
		}
	gdImageDestroy(*im);
	*im = u;
	return SJ_OK;
}

/* Decodes data as kind k; NULL when libgd refuses it. */
static gdImagePtr
decode(const void *data, size_t n, int k)
{
	void *p = (void *)(uintptr_t)data; /* libgd only reads it */

	if (k == IMG_PNG)
		return gdImageCreateFromPngPtr((int)n, p);
	if (k == IMG_JPEG)
		return gdImageCreateFromJpegPtrEx((int)n, p, 0);
	return gdImageCreateFromWebpPtr((int)n, p);
}

static enum sj_err
encode(gdImagePtr im, int k, size_t max_out, struct buf *out, const char **why)
{
	void *p;
	int size = 0;
	enum sj_err e;

	if (k == IMG_PNG) {
		gdImageAlphaBlending(im, 0);
		gdImageSaveAlpha(im, 1);
		p = gdImagePngPtrEx(im, &size, PNG_LEVEL);
	} else if (k == IMG_JPEG) {
		p = gdImageJpegPtr(im, &size, JPEG_QUALITY);
	} else {
		p = gdImageWebpPtrEx(im, &size, WEBP_QUALITY);
	}
	if (p == NULL || size <= 0) {
		gdFree(p);
		return SJ_ENOMEM;
	}
	buf_init(out, max_out);
	e = buf_add(out, p, (size_t)size);
	gdFree(p);
	if (e == SJ_ETOOBIG)
		*why = "The image is too large once re-encoded; send a smaller "
		       "one";
	return e;
}

/* The checks before decoding: type, header, pixel cap. */
static enum sj_err
precheck(const void *data, size_t n, const struct img_type *t,
	 uint64_t max_pixels, unsigned *w, unsigned *h, const char **why)
{
	if (img_sniff(data, n) != t) {
		*why = "File content does not match its type";
		return SJ_EINVAL;
	}
	if (!img_dimensions(data, n, w, h)) {
		*why = "The image header is malformed or truncated";
		return SJ_EINVAL;
	}
	if ((uint64_t)*w * *h > max_pixels || n > INT_MAX) {
		*why = "The image has too many pixels";
		return SJ_ETOOBIG;
	}
	return SJ_OK;
}

enum sj_err
img_reencode(const void *data, size_t n, const struct img_type *t,
	     uint64_t max_pixels, size_t max_out, struct buf *out,
	     const char **why)
{
	gdImagePtr im;
	unsigned w, h;
	int k;
	enum sj_err e;

	buf_init(out, max_out);
	*why = NULL;
	if (data == NULL || t == NULL) {
		*why = "No image";
		return SJ_EINVAL;
	}
	if ((e = precheck(data, n, t, max_pixels, &w, &h, why)) != SJ_OK)
		return e;
	k = kind_of(t);
	if ((k == IMG_JPEG && !jpeg_complete(data, n)) ||
	    (im = decode(data, n, k)) == NULL) {
		*why = "The image data is damaged or incomplete";
		return SJ_EINVAL;
	}
	if ((unsigned)gdImageSX(im) != w || (unsigned)gdImageSY(im) != h) {
		gdImageDestroy(im);
		*why = "The image header and its data disagree";
		return SJ_EINVAL;
	}
	e = k == IMG_JPEG && gdImageTrueColor(im)
		? upright(&im, img_jpeg_orientation(data, n))
		: SJ_OK;
	if (e == SJ_OK)
		e = encode(im, k, max_out, out, why);
	gdImageDestroy(im);
	return e;
}
