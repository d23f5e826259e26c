/* check_viz.c: anet-viz's library: the PNG writer, filter pictures read back pixel by pixel, the
 * nearest-neighbour search against a double-precision triple loop, the training-log parser. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "libcommon/image.h"
#include "libcommon/net.h"
#include "libcommon/png_write.h"
#include "libcommon/spec.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void) { dir = make_temp_dir("viz"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
}

static Ctx *open_cpu(void)
{
	CtxOptions o = { .device = "cpu", .threads = 1 };
	char err[512];
	Ctx *c = ctx_open(&o, err, sizeof err, NULL, 0);
	if (!c)
		ck_abort_msg("ctx_open: %s", err);
	return c;
}

/* A PNG read back as 3-channel pixels at its own size (imgprep's decoder, no resize). */
static Image read_png(const char *path)
{
	ImageCodec *codec = codec_new();
	PrepOptions o;
	prep_options_init(&o);
	o.size = 0;
	Image im;
	PrepNotes notes;
	char why[256];
	if (image_prepare_file(codec, path, &o, &im, &notes, why, sizeof why) != 0)
		ck_abort_msg("%s: %s", path, why);
	ck_assert_str_eq(notes.format, "PNG");
	codec_free(codec);
	return im;
}

static const uint8_t *pixel_at(const Image *im, int x, int y)
{
	ck_assert(x >= 0 && x < im->width && y >= 0 && y < im->height);
	return im->pixels + ((size_t)y * im->width + x) * 3;
}

/* ---------------------------------------------------------------------------------------- */
/* png_write */

START_TEST(png_round_trip)
{
	/* 3x2 RGB with a stride wider than the row */
	uint8_t px[2][12] = { { 1, 2, 3, 40, 50, 60, 255, 0, 128, 9, 9, 9 }, { 7, 8, 9, 0, 0, 0, 200, 201, 202, 9, 9, 9 } };
	char *path = xasprintf("%s/a.png", dir);
	ck_assert_int_eq(png_write_file(path, &px[0][0], 3, 2, 3, 12), 0);
	Image im = read_png(path);
	ck_assert_int_eq(im.width, 3);
	ck_assert_int_eq(im.height, 2);
	for (int y = 0; y < 2; y++)
		ck_assert_mem_eq(im.pixels + y * 9, px[y], 9);
	image_free(&im);
	/* a folder that does not exist: refused, nothing left behind */
	char *bad = xasprintf("%s/no/such/b.png", dir);
	ck_assert_int_eq(png_write_file(bad, &px[0][0], 3, 2, 3, 12), -1);
	/* bad geometry is refused before any file is made */
	char *odd = xasprintf("%s/c.png", dir);
	ck_assert_int_eq(png_write_file(odd, &px[0][0], 3, 2, 2, 12), -1);
	ck_assert_int_eq(access(odd, F_OK), -1);
	free(odd);
	free(bad);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* filters */

/* Saves a net_save model of spec text with first-layer weights w (NULL: the seeded init). */
static char *save_model(const char *name, const char *text, int classes, const float *w, size_t n)
{
	Spec *s = spec_parse(text, name, classes);
	ck_assert_ptr_nonnull(s);
	Ctx *ctx = open_cpu();
	Net *net = net_create(ctx, s, 1, NET_EVAL);
	ck_assert_ptr_nonnull(net);
	NetInit init = { .seed = 3 };
	ck_assert_int_eq(net_init(net, &init), 0);
	if (w) {
		ck_assert_int_eq(s->params[0].count, (int64_t)n);
		ck_assert_int_eq(ctx_upload(ctx, net_param(net, 0), w, n * sizeof(float)), 0);
	}
	char *path = xasprintf("%s/%s", dir, name);
	ck_assert_int_eq(net_save(net, path), 0);
	net_free(net);
	ctx_close(ctx);
	spec_free(s);
	return path;
}

static const char rgb_net[] = "input size=8 channels=3\n"
			      "conv name=conv1 out=4 kernel=3 pad=1\n"
			      "relu\n"
			      "conv name=conv2 out=4 kernel=3 pad=1 groups=2\n"
			      "relu\n"
			      "fc name=fc3 out=classes\n"
			      "softmax\n";

/* Kernels 0..2: (k+1) * (v - 13) / 10 with v = c*9 + y*3 + x, the same pattern at three
 * strengths; kernel 3 constant 0.5. */
static void rgb_weights(float *w)
{
	for (int k = 0; k < 4; k++)
		for (int v = 0; v < 27; v++)
			w[k * 27 + v] = k < 3 ? (float)(k + 1) * (float)(v - 13) / 10.0f : 0.5f;
}

static int expect_byte(double w, double lo, double hi)
{
	return hi > lo ? (int)lrint((w - lo) / (hi - lo) * 255.0) : 128;
}

/* Every weight of every kernel is the square it should be, in the right colour channel. */
static void check_kernels(const char *png, const FilterLayout *lay, const float *w, FilterNorm norm)
{
	Image im = read_png(png);
	ck_assert_int_eq(im.width, lay->width);
	ck_assert_int_eq(im.height, lay->height);
	for (int k = 0; k < 4; k++) {
		double lo = norm == NORM_GLOBAL ? -3.9 : k < 3 ? -1.3 * (k + 1) : 0.5;
		double hi = norm == NORM_GLOBAL ? 3.9 : k < 3 ? 1.3 * (k + 1) : 0.5;
		int x0, y0;
		filters_kernel_origin(lay, k, &x0, &y0);
		for (int c = 0; c < 3; c++)
			for (int y = 0; y < 3; y++)
				for (int x = 0; x < 3; x++) {
					int want = expect_byte(w[k * 27 + c * 9 + y * 3 + x], lo, hi);
					/* both corners of the square */
					const uint8_t *p = pixel_at(&im, x0 + x * lay->scale, y0 + y * lay->scale);
					const uint8_t *q = pixel_at(&im, x0 + (x + 1) * lay->scale - 1,
								    y0 + (y + 1) * lay->scale - 1);
					ck_assert_msg(abs(p[c] - want) <= 1 && abs(q[c] - want) <= 1,
						      "kernel %d channel %d (%d,%d): %d/%d, expected %d", k, c, x, y, p[c],
						      q[c], want);
				}
	}
	image_free(&im);
}

START_TEST(filters_pixels)
{
	float w[4 * 27];
	rgb_weights(w);
	char *model = save_model("rgb.anw", rgb_net, 5, w, 108);
	FilterBank fb;
	ck_assert_int_eq(filter_bank_load(model, &fb), 0);
	ck_assert_str_eq(fb.layer, "conv1");
	ck_assert_int_eq(fb.count, 4);
	ck_assert_int_eq(fb.channels, 3);
	ck_assert_int_eq(fb.groups, 2); /* conv2's */

	FilterStyle st = { .norm = NORM_KERNEL, .scale = 4, .caption = 1 };
	FilterLayout lay;
	ck_assert_int_eq(filters_layout(&fb, &st, &lay), 0);
	ck_assert_int_eq(lay.groups, 2);
	ck_assert_int_eq(lay.per_group, 2);
	char *png = xasprintf("%s/f.png", dir);
	ck_assert_int_eq(filters_draw(&fb, &st, png), 0);
	check_kernels(png, &lay, w, NORM_KERNEL);

	/* the two halves are apart: background from the bottom of kernel 0 to the top of kernel 2 */
	int x0, y0, x2, y2;
	filters_kernel_origin(&lay, 0, &x0, &y0);
	filters_kernel_origin(&lay, 2, &x2, &y2);
	ck_assert_int_eq(x0, x2);
	ck_assert_int_ge(y2 - (y0 + lay.tile_h), lay.block_gap);
	Image im = read_png(png);
	for (int y = y0 + lay.tile_h; y < y2; y++)
		ck_assert_int_eq(pixel_at(&im, x0 + 1, y)[1], VIZ_BACKGROUND & 255);
	image_free(&im);

	st.norm = NORM_GLOBAL;
	ck_assert_int_eq(filters_draw(&fb, &st, png), 0);
	check_kernels(png, &lay, w, NORM_GLOBAL);

	/* --groups overrides, and must divide the kernels */
	st.groups = 1;
	ck_assert_int_eq(filters_layout(&fb, &st, &lay), 0);
	ck_assert_int_eq(lay.groups, 1);
	st.groups = 3;
	ck_assert_int_eq(filters_layout(&fb, &st, &lay), -1);
	filter_bank_free(&fb);
	free(png);
	free(model);
}
END_TEST

/* One input channel: grey squares; a first fc layer: its rows as pictures of the input. */
START_TEST(filters_gray_and_fc)
{
	static const char gray_net[] = "input size=6 channels=1\n"
				       "conv name=conv1 out=3 kernel=2\n"
				       "relu\n"
				       "fc name=fc2 out=classes\n"
				       "softmax\n";
	float w[12] = { 0, 1, 2, 3, -1, -1, -1, 1, 5, 5, 5, 5 };
	char *model = save_model("gray.anw", gray_net, 2, w, 12);
	FilterBank fb;
	ck_assert_int_eq(filter_bank_load(model, &fb), 0);
	ck_assert_int_eq(fb.channels, 1);
	ck_assert_int_eq(fb.groups, 1);
	FilterStyle st = { .norm = NORM_KERNEL, .scale = 3 };
	FilterLayout lay;
	ck_assert_int_eq(filters_layout(&fb, &st, &lay), 0);
	char *png = xasprintf("%s/g.png", dir);
	ck_assert_int_eq(filters_draw(&fb, &st, png), 0);
	Image im = read_png(png);
	static const int want[3][4] = { { 0, 85, 170, 255 }, { 0, 0, 0, 255 }, { 128, 128, 128, 128 } };
	for (int k = 0; k < 3; k++) {
		int x0, y0;
		filters_kernel_origin(&lay, k, &x0, &y0);
		for (int i = 0; i < 4; i++) {
			const uint8_t *p = pixel_at(&im, x0 + (i % 2) * 3 + 1, y0 + (i / 2) * 3 + 1);
			ck_assert_int_eq(p[0], want[k][i]);
			ck_assert_int_eq(p[1], want[k][i]); /* grey */
			ck_assert_int_eq(p[2], want[k][i]);
		}
	}
	image_free(&im);
	filter_bank_free(&fb);

	static const char mlp[] = "input size=4 channels=1\n"
				  "fc name=fc1 out=5\n"
				  "relu\n"
				  "fc name=fc2 out=classes\n"
				  "softmax\n";
	char *m2 = save_model("mlp.anw", mlp, 3, NULL, 0);
	ck_assert_int_eq(filter_bank_load(m2, &fb), 0);
	ck_assert_str_eq(fb.layer, "fc1");
	ck_assert_int_eq(fb.count, 5);
	ck_assert_int_eq(fb.height, 4);
	ck_assert_int_eq(fb.width, 4);
	ck_assert_int_eq(filters_draw(&fb, &st, png), 0);
	filter_bank_free(&fb);
	free(m2);
	free(png);
	free(model);
}
END_TEST

START_TEST(filters_refusals)
{
	FilterBank fb;
	char *missing = xasprintf("%s/none.anw", dir);
	ck_assert_int_eq(filter_bank_load(missing, &fb), -1);
	/* a PNG is not a model */
	uint8_t px[3] = { 1, 2, 3 };
	char *png = xasprintf("%s/x.png", dir);
	ck_assert_int_eq(png_write_file(png, px, 1, 1, 3, 3), 0);
	ck_assert_int_eq(filter_bank_load(png, &fb), -1);
	/* a model cut short */
	char *model = save_model("cut.anw", rgb_net, 5, NULL, 0);
	struct stat st;
	ck_assert_int_eq(stat(model, &st), 0);
	ck_assert_int_eq(truncate(model, st.st_size / 2), 0);
	ck_assert_int_eq(filter_bank_load(model, &fb), -1);
	free(model);
	free(png);
	free(missing);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("viz");
	TCase *t = tcase_create("viz");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, png_round_trip);
	tcase_add_test(t, filters_pixels);
	tcase_add_test(t, filters_gray_and_fc);
	tcase_add_test(t, filters_refusals);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
