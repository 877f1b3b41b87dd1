/*
 * DESIGN
 *
 * cartoon_photo() is a straight pipeline over one RGB array:
 *
 *   sniff -> header dimensions -> decode (libgd) -> truecolor -> fit
 *   -> flatten alpha onto white -> bilateral smoothing (N passes)
 *   -> saturation -> Sobel outline mask -> posterize + darken -> PNG
 *
 * Safety.  The photo is untrusted.  Its type comes from magic bytes only
 * and its size from img_dimensions(), which reads headers without
 * decoding, so a decompression bomb (a small file claiming a huge canvas)
 * is refused with SJ_ETOOBIG before libgd allocates any pixel; the decoded
 * size is checked again afterwards in case the decoder disagrees with the
 * header walker.  libgd reports corrupt data by returning NULL (and a line
 * on stderr); that becomes SJ_EINVAL.  JPEG is decoded with warnings
 * ignored, as browsers do, so a JPEG truncated inside its entropy-coded
 * data still decodes (libjpeg fills the missing rows with grey); a JPEG
 * broken in its headers does not.  libgd's decoders only read the input,
 * so the const photo is handed over through a uintptr_t cast.
 *
 * Look.  Edge-preserving smoothing is a 5x5 bilateral filter in integer
 * arithmetic: a spatial Gaussian table (25 weights, 6 bits) times a range
 * Gaussian table indexed by the L1 RGB distance (766 weights, 10 bits),
 * so a pixel costs 25 table look-ups and no floating point.  The image is
 * copied into a buffer padded by two replicated pixels per side before
 * each pass, which keeps the inner loop free of bounds tests.  Outlines
 * come from the Sobel L1 magnitude of the smoothed luminance (before
 * quantisation, so posterize steps do not draw lines); the magnitude is
 * ramped from edge_lo to 2 * edge_lo in eight steps and blended towards
 * black.  Posterize maps each channel to a fixed number of evenly spaced
 * levels.  Every parameter that differs between the contract styles is in
 * the styles[] table.
 *
 * Cost.  O(pixels * 25 * passes); the output is capped at CARTOON_OUT_MAX
 * on its longest side before any filtering, so the work is bounded by
 * 1024 x 1024 whatever the input.  Downscaling uses libgd's two-pass
 * resampler with a triangle (tent) kernel, which widens the kernel when
 * shrinking and so does not alias the way point-sampled bilinear does.
 *
 * Determinism.  Integer arithmetic after two tables computed with exp();
 * zlib's output for a given level is fixed; no time or randomness enters.
 *
 * cartoon_portrait() reuses the same checked load to cut the small square
 * JPEG (libjpeg, quality 85, as deterministic) that the scene cards of a
 * book draw as their hero's face.
 */
#include <gd.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartoon.h"
#include "image.h"
#include "job_input.h"

#define BF_R	   2 /* bilateral radius: a 5x5 window */
#define BF_N	   ((2 * BF_R + 1) * (2 * BF_R + 1))
#define BF_DMAX	   765 /* largest L1 distance between two RGB pixels */
#define BF_SIGMA_S 2.0
#define PNG_LEVEL  6
#define JPEG_Q	   85 /* portraits */

/* The filter of each style of lib's table, indexed by enum job_style. */
struct cartoon_style {
	unsigned passes;    /* bilateral passes */
	unsigned sigma_r;   /* range sigma, in L1 RGB distance */
	unsigned sat;	    /* saturation, percent of the original */
	unsigned levels;    /* posterize levels per channel, >= 2 */
	unsigned edge_lo;   /* Sobel magnitude where outlines begin, > 0 */
	unsigned edge_dark; /* outline darkness at full strength, of 256 */
};

static const struct cartoon_style styles[JOB_STYLE_MAX] = {
    [JOB_STYLE_STORYBOOK] = {3, 40, 110, 8, 90, 200},
    [JOB_STYLE_SEMI_REALISTIC] = {2, 25, 100, 12, 130, 140},
    [JOB_STYLE_COMIC_BOOK] = {3, 50, 125, 5, 60, 256},
    [JOB_STYLE_FLAT_ILLUSTRATION] = {4, 60, 115, 4, 110, 180},
    [JOB_STYLE_ANIME] = {3, 45, 120, 6, 80, 230},
};

/* An RGB image, three bytes per pixel, row after row. */
struct cimg {
	unsigned w, h;
	uint8_t *rgb;
};

/* The filter of the style named name (NULL: JOB_STYLE_DEFAULT's). */
static const struct cartoon_style *
style_find(const char *name)
{
	enum job_style s = JOB_STYLE_DEFAULT;

	if (name != NULL && job_style_parse(name, &s) != SJ_OK)
		return NULL;
	return &styles[s];
}

/* Decodes by sniffed type; SJ_EINVAL when libgd refuses the data. */
static enum sj_err
decode(const void *photo, size_t len, const struct img_type *t, gdImagePtr *out)
{
	void *p = (void *)(uintptr_t)photo; /* libgd only reads it */
	gdImagePtr im;

	if (strcmp(t->ext, "png") == 0)
		im = gdImageCreateFromPngPtr((int)len, p);
	else if (strcmp(t->ext, "jpg") == 0)
		im = gdImageCreateFromJpegPtrEx((int)len, p, 1);
	else
		im = gdImageCreateFromWebpPtr((int)len, p);
	if (im == NULL)
		return SJ_EINVAL;
	if (gdImageSX(im) <= 0 || gdImageSY(im) <= 0 ||
	    (uint64_t)gdImageSX(im) * (uint64_t)gdImageSY(im) >
		CARTOON_MAX_PIXELS) {
		gdImageDestroy(im);
		return SJ_ETOOBIG;
	}
	if (!gdImageTrueColor(im) && !gdImagePaletteToTrueColor(im)) {
		gdImageDestroy(im);
		return SJ_ENOMEM;
	}
	*out = im;
	return SJ_OK;
}

/* Scales *im so its longest side is at most CARTOON_OUT_MAX. */
static enum sj_err
fit(gdImagePtr *im)
{
	uint64_t sx = (uint64_t)gdImageSX(*im), sy = (uint64_t)gdImageSY(*im);
	uint64_t big = sx > sy ? sx : sy, nw, nh;
	gdImagePtr s;

	if (big <= CARTOON_OUT_MAX)
		return SJ_OK;
	nw = sx * CARTOON_OUT_MAX / big;
	nh = sy * CARTOON_OUT_MAX / big;
	if (nw == 0)
		nw = 1;
	if (nh == 0)
		nh = 1;
	if (!gdImageSetInterpolationMethod(*im, GD_TRIANGLE))
		return SJ_EINVAL;
	if ((s = gdImageScale(*im, (unsigned)nw, (unsigned)nh)) == NULL)
		return SJ_ENOMEM;
	gdImageDestroy(*im);
	*im = s;
	return SJ_OK;
}

/* Copies a truecolor image into c, flattening alpha onto white. */
static enum sj_err
extract(gdImagePtr im, struct cimg *c)
{
	uint8_t *q;

	c->w = (unsigned)gdImageSX(im);
	c->h = (unsigned)gdImageSY(im);
	if ((c->rgb = malloc((size_t)c->w * c->h * 3)) == NULL)
		return SJ_ENOMEM;
	q = c->rgb;
	for (unsigned y = 0; y < c->h; y++)
		for (unsigned x = 0; x < c->w; x++) {
			int p = gdImageTrueColorPixel(im, x, y);
			unsigned a = (unsigned)gdTrueColorGetAlpha(p);
			unsigned o = gdAlphaMax - a;

			*q++ = (uint8_t)(((unsigned)gdTrueColorGetRed(p) * o +
					  255 * a) /
					 gdAlphaMax);
			*q++ = (uint8_t)(((unsigned)gdTrueColorGetGreen(p) * o +
					  255 * a) /
					 gdAlphaMax);
			*q++ = (uint8_t)(((unsigned)gdTrueColorGetBlue(p) * o +
					  255 * a) /
					 gdAlphaMax);
		}
	return SJ_OK;
}

/* Copies c into pad, (w + 2R) x (h + 2R), replicating the border. */
static void
pad_copy(const struct cimg *c, uint8_t *pad)
{
	size_t pw = (size_t)c->w + 2 * BF_R;

	for (size_t py = 0; py < c->h + 2 * BF_R; py++) {
		size_t y = py < BF_R ? 0 : py - BF_R;
		const uint8_t *src;
		uint8_t *dst = pad + py * pw * 3;

		if (y >= c->h)
			y = c->h - 1;
		src = c->rgb + y * c->w * 3;
		for (size_t i = 0; i < BF_R; i++) {
			memcpy(dst + i * 3, src, 3);
			memcpy(dst + (BF_R + c->w + i) * 3,
			       src + (c->w - 1) * 3, 3);
		}
		memcpy(dst + BF_R * 3, src, (size_t)c->w * 3);
	}
}

/* One bilateral pass from the padded copy back into c. */
static void
bilateral_pass(struct cimg *c, const uint8_t *pad, const uint32_t *ws,
	       const ptrdiff_t *off, const uint32_t *wr)
{
	size_t pw = (size_t)c->w + 2 * BF_R;
	uint8_t *q = c->rgb;

	for (size_t y = 0; y < c->h; y++) {
		const uint8_t *p = pad + ((y + BF_R) * pw + BF_R) * 3;

		for (size_t x = 0; x < c->w; x++, p += 3) {
			uint32_t sr = 0, sg = 0, sb = 0, sw = 0;

			for (int k = 0; k < BF_N; k++) {
				const uint8_t *n = p + off[k];
				unsigned d = (unsigned)abs(n[0] - p[0]) +
					     (unsigned)abs(n[1] - p[1]) +
					     (unsigned)abs(n[2] - p[2]);
				uint32_t wgt = ws[k] * wr[d];

				sr += wgt * n[0];
				sg += wgt * n[1];
				sb += wgt * n[2];
				sw += wgt;
			}
			*q++ = (uint8_t)((sr + sw / 2) / sw);
			*q++ = (uint8_t)((sg + sw / 2) / sw);
			*q++ = (uint8_t)((sb + sw / 2) / sw);
		}
	}
}

/* st->passes bilateral passes over c. */
static enum sj_err
smooth(struct cimg *c, const struct cartoon_style *st)
{
	size_t pw = (size_t)c->w + 2 * BF_R, ph = (size_t)c->h + 2 * BF_R;
	uint32_t ws[BF_N], wr[BF_DMAX + 1];
	ptrdiff_t off[BF_N];
	double s2 = 2.0 * st->sigma_r * st->sigma_r;
	uint8_t *pad;
	int k = 0;

	for (int dy = -BF_R; dy <= BF_R; dy++)
		for (int dx = -BF_R; dx <= BF_R; dx++, k++) {
			ws[k] = (uint32_t)lround(
			    64.0 * exp(-(dx * dx + dy * dy) /
				       (2.0 * BF_SIGMA_S * BF_SIGMA_S)));
			off[k] = ((ptrdiff_t)dy * (ptrdiff_t)pw + dx) * 3;
		}
	for (unsigned d = 0; d <= BF_DMAX; d++)
		wr[d] = (uint32_t)lround(1024.0 * exp(-(double)d * d / s2));
	if ((pad = malloc(pw * ph * 3)) == NULL)
		return SJ_ENOMEM;
	for (unsigned i = 0; i < st->passes; i++) {
		pad_copy(c, pad);
		bilateral_pass(c, pad, ws, off, wr);
	}
	free(pad);
	return SJ_OK;
}

static uint8_t
clamp8(int v)
{
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static unsigned
luma(const uint8_t *p)
{
	return (77u * p[0] + 150u * p[1] + 29u * p[2]) >> 8;
}

/* Scales each pixel's distance from its grey by st->sat percent. */
static void
saturate(struct cimg *c, const struct cartoon_style *st)
{
	size_t n = (size_t)c->w * c->h;
	int sat = (int)st->sat;

	if (sat == 100)
		return;
	for (uint8_t *p = c->rgb; p < c->rgb + n * 3; p += 3) {
		int y = (int)luma(p);

		for (int i = 0; i < 3; i++)
			p[i] = clamp8(y + (p[i] - y) * sat / 100);
	}
}

/*
 * The outline strength per pixel, 0..8, from the Sobel L1 magnitude of
 * the luminance; the one-pixel frame gets none.
 */
static enum sj_err
outline(const struct cimg *c, const struct cartoon_style *st, uint8_t **out)
{
	size_t w = c->w, h = c->h;
	uint8_t *l, *m;

	if ((l = malloc(w * h)) == NULL)
		return SJ_ENOMEM;
	if ((m = calloc(w * h, 1)) == NULL) {
		free(l);
		return SJ_ENOMEM;
	}
	for (size_t i = 0; i < w * h; i++)
		l[i] = (uint8_t)luma(c->rgb + i * 3);
	for (size_t y = 1; y + 1 < h; y++)
		for (size_t x = 1; x + 1 < w; x++) {
			const uint8_t *a = l + (y - 1) * w + x, *b = a + w,
				      *d = b + w;
			int gx = (a[1] + 2 * b[1] + d[1]) -
				 (a[-1] + 2 * b[-1] + d[-1]);
			int gy = (d[-1] + 2 * d[0] + d[1]) -
				 (a[-1] + 2 * a[0] + a[1]);
			unsigned g = (unsigned)(abs(gx) + abs(gy)), s;

			if (g <= st->edge_lo)
				continue;
			s = (g - st->edge_lo) * 8 / st->edge_lo;
			m[y * w + x] = (uint8_t)(s > 8 ? 8 : s);
		}
	free(l);
	*out = m;
	return SJ_OK;
}

/* Posterizes c, darkens it by the outline mask, into a new gd image. */
static enum sj_err
render(const struct cimg *c, const uint8_t *mask,
       const struct cartoon_style *st, gdImagePtr *out)
{
	unsigned lv = st->levels;
	uint8_t lut[256];
	gdImagePtr im;

	for (unsigned v = 0; v < 256; v++)
		lut[v] =
		    (uint8_t)((v * lv / 256 * 255 + (lv - 1) / 2) / (lv - 1));
	if ((im = gdImageCreateTrueColor((int)c->w, (int)c->h)) == NULL)
		return SJ_ENOMEM;
	gdImageAlphaBlending(im, 0);
	gdImageSaveAlpha(im, 0);
	for (size_t y = 0; y < c->h; y++)
		for (size_t x = 0; x < c->w; x++) {
			const uint8_t *p = c->rgb + (y * c->w + x) * 3;
			unsigned keep =
			    256 - st->edge_dark * mask[y * c->w + x] / 8;
			unsigned r = lut[p[0]] * keep >> 8;
			unsigned g = lut[p[1]] * keep >> 8;
			unsigned b = lut[p[2]] * keep >> 8;

			im->tpixels[y][x] = gdTrueColor(r, g, b);
		}
	*out = im;
	return SJ_OK;
}

/* Encodes im as PNG into out (already initialised). */
static enum sj_err
encode(gdImagePtr im, struct buf *out)
{
	int size = 0;
	void *png = gdImagePngPtrEx(im, &size, PNG_LEVEL);
	enum sj_err e;

	if (png == NULL || size <= 0) {
		if (png != NULL)
			gdFree(png);
		return SJ_ENOMEM;
	}
	if ((size_t)size > CARTOON_PNG_MAX)
		e = SJ_ETOOBIG;
	else
		e = buf_add(out, png, (size_t)size);
	gdFree(png);
	return e;
}

/* Checks type and header size, then decodes and fits the photo. */
static enum sj_err
load(const void *photo, size_t len, gdImagePtr *im)
{
	const struct img_type *t;
	unsigned w, h;
	enum sj_err e;

	if (photo == NULL || (t = img_sniff(photo, len)) == NULL)
		return SJ_EINVAL;
	if (!img_dimensions(photo, len, &w, &h))
		return SJ_EINVAL;
	if ((uint64_t)w * h > CARTOON_MAX_PIXELS)
		return SJ_ETOOBIG;
	if (len > INT_MAX)
		return SJ_ETOOBIG;
	if ((e = decode(photo, len, t, im)) != SJ_OK)
		return e;
	if ((e = fit(im)) != SJ_OK) {
		gdImageDestroy(*im);
		*im = NULL;
	}
	return e;
}

enum sj_err
cartoon_photo(const void *photo, size_t len, const char *style, struct buf *out)
{
	const struct cartoon_style *st;
	struct cimg c = {0, 0, NULL};
	gdImagePtr im = NULL;
	uint8_t *mask = NULL;
	enum sj_err e;

	buf_init(out, CARTOON_PNG_MAX);
	if ((st = style_find(style)) == NULL)
		return SJ_EINVAL;
	if ((e = load(photo, len, &im)) != SJ_OK)
		return e;
	e = extract(im, &c);
	gdImageDestroy(im);
	im = NULL;
	if (e != SJ_OK || (e = smooth(&c, st)) != SJ_OK)
		goto out;
	saturate(&c, st);
	if ((e = outline(&c, st, &mask)) != SJ_OK ||
	    (e = render(&c, mask, st, &im)) != SJ_OK)
		goto out;
	e = encode(im, out);
out:
	if (im != NULL)
		gdImageDestroy(im);
	free(mask);
	free(c.rgb);
	if (e != SJ_OK)
		buf_free(out);
	return e;
}

/* The mean colour of the middle ninth of a square truecolor image. */
static void
mean_middle(gdImagePtr im, unsigned side, unsigned char rgb[3])
{
	uint64_t sum[3] = {0, 0, 0}, n = 0;

	for (unsigned y = side / 3; y < 2 * side / 3; y++)
		for (unsigned x = side / 3; x < 2 * side / 3; x++) {
			int p = gdImageTrueColorPixel(im, x, y);

			sum[0] += (unsigned)gdTrueColorGetRed(p);
			sum[1] += (unsigned)gdTrueColorGetGreen(p);
			sum[2] += (unsigned)gdTrueColorGetBlue(p);
			n++;
		}
	for (int i = 0; i < 3; i++)
		rgb[i] = (unsigned char)(n > 0 ? sum[i] / n : 255);
}

enum sj_err
cartoon_portrait(const void *picture, size_t len, unsigned side,
		 struct buf *out, unsigned char rgb[3])
{
	gdImagePtr im = NULL, sq = NULL;
	unsigned w, h, edge, x0, y0;
	void *jpeg = NULL;
	int size = 0;
	enum sj_err e;

	buf_init(out, CARTOON_PORTRAIT_MAX);
	if (side < 16 || side > 512)
		return SJ_EINVAL;
	if ((e = load(picture, len, &im)) != SJ_OK)
		return e;
	w = (unsigned)gdImageSX(im);
	h = (unsigned)gdImageSY(im);
	edge = (w < h ? w : h) * 4 / 5;
	if (edge == 0)
		edge = 1;
	x0 = (w - edge) / 2;
	y0 = (h - edge) / (h > w ? 4 : 3);
	e = SJ_ENOMEM;
	if ((sq = gdImageCreateTrueColor((int)side, (int)side)) == NULL)
		goto out;
	gdImageFilledRectangle(sq, 0, 0, (int)side - 1, (int)side - 1,
			       gdTrueColor(255, 255, 255));
	gdImageAlphaBlending(sq, 1);
	gdImageCopyResampled(sq, im, 0, 0, (int)x0, (int)y0, (int)side,
			     (int)side, (int)edge, (int)edge);
	mean_middle(sq, side, rgb);
	if ((jpeg = gdImageJpegPtr(sq, &size, JPEG_Q)) == NULL || size <= 0)
		goto out;
	e = (size_t)size > CARTOON_PORTRAIT_MAX
		? SJ_ETOOBIG
		: buf_add(out, jpeg, (size_t)size);
out:
	if (jpeg != NULL)
		gdFree(jpeg);
	if (sq != NULL)
		gdImageDestroy(sq);
	gdImageDestroy(im);
	if (e != SJ_OK)
		buf_free(out);
	return e;
}
