/* check_ops_layers.c: pooling, LRN, ReLU, dropout and augmentation against the reference.
 *
 * As in check_ops.c: reference gradients against finite differences (skipping inputs within
 * a margin of a kink: ReLU near 0, a pooling window whose top two values nearly tie), then the
 * CPU backend against the reference on random inputs.
 */
#include "tests/check_ops.h"

#include "kernels/rng.h"

/* ---------------------------------------------------------------------------------------- */
/* max pooling */

static const int pool_cases[][6] = {
	/* N, C, H, W, size, stride: AlexNet's 3/2 on odd planes, non-square, stride 1 (heavy
	 * overlap), size 2 stride 2 (no overlap), and a remainder row and column; rows of more
	 * than 16 outputs (whole vector groups, then a partial one), and geometries outside the
	 * specialised ones (stride 3, a 9x9 window) */
	{ 2, 3, 13, 13, 3, 2 }, { 1, 2, 11, 9, 3, 2 },  { 3, 1, 7, 7, 3, 1 },  { 2, 2, 8, 8, 2, 2 },
	{ 2, 5, 10, 12, 3, 2 }, { 2, 3, 55, 55, 3, 2 }, { 1, 2, 9, 40, 3, 1 }, { 2, 2, 11, 11, 3, 3 },
	{ 1, 2, 20, 20, 9, 3 },
};

static PoolShape pool_of(const int *c)
{
	PoolShape s = { .N = c[0], .C = c[1], .H = c[2], .W = c[3], .size = c[4], .stride = c[5] };
	const char *why = NULL;
	ck_assert_msg(pool_shape(&s, &why) == 0, "bad test shape: %s", why);
	return s;
}

START_TEST(pool_matches_reference)
{
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(pool_cases); ci++) {
		PoolShape s = pool_of(pool_cases[ci]);
		size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.C * s.P * s.Q;
		float *x = rand_floats(nx, 500 + ci, -1, 1), *g = rand_floats(ny, 510 + ci, -1, 1);
		double *xd = to_double(x, nx), *gd = to_double(g, ny), *yd = zeros_double(ny), *dxd = zeros_double(nx);
		int32_t *ad = xmallocarray(ny, sizeof *ad);
		float *bx = dev_floats(ctx, x, nx), *by = dev_floats(ctx, NULL, ny), *bg = dev_floats(ctx, g, ny);
		float *bdx = dev_floats(ctx, NULL, nx);
		int32_t *ba = ctx_alloc(ctx, ny * sizeof(int32_t));
		fprintf(stderr, "pool %dx%dx%dx%d %d/%d\n", s.N, s.C, s.H, s.W, s.size, s.stride);
		ck_assert_int_eq(ctx->be->pool_forward(ctx, &s, bx, by, ba), 0);
		ref_pool_forward(&s, xd, yd, ad);
		float *y = host_floats(ctx, by, ny);
		int32_t *a = xmallocarray(ny, sizeof *a);
		ck_assert_int_eq(ctx_download(ctx, a, ba, ny * sizeof(int32_t)), 0);
		/* a maximum is a copy of an input: exact */
		ck_assert_uint_eq(compare_doubles("pool forward", y, yd, ny, 0, 0), 0);
		for (size_t i = 0; i < ny; i++)
			ck_assert_int_eq(a[i], ad[i]);
		ck_assert_int_eq(ctx->be->pool_backward(ctx, &s, bg, ba, bdx), 0);
		ref_pool_backward(&s, gd, ad, dxd);
		float *dx = host_floats(ctx, bdx, nx);
		/* each input collects at most size^2 gradients: a few float additions */
		ck_assert_uint_eq(compare_doubles("pool backward", dx, dxd, nx, 1e-6, 1e-6), 0);
		ctx_free(ctx, bx), ctx_free(ctx, by), ctx_free(ctx, bg), ctx_free(ctx, bdx), ctx_free(ctx, ba);
		free(x), free(g), free(xd), free(gd), free(yd), free(dxd), free(ad), free(y), free(a), free(dx);
	}
	ctx_close(ctx);
}
END_TEST

/* Exact ties (inputs of five values) must go to the first maximum in row-major order, as in
 * the reference, and a NaN must win its windows (the later NaN when there are two), on the
 * specialised 3x3 paths and the general one. */
START_TEST(pool_ties_and_nan)
{
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(pool_cases); ci++) {
		PoolShape s = pool_of(pool_cases[ci]);
		size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.C * s.P * s.Q;
		float *x = rand_floats(nx, 540 + ci, -2.5f, 2.5f);
		for (size_t i = 0; i < nx; i++)
			x[i] = roundf(x[i]);
		double *xd = to_double(x, nx), *yd = zeros_double(ny);
		int32_t *ad = xmallocarray(ny, sizeof *ad), *a = xmallocarray(ny, sizeof *a);
		ref_pool_forward(&s, xd, yd, ad);
		/* two NaNs in the first plane's first window, the later one must win */
		x[1] = NAN;
		x[(size_t)s.W + 1] = NAN;
		float *bx = dev_floats(ctx, x, nx), *by = dev_floats(ctx, NULL, ny);
		int32_t *ba = ctx_alloc(ctx, ny * sizeof(int32_t));
		ck_assert_int_eq(ctx->be->pool_forward(ctx, &s, bx, by, ba), 0);
		float *y = host_floats(ctx, by, ny);
		ck_assert_int_eq(ctx_download(ctx, a, ba, ny * sizeof(int32_t)), 0);
		ck_assert_msg(isnan(y[0]) && a[0] == s.W + 1, "case %zu: window 0 gave %g at %d, not the NaN at %d", ci,
			      (double)y[0], a[0], s.W + 1);
		size_t wrong = 0, first = 0;
		for (size_t o = 0; o < ny; o++) {
			if (o < (size_t)s.P * s.Q && (a[o] == 1 || a[o] == s.W + 1))
				continue; /* windows of the first plane that a NaN won */
			if (a[o] != ad[o] && !wrong++)
				first = o;
		}
		ck_assert_msg(wrong == 0, "case %zu: %zu tied windows took another winner than the first (output %zu: %d, "
			      "reference %d)", ci, wrong, first, a[first], ad[first]);
		ctx_free(ctx, bx), ctx_free(ctx, by), ctx_free(ctx, ba);
		free(x), free(xd), free(yd), free(ad), free(a), free(y);
	}
	ctx_close(ctx);
}
END_TEST

typedef struct {
	PoolShape s;
	double *x, *g, *y;
	int32_t *arg;
} PoolEnv;

static double pool_loss(void *e)
{
	PoolEnv *p = e;
	ref_pool_forward(&p->s, p->x, p->y, p->arg);
	return dot(p->y, p->g, (size_t)p->s.N * p->s.C * p->s.P * p->s.Q);
}

/* Marks the inputs of every window whose two largest values lie within margin: moving one of
 * them by the finite-difference step could change the winner, so the numeric derivative is
 * meaningless there. */
static unsigned char *pool_near_ties(const PoolShape *s, const double *x, double margin)
{
	size_t hw = (size_t)s->H * s->W;
	unsigned char *skip = xcalloc((size_t)s->N * s->C * hw, 1);
	for (size_t pl = 0; pl < (size_t)s->N * s->C; pl++)
		for (int p = 0; p < s->P; p++)
			for (int q = 0; q < s->Q; q++) {
				double top = -INFINITY, second = -INFINITY;
				for (int i = 0; i < s->size; i++)
					for (int j = 0; j < s->size; j++) {
						double v = x[pl * hw + (size_t)(p * s->stride + i) * s->W + q * s->stride + j];
						if (v > top)
							second = top, top = v;
						else if (v > second)
							second = v;
					}
				if (top - second >= margin)
					continue;
				for (int i = 0; i < s->size; i++)
					for (int j = 0; j < s->size; j++)
						skip[pl * hw + (size_t)(p * s->stride + i) * s->W + q * s->stride + j] = 1;
			}
	return skip;
}

START_TEST(pool_reference_gradients)
{
	for (size_t ci = 0; ci < 3; ci++) {
		PoolEnv p = { .s = pool_of(pool_cases[ci]) };
		size_t nx = (size_t)p.s.N * p.s.C * p.s.H * p.s.W, ny = (size_t)p.s.N * p.s.C * p.s.P * p.s.Q;
		float *t;
		p.x = to_double(t = rand_floats(nx, 520 + ci, -1, 1), nx), free(t);
		p.g = to_double(t = rand_floats(ny, 530 + ci, -1, 1), ny), free(t);
		p.y = zeros_double(ny);
		p.arg = xmallocarray(ny, sizeof *p.arg);
		double *dx = zeros_double(nx);
		pool_loss(&p);
		ref_pool_backward(&p.s, p.g, p.arg, dx);
		unsigned char *skip = pool_near_ties(&p.s, p.x, 1e-3);
		ck_assert_uint_eq(check_gradient("pool dL/dx", pool_loss, &p, p.x, nx, dx, skip, 200), 0);
		free(p.x), free(p.g), free(p.y), free(p.arg), free(dx), free(skip);
	}
}
END_TEST

START_TEST(pool_rejects_bad_argmax)
{
	Ctx *ctx = open_cpu(2);
	PoolShape s = pool_of(pool_cases[0]);
	size_t nx = (size_t)s.N * s.C * s.H * s.W, ny = (size_t)s.N * s.C * s.P * s.Q;
	float *bg = dev_floats(ctx, NULL, ny), *bdx = dev_floats(ctx, NULL, nx);
	int32_t *a = xcalloc(ny, sizeof *a), *ba = ctx_alloc(ctx, ny * sizeof(int32_t));
	a[ny / 2] = s.H * s.W; /* one past the plane */
	ck_assert_int_eq(ctx_upload(ctx, ba, a, ny * sizeof(int32_t)), 0);
	ck_assert_int_eq(ctx->be->fill(ctx, bg, ny, 1.0f), 0);
	ck_assert_int_eq(ctx->be->pool_backward(ctx, &s, bg, ba, bdx), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "argmax"));
	s.P = 5;
	ck_assert_int_eq(ctx->be->pool_forward(ctx, &s, bdx, bg, ba), -1);
	ctx_free(ctx, bg), ctx_free(ctx, bdx), ctx_free(ctx, ba);
	free(a);
	ctx_close(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* LRN */

typedef struct {
	int N, C, H, W, size;
	float alpha, beta, k, range; /* inputs drawn from [-range, range) */
} LrnCase;

static const LrnCase lrn_cases[] = {
	/* the paper's constants, with inputs as large as conv1's after ReLU so that
	 * alpha * sum(x^2) is comparable to k (with small inputs LRN is almost the identity and
	 * a wrong cross-channel term would hide) */
	{ 2, 7, 5, 6, 5, 1e-4f, 0.75f, 2.0f, 60.0f },
	/* a strong normalisation, odd plane size spanning several pixel blocks */
	{ 3, 9, 23, 25, 5, 0.05f, 0.75f, 2.0f, 3.0f },
	/* other exponents take powf; an even window; fewer channels than the window */
	{ 2, 6, 4, 5, 3, 0.1f, 0.6f, 1.5f, 2.0f },
	{ 1, 8, 3, 3, 4, 0.2f, 0.75f, 1.0f, 2.0f },
	{ 2, 3, 6, 4, 5, 0.3f, 0.75f, 2.0f, 2.0f },
};

static LrnShape lrn_of(const LrnCase *c)
{
	LrnShape s = { .N = c->N, .C = c->C, .H = c->H, .W = c->W, .size = c->size, .alpha = c->alpha,
		       .beta = c->beta, .k = c->k };
	return s;
}

START_TEST(lrn_matches_reference)
{
	Ctx *ctx = open_cpu(2);
	for (size_t ci = 0; ci < ARRAY_LEN(lrn_cases); ci++) {
		const LrnCase *c = &lrn_cases[ci];
		LrnShape s = lrn_of(c);
		size_t n = (size_t)s.N * s.C * s.H * s.W;
		float *x = rand_floats(n, 600 + ci, -c->range, c->range), *g = rand_floats(n, 610 + ci, -1, 1);
		double *xd = to_double(x, n), *gd = to_double(g, n), *yd = zeros_double(n), *sd = zeros_double(n);
		double *dxd = zeros_double(n);
		float *bx = dev_floats(ctx, x, n), *by = dev_floats(ctx, NULL, n), *bs = dev_floats(ctx, NULL, n);
		float *bg = dev_floats(ctx, g, n), *bdx = dev_floats(ctx, NULL, n);
		fprintf(stderr, "lrn %dx%dx%dx%d size %d alpha %g beta %g k %g\n", s.N, s.C, s.H, s.W, s.size,
			(double)s.alpha, (double)s.beta, (double)s.k);
		ck_assert_int_eq(ctx->be->lrn_forward(ctx, &s, bx, by, bs), 0);
		ref_lrn_forward(&s, xd, yd, sd);
		float *y = host_floats(ctx, by, n), *sc = host_floats(ctx, bs, n);
		/* scale: a float sum of size squares; y: that, a power (within 4 ulp by Newton's
		 * method, or powf) and a product: a few ulp all told */
		ck_assert_uint_eq(compare_doubles("lrn scale", sc, sd, n, 0, 2e-6), 0);
		ck_assert_uint_eq(compare_doubles("lrn forward", y, yd, n, 1e-7, 4e-6), 0);
		ck_assert_int_eq(ctx->be->lrn_backward(ctx, &s, bx, by, bs, bg, bdx), 0);
		ref_lrn_backward(&s, xd, gd, dxd);
		float *dx = host_floats(ctx, bdx, n);
		/* dx is a difference of two terms of size ~|dy| that nearly cancel when the
		 * normalisation is strong, so the absolute error is measured against |dy| <= 1 */
		ck_assert_uint_eq(compare_doubles("lrn backward", dx, dxd, n, 2e-6, 1e-5), 0);
		ctx_free(ctx, bx), ctx_free(ctx, by), ctx_free(ctx, bs), ctx_free(ctx, bg), ctx_free(ctx, bdx);
		free(x), free(g), free(xd), free(gd), free(yd), free(sd), free(dxd), free(y), free(sc), free(dx);
	}
	ctx_close(ctx);
}
END_TEST

typedef struct {
	LrnShape s;
	double *x, *g, *y;
} LrnEnv;

static double lrn_loss(void *e)
{
	LrnEnv *l = e;
	ref_lrn_forward(&l->s, l->x, l->y, NULL);
	return dot(l->y, l->g, (size_t)l->s.N * l->s.C * l->s.H * l->s.W);
}

START_TEST(lrn_reference_gradients)
{
	for (size_t ci = 0; ci < ARRAY_LEN(lrn_cases); ci++) {
		const LrnCase *c = &lrn_cases[ci];
		LrnEnv l = { .s = lrn_of(c) };
		l.s.N = 1, l.s.H = 3, l.s.W = 2; /* the channel coupling is what matters */
		size_t n = (size_t)l.s.N * l.s.C * l.s.H * l.s.W;
		float *t;
		l.x = to_double(t = rand_floats(n, 620 + ci, -c->range, c->range), n), free(t);
		l.g = to_double(t = rand_floats(n, 630 + ci, -1, 1), n), free(t);
		l.y = zeros_double(n);
		double *dx = zeros_double(n);
		ref_lrn_backward(&l.s, l.x, l.g, dx);
		ck_assert_uint_eq(check_gradient("lrn dL/dx", lrn_loss, &l, l.x, n, dx, NULL, 100), 0);
		free(l.x), free(l.g), free(l.y), free(dx);
	}
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* ReLU */

typedef struct {
	size_t n;
	double *x, *g, *y;
} ReluEnv;

static double relu_loss(void *e)
{
	ReluEnv *r = e;
	ref_relu_forward(r->n, r->x, r->y);
	return dot(r->y, r->g, r->n);
}

START_TEST(relu_matches_reference)
{
	const size_t n = 100001; /* above the threading threshold, odd */
	float *x = rand_floats(n, 700, -1, 1), *g = rand_floats(n, 701, -1, 1);
	ReluEnv r = { .n = 2000, .x = to_double(x, n), .g = to_double(g, n), .y = zeros_double(n) };
	double *dxd = zeros_double(n), *yd = zeros_double(n);
	/* the reference against finite differences, skipping |x| < 1e-3: a step of 1e-5 there
	 * could cross the kink */
	unsigned char *skip = xcalloc(r.n, 1);
	for (size_t i = 0; i < r.n; i++)
		skip[i] = fabs(r.x[i]) < 1e-3;
	ref_relu_backward(r.n, r.x, r.g, dxd);
	ck_assert_uint_eq(check_gradient("relu dL/dx", relu_loss, &r, r.x, r.n, dxd, skip, 100), 0);

	Ctx *ctx = open_cpu(2);
	float *bx = dev_floats(ctx, x, n), *by = dev_floats(ctx, NULL, n), *bg = dev_floats(ctx, g, n);
	ck_assert_int_eq(ctx->be->relu_forward(ctx, n, bx, by), 0);
	ref_relu_forward(n, r.x, yd);
	float *y = host_floats(ctx, by, n);
	ck_assert_uint_eq(compare_doubles("relu forward", y, yd, n, 0, 0), 0); /* exact */
	/* backward from y (what the layers keep), in place on dy */
	ck_assert_int_eq(ctx->be->relu_backward(ctx, n, by, bg, bg), 0);
	ref_relu_backward(n, r.x, r.g, dxd);
	float *dx = host_floats(ctx, bg, n);
	ck_assert_uint_eq(compare_doubles("relu backward", dx, dxd, n, 0, 0), 0);
	/* in place forward */
	ck_assert_int_eq(ctx->be->relu_forward(ctx, n, bx, bx), 0);
	float *y2 = host_floats(ctx, bx, n);
	ck_assert_uint_eq(compare_doubles("relu forward in place", y2, yd, n, 0, 0), 0);
	ctx_free(ctx, bx), ctx_free(ctx, by), ctx_free(ctx, bg);
	ctx_close(ctx);
	free(x), free(g), free(r.x), free(r.g), free(r.y), free(dxd), free(yd), free(skip), free(y), free(dx), free(y2);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* dropout */

static float *dropout_run(int threads, size_t n, float p, uint64_t seed, uint64_t stream, const float *x, int backward)
{
	Ctx *ctx = open_cpu(threads);
	float *bx = dev_floats(ctx, x, n), *by = dev_floats(ctx, NULL, n);
	if (backward)
		ck_assert_int_eq(ctx->be->dropout_backward(ctx, n, p, seed, stream, bx, by), 0);
	else
		ck_assert_int_eq(ctx->be->dropout_forward(ctx, n, p, seed, stream, bx, by), 0);
	float *y = host_floats(ctx, by, n);
	ctx_free(ctx, bx), ctx_free(ctx, by);
	ctx_close(ctx);
	return y;
}

START_TEST(dropout_mask_and_scale)
{
	const size_t n = 200003;
	const uint64_t seed = 42, stream = RNG_STREAM(RNG_DROPOUT, (6ull << 40) | 17);
	/* inputs in [0.5, 1.5): never zero, so a zero output means dropped */
	float *x = rand_floats(n, 710, 0.5f, 1.5f);
	static const float ps[] = { 0.5f, 0.2f, 0.0f };
	for (size_t pi = 0; pi < ARRAY_LEN(ps); pi++) {
		float p = ps[pi], scale = 1.0f / (1.0f - p);
		float *y1 = dropout_run(1, n, p, seed, stream, x, 0), *y2 = dropout_run(2, n, p, seed, stream, x, 0);
		/* the mask is a function of (seed, stream, index): any thread count draws the same */
		ck_assert_msg(memcmp(y1, y2, n * sizeof(float)) == 0, "p=%g: 1 and 2 threads differ", (double)p);
		size_t kept = 0;
		for (size_t i = 0; i < n; i++) {
			int keep = rng_uniform(seed, stream, i) >= p;
			kept += keep;
			/* kept elements are scaled by exactly 1/(1-p) (one float product) */
			ck_assert_float_eq(y1[i], keep ? x[i] * scale : 0.0f);
		}
		/* keep rate 1-p, within 5 standard deviations (sqrt(p(1-p)/n) ~ 0.0011 at p=0.5) */
		double rate = (double)kept / n, sd = sqrt(p * (1 - p) / n);
		fprintf(stderr, "  dropout p=%.1f: kept %.4f (expected %.4f)\n", (double)p, rate, 1.0 - p);
		ck_assert_double_le(fabs(rate - (1 - p)), 5 * sd + 1e-12);
		/* the backward pass recomputes the same mask: applied to x it reproduces y */
		float *b2 = dropout_run(2, n, p, seed, stream, x, 1);
		ck_assert_msg(memcmp(b2, y1, n * sizeof(float)) == 0, "p=%g: backward mask differs", (double)p);
		/* a different step (stream) draws a different mask */
		float *o = dropout_run(2, n, p, seed, stream + 1, x, 0);
		if (p > 0)
			ck_assert_msg(memcmp(o, y1, n * sizeof(float)) != 0, "p=%g: another stream gave the same mask",
				      (double)p);
		/* and the reference agrees */
		double *xd = to_double(x, n), *yd = zeros_double(n);
		ref_dropout_forward(n, p, seed, stream, xd, yd);
		ck_assert_uint_eq(compare_doubles("dropout forward", y2, yd, n, 0, 1e-7), 0);
		free(y1), free(y2), free(b2), free(o), free(xd), free(yd);
	}
	Ctx *ctx = open_cpu(2);
	float *b = dev_floats(ctx, x, 16);
	ck_assert_int_eq(ctx->be->dropout_forward(ctx, 16, 1.0f, seed, stream, b, b), -1);
	ck_assert_int_eq(ctx->be->dropout_backward(ctx, 16, -0.1f, seed, stream, b, b), -1);
	ctx_free(ctx, b);
	ctx_close(ctx);
	free(x);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* augmentation */

START_TEST(augment_matches_direct_loop)
{
	AugmentShape s = { .H = 19, .W = 23, .C = 3, .crop_h = 11, .crop_w = 13, .scale = 0.0125f };
	enum { IMAGES = 3, VIEWS = 5 };
	size_t img = (size_t)s.H * s.W * s.C, out_n = (size_t)VIEWS * s.C * s.crop_h * s.crop_w;
	uint8_t *src = xmalloc(IMAGES * img);
	for (size_t i = 0; i < IMAGES * img; i++)
		src[i] = (uint8_t)rng_below(9, RNG_STREAM(RNG_TEST, 720), i, 256);
	float *mean = rand_floats(img, 721, 60, 200);
	/* corners, the far corner, mirrored and not, different images and colour shifts */
	View views[VIEWS] = {
		{ .src = 0, .y0 = 0, .x0 = 0, .flip = 0, .shift = { 1.5f, -2.25f, 0.0f } },
		{ .src = 2, .y0 = s.H - s.crop_h, .x0 = s.W - s.crop_w, .flip = 1, .shift = { -7.0f, 3.0f, 12.5f } },
		{ .src = 1, .y0 = 3, .x0 = 5, .flip = 1, .shift = { 0.0f, 0.0f, 0.0f }, .ey0 = 2, .ex0 = 3, .eh = 4, .ew = 5 },
		{ .src = 1, .y0 = 4, .x0 = 1, .flip = 0, .shift = { 0.25f, 0.5f, -0.75f } },
		{ .src = 0, .y0 = 8, .x0 = 10, .flip = 1, .shift = { 30.0f, -30.0f, 1.0f }, .ey0 = 11 - 3, .ex0 = 13 - 1,
		  .eh = 3, .ew = 1 },
	};
	Ctx *ctx = open_cpu(2);
	uint8_t *bsrc = ctx_alloc(ctx, IMAGES * img);
	ck_assert_int_eq(ctx_upload(ctx, bsrc, src, IMAGES * img), 0);
	float *bmean = dev_floats(ctx, mean, img), *bout = dev_floats(ctx, NULL, out_n);
	ck_assert_int_eq(ctx->be->augment(ctx, &s, VIEWS, views, bsrc, bmean, bout), 0);
	float *out = host_floats(ctx, bout, out_n);
	double *ref = zeros_double(out_n);
	ref_augment(&s, VIEWS, views, src, mean, ref);
	/* one sum, one difference and one product in float on values below 300 */
	ck_assert_uint_eq(compare_doubles("augment", out, ref, out_n, 1e-6, 1e-6), 0);
	/* spot checks written out by hand: view 1 is mirrored, so its first output column is the
	 * window's last source column; view 0 starts at the image corner */
	const View *v = &views[1];
	for (int c = 0; c < 3; c++) {
		size_t at = ((size_t)(v->y0 + 2) * s.W + v->x0 + s.crop_w - 1) * 3 + c;
		float want = ((float)src[2 * img + at] + v->shift[c] - mean[at]) * s.scale;
		float got = out[(((size_t)1 * 3 + c) * s.crop_h + 2) * s.crop_w + 0];
		ck_assert_float_eq_tol(got, want, 1e-5f);
		float want0 = ((float)src[(size_t)c] + views[0].shift[c] - mean[c]) * s.scale;
		ck_assert_float_eq_tol(out[(size_t)c * s.crop_h * s.crop_w], want0, 1e-5f);
	}
	/* random erasing: view 2's 4x5 rectangle at (2, 3) of its crop is 0 in every channel, and
	 * the pixels beside it are not (the mean image's random floats are not whole numbers) */
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < s.crop_h; y++)
			for (int x = 0; x < s.crop_w; x++) {
				float o = out[(((size_t)2 * 3 + c) * s.crop_h + y) * s.crop_w + x];
				int inside = y >= 2 && y < 6 && x >= 3 && x < 8;
				ck_assert_msg(inside ? o == 0 : o != 0, "view 2 channel %d (%d,%d): %g", c, y, x, (double)o);
			}
	/* a window that leaves the image, or an erased rectangle that leaves the crop, is refused */
	View bad = { .src = 0, .y0 = s.H - s.crop_h + 1, .x0 = 0 };
	ck_assert_int_eq(ctx->be->augment(ctx, &s, 1, &bad, bsrc, bmean, bout), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "leaves"));
	bad = (View){ .src = 0, .ey0 = 1, .ex0 = 0, .eh = s.crop_h, .ew = 2 };
	ck_assert_int_eq(ctx->be->augment(ctx, &s, 1, &bad, bsrc, bmean, bout), -1);
	ck_assert_ptr_nonnull(strstr(ctx_error(ctx), "erased 11x2 at 1,0 leaves the 11x13 crop"));
	ctx_free(ctx, bsrc), ctx_free(ctx, bmean), ctx_free(ctx, bout);
	ctx_close(ctx);
	free(src), free(mean), free(out), free(ref);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* memory ops */

START_TEST(memory_ops_round_trip)
{
	Ctx *ctx = open_cpu(2);
	ck_assert_ptr_nonnull(strstr(ctx->be->describe(ctx), "CPU"));
	const size_t n = 300007;
	float *x = rand_floats(n, 730, -1, 1);
	float *a = dev_floats(ctx, x, n), *b = dev_floats(ctx, NULL, n);
	ck_assert_int_eq(ctx->be->copy(ctx, b, a, n * sizeof(float)), 0);
	float *h = ctx->be->host_alloc(ctx, n * sizeof(float));
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(ctx->be->upload_async(ctx, a, x, n * sizeof(float)), 0);
	ck_assert_int_eq(ctx_sync(ctx), 0);
	ck_assert_int_eq(ctx_download(ctx, h, b, n * sizeof(float)), 0);
	ck_assert_int_eq(memcmp(h, x, n * sizeof(float)), 0);
	ck_assert_int_eq(ctx->be->fill(ctx, b, n, 2.5f), 0);
	ck_assert_int_eq(ctx_download(ctx, h, b, n * sizeof(float)), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_float_eq(h[i], 2.5f);
	ctx->be->host_free(ctx, h);
	ctx_free(ctx, a), ctx_free(ctx, b);
	ctx_close(ctx);
	free(x);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ops_layers");
	TCase *t = tcase_create("pool");
	tcase_add_test(t, pool_matches_reference);
	tcase_add_test(t, pool_ties_and_nan);
	tcase_add_test(t, pool_reference_gradients);
	tcase_add_test(t, pool_rejects_bad_argmax);
	suite_add_tcase(s, t);
	t = tcase_create("lrn");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, lrn_matches_reference);
	tcase_add_test(t, lrn_reference_gradients);
	suite_add_tcase(s, t);
	t = tcase_create("elementwise");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, relu_matches_reference);
	tcase_add_test(t, dropout_mask_and_scale);
	tcase_add_test(t, augment_matches_direct_loop);
	tcase_add_test(t, memory_ops_round_trip);
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
