/* check_image.c: the image library against Pillow's references, bad files, IDX, list and folder inputs, records. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "libcommon/idx.h"
#include "libcommon/image.h"
#include "libcommon/image_impl.h"
#include "libcommon/imgprep.h"
#include "libcommon/inputs.h"
#include "libcommon/record.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

/* tests/data/NAME (run.sh starts the suites in the repository root; ANET_TESTS overrides). */
static char *data(const char *name)
{
	const char *t = getenv("ANET_TESTS");
	return xasprintf("%s/data/%s", t && *t ? t : "tests", name);
}

static PrepOptions options(int size, int channels)
{
	PrepOptions o;
	prep_options_init(&o);
	o.size = size;
	o.channels = channels;
	return o;
}

/* Prepares tests/data/NAME; fails the test if that fails. */
static Image prepare(ImageCodec *c, const char *name, const PrepOptions *o, PrepNotes *n)
{
	char *p = data(name), why[256];
	Image im;
	PrepNotes local;
	int rc = image_prepare_file(c, p, o, &im, n ? n : &local, why, sizeof why);
	ck_assert_msg(rc == 0, "%s: %s", p, why);
	free(p);
	return im;
}

/* A reference picture at its own size and channel count. */
static Image load(ImageCodec *c, const char *name, int channels)
{
	PrepOptions o = options(0, channels);
	return prepare(c, name, &o, NULL);
}

/* Mean absolute difference in grey levels (and the largest), printed for the log. */
static double mad(const char *what, const Image *a, const Image *b, int *maxdiff)
{
	ck_assert_int_eq(a->width, b->width);
	ck_assert_int_eq(a->height, b->height);
	ck_assert_int_eq(a->channels, b->channels);
	size_t n = (size_t)a->width * a->height * a->channels;
	double sum = 0;
	int mx = 0;
	for (size_t i = 0; i < n; i++) {
		int d = abs((int)a->pixels[i] - (int)b->pixels[i]);
		sum += d;
		if (d > mx)
			mx = d;
	}
	double m = sum / (double)n;
	fprintf(stderr, "  %-44s mean abs diff %.5f grey levels, max %d\n", what, m, mx);
	if (maxdiff)
		*maxdiff = mx;
	return m;
}

/* ------------------------------------------------------------------------------------------
 * resampling against Pillow */

START_TEST(geometry)
{
	int rw, rh, x0, y0;
	image_crop_geometry(500, 375, 256, &rw, &rh, &x0, &y0);
	ck_assert_int_eq(rw, 341); /* 500 * 256 / 375 = 341.33 */
	ck_assert_int_eq(rh, 256);
	ck_assert_int_eq(x0, 42);
	ck_assert_int_eq(y0, 0);
	image_crop_geometry(333, 500, 256, &rw, &rh, &x0, &y0);
	ck_assert_int_eq(rw, 256);
	ck_assert_int_eq(rh, 384); /* 500 * 256 / 333 = 384.38 */
	ck_assert_int_eq(y0, 64);
	image_crop_geometry(28, 28, 64, &rw, &rh, &x0, &y0);
	ck_assert_int_eq(rw, 64);
	ck_assert_int_eq(rh, 64);
	ck_assert_int_eq(x0 + y0, 0);
	image_crop_geometry(1000, 1, 256, &rw, &rh, &x0, &y0); /* extreme: 256000 wide */
	ck_assert_int_eq(rw, 256000);
	ck_assert_int_eq(x0, (256000 - 256) / 2);
}
END_TEST

/* The resampler alone: the same decoded pixels (a PNG) through Pillow and through anet. */
START_TEST(resample_matches_pillow)
{
	static const struct {
		const char *filter;
		int size;
	} cases[] = { { "triangle", 96 }, { "cubic", 96 }, { "lanczos3", 96 }, { "lanczos3", 144 } };
	ImageCodec *c = codec_new();
	c->avx2 = _i; /* the AVX2 loops where the CPU has them, and the SSE2 ones everywhere */
	if (_i && !resample_avx2_available()) {
		fprintf(stderr, "  (no AVX2 on this CPU: its loops are not tested)\n");
		codec_free(c);
		return;
	}
	fprintf(stderr, "  %s loops:\n", _i ? "AVX2" : "baseline");
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		PrepOptions o = options(cases[i].size, 3);
		ck_assert_int_eq(resize_filter_parse(cases[i].filter, &o.filter), 0);
		Image got = prepare(c, "photo-horses.png", &o, NULL);
		char ref[64], what[96];
		snprintf(ref, sizeof ref, "ref/photo-horses.%s.%d.png", cases[i].filter, cases[i].size);
		Image want = load(c, ref, 3);
		snprintf(what, sizeof what, "160x120 PNG -> %d, %s", cases[i].size, cases[i].filter);
		int mx;
		/* the arithmetic is Pillow's; float sums differ from its integer ones by one where a
		 * result lies within ~1e-5 of a rounding boundary: rarely for irrational weights,
		 * for ~3% of the values with the triangle filter's 5/12 and 7/12 at this 5:4 ratio */
		ck_assert_double_le(mad(what, &got, &want, &mx), strcmp(cases[i].filter, "triangle") ? 0.01 : 0.05);
		ck_assert_int_le(mx, 1);
		image_free(&got);
		image_free(&want);
	}
	codec_free(c);
}
END_TEST

/* A JPEG decoded in full (as Pillow does) then resampled: the same as Pillow. */
START_TEST(jpeg_full_decode_matches_pillow)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(120, 3);
	o.dct = DCT_SCALE_OFF;
	Image got = prepare(c, "photo-giraffe.jpg", &o, NULL), want = load(c, "ref/photo-giraffe.lanczos3.120.png", 3);
	int mx;
	ck_assert_double_le(mad("180x240 JPEG -> 120, lanczos3, no DCT scaling", &got, &want, &mx), 0.01);
	ck_assert_int_le(mx, 1);
	image_free(&got);
	image_free(&want);
	codec_free(c);
}
END_TEST

/* One channel takes its own resampling loops. */
START_TEST(gray_resample_matches_pillow)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(96, 1);
	Image got = prepare(c, "gray.jpg", &o, NULL), want = load(c, "ref/gray.lanczos3.96.png", 1);
	int mx;
	ck_assert_double_le(mad("160x120 gray JPEG -> 96, lanczos3", &got, &want, &mx), 0.01);
	ck_assert_int_le(mx, 1);
	image_free(&got);
	image_free(&want);
	codec_free(c);
}
END_TEST

/* The default pipeline reduces in the DCT domain first: close to Pillow's full decode. */
START_TEST(jpeg_dct_scaled_close_to_pillow)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(48, 3);
	PrepNotes n;
	Image got = prepare(c, "photo-dog.jpg", &o, &n), want = load(c, "ref/photo-dog.lanczos3.48.png", 3);
	ck_assert_int_eq(n.dct_num * 2, n.dct_den); /* 320x240 -> 160x120 in the DCT domain */
	ck_assert_double_le(mad("320x240 JPEG -> 48, lanczos3, DCT 1/2", &got, &want, NULL), 1.0);
	image_free(&got);
	image_free(&want);
	/* no DCT reduction applies (a reduction would leave less than 2 x 100): exact again */
	o = options(100, 3);
	got = prepare(c, "photo-flower.jpg", &o, &n);
	want = load(c, "ref/photo-flower.lanczos3.100.png", 3);
	ck_assert_int_eq(n.dct_den, 1);
	ck_assert_double_le(mad("320x240 JPEG -> 100, lanczos3", &got, &want, NULL), 0.01);
	image_free(&got);
	image_free(&want);
	codec_free(c);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * colour spaces and formats */

static void check_cmyk(const char *name, int ycck, double limit)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(0, 3);
	PrepNotes n;
	Image got = prepare(c, name, &o, &n), want = load(c, "cmyk-source.png", 3);
	ck_assert_int_eq(n.cmyk, 1);
	ck_assert_int_eq(n.ycck, ycck);
	ck_assert_int_eq(n.adobe_inverted, 1);
	char what[64];
	snprintf(what, sizeof what, "%s against its RGB original", name);
	/* JPEG loss only; reading Adobe's inverted CMYK the other way round is off by ~100 */
	ck_assert_double_le(mad(what, &got, &want, NULL), limit);
	image_free(&got);
	image_free(&want);
	codec_free(c);
}

START_TEST(cmyk_becomes_rgb) { check_cmyk("cmyk.jpg", 0, 2.0); }
END_TEST

START_TEST(ycck_becomes_rgb) { check_cmyk("ycck.jpg", 1, 4.0); }
END_TEST

START_TEST(gray_jpeg_to_rgb)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(64, 3);
	PrepNotes n;
	Image im = prepare(c, "gray.jpg", &o, &n);
	ck_assert_int_eq(n.gray_to_rgb, 1);
	ck_assert_int_eq(im.channels, 3);
	for (int i = 0; i < 64 * 64; i++) {
		ck_assert_int_eq(im.pixels[3 * i], im.pixels[3 * i + 1]);
		ck_assert_int_eq(im.pixels[3 * i], im.pixels[3 * i + 2]);
	}
	o.channels = 1;
	Image g = prepare(c, "gray.jpg", &o, &n);
	ck_assert_int_eq(n.gray_to_rgb, 0);
	for (int i = 0; i < 64 * 64; i++)
		ck_assert_int_eq(g.pixels[i], im.pixels[3 * i]);
	image_free(&im);
	image_free(&g);
	codec_free(c);
}
END_TEST

/* Colour to one channel is luma: libjpeg's Y plane for a JPEG, ITU-R 601 weights for a PNG. */
START_TEST(colour_to_luma)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(0, 1);
	PrepNotes n;
	Image y = prepare(c, "pnm-ref.png", &o, &n), rgb = load(c, "pnm-ref.png", 3);
	ck_assert_int_eq(n.color_to_gray, 1);
	ck_assert_int_eq(y.channels, 1);
	for (int i = 0; i < y.width * y.height; i++) {
		double want = 0.299 * rgb.pixels[3 * i] + 0.587 * rgb.pixels[3 * i + 1] + 0.114 * rgb.pixels[3 * i + 2];
		ck_assert_double_le(fabs(y.pixels[i] - want), 0.51);
	}
	image_free(&y);
	image_free(&rgb);
	Image yj = prepare(c, "photo-dog.jpg", &o, &n);
	ck_assert_int_eq(yj.channels, 1);
	ck_assert_int_eq(n.color_to_gray, 1);
	image_free(&yj);
	codec_free(c);
}
END_TEST

/* PNG colour types to 8-bit RGB or gray, against Pillow's (or numpy's) conversions. */
START_TEST(png_colour_types)
{
	static const struct {
		const char *file, *ref;
		int channels;
	} cases[] = {
		{ "png-palette.png", "ref/png-palette.png", 3 },   { "png-gray16.png", "ref/png-gray16.png", 1 },
		{ "png-rgb16.png", "ref/png-rgb16.png", 3 },       { "png-rgba.png", "ref/png-rgba.png", 3 },
		{ "png-gray-alpha.png", "ref/png-gray-alpha.png", 1 },
	};
	ImageCodec *c = codec_new();
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		Image got = load(c, cases[i].file, cases[i].channels), want = load(c, cases[i].ref, cases[i].channels);
		int mx;
		mad(cases[i].file, &got, &want, &mx);
		ck_assert_msg(mx == 0, "%s differs from its reference", cases[i].file);
		image_free(&got);
		image_free(&want);
	}
	codec_free(c);
}
END_TEST

START_TEST(pnm_forms)
{
	ImageCodec *c = codec_new();
	Image ref = load(c, "pnm-ref.png", 3), refy = load(c, "pnm-ref.png", 1);
	Image p6 = load(c, "pnm-p6.ppm", 3), p3 = load(c, "pnm-p3.ppm", 3), p5 = load(c, "pnm-p5.pgm", 1);
	int mx;
	mad("P6", &p6, &ref, &mx);
	ck_assert_int_eq(mx, 0);
	mad("P3 (plain)", &p3, &ref, &mx);
	ck_assert_int_eq(mx, 0);
	mad("P5 against luma of the PNG", &p5, &refy, &mx);
	ck_assert_int_le(mx, 1); /* Pillow's L conversion rounds its own way */
	/* a plain header promising more samples than its bytes can hold is refused from the
	 * header, before 2.7 GB of samples are set aside (seen reviewing the readers for tests/fuzz/) */
	static const char big[] = "P3 30000 30000 255\n1 2 3\n";
	PrepOptions o = options(16, 3);
	Image im;
	char why[256] = "";
	o.max_pixels = 1ull << 30;
	ck_assert_int_eq(image_prepare_buffer(c, (const uint8_t *)big, sizeof big - 1, NULL, &o, &im, NULL, why, sizeof why),
			 -1);
	ck_assert_msg(strstr(why, "truncated plain PNM (7 bytes cannot hold 2700000000 samples)") != NULL, "%s", why);
	Image *all[] = { &ref, &refy, &p6, &p3, &p5 };
	for (size_t i = 0; i < ARRAY_LEN(all); i++)
		image_free(all[i]);
	codec_free(c);
}
END_TEST

START_TEST(png_under_jpeg_name)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(32, 3);
	PrepNotes n;
	Image im = prepare(c, "png-named.JPEG", &o, &n);
	ck_assert_int_eq(n.png_disguised_as_jpeg, 1);
	ck_assert_str_eq(n.format, "PNG");
	image_free(&im);
	im = prepare(c, "photo-horses.png", &o, &n);
	ck_assert_int_eq(n.png_disguised_as_jpeg, 0);
	image_free(&im);
	codec_free(c);
}
END_TEST

/* The eight EXIF orientations on a 3x2 image "abc/def" (EXIF 2.3's table; PIL's
 * exif_transpose agrees on all eight, checked when this was written). */
START_TEST(orientation_turns_upright)
{
	static const char *upright[9] = { NULL, "abcdef", "cbafed", "fedcba", "defabc", "adbecf", "daebfc", "fcebda", "cfbead" };
	ImageCodec *c = codec_new();
	uint8_t px[6] = { 'a', 'b', 'c', 'd', 'e', 'f' };
	for (int o = 1; o <= 8; o++) {
		Image im = { .width = 3, .height = 2, .channels = 1, .pixels = px };
		image_orient(c, &im, o);
		ck_assert_int_eq(im.width, o >= 5 ? 2 : 3);
		ck_assert_int_eq(im.height, o >= 5 ? 3 : 2);
		ck_assert_msg(memcmp(im.pixels, upright[o], 6) == 0, "orientation %d: %.6s, expected %s", o, (char *)im.pixels,
			      upright[o]);
	}
	codec_free(c);
}
END_TEST

/* A TIFF block: byte order, an IFD of two entries (Make, then Orientation of the given type,
 * count and value) at offset ifd; returns its length. */
static size_t tiff_block(uint8_t *t, int le, uint32_t ifd, unsigned type, uint32_t count, unsigned value)
{
	memset(t, 0, 64);
#define P16(at, v) (le ? (t[at] = (uint8_t)(v), t[(at) + 1] = (uint8_t)((v) >> 8)) : (t[at] = (uint8_t)((v) >> 8), t[(at) + 1] = (uint8_t)(v)))
#define P32(at, v) (le ? (P16(at, (v) & 0xFFFF), P16((at) + 2, (v) >> 16)) : (P16(at, (v) >> 16), P16((at) + 2, (v) & 0xFFFF)))
	t[0] = t[1] = le ? 'I' : 'M';
	P16(2, 42);
	P32(4, ifd);
	P16(ifd, 2);
	P16(ifd + 2, 0x010F);
	P16(ifd + 4, 2);
	P32(ifd + 6, 4);
	P16(ifd + 14, 0x0112);
	P16(ifd + 16, type);
	P32(ifd + 18, count);
	if (type == 4 || type == 5) /* a LONG, or a RATIONAL's offset */
		P32(ifd + 22, value);
	else
		P16(ifd + 22, value);
#undef P16
#undef P32
	return ifd + 26;
}

START_TEST(exif_orientation_tag)
{
	uint8_t t[64];
	for (int le = 0; le < 2; le++) {
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 3, 1, 6)), 6);
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 12, 3, 1, 8)), 8);
		size_t n = tiff_block(t, le, 8, 3, 1, 6);
		ck_assert_int_eq(exif_orientation(t, n - 1), 0);               /* the entry cut short */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 4, 1, 6)), 6); /* a LONG, as PIL reads it */
		/* PIL takes the first value of any numeric type */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 8, 1, 6)), 6); /* an SSHORT */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 3, 2, 6)), 6); /* two values */
		n = tiff_block(t, le, 8, 5, 1, 40); /* a RATIONAL, 12/2, after the IFD */
		t[le ? 40 : 43] = 12;
		t[le ? 44 : 47] = 2;
		ck_assert_int_eq(exif_orientation(t, 48), 6);
		ck_assert_int_eq(exif_orientation(t, 47), 0); /* its value cut short: passed over */
		/* a tag that holds no orientation: -1, which keeps XMP from deciding */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 3, 1, 9)), -1); /* no such orientation */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 3, 1, 0)), -1);
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 1, 1, 6)), -1); /* a BYTE: bytes to PIL */
		/* an entry PIL does not read (no values, an unknown type) is as if absent */
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 3, 0, 6)), 0);
		ck_assert_int_eq(exif_orientation(t, tiff_block(t, le, 8, 99, 1, 6)), 0);
		/* one more "Exif\0\0" in front, which PIL drops */
		uint8_t x[70];
		n = tiff_block(t, le, 8, 3, 1, 6);
		memcpy(x, "Exif\0\0", 6);
		memcpy(x + 6, t, n);
		ck_assert_int_eq(exif_orientation(x, n + 6), 6);
		tiff_block(t, le, 8, 3, 1, 6);
		t[le ? 4 : 7] = 200; /* the IFD beyond the block */
		ck_assert_int_eq(exif_orientation(t, 34), 0);
	}
	memcpy(t, "XX", 2);
	ck_assert_int_eq(exif_orientation(t, 34), 0);
}
END_TEST

#define XMP(o) "<x:xmpmeta><rdf:Description xmlns:tiff=\"http://ns.adobe.com/tiff/1.0/\" " o "/></x:xmpmeta>"

/* XMP's tiff:Orientation as PIL's getexif reads it: the first one written as an attribute or an
 * element, one digit */
START_TEST(xmp_orientation_tag)
{
	static const struct { const char *xmp; int want; } cases[] = {
		{ XMP("tiff:Orientation=\"6\""), 6 },
		{ "<tiff:Orientation>8</tiff:Orientation>", 8 },
		{ "<tiff:Orientation>6", 6 },                           /* cut after the digit */
		{ "tiff:Orientation=\"9\"", -1 },                        /* no such orientation */
		{ "tiff:Orientation=\"0\"", -1 },
		{ "tiff:Orientation='6'", 0 },                            /* not a form PIL reads */
		{ "tiff:Orientation = \"6\"", 0 },
		{ "tiff:Orientation=\"x\" tiff:Orientation=\"3\"", 3 }, /* the first that reads */
		{ "tiff:Orientation=\"", 0 },                             /* cut */
		{ "tiff:Orientation", 0 },
		{ "exif:Orientation=\"6\"", 0 },
		{ "", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		ck_assert_msg(xmp_orientation((const uint8_t *)cases[i].xmp, strlen(cases[i].xmp)) == cases[i].want,
			      "%s: %d, expected %d", cases[i].xmp,
			      xmp_orientation((const uint8_t *)cases[i].xmp, strlen(cases[i].xmp)), cases[i].want);
	/* the digit past the length given is not read */
	ck_assert_int_eq(xmp_orientation((const uint8_t *)"tiff:Orientation>6", 17), 0);
}
END_TEST

static int raw_text(const char *s)
{
	return raw_profile_orientation((const uint8_t *)s, strlen(s));
}

/* ImageMagick's text profile: three header lines, then the EXIF block in hex lines, with or
 * without "Exif\0\0" */
START_TEST(raw_profile_orientation_tag)
{
	uint8_t t[64];
	size_t n = tiff_block(t, 1, 8, 3, 1, 6);
	char text[512], *p = text;
	p += sprintf(p, "\nexif\n%8zu\n", n + 6);
	for (size_t i = 0; i < 6; i++)
		p += sprintf(p, "%02x", (unsigned)"Exif\0\0"[i]);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, i % 36 == 0 ? "\n%02X" : "%02X", t[i]);
	strcpy(p, "\n");
	ck_assert_int_eq(raw_text(text), 6);
	/* the text is len bytes: a NUL in it is no hex, as to PIL's bytes.fromhex */
	ck_assert_int_eq(raw_profile_orientation((const uint8_t *)text, strlen(text) + 1), 0);
	char *hex = strchr(strchr(strchr(text, '\n') + 1, '\n') + 1, '\n') + 1;
	ck_assert_int_eq(strncmp(hex, "457869660000", 12), 0);
	memmove(hex, hex + 12, strlen(hex + 12) + 1); /* without "Exif\0\0" */
	ck_assert_int_eq(raw_text(text), 6);
	hex[3] = 'g'; /* not hex: nothing, as PIL fails there */
	ck_assert_int_eq(raw_text(text), 0);
	ck_assert_int_eq(raw_text("\nexif\n"), 0);
	ck_assert_int_eq(raw_text(""), 0);
	ck_assert_int_eq(raw_text("\nexif\n 3\nabc"), 0); /* an odd digit count */
}
END_TEST

/* A JPEG with an APP1 Exif segment inserted after SOI: noted always, turned on request, and the
 * same pixels as the plain JPEG turned by image_orient. */
START_TEST(exif_jpeg_turned_on_request)
{
	ImageCodec *c = codec_new();
	Image src = { .width = 40, .height = 24, .channels = 3, .pixels = xmalloc(40 * 24 * 3) };
	for (int i = 0; i < 40 * 24 * 3; i++)
		src.pixels[i] = (uint8_t)(i * 7 % 251);
	uint8_t *jpg;
	size_t len;
	char why[256];
	ck_assert_int_eq(image_encode_jpeg(c, &src, 95, &jpg, &len, why, sizeof why), 0);
	uint8_t tiff[64];
	size_t tn = tiff_block(tiff, 0, 8, 3, 1, 8), seg = 2 + 6 + tn;
	uint8_t *buf = xmalloc(len + 2 + seg);
	memcpy(buf, jpg, 2);
	buf[2] = 0xFF;
	buf[3] = 0xE1;
	buf[4] = (uint8_t)(seg >> 8);
	buf[5] = (uint8_t)seg;
	memcpy(buf + 6, "Exif\0\0", 6);
	memcpy(buf + 12, tiff, tn);
	memcpy(buf + 12 + tn, jpg + 2, len - 2);
	size_t blen = len + 2 + seg;

	PrepOptions o = options(0, 3);
	PrepNotes n;
	Image plain, kept, turned;
	ck_assert_int_eq(image_prepare_buffer(c, jpg, len, "a.jpg", &o, &plain, &n, why, sizeof why), 0);
	ck_assert_int_eq(n.orientation, 0);
	ck_assert_int_eq(image_prepare_buffer(c, buf, blen, "a.jpg", &o, &kept, &n, why, sizeof why), 0);
	ck_assert_int_eq(n.orientation, 8);
	ck_assert_int_eq(n.turned, 0);
	ck_assert_int_eq(memcmp(kept.pixels, plain.pixels, 40 * 24 * 3), 0);
	o.exif_orientation = 1;
	ck_assert_int_eq(image_prepare_buffer(c, buf, blen, "a.jpg", &o, &turned, &n, why, sizeof why), 0);
	ck_assert_int_eq(n.turned, 1);
	ck_assert_int_eq(turned.width, 24);
	ck_assert_int_eq(turned.height, 40);
	Image want = plain;
	image_orient(c, &want, 8);
	ck_assert_int_eq(memcmp(turned.pixels, want.pixels, 40 * 24 * 3), 0);
	/* the file cut inside the Exif segment: the segment cut with it, the tag found only when
	 * whole; and a length field claiming more than the file holds */
	for (size_t cut = 0; cut <= 12 + tn; cut++) {
		size_t got;
		const uint8_t *found = jpeg_segment(buf, cut, 0xE1, "Exif\0\0", 6, &got);
		if (cut < 12)
			ck_assert_ptr_null(found);
		else {
			ck_assert_ptr_eq(found, buf + 6);
			ck_assert_uint_eq(got, cut - 6);
			ck_assert_int_eq(exif_orientation(found + 6, got - 6), cut == 12 + tn ? 8 : 0);
		}
	}
	buf[4] = 0xFF;
	size_t got;
	ck_assert_ptr_eq(jpeg_segment(buf, blen, 0xE1, "Exif\0\0", 6, &got), buf + 6);
	ck_assert_uint_eq(got, blen - 6);
	image_free(&plain);
	image_free(&kept);
	image_free(&turned);
	free(buf);
	free(jpg);
	free(src.pixels);
	codec_free(c);
}
END_TEST

/* jpg (len bytes) with the segments given (each: marker, payload, length) inserted after SOI */
static uint8_t *with_segments(const uint8_t *jpg, size_t len, int k, const uint8_t *const *pay, const size_t *n,
			      size_t *blen)
{
	size_t total = len;
	for (int i = 0; i < k; i++)
		total += 4 + n[i];
	uint8_t *b = xmalloc(total), *p = b + 2;
	memcpy(b, jpg, 2);
	for (int i = 0; i < k; i++) {
		p[0] = 0xFF;
		p[1] = 0xE1;
		p[2] = (uint8_t)((n[i] + 2) >> 8);
		p[3] = (uint8_t)(n[i] + 2);
		memcpy(p + 4, pay[i], n[i]);
		p += 4 + n[i];
	}
	memcpy(p, jpg + 2, len - 2);
	*blen = total;
	return b;
}

/* Which orientation a JPEG's segments give, as PIL's getexif has it: EXIF first, even a tag
 * that holds none; else the last XMP packet */
START_TEST(jpeg_orientation_sources)
{
	ImageCodec *c = codec_new();
	Image src = { .width = 16, .height = 8, .channels = 3, .pixels = xcalloc(16 * 8 * 3, 1) };
	uint8_t *jpg;
	size_t len;
	char why[256];
	ck_assert_int_eq(image_encode_jpeg(c, &src, 90, &jpg, &len, why, sizeof why), 0);
	static const char xa[] = "http://ns.adobe.com/xap/1.0/\0" XMP("tiff:Orientation=\"3\"");
	static const char xb[] = "http://ns.adobe.com/xap/1.0/\0<tiff:Orientation>6</tiff:Orientation>";
	static const char xn[] = "http://ns.adobe.com/xap/1.0/<tiff:Orientation>6</tiff:Orientation>"; /* no NUL */
	uint8_t e9[6 + 64], e8[6 + 64]; /* tiff_block clears 64 bytes after the "Exif\0\0" */
	memcpy(e9, "Exif\0\0", 6);
	size_t n9 = 6 + tiff_block(e9 + 6, 1, 8, 3, 1, 9);
	memcpy(e8, "Exif\0\0", 6);
	size_t n8 = 6 + tiff_block(e8 + 6, 1, 8, 3, 1, 8);
	static const struct { int k; int which[3]; int want; } cases[] = {
		{ 1, { 0 }, 3 },       /* XMP alone */
		{ 2, { 0, 1 }, 6 },    /* the last of two */
		{ 2, { 1, 0 }, 3 },
		{ 2, { 2, 1 }, 8 },    /* EXIF decides, before or after */
		{ 2, { 1, 2 }, 8 },
		{ 2, { 3, 1 }, 0 },    /* EXIF's tag holds no orientation: XMP not asked */
		{ 1, { 4 }, 0 },       /* the namespace without its NUL is no XMP segment */
	};
	const uint8_t *pay[5] = { (const uint8_t *)xa, (const uint8_t *)xb, e8, e9, (const uint8_t *)xn };
	size_t pn[5] = { sizeof xa - 1, sizeof xb - 1, n8, n9, sizeof xn - 1 };
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const uint8_t *p[3];
		size_t n[3], blen;
		for (int j = 0; j < cases[i].k; j++) {
			p[j] = pay[cases[i].which[j]];
			n[j] = pn[cases[i].which[j]];
		}
		uint8_t *b = with_segments(jpg, len, cases[i].k, p, n, &blen);
		PrepOptions o = options(0, 3);
		PrepNotes notes;
		Image im;
		ck_assert_int_eq(image_prepare_buffer(c, b, blen, "a.jpg", &o, &im, &notes, why, sizeof why), 0);
		ck_assert_msg(notes.orientation == cases[i].want, "case %zu: orientation %d, expected %d", i,
			      notes.orientation, cases[i].want);
		image_free(&im);
		free(b);
	}
	free(jpg);
	free(src.pixels);
	codec_free(c);
}
END_TEST

/* One chunk of a PNG made by png_with: its type and payload, and whether it follows the image
 * data. */
typedef struct {
	const char *type;
	const uint8_t *p;
	size_t n;
	int after;
} PngChunk;

static uint8_t *put_chunk(uint8_t *o, const char *type, const uint8_t *p, size_t n)
{
	for (int i = 0; i < 4; i++)
		o[i] = (uint8_t)(n >> (24 - 8 * i));
	memcpy(o + 4, type, 4);
	if (n)
		memcpy(o + 8, p, n);
	uLong crc = crc32(0, o + 4, (uInt)(4 + n));
	for (int i = 0; i < 4; i++)
		o[8 + n + i] = (uint8_t)(crc >> (24 - 8 * i));
	return o + 12 + n;
}

/* A 2x1 gray PNG with these chunks before or after its image data; CRCs right, as libpng drops
 * an ancillary chunk whose CRC is wrong. */
static uint8_t *png_with(const PngChunk *ch, int k, size_t *len)
{
	static const uint8_t ihdr[13] = { 0, 0, 0, 2, 0, 0, 0, 1, 8, 0, 0, 0, 0 }, row[3] = { 0, 10, 200 };
	uint8_t idat[64];
	uLongf idn = sizeof idat;
	ck_assert_int_eq(compress(idat, &idn, row, sizeof row), Z_OK);
	size_t total = 8 + 25 + 12 + idn + 12;
	for (int i = 0; i < k; i++)
		total += 12 + ch[i].n;
	uint8_t *b = xmalloc(total), *o = b;
	memcpy(o, "\x89PNG\r\n\x1a\n", 8);
	o = put_chunk(o + 8, "IHDR", ihdr, sizeof ihdr);
	for (int after = 0; after < 2; after++) {
		for (int i = 0; i < k; i++)
			if (ch[i].after == after)
				o = put_chunk(o, ch[i].type, ch[i].p, ch[i].n);
		if (!after)
			o = put_chunk(o, "IDAT", idat, idn);
	}
	o = put_chunk(o, "IEND", NULL, 0);
	*len = (size_t)(o - b);
	ck_assert_uint_eq(*len, total);
	return b;
}

/* A PNG of some of src's chunks, in file order, each before (after 0) or after (1) the image
 * data, and the orientation PIL gives it. */
typedef struct {
	int k, which[8], after[8], want;
} PngLayout;

/* Each layout's PNG (png_with) notes its orientation, and every cut of it is refused (libpng
 * reads to IEND's CRC before the chunks are looked through), none read past its end: each in a
 * buffer of its own length. */
static void expect_png_layouts(const PngChunk *src, const PngLayout *cases, size_t ncases)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(0, 1);
	PrepNotes notes;
	Image im;
	char why[256];
	for (size_t i = 0; i < ncases; i++) {
		PngChunk ch[ARRAY_LEN(cases[i].which)];
		for (int j = 0; j < cases[i].k; j++) {
			ch[j] = src[cases[i].which[j]];
			ch[j].after = cases[i].after[j];
		}
		size_t len;
		uint8_t *b = png_with(ch, cases[i].k, &len);
		ck_assert_msg(image_prepare_buffer(c, b, len, "a.png", &o, &im, &notes, why, sizeof why) == 0, "case %zu: %s",
			      i, why);
		ck_assert_msg(notes.orientation == cases[i].want, "case %zu: orientation %d, expected %d", i,
			      notes.orientation, cases[i].want);
		image_free(&im);
		for (size_t cut = 0; cut < len; cut++) {
			uint8_t *part = xmalloc(cut + !cut);
			memcpy(part, b, cut);
			ck_assert_int_eq(image_prepare_buffer(c, part, cut, "a.png", &o, &im, &notes, why, sizeof why), -1);
			free(part);
		}
		free(b);
	}
	codec_free(c);
}

/* Which orientation a PNG's chunks give, as PIL's getexif has it (each case checked against
 * Pillow 13 when this was written): info["exif"] is the last eXIf or tEXt "exif" (the block
 * itself, one or two "Exif\0\0" in front dropped), before or after the image data; only
 * without one ImageMagick's hex profile; XMP only where neither holds the tag. */
START_TEST(png_orientation_sources)
{
	uint8_t t8[64], t3[64], t6[64];
	size_t n8 = tiff_block(t8, 0, 8, 3, 1, 8), n3 = tiff_block(t3, 1, 8, 3, 1, 3), n6 = tiff_block(t6, 0, 8, 3, 1, 6);
	uint8_t e8p[6 + 64], x3[5 + 64], x3p[5 + 12 + 64], i3[9 + 64];
	memcpy(e8p, "Exif\0\0", 6);
	memcpy(e8p + 6, t8, n8);
	memcpy(x3, "exif", 5);
	memcpy(x3 + 5, t3, n3);
	memcpy(x3p, "exif\0Exif\0\0Exif\0\0", 17);
	memcpy(x3p + 17, t3, n3);
	memcpy(i3, "exif\0\0\0\0\0", 9); /* iTXt: uncompressed, no language, no translation */
	memcpy(i3 + 9, t3, n3);
	char raw6[256], *p = raw6 + sprintf(raw6, "Raw profile type exif%c\nexif\n%8zu\n", 0, n6);
	for (size_t i = 0; i < n6; i++)
		p += sprintf(p, "%02x", t6[i]);
	strcpy(p, "\n");
	static const char xmp5[] = "XML:com.adobe.xmp\0" XMP("tiff:Orientation=\"5\"");
	enum { E8, E8P, E3, T3, T3P, RAW6, XMP5, E0, TK, TU, I3, NSRC };
	const PngChunk src[NSRC] = {
		[E8] = { "eXIf", t8, n8, 0 },
		[E8P] = { "eXIf", e8p, 6 + n8, 0 },      /* "Exif\0\0" in front: libpng drops it */
		[E3] = { "eXIf", t3, n3, 0 },
		[T3] = { "tEXt", x3, 5 + n3, 0 },        /* the block itself, not hex */
		[T3P] = { "tEXt", x3p, 17 + n3, 0 },      /* two "Exif\0\0" in front */
		[RAW6] = { "tEXt", (const uint8_t *)raw6, (size_t)(p + 1 - raw6), 0 },
		[XMP5] = { "tEXt", (const uint8_t *)xmp5, sizeof xmp5 - 1, 0 },
		[E0] = { "eXIf", t8, 0, 0 },             /* empty */
		[TK] = { "tEXt", x3, 4, 0 },             /* the keyword alone: an empty block */
		[TU] = { "tEXt", (const uint8_t *)"EXIF\0MM", 7, 0 }, /* not PIL's key */
		[I3] = { "iTXt", i3, 9 + n3, 0 },        /* text to PIL, whose getexif fails on it */
	};
	static const PngLayout cases[] = {
		{ 1, { E8 }, { 0 }, 8 },
		{ 1, { E8 }, { 1 }, 8 },
		{ 1, { E8P }, { 0 }, 8 },
		{ 1, { T3 }, { 0 }, 3 },
		{ 1, { T3P }, { 1 }, 3 },
		{ 2, { E8, E3 }, { 0, 0 }, 3 },     /* the last of two eXIf (libpng keeps the first) */
		{ 2, { E8, T3 }, { 0, 0 }, 3 },     /* the last of eXIf and tEXt "exif" */
		{ 2, { T3, E8 }, { 0, 0 }, 8 },
		{ 2, { E8, T3 }, { 1, 0 }, 8 },     /* the last in the file, the image data between */
		{ 2, { T3, E8P }, { 0, 1 }, 8 },
		{ 1, { RAW6 }, { 0 }, 6 },
		{ 2, { T3, RAW6 }, { 0, 0 }, 3 },   /* a block first, the profile never */
		{ 2, { RAW6, E8 }, { 0, 1 }, 8 },
		{ 2, { E0, RAW6 }, { 0, 0 }, 0 },   /* even an empty block hides the profile ... */
		{ 2, { TK, RAW6 }, { 0, 0 }, 0 },
		{ 3, { E0, RAW6, XMP5 }, { 0, 0, 0 }, 5 }, /* ... but not XMP */
		{ 2, { T3, XMP5 }, { 0, 0 }, 3 },
		{ 2, { TU, RAW6 }, { 0, 0 }, 6 },
		{ 2, { I3, RAW6 }, { 0, 0 }, 6 },   /* PIL fails (TypeError); passed over here */
		{ 2, { E8, I3 }, { 0, 1 }, 8 },
	};
	expect_png_layouts(src, cases, ARRAY_LEN(cases));
	ImageCodec *c = codec_new();
	PrepOptions o = options(0, 1);
	/* the fixtures test_imgprep.sh turns upright */
	const char *names[] = { "exif-prefix-6.png", "textexif-6.png", "exif-1-textexif-6.png" };
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		PrepNotes notes;
		Image im = prepare(c, names[i], &o, &notes);
		ck_assert_msg(notes.orientation == 6, "%s: orientation %d", names[i], notes.orientation);
		image_free(&im);
	}
	codec_free(c);
}
END_TEST

/* An iTXt chunk's payload in o's 512 bytes: keyword, compression flag and method, language,
 * translated keyword and text (deflated where z); returns its length. */
static size_t itxt(uint8_t *o, const char *key, const char *lang, const char *tkey, const char *text, int z)
{
	size_t n = (size_t)sprintf((char *)o, "%s%c%c%c%s%c%s%c", key, 0, z, 0, lang, 0, tkey, 0);
	uLongf tn = 512 - n;
	if (z)
		ck_assert_int_eq(compress(o + n, &tn, (const uint8_t *)text, strlen(text)), Z_OK);
	else {
		tn = strlen(text);
		memcpy(o + n, text, tn);
	}
	return n + tn;
}

/* iTXt text that is not UTF-8, as PIL's chunk_iTXt has it (each case checked against Pillow
 * 13's exif_transpose): the chunk is not kept under its keyword when its language, translated
 * keyword or text fails to decode, so an XMP or raw profile before it counts; but an XMP one's
 * bytes are kept as info["xmp"], which getexif reads where no "XML:com.adobe.xmp" text is, or
 * an empty one. Strict UTF-8: no overlong form, surrogate or code point past U+10FFFF. */
START_TEST(png_itxt_not_utf8)
{
#define XMP7 XMP("tiff:Orientation=\"7\"")
	static const char xmp5[] = "XML:com.adobe.xmp\0" XMP("tiff:Orientation=\"5\""), xmp0[] = "XML:com.adobe.xmp";
	static const struct { const char *lang, *tkey, *text; int z; } it[] = {
		{ "", "", "\xff" XMP7, 0 },
		{ "\xc3", "", XMP7, 0 },               /* a language cut in a sequence */
		{ "", "\xe9", XMP7, 0 },               /* a translated keyword in Latin-1 */
		{ "", "", XMP7 "\xed\xa0\x80", 0 },    /* a surrogate */
		{ "", "", XMP7 "\xf4\x90\x80\x80", 0 }, /* past U+10FFFF */
		{ "", "", XMP7 "\xe2\x82", 0 },        /* cut at the end */
		{ "", "", "\xc0\xaf" XMP7, 1 },        /* overlong, deflated */
		{ "", "", "\xf0\x9f\x98\x80" XMP7, 0 }, /* UTF-8: kept */
		{ "", "", XMP("tiff:Orientation=\"5\""), 0 },
		{ "", "", "", 0 },
	};
	enum { BAD, LANG, TKEY, SURR, BIG, CUT, OVERZ, GOOD, I5, IEMPTY, XMP5, XMP0, RAW6, RAW3, RAW3LANG, NSRC };
	uint8_t p[NSRC][512];
	PngChunk src[NSRC];
	for (int i = BAD; i <= IEMPTY; i++)
		src[i] = (PngChunk){ "iTXt", p[i], itxt(p[i], "XML:com.adobe.xmp", it[i].lang, it[i].tkey, it[i].text, it[i].z), 0 };
	src[XMP5] = (PngChunk){ "tEXt", (const uint8_t *)xmp5, sizeof xmp5 - 1, 0 };
	src[XMP0] = (PngChunk){ "tEXt", (const uint8_t *)xmp0, sizeof xmp0 - 1, 0 }; /* an empty XMP */
	uint8_t t[64];
	char raw[3][256];
	for (int i = 0; i < 3; i++) {
		size_t n = tiff_block(t, 0, 8, 3, 1, i ? 3 : 6);
		char *h = raw[i] + sprintf(raw[i], "\nexif\n%8zu\n", n);
		for (size_t j = 0; j < n; j++)
			h += sprintf(h, "%02x", t[j]);
		strcpy(h, "\n");
	}
	src[RAW6] = (PngChunk){ "tEXt", p[RAW6], (size_t)sprintf((char *)p[RAW6], "Raw profile type exif%c%s", 0, raw[0]), 0 };
	src[RAW3] = (PngChunk){ "iTXt", p[RAW3], itxt(p[RAW3], "Raw profile type exif", "", "", raw[1], 0), 0 };
	src[RAW3LANG] = (PngChunk){ "iTXt", p[RAW3LANG], itxt(p[RAW3LANG], "Raw profile type exif", "\xff", "", raw[2], 0), 0 };
	static const PngLayout cases[] = {
		{ 1, { BAD }, { 0 }, 7 },           /* info["xmp"] */
		{ 1, { BAD }, { 1 }, 7 },
		{ 2, { XMP5, BAD }, { 0, 0 }, 5 },  /* "XML:com.adobe.xmp" first (anet took the last before) */
		{ 2, { XMP5, BAD }, { 0, 1 }, 5 },
		{ 2, { BAD, XMP5 }, { 0, 0 }, 5 },
		{ 2, { I5, BAD }, { 0, 0 }, 5 },
		{ 2, { BAD, I5 }, { 0, 0 }, 5 },
		{ 2, { BAD, XMP0 }, { 0, 0 }, 7 },  /* an empty text: info["xmp"] */
		{ 2, { BAD, IEMPTY }, { 0, 0 }, 0 }, /* the last iTXt's bytes, empty */
		{ 2, { XMP5, LANG }, { 0, 0 }, 5 },
		{ 2, { XMP5, TKEY }, { 0, 0 }, 5 },
		{ 2, { XMP5, SURR }, { 0, 0 }, 5 },
		{ 2, { XMP5, BIG }, { 0, 0 }, 5 },
		{ 2, { XMP5, CUT }, { 0, 0 }, 5 },
		{ 2, { XMP5, OVERZ }, { 0, 1 }, 5 },
		{ 2, { XMP5, GOOD }, { 0, 0 }, 7 },
		{ 1, { RAW3 }, { 0 }, 3 },          /* a raw profile in an iTXt that decodes ... */
		{ 1, { RAW3LANG }, { 0 }, 0 },      /* ... and one that does not: dropped, no "xmp" kept */
		{ 2, { RAW6, RAW3LANG }, { 0, 0 }, 6 },
		{ 2, { RAW3LANG, XMP5 }, { 0, 1 }, 5 },
	};
	expect_png_layouts(src, cases, ARRAY_LEN(cases));
#undef XMP7
}
END_TEST

/* A text chunk's payload in o (2048 bytes): head (hn bytes: the keyword and the rest of the
 * header), then text (tn bytes), deflated where z, less cut bytes at the end; returns its length. */
static size_t text_payload(uint8_t *o, const char *head, size_t hn, const char *text, size_t tn, int z, size_t cut)
{
	uLongf n = 2048 - hn;
	memcpy(o, head, hn);
	if (z)
		ck_assert_int_eq(compress(o + hn, &n, (const uint8_t *)text, tn), Z_OK);
	else {
		ck_assert_uint_le(tn, n);
		memcpy(o + hn, text, n = tn);
	}
	return hn + n - cut;
}

/* Text chunks read as PIL's chunk_tEXt, chunk_zTXt and chunk_iTXt take them apart (each case
 * checked against Pillow 13's exif_transpose): the keyword ends at the first NUL, and the text
 * is all the rest, NULs and all (libpng ended it at the first, and anet read it through libpng
 * before); a zTXt, and an iTXt whose flag is not 0, inflated as _safe_zlib_decompress does. A
 * zTXt whose text does not inflate (bad data, or more than MAX_TEXT_CHUNK, 1 MiB) is empty, an
 * iTXt dropped; a stream without its end gives what it holds. Where PIL fails (a zTXt method
 * other than 0, a text past 1 MiB), the chunk counts as one that does not inflate, as PIL's
 * LOAD_TRUNCATED_IMAGES has it for the size. */
START_TEST(png_text_nul_and_deflate)
{
#define XMP7 XMP("tiff:Orientation=\"7\"")
#define S(s) s, sizeof s - 1
	static const char xmp5[] = "XML:com.adobe.xmp\0" XMP("tiff:Orientation=\"5\""), x7[] = XMP7, x7n[] = "junk\0" XMP7,
			  xff7n[] = "\xff\0" XMP7, bad[] = "\x78\x9c\xff\xff\xff\xff";
	static const char tx[] = "XML:com.adobe.xmp\0", zx[] = "XML:com.adobe.xmp\0\0", ix[] = "XML:com.adobe.xmp\0\0\0\0\0",
			  izx[] = "XML:com.adobe.xmp\0\1\0\0\0", zr[] = "Raw profile type exif\0\0";
	uint8_t t[64];
	size_t tn = tiff_block(t, 0, 8, 3, 1, 6);
	char raw6[256], raw6n[256], raw6e[256], hex[160], *h = hex;
	for (size_t i = 0; i < tn; i++)
		h += sprintf(h, "%02x", t[i]);
	size_t rn = (size_t)sprintf(raw6, "\nexif\n%8zu\n%s\n", tn, hex);
	sprintf(raw6n, "\nex%cif\n%8zu\n%s\n", 0, tn, hex);        /* a NUL in a header line */
	memcpy(raw6e, raw6, rn + 1);                                /* a NUL after the hex */
	char *big = xmalloc((1 << 20) + 1);                         /* 1 MiB of XMP, and one byte more */
	memset(big, ' ', (1 << 20) + 1);
	memcpy(big, x7, sizeof x7 - 1);
	enum { XMP5, RAW6, T7N, I7N, IZ7N, Z7N, IFF7N, RAW6N, RAWZ6N, RAW6E, Z7, IZ7, IF2, IM1, ZM1, IZM1, ZBAD, ZRBAD,
	       IZBAD, Z7C, Z7J, Z1M, Z1M1, IZ1M1, TNK, ZNK, ZRNK, INK, ZE, IZE, NSRC };
	static uint8_t p[NSRC][2048];
	PngChunk src[NSRC];
	size_t n[NSRC] = {
		[T7N] = text_payload(p[T7N], S(tx), S(x7n), 0, 0),
		[I7N] = text_payload(p[I7N], S(ix), S(x7n), 0, 0),
		[IZ7N] = text_payload(p[IZ7N], S(izx), S(x7n), 1, 0),
		[Z7N] = text_payload(p[Z7N], S(zx), S(x7n), 1, 0),
		[IFF7N] = text_payload(p[IFF7N], S(ix), S(xff7n), 0, 0),     /* not UTF-8: its bytes */
		[RAW6N] = text_payload(p[RAW6N], S("Raw profile type exif\0"), raw6n, rn, 0, 0),
		[RAWZ6N] = text_payload(p[RAWZ6N], S(zr), raw6n, rn, 1, 0),
		[RAW6E] = text_payload(p[RAW6E], S("Raw profile type exif\0"), raw6e, rn + 1, 0, 0),
		[Z7] = text_payload(p[Z7], S(zx), S(x7), 1, 0),
		[IZ7] = text_payload(p[IZ7], S(izx), S(x7), 1, 0),
		[IF2] = text_payload(p[IF2], S("XML:com.adobe.xmp\0\2\0\0\0"), S(x7), 1, 0), /* any flag but 0 */
		[IM1] = text_payload(p[IM1], S("XML:com.adobe.xmp\0\0\1\0\0"), S(x7), 0, 0), /* flag 0: not read */
		[ZM1] = text_payload(p[ZM1], S("XML:com.adobe.xmp\0\1"), S(x7), 1, 0),
		[IZM1] = text_payload(p[IZM1], S("XML:com.adobe.xmp\0\1\1\0\0"), S(x7), 1, 0),
		[ZBAD] = text_payload(p[ZBAD], S(zx), S(bad), 0, 0),
		[ZRBAD] = text_payload(p[ZRBAD], S(zr), S(bad), 0, 0),
		[IZBAD] = text_payload(p[IZBAD], S(izx), S(bad), 0, 0),
		[Z7C] = text_payload(p[Z7C], S(zx), S(x7), 1, 4),             /* no Adler-32 */
		[Z7J] = text_payload(p[Z7J], S(zx), S(x7), 1, 0),
		[Z1M] = text_payload(p[Z1M], S(zx), big, 1 << 20, 1, 0),
		[Z1M1] = text_payload(p[Z1M1], S(zx), big, (1 << 20) + 1, 1, 0),
		[IZ1M1] = text_payload(p[IZ1M1], S(izx), big, (1 << 20) + 1, 1, 0),
		[TNK] = text_payload(p[TNK], S("XML:com.adobe.xmp"), "", 0, 0, 0), /* the keyword alone */
		[ZNK] = text_payload(p[ZNK], S("XML:com.adobe.xmp"), "", 0, 0, 0),
		[ZRNK] = text_payload(p[ZRNK], S("Raw profile type exif"), "", 0, 0, 0),
		[INK] = text_payload(p[INK], S("XML:com.adobe.xmp"), "", 0, 0, 0),
		[ZE] = text_payload(p[ZE], S(zx), "", 0, 0, 0),                /* no text at all */
		[IZE] = text_payload(p[IZE], S(izx), "", 0, 0, 0),
	};
	memcpy(p[Z7J] + n[Z7J], "junk", 4); /* after the stream's end */
	n[Z7J] += 4;
	free(big);
	static const char *const type[NSRC] = { [XMP5] = "tEXt", [RAW6] = "tEXt", [T7N] = "tEXt", [I7N] = "iTXt",
		[IZ7N] = "iTXt", [Z7N] = "zTXt", [IFF7N] = "iTXt", [RAW6N] = "tEXt", [RAWZ6N] = "zTXt", [RAW6E] = "tEXt",
		[Z7] = "zTXt", [IZ7] = "iTXt", [IF2] = "iTXt", [IM1] = "iTXt", [ZM1] = "zTXt", [IZM1] = "iTXt",
		[ZBAD] = "zTXt", [ZRBAD] = "zTXt", [IZBAD] = "iTXt", [Z7C] = "zTXt", [Z7J] = "zTXt", [Z1M] = "zTXt",
		[Z1M1] = "zTXt", [IZ1M1] = "iTXt", [TNK] = "tEXt", [ZNK] = "zTXt", [ZRNK] = "zTXt", [INK] = "iTXt",
		[ZE] = "zTXt", [IZE] = "iTXt" };
	for (int i = 0; i < NSRC; i++)
		src[i] = (PngChunk){ type[i], p[i], n[i], 0 };
	src[XMP5] = (PngChunk){ "tEXt", (const uint8_t *)xmp5, sizeof xmp5 - 1, 0 };
	src[RAW6] = (PngChunk){ "tEXt", p[RAW6], text_payload(p[RAW6], S("Raw profile type exif\0"), raw6, rn, 0, 0), 0 };
	static const PngLayout cases[] = {
		/* a NUL in the text: PIL reads on (anet saw none of these before) */
		{ 1, { T7N }, { 0 }, 7 },
		{ 1, { T7N }, { 1 }, 7 },
		{ 2, { XMP5, I7N }, { 0, 0 }, 7 },
		{ 2, { XMP5, IZ7N }, { 0, 1 }, 7 },
		{ 1, { Z7N }, { 0 }, 7 },
		{ 1, { IFF7N }, { 0 }, 7 },
		{ 2, { XMP5, IFF7N }, { 0, 0 }, 5 },
		{ 1, { RAW6N }, { 0 }, 6 },
		{ 1, { RAWZ6N }, { 1 }, 6 },
		{ 2, { RAW6E, XMP5 }, { 0, 0 }, 5 },  /* PIL fails (ValueError: a NUL is no hex); 6 before */
		/* deflated */
		{ 1, { Z7 }, { 1 }, 7 },
		{ 1, { IZ7 }, { 0 }, 7 },
		{ 1, { IF2 }, { 0 }, 7 },             /* libpng dropped it */
		{ 1, { IM1 }, { 0 }, 7 },
		{ 2, { XMP5, ZM1 }, { 0, 0 }, 0 },    /* PIL fails (SyntaxError); libpng dropped it */
		{ 2, { XMP5, IZM1 }, { 0, 0 }, 5 },
		{ 2, { IFF7N, IZM1 }, { 0, 0 }, 7 },
		{ 2, { XMP5, ZBAD }, { 0, 0 }, 0 },   /* libpng dropped those two */
		{ 2, { RAW6, ZRBAD }, { 0, 0 }, 0 },
		{ 2, { XMP5, IZBAD }, { 0, 0 }, 5 },
		{ 2, { IFF7N, IZBAD }, { 0, 0 }, 7 },
		{ 1, { Z7C }, { 0 }, 7 },             /* libpng dropped it */
		{ 1, { Z7J }, { 0 }, 7 },
		{ 1, { Z1M }, { 0 }, 7 },
		{ 2, { XMP5, Z1M1 }, { 0, 0 }, 0 },   /* PIL fails (ValueError); libpng read up to 8 MB */
		{ 2, { XMP5, IZ1M1 }, { 0, 1 }, 5 },
		/* the keyword alone, or no text: empty (an iTXt dropped) */
		{ 2, { IFF7N, TNK }, { 0, 0 }, 7 },
		{ 2, { Z7, ZNK }, { 0, 0 }, 0 },      /* libpng dropped those two */
		{ 2, { RAW6, ZRNK }, { 0, 0 }, 0 },
		{ 2, { XMP5, INK }, { 0, 0 }, 5 },
		{ 2, { IFF7N, ZE }, { 0, 0 }, 7 },
		{ 2, { XMP5, IZE }, { 0, 0 }, 0 },    /* libpng dropped those two */
		{ 2, { IFF7N, IZE }, { 0, 0 }, 0 },
	};
	expect_png_layouts(src, cases, ARRAY_LEN(cases));
#undef S
#undef XMP7
}
END_TEST

/* The same in an animated PNG (APNG), where PIL's load() reads on after the image data only up
 * to the fcTL that starts the next frame: an EXIF block, ImageMagick's profile or XMP past it is
 * not seen (anet read them all, to IEND, before). Each case checked against Pillow 13's
 * exif_transpose. Not animated to PIL, and read to IEND: one frame (the IDAT in an fcTL), two
 * acTL chunks, a count of 0 or over 2^31, an acTL after the image data. */
START_TEST(apng_orientation_stops_at_next_frame)
{
	static const uint8_t row[3] = { 0, 10, 200 };
	uint8_t actl[4][8] = { { 0, 0, 0, 2 }, { 0, 0, 0, 1 }, { 0 }, { 0x80, 0, 0, 1 } }, fctl[3][26], fdat[3][64];
	size_t fdn[3];
	static const uint8_t fcseq[3] = { 0, 1, 3 }, fdseq[3] = { 1, 2, 4 }; /* FC0, FC1, FC3; FD1, FD2, FD4 */
	for (int q = 0; q < 3; q++) {
		/* 2x1 at (0, 0), shown 1/10 s, no disposal, no blending */
		static const uint8_t frame[22] = { 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0 };
		memcpy(fctl[q], (uint8_t[4]){ 0, 0, 0, fcseq[q] }, 4);
		memcpy(fctl[q] + 4, frame, sizeof frame);
		memcpy(fdat[q], (uint8_t[4]){ 0, 0, 0, fdseq[q] }, 4);
		uLongf zn = sizeof fdat[q] - 4;
		ck_assert_int_eq(compress(fdat[q] + 4, &zn, row, sizeof row), Z_OK);
		fdn[q] = 4 + zn;
	}
	uint8_t t8[64], t3[64], t6[64], x3[5 + 64];
	size_t n8 = tiff_block(t8, 0, 8, 3, 1, 8), n3 = tiff_block(t3, 1, 8, 3, 1, 3), n6 = tiff_block(t6, 0, 8, 3, 1, 6);
	memcpy(x3, "exif", 5);
	memcpy(x3 + 5, t3, n3);
	char raw6[256], *p = raw6 + sprintf(raw6, "Raw profile type exif%c\nexif\n%8zu\n", 0, n6);
	for (size_t i = 0; i < n6; i++)
		p += sprintf(p, "%02x", t6[i]);
	strcpy(p, "\n");
	static const char xmp5[] = "XML:com.adobe.xmp\0" XMP("tiff:Orientation=\"5\""),
			  xmp7[] = "XML:com.adobe.xmp\0\0\0\0\0" XMP("tiff:Orientation=\"7\""); /* iTXt */
	enum { AC2, AC1, AC0, ACBIG, FC0, FC1, FC3, FD1, FD2, FD4, E8, E3, T3, RAW6, XMP5, XMP7, NSRC };
	const PngChunk src[NSRC] = {
		[AC2] = { "acTL", actl[0], 8, 0 },
		[AC1] = { "acTL", actl[1], 8, 0 },
		[AC0] = { "acTL", actl[2], 8, 0 },
		[ACBIG] = { "acTL", actl[3], 8, 0 },
		[FC0] = { "fcTL", fctl[0], 26, 0 },
		[FC1] = { "fcTL", fctl[1], 26, 0 },
		[FC3] = { "fcTL", fctl[2], 26, 0 },
		[FD1] = { "fdAT", fdat[0], fdn[0], 0 },
		[FD2] = { "fdAT", fdat[1], fdn[1], 0 },
		[FD4] = { "fdAT", fdat[2], fdn[2], 0 },
		[E8] = { "eXIf", t8, n8, 0 },
		[E3] = { "eXIf", t3, n3, 0 },
		[T3] = { "tEXt", x3, 5 + n3, 0 },
		[RAW6] = { "tEXt", (const uint8_t *)raw6, (size_t)(p + 1 - raw6), 0 },
		[XMP5] = { "tEXt", (const uint8_t *)xmp5, sizeof xmp5 - 1, 0 },
		[XMP7] = { "iTXt", (const uint8_t *)xmp7, sizeof xmp7 - 1, 0 },
	};
	/* the chunks in file order, each before (0) or after (1) the IDAT */
	static const PngLayout cases[] = {
		/* two frames, the IDAT the first: acTL, fcTL, IDAT, fcTL, fdAT */
		{ 5, { E8, AC2, FC0, FC1, FD2 }, { 0, 0, 0, 1, 1 }, 8 },
		{ 5, { AC2, FC0, E8, FC1, FD2 }, { 0, 0, 1, 1, 1 }, 8 },      /* before the next fcTL */
		{ 5, { AC2, FC0, FC1, E8, FD2 }, { 0, 0, 1, 1, 1 }, 0 },      /* after it: not read */
		{ 5, { AC2, FC0, FC1, FD2, E8 }, { 0, 0, 1, 1, 1 }, 0 },
		{ 6, { AC2, FC0, E8, FC1, FD2, E3 }, { 0, 0, 0, 1, 1, 1 }, 8 }, /* not the last in the file */
		{ 6, { AC2, FC0, T3, FC1, FD2, E8 }, { 0, 0, 1, 1, 1, 1 }, 3 },
		{ 5, { AC2, FC0, FC1, FD2, RAW6 }, { 0, 0, 1, 1, 1 }, 0 },
		{ 6, { AC2, FC0, RAW6, FC1, E3, FD2 }, { 0, 0, 0, 1, 1, 1 }, 6 },
		{ 5, { AC2, FC0, FC1, FD2, XMP5 }, { 0, 0, 1, 1, 1 }, 0 },
		{ 6, { AC2, FC0, XMP5, FC1, FD2, XMP7 }, { 0, 0, 1, 1, 1, 1 }, 5 },
		{ 6, { XMP7, AC2, FC0, FC1, FD2, XMP5 }, { 0, 0, 0, 1, 1, 1 }, 7 },
		/* the IDAT the default image, no frame: acTL 1, IDAT, fcTL, fdAT is two frames */
		{ 5, { AC1, E8, FC0, FD1, E3 }, { 0, 1, 1, 1, 1 }, 8 },
		{ 5, { AC1, E8, FC0, E3, FD1 }, { 0, 0, 1, 1, 1 }, 8 },
		/* not animated: read on to IEND */
		{ 3, { AC1, FC0, E3 }, { 0, 0, 1 }, 3 },                       /* one frame */
		{ 6, { E8, AC1, FC0, FC1, FD2, E3 }, { 0, 0, 0, 1, 1, 1 }, 3 }, /* one frame said, two there */
		{ 7, { E8, AC2, AC2, FC0, FC1, FD2, E3 }, { 0, 0, 0, 0, 1, 1, 1 }, 3 },
		{ 6, { E8, AC0, FC0, FC1, FD2, E3 }, { 0, 0, 0, 1, 1, 1 }, 3 },
		{ 6, { E8, ACBIG, FC0, FC1, FD2, E3 }, { 0, 0, 0, 1, 1, 1 }, 3 },
		{ 6, { E8, FC0, AC2, FC1, FD2, E3 }, { 0, 0, 1, 1, 1, 1 }, 3 },  /* the acTL after the IDAT */
		/* a third acTL counts again (each unsets or sets the count) */
		{ 8, { E8, AC2, AC2, AC2, FC0, FC1, FD2, E3 }, { 0, 0, 0, 0, 0, 1, 1, 1 }, 8 },
		/* three frames: the third's chunks are past the stop too */
		{ 8, { E8, AC2, FC0, FC1, FD2, FC3, FD4, E3 }, { 0, 0, 0, 1, 1, 1, 1, 1 }, 8 },
	};
	expect_png_layouts(src, cases, ARRAY_LEN(cases));
}
END_TEST

START_TEST(progressive_jpeg)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(64, 3);
	PrepNotes n;
	Image im = prepare(c, "progressive.jpg", &o, &n);
	ck_assert_int_eq(n.src_width, 240);
	ck_assert_int_eq(n.warnings, 0);
	image_free(&im);
	codec_free(c);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * bad input: a reason, never a crash */

static void expect_refusal(ImageCodec *c, const char *name, const PrepOptions *o, const char *reason)
{
	char *p = data(name), why[256] = "";
	Image im = { 0 };
	PrepNotes n;
	ck_assert_int_eq(image_prepare_file(c, p, o, &im, &n, why, sizeof why), -1);
	ck_assert_ptr_null(im.pixels);
	ck_assert_msg(strstr(why, reason) != NULL, "%s: '%s' does not say '%s'", name, why, reason);
	fprintf(stderr, "  %-28s refused: %s\n", name, why);
	free(p);
}

START_TEST(bad_files_refused)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(64, 3);
	expect_refusal(c, "bad-empty.jpg", &o, "empty");
	expect_refusal(c, "bad-truncated.jpg", &o, "truncated");
	expect_refusal(c, "bad-truncated.png", &o, "truncated");
	expect_refusal(c, "bad-not-an-image.jpg", &o, "not an image");
	expect_refusal(c, "bad-huge-header.jpg", &o, "60000x60000");
	expect_refusal(c, "no-such-file.jpg", &o, "No such file");
	expect_refusal(c, "tree", &o, "directory");
	expect_refusal(c, "fashion-64-images.idx", &o, "not an image");
	PrepOptions tight = o;
	tight.max_pixels = 320 * 240 - 1;
	expect_refusal(c, "photo-dog.jpg", &tight, "too large");
	tight.max_pixels = 160 * 120 - 1;
	expect_refusal(c, "photo-horses.png", &tight, "too large");
	/* the codec still works after all that */
	Image im = prepare(c, "photo-dog.jpg", &o, NULL);
	image_free(&im);
	codec_free(c);
}
END_TEST

/* A text chunk claiming 1.7 GB in a file of a few hundred bytes (found by fuzz_image): refused
 * before libpng allocates what it claims (libpng 1.6 only warns that it is too large, and
 * refuses the file only when the bytes run out, "file ends early") */
START_TEST(png_chunk_past_the_end)
{
	static const uint8_t text[] = "Raw profile type exif\0\0xxxxxxxx";
	const PngChunk ch = { "zTXt", text, sizeof text - 1, 0 };
	size_t len;
	uint8_t *b = png_with(&ch, 1, &len);
	ImageCodec *c = codec_new();
	PrepOptions o = options(0, 3);
	PrepNotes n;
	Image im;
	char why[256];
	ck_assert_int_eq(image_prepare_buffer(c, b, len, "a.png", &o, &im, &n, why, sizeof why), 0);
	image_free(&im);
	memcpy(b + 33, "\x69\x69\x69\x69", 4); /* the length of the chunk after IHDR */
	ck_assert_int_eq(image_prepare_buffer(c, b, len, "a.png", &o, &im, &n, why, sizeof why), -1);
	ck_assert_msg(strstr(why, "a chunk runs past the end of the file (truncated)") != NULL, "%s", why);
	free(b);
	codec_free(c);
}
END_TEST

/* Every prefix of a JPEG and a PNG: each is refused or decoded, none crashes or leaks. */
START_TEST(every_truncation)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(16, 3);
	const char *names[] = { "photo-tiny.jpg", "png-palette.png", "pnm-p6.ppm" };
	for (size_t k = 0; k < ARRAY_LEN(names); k++) {
		char *p = data(names[k]);
		size_t len;
		uint8_t *buf = read_file(p, &len, 1 << 20);
		ck_assert_ptr_nonnull(buf);
		int refused = 0;
		for (size_t cut = 0; cut < len; cut += 1 + cut / 16) {
			Image im;
			PrepNotes n;
			char why[256];
			if (image_prepare_buffer(c, buf, cut, names[k], &o, &im, &n, why, sizeof why) == 0)
				image_free(&im);
			else
				refused++;
		}
		ck_assert_int_gt(refused, 0);
		free(buf);
		free(p);
	}
	codec_free(c);
}
END_TEST

START_TEST(libjpeg_warnings)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(32, 3);
	PrepNotes n;
	Image im = prepare(c, "warn-extraneous.jpg", &o, &n);
	ck_assert_int_eq(n.warnings, 1);
	ck_assert_msg(strstr(n.warning, "Corrupt JPEG data") != NULL, "warning: %s", n.warning);
	image_free(&im);
	o.strict = 1;
	expect_refusal(c, "warn-extraneous.jpg", &o, "strict");
	codec_free(c);
}
END_TEST

/* A progressive JPEG whose last scan comes 600 times: each scan is a pass over every block, so
 * a 125 KB file of 1000 such scans of a 4000x4000 image took imgprep 20 s (libjpeg only warns
 * of the repeats, and a valid progression can hold thousands of scans without a warning).
 * Refused past libjpeg-turbo's limit of 500 (TJFLAG_LIMITSCANS), as --strict or not. */
START_TEST(jpeg_scan_limit)
{
	char *p = data("progressive.jpg");
	size_t len;
	uint8_t *src = read_file(p, &len, 1 << 20);
	ck_assert_ptr_nonnull(src);
	ck_assert(len > 4 && src[len - 2] == 0xFF && src[len - 1] == 0xD9);
	size_t last = 0; /* the last SOS: entropy-coded data never holds FF DA (an FF is followed by 00) */
	for (size_t i = 0; i + 1 < len; i++)
		if (src[i] == 0xFF && src[i + 1] == 0xDA)
			last = i;
	ck_assert(last > 0);
	size_t scan = len - 2 - last, copies = 600, n = len - 2;
	uint8_t *bomb = xmalloc(len + copies * scan);
	memcpy(bomb, src, n);
	for (size_t k = 0; k < copies; k++, n += scan)
		memcpy(bomb + n, src + last, scan);
	bomb[n++] = 0xFF;
	bomb[n++] = 0xD9;
	ImageCodec *c = codec_new();
	PrepOptions o = options(64, 3);
	PrepNotes notes;
	Image im;
	char why[256];
	ck_assert_int_eq(image_prepare_buffer(c, bomb, n, "bomb.jpg", &o, &im, &notes, why, sizeof why), -1);
	ck_assert_msg(strstr(why, "more than 500 scans") != NULL, "%s", why);
	fprintf(stderr, "  %-28s refused: %s\n", "601 scans", why);
	/* the codec still works */
	ck_assert_int_eq(image_prepare_buffer(c, src, len, "progressive.jpg", &o, &im, &notes, why, sizeof why), 0);
	image_free(&im);
	codec_free(c);
	free(bomb);
	free(src);
	free(p);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * records */

static RecordView view(const Image *im, int enc, const uint8_t *payload, size_t len)
{
	RecordView r = { .label = 1, .height = (uint32_t)im->height, .width = (uint32_t)im->width,
			 .channels = (uint32_t)im->channels, .encoding = (uint32_t)enc, .name_len = 1,
			 .payload_len = (uint32_t)len, .name = "x", .payload = payload };
	return r;
}

START_TEST(record_pixels_round_trip)
{
	ImageCodec *c = codec_new();
	for (int ch = 1; ch <= 3; ch += 2) {
		PrepOptions o = options(64, ch);
		Image im = prepare(c, "photo-eagle.jpg", &o, NULL);
		size_t bytes = (size_t)64 * 64 * ch;
		uint8_t *out = xmalloc(bytes), *jpg;
		size_t len;
		char why[256];
		RecordView r = view(&im, ENC_RAW, im.pixels, bytes);
		ck_assert_int_eq(record_pixels(c, &r, out, why, sizeof why), 0);
		ck_assert_mem_eq(out, im.pixels, bytes);
		ck_assert_int_eq(image_encode_jpeg(c, &im, 95, &jpg, &len, why, sizeof why), 0);
		r = view(&im, ENC_JPEG, jpg, len);
		ck_assert_msg(record_pixels(c, &r, out, why, sizeof why) == 0, "%s", why);
		Image back = { 64, 64, ch, out }, again;
		PrepOptions keep = options(0, ch);
		ck_assert_int_eq(image_prepare_buffer(c, jpg, len, NULL, &keep, &again, NULL, why, sizeof why), 0);
		ck_assert_mem_eq(out, again.pixels, bytes); /* the same decoder, reached by content */
		image_free(&again);
		/* JPEG loss at q95; colour also loses chroma resolution (4:2:0) on a 64x64 picture */
		ck_assert_double_le(mad(ch == 3 ? "JPEG q95 payload, RGB" : "JPEG q95 payload, gray", &back, &im, NULL),
				    ch == 3 ? 4.0 : 2.0);
		r.height = 63; /* the header must agree with the JPEG */
		ck_assert_int_eq(record_pixels(c, &r, out, why, sizeof why), -1);
		r.height = 64;
		r.channels = (uint32_t)(4 - ch);
		ck_assert_int_eq(record_pixels(c, &r, out, why, sizeof why), -1);
		r.channels = (uint32_t)ch;
		r.payload_len = (uint32_t)len / 2;
		ck_assert_int_eq(record_pixels(c, &r, out, why, sizeof why), -1);
		free(jpg);
		free(out);
		image_free(&im);
	}
	codec_free(c);
}
END_TEST

/* A JPEG that libjpeg refuses inside its header (found by tests/fuzz/fuzz_image.c): TurboJPEG
 * 2.1 left the handle inside the bad file's markers, and every later JPEG on the same codec
 * failed with "Bogus DQT index 15", through image_prepare_* and record_pixels alike. */
START_TEST(codec_survives_bad_header)
{
	static const uint8_t bad_dqt[] = { 0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x0D }; /* table 13 of 0..3 */
	ImageCodec *c = codec_new();
	PrepOptions o = options(16, 3);
	Image im;
	char why[256] = "";
	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(image_prepare_buffer(c, bad_dqt, sizeof bad_dqt, "bad.jpg", &o, &im, NULL, why, sizeof why),
				 -1);
		ck_assert_msg(strstr(why, "not a readable JPEG: Bogus DQT index 13") != NULL, "%s", why);
		im = prepare(c, "photo-tiny.jpg", &o, NULL);
		uint8_t *jpg, out[16 * 16 * 3];
		size_t len;
		ck_assert_int_eq(image_encode_jpeg(c, &im, 90, &jpg, &len, why, sizeof why), 0);
		RecordView bad = view(&im, ENC_JPEG, bad_dqt, sizeof bad_dqt), good = view(&im, ENC_JPEG, jpg, len);
		ck_assert_int_eq(record_pixels(c, &bad, out, why, sizeof why), -1);
		ck_assert_msg(strstr(why, "corrupt JPEG payload: Bogus DQT index 13") != NULL, "%s", why);
		ck_assert_msg(record_pixels(c, &good, out, why, sizeof why) == 0, "after a bad payload: %s", why);
		free(jpg);
		image_free(&im);
	}
	codec_free(c);
}
END_TEST

/* record_pixels from several threads at once, one codec each, gives the same pixels. */
typedef struct {
	const RecordView *r;
	const uint8_t *want;
	int bad;
} DecodeJob;

static void *decode_many(void *arg)
{
	DecodeJob *j = arg;
	ImageCodec *c = codec_new();
	uint8_t *out = xmalloc((size_t)j->r->width * j->r->height * 3);
	char why[256];
	for (int i = 0; i < 50; i++)
		if (record_pixels(c, j->r, out, why, sizeof why) ||
		    memcmp(out, j->want, (size_t)j->r->width * j->r->height * 3))
			j->bad++;
	free(out);
	codec_free(c);
	return NULL;
}

START_TEST(record_pixels_threads)
{
	ImageCodec *c = codec_new();
	PrepOptions o = options(96, 3);
	Image im = prepare(c, "photo-meadow.jpg", &o, NULL);
	uint8_t *jpg, *want = xmalloc(96 * 96 * 3);
	size_t len;
	char why[256];
	ck_assert_int_eq(image_encode_jpeg(c, &im, 90, &jpg, &len, why, sizeof why), 0);
	RecordView r = view(&im, ENC_JPEG, jpg, len);
	ck_assert_int_eq(record_pixels(c, &r, want, why, sizeof why), 0);
	pthread_t t[4];
	DecodeJob j[4];
	for (int i = 0; i < 4; i++) {
		j[i] = (DecodeJob){ &r, want, 0 };
		pthread_create(&t[i], NULL, decode_many, &j[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(j[i].bad, 0);
	}
	free(jpg);
	free(want);
	image_free(&im);
	codec_free(c);
}
END_TEST

/* imgprep's run (in process) writes what record_read reads back: the class table first, then
 * each image in list order with its label and name, its pixels those of image_prepare_file. */
START_TEST(imgprep_records_round_trip)
{
	char *dir = make_temp_dir("imgprep"), *out = xasprintf("%s/out.rec", dir), *root = data("");
	char *classes = data("fashion-classes.txt"), *list = data("list.txt");
	ImgprepArgs a = { .threads = 3, .format = OUT_RECORDS, .encoding = ENC_RAW, .quality = 90, .max_errors = 0,
			  .list = list, .root = root, .classes = classes, .output = out };
	prep_options_init(&a.prep);
	a.prep.size = 48;
	Capture cap = capture_begin();
	ck_assert_int_eq(imgprep_main(&a), 0);
	char *msgs = capture_end(cap);
	ASSERT_MSG(msgs, "7 written, 0 skipped; converted: 1 grayscale to RGB");
	free(msgs);

	static const struct {
		const char *name;
		int label;
	} want[] = { { "photo-dog.jpg", 0 }, { "photo-eagle.jpg", 1 }, { "photo-flower.jpg", 2 },
		     { "dog with space.jpg", 3 }, { "photo-giraffe.jpg", 1 }, { "gray.jpg", 2 }, { "photo-meadow.jpg", 0 } };
	FILE *f = fopen(out, "rb");
	ck_assert_ptr_nonnull(f);
	RecordReader rd;
	record_reader_init(&rd, f, out);
	RecordView r;
	ClassTable t = { 0, NULL };
	ck_assert_int_eq(record_read(&rd, &r, &t), FRAME_CLASSES);
	ck_assert_uint_eq(t.count, 10);
	ck_assert_str_eq(t.names[9], "Ankle boot");
	classes_free(&t);
	ImageCodec *c = codec_new();
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		ck_assert_int_eq(record_read(&rd, &r, &t), FRAME_RECORD);
		ck_assert_int_eq(r.label, want[i].label);
		ck_assert_int_eq((int)r.name_len, (int)strlen(want[i].name));
		ck_assert(memcmp(r.name, want[i].name, r.name_len) == 0);
		ck_assert_uint_eq(r.width, 48);
		ck_assert_uint_eq(r.channels, 3);
		Image im = prepare(c, want[i].name, &a.prep, NULL);
		ck_assert_mem_eq(r.payload, im.pixels, 48 * 48 * 3);
		image_free(&im);
	}
	ck_assert_int_eq(record_read(&rd, &r, &t), FRAME_END);
	record_reader_free(&rd);
	fclose(f);
	codec_free(c);
	free(out);
	free(root);
	free(classes);
	free(list);
	remove_tree(dir);
	free(dir);
}
END_TEST

/* ------------------------------------------------------------------------------------------
 * inputs: IDX, list files, class folders */

START_TEST(idx_plain_and_gzip)
{
	char *ip = data("fashion-64-images.idx"), *lp = data("fashion-64-labels.idx");
	char *iz = data("fashion-64-images.idx.gz"), *lz = data("fashion-64-labels.idx.gz");
	IdxReader a, b;
	ck_assert_int_eq(idx_open(&a, ip, lp), 0);
	ck_assert_int_eq(idx_open(&b, iz, lz), 0);
	ck_assert_uint_eq(a.count, 64);
	ck_assert_uint_eq(a.rows, 28);
	ck_assert_uint_eq(a.cols, 28);
	ck_assert_int_eq(a.max_label, 9);
	uint8_t pa[784], pb[784];
	int la, lb, first = -1;
	for (int i = 0; i < 64; i++) {
		ck_assert_int_eq(idx_read(&a, pa, &la), 0);
		ck_assert_int_eq(idx_read(&b, pb, &lb), 0);
		ck_assert_int_eq(la, lb);
		ck_assert_mem_eq(pa, pb, 784);
		if (i == 0)
			first = la;
	}
	ck_assert_int_eq(first, 9); /* Fashion-MNIST's first training image is an ankle boot */
	Capture cap = capture_begin();
	ck_assert_int_eq(idx_read(&a, pa, &la), -1);
	char *msgs = capture_end(cap);
	ASSERT_NAMES(msgs, ip, "read past the last image");
	free(msgs);
	idx_close(&a);
	idx_close(&b);
	free(ip);
	free(lp);
	free(iz);
	free(lz);
}
END_TEST

START_TEST(idx_mismatches_refused)
{
	char *ip = data("fashion-64-images.idx"), *l63 = data("fashion-63-labels.idx");
	char *bad = data("bad-truncated-images.idx"), *lp = data("fashion-64-labels.idx"), *jpg = data("photo-dog.jpg");
	IdxReader r;
	Capture cap = capture_begin();
	ck_assert_int_eq(idx_open(&r, ip, l63), -1);  /* 64 images, 63 labels */
	ck_assert_int_eq(idx_open(&r, bad, lp), -1);  /* data shorter than its header says */
	ck_assert_int_eq(idx_open(&r, jpg, lp), -1);  /* not IDX at all */
	ck_assert_int_eq(idx_open(&r, lp, lp), -1);   /* labels given as images */
	char *msgs = capture_end(cap);
	char *both = xasprintf("holds 63 labels, but %s holds 64 images", ip);
	ASSERT_NAMES(msgs, l63, both);
	ASSERT_NAMES(msgs, bad, "the header promises 6272 data bytes, the file holds 6172");
	ASSERT_NAMES(msgs, jpg, "not an IDX file (bad magic ff d8 ff e0)");
	ASSERT_NAMES(msgs, lp, "IDX images need 3 dimensions (count, rows, columns) or 4 (..., channels); this file has 1");
	free(both);
	free(msgs);
	free(ip);
	free(l63);
	free(bad);
	free(lp);
	free(jpg);
}
END_TEST

START_TEST(list_parsing)
{
	char *list = data("list.txt"), *root = data("");
	Inputs *in = inputs_from_list(list, root);
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(inputs_count(in), 7);
	ck_assert_int_eq(inputs_max_label(in), 3);
	InputItem it;
	const char *names[] = { "photo-dog.jpg", "photo-eagle.jpg", "photo-flower.jpg", "dog with space.jpg",
				"photo-giraffe.jpg", "gray.jpg", "photo-meadow.jpg" };
	int labels[] = { 0, 1, 2, 3, 1, 2, 0 };
	for (int i = 0; i < 7; i++) {
		ck_assert_int_eq(inputs_next(in, &it), 1);
		ck_assert_str_eq(it.name, names[i]); /* trimmed, spaces inside kept, CRLF gone */
		ck_assert_int_eq(it.label, labels[i]);
		ck_assert(access(it.path, R_OK) == 0);
	}
	ck_assert_int_eq(inputs_next(in, &it), 0);
	inputs_free(in);
	free(list);
	list = data("list-bad.txt");
	Capture cap = capture_begin();
	ck_assert_ptr_null(inputs_from_list(list, root)); /* lines 2, 3, 5, 6 are reported */
	char *msgs = capture_end(cap);
	static const char *const lines[] = { ":2: no label (expected 'PATH LABEL')",
					     ":3: label 'cat' is not a decimal number from 0 to 2147483647",
					     ":5: label '-3' is not a decimal number",
					     ":6: label '99999999999' is not a decimal number",
					     ": 4 malformed lines; nothing was converted" };
	for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
		char *want = xasprintf("%s%s", list, lines[i]);
		ASSERT_MSG(msgs, want);
		free(want);
	}
	free(msgs);
	free(list);
	free(root);
	/* labels are decimal: a leading zero is not octal, and no 0x, sign or space inside */
	char *dir = make_temp_dir("list"), *p = xasprintf("%s/l.txt", dir);
	FILE *f = fopen(p, "w");
	fputs("a b.jpg 010\n", f);
	fclose(f);
	in = inputs_from_list(p, NULL);
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(inputs_next(in, &it), 1);
	ck_assert_str_eq(it.name, "a b.jpg");
	ck_assert_int_eq(it.label, 10);
	inputs_free(in);
	static const struct {
		const char *line, *reason;
	} bad[] = { { "a.jpg 0x1\n", ":1: label '0x1' is not a decimal number" },
		    { "a.jpg +1\n", ":1: label '+1' is not a decimal number" },
		    { "a.jpg 1e3\n", ":1: label '1e3' is not a decimal number" },
		    { "a.jpg 2147483648\n", ":1: label '2147483648' is not a decimal number from 0 to 2147483647" },
		    { "a.jpg\n", ":1: no label (expected 'PATH LABEL')" } };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		f = fopen(p, "w");
		fputs(bad[i].line, f);
		fclose(f);
		cap = capture_begin();
		ck_assert_msg(inputs_from_list(p, NULL) == NULL, "accepted %s", bad[i].line);
		msgs = capture_end(cap);
		char *want = xasprintf("%s%s", p, bad[i].reason);
		ASSERT_MSG(msgs, want);
		free(want);
		ASSERT_NAMES(msgs, p, "1 malformed line; nothing was converted");
		free(msgs);
	}
	/* an empty list through a pipe (imgprep -l - < /dev/null) holds no items on both passes:
	 * the second pass used to read an uninitialised byte (tests/fuzz/fuzz_list.c) */
	int fd[2];
	ck_assert_int_eq(pipe(fd), 0);
	close(fd[1]);
	char *pipe_path = xasprintf("/dev/fd/%d", fd[0]);
	cap = capture_begin();
	in = inputs_from_list(pipe_path, NULL);
	ck_assert_ptr_nonnull(in);
	ck_assert_uint_eq(inputs_count(in), 0);
	ck_assert_int_eq(inputs_next(in, &it), 0);
	msgs = capture_end(cap);
	ck_assert_str_eq(msgs, "");
	free(msgs);
	inputs_free(in);
	close(fd[0]);
	free(pipe_path);
	free(p);
	remove_tree(dir);
	free(dir);
}
END_TEST

START_TEST(class_folders)
{
	char *dir = data("tree");
	Inputs *in = inputs_from_dir(dir);
	ck_assert_ptr_nonnull(in);
	const ClassTable *t = inputs_classes(in);
	ck_assert_uint_eq(t->count, 3);
	ck_assert_str_eq(t->names[0], "apple");
	ck_assert_str_eq(t->names[2], "cherry");
	ck_assert_uint_eq(inputs_count(in), 8); /* .DS_Store is skipped */
	InputItem it;
	int n = 0, last = -1;
	while (inputs_next(in, &it) == 1) {
		ck_assert_int_ge(it.label, last);
		last = it.label;
		ck_assert(strstr(it.path, t->names[it.label]) != NULL);
		n++;
	}
	ck_assert_int_eq(n, 8);
	inputs_free(in);
	free(dir);
	char *p = data("fashion-classes.txt");
	ClassTable names;
	ck_assert_int_eq(classes_load(p, &names), 0);
	ck_assert_uint_eq(names.count, 10);
	ck_assert_str_eq(names.names[0], "T-shirt/top");
	classes_free(&names);
	free(p);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("image");
	TCase *t = tcase_create("resample");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, geometry);
	tcase_add_loop_test(t, resample_matches_pillow, 0, 2);
	tcase_add_test(t, jpeg_full_decode_matches_pillow);
	tcase_add_test(t, gray_resample_matches_pillow);
	tcase_add_test(t, jpeg_dct_scaled_close_to_pillow);
	suite_add_tcase(s, t);
	t = tcase_create("formats");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, cmyk_becomes_rgb);
	tcase_add_test(t, ycck_becomes_rgb);
	tcase_add_test(t, gray_jpeg_to_rgb);
	tcase_add_test(t, colour_to_luma);
	tcase_add_test(t, png_colour_types);
	tcase_add_test(t, pnm_forms);
	tcase_add_test(t, png_under_jpeg_name);
	tcase_add_test(t, progressive_jpeg);
	tcase_add_test(t, orientation_turns_upright);
	tcase_add_test(t, exif_orientation_tag);
	tcase_add_test(t, xmp_orientation_tag);
	tcase_add_test(t, raw_profile_orientation_tag);
	tcase_add_test(t, jpeg_orientation_sources);
	tcase_add_test(t, png_orientation_sources);
	tcase_add_test(t, png_itxt_not_utf8);
	tcase_add_test(t, png_text_nul_and_deflate);
	tcase_add_test(t, apng_orientation_stops_at_next_frame);
	tcase_add_test(t, exif_jpeg_turned_on_request);
	suite_add_tcase(s, t);
	t = tcase_create("bad");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, bad_files_refused);
	tcase_add_test(t, every_truncation);
	tcase_add_test(t, png_chunk_past_the_end);
	tcase_add_test(t, libjpeg_warnings);
	tcase_add_test(t, jpeg_scan_limit);
	suite_add_tcase(s, t);
	t = tcase_create("records");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, record_pixels_round_trip);
	tcase_add_test(t, codec_survives_bad_header);
	tcase_add_test(t, record_pixels_threads);
	tcase_add_test(t, imgprep_records_round_trip);
	suite_add_tcase(s, t);
	t = tcase_create("inputs");
	tcase_add_test(t, idx_plain_and_gzip);
	tcase_add_test(t, idx_mismatches_refused);
	tcase_add_test(t, list_parsing);
	tcase_add_test(t, class_folders);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_image");
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
