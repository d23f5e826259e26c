/* ops.c: the paper's AlexNet layer by layer through the kernels.h table: where a training step's time goes.
 *
 *   ops [--batch N] [--iters N] [--threads N] [--device cpu|cuda]
 *
 * Runs the layer sequence of §3.5 (groups=2 on conv2/4/5, LRN after the ReLUs of conv1 and
 * conv2, pooling 3/2 after LRN1, LRN2 and conv5, dropout 0.5 after fc6 and fc7) on synthetic
 * data: one warm-up step, then --iters timed training steps (forward, backward, SGD update)
 * and as many inference passes. Prints each layer's median forward and backward time and
 * GFLOP/s, the step's img/s for training and inference, and the GEMM ceiling (a large square
 * sgemm through the same table) measured in the same run. GFLOP/s count the direct
 * convolution's multiply-adds (2 FLOPs each) whatever the algorithm: Winograd layers do
 * fewer, so theirs can pass the ceiling. The last line is for scripts:
 *   result train IMG/S infer IMG/S gemm GFLOP/S
 * bench/ops.sh runs this beside PyTorch. Not a test: nothing is checked here.
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

typedef enum { CONV, LRN, POOL, FC, DROPOUT, SOFTMAX } Kind;

typedef struct {
	const char *name;
	Kind kind;
	int relu;              /* conv and fc: ReLU fused into the forward */
	ConvShape conv;
	LrnShape lrn;
	PoolShape pool;
	int in, out;           /* fc: features in and out */
	size_t nout;           /* floats of output for the whole batch */
	float *y, *dy;         /* output and the gradient with respect to it */
	float *w, *b, *dw, *db, *vw, *vb;
	size_t nw, nb;
	float *scale;          /* LRN */
	int32_t *arg;          /* pooling */
	double fwd, bwd;       /* this step's seconds */
	double *fwd_all, *bwd_all;
} Layer;

enum { MAX_LAYERS = 20 };

typedef struct {
	Ctx *ctx;
	int batch;
	Layer L[MAX_LAYERS];
	int n;
	float *x;              /* the input batch */
	int32_t *labels;
	uint64_t step;
} Net;

static void *dalloc(Net *net, size_t bytes)
{
	void *p = ctx_alloc(net->ctx, bytes);
	if (!p)
		die("%s", ctx_error(net->ctx));
	return p;
}

static void check(Net *net, int rc, const char *what)
{
	if (rc != 0)
		die("%s: %s", what, ctx_error(net->ctx));
}

/* Uniform values in [-a, a) uploaded to a new device buffer. */
static float *dev_uniform(Net *net, size_t n, uint64_t tag, float a)
{
	float *h = xmallocarray(n, sizeof *h);
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < n; i++)
		h[i] = a * (2 * rng_uniform(1, RNG_STREAM(RNG_TEST, tag), i) - 1);
	float *d = dalloc(net, n * sizeof(float));
	check(net, ctx_upload(net->ctx, d, h, n * sizeof(float)), "upload");
	free(h);
	return d;
}

static float *dev_zeros(Net *net, size_t n)
{
	float *d = dalloc(net, n * sizeof(float));
	check(net, net->ctx->be->fill(net->ctx, d, n, 0.0f), "fill");
	return d;
}

/* Weights, gradients and velocities of a layer with fan_in inputs per output. He-uniform
 * weights keep the activations of order 1 through the ReLUs (tiny ones would turn into
 * denormals and time something else). */
static void add_params(Net *net, Layer *l, size_t nw, size_t nb, int fan_in)
{
	l->nw = nw, l->nb = nb;
	l->w = dev_uniform(net, nw, (uint64_t)net->n, sqrtf(6.0f / (float)fan_in));
	l->b = dev_zeros(net, nb);
	l->dw = dev_zeros(net, nw), l->db = dev_zeros(net, nb);
	l->vw = dev_zeros(net, nw), l->vb = dev_zeros(net, nb);
}

static Layer *add(Net *net, const char *name, Kind kind, size_t nout)
{
	Layer *l = &net->L[net->n++];
	l->name = name, l->kind = kind, l->nout = nout;
	l->y = dalloc(net, nout * sizeof(float));
	l->dy = dalloc(net, nout * sizeof(float));
	return l;
}

/* The shape of the previous layer's output as C x H x W. */
static void prev_chw(Net *net, int *C, int *H, int *W)
{
	if (net->n == 0) {
		*C = 3, *H = *W = 224;
		return;
	}
	Layer *p = &net->L[net->n - 1];
	if (p->kind == CONV)
		*C = p->conv.K, *H = p->conv.P, *W = p->conv.Q;
	else if (p->kind == POOL)
		*C = p->pool.C, *H = p->pool.P, *W = p->pool.Q;
	else if (p->kind == LRN)
		*C = p->lrn.C, *H = p->lrn.H, *W = p->lrn.W;
	else
		*C = p->out, *H = *W = 1;
}

static void add_conv(Net *net, const char *name, int K, int R, int stride, int pad, int G)
{
	ConvShape s = { .N = net->batch, .K = K, .R = R, .S = R, .stride = stride, .pad = pad, .G = G };
	prev_chw(net, &s.C, &s.H, &s.W);
	const char *why;
	if (conv_shape(&s, &why) != 0)
		die("%s: %s", name, why);
	Layer *l = add(net, name, CONV, (size_t)s.N * s.K * s.P * s.Q);
	l->conv = s, l->relu = 1;
	add_params(net, l, (size_t)K * (s.C / G) * R * R, (size_t)K, s.C / G * R * R);
}

static void add_lrn(Net *net, const char *name)
{
	LrnShape s = { .N = net->batch, .size = 5, .alpha = 1e-4f, .beta = 0.75f, .k = 2.0f };
	prev_chw(net, &s.C, &s.H, &s.W);
	Layer *l = add(net, name, LRN, (size_t)s.N * s.C * s.H * s.W);
	l->lrn = s;
	l->scale = dalloc(net, l->nout * sizeof(float));
}

static void add_pool(Net *net, const char *name)
{
	PoolShape s = { .N = net->batch, .size = 3, .stride = 2 };
	prev_chw(net, &s.C, &s.H, &s.W);
	const char *why;
	if (pool_shape(&s, &why) != 0)
		die("%s: %s", name, why);
	Layer *l = add(net, name, POOL, (size_t)s.N * s.C * s.P * s.Q);
	l->pool = s;
	l->arg = dalloc(net, l->nout * sizeof(int32_t));
}

static void add_fc(Net *net, const char *name, int out, int relu)
{
	int C, H, W;
	prev_chw(net, &C, &H, &W);
	Layer *l = add(net, name, FC, (size_t)net->batch * out);
	l->in = C * H * W, l->out = out, l->relu = relu;
	add_params(net, l, (size_t)out * l->in, (size_t)out, l->in);
}

static void add_simple(Net *net, const char *name, Kind kind)
{
	Layer *p = &net->L[net->n - 1];
	Layer *l = add(net, name, kind, p->nout);
	l->in = l->out = p->out;
}

static void build(Net *net)
{
	add_conv(net, "conv1", 96, 11, 4, 2, 1);
	add_lrn(net, "lrn1");
	add_pool(net, "pool1");
	add_conv(net, "conv2", 256, 5, 1, 2, 2);
	add_lrn(net, "lrn2");
	add_pool(net, "pool2");
	add_conv(net, "conv3", 384, 3, 1, 1, 1);
	add_conv(net, "conv4", 384, 3, 1, 1, 2);
	add_conv(net, "conv5", 256, 3, 1, 1, 2);
	add_pool(net, "pool5");
	add_fc(net, "fc6", 4096, 1);
	add_simple(net, "drop6", DROPOUT);
	add_fc(net, "fc7", 4096, 1);
	add_simple(net, "drop7", DROPOUT);
	add_fc(net, "fc8", 1000, 0);
	add_simple(net, "softmax", SOFTMAX);
	net->x = dev_uniform(net, (size_t)net->batch * 3 * 224 * 224, 99, 1.0f);
	int32_t *lab = xmallocarray((size_t)net->batch, sizeof *lab);
	for (int i = 0; i < net->batch; i++)
		lab[i] = (int32_t)rng_below(1, RNG_STREAM(RNG_TEST, 98), (uint64_t)i, 1000);
	net->labels = dalloc(net, (size_t)net->batch * sizeof(int32_t));
	check(net, ctx_upload(net->ctx, net->labels, lab, (size_t)net->batch * sizeof(int32_t)), "upload");
	free(lab);
}

static double clock_now(Net *net)
{
	check(net, ctx_sync(net->ctx), "sync");
	return now_seconds();
}

static uint64_t dropout_stream(Net *net, int layer)
{
	return RNG_STREAM(RNG_DROPOUT, ((uint64_t)layer << 40) | net->step);
}

static void forward(Net *net, int train)
{
	Ctx *ctx = net->ctx;
	const Backend *be = ctx->be;
	const float *x = net->x;
	for (int i = 0; i < net->n; i++) {
		Layer *l = &net->L[i];
		double t = clock_now(net);
		switch (l->kind) {
		case CONV:
			check(net, be->conv_forward(ctx, &l->conv, x, l->w, l->b, l->y, l->relu), l->name);
			break;
		case LRN:
			check(net, be->lrn_forward(ctx, &l->lrn, x, l->y, l->scale), l->name);
			break;
		case POOL:
			check(net, be->pool_forward(ctx, &l->pool, x, l->y, l->arg), l->name);
			break;
		case FC:
			check(net, be->fc_forward(ctx, net->batch, l->in, l->out, x, l->w, l->b, l->y, l->relu), l->name);
			break;
		case DROPOUT:
			if (train)
				check(net, be->dropout_forward(ctx, l->nout, 0.5f, 1, dropout_stream(net, i), x, l->y), l->name);
			else
				check(net, be->copy(ctx, l->y, x, l->nout * sizeof(float)), l->name);
			break;
		case SOFTMAX:
			check(net, be->softmax_forward(ctx, net->batch, l->out, x, l->y), l->name);
			break;
		}
		l->fwd = clock_now(net) - t;
		x = l->y;
	}
}

static void backward(Net *net)
{
	Ctx *ctx = net->ctx;
	const Backend *be = ctx->be;
	for (int i = net->n - 1; i >= 0; i--) {
		Layer *l = &net->L[i];
		const float *x = i > 0 ? net->L[i - 1].y : net->x;
		float *dx = i > 0 ? net->L[i - 1].dy : NULL; /* no gradient for the input images */
		double t = clock_now(net);
		switch (l->kind) {
		case SOFTMAX:
			check(net, be->xent_backward(ctx, net->batch, l->out, l->y, net->labels, dx), l->name);
			break;
		case FC:
			if (l->relu)
				check(net, be->relu_backward(ctx, l->nout, l->y, l->dy, l->dy), l->name);
			check(net, be->fc_backward_weights(ctx, net->batch, l->in, l->out, x, l->dy, l->dw, l->db), l->name);
			check(net, be->fc_backward_data(ctx, net->batch, l->in, l->out, l->dy, l->w, dx), l->name);
			break;
		case DROPOUT:
			check(net, be->dropout_backward(ctx, l->nout, 0.5f, 1, dropout_stream(net, i), l->dy, dx), l->name);
			break;
		case POOL:
			check(net, be->pool_backward(ctx, &l->pool, l->dy, l->arg, dx), l->name);
			break;
		case LRN:
			check(net, be->lrn_backward(ctx, &l->lrn, x, l->y, l->scale, l->dy, dx), l->name);
			break;
		case CONV:
			check(net, be->relu_backward(ctx, l->nout, l->y, l->dy, l->dy), l->name);
			check(net, be->conv_backward_filter(ctx, &l->conv, x, l->dy, l->dw, l->db), l->name);
			if (dx)
				check(net, be->conv_backward_data(ctx, &l->conv, l->dy, l->w, dx), l->name);
			break;
		}
		l->bwd = clock_now(net) - t;
	}
}

/* The paper's update on every weight and bias; returns its seconds. */
static double update(Net *net)
{
	double t = clock_now(net);
	for (int i = 0; i < net->n; i++) {
		Layer *l = &net->L[i];
		if (!l->w)
			continue;
		check(net, net->ctx->be->sgd_update(net->ctx, l->nw, l->w, l->dw, l->vw, 0.01f, 0.9f, 0.0005f), "sgd");
		check(net, net->ctx->be->sgd_update(net->ctx, l->nb, l->b, l->db, l->vb, 0.01f, 0.9f, 0.0005f), "sgd");
	}
	return clock_now(net) - t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* FLOPs of a layer's forward pass (2 per multiply-add), 0 for the layers without products. */
static double layer_flops(const Net *net, const Layer *l)
{
	if (l->kind == CONV)
		return conv_flops(&l->conv);
	if (l->kind == FC)
		return 2.0 * net->batch * l->in * l->out;
	return 0;
}

/* Best of three n^3 sgemms through the table, in GFLOP/s. */
static double gemm_ceiling(Net *net, int n)
{
	size_t nn = (size_t)n * n;
	float *a = dev_uniform(net, nn, 97, 1.0f), *b = dev_uniform(net, nn, 96, 1.0f), *c = dev_zeros(net, nn);
	double best = 0;
	for (int r = 0; r < 4; r++) {
		double t = clock_now(net);
		check(net, net->ctx->be->gemm(net->ctx, GEMM_N, GEMM_N, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n), "gemm");
		t = clock_now(net) - t;
		if (r > 0 && 2.0 * n * nn / t > best) /* the first run warms up */
			best = 2.0 * n * nn / t;
	}
	ctx_free(net->ctx, a), ctx_free(net->ctx, b), ctx_free(net->ctx, c);
	return best * 1e-9;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: ops [--batch N] [--iters N] [--threads N] [--device cpu|cuda]\n"
		   "Times the paper's AlexNet layer by layer through the kernel library (synthetic data).\n"
		   "  -b, --batch N     images per step (default 128)\n"
		   "  -i, --iters N     timed steps after one warm-up step (default 5)\n"
		   "  -t, --threads N   CPU threads, 0 = all (default 0)\n"
		   "  -d, --device D    cpu (default) or cuda\n");
}

int main(int argc, char **argv)
{
	set_progname(argv[0]);
	static const struct option opts[] = { { "batch", required_argument, 0, 'b' },
					      { "iters", required_argument, 0, 'i' },
					      { "threads", required_argument, 0, 't' },
					      { "device", required_argument, 0, 'd' },
					      { "help", no_argument, 0, 'h' },
					      { 0, 0, 0, 0 } };
	int batch = 128, iters = 5, threads = 0, c;
	const char *device = "cpu";
	while ((c = getopt_long(argc, argv, "b:i:t:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': batch = (int)opt_int("--batch", optarg, 1, 4096); break;
		case 'i': iters = (int)opt_int("--iters", optarg, 1, 1000); break;
		case 't': threads = (int)opt_int("--threads", optarg, 0, 1024); break;
		case 'd': device = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);

	CtxOptions o = { .device = device, .threads = threads };
	char err[512];
	Net net = { .batch = batch };
	net.ctx = ctx_open(&o, err, sizeof err, NULL, 0);
	if (!net.ctx)
		die("%s", err);
	printf("anet kernels, AlexNet, batch %d: %s\n", batch, net.ctx->be->describe(net.ctx));
	double ceiling = gemm_ceiling(&net, 3072);
	printf("sgemm ceiling (3072^3 through the table): %.1f GFLOP/s\n", ceiling);
	fflush(stdout);

	build(&net);
	for (int i = 0; i < net.n; i++) {
		net.L[i].fwd_all = xcalloc((size_t)iters, sizeof(double));
		net.L[i].bwd_all = xcalloc((size_t)iters, sizeof(double));
	}
	double *step = xcalloc((size_t)iters, sizeof(double)), *upd = xcalloc((size_t)iters, sizeof(double));
	double *infer = xcalloc((size_t)iters, sizeof(double));
	for (int it = -1; it < iters; it++) { /* step -1 warms up */
		double t = now_seconds();
		net.step = (uint64_t)(it + 1);
		forward(&net, 1);
		backward(&net);
		double u = update(&net);
		if (it < 0)
			continue;
		step[it] = now_seconds() - t;
		upd[it] = u;
		for (int i = 0; i < net.n; i++)
			net.L[i].fwd_all[it] = net.L[i].fwd, net.L[i].bwd_all[it] = net.L[i].bwd;
	}
	for (int it = 0; it < iters; it++) {
		double t = clock_now(&net);
		forward(&net, 0);
		infer[it] = clock_now(&net) - t;
	}

	printf("\n%-8s %9s %9s %9s %9s   (medians of %d steps; GF/s of the direct convolution)\n", "layer",
	       "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s", iters);
	double sum_f = 0, sum_b = 0, flops = 0;
	for (int i = 0; i < net.n; i++) {
		Layer *l = &net.L[i];
		double f = median(l->fwd_all, iters), b = median(l->bwd_all, iters);
		double fl = layer_flops(&net, l), bfl = fl * (i == 0 ? 1 : 2); /* conv1 has no data gradient */
		sum_f += f, sum_b += b, flops += fl + bfl;
		printf("%-8s %9.1f %9.1f", l->name, 1e3 * f, 1e3 * b);
		if (fl > 0)
			printf(" %9.1f %9.1f", fl / f * 1e-9, bfl / b * 1e-9);
		printf("\n");
	}
	double u = median(upd, iters), st = median(step, iters), inf = median(infer, iters);
	printf("%-8s %9s %9.1f\n", "update", "", 1e3 * u);
	printf("%-8s %9.1f %9.1f   (sum of the layer medians)\n", "total", 1e3 * sum_f, 1e3 * (sum_b + u));
	printf("\ntraining step: %.0f ms, %.2f img/s, %.1f direct-convolution GFLOP/s (%.0f%% of the sgemm ceiling)\n",
	       1e3 * st, batch / st, flops / st * 1e-9, 100 * flops / st * 1e-9 / ceiling);
	printf("inference:     %.0f ms, %.2f img/s\n", 1e3 * inf, batch / inf);
	printf("result train %.3f infer %.3f gemm %.1f\n", batch / st, batch / inf, ceiling);
	ctx_close(net.ctx);
	return 0;
}
