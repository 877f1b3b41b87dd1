/*
 * Uploads: the full decoding and re-encoding of lib/image_gd.c on crafted
 * inputs (a valid image of each type, a 3-byte "JPEG", a truncated JPEG,
 * a PNG header followed by SVG, a PNG with a script after IEND, a header
 * claiming too many pixels, a photo turned by its EXIF orientation), and
 * the records of lib/upload.c against a real PostgreSQL (the three
 * quotas, the marking of an upload a job names, the sweep).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <gd.h>

#include "image_gd.h"
#include "media.h"
#include "testdb.h"
#include "upload.h"

#define MiB (1024 * 1024)

static struct cfg cfg;
static struct db *db;
static struct db *side;

/* A w x h truecolor picture: left half red, right half blue. */
static gdImagePtr
picture(int w, int h)
{
	gdImagePtr im = gdImageCreateTrueColor(w, h);

	assert_non_null(im);
	gdImageFilledRectangle(im, 0, 0, w / 2 - 1, h - 1,
			       gdTrueColor(230, 20, 20));
	gdImageFilledRectangle(im, w / 2, 0, w - 1, h - 1,
			       gdTrueColor(20, 20, 230));
	return im;
}

/* The picture encoded as ext ("png", "jpg", "webp") into a malloced b. */
static unsigned char *
encoded(const char *ext, int w, int h, size_t *n)
{
	gdImagePtr im = picture(w, h);
	unsigned char *copy;
	void *p;
	int size = 0;

	if (strcmp(ext, "png") == 0)
		p = gdImagePngPtr(im, &size);
	else if (strcmp(ext, "jpg") == 0)
		p = gdImageJpegPtr(im, &size, 90);
	else
		p = gdImageWebpPtrEx(im, &size, 90);
	gdImageDestroy(im);
	assert_non_null(p);
	copy = malloc((size_t)size + 64);
	assert_non_null(copy);
	memcpy(copy, p, (size_t)size);
	gdFree(p);
	*n = (size_t)size;
	return copy;
}

static const struct img_type *
type_of(const char *ext)
{
	return img_type_of(strcmp(ext, "png") == 0   ? "image/png"
			   : strcmp(ext, "jpg") == 0 ? "image/jpeg"
						     : "image/webp");
}

/* Decodes a stored copy to check it: its size, and that it is t. */
static gdImagePtr
reread(const struct buf *b, const struct img_type *t)
{
	assert_ptr_equal(img_sniff(b->data, b->len), t);
	if (strcmp(t->ext, "png") == 0)
		return gdImageCreateFromPngPtr((int)b->len, b->data);
	if (strcmp(t->ext, "jpg") == 0)
		return gdImageCreateFromJpegPtr((int)b->len, b->data);
	return gdImageCreateFromWebpPtr((int)b->len, b->data);
}

static void
test_valid_each_type(void **state)
{
	static const char *const exts[] = {"png", "jpg", "webp"};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		size_t n;
		unsigned char *in = encoded(exts[i], 40, 30, &n);
		const struct img_type *t = type_of(exts[i]);
		const char *why = "unset";
		struct buf out;
		gdImagePtr im;

		assert_int_equal(img_reencode(in, n, t, 4096, MiB, &out, &why),
				 SJ_OK);
		assert_null(why);
		im = reread(&out, t);
		assert_non_null(im);
		assert_int_equal(gdImageSX(im), 40);
		assert_int_equal(gdImageSY(im), 30);
		gdImageDestroy(im);
		buf_free(&out);
		free(in);
	}
}

static void
test_refused(const void *data, size_t n, const char *ctype, enum sj_err want)
{
	const char *why = NULL;
	struct buf out;

	assert_int_equal(
	    img_reencode(data, n, img_type_of(ctype), 1 << 24, MiB, &out, &why),
	    want);
	assert_non_null(why);
	assert_null(out.data);
}

static void
test_three_byte_jpeg(void **state)
{
	(void)state;
	test_refused("\xff\xd8\xff", 3, "image/jpeg", SJ_EINVAL);
}

static void
test_truncated_jpeg(void **state)
{
	size_t n;
	unsigned char *in = encoded("jpg", 200, 150, &n);

	(void)state;
	/* headers whole, entropy-coded data cut: lenient decoders grey it */
	test_refused(in, n * 2 / 3, "image/jpeg", SJ_EINVAL);
	/* cut inside the headers */
	test_refused(in, 40, "image/jpeg", SJ_EINVAL);
	free(in);
}

static void
test_png_then_svg(void **state)
{
	size_t n;
	unsigned char *in = encoded("png", 16, 16, &n);
	const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
			   "onload=\"alert(1)\"/>";
	unsigned char *fake = malloc(33 + sizeof(svg));

	(void)state;
	assert_non_null(fake);
	/* signature and IHDR (33 bytes), then SVG instead of pixels */
	memcpy(fake, in, 33);
	memcpy(fake + 33, svg, sizeof(svg));
	test_refused(fake, 33 + sizeof(svg), "image/png", SJ_EINVAL);
	free(fake);
	free(in);
}

/* A whole PNG with a script after IEND: stored without it. */
static void
test_png_polyglot_cleaned(void **state)
{
	size_t n;
	unsigned char *in = encoded("png", 16, 16, &n);
	const char tail[] = "<script>alert(1)</script>";
	const char *why = NULL;
	struct buf out;

	(void)state;
	memcpy(in + n, tail, sizeof(tail) - 1);
	assert_int_equal(img_reencode(in, n + sizeof(tail) - 1,
				      img_type_of("image/png"), 4096, MiB, &out,
				      &why),
			 SJ_OK);
	assert_null(memmem(out.data, out.len, "<script", 7));
	buf_free(&out);
	free(in);
}

static void
test_type_mismatch_and_bomb(void **state)
{
	size_t n;
	unsigned char *in = encoded("png", 64, 64, &n);

	(void)state;
	test_refused(in, n, "image/jpeg", SJ_EINVAL);
	/* 64 x 64 is over a cap of 4095 pixels: refused on the header */
	{
		const char *why = NULL;
		struct buf out;

		assert_int_equal(img_reencode(in, n, img_type_of("image/png"),
					      4095, MiB, &out, &why),
				 SJ_ETOOBIG);
		assert_string_equal(why, "The image has too many pixels");
	}
	/* a header claiming 100000 x 100000 */
	in[16] = 0, in[17] = 1, in[18] = 0x86, in[19] = 0xa0;
	in[20] = 0, in[21] = 1, in[22] = 0x86, in[23] = 0xa0;
	test_refused(in, n, "image/png", SJ_ETOOBIG);
	free(in);
}

static void
test_output_cap(void **state)
{
	size_t n;
	unsigned char *in = encoded("png", 64, 64, &n);

	const char *why = NULL;
	struct buf out;

	(void)state;
	assert_int_equal(
	    img_reencode(in, n, img_type_of("image/png"), 4096, 16, &out, &why),
	    SJ_ETOOBIG);
	assert_string_equal(
	    why, "The image is too large once re-encoded; send a smaller one");
	assert_null(out.data);
	free(in);
}

/* A JPEG with an APP1 Exif segment saying orientation o. */
static unsigned char *
jpeg_oriented(int o, int w, int h, size_t *n)
{
	/* "Exif\0\0", then little-endian TIFF: IFD0 at 8 with one entry */
	static const unsigned char app1[] = {
	    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0,    0,    'I', 'I',
	    42,	  0,	8,    0,    0,	 0,   1,   0,	0x12, 0x01, 3,	 0,
	    1,	  0,	0,    0,    0,	 0,   0,   0,	0,    0,    0,	 0};
	size_t m;
	unsigned char *j = encoded("jpg", w, h, &m);
	unsigned char *out = malloc(m + sizeof(app1));

	assert_non_null(out);
	memcpy(out, j, 2);
	memcpy(out + 2, app1, sizeof(app1));
	out[2 + 28] = (unsigned char)o; /* the SHORT value */
	memcpy(out + 2 + sizeof(app1), j + 2, m - 2);
	*n = m + sizeof(app1);
	free(j);
	return out;
}

static void
test_exif_orientation(void **state)
{
	size_t n;
	unsigned char *in = jpeg_oriented(6, 64, 32, &n);
	const char *why = NULL;
	struct buf out;
	gdImagePtr im;
	int top, bottom;

	(void)state;
	assert_int_equal(img_jpeg_orientation(in, n), 6);
	assert_int_equal(img_reencode(in, n, img_type_of("image/jpeg"), 1 << 20,
				      MiB, &out, &why),
			 SJ_OK);
	assert_int_equal(img_jpeg_orientation(out.data, out.len), 1);
	im = reread(&out, img_type_of("image/jpeg"));
	assert_non_null(im);
	/* turned clockwise: 32 x 64, the red left half now on top */
	assert_int_equal(gdImageSX(im), 32);
	assert_int_equal(gdImageSY(im), 64);
	top = gdImageTrueColorPixel(im, 16, 8);
	bottom = gdImageTrueColorPixel(im, 16, 56);
	assert_true(gdTrueColorGetRed(top) > 150);
	assert_true(gdTrueColorGetBlue(top) < 100);
	assert_true(gdTrueColorGetBlue(bottom) > 150);
	gdImageDestroy(im);
	buf_free(&out);
	free(in);
	in = jpeg_oriented(8, 64, 32, &n);
	assert_int_equal(img_jpeg_orientation(in, n), 8);
	free(in);
	in = encoded("jpg", 8, 8, &n);
	assert_int_equal(img_jpeg_orientation(in, n), 1);
	free(in);
}

/* ---- records ---- */

static char media[64];

static int
group_setup(void **state)
{
	(void)state;
	snprintf(media, sizeof(media), "/tmp/sj-test-upload-XXXXXX");
	if (mkdtemp(media) == NULL)
		return -1;
	return testdb_open(&cfg, &db, &side);
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	testdb_close(&cfg, db, side);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", media);
	return system(cmd) == 0 ? 0 : -1;
}

static int
fresh(void **state)
{
	(void)state;
	testdb_sql(side, "TRUNCATE uploads, upload_usage, upload_uses, jobs "
			 "CASCADE");
	cfg.upload_quota_user_bytes = 1000;
	cfg.upload_quota_client_bytes = 300;
	cfg.upload_quota_anon_bytes = 500;
	cfg.upload_orphan_hours = 24;
	return 0;
}

/* A 32-hex name from n. */
static const char *
name_of(int n, char out[48])
{
	snprintf(out, 48, "%032x.png", n);
	return out;
}

static enum upload_verdict
admit(int n, int64_t user, const char *client, int64_t bytes)
{
	enum upload_verdict v;
	char name[48];

	assert_int_equal(
	    upload_admit(db, &cfg, name_of(n, name), user, client, bytes, &v),
	    SJ_OK);
	return v;
}

static void
test_quotas(void **state)
{
	(void)state;
	assert_int_equal(admit(1, 7, NULL, 600), UPLOAD_OK);
	assert_int_equal(admit(2, 7, NULL, 401), UPLOAD_OVER_USER);
	assert_int_equal(admit(3, 7, NULL, 400), UPLOAD_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT bytes FROM upload_usage WHERE owner = "
			    "'user:7'"),
	    1000);
	/* per client, then all anonymous clients together */
	assert_int_equal(admit(4, 0, "10.0.0.1", 200), UPLOAD_OK);
	assert_int_equal(admit(5, 0, "10.0.0.1", 101), UPLOAD_OVER_CLIENT);
	assert_int_equal(admit(6, 0, "10.0.0.2", 300), UPLOAD_OK);
	assert_int_equal(admit(7, 0, "10.0.0.3", 1), UPLOAD_OVER_ANON);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM uploads"), 4);
	/* deleting a row gives its bytes back */
	testdb_sql(side, "DELETE FROM uploads WHERE client = '10.0.0.2'");
	assert_int_equal(admit(7, 0, "10.0.0.3", 250), UPLOAD_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT bytes FROM upload_usage WHERE owner = "
			    "'anonymous'"),
	    450);
	assert_int_equal(
	    upload_forget(db, "00000000000000000000000000000007.png"), SJ_OK);
	assert_int_equal(
	    testdb_ll(side, "SELECT bytes FROM upload_usage WHERE owner = "
			    "'client:10.0.0.3'"),
	    0);
}

/* Writes a file for upload n into the media folder. */
static void
put_file(int n)
{
	char name[48];

	assert_int_equal(media_write(media, name_of(n, name), "x", 1), SJ_OK);
}

static bool
file_exists(int n)
{
	char name[48];

	return media_exists(media, name_of(n, name));
}

static void
test_sweep(void **state)
{
	long long removed = -1;

	(void)state;
	free(cfg.media_dir);
	cfg.media_dir = strdup(media); /* cfg_free frees it */
	assert_non_null(cfg.media_dir);
	for (int n = 11; n <= 14; n++) {
		assert_int_equal(admit(n, 0, "10.0.0.9", 10), UPLOAD_OK);
		put_file(n);
	}
	/* 11: old, unused; 12: old, named by a job; 13: fresh; 14: old,
	 * named by a job since pruned */
	testdb_sql(side, "UPDATE uploads SET created_at = now() - interval "
			 "'25 hours' WHERE name <> "
			 "'0000000000000000000000000000000d.png'");
	testdb_sql(
	    side, "INSERT INTO jobs (id, type, max_attempts, timeout_s, input) "
		  "VALUES ('job_1_keep', 'cartoonize', 1, 60, "
		  "'{\"prompt\":\"p\",\"imageUrl\":\"http://x/media/"
		  "0000000000000000000000000000000c.png\"}'), "
		  "('job_1_gone', 'storybook', 1, 60, "
		  "'{\"characterImage\":\"/media/"
		  "0000000000000000000000000000000e.png\"}')");
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM upload_uses"),
			 2);
	testdb_sql(side, "DELETE FROM jobs WHERE id = 'job_1_gone'");
	/* 14 was used just now: kept for the grace period after its use */
	assert_int_equal(upload_sweep(db, &cfg, &removed), SJ_OK);
	assert_int_equal(removed, 1);
	assert_false(file_exists(11));
	assert_true(file_exists(12));
	assert_true(file_exists(13));
	assert_true(file_exists(14));
	testdb_sql(side, "UPDATE uploads SET used_at = now() - interval '25 "
			 "hours' WHERE used_at IS NOT NULL");
	assert_int_equal(upload_sweep(db, &cfg, &removed), SJ_OK);
	assert_int_equal(removed, 1);
	assert_false(file_exists(14));
	assert_true(file_exists(12));
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM uploads"), 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT bytes FROM upload_usage WHERE owner = "
			    "'client:10.0.0.9'"),
	    20);
}

/*
 * A job names an upload by any URL ending in its name (an S3 public base
 * such as a CDN's, sql/013), not only /media/<name>; a URL whose last
 * segment is not an upload's name, or only contains one, names nothing.
 */
static void
test_uses_any_base(void **state)
{
	(void)state;
	for (int n = 21; n <= 23; n++)
		assert_int_equal(admit(n, 0, "10.0.0.8", 10), UPLOAD_OK);
	testdb_sql(
	    side, "INSERT INTO jobs (id, type, max_attempts, timeout_s, input) "
		  "VALUES ('job_1_cdn', 'cartoonize', 1, 60, "
		  "'{\"prompt\":\"p\",\"imageUrl\":\"https://cdn.example/"
		  "00000000000000000000000000000015.png\"}'), "
		  "('job_1_bucket', 'storybook', 1, 60, "
		  "'{\"characterImage\":\"https://b.example/photos/"
		  "00000000000000000000000000000016.png\"}'), "
		  "('job_1_not', 'cartoonize', 1, 60, "
		  "'{\"prompt\":\"p\",\"imageUrl\":\"https://x.example/"
		  "00000000000000000000000000000017.png/other.png\"}')");
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM upload_uses WHERE upload "
			    "IN ('00000000000000000000000000000015.png', "
			    "'00000000000000000000000000000016.png')"),
	    2);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM upload_uses"),
			 2);
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM uploads WHERE used_at IS "
			    "NOT NULL"),
	    2);
	/* each counts its one use (sql/015), and gives it back with its job */
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM uploads WHERE uses = 1"), 2);
	testdb_sql(side, "DELETE FROM jobs WHERE id = 'job_1_cdn'");
	assert_int_equal(
	    testdb_ll(side, "SELECT count(*) FROM uploads WHERE uses = 1"), 1);
}

/*
 * A file the sweep cannot remove stops it with its row kept (nothing is
 * left in the store unrecorded); once it can, the next sweep takes it and
 * the rest.  Here the "file" is a directory, which unlink refuses.
 */
static void
test_sweep_stops_on_failure(void **state)
{
	long long removed = -1;
	char name[48], path[512];

	(void)state;
	free(cfg.media_dir);
	cfg.media_dir = strdup(media);
	assert_non_null(cfg.media_dir);
	for (int n = 31; n <= 33; n++) {
		assert_int_equal(admit(n, 0, "10.0.0.7", 10), UPLOAD_OK);
		put_file(n);
	}
	testdb_sql(side, "UPDATE uploads SET created_at = now() - interval "
			 "'25 hours'");
	/* the first taken (31: the same age, the lowest name) cannot be
	 * removed */
	snprintf(path, sizeof(path), "%s/%s", media, name_of(31, name));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(upload_sweep(db, &cfg, &removed), SJ_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM uploads"), 3);
	assert_true(file_exists(32));
	assert_true(file_exists(33));
	/* removable again: all three go */
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(upload_sweep(db, &cfg, &removed), SJ_OK);
	assert_int_equal(removed, 3);
	assert_int_equal(testdb_ll(side, "SELECT count(*) FROM uploads"), 0);
	assert_false(file_exists(32));
	assert_false(file_exists(33));
}

int
main(void)
{
	const struct CMUnitTest decode[] = {
	    cmocka_unit_test(test_valid_each_type),
	    cmocka_unit_test(test_three_byte_jpeg),
	    cmocka_unit_test(test_truncated_jpeg),
	    cmocka_unit_test(test_png_then_svg),
	    cmocka_unit_test(test_png_polyglot_cleaned),
	    cmocka_unit_test(test_type_mismatch_and_bomb),
	    cmocka_unit_test(test_output_cap),
	    cmocka_unit_test(test_exif_orientation),
	};
	const struct CMUnitTest records[] = {
	    cmocka_unit_test_setup(test_quotas, fresh),
	    cmocka_unit_test_setup(test_sweep, fresh),
	    cmocka_unit_test_setup(test_uses_any_base, fresh),
	    cmocka_unit_test_setup(test_sweep_stops_on_failure, fresh),
	};
	int rc = cmocka_run_group_tests_name("decode", decode, NULL, NULL);

	return rc | cmocka_run_group_tests_name("records", records, group_setup,
						group_teardown);
}
