/* check_cuda.c: every CUDA op against the CPU backend on random inputs; skipped without a GPU.
 *
 * Each case fills its inputs from the test RNG (never zeros), poisons every output with NaN
 * on both backends (an element an op forgets to write stays NaN and fails), runs the op on
 * both, and compares. The CPU backend is itself checked against double-precision references
 * in check_ops, so agreement here means the GPU is right too.
 *
 * Tolerances. The backends add in different orders (cuBLAS tiles and split-K against
 * OpenBLAS; our tree reductions against sequential loops) and nvcc fuses multiply-adds, so
 * a sum of n FP32 terms may differ by a few eps * sqrt(n) * its magnitude. Each comparison
 * therefore allows atol = TOL_SUM * sqrt(n) * rms(reference) for the number n of terms
 * summed into one output (n = 1 for elementwise ops), plus rtol = 1e-5. TOL_SUM = 4e-6 is
 * about 30 eps: an indexing mistake shows up at 0.1 to 1 times rms, thousands of times
 * more. Convolutions get TOL_CONV (the CPU's Winograd, below). Exact results are checked exactly: pooling argmax, dropout masks, data movement,
 * and a repeated GPU run (bitwise, the determinism promise of kernels/cuda/context.cu).
 *
 * Check runs in CK_NOFORK mode: a CUDA context does not survive fork(), so the contexts are
 * opened once in main and shared by every test.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "libcommon/gradcheck.h"
#include "libcommon/net.h"
#include "libcommon/spec.h"
#include "libcommon/tensorfile.h"
#include "libcommon/util.h"
#include "tests/lib/testutil.h"

#define TOL_SUM 4e-6
#define RTOL 1e-5
/* The CPU backend convolves stride-1 3x3 and 5x5 kernels (and conv1's 11x11/4) by Winograd,
 * whose transforms amplify rounding (kernels/cpu/winograd.c: up to 2.6 u*C*R*S): on these
 * cases it used up to 56% of TOL_SUM's allowance against an exact GPU (measured on the host
 * emulation), so convolutions get four times the allowance, about 15% used, leaving room for
 * the GPU's own FP32 rounding. A wrong index still errs by ~rms, 1000 times more. */
#define TOL_CONV (4 * TOL_SUM)
#define CEIL_DIV_INT(a, b) (((a) + (b) - 1) / (b))

static Ctx *gpu, *cpu;

/* Fails the test with the backend's reason when an op returns an error. */
#define OK(ctx, call)                                                                              \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			ck_abort_msg("%s: %s: %s", (ctx)->be->name, #call, ctx_error(ctx));       \
	} while (0)

/* A tensor held on both backends, with a host copy of the inputs. */
typedef struct {
	size_t n;
	float *h;       /* host values (inputs), then scratch */
	float *g, *c;   /* device buffers on the GPU and the CPU backend */
	float *hg, *hc; /* downloaded results */
} Pair;

static Pair pair_new(size_t n)
{
	Pair p = { n, xcalloc(n ? n : 1, sizeof(float)), NULL, NULL, xcalloc(n ? n : 1, sizeof(float)),
		   xcalloc(n ? n : 1, sizeof(float)) };
	p.g = ctx_alloc(gpu, (n ? n : 1) * sizeof(float));
	p.c = ctx_alloc(cpu, (n ? n : 1) * sizeof(float));
	ck_assert_msg(p.g && p.c, "alloc %zu floats: %s / %s", n, ctx_error(gpu), ctx_error(cpu));
	return p;
}

static void pair_free(Pair *p)
{
	ctx_free(gpu, p->g);
	ctx_free(cpu, p->c);
	free(p->h);
	free(p->hg);
	free(p->hc);
}

static void pair_upload(Pair *p)
{
	OK(gpu, ctx_upload(gpu, p->g, p->h, p->n * sizeof(float)));
	OK(cpu, ctx_upload(cpu, p->c, p->h, p->n * sizeof(float)));
}

static void pair_rand(Pair *p, uint64_t tag, float lo, float hi)
{
	fill_uniform(p->h, p->n, tag, lo, hi);
	pair_upload(p);
}

static void pair_poison(Pair *p)
{
	for (size_t i = 0; i < p->n; i++)
		p->h[i] = NAN;
	pair_upload(p);
}

static void pair_fetch(Pair *p)
{
	OK(gpu, ctx_download(gpu, p->hg, p->g, p->n * sizeof(float)));
	OK(cpu, ctx_download(cpu, p->hc, p->c, p->n * sizeof(float)));
}

static double rms(const float *x, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	return n ? sqrt(s / n) : 0;
}

/* Downloads both results and compares them; terms: the number of products summed into one
 * output element (1 for elementwise ops); tol: the allowance per sqrt(term) (TOL_SUM). */
static void expect_close_tol(const char *what, Pair *p, double terms, double tol)
{
	pair_fetch(p);
	size_t bad_ref = 0;
	for (size_t i = 0; i < p->n; i++)
		bad_ref += !isfinite(p->hc[i]);
	ck_assert_msg(bad_ref == 0, "%s: the CPU backend left %zu of %zu elements non-finite", what, bad_ref, p->n);
	double atol = tol * sqrt(terms) * rms(p->hc, p->n) + 1e-30;
	size_t bad = compare_floats(what, p->hg, p->hc, p->n, atol, RTOL);
	ck_assert_msg(bad == 0, "%s: %zu of %zu elements differ", what, bad, p->n);
}

static void expect_close(const char *what, Pair *p, double terms) { expect_close_tol(what, p, terms, TOL_SUM); }

static void expect_equal(const char *what, Pair *p)
{
	pair_fetch(p);
	size_t bad = 0;
	for (size_t i = 0; i < p->n; i++)
		if (memcmp(&p->hg[i], &p->hc[i], sizeof(float)) != 0) {
			if (bad < 5)
				fprintf(stderr, "  %s[%zu]: gpu %.9g cpu %.9g\n", what, i, p->hg[i], p->hc[i]);
			bad++;
		}
	fprintf(stderr, "  %-28s n=%-9zu %s\n", what, p->n, bad ? "DIFFERENT" : "bit-identical");
	ck_assert_msg(bad == 0, "%s: %zu of %zu elements differ (expected identical)", what, bad, p->n);
}

/* ---------------------------------------------------------------------------------------
 * convolution */

static const ConvShape conv_cases[] = {
	/* N  C   H   W   K   R   S  stride pad G */
	{ 2, 3, 13, 11, 5, 3, 3, 1, 1, 1, 0, 0 },
	{ 3, 4, 9, 10, 6, 3, 2, 2, 0, 2, 0, 0 },     /* non-square kernel, stride 2, groups */
	{ 1, 3, 27, 27, 8, 11, 11, 4, 2, 1, 0, 0 },  /* conv1's shape, batch 1 */
	{ 4, 8, 7, 7, 4, 5, 5, 1, 2, 2, 0, 0 },      /* conv2's shape, small */
	{ 5, 6, 6, 5, 9, 1, 1, 1, 0, 3, 0, 0 },      /* 1x1, three groups */
	{ 2, 6, 8, 8, 6, 3, 3, 3, 2, 2, 0, 0 },      /* stride larger than the kernel gaps */
	{ 9, 3, 30, 30, 16, 3, 3, 1, 1, 1, 0, 0 },   /* long filter-gradient sums: split-K with a short last slice */
	{ 3, 16, 13, 13, 24, 3, 3, 1, 1, 2, 0, 0 },  /* conv4/5's geometry */
};

static ConvShape conv_case(int i)
{
	ConvShape s = conv_cases[i];
	const char *why;
	ck_assert_msg(conv_shape(&s, &why) == 0, "case %d: %s", i, why);
	return s;
}

static void conv_forward_case(const ConvShape *s, int relu, int bias, uint64_t tag)
{
	size_t xn = (size_t)s->N * s->C * s->H * s->W, wn = (size_t)s->K * (s->C / s->G) * s->R * s->S;
	size_t yn = (size_t)s->N * s->K * s->P * s->Q;
	Pair x = pair_new(xn), w = pair_new(wn), b = pair_new(s->K), y = pair_new(yn);
	pair_rand(&x, tag, -1, 1);
	pair_rand(&w, tag + 1, -1, 1);
	pair_rand(&b, tag + 2, -1, 1);
	pair_poison(&y);
	OK(gpu, gpu->be->conv_forward(gpu, s, x.g, w.g, bias ? b.g : NULL, y.g, relu));
	OK(cpu, cpu->be->conv_forward(cpu, s, x.c, w.c, bias ? b.c : NULL, y.c, relu));
	char what[96];
	snprintf(what, sizeof what, "conv_forward %dx%dx%d g%d%s%s", s->C, s->H, s->W, s->G, relu ? " relu" : "",
		 bias ? "" : " nobias");
	expect_close_tol(what, &y, (double)(s->C / s->G) * s->R * s->S, TOL_CONV);
	pair_free(&x);
	pair_free(&w);
	pair_free(&b);
	pair_free(&y);
}

START_TEST(conv_forward_matches)
{
	ConvShape s = conv_case(_i);
	conv_forward_case(&s, 0, 1, 100 + 10 * _i);
	conv_forward_case(&s, 1, _i % 2, 200 + 10 * _i);
}
END_TEST

START_TEST(conv_backward_matches)
{
	ConvShape s = conv_case(_i);
	size_t xn = (size_t)s.N * s.C * s.H * s.W, wn = (size_t)s.K * (s.C / s.G) * s.R * s.S;
	size_t yn = (size_t)s.N * s.K * s.P * s.Q;
	Pair x = pair_new(xn), w = pair_new(wn), dy = pair_new(yn), dx = pair_new(xn), dw = pair_new(wn),
	     db = pair_new(s.K);
	pair_rand(&x, 300 + _i, -1, 1);
	pair_rand(&w, 310 + _i, -1, 1);
	pair_rand(&dy, 320 + _i, -1, 1);
	pair_poison(&dx);
	pair_poison(&dw);
	pair_poison(&db);
	OK(gpu, gpu->be->conv_backward_data(gpu, &s, dy.g, w.g, dx.g));
	OK(cpu, cpu->be->conv_backward_data(cpu, &s, dy.c, w.c, dx.c));
	OK(gpu, gpu->be->conv_backward_filter(gpu, &s, x.g, dy.g, dw.g, _i % 3 ? db.g : NULL));
	OK(cpu, cpu->be->conv_backward_filter(cpu, &s, x.c, dy.c, dw.c, _i % 3 ? db.c : NULL));
	/* a dx element sums at most ceil(R/stride)*ceil(S/stride)*K/G terms; dw and db sum over
	 * the batch and the output plane */
	double dx_terms = (double)CEIL_DIV_INT(s.R, s.stride) * CEIL_DIV_INT(s.S, s.stride) * (s.K / s.G);
	double plane = (double)s.N * s.P * s.Q;
	expect_close_tol("conv_backward_data", &dx, dx_terms, TOL_CONV);
	expect_close_tol("conv_backward_filter dw", &dw, plane, TOL_CONV);
	if (_i % 3)
		expect_close_tol("conv_backward_filter db", &db, plane, TOL_CONV);
	pair_free(&x);
	pair_free(&w);
	pair_free(&dy);
	pair_free(&dx);
	pair_free(&dw);
	pair_free(&db);
}
END_TEST

/* The workspace limit at its floor (16 MiB) cuts the batch into chunks of two images; the
 * filter gradient then accumulates across chunks. */
START_TEST(conv_chunked_matches)
{
	CtxOptions o = { .device = "cuda", .gpu = 0 };
	char err[512], note[256];
	setenv("ANET_CUDA_WORKSPACE_MB", "16", 1);
	Ctx *small = ctx_open(&o, err, sizeof err, note, sizeof note);
	unsetenv("ANET_CUDA_WORKSPACE_MB");
	ck_assert_msg(small != NULL, "%s", err);
	Ctx *keep = gpu;
	gpu = small;
	ConvShape s = { 5, 16, 64, 64, 32, 5, 5, 1, 2, 2, 0, 0 };
	const char *why;
	ck_assert(conv_shape(&s, &why) == 0);
	conv_forward_case(&s, 1, 1, 400);
	size_t xn = (size_t)s.N * s.C * s.H * s.W, wn = (size_t)s.K * (s.C / s.G) * s.R * s.S;
	size_t yn = (size_t)s.N * s.K * s.P * s.Q;
	Pair x = pair_new(xn), w = pair_new(wn), dy = pair_new(yn), dx = pair_new(xn), dw = pair_new(wn),
	     db = pair_new(s.K);
	pair_rand(&x, 410, -1, 1);
	pair_rand(&w, 411, -1, 1);
	pair_rand(&dy, 412, -1, 1);
	pair_poison(&dx);
	pair_poison(&dw);
	pair_poison(&db);
	OK(gpu, gpu->be->conv_backward_data(gpu, &s, dy.g, w.g, dx.g));
	OK(cpu, cpu->be->conv_backward_data(cpu, &s, dy.c, w.c, dx.c));
	OK(gpu, gpu->be->conv_backward_filter(gpu, &s, x.g, dy.g, dw.g, db.g));
	OK(cpu, cpu->be->conv_backward_filter(cpu, &s, x.c, dy.c, dw.c, db.c));
	expect_close_tol("chunked conv_backward_data", &dx, 25.0 * 16, TOL_CONV);
	expect_close_tol("chunked conv_backward_filter dw", &dw, (double)s.N * s.P * s.Q, TOL_CONV);
	expect_close_tol("chunked conv_backward_filter db", &db, (double)s.N * s.P * s.Q, TOL_CONV);
	pair_free(&x);
	pair_free(&w);
	pair_free(&dy);
	pair_free(&dx);
	pair_free(&dw);
	pair_free(&db);
	gpu = keep;
	ctx_close(small);
}
END_TEST

START_TEST(conv_rejects_bad_shape)
{
	ConvShape s = { 2, 3, 8, 8, 4, 3, 3, 1, 1, 2, 0, 0 }; /* 3 channels in 2 groups */
	ck_assert_int_eq(gpu->be->conv_forward(gpu, &s, NULL, NULL, NULL, NULL, 0), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(gpu), "multiples of the group count"));
	fprintf(stderr, "  bad shape: %s\n", ctx_error(gpu));
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * pooling */

static const PoolShape pool_cases[] = {
	{ 2, 3, 13, 13, 3, 2, 0, 0 },
	{ 1, 2, 8, 9, 2, 2, 0, 0 },
	{ 3, 4, 7, 6, 3, 1, 0, 0 },
	{ 2, 5, 55, 55, 3, 2, 0, 0 }, /* pool1's plane */
	{ 2, 3, 10, 12, 3, 3, 0, 0 }, /* stride = size: no overlap */
};

START_TEST(pool_matches)
{
	PoolShape s = pool_cases[_i / 2];
	const char *why;
	ck_assert(pool_shape(&s, &why) == 0);
	size_t xn = (size_t)s.N * s.C * s.H * s.W, yn = (size_t)s.N * s.C * s.P * s.Q;
	Pair x = pair_new(xn), y = pair_new(yn), dy = pair_new(yn), dx = pair_new(xn);
	pair_rand(&x, 500 + _i, -1, 1);
	if (_i % 2) { /* coarse values: many ties, which both backends must break alike */
		for (size_t i = 0; i < xn; i++)
			x.h[i] = roundf(x.h[i] * 2) / 2;
		pair_upload(&x);
	}
	pair_rand(&dy, 510 + _i, -1, 1);
	pair_poison(&y);
	pair_poison(&dx);
	int32_t *ag = ctx_alloc(gpu, yn * sizeof(int32_t)), *ac = ctx_alloc(cpu, yn * sizeof(int32_t));
	int32_t *hg = xcalloc(yn, sizeof(int32_t)), *hc = xcalloc(yn, sizeof(int32_t));
	OK(gpu, gpu->be->pool_forward(gpu, &s, x.g, y.g, ag));
	OK(cpu, cpu->be->pool_forward(cpu, &s, x.c, y.c, ac));
	expect_equal("pool_forward y", &y);
	OK(gpu, ctx_download(gpu, hg, ag, yn * sizeof(int32_t)));
	OK(cpu, ctx_download(cpu, hc, ac, yn * sizeof(int32_t)));
	size_t bad = 0;
	for (size_t i = 0; i < yn; i++)
		bad += hg[i] != hc[i];
	ck_assert_msg(bad == 0, "pool argmax: %zu of %zu differ", bad, yn);
	OK(gpu, gpu->be->pool_backward(gpu, &s, dy.g, ag, dx.g));
	OK(cpu, cpu->be->pool_backward(cpu, &s, dy.c, ac, dx.c));
	expect_close("pool_backward", &dx, (double)CEIL_DIV_INT(s.size, s.stride) * CEIL_DIV_INT(s.size, s.stride));
	ctx_free(gpu, ag);
	ctx_free(cpu, ac);
	free(hg);
	free(hc);
	pair_free(&x);
	pair_free(&y);
	pair_free(&dy);
	pair_free(&dx);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * LRN */

static const LrnShape lrn_cases[] = {
	{ 2, 7, 5, 4, 5, 1e-4f, 0.75f, 2.0f },
	{ 1, 3, 6, 6, 5, 1e-4f, 0.75f, 2.0f },    /* window wider than the channels */
	{ 2, 96, 9, 9, 5, 1e-4f, 0.75f, 2.0f },   /* the paper's constants at conv1's width */
	{ 3, 10, 3, 5, 3, 0.05f, 0.5f, 1.0f },    /* strong normalisation, so the cross term matters */
};

START_TEST(lrn_matches)
{
	LrnShape s = lrn_cases[_i];
	size_t n = (size_t)s.N * s.C * s.H * s.W;
	Pair x = pair_new(n), y = pair_new(n), sc = pair_new(n), dy = pair_new(n), dx = pair_new(n);
	/* activations of ReLU-sized magnitude, so alpha * sum is not negligible */
	pair_rand(&x, 600 + _i, -20, 20);
	pair_rand(&dy, 610 + _i, -1, 1);
	pair_poison(&y);
	pair_poison(&sc);
	pair_poison(&dx);
	OK(gpu, gpu->be->lrn_forward(gpu, &s, x.g, y.g, sc.g));
	OK(cpu, cpu->be->lrn_forward(cpu, &s, x.c, y.c, sc.c));
	expect_close("lrn_forward y", &y, s.size);
	expect_close("lrn_forward scale", &sc, s.size);
	OK(gpu, gpu->be->lrn_backward(gpu, &s, x.g, y.g, sc.g, dy.g, dx.g));
	OK(cpu, cpu->be->lrn_backward(cpu, &s, x.c, y.c, sc.c, dy.c, dx.c));
	expect_close("lrn_backward", &dx, s.size);
	pair_free(&x);
	pair_free(&y);
	pair_free(&sc);
	pair_free(&dy);
	pair_free(&dx);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * elementwise */

START_TEST(relu_matches)
{
	size_t n = 100003;
	Pair x = pair_new(n), y = pair_new(n), dy = pair_new(n), dx = pair_new(n);
	pair_rand(&x, 700, -1, 1);
	pair_rand(&dy, 701, -1, 1);
	pair_poison(&y);
	pair_poison(&dx);
	OK(gpu, gpu->be->relu_forward(gpu, n, x.g, y.g));
	OK(cpu, cpu->be->relu_forward(cpu, n, x.c, y.c));
	expect_equal("relu_forward", &y);
	OK(gpu, gpu->be->relu_backward(gpu, n, y.g, dy.g, dx.g));
	OK(cpu, cpu->be->relu_backward(cpu, n, y.c, dy.c, dx.c));
	expect_equal("relu_backward", &dx);
	/* in place: y = relu(y), dx = dx masked */
	OK(gpu, gpu->be->relu_forward(gpu, n, x.g, x.g));
	OK(cpu, cpu->be->relu_forward(cpu, n, x.c, x.c));
	expect_equal("relu_forward in place", &x);
	OK(gpu, gpu->be->relu_backward(gpu, n, y.g, dy.g, dy.g));
	OK(cpu, cpu->be->relu_backward(cpu, n, y.c, dy.c, dy.c));
	expect_equal("relu_backward in place", &dy);
	pair_free(&x);
	pair_free(&y);
	pair_free(&dy);
	pair_free(&dx);
}
END_TEST

START_TEST(dropout_masks_identical)
{
	static const float ps[] = { 0.5f, 0.2f, 0.0f };
	float p = ps[_i];
	size_t n = 4096 * 33 + 7;
	uint64_t seed = 0x123456789ull + _i, stream = RNG_STREAM(RNG_DROPOUT, (6ull << 40) | 12345);
	Pair x = pair_new(n), y = pair_new(n), dy = pair_new(n), dx = pair_new(n);
	pair_rand(&x, 800 + _i, 0.5f, 1.5f); /* never 0, so y == 0 exactly marks a dropped unit */
	pair_rand(&dy, 810 + _i, 0.5f, 1.5f);
	pair_poison(&y);
	pair_poison(&dx);
	OK(gpu, gpu->be->dropout_forward(gpu, n, p, seed, stream, x.g, y.g));
	OK(cpu, cpu->be->dropout_forward(cpu, n, p, seed, stream, x.c, y.c));
	pair_fetch(&y);
	size_t dropped = 0, differ = 0;
	for (size_t i = 0; i < n; i++) {
		dropped += y.hc[i] == 0;
		differ += (y.hg[i] == 0) != (y.hc[i] == 0);
	}
	fprintf(stderr, "  dropout p=%.1f: %zu of %zu dropped, masks differ at %zu\n", p, dropped, n, differ);
	ck_assert_msg(differ == 0, "dropout masks differ at %zu of %zu units", differ, n);
	ck_assert(fabs((double)dropped / n - p) < 0.01);
	expect_close("dropout_forward", &y, 1);
	OK(gpu, gpu->be->dropout_backward(gpu, n, p, seed, stream, dy.g, dx.g));
	OK(cpu, cpu->be->dropout_backward(cpu, n, p, seed, stream, dy.c, dx.c));
	expect_close("dropout_backward", &dx, 1);
	/* in place, as the network driver uses it */
	OK(gpu, gpu->be->dropout_forward(gpu, n, p, seed, stream, x.g, x.g));
	OK(cpu, cpu->be->dropout_forward(cpu, n, p, seed, stream, x.c, x.c));
	expect_close("dropout_forward in place", &x, 1);
	pair_free(&x);
	pair_free(&y);
	pair_free(&dy);
	pair_free(&dx);
}
END_TEST

START_TEST(axpby_matches)
{
	size_t n = 250001;
	Pair x = pair_new(n), y = pair_new(n);
	pair_rand(&x, 910, -1, 1);
	pair_rand(&y, 911, -1, 1);
	OK(gpu, gpu->be->axpby(gpu, n, 0.25f, x.g, 0.75f, y.g));
	OK(cpu, cpu->be->axpby(cpu, n, 0.25f, x.c, 0.75f, y.c));
	expect_close("axpby", &y, 2); /* a fused multiply-add may round once less */
	/* b == 0 does not read y: NaN there must not come through */
	OK(gpu, gpu->be->fill(gpu, y.g, n, NAN));
	OK(cpu, cpu->be->fill(cpu, y.c, n, NAN));
	OK(gpu, gpu->be->axpby(gpu, n, 0.5f, x.g, 0, y.g));
	OK(cpu, cpu->be->axpby(cpu, n, 0.5f, x.c, 0, y.c));
	expect_equal("axpby b=0", &y); /* one exact multiplication by 0.5 */
	pair_free(&x);
	pair_free(&y);
}
END_TEST

START_TEST(sgd_matches)
{
	size_t n = 250001;
	Pair w = pair_new(n), dw = pair_new(n), v = pair_new(n);
	pair_rand(&w, 900, -0.1f, 0.1f);
	pair_rand(&dw, 901, -1, 1);
	pair_rand(&v, 902, -0.01f, 0.01f);
	for (int step = 0; step < 3; step++) {
		OK(gpu, gpu->be->sgd_update(gpu, n, w.g, dw.g, v.g, 0.01f, 0.9f, 0.0005f));
		OK(cpu, cpu->be->sgd_update(cpu, n, w.c, dw.c, v.c, 0.01f, 0.9f, 0.0005f));
	}
	/* three terms per update; fused multiply-adds round differently */
	expect_close("sgd_update v", &v, 9);
	expect_close("sgd_update w", &w, 9);
	pair_free(&w);
	pair_free(&dw);
	pair_free(&v);
}
END_TEST

START_TEST(fill_copy_transfer)
{
	size_t n = 77777;
	Pair a = pair_new(n), b = pair_new(n);
	pair_poison(&a);
	OK(gpu, gpu->be->fill(gpu, a.g, n, 3.25f));
	OK(cpu, cpu->be->fill(cpu, a.c, n, 3.25f));
	expect_equal("fill", &a);
	pair_rand(&a, 950, -5, 5);
	pair_poison(&b);
	OK(gpu, gpu->be->copy(gpu, b.g, a.g, n * sizeof(float)));
	OK(cpu, cpu->be->copy(cpu, b.c, a.c, n * sizeof(float)));
	expect_equal("copy", &b);
	/* upload_async from pinned memory: an op queued after it sees the data */
	float *pin = gpu->be->host_alloc(gpu, n * sizeof(float));
	ck_assert_msg(pin != NULL, "%s", ctx_error(gpu));
	fill_uniform(pin, n, 951, -1, 1);
	pair_poison(&b);
	OK(gpu, gpu->be->upload_async(gpu, a.g, pin, n * sizeof(float)));
	OK(gpu, gpu->be->copy(gpu, b.g, a.g, n * sizeof(float)));
	OK(gpu, ctx_sync(gpu));
	OK(gpu, ctx_download(gpu, b.hg, b.g, n * sizeof(float)));
	ck_assert_int_eq(memcmp(b.hg, pin, n * sizeof(float)), 0);
	gpu->be->host_free(gpu, pin);
	pair_free(&a);
	pair_free(&b);
}
END_TEST

START_TEST(alloc_failure_says_sizes)
{
	void *p = ctx_alloc(gpu, (size_t)1 << 50); /* a petabyte */
	ck_assert_ptr_null(p);
	fprintf(stderr, "  huge alloc: %s\n", ctx_error(gpu));
	ck_assert_ptr_nonnull(strstr(ctx_error(gpu), "out of GPU memory"));
	ck_assert_ptr_nonnull(strstr(ctx_error(gpu), "free of"));
	/* the context still works afterwards */
	Pair a = pair_new(10);
	OK(gpu, gpu->be->fill(gpu, a.g, 10, 1.0f));
	OK(gpu, ctx_sync(gpu));
	pair_free(&a);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * fully connected, softmax, gemm */

START_TEST(fc_matches)
{
	static const int shapes[][3] = { { 4, 37, 19 }, { 1, 9216, 64 }, { 33, 128, 1000 } };
	int N = shapes[_i][0], I = shapes[_i][1], O = shapes[_i][2];
	Pair x = pair_new((size_t)N * I), w = pair_new((size_t)O * I), b = pair_new(O), y = pair_new((size_t)N * O);
	Pair dy = pair_new((size_t)N * O), dx = pair_new((size_t)N * I), dw = pair_new((size_t)O * I),
	     db = pair_new(O);
	pair_rand(&x, 1000 + _i, -1, 1);
	pair_rand(&w, 1010 + _i, -1, 1);
	pair_rand(&b, 1020 + _i, -1, 1);
	pair_rand(&dy, 1030 + _i, -1, 1);
	for (int relu = 0; relu < 2; relu++) {
		pair_poison(&y);
		OK(gpu, gpu->be->fc_forward(gpu, N, I, O, x.g, w.g, b.g, y.g, relu));
		OK(cpu, cpu->be->fc_forward(cpu, N, I, O, x.c, w.c, b.c, y.c, relu));
		expect_close(relu ? "fc_forward relu" : "fc_forward", &y, I);
	}
	pair_poison(&dx);
	pair_poison(&dw);
	pair_poison(&db);
	OK(gpu, gpu->be->fc_backward_data(gpu, N, I, O, dy.g, w.g, dx.g));
	OK(cpu, cpu->be->fc_backward_data(cpu, N, I, O, dy.c, w.c, dx.c));
	expect_close("fc_backward_data", &dx, O);
	OK(gpu, gpu->be->fc_backward_weights(gpu, N, I, O, x.g, dy.g, dw.g, db.g));
	OK(cpu, cpu->be->fc_backward_weights(cpu, N, I, O, x.c, dy.c, dw.c, db.c));
	expect_close("fc_backward_weights dw", &dw, N);
	expect_close("fc_backward_weights db", &db, N);
	pair_free(&x);
	pair_free(&w);
	pair_free(&b);
	pair_free(&y);
	pair_free(&dy);
	pair_free(&dx);
	pair_free(&dw);
	pair_free(&db);
}
END_TEST

START_TEST(softmax_xent_matches)
{
	static const int shapes[][2] = { { 3, 10 }, { 128, 1000 }, { 5, 1 }, { 2, 3001 } };
	int N = shapes[_i][0], K = shapes[_i][1];
	size_t n = (size_t)N * K;
	Pair z = pair_new(n), p = pair_new(n), d = pair_new(n);
	pair_rand(&z, 1100 + _i, -30, 30); /* wide logits: max-subtraction matters */
	pair_poison(&p);
	pair_poison(&d);
	int32_t *lab = xcalloc(N, sizeof(int32_t));
	for (int i = 0; i < N; i++)
		lab[i] = (int32_t)rng_below(1, RNG_STREAM(RNG_TEST, 1110 + _i), i, (uint32_t)K);
	int32_t *lg = ctx_alloc(gpu, N * sizeof(int32_t)), *lc = ctx_alloc(cpu, N * sizeof(int32_t));
	OK(gpu, ctx_upload(gpu, lg, lab, N * sizeof(int32_t)));
	OK(cpu, ctx_upload(cpu, lc, lab, N * sizeof(int32_t)));
	OK(gpu, gpu->be->softmax_forward(gpu, N, K, z.g, p.g));
	OK(cpu, cpu->be->softmax_forward(cpu, N, K, z.c, p.c));
	/* each probability divides by a sum of K terms */
	expect_close("softmax_forward", &p, K);
	OK(gpu, gpu->be->xent_backward(gpu, N, K, p.g, lg, d.g));
	OK(cpu, cpu->be->xent_backward(cpu, N, K, p.c, lc, d.c));
	expect_close("xent_backward", &d, K);
	ctx_free(gpu, lg);
	ctx_free(cpu, lc);
	free(lab);
	pair_free(&z);
	pair_free(&p);
	pair_free(&d);
}
END_TEST

START_TEST(gemm_matches)
{
	/* every transpose combination, row strides wider than the rows, alpha and beta */
	GemmTrans ta = _i & 1 ? GEMM_T : GEMM_N, tb = _i & 2 ? GEMM_T : GEMM_N;
	int M = 37, N = 45, K = 300, pad = 3;
	int arows = ta == GEMM_N ? M : K, acols = ta == GEMM_N ? K : M;
	int brows = tb == GEMM_N ? K : N, bcols = tb == GEMM_N ? N : K;
	int lda = acols + pad, ldb = bcols + pad, ldc = N + pad;
	Pair a = pair_new((size_t)arows * lda), b = pair_new((size_t)brows * ldb), c = pair_new((size_t)M * ldc);
	pair_rand(&a, 1200 + _i, -1, 1);
	pair_rand(&b, 1210 + _i, -1, 1);
	pair_rand(&c, 1220 + _i, -1, 1); /* beta = 0.5 reads C, including its padding columns */
	OK(gpu, gpu->be->gemm(gpu, ta, tb, M, N, K, 1.5f, a.g, lda, b.g, ldb, 0.5f, c.g, ldc));
	OK(cpu, cpu->be->gemm(cpu, ta, tb, M, N, K, 1.5f, a.c, lda, b.c, ldb, 0.5f, c.c, ldc));
	char what[64];
	snprintf(what, sizeof what, "gemm %c%c", ta == GEMM_T ? 'T' : 'N', tb == GEMM_T ? 'T' : 'N');
	expect_close(what, &c, K);
	pair_free(&a);
	pair_free(&b);
	pair_free(&c);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * augmentation */

START_TEST(augment_matches)
{
	AugmentShape s = { 20, 23, 3, 16, 15, 1.0f / 64 };
	int nimg = 3, nviews = 7;
	size_t img_n = (size_t)s.H * s.W * s.C;
	uint8_t *pix = xmalloc(nimg * img_n);
	for (size_t i = 0; i < nimg * img_n; i++)
		pix[i] = (uint8_t)rng_below(3, RNG_STREAM(RNG_TEST, 1300), i, 256);
	View views[7];
	for (int v = 0; v < nviews; v++) {
		views[v] = (View){ .src = v % nimg,
				   .y0 = (int32_t)rng_below(3, RNG_STREAM(RNG_TEST, 1301), v, s.H - s.crop_h + 1),
				   .x0 = (int32_t)rng_below(3, RNG_STREAM(RNG_TEST, 1302), v, s.W - s.crop_w + 1),
				   .flip = v % 2,
				   .shift = { 0.25f * v, -1.5f, 3.0f - v },
				   .ey0 = v % 3, .ex0 = v, .eh = v % 3 ? 3 : 0, .ew = v % 3 ? 4 : 0 };
	}
	views[0].y0 = s.H - s.crop_h; /* the far corner */
	views[0].x0 = s.W - s.crop_w;
	uint8_t *sg = ctx_alloc(gpu, nimg * img_n), *sc = ctx_alloc(cpu, nimg * img_n);
	OK(gpu, ctx_upload(gpu, sg, pix, nimg * img_n));
	OK(cpu, ctx_upload(cpu, sc, pix, nimg * img_n));
	Pair mean = pair_new(img_n), out = pair_new((size_t)nviews * s.C * s.crop_h * s.crop_w);
	pair_rand(&mean, 1303, 100, 150);
	pair_poison(&out);
	OK(gpu, gpu->be->augment(gpu, &s, nviews, views, sg, mean.g, out.g));
	memset(views, 0xff, sizeof views); /* the backend must have taken its own copy */
	for (int v = 0; v < nviews; v++) { /* CPU gets the same views again */
		views[v] = (View){ .src = v % nimg,
				   .y0 = (int32_t)rng_below(3, RNG_STREAM(RNG_TEST, 1301), v, s.H - s.crop_h + 1),
				   .x0 = (int32_t)rng_below(3, RNG_STREAM(RNG_TEST, 1302), v, s.W - s.crop_w + 1),
				   .flip = v % 2,
				   .shift = { 0.25f * v, -1.5f, 3.0f - v },
				   .ey0 = v % 3, .ex0 = v, .eh = v % 3 ? 3 : 0, .ew = v % 3 ? 4 : 0 };
	}
	views[0].y0 = s.H - s.crop_h;
	views[0].x0 = s.W - s.crop_w;
	OK(cpu, cpu->be->augment(cpu, &s, nviews, views, sc, mean.c, out.c));
	expect_close("augment", &out, 1);
	/* a view that leaves the image is refused */
	views[1].x0 = s.W - s.crop_w + 1;
	ck_assert_int_eq(gpu->be->augment(gpu, &s, nviews, views, sg, mean.g, out.g), -1);
	fprintf(stderr, "  bad view: %s\n", ctx_error(gpu));
	ctx_free(gpu, sg);
	ctx_free(cpu, sc);
	free(pix);
	pair_free(&mean);
	pair_free(&out);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * a whole small network: forward, backward, three SGD steps, on both backends
 *
 * The paper's layer sequence at toy size (the network driver of libcommon/net.c is tested
 * on its own; this drives the ops directly so that it checks the backend alone):
 *   conv1 7x7/2 16 relu, lrn, pool 3/2, conv2 5x5 24 g2 relu, lrn, pool 3/2, conv3 3x3 32
 *   relu, conv4 3x3 32 g2 relu, conv5 3x3 24 g2 relu, pool 3/2, fc6 64 relu dropout, fc7 64
 *   relu dropout, fc8 10, softmax, cross-entropy. Input 4 x 3 x 35 x 35. */

enum { NET_N = 4, NET_CLASSES = 10, NET_PARAMS = 16 };

typedef struct {
	ConvShape cv[5];
	LrnShape lrn[2];
	PoolShape pool[3];
	int fc_in[3], fc_out[3];
	size_t pn[NET_PARAMS]; /* parameter sizes: w1 b1 w2 b2 ... w8 b8 */
} NetShape;

/* One backend's buffers. */
typedef struct {
	float *p[NET_PARAMS], *g[NET_PARAMS], *m[NET_PARAMS];
	float *in, *c[5], *l[2], *sc[2], *pl[3], *h6, *h7, *z8, *pr, *dA, *dB;
	int32_t *am[3], *lab;
} NetBufs;

static NetShape net_shape(void)
{
	NetShape s;
	memset(&s, 0, sizeof s);
	const char *why;
	s.cv[0] = (ConvShape){ NET_N, 3, 35, 35, 16, 7, 7, 2, 1, 1, 0, 0 };
	ck_assert(conv_shape(&s.cv[0], &why) == 0);
	s.lrn[0] = (LrnShape){ NET_N, 16, s.cv[0].P, s.cv[0].Q, 5, 1e-4f, 0.75f, 2.0f };
	s.pool[0] = (PoolShape){ NET_N, 16, s.cv[0].P, s.cv[0].Q, 3, 2, 0, 0 };
	ck_assert(pool_shape(&s.pool[0], &why) == 0);
	s.cv[1] = (ConvShape){ NET_N, 16, s.pool[0].P, s.pool[0].Q, 24, 5, 5, 1, 2, 2, 0, 0 };
	ck_assert(conv_shape(&s.cv[1], &why) == 0);
	s.lrn[1] = (LrnShape){ NET_N, 24, s.cv[1].P, s.cv[1].Q, 5, 1e-4f, 0.75f, 2.0f };
	s.pool[1] = (PoolShape){ NET_N, 24, s.cv[1].P, s.cv[1].Q, 3, 2, 0, 0 };
	ck_assert(pool_shape(&s.pool[1], &why) == 0);
	s.cv[2] = (ConvShape){ NET_N, 24, s.pool[1].P, s.pool[1].Q, 32, 3, 3, 1, 1, 1, 0, 0 };
	ck_assert(conv_shape(&s.cv[2], &why) == 0);
	s.cv[3] = (ConvShape){ NET_N, 32, s.cv[2].P, s.cv[2].Q, 32, 3, 3, 1, 1, 2, 0, 0 };
	ck_assert(conv_shape(&s.cv[3], &why) == 0);
	s.cv[4] = (ConvShape){ NET_N, 32, s.cv[3].P, s.cv[3].Q, 24, 3, 3, 1, 1, 2, 0, 0 };
	ck_assert(conv_shape(&s.cv[4], &why) == 0);
	s.pool[2] = (PoolShape){ NET_N, 24, s.cv[4].P, s.cv[4].Q, 3, 2, 0, 0 };
	ck_assert(pool_shape(&s.pool[2], &why) == 0);
	int feat = 24 * s.pool[2].P * s.pool[2].Q;
	int ins[3] = { feat, 64, 64 }, outs[3] = { 64, 64, NET_CLASSES };
	for (int i = 0; i < 5; i++) {
		s.pn[2 * i] = (size_t)s.cv[i].K * (s.cv[i].C / s.cv[i].G) * s.cv[i].R * s.cv[i].S;
		s.pn[2 * i + 1] = (size_t)s.cv[i].K;
	}
	for (int i = 0; i < 3; i++) {
		s.fc_in[i] = ins[i];
		s.fc_out[i] = outs[i];
		s.pn[10 + 2 * i] = (size_t)ins[i] * outs[i];
		s.pn[11 + 2 * i] = (size_t)outs[i];
	}
	return s;
}

static size_t conv_out_n(const ConvShape *c) { return (size_t)c->N * c->K * c->P * c->Q; }
static size_t pool_out_n(const PoolShape *p) { return (size_t)p->N * p->C * p->P * p->Q; }

static void *net_alloc(Ctx *ctx, size_t bytes)
{
	void *p = ctx_alloc(ctx, bytes);
	ck_assert_msg(p != NULL, "%s", ctx_error(ctx));
	return p;
}

/* Allocates one backend's buffers and loads the same initial parameters, input and labels. */
static void net_setup(Ctx *ctx, const NetShape *s, NetBufs *b)
{
	memset(b, 0, sizeof *b);
	size_t big = 0;
	for (int i = 0; i < NET_PARAMS; i++) {
		size_t n = s->pn[i];
		b->p[i] = net_alloc(ctx, n * sizeof(float));
		b->g[i] = net_alloc(ctx, n * sizeof(float));
		b->m[i] = net_alloc(ctx, n * sizeof(float));
		float *h = xmalloc(n * sizeof(float));
		/* weights uniform with variance 2/fan_in (activations stay near 1), biases small */
		size_t fan_in = i % 2 ? 1 : n / (i < 10 ? (size_t)s->cv[i / 2].K : (size_t)s->fc_out[(i - 10) / 2]);
		float a = i % 2 ? 0.1f : (float)sqrt(6.0 / fan_in);
		fill_uniform(h, n, 2000 + i, i % 2 ? 0 : -a, a);
		OK(ctx, ctx_upload(ctx, b->p[i], h, n * sizeof(float)));
		OK(ctx, ctx->be->fill(ctx, b->m[i], n, 0.0f));
		free(h);
	}
	size_t in_n = (size_t)NET_N * 3 * 35 * 35;
	b->in = net_alloc(ctx, in_n * sizeof(float));
	float *h = xmalloc(in_n * sizeof(float));
	fill_uniform(h, in_n, 2100, -1, 1);
	OK(ctx, ctx_upload(ctx, b->in, h, in_n * sizeof(float)));
	free(h);
	int32_t lab[NET_N];
	for (int i = 0; i < NET_N; i++)
		lab[i] = (int32_t)rng_below(5, RNG_STREAM(RNG_TEST, 2101), i, NET_CLASSES);
	b->lab = net_alloc(ctx, sizeof lab);
	OK(ctx, ctx_upload(ctx, b->lab, lab, sizeof lab));
	for (int i = 0; i < 5; i++) {
		b->c[i] = net_alloc(ctx, conv_out_n(&s->cv[i]) * sizeof(float));
		big = conv_out_n(&s->cv[i]) > big ? conv_out_n(&s->cv[i]) : big;
	}
	for (int i = 0; i < 2; i++) {
		b->l[i] = net_alloc(ctx, conv_out_n(&s->cv[i]) * sizeof(float));
		b->sc[i] = net_alloc(ctx, conv_out_n(&s->cv[i]) * sizeof(float));
	}
	for (int i = 0; i < 3; i++) {
		b->pl[i] = net_alloc(ctx, pool_out_n(&s->pool[i]) * sizeof(float));
		b->am[i] = net_alloc(ctx, pool_out_n(&s->pool[i]) * sizeof(int32_t));
	}
	b->h6 = net_alloc(ctx, (size_t)NET_N * 64 * sizeof(float));
	b->h7 = net_alloc(ctx, (size_t)NET_N * 64 * sizeof(float));
	b->z8 = net_alloc(ctx, (size_t)NET_N * NET_CLASSES * sizeof(float));
	b->pr = net_alloc(ctx, (size_t)NET_N * NET_CLASSES * sizeof(float));
	b->dA = net_alloc(ctx, big * sizeof(float));
	b->dB = net_alloc(ctx, big * sizeof(float));
}

static void net_teardown(Ctx *ctx, NetBufs *b)
{
	for (int i = 0; i < NET_PARAMS; i++) {
		ctx_free(ctx, b->p[i]);
		ctx_free(ctx, b->g[i]);
		ctx_free(ctx, b->m[i]);
	}
	ctx_free(ctx, b->in);
	ctx_free(ctx, b->lab);
	for (int i = 0; i < 5; i++)
		ctx_free(ctx, b->c[i]);
	for (int i = 0; i < 2; i++) {
		ctx_free(ctx, b->l[i]);
		ctx_free(ctx, b->sc[i]);
	}
	for (int i = 0; i < 3; i++) {
		ctx_free(ctx, b->pl[i]);
		ctx_free(ctx, b->am[i]);
	}
	ctx_free(ctx, b->h6);
	ctx_free(ctx, b->h7);
	ctx_free(ctx, b->z8);
	ctx_free(ctx, b->pr);
	ctx_free(ctx, b->dA);
	ctx_free(ctx, b->dB);
}

#define NET_SEED 0xA1E7ull
static uint64_t drop_stream(int layer, int step) { return RNG_STREAM(RNG_DROPOUT, ((uint64_t)layer << 40) | (uint64_t)step); }

static void net_forward_ops(Ctx *x, const NetShape *s, NetBufs *b, int step)
{
	const Backend *be = x->be;
	OK(x, be->conv_forward(x, &s->cv[0], b->in, b->p[0], b->p[1], b->c[0], 1));
	OK(x, be->lrn_forward(x, &s->lrn[0], b->c[0], b->l[0], b->sc[0]));
	OK(x, be->pool_forward(x, &s->pool[0], b->l[0], b->pl[0], b->am[0]));
	OK(x, be->conv_forward(x, &s->cv[1], b->pl[0], b->p[2], b->p[3], b->c[1], 1));
	OK(x, be->lrn_forward(x, &s->lrn[1], b->c[1], b->l[1], b->sc[1]));
	OK(x, be->pool_forward(x, &s->pool[1], b->l[1], b->pl[1], b->am[1]));
	OK(x, be->conv_forward(x, &s->cv[2], b->pl[1], b->p[4], b->p[5], b->c[2], 1));
	OK(x, be->conv_forward(x, &s->cv[3], b->c[2], b->p[6], b->p[7], b->c[3], 1));
	OK(x, be->conv_forward(x, &s->cv[4], b->c[3], b->p[8], b->p[9], b->c[4], 1));
	OK(x, be->pool_forward(x, &s->pool[2], b->c[4], b->pl[2], b->am[2]));
	OK(x, be->fc_forward(x, NET_N, s->fc_in[0], 64, b->pl[2], b->p[10], b->p[11], b->h6, 1));
	OK(x, be->dropout_forward(x, (size_t)NET_N * 64, 0.5f, NET_SEED, drop_stream(6, step), b->h6, b->h6));
	OK(x, be->fc_forward(x, NET_N, 64, 64, b->h6, b->p[12], b->p[13], b->h7, 1));
	OK(x, be->dropout_forward(x, (size_t)NET_N * 64, 0.5f, NET_SEED, drop_stream(7, step), b->h7, b->h7));
	OK(x, be->fc_forward(x, NET_N, 64, NET_CLASSES, b->h7, b->p[14], b->p[15], b->z8, 0));
	OK(x, be->softmax_forward(x, NET_N, NET_CLASSES, b->z8, b->pr));
}

/* The backward pass through two gradient buffers used alternately (dA, dB). */
static void net_backward_ops(Ctx *x, const NetShape *s, NetBufs *b, int step)
{
	const Backend *be = x->be;
	size_t h = (size_t)NET_N * 64;
	OK(x, be->xent_backward(x, NET_N, NET_CLASSES, b->pr, b->lab, b->dA));
	OK(x, be->fc_backward_weights(x, NET_N, 64, NET_CLASSES, b->h7, b->dA, b->g[14], b->g[15]));
	OK(x, be->fc_backward_data(x, NET_N, 64, NET_CLASSES, b->dA, b->p[14], b->dB));
	OK(x, be->dropout_backward(x, h, 0.5f, NET_SEED, drop_stream(7, step), b->dB, b->dB));
	OK(x, be->relu_backward(x, h, b->h7, b->dB, b->dB));
	OK(x, be->fc_backward_weights(x, NET_N, 64, 64, b->h6, b->dB, b->g[12], b->g[13]));
	OK(x, be->fc_backward_data(x, NET_N, 64, 64, b->dB, b->p[12], b->dA));
	OK(x, be->dropout_backward(x, h, 0.5f, NET_SEED, drop_stream(6, step), b->dA, b->dA));
	OK(x, be->relu_backward(x, h, b->h6, b->dA, b->dA));
	OK(x, be->fc_backward_weights(x, NET_N, s->fc_in[0], 64, b->pl[2], b->dA, b->g[10], b->g[11]));
	OK(x, be->fc_backward_data(x, NET_N, s->fc_in[0], 64, b->dA, b->p[10], b->dB));
	OK(x, be->pool_backward(x, &s->pool[2], b->dB, b->am[2], b->dA));
	OK(x, be->relu_backward(x, conv_out_n(&s->cv[4]), b->c[4], b->dA, b->dA));
	OK(x, be->conv_backward_filter(x, &s->cv[4], b->c[3], b->dA, b->g[8], b->g[9]));
	OK(x, be->conv_backward_data(x, &s->cv[4], b->dA, b->p[8], b->dB));
	OK(x, be->relu_backward(x, conv_out_n(&s->cv[3]), b->c[3], b->dB, b->dB));
	OK(x, be->conv_backward_filter(x, &s->cv[3], b->c[2], b->dB, b->g[6], b->g[7]));
	OK(x, be->conv_backward_data(x, &s->cv[3], b->dB, b->p[6], b->dA));
	OK(x, be->relu_backward(x, conv_out_n(&s->cv[2]), b->c[2], b->dA, b->dA));
	OK(x, be->conv_backward_filter(x, &s->cv[2], b->pl[1], b->dA, b->g[4], b->g[5]));
	OK(x, be->conv_backward_data(x, &s->cv[2], b->dA, b->p[4], b->dB));
	OK(x, be->pool_backward(x, &s->pool[1], b->dB, b->am[1], b->dA));
	OK(x, be->lrn_backward(x, &s->lrn[1], b->c[1], b->l[1], b->sc[1], b->dA, b->dB));
	OK(x, be->relu_backward(x, conv_out_n(&s->cv[1]), b->c[1], b->dB, b->dB));
	OK(x, be->conv_backward_filter(x, &s->cv[1], b->pl[0], b->dB, b->g[2], b->g[3]));
	OK(x, be->conv_backward_data(x, &s->cv[1], b->dB, b->p[2], b->dA));
	OK(x, be->pool_backward(x, &s->pool[0], b->dA, b->am[0], b->dB));
	OK(x, be->lrn_backward(x, &s->lrn[0], b->c[0], b->l[0], b->sc[0], b->dB, b->dA));
	OK(x, be->relu_backward(x, conv_out_n(&s->cv[0]), b->c[0], b->dA, b->dA));
	OK(x, be->conv_backward_filter(x, &s->cv[0], b->in, b->dA, b->g[0], b->g[1]));
}

static void net_update_ops(Ctx *x, const NetShape *s, NetBufs *b)
{
	for (int i = 0; i < NET_PARAMS; i++)
		OK(x, x->be->sgd_update(x, s->pn[i], b->p[i], b->g[i], b->m[i], 0.01f, 0.9f, 0.0005f));
}

static float *net_fetch(Ctx *ctx, const float *dev, size_t n)
{
	float *h = xmalloc(n * sizeof(float));
	OK(ctx, ctx_download(ctx, h, dev, n * sizeof(float)));
	return h;
}

/* ||got - ref|| / ||ref||, printing the element-wise figures as well. */
static double rel_l2(const char *what, const float *got, const float *ref, size_t n)
{
	double d = 0, r = 0;
	for (size_t i = 0; i < n; i++) {
		double e = (double)got[i] - ref[i];
		d += isfinite(e) ? e * e : INFINITY;
		r += (double)ref[i] * ref[i];
	}
	double rel = sqrt(d) / (sqrt(r) + 1e-30);
	compare_floats(what, got, ref, n, 1e-3 * rms(ref, n), 1e-3);
	fprintf(stderr, "  %-28s relative L2 error %.3g\n", what, rel);
	return rel;
}

static const char *param_name(int i, char *buf, size_t len)
{
	static const char *layer[] = { "conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8" };
	snprintf(buf, len, "%s.%s", layer[i / 2], i % 2 ? "bias" : "weight");
	return buf;
}

/* Whole-network agreement is measured by the relative L2 error of each tensor, not element
 * by element: after eight layers an input to a ReLU or a pooling window may sit within
 * rounding of its kink on one backend and not the other, which moves one element's
 * gradient without being a fault. An indexing fault anywhere gives an error near 1. */
#define NET_REL_TOL 1e-3

START_TEST(small_net_trains_alike)
{
	NetShape s = net_shape();
	NetBufs bg, bc;
	net_setup(gpu, &s, &bg);
	net_setup(cpu, &s, &bc);
	double worst = 0;
	char name[32];
	for (int step = 0; step < 3; step++) {
		net_forward_ops(gpu, &s, &bg, step);
		net_forward_ops(cpu, &s, &bc, step);
		if (step == 0) {
			size_t n = (size_t)NET_N * NET_CLASSES;
			float *pg = net_fetch(gpu, bg.pr, n), *pc = net_fetch(cpu, bc.pr, n);
			double e = rel_l2("net probabilities", pg, pc, n);
			worst = e > worst ? e : worst;
			ck_assert_msg(e <= NET_REL_TOL, "probabilities: relative error %.3g", e);
			free(pg);
			free(pc);
		}
		net_backward_ops(gpu, &s, &bg, step);
		net_backward_ops(cpu, &s, &bc, step);
		if (step == 0)
			for (int i = 0; i < NET_PARAMS; i++) {
				float *gg = net_fetch(gpu, bg.g[i], s.pn[i]), *gc = net_fetch(cpu, bc.g[i], s.pn[i]);
				char what[48];
				snprintf(what, sizeof what, "grad %s", param_name(i, name, sizeof name));
				double e = rel_l2(what, gg, gc, s.pn[i]);
				worst = e > worst ? e : worst;
				ck_assert_msg(e <= NET_REL_TOL, "%s: relative error %.3g", what, e);
				free(gg);
				free(gc);
			}
		net_update_ops(gpu, &s, &bg);
		net_update_ops(cpu, &s, &bc);
	}
	for (int i = 0; i < NET_PARAMS; i++) {
		float *pg = net_fetch(gpu, bg.p[i], s.pn[i]), *pc = net_fetch(cpu, bc.p[i], s.pn[i]);
		char what[48];
		snprintf(what, sizeof what, "after 3 steps %s", param_name(i, name, sizeof name));
		double e = rel_l2(what, pg, pc, s.pn[i]);
		worst = e > worst ? e : worst;
		ck_assert_msg(e <= NET_REL_TOL, "%s: relative error %.3g", what, e);
		free(pg);
		free(pc);
	}
	fprintf(stderr, "  whole network: worst relative L2 error %.3g (limit %g)\n", worst, NET_REL_TOL);
	net_teardown(gpu, &bg);
	net_teardown(cpu, &bc);
}
END_TEST

/* The determinism promise: the same steps twice on the same GPU give the same bits. */
START_TEST(gpu_repeats_bitwise)
{
	NetShape s = net_shape();
	float *first[NET_PARAMS];
	for (int run = 0; run < 2; run++) {
		NetBufs b;
		net_setup(gpu, &s, &b);
		for (int step = 0; step < 2; step++) {
			net_forward_ops(gpu, &s, &b, step);
			net_backward_ops(gpu, &s, &b, step);
			net_update_ops(gpu, &s, &b);
		}
		for (int i = 0; i < NET_PARAMS; i++) {
			float *h = net_fetch(gpu, b.p[i], s.pn[i]);
			if (run == 0) {
				first[i] = h;
				continue;
			}
			char name[32];
			ck_assert_msg(memcmp(h, first[i], s.pn[i] * sizeof(float)) == 0, "%s differs between two runs",
				      param_name(i, name, sizeof name));
			free(h);
			free(first[i]);
		}
		net_teardown(gpu, &b);
	}
	fprintf(stderr, "  two GPU runs: every parameter bit-identical\n");
}
END_TEST


/* ---------------------------------------------------------------------------------------
 * the network driver (libcommon/net.c) on the GPU, against PyTorch's fixtures and the CPU */

/* A net of spec on ctx with the fixture's seed and input (as tests/check_net.c makes it). */
static Net *driver_net(Ctx *ctx, const Spec *spec, int n, NetMode mode, int64_t seed, double scale)
{
	Net *net = net_create(ctx, spec, n, mode);
	ck_assert_msg(net != NULL, "net_create on %s: %s", ctx->be->name, ctx_error(ctx));
	NetInit init = { .seed = (uint64_t)seed };
	ck_assert_int_eq(net_init(net, &init), 0);
	size_t count = (size_t)n * (size_t)dims_count(spec->layers[0].out);
	float *x = xmallocarray(count, sizeof *x);
	for (size_t i = 0; i < count; i++)
		x[i] = (float)scale * rng_normal((uint64_t)seed, RNG_STREAM(RNG_TEST, 1), i);
	OK(ctx, ctx_upload(ctx, net_input(net), x, count * sizeof *x));
	free(x);
	return net;
}

static float *driver_fetch(Net *net, const float *dev, size_t count)
{
	float *h = xmallocarray(count, sizeof *h);
	OK(net_ctx(net), ctx_download(net_ctx(net), h, dev, count * sizeof *h));
	return h;
}

static double max_abs(const float *x, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++)
		m = fmax(m, fabs(x[i]));
	return m;
}

/* The logits of both nets against the fixture tensor ref. */
static void driver_logits(Net *g, Net *c, TensorFile *tf, const char *ref, int n)
{
	Dims d;
	const float *dg = net_output(g, "fc8", &d), *dc = net_output(c, "fc8", &d);
	ck_assert_ptr_nonnull(dg);
	size_t count = (size_t)n * (size_t)dims_count(d);
	uint64_t fc;
	float *want = tensorfile_read_alloc(tf, ref, DT_F32, &fc);
	ck_assert_msg(want && fc == count, "fixture %s", ref);
	float *got = driver_fetch(g, dg, count), *cpu_got = driver_fetch(c, dc, count);
	char what[64];
	snprintf(what, sizeof what, "GPU %s vs PyTorch", ref);
	/* check_net holds the CPU to 1e-4; the GPU's FP32 sums in another order get the same */
	ck_assert_uint_eq(compare_floats(what, got, want, count, 1e-4, 1e-4), 0);
	snprintf(what, sizeof what, "GPU %s vs CPU", ref);
	ck_assert(rel_l2(what, got, cpu_got, count) <= NET_REL_TOL);
	free(want);
	free(got);
	free(cpu_got);
}

/* The paper's topology at widths /8 (tests/ref/small.antf): eval and train logits, every
 * gradient and 3 steps of the paper's update, GPU against PyTorch (float64) and the CPU. */
START_TEST(driver_small_net)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/small.antf", TF_FEATURES), 0);
	Spec *spec = net_read_spec(&tf);
	ck_assert_ptr_nonnull(spec);
	int64_t seed;
	double scale, lr;
	ck_assert_int_eq(tensorfile_read_i64(&tf, "seed", &seed), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "input_scale", &scale), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "lr", &lr), 0);
	uint64_t n64, nl;
	int32_t *labels = tensorfile_read_alloc(&tf, "labels", DT_I32, &n64);
	double *losses = tensorfile_read_alloc(&tf, "train.loss", DT_F64, &nl);
	ck_assert(labels && losses);
	int n = (int)n64;
	Net *g = driver_net(gpu, spec, n, NET_TRAIN, seed, scale), *c = driver_net(cpu, spec, n, NET_TRAIN, seed, scale);
	ck_assert_int_eq(net_set_labels(g, labels, n), 0);
	ck_assert_int_eq(net_set_labels(c, labels, n), 0);

	ck_assert_msg(net_forward(g, n, NET_EVAL, 0) == 0, "%s", ctx_error(gpu));
	ck_assert_int_eq(net_forward(c, n, NET_EVAL, 0), 0);
	driver_logits(g, c, &tf, "eval.logits", n);
	ck_assert_msg(net_forward(g, n, NET_TRAIN, 0) == 0, "%s", ctx_error(gpu));
	ck_assert_int_eq(net_forward(c, n, NET_TRAIN, 0), 0);
	driver_logits(g, c, &tf, "train.logits", n);
	ck_assert_msg(net_backward(g) == 0, "%s", ctx_error(gpu));
	ck_assert_int_eq(net_backward(c), 0);
	for (int t = 0; t < spec->nparams; t++) {
		char name[SPEC_PARAM_NAME + 16];
		snprintf(name, sizeof name, "grad.%s", spec->params[t].name);
		uint64_t count;
		float *want = tensorfile_read_alloc(&tf, name, DT_F32, &count);
		ck_assert_msg(want && count == (uint64_t)spec->params[t].count, "fixture %s", name);
		float *got = driver_fetch(g, net_grad(g, t), count), *cg = driver_fetch(c, net_grad(c, t), count);
		/* check_net's tolerances for the CPU: 1e-4 of the tensor's largest entry, 1e-3 relative */
		ck_assert_uint_eq(compare_floats(name, got, want, count, 1e-4 * max_abs(want, count), 1e-3), 0);
		ck_assert(rel_l2(name, got, cg, count) <= NET_REL_TOL);
		free(want);
		free(got);
		free(cg);
	}
	ck_assert_int_eq(net_update(g, (float)lr), 0);
	ck_assert_int_eq(net_update(c, (float)lr), 0);
	for (int step = 1; step < (int)nl; step++) {
		double lg, lc;
		ck_assert_msg(net_train_step(g, n, (uint64_t)step, (float)lr, labels, &lg) == 0, "%s", ctx_error(gpu));
		ck_assert_int_eq(net_train_step(c, n, (uint64_t)step, (float)lr, labels, &lc), 0);
		fprintf(stderr, "  driver step %d: loss GPU %.9g, CPU %.9g, PyTorch %.9g\n", step, lg, lc, losses[step]);
		ck_assert_msg(fabs(lg - losses[step]) <= 1e-4 * losses[step], "step %d: GPU loss %.9g, PyTorch %.9g", step,
			      lg, losses[step]);
	}
	for (int t = 0; t < spec->nparams; t++) {
		char name[SPEC_PARAM_NAME + 16];
		snprintf(name, sizeof name, "step3.%s", spec->params[t].name);
		uint64_t count;
		float *want = tensorfile_read_alloc(&tf, name, DT_F32, &count);
		ck_assert_msg(want != NULL, "fixture %s", name);
		float *got = driver_fetch(g, net_param(g, t), count);
		ck_assert_uint_eq(compare_floats(name, got, want, count, 1e-5 * max_abs(want, count), 1e-5), 0);
		free(want);
		free(got);
	}
	free(labels);
	free(losses);
	net_free(g);
	net_free(c);
	spec_free(spec);
	tensorfile_close(&tf);
}
END_TEST

/* anet-train --check-grads on the GPU: the paper's topology at widths /8 agrees with the double
 * reference and the reference with finite differences (float32 GEMMs: the 1e-4 tolerance). */
START_TEST(driver_grad_check)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/small.antf", TF_FEATURES), 0);
	Spec *spec = net_read_spec(&tf);
	ck_assert_ptr_nonnull(spec);
	Net *g = net_create(gpu, spec, 4, NET_TRAIN);
	NetInit init = { .seed = 3 };
	ck_assert(g && net_init(g, &init) == 0);
	GradCheckOptions o = { .batch = 4, .seed = 5, .quiet = 1 };
	GradCheckResult r;
	ck_assert_int_eq(grad_check_tolerance(gpu) <= 1e-4, 1);
	ck_assert_msg(grad_check(g, &o, &r, stderr) == 0, "%s", ctx_error(gpu));
	ck_assert_int_eq(r.failed, 0);
	net_free(g);
	spec_free(spec);
	tensorfile_close(&tf);
}
END_TEST

/* The full-size paper's net, forward on 2 images, against PyTorch (tests/ref/alexnet.antf). */
START_TEST(driver_alexnet_forward)
{
	TensorFile tf;
	ck_assert_int_eq(tensorfile_open(&tf, "tests/ref/alexnet.antf", TF_FEATURES), 0);
	int64_t seed;
	double scale;
	ck_assert_int_eq(tensorfile_read_i64(&tf, "seed", &seed), 0);
	ck_assert_int_eq(tensorfile_read_f64(&tf, "input_scale", &scale), 0);
	Spec *spec = spec_load("alexnet", 1000);
	ck_assert_ptr_nonnull(spec);
	Net *g = driver_net(gpu, spec, 2, NET_EVAL, seed, scale), *c = driver_net(cpu, spec, 2, NET_EVAL, seed, scale);
	ck_assert_msg(net_forward(g, 2, NET_EVAL, 0) == 0, "%s", ctx_error(gpu));
	ck_assert_int_eq(net_forward(c, 2, NET_EVAL, 0), 0);
	driver_logits(g, c, &tf, "eval.logits", 2);
	net_free(g);
	net_free(c);
	spec_free(spec);
	tensorfile_close(&tf);
}
END_TEST

/* ---------------------------------------------------------------------------------------
 * suite */

static Suite *suite(void)
{
	Suite *s = suite_create("cuda");
	TCase *t = tcase_create("conv");
	tcase_set_timeout(t, 120);
	int nconv = (int)(sizeof conv_cases / sizeof conv_cases[0]);
	tcase_add_loop_test(t, conv_forward_matches, 0, nconv);
	tcase_add_loop_test(t, conv_backward_matches, 0, nconv);
	tcase_add_test(t, conv_chunked_matches);
	tcase_add_test(t, conv_rejects_bad_shape);
	suite_add_tcase(s, t);
	t = tcase_create("layers");
	tcase_add_loop_test(t, pool_matches, 0, 2 * (int)(sizeof pool_cases / sizeof pool_cases[0]));
	tcase_add_loop_test(t, lrn_matches, 0, (int)(sizeof lrn_cases / sizeof lrn_cases[0]));
	tcase_add_test(t, relu_matches);
	tcase_add_loop_test(t, dropout_masks_identical, 0, 3);
	tcase_add_loop_test(t, fc_matches, 0, 3);
	tcase_add_loop_test(t, softmax_xent_matches, 0, 4);
	tcase_add_loop_test(t, gemm_matches, 0, 4);
	tcase_add_test(t, sgd_matches);
	tcase_add_test(t, axpby_matches);
	tcase_add_test(t, augment_matches);
	suite_add_tcase(s, t);
	t = tcase_create("memory");
	tcase_add_test(t, fill_copy_transfer);
	tcase_add_test(t, alloc_failure_says_sizes);
	suite_add_tcase(s, t);
	t = tcase_create("net");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, small_net_trains_alike);
	tcase_add_test(t, gpu_repeats_bitwise);
	tcase_add_test(t, driver_small_net);
	tcase_add_test(t, driver_grad_check);
	tcase_add_test(t, driver_alexnet_forward);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	set_progname("check_cuda");
	char err[512], note[256];
	if (!backend_cuda()) {
		printf("check_cuda: skipped: no CUDA device (built without CUDA)\n");
		return 0;
	}
	if (!backend_cuda_available()) {
		CtxOptions o = { .device = "cuda" };
		Ctx *c = ctx_open(&o, err, sizeof err, NULL, 0);
		ctx_close(c);
		printf("check_cuda: skipped: no CUDA device (%s)\n", c ? "it opened on a second try" : err);
		return 0;
	}
	CtxOptions go = { .device = "cuda", .gpu = 0 }, co = { .device = "cpu", .threads = 0 };
	gpu = ctx_open(&go, err, sizeof err, note, sizeof note);
	if (!gpu) {
		fprintf(stderr, "check_cuda: cannot open the GPU: %s\n", err);
		return 1;
	}
	cpu = ctx_open(&co, err, sizeof err, note, sizeof note);
	if (!cpu) {
		fprintf(stderr, "check_cuda: cannot open the CPU backend: %s\n", err);
		return 1;
	}
	fprintf(stderr, "check_cuda: GPU: %s\ncheck_cuda: CPU: %s\n", gpu->be->describe(gpu), cpu->be->describe(cpu));
	SRunner *r = srunner_create(suite());
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	ctx_close(gpu);
	ctx_close(cpu);
	return failed ? 1 : 0;
}
