/* check_ops.c: convolution, fully connected, GEMM, softmax/cross-entropy and SGD against the reference.
 *
 * For each op: the reference's backward pass is checked against central finite differences
 * of its forward pass (in double), then the CPU backend's forward and backward against the
 * reference on random inputs (never zeros), over shapes with odd sizes, strides, padding,
 * groups 1/2/4, batch 1 (which takes the all-threads-per-image path) and batches that split
 * unevenly over the threads and over the images-per-GEMM chunks. Tolerances are stated per
 * op with the reason; compare_* prints how much of each was used.
 */
#include "tests/check_ops.h"

#include "kernels/rng.h"

/* ---------------------------------------------------------------------------------------- */
/* convolution */

typedef struct {
	int N, C, H, W, K, R, S, stride, pad, G;
} ConvCase;

/* Shapes: odd and non-square sizes, stride 1..4, padding 0..2, groups 1/2/4, 1x1 and 11x11
 * kernels; AlexNet's 13x13 planes (several images per GEMM) and conv1's 11x11 stride 4 pad 2
 * in miniature; batch 1 (the all-threads path) and batches that split unevenly over 2
 * threads. */
static const ConvCase conv_cases[] = {
	{ 2, 3, 13, 11, 4, 3, 3, 1, 1, 1 },  { 3, 4, 15, 15, 6, 5, 5, 2, 2, 2 },  { 1, 6, 9, 9, 4, 3, 3, 1, 0, 2 },
	{ 5, 16, 13, 13, 24, 3, 3, 1, 1, 2 }, { 2, 3, 35, 35, 8, 11, 11, 4, 2, 1 }, { 4, 8, 6, 7, 6, 1, 1, 1, 0, 1 },
	{ 3, 4, 8, 8, 4, 3, 2, 3, 1, 4 },     { 7, 2, 5, 5, 2, 5, 5, 1, 2, 1 },
	/* shapes for the Winograd path (stride 1, 3x3 or 5x5, enough channels): padding 0 to
	 * r-1 (the backward-data twin's padding is r-1-pad), tiles that overhang the plane,
	 * batch 1, groups, AlexNet's conv2 in miniature, and a batch of several chunks */
	{ 3, 16, 13, 13, 24, 3, 3, 1, 1, 2 }, { 2, 12, 11, 9, 16, 3, 3, 1, 0, 1 }, { 3, 8, 10, 7, 8, 3, 3, 1, 2, 1 },
	{ 1, 8, 17, 15, 16, 5, 5, 1, 2, 2 },  { 4, 6, 27, 27, 16, 5, 5, 1, 2, 2 }, { 2, 4, 9, 8, 8, 5, 5, 1, 4, 1 },
	{ 2, 4, 9, 8, 8, 5, 5, 1, 0, 1 },     { 131, 8, 5, 5, 8, 3, 3, 1, 1, 1 },
	/* strided kernels spanning 3 strides, which fold into stride-1 Winograd ones: 5x5
	 * stride 2 with groups, 9x9 stride 3 unpadded, 11x11 stride 4 with more padding than
	 * usual (conv1 is the 35x35 case above) */
	{ 2, 8, 17, 16, 16, 5, 5, 2, 1, 2 },  { 2, 3, 20, 19, 8, 9, 9, 3, 0, 1 },  { 1, 4, 23, 23, 8, 11, 11, 4, 5, 1 },
	/* batches of more than 8 images per thread on wide planes: the transforms' 8x8 block
	 * transposes, with images and columns left over */
	{ 20, 16, 13, 13, 16, 3, 3, 1, 1, 2 }, { 18, 6, 27, 27, 16, 5, 5, 1, 2, 2 },
};

static ConvShape conv_of(const ConvCase *c)
{
	ConvShape s = { .N = c->N, .C = c->C, .H = c->H, .W = c->W, .K = c->K, .R = c->R, .S = c->S,
			.stride = c->stride, .pad = c->pad, .G = c->G };
	const char *why = NULL;
	ck_assert_msg(conv_shape(&s, &why) == 0, "bad test shape: %s", why);
	return s;
}

static size_t conv_nx(const ConvShape *s) { return (size_t)s->N * s->C * s->H * s->W; }
static size_t conv_nw(const ConvShape *s) { return (size_t)s->K * (s->C / s->G) * s->R * s->S; }
static size_t conv_ny(const ConvShape *s) { return (size_t)s->N * s->K * s->P * s->Q; }

/* Float sums of `terms` products of magnitude <= 1: each partial sum is rounded, and the
 * rounding errors add up like a random walk to about u*terms/3 at worst in practice; 4*u*terms
 * keeps a margin of ~10 yet fails on any missing or extra term (each ~0.25). The relative part
 * covers the rounding of the result itself. */
static double sum_atol(double terms) { return 4 * U_FLOAT * terms; }

/* Stride-1 3x3 and 5x5 convolutions, and strided ones whose kernel spans 3 or 5 strides, may
 * take the Winograd path, whose transforms amplify the rounding: 2 to 9 u*terms measured at
 * worst on random data (against ~0.3 for direct sums); 24 u*terms keeps a margin and still
 * fails on any wrong term. */
static double conv_atol(const ConvShape *s, double terms)
{
	int span = (s->R + s->stride - 1) / s->stride;
	int winograd = s->R == s->S && (span == 3 || span == 5);
	return (winograd ? 24 : 4) * U_FLOAT * terms;
}

START_TEST(conv_forward_matches_reference)
{
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(conv_cases); ci++) {
		ConvShape s = conv_of(&conv_cases[ci]);
		size_t nx = conv_nx(&s), nw = conv_nw(&s), ny = conv_ny(&s);
		float *x = rand_floats(nx, 100 + ci, -1, 1), *w = rand_floats(nw, 200 + ci, -1, 1);
		float *b = rand_floats((size_t)s.K, 300 + ci, -1, 1);
		double *xd = to_double(x, nx), *wd = to_double(w, nw), *bd = to_double(b, (size_t)s.K);
		double *yd = zeros_double(ny);
		float *dx = dev_floats(ctx, x, nx), *dw = dev_floats(ctx, w, nw), *db = dev_floats(ctx, b, (size_t)s.K);
		float *dy = dev_floats(ctx, NULL, ny);
		double terms = (double)(s.C / s.G) * s.R * s.S + 1;
		for (int variant = 0; variant < 3; variant++) {
			/* 0: bias, 1: bias + ReLU, 2: no bias */
			int relu = variant == 1;
			const float *bias = variant == 2 ? NULL : db;
			fprintf(stderr, "conv %dx%dx%dx%d k%d %dx%d s%d p%d g%d%s%s\n", s.N, s.C, s.H, s.W, s.K, s.R, s.S,
				s.stride, s.pad, s.G, relu ? " relu" : "", bias ? "" : " no-bias");
			ck_assert_int_eq(ctx->be->conv_forward(ctx, &s, dx, dw, bias, dy, relu), 0);
			ref_conv_forward(&s, xd, wd, bias ? bd : NULL, yd, relu);
			float *y = host_floats(ctx, dy, ny);
			ck_assert_uint_eq(compare_doubles("conv forward", y, yd, ny, conv_atol(&s, terms), 1e-5), 0);
			free(y);
		}
		ctx_free(ctx, dx);
		ctx_free(ctx, dw);
		ctx_free(ctx, db);
		ctx_free(ctx, dy);
		free(x), free(w), free(b), free(xd), free(wd), free(bd), free(yd);
	}
	ctx_close(ctx);
}
END_TEST

START_TEST(conv_backward_matches_reference)
{
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(conv_cases); ci++) {
		ConvShape s = conv_of(&conv_cases[ci]);
		size_t nx = conv_nx(&s), nw = conv_nw(&s), ny = conv_ny(&s);
		float *x = rand_floats(nx, 110 + ci, -1, 1), *w = rand_floats(nw, 210 + ci, -1, 1);
		float *g = rand_floats(ny, 310 + ci, -1, 1);
		double *xd = to_double(x, nx), *wd = to_double(w, nw), *gd = to_double(g, ny);
		double *dxd = zeros_double(nx), *dwd = zeros_double(nw), *dbd = zeros_double((size_t)s.K);
		float *bx = dev_floats(ctx, x, nx), *bw = dev_floats(ctx, w, nw), *bg = dev_floats(ctx, g, ny);
		float *bdx = dev_floats(ctx, NULL, nx), *bdw = dev_floats(ctx, NULL, nw), *bdb = dev_floats(ctx, NULL, (size_t)s.K);
		fprintf(stderr, "conv backward %dx%dx%dx%d k%d %dx%d s%d p%d g%d\n", s.N, s.C, s.H, s.W, s.K, s.R, s.S,
			s.stride, s.pad, s.G);
		ck_assert_int_eq(ctx->be->conv_backward_data(ctx, &s, bg, bw, bdx), 0);
		ck_assert_int_eq(ctx->be->conv_backward_filter(ctx, &s, bx, bg, bdw, bdb), 0);
		ref_conv_backward_data(&s, gd, wd, dxd);
		ref_conv_backward_filter(&s, xd, gd, dwd, dbd);
		float *hdx = host_floats(ctx, bdx, nx), *hdw = host_floats(ctx, bdw, nw), *hdb = host_floats(ctx, bdb, (size_t)s.K);
		/* dx sums at most (K/G)*R*S products; dw and db sum N*P*Q of them */
		double terms_dx = (double)(s.K / s.G) * s.R * s.S, terms_dw = (double)s.N * s.P * s.Q;
		ck_assert_uint_eq(compare_doubles("conv backward data", hdx, dxd, nx, conv_atol(&s, terms_dx), 1e-5), 0);
		ck_assert_uint_eq(compare_doubles("conv backward filter dw", hdw, dwd, nw, conv_atol(&s, terms_dw), 1e-5), 0);
		ck_assert_uint_eq(compare_doubles("conv backward filter db", hdb, dbd, (size_t)s.K, sum_atol(terms_dw), 1e-5), 0);
		/* db may be NULL */
		ck_assert_int_eq(ctx->be->conv_backward_filter(ctx, &s, bx, bg, bdw, NULL), 0);
		free(hdw);
		hdw = host_floats(ctx, bdw, nw);
		ck_assert_uint_eq(compare_doubles("conv backward filter, no db", hdw, dwd, nw, conv_atol(&s, terms_dw), 1e-5), 0);
		ctx_free(ctx, bx), ctx_free(ctx, bw), ctx_free(ctx, bg);
		ctx_free(ctx, bdx), ctx_free(ctx, bdw), ctx_free(ctx, bdb);
		free(x), free(w), free(g), free(xd), free(wd), free(gd), free(dxd), free(dwd), free(dbd);
		free(hdx), free(hdw), free(hdb);
	}
	ctx_close(ctx);
}
END_TEST

typedef struct {
	ConvShape s;
	double *x, *w, *b, *g, *y;
} ConvEnv;

/* L = sum(conv(x, w) + b) * g): its gradients are the backward passes with dy = g. */
static double conv_loss(void *e)
{
	ConvEnv *c = e;
	ref_conv_forward(&c->s, c->x, c->w, c->b, c->y, 0);
	return dot(c->y, c->g, conv_ny(&c->s));
}

START_TEST(conv_reference_gradients)
{
	static const ConvCase fd_cases[] = {
		{ 2, 3, 7, 6, 4, 3, 3, 1, 1, 1 }, { 2, 4, 9, 9, 4, 3, 3, 2, 1, 2 }, { 1, 2, 11, 11, 2, 5, 4, 3, 2, 2 },
	};
	for (size_t ci = 0; ci < ARRAY_LEN(fd_cases); ci++) {
		ConvEnv c = { .s = conv_of(&fd_cases[ci]) };
		size_t nx = conv_nx(&c.s), nw = conv_nw(&c.s), ny = conv_ny(&c.s);
		float *t;
		c.x = to_double(t = rand_floats(nx, 120 + ci, -1, 1), nx), free(t);
		c.w = to_double(t = rand_floats(nw, 220 + ci, -1, 1), nw), free(t);
		c.b = to_double(t = rand_floats((size_t)c.s.K, 320 + ci, -1, 1), (size_t)c.s.K), free(t);
		c.g = to_double(t = rand_floats(ny, 420 + ci, -1, 1), ny), free(t);
		c.y = zeros_double(ny);
		double *dx = zeros_double(nx), *dw = zeros_double(nw), *db = zeros_double((size_t)c.s.K);
		ref_conv_backward_data(&c.s, c.g, c.w, dx);
		ref_conv_backward_filter(&c.s, c.x, c.g, dw, db);
		fprintf(stderr, "conv reference gradients, case %zu\n", ci);
		ck_assert_uint_eq(check_gradient("dL/dx", conv_loss, &c, c.x, nx, dx, NULL, 60), 0);
		ck_assert_uint_eq(check_gradient("dL/dw", conv_loss, &c, c.w, nw, dw, NULL, 60), 0);
		ck_assert_uint_eq(check_gradient("dL/db", conv_loss, &c, c.b, (size_t)c.s.K, db, NULL, 60), 0);
		free(c.x), free(c.w), free(c.b), free(c.g), free(c.y), free(dx), free(dw), free(db);
	}
}
END_TEST

/* The same inputs and thread count give the same bits: the filter gradient's reduction over
 * the batch runs in a fixed order. Batches of 9 over 2 threads split unevenly; one shape takes
 * the Winograd path, the other im2col + GEMM. */
START_TEST(conv_backward_filter_is_deterministic)
{
	static const ConvCase cases[] = { { 9, 16, 13, 13, 32, 3, 3, 1, 1, 2 }, { 9, 6, 15, 15, 16, 7, 7, 2, 3, 1 } };
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(cases); ci++) {
		ConvShape s = conv_of(&cases[ci]);
		size_t nx = conv_nx(&s), nw = conv_nw(&s), ny = conv_ny(&s);
		float *x = rand_floats(nx, 130 + ci, -1, 1), *g = rand_floats(ny, 132 + ci, -1, 1);
		float *bx = dev_floats(ctx, x, nx), *bg = dev_floats(ctx, g, ny);
		float *bdw = dev_floats(ctx, NULL, nw), *bdb = dev_floats(ctx, NULL, (size_t)s.K);
		float *first_w = NULL, *first_b = NULL;
		for (int run = 0; run < 3; run++) {
			ck_assert_int_eq(ctx->be->conv_backward_filter(ctx, &s, bx, bg, bdw, bdb), 0);
			float *hw = host_floats(ctx, bdw, nw), *hb = host_floats(ctx, bdb, (size_t)s.K);
			if (!first_w) {
				first_w = hw, first_b = hb;
				continue;
			}
			ck_assert_msg(memcmp(hw, first_w, nw * sizeof(float)) == 0, "case %zu run %d: dw differs", ci, run);
			ck_assert_msg(memcmp(hb, first_b, (size_t)s.K * sizeof(float)) == 0, "case %zu run %d: db differs", ci,
				      run);
			free(hw), free(hb);
		}
		ctx_free(ctx, bx), ctx_free(ctx, bg), ctx_free(ctx, bdw), ctx_free(ctx, bdb);
		free(x), free(g), free(first_w), free(first_b);
	}
	ctx_close(ctx);
}
END_TEST

/* Other thread counts (1, and 3 for an odd split) reach the same results within the same
 * tolerances, on both paths. */
START_TEST(conv_any_thread_count)
{
	static const ConvCase cases[] = { { 7, 16, 13, 13, 24, 3, 3, 1, 1, 2 }, { 5, 6, 15, 15, 16, 7, 7, 2, 3, 1 } };
	static const int threads[] = { 1, 3 };
	for (size_t ti = 0; ti < ARRAY_LEN(threads); ti++) {
		Ctx *ctx = open_cpu(threads[ti]);
		for (size_t ci = 0; ci < ARRAY_LEN(cases); ci++) {
			ConvShape s = conv_of(&cases[ci]);
			size_t nx = conv_nx(&s), nw = conv_nw(&s), ny = conv_ny(&s);
			float *x = rand_floats(nx, 140 + ci, -1, 1), *w = rand_floats(nw, 142 + ci, -1, 1);
			float *g = rand_floats(ny, 144 + ci, -1, 1);
			double *xd = to_double(x, nx), *wd = to_double(w, nw), *gd = to_double(g, ny);
			double *yd = zeros_double(ny), *dxd = zeros_double(nx), *dwd = zeros_double(nw);
			float *bx = dev_floats(ctx, x, nx), *bw = dev_floats(ctx, w, nw), *bg = dev_floats(ctx, g, ny);
			float *by = dev_floats(ctx, NULL, ny), *bdx = dev_floats(ctx, NULL, nx), *bdw = dev_floats(ctx, NULL, nw);
			fprintf(stderr, "conv with %d threads: %dx%dx%dx%d k%d %dx%d s%d\n", threads[ti], s.N, s.C, s.H, s.W, s.K,
				s.R, s.S, s.stride);
			ck_assert_int_eq(ctx->be->conv_forward(ctx, &s, bx, bw, NULL, by, 0), 0);
			ck_assert_int_eq(ctx->be->conv_backward_data(ctx, &s, bg, bw, bdx), 0);
			ck_assert_int_eq(ctx->be->conv_backward_filter(ctx, &s, bx, bg, bdw, NULL), 0);
			ref_conv_forward(&s, xd, wd, NULL, yd, 0);
			ref_conv_backward_data(&s, gd, wd, dxd);
			ref_conv_backward_filter(&s, xd, gd, dwd, NULL);
			float *y = host_floats(ctx, by, ny), *dx = host_floats(ctx, bdx, nx), *dw = host_floats(ctx, bdw, nw);
			double terms = (double)(s.C / s.G) * s.R * s.S;
			ck_assert_uint_eq(compare_doubles("conv forward", y, yd, ny, conv_atol(&s, terms), 1e-5), 0);
			ck_assert_uint_eq(compare_doubles("conv backward data", dx, dxd, nx,
							  conv_atol(&s, (double)(s.K / s.G) * s.R * s.S), 1e-5), 0);
			ck_assert_uint_eq(compare_doubles("conv backward filter", dw, dwd, nw,
							  conv_atol(&s, (double)s.N * s.P * s.Q), 1e-5), 0);
			ctx_free(ctx, bx), ctx_free(ctx, bw), ctx_free(ctx, bg), ctx_free(ctx, by), ctx_free(ctx, bdx);
			ctx_free(ctx, bdw);
			free(x), free(w), free(g), free(xd), free(wd), free(gd), free(yd), free(dxd), free(dwd);
			free(y), free(dx), free(dw);
		}
		ctx_close(ctx);
	}
}
END_TEST

START_TEST(conv_rejects_bad_shapes)
{
	Ctx *ctx = open_cpu(2);
	float *buf = dev_floats(ctx, NULL, 1024);
	ConvShape s = { .N = 1, .C = 3, .H = 8, .W = 8, .K = 4, .R = 3, .S = 3, .stride = 1, .pad = 0, .G = 2 };
	s.P = s.Q = 6;
	ck_assert_int_eq(ctx->be->conv_forward(ctx, &s, buf, buf, NULL, buf, 0), -1); /* C % G != 0 */
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "multiple"));
	s.G = 1;
	s.P = 7; /* does not match the geometry */
	ck_assert_int_eq(ctx->be->conv_backward_data(ctx, &s, buf, buf, buf), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "does not match"));
	ctx_free(ctx, buf);
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* fully connected */

typedef struct {
	int N, In, Out;
	double *x, *w, *b, *g, *y;
} FcEnv;

static double fc_loss(void *e)
{
	FcEnv *f = e;
	ref_fc_forward(f->N, f->In, f->Out, f->x, f->w, f->b, f->y, 0);
	return dot(f->y, f->g, (size_t)f->N * f->Out);
}

START_TEST(fc_reference_gradients)
{
	FcEnv f = { .N = 3, .In = 7, .Out = 5 };
	size_t nx = (size_t)f.N * f.In, nw = (size_t)f.Out * f.In, ny = (size_t)f.N * f.Out;
	float *t;
	f.x = to_double(t = rand_floats(nx, 140, -1, 1), nx), free(t);
	f.w = to_double(t = rand_floats(nw, 141, -1, 1), nw), free(t);
	f.b = to_double(t = rand_floats((size_t)f.Out, 142, -1, 1), (size_t)f.Out), free(t);
	f.g = to_double(t = rand_floats(ny, 143, -1, 1), ny), free(t);
	f.y = zeros_double(ny);
	double *dx = zeros_double(nx), *dw = zeros_double(nw), *db = zeros_double((size_t)f.Out);
	ref_fc_backward_data(f.N, f.In, f.Out, f.g, f.w, dx);
	ref_fc_backward_weights(f.N, f.In, f.Out, f.x, f.g, dw, db);
	ck_assert_uint_eq(check_gradient("fc dL/dx", fc_loss, &f, f.x, nx, dx, NULL, 100), 0);
	ck_assert_uint_eq(check_gradient("fc dL/dw", fc_loss, &f, f.w, nw, dw, NULL, 100), 0);
	ck_assert_uint_eq(check_gradient("fc dL/db", fc_loss, &f, f.b, (size_t)f.Out, db, NULL, 100), 0);
	free(f.x), free(f.w), free(f.b), free(f.g), free(f.y), free(dx), free(dw), free(db);
}
END_TEST

START_TEST(fc_matches_reference)
{
	static const int cases[][3] = { { 3, 17, 5 }, { 1, 40, 33 }, { 7, 64, 10 }, { 130, 97, 301 } };
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(cases); ci++) {
		int N = cases[ci][0], In = cases[ci][1], Out = cases[ci][2];
		size_t nx = (size_t)N * In, nw = (size_t)Out * In, ny = (size_t)N * Out;
		float *x = rand_floats(nx, 150 + ci, -1, 1), *w = rand_floats(nw, 160 + ci, -1, 1);
		float *b = rand_floats((size_t)Out, 170 + ci, -1, 1), *g = rand_floats(ny, 180 + ci, -1, 1);
		double *xd = to_double(x, nx), *wd = to_double(w, nw), *bd = to_double(b, (size_t)Out);
		double *gd = to_double(g, ny);
		double *yd = zeros_double(ny), *dxd = zeros_double(nx), *dwd = zeros_double(nw);
		double *dbd = zeros_double((size_t)Out);
		float *bx = dev_floats(ctx, x, nx), *bw = dev_floats(ctx, w, nw), *bb = dev_floats(ctx, b, (size_t)Out);
		float *bg = dev_floats(ctx, g, ny), *by = dev_floats(ctx, NULL, ny), *bdx = dev_floats(ctx, NULL, nx);
		float *bdw = dev_floats(ctx, NULL, nw), *bdb = dev_floats(ctx, NULL, (size_t)Out);
		fprintf(stderr, "fc N=%d I=%d O=%d\n", N, In, Out);
		/* forward sums In products (+ bias); backward data Out; backward weights N */
		for (int relu = 0; relu < 2; relu++) {
			ck_assert_int_eq(ctx->be->fc_forward(ctx, N, In, Out, bx, bw, bb, by, relu), 0);
			ref_fc_forward(N, In, Out, xd, wd, bd, yd, relu);
			float *y = host_floats(ctx, by, ny);
			ck_assert_uint_eq(compare_doubles(relu ? "fc forward relu" : "fc forward", y, yd, ny, sum_atol(In + 1), 1e-5), 0);
			free(y);
		}
		ck_assert_int_eq(ctx->be->fc_forward(ctx, N, In, Out, bx, bw, NULL, by, 0), 0);
		ref_fc_forward(N, In, Out, xd, wd, NULL, yd, 0);
		float *y = host_floats(ctx, by, ny);
		ck_assert_uint_eq(compare_doubles("fc forward no bias", y, yd, ny, sum_atol(In), 1e-5), 0);
		ck_assert_int_eq(ctx->be->fc_backward_data(ctx, N, In, Out, bg, bw, bdx), 0);
		ck_assert_int_eq(ctx->be->fc_backward_weights(ctx, N, In, Out, bx, bg, bdw, bdb), 0);
		ref_fc_backward_data(N, In, Out, gd, wd, dxd);
		ref_fc_backward_weights(N, In, Out, xd, gd, dwd, dbd);
		float *hdx = host_floats(ctx, bdx, nx), *hdw = host_floats(ctx, bdw, nw), *hdb = host_floats(ctx, bdb, (size_t)Out);
		ck_assert_uint_eq(compare_doubles("fc backward data", hdx, dxd, nx, sum_atol(Out), 1e-5), 0);
		ck_assert_uint_eq(compare_doubles("fc backward dw", hdw, dwd, nw, sum_atol(N), 1e-5), 0);
		ck_assert_uint_eq(compare_doubles("fc backward db", hdb, dbd, (size_t)Out, sum_atol(N), 1e-5), 0);
		ctx_free(ctx, bx), ctx_free(ctx, bw), ctx_free(ctx, bb), ctx_free(ctx, bg), ctx_free(ctx, by);
		ctx_free(ctx, bdx), ctx_free(ctx, bdw), ctx_free(ctx, bdb);
		free(x), free(w), free(b), free(g), free(xd), free(wd), free(bd), free(gd), free(yd), free(dxd);
		free(dwd), free(dbd), free(y), free(hdx), free(hdw), free(hdb);
	}
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* GEMM */

START_TEST(gemm_matches_reference)
{
	Ctx *ctx = open_cpu(2);
	const int M = 13, N = 9, K = 21, pad = 3; /* leading dimensions wider than the matrices */
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++) {
			int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
			size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
			float *a = rand_floats(na, 190, -1, 1), *b = rand_floats(nb, 191, -1, 1), *c = rand_floats(nc, 192, -1, 1);
			double *ad = to_double(a, na), *bd = to_double(b, nb), *cd = to_double(c, nc);
			float *ba = dev_floats(ctx, a, na), *bb = dev_floats(ctx, b, nb), *bc = dev_floats(ctx, c, nc);
			ck_assert_int_eq(ctx->be->gemm(ctx, ta, tb, M, N, K, 0.5f, ba, lda, bb, ldb, -2.0f, bc, ldc), 0);
			ref_gemm(ta, tb, M, N, K, 0.5, ad, lda, bd, ldb, -2.0, cd, ldc);
			float *hc = host_floats(ctx, bc, nc);
			/* K products plus the scaled C; the padding columns must stay untouched */
			for (int i = 0; i < M; i++)
				for (int j = N; j < ldc; j++)
					ck_assert_float_eq(hc[(size_t)i * ldc + j], c[(size_t)i * ldc + j]);
			char what[32];
			snprintf(what, sizeof what, "gemm %c%c", ta ? 'T' : 'N', tb ? 'T' : 'N');
			ck_assert_uint_eq(compare_doubles(what, hc, cd, nc, sum_atol(K + 4), 1e-5), 0);
			ctx_free(ctx, ba), ctx_free(ctx, bb), ctx_free(ctx, bc);
			free(a), free(b), free(c), free(ad), free(bd), free(cd), free(hc);
		}
	float *buf = dev_floats(ctx, NULL, 16);
	ck_assert_int_eq(ctx->be->gemm(ctx, GEMM_N, GEMM_N, 4, 4, 4, 1, buf, 3, buf, 4, 0, buf, 4), -1);
	ctx_free(ctx, buf);
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* softmax and cross-entropy */

typedef struct {
	int N, K;
	double *z;
	const int32_t *labels;
} XentEnv;

static double xent_loss(void *e)
{
	XentEnv *x = e;
	return ref_xent_loss(x->N, x->K, x->z, x->labels);
}

START_TEST(softmax_xent_matches_reference)
{
	const int N = 6, K = 11;
	int32_t labels[6] = { 0, 10, 3, 3, 7, 1 };
	size_t n = (size_t)N * K;
	/* logits up to +-40: exp() would overflow float without the max subtraction */
	float *z = rand_floats(n, 200, -40, 40);
	XentEnv e = { .N = N, .K = K, .z = to_double(z, n), .labels = labels };
	double *pd = zeros_double(n), *gd = zeros_double(n);
	ref_softmax_forward(N, K, e.z, pd);
	ref_xent_backward(N, K, pd, labels, gd);
	ck_assert_uint_eq(check_gradient("xent dL/dlogits", xent_loss, &e, e.z, n, gd, NULL, 100), 0);

	Ctx *ctx = open_cpu(2);
	float *bz = dev_floats(ctx, z, n), *bp = dev_floats(ctx, NULL, n), *bg = dev_floats(ctx, NULL, n);
	int32_t *bl = ctx_alloc(ctx, sizeof labels);
	ck_assert_int_eq(ctx_upload(ctx, bl, labels, sizeof labels), 0);
	ck_assert_int_eq(ctx->be->softmax_forward(ctx, N, K, bz, bp), 0);
	float *p = host_floats(ctx, bp, n);
	/* exp and a sum of K terms in float: a few ulp of each probability, plus a floor for the
	 * tiny ones (exp(-80) is far below anything that matters) */
	ck_assert_uint_eq(compare_doubles("softmax", p, pd, n, 1e-12, 1e-5), 0);
	/* the gradient from the float probabilities: one subtraction and a division by N */
	double *pdf = to_double(p, n);
	ref_xent_backward(N, K, pdf, labels, gd);
	ck_assert_int_eq(ctx->be->xent_backward(ctx, N, K, bp, bl, bg), 0);
	float *g = host_floats(ctx, bg, n);
	ck_assert_uint_eq(compare_doubles("xent backward", g, gd, n, 1e-7, 1e-6), 0);
	int32_t bad[6] = { 0, 11, 0, 0, 0, 0 };
	ck_assert_int_eq(ctx_upload(ctx, bl, bad, sizeof bad), 0);
	ck_assert_int_eq(ctx->be->xent_backward(ctx, N, K, bp, bl, bg), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "label 11"));
	ctx_free(ctx, bz), ctx_free(ctx, bp), ctx_free(ctx, bg), ctx_free(ctx, bl);
	ctx_close(ctx);
	free(z), free(e.z), free(pd), free(gd), free(pdf), free(p), free(g);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* SGD */

/* y = a x + b y, and y = a x without reading y when b is 0 (the first part of an --accum batch) */
START_TEST(axpby_sums_and_overwrites)
{
	const size_t n = 100003;
	float *x = rand_floats(n, 220, -1, 1), *y = rand_floats(n, 221, -1, 1);
	Ctx *ctx = open_cpu(2);
	float *bx = dev_floats(ctx, x, n), *by = dev_floats(ctx, y, n);
	ck_assert_int_eq(ctx->be->axpby(ctx, n, 0.25f, bx, 0.75f, by), 0);
	double *want = xmallocarray(n, sizeof *want);
	for (size_t i = 0; i < n; i++)
		want[i] = 0.25 * x[i] + 0.75 * (double)y[i];
	float *h = host_floats(ctx, by, n);
	ck_assert_uint_eq(compare_doubles("axpby", h, want, n, 1e-7, 1e-6), 0);
	free(h);
	ck_assert_int_eq(ctx->be->fill(ctx, by, n, NAN), 0);
	ck_assert_int_eq(ctx->be->axpby(ctx, n, 0.5f, bx, 0, by), 0);
	for (size_t i = 0; i < n; i++)
		want[i] = 0.5 * x[i];
	h = host_floats(ctx, by, n);
	ck_assert_uint_eq(compare_doubles("axpby, b = 0 over NaN", h, want, n, 0, 0), 0);
	ck_assert_int_eq(ctx->be->axpby(ctx, n, INFINITY, bx, 0, by), -1);
	ctx_free(ctx, bx), ctx_free(ctx, by);
	ctx_close(ctx);
	free(x), free(y), free(want), free(h);
}
END_TEST

START_TEST(sgd_matches_paper_formula)
{
	const size_t n = 100003;
	const float lr = 0.01f, momentum = 0.9f, decay = 0.0005f;
	float *w = rand_floats(n, 210, -1, 1), *dw = rand_floats(n, 211, -1, 1), *v = rand_floats(n, 212, -0.1f, 0.1f);
	double *wd = to_double(w, n), *dwd = to_double(dw, n), *vd = to_double(v, n);
	Ctx *ctx = open_cpu(2);
	float *bw = dev_floats(ctx, w, n), *bdw = dev_floats(ctx, dw, n), *bv = dev_floats(ctx, v, n);
	for (int step = 0; step < 3; step++) {
		ck_assert_int_eq(ctx->be->sgd_update(ctx, n, bw, bdw, bv, lr, momentum, decay), 0);
		ref_sgd_update(n, wd, dwd, vd, lr, momentum, decay);
	}
	float *hw = host_floats(ctx, bw, n), *hv = host_floats(ctx, bv, n);
	/* three steps of a few float roundings each on values of order 0.1 to 1 */
	ck_assert_uint_eq(compare_doubles("sgd v", hv, vd, n, 1e-7, 1e-5), 0);
	ck_assert_uint_eq(compare_doubles("sgd w", hw, wd, n, 1e-7, 1e-6), 0);
	ck_assert_int_eq(ctx->be->sgd_update(ctx, n, bw, bdw, bv, NAN, momentum, decay), -1);
	ctx_free(ctx, bw), ctx_free(ctx, bdw), ctx_free(ctx, bv);
	ctx_close(ctx);
	free(w), free(dw), free(v), free(wd), free(dwd), free(vd), free(hw), free(hv);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ops");
	TCase *t = tcase_create("conv");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, conv_forward_matches_reference);
	tcase_add_test(t, conv_backward_matches_reference);
	tcase_add_test(t, conv_reference_gradients);
	tcase_add_test(t, conv_backward_filter_is_deterministic);
	tcase_add_test(t, conv_any_thread_count);
	tcase_add_test(t, conv_rejects_bad_shapes);
	suite_add_tcase(s, t);
	t = tcase_create("fc");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, fc_reference_gradients);
	tcase_add_test(t, fc_matches_reference);
	tcase_add_test(t, gemm_matches_reference);
	suite_add_tcase(s, t);
	t = tcase_create("output");
	tcase_add_test(t, softmax_xent_matches_reference);
	tcase_add_test(t, sgd_matches_paper_formula);
	tcase_add_test(t, axpby_sums_and_overwrites);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *r = srunner_create(suite());
	srunner_run_all(r, CK_ENV);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
