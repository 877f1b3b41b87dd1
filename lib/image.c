/*
 * DESIGN
 *
 * Two jobs, both on bytes that come straight from the network:
 *
 *  - Type recognition.  img_sniff() matches magic bytes only (PNG's 8-byte
 *    signature, JPEG's SOI followed by a marker, WebP's RIFF....WEBP); the
 *    declared Content-Type is mapped separately by img_type_of(), and a
 *    caller that wants both to agree compares the two pointers, which come
 *    from the same static table.
 *
 *  - Dimensions without decoding.  img_dimensions() reads only headers so
 *    a caller can refuse a decompression bomb before a single pixel is
 *    allocated.  Every multi-byte read goes through rd_be16/rd_be32/...
 *    which are given an offset already proven to lie inside the input; the
 *    checks are written as "need(off, len)" against n, never as pointer
 *    arithmetic past the end.  Anything unexpected (a missing IHDR, a
 *    segment running past the end, a zero dimension, a lossy VP8 frame
 *    that is not a key frame) yields false: the caller treats "cannot
 *    tell" exactly like "not an image".
 *
 * What is checked per format:
 *  PNG   the first chunk must be IHDR of length 13; width and height are
 *        31-bit big-endian values, non-zero.
 *  JPEG  markers are walked from SOI to the first start-of-frame
 *        (C0..CF except C4 DHT, C8 JPG, CC DAC); standalone markers
 *        (TEM, RST0..7) carry no length, fill bytes (FF FF ...) are
 *        skipped, and SOS or EOI before any SOF is malformed.  A height of
 *        zero (defined later by DNL) is refused.
 *  WebP  the first chunk after the RIFF header decides: "VP8 " (lossy key
 *        frame: 3-byte frame tag, start code 9D 01 2A, 14-bit sizes),
 *        "VP8L" (signature 0x2F, 14-bit sizes minus one, version 0) or
 *        "VP8X" (24-bit canvas sizes minus one).  The chunk's declared size
 *        must cover the bytes read.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "image.h"

static const struct img_type img_types[] = {
    {"image/png", "png"},
    {"image/jpeg", "jpg"},
    {"image/webp", "webp"},
};

enum { IMG_PNG, IMG_JPEG, IMG_WEBP };

static const unsigned char png_sig[8] = {0x89, 'P',  'N',  'G',
					 '\r', '\n', 0x1a, '\n'};

/* True when [off, off + len) lies inside an input of n bytes. */
static bool
need(size_t n, size_t off, size_t len)
{
	return off <= n && len <= n - off;
}

static uint32_t
rd_be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
rd_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint32_t
rd_le16(const unsigned char *p)
{
	return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t
rd_le24(const unsigned char *p)
{
	return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t
rd_le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | rd_le24(p);
}

static bool
is_png(const unsigned char *b, size_t n)
{
	return n >= sizeof(png_sig) && memcmp(b, png_sig, sizeof(png_sig)) == 0;
}

static bool
is_jpeg(const unsigned char *b, size_t n)
{
	return n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff;
}

static bool
is_webp(const unsigned char *b, size_t n)
{
	return n >= 12 && memcmp(b, "RIFF", 4) == 0 &&
	       memcmp(b + 8, "WEBP", 4) == 0;
}

const struct img_type *
img_sniff(const void *data, size_t n)
{
	const unsigned char *b = data;

	if (b == NULL)
		return NULL;
	if (is_png(b, n))
		return &img_types[IMG_PNG];
	if (is_jpeg(b, n))
		return &img_types[IMG_JPEG];
	if (is_webp(b, n))
		return &img_types[IMG_WEBP];
	return NULL;
}

const struct img_type *
img_type_of(const char *ctype)
{
	size_t n;

	if (ctype == NULL)
		return NULL;
	n = strcspn(ctype, ";");
	while (n > 0 && ctype[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < sizeof(img_types) / sizeof(img_types[0]); i++)
		if (strlen(img_types[i].ctype) == n &&
		    strncasecmp(ctype, img_types[i].ctype, n) == 0)
			return &img_types[i];
	return NULL;
}

/* Stores w x h when both are non-zero. */
static bool
set_dims(uint32_t w, uint32_t h, unsigned *pw, unsigned *ph)
{
	if (w == 0 || h == 0)
		return false;
	*pw = w;
	*ph = h;
	return true;
}

/* Signature, then IHDR (length 13) as the very first chunk. */
static bool
png_dims(const unsigned char *b, size_t n, unsigned *w, unsigned *h)
{
	uint32_t cw, ch;

	if (!need(n, 0, 8 + 8 + 8) || !is_png(b, n))
		return false;
	if (rd_be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
		return false;
	cw = rd_be32(b + 16);
	ch = rd_be32(b + 20);
	if (cw > 0x7fffffffu || ch > 0x7fffffffu)
		return false;
	return set_dims(cw, ch, w, h);
}

/* A start-of-frame marker: C0..CF except DHT, JPG and DAC. */
static bool
jpeg_is_sof(unsigned m)
{
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

/* Markers that stand alone, without a length field. */
static bool
jpeg_is_standalone(unsigned m)
{
	return m == 0x01 || (m >= 0xd0 && m <= 0xd7);
}

static bool
jpeg_dims(const unsigned char *b, size_t n, unsigned *w, unsigned *h)
{
	size_t off = 2;
	unsigned m;
	uint32_t len;

	if (!need(n, 0, 2) || b[0] != 0xff || b[1] != 0xd8)
		return false;
	for (;;) {
		if (!need(n, off, 1) || b[off] != 0xff)
			return false;
		while (need(n, off, 1) && b[off] == 0xff)
			off++; /* the marker's FF and any fill bytes */
		if (!need(n, off, 1))
			return false;
		m = b[off++];
		if (jpeg_is_standalone(m))
			continue;
		if (m == 0x00 || m == 0xd8 || m == 0xd9 || m == 0xda)
			return false; /* stuffing, SOI, EOI, SOS before SOF */
		if (!need(n, off, 2))
			return false;
		len = rd_be16(b + off);
		if (len < 2 || !need(n, off, len))
			return false;
		if (jpeg_is_sof(m)) {
			/* length, precision, height, width, components */
			if (len < 8)
				return false;
			return set_dims(rd_be16(b + off + 5),
					rd_be16(b + off + 3), w, h);
		}
		off += len;
	}
}

static bool
webp_dims(const unsigned char *b, size_t n, unsigned *w, unsigned *h)
{
	const unsigned char *c;
	uint32_t csize, v;

	if (!need(n, 0, 20) || !is_webp(b, n))
		return false;
	csize = rd_le32(b + 16);
	c = b + 20;
	if (memcmp(b + 12, "VP8 ", 4) == 0) {
		/* frame tag (bit 0 clear = key frame), start code, sizes */
		if (csize < 10 || !need(n, 20, 10) || (c[0] & 1) != 0 ||
		    c[3] != 0x9d || c[4] != 0x01 || c[5] != 0x2a)
			return false;
		return set_dims(rd_le16(c + 6) & 0x3fff,
				rd_le16(c + 8) & 0x3fff, w, h);
	}
	if (memcmp(b + 12, "VP8L", 4) == 0) {
		if (csize < 5 || !need(n, 20, 5) || c[0] != 0x2f)
			return false;
		v = rd_le32(c + 1);
		if ((v >> 29) != 0)
			return false; /* version must be 0 */
		return set_dims((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1, w,
				h);
	}
	if (memcmp(b + 12, "VP8X", 4) == 0) {
		if (csize < 10 || !need(n, 20, 10))
			return false;
		return set_dims(rd_le24(c + 4) + 1, rd_le24(c + 7) + 1, w, h);
	}
	return false;
}

bool
img_dimensions(const void *data, size_t n, unsigned *w, unsigned *h)
{
	const unsigned char *b = data;
	unsigned tw, th;
	bool ok;

	if (b == NULL || w == NULL || h == NULL)
		return false;
	if (is_png(b, n))
		ok = png_dims(b, n, &tw, &th);
	else if (is_jpeg(b, n))
		ok = jpeg_dims(b, n, &tw, &th);
	else if (is_webp(b, n))
		ok = webp_dims(b, n, &tw, &th);
	else
		ok = false;
	if (ok) {
		*w = tw;
		*h = th;
	}
	return ok;
}
