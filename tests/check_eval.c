/* check_eval.c: model files (round trip, refusals) and evaluation (views, 5 and 10 crops by hand, features). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "libcommon/eval.h"
#include "libcommon/model.h"
#include "libcommon/views.h"
#include "libcommon/net.h"
#include "libcommon/spec.h"
#include "libcommon/stats.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

/* A small net on 12x12 gray crops of 16x16 records, 4 classes. */
static const char small_text[] = "input size=12 channels=1\n"
				 "conv name=conv1 out=4 kernel=3 pad=1 bias=0.1 init=0.5\n"
				 "relu\n"
				 "pool size=2 stride=2\n"
				 "fc name=fc2 out=8 bias=0.1 init=0.3\n"
				 "relu\n"
				 "dropout p=0.5\n"
				 "fc name=fc3 out=classes init=0.5\n"
				 "softmax\n";

enum { REC = 16, CLASSES = 4 };

static Ctx *open_cpu(int threads)
{
	CtxOptions o = { .device = "cpu", .threads = threads };
	char err[512];
	Ctx *c = ctx_open(&o, err, sizeof err, NULL, 0);
	if (!c)
		ck_abort_msg("ctx_open: %s", err);
	return c;
}

/* Statistics of a made-up gray database of REC x REC records. */
static void make_stats(Stats *s)
{
	memset(s, 0, sizeof *s);
	s->height = s->width = REC;
	s->channels = 1;
	s->mean = xmallocarray(REC * REC, sizeof(float));
	for (int i = 0; i < REC * REC; i++)
		s->mean[i] = 100.0f + (float)(i % 17);
	s->mean_channel[0] = 108;
	s->cov[0][0] = s->eigval[0] = 900;
	s->eigvec[0][0] = 1;
	s->images = 64;
	s->source = xstrdup("made-up.lmdb");
}

static void make_classes(ClassTable *t)
{
	static const char *names[CLASSES] = { "T-shirt/top", "Trouser", "Pullover", "Ankle boot" };
	t->count = CLASSES;
	t->names = xcalloc(CLASSES, sizeof *t->names);
	for (int i = 0; i < CLASSES; i++)
		t->names[i] = xstrdup(names[i]);
}

static Net *fresh_net(Ctx *ctx, const Spec *s, int batch, uint64_t seed)
{
	Net *net = net_create(ctx, s, batch, NET_TRAIN);
	ck_assert_ptr_nonnull(net);
	NetInit init = { .seed = seed };
	ck_assert_int_eq(net_init(net, &init), 0);
	return net;
}

static float *params_of(Net *net)
{
	const Spec *s = net_spec(net);
	float *h = xmallocarray((size_t)s->param_floats, sizeof *h);
	ck_assert_int_eq(ctx_download(net_ctx(net), h, net_param_buffer(net), (size_t)s->param_floats * sizeof *h), 0);
	return h;
}

/* A model as anet-train writes it, with its mirrored entry. */
static int save_mirrored(const char *path, Net *net, int64_t mirrored)
{
	TensorWriter tw;
	if (tensorwriter_open(&tw, path, TF_MODEL) != 0)
		return -1;
	if (model_write(&tw, net, NULL, NULL, REC, REC, 1, 1, "made-up.lmdb", mirrored) != 0) {
		tensorwriter_abort(&tw);
		return -1;
	}
	return tensorwriter_commit(&tw);
}

START_TEST(model_round_trip)
{
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(small_text, "small", CLASSES);
	Net *net = fresh_net(ctx, s, 2, 5);
	Stats st;
	ClassTable ct;
	make_stats(&st);
	make_classes(&ct);
	char *dir = make_temp_dir("model");
	char *path = xasprintf("%s/m.anw", dir);
	ck_assert_int_eq(model_save(path, net, &st, &ct, REC, REC, 1, 0.5f), 0);

	Model *m = model_load(ctx, path, 3, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->kind, TF_MODEL);
	ck_assert_uint_eq(m->height, REC);
	ck_assert_uint_eq(m->width, REC);
	ck_assert_uint_eq(m->channels, 1);
	ck_assert_uint_eq(m->num_classes, CLASSES);
	ck_assert(m->input_scale == 0.5f);
	ck_assert_int_eq(m->has_stats, 1);
	ck_assert_int_eq(memcmp(m->stats.mean, st.mean, REC * REC * sizeof(float)), 0);
	ck_assert(m->stats.eigval[0] == 900);
	ck_assert_str_eq(m->stats.source, "made-up.lmdb");
	ck_assert_uint_eq(m->classes.count, CLASSES);
	char buf[64];
	ck_assert_str_eq(model_class_name(m, 0, buf, sizeof buf), "T-shirt/top");
	ck_assert_str_eq(model_class_name(m, 3, buf, sizeof buf), "Ankle boot");
	ck_assert_str_eq(model_class_name(m, 7, buf, sizeof buf), "class 7");
	float *a = params_of(net), *b = xmallocarray((size_t)s->param_floats, sizeof *b);
	ck_assert_int_eq(ctx_download(ctx, b, net_param_buffer(m->net), (size_t)s->param_floats * sizeof *b), 0);
	ck_assert_int_eq(memcmp(a, b, (size_t)s->param_floats * sizeof *b), 0);
	ck_assert_int_eq(model_need_preparation(m, "test"), 0);
	ck_assert_int_eq(m->mirrored, 1);
	model_free(m);
	/* anet-train's entry for a run without mirror images (--no-flip) */
	ck_assert_int_eq(save_mirrored(path, net, 0), 0);
	m = model_load(ctx, path, 1, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->mirrored, 0);
	model_free(m);

	/* without names or stats: the count is 0 and names read "class N" */
	ck_assert_int_eq(model_save(path, net, NULL, NULL, REC, REC, 1, 1), 0);
	m = model_load(ctx, path, 1, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->classes.count, 0);
	ck_assert_int_eq(m->has_stats, 0);
	ck_assert_str_eq(model_class_name(m, 2, buf, sizeof buf), "class 2");
	Capture c = capture_begin();
	ck_assert_int_eq(model_need_preparation(m, "evaluating"), -1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "m.anw: evaluating needs the record size and mean image");
	free(msgs);
	model_free(m);

	/* a bare net_save loads too (filters only) */
	ck_assert_int_eq(net_save(net, path), 0);
	m = model_load(ctx, path, 1, NET_EVAL);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->height, 0);
	model_free(m);

	free(a);
	free(b);
	remove_tree(dir);
	free(dir);
	free(path);
	stats_free(&st);
	classes_free(&ct);
	net_free(net);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

/* Writes path with one byte changed at offset at (or cut to at bytes when cut). */
static void damage(const char *src, const char *dst, size_t at, int cut)
{
	size_t len;
	unsigned char *bytes = read_file(src, &len, 1 << 26);
	ck_assert_ptr_nonnull(bytes);
	ck_assert(at < len);
	if (!cut)
		bytes[at] ^= 0x40;
	FILE *f = fopen(dst, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, cut ? at : len, f), cut ? at : len);
	fclose(f);
	free(bytes);
}

static void expect_refused(Ctx *ctx, const char *path, const char *want1, const char *want2)
{
	Capture c = capture_begin();
	Model *m = model_load(ctx, path, 1, NET_EVAL);
	char *msgs = capture_end(c);
	ck_assert_msg(m == NULL, "%s was accepted", path);
	ASSERT_MSG(msgs, want1);
	if (want2)
		ASSERT_MSG(msgs, want2);
	free(msgs);
}

START_TEST(model_refusals)
{
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(small_text, "small", CLASSES);
	Net *net = fresh_net(ctx, s, 1, 5);
	Stats st;
	ClassTable ct;
	make_stats(&st);
	make_classes(&ct);
	char *dir = make_temp_dir("model");
	char *path = xasprintf("%s/m.anw", dir), *bad = xasprintf("%s/bad.anw", dir);
	ck_assert_int_eq(model_save(path, net, &st, &ct, REC, REC, 1, 1), 0);
	size_t len;
	free(read_file(path, &len, 1 << 26));

	damage(path, bad, len - 100, 1);
	expect_refused(ctx, bad, "bad.anw: file is", "truncated");
	damage(path, bad, len / 2, 0);
	expect_refused(ctx, bad, "bad.anw: checksum mismatch", NULL);
	damage(path, bad, 2, 0);
	expect_refused(ctx, bad, "bad.anw: not an anet tensor file", NULL);

	/* records smaller than the network's input */
	ck_assert_int_eq(model_save(bad, net, NULL, NULL, 10, 10, 1, 1), 0);
	expect_refused(ctx, bad, "bad.anw: the network's 12x12 input is larger than its 10x10 records", NULL);
	/* channels that disagree with the network */
	ck_assert_int_eq(model_save(bad, net, NULL, NULL, REC, REC, 3, 1), 0);
	expect_refused(ctx, bad, "bad.anw: the network takes 1 channels, its records have 3", NULL);
	/* a mean image of another size */
	Stats small = st;
	small.height = small.width = 8;
	ck_assert_int_eq(model_save(bad, net, &small, NULL, REC, REC, 1, 1), 0);
	expect_refused(ctx, bad, "bad.anw: tensor stats.mean: shape 8x8x1, expected 16x16x1", NULL);
	/* names for another class count */
	ClassTable three = ct;
	three.count = 3;
	ck_assert_int_eq(model_save(bad, net, &st, &three, REC, REC, 1, 1), 0);
	expect_refused(ctx, bad, "bad.anw: class_names holds 3 names for 4 classes", NULL);
	/* a mirrored entry other than 0 or 1 */
	ck_assert_int_eq(save_mirrored(bad, net, 2), 0);
	expect_refused(ctx, bad, "bad.anw: mirrored is 2, not 0 or 1", NULL);
	/* a statistics file is not a model */
	ck_assert_int_eq(stats_write(bad, &st), 0);
	expect_refused(ctx, bad, "bad.anw: is a statistics file, expected a model or a checkpoint", NULL);

	remove_tree(dir);
	free(dir);
	free(path);
	free(bad);
	stats_free(&st);
	classes_free(&ct);
	net_free(net);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

/* A small file whose other entries promise more than it holds (found by tests/fuzz/
 * fuzz_tensorfile.c): records of 65535 x 65535 made model_read_extras allocate the 16 GiB
 * mean image before looking at the 1x1x1 one the file has, and a class count of 2^24 a
 * table of 2^24 names for the one name there is. Both are refused from the entries' sizes,
 * and so is a network the file holds no weights for. */
static void write_claims(const char *path, int input, int64_t side, int mean_1x1, int64_t classes, const char *names)
{
	TensorWriter w;
	uint64_t one[3] = { 1, 1, 1 };
	float mean = 0;
	char spec[96];
	snprintf(spec, sizeof spec, "input size=%d channels=1\nfc out=classes\nsoftmax\n", input);
	ck_assert_int_eq(tensorwriter_open(&w, path, TF_MODEL), 0);
	ck_assert_int_eq(tensorwriter_add_text(&w, "spec", spec) ||
				 tensorwriter_add_i64(&w, "classes", classes) ||
				 tensorwriter_add_i64(&w, "record_height", side) ||
				 tensorwriter_add_i64(&w, "record_width", side) ||
				 tensorwriter_add_i64(&w, "record_channels", 1) ||
				 tensorwriter_add_f64(&w, "input_scale", 1) ||
				 (mean_1x1 && tensorwriter_add(&w, "stats.mean", DT_F32, 3, one, &mean)) ||
				 (names && tensorwriter_add_text(&w, "class_names", names)) ||
				 tensorwriter_add_text(&w, "trained_on", "claims.lmdb"),
			 0);
	ck_assert_int_eq(tensorwriter_commit(&w), 0);
}

typedef struct {
	Ctx *ctx;
	const char *path;
} LoadJob;

/* gcc names its sanitizers with __SANITIZE_*__ macros; clang only answers __has_feature */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_ASAN_OR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_ASAN_OR_TSAN 1
#endif
#endif
#ifndef UNDER_ASAN_OR_TSAN
#define UNDER_ASAN_OR_TSAN 0
#endif

/* In a child with its address space capped (not under ASan or TSan, whose shadow needs
 * terabytes: TSan's own allocator dies "out of memory" under the cap): an allocation the
 * file does not justify ends the child instead of succeeding lazily. */
static void load_capped(void *arg)
{
	const LoadJob *j = arg;
#if !UNDER_ASAN_OR_TSAN
	struct rlimit cap = { 8ull << 30, 8ull << 30 };
	setrlimit(RLIMIT_AS, &cap);
#endif
	Model *m = model_load(j->ctx, j->path, 1, NET_EVAL);
	if (m)
		exit(3);
}

START_TEST(model_claims_beyond_its_file)
{
	Ctx *ctx = open_cpu(1);
	char *dir = make_temp_dir("claims"), *path = xasprintf("%s/claims.anw", dir), *msgs;
	LoadJob job = { ctx, path };
	write_claims(path, 8, 65535, 1, 2, "a\nb\n");
	ck_assert_int_eq(capture_exit(load_capped, &job, &msgs), 0);
	ASSERT_NAMES(msgs, path, "tensor stats.mean: shape 1x1x1, expected 65535x65535x1");
	free(msgs);
	write_claims(path, 8, 8, 0, 1 << 24, "a\n");
	ck_assert_int_eq(capture_exit(load_capped, &job, &msgs), 0);
	ASSERT_NAMES(msgs, path, "class_names holds 1 names for 16777216 classes");
	free(msgs);
	/* a spec whose weights (64x64 inputs to 2^24 classes: 275 GB) the file does not hold is
	 * refused by the missing tensor, not by an allocation */
	write_claims(path, 64, 64, 0, 1 << 24, NULL);
	ck_assert_int_eq(capture_exit(load_capped, &job, &msgs), 0);
	ck_assert_msg(!strstr(msgs, "cannot allocate"), "%s", msgs);
	ASSERT_NAMES(msgs, path, "tensor fc1.weight is missing");
	free(msgs);
	remove_tree(dir);
	free(dir);
	free(path);
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* evaluation against the network run by hand */

/* The input of one view, built on the host from the definition: crop, mirror, mean, scale. */
static void view_by_hand(const uint8_t *img, const float *mean, int y0, int x0, int flip, float scale, float *out)
{
	for (int y = 0; y < 12; y++)
		for (int x = 0; x < 12; x++) {
			int xx = flip ? 11 - x : x;
			size_t at = (size_t)(y0 + y) * REC + (size_t)(x0 + xx);
			out[y * 12 + x] = ((float)img[at] - mean[at]) * scale;
		}
}

/* _i = 0: the paper's 10 crops; 1: the 5 without the mirrors */
START_TEST(crops_average_their_softmaxes)
{
	enum { N = 3 };
	const int crops = _i == 0 ? 10 : 5;
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(small_text, "small", CLASSES);
	Net *net = fresh_net(ctx, s, crops * N, 21);
	Stats st;
	make_stats(&st);
	uint8_t img[N * REC * REC];
	for (size_t i = 0; i < sizeof img; i++)
		img[i] = (uint8_t)rng_below(5, RNG_STREAM(RNG_TEST, 1), i, 256);
	const float scale = 0.02f;
	Evaluator *e = evaluator_new(net, st.mean, REC, REC, 1, scale, crops);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(evaluator_images(e), N);
	int dim;
	const char *layer = evaluator_feature_layer(e, &dim);
	ck_assert_str_eq(layer, "fc2"); /* the input of fc3: fc2 after its relu (and the in-place dropout) */
	ck_assert_int_eq(dim, 8);
	float probs[N * CLASSES], feats[N * 8];
	ck_assert_int_eq(evaluator_run(e, img, N, probs, feats), 0);

	/* by hand: each view through the network alone, the softmaxes and features averaged in double */
	int corner[5][2] = { { 0, 0 }, { 0, REC - 12 }, { REC - 12, 0 }, { REC - 12, REC - 12 }, { 2, 2 } };
	float in[144];
	for (int i = 0; i < N; i++) {
		double p[CLASSES] = { 0 }, f[8] = { 0 };
		for (int k = 0; k < crops; k++) {
			view_by_hand(img + i * REC * REC, st.mean, corner[k % 5][0], corner[k % 5][1], k >= 5, scale, in);
			ck_assert_int_eq(ctx_upload(ctx, net_input(net), in, sizeof in), 0);
			ck_assert_int_eq(net_forward(net, 1, NET_EVAL, 0), 0);
			const float *q = net_probs(net);
			for (int c = 0; c < CLASSES; c++)
				p[c] += q[c] / crops;
			float h[8];
			ck_assert_int_eq(ctx_download(ctx, h, net_output(net, "fc2", NULL), sizeof h), 0);
			for (int d = 0; d < 8; d++)
				f[d] += h[d] / crops;
		}
		ck_assert_uint_eq(compare_doubles(crops == 10 ? "10-crop probabilities" : "5-crop probabilities", probs + i * CLASSES, p, CLASSES, 1e-6, 1e-5), 0);
		ck_assert_uint_eq(compare_doubles(crops == 10 ? "10-crop features" : "5-crop features", feats + i * 8, f, 8, 1e-6, 1e-5), 0);
	}
	/* the probabilities are a distribution that differs from the centre crop's */
	Evaluator *one = evaluator_new(net, st.mean, REC, REC, 1, scale, 1);
	float p1[N * CLASSES];
	ck_assert_int_eq(evaluator_run(one, img, N, p1, NULL), 0);
	double sum = 0, diff = 0;
	for (int c = 0; c < CLASSES; c++) {
		sum += probs[c];
		diff += fabs(probs[c] - p1[c]);
	}
	ck_assert(fabs(sum - 1) < 1e-5);
	ck_assert(diff > 1e-4);
	view_by_hand(img, st.mean, 2, 2, 0, scale, in);
	ck_assert_int_eq(ctx_upload(ctx, net_input(net), in, sizeof in), 0);
	ck_assert_int_eq(net_forward(net, 1, NET_EVAL, 0), 0);
	ck_assert_uint_eq(compare_floats("centre crop", p1, net_probs(net), CLASSES, 1e-7, 1e-6), 0);

	/* another layer's features (anet-eval --layer): conv1's rectified maps, flattened */
	ck_assert_int_eq(evaluator_set_feature_layer(one, "conv1"), 0);
	ck_assert_str_eq(evaluator_feature_layer(one, &dim), "conv1");
	ck_assert_int_eq(dim, 4 * 12 * 12);
	float maps[N * 4 * 12 * 12], want[4 * 12 * 12];
	ck_assert_int_eq(evaluator_run(one, img, N, p1, maps), 0);
	ck_assert_int_eq(ctx_upload(ctx, net_input(net), in, sizeof in), 0); /* image 0's centre view */
	ck_assert_int_eq(net_forward(net, 1, NET_EVAL, 0), 0);
	ck_assert_int_eq(ctx_download(ctx, want, net_output(net, "conv1", NULL), sizeof want), 0);
	ck_assert_uint_eq(compare_floats("conv1 features", maps, want, 4 * 12 * 12, 1e-6, 1e-5), 0);
	Capture c = capture_begin();
	ck_assert_int_eq(evaluator_set_feature_layer(one, "conv9"), -1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "--layer conv9: small has no such layer; its layers: data, conv1, ");
	free(msgs);
	ck_assert_str_eq(evaluator_feature_layer(one, &dim), "conv1"); /* unchanged */

	evaluator_free(one);
	evaluator_free(e);
	stats_free(&st);
	net_free(net);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

/* An ensemble averages its models' crop-averaged softmax outputs: two networks of other seeds
 * (one of them with its own mean and scale), against each evaluated alone */
START_TEST(ensemble_averages_its_models)
{
	enum { N = 3, CROPS = 10 };
	Ctx *ctx = open_cpu(1);
	Spec *s = spec_parse(small_text, "small", CLASSES);
	Net *na = fresh_net(ctx, s, CROPS * N, 31), *nb = fresh_net(ctx, s, CROPS * N, 32);
	Stats st;
	make_stats(&st);
	float *mean_b = xmallocarray(REC * REC, sizeof *mean_b);
	for (int i = 0; i < REC * REC; i++)
		mean_b[i] = st.mean[i] * 0.5f + 3;
	uint8_t img[N * REC * REC];
	for (size_t i = 0; i < sizeof img; i++)
		img[i] = (uint8_t)rng_below(6, RNG_STREAM(RNG_TEST, 2), i, 256);
	Evaluator *a = evaluator_new(na, st.mean, REC, REC, 1, 0.02f, CROPS);
	Evaluator *b = evaluator_new(nb, mean_b, REC, REC, 1, 0.03f, CROPS);
	float pa[N * CLASSES], pb[N * CLASSES], pe[N * CLASSES];
	ck_assert_int_eq(evaluator_run(a, img, N, pa, NULL), 0);
	ck_assert_int_eq(evaluator_run(b, img, N, pb, NULL), 0);
	double want[N * CLASSES], apart = 0;
	for (int j = 0; j < N * CLASSES; j++) {
		want[j] = ((double)pa[j] + pb[j]) / 2;
		apart += fabs(pa[j] - pb[j]);
	}
	ck_assert(apart > 1e-3); /* two models that disagree, or the test proves nothing */
	Evaluator *e = evaluator_new(na, st.mean, REC, REC, 1, 0.02f, CROPS);
	ck_assert_int_eq(evaluator_models(e), 1);
	ck_assert_int_eq(evaluator_add_member(e, b), 0);
	ck_assert_int_eq(evaluator_models(e), 2);
	ck_assert_int_eq(evaluator_run(e, img, N, pe, NULL), 0);
	ck_assert_uint_eq(compare_doubles("ensemble of two", pe, want, N * CLASSES, 1e-7, 1e-6), 0);

	/* a member that does not fit is refused, and stays the caller's */
	Evaluator *one = evaluator_new(nb, mean_b, REC, REC, 1, 0.03f, 1);
	Capture c = capture_begin();
	ck_assert_int_eq(evaluator_add_member(e, one), -1);
	char *msgs = capture_end(c);
	ASSERT_MSG(msgs, "internal error: an ensemble's member");
	free(msgs);
	evaluator_free(one);
	evaluator_free(e); /* and b with it */
	evaluator_free(a);
	free(mean_b);
	stats_free(&st);
	net_free(na);
	net_free(nb);
	spec_free(s);
	ctx_close(ctx);
}
END_TEST

START_TEST(rank_counts_ties_against_the_label)
{
	float p[4] = { 0.1f, 0.4f, 0.4f, 0.1f };
	ck_assert_int_eq(eval_rank(p, 4, 1), 0);
	ck_assert_int_eq(eval_rank(p, 4, 2), 1);
	ck_assert_int_eq(eval_rank(p, 4, 0), 2);
	ck_assert_int_eq(eval_rank(p, 4, 3), 3);
	/* a diverged model's NaN outputs are wrong at top-1 and top-5, however few the classes */
	float nan[3] = { NAN, NAN, NAN };
	ck_assert_int_ge(eval_rank(nan, 3, 1), 5);
	float big[8] = { 0, NAN, 0, 0, 0, 0, 0, 0 };
	ck_assert_int_ge(eval_rank(big, 8, 1), 5);
}
END_TEST

/* A class name with a tab or a backslash keeps to its column of the tables (fput_escaped). */
START_TEST(tables_escape_class_names)
{
	char *names[2] = { xstrdup("tench\tTinca tinca"), xstrdup("a\\b") };
	Model m = { .classes = { .count = 2, .names = names }, .num_classes = 2 };
	uint64_t count[2] = { 3, 1 }, wrong1[2] = { 1, 0 }, wrong5[2] = { 0, 0 }, confusion[4] = { 2, 1, 0, 1 };
	EvalResult r = { .classes = 2, .count = count, .wrong1 = wrong1, .wrong5 = wrong5, .confusion = confusion };
	char *dir = make_temp_dir("tables");
	char *pc = xasprintf("%s/pc.tsv", dir), *cm = xasprintf("%s/cm.tsv", dir);
	ck_assert_int_eq(eval_write_per_class(pc, &m, &r), 0);
	ck_assert_int_eq(eval_write_confusion(cm, &m, &r), 0);
	size_t len;
	char *got = read_file(pc, &len, 1000);
	ck_assert_str_eq(got, "class\tname\tcount\ttop1\ttop5\n"
			      "0\ttench\\tTinca tinca\t3\t0.333333\t0.000000\n"
			      "1\ta\\\\b\t1\t0.000000\t0.000000\n");
	free(got);
	got = read_file(cm, &len, 1000);
	ck_assert_str_eq(got, "true\\predicted\ttench\\tTinca tinca\ta\\\\b\n"
			      "tench\\tTinca tinca\t2\t1\n"
			      "a\\\\b\t0\t1\n");
	free(got);
	free(pc);
	free(cm);
	remove_tree(dir);
	free(dir);
	free(names[0]);
	free(names[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("eval");
	TCase *t = tcase_create("model");
	tcase_add_test(t, model_round_trip);
	tcase_add_test(t, model_refusals);
	tcase_add_test(t, model_claims_beyond_its_file);
	suite_add_tcase(s, t);
	t = tcase_create("evaluation");
	tcase_add_loop_test(t, crops_average_their_softmaxes, 0, 2);
	tcase_add_test(t, ensemble_averages_its_models);
	tcase_add_test(t, rank_counts_ties_against_the_label);
	tcase_add_test(t, tables_escape_class_names);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_eval");
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
