/* check_viz.c: anet-viz's library: the PNG writer, filter and feature-map pictures read back pixel
 * by pixel, feature maps of a model whose maps are known functions of its input, the
 * nearest-neighbour search against a double-precision triple loop, the training-log and
 * health-log parsers, and the tensor-file table's figures against a two-pass reference. */
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
#include "libcommon/model.h"
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

/* Saves a model of spec text with first-layer weights w (NULL: the seeded init): a net_save
 * file of weights only, or with stats, a whole model of side x side x 3 records (input scale 1). */
static char *save_model_with(const char *name, const char *text, int classes, const float *w, size_t n,
			     const Stats *stats, const ClassTable *names, uint32_t side)
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
	if (stats)
		ck_assert_int_eq(model_save(path, net, stats, names, side, side, 3, 1.0f), 0);
	else
		ck_assert_int_eq(net_save(net, path), 0);
	net_free(net);
	ctx_close(ctx);
	spec_free(s);
	return path;
}

static char *save_model(const char *name, const char *text, int classes, const float *w, size_t n)
{
	return save_model_with(name, text, classes, w, n, NULL, NULL, 0);
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

/* A database of n raw 8x8 RGB records, pixels px (n x 8 x 8 x 3), labels lab[i]; class names
 * red, green, blue. */
static char *db_of(const char *name, int n, const int32_t *lab, const uint8_t *px)
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
	for (int i = 0; i < n; i++) {
		RecordView r = { .label = lab[i], .height = 8, .width = 8, .channels = 3, .encoding = ENC_RAW,
				 .name_len = 3, .payload_len = 8 * 8 * 3, .name = "img", .payload = px + i * 8 * 8 * 3 };
		ck_assert_int_eq(db_build_add(b, &r, "test"), 0);
	}
	ck_assert_int_eq(db_build_finish(b, NULL), 0);
	return path;
}

/* The same with image i a flat colour: 200 in its class's channel, 20 i in the others. */
static char *small_db(const char *name, int n, const int32_t *lab)
{
	uint8_t *px = xmallocarray((size_t)n, 8 * 8 * 3);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 64; k++)
			for (int c = 0; c < 3; c++)
				px[(i * 64 + k) * 3 + c] = (uint8_t)(lab[i] == c ? 200 : 20 * i);
	char *path = db_of(name, n, lab, px);
	free(px);
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

	/* a last line cut short (no newline, fields missing) is left out with a note; one whose
	 * fields are all there is a row without its newline */
	char *cut = write_text("cut.tsv", "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\t1\t0.5\t0.5\t0.1\n2\t0.1\ttra");
	Capture cap = capture_begin();
	int rc = trainlog_load(cut, &log);
	char *msg = capture_end(cap);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(log.count, 1);
	ck_assert_msg(strstr(msg, "cut.tsv:3: the last line is incomplete (3 of 7 fields"), "said '%s'", msg);
	free(msg);
	trainlog_free(&log);
	free(cut);
	cut = write_text("cut.tsv", "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\t1\t0.5\t0.5\t0.1");
	ck_assert_int_eq(trainlog_load(cut, &log), 0);
	ck_assert_uint_eq(log.count, 1);
	trainlog_free(&log);
	free(cut);
	cut = write_text("cut.tsv", "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttra");
	EXPECT_REFUSAL(trainlog_load(cut, &log), "cut.tsv: no rows after the header");
	free(cut);
	free(png);
	free(good);
}
END_TEST

START_TEST(healthlog_parse)
{
	/* columns found by name, in any order, with one more and without the optional ones; rows of
	 * layers without a ReLU (units, dead empty); gaps ("-", "nan"); a comment; CRLF */
	char *good = write_text("health.tsv", "# a comment\n"
					      "layer\tstep\tepoch\tweight_abs\tupdate_ratio\tunits\tdead\tnew_column\r\n"
					      "conv1\t4\t1\t0.2\t0.01\t8\t0\tx\r\n"
					      "fc2\t4\t1\t0.1\t0.02\t\t\t\r\n"
					      "conv1\t8\t2\t0.25\t-\t8\t3\t\n"
					      "fc2\t8\t2\tnan\t0.001\t-\t-\ty\n");
	HealthLog log;
	ck_assert_int_eq(healthlog_load(good, &log), 0);
	ck_assert_uint_eq(log.count, 4);
	ck_assert_int_eq(log.nlayers, 2);
	ck_assert_str_eq(log.layers[0], "conv1");
	ck_assert_str_eq(log.layers[1], "fc2");
	ck_assert_int_eq(log.rows[2].layer, 0);
	ck_assert_int_eq(log.rows[3].layer, 1);
	ck_assert_int_eq(log.rows[2].step, 8);
	ck_assert(fabs(log.rows[2].epoch - 2) < 1e-12);
	ck_assert(fabs(log.rows[2].weight_abs - 0.25) < 1e-12);
	ck_assert(isnan(log.rows[2].update_ratio));
	ck_assert(log.rows[2].units == 8 && log.rows[2].dead == 3);
	ck_assert(isnan(log.rows[1].units) && isnan(log.rows[1].dead));
	ck_assert(isnan(log.rows[3].weight_abs));
	ck_assert(isnan(log.rows[0].update_abs) && isnan(log.rows[0].bias_mean) && isnan(log.rows[0].zero_share));
	char *png = xasprintf("%s/h.png", dir);
	PlotOptions po = { .plotter = PLOT_CAIRO, .width = 640, .height = 480 };
	ck_assert_int_eq(viz_health(&log, &po, good, png), 0);
	Image im = read_png(png);
	ck_assert_int_eq(im.width, 640);
	ck_assert_int_eq(im.height, 480);
	image_free(&im);
	healthlog_free(&log);

	/* anet-train's own header, then a row each (the columns a bias may be negative in) */
	const char *header = "step\tepoch\tlayer\tweight_abs\tupdate_abs\tupdate_ratio\tbias_mean\tunits\tdead\tzero_share\n";
	char *text = xasprintf("%s4\t1\tfc1\t0.1\t1e-4\t1e-3\t-0.5\t16\t16\t1\n", header);
	char *p = write_text("own.tsv", text);
	ck_assert_int_eq(healthlog_load(p, &log), 0);
	ck_assert(log.rows[0].bias_mean == -0.5 && log.rows[0].dead == 16 && log.rows[0].zero_share == 1);
	healthlog_free(&log);
	free(p);
	free(text);

	static const struct {
		int whole;       /* text is the whole file, else a row after the header */
		const char *text, *why;
	} bad[] = {
		{ 1, "", "bad.tsv: empty: not an anet-train --health log" },
		{ 1, "step\tepoch\tlayer\tweight_abs\tupdate_ratio\tunits\n4\t1\tfc1\t0.1\t0.1\t8\n",
		  "bad.tsv:1: the header has no 'dead' column: not an anet-train --health log" },
		{ 1, "step\tepoch\tkind\tloss\ttop1\ttop5\tlr\n1\t0\ttrain\t1\t1\t1\t0.1\n",
		  "bad.tsv:1: the header has no 'layer' column" },
		{ 0, "", "bad.tsv: no rows after the header" },
		{ 0, "4\t1\tfc1\tx\t0\t0.1\t0\t8\t0\t0.5\n", "bad.tsv:2: weight_abs: 'x' is not a number" },
		{ 0, "4\t1\tfc1\t-0.1\t0\t0.1\t0\t8\t0\t0.5\n", "bad.tsv:2: weight_abs: '-0.1' is not a number in 0..1e+30" },
		{ 0, "4\t1\tfc1\t0.1\t0\t-1e-3\t0\t8\t0\t0.5\n", "bad.tsv:2: update_ratio: '-1e-3'" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8\t9\t0.5\n", "bad.tsv:2: dead: 9 is more than the layer's 8 units" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8.5\t0\t0.5\n", "bad.tsv:2: units: '8.5' is not a whole number" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8\t-1\t0.5\n", "bad.tsv:2: dead: '-1'" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8\t0\t1.5\n", "bad.tsv:2: zero_share: '1.5'" },
		{ 0, "4\t1\t\t0.1\t0\t0.1\t0\t8\t0\t0.5\n", "bad.tsv:2: layer is missing" },
		{ 0, "-\t1\tfc1\t0.1\t0\t0.1\t0\t8\t0\t0.5\n", "bad.tsv:2: step is missing" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8\t0\n", "bad.tsv:2: 9 fields, the header has 10" },
		{ 0, "4\t1\tfc1\t0.1\t0\t0.1\t0\t8\t0\t0.5\n8\t2\tfc1\t0.1\t0\t0.1\tbias\t8\t0\t0.5\n",
		  "bad.tsv:3: bias_mean: 'bias'" },
		{ 0, "4\t1\tthe-name-of-a-layer-longer-than-31\t0.1\t0\t0.1\t0\t8\t0\t0.5\n", "bad.tsv:2: layer 'the-name" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *t = bad[i].whole ? xstrdup(bad[i].text) : xasprintf("%s%s", header, bad[i].text);
		char *f = write_text("bad.tsv", t);
		EXPECT_REFUSAL(healthlog_load(f, &log), bad[i].why);
		ck_assert_ptr_null(log.rows);
		free(f);
		free(t);
	}
	char *missing = xasprintf("%s/none.tsv", dir);
	EXPECT_REFUSAL(healthlog_load(missing, &log), "none.tsv: No such file or directory");
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

/* ---------------------------------------------------------------------------------------- */
/* feature maps */

/* The byte a value becomes between lo (black) and hi (white); flat: black. */
static int grey_of(double v, double lo, double hi)
{
	return hi > lo ? (int)lrint((v - lo) / (hi - lo) * 255.0) : 0;
}

/* Every value of map k of layer li is a square of the expected colour (its centre and both
 * corners): grey from lo to hi, red where the value is not finite. */
static void check_map(const Image *im, const ActsLayout *lay, int li, const ActsLayer *l, int k, double lo, double hi)
{
	int x0, y0, s = lay->layers[li].scale;
	acts_map_origin(lay, li, k, &x0, &y0);
	for (int y = 0; y < l->height; y++)
		for (int x = 0; x < l->width; x++) {
			double v = l->values[((size_t)k * l->height + y) * l->width + x];
			int want[3], g = isfinite(v) ? grey_of(v, lo, hi) : -1;
			for (int c = 0; c < 3; c++)
				want[c] = g >= 0 ? g : (int)(VIZ_WRONG >> (16 - 8 * c) & 255);
			const uint8_t *p[3] = { pixel_at(im, x0 + x * s + s / 2, y0 + y * s + s / 2),
						pixel_at(im, x0 + x * s, y0 + y * s),
						pixel_at(im, x0 + (x + 1) * s - 1, y0 + (y + 1) * s - 1) };
			for (int i = 0; i < 3; i++)
				for (int c = 0; c < 3; c++)
					ck_assert_msg(abs(p[i][c] - want[c]) <= 1,
						      "%s map %d (%d,%d) channel %d: %d, expected %d (value %g, range %g..%g)",
						      l->name, k, x, y, c, p[i][c], want[c], v, lo, hi);
		}
}

/* Two layers by hand: four 2x3 maps in two groups (a ramp, a flat map, one with a NaN, a steeper
 * ramp), then a single value. */
static void hand_acts(Acts *a)
{
	memset(a, 0, sizeof *a);
	a->model = xstrdup("/x/m.anw");
	a->source = xstrdup("img.png");
	snprintf(a->top, sizeof a->top, "apple");
	a->top_prob = 0.5f;
	a->record_h = a->record_w = 6;
	a->crop_h = a->crop_w = 4;
	a->channels = 3;
	a->crop = xmalloc(4 * 4 * 3);
	for (int i = 0; i < 48; i++)
		a->crop[i] = (uint8_t)(5 * i);
	a->nlayers = 2;
	a->layers = xcalloc(2, sizeof *a->layers);
	ActsLayer *l = &a->layers[0];
	snprintf(l->name, sizeof l->name, "c1");
	l->maps = 4;
	l->height = 2;
	l->width = 3;
	l->groups = 2;
	l->values = xmallocarray(24, sizeof(float));
	static const float m2[6] = { -3, 0, 3, NAN, 6, 9 };
	for (int i = 0; i < 6; i++) {
		l->values[i] = (float)i;
		l->values[6 + i] = 7;
		l->values[12 + i] = m2[i];
		l->values[18 + i] = 10.0f * i;
	}
	l = &a->layers[1];
	snprintf(l->name, sizeof l->name, "p1");
	l->maps = l->height = l->width = l->groups = 1;
	l->values = xmalloc(sizeof(float));
	l->values[0] = 2;
}

START_TEST(acts_pixels)
{
	Acts a;
	hand_acts(&a);
	ActsStyle st = { .norm = ACTS_PER_MAP, .scale = 5 };
	ActsLayout lay;
	ck_assert_int_eq(acts_layout(&a, &st, &lay), 0);
	ck_assert_int_eq(lay.layers[0].groups, 2);
	ck_assert_int_eq(lay.layers[0].columns, 2);
	ck_assert_int_eq(lay.layers[0].tile_w, 15);
	char *png = xasprintf("%s/a.png", dir);
	ck_assert_int_eq(acts_draw(&a, &st, png), 0);
	Image im = read_png(png);
	ck_assert_int_eq(im.width, lay.width);
	ck_assert_int_eq(im.height, lay.height);
	/* per map: each its own range; the flat map and the lone value black; the NaN red */
	static const double lo[4] = { 0, 7, -3, 0 }, hi[4] = { 5, 7, 9, 50 };
	for (int k = 0; k < 4; k++)
		check_map(&im, &lay, 0, &a.layers[0], k, lo[k], hi[k]);
	check_map(&im, &lay, 1, &a.layers[1], 0, 2, 2);
	/* the two groups a gap apart: background between map 0's bottom and map 2's top */
	int x0, y0, x2, y2;
	acts_map_origin(&lay, 0, 0, &x0, &y0);
	acts_map_origin(&lay, 0, 2, &x2, &y2);
	ck_assert_int_eq(x0, x2);
	ck_assert_int_ge(y2 - (y0 + lay.layers[0].tile_h), lay.layers[0].block_gap);
	for (int y = y0 + lay.layers[0].tile_h; y < y2; y++)
		ck_assert_int_eq(pixel_at(&im, x0 + 1, y)[1], VIZ_BACKGROUND & 255);
	/* the crop, enlarged by a whole factor to at least 112 pixels */
	ck_assert_int_eq(lay.crop_scale, 28);
	for (int y = 0; y < 4; y++)
		for (int x = 0; x < 4; x++)
			ck_assert_mem_eq(pixel_at(&im, lay.crop_x + x * 28 + 14, lay.crop_y + y * 28 + 14),
					 a.crop + (y * 4 + x) * 3, 3);
	image_free(&im);

	/* per layer: one range, -3..50, for all four maps; a flat layer black */
	st.norm = ACTS_PER_LAYER;
	ck_assert_int_eq(acts_draw(&a, &st, png), 0);
	im = read_png(png);
	for (int k = 0; k < 4; k++)
		check_map(&im, &lay, 0, &a.layers[0], k, -3, 50);
	check_map(&im, &lay, 1, &a.layers[1], 0, 2, 2);
	image_free(&im);
	acts_layout_free(&lay);

	/* too large for cairo: refused before drawing */
	st.scale = 64;
	st.columns = 4096;
	ActsLayer *l = &a.layers[1];
	free(l->values);
	l->maps = 1024;
	l->values = xcalloc(1024, sizeof(float));
	EXPECT_REFUSAL(acts_layout(&a, &st, &lay), "more than 32767 a side");
	EXPECT_REFUSAL(acts_draw(&a, &st, png), "more than 32767 a side");
	acts_free(&a);
	free(png);
}
END_TEST

/* conv1's map 0 is the red channel and map 1 relu(blue - green), through a model with a zero mean
 * image and input scale 1: the maps are known functions of the record's centre crop. */
static const char acts_net[] = "input size=6 channels=3\n"
			       "conv name=conv1 out=2 kernel=1 bias=0\n"
			       "relu\n"
			       "pool size=2 stride=2\n"
			       "fc name=fc2 out=classes\n"
			       "softmax\n";

static int r_of(int x, int y) { return 10 * x + y; }
static int g_of(int x, int y) { return 4 * x + y; }
static int b_of(int x, int y) { return 5 * y + x % 2; }

/* acts_compute returns VIZ_USAGE and says text. */
static void expect_usage(const ActsOptions *o, const char *text)
{
	Acts a;
	Capture cap = capture_begin();
	int rc = acts_compute(o, &a);
	char *msg = capture_end(cap);
	ck_assert_msg(rc == VIZ_USAGE && strstr(msg, text), "returned %d, said '%s', expected '%s'", rc, msg, text);
	free(msg);
}

START_TEST(acts_from_model)
{
	float w[6] = { 1, 0, 0, 0, -1, 1 };
	Stats st = { .height = 8, .width = 8, .channels = 3, .images = 1 };
	st.mean = xcalloc(8 * 8 * 3, sizeof(float));
	char *cn[3] = { "red", "green", "blue" };
	ClassTable ct = { 3, cn };
	char *model = save_model_with("acts.anw", acts_net, 3, w, 6, &st, &ct, 8);
	stats_free(&st);
	uint8_t px[8 * 8 * 3];
	for (int y = 0; y < 8; y++)
		for (int x = 0; x < 8; x++) {
			px[(y * 8 + x) * 3] = (uint8_t)r_of(x, y);
			px[(y * 8 + x) * 3 + 1] = (uint8_t)g_of(x, y);
			px[(y * 8 + x) * 3 + 2] = (uint8_t)b_of(x, y);
		}
	int32_t lab = 1;
	char *db = db_of("p.lmdb", 1, &lab, px);

	const char *layers[2] = { "conv1", "pool1" };
	ActsOptions o = { .model = model, .db = db, .layers = layers, .nlayers = 2, .device = "cpu", .threads = 1 };
	Acts a;
	ck_assert_int_eq(acts_compute(&o, &a), 0);
	ck_assert_str_eq(a.source, "p.lmdb:0");
	ck_assert_str_eq(a.label, "green");
	ck_assert(a.top_prob > 0 && a.top_prob <= 1);
	ck_assert_int_eq(a.nlayers, 2);
	const ActsLayer *c1 = &a.layers[0], *p1 = &a.layers[1];
	ck_assert_int_eq(c1->maps, 2);
	ck_assert_int_eq(c1->height, 6);
	ck_assert_ptr_nonnull(strstr(c1->what, "after ReLU"));
	ck_assert_int_eq(p1->height, 3);
	/* the centre crop starts at (1, 1) of the 8x8 record */
	for (int y = 0; y < 6; y++)
		for (int x = 0; x < 6; x++) {
			int X = x + 1, Y = y + 1, d = b_of(X, Y) - g_of(X, Y);
			ck_assert_uint_eq(a.crop[(y * 6 + x) * 3], (unsigned)r_of(X, Y));
			ck_assert_float_eq(c1->values[y * 6 + x], (float)r_of(X, Y));
			ck_assert_float_eq(c1->values[36 + y * 6 + x], (float)(d > 0 ? d : 0));
		}
	for (int k = 0; k < 2; k++)
		for (int y = 0; y < 3; y++)
			for (int x = 0; x < 3; x++) {
				float m = -1;
				for (int i = 0; i < 4; i++) {
					float v = c1->values[k * 36 + (2 * y + i / 2) * 6 + 2 * x + i % 2];
					m = v > m ? v : m;
				}
				ck_assert_float_eq(p1->values[k * 9 + y * 3 + x], m);
			}
	/* the picture of those maps: map 0's range is the crop's red, r_of(1,1)..r_of(6,6) */
	ActsStyle sty = { .norm = ACTS_PER_MAP };
	ActsLayout lay;
	ck_assert_int_eq(acts_layout(&a, &sty, &lay), 0);
	ck_assert_int_eq(lay.layers[0].scale, 8); /* 48 pixels a 6x6 map */
	char *png = xasprintf("%s/m.png", dir);
	ck_assert_int_eq(acts_draw(&a, &sty, png), 0);
	Image im = read_png(png);
	check_map(&im, &lay, 0, c1, 0, r_of(1, 1), r_of(6, 6));
	image_free(&im);
	acts_layout_free(&lay);
	acts_free(&a);

	/* every convolution by default */
	o.nlayers = 0;
	ck_assert_int_eq(acts_compute(&o, &a), 0);
	ck_assert_int_eq(a.nlayers, 1);
	ck_assert_str_eq(a.layers[0].name, "conv1");
	acts_free(&a);

	/* layers without maps, unknown layers, a key past the end */
	const char *fc[1] = { "fc2" };
	o.layers = fc;
	o.nlayers = 1;
	expect_usage(&o, "--layer fc2: a fc layer of 3 values has no maps to draw; anet-eval --features FILE --layer fc2");
	const char *none[1] = { "conv7" };
	o.layers = none;
	expect_usage(&o, "acts.anw has no such layer; its layers: data, conv1, relu1, pool1, fc2, prob");
	o.nlayers = 0;
	o.key = 1;
	EXPECT_REFUSAL(acts_compute(&o, &a), "p.lmdb: --key 1 is past the end (1 record)");
	/* a weights-only model cannot prepare images */
	char *bare = save_model("bare.anw", acts_net, 3, w, 6);
	o.model = bare;
	o.key = 0;
	EXPECT_REFUSAL(acts_compute(&o, &a), "bare.anw");
	free(bare);
	free(png);
	free(db);
	free(model);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* info */

START_TEST(info_table)
{
	enum { N = 1000 };
	float *w = xmalloc(N * sizeof(float));
	fill_uniform(w, N, 7, -2, 3);
	w[10] = NAN;
	w[500] = INFINITY;
	w[999] = -NAN;
	double ref_sum = 0, ref_sq = 0, ref_min = INFINITY, ref_max = -INFINITY;
	for (int i = 0; i < N; i++)
		if (isfinite(w[i])) {
			ref_sum += w[i];
			ref_min = fmin(ref_min, w[i]);
			ref_max = fmax(ref_max, w[i]);
		}
	double ref_mean = ref_sum / (N - 3);
	for (int i = 0; i < N; i++)
		if (isfinite(w[i]))
			ref_sq += (w[i] - ref_mean) * (w[i] - ref_mean);
	double ref_std = sqrt(ref_sq / (N - 3));

	char *path = xasprintf("%s/t.anf", dir);
	TensorWriter tw;
	uint64_t dims[2] = { 10, 100 }, five = 5;
	double d[5] = { 1, 2, 3, 4, 1e300 * 1e300 };
	ck_assert_int_eq(tensorwriter_open(&tw, path, TF_FEATURES), 0);
	ck_assert_int_eq(tensorwriter_add(&tw, "features", DT_F32, 2, dims, w), 0);
	ck_assert_int_eq(tensorwriter_add(&tw, "d", DT_F64, 1, &five, d), 0);
	ck_assert_int_eq(tensorwriter_add_i64(&tw, "count", 42), 0);
	ck_assert_int_eq(tensorwriter_add_f64(&tw, "rate", 0.125), 0);
	ck_assert_int_eq(tensorwriter_add_text(&tw, "names", "a\nb\nc\nd\ne\nf\ng\n"), 0);
	ck_assert_int_eq(tensorwriter_add_text(&tw, "spec", "input size=8\nconv out=2\n"), 0);
	ck_assert_int_eq(tensorwriter_add_text(&tw, "source", "val.lmdb"), 0);
	ck_assert_int_eq(tensorwriter_commit(&tw), 0);

	/* the figures, whatever the chunks (Chan's update against the two-pass reference) */
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, path, 0), 0);
	static const size_t chunks[] = { 0, 1, 7, 999, 1000 };
	for (size_t i = 0; i < ARRAY_LEN(chunks); i++) {
		TensorSummary s;
		ck_assert_int_eq(tensor_summary(&tf, tensorfile_find(&tf, "features"), chunks[i], &s), 0);
		ck_assert_uint_eq(s.finite, N - 3);
		ck_assert_uint_eq(s.nonfinite, 3);
		ck_assert_double_eq(s.min, ref_min);
		ck_assert_double_eq(s.max, ref_max);
		ck_assert_double_eq_tol(s.mean, ref_mean, 1e-12);
		ck_assert_double_eq_tol(s.std, ref_std, 1e-12);
	}
	TensorSummary s;
	EXPECT_REFUSAL(tensor_summary(&tf, tensorfile_find(&tf, "names"), 0, &s), "t.anf: tensor names: text holds no numbers");
	tensorfile_close(&tf);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ck_assert_int_eq(viz_info(path, out), 0);
	fclose(out);
	ASSERT_MSG(text, "t.anf: features, ");
	ASSERT_MSG(text, " 7 entries\n");
	ASSERT_MSG(text, "  features f32   10x100 ");
	ASSERT_MSG(text, "NaN/Inf: 3\n");
	ASSERT_MSG(text, "  d        f64        5           1           4         2.5       1.118  NaN/Inf: 1\n");
	ASSERT_MSG(text, "  count    i64   scalar  42\n");
	ASSERT_MSG(text, "  rate     f64   scalar  0.125\n");
	ASSERT_MSG(text, "  names    text      14  7 lines: a, b, c, d, e, ...\n");
	ASSERT_MSG(text, "  spec     text      24  2 lines\n");
	ASSERT_MSG(text, "  source   text       8  \"val.lmdb\"\n");
	ASSERT_MSG(text, "NaN/Inf: 4 values in 2 tensors (the first: features)");
	free(text);

	/* a file cut short is refused, naming it */
	struct stat sb;
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(truncate(path, sb.st_size - 10), 0);
	out = open_memstream(&text, &len);
	EXPECT_REFUSAL(viz_info(path, out), "t.anf: file is");
	fclose(out);
	ck_assert_uint_eq(len, 0);
	free(text);
	free(path);
	free(w);
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
	tcase_add_test(t, healthlog_parse);
	tcase_add_test(t, mean_pictures);
	tcase_add_test(t, acts_pixels);
	tcase_add_test(t, acts_from_model);
	tcase_add_test(t, info_table);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
