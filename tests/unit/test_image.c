/*
 * Magic bytes, header-only dimensions on real and hostile input, the
 * local cartoonize: output format, size, determinism, look, styles, caps,
 * and the hero's portrait cut from a picture for the scene cards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <gd.h>

#include "cartoon.h"
#include "image.h"

/* An encoded image: bytes owned by libgd (gdFree). */
struct enc {
	unsigned char *p;
	size_t n;
};

static unsigned gd_errors;

/* Keeps libgd's complaints about the hostile inputs off the test log. */
static void
quiet_gd(int priority, const char *fmt, va_list ap)
{
	(void)priority;
	(void)fmt;
	(void)ap;
	gd_errors++;
}

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static int
clampi(int v)
{
	return v < 0 ? 0 : v > 255 ? 255 : v;
}

/*
 * A photo-like test picture: colour gradients, a yellow rectangle over the
 * middle third (x in [w/3, 2w/3), y in [h/4, 3h/4)), a red disc, a dark
 * line, and +-20 of noise on every channel everywhere.
 */
static gdImagePtr
photo_like(int w, int h, uint32_t seed)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);

	assert_non_null(im);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			im->tpixels[y][x] =
			    gdTrueColor(60 + 120 * x / w, 80 + 100 * y / h,
					140 - 60 * x / w);
	gdImageFilledRectangle(im, w / 3, h / 4, 2 * w / 3 - 1, 3 * h / 4 - 1,
			       gdTrueColor(250, 225, 40));
	gdImageFilledEllipse(im, w * 4 / 5, h * 3 / 10, w / 6, w / 6,
			     gdTrueColor(210, 30, 30));
	gdImageLine(im, 0, h - 10, w - 1, h / 2 + 5, gdTrueColor(20, 20, 30));
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int p = im->tpixels[y][x];
			int r = gdTrueColorGetRed(p),
			    g = gdTrueColorGetGreen(p),
			    b = gdTrueColorGetBlue(p);

			r = clampi(r + (int)(lcg(&seed) % 41) - 20);
			g = clampi(g + (int)(lcg(&seed) % 41) - 20);
			b = clampi(b + (int)(lcg(&seed) % 41) - 20);
			im->tpixels[y][x] = gdTrueColor(r, g, b);
		}
	return im;
}

enum fmt { F_PNG, F_JPEG, F_WEBP, F_WEBP_LOSSLESS };

static struct enc
encode(gdImagePtr im, enum fmt f)
{
	struct enc e = {NULL, 0};
	int size = 0;

	switch (f) {
	case F_PNG:
		e.p = gdImagePngPtr(im, &size);
		break;
	case F_JPEG:
		e.p = gdImageJpegPtr(im, &size, 85);
		break;
	case F_WEBP:
		e.p = gdImageWebpPtr(im, &size);
		break;
	case F_WEBP_LOSSLESS:
		e.p = gdImageWebpPtrEx(im, &size, gdWebpLossless);
		break;
	}
	assert_non_null(e.p);
	assert_true(size > 0);
	e.n = (size_t)size;
	return e;
}

static struct enc
photo_enc(int w, int h, enum fmt f)
{
	gdImagePtr im = photo_like(w, h, 12345);
	struct enc e = encode(im, f);

	gdImageDestroy(im);
	return e;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static size_t
count_colours(gdImagePtr im)
{
	size_t n = (size_t)gdImageSX(im) * (size_t)gdImageSY(im), u = 0;
	uint32_t *v = malloc(n * sizeof(*v));

	assert_non_null(v);
	for (int y = 0; y < gdImageSY(im); y++)
		for (int x = 0; x < gdImageSX(im); x++)
			v[(size_t)y * (size_t)gdImageSX(im) + (size_t)x] =
			    (uint32_t)gdImageTrueColorPixel(im, x, y);
	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i] != v[i - 1])
			u++;
	free(v);
	return u;
}

static unsigned
luma_at(gdImagePtr im, int x, int y)
{
	int p = gdImageTrueColorPixel(im, x, y);

	return (77u * (unsigned)gdTrueColorGetRed(p) +
		150u * (unsigned)gdTrueColorGetGreen(p) +
		29u * (unsigned)gdTrueColorGetBlue(p)) >>
	       8;
}

static gdImagePtr
decode_png(const struct buf *b)
{
	gdImagePtr im;

	assert_true(img_sniff(b->data, b->len) == img_type_of("image/png"));
	im = gdImageCreateFromPngPtr((int)b->len, b->data);
	assert_non_null(im);
	return im;
}

static void
test_sniff(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		const char *ext; /* NULL: not an image */
	} t[] = {
	    {"\x89PNG\r\n\x1a\n", 8, "png"},
	    {"\x89PNG\r\n\x1a\nmore", 12, "png"},
	    {"\x89PNG\r\n\x1a", 7, NULL},
	    {"\x89PNG\r\n\x1a\r", 8, NULL},
	    {"\xff\xd8\xff", 3, "jpg"},
	    {"\xff\xd8\xff\xe0", 4, "jpg"},
	    {"\xff\xd8", 2, NULL},
	    {"\xff\xd8\xfe", 3, NULL},
	    {"RIFF\0\0\0\0WEBP", 12, "webp"},
	    {"RIFF\x10\0\0\0WEBPVP8 ", 16, "webp"},
	    {"RIFF\0\0\0\0WEB", 11, NULL},
	    {"RIFF\0\0\0\0WAVE", 12, NULL},
	    {"GIF89a", 6, NULL},
	    {"", 0, NULL},
	};
	const struct img_type *ty;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ty = img_sniff(t[i].bytes, t[i].n);
		if (t[i].ext == NULL) {
			assert_null(ty);
			continue;
		}
		assert_non_null(ty);
		assert_string_equal(ty->ext, t[i].ext);
	}
	assert_null(img_sniff(NULL, 10));

	assert_true(img_type_of("image/png") ==
		    img_sniff("\x89PNG\r\n\x1a\n", 8));
	assert_true(img_type_of("IMAGE/JPEG; q=1") ==
		    img_sniff("\xff\xd8\xff", 3));
	assert_true(img_type_of("image/webp ;x") ==
		    img_sniff("RIFF\0\0\0\0WEBP", 12));
	assert_string_equal(img_type_of("image/jpeg")->ctype, "image/jpeg");
	assert_null(img_type_of("image/jpg"));
	assert_null(img_type_of("image/pngx"));
	assert_null(img_type_of("image/gif"));
	assert_null(img_type_of(""));
	assert_null(img_type_of(NULL));
}

static void
expect_dims(const struct enc *e, unsigned w, unsigned h)
{
	unsigned gw = 0, gh = 0;

	assert_true(img_dimensions(e->p, e->n, &gw, &gh));
	assert_int_equal(gw, w);
	assert_int_equal(gh, h);
}

static void
test_dims_real(void **state)
{
	static const unsigned sizes[][2] = {
	    {1, 1}, {37, 23}, {3, 641}, {641, 3}, {1023, 17}};
	bool seen_vp8 = false, seen_vp8l = false, seen_vp8x = false;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned w = sizes[i][0], h = sizes[i][1];
		gdImagePtr im = photo_like((int)w, (int)h, 7);

		for (enum fmt f = F_PNG; f <= F_WEBP_LOSSLESS; f++) {
			struct enc e = encode(im, f);

			expect_dims(&e, w, h);
			if (f >= F_WEBP) {
				seen_vp8 |= memcmp(e.p + 12, "VP8 ", 4) == 0;
				seen_vp8l |= memcmp(e.p + 12, "VP8L", 4) == 0;
			}
			gdFree(e.p);
		}
		/* transparency makes libwebp write the extended format */
		gdImageSaveAlpha(im, 1);
		gdImageAlphaBlending(im, 0);
		gdImageSetPixel(im, 0, 0, gdTrueColorAlpha(0, 0, 0, 127));
		{
			struct enc e = encode(im, F_WEBP);

			expect_dims(&e, w, h);
			seen_vp8x |= memcmp(e.p + 12, "VP8X", 4) == 0;
			gdFree(e.p);
		}
		gdImageDestroy(im);
	}
	assert_true(seen_vp8);
	assert_true(seen_vp8l);
	assert_true(seen_vp8x);
}

/* Every prefix of a header: false, or the right answer. */
static void
prefixes(const struct enc *e, unsigned w, unsigned h, size_t whole)
{
	for (size_t n = 0; n <= e->n && n <= whole + 64; n++) {
		unsigned char *cp = malloc(n ? n : 1);
		unsigned gw = 0, gh = 0;
		bool ok;

		assert_non_null(cp);
		memcpy(cp, e->p, n);
		ok = img_dimensions(cp, n, &gw, &gh);
		free(cp); /* exact-size copy: ASan sees any over-read */
		if (n < whole) {
			assert_false(ok);
		} else {
			assert_true(ok);
			assert_int_equal(gw, w);
			assert_int_equal(gh, h);
		}
	}
}

/* Offset just past a JPEG's first SOF segment. */
static size_t
jpeg_sof_end(const struct enc *e)
{
	size_t off = 2;

	while (off + 4 <= e->n) {
		unsigned m = e->p[off + 1];
		size_t len = (size_t)e->p[off + 2] << 8 | e->p[off + 3];

		if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 &&
		    m != 0xcc)
			return off + 2 + len;
		off += 2 + len;
	}
	fail();
	return 0;
}

static void
test_dims_prefix(void **state)
{
	gdImagePtr im = photo_like(29, 13, 3);
	struct enc png = encode(im, F_PNG), jpg = encode(im, F_JPEG),
		   webp = encode(im, F_WEBP),
		   webpl = encode(im, F_WEBP_LOSSLESS);

	prefixes(&png, 29, 13, 24);
	prefixes(&jpg, 29, 13, jpeg_sof_end(&jpg));
	prefixes(&webp, 29, 13, 30);
	prefixes(&webpl, 29, 13, 25);
	gdFree(png.p);
	gdFree(jpg.p);
	gdFree(webp.p);
	gdFree(webpl.p);
	gdImageDestroy(im);
}

/* Corrupts every header byte several ways; nothing may crash. */
static void
corrupt_each(const struct enc *e, size_t span)
{
	static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

	if (span > e->n)
		span = e->n;
	for (size_t i = 0; i < span; i++)
		for (size_t v = 0; v <= sizeof(vals); v++) {
			unsigned char *cp = malloc(span);
			unsigned gw = 0, gh = 0;

			assert_non_null(cp);
			memcpy(cp, e->p, span);
			cp[i] = v < sizeof(vals) ? vals[v] : cp[i] ^ 0x55;
			if (img_dimensions(cp, span, &gw, &gh)) {
				assert_true(gw > 0);
				assert_true(gh > 0);
			}
			free(cp);
		}
}

static void
test_dims_hostile(void **state)
{
	gdImagePtr im = photo_like(29, 13, 3);
	struct enc png = encode(im, F_PNG), jpg = encode(im, F_JPEG),
		   webp = encode(im, F_WEBP);
	uint32_t seed = 99;
	unsigned w, h;

	corrupt_each(&png, 64);
	corrupt_each(&jpg, jpeg_sof_end(&jpg) + 16);
	corrupt_each(&webp, 48);
	/* random tails behind each magic */
	for (int i = 0; i < 20000; i++) {
		unsigned char b[64];
		size_t n = lcg(&seed) % sizeof(b);

		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (unsigned char)lcg(&seed);
		switch (i % 3) {
		case 0:
			memcpy(b, png.p, 16);
			break;
		case 1:
			memcpy(b, "\xff\xd8\xff", 3);
			break;
		default:
			memcpy(b, webp.p, 16);
		}
		if (img_dimensions(b, n, &w, &h))
			assert_true(w > 0 && h > 0);
	}
	gdFree(png.p);
	gdFree(jpg.p);
	gdFree(webp.p);
	gdImageDestroy(im);
}

static void
test_dims_crafted(void **state)
{
	unsigned w, h;

	/* JPEG: SOS first, bad lengths, zero height, short SOF */
	assert_false(img_dimensions("\xff\xd8\xff\xda\x00\x02", 6, &w, &h));
	assert_false(img_dimensions("\xff\xd8\xff\xe0\x00\x01", 6, &w, &h));
	assert_false(img_dimensions("\xff\xd8\xff\xe0\x00\x00", 6, &w, &h));
	assert_false(img_dimensions("\xff\xd8\xff\xc0\x00\x08\x08\x00\x00\x00"
				    "\x10\x00",
				    12, &w, &h)); /* height 0 */
	assert_false(img_dimensions("\xff\xd8\xff\xc0\x00\x11\x08\x00\x05\x00"
				    "\x10\x03",
				    12, &w, &h)); /* SOF cut short */
	assert_false(img_dimensions("\xff\xd8\xff\xc0\x00\x07\x08\x00\x05\x00"
				    "\x10\x03",
				    12, &w, &h)); /* SOF too short */
	assert_true(img_dimensions("\xff\xd8\xff\xff\xd0\xff\xc4\x00\x04\x12"
				   "\x34\xff\xc2\x00\x08\x08\x00\x05\x00\x10"
				   "\x03",
				   21, &w, &h)); /* fill, RST, DHT, SOF2 */
	assert_int_equal(w, 16);
	assert_int_equal(h, 5);
	/* PNG whose first chunk is not IHDR */
	assert_false(img_dimensions("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDX\0\0\0\1"
				    "\0\0\0\1",
				    24, &w, &h));
	assert_false(img_dimensions("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\0"
				    "\0\0\0\1",
				    24, &w, &h));
	assert_false(img_dimensions("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\x80\0\0"
				    "\1\0\0\0\1",
				    24, &w, &h));
	/* VP8X canvas: 24-bit sizes minus one */
	assert_true(img_dimensions("RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0"
				   "\x10\0\0\0\x9f\x86\x01\x02\0\0",
				   30, &w, &h));
	assert_int_equal(w, 100000);
	assert_int_equal(h, 3);
	assert_false(img_dimensions("RIFF\x16\0\0\0WEBPVP8X\x09\0\0\0"
				    "\x10\0\0\0\x9f\x86\x01\x02\0\0",
				    30, &w, &h)); /* chunk too short */
}

static void
test_toobig(void **state)
{
	/* signature + IHDR claiming 100000 x 100000, then nothing at all */
	static const unsigned char png[] =
	    "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0"
	    "\x08\x02\0\0\0\xde\xad\xbe\xef";
	static const unsigned char jpg[] =
	    "\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03"
	    "\x01\x22\x00\x02\x11\x01\x03\x11\x01";
	static const unsigned char webp[] = "RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0"
					    "\x10\0\0\0\xff\x3f\0\xff\x3f\0";
	struct buf out;
	unsigned w, h;

	assert_true(img_dimensions(png, sizeof(png) - 1, &w, &h));
	assert_int_equal(w, 100000);
	assert_int_equal(h, 100000);
	gd_errors = 0;
	assert_int_equal(cartoon_photo(png, sizeof(png) - 1, "anime", &out),
			 SJ_ETOOBIG);
	assert_null(out.data);
	assert_int_equal(cartoon_photo(jpg, sizeof(jpg) - 1, NULL, &out),
			 SJ_ETOOBIG);
	assert_int_equal(cartoon_photo(webp, sizeof(webp) - 1, NULL, &out),
			 SJ_ETOOBIG);
	assert_int_equal(gd_errors, 0); /* refused before libgd saw it */
}

static void
test_cartoon_basic(void **state)
{
	gdImagePtr in = photo_like(300, 200, 4242), o;
	struct enc e = encode(in, F_PNG);
	struct buf a, b;
	size_t cin, cout;

	assert_int_equal(cartoon_photo(e.p, e.n, NULL, &a), SJ_OK);
	assert_int_equal(cartoon_photo(e.p, e.n, "semi-realistic", &b), SJ_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	o = decode_png(&a);
	assert_int_equal(gdImageSX(o), 300);
	assert_int_equal(gdImageSY(o), 200);
	cin = count_colours(in);
	cout = count_colours(o);
	print_message("distinct colours: input %zu, output %zu\n", cin, cout);
	assert_true(cout * 10 < cin);
	/* the rectangle's left edge runs between x = 99 and x = 100 */
	for (int y = 80; y <= 120; y += 10) {
		assert_true(luma_at(o, 99, y) < luma_at(in, 99, y));
		assert_true(luma_at(o, 100, y) < luma_at(in, 100, y));
	}
	/* inside the flat rectangle nothing is outlined */
	assert_true(luma_at(o, 150, 100) > 150);
	gdImageDestroy(o);
	gdImageDestroy(in);
	gdFree(e.p);
	buf_free(&a);
	buf_free(&b);
}

static void
test_styles(void **state)
{
	static const char *names[] = {"storybook", "semi-realistic",
				      "comic-book", "flat-illustration",
				      "anime"};
	struct enc e = photo_enc(120, 90, F_JPEG);
	struct buf out[5];

	for (size_t i = 0; i < 5; i++) {
		gdImagePtr o;

		assert_int_equal(cartoon_photo(e.p, e.n, names[i], &out[i]),
				 SJ_OK);
		o = decode_png(&out[i]);
		assert_int_equal(gdImageSX(o), 120);
		assert_int_equal(gdImageSY(o), 90);
		gdImageDestroy(o);
		for (size_t j = 0; j < i; j++)
			assert_false(
			    out[i].len == out[j].len &&
			    memcmp(out[i].data, out[j].data, out[i].len) == 0);
	}
	for (size_t i = 0; i < 5; i++)
		buf_free(&out[i]);
	assert_int_equal(cartoon_photo(e.p, e.n, "watercolor", &out[0]),
			 SJ_EINVAL);
	assert_null(out[0].data);
	assert_int_equal(cartoon_photo(e.p, e.n, "", &out[0]), SJ_EINVAL);
	assert_int_equal(cartoon_photo(e.p, e.n, "Anime", &out[0]), SJ_EINVAL);
	gdFree(e.p);
}

static void
test_large(void **state)
{
	struct enc e = photo_enc(2000, 1500, F_JPEG);
	struct enc t = photo_enc(500, 1100, F_WEBP);
	struct buf out;
	gdImagePtr o;

	assert_int_equal(cartoon_photo(e.p, e.n, "comic-book", &out), SJ_OK);
	o = decode_png(&out);
	assert_int_equal(gdImageSX(o), 1024);
	assert_int_equal(gdImageSY(o), 768);
	gdImageDestroy(o);
	buf_free(&out);
	assert_int_equal(cartoon_photo(t.p, t.n, "storybook", &out), SJ_OK);
	o = decode_png(&out);
	assert_int_equal(gdImageSX(o), 465);
	assert_int_equal(gdImageSY(o), 1024);
	gdImageDestroy(o);
	buf_free(&out);
	gdFree(e.p);
	gdFree(t.p);
}

/* Every step-th prefix of e; allowed: the listed results only. */
static void
truncations(const struct enc *e, size_t step, bool partial_ok)
{
	for (size_t n = 0; n < e->n; n += n < 200 ? 1 : step) {
		unsigned char *cp = malloc(n ? n : 1);
		struct buf out;
		enum sj_err r;

		assert_non_null(cp);
		memcpy(cp, e->p, n);
		r = cartoon_photo(cp, n, NULL, &out);
		free(cp);
		if (r == SJ_OK && partial_ok) {
			buf_free(&out);
			continue;
		}
		assert_int_equal(r, SJ_EINVAL);
		assert_null(out.data);
	}
}

static void
test_corrupt(void **state)
{
	static const char junk[] = "hello, this is not an image at all";
	struct enc png = photo_enc(64, 48, F_PNG);
	struct enc jpg = photo_enc(64, 48, F_JPEG);
	struct enc webp = photo_enc(64, 48, F_WEBP);
	struct enc webpl = photo_enc(64, 48, F_WEBP_LOSSLESS);
	struct buf out;

	assert_int_equal(cartoon_photo(junk, sizeof(junk), NULL, &out),
			 SJ_EINVAL);
	assert_int_equal(cartoon_photo(NULL, 10, NULL, &out), SJ_EINVAL);
	assert_int_equal(cartoon_photo(png.p, 0, NULL, &out), SJ_EINVAL);
	truncations(&png, 37, false);
	/* libjpeg grey-fills a body cut short; headers cut short fail */
	truncations(&jpg, 37, true);
	for (size_t n = 0; n < jpeg_sof_end(&jpg); n++) {
		assert_int_equal(cartoon_photo(jpg.p, n, NULL, &out),
				 SJ_EINVAL);
	}
	truncations(&webp, 13, false);
	truncations(&webpl, 13, false);
	/* a flipped byte inside PNG image data fails its CRC */
	png.p[png.n / 2] ^= 0x40;
	assert_int_equal(cartoon_photo(png.p, png.n, NULL, &out), SJ_EINVAL);
	/* JPEG body corruption: decodes to something or fails, no crash */
	for (size_t i = jpeg_sof_end(&jpg); i < jpg.n; i += 97) {
		jpg.p[i] ^= 0xa5;
		if (cartoon_photo(jpg.p, jpg.n, NULL, &out) == SJ_OK)
			buf_free(&out);
	}
	gdFree(png.p);
	gdFree(jpg.p);
	gdFree(webp.p);
	gdFree(webpl.p);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_timing(void **state)
{
	static const char *names[] = {"semi-realistic", "flat-illustration"};
	struct enc e = photo_enc(1024, 1024, F_PNG);

	for (size_t i = 0; i < 2; i++) {
		struct buf out;
		double t0 = now_s(), dt;

		assert_int_equal(cartoon_photo(e.p, e.n, names[i], &out),
				 SJ_OK);
		dt = now_s() - t0;
		print_message("cartoonize 1024x1024 %s: %.3f s (%zu bytes)\n",
			      names[i], dt, out.len);
		assert_true(dt < 10.0);
		buf_free(&out);
	}
	gdFree(e.p);
}

/*
 * The portrait: a side x side JPEG of the picture's upper middle, the
 * same bytes for the same picture, the middle's mean colour reported, a
 * transparent picture flattened onto white, bad input refused.
 */
static void
test_portrait(void **state)
{
	gdImagePtr in = gdImageCreateTrueColor(300, 400), o;
	struct enc e;
	struct buf a, b;
	unsigned char rgb[3], rgb2[3];
	unsigned w, h;
	int p;

	(void)state;
	/* a tall picture: blue, with a yellow "face" in its upper middle */
	gdImageFilledRectangle(in, 0, 0, 299, 399, gdTrueColor(40, 60, 200));
	gdImageFilledRectangle(in, 100, 100, 199, 199,
			       gdTrueColor(250, 200, 40));
	e = encode(in, F_PNG);
	assert_int_equal(cartoon_portrait(e.p, e.n, 96, &a, rgb), SJ_OK);
	assert_int_equal(cartoon_portrait(e.p, e.n, 96, &b, rgb2), SJ_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_memory_equal(rgb, rgb2, 3);
	assert_true(img_sniff(a.data, a.len) == img_type_of("image/jpeg"));
	assert_true(img_dimensions(a.data, a.len, &w, &h));
	assert_int_equal(w, 96);
	assert_int_equal(h, 96);
	/* the square is 240 px from (30, 40): the yellow is in its middle */
	assert_true(rgb[0] > 200 && rgb[1] > 150 && rgb[2] < 100);
	o = gdImageCreateFromJpegPtr((int)a.len, a.data);
	assert_non_null(o);
	p = gdImageTrueColorPixel(o, 2, 2); /* a corner: blue */
	assert_true(gdTrueColorGetBlue(p) > 150 && gdTrueColorGetRed(p) < 100);
	gdImageDestroy(o);
	buf_free(&a);
	buf_free(&b);
	gdFree(e.p);
	/* transparent pixels become white */
	gdImageAlphaBlending(in, 0);
	gdImageSaveAlpha(in, 1);
	gdImageFilledRectangle(in, 0, 0, 299, 399,
			       gdTrueColorAlpha(0, 0, 0, gdAlphaTransparent));
	e = encode(in, F_PNG);
	assert_int_equal(cartoon_portrait(e.p, e.n, 32, &a, rgb), SJ_OK);
	assert_true(rgb[0] > 245 && rgb[1] > 245 && rgb[2] > 245);
	buf_free(&a);
	/* refused: a bad side, not an image */
	assert_int_equal(cartoon_portrait(e.p, e.n, 8, &a, rgb), SJ_EINVAL);
	assert_int_equal(cartoon_portrait("hello", 5, 32, &a, rgb), SJ_EINVAL);
	assert_null(a.data);
	gdFree(e.p);
	gdImageDestroy(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff),
	    cmocka_unit_test(test_dims_real),
	    cmocka_unit_test(test_dims_prefix),
	    cmocka_unit_test(test_dims_hostile),
	    cmocka_unit_test(test_dims_crafted),
	    cmocka_unit_test(test_toobig),
	    cmocka_unit_test(test_cartoon_basic),
	    cmocka_unit_test(test_styles),
	    cmocka_unit_test(test_large),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_timing),
	    cmocka_unit_test(test_portrait),
	};

	gdSetErrorMethod(quiet_gd);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
