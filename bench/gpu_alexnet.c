/* gpu_alexnet.c: the paper's AlexNet through the kernels.h ops: train/infer img/s, per-layer times, a TF32 study.
 *
 *   gpu_alexnet [--device cuda|cpu] [--batch N] [--iters N] [--warmup N] [--tf32] [--layers]
 *               [--augment] [--study STEPS [--lr X]]
 *
 * The net is the paper's (§3.5), as anet builds it: 224x224 input, conv1 11x11/4 pad 2 96,
 * LRN, pool 3/2, conv2 5x5 256 in 2 groups, LRN, pool, conv3 3x3 384, conv4 3x3 384 g2,
 * conv5 3x3 256 g2, pool, fc6 4096, dropout, fc7 4096, dropout, fc8 1000, softmax; ReLU
 * after every conv and fc6/fc7, fused into their epilogues. A training step is forward,
 * cross-entropy gradient, backward (no input gradient for conv1) and the SGD update of
 * every parameter, on synthetic data already on the device; the timed loop synchronises
 * once per step and reports the median. --layers adds a pass that synchronises after every
 * op and prints each layer's forward and backward time and GFLOP/s. --augment adds the
 * data path per step: the augment op (crop, flip, mean) from uint8 256x256 images into the
 * input, and the next batch's 25 MB uploaded with upload_async into the other of two
 * buffers while the step computes.
 *
 * --study STEPS trains the same net for STEPS steps on a learnable synthetic task (10
 * classes, each a coarse random colour pattern plus per-pixel noise; the last layer starts
 * small, so the loss starts at ln 10) and prints the loss
 * curve; run it with and without --tf32 to see whether TF32 changes training.
 *
 * Output ends with machine-readable lines: "anet train img/s: X", "anet infer img/s: X".
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/rng.h"
#include "libcommon/opt.h"
#include "libcommon/util.h"

typedef enum { L_CONV, L_LRN, L_POOL, L_FC, L_DROP } Kind;

typedef struct {
	Kind kind;
	const char *name;
	ConvShape cv;
	LrnShape lrn;
	PoolShape pool;
	int fin, fout, relu;
	float p;
	size_t wn, bn, out_n;
	float *w, *b, *dw, *db, *vw, *vb; /* parameters, gradients, momentum */
	float *y, *scale;                  /* output (a dropout's is its input's), LRN scale */
	int32_t *argmax;
	double fwd_s, bwd_s, flops;        /* per-layer timing pass */
} Layer;

typedef struct {
	Ctx *ctx;
	int N, classes, nl;
	Layer L[20];
	float *x, *probs, *dA, *dB;
	int32_t *labels;
	size_t in_n;
} Model;

#define CHECK(m, call)                                                                             \
	do {                                                                                       \
		if ((call) != 0)                                                                   \
			die("%s: %s", #call, ctx_error((m)->ctx));                                 \
	} while (0)

static void *dalloc(Model *m, size_t bytes)
{
	void *p = ctx_alloc(m->ctx, bytes);
	if (!p)
		die("%s", ctx_error(m->ctx));
	return p;
}

static Layer *add(Model *m, Kind k, const char *name)
{
	Layer *l = &m->L[m->nl++];
	memset(l, 0, sizeof *l);
	l->kind = k;
	l->name = name;
	return l;
}

/* The channel count and spatial size flowing out of the last layer. */
static void out_dims(const Model *m, int *C, int *H, int *W)
{
	*C = 3, *H = 224, *W = 224;
	for (int i = 0; i < m->nl; i++) {
		const Layer *l = &m->L[i];
		if (l->kind == L_CONV)
			*C = l->cv.K, *H = l->cv.P, *W = l->cv.Q;
		else if (l->kind == L_POOL)
			*H = l->pool.P, *W = l->pool.Q;
		else if (l->kind == L_FC)
			*C = l->fout, *H = 1, *W = 1;
	}
}

static void conv(Model *m, const char *name, int K, int R, int stride, int pad, int G)
{
	int C, H, W;
	out_dims(m, &C, &H, &W);
	Layer *l = add(m, L_CONV, name);
	l->cv = (ConvShape){ m->N, C, H, W, K, R, R, stride, pad, G, 0, 0 };
	const char *why;
	if (conv_shape(&l->cv, &why) != 0)
		die("%s: %s", name, why);
	l->relu = 1;
	l->wn = (size_t)K * (C / G) * R * R;
	l->bn = (size_t)K;
	l->out_n = (size_t)m->N * K * l->cv.P * l->cv.Q;
	l->flops = conv_flops(&l->cv);
}

static void lrn(Model *m, const char *name)
{
	int C, H, W;
	out_dims(m, &C, &H, &W);
	Layer *l = add(m, L_LRN, name);
	l->lrn = (LrnShape){ m->N, C, H, W, 5, 1e-4f, 0.75f, 2.0f };
	l->out_n = (size_t)m->N * C * H * W;
}

static void pool(Model *m, const char *name)
{
	int C, H, W;
	out_dims(m, &C, &H, &W);
	Layer *l = add(m, L_POOL, name);
	l->pool = (PoolShape){ m->N, C, H, W, 3, 2, 0, 0 };
	const char *why;
	if (pool_shape(&l->pool, &why) != 0)
		die("%s: %s", name, why);
	l->out_n = (size_t)m->N * C * l->pool.P * l->pool.Q;
}

static void fc(Model *m, const char *name, int out, int relu)
{
	int C, H, W;
	out_dims(m, &C, &H, &W);
	Layer *l = add(m, L_FC, name);
	l->fin = C * H * W;
	l->fout = out;
	l->relu = relu;
	l->wn = (size_t)out * l->fin;
	l->bn = (size_t)out;
	l->out_n = (size_t)m->N * out;
	l->flops = 2.0 * m->N * l->fin * out;
}

static void drop(Model *m, const char *name)
{
	int C, H, W;
	out_dims(m, &C, &H, &W);
	Layer *l = add(m, L_DROP, name);
	l->p = 0.5f;
	l->out_n = (size_t)m->N * C * H * W;
}

/* Host values for a parameter: uniform with variance 2/fan_in (weights; gain times that
 * deviation), 0 (biases). */
static void init_param(Model *m, float *dev, size_t n, size_t fan_in, uint64_t tag, int bias, float gain)
{
	float *h = xmalloc(n * sizeof(float));
	float a = bias ? 0.0f : gain * (float)sqrt(6.0 / (double)fan_in);
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		h[i] = a * (2.0f * rng_uniform(0xBE7C4ull, RNG_STREAM(RNG_INIT, tag), i) - 1.0f);
	CHECK(m, ctx_upload(m->ctx, dev, h, n * sizeof(float)));
	free(h);
}

static void build(Model *m, Ctx *ctx, int N, int classes)
{
	memset(m, 0, sizeof *m);
	m->ctx = ctx;
	m->N = N;
	m->classes = classes;
	conv(m, "conv1", 96, 11, 4, 2, 1);
	lrn(m, "lrn1");
	pool(m, "pool1");
	conv(m, "conv2", 256, 5, 1, 2, 2);
	lrn(m, "lrn2");
	pool(m, "pool2");
	conv(m, "conv3", 384, 3, 1, 1, 1);
	conv(m, "conv4", 384, 3, 1, 1, 2);
	conv(m, "conv5", 256, 3, 1, 1, 2);
	pool(m, "pool5");
	fc(m, "fc6", 4096, 1);
	drop(m, "drop6");
	fc(m, "fc7", 4096, 1);
	drop(m, "drop7");
	fc(m, "fc8", classes, 0);

	m->in_n = (size_t)N * 3 * 224 * 224;
	m->x = dalloc(m, m->in_n * sizeof(float));
	size_t big = m->in_n;
	for (int i = 0; i < m->nl; i++) {
		Layer *l = &m->L[i];
		big = l->out_n > big ? l->out_n : big;
		if (l->kind == L_DROP) {
			l->y = m->L[i - 1].y;
			continue;
		}
		l->y = dalloc(m, l->out_n * sizeof(float));
		if (l->kind == L_LRN)
			l->scale = dalloc(m, l->out_n * sizeof(float));
		if (l->kind == L_POOL)
			l->argmax = dalloc(m, l->out_n * sizeof(int32_t));
		if (l->wn) {
			l->w = dalloc(m, l->wn * sizeof(float));
			l->dw = dalloc(m, l->wn * sizeof(float));
			l->vw = dalloc(m, l->wn * sizeof(float));
			l->b = dalloc(m, l->bn * sizeof(float));
			l->db = dalloc(m, l->bn * sizeof(float));
			l->vb = dalloc(m, l->bn * sizeof(float));
			/* the last layer starts small, so the first logits are near 0 and the loss
			 * near ln(classes): no large first steps */
			float gain = i == m->nl - 1 ? 0.01f : 1.0f;
			init_param(m, l->w, l->wn, l->wn / l->bn, 2 * (uint64_t)i, 0, gain);
			init_param(m, l->b, l->bn, 1, 2 * (uint64_t)i + 1, 1, 1);
			CHECK(m, ctx->be->fill(ctx, l->vw, l->wn, 0));
			CHECK(m, ctx->be->fill(ctx, l->vb, l->bn, 0));
		}
	}
	m->probs = dalloc(m, (size_t)N * classes * sizeof(float));
	m->dA = dalloc(m, big * sizeof(float));
	m->dB = dalloc(m, big * sizeof(float));
	m->labels = dalloc(m, (size_t)N * sizeof(int32_t));
}

static void free_model(Model *m)
{
	Ctx *c = m->ctx;
	for (int i = 0; i < m->nl; i++) {
		Layer *l = &m->L[i];
		if (l->kind != L_DROP)
			ctx_free(c, l->y);
		ctx_free(c, l->scale);
		ctx_free(c, l->argmax);
		ctx_free(c, l->w);
		ctx_free(c, l->dw);
		ctx_free(c, l->vw);
		ctx_free(c, l->b);
		ctx_free(c, l->db);
		ctx_free(c, l->vb);
	}
	ctx_free(c, m->x);
	ctx_free(c, m->probs);
	ctx_free(c, m->dA);
	ctx_free(c, m->dB);
	ctx_free(c, m->labels);
}

static uint64_t drop_stream(int layer, uint64_t step) { return RNG_STREAM(RNG_DROPOUT, ((uint64_t)layer << 40) | step); }

/* One layer forward. */
static void layer_forward(Model *m, int i, int train, uint64_t step)
{
	Ctx *c = m->ctx;
	const Backend *be = c->be;
	Layer *l = &m->L[i];
	const float *in = i ? m->L[i - 1].y : m->x;
	switch (l->kind) {
	case L_CONV:
		CHECK(m, be->conv_forward(c, &l->cv, in, l->w, l->b, l->y, l->relu));
		break;
	case L_LRN:
		CHECK(m, be->lrn_forward(c, &l->lrn, in, l->y, l->scale));
		break;
	case L_POOL:
		CHECK(m, be->pool_forward(c, &l->pool, in, l->y, l->argmax));
		break;
	case L_FC:
		CHECK(m, be->fc_forward(c, m->N, l->fin, l->fout, in, l->w, l->b, l->y, l->relu));
		break;
	case L_DROP:
		if (train)
			CHECK(m, be->dropout_forward(c, l->out_n, l->p, 1, drop_stream(i, step), l->y, l->y));
		break;
	}
}

/* One layer backward: dy in *d, the input gradient (when needed) into *other; swaps. */
static void layer_backward(Model *m, int i, uint64_t step, float **d, float **other)
{
	Ctx *c = m->ctx;
	const Backend *be = c->be;
	Layer *l = &m->L[i];
	const float *in = i ? m->L[i - 1].y : m->x;
	int need_dx = i > 0;
	switch (l->kind) {
	case L_CONV:
		if (l->relu)
			CHECK(m, be->relu_backward(c, l->out_n, l->y, *d, *d));
		CHECK(m, be->conv_backward_filter(c, &l->cv, in, *d, l->dw, l->db));
		if (need_dx)
			CHECK(m, be->conv_backward_data(c, &l->cv, *d, l->w, *other));
		break;
	case L_LRN:
		CHECK(m, be->lrn_backward(c, &l->lrn, in, l->y, l->scale, *d, *other));
		break;
	case L_POOL:
		CHECK(m, be->pool_backward(c, &l->pool, *d, l->argmax, *other));
		break;
	case L_FC:
		if (l->relu)
			CHECK(m, be->relu_backward(c, l->out_n, l->y, *d, *d));
		CHECK(m, be->fc_backward_weights(c, m->N, l->fin, l->fout, in, *d, l->dw, l->db));
		if (need_dx)
			CHECK(m, be->fc_backward_data(c, m->N, l->fin, l->fout, *d, l->w, *other));
		break;
	case L_DROP:
		CHECK(m, be->dropout_backward(c, l->out_n, l->p, 1, drop_stream(i, step), *d, *d));
		return; /* in place: no swap */
	}
	float *t = *d;
	*d = *other;
	*other = t;
}

static void forward(Model *m, int train, uint64_t step, int timed)
{
	for (int i = 0; i < m->nl; i++) {
		double t0 = timed ? now_seconds() : 0;
		layer_forward(m, i, train, step);
		if (timed) {
			CHECK(m, ctx_sync(m->ctx));
			m->L[i].fwd_s = now_seconds() - t0;
		}
	}
	Layer *last = &m->L[m->nl - 1];
	CHECK(m, m->ctx->be->softmax_forward(m->ctx, m->N, m->classes, last->y, m->probs));
}

static void backward(Model *m, uint64_t step, int timed)
{
	float *d = m->dA, *other = m->dB;
	CHECK(m, m->ctx->be->xent_backward(m->ctx, m->N, m->classes, m->probs, m->labels, d));
	for (int i = m->nl - 1; i >= 0; i--) {
		double t0 = timed ? now_seconds() : 0;
		layer_backward(m, i, step, &d, &other);
		if (timed) {
			CHECK(m, ctx_sync(m->ctx));
			m->L[i].bwd_s = now_seconds() - t0;
		}
	}
}

static void update(Model *m, float lr)
{
	for (int i = 0; i < m->nl; i++) {
		Layer *l = &m->L[i];
		if (!l->wn)
			continue;
		CHECK(m, m->ctx->be->sgd_update(m->ctx, l->wn, l->w, l->dw, l->vw, lr, 0.9f, 0.0005f));
		CHECK(m, m->ctx->be->sgd_update(m->ctx, l->bn, l->b, l->db, l->vb, lr, 0.9f, 0.0005f));
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The data path of one step: uint8 images into one of two device buffers, then augment. */
typedef struct {
	uint8_t *host, *dev[2];
	float *mean;
	View *views;
	AugmentShape shape;
} Feed;

static void feed_init(Model *m, Feed *f)
{
	f->shape = (AugmentShape){ 256, 256, 3, 224, 224, 1.0f / 64 };
	size_t n = (size_t)m->N * 256 * 256 * 3;
	f->host = m->ctx->be->host_alloc(m->ctx, n);
	if (!f->host)
		die("%s", ctx_error(m->ctx));
	for (size_t i = 0; i < n; i++)
		f->host[i] = (uint8_t)(i * 2654435761u >> 24);
	f->dev[0] = dalloc(m, n);
	f->dev[1] = dalloc(m, n);
	f->mean = dalloc(m, (size_t)256 * 256 * 3 * sizeof(float));
	CHECK(m, m->ctx->be->fill(m->ctx, f->mean, (size_t)256 * 256 * 3, 120.0f));
	f->views = xcalloc(m->N, sizeof(View));
}

/* Queues the upload of batch step's images into buffer step % 2. */
static void feed_upload(Model *m, Feed *f, uint64_t step)
{
	size_t n = (size_t)m->N * 256 * 256 * 3;
	CHECK(m, m->ctx->be->upload_async(m->ctx, f->dev[step % 2], f->host, n));
}

/* Queues the crops of batch step (uploaded earlier into buffer step % 2) into the input. */
static void feed_augment(Model *m, Feed *f, uint64_t step)
{
	for (int i = 0; i < m->N; i++)
		f->views[i] = (View){ .src = i, .y0 = (int32_t)((step + i) % 33), .x0 = (int32_t)((step * 7 + i) % 33),
				      .flip = (int32_t)((step + i) % 2), .shift = { 1, -1, 0.5f } };
	CHECK(m, m->ctx->be->augment(m->ctx, &f->shape, m->N, f->views, f->dev[step % 2], f->mean, m->x));
}

static void feed_free(Model *m, Feed *f)
{
	m->ctx->be->host_free(m->ctx, f->host);
	ctx_free(m->ctx, f->dev[0]);
	ctx_free(m->ctx, f->dev[1]);
	ctx_free(m->ctx, f->mean);
	free(f->views);
}

/* Median seconds per step of train (1) or inference (0), optionally with the data path:
 * the crops of this batch, then the step, then the next batch's upload, which overlaps the
 * step (the copy stream), as a trainer's loop would. */
static double time_steps(Model *m, int train, int warmup, int iters, Feed *feed)
{
	double *t = xcalloc(iters, sizeof(double));
	if (feed)
		feed_upload(m, feed, 0);
	for (int it = 0; it < warmup + iters; it++) {
		CHECK(m, ctx_sync(m->ctx));
		double t0 = now_seconds();
		if (feed)
			feed_augment(m, feed, (uint64_t)it);
		forward(m, train, (uint64_t)it, 0);
		if (train) {
			backward(m, (uint64_t)it, 0);
			update(m, 0.001f);
		}
		if (feed)
			feed_upload(m, feed, (uint64_t)it + 1);
		CHECK(m, ctx_sync(m->ctx));
		if (it >= warmup)
			t[it - warmup] = now_seconds() - t0;
	}
	double med = median(t, iters);
	fprintf(stderr, "  %s%s: median %.3f ms per step of %d (min %.3f, max %.3f) over %d steps\n",
		train ? "train" : "infer", feed ? "+augment" : "", 1e3 * med, m->N, 1e3 * t[0], 1e3 * t[iters - 1],
		iters);
	free(t);
	return med;
}

static void layer_table(Model *m, int iters)
{
	int nl = m->nl;
	double *f = xcalloc((size_t)nl * iters, sizeof(double)), *b = xcalloc((size_t)nl * iters, sizeof(double));
	for (int it = 0; it < iters; it++) {
		forward(m, 1, (uint64_t)it, 1);
		backward(m, (uint64_t)it, 1);
		update(m, 0.001f);
		for (int i = 0; i < nl; i++) {
			f[(size_t)i * iters + it] = m->L[i].fwd_s;
			b[(size_t)i * iters + it] = m->L[i].bwd_s;
		}
	}
	printf("%-7s %10s %10s %12s %12s\n", "layer", "fwd ms", "bwd ms", "fwd GFLOP/s", "bwd GFLOP/s");
	double tf = 0, tb = 0;
	for (int i = 0; i < nl; i++) {
		double mf = median(f + (size_t)i * iters, iters), mb = median(b + (size_t)i * iters, iters);
		Layer *l = &m->L[i];
		/* backward: filter gradient and data gradient each cost a forward's FLOPs (conv1
		 * has no data gradient) */
		double bflops = l->flops * (i == 0 ? 1 : 2);
		printf("%-7s %10.3f %10.3f", l->name, 1e3 * mf, 1e3 * mb);
		if (l->flops > 0)
			printf(" %12.0f %12.0f", l->flops / mf * 1e-9, bflops / mb * 1e-9);
		printf("\n");
		tf += mf;
		tb += mb;
	}
	printf("%-7s %10.3f %10.3f   (synchronised after every layer)\n", "total", 1e3 * tf, 1e3 * tb);
	free(f);
	free(b);
}

/* ---------------------------------------------------------------------------------------
 * --study: a learnable synthetic task, to compare FP32 and TF32 training */

/* The input batch as one-hot(labels) x templates + selection x noise, both GEMMs on the
 * device: 10 coarse colour patterns and 64 noise images, uploaded once. */
typedef struct {
	float *templ, *noise, *onehot, *select;
	float *h_onehot, *h_select;
	int32_t *h_labels;
} Task;

static void task_init(Model *m, Task *t)
{
	size_t img = (size_t)3 * 224 * 224;
	float *h = xmalloc(64 * img * sizeof(float));
	for (int c = 0; c < 10; c++) /* 7x7 blocks of 32x32 pixels, a random level in [-2, 2) each */
		for (size_t i = 0; i < img; i++) {
			int ch = (int)(i / (224 * 224)), y = (int)(i / 224 % 224), x = (int)(i % 224);
			uint64_t block = (uint64_t)(((c * 3 + ch) * 7 + y / 32) * 7 + x / 32);
			h[c * img + i] = 4.0f * rng_uniform(77, RNG_STREAM(RNG_TEST, 1), block) - 2.0f;
		}
	t->templ = dalloc(m, 10 * img * sizeof(float));
	CHECK(m, ctx_upload(m->ctx, t->templ, h, 10 * img * sizeof(float)));
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < 64 * img; i++)
		h[i] = rng_uniform(77, RNG_STREAM(RNG_TEST, 2), i) - 0.5f; /* noise in [-0.5, 0.5) */
	t->noise = dalloc(m, 64 * img * sizeof(float));
	CHECK(m, ctx_upload(m->ctx, t->noise, h, 64 * img * sizeof(float)));
	free(h);
	t->onehot = dalloc(m, (size_t)m->N * 10 * sizeof(float));
	t->select = dalloc(m, (size_t)m->N * 64 * sizeof(float));
	t->h_onehot = xcalloc((size_t)m->N * 10, sizeof(float));
	t->h_select = xcalloc((size_t)m->N * 64, sizeof(float));
	t->h_labels = xcalloc(m->N, sizeof(int32_t));
}

static void task_batch(Model *m, Task *t, uint64_t step)
{
	int N = m->N, img = 3 * 224 * 224;
	memset(t->h_onehot, 0, (size_t)N * 10 * sizeof(float));
	memset(t->h_select, 0, (size_t)N * 64 * sizeof(float));
	for (int i = 0; i < N; i++) {
		uint64_t k = step * (uint64_t)N + (uint64_t)i;
		t->h_labels[i] = (int32_t)rng_below(77, RNG_STREAM(RNG_TEST, 3), k, 10);
		t->h_onehot[i * 10 + t->h_labels[i]] = 1.0f;
		t->h_select[i * 64 + rng_below(77, RNG_STREAM(RNG_TEST, 4), k, 64)] = 1.0f;
	}
	Ctx *c = m->ctx;
	CHECK(m, ctx_upload(c, m->labels, t->h_labels, (size_t)N * sizeof(int32_t)));
	CHECK(m, ctx_upload(c, t->onehot, t->h_onehot, (size_t)N * 10 * sizeof(float)));
	CHECK(m, ctx_upload(c, t->select, t->h_select, (size_t)N * 64 * sizeof(float)));
	CHECK(m, c->be->gemm(c, GEMM_N, GEMM_N, N, img, 10, 1.0f, t->onehot, 10, t->templ, img, 0.0f, m->x, img));
	CHECK(m, c->be->gemm(c, GEMM_N, GEMM_N, N, img, 64, 1.0f, t->select, 64, t->noise, img, 1.0f, m->x, img));
}

static void study(Model *m, int steps, float lr)
{
	Task t;
	task_init(m, &t);
	float *probs = xmalloc((size_t)m->N * m->classes * sizeof(float));
	double tail = 0;
	int tail_n = steps / 5 > 0 ? steps / 5 : 1;
	printf("study: step loss (mean cross-entropy of the batch; ln 10 = 2.303 is chance)\n");
	for (int s = 0; s < steps; s++) {
		task_batch(m, &t, (uint64_t)s);
		forward(m, 1, (uint64_t)s, 0);
		CHECK(m, ctx_download(m->ctx, probs, m->probs, (size_t)m->N * m->classes * sizeof(float)));
		double loss = 0;
		for (int i = 0; i < m->N; i++) {
			double p = probs[(size_t)i * m->classes + t.h_labels[i]];
			loss -= log(p > 1e-30 ? p : 1e-30);
		}
		loss /= m->N;
		if (!isfinite(loss))
			die("study: the loss is not finite at step %d", s);
		if (s % (steps >= 100 ? 25 : 5) == 0 || s == steps - 1)
			printf("study %d %.5f\n", s, loss);
		if (s >= steps - tail_n)
			tail += loss;
		backward(m, (uint64_t)s, 0);
		update(m, lr);
	}
	printf("study: mean loss over the last %d steps: %.5f\n", tail_n, tail / tail_n);
	/* held-out batches (steps never trained on), dropout off */
	int right = 0, total = 0;
	for (int b = 0; b < 4; b++) {
		task_batch(m, &t, 1000000u + (uint64_t)b);
		forward(m, 0, 0, 0);
		CHECK(m, ctx_download(m->ctx, probs, m->probs, (size_t)m->N * m->classes * sizeof(float)));
		for (int i = 0; i < m->N; i++, total++) {
			const float *p = probs + (size_t)i * m->classes;
			int best = 0;
			for (int k = 1; k < m->classes; k++)
				best = p[k] > p[best] ? k : best;
			right += best == t.h_labels[i];
		}
	}
	printf("study: held-out accuracy: %.4f (%d of %d)\n", (double)right / total, right, total);
	free(probs);
	ctx_free(m->ctx, t.templ);
	ctx_free(m->ctx, t.noise);
	ctx_free(m->ctx, t.onehot);
	ctx_free(m->ctx, t.select);
	free(t.h_onehot);
	free(t.h_select);
	free(t.h_labels);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: gpu_alexnet [--device cuda|cpu] [--batch N] [--iters N] [--warmup N] [--tf32] [--layers]\n"
		   "                   [--augment] [--study STEPS [--lr X]]\n"
		   "Times the paper's AlexNet (224x224, FP32 unless --tf32) through the kernels.h ops.\n");
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	CtxOptions o = { .device = "cuda" };
	int N = 128, iters = 30, warmup = 5, layers = 0, feed = 0, steps = 0;
	float lr = 0.001f; /* --study's; 0.01 with this init overshoots in the first steps */
	static const struct option lo[] = { { "device", required_argument, 0, 'd' },
					    { "batch", required_argument, 0, 'b' },
					    { "iters", required_argument, 0, 'i' },
					    { "warmup", required_argument, 0, 'w' },
					    { "tf32", no_argument, 0, 't' },
					    { "layers", no_argument, 0, 'l' },
					    { "augment", no_argument, 0, 'a' },
					    { "study", required_argument, 0, 's' },
					    { "lr", required_argument, 0, 'r' },
					    { "help", no_argument, 0, 'h' },
					    { 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o.device = optarg; break;
		case 'b': N = (int)opt_int("--batch", optarg, 1, 4096); break;
		case 'i': iters = (int)opt_int("--iters", optarg, 1, 100000); break;
		case 'w': warmup = (int)opt_int("--warmup", optarg, 0, 100000); break;
		case 't': o.allow_tf32 = 1; break;
		case 'l': layers = 1; break;
		case 'a': feed = 1; break;
		case 's': steps = (int)opt_int("--study", optarg, 1, 1000000); break;
		case 'r': lr = (float)opt_double("--lr", optarg, 0, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	char err[512], note[256];
	Ctx *ctx = ctx_open(&o, err, sizeof err, note, sizeof note);
	if (!ctx)
		die("%s", err);
	printf("device: %s\n", ctx->be->describe(ctx));
	Model m;
	build(&m, ctx, N, steps ? 10 : 1000);
	int32_t *lab = xcalloc(N, sizeof(int32_t));
	for (int i = 0; i < N; i++)
		lab[i] = (int32_t)rng_below(9, RNG_STREAM(RNG_TEST, 9), (uint64_t)i, (uint32_t)m.classes);
	CHECK(&m, ctx_upload(ctx, m.labels, lab, (size_t)N * sizeof(int32_t)));
	free(lab);
	if (steps) {
		study(&m, steps, lr);
	} else {
		float *h = xmalloc(m.in_n * sizeof(float));
#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < m.in_n; i++)
			h[i] = 2.0f * rng_uniform(5, RNG_STREAM(RNG_TEST, 5), i) - 1.0f;
		CHECK(&m, ctx_upload(ctx, m.x, h, m.in_n * sizeof(float)));
		free(h);
		double tr = time_steps(&m, 1, warmup, iters, NULL);
		double inf = time_steps(&m, 0, warmup, iters, NULL);
		double trf = 0;
		if (feed) {
			Feed f;
			feed_init(&m, &f);
			trf = time_steps(&m, 1, warmup, iters, &f);
			feed_free(&m, &f);
		}
		if (layers)
			layer_table(&m, iters < 10 ? iters : 10);
		const char *mode = o.allow_tf32 ? "tf32" : "fp32";
		printf("anet %s train img/s: %.1f\n", mode, N / tr);
		printf("anet %s infer img/s: %.1f\n", mode, N / inf);
		if (feed)
			printf("anet %s train+augment img/s: %.1f\n", mode, N / trf);
	}
	free_model(&m);
	ctx_close(ctx);
	return 0;
}
