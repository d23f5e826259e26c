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
#include "libcommon/db.h"
#include "libcommon/image.h"
#include "libcommon/net.h"
#include "libcommon/png_write.h"
#include "libcommon/spec.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "libcommon/viz/viz.h"
#include "tests/lib/testutil.h"

static char *dir;

static void setup(void) { dir = make_temp_dir("viz"); }
static void teardown(void)
{
	remove_tree(dir);
	free(dir);
	viz_shutdown(); /* each test runs in a child of its own: its leak check comes at its exit */
}

/* call fails (returns -1) and prints a message holding text (the file and the problem). */
#define EXPECT_REFUSAL(call, text)                                                                       \
	do {                                                                                             \
		Capture cap_ = capture_begin();                                                          \
		int rc_ = (call);                                                                        \
		char *msg_ = capture_end(cap_);                                                          \
		ck_assert_msg(rc_ == -1 && strstr(msg_, text), "%s: returned %d, said '%s', expected '%s'", \
			      #call, rc_, msg_, text);                                                   \
		free(msg_);                                                                              \
	} while (0)

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
	EXPECT_REFUSAL(png_write_file(bad, &px[0][0], 3, 2, 3, 12), "No such file or directory");
	/* bad geometry is refused before any file is made */
	char *odd = xasprintf("%s/c.png", dir);
	EXPECT_REFUSAL(png_write_file(odd, &px[0][0], 3, 2, 2, 12), "c.png: PNG: cannot write 3x2 pixels of 2 channels");
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
	EXPECT_REFUSAL(filters_layout(&fb, &st, &lay), "conv1: 4 kernels cannot be split into 3 groups");
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
	EXPECT_REFUSAL(filter_bank_load(missing, &fb), "none.anw: No such file or directory");
	/* a PNG is not a model */
	uint8_t px[3] = { 1, 2, 3 };
	char *png = xasprintf("%s/x.png", dir);
	ck_assert_int_eq(png_write_file(png, px, 1, 1, 3, 3), 0);
	EXPECT_REFUSAL(filter_bank_load(png, &fb), "x.png: not an anet tensor file");
	/* a model cut short */
	char *model = save_model("cut.anw", rgb_net, 5, NULL, 0);
	struct stat st;
	ck_assert_int_eq(stat(model, &st), 0);
	ck_assert_int_eq(truncate(model, st.st_size / 2), 0);
	EXPECT_REFUSAL(filter_bank_load(model, &fb), "cut.anw: file is");
	free(model);
	free(png);
	free(missing);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* nearest neighbours */

/* The K nearest by a double-precision triple loop, ties to the earlier row. */
static void knn_reference(const float *q, const float *g, int n, int dim, int k, int64_t skip, int64_t *ids,
			  double *dist)
{
	for (int j = 0; j < k; j++) {
		ids[j] = -1;
		dist[j] = INFINITY;
	}
	for (int r = 0; r < n; r++) {
		if (r == skip)
			continue;
		double d = 0;
		for (int c = 0; c < dim; c++)
			d += ((double)q[c] - g[(size_t)r * dim + c]) * ((double)q[c] - g[(size_t)r * dim + c]);
		int j = k - 1;
		if (!(d < dist[j]))
			continue;
		while (j > 0 && d < dist[j - 1]) {
			dist[j] = dist[j - 1];
			ids[j] = ids[j - 1];
			j--;
		}
		dist[j] = d;
		ids[j] = r;
	}
	for (int j = 0; j < k; j++)
		dist[j] = sqrt(dist[j]);
}

START_TEST(knn_against_loop)
{
	enum { NQ = 7, DIM = 33, N = 500, K = 6 };
	float *q = xmalloc(NQ * DIM * sizeof(float)), *g = xmalloc(N * DIM * sizeof(float));
	fill_uniform(q, NQ * DIM, 1, -1, 1);
	fill_uniform(g, N * DIM, 2, -1, 1);
	memcpy(g + 17 * DIM, q + 2 * DIM, DIM * sizeof(float)); /* query 2 is gallery row 17 */
	int64_t ids[N];
	for (int i = 0; i < N; i++)
		ids[i] = i;
	/* the same answer whatever the blocks */
	static const int blocks[] = { N, 1, 100, 399 };
	for (size_t b = 0; b < ARRAY_LEN(blocks); b++) {
		Knn *s = knn_new(q, NQ, DIM, K);
		knn_exclude(s, 3, 40);
		for (int first = 0; first < N; first += blocks[b]) {
			int n = N - first < blocks[b] ? N - first : blocks[b];
			knn_add(s, g + (size_t)first * DIM, n, ids + first);
		}
		for (int i = 0; i < NQ; i++) {
			int64_t got[K], want[K];
			float d[K];
			double wd[K];
			ck_assert_int_eq(knn_result(s, i, got, d), K);
			knn_reference(q + i * DIM, g, N, DIM, K, i == 3 ? 40 : -1, want, wd);
			for (int j = 0; j < K; j++) {
				ck_assert_msg(got[j] == want[j], "block %d query %d neighbour %d: row %lld, expected %lld",
					      blocks[b], i, j, (long long)got[j], (long long)want[j]);
				/* the expansion's cancellation: a few float ulps of the squared norms (~11) */
				ck_assert_msg(fabs(d[j] - wd[j]) <= 1e-3 * (1 + wd[j]) + (wd[j] < 1e-2 ? 3e-3 : 0),
					      "distance %g, expected %g", d[j], wd[j]);
			}
		}
		int64_t got[K];
		float d[K];
		knn_result(s, 2, got, d);
		ck_assert_int_eq(got[0], 17); /* itself, at distance ~0 */
		ck_assert(d[0] < 3e-3);
		knn_free(s);
	}
	/* a gallery smaller than K */
	Knn *s = knn_new(q, NQ, DIM, K);
	knn_add(s, g, 4, ids);
	int64_t got[K];
	float d[K];
	ck_assert_int_eq(knn_result(s, 0, got, d), 4);
	knn_free(s);
	free(q);
	free(g);
}
END_TEST

/* A database of n raw 8x8 RGB images, image i a flat colour, labels lab[i]; class names. */
static char *small_db(const char *name, int n, const int32_t *lab)
{
	char *path = xasprintf("%s/%s", dir, name);
	DbBuildOptions o;
	db_build_defaults(&o);
	o.quiet = 1;
	o.shuffle = 0;
	DbBuild *b = db_build_open(path, &o);
	ck_assert_ptr_nonnull(b);
	char *names[3] = { "red", "green", "blue" };
	ClassTable t = { 3, names };
	ck_assert_int_eq(db_build_classes(b, &t, "test"), 0);
	uint8_t px[8 * 8 * 3];
	for (int i = 0; i < n; i++) {
		for (int k = 0; k < 64; k++) {
			px[3 * k] = (uint8_t)(lab[i] == 0 ? 200 : 20 * i);
			px[3 * k + 1] = (uint8_t)(lab[i] == 1 ? 200 : 20 * i);
			px[3 * k + 2] = (uint8_t)(lab[i] == 2 ? 200 : 20 * i);
		}
		RecordView r = { .label = lab[i], .height = 8, .width = 8, .channels = 3, .encoding = ENC_RAW,
				 .name_len = 3, .payload_len = sizeof px, .name = "img", .payload = px };
		ck_assert_int_eq(db_build_add(b, &r, "test"), 0);
	}
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	return path;
}

/* A features file: row i has features f[i], label lab[i], index key[i]. */
static char *features_file(const char *name, int n, int dim, const float *f, const int32_t *lab, const int64_t *key)
{
	char *path = xasprintf("%s/%s", dir, name);
	TensorWriter w;
	uint64_t fd[2] = { (uint64_t)n, (uint64_t)dim }, nd = (uint64_t)n;
	ck_assert_int_eq(tensorwriter_open(&w, path, TF_FEATURES), 0);
	ck_assert_int_eq(tensorwriter_add(&w, "features", DT_F32, 2, fd, f), 0);
	ck_assert_int_eq(tensorwriter_add(&w, "labels", DT_I32, 1, &nd, lab), 0);
	ck_assert_int_eq(tensorwriter_add(&w, "index", DT_I64, 1, &nd, key), 0);
	ck_assert_int_eq(tensorwriter_add_text(&w, "names", "a\nb\n"), 0);
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
	return path;
}

START_TEST(neighbours_from_files)
{
	static const int32_t qlab[3] = { 0, 1, 2 }, glab[6] = { 2, 0, 1, 0, 2, 1 };
	char *qdb = small_db("q.lmdb", 3, qlab), *gdb = small_db("g.lmdb", 6, glab);
	/* 2-d features: class c near (c, c); gallery rows spread around them */
	float qf[6] = { 0, 0, 1, 1, 2, 2 }, gf[12] = { 2.1f, 2, 0.2f, 0, 1, 1.3f, -0.1f, 0, 1.9f, 2, 1, 0.9f };
	int64_t qkey[3] = { 0, 1, 2 }, gkey[6] = { 0, 1, 2, 3, 4, 5 };
	char *qff = features_file("q.anf", 3, 2, qf, qlab, qkey), *gff = features_file("g.anf", 6, 2, gf, glab, gkey);
	char *png = xasprintf("%s/n.png", dir);
	NeighboursOptions o = { .query_features = qff, .gallery_features = gff, .query_db = qdb, .gallery_db = gdb,
				.k = 2, .queries = 5 };
	Capture cap = capture_begin();
	ck_assert_int_eq(viz_neighbours(&o, png), 0);
	char *msgs = capture_end(cap);
	ASSERT_MSG(msgs, "gallery 100% 6/6 rows"); /* the progress line: every gallery row searched */
	free(msgs);
	Image im = read_png(png);
	ck_assert_int_gt(im.width, 3 * 96);
	ck_assert_int_gt(im.height, 3 * 96);
	image_free(&im);

	/* refusals: features of another database (index past its end, a label that differs),
	 * features of different lengths */
	int64_t badkey[3] = { 0, 1, 7 };
	char *f1 = features_file("bad1.anf", 3, 2, qf, qlab, badkey);
	o.query_features = f1;
	EXPECT_REFUSAL(viz_neighbours(&o, png), "bad1.anf: row 2 has index 7, but");
	int32_t badlab[3] = { 0, 2, 2 };
	char *f2 = features_file("bad2.anf", 3, 2, qf, badlab, qkey);
	o.query_features = f2;
	EXPECT_REFUSAL(viz_neighbours(&o, png), "bad2.anf says 2: features of another database?");
	char *f3 = features_file("bad3.anf", 2, 3, qf, qlab, qkey);
	o.query_features = f3;
	EXPECT_REFUSAL(viz_neighbours(&o, png), "has 3: features of different layers or networks");
	o.query_features = png; /* not a tensor file */
	EXPECT_REFUSAL(viz_neighbours(&o, png), "n.png: not an anet tensor file");
	int32_t shifted[6];
	for (int i = 0; i < 6; i++)
		shifted[i] = (glab[i] + 1) % 3;
	char *f4 = features_file("bad4.anf", 6, 2, gf, shifted, gkey);
	o.query_features = qff;
	o.gallery_features = f4;
	EXPECT_REFUSAL(viz_neighbours(&o, png), "bad4.anf says");
	o.gallery_features = gff;
	free(f4);
	/* --start past the end */
	o.query_features = qff;
	o.start = 3;
	EXPECT_REFUSAL(viz_neighbours(&o, png), "q.anf: --start 3 is past the last row (2)");
	free(f1);
	free(f2);
	free(f3);
	free(png);
	free(qff);
	free(gff);
	free(qdb);
	free(gdb);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the training log */

static char *write_text(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(trainlog_parse)
{
	/* columns found by name, in any order, with one more; val rows without a rate; CRLF */
	char *good = write_text("good.tsv", "# a comment\n"
					    "kind\tstep\tepoch\tloss\ttop1\ttop5\tlr\tnew_column\r\n"
					    "train\t10\t0.5\t2.3\t0.9\t0.5\t0.01\tx\r\n"
					    "val\t20\t1\t2.1\t0.8\t0.4\t-\t\r\n"
					    "train\t30\t1.5\tnan\t0.7\t0.3\t0.001\ty\n");
	TrainLog log;
	ck_assert_int_eq(trainlog_load(good, &log), 0);
	ck_assert_uint_eq(log.count, 3);
	ck_assert_int_eq(log.rows[1].val, 1);
	ck_assert_int_eq(log.rows[1].step, 20);
	ck_assert(fabs(log.rows[1].top5 - 0.4) < 1e-12);
	ck_assert(isnan(log.rows[1].lr));
	ck_assert(isnan(log.rows[2].loss));
	ck_assert(isnan(log.rows[0].elapsed));
	ck_assert(fabs(trainlog_value(&log.rows[2], LOG_LR) - 0.001) < 1e-15);
	char *png = xasprintf("%s/c.png", dir);
	CurvesOptions co = { .plotter = PLOT_CAIRO, .width = 640, .height = 480 };
	ck_assert_int_eq(viz_curves(&log, &co, good, png), 0);
	Image im = read_png(png);
	ck_assert_int_eq(im.width, 640);
	ck_assert_int_eq(im.height, 480);
	image_free(&im);
	trainlog_free(&log);

	static const char *const bad[] = {
		"",                                                        /* empty */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n",               /* no rows */
		"step\tepoch\tkind\tloss\ttop1\ttop5\n1\t0\ttrain\t1\t1\t1\n", /* no lr column */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttest\t1\t0.5\t0.5\t0.1\n", /* kind */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\t1\t0.5\t0.5\n",    /* a field short */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\tx\t0.5\t0.5\t0.1\n", /* not a number */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\t1\t1.5\t0.5\t0.1\n", /* an error rate > 1 */
		"step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n-\t0\ttrain\t1\t0.5\t0.5\t0.1\n", /* no step */
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *p = write_text("bad.tsv", bad[i]);
		EXPECT_REFUSAL(trainlog_load(p, &log), "bad.tsv");
		free(p);
	}
	char *kind = write_text("kind.tsv", bad[3]);
	EXPECT_REFUSAL(trainlog_load(kind, &log), "kind.tsv:2: kind 'test' is neither train nor val");
	free(kind);
	char *missing = xasprintf("%s/none.tsv", dir);
	EXPECT_REFUSAL(trainlog_load(missing, &log), "none.tsv: No such file or directory");
	free(missing);
	free(png);
	free(good);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* the mean image */

START_TEST(mean_pictures)
{
	/* a flat mean (as an all-zero mean file) still draws, with its warning; a gradient too */
	Stats st = { .height = 6, .width = 4, .channels = 3, .images = 2 };
	st.mean = xcalloc(6 * 4 * 3, sizeof(float));
	st.source = xstrdup("x.lmdb");
	char *png = xasprintf("%s/m.png", dir);
	ck_assert_int_eq(viz_mean(&st, "flat.stats", 0, png), 0);
	Image im = read_png(png);
	ck_assert_int_ge(im.width, 520);
	image_free(&im);
	for (int i = 0; i < 6 * 4 * 3; i++)
		st.mean[i] = (float)(i * 3);
	ck_assert_int_eq(viz_mean(&st, "ramp.stats", 5, png), 0);
	stats_free(&st);
	/* a weights-only model holds no mean image; a PNG is no statistics file */
	char *model = save_model("w.anw", rgb_net, 5, NULL, 0);
	EXPECT_REFUSAL(viz_stats_load(model, &st), "w.anw: this model holds weights only, no mean image");
	EXPECT_REFUSAL(viz_stats_load(png, &st), "m.png: not an anet tensor file");
	free(model);
	free(png);
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
	tcase_add_test(t, knn_against_loop);
	tcase_add_test(t, neighbours_from_files);
	tcase_add_test(t, trainlog_parse);
	tcase_add_test(t, mean_pictures);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
